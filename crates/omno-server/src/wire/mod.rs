//! Wire formats: request parsing into domain values, and the JSON the API answers with.
//!
//! Contract quirks stop here: create takes `value`, fetch returns `amount`; amounts travel as
//! major-unit JSON numbers and are minor-unit integers everywhere else.
//!
//! # Layout
//! - [`parse`]: the lenient field walker and canonical fingerprints.
//! - this file: shared request objects (§2), payout requests (§4), the transaction object (§7).

pub mod cashier;
pub mod parse;
pub mod payin;

use omno_domain::country::CountryCode;
use omno_domain::customer::{Billing, Customer, Kyc};
use omno_domain::errors::FieldErrors;
use omno_domain::money::{Currency, MinorUnits, Money, format_amount, parse_amount};
use omno_domain::payout::{Payout, ReturnUrls};
use omno_domain::psp::{PaymentMethod, StatusReason};
use omno_domain::validate;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::clock::fmt_ts;
use parse::Obj;

/// A JSON number written exactly as the decimal text of a minor-unit amount.
pub fn amount_json(m: Money) -> Box<RawValue> {
    let text = format_amount(m.amount.0, m.currency.exponent());
    // `format_amount` always yields a valid JSON number; the default ("null") is unreachable.
    RawValue::from_string(text).unwrap_or_default()
}

pub(crate) fn non_blank(
    o: &mut Obj<'_>,
    name: &str,
    max: usize,
    errs: &mut FieldErrors,
) -> Option<String> {
    let s = o.string(name, true, errs)?;
    match validate::non_blank(&s, max) {
        Ok(()) => Some(s),
        Err(m) => {
            errs.add(o.path_of(name), m);
            None
        }
    }
}

fn opt_str(o: &mut Obj<'_>, name: &str, max: usize, errs: &mut FieldErrors) -> Option<String> {
    let s = o.string(name, false, errs)?;
    match validate::max_len(&s, max) {
        Ok(()) => Some(s),
        Err(m) => {
            errs.add(o.path_of(name), m);
            None
        }
    }
}

fn check<T, E: std::fmt::Display>(
    o: &Obj<'_>,
    name: &str,
    r: Result<T, E>,
    errs: &mut FieldErrors,
) -> Option<T> {
    o.check(name, r, errs)
}

fn opt_country(o: &mut Obj<'_>, name: &str, errs: &mut FieldErrors) -> Option<CountryCode> {
    let s = o.string(name, false, errs)?;
    check(o, name, CountryCode::parse(&s), errs)
}

/// Parses `customer` (§2.1) into `parent`; `today` bounds `dateOfBirth`.
pub fn customer(
    parent: &mut Obj<'_>,
    errs: &mut FieldErrors,
    today: time::Date,
) -> Option<Customer> {
    let mut c = parent.object("customer", true, errs)?;
    let before = errs.len();
    let external_user_id = non_blank(&mut c, "externalUserId", 255, errs);
    let first_name = non_blank(&mut c, "firstName", 255, errs);
    let last_name = non_blank(&mut c, "lastName", 255, errs);
    let email = c.string("email", true, errs).and_then(|s| {
        let ok = validate::email(&s).map(|()| s);
        check(&c, "email", ok, errs)
    });
    let phone = c.string("phoneNumber", true, errs).and_then(|s| {
        let ok = validate::phone(&s).map(|()| s);
        check(&c, "phoneNumber", ok, errs)
    });
    let dob = c.string("dateOfBirth", true, errs).and_then(|s| {
        let ok = validate::date_of_birth(&s, today).map(|_| s);
        check(&c, "dateOfBirth", ok, errs)
    });
    let billing = c.object("billing", true, errs).and_then(|mut b| {
        let address = non_blank(&mut b, "address", 1024, errs);
        let city = non_blank(&mut b, "city", 255, errs);
        let state = non_blank(&mut b, "state", 255, errs);
        let country = b
            .string("countryCode", true, errs)
            .and_then(|s| check(&b, "countryCode", CountryCode::parse(&s), errs));
        let postal = non_blank(&mut b, "postalCode", 255, errs);
        let out = Some(Billing {
            address: address?,
            city: city?,
            state: state?,
            country_code: country?,
            postal_code: postal?,
        });
        c.put_child("billing", b);
        out
    });
    let kyc = c.object("kyc", false, errs).map(|mut k| {
        let out = Kyc {
            id_type: opt_str(&mut k, "idType", 255, errs),
            id_number: opt_str(&mut k, "idNumber", 255, errs),
            id_country: opt_country(&mut k, "idCountry", errs),
            nationality: opt_country(&mut k, "nationality", errs),
            country_of_birth: opt_country(&mut k, "countryOfBirth", errs),
            id_expiration_date: k.string("idExpirationDate", false, errs).and_then(|s| {
                let ok = validate::date(&s).map(|_| s);
                check(&k, "idExpirationDate", ok, errs)
            }),
        };
        c.put_child("kyc", k);
        out
    });
    parent.put_child("customer", c);
    if errs.len() != before {
        return None;
    }
    Some(Customer {
        external_user_id: external_user_id?,
        first_name: first_name?,
        last_name: last_name?,
        email: email?,
        phone_number: phone?,
        date_of_birth: dob?,
        billing: billing?,
        kyc,
    })
}

/// Parses optional `returnUrls` (§2.3).
pub fn return_urls(parent: &mut Obj<'_>, errs: &mut FieldErrors) -> Option<ReturnUrls> {
    let mut r = parent.object("returnUrls", false, errs)?;
    let mut url = |name: &str, errs: &mut FieldErrors| {
        let s = r.string(name, true, errs)?;
        let ok = validate::return_url(&s).map(|()| s);
        r.check(name, ok, errs)
    };
    let success = url("success", errs);
    let failure = url("failure", errs);
    parent.put_child("returnUrls", r);
    Some(ReturnUrls {
        success: success?,
        failure: failure?,
    })
}

/// Parses optional `webhook` (§2.4) into its URL.
pub fn webhook(
    parent: &mut Obj<'_>,
    errs: &mut FieldErrors,
    allow_loopback: bool,
    allow_private: bool,
) -> Option<String> {
    let mut w = parent.object("webhook", false, errs)?;
    let url = w.string("url", true, errs).and_then(|s| {
        let ok = validate::webhook_url(&s, allow_loopback, allow_private).map(|()| s);
        w.check("url", ok, errs)
    });
    parent.put_child("webhook", w);
    url
}

/// The parts of `browser` (§2.2) omno keeps.
#[derive(Debug, Clone, Default)]
pub struct BrowserInfo {
    /// `customerIp`.
    pub ip: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
}

/// Parses the required `browser` object (§2.2), checking every sub-field.
pub fn browser(parent: &mut Obj<'_>, errs: &mut FieldErrors) -> Option<BrowserInfo> {
    let mut b = parent.object("browser", true, errs)?;
    let user_agent = opt_str(&mut b, "userAgent", 1024, errs);
    for f in ["acceptHeader", "language", "timeZone"] {
        opt_str(&mut b, f, 255, errs);
    }
    for f in [
        "timeZoneOffset",
        "colorDepth",
        "screenHeight",
        "screenWidth",
        "windowHeight",
        "windowWidth",
    ] {
        b.integer(f, false, i64::from(i32::MIN), i64::from(i32::MAX), errs);
    }
    for f in ["javaEnabled", "javascriptEnabled"] {
        b.boolean(f, false, errs);
    }
    let ip = b.string("customerIp", false, errs).and_then(|s| {
        let ok = validate::ip_literal(&s).map(|_| s);
        b.check("customerIp", ok, errs)
    });
    parent.put_child("browser", b);
    Some(BrowserInfo { ip, user_agent })
}

/// Parses a currency field that must be enabled for the merchant.
pub fn currency(
    o: &mut Obj<'_>,
    name: &str,
    enabled: &[Currency],
    errs: &mut FieldErrors,
) -> Option<Currency> {
    let s = o.string(name, true, errs)?;
    let c = check(o, name, Currency::parse(&s), errs)?;
    if !enabled.contains(&c) {
        errs.add(o.path_of(name), "currency is not enabled for this merchant");
        return None;
    }
    Some(c)
}

/// Parses an amount field once its currency is known, recording its canonical value.
pub fn amount(
    o: &mut Obj<'_>,
    name: &str,
    text: Option<&str>,
    currency: Option<Currency>,
    errs: &mut FieldErrors,
) -> Option<MinorUnits> {
    let text = text?;
    // Without a valid currency the precision rule cannot be checked; still reject ≤ 0.
    let exponent = currency.map(|c| c.exponent()).unwrap_or(18);
    match parse_amount(text, exponent) {
        Ok(m) => {
            let c = currency?;
            o.set_canon(name, Value::String(format_amount(m.0, c.exponent())));
            Some(m)
        }
        Err(
            omno_domain::money::AmountError::TooPrecise | omno_domain::money::AmountError::TooLarge,
        ) if currency.is_none() => None,
        Err(e) => {
            errs.add(o.path_of(name), e.to_string());
            None
        }
    }
}

/// A validated `POST /public/payout` request.
#[derive(Debug, Clone)]
pub struct CreatePayoutInput {
    /// `orderId`.
    pub order_id: String,
    /// `value` in `currency`.
    pub money: Money,
    /// `kycVerified`.
    pub kyc_verified: bool,
    /// `customer`.
    pub customer: Customer,
    /// `routerId`, unresolved.
    pub router_id: Option<String>,
    /// `previousTransactionCount`.
    pub previous_transaction_count: Option<i64>,
    /// `returnUrls`.
    pub return_urls: Option<ReturnUrls>,
    /// `webhook.url`.
    pub webhook_url: Option<String>,
    /// Canonical known fields, for fingerprints.
    pub canon: Map<String, Value>,
}

/// Parses and validates a create-payout body, reporting every invalid field.
pub fn create_payout(
    body: &[u8],
    enabled: &[Currency],
    today: time::Date,
    allow_loopback: bool,
    allow_private: bool,
    router_known: impl Fn(&str) -> bool,
) -> Result<CreatePayoutInput, crate::error::ApiError> {
    create_transaction(
        body,
        "value",
        enabled,
        today,
        (allow_loopback, allow_private),
        &router_known,
    )
}

/// Parses a create-payout (`value`) or create-payin (`amount`) body: the two share every other
/// field (§4.1, §5.1).
pub fn create_transaction(
    body: &[u8],
    amount_field: &str,
    enabled: &[Currency],
    today: time::Date,
    (allow_loopback, allow_private): (bool, bool),
    router_known: &dyn Fn(&str) -> bool,
) -> Result<CreatePayoutInput, crate::error::ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let order_id = o.string("orderId", true, &mut errs).and_then(|s| {
        let ok = validate::order_id(&s).map(|()| s);
        errs.take("orderId", ok)
    });
    let value_text = o.number_text(amount_field, true, &mut errs);
    let currency = currency(&mut o, "currency", enabled, &mut errs);
    let value = amount(&mut o, amount_field, value_text, currency, &mut errs);
    let kyc_verified = o.boolean("kycVerified", true, &mut errs);
    let customer = customer(&mut o, &mut errs, today);
    let router_id = o.string("routerId", false, &mut errs);
    if let Some(r) = &router_id
        && !router_known(r)
    {
        errs.add("routerId", "unknown router");
    }
    let previous_transaction_count = o.integer(
        "previousTransactionCount",
        false,
        0,
        i64::from(i32::MAX),
        &mut errs,
    );
    let return_urls = return_urls(&mut o, &mut errs);
    let webhook_url = webhook(&mut o, &mut errs, allow_loopback, allow_private);
    if !errs.is_empty() {
        return Err(crate::error::ApiError::Validation(errs));
    }
    let (Some(order_id), Some(currency), Some(value), Some(kyc_verified), Some(customer)) =
        (order_id, currency, value, kyc_verified, customer)
    else {
        return Err(crate::error::ApiError::internal("validation inconsistency"));
    };
    Ok(CreatePayoutInput {
        order_id,
        money: Money {
            amount: value,
            currency,
        },
        kyc_verified,
        customer,
        router_id,
        previous_transaction_count,
        return_urls,
        webhook_url,
        canon: o.into_canon(),
    })
}

/// A validated `process/direct-link` request of a payout.
#[derive(Debug, Clone)]
pub struct DirectLinkInput {
    /// Customer context.
    pub browser: BrowserInfo,
    /// Destination method.
    pub method: PaymentMethod,
    /// `additionalData`, compact JSON.
    pub additional_data: String,
    /// Normalized IBAN, if given.
    pub iban: Option<String>,
    /// Canonical known fields.
    pub canon: Map<String, Value>,
}

/// Parses `additionalData` of an APM destination: `method` and `iban` rules of §4.4.
pub fn apm_destination(
    data: &Map<String, Value>,
    path: &str,
    errs: &mut FieldErrors,
) -> (Option<PaymentMethod>, Option<String>) {
    let method = apm_method(data, path, errs);
    let iban = match data.get("iban") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => errs.take(&format!("{path}.iban"), validate::iban(s)),
        Some(_) => {
            errs.add(format!("{path}.iban"), "must be a string");
            None
        }
    };
    (method, iban)
}

/// `additionalData.method`: `BANK_TRANSFER` (default), `E_WALLET` or `CRYPTO`.
pub fn apm_method(
    data: &Map<String, Value>,
    path: &str,
    errs: &mut FieldErrors,
) -> Option<PaymentMethod> {
    match data.get("method") {
        None | Some(Value::Null) => Some(PaymentMethod::BankTransfer),
        Some(Value::String(s)) => match PaymentMethod::parse(s) {
            Some(
                m @ (PaymentMethod::BankTransfer | PaymentMethod::EWallet | PaymentMethod::Crypto),
            ) => Some(m),
            Some(PaymentMethod::Card) | None => {
                errs.add(
                    format!("{path}.method"),
                    "must be one of BANK_TRANSFER, E_WALLET, CRYPTO",
                );
                None
            }
        },
        Some(_) => {
            errs.add(format!("{path}.method"), "must be a string");
            None
        }
    }
}

/// Parses and validates a payout `process/direct-link` body.
pub fn direct_link(body: &[u8]) -> Result<DirectLinkInput, crate::error::ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let browser = browser(&mut o, &mut errs);
    let data = o.free_object("additionalData", true, 64, &mut errs);
    let (method, iban) = match &data {
        Some(d) => apm_destination(d, "additionalData", &mut errs),
        None => (None, None),
    };
    if !errs.is_empty() {
        return Err(crate::error::ApiError::Validation(errs));
    }
    let (Some(browser), Some(data), Some(method)) = (browser, data, method) else {
        return Err(crate::error::ApiError::internal("validation inconsistency"));
    };
    Ok(DirectLinkInput {
        browser,
        method,
        additional_data: serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()),
        iban,
        canon: o.into_canon(),
    })
}

/// Masks an IBAN to country, check digits and last four (`DE89**************3000`).
pub fn mask_iban(iban: &str) -> String {
    let n = iban.chars().count();
    iban.chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || i + 4 >= n { c } else { '*' })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Responses

/// `iframeUrls` of a create response.
#[derive(Debug, Serialize, ToSchema)]
pub struct IframeUrls {
    /// Hosted card page.
    pub card: String,
    /// Hosted APM page.
    pub apm: String,
}

/// Response of `POST /public/payout`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"payoutId": "019cebabac0c784783a8a7235f0e5af5", "status": "WAITING_FOR_CONFIRMATION", "iframeUrls": {"card": "https://pay.example.com/hpp/payout/019cebabac0c784783a8a7235f0e5af5/card?token=hpt1.x.y", "apm": "https://pay.example.com/hpp/payout/019cebabac0c784783a8a7235f0e5af5/apm?token=hpt1.x.y"}}))]
pub struct CreatePayoutResponse {
    /// Payout id.
    pub payout_id: String,
    /// Status after creation.
    pub status: String,
    /// Hosted destination pages.
    pub iframe_urls: IframeUrls,
}

/// Response of a payout `process/direct-link`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayoutDirectLinkResponse {
    /// Payout id.
    pub payout_id: String,
    /// Current status (unchanged).
    pub status: String,
    /// Hosted status page.
    pub redirect_url: String,
    /// Human text.
    pub message: String,
}

/// `{}`: the body of confirm and reject.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyObject {}

/// `statusReason`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusReasonView {
    /// Human text.
    pub reason: String,
    /// Machine reason.
    pub detailed_status: String,
    /// Status it was recorded with.
    pub status: String,
}

impl From<&StatusReason> for StatusReasonView {
    fn from(r: &StatusReason) -> Self {
        Self {
            reason: r.reason.clone(),
            detailed_status: r.detailed_status.as_str().to_string(),
            status: r.status.clone(),
        }
    }
}

/// `customer.billing` as sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingView {
    /// Address.
    pub address: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Uppercase alpha-2.
    pub country_code: String,
    /// Postal code.
    pub postal_code: String,
}

/// `customer.kyc` as sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KycView {
    /// Document type.
    pub id_type: Option<String>,
    /// Document number.
    pub id_number: Option<String>,
    /// Issuing country.
    pub id_country: Option<String>,
    /// Nationality.
    pub nationality: Option<String>,
    /// Country of birth.
    pub country_of_birth: Option<String>,
    /// Document expiry.
    pub id_expiration_date: Option<String>,
}

/// `customer` as sent (known fields only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    /// Merchant's customer id.
    pub external_user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone_number: String,
    /// Date of birth.
    pub date_of_birth: String,
    /// Billing address.
    pub billing: BillingView,
    /// KYC, `null` if not sent.
    pub kyc: Option<KycView>,
}

impl From<&Customer> for CustomerView {
    fn from(c: &Customer) -> Self {
        let cc = |c: &Option<CountryCode>| c.map(|c| c.as_str().to_string());
        Self {
            external_user_id: c.external_user_id.clone(),
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            phone_number: c.phone_number.clone(),
            date_of_birth: c.date_of_birth.clone(),
            billing: BillingView {
                address: c.billing.address.clone(),
                city: c.billing.city.clone(),
                state: c.billing.state.clone(),
                country_code: c.billing.country_code.as_str().to_string(),
                postal_code: c.billing.postal_code.clone(),
            },
            kyc: c.kyc.as_ref().map(|k| KycView {
                id_type: k.id_type.clone(),
                id_number: k.id_number.clone(),
                id_country: cc(&k.id_country),
                nationality: cc(&k.nationality),
                country_of_birth: cc(&k.country_of_birth),
                id_expiration_date: k.id_expiration_date.clone(),
            }),
        }
    }
}

/// `returnUrls` as sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnUrlsView {
    /// Success URL.
    pub success: String,
    /// Failure URL.
    pub failure: String,
}

/// `metadata`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataView {
    /// Customer IP.
    pub ip_address: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// `CARD`, `BANK_TRANSFER`, `E_WALLET`, `CRYPTO`.
    pub payment_method: Option<String>,
    /// Cashier session.
    pub cashier_session_id: Option<String>,
}

/// One `statusHistory` entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    /// Status taken.
    pub status: String,
    /// When.
    pub at: String,
    /// Why.
    pub reason: Option<String>,
}

/// The transaction object (§7), as GET and webhooks return it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    /// Id.
    pub id: String,
    /// Executed amount (major units).
    #[schema(value_type = f64, example = 150.25)]
    pub amount: Box<RawValue>,
    /// Merchant.
    pub merchant_id: String,
    /// Customer.
    pub customer_id: String,
    /// Merchant reference.
    pub order_id: String,
    /// Executed currency.
    pub currency: String,
    /// Status.
    pub status: String,
    /// Requested amount.
    #[schema(value_type = f64, example = 150.25)]
    pub initial_amount: Box<RawValue>,
    /// Requested currency.
    pub initial_currency: String,
    /// Router used.
    pub router_id: Option<String>,
    /// One-line routing summary (extension).
    pub routing_reason: Option<String>,
    /// Saved card.
    pub card_id: Option<String>,
    /// Card mask.
    pub card_mask: Option<String>,
    /// Card brand.
    pub card_brand: Option<String>,
    /// Card hash.
    pub card_hash: Option<String>,
    /// Account chosen at creation.
    pub predicted_psp_id: Option<String>,
    /// Account of the latest attempt.
    pub processor_psp_id: Option<String>,
    /// PSP reference.
    pub psp_transaction_id: Option<String>,
    /// Default 0.
    pub previous_transaction_count: i64,
    /// Why the status.
    pub status_reason: Option<StatusReasonView>,
    /// Customer context.
    pub metadata: MetadataView,
    /// `CARD` or `APM`.
    pub transaction_type: Option<String>,
    /// As sent.
    pub kyc_verified: bool,
    /// As sent.
    pub customer: CustomerView,
    /// As sent.
    pub return_urls: Option<ReturnUrlsView>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Every status taken (extension).
    pub status_history: Vec<HistoryView>,
    /// Total successfully refunded (extension, payins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, example = 20)]
    pub refunded_amount: Option<Box<RawValue>>,
    /// Refunds (extension, payins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<payin::RefundView>>,
}

impl From<&Payout> for TransactionView {
    fn from(p: &Payout) -> Self {
        use omno_domain::payout::Destination;
        let (card_mask, card_brand, card_hash) = match &p.destination {
            Some(Destination::Card { mask, brand, hash }) => {
                (Some(mask.clone()), Some(brand.clone()), Some(hash.clone()))
            }
            Some(Destination::Apm { .. }) | None => (None, None, None),
        };
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
            card_id: None,
            card_mask,
            card_brand,
            card_hash,
            predicted_psp_id: p.predicted_psp_id.map(|r| r.hex()),
            processor_psp_id: p.processor_psp_id.map(|r| r.hex()),
            psp_transaction_id: p.psp_transaction_id.clone(),
            previous_transaction_count: p.previous_transaction_count,
            status_reason: p.status_reason.as_ref().map(StatusReasonView::from),
            metadata: MetadataView {
                ip_address: p.metadata.ip_address.clone(),
                user_agent: p.metadata.user_agent.clone(),
                payment_method: p
                    .destination
                    .as_ref()
                    .map(|d| d.method().as_str().to_string()),
                cashier_session_id: p.metadata.cashier_session_id.clone(),
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
            refunded_amount: None,
            refunds: None,
        }
    }
}

/// The §1.7 error envelope, for the OpenAPI description.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Time of the error.
    pub timestamp: String,
    /// HTTP status.
    pub status: u16,
    /// Reason phrase.
    pub error: String,
    /// Stable machine code.
    pub code: String,
    /// Human text.
    pub message: String,
    /// Request path.
    pub path: String,
    /// Invalid fields (validation errors only).
    pub errors: Vec<FieldErrorView>,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorView {
    /// Dotted path.
    pub field: String,
    /// Human text.
    pub message: String,
}
