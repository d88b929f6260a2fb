//! The payout worker: PSP hand-off, simulator outcomes, status sync, expiry (§8.1, §8.3, §10).

use serde_json::{Value, json};
use time::Duration;

use crate::helpers::*;

async fn confirmed(app: &TestApp, order: &str, value: f64) -> String {
    let id = app.new_payout(order, value).await;
    assert_eq!(app.confirm(&id).await.status(), 200);
    id
}

#[tokio::test]
async fn simulator_failures_are_final_with_a_reason() {
    let app = TestApp::spawn().await;
    let _hooks = app.subscribe_all().await;
    let insufficient = confirmed(&app, "wd-51", 10.51).await;
    let error = confirmed(&app, "wd-53", 10.53).await;
    app.run_pending_jobs().await;
    let p = app.get_payout(&insufficient).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["statusReason"]["detailedStatus"], "INSUFFICIENT_FUNDS");
    assert_eq!(p["statusReason"]["status"], "FAILED");
    let p = app.get_payout(&error).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["statusReason"]["detailedStatus"], "PSP_ERROR");
    // FAILED after a confirmation: confirm stays idempotent, reject conflicts.
    assert_eq!(app.confirm(&error).await.status(), 200);
    assert_eq!(app.reject(&error).await.status(), 409);
    assert_eq!(
        app.store_events(&error).await,
        ["WAITING_FOR_CONFIRMATION", "PENDING", "FAILED"]
    );
}

#[tokio::test]
async fn a_psp_timeout_stays_pending_and_is_resolved_by_sync() {
    let app = TestApp::spawn_with(|s| {
        s.sync.interval_ms = 100;
        s.sync.max_attempts = 5;
    })
    .await;
    let _hooks = app.subscribe_all().await;
    let id = confirmed(&app, "wd-52", 10.52).await;
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "PENDING");
    assert_eq!(
        p["statusReason"],
        json!({"reason": "PSP did not answer; status sync scheduled", "detailedStatus": "PSP_TIMEOUT", "status": "PENDING"})
    );
    // No event for a timeout that leaves the status PENDING.
    assert_eq!(
        app.store_events(&id).await,
        ["WAITING_FOR_CONFIRMATION", "PENDING"]
    );

    // Queries 1..4 answer "not executed": still pending.
    for _ in 0..4 {
        app.advance(Duration::milliseconds(100));
        app.run_pending_jobs().await;
        assert_eq!(app.get_payout(&id).await["status"], "PENDING");
    }
    // Nothing is due between intervals.
    app.run_pending_jobs().await;
    assert_eq!(app.get_payout(&id).await["status"], "PENDING");
    // The last query decides.
    app.advance(Duration::milliseconds(100));
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "FAILED");
    assert_eq!(p["statusReason"]["detailedStatus"], "PSP_TIMEOUT");
    assert_eq!(p["statusReason"]["status"], "FAILED");
}

#[tokio::test]
async fn with_a_simulator_delay_the_outcome_arrives_later() {
    let app = TestApp::spawn_with(|s| s.simulator.delay_ms = 1000).await;
    let id = confirmed(&app, "wd-delay", 25.0).await;
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "PENDING");
    assert!(p["pspTransactionId"].as_str().unwrap().starts_with("sim_"));
    assert!(p["statusReason"].is_null());
    app.advance(Duration::milliseconds(1000));
    app.run_pending_jobs().await;
    assert_eq!(app.get_payout(&id).await["status"], "PROCESSED");
}

#[tokio::test]
async fn unconfirmed_payouts_expire_after_the_window() {
    let app = TestApp::spawn().await;
    let _hooks = app.subscribe_all().await;
    let id = app.new_payout("wd-exp", 15.0).await;
    app.advance(Duration::days(7) - Duration::seconds(1));
    app.run_pending_jobs().await;
    assert_eq!(
        app.get_payout(&id).await["status"],
        "WAITING_FOR_CONFIRMATION"
    );
    app.advance(Duration::seconds(1));
    app.run_pending_jobs().await;
    let p = app.get_payout(&id).await;
    assert_eq!(p["status"], "REJECTED");
    assert_eq!(p["statusReason"]["detailedStatus"], "EXPIRED");
    assert_eq!(
        app.store_events(&id).await,
        ["WAITING_FOR_CONFIRMATION", "REJECTED"]
    );
    assert_eq!(app.confirm(&id).await.status(), 409);
    assert_eq!(app.reject(&id).await.status(), 200);
}

#[tokio::test]
async fn an_interrupted_submission_is_synced_never_resubmitted() {
    use omno_domain::ids::PayoutId;
    use omno_domain::payout::Dispatch;
    let app = TestApp::spawn_with(|s| s.sync.interval_ms = 100).await;
    let id = confirmed(&app, "wd-crash", 33.0).await;
    // Simulate a crash after the submission marker committed, before the PSP answered.
    let pid = PayoutId::parse(&id).unwrap();
    let mut p = app
        .state
        .store
        .get_payout(None, pid)
        .await
        .unwrap()
        .unwrap();
    let version = p.version;
    p.dispatch = Dispatch::Submitted;
    p.submitted_at = Some(p.updated_at);
    p.processor_psp_id = p.predicted_psp_id;
    p.next_action_at = Some(p.updated_at);
    let out = app
        .state
        .store
        .save_payout(omno_store::PayoutWrite {
            payout: &p,
            expected_version: version,
            events: vec![],
            idem: None,
            pan: omno_store::PanUpdate::Keep,
            release_lease_of: None,
        })
        .await
        .unwrap();
    assert_eq!(out, omno_store::SaveOutcome::Saved);

    app.run_pending_jobs().await;
    let v: Value = app.get_payout(&id).await;
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["statusReason"]["detailedStatus"], "PSP_TIMEOUT");
    app.advance(Duration::milliseconds(100));
    app.run_pending_jobs().await;
    let v = app.get_payout(&id).await;
    assert_eq!(v["status"], "PROCESSED");
    assert_eq!(v["processorPspId"], v["predictedPspId"]);
}
