//! Cashier wire formats (API.md §6): the session request, the balance call and their answers.

use omno_domain::customer::Customer;
use omno_domain::errors::FieldErrors;
use omno_domain::money::{Currency, format_amount, parse_balance};
use omno_domain::payout::ReturnUrls;
use omno_domain::validate;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::parse::Obj;
use super::{amount, currency, customer, return_urls, webhook};
use crate::error::ApiError;

/// A validated `POST /public/cashier/session` request.
#[derive(Debug, Clone)]
pub struct CreateSessionInput {
    /// `customer`.
    pub customer: Customer,
    /// `returnUrls` (required here).
    pub return_urls: ReturnUrls,
    /// `currency`.
    pub currency: Currency,
    /// Fixed deposit amount, minor units.
    pub amount: Option<i64>,
    /// Base `orderId`.
    pub order_id: Option<String>,
    /// Default false.
    pub kyc_verified: bool,
    /// Default 0.
    pub previous_transaction_count: i64,
    /// `webhook.url`.
    pub webhook_url: Option<String>,
    /// Withdrawable balance, minor units (default 0).
    pub balance: i64,
    /// `routerId`, unresolved.
    pub router_id: Option<String>,
    /// Canonical known fields.
    pub canon: Map<String, Value>,
}

/// A non-negative amount in `currency` (`balance`), recording its canonical value.
fn balance(
    o: &mut Obj<'_>,
    name: &str,
    currency: Option<Currency>,
    errs: &mut FieldErrors,
) -> Option<i64> {
    let text = o.number_text(name, false, errs)?;
    let exponent = currency.map(|c| c.exponent()).unwrap_or(18);
    match parse_balance(text, exponent) {
        Ok(m) => {
            let c = currency?;
            o.set_canon(name, Value::String(format_amount(m.0, c.exponent())));
            Some(m.0)
        }
        Err(_) if currency.is_none() => None,
        Err(e) => {
            errs.add(o.path_of(name), e.to_string());
            None
        }
    }
}

/// Parses and validates a create-session body, reporting every invalid field.
pub fn create_session(
    body: &[u8],
    enabled: &[Currency],
    today: time::Date,
    (allow_loopback, allow_private): (bool, bool),
    router_known: &dyn Fn(&str) -> bool,
) -> Result<CreateSessionInput, ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let customer = customer(&mut o, &mut errs, today);
    let urls_missing = !o.has("returnUrls") || o.is_null("returnUrls");
    let return_urls = return_urls(&mut o, &mut errs);
    if urls_missing {
        errs.add("returnUrls", "is required");
    }
    let currency = currency(&mut o, "currency", enabled, &mut errs);
    let amount_text = o.number_text("amount", false, &mut errs);
    let amount = amount(&mut o, "amount", amount_text, currency, &mut errs).map(|m| m.0);
    let order_id = o.string("orderId", false, &mut errs).and_then(|s| {
        let ok = validate::order_id(&s).and_then(|()| validate::max_len(&s, 240));
        errs.take("orderId", ok.map(|()| s))
    });
    let kyc_verified = o.boolean("kycVerified", false, &mut errs).unwrap_or(false);
    let previous_transaction_count = o
        .integer(
            "previousTransactionCount",
            false,
            0,
            i64::from(i32::MAX),
            &mut errs,
        )
        .unwrap_or(0);
    let webhook_url = webhook(&mut o, &mut errs, allow_loopback, allow_private);
    let balance = balance(&mut o, "balance", currency, &mut errs).unwrap_or(0);
    let router_id = o.string("routerId", false, &mut errs);
    if let Some(r) = &router_id
        && !router_known(r)
    {
        errs.add("routerId", "unknown router");
    }
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    let (Some(customer), Some(return_urls), Some(currency)) = (customer, return_urls, currency)
    else {
        return Err(ApiError::internal("validation inconsistency"));
    };
    Ok(CreateSessionInput {
        customer,
        return_urls,
        currency,
        amount,
        order_id,
        kyc_verified,
        previous_transaction_count,
        webhook_url,
        balance,
        router_id,
        canon: o.into_canon(),
    })
}

/// Parses the optional balance body (§6.2): `{"balance": n}`, `{}` or nothing.
pub fn balance_body(
    body: &[u8],
    currency: Currency,
) -> Result<(Option<i64>, Map<String, Value>), ApiError> {
    let mut o = if body.iter().all(u8::is_ascii_whitespace) {
        Obj::empty()
    } else {
        Obj::root(body)?
    };
    let mut errs = FieldErrors::new();
    let b = balance(&mut o, "balance", Some(currency), &mut errs);
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    Ok((b, o.into_canon()))
}

/// Answer of `POST /public/cashier/session`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionResponse {
    /// Dashed UUIDv4.
    pub session_id: String,
    /// `{public_base_url}/cashier/{sessionId}`.
    pub checkout_url: String,
}
