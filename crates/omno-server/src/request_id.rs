//! `X-Request-Id` (API.md §1.1): echoed when the caller's is 1–128 printable ASCII characters,
//! otherwise generated (32 hex). Every log line of the request carries it through the span.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tracing::Instrument;

use crate::telemetry::UNMATCHED_ROUTE;

/// The id of the current request, in request extensions (a header value: cloning it does not
/// copy the id).
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text (always printable ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

const HEADER: &str = "x-request-id";

fn acceptable(v: &str) -> bool {
    (1..=128).contains(&v.len()) && v.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The middleware of every request, in one layer (each `from_fn` layer costs a service clone and
/// a boxed future per request): assigns the id, opens the request span, bounds the request by
/// `timeout` (504 `TIMEOUT` after it), applies the admin `Idempotency-Key` handling to `/admin/`
/// paths when given the `state` ([`crate::admin_idempotency`]), renders error answers into the
/// envelope ([`crate::error::render`]), sets the header, and records the outcome: one info log
/// line (request id, method, route, status, latency) and the HTTP metrics.
///
/// Layered with `Router::layer`, it runs after routing, so [`MatchedPath`] names the route
/// template; requests that matched no route are labelled [`UNMATCHED_ROUTE`] in metrics.
pub async fn request_id(
    mut req: Request,
    next: Next,
    timeout: Option<Duration>,
    state: Option<crate::state::AppState>,
) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .filter(|v| v.to_str().is_ok_and(acceptable))
        .cloned()
        .unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let id = RequestId(id);
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!("request", request_id = id.as_str());
    let started = std::time::Instant::now();
    // Cheap clone (shared bytes): the envelope of an error answer names the path.
    let uri = req.uri().clone();
    // The route's future is built in the awaited expression, never bound to a local: a local
    // moved into a wrapper keeps its own slot in this future, which the middleware copies into
    // the heap on every request (it was 5.4 KB, twice the route's future).
    let res = match timeout {
        Some(t) => tokio::time::timeout(t, run_route(req, next, state))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| crate::error::ApiError::Timeout.into_response()),
        None => run_route(req, next, state).instrument(span.clone()).await,
    };
    let mut res = span.in_scope(|| crate::error::render(res, &uri, id.as_str()));
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    crate::telemetry::http_request(&method, route, status, elapsed);
    tracing::info!(
        request_id = id.as_str(),
        method = %method,
        route,
        status,
        latency_ms = elapsed.as_millis() as u64,
        "request"
    );
    res.headers_mut().insert(HEADER, id.0);
    res
}

/// Runs the matched route, through the admin `Idempotency-Key` handling for `/admin/` paths
/// when given the `state`. The admin handling's future is large and boxed, so that the future of
/// every other request stays small.
async fn run_route(req: Request, next: Next, state: Option<crate::state::AppState>) -> Response {
    match state {
        Some(s) if req.uri().path().starts_with("/admin/") => {
            Box::pin(crate::admin_idempotency::admin_idempotency(
                axum::extract::State(s),
                req,
                next,
            ))
            .await
        }
        Some(_) | None => next.run(req).await,
    }
}

/// A fresh id: 32 lowercase hex digits of a random UUID.
fn generate() -> HeaderValue {
    let mut buf = [0u8; 32];
    let hex = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    HeaderValue::from_str(hex).unwrap_or(HeaderValue::from_static("0"))
}
