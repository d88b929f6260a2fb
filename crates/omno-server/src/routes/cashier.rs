//! Cashier API routes (API.md §6). Handlers stay thin: extract → flow → reply.

use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthMerchant;
use crate::error::ApiError;
use crate::flows::cashier as flow;
use crate::reply::{Body, PathId, Reply, idem_header};
use crate::state::AppState;
use crate::wire::ErrorEnvelope;
use crate::wire::cashier::CreateSessionResponse;

/// The cashier routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(update_balance))
}

/// Create a cashier session.
#[utoipa::path(
    post, path = "/public/cashier/session", tag = "Cashier", operation_id = "createCashierSession",
    request_body(content = crate::openapi::CreateCashierSessionRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    responses(
        (status = 200, description = "Session created", body = CreateSessionResponse),
        (status = 400, description = "VALIDATION_ERROR or MALFORMED_JSON", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn create_session(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::create_session(&state, &merchant.0, key, errs, &body).await
}

/// Set (or signal a change of) a session's withdrawable balance.
#[utoipa::path(
    put, path = "/public/cashier/session/{sessionId}/balance", tag = "Cashier",
    operation_id = "updateCashierBalance",
    params(("sessionId" = String, Path, description = "Session id: dashed UUID", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = Option<crate::openapi::CashierBalanceRequest>, content_type = "application/json"),
    responses(
        (status = 204, description = "Balance updated; balanceVersion incremented"),
        (status = 400, description = "VALIDATION_ERROR or MALFORMED_JSON", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "INVALID_STATE (session expired)", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn update_balance(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(session_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::set_balance(&state, &merchant.0, &session_id, key, errs, &body).await
}
