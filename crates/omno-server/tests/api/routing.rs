//! Routing, FX and the configuration admin API (§9, §13): transactions created through the public
//! API are routed and converted exactly as configured, with the reason visible.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn accounts(app: &TestApp) -> Vec<Value> {
    let m = app.creds.merchant_id.hex();
    let (s, v) = admin(
        app,
        Method::GET,
        &format!("/admin/merchants/{m}/psp-accounts"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    v["data"].as_array().unwrap().clone()
}

async fn account_id(app: &TestApp, name: &str) -> String {
    accounts(app)
        .await
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create(app: &TestApp, body: &Value) -> Value {
    let r = app.create_payout(body).await;
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    app.get_payout(&id).await
}

#[tokio::test]
async fn the_demo_router_routes_payouts_by_rule() {
    let app = TestApp::spawn().await;
    let usd = create(&app, &payout_body("r-usd", 20.0, "USD")).await;
    assert_eq!(
        usd["predictedPspId"],
        account_id(&app, "sim-usd").await.as_str()
    );
    assert!(
        usd["routingReason"].as_str().unwrap().contains("USD"),
        "{}",
        usd["routingReason"]
    );
    let eur = create(&app, &payout_body("r-eur", 20.0, "EUR")).await;
    assert_eq!(
        eur["predictedPspId"],
        account_id(&app, "sim-payout").await.as_str()
    );
    assert!(eur["routingReason"].as_str().unwrap().contains("Payouts"));
    assert!(eur["routerId"].is_string());
    // CHF is enabled but unroutable.
    let chf = create(&app, &payout_body("r-chf", 20.0, "CHF")).await;
    assert_eq!(chf["status"], "FAILED");
    assert_eq!(
        chf["statusReason"]["detailedStatus"],
        "NO_PROVIDER_AVAILABLE"
    );
    assert!(
        chf["routingReason"]
            .as_str()
            .unwrap()
            .starts_with("no eligible PSP account")
    );
}

#[tokio::test]
async fn currencies_are_converted_when_the_account_needs_it() {
    let app = TestApp::spawn().await;
    let gel = create(&app, &payout_body("r-gel", 150.0, "GEL")).await;
    assert_eq!(gel["initialAmount"], json!(150));
    assert_eq!(gel["initialCurrency"], "GEL");
    assert_eq!(gel["amount"], json!(51));
    assert_eq!(gel["currency"], "EUR");
    let jpy = create(&app, &payout_body("r-jpy", 1000.0, "JPY")).await;
    assert_eq!(jpy["amount"], json!(6.7));
    assert_eq!(jpy["currency"], "USD");
    // The admin view records the rate used.
    let (s, view) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions/{}", gel["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(view["kind"], "PAYOUT");
    assert_eq!(view["fx"]["rate"], json!(0.34));
    assert_eq!(view["fx"]["inverse"], false);
    assert_eq!(view["fx"]["source"], "demo");
    assert!(view["routing"]["candidates"].is_array());
    assert_eq!(view["routing"]["chosenPspId"], gel["predictedPspId"]);
    // The payout executes in the converted currency.
    app.confirm(gel["id"].as_str().unwrap()).await;
    app.run_pending_jobs().await;
    let done = app.get_payout(gel["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "PROCESSED");
    assert_eq!(done["currency"], "EUR");
}

#[tokio::test]
async fn operators_configure_accounts_routers_and_rates() {
    let app = TestApp::spawn().await;
    let m = app.creds.merchant_id.hex();
    // A KYC-only CHF account.
    let (s, acct) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/psp-accounts"),
        Some(json!({"name": "sim-chf", "connector": "simulator", "currencies": ["CHF"], "methods": ["BANK_TRANSFER"], "directions": ["PAYOUT"], "kycRequired": true, "simulator": {"declineRate": 0.25}})),
    )
    .await;
    assert_eq!(s, 201, "{acct}");
    assert_eq!(acct["simulator"]["declineRate"], json!(0.25));
    assert_eq!(acct["countries"], json!([]));
    let chf_id = acct["id"].as_str().unwrap().to_string();
    // Validation lists every invalid field.
    let (s, e) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/psp-accounts"),
        Some(json!({"name": "sim-chf", "connector": "stripe", "currencies": [], "methods": ["CASH"], "directions": ["SIDEWAYS"], "settings": {"latencyMs": 40000}})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        fields(&e),
        [
            "connector",
            "currencies",
            "directions[0]",
            "methods[0]",
            "settings.latencyMs"
        ]
    );
    // A router referencing an unknown account is refused.
    let (s, e) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/routers"),
        Some(json!({"name": "bad", "rules": [{"name": "x", "conditions": {}, "targets": [{"pspAccountId": "0190000000007000800000000000000f"}]}]})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&e), ["rules[0].targets[0].pspAccountId"]);
    // A CHF router made the default.
    let (s, router) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/routers"),
        Some(json!({"name": "CHF", "rules": [{"name": "chf", "conditions": {"currencies": ["CHF"], "amount": {"currency": "EUR", "min": 10}}, "targets": [{"pspAccountId": chf_id, "weight": 100}]}], "fallbackTargets": []})),
    )
    .await;
    assert_eq!(s, 201, "{router}");
    assert_eq!(router["rules"][0]["conditions"]["amount"]["min"], json!(10));
    let router_id = router["id"].as_str().unwrap().to_string();
    // CHF→EUR is needed by the amount condition: without a rate the rule cannot match.
    let mut body = payout_body("r-chf-1", 100.0, "CHF");
    body["routerId"] = json!(router_id);
    let p = create(&app, &body).await;
    assert_eq!(p["status"], "FAILED");
    let (s, rate) = admin(
        &app,
        Method::PUT,
        &format!("/admin/merchants/{m}/fx-rates/EUR/CHF"),
        Some(json!({"rate": 0.95, "markupBps": 50})),
    )
    .await;
    assert_eq!(s, 200, "{rate}");
    assert_eq!(rate["source"], "manual");
    let mut body = payout_body("r-chf-2", 100.0, "CHF");
    body["routerId"] = json!(router_id);
    let p = create(&app, &body).await;
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION", "{p}");
    assert_eq!(p["predictedPspId"], chf_id.as_str());
    assert_eq!(p["currency"], "CHF");
    // Without KYC the only candidate drops.
    let mut body = payout_body("r-chf-3", 100.0, "CHF");
    body["routerId"] = json!(router_id);
    body["kycVerified"] = json!(false);
    let p = create(&app, &body).await;
    assert_eq!(p["status"], "FAILED");
    assert!(
        p["routingReason"].as_str().unwrap().contains("KYC"),
        "{}",
        p["routingReason"]
    );

    // Default router switch, and the conflicts of deletion.
    let (s, merchant) = admin(
        &app,
        Method::PATCH,
        &format!("/admin/merchants/{m}"),
        Some(json!({"defaultRouterId": router_id})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(merchant["defaultRouterId"], router_id.as_str());
    let p = create(&app, &payout_body("r-chf-4", 100.0, "CHF")).await;
    assert_eq!(p["routerId"], router_id.as_str());
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/admin/merchants/{m}/routers/{router_id}"),
        None,
    )
    .await;
    assert_eq!(s, 409, "the default router cannot be deleted");
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/admin/merchants/{m}/psp-accounts/{chf_id}"),
        None,
    )
    .await;
    assert_eq!(s, 409, "an account used by a router cannot be deleted");
    let (s, e) = admin(
        &app,
        Method::PATCH,
        &format!("/admin/merchants/{m}"),
        Some(json!({"defaultRouterId": "0190000000007000800000000000000f"})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&e), ["defaultRouterId"]);
    // Disabling the account takes effect at once.
    let (s, _) = admin(
        &app,
        Method::PATCH,
        &format!("/admin/merchants/{m}/psp-accounts/{chf_id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let p = create(&app, &payout_body("r-chf-5", 100.0, "CHF")).await;
    assert_eq!(p["status"], "FAILED");
}

#[tokio::test]
async fn transactions_are_searchable_with_filters_and_cursors() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.new_payout(&format!("s-{i}"), 10.0 + f64::from(i)).await;
    }
    let chf = create(&app, &payout_body("s-chf", 10.0, "CHF")).await;
    let m = app.creds.merchant_id.hex();
    let (s, page) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions?merchantId={m}&limit=2"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["kind"], "PAYOUT");
    let mut seen = vec![];
    let mut cursor = page["nextCursor"].as_str().map(str::to_string);
    seen.extend(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["orderId"].clone()),
    );
    while let Some(c) = cursor {
        let (_, p) = admin(
            &app,
            Method::GET,
            &format!("/admin/transactions?merchantId={m}&limit=2&cursor={c}"),
            None,
        )
        .await;
        seen.extend(
            p["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["orderId"].clone()),
        );
        cursor = p["nextCursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0], "s-chf", "newest first");
    let (_, failed) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions?status=FAILED,PENDING&merchantId={m}"),
        None,
    )
    .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
    assert_eq!(failed["data"][0]["id"], chf["id"]);
    let (s, e) = admin(
        &app,
        Method::GET,
        "/admin/transactions?status=NOPE&kind=X",
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&e), ["kind", "status"]);
    let (s, _) = admin(
        &app,
        Method::POST,
        &format!("/admin/transactions/{}/sync", chf["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, 409, "only pending submitted transactions sync");
    let (s, _) = admin(
        &app,
        Method::POST,
        &format!(
            "/admin/transactions/{}/resolve",
            chf["id"].as_str().unwrap()
        ),
        Some(json!({"status": "PROCESSED", "reason": "checked"})),
    )
    .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn credentials_and_api_keys_are_managed_and_revoked() {
    let app = TestApp::spawn().await;
    let m = app.creds.merchant_id.hex();
    let (s, key) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/api-keys"),
        Some(json!({"name": "backend"})),
    )
    .await;
    assert_eq!(s, 201);
    let k = key["key"].as_str().unwrap().to_string();
    assert_eq!(key["last4"], &k[k.len() - 4..]);
    let get = |key: String| {
        let c = app.client.clone();
        let url = app.url("/public/payout/0190000000007000800000000000000f");
        async move {
            c.get(url)
                .header("Authorization", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(k.clone()).await, 404);
    let (_, list) = admin(
        &app,
        Method::GET,
        &format!("/admin/merchants/{m}/api-keys"),
        None,
    )
    .await;
    assert!(!list.to_string().contains(&k), "lists omit the key");
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!(
            "/admin/merchants/{m}/api-keys/{}",
            key["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(
        get(k).await,
        401,
        "revocation takes effect on the next request"
    );

    let (s, cred) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/credentials"),
        None,
    )
    .await;
    assert_eq!(s, 201);
    let cid = cred["clientId"].as_str().unwrap().to_string();
    let token = |secret: String| {
        let c = app.client.clone();
        let url = app.url("/oauth/token");
        let cid = cid.clone();
        async move {
            c.post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", cid.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let old = cred["clientSecret"].as_str().unwrap().to_string();
    assert_eq!(token(old.clone()).await, 200);
    let (s, rotated) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/credentials/{cid}/rotate"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(token(old).await, 401, "old secret invalid at once");
    let new = rotated["clientSecret"].as_str().unwrap().to_string();
    assert_eq!(token(new.clone()).await, 200);
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!("/admin/merchants/{m}/credentials/{cid}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(token(new).await, 401);
    // Webhook secret rotation.
    let (s, w) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/webhook-secret/rotate"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_ne!(w["webhookSecret"], app.creds.webhook_secret.as_str());
}

#[tokio::test]
async fn admin_writes_honour_idempotency_keys() {
    let app = TestApp::spawn().await;
    let m = app.creds.merchant_id.hex();
    let put = |key: &str, rate: f64| {
        app.client
            .put(app.url(&format!("/admin/merchants/{m}/fx-rates/EUR/GBP")))
            .bearer_auth(&app.admin_token)
            .header("Idempotency-Key", key.to_string())
            .json(&json!({"rate": rate}))
            .send()
    };
    let a = put("fx-1", 0.85).await.unwrap();
    assert_eq!(a.status(), 200);
    let a_body = a.text().await.unwrap();
    let b = put("fx-1", 0.85).await.unwrap();
    assert_eq!(b.status(), 200);
    assert_eq!(b.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(b.text().await.unwrap(), a_body, "byte-identical replay");
    let c = put("fx-1", 0.86).await.unwrap();
    assert_error(c, 422, "IDEMPOTENCY_KEY_REUSED").await;
    let d = put("bad key", 0.85).await.unwrap();
    let v = assert_error(d, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&v), ["Idempotency-Key"]);
    // Creating an account twice with one key makes one account.
    let body = json!({"name": "sim-gbp", "connector": "simulator", "currencies": ["GBP"], "methods": ["CARD"], "directions": ["PAYIN"]});
    for _ in 0..2 {
        let r = app
            .client
            .post(app.url(&format!("/admin/merchants/{m}/psp-accounts")))
            .bearer_auth(&app.admin_token)
            .header("Idempotency-Key", "acct-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let n = accounts(&app)
        .await
        .iter()
        .filter(|a| a["name"] == "sim-gbp")
        .count();
    assert_eq!(n, 1);
}
