//! `env-contract.json`: every environment variable each deployed binary reads, discovered from the code
//! (`switchyard_core::contract`). The checked-in file is what `tests/infra` checks terraform, the ECS task
//! definitions and docker-compose against; this test fails when it no longer matches the code. Regenerate with
//! `UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::`.

use std::path::PathBuf;

use switchyard_core::contract::{self, Binary};

/// Every deployed binary (tests/infra checks this list against services/* and workers/*).
const BINARIES: [Binary; 6] = [
    ::identity::ENV_CONTRACT,
    ::tasks::ENV_CONTRACT,
    ::mail::ENV_CONTRACT,
    event_archive::ENV_CONTRACT,
    ::mailer::ENV_CONTRACT,
    ses_suppressor::ENV_CONTRACT,
];

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../env-contract.json")
}

#[test]
fn env_contract_json_is_what_the_code_reads() {
    let generated = contract::document(&BINARIES).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("UPDATE_ENV_CONTRACT").is_some() {
        std::fs::write(path(), &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(path()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "env-contract.json is stale: the binaries read other variables than it lists. Regenerate it with\n  \
         UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::\nthen make the deploy files \
         match (tests/infra says how). Generated:\n{generated}"
    );
}

#[test]
fn every_binary_is_in_the_contract_once() {
    let mut names: Vec<_> = BINARIES.iter().map(|b| b.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), BINARIES.len(), "a binary is listed twice");
    for binary in BINARIES {
        let vars = binary
            .variables()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.name));
        assert!(
            vars.iter()
                .any(|v| v.name == "DATABASE_URL" && v.required && v.secret),
            "{}: DATABASE_URL must be a required secret",
            binary.name
        );
    }
}
