//! Payin flows: create, process (card, saved card, APM — API or hosted page), 3DS outcome,
//! refunds, and the background work (expiry, APM outcomes, status sync). API.md §5, §8.2, §9.2.
//!
//! Every status change is a compare-and-set on the payin's version, committed with its history
//! entry, its outbox event and the request's `Idempotency-Key` response. Processing starts with a
//! write-ahead marker (`CREATED` → `PENDING`, the account about to be called): of concurrent
//! `process/*` calls exactly one wins it, and after a crash the marker says which PSP may hold the
//! charge, so it is queried there, never resubmitted elsewhere. Refunds reserve their amount on
//! the payin (compare-and-set) before the PSP call, so their sum can never exceed the capture.

use std::time::Instant;

use omno_domain::card::{CardExpiry, CardNumber};
use omno_domain::errors::FieldErrors;
use omno_domain::ids::{CardId, MerchantId, PayinId, PspAccountId, RefundId, RouterId};
use omno_domain::money::{Money, format_amount};
use omno_domain::payin::{
    Attempt, CardInfo, Payin, PayinHistoryEntry, PayinStatus, Refund, RefundRefused, RefundState,
    cascades, reserve_refund, status_after_refund,
};
use omno_domain::payout::Dispatch;
use omno_domain::psp::{DetailedStatus, Direction, PaymentMethod, PspAccount, StatusReason};
use omno_domain::router::RouteRequest;
use omno_psp::{
    Definite, PayinOutcome, PayinQuery, PayinSubmission, QueryOutcome, RefundOutcome,
    RefundSubmission, SyncStep,
};
use omno_store::{
    CreateMeta, CreateOutcome, MerchantRecord, NewEvent, PanUpdate, PayinWrite, SaveOutcome,
    SavedCardRecord,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::payout::{
    MAX_RACES, idem_not_before, idem_precheck, idem_write, now, scope, with_header_errors,
};
use crate::error::ApiError;
use crate::reply::{Reply, to_json};
use crate::state::AppState;
use crate::wire::parse::{canonical_fingerprint, create_fingerprints};
use crate::wire::payin::{CreatePayinResponse, PayinProcessResponse, RefundResponse, payin_amount};
use crate::wire::{self, BrowserInfo, IframeUrls, TransactionView};

/// Hosted payin page URL with a fresh token (the 3DS page lives `payin.three_ds_timeout_secs`).
pub fn page_url(state: &AppState, id: PayinId, page: &str, now: OffsetDateTime) -> String {
    let ttl = if page == "3ds" {
        state.settings.payin.three_ds_timeout_secs
    } else {
        state.settings.hpp.token_ttl_secs
    };
    let exp = now + Duration::seconds(ttl as i64);
    state.page_url("payin", &id.hex(), page, exp)
}

/// The outbox event announcing the payin's current status, if anything is subscribed to it
/// ([`crate::webhooks::status_event`]).
pub async fn status_event(
    state: &AppState,
    p: &Payin,
    now: OffsetDateTime,
) -> Result<Option<NewEvent>, ApiError> {
    let t = crate::webhooks::Announced {
        kind: "PAYIN",
        event_type: "PAYIN_STATUS_CHANGED",
        merchant: p.merchant_id,
        status: p.status.as_str(),
        webhook_url: p.webhook_url.as_deref(),
    };
    crate::webhooks::status_event(state, t, now, || TransactionView::from(p)).await
}

fn route_request(p: &Payin, method: Option<PaymentMethod>) -> RouteRequest {
    RouteRequest {
        direction: Direction::Payin,
        amount: p.initial,
        country: p.customer.billing.country_code,
        kyc_verified: p.kyc_verified,
        previous_transaction_count: p.previous_transaction_count,
        method,
    }
}

fn apply(
    p: &mut Payin,
    to: PayinStatus,
    reason: Option<(DetailedStatus, String)>,
    history_reason: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    p.apply(to, reason, history_reason, now)
        .map_err(|e| ApiError::internal(format!("illegal transition: {e}")))
}

/// Options of a payin save beyond the payin itself.
#[derive(Default)]
struct SaveOpts {
    announce: bool,
    idem: Option<omno_store::IdemWrite>,
    pan: Option<PanUpdate>,
    save_card: Option<SavedCardRecord>,
    release_lease: bool,
}

/// Commits `next` over `before` (compare-and-set), with its event when `announce`.
async fn save(
    state: &AppState,
    before: &Payin,
    next: &Payin,
    o: SaveOpts,
) -> Result<SaveOutcome, ApiError> {
    let events = if o.announce {
        Vec::from_iter(status_event(state, next, next.updated_at).await?)
    } else {
        vec![]
    };
    let deliveries = NewEvent::any_delivery(&events);
    let out = state
        .store
        .save_payin(PayinWrite {
            payin: next,
            expected_version: before.version,
            events,
            idem: o.idem,
            pan: o.pan.unwrap_or(PanUpdate::Keep),
            save_card: o.save_card,
            release_lease_of: o.release_lease.then_some(&*state.node_id),
        })
        .await?;
    if out == SaveOutcome::Saved {
        if o.announce {
            crate::telemetry::transaction("PAYIN", next.status.as_str());
        }
        let scheduled = next.next_action_at.is_some();
        state.committed_deliveries(scheduled, deliveries);
    }
    Ok(out)
}

/// `POST /public/payin`.
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
    let router_known = |r: &str| RouterId::parse(r).is_some_and(|id| cfg.routers.contains_key(&id));
    let parsed = wire::create_transaction(
        body,
        "amount",
        &merchant.enabled_currencies,
        now.date(),
        (s.webhooks.allow_loopback, s.webhooks.allow_private),
        &router_known,
    );
    let input = with_header_errors(parsed, idem_err)?;
    let scope = scope(merchant);
    let idem_prefix = idem_key.as_ref().map(|_| "POST /public/payin\n");
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
    let p = new_payin(state, &cfg, merchant, customer_id, input, None, now);
    let id = p.id;
    let response = to_json(&CreatePayinResponse {
        payment_id: id.hex(),
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
    match state.store.create_payin(&p, &meta, &events).await? {
        CreateOutcome::Created => {
            crate::telemetry::transaction("PAYIN", p.status.as_str());
            state.committed(false, &events);
            Ok(Reply::ok(response))
        }
        CreateOutcome::IdemReplay(r) => Ok(Reply::replay(r.status, r.body)),
        CreateOutcome::IdemMismatch => Err(ApiError::IdempotencyKeyReused),
        CreateOutcome::OrderReplay(body) => Ok(Reply::replay(200, body)),
        CreateOutcome::DuplicateOrderId => Err(ApiError::DuplicateOrderId),
    }
}

/// A new `CREATED` payin with its routing prediction (§5.1): the binding route comes at
/// processing.
pub fn new_payin(
    state: &AppState,
    cfg: &crate::config_cache::MerchantConfig,
    merchant: &MerchantRecord,
    customer_id: omno_domain::ids::CustomerId,
    input: wire::CreatePayoutInput,
    cashier_session_id: Option<String>,
    now: OffsetDateTime,
) -> Payin {
    let expires_at = now + Duration::seconds(state.settings.payin.expiry_secs as i64);
    let mut p = Payin {
        id: PayinId(Uuid::now_v7()),
        merchant_id: merchant.id,
        customer_id,
        order_id: input.order_id,
        amount: input.money,
        initial: input.money,
        status: PayinStatus::Created,
        status_reason: None,
        kyc_verified: input.kyc_verified,
        previous_transaction_count: input.previous_transaction_count.unwrap_or(0),
        customer: input.customer,
        return_urls: input.return_urls,
        webhook_url: input.webhook_url,
        router_id: input
            .router_id
            .as_deref()
            .and_then(RouterId::parse)
            .or(merchant.default_router_id),
        routing_reason: None,
        predicted_psp_id: None,
        processor_psp_id: None,
        psp_transaction_id: None,
        card: None,
        payment_method: None,
        ip_address: None,
        user_agent: None,
        cashier_session_id,
        save_card: false,
        created_at: now,
        updated_at: now,
        expires_at,
        three_ds_deadline: None,
        dispatch: Dispatch::Idle,
        next_action_at: Some(expires_at),
        sync_attempts: 0,
        submitted_at: None,
        history: vec![PayinHistoryEntry {
            status: PayinStatus::Created,
            at: now,
            reason: None,
        }],
        attempts: vec![],
        refunds: vec![],
        routing_detail: None,
        fx_detail: None,
        version: 1,
    };
    let routed = super::routing::route(state, cfg, p.router_id, &route_request(&p, None), now);
    p.predicted_psp_id = routed.chosen.map(|(a, _, _)| a.id);
    p.router_id = routed.decision.router_id;
    p
}

/// `GET /public/payin/{id}`.
pub async fn get(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
) -> Result<Reply, ApiError> {
    let id = PayinId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let p = state
        .store
        .get_payin(Some(merchant.id), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Reply::ok(to_json(&TransactionView::from(&p))?))
}

/// Applies an elapsed waiting window (§8.2: unprocessed or 3DS → `TIMEOUT` `EXPIRED`).
/// Returns `true` when the payin changed (the caller re-reads).
async fn expire_if_due(
    state: &AppState,
    p: &Payin,
    now: OffsetDateTime,
    release_lease: bool,
) -> Result<bool, ApiError> {
    let Some(why) = p.window_elapsed(now) else {
        return Ok(false);
    };
    let mut next = p.clone();
    apply(
        &mut next,
        PayinStatus::Timeout,
        Some((DetailedStatus::Expired, why.into())),
        Some(why.into()),
        now,
    )?;
    let opts = SaveOpts {
        announce: true,
        pan: Some(PanUpdate::Clear),
        release_lease,
        ..SaveOpts::default()
    };
    save(state, p, &next, opts).await?;
    Ok(true)
}

/// How a payin is paid.
pub enum Instrument {
    /// Card data (API, hosted form) or a saved card (`card_id`).
    Card {
        /// PAN (masked `Debug`).
        number: CardNumber,
        /// Expiry.
        expiry: CardExpiry,
        /// The saved card used, if any.
        card_id: Option<CardId>,
        /// Vault the card if the payin succeeds.
        save: bool,
    },
    /// An APM.
    Apm(PaymentMethod),
}

impl Instrument {
    fn method(&self) -> PaymentMethod {
        match self {
            Instrument::Card { .. } => PaymentMethod::Card,
            Instrument::Apm(m) => *m,
        }
    }
}

/// A processing request (§5.2–5.4 and the hosted forms).
pub struct ProcessRequest {
    /// How to pay.
    pub instrument: Instrument,
    /// Customer context.
    pub browser: BrowserInfo,
    /// `(scope, key, fingerprint)` of the request's `Idempotency-Key`.
    pub idem: Option<(String, String, String)>,
    /// When the request arrived (the cascade's time budget, §9.2).
    pub started: Instant,
}

/// The answer body of a `process/*` call for the payin as it stands.
fn process_response(state: &AppState, p: &Payin, now: OffsetDateTime) -> Result<String, ApiError> {
    let redirect_url = match (p.status, p.payment_method) {
        (PayinStatus::Pending3ds, _) => Some(page_url(state, p.id, "3ds", now)),
        (_, Some(m)) if m != PaymentMethod::Card => Some(page_url(state, p.id, "status", now)),
        _ => None,
    };
    to_json(&PayinProcessResponse {
        payment_id: p.id.hex(),
        status: p.status.as_str().to_string(),
        redirect_url,
    })
}

/// Maps a definite PSP failure to the payin status of §8.2.
fn failure_status(method: PaymentMethod, d: DetailedStatus) -> PayinStatus {
    match d {
        DetailedStatus::PspError
        | DetailedStatus::CurrencyNotSupported
        | DetailedStatus::PspTimeout
        | DetailedStatus::NoProviderAvailable => PayinStatus::Failed,
        DetailedStatus::InsufficientFunds if method != PaymentMethod::Card => PayinStatus::Failed,
        _ => PayinStatus::Declined,
    }
}

fn account(accounts: &[PspAccount], id: Option<PspAccountId>) -> Option<&PspAccount> {
    id.and_then(|id| accounts.iter().find(|a| a.id == id))
}

/// Processes a payin: routes with the method, submits to the first account, cascades on soft
/// declines (§9.2) and commits the outcome. Returns the payin as committed and the API answer.
pub async fn process(
    state: &AppState,
    merchant_id: MerchantId,
    id: PayinId,
    req: ProcessRequest,
) -> Result<(Payin, String), ApiError> {
    let method = req.instrument.method();
    let idem = req.idem.as_ref();
    let idem_for = |body: &str, now| {
        idem.and_then(|(scope, key, fp)| idem_write(state, scope, Some(key), fp, body, now))
    };
    // 1. Win the CREATED → PENDING marker (one winner among concurrent calls).
    let mut race = 0;
    let (mut cur, first, rest, cfg) = loop {
        race += 1;
        if race > MAX_RACES {
            return Err(ApiError::internal("too many concurrent changes"));
        }
        let now = now(state);
        let p = state
            .store
            .get_payin(Some(merchant_id), id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if expire_if_due(state, &p, now, false).await? {
            continue;
        }
        p.check_processable()
            .map_err(|e| ApiError::InvalidState(e.to_string()))?;
        let cfg = state.config.get(&*state.store, p.merchant_id).await?;
        let routed = super::routing::route(
            state,
            &cfg,
            p.router_id,
            &route_request(&p, Some(method)),
            now,
        );
        let mut next = p.clone();
        next.payment_method = Some(method);
        if req.browser.ip.is_some() {
            next.ip_address = req.browser.ip.clone();
        }
        if req.browser.user_agent.is_some() {
            next.user_agent = req.browser.user_agent.clone();
        }
        next.router_id = routed.decision.router_id;
        next.routing_reason = Some(routed.decision.reason.clone());
        next.routing_detail = Some(super::routing::routing_detail(&routed.decision));
        let mut pan = PanUpdate::Keep;
        if let Instrument::Card {
            number,
            expiry,
            card_id,
            save,
        } = &req.instrument
        {
            next.card = Some(CardInfo {
                card_id: *card_id,
                mask: number.mask(),
                brand: number.brand().as_str().to_string(),
                hash: state.keys.card_hash(number.digits()),
                exp_month: expiry.month,
                exp_year: expiry.year,
            });
            next.save_card = *save && card_id.is_none();
            if next.save_card {
                // Held encrypted only until the outcome is final (3DS may come in between).
                pan = PanUpdate::Set(state.keys.seal(number.digits().as_bytes()));
            }
        }
        // The first account that can execute it (FX included) is attempt 1; its marker rides on
        // the CREATED → PENDING change (one commit before the PSP call).
        let first = routed
            .decision
            .ordered
            .iter()
            .enumerate()
            .find_map(|(i, id)| {
                let acct = account(&cfg.accounts, Some(*id))?;
                let (amount, conversion) = super::routing::execution_on(
                    state,
                    &cfg,
                    acct,
                    p.initial,
                    Direction::Payin,
                    now,
                )?;
                Some((i, acct.clone(), amount, conversion))
            });
        let Some((first_index, acct, amount, conversion)) = first else {
            let reason = routed
                .decision
                .reason
                .strip_prefix("no eligible PSP account: ")
                .map(|r| format!("No PSP account can process this payin ({r})"))
                .unwrap_or_else(|| "No PSP account can process this payin".into());
            apply(
                &mut next,
                PayinStatus::Failed,
                Some((DetailedStatus::NoProviderAvailable, reason)),
                None,
                now,
            )?;
            let body = process_response(state, &next, now)?;
            let opts = SaveOpts {
                announce: true,
                idem: idem_for(&body, now),
                pan: Some(PanUpdate::Clear),
                ..SaveOpts::default()
            };
            match save(state, &p, &next, opts).await? {
                SaveOutcome::Saved => return Ok((next, body)),
                SaveOutcome::VersionConflict => continue,
                SaveOutcome::IdemTaken => return idem_taken(state, idem).await,
            }
        };
        apply(
            &mut next,
            PayinStatus::Pending,
            None,
            Some("Submitted to PSP".into()),
            now,
        )?;
        mark_attempt(&mut next, state, &acct, amount, conversion.as_ref(), 1, now);
        let opts = SaveOpts {
            announce: true,
            pan: Some(pan),
            ..SaveOpts::default()
        };
        match save(state, &p, &next, opts).await? {
            SaveOutcome::Saved => {
                next.version = p.version + 1;
                let rest = routed.decision.ordered[first_index + 1..].to_vec();
                break (next, (acct, amount), rest, cfg);
            }
            SaveOutcome::VersionConflict => continue,
            SaveOutcome::IdemTaken => return Err(ApiError::internal("unexpected idempotency")),
        }
    };

    // 2. Attempts, in the route's order, while the outcome is a soft decline (§9.2).
    let max_attempts = state.settings.routing.max_attempts.max(1) as usize;
    let psp_timeout = std::time::Duration::from_millis(state.settings.psp.request_timeout_ms);
    let budget = std::time::Duration::from_secs(state.settings.server.request_timeout_secs);
    let card_number = match &req.instrument {
        Instrument::Card { number, .. } => Some(number.digits().to_string()),
        Instrument::Apm(_) => None,
    };
    let mut tried = 0usize;
    let mut next_target = Some(first);
    let mut rest = rest.into_iter();
    while let Some((acct, amount)) = next_target.take() {
        tried += 1;
        let attempt_no = tried as u32;
        if attempt_no > 1 {
            // The marker names the account before it is called.
            let now = now(state);
            let mut marked = cur.clone();
            let conversion = super::routing::execution_on(
                state,
                &cfg,
                &acct,
                cur.initial,
                Direction::Payin,
                now,
            )
            .and_then(|(_, c)| c);
            mark_attempt(
                &mut marked,
                state,
                &acct,
                amount,
                conversion.as_ref(),
                attempt_no,
                now,
            );
            match save(state, &cur, &marked, SaveOpts::default()).await? {
                SaveOutcome::Saved => marked.version = cur.version + 1,
                SaveOutcome::VersionConflict | SaveOutcome::IdemTaken => {
                    return Err(ApiError::internal("payin changed during processing"));
                }
            }
            cur = marked;
        }
        let Some(connector) = state.connectors.for_account(&acct) else {
            return Err(ApiError::internal(format!(
                "no connector {}",
                acct.connector
            )));
        };
        let submission = PayinSubmission {
            transaction_id: cur.id.hex(),
            amount,
            method,
            card_number: card_number.clone(),
            account: acct,
            attempt: attempt_no,
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(psp_timeout, connector.submit_payin(&submission))
            .await
            .unwrap_or(PayinOutcome::Ambiguous {
                psp_transaction_id: None,
            });
        let latency = started.elapsed();
        crate::telemetry::psp_payin(&submission.account.id.hex(), &outcome, latency);
        drop(submission);
        let now = self::now(state);
        let mut next = cur.clone();
        record_attempt(&mut next, &outcome, now, latency);
        let soft = match &outcome {
            PayinOutcome::Declined {
                detailed_status, ..
            }
            | PayinOutcome::Failed {
                detailed_status, ..
            } => cascades(*detailed_status),
            PayinOutcome::Succeeded { .. }
            | PayinOutcome::ThreeDsRequired { .. }
            | PayinOutcome::Accepted { .. }
            | PayinOutcome::Ambiguous { .. } => false,
        };
        // §9.2: a soft decline moves on to the next eligible account, within the attempt limit
        // and while a whole PSP timeout still fits in the request's time budget.
        let fits = req.started.elapsed() + psp_timeout <= budget;
        if soft && tried < max_attempts && fits {
            let now = self::now(state);
            next_target = rest.by_ref().find_map(|id| {
                let a = account(&cfg.accounts, Some(id))?;
                let (amount, _) = super::routing::execution_on(
                    state,
                    &cfg,
                    a,
                    cur.initial,
                    Direction::Payin,
                    now,
                )?;
                Some((a.clone(), amount))
            });
            if next_target.is_some() {
                // Stay PENDING; the next attempt's marker commits this one's record.
                cur = next;
                continue;
            }
        }
        return finish_submission(state, &cur, next, outcome, method, idem, now).await;
    }
    // Unreachable in practice (the loop returns after its last attempt); kept as a safe answer:
    // the last outcome stands; with no attempt at all, there is no route.
    let now = now(state);
    let mut next = cur.clone();
    if cur.attempts.is_empty() {
        apply(
            &mut next,
            PayinStatus::Failed,
            Some((
                DetailedStatus::NoProviderAvailable,
                "No PSP account can process this payin".into(),
            )),
            None,
            now,
        )?;
    } else {
        let last = cur.attempts.last().cloned();
        let d = last
            .and_then(|a| a.detailed_status)
            .unwrap_or(DetailedStatus::GeneralDecline);
        apply(
            &mut next,
            failure_status(method, d),
            Some((d, "Declined".into())),
            None,
            now,
        )?;
    }
    let body = process_response(state, &next, now)?;
    let opts = SaveOpts {
        announce: true,
        idem: idem_for(&body, now),
        pan: Some(PanUpdate::Clear),
        ..SaveOpts::default()
    };
    match save(state, &cur, &next, opts).await? {
        SaveOutcome::Saved => Ok((next, body)),
        SaveOutcome::IdemTaken => idem_taken(state, idem).await,
        SaveOutcome::VersionConflict => Err(ApiError::internal("payin changed during processing")),
    }
}

/// Records attempt `n` on `p` as in flight at `acct` (the write-ahead marker of §1.9).
fn mark_attempt(
    p: &mut Payin,
    state: &AppState,
    acct: &PspAccount,
    amount: Money,
    conversion: Option<&omno_domain::fx::Conversion>,
    n: u32,
    now: OffsetDateTime,
) {
    p.amount = amount;
    p.fx_detail = conversion.map(super::routing::fx_detail);
    p.processor_psp_id = Some(acct.id);
    p.psp_transaction_id = None;
    p.submitted_at = Some(now);
    p.dispatch = Dispatch::Submitted;
    p.next_action_at = Some(now + marker_lease(state));
    p.updated_at = now;
    p.attempts.push(Attempt {
        attempt: n,
        psp_account_id: acct.id,
        psp_transaction_id: None,
        amount,
        outcome: "IN_FLIGHT".into(),
        detailed_status: None,
        started_at: now,
        finished_at: None,
        latency_ms: None,
    });
}

/// How long a submission marker keeps the payin away from the worker: the PSP timeout plus a
/// margin. A marker still standing after that means the process died mid-call: sync it.
fn marker_lease(state: &AppState) -> Duration {
    Duration::milliseconds(state.settings.psp.request_timeout_ms as i64 + 30_000)
}

fn record_attempt(
    p: &mut Payin,
    outcome: &PayinOutcome,
    now: OffsetDateTime,
    latency: std::time::Duration,
) {
    let (label, reference, d) = match outcome {
        PayinOutcome::Succeeded { psp_transaction_id } => {
            ("SUCCESS", Some(psp_transaction_id.clone()), None)
        }
        PayinOutcome::Declined {
            psp_transaction_id,
            detailed_status,
            ..
        } => (
            "DECLINED",
            psp_transaction_id.clone(),
            Some(*detailed_status),
        ),
        PayinOutcome::Failed {
            psp_transaction_id,
            detailed_status,
            ..
        } => ("FAILED", psp_transaction_id.clone(), Some(*detailed_status)),
        PayinOutcome::ThreeDsRequired { psp_transaction_id } => {
            ("PENDING_3DS", Some(psp_transaction_id.clone()), None)
        }
        PayinOutcome::Accepted {
            psp_transaction_id, ..
        } => ("ACCEPTED", Some(psp_transaction_id.clone()), None),
        PayinOutcome::Ambiguous { psp_transaction_id } => (
            "AMBIGUOUS",
            psp_transaction_id.clone(),
            Some(DetailedStatus::PspTimeout),
        ),
    };
    if reference.is_some() {
        p.psp_transaction_id = reference.clone();
    }
    if let Some(a) = p.attempts.last_mut() {
        a.outcome = label.into();
        a.psp_transaction_id = reference;
        a.detailed_status = d;
        a.finished_at = Some(now);
        a.latency_ms = Some(latency.as_millis() as i64);
    }
    p.updated_at = now;
}

/// A card to vault with a successful payin: the PAN ciphertext, under the existing card id of
/// the same (merchant, customer, card) or a new one.
async fn card_to_save(
    state: &AppState,
    p: &Payin,
    pan_enc: Vec<u8>,
    now: OffsetDateTime,
) -> Result<Option<SavedCardRecord>, ApiError> {
    let Some(card) = &p.card else { return Ok(None) };
    let id = match state
        .store
        .find_saved_card(p.merchant_id, p.customer_id, &card.hash)
        .await?
    {
        Some(existing) => existing.id,
        None => CardId(Uuid::now_v7()),
    };
    Ok(Some(SavedCardRecord {
        id,
        merchant_id: p.merchant_id,
        customer_id: p.customer_id,
        card_hash: card.hash.clone(),
        mask: card.mask.clone(),
        brand: card.brand.clone(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        pan_enc,
        created_at: now,
    }))
}

/// For a payin that succeeded with `saveCard`: the card to vault with the change (from the PAN
/// ciphertext held on the payin), its id set on the payin.
async fn vault_card(
    state: &AppState,
    p: &mut Payin,
    now: OffsetDateTime,
) -> Result<Option<SavedCardRecord>, ApiError> {
    if !p.save_card {
        return Ok(None);
    }
    let Some(pan) = state.store.payin_pan(p.id).await? else {
        return Ok(None);
    };
    let card = card_to_save(state, p, pan, now).await?;
    if let (Some(c), Some(info)) = (&card, p.card.as_mut()) {
        info.card_id = Some(c.id);
    }
    Ok(card)
}

/// Commits the outcome of the last attempt of a `process/*` call.
async fn finish_submission(
    state: &AppState,
    cur: &Payin,
    mut next: Payin,
    outcome: PayinOutcome,
    method: PaymentMethod,
    idem: Option<&(String, String, String)>,
    now: OffsetDateTime,
) -> Result<(Payin, String), ApiError> {
    let mut announce = true;
    let mut save_card = None;
    match outcome {
        PayinOutcome::Succeeded { .. } => {
            apply(&mut next, PayinStatus::Success, None, None, now)?;
            save_card = vault_card(state, &mut next, now).await?;
        }
        PayinOutcome::Declined {
            detailed_status,
            reason,
            ..
        }
        | PayinOutcome::Failed {
            detailed_status,
            reason,
            ..
        } => {
            let to = failure_status(method, detailed_status);
            apply(&mut next, to, Some((detailed_status, reason)), None, now)?;
        }
        PayinOutcome::ThreeDsRequired { .. } => {
            apply(
                &mut next,
                PayinStatus::Pending3ds,
                None,
                Some("3DS challenge required".into()),
                now,
            )?;
            let deadline =
                now + Duration::seconds(state.settings.payin.three_ds_timeout_secs as i64);
            next.dispatch = Dispatch::Idle;
            next.three_ds_deadline = Some(deadline);
            next.next_action_at = Some(deadline);
        }
        PayinOutcome::Accepted { ready_after, .. } => {
            announce = false;
            next.dispatch = Dispatch::Awaiting;
            next.next_action_at = Some(now + ready_after);
        }
        PayinOutcome::Ambiguous { .. } => {
            announce = false;
            start_sync(&mut next, state, now);
        }
    }
    let body = process_response(state, &next, now)?;
    let idem_w =
        idem.and_then(|(scope, key, fp)| idem_write(state, scope, Some(key), fp, &body, now));
    let opts = SaveOpts {
        announce,
        idem: idem_w,
        save_card,
        ..SaveOpts::default()
    };
    match save(state, cur, &next, opts).await? {
        SaveOutcome::Saved => {
            next.version = cur.version + 1;
            Ok((next, body))
        }
        SaveOutcome::IdemTaken => idem_taken(state, idem).await,
        SaveOutcome::VersionConflict => Err(ApiError::internal("payin changed during processing")),
    }
}

async fn idem_taken(
    state: &AppState,
    idem: Option<&(String, String, String)>,
) -> Result<(Payin, String), ApiError> {
    let (scope, key, fp) = idem.ok_or_else(|| ApiError::internal("idempotency key vanished"))?;
    match idem_precheck(state, scope, Some(key), fp, now(state)).await? {
        Some(_) => Err(ApiError::IdempotencyKeyReused),
        None => Err(ApiError::internal("idempotency key vanished")),
    }
}

fn start_sync(p: &mut Payin, state: &AppState, now: OffsetDateTime) {
    p.dispatch = Dispatch::Syncing;
    p.sync_attempts = 0;
    p.status_reason = Some(StatusReason {
        reason: "PSP did not answer; status sync scheduled".into(),
        detailed_status: DetailedStatus::PspTimeout,
        status: PayinStatus::Pending.as_str().into(),
    });
    p.next_action_at = Some(now + Duration::milliseconds(state.settings.sync.interval_ms as i64));
    p.updated_at = now;
}

/// `(scope, key, fingerprint)` for a payin request's `Idempotency-Key`.
fn idem_triple(
    merchant: &MerchantRecord,
    key: Option<String>,
    fp: String,
) -> Option<(String, String, String)> {
    key.map(|k| (scope(merchant), k, fp))
}

/// Fingerprints a `process/*` request, answers it from its `Idempotency-Key` if already done,
/// else processes the payin and answers the outcome.
#[expect(clippy::too_many_arguments, reason = "one call per process endpoint")]
async fn run_process(
    state: &AppState,
    merchant: &MerchantRecord,
    id: PayinId,
    endpoint: &str,
    canon: &serde_json::Map<String, serde_json::Value>,
    idem_key: Option<String>,
    instrument: Instrument,
    browser: BrowserInfo,
    started: Instant,
) -> Result<Reply, ApiError> {
    let fp = canonical_fingerprint(
        &format!("POST /public/payin/{}/process/{endpoint}\n", id.hex()),
        canon,
    );
    let key = idem_key.as_deref();
    if let Some(r) = idem_precheck(state, &scope(merchant), key, &fp, now(state)).await? {
        return Ok(r);
    }
    let req = ProcessRequest {
        instrument,
        browser,
        idem: idem_triple(merchant, idem_key, fp),
        started,
    };
    let (_, body) = process(state, merchant.id, id, req).await?;
    Ok(Reply::ok(body))
}

/// `POST /public/payin/{id}/process/card`.
pub async fn process_card(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let id = PayinId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let hash = |s: &str| state.keys.card_hash(s);
    let (input, errs) = crate::wire::payin::process_card(body, now(state).date(), &hash)?;
    let input = with_header_errors(errors_or(input, errs), idem_err)?;
    let instrument = Instrument::Card {
        number: input.card.number,
        expiry: input.card.expiry,
        card_id: None,
        save: input.save_card,
    };
    run_process(
        state,
        merchant,
        id,
        "card",
        &input.canon,
        idem_key,
        instrument,
        input.browser,
        started,
    )
    .await
}

fn errors_or<T>(value: Option<T>, errs: FieldErrors) -> Result<T, ApiError> {
    match value {
        Some(v) if errs.is_empty() => Ok(v),
        _ if !errs.is_empty() => Err(ApiError::Validation(errs)),
        _ => Err(ApiError::internal("validation inconsistency")),
    }
}

/// `POST /public/payin/{id}/process/saved-card`.
pub async fn process_saved_card(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let id = PayinId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let hash = |s: &str| state.keys.card_hash(s);
    let (input, raw_card_id, mut errs) = crate::wire::payin::process_saved_card(body, &hash)?;
    // The card must be saved for this merchant and the payin's customer (§5.3).
    let payin = state
        .store
        .get_payin(Some(merchant.id), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut card = None;
    if raw_card_id.is_some() {
        let found = match input.as_ref().and_then(|i| i.card_id) {
            Some(cid) => state
                .store
                .get_saved_card(merchant.id, cid)
                .await?
                .filter(|c| c.customer_id == payin.customer_id),
            None => None,
        };
        match found {
            None => errs.add("savedCardData.cardId", "unknown card"),
            Some(c) => {
                let expiry = CardExpiry {
                    month: c.exp_month,
                    year: c.exp_year,
                };
                if expiry.is_expired(now(state).date()) {
                    errs.add("savedCardData.cardId", "card has expired");
                } else {
                    card = Some((c, expiry));
                }
            }
        }
    }
    let input = with_header_errors(errors_or(input, errs), idem_err)?;
    let Some((card, expiry)) = card else {
        return Err(ApiError::internal("validation inconsistency"));
    };
    let number = state
        .keys
        .open(&card.pan_enc)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| CardNumber::parse(&s).ok())
        .ok_or_else(|| ApiError::internal("saved card cannot be decrypted"))?;
    let instrument = Instrument::Card {
        number,
        expiry,
        card_id: Some(card.id),
        save: false,
    };
    run_process(
        state,
        merchant,
        id,
        "saved-card",
        &input.canon,
        idem_key,
        instrument,
        input.browser,
        started,
    )
    .await
}

/// `POST /public/payin/{id}/process/direct-link`.
pub async fn process_direct_link(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let id = PayinId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let input = with_header_errors(crate::wire::payin::payin_direct_link(body), idem_err)?;
    run_process(
        state,
        merchant,
        id,
        "direct-link",
        &input.canon,
        idem_key,
        Instrument::Apm(input.method),
        input.browser,
        started,
    )
    .await
}

/// The hosted 3DS challenge's outcome (§11.2): `PENDING_3DS` → `SUCCESS` or `FAILED`
/// (`THREE_DS_FAILED`). Returns the payin as committed.
pub async fn complete_3ds(state: &AppState, id: PayinId, passed: bool) -> Result<Payin, ApiError> {
    for _ in 0..MAX_RACES {
        let now = now(state);
        let p = state
            .store
            .get_payin(None, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        if expire_if_due(state, &p, now, false).await? {
            continue;
        }
        if p.status != PayinStatus::Pending3ds {
            return Err(ApiError::InvalidState(format!(
                "payin is {}; the 3DS challenge is over",
                p.status
            )));
        }
        let mut next = p.clone();
        let mut save_card = None;
        if passed {
            apply(
                &mut next,
                PayinStatus::Success,
                None,
                Some("3DS challenge passed".into()),
                now,
            )?;
            save_card = vault_card(state, &mut next, now).await?;
        } else {
            apply(
                &mut next,
                PayinStatus::Failed,
                Some((
                    DetailedStatus::ThreeDsFailed,
                    "3DS authentication failed".into(),
                )),
                Some("3DS challenge failed".into()),
                now,
            )?;
        }
        let opts = SaveOpts {
            announce: true,
            save_card,
            ..SaveOpts::default()
        };
        match save(state, &p, &next, opts).await? {
            SaveOutcome::Saved => {
                next.version = p.version + 1;
                return Ok(next);
            }
            SaveOutcome::VersionConflict | SaveOutcome::IdemTaken => continue,
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}

/// Concurrent refunds of one payin all commit by compare-and-set, one per round; allow many
/// rounds, spread by a small random backoff.
const REFUND_RACES: u32 = 256;

async fn backoff(race: u32) {
    if race > 0 {
        let ms = rand::random::<u64>() % u64::from(race.min(8) + 1);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

fn refund_refused(e: RefundRefused, p: &Payin) -> ApiError {
    match e {
        RefundRefused::ExceedsRemainder { remaining } => ApiError::InvalidState(format!(
            "refund exceeds the refundable remainder of {} {}",
            format_amount(remaining, p.amount.currency.exponent()),
            p.amount.currency.code()
        )),
        RefundRefused::NotRefundable(_) | RefundRefused::NotPositive => {
            ApiError::InvalidState(e.to_string())
        }
    }
}

/// `POST /public/payin/{id}/refund` (extension, §5.6).
pub async fn refund(
    state: &AppState,
    merchant: &MerchantRecord,
    raw_id: &str,
    idem_key: Option<String>,
    idem_err: FieldErrors,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let id = PayinId::parse(raw_id).ok_or(ApiError::NotFound)?;
    let p = state
        .store
        .get_payin(Some(merchant.id), id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (requested, canon) = with_header_errors(
        crate::wire::payin::refund(body, p.amount.currency),
        idem_err,
    )?;
    let scope = scope(merchant);
    let fp = canonical_fingerprint(&format!("POST /public/payin/{}/refund\n", id.hex()), &canon);
    let key = idem_key.as_deref();
    if let Some(r) = idem_precheck(state, &scope, key, &fp, now(state)).await? {
        return Ok(r);
    }
    // 1. Reserve the amount on the payin (compare-and-set against concurrent refunds).
    let refund_id = RefundId(Uuid::now_v7());
    let mut reserved = None;
    for race in 0..REFUND_RACES {
        backoff(race).await;
        let now = now(state);
        let p = state
            .store
            .get_payin(Some(merchant.id), id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let amount = reserve_refund(p.status, p.amount.amount.0, p.reserved_total(), requested)
            .map_err(|e| refund_refused(e, &p))?;
        let mut next = p.clone();
        next.refunds.push(Refund {
            id: refund_id,
            amount,
            state: RefundState::Pending,
            psp_reference: None,
            created_at: now,
        });
        match save(state, &p, &next, SaveOpts::default()).await? {
            SaveOutcome::Saved => {
                next.version = p.version + 1;
                reserved = Some((next, amount));
                break;
            }
            SaveOutcome::VersionConflict | SaveOutcome::IdemTaken => continue,
        }
    }
    let Some((p, amount)) = reserved else {
        return Err(ApiError::internal("too many concurrent changes"));
    };
    // 2. The PSP that captured the payin refunds it.
    let cfg = state.config.get(&*state.store, p.merchant_id).await?;
    let outcome = match account(&cfg.accounts, p.processor_psp_id).cloned() {
        Some(acct) => match state.connectors.for_account(&acct) {
            Some(connector) => {
                let sub = RefundSubmission {
                    transaction_id: p.id.hex(),
                    refund_id: refund_id.hex(),
                    amount: Money {
                        amount: omno_domain::money::MinorUnits(amount),
                        currency: p.amount.currency,
                    },
                    account: acct,
                };
                let timeout =
                    std::time::Duration::from_millis(state.settings.psp.request_timeout_ms);
                tokio::time::timeout(timeout, connector.refund(&sub))
                    .await
                    .unwrap_or(RefundOutcome::Ambiguous)
            }
            None => RefundOutcome::Failed {
                detailed_status: DetailedStatus::PspError,
                reason: "The processing PSP account has no connector".into(),
            },
        },
        None => RefundOutcome::Failed {
            detailed_status: DetailedStatus::PspError,
            reason: "The processing PSP account no longer exists".into(),
        },
    };
    if outcome == RefundOutcome::Ambiguous {
        // The reservation stays: the remainder cannot be refunded twice while this is unknown.
        return Err(ApiError::internal(
            "refund outcome unknown; the amount stays reserved for review",
        ));
    }
    // 3. Commit the outcome from the committed totals (not the status read before the call).
    for race in 0..REFUND_RACES {
        backoff(race).await;
        let now = now(state);
        let cur = state
            .store
            .get_payin(None, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let mut next = cur.clone();
        let Some(r) = next.refunds.iter_mut().find(|r| r.id == refund_id) else {
            return Err(ApiError::internal("refund reservation vanished"));
        };
        let (ok, reason) = match &outcome {
            RefundOutcome::Succeeded { psp_reference } => {
                r.state = RefundState::Succeeded;
                r.psp_reference = Some(psp_reference.clone());
                (true, None)
            }
            RefundOutcome::Failed {
                detailed_status,
                reason,
            } => {
                r.state = RefundState::Failed;
                (false, Some((*detailed_status, reason.clone())))
            }
            RefundOutcome::Ambiguous => (false, None),
        };
        let total = next.refunded_total();
        let to = status_after_refund(next.amount.amount.0, total, ok);
        let label = format!(
            "Refund of {} {} {}",
            format_amount(amount, next.amount.currency.exponent()),
            next.amount.currency.code(),
            if ok { "succeeded" } else { "failed" }
        );
        apply(&mut next, to, reason, Some(label), now)?;
        let body = to_json(&RefundResponse {
            payment_id: next.id.hex(),
            refund_id: refund_id.hex(),
            status: next.status.as_str().to_string(),
            amount: payin_amount(&next, amount),
            refunded_amount: payin_amount(&next, total),
            currency: next.amount.currency.code().to_string(),
        })?;
        let opts = SaveOpts {
            announce: true,
            idem: idem_write(state, &scope, key, &fp, &body, now),
            ..SaveOpts::default()
        };
        match save(state, &cur, &next, opts).await? {
            SaveOutcome::Saved => return Ok(Reply::ok(body)),
            SaveOutcome::VersionConflict => continue,
            SaveOutcome::IdemTaken => {
                // Another request with this key won; commit our outcome without the key.
                let opts = SaveOpts {
                    announce: true,
                    ..SaveOpts::default()
                };
                if save(state, &cur, &next, opts).await? == SaveOutcome::Saved {
                    return Ok(Reply::ok(body));
                }
            }
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}

// ---------------------------------------------------------------------------------------------
// Background work

/// Runs one pass of due payin work; returns how many payins were claimed.
pub async fn run_due(state: &AppState) -> Result<usize, ApiError> {
    let now = now(state);
    let lease = now + marker_lease(state);
    let ids = state
        .store
        .claim_due_payins(now, &state.node_id, lease, 32)
        .await?;
    let n = ids.len();
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let st = state.clone();
        set.spawn(async move {
            if let Err(e) = work_one(&st, id).await {
                tracing::error!(payin_id = %id, error = ?e, "payin work failed");
                let _ = st.store.release_payin_lease(id, &st.node_id).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

async fn work_one(state: &AppState, id: PayinId) -> Result<(), ApiError> {
    let Some(p) = state.store.get_payin(None, id).await? else {
        return Ok(());
    };
    let now = now(state);
    if expire_if_due(state, &p, now, true).await? {
        return Ok(());
    }
    let release = SaveOpts {
        release_lease: true,
        ..SaveOpts::default()
    };
    match (p.status, p.dispatch) {
        (PayinStatus::Pending, Dispatch::Submitted) if p.processor_psp_id.is_none() => {
            // Interrupted between winning the marker and naming an account: no PSP was called.
            let mut next = p.clone();
            apply(
                &mut next,
                PayinStatus::Failed,
                Some((
                    DetailedStatus::PspError,
                    "Processing was interrupted before any PSP was called".into(),
                )),
                None,
                now,
            )?;
            let opts = SaveOpts {
                announce: true,
                release_lease: true,
                ..SaveOpts::default()
            };
            save(state, &p, &next, opts).await?;
        }
        (PayinStatus::Pending, Dispatch::Submitted) => {
            // Died or timed out mid-call: the outcome is unknown. Query; never resubmit.
            let mut next = p.clone();
            start_sync(&mut next, state, now);
            save(state, &p, &next, release).await?;
        }
        (PayinStatus::Pending, Dispatch::Awaiting | Dispatch::Syncing) => {
            sync(state, p, now).await?;
        }
        _ => {
            let mut next = p.clone();
            if next.next_action_at.is_some_and(|t| t <= now) {
                next.next_action_at = None;
            }
            save(state, &p, &next, release).await?;
        }
    }
    Ok(())
}

async fn sync(state: &AppState, p: Payin, now: OffsetDateTime) -> Result<(), ApiError> {
    let cfg = state.config.get(&*state.store, p.merchant_id).await?;
    let acct = account(&cfg.accounts, p.processor_psp_id)
        .cloned()
        .ok_or_else(|| ApiError::internal("processor account missing"))?;
    let connector = state
        .connectors
        .for_account(&acct)
        .ok_or_else(|| ApiError::internal("no connector"))?;
    let method = p.payment_method.unwrap_or(PaymentMethod::Card);
    let query = PayinQuery {
        transaction_id: p.id.hex(),
        amount: p.amount,
        method,
        account: acct,
        attempt: p.attempts.last().map(|a| a.attempt).unwrap_or(1),
        submitted_at: p.submitted_at.unwrap_or(p.updated_at),
        now,
    };
    let timeout = std::time::Duration::from_millis(state.settings.psp.request_timeout_ms);
    let answer = tokio::time::timeout(timeout, connector.query_payin(&query))
        .await
        .unwrap_or(QueryOutcome::NoAnswer);
    let now = self::now(state);
    let mut next = p.clone();
    next.updated_at = now;
    let syncing = p.dispatch == Dispatch::Syncing;
    if syncing {
        next.sync_attempts += 1;
    }
    let last = syncing && next.sync_attempts >= i64::from(state.settings.sync.max_attempts);
    let interval = Duration::milliseconds(state.settings.sync.interval_ms as i64);
    let announce = match omno_psp::sync_step(answer, syncing, last) {
        SyncStep::Final(Definite::Succeeded { psp_transaction_id }) => {
            next.psp_transaction_id = Some(psp_transaction_id);
            apply(&mut next, PayinStatus::Success, None, None, now)?;
            true
        }
        SyncStep::Final(Definite::Failed {
            psp_transaction_id,
            detailed_status,
            reason,
        }) => {
            if psp_transaction_id.is_some() {
                next.psp_transaction_id = psp_transaction_id;
            }
            let to = failure_status(method, detailed_status);
            apply(&mut next, to, Some((detailed_status, reason)), None, now)?;
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
                PayinStatus::Timeout,
                Some((
                    DetailedStatus::PspTimeout,
                    "PSP confirmed nothing was charged".into(),
                )),
                None,
                now,
            )?;
            true
        }
        SyncStep::ManualReview => {
            next.status_reason = Some(StatusReason::manual_review(PayinStatus::Pending.as_str()));
            next.next_action_at = None;
            false
        }
        SyncStep::Continue => {
            next.next_action_at = Some(now + interval);
            false
        }
    };
    let opts = SaveOpts {
        announce,
        release_lease: true,
        ..SaveOpts::default()
    };
    save(state, &p, &next, opts).await?;
    Ok(())
}

/// `POST /admin/transactions/{id}/sync` for a payin: queries the PSP now for a `PENDING` payin
/// that was submitted; else 409.
pub async fn admin_sync(state: &AppState, id: PayinId) -> Result<Payin, ApiError> {
    let p = state
        .store
        .get_payin(None, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let submitted = matches!(
        p.dispatch,
        Dispatch::Submitted | Dispatch::Awaiting | Dispatch::Syncing
    );
    if p.status != PayinStatus::Pending || !submitted {
        return Err(ApiError::InvalidState(format!(
            "only PENDING payins submitted to a PSP can be synced (payin is {})",
            p.status
        )));
    }
    let now = now(state);
    sync(state, p, now).await?;
    state
        .store
        .get_payin(None, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `POST /admin/transactions/{id}/resolve` for a payin past its sync window: `SUCCESS` or
/// `FAILED` (`PSP_TIMEOUT`), with its event.
pub async fn admin_resolve(
    state: &AppState,
    id: PayinId,
    to: PayinStatus,
    reason: String,
) -> Result<Payin, ApiError> {
    for _ in 0..MAX_RACES {
        let p = state
            .store
            .get_payin(None, id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let window_over = p.dispatch == Dispatch::Syncing
            && p.next_action_at.is_none()
            && p.sync_attempts >= i64::from(state.settings.sync.max_attempts);
        if p.status != PayinStatus::Pending || !window_over {
            return Err(ApiError::InvalidState(
                "only PENDING payins past the sync window can be resolved".into(),
            ));
        }
        let now = now(state);
        let mut next = p.clone();
        let status_reason =
            (to == PayinStatus::Failed).then(|| (DetailedStatus::PspTimeout, reason.clone()));
        apply(&mut next, to, status_reason, Some(reason.clone()), now)?;
        let opts = SaveOpts {
            announce: true,
            ..SaveOpts::default()
        };
        if save(state, &p, &next, opts).await? == SaveOutcome::Saved {
            next.version = p.version + 1;
            return Ok(next);
        }
    }
    Err(ApiError::internal("too many concurrent changes"))
}
