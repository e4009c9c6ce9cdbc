//! The environment contract: every variable each binary reads, generated from the code.
//!
//! A binary names the readers it runs at start ([`Binary::read`]: its settings' `from_env`, the telemetry and AWS
//! variables); [`config::discover`](crate::config::discover) runs them against examples and records each read.
//! `switchyard-tests` writes the result for all binaries to `env-contract.json` (and fails when the checked-in
//! file is stale); `tests/infra` checks terraform, `ecs-taskdefs/` and `docker-compose.yml` against that file both
//! ways: nothing set that no binary reads, every required variable set, secrets only as secrets.

use serde::Serialize;

use crate::config::{self, ConfigError, DiscoveryError, Need};

/// A deployed binary and the readers it runs at start.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The binary's name (its directory under `services/` or `workers/`).
    pub name: &'static str,
    /// Reads every variable the binary reads when it starts (`serve` / `run`).
    pub read: fn() -> Result<(), ConfigError>,
}

/// One variable of one binary, as `env-contract.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    pub name: &'static str,
    pub required: bool,
    pub secret: bool,
    /// The value the code uses when the variable is unset (optional variables that have one).
    pub default: Option<String>,
    /// `<NAME>_FILE`, accepted instead of a secret.
    pub file_variant: Option<String>,
    /// Read by a library (the AWS SDK, tracing), not by the binary's settings.
    pub library: bool,
    pub doc: &'static str,
}

impl Binary {
    /// The binary's variables, sorted by name.
    pub fn variables(&self) -> Result<Vec<Variable>, DiscoveryError> {
        Ok(config::discover(self.read)?
            .into_iter()
            .map(|read| Variable {
                name: read.var.name,
                required: read.need == Need::Required,
                secret: read.var.secret,
                library: read.need == Need::External,
                file_variant: (read.var.secret && read.need != Need::External)
                    .then(|| read.var.file_variant()),
                default: match read.need {
                    Need::Optional(default) => default,
                    Need::Required | Need::External => None,
                },
                doc: read.var.doc,
            })
            .collect())
    }
}

/// The contract of `binaries` as pretty JSON (the content of `env-contract.json`), binaries sorted by name.
pub fn document(binaries: &[Binary]) -> Result<String, DiscoveryError> {
    let mut map = serde_json::Map::new();
    let mut sorted = binaries.to_vec();
    sorted.sort_by_key(|b| b.name);
    for binary in sorted {
        let variables = serde_json::to_value(binary.variables()?).unwrap_or_default();
        map.insert(
            binary.name.to_owned(),
            serde_json::json!({ "variables": variables }),
        );
    }
    let doc = serde_json::json!({
        "about": "Every environment variable each binary reads, generated from the code by `UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::` (switchyard_core::contract). Do not edit: tests/infra checks terraform, ecs-taskdefs and docker-compose.yml against it.",
        "binaries": map,
    });
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}
