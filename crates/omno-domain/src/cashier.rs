//! Cashier sessions (API.md §6, §11.2): one customer's hosted deposit and withdraw page.
//!
//! The session is the bearer of its page (a random UUIDv4). Its withdrawable balance changes only
//! through the merchant's balance call and through accepted withdrawals, each of which bumps
//! `balance_version`; a withdrawal is refused when it exceeds the balance, so concurrent
//! withdrawals (each a compare-and-set on the session in the transaction that creates the payout)
//! can never overdraw it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::customer::Customer;
use crate::ids::{CustomerId, MerchantId, RouterId};
use crate::money::Currency;
use crate::payout::ReturnUrls;

/// A cashier session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashierSession {
    /// Dashed UUIDv4.
    pub id: String,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Stable per (merchant, externalUserId).
    pub customer_id: CustomerId,
    /// As sent.
    pub customer: Customer,
    /// As sent.
    pub return_urls: ReturnUrls,
    /// Currency of deposits, withdrawals and the balance.
    pub currency: Currency,
    /// Fixed deposit amount (minor units), if any.
    pub amount: Option<i64>,
    /// Base of the transactions' `orderId` (`{base}-D{n}`, `{base}-W{n}`).
    pub order_base: String,
    /// As sent, default false.
    pub kyc_verified: bool,
    /// As sent, default 0.
    pub previous_transaction_count: i64,
    /// Webhook target of every transaction of the session.
    pub webhook_url: Option<String>,
    /// Router for the session's transactions.
    pub router_id: Option<RouterId>,
    /// Withdrawable balance (minor units).
    pub balance: i64,
    /// Starts at 1; +1 on every balance call and every withdrawal.
    pub balance_version: i64,
    /// Last deposit number used (`D{n}`).
    pub deposit_seq: i64,
    /// Last withdrawal number used (`W{n}`).
    pub withdraw_seq: i64,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The page stops working at this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Which kind of transaction the cashier creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashierKind {
    /// A payin (`D`).
    Deposit,
    /// A payout (`W`).
    Withdraw,
}

impl CashierSession {
    /// Whether the session has expired at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// The `orderId` of transaction number `n` of `kind`.
    pub fn order_id(&self, kind: CashierKind, n: i64) -> String {
        let letter = match kind {
            CashierKind::Deposit => 'D',
            CashierKind::Withdraw => 'W',
        };
        format!("{}-{letter}{n}", self.order_base)
    }

    /// The last number used for `kind`.
    pub fn seq(&self, kind: CashierKind) -> i64 {
        match kind {
            CashierKind::Deposit => self.deposit_seq,
            CashierKind::Withdraw => self.withdraw_seq,
        }
    }

    /// Checks a withdrawal of `amount` minor units against the balance.
    pub fn check_withdrawal(&self, amount: i64) -> Result<(), WithdrawalRefused> {
        if amount <= 0 {
            return Err(WithdrawalRefused::NotPositive);
        }
        if amount > self.balance {
            return Err(WithdrawalRefused::AboveBalance {
                balance: self.balance,
            });
        }
        Ok(())
    }
}

/// Why a withdrawal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawalRefused {
    /// Zero or negative.
    #[error("must be greater than 0")]
    NotPositive,
    /// More than the withdrawable balance.
    #[error("exceeds the available balance")]
    AboveBalance {
        /// Minor units available.
        balance: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(balance: i64) -> CashierSession {
        let t = OffsetDateTime::UNIX_EPOCH;
        CashierSession {
            id: "aadc1c72-3cb7-4734-a310-8f1c2411a859".into(),
            merchant_id: MerchantId(uuid::Uuid::nil()),
            customer_id: CustomerId(uuid::Uuid::nil()),
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
            return_urls: ReturnUrls {
                success: "IFRAME_POST_MESSAGE".into(),
                failure: "IFRAME_POST_MESSAGE".into(),
            },
            currency: Currency::parse("EUR").unwrap(),
            amount: None,
            order_base: "cs-1".into(),
            kyc_verified: false,
            previous_transaction_count: 0,
            webhook_url: None,
            router_id: None,
            balance,
            balance_version: 1,
            deposit_seq: 0,
            withdraw_seq: 2,
            created_at: t,
            expires_at: t + time::Duration::minutes(30),
        }
    }

    #[test]
    fn order_ids_and_withdrawal_rules() {
        let s = session(1000);
        assert_eq!(s.order_id(CashierKind::Deposit, 1), "cs-1-D1");
        assert_eq!(s.order_id(CashierKind::Withdraw, 3), "cs-1-W3");
        assert_eq!(s.seq(CashierKind::Withdraw), 2);
        assert_eq!(s.check_withdrawal(1000), Ok(()));
        assert_eq!(
            s.check_withdrawal(1001),
            Err(WithdrawalRefused::AboveBalance { balance: 1000 })
        );
        assert_eq!(s.check_withdrawal(0), Err(WithdrawalRefused::NotPositive));
        assert!(!s.expired(s.created_at));
        assert!(s.expired(s.expires_at));
    }
}
