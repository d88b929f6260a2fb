//! Webhooks (§12): outbox delivery, signatures, order, retries, DEAD, redelivery, endpoints.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::*;

fn with_hook(order: &str, value: f64, url: &str) -> Value {
    let mut b = payout_body(order, value, "EUR");
    b["webhook"] = json!({"url": url});
    b
}

#[tokio::test]
async fn every_status_change_is_delivered_signed_and_in_order() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(&[]).await;
    let r = app.create_payout(&with_hook("wh-1", 42.0, &rx.url)).await;
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    app.confirm(&id).await;
    app.run_pending_jobs().await;

    let got = rx.received();
    let statuses: Vec<String> = got
        .iter()
        .map(|g| g.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        ["WAITING_FOR_CONFIRMATION", "PENDING", "PROCESSED"]
    );
    let mut ids = HashSet::new();
    for g in &got {
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.header("user-agent"), "omno-webhooks/1");
        assert_eq!(g.header("x-omno-event-type"), "PAYOUT_STATUS_CHANGED");
        assert_eq!(g.header("x-omno-delivery-attempt"), "1");
        assert!(
            ids.insert(g.header("x-omno-event-id")),
            "event ids are unique"
        );
        let sig = g.header("x-omno-signature");
        assert!(sig.starts_with("t="), "{sig}");
        assert!(verify_signature(&app.creds.webhook_secret, &sig, &g.body));
        assert!(!verify_signature(
            "whsec_wrongwrongwrongwrongwrongwrong",
            &sig,
            &g.body
        ));
        assert_eq!(g.json()["id"], id.as_str());
        assert_eq!(g.json()["orderId"], "wh-1");
    }
    // The last body is the transaction object as GET returns it.
    let fetched = app.get_payout(&id).await;
    assert_eq!(got[2].json(), fetched);
}

#[tokio::test]
async fn only_changes_something_is_subscribed_to_write_an_event() {
    let app = TestApp::spawn().await;
    // No endpoint and no webhook.url: the change has no receiver, so no outbox event.
    let quiet = app.new_payout("wh-quiet", 12.0).await;
    assert!(app.store_events(&quiet).await.is_empty());
    // The transaction's own URL is a target.
    let rx = Receiver::start(&[]).await;
    let r = app.create_payout(&with_hook("wh-own", 13.0, &rx.url)).await;
    let own = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.store_events(&own).await, ["WAITING_FOR_CONFIRMATION"]);
    // An endpoint added later receives the changes made after it, not the earlier ones.
    let hooks = app.subscribe_all().await;
    assert_eq!(app.confirm(&quiet).await.status(), 200);
    app.run_pending_jobs().await;
    assert_eq!(app.store_events(&quiet).await, ["PENDING", "PROCESSED"]);
    let got: Vec<String> = hooks
        .received()
        .iter()
        .filter(|g| g.json()["id"] == quiet.as_str())
        .map(|g| g.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ["PENDING", "PROCESSED"]);
}

#[tokio::test]
async fn receiver_down_then_up_retries_and_keeps_order() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.retry_base_ms = 100;
        s.webhooks.jitter_percent = 0;
    })
    .await;
    let rx = Receiver::start(&[503, 503]).await;
    let r = app.create_payout(&with_hook("wh-2", 43.0, &rx.url)).await;
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    app.confirm(&id).await;
    app.run_pending_jobs().await;
    // Attempt 1 failed; the PENDING event waits behind the first one.
    assert_eq!(rx.received().len(), 1);
    app.advance(Duration::milliseconds(100));
    app.run_pending_jobs().await;
    assert_eq!(rx.received().len(), 2, "retry 1 after B");
    app.advance(Duration::milliseconds(150));
    app.run_pending_jobs().await;
    assert_eq!(rx.received().len(), 2, "retry 2 waits 2B");
    app.advance(Duration::milliseconds(50));
    app.run_pending_jobs().await;

    let got = rx.received();
    let statuses: Vec<String> = got
        .iter()
        .map(|g| g.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses,
        [
            "WAITING_FOR_CONFIRMATION",
            "WAITING_FOR_CONFIRMATION",
            "WAITING_FOR_CONFIRMATION",
            "PENDING",
            "PROCESSED"
        ]
    );
    assert_eq!(
        got[0].header("x-omno-event-id"),
        got[2].header("x-omno-event-id")
    );
    assert_eq!(got[0].body, got[2].body, "identical body on every attempt");
    let attempts: Vec<String> = got
        .iter()
        .map(|g| g.header("x-omno-delivery-attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3", "1", "1"]);

    // The delivery log shows every attempt.
    let (s, page) = admin(
        &app,
        Method::GET,
        &format!("/admin/webhook-deliveries?transactionId={id}&limit=1"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["nextCursor"].is_string());
    let (_, all) = admin(
        &app,
        Method::GET,
        &format!("/admin/webhook-deliveries?transactionId={id}"),
        None,
    )
    .await;
    let first = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["attemptCount"] == 3)
        .unwrap()
        .clone();
    assert_eq!(first["status"], "DELIVERED");
    assert!(first["target"]["endpointId"].is_null());
    let (_, one) = admin(
        &app,
        Method::GET,
        &format!(
            "/admin/webhook-deliveries/{}",
            first["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let codes: Vec<i64> = one["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["httpStatus"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [503, 503, 200]);
    assert_eq!(
        one["attempts"][0]["responseSnippet"],
        "upstream unavailable"
    );
}

#[tokio::test]
async fn a_delivery_dies_after_the_window_and_can_be_redelivered() {
    let app = TestApp::spawn_with(|s| {
        s.webhooks.retry_base_ms = 100;
        s.webhooks.jitter_percent = 0;
    })
    .await;
    let rx = Receiver::start(&[500; 40]).await;
    app.create_payout(&with_hook("wh-3", 44.0, &rx.url)).await;
    app.run_pending_jobs().await;
    // Jump the clock to each scheduled attempt until the delivery is final.
    for _ in 0..100 {
        let all = app
            .state
            .store
            .list_deliveries(&Default::default(), None, 10)
            .await
            .unwrap();
        let Some(next) = all[0].next_attempt_at else {
            break;
        };
        let wait = next - app.state.clock.now();
        if wait > Duration::ZERO {
            app.advance(wait);
        }
        app.run_pending_jobs().await;
    }
    assert_eq!(rx.received().len(), 20, "20 attempts, then DEAD");
    let (_, page) = admin(
        &app,
        Method::GET,
        "/admin/webhook-deliveries?status=DEAD",
        None,
    )
    .await;
    let dead = page["data"][0].clone();
    assert_eq!(dead["attemptCount"], 20);
    assert!(dead["nextAttemptAt"].is_null());

    rx.set_script(&[]);
    let (s, d) = admin(
        &app,
        Method::POST,
        &format!(
            "/admin/webhook-deliveries/{}/redeliver",
            dead["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(d["status"], "PENDING");
    app.run_pending_jobs().await;
    let got = rx.received();
    assert_eq!(got.len(), 21);
    assert_eq!(got[20].header("x-omno-delivery-attempt"), "21");
    assert_eq!(
        got[20].header("x-omno-event-id"),
        got[0].header("x-omno-event-id")
    );
    let (_, d) = admin(
        &app,
        Method::GET,
        &format!("/admin/webhook-deliveries/{}", dead["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(d["status"], "DELIVERED");
}

#[tokio::test]
async fn merchant_endpoints_filter_and_sign_with_their_own_secret() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(&[]).await;
    let only_final = Receiver::start(&[]).await;
    let m = app.creds.merchant_id.hex();
    let (s, ep) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/webhook-endpoints"),
        Some(
            json!({"url": rx.url, "description": "all", "headers": {"Authorization": "Basic abc"}}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{ep}");
    let secret = ep["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() == 38);
    let (s, ep2) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/webhook-endpoints"),
        Some(json!({"url": only_final.url, "statuses": ["PROCESSED"], "eventTypes": ["PAYOUT_STATUS_CHANGED"]})),
    )
    .await;
    assert_eq!(s, 201);
    // GET and list never show the secret.
    let (_, got) = admin(
        &app,
        Method::GET,
        &format!(
            "/admin/merchants/{m}/webhook-endpoints/{}",
            ep["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert!(got.get("secret").is_none());
    let (_, list) = admin(
        &app,
        Method::GET,
        &format!("/admin/merchants/{m}/webhook-endpoints"),
        None,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&secret));

    // The transaction's own URL equals the first endpoint: one delivery, the endpoint's.
    let r = app.create_payout(&with_hook("wh-4", 45.0, &rx.url)).await;
    let id = r.json::<Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    app.confirm(&id).await;
    app.run_pending_jobs().await;
    let all = rx.received();
    assert_eq!(all.len(), 3);
    for g in &all {
        assert!(verify_signature(
            &secret,
            &g.header("x-omno-signature"),
            &g.body
        ));
        assert!(!verify_signature(
            &app.creds.webhook_secret,
            &g.header("x-omno-signature"),
            &g.body
        ));
        assert_eq!(g.header("authorization"), "Basic abc");
    }
    let finals = only_final.received();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].json()["status"], "PROCESSED");
    assert_eq!(ep2["statuses"], json!(["PROCESSED"]));

    // Rotation: the old secret stops signing at once.
    let (s, rotated) = admin(
        &app,
        Method::POST,
        &format!(
            "/admin/merchants/{m}/webhook-endpoints/{}/rotate-secret",
            ep["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    app.new_payout("wh-5", 46.0).await;
    app.run_pending_jobs().await;
    let last = rx.received().last().unwrap().clone();
    assert!(verify_signature(
        &new_secret,
        &last.header("x-omno-signature"),
        &last.body
    ));
    assert!(!verify_signature(
        &secret,
        &last.header("x-omno-signature"),
        &last.body
    ));

    // Delete.
    let (s, _) = admin(
        &app,
        Method::DELETE,
        &format!(
            "/admin/merchants/{m}/webhook-endpoints/{}",
            ep2["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn refused_targets_are_rejected_at_request_time() {
    let app = TestApp::spawn_with(|s| s.webhooks.allow_loopback = false).await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://10.0.0.1/x",
        "http://user:pw@example.com/x",
        "ftp://example.com/x",
    ] {
        let r = app.create_payout(&with_hook("wh-ssrf", 47.0, url)).await;
        let v = assert_error(r, 400, "VALIDATION_ERROR").await;
        assert_eq!(fields(&v), ["webhook.url"], "{url}");
    }
    let m = app.creds.merchant_id.hex();
    let (s, v) = admin(
        &app,
        Method::POST,
        &format!("/admin/merchants/{m}/webhook-endpoints"),
        Some(json!({"url": "http://127.0.0.1:9/x", "headers": {"X-Omno-Foo": "x"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&v), ["headers.X-Omno-Foo", "url"]);
}

#[tokio::test]
async fn a_loopback_target_is_refused_at_delivery_when_not_allowed() {
    // Created while allowed (e.g. an endpoint added under another configuration), then the
    // delivering node refuses it: the attempt is logged as ssrf_blocked and the delivery is DEAD.
    let app = TestApp::spawn().await;
    let rx = Receiver::start(&[]).await;
    app.create_payout(&with_hook("wh-6", 48.0, &rx.url)).await;
    let url = app.db_url.clone();
    let dir = app.shutdown().await;
    let strict = TestApp::start_on(&url, |s| s.webhooks.allow_loopback = false).await;
    strict.run_pending_jobs().await;
    assert!(rx.received().is_empty());
    let (_, page) = admin(
        &strict,
        Method::GET,
        "/admin/webhook-deliveries?status=DEAD",
        None,
    )
    .await;
    let d = &page["data"][0];
    let (_, one) = admin(
        &strict,
        Method::GET,
        &format!("/admin/webhook-deliveries/{}", d["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(one["attempts"][0]["error"], "ssrf_blocked");
    strict.shutdown().await;
    drop(dir);
}

#[tokio::test]
async fn the_documented_verifiers_accept_real_deliveries() {
    let app = TestApp::spawn().await;
    let rx = Receiver::start(&[]).await;
    app.create_payout(&with_hook("wh-doc", 49.0, &rx.url)).await;
    app.run_pending_jobs().await;
    let got = rx.received();
    let delivery = got.first().expect("a delivery");
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/webhooks");
    let run = |program: &str, script: &str, secret: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(program)
            .arg(docs.join(script))
            .arg(secret)
            .arg(delivery.header("x-omno-signature"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(delivery.body.as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    };
    for (program, script) in [("python3", "verify.py"), ("node", "verify.js")] {
        assert!(
            run(program, script, &app.creds.webhook_secret),
            "{script} accepts"
        );
        assert!(
            !run(program, script, "whsec_00000000000000000000000000000000"),
            "{script} rejects a wrong secret"
        );
    }
}
