//! The simulator PSP (API.md §10): deterministic and stateless.
//!
//! Every answer is a pure function of the transaction id, the amount, the account's scripted
//! settings and the time since submission, so any node, before or after a restart, answers a
//! status query the same way. The PSP reference is derived from the transaction id, which makes a
//! repeated submission idempotent at the "PSP" like a real idempotency key would.

use std::time::Duration;

use async_trait::async_trait;
use omno_domain::psp::DetailedStatus;
use sha2::{Digest, Sha256};

use omno_domain::psp::PaymentMethod;

use crate::{
    Definite, PayinOutcome, PayinQuery, PayinSubmission, PayoutQuery, PayoutSubmission,
    PspConnector, QueryOutcome, RefundOutcome, RefundSubmission, SubmitOutcome,
};

/// The simulator, configured with `simulator.delay_ms`.
#[derive(Debug, Clone)]
pub struct Simulator {
    delay: Duration,
}

impl Simulator {
    /// A simulator whose outcomes arrive `delay` after submission.
    pub fn new(delay: Duration) -> Self {
        Self { delay }
    }
}

/// `sim_` + 24 lowercase hex, derived from the transaction id.
pub fn psp_reference(transaction_id: &str) -> String {
    let digest = Sha256::digest(format!("sim:{transaction_id}").as_bytes());
    format!("sim_{}", &hex::encode(digest)[..24])
}

/// Scripted decline of §10: `forceDecline`, else `declineRate` drawn from
/// SHA-256(`<transaction id>:<attempt>`).
pub fn scripted_decline(
    force: Option<DetailedStatus>,
    decline_rate_bp: u32,
    transaction_id: &str,
    attempt: u32,
) -> Option<DetailedStatus> {
    if let Some(d) = force {
        return Some(d);
    }
    if decline_rate_bp == 0 {
        return None;
    }
    let digest = Sha256::digest(format!("{transaction_id}:{attempt}").as_bytes());
    let draw = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // draw / 2^32 < bp / 10000  ⇔  draw * 10000 < bp * 2^32
    (u64::from(draw) * 10_000 < u64::from(decline_rate_bp) << 32)
        .then_some(DetailedStatus::GeneralDecline)
}

fn reason_text(d: DetailedStatus) -> &'static str {
    match d {
        DetailedStatus::InsufficientFunds => "Insufficient funds",
        DetailedStatus::PspError => "PSP error",
        DetailedStatus::GeneralDecline => "Declined",
        DetailedStatus::DoNotHonor => "Do not honor",
        DetailedStatus::SuspectedFraud => "Suspected fraud",
        DetailedStatus::CurrencyNotSupported => "Currency not supported by the PSP account",
        DetailedStatus::NoProviderAvailable
        | DetailedStatus::CardExpired
        | DetailedStatus::InvalidCard
        | DetailedStatus::ThreeDsFailed
        | DetailedStatus::PspTimeout
        | DetailedStatus::RejectedByMerchant
        | DetailedStatus::Expired => "Declined",
    }
}

fn card_reason(d: DetailedStatus) -> &'static str {
    match d {
        DetailedStatus::InsufficientFunds => "Insufficient funds",
        DetailedStatus::CardExpired => "Card expired",
        DetailedStatus::InvalidCard => "Invalid card",
        _ => reason_text(d),
    }
}

fn failed(psp_transaction_id: Option<String>, d: DetailedStatus) -> Definite {
    Definite::Failed {
        psp_transaction_id,
        detailed_status: d,
        reason: reason_text(d).to_string(),
    }
}

/// The payout/APM amount rules: outcome by `minor % 100`; `None` for the timeout case (52).
fn amount_rule(minor: i64, reference: String) -> Option<Definite> {
    match minor.rem_euclid(100) {
        51 => Some(failed(Some(reference), DetailedStatus::InsufficientFunds)),
        52 => None,
        53 => Some(failed(Some(reference), DetailedStatus::PspError)),
        _ => Some(Definite::Succeeded {
            psp_transaction_id: reference,
        }),
    }
}

/// The test cards of §10 with a scripted outcome; any other valid card succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CardRule {
    Approve,
    Decline(DetailedStatus),
    Fail(DetailedStatus),
    ThreeDs,
}

fn card_rule(number: &str) -> CardRule {
    match number {
        "4000000000000002" => CardRule::Decline(DetailedStatus::GeneralDecline),
        "4000000000009995" => CardRule::Decline(DetailedStatus::InsufficientFunds),
        "4000000000003220" => CardRule::ThreeDs,
        "4000000000000119" => CardRule::Fail(DetailedStatus::PspError),
        "4000000000000069" => CardRule::Decline(DetailedStatus::CardExpired),
        _ => CardRule::Approve,
    }
}

fn payin_failure(d: DetailedStatus, declined: bool) -> PayinOutcome {
    let reason = reason_text(d).to_string();
    if declined {
        PayinOutcome::Declined {
            psp_transaction_id: None,
            detailed_status: d,
            reason,
        }
    } else {
        PayinOutcome::Failed {
            psp_transaction_id: None,
            detailed_status: d,
            reason,
        }
    }
}

#[async_trait]
impl PspConnector for Simulator {
    async fn submit_payin(&self, s: &PayinSubmission) -> PayinOutcome {
        if let Some(d) = scripted_decline(
            s.account.force_decline,
            s.account.decline_rate_bp,
            &s.transaction_id,
            s.attempt,
        ) {
            return payin_failure(d, d != DetailedStatus::PspError);
        }
        if s.account.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(s.account.latency_ms))).await;
        }
        if !s.account.currencies.contains(&s.amount.currency) {
            return payin_failure(DetailedStatus::CurrencyNotSupported, false);
        }
        if !s.account.methods.contains(&s.method) {
            return payin_failure(DetailedStatus::PspError, false);
        }
        let reference = psp_reference(&format!("{}:{}", s.transaction_id, s.attempt));
        if s.method == PaymentMethod::Card {
            return match card_rule(s.card_number.as_deref().unwrap_or("")) {
                CardRule::Approve => PayinOutcome::Succeeded {
                    psp_transaction_id: reference,
                },
                CardRule::ThreeDs => PayinOutcome::ThreeDsRequired {
                    psp_transaction_id: reference,
                },
                CardRule::Decline(d) => PayinOutcome::Declined {
                    psp_transaction_id: Some(reference),
                    detailed_status: d,
                    reason: card_reason(d).to_string(),
                },
                CardRule::Fail(d) => PayinOutcome::Failed {
                    psp_transaction_id: Some(reference),
                    detailed_status: d,
                    reason: reason_text(d).to_string(),
                },
            };
        }
        // APM: the outcome always arrives asynchronously (after the delay, possibly 0).
        match amount_rule(s.amount.amount.0, reference.clone()) {
            None => PayinOutcome::Ambiguous {
                psp_transaction_id: None,
            },
            Some(_) => PayinOutcome::Accepted {
                psp_transaction_id: reference,
                ready_after: self.delay,
            },
        }
    }

    async fn query_payin(&self, q: &PayinQuery) -> QueryOutcome {
        if q.method == PaymentMethod::Card {
            // A card charge the simulator did not answer was dropped: never executed.
            return QueryOutcome::NotExecuted;
        }
        let reference = psp_reference(&format!("{}:{}", q.transaction_id, q.attempt));
        match amount_rule(q.amount.amount.0, reference) {
            None => QueryOutcome::NotExecuted,
            Some(outcome) if q.now - q.submitted_at >= self.delay => QueryOutcome::Done(outcome),
            Some(_) => QueryOutcome::InProgress,
        }
    }

    async fn refund(&self, r: &RefundSubmission) -> RefundOutcome {
        if r.account.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(r.account.latency_ms))).await;
        }
        if r.amount.amount.0.rem_euclid(100) == 53 {
            return RefundOutcome::Failed {
                detailed_status: DetailedStatus::PspError,
                reason: "PSP error: refund refused".into(),
            };
        }
        RefundOutcome::Succeeded {
            psp_reference: psp_reference(&format!("refund:{}", r.refund_id)),
        }
    }

    async fn submit_payout(&self, s: &PayoutSubmission) -> SubmitOutcome {
        if let Some(d) = scripted_decline(
            s.account.force_decline,
            s.account.decline_rate_bp,
            &s.transaction_id,
            s.attempt,
        ) {
            return SubmitOutcome::Done(failed(None, d));
        }
        if s.account.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(s.account.latency_ms))).await;
        }
        if !s.account.currencies.contains(&s.amount.currency) {
            return SubmitOutcome::Done(failed(None, DetailedStatus::CurrencyNotSupported));
        }
        if let Some(m) = s.method
            && !s.account.methods.contains(&m)
        {
            return SubmitOutcome::Done(failed(None, DetailedStatus::PspError));
        }
        let reference = psp_reference(&s.transaction_id);
        match amount_rule(s.amount.amount.0, reference.clone()) {
            None => SubmitOutcome::Ambiguous {
                psp_transaction_id: None,
            },
            Some(outcome) if self.delay.is_zero() => SubmitOutcome::Done(outcome),
            Some(_) => SubmitOutcome::Accepted {
                psp_transaction_id: reference,
                ready_after: self.delay,
            },
        }
    }

    async fn query_payout(&self, q: &PayoutQuery) -> QueryOutcome {
        let reference = psp_reference(&q.transaction_id);
        match amount_rule(q.amount.amount.0, reference) {
            None => QueryOutcome::NotExecuted,
            Some(outcome) => {
                let elapsed = q.now - q.submitted_at;
                if elapsed < self.delay {
                    QueryOutcome::InProgress
                } else {
                    QueryOutcome::Done(outcome)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_sim_plus_24_hex_and_stable() {
        let r = psp_reference("019cebabac0c784783a8a7235f0e5af5");
        assert!(r.starts_with("sim_"));
        assert_eq!(r.len(), 28);
        assert!(
            r[4..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(r, psp_reference("019cebabac0c784783a8a7235f0e5af5"));
    }

    #[test]
    fn amount_rules() {
        assert!(matches!(
            amount_rule(1051, "r".into()),
            Some(Definite::Failed {
                detailed_status: DetailedStatus::InsufficientFunds,
                ..
            })
        ));
        assert!(amount_rule(1052, "r".into()).is_none());
        assert!(matches!(
            amount_rule(1053, "r".into()),
            Some(Definite::Failed {
                detailed_status: DetailedStatus::PspError,
                ..
            })
        ));
        assert!(matches!(
            amount_rule(15025, "r".into()),
            Some(Definite::Succeeded { .. })
        ));
    }

    #[test]
    fn decline_rate_extremes() {
        for i in 0..50 {
            let id = format!("tx{i}");
            assert_eq!(scripted_decline(None, 0, &id, 1), None);
            assert_eq!(
                scripted_decline(None, 10_000, &id, 1),
                Some(DetailedStatus::GeneralDecline)
            );
        }
        let declined = (0..2000)
            .filter(|i| scripted_decline(None, 2_500, &format!("t{i}"), 1).is_some())
            .count();
        assert!((400..600).contains(&declined), "{declined}");
    }
}
