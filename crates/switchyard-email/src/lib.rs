//! Email addresses, parsed once at the edge (sign-up, events, SES feedback, the mail admin API) into one
//! normalised form. Identity accepts an address only if this parser does, so every registered user's address is
//! one the mailer can send to and the suppression list can key on (before, identity's own parser let through
//! addresses such as `a,b@example.com` whose welcome mail then dead-lettered).
//!
//! Normalisation: surrounding whitespace trimmed, a display name (`"Jane Doe" <Jane@Example.com>`) dropped, the
//! whole address lower-cased. Lower-casing the local part is a deliberate choice: SES's own suppression list is
//! case-insensitive, and a bounce reported as `Jane@` must suppress a later send to `jane@`.

use std::fmt;

/// Why a string is not an address we can mail or suppress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("empty address")]
    Empty,
    #[error("address is longer than 254 characters")]
    TooLong,
    #[error("address has no '@'")]
    NoAt,
    #[error("empty local part")]
    EmptyLocal,
    #[error("local part is longer than 64 characters")]
    LocalTooLong,
    #[error("invalid domain {0:?}")]
    BadDomain(String),
    #[error("unterminated '<' in {0:?}")]
    Unterminated(String),
    #[error("address contains whitespace, a control character or one of <>()[],;:\"")]
    BadCharacter,
}

/// The longest address (RFC 5321's path limit less the angle brackets).
pub const MAX_LEN: usize = 254;

/// A normalised email address (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses `Jane@Example.com`, ` jane@example.com `, `Jane Doe <jane@example.com>` alike.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let bare = match trimmed.rfind('<') {
            Some(open) => {
                let rest = &trimmed[open + 1..];
                let close = rest
                    .find('>')
                    .ok_or_else(|| AddressError::Unterminated(trimmed.to_owned()))?;
                if !rest[close + 1..].trim().is_empty() {
                    return Err(AddressError::Unterminated(trimmed.to_owned()));
                }
                rest[..close].trim()
            }
            None => trimmed,
        };
        if bare.is_empty() {
            return Err(AddressError::Empty);
        }
        if bare.chars().count() > MAX_LEN {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = bare.rsplit_once('@').ok_or(AddressError::NoAt)?;
        if local.is_empty() {
            return Err(AddressError::EmptyLocal);
        }
        if local.chars().count() > 64 {
            return Err(AddressError::LocalTooLong);
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"@\\".contains(c))
        {
            return Err(AddressError::BadCharacter);
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if domain.is_empty() || !domain.split('.').all(label_ok) {
            return Err(AddressError::BadDomain(domain.to_owned()));
        }
        Ok(Self(format!("{local}@{domain}").to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// Whether the domain has at least two labels (`example.com`, not `localhost`): what a user signs up with.
    /// Feedback and log addresses are taken as SES reports them, single-label or not.
    pub fn has_public_domain(&self) -> bool {
        self.domain().contains('.')
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalises_case_whitespace_and_display_names() {
        for input in [
            "jane@example.com",
            "Jane@Example.COM",
            "  jane@example.com\t\n",
            "Jane Doe <jane@example.com>",
            "\"Doe, Jane\" <JANE@example.com> ",
            "<jane@example.com>",
            "jane@example.com.",
        ] {
            assert_eq!(
                EmailAddress::parse(input).unwrap().as_str(),
                "jane@example.com",
                "{input:?}"
            );
        }
        let a = EmailAddress::parse("Bounce+Tag@Simulator.AmazonSES.com").unwrap();
        assert_eq!(a.as_str(), "bounce+tag@simulator.amazonses.com");
        assert_eq!(a.domain(), "simulator.amazonses.com");
        assert_eq!(
            EmailAddress::parse("Élodie@Exämple.fr").unwrap().as_str(),
            "élodie@exämple.fr"
        );
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        let cases: &[(&str, AddressError)] = &[
            ("", AddressError::Empty),
            ("   ", AddressError::Empty),
            ("<>", AddressError::Empty),
            ("jane", AddressError::NoAt),
            ("@example.com", AddressError::EmptyLocal),
            ("ja ne@example.com", AddressError::BadCharacter),
            ("a,b@example.com", AddressError::BadCharacter),
            ("jane@", AddressError::BadDomain(String::new())),
            (
                "jane@exa mple.com",
                AddressError::BadDomain("exa mple.com".into()),
            ),
            ("jane@a..b", AddressError::BadDomain("a..b".into())),
            ("jane@-a.com", AddressError::BadDomain("-a.com".into())),
            (
                "Jane <jane@example.com",
                AddressError::Unterminated("Jane <jane@example.com".into()),
            ),
            (
                "Jane <jane@example.com> x",
                AddressError::Unterminated("Jane <jane@example.com> x".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                EmailAddress::parse(input).as_ref(),
                Err(expected),
                "{input:?}"
            );
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(
            EmailAddress::parse(&long_local),
            Err(AddressError::LocalTooLong)
        );
        let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        assert_eq!(EmailAddress::parse(&long), Err(AddressError::TooLong));
    }

    #[test]
    fn what_identity_used_to_accept_and_the_mailer_refused_is_refused() {
        for input in [
            "a,b@example.com",
            "a\"b@example.com",
            "a:b@example.com",
            "a(b)@example.com",
        ] {
            assert!(EmailAddress::parse(input).is_err(), "{input:?}");
        }
        assert!(
            !EmailAddress::parse("jane@localhost")
                .unwrap()
                .has_public_domain()
        );
        assert!(
            EmailAddress::parse("jane@example.com")
                .unwrap()
                .has_public_domain()
        );
    }

    /// Every address built from safe characters parses, and parsing its normal form gives itself.
    #[test]
    fn generated_addresses_round_trip() {
        let locals = ["a", "Jane.Doe", "x+tag", "o'brien", "z_9-1", "ÅSA"];
        let domains = [
            "example.com",
            "Sub.Example.ORG",
            "xn--bcher-kva.de",
            "a-b.c-d.io",
        ];
        for (i, local) in locals.iter().enumerate() {
            for domain in domains {
                let raw = format!(
                    "{}{local}@{domain}{}",
                    " ".repeat(i % 3),
                    "\t".repeat(i % 2)
                );
                let parsed = EmailAddress::parse(&raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
                assert_eq!(parsed, EmailAddress::parse(parsed.as_str()).unwrap());
                assert_eq!(parsed.as_str(), parsed.as_str().to_lowercase());
                assert!(parsed.as_str().len() <= raw.len());
            }
        }
    }

    #[test]
    fn parsing_is_idempotent() {
        for input in [
            "Jane Doe <Jane@Example.com>",
            " x.y+z@sub.example.org ",
            "ÅSA@exämple.se",
        ] {
            let once = EmailAddress::parse(input).unwrap();
            let twice = EmailAddress::parse(once.as_str()).unwrap();
            assert_eq!(once, twice);
        }
    }
}
