//! `GET /metrics`: what operators watch, in the Prometheus text format (0.0.4), through
//! `prometheus-client`.
//!
//! Two kinds of series. Events are counted as they happen ([`Metrics::record_call`]): calls by
//! connector, function and outcome, and their duration and fuel. State is read at scrape time
//! ([`State`], a collector): instances in use, calls running and queued per connector, modules
//! loaded, loading and failed, load failures and reloads, outbound requests per connector.
//!
//! Labels are bounded by what the operator deployed, never by what a request says: `connector`
//! is a loaded module's id, `function` a name from its manifest (a call that did not resolve to
//! one is counted under `""`), and `outcome` is `ok`, one of the host's own error codes, or
//! `function_error` (a function's own codes are free text and stay out of the labels).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry as Prom;

use crate::error::ApiError;
use crate::registry::Registry;
use crate::runtime::Runtime;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Labels of one call.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct CallLabels {
    connector: Arc<str>,
    function: Arc<str>,
    outcome: &'static str,
}

impl EncodeLabelSet for CallLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        labels(
            encoder,
            &[
                ("connector", &self.connector),
                ("function", &self.function),
                ("outcome", self.outcome),
            ],
        )
    }
}

/// Labels of a per-connector series.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Connector(Arc<str>);

impl EncodeLabelSet for Connector {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        labels(encoder, &[("connector", &self.0)])
    }
}

/// Labels of a per-connector series split by one more dimension.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct ConnectorAnd(Arc<str>, &'static str, &'static str);

impl EncodeLabelSet for ConnectorAnd {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        labels(encoder, &[("connector", &self.0), (self.1, self.2)])
    }
}

fn labels(encoder: &mut LabelSetEncoder, pairs: &[(&str, &str)]) -> Result<(), std::fmt::Error> {
    for pair in pairs {
        EncodeLabel::encode(pair, encoder.encode_label())?;
    }
    Ok(())
}

/// Exponential histogram buckets: start, factor, count.
#[derive(Clone, Copy)]
struct Buckets(f64, f64, u16);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.0, self.1, self.2))
    }
}

type HistogramFamily = Family<Connector, Histogram, Buckets>;

/// Registers a per-connector histogram family.
fn histograms(prom: &mut Prom, name: &str, help: &str, buckets: Buckets) -> HistogramFamily {
    let family = HistogramFamily::new_with_constructor(buckets);
    prom.register(name, help, family.clone());
    family
}

/// The host's metrics.
pub struct Metrics {
    registry: Prom,
    calls: Family<CallLabels, Counter>,
    duration: HistogramFamily,
    fuel: HistogramFamily,
}

/// What one call leaves for the metrics: who it reached (if it resolved) and the fuel it used.
#[derive(Debug, Default)]
pub struct CallRecord {
    /// The plugin's id, once resolved.
    pub connector: Option<Arc<str>>,
    /// The function's manifest name, once resolved.
    pub function: Option<Arc<str>>,
    /// Fuel the guest used, if it ran.
    pub fuel: Option<u64>,
}

impl Metrics {
    /// The metrics of a host serving `registry` on `runtime`.
    pub fn new(registry: Arc<Registry>, runtime: Arc<Runtime>) -> Self {
        let mut prom = Prom::with_prefix("extension_host");
        let calls = Family::<CallLabels, Counter>::default();
        prom.register(
            "calls",
            "Calls answered, by connector, function and outcome (ok, a host error code, or function_error)",
            calls.clone(),
        );
        // 0.5 ms to ~65 s; 100 k to ~100 G fuel units.
        let duration = histograms(
            &mut prom,
            "call_duration_seconds",
            "Time from a call's start to its answer, by connector",
            Buckets(0.0005, 4.0, 9),
        );
        let fuel = histograms(
            &mut prom,
            "call_fuel",
            "Fuel a call's guest used, by connector",
            Buckets(1e5, 10.0, 7),
        );
        prom.register_collector(Box::new(State { registry, runtime }));
        Self {
            registry: prom,
            calls,
            duration,
            fuel,
        }
    }

    /// Counts one call (that passed authentication) with its outcome.
    pub fn record_call<T>(
        &self,
        record: &CallRecord,
        outcome: &Result<T, ApiError>,
        elapsed: Duration,
    ) {
        let connector = record.connector.clone().unwrap_or_else(|| "".into());
        let labels = CallLabels {
            connector: connector.clone(),
            function: record.function.clone().unwrap_or_else(|| "".into()),
            outcome: match outcome {
                Ok(_) => "ok",
                Err(err) => err.metric_code(),
            },
        };
        self.calls.get_or_create(&labels).inc();
        if record.connector.is_some() {
            let connector = Connector(connector);
            self.duration
                .get_or_create(&connector)
                .observe(elapsed.as_secs_f64());
            if let Some(fuel) = record.fuel {
                self.fuel.get_or_create(&connector).observe(fuel as f64);
            }
        }
    }

    /// Every series, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The series read from the host's state at each scrape.
struct State {
    registry: Arc<Registry>,
    runtime: Arc<Runtime>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let metric = encoder.encode_descriptor(name, &help, None, MetricType::Gauge)?;
    ConstGauge::new(value as i64).encode(metric)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let metric = encoder.encode_descriptor(name, &help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// One series per loaded plugin, labelled by the label set `labels` gives it.
fn per_plugin<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    snapshot: &crate::registry::Snapshot,
    (name, help, kind): (&str, &str, MetricType),
    series: impl Fn(&crate::registry::Plugin) -> Vec<(L, u64)>,
) -> Result<(), std::fmt::Error> {
    let help = format!("{help}.");
    let mut family = encoder.encode_descriptor(name, &help, None, kind)?;
    for plugin in snapshot.plugins() {
        for (labels, value) in series(plugin) {
            let metric = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value).encode(metric)?,
                _ => ConstGauge::new(value as i64).encode(metric)?,
            }
        }
    }
    Ok(())
}

impl prometheus_client::collector::Collector for State {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let snapshot = self.registry.current();
        let stats = &self.registry.stats;
        gauge(
            e,
            "instances_in_use",
            "Plugin instances running a call now",
            self.runtime.instances_in_use(),
        )?;
        gauge(
            e,
            "instances_max",
            "Plugin instances the host runs at once (--max-instances)",
            u64::from(self.runtime.options.max_instances),
        )?;
        gauge(
            e,
            "modules_loaded",
            "Modules serving calls",
            snapshot.plugins().count() as u64,
        )?;
        gauge(
            e,
            "modules_loading",
            "Modules found but not loaded yet",
            snapshot.loading.len() as u64,
        )?;
        gauge(
            e,
            "modules_failed",
            "Module files refused or failing to load now",
            snapshot.failures.len() as u64,
        )?;
        counter(
            e,
            "module_load_failures",
            "Module loads that failed",
            stats.load_failures.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "reloads",
            "Passes over the plugins directory after a change",
            stats.reloads.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "ready",
            "1 once every module found at start has loaded or failed",
            u64::from(self.registry.ready()),
        )?;
        per_plugin(
            e,
            &snapshot,
            (
                "calls_running",
                "Calls running now, by connector",
                MetricType::Gauge,
            ),
            |p| vec![(Connector(p.id.clone()), p.share.running())],
        )?;
        per_plugin(
            e,
            &snapshot,
            (
                "calls_queued",
                "Calls waiting for a slot in their connector's share, by connector",
                MetricType::Gauge,
            ),
            |p| vec![(Connector(p.id.clone()), p.share.queued())],
        )?;
        per_plugin(
            e,
            &snapshot,
            (
                "outbound_requests",
                "Outbound HTTP requests of guests, by connector and outcome (sent, denied by the policy)",
                MetricType::Counter,
            ),
            |p| {
                let s = &p.network.stats;
                let (all, denied) = (
                    s.requests.load(Ordering::Relaxed),
                    s.denied.load(Ordering::Relaxed),
                );
                vec![
                    (
                        ConnectorAnd(p.id.clone(), "outcome", "sent"),
                        all.saturating_sub(denied),
                    ),
                    (ConnectorAnd(p.id.clone(), "outcome", "denied"), denied),
                ]
            },
        )?;
        per_plugin(
            e,
            &snapshot,
            (
                "outbound_response_bytes",
                "Response body bytes guests read from outbound requests, by connector",
                MetricType::Counter,
            ),
            |p| {
                vec![(
                    Connector(p.id.clone()),
                    p.network.stats.bytes.load(Ordering::Relaxed),
                )]
            },
        )
    }
}
