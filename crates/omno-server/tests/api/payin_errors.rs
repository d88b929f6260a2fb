//! PayIn API errors (API.md §1.7, §5): every invalid field listed at once, the error envelope,
//! and the 4xx codes of each endpoint.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn create_payin_lists_every_invalid_field() {
    let app = TestApp::spawn().await;
    let mut body = payin_body("", 12.505, "eur");
    body["kycVerified"] = json!("yes");
    body["customer"]["email"] = json!("nope");
    body["previousTransactionCount"] = json!(-1);
    body["routerId"] = json!("019c512cd46c74cb8f169cb78a3f6bf2");
    body["returnUrls"] = json!({"success": "ftp://x"});
    let e = assert_error(app.create_payin(&body).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&e),
        [
            "currency",
            "customer.email",
            "kycVerified",
            "orderId",
            "previousTransactionCount",
            "returnUrls.failure",
            "returnUrls.success",
            "routerId",
        ]
    );
    // `value` is the payout spelling; payins take `amount`.
    let mut body = payin_body("x-1", 10.0, "EUR");
    body.as_object_mut().unwrap().remove("amount");
    body["value"] = json!(10);
    let e = assert_error(app.create_payin(&body).await, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&e), ["amount"]);
    let e = assert_error(
        app.create_payin(&payin_body("x-2", 10.5, "JPY")).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["amount"]);
    let r = app
        .req(Method::POST, "/public/payin")
        .header("Content-Type", "application/json")
        .body("{\"orderId\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "MALFORMED_JSON").await;
    let r = app
        .client
        .post(app.url("/public/payin"))
        .json(&payin_body("x-3", 1.0, "EUR"))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn card_fields_are_validated_together() {
    let app = TestApp::spawn().await;
    let id = app.new_payin("card-errs", 10.0).await;
    let path = format!("/public/payin/{id}/process/card");
    let body = json!({
        "browser": {"customerIp": "not-an-ip", "colorDepth": "24"},
        "cardData": {"cardNumber": "4111111111111112", "expirationMonth": "13", "expirationYear": "20x", "cvv": "12", "cardholderName": "  "},
        "saveCard": "true"
    });
    let r = app
        .req(Method::POST, &path)
        .header("Idempotency-Key", "bad key with spaces")
        .json(&body)
        .send()
        .await
        .unwrap();
    let e = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&e),
        [
            "Idempotency-Key",
            "browser.colorDepth",
            "browser.customerIp",
            "cardData.cardNumber",
            "cardData.cardholderName",
            "cardData.cvv",
            "cardData.expirationMonth",
            "cardData.expirationYear",
            "saveCard",
        ]
    );
    assert!(!e.to_string().contains("4111111111111112"));

    // An expired card, and missing objects.
    let expired = json!({"browser": {}, "cardData": {"cardNumber": "4111111111111111", "expirationMonth": "1", "expirationYear": "20", "cvv": "123", "cardholderName": "A"}, "saveCard": false});
    let e = assert_error(
        app.post_json(&path, &expired).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["cardData.expirationYear"]);
    assert_eq!(e["errors"][0]["message"], "card has expired");
    let e = assert_error(
        app.post_json(&path, &json!({})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["browser", "cardData", "saveCard"]);
    // Nothing was processed.
    assert_eq!(app.get_payin(&id).await["status"], "CREATED");

    // Unknown or foreign payin ids are 404, after authentication.
    let r = app
        .post_json(
            "/public/payin/019cebabb1e873a4a48941dc12df22f5/process/card",
            &json!({"browser": {}, "cardData": card_data("4111111111111111"), "saveCard": false}),
        )
        .await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn saved_card_and_direct_link_errors() {
    let app = TestApp::spawn().await;
    let id = app.new_payin("saved-errs", 10.0).await;
    let r = app
        .post_json(
            &format!("/public/payin/{id}/process/saved-card"),
            &json!({"browser": {}, "savedCardData": {"cardId": "nope", "cvv": "1"}}),
        )
        .await;
    let e = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&e), ["savedCardData.cardId", "savedCardData.cvv"]);
    assert_eq!(e["errors"][0]["message"], "unknown card");
    let r = app
        .post_json(
            &format!("/public/payin/{id}/process/saved-card"),
            &json!({"savedCardData": {}}),
        )
        .await;
    let e = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&e),
        ["browser", "savedCardData.cardId", "savedCardData.cvv"]
    );

    let path = format!("/public/payin/{id}/process/direct-link");
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let e = assert_error(
        app.post_json(&path, &json!({"browser": {}, "additionalData": many}))
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["additionalData"]);
    let e = assert_error(
        app.post_json(
            &path,
            &json!({"browser": {}, "additionalData": {"method": "CARD"}}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["additionalData.method"]);
    let e = assert_error(
        app.post_json(&path, &json!({"additionalData": []})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["additionalData", "browser"]);
    assert_eq!(app.get_payin(&id).await["status"], "CREATED");
}

#[tokio::test]
async fn refund_errors() {
    let app = TestApp::spawn().await;
    let id = app.new_payin("refund-errs", 10.0).await;
    let path = format!("/public/payin/{id}/refund");
    for (body, field) in [
        (json!({"amount": 0}), "amount"),
        (json!({"amount": -5}), "amount"),
        (json!({"amount": "5"}), "amount"),
        (json!({"amount": 1.001}), "amount"),
    ] {
        let e = assert_error(app.post_json(&path, &body).await, 400, "VALIDATION_ERROR").await;
        assert_eq!(fields(&e), [field], "{body}");
    }
    let r = app
        .req(Method::POST, &path)
        .header("Content-Type", "application/json")
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "MALFORMED_JSON").await;
    let e = assert_error(
        app.post_json(&path, &json!({"amount": 5})).await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("CREATED"), "{e}");
    let r = app.req(Method::GET, &path).send().await.unwrap();
    assert_error(r, 405, "METHOD_NOT_ALLOWED").await;
}
