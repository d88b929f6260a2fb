//! The routing engine (API.md §9.1–9.2): routers, rules, conditions, the eligibility filter with
//! FX, and the weighted choice of the first target.
//!
//! [`route`] is pure: the caller passes the router, the merchant's accounts, its FX table, the
//! clock reading and a uniformly random `u64`. The decision carries everything the admin view
//! shows (§13.7 `routing`) and the one-line `routingReason` (§7.1).
//!
//! # Decisions
//! - **Weights.** When at least one eligible target has `weight` > 0, the first account is drawn
//!   among the weighted ones with probability `weight / Σweights`; zero-weight targets are never
//!   drawn first then and keep their list position behind it (they remain cascade backups). When
//!   every weight is 0 the list order stands and `draw` is not used.
//! - **Duplicates.** An account listed twice appears once in [`RouteDecision::ordered`], at its
//!   first position (its weights add up for the draw); [`RouteDecision::candidates`] lists every
//!   target as written.
//! - **Empty lists.** A present but empty `currencies`, `countryCodes` or `methods` list contains
//!   nothing, so it matches nothing except that `methods` still matches an unknown method.
//! - **FX eligibility.** An account lacking the requested currency executes in the first of its
//!   currencies that has a usable rate (§9.4 step 1); if that conversion rounds to 0 (or is out of
//!   range) the account drops, even when a later currency would have worked.
//! - **`used_fallback`** is true whenever the fallback targets were the final candidates: no rule
//!   matched, or the matched rule's targets all dropped (even if `fallbackTargets` is empty).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::country::CountryCode;
use crate::fx::{self, Conversion, FxTable};
use crate::ids::{MerchantId, PspAccountId, RouterId};
use crate::money::{Currency, MinorUnits, Money};
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
    /// Known method, if any (unknown at payout creation and payin prediction).
    pub method: Option<PaymentMethod>,
}

/// One target of a rule or of the fallback list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// An account of the router's merchant.
    pub psp_account_id: PspAccountId,
    /// Share in the weighted draw, 0..=10000 (default 0).
    #[serde(default)]
    pub weight: u32,
}

/// The `amount` condition: the requested amount, converted to `currency` without markup when it
/// differs, is within `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountCondition {
    /// Currency of the bounds.
    pub currency: Currency,
    /// Inclusive lower bound, in minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<MinorUnits>,
    /// Inclusive upper bound, in minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<MinorUnits>,
}

/// An inclusive integer range with optional ends.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountRange {
    /// Inclusive lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// Inclusive upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

impl CountRange {
    /// True when `v` is within the range.
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// The conditions of a rule; absent conditions match anything, all present ones must match.
/// `Default` matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Conditions {
    /// Kind equals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Requested currency is in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currencies: Option<Vec<Currency>>,
    /// Billing country is in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_codes: Option<Vec<CountryCode>>,
    /// Equals `kycVerified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kyc_verified: Option<bool>,
    /// Requested amount (converted without markup) within bounds; no rate → no match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<AmountCondition>,
    /// `previousTransactionCount` within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_transaction_count: Option<CountRange>,
    /// Method is in the list; an unknown method matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<PaymentMethod>>,
}

impl Conditions {
    /// True when every present condition matches `req` (the `amount` condition converts with
    /// `fx` when its currency differs from the requested one).
    pub fn matches(
        &self,
        req: &RouteRequest,
        fx: &FxTable,
        now: OffsetDateTime,
        max_age_secs: u64,
    ) -> bool {
        self.matches_with(req, &mut |c| {
            fx::convert_plain(req.amount, c, fx, now, max_age_secs).map(|m| m.amount)
        })
    }

    /// [`Conditions::matches`] with the conversion of the requested amount supplied by the
    /// caller (`None` = no rate), so a router can convert once per currency.
    fn matches_with(
        &self,
        req: &RouteRequest,
        convert: &mut impl FnMut(Currency) -> Option<MinorUnits>,
    ) -> bool {
        if self.direction.is_some_and(|d| d != req.direction) {
            return false;
        }
        if let Some(list) = &self.currencies
            && !list.contains(&req.amount.currency)
        {
            return false;
        }
        if let Some(list) = &self.country_codes
            && !list.contains(&req.country)
        {
            return false;
        }
        if self.kyc_verified.is_some_and(|k| k != req.kyc_verified) {
            return false;
        }
        if let Some(range) = &self.previous_transaction_count
            && !range.contains(req.previous_transaction_count)
        {
            return false;
        }
        if let (Some(list), Some(method)) = (&self.methods, req.method)
            && !list.contains(&method)
        {
            return false;
        }
        if let Some(cond) = &self.amount {
            let converted = if cond.currency == req.amount.currency {
                req.amount.amount
            } else {
                let Some(v) = convert(cond.currency) else {
                    return false;
                };
                v
            };
            if cond.min.is_some_and(|m| converted < m) || cond.max.is_some_and(|m| converted > m) {
                return false;
            }
        }
        true
    }
}

/// Conversions of the requested amount already made during one routing decision: the `amount`
/// conditions of many rules usually share a currency.
struct ConversionMemo<'a> {
    req: &'a RouteRequest,
    fx: &'a FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
    seen: [Option<(Currency, Option<MinorUnits>)>; 4],
}

impl ConversionMemo<'_> {
    fn convert(&mut self, to: Currency) -> Option<MinorUnits> {
        let mut free = None;
        for (i, slot) in self.seen.iter().enumerate() {
            match slot {
                Some((c, v)) if *c == to => return *v,
                Some(_) => {}
                None => {
                    free = Some(i);
                    break;
                }
            }
        }
        let v = fx::convert_plain(self.req.amount, to, self.fx, self.now, self.max_age_secs)
            .map(|m| m.amount);
        if let Some(slot) = free.and_then(|i| self.seen.get_mut(i)) {
            *slot = Some((to, v));
        }
        v
    }
}

/// A rule: the first one (array order) whose conditions all match gives the candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Shown in the reason and the admin view.
    pub name: String,
    /// All must match.
    #[serde(default)]
    pub conditions: Conditions,
    /// Candidates, in order (≤ 20, validated by the server).
    pub targets: Vec<Target>,
}

/// A merchant's router (§9.1), in its storage form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Router {
    /// Router id.
    pub id: RouterId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Display name.
    pub name: String,
    /// Rules in evaluation order (≤ 100, validated by the server).
    pub rules: Vec<Rule>,
    /// Candidates when no rule matches or a matched rule's candidates all drop.
    #[serde(default)]
    pub fallback_targets: Vec<Target>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Router {
    /// Index of the first rule whose conditions all match (§9.1 step 2).
    pub fn matching_rule(
        &self,
        req: &RouteRequest,
        fx: &FxTable,
        now: OffsetDateTime,
        max_age_secs: u64,
    ) -> Option<usize> {
        let mut memo = ConversionMemo {
            req,
            fx,
            now,
            max_age_secs,
            seen: [None; 4],
        };
        self.rules
            .iter()
            .position(|r| r.conditions.matches_with(req, &mut |c| memo.convert(c)))
    }
}

/// Everything routing reads, in memory.
#[derive(Debug, Clone, Copy)]
pub struct RoutingContext<'a> {
    /// The router to apply (request `routerId`, else the merchant default); `None` = no route.
    pub router: Option<&'a Router>,
    /// The merchant's PSP accounts.
    pub accounts: &'a [PspAccount],
    /// The merchant's FX rates.
    pub fx: &'a FxTable,
    /// Clock reading, for rate staleness.
    pub now: OffsetDateTime,
    /// `fx.max_rate_age_secs` (0 = never stale).
    pub max_rate_age_secs: u64,
}

/// One target considered, with the outcome of the eligibility filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateCheck {
    /// The target's account.
    pub psp_account_id: PspAccountId,
    /// Passed the filter.
    pub eligible: bool,
    /// Why not, when not (`sim-main lacks CHF`, `unknown account`).
    pub drop_reason: Option<String>,
}

/// The outcome of routing, recorded on the transaction (§13.7 `routing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// Router used, if any.
    pub router_id: Option<RouterId>,
    /// Index of the matched rule, if any.
    pub rule_index: Option<usize>,
    /// Name of the matched rule, if any.
    pub rule_name: Option<String>,
    /// The fallback targets were the final candidates.
    pub used_fallback: bool,
    /// Every target considered (rule targets, then fallback targets if step 4 substituted
    /// them), with drop reasons.
    pub candidates: Vec<CandidateCheck>,
    /// The eligible accounts in final order (step 5); `ordered[0]` is the choice and the rest
    /// are the cascade order (§9.2).
    pub ordered: Vec<PspAccountId>,
    /// One line (§7.1 `routingReason`).
    pub reason: String,
}

impl RouteDecision {
    /// The chosen account, `None` when there is no route.
    pub fn chosen(&self) -> Option<PspAccountId> {
        self.ordered.first().copied()
    }
}

/// Why an account cannot take a request (§9.1 step 3), before it is spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ineligible {
    Disabled,
    Direction,
    Method(PaymentMethod),
    Country,
    Kyc,
    /// No supported currency and no usable rate.
    Currency,
    /// The conversion into `target` rounds to 0 or leaves the range.
    Conversion {
        target: Currency,
        zero: bool,
    },
}

fn check(
    account: &PspAccount,
    req: &RouteRequest,
    fx: &FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Result<(), Ineligible> {
    if !account.enabled {
        return Err(Ineligible::Disabled);
    }
    if !account.directions.contains(&req.direction) {
        return Err(Ineligible::Direction);
    }
    if let Some(m) = req.method
        && !account.methods.contains(&m)
    {
        return Err(Ineligible::Method(m));
    }
    if !account.countries.is_empty() && !account.countries.contains(&req.country) {
        return Err(Ineligible::Country);
    }
    if account.kyc_required && !req.kyc_verified {
        return Err(Ineligible::Kyc);
    }
    if account.currencies.contains(&req.amount.currency) {
        return Ok(());
    }
    let (target, rate, inverse) = fx_target(account, req.amount.currency, fx, now, max_age_secs)
        .ok_or(Ineligible::Currency)?;
    match fx::convert_with(req.amount, target, rate, inverse, Some(req.direction)) {
        Some(0) => Err(Ineligible::Conversion { target, zero: true }),
        Some(v) if v.unsigned_abs() <= crate::money::MAX_MINOR.unsigned_abs() => Ok(()),
        Some(_) | None => Err(Ineligible::Conversion {
            target,
            zero: false,
        }),
    }
}

/// §9.4 step 1: the first of the account's currencies with a usable rate from `from`.
fn fx_target<'f>(
    account: &PspAccount,
    from: Currency,
    fx: &'f FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Option<(Currency, &'f fx::FxRate, bool)> {
    account.currencies.iter().find_map(|&c| {
        fx.lookup(from, c, now, max_age_secs)
            .map(|(r, inverse)| (c, r, inverse))
    })
}

fn drop_text(account: &PspAccount, req: &RouteRequest, why: Ineligible) -> String {
    let name = &account.name;
    let currency = req.amount.currency;
    match why {
        Ineligible::Disabled => format!("{name} is disabled"),
        Ineligible::Direction => format!("{name} does not serve {}", req.direction),
        Ineligible::Method(m) => format!("{name} does not serve {m}"),
        Ineligible::Country => format!("{name} does not serve {}", req.country),
        Ineligible::Kyc => format!("{name} requires KYC"),
        Ineligible::Currency => format!("{name} lacks {currency}"),
        Ineligible::Conversion { target, zero: true } => {
            format!(
                "{name} lacks {currency} ({} converts to 0 {target})",
                req.amount
            )
        }
        Ineligible::Conversion {
            target,
            zero: false,
        } => format!(
            "{name} lacks {currency} ({} out of range in {target})",
            req.amount
        ),
    }
}

/// §9.1 step 3 for one account, including FX eligibility (supports the currency directly, or
/// the first of its currencies with a usable rate converts to a non-zero amount). `None` =
/// eligible; otherwise the drop reason (`sim-main lacks CHF`).
pub fn ineligibility(
    account: &PspAccount,
    req: &RouteRequest,
    fx: &FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Option<String> {
    check(account, req, fx, now, max_age_secs)
        .err()
        .map(|why| drop_text(account, req, why))
}

/// §9.4 step 1: the amount the account executes for `amount` — unchanged when it supports the
/// currency, else converted into the first of its currencies with a usable rate (markup by
/// `direction`). `None` when no currency qualifies or that conversion fails or rounds to 0.
pub fn execution(
    account: &PspAccount,
    amount: Money,
    direction: Direction,
    fx: &FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Option<(Money, Option<Conversion>)> {
    if account.currencies.contains(&amount.currency) {
        return Some((amount, None));
    }
    let (target, _, _) = fx_target(account, amount.currency, fx, now, max_age_secs)?;
    let conversion = fx::convert(amount, target, direction, fx, now, max_age_secs)?;
    Some((conversion.amount, Some(conversion)))
}

/// Drop reason of a target whose account is not among the merchant's accounts.
pub const UNKNOWN_ACCOUNT: &str = "unknown account";

/// An eligible target during ordering.
struct Eligible<'a> {
    account: &'a PspAccount,
    weight: u32,
}

/// Filters `targets` (order kept), recording every check.
fn filter<'a>(
    targets: &[Target],
    ctx: &RoutingContext<'a>,
    req: &RouteRequest,
    candidates: &mut Vec<CandidateCheck>,
    eligible: &mut Vec<Eligible<'a>>,
) {
    for t in targets {
        let account = ctx.accounts.iter().find(|a| a.id == t.psp_account_id);
        let outcome = match account {
            None => Err(UNKNOWN_ACCOUNT.to_owned()),
            Some(a) => check(a, req, ctx.fx, ctx.now, ctx.max_rate_age_secs)
                .map(|()| a)
                .map_err(|why| drop_text(a, req, why)),
        };
        match outcome {
            Ok(a) => {
                eligible.push(Eligible {
                    account: a,
                    weight: t.weight,
                });
                candidates.push(CandidateCheck {
                    psp_account_id: t.psp_account_id,
                    eligible: true,
                    drop_reason: None,
                });
            }
            Err(why) => candidates.push(CandidateCheck {
                psp_account_id: t.psp_account_id,
                eligible: false,
                drop_reason: Some(why),
            }),
        }
    }
}

/// Step 5: the index of the first account (weighted draw when any weight > 0) and the weight it
/// was drawn with (`None` in list order).
fn pick_first(eligible: &[Eligible<'_>], draw: u64) -> (usize, Option<u32>) {
    let total: u64 = eligible.iter().map(|e| u64::from(e.weight)).sum();
    if total == 0 {
        return (0, None);
    }
    // Scale the draw onto [0, total): the high bits of draw × total (no modulo bias to speak of).
    let point = u64::try_from((u128::from(draw) * u128::from(total)) >> 64).unwrap_or(0);
    let mut acc = 0u64;
    for (i, e) in eligible.iter().enumerate() {
        acc += u64::from(e.weight);
        if e.weight > 0 && point < acc {
            return (i, Some(e.weight));
        }
    }
    (0, None) // unreachable: point < total
}

/// §9.1 steps 1–5. `draw` is a uniformly random `u64`, used only when some remaining target
/// has `weight` > 0: the first account is drawn among the weighted targets with probability
/// `weight / Σweights`, and the rest (zero-weight targets included) follow in list order.
pub fn route(ctx: &RoutingContext<'_>, req: &RouteRequest, draw: u64) -> RouteDecision {
    let Some(router) = ctx.router else {
        return RouteDecision {
            router_id: None,
            rule_index: None,
            rule_name: None,
            used_fallback: false,
            candidates: Vec::new(),
            ordered: Vec::new(),
            reason: "no router".to_owned(),
        };
    };
    let rule_index = router.matching_rule(req, ctx.fx, ctx.now, ctx.max_rate_age_secs);
    let rule = rule_index.and_then(|i| router.rules.get(i));
    let capacity = rule.map_or(0, |r| r.targets.len()) + router.fallback_targets.len();
    let mut candidates = Vec::with_capacity(capacity);
    let mut eligible = Vec::with_capacity(capacity);
    let mut used_fallback = true;
    if let Some(rule) = rule {
        filter(&rule.targets, ctx, req, &mut candidates, &mut eligible);
        used_fallback = eligible.is_empty();
    }
    if used_fallback {
        filter(
            &router.fallback_targets,
            ctx,
            req,
            &mut candidates,
            &mut eligible,
        );
    }

    let mut reason = String::with_capacity(64);
    match (rule_index, rule) {
        (Some(i), Some(r)) => {
            let _ = write!(reason, "rule #{i} \"{}\"", r.name);
            if used_fallback {
                reason.push_str(": no eligible target; fallback");
            }
        }
        (None, _) | (Some(_), None) => reason.push_str("fallback"),
    }

    let ordered = if eligible.is_empty() {
        reason.clear();
        reason.push_str("no eligible PSP account: ");
        no_route_detail(&mut reason, &candidates, rule);
        Vec::new()
    } else {
        let (first, weight) = pick_first(&eligible, draw);
        let mut ordered = Vec::with_capacity(eligible.len());
        if let Some(e) = eligible.get(first) {
            ordered.push(e.account.id);
            let _ = write!(reason, " -> {}", e.account.name);
            if let Some(w) = weight {
                let _ = write!(reason, " (weight {w})");
            }
        }
        for e in &eligible {
            if !ordered.contains(&e.account.id) {
                ordered.push(e.account.id);
            }
        }
        ordered
    };

    RouteDecision {
        router_id: Some(router.id),
        rule_index,
        rule_name: rule.map(|r| r.name.clone()),
        used_fallback,
        candidates,
        ordered,
        reason,
    }
}

/// The tail of a "no eligible PSP account: …" reason: the distinct drop reasons, or why there
/// was no candidate at all.
fn no_route_detail(reason: &mut String, candidates: &[CandidateCheck], rule: Option<&Rule>) {
    if candidates.is_empty() {
        match rule {
            Some(r) => {
                let _ = write!(
                    reason,
                    "rule \"{}\" has no targets and no fallback targets",
                    r.name
                );
            }
            None => reason.push_str("no rule matched and no fallback targets"),
        }
        return;
    }
    let mut first = true;
    for (i, c) in candidates.iter().enumerate() {
        let Some(why) = c.drop_reason.as_deref() else {
            continue;
        };
        let repeated = candidates.get(..i).is_some_and(|before| {
            before
                .iter()
                .any(|p| p.psp_account_id == c.psp_account_id && p.drop_reason == c.drop_reason)
        });
        if repeated {
            continue;
        }
        if !first {
            reason.push_str("; ");
        }
        first = false;
        if why == UNKNOWN_ACCOUNT {
            let _ = write!(reason, "{UNKNOWN_ACCOUNT} {}", c.psp_account_id);
        } else {
            reason.push_str(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fx::{FxRate, Rate};
    use time::Duration;
    use uuid::Uuid;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn cc(code: &str) -> CountryCode {
        CountryCode::parse(code).unwrap()
    }

    fn id(n: u128) -> PspAccountId {
        PspAccountId(Uuid::from_u128(n))
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    /// An account serving everything in EUR and USD.
    fn account(n: u128, name: &str) -> PspAccount {
        PspAccount {
            id: id(n),
            merchant_id: MerchantId(Uuid::from_u128(999)),
            name: name.into(),
            connector: "simulator".into(),
            enabled: true,
            currencies: vec![cur("EUR"), cur("USD")],
            countries: vec![],
            methods: PaymentMethod::ALL.to_vec(),
            directions: Direction::ALL.to_vec(),
            kyc_required: false,
            latency_ms: 0,
            force_decline: None,
            decline_rate_bp: 0,
        }
    }

    fn rate(base: &str, quote: &str, r: &str) -> FxRate {
        FxRate {
            base: cur(base),
            quote: cur(quote),
            rate: Rate::parse(r).unwrap(),
            markup_bps: 0,
            source: "manual".into(),
            updated_at: now(),
        }
    }

    fn fx_table() -> FxTable {
        FxTable {
            rates: vec![rate("GEL", "EUR", "0.34"), rate("EUR", "JPY", "160")],
        }
    }

    fn req(minor: i64, currency: &str) -> RouteRequest {
        RouteRequest {
            direction: Direction::Payin,
            amount: Money::new(MinorUnits(minor), cur(currency)),
            country: cc("DE"),
            kyc_verified: false,
            previous_transaction_count: 0,
            method: Some(PaymentMethod::Card),
        }
    }

    fn target(n: u128, weight: u32) -> Target {
        Target {
            psp_account_id: id(n),
            weight,
        }
    }

    fn rule(name: &str, conditions: Conditions, targets: Vec<Target>) -> Rule {
        Rule {
            name: name.into(),
            conditions,
            targets,
        }
    }

    fn router(rules: Vec<Rule>, fallback: Vec<Target>) -> Router {
        Router {
            id: RouterId(Uuid::from_u128(7)),
            merchant_id: MerchantId(Uuid::from_u128(999)),
            name: "r".into(),
            rules,
            fallback_targets: fallback,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn decide(
        r: &Router,
        accounts: &[PspAccount],
        fx: &FxTable,
        q: &RouteRequest,
    ) -> RouteDecision {
        let ctx = RoutingContext {
            router: Some(r),
            accounts,
            fx,
            now: now(),
            max_rate_age_secs: 0,
        };
        route(&ctx, q, 0)
    }

    #[test]
    fn every_condition_type() {
        let accounts = [account(1, "rule-acc"), account(2, "fallback-acc")];
        let fx = fx_table();
        let base = Conditions::default;
        let amount = |c: &str, min: Option<i64>, max: Option<i64>| {
            Some(AmountCondition {
                currency: cur(c),
                min: min.map(MinorUnits),
                max: max.map(MinorUnits),
            })
        };
        let range = |min, max| Some(CountRange { min, max });
        // (case, conditions, request, rule matches)
        let cases: Vec<(&str, Conditions, RouteRequest, bool)> = vec![
            ("empty matches all", base(), req(100, "EUR"), true),
            (
                "direction =",
                Conditions {
                    direction: Some(Direction::Payin),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "direction ≠",
                Conditions {
                    direction: Some(Direction::Payout),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "currency in",
                Conditions {
                    currencies: Some(vec![cur("USD"), cur("EUR")]),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "currency not in",
                Conditions {
                    currencies: Some(vec![cur("USD")]),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "currency empty list",
                Conditions {
                    currencies: Some(vec![]),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "country in",
                Conditions {
                    country_codes: Some(vec![cc("AT"), cc("DE")]),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "country not in",
                Conditions {
                    country_codes: Some(vec![cc("FR")]),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "kyc = false",
                Conditions {
                    kyc_verified: Some(false),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "kyc ≠",
                Conditions {
                    kyc_verified: Some(true),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "amount same currency within",
                Conditions {
                    amount: amount("EUR", Some(100), Some(200)),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "amount same currency at max",
                Conditions {
                    amount: amount("EUR", Some(1), Some(200)),
                    ..base()
                },
                req(200, "EUR"),
                true,
            ),
            (
                "amount same currency below",
                Conditions {
                    amount: amount("EUR", Some(101), None),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "amount same currency above",
                Conditions {
                    amount: amount("EUR", None, Some(99)),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            // 100.00 GEL = 34.00 EUR via the direct GEL→EUR rate.
            (
                "amount fx direct within",
                Conditions {
                    amount: amount("EUR", Some(3_400), Some(3_400)),
                    ..base()
                },
                req(10_000, "GEL"),
                true,
            ),
            (
                "amount fx direct outside",
                Conditions {
                    amount: amount("EUR", Some(3_401), None),
                    ..base()
                },
                req(10_000, "GEL"),
                false,
            ),
            // 34.00 EUR = 100.00 GEL via the inverse rate.
            (
                "amount fx inverse within",
                Conditions {
                    amount: amount("GEL", Some(10_000), Some(10_000)),
                    ..base()
                },
                req(3_400, "EUR"),
                true,
            ),
            (
                "amount fx inverse outside",
                Conditions {
                    amount: amount("GEL", None, Some(9_999)),
                    ..base()
                },
                req(3_400, "EUR"),
                false,
            ),
            (
                "amount no rate",
                Conditions {
                    amount: amount("CHF", None, None),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "count within",
                Conditions {
                    previous_transaction_count: range(Some(0), Some(0)),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "count below min",
                Conditions {
                    previous_transaction_count: range(Some(1), None),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "count above max",
                Conditions {
                    previous_transaction_count: range(None, Some(-1)),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "method in",
                Conditions {
                    methods: Some(vec![PaymentMethod::Card]),
                    ..base()
                },
                req(100, "EUR"),
                true,
            ),
            (
                "method not in",
                Conditions {
                    methods: Some(vec![PaymentMethod::Crypto]),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
            (
                "method unknown matches",
                Conditions {
                    methods: Some(vec![PaymentMethod::Crypto]),
                    ..base()
                },
                RouteRequest {
                    method: None,
                    ..req(100, "EUR")
                },
                true,
            ),
            (
                "method unknown, empty list",
                Conditions {
                    methods: Some(vec![]),
                    ..base()
                },
                RouteRequest {
                    method: None,
                    ..req(100, "EUR")
                },
                true,
            ),
            (
                "all present must match",
                Conditions {
                    direction: Some(Direction::Payin),
                    currencies: Some(vec![cur("EUR")]),
                    country_codes: Some(vec![cc("DE")]),
                    kyc_verified: Some(true),
                    amount: amount("EUR", Some(1), None),
                    previous_transaction_count: range(None, Some(5)),
                    methods: Some(vec![PaymentMethod::Card]),
                },
                RouteRequest {
                    kyc_verified: true,
                    ..req(100, "EUR")
                },
                true,
            ),
            (
                "one failing condition is enough",
                Conditions {
                    direction: Some(Direction::Payin),
                    currencies: Some(vec![cur("EUR")]),
                    kyc_verified: Some(true),
                    ..base()
                },
                req(100, "EUR"),
                false,
            ),
        ];
        for (case, conditions, q, matches) in cases {
            let r = router(
                vec![rule("R", conditions.clone(), vec![target(1, 0)])],
                vec![target(2, 0)],
            );
            let d = decide(&r, &accounts, &fx, &q);
            assert_eq!(conditions.matches(&q, &fx, now(), 0), matches, "{case}");
            if matches {
                assert_eq!(d.rule_index, Some(0), "{case}");
                assert_eq!(d.rule_name.as_deref(), Some("R"), "{case}");
                assert!(!d.used_fallback, "{case}");
                assert_eq!(d.chosen(), Some(id(1)), "{case}");
                assert_eq!(d.reason, "rule #0 \"R\" -> rule-acc", "{case}");
            } else {
                assert_eq!(d.rule_index, None, "{case}");
                assert!(d.used_fallback, "{case}");
                assert_eq!(d.chosen(), Some(id(2)), "{case}");
                assert_eq!(d.reason, "fallback -> fallback-acc", "{case}");
            }
        }
    }

    #[test]
    fn amount_condition_ignores_stale_rates() {
        let mut fx = fx_table();
        fx.rates[0].updated_at = now() - Duration::seconds(3_600);
        let c = Conditions {
            amount: Some(AmountCondition {
                currency: cur("EUR"),
                min: None,
                max: None,
            }),
            ..Conditions::default()
        };
        assert!(c.matches(&req(10_000, "GEL"), &fx, now(), 0));
        assert!(c.matches(&req(10_000, "GEL"), &fx, now(), 3_600));
        assert!(!c.matches(&req(10_000, "GEL"), &fx, now(), 3_599));
    }

    #[test]
    fn first_matching_rule_wins() {
        let accounts = [account(1, "a"), account(2, "b"), account(3, "c")];
        let fx = fx_table();
        let r = router(
            vec![
                rule(
                    "payouts",
                    Conditions {
                        direction: Some(Direction::Payout),
                        ..Default::default()
                    },
                    vec![target(1, 0)],
                ),
                rule(
                    "eur",
                    Conditions {
                        currencies: Some(vec![cur("EUR")]),
                        ..Default::default()
                    },
                    vec![target(2, 0)],
                ),
                rule("all", Conditions::default(), vec![target(3, 0)]),
            ],
            vec![],
        );
        let d = decide(&r, &accounts, &fx, &req(100, "EUR"));
        assert_eq!((d.rule_index, d.chosen()), (Some(1), Some(id(2))));
        assert_eq!(d.reason, "rule #1 \"eur\" -> b");
        let d = decide(&r, &accounts, &fx, &req(100, "USD"));
        assert_eq!((d.rule_index, d.chosen()), (Some(2), Some(id(3))));
        let d = decide(
            &r,
            &accounts,
            &fx,
            &RouteRequest {
                direction: Direction::Payout,
                ..req(100, "EUR")
            },
        );
        assert_eq!((d.rule_index, d.chosen()), (Some(0), Some(id(1))));
    }

    #[test]
    fn every_drop_reason() {
        let fx = FxTable {
            rates: vec![
                rate("EUR", "JPY", "0.001"),
                rate("CHF", "USD", "1.1"),
                rate("EUR", "GBP", "0.85"),
            ],
        };
        let disabled = PspAccount {
            enabled: false,
            ..account(1, "off")
        };
        let payout_only = PspAccount {
            directions: vec![Direction::Payout],
            ..account(2, "po")
        };
        let no_card = PspAccount {
            methods: vec![PaymentMethod::Crypto],
            ..account(3, "crypto")
        };
        let fr_only = PspAccount {
            countries: vec![cc("FR")],
            ..account(4, "fr")
        };
        let kyc = PspAccount {
            kyc_required: true,
            ..account(5, "kyc")
        };
        let chf_only = PspAccount {
            currencies: vec![cur("CHF")],
            ..account(6, "chf")
        };
        let jpy_only = PspAccount {
            currencies: vec![cur("JPY"), cur("GBP")],
            ..account(7, "jpy")
        };
        let gbp = PspAccount {
            currencies: vec![cur("GBP")],
            ..account(8, "gbp")
        };
        let q = req(100, "EUR"); // 1.00 EUR, card, DE, not KYC'd, payin
        let cases: [(&PspAccount, Option<&str>); 8] = [
            (&disabled, Some("off is disabled")),
            (&payout_only, Some("po does not serve PAYIN")),
            (&no_card, Some("crypto does not serve CARD")),
            (&fr_only, Some("fr does not serve DE")),
            (&kyc, Some("kyc requires KYC")),
            (&chf_only, Some("chf lacks EUR")),
            // 1.00 EUR × 0.001 = 0.1 JPY → 0, and the first rated currency decides.
            (&jpy_only, Some("jpy lacks EUR (1 EUR converts to 0 JPY)")),
            (&gbp, None),
        ];
        for (a, want) in cases {
            assert_eq!(
                ineligibility(a, &q, &fx, now(), 0).as_deref(),
                want,
                "{}",
                a.name
            );
        }
        // Method unknown: not a reason; KYC verified: not a reason; country list contains DE.
        let lenient = RouteRequest {
            method: None,
            kyc_verified: true,
            country: cc("FR"),
            ..q.clone()
        };
        for a in [&no_card, &kyc, &fr_only] {
            assert_eq!(
                ineligibility(a, &lenient, &fx, now(), 0),
                None,
                "{}",
                a.name
            );
        }
        // The same reasons through route(), with an unknown account in the list.
        let accounts = [
            disabled,
            payout_only,
            no_card,
            fr_only,
            kyc,
            chf_only,
            jpy_only,
        ];
        let r = router(vec![], (1..=7).chain([42]).map(|n| target(n, 0)).collect());
        let d = decide(&r, &accounts, &fx, &q);
        assert_eq!(d.chosen(), None);
        assert!(d.ordered.is_empty());
        assert_eq!(d.candidates.len(), 8);
        assert!(d.candidates.iter().all(|c| !c.eligible));
        assert_eq!(
            d.candidates[7].drop_reason.as_deref(),
            Some("unknown account")
        );
        assert_eq!(
            d.reason,
            format!(
                "no eligible PSP account: off is disabled; po does not serve PAYIN; crypto does not serve CARD; \
                 fr does not serve DE; kyc requires KYC; chf lacks EUR; jpy lacks EUR (1 EUR converts to 0 JPY); \
                 unknown account {}",
                id(42)
            )
        );
    }

    #[test]
    fn fx_eligibility_and_execution() {
        let mut fx = fx_table();
        let gel_only = PspAccount {
            currencies: vec![cur("CHF"), cur("GEL")],
            ..account(1, "gel")
        };
        let q = req(3_400, "EUR");
        assert_eq!(ineligibility(&gel_only, &q, &fx, now(), 0), None);
        let (m, conv) = execution(&gel_only, q.amount, Direction::Payin, &fx, now(), 0).unwrap();
        assert_eq!(m, Money::new(MinorUnits(10_000), cur("GEL")));
        let conv = conv.unwrap();
        assert!(conv.inverse);
        assert_eq!(conv.rate.rate.to_decimal_string(), "0.34");
        // Supported directly: unchanged, no conversion.
        let plain = account(2, "eur");
        assert_eq!(
            execution(&plain, q.amount, Direction::Payin, &fx, now(), 0),
            Some((q.amount, None))
        );
        // A stale rate is no rate.
        fx.rates[0].updated_at = now() - Duration::seconds(120);
        assert_eq!(
            ineligibility(&gel_only, &q, &fx, now(), 60).as_deref(),
            Some("gel lacks EUR")
        );
        assert_eq!(
            execution(&gel_only, q.amount, Direction::Payin, &fx, now(), 60),
            None
        );
        // Markup by direction: payout with a 100 % markup converts to 0.
        fx.rates[0].markup_bps = 10_000;
        let payout = RouteRequest {
            direction: Direction::Payout,
            ..q.clone()
        };
        assert_eq!(
            ineligibility(&gel_only, &payout, &fx, now(), 0).as_deref(),
            Some("gel lacks EUR (34 EUR converts to 0 GEL)")
        );
        assert_eq!(
            execution(&gel_only, q.amount, Direction::Payout, &fx, now(), 0),
            None
        );
        assert!(execution(&gel_only, q.amount, Direction::Payin, &fx, now(), 0).is_some());
    }

    #[test]
    fn fallback_when_rule_candidates_all_drop() {
        let accounts = [
            PspAccount {
                enabled: false,
                ..account(1, "off")
            },
            account(2, "fb"),
        ];
        let fx = fx_table();
        let r = router(
            vec![rule("USD", Conditions::default(), vec![target(1, 100)])],
            vec![target(2, 0)],
        );
        let d = decide(&r, &accounts, &fx, &req(100, "EUR"));
        assert_eq!(d.rule_index, Some(0));
        assert_eq!(d.rule_name.as_deref(), Some("USD"));
        assert!(d.used_fallback);
        assert_eq!(d.ordered, vec![id(2)]);
        assert_eq!(
            d.candidates,
            vec![
                CandidateCheck {
                    psp_account_id: id(1),
                    eligible: false,
                    drop_reason: Some("off is disabled".into())
                },
                CandidateCheck {
                    psp_account_id: id(2),
                    eligible: true,
                    drop_reason: None
                },
            ]
        );
        assert_eq!(
            d.reason,
            "rule #0 \"USD\": no eligible target; fallback -> fb"
        );
        // Fallback targets are never appended when a rule target is eligible.
        let accounts = [account(1, "on"), account(2, "fb")];
        let d = decide(&r, &accounts, &fx, &req(100, "EUR"));
        assert!(!d.used_fallback);
        assert_eq!(d.ordered, vec![id(1)]);
        assert_eq!(d.candidates.len(), 1);
        assert_eq!(d.reason, "rule #0 \"USD\" -> on (weight 100)");
    }

    #[test]
    fn fallback_when_no_rule_matches_and_no_route() {
        let accounts = [
            account(1, "a"),
            PspAccount {
                currencies: vec![cur("EUR")],
                ..account(2, "sim-main")
            },
        ];
        let fx = fx_table();
        let only_usd = rule(
            "USD",
            Conditions {
                currencies: Some(vec![cur("USD")]),
                ..Default::default()
            },
            vec![target(1, 0)],
        );
        let r = router(vec![only_usd.clone()], vec![target(2, 0)]);
        let d = decide(&r, &accounts, &fx, &req(100, "EUR"));
        assert_eq!(
            (d.rule_index, d.used_fallback, d.chosen()),
            (None, true, Some(id(2)))
        );
        assert_eq!(d.reason, "fallback -> sim-main");
        // CHF: no rule, fallback drops → no route.
        let d = decide(&r, &accounts, &fx, &req(100, "CHF"));
        assert_eq!(d.chosen(), None);
        assert_eq!(d.router_id, Some(RouterId(Uuid::from_u128(7))));
        assert_eq!(d.reason, "no eligible PSP account: sim-main lacks CHF");
        // Matched rule dropping, fallback dropping: both reasons, in order.
        let r2 = router(
            vec![rule("all", Conditions::default(), vec![target(1, 0)])],
            vec![target(2, 0)],
        );
        let d = decide(&r2, &accounts, &fx, &req(100, "CHF"));
        assert_eq!((d.rule_index, d.used_fallback), (Some(0), true));
        assert_eq!(
            d.reason,
            "no eligible PSP account: a lacks CHF; sim-main lacks CHF"
        );
        // Nothing to consider at all.
        let empty = router(vec![only_usd], vec![]);
        let d = decide(&empty, &accounts, &fx, &req(100, "EUR"));
        assert_eq!(
            d.reason,
            "no eligible PSP account: no rule matched and no fallback targets"
        );
        let no_targets = router(vec![rule("x", Conditions::default(), vec![])], vec![]);
        let d = decide(&no_targets, &accounts, &fx, &req(100, "EUR"));
        assert_eq!(
            d.reason,
            "no eligible PSP account: rule \"x\" has no targets and no fallback targets"
        );
        assert!(d.used_fallback);
        // No router.
        let ctx = RoutingContext {
            router: None,
            accounts: &accounts,
            fx: &fx,
            now: now(),
            max_rate_age_secs: 0,
        };
        let d = route(&ctx, &req(100, "EUR"), 0);
        assert_eq!(
            (d.router_id, d.chosen(), d.reason.as_str()),
            (None, None, "no router")
        );
        assert!(d.candidates.is_empty());
    }

    #[test]
    fn ordering_weights_zero_weights_and_duplicates() {
        let accounts = [account(1, "a"), account(2, "b"), account(3, "c")];
        let fx = fx_table();
        let mk = |targets| router(vec![rule("w", Conditions::default(), targets)], vec![]);
        let ctx_route = |r: &Router, draw| {
            let ctx = RoutingContext {
                router: Some(r),
                accounts: &accounts,
                fx: &fx,
                now: now(),
                max_rate_age_secs: 0,
            };
            route(&ctx, &req(100, "EUR"), draw)
        };
        // All zero: list order whatever the draw.
        let r = mk(vec![target(2, 0), target(1, 0), target(3, 0)]);
        for draw in [0, u64::MAX / 2, u64::MAX] {
            assert_eq!(ctx_route(&r, draw).ordered, vec![id(2), id(1), id(3)]);
        }
        // Zero-weight targets are never first when some weight is positive; the rest keep list order.
        let r = mk(vec![target(1, 0), target(2, 1), target(3, 3)]);
        assert_eq!(ctx_route(&r, 0).ordered, vec![id(2), id(1), id(3)]);
        assert_eq!(
            ctx_route(&r, u64::MAX / 4 - 1).ordered,
            vec![id(2), id(1), id(3)]
        );
        assert_eq!(
            ctx_route(&r, u64::MAX / 4 + 1).ordered,
            vec![id(3), id(1), id(2)]
        );
        let d = ctx_route(&r, u64::MAX);
        assert_eq!(d.ordered, vec![id(3), id(1), id(2)]);
        assert_eq!(d.reason, "rule #0 \"w\" -> c (weight 3)");
        // Duplicates appear once, at their first position.
        let r = mk(vec![target(1, 0), target(2, 0), target(1, 0)]);
        let d = ctx_route(&r, 0);
        assert_eq!(d.ordered, vec![id(1), id(2)]);
        assert_eq!(d.candidates.len(), 3);
        // Only eligible weights count: a dropped weighted target cannot be drawn.
        let accounts2 = [
            PspAccount {
                enabled: false,
                ..account(1, "a")
            },
            account(2, "b"),
        ];
        let r = mk(vec![target(1, 10_000), target(2, 0)]);
        let ctx = RoutingContext {
            router: Some(&r),
            accounts: &accounts2,
            fx: &fx,
            now: now(),
            max_rate_age_secs: 0,
        };
        let d = route(&ctx, &req(100, "EUR"), 0);
        assert_eq!(d.ordered, vec![id(2)]);
        assert_eq!(d.reason, "rule #0 \"w\" -> b");
    }

    /// splitmix64 (Steele, Lea, Flood 2014): a tiny deterministic PRNG for the split test.
    fn splitmix64(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn volume_split_70_30() {
        let accounts = [account(1, "seventy"), account(2, "thirty")];
        let fx = fx_table();
        let r = router(
            vec![rule(
                "split",
                Conditions::default(),
                vec![target(1, 70), target(2, 30)],
            )],
            vec![],
        );
        let ctx = RoutingContext {
            router: Some(&r),
            accounts: &accounts,
            fx: &fx,
            now: now(),
            max_rate_age_secs: 0,
        };
        let q = req(100, "EUR");
        let mut state = 0x5eed_u64;
        let n = 100_000;
        let mut first = 0u32;
        for _ in 0..n {
            let d = route(&ctx, &q, splitmix64(&mut state));
            match d.chosen() {
                Some(c) if c == id(1) => {
                    first += 1;
                    assert_eq!(d.ordered, vec![id(1), id(2)]);
                }
                Some(_) => assert_eq!(d.ordered, vec![id(2), id(1)]),
                None => panic!("no route"),
            }
        }
        let share = f64::from(first) / f64::from(n);
        assert!((share - 0.70).abs() <= 0.01, "share {share}");
    }

    #[test]
    fn storage_serde_round_trips() {
        let r = router(
            vec![rule(
                "EU cards",
                Conditions {
                    direction: Some(Direction::Payin),
                    methods: Some(vec![PaymentMethod::Card]),
                    country_codes: Some(vec![cc("DE")]),
                    amount: Some(AmountCondition {
                        currency: cur("EUR"),
                        min: Some(MinorUnits(500)),
                        max: None,
                    }),
                    previous_transaction_count: Some(CountRange {
                        min: Some(1),
                        max: None,
                    }),
                    ..Default::default()
                },
                vec![target(1, 70), target(2, 30)],
            )],
            vec![target(2, 0)],
        );
        let json = serde_json::to_string(&r).unwrap();
        let back: Router = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        // Weight and absent conditions default.
        let t: Target =
            serde_json::from_str(&format!("{{\"psp_account_id\":\"{}\"}}", id(1))).unwrap();
        assert_eq!(t.weight, 0);
        let c: Conditions = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Conditions::default());
        let d = decide(
            &r,
            &[account(1, "a"), account(2, "b")],
            &fx_table(),
            &req(600, "EUR"),
        );
        let back: RouteDecision =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
