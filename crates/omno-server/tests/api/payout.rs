//! Payout happy paths and the transaction object (API.md §4, §7).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn create_confirm_and_process_a_payout() {
    let app = TestApp::spawn().await;
    let _hooks = app.subscribe_all().await;
    let r = app.create_payout(&payout_body("wd-1", 150.25, "EUR")).await;
    assert_eq!(r.status(), 200);
    let created: Value = r.json().await.unwrap();
    let id = created["payoutId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(created["status"], "WAITING_FOR_CONFIRMATION");
    for page in ["card", "apm"] {
        let url = created["iframeUrls"][page].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/hpp/payout/{id}/{page}?token=hpt1.", app.base)),
            "{url}"
        );
    }

    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION");
    assert_eq!(p["amount"], json!(150.25));
    assert_eq!(p["initialAmount"], json!(150.25));
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["orderId"], "wd-1");
    assert_eq!(p["merchantId"], app.creds.merchant_id.hex());
    assert_eq!(p["kycVerified"], true);
    assert_eq!(p["previousTransactionCount"], 0);
    assert_eq!(p["customer"]["billing"]["countryCode"], "DE");
    assert!(p["customer"]["kyc"].is_null());
    assert!(p["predictedPspId"].is_string());
    assert!(p["processorPspId"].is_null());
    assert!(p["statusReason"].is_null());
    let ts = p["createdAt"].as_str().unwrap();
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z'));

    let r = app.confirm(&id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "{}");
    assert_eq!(app.get_payout(&id).await["status"], "PENDING");

    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "PROCESSED");
    assert!(p["pspTransactionId"].as_str().unwrap().starts_with("sim_"));
    assert_eq!(p["pspTransactionId"].as_str().unwrap().len(), 28);
    assert_eq!(p["processorPspId"], p["predictedPspId"]);
    let statuses: Vec<&str> = p["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "CREATED",
            "WAITING_FOR_CONFIRMATION",
            "PENDING",
            "PROCESSED"
        ]
    );
    assert_eq!(p["statusHistory"][2]["reason"], "Confirmed by merchant");

    // One outbox event per announced status; none for CREATED.
    let events = app.store_events(&id).await;
    assert_eq!(events, ["WAITING_FOR_CONFIRMATION", "PENDING", "PROCESSED"]);
}

#[tokio::test]
async fn every_field_of_the_transaction_object_is_present() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("wd-fields", 10.0).await;
    let p = app.get_payout(&id).await;
    for f in [
        "id",
        "amount",
        "merchantId",
        "customerId",
        "orderId",
        "currency",
        "status",
        "initialAmount",
        "initialCurrency",
        "routerId",
        "cardId",
        "cardMask",
        "cardBrand",
        "cardHash",
        "predictedPspId",
        "processorPspId",
        "pspTransactionId",
        "previousTransactionCount",
        "statusReason",
        "metadata",
        "transactionType",
        "kycVerified",
        "customer",
        "returnUrls",
        "createdAt",
        "updatedAt",
        "statusHistory",
    ] {
        assert!(p.get(f).is_some(), "missing {f}");
    }
    for f in [
        "ipAddress",
        "userAgent",
        "paymentMethod",
        "cashierSessionId",
    ] {
        assert!(p["metadata"].get(f).is_some(), "missing metadata.{f}");
    }
    // Whole amounts are written as integers.
    assert_eq!(serde_json::to_string(&p["amount"]).unwrap(), "10");
}

#[tokio::test]
async fn reject_records_the_reason() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("wd-rej", 20.0).await;
    let r = app.reject(&id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "{}");
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(
        p["statusReason"],
        json!({"reason": "Rejected by merchant", "detailedStatus": "REJECTED_BY_MERCHANT", "status": "REJECTED"})
    );
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "REJECTED", "a rejected payout is never sent");
    assert!(p["processorPspId"].is_null());
}

#[tokio::test]
async fn customer_id_is_stable_per_external_user() {
    let app = TestApp::spawn().await;
    let a = app.new_payout("wd-c1", 10.0).await;
    let b = app.new_payout("wd-c2", 11.0).await;
    let mut other = payout_body("wd-c3", 12.0, "EUR");
    other["customer"]["externalUserId"] = json!("u-other");
    let r = app.create_payout(&other).await;
    let c = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    let (pa, pb, pc) = (
        app.get_payout(&a).await,
        app.get_payout(&b).await,
        app.get_payout(&c).await,
    );
    assert_eq!(pa["customerId"], pb["customerId"]);
    assert_ne!(pa["customerId"], pc["customerId"]);
}

#[tokio::test]
async fn direct_link_records_the_destination_without_changing_status() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("wd-dl", 30.0).await;
    let body = json!({
        "browser": browser(),
        "additionalData": {"method": "BANK_TRANSFER", "iban": "DE89 3704 0044 0532 0130 00", "accountHolder": "Anna Keller"}
    });
    let r = app
        .post_json(&format!("/public/payout/{id}/process/direct-link"), &body)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["payoutId"], id.as_str());
    assert_eq!(v["status"], "WAITING_FOR_CONFIRMATION");
    assert!(v["message"].is_string());
    assert!(
        v["redirectUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/hpp/payout/{id}/status?token="))
    );
    let p = app.get_payout(&id).await;
    assert_eq!(p["transactionType"], "APM");
    assert_eq!(p["metadata"]["paymentMethod"], "BANK_TRANSFER");
    assert_eq!(p["metadata"]["ipAddress"], "91.64.23.117");
    assert_eq!(p["metadata"]["userAgent"], "Mozilla/5.0 test");
    assert_eq!(p["status"], "WAITING_FOR_CONFIRMATION");

    // A second call replaces the destination.
    let body = json!({"browser": {}, "additionalData": {"method": "E_WALLET"}});
    let r = app
        .post_json(&format!("/public/payout/{id}/process/direct-link"), &body)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.get_payout(&id).await["metadata"]["paymentMethod"],
        "E_WALLET"
    );

    app.confirm(&id).await;
    app.run_pending_jobs().await;
    assert_eq!(app.get_payout(&id).await["status"], "PROCESSED");
}

#[tokio::test]
async fn merchant_without_confirmation_dispatches_at_once() {
    let app = TestApp::spawn().await;
    // Turn confirmation off for the demo merchant through the store (admin PATCH comes later).
    let mut m = app
        .state
        .store
        .get_merchant(app.creds.merchant_id)
        .await
        .unwrap()
        .unwrap();
    m.payout_confirmation_required = false;
    app.state.store.update_merchant(&m).await.unwrap();
    omno_server::config_cache::changed(&app.state.config, &*app.state.store, m.id)
        .await
        .unwrap();

    let r = app
        .create_payout(&payout_body("wd-auto", 40.0, "EUR"))
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    let id = v["payoutId"].as_str().unwrap();
    // A payout created PENDING counts as confirmed.
    assert_eq!(app.confirm(id).await.status(), 200);
    assert_eq!(
        app.reject(id).await.status(),
        409,
        "reject of a pending payout"
    );
    app.run_pending_jobs().await;
    assert_eq!(app.get_payout(id).await["status"], "PROCESSED");
}

#[tokio::test]
async fn amounts_are_exact_and_respect_the_currency_exponent() {
    let app = TestApp::spawn().await;
    // JPY has exponent 0 and converts nowhere in this version, USD is routable.
    for (raw, expected) in [("1.25e1", "12.5"), ("12.500", "12.5"), ("100.0", "100")] {
        let order = format!("wd-amt-{raw}");
        let body = format!(
            r#"{{"orderId":"{order}","value":{raw},"currency":"USD","kycVerified":false,"customer":{}}}"#,
            customer()
        );
        let r = app
            .req(Method::POST, "/public/payout")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{raw}");
        let id = r.json::<Value>().await.unwrap()["payoutId"]
            .as_str()
            .unwrap()
            .to_string();
        let text = app
            .req(Method::GET, &format!("/public/payout/{id}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&format!(r#""amount":{expected},"#)),
            "{raw}: {text}"
        );
    }
}

#[tokio::test]
async fn a_committed_payout_survives_a_restart() {
    let app = TestApp::spawn().await;
    let id = app.new_payout("wd-durable", 77.7).await;
    assert_eq!(app.confirm(&id).await.status(), 200);
    let key = app.creds.api_key.clone();
    let url = app.db_url.clone();
    let dir = app.shutdown().await;

    let again = TestApp::start_on(&url, |_| {}).await;
    // The demo seed re-issues the API key on start; the old one is revoked.
    let r = again
        .client
        .get(again.url(&format!("/public/payout/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let p = again.get_payout(&id).await;
    assert_eq!(p["status"], "PENDING");
    assert_eq!(p["orderId"], "wd-durable");
    again.run_pending_jobs().await;
    assert_eq!(again.get_payout(&id).await["status"], "PROCESSED");
    again.shutdown().await;
    drop(dir);
}
