//! Admin API for webhooks (API.md §13.5, §13.6): merchant endpoints and the delivery log.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use omno_domain::errors::FieldErrors;
use omno_domain::ids::{DeliveryId, EndpointId, EventId, MerchantId};
use omno_domain::validate;
use omno_store::{AttemptRecord, DeliveryFilter, DeliveryRecord, EndpointRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::AdminAuth;
use crate::clock::{fmt_ts, trunc_ms};
use crate::error::ApiError;
use crate::reply::{AppPath, Body, Reply, to_json};
use crate::routes::admin_config::merchant_of;
use crate::security::random_alnum;
use crate::state::AppState;
use crate::wire::ErrorEnvelope;
use crate::wire::parse::Obj;

/// The webhook admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, patch_endpoint, delete_endpoint))
        .routes(routes!(rotate_endpoint_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

const EVENT_TYPES: [&str; 2] = ["PAYIN_STATUS_CHANGED", "PAYOUT_STATUS_CHANGED"];
const STATUSES: [&str; 14] = [
    "CREATED",
    "WAITING_FOR_CONFIRMATION",
    "PENDING",
    "PROCESSED",
    "REJECTED",
    "FAILED",
    "PENDING_3DS",
    "SUCCESS",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "DECLINED",
    "TIMEOUT",
    "REFUND_FAILED",
    "EXPIRED",
];

/// A webhook endpoint; `secret` only in create and rotate-secret responses.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    id: String,
    merchant_id: String,
    url: String,
    description: Option<String>,
    enabled: bool,
    event_types: Vec<String>,
    statuses: Vec<String>,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: String,
    updated_at: String,
}

fn endpoint_view(e: &EndpointRecord, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: e.id.hex(),
        merchant_id: e.merchant_id.hex(),
        url: e.url.clone(),
        description: e.description.clone(),
        enabled: e.enabled,
        event_types: e.event_types.clone(),
        statuses: e.statuses.clone(),
        headers: e.headers.clone(),
        secret,
        created_at: fmt_ts(e.created_at),
        updated_at: fmt_ts(e.updated_at),
    }
}

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    data: Vec<EndpointView>,
}

fn string_list(
    o: &Obj<'_>,
    name: &str,
    allowed: &[&str],
    errs: &mut FieldErrors,
) -> Option<Vec<String>> {
    let raw = o.raw_text(name)?;
    match serde_json::from_str::<Vec<String>>(raw) {
        Ok(list) => {
            for (i, v) in list.iter().enumerate() {
                if !allowed.contains(&v.as_str()) {
                    errs.add(
                        format!("{name}[{i}]"),
                        format!("must be one of {}", allowed.join(", ")),
                    );
                }
            }
            Some(list)
        }
        Err(_) => {
            errs.add(name, "must be an array of strings");
            None
        }
    }
}

fn headers_of(o: &Obj<'_>, errs: &mut FieldErrors) -> Option<BTreeMap<String, String>> {
    let raw = o.raw_text("headers")?;
    let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(raw) else {
        errs.add("headers", "must be an object of strings");
        return None;
    };
    if map.len() > 10 {
        errs.add("headers", "must have at most 10 headers");
    }
    for (k, v) in &map {
        let lower = k.to_ascii_lowercase();
        let valid_name = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name
            || ["content-type", "content-length", "host", "user-agent"].contains(&lower.as_str())
            || lower.starts_with("x-omno-")
        {
            errs.add(format!("headers.{k}"), "is not an allowed header name");
        } else if v.len() > 1024 || v.bytes().any(|b| b < 0x20 && b != b'\t') {
            errs.add(format!("headers.{k}"), "is not a valid header value");
        }
    }
    Some(map)
}

/// Applies create/patch fields to `e`; `creating` makes `url` required.
fn apply_fields(
    state: &AppState,
    body: &[u8],
    e: &mut EndpointRecord,
    creating: bool,
) -> Result<(), ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let w = &state.settings.webhooks;
    if let Some(url) = o.string("url", creating, &mut errs) {
        match validate::webhook_url(&url, w.allow_loopback, w.allow_private) {
            Ok(()) => e.url = url,
            Err(m) => errs.add("url", m),
        }
    }
    if let Some(d) = o.string("description", false, &mut errs) {
        match validate::max_len(&d, 255) {
            Ok(()) => e.description = Some(d),
            Err(m) => errs.add("description", m),
        }
    }
    if let Some(b) = o.boolean("enabled", false, &mut errs) {
        e.enabled = b;
    }
    if let Some(l) = string_list(&o, "eventTypes", &EVENT_TYPES, &mut errs) {
        if l.is_empty() {
            errs.add("eventTypes", "must not be empty");
        }
        e.event_types = l;
    }
    if let Some(l) = string_list(&o, "statuses", &STATUSES, &mut errs) {
        e.statuses = l;
    }
    if let Some(h) = headers_of(&o, &mut errs) {
        e.headers = h;
    }
    errs.into_result().map_err(ApiError::Validation)
}

fn new_secret() -> String {
    format!("whsec_{}", random_alnum(32))
}

/// Create a webhook endpoint (secret shown once).
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/webhook-endpoints", tag = "Admin",
    operation_id = "adminCreateWebhookEndpoint", params(("merchantId" = String, Path)),
    responses((status = 201, body = EndpointView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_endpoint(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let now = trunc_ms(state.clock.now());
    let secret = new_secret();
    let mut e = EndpointRecord {
        id: EndpointId(Uuid::now_v7()),
        merchant_id,
        url: String::new(),
        description: None,
        enabled: true,
        event_types: EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
        statuses: vec![],
        headers: BTreeMap::new(),
        secret_enc: state.keys.seal(secret.as_bytes()),
        created_at: now,
        updated_at: now,
    };
    apply_fields(&state, &body, &mut e, true)?;
    state.store.insert_endpoint(&e).await?;
    crate::config_cache::changed(&state.config, &*state.store, merchant_id).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        to_json(&endpoint_view(&e, Some(secret)))?,
    ))
}

/// List a merchant's webhook endpoints.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/webhook-endpoints", tag = "Admin",
    operation_id = "adminListWebhookEndpoints", params(("merchantId" = String, Path)),
    responses((status = 200, body = EndpointList), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_endpoints(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let list = state.store.list_endpoints(merchant_id).await?;
    Ok(Reply::ok(to_json(&EndpointList {
        data: list.iter().map(|e| endpoint_view(e, None)).collect(),
    })?))
}

async fn load_endpoint(
    state: &AppState,
    merchant: &str,
    id: &str,
) -> Result<EndpointRecord, ApiError> {
    let merchant_id = merchant_of(state, merchant).await?;
    let id = EndpointId::parse(id).ok_or(ApiError::NotFound)?;
    state
        .store
        .get_endpoint(merchant_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Read a webhook endpoint.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/webhook-endpoints/{endpointId}", tag = "Admin",
    operation_id = "adminGetWebhookEndpoint", params(("merchantId" = String, Path), ("endpointId" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn get_endpoint(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<Reply, ApiError> {
    let e = load_endpoint(&state, &merchant, &id).await?;
    Ok(Reply::ok(to_json(&endpoint_view(&e, None))?))
}

/// Change a webhook endpoint (only the fields sent).
#[utoipa::path(patch, path = "/admin/merchants/{merchantId}/webhook-endpoints/{endpointId}", tag = "Admin",
    operation_id = "adminPatchWebhookEndpoint", params(("merchantId" = String, Path), ("endpointId" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn patch_endpoint(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let mut e = load_endpoint(&state, &merchant, &id).await?;
    apply_fields(&state, &body, &mut e, false)?;
    e.updated_at = trunc_ms(state.clock.now());
    if !state.store.update_endpoint(&e).await? {
        return Err(ApiError::NotFound);
    }
    crate::config_cache::changed(&state.config, &*state.store, e.merchant_id).await?;
    Ok(Reply::ok(to_json(&endpoint_view(&e, None))?))
}

/// Delete a webhook endpoint.
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/webhook-endpoints/{endpointId}", tag = "Admin",
    operation_id = "adminDeleteWebhookEndpoint", params(("merchantId" = String, Path), ("endpointId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn delete_endpoint(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let e = load_endpoint(&state, &merchant, &id).await?;
    if !state.store.delete_endpoint(e.merchant_id, e.id).await? {
        return Err(ApiError::NotFound);
    }
    crate::config_cache::changed(&state.config, &*state.store, e.merchant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate an endpoint's signing secret; the old one stops signing at once.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/webhook-endpoints/{endpointId}/rotate-secret", tag = "Admin",
    operation_id = "adminRotateWebhookEndpointSecret", params(("merchantId" = String, Path), ("endpointId" = String, Path)),
    responses((status = 200, body = EndpointView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn rotate_endpoint_secret(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<Reply, ApiError> {
    let mut e = load_endpoint(&state, &merchant, &id).await?;
    let secret = new_secret();
    e.secret_enc = state.keys.seal(secret.as_bytes());
    e.updated_at = trunc_ms(state.clock.now());
    state.store.update_endpoint(&e).await?;
    crate::config_cache::changed(&state.config, &*state.store, e.merchant_id).await?;
    Ok(Reply::ok(to_json(&endpoint_view(&e, Some(secret)))?))
}

/// `target` of a delivery.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTargetView {
    endpoint_id: Option<String>,
    url: String,
}

/// One logged attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView {
    attempt: i64,
    at: String,
    http_status: Option<i64>,
    latency_ms: i64,
    error: Option<String>,
    response_snippet: Option<String>,
}

/// A delivery (§13.6); `attempts` only on the single GET.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    id: String,
    merchant_id: String,
    event_id: String,
    event_type: String,
    transaction_id: String,
    target: DeliveryTargetView,
    status: String,
    attempt_count: i64,
    next_attempt_at: Option<String>,
    last_attempt_at: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<DeliveryAttemptView>>,
}

fn delivery_view(d: &DeliveryRecord, attempts: Option<&[AttemptRecord]>) -> DeliveryView {
    DeliveryView {
        id: d.id.hex(),
        merchant_id: d.merchant_id.hex(),
        event_id: d.event_id.hex(),
        event_type: d.event_type.clone(),
        transaction_id: d.transaction_id.clone(),
        target: DeliveryTargetView {
            endpoint_id: d.endpoint_id.map(|e| e.hex()),
            url: d.url.clone(),
        },
        status: d.status.clone(),
        attempt_count: d.attempt_count,
        next_attempt_at: d.next_attempt_at.map(fmt_ts),
        last_attempt_at: d.last_attempt_at.map(fmt_ts),
        created_at: fmt_ts(d.created_at),
        attempts: attempts.map(|a| {
            a.iter()
                .map(|a| DeliveryAttemptView {
                    attempt: a.attempt,
                    at: fmt_ts(a.at),
                    http_status: a.http_status,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                    response_snippet: a.response_snippet.clone(),
                })
                .collect()
        }),
    }
}

/// Paginated `{data, nextCursor}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    data: Vec<DeliveryView>,
    next_cursor: Option<String>,
}

/// Query of the delivery list.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryQuery {
    merchant_id: Option<String>,
    status: Option<String>,
    transaction_id: Option<String>,
    event_id: Option<String>,
    endpoint_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn encode_cursor(d: &DeliveryRecord) -> String {
    B64.encode(format!(
        "{}:{}",
        omno_store::to_ms(d.created_at),
        d.id.hex()
    ))
}

fn decode_cursor(c: &str) -> Option<(time::OffsetDateTime, DeliveryId)> {
    let text = String::from_utf8(B64.decode(c).ok()?).ok()?;
    let (ms, id) = text.split_once(':')?;
    Some((
        omno_store::from_ms(ms.parse().ok()?),
        DeliveryId::parse(id)?,
    ))
}

/// List deliveries, newest first.
#[utoipa::path(get, path = "/admin/webhook-deliveries", tag = "Admin", operation_id = "adminListDeliveries",
    params(DeliveryQuery),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_deliveries(
    State(state): State<AppState>,
    _a: AdminAuth,
    Query(q): Query<DeliveryQuery>,
) -> Result<Reply, ApiError> {
    let mut errs = FieldErrors::new();
    let mut id_filter = |name: &str, v: &Option<String>| -> Option<uuid::Uuid> {
        let v = v.as_deref()?;
        let parsed = omno_domain::ids::parse_hex32(v);
        if parsed.is_none() {
            errs.add(name, "must be a 32-hex id");
        }
        parsed
    };
    let merchant_id = id_filter("merchantId", &q.merchant_id).map(MerchantId);
    let event_id = id_filter("eventId", &q.event_id).map(EventId);
    let endpoint_id = id_filter("endpointId", &q.endpoint_id).map(EndpointId);
    if let Some(s) = &q.status
        && !["PENDING", "DELIVERED", "DEAD"].contains(&s.as_str())
    {
        errs.add("status", "must be one of PENDING, DELIVERED, DEAD");
    }
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            errs.add("limit", "must be an integer from 1 to 200");
            50
        }
    };
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let d = decode_cursor(c);
            if d.is_none() {
                errs.add("cursor", "is not a valid cursor");
            }
            d
        }
    };
    errs.into_result().map_err(ApiError::Validation)?;
    let filter = DeliveryFilter {
        merchant_id,
        status: q.status,
        transaction_id: q.transaction_id,
        event_id,
        endpoint_id,
    };
    let mut rows = state
        .store
        .list_deliveries(&filter, after, limit + 1)
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Reply::ok(to_json(&DeliveryPage {
        data: rows.iter().map(|d| delivery_view(d, None)).collect(),
        next_cursor,
    })?))
}

/// One delivery with its attempts.
#[utoipa::path(get, path = "/admin/webhook-deliveries/{deliveryId}", tag = "Admin", operation_id = "adminGetDelivery",
    params(("deliveryId" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn get_delivery(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let id = DeliveryId::parse(&id).ok_or(ApiError::NotFound)?;
    let (d, attempts) = state
        .store
        .get_delivery(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(to_json(&delivery_view(&d, Some(&attempts)))?))
}

/// Queue a delivery again now (same event id and body).
#[utoipa::path(post, path = "/admin/webhook-deliveries/{deliveryId}/redeliver", tag = "Admin",
    operation_id = "adminRedeliver", params(("deliveryId" = String, Path)),
    responses((status = 202, body = DeliveryView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn redeliver(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let id = DeliveryId::parse(&id).ok_or(ApiError::NotFound)?;
    let now = trunc_ms(state.clock.now());
    let d = state
        .store
        .redeliver(id, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    state.committed_deliveries(false, true);
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        to_json(&delivery_view(&d, None))?,
    ))
}
