//! The payin state machine (API.md §8.2) and the refund arithmetic of §5.6.
//!
//! The [`Payin`] aggregate, which status changes exist, which statuses are final, and how a
//! refund moves a payin given the committed refunded total, so that the sum of successful refunds
//! can never exceed the captured amount. Persisting a change is a compare-and-set on
//! [`Payin::version`] done by the store.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::customer::Customer;
use crate::ids::{CardId, CustomerId, MerchantId, PayinId, PspAccountId, RefundId, RouterId};
use crate::money::Money;
use crate::payout::{Dispatch, ReturnUrls};
use crate::psp::{DetailedStatus, PaymentMethod, StatusReason, wire_enum};

wire_enum!(
    /// Payin statuses, exactly those of the contract.
    PayinStatus {
        /// Created, not processed yet.
        Created = "CREATED",
        /// Submitted to a PSP; outcome pending.
        Pending = "PENDING",
        /// Waiting for the customer's 3DS challenge.
        Pending3ds = "PENDING_3DS",
        /// Charged.
        Success = "SUCCESS",
        /// Fully refunded.
        Refunded = "REFUNDED",
        /// Partly refunded.
        PartiallyRefunded = "PARTIALLY_REFUNDED",
        /// Declined by the issuer or PSP.
        Declined = "DECLINED",
        /// Failed (technical, no route, 3DS failed).
        Failed = "FAILED",
        /// A waiting window elapsed, or the PSP confirmed nothing was charged.
        Timeout = "TIMEOUT",
        /// The last refund failed at the PSP.
        RefundFailed = "REFUND_FAILED",
    }
);

impl PayinStatus {
    /// Final statuses: processing is over (hosted pages stop polling).
    pub fn is_final(&self) -> bool {
        match self {
            PayinStatus::Success
            | PayinStatus::Declined
            | PayinStatus::Failed
            | PayinStatus::Timeout
            | PayinStatus::Refunded
            | PayinStatus::PartiallyRefunded
            | PayinStatus::RefundFailed => true,
            PayinStatus::Created | PayinStatus::Pending | PayinStatus::Pending3ds => false,
        }
    }

    /// Whether a refund may start from this status (§5.6).
    pub fn refundable(&self) -> bool {
        match self {
            PayinStatus::Success | PayinStatus::PartiallyRefunded | PayinStatus::RefundFailed => {
                true
            }
            PayinStatus::Created
            | PayinStatus::Pending
            | PayinStatus::Pending3ds
            | PayinStatus::Refunded
            | PayinStatus::Declined
            | PayinStatus::Failed
            | PayinStatus::Timeout => false,
        }
    }

    /// Whether the table of §8.2 has a row `self → to` (self-transitions of refunds included).
    pub fn can_become(&self, to: PayinStatus) -> bool {
        use PayinStatus as S;
        match self {
            S::Created => matches!(to, S::Pending | S::Failed | S::Timeout),
            S::Pending => matches!(
                to,
                S::Success | S::Pending3ds | S::Declined | S::Failed | S::Timeout
            ),
            S::Pending3ds => matches!(to, S::Success | S::Failed | S::Timeout),
            S::Success | S::PartiallyRefunded | S::RefundFailed => {
                matches!(to, S::PartiallyRefunded | S::Refunded | S::RefundFailed)
            }
            S::Refunded | S::Declined | S::Failed | S::Timeout => false,
        }
    }
}

/// Why a refund cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    /// The payin's status allows no refund.
    #[error("payin is {0}; refunds need SUCCESS, PARTIALLY_REFUNDED or REFUND_FAILED")]
    NotRefundable(PayinStatus),
    /// The amount exceeds what is left (`remaining` minor units).
    #[error("the refundable remainder is {remaining} minor units")]
    ExceedsRemainder {
        /// Minor units still refundable.
        remaining: i64,
    },
    /// A refund must be positive.
    #[error("a refund must be greater than 0")]
    NotPositive,
}

/// Reserves a refund against the committed totals: `captured` is the payin `amount`, `reserved`
/// the successful plus in-flight refunds. Returns the amount to refund (the whole remainder when
/// `requested` is `None`). Callers run this under a row lock so concurrent refunds serialize.
pub fn reserve_refund(
    status: PayinStatus,
    captured: i64,
    reserved: i64,
    requested: Option<i64>,
) -> Result<i64, RefundRefused> {
    if !status.refundable() {
        return Err(RefundRefused::NotRefundable(status));
    }
    let remaining = captured.saturating_sub(reserved).max(0);
    let amount = requested.unwrap_or(remaining);
    if amount <= 0 {
        return Err(if remaining == 0 {
            RefundRefused::ExceedsRemainder { remaining }
        } else {
            RefundRefused::NotPositive
        });
    }
    if amount > remaining {
        return Err(RefundRefused::ExceedsRemainder { remaining });
    }
    Ok(amount)
}

/// The payin status after a refund outcome (§8.2): the refunded total decides between
/// `PARTIALLY_REFUNDED` and `REFUNDED`; a PSP failure gives `REFUND_FAILED`.
pub fn status_after_refund(captured: i64, refunded_total: i64, succeeded: bool) -> PayinStatus {
    if !succeeded {
        PayinStatus::RefundFailed
    } else if refunded_total >= captured {
        PayinStatus::Refunded
    } else {
        PayinStatus::PartiallyRefunded
    }
}

/// One `statusHistory` entry of a payin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayinHistoryEntry {
    /// Status taken.
    pub status: PayinStatus,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why, if anything worth saying.
    pub reason: Option<String>,
}

/// The card of a payin: never the PAN, only what may be shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    /// Saved card used or created.
    pub card_id: Option<CardId>,
    /// `411111******1111`.
    pub mask: String,
    /// Brand from the BIN.
    pub brand: String,
    /// Keyed HMAC of the PAN.
    pub hash: String,
    /// Expiry month (1–12), kept to vault the card on success.
    pub exp_month: u8,
    /// Expiry year (four digits).
    pub exp_year: u16,
}

/// State of one refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundState {
    /// Reserved against the remainder; the PSP call is in flight.
    Pending,
    /// Refunded.
    Succeeded,
    /// Refused by the PSP (the reservation is released).
    Failed,
}

/// One refund of a payin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Id.
    pub id: RefundId,
    /// Minor units of the payin's executed currency.
    pub amount: i64,
    /// State.
    pub state: RefundState,
    /// PSP reference.
    pub psp_reference: Option<String>,
    /// When it was requested.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One PSP attempt of a payin (admin view, §13.7 `attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    /// Account tried.
    pub psp_account_id: PspAccountId,
    /// PSP reference, if any.
    pub psp_transaction_id: Option<String>,
    /// Amount sent (after this attempt's FX).
    pub amount: Money,
    /// `SUCCESS`, `DECLINED`, `FAILED`, `PENDING_3DS`, `ACCEPTED`, `AMBIGUOUS`, or `IN_FLIGHT`.
    pub outcome: String,
    /// Machine reason of a failure.
    pub detailed_status: Option<DetailedStatus>,
    /// Start.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// End, once answered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// PSP latency.
    pub latency_ms: Option<i64>,
}

/// A payin and everything recorded about it. Stored as one document beside a few indexed
/// columns; every change is a compare-and-set on `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payin {
    /// Id (`paymentId`).
    pub id: PayinId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Stable per (merchant, externalUserId).
    pub customer_id: CustomerId,
    /// Merchant reference, unique per merchant among payins.
    pub order_id: String,
    /// Executed amount (after FX).
    pub amount: Money,
    /// Requested amount.
    pub initial: Money,
    /// Current status.
    pub status: PayinStatus,
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
    /// Router requested or defaulted.
    pub router_id: Option<RouterId>,
    /// One-line routing summary.
    pub routing_reason: Option<String>,
    /// Account predicted at creation.
    pub predicted_psp_id: Option<PspAccountId>,
    /// Account of the latest attempt.
    pub processor_psp_id: Option<PspAccountId>,
    /// PSP reference of the latest attempt.
    pub psp_transaction_id: Option<String>,
    /// Card used, if paid by card.
    pub card: Option<CardInfo>,
    /// Method, once processing chose one.
    pub payment_method: Option<PaymentMethod>,
    /// Customer IP.
    pub ip_address: Option<String>,
    /// Customer user agent.
    pub user_agent: Option<String>,
    /// Cashier session, when created by the cashier.
    pub cashier_session_id: Option<String>,
    /// Vault the card if the payin succeeds.
    pub save_card: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Unprocessed past this → `TIMEOUT` (`EXPIRED`).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// In `PENDING_3DS` past this → `TIMEOUT` (`EXPIRED`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub three_ds_deadline: Option<OffsetDateTime>,
    /// PSP progress.
    pub dispatch: Dispatch,
    /// When the worker should look at this payin next.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_action_at: Option<OffsetDateTime>,
    /// Status queries made for an ambiguous outcome.
    pub sync_attempts: i64,
    /// When the latest submission marker was written.
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// Every status taken, oldest first.
    pub history: Vec<PayinHistoryEntry>,
    /// Every PSP attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// Every refund, oldest first (pending reservations included).
    pub refunds: Vec<Refund>,
    /// Routing decision detail for the admin view (JSON text, written by the server).
    pub routing_detail: Option<String>,
    /// FX conversion detail for the admin view (JSON text, written by the server).
    pub fx_detail: Option<String>,
    /// Compare-and-set version; bumped by every persisted change.
    pub version: i64,
}

/// An operation the current status does not allow (→ 409 `INVALID_STATE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payin is {status}; {action} is not allowed")]
pub struct InvalidPayinState {
    /// Status found.
    pub status: PayinStatus,
    /// Attempted action.
    pub action: &'static str,
}

impl Payin {
    /// Applies a status change: checks the table, appends history, stamps the time, sets or
    /// clears `statusReason`, and stops worker scheduling on a final status.
    pub fn apply(
        &mut self,
        to: PayinStatus,
        reason: Option<(DetailedStatus, String)>,
        history_reason: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(), InvalidPayinState> {
        if !self.status.can_become(to) {
            return Err(InvalidPayinState {
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
        self.history.push(PayinHistoryEntry {
            status: to,
            at: now,
            reason: history_reason,
        });
        self.updated_at = now;
        if to.is_final() {
            self.dispatch = Dispatch::Idle;
            self.next_action_at = None;
            self.three_ds_deadline = None;
        }
        Ok(())
    }

    /// Whether `process/*` may start now (§8.2: only in `CREATED`, before the expiry).
    pub fn check_processable(&self) -> Result<(), InvalidPayinState> {
        if self.status == PayinStatus::Created {
            Ok(())
        } else {
            Err(InvalidPayinState {
                status: self.status,
                action: "processing",
            })
        }
    }

    /// The waiting window that has elapsed, if any: unprocessed past `expires_at`, or in 3DS
    /// past its deadline. The caller applies `TIMEOUT` (`EXPIRED`) first.
    pub fn window_elapsed(&self, now: OffsetDateTime) -> Option<&'static str> {
        match self.status {
            PayinStatus::Created if now >= self.expires_at => {
                Some("Payin was not processed in time")
            }
            PayinStatus::Pending3ds if self.three_ds_deadline.is_some_and(|d| now >= d) => {
                Some("3DS challenge was not completed in time")
            }
            PayinStatus::Created
            | PayinStatus::Pending
            | PayinStatus::Pending3ds
            | PayinStatus::Success
            | PayinStatus::Refunded
            | PayinStatus::PartiallyRefunded
            | PayinStatus::Declined
            | PayinStatus::Failed
            | PayinStatus::Timeout
            | PayinStatus::RefundFailed => None,
        }
    }

    /// Minor units refunded successfully.
    pub fn refunded_total(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.state == RefundState::Succeeded)
            .map(|r| r.amount)
            .sum()
    }

    /// Minor units refunded or reserved by refunds in flight.
    pub fn reserved_total(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.state != RefundState::Failed)
            .map(|r| r.amount)
            .sum()
    }

    /// `transactionType`: `CARD` or `APM` once a method is known.
    pub fn transaction_type(&self) -> Option<&'static str> {
        self.payment_method.map(|m| match m {
            PaymentMethod::Card => "CARD",
            PaymentMethod::BankTransfer | PaymentMethod::EWallet | PaymentMethod::Crypto => "APM",
        })
    }
}

/// Whether a definite failure lets the payin try the next account (§9.2).
pub fn cascades(d: DetailedStatus) -> bool {
    matches!(
        d,
        DetailedStatus::GeneralDecline | DetailedStatus::DoNotHonor | DetailedStatus::PspError
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn final_statuses_only_move_through_refunds() {
        for s in PayinStatus::ALL {
            for t in PayinStatus::ALL {
                if s.is_final() && s.can_become(*t) {
                    assert!(s.refundable(), "{s} -> {t}");
                    assert!(matches!(
                        t,
                        PayinStatus::PartiallyRefunded
                            | PayinStatus::Refunded
                            | PayinStatus::RefundFailed
                    ));
                }
            }
        }
        assert!(PayinStatus::Created.can_become(PayinStatus::Pending));
        assert!(!PayinStatus::Created.can_become(PayinStatus::Success));
        assert!(PayinStatus::Pending.can_become(PayinStatus::Pending3ds));
        assert!(!PayinStatus::Refunded.can_become(PayinStatus::RefundFailed));
    }

    #[test]
    fn refund_rules() {
        assert_eq!(
            reserve_refund(PayinStatus::Success, 1000, 0, None),
            Ok(1000)
        );
        assert_eq!(
            reserve_refund(PayinStatus::Success, 1000, 300, Some(700)),
            Ok(700)
        );
        assert_eq!(
            reserve_refund(PayinStatus::Success, 1000, 300, Some(701)),
            Err(RefundRefused::ExceedsRemainder { remaining: 700 })
        );
        assert_eq!(
            reserve_refund(PayinStatus::Pending, 1000, 0, None),
            Err(RefundRefused::NotRefundable(PayinStatus::Pending))
        );
        assert_eq!(status_after_refund(1000, 1000, true), PayinStatus::Refunded);
        assert_eq!(
            status_after_refund(1000, 999, true),
            PayinStatus::PartiallyRefunded
        );
        assert_eq!(
            status_after_refund(1000, 0, false),
            PayinStatus::RefundFailed
        );
    }

    proptest! {
        /// Any sequence of refund requests, each reserved against the running total, never
        /// refunds more than was captured.
        #[test]
        fn refunds_never_exceed_the_capture(
            captured in 1i64..1_000_000,
            requests in proptest::collection::vec(proptest::option::of(1i64..600_000), 0..20),
            outcomes in proptest::collection::vec(any::<bool>(), 20),
        ) {
            let mut status = PayinStatus::Success;
            let mut refunded = 0i64;
            for (i, req) in requests.into_iter().enumerate() {
                if let Ok(amount) = reserve_refund(status, captured, refunded, req) {
                    prop_assert!(amount > 0 && refunded + amount <= captured);
                    let ok = outcomes[i];
                    if ok {
                        refunded += amount;
                    }
                    let next = status_after_refund(captured, refunded, ok);
                    prop_assert!(status.can_become(next), "{status} -> {next}");
                    status = next;
                }
                prop_assert!(refunded <= captured);
            }
        }
    }
}
