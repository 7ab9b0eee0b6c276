//! `GET /metrics`: counts of requests per method, route and status, and a histogram of recall
//! latencies, in the Prometheus exposition format (OpenMetrics text, which Prometheus scrapes),
//! from `prometheus-client`, the Prometheus project's Rust client.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's pattern (`/v1/spaces/{space}/recall`), never the path a client sent, so
    /// that the number of series stays bounded.
    route: String,
    status: u16,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    recall_seconds: Histogram,
    in_flight: Gauge,
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "engram_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        // 0.1 ms to about 3.3 s, doubling.
        let recall_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "engram_recall_duration_seconds",
            "Time to answer POST /v1/spaces/{space}/recall, from request to response",
            recall_seconds.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "engram_http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            recall_seconds,
            in_flight,
        }
    }

    /// A request began.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// A request was answered.
    pub fn answered(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        if route == super::routes::RECALL_ROUTE {
            self.recall_seconds.observe(seconds);
        }
    }

    /// Every metric, as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
