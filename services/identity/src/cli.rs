//! The command line: the subcommands every service has (`serve`, the default; `healthcheck`; `openapi`; see
//! `switchyard_http::cli`) and identity's own:
//!
//! - `identity gen-key [--out FILE]`: prints a new `JWT_SIGNING_KEYS` value (one fresh Ed25519 key), or writes it to
//!   FILE (mode 0600) unless FILE exists — docker-compose's init step, read back through `JWT_SIGNING_KEYS_FILE`.
//! - `identity rotate-key < current.json`: prints the key set with a new signing key added (old keys kept).
//! - `identity create-admin --email a@b.c [--display-name Admin]`: creates a user holding `users:admin`. The
//!   password comes from `ADMIN_PASSWORD` or the first line of stdin; there is no default. Needs `DATABASE_URL`
//!   (and `DATABASE_SCHEMA` if not `identity`); the `user.registered` event goes out with the next relay round.
//! - `identity create-client --name tasks --scopes permissions:read`: a service account (see [`crate::clients`]):
//!   prints `{"client_id", "client_secret", "entry"}` once — the secret for the client's `IDENTITY_CLIENT_SECRET`,
//!   the entry for identity's `SERVICE_CLIENTS`. `--out DIR` instead writes `DIR/<name>.secret` (mode 0600) and adds
//!   the entry to `DIR/service-clients.json`, unless the secret file exists (docker-compose, `make up`).

use std::{io::Read, path::Path, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchyard_core::{
    config,
    db::{self, DbSettings},
    shutdown, telemetry,
};
use switchyard_http::cli::{ServiceCommand, ServiceSpec, exit};

use crate::{
    Settings,
    clients::{self, ClientEntry},
    domain::{DisplayName, Password, USERS_ADMIN, parse_email},
    keys,
    password::Hasher,
    service,
};

#[derive(Debug, Parser)]
#[command(name = "identity", about = "Switchyard identity service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Service(ServiceCommand),
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
    /// Create a service account (OAuth client): prints its secret once and the SERVICE_CLIENTS entry.
    CreateClient {
        /// The client id, e.g. the calling service's name (tasks).
        #[arg(long)]
        name: String,
        /// The scopes it may ask for, comma-separated (permissions:read).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Write DIR/<name>.secret and add the entry to DIR/service-clients.json instead (kept if the secret exists).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// What the shared subcommands know about identity.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "identity",
    default_addr: crate::config::DEFAULT_HTTP_ADDR,
    openapi: crate::http::openapi,
};

/// The registry file `create-client --out DIR` maintains (what `SERVICE_CLIENTS_FILE` points at).
pub const REGISTRY_FILE: &str = "service-clients.json";

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or(Command::Service(ServiceCommand::Serve));
    let Command::Service(common) = command else {
        telemetry::init_cli();
        return exit("identity", tool(command).await);
    };
    SPEC.run(common, serve).await
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let aws = switchyard_core::aws::load().await?;
    let shutdown = shutdown::on_signal();
    crate::app::build(settings, &aws).await?.run(shutdown).await
}

async fn tool(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Service(_) => Ok(()),
        Command::GenKey { out: None } => print_json(&keys::generate()?),
        Command::GenKey { out: Some(path) } => write_new_key(&path),
        Command::RotateKey => rotate_key(),
        Command::CreateAdmin {
            email,
            display_name,
        } => create_admin(&email, &display_name).await,
        Command::CreateClient { name, scopes, out } => create_client(&name, &scopes, out).await,
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// A new file only its owner can read, unless it exists (then `false`).
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<bool> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};

    if path.exists() {
        return Ok(false);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// `gen-key --out`: a key set in a new file only its owner can read; an existing file is kept (restarts keep the
/// key, so issued tokens stay valid).
fn write_new_key(path: &Path) -> anyhow::Result<()> {
    let json = serde_json::to_string(&keys::generate()?)?;
    if write_private(path, json.as_bytes())? {
        eprintln!("wrote a new signing key set to {}", path.display());
    } else {
        eprintln!("{} exists; keeping it", path.display());
    }
    Ok(())
}

fn rotate_key() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the key set on stdin")?;
    let file: keys::KeyFile =
        serde_json::from_str(&input).context("stdin is not a JWT_SIGNING_KEYS value")?;
    print_json(&keys::rotate(file)?)
}

const ADMIN_PASSWORD: config::Var = config::Var::new(
    "ADMIN_PASSWORD",
    "create-admin: the administrator's password (otherwise the first line of stdin)",
)
.secret();

async fn create_admin(email: &str, display_name: &str) -> anyhow::Result<()> {
    let email = parse_email(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
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
        service::create_user(&pool, &email, &name, &hash, &[USERS_ADMIN.to_owned()], None).await?;
    print_json(
        &serde_json::json!({ "id": user.id, "email": user.email, "permissions": user.permissions }),
    )
}

async fn create_client(
    name: &str,
    scopes: &[String],
    out: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let secret_file = out.as_ref().map(|dir| dir.join(format!("{name}.secret")));
    if let Some(file) = &secret_file
        && file.exists()
    {
        eprintln!("{} exists; keeping client {name}", file.display());
        return Ok(());
    }
    let hasher = tokio::task::spawn_blocking(|| Hasher::new(1)).await??;
    let client = clients::create(&hasher, name, scopes).await?;
    let (Some(dir), Some(secret_file)) = (out, secret_file) else {
        return print_json(&serde_json::json!({
            "client_id": client.entry.client_id,
            "client_secret": client.secret,
            "entry": client.entry,
        }));
    };
    // The registry first: a secret file without its entry would never be replaced by a second run.
    let registry = dir.join(REGISTRY_FILE);
    let mut entries: Vec<ClientEntry> = match std::fs::read_to_string(&registry) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a SERVICE_CLIENTS list", registry.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", registry.display())),
    };
    entries.retain(|e| e.client_id != client.entry.client_id);
    entries.push(client.entry);
    let text = serde_json::to_string(&entries)?;
    let staged = dir.join(format!(".{REGISTRY_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, text.as_bytes())?;
    std::fs::rename(&staged, &registry)
        .with_context(|| format!("replacing {}", registry.display()))?;
    write_private(&secret_file, client.secret.as_bytes())?;
    eprintln!(
        "wrote client {name}: its secret to {} and its entry to {}",
        secret_file.display(),
        registry.display()
    );
    Ok(())
}
