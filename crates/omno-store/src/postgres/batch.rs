//! Group commit of create payout without an `Idempotency-Key` (see docs/decisions.md).
//!
//! On PostgreSQL each create used to be one statement and one commit, and the server's backends
//! spent most of their CPU per statement and per commit, not per row. Concurrent creates are
//! therefore handed to one batcher task per store: it takes the first queued create, drains
//! whatever else is queued (up to [`MAX_BATCH`], no timer: an idle server answers a lone create
//! at once), and inserts the lot with one statement whose implicit transaction commits once.
//! Each caller learns whether its payout was inserted; one that was not takes the `orderId`
//! replay path as before.
//!
//! The batch runs on the batcher's task, which alone holds the pooled connection, so a caller
//! dropping its future never leaves a statement half-sent; its payout is still inserted, as it
//! was when the single statement ran on its own task.

use std::collections::HashSet;
use std::sync::{LazyLock, OnceLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{PAYOUT_COLUMNS, PayoutBinds};
use crate::{CreateMeta, NewEvent, StoreError, StoreResult, to_ms};
use omno_domain::ids::DeliveryId;
use omno_domain::payout::Payout;

/// Most creates in one statement: bounds the statement's size (~4 KB of parameters per create)
/// and the time the first caller of a full batch waits for the last row.
const MAX_BATCH: usize = 256;

/// One create payout, with its columns already rendered on the caller's task.
pub(super) struct CreateRow {
    payout_id: String,
    version: i64,
    binds: PayoutBinds,
    fingerprint: String,
    response: String,
    event: Option<NewEvent>,
}

impl CreateRow {
    /// The row of `p`, its replay data from `meta` and its event `e`, if it has one.
    pub(super) fn of(p: &Payout, meta: &CreateMeta, e: Option<&NewEvent>) -> Self {
        Self {
            payout_id: p.id.hex(),
            version: p.version,
            binds: PayoutBinds::of(p),
            fingerprint: meta.order_fingerprint.clone(),
            response: meta.response.clone(),
            event: e.cloned(),
        }
    }
}

/// A queued create and where its answer goes: whether the payout was inserted (`false`: the
/// `orderId` was taken, by a committed row or by another row of the same batch).
struct Job {
    row: CreateRow,
    reply: oneshot::Sender<StoreResult<bool>>,
}

/// Queue of the batcher task, started on first use (on the runtime of that first create).
pub(super) struct PayoutBatcher {
    pool: PgPool,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
}

impl PayoutBatcher {
    /// A batcher inserting through `pool`; no task runs until the first [`Self::insert`].
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queue: OnceLock::new(),
        }
    }

    /// Inserts `row` (its payout, event and deliveries, committed) unless its `orderId` is
    /// taken; `Ok(false)` when it is.
    pub(super) async fn insert(&self, row: CreateRow) -> StoreResult<bool> {
        let queue = self.queue.get_or_init(|| {
            // One batcher: with 32 callers, two or four (sharing the queue) measured no faster
            // (their smaller batches cost PostgreSQL more) and had a worse p99.
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.pool.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = queue.send(Job { row, reply }) {
            // The batcher is gone (its runtime shut down): insert on our own.
            let pool = self.pool.clone();
            return match tokio::spawn(async move { insert_alone(&pool, &job.row).await }).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::Corrupt("write task panicked")),
            };
        }
        answer.await.unwrap_or(Err(StoreError::Corrupt(
            "create batch ended without an answer",
        )))
    }
}

/// The batcher: take a batch, insert it, answer it, until the queue closes (the store dropped).
async fn run(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Batches on other nodes lock the same unique index: one key order everywhere avoids
        // deadlocks between them.
        jobs.sort_unstable_by(|a, b| {
            (&a.row.binds.merchant_id, &a.row.binds.order_id)
                .cmp(&(&b.row.binds.merchant_id, &b.row.binds.order_id))
        });
        match insert_batch(&pool, &jobs).await {
            Ok(inserted) => {
                for job in jobs {
                    let _ = job.reply.send(Ok(inserted.contains(&job.row.payout_id)));
                }
            }
            Err(e) => {
                // Not a conflict (those skip rows): a deadlock with another node, a row the
                // database rejects, a lost connection. One by one, so one bad row fails alone;
                // a row the failed batch did commit comes back as a taken orderId (replay).
                tracing::warn!(
                    error = %e,
                    rows = jobs.len(),
                    "create batch failed; inserting one by one"
                );
                for job in jobs {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let r = insert_alone(&pool, &job.row).await;
                        let _ = job.reply.send(r);
                    });
                }
            }
        }
    }
}

/// Inserts a batch with one statement; returns the ids of the payouts inserted.
async fn insert_batch(pool: &PgPool, jobs: &[Job]) -> StoreResult<HashSet<String>> {
    let rows: Vec<&CreateRow> = jobs.iter().map(|j| &j.row).collect();
    let ids: Vec<String> = insert_rows(pool, &rows)
        .await?
        .into_iter()
        .map(|r| sqlx::Row::try_get(&r, 0))
        .collect::<Result<_, _>>()?;
    Ok(ids.into_iter().collect())
}

/// [`insert_batch`] of a single row: whether it was inserted.
async fn insert_alone(pool: &PgPool, row: &CreateRow) -> StoreResult<bool> {
    Ok(!insert_rows(pool, &[row]).await?.is_empty())
}

/// The statement: payouts from parallel arrays (`on conflict do nothing` also skips a second
/// row with the same `orderId` in the same batch), events only for the payouts inserted, and
/// deliveries only for those events; it returns the ids inserted. Built once: sqlx prepares it
/// once per connection, keyed by its text.
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with ins as (insert into payout ({PAYOUT_COLUMNS}, request_fingerprint, create_response) \
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
         $6::text[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::int8[], \
         $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], \
         $19::text[], $20::text[], $21::text[], $22::text[], $23::int8[], $24::int8[], \
         $25::text[], $26::int8[], $27::int8[], $28::int8[], $29::text[], $30::int8[], \
         $31::int8[], $32::int8[], $33::text[], $34::text[], $35::text[], $36::text[]) \
         on conflict (merchant_id, order_id) do nothing returning payout_id), \
         ev as (insert into event (event_id, merchant_id, kind, transaction_id, event_type, \
         status, body, created_at) select e.event_id, e.merchant_id, e.kind, e.transaction_id, \
         e.event_type, e.status, e.body, e.created_at from unnest($37::text[], $38::text[], \
         $39::text[], $40::text[], $41::text[], $42::text[], $43::text[], $44::text[], \
         $45::int8[]) as e (payout_id, event_id, merchant_id, kind, transaction_id, event_type, \
         status, body, created_at) join ins on ins.payout_id = e.payout_id \
         returning event_id, merchant_id, event_type, transaction_id, created_at), \
         dl as (insert into delivery (delivery_id, merchant_id, event_id, event_type, \
         transaction_id, endpoint_id, url, status, attempt_count, next_attempt_at, \
         window_start, created_at) select t.delivery_id, ev.merchant_id, ev.event_id, \
         ev.event_type, ev.transaction_id, t.endpoint_id, t.url, 'PENDING', 0, ev.created_at, \
         ev.created_at, ev.created_at from ev join unnest($46::text[], $47::text[], \
         $48::text[], $49::text[]) as t (event_id, delivery_id, endpoint_id, url) \
         on t.event_id = ev.event_id returning 1) \
         select payout_id from ins"
    )
});

/// One bound array: `f` of every row, in row order.
fn column<'r, R, T>(rows: &'r [R], f: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Runs [`INSERT_SQL`] for `rows` (each with at most one event).
async fn insert_rows(
    pool: &PgPool,
    rows: &[&CreateRow],
) -> StoreResult<Vec<sqlx::postgres::PgRow>> {
    let sql: &str = &INSERT_SQL;
    // Events: those of the rows that have one, each with its payout's id.
    let events: Vec<(&str, &NewEvent)> = rows
        .iter()
        .filter_map(|r| r.event.as_ref().map(|e| (r.payout_id.as_str(), e)))
        .collect();
    // Deliveries: the targets of every event, flattened, each with its event's id.
    let mut d_event = Vec::new();
    let mut d_id = Vec::new();
    let mut d_endpoint = Vec::new();
    let mut d_url = Vec::new();
    for (_, e) in &events {
        for t in &e.targets {
            d_event.push(e.id.hex());
            d_id.push(DeliveryId(uuid::Uuid::now_v7()).hex());
            d_endpoint.push(t.endpoint_id.map(|i| i.hex()));
            d_url.push(t.url.as_str());
        }
    }
    let q = sqlx::query(sql)
        .bind(column(rows, |r| r.payout_id.as_str()))
        .bind(column(rows, |r| r.binds.merchant_id.as_str()))
        .bind(column(rows, |r| r.binds.customer_id.as_str()))
        .bind(column(rows, |r| r.binds.order_id.as_str()))
        .bind(column(rows, |r| r.binds.amount))
        .bind(column(rows, |r| r.binds.currency.as_str()))
        .bind(column(rows, |r| r.binds.initial_amount))
        .bind(column(rows, |r| r.binds.initial_currency.as_str()))
        .bind(column(rows, |r| r.binds.status))
        .bind(column(rows, |r| r.binds.status_reason.as_deref()))
        .bind(column(rows, |r| r.binds.kyc_verified))
        .bind(column(rows, |r| r.binds.previous_transaction_count))
        .bind(column(rows, |r| r.binds.customer.as_str()))
        .bind(column(rows, |r| r.binds.return_urls.as_deref()))
        .bind(column(rows, |r| r.binds.webhook_url.as_deref()))
        .bind(column(rows, |r| r.binds.router_id.as_deref()))
        .bind(column(rows, |r| r.binds.routing_reason.as_deref()))
        .bind(column(rows, |r| r.binds.predicted_psp_id.as_deref()))
        .bind(column(rows, |r| r.binds.processor_psp_id.as_deref()))
        .bind(column(rows, |r| r.binds.psp_transaction_id.as_deref()))
        .bind(column(rows, |r| r.binds.destination.as_deref()))
        .bind(column(rows, |r| r.binds.metadata.as_str()))
        .bind(column(rows, |r| r.binds.confirmed_at))
        .bind(column(rows, |r| r.binds.confirmation_deadline))
        .bind(column(rows, |r| r.binds.dispatch))
        .bind(column(rows, |r| r.binds.next_action_at))
        .bind(column(rows, |r| r.binds.sync_attempts))
        .bind(column(rows, |r| r.binds.submitted_at))
        .bind(column(rows, |r| r.binds.history.as_str()))
        .bind(column(rows, |r| r.version))
        .bind(column(rows, |r| r.binds.created_at))
        .bind(column(rows, |r| r.binds.updated_at))
        .bind(column(rows, |r| r.binds.routing_detail.as_deref()))
        .bind(column(rows, |r| r.binds.fx_detail.as_deref()))
        .bind(column(rows, |r| r.fingerprint.as_str()))
        .bind(column(rows, |r| r.response.as_str()))
        .bind(column(&events, |(p, _)| *p))
        .bind(column(&events, |(_, e)| e.id.hex()))
        .bind(column(&events, |(_, e)| e.merchant_id.hex()))
        .bind(column(&events, |(_, e)| e.kind))
        .bind(column(&events, |(_, e)| e.transaction_id.as_str()))
        .bind(column(&events, |(_, e)| e.event_type))
        .bind(column(&events, |(_, e)| e.status.as_str()))
        .bind(column(&events, |(_, e)| e.body.as_str()))
        .bind(column(&events, |(_, e)| to_ms(e.created_at)))
        .bind(d_event)
        .bind(d_id)
        .bind(d_endpoint)
        .bind(d_url);
    Ok(q.fetch_all(pool).await?)
}
