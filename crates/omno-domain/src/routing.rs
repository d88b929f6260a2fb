//! Choosing a PSP account for a transaction (API.md §9.1).
//!
//! This is the router boundary: [`route`] takes the merchant's accounts and the transaction's
//! facts and returns a [`RouteDecision`] with its reason. For now it implements the placeholder
//! policy "the merchant's first eligible account" with the eligibility filter of §9.1 step 3
//! (without FX); the full rule engine replaces the body, not the signature.

use crate::country::CountryCode;
use crate::ids::{PspAccountId, RouterId};
use crate::money::Money;
use crate::psp::{Direction, PaymentMethod, PspAccount};

/// The facts routing looks at.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    /// Payin or payout.
    pub direction: Direction,
    /// Requested amount and currency.
    pub amount: Money,
    /// `customer.billing.countryCode`.
    pub country: CountryCode,
    /// As sent.
    pub kyc_verified: bool,
    /// As sent.
    pub previous_transaction_count: i64,
    /// Known method, if any (unknown at payout creation).
    pub method: Option<PaymentMethod>,
}

/// The outcome of routing, recorded on the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// Router used, if any.
    pub router_id: Option<RouterId>,
    /// Ordered eligible candidates; the first is the choice.
    pub candidates: Vec<PspAccountId>,
    /// One-line summary (`routingReason`).
    pub reason: String,
}

impl RouteDecision {
    /// The chosen account.
    pub fn chosen(&self) -> Option<PspAccountId> {
        self.candidates.first().copied()
    }
}

/// Why an account is not eligible, or `None` when it is (§9.1 step 3, without FX).
pub fn ineligibility(account: &PspAccount, req: &RouteRequest) -> Option<String> {
    if !account.enabled {
        return Some(format!("{} is disabled", account.name));
    }
    if !account.directions.contains(&req.direction) {
        return Some(format!("{} does not serve {}", account.name, req.direction));
    }
    if let Some(m) = req.method
        && !account.methods.contains(&m)
    {
        return Some(format!("{} does not serve {m}", account.name));
    }
    if !account.countries.is_empty() && !account.countries.contains(&req.country) {
        return Some(format!(
            "{} does not serve {}",
            account.name,
            req.country.as_str()
        ));
    }
    if account.kyc_required && !req.kyc_verified {
        return Some(format!("{} requires KYC", account.name));
    }
    if !account.currencies.contains(&req.amount.currency) {
        return Some(format!(
            "{} lacks {}",
            account.name,
            req.amount.currency.code()
        ));
    }
    None
}

/// Routes `req` over `accounts` (in the merchant's order): every eligible account, in order.
pub fn route(
    router_id: Option<RouterId>,
    accounts: &[PspAccount],
    req: &RouteRequest,
) -> RouteDecision {
    let mut candidates = Vec::new();
    let mut drops = Vec::new();
    for a in accounts {
        match ineligibility(a, req) {
            None => candidates.push(a),
            Some(why) => drops.push(why),
        }
    }
    let reason = match candidates.first() {
        Some(a) => format!("first eligible account -> {}", a.name),
        None if accounts.is_empty() => {
            "no eligible PSP account: merchant has no PSP account".into()
        }
        None => format!("no eligible PSP account: {}", drops.join("; ")),
    };
    RouteDecision {
        router_id,
        candidates: candidates.iter().map(|a| a.id).collect(),
        reason,
    }
}
