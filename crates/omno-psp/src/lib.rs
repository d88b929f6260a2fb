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

/// One PSP integration.
#[async_trait]
pub trait PspConnector: Send + Sync {
    /// Submits a payout for execution.
    async fn submit_payout(&self, s: &PayoutSubmission) -> SubmitOutcome;
    /// Asks what happened to an earlier submission.
    async fn query_payout(&self, q: &PayoutQuery) -> QueryOutcome;
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
