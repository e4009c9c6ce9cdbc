//! CloudWatch Embedded Metric Format: the recorder behind the [`metrics`] facade, aggregating per interval and
//! writing one JSON line per label set to stdout, which the ECS `awslogs` driver sends to CloudWatch Logs, which
//! turns the lines into metrics. No agent, no API call, no IAM permission.
//!
//! Written here rather than taken from `metrics_cloudwatch_embedded` (0.10): that crate is built for one Lambda
//! invocation per flush and keeps at most 100 raw histogram values between flushes, dropping the rest with an error
//! log; a service answering more than 100 requests of one route a minute would lose latencies. Here a histogram is
//! a log-bucketed sketch (1 % relative error, memory bounded by the value range, not by the traffic), written as EMF
//! `Values`/`Counts` (at most 100 pairs, the EMF limit) with exact `Min`, `Max`, `Sum` and `Count`.
//!
//! Per interval (`METRICS_INTERVAL_SECONDS`, 60 by default) and on [`flush`] (the servers call it when they stop):
//! counters give their count since the last flush (nothing when zero), gauges the last value set since the last flush
//! (nothing when not set: a stopped sampler shows as missing data, not as a stale value), histograms their values.
//! Every metric carries the dimension `Service` (the binary) and the ones `METRICS_DIMENSIONS` adds
//! (`Environment=prod` in terraform), then its own labels; its roll-up dimension sets ([`crate::metric::Metric`])
//! are emitted in the same line.

use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName};
use serde_json::{Map, Value, json};

use crate::{
    config::{self, ConfigError, Var},
    metric,
};

/// The dimension naming the binary, on every metric.
pub const SERVICE_DIMENSION: &str = "Service";
/// `METRICS_NAMESPACE` when unset.
pub const DEFAULT_NAMESPACE: &str = "Switchyard";
/// EMF allows at most 100 values per metric in one document.
pub const MAX_VALUES: usize = 100;
/// Series (metric name + label values) kept at most; more means a label is not bounded (a bug), and is dropped.
const MAX_SERIES: usize = 2000;

pub const METRICS_EMF: Var = Var::new(
    "METRICS_EMF",
    "true (default): aggregated metrics as CloudWatch EMF lines on stdout every METRICS_INTERVAL_SECONDS; false: none",
)
.example("true");
pub const METRICS_NAMESPACE: Var = Var::new(
    "METRICS_NAMESPACE",
    "CloudWatch namespace of the EMF metrics (default Switchyard)",
)
.example("Switchyard");
pub const METRICS_DIMENSIONS: Var = Var::new(
    "METRICS_DIMENSIONS",
    "dimensions added to every metric: Name=value pairs separated by commas (terraform: Environment=<environment>)",
)
.example("Environment=prod");
pub const METRICS_INTERVAL_SECONDS: Var = Var::new(
    "METRICS_INTERVAL_SECONDS",
    "how often aggregated metrics are written (default 60; they are also written at shutdown)",
)
.example("60");

/// EMF settings from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSettings {
    pub enabled: bool,
    pub namespace: String,
    /// Global dimensions besides `Service`, in the order given.
    pub dimensions: Vec<(String, String)>,
    pub interval: Duration,
}

impl EmfSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let enabled = config::flag(&METRICS_EMF, true)?;
        let namespace = config::string(&METRICS_NAMESPACE, DEFAULT_NAMESPACE)?
            .trim()
            .to_owned();
        let invalid = |var: &Var, value: &str, reason: &str| ConfigError::Invalid {
            name: var.name.to_owned(),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if namespace.starts_with("AWS/") || namespace.len() > 255 {
            return Err(invalid(
                &METRICS_NAMESPACE,
                &namespace,
                "AWS/ is reserved for AWS's own metrics; at most 255 characters",
            ));
        }
        let raw = config::optional(&METRICS_DIMENSIONS)?.unwrap_or_default();
        let dimensions = parse_dimensions(&raw)?;
        let interval = config::seconds(&METRICS_INTERVAL_SECONDS, Duration::from_secs(60))?;
        if interval.is_zero() {
            return Err(invalid(
                &METRICS_INTERVAL_SECONDS,
                "0",
                "must be at least 1",
            ));
        }
        Ok(Self {
            enabled,
            namespace,
            dimensions,
            interval,
        })
    }
}

/// `METRICS_DIMENSIONS`: `Name=value` pairs separated by commas; `Service` is taken (the binary's name).
pub fn parse_dimensions(raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: METRICS_DIMENSIONS.name.to_owned(),
        value: raw.to_owned(),
        reason,
    };
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(invalid(format!("{pair:?}: expected Name=value")));
        };
        let (name, value) = (name.trim(), value.trim());
        let name_ok = !name.is_empty()
            && name.len() <= 255
            && !name.starts_with(':')
            && name.chars().all(|c| c.is_ascii_graphic());
        if !name_ok || value.is_empty() || value.len() > 1024 {
            return Err(invalid(format!(
                "{pair:?}: a dimension needs a name (printable ASCII) and a value"
            )));
        }
        if name == SERVICE_DIMENSION || dimensions.iter().any(|(n, _)| n == name) {
            return Err(invalid(format!(
                "{name} is given twice (Service is always the binary's name)"
            )));
        }
        dimensions.push((name.to_owned(), value.to_owned()));
    }
    Ok(dimensions)
}

// --- the recorder -----------------------------------------------------------------------------------------------

/// The EMF recorder (cheap to clone). [`install`] makes one the global recorder; tests make their own and read
/// [`Emf::flush_to`].
#[derive(Clone)]
pub struct Emf {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    /// `Service` first, then `METRICS_DIMENSIONS`.
    globals: Vec<(String, String)>,
    series: RwLock<HashMap<Key, Series>>,
    /// One flush at a time (the interval thread and a shutdown flush may meet).
    flushing: Mutex<()>,
    overflow_warned: AtomicBool,
}

#[derive(Clone)]
enum Series {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

#[derive(Default)]
struct CounterCell(AtomicU64);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct GaugeCell {
    bits: AtomicU64,
    /// Set since the last flush.
    fresh: AtomicBool,
}

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(f(f64::from_bits(b)).to_bits())
            });
        self.fresh.store(true, Ordering::Relaxed);
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.update(|_| value);
    }
}

#[derive(Default)]
struct HistogramCell(Mutex<Sketch>);

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        if let Ok(mut sketch) = self.0.lock() {
            sketch.record_n(value, 1);
        }
    }

    fn record_many(&self, value: f64, count: usize) {
        if let Ok(mut sketch) = self.0.lock() {
            sketch.record_n(value, count as u64);
        }
    }
}

impl Emf {
    /// A recorder for `service` with `settings`' namespace and dimensions.
    pub fn new(service: &str, settings: &EmfSettings) -> Self {
        let mut globals = vec![(SERVICE_DIMENSION.to_owned(), service.to_owned())];
        globals.extend(settings.dimensions.iter().cloned());
        Self {
            inner: Arc::new(Inner {
                namespace: settings.namespace.clone(),
                globals,
                series: RwLock::new(HashMap::new()),
                flushing: Mutex::new(()),
                overflow_warned: AtomicBool::new(false),
            }),
        }
    }

    fn series(&self, key: &Key, make: fn() -> Series) -> Option<Series> {
        if let Some(s) = self.inner.series.read().ok()?.get(key) {
            return Some(s.clone());
        }
        let mut map = self.inner.series.write().ok()?;
        if let Some(s) = map.get(key) {
            return Some(s.clone());
        }
        if map.len() >= MAX_SERIES {
            if !self.inner.overflow_warned.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    metric = key.name(),
                    max = MAX_SERIES,
                    "too many metric series (an unbounded label?); new series are dropped"
                );
            }
            return None;
        }
        let s = make();
        map.insert(key.clone(), s.clone());
        Some(s)
    }

    /// Writes one EMF document per label set with a value since the last flush; returns how many.
    pub fn flush_to(&self, out: &mut dyn Write) -> std::io::Result<usize> {
        let _one_at_a_time = self.inner.flushing.lock();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let series: Vec<(Key, Series)> = match self.inner.series.read() {
            Ok(map) => map.iter().map(|(k, s)| (k.clone(), s.clone())).collect(),
            Err(_) => return Ok(0),
        };
        // Label values -> (metric name, value, unit, dimension sets).
        type Entry = (String, Value, Option<&'static str>, Vec<Vec<String>>);
        let mut documents: BTreeMap<Vec<(String, String)>, Vec<Entry>> = BTreeMap::new();
        for (key, s) in series {
            let value = match &s {
                Series::Counter(c) => match c.0.swap(0, Ordering::Relaxed) {
                    0 => continue,
                    n => json!(n),
                },
                Series::Gauge(g) => {
                    if !g.fresh.swap(false, Ordering::Relaxed) {
                        continue;
                    }
                    json!(f64::from_bits(g.bits.load(Ordering::Relaxed)))
                }
                Series::Histogram(h) => {
                    let sketch = match h.0.lock() {
                        Ok(mut sketch) => std::mem::take(&mut *sketch),
                        Err(_) => continue,
                    };
                    if sketch.count == 0 {
                        continue;
                    }
                    sketch.to_emf()
                }
            };
            let labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            let declared = metric::declared(key.name());
            let sets: Vec<Vec<String>> = match declared {
                Some(m) => m
                    .dimensions
                    .iter()
                    .map(|set| set.iter().map(|d| (*d).to_owned()).collect())
                    .collect(),
                None => vec![labels.iter().map(|(k, _)| k.clone()).collect()],
            };
            documents.entry(labels).or_default().push((
                key.name().to_owned(),
                value,
                declared.map(|m| m.unit.as_str()),
                sets,
            ));
        }
        let global_names: Vec<String> = self.inner.globals.iter().map(|(k, _)| k.clone()).collect();
        let mut written = 0;
        for (labels, mut entries) in documents {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut root = Map::new();
            for (k, v) in self.inner.globals.iter().chain(&labels) {
                root.insert(k.clone(), Value::String(v.clone()));
            }
            // One directive per distinct dimension-set list (metrics of one label set share most of them).
            let mut directives: BTreeMap<Vec<Vec<String>>, Vec<Value>> = BTreeMap::new();
            for (name, value, unit, sets) in entries {
                let sets = sets
                    .into_iter()
                    .map(|set| {
                        let mut full = global_names.clone();
                        full.extend(set);
                        full
                    })
                    .collect();
                let mut definition = Map::new();
                definition.insert("Name".into(), Value::String(name.clone()));
                if let Some(unit) = unit {
                    definition.insert("Unit".into(), Value::String(unit.into()));
                }
                directives
                    .entry(sets)
                    .or_default()
                    .push(Value::Object(definition));
                root.insert(name, value);
            }
            let directives: Vec<Value> = directives
                .into_iter()
                .map(|(dimensions, metrics)| {
                    json!({"Namespace": self.inner.namespace, "Dimensions": dimensions, "Metrics": metrics})
                })
                .collect();
            root.insert(
                "_aws".into(),
                json!({"Timestamp": timestamp, "CloudWatchMetrics": directives}),
            );
            let mut line = serde_json::to_vec(&Value::Object(root)).unwrap_or_default();
            line.push(b'\n');
            out.write_all(&line)?;
            written += 1;
        }
        out.flush()?;
        Ok(written)
    }

    /// Flushes to stdout (one write per line, so lines never interleave with log lines).
    pub fn flush_stdout(&self) {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = self.flush_to(&mut lock);
    }
}

impl metrics::Recorder for Emf {
    fn describe_counter(&self, _: KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}

    fn register_counter(&self, key: &Key, _: &metrics::Metadata<'_>) -> Counter {
        match self.series(key, || Series::Counter(Arc::default())) {
            Some(Series::Counter(c)) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &metrics::Metadata<'_>) -> Gauge {
        match self.series(key, || Series::Gauge(Arc::default())) {
            Some(Series::Gauge(g)) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &metrics::Metadata<'_>) -> Histogram {
        match self.series(key, || Series::Histogram(Arc::default())) {
            Some(Series::Histogram(h)) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

static GLOBAL: OnceLock<Emf> = OnceLock::new();

/// Installs an EMF recorder for `service` as the global `metrics` recorder and starts the interval thread. A second
/// call (or another recorder already installed) changes nothing.
pub fn install(service: &str, settings: &EmfSettings) {
    let emf = Emf::new(service, settings);
    if metrics::set_global_recorder(emf.clone()).is_err() || GLOBAL.set(emf.clone()).is_err() {
        return;
    }
    metric::set_enabled();
    let interval = settings.interval;
    // A thread of its own, not a task: it flushes whatever the runtime is doing (current-thread workers too).
    let spawned = std::thread::Builder::new()
        .name("emf-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                emf.flush_stdout();
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the metrics flush thread; metrics are written at shutdown only");
    }
}

/// Writes what the global recorder aggregated so far (at shutdown, so the last partial interval is not lost).
pub fn flush() {
    if let Some(emf) = GLOBAL.get() {
        emf.flush_stdout();
    }
}

// --- histogram sketch -------------------------------------------------------------------------------------------

/// Bucket ratio: a value is reported as its bucket's midpoint, at most (γ-1)/(γ+1) ≈ 1 % off.
const GAMMA: f64 = 1.02;
/// Below this a value counts as zero (latencies and ages are never negative; a clock step is clamped).
const MIN_POSITIVE: f64 = 1e-9;

/// Log-bucketed counts with exact count, sum, min and max (the idea of DDSketch).
#[derive(Debug, Default)]
struct Sketch {
    bins: BTreeMap<i32, u64>,
    zeros: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Sketch {
    #[cfg(test)]
    fn record(&mut self, value: f64) {
        self.record_n(value, 1);
    }

    /// `value` seen `n` times.
    fn record_n(&mut self, value: f64, n: u64) {
        if !value.is_finite() || n == 0 {
            return;
        }
        let value = value.max(0.0);
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += n;
        self.sum += value * n as f64;
        if value < MIN_POSITIVE {
            self.zeros += n;
        } else {
            let index = (value.ln() / GAMMA.ln()).ceil() as i32;
            *self.bins.entry(index).or_default() += n;
        }
    }

    /// (value, count) pairs, ascending, at most [`MAX_VALUES`]: adjacent buckets merge (count-weighted mean) when
    /// more are in use.
    fn pairs(&self) -> Vec<(f64, u64)> {
        let mut pairs: Vec<(f64, u64)> = Vec::with_capacity(self.bins.len() + 1);
        if self.zeros > 0 {
            pairs.push((0.0, self.zeros));
        }
        for (index, count) in &self.bins {
            // Bucket (γ^(i-1), γ^i]: its midpoint, kept inside what was actually seen.
            let mid = 2.0 * GAMMA.powi(*index) / (GAMMA + 1.0);
            pairs.push((mid.clamp(self.min, self.max), *count));
        }
        if pairs.len() > MAX_VALUES {
            let per = pairs.len().div_ceil(MAX_VALUES);
            pairs = pairs
                .chunks(per)
                .map(|chunk| {
                    let n: u64 = chunk.iter().map(|(_, c)| c).sum();
                    let weighted: f64 = chunk.iter().map(|(v, c)| v * *c as f64).sum();
                    (weighted / n as f64, n)
                })
                .collect();
        }
        pairs
    }

    fn to_emf(&self) -> Value {
        let pairs = self.pairs();
        json!({
            "Values": pairs.iter().map(|(v, _)| round(*v)).collect::<Vec<_>>(),
            "Counts": pairs.iter().map(|(_, c)| c).collect::<Vec<_>>(),
            "Min": round(self.min),
            "Max": round(self.max),
            "Sum": round(self.sum),
            "Count": self.count,
        })
    }
}

/// Six significant digits: the sketch is 1 % accurate, more digits only lengthen the line.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return 0.0;
    }
    let digits = 6 - (v.abs().log10().floor() as i32 + 1);
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use metrics::Recorder;

    use super::*;
    use crate::metric::{Metric, Unit};

    const REQUESTS: Metric =
        Metric::counter("TestRequestCount", "requests").dimensions(&[&["Route"], &[]]);
    const LATENCY: Metric = Metric::histogram("TestRequestLatency", Unit::Milliseconds, "latency")
        .dimensions(&[&["Route"], &[]]);
    const LAG: Metric = Metric::gauge("TestLag", Unit::Seconds, "lag");

    fn settings() -> EmfSettings {
        EmfSettings {
            enabled: true,
            namespace: "Test".into(),
            dimensions: vec![("Environment".into(), "prod".into())],
            interval: Duration::from_secs(60),
        }
    }

    fn key(m: &Metric, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts(m.name, labels)
    }

    const META: metrics::Metadata<'static> =
        metrics::Metadata::new("test", metrics::Level::INFO, None);

    fn flush(emf: &Emf) -> Vec<Value> {
        let mut out = Vec::new();
        emf.flush_to(&mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn one_line_per_label_set_with_every_dimension_set_and_unit() {
        metric::declare(&[REQUESTS, LATENCY, LAG]);
        let emf = Emf::new("tasks", &settings());
        let route = [("Route", "GET /v1/tasks/{id}")];
        for ms in 1..=1000 {
            emf.register_counter(&key(&REQUESTS, &route), &META)
                .increment(1);
            emf.register_histogram(&key(&LATENCY, &route), &META)
                .record(ms as f64 / 10.0);
        }
        emf.register_gauge(&key(&LAG, &[]), &META).set(2.5);
        let docs = flush(&emf);
        assert_eq!(docs.len(), 2, "{docs:?}");
        let by_route = docs.iter().find(|d| d.get("Route").is_some()).unwrap();
        assert_eq!(by_route["Service"], "tasks");
        assert_eq!(by_route["Environment"], "prod");
        assert_eq!(by_route["Route"], "GET /v1/tasks/{id}");
        assert_eq!(by_route["TestRequestCount"], 1000);
        let directive = &by_route["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Test");
        assert_eq!(
            directive["Dimensions"],
            json!([
                ["Service", "Environment", "Route"],
                ["Service", "Environment"]
            ])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "TestRequestCount", "Unit": "Count"}, {"Name": "TestRequestLatency", "Unit": "Milliseconds"}])
        );
        assert!(by_route["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);

        let h = &by_route["TestRequestLatency"];
        let counts: Vec<u64> = h["Counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert!(counts.len() <= MAX_VALUES, "{} values", counts.len());
        assert_eq!(counts.iter().sum::<u64>(), 1000);
        assert_eq!(h["Count"], 1000);
        assert_eq!(h["Min"], 0.1);
        assert_eq!(h["Max"], 100.0);
        assert!((h["Sum"].as_f64().unwrap() - 50050.0).abs() < 0.01);
        // The median from Values/Counts, as CloudWatch would compute it: within a few percent of 50 ms.
        let values: Vec<f64> = h["Values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut seen = 0;
        let median = values
            .iter()
            .zip(&counts)
            .find(|(_, c)| {
                seen += **c;
                seen >= 500
            })
            .map(|(v, _)| *v)
            .unwrap();
        assert!((median - 50.0).abs() < 3.0, "median {median}");

        let lag = docs.iter().find(|d| d.get("TestLag").is_some()).unwrap();
        assert_eq!(lag["TestLag"], 2.5);
        assert_eq!(
            lag["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Environment"]])
        );

        // Deltas: nothing new, nothing written (no zero counters, no stale gauges).
        assert!(flush(&emf).is_empty());
        emf.register_counter(&key(&REQUESTS, &route), &META)
            .increment(2);
        let again = flush(&emf);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0]["TestRequestCount"], 2);
        assert!(again[0].get("TestRequestLatency").is_none());
    }

    #[test]
    fn a_sketch_keeps_its_error_bound_and_the_value_limit() {
        let mut sketch = Sketch::default();
        for v in [0.0, 1.0, 1.0, 10.0, 1e6] {
            sketch.record(v);
        }
        sketch.record(f64::NAN);
        sketch.record(-3.0); // clamped to zero
        let pairs = sketch.pairs();
        assert_eq!(pairs.iter().map(|p| p.1).sum::<u64>(), 6);
        assert_eq!(pairs[0], (0.0, 2));
        for (v, expected) in pairs[1..].iter().map(|p| p.0).zip([1.0, 10.0, 1e6]) {
            assert!((v - expected).abs() / expected < 0.011, "{v} vs {expected}");
        }
        // One value seen three times at once is three recordings of it.
        let (mut many, mut each) = (Sketch::default(), Sketch::default());
        many.record_n(2.5, 3);
        many.record_n(7.0, 0);
        for _ in 0..3 {
            each.record(2.5);
        }
        assert_eq!(many.pairs(), each.pairs());
        assert_eq!((many.count, many.sum), (3, 7.5));
        let mut wide = Sketch::default();
        for i in 0..5000 {
            wide.record(1.001f64.powi(i * 5));
        }
        let pairs = wide.pairs();
        assert!(pairs.len() <= MAX_VALUES);
        assert_eq!(pairs.iter().map(|p| p.1).sum::<u64>(), 5000);
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "ascending");
    }

    #[test]
    fn dimensions_name_the_variable_on_bad_input() {
        assert_eq!(
            parse_dimensions("Environment=prod, Team=core").unwrap(),
            vec![
                ("Environment".to_owned(), "prod".to_owned()),
                ("Team".to_owned(), "core".to_owned())
            ]
        );
        assert!(parse_dimensions("").unwrap().is_empty());
        for bad in ["Environment", "Service=x", "=x", "A=1,A=2", "A="] {
            let e = parse_dimensions(bad).unwrap_err();
            assert!(e.to_string().contains("METRICS_DIMENSIONS"), "{e}");
        }
    }
}
