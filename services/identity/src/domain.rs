//! Input parsed into domain types at the edge ("parse, don't validate"): the rest of the service never sees a raw
//! email, password or permission string. Errors are messages for a 422's `errors[].message`.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A normalised (trimmed, lower-cased) email address of at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty");
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = email.rsplit_once('@').ok_or("must contain @")?;
        let ok_chars = |s: &str| {
            !s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        };
        if local.is_empty() || local.chars().count() > 64 || !ok_chars(local) {
            return Err("the part before @ must be 1-64 characters without spaces");
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err("the domain must look like example.com");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of 8-128 characters (OWASP ASVS: long passphrases allowed, no composition rules). Never printed.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let n = raw.chars().count();
        if n < Self::MIN {
            return Err("must be at least 8 characters");
        }
        if n > Self::MAX {
            return Err("must be at most 128 characters");
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: 1-100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > 100 {
            return Err("must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A permission such as `tasks:write`: `<resource>:<action>`, lower-case letters, digits, `_` and `-`,
/// at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission(String);

impl Permission {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        match raw.split_once(':') {
            Some((resource, action))
                if raw.len() <= 64 && valid_part(resource) && valid_part(action) =>
            {
                Ok(Self(raw.to_owned()))
            }
            _ => Err("must look like resource:action (lower-case, at most 64 characters)"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The administrator permission (needed for `PUT /v1/users/{id}/permissions`).
pub const USERS_ADMIN: &str = "users:admin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a da@example.com",
            "ada@exa mple.com",
            "ada@-example.com",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_permissions() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse").unwrap()),
            "Password(***)"
        );
        assert!(Permission::parse("tasks:write").is_ok());
        for bad in [
            "tasks",
            "Tasks:write",
            "tasks:",
            ":write",
            "tasks:write:all",
            "tasks :write",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }
}
