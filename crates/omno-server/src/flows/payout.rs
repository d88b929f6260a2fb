//! Payout flows: the one code path for every payout status change, used by the HTTP handlers,
//! the hosted pages and the background worker alike (API.md §4, §8.1, §8.3).
//!
//! Each flow reads the payout, lets the domain decide, and commits the change as a
//! compare-and-set on the payout's version together with its history, its outbox event and the
//! request's `Idempotency-Key` response. A lost race re-reads and decides again.

use omno_domain::errors::FieldErrors;
use omno_domain::ids::PayoutId;
use omno_domain::ids::RouterId;
use omno_domain::payout::{
    Decision, Destination, Dispatch, HistoryEntry, Metadata, Payout, PayoutStatus,
};
use omno_domain::psp::{DetailedStatus, Direction, PspAccount};
use omno_domain::router::{self, RouteRequest};
use omno_psp::{Definite, PayoutQuery, PayoutSubmission, QueryOutcome, SubmitOutcome, SyncStep};
use omno_store::{
    CreateMeta, CreateOutcome, IdemCheck, IdemWrite, MerchantRecord, NewEvent, PanUpdate,
    PayoutWrite, SaveOutcome, StoredResponse,
};
use serde_json::Map;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::clock::trunc_ms;
use crate::error::ApiError;
use crate::reply::{Reply, to_json};
use crate::state::AppState;
use crate::wire::parse::{canonical_fingerprint, create_fingerprints};
use crate::wire::{
    self, CreatePayoutResponse, IframeUrls, PayoutDirectLinkResponse, TransactionView,
};

/// How often a flow re-reads after losing a compare-and-set before giving up with a 500.
pub(crate) const MAX_RACES: usize = 16;

pub(crate) fn now(state: &AppState) -> OffsetDateTime {
    trunc_ms(state.clock.now())
}

pub(crate) fn scope(merchant: &MerchantRecord) -> String {
    format!("merchant:{}", merchant.id.hex())
}

pub(crate) fn idem_not_before(state: &AppState, now: OffsetDateTime) -> OffsetDateTime {
    now - Duration::seconds(state.settings.idempotency.retention_secs as i64)
}

/// Answers a request from a stored `Idempotency-Key` record, if the key was used.
pub(crate) async fn idem_precheck(
    state: &AppState,
    scope: &str,
    key: Option<&str>,
    fingerprint: &str,
    now: OffsetDateTime,
) -> Result<Option<Reply>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    match state
        .store
        .check_idempotency(scope, key, fingerprint, idem_not_before(state, now))
        .await?
    {
        IdemCheck::Fresh => Ok(None),
        IdemCheck::Replay(r) => Ok(Some(Reply::replay(r.status, r.body))),
        IdemCheck::Mismatch => Err(ApiError::IdempotencyKeyReused),
    }
}

pub(crate) fn idem_write(
    state: &AppState,
    scope: &str,
    key: Option<&str>,
    fingerprint: &str,
    body: &str,
    now: OffsetDateTime,
) -> Option<IdemWrite> {
    key.map(|k| IdemWrite {
        scope: scope.to_string(),
        key: k.to_string(),
        fingerprint: fingerprint.to_string(),
        response: StoredResponse {
            status: 200,
            body: body.to_string(),
        },
        created_at: now,
        not_before: idem_not_before(state, now),
    })
}

/// The outbox event announcing the payout's current status, if anything is subscribed to it
/// ([`crate::webhooks::status_event`]).
pub async fn status_event(
    state: &AppState,
    p: &Payout,
    now: OffsetDateTime,
) -> Result<Option<NewEvent>, ApiError> {
    let t = crate::webhooks::Announced {
        kind: "PAYOUT",
        event_type: "PAYOUT_STATUS_CHANGED",
        merchant: p.merchant_id,
        status: p.status.as_str(),
        webhook_url: p.webhook_url.as_deref(),
    };
    crate::webhooks::status_event(state, t, now, || TransactionView::from(p)).await
}

/// Hosted page URL with a fresh token.
pub fn page_url(state: &AppState, id: PayoutId, page: &str, now: OffsetDateTime) -> String {
    let exp = now + Duration::seconds(state.settings.hpp.token_ttl_secs as i64);
    state.page_url("payout", &id.hex(), page, exp)
}

fn route_request(p: &Payout, method: Option<omno_domain::psp::PaymentMethod>) -> RouteRequest {
    RouteRequest {
        direction: Direction::Payout,
        amount: p.initial,
        country: p.customer.billing.country_code,
        kyc_verified: p.kyc_verified,
        previous_transaction_count: p.previous_transaction_count,
        method,
    }
}

/// Adds header field errors (an invalid `Idempotency-Key`) to the body's validation result, so a
/// 400 lists every invalid field at once.
pub fn with_header_errors<T>(
    parsed: Result<T, ApiError>,
    header: FieldErrors,
) -> Result<T, ApiError> {
    match parsed {
        Ok(v) => header
            .into_result()
            .map(|()| v)
            .map_err(ApiError::Validation),
        Err(ApiError::Validation(mut errs)) => {
            for e in header.iter() {
                errs.add(e.field, e.message);
            }
            Err(ApiError::Validation(errs))
        }
        Err(e) => Err(e),
    }
}

/// `POST /public/payout`.
pub async fn create(
    state: &AppState,
    merchant: &MerchantRecord,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let now = now(state);
    let s = &state.settings;
    let cfg = state.config.get(&*state.store, merchant.id).await?;
    let parsed = wire::create_payout(
        body,
        &merchant.enabled_currencies,
        now.date(),
        s.webhooks.allow_loopback,
        s.webhooks.allow_private,
        |r| RouterId::parse(r).is_some_and(|id| cfg.routers.contains_key(&id)),
    );
    let input = with_header_errors(parsed, idem_err)?;
    let scope = scope(merchant);
    let idem_prefix = idem_key.as_ref().map(|_| "POST /public/payout\n");
    let [order_fp, idem_fp] = create_fingerprints(idem_prefix, &input.canon);
    if let Some(r) = idem_precheck(state, &scope, idem_key.as_deref(), &idem_fp, now).await? {
        return Ok(r);
    }

    let customer_id = state
        .config
        .customer(
            &*state.store,
            merchant.id,
            &input.customer.external_user_id,
            now,
        )
        .await?;
    let p = new_payout(state, &cfg, merchant, customer_id, input, None, now)?;
    let id = p.id;
    let response = to_json(&CreatePayoutResponse {
        payout_id: id.hex(),
        status: p.status.as_str().to_string(),
        iframe_urls: IframeUrls {
            card: page_url(state, id, "card", now),
            apm: page_url(state, id, "apm", now),
        },
    })?;
    let meta = CreateMeta {
        order_fingerprint: order_fp,
        response: response.clone(),
        idem: idem_write(state, &scope, idem_key.as_deref(), &idem_fp, &response, now),
        idem_not_before: idem_not_before(state, now),
    };
    let events = Vec::from_iter(status_event(state, &p, now).await?);
    match state.store.create_payout(&p, &meta, &events).await? {
        CreateOutcome::Created => {
            crate::telemetry::transaction("PAYOUT", p.status.as_str());
            state.committed(p.dispatch == Dispatch::Queued, &events);
            Ok(Reply::ok(response))
        }
        CreateOutcome::IdemReplay(r) => Ok(Reply::replay(r.status, r.body)),
        CreateOutcome::IdemMismatch => Err(ApiError::IdempotencyKeyReused),
        CreateOutcome::OrderReplay(body) => Ok(Reply::replay(200, body)),
        CreateOutcome::DuplicateOrderId => Err(ApiError::DuplicateOrderId),
    }
}

/// A new payout, routed (§4.1): `WAITING_FOR_CONFIRMATION`, `PENDING` (queued) or `FAILED`
/// (`NO_PROVIDER_AVAILABLE`), with its history.
pub fn new_payout(
    state: &AppState,
    cfg: &crate::config_cache::MerchantConfig,
    merchant: &MerchantRecord,
    customer_id: omno_domain::ids::CustomerId,
    input: wire::CreatePayoutInput,
    cashier_session_id: Option<String>,
    now: OffsetDateTime,
) -> Result<Payout, ApiError> {
    let s = &state.settings;
    let mut p = Payout {
        id: PayoutId(Uuid::now_v7()),
        merchant_id: merchant.id,
        customer_id,
        order_id: input.order_id,
        amount: input.money,
        initial: input.money,
        status: PayoutStatus::Created,
        status_reason: None,
        kyc_verified: input.kyc_verified,
        previous_transaction_count: input.previous_transaction_count.unwrap_or(0),
        customer: input.customer,
        return_urls: input.return_urls,
        webhook_url: input.webhook_url,
        router_id: None,
        routing_reason: None,
        predicted_psp_id: None,
        processor_psp_id: None,
        psp_transaction_id: None,
        destination: None,
        metadata: Metadata {
            cashier_session_id,
            ..Metadata::default()
        },
        confirmed_at: None,
        confirmation_deadline: None,
        dispatch: Dispatch::Idle,
        next_action_at: None,
        sync_attempts: 0,
        submitted_at: None,
        created_at: now,
        updated_at: now,
        history: vec![HistoryEntry {
            status: PayoutStatus::Created,
            at: now,
            reason: None,
        }],
        routing_detail: None,
        fx_detail: None,
        version: 1,
    };
    let router_id = input
        .router_id
        .as_deref()
        .and_then(RouterId::parse)
        .or(merchant.default_router_id);
    let routed = super::routing::route(state, cfg, router_id, &route_request(&p, None), now);
    let decision = &routed.decision;
    p.routing_reason = Some(decision.reason.clone());
    p.router_id = decision.router_id;
    p.routing_detail = Some(super::routing::routing_detail(decision));
    match routed.chosen {
        None => {
            let reason = decision
                .reason
                .strip_prefix("no eligible PSP account: ")
                .map(|r| format!("No PSP account can process this payout ({r})"))
                .unwrap_or_else(|| "No PSP account can process this payout".into());
            apply(
                &mut p,
                PayoutStatus::Failed,
                Some((DetailedStatus::NoProviderAvailable, reason)),
                None,
                now,
            )?;
        }
        Some((account, amount, conversion)) => {
            p.predicted_psp_id = Some(account.id);
            p.amount = amount;
            p.fx_detail = conversion.as_ref().map(super::routing::fx_detail);
            if merchant.payout_confirmation_required {
                p.confirmation_deadline =
                    Some(now + Duration::seconds(s.payout.confirmation_expiry_secs as i64));
                p.next_action_at = p.confirmation_deadline;
                apply(
                    &mut p,
                    PayoutStatus::WaitingForConfirmation,
                    None,
                    None,
                    now,
                )?;
            } else {
                apply(
                    &mut p,
                    PayoutStatus::Pending,
                    None,
                    Some("Confirmation not required".into()),
                    now,
                )?;
                p.dispatch = Dispatch::Queued;
                p.next_action_at = Some(now);
            }
        }
    }
    Ok(p)
}

fn apply(
    p: &mut Payout,
    to: PayoutStatus,
    reason: Option<(DetailedStatus, String)>,
    history_reason: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    p.apply(to, reason, history_reason, now)
        .map_err(|e| ApiError::internal(format!("illegal transition: {e}")))
}

/// Applies the confirmation-window expiry (§8.1) to a loaded payout, committing it.
/// Returns `true` when the payout changed (caller re-reads).
async fn expire_if_due(
    state: &AppState,
    p: &Payout,
    now: OffsetDateTime,
) -> Result<bool, ApiError> {
    if !p.confirmation_expired(now) {
        return Ok(false);
    }
    let mut next = p.clone();
    apply(
        &mut next,
        PayoutStatus::Rejected,
        Some((
            DetailedStatus::Expired,
            "Confirmation window expired".into(),
        )),
        Some("Confirmation window expired".into()),
        now,
    )?;
    let events = Vec::from_iter(status_event(state, &next, now).await?);
    let deliveries = NewEvent::any_delivery(&events);
    let out = state
        .store
        .save_payout(PayoutWrite {
            payout: &next,
            expected_version: p.version,
            events,
            idem: None,
            pan: PanUpdate::Clear,
            release_lease_of: None,
        })
        .await?;
    if out == SaveOutcome::Saved {
        crate::telemetry::transaction("PAYOUT", next.status.as_str());
        state.committed_deliveries(false, deliveries);
    }
    Ok(true)
}

/// Which merchant call: confirm or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `PUT confirm`.
    Confirm,
    /// `PUT reject`.
    Reject,
}

/// `PUT /public/payout/{id}/confirm` and `/reject`: idempotent, one winner under races.
pub async fn decide(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    verdict: Verdict,
    idem_key: Option<String>,
    idem_err: FieldErrors,
) -> Result<Reply, ApiError> {
    let id = PayoutId::parse(raw_id).ok_or(ApiError::NotFound)?;
    idem_err.into_result().map_err(ApiError::Validation)?;
    let scope = scope(merchant);
    let action = match verdict {
        Verdict::Confirm => "confirm",
        Verdict::Reject => "reject",
    };
    let fp = canonical_fingerprint(
        &format!("PUT /public/payout/{}/{action}\n", id.hex()),
        &Map::new(),
    );
    let body = "{}".to_string();
    let key = idem_key.as_deref();
    if let Some(r) = idem_precheck(state, &scope, key, &fp, now(state)).await? {
        return Ok(r);
    }
    for _ in 0..MAX_RACES {
        let now = now(state);
        let p = state
            .store
            .get_payout(Some(merchant.id), id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if expire_if_due(state, &p, now).await? {
            continue;
        }
        let decision = match verdict {
            Verdict::Confirm => p.decide_confirm(),
            Verdict::Reject => p.decide_reject(),
        }
        .map_err(|e| ApiError::InvalidState(e.to_string()))?;
        let idem = idem_write(state, &scope, key, &fp, &body, now);
        let target = match decision {
            Decision::Unchanged => {
                if let Some(idem) = &idem
                    && !state
                        .store
                        .put_idempotency(idem, idem_not_before(state, now))
                        .await?
                {
                    return idem_precheck(state, &scope, key, &fp, now)
                        .await?
                        .ok_or_else(|| ApiError::internal("idempotency key vanished"));
                }
                return Ok(Reply::ok(body));
            }
            Decision::To(s) => s,
        };
        let mut next = p.clone();
        match verdict {
            Verdict::Confirm => {
                apply(
                    &mut next,
                    target,
                    None,
                    Some("Confirmed by merchant".into()),
                    now,
                )?;
                next.dispatch = Dispatch::Queued;
                next.next_action_at = Some(now);
            }
            Verdict::Reject => {
                apply(
                    &mut next,
                    target,
                    Some((
                        DetailedStatus::RejectedByMerchant,
                        "Rejected by merchant".into(),
                    )),
                    Some("Rejected by merchant".into()),
                    now,
                )?;
            }
        }
        let events = Vec::from_iter(status_event(state, &next, now).await?);
        let deliveries = NewEvent::any_delivery(&events);
        let outcome = state
            .store
            .save_payout(PayoutWrite {
                payout: &next,
                expected_version: p.version,
                events,
                idem,
                pan: PanUpdate::Keep,
                release_lease_of: None,
            })
            .await?;
        match outcome {
            SaveOutcome::Saved => {
                crate::telemetry::transaction("PAYOUT", next.status.as_str());
                state.committed_deliveries(verdict == Verdict::Confirm, deliveries);
                return Ok(Reply::ok(body));
            }
            SaveOutcome::VersionConflict => continue,
            SaveOutcome::IdemTaken => {
                return idem_precheck(state, &scope, key, &fp, now)
                    .await?
                    .ok_or_else(|| ApiError::internal("idempotency key vanished"));
            }
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}

/// `GET /public/payout/{id}`.
pub async fn get(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
) -> Result<Reply, ApiError> {
    let id = PayoutId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let p = state
        .store
        .get_payout(Some(merchant.id), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(to_json(&TransactionView::from(&p))?))
}

/// A destination to record on a payout (direct-link or hosted pages).
pub struct NewDestination {
    /// What to record.
    pub destination: Destination,
    /// Encrypted PAN for card destinations.
    pub pan: PanUpdate,
    /// Customer context.
    pub browser: wire::BrowserInfo,
}

/// Records a destination (§4.4 rules). Returns the payout as saved.
pub async fn record_destination(
    state: &AppState,
    merchant_id: omno_domain::ids::MerchantId,
    id: PayoutId,
    dest: NewDestination,
    idem: Option<(&str, &str, &str)>,
    response: impl Fn(&Payout, OffsetDateTime) -> Result<String, ApiError>,
) -> Result<Reply, ApiError> {
    for _ in 0..MAX_RACES {
        let now = now(state);
        let p = state
            .store
            .get_payout(Some(merchant_id), id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if expire_if_due(state, &p, now).await? {
            continue;
        }
        if !p.can_record_destination() {
            return Err(ApiError::InvalidState(format!(
                "payout is {}; the destination can no longer be changed",
                p.status
            )));
        }
        let mut next = p.clone();
        next.destination = Some(dest.destination.clone());
        if dest.browser.ip.is_some() {
            next.metadata.ip_address = dest.browser.ip.clone();
        }
        if dest.browser.user_agent.is_some() {
            next.metadata.user_agent = dest.browser.user_agent.clone();
        }
        next.updated_at = now;
        let body = response(&next, now)?;
        let idem_w =
            idem.and_then(|(scope, key, fp)| idem_write(state, scope, Some(key), fp, &body, now));
        let outcome = state
            .store
            .save_payout(PayoutWrite {
                payout: &next,
                expected_version: p.version,
                events: vec![],
                idem: idem_w,
                pan: dest.pan.clone(),
                release_lease_of: None,
            })
            .await?;
        match outcome {
            SaveOutcome::Saved => return Ok(Reply::ok(body)),
            SaveOutcome::VersionConflict => continue,
            SaveOutcome::IdemTaken => {
                let (scope, key, fp) = idem.unwrap_or(("", "", ""));
                return idem_precheck(state, scope, Some(key), fp, now)
                    .await?
                    .ok_or_else(|| ApiError::internal("idempotency key vanished"));
            }
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}

/// `POST /public/payout/{id}/process/direct-link`.
pub async fn direct_link(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let id = PayoutId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let input = with_header_errors(wire::direct_link(body), idem_err)?;
    let scope = scope(merchant);
    let fp = canonical_fingerprint(
        &format!("POST /public/payout/{}/process/direct-link\n", id.hex()),
        &input.canon,
    );
    if let Some(r) = idem_precheck(state, &scope, idem_key.as_deref(), &fp, now(state)).await? {
        return Ok(r);
    }
    let dest = NewDestination {
        destination: Destination::Apm {
            method: input.method,
            additional_data: input.additional_data,
            iban_mask: input.iban.as_deref().map(wire::mask_iban),
        },
        pan: PanUpdate::Clear,
        browser: input.browser,
    };
    let idem = idem_key
        .as_deref()
        .map(|k| (scope.as_str(), k, fp.as_str()));
    record_destination(state, merchant.id, id, dest, idem, |p, now| {
        let message = match p.status {
            PayoutStatus::WaitingForConfirmation | PayoutStatus::Created => {
                "Destination recorded; the payout is waiting for merchant confirmation"
            }
            PayoutStatus::Pending
            | PayoutStatus::Processed
            | PayoutStatus::Rejected
            | PayoutStatus::Failed => "Destination recorded; the payout will be sent to the PSP",
        };
        to_json(&PayoutDirectLinkResponse {
            payout_id: p.id.hex(),
            status: p.status.as_str().to_string(),
            redirect_url: page_url(state, p.id, "status", now),
            message: message.into(),
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Background work

/// Runs one pass of due payout work; returns how many payouts were claimed.
pub async fn run_due(state: &AppState) -> Result<usize, ApiError> {
    let now = now(state);
    let lease = now + Duration::milliseconds(state.settings.psp.request_timeout_ms as i64 + 30_000);
    let ids = state
        .store
        .claim_due_payouts(now, &state.node_id, lease, 32)
        .await?;
    let n = ids.len();
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let st = state.clone();
        set.spawn(async move {
            if let Err(e) = process_one(&st, id).await {
                tracing::error!(payout_id = %id, error = ?e, "payout work failed");
                let _ = st.store.release_payout_lease(id, &st.node_id).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

async fn save_worker(
    state: &AppState,
    before: &Payout,
    next: &Payout,
    announce: bool,
    release: bool,
) -> Result<bool, ApiError> {
    let events = if announce {
        Vec::from_iter(status_event(state, next, next.updated_at).await?)
    } else {
        vec![]
    };
    let deliveries = NewEvent::any_delivery(&events);
    let out = state
        .store
        .save_payout(PayoutWrite {
            payout: next,
            expected_version: before.version,
            events,
            idem: None,
            pan: PanUpdate::Keep,
            release_lease_of: release.then_some(&*state.node_id),
        })
        .await?;
    let saved = out == SaveOutcome::Saved;
    if saved && announce {
        crate::telemetry::transaction("PAYOUT", next.status.as_str());
        state.committed_deliveries(false, deliveries);
    }
    Ok(saved)
}

fn finish(p: &mut Payout, outcome: Definite, now: OffsetDateTime) -> Result<(), ApiError> {
    match outcome {
        Definite::Succeeded { psp_transaction_id } => {
            p.psp_transaction_id = Some(psp_transaction_id);
            apply(p, PayoutStatus::Processed, None, None, now)
        }
        Definite::Failed {
            psp_transaction_id,
            detailed_status,
            reason,
        } => {
            if psp_transaction_id.is_some() {
                p.psp_transaction_id = psp_transaction_id;
            }
            apply(
                p,
                PayoutStatus::Failed,
                Some((detailed_status, reason)),
                None,
                now,
            )
        }
    }
}

fn start_sync(p: &mut Payout, state: &AppState, now: OffsetDateTime) {
    p.dispatch = Dispatch::Syncing;
    p.sync_attempts = 0;
    p.status_reason = Some(omno_domain::psp::StatusReason {
        reason: "PSP did not answer; status sync scheduled".into(),
        detailed_status: DetailedStatus::PspTimeout,
        status: PayoutStatus::Pending.as_str().into(),
    });
    p.next_action_at = Some(now + Duration::milliseconds(state.settings.sync.interval_ms as i64));
    p.updated_at = now;
}

fn account(
    accounts: &[PspAccount],
    id: Option<omno_domain::ids::PspAccountId>,
) -> Option<&PspAccount> {
    id.and_then(|id| accounts.iter().find(|a| a.id == id))
}

/// Does whatever is due for one claimed payout.
async fn process_one(state: &AppState, id: PayoutId) -> Result<(), ApiError> {
    let Some(p) = state.store.get_payout(None, id).await? else {
        return Ok(());
    };
    let now = now(state);
    if p.confirmation_expired(now) {
        let mut next = p.clone();
        apply(
            &mut next,
            PayoutStatus::Rejected,
            Some((
                DetailedStatus::Expired,
                "Confirmation window expired".into(),
            )),
            Some("Confirmation window expired".into()),
            now,
        )?;
        save_worker(state, &p, &next, true, true).await?;
        return Ok(());
    }
    match (p.status, p.dispatch) {
        (PayoutStatus::Pending, Dispatch::Queued) => dispatch(state, p, now).await,
        (PayoutStatus::Pending, Dispatch::Submitted) => {
            // Crashed or timed out during the PSP call: the outcome is unknown. Never resubmit.
            let mut next = p.clone();
            start_sync(&mut next, state, now);
            save_worker(state, &p, &next, false, true).await?;
            Ok(())
        }
        (PayoutStatus::Pending, Dispatch::Awaiting | Dispatch::Syncing) => {
            sync(state, p, now).await
        }
        (
            PayoutStatus::Created
            | PayoutStatus::WaitingForConfirmation
            | PayoutStatus::Pending
            | PayoutStatus::Processed
            | PayoutStatus::Rejected
            | PayoutStatus::Failed,
            _,
        ) => {
            // Nothing due (e.g. a stale schedule): clear it unless a future deadline stands.
            let mut next = p.clone();
            if next.next_action_at.is_some_and(|t| t <= now) {
                next.next_action_at = None;
            }
            save_worker(state, &p, &next, false, true).await?;
            Ok(())
        }
    }
}

async fn dispatch(state: &AppState, p: Payout, now: OffsetDateTime) -> Result<(), ApiError> {
    let cfg = state.config.get(&*state.store, p.merchant_id).await?;
    let method = p.destination.as_ref().map(Destination::method);
    let req = route_request(&p, method);
    let max_age = state.settings.fx.max_rate_age_secs;
    // §8.1 Dispatch: the predicted account if still eligible, else the router re-run (FX
    // recomputed). This choice precedes the single submission; it is not a cascade.
    let mut p = p;
    let chosen = match account(&cfg.accounts, p.predicted_psp_id) {
        Some(a) if router::ineligibility(a, &req, &cfg.fx, now, max_age).is_none() => {
            Some(a.clone())
        }
        Some(_) | None => {
            let routed = super::routing::route(state, &cfg, p.router_id, &req, now);
            routed.chosen.map(|(a, amount, conversion)| {
                p.amount = amount;
                p.fx_detail = conversion.as_ref().map(super::routing::fx_detail);
                p.routing_reason = Some(routed.decision.reason.clone());
                p.routing_detail = Some(super::routing::routing_detail(&routed.decision));
                a
            })
        }
    };
    let Some(acct) = chosen else {
        let mut next = p.clone();
        apply(
            &mut next,
            PayoutStatus::Failed,
            Some((
                DetailedStatus::NoProviderAvailable,
                "No PSP account can process this payout for the recorded destination".into(),
            )),
            None,
            now,
        )?;
        save_worker(state, &p, &next, true, true).await?;
        return Ok(());
    };
    let Some(connector) = state.connectors.for_account(&acct) else {
        return Err(ApiError::internal(format!(
            "no connector {}",
            acct.connector
        )));
    };
    // Write-ahead marker: once committed, this payout is never submitted again.
    let mut marked = p.clone();
    marked.dispatch = Dispatch::Submitted;
    marked.submitted_at = Some(now);
    marked.processor_psp_id = Some(acct.id);
    marked.updated_at = now;
    marked.next_action_at =
        Some(now + Duration::milliseconds(state.settings.psp.request_timeout_ms as i64 + 30_000));
    if !save_worker(state, &p, &marked, false, false).await? {
        // Someone changed it first (e.g. a new destination); the next pass decides again.
        state
            .store
            .release_payout_lease(p.id, &state.node_id)
            .await?;
        state.committed_deliveries(true, false);
        return Ok(());
    }
    // The marker committed, so the stored version is exactly one more: no re-read needed.
    marked.version = p.version + 1;
    let submission = PayoutSubmission {
        transaction_id: p.id.hex(),
        amount: p.amount,
        method,
        account: acct,
        attempt: 1,
    };
    let timeout = std::time::Duration::from_millis(state.settings.psp.request_timeout_ms);
    let psp_started = std::time::Instant::now();
    let outcome = tokio::time::timeout(timeout, connector.submit_payout(&submission))
        .await
        .ok();
    let account_id = submission.account.id.hex();
    crate::telemetry::psp_submit(&account_id, outcome.as_ref(), psp_started.elapsed());
    let outcome = outcome.unwrap_or(SubmitOutcome::Ambiguous {
        psp_transaction_id: None,
    });
    let now = self::now(state);
    let mut next = marked.clone();
    let announce = match outcome {
        SubmitOutcome::Done(d) => {
            finish(&mut next, d, now)?;
            true
        }
        SubmitOutcome::Accepted {
            psp_transaction_id,
            ready_after,
        } => {
            next.psp_transaction_id = Some(psp_transaction_id);
            next.dispatch = Dispatch::Awaiting;
            next.next_action_at = Some(now + ready_after);
            false
        }
        SubmitOutcome::Ambiguous { psp_transaction_id } => {
            next.psp_transaction_id = psp_transaction_id;
            start_sync(&mut next, state, now);
            false
        }
    };
    save_worker(state, &marked, &next, announce, true).await?;
    Ok(())
}

async fn sync(state: &AppState, p: Payout, now: OffsetDateTime) -> Result<(), ApiError> {
    let accounts = state.store.list_psp_accounts(p.merchant_id).await?;
    let acct = account(&accounts, p.processor_psp_id)
        .cloned()
        .ok_or_else(|| ApiError::internal("processor account missing"))?;
    let connector = state
        .connectors
        .for_account(&acct)
        .ok_or_else(|| ApiError::internal("no connector"))?;
    let query = PayoutQuery {
        transaction_id: p.id.hex(),
        amount: p.amount,
        account: acct,
        submitted_at: p.submitted_at.unwrap_or(p.updated_at),
        now,
    };
    let timeout = std::time::Duration::from_millis(state.settings.psp.request_timeout_ms);
    let psp_started = std::time::Instant::now();
    let answer = tokio::time::timeout(timeout, connector.query_payout(&query))
        .await
        .ok();
    let account_id = query.account.id.hex();
    crate::telemetry::psp_query(&account_id, answer.as_ref(), psp_started.elapsed());
    let answer = answer.unwrap_or(QueryOutcome::NoAnswer);
    let now = self::now(state);
    let mut next = p.clone();
    next.updated_at = now;
    let interval = Duration::milliseconds(state.settings.sync.interval_ms as i64);
    let syncing = p.dispatch == Dispatch::Syncing;
    if syncing {
        next.sync_attempts += 1;
    }
    let last = syncing && next.sync_attempts >= i64::from(state.settings.sync.max_attempts);
    let announce = match omno_psp::sync_step(answer, syncing, last) {
        SyncStep::Final(d) => {
            finish(&mut next, d, now)?;
            true
        }
        SyncStep::AskSoon => {
            next.next_action_at = Some(now + Duration::milliseconds(100));
            false
        }
        SyncStep::StartWindow => {
            start_sync(&mut next, state, now);
            false
        }
        SyncStep::NotExecuted => {
            apply(
                &mut next,
                PayoutStatus::Failed,
                Some((
                    DetailedStatus::PspTimeout,
                    "PSP confirmed the payout was not executed".into(),
                )),
                None,
                now,
            )?;
            true
        }
        SyncStep::ManualReview => {
            next.status_reason = Some(omno_domain::psp::StatusReason::manual_review(
                PayoutStatus::Pending.as_str(),
            ));
            next.next_action_at = None;
            false
        }
        SyncStep::Continue => {
            next.next_action_at = Some(now + interval);
            false
        }
    };
    save_worker(state, &p, &next, announce, true).await?;
    Ok(())
}

/// `POST /admin/transactions/{id}/sync`: queries the PSP now for a `PENDING` payout that was
/// submitted (§13.2); else 409.
pub async fn admin_sync(state: &AppState, id: PayoutId) -> Result<Payout, ApiError> {
    let p = state
        .store
        .get_payout(None, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let submitted = matches!(
        p.dispatch,
        Dispatch::Submitted | Dispatch::Awaiting | Dispatch::Syncing
    );
    if p.status != PayoutStatus::Pending || !submitted {
        return Err(ApiError::InvalidState(format!(
            "only PENDING payouts submitted to a PSP can be synced (payout is {})",
            p.status
        )));
    }
    let now = now(state);
    sync(state, p, now).await?;
    state
        .store
        .get_payout(None, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `POST /admin/transactions/{id}/resolve`: settles a `PENDING` payout whose sync window is over
/// (manual review) as `PROCESSED` or `FAILED` (`PSP_TIMEOUT`), with its event.
pub async fn admin_resolve(
    state: &AppState,
    id: PayoutId,
    to: PayoutStatus,
    reason: String,
) -> Result<Payout, ApiError> {
    for _ in 0..MAX_RACES {
        let p = state
            .store
            .get_payout(None, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let window_over = p.dispatch == Dispatch::Syncing
            && p.next_action_at.is_none()
            && p.sync_attempts >= i64::from(state.settings.sync.max_attempts);
        if p.status != PayoutStatus::Pending || !window_over {
            return Err(ApiError::InvalidState(
                "only PENDING payouts past the sync window can be resolved".into(),
            ));
        }
        let now = now(state);
        let mut next = p.clone();
        let status_reason = match to {
            PayoutStatus::Failed => Some((DetailedStatus::PspTimeout, reason.clone())),
            PayoutStatus::Created
            | PayoutStatus::WaitingForConfirmation
            | PayoutStatus::Pending
            | PayoutStatus::Processed
            | PayoutStatus::Rejected => None,
        };
        apply(&mut next, to, status_reason, Some(reason.clone()), now)?;
        if save_worker(state, &p, &next, true, false).await? {
            return Ok(next);
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}
