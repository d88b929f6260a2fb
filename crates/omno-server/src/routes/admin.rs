//! Admin API (API.md §13), the part this version serves: merchants with their credentials.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use omno_domain::errors::FieldErrors;
use omno_domain::ids::{MerchantId, RouterId};
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
use crate::reply::{AppPath, Body, Reply, idempotency_key, to_json};
use crate::state::AppState;
use crate::wire::ErrorEnvelope;
use crate::wire::parse::{Obj, canonical_fingerprint};
use omno_store::{IdemCheck, IdemWrite, StoredResponse};

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_merchant, list_merchants))
        .routes(routes!(get_merchant, patch_merchant))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(create_credential, list_credentials))
        .routes(routes!(rotate_credential))
        .routes(routes!(revoke_credential))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
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
    let (new, canon) =
        crate::flows::payout::with_header_errors(parse_new_merchant(&body), idem_errs)?;
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
    Ok(Reply::with_status(StatusCode::CREATED, body))
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
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let id = MerchantId::parse(&id).ok_or(ApiError::NotFound)?;
    let m = state
        .store
        .get_merchant(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(to_json(&MerchantView::from(&m))?))
}

// ---------------------------------------------------------------------------------------------
// Merchant changes, secrets, credentials and API keys

/// Change a merchant (only the fields sent). `defaultRouterId` must be a router of the merchant;
/// `null` clears it.
#[utoipa::path(patch, path = "/admin/merchants/{merchantId}", tag = "Admin", operation_id = "adminPatchMerchant",
    params(("merchantId" = String, Path)),
    responses((status = 200, body = MerchantView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn patch_merchant(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let id = MerchantId::parse(&id).ok_or(ApiError::NotFound)?;
    let mut m = state
        .store
        .get_merchant(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut o = Obj::root(&body)?;
    let mut errs = FieldErrors::new();
    if let Some(name) = o.string("name", false, &mut errs) {
        match omno_domain::validate::non_blank(&name, 255) {
            Ok(()) => m.name = name,
            Err(e) => errs.add("name", e),
        }
    }
    if let Some(b) = o.boolean("active", false, &mut errs) {
        m.active = b;
    }
    if let Some(b) = o.boolean("payoutConfirmationRequired", false, &mut errs) {
        m.payout_confirmation_required = b;
    }
    if o.has("mode") {
        errs.add("mode", "is immutable");
    }
    if let Some(list) = string_list(&o, "enabledCurrencies", &mut errs) {
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            match Currency::parse(c) {
                Ok(c) => out.push(c),
                Err(e) => errs.add(format!("enabledCurrencies[{i}]"), e.to_string()),
            }
        }
        m.enabled_currencies = out;
    }
    if let Some(origins) = string_list(&o, "allowedFrameOrigins", &mut errs) {
        for (i, s) in origins.iter().enumerate() {
            if !origin_ok(s) {
                errs.add(
                    format!("allowedFrameOrigins[{i}]"),
                    "must be an origin scheme://host[:port]",
                );
            }
        }
        m.allowed_frame_origins = origins;
    }
    if o.is_null("defaultRouterId") {
        m.default_router_id = None;
    } else if let Some(r) = o.string("defaultRouterId", false, &mut errs) {
        let cfg = state.config.get(&*state.store, id).await?;
        match RouterId::parse(&r).filter(|r| cfg.routers.contains_key(r)) {
            Some(r) => m.default_router_id = Some(r),
            None => errs.add("defaultRouterId", "unknown router"),
        }
    }
    errs.into_result().map_err(ApiError::Validation)?;
    m.updated_at = trunc_ms(state.clock.now());
    state.store.update_merchant(&m).await?;
    crate::config_cache::changed(&state.config, &*state.store, id).await?;
    Ok(Reply::ok(to_json(&MerchantView::from(&m))?))
}

/// `{"webhookSecret": …}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecret {
    webhook_secret: String,
}

/// Rotate the merchant's webhook secret; the old one stops signing at once.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/webhook-secret/rotate", tag = "Admin",
    operation_id = "adminRotateWebhookSecret", params(("merchantId" = String, Path)),
    responses((status = 200, body = WebhookSecret), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let id = MerchantId::parse(&id).ok_or(ApiError::NotFound)?;
    let mut m = state
        .store
        .get_merchant(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let secret = format!("whsec_{}", crate::security::random_alnum(32));
    m.webhook_secret_enc = state.keys.seal(secret.as_bytes());
    m.updated_at = trunc_ms(state.clock.now());
    state.store.update_merchant(&m).await?;
    crate::config_cache::changed(&state.config, &*state.store, id).await?;
    Ok(Reply::ok(to_json(&WebhookSecret {
        webhook_secret: secret,
    })?))
}

/// An OAuth client credential; `clientSecret` only on create and rotate.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialView {
    client_id: String,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

fn credential_view(c: &omno_store::ClientRecord, secret: Option<String>) -> CredentialView {
    CredentialView {
        client_id: c.client_id.hex(),
        name: c.name.clone(),
        client_secret: secret,
        created_at: fmt_ts(c.created_at),
        last_used_at: None,
        revoked_at: c.revoked_at.map(fmt_ts),
    }
}

/// An API key; `key` only on create.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    id: String,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    prefix: String,
    last4: String,
    created_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

fn api_key_view(k: &omno_store::ApiKeyRecord, key: Option<String>) -> ApiKeyView {
    ApiKeyView {
        id: k.id.hex(),
        name: k.name.clone(),
        key,
        prefix: k.prefix.clone(),
        last4: k.last4.clone(),
        created_at: fmt_ts(k.created_at),
        last_used_at: None,
        revoked_at: k.revoked_at.map(fmt_ts),
    }
}

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct DataList<T: ToSchema> {
    data: Vec<T>,
}

fn optional_name(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let name = o.string("name", false, &mut errs);
    if let Some(n) = &name
        && let Err(e) = omno_domain::validate::max_len(n, 255)
    {
        errs.add("name", e);
    }
    errs.into_result().map_err(ApiError::Validation)?;
    Ok(name)
}

/// Create an OAuth client credential.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/credentials", tag = "Admin",
    operation_id = "adminCreateCredential", params(("merchantId" = String, Path)),
    responses((status = 201, body = CredentialView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_credential(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant = crate::routes::admin_config::merchant_of(&state, &id).await?;
    let name = optional_name(&body)?;
    let secret = merchant::new_client_secret();
    let rec = omno_store::ClientRecord {
        client_id: omno_domain::ids::ClientId(uuid::Uuid::now_v7()),
        merchant_id: merchant,
        name,
        secret_hash: crate::security::sha256_hex(&secret),
        demo: false,
        created_at: trunc_ms(state.clock.now()),
        revoked_at: None,
    };
    state.store.insert_client(&rec).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        to_json(&credential_view(&rec, Some(secret)))?,
    ))
}

/// List OAuth client credentials.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/credentials", tag = "Admin",
    operation_id = "adminListCredentials", params(("merchantId" = String, Path)),
    responses((status = 200, body = DataList<CredentialView>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_credentials(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant = crate::routes::admin_config::merchant_of(&state, &id).await?;
    let list = state.store.list_clients(merchant).await?;
    Ok(Reply::ok(to_json(&DataList {
        data: list.iter().map(|c| credential_view(c, None)).collect(),
    })?))
}

async fn client_of(
    state: &AppState,
    merchant: &str,
    client: &str,
) -> Result<omno_store::ClientRecord, ApiError> {
    let merchant = crate::routes::admin_config::merchant_of(state, merchant).await?;
    let id = omno_domain::ids::ClientId::parse(client).ok_or(ApiError::NotFound)?;
    state
        .store
        .get_client(id)
        .await?
        .filter(|c| c.merchant_id == merchant)
        .ok_or(ApiError::NotFound)
}

/// Rotate a client secret; the old one is invalid at once.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/credentials/{clientId}/rotate", tag = "Admin",
    operation_id = "adminRotateCredential", params(("merchantId" = String, Path), ("clientId" = String, Path)),
    responses((status = 200, body = CredentialView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn rotate_credential(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath((merchant, client)): AppPath<(String, String)>,
) -> Result<Reply, ApiError> {
    let mut c = client_of(&state, &merchant, &client).await?;
    let secret = merchant::new_client_secret();
    c.secret_hash = crate::security::sha256_hex(&secret);
    c.revoked_at = None;
    state
        .store
        .set_client_secret(c.client_id, &c.secret_hash, trunc_ms(state.clock.now()))
        .await?;
    crate::config_cache::changed(&state.config, &*state.store, c.merchant_id).await?;
    Ok(Reply::ok(to_json(&credential_view(&c, Some(secret)))?))
}

/// Revoke a client credential; its tokens stop working.
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/credentials/{clientId}", tag = "Admin",
    operation_id = "adminRevokeCredential", params(("merchantId" = String, Path), ("clientId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn revoke_credential(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath((merchant, client)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let c = client_of(&state, &merchant, &client).await?;
    state
        .store
        .revoke_client(c.merchant_id, c.client_id, trunc_ms(state.clock.now()))
        .await?;
    crate::config_cache::changed(&state.config, &*state.store, c.merchant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an API key (shown once).
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/api-keys", tag = "Admin",
    operation_id = "adminCreateApiKey", params(("merchantId" = String, Path)),
    responses((status = 201, body = ApiKeyView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_api_key(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant_id = crate::routes::admin_config::merchant_of(&state, &id).await?;
    let m = state
        .store
        .get_merchant(merchant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let name = optional_name(&body)?;
    let (rec, key) = merchant::new_api_key(m.id, &m.mode, name, false, trunc_ms(state.clock.now()));
    state.store.insert_api_key(&rec).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        to_json(&api_key_view(&rec, Some(key)))?,
    ))
}

/// List API keys.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/api-keys", tag = "Admin",
    operation_id = "adminListApiKeys", params(("merchantId" = String, Path)),
    responses((status = 200, body = DataList<ApiKeyView>), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_api_keys(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant = crate::routes::admin_config::merchant_of(&state, &id).await?;
    let list = state.store.list_api_keys(merchant).await?;
    Ok(Reply::ok(to_json(&DataList {
        data: list.iter().map(|k| api_key_view(k, None)).collect(),
    })?))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/api-keys/{keyId}", tag = "Admin",
    operation_id = "adminRevokeApiKey", params(("merchantId" = String, Path), ("keyId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn revoke_api_key(
    State(state): State<AppState>,
    _admin: AdminAuth,
    AppPath((merchant, key)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let merchant = crate::routes::admin_config::merchant_of(&state, &merchant).await?;
    let id = omno_domain::ids::ApiKeyId::parse(&key).ok_or(ApiError::NotFound)?;
    if !state
        .store
        .revoke_api_key(merchant, id, trunc_ms(state.clock.now()))
        .await?
    {
        return Err(ApiError::NotFound);
    }
    crate::config_cache::changed(&state.config, &*state.store, merchant).await?;
    Ok(StatusCode::NO_CONTENT)
}
