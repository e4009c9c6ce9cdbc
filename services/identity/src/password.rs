//! Password hashing: argon2id with OWASP's parameters (m = 19456 KiB, t = 2, p = 1), off the async runtime.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the hashing pool is closed")]
    Closed,
}

#[derive(Clone)]
pub struct Hasher {
    /// Bounds concurrent hashes: each takes 19 MiB and a core for tens of milliseconds, so an unbounded burst of
    /// logins would exhaust memory and starve the blocking pool instead of queueing.
    permits: Arc<Semaphore>,
    /// Hash of a random password, verified against when the user does not exist, so unknown and known users cost
    /// the same time (no user enumeration by timing).
    dummy: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // The constants are valid argon2 parameters, so this cannot fail; default_params is the fallback anyway.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Hasher {
    /// Computes the dummy hash (blocking; call at startup).
    pub fn new(max_concurrent: usize) -> Result<Self, HashError> {
        let random = hex::encode(rand::random::<[u8; 16]>());
        Ok(Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(hash_blocking(&random)?),
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed)?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_blocking(password.expose())).await?
    }

    /// Verifies against `hash`, or against the dummy hash when there is no user (the answer is then false).
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed)?;
        let password = password.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let ok =
            tokio::task::spawn_blocking(move || verify_blocking(password.expose(), &hash)).await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = Hasher::new(2).unwrap();
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(&pw, Some(hash.clone())).await.unwrap());
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!hasher.verify(&wrong, Some(hash)).await.unwrap());
        assert!(!hasher.verify(&pw, None).await.unwrap());
    }
}
