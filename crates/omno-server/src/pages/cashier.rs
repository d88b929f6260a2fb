//! The hosted cashier (API.md §11.2): one page with deposit and withdraw tabs, addressed by the
//! unguessable session id (the bearer of the page; no API key, no other token).
//!
//! A deposit creates a payin and continues on the payin card or APM page; a withdrawal creates a
//! payout (the balance is checked and decremented in the same database transaction) and continues
//! on the payout destination page, after which the payout waits for the merchant's confirmation.
//! The page posts `CASHIER_LOADED` and `CLOSE_IFRAME` to its parent (`cashier.js`); the result
//! pages it leads to post the `PAYMENT_*` events.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omno_domain::cashier::{CashierKind, CashierSession};
use omno_domain::money::{MinorUnits, Money};
use omno_domain::validate;
use serde::Deserialize;

use super::{message, render, secure_html};
use crate::flows::cashier::{
    CashierError, Created, active_session, create_transaction, session_state,
};
use crate::reply::{read_limited, to_json};
use crate::state::AppState;

/// The cashier routes.
pub fn router() -> Router<AppState> {
    use axum::routing::get;
    Router::new()
        .route("/cashier/{sid}", get(page_both))
        .route(
            "/cashier/{sid}/deposit",
            get(page_deposit).post(post_deposit),
        )
        .route(
            "/cashier/{sid}/withdraw",
            get(page_withdraw).post(post_withdraw),
        )
        .route("/cashier/{sid}/state.json", get(state_json))
}

/// `?layout=single`.
#[derive(Deserialize)]
struct LayoutQuery {
    layout: Option<String>,
}

/// A customer field the cashier cannot start without (§11.4 `KYC_REQUIRED_FIELD_ERRORS`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct KycFieldError {
    field_name: String,
    issue: &'static str,
    error_message: String,
}

/// Re-checks the stored customer the way a session start needs it (data valid at creation can
/// age: a date of birth must still be in the past, names must not be blank).
fn kyc_field_errors(s: &CashierSession, today: time::Date) -> Vec<KycFieldError> {
    let c = &s.customer;
    let mut out = vec![];
    let mut check = |field: &str, value: &str, label: &str| {
        if value.trim().is_empty() {
            out.push(KycFieldError {
                field_name: format!("customer.{field}"),
                issue: "MISSING",
                error_message: format!("{label} is required"),
            });
        }
    };
    check("firstName", &c.first_name, "first name");
    check("lastName", &c.last_name, "last name");
    check("email", &c.email, "email");
    check("dateOfBirth", &c.date_of_birth, "date of birth");
    if !c.date_of_birth.trim().is_empty()
        && validate::date_of_birth(&c.date_of_birth, today).is_err()
    {
        out.push(KycFieldError {
            field_name: "customer.dateOfBirth".into(),
            issue: "INVALID",
            error_message: "date of birth is invalid".into(),
        });
    }
    out
}

#[derive(Template)]
#[template(path = "cashier.html")]
struct CashierPage {
    session_id: String,
    currency: String,
    exponent: u8,
    fixed_amount: Option<String>,
    amount_value: String,
    balance: String,
    can_withdraw: bool,
    tab: &'static str,
    single: bool,
    layout_query: &'static str,
    amount_error: Option<String>,
    step: String,
    allowed_origins: String,
    kyc_errors: String,
    order_base: String,
}

/// An amount of the session currency for people, with every decimal (`100.00`).
fn money_text(minor: i64, s: &CashierSession) -> String {
    super::payin::money_text(Money {
        amount: MinorUnits(minor),
        currency: s.currency,
    })
}

fn error_page(e: CashierError) -> Response {
    match e {
        CashierError::NotFound => message(
            StatusCode::NOT_FOUND,
            "Not found",
            "This cashier does not exist.",
        ),
        CashierError::Expired => message(
            StatusCode::GONE,
            "Session expired",
            "This cashier session has expired. Please start again from the merchant's site.",
        ),
        CashierError::Form(_) | CashierError::Api(_) => {
            if let CashierError::Api(e) = &e {
                tracing::error!(error = ?e, "cashier request failed");
            }
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}

async fn show(
    state: &AppState,
    sid: &str,
    tab: &'static str,
    single: bool,
    status: StatusCode,
    amount_error: Option<String>,
    typed: Option<String>,
) -> Response {
    let s = match active_session(state, sid).await {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let merchant = match state.config.merchant(&*state.store, s.merchant_id).await {
        Ok(Some(m)) => m,
        Ok(None) | Err(_) => return error_page(CashierError::NotFound),
    };
    let today = state.clock.now().date();
    let kyc = kyc_field_errors(&s, today);
    let step = match s.amount {
        Some(_) => "any".to_string(),
        None => {
            let e = s.currency.exponent();
            if e == 0 {
                "1".to_string()
            } else {
                format!("0.{}1", "0".repeat(usize::from(e) - 1))
            }
        }
    };
    let page = CashierPage {
        session_id: s.id.clone(),
        currency: s.currency.code().to_string(),
        exponent: s.currency.exponent(),
        fixed_amount: s.amount.map(|a| money_text(a, &s)),
        amount_value: typed.unwrap_or_default(),
        balance: money_text(s.balance, &s),
        can_withdraw: s.balance > 0,
        tab,
        single,
        layout_query: if single { "?layout=single" } else { "" },
        amount_error,
        step,
        allowed_origins: merchant.allowed_frame_origins.join(" "),
        kyc_errors: if kyc.is_empty() {
            String::new()
        } else {
            to_json(&kyc).unwrap_or_default()
        },
        order_base: s.order_base.clone(),
    };
    let urls = [
        s.return_urls.success.as_str(),
        s.return_urls.failure.as_str(),
    ];
    render(&page, |html| {
        secure_html(status, html, Some(&merchant), &urls)
    })
}

fn single(q: &LayoutQuery) -> bool {
    q.layout.as_deref() == Some("single")
}

async fn page_both(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<LayoutQuery>,
) -> Response {
    show(
        &state,
        &sid,
        "deposit",
        single(&q),
        StatusCode::OK,
        None,
        None,
    )
    .await
}

async fn page_deposit(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<LayoutQuery>,
) -> Response {
    show(
        &state,
        &sid,
        "deposit",
        single(&q),
        StatusCode::OK,
        None,
        None,
    )
    .await
}

async fn page_withdraw(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<LayoutQuery>,
) -> Response {
    show(
        &state,
        &sid,
        "withdraw",
        single(&q),
        StatusCode::OK,
        None,
        None,
    )
    .await
}

async fn form(state: &AppState, req: Request) -> Option<HashMap<String, String>> {
    let (_, body) = read_limited(req, state.settings.server.body_limit_bytes)
        .await
        .ok()?;
    serde_urlencoded::from_bytes(&body).ok()
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

async fn submit(
    state: &AppState,
    sid: &str,
    kind: CashierKind,
    single: bool,
    req: Request,
) -> Response {
    let tab = match kind {
        CashierKind::Deposit => "deposit",
        CashierKind::Withdraw => "withdraw",
    };
    let Some(fields) = form(state, req).await else {
        return show(
            state,
            sid,
            tab,
            single,
            StatusCode::BAD_REQUEST,
            Some("the form could not be read".into()),
            None,
        )
        .await;
    };
    let typed = fields.get("amount").cloned();
    let apm = fields.get("method").map(String::as_str) == Some("apm");
    match create_transaction(state, sid, kind, typed.as_deref()).await {
        Ok(Created::Payin(p)) => {
            let now = crate::flows::payout::now(state);
            let page = if apm { "apm" } else { "card" };
            see_other(&crate::flows::payin::page_url(state, p.id, page, now))
        }
        Ok(Created::Payout(p)) => {
            let now = crate::flows::payout::now(state);
            // A payout that failed at creation (no PSP account) goes straight to its result.
            let page = if !p.can_record_destination() {
                "status"
            } else if apm {
                "apm"
            } else {
                "card"
            };
            see_other(&crate::flows::payout::page_url(state, p.id, page, now))
        }
        Err(CashierError::Form(errs)) => {
            let text = errs
                .iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            show(
                state,
                sid,
                tab,
                single,
                StatusCode::BAD_REQUEST,
                Some(text),
                typed,
            )
            .await
        }
        Err(e) => error_page(e),
    }
}

async fn post_deposit(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<LayoutQuery>,
    req: Request,
) -> Response {
    submit(&state, &sid, CashierKind::Deposit, single(&q), req).await
}

async fn post_withdraw(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    Query(q): Query<LayoutQuery>,
    req: Request,
) -> Response {
    submit(&state, &sid, CashierKind::Withdraw, single(&q), req).await
}

/// `GET /cashier/{sessionId}/state.json`: the page polls it (balance changes, expiry).
async fn state_json(State(state): State<AppState>, Path(sid): Path<String>) -> Response {
    if !crate::flows::cashier::is_session_id(&sid) {
        return crate::error::ApiError::NotFound.into_response();
    }
    let s = match state.store.get_cashier_session(None, &sid).await {
        Ok(Some(s)) => s,
        Ok(None) => return crate::error::ApiError::NotFound.into_response(),
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let now = crate::flows::payout::now(&state);
    match to_json(&session_state(&s, now)) {
        Ok(body) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}
