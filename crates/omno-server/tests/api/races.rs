//! Concurrency: one winner for confirm vs reject, one payout for concurrent duplicates (§1.8 C,
//! §1.9).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_and_reject_never_both_win() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(
            app.new_payout(&format!("wd-race-{i}"), 10.0 + f64::from(i))
                .await,
        );
    }
    let mut tasks = Vec::new();
    for id in &ids {
        let a = app.req(Method::PUT, &format!("/public/payout/{id}/confirm"));
        let b = app.req(Method::PUT, &format!("/public/payout/{id}/reject"));
        tasks.push(async move {
            let (c, r) = tokio::join!(a.send(), b.send());
            (c.unwrap().status().as_u16(), r.unwrap().status().as_u16())
        });
    }
    let results = futures_join_all(tasks).await;
    for (id, (c, r)) in ids.iter().zip(results) {
        let p = app.get_payout(id).await;
        match (c, r) {
            (200, 409) => assert_eq!(p["status"], "PENDING", "{id}"),
            (409, 200) => assert_eq!(p["status"], "REJECTED", "{id}"),
            other => panic!("{id}: confirm/reject answered {other:?}"),
        }
        assert_eq!(p["statusHistory"].as_array().unwrap().len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_create_one_payout() {
    let app = TestApp::spawn().await;
    let body = payout_body("wd-dup", 99.0, "EUR");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let req = app
            .req(Method::POST, "/public/payout")
            .header("Idempotency-Key", if i % 2 == 0 { "k-1" } else { "k-2" })
            .json(&body);
        tasks.push(async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (
                status,
                v["payoutId"].as_str().unwrap_or_default().to_string(),
            )
        });
    }
    let results = futures_join_all(tasks).await;
    let ids: HashSet<_> = results.iter().map(|(_, id)| id.clone()).collect();
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    assert_eq!(ids.len(), 1, "{results:?}");
}

/// Runs futures concurrently (no extra crate needed).
async fn futures_join_all<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
