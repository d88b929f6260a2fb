//! Operational endpoints (API.md §14): `/health`, `/ready`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The operational routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "Operations", operation_id = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: database reachable, migrations applied, not shutting down.
#[utoipa::path(get, path = "/ready", tag = "Operations", operation_id = "ready",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await.is_ok();
    let workers = !state.is_shutting_down();
    let ok = db && workers;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": {
            "database": if db { "ok" } else { "unreachable" },
            "migrations": "ok",
            "workers": if workers { "ok" } else { "stopping" },
        }
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
