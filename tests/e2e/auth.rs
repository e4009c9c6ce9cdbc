//! switchyard-auth against a live identity: every kind of bad token is the same 401, permission changes apply to
//! the very next request in another service, and a Redis outage never grants access (and heals by itself).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use switchyard_tests::{
    World,
    identity::{AUDIENCE, ISSUER, IdentityOptions, TestIdentity, protected_service},
    redis_server::RedisServer,
};
use uuid::Uuid;

/// The private signing key (kid, key) of a test identity.
fn signing_key(id: &TestIdentity) -> (String, EncodingKey) {
    let file: Value = serde_json::from_str(&id.keys_json).unwrap();
    let kid = file["signing_kid"].as_str().unwrap().to_owned();
    let der = base64::engine::general_purpose::STANDARD
        .decode(file["keys"][0]["private_key"].as_str().unwrap())
        .unwrap();
    (kid, EncodingKey::from_ed_der(&der))
}

fn claims(user: Uuid, sid: Uuid) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": user, "exp": now + 600, "nbf": now - 1, "iat": now,
        "jti": Uuid::now_v7(), "typ": "access", "pv": 0, "sid": sid,
    })
}

fn sign(kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

/// The challenge for refused credentials (RFC 6750 §3).
const INVALID_TOKEN: &str = r#"Bearer realm="switchyard", error="invalid_token""#;
/// The challenge for a request without credentials: no error code (RFC 6750 §3.1).
const BARE_CHALLENGE: &str = r#"Bearer realm="switchyard""#;

async fn assert_401(http: &reqwest::Client, url: &str, token: Option<&str>, case: &str) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    assert_401_with(req, INVALID_TOKEN, case).await;
}

async fn assert_401_with(req: reqwest::RequestBuilder, challenge: &str, case: &str) {
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 401, "{case}");
    assert_eq!(r.headers()["www-authenticate"], challenge, "{case}");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "{case}"
    );
}

#[tokio::test]
async fn auth_every_bad_token_is_the_same_401_in_identity_and_in_another_service() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let (user, tokens) = id.user().await;
    let (kid, key) = signing_key(&id);
    let sid = Uuid::now_v7();
    let good = claims(user, sid);

    // Sanity: a token we sign ourselves with the right key passes.
    let ours = sign(&kid, &key, &good);
    for base in [id.at("/v1/users/me"), format!("{service}/v1/whoami")] {
        let ok = id.http.get(&base).bearer_auth(&ours).send().await.unwrap();
        assert_eq!(ok.status(), 200, "{base}");
    }

    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        sign(&kid, &key, &c)
    };
    let now = chrono::Utc::now().timestamp();
    let public_key = id
        .http
        .get(id.at("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["keys"][0]["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(public_key.as_bytes())).unwrap()
    };
    let hs256_raw = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        jsonwebtoken::encode(
            &h,
            &good,
            &EncodingKey::from_secret(&B64.decode(&public_key).unwrap()),
        )
        .unwrap()
    };
    let unknown_kid = {
        let other: Value = serde_json::to_value(::identity::keys::generate().unwrap()).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(other["keys"][0]["private_key"].as_str().unwrap())
            .unwrap();
        sign("k-unknown", &EncodingKey::from_ed_der(&der), &good)
    };
    let tampered = {
        let parts: Vec<&str> = ours.split('.').collect();
        let mut c = good.clone();
        c["sub"] = json!(Uuid::now_v7());
        format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2])
    };
    let huge = {
        let mut c = good.clone();
        c["padding"] = json!("x".repeat(9 * 1024));
        sign(&kid, &key, &c)
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            unsigned(json!({"alg": "none", "typ": "JWT", "kid": kid}), &good),
        ),
        (
            "alg None",
            unsigned(json!({"alg": "None", "typ": "JWT", "kid": kid}), &good),
        ),
        (
            "alg none with a signature",
            format!("{}sig", unsigned(json!({"alg": "none", "kid": kid}), &good)),
        ),
        ("HS256 signed with the public key (base64url text)", hs256),
        ("HS256 signed with the public key (raw bytes)", hs256_raw),
        ("unknown kid", unknown_kid),
        ("no kid", {
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &good, &key).unwrap()
        }),
        ("expired", with("exp", json!(now - 120))),
        ("nbf in the future", with("nbf", json!(now + 300))),
        ("wrong iss", with("iss", json!("https://evil.example.com"))),
        ("wrong aud", with("aud", json!("someone-else"))),
        ("typ refresh", with("typ", json!("refresh"))),
        ("refresh token used as access token", tokens.refresh.clone()),
        ("tampered payload", tampered),
        ("bad base64", {
            let p: Vec<&str> = ours.split('.').collect();
            format!("{}.{}!!.{}", p[0], &p[1][..p[1].len() - 2], p[2])
        }),
        ("two segments", ours.rsplit_once('.').unwrap().0.to_owned()),
        (
            "four segments",
            format!("{ours}.{}", ours.split('.').nth(2).unwrap()),
        ),
        ("over 8 KiB", huge),
        ("empty", String::new()),
    ];
    for base in [id.at("/v1/users/me"), format!("{service}/v1/whoami")] {
        for (case, token) in &cases {
            assert_401(&id.http, &base, Some(token), &format!("{case} @ {base}")).await;
        }
        assert_401_with(id.http.get(&base), BARE_CHALLENGE, "no token").await;
        // The token in the query string instead of the header.
        assert_401(
            &id.http,
            &format!("{base}?access_token={}", tokens.access),
            None,
            "query string",
        )
        .await;
        // And the real token still works.
        let ok = id
            .http
            .get(&base)
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{base}");
    }
    stop.cancel();
    world.finish().await;
}

/// RFC 9110 allows one Authorization header: two (even two copies of a good token) are refused like a bad token.
/// A request without credentials — no header, or another scheme — gets the bare `Bearer` challenge without an
/// `error` attribute (RFC 6750 §3.1), in identity and in a service using switchyard-auth alike.
#[tokio::test]
async fn auth_two_authorization_headers_are_a_401_and_no_credentials_get_a_challenge_without_error()
{
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let (_, tokens) = id.user().await;
    let (_, other) = id.user().await;
    for base in [id.at("/v1/users/me"), format!("{service}/v1/whoami")] {
        let bearer = |t: &str| format!("Bearer {t}");
        for (case, first, second) in [
            (
                "the same good token twice",
                bearer(&tokens.access),
                bearer(&tokens.access),
            ),
            (
                "two users' good tokens",
                bearer(&tokens.access),
                bearer(&other.access),
            ),
            (
                "a good token and a bad one",
                bearer(&tokens.access),
                bearer("x.y.z"),
            ),
            (
                "a good token and Basic",
                bearer(&tokens.access),
                "Basic dTpw".to_owned(),
            ),
        ] {
            let req = id
                .http
                .get(&base)
                .header("authorization", first)
                .header("authorization", second);
            assert_401_with(req, INVALID_TOKEN, &format!("{case} @ {base}")).await;
        }
        for (case, req) in [
            ("no Authorization header", id.http.get(&base)),
            (
                "another scheme",
                id.http.get(&base).header("authorization", "Basic dTpw"),
            ),
        ] {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{case} @ {base}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
            assert!(!challenge.contains("error="), "{case}: {challenge}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
        let ok = id
            .http
            .get(&base)
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{base}");
    }
    stop.cancel();
    world.finish().await;
}

/// Verified tokens are remembered (the signature is checked once); the time claims are not: a token that passed
/// is refused, by the very same text, once it has expired (past the leeway).
#[tokio::test]
async fn auth_a_token_that_passed_is_refused_once_it_expires() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let (user, _) = id.user().await;
    let (kid, key) = signing_key(&id);
    let mut short = claims(user, Uuid::now_v7());
    short["exp"] = json!(chrono::Utc::now().timestamp() + 1);
    let token = sign(&kid, &key, &short);
    let urls = [id.at("/v1/users/me"), format!("{service}/v1/whoami")];
    for url in &urls {
        for _ in 0..3 {
            let ok = id.http.get(url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(ok.status(), 200, "{url} before expiry");
        }
    }
    // exp + leeway (5 s) has to pass; then every place that accepted it refuses it.
    switchyard_tests::eventually("the expired token refused", Duration::from_secs(30), || {
        let (http, token, urls) = (&id.http, &token, &urls);
        async move {
            for url in urls {
                let r = http.get(url).bearer_auth(token).send().await.unwrap();
                if r.status() != 401 {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    for url in &urls {
        assert_401(&id.http, url, Some(&token), "expired after it was verified").await;
    }
    stop.cancel();
    world.finish().await;
}

#[tokio::test]
async fn auth_revoking_a_permission_takes_effect_on_the_very_next_request() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let (_, admin) = id.admin().await;
    let (user, tokens) = id.user().await;
    let call = || {
        id.http
            .get(format!("{service}/v1/tasks"))
            .bearer_auth(&tokens.access)
            .send()
    };

    let denied = call().await.unwrap();
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.headers()["content-type"], "application/problem+json");

    let (_, plain) = id.user().await;
    assert_eq!(
        id.set_permissions(&plain, user, &["tasks:write"])
            .await
            .status(),
        403,
        "needs users:admin"
    );

    let granted = id
        .set_permissions(&admin, user, &["tasks:write", "tasks:read"])
        .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(
        call().await.unwrap().status(),
        200,
        "granted: the very next call"
    );
    assert_eq!(call().await.unwrap().status(), 200, "from the cache");

    let revoked = id.set_permissions(&admin, user, &["tasks:read"]).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        call().await.unwrap().status(),
        403,
        "revoked: the very next call"
    );

    // Conditional update: a stale If-Match is refused.
    let stale = id
        .http
        .put(id.at(&format!("/v1/users/{user}/permissions")))
        .bearer_auth(&admin.access)
        .header("if-match", "\"1\"")
        .json(&json!({"permissions": ["tasks:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let invalid = id
        .set_permissions(&admin, user, &["tasks:write", "NOT VALID"])
        .await;
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid.json::<Value>().await.unwrap()["errors"][0]["field"],
        "permissions[1]"
    );
    assert_eq!(call().await.unwrap().status(), 403);
    stop.cancel();
    world.finish().await;
}

#[tokio::test]
async fn auth_redis_stopped_mid_test_never_grants_stale_permissions_and_recovers() {
    let world = World::new().await;
    let mut redis = RedisServer::start().await;
    let id = TestIdentity::spawn_with(
        &world,
        IdentityOptions {
            redis_url: redis.url(),
            ..Default::default()
        },
    )
    .await;
    let mut config = id.auth_config();
    config.fallback_per_second = 3;
    let (service, stop) = protected_service(&config).await;
    let (_, admin) = id.admin().await;
    let (user, tokens) = id.user().await;
    assert_eq!(
        id.set_permissions(&admin, user, &["tasks:write"])
            .await
            .status(),
        200
    );
    let call = || {
        id.http
            .get(format!("{service}/v1/tasks"))
            .bearer_auth(&tokens.access)
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200, "cached in Redis");

    redis.stop().await;
    // Identity refuses to change permissions it cannot invalidate: nothing changes, 503 + Retry-After.
    let refused = id.set_permissions(&admin, user, &[]).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    // The service still answers from the source of truth (identity -> Postgres), rate limited.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        call().await.unwrap().status(),
        200,
        "fallback to identity with current permissions"
    );

    // Revoke behind everyone's back (Postgres only): no cache anywhere may still grant.
    sqlx::query("UPDATE users SET permissions = '{}', permissions_version = permissions_version + 1 WHERE id = $1")
        .bind(user)
        .execute(&id.pool)
        .await
        .unwrap();
    // A burst (concurrent, so the fallback's rate limit shows): each answer is 403 or 503, never 200.
    let responses = futures::future::join_all((0..12).map(|_| call())).await;
    let mut statuses = Vec::new();
    for r in responses {
        let r = r.unwrap();
        if r.status() == 503 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 403 || *s == 503),
        "never granted: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the fallback is rate limited: {statuses:?}"
    );
    assert!(
        statuses.contains(&403),
        "the fallback answers from Postgres: {statuses:?}"
    );

    redis.restart().await;
    // Recovers by itself: admin changes go through again and the service serves from Redis.
    switchyard_tests::eventually(
        "identity to reach Redis again",
        Duration::from_secs(20),
        || async {
            let r = id.set_permissions(&admin, user, &["tasks:write"]).await;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    for _ in 0..10 {
        assert_eq!(
            call().await.unwrap().status(),
            200,
            "granted again, from Redis (no rate limit)"
        );
    }
    assert_eq!(id.set_permissions(&admin, user, &[]).await.status(), 200);
    assert_eq!(
        call().await.unwrap().status(),
        403,
        "revocation after recovery is immediate"
    );
    stop.cancel();
    world.finish().await;
}

/// Service to service (OAuth 2.0 client credentials): identity issues a service token to a registered client; only
/// such a token with `permissions:read` reads a user's permissions on the internal endpoint. No token, a user's
/// token or a token without the scope are refused (401/401/403), a service token is never a user's token anywhere
/// else, and another service's remote permission source uses its own token on a cache miss.
#[tokio::test]
async fn auth_only_a_service_token_with_permissions_read_reads_permissions() {
    use secrecy::ExposeSecret;
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (admin_id, admin) = id.admin().await;
    let (user, tokens) = id.user().await;
    assert!(
        id.set_permissions(&admin, user, &["tasks:write"])
            .await
            .status()
            .is_success()
    );
    let internal = id.at(&format!("/internal/v1/users/{user}/permissions"));

    let service = id.service_token(&id.client).await;
    let r = id
        .http
        .get(&internal)
        .bearer_auth(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let perms: Value = r.json().await.unwrap();
    assert_eq!(perms["permissions"], json!(["tasks:write"]));
    assert_eq!(perms["version"], 2);
    let missing = id.at(&format!(
        "/internal/v1/users/{}/permissions",
        Uuid::now_v7()
    ));
    let r = id
        .http
        .get(&missing)
        .bearer_auth(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an unknown user");

    assert_401_with(id.http.get(&internal), BARE_CHALLENGE, "no token").await;
    for (case, token) in [
        ("a user's token", tokens.access.clone()),
        ("an administrator's token", admin.access.clone()),
        ("a refresh token", tokens.refresh.clone()),
    ] {
        assert_401(&id.http, &internal, Some(&token), case).await;
    }
    let unscoped = id.service_token(&id.unscoped_client).await;
    let r = id
        .http
        .get(&internal)
        .bearer_auth(&unscoped)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a service token without permissions:read");
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // A service token is not a user's token: refused by identity's and another service's user endpoints.
    let (other, stop) = protected_service(&id.auth_config()).await;
    for url in [id.at("/v1/users/me"), format!("{other}/v1/whoami")] {
        assert_401(&id.http, &url, Some(&service), "service token as a user's").await;
    }
    // A service token signed by identity but for a client it does not know is impossible; one by an unknown key
    // is the usual 401 (covered above); so is one whose typ says service but that lacks scope.
    let (kid, key) = signing_key(&id);
    let now = chrono::Utc::now().timestamp();
    let no_scope = sign(
        &kid,
        &key,
        &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "tests", "exp": now + 60, "nbf": now - 1,
                "iat": now, "jti": Uuid::now_v7(), "typ": "service"}),
    );
    assert_401(
        &id.http,
        &internal,
        Some(&no_scope),
        "service token without scope",
    )
    .await;

    // The other service's permission source asks identity with its own service token on a cache miss.
    let mut redis = redis::Client::open(id.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{}perms:{user}", id.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    let r = id
        .http
        .get(format!("{other}/v1/tasks"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "permissions from identity's internal endpoint"
    );
    stop.cancel();

    // The token endpoint's errors are RFC 6749 §5.2 JSON.
    let secret = id.client.secret.expose_secret().to_owned();
    let oauth = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
            challenge,
        )
    };
    let (status, error, challenge) = oauth(
        id.token_request(
            "tests",
            "wrong-secret-wrong-secret",
            "grant_type=client_credentials",
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert_eq!(challenge.as_deref(), Some(r#"Basic realm="switchyard""#));
    for (form, expected) in [
        ("grant_type=password", "unsupported_grant_type"),
        ("scope=permissions:read", "invalid_request"),
        (
            "grant_type=client_credentials&scope=users:admin",
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "invalid_request",
        ),
    ] {
        let (status, error, _) = oauth(id.token_request("tests", &secret, form).await).await;
        assert_eq!((status, error.as_str()), (400, expected), "{form}");
    }
    let json_body = id
        .http
        .post(id.at("/v1/oauth/token"))
        .basic_auth("tests", Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(oauth(json_body).await.1, "invalid_request");
    // Client authentication in the body works too, and the granted scope is the client's.
    let r = id
        .http
        .post(id.at("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope=permissions%3Aread&client_id=tests&client_secret={secret}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "permissions:read");
    assert_eq!(body["expires_in"], 300);
    let _ = admin_id;
    world.finish().await;
}

/// `GET /v1/users/me` as `tokens`: its permission list.
async fn my_permissions(id: &TestIdentity, tokens: &switchyard_tests::identity::Tokens) -> Value {
    let me = id
        .http
        .get(id.at("/v1/users/me"))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    me.json::<Value>().await.unwrap()["permissions"].clone()
}

/// Permissions are kept in process memory (invalidated by Redis client-side caching), yet every change applies to
/// the very next request, in another service and in identity itself, round after round.
#[tokio::test]
async fn auth_with_permissions_in_process_every_change_applies_to_the_very_next_request() {
    let world = World::new().await;
    let id = TestIdentity::spawn(&world).await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let (_, admin) = id.admin().await;
    let (user, tokens) = id.user().await;
    let call = || async {
        id.http
            .get(format!("{service}/v1/tasks"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap()
            .status()
    };
    for round in 0..100 {
        let granted = id.set_permissions(&admin, user, &["tasks:write"]).await;
        assert_eq!(granted.status(), 200);
        assert_eq!(
            call().await,
            200,
            "round {round}: granted, the very next call"
        );
        assert_eq!(call().await, 200, "round {round}: granted, from memory");
        assert_eq!(my_permissions(&id, &tokens).await, json!(["tasks:write"]));
        let revoked = id.set_permissions(&admin, user, &[]).await;
        assert_eq!(revoked.status(), 200);
        assert_eq!(
            call().await,
            403,
            "round {round}: revoked, the very next call"
        );
        assert_eq!(
            my_permissions(&id, &tokens).await,
            json!([]),
            "round {round}"
        );
    }
    stop.cancel();
    world.finish().await;
}

/// How many GETs `redis` has served.
async fn redis_gets(redis: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// The ids of the clients tracking permissions (`CLIENT SETNAME` of the tracker).
async fn trackers(redis: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(redis)
        .await
        .unwrap();
    list.lines()
        .filter(|l| {
            l.contains(&format!(
                "name={}",
                switchyard_auth::local::TRACKING_CLIENT_NAME
            ))
        })
        .filter_map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect()
}

/// Requests are authorised from memory (Redis serves no GET for them) while Redis tracks the process; when the
/// tracking connection is killed, the copy is dropped and Redis is read again until tracking is back, and a
/// revocation in between still applies to the next request.
#[tokio::test]
async fn auth_the_in_process_permissions_are_used_only_while_redis_tracks_them() {
    let world = World::new().await;
    let redis_server = RedisServer::start().await;
    let id = TestIdentity::spawn_with(
        &world,
        IdentityOptions {
            redis_url: redis_server.url(),
            ..Default::default()
        },
    )
    .await;
    let (service, stop) = protected_service(&id.auth_config()).await;
    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // identity and the service each track.
    switchyard_tests::eventually("two trackers", Duration::from_secs(10), || async {
        (trackers(&mut redis.clone()).await.len() == 2).then_some(())
    })
    .await;
    let (_, admin) = id.admin().await;
    let (user, tokens) = id.user().await;
    assert_eq!(
        id.set_permissions(&admin, user, &["tasks:write"])
            .await
            .status(),
        200
    );
    let call = || async {
        id.http
            .get(format!("{service}/v1/tasks"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(call().await, 200);
    let before = redis_gets(&mut redis).await;
    for _ in 0..20 {
        assert_eq!(call().await, 200);
    }
    assert_eq!(
        redis_gets(&mut redis).await,
        before,
        "20 requests, no GET: served from memory"
    );

    for tracker in trackers(&mut redis).await {
        let _: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "ID", &tracker])
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    // Right away (tracking may not be back yet): a revocation applies to the next request.
    assert_eq!(id.set_permissions(&admin, user, &[]).await.status(), 200);
    assert_eq!(
        call().await,
        403,
        "revoked while tracking was being re-established"
    );
    switchyard_tests::eventually(
        "tracking re-established",
        Duration::from_secs(10),
        || async { (trackers(&mut redis.clone()).await.len() == 2).then_some(()) },
    )
    .await;
    assert_eq!(
        id.set_permissions(&admin, user, &["tasks:write"])
            .await
            .status(),
        200
    );
    assert_eq!(call().await, 200, "granted after the reconnect");
    let before = redis_gets(&mut redis).await;
    for _ in 0..20 {
        assert_eq!(call().await, 200);
    }
    assert_eq!(redis_gets(&mut redis).await, before, "from memory again");
    assert_eq!(id.set_permissions(&admin, user, &[]).await.status(), 200);
    assert_eq!(call().await, 403, "and a revocation still applies at once");
    stop.cancel();
    world.finish().await;
}
