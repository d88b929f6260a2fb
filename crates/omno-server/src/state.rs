//! Shared application state handed to every handler, flow and worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use omno_psp::Connectors;
use omno_store::Store;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Settings;
use crate::security::Keys;

/// Everything a request needs; cloning it is one reference-count increment (axum clones the
/// state for every extractor and middleware of every request).
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: StateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct StateInner {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Keys and crypto.
    pub keys: Arc<Keys>,
    /// PSP connectors.
    pub connectors: Connectors,
    /// Origin of hosted URLs (no trailing slash).
    pub public_base_url: Arc<str>,
    /// Wakes the payout worker when PSP work is committed.
    pub wake_payouts: Arc<Notify>,
    /// Wakes the webhook worker when events are committed.
    pub wake_deliveries: Arc<Notify>,
    /// Identifies this process in worker leases.
    pub node_id: Arc<str>,
    /// Routing configuration cache (accounts, routers, FX rates).
    pub config: Arc<crate::config_cache::ConfigCache>,
    /// Set when shutdown starts (`/ready` turns 503).
    pub shutting_down: Arc<AtomicBool>,
    /// Per-merchant request limiter of `/public/**` (§1.10).
    pub rate_limiter: Arc<crate::rate_limit::RateLimiter>,
    /// Renders `/metrics`; `None` when `metrics.enabled` is false (§14).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl AppState {
    /// Whether graceful shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Tells the workers what a commit created: PSP work (`payouts`) and the given outbox
    /// `events` (the delivery worker is woken only if one of them got a delivery target).
    pub fn committed(&self, payouts: bool, events: &[omno_store::NewEvent]) {
        self.committed_deliveries(payouts, omno_store::NewEvent::any_delivery(events));
    }

    /// [`AppState::committed`] for callers whose events were moved into the write:
    /// `deliveries` says whether new webhook deliveries were committed.
    pub fn committed_deliveries(&self, payouts: bool, deliveries: bool) {
        if payouts {
            self.wake_payouts.notify_one();
        }
        if deliveries {
            self.wake_deliveries.notify_one();
        }
    }

    /// Absolute URL of a path under the public origin.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_base_url)
    }

    /// Absolute URL of a hosted page with a fresh token valid until `expires` (§11.1):
    /// `/hpp/{kind}/{id}/{page}?token=…`, built in one buffer (two per created transaction).
    pub fn page_url(&self, kind: &str, id: &str, page: &str, expires: OffsetDateTime) -> String {
        let mut u = String::with_capacity(self.public_base_url.len() + 180);
        for part in [
            &*self.public_base_url,
            "/hpp/",
            kind,
            "/",
            id,
            "/",
            page,
            "?token=",
        ] {
            u.push_str(part);
        }
        self.keys.push_page_token(&mut u, kind, id, page, expires);
        u
    }
}
