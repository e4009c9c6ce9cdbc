//! The mail admin service against a live identity, real Postgres/Redis and moto: every route needs a token with
//! `mail:admin`; suppressions written by the ses-suppressor's own handler are searched, paged, shown with their
//! history and unsuppressed (after which the mailer's own claim sends again); the outbound log by recipient; daily
//! counts; bad input named in 422s; the SES account-list sync (a recording list, moto's real SESv2 endpoint, and
//! off by default in the real binary).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use mail::http::AccountSync;
use mailer::{
    compose::Email,
    outbound::{self, Claim, Recorded},
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use ses_suppressor::{Settings as SuppressorSettings, Suppressor};
use sqlx::PgPool;
use switchyard_consumer::{MessageHandler, Outcome};
use switchyard_core::db::DbSettings;
use switchyard_http::HttpSettings;
use switchyard_mail::EmailAddress;
use switchyard_ses::{AccountSuppressionList, SesAccountSuppression, SyncError};
use switchyard_tests::{
    World, database_url, endpoint, eventually,
    identity::{TestIdentity, Tokens, redis_url},
    mail::{incoming, mail_database},
    spawn, unique, workspace_bin,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An in-process mail service on 127.0.0.1:0 over this world's `mail` schema, trusting `identity`.
struct MailApi {
    url: String,
    http: reqwest::Client,
    pool: PgPool,
    stop: CancellationToken,
}

impl MailApi {
    async fn spawn(world: &World, identity: &TestIdentity, account: AccountSync) -> Self {
        // Registers the schema with the world (dropped by `finish`); the service migrates it again (a no-op).
        let pool = mail_database(world, "mail").await;
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
        let app = mail::app::build_with(settings, account)
            .await
            .expect("mail builds");
        let addr = app.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(app.run(stop.clone()));
        Self {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            pool,
            stop,
        }
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, token: &str) -> Value {
        let r = self.get(path, token).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for MailApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A logged-in user holding `mail:admin` (granted through identity's API by an identity admin).
async fn mail_admin(identity: &TestIdentity) -> (Uuid, Tokens) {
    let (_, admin) = identity.admin().await;
    let (id, tokens) = identity.user().await;
    let r = identity.set_permissions(&admin, id, &["mail:admin"]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    (id, tokens)
}

/// SES feedback as SES sends it, for one recipient at `at`.
fn bounce(address: &str, bounce_type: &str, at: DateTime<Utc>) -> String {
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type, "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "status": "5.1.1", "action": "failed"}],
            "timestamp": ts, "feedbackId": format!("fb-{}", unique()),
        },
        "mail": {
            "timestamp": ts, "source": "noreply@example.com",
            "messageId": format!("msg-{}", unique()), "destination": [address],
        },
    })
    .to_string()
}

fn complaint(address: &str, at: DateTime<Utc>) -> String {
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse",
            "timestamp": ts, "feedbackId": format!("fb-{}", unique()),
        },
        "mail": {
            "timestamp": ts, "source": "noreply@example.com",
            "messageId": format!("msg-{}", unique()), "destination": [address],
        },
    })
    .to_string()
}

/// Hands feedback to the real ses-suppressor handler (default policy) on the service's schema.
async fn feed(pool: &PgPool, bodies: &[String]) {
    let suppressor: Suppressor = Suppressor::new(pool.clone(), SuppressorSettings::default(), None);
    for body in bodies {
        assert_eq!(suppressor.handle(&incoming(body)).await, Outcome::Done);
    }
}

fn addresses(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_owned())
        .collect()
}

/// The fields a 422 names.
async fn fields(r: reqwest::Response) -> Vec<String> {
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// What the mailer's own claim does for a new event to `recipient`.
async fn mailer_claim(pool: &PgPool, recipient: &str) -> Claim {
    let email = Email {
        template: "welcome",
        recipient: EmailAddress::parse(recipient).unwrap(),
        subject: "Welcome".into(),
        text: "hi".into(),
        html: "<p>hi</p>".into(),
    };
    outbound::claim(
        pool,
        Uuid::now_v7(),
        "user.registered",
        &email,
        "v2",
        Duration::from_secs(60),
    )
    .await
    .unwrap()
}

const ROUTES: &[&str] = &[
    "/v1/suppressions",
    "/v1/suppressions/jane@example.com",
    "/v1/messages?recipient=jane@example.com",
    "/v1/mail-stats",
];

#[tokio::test]
async fn mail_api_needs_a_token_and_mail_admin_on_every_route() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    feed(
        &api.pool,
        &[bounce("jane@example.com", "Permanent", Utc::now())],
    )
    .await;

    for path in ROUTES {
        let r = api
            .http
            .get(format!("{}{path}", api.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(
            r.headers()["www-authenticate"],
            r#"Bearer realm="switchyard""#
        );
    }
    let r = api
        .http
        .delete(format!("{}/v1/suppressions/jane@example.com", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A valid user without the permission: 403 everywhere, and nothing is removed.
    let (_, admin) = identity.admin().await;
    let (user, tokens) = identity.user().await;
    for path in ROUTES {
        assert_eq!(api.get(path, &tokens.access).await.status(), 403, "{path}");
    }
    assert_eq!(
        api.delete("/v1/suppressions/jane@example.com", &tokens.access)
            .await
            .status(),
        403
    );
    // Granting mail:admin applies to the very next request with the same token.
    let r = identity
        .set_permissions(&admin, user, &["mail:admin"])
        .await;
    assert_eq!(r.status(), 200);
    for path in ROUTES {
        assert_eq!(api.get(path, &tokens.access).await.status(), 200, "{path}");
    }

    // Public: health and the OpenAPI document naming every route.
    let r = api
        .http
        .get(format!("{}/healthz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = api
        .http
        .get(format!("{}/openapi.json", api.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/suppressions",
        "/v1/suppressions/{email}",
        "/v1/messages",
        "/v1/mail-stats",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
    assert!(doc["paths"]["/v1/suppressions/{email}"]["delete"].is_object());
    world.finish().await;
}

#[tokio::test]
async fn mail_api_searches_and_pages_the_suppression_list() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    let now = Utc::now();
    feed(
        &api.pool,
        &[
            bounce("a1@bounce.test", "Permanent", now),
            bounce("a2@bounce.test", "Permanent", now),
            bounce("a3@bounce.test", "Permanent", now),
            complaint("c1@complain.test", now),
            complaint("c2@complain.test", now),
            // Counted, not suppressed: never listed.
            bounce("soft@bounce.test", "Transient", now),
        ],
    )
    .await;

    let all = api.json("/v1/suppressions", t).await;
    let mut listed = addresses(&all);
    listed.sort();
    assert_eq!(
        listed,
        [
            "a1@bounce.test",
            "a2@bounce.test",
            "a3@bounce.test",
            "c1@complain.test",
            "c2@complain.test"
        ]
    );
    assert!(all.get("next_cursor").is_none());
    assert_eq!(
        all["items"][0]["last_decision_id"].as_i64().map(|i| i > 0),
        Some(true)
    );

    // Filters: exact (normalised), substring (case-insensitive), reason, since.
    let exact = api
        .json("/v1/suppressions?address=%20A2@Bounce.TEST%20", t)
        .await;
    assert_eq!(addresses(&exact), ["a2@bounce.test"]);
    let mut sub = addresses(&api.json("/v1/suppressions?q=COMPLAIN", t).await);
    sub.sort();
    assert_eq!(sub, ["c1@complain.test", "c2@complain.test"]);
    let like = api.json("/v1/suppressions?q=%25", t).await;
    assert!(addresses(&like).is_empty(), "% is matched literally");
    let complaints = api.json("/v1/suppressions?reason=complaint", t).await;
    assert_eq!(addresses(&complaints).len(), 2);
    assert!(
        complaints["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["reason"] == "complaint")
    );
    let bounces = api.json("/v1/suppressions?reason=bounce&q=a", t).await;
    assert_eq!(addresses(&bounces).len(), 3);
    let tomorrow = (now + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        addresses(
            &api.json(&format!("/v1/suppressions?since={tomorrow}"), t)
                .await
        )
        .is_empty()
    );
    assert_eq!(
        addresses(
            &api.json("/v1/suppressions?since=2020-01-01T00:00:00Z", t)
                .await
        )
        .len(),
        5
    );

    // Paging: limit 2 walks all five exactly once, newest first.
    let mut seen = Vec::new();
    let mut path = "/v1/suppressions?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = api.json(&path, t).await;
        pages += 1;
        let items = addresses(&page);
        assert!(items.len() <= 2);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/suppressions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, addresses(&all), "pages follow the unpaged order");
    world.finish().await;
}

#[tokio::test]
async fn mail_api_shows_history_and_unsuppressing_lets_the_mailer_send_again() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (admin_id, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    let now = Utc::now();
    let day = chrono::Duration::days(1);
    // Three soft bounces within the window suppress (default policy), then a hard one is recorded on top.
    feed(
        &api.pool,
        &[
            bounce("Jane@Example.com", "Transient", now - day * 2),
            bounce("jane@example.com", "Transient", now - day),
            bounce("jane@example.com", "Transient", now),
            bounce("keep@example.com", "Permanent", now),
        ],
    )
    .await;

    let detail = api.json("/v1/suppressions/JANE@example.com", t).await;
    assert_eq!(detail["address"], "jane@example.com");
    assert_eq!(detail["reason"], "soft_bounces");
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert!(
        history
            .iter()
            .all(|d| d["feedback_type"] == "bounce" && d["bounce_type"] == "Transient")
    );
    let decisions: Vec<&str> = history
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["counted", "counted", "suppressed"]);
    assert_eq!(detail["last_decision_id"], history[2]["id"]);
    assert_eq!(detail["removals"], json!([]));

    // The mailer skips both while they are suppressed.
    assert!(matches!(
        mailer_claim(&api.pool, "jane@example.com").await,
        Claim::Skipped { .. }
    ));

    let r = api.delete("/v1/suppressions/jane@example.com", t).await;
    assert_eq!(r.status(), 200);
    let removed: Value = r.json().await.unwrap();
    assert_eq!(removed["address"], "jane@example.com");
    assert_eq!(removed["reason"], "soft_bounces");
    assert_eq!(removed["removed_by"], admin_id.to_string());
    assert!(removed["removed_at"].is_string());
    assert!(removed["ses_removed_at"].is_null(), "SES sync is off");

    // Gone from the list; a second delete and a detail are 404; the mailer sends to it again, not to the other.
    assert_eq!(
        api.get("/v1/suppressions/jane@example.com", t)
            .await
            .status(),
        404
    );
    let again = api.delete("/v1/suppressions/jane@example.com", t).await;
    assert_eq!(again.status(), 404);
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    assert_eq!(
        api.get("/v1/suppressions/nobody@example.com", t)
            .await
            .status(),
        404
    );
    assert_eq!(
        addresses(&api.json("/v1/suppressions", t).await),
        ["keep@example.com"]
    );
    assert!(matches!(
        mailer_claim(&api.pool, "jane@example.com").await,
        Claim::Send { .. }
    ));
    assert!(matches!(
        mailer_claim(&api.pool, "keep@example.com").await,
        Claim::Skipped { .. }
    ));

    // Suppressed again later: the detail keeps the whole story (four decisions, one removal by whom).
    feed(&api.pool, &[complaint("jane@example.com", Utc::now())]).await;
    let detail = api.json("/v1/suppressions/jane@example.com", t).await;
    assert_eq!(detail["reason"], "complaint");
    assert_eq!(detail["history"].as_array().unwrap().len(), 4);
    assert_eq!(detail["removals"].as_array().unwrap().len(), 1);
    assert_eq!(detail["removals"][0]["removed_by"], admin_id.to_string());
    assert_eq!(detail["removals"][0]["reason"], "soft_bounces");
    world.finish().await;
}

#[tokio::test]
async fn mail_api_lists_the_outbound_log_by_recipient() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    feed(
        &api.pool,
        &[bounce("gone@example.com", "Permanent", Utc::now())],
    )
    .await;
    // Through the mailer's own state machine: three sent to ann, one failed to ann, one skipped to gone.
    for _ in 0..3 {
        let Claim::Send { id } = mailer_claim(&api.pool, "ann@example.com").await else {
            panic!("send")
        };
        outbound::record(
            &api.pool,
            id,
            Recorded::Sent {
                ses_message_id: &format!("ses-{}", unique()),
            },
        )
        .await
        .unwrap();
    }
    let Claim::Send { id } = mailer_claim(&api.pool, "ann@example.com").await else {
        panic!("send")
    };
    outbound::record(&api.pool, id, Recorded::Failed { detail: "rejected" })
        .await
        .unwrap();
    assert!(matches!(
        mailer_claim(&api.pool, "gone@example.com").await,
        Claim::Skipped { .. }
    ));

    let ann = api.json("/v1/messages?recipient=ANN@example.com", t).await;
    let items = ann["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(
        items
            .iter()
            .all(|m| m["recipient"] == "ann@example.com" && m["template"] == "welcome")
    );
    assert_eq!(items[0]["status"], "failed", "newest first");
    assert_eq!(items[0]["detail"], "rejected");
    assert_eq!(items.iter().filter(|m| m["status"] == "sent").count(), 3);
    assert!(
        items[1]["ses_message_id"]
            .as_str()
            .unwrap()
            .starts_with("ses-")
    );

    let gone = api.json("/v1/messages?recipient=gone@example.com", t).await;
    assert_eq!(gone["items"][0]["status"], "skipped");
    assert!(
        gone["items"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("suppressed")
    );
    let failed = api.json("/v1/messages?status=failed", t).await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    assert!(
        api.json("/v1/messages?recipient=nobody@example.com", t)
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Pages of 3 over ann's 4.
    let first = api
        .json("/v1/messages?recipient=ann@example.com&limit=3", t)
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = api
        .json(
            &format!("/v1/messages?recipient=ann@example.com&limit=3&cursor={cursor}"),
            t,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second.get("next_cursor").is_none());
    assert_eq!(second["items"][0]["id"], items[3]["id"]);
    world.finish().await;
}

#[tokio::test]
async fn mail_api_counts_bounces_and_complaints_by_day() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    let now = Utc::now();
    let day = chrono::Duration::days(1);
    feed(
        &api.pool,
        &[
            bounce("p1@example.com", "Permanent", now),
            bounce("t1@example.com", "Transient", now),
            complaint("c1@example.com", now),
            complaint("c2@example.com", now - day * 2),
            bounce("p2@example.com", "Permanent", now - day * 2),
            // Outside a 3-day window.
            bounce("old@example.com", "Permanent", now - day * 10),
        ],
    )
    .await;

    let stats = api.json("/v1/mail-stats?days=3", t).await;
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let today = now.date_naive();
    assert_eq!(days[2]["day"], today.to_string());
    assert_eq!(days[0]["day"], (today - day * 2).to_string());
    assert_eq!(
        (
            &days[2]["bounces"],
            &days[2]["permanent_bounces"],
            &days[2]["transient_bounces"],
            &days[2]["complaints"],
            &days[2]["suppressed"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1), &json!(2))
    );
    assert_eq!(days[1]["bounces"], 0);
    assert_eq!(days[1]["complaints"], 0);
    assert_eq!(
        (&days[0]["bounces"], &days[0]["complaints"]),
        (&json!(1), &json!(1))
    );
    let month = api.json("/v1/mail-stats", t).await;
    let month = month["days"].as_array().unwrap();
    assert_eq!(month.len(), 30, "default window");
    assert_eq!(
        month
            .iter()
            .map(|d| d["bounces"].as_i64().unwrap())
            .sum::<i64>(),
        4
    );
    world.finish().await;
}

#[tokio::test]
async fn mail_api_rejects_bad_input_naming_the_field() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;

    assert_eq!(
        fields(api.get("/v1/suppressions/not-an-email", t).await).await,
        ["email"]
    );
    assert_eq!(
        fields(api.delete("/v1/suppressions/a@b@", t).await).await,
        ["email"]
    );
    assert_eq!(
        fields(api.get("/v1/suppressions?since=yesterday", t).await).await,
        ["since"]
    );
    assert_eq!(
        fields(api.get("/v1/suppressions?since=2026-13-01", t).await).await,
        ["since"]
    );
    for limit in ["0", "201", "-1", "ten"] {
        assert_eq!(
            fields(api.get(&format!("/v1/suppressions?limit={limit}"), t).await).await,
            ["limit"],
            "{limit}"
        );
    }
    assert_eq!(api.get("/v1/suppressions?limit=200", t).await.status(), 200);
    assert_eq!(
        fields(api.get("/v1/suppressions?reason=spam", t).await).await,
        ["reason"]
    );
    assert_eq!(
        fields(api.get("/v1/suppressions?address=nope", t).await).await,
        ["address"]
    );
    assert_eq!(
        fields(api.get("/v1/suppressions?cursor=garbage!", t).await).await,
        ["cursor"]
    );
    assert_eq!(
        fields(api.get("/v1/suppressions?emial=a@b.c", t).await).await,
        ["emial"]
    );
    // Every bad parameter at once.
    assert_eq!(
        fields(
            api.get("/v1/suppressions?since=x&limit=0&reason=y", t)
                .await
        )
        .await,
        ["reason", "since", "limit"]
    );
    assert_eq!(
        fields(api.get("/v1/messages?recipient=bad", t).await).await,
        ["recipient"]
    );
    assert_eq!(
        fields(api.get("/v1/messages?status=lost&limit=1000", t).await).await,
        ["status", "limit"]
    );
    assert_eq!(
        fields(api.get("/v1/mail-stats?days=0", t).await).await,
        ["days"]
    );
    assert_eq!(
        fields(api.get("/v1/mail-stats?days=367", t).await).await,
        ["days"]
    );
    world.finish().await;
}

/// Values Postgres cannot store or compare (a NUL in text, timestamps outside its range) are 422s naming the
/// parameter, never a 500 from the query.
#[tokio::test]
async fn mail_api_rejects_nul_and_out_of_range_timestamps_naming_the_parameter() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let api = MailApi::spawn(&world, &identity, None).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    let cursor = |text: &str| mail::query::encode_cursor(text);

    let cases = [
        ("/v1/suppressions?q=a%00b".to_owned(), "q"),
        (format!("/v1/suppressions?q={}", "a".repeat(255)), "q"),
        (
            "/v1/suppressions?address=a%00b%40example.com".to_owned(),
            "address",
        ),
        (
            "/v1/messages?recipient=a%00b%40example.com".to_owned(),
            "recipient",
        ),
        (
            format!(
                "/v1/suppressions?cursor={}",
                cursor("0|a\u{0}b@example.com")
            ),
            "cursor",
        ),
        ("/v1/suppressions?since=-4714-01-01".to_owned(), "since"),
        ("/v1/suppressions?since=%2B262142-01-01".to_owned(), "since"),
        (
            "/v1/suppressions?since=0000-01-01T00:00:00Z".to_owned(),
            "since",
        ),
        (
            format!(
                "/v1/suppressions?cursor={}",
                cursor("-8000000000000000000|a@example.com")
            ),
            "cursor",
        ),
        (
            format!(
                "/v1/suppressions?cursor={}",
                cursor("300000000000000000|a@example.com")
            ),
            "cursor",
        ),
        (
            format!("/v1/messages?cursor={}", cursor("m|a\u{0}")),
            "cursor",
        ),
    ];
    for (path, field) in cases {
        let response = api.get(&path, t).await;
        assert_eq!(response.status(), 422, "{path}");
        assert_eq!(fields(response).await, [field], "{path}");
    }
    // The edges of the accepted range still work.
    for since in ["1970-01-01", "9999-12-31T23:59:59Z"] {
        assert_eq!(
            api.get(&format!("/v1/suppressions?since={since}"), t)
                .await
                .status(),
            200,
            "{since}"
        );
    }
    world.finish().await;
}

/// Records removals; fails them while `fail` is set.
#[derive(Default)]
struct RecordingList {
    removed: Mutex<Vec<String>>,
    fail: Mutex<bool>,
}

impl AccountSuppressionList for RecordingList {
    fn put<'a>(
        &'a self,
        _: &'a EmailAddress,
        _: switchyard_mail::SuppressionReason,
    ) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async { panic!("the mail service never adds to the account list") })
    }

    fn remove<'a>(&'a self, address: &'a EmailAddress) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async move {
            if *self.fail.lock().unwrap() {
                return Err(SyncError {
                    operation: "DeleteSuppressedDestination",
                    address: address.to_string(),
                    message: "throttled".into(),
                });
            }
            self.removed.lock().unwrap().push(address.to_string());
            Ok(())
        })
    }
}

#[tokio::test]
async fn mail_api_unsuppress_removes_from_the_ses_account_list_when_sync_is_on() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let list = Arc::new(RecordingList::default());
    let api = MailApi::spawn(&world, &identity, Some(list.clone())).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    feed(
        &api.pool,
        &[
            bounce("synced@example.com", "Permanent", Utc::now()),
            bounce("stuck@example.com", "Permanent", Utc::now()),
        ],
    )
    .await;

    let r = api.delete("/v1/suppressions/Synced@Example.com", t).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["ses_removed_at"].is_string());
    assert_eq!(*list.removed.lock().unwrap(), ["synced@example.com"]);

    // SES fails: 503 with Retry-After, and the entry stays (nothing half-done); a retry after recovery works.
    *list.fail.lock().unwrap() = true;
    let r = api.delete("/v1/suppressions/stuck@example.com", t).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        !r.text().await.unwrap().contains("throttled"),
        "the SES error is logged, not answered"
    );
    assert_eq!(
        api.get("/v1/suppressions/stuck@example.com", t)
            .await
            .status(),
        200
    );
    assert!(matches!(
        mailer_claim(&api.pool, "stuck@example.com").await,
        Claim::Skipped { .. }
    ));
    *list.fail.lock().unwrap() = false;
    assert_eq!(
        api.delete("/v1/suppressions/stuck@example.com", t)
            .await
            .status(),
        200
    );
    assert_eq!(list.removed.lock().unwrap().len(), 2);
    world.finish().await;
}

/// The real SESv2 client on the emulator. moto (5.x) has no DeleteSuppressedDestination route and answers 404
/// without an error code, LocalStack's community SES (4.x) answers every SESv2 call with 501: either must be handled
/// like any SES failure, 503 and the entry kept. Should the emulator gain the API, the removal succeeds instead;
/// both are asserted.
#[tokio::test]
async fn mail_api_with_the_real_ses_client_on_the_emulator_never_half_unsuppresses() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let ses = SesAccountSuppression::from_sdk(&world.aws);
    let api = MailApi::spawn(&world, &identity, Some(Arc::new(ses))).await;
    let (_, admin) = mail_admin(&identity).await;
    let t = &admin.access;
    feed(
        &api.pool,
        &[bounce("moto@example.com", "Permanent", Utc::now())],
    )
    .await;
    let r = api.delete("/v1/suppressions/moto@example.com", t).await;
    match r.status().as_u16() {
        503 => {
            assert_eq!(
                api.get("/v1/suppressions/moto@example.com", t)
                    .await
                    .status(),
                200
            );
        }
        200 => {
            let body: Value = r.json().await.unwrap();
            assert!(body["ses_removed_at"].is_string());
            assert_eq!(
                api.get("/v1/suppressions/moto@example.com", t)
                    .await
                    .status(),
                404
            );
        }
        other => panic!("unexpected {other}: {}", r.text().await.unwrap_or_default()),
    }
    world.finish().await;
}

/// The real `mail` binary from its environment: migrates, serves, `mail healthcheck` passes, and without
/// `SES_ACCOUNT_SUPPRESSION_SYNC` an unsuppression touches only Postgres (the sync is off by default).
#[tokio::test]
async fn mail_api_binary_serves_from_env_with_the_ses_sync_off_by_default() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let pool = mail_database(&world, "mail").await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let env: Vec<(String, String)> = [
        ("HTTP_ADDR", addr.clone()),
        ("DATABASE_URL", database_url()),
        ("DATABASE_SCHEMA", world.schema_name("mail")),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", identity.prefix.clone()),
        ("IDENTITY_URL", identity.url.clone()),
        ("IDENTITY_CLIENT_ID", identity.client.id.clone()),
        (
            "IDENTITY_CLIENT_SECRET",
            identity.client.secret.expose_secret().to_owned(),
        ),
        ("JWT_ISSUER", switchyard_tests::identity::ISSUER.to_owned()),
        (
            "JWT_AUDIENCE",
            switchyard_tests::identity::AUDIENCE.to_owned(),
        ),
        // Were the sync on, this endpoint (moto or LocalStack) would fail the delete with 503.
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let bin = workspace_bin("mail");
    let _service = spawn(&bin, &env, &[]);
    let http = reqwest::Client::new();
    eventually("mail /healthz", Duration::from_secs(30), || {
        let http = http.clone();
        let url = format!("http://{addr}/healthz");
        async move {
            http.get(url)
                .send()
                .await
                .ok()
                .filter(|r| r.status() == 200)
        }
    })
    .await;
    let status = tokio::process::Command::new(&bin)
        .arg("healthcheck")
        .env("HTTP_ADDR", &addr)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "mail healthcheck");

    feed(&pool, &[bounce("env@example.com", "Permanent", Utc::now())]).await;
    let (_, admin) = mail_admin(&identity).await;
    let r = http
        .delete(format!("http://{addr}/v1/suppressions/env@example.com"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["ses_removed_at"].is_null(), "SES sync off by default");
    world.finish().await;
}
