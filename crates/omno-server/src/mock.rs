//! `omno mock` (API.md §15.3): a stateless server answering every `/public` endpoint omno
//! implements with the contract's documented example, after the same request validation as the
//! real server (400 with every field error).
//!
//! Rules that need stored data are skipped: any active currency passes, any `routerId` is known,
//! `orderId` and `Idempotency-Key` are never replayed (the header's syntax is still checked), and
//! no status check is made. Any non-empty `Authorization` header authenticates; the token
//! endpoint accepts any non-empty client credentials. `/health` and an `/openapi.json` limited
//! to the served operations complete it.
//!
//! # Adding an endpoint
//! Add its handler and route to [`mock_router`] and its OpenAPI path to [`SERVED_PATHS`]; the
//! handler calls the `wire` parser of the real endpoint and answers the example of API.md.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use omno_domain::errors::FieldErrors;
use omno_domain::money::Currency;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::reply::{self, PathId, Reply};
use crate::request_id;

/// The OpenAPI paths the mock serves; its `/openapi.json` describes exactly these.
pub const SERVED_PATHS: &[&str] = &[
    "/public/payout",
    "/public/payout/{payoutId}/confirm",
    "/public/payout/{payoutId}/reject",
    "/public/payout/{payoutId}/process/direct-link",
    "/public/payout/{payoutId}",
    "/public/payin",
    "/public/payin/{payinId}/process/card",
    "/public/payin/{payinId}/process/saved-card",
    "/public/payin/{payinId}/process/direct-link",
    "/public/payin/{payinId}",
    "/public/payin/{payinId}/refund",
    "/oauth/token",
    "/realms/{realm}/protocol/openid-connect/token",
    "/health",
];

/// The id of every example of API.md; path ids replace it.
const EXAMPLE_ID: &str = "019cebabac0c784783a8a7235f0e5af5";

/// The access token of the §3 example.
const EXAMPLE_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAvcmVhbG1zL29tbm8iLCJzdWIiOiJzZXJ2aWNlLWFjY291bnQtMDE5YzUxMmNmM2FjNzg3OWIxYTZiOWMxMGIxMjJjMzMiLCJhenAiOiIwMTljNTEyY2YzYWM3ODc5YjFhNmI5YzEwYjEyMmMzMyIsIm1lcmNoYW50SWQiOiIwMTljNTEyY2MwZTQ3YzlkYjUzYWE4YzhhZTdjMmE2ZSIsInNjb3BlIjoibWVyY2hhbnQiLCJ0eXAiOiJCZWFyZXIiLCJpYXQiOjE3NzM0ODA0MTMsImV4cCI6MTc3MzQ4MDcxMywianRpIjoiMDE5Y2ViYWI5ZTRhN2IyYzhkMWUzZjVhNmI3YzhkOWUifQ._w9b2vj3DIyVHSgrgsY4AcQmPmqPxyoVLJlIlxMN6KU";

/// What the mock needs per request: limits and the currencies it allows.
#[derive(Clone)]
struct Mock {
    body_limit: usize,
    currencies: Arc<Vec<Currency>>,
    openapi: Arc<String>,
}

/// The mock's HTTP application; `body_limit_bytes` as `server.body_limit_bytes`.
pub fn mock_router(body_limit_bytes: usize) -> Router {
    let state = Mock {
        body_limit: body_limit_bytes,
        currencies: Arc::new(Currency::all_active()),
        openapi: Arc::new(mock_openapi().to_string()),
    };
    Router::new()
        .route("/public/payout", post(create_payout))
        .route("/public/payout/{payoutId}", get(get_payout))
        .route("/public/payout/{payoutId}/confirm", put(decide))
        .route("/public/payout/{payoutId}/reject", put(decide))
        .route(
            "/public/payout/{payoutId}/process/direct-link",
            post(payout_direct_link),
        )
        .route("/public/payin", post(create_payin))
        .route("/public/payin/{payinId}", get(get_payin))
        .route("/public/payin/{payinId}/process/card", post(payin_card))
        .route(
            "/public/payin/{payinId}/process/saved-card",
            post(payin_saved_card),
        )
        .route(
            "/public/payin/{payinId}/process/direct-link",
            post(payin_direct_link),
        )
        .route("/public/payin/{payinId}/refund", post(refund))
        .route("/oauth/token", post(token))
        .route("/realms/{realm}/protocol/openid-connect/token", post(token))
        .route(
            "/health",
            get(|| async { Reply::ok(r#"{"status":"ok"}"#.into()) }),
        )
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(|req, next| {
            request_id::request_id(req, next, None, None)
        }))
        .with_state(state)
}

/// The mock's OpenAPI document: the server's, limited to [`SERVED_PATHS`] and the schemas they
/// reference.
pub fn mock_openapi() -> Value {
    let mut doc = serde_json::to_value(crate::openapi_document()).unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.retain(|p, _| SERVED_PATHS.contains(&p.as_str()));
    }
    // Keep only the schemas reachable from the kept paths.
    let mut keep = std::collections::BTreeSet::new();
    let mut todo = vec![doc.get("paths").cloned().unwrap_or_default()];
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    while let Some(v) = todo.pop() {
        let mut refs = Vec::new();
        collect_refs(&v, &mut refs);
        for r in refs {
            if keep.insert(r.clone())
                && let Some(s) = schemas.get(&r)
            {
                todo.push(s.clone());
            }
        }
    }
    if let Some(s) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        s.retain(|name, _| keep.contains(name));
    }
    let used_tags: std::collections::BTreeSet<String> = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(Value::as_object)
        .flat_map(|ops| ops.values())
        .filter_map(|op| op.get("tags").and_then(Value::as_array))
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    if let Some(tags) = doc.get_mut("tags").and_then(Value::as_array_mut) {
        tags.retain(|t| {
            t.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| used_tags.contains(n))
        });
    }
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert(
            "description".into(),
            json!("OMNO API 2.0.0 served by `omno mock`: validation and documented examples only."),
        );
    }
    doc
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

async fn openapi(State(m): State<Mock>) -> Response {
    Reply::ok((*m.openapi).clone()).into_response()
}

/// Any non-empty `Authorization` header (§15.3); first extractor, as on the real server.
struct MockAuth;

impl<S: Send + Sync> FromRequestParts<S> for MockAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let present = parts
            .headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace));
        if present {
            Ok(MockAuth)
        } else {
            Err(ApiError::Unauthorized("missing credentials"))
        }
    }
}

/// A path id of the transaction kind: 32 lowercase hex, else 404 as on the real server.
fn path_id(raw: &str) -> Result<&str, ApiError> {
    let ok = raw.len() == 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok { Ok(raw) } else { Err(ApiError::NotFound) }
}

/// Merges the `Idempotency-Key` header error into a validation result (§1.6 order).
fn with_idempotency<T>(headers: &HeaderMap, parsed: Result<T, ApiError>) -> Result<T, ApiError> {
    let mut idem = FieldErrors::new();
    reply::idempotency_key(headers, &mut idem);
    match parsed {
        Ok(v) => idem.into_result().map_err(ApiError::Validation).map(|()| v),
        Err(ApiError::Validation(mut errs)) => {
            for e in idem.iter() {
                errs.add(e.field, e.message);
            }
            Err(ApiError::Validation(errs))
        }
        Err(e) => Err(e),
    }
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn example(v: &Value, id: &str) -> Reply {
    Reply::ok(v.to_string().replace(EXAMPLE_ID, id))
}

async fn create_payout(
    _: MockAuth,
    State(m): State<Mock>,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let parsed = crate::wire::create_payout(&body, &m.currencies, today(), true, true, |_| true);
    with_idempotency(&headers, parsed)?;
    Ok(example(&examples::create_payout(), EXAMPLE_ID))
}

async fn decide(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    reply::read_limited(req, m.body_limit).await?;
    path_id(&id)?;
    with_idempotency(&headers, Ok(()))?;
    Ok(Reply::ok("{}".into()))
}

async fn payout_direct_link(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let id = path_id(&id)?;
    with_idempotency(&headers, crate::wire::direct_link(&body))?;
    Ok(example(&examples::payout_direct_link(), id))
}

async fn get_payout(_: MockAuth, PathId(id): PathId) -> Result<Reply, ApiError> {
    let id = path_id(&id)?;
    Ok(example(&examples::payout(), id))
}

async fn create_payin(_: MockAuth, State(m): State<Mock>, req: Request) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let parsed = crate::wire::create_transaction(
        &body,
        "amount",
        &m.currencies,
        today(),
        (true, true),
        &|_| true,
    );
    with_idempotency(&headers, parsed)?;
    Ok(example(&examples::create_payin(), EXAMPLE_ID))
}

/// The mock never keeps card data: fingerprints are not computed, so any hash will do.
fn no_hash(_: &str) -> String {
    String::new()
}

fn fields_or<T>(value: Option<T>, errs: FieldErrors) -> Result<T, ApiError> {
    match value {
        Some(v) if errs.is_empty() => Ok(v),
        _ => Err(ApiError::Validation(errs)),
    }
}

async fn payin_card(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let id = path_id(&id)?;
    let (input, errs) = crate::wire::payin::process_card(&body, today(), &no_hash)?;
    with_idempotency(&headers, fields_or(input, errs))?;
    Ok(example(&examples::payin_processed(), id))
}

async fn payin_saved_card(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let id = path_id(&id)?;
    let (input, raw_card_id, mut errs) = crate::wire::payin::process_saved_card(&body, &no_hash)?;
    if raw_card_id.is_some() && input.as_ref().is_some_and(|i| i.card_id.is_none()) {
        errs.add("savedCardData.cardId", "unknown card");
    }
    with_idempotency(&headers, fields_or(input, errs))?;
    Ok(example(&examples::payin_processed(), id))
}

async fn payin_direct_link(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let id = path_id(&id)?;
    with_idempotency(&headers, crate::wire::payin::payin_direct_link(&body))?;
    Ok(example(&examples::payin_direct_link(), id))
}

async fn get_payin(_: MockAuth, PathId(id): PathId) -> Result<Reply, ApiError> {
    let id = path_id(&id)?;
    Ok(example(&examples::payin(), id))
}

async fn refund(
    _: MockAuth,
    State(m): State<Mock>,
    PathId(id): PathId,
    req: Request,
) -> Result<Reply, ApiError> {
    let headers = req.headers().clone();
    let body = reply::read_json(req, m.body_limit).await?;
    let id = path_id(&id)?;
    let eur = Currency::parse("EUR").map_err(|_| ApiError::internal("EUR"))?;
    with_idempotency(&headers, crate::wire::payin::refund(&body, eur))?;
    Ok(example(&examples::refund(), id))
}

async fn token(State(m): State<Mock>, req: Request) -> Response {
    match crate::routes::oauth::client_credentials(req, m.body_limit).await {
        Ok(_) => crate::routes::oauth::token_response(EXAMPLE_TOKEN.into(), 300),
        Err(r) => r,
    }
}

/// The response examples of API.md, verbatim.
mod examples {
    use serde_json::{Value, json};

    /// §4.1.
    pub(super) fn create_payout() -> Value {
        json!({
          "payoutId": "019cebabac0c784783a8a7235f0e5af5",
          "status": "WAITING_FOR_CONFIRMATION",
          "iframeUrls": {
            "card": "https://pay.example.com/hpp/payout/019cebabac0c784783a8a7235f0e5af5/card?token=hpt1.AZzrq6wMeEeDqKcjXw5a9Q.k3Zx9PqLw2mV8rT4yN6bJ1cH5dF0sA7eG2uK9oI3lQ",
            "apm": "https://pay.example.com/hpp/payout/019cebabac0c784783a8a7235f0e5af5/apm?token=hpt1.AZzrq6wMeEeDqKcjXw5a9Q.Wq7Lm2Xc8Vb4Nz1Ks6Jd3Hf9Gt5Ry0Pa2Ue8Oi4Tw"
          }
        })
    }

    /// §4.4.
    pub(super) fn payout_direct_link() -> Value {
        json!({
          "payoutId": "019cebabac0c784783a8a7235f0e5af5",
          "status": "WAITING_FOR_CONFIRMATION",
          "redirectUrl": "https://pay.example.com/hpp/payout/019cebabac0c784783a8a7235f0e5af5/status?token=hpt1.AZzrq6wMeEeDqKcjXw5a9Q.Pf4Ld8Wn2Qz6Xm1Rc9Vt5By3Hk7Js0Ge4Ua8Oy2Ci",
          "message": "Destination recorded; the payout is waiting for merchant confirmation"
        })
    }

    /// §5.1.
    pub(super) fn create_payin() -> Value {
        json!({
          "paymentId": "019cebabac0c784783a8a7235f0e5af5",
          "status": "CREATED",
          "iframeUrls": {
            "card": "https://pay.example.com/hpp/payin/019cebabac0c784783a8a7235f0e5af5/card?token=hpt1.AZzrq7HoeeOkiUHcEt8i9Q.Mc5Tz1Lq8Wx3Vn7Kb2Jh6Gf9Dr4Sp0Ay5Ue1Oi8Nw",
            "apm": "https://pay.example.com/hpp/payin/019cebabac0c784783a8a7235f0e5af5/apm?token=hpt1.AZzrq7HoeeOkiUHcEt8i9Q.Bv8Rq3Zm6Xt1Kw9Ln4Jc2Hd7Fs5Gy0Pa3Ue6Oi1Tx"
          }
        })
    }

    /// §5.3.
    pub(super) fn payin_processed() -> Value {
        json!({"paymentId": "019cebabac0c784783a8a7235f0e5af5", "status": "SUCCESS"})
    }

    /// §5.4.
    pub(super) fn payin_direct_link() -> Value {
        json!({
          "paymentId": "019cebabac0c784783a8a7235f0e5af5",
          "status": "PENDING",
          "redirectUrl": "https://pay.example.com/hpp/payin/019cebabac0c784783a8a7235f0e5af5/status?token=hpt1.AZzrq7HoeeOkiUHcEt8i9Q.Xc3Vb8Nm1Lk6Jh9Gf2Ds5Az0Qw4Er7Ty1Ui3Op8As"
        })
    }

    /// §5.6.
    pub(super) fn refund() -> Value {
        json!({
          "paymentId": "019cebabac0c784783a8a7235f0e5af5",
          "refundId": "019cebabcf3470008c624f18750cac1c",
          "status": "PARTIALLY_REFUNDED",
          "amount": 20,
          "refundedAmount": 20,
          "currency": "EUR"
        })
    }

    /// §5.5.
    pub(super) fn payin() -> Value {
        json!({
          "id": "019cebabac0c784783a8a7235f0e5af5",
          "amount": 51,
          "merchantId": "019c512cc0e47c9db53aa8c8ae7c2a6e",
          "customerId": "019c512cc4cc786a9c3a986a6a817dda",
          "orderId": "dep-2026-000944",
          "currency": "EUR",
          "status": "SUCCESS",
          "initialAmount": 150,
          "initialCurrency": "GEL",
          "routerId": "019c512cd46c74cb8f169cb78a3f6bf2",
          "routingReason": "rule #2 \"Default\" -> sim-main",
          "cardId": "019c512ce0247132a189a8fbacaf634e",
          "cardMask": "411111******1111",
          "cardBrand": "VISA",
          "cardHash": "6030081ea356a09d7ba2776c637962e84591aaf40cd40fce0678bf49ed8c4798",
          "predictedPspId": "019c512cc8b4773eaad08a266cc2f9d5",
          "processorPspId": "019c512cc8b4773eaad08a266cc2f9d5",
          "pspTransactionId": "sim_2b9d0c5e8f6a4b1d7f3a9c2e",
          "previousTransactionCount": 3,
          "statusReason": null,
          "metadata": {
            "ipAddress": "91.64.23.117",
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "paymentMethod": "CARD",
            "cashierSessionId": null
          },
          "transactionType": "CARD",
          "kycVerified": false,
          "customer": {
            "externalUserId": "u-58213",
            "firstName": "Anna",
            "lastName": "Keller",
            "email": "anna.keller@example.de",
            "phoneNumber": "+49 30 901820",
            "dateOfBirth": "1988-04-17",
            "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"},
            "kyc": null
          },
          "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"},
          "createdAt": "2026-03-14T09:27:02.412Z",
          "updatedAt": "2026-03-14T09:27:40.118Z",
          "statusHistory": [
            {"status": "CREATED", "at": "2026-03-14T09:27:02.412Z", "reason": null},
            {"status": "PENDING", "at": "2026-03-14T09:27:39.870Z", "reason": "Submitted to PSP"},
            {"status": "SUCCESS", "at": "2026-03-14T09:27:40.118Z", "reason": null}
          ],
          "refundedAmount": 0,
          "refunds": []
        })
    }

    /// §4.5.
    pub(super) fn payout() -> Value {
        json!({
          "id": "019cebabac0c784783a8a7235f0e5af5",
          "amount": 150.25,
          "merchantId": "019c512cc0e47c9db53aa8c8ae7c2a6e",
          "customerId": "019c512cc4cc786a9c3a986a6a817dda",
          "orderId": "wd-2026-000184",
          "currency": "EUR",
          "status": "PROCESSED",
          "initialAmount": 150.25,
          "initialCurrency": "EUR",
          "routerId": "019c512cd46c74cb8f169cb78a3f6bf2",
          "cardId": null,
          "cardMask": null,
          "cardBrand": null,
          "cardHash": null,
          "predictedPspId": "019c512cd084734c9234685917566fa2",
          "processorPspId": "019c512cd084734c9234685917566fa2",
          "pspTransactionId": "sim_7f3a9c2e4b1d8f6a0c5e2b9d",
          "previousTransactionCount": 0,
          "statusReason": null,
          "metadata": {
            "ipAddress": "91.64.23.117",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "paymentMethod": "BANK_TRANSFER",
            "cashierSessionId": null
          },
          "transactionType": "APM",
          "kycVerified": true,
          "customer": {
            "externalUserId": "u-58213",
            "firstName": "Anna",
            "lastName": "Keller",
            "email": "anna.keller@example.de",
            "phoneNumber": "+49 30 901820",
            "dateOfBirth": "1988-04-17",
            "billing": {"address": "Torstraße 112", "city": "Berlin", "state": "BE", "countryCode": "DE", "postalCode": "10119"},
            "kyc": null
          },
          "returnUrls": null,
          "createdAt": "2026-03-14T09:26:53.412Z",
          "updatedAt": "2026-03-14T09:31:07.958Z",
          "statusHistory": [
            {"status": "CREATED", "at": "2026-03-14T09:26:53.412Z", "reason": null},
            {"status": "WAITING_FOR_CONFIRMATION", "at": "2026-03-14T09:26:53.412Z", "reason": null},
            {"status": "PENDING", "at": "2026-03-14T09:31:06.220Z", "reason": "Confirmed by merchant"},
            {"status": "PROCESSED", "at": "2026-03-14T09:31:07.958Z", "reason": null}
          ]
        })
    }
}
