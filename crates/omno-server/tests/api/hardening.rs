//! What request fuzzers throw at the API (issue 10): deep nesting, invalid UTF-8, numbers out of
//! range, huge strings, odd methods, headers and query strings. The server answers each with the
//! contract's 4xx envelope, never a 5xx or a crash, and every response carries `X-Request-Id`.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

/// Sends `body` as-is with the demo key and `Content-Type: application/json`.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> Response {
    app.req(method, path)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A create body with `value` and `previousTransactionCount` written exactly as given.
fn raw_create(order_id: &str, value: &str, count: &str) -> String {
    format!(
        r#"{{"orderId":"{order_id}","value":{value},"currency":"EUR","kycVerified":true,"previousTransactionCount":{count},"customer":{}}}"#,
        customer()
    )
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

async fn fields_of(r: Response) -> Vec<String> {
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    fields(&v)
}

#[tokio::test]
async fn deeply_nested_json_is_malformed_json() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("nest-0", 10.0).await;
    let deep_in_field = |field: &str| {
        let mut body = payout_body("nest-1", 10.0, "EUR");
        body[field] = json!("PLACEHOLDER");
        body.to_string()
            .replace("\"PLACEHOLDER\"", &nested_objects(1000))
    };
    let bodies = [
        nested_objects(1000),
        format!("{}{}", "[".repeat(1000), "]".repeat(1000)),
        format!(r#"{{"a":{}1{}}}"#, "[".repeat(1000), "]".repeat(1000)),
        deep_in_field("customer"),
        deep_in_field("unknownField"),
        nested_objects(10_000),
    ];
    for body in bodies {
        let r = send(&app, Method::POST, "/public/payout", body.clone()).await;
        assert_error(r, 400, "MALFORMED_JSON").await;
        let path = format!("/public/payout/{id}/process/direct-link");
        let r = send(&app, Method::POST, &path, body).await;
        assert_error(r, 400, "MALFORMED_JSON").await;
    }
    // Nesting within the limit is fine: an unknown field is ignored at any reasonable depth.
    let mut body = payout_body("nest-2", 10.0, "EUR");
    body["unknown"] = serde_json::from_str(&nested_objects(64)).unwrap();
    assert_eq!(app.create_payout(&body).await.status(), 200);
    let dl = json!({"browser": browser(), "additionalData": {"deep": serde_json::from_str::<Value>(&nested_objects(32)).unwrap()}});
    let r = app
        .post_json(&format!("/public/payout/{id}/process/direct-link"), &dl)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn invalid_utf8_anywhere_is_a_400() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("utf8-0", 10.0).await;
    let valid = payout_body("utf8-1", 10.0, "EUR").to_string();
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe{}".to_vec(),
        valid.replace("Anna", "A\u{1}nna").into_bytes(),
        [
            &valid.as_bytes()[..20],
            b"\xc3\x28",
            &valid.as_bytes()[20..],
        ]
        .concat(),
        br#"{"orderId": "\ud800", "value": 1}"#.to_vec(),
        b"{\"orderId\": \"ok\", \"unknown\": \"\xed\xa0\x80\"}".to_vec(),
    ];
    for body in bodies {
        let r = send(&app, Method::POST, "/public/payout", body.clone()).await;
        assert_eq!(r.status(), 400, "{:?}", String::from_utf8_lossy(&body));
        let path = format!("/public/payout/{id}/process/direct-link");
        let r = send(&app, Method::POST, &path, body).await;
        assert_eq!(r.status(), 400);
    }
    // An invalid UTF-8 percent-escape in a path id is an unknown id, not a 400.
    for path in [
        "/public/payout/%FF%FE",
        "/public/payout/%FF/confirm",
        "/public/payout/%C3%28/reject",
    ] {
        let method = if path.ends_with("confirm") || path.ends_with("reject") {
            Method::PUT
        } else {
            Method::GET
        };
        let r = app.req(method, path).send().await.unwrap();
        assert_error(r, 404, "NOT_FOUND").await;
    }
    let r = send(
        &app,
        Method::POST,
        "/public/payout/%FF/process/direct-link",
        json!({"browser": browser(), "additionalData": {}}).to_string(),
    )
    .await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn numbers_out_of_range_are_validation_errors() {
    let app = TestApp::spawn().await;
    for (i, value) in [
        "1e400",
        "-1e400",
        "-0",
        "0.0",
        "-0.0",
        "1e-400",
        "0e999999999",
        "1e999999999",
    ]
    .into_iter()
    .enumerate()
    {
        let r = send(
            &app,
            Method::POST,
            "/public/payout",
            raw_create(&format!("num-v-{i}"), value, "0"),
        )
        .await;
        assert_eq!(fields_of(r).await, vec!["value"], "value {value}");
    }
    for (i, count) in [
        "1e400",
        "-1e400",
        "1e-400",
        "0.5",
        "-1",
        "2147483648",
        "1e999999999",
        "99999999999999999999999",
    ]
    .into_iter()
    .enumerate()
    {
        let r = send(
            &app,
            Method::POST,
            "/public/payout",
            raw_create(&format!("num-c-{i}"), "10", count),
        )
        .await;
        assert_eq!(
            fields_of(r).await,
            vec!["previousTransactionCount"],
            "count {count}"
        );
    }
    // `-0` is the integer 0, which the count allows.
    let r = send(
        &app,
        Method::POST,
        "/public/payout",
        raw_create("num-ok", "10", "-0"),
    )
    .await;
    assert_eq!(r.status(), 200);

    let id = app.new_payout("num-dl", 10.0).await;
    let path = format!("/public/payout/{id}/process/direct-link");
    for n in [
        "1e400",
        "-1e400",
        "1e-400",
        "2147483648",
        "-2147483649",
        "0.5",
    ] {
        let body = format!(
            r#"{{"browser":{{"screenHeight":{n},"colorDepth":{n}}},"additionalData":{{}}}}"#
        );
        let r = send(&app, Method::POST, &path, body).await;
        assert_eq!(
            fields_of(r).await,
            vec!["browser.colorDepth", "browser.screenHeight"],
            "{n}"
        );
    }
    // Free-form `additionalData` keeps numbers it cannot represent out (400, not 5xx).
    for n in ["1e400", "-1e400"] {
        let body = format!(r#"{{"browser":{{}},"additionalData":{{"amount":{n}}}}}"#);
        let r = send(&app, Method::POST, &path, body).await;
        assert_eq!(fields_of(r).await, vec!["additionalData"], "{n}");
    }
}

#[tokio::test]
async fn huge_strings_are_rejected_by_length_or_size() {
    let app = TestApp::spawn().await;
    // Within the body limit: a validation error naming each oversized field.
    let mut body = payout_body("huge-1", 10.0, "EUR");
    body["orderId"] = json!("x".repeat(20_000));
    body["customer"]["firstName"] = json!("é".repeat(10_000));
    body["customer"]["billing"]["address"] = json!("a".repeat(1025));
    let r = app.create_payout(&body).await;
    assert_eq!(
        fields_of(r).await,
        vec!["customer.billing.address", "customer.firstName", "orderId"]
    );
    // Beyond it: 413, whatever the content.
    let mut body = payout_body("huge-2", 10.0, "EUR");
    body["orderId"] = json!("x".repeat(70_000));
    let r = app.create_payout(&body).await;
    assert_error(r, 413, "PAYLOAD_TOO_LARGE").await;
    // Escapes that expand: 10 000 × `\u00e9` is 60 000 bytes on the wire, 10 000 characters.
    let body = payout_body("huge-3", 10.0, "EUR")
        .to_string()
        .replace("\"huge-3\"", &format!("\"{}\"", "\\u00e9".repeat(10_000)));
    let r = send(&app, Method::POST, "/public/payout", body).await;
    assert_eq!(fields_of(r).await, vec!["orderId"]);
    // Huge header values and paths do not crash the server either.
    let long_id = "a".repeat(4000);
    let r = app
        .req(Method::GET, &format!("/public/payout/{long_id}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    let r = app
        .req(Method::POST, "/public/payout")
        .header("Idempotency-Key", "k".repeat(4000))
        .json(&payout_body("huge-4", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(fields_of(r).await, vec!["Idempotency-Key"]);
}

#[tokio::test]
async fn odd_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("meth-1", 10.0).await;
    for (method, path, allowed) in [
        (Method::DELETE, "/public/payout".to_string(), "POST"),
        (Method::PATCH, format!("/public/payout/{id}"), "GET"),
        (Method::POST, format!("/public/payout/{id}/confirm"), "PUT"),
        (Method::OPTIONS, "/public/payout".to_string(), "POST"),
        (
            Method::from_bytes(b"FOO").unwrap(),
            format!("/public/payout/{id}/reject"),
            "PUT",
        ),
        (Method::PUT, "/oauth/token".to_string(), "POST"),
        (Method::POST, "/health".to_string(), "GET"),
    ] {
        let r = app.req(method.clone(), &path).send().await.unwrap();
        let allow = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            allow.split(',').any(|m| m.trim() == allowed),
            "{method} {path}: Allow = {allow:?}"
        );
        assert!(r.headers().contains_key("x-request-id"));
        assert_error(r, 405, "METHOD_NOT_ALLOWED").await;
    }
    // HEAD of a GET route is served like GET, without a body.
    let r = app
        .req(Method::HEAD, &format!("/public/payout/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn content_type_and_body_on_get_are_ignored() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("get-ct", 10.0).await;
    for (ct, body) in [
        ("application/json", "{\"x\": 1}"),
        ("application/json", "not json"),
        ("text/plain", "whatever"),
    ] {
        let r = app
            .req(Method::GET, &format!("/public/payout/{id}"))
            .header("Content-Type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{ct} {body}");
    }
    let r = app
        .req(Method::PUT, &format!("/public/payout/{id}/confirm"))
        .header("Content-Type", "application/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn query_strings_are_ignored() {
    let app = TestApp::spawn().await;
    let r = app
        .req(
            Method::POST,
            "/public/payout?orderId=other&value=-1&debug=true",
        )
        .json(&payout_body("query-1", 10.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .req(Method::GET, &format!("/public/payout/{id}?id=x&%FF=%FE&a"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["orderId"], "query-1");
    // The envelope's `path` never carries the query string.
    let r = app
        .req(Method::GET, "/public/payout/nope?secret=1")
        .send()
        .await
        .unwrap();
    let v = assert_error(r, 404, "NOT_FOUND").await;
    assert_eq!(v["path"], "/public/payout/nope");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("rid-1", 10.0).await;
    let big = "x".repeat(70_000);
    let card_page = app.get_payout(&id).await;
    assert_eq!(card_page["id"], id.as_str());
    let created: Value = app
        .create_payout(&payout_body("rid-2", 10.0, "EUR"))
        .await
        .json()
        .await
        .unwrap();
    let page = created["iframeUrls"]["apm"].as_str().unwrap().to_string();
    let requests = vec![
        app.client.get(app.url("/health")),
        app.client.get(app.url("/ready")),
        app.client.get(app.url("/openapi.json")),
        app.client.get(app.url("/docs/")),
        app.client.get(app.url("/no/such/route")),
        app.client.delete(app.url("/health")),
        app.req(Method::POST, "/public/payout").body(big.clone()),
        app.req(Method::GET, &format!("/public/payout/{id}")),
        app.client.get(app.url(&format!("/public/payout/{id}"))),
        app.client.post(app.url("/oauth/token")).body(big),
        app.client.post(app.url("/oauth/token")),
        app.client.get(page.clone()),
        app.client.get(page.replace("token=", "token=x")),
    ];
    for b in requests {
        let r = b.send().await.unwrap();
        let rid = r
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("X-Request-Id on {} {}", r.status(), r.url()));
        assert_eq!(rid.len(), 32, "generated ids are 32 hex");
    }
    // A caller's acceptable id is echoed, on errors too; an unacceptable one is replaced.
    for (sent, echoed) in [("trace-abc-123", true), ("bad\tid", false)] {
        let r = app
            .client
            .get(app.url("/no/such/route"))
            .header("X-Request-Id", sent)
            .send()
            .await
            .unwrap();
        let got = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(got == sent, echoed, "{sent:?} -> {got:?}");
    }
}
