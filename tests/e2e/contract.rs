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

// --- metrics-contract.json ----------------------------------------------------------------------------------------

use switchyard_core::metric::{self, Source};

/// Every metric each component records, and the binaries that run that code (checked below against the env
/// contract and the topology, so a new binary cannot be forgotten here).
const METRICS: [Source; 3] = [
    Source {
        component: "switchyard-http",
        binaries: &["identity", "mail", "tasks"],
        metrics: switchyard_http::metrics::ALL,
    },
    Source {
        component: "switchyard-outbox",
        binaries: &["identity", "tasks"],
        metrics: switchyard_outbox::metrics::ALL,
    },
    Source {
        component: "switchyard-consumer",
        binaries: &["event-archive", "mailer", "ses-suppressor", "tasks"],
        metrics: switchyard_consumer::metrics::ALL,
    },
];

fn metrics_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../metrics-contract.json")
}

#[test]
fn metrics_contract_json_is_what_the_code_declares() {
    let generated = metric::document(&METRICS).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("UPDATE_ENV_CONTRACT").is_some() {
        std::fs::write(metrics_path(), &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(metrics_path()).unwrap_or_default();
    assert!(
        checked_in == generated,
        "metrics-contract.json is stale: the code declares other metrics than it lists. Regenerate it with\n  \
         UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::\nthen make the dashboard and \
         alarms match (tests/infra says how). Generated:\n{generated}"
    );
}

#[test]
fn each_metric_source_names_the_binaries_that_run_it() {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let of = |component: &str| -> Vec<String> {
        let source = METRICS.iter().find(|s| s.component == component).unwrap();
        sorted(source.binaries.iter().map(|b| (*b).to_owned()).collect())
    };
    // HTTP services: the binaries that read HTTP_ADDR.
    let http: Vec<String> = BINARIES
        .iter()
        .filter(|b| b.variables().unwrap().iter().any(|v| v.name == "HTTP_ADDR"))
        .map(|b| b.name.to_owned())
        .collect();
    assert_eq!(of("switchyard-http"), sorted(http));
    let topology = switchyard_topology::Topology::embedded().unwrap();
    let binaries: Vec<&str> = BINARIES.iter().map(|b| b.name).collect();
    // Relays: the binaries that publish a topic; consumers: the binaries that consume a queue.
    let publishers: Vec<String> = topology
        .topics
        .values()
        .flat_map(|t| t.publishers.clone())
        .filter(|p| binaries.contains(&p.as_str()))
        .collect();
    assert_eq!(of("switchyard-outbox"), sorted(publishers));
    let consumers: Vec<String> = topology
        .queues
        .values()
        .map(|q| q.consumer.clone())
        .collect();
    assert_eq!(of("switchyard-consumer"), sorted(consumers));
}
