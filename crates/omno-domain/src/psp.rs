//! Vocabulary shared by routing, PSP connectors and flows: payment methods, directions,
//! `detailedStatus` values and the `statusReason` object (API.md §1.7), PSP accounts (§9.3).

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::ids::{MerchantId, PspAccountId};
use crate::money::Currency;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire spelling.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
            /// Parses the exact wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(concat!("invalid ", stringify!($name))))
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// How the customer pays or is paid.
    PaymentMethod {
        /// Card.
        Card = "CARD",
        /// Bank transfer.
        BankTransfer = "BANK_TRANSFER",
        /// E-wallet.
        EWallet = "E_WALLET",
        /// Crypto.
        Crypto = "CRYPTO",
    }
);

wire_enum!(
    /// Money in or out.
    Direction {
        /// Deposit.
        Payin = "PAYIN",
        /// Withdrawal.
        Payout = "PAYOUT",
    }
);

wire_enum!(
    /// `statusReason.detailedStatus` (API.md §1.7).
    DetailedStatus {
        /// Routing found no eligible PSP account.
        NoProviderAvailable = "NO_PROVIDER_AVAILABLE",
        /// Declined without a specific reason.
        GeneralDecline = "GENERAL_DECLINE",
        /// Insufficient funds.
        InsufficientFunds = "INSUFFICIENT_FUNDS",
        /// Card expired.
        CardExpired = "CARD_EXPIRED",
        /// Card invalid.
        InvalidCard = "INVALID_CARD",
        /// Do not honor.
        DoNotHonor = "DO_NOT_HONOR",
        /// Fraud block.
        SuspectedFraud = "SUSPECTED_FRAUD",
        /// 3DS failed.
        ThreeDsFailed = "THREE_DS_FAILED",
        /// Definite PSP technical error; nothing executed.
        PspError = "PSP_ERROR",
        /// PSP did not answer (pending: unknown; final: confirmed not executed).
        PspTimeout = "PSP_TIMEOUT",
        /// Rejected through the API.
        RejectedByMerchant = "REJECTED_BY_MERCHANT",
        /// A waiting window elapsed.
        Expired = "EXPIRED",
        /// The PSP refused the currency at execution.
        CurrencyNotSupported = "CURRENCY_NOT_SUPPORTED",
    }
);

/// `statusReason`: why a transaction has its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReason {
    /// Human text.
    pub reason: String,
    /// Machine reason.
    pub detailed_status: DetailedStatus,
    /// The transaction status the reason was recorded with.
    pub status: String,
}

impl StatusReason {
    /// §8.3: the sync window ended without an answer; the transaction (`status`, still
    /// `PENDING`) waits for the admin sync/resolve endpoints.
    pub fn manual_review(status: &str) -> StatusReason {
        StatusReason {
            reason: "manual review required".into(),
            detailed_status: DetailedStatus::PspTimeout,
            status: status.to_string(),
        }
    }
}

/// A merchant's PSP account, as routing and connectors see it (API.md §9.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PspAccount {
    /// Account id.
    pub id: PspAccountId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Unique per merchant.
    pub name: String,
    /// Connector kind (`simulator`).
    pub connector: String,
    /// Disabled accounts are never chosen.
    pub enabled: bool,
    /// Supported currencies, in FX preference order.
    pub currencies: Vec<Currency>,
    /// Served billing countries; empty = all.
    pub countries: Vec<CountryCode>,
    /// Served methods.
    pub methods: Vec<PaymentMethod>,
    /// Served directions.
    pub directions: Vec<Direction>,
    /// Only KYC-verified customers.
    pub kyc_required: bool,
    /// Simulator: latency added to synchronous calls.
    pub latency_ms: u32,
    /// Simulator: scripted decline for every submission.
    pub force_decline: Option<DetailedStatus>,
    /// Simulator: share of submissions declined, in 1/10000.
    pub decline_rate_bp: u32,
}
