//! Configuration from environment variables. Every error names the variable, so a failed start says what to set.

use std::{fmt::Display, str::FromStr, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set: {hint}")]
    Missing { name: String, hint: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// A required variable; `hint` says what it is for.
pub fn required(name: &str, hint: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing {
            name: name.to_owned(),
            hint,
        }),
    }
}

/// An optional variable (unset and empty are the same).
pub fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An optional variable parsed with `FromStr`, with a default when unset.
pub fn parsed<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match optional(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                reason: e.to_string(),
                value,
            }),
    }
}

/// A duration given in whole seconds.
pub fn seconds(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    parsed(name, default.as_secs()).map(Duration::from_secs)
}

/// A boolean: true/false/1/0/yes/no.
pub fn flag(name: &str, default: bool) -> Result<bool, ConfigError> {
    match optional(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(value) => Err(ConfigError::Invalid {
            name: name.to_owned(),
            value,
            reason: "expected true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let err = required("SWITCHYARD_SURELY_UNSET_VAR", "the thing").unwrap_err();
        assert!(
            err.to_string().contains("SWITCHYARD_SURELY_UNSET_VAR"),
            "{err}"
        );
        assert_eq!(parsed::<u16>("SWITCHYARD_SURELY_UNSET_VAR", 7).unwrap(), 7);
    }
}
