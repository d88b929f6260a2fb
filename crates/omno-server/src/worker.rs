//! The background worker: runs due payout work (PSP hand-off, status sync, expiry) and webhook
//! deliveries whenever it
//! is woken by a committed change, and at least every `workers.poll_interval_ms`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::flows::payout;
use crate::state::AppState;
use crate::webhooks;

/// Runs until `stop` is cancelled; the current pass finishes first.
pub async fn run(state: AppState, stop: CancellationToken) {
    let poll = Duration::from_millis(state.settings.workers.poll_interval_ms.max(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = state.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        run_pending(&state).await;
    }
}

/// Runs passes until nothing is due (tests call this to drive the worker without sleeping).
pub async fn run_pending(state: &AppState) {
    loop {
        let payouts = payout::run_due(state).await;
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
