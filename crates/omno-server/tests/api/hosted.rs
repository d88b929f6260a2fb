//! Hosted payout pages (§11): destination entry by card or APM, status page, tokens, headers.

use serde_json::Value;

use crate::helpers::*;

async fn iframe_urls(app: &TestApp, order: &str) -> (String, String, String) {
    let r = app.create_payout(&payout_body(order, 50.0, "EUR")).await;
    let v: Value = r.json().await.unwrap();
    (
        v["payoutId"].as_str().unwrap().to_string(),
        v["iframeUrls"]["card"].as_str().unwrap().to_string(),
        v["iframeUrls"]["apm"].as_str().unwrap().to_string(),
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn card_page_records_a_masked_destination() {
    let app = TestApp::spawn().await;
    let (id, card_url, _) = iframe_urls(&app, "wd-hpp-card").await;
    let client = no_redirects();

    let r = client.get(&card_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors http://127.0.0.1:* http://localhost:*"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"));
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("name=\"cardNumber\""));
    assert!(!html.contains("src=\"http"), "no external scripts");
    assert!(!html.contains("href=\"http"), "no external styles");

    // Invalid card: the form re-renders with 400.
    let r = client
        .post(&card_url)
        .form(&[
            ("cardNumber", "4111111111111112"),
            ("cardholderName", "Anna Keller"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not a valid card number"));

    let r = client
        .post(&card_url)
        .form(&[
            ("cardNumber", "4111 1111 1111 1111"),
            ("cardholderName", "Anna Keller"),
            ("expirationMonth", "09"),
            ("expirationYear", "2031"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        location.contains(&format!("/hpp/payout/{id}/status?token=")),
        "{location}"
    );

    let p = app.get_payout(&id).await;
    assert_eq!(p["cardMask"], "411111******1111");
    assert_eq!(p["cardBrand"], "VISA");
    assert_eq!(p["cardHash"].as_str().unwrap().len(), 64);
    assert_eq!(p["transactionType"], "CARD");
    assert_eq!(p["metadata"]["paymentMethod"], "CARD");
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION");

    // The status page and its JSON.
    let r = client.get(&location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("WAITING_FOR_CONFIRMATION"));
    // §11.4 reporting, as on the payin status page.
    assert!(html.contains("/hpp/assets/status.js"));
    assert!(html.contains("data-report=\"true\""));
    assert!(html.contains("data-status=\"WAITING_FOR_CONFIRMATION\""));
    assert!(html.contains(&format!("data-id=\"{id}\"")));
    assert!(html.contains("data-frame-origins=\"http://127.0.0.1:* http://localhost:*\""));
    assert!(html.contains("id=\"close\""));
    // No return URLs on this payout: nothing to navigate to.
    assert!(html.contains("data-success-url=\"\""));
    assert!(html.contains("data-failure-url=\"\""));
    let json_url = location.replace("/status?", "/status.json?");
    let s: Value = client
        .get(&json_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "WAITING_FOR_CONFIRMATION");
    assert_eq!(s["amount"], 50);
    assert_eq!(s["orderId"], "wd-hpp-card");

    // The full PAN is nowhere in the database (files, or PostgreSQL tables) or the API answers.
    app.confirm(&id).await;
    app.run_pending_jobs().await;
    let body = app
        .req(reqwest::Method::GET, &format!("/public/payout/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("PROCESSED"));
    assert!(!body.contains("4111111111111111"));
    assert!(
        !app.database_contains(b"4111111111111111").await,
        "PAN found in the database"
    );
    // Once processed, the destination can no longer change.
    let r = client.get(&card_url).send().await.unwrap();
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn apm_page_records_a_bank_destination() {
    let app = TestApp::spawn().await;
    let (id, _, apm_url) = iframe_urls(&app, "wd-hpp-apm").await;
    let client = no_redirects();
    assert_eq!(client.get(&apm_url).send().await.unwrap().status(), 200);
    let r = client
        .post(&apm_url)
        .form(&[
            ("method", "BANK_TRANSFER"),
            ("iban", "DE00370400440532013000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(&apm_url)
        .form(&[
            ("method", "BANK_TRANSFER"),
            ("iban", "DE89 3704 0044 0532 0130 00"),
            ("accountHolder", "Anna Keller"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let p = app.get_payout(&id).await;
    assert_eq!(p["transactionType"], "APM");
    assert_eq!(p["metadata"]["paymentMethod"], "BANK_TRANSFER");
}

#[tokio::test]
async fn page_tokens_are_checked() {
    let app = TestApp::spawn().await;
    let (id, card_url, apm_url) = iframe_urls(&app, "wd-hpp-tok").await;
    let client = no_redirects();
    // A card token does not open the APM page, and a tampered token opens nothing.
    let card_token = card_url.split("token=").nth(1).unwrap();
    let wrong = apm_url.split("token=").next().unwrap().to_string() + "token=" + card_token;
    assert_eq!(client.get(&wrong).send().await.unwrap().status(), 403);
    let tampered = format!("{card_url}x");
    assert_eq!(client.get(&tampered).send().await.unwrap().status(), 403);
    let no_token = card_url.split('?').next().unwrap();
    assert_eq!(client.get(no_token).send().await.unwrap().status(), 403);
    // Unknown id → 404 page.
    let unknown = card_url.replace(&id, "0190000000007000800000000000000f");
    assert_eq!(client.get(&unknown).send().await.unwrap().status(), 404);
    // Tokens expire (24 h).
    app.advance(time::Duration::hours(25));
    assert_eq!(client.get(&card_url).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn status_page_carries_the_return_urls() {
    let app = TestApp::spawn().await;
    let mut body = payout_body("wd-hpp-return", 20.0, "EUR");
    body["returnUrls"] = serde_json::json!({
        "success": "IFRAME_POST_MESSAGE",
        "failure": "https://shop.example.de/withdraw/failed"
    });
    let v: Value = app.create_payout(&body).await.json().await.unwrap();
    let card_url = v["iframeUrls"]["card"].as_str().unwrap();
    let client = no_redirects();
    let r = client.get(card_url).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://shop.example.de"),
        "{csp}"
    );
    let r = client
        .post(card_url)
        .form(&[
            ("cardNumber", "4111111111111111"),
            ("cardholderName", "Anna Keller"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let html = client
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-report=\"true\""));
    // Only http(s) URLs are navigated to.
    assert!(html.contains("data-success-url=\"\""));
    assert!(html.contains("data-failure-url=\"https://shop.example.de/withdraw/failed\""));
}
