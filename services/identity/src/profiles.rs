//! An in-process cache of the immutable part of a user (id, email, display name, creation time) for
//! `GET /v1/users/me`, so the hot authenticated path is token check + one Redis read, without Postgres.
//!
//! Safe because no endpoint changes these fields. An endpoint that changes email or display name must stop using
//! this cache (or move it to Redis), since other instances would keep the old value. Permissions are never taken
//! from here: they come from the caller's `AuthUser` (Redis / source of truth), so revocation stays immediate.

use std::{collections::HashMap, sync::RwLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

/// Bounded: cleared when full (a miss costs one indexed read).
#[derive(Debug, Default)]
pub struct ProfileCache {
    map: RwLock<HashMap<Uuid, Profile>>,
}

const CAPACITY: usize = 50_000;

impl ProfileCache {
    pub fn get(&self, id: Uuid) -> Option<Profile> {
        self.map.read().ok()?.get(&id).cloned()
    }

    pub fn put(&self, profile: Profile) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(profile.id, profile);
        }
    }
}
