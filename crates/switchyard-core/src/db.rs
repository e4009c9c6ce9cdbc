//! Postgres: each binary owns one schema. The pool pins `search_path` to it, so SQL says `outbox`, not
//! `tasks.outbox`, and tests get a fresh schema each.

use std::{str::FromStr, time::Duration};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Executor, PgPool,
    error::BoxDynError,
    migrate::{Migration, MigrationSource, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::{self, ConfigError, Var};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "schema name {0:?} must be 1-63 characters of a-z, 0-9 and '_', starting with a letter"
    )]
    BadSchema(String),
    #[error("cannot connect to Postgres (check DATABASE_URL): {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrating schema {schema:?} failed: {source}")]
    Migrate {
        schema: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Where a binary's data lives.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: SecretString,
    pub schema: String,
    pub max_connections: u32,
}

pub const DATABASE_URL: Var = Var::new(
    "DATABASE_URL",
    "the Postgres URL, e.g. postgres://postgres@127.0.0.1:5432/switchyard (in AWS: sslmode=verify-full with \
     sslrootcert, from Secrets Manager)",
)
.secret()
.example("postgres://app:secret@127.0.0.1:5432/switchyard");
pub const DATABASE_SCHEMA: Var = Var::new(
    "DATABASE_SCHEMA",
    "the Postgres schema the binary owns (search_path); default: the binary's own",
)
.example("t_contract");
pub const DATABASE_MAX_CONNECTIONS: Var =
    Var::new("DATABASE_MAX_CONNECTIONS", "size of the connection pool").example("10");

impl DbSettings {
    /// From `DATABASE_URL`, `DATABASE_SCHEMA` (default: the binary's own schema) and `DATABASE_MAX_CONNECTIONS`.
    pub fn from_env(default_schema: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            url: SecretString::from(config::required(&DATABASE_URL)?),
            schema: config::string(&DATABASE_SCHEMA, default_schema)?,
            max_connections: config::parsed(&DATABASE_MAX_CONNECTIONS, 10)?,
        })
    }
}

fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Creates the schema if needed and returns a pool whose connections use it as `search_path`.
pub async fn connect(settings: &DbSettings) -> Result<PgPool, DbError> {
    connect_pool(settings, true).await
}

/// [`connect`] without sqlx's liveness check on every acquire (a round trip to Postgres before each use of a
/// pooled connection), for callers that retry whatever fails anyway: a worker's batch on a connection that died
/// (a failover) fails, rolls back and comes back from SQS; the pool drops the broken connection. Not for request
/// handlers, where the check turns a dead connection into a reconnect instead of a 5xx.
pub async fn connect_unchecked(settings: &DbSettings) -> Result<PgPool, DbError> {
    connect_pool(settings, false).await
}

async fn connect_pool(settings: &DbSettings, test_before_acquire: bool) -> Result<PgPool, DbError> {
    if !valid_schema(&settings.schema) {
        return Err(DbError::BadSchema(settings.schema.clone()));
    }
    let options =
        PgConnectOptions::from_str(settings.url.expose_secret()).map_err(DbError::Connect)?;
    // Create the schema on a plain connection first: the pool's search_path must point at an existing schema.
    let bootstrap = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.clone())
        .await
        .map_err(DbError::Connect)?;
    ensure_schema(&bootstrap, &settings.schema).await?;
    bootstrap.close().await;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(test_before_acquire)
        .connect_with(options.options([("search_path", settings.schema.as_str())]))
        .await
        .map_err(DbError::Connect)
}

/// Creates `schema` unless it exists. Checked first because Postgres checks the CREATE privilege on the database
/// before `IF NOT EXISTS`: in AWS each role has only CONNECT and owns its schema (the bootstrap task creates it),
/// so a bare `CREATE SCHEMA IF NOT EXISTS` fails there with "permission denied for database".
async fn ensure_schema(pool: &PgPool, schema: &str) -> Result<(), DbError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(pool)
            .await?;
    if !exists {
        pool.execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
            .await?;
    }
    Ok(())
}

/// The consumer runtime's `inbox` table (one row per processed CloudEvent id; see `switchyard_consumer::Inbox`).
/// Kept here, with the other platform-wide Postgres code, so a binary that shares a schema with workers (the mail
/// service) runs the same migration list without depending on the SQS runtime; `switchyard_consumer::MIGRATOR`
/// is this set.
pub static INBOX_MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Runs several migration sets (the platform's outbox/inbox tables, then the binary's own) as one ordered list in
/// the pool's schema. Versions must not collide: platform migrations use small numbers, services use dates.
pub async fn migrate(pool: &PgPool, schema: &str, sets: &[&Migrator]) -> Result<(), DbError> {
    let fail = |source| DbError::Migrate {
        schema: schema.to_owned(),
        source,
    };
    let all: Vec<Migration> = sets.iter().flat_map(|m| m.iter().cloned()).collect();
    let migrator = Migrator::new(Combined(all)).await.map_err(fail)?;
    migrator.run(pool).await.map_err(fail)
}

/// Several embedded migration sets presented to sqlx as one source (sorted by version).
#[derive(Debug)]
struct Combined(Vec<Migration>);

impl<'s> MigrationSource<'s> for Combined {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        let mut all = self.0;
        all.sort_by_key(|m| m.version);
        Box::pin(std::future::ready(Ok(all)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_names_are_checked() {
        assert!(super::valid_schema("event_archive"));
        assert!(super::valid_schema("t_1a2b_identity"));
        for bad in ["", "Tasks", "1x", "a-b", "a\"; drop", &"x".repeat(64)] {
            assert!(!super::valid_schema(bad), "{bad}");
        }
    }
}
