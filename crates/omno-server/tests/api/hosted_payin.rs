//! Hosted payin pages (API.md §11.2): card form, APM choice, simulated 3DS challenge, status page
//! and its JSON, page tokens and the §11.3 headers.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::*;

/// A new payin: (id, card page URL, APM page URL).
async fn hosted_payin(app: &TestApp, order: &str, amount: f64) -> (String, String, String) {
    let r = app.create_payin(&payin_body(order, amount, "EUR")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (
        v["paymentId"].as_str().unwrap().to_string(),
        v["iframeUrls"]["card"].as_str().unwrap().to_string(),
        v["iframeUrls"]["apm"].as_str().unwrap().to_string(),
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) omno-hosted-test")
        .build()
        .unwrap()
}

/// Asserts the §11.3 headers of an HTML page for the demo merchant.
fn assert_secure(h: &HeaderMap) {
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(
        csp.contains("frame-ancestors http://127.0.0.1:* http://localhost:*"),
        "{csp}"
    );
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert!(
        h.get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

/// The absolute URL of a 303's `Location` (relative on the hosted pages).
fn location(app: &TestApp, r: &reqwest::Response) -> String {
    assert_eq!(r.status(), 303, "expected a redirect");
    let l = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    if l.starts_with('/') { app.url(&l) } else { l }
}

fn card_form<'a>(number: &'a str, month: &'a str, year: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("cardNumber", number),
        ("expirationMonth", month),
        ("expirationYear", year),
        ("cvv", "737"),
        ("cardholderName", "Anna Keller"),
    ]
}

/// Posts the hosted card form to `url`.
async fn post_card(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    number: &str,
    month: &str,
    year: &str,
) -> reqwest::Response {
    client
        .post(url)
        .form(&card_form(number, month, year))
        .send()
        .await
        .unwrap()
}

/// The text of the page at `url`.
async fn page_text(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

async fn status_json(client: &reqwest::Client, status_url: &str) -> Value {
    let r = client
        .get(status_url.replace("/status?", "/status.json?"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    r.json().await.unwrap()
}

#[tokio::test]
async fn card_page_pays_and_reports_the_result() {
    let app = TestApp::spawn().await;
    let (id, card_url, _) = hosted_payin(&app, "dep-hpp-card", 49.99).await;
    let client = no_redirects();

    let r = client.get(&card_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_secure(r.headers());
    let html = r.text().await.unwrap();
    for needle in [
        "name=\"cardNumber\"",
        "name=\"expirationMonth\"",
        "name=\"expirationYear\"",
        "name=\"cvv\"",
        "name=\"cardholderName\"",
        "name=\"saveCard\"",
        "<label for=\"cardNumber\">",
        "autocomplete=\"cc-number\"",
        "autocomplete=\"cc-csc\"",
        "inputmode=\"numeric\"",
        "49.99 EUR",
        "dep-hpp-card",
        "value=\"Anna Keller\"",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(!html.contains("src=\"http"), "no external scripts");
    assert!(!html.contains("href=\"http"), "no external styles");
    assert!(!html.contains("<script>"), "no inline scripts");

    let mut form = card_form("4111 1111 1111 1111", "09", "2039");
    form.push(("saveCard", "true"));
    let r = client.post(&card_url).form(&form).send().await.unwrap();
    let status_url = location(&app, &r);
    assert!(
        status_url.starts_with(&app.url(&format!("/hpp/payin/{id}/status?token="))),
        "{status_url}"
    );

    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "SUCCESS", "{p}");
    // The customer IP of a hosted payment is the connection's address.
    assert_eq!(p["metadata"]["ipAddress"], "127.0.0.1");
    assert_eq!(p["cardMask"], "411111******1111");
    assert_eq!(p["transactionType"], "CARD");
    assert_eq!(p["metadata"]["paymentMethod"], "CARD");
    assert_eq!(
        p["metadata"]["userAgent"],
        "Mozilla/5.0 (X11; Linux x86_64) omno-hosted-test"
    );
    assert!(p["cardId"].is_string(), "saveCard vaults the card: {p}");

    // The status page and its JSON (the status token opens both).
    let r = client.get(&status_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_secure(r.headers());
    let html = r.text().await.unwrap();
    assert!(html.contains("SUCCESS"));
    assert!(html.contains("/hpp/assets/status.js"));
    assert!(html.contains(&format!("data-id=\"{id}\"")));
    assert!(html.contains("data-frame-origins=\"http://127.0.0.1:* http://localhost:*\""));
    let s = status_json(&client, &status_url).await;
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["status"], "SUCCESS");
    assert!(s["statusReason"].is_null());
    assert_eq!(s["amount"], 49.99);
    assert_eq!(s["currency"], "EUR");
    assert_eq!(s["orderId"], "dep-hpp-card");

    // Paid: the card page now leads to the status page, and a second post charges nothing.
    let r = client.get(&card_url).send().await.unwrap();
    assert!(location(&app, &r).contains(&format!("/hpp/payin/{id}/status?token=")));
    let r = post_card(&client, &card_url, "5555555555554444", "09", "2039").await;
    assert!(location(&app, &r).contains("/status?token="));
    let p = app.get_payin(&id).await;
    assert_eq!(p["cardMask"], "411111******1111");
    let (_, view) = admin(
        &app,
        reqwest::Method::GET,
        &format!("/admin/transactions/{id}"),
        None,
    )
    .await;
    assert_eq!(view["attempts"].as_array().map(Vec::len), Some(1), "{view}");

    // The status script is served by omno itself.
    let r = client
        .get(app.url("/hpp/assets/status.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("postMessage"));
}

#[tokio::test]
async fn three_ds_challenge_completes_or_fails() {
    let app = TestApp::spawn().await;
    let client = no_redirects();

    let (id, card_url, _) = hosted_payin(&app, "dep-hpp-3ds-ok", 20.0).await;
    let r = post_card(&client, &card_url, "4000000000003220", "9", "39").await;
    let three_ds = location(&app, &r);
    assert!(
        three_ds.contains(&format!("/hpp/payin/{id}/3ds?token=")),
        "{three_ds}"
    );
    assert_eq!(app.get_payin(&id).await["status"], "PENDING_3DS");
    // Reloading the card page while the challenge is open leads back to it.
    let r = client.get(&card_url).send().await.unwrap();
    assert!(location(&app, &r).contains("/3ds?token="));

    let r = client.get(&three_ds).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_secure(r.headers());
    let html = r.text().await.unwrap();
    assert!(html.contains("Complete") && html.contains("Fail"));
    assert!(html.contains("name=\"outcome\" value=\"success\""));
    assert!(html.contains("name=\"outcome\" value=\"failure\""));
    assert!(html.contains("400000******3220"));
    let token = three_ds.split("token=").nth(1).unwrap().to_string();
    // The 3DS token is bound to the 3DS page: the card token does not open it.
    let card_token = card_url.split("token=").nth(1).unwrap();
    let wrong = app.url(&format!("/hpp/payin/{id}/3ds?token={card_token}"));
    assert_eq!(client.get(&wrong).send().await.unwrap().status(), 403);
    let post_url = app.url(&format!("/hpp/payin/{id}/3ds"));
    let r = client
        .post(&post_url)
        .form(&[("token", card_token), ("outcome", "success")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.get_payin(&id).await["status"], "PENDING_3DS");

    let r = client
        .post(&post_url)
        .form(&[("token", token.as_str()), ("outcome", "success")])
        .send()
        .await
        .unwrap();
    let status_url = location(&app, &r);
    assert!(status_url.contains(&format!("/hpp/payin/{id}/status?token=")));
    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "SUCCESS", "{p}");
    assert_eq!(p["cardMask"], "400000******3220");
    assert_eq!(status_json(&client, &status_url).await["status"], "SUCCESS");
    // The challenge is over: a replayed post changes nothing and shows the status.
    let r = client
        .post(&post_url)
        .form(&[("token", token.as_str()), ("outcome", "failure")])
        .send()
        .await
        .unwrap();
    assert!(location(&app, &r).contains("/status?token="));
    assert_eq!(app.get_payin(&id).await["status"], "SUCCESS");

    // Fail.
    let (id, card_url, _) = hosted_payin(&app, "dep-hpp-3ds-ko", 20.0).await;
    let r = post_card(&client, &card_url, "4000000000003220", "09", "2039").await;
    let three_ds = location(&app, &r);
    let token = three_ds.split("token=").nth(1).unwrap().to_string();
    let r = client
        .post(app.url(&format!("/hpp/payin/{id}/3ds")))
        .form(&[("token", token.as_str()), ("outcome", "failure")])
        .send()
        .await
        .unwrap();
    let status_url = location(&app, &r);
    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "FAILED", "{p}");
    assert_eq!(p["statusReason"]["detailedStatus"], "THREE_DS_FAILED");
    let s = status_json(&client, &status_url).await;
    assert_eq!(s["status"], "FAILED");
    assert_eq!(s["statusReason"]["detailedStatus"], "THREE_DS_FAILED");
    let html = page_text(&client, &status_url).await;
    assert!(html.contains("FAILED"));
}

#[tokio::test]
async fn form_errors_rerender_without_the_card_data() {
    let app = TestApp::spawn().await;
    let (id, card_url, _) = hosted_payin(&app, "dep-hpp-errors", 10.0).await;
    let client = no_redirects();

    // Every field wrong at once: each error is shown, nothing is processed.
    let r = client
        .post(&card_url)
        .form(&[
            ("cardNumber", "4111111111111112"),
            ("expirationMonth", "13"),
            ("expirationYear", "20x"),
            ("cvv", "12"),
            ("cardholderName", " "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_secure(r.headers());
    let html = r.text().await.unwrap();
    for needle in [
        "not a valid card number",
        "month from 1 to 12",
        "YYYY or YY",
        "3 or 4 digits",
        "Cardholder name must not be blank",
        "id=\"cardNumber-error\"",
        "aria-invalid=\"true\"",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(!html.contains("4111111111111112"), "card number echoed");

    // A valid card that has expired: the error is on the expiry year; the PAN and the CVV are
    // not echoed, the name and the expiry are.
    let r = client
        .post(&card_url)
        .form(&[
            ("cardNumber", "4111111111111111"),
            ("expirationMonth", "01"),
            ("expirationYear", "2020"),
            ("cvv", "9173"),
            ("cardholderName", "Anna Q. Keller"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"expirationYear-error\""));
    assert!(html.contains("card has expired"));
    assert!(!html.contains("4111111111111111"), "card number echoed");
    assert!(!html.contains("411111"), "card number echoed");
    assert!(!html.contains("9173"), "CVV echoed");
    assert!(html.contains("value=\"Anna Q. Keller\""));
    assert!(html.contains("value=\"2020\""));

    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "CREATED");
    assert!(p["cardMask"].is_null());
    // Missing fields are errors too.
    let r = client
        .post(&card_url)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Enter the card number"));
}

#[tokio::test]
async fn page_tokens_and_ids_are_checked() {
    let app = TestApp::spawn().await;
    let (id, card_url, apm_url) = hosted_payin(&app, "dep-hpp-tok", 10.0).await;
    let client = no_redirects();
    let card_token = card_url.split("token=").nth(1).unwrap();

    // A card token opens neither the APM page nor the status page; tampered or missing tokens
    // open nothing: 403 pages with the security headers.
    let wrong = apm_url.split("token=").next().unwrap().to_string() + "token=" + card_token;
    let r = client.get(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_secure(r.headers());
    for page in ["status", "status.json"] {
        let url = app.url(&format!("/hpp/payin/{id}/{page}?token={card_token}"));
        assert_eq!(client.get(&url).send().await.unwrap().status(), 403);
    }
    let r = post_card(
        &client,
        format!("{card_url}x"),
        "4111111111111111",
        "09",
        "2039",
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.get_payin(&id).await["status"], "CREATED");
    let no_token = card_url.split('?').next().unwrap();
    assert_eq!(client.get(no_token).send().await.unwrap().status(), 403);
    // A payout token does not open a payin page.
    let r = app
        .create_payout(&payout_body("wd-hpp-tok", 10.0, "EUR"))
        .await;
    let v: Value = r.json().await.unwrap();
    let payout_token = v["iframeUrls"]["card"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    let url = app.url(&format!("/hpp/payin/{id}/card?token={payout_token}"));
    assert_eq!(client.get(&url).send().await.unwrap().status(), 403);

    // Unknown id → 404 page.
    let unknown = card_url.replace(&id, "0190000000007000800000000000000f");
    let r = client.get(&unknown).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = client
        .get(app.url("/hpp/payin/not-an-id/card?token=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Tokens expire (24 h).
    app.advance(time::Duration::hours(25));
    assert_eq!(client.get(&card_url).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn apm_page_pays_asynchronously() {
    let app = TestApp::spawn().await;
    let (id, _, apm_url) = hosted_payin(&app, "dep-hpp-apm", 12.0).await;
    let client = no_redirects();

    let r = client.get(&apm_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_secure(r.headers());
    let html = r.text().await.unwrap();
    // The demo accounts serve bank transfers and e-wallets, not crypto.
    for m in ["BANK_TRANSFER", "E_WALLET"] {
        assert!(html.contains(&format!("value=\"{m}\"")), "{m} missing");
    }
    assert!(
        !html.contains("value=\"CRYPTO\""),
        "no account serves CRYPTO"
    );
    assert!(
        html.contains("12.00 EUR") || html.contains("12 EUR"),
        "amount"
    );

    // Not a method on offer: the page re-renders with 400.
    let r = client
        .post(&apm_url)
        .form(&[("method", "CRYPTO")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Choose one of the payment methods")
    );

    let r = client
        .post(&apm_url)
        .form(&[("method", "E_WALLET")])
        .send()
        .await
        .unwrap();
    let status_url = location(&app, &r);
    assert!(status_url.contains(&format!("/hpp/payin/{id}/status?token=")));
    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "PENDING", "{p}");
    assert_eq!(p["transactionType"], "APM");
    assert_eq!(p["metadata"]["paymentMethod"], "E_WALLET");
    let html = page_text(&client, &status_url).await;
    assert!(html.contains("PENDING"));
    assert!(html.contains("data-final=\"false\""));
    assert_eq!(status_json(&client, &status_url).await["status"], "PENDING");

    app.run_pending_jobs().await;
    assert_eq!(app.get_payin(&id).await["status"], "SUCCESS");
    let s = status_json(&client, &status_url).await;
    assert_eq!(s["status"], "SUCCESS");
    assert_eq!(s["amount"], 12);
    // Processed: the APM page now leads to the status page.
    let r = client.get(&apm_url).send().await.unwrap();
    assert!(location(&app, &r).contains("/status?token="));
}

#[tokio::test]
async fn status_page_carries_the_return_urls() {
    let app = TestApp::spawn().await;
    let mut body = payin_body("dep-hpp-return", 10.0, "EUR");
    body["returnUrls"] = serde_json::json!({
        "success": "https://shop.example.de/checkout/success",
        "failure": "IFRAME_POST_MESSAGE"
    });
    let v: Value = app.create_payin(&body).await.json().await.unwrap();
    let card_url = v["iframeUrls"]["card"].as_str().unwrap();
    let client = no_redirects();
    let r = client.get(card_url).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://shop.example.de"),
        "{csp}"
    );
    let r = post_card(&client, card_url, "4111111111111111", "09", "2039").await;
    let html = page_text(&client, location(&app, &r)).await;
    assert!(html.contains("data-success-url=\"https://shop.example.de/checkout/success\""));
    // Only http(s) URLs are navigated to.
    assert!(html.contains("data-failure-url=\"\""));
}

/// A KYC-only EUR account for payins and payouts and a router that targets only it: its id.
async fn kyc_only_router(app: &TestApp) -> String {
    let m = app.creds.merchant_id.hex();
    let (s, acct) = admin(
        app,
        reqwest::Method::POST,
        &format!("/admin/merchants/{m}/psp-accounts"),
        Some(
            serde_json::json!({"name": "sim-kyc", "connector": "simulator",
            "currencies": ["EUR"], "methods": ["CARD", "BANK_TRANSFER"],
            "directions": ["PAYIN", "PAYOUT"], "kycRequired": true}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{acct}");
    let (s, router) = admin(
        app,
        reqwest::Method::POST,
        &format!("/admin/merchants/{m}/routers"),
        Some(
            serde_json::json!({"name": "kyc only", "rules": [{"name": "all",
            "conditions": {}, "targets": [{"pspAccountId": acct["id"], "weight": 100}]}],
            "fallbackTargets": []}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{router}");
    router["id"].as_str().unwrap().to_string()
}

/// Opens a cashier on `router` and makes a card deposit of 10 EUR and a withdrawal of 20 EUR:
/// the HTML of both status pages.
async fn cashier_deposit_and_withdrawal(
    app: &TestApp,
    router: &str,
    order: &str,
    kyc_verified: bool,
) -> (String, String) {
    let r = app
        .post_json(
            "/public/cashier/session",
            &serde_json::json!({
                "customer": customer(),
                "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"},
                "currency": "EUR", "orderId": order, "kycVerified": kyc_verified,
                "balance": 50, "routerId": router,
            }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sid = r.json::<Value>().await.unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let client = no_redirects();
    let r = client
        .post(app.url(&format!("/cashier/{sid}/deposit")))
        .form(&[("amount", "10"), ("method", "card")])
        .send()
        .await
        .unwrap();
    let card_url = location(app, &r);
    let r = post_card(&client, &card_url, "4111111111111111", "09", "2039").await;
    let status_url = location(app, &r);
    assert!(status_url.contains("/status?token="), "{status_url}");
    let deposit = page_text(&client, &status_url).await;
    let r = client
        .post(app.url(&format!("/cashier/{sid}/withdraw")))
        .form(&[("amount", "20"), ("method", "card")])
        .send()
        .await
        .unwrap();
    let mut next = location(app, &r);
    if next.contains("/card?token=") {
        let r = client
            .post(&next)
            .form(&[
                ("cardNumber", "4111111111111111"),
                ("cardholderName", "Anna Keller"),
            ])
            .send()
            .await
            .unwrap();
        next = location(app, &r);
    }
    assert!(next.contains("/hpp/payout/"), "{next}");
    assert!(next.contains("/status?token="), "{next}");
    let r = client.get(&next).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let withdrawal = r.text().await.unwrap();
    (deposit, withdrawal)
}

#[tokio::test]
async fn cashier_results_report_kyc_level_errors() {
    let app = TestApp::spawn().await;
    let router = kyc_only_router(&app).await;

    // Not verified: both fail NO_PROVIDER_AVAILABLE only for KYC; the withdrawal fails at
    // creation and the cashier leads straight to its result.
    let (deposit, withdrawal) = cashier_deposit_and_withdrawal(&app, &router, "kyc-1", false).await;
    for html in [&deposit, &withdrawal] {
        assert!(html.contains("data-status=\"FAILED\""), "{html}");
        assert!(html.contains("data-kyc-level-errors=\"[{"), "{html}");
        assert!(html.contains("KYC_VERIFIED"), "{html}");
        assert!(html.contains("this payment method requires a verified customer"));
        assert!(html.contains("requires a verified account"), "{html}");
        // The routing reason (with the merchant's account names) is not shown to customers.
        assert!(!html.contains("sim-kyc"), "{html}");
        assert!(html.contains("Back to the cashier"));
    }

    // Verified: the same router takes both; nothing to report.
    let (deposit, withdrawal) = cashier_deposit_and_withdrawal(&app, &router, "kyc-2", true).await;
    assert!(deposit.contains("data-status=\"SUCCESS\""), "{deposit}");
    assert!(
        withdrawal.contains("data-status=\"WAITING_FOR_CONFIRMATION\""),
        "{withdrawal}"
    );
    for html in [&deposit, &withdrawal] {
        assert!(html.contains("data-kyc-level-errors=\"\""), "{html}");
    }

    // A payin outside the cashier that fails the same way reports no KYC level.
    let mut body = payin_body("kyc-direct", 10.0, "EUR");
    body["routerId"] = serde_json::json!(router);
    let v: Value = app.create_payin(&body).await.json().await.unwrap();
    let client = no_redirects();
    let r = post_card(
        &client,
        v["iframeUrls"]["card"].as_str().unwrap(),
        "4111111111111111",
        "09",
        "2039",
    )
    .await;
    let html = page_text(&client, location(&app, &r)).await;
    assert!(html.contains("data-status=\"FAILED\""), "{html}");
    assert!(html.contains("data-kyc-level-errors=\"\""), "{html}");
    assert!(html.contains("not available at the moment"), "{html}");
}
