//! The payout aggregate and its state machine (API.md §8.1).
//!
//! Every status change goes through [`Payout::apply`], which checks the transition table, appends
//! the `statusHistory` entry and stamps `updatedAt`. Persisting the result is a compare-and-set
//! on [`Payout::version`] done by the store, so two racing changes can never both win.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::customer::Customer;
use crate::ids::{CustomerId, MerchantId, PayoutId, PspAccountId, RouterId};
use crate::money::Money;
use crate::psp::{DetailedStatus, PaymentMethod, StatusReason, wire_enum};

wire_enum!(
    /// Payout statuses, exactly those of the contract.
    PayoutStatus {
        /// Accepted, not yet routed (never observed after the create request).
        Created = "CREATED",
        /// Routed; waits for the merchant's confirm or reject.
        WaitingForConfirmation = "WAITING_FOR_CONFIRMATION",
        /// Confirmed; being executed by the PSP.
        Pending = "PENDING",
        /// Paid out (final).
        Processed = "PROCESSED",
        /// Rejected by the merchant or expired (final).
        Rejected = "REJECTED",
        /// Failed (final).
        Failed = "FAILED",
    }
);

impl PayoutStatus {
    /// Final statuses never change again.
    pub fn is_final(&self) -> bool {
        match self {
            PayoutStatus::Processed | PayoutStatus::Rejected | PayoutStatus::Failed => true,
            PayoutStatus::Created
            | PayoutStatus::WaitingForConfirmation
            | PayoutStatus::Pending => false,
        }
    }

    /// Whether the table of §8.1 has a row `self → to`.
    pub fn can_become(&self, to: PayoutStatus) -> bool {
        use PayoutStatus as S;
        match (self, to) {
            (S::Created, S::WaitingForConfirmation | S::Pending | S::Failed | S::Rejected) => true,
            (S::WaitingForConfirmation, S::Pending | S::Rejected) => true,
            (S::Pending, S::Processed | S::Failed) => true,
            (S::Created, S::Created | S::Processed)
            | (
                S::WaitingForConfirmation,
                S::Created | S::WaitingForConfirmation | S::Processed | S::Failed,
            )
            | (S::Pending, S::Created | S::WaitingForConfirmation | S::Pending | S::Rejected)
            | (S::Processed | S::Rejected | S::Failed, _) => false,
        }
    }
}

/// One `statusHistory` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Status taken.
    pub status: PayoutStatus,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, if anything worth saying.
    pub reason: Option<String>,
}

/// Where the money goes, recorded by `process/direct-link` or the hosted payout pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    /// A destination card. The PAN itself lives only encrypted, beside the payout, until final.
    Card {
        /// `411111******1111`.
        mask: String,
        /// Brand from the BIN.
        brand: String,
        /// HMAC of the PAN.
        hash: String,
    },
    /// An APM destination: the merchant's `additionalData` (compact JSON text) and its method.
    Apm {
        /// Method.
        method: PaymentMethod,
        /// `additionalData` as compact JSON text.
        additional_data: String,
        /// Masked IBAN when one was given.
        iban_mask: Option<String>,
    },
}

impl Destination {
    /// The payment method of this destination.
    pub fn method(&self) -> PaymentMethod {
        match self {
            Destination::Card { .. } => PaymentMethod::Card,
            Destination::Apm { method, .. } => *method,
        }
    }
}

/// Where a transaction stands with its PSP; drives the background worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dispatch {
    /// Nothing to do with the PSP (not confirmed yet, or final).
    Idle,
    /// Confirmed; to be submitted.
    Queued,
    /// The submission marker is written; the PSP call is (or was) in flight. Found by a worker
    /// after a crash, it is treated as an ambiguous outcome: queried, never resubmitted.
    Submitted,
    /// The PSP accepted the payout; its outcome is expected later.
    Awaiting,
    /// The outcome is unknown (timeout, 5xx, interruption); status sync queries the PSP.
    Syncing,
}

impl Dispatch {
    /// Storage spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Dispatch::Idle => "IDLE",
            Dispatch::Queued => "QUEUED",
            Dispatch::Submitted => "SUBMITTED",
            Dispatch::Awaiting => "AWAITING",
            Dispatch::Syncing => "SYNCING",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "IDLE" => Dispatch::Idle,
            "QUEUED" => Dispatch::Queued,
            "SUBMITTED" => Dispatch::Submitted,
            "AWAITING" => Dispatch::Awaiting,
            "SYNCING" => Dispatch::Syncing,
            _ => return None,
        })
    }
}

/// `metadata` of the transaction object (payment method is derived from the destination).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Customer IP.
    pub ip_address: Option<String>,
    /// Customer user agent.
    pub user_agent: Option<String>,
    /// Cashier session, if the payout came from the cashier.
    pub cashier_session_id: Option<String>,
}

/// Merchant return URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnUrls {
    /// Success URL or `IFRAME_POST_MESSAGE`.
    pub success: String,
    /// Failure URL or `IFRAME_POST_MESSAGE`.
    pub failure: String,
}

/// A payout and everything recorded about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Id.
    pub id: PayoutId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Stable per (merchant, externalUserId).
    pub customer_id: CustomerId,
    /// Merchant reference, unique per merchant among payouts.
    pub order_id: String,
    /// Executed amount (after FX).
    pub amount: Money,
    /// Requested amount.
    pub initial: Money,
    /// Current status.
    pub status: PayoutStatus,
    /// Why, when the contract wants a reason.
    pub status_reason: Option<StatusReason>,
    /// As sent.
    pub kyc_verified: bool,
    /// As sent, default 0.
    pub previous_transaction_count: i64,
    /// As sent.
    pub customer: Customer,
    /// As sent.
    pub return_urls: Option<ReturnUrls>,
    /// Per-transaction webhook target.
    pub webhook_url: Option<String>,
    /// Router used.
    pub router_id: Option<RouterId>,
    /// One-line routing summary.
    pub routing_reason: Option<String>,
    /// Account chosen at creation.
    pub predicted_psp_id: Option<PspAccountId>,
    /// Account of the submission.
    pub processor_psp_id: Option<PspAccountId>,
    /// PSP reference.
    pub psp_transaction_id: Option<String>,
    /// Where the money goes.
    pub destination: Option<Destination>,
    /// Customer context.
    pub metadata: Metadata,
    /// Set once the payout counts as confirmed (confirm, or created PENDING).
    pub confirmed_at: Option<OffsetDateTime>,
    /// Deadline of `WAITING_FOR_CONFIRMATION`.
    pub confirmation_deadline: Option<OffsetDateTime>,
    /// PSP progress.
    pub dispatch: Dispatch,
    /// When the worker should look at this payout next.
    pub next_action_at: Option<OffsetDateTime>,
    /// Status queries made for an ambiguous outcome.
    pub sync_attempts: i64,
    /// When the submission marker was written.
    pub submitted_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// Every status taken, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Routing decision detail for the admin view (JSON text, written by the server).
    pub routing_detail: Option<String>,
    /// FX conversion detail for the admin view (JSON text, written by the server).
    pub fx_detail: Option<String>,
    /// Compare-and-set version; bumped by every persisted change.
    pub version: i64,
}

/// An operation the current status does not allow (→ 409 `INVALID_STATE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payout is {status}; {action} is not allowed")]
pub struct InvalidState {
    /// Status found.
    pub status: PayoutStatus,
    /// Attempted action.
    pub action: &'static str,
}

/// What a merchant call does to the payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Change the status.
    To(PayoutStatus),
    /// Already done: answer 200 `{}` and change nothing.
    Unchanged,
}

impl Payout {
    /// True when the confirmation window is over and the payout still waits (§8.1 expiry row).
    pub fn confirmation_expired(&self, now: OffsetDateTime) -> bool {
        self.status == PayoutStatus::WaitingForConfirmation
            && self.confirmation_deadline.is_some_and(|d| now >= d)
    }

    /// `PUT confirm` (idempotency table of §8.1).
    pub fn decide_confirm(&self) -> Result<Decision, InvalidState> {
        match self.status {
            PayoutStatus::WaitingForConfirmation => Ok(Decision::To(PayoutStatus::Pending)),
            PayoutStatus::Pending | PayoutStatus::Processed => Ok(Decision::Unchanged),
            PayoutStatus::Failed if self.confirmed_at.is_some() => Ok(Decision::Unchanged),
            PayoutStatus::Created | PayoutStatus::Rejected | PayoutStatus::Failed => {
                Err(InvalidState {
                    status: self.status,
                    action: "confirm",
                })
            }
        }
    }

    /// `PUT reject` (idempotency table of §8.1).
    pub fn decide_reject(&self) -> Result<Decision, InvalidState> {
        match self.status {
            PayoutStatus::Created | PayoutStatus::WaitingForConfirmation => {
                Ok(Decision::To(PayoutStatus::Rejected))
            }
            PayoutStatus::Rejected => Ok(Decision::Unchanged),
            PayoutStatus::Pending | PayoutStatus::Processed | PayoutStatus::Failed => {
                Err(InvalidState {
                    status: self.status,
                    action: "reject",
                })
            }
        }
    }

    /// Whether a destination may be recorded (§4.4): before submission and not final.
    pub fn can_record_destination(&self) -> bool {
        match self.status {
            PayoutStatus::Created | PayoutStatus::WaitingForConfirmation => true,
            PayoutStatus::Pending => self.dispatch == Dispatch::Queued,
            PayoutStatus::Processed | PayoutStatus::Rejected | PayoutStatus::Failed => false,
        }
    }

    /// Applies a status change: checks the table, appends history, stamps the time, and sets or
    /// clears `statusReason` (set only with a reason). Scheduling is left to the caller.
    pub fn apply(
        &mut self,
        to: PayoutStatus,
        reason: Option<(DetailedStatus, String)>,
        history_reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(), InvalidState> {
        if !self.status.can_become(to) {
            return Err(InvalidState {
                status: self.status,
                action: "this transition",
            });
        }
        self.status = to;
        self.status_reason = reason.map(|(detailed_status, reason)| StatusReason {
            reason,
            detailed_status,
            status: to.as_str().to_string(),
        });
        self.history.push(HistoryEntry {
            status: to,
            at: now,
            reason: history_reason,
        });
        self.updated_at = now;
        if to == PayoutStatus::Pending && self.confirmed_at.is_none() {
            self.confirmed_at = Some(now);
        }
        if to.is_final() {
            self.dispatch = Dispatch::Idle;
            self.next_action_at = None;
        }
        Ok(())
    }

    /// `transactionType`: `CARD` or `APM` once a destination is known.
    pub fn transaction_type(&self) -> Option<&'static str> {
        self.destination.as_ref().map(|d| match d {
            Destination::Card { .. } => "CARD",
            Destination::Apm { .. } => "APM",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [PayoutStatus; 6] = [
        PayoutStatus::Created,
        PayoutStatus::WaitingForConfirmation,
        PayoutStatus::Pending,
        PayoutStatus::Processed,
        PayoutStatus::Rejected,
        PayoutStatus::Failed,
    ];

    fn payout(status: PayoutStatus, confirmed: bool) -> Payout {
        let t = OffsetDateTime::UNIX_EPOCH;
        let cur = crate::money::Currency::parse("EUR").unwrap();
        let money = Money {
            amount: crate::money::MinorUnits(100),
            currency: cur,
        };
        Payout {
            id: PayoutId(uuid::Uuid::nil()),
            merchant_id: MerchantId(uuid::Uuid::nil()),
            customer_id: CustomerId(uuid::Uuid::nil()),
            order_id: "o".into(),
            amount: money,
            initial: money,
            status,
            status_reason: None,
            kyc_verified: true,
            previous_transaction_count: 0,
            customer: Customer {
                external_user_id: "u".into(),
                first_name: "a".into(),
                last_name: "b".into(),
                email: "a@b.de".into(),
                phone_number: "12345".into(),
                date_of_birth: "1990-01-01".into(),
                billing: crate::customer::Billing {
                    address: "x".into(),
                    city: "x".into(),
                    state: "x".into(),
                    country_code: crate::country::CountryCode::parse("DE").unwrap(),
                    postal_code: "1".into(),
                },
                kyc: None,
            },
            return_urls: None,
            webhook_url: None,
            router_id: None,
            routing_reason: None,
            predicted_psp_id: None,
            processor_psp_id: None,
            psp_transaction_id: None,
            destination: None,
            metadata: Metadata::default(),
            confirmed_at: confirmed.then_some(t),
            confirmation_deadline: Some(t + time::Duration::days(7)),
            dispatch: Dispatch::Idle,
            next_action_at: None,
            sync_attempts: 0,
            submitted_at: None,
            created_at: t,
            updated_at: t,
            history: vec![],
            routing_detail: None,
            fx_detail: None,
            version: 1,
        }
    }

    #[test]
    fn confirm_table_matches_contract() {
        use PayoutStatus as S;
        for s in ALL {
            for confirmed in [false, true] {
                let p = payout(s, confirmed);
                let got = p.decide_confirm();
                let expected = match (s, confirmed) {
                    (S::WaitingForConfirmation, _) => Ok(Decision::To(S::Pending)),
                    (S::Pending | S::Processed, _) | (S::Failed, true) => Ok(Decision::Unchanged),
                    (S::Created | S::Rejected, _) | (S::Failed, false) => Err(()),
                };
                assert_eq!(got.map_err(|_| ()), expected, "{s} confirmed={confirmed}");
            }
        }
    }

    #[test]
    fn reject_table_matches_contract() {
        use PayoutStatus as S;
        for s in ALL {
            let got = payout(s, false).decide_reject().map_err(|_| ());
            let expected = match s {
                S::Created | S::WaitingForConfirmation => Ok(Decision::To(S::Rejected)),
                S::Rejected => Ok(Decision::Unchanged),
                S::Pending | S::Processed | S::Failed => Err(()),
            };
            assert_eq!(got, expected, "{s}");
        }
    }

    #[test]
    fn expiry_only_applies_to_waiting_after_deadline() {
        let p = payout(PayoutStatus::WaitingForConfirmation, false);
        let deadline = p.confirmation_deadline.unwrap();
        assert!(!p.confirmation_expired(deadline - time::Duration::milliseconds(1)));
        assert!(p.confirmation_expired(deadline));
        assert!(!payout(PayoutStatus::Pending, true).confirmation_expired(deadline));
    }

    fn action() -> impl Strategy<Value = u8> {
        0u8..6
    }

    proptest! {
        /// Random sequences of merchant calls and worker outcomes: confirm and reject never both
        /// take effect, final statuses never change, and history grows by one per change.
        #[test]
        fn state_machine_invariants(actions in proptest::collection::vec(action(), 0..24)) {
            let mut p = payout(PayoutStatus::WaitingForConfirmation, false);
            let mut t = OffsetDateTime::UNIX_EPOCH;
            let (mut confirmed, mut rejected) = (false, false);
            for a in actions {
                t += time::Duration::seconds(1);
                let before = p.clone();
                let r = match a {
                    0 => p.decide_confirm().map(|d| match d {
                        Decision::To(s) => { confirmed = true; p.apply(s, None, None, t).unwrap() }
                        Decision::Unchanged => {}
                    }).is_ok(),
                    1 => p.decide_reject().map(|d| match d {
                        Decision::To(s) => { rejected = true; p.apply(s, Some((DetailedStatus::RejectedByMerchant, "x".into())), None, t).unwrap() }
                        Decision::Unchanged => {}
                    }).is_ok(),
                    2 => p.apply(PayoutStatus::Processed, None, None, t).is_ok(),
                    3 => p.apply(PayoutStatus::Failed, Some((DetailedStatus::PspError, "x".into())), None, t).is_ok(),
                    4 => p.apply(PayoutStatus::Rejected, Some((DetailedStatus::Expired, "x".into())), None, t).is_ok(),
                    _ => p.apply(PayoutStatus::Pending, None, None, t).is_ok(),
                };
                prop_assert!(!(confirmed && rejected));
                if before.status.is_final() {
                    prop_assert_eq!(before.status, p.status);
                }
                if before.status != p.status {
                    prop_assert!(r);
                    prop_assert_eq!(p.history.len(), before.history.len() + 1);
                    prop_assert!(before.status.can_become(p.status));
                } else {
                    prop_assert_eq!(p.history.len(), before.history.len());
                }
                if p.status == PayoutStatus::Processed {
                    prop_assert!(p.confirmed_at.is_some());
                }
            }
        }
    }
}
