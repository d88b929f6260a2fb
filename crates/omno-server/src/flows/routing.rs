//! Routing and FX for flows: runs the domain router over the cached configuration and records
//! the decision and the conversion on the transaction (admin view, `routingReason`).

use omno_domain::fx::Conversion;
use omno_domain::ids::RouterId;
use omno_domain::money::{Money, format_amount};
use omno_domain::psp::{Direction, PspAccount};
use omno_domain::router::{self, RouteDecision, RouteRequest, RoutingContext};
use serde::Serialize;
use time::OffsetDateTime;

use crate::clock::fmt_ts;
use crate::config_cache::MerchantConfig;
use crate::state::AppState;

/// A routing outcome: the decision, and the chosen account with the amount it executes.
pub struct Routed {
    /// The decision (reason, candidates).
    pub decision: RouteDecision,
    /// Chosen account, executed amount and the conversion applied, if any.
    pub chosen: Option<(PspAccount, Money, Option<Conversion>)>,
}

/// Routes `req` with the router `router_id` (else none) of `cfg`.
pub fn route(
    state: &AppState,
    cfg: &MerchantConfig,
    router_id: Option<RouterId>,
    req: &RouteRequest,
    now: OffsetDateTime,
) -> Routed {
    let max_age = state.settings.fx.max_rate_age_secs;
    let ctx = RoutingContext {
        router: router_id.and_then(|id| cfg.routers.get(&id)),
        accounts: &cfg.accounts,
        fx: &cfg.fx,
        now,
        max_rate_age_secs: max_age,
    };
    let decision = router::route(&ctx, req, rand::random::<u64>());
    let chosen = decision.chosen().and_then(|id| {
        let account = cfg.accounts.iter().find(|a| a.id == id)?;
        let (amount, conversion) =
            router::execution(account, req.amount, req.direction, &cfg.fx, now, max_age)?;
        Some((account.clone(), amount, conversion))
    });
    Routed { decision, chosen }
}

/// The executed amount and conversion on one given account (dispatch to the predicted account).
pub fn execution_on(
    state: &AppState,
    cfg: &MerchantConfig,
    account: &PspAccount,
    amount: Money,
    direction: Direction,
    now: OffsetDateTime,
) -> Option<(Money, Option<Conversion>)> {
    router::execution(
        account,
        amount,
        direction,
        &cfg.fx,
        now,
        state.settings.fx.max_rate_age_secs,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateView<'a> {
    psp_account_id: String,
    eligible: bool,
    drop_reason: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoutingView<'a> {
    router_id: Option<String>,
    rule_index: Option<usize>,
    rule_name: Option<&'a str>,
    used_fallback: bool,
    candidates: Vec<CandidateView<'a>>,
    chosen_psp_id: Option<String>,
}

/// `routing` of the admin view (§13.7), as JSON text.
pub fn routing_detail(d: &RouteDecision) -> String {
    let v = RoutingView {
        router_id: d.router_id.map(|r| r.hex()),
        rule_index: d.rule_index,
        rule_name: d.rule_name.as_deref(),
        used_fallback: d.used_fallback,
        candidates: d
            .candidates
            .iter()
            .map(|c| CandidateView {
                psp_account_id: c.psp_account_id.hex(),
                eligible: c.eligible,
                drop_reason: c.drop_reason.as_deref(),
            })
            .collect(),
        chosen_psp_id: d.chosen().map(|c| c.hex()),
    };
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

/// `fx` of the admin view (§13.7), as JSON text.
pub fn fx_detail(c: &Conversion) -> String {
    serde_json::json!({
        "rate": serde_json::value::RawValue::from_string(c.rate.rate.to_decimal_string()).ok(),
        "inverse": c.inverse,
        "markupBps": c.markup_bps,
        "source": c.rate.source,
        "rateUpdatedAt": fmt_ts(c.rate.updated_at),
        "base": c.rate.base.code(),
        "quote": c.rate.quote.code(),
        "convertedAmount": serde_json::value::RawValue::from_string(
            format_amount(c.amount.amount.0, c.amount.currency.exponent())
        ).ok(),
    })
    .to_string()
}
