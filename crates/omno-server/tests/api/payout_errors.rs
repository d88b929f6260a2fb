//! Every error code API.md §4 lists for the payout endpoints, plus the idempotency (§1.8),
//! parsing (§1.6) and state-machine (§8.1) edges behind them. Each test spawns its own server.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

/// A well-formed payout id that no payout has.
const UNKNOWN_ID: &str = "019cebabac0c784783a8a7235f0e5af5";

/// A valid `process/direct-link` body.
fn dl_body() -> Value {
    json!({
        "browser": browser(),
        "additionalData": {"method": "BANK_TRANSFER", "iban": "DE89370400440532013000", "accountHolder": "Anna Keller"}
    })
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// A create body whose `value` is written exactly as `value_text` (no float round trip).
fn raw_create(order_id: &str, value_text: &str, currency: &str) -> String {
    format!(
        r#"{{"orderId":"{order_id}","value":{value_text},"currency":"{currency}","kycVerified":true,"customer":{}}}"#,
        customer()
    )
}

/// Sends `body` as-is with the demo key and an optional Content-Type.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: impl Into<reqwest::Body>,
    content_type: Option<&str>,
) -> Response {
    let mut b = app.req(method, path).body(body);
    if let Some(ct) = content_type {
        b = b.header("Content-Type", ct);
    }
    b.send().await.unwrap()
}

/// Sends a request with an explicit `Authorization` value (or none) and an optional JSON body.
async fn send_with_auth(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut b = app.client.request(method, app.url(path));
    if let Some(a) = auth {
        b = b.header("Authorization", a);
    }
    if let Some(v) = body {
        b = b.json(v);
    }
    b.send().await.unwrap()
}

async fn create_with_key(app: &TestApp, body: &Value, key: &str) -> Response {
    app.req(Method::POST, "/public/payout")
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn direct_link(app: &TestApp, id: &str, body: &Value) -> Response {
    app.post_json(&format!("/public/payout/{id}/process/direct-link"), body)
        .await
}

/// Asserts a 400 `VALIDATION_ERROR` and returns its `field` list.
async fn validation_fields(r: Response) -> Vec<String> {
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(v["error"], "Bad Request");
    for e in v["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty(), "{v}");
    }
    fields(&v)
}

/// Asserts a 200 `{}` (confirm / reject).
async fn assert_empty_ok(r: Response) {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    assert_eq!(r.text().await.unwrap(), "{}");
}

/// Creates a CHF payout, which the demo merchant has enabled but cannot route.
async fn new_failed_chf(app: &TestApp, order_id: &str) -> String {
    let r = app
        .create_payout(&payout_body(order_id, 100.0, "CHF"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "FAILED");
    v["payoutId"].as_str().unwrap().to_string()
}

/// The four endpoints addressed by a payout id: (method, path, JSON body).
fn id_endpoints(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/public/payout/{id}"), None),
        (Method::PUT, format!("/public/payout/{id}/confirm"), None),
        (Method::PUT, format!("/public/payout/{id}/reject"), None),
        (
            Method::POST,
            format!("/public/payout/{id}/process/direct-link"),
            Some(dl_body()),
        ),
    ]
}

/// All five payout endpoints.
fn all_endpoints(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let mut v = vec![(
        Method::POST,
        "/public/payout".to_string(),
        Some(payout_body("auth-check", 10.0, "EUR")),
    )];
    v.extend(id_endpoints(id));
    v
}

fn statuses(payout: &Value) -> Vec<String> {
    payout["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 400 MALFORMED_JSON

#[tokio::test]
async fn syntax_error_is_malformed_json_with_line_and_column() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("mj-1", 10.0).await;
    for path in [
        "/public/payout".to_string(),
        format!("/public/payout/{id}/process/direct-link"),
    ] {
        let r = send_raw(
            &app,
            Method::POST,
            &path,
            "{\"orderId\": \"x\",\n  \"value\": }",
            Some("application/json"),
        )
        .await;
        let v = assert_error(r, 400, "MALFORMED_JSON").await;
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains("line") && msg.contains("column"), "{msg}");
        assert!(msg.contains('2'), "line 2 expected: {msg}");
        assert_eq!(v["path"], path.as_str());
        assert_eq!(v["errors"], json!([]));
        assert_eq!(v["error"], "Bad Request");
    }
}

#[tokio::test]
async fn non_object_bodies_are_malformed_json() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("mj-2", 10.0).await;
    for path in [
        "/public/payout".to_string(),
        format!("/public/payout/{id}/process/direct-link"),
    ] {
        for body in [
            "[]",
            "[{\"orderId\": \"a\"}]",
            "\"text\"",
            "42",
            "null",
            "true",
        ] {
            let r = send_raw(&app, Method::POST, &path, body, Some("application/json")).await;
            assert_error(r, 400, "MALFORMED_JSON").await;
        }
    }
}

#[tokio::test]
async fn empty_body_where_required_is_malformed_json() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("mj-3", 10.0).await;
    for path in [
        "/public/payout".to_string(),
        format!("/public/payout/{id}/process/direct-link"),
    ] {
        for ct in [Some("application/json"), None] {
            let r = send_raw(&app, Method::POST, &path, "", ct).await;
            assert_error(r, 400, "MALFORMED_JSON").await;
        }
        let r = send_raw(&app, Method::POST, &path, "  \n ", Some("application/json")).await;
        assert_error(r, 400, "MALFORMED_JSON").await;
    }
}

#[tokio::test]
async fn wrong_content_type_is_malformed_json() {
    let app = TestApp::spawn().await;
    let body = payout_body("ct-1", 10.0, "EUR").to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/jsonx",
    ] {
        let r = send_raw(&app, Method::POST, "/public/payout", body.clone(), Some(ct)).await;
        assert_error(r, 400, "MALFORMED_JSON").await;
    }
    // Nothing was created by the rejected requests: the orderId is still free.
    let r = send_raw(
        &app,
        Method::POST,
        "/public/payout",
        body.clone(),
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());

    // Direct-link follows the same rule.
    let v: Value = r.json().await.unwrap();
    let id = v["payoutId"].as_str().unwrap();
    let path = format!("/public/payout/{id}/process/direct-link");
    let r = send_raw(
        &app,
        Method::POST,
        &path,
        dl_body().to_string(),
        Some("text/plain"),
    )
    .await;
    assert_error(r, 400, "MALFORMED_JSON").await;
    let r = send_raw(
        &app,
        Method::POST,
        &path,
        dl_body().to_string(),
        Some("Application/JSON; charset=UTF-8"),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn json_body_without_content_type_is_accepted() {
    let app = TestApp::spawn().await;
    let body = payout_body("ct-none", 10.0, "EUR").to_string();
    let r = send_raw(&app, Method::POST, "/public/payout", body, None).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn confirm_and_reject_ignore_body_and_content_type() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("ign-1", 10.0).await;
    let b = app.new_payout("ign-2", 10.0).await;
    let r = send_raw(
        &app,
        Method::PUT,
        &format!("/public/payout/{a}/confirm"),
        "this is [not json",
        Some("text/plain"),
    )
    .await;
    assert_empty_ok(r).await;
    let r = send_raw(
        &app,
        Method::PUT,
        &format!("/public/payout/{b}/reject"),
        "[1,2,3]",
        Some("application/xml"),
    )
    .await;
    assert_empty_ok(r).await;
    assert_eq!(app.get_payout(&a).await["status"], "PENDING");
    assert_eq!(app.get_payout(&b).await["status"], "REJECTED");
}

// ---------------------------------------------------------------------------------------------
// 400 VALIDATION_ERROR — create

#[tokio::test]
async fn every_invalid_field_is_listed_sorted() {
    let app = TestApp::spawn().await;
    let tomorrow = time::OffsetDateTime::now_utc().date() + time::Duration::days(2);
    let mut c = customer();
    c["email"] = json!("anna.keller@");
    c["billing"].as_object_mut().unwrap().remove("city");
    c["billing"]["countryCode"] = json!("XX");
    c["dateOfBirth"] = json!(tomorrow.to_string());
    c["phoneNumber"] = json!("12");
    let body = json!({
        "orderId": "val-1",
        "value": "100",
        "currency": "eur",
        "kycVerified": true,
        "customer": c,
    });
    let r = app.create_payout(&body).await;
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&v),
        strs(&[
            "currency",
            "customer.billing.city",
            "customer.billing.countryCode",
            "customer.dateOfBirth",
            "customer.email",
            "customer.phoneNumber",
            "value",
        ])
    );
    assert_eq!(v["path"], "/public/payout");
    // Nothing was persisted: the orderId is still free.
    let r = app.create_payout(&payout_body("val-1", 10.0, "EUR")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn missing_required_fields_are_listed() {
    let app = TestApp::spawn().await;
    let all = strs(&["currency", "customer", "kycVerified", "orderId", "value"]);
    let r = app.create_payout(&json!({})).await;
    assert_eq!(validation_fields(r).await, all);
    // `null` for a required field = missing.
    let r = app
        .create_payout(&json!({"orderId": null, "value": null, "currency": null, "kycVerified": null, "customer": null}))
        .await;
    assert_eq!(validation_fields(r).await, all);

    // Each required top-level field on its own.
    for f in ["orderId", "value", "currency", "kycVerified", "customer"] {
        let mut body = payout_body("val-missing", 10.0, "EUR");
        body.as_object_mut().unwrap().remove(f);
        let r = app.create_payout(&body).await;
        assert_eq!(validation_fields(r).await, strs(&[f]), "{f}");
        let mut body = payout_body("val-missing", 10.0, "EUR");
        body[f] = Value::Null;
        let r = app.create_payout(&body).await;
        assert_eq!(validation_fields(r).await, strs(&[f]), "{f} null");
    }

    // Nested required fields.
    let mut body = payout_body("val-nested", 10.0, "EUR");
    body["customer"]["billing"] = Value::Null;
    body["customer"]["firstName"] = Value::Null;
    let r = app.create_payout(&body).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["customer.billing", "customer.firstName"])
    );
    let mut body = payout_body("val-nested", 10.0, "EUR");
    body["customer"] = json!({});
    let r = app.create_payout(&body).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&[
            "customer.billing",
            "customer.dateOfBirth",
            "customer.email",
            "customer.externalUserId",
            "customer.firstName",
            "customer.lastName",
            "customer.phoneNumber",
        ])
    );
}

#[tokio::test]
async fn strict_types() {
    let app = TestApp::spawn().await;
    let mut body = payout_body("types-1", 10.0, "EUR");
    body["orderId"] = json!(12345);
    body["kycVerified"] = json!("true");
    body["customer"]["billing"] = json!("Berlin");
    body["currency"] = json!(["EUR"]);
    let r = app.create_payout(&body).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["currency", "customer.billing", "kycVerified", "orderId"])
    );
    let mut body = payout_body("types-2", 10.0, "EUR");
    body["value"] = json!(true);
    body["customer"] = json!("Anna");
    let r = app.create_payout(&body).await;
    assert_eq!(validation_fields(r).await, strs(&["customer", "value"]));
}

#[tokio::test]
async fn customer_field_rules() {
    let app = TestApp::spawn().await;
    let today = time::OffsetDateTime::now_utc().date();
    let bad: Vec<(&str, Value, &str)> = vec![
        ("email", json!("anna@localhost"), "customer.email"),
        ("email", json!("anna keller@example.de"), "customer.email"),
        ("phoneNumber", json!("+49 30 abc"), "customer.phoneNumber"),
        ("phoneNumber", json!("1".repeat(21)), "customer.phoneNumber"),
        (
            "dateOfBirth",
            json!(today.to_string()),
            "customer.dateOfBirth",
        ),
        ("dateOfBirth", json!("1899-12-31"), "customer.dateOfBirth"),
        ("dateOfBirth", json!("1988-02-30"), "customer.dateOfBirth"),
        ("dateOfBirth", json!("1988-4-17"), "customer.dateOfBirth"),
        ("firstName", json!("   "), "customer.firstName"),
        ("externalUserId", json!(""), "customer.externalUserId"),
    ];
    for (f, val, field) in bad {
        let mut body = payout_body("cust-1", 10.0, "EUR");
        body["customer"][f] = val.clone();
        let r = app.create_payout(&body).await;
        assert_eq!(validation_fields(r).await, strs(&[field]), "{f} = {val}");
    }
    // Valid edge values.
    let mut body = payout_body("cust-ok", 10.0, "EUR");
    body["customer"]["dateOfBirth"] = json!("1900-01-01");
    body["customer"]["phoneNumber"] = json!("(030) 12-34");
    body["customer"]["billing"]["countryCode"] = json!("de");
    let r = app.create_payout(&body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let p = app.get_payout(v["payoutId"].as_str().unwrap()).await;
    assert_eq!(p["customer"]["billing"]["countryCode"], "DE");
}

#[tokio::test]
async fn amount_rules() {
    let app = TestApp::spawn().await;
    let bad = [
        ("0", "EUR"),
        ("-1", "EUR"),
        ("0.00", "EUR"),
        ("12.505", "EUR"),
        ("10.5", "JPY"),
        ("1e-3", "EUR"),
        ("1e20", "EUR"),
        ("90071992547409.92", "EUR"),
    ];
    for (i, (text, cur)) in bad.into_iter().enumerate() {
        let r = send_raw(
            &app,
            Method::POST,
            "/public/payout",
            raw_create(&format!("amt-bad-{i}"), text, cur),
            Some("application/json"),
        )
        .await;
        assert_eq!(validation_fields(r).await, strs(&["value"]), "{text} {cur}");
    }
    // `value` ≤ 0 is reported even when the currency is invalid too.
    let r = send_raw(
        &app,
        Method::POST,
        "/public/payout",
        raw_create("amt-both", "-1", "eur"),
        Some("application/json"),
    )
    .await;
    assert_eq!(validation_fields(r).await, strs(&["currency", "value"]));

    let good = [
        ("12.500", "EUR", "12.5"),
        ("1.25e1", "EUR", "12.5"),
        ("1E2", "EUR", "100"),
        ("100.0", "JPY", "100"),
        ("90071992547409.91", "EUR", "90071992547409.91"),
    ];
    for (i, (text, cur, shown)) in good.into_iter().enumerate() {
        let r = send_raw(
            &app,
            Method::POST,
            "/public/payout",
            raw_create(&format!("amt-ok-{i}"), text, cur),
            Some("application/json"),
        )
        .await;
        assert_eq!(r.status(), 200, "{text} {cur}");
        let v: Value = r.json().await.unwrap();
        let r = app
            .req(
                Method::GET,
                &format!("/public/payout/{}", v["payoutId"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap();
        let text_body = r.text().await.unwrap();
        assert!(
            text_body.contains(&format!("\"initialAmount\":{shown},")),
            "{text} {cur}: {text_body}"
        );
    }
}

#[tokio::test]
async fn enabled_but_unroutable_currency_is_a_failed_payout() {
    let app = TestApp::spawn().await;
    let r = app.create_payout(&payout_body("chf-1", 100.0, "CHF")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "FAILED");
    let id = v["payoutId"].as_str().unwrap();
    assert!(v["iframeUrls"]["card"].is_string());
    assert!(v["iframeUrls"]["apm"].is_string());
    let p = app.get_payout(id).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["statusReason"]["detailedStatus"], "NO_PROVIDER_AVAILABLE");
    assert_eq!(p["statusReason"]["status"], "FAILED");
    assert_eq!(p["currency"], "CHF");
    assert_eq!(statuses(&p), strs(&["CREATED", "FAILED"]));
}

#[tokio::test]
async fn currency_rules() {
    let app = TestApp::spawn().await;
    for cur in ["XAU", "eur", "Eur", "ZZZ", "EURO", ""] {
        let r = app.create_payout(&payout_body("cur-1", 10.0, cur)).await;
        assert_eq!(validation_fields(r).await, strs(&["currency"]), "{cur}");
    }
    let r = app.create_payout(&payout_body("cur-1", 10.0, "SEK")).await;
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&v), strs(&["currency"]));
    assert_eq!(
        v["errors"][0]["message"],
        "currency is not enabled for this merchant"
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let mut body = payout_body("unk-1", 10.0, "EUR");
    body["customer"]["country"] = json!("DE");
    body["customer"]["billing"]["street2"] = json!({"nested": [1, 2]});
    body["somethingElse"] = json!(null);
    body["paymentMethod"] = json!("CARD");
    let r = app.create_payout(&body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let p = app.get_payout(v["payoutId"].as_str().unwrap()).await;
    assert!(p["customer"].get("country").is_none());
    assert!(p.get("somethingElse").is_none());
}

#[tokio::test]
async fn optional_field_rules() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("routerId", json!(UNKNOWN_ID), "routerId"),
        ("routerId", json!("no-such-router"), "routerId"),
        (
            "previousTransactionCount",
            json!(-1),
            "previousTransactionCount",
        ),
        (
            "previousTransactionCount",
            json!(1.5),
            "previousTransactionCount",
        ),
        (
            "previousTransactionCount",
            json!("3"),
            "previousTransactionCount",
        ),
        (
            "returnUrls",
            json!({"success": "not a url", "failure": "https://shop.example.de/fail"}),
            "returnUrls.success",
        ),
        (
            "returnUrls",
            json!({"success": "https://shop.example.de/ok"}),
            "returnUrls.failure",
        ),
        ("webhook", json!({"url": "ftp://x"}), "webhook.url"),
        ("webhook", json!({}), "webhook.url"),
        ("webhook", json!("https://hooks.example.de"), "webhook"),
    ];
    for (f, val, field) in cases {
        let mut body = payout_body("opt-1", 10.0, "EUR");
        body[f] = val.clone();
        let r = app.create_payout(&body).await;
        assert_eq!(validation_fields(r).await, strs(&[field]), "{f} = {val}");
    }
    // Valid optional fields.
    let mut body = payout_body("opt-ok", 10.0, "EUR");
    body["previousTransactionCount"] = json!(3);
    body["returnUrls"] =
        json!({"success": "IFRAME_POST_MESSAGE", "failure": "https://shop.example.de/fail"});
    body["webhook"] = json!({"url": "https://hooks.example.de/omno"});
    let r = app.create_payout(&body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let p = app.get_payout(v["payoutId"].as_str().unwrap()).await;
    assert_eq!(p["previousTransactionCount"], 3);
    assert_eq!(p["returnUrls"]["success"], "IFRAME_POST_MESSAGE");
}

#[tokio::test]
async fn string_length_limits() {
    let app = TestApp::spawn().await;
    let long = "a".repeat(256);
    let mut body = payout_body(&long, 10.0, "EUR");
    body["customer"]["firstName"] = json!(long);
    body["customer"]["billing"]["city"] = json!(long);
    body["customer"]["billing"]["address"] = json!("a".repeat(1025));
    let r = app.create_payout(&body).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&[
            "customer.billing.address",
            "customer.billing.city",
            "customer.firstName",
            "orderId",
        ])
    );
    // Limits count Unicode scalar values, not bytes; the address allows 1024.
    let wide = "ä".repeat(255);
    let mut body = payout_body(&wide, 10.0, "EUR");
    body["customer"]["firstName"] = json!(wide);
    body["customer"]["billing"]["address"] = json!("ß".repeat(1024));
    let r = app.create_payout(&body).await;
    assert_eq!(r.status(), 200);
    // orderId: no control characters, not empty.
    for bad in ["", "line\nbreak", "tab\there"] {
        let r = app.create_payout(&payout_body(bad, 10.0, "EUR")).await;
        assert_eq!(validation_fields(r).await, strs(&["orderId"]), "{bad:?}");
    }
}

#[tokio::test]
async fn invalid_idempotency_key_header() {
    let app = TestApp::spawn().await;
    let long = "k".repeat(256);
    for key in ["has space", long.as_str(), "", "tab\tkey"] {
        let r = create_with_key(&app, &payout_body("idk-1", 10.0, "EUR"), key).await;
        assert_eq!(
            validation_fields(r).await,
            strs(&["Idempotency-Key"]),
            "{key:?}"
        );
    }
    // Reported together with the body's errors, sorted ("I" < lowercase).
    let r = create_with_key(&app, &payout_body("idk-1", -5.0, "EUR"), "has space").await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["Idempotency-Key", "value"])
    );
    // Nothing was created: the orderId is free, and 255 visible characters are a valid key.
    let ok = "~".repeat(255);
    let r = create_with_key(&app, &payout_body("idk-1", 10.0, "EUR"), &ok).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["payoutId"].as_str().unwrap();

    // confirm / reject / direct-link check it too.
    for (method, path, body) in [
        (Method::PUT, format!("/public/payout/{id}/confirm"), None),
        (Method::PUT, format!("/public/payout/{id}/reject"), None),
        (
            Method::POST,
            format!("/public/payout/{id}/process/direct-link"),
            Some(dl_body()),
        ),
    ] {
        let mut b = app.req(method, &path).header("Idempotency-Key", "bad key");
        if let Some(body) = &body {
            b = b.json(body);
        }
        let r = b.send().await.unwrap();
        assert_eq!(
            validation_fields(r).await,
            strs(&["Idempotency-Key"]),
            "{path}"
        );
    }
    // None of them took effect.
    assert_eq!(
        app.get_payout(id).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
}

// ---------------------------------------------------------------------------------------------
// 400 VALIDATION_ERROR — direct-link

#[tokio::test]
async fn direct_link_missing_objects() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("dl-v-1", 10.0).await;
    let r = direct_link(&app, &id, &json!({})).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["additionalData", "browser"])
    );
    let r = direct_link(&app, &id, &json!({"browser": null, "additionalData": null})).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["additionalData", "browser"])
    );
    let r = direct_link(&app, &id, &json!({"browser": "x", "additionalData": [1]})).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["additionalData", "browser"])
    );
    // Every browser sub-field is optional; additionalData may be empty.
    let r = direct_link(&app, &id, &json!({"browser": {}, "additionalData": {}})).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn direct_link_field_rules() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("dl-v-2", 10.0).await;
    for method in [
        json!("CARD"),
        json!("FOO"),
        json!("bank_transfer"),
        json!(3),
    ] {
        let mut body = dl_body();
        body["additionalData"]["method"] = method.clone();
        let r = direct_link(&app, &id, &body).await;
        assert_eq!(
            validation_fields(r).await,
            strs(&["additionalData.method"]),
            "{method}"
        );
    }
    for iban in [
        json!("DE00370400440532013000"),
        json!("DE89"),
        json!("DE89-3704-0044-0532-0130-00"),
        json!(12345),
    ] {
        let mut body = dl_body();
        body["additionalData"]["iban"] = iban.clone();
        let r = direct_link(&app, &id, &body).await;
        assert_eq!(
            validation_fields(r).await,
            strs(&["additionalData.iban"]),
            "{iban}"
        );
    }
    let mut body = dl_body();
    body["browser"]["customerIp"] = json!("not-an-ip");
    body["browser"]["colorDepth"] = json!("24");
    body["browser"]["screenWidth"] = json!(2_147_483_648_i64);
    body["browser"]["javaEnabled"] = json!("false");
    body["additionalData"]["method"] = json!("CARD");
    body["additionalData"]["iban"] = json!("DE00370400440532013000");
    let r = direct_link(&app, &id, &body).await;
    assert_eq!(
        validation_fields(r).await,
        strs(&[
            "additionalData.iban",
            "additionalData.method",
            "browser.colorDepth",
            "browser.customerIp",
            "browser.javaEnabled",
            "browser.screenWidth",
        ])
    );
    // Valid spellings: spaced lowercase IBAN, IPv6, every method of §4.4.
    for method in ["BANK_TRANSFER", "E_WALLET", "CRYPTO"] {
        let mut body = dl_body();
        body["additionalData"]["method"] = json!(method);
        body["additionalData"]["iban"] = json!("de89 3704 0044 0532 0130 00");
        body["browser"]["customerIp"] = json!("2001:db8::1");
        body["browser"]["colorDepth"] = json!(24);
        let r = direct_link(&app, &id, &body).await;
        assert_eq!(r.status(), 200, "{method}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "WAITING_FOR_CONFIRMATION");
    }
    let p = app.get_payout(&id).await;
    assert_eq!(p["metadata"]["paymentMethod"], "CRYPTO");
    assert_eq!(p["metadata"]["ipAddress"], "2001:db8::1");
    assert_eq!(p["transactionType"], "APM");
}

#[tokio::test]
async fn direct_link_additional_data_key_limit() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("dl-v-3", 10.0).await;
    let mut data = serde_json::Map::new();
    for i in 0..64 {
        data.insert(format!("k{i}"), json!(i));
    }
    let r = direct_link(
        &app,
        &id,
        &json!({"browser": browser(), "additionalData": data}),
    )
    .await;
    assert_eq!(r.status(), 200, "64 keys are allowed");
    data.insert("k64".into(), json!(64));
    let r = direct_link(
        &app,
        &id,
        &json!({"browser": browser(), "additionalData": data}),
    )
    .await;
    assert_eq!(validation_fields(r).await, strs(&["additionalData"]));
}

// ---------------------------------------------------------------------------------------------
// 401 UNAUTHORIZED

#[tokio::test]
async fn missing_or_invalid_credentials_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("auth-1", 10.0).await;
    let wrong_key = format!("sk_test_{}", "x".repeat(40));
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing credentials"),
        (Some(String::new()), "missing credentials"),
        (Some(wrong_key.clone()), "invalid credentials"),
        (Some(format!("Bearer {wrong_key}")), "invalid credentials"),
        (Some("sk_live_short".into()), "invalid credentials"),
        (
            Some("Bearer garbage.token.here".into()),
            "invalid credentials",
        ),
        (Some("not-a-token-at-all".into()), "invalid credentials"),
        (
            Some(format!("Basic {}", app.creds.api_key)),
            "invalid credentials",
        ),
    ];
    for (method, path, body) in all_endpoints(&id) {
        for (auth, message) in &cases {
            let r =
                send_with_auth(&app, method.clone(), &path, auth.as_deref(), body.as_ref()).await;
            assert_eq!(
                r.headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap()),
                Some("Bearer realm=\"omno\""),
                "{method} {path} {auth:?}"
            );
            let v = assert_error(r, 401, "UNAUTHORIZED").await;
            assert_eq!(v["message"], *message, "{method} {path} {auth:?}");
            assert_eq!(v["error"], "Unauthorized");
        }
    }
    // Nothing happened to the payout, and "auth-check" was never created.
    assert_eq!(
        app.get_payout(&id).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
    let r = app
        .create_payout(&payout_body("auth-check", 10.0, "EUR"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn authentication_precedes_body_checks() {
    let app = TestApp::spawn().await;
    // Invalid JSON, invalid fields, oversize body: without credentials the answer is 401.
    for body in ["{", "{}", &"x".repeat(70_000)] {
        let r = app
            .client
            .post(app.url("/public/payout"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_error(r, 401, "UNAUTHORIZED").await;
    }
    // Unknown id without credentials: 401, not 404.
    let r = send_with_auth(
        &app,
        Method::GET,
        &format!("/public/payout/{UNKNOWN_ID}"),
        None,
        None,
    )
    .await;
    assert_error(r, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn authorization_header_forms() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("auth-forms", 10.0).await;
    let key = &app.creds.api_key;
    for auth in [
        key.clone(),
        format!("Bearer {key}"),
        format!("bearer {key}"),
        format!("BEARER {key}"),
        format!("  Bearer {key}  "),
    ] {
        let r = send_with_auth(
            &app,
            Method::GET,
            &format!("/public/payout/{id}"),
            Some(&auth),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{auth:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], id.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// 404 NOT_FOUND

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("nf-1", 10.0).await;
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    );
    let ids = [
        UNKNOWN_ID.to_string(),
        "abc".to_string(),
        id.to_uppercase(),
        dashed,
        format!("{id}0"),
        id[..31].to_string(),
        format!("{}g", &id[..31]),
    ];
    for bad in &ids {
        for (method, path, body) in id_endpoints(bad) {
            let mut b = app.req(method.clone(), &path);
            if let Some(body) = &body {
                b = b.json(body);
            }
            let r = b.send().await.unwrap();
            let v = assert_error(r, 404, "NOT_FOUND").await;
            assert_eq!(v["path"], path.as_str());
            assert_eq!(v["error"], "Not Found");
        }
    }
    // The real payout was not touched by the spelled-differently ids.
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION");
    assert_eq!(p["transactionType"], Value::Null);
}

#[tokio::test]
async fn another_merchants_payout_is_not_found() {
    let app = TestApp::spawn().await;
    let other_key = app.other_merchant_key().await;
    let other_auth = format!("Bearer {other_key}");

    // The other merchant has no PSP account: its payout fails but exists.
    let r = send_with_auth(
        &app,
        Method::POST,
        "/public/payout",
        Some(&other_auth),
        Some(&payout_body("shared-order", 10.0, "EUR")),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "FAILED");
    let theirs = v["payoutId"].as_str().unwrap().to_string();
    let r = send_with_auth(
        &app,
        Method::GET,
        &format!("/public/payout/{theirs}"),
        Some(&other_auth),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["statusReason"]["detailedStatus"], "NO_PROVIDER_AVAILABLE");

    // The demo merchant may use the same orderId: orderIds are per merchant.
    let ours = app.new_payout("shared-order", 10.0).await;
    assert_ne!(ours, theirs);

    for (method, path, body) in id_endpoints(&theirs) {
        let mut b = app.req(method.clone(), &path);
        if let Some(body) = &body {
            b = b.json(body);
        }
        assert_error(b.send().await.unwrap(), 404, "NOT_FOUND").await;
    }
    for (method, path, body) in id_endpoints(&ours) {
        let r = send_with_auth(&app, method, &path, Some(&other_auth), body.as_ref()).await;
        assert_error(r, 404, "NOT_FOUND").await;
    }
    // Neither payout changed.
    assert_eq!(
        app.get_payout(&ours).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
    let r = send_with_auth(
        &app,
        Method::GET,
        &format!("/public/payout/{theirs}"),
        Some(&other_auth),
        None,
    )
    .await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["transactionType"], Value::Null);
}

#[tokio::test]
async fn unknown_route_is_a_not_found_envelope() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("route-1", 10.0).await;
    for (method, path) in [
        (Method::GET, "/public/nothing-here".to_string()),
        (Method::POST, format!("/public/payout/{id}/process/card")),
        (Method::PUT, format!("/public/payout/{id}/cancel")),
        (Method::GET, "/public/payouts".to_string()),
    ] {
        let r = app.req(method, &path).send().await.unwrap();
        let v = assert_error(r, 404, "NOT_FOUND").await;
        assert_eq!(v["path"], path.as_str());
    }
    // Route matching comes before authentication.
    let r = send_with_auth(&app, Method::GET, "/public/nothing-here", None, None).await;
    assert_error(r, 404, "NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------------
// 405 METHOD_NOT_ALLOWED

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("m-1", 10.0).await;
    for (method, path, allowed) in [
        (Method::DELETE, "/public/payout".to_string(), "POST"),
        (Method::GET, "/public/payout".to_string(), "POST"),
        (Method::PUT, "/public/payout".to_string(), "POST"),
        (Method::DELETE, format!("/public/payout/{id}"), "GET"),
        (Method::POST, format!("/public/payout/{id}/confirm"), "PUT"),
        (Method::GET, format!("/public/payout/{id}/reject"), "PUT"),
        (
            Method::PUT,
            format!("/public/payout/{id}/process/direct-link"),
            "POST",
        ),
    ] {
        for auth in [true, false] {
            let r = if auth {
                app.req(method.clone(), &path).send().await.unwrap()
            } else {
                app.client
                    .request(method.clone(), app.url(&path))
                    .send()
                    .await
                    .unwrap()
            };
            let allow = r
                .headers()
                .get("allow")
                .unwrap_or_else(|| panic!("Allow header on {method} {path}"))
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                allow.split(',').any(|m| m.trim() == allowed),
                "{method} {path}: Allow = {allow}"
            );
            let v = assert_error(r, 405, "METHOD_NOT_ALLOWED").await;
            assert_eq!(v["error"], "Method Not Allowed");
            assert_eq!(v["path"], path.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 409 INVALID_STATE

#[tokio::test]
async fn confirm_after_reject_and_reject_after_confirm() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("st-1", 10.0).await;
    assert_empty_ok(app.reject(&a).await).await;
    assert_error(app.confirm(&a).await, 409, "INVALID_STATE").await;
    let p = app.get_payout(&a).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(p["statusReason"]["detailedStatus"], "REJECTED_BY_MERCHANT");

    let b = app.new_payout("st-2", 10.0).await;
    assert_empty_ok(app.confirm(&b).await).await;
    assert_error(app.reject(&b).await, 409, "INVALID_STATE").await;
    assert_eq!(app.get_payout(&b).await["status"], "PENDING");
}

#[tokio::test]
async fn failed_without_confirmation_cannot_be_confirmed_or_rejected() {
    let app = TestApp::spawn().await;
    let id = new_failed_chf(&app, "st-chf").await;
    let v = assert_error(app.confirm(&id).await, 409, "INVALID_STATE").await;
    assert_eq!(v["error"], "Conflict");
    assert_error(app.reject(&id).await, 409, "INVALID_STATE").await;
    assert_error(
        direct_link(&app, &id, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(statuses(&p), strs(&["CREATED", "FAILED"]));
}

#[tokio::test]
async fn processed_payout_conflicts() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("st-proc", 150.25).await;
    // While PENDING and not yet submitted the destination can still change.
    assert_empty_ok(app.confirm(&id).await).await;
    let r = direct_link(&app, &id, &dl_body()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "PROCESSED");

    assert_error(
        direct_link(&app, &id, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert_error(app.reject(&id).await, 409, "INVALID_STATE").await;
    // Confirm on PROCESSED is the idempotent repeat.
    assert_empty_ok(app.confirm(&id).await).await;
    let after = app.get_payout(&id).await;
    assert_eq!(after["status"], "PROCESSED");
    assert_eq!(statuses(&after), statuses(&p));
}

#[tokio::test]
async fn direct_link_after_confirm_and_processing_is_invalid_state() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("st-dl", 10.0).await;
    assert_empty_ok(app.confirm(&id).await).await;
    app.run_pending_jobs().await;
    assert_error(
        direct_link(&app, &id, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["transactionType"], Value::Null);
    assert_eq!(p["metadata"]["paymentMethod"], Value::Null);
}

#[tokio::test]
async fn failed_after_confirmation_confirm_is_idempotent_reject_conflicts() {
    let app = TestApp::spawn().await;
    // Minor amount ending in 51: the simulator answers INSUFFICIENT_FUNDS.
    let id = app.new_payout("st-51", 10.51).await;
    assert_empty_ok(app.confirm(&id).await).await;
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["statusReason"]["detailedStatus"], "INSUFFICIENT_FUNDS");
    assert_empty_ok(app.confirm(&id).await).await;
    assert_error(app.reject(&id).await, 409, "INVALID_STATE").await;
    assert_error(
        direct_link(&app, &id, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
}

#[tokio::test]
async fn direct_link_on_rejected_is_invalid_state() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("st-rej-dl", 10.0).await;
    assert_empty_ok(app.reject(&id).await).await;
    assert_error(
        direct_link(&app, &id, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 409 DUPLICATE_ORDER_ID

#[tokio::test]
async fn equivalent_body_replays_the_original_response() {
    let app = TestApp::spawn().await;
    let r = app
        .create_payout(&payout_body("dup-1", 150.25, "EUR"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let original = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&original).unwrap();
    let id = v["payoutId"].as_str().unwrap().to_string();

    // Change the status: the replay still shows the status at creation.
    assert_empty_ok(app.confirm(&id).await).await;

    let mut c = customer();
    c["country"] = json!("DE");
    let equivalent = format!(
        r#"{{
            "customer": {c},
            "kycVerified": true,
            "previousTransactionCount": null,
            "returnUrls": null,
            "currency": "EUR",
            "value": 150.250,
            "orderId": "dup-1",
            "extra": {{"anything": [1, 2, 3]}}
        }}"#
    );
    for body in [equivalent, raw_create("dup-1", "1.5025e2", "EUR")] {
        let r = send_raw(
            &app,
            Method::POST,
            "/public/payout",
            body,
            Some("application/json"),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
        assert_eq!(r.text().await.unwrap(), original);
    }
    let p = app.get_payout(&id).await;
    assert_eq!(p["orderId"], "dup-1");
    assert_eq!(p["status"], "PENDING");
    // One transaction: the history has a single creation.
    assert_eq!(
        statuses(&p),
        strs(&["CREATED", "WAITING_FOR_CONFIRMATION", "PENDING"])
    );
}

#[tokio::test]
async fn different_body_with_same_order_id_conflicts() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("dup-2", 150.25).await;
    let variants: Vec<Value> = {
        let mut out = Vec::new();
        out.push(payout_body("dup-2", 150.26, "EUR"));
        out.push(payout_body("dup-2", 150.25, "USD"));
        let mut b = payout_body("dup-2", 150.25, "EUR");
        b["kycVerified"] = json!(false);
        out.push(b);
        let mut b = payout_body("dup-2", 150.25, "EUR");
        b["customer"]["billing"]["state"] = json!("be");
        out.push(b);
        // An absent field does not equal its default value.
        let mut b = payout_body("dup-2", 150.25, "EUR");
        b["previousTransactionCount"] = json!(0);
        out.push(b);
        let mut b = payout_body("dup-2", 150.25, "EUR");
        b["returnUrls"] =
            json!({"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"});
        out.push(b);
        out
    };
    for b in &variants {
        let r = app.create_payout(b).await;
        let v = assert_error(r, 409, "DUPLICATE_ORDER_ID").await;
        assert_eq!(v["error"], "Conflict");
    }
    // An invalid body is a 400 first.
    let r = app.create_payout(&payout_body("dup-2", -1.0, "EUR")).await;
    assert_eq!(validation_fields(r).await, strs(&["value"]));
    // The original is untouched.
    let p = app.get_payout(&id).await;
    assert_eq!(p["amount"], 150.25);
    assert_eq!(p["currency"], "EUR");
}

#[tokio::test]
async fn failed_payout_keeps_its_order_id() {
    let app = TestApp::spawn().await;
    let r = app
        .create_payout(&payout_body("dup-chf", 100.0, "CHF"))
        .await;
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    let r = app
        .create_payout(&payout_body("dup-chf", 100.0, "EUR"))
        .await;
    assert_error(r, 409, "DUPLICATE_ORDER_ID").await;
    let r = app
        .create_payout(&payout_body("dup-chf", 100.0, "CHF"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
}

// ---------------------------------------------------------------------------------------------
// 422 IDEMPOTENCY_KEY_REUSED

#[tokio::test]
async fn idempotency_key_on_create() {
    let app = TestApp::spawn().await;
    let body = payout_body("idem-1", 20.0, "EUR");
    let r = create_with_key(&app, &body, "key-create-1").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let original = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&original).unwrap();
    let id = v["payoutId"].as_str().unwrap().to_string();

    // Same key, same request → replay.
    let r = create_with_key(&app, &body, "key-create-1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);

    // Same key, different body (even a new orderId) → 422.
    for other in [
        payout_body("idem-2", 20.0, "EUR"),
        payout_body("idem-1", 21.0, "EUR"),
    ] {
        let r = create_with_key(&app, &other, "key-create-1").await;
        let v = assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
        assert_eq!(v["error"], "Unprocessable Entity");
    }
    // "idem-2" was not created by the rejected request.
    let r = app.create_payout(&payout_body("idem-2", 20.0, "EUR")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());

    // Same key on another endpoint is a different request.
    let r = app
        .req(Method::PUT, &format!("/public/payout/{id}/confirm"))
        .header("Idempotency-Key", "key-create-1")
        .send()
        .await
        .unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(
        app.get_payout(&id).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );

    // Validation still runs first: an invalid body with a used key is a 400.
    let r = create_with_key(&app, &payout_body("idem-1", 0.0, "EUR"), "key-create-1").await;
    assert_eq!(validation_fields(r).await, strs(&["value"]));
}

#[tokio::test]
async fn idempotency_key_is_checked_before_order_id() {
    let app = TestApp::spawn().await;
    let body = payout_body("idem-order", 20.0, "EUR");
    let r = create_with_key(&app, &body, "key-a").await;
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    // Same orderId, different value, used key → 422 (not 409).
    let r = create_with_key(&app, &payout_body("idem-order", 25.0, "EUR"), "key-a").await;
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    // Fresh key, same orderId, different value → 409.
    let r = create_with_key(&app, &payout_body("idem-order", 25.0, "EUR"), "key-b").await;
    assert_error(r, 409, "DUPLICATE_ORDER_ID").await;
    // Fresh key, equivalent body → orderId replay.
    let r = create_with_key(&app, &body, "key-c").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
}

#[tokio::test]
async fn idempotency_key_on_confirm_and_reject() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("idem-c-1", 10.0).await;
    let b = app.new_payout("idem-c-2", 10.0).await;
    let put = |id: &str, action: &str, key: &str| {
        app.req(Method::PUT, &format!("/public/payout/{id}/{action}"))
            .header("Idempotency-Key", key.to_string())
            .send()
    };
    let r = put(&a, "confirm", "key-confirm").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(r.text().await.unwrap(), "{}");

    let r = put(&a, "confirm", "key-confirm").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), "{}");

    // Same key on another payout, or on reject of the same payout → 422.
    let r = put(&b, "confirm", "key-confirm").await.unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    let r = put(&a, "reject", "key-confirm").await.unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(
        app.get_payout(&b).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
    assert_eq!(app.get_payout(&a).await["status"], "PENDING");

    // Reject with a key, replayed.
    let r = put(&b, "reject", "key-reject").await.unwrap();
    assert_eq!(r.status(), 200);
    let r = put(&b, "reject", "key-reject").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(app.get_payout(&b).await["status"], "REJECTED");

    // The key is ignored on GET.
    let r = app
        .req(Method::GET, &format!("/public/payout/{a}"))
        .header("Idempotency-Key", "key-confirm")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn idempotency_key_on_direct_link() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("idem-dl-1", 10.0).await;
    let b = app.new_payout("idem-dl-2", 10.0).await;
    let send = |id: &str, body: Value| {
        app.req(
            Method::POST,
            &format!("/public/payout/{id}/process/direct-link"),
        )
        .header("Idempotency-Key", "key-dl")
        .json(&body)
        .send()
    };
    let r = send(&a, dl_body()).await.unwrap();
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    let r = send(&a, dl_body()).await.unwrap();
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
    let mut other = dl_body();
    other["additionalData"]["method"] = json!("E_WALLET");
    let r = send(&a, other).await.unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    let r = send(&b, dl_body()).await.unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.get_payout(&b).await["transactionType"], Value::Null);
    assert_eq!(
        app.get_payout(&a).await["metadata"]["paymentMethod"],
        "BANK_TRANSFER"
    );
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_merchant() {
    let app = TestApp::spawn().await;
    let other_key = app.other_merchant_key().await;
    let r = create_with_key(&app, &payout_body("scope-1", 10.0, "EUR"), "shared-key").await;
    assert_eq!(r.status(), 200);
    let ours: Value = r.json().await.unwrap();

    // Same key value, different body, other merchant: no conflict, no replay.
    let r = app
        .client
        .post(app.url("/public/payout"))
        .bearer_auth(&other_key)
        .header("Idempotency-Key", "shared-key")
        .json(&payout_body("scope-2", 12.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let theirs: Value = r.json().await.unwrap();
    assert_ne!(theirs["payoutId"], ours["payoutId"]);

    // Within the other merchant's scope the key now belongs to its "scope-2" request.
    let r = app
        .client
        .post(app.url("/public/payout"))
        .bearer_auth(&other_key)
        .header("Idempotency-Key", "shared-key")
        .json(&payout_body("scope-1", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;

    // The demo merchant's key still replays its own response.
    let r = create_with_key(&app, &payout_body("scope-1", 10.0, "EUR"), "shared-key").await;
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["payoutId"], ours["payoutId"]);
}

// ---------------------------------------------------------------------------------------------
// 413 PAYLOAD_TOO_LARGE

#[tokio::test]
async fn bodies_over_64_kib_are_rejected() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("big-1", 10.0).await;
    let big_json = format!(r#"{{"orderId":"big-2","pad":"{}"}}"#, "x".repeat(70_000));
    assert!(big_json.len() > 65_536);
    for (method, path, body, ct) in [
        (
            Method::POST,
            "/public/payout".to_string(),
            big_json.clone(),
            "application/json",
        ),
        (
            Method::POST,
            "/public/payout".to_string(),
            "x".repeat(70_000),
            "text/plain",
        ),
        (
            Method::PUT,
            format!("/public/payout/{id}/confirm"),
            "x".repeat(70_000),
            "text/plain",
        ),
        (
            Method::PUT,
            format!("/public/payout/{id}/reject"),
            big_json.clone(),
            "application/json",
        ),
        (
            Method::POST,
            format!("/public/payout/{id}/process/direct-link"),
            big_json.clone(),
            "application/json",
        ),
    ] {
        let r = send_raw(&app, method, &path, body, Some(ct)).await;
        let v = assert_error(r, 413, "PAYLOAD_TOO_LARGE").await;
        assert_eq!(v["error"], "Payload Too Large");
    }
    assert_eq!(
        app.get_payout(&id).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
}

#[tokio::test]
async fn body_of_exactly_64_kib_is_accepted() {
    let app = TestApp::spawn().await;
    let mut body = payout_body("edge-64k", 10.0, "EUR").to_string();
    body.push_str(&" ".repeat(65_536 - body.len()));
    assert_eq!(body.len(), 65_536);
    let r = send_raw(
        &app,
        Method::POST,
        "/public/payout",
        body,
        Some("application/json"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = v["payoutId"].as_str().unwrap();
    let r = send_raw(
        &app,
        Method::PUT,
        &format!("/public/payout/{id}/confirm"),
        "y".repeat(65_536),
        Some("text/plain"),
    )
    .await;
    assert_empty_ok(r).await;
    let r = send_raw(
        &app,
        Method::POST,
        "/public/payout",
        raw_create("edge-64k-plus", "10", "EUR") + &" ".repeat(65_537),
        Some("application/json"),
    )
    .await;
    assert_error(r, 413, "PAYLOAD_TOO_LARGE").await;
}

// ---------------------------------------------------------------------------------------------
// Idempotent confirm / reject, confirmation window

#[tokio::test]
async fn confirm_twice_is_idempotent() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("twice-c", 10.0).await;
    assert_empty_ok(app.confirm(&id).await).await;
    assert_empty_ok(app.confirm(&id).await).await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "PENDING");
    assert_eq!(
        statuses(&p),
        strs(&["CREATED", "WAITING_FOR_CONFIRMATION", "PENDING"])
    );
    assert_eq!(p["statusReason"], Value::Null);
}

#[tokio::test]
async fn reject_twice_is_idempotent() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("twice-r", 10.0).await;
    assert_empty_ok(app.reject(&id).await).await;
    assert_empty_ok(app.reject(&id).await).await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(
        statuses(&p),
        strs(&["CREATED", "WAITING_FOR_CONFIRMATION", "REJECTED"])
    );
    assert_eq!(
        p["statusReason"],
        json!({"reason": "Rejected by merchant", "detailedStatus": "REJECTED_BY_MERCHANT", "status": "REJECTED"})
    );
}

#[tokio::test]
async fn confirm_after_the_confirmation_window_expires_the_payout() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("exp-1", 10.0).await;
    app.advance(time::Duration::days(7) + time::Duration::seconds(1));
    assert_error(app.confirm(&id).await, 409, "INVALID_STATE").await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(p["statusReason"]["detailedStatus"], "EXPIRED");
    assert_eq!(p["statusReason"]["status"], "REJECTED");
    assert_eq!(
        statuses(&p),
        strs(&["CREATED", "WAITING_FOR_CONFIRMATION", "REJECTED"])
    );
    // Already rejected (by expiry): reject is the idempotent repeat.
    assert_empty_ok(app.reject(&id).await).await;
    assert_error(app.confirm(&id).await, 409, "INVALID_STATE").await;
    let again = app.get_payout(&id).await;
    assert_eq!(again["statusReason"]["detailedStatus"], "EXPIRED");
    assert_eq!(statuses(&again), statuses(&p));
}

#[tokio::test]
async fn reject_and_direct_link_after_the_confirmation_window() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("exp-2", 10.0).await;
    let b = app.new_payout("exp-3", 10.0).await;
    app.advance(time::Duration::days(7) + time::Duration::seconds(1));
    assert_empty_ok(app.reject(&a).await).await;
    let p = app.get_payout(&a).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(p["statusReason"]["detailedStatus"], "EXPIRED");
    assert_error(
        direct_link(&app, &b, &dl_body()).await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert_eq!(
        app.get_payout(&b).await["statusReason"]["detailedStatus"],
        "EXPIRED"
    );
}

#[tokio::test]
async fn confirm_just_inside_the_confirmation_window() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("exp-4", 10.0).await;
    app.advance(time::Duration::days(7) - time::Duration::seconds(2));
    assert_empty_ok(app.confirm(&id).await).await;
    assert_eq!(app.get_payout(&id).await["status"], "PENDING");
}

// ---------------------------------------------------------------------------------------------
// More parsing and idempotency edges

#[tokio::test]
async fn trailing_garbage_and_invalid_utf8_are_malformed_json() {
    let app = TestApp::spawn().await;
    let valid = payout_body("garbage-1", 10.0, "EUR").to_string();
    for body in [
        format!("{valid} x").into_bytes(),
        format!("{valid}{valid}").into_bytes(),
        b"{\"orderId\": \"\xff\xfe\"}".to_vec(),
        b"{'orderId': 'single-quoted'}".to_vec(),
    ] {
        let r = send_raw(
            &app,
            Method::POST,
            "/public/payout",
            body,
            Some("application/json"),
        )
        .await;
        assert_error(r, 400, "MALFORMED_JSON").await;
    }
}

#[tokio::test]
async fn non_ascii_idempotency_key_is_invalid() {
    let app = TestApp::spawn().await;
    let r = app
        .req(Method::POST, "/public/payout")
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes("schlüssel".as_bytes()).unwrap(),
        )
        .json(&payout_body("idk-utf8", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(validation_fields(r).await, strs(&["Idempotency-Key"]));
}

#[tokio::test]
async fn equivalence_compares_unescaped_strings_and_exact_numbers() {
    let app = TestApp::spawn().await;
    let r = app
        .create_payout(&payout_body("eq-esc", 100.0, "EUR"))
        .await;
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    // "\u0041nna" is "Anna"; 100 = 100.0 = 1e2 = 100.00.
    let c = customer().to_string().replace("\"Anna\"", "\"\\u0041nna\"");
    assert!(c.contains("\\u0041nna"));
    for value in ["100.00", "1e2", "100"] {
        let body = format!(
            r#"{{"orderId":"eq-esc","value":{value},"currency":"EUR","kycVerified":true,"customer":{c}}}"#
        );
        let r = send_raw(
            &app,
            Method::POST,
            "/public/payout",
            body,
            Some("application/json"),
        )
        .await;
        assert_eq!(r.status(), 200, "{value}");
        assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
        assert_eq!(r.text().await.unwrap(), original);
    }
    // Case counts.
    let mut b = payout_body("eq-esc", 100.0, "EUR");
    b["customer"]["firstName"] = json!("anna");
    assert_error(app.create_payout(&b).await, 409, "DUPLICATE_ORDER_ID").await;
}

#[tokio::test]
async fn direct_link_fingerprint_ignores_key_order_and_number_spelling() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("dl-fp", 10.0).await;
    let path = format!("/public/payout/{id}/process/direct-link");
    let first = r#"{"browser":{"colorDepth":24,"customerIp":"91.64.23.117"},"additionalData":{"method":"E_WALLET","wallet":{"id":"w-1","limit":100},"tags":[1,2]}}"#;
    let second = r#"{"additionalData":{"tags":[1.0,2],"wallet":{"limit":1e2,"id":"w-1"},"method":"E_WALLET"},"browser":{"customerIp":"91.64.23.117","colorDepth":24.0},"ignored":true}"#;
    let send = |body: &'static str| {
        app.req(Method::POST, &path)
            .header("Idempotency-Key", "dl-fp-key")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let r = send(first).await.unwrap();
    assert_eq!(r.status(), 200);
    let original = r.text().await.unwrap();
    let r = send(second).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(r.text().await.unwrap(), original);
    // A changed free-form value is a different request.
    let r = send(r#"{"browser":{},"additionalData":{"method":"E_WALLET","wallet":{"id":"w-2","limit":100},"tags":[1,2]}}"#)
        .await
        .unwrap();
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

#[tokio::test]
async fn idempotency_key_is_free_again_after_retention() {
    let app = TestApp::spawn().await;
    let r = create_with_key(&app, &payout_body("ret-1", 10.0, "EUR"), "ret-key").await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();

    // Within 24 h the key is taken.
    app.advance(time::Duration::seconds(86_400 - 5));
    let r = create_with_key(&app, &payout_body("ret-2", 10.0, "EUR"), "ret-key").await;
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;

    // After 24 h it is free: a different request with the same key runs.
    app.advance(time::Duration::seconds(10));
    let r = create_with_key(&app, &payout_body("ret-2", 10.0, "EUR"), "ret-key").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let second: Value = r.json().await.unwrap();
    assert_ne!(second["payoutId"], first["payoutId"]);
    // And the key now belongs to the new request.
    let r = create_with_key(&app, &payout_body("ret-2", 10.0, "EUR"), "ret-key").await;
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["payoutId"], second["payoutId"]);
    let r = create_with_key(&app, &payout_body("ret-1", 10.0, "EUR"), "ret-key").await;
    assert_error(r, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

#[tokio::test]
async fn expired_idempotency_key_can_be_reused_on_confirm_and_direct_link() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("ret-c-1", 10.0).await;
    let b = app.new_payout("ret-c-2", 10.0).await;
    let r = app
        .req(Method::PUT, &format!("/public/payout/{a}/confirm"))
        .header("Idempotency-Key", "ret-confirm")
        .send()
        .await
        .unwrap();
    assert_empty_ok(r).await;
    let r = app
        .req(
            Method::POST,
            &format!("/public/payout/{a}/process/direct-link"),
        )
        .header("Idempotency-Key", "ret-dl")
        .json(&dl_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    app.advance(time::Duration::seconds(86_400 + 5));
    // b's confirmation window (7 days) is still open; both keys are free again.
    let r = app
        .req(
            Method::POST,
            &format!("/public/payout/{b}/process/direct-link"),
        )
        .header("Idempotency-Key", "ret-dl")
        .json(&dl_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "direct-link with an expired key");
    assert!(r.headers().get("idempotent-replayed").is_none());
    let r = app
        .req(Method::PUT, &format!("/public/payout/{b}/confirm"))
        .header("Idempotency-Key", "ret-confirm")
        .send()
        .await
        .unwrap();
    assert_empty_ok(r).await;
    let p = app.get_payout(&b).await;
    assert_eq!(p["status"], "PENDING");
    assert_eq!(p["transactionType"], "APM");
}

#[tokio::test]
async fn unknown_router_is_listed_with_the_other_invalid_fields() {
    let app = TestApp::spawn().await;
    let mut body = payout_body("router-multi", -1.0, "EUR");
    body["routerId"] = json!(UNKNOWN_ID);
    let r = app.create_payout(&body).await;
    assert_eq!(validation_fields(r).await, strs(&["routerId", "value"]));
    let mut body = payout_body("router-multi", 10.0, "EUR");
    body["routerId"] = json!(UNKNOWN_ID);
    let r = create_with_key(&app, &body, "bad key").await;
    assert_eq!(
        validation_fields(r).await,
        strs(&["Idempotency-Key", "routerId"])
    );
}
