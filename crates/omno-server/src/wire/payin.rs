//! PayIn wire formats (API.md §5): the `process/*` and refund requests, and the payin answers.
//!
//! Card data is parsed into [`CardNumber`]/[`Cvv`], whose `Debug` is masked; the canonical form
//! kept for fingerprints holds keyed hashes of the PAN and CVV, never the digits.

use omno_domain::card::{CardExpiry, CardNumber, Cvv};
use omno_domain::errors::FieldErrors;
use omno_domain::ids::CardId;
use omno_domain::money::{Currency, Money};
use omno_domain::payin::{Payin, RefundState};
use omno_domain::psp::PaymentMethod;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::parse::Obj;
use super::{
    BrowserInfo, CustomerView, HistoryView, IframeUrls, MetadataView, ReturnUrlsView,
    StatusReasonView, TransactionView, amount, amount_json, apm_method, browser, non_blank,
};
use crate::clock::fmt_ts;
use crate::error::ApiError;

/// Card data of `process/card` (or the hosted card form), validated.
#[derive(Debug, Clone)]
pub struct CardInput {
    /// PAN (masked `Debug`).
    pub number: CardNumber,
    /// Expiry.
    pub expiry: CardExpiry,
    /// CVV (masked `Debug`; never stored).
    pub cvv: Cvv,
    /// `cardholderName`.
    pub holder: String,
}

/// Validates the card fields of `o` (every error reported): `cardNumber`, `expirationMonth`,
/// `expirationYear` (not expired on `today`), `cvv`, `cardholderName`. The canonical form gets
/// keyed hashes instead of the PAN and CVV (`secret_hash`).
pub fn card_fields(
    o: &mut Obj<'_>,
    today: time::Date,
    errs: &mut FieldErrors,
    secret_hash: &dyn Fn(&str) -> String,
) -> Option<CardInput> {
    let number = o.string("cardNumber", true, errs).and_then(|s| {
        let r = CardNumber::parse(&s);
        o.check("cardNumber", r, errs)
    });
    if let Some(n) = &number {
        o.set_canon("cardNumber", Value::String(secret_hash(n.digits())));
    }
    let month = o.string("expirationMonth", true, errs);
    let year = o.string("expirationYear", true, errs);
    let expiry = match (month, year) {
        (Some(m), Some(y)) => match CardExpiry::parse(&m, &y) {
            Ok(e) if e.is_expired(today) => {
                errs.add(o.path_of("expirationYear"), "card has expired");
                None
            }
            Ok(e) => Some(e),
            Err((field, message)) => {
                errs.add(o.path_of(field), message);
                // Report a bad year as well when the month failed first.
                if field == "expirationMonth" && CardExpiry::parse("1", &y).is_err() {
                    errs.add(
                        o.path_of("expirationYear"),
                        "must be a year in YYYY or YY format",
                    );
                }
                None
            }
        },
        (Some(m), None) => {
            if CardExpiry::parse(&m, "2099").is_err() {
                errs.add(o.path_of("expirationMonth"), "must be a month from 1 to 12");
            }
            None
        }
        (None, Some(y)) => {
            if CardExpiry::parse("1", &y).is_err() {
                errs.add(
                    o.path_of("expirationYear"),
                    "must be a year in YYYY or YY format",
                );
            }
            None
        }
        (None, None) => None,
    };
    let cvv = cvv_field(o, errs, secret_hash);
    let holder = non_blank(o, "cardholderName", 255, errs);
    Some(CardInput {
        number: number?,
        expiry: expiry?,
        cvv: cvv?,
        holder: holder?,
    })
}

fn cvv_field(
    o: &mut Obj<'_>,
    errs: &mut FieldErrors,
    secret_hash: &dyn Fn(&str) -> String,
) -> Option<Cvv> {
    let cvv = o.string("cvv", true, errs).and_then(|s| {
        let r = Cvv::parse(&s);
        o.check("cvv", r, errs)
    });
    if let Some(c) = &cvv {
        o.set_canon("cvv", Value::String(secret_hash(c.expose())));
    }
    cvv
}

/// A validated `process/card` request.
#[derive(Debug, Clone)]
pub struct ProcessCardInput {
    /// Customer context.
    pub browser: BrowserInfo,
    /// The card.
    pub card: CardInput,
    /// `saveCard`.
    pub save_card: bool,
    /// Canonical known fields (PAN and CVV as keyed hashes).
    pub canon: Map<String, Value>,
}

/// Parses and validates a `process/card` body.
pub fn process_card(
    body: &[u8],
    today: time::Date,
    secret_hash: &dyn Fn(&str) -> String,
) -> Result<(Option<ProcessCardInput>, FieldErrors), ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let browser = browser(&mut o, &mut errs);
    let card = match o.object("cardData", true, &mut errs) {
        Some(mut c) => {
            let card = card_fields(&mut c, today, &mut errs, secret_hash);
            o.put_child("cardData", c);
            card
        }
        None => None,
    };
    let save_card = o.boolean("saveCard", true, &mut errs);
    let input = match (browser, card, save_card) {
        (Some(browser), Some(card), Some(save_card)) if errs.is_empty() => Some(ProcessCardInput {
            browser,
            card,
            save_card,
            canon: o.into_canon(),
        }),
        _ => None,
    };
    Ok((input, errs))
}

/// A `process/saved-card` request; the card id is checked against the store by the flow.
#[derive(Debug, Clone)]
pub struct SavedCardInput {
    /// Customer context.
    pub browser: BrowserInfo,
    /// `savedCardData.cardId`, when well-formed.
    pub card_id: Option<CardId>,
    /// `savedCardData.cvv`.
    pub cvv: Cvv,
    /// Canonical known fields.
    pub canon: Map<String, Value>,
}

/// Parses a `process/saved-card` body. A malformed or unknown `cardId` is reported by the flow
/// (`unknown card`), together with the other errors.
pub fn process_saved_card(
    body: &[u8],
    secret_hash: &dyn Fn(&str) -> String,
) -> Result<(Option<SavedCardInput>, Option<String>, FieldErrors), ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let browser = browser(&mut o, &mut errs);
    let (raw_id, cvv) = match o.object("savedCardData", true, &mut errs) {
        Some(mut c) => {
            let id = c.string("cardId", true, &mut errs);
            let cvv = cvv_field(&mut c, &mut errs, secret_hash);
            o.put_child("savedCardData", c);
            (id, cvv)
        }
        None => (None, None),
    };
    let input = match (browser, cvv) {
        (Some(browser), Some(cvv)) => Some(SavedCardInput {
            browser,
            card_id: raw_id.as_deref().and_then(CardId::parse),
            cvv,
            canon: o.into_canon(),
        }),
        _ => None,
    };
    Ok((input, raw_id, errs))
}

/// A validated payin `process/direct-link` request.
#[derive(Debug, Clone)]
pub struct PayinDirectLinkInput {
    /// Customer context.
    pub browser: BrowserInfo,
    /// The APM.
    pub method: PaymentMethod,
    /// Canonical known fields.
    pub canon: Map<String, Value>,
}

/// Parses a payin `process/direct-link` body (§5.4).
pub fn payin_direct_link(body: &[u8]) -> Result<PayinDirectLinkInput, ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let browser = browser(&mut o, &mut errs);
    let data = o.free_object("additionalData", true, 64, &mut errs);
    let method = data
        .as_ref()
        .and_then(|d| apm_method(d, "additionalData", &mut errs));
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    let (Some(browser), Some(method)) = (browser, method) else {
        return Err(ApiError::internal("validation inconsistency"));
    };
    Ok(PayinDirectLinkInput {
        browser,
        method,
        canon: o.into_canon(),
    })
}

/// Parses the optional refund body (§5.6): `amount` in the payin's executed `currency`.
pub fn refund(
    body: &[u8],
    currency: Currency,
) -> Result<(Option<i64>, Map<String, Value>), ApiError> {
    let mut o = if body.iter().all(u8::is_ascii_whitespace) {
        Obj::empty()
    } else {
        Obj::root(body)?
    };
    let mut errs = FieldErrors::new();
    let text = o.number_text("amount", false, &mut errs);
    let minor = amount(&mut o, "amount", text, Some(currency), &mut errs);
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    Ok((minor.map(|m| m.0), o.into_canon()))
}

/// Answer of `POST /public/payin`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayinResponse {
    /// The payin id.
    pub payment_id: String,
    /// `CREATED`.
    pub status: String,
    /// Hosted card and APM pages.
    pub iframe_urls: IframeUrls,
}

/// Answer of the payin `process/*` calls.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayinProcessResponse {
    /// The payin id.
    pub payment_id: String,
    /// Status at the moment of the answer.
    pub status: String,
    /// 3DS challenge (card, `PENDING_3DS`) or APM status page (direct-link, always).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// Answer of `POST /public/payin/{id}/refund`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    /// The payin id.
    pub payment_id: String,
    /// This refund.
    pub refund_id: String,
    /// The payin's new status.
    pub status: String,
    /// This refund's amount.
    #[schema(value_type = f64, example = 20)]
    pub amount: Box<RawValue>,
    /// Total refunded successfully.
    #[schema(value_type = f64, example = 20)]
    pub refunded_amount: Box<RawValue>,
    /// The payin's executed currency.
    pub currency: String,
}

/// One refund in the transaction object (extension).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// Id.
    pub refund_id: String,
    /// Amount.
    #[schema(value_type = f64, example = 20)]
    pub amount: Box<RawValue>,
    /// `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// When requested.
    pub created_at: String,
}

/// Minor units of the payin's executed currency as a JSON number.
pub fn payin_amount(p: &Payin, minor: i64) -> Box<RawValue> {
    amount_json(Money {
        amount: omno_domain::money::MinorUnits(minor),
        currency: p.amount.currency,
    })
}

impl From<&Payin> for TransactionView {
    fn from(p: &Payin) -> Self {
        let card = p.card.as_ref();
        Self {
            id: p.id.hex(),
            amount: amount_json(p.amount),
            merchant_id: p.merchant_id.hex(),
            customer_id: p.customer_id.hex(),
            order_id: p.order_id.clone(),
            currency: p.amount.currency.code().to_string(),
            status: p.status.as_str().to_string(),
            initial_amount: amount_json(p.initial),
            initial_currency: p.initial.currency.code().to_string(),
            router_id: p.router_id.map(|r| r.hex()),
            routing_reason: p.routing_reason.clone(),
            card_id: card.and_then(|c| c.card_id).map(|c| c.hex()),
            card_mask: card.map(|c| c.mask.clone()),
            card_brand: card.map(|c| c.brand.clone()),
            card_hash: card.map(|c| c.hash.clone()),
            predicted_psp_id: p.predicted_psp_id.map(|r| r.hex()),
            processor_psp_id: p.processor_psp_id.map(|r| r.hex()),
            psp_transaction_id: p.psp_transaction_id.clone(),
            previous_transaction_count: p.previous_transaction_count,
            status_reason: p.status_reason.as_ref().map(StatusReasonView::from),
            metadata: MetadataView {
                ip_address: p.ip_address.clone(),
                user_agent: p.user_agent.clone(),
                payment_method: p.payment_method.map(|m| m.as_str().to_string()),
                cashier_session_id: p.cashier_session_id.clone(),
            },
            transaction_type: p.transaction_type().map(str::to_string),
            kyc_verified: p.kyc_verified,
            customer: CustomerView::from(&p.customer),
            return_urls: p.return_urls.as_ref().map(|r| ReturnUrlsView {
                success: r.success.clone(),
                failure: r.failure.clone(),
            }),
            created_at: fmt_ts(p.created_at),
            updated_at: fmt_ts(p.updated_at),
            status_history: p
                .history
                .iter()
                .map(|h| HistoryView {
                    status: h.status.as_str().to_string(),
                    at: fmt_ts(h.at),
                    reason: h.reason.clone(),
                })
                .collect(),
            refunded_amount: Some(payin_amount(p, p.refunded_total())),
            refunds: Some(
                p.refunds
                    .iter()
                    .filter_map(|r| {
                        let status = match r.state {
                            RefundState::Succeeded => "SUCCEEDED",
                            RefundState::Failed => "FAILED",
                            RefundState::Pending => return None,
                        };
                        Some(RefundView {
                            refund_id: r.id.hex(),
                            amount: payin_amount(p, r.amount),
                            status: status.into(),
                            created_at: fmt_ts(r.created_at),
                        })
                    })
                    .collect(),
            ),
        }
    }
}
