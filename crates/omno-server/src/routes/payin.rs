//! PayIn API routes (API.md §5). Handlers stay thin: extract → flow → reply.

use axum::extract::State;
use axum::http::HeaderMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthMerchant;
use crate::error::ApiError;
use crate::flows::payin as flow;
use crate::reply::{Body, PathId, Reply, idem_header};
use crate::state::AppState;
use crate::wire::payin::{CreatePayinResponse, PayinProcessResponse, RefundResponse};
use crate::wire::{ErrorEnvelope, TransactionView};

/// The payin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payin))
        .routes(routes!(process_card))
        .routes(routes!(process_saved_card))
        .routes(routes!(payin_direct_link))
        .routes(routes!(get_payin))
        .routes(routes!(refund_payin))
}

/// Create a payin.
#[utoipa::path(
    post, path = "/public/payin", tag = "PayIn", operation_id = "createPayin",
    request_body(content = crate::openapi::CreatePayinRequest, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    responses(
        (status = 200, description = "Payin created", body = CreatePayinResponse),
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
async fn create_payin(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::create(&state, &merchant.0, key, errs, &body).await
}

/// Pay a payin with card data.
#[utoipa::path(
    post, path = "/public/payin/{payinId}/process/card", tag = "PayIn", operation_id = "processPayinCard",
    params(("payinId" = String, Path, description = "Payin id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = crate::openapi::ProcessCardRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Outcome at this moment", body = PayinProcessResponse),
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
async fn process_card(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payin_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::process_card(&state, &merchant.0, &payin_id, key, errs, &body).await
}

/// Pay a payin with a saved card.
#[utoipa::path(
    post, path = "/public/payin/{payinId}/process/saved-card", tag = "PayIn", operation_id = "processPayinSavedCard",
    params(("payinId" = String, Path, description = "Payin id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = crate::openapi::ProcessSavedCardRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Outcome at this moment", body = PayinProcessResponse),
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
async fn process_saved_card(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payin_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::process_saved_card(&state, &merchant.0, &payin_id, key, errs, &body).await
}

/// Pay a payin with an APM.
#[utoipa::path(
    post, path = "/public/payin/{payinId}/process/direct-link", tag = "PayIn", operation_id = "payinDirectLink",
    params(("payinId" = String, Path, description = "Payin id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = crate::openapi::PayinDirectLinkRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Outcome at this moment", body = PayinProcessResponse),
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
async fn payin_direct_link(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payin_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::process_direct_link(&state, &merchant.0, &payin_id, key, errs, &body).await
}

/// Fetch a payin.
#[utoipa::path(
    get, path = "/public/payin/{payinId}", tag = "PayIn", operation_id = "getPayin",
    params(("payinId" = String, Path, description = "Payin id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "The payin", body = TransactionView),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
        (status = 500, description = "INTERNAL_ERROR", body = ErrorEnvelope),
    ),
    security(("bearerAuth" = []), ("apiKeyAuth" = []))
)]
async fn get_payin(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payin_id): PathId,
) -> Result<Reply, ApiError> {
    flow::get(&state, &merchant.0, &payin_id).await
}

/// Refund a payin, fully or partly (extension).
#[utoipa::path(
    post, path = "/public/payin/{payinId}/refund", tag = "PayIn", operation_id = "refundPayin",
    params(("payinId" = String, Path, description = "Payin id: 32 lowercase hex", pattern = "^[0-9a-f]{32}$"),
           ("Idempotency-Key" = Option<String>, Header, description = "Idempotency key (extension): 1-255 characters 0x21-0x7E", min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7E]{1,255}$")),
    request_body(content = Option<crate::openapi::RefundRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "Refund outcome", body = RefundResponse),
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
async fn refund_payin(
    State(state): State<AppState>,
    merchant: AuthMerchant,
    PathId(payin_id): PathId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let (key, errs) = idem_header(&headers);
    flow::refund(&state, &merchant.0, &payin_id, key, errs, &body).await
}
