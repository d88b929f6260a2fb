//! Per-merchant rate limiting of `/public/**` (API.md §1.10): 429 `RATE_LIMITED` with
//! `Retry-After`, after authentication and before the body limit; other merchants, the token
//! endpoint and the operational endpoints are unaffected; `0` disables.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::*;

const UNKNOWN_ID: &str = "019cebabac0c784783a8a7235f0e5af5";

async fn get_with(app: &TestApp, key: &str) -> Response {
    app.client
        .get(app.url(&format!("/public/payout/{UNKNOWN_ID}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn burst_is_served_then_429_with_retry_after() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 3;
    })
    .await;
    // Created before the demo merchant's bucket is touched.
    let other = app.other_merchant_key().await;
    let key = app.creds.api_key.clone();
    for _ in 0..3 {
        assert_eq!(get_with(&app, &key).await.status(), 404);
    }
    let r = get_with(&app, &key).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    let v = assert_error(r, 429, "RATE_LIMITED").await;
    assert_eq!(v["error"], "Too Many Requests");

    // Rate limit precedes the body limit, and applies to every /public endpoint.
    let r = app
        .req(Method::POST, "/public/payout")
        .body("x".repeat(70_000))
        .send()
        .await
        .unwrap();
    assert_error(r, 429, "RATE_LIMITED").await;
    // Authentication precedes it: a bad key is still 401.
    let r = get_with(&app, "sk_test_0000000000000000000000000000000000000000").await;
    assert_error(r, 401, "UNAUTHORIZED").await;

    // Another merchant has its own bucket.
    for _ in 0..3 {
        assert_eq!(get_with(&app, &other).await.status(), 404);
    }
    // The token endpoint and operational endpoints are never limited.
    for _ in 0..5 {
        let r = app
            .client
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app.creds.client_id.hex()),
                ("client_secret", &app.creds.client_secret),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["access_token"].is_string());
        assert_eq!(
            app.client
                .get(app.url("/health"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // An access token of the limited merchant shares its bucket.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.creds.client_id.hex()),
            ("client_secret", &app.creds.client_secret),
        ])
        .send()
        .await
        .unwrap();
    let token: Value = r.json().await.unwrap();
    let r = get_with(&app, token["access_token"].as_str().unwrap()).await;
    assert_error(r, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn zero_disables_the_limit() {
    for (rps, burst) in [(0, 1), (1, 0)] {
        let app = TestApp::spawn_with(|s| {
            s.rate_limit.requests_per_second = rps;
            s.rate_limit.burst = burst;
        })
        .await;
        let key = app.creds.api_key.clone();
        for _ in 0..20 {
            assert_eq!(get_with(&app, &key).await.status(), 404);
        }
    }
}
