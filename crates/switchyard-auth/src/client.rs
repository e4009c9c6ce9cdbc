//! The service side of client credentials (RFC 6749 §4.4): a service's own access token from identity's
//! `POST /v1/oauth/token`, fetched once and shared by every request, refreshed before it expires, never fetched by
//! two requests at once.
//!
//! [`ServiceTokens::token`] answers from the cache while the token is in the first 80 % of its lifetime (so a token
//! is never sent in its last seconds, where clock skew or a slow request would let it expire on the way). Past that,
//! one caller fetches a new token while the others wait for it (single flight: a burst of cache misses after a
//! Redis restart causes one token request, not hundreds of argon2id verifications in identity). A fetch that fails
//! leaves the cache as it was; the caller gets the error (its request answers 503) and the next caller tries again.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::permissions::SourceError;

/// A client's id and secret (`IDENTITY_CLIENT_ID`, `IDENTITY_CLIENT_SECRET`).
#[derive(Clone)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The path of identity's token endpoint.
pub const TOKEN_PATH: &str = "/v1/oauth/token";

/// The share of a token's lifetime after which it is replaced.
const REFRESH_AT: f64 = 0.8;

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    /// When to fetch a new one (80 % of `expires_in` after the request was sent).
    refresh_at: Instant,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

/// A service's own access tokens for one scope.
#[derive(Debug)]
pub struct ServiceTokens {
    url: String,
    credentials: ClientCredentials,
    scope: String,
    client: reqwest::Client,
    cached: std::sync::RwLock<Option<Cached>>,
    /// Held while a token is fetched: the single flight.
    fetching: Mutex<()>,
}

impl ServiceTokens {
    /// Tokens from `{identity_url}/v1/oauth/token` for `scope`.
    pub fn new(
        identity_url: &str,
        credentials: ClientCredentials,
        scope: impl Into<String>,
        client: reqwest::Client,
    ) -> Self {
        Self {
            url: format!("{}{TOKEN_PATH}", identity_url.trim_end_matches('/')),
            credentials,
            scope: scope.into(),
            client,
            cached: Default::default(),
            fetching: Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<String> {
        let cached = self.cached.read().ok()?.clone()?;
        (Instant::now() < cached.refresh_at).then_some(cached.token)
    }

    /// A token that is not near its expiry, fetched if needed (one fetch at a time).
    pub async fn token(&self) -> Result<String, SourceError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _single_flight = self.fetching.lock().await;
        // Whoever held the lock before us may have fetched one.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let sent = Instant::now();
        let response = self
            .client
            .post(&self.url)
            .basic_auth(
                form_encode(&self.credentials.id),
                Some(form_encode(self.credentials.secret.expose_secret())),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!(
                "grant_type=client_credentials&scope={}",
                form_encode(&self.scope)
            ))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SourceError::Token(format!(
                "{} answered {status}: {}",
                self.url,
                body.chars().take(200).collect::<String>()
            )));
        }
        let answer: TokenResponse = response.json().await?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(SourceError::Token(format!(
                "token_type {:?} is not Bearer",
                answer.token_type
            )));
        }
        let lifetime = Duration::from_secs(answer.expires_in).mul_f64(REFRESH_AT);
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some(Cached {
                token: answer.access_token.clone(),
                refresh_at: sent + lifetime,
            });
        }
        tracing::debug!(client_id = %self.credentials.id, expires_in = answer.expires_in, "service token fetched");
        Ok(answer.access_token)
    }

    /// Forgets `token` (identity refused it: its key was retired, or the client's secret rotated), so the next
    /// [`Self::token`] fetches a new one.
    pub fn invalidate(&self, token: &str) {
        if let Ok(mut cached) = self.cached.write()
            && cached.as_ref().is_some_and(|c| c.token == token)
        {
            *cached = None;
        }
    }
}

/// `application/x-www-form-urlencoded` encoding (RFC 6749 §2.3.1 applies it to the Basic credentials too).
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Router, http::HeaderMap, routing::post};

    use super::*;

    /// A token endpoint that counts its requests, checks the Basic credentials and answers `expires_in`.
    async fn endpoint(expires_in: u64) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let app = Router::new().route(
            TOKEN_PATH,
            post(move |headers: HeaderMap, body: String| {
                let counter = counter.clone();
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    // A slow endpoint, so concurrent callers really overlap.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let auth = headers["authorization"].to_str().unwrap().to_owned();
                    assert_eq!(auth, "Basic dGFza3M6cyUzQWVjcmV0"); // tasks:s%3Aecret
                    assert!(body.contains("grant_type=client_credentials"), "{body}");
                    assert!(body.contains("scope=permissions%3Aread"), "{body}");
                    axum::Json(serde_json::json!({
                        "access_token": format!("token-{n}"),
                        "token_type": "Bearer",
                        "expires_in": expires_in,
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, count)
    }

    fn tokens(url: &str) -> ServiceTokens {
        ServiceTokens::new(
            url,
            ClientCredentials {
                id: "tasks".into(),
                secret: SecretString::from("s:ecret"),
            },
            "permissions:read",
            reqwest::Client::new(),
        )
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_the_token_is_reused() {
        let (url, count) = endpoint(300).await;
        let tokens = Arc::new(tokens(&url));
        let all = futures::future::join_all((0..20).map(|_| {
            let tokens = tokens.clone();
            async move { tokens.token().await.unwrap() }
        }))
        .await;
        assert!(all.iter().all(|t| t == "token-1"), "{all:?}");
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "one fetch for twenty callers"
        );
        assert_eq!(tokens.token().await.unwrap(), "token-1");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tokens.invalidate("token-1");
        assert_eq!(tokens.token().await.unwrap(), "token-2");
    }

    #[tokio::test]
    async fn a_token_is_replaced_before_it_expires() {
        // expires_in 1 s: replaced after 0.8 s, while it is still valid.
        let (url, count) = endpoint(1).await;
        let tokens = tokens(&url);
        assert_eq!(tokens.token().await.unwrap(), "token-1");
        assert_eq!(tokens.token().await.unwrap(), "token-1");
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(tokens.token().await.unwrap(), "token-2");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_fetch_is_an_error_and_nothing_is_cached() {
        let app = Router::new().route(
            TOKEN_PATH,
            post(|| async {
                (
                    axum::http::StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({"error": "invalid_client"})),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let tokens = tokens(&url);
        let error = tokens.token().await.unwrap_err().to_string();
        assert!(
            error.contains("401") && error.contains("invalid_client"),
            "{error}"
        );
        assert!(tokens.fresh().is_none());
    }
}
