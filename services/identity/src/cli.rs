//! The command line. Without a subcommand (or with `serve`) the service runs.
//!
//! - `identity healthcheck`: GET `/healthz` on `HTTP_ADDR`; exit 0 when healthy (ECS container health check).
//! - `identity gen-key [--out FILE]`: prints a new `JWT_SIGNING_KEYS` value (one fresh Ed25519 key), or writes it to
//!   FILE (mode 0600) unless FILE exists — docker-compose's init step, read back through `JWT_SIGNING_KEYS_FILE`.
//! - `identity rotate-key < current.json`: prints the key set with a new signing key added (old keys kept).
//! - `identity create-admin --email a@b.c [--display-name Admin]`: creates a user holding `users:admin`. The
//!   password comes from `ADMIN_PASSWORD` or the first line of stdin; there is no default. Needs `DATABASE_URL`
//!   (and `DATABASE_SCHEMA` if not `identity`); the `user.registered` event goes out with the next relay round.
//! - `identity openapi`: prints the OpenAPI document (for client generation without a running service).

use std::{io::Read, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchyard_core::{
    config,
    db::{self, DbSettings},
    shutdown, telemetry,
};

use crate::{
    Application, Settings,
    domain::{DisplayName, EmailAddress, Password, USERS_ADMIN},
    keys,
    password::Hasher,
};

#[derive(Debug, Parser)]
#[command(name = "identity", about = "Switchyard identity service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Probe a running instance's /healthz on HTTP_ADDR.
    Healthcheck,
    /// Print a new JWT_SIGNING_KEYS value.
    GenKey {
        /// Write it to this file (mode 0600) instead, unless the file exists (then keep it).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Read a JWT_SIGNING_KEYS value on stdin, print it with a new signing key added.
    RotateKey,
    /// Create a user with the users:admin permission (password from ADMIN_PASSWORD or stdin).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        display_name: String,
    },
    /// Print the OpenAPI document.
    Openapi,
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init("identity");
            serve().await
        }
        Command::Healthcheck => {
            return switchyard_http::healthcheck(crate::config::DEFAULT_HTTP_ADDR).await;
        }
        Command::GenKey { out: None } => print_json(keys::generate()),
        Command::GenKey { out: Some(path) } => {
            telemetry::init_cli();
            write_new_key(&path)
        }
        Command::RotateKey => {
            telemetry::init_cli();
            rotate_key()
        }
        Command::CreateAdmin {
            email,
            display_name,
        } => {
            telemetry::init_cli();
            create_admin(&email, &display_name).await
        }
        Command::Openapi => {
            println!(
                "{}",
                crate::http::openapi().to_pretty_json().unwrap_or_default()
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "identity failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let aws = switchyard_core::aws::load().await?;
    let shutdown = shutdown::on_signal();
    let app = Application::build(settings, aws_sdk_sns::Client::new(&aws)).await?;
    app.run(shutdown).await
}

fn print_json<T: serde::Serialize, E: std::error::Error + Send + Sync + 'static>(
    value: Result<T, E>,
) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(&value?)?);
    Ok(())
}

/// `gen-key --out`: a key set in a new file only its owner can read; an existing file is kept (restarts keep the
/// key, so issued tokens stay valid).
fn write_new_key(path: &std::path::Path) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};

    if path.exists() {
        eprintln!("{} exists; keeping it", path.display());
        return Ok(());
    }
    let json = serde_json::to_string(&keys::generate()?)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(json.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote a new signing key set to {}", path.display());
    Ok(())
}

fn rotate_key() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the key set on stdin")?;
    let file: keys::KeyFile =
        serde_json::from_str(&input).context("stdin is not a JWT_SIGNING_KEYS value")?;
    print_json(keys::rotate(file))
}

const ADMIN_PASSWORD: config::Var = config::Var::new(
    "ADMIN_PASSWORD",
    "create-admin: the administrator's password (otherwise the first line of stdin)",
)
.secret();

async fn create_admin(email: &str, display_name: &str) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let name =
        DisplayName::parse(display_name).map_err(|m| anyhow::anyhow!("--display-name {m}"))?;
    let raw = match config::optional(&ADMIN_PASSWORD)? {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let password = Password::parse(&raw)
        .map_err(|m| anyhow::anyhow!("the password (ADMIN_PASSWORD or stdin) {m}"))?;
    let settings = DbSettings::from_env("identity")?;
    let pool = db::connect(&settings).await?;
    db::migrate(
        &pool,
        &settings.schema,
        &[&switchyard_outbox::MIGRATOR, &crate::MIGRATOR],
    )
    .await?;
    let hash = tokio::task::spawn_blocking(|| Hasher::new(1))
        .await??
        .hash(&password)
        .await?;
    let user =
        crate::http::create_user(&pool, &email, &name, &hash, &[USERS_ADMIN.to_owned()], None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        serde_json::json!({ "id": user.id, "email": user.email, "permissions": user.permissions })
    );
    Ok(())
}
