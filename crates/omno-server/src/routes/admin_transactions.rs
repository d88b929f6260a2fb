//! Admin transaction search and view (API.md §13.7), sync and resolve (§13.2).

use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use omno_domain::errors::FieldErrors;
use omno_domain::ids::{CustomerId, MerchantId, PayinId, PayoutId};
use omno_domain::payin::{Payin, PayinStatus};
use omno_domain::payout::{Destination, Dispatch, Payout, PayoutStatus};
use omno_store::PayoutFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AdminAuth;
use crate::clock::fmt_ts;
use crate::error::ApiError;
use crate::flows::payin as payin_flow;
use crate::flows::payout as flow;
use crate::reply::{AppPath, Body, Reply, to_json};
use crate::state::AppState;
use crate::wire::parse::Obj;
use crate::wire::{ErrorEnvelope, TransactionView, amount_json};

/// The transaction admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(view))
        .routes(routes!(sync))
        .routes(routes!(resolve))
}

/// A search item: the §7 object plus `kind`.
#[derive(Serialize, ToSchema)]
pub struct SearchItem {
    kind: &'static str,
    #[serde(flatten)]
    transaction: TransactionView,
}

/// Paginated search result.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    data: Vec<SearchItem>,
    next_cursor: Option<String>,
}

/// One PSP attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PspAttemptView {
    attempt: u32,
    psp_account_id: Option<String>,
    psp_transaction_id: Option<String>,
    #[schema(value_type = f64)]
    amount: Box<RawValue>,
    currency: String,
    outcome: String,
    detailed_status: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    latency_ms: Option<i64>,
}

/// `destination` of a payout (never a full PAN or IBAN).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    method: String,
    card_mask: Option<String>,
    iban_mask: Option<String>,
}

/// The admin transaction view.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminTransactionView {
    kind: &'static str,
    #[serde(flatten)]
    transaction: TransactionView,
    #[schema(value_type = Option<Object>)]
    routing: Option<Value>,
    attempts: Vec<PspAttemptView>,
    #[schema(value_type = Option<Object>)]
    fx: Option<Value>,
    destination: Option<DestinationView>,
    sync_attempts: i64,
    next_sync_at: Option<String>,
}

fn admin_view(p: &Payout) -> AdminTransactionView {
    let parse = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let attempts = match p.submitted_at {
        None => vec![],
        Some(started) => {
            let outcome = match p.status {
                PayoutStatus::Processed => "SUCCEEDED",
                PayoutStatus::Failed => "FAILED",
                PayoutStatus::Created
                | PayoutStatus::WaitingForConfirmation
                | PayoutStatus::Pending
                | PayoutStatus::Rejected => "PENDING",
            };
            let finished = p.status.is_final().then_some(p.updated_at);
            vec![PspAttemptView {
                attempt: 1,
                psp_account_id: p.processor_psp_id.map(|i| i.hex()),
                psp_transaction_id: p.psp_transaction_id.clone(),
                amount: amount_json(p.amount),
                currency: p.amount.currency.code().to_string(),
                outcome: outcome.into(),
                detailed_status: p
                    .status_reason
                    .as_ref()
                    .map(|r| r.detailed_status.as_str().to_string()),
                started_at: Some(fmt_ts(started)),
                finished_at: finished.map(fmt_ts),
                latency_ms: finished.map(|f| (f - started).whole_milliseconds() as i64),
            }]
        }
    };
    AdminTransactionView {
        kind: "PAYOUT",
        transaction: TransactionView::from(p),
        routing: parse(&p.routing_detail),
        attempts,
        fx: parse(&p.fx_detail),
        destination: p.destination.as_ref().map(|d| match d {
            Destination::Card { mask, .. } => DestinationView {
                method: "CARD".into(),
                card_mask: Some(mask.clone()),
                iban_mask: None,
            },
            Destination::Apm {
                method, iban_mask, ..
            } => DestinationView {
                method: method.as_str().into(),
                card_mask: None,
                iban_mask: iban_mask.clone(),
            },
        }),
        sync_attempts: p.sync_attempts,
        next_sync_at: match p.dispatch {
            Dispatch::Syncing => p.next_action_at.map(fmt_ts),
            Dispatch::Idle | Dispatch::Queued | Dispatch::Submitted | Dispatch::Awaiting => None,
        },
    }
}

/// Query of the search.
fn admin_view_payin(p: &Payin) -> AdminTransactionView {
    let parse = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str(t).ok());
    AdminTransactionView {
        kind: "PAYIN",
        transaction: TransactionView::from(p),
        routing: parse(&p.routing_detail),
        attempts: p
            .attempts
            .iter()
            .map(|a| PspAttemptView {
                attempt: a.attempt,
                psp_account_id: Some(a.psp_account_id.hex()),
                psp_transaction_id: a.psp_transaction_id.clone(),
                amount: amount_json(a.amount),
                currency: a.amount.currency.code().to_string(),
                outcome: a.outcome.clone(),
                detailed_status: a.detailed_status.map(|d| d.as_str().to_string()),
                started_at: Some(fmt_ts(a.started_at)),
                finished_at: a.finished_at.map(fmt_ts),
                latency_ms: a.latency_ms,
            })
            .collect(),
        fx: parse(&p.fx_detail),
        destination: None,
        sync_attempts: p.sync_attempts,
        next_sync_at: match p.dispatch {
            Dispatch::Syncing => p.next_action_at.map(fmt_ts),
            Dispatch::Idle | Dispatch::Queued | Dispatch::Submitted | Dispatch::Awaiting => None,
        },
    }
}

/// A transaction of either kind.
enum Tx {
    Payout(Box<Payout>),
    Payin(Box<Payin>),
}

impl Tx {
    fn view(&self) -> AdminTransactionView {
        match self {
            Tx::Payout(p) => admin_view(p),
            Tx::Payin(p) => admin_view_payin(p),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SearchQuery {
    merchant_id: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    order_id: Option<String>,
    customer_id: Option<String>,
    external_user_id: Option<String>,
    currency: Option<String>,
    psp_account_id: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

const PAYOUT_STATUSES: [&str; 6] = [
    "CREATED",
    "WAITING_FOR_CONFIRMATION",
    "PENDING",
    "PROCESSED",
    "REJECTED",
    "FAILED",
];
const PAYIN_STATUSES: [&str; 10] = [
    "CREATED",
    "PENDING",
    "PENDING_3DS",
    "SUCCESS",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "DECLINED",
    "FAILED",
    "TIMEOUT",
    "REFUND_FAILED",
];

fn time_filter(
    name: &str,
    v: &Option<String>,
    errs: &mut FieldErrors,
) -> Option<time::OffsetDateTime> {
    let v = v.as_deref()?;
    match time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        Ok(t) => Some(t),
        Err(_) => {
            errs.add(name, "must be an RFC 3339 timestamp");
            None
        }
    }
}

/// Search transactions (payouts in this version), newest first.
#[utoipa::path(get, path = "/admin/transactions", tag = "Admin", operation_id = "adminSearchTransactions",
    params(SearchQuery),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn search(
    State(state): State<AppState>,
    _a: AdminAuth,
    Query(q): Query<SearchQuery>,
) -> Result<Reply, ApiError> {
    let mut errs = FieldErrors::new();
    let merchant_id = q.merchant_id.as_deref().and_then(|m| {
        let id = MerchantId::parse(m);
        if id.is_none() {
            errs.add("merchantId", "must be a 32-hex id");
        }
        id
    });
    let customer_id = q.customer_id.as_deref().and_then(|c| {
        let id = CustomerId::parse(c);
        if id.is_none() {
            errs.add("customerId", "must be a 32-hex id");
        }
        id
    });
    let (payouts, payins) = match q.kind.as_deref() {
        None => (true, true),
        Some("PAYOUT") => (true, false),
        Some("PAYIN") => (false, true),
        Some(_) => {
            errs.add("kind", "must be PAYIN or PAYOUT");
            (true, true)
        }
    };
    let statuses: Vec<String> = q
        .status
        .as_deref()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    for s in &statuses {
        if !PAYOUT_STATUSES.contains(&s.as_str()) && !PAYIN_STATUSES.contains(&s.as_str()) {
            errs.add("status", format!("unknown status {s}"));
        }
    }
    let created_from = time_filter("createdFrom", &q.created_from, &mut errs);
    let created_to = time_filter("createdTo", &q.created_to, &mut errs);
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            errs.add("limit", "must be an integer from 1 to 200");
            50
        }
    };
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => {
            let decoded = B64
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| {
                    let (ms, id) = t.split_once(':')?;
                    Some((omno_store::from_ms(ms.parse().ok()?), PayoutId::parse(id)?))
                });
            if decoded.is_none() {
                errs.add("cursor", "is not a valid cursor");
            }
            decoded
        }
    };
    errs.into_result().map_err(ApiError::Validation)?;
    let filter = PayoutFilter {
        merchant_id,
        statuses,
        order_id: q.order_id,
        customer_id,
        external_user_id: q.external_user_id,
        currency: q.currency,
        psp_account_id: q.psp_account_id,
        created_from,
        created_to,
    };
    // Both kinds share the id format and the (createdAt, id) order, so one cursor pages the
    // merged list: each kind is read past the cursor and the two are merged.
    let mut rows: Vec<(i64, String, SearchItem)> = vec![];
    if payouts {
        for p in state
            .store
            .search_payouts(&filter, after, limit + 1)
            .await?
        {
            rows.push((
                omno_store::to_ms(p.created_at),
                p.id.hex(),
                SearchItem {
                    kind: "PAYOUT",
                    transaction: TransactionView::from(&p),
                },
            ));
        }
    }
    if payins {
        let after = after.map(|(t, id)| (t, PayinId(id.0)));
        for p in state.store.search_payins(&filter, after, limit + 1).await? {
            rows.push((
                omno_store::to_ms(p.created_at),
                p.id.hex(),
                SearchItem {
                    kind: "PAYIN",
                    transaction: TransactionView::from(&p),
                },
            ));
        }
    }
    rows.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|(ms, id, _)| B64.encode(format!("{ms}:{id}")))
    } else {
        None
    };
    Ok(Reply::ok(to_json(&SearchPage {
        data: rows.into_iter().map(|(_, _, item)| item).collect(),
        next_cursor,
    })?))
}

async fn load(state: &AppState, id: &str) -> Result<Tx, ApiError> {
    let id = PayoutId::parse(id).ok_or(ApiError::NotFound)?;
    if let Some(p) = state.store.get_payout(None, id).await? {
        return Ok(Tx::Payout(Box::new(p)));
    }
    match state.store.get_payin(None, PayinId(id.0)).await? {
        Some(p) => Ok(Tx::Payin(Box::new(p))),
        None => Err(ApiError::NotFound),
    }
}

/// The admin view of one transaction.
#[utoipa::path(get, path = "/admin/transactions/{id}", tag = "Admin", operation_id = "adminGetTransaction",
    params(("id" = String, Path)),
    responses((status = 200, body = AdminTransactionView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn view(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(&load(&state, &id).await?.view())?))
}

/// Query the PSP now for a pending transaction.
#[utoipa::path(post, path = "/admin/transactions/{id}/sync", tag = "Admin", operation_id = "adminSyncTransaction",
    params(("id" = String, Path)),
    responses((status = 200, body = AdminTransactionView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn sync(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(id): AppPath<String>,
) -> Result<Reply, ApiError> {
    let tx = match load(&state, &id).await? {
        Tx::Payout(p) => Tx::Payout(Box::new(flow::admin_sync(&state, p.id).await?)),
        Tx::Payin(p) => Tx::Payin(Box::new(payin_flow::admin_sync(&state, p.id).await?)),
    };
    Ok(Reply::ok(to_json(&tx.view())?))
}

/// Resolve a pending transaction past its sync window.
#[utoipa::path(post, path = "/admin/transactions/{id}/resolve", tag = "Admin", operation_id = "adminResolveTransaction",
    params(("id" = String, Path)),
    responses((status = 200, body = AdminTransactionView), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearerAuth" = [])))]
async fn resolve(
    State(state): State<AppState>,
    _a: AdminAuth,
    AppPath(id): AppPath<String>,
    Body(body): Body,
) -> Result<Reply, ApiError> {
    let tx = load(&state, &id).await?;
    let mut o = Obj::root(&body)?;
    let mut errs = FieldErrors::new();
    let is_payout = matches!(tx, Tx::Payout(_));
    let to = o
        .string("status", true, &mut errs)
        .and_then(|s| match (s.as_str(), is_payout) {
            ("PROCESSED", true) => Some("PROCESSED"),
            ("SUCCESS", false) => Some("SUCCESS"),
            ("FAILED", _) => Some("FAILED"),
            (_, true) => {
                errs.add("status", "must be PROCESSED or FAILED for a payout");
                None
            }
            (_, false) => {
                errs.add("status", "must be SUCCESS or FAILED for a payin");
                None
            }
        });
    let reason = o.string("reason", true, &mut errs).and_then(|r| {
        errs.take(
            "reason",
            omno_domain::validate::non_blank(&r, 255).map(|()| r),
        )
    });
    errs.into_result().map_err(ApiError::Validation)?;
    let (Some(to), Some(reason)) = (to, reason) else {
        return Err(ApiError::internal("validation inconsistency"));
    };
    let tx = match tx {
        Tx::Payout(p) => {
            let to = if to == "PROCESSED" {
                PayoutStatus::Processed
            } else {
                PayoutStatus::Failed
            };
            Tx::Payout(Box::new(
                flow::admin_resolve(&state, p.id, to, reason).await?,
            ))
        }
        Tx::Payin(p) => {
            let to = if to == "SUCCESS" {
                PayinStatus::Success
            } else {
                PayinStatus::Failed
            };
            Tx::Payin(Box::new(
                payin_flow::admin_resolve(&state, p.id, to, reason).await?,
            ))
        }
    };
    Ok(Reply::ok(to_json(&tx.view())?))
}
