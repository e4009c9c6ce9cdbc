//! The tasks service in-process for black-box tests, wired to a [`TestIdentity`](crate::identity::TestIdentity):
//! this world's schema, topic and `tasks` queue (the users projection consumes identity's `user.registered` from
//! it, as in AWS).

use std::time::Duration;

use reqwest::RequestBuilder;
use switchyard_consumer::ConsumerConfig;
use switchyard_core::db::DbSettings;
use switchyard_http::HttpSettings;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{World, database_url, eventually, identity::TestIdentity};

pub struct TestTasks {
    pub url: String,
    pub http: reqwest::Client,
    /// The tasks schema (the users projection, the tasks).
    pub pool: sqlx::PgPool,
    stop: CancellationToken,
}

impl TestTasks {
    pub async fn spawn(world: &World, identity: &TestIdentity) -> Self {
        let pool = world.database("tasks", &tasks::app::migrations()).await;
        let mut consumer = ConsumerConfig::new(world.queue("tasks"));
        consumer.wait_time = Duration::from_secs(1);
        let settings = tasks::Settings {
            http: HttpSettings::local(([127, 0, 0, 1], 0).into()),
            db: DbSettings {
                url: database_url().into(),
                schema: world.schema_name("tasks"),
                max_connections: 10,
            },
            auth: identity.auth_config(),
            topic_arn: world.topic("task-events").to_owned(),
            consumer,
        };
        let app = tasks::app::build(settings, &world.aws)
            .await
            .expect("tasks builds");
        let addr = app.local_addr().expect("bound");
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Self {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            pool,
            stop,
        }
    }

    /// Waits until the users projection knows `user` (its `user.registered` came through SNS and the queue).
    pub async fn wait_for_user(&self, user: Uuid) {
        eventually(
            "the users projection to learn the user",
            Duration::from_secs(30),
            || async {
                tasks::projection::email(&self.pool, user)
                    .await
                    .expect("projection")
                    .map(|_| ())
            },
        )
        .await;
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn patch(&self, path: &str, token: &str) -> RequestBuilder {
        self.http
            .patch(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(token)
    }
}

impl Drop for TestTasks {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
