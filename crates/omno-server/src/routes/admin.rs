//! Admin API (API.md §13), the part this version serves: merchants with their credentials.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use omno_domain::errors::FieldErrors;
use omno_domain::ids::MerchantId;
use omno_domain::money::Currency;
use omno_store::MerchantRecord;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AdminAuth;
use crate::clock::{fmt_ts, trunc_ms};
use crate::error::ApiError;
use crate::flows::merchant::{self, NewMerchant};
use crate::reply::{Body, Reply, idempotency_key, to_json};
use crate::state::AppState;
use crate::wire::ErrorEnvelope;
use crate::wire::parse::{Obj, canonical_fingerprint};
use omno_store::{IdemCheck, IdemWrite, StoredResponse};

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_merchant, list_merchants))
        .routes(routes!(get_merchant))
}

/// A merchant as the admin API shows it (never with secrets).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantView {
    id: String,
    name: String,
    mode: String,
    active: bool,
    enabled_currencies: Vec<String>,
    payout_confirmation_required: bool,
    default_router_id: Option<String>,
    allowed_frame_origins: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl From<&MerchantRecord> for MerchantView {
    fn from(m: &MerchantRecord) -> Self {
        Self {
            id: m.id.hex(),
            name: m.name.clone(),
            mode: m.mode.clone(),
            active: m.active,
            enabled_currencies: m
                .enabled_currencies
                .iter()
                .map(|c| c.code().to_string())
                .collect(),
            payout_confirmation_required: m.payout_confirmation_required,
            default_router_id: m.default_router_id.map(|r| r.hex()),
            allowed_frame_origins: m.allowed_frame_origins.clone(),
            created_at: fmt_ts(m.created_at),
            updated_at: fmt_ts(m.updated_at),
        }
    }
}

/// Secrets of a new merchant, shown once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedMerchant {
    merchant_id: String,
    api_key: String,
    client_id: String,
    client_secret: String,
    webhook_secret: String,
}

/// A list `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct MerchantList {
    data: Vec<MerchantView>,
}

/// Checks an origin `scheme://host[:port]` (port may be `*`).
fn origin_ok(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return false;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| p == "*" || p.parse::<u16>().is_ok_and(|n| n > 0));
    host_ok && port_ok
}

fn parse_new_merchant(
    body: &[u8],
) -> Result<(NewMerchant, serde_json::Map<String, serde_json::Value>), ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let name = o.string("name", true, &mut errs).and_then(|s| {
        errs.take(
            "name",
            omno_domain::validate::non_blank(&s, 255).map(|()| s),
        )
    });
    let mode = match o.string("mode", false, &mut errs).as_deref() {
        None => Some("test".to_string()),
        Some(m @ ("test" | "live")) => Some(m.to_string()),
        Some(_) => {
            errs.add("mode", "must be test or live");
            None
        }
    };
    let confirmation = o
        .boolean("payoutConfirmationRequired", false, &mut errs)
        .unwrap_or(true);
    let currencies = string_list(&o, "enabledCurrencies", &mut errs).map(|list| {
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            match Currency::parse(c) {
                Ok(c) => out.push(c),
                Err(e) => errs.add(format!("enabledCurrencies[{i}]"), e.to_string()),
            }
        }
        out
    });
    let origins = string_list(&o, "allowedFrameOrigins", &mut errs).unwrap_or_default();
    for f in ["enabledCurrencies", "allowedFrameOrigins"] {
        if let Some(raw) = o.raw_text(f)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(raw)
        {
            o.set_canon(f, v);
        }
    }
    for (i, s) in origins.iter().enumerate() {
        if !origin_ok(s) {
            errs.add(
                format!("allowedFrameOrigins[{i}]"),
                "must be an origin scheme://host[:port]",
            );
        }
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let default_currencies = || {
        ["EUR", "USD", "GBP"]
            .iter()
            .filter_map(|c| Currency::parse(c).ok())
            .collect()
    };
    let merchant = NewMerchant {
        name: name.unwrap_or_default(),
        mode: mode.unwrap_or_else(|| "test".into()),
        enabled_currencies: currencies.unwrap_or_else(default_currencies),
        payout_confirmation_required: confirmation,
        allowed_frame_origins: origins,
    };
    Ok((merchant, o.into_canon()))
}

/// A list of strings (absent = `None`).
fn string_list(o: &Obj<'_>, name: &str, errs: &mut FieldErrors) -> Option<Vec<String>> {
    let v = o.raw_text(name)?;
    match serde_json::from_str::<Vec<String>>(v) {
        Ok(l) => Some(l),
        Err(_) => {
            errs.add(name, "must be an array of strings");
            None
        }
    }
}

/// Create a merchant with its credentials.
#[utoipa::path(post, path = "/admin/merchants", tag = "Admin", operation_id = "adminCreateMerchant",
    responses((status = 201, body = CreatedMerchant), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_merchant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let mut idem_errs = FieldErrors::new();
    let key = idempotency_key(&headers, &mut idem_errs);
    let (new, canon) = match parse_new_merchant(&body) {
        Ok(v) => {
            idem_errs.into_result().map_err(ApiError::Validation)?;
            v
        }
        Err(ApiError::Validation(mut errs)) => {
            for e in idem_errs.iter() {
                errs.add(e.field, e.message);
            }
            return Err(ApiError::Validation(errs));
        }
        Err(e) => return Err(e),
    };
    let now = trunc_ms(state.clock.now());
    let not_before =
        now - time::Duration::seconds(state.settings.idempotency.retention_secs as i64);
    let fp = canonical_fingerprint("POST /admin/merchants\n", &canon);
    if let Some(k) = &key {
        match state
            .store
            .check_idempotency("admin", k, &fp, not_before)
            .await?
        {
            IdemCheck::Fresh => {}
            IdemCheck::Replay(r) => return Ok(Reply::replay(r.status, r.body)),
            IdemCheck::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        }
    }
    let creds = merchant::create(&*state.store, &state.keys, new, false, now).await?;
    let body = to_json(&CreatedMerchant {
        merchant_id: creds.merchant_id.hex(),
        api_key: creds.api_key,
        client_id: creds.client_id.hex(),
        client_secret: creds.client_secret,
        webhook_secret: creds.webhook_secret,
    })?;
    if let Some(k) = key {
        // Admin-only path: the replay record follows the merchant rows (not one transaction).
        state
            .store
            .put_idempotency(
                &IdemWrite {
                    scope: "admin".into(),
                    key: k,
                    fingerprint: fp,
                    response: StoredResponse {
                        status: 201,
                        body: body.clone(),
                    },
                    created_at: now,
                    not_before,
                },
                not_before,
            )
            .await?;
    }
    let mut r = Reply::ok(body);
    r.status = StatusCode::CREATED;
    Ok(r)
}

/// List merchants.
#[utoipa::path(get, path = "/admin/merchants", tag = "Admin", operation_id = "adminListMerchants",
    responses((status = 200, body = MerchantList), (status = 401, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_merchants(
    State(state): State<AppState>,
    _admin: AdminAuth,
) -> Result<Reply, ApiError> {
    let list = state.store.list_merchants().await?;
    Ok(Reply::ok(to_json(&MerchantList {
        data: list.iter().map(MerchantView::from).collect(),
    })?))
}

/// Read a merchant.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}", tag = "Admin", operation_id = "adminGetMerchant",
    params(("merchantId" = String, Path)),
    responses((status = 200, body = MerchantView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn get_merchant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let id = MerchantId::parse(&id).ok_or(ApiError::NotFound)?;
    let m = state
        .store
        .get_merchant(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(to_json(&MerchantView::from(&m))?))
}
