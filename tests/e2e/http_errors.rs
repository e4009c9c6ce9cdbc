//! Every error answer of every HTTP service (identity, tasks, mail) is RFC 9457 `application/problem+json` — also
//! the ones the framework produces on its own: path segments that are not valid UTF-8 or not UUIDs, unreadable
//! query strings, a method the path does not support, an unknown path, a body without a JSON content type.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_core::db::DbSettings;
use switchyard_http::HttpSettings;
use switchyard_tests::{
    World, database_url, identity::TestIdentity, mail::mail_database, tasks::TestTasks,
};
use tokio_util::sync::CancellationToken;

/// Sends `method path` (with `token` and `body` as given) and asserts a problem document with `status`.
async fn expect_problem(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
    status: StatusCode,
) -> Value {
    let mut req = http.request(method.clone(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((content_type, text)) = body {
        req = req
            .header("content-type", content_type)
            .body(text.to_owned());
    }
    let r = req.send().await.unwrap();
    let case = format!("{method} {base}{path}");
    assert_eq!(r.status(), status, "{case}");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{case}"
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        assert!(r.headers().contains_key("allow"), "{case}: Allow header");
    }
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], status.as_u16(), "{case}: {problem}");
    assert!(problem["title"].is_string(), "{case}: {problem}");
    problem
}

/// An in-process mail service trusting `identity` (its own schema in this world).
async fn spawn_mail(world: &World, identity: &TestIdentity) -> (String, CancellationToken) {
    mail_database(world, "mail").await;
    let settings = mail::Settings {
        http: HttpSettings::local(([127, 0, 0, 1], 0).into()),
        db: DbSettings {
            url: database_url().into(),
            schema: world.schema_name("mail"),
            max_connections: 5,
        },
        auth: identity.auth_config(),
        ses_account_sync: false,
    };
    let app = mail::app::build_with(settings, None).await.unwrap();
    let url = format!("http://{}", app.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    (url, stop)
}

#[tokio::test]
async fn every_service_answers_problem_json_for_bad_paths_queries_methods_and_media_types() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (mail, stop_mail) = spawn_mail(&world, &identity).await;
    let (admin_id, admin) = identity.admin().await;
    assert!(
        identity
            .set_permissions(
                &admin,
                admin_id,
                &["users:admin", "tasks:read", "tasks:write", "mail:admin"]
            )
            .await
            .status()
            .is_success()
    );
    let t = Some(admin.access.as_str());
    let http = &identity.http;
    let json = Some(("application/json", r#"{"permissions":[]}"#));
    let task_json = Some(("application/json", r#"{"name":"x"}"#));
    use Method as M;
    use StatusCode as S;

    // Path segments that cannot name a resource: 404 problems naming the segment, in every service.
    for (base, method, path, body) in [
        (&tasks.url, M::GET, "/v1/tasks/%FF", None),
        (&tasks.url, M::GET, "/v1/tasks/%C3%28", None),
        (&tasks.url, M::GET, "/v1/tasks/not-a-uuid", None),
        (&tasks.url, M::PATCH, "/v1/tasks/%FF", task_json),
        (&tasks.url, M::DELETE, "/v1/tasks/%FF", None),
        (&identity.url, M::PUT, "/v1/users/%FF/permissions", json),
        (
            &identity.url,
            M::PUT,
            "/v1/users/not-a-uuid/permissions",
            json,
        ),
        (
            &identity.url,
            M::GET,
            "/internal/v1/users/%FF/permissions",
            None,
        ),
        (
            &identity.url,
            M::GET,
            "/internal/v1/users/1234/permissions",
            None,
        ),
        (&mail, M::GET, "/v1/suppressions/%FF", None),
        (
            &mail,
            M::DELETE,
            "/v1/suppressions/a%FF%40example.com",
            None,
        ),
    ] {
        let problem = expect_problem(http, base, method, path, t, body, S::NOT_FOUND).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("segment"),
            "{path}: {problem}"
        );
    }

    // Unknown paths, unsupported methods (with Allow), missing or wrong content types.
    for (base, method, path, body, status) in [
        (&tasks.url, M::GET, "/v1/nothing-here", None, S::NOT_FOUND),
        (
            &identity.url,
            M::GET,
            "/v1/nothing-here",
            None,
            S::NOT_FOUND,
        ),
        (&mail, M::GET, "/v1/nothing-here", None, S::NOT_FOUND),
        (
            &tasks.url,
            M::PUT,
            "/v1/tasks",
            task_json,
            S::METHOD_NOT_ALLOWED,
        ),
        (
            &identity.url,
            M::GET,
            "/v1/sessions",
            None,
            S::METHOD_NOT_ALLOWED,
        ),
        (
            &identity.url,
            M::DELETE,
            "/v1/users/me",
            None,
            S::METHOD_NOT_ALLOWED,
        ),
        (
            &mail,
            M::POST,
            "/v1/suppressions",
            json,
            S::METHOD_NOT_ALLOWED,
        ),
        (
            &tasks.url,
            M::POST,
            "/v1/tasks",
            None,
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &tasks.url,
            M::POST,
            "/v1/tasks",
            Some(("text/plain", "x")),
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &identity.url,
            M::POST,
            "/v1/sessions",
            Some(("application/x-www-form-urlencoded", "email=a")),
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &identity.url,
            M::POST,
            "/v1/users",
            None,
            S::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        expect_problem(http, base, method, path, t, body, status).await;
    }

    // Query strings: a value that is not what the parameter takes is a 422 naming it.
    for (base, path) in [
        (&tasks.url, "/v1/tasks?limit=%FF"),
        (&tasks.url, "/v1/tasks?done=%FF%FE"),
        (&mail, "/v1/suppressions?limit=%FF"),
    ] {
        expect_problem(http, base, M::GET, path, t, None, S::UNPROCESSABLE_ENTITY).await;
    }
    stop_mail.cancel();
    world.finish().await;
}
