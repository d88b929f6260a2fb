//! The omno HTTP server: the OMNO API routes, the flows behind them, the background worker and
//! the hosted pages.
//!
//! # Layout
//! - [`config`]: typed [`config::Settings`] (API.md §16).
//! - [`state`]: [`state::AppState`], shared by handlers, flows and workers.
//! - [`error`], [`request_id`], [`reply`]: the envelope, `X-Request-Id`, body and reply plumbing.
//! - [`config_cache`]: in-memory routing configuration, invalidated across nodes.
//! - [`auth`], [`security`]: credentials, access tokens, vault, page tokens.
//! - [`rate_limit`]: per-merchant token buckets of `/public/**`.
//! - [`wire`]: request parsing (every invalid field at once) and response shapes.
//! - [`flows`]: one code path per state change.
//! - [`routes`], [`pages`]: the JSON API and the hosted HTML pages.
//! - [`worker`]: background work (PSP hand-off, status sync, expiry, webhook delivery).
//! - [`webhooks`]: event targets, signing and the delivery worker.
//! - [`seed`]: the `omno demo` merchant.
//! - [`mock`]: `omno mock`, the stateless example server.
//! - [`openapi`]: the generated OpenAPI document.
//! - [`telemetry`]: Prometheus metrics and `/metrics`.

pub mod admin_idempotency;
pub mod auth;
pub mod clock;
pub mod config;
pub mod config_cache;
pub mod error;
pub mod flows;
pub mod mock;
pub mod openapi;
pub mod pages;
pub mod rate_limit;
pub mod reply;
pub mod request_id;
pub mod routes;
pub mod security;
pub mod seed;
pub mod state;
pub mod telemetry;
pub mod webhooks;
pub mod wire;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use omno_psp::Connectors;
use omno_psp::simulator::Simulator;
use omno_store::Store;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::clock::Clock;
use crate::config::Settings;
use crate::security::Keys;
use crate::state::AppState;

/// Builds the state: resolves keys (generating dev keys in the database) and connectors.
pub async fn build_state(
    settings: Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    public_base_url: String,
) -> anyhow::Result<AppState> {
    // One TLS provider for outgoing HTTPS (webhooks); an earlier install is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let keys = Keys::load(&settings, &*store).await?;
    let sim = Simulator::new(Duration::from_millis(settings.simulator.delay_ms));
    Ok(AppState::new(state::StateInner {
        store,
        clock,
        keys: Arc::new(keys),
        connectors: Connectors::new(sim),
        public_base_url: public_base_url.trim_end_matches('/').into(),
        wake_payouts: Arc::new(Notify::new()),
        wake_deliveries: Arc::new(Notify::new()),
        node_id: uuid::Uuid::new_v4().simple().to_string().into(),
        shutting_down: Arc::new(AtomicBool::new(false)),
        config: Arc::new(config_cache::ConfigCache::default()),
        rate_limiter: Arc::new(rate_limit::RateLimiter::new(&settings.rate_limit)),
        metrics: settings.metrics.enabled.then(telemetry::install).flatten(),
        settings: Arc::new(settings),
    }))
}

/// The API routes with their OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::payout::router())
        .merge(routes::payin::router())
        .merge(routes::cashier::router())
        .merge(routes::oauth::router())
        .merge(routes::ops::router())
        .merge(routes::admin::router())
        .merge(routes::admin_webhooks::router())
        .merge(routes::admin_config::router())
        .merge(routes::admin_transactions::router())
}

/// The OpenAPI document served at `/openapi.json` and printed by `omno openapi`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, doc) = api_routes().split_for_parts();
    doc
}

/// The whole HTTP application.
pub fn build_router(state: AppState) -> Router {
    let (api, doc) = api_routes().split_for_parts();
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let limit = state.settings.server.body_limit_bytes;
    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    api.route(
        "/openapi.json",
        axum::routing::get(move || {
            let d = doc_json.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    (*d).clone(),
                )
            }
        }),
    )
    .route("/metrics", axum::routing::get(telemetry::scrape))
    .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/docs/openapi.json", doc))
    .merge(pages::router())
    .fallback(|| async { error::ApiError::NotFound })
    .layer(DefaultBodyLimit::max(limit))
    .layer(axum::middleware::from_fn({
        let state = state.clone();
        move |req, next| request_id::request_id(req, next, Some(timeout), Some(state.clone()))
    }))
    .with_state(state)
}

/// Serves `router` on a bound listener until `shutdown` is cancelled, then drains in-flight
/// requests within `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let signal = shutdown.clone();
    // The peer address reaches hosted pages (customer IP, §7.1 `metadata.ipAddress`).
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        signal.cancelled().await;
    });
    let fut = server.into_future();
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => r,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => Ok(()),
    }
}
