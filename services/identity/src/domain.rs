//! Input parsed into domain types at the edge ("parse, don't validate"): the rest of the service never sees a raw
//! email, password or permission string. Errors are messages for a 422's `errors[].message`. Email addresses are
//! `switchyard_email::EmailAddress`, the type the mailer and the mail service use too.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
pub use switchyard_email::EmailAddress;

/// The address a user signs up (and logs in) with: the one [`EmailAddress`] every Switchyard binary parses (so the
/// mailer can send to it and the suppression list keys on it), with a domain of at least two labels.
pub fn parse_email(raw: &str) -> Result<EmailAddress, String> {
    let address = EmailAddress::parse(raw).map_err(|e| e.to_string())?;
    if !address.has_public_domain() {
        return Err("the domain must look like example.com".into());
    }
    Ok(address)
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
            parse_email("  Ada@Example.COM ").unwrap().as_str(),
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
            "a,b@example.com",
            "\"ada\"@example.com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
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
