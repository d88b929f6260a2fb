//! Admin API for routing configuration (API.md §9, §13.2): PSP accounts, routers, FX rates.
//! Every change bumps the configuration version so every node's cache reloads.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use omno_domain::country::CountryCode;
use omno_domain::errors::FieldErrors;
use omno_domain::fx::Rate;
use omno_domain::ids::{MerchantId, PspAccountId, RouterId};
use omno_domain::money::{Currency, MinorUnits, format_amount, parse_balance};
use omno_domain::psp::{DetailedStatus, Direction, PaymentMethod, PspAccount};
use omno_domain::router::{AmountCondition, Conditions, CountRange, Router, Rule, Target};
use omno_domain::validate;
use omno_store::{FxRateRecord, RouterRecord};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::AdminAuth;
use crate::clock::{fmt_ts, trunc_ms};
use crate::config_cache;
use crate::error::ApiError;
use crate::reply::{AppPath, Body, Reply, to_json};
use crate::state::AppState;
use crate::wire::ErrorEnvelope;
use crate::wire::parse::Obj;

/// The configuration admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_psp_account, list_psp_accounts))
        .routes(routes!(
            get_psp_account,
            patch_psp_account,
            delete_psp_account
        ))
        .routes(routes!(create_router, list_routers))
        .routes(routes!(get_router, replace_router, delete_router))
        .routes(routes!(list_fx_rates))
        .routes(routes!(put_fx_rate, delete_fx_rate))
}

pub(crate) async fn merchant_of(state: &AppState, raw: &str) -> Result<MerchantId, ApiError> {
    let id = MerchantId::parse(raw).ok_or(ApiError::NotFound)?;
    state
        .store
        .get_merchant(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(id)
}

async fn changed(state: &AppState, merchant: MerchantId) -> Result<(), ApiError> {
    config_cache::changed(&state.config, &*state.store, merchant).await
}

fn raw_number(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// PSP accounts

/// `settings` of a PSP account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PspSettingsView {
    latency_ms: u32,
}

/// `simulator` of a PSP account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatorView {
    force_decline: Option<String>,
    #[schema(value_type = f64)]
    decline_rate: Box<RawValue>,
}

/// A PSP account (§9.3).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PspAccountView {
    id: String,
    merchant_id: String,
    name: String,
    connector: String,
    enabled: bool,
    currencies: Vec<String>,
    countries: Vec<String>,
    methods: Vec<String>,
    directions: Vec<String>,
    kyc_required: bool,
    settings: PspSettingsView,
    simulator: SimulatorView,
    created_at: String,
    updated_at: String,
}

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct PspAccountList {
    data: Vec<PspAccountView>,
}

async fn account_views(
    state: &AppState,
    merchant: MerchantId,
    only: Option<PspAccountId>,
) -> Result<Vec<PspAccountView>, ApiError> {
    let times = state.store.psp_account_times(merchant).await?;
    let accounts = state.store.list_psp_accounts(merchant).await?;
    Ok(accounts
        .iter()
        .filter(|a| only.is_none_or(|o| o == a.id))
        .map(|a| {
            let (created, updated) = times
                .iter()
                .find(|t| t.0 == a.id)
                .map(|t| (t.1, t.2))
                .unwrap_or((
                    time::OffsetDateTime::UNIX_EPOCH,
                    time::OffsetDateTime::UNIX_EPOCH,
                ));
            PspAccountView {
                id: a.id.hex(),
                merchant_id: a.merchant_id.hex(),
                name: a.name.clone(),
                connector: a.connector.clone(),
                enabled: a.enabled,
                currencies: a.currencies.iter().map(|c| c.code().to_string()).collect(),
                countries: a.countries.iter().map(|c| c.as_str().to_string()).collect(),
                methods: a.methods.iter().map(|m| m.as_str().to_string()).collect(),
                directions: a
                    .directions
                    .iter()
                    .map(|d| d.as_str().to_string())
                    .collect(),
                kyc_required: a.kyc_required,
                settings: PspSettingsView {
                    latency_ms: a.latency_ms,
                },
                simulator: SimulatorView {
                    force_decline: a.force_decline.map(|d| d.as_str().to_string()),
                    decline_rate: raw_number(format_amount(i64::from(a.decline_rate_bp), 4)),
                },
                created_at: fmt_ts(created),
                updated_at: fmt_ts(updated),
            }
        })
        .collect())
}

fn parse_list<T>(
    o: &Obj<'_>,
    name: &str,
    required_non_empty: bool,
    errs: &mut FieldErrors,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Option<Vec<T>> {
    let list = o.strings(name, required_non_empty, errs)?;
    if required_non_empty && list.is_empty() {
        errs.add(o.path_of(name), "must not be empty");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, s) in list.iter().enumerate() {
        match parse(s) {
            Some(v) => out.push(v),
            None => {
                errs.add(
                    format!("{}[{i}]", o.path_of(name)),
                    format!("must be {what}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

const FORCE_DECLINES: [DetailedStatus; 5] = [
    DetailedStatus::GeneralDecline,
    DetailedStatus::DoNotHonor,
    DetailedStatus::InsufficientFunds,
    DetailedStatus::SuspectedFraud,
    DetailedStatus::PspError,
];

/// Applies the fields of a create (all required ones) or PATCH body to `a`.
fn apply_account(body: &[u8], a: &mut PspAccount, creating: bool) -> Result<(), ApiError> {
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    if let Some(name) = o.string("name", creating, &mut errs) {
        match validate::non_blank(&name, 255) {
            Ok(()) => a.name = name,
            Err(m) => errs.add("name", m),
        }
    }
    if let Some(c) = o.string("connector", creating, &mut errs) {
        if c == "simulator" {
            a.connector = c;
        } else {
            errs.add("connector", "must be simulator");
        }
    }
    if let Some(b) = o.boolean("enabled", false, &mut errs) {
        a.enabled = b;
    }
    if let Some(v) = parse_list(
        &o,
        "currencies",
        creating,
        &mut errs,
        |s| Currency::parse(s).ok(),
        "an active ISO 4217 code",
    ) {
        if v.is_empty() {
            errs.add("currencies", "must not be empty");
        }
        a.currencies = v;
    }
    if let Some(v) = parse_list(
        &o,
        "countries",
        false,
        &mut errs,
        |s| CountryCode::parse(s).ok(),
        "an ISO 3166-1 alpha-2 code",
    ) {
        a.countries = v;
    }
    if let Some(v) = parse_list(
        &o,
        "methods",
        creating,
        &mut errs,
        PaymentMethod::parse,
        "CARD, BANK_TRANSFER, E_WALLET or CRYPTO",
    ) {
        if v.is_empty() {
            errs.add("methods", "must not be empty");
        }
        a.methods = v;
    }
    if let Some(v) = parse_list(
        &o,
        "directions",
        creating,
        &mut errs,
        Direction::parse,
        "PAYIN or PAYOUT",
    ) {
        if v.is_empty() {
            errs.add("directions", "must not be empty");
        }
        a.directions = v;
    }
    if let Some(b) = o.boolean("kycRequired", false, &mut errs) {
        a.kyc_required = b;
    }
    if let Some(mut st) = o.object("settings", false, &mut errs) {
        if let Some(ms) = st.integer("latencyMs", false, 0, 30_000, &mut errs) {
            a.latency_ms = ms as u32;
        }
        o.put_child("settings", st);
    }
    if let Some(mut sim) = o.object("simulator", false, &mut errs) {
        if sim.is_null("forceDecline") {
            a.force_decline = None;
        } else if let Some(d) = sim.string("forceDecline", false, &mut errs) {
            match DetailedStatus::parse(&d).filter(|d| FORCE_DECLINES.contains(d)) {
                Some(d) => a.force_decline = Some(d),
                None => errs.add(
                    "simulator.forceDecline",
                    "must be null or one of GENERAL_DECLINE, DO_NOT_HONOR, INSUFFICIENT_FUNDS, SUSPECTED_FRAUD, PSP_ERROR",
                ),
            }
        }
        if let Some(text) = sim.number_text("declineRate", false, &mut errs) {
            match parse_balance(text, 4) {
                Ok(MinorUnits(bp)) if bp <= 10_000 => a.decline_rate_bp = bp as u32,
                Ok(_) | Err(_) => errs.add(
                    "simulator.declineRate",
                    "must be a number from 0 to 1 with at most 4 decimals",
                ),
            }
        }
        o.put_child("simulator", sim);
    }
    errs.into_result().map_err(ApiError::Validation)
}

async fn name_taken(state: &AppState, a: &PspAccount) -> Result<bool, ApiError> {
    Ok(state
        .store
        .list_psp_accounts(a.merchant_id)
        .await?
        .iter()
        .any(|o| o.name == a.name && o.id != a.id))
}

/// Create a PSP account.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/psp-accounts", tag = "Admin",
    operation_id = "adminCreatePspAccount", params(("merchantId" = String, Path)),
    responses((status = 201, body = PspAccountView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_psp_account(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let mut a = PspAccount {
        id: PspAccountId(Uuid::now_v7()),
        merchant_id,
        name: String::new(),
        connector: String::new(),
        enabled: true,
        currencies: vec![],
        countries: vec![],
        methods: vec![],
        directions: vec![],
        kyc_required: false,
        latency_ms: 0,
        force_decline: None,
        decline_rate_bp: 0,
    };
    apply_account(&body, &mut a, true)?;
    if name_taken(&state, &a).await? {
        return Err(ApiError::field(
            "name",
            "is already used by another PSP account",
        ));
    }
    let now = trunc_ms(state.clock.now());
    state.store.insert_psp_account(&a, now).await?;
    changed(&state, merchant_id).await?;
    let view = account_views(&state, merchant_id, Some(a.id)).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        to_json(&view.first())?,
    ))
}

/// List PSP accounts.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/psp-accounts", tag = "Admin",
    operation_id = "adminListPspAccounts", params(("merchantId" = String, Path)),
    responses((status = 200, body = PspAccountList), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_psp_accounts(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    Ok(Reply::ok(to_json(&PspAccountList {
        data: account_views(&state, merchant_id, None).await?,
    })?))
}

async fn load_account(state: &AppState, merchant: &str, id: &str) -> Result<PspAccount, ApiError> {
    let merchant_id = merchant_of(state, merchant).await?;
    let id = PspAccountId::parse(id).ok_or(ApiError::NotFound)?;
    state
        .store
        .list_psp_accounts(merchant_id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or(ApiError::NotFound)
}

/// Read a PSP account.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/psp-accounts/{pspAccountId}", tag = "Admin",
    operation_id = "adminGetPspAccount", params(("merchantId" = String, Path), ("pspAccountId" = String, Path)),
    responses((status = 200, body = PspAccountView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn get_psp_account(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<Reply, ApiError> {
    let a = load_account(&state, &merchant, &id).await?;
    let view = account_views(&state, a.merchant_id, Some(a.id)).await?;
    Ok(Reply::ok(to_json(&view.first())?))
}

/// Change a PSP account (only the fields sent).
#[utoipa::path(patch, path = "/admin/merchants/{merchantId}/psp-accounts/{pspAccountId}", tag = "Admin",
    operation_id = "adminPatchPspAccount", params(("merchantId" = String, Path), ("pspAccountId" = String, Path)),
    responses((status = 200, body = PspAccountView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn patch_psp_account(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let mut a = load_account(&state, &merchant, &id).await?;
    apply_account(&body, &mut a, false)?;
    if name_taken(&state, &a).await? {
        return Err(ApiError::field(
            "name",
            "is already used by another PSP account",
        ));
    }
    let now = trunc_ms(state.clock.now());
    if !state.store.update_psp_account(&a, now).await? {
        return Err(ApiError::NotFound);
    }
    changed(&state, a.merchant_id).await?;
    let view = account_views(&state, a.merchant_id, Some(a.id)).await?;
    Ok(Reply::ok(to_json(&view.first())?))
}

/// Delete a PSP account (409 while a router uses it).
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/psp-accounts/{pspAccountId}", tag = "Admin",
    operation_id = "adminDeletePspAccount", params(("merchantId" = String, Path), ("pspAccountId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn delete_psp_account(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let a = load_account(&state, &merchant, &id).await?;
    let cfg = state.config.get(&*state.store, a.merchant_id).await?;
    let used = cfg.routers.values().any(|r| {
        r.fallback_targets.iter().any(|t| t.psp_account_id == a.id)
            || r.rules
                .iter()
                .any(|rule| rule.targets.iter().any(|t| t.psp_account_id == a.id))
    });
    if used {
        return Err(ApiError::InvalidState(
            "the PSP account is used by a router".into(),
        ));
    }
    state.store.delete_psp_account(a.merchant_id, a.id).await?;
    changed(&state, a.merchant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Routers

/// A routing target.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterTargetView {
    psp_account_id: String,
    weight: u32,
}

/// `conditions.amount`.
#[derive(Serialize, ToSchema)]
pub struct AmountConditionView {
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    min: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    max: Option<Box<RawValue>>,
}

/// `conditions.previousTransactionCount`.
#[derive(Serialize, ToSchema)]
pub struct CountRangeView {
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
}

/// Rule conditions; absent conditions match anything.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currencies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_codes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kyc_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<AmountConditionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_transaction_count: Option<CountRangeView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    methods: Option<Vec<String>>,
}

/// A rule.
#[derive(Serialize, ToSchema)]
pub struct RuleView {
    name: String,
    conditions: ConditionsView,
    targets: Vec<RouterTargetView>,
}

/// A router (§9.1).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterView {
    id: String,
    merchant_id: String,
    name: String,
    rules: Vec<RuleView>,
    fallback_targets: Vec<RouterTargetView>,
    created_at: String,
    updated_at: String,
}

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct RouterList {
    data: Vec<RouterView>,
}

fn targets_view(t: &[Target]) -> Vec<RouterTargetView> {
    t.iter()
        .map(|t| RouterTargetView {
            psp_account_id: t.psp_account_id.hex(),
            weight: t.weight,
        })
        .collect()
}

fn router_view(r: &Router) -> RouterView {
    let codes = |v: &Vec<Currency>| v.iter().map(|c| c.code().to_string()).collect();
    RouterView {
        id: r.id.hex(),
        merchant_id: r.merchant_id.hex(),
        name: r.name.clone(),
        rules: r
            .rules
            .iter()
            .map(|rule| {
                let c = &rule.conditions;
                RuleView {
                    name: rule.name.clone(),
                    conditions: ConditionsView {
                        direction: c.direction.map(|d| d.as_str().to_string()),
                        currencies: c.currencies.as_ref().map(codes),
                        country_codes: c
                            .country_codes
                            .as_ref()
                            .map(|v| v.iter().map(|c| c.as_str().to_string()).collect()),
                        kyc_verified: c.kyc_verified,
                        amount: c.amount.as_ref().map(|a| AmountConditionView {
                            currency: a.currency.code().to_string(),
                            min: a
                                .min
                                .map(|m| raw_number(format_amount(m.0, a.currency.exponent()))),
                            max: a
                                .max
                                .map(|m| raw_number(format_amount(m.0, a.currency.exponent()))),
                        }),
                        previous_transaction_count: c.previous_transaction_count.as_ref().map(
                            |r| CountRangeView {
                                min: r.min,
                                max: r.max,
                            },
                        ),
                        methods: c
                            .methods
                            .as_ref()
                            .map(|v| v.iter().map(|m| m.as_str().to_string()).collect()),
                    },
                    targets: targets_view(&rule.targets),
                }
            })
            .collect(),
        fallback_targets: targets_view(&r.fallback_targets),
        created_at: fmt_ts(r.created_at),
        updated_at: fmt_ts(r.updated_at),
    }
}

fn parse_targets(
    o: &Obj<'_>,
    name: &str,
    accounts: &HashSet<PspAccountId>,
    errs: &mut FieldErrors,
) -> Vec<Target> {
    let Some(items) = o.objects(name, false, errs) else {
        return vec![];
    };
    if items.len() > 20 {
        errs.add(o.path_of(name), "must have at most 20 targets");
    }
    let mut out = Vec::new();
    for mut t in items {
        let id = t.string("pspAccountId", true, errs).and_then(|s| {
            let id = PspAccountId::parse(&s).filter(|id| accounts.contains(id));
            if id.is_none() {
                errs.add(
                    t.path_of("pspAccountId"),
                    "must be a PSP account of this merchant",
                );
            }
            id
        });
        let weight = t.integer("weight", false, 0, 10_000, errs).unwrap_or(0);
        if let Some(id) = id {
            out.push(Target {
                psp_account_id: id,
                weight: weight as u32,
            });
        }
    }
    out
}

fn parse_conditions(c: &mut Obj<'_>, errs: &mut FieldErrors) -> Conditions {
    let mut out = Conditions::default();
    if let Some(d) = c.string("direction", false, errs) {
        match Direction::parse(&d) {
            Some(d) => out.direction = Some(d),
            None => errs.add(c.path_of("direction"), "must be PAYIN or PAYOUT"),
        }
    }
    out.currencies = parse_list(
        c,
        "currencies",
        false,
        errs,
        |s| Currency::parse(s).ok(),
        "an active ISO 4217 code",
    );
    out.country_codes = parse_list(
        c,
        "countryCodes",
        false,
        errs,
        |s| CountryCode::parse(s).ok(),
        "an ISO 3166-1 alpha-2 code",
    );
    out.kyc_verified = c.boolean("kycVerified", false, errs);
    out.methods = parse_list(
        c,
        "methods",
        false,
        errs,
        PaymentMethod::parse,
        "CARD, BANK_TRANSFER, E_WALLET or CRYPTO",
    );
    if let Some(mut a) = c.object("amount", false, errs) {
        let currency = a
            .string("currency", true, errs)
            .and_then(|s| a.check("currency", Currency::parse(&s), errs));
        let mut bound = |name: &str, errs: &mut FieldErrors| -> Option<MinorUnits> {
            let text = a.number_text(name, false, errs)?;
            let cur = currency?;
            match parse_balance(text, cur.exponent()) {
                Ok(m) => Some(m),
                Err(e) => {
                    errs.add(a.path_of(name), e.to_string());
                    None
                }
            }
        };
        let (min, max) = (bound("min", errs), bound("max", errs));
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            errs.add(a.path_of("max"), "must not be below min");
        }
        if let Some(currency) = currency {
            out.amount = Some(AmountCondition { currency, min, max });
        }
    }
    if let Some(mut p) = c.object("previousTransactionCount", false, errs) {
        let min = p.integer("min", false, 0, i64::from(i32::MAX), errs);
        let max = p.integer("max", false, 0, i64::from(i32::MAX), errs);
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            errs.add(p.path_of("max"), "must not be below min");
        }
        out.previous_transaction_count = Some(CountRange { min, max });
    }
    out
}

/// Parses a router body (create or PUT), checking every account reference.
async fn parse_router(
    state: &AppState,
    merchant: MerchantId,
    body: &[u8],
    id: RouterId,
    created_at: time::OffsetDateTime,
) -> Result<Router, ApiError> {
    let accounts: HashSet<PspAccountId> = state
        .store
        .list_psp_accounts(merchant)
        .await?
        .iter()
        .map(|a| a.id)
        .collect();
    let mut o = Obj::root(body)?;
    let mut errs = FieldErrors::new();
    let name = o
        .string("name", true, &mut errs)
        .and_then(|s| errs.take("name", validate::non_blank(&s, 255).map(|()| s)));
    let mut rules = Vec::new();
    if let Some(items) = o.objects("rules", false, &mut errs) {
        if items.len() > 100 {
            errs.add("rules", "must have at most 100 rules");
        }
        for mut r in items {
            let rule_name = r.string("name", false, &mut errs).unwrap_or_default();
            if let Err(m) = validate::max_len(&rule_name, 255) {
                errs.add(r.path_of("name"), m);
            }
            let conditions = match r.object("conditions", false, &mut errs) {
                Some(mut c) => parse_conditions(&mut c, &mut errs),
                None => Conditions::default(),
            };
            let targets = parse_targets(&r, "targets", &accounts, &mut errs);
            rules.push(Rule {
                name: rule_name,
                conditions,
                targets,
            });
        }
    }
    let fallback_targets = parse_targets(&o, "fallbackTargets", &accounts, &mut errs);
    errs.into_result().map_err(ApiError::Validation)?;
    let now = trunc_ms(state.clock.now());
    Ok(Router {
        id,
        merchant_id: merchant,
        name: name.unwrap_or_default(),
        rules,
        fallback_targets,
        created_at,
        updated_at: now,
    })
}

fn record_of(r: &Router) -> Result<RouterRecord, ApiError> {
    Ok(RouterRecord {
        id: r.id,
        merchant_id: r.merchant_id,
        name: r.name.clone(),
        body: serde_json::to_string(r).map_err(ApiError::internal)?,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Create a router.
#[utoipa::path(post, path = "/admin/merchants/{merchantId}/routers", tag = "Admin",
    operation_id = "adminCreateRouter", params(("merchantId" = String, Path)),
    responses((status = 201, body = RouterView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn create_router(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let now = trunc_ms(state.clock.now());
    let r = parse_router(&state, merchant_id, &body, RouterId(Uuid::now_v7()), now).await?;
    state.store.insert_router(&record_of(&r)?).await?;
    changed(&state, merchant_id).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        to_json(&router_view(&r))?,
    ))
}

/// List routers.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/routers", tag = "Admin",
    operation_id = "adminListRouters", params(("merchantId" = String, Path)),
    responses((status = 200, body = RouterList), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_routers(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let mut routers: Vec<Router> = state
        .config
        .get(&*state.store, merchant_id)
        .await?
        .routers
        .values()
        .cloned()
        .collect();
    routers.sort_by_key(|r| (r.created_at, r.id));
    Ok(Reply::ok(to_json(&RouterList {
        data: routers.iter().map(router_view).collect(),
    })?))
}

async fn load_router(state: &AppState, merchant: &str, id: &str) -> Result<Router, ApiError> {
    let merchant_id = merchant_of(state, merchant).await?;
    let id = RouterId::parse(id).ok_or(ApiError::NotFound)?;
    state
        .config
        .get(&*state.store, merchant_id)
        .await?
        .routers
        .get(&id)
        .cloned()
        .ok_or(ApiError::NotFound)
}

/// Read a router.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/routers/{routerId}", tag = "Admin",
    operation_id = "adminGetRouter", params(("merchantId" = String, Path), ("routerId" = String, Path)),
    responses((status = 200, body = RouterView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn get_router(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<Reply, ApiError> {
    let r = load_router(&state, &merchant, &id).await?;
    Ok(Reply::ok(to_json(&router_view(&r))?))
}

/// Replace a router's name, rules and fallback targets.
#[utoipa::path(put, path = "/admin/merchants/{merchantId}/routers/{routerId}", tag = "Admin",
    operation_id = "adminReplaceRouter", params(("merchantId" = String, Path), ("routerId" = String, Path)),
    responses((status = 200, body = RouterView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn replace_router(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let old = load_router(&state, &merchant, &id).await?;
    let r = parse_router(&state, old.merchant_id, &body, old.id, old.created_at).await?;
    if !state.store.replace_router(&record_of(&r)?).await? {
        return Err(ApiError::NotFound);
    }
    changed(&state, r.merchant_id).await?;
    Ok(Reply::ok(to_json(&router_view(&r))?))
}

/// Delete a router (409 for the merchant's default router).
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/routers/{routerId}", tag = "Admin",
    operation_id = "adminDeleteRouter", params(("merchantId" = String, Path), ("routerId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn delete_router(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, id)): AppPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let r = load_router(&state, &merchant, &id).await?;
    let m = state
        .store
        .get_merchant(r.merchant_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if m.default_router_id == Some(r.id) {
        return Err(ApiError::InvalidState(
            "the router is the merchant's default router".into(),
        ));
    }
    state.store.delete_router(r.merchant_id, r.id).await?;
    changed(&state, r.merchant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// FX rates

/// An FX rate (§9.4).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FxRateView {
    base: String,
    quote: String,
    #[schema(value_type = f64)]
    rate: Box<RawValue>,
    markup_bps: i64,
    source: String,
    updated_at: String,
}

/// `{data: [...]}`.
#[derive(Serialize, ToSchema)]
pub struct FxRateList {
    data: Vec<FxRateView>,
}

fn fx_view(r: &FxRateRecord) -> FxRateView {
    FxRateView {
        base: r.base.clone(),
        quote: r.quote.clone(),
        rate: raw_number(r.rate.clone()),
        markup_bps: r.markup_bps,
        source: r.source.clone(),
        updated_at: fmt_ts(r.updated_at),
    }
}

/// List FX rates.
#[utoipa::path(get, path = "/admin/merchants/{merchantId}/fx-rates", tag = "Admin",
    operation_id = "adminListFxRates", params(("merchantId" = String, Path)),
    responses((status = 200, body = FxRateList), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn list_fx_rates(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(merchant): AppPath<String>,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let rates = state.store.list_fx_rates(merchant_id).await?;
    Ok(Reply::ok(to_json(&FxRateList {
        data: rates.iter().map(fx_view).collect(),
    })?))
}

fn pair(base: &str, quote: &str, errs: &mut FieldErrors) -> Option<(Currency, Currency)> {
    let b = errs.take("base", Currency::parse(base));
    let q = errs.take("quote", Currency::parse(quote));
    match (b, q) {
        (Some(b), Some(q)) if b == q => {
            errs.add("quote", "must differ from base");
            None
        }
        (Some(b), Some(q)) => Some((b, q)),
        _ => None,
    }
}

/// Set an FX rate (`updatedAt` = now).
#[utoipa::path(put, path = "/admin/merchants/{merchantId}/fx-rates/{base}/{quote}", tag = "Admin",
    operation_id = "adminPutFxRate", params(("merchantId" = String, Path), ("base" = String, Path), ("quote" = String, Path)),
    responses((status = 200, body = FxRateView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn put_fx_rate(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, base, quote)): AppPath<(String, String, String)>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    let mut o = Obj::root(&body)?;
    let mut errs = FieldErrors::new();
    let codes = pair(&base, &quote, &mut errs);
    let rate = o
        .number_text("rate", true, &mut errs)
        .and_then(|t| errs.take("rate", Rate::parse(t)));
    let markup = o
        .integer("markupBps", false, 0, 10_000, &mut errs)
        .unwrap_or(0);
    let source = o
        .string("source", false, &mut errs)
        .unwrap_or_else(|| "manual".into());
    if let Err(m) = validate::max_len(&source, 255) {
        errs.add("source", m);
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let (Some((b, q)), Some(rate)) = (codes, rate) else {
        return Err(ApiError::internal("validation inconsistency"));
    };
    let rec = FxRateRecord {
        merchant_id,
        base: b.code().to_string(),
        quote: q.code().to_string(),
        rate: rate.to_decimal_string(),
        markup_bps: markup,
        source,
        updated_at: trunc_ms(state.clock.now()),
    };
    state.store.put_fx_rate(&rec).await?;
    changed(&state, merchant_id).await?;
    Ok(Reply::ok(to_json(&fx_view(&rec))?))
}

/// Delete an FX rate.
#[utoipa::path(delete, path = "/admin/merchants/{merchantId}/fx-rates/{base}/{quote}", tag = "Admin",
    operation_id = "adminDeleteFxRate", params(("merchantId" = String, Path), ("base" = String, Path), ("quote" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn delete_fx_rate(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath((merchant, base, quote)): AppPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let merchant_id = merchant_of(&state, &merchant).await?;
    if !state
        .store
        .delete_fx_rate(merchant_id, &base, &quote)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    changed(&state, merchant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
