//! `/metrics` (API.md §14): Prometheus text, route templates as labels (never raw ids), the
//! transaction, PSP and webhook counters, the backlog gauges, and `metrics.enabled = false`.
//!
//! The recorder is process-wide, so other tests of this binary may add to the counters: the
//! assertions look for series, not exact totals.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// Whether `text` has a sample of `name` carrying every `label="value"` pair.
fn has_series(text: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    text.lines().any(|l| {
        l.starts_with(&format!("{name}{{"))
            && labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
    })
}

async fn scrape(app: &TestApp) -> String {
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    assert!(r.headers().contains_key("x-request-id"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn counters_after_create_confirm_and_process() {
    let app = TestApp::spawn().await;
    let hooks = Receiver::start(&[]).await;
    let mut body = payout_body("metrics-1", 10.0, "EUR");
    body["webhook"] = json!({"url": hooks.url});
    let r = app.create_payout(&body).await;
    assert_eq!(r.status(), 200);
    let id = r.json::<serde_json::Value>().await.unwrap()["payoutId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.confirm(&id).await.status(), 200);
    app.run_pending_jobs().await;
    assert_eq!(app.get_payout(&id).await["status"], "PROCESSED");
    let r = app
        .client
        .get(app.url(&format!("/no/such/route/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let text = scrape(&app).await;
    assert!(!text.contains(&id), "no raw id in any label");
    for (method, route, status) in [
        ("POST", "/public/payout", "200"),
        ("PUT", "/public/payout/{payoutId}/confirm", "200"),
        ("GET", "/public/payout/{payoutId}", "200"),
        ("GET", "unmatched", "404"),
    ] {
        assert!(
            has_series(
                &text,
                "omno_http_requests_total",
                &[("method", method), ("route", route), ("status", status)]
            ),
            "{method} {route} {status}\n{text}"
        );
        assert!(has_series(
            &text,
            "omno_http_request_duration_seconds_bucket",
            &[("method", method), ("route", route)]
        ));
    }
    assert!(text.contains("# TYPE omno_http_request_duration_seconds histogram"));
    for status in ["WAITING_FOR_CONFIRMATION", "PENDING", "PROCESSED"] {
        assert!(
            has_series(
                &text,
                "omno_transactions_total",
                &[("kind", "PAYOUT"), ("status", status)]
            ),
            "{status}\n{text}"
        );
    }
    let account = app.get_payout(&id).await["processorPspId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        has_series(
            &text,
            "omno_psp_requests_total",
            &[("psp_account", &account), ("operation", "submit_payout")]
        ),
        "{text}"
    );
    assert!(has_series(
        &text,
        "omno_psp_request_duration_seconds_bucket",
        &[("psp_account", &account), ("operation", "submit_payout")]
    ));
    assert!(!hooks.received().is_empty());
    assert!(has_series(
        &text,
        "omno_webhook_deliveries_total",
        &[("outcome", "delivered")]
    ));
    for gauge in ["omno_webhook_pending", "omno_sync_pending"] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{gauge} "))),
            "{gauge}\n{text}"
        );
    }
}

#[tokio::test]
async fn sync_pending_gauge_counts_payouts_awaiting_status_sync() {
    let app = TestApp::spawn().await;
    // Amounts ending in 52 simulate a PSP timeout: the payout waits for status sync.
    let id = app.new_payout("metrics-sync", 10.52).await;
    assert_eq!(app.confirm(&id).await.status(), 200);
    app.run_pending_jobs().await;
    let text = scrape(&app).await;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("omno_sync_pending "))
        .unwrap();
    assert!(value.trim().parse::<f64>().unwrap() >= 1.0, "{value}");
}

#[tokio::test]
async fn metrics_need_no_credentials_and_can_be_disabled() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.requests_per_second = 1;
        s.rate_limit.burst = 1;
    })
    .await;
    for _ in 0..3 {
        scrape(&app).await;
    }
    let app = TestApp::spawn_with(|s| s.metrics.enabled = false).await;
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
    // The rest of the server is unaffected.
    let r = app
        .req(
            Method::GET,
            "/public/payout/019cebabac0c784783a8a7235f0e5af5",
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "NOT_FOUND").await;
}
