//! A TCP proxy on 127.0.0.1 that can be switched off: while down it resets every connection, existing and new,
//! so a client pointed at it sees the upstream as unreachable. Used to cut SNS away from the outbox relay.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<CancellationToken>>,
    up: Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// Starts the proxy (up) in front of `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(Mutex::new(CancellationToken::new()));
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let stop = CancellationToken::new();
        let (s, u, st) = (state.clone(), up.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    _ = st.cancelled() => break,
                    accepted = listener.accept() => match accepted { Ok(c) => c, Err(_) => continue },
                };
                if !u.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let generation = s.lock().expect("lock").clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = generation.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Self {
            addr,
            state,
            up,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every open connection and refuses new ones.
    pub fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut generation = self.state.lock().expect("lock");
        generation.cancel();
        *generation = CancellationToken::new();
    }

    pub fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.state.lock().map(|g| g.cancel()).ok();
    }
}
