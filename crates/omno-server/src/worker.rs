//! The background workers: one loop runs due payout and payin work (PSP hand-off, status sync,
//! expiry),
//! another delivers webhooks, so a slow webhook receiver never delays a payout. Each is woken by
//! committed work and polls at least every `workers.poll_interval_ms`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::flows::{payin, payout};
use crate::state::AppState;
use crate::webhooks;

async fn run_loop<F, Fut>(state: AppState, wake: Arc<Notify>, stop: CancellationToken, pass: F)
where
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = Result<usize, ApiError>>,
{
    let poll = Duration::from_millis(state.settings.workers.poll_interval_ms.max(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        loop {
            match pass(state.clone()).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = ?e, "worker pass failed");
                    break;
                }
            }
        }
    }
}

/// Runs both worker loops until `stop` is cancelled; current passes finish first.
pub async fn run(state: AppState, stop: CancellationToken) {
    let payouts = run_loop(
        state.clone(),
        state.wake_payouts.clone(),
        stop.clone(),
        |s| async move { Ok(payout::run_due(&s).await? + payin::run_due(&s).await?) },
    );
    let deliveries = run_loop(
        state.clone(),
        state.wake_deliveries.clone(),
        stop.clone(),
        |s| async move { webhooks::run_due(&s).await },
    );
    let upkeep = async {
        // Histogram samples accumulate until drained; keep them bounded between scrapes.
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => crate::telemetry::upkeep(),
            }
        }
    };
    tokio::join!(payouts, deliveries, upkeep);
}

/// Runs passes until nothing is due (tests call this to drive the workers without sleeping).
pub async fn run_pending(state: &AppState) {
    loop {
        let payouts = match payout::run_due(state).await {
            Ok(n) => payin::run_due(state).await.map(|m| n + m),
            Err(e) => Err(e),
        };
        let deliveries = webhooks::run_due(state).await;
        match (payouts, deliveries) {
            (Ok(0), Ok(0)) => break,
            (Ok(_), Ok(_)) => {}
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = ?e, "worker pass failed");
                break;
            }
        }
    }
}
