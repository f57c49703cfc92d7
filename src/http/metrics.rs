//! Prometheus metrics: requests and latency per route (the route pattern, never the raw path,
//! so ids do not explode the series count), database pool use, and incidents' time to
//! acknowledge and to resolve per service. The incident histograms are observed by the
//! instance that commits the change, once per incident (`domain::analytics::committed`), so
//! summing the instances' series does not count one twice.

use crate::domain::analytics;
use crate::domain::ids::IncidentId;
use crate::store::Db;
use crate::store::incidents::{self as incident_store, LoadedIncident};
use chrono::{DateTime, Utc};
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
    to_acknowledge: HistogramVec,
    to_resolve: HistogramVec,
}

/// Incident durations, from seconds to a day: 15 s, 30 s, 1, 2, 5, 10, 15 and 30 minutes,
/// 1, 2, 4, 8 and 24 hours.
const INCIDENT_BUCKETS: [f64; 13] = [
    15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0,
    86_400.0,
];

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
        let to_acknowledge = HistogramVec::new(
            HistogramOpts::new(
                "rota_incident_seconds_to_acknowledge",
                "Seconds from an incident's opening to its first acknowledgement, by service (id); observed by the instance that committed the acknowledgement.",
            )
            .buckets(INCIDENT_BUCKETS.to_vec()),
            &["service"],
        )
        .expect("static metric definition");
        let to_resolve = HistogramVec::new(
            HistogramOpts::new(
                "rota_incident_seconds_to_resolve",
                "Seconds from an incident's opening to its resolution, by service (id); observed by the instance that committed the resolution.",
            )
            .buckets(INCIDENT_BUCKETS.to_vec()),
            &["service"],
        )
        .expect("static metric definition");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(skipped_passes.clone()),
            Box::new(to_acknowledge.clone()),
            Box::new(to_resolve.clone()),
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
            to_acknowledge,
            to_resolve,
        }
    }

    /// Observes the acknowledgements and resolutions committed at `at` among `changed`:
    /// what `use_cases::incidents::change_status` (or `change_status_in`) returned for a
    /// change made at `at`. An incident counts when its first acknowledgement, or its
    /// resolution, was made at that instant: one that was already so (the change did nothing),
    /// reassigned or escalated adds nothing.
    pub fn incidents_changed(&self, changed: &[LoadedIncident], at: DateTime<Utc>) {
        let at = crate::clock::stored(at);
        for i in changed {
            let inc = &i.incident;
            let first_ack = i.acknowledgements.first().map(|e| e.created_at);
            let c =
                analytics::committed(inc.status, inc.created_at, first_ack, inc.resolved_at, at);
            let service = [inc.service_id.as_str()];
            if let Some(seconds) = c.to_first_ack {
                self.to_acknowledge
                    .with_label_values(&service)
                    .observe(seconds);
            }
            if let Some(seconds) = c.to_resolve {
                self.to_resolve.with_label_values(&service).observe(seconds);
            }
        }
    }

    /// `incidents_changed` for callers that hold only the ids of the incidents they changed
    /// at `at` (the Events API, e-mail links): reads them first. Call it after the commit; a
    /// failed read is logged and skipped, never the caller's error.
    pub async fn incidents_committed(&self, db: &Db, ids: Vec<IncidentId>, at: DateTime<Utc>) {
        let read = db
            .run(move |conn| {
                ids.iter()
                    .map(|id| incident_store::load(conn, id))
                    .collect::<crate::error::AppResult<Vec<_>>>()
            })
            .await;
        match read {
            Ok(changed) => self.incidents_changed(&changed, at),
            Err(e) => tracing::warn!(error = %e, "cannot read changed incidents for their metrics"),
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
