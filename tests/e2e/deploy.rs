//! What the binaries meet in AWS and not on a developer's machine: Postgres roles that own only their schema (the
//! terraform bootstrap task grants CONNECT and nothing else on the database), Postgres over TLS that must verify the
//! server (`sslmode=verify-full` with the RDS CA bundle), Redis over TLS (ElastiCache transit encryption,
//! `rediss://`); and what docker-compose needs: identity's signing key from a file.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use switchyard_core::db::{self, DbSettings};
use switchyard_tests::{
    World, database_url, endpoint, free_port, pg_server::PgServer, redis_server::RedisServer,
    tls::TestCa, unique, workspace_bin,
};

/// `DATABASE_URL` with another user (trust authentication locally, like the tests' own URL).
fn url_as(role: &str) -> String {
    let mut url = reqwest::Url::parse(&database_url()).unwrap();
    url.set_username(role).unwrap();
    url.set_password(None).unwrap();
    url.to_string()
}

#[tokio::test]
async fn a_role_with_only_connect_and_its_own_schema_connects_and_migrates() {
    let admin = PgPool::connect(&database_url()).await.unwrap();
    let role = format!("t_{}_owner", unique());
    // As terraform's bootstrap task does it: a login role, CONNECT, one schema it owns.
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("CREATE SCHEMA {role} AUTHORIZATION {role}"),
        format!("GRANT CONNECT ON DATABASE \"{}\" TO {role}", "switchyard"),
    ] {
        sqlx::query(&sql).execute(&admin).await.unwrap();
    }
    let outcome = async {
        let may_create: bool =
            sqlx::query_scalar("SELECT has_database_privilege($1, current_database(), 'CREATE')")
                .bind(&role)
                .fetch_one(&admin)
                .await?;
        anyhow::ensure!(
            !may_create,
            "precondition: {role} must not have CREATE on the database"
        );
        let settings = DbSettings {
            url: url_as(&role).into(),
            schema: role.clone(),
            max_connections: 2,
        };
        let pool = db::connect(&settings).await?;
        db::migrate(
            &pool,
            &settings.schema,
            &[&switchyard_outbox::MIGRATOR, &::tasks::MIGRATOR],
        )
        .await?;
        // A second start (every deploy) finds the schema and the migrations in place.
        pool.close().await;
        let pool = db::connect(&settings).await?;
        db::migrate(
            &pool,
            &settings.schema,
            &[&switchyard_outbox::MIGRATOR, &::tasks::MIGRATOR],
        )
        .await?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tableowner = $1",
        )
        .bind(&role)
        .fetch_one(&pool)
        .await?;
        pool.close().await;
        anyhow::Ok(tables)
    }
    .await;
    for sql in [
        format!("DROP SCHEMA IF EXISTS {role} CASCADE"),
        format!("REVOKE CONNECT ON DATABASE \"switchyard\" FROM {role}"),
        format!("DROP ROLE IF EXISTS {role}"),
    ] {
        let _ = sqlx::query(&sql).execute(&admin).await;
    }
    let tables = outcome.map_err(|e| format!("{e:#}")).unwrap();
    assert!(
        tables >= 2,
        "the role's migrations created its tables ({tables})"
    );
}

/// The environment identity gets in ECS (here: this world's schema and topic, the emulator, the machine's Redis,
/// a fresh signing key), with `overrides` replacing or adding variables (an empty value removes one).
fn identity_env(world: &World, addr: &str, overrides: &[(&str, String)]) -> Vec<(String, String)> {
    let keys = serde_json::to_string(&::identity::keys::generate().unwrap()).unwrap();
    let mut env: std::collections::BTreeMap<String, String> = [
        ("HTTP_ADDR", addr.to_owned()),
        ("DATABASE_URL", database_url()),
        ("DATABASE_SCHEMA", world.claim_schema("identity")),
        ("REDIS_URL", switchyard_tests::identity::redis_url()),
        ("REDIS_KEY_PREFIX", format!("t-{}:", unique())),
        ("TOPIC_ARN", world.topic("identity-events").to_owned()),
        ("JWT_SIGNING_KEYS", keys),
        ("JWT_ISSUER", switchyard_tests::identity::ISSUER.to_owned()),
        (
            "JWT_AUDIENCE",
            switchyard_tests::identity::AUDIENCE.to_owned(),
        ),
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in overrides {
        if value.is_empty() {
            env.remove(*name);
        } else {
            env.insert((*name).to_owned(), value.clone());
        }
    }
    env.into_iter().collect()
}

/// Runs the identity binary (with `env_clear`, so only `env` counts) and waits for `/healthz`.
async fn start_identity(env: &[(String, String)]) -> (tokio::process::Child, String) {
    let addr = env
        .iter()
        .find(|(k, _)| k == "HTTP_ADDR")
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut child = tokio::process::Command::new(workspace_bin("identity"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://{addr}");
    let http = reqwest::Client::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("identity exited at start ({status}); its log is above");
        }
        let healthy = http.get(format!("{url}/healthz")).send().await;
        if healthy.is_ok_and(|r| r.status() == 200) {
            return (child, url);
        }
        assert!(
            tokio::time::Instant::now() < until,
            "identity did not answer /healthz within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// identity as ECS runs it, with `REDIS_URL=rediss://...` and `SSL_CERT_FILE` naming the trusted roots (in AWS the
/// image's system roots, which hold ElastiCache's CA; here a test CA).
async fn identity_over_tls_redis(
    world: &World,
    redis: &RedisServer,
    trusted: &TestCa,
) -> (tokio::process::Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let env = identity_env(
        world,
        &addr,
        &[
            ("REDIS_URL", redis.url()),
            ("SSL_CERT_FILE", trusted.ca_cert().display().to_string()),
        ],
    );
    start_identity(&env).await
}

/// Signs up a user and logs in (the login consults the Redis throttle); returns the login status.
async fn signup_and_login(url: &str) -> u16 {
    let http = reqwest::Client::new();
    let email = format!("tls-{}@example.com", unique());
    let password = "correct horse battery staple";
    let r = http
        .post(format!("{url}/v1/users"))
        .json(&json!({"email": email, "password": password, "display_name": "TLS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    http.post(format!("{url}/v1/sessions"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn identity_uses_redis_over_tls_and_refuses_a_certificate_it_does_not_trust() {
    let world = World::new().await;
    let ca = TestCa::new();
    let redis = RedisServer::start_tls(&ca).await;

    let (mut trusting, url) = identity_over_tls_redis(&world, &redis, &ca).await;
    assert_eq!(
        signup_and_login(&url).await,
        201,
        "login through the TLS Redis throttle"
    );
    let _ = trusting.kill().await;

    // Same server, but the process trusts another CA: the handshake fails and the throttle fails closed.
    let stranger = TestCa::new();
    let (mut distrusting, url) = identity_over_tls_redis(&world, &redis, &stranger).await;
    assert_eq!(
        signup_and_login(&url).await,
        503,
        "an untrusted Redis certificate must not be accepted"
    );
    let _ = distrusting.kill().await;
    world.finish().await;
}

/// docker-compose: an init step runs `identity gen-key --out FILE` (kept when it exists), identity reads the key
/// through `JWT_SIGNING_KEYS_FILE`. Without any key identity stops at once, naming the variable.
#[tokio::test]
async fn identity_takes_its_signing_key_from_a_file_written_by_gen_key_or_says_what_is_missing() {
    let world = World::new().await;
    let dir = std::env::temp_dir().join(format!("switchyard-keys-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwt-signing-keys.json");
    let gen_key = || {
        std::process::Command::new(workspace_bin("identity"))
            .args(["gen-key", "--out"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let first = gen_key();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600,
        "only the owner may read the key"
    );
    let again = gen_key();
    assert!(again.status.success());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        written,
        "a second run keeps the key (restarts keep tokens valid)"
    );

    let addr = format!("127.0.0.1:{}", free_port());
    let env = identity_env(
        &world,
        &addr,
        &[
            ("JWT_SIGNING_KEYS", String::new()),
            ("JWT_SIGNING_KEYS_FILE", file.display().to_string()),
        ],
    );
    let (mut identity, url) = start_identity(&env).await;
    let jwks: serde_json::Value = reqwest::get(format!("{url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = serde_json::from_str::<serde_json::Value>(&written).unwrap()["signing_kid"].clone();
    assert_eq!(
        jwks["keys"][0]["kid"], kid,
        "identity signs with the file's key"
    );
    let _ = identity.kill().await;

    // Neither the variable nor the file: a clear error at start, not a half-working service.
    let env = identity_env(&world, &addr, &[("JWT_SIGNING_KEYS", String::new())]);
    let out = tokio::process::Command::new(workspace_bin("identity"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("JWT_SIGNING_KEYS is not set"),
        "the error names the variable: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.finish().await;
}

/// In AWS `DATABASE_URL` is `...?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem`: the
/// connection must be encrypted and the server's certificate checked against that bundle and the host name.
#[tokio::test]
async fn verify_full_checks_the_database_server_against_the_sslrootcert_bundle() {
    let ca = TestCa::new();
    let pg = PgServer::start_tls(&ca).await;
    let settings = |root: &std::path::Path| DbSettings {
        url: format!(
            "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
            pg.port,
            root.display()
        )
        .into(),
        schema: "verify_full".into(),
        max_connections: 1,
    };

    let pool = db::connect(&settings(&ca.ca_cert())).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(encrypted, "the connection must use TLS");
    pool.close().await;

    let stranger = TestCa::new();
    let refused = db::connect(&settings(&stranger.ca_cert())).await;
    let error = format!(
        "{:#}",
        refused.expect_err("a server certificate from another CA must be refused")
    );
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "refused for its certificate: {error}"
    );
}
