//! Prometheus metrics (API.md §14): the process-wide recorder, the recording helpers the
//! middleware, flows and workers call, and the `/metrics` endpoint.
//!
//! The `metrics` facade has one global recorder per process, so it is installed once
//! ([`install`]) and every [`AppState`] of the process renders from the same handle (tests start
//! many servers in one process; their counters add up). Without an installed recorder, every
//! helper here is a no-op. Labels never carry ids of transactions: `route` is the matched path
//! template, `psp_account` the account id.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{self, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use omno_psp::{Definite, QueryOutcome, SubmitOutcome};

use crate::error::ApiError;
use crate::state::AppState;

/// `route` label of requests that matched no route (unknown paths are never labels).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Buckets of both duration histograms, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder on first call and returns its handle; later
/// calls return the same handle. `None` if another recorder was installed first (logged).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("omno_http_requests_total", "HTTP requests answered");
    describe_histogram!(
        "omno_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_counter!(
        "omno_transactions_total",
        "Transaction status changes announced (one per row of API.md §8.1/§8.2)"
    );
    describe_counter!("omno_psp_requests_total", "Calls to PSP connectors");
    describe_histogram!(
        "omno_psp_request_duration_seconds",
        Unit::Seconds,
        "PSP connector call latency"
    );
    describe_counter!(
        "omno_webhook_deliveries_total",
        "Webhook delivery attempts by outcome"
    );
    describe_gauge!(
        "omno_webhook_pending",
        "Webhook deliveries waiting to be sent"
    );
    describe_gauge!(
        "omno_sync_pending",
        "Payouts with an unknown PSP outcome waiting for status sync"
    );
}

/// The handles of one (method, status) under a route: the request counter and the duration
/// histogram (the histogram has no `status` label).
struct RouteHandles {
    method: http::Method,
    status: u16,
    count: metrics::Counter,
    duration: metrics::Histogram,
}

/// Handles per route template, registered on first use: a request then costs a map lookup and
/// two atomic updates instead of label allocation and a registry lookup. Routes are templates
/// (or [`UNMATCHED_ROUTE`]), so the map stays as small as the API.
static HTTP: LazyLock<RwLock<HashMap<String, Vec<RouteHandles>>>> = LazyLock::new(RwLock::default);

/// Records one answered HTTP request.
pub fn http_request(method: &http::Method, route: &str, status: u16, elapsed: Duration) {
    // Without an installed recorder there is nothing to record (and a handle cached now would be
    // a no-op forever, even after a later `install`).
    if !matches!(HANDLE.get(), Some(Some(_))) {
        return;
    }
    let record = |h: &RouteHandles| {
        h.count.increment(1);
        h.duration.record(elapsed.as_secs_f64());
    };
    {
        let map = HTTP.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = map
            .get(route)
            .and_then(|v| v.iter().find(|h| h.status == status && h.method == method))
        {
            record(h);
            return;
        }
    }
    let handles = RouteHandles {
        method: method.clone(),
        status,
        count: metrics::counter!(
            "omno_http_requests_total",
            "method" => method.to_string(),
            "route" => route.to_string(),
            "status" => status.to_string()
        ),
        duration: metrics::histogram!(
            "omno_http_request_duration_seconds",
            "method" => method.to_string(),
            "route" => route.to_string()
        ),
    };
    record(&handles);
    HTTP.write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(route.to_string())
        .or_default()
        .push(handles);
}

/// Counter handles of `omno_transactions_total` by (kind, status): a handful, found without
/// hashing the labels on every change.
static TRANSACTIONS: RwLock<Vec<(&str, &str, metrics::Counter)>> = RwLock::new(Vec::new());

/// Records one committed status change of a transaction (`kind` `PAYOUT`/`PAYIN`).
pub fn transaction(kind: &'static str, status: &'static str) {
    // As in `http_request`: nothing to record (or cache) before a recorder is installed.
    if !matches!(HANDLE.get(), Some(Some(_))) {
        return;
    }
    let same = |e: &&(&str, &str, metrics::Counter)| e.0 == kind && e.1 == status;
    {
        let v = TRANSACTIONS.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, c)) = v.iter().find(same) {
            c.increment(1);
            return;
        }
    }
    let mut v = TRANSACTIONS.write().unwrap_or_else(PoisonError::into_inner);
    let i = v.iter().position(|e| same(&e)).unwrap_or_else(|| {
        let c = metrics::counter!("omno_transactions_total", "kind" => kind, "status" => status);
        v.push((kind, status, c));
        v.len() - 1
    });
    v[i].2.increment(1);
}

fn psp_request(account: &str, operation: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(
        "omno_psp_requests_total",
        "psp_account" => account.to_string(),
        "operation" => operation,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "omno_psp_request_duration_seconds",
        "psp_account" => account.to_string(),
        "operation" => operation
    )
    .record(elapsed.as_secs_f64());
}

fn definite(d: &Definite) -> &'static str {
    match d {
        Definite::Succeeded { .. } => "succeeded",
        Definite::Failed { .. } => "failed",
    }
}

/// Records a payout submission (`None` = timed out).
pub fn psp_submit(account: &str, outcome: Option<&SubmitOutcome>, elapsed: Duration) {
    let label = match outcome {
        None => "timeout",
        Some(SubmitOutcome::Done(d)) => definite(d),
        Some(SubmitOutcome::Accepted { .. }) => "accepted",
        Some(SubmitOutcome::Ambiguous { .. }) => "ambiguous",
    };
    psp_request(account, "submit_payout", label, elapsed);
}

/// Records a payin submission.
pub fn psp_payin(account: &str, outcome: &omno_psp::PayinOutcome, elapsed: Duration) {
    use omno_psp::PayinOutcome as O;
    let label = match outcome {
        O::Succeeded { .. } => "succeeded",
        O::Declined { .. } => "declined",
        O::Failed { .. } => "failed",
        O::ThreeDsRequired { .. } => "three_ds",
        O::Accepted { .. } => "accepted",
        O::Ambiguous { .. } => "ambiguous",
    };
    psp_request(account, "submit_payin", label, elapsed);
}

/// Records a payout status query (`None` = timed out).
pub fn psp_query(account: &str, outcome: Option<&QueryOutcome>, elapsed: Duration) {
    let label = match outcome {
        None => "timeout",
        Some(QueryOutcome::Done(d)) => definite(d),
        Some(QueryOutcome::InProgress) => "in_progress",
        Some(QueryOutcome::NotExecuted) => "not_executed",
        Some(QueryOutcome::NoAnswer) => "no_answer",
    };
    psp_request(account, "query_payout", label, elapsed);
}

/// Records one webhook delivery attempt: `delivered`, `retry` (failed, will retry) or `dead`.
pub fn webhook_delivery(outcome: &'static str) {
    metrics::counter!("omno_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// Keeps histograms bounded between scrapes; the worker calls it periodically.
pub fn upkeep() {
    if let Some(Some(h)) = HANDLE.get() {
        h.run_upkeep();
    }
}

/// `GET /metrics`: Prometheus text format 0.0.4. 404 when `metrics.enabled` is false. Not part
/// of the OpenAPI document (it is not JSON).
pub async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::NotFound);
    };
    // Gauges are read from the database when scraped, so every node reports the same backlog.
    let webhooks = state.store.pending_deliveries().await?;
    let syncing = state.store.syncing_payouts().await?;
    metrics::gauge!("omno_webhook_pending").set(webhooks as f64);
    metrics::gauge!("omno_sync_pending").set(syncing as f64);
    handle.run_upkeep();
    let mut res = (StatusCode::OK, handle.render()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(res)
}
