//! A private `redis-server` on a free 127.0.0.1 port, for tests that stop Redis (the machine's shared Redis
//! serves every other test and must never be stopped) or need it over TLS. Killed when dropped.

use std::{path::PathBuf, time::Duration};

use crate::{free_port, tls::TestCa};

pub struct RedisServer {
    pub port: u16,
    /// TLS only (`--tls-port`, no plain port): the server certificate and key, like ElastiCache with transit
    /// encryption.
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<tokio::process::Child>,
}

impl RedisServer {
    /// Starts an in-memory instance (no persistence) and waits until it answers.
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            tls: None,
            child: None,
        };
        server.restart().await;
        server
    }

    /// Starts an in-memory instance that speaks only TLS, with `ca`'s server certificate (for `localhost`).
    pub async fn start_tls(ca: &TestCa) -> Self {
        let mut server = Self {
            port: free_port(),
            tls: Some((ca.server_cert(), ca.server_key())),
            child: None,
        };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://localhost:<port>` for a TLS server (the name its certificate has).
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => format!("rediss://localhost:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL: like a crash; clients see connection resets).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Starts the server again on the same port (empty: nothing was persisted).
    pub async fn restart(&mut self) {
        self.stop().await;
        let port = self.port.to_string();
        let ports: Vec<String> = match &self.tls {
            None => vec!["--port".into(), port],
            Some((cert, key)) => vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port,
                "--tls-cert-file".into(),
                cert.display().to_string(),
                "--tls-key-file".into(),
                key.display().to_string(),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
        };
        let child = tokio::process::Command::new("redis-server")
            .args(&ports)
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server on PATH (apt-get install redis-server)");
        self.child = Some(child);
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < until,
                "private redis-server did not start on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
