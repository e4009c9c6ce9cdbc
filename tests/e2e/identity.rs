//! The identity service end to end: sign-up (and its event on the bus), validation, login, refresh rotation with
//! reuse detection, logout, throttling, JWKS and OpenAPI.

use std::{collections::BTreeSet, time::Duration};

use ::identity::throttle::ThrottleSettings;
use serde_json::{Value, json};
use switchyard_events::{CloudEvent, identity::UserRegistered};
use switchyard_tests::{
    World,
    identity::{IdentityOptions, TestIdentity, Tokens, tokens},
};
use uuid::Uuid;

/// Moves every used refresh token's rotation `by` into the past (as if the grace window had passed).
async fn age_used_refresh_tokens(id: &TestIdentity, by: Duration) {
    sqlx::query("UPDATE refresh_tokens SET used_at = used_at - make_interval(secs => $1) WHERE used_at IS NOT NULL")
        .bind(by.as_secs_f64())
        .execute(&id.pool)
        .await
        .unwrap();
}

async fn me_status(id: &TestIdentity, access: &str) -> u16 {
    id.http
        .get(id.at("/v1/users/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn identity_signup_emits_user_registered_on_the_topic_in_the_request_trace() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = id
        .http
        .post(id.at("/v1/users"))
        .header("traceparent", parent)
        .json(&json!({"email": "  Grace@Example.COM ", "password": "correct horse battery", "display_name": "Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["email"], "grace@example.com");

    let got = world
        .drain(world.queue("event-archive"), 1, Duration::from_secs(30))
        .await;
    assert_eq!(got.len(), 1, "one user.registered on identity-events");
    let event = CloudEvent::from_json(got[0].body().unwrap()).unwrap();
    let registered: UserRegistered = event.decode().unwrap();
    assert_eq!(registered.user_id.to_string(), user["id"].as_str().unwrap());
    assert_eq!(registered.email, "grace@example.com");
    let tp = got[0]
        .message_attributes()
        .and_then(|a| a.get("traceparent"))
        .and_then(|v| v.string_value())
        .unwrap();
    assert!(
        tp.contains("0af7651916cd43dd8448eb211c80319c"),
        "trace continued: {tp}"
    );
    world.finish().await;
}

#[tokio::test]
async fn identity_signup_validates_fields_and_rejects_duplicates() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (_, email, _) = id.signup().await;
    let post = |body: Value| id.http.post(id.at("/v1/users")).json(&body).send();

    let dup = post(
        json!({"email": email.to_uppercase(), "password": "another password", "display_name": "X"}),
    )
    .await
    .unwrap();
    assert_eq!(dup.status(), 409);
    assert_eq!(dup.headers()["content-type"], "application/problem+json");

    let bad = post(json!({"email": "not-an-email", "password": "short", "display_name": " "}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name"]);

    let unknown = post(json!({"email": "a@example.com", "password": "long enough", "display_name": "A", "admin": true}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 422);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["errors"][0]["field"],
        "admin"
    );

    let wrong_type = post(json!({"email": 7, "password": "long enough", "display_name": "A"}))
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 422);
    assert_eq!(
        wrong_type.json::<Value>().await.unwrap()["errors"][0]["field"],
        "email"
    );

    let broken = id
        .http
        .post(id.at("/v1/users"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    world.finish().await;
}

#[tokio::test]
async fn identity_login_me_and_one_generic_error_for_bad_credentials() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (user_id, email, password) = id.signup().await;
    let tokens = id.login(&email, &password).await;
    let me: Value = id
        .http
        .get(id.at("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user_id.to_string());
    assert_eq!(me["permissions"], json!([]));

    let wrong = id.try_login(&email, "wrong password!").await;
    let unknown = id
        .try_login("nobody-here@example.com", "wrong password!")
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
    world.finish().await;
}

#[tokio::test]
async fn identity_refresh_rotates_and_reuse_revokes_the_whole_session_and_logout_ends_it() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (_, email, password) = id.signup().await;
    let first = id.login(&email, &password).await;

    let r = id.refresh(&first.refresh).await;
    assert_eq!(r.status(), 200);
    let second = switchyard_tests::identity::tokens(r.json().await.unwrap());
    assert_ne!(second.refresh, first.refresh, "rotated");
    let me = id
        .http
        .get(id.at("/v1/users/me"))
        .bearer_auth(&second.access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // The first token again, past the grace window (moved back in time here): reuse -> 401, and the whole family is
    // revoked, including the newest token.
    age_used_refresh_tokens(&id, Duration::from_secs(3600)).await;
    assert_eq!(id.refresh(&first.refresh).await.status(), 401);
    assert_eq!(id.refresh(&second.refresh).await.status(), 401);
    assert_eq!(id.refresh("not-a-token").await.status(), 401);

    // Logout: a fresh session's refresh token stops working.
    let session = id.login(&email, &password).await;
    let out = id
        .http
        .delete(id.at("/v1/sessions/current"))
        .bearer_auth(&session.access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(id.refresh(&session.refresh).await.status(), 401);
    let anonymous = id
        .http
        .delete(id.at("/v1/sessions/current"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    world.finish().await;
}

#[tokio::test]
async fn identity_the_n_plus_first_bad_login_for_an_account_is_throttled() {
    const N: u32 = 3;
    let world = World::new().await;
    let id = TestIdentity::spawn_with(
        &world,
        IdentityOptions {
            throttle: ThrottleSettings {
                max_per_account: N,
                max_per_address: 100,
                window: Duration::from_secs(60),
            },
            ..Default::default()
        },
    )
    .await;
    let (_, email, password) = id.signup().await;
    for _ in 0..N {
        assert_eq!(id.try_login(&email, "wrong password!").await.status(), 401);
    }
    let throttled = id.try_login(&email, "wrong password!").await;
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        throttled.headers()["content-type"],
        "application/problem+json"
    );
    // Even the right password waits: the account is locked for the window.
    assert_eq!(id.try_login(&email, &password).await.status(), 429);
    // Another account from the same address is still fine (its own counter; the address limit is higher).
    let (_, other, other_pw) = id.signup().await;
    assert_eq!(id.try_login(&other, &other_pw).await.status(), 201);
    world.finish().await;
}

#[tokio::test]
async fn identity_serves_jwks_openapi_and_swagger_ui() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let jwks: Value = id
        .http
        .get(id.at("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(!jwks.to_string().contains("private"), "public keys only");

    let doc: Value = id
        .http
        .get(id.at("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/v1/users/me"]["get"]["security"].is_array());
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/internal"))
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let ui = id.http.get(id.at("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
    world.finish().await;
}

/// Behind the ALB (`TRUSTED_PROXY_HOPS=1`) the client's address is the `X-Forwarded-For` entry the ALB appended,
/// the last one; whatever the client wrote before it is ignored. So an attacker can neither get someone else
/// throttled by naming their address, nor escape the per-address limit by naming a new address each time — and
/// clients are not lumped together under the ALB's own address.
#[tokio::test]
async fn identity_behind_the_alb_throttles_the_address_the_alb_saw_not_what_the_client_claims() {
    const N: u32 = 3;
    let world = World::new().await;
    let id = TestIdentity::spawn_with(
        &world,
        IdentityOptions {
            throttle: ThrottleSettings {
                max_per_account: 100,
                max_per_address: N,
                window: Duration::from_secs(60),
            },
            trusted_proxy_hops: 1,
            ..Default::default()
        },
    )
    .await;
    let attacker = "198.51.100.66";
    let victim = "203.0.113.7";
    let login = |email: String, password: String, xff: String| {
        id.http
            .post(id.at("/v1/sessions"))
            .header("x-forwarded-for", xff)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let (_, victim_email, victim_password) = id.signup().await;

    // N failures from the attacker, each claiming another address, the first one the victim's.
    for i in 0..N {
        let claimed = if i == 0 {
            victim.to_owned()
        } else {
            format!("192.0.2.{i}")
        };
        let r = login(
            format!("nobody-{i}@example.com"),
            "wrong password!".into(),
            format!("{claimed}, {attacker}"),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 401);
    }
    // The attacker's address is throttled, whatever it claims now (and even without claiming anything).
    for xff in [format!("192.0.2.200, {attacker}"), attacker.to_owned()] {
        let r = login(
            "nobody-else@example.com".into(),
            "wrong password!".into(),
            xff,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 429, "spoofed entries must not reset the limit");
    }
    // The victim, whose address the attacker named, is not.
    let r = login(victim_email, victim_password, victim.to_owned())
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "a spoofed entry must not lock out its owner"
    );
    world.finish().await;
}

/// Two tabs (or a retry after a lost response) present the same refresh token at once: every one of them gets the
/// same successor pair and the session lives on; only a reuse after the grace window revokes it.
#[tokio::test]
async fn identity_concurrent_refreshes_of_one_token_get_the_same_pair_and_keep_the_session() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (_, email, password) = id.signup().await;
    let first = id.login(&email, &password).await;

    let answers = futures::future::join_all((0..6).map(|_| id.refresh(&first.refresh))).await;
    let mut pairs = BTreeSet::new();
    for r in answers {
        assert_eq!(r.status(), 200, "every concurrent refresh succeeds");
        let body: Value = r.json().await.unwrap();
        assert!(body["expires_in"].as_u64().unwrap() > 0, "{body}");
        let t = tokens(body);
        pairs.insert((t.access, t.refresh));
    }
    assert_eq!(pairs.len(), 1, "one successor pair for all: {pairs:?}");
    let (access, refresh) = pairs.pop_first().unwrap();
    let second = Tokens { access, refresh };
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(me_status(&id, &second.access).await, 200);

    // The session goes on: the successor rotates normally, and a late tab presenting the first token again still
    // within the window gets the pair it would have got.
    let third = tokens(id.refresh(&second.refresh).await.json().await.unwrap());
    let late = id.refresh(&first.refresh).await;
    assert_eq!(late.status(), 200);
    assert_eq!(tokens(late.json().await.unwrap()).refresh, second.refresh);
    assert_eq!(
        id.refresh(&third.refresh).await.status(),
        200,
        "session alive"
    );

    // Past the window the old token is plain reuse again: the whole session is revoked.
    age_used_refresh_tokens(&id, Duration::from_secs(3600)).await;
    assert_eq!(id.refresh(&first.refresh).await.status(), 401);
    let session = id.refresh(&third.refresh).await;
    assert_eq!(session.status(), 401, "the family is revoked");

    // Within the window, but after a logout: nothing is replayed.
    let fresh = id.login(&email, &password).await;
    let next = tokens(id.refresh(&fresh.refresh).await.json().await.unwrap());
    let out = id
        .http
        .delete(id.at("/v1/sessions/current"))
        .bearer_auth(&next.access)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(id.refresh(&fresh.refresh).await.status(), 401);
    world.finish().await;
}

/// The last holder of users:admin cannot give it up or have it taken, also when two administrators take it from
/// each other at the same moment: one of the two changes wins, the other is refused (409, or 403 once the winner
/// took its permission), and exactly one administrator is left.
#[tokio::test]
async fn identity_the_last_holder_of_users_admin_keeps_it_even_under_concurrent_puts() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (solo, solo_tokens) = id.admin().await;
    let r = id
        .set_permissions(&solo_tokens, solo, &["tasks:read"])
        .await;
    assert_eq!(r.status(), 409, "the only admin cannot drop users:admin");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .map(|d| d.contains("users:admin")),
        Some(true)
    );

    // Several rounds of two admins removing each other at once (the first pair includes `solo`).
    let mut admins = vec![(solo, solo_tokens)];
    for _ in 0..5 {
        let (a, a_tokens) = admins.pop().unwrap();
        let (b, b_tokens) = id.admin().await;
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE 'users:admin' = ANY(permissions)")
                .fetch_one(&id.pool)
                .await
                .unwrap();
        assert_eq!(count, 2, "exactly a and b are admins");
        let (ra, rb) = tokio::join!(
            id.set_permissions(&a_tokens, b, &["tasks:read"]),
            id.set_permissions(&b_tokens, a, &["tasks:read"]),
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort();
        // The loser is refused either by the last-admin check (409: both passed authorization before either
        // committed) or, when the winner committed first, because it is no longer an administrator (403).
        assert!(
            statuses == [200, 409] || statuses == [200, 403],
            "one wins, the other is refused: {statuses:?}"
        );
        let holders: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM users WHERE 'users:admin' = ANY(permissions)")
                .fetch_all(&id.pool)
                .await
                .unwrap();
        assert_eq!(holders.len(), 1, "one administrator is left: {holders:?}");
        admins.push(if holders[0] == a {
            (a, a_tokens)
        } else {
            (b, b_tokens)
        });
    }
    // With a second administrator, the first may step down.
    let (last, last_tokens) = admins.pop().unwrap();
    id.admin().await;
    assert_eq!(
        id.set_permissions(&last_tokens, last, &[]).await.status(),
        200
    );
    world.finish().await;
}

/// PUT of the set a user already has (in any order, with duplicates) changes nothing: same version and ETag, and
/// no `user.permissions_changed` event.
#[tokio::test]
async fn identity_putting_the_same_permissions_again_keeps_the_version_and_emits_no_event() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (_, admin) = id.admin().await;
    let (user, _) = id.user().await;
    let put = |perms: &'static [&'static str]| id.set_permissions(&admin, user, perms);

    let first = put(&["tasks:write", "tasks:read"]).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let v1 = first.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    let again = put(&["tasks:read", "tasks:write", "tasks:read"]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["version"].as_i64(), Some(v1), "unchanged: {body}");
    assert_eq!(body["permissions"], json!(["tasks:read", "tasks:write"]));
    // A real change after it: the next version, and the only other event.
    let changed = put(&["tasks:read"]).await;
    assert_eq!(
        changed.json::<Value>().await.unwrap()["version"].as_i64(),
        Some(v1 + 1)
    );

    let mut versions = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while !versions.contains(&(v1 + 1)) && tokio::time::Instant::now() < until {
        for m in world
            .drain(world.queue("event-archive"), 1, Duration::from_secs(2))
            .await
        {
            let event = CloudEvent::from_json(m.body().unwrap()).unwrap();
            if event.event_type.contains("permissions_changed")
                && event.data["user_id"] == json!(user)
            {
                versions.push(event.data["version"].as_i64().unwrap());
            }
        }
    }
    versions.sort();
    assert_eq!(versions, [v1, v1 + 1], "no event for the unchanged PUT");
    world.finish().await;
}
