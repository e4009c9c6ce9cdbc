//! Service accounts: the OAuth 2.0 clients (RFC 6749 §2) that may get a service token from `POST /v1/oauth/token`
//! (client credentials, §4.4), each with the scopes it may ask for.
//!
//! The registry is configuration, like the signing keys: `SERVICE_CLIENTS` (a secret; `SERVICE_CLIENTS_FILE` works)
//! is a JSON list of `{"client_id", "secret_hash", "scopes"}`. `identity create-client --name tasks --scopes
//! permissions:read` makes a client: it prints the secret once (256 random bits) together with the entry to add,
//! whose `secret_hash` is the secret's argon2id hash (OWASP parameters, as for passwords). Nothing stores the secret
//! but the client's own configuration (`IDENTITY_CLIENT_SECRET` of that service).
//!
//! Why configuration and not a table: a deployment needs the credentials before its services start (terraform's
//! first deploy puts both secret values before any ECS service exists), and rotation needs no downtime: an id may
//! appear twice, with the old and the new secret's hash, until every instance of the client has the new secret.
//! Unknown ids are verified against a dummy hash, so a probe cannot tell known ids from unknown ones by timing.

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Password, Permission},
    password::{HashError, Hasher},
};

/// One entry of `SERVICE_CLIENTS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub client_id: String,
    /// argon2id PHC string of the client secret.
    pub secret_hash: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    #[error("not a JSON list of {{\"client_id\", \"secret_hash\", \"scopes\"}}: {0}")]
    Json(String),
    #[error("client id {0:?} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter")]
    BadId(String),
    #[error(
        "client {0:?}: secret_hash is not an argon2id hash (identity create-client prints one)"
    )]
    BadHash(String),
    #[error("client {id:?}: scope {scope:?} must look like resource:action")]
    BadScope { id: String, scope: String },
    #[error("client {0:?} has no scopes")]
    NoScopes(String),
    #[error("client {0:?} is listed twice with different scopes")]
    Conflicting(String),
}

/// A client id: `tasks`, `mail`, `billing-worker`.
pub fn parse_client_id(raw: &str) -> Result<&str, ClientError> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(raw)
    } else {
        Err(ClientError::BadId(raw.chars().take(80).collect()))
    }
}

/// Scopes as the registry and the token endpoint use them: valid names, sorted, no duplicates.
pub fn parse_scopes(id: &str, raw: &[String]) -> Result<Vec<String>, ClientError> {
    let mut scopes = Vec::with_capacity(raw.len());
    for scope in raw {
        let parsed = Permission::parse(scope).map_err(|_| ClientError::BadScope {
            id: id.to_owned(),
            scope: scope.chars().take(80).collect(),
        })?;
        scopes.push(parsed.as_str().to_owned());
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ClientError::NoScopes(id.to_owned()));
    }
    Ok(scopes)
}

/// Every client, by id (several hashes per id while a secret is rotated).
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    clients: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

impl ClientRegistry {
    pub fn parse(json: &str) -> Result<Self, ClientError> {
        let entries: Vec<ClientEntry> =
            serde_json::from_str(json).map_err(|e| ClientError::Json(e.to_string()))?;
        Self::from_entries(entries)
    }

    pub fn from_entries(entries: Vec<ClientEntry>) -> Result<Self, ClientError> {
        let mut clients: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for entry in entries {
            let id = parse_client_id(&entry.client_id)?.to_owned();
            if !entry.secret_hash.starts_with("$argon2id$")
                || argon2::PasswordHash::new(&entry.secret_hash).is_err()
            {
                return Err(ClientError::BadHash(id));
            }
            let scopes = parse_scopes(&id, &entry.scopes)?;
            let (known_scopes, hashes) = clients.entry(id.clone()).or_default();
            if !hashes.is_empty() && *known_scopes != scopes {
                return Err(ClientError::Conflicting(id));
            }
            *known_scopes = scopes;
            hashes.push(entry.secret_hash);
        }
        Ok(Self { clients })
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The client's scopes when `secret` is its secret (any of its current hashes), `None` otherwise. Costs one
    /// argon2id verification per hash whether or not the id exists.
    pub async fn authenticate(
        &self,
        hasher: &Hasher,
        id: &str,
        secret: &str,
    ) -> Result<Option<&[String]>, HashError> {
        // A secret outside 8-128 characters is never one we issued; verify a dummy anyway (same cost).
        let presented = Password::parse(secret)
            .or_else(|_| Password::parse("not-a-client-secret"))
            .map_err(|e| HashError::Argon2(e.to_owned()))?;
        let plausible = (8..=128).contains(&secret.chars().count());
        let Some((scopes, hashes)) = self.clients.get(id) else {
            hasher.verify(&presented, None).await?;
            return Ok(None);
        };
        let mut matched = false;
        for hash in hashes {
            matched |= hasher.verify(&presented, Some(hash.clone())).await?;
        }
        Ok((matched && plausible).then_some(scopes.as_slice()))
    }
}

/// A new client: its secret (shown once) and the registry entry to add.
pub struct NewClient {
    pub secret: String,
    pub entry: ClientEntry,
}

/// Makes a client `id` with `scopes`: 256 random bits as the secret, hashed with argon2id.
pub async fn create(hasher: &Hasher, id: &str, scopes: &[String]) -> anyhow::Result<NewClient> {
    let id = parse_client_id(id)?.to_owned();
    let scopes = parse_scopes(&id, scopes)?;
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = hasher
        .hash(&Password::parse(&secret).map_err(|e| anyhow::anyhow!(e))?)
        .await?;
    Ok(NewClient {
        secret,
        entry: ClientEntry {
            client_id: id,
            secret_hash: hash,
            scopes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_created_client_authenticates_with_its_secret_only() {
        let hasher = Hasher::new(2).unwrap();
        let client = create(&hasher, "tasks", &["permissions:read".into()])
            .await
            .unwrap();
        assert_eq!(client.secret.len(), 43);
        assert!(client.entry.secret_hash.starts_with("$argon2id$"));
        assert!(!client.entry.secret_hash.contains(&client.secret));
        let json = serde_json::to_string(&vec![client.entry.clone()]).unwrap();
        let registry = ClientRegistry::parse(&json).unwrap();
        let scopes = registry
            .authenticate(&hasher, "tasks", &client.secret)
            .await
            .unwrap();
        assert_eq!(scopes, Some(&["permissions:read".to_owned()][..]));
        for (id, secret) in [
            ("tasks", "wrong-secret-of-some-length"),
            ("mail", client.secret.as_str()),
            ("tasks", ""),
        ] {
            assert_eq!(
                registry.authenticate(&hasher, id, secret).await.unwrap(),
                None,
                "{id}"
            );
        }

        // Rotation: the old and the new secret both work while both hashes are listed.
        let rotated = create(&hasher, "tasks", &["permissions:read".into()])
            .await
            .unwrap();
        let both = ClientRegistry::from_entries(vec![client.entry, rotated.entry]).unwrap();
        assert_eq!(both.len(), 1);
        for secret in [&client.secret, &rotated.secret] {
            assert!(
                both.authenticate(&hasher, "tasks", secret)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }

    #[test]
    fn the_registry_refuses_what_it_cannot_use() {
        let entry = |id: &str, hash: &str, scopes: &[&str]| ClientEntry {
            client_id: id.into(),
            secret_hash: hash.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        };
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2U";
        assert!(
            ClientRegistry::from_entries(vec![entry("tasks", hash, &["permissions:read"])]).is_ok()
        );
        for (bad, expected) in [
            (entry("Tasks", hash, &["permissions:read"]), "Tasks"),
            (
                entry("tasks", "plain-text", &["permissions:read"]),
                "argon2id",
            ),
            (entry("tasks", hash, &[]), "no scopes"),
            (entry("tasks", hash, &["everything"]), "everything"),
        ] {
            let error = ClientRegistry::from_entries(vec![bad])
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        assert!(ClientRegistry::parse("{}").is_err());
        assert!(ClientRegistry::parse("[]").unwrap().is_empty());
    }
}
