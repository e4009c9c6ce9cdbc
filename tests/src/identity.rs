//! The identity service in-process for black-box tests: [`TestIdentity::spawn`] builds it on 127.0.0.1:0 with
//! this world's schema and topic, a fresh signing key and a unique Redis key prefix; plus helpers to sign up, log
//! in, make admins, and a small service protected by `switchyard-auth` (standing in for tasks/mail).

use std::{net::SocketAddr, time::Duration};

use axum::{Json, Router, routing::get};
use secrecy::SecretString;
use serde_json::{Value, json};
use switchyard_auth::{Auth, AuthConfig, AuthUser, ClientCredentials, SCOPE_PERMISSIONS_READ};
use switchyard_core::db::DbSettings;
use switchyard_http::{ApiError, HttpSettings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{World, database_url, unique};

pub const ISSUER: &str = "https://identity.test.switchyard";
pub const AUDIENCE: &str = "switchyard-test";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// Knobs a test may turn before spawning.
#[derive(Debug, Clone)]
pub struct IdentityOptions {
    pub redis_url: String,
    pub throttle: identity::throttle::ThrottleSettings,
    /// `TRUSTED_PROXY_HOPS` (0: the TCP peer is the client; 1: behind the ALB).
    pub trusted_proxy_hops: usize,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        Self {
            redis_url: redis_url(),
            throttle: Default::default(),
            trusted_proxy_hops: 0,
        }
    }
}

pub struct TestIdentity {
    pub url: String,
    pub addr: SocketAddr,
    pub pool: sqlx::PgPool,
    /// This instance's Redis key prefix (`t-<hex>:`).
    pub prefix: String,
    pub redis_url: String,
    /// The `JWT_SIGNING_KEYS` value (generated for this test, never stored).
    pub keys_json: String,
    /// A service account with `permissions:read` (what tasks and mail use in AWS), in this identity's registry.
    pub client: ClientCredentials,
    /// A service account with another scope only (`tasks:read`): authenticated, but not allowed to read permissions.
    pub unscoped_client: ClientCredentials,
    pub http: reqwest::Client,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Tokens as `POST /v1/sessions` returns them.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestIdentity {
    pub async fn spawn(world: &World) -> Self {
        Self::spawn_with(world, IdentityOptions::default()).await
    }

    pub async fn spawn_with(world: &World, options: IdentityOptions) -> Self {
        // Registers the schema with the world (dropped by `finish`); the service migrates it again (a no-op).
        let pool = world
            .database(
                "identity",
                &[&switchyard_outbox::MIGRATOR, &identity::MIGRATOR],
            )
            .await;
        let keys_json = serde_json::to_string(&identity::keys::generate().expect("key generation"))
            .expect("json");
        let prefix = format!("t-{}:", unique());
        let hasher = tokio::task::spawn_blocking(|| identity::password::Hasher::new(2))
            .await
            .expect("hasher")
            .expect("hasher");
        let reader =
            identity::clients::create(&hasher, "tests", &[SCOPE_PERMISSIONS_READ.to_owned()])
                .await
                .expect("client");
        let unscoped = identity::clients::create(&hasher, "unscoped", &["tasks:read".to_owned()])
            .await
            .expect("client");
        let clients = identity::clients::ClientRegistry::from_entries(vec![
            reader.entry.clone(),
            unscoped.entry.clone(),
        ])
        .expect("registry");
        let mut auth = AuthConfig::new("", ISSUER, AUDIENCE, &options.redis_url, &prefix);
        auth.redis_timeout = Duration::from_millis(200);
        let settings = identity::Settings {
            http: HttpSettings::local(([127, 0, 0, 1], 0).into()),
            db: DbSettings {
                url: database_url().into(),
                schema: world.schema_name("identity"),
                max_connections: 10,
            },
            topic_arn: world.topic("identity-events").to_owned(),
            signing_keys: SecretString::from(keys_json.clone()),
            clients,
            tokens: identity::tokens::TokenSettings {
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                access_ttl: Duration::from_secs(900),
                refresh_ttl: Duration::from_secs(3600),
                refresh_reuse_grace: Duration::from_secs(20),
                service_ttl: Duration::from_secs(300),
            },
            throttle: options.throttle,
            trusted_proxy_hops: options.trusted_proxy_hops,
            hash_concurrency: 2,
            auth,
        };
        let app = identity::app::build(settings, &world.aws)
            .await
            .expect("identity builds");
        let addr = app.local_addr().expect("bound");
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run(stop.clone()));
        Self {
            url: format!("http://{addr}"),
            addr,
            pool,
            prefix,
            redis_url: options.redis_url,
            keys_json,
            client: ClientCredentials {
                id: reader.entry.client_id,
                secret: SecretString::from(reader.secret),
            },
            unscoped_client: ClientCredentials {
                id: unscoped.entry.client_id,
                secret: SecretString::from(unscoped.secret),
            },
            http: reqwest::Client::new(),
            stop,
            task: Some(task),
        }
    }

    /// Auth settings for another service using this identity (its URL, issuer, audience, Redis and prefix, and
    /// the `permissions:read` service account).
    pub fn auth_config(&self) -> AuthConfig {
        let mut config =
            AuthConfig::new(&self.url, ISSUER, AUDIENCE, &self.redis_url, &self.prefix);
        config.redis_timeout = Duration::from_millis(200);
        config.jwks_min_refresh = Duration::from_secs(1);
        config.client = Some(self.client.clone());
        config
    }

    /// `POST /v1/oauth/token` with HTTP Basic credentials and a form body.
    pub async fn token_request(&self, id: &str, secret: &str, form: &str) -> reqwest::Response {
        self.http
            .post(self.at("/v1/oauth/token"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("token request")
    }

    /// A service token for `client` (client credentials).
    pub async fn service_token(&self, client: &ClientCredentials) -> String {
        use secrecy::ExposeSecret;
        let r = self
            .token_request(
                &client.id,
                client.secret.expose_secret(),
                "grant_type=client_credentials",
            )
            .await;
        assert_eq!(
            r.status(),
            200,
            "token: {}",
            r.text().await.unwrap_or_default()
        );
        let body: Value = r.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Signs up a user with a unique email; returns (id, email, password).
    pub async fn signup(&self) -> (Uuid, String, String) {
        let email = format!("user-{}@example.com", unique());
        let password = format!("pw-{}-long-enough", unique());
        let r = self
            .http
            .post(self.at("/v1/users"))
            .json(&json!({"email": email, "password": password, "display_name": "Test User"}))
            .send()
            .await
            .expect("signup");
        assert_eq!(
            r.status(),
            201,
            "signup: {}",
            r.text().await.unwrap_or_default()
        );
        let body: Value = r.json().await.expect("json");
        let id = body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id");
        (id, email, password)
    }

    pub async fn try_login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.at("/v1/sessions"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    pub async fn login(&self, email: &str, password: &str) -> Tokens {
        let r = self.try_login(email, password).await;
        assert_eq!(
            r.status(),
            201,
            "login: {}",
            r.text().await.unwrap_or_default()
        );
        tokens(r.json().await.expect("json"))
    }

    /// A signed-up, logged-in user: (id, tokens).
    pub async fn user(&self) -> (Uuid, Tokens) {
        let (id, email, password) = self.signup().await;
        (id, self.login(&email, &password).await)
    }

    /// A logged-in administrator (created like `identity create-admin` does).
    pub async fn admin(&self) -> (Uuid, Tokens) {
        let (id, email, password) = self.signup().await;
        sqlx::query("UPDATE users SET permissions = '{users:admin}', permissions_version = permissions_version + 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .expect("make admin");
        (id, self.login(&email, &password).await)
    }

    /// `PUT /v1/users/{user}/permissions` as `admin`.
    pub async fn set_permissions(
        &self,
        admin: &Tokens,
        user: Uuid,
        permissions: &[&str],
    ) -> reqwest::Response {
        self.http
            .put(self.at(&format!("/v1/users/{user}/permissions")))
            .bearer_auth(&admin.access)
            .json(&json!({ "permissions": permissions }))
            .send()
            .await
            .expect("put permissions")
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(self.at("/v1/sessions/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .expect("refresh request")
    }

    /// Stops serving and the relay.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestIdentity {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn tokens(body: Value) -> Tokens {
    Tokens {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    }
}

/// A stand-in for the tasks service: `GET /v1/tasks` needs `tasks:write`, `GET /v1/whoami` only a valid token.
/// Runs until the returned token is cancelled.
pub async fn protected_service(config: &AuthConfig) -> (String, CancellationToken) {
    let auth = Auth::from_config(config).expect("auth");
    let router = Router::new()
        .route(
            "/v1/tasks",
            get(|user: AuthUser| async move {
                user.require("tasks:write")?;
                Ok::<_, ApiError>(Json(json!({ "user_id": user.user_id })))
            }),
        )
        .route(
            "/v1/whoami",
            get(|user: AuthUser| async move { Json(json!({ "user_id": user.user_id })) }),
        )
        .with_state(auth);
    let router = switchyard_http::with_common_layers(
        router,
        &HttpSettings::local(([127, 0, 0, 1], 0).into()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(
        async move { switchyard_http::serve(listener, router, s.cancelled_owned()).await },
    );
    (url, stop)
}
