//! Events published by the identity service on the `identity-events` topic.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainEvent;

const SOURCE: &str = "/switchyard/identity";

/// A user signed up. The mailer sends a welcome mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
}

impl DomainEvent for UserRegistered {
    const TYPE: &'static str = "switchyard.identity.user.registered.v1";
    const SOURCE: &'static str = SOURCE;
    fn subject(&self) -> Option<String> {
        Some(self.user_id.to_string())
    }
}

/// An administrator changed a user's permissions; `version` is the new permissions version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPermissionsChanged {
    pub user_id: Uuid,
    pub permissions: Vec<String>,
    pub version: i64,
}

impl DomainEvent for UserPermissionsChanged {
    const TYPE: &'static str = "switchyard.identity.user.permissions_changed.v1";
    const SOURCE: &'static str = SOURCE;
    fn subject(&self) -> Option<String> {
        Some(self.user_id.to_string())
    }
}
