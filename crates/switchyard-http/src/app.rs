//! [`Application`]: the one way every HTTP service runs. `build` binds the listener first (port 0 works, so tests
//! know the address before anything serves), background work (the outbox relay, a queue consumer) is attached with
//! [`Application::background`], and [`Application::run`] serves until the shutdown token is cancelled, lets
//! in-flight requests finish, stops the background work, then closes the database pool.

use std::{future::Future, net::SocketAddr};

use anyhow::Context;
use axum::Router;
use futures::future::BoxFuture;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::HttpSettings;

type Background = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// A built, bound service, not yet serving.
pub struct Application {
    name: &'static str,
    listener: TcpListener,
    router: Router,
    /// Started with the server, given the shutdown token; awaited after the server stopped.
    background: Vec<(&'static str, Background)>,
    /// Closed last, once nothing uses it any more.
    pool: Option<PgPool>,
}

impl Application {
    /// Binds `HTTP_ADDR` (`settings.addr`) for `router` (the service's routes with the common layers).
    pub async fn bind(
        name: &'static str,
        settings: &HttpSettings,
        router: Router,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR={}", settings.addr))?;
        Ok(Self {
            name,
            listener,
            router,
            background: Vec::new(),
            pool: None,
        })
    }

    /// Runs `task` beside the server; it must return once its token is cancelled.
    pub fn background<F, Fut>(mut self, what: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background
            .push((what, Box::new(move |token| Box::pin(task(token)))));
        self
    }

    /// The pool to close when everything has stopped.
    pub fn with_pool(mut self, pool: PgPool) -> Self {
        self.pool = Some(pool);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves and runs the background work until `shutdown` is cancelled (or the server fails: then everything
    /// else stops too).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let running: Vec<_> = self
            .background
            .into_iter()
            .map(|(what, task)| (what, tokio::spawn(task(shutdown.clone()))))
            .collect();
        tracing::info!(service = self.name, addr = %self.listener.local_addr()?, "listening");
        let served = crate::serve(
            self.listener,
            self.router,
            shutdown.clone().cancelled_owned(),
        )
        .await;
        shutdown.cancel();
        for (what, task) in running {
            if let Err(error) = task.await {
                tracing::error!(%error, what, "background task panicked");
            }
        }
        if let Some(pool) = self.pool {
            pool.close().await;
        }
        served.context("HTTP server failed")
    }
}
