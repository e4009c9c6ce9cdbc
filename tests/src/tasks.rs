//! The tasks service in-process for black-box tests, wired to a [`TestIdentity`](crate::identity::TestIdentity).

use reqwest::RequestBuilder;
use switchyard_core::db::DbSettings;
use switchyard_http::HttpSettings;
use tokio_util::sync::CancellationToken;

use crate::{World, database_url, identity::TestIdentity};

pub struct TestTasks {
    pub url: String,
    pub http: reqwest::Client,
    stop: CancellationToken,
}

impl TestTasks {
    pub async fn spawn(world: &World, identity: &TestIdentity) -> Self {
        world
            .database("tasks", &[&switchyard_outbox::MIGRATOR, &tasks::MIGRATOR])
            .await;
        let settings = tasks::Settings {
            http: HttpSettings::local(([127, 0, 0, 1], 0).into()),
            db: DbSettings {
                url: database_url().into(),
                schema: world.schema_name("tasks"),
                max_connections: 10,
            },
            auth: identity.auth_config(),
            topic_arn: world.topic("task-events").to_owned(),
        };
        let app = tasks::Application::build(settings, world.sns.clone())
            .await
            .expect("tasks builds");
        let addr = app.local_addr().expect("bound");
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Self {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            stop,
        }
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
