//! Cashier flows (API.md §6, §11.2): sessions, the balance call, and the deposits and
//! withdrawals the hosted cashier creates.
//!
//! A cashier transaction is committed in one store transaction with its session change: the
//! session's deposit/withdrawal number (a compare-and-set, so `{base}-D{n}` numbers are never
//! reused) and, for a withdrawal, the balance, which is checked and decremented there — so
//! concurrent withdrawals can never overdraw it.

use axum::http::StatusCode;
use omno_domain::cashier::{CashierKind, CashierSession, WithdrawalRefused};
use omno_domain::errors::FieldErrors;
use omno_domain::ids::RouterId;
use omno_domain::money::{Money, parse_amount};
use omno_domain::payin::Payin;
use omno_domain::payout::{Dispatch, Payout};
use omno_store::{
    BalanceOutcome, CashierOutcome, CashierTx, CashierWrite, CreateMeta, CreateOutcome,
    MerchantRecord, StoredResponse,
};
use serde_json::Map;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::payout::{
    MAX_RACES, idem_not_before, idem_precheck, idem_write, now, scope, with_header_errors,
};
use crate::error::ApiError;
use crate::reply::{Reply, to_json};
use crate::state::AppState;
use crate::wire::cashier::CreateSessionResponse;
use crate::wire::parse::canonical_fingerprint;
use crate::wire::{self, CreatePayoutInput};

/// The `checkoutUrl` of a session.
pub fn checkout_url(state: &AppState, session_id: &str) -> String {
    state.url(&format!("/cashier/{session_id}"))
}

/// Whether `s` is a session id as we issue them: a lowercase dashed UUID.
pub fn is_session_id(s: &str) -> bool {
    s.len() == 36 && Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// `POST /public/cashier/session`.
pub async fn create_session(
    state: &AppState,
    merchant: &MerchantRecord,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let now = now(state);
    let s = &state.settings;
    let cfg = state.config.get(&*state.store, merchant.id).await?;
    let router_known = |r: &str| RouterId::parse(r).is_some_and(|id| cfg.routers.contains_key(&id));
    let parsed = wire::cashier::create_session(
        body,
        &merchant.enabled_currencies,
        now.date(),
        (s.webhooks.allow_loopback, s.webhooks.allow_private),
        &router_known,
    );
    let input = with_header_errors(parsed, idem_err)?;
    let scope = scope(merchant);
    let fp = canonical_fingerprint("POST /public/cashier/session\n", &input.canon);
    let key = idem_key.as_deref();
    if let Some(r) = idem_precheck(state, &scope, key, &fp, now).await? {
        return Ok(r);
    }
    let customer_id = state
        .config
        .customer(
            &*state.store,
            merchant.id,
            &input.customer.external_user_id,
            now,
        )
        .await?;
    let id = Uuid::new_v4().hyphenated().to_string();
    let session = CashierSession {
        order_base: input.order_id.unwrap_or_else(|| id.clone()),
        id: id.clone(),
        merchant_id: merchant.id,
        customer_id,
        customer: input.customer,
        return_urls: input.return_urls,
        currency: input.currency,
        amount: input.amount,
        kyc_verified: input.kyc_verified,
        previous_transaction_count: input.previous_transaction_count,
        webhook_url: input.webhook_url,
        router_id: input
            .router_id
            .as_deref()
            .and_then(RouterId::parse)
            .or(merchant.default_router_id),
        balance: input.balance,
        balance_version: 1,
        deposit_seq: 0,
        withdraw_seq: 0,
        created_at: now,
        expires_at: now + Duration::seconds(s.cashier.session_ttl_secs as i64),
    };
    let response = to_json(&CreateSessionResponse {
        session_id: id.clone(),
        checkout_url: checkout_url(state, &id),
    })?;
    let idem = idem_write(state, &scope, key, &fp, &response, now);
    match state.store.create_cashier_session(&session, idem).await? {
        CreateOutcome::Created => Ok(Reply::ok(response)),
        CreateOutcome::IdemReplay(r) => Ok(Reply::replay(r.status, r.body)),
        CreateOutcome::IdemMismatch => Err(ApiError::IdempotencyKeyReused),
        CreateOutcome::OrderReplay(_) | CreateOutcome::DuplicateOrderId => {
            Err(ApiError::internal("sessions have no orderId rule"))
        }
    }
}

/// `PUT /public/cashier/session/{sessionId}/balance` → 204.
pub async fn set_balance(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    if !is_session_id(raw_id) {
        return Err(ApiError::NotFound);
    }
    let session = state
        .store
        .get_cashier_session(Some(merchant.id), raw_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (balance, canon) = with_header_errors(
        wire::cashier::balance_body(body, session.currency),
        idem_err,
    )?;
    let now = now(state);
    let scope = scope(merchant);
    let fp = canonical_fingerprint(
        &format!("PUT /public/cashier/session/{raw_id}/balance\n"),
        &canon,
    );
    let key = idem_key.as_deref();
    if let Some(r) = idem_precheck(state, &scope, key, &fp, now).await? {
        return Ok(r);
    }
    let idem = idem_write(state, &scope, key, &fp, "", now).map(|mut w| {
        w.response = StoredResponse {
            status: 204,
            body: String::new(),
        };
        w
    });
    match state
        .store
        .set_cashier_balance(merchant.id, raw_id, balance, now, idem)
        .await?
    {
        BalanceOutcome::Updated => Ok(Reply::with_status(StatusCode::NO_CONTENT, String::new())),
        BalanceOutcome::NotFound => Err(ApiError::NotFound),
        BalanceOutcome::Expired => Err(ApiError::InvalidState(
            "the cashier session has expired".into(),
        )),
        BalanceOutcome::IdemTaken => idem_precheck(state, &scope, key, &fp, now)
            .await?
            .ok_or_else(|| ApiError::internal("idempotency key vanished")),
    }
}

/// Why the cashier refused a deposit or withdrawal.
#[derive(Debug)]
pub enum CashierError {
    /// Unknown session.
    NotFound,
    /// The session has expired (410 page).
    Expired,
    /// A form field is invalid (re-render with 400).
    Form(FieldErrors),
    /// Anything else.
    Api(ApiError),
}

impl From<ApiError> for CashierError {
    fn from(e: ApiError) -> Self {
        CashierError::Api(e)
    }
}

impl From<omno_store::StoreError> for CashierError {
    fn from(e: omno_store::StoreError) -> Self {
        CashierError::Api(e.into())
    }
}

/// The live session, or why not.
pub async fn active_session(state: &AppState, id: &str) -> Result<CashierSession, CashierError> {
    if !is_session_id(id) {
        return Err(CashierError::NotFound);
    }
    let s = state
        .store
        .get_cashier_session(None, id)
        .await?
        .ok_or(CashierError::NotFound)?;
    if s.expired(now(state)) {
        return Err(CashierError::Expired);
    }
    Ok(s)
}

fn amount_error(message: impl Into<String>) -> CashierError {
    let mut errs = FieldErrors::new();
    errs.add("amount", message.into());
    CashierError::Form(errs)
}

/// The amount of a deposit or withdrawal: the session's fixed deposit amount, else the typed one.
fn form_amount(
    s: &CashierSession,
    kind: CashierKind,
    typed: Option<&str>,
) -> Result<i64, CashierError> {
    if kind == CashierKind::Deposit
        && let Some(fixed) = s.amount
    {
        return Ok(fixed);
    }
    let text = typed.map(str::trim).unwrap_or("");
    if text.is_empty() {
        return Err(amount_error("is required"));
    }
    // A form field is text; accept a plain decimal only (no exponent, no sign, no spaces).
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(amount_error("must be a number"));
    }
    parse_amount(text, s.currency.exponent())
        .map(|m| m.0)
        .map_err(|e| amount_error(e.to_string()))
}

/// What a cashier form creates.
pub enum Created {
    /// A deposit.
    Payin(Box<Payin>),
    /// A withdrawal.
    Payout(Box<Payout>),
}

/// A cashier deposit or withdrawal (form `amount`): creates the payin or payout with the
/// session's customer, router, return URLs and webhook, numbered `{base}-D{n}` / `{base}-W{n}`.
pub async fn create_transaction(
    state: &AppState,
    session_id: &str,
    kind: CashierKind,
    typed_amount: Option<&str>,
) -> Result<Created, CashierError> {
    let mut skip = 0i64;
    let mut last_seq = None;
    for _ in 0..MAX_RACES * 4 {
        let s = active_session(state, session_id).await?;
        let amount = form_amount(&s, kind, typed_amount)?;
        if kind == CashierKind::Withdraw {
            match s.check_withdrawal(amount) {
                Ok(()) => {}
                Err(WithdrawalRefused::NotPositive) => {
                    return Err(amount_error("must be greater than 0"));
                }
                Err(WithdrawalRefused::AboveBalance { .. }) => {
                    return Err(amount_error("exceeds the available balance"));
                }
            }
        }
        let expected = s.seq(kind);
        if last_seq != Some(expected) {
            skip = 0;
            last_seq = Some(expected);
        }
        let n = expected + 1 + skip;
        let now = now(state);
        let merchant = state
            .config
            .merchant(&*state.store, s.merchant_id)
            .await?
            .ok_or(CashierError::NotFound)?;
        let cfg = state.config.get(&*state.store, s.merchant_id).await?;
        let input = CreatePayoutInput {
            order_id: s.order_id(kind, n),
            money: Money {
                amount: omno_domain::money::MinorUnits(amount),
                currency: s.currency,
            },
            kyc_verified: s.kyc_verified,
            customer: s.customer.clone(),
            router_id: s.router_id.map(|r| r.hex()),
            previous_transaction_count: Some(s.previous_transaction_count),
            return_urls: Some(s.return_urls.clone()),
            webhook_url: s.webhook_url.clone(),
            canon: Map::new(),
        };
        // A fingerprint no API request can have: the API cannot replay a cashier orderId.
        let meta = |response: String| CreateMeta {
            order_fingerprint: format!("cashier:{}", s.id),
            response,
            idem: None,
            idem_not_before: idem_not_before(state, now),
        };
        let created;
        let deliveries;
        let outcome = match kind {
            CashierKind::Deposit => {
                let p = super::payin::new_payin(
                    state,
                    &cfg,
                    &merchant,
                    s.customer_id,
                    input,
                    Some(s.id.clone()),
                    now,
                );
                let events = Vec::from_iter(super::payin::status_event(state, &p, now).await?);
                let response = to_json(&wire::payin::CreatePayinResponse {
                    payment_id: p.id.hex(),
                    status: p.status.as_str().to_string(),
                    iframe_urls: wire::IframeUrls {
                        card: super::payin::page_url(state, p.id, "card", now),
                        apm: super::payin::page_url(state, p.id, "apm", now),
                    },
                })?;
                deliveries = omno_store::NewEvent::any_delivery(&events);
                let out = state
                    .store
                    .cashier_transaction(CashierWrite {
                        session_id: &s.id,
                        expected_seq: expected,
                        seq: n,
                        tx: CashierTx::Deposit(&p),
                        meta: meta(response),
                        events,
                        now,
                    })
                    .await?;
                created = Created::Payin(Box::new(p));
                out
            }
            CashierKind::Withdraw => {
                let p = super::payout::new_payout(
                    state,
                    &cfg,
                    &merchant,
                    s.customer_id,
                    input,
                    Some(s.id.clone()),
                    now,
                )?;
                let events = Vec::from_iter(super::payout::status_event(state, &p, now).await?);
                let response = to_json(&wire::CreatePayoutResponse {
                    payout_id: p.id.hex(),
                    status: p.status.as_str().to_string(),
                    iframe_urls: wire::IframeUrls {
                        card: super::payout::page_url(state, p.id, "card", now),
                        apm: super::payout::page_url(state, p.id, "apm", now),
                    },
                })?;
                deliveries = omno_store::NewEvent::any_delivery(&events);
                let out = state
                    .store
                    .cashier_transaction(CashierWrite {
                        session_id: &s.id,
                        expected_seq: expected,
                        seq: n,
                        tx: CashierTx::Withdraw(&p, amount),
                        meta: meta(response),
                        events,
                        now,
                    })
                    .await?;
                created = Created::Payout(Box::new(p));
                out
            }
        };
        match outcome {
            CashierOutcome::Created => {
                let (kind_label, status, queued) = match &created {
                    Created::Payin(p) => ("PAYIN", p.status.as_str(), false),
                    Created::Payout(p) => {
                        ("PAYOUT", p.status.as_str(), p.dispatch == Dispatch::Queued)
                    }
                };
                crate::telemetry::transaction(kind_label, status);
                state.committed_deliveries(queued, deliveries);
                return Ok(created);
            }
            CashierOutcome::SessionGone => return Err(CashierError::Expired),
            CashierOutcome::InsufficientBalance => {
                return Err(amount_error("exceeds the available balance"));
            }
            CashierOutcome::Conflict => {
                // Either another transaction took the number (re-read), or the orderId is taken
                // by another session with the same base: skip that number.
                let again = active_session(state, session_id).await?;
                if again.seq(kind) == expected {
                    skip += 1;
                }
            }
        }
    }
    Err(CashierError::Api(ApiError::internal(
        "too many concurrent cashier changes",
    )))
}

/// `state.json` of the cashier page (§11.2).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    session_id: String,
    currency: String,
    amount: Option<Box<serde_json::value::RawValue>>,
    balance: Box<serde_json::value::RawValue>,
    balance_version: i64,
    expires_at: String,
    status: &'static str,
}

/// The polled state of a session.
pub fn session_state(s: &CashierSession, now: OffsetDateTime) -> SessionState {
    let money = |m: i64| {
        wire::amount_json(Money {
            amount: omno_domain::money::MinorUnits(m),
            currency: s.currency,
        })
    };
    SessionState {
        session_id: s.id.clone(),
        currency: s.currency.code().to_string(),
        amount: s.amount.map(money),
        balance: money(s.balance),
        balance_version: s.balance_version,
        expires_at: crate::clock::fmt_ts(s.expires_at),
        status: if s.expired(now) { "EXPIRED" } else { "ACTIVE" },
    }
}
