//! The OpenAPI description (API.md §14): generated from the route annotations, plus the request
//! schemas below. These request types exist only to describe the wire; parsing is done by the
//! lenient walker of [`crate::wire::parse`], which reports every invalid field at once.

use serde::Deserialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Root document: info, tags, security schemes.
#[derive(OpenApi)]
#[openapi(
    info(title = "OMNO API", version = "2.0.0", description = "OMNO API 2.0.0 served by omno."),
    modifiers(&Security),
    tags((name = "Payout", description = "Payout API"), (name = "PayIn", description = "PayIn API"), (name = "Cashier", description = "Cashier API"), (name = "Auth", description = "OAuth2 token endpoint"), (name = "Operations", description = "Health and readiness"), (name = "Admin", description = "Admin API (extension)"))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "apiKeyAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Authorization"))),
        );
        let mut ext = utoipa::openapi::extensions::Extensions::default();
        ext.insert(
            "x-omno-server-version".into(),
            serde_json::Value::String(env!("CARGO_PKG_VERSION").into()),
        );
        openapi.info.extensions = Some(ext);
    }
}

/// `customer.billing`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct BillingRequest {
    address: String,
    city: String,
    state: String,
    /// ISO 3166-1 alpha-2.
    country_code: String,
    postal_code: String,
}

/// `customer.kyc` (extension).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct KycRequest {
    id_type: Option<String>,
    id_number: Option<String>,
    id_country: Option<String>,
    nationality: Option<String>,
    country_of_birth: Option<String>,
    #[schema(format = Date)]
    id_expiration_date: Option<String>,
}

/// `customer` (§2.1).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct CustomerRequest {
    external_user_id: String,
    first_name: String,
    last_name: String,
    #[schema(format = Email)]
    email: String,
    phone_number: String,
    #[schema(format = Date)]
    date_of_birth: String,
    billing: BillingRequest,
    kyc: Option<KycRequest>,
}

/// `returnUrls` (§2.3).
#[derive(Deserialize, ToSchema)]
#[expect(dead_code, reason = "schema only")]
pub struct ReturnUrlsRequest {
    success: String,
    failure: String,
}

/// `webhook` (§2.4).
#[derive(Deserialize, ToSchema)]
#[expect(dead_code, reason = "schema only")]
pub struct WebhookRequest {
    url: String,
}

/// `browser` (§2.2).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct BrowserRequest {
    accept_header: Option<String>,
    user_agent: Option<String>,
    language: Option<String>,
    time_zone_offset: Option<i32>,
    time_zone: Option<String>,
    color_depth: Option<i32>,
    screen_height: Option<i32>,
    screen_width: Option<i32>,
    window_height: Option<i32>,
    window_width: Option<i32>,
    java_enabled: Option<bool>,
    javascript_enabled: Option<bool>,
    customer_ip: Option<String>,
}

/// `POST /public/payout` body (§4.1).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
#[schema(example = json!({"orderId": "wd-2026-000184", "value": 150.25, "currency": "EUR", "kycVerified": true, "customer": {"externalUserId": "u-58213", "firstName": "Anna", "lastName": "Keller", "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17", "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"}}}))]
pub struct CreatePayoutRequest {
    order_id: String,
    value: f64,
    currency: String,
    kyc_verified: bool,
    customer: CustomerRequest,
    router_id: Option<String>,
    previous_transaction_count: Option<i64>,
    return_urls: Option<ReturnUrlsRequest>,
    webhook: Option<WebhookRequest>,
}

/// `process/direct-link` body (§4.4).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct DirectLinkRequest {
    browser: BrowserRequest,
    /// Free-form; `method` and `iban` are checked.
    additional_data: serde_json::Map<String, serde_json::Value>,
}

/// `POST /public/payin` body (§5.1).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
#[schema(example = json!({"orderId": "dep-2026-000931", "amount": 49.99, "currency": "EUR", "kycVerified": false, "customer": {"externalUserId": "u-58213", "firstName": "Anna", "lastName": "Keller", "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17", "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"}}}))]
pub struct CreatePayinRequest {
    order_id: String,
    amount: f64,
    currency: String,
    kyc_verified: bool,
    customer: CustomerRequest,
    router_id: Option<String>,
    previous_transaction_count: Option<i64>,
    return_urls: Option<ReturnUrlsRequest>,
    webhook: Option<WebhookRequest>,
}

/// `cardData` (§5.2).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct CardDataRequest {
    /// 12-19 digits, Luhn-valid; spaces ignored.
    card_number: String,
    /// `1`-`12`, optionally zero-padded.
    expiration_month: String,
    /// `YYYY` or `YY`.
    expiration_year: String,
    /// 3-4 digits; never stored.
    cvv: String,
    cardholder_name: String,
}

/// `process/card` body (§5.2).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
#[schema(example = json!({"browser": {"userAgent": "Mozilla/5.0", "customerIp": "81.2.69.160"}, "cardData": {"cardNumber": "4111111111111111", "expirationMonth": "09", "expirationYear": "2039", "cvv": "737", "cardholderName": "Anna Keller"}, "saveCard": false}))]
pub struct ProcessCardRequest {
    browser: BrowserRequest,
    card_data: CardDataRequest,
    save_card: bool,
}

/// `savedCardData` (§5.3).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct SavedCardDataRequest {
    card_id: String,
    cvv: String,
}

/// `process/saved-card` body (§5.3).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct ProcessSavedCardRequest {
    browser: BrowserRequest,
    saved_card_data: SavedCardDataRequest,
}

/// Payin `process/direct-link` body (§5.4).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct PayinDirectLinkRequest {
    browser: BrowserRequest,
    /// Free-form, at most 64 keys; `method` is `BANK_TRANSFER` (default), `E_WALLET` or `CRYPTO`.
    additional_data: serde_json::Map<String, serde_json::Value>,
}

/// Refund body (§5.6, extension); optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct RefundRequest {
    /// Default: the whole refundable remainder.
    amount: Option<f64>,
}

/// `POST /public/cashier/session` body (§6.1).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
#[schema(example = json!({"customer": {"externalUserId": "u-58213", "firstName": "Anna", "lastName": "Keller", "email": "anna.keller@example.de", "phoneNumber": "+49 30 901820", "dateOfBirth": "1988-04-17", "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"}}, "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"}, "currency": "EUR", "orderId": "cs-2026-0412", "kycVerified": true, "balance": 320.5}))]
pub struct CreateCashierSessionRequest {
    customer: CustomerRequest,
    return_urls: ReturnUrlsRequest,
    currency: String,
    /// Fixed deposit amount; absent = the customer types it.
    amount: Option<f64>,
    /// At most 240 characters.
    order_id: Option<String>,
    kyc_verified: Option<bool>,
    previous_transaction_count: Option<i64>,
    webhook: Option<WebhookRequest>,
    /// Withdrawable balance, >= 0.
    balance: Option<f64>,
    router_id: Option<String>,
}

/// `PUT /public/cashier/session/{sessionId}/balance` body (§6.2); optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "schema only")]
pub struct CashierBalanceRequest {
    /// New withdrawable balance, >= 0; absent = only signal a change.
    balance: Option<f64>,
}
