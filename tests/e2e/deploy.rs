//! What the binaries meet in AWS and not on a developer's machine: Postgres roles that own only their schema (the
//! terraform bootstrap task grants CONNECT and nothing else on the database), Redis over TLS (ElastiCache transit
//! encryption, `rediss://`).

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use switchyard_core::db::{self, DbSettings};
use switchyard_tests::{
    World, database_url, endpoint, free_port, redis_server::RedisServer, spawn, tls::TestCa,
    unique, workspace_bin,
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

/// identity as ECS runs it, with `REDIS_URL=rediss://...` and `SSL_CERT_FILE` naming the trusted roots (in AWS the
/// image's system roots, which hold ElastiCache's CA; here a test CA).
async fn identity_over_tls_redis(
    world: &World,
    redis: &RedisServer,
    trusted: &TestCa,
) -> (tokio::process::Child, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let keys = serde_json::to_string(&::identity::keys::generate().unwrap()).unwrap();
    let env: Vec<(String, String)> = [
        ("HTTP_ADDR", addr.clone()),
        ("DATABASE_URL", database_url()),
        ("DATABASE_SCHEMA", world.claim_schema("identity")),
        ("REDIS_URL", redis.url()),
        ("REDIS_KEY_PREFIX", format!("t-{}:", unique())),
        ("SSL_CERT_FILE", trusted.ca_cert().display().to_string()),
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
    let mut child = spawn(&workspace_bin("identity"), &env, &[]);
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
