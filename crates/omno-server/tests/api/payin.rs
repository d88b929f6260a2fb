//! PayIn API flows (API.md §5, §8.2, §9.2, §10): create, card and APM processing, 3DS, saved
//! cards, cascading, expiry, refunds, and the transaction object of payins.

use omno_domain::ids::PayinId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn statuses(p: &Value) -> Vec<String> {
    p["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_string())
        .collect()
}

async fn json_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn create_and_pay_with_a_card() {
    let app = TestApp::spawn().await;
    let _hooks = app.subscribe_all().await;
    let r = app.create_payin(&payin_body("dep-1", 49.99, "EUR")).await;
    let created = json_of(r).await;
    let id = created["paymentId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(created["status"], "CREATED");
    for page in ["card", "apm"] {
        let url = created["iframeUrls"][page].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/hpp/payin/{id}/{page}?token=hpt1.", app.base)),
            "{url}"
        );
    }
    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "CREATED");
    assert_eq!(p["amount"], json!(49.99));
    assert_eq!(p["refundedAmount"], json!(0));
    assert_eq!(p["refunds"], json!([]));
    assert!(p["predictedPspId"].is_string());
    for field in [
        "cardId",
        "cardMask",
        "cardBrand",
        "cardHash",
        "processorPspId",
        "pspTransactionId",
        "statusReason",
        "transactionType",
        "returnUrls",
    ] {
        assert!(p.get(field).unwrap().is_null(), "{field} is null: {p}");
    }
    assert_eq!(p["metadata"]["paymentMethod"], Value::Null);

    let r = app.pay_card(&id, "4111 1111 1111 1111", false).await;
    let out = json_of(r).await;
    assert_eq!(out, json!({"paymentId": id, "status": "SUCCESS"}));

    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "SUCCESS");
    assert_eq!(p["cardMask"], "411111******1111");
    assert_eq!(p["cardBrand"], "VISA");
    let hash = p["cardHash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(p["cardId"].is_null(), "not saved");
    assert!(p["pspTransactionId"].as_str().unwrap().starts_with("sim_"));
    assert_eq!(p["processorPspId"], p["predictedPspId"]);
    assert_eq!(p["transactionType"], "CARD");
    assert_eq!(p["metadata"]["paymentMethod"], "CARD");
    assert_eq!(p["metadata"]["ipAddress"], "91.64.23.117");
    assert_eq!(p["metadata"]["userAgent"], "Mozilla/5.0 test");
    assert_eq!(statuses(&p), ["CREATED", "PENDING", "SUCCESS"]);
    assert_eq!(p["statusHistory"][1]["reason"], "Submitted to PSP");
    assert_eq!(
        app.store_events(&id).await,
        ["CREATED", "PENDING", "SUCCESS"]
    );

    // Processing twice is a conflict.
    let r = app.pay_card(&id, "4111111111111111", false).await;
    assert_error(r, 409, "INVALID_STATE").await;
}

#[tokio::test]
async fn simulator_test_cards() {
    let app = TestApp::spawn().await;
    let cases = [
        ("5555555555554444", "SUCCESS", None, "MASTERCARD"),
        (
            "4000000000000002",
            "DECLINED",
            Some("GENERAL_DECLINE"),
            "VISA",
        ),
        (
            "4000000000009995",
            "DECLINED",
            Some("INSUFFICIENT_FUNDS"),
            "VISA",
        ),
        ("4000000000000119", "FAILED", Some("PSP_ERROR"), "VISA"),
        ("4000000000000069", "DECLINED", Some("CARD_EXPIRED"), "VISA"),
        ("4000000000003220", "PENDING_3DS", None, "VISA"),
        ("378282246310005", "SUCCESS", None, "AMEX"),
    ];
    for (i, (card, status, detailed, brand)) in cases.into_iter().enumerate() {
        let id = app.new_payin(&format!("cards-{i}"), 12.0).await;
        let out = json_of(app.pay_card(&id, card, false).await).await;
        assert_eq!(out["status"], status, "{card}");
        let p = app.get_payin(&id).await;
        assert_eq!(p["status"], status, "{card}");
        assert_eq!(p["cardBrand"], brand, "{card}");
        match detailed {
            Some(d) => {
                assert_eq!(p["statusReason"]["detailedStatus"], d, "{card}");
                assert_eq!(p["statusReason"]["status"], status, "{card}");
            }
            None => assert!(p["statusReason"].is_null(), "{card}"),
        }
        if status == "PENDING_3DS" {
            let url = out["redirectUrl"].as_str().unwrap();
            assert!(
                url.starts_with(&format!("{}/hpp/payin/{id}/3ds?token=hpt1.", app.base)),
                "{url}"
            );
        } else {
            assert!(out.get("redirectUrl").is_none(), "{out}");
        }
    }
}

#[tokio::test]
async fn three_ds_outcomes_and_timeout() {
    let app = TestApp::spawn().await;
    let _hooks = app.subscribe_all().await;
    let three_ds = "4000000000003220";
    let ok = app.new_payin("3ds-ok", 30.0).await;
    let fail = app.new_payin("3ds-fail", 30.0).await;
    let late = app.new_payin("3ds-late", 30.0).await;
    for id in [&ok, &fail, &late] {
        assert_eq!(
            json_of(app.pay_card(id, three_ds, true).await).await["status"],
            "PENDING_3DS"
        );
    }
    // The PAN is held encrypted (never in clear) while the challenge is open.
    assert!(!app.database_contains(three_ds.as_bytes()).await);

    let complete = |id: &str, passed: bool| {
        let state = app.state.clone();
        let id = PayinId::parse(id).unwrap();
        async move { omno_server::flows::payin::complete_3ds(&state, id, passed).await }
    };
    let p = complete(&ok, true).await.unwrap();
    assert_eq!(p.status.as_str(), "SUCCESS");
    let v = app.get_payin(&ok).await;
    assert_eq!(
        statuses(&v),
        ["CREATED", "PENDING", "PENDING_3DS", "SUCCESS"]
    );
    assert!(v["cardId"].is_string(), "saved after 3DS: {v}");

    complete(&fail, false).await.unwrap();
    let v = app.get_payin(&fail).await;
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["statusReason"]["detailedStatus"], "THREE_DS_FAILED");
    assert!(v["cardId"].is_null());
    // The challenge is over: a second answer is refused.
    assert!(complete(&fail, true).await.is_err());

    app.advance(time::Duration::seconds(901));
    app.run_pending_jobs().await;
    let v = app.get_payin(&late).await;
    assert_eq!(v["status"], "TIMEOUT");
    assert_eq!(v["statusReason"]["detailedStatus"], "EXPIRED");
    assert_eq!(
        app.store_events(&late).await,
        ["CREATED", "PENDING", "PENDING_3DS", "TIMEOUT"]
    );
}

#[tokio::test]
async fn saved_cards_belong_to_one_merchant_and_customer() {
    let app = TestApp::spawn().await;
    let first = app.new_payin("save-1", 10.0).await;
    json_of(app.pay_card(&first, "5555555555554444", true).await).await;
    let card_id = app.get_payin(&first).await["cardId"]
        .as_str()
        .unwrap()
        .to_string();

    // Saving the same card again maps to the same cardId.
    let again = app.new_payin("save-2", 11.0).await;
    json_of(app.pay_card(&again, "5555555555554444", true).await).await;
    assert_eq!(app.get_payin(&again).await["cardId"], card_id.as_str());

    // Pay with it.
    let third = app.new_payin("save-3", 12.0).await;
    let body = json!({"browser": browser(), "savedCardData": {"cardId": card_id, "cvv": "123"}});
    let out = json_of(
        app.post_json(&format!("/public/payin/{third}/process/saved-card"), &body)
            .await,
    )
    .await;
    assert_eq!(out["status"], "SUCCESS");
    let p = app.get_payin(&third).await;
    assert_eq!(p["cardId"], card_id.as_str());
    assert_eq!(p["cardMask"], "555555******4444");
    assert_eq!(p["cardBrand"], "MASTERCARD");

    // Another customer of the same merchant cannot use it.
    let mut other = payin_body("save-4", 12.0, "EUR");
    other["customer"]["externalUserId"] = json!("someone-else");
    let r = app.create_payin(&other).await;
    let other_id = json_of(r).await["paymentId"].as_str().unwrap().to_string();
    let r = app
        .post_json(
            &format!("/public/payin/{other_id}/process/saved-card"),
            &body,
        )
        .await;
    let e = assert_error(r, 400, "VALIDATION_ERROR").await;
    assert_eq!(fields(&e), ["savedCardData.cardId"]);
    assert_eq!(e["errors"][0]["message"], "unknown card");
    assert_eq!(app.get_payin(&other_id).await["status"], "CREATED");
}

#[tokio::test]
async fn apm_payins_complete_asynchronously() {
    let app = TestApp::spawn().await;
    let cases = [
        (25.0, "SUCCESS", None),
        (10.51, "FAILED", Some("INSUFFICIENT_FUNDS")),
        (10.53, "FAILED", Some("PSP_ERROR")),
    ];
    let mut ids = vec![];
    for (i, (amount, _, _)) in cases.iter().enumerate() {
        let id = app.new_payin(&format!("apm-{i}"), *amount).await;
        let body = json!({"browser": browser(), "additionalData": {"method": "E_WALLET", "walletEmail": "a@b.de"}});
        let out = json_of(
            app.post_json(&format!("/public/payin/{id}/process/direct-link"), &body)
                .await,
        )
        .await;
        assert_eq!(out["status"], "PENDING");
        let url = out["redirectUrl"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/hpp/payin/{id}/status?token=", app.base)),
            "{url}"
        );
        ids.push(id);
    }
    app.run_pending_jobs().await;
    for (id, (_, status, detailed)) in ids.iter().zip(cases) {
        let p = app.get_payin(id).await;
        assert_eq!(p["status"], status, "{p}");
        assert_eq!(p["transactionType"], "APM");
        assert_eq!(p["metadata"]["paymentMethod"], "E_WALLET");
        match detailed {
            Some(d) => assert_eq!(p["statusReason"]["detailedStatus"], d),
            None => assert!(p["statusReason"].is_null()),
        }
    }
}

#[tokio::test]
async fn apm_timeout_is_synced_never_resubmitted() {
    let app = TestApp::spawn_with(|s| {
        s.sync.interval_ms = 100;
        s.sync.max_attempts = 3;
    })
    .await;
    let id = app.new_payin("apm-52", 10.52).await;
    let body = json!({"browser": browser(), "additionalData": {}});
    let out = json_of(
        app.post_json(&format!("/public/payin/{id}/process/direct-link"), &body)
            .await,
    )
    .await;
    assert_eq!(out["status"], "PENDING");
    let p = app.get_payin(&id).await;
    assert_eq!(p["metadata"]["paymentMethod"], "BANK_TRANSFER");
    assert_eq!(p["statusReason"]["detailedStatus"], "PSP_TIMEOUT");
    assert_eq!(p["statusReason"]["status"], "PENDING");
    for _ in 0..4 {
        app.advance(time::Duration::milliseconds(150));
        app.run_pending_jobs().await;
    }
    let p = app.get_payin(&id).await;
    assert_eq!(p["status"], "TIMEOUT");
    assert_eq!(p["statusReason"]["detailedStatus"], "PSP_TIMEOUT");
    // One submission only.
    let (_, view) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions/{id}"),
        None,
    )
    .await;
    assert_eq!(view["attempts"].as_array().map(Vec::len), Some(1), "{view}");
}

/// A second PSP account that declines every submission, tried first by a router.
async fn declining_router(app: &TestApp, decline: &str) -> String {
    let m = app.creds.merchant_id.hex();
    let (s, acct) = admin(
        app,
        Method::POST,
        &format!("/admin/merchants/{m}/psp-accounts"),
        Some(json!({"name": format!("sim-decline-{decline}"), "connector": "simulator", "currencies": ["EUR"], "methods": ["CARD", "BANK_TRANSFER"], "directions": ["PAYIN"], "simulator": {"forceDecline": decline}})),
    )
    .await;
    assert_eq!(s, 201, "{acct}");
    let (_, accounts) = admin(
        app,
        Method::GET,
        &format!("/admin/merchants/{m}/psp-accounts"),
        None,
    )
    .await;
    let main = accounts["data"]
        .as_array()
        .or(accounts.as_array())
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sim-main")
        .unwrap()["id"]
        .clone();
    let (s, router) = admin(
        app,
        Method::POST,
        &format!("/admin/merchants/{m}/routers"),
        Some(json!({"name": format!("cascade-{decline}"), "rules": [{"name": "all", "conditions": {}, "targets": [{"pspAccountId": acct["id"]}, {"pspAccountId": main}]}]})),
    )
    .await;
    assert_eq!(s, 201, "{router}");
    router["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn soft_declines_cascade_hard_declines_do_not() {
    let app = TestApp::spawn().await;
    let soft = declining_router(&app, "DO_NOT_HONOR").await;
    let hard = declining_router(&app, "SUSPECTED_FRAUD").await;
    let mut ids = vec![];
    for (order, router) in [("casc-soft", &soft), ("casc-hard", &hard)] {
        let mut body = payin_body(order, 20.0, "EUR");
        body["routerId"] = json!(router);
        let id = json_of(app.create_payin(&body).await).await["paymentId"]
            .as_str()
            .unwrap()
            .to_string();
        ids.push(id);
    }
    let out = json_of(app.pay_card(&ids[0], "4111111111111111", false).await).await;
    assert_eq!(out["status"], "SUCCESS");
    let p = app.get_payin(&ids[0]).await;
    assert_eq!(statuses(&p), ["CREATED", "PENDING", "SUCCESS"]);
    let (_, view) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions/{}", ids[0]),
        None,
    )
    .await;
    let attempts = view["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{view}");
    assert_eq!(attempts[0]["outcome"], "DECLINED");
    assert_eq!(attempts[0]["detailedStatus"], "DO_NOT_HONOR");
    assert_eq!(attempts[1]["outcome"], "SUCCESS");
    assert_eq!(p["processorPspId"], attempts[1]["pspAccountId"]);
    assert_ne!(attempts[0]["pspAccountId"], attempts[1]["pspAccountId"]);

    let out = json_of(app.pay_card(&ids[1], "4111111111111111", false).await).await;
    assert_eq!(out["status"], "DECLINED");
    let p = app.get_payin(&ids[1]).await;
    assert_eq!(p["statusReason"]["detailedStatus"], "SUSPECTED_FRAUD");
    let (_, view) = admin(
        &app,
        Method::GET,
        &format!("/admin/transactions/{}", ids[1]),
        None,
    )
    .await;
    assert_eq!(view["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn no_route_fails_with_200_and_unprocessed_payins_expire() {
    let app = TestApp::spawn().await;
    let r = app.create_payin(&payin_body("chf-1", 20.0, "CHF")).await;
    let id = json_of(r).await["paymentId"].as_str().unwrap().to_string();
    let out = json_of(app.pay_card(&id, "4111111111111111", false).await).await;
    assert_eq!(out["status"], "FAILED");
    let p = app.get_payin(&id).await;
    assert_eq!(p["statusReason"]["detailedStatus"], "NO_PROVIDER_AVAILABLE");
    assert!(!app.database_contains(b"4111111111111111").await);

    let idle = app.new_payin("idle-1", 5.0).await;
    let lazy = app.new_payin("idle-2", 5.0).await;
    app.advance(time::Duration::seconds(86_400));
    // A processing request past the deadline applies the expiry first, then refuses.
    let r = app.pay_card(&lazy, "4111111111111111", false).await;
    assert_error(r, 409, "INVALID_STATE").await;
    app.run_pending_jobs().await;
    for id in [&idle, &lazy] {
        let p = app.get_payin(id).await;
        assert_eq!(p["status"], "TIMEOUT");
        assert_eq!(p["statusReason"]["detailedStatus"], "EXPIRED");
        assert_eq!(statuses(&p), ["CREATED", "TIMEOUT"]);
    }
}

#[tokio::test]
async fn concurrent_processing_has_one_winner() {
    let app = TestApp::spawn().await;
    let id = app.new_payin("race-proc", 40.0).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = app
            .req(Method::POST, &format!("/public/payin/{id}/process/card"))
            .json(&json!({"browser": browser(), "cardData": card_data("4111111111111111"), "saveCard": false}));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut codes = vec![];
    while let Some(c) = set.join_next().await {
        codes.push(c.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409, 409, 409]);
    let p = app.get_payin(&id).await;
    assert_eq!(statuses(&p), ["CREATED", "PENDING", "SUCCESS"]);
}

async fn paid(app: &TestApp, order: &str, amount: f64) -> String {
    let id = app.new_payin(order, amount).await;
    let out = json_of(app.pay_card(&id, "4111111111111111", false).await).await;
    assert_eq!(out["status"], "SUCCESS");
    id
}

async fn refund(app: &TestApp, id: &str, body: Option<Value>) -> reqwest::Response {
    let req = app.req(Method::POST, &format!("/public/payin/{id}/refund"));
    match body {
        Some(b) => req.json(&b),
        None => req,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn partial_and_full_refunds() {
    let app = TestApp::spawn().await;
    let id = paid(&app, "ref-1", 100.0).await;
    let r = json_of(refund(&app, &id, Some(json!({"amount": 20}))).await).await;
    assert_eq!(r["paymentId"], id.as_str());
    assert_eq!(r["status"], "PARTIALLY_REFUNDED");
    assert_eq!(r["amount"], json!(20));
    assert_eq!(r["refundedAmount"], json!(20));
    assert_eq!(r["currency"], "EUR");
    let refund_id = r["refundId"].as_str().unwrap();
    assert_eq!(refund_id.len(), 32);

    // Over the remainder: 409, naming the remainder.
    let e = assert_error(
        refund(&app, &id, Some(json!({"amount": 80.01}))).await,
        409,
        "INVALID_STATE",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("80 EUR"), "{e}");

    // A PSP failure (amount ending in 53) → REFUND_FAILED, still 200; nothing refunded.
    let r = json_of(refund(&app, &id, Some(json!({"amount": 10.53}))).await).await;
    assert_eq!(r["status"], "REFUND_FAILED");
    assert_eq!(r["refundedAmount"], json!(20));
    let p = app.get_payin(&id).await;
    assert_eq!(p["statusReason"]["detailedStatus"], "PSP_ERROR");
    assert_eq!(p["statusReason"]["status"], "REFUND_FAILED");

    // No body: the whole remainder.
    let r = json_of(refund(&app, &id, None).await).await;
    assert_eq!(r["status"], "REFUNDED");
    assert_eq!(r["amount"], json!(80));
    assert_eq!(r["refundedAmount"], json!(100));
    let p = app.get_payin(&id).await;
    assert_eq!(p["refundedAmount"], json!(100));
    let refunds = p["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 3);
    assert_eq!(refunds[0]["refundId"], refund_id);
    assert_eq!(refunds[0]["status"], "SUCCEEDED");
    assert_eq!(refunds[1]["status"], "FAILED");
    assert_eq!(refunds[1]["amount"], json!(10.53));
    assert!(p["statusReason"].is_null());
    assert_eq!(
        statuses(&p),
        [
            "CREATED",
            "PENDING",
            "SUCCESS",
            "PARTIALLY_REFUNDED",
            "REFUND_FAILED",
            "REFUNDED"
        ]
    );
    // Fully refunded: nothing more.
    assert_error(refund(&app, &id, None).await, 409, "INVALID_STATE").await;

    // Not refundable before capture.
    let fresh = app.new_payin("ref-2", 10.0).await;
    assert_error(refund(&app, &fresh, None).await, 409, "INVALID_STATE").await;
    // Amount precision follows the executed currency.
    let other = paid(&app, "ref-3", 10.0).await;
    let e = assert_error(
        refund(&app, &other, Some(json!({"amount": 1.005}))).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(fields(&e), ["amount"]);
}

#[tokio::test]
async fn concurrent_refunds_never_exceed_the_capture() {
    let app = TestApp::spawn().await;
    let id = paid(&app, "ref-race", 100.0).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        // 20 × 7.5 = 150 requested against 100 captured.
        let req = app
            .req(Method::POST, &format!("/public/payin/{id}/refund"))
            .header("Idempotency-Key", format!("refund-race-{i}"))
            .json(&json!({"amount": 7.5}));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut ok = 0;
    let mut conflicts = 0;
    while let Some(c) = set.join_next().await {
        match c.unwrap() {
            200 => ok += 1,
            409 => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    // 13 × 7.5 = 97.5 fit; the 14th would exceed 100.
    assert_eq!((ok, conflicts), (13, 7));
    let p = app.get_payin(&id).await;
    assert_eq!(p["refundedAmount"], json!(97.5));
    assert_eq!(p["status"], "PARTIALLY_REFUNDED");
    let succeeded: f64 = p["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "SUCCEEDED")
        .map(|r| r["amount"].as_f64().unwrap())
        .sum();
    assert_eq!(succeeded, 97.5);
    // The last 2.5 can still be refunded; then nothing.
    let r = json_of(refund(&app, &id, None).await).await;
    assert_eq!(r["amount"], json!(2.5));
    assert_eq!(r["status"], "REFUNDED");
}

#[tokio::test]
async fn order_id_and_idempotency_rules_hold_for_payins() {
    let app = TestApp::spawn().await;
    let body = payin_body("idem-1", 15.0, "EUR");
    let first = app.create_payin(&body).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let again = app.create_payin(&body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["Idempotent-Replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first);
    let mut changed = body.clone();
    changed["amount"] = json!(16.0);
    assert_error(app.create_payin(&changed).await, 409, "DUPLICATE_ORDER_ID").await;
    // A payout may share the orderId.
    assert_eq!(
        app.create_payout(&payout_body("idem-1", 15.0, "EUR"))
            .await
            .status(),
        200
    );

    // Idempotency-Key on process/card: the same request replays, another is refused.
    let id: Value = serde_json::from_str(&first).unwrap();
    let id = id["paymentId"].as_str().unwrap();
    let send = |number: &str| {
        app.req(Method::POST, &format!("/public/payin/{id}/process/card"))
            .header("Idempotency-Key", "pay-once")
            .json(&json!({"browser": browser(), "cardData": card_data(number), "saveCard": false}))
            .send()
    };
    let a = send("4111111111111111").await.unwrap();
    assert_eq!(a.status(), 200);
    let a = a.text().await.unwrap();
    let b = send("4111111111111111").await.unwrap();
    assert_eq!(b.headers()["Idempotent-Replayed"], "true");
    assert_eq!(b.text().await.unwrap(), a);
    assert_error(
        send("5555555555554444").await.unwrap(),
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
}

#[tokio::test]
async fn payins_are_isolated_per_merchant_and_kind() {
    let app = TestApp::spawn().await;
    let id = app.new_payin("iso-1", 10.0).await;
    let other = app.other_merchant_key().await;
    let r = app
        .client
        .get(app.url(&format!("/public/payin/{id}")))
        .header("Authorization", other.clone())
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    let r = app
        .client
        .post(app.url(&format!("/public/payin/{id}/refund")))
        .header("Authorization", other)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    // A payin id on a payout path, a payout id on a payin path, a malformed id.
    let r = app
        .req(Method::GET, &format!("/public/payout/{id}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    let payout = app.new_payout("iso-po", 10.0).await;
    let r = app
        .req(Method::GET, &format!("/public/payin/{payout}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    let r = app
        .pay_card(&id.to_uppercase(), "4111111111111111", false)
        .await;
    assert_error(r, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn payin_webhooks_carry_the_payin_object() {
    let app = TestApp::spawn().await;
    let hook = Receiver::start(&[]).await;
    let mut body = payin_body("hook-1", 33.0, "EUR");
    body["webhook"] = json!({"url": hook.url});
    let id = json_of(app.create_payin(&body).await).await["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    json_of(app.pay_card(&id, "4111111111111111", false).await).await;
    json_of(refund(&app, &id, Some(json!({"amount": 3}))).await).await;
    app.run_pending_jobs().await;
    let got = hook.received();
    let statuses: Vec<String> = got
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["CREATED", "PENDING", "SUCCESS", "PARTIALLY_REFUNDED"]
    );
    let last = got.last().unwrap();
    assert_eq!(last.header("x-omno-event-type"), "PAYIN_STATUS_CHANGED");
    assert_eq!(last.json()["refundedAmount"], json!(3));
    assert!(!last.body.contains("4111111111111111"));
}

#[tokio::test]
async fn no_full_card_number_is_stored_or_returned() {
    let app = TestApp::spawn().await;
    let cards = ["4111111111111111", "5555555555554444", "4000000000003220"];
    let mut bodies = String::new();
    for (i, card) in cards.iter().enumerate() {
        let id = app.new_payin(&format!("pan-{i}"), 10.0).await;
        let r = app.pay_card(&id, card, true).await;
        bodies.push_str(&r.text().await.unwrap());
        bodies.push_str(&app.get_payin(&id).await.to_string());
        let (_, view) = admin(
            &app,
            Method::GET,
            &format!("/admin/transactions/{id}"),
            None,
        )
        .await;
        bodies.push_str(&view.to_string());
    }
    // Validation errors do not echo the number either.
    let id = app.new_payin("pan-bad", 10.0).await;
    let r = app
        .post_json(
            &format!("/public/payin/{id}/process/card"),
            &json!({"browser": browser(), "cardData": {"cardNumber": "4111111111111112", "expirationMonth": "13", "expirationYear": "2039", "cvv": "1", "cardholderName": ""}, "saveCard": true}),
        )
        .await;
    bodies.push_str(&r.text().await.unwrap());
    let (_, list) = admin(&app, Method::GET, "/admin/transactions?kind=PAYIN", None).await;
    bodies.push_str(&list.to_string());
    for card in cards.iter().chain(["4111111111111112"].iter()) {
        assert!(!bodies.contains(card), "{card} in a response");
        assert!(
            !app.database_contains(card.as_bytes()).await,
            "{card} in the database"
        );
    }
    assert!(!bodies.contains("\"cvv\""));
}
