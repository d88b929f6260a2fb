//! Payout API routes (API.md §4). Handlers stay thin: extract → flow → reply.

use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthMerchant;
use crate::error::ApiError;
use crate::flows::payout::{self as flow, Verdict};
use crate::reply::{Body, IgnoredBody, PathId, Reply, idem_header};
use crate::state::AppState;
use crate::wire::{
    CreatePayoutResponse, EmptyObject, ErrorEnvelope, PayoutDirectLinkResponse, TransactionView,
};

/// The payout routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payout))
        .routes(routes!(confirm_payout))
        .routes(routes!(reject_payout))
        .routes(routes!(payout_direct_link))
        .routes(routes!(get_payout))
}

/// Create a payout.
#[utoipa::path(
    post, path = "/public/payout", tag = "Payout", operation_id = "createPayout",
    request_body(content = crate::openapi::CreatePayoutRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    responses(
        (status = 200, description = "Payout created", body = CreatePayoutResponse),
        (status = 400, description = "VALIDATION_ERROR or MALFORMED_JSON", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 409, description = "DUPLICATE_ORDER_ID", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn create_payout(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::create(&state, &merchant.0, key, errs, &body).await
}

/// Confirm a payout waiting for confirmation.
#[utoipa::path(
    put, path = "/public/payout/{payoutId}/confirm", tag = "Payout", operation_id = "confirmPayout",
    params(("payoutId" = String, Path, description = "Payout id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    responses(
        (status = 200, description = "Confirmed (or already confirmed)", body = EmptyObject),
        (status = 400, description = "VALIDATION_ERROR (invalid Idempotency-Key)", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "INVALID_STATE", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE (a body is ignored but limited)", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn confirm_payout(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payout_id): PathId,
    headers: HeaderMap,
    _body: IgnoredBody,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::decide(&state, &merchant.0, &payout_id, Verdict::Confirm, key, errs).await
}

/// Reject a payout.
#[utoipa::path(
    put, path = "/public/payout/{payoutId}/reject", tag = "Payout", operation_id = "rejectPayout",
    params(("payoutId" = String, Path, description = "Payout id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    responses(
        (status = 200, description = "Rejected (or already rejected)", body = EmptyObject),
        (status = 400, description = "VALIDATION_ERROR (invalid Idempotency-Key)", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "INVALID_STATE", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE (a body is ignored but limited)", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn reject_payout(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payout_id): PathId,
    headers: HeaderMap,
    _body: IgnoredBody,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::decide(&state, &merchant.0, &payout_id, Verdict::Reject, key, errs).await
}

/// Record the APM destination of a payout.
#[utoipa::path(
    post, path = "/public/payout/{payoutId}/process/direct-link", tag = "Payout",
    operation_id = "payoutDirectLink",
    params(("payoutId" = String, Path, description = "Payout id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = crate::openapi::DirectLinkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Destination recorded", body = PayoutDirectLinkResponse),
        (status = 400, description = "VALIDATION_ERROR or MALFORMED_JSON", body = ErrorEnvelope),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 409, description = "INVALID_STATE", body = ErrorEnvelope),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorEnvelope),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn payout_direct_link(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payout_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::direct_link(&state, &merchant.0, &payout_id, key, errs, &body).await
}

/// Fetch a payout.
#[utoipa::path(
    get, path = "/public/payout/{payoutId}", tag = "Payout", operation_id = "getPayout",
    params(("payoutId" = String, Path, description = "Payout id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "The payout", body = TransactionView),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn get_payout(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payout_id): PathId,
) -> Result<Reply, ApiError> {
    flow::get(&state, &merchant.0, &payout_id).await
}
