//! A private Postgres on a free 127.0.0.1 port that accepts TLS with a [`TestCa`] server certificate, like RDS with
//! `rds.force_ssl` (the machine's shared Postgres has no TLS and must not be reconfigured). `initdb` into a
//! temporary directory, trust authentication, killed and deleted when dropped. As root it runs as the `postgres`
//! user (Postgres refuses to run as root).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{free_port, tls::TestCa, unique};

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<tokio::process::Child>,
}

/// `initdb`/`postgres`: on PATH, else the newest /usr/lib/postgresql/<version>/bin.
fn pg_bin(name: &str) -> PathBuf {
    if let Some(found) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }) {
        return found;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin").join(name))))
        .into_iter()
        .flatten()
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("{name} not found (apt-get install postgresql)"))
}

/// The `postgres` user's uid and gid when running as root (Postgres will not run as root).
fn run_as() -> Option<(u32, u32)> {
    let id = |flag: &str, who: Option<&str>| {
        let out = Command::new("id").arg(flag).args(who).output().ok()?;
        String::from_utf8(out.stdout)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    if id("-u", None)? != 0 {
        return None;
    }
    Some((
        id("-u", Some("postgres"))
            .expect("a postgres user to run Postgres as (apt-get install postgresql)"),
        id("-g", Some("postgres")).expect("the postgres group"),
    ))
}

fn chown(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

impl PgServer {
    /// initdb, then Postgres with `ssl = on` and `ca`'s certificate for localhost; waits until it accepts queries.
    pub async fn start_tls(ca: &TestCa) -> Self {
        let owner = run_as();
        let dir = std::env::temp_dir().join(format!("switchyard-pg-{}", unique()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        chown(&dir, owner);
        let data = dir.join("data");
        let mut initdb = Command::new(pg_bin("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        if let Some((uid, gid)) = owner {
            std::os::unix::process::CommandExt::uid(&mut initdb, uid);
            std::os::unix::process::CommandExt::gid(&mut initdb, gid);
        }
        let out = initdb.output().expect("running initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (from, to, mode) in [
            (ca.server_cert(), "server.crt", 0o644),
            (ca.server_key(), "server.key", 0o600),
        ] {
            let target = data.join(to);
            std::fs::copy(from, &target).expect("copy the server certificate");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .expect("chmod");
            chown(&target, owner);
        }
        let port = free_port();
        let mut postgres = tokio::process::Command::new(pg_bin("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args([
                "-c",
                "ssl=on",
                "-c",
                "fsync=off",
                "-c",
                "logging_collector=off",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some((uid, gid)) = owner {
            postgres.uid(uid).gid(gid);
        }
        let child = postgres.spawn().expect("starting postgres");
        let server = Self {
            port,
            dir,
            child: Some(child),
        };
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                pool.close().await;
                return server;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "the private Postgres did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
        // The postmaster may take a moment to exit; its directory goes either way.
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
