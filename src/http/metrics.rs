//! Prometheus metrics: requests and latency per route (the route pattern, never the raw path,
//! so ids do not explode the series count) and database pool use.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    refusals: IntCounterVec,
    skipped_passes: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "rota_http_requests_total",
                "HTTP requests answered, by method, route and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "rota_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("static metric definition");
        let pool = IntGaugeVec::new(
            Opts::new(
                "rota_db_pool_connections",
                "Database pool connections by state (open, idle, max).",
            ),
            &["state"],
        )
        .expect("static metric definition");
        let refusals = IntCounterVec::new(
            Opts::new(
                "rota_sign_in_refusals_total",
                "Refused sign-ins and wrong break-glass passwords, by reason (every one, also those the audit trail records once per burst).",
            ),
            &["reason"],
        )
        .expect("static metric definition");
        let skipped_passes = IntCounterVec::new(
            Opts::new(
                "rota_job_passes_skipped_total",
                "Background job passes this instance skipped because the database requires a newer version of the job (a rolling upgrade in progress), by job.",
            ),
            &["job"],
        )
        .expect("static metric definition");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(skipped_passes.clone()),
            Box::new(latency.clone()),
            Box::new(pool.clone()),
            Box::new(refusals.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            latency,
            pool,
            refusals,
            skipped_passes,
        }
    }

    /// The counter of skipped job passes, for the jobs' gates (`jobs::processing::Gate`).
    pub fn skipped_passes(&self) -> IntCounterVec {
        self.skipped_passes.clone()
    }

    /// Counts a refused sign-in (`reason` is one of a fixed set of words).
    pub fn sign_in_refused(&self, reason: &str) {
        self.refusals.with_label_values(&[reason]).inc();
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut buf = itoa::Buffer::new();
        self.requests
            .with_label_values(&[method, route, buf.format(status)])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The exposition text, with the pool gauges read at scrape time.
    pub fn render(&self, pool: (u32, u32, u32)) -> String {
        let (open, idle, max) = pool;
        self.pool.with_label_values(&["open"]).set(open.into());
        self.pool.with_label_values(&["idle"]).set(idle.into());
        self.pool.with_label_values(&["max"]).set(max.into());
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
