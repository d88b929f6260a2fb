//! Cashier API and hosted cashier over HTTP (API.md §6, §11.2): sessions, the balance call,
//! deposits and withdrawals through the page's forms, numbering, balance safety under races.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn session_body() -> Value {
    json!({
        "customer": customer(),
        "returnUrls": {"success": "IFRAME_POST_MESSAGE", "failure": "IFRAME_POST_MESSAGE"},
        "currency": "EUR",
        "orderId": "cs-1",
        "kycVerified": true,
        "balance": 100,
    })
}

async fn new_session(app: &TestApp, body: &Value) -> (String, String) {
    let r = app.post_json("/public/cashier/session", body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (
        v["sessionId"].as_str().unwrap().to_string(),
        v["checkoutUrl"].as_str().unwrap().to_string(),
    )
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn state_json(app: &TestApp, sid: &str) -> Value {
    let r = app
        .client
        .get(app.url(&format!("/cashier/{sid}/state.json")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Posts the cashier form; returns (status, Location or body).
async fn post_form(app: &TestApp, sid: &str, tab: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = no_redirects()
        .post(app.url(&format!("/cashier/{sid}/{tab}")))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let out = match r.headers().get("location") {
        Some(l) => l.to_str().unwrap().to_string(),
        None => r.text().await.unwrap(),
    };
    (status, out)
}

fn id_in(location: &str, kind: &str) -> String {
    let rest = location.split(&format!("/hpp/{kind}/")).nth(1).unwrap();
    rest[..32].to_string()
}

#[tokio::test]
async fn sessions_are_created_and_validated() {
    let app = TestApp::spawn().await;
    let (sid, url) = new_session(&app, &session_body()).await;
    let uuid = uuid::Uuid::parse_str(&sid).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(uuid.hyphenated().to_string(), sid);
    assert_eq!(url, format!("{}/cashier/{sid}", app.base));
    let s = state_json(&app, &sid).await;
    assert_eq!(s["sessionId"], sid.as_str());
    assert_eq!(s["currency"], "EUR");
    assert_eq!(s["balance"], json!(100));
    assert_eq!(s["balanceVersion"], 1);
    assert_eq!(s["status"], "ACTIVE");
    assert!(s["amount"].is_null());
    assert!(s["expiresAt"].as_str().unwrap().ends_with('Z'));

    let mut bad = session_body();
    bad.as_object_mut().unwrap().remove("returnUrls");
    bad["currency"] = json!("eur");
    bad["balance"] = json!(-1);
    bad["amount"] = json!(0);
    bad["orderId"] = json!("x".repeat(241));
    bad["routerId"] = json!("019c512cd46c74cb8f169cb78a3f6bf2");
    bad["kycVerified"] = json!("yes");
    let e = assert_error(
        app.post_json("/public/cashier/session", &bad).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(
        fields(&e),
        [
            "amount",
            "currency",
            "kycVerified",
            "orderId",
            "returnUrls",
            "routerId"
        ]
    );
    let mut bad = session_body();
    bad["balance"] = json!(-1);
    bad["amount"] = json!(1.001);
    let e = assert_error(
        app.post_json("/public/cashier/session", &bad).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["amount", "balance"]);

    // Idempotency-Key replays the same session.
    let send = || {
        app.req(Method::POST, "/public/cashier/session")
            .header("Idempotency-Key", "cs-once")
            .json(&session_body())
            .send()
    };
    let a = send().await.unwrap().text().await.unwrap();
    let b = send().await.unwrap();
    assert_eq!(b.headers()["Idempotent-Replayed"], "true");
    assert_eq!(b.text().await.unwrap(), a);
}

#[tokio::test]
async fn balance_updates_and_their_errors() {
    let app = TestApp::spawn().await;
    let (sid, _) = new_session(&app, &session_body()).await;
    let path = format!("/public/cashier/session/{sid}/balance");
    let r = app
        .req(Method::PUT, &path)
        .json(&json!({"balance": 270.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("content-type").is_none());
    assert_eq!(r.text().await.unwrap(), "");
    let s = state_json(&app, &sid).await;
    assert_eq!(
        (s["balance"].clone(), s["balanceVersion"].clone()),
        (json!(270.5), json!(2))
    );
    // No body, or {}: only a signal.
    for body in [None, Some(json!({}))] {
        let req = app.req(Method::PUT, &path);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        assert_eq!(req.send().await.unwrap().status(), 204);
    }
    let s = state_json(&app, &sid).await;
    assert_eq!(
        (s["balance"].clone(), s["balanceVersion"].clone()),
        (json!(270.5), json!(4))
    );

    let e = assert_error(
        app.req(Method::PUT, &path)
            .json(&json!({"balance": 1.001}))
            .send()
            .await
            .unwrap(),
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["balance"]);
    for other in [
        "/public/cashier/session/aadc1c72-3cb7-4734-a310-8f1c2411a859/balance".to_string(),
        format!("/public/cashier/session/{}/balance", sid.to_uppercase()),
        "/public/cashier/session/nope/balance".to_string(),
    ] {
        let r = app.req(Method::PUT, &other).send().await.unwrap();
        assert_error(r, 404, "NOT_FOUND").await;
    }
    let key = app.other_merchant_key().await;
    let r = app
        .client
        .put(app.url(&path))
        .header("Authorization", key)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;

    app.advance(time::Duration::seconds(1800));
    let r = app.req(Method::PUT, &path).send().await.unwrap();
    assert_error(r, 409, "INVALID_STATE").await;
    assert_eq!(state_json(&app, &sid).await["status"], "EXPIRED");
    let r = app
        .client
        .get(app.url(&format!("/cashier/{sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let (status, _) = post_form(&app, &sid, "deposit", &[("amount", "5")]).await;
    assert_eq!(status, 410);
}

#[tokio::test]
async fn the_cashier_page_is_embeddable_and_complete() {
    let app = TestApp::spawn().await;
    let (sid, url) = new_session(&app, &session_body()).await;
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    // The demo merchant allows local origins to frame its pages.
    assert!(csp.contains("frame-ancestors http://127.0.0.1:*"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    for needle in [
        "id=\"tab-deposit\"",
        "id=\"tab-withdraw\"",
        "<label for=\"deposit-amount\">",
        "/hpp/assets/cashier.js",
        &format!("data-session-id=\"{sid}\""),
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("sk_test_"), "no API key in the page");
    let single = app
        .client
        .get(format!("{url}/withdraw?layout=single"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!single.contains("id=\"tab-deposit\""));
    assert!(single.contains("<label for=\"withdraw-amount\">"));
    assert!(single.contains("/withdraw?layout=single\""));
    let r = app
        .client
        .get(app.url("/cashier/aadc1c72-3cb7-4734-a310-8f1c2411a859"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    for asset in ["cashier.js", "cashier.css"] {
        let r = app
            .client
            .get(app.url(&format!("/hpp/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
}

#[tokio::test]
async fn deposits_and_withdrawals_create_numbered_transactions() {
    let app = TestApp::spawn().await;
    let hook = Receiver::start(&[]).await;
    let mut body = session_body();
    body["webhook"] = json!({"url": hook.url});
    let (sid, _) = new_session(&app, &body).await;

    let (status, location) = post_form(
        &app,
        &sid,
        "deposit",
        &[("amount", "12.5"), ("method", "card")],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    assert!(location.contains("/card?token=hpt1."), "{location}");
    let payin = id_in(&location, "payin");
    let p = app.get_payin(&payin).await;
    assert_eq!(p["orderId"], "cs-1-D1");
    assert_eq!(p["amount"], json!(12.5));
    assert_eq!(p["status"], "CREATED");
    assert_eq!(p["kycVerified"], true);
    assert_eq!(p["metadata"]["cashierSessionId"], sid.as_str());
    assert_eq!(p["returnUrls"]["success"], "IFRAME_POST_MESSAGE");
    let (_, location) =
        post_form(&app, &sid, "deposit", &[("amount", "3"), ("method", "apm")]).await;
    assert!(location.contains("/apm?token="), "{location}");
    assert_eq!(
        app.get_payin(&id_in(&location, "payin")).await["orderId"],
        "cs-1-D2"
    );
    // Deposits never change the balance.
    assert_eq!(state_json(&app, &sid).await["balanceVersion"], 1);

    // Above the balance: 400, nothing created, balance unchanged.
    let (status, html) = post_form(
        &app,
        &sid,
        "withdraw",
        &[("amount", "100.01"), ("method", "card")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("exceeds the available balance"), "{html}");
    let s = state_json(&app, &sid).await;
    assert_eq!(
        (s["balance"].clone(), s["balanceVersion"].clone()),
        (json!(100), json!(1))
    );

    let (status, location) = post_form(
        &app,
        &sid,
        "withdraw",
        &[("amount", "40"), ("method", "card")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.contains("/hpp/payout/"), "{location}");
    let payout = app.get_payout(&id_in(&location, "payout")).await;
    assert_eq!(payout["orderId"], "cs-1-W1");
    assert_eq!(payout["status"], "WAITING_FOR_CONFIRMATION");
    assert_eq!(payout["initialAmount"], json!(40));
    assert_eq!(payout["metadata"]["cashierSessionId"], sid.as_str());
    let s = state_json(&app, &sid).await;
    assert_eq!(
        (s["balance"].clone(), s["balanceVersion"].clone()),
        (json!(60), json!(2))
    );

    // Form errors.
    for amount in ["", "abc", "0", "1.001"] {
        let (status, _) = post_form(&app, &sid, "deposit", &[("amount", amount)]).await;
        assert_eq!(status, 400, "{amount:?}");
    }
    // The session's webhook gets every transaction's events.
    app.run_pending_jobs().await;
    // Deliveries to one URL are ordered per transaction, not across transactions.
    let mut kinds: Vec<String> = hook
        .received()
        .iter()
        .map(|r| r.header("x-omno-event-type"))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "PAYIN_STATUS_CHANGED",
            "PAYIN_STATUS_CHANGED",
            "PAYOUT_STATUS_CHANGED"
        ]
    );
}

#[tokio::test]
async fn fixed_amounts_and_shared_order_bases() {
    let app = TestApp::spawn().await;
    let mut body = session_body();
    body["amount"] = json!(25);
    body["orderId"] = json!("shared");
    let (a, _) = new_session(&app, &body).await;
    let (b, _) = new_session(&app, &body).await;
    let (_, location) = post_form(&app, &a, "deposit", &[("amount", "999")]).await;
    let p = app.get_payin(&id_in(&location, "payin")).await;
    assert_eq!(
        (p["orderId"].clone(), p["amount"].clone()),
        (json!("shared-D1"), json!(25))
    );
    // Session b's first number is taken by session a: skipped.
    let (_, location) = post_form(&app, &b, "deposit", &[]).await;
    let p = app.get_payin(&id_in(&location, "payin")).await;
    assert_eq!(p["orderId"], "shared-D2");
    let (_, location) = post_form(&app, &b, "deposit", &[]).await;
    assert_eq!(
        app.get_payin(&id_in(&location, "payin")).await["orderId"],
        "shared-D3"
    );
    // Without an orderId the base is the session id.
    let mut plain = session_body();
    plain.as_object_mut().unwrap().remove("orderId");
    let (c, _) = new_session(&app, &plain).await;
    let (_, location) = post_form(&app, &c, "withdraw", &[("amount", "1")]).await;
    assert_eq!(
        app.get_payout(&id_in(&location, "payout")).await["orderId"],
        format!("{c}-W1")
    );
}

#[tokio::test]
async fn concurrent_withdrawals_never_overdraw() {
    let app = TestApp::spawn().await;
    let (sid, _) = new_session(&app, &session_body()).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let url = app.url(&format!("/cashier/{sid}/withdraw"));
        set.spawn(async move {
            no_redirects()
                .post(url)
                .form(&[("amount", "15"), ("method", "card")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut codes = vec![];
    while let Some(c) = set.join_next().await {
        codes.push(c.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [303, 303, 303, 303, 303, 303, 400, 400, 400, 400]);
    let s = state_json(&app, &sid).await;
    assert_eq!(s["balance"], json!(10));
    assert_eq!(s["balanceVersion"], 7);
    let (_, list) = admin(
        &app,
        Method::GET,
        "/admin/transactions?kind=PAYOUT&status=WAITING_FOR_CONFIRMATION",
        None,
    )
    .await;
    let mut orders: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["orderId"].as_str().unwrap().to_string())
        .collect();
    orders.sort();
    assert_eq!(
        orders,
        [
            "cs-1-W1", "cs-1-W2", "cs-1-W3", "cs-1-W4", "cs-1-W5", "cs-1-W6"
        ]
    );
}
