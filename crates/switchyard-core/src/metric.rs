//! Metric declarations: every metric the platform emits is declared once, as a [`Metric`] constant next to the code
//! that records it (`switchyard_http::metrics`, `switchyard_consumer::metrics`, `switchyard_outbox::metrics`), and
//! recorded only through its methods.
//!
//! That makes the set of metrics something the code can tell, like the environment contract: [`document`] turns the
//! declarations into `metrics-contract.json`, which `switchyard-tests` keeps current and `tests/infra` checks the
//! CloudWatch dashboard and alarms against (a dashboard widget on a metric nobody emits shows nothing, silently).
//!
//! Recording goes through the [`metrics`] facade (the EMF exporter, [`crate::emf`], is its recorder). Until
//! [`crate::telemetry::init`] installs that recorder (tests, tools), recording is one relaxed atomic load and nothing
//! else.

use std::{
    collections::BTreeMap,
    sync::{
        RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use serde::Serialize;

/// How values combine within a flush interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A count of events in the interval (EMF: the sum).
    Counter,
    /// The last value set in the interval (EMF: that value; nothing when it was not set).
    Gauge,
    /// Every recorded value (EMF: `Values`/`Counts` plus `Min`, `Max`, `Sum`, `Count`; CloudWatch computes
    /// percentiles from them).
    Histogram,
}

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

/// One metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    /// CloudWatch dimension sets, besides the global dimensions every metric carries (`Service` and
    /// `METRICS_DIMENSIONS`, see [`crate::emf`]). The first set names the labels each recording gives, in order; the
    /// others are roll-ups (subsets), so CloudWatch also has the metric without them (per service, not per route).
    pub dimensions: &'static [&'static [&'static str]],
    /// What it measures and when it is recorded (shown in the contract and the README).
    pub doc: &'static str,
}

const NO_LABELS: &[&[&str]] = &[&[]];

impl Metric {
    pub const fn counter(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Counter,
            unit: Unit::Count,
            dimensions: NO_LABELS,
            doc,
        }
    }

    pub const fn gauge(name: &'static str, unit: Unit, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Gauge,
            unit,
            dimensions: NO_LABELS,
            doc,
        }
    }

    pub const fn histogram(name: &'static str, unit: Unit, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Histogram,
            unit,
            dimensions: NO_LABELS,
            doc,
        }
    }

    /// The dimension sets (the first one lists the labels every recording gives).
    pub const fn dimensions(self, dimensions: &'static [&'static [&'static str]]) -> Self {
        Self { dimensions, ..self }
    }

    /// The labels a recording gives, in order.
    pub fn labels(&self) -> &'static [&'static str] {
        self.dimensions.first().copied().unwrap_or(&[])
    }

    /// Adds `n` to a counter; `labels` are the values of [`Self::labels`], in order.
    pub fn add(&self, n: u64, labels: &[&str]) {
        debug_assert_eq!(self.kind, Kind::Counter, "{} is not a counter", self.name);
        if enabled() {
            let key = self.key(labels);
            metrics::with_recorder(|r| r.register_counter(&key, &METADATA).increment(n));
        }
    }

    /// Records one value of a histogram.
    pub fn record(&self, value: f64, labels: &[&str]) {
        self.record_many(value, 1, labels);
    }

    /// Records `value` `count` times (a batch of messages that took the same time): one lookup instead of `count`.
    pub fn record_many(&self, value: f64, count: usize, labels: &[&str]) {
        debug_assert_eq!(
            self.kind,
            Kind::Histogram,
            "{} is not a histogram",
            self.name
        );
        if enabled() && count > 0 {
            let key = self.key(labels);
            metrics::with_recorder(|r| {
                r.register_histogram(&key, &METADATA)
                    .record_many(value, count)
            });
        }
    }

    /// Sets a gauge.
    pub fn set(&self, value: f64, labels: &[&str]) {
        debug_assert_eq!(self.kind, Kind::Gauge, "{} is not a gauge", self.name);
        if enabled() {
            let key = self.key(labels);
            metrics::with_recorder(|r| r.register_gauge(&key, &METADATA).set(value));
        }
    }

    fn key(&self, values: &[&str]) -> metrics::Key {
        let names = self.labels();
        debug_assert_eq!(
            names.len(),
            values.len(),
            "{}: labels {names:?}, values {values:?}",
            self.name
        );
        let labels: Vec<metrics::Label> = names
            .iter()
            .zip(values)
            .map(|(name, value)| metrics::Label::new(*name, (*value).to_owned()))
            .collect();
        metrics::Key::from_parts(self.name, labels)
    }
}

const METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Set once a recorder is installed ([`crate::emf::install`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_enabled() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether recorded values go anywhere (cheap: callers skip work that only feeds metrics, such as a query).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Declared metrics by name: what the exporter reads units and dimension sets from.
static DECLARED: RwLock<BTreeMap<&'static str, Metric>> = RwLock::new(BTreeMap::new());

/// Makes `metrics` known to the exporter (unit, roll-up dimension sets). Components call it when they are built
/// (the HTTP layers, the relay, the consumer runtime); calling it again is harmless.
pub fn declare(metrics: &[Metric]) {
    if let Ok(mut declared) = DECLARED.write() {
        for m in metrics {
            declared.insert(m.name, *m);
        }
    }
}

/// The declaration of `name`, if one was [`declare`]d.
pub fn declared(name: &str) -> Option<Metric> {
    DECLARED.read().ok().and_then(|d| d.get(name).copied())
}

/// Who emits a group of metrics, for the contract.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// The crate that records them (`switchyard-http`).
    pub component: &'static str,
    /// The binaries that run that code.
    pub binaries: &'static [&'static str],
    pub metrics: &'static [Metric],
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("metric {0} is declared twice")]
    Duplicate(&'static str),
    #[error("metric {name}: dimension set {set:?} is not a subset of its labels {labels:?}")]
    NotASubset {
        name: &'static str,
        set: &'static [&'static str],
        labels: &'static [&'static str],
    },
    #[error(
        "metric {name}: label {label} is a global dimension (Service, or one METRICS_DIMENSIONS sets)"
    )]
    GlobalLabel {
        name: &'static str,
        label: &'static str,
    },
}

/// `metrics-contract.json`: every metric of `sources`, sorted by name, with the namespace and global dimension the
/// binaries use by default. Fails on a metric declared twice or a roll-up that is not a subset of its labels.
pub fn document(sources: &[Source]) -> Result<String, ContractError> {
    #[derive(Serialize)]
    struct Entry {
        #[serde(flatten)]
        metric: Metric,
        component: &'static str,
        emitted_by: Vec<&'static str>,
    }
    let mut entries: BTreeMap<&'static str, Entry> = BTreeMap::new();
    for source in sources {
        for m in source.metrics {
            for set in m.dimensions {
                if let Some(label) = set.iter().find(|l| **l == crate::emf::SERVICE_DIMENSION) {
                    return Err(ContractError::GlobalLabel {
                        name: m.name,
                        label,
                    });
                }
                if !set.iter().all(|l| m.labels().contains(l)) {
                    return Err(ContractError::NotASubset {
                        name: m.name,
                        set,
                        labels: m.labels(),
                    });
                }
            }
            let mut emitted_by = source.binaries.to_vec();
            emitted_by.sort_unstable();
            if entries
                .insert(
                    m.name,
                    Entry {
                        metric: *m,
                        component: source.component,
                        emitted_by,
                    },
                )
                .is_some()
            {
                return Err(ContractError::Duplicate(m.name));
            }
        }
    }
    let doc = serde_json::json!({
        "about": "Every metric the binaries emit as CloudWatch EMF, generated from the declarations in the code by `UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::` (switchyard_core::metric; the same command regenerates env-contract.json). Do not edit: tests/infra checks the dashboard and alarms in terraform against it. Every metric also carries the global dimensions: service_dimension (the binary) and what METRICS_DIMENSIONS sets.",
        "namespace_default": crate::emf::DEFAULT_NAMESPACE,
        "service_dimension": crate::emf::SERVICE_DIMENSION,
        "metrics": entries.into_values().collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Metric = Metric::counter("A", "a").dimensions(&[&["Route"], &[]]);
    const B: Metric = Metric::histogram("B", Unit::Milliseconds, "b").dimensions(&[&["Queue"]]);

    #[test]
    fn the_document_lists_each_metric_once_with_its_sources() {
        let doc = document(&[Source {
            component: "c",
            binaries: &["y", "x"],
            metrics: &[B, A],
        }])
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let names: Vec<_> = v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(
            v["metrics"][0]["dimensions"],
            serde_json::json!([["Route"], []])
        );
        assert_eq!(v["metrics"][1]["unit"], "Milliseconds");
        assert_eq!(v["metrics"][1]["kind"], "histogram");
        assert_eq!(v["metrics"][0]["emitted_by"], serde_json::json!(["x", "y"]));
    }

    #[test]
    fn the_document_refuses_duplicates_and_bad_roll_ups() {
        let twice = [Source {
            component: "c",
            binaries: &[],
            metrics: &[A, A],
        }];
        assert!(matches!(
            document(&twice),
            Err(ContractError::Duplicate("A"))
        ));
        const BAD: Metric = Metric::counter("Bad", "x").dimensions(&[&["Route"], &["Queue"]]);
        let bad = [Source {
            component: "c",
            binaries: &[],
            metrics: &[BAD],
        }];
        assert!(matches!(
            document(&bad),
            Err(ContractError::NotASubset { .. })
        ));
        const GLOBAL: Metric = Metric::counter("G", "x").dimensions(&[&["Service"]]);
        let global = [Source {
            component: "c",
            binaries: &[],
            metrics: &[GLOBAL],
        }];
        assert!(matches!(
            document(&global),
            Err(ContractError::GlobalLabel { .. })
        ));
    }

    #[test]
    fn recording_without_a_recorder_does_nothing() {
        // No recorder in unit tests: these return at the enabled() check.
        A.add(1, &["GET /x"]);
        B.record(1.0, &["q"]);
    }
}
