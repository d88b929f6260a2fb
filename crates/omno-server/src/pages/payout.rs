//! Hosted payout pages (API.md §11.2): the customer enters the destination card or APM account
//! for a payout; a status page follows the payout until it is final.
//!
//! Card numbers are posted only to omno, never logged or placed in a URL; the PAN is stored
//! encrypted until the payout is final, and only its mask, brand and keyed hash are shown.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omno_domain::card::{CardExpiry, CardNumber};
use omno_domain::ids::PayoutId;
use omno_domain::payout::{Destination, Payout, PayoutStatus};
use omno_domain::psp::{DetailedStatus, Direction, PaymentMethod};
use omno_domain::router::RouteRequest;
use omno_domain::validate;
use omno_store::{MerchantRecord, PanUpdate};
use serde::{Deserialize, Serialize};

use super::payin::{KYC_TEXT, KycCheck, NO_PROVIDER_TEXT, kyc_level_errors, money_text, navigable};
use super::{message, render, secure_html};
use crate::error::ApiError;
use crate::flows::payout::{NewDestination, page_url, record_destination};
use crate::reply::read_limited;
use crate::state::AppState;
use crate::wire::{BrowserInfo, StatusReasonView, amount_json, mask_iban};

/// The payout page routes.
pub fn router() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/hpp/payout/{id}/card", get(card_get).post(card_post))
        .route("/hpp/payout/{id}/apm", get(apm_get).post(apm_post))
        .route("/hpp/payout/{id}/status", get(status_page))
        .route("/hpp/payout/{id}/status.json", get(status_json))
}

/// `?token=`.
#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

struct Loaded {
    payout: Payout,
    merchant: MerchantRecord,
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "This payment page does not exist.",
    )
}

async fn load(
    state: &AppState,
    id: &str,
    token: Option<&str>,
    page: &str,
) -> Result<Loaded, Response> {
    let pid = PayoutId::parse(id).ok_or_else(not_found)?;
    let payout = match state.store.get_payout(None, pid).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "page load failed");
            return Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            ));
        }
    };
    let now = state.clock.now();
    if !token.is_some_and(|t| {
        state
            .keys
            .check_page_token(t, "payout", &pid.hex(), page, now)
    }) {
        return Err(message(
            StatusCode::FORBIDDEN,
            "Link expired",
            "This link is invalid or has expired. Please ask the merchant for a new one.",
        ));
    }
    let merchant = match state.store.get_merchant(payout.merchant_id).await {
        Ok(Some(m)) => m,
        Ok(None) | Err(_) => return Err(not_found()),
    };
    Ok(Loaded { payout, merchant })
}

fn return_urls(p: &Payout) -> Vec<&str> {
    p.return_urls
        .as_ref()
        .map(|r| vec![r.success.as_str(), r.failure.as_str()])
        .unwrap_or_default()
}

fn page(l: &Loaded, status: StatusCode, html: String) -> Response {
    secure_html(status, html, Some(&l.merchant), &return_urls(&l.payout))
}

fn amount_text(p: &Payout) -> String {
    money_text(p.amount)
}

fn holder(p: &Payout) -> String {
    format!("{} {}", p.customer.first_name, p.customer.last_name)
}

#[derive(Template)]
#[template(path = "payout_card.html")]
struct CardPage {
    amount: String,
    currency: String,
    order_id: String,
    action: String,
    holder: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "payout_apm.html")]
struct ApmPage {
    amount: String,
    currency: String,
    order_id: String,
    action: String,
    holder: String,
    errors: Vec<String>,
}

fn closed(l: &Loaded) -> Option<Response> {
    (!l.payout.can_record_destination()).then(|| {
        let html = super::MessagePage {
            title: "Destination can no longer be changed",
            text: "This payout is already being processed or is finished.",
        }
        .render()
        .unwrap_or_default();
        page(l, StatusCode::CONFLICT, html)
    })
}

fn card_page(l: &Loaded, token: &str, status: StatusCode, errors: Vec<String>) -> Response {
    let t = CardPage {
        amount: amount_text(&l.payout),
        currency: l.payout.amount.currency.code().to_string(),
        order_id: l.payout.order_id.clone(),
        action: format!("/hpp/payout/{}/card?token={token}", l.payout.id.hex()),
        holder: holder(&l.payout),
        errors,
    };
    render(&t, |html| page(l, status, html))
}

fn apm_page(l: &Loaded, token: &str, status: StatusCode, errors: Vec<String>) -> Response {
    let t = ApmPage {
        amount: amount_text(&l.payout),
        currency: l.payout.amount.currency.code().to_string(),
        order_id: l.payout.order_id.clone(),
        action: format!("/hpp/payout/{}/apm?token={token}", l.payout.id.hex()),
        holder: holder(&l.payout),
        errors,
    };
    render(&t, |html| page(l, status, html))
}

async fn card_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match load(&state, &id, Some(&token), "card").await {
        Ok(l) => closed(&l).unwrap_or_else(|| card_page(&l, &token, StatusCode::OK, vec![])),
        Err(r) => r,
    }
}

async fn apm_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    match load(&state, &id, Some(&token), "apm").await {
        Ok(l) => closed(&l).unwrap_or_else(|| apm_page(&l, &token, StatusCode::OK, vec![])),
        Err(r) => r,
    }
}

async fn read_form(
    state: &AppState,
    req: Request,
) -> Result<(HeaderMap, HashMap<String, String>), Response> {
    let (headers, body) = read_limited(req, state.settings.server.body_limit_bytes)
        .await
        .map_err(|_| {
            message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too large",
                "The form was too large.",
            )
        })?;
    let form = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body).map_err(|_| {
        message(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "The form could not be read.",
        )
    })?;
    Ok((headers, form))
}

fn browser_of(headers: &HeaderMap) -> BrowserInfo {
    BrowserInfo {
        ip: None,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(1024).collect()),
    }
}

async fn save(state: &AppState, l: &Loaded, dest: NewDestination) -> Response {
    let result = record_destination(
        state,
        l.payout.merchant_id,
        l.payout.id,
        dest,
        None,
        |p, now| Ok(page_url(state, p.id, "status", now)),
    )
    .await;
    match result {
        Ok(reply) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&reply.body) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(ApiError::InvalidState(_)) => closed(l).unwrap_or_else(|| {
            message(
                StatusCode::CONFLICT,
                "Destination can no longer be changed",
                "This payout is already being processed or is finished.",
            )
        }),
        Err(ApiError::NotFound) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "saving payout destination failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}

async fn card_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, Some(&token), "card").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Some(r) = closed(&l) {
        return r;
    }
    let (headers, form) = match read_form(&state, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let field = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let card = match CardNumber::parse(&field("cardNumber")) {
        Ok(c) => Some(c),
        Err(m) => {
            errors.push(format!("Card number {m}"));
            None
        }
    };
    if let Err(m) = validate::non_blank(&field("cardholderName"), 255) {
        errors.push(format!("Cardholder name {m}"));
    }
    let (month, year) = (field("expirationMonth"), field("expirationYear"));
    if !month.is_empty() || !year.is_empty() {
        match CardExpiry::parse(&month, &year) {
            Ok(e) if e.is_expired(state.clock.now().date()) => {
                errors.push("Card has expired".into())
            }
            Ok(_) => {}
            Err((_, m)) => errors.push(format!("Expiry {m}")),
        }
    }
    let Some(card) = card.filter(|_| errors.is_empty()) else {
        return card_page(&l, &token, StatusCode::BAD_REQUEST, errors);
    };
    let dest = NewDestination {
        destination: Destination::Card {
            mask: card.mask(),
            brand: card.brand().as_str().to_string(),
            hash: state.keys.card_hash(card.digits()),
        },
        pan: PanUpdate::Set(state.keys.seal(card.digits().as_bytes())),
        browser: browser_of(&headers),
    };
    save(&state, &l, dest).await
}

async fn apm_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, Some(&token), "apm").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Some(r) = closed(&l) {
        return r;
    }
    let (headers, form) = match read_form(&state, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let field = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let method = match PaymentMethod::parse(&field("method")) {
        Some(
            m @ (PaymentMethod::BankTransfer | PaymentMethod::EWallet | PaymentMethod::Crypto),
        ) => m,
        Some(PaymentMethod::Card) | None => {
            errors.push("Choose a method".to_string());
            PaymentMethod::BankTransfer
        }
    };
    let mut data = serde_json::Map::new();
    data.insert("method".into(), method.as_str().into());
    let iban = field("iban");
    let mut iban_mask = None;
    if !iban.is_empty() {
        match validate::iban(&iban) {
            Ok(n) => {
                iban_mask = Some(mask_iban(&n));
                data.insert("iban".into(), n.into());
            }
            Err(m) => errors.push(format!("IBAN {m}")),
        }
    } else if method == PaymentMethod::BankTransfer {
        errors.push("IBAN is required for a bank transfer".into());
    }
    for k in ["accountHolder", "walletId"] {
        let v = field(k);
        if v.chars().count() > 255 {
            errors.push(format!("{k} is too long"));
        } else if !v.is_empty() {
            data.insert(k.into(), v.into());
        }
    }
    if !errors.is_empty() {
        return apm_page(&l, &token, StatusCode::BAD_REQUEST, errors);
    }
    let dest = NewDestination {
        destination: Destination::Apm {
            method,
            additional_data: serde_json::Value::Object(data).to_string(),
            iban_mask,
        },
        pan: PanUpdate::Clear,
        browser: browser_of(&headers),
    };
    save(&state, &l, dest).await
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    id: String,
    order_id: &'a str,
    amount: String,
    currency: &'a str,
    status: &'static str,
    text: String,
    status_json_url: String,
    is_final: bool,
    frame_origins: String,
    success_url: &'a str,
    failure_url: &'a str,
    cashier_url: Option<String>,
    kyc_level_errors: String,
}

fn status_text(p: &Payout) -> String {
    if let Some(r) = &p.status_reason {
        // The routing reason names the merchant's PSP accounts: not for customers.
        if r.detailed_status == DetailedStatus::NoProviderAvailable {
            return NO_PROVIDER_TEXT.into();
        }
        return r.reason.clone();
    }
    match p.status {
        PayoutStatus::Created | PayoutStatus::WaitingForConfirmation => {
            "Your payout is waiting for the merchant's approval.".into()
        }
        PayoutStatus::Pending => "Your payout is on its way.".into(),
        PayoutStatus::Processed => "Your payout has been sent.".into(),
        PayoutStatus::Rejected | PayoutStatus::Failed => {
            "Your payout could not be completed.".into()
        }
    }
}

async fn status_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, Some(&token), "status").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let p = &l.payout;
    let urls = p.return_urls.as_ref();
    let kyc = KycCheck {
        merchant_id: p.merchant_id,
        cashier: p.metadata.cashier_session_id.is_some(),
        failed: p.status == PayoutStatus::Failed,
        reason: p.status_reason.as_ref(),
        routing_detail: p.routing_detail.as_deref(),
        router_id: p.router_id,
        // As routed at creation (any method).
        request: RouteRequest {
            direction: Direction::Payout,
            amount: p.initial,
            country: p.customer.billing.country_code,
            kyc_verified: p.kyc_verified,
            previous_transaction_count: p.previous_transaction_count,
            method: None,
        },
    };
    let kyc_level_errors = kyc_level_errors(&state, kyc).await;
    // Reported like the payin status page (§11.4): `status.js` posts the PAYMENT_* events to the
    // framing parent, shows the Close button when framed and follows http(s) return URLs.
    let t = StatusPage {
        id: p.id.hex(),
        order_id: &p.order_id,
        amount: amount_text(p),
        currency: p.amount.currency.code(),
        status: p.status.as_str(),
        text: if kyc_level_errors.is_empty() {
            status_text(p)
        } else {
            KYC_TEXT.into()
        },
        status_json_url: format!("/hpp/payout/{}/status.json?token={token}", p.id.hex()),
        is_final: p.status.is_final(),
        frame_origins: l.merchant.allowed_frame_origins.join(" "),
        success_url: navigable(urls.map(|u| u.success.as_str())),
        failure_url: navigable(urls.map(|u| u.failure.as_str())),
        cashier_url: p
            .metadata
            .cashier_session_id
            .as_ref()
            .map(|sid| format!("/cashier/{sid}/withdraw")),
        kyc_level_errors,
    };
    render(&t, |html| page(&l, StatusCode::OK, html))
}

/// `status.json` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson {
    id: String,
    status: String,
    status_reason: Option<StatusReasonView>,
    amount: Box<serde_json::value::RawValue>,
    currency: String,
    order_id: String,
}

async fn status_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, Some(&token), "status").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let p = &l.payout;
    let body = StatusJson {
        id: p.id.hex(),
        status: p.status.as_str().to_string(),
        status_reason: p.status_reason.as_ref().map(StatusReasonView::from),
        amount: amount_json(p.amount),
        currency: p.amount.currency.code().to_string(),
        order_id: p.order_id.clone(),
    };
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
