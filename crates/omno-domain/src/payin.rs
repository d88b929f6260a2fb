//! The payin state machine (API.md §8.2) and the refund arithmetic of §5.6.
//!
//! Pure rules for the PayIn API (issue 4) to build on: which status changes exist, which statuses
//! are final, and how a refund moves a payin given the committed refunded total, so that the sum
//! of successful refunds can never exceed the captured amount.

use serde::{Deserialize, Serialize};

use crate::psp::wire_enum;

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
