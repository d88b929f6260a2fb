//! `omno mock` (API.md §15.3) through a real socket: the same validation as the real server,
//! the documented examples with path ids substituted, any credentials, and an OpenAPI document
//! limited to what it serves.

use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

const ID: &str = "019d0000000070008000000000000abc";

struct Mock {
    base: String,
    client: Client,
}

impl Mock {
    async fn spawn() -> Mock {
        // reqwest is built without a default TLS provider (each test is its own process under
        // nextest, and the mock never builds the server state that installs it).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = omno_server::mock::mock_router(65536);
        tokio::spawn(async move {
            let stop = tokio_util::sync::CancellationToken::new();
            let _ =
                omno_server::serve(listener, router, stop, std::time::Duration::from_secs(1)).await;
        });
        Mock {
            base,
            client: Client::new(),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", "anything")
    }

    async fn post(&self, path: &str, body: &Value) -> Response {
        self.req(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn create_answers_the_documented_example_for_any_active_currency() {
    let mock = Mock::spawn().await;
    for currency in ["EUR", "XOF", "KWD", "CHF"] {
        let r = mock
            .post("/public/payout", &payout_body("m-1", 12.0, currency))
            .await;
        assert_eq!(r.status(), 200, "{currency}");
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["payoutId"], "019cebabac0c784783a8a7235f0e5af5");
        assert_eq!(v["status"], "WAITING_FOR_CONFIRMATION");
        assert!(
            v["iframeUrls"]["card"]
                .as_str()
                .unwrap()
                .contains("/card?token=")
        );
    }
    // Stateless: the same orderId with another body is no conflict.
    let r = mock
        .post("/public/payout", &payout_body("m-1", 13.0, "EUR"))
        .await;
    assert_eq!(r.status(), 200);
    // Any routerId is accepted.
    let mut body = payout_body("m-2", 10.0, "EUR");
    body["routerId"] = json!("whatever");
    assert_eq!(mock.post("/public/payout", &body).await.status(), 200);
}

#[tokio::test]
async fn validation_matches_the_real_server_field_for_field() {
    let mock = Mock::spawn().await;
    let app = TestApp::spawn().await;
    let mut bad = payout_body("", -1.0, "eur");
    bad["customer"]["email"] = json!("not-an-email");
    bad["customer"]["billing"]["countryCode"] = json!("XX");
    bad["kycVerified"] = json!("true");
    bad["previousTransactionCount"] = json!(-3);
    bad["webhook"] = json!({"url": "ftp://x"});
    let mut unknown_currency = payout_body("m-3", 10.0, "ABC");
    unknown_currency["customer"]["dateOfBirth"] = json!("2999-01-01");
    for body in [bad, unknown_currency, json!({})] {
        let from_mock = assert_error(
            mock.post("/public/payout", &body).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        let from_server =
            assert_error(app.create_payout(&body).await, 400, "VALIDATION_ERROR").await;
        assert_eq!(fields(&from_mock), fields(&from_server), "{body}");
        assert!(!fields(&from_mock).is_empty());
    }
    // The Idempotency-Key header is checked with the body.
    let r = mock
        .req(Method::POST, "/public/payout")
        .header("Idempotency-Key", "with space")
        .json(&json!({"orderId": "x"}))
        .send()
        .await
        .unwrap();
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert!(fields(&v).contains(&"Idempotency-Key".to_string()));
    // Malformed JSON, wrong content type, too large.
    let r = mock
        .req(Method::POST, "/public/payout")
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "MALFORMED_JSON").await;
    let r = mock
        .req(Method::POST, "/public/payout")
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "MALFORMED_JSON").await;
    let r = mock
        .req(Method::POST, "/public/payout")
        .body("x".repeat(70_000))
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn id_endpoints_substitute_the_path_id() {
    let mock = Mock::spawn().await;
    let r = mock
        .req(Method::GET, &format!("/public/payout/{ID}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], ID);
    assert_eq!(v["amount"], json!(150.25));
    assert_eq!(v["statusHistory"].as_array().unwrap().len(), 4);
    for action in ["confirm", "reject"] {
        let r = mock
            .req(Method::PUT, &format!("/public/payout/{ID}/{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "{}");
    }
    let path = format!("/public/payout/{ID}/process/direct-link");
    let r = mock
        .post(
            &path,
            &json!({"browser": browser(), "additionalData": {"iban": "DE89370400440532013000"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["payoutId"], ID);
    assert!(
        v["redirectUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/hpp/payout/{ID}/status"))
    );
    let r = mock
        .post(
            &path,
            &json!({"browser": {"colorDepth": "24"}, "additionalData": {"iban": "DE00"}}),
        )
        .await;
    let v = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(
        fields(&v),
        vec!["additionalData.iban", "browser.colorDepth"]
    );
    // Malformed ids are unknown, as on the real server.
    for path in [
        "/public/payout/xyz",
        "/public/payout/019D0000000070008000000000000ABC",
        "/public/payout/%FF",
    ] {
        let r = mock.req(Method::GET, path).send().await.unwrap();
        assert_error(r, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn any_non_empty_authorization_authenticates() {
    let mock = Mock::spawn().await;
    let url = format!("{}/public/payout/{ID}", mock.base);
    for auth in [None, Some(""), Some("   ")] {
        let mut b = mock.client.get(&url);
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let r = b.send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"omno\"");
        assert_error(r, 401, "UNAUTHORIZED").await;
    }
    // Authentication precedes everything else, the path id included.
    let r = mock
        .client
        .post(format!(
            "{}/public/payout/%FF/process/direct-link",
            mock.base
        ))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "UNAUTHORIZED").await;
    for auth in ["Bearer x", "sk_test_nope", "Basic Zm9vOmJhcg=="] {
        let r = mock
            .client
            .get(&url)
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{auth}");
    }
}

#[tokio::test]
async fn token_endpoint_takes_any_credentials() {
    let mock = Mock::spawn().await;
    for path in [
        "/oauth/token",
        "/realms/anything/protocol/openid-connect/token",
    ] {
        let url = format!("{}{path}", mock.base);
        let r = mock
            .client
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "a"),
                ("client_secret", "b"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 300);
        assert_eq!(v["refresh_expires_in"], 0);
        assert_eq!(v["not-before-policy"], 0);
        assert_eq!(v["scope"], "merchant");
        assert_eq!(v["access_token"].as_str().unwrap().split('.').count(), 3);
        let r = mock
            .client
            .post(&url)
            .basic_auth("id", Some("secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        for (form, error) in [
            (
                vec![("grant_type", "client_credentials"), ("client_id", "a")],
                "invalid_request",
            ),
            (
                vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", ""),
                    ("client_secret", ""),
                ],
                "invalid_request",
            ),
            (
                vec![
                    ("grant_type", "password"),
                    ("client_id", "a"),
                    ("client_secret", "b"),
                ],
                "unsupported_grant_type",
            ),
        ] {
            let r = mock.client.post(&url).form(&form).send().await.unwrap();
            assert_eq!(r.status(), 400);
            assert_eq!(r.json::<Value>().await.unwrap()["error"], error);
        }
    }
}

#[tokio::test]
async fn health_openapi_and_unknown_routes() {
    let mock = Mock::spawn().await;
    let r = mock
        .client
        .get(format!("{}/health", mock.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let doc: Value = mock
        .client
        .get(format!("{}/openapi.json", mock.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        vec![
            "/health",
            "/oauth/token",
            "/public/payin",
            "/public/payin/{payinId}",
            "/public/payin/{payinId}/process/card",
            "/public/payin/{payinId}/process/direct-link",
            "/public/payin/{payinId}/process/saved-card",
            "/public/payin/{payinId}/refund",
            "/public/payout",
            "/public/payout/{payoutId}",
            "/public/payout/{payoutId}/confirm",
            "/public/payout/{payoutId}/process/direct-link",
            "/public/payout/{payoutId}/reject",
            "/realms/{realm}/protocol/openid-connect/token",
        ]
    );
    // Every referenced schema is there; nothing of the admin API is.
    let text = doc.to_string();
    for (i, _) in text.match_indices("#/components/schemas/") {
        let name: String = text[i + 21..].chars().take_while(|c| *c != '"').collect();
        assert!(doc["components"]["schemas"].get(&name).is_some(), "{name}");
    }
    assert!(!text.contains("/admin"));
    assert_eq!(doc["info"]["version"], "2.0.0");
    for (method, path, status) in [
        (Method::GET, "/ready", 404),
        (Method::GET, "/admin/merchants", 404),
        (Method::DELETE, "/public/payout", 405),
    ] {
        let r = mock.req(method, path).send().await.unwrap();
        assert!(r.headers().contains_key("x-request-id"));
        assert_eq!(r.status(), status);
    }
}

#[tokio::test]
async fn payin_endpoints_validate_like_the_server_and_answer_examples() {
    let mock = Mock::spawn().await;
    let r = mock
        .post("/public/payin", &payin_body("m-in-1", 49.99, "EUR"))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "CREATED");
    assert!(
        v["iframeUrls"]["card"]
            .as_str()
            .unwrap()
            .contains("/hpp/payin/")
    );
    let mut bad = payin_body("m-in-2", 1.0, "EUR");
    bad["amount"] = json!(0);
    let e = assert_error(
        mock.post("/public/payin", &bad).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["amount"]);

    let card = format!("/public/payin/{ID}/process/card");
    let r = mock
        .post(
            &card,
            &json!({"browser": browser(), "cardData": card_data("4111111111111111"), "saveCard": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"paymentId": ID, "status": "SUCCESS"}));
    let e = assert_error(
        mock.post(&card, &json!({"browser": {}, "cardData": {"cardNumber": "4111111111111112"}, "saveCard": true}))
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(
        fields(&e),
        [
            "cardData.cardNumber",
            "cardData.cardholderName",
            "cardData.cvv",
            "cardData.expirationMonth",
            "cardData.expirationYear"
        ]
    );
    let r = mock
        .post(
            &format!("/public/payin/{ID}/process/direct-link"),
            &json!({"browser": browser(), "additionalData": {"method": "CRYPTO"}}),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    assert!(
        v["redirectUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/hpp/payin/{ID}/status"))
    );
    let r = mock
        .post(
            &format!("/public/payin/{ID}/process/saved-card"),
            &json!({"browser": {}, "savedCardData": {"cardId": ID, "cvv": "737"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = mock
        .req(Method::GET, &format!("/public/payin/{ID}"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], ID);
    assert_eq!(v["refunds"], json!([]));
    let r = mock
        .req(Method::POST, &format!("/public/payin/{ID}/refund"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["paymentId"], ID);
    assert_eq!(v["status"], "PARTIALLY_REFUNDED");
}
