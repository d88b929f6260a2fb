//! Hosted payin pages (API.md §11.2): the card form, the APM choice, the simulated 3DS challenge
//! and the status page that follows the payin until it is final (§11.4 result reporting).
//!
//! Card data is posted only to omno and handed to [`flows::payin::process`] as parsed domain
//! values; it is never logged, never placed in a URL and never echoed back into a re-rendered
//! form (only the cardholder name and the expiry are).
//!
//! [`flows::payin::process`]: crate::flows::payin::process

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omno_domain::card::{CardExpiry, CardNumber, Cvv};
use omno_domain::ids::{MerchantId, PayinId, RouterId};
use omno_domain::money::{Money, format_amount};
use omno_domain::payin::{Payin, PayinStatus};
use omno_domain::psp::{DetailedStatus, Direction, PaymentMethod, StatusReason};
use omno_domain::router::RouteRequest;
use omno_domain::validate;
use omno_store::MerchantRecord;
use serde::{Deserialize, Serialize};

use super::{message, render, secure_html};
use crate::error::ApiError;
use crate::flows::payin::{Instrument, ProcessRequest, complete_3ds, page_url, process};
use crate::reply::read_limited;
use crate::state::AppState;
use crate::wire::{BrowserInfo, StatusReasonView, amount_json};

/// The payin page routes.
pub fn router() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/hpp/payin/{id}/card", get(card_get).post(card_post))
        .route("/hpp/payin/{id}/apm", get(apm_get).post(apm_post))
        .route("/hpp/payin/{id}/3ds", get(three_ds_get).post(three_ds_post))
        .route("/hpp/payin/{id}/status", get(status_page))
        .route("/hpp/payin/{id}/status.json", get(status_json))
}

/// `?token=`.
#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The APM methods a customer can choose on the hosted page.
const APM_METHODS: [PaymentMethod; 3] = [
    PaymentMethod::BankTransfer,
    PaymentMethod::EWallet,
    PaymentMethod::Crypto,
];

struct Loaded {
    payin: Payin,
    merchant: Arc<MerchantRecord>,
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "This payment page does not exist.",
    )
}

fn internal_error() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
    )
}

/// Loads the payin `id` for `page`: 404 for an unknown id, 403 for a bad or expired token.
async fn load(state: &AppState, id: &str, token: &str, page: &str) -> Result<Loaded, Response> {
    let pid = PayinId::parse(id).ok_or_else(not_found)?;
    let payin = match state.store.get_payin(None, pid).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "payin page load failed");
            return Err(internal_error());
        }
    };
    let merchant = match state
        .config
        .merchant(&*state.store, payin.merchant_id)
        .await
    {
        Ok(Some(m)) => m,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = ?e, "payin page merchant load failed");
            return Err(internal_error());
        }
    };
    let now = state.clock.now();
    if !state
        .keys
        .check_page_token(token, "payin", &pid.hex(), page, now)
    {
        // Shown inside the merchant's frame, so framed like the page it stands for.
        let html = super::MessagePage {
            title: "Link expired",
            text: "This link is invalid or has expired. Please ask the merchant for a new one.",
        };
        return Err(render(&html, |html| {
            secure_html(StatusCode::FORBIDDEN, html, Some(&merchant), &[])
        }));
    }
    Ok(Loaded { payin, merchant })
}

fn return_urls(p: &Payin) -> Vec<&str> {
    p.return_urls
        .as_ref()
        .map(|r| vec![r.success.as_str(), r.failure.as_str()])
        .unwrap_or_default()
}

fn page(l: &Loaded, status: StatusCode, html: String) -> Response {
    secure_html(status, html, Some(&l.merchant), &return_urls(&l.payin))
}

/// An amount for people: every decimal of the currency (`12.00`, `1051` JPY).
pub(super) fn money_text(m: Money) -> String {
    let exp = usize::from(m.currency.exponent());
    let text = format_amount(m.amount.0, m.currency.exponent());
    if exp == 0 {
        return text;
    }
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
    let dot = if decimals == 0 { "." } else { "" };
    format!("{text}{dot}{}", "0".repeat(exp.saturating_sub(decimals)))
}

/// A same-origin path of the hosted page `page` with a fresh token (relative, so the redirect
/// stays within `form-action 'self'` whatever host name the browser used).
fn page_path(state: &AppState, id: PayinId, page: &str) -> String {
    let url = page_url(state, id, page, state.clock.now());
    match url.strip_prefix(&state.url("")) {
        Some(path) if path.starts_with('/') => path.to_string(),
        Some(_) | None => url,
    }
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Where a payin that can no longer take payment details is followed: its 3DS challenge while
/// one is open, else its status page.
fn onward(state: &AppState, p: &Payin) -> Response {
    let next = if p.status == PayinStatus::Pending3ds {
        "3ds"
    } else {
        "status"
    };
    see_other(&page_path(state, p.id, next))
}

/// The answer to a processing error: an already processed payin moves on to its current page.
async fn process_failed(state: &AppState, id: PayinId, e: ApiError) -> Response {
    match e {
        ApiError::InvalidState(_) => match state.store.get_payin(None, id).await {
            Ok(Some(p)) => onward(state, &p),
            Ok(None) => not_found(),
            Err(e) => {
                tracing::error!(error = %e, "payin reload failed");
                internal_error()
            }
        },
        ApiError::NotFound => not_found(),
        e => {
            tracing::error!(error = ?e, "hosted payin processing failed");
            internal_error()
        }
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

/// The customer context of a form post: the connection's address (`X-Forwarded-For` is not
/// trusted) and the `User-Agent` header.
fn browser_of(peer: Option<SocketAddr>, headers: &HeaderMap) -> BrowserInfo {
    BrowserInfo {
        ip: peer.map(|a| a.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(1024).collect()),
    }
}

/// The shared start of a card or APM form post: the payin behind a valid token, still `CREATED`
/// (else the customer is sent on to its 3DS or status page), the peer and the form fields.
async fn open_form(
    state: &AppState,
    id: &str,
    token: &str,
    page: &str,
    req: Request,
) -> Result<
    (
        Loaded,
        Option<SocketAddr>,
        HeaderMap,
        HashMap<String, String>,
    ),
    Response,
> {
    let l = load(state, id, token, page).await?;
    if l.payin.status != PayinStatus::Created {
        return Err(onward(state, &l.payin));
    }
    let peer = peer_of(&req);
    let (headers, form) = read_form(state, req).await?;
    Ok((l, peer, headers, form))
}

fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

fn field(form: &HashMap<String, String>, k: &str) -> String {
    form.get(k)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Card page

/// Per-field messages of the card form.
#[derive(Default)]
struct CardErrors {
    card_number: Option<String>,
    expiration_month: Option<String>,
    expiration_year: Option<String>,
    cvv: Option<String>,
    cardholder_name: Option<String>,
}

impl CardErrors {
    /// Every message, in form order.
    fn list(&self) -> Vec<&str> {
        [
            &self.card_number,
            &self.expiration_month,
            &self.expiration_year,
            &self.cvv,
            &self.cardholder_name,
        ]
        .into_iter()
        .filter_map(|e| e.as_deref())
        .collect()
    }

    fn is_empty(&self) -> bool {
        self.list().is_empty()
    }
}

/// What the re-rendered form may show again: never the card number or the CVV.
#[derive(Default)]
struct CardEcho {
    holder: String,
    month: String,
    year: String,
    save: bool,
}

#[derive(Template)]
#[template(path = "payin_card.html")]
struct CardPage<'a> {
    amount: String,
    currency: &'a str,
    order_id: &'a str,
    action: String,
    echo: CardEcho,
    errors: CardErrors,
}

fn card_page(
    l: &Loaded,
    token: &str,
    status: StatusCode,
    echo: CardEcho,
    errors: CardErrors,
) -> Response {
    let p = &l.payin;
    let t = CardPage {
        amount: money_text(p.initial),
        currency: p.initial.currency.code(),
        order_id: &p.order_id,
        action: format!("/hpp/payin/{}/card?token={token}", p.id.hex()),
        echo,
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
    let l = match load(&state, &id, &token, "card").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if l.payin.status != PayinStatus::Created {
        return onward(&state, &l.payin);
    }
    let c = &l.payin.customer;
    let echo = CardEcho {
        holder: format!("{} {}", c.first_name, c.last_name),
        ..CardEcho::default()
    };
    card_page(&l, &token, StatusCode::OK, echo, CardErrors::default())
}

/// The parsed card form, or its per-field errors.
fn parse_card(
    form: &HashMap<String, String>,
    today: time::Date,
) -> Result<(CardNumber, CardExpiry, bool), CardErrors> {
    let mut errors = CardErrors::default();
    let number = field(form, "cardNumber");
    let number = if number.is_empty() {
        errors.card_number = Some("Enter the card number".into());
        None
    } else {
        CardNumber::parse(&number)
            .map_err(|m| errors.card_number = Some(format!("Card number {m}")))
            .ok()
    };
    let (month, year) = (
        field(form, "expirationMonth"),
        field(form, "expirationYear"),
    );
    if month.is_empty() {
        errors.expiration_month = Some("Enter the expiry month".into());
    } else if CardExpiry::parse(&month, "2099").is_err() {
        errors.expiration_month = Some("Expiry month must be a month from 1 to 12".into());
    }
    if year.is_empty() {
        errors.expiration_year = Some("Enter the expiry year".into());
    } else if CardExpiry::parse("1", &year).is_err() {
        errors.expiration_year = Some("Expiry year must be a year in YYYY or YY format".into());
    }
    let expiry = match CardExpiry::parse(&month, &year) {
        Ok(e) if e.is_expired(today) => {
            errors.expiration_year = Some("The card has expired".into());
            None
        }
        Ok(e) => Some(e),
        Err(_) => None,
    };
    let cvv = field(form, "cvv");
    if cvv.is_empty() {
        errors.cvv = Some("Enter the security code (CVV)".into());
    } else if let Err(m) = Cvv::parse(&cvv) {
        errors.cvv = Some(format!("Security code {m}"));
    }
    if let Err(m) = validate::non_blank(&field(form, "cardholderName"), 255) {
        errors.cardholder_name = Some(format!("Cardholder name {m}"));
    }
    let save = matches!(field(form, "saveCard").as_str(), "true" | "on" | "1");
    match (number, expiry) {
        (Some(n), Some(e)) if errors.is_empty() => Ok((n, e, save)),
        _ => Err(errors),
    }
}

async fn card_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let token = q.token.unwrap_or_default();
    let (l, peer, headers, form) = match open_form(&state, &id, &token, "card", req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (number, expiry, save) = match parse_card(&form, state.clock.now().date()) {
        Ok(v) => v,
        Err(errors) => {
            let echo = CardEcho {
                holder: field(&form, "cardholderName"),
                month: field(&form, "expirationMonth"),
                year: field(&form, "expirationYear"),
                save: matches!(field(&form, "saveCard").as_str(), "true" | "on" | "1"),
            };
            return card_page(&l, &token, StatusCode::BAD_REQUEST, echo, errors);
        }
    };
    let req = ProcessRequest {
        instrument: Instrument::Card {
            number,
            expiry,
            card_id: None,
            save,
        },
        browser: browser_of(peer, &headers),
        idem: None,
        started,
    };
    match process(&state, l.payin.merchant_id, l.payin.id, req).await {
        Ok((p, _)) => onward(&state, &p),
        Err(e) => process_failed(&state, l.payin.id, e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// APM page

/// One method on the APM page.
struct MethodOption {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

fn method_label(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::BankTransfer => "Bank transfer",
        PaymentMethod::EWallet => "E-wallet",
        PaymentMethod::Crypto => "Crypto",
        PaymentMethod::Card => "Card",
    }
}

/// The APM methods that some eligible PSP account of the merchant can process for `p`: the
/// payin's router (or none) over the cached configuration, as processing will route.
async fn eligible_methods(state: &AppState, p: &Payin) -> Result<Vec<PaymentMethod>, ApiError> {
    let cfg = state.config.get(&*state.store, p.merchant_id).await?;
    let now = state.clock.now();
    Ok(APM_METHODS
        .into_iter()
        .filter(|m| {
            let req = RouteRequest {
                direction: Direction::Payin,
                amount: p.initial,
                country: p.customer.billing.country_code,
                kyc_verified: p.kyc_verified,
                previous_transaction_count: p.previous_transaction_count,
                method: Some(*m),
            };
            crate::flows::routing::route(state, &cfg, p.router_id, &req, now)
                .chosen
                .is_some()
        })
        .collect())
}

#[derive(Template)]
#[template(path = "payin_apm.html")]
struct ApmPage<'a> {
    amount: String,
    currency: &'a str,
    order_id: &'a str,
    action: String,
    methods: Vec<MethodOption>,
    error: Option<String>,
}

fn apm_page(
    l: &Loaded,
    token: &str,
    status: StatusCode,
    methods: &[PaymentMethod],
    chosen: Option<PaymentMethod>,
    error: Option<String>,
) -> Response {
    let p = &l.payin;
    let chosen = chosen
        .filter(|c| methods.contains(c))
        .or(methods.first().copied());
    let t = ApmPage {
        amount: money_text(p.initial),
        currency: p.initial.currency.code(),
        order_id: &p.order_id,
        action: format!("/hpp/payin/{}/apm?token={token}", p.id.hex()),
        methods: methods
            .iter()
            .map(|m| MethodOption {
                value: m.as_str(),
                label: method_label(*m),
                checked: Some(*m) == chosen,
            })
            .collect(),
        error,
    };
    render(&t, |html| page(l, status, html))
}

async fn apm_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, &token, "apm").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if l.payin.status != PayinStatus::Created {
        return onward(&state, &l.payin);
    }
    match eligible_methods(&state, &l.payin).await {
        Ok(methods) => apm_page(&l, &token, StatusCode::OK, &methods, None, None),
        Err(e) => {
            tracing::error!(error = ?e, "payin APM methods failed");
            internal_error()
        }
    }
}

async fn apm_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let token = q.token.unwrap_or_default();
    let (l, peer, headers, form) = match open_form(&state, &id, &token, "apm", req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let methods = match eligible_methods(&state, &l.payin).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = ?e, "payin APM methods failed");
            return internal_error();
        }
    };
    let Some(method) =
        PaymentMethod::parse(&field(&form, "method")).filter(|m| methods.contains(m))
    else {
        let error = Some("Choose one of the payment methods".to_string());
        return apm_page(&l, &token, StatusCode::BAD_REQUEST, &methods, None, error);
    };
    let req = ProcessRequest {
        instrument: Instrument::Apm(method),
        browser: browser_of(peer, &headers),
        idem: None,
        started,
    };
    match process(&state, l.payin.merchant_id, l.payin.id, req).await {
        Ok((p, _)) => onward(&state, &p),
        Err(e) => process_failed(&state, l.payin.id, e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// 3DS challenge (simulated)

#[derive(Template)]
#[template(path = "payin_3ds.html")]
struct ThreeDsPage<'a> {
    amount: String,
    currency: &'a str,
    merchant: &'a str,
    card_mask: &'a str,
    action: String,
    token: &'a str,
    error: Option<&'a str>,
}

fn three_ds_page(l: &Loaded, token: &str, status: StatusCode, error: Option<&str>) -> Response {
    let p = &l.payin;
    let t = ThreeDsPage {
        amount: money_text(p.amount),
        currency: p.amount.currency.code(),
        merchant: &l.merchant.name,
        card_mask: p.card.as_ref().map(|c| c.mask.as_str()).unwrap_or(""),
        action: format!("/hpp/payin/{}/3ds", p.id.hex()),
        token,
        error,
    };
    render(&t, |html| page(l, status, html))
}

async fn three_ds_get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, &token, "3ds").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    if l.payin.status != PayinStatus::Pending3ds {
        return see_other(&page_path(&state, l.payin.id, "status"));
    }
    three_ds_page(&l, &token, StatusCode::OK, None)
}

async fn three_ds_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    req: Request,
) -> Response {
    let (_, form) = match read_form(&state, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // The form posts `token` (§11.2); a token in the query is accepted as well.
    let token = form.get("token").cloned().or(q.token).unwrap_or_default();
    let l = match load(&state, &id, &token, "3ds").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let passed = match field(&form, "outcome").as_str() {
        "success" => true,
        "failure" => false,
        _ => {
            if l.payin.status != PayinStatus::Pending3ds {
                return see_other(&page_path(&state, l.payin.id, "status"));
            }
            let error = Some("Choose Complete or Fail");
            return three_ds_page(&l, &token, StatusCode::BAD_REQUEST, error);
        }
    };
    match complete_3ds(&state, l.payin.id, passed).await {
        Ok(p) => see_other(&page_path(&state, p.id, "status")),
        Err(ApiError::InvalidState(_)) => see_other(&page_path(&state, l.payin.id, "status")),
        Err(e) => process_failed(&state, l.payin.id, e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Status page

#[derive(Template)]
#[template(path = "payin_status.html")]
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

fn status_text(p: &Payin) -> String {
    match p.status {
        PayinStatus::Created => "Waiting for your payment details.".into(),
        PayinStatus::Pending => "Your payment is being processed.".into(),
        PayinStatus::Pending3ds => {
            "Waiting for the card issuer's confirmation (3-D Secure).".into()
        }
        PayinStatus::Success | PayinStatus::RefundFailed => "Your payment was successful.".into(),
        PayinStatus::Refunded => "This payment has been refunded.".into(),
        PayinStatus::PartiallyRefunded => "This payment has been partly refunded.".into(),
        PayinStatus::Declined | PayinStatus::Failed | PayinStatus::Timeout => {
            match p.status_reason.as_ref() {
                // The routing reason names the merchant's PSP accounts: not for customers.
                Some(r) if r.detailed_status == DetailedStatus::NoProviderAvailable => {
                    NO_PROVIDER_TEXT.into()
                }
                Some(r) => r.reason.clone(),
                None => "Your payment could not be completed.".into(),
            }
        }
    }
}

/// The status text of a transaction no PSP account could take.
pub(super) const NO_PROVIDER_TEXT: &str =
    "This payment method is not available at the moment. Please try another one later.";

/// The status text of a cashier transaction only a verified customer could make (§11.4
/// `KYC_REQUIRED_LEVEL_ERRORS`).
pub(super) const KYC_TEXT: &str = "This payment method requires a verified account. Please complete the verification on the merchant's site.";

/// What [`kyc_level_errors`] looks at in a failed transaction.
pub(super) struct KycCheck<'a> {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// Created by the cashier.
    pub cashier: bool,
    /// The transaction is `FAILED`.
    pub failed: bool,
    /// Its `statusReason`.
    pub reason: Option<&'a StatusReason>,
    /// Its recorded routing (`routing_detail`, §13.7 `routing`).
    pub routing_detail: Option<&'a str>,
    /// The router it was routed with.
    pub router_id: Option<RouterId>,
    /// The request it was routed with (`kyc_verified` as sent).
    pub request: RouteRequest,
}

/// `routing_detail`, as far as the KYC check reads it.
#[derive(Deserialize)]
struct RoutingDetail {
    #[serde(default)]
    candidates: Vec<CandidateDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateDetail {
    eligible: bool,
    drop_reason: Option<String>,
}

/// The `data` of §11.4 `KYC_REQUIRED_LEVEL_ERRORS` as JSON, or `""`: set for a cashier
/// transaction that ended `FAILED` `NO_PROVIDER_AVAILABLE` only because every candidate account
/// requires KYC: the customer is not verified, routing dropped every candidate for KYC (the
/// router's drop reason `{account} requires KYC`), and routing the same request again for a
/// verified customer finds an account (KYC is checked before the currency, so an account that
/// lacks the currency as well does not count).
pub(super) async fn kyc_level_errors(state: &AppState, t: KycCheck<'_>) -> String {
    const DATA: &str = r#"[{"level":"KYC_VERIFIED","description":"this payment method requires a verified customer"}]"#;
    let no_provider = t
        .reason
        .is_some_and(|r| r.detailed_status == DetailedStatus::NoProviderAvailable);
    if !t.cashier || !t.failed || !no_provider || t.request.kyc_verified {
        return String::new();
    }
    let Some(detail) = t
        .routing_detail
        .and_then(|d| serde_json::from_str::<RoutingDetail>(d).ok())
    else {
        return String::new();
    };
    let all_kyc = !detail.candidates.is_empty()
        && detail.candidates.iter().all(|c| {
            !c.eligible
                && c.drop_reason
                    .as_deref()
                    .is_some_and(|r| r.ends_with(" requires KYC"))
        });
    if !all_kyc {
        return String::new();
    }
    let cfg = match state.config.get(&*state.store, t.merchant_id).await {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::warn!(error = ?e, "KYC check: merchant configuration unavailable");
            return String::new();
        }
    };
    let verified = RouteRequest {
        kyc_verified: true,
        ..t.request
    };
    let routed =
        crate::flows::routing::route(state, &cfg, t.router_id, &verified, state.clock.now());
    if routed.chosen.is_some() {
        DATA.to_string()
    } else {
        String::new()
    }
}

/// A return URL the page may navigate to (§11.4): `http(s)` only, else none.
pub(super) fn navigable(url: Option<&str>) -> &str {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or("")
}

async fn status_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let l = match load(&state, &id, &token, "status").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let p = &l.payin;
    let urls = p.return_urls.as_ref();
    let kyc = KycCheck {
        merchant_id: p.merchant_id,
        cashier: p.cashier_session_id.is_some(),
        failed: p.status == PayinStatus::Failed,
        reason: p.status_reason.as_ref(),
        routing_detail: p.routing_detail.as_deref(),
        router_id: p.router_id,
        request: RouteRequest {
            direction: Direction::Payin,
            amount: p.initial,
            country: p.customer.billing.country_code,
            kyc_verified: p.kyc_verified,
            previous_transaction_count: p.previous_transaction_count,
            method: p.payment_method,
        },
    };
    let kyc_level_errors = kyc_level_errors(&state, kyc).await;
    let t = StatusPage {
        id: p.id.hex(),
        order_id: &p.order_id,
        amount: money_text(p.amount),
        currency: p.amount.currency.code(),
        status: p.status.as_str(),
        text: if kyc_level_errors.is_empty() {
            status_text(p)
        } else {
            KYC_TEXT.into()
        },
        // The status page's token opens its JSON as well (both are the "status" page).
        status_json_url: format!("/hpp/payin/{}/status.json?token={token}", p.id.hex()),
        is_final: p.status.is_final(),
        frame_origins: l.merchant.allowed_frame_origins.join(" "),
        success_url: navigable(urls.map(|u| u.success.as_str())),
        failure_url: navigable(urls.map(|u| u.failure.as_str())),
        cashier_url: p
            .cashier_session_id
            .as_ref()
            .map(|sid| format!("/cashier/{sid}/deposit")),
        kyc_level_errors,
    };
    render(&t, |html| page(&l, StatusCode::OK, html))
}

/// `status.json` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson {
    id: String,
    status: &'static str,
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
    let l = match load(&state, &id, &token, "status").await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let p = l.payin;
    let body = StatusJson {
        id: p.id.hex(),
        status: p.status.as_str(),
        status_reason: p.status_reason.as_ref().map(StatusReasonView::from),
        amount: amount_json(p.amount),
        currency: p.amount.currency.code().to_string(),
        order_id: p.order_id,
    };
    let mut r = axum::Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use omno_domain::money::{Currency, MinorUnits};

    fn money(minor: i64, code: &str) -> Money {
        Money {
            amount: MinorUnits(minor),
            currency: Currency::parse(code).unwrap(),
        }
    }

    #[test]
    fn amounts_show_every_decimal() {
        assert_eq!(money_text(money(1200, "EUR")), "12.00");
        assert_eq!(money_text(money(1250, "EUR")), "12.50");
        assert_eq!(money_text(money(4999, "EUR")), "49.99");
        assert_eq!(money_text(money(5, "EUR")), "0.05");
        assert_eq!(money_text(money(1051, "JPY")), "1051");
        assert_eq!(money_text(money(1000, "KWD")), "1.000");
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn card_form_reports_every_field() {
        let today = time::macros::date!(2026 - 03 - 14);
        let ok = parse_card(
            &form(&[
                ("cardNumber", "4111 1111 1111 1111"),
                ("expirationMonth", "3"),
                ("expirationYear", "26"),
                ("cvv", "737"),
                ("cardholderName", "Anna Keller"),
                ("saveCard", "true"),
            ]),
            today,
        );
        let Ok((number, expiry, save)) = ok else {
            panic!("valid form refused");
        };
        assert_eq!(number.mask(), "411111******1111");
        assert_eq!((expiry.month, expiry.year, save), (3, 2026, true));

        let Err(e) = parse_card(&form(&[]), today) else {
            panic!("empty form accepted");
        };
        assert_eq!(e.list().len(), 5);
        let Err(e) = parse_card(
            &form(&[
                ("cardNumber", "4111111111111111"),
                ("expirationMonth", "02"),
                ("expirationYear", "2026"),
                ("cvv", "737"),
                ("cardholderName", "Anna Keller"),
            ]),
            today,
        ) else {
            panic!("expired card accepted");
        };
        assert_eq!(e.list(), ["The card has expired"]);
        assert!(e.expiration_year.is_some());
    }
}
