//! Configuration from environment variables. Every error names the variable, so a failed start says what to set.
//!
//! Every variable is declared once, as a [`Var`] constant next to the code that uses it (name, what it is for,
//! whether it is a secret, a valid example), and read only through the functions below. That makes the set of
//! variables a binary reads something the code can tell: [`discover`] runs a binary's settings readers with
//! nothing but examples and records every read — see [`crate::contract`], which turns that into
//! `env-contract.json`, the list terraform, the ECS task definitions and docker-compose are checked against.
//!
//! Secrets ([`Var::secret`]) can also be given as a file: when `NAME` is unset, `NAME_FILE` names a file holding
//! the value (docker-compose and Docker secrets). Their values never appear in error messages.

use std::{cell::RefCell, collections::BTreeMap, fmt::Display, str::FromStr, time::Duration};

/// One environment variable a binary reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    /// What it is for (shown when it is missing, and in the contract).
    pub doc: &'static str,
    /// Injected from a secret store in AWS, never logged; also readable from `<NAME>_FILE`.
    pub secret: bool,
    /// A valid value: what [`discover`] uses instead of the real environment.
    pub example: Option<&'static str>,
}

impl Var {
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            doc,
            secret: false,
            example: None,
        }
    }

    pub const fn secret(self) -> Self {
        Self {
            secret: true,
            ..self
        }
    }

    pub const fn example(self, example: &'static str) -> Self {
        Self {
            example: Some(example),
            ..self
        }
    }

    /// `<NAME>_FILE`, the file alternative of a secret.
    pub fn file_variant(&self) -> String {
        format!("{}_FILE", self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set: {hint}")]
    Missing { name: String, hint: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    fn invalid(var: &Var, value: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: var.name.to_owned(),
            value: if var.secret {
                "<secret>".to_owned()
            } else {
                value.to_owned()
            },
            reason: reason.into(),
        }
    }
}

/// A required variable (set and not blank).
pub fn required(var: &Var) -> Result<String, ConfigError> {
    record(var, Need::Required);
    if let Some(value) = lookup(var)? {
        return Ok(value);
    }
    discovered_example(var).ok_or_else(|| ConfigError::Missing {
        name: var.name.to_owned(),
        hint: if var.secret {
            format!(
                "{} (or {} naming a file that holds it)",
                var.doc,
                var.file_variant()
            )
        } else {
            var.doc.to_owned()
        },
    })
}

/// An optional variable (unset and blank are the same).
pub fn optional(var: &Var) -> Result<Option<String>, ConfigError> {
    record(var, Need::Optional(None));
    lookup(var)
}

/// An optional string with a default.
pub fn string(var: &Var, default: &str) -> Result<String, ConfigError> {
    record(var, Need::Optional(Some(default.to_owned())));
    Ok(lookup(var)?.unwrap_or_else(|| default.to_owned()))
}

/// An optional variable parsed with `FromStr`, with a default when unset.
pub fn parsed<T>(var: &Var, default: T) -> Result<T, ConfigError>
where
    T: FromStr + Display,
    T::Err: Display,
{
    record(var, Need::Optional(Some(default.to_string())));
    match lookup(var)? {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::invalid(var, &value, e.to_string())),
    }
}

/// An optional variable parsed with `FromStr`, without a fixed default (e.g. one computed from the machine).
pub fn parsed_optional<T>(var: &Var) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    record(var, Need::Optional(None));
    lookup(var)?
        .map(|value| {
            value
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::invalid(var, &value, e.to_string()))
        })
        .transpose()
}

/// A duration given in whole seconds.
pub fn seconds(var: &Var, default: Duration) -> Result<Duration, ConfigError> {
    parsed(var, default.as_secs()).map(Duration::from_secs)
}

/// A boolean: true/false/1/0/yes/no/on/off.
pub fn flag(var: &Var, default: bool) -> Result<bool, ConfigError> {
    record(var, Need::Optional(Some(default.to_string())));
    match lookup(var)?.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(value) => Err(ConfigError::invalid(var, &value, "expected true or false")),
    }
}

/// Declares a variable a library reads by itself (the AWS SDK's credentials chain, `tracing`'s `RUST_LOG`), so the
/// contract lists it; returns nothing because this process does not interpret it.
pub fn external(var: &Var) {
    record(var, Need::External);
}

fn lookup(var: &Var) -> Result<Option<String>, ConfigError> {
    let value = raw(var.name).filter(|v| !v.trim().is_empty());
    if value.is_some() || !var.secret {
        return Ok(value);
    }
    let file_var = var.file_variant();
    let Some(path) = raw(&file_var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Invalid {
        name: file_var.clone(),
        value: path.clone(),
        reason: format!("cannot read the file holding {}: {e}", var.name),
    })?;
    let text = text.trim_end_matches(['\r', '\n']).to_owned();
    if text.trim().is_empty() {
        return Err(ConfigError::Invalid {
            name: file_var,
            value: path,
            reason: format!("the file holding {} is empty", var.name),
        });
    }
    Ok(Some(text))
}

// --- discovery ----------------------------------------------------------------------------------------------------

/// How a variable was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Required,
    /// Optional, with the default the code used (as the variable's text), if any.
    Optional(Option<String>),
    /// Read by a library, not through this module ([`external`]).
    External,
}

/// A variable read while [`discover`] ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub var: Var,
    pub need: Need,
}

#[derive(Default)]
struct Discovery {
    /// The environment the readers see instead of the process's.
    values: BTreeMap<&'static str, String>,
    reads: BTreeMap<&'static str, Read>,
}

thread_local! {
    static DISCOVERY: RefCell<Option<Discovery>> = const { RefCell::new(None) };
}

fn raw(name: &str) -> Option<String> {
    DISCOVERY
        .with(|d| d.borrow().as_ref().map(|d| d.values.get(name).cloned()))
        .unwrap_or_else(|| std::env::var(name).ok())
}

fn record(var: &Var, need: Need) {
    DISCOVERY.with(|d| {
        if let Some(d) = d.borrow_mut().as_mut() {
            let read = d.reads.entry(var.name).or_insert_with(|| Read {
                var: *var,
                need: need.clone(),
            });
            assert_eq!(
                read.var, *var,
                "two different declarations of {} (declare each variable once)",
                var.name
            );
            // Required wins; otherwise the first default seen is the one the code uses.
            if need == Need::Required {
                read.need = Need::Required;
            }
        }
    });
}

/// During discovery a missing required variable reads as its example, so the readers run to the end.
fn discovered_example(var: &Var) -> Option<String> {
    DISCOVERY.with(|d| d.borrow().as_ref().and(var.example).map(str::to_owned))
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "{0} (with every variable set to its example): fix the example in the variable's declaration"
    )]
    Config(#[from] ConfigError),
    #[error("the readers did not settle after {0} rounds")]
    Unsettled(usize),
}

/// Runs `read` (a binary's settings readers) against an environment of examples, not the process's, and returns
/// every variable it read, sorted by name. The first round sees no variables (required ones read as their
/// examples, optional ones as unset, so the defaults are recorded); each further round sets every variable seen so
/// far that has an example, which reaches variables read only when another one is set; it stops when a round finds
/// nothing new. Every round must succeed.
pub fn discover<T>(read: impl Fn() -> Result<T, ConfigError>) -> Result<Vec<Read>, DiscoveryError> {
    const ROUNDS: usize = 5;
    let mut values = BTreeMap::new();
    let mut reads = BTreeMap::new();
    for _ in 0..ROUNDS {
        DISCOVERY.with(|d| {
            *d.borrow_mut() = Some(Discovery {
                values: values.clone(),
                reads: reads.clone(),
            });
        });
        let outcome = read();
        let found = DISCOVERY
            .with(|d| d.borrow_mut().take())
            .map(|d| d.reads)
            .unwrap_or_default();
        outcome?;
        let settled = found.len() == reads.len();
        reads = found;
        if settled {
            return Ok(reads.into_values().collect());
        }
        values = reads
            .values()
            .filter_map(|r| r.var.example.map(|e| (r.var.name, e.to_owned())))
            .collect();
    }
    Err(DiscoveryError::Unsettled(ROUNDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNSET: Var = Var::new("SWITCHYARD_SURELY_UNSET_VAR", "the thing");
    const PORT: Var = Var::new("SWITCHYARD_TEST_PORT", "a port").example("8080");
    const MODE: Var = Var::new("SWITCHYARD_TEST_MODE", "extra mode").example("true");
    const EXTRA: Var = Var::new("SWITCHYARD_TEST_EXTRA", "read only in extra mode").example("x");
    const KEY: Var = Var::new("SWITCHYARD_TEST_KEY", "a secret").secret();

    #[test]
    fn errors_name_the_variable() {
        let err = required(&UNSET).unwrap_err();
        assert!(
            err.to_string().contains("SWITCHYARD_SURELY_UNSET_VAR"),
            "{err}"
        );
        assert_eq!(parsed::<u16>(&UNSET, 7).unwrap(), 7);
    }

    #[test]
    fn discovery_records_required_optional_defaults_and_conditional_reads() {
        let reads = discover(|| {
            let port: u16 = required(&PORT)?
                .parse()
                .map_err(|_| ConfigError::invalid(&PORT, "", "not a port"))?;
            if flag(&MODE, false)? {
                required(&EXTRA)?;
            }
            parsed(&UNSET, 7u8)?;
            Ok(port)
        })
        .unwrap();
        let by_name: BTreeMap<_, _> = reads.iter().map(|r| (r.var.name, &r.need)).collect();
        assert_eq!(by_name["SWITCHYARD_TEST_PORT"], &Need::Required);
        assert_eq!(
            by_name["SWITCHYARD_TEST_MODE"],
            &Need::Optional(Some("false".into()))
        );
        assert_eq!(
            by_name["SWITCHYARD_TEST_EXTRA"],
            &Need::Required,
            "reached in the round that sets MODE to its example"
        );
        assert_eq!(
            by_name["SWITCHYARD_SURELY_UNSET_VAR"],
            &Need::Optional(Some("7".into()))
        );
        assert_eq!(reads.len(), 4);
    }

    #[test]
    fn discovery_fails_on_a_required_variable_without_an_example() {
        let err = discover(|| required(&KEY)).unwrap_err();
        assert!(err.to_string().contains("SWITCHYARD_TEST_KEY"), "{err}");
    }

    #[test]
    fn discovery_does_not_see_the_process_environment() {
        // PATH is set in every test process; discovery must not read it.
        const PATH: Var = Var::new("PATH", "the process's PATH");
        let reads = discover(|| optional(&PATH).map(|v| assert_eq!(v, None))).unwrap();
        assert_eq!(reads.len(), 1);
    }

    #[test]
    fn secret_values_stay_out_of_errors() {
        let err = ConfigError::invalid(&KEY, "hunter2", "bad");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
