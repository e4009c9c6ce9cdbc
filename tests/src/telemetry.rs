//! Observability test support: an OTLP/HTTP receiver inside the test process (what the ADOT sidecar is in ECS),
//! binaries spawned with their stdout captured, and the check of EMF lines against `metrics-contract.json`.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
};
use prost::Message;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

/// One span as the receiver decoded it (ids in lowercase hex; a root span has an empty parent).
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    /// OTLP `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// String and integer attributes.
    pub attributes: BTreeMap<String, String>,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
}

pub const SERVER: i32 = 2;
pub const PRODUCER: i32 = 4;
pub const CONSUMER: i32 = 5;

/// An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1:0.
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    stop: CancellationToken,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let app = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the OTLP receiver");
        let addr = listener.local_addr().expect("bound");
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
        });
        Self { addr, spans, stop }
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("lock").clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<ReceivedSpan>>>>,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(AnyValue::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                let attributes = span
                    .attributes
                    .iter()
                    .filter_map(|kv| {
                        let value = match kv.value.as_ref()?.value.as_ref()? {
                            AnyValue::StringValue(s) => s.clone(),
                            AnyValue::IntValue(i) => i.to_string(),
                            AnyValue::BoolValue(b) => b.to_string(),
                            _ => return None,
                        };
                        Some((kv.key.clone(), value))
                    })
                    .collect();
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    attributes,
                    status: span.status.map(|s| s.code).unwrap_or(0),
                });
            }
        }
    }
    spans.lock().expect("lock").extend(received);
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// A child process whose stdout lines are kept (EMF and JSON logs both go there); stderr is inherited.
pub struct Captured {
    pub name: String,
    pub child: tokio::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Captured {
    /// Spawns `bin` with exactly `env` (the environment is cleared, like ECS), stdout captured, killed on drop.
    pub fn spawn(name: &str, bin: &str, env: &[(String, String)]) -> Self {
        let mut child = tokio::process::Command::new(bin)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        let reader = tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().expect("lock").push(line);
            }
        });
        Self {
            name: name.to_owned(),
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// SIGTERM, then waits (at most `deadline`) for a zero exit and the end of its output.
    pub async fn stop(&mut self, deadline: Duration) {
        let pid = self.child.id().expect("child is running") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {deadline:?}", self.name))
            .expect("wait");
        assert!(status.success(), "{} exited with {status}", self.name);
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
    }

    /// The EMF documents among the lines (JSON objects with an `_aws` member).
    pub fn emf(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }

    /// The last `n` lines, for assertion messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// `metrics-contract.json` of this repository.
pub fn metrics_contract() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../metrics-contract.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("metrics-contract.json is JSON")
}

/// Checks one EMF document against the EMF specification's structure and the contract: the namespace, every
/// metric declared with its unit and emitted by `service`, every dimension set = the global dimensions (`Service`
/// and `extra`) plus one of the metric's declared sets, every dimension a string member of the root, every value of
/// the declared kind's shape (a histogram at most 100 values, its counts adding up to its count). Returns the
/// (metric, value) pairs.
pub fn check_emf(
    doc: &Value,
    contract: &Value,
    namespace: &str,
    service: &str,
    extra: &[&str],
) -> Vec<(String, Value)> {
    let metrics: BTreeMap<&str, &Value> = contract["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| (m["name"].as_str().expect("name"), m))
        .collect();
    let root = doc.as_object().expect("an EMF document is an object");
    let aws = &doc["_aws"];
    assert!(
        aws["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "Timestamp (epoch ms): {doc}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty(), "{doc}");
    assert_eq!(root["Service"], service, "{doc}");
    let mut out = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], namespace, "{doc}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        assert!(!sets.is_empty(), "{doc}");
        for m in directive["Metrics"].as_array().expect("Metrics") {
            let name = m["Name"].as_str().expect("Name");
            let declared = metrics
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not in metrics-contract.json: {doc}"));
            assert_eq!(m["Unit"], declared["unit"], "{name}: unit");
            assert!(
                declared["emitted_by"]
                    .as_array()
                    .expect("emitted_by")
                    .iter()
                    .any(|b| b == service),
                "{service} emits {name}, which the contract does not say it does"
            );
            let allowed: Vec<Vec<String>> = declared["dimensions"]
                .as_array()
                .expect("dimensions")
                .iter()
                .map(|set| {
                    let mut full: Vec<String> = std::iter::once("Service")
                        .chain(extra.iter().copied())
                        .map(str::to_owned)
                        .collect();
                    full.extend(
                        set.as_array()
                            .expect("set")
                            .iter()
                            .map(|d| d.as_str().expect("dimension").to_owned()),
                    );
                    full.sort();
                    full
                })
                .collect();
            for set in sets {
                let mut names: Vec<String> = set
                    .as_array()
                    .expect("a dimension set is an array")
                    .iter()
                    .map(|d| d.as_str().expect("dimension name").to_owned())
                    .collect();
                for d in &names {
                    assert!(
                        root.get(d).is_some_and(Value::is_string),
                        "dimension {d} has no string value: {doc}"
                    );
                }
                names.sort();
                assert!(
                    allowed.contains(&names),
                    "{name}: dimension set {names:?} is not one of {allowed:?}"
                );
            }
            let value = root
                .get(name)
                .unwrap_or_else(|| panic!("{name} has no value: {doc}"));
            match declared["kind"].as_str() {
                Some("counter") => {
                    assert!(value.as_u64().is_some_and(|n| n > 0), "{name}: {value}")
                }
                Some("gauge") => assert!(value.is_number(), "{name}: {value}"),
                Some("histogram") => {
                    let values = value["Values"].as_array().expect("Values");
                    let counts = value["Counts"].as_array().expect("Counts");
                    assert!(!values.is_empty() && values.len() <= 100, "{name}: {value}");
                    assert_eq!(values.len(), counts.len(), "{name}: {value}");
                    let total: u64 = counts.iter().map(|c| c.as_u64().expect("count")).sum();
                    assert_eq!(Some(total), value["Count"].as_u64(), "{name}: {value}");
                    for stat in ["Min", "Max", "Sum"] {
                        assert!(value[stat].is_number(), "{name}: {stat}");
                    }
                }
                other => panic!("{name}: unknown kind {other:?}"),
            }
            out.push((name.to_owned(), value.clone()));
        }
    }
    out
}

/// The sum of a counter over documents, optionally only those whose `label` member equals `value`.
pub fn counter_sum(docs: &[Value], metric: &str, label: Option<(&str, &str)>) -> u64 {
    docs.iter()
        .filter(|d| label.is_none_or(|(k, v)| d[k] == v))
        .filter_map(|d| d[metric].as_u64())
        .sum()
}
