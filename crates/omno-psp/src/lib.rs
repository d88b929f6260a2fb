//! The PSP connector boundary and the built-in simulator PSP.
//!
//! A connector answers two questions for a payout: "execute this" ([`PspConnector::submit_payout`])
//! and "what happened to it" ([`PspConnector::query_payout`]). Answers are classified here into
//! definite outcomes and ambiguous ones; an ambiguous answer is never guessed into a final status
//! (the caller keeps the transaction `PENDING` and queries later, at the same PSP).
//!
//! # Layout
//! - this file: [`PspConnector`], the request/answer types and [`Connectors`] (the registry).
//! - [`simulator`]: the deterministic sandbox processor of API.md §10.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omno_domain::money::Money;
use omno_domain::psp::{DetailedStatus, PaymentMethod, PspAccount};
use time::OffsetDateTime;

pub mod simulator;

/// A payout handed to a PSP.
#[derive(Debug, Clone)]
pub struct PayoutSubmission {
    /// Our payout id (32 hex); also the PSP-side idempotency reference.
    pub transaction_id: String,
    /// Amount sent to the PSP (after FX).
    pub amount: Money,
    /// Destination method, if recorded.
    pub method: Option<PaymentMethod>,
    /// The account executing it.
    pub account: PspAccount,
    /// 1-based submission attempt (payouts are submitted once: always 1).
    pub attempt: u32,
}

/// A status query for an earlier submission.
#[derive(Debug, Clone)]
pub struct PayoutQuery {
    /// Our payout id.
    pub transaction_id: String,
    /// Amount submitted.
    pub amount: Money,
    /// The account that got the submission.
    pub account: PspAccount,
    /// When the submission was made.
    pub submitted_at: OffsetDateTime,
    /// Now.
    pub now: OffsetDateTime,
}

/// A definite outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definite {
    /// Executed.
    Succeeded {
        /// PSP reference.
        psp_transaction_id: String,
    },
    /// Not executed, for this reason.
    Failed {
        /// PSP reference, if one was assigned.
        psp_transaction_id: Option<String>,
        /// Machine reason.
        detailed_status: DetailedStatus,
        /// Human reason.
        reason: String,
    },
}

/// Answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The outcome is known now.
    Done(Definite),
    /// Accepted; the outcome is expected after `ready_after` (query then).
    Accepted {
        /// PSP reference.
        psp_transaction_id: String,
        /// When to ask.
        ready_after: Duration,
    },
    /// Timeout, 5xx or interruption: the PSP may or may not have executed it.
    Ambiguous {
        /// PSP reference, if one is known.
        psp_transaction_id: Option<String>,
    },
}

/// Answer to a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutcome {
    /// Final outcome.
    Done(Definite),
    /// Accepted and still running.
    InProgress,
    /// The PSP says it never executed the payout.
    NotExecuted,
    /// No usable answer (timeout, 5xx).
    NoAnswer,
}

/// What one status-sync answer means for a transaction still `PENDING` (API.md §8.3), for
/// payouts and payins alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// A final outcome: apply it.
    Final(Definite),
    /// Accepted, not ready yet: ask again shortly.
    AskSoon,
    /// The outcome is unknown: start the sync window.
    StartWindow,
    /// Keep syncing: ask again one interval later.
    Continue,
    /// The window is over and the PSP confirms nothing was executed: fail with `PSP_TIMEOUT`.
    NotExecuted,
    /// The window is over without an answer: leave it `PENDING` for manual review.
    ManualReview,
}

/// The §8.3 table. `syncing`: the sync window is running (else the transaction was awaiting an
/// accepted outcome); `last`: this was the window's last query.
pub fn sync_step(answer: QueryOutcome, syncing: bool, last: bool) -> SyncStep {
    match answer {
        QueryOutcome::Done(d) => SyncStep::Final(d),
        QueryOutcome::InProgress if !syncing => SyncStep::AskSoon,
        QueryOutcome::NotExecuted | QueryOutcome::NoAnswer if !syncing => SyncStep::StartWindow,
        QueryOutcome::NotExecuted if last => SyncStep::NotExecuted,
        QueryOutcome::NoAnswer | QueryOutcome::InProgress if last => SyncStep::ManualReview,
        QueryOutcome::NotExecuted | QueryOutcome::NoAnswer | QueryOutcome::InProgress => {
            SyncStep::Continue
        }
    }
}

/// A payin charge handed to a PSP.
#[derive(Clone)]
pub struct PayinSubmission {
    /// Our payin id (32 hex).
    pub transaction_id: String,
    /// Amount charged (after this attempt's FX).
    pub amount: Money,
    /// Method.
    pub method: PaymentMethod,
    /// Card number digits for card payments (held in memory only; never logged).
    pub card_number: Option<String>,
    /// The account charging it.
    pub account: PspAccount,
    /// 1-based attempt number within the payin's cascade.
    pub attempt: u32,
}

impl std::fmt::Debug for PayinSubmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayinSubmission")
            .field("transaction_id", &self.transaction_id)
            .field("amount", &self.amount)
            .field("method", &self.method)
            .field("account", &self.account.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Answer to a payin submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayinOutcome {
    /// Charged.
    Succeeded {
        /// PSP reference.
        psp_transaction_id: String,
    },
    /// Declined by the issuer or the PSP (→ `DECLINED`).
    Declined {
        /// PSP reference, if one was assigned.
        psp_transaction_id: Option<String>,
        /// Machine reason.
        detailed_status: DetailedStatus,
        /// Human reason.
        reason: String,
    },
    /// A definite technical failure; nothing was charged (→ `FAILED`).
    Failed {
        /// PSP reference, if one was assigned.
        psp_transaction_id: Option<String>,
        /// Machine reason.
        detailed_status: DetailedStatus,
        /// Human reason.
        reason: String,
    },
    /// The issuer wants a 3DS challenge (→ `PENDING_3DS`).
    ThreeDsRequired {
        /// PSP reference.
        psp_transaction_id: String,
    },
    /// Accepted; the outcome arrives later (APM): query after `ready_after`.
    Accepted {
        /// PSP reference.
        psp_transaction_id: String,
        /// When to ask.
        ready_after: Duration,
    },
    /// Timeout, 5xx or interruption: the PSP may or may not have charged.
    Ambiguous {
        /// PSP reference, if one is known.
        psp_transaction_id: Option<String>,
    },
}

/// A status query for an earlier payin submission.
#[derive(Debug, Clone)]
pub struct PayinQuery {
    /// Our payin id.
    pub transaction_id: String,
    /// Amount submitted.
    pub amount: Money,
    /// Method.
    pub method: PaymentMethod,
    /// The account that got the submission.
    pub account: PspAccount,
    /// The attempt queried.
    pub attempt: u32,
    /// When the submission was made.
    pub submitted_at: OffsetDateTime,
    /// Now.
    pub now: OffsetDateTime,
}

/// A refund of a captured payin.
#[derive(Debug, Clone)]
pub struct RefundSubmission {
    /// Our payin id.
    pub transaction_id: String,
    /// Our refund id (the PSP-side idempotency reference).
    pub refund_id: String,
    /// Amount to refund, in the payin's executed currency.
    pub amount: Money,
    /// The account that captured the payin.
    pub account: PspAccount,
}

/// Answer to a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Refunded.
    Succeeded {
        /// PSP reference of the refund.
        psp_reference: String,
    },
    /// Refused; nothing was refunded.
    Failed {
        /// Machine reason.
        detailed_status: DetailedStatus,
        /// Human reason.
        reason: String,
    },
    /// No usable answer.
    Ambiguous,
}

/// One PSP integration.
#[async_trait]
pub trait PspConnector: Send + Sync {
    /// Submits a payout for execution.
    async fn submit_payout(&self, s: &PayoutSubmission) -> SubmitOutcome;
    /// Asks what happened to an earlier submission.
    async fn query_payout(&self, q: &PayoutQuery) -> QueryOutcome;
    /// Submits a payin charge.
    async fn submit_payin(&self, s: &PayinSubmission) -> PayinOutcome;
    /// Asks what happened to an earlier payin submission (declines come back as
    /// [`Definite::Failed`]; the caller maps them by method).
    async fn query_payin(&self, q: &PayinQuery) -> QueryOutcome;
    /// Refunds (part of) a captured payin.
    async fn refund(&self, r: &RefundSubmission) -> RefundOutcome;
}

/// The connectors of this build, by `connector` name.
#[derive(Clone)]
pub struct Connectors {
    simulator: Arc<dyn PspConnector>,
}

impl Connectors {
    /// Builds the registry.
    pub fn new(simulator: simulator::Simulator) -> Self {
        Self {
            simulator: Arc::new(simulator),
        }
    }

    /// The connector for an account, `None` for an unknown kind.
    pub fn for_account(&self, account: &PspAccount) -> Option<Arc<dyn PspConnector>> {
        match account.connector.as_str() {
            "simulator" => Some(self.simulator.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_table_of_8_3() {
        use QueryOutcome as Q;
        let done = Definite::Succeeded {
            psp_transaction_id: "r".into(),
        };
        assert_eq!(
            sync_step(Q::Done(done.clone()), true, true),
            SyncStep::Final(done)
        );
        assert_eq!(sync_step(Q::InProgress, false, false), SyncStep::AskSoon);
        assert_eq!(sync_step(Q::NoAnswer, false, false), SyncStep::StartWindow);
        assert_eq!(
            sync_step(Q::NotExecuted, false, false),
            SyncStep::StartWindow
        );
        assert_eq!(sync_step(Q::NotExecuted, true, false), SyncStep::Continue);
        assert_eq!(sync_step(Q::NoAnswer, true, false), SyncStep::Continue);
        assert_eq!(sync_step(Q::NotExecuted, true, true), SyncStep::NotExecuted);
        assert_eq!(sync_step(Q::NoAnswer, true, true), SyncStep::ManualReview);
        assert_eq!(sync_step(Q::InProgress, true, true), SyncStep::ManualReview);
    }
}
