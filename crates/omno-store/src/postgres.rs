//! The PostgreSQL store, for running any number of omno nodes on one database.
//!
//! Same schema and storage forms as [`crate::sqlite`] (times are bigint milliseconds, JSON is
//! text), so both implementations behave identically under the contract suite. What differs is
//! concurrency: SQLite has one writer; here many nodes write at once, so
//! - status changes stay compare-and-set on `version` (a row lock plus a re-check of the
//!   `where` clause under READ COMMITTED);
//! - check-then-insert rules (`Idempotency-Key`, `orderId`) serialize on transaction-scoped
//!   advisory locks keyed by (scope, key) and (merchant, orderId), always taken in that order;
//! - background work is claimed with `FOR UPDATE SKIP LOCKED` plus a lease, so each due payout
//!   or delivery goes to exactly one node, and an expired lease (a dead node) is taken over;
//! - multi-statement transactions are retried on serialization failures and deadlocks
//!   (SQLSTATE 40001/40P01) a bounded number of times.
//!
//! Every connection runs with a statement timeout and an idle-in-transaction timeout, so a stuck
//! node cannot hold row or advisory locks for long. Transactions run on their own task: a request
//! abandoned mid-way never leaves a half-open transaction behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omno_domain::country::CountryCode;
use omno_domain::customer::Customer;
use omno_domain::ids::{
    ApiKeyId, ClientId, CustomerId, DeliveryId, EndpointId, EventId, MerchantId, PayoutId,
    PspAccountId, RouterId,
};
use omno_domain::money::{Currency, MinorUnits, Money};
use omno_domain::payout::{
    Destination, Dispatch, HistoryEntry, Metadata, Payout, PayoutStatus, ReturnUrls,
};
use omno_domain::psp::{DetailedStatus, Direction, PaymentMethod, PspAccount, StatusReason};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;

use crate::{
    ApiKeyRecord, AttemptRecord, ClientRecord, CreateMeta, CreateOutcome, DeliveryFilter,
    DeliveryJob, DeliveryRecord, EndpointRecord, EventRecord, FxRateRecord, IdemCheck, IdemWrite,
    MerchantRecord, NewEvent, PanUpdate, PayoutFilter, PayoutWrite, RouterRecord, SaveOutcome,
    Store, StoreError, StoreResult, StoredResponse, from_ms, to_ms,
};

mod batch;
mod cashier;
mod payin;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Statement timeout of every connection.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// A session idle inside a transaction this long is ended by the server (its locks released).
const IDLE_IN_TX_TIMEOUT_MS: u64 = 60_000;
/// Attempts of a transaction that fails with a serialization failure or deadlock.
const TX_ATTEMPTS: u32 = 5;
/// Advisory lock namespace of `Idempotency-Key` (scope, key).
const LOCK_IDEM: i32 = 0x6f6d_0001;
/// Advisory lock namespace of (merchant, orderId).
const LOCK_ORDER: i32 = 0x6f6d_0002;

type TxFuture<'c, T> = Pin<Box<dyn Future<Output = StoreResult<(bool, T)>> + Send + 'c>>;

/// PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Group commit of create payout without an `Idempotency-Key`.
    batcher: Arc<batch::PayoutBatcher>,
}

/// Whether a URL names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connects to a `postgres://…` URL with a pool of `max_connections`. Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        if !is_postgres_url(url) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let opts: PgConnectOptions = url.parse()?;
        let opts = opts.options([
            ("statement_timeout", STATEMENT_TIMEOUT_MS.to_string()),
            (
                "idle_in_transaction_session_timeout",
                IDLE_IN_TX_TIMEOUT_MS.to_string(),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        let batcher = Arc::new(batch::PayoutBatcher::new(pool.clone()));
        Ok(Self { pool, batcher })
    }

    /// Applies pending migrations (sqlx serializes concurrent runs with an advisory lock, so
    /// several nodes starting at once are safe).
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Whether every embedded migration is applied.
    pub async fn migrations_applied(&self) -> StoreResult<bool> {
        let applied: i64 =
            sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(0);
        Ok(applied as usize >= MIGRATOR.iter().count())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and tools that inspect the database directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` in a READ COMMITTED transaction on its own task (cancellation-safe), retrying
    /// serialization failures and deadlocks. `f` decides whether to commit by returning
    /// `(commit, value)`; it may run more than once, so it only reads `arg`.
    async fn tx<A, T, F>(&self, arg: A, f: F) -> StoreResult<T>
    where
        A: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'c> Fn(&'c mut PgConnection, &'c A) -> TxFuture<'c, T> + Send + Sync + 'static,
    {
        let pool = self.pool.clone();
        let task = tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result: StoreResult<T> = async {
                    let mut tx = pool.begin().await?;
                    let (commit, value) = f(&mut tx, &arg).await?;
                    if commit {
                        tx.commit().await?;
                    } else {
                        tx.rollback().await?;
                    }
                    Ok(value)
                }
                .await;
                match result {
                    Err(StoreError::Db(e)) if attempt < TX_ATTEMPTS && retryable(&e) => {
                        tracing::debug!(attempt, error = %e, "retrying transaction");
                        tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                    }
                    other => return other,
                }
            }
        });
        match task.await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Corrupt("write task panicked")),
        }
    }
}

impl PgStore {
    /// Create payout without an `Idempotency-Key`, as one statement shared with the concurrent
    /// creates of this node ([`batch`]): the payout, its event and the event's deliveries are
    /// inserted and committed together, or nothing when the `orderId` is taken (the unique index
    /// decides, across nodes too; a concurrent insert of the same `orderId` is waited for). Then
    /// the taken `orderId` is answered from the committed row; `None` sends the caller to the
    /// transactional path (the row that won was not found).
    async fn create_payout_at_once(
        &self,
        p: &Payout,
        meta: &CreateMeta,
        e: Option<&NewEvent>,
    ) -> StoreResult<Option<CreateOutcome>> {
        if self
            .batcher
            .insert(batch::CreateRow::of(p, meta, e))
            .await?
        {
            return Ok(Some(CreateOutcome::Created));
        }
        let (merchant, order_id) = (p.merchant_id, p.order_id.clone());
        let fingerprint = meta.order_fingerprint.clone();
        let pool = self.pool.clone();
        // On its own task, like [`PgStore::tx`]: a cancelled request never leaves a pooled
        // connection mid-statement.
        let task = tokio::spawn(async move {
            let mut c = pool.acquire().await?;
            taken_order(&mut c, "payout", merchant, &order_id, &fingerprint).await
        });
        match task.await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Corrupt("write task panicked")),
        }
    }
}

/// Serialization failure or deadlock: the transaction can simply run again.
fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40001" || c == "40P01")
}

/// The §1.8 answer for an `orderId` already taken in `table` (`payout` or `payin`): the stored
/// response for an equivalent body, else `DUPLICATE_ORDER_ID`; `None` when it is free.
async fn taken_order(
    c: &mut PgConnection,
    table: &'static str,
    merchant: MerchantId,
    order_id: &str,
    fingerprint: &str,
) -> StoreResult<Option<CreateOutcome>> {
    let row = sqlx::query(&format!(
        "select request_fingerprint, create_response from {table} \
         where merchant_id = $1 and order_id = $2"
    ))
    .bind(merchant.hex())
    .bind(order_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let fp: String = row.try_get("request_fingerprint")?;
    Ok(Some(if fp == fingerprint {
        CreateOutcome::OrderReplay(row.try_get("create_response")?)
    } else {
        CreateOutcome::DuplicateOrderId
    }))
}

/// Inserts a payout unless its (merchant, orderId) is taken; returns the rows inserted (0 or 1).
async fn insert_payout(c: &mut PgConnection, p: &Payout, meta: &CreateMeta) -> StoreResult<u64> {
    let sql = format!(
        "insert into payout ({PAYOUT_COLUMNS}, request_fingerprint, create_response) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
         $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, \
         $33, $34, $35, $36) on conflict (merchant_id, order_id) do nothing"
    );
    let q = sqlx::query(&sql).bind(p.id.hex());
    let q = PayoutBinds::of(p).bind_with_version(q, p.version);
    Ok(q.bind(&meta.order_fingerprint)
        .bind(&meta.response)
        .execute(&mut *c)
        .await?
        .rows_affected())
}

/// Takes a transaction-scoped advisory lock on `key` in namespace `ns`.
async fn lock(conn: &mut PgConnection, ns: i32, key: &str) -> StoreResult<()> {
    sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
        .bind(ns)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn de<T: serde::de::DeserializeOwned>(s: &str, what: &'static str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|_| StoreError::Corrupt(what))
}

fn hex_id<T>(s: &str, parse: fn(&str) -> Option<T>, what: &'static str) -> StoreResult<T> {
    parse(s).ok_or(StoreError::Corrupt(what))
}

fn opt_ms(v: Option<i64>) -> Option<OffsetDateTime> {
    v.map(from_ms)
}

fn currency(s: &str) -> StoreResult<Currency> {
    Currency::parse(s).map_err(|_| StoreError::Corrupt("currency"))
}

fn merchant_from_row(r: &PgRow) -> StoreResult<MerchantRecord> {
    let codes: Vec<String> = de(r.try_get("enabled_currencies")?, "enabled_currencies")?;
    Ok(MerchantRecord {
        id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        name: r.try_get("name")?,
        mode: r.try_get("mode")?,
        active: r.try_get("active")?,
        enabled_currencies: codes
            .iter()
            .map(|c| currency(c))
            .collect::<StoreResult<_>>()?,
        payout_confirmation_required: r.try_get("payout_confirmation_required")?,
        default_router_id: r
            .try_get::<Option<String>, _>("default_router_id")?
            .map(|s| hex_id(&s, RouterId::parse, "default_router_id"))
            .transpose()?,
        allowed_frame_origins: de(r.try_get("allowed_frame_origins")?, "allowed_frame_origins")?,
        webhook_secret_enc: r.try_get("webhook_secret_enc")?,
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn api_key_from_row(r: &PgRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: hex_id(r.try_get("api_key_id")?, ApiKeyId::parse, "api_key_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        name: r.try_get("name")?,
        key_hash: r.try_get("key_hash")?,
        prefix: r.try_get("prefix")?,
        last4: r.try_get("last4")?,
        demo: r.try_get("demo")?,
        created_at: from_ms(r.try_get("created_at")?),
        revoked_at: opt_ms(r.try_get("revoked_at")?),
    })
}

fn client_from_row(r: &PgRow) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        client_id: hex_id(r.try_get("client_id")?, ClientId::parse, "client_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        demo: r.try_get("demo")?,
        created_at: from_ms(r.try_get("created_at")?),
        revoked_at: opt_ms(r.try_get("revoked_at")?),
    })
}

fn psp_from_row(r: &PgRow) -> StoreResult<PspAccount> {
    let currencies: Vec<String> = de(r.try_get("currencies")?, "currencies")?;
    let countries: Vec<String> = de(r.try_get("countries")?, "countries")?;
    let methods: Vec<PaymentMethod> = de(r.try_get("methods")?, "methods")?;
    let directions: Vec<Direction> = de(r.try_get("directions")?, "directions")?;
    Ok(PspAccount {
        id: hex_id(
            r.try_get("psp_account_id")?,
            PspAccountId::parse,
            "psp_account_id",
        )?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        name: r.try_get("name")?,
        connector: r.try_get("connector")?,
        enabled: r.try_get("enabled")?,
        currencies: currencies
            .iter()
            .map(|c| currency(c))
            .collect::<StoreResult<_>>()?,
        countries: countries
            .iter()
            .map(|c| CountryCode::parse(c).map_err(|_| StoreError::Corrupt("countries")))
            .collect::<StoreResult<_>>()?,
        methods,
        directions,
        kyc_required: r.try_get("kyc_required")?,
        latency_ms: r.try_get::<i64, _>("latency_ms")? as u32,
        force_decline: r
            .try_get::<Option<String>, _>("force_decline")?
            .map(|s| DetailedStatus::parse(&s).ok_or(StoreError::Corrupt("force_decline")))
            .transpose()?,
        decline_rate_bp: r.try_get::<i64, _>("decline_rate_bp")? as u32,
    })
}

const PAYOUT_COLUMNS: &str = "payout_id, merchant_id, customer_id, order_id, amount, currency, \
    initial_amount, initial_currency, status, status_reason, kyc_verified, \
    previous_transaction_count, customer, return_urls, webhook_url, router_id, routing_reason, \
    predicted_psp_id, processor_psp_id, psp_transaction_id, destination, metadata, confirmed_at, \
    confirmation_deadline, dispatch, next_action_at, sync_attempts, submitted_at, history, \
    version, created_at, updated_at, routing_detail, fx_detail";

fn payout_from_row(r: &PgRow) -> StoreResult<Payout> {
    let opt_psp = |col: &'static str| -> StoreResult<Option<PspAccountId>> {
        r.try_get::<Option<String>, _>(col)?
            .map(|s| hex_id(&s, PspAccountId::parse, col))
            .transpose()
    };
    let status_reason: Option<String> = r.try_get("status_reason")?;
    let return_urls: Option<String> = r.try_get("return_urls")?;
    let destination: Option<String> = r.try_get("destination")?;
    Ok(Payout {
        id: hex_id(r.try_get("payout_id")?, PayoutId::parse, "payout_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        customer_id: hex_id(r.try_get("customer_id")?, CustomerId::parse, "customer_id")?,
        order_id: r.try_get("order_id")?,
        amount: Money {
            amount: MinorUnits(r.try_get("amount")?),
            currency: currency(r.try_get("currency")?)?,
        },
        initial: Money {
            amount: MinorUnits(r.try_get("initial_amount")?),
            currency: currency(r.try_get("initial_currency")?)?,
        },
        status: PayoutStatus::parse(r.try_get("status")?).ok_or(StoreError::Corrupt("status"))?,
        status_reason: status_reason
            .map(|s| de::<StatusReason>(&s, "status_reason"))
            .transpose()?,
        kyc_verified: r.try_get("kyc_verified")?,
        previous_transaction_count: r.try_get("previous_transaction_count")?,
        customer: de::<Customer>(r.try_get("customer")?, "customer")?,
        return_urls: return_urls
            .map(|s| de::<ReturnUrls>(&s, "return_urls"))
            .transpose()?,
        webhook_url: r.try_get("webhook_url")?,
        router_id: r
            .try_get::<Option<String>, _>("router_id")?
            .map(|s| hex_id(&s, RouterId::parse, "router_id"))
            .transpose()?,
        routing_reason: r.try_get("routing_reason")?,
        predicted_psp_id: opt_psp("predicted_psp_id")?,
        processor_psp_id: opt_psp("processor_psp_id")?,
        psp_transaction_id: r.try_get("psp_transaction_id")?,
        destination: destination
            .map(|s| de::<Destination>(&s, "destination"))
            .transpose()?,
        metadata: de::<Metadata>(r.try_get("metadata")?, "metadata")?,
        confirmed_at: opt_ms(r.try_get("confirmed_at")?),
        confirmation_deadline: opt_ms(r.try_get("confirmation_deadline")?),
        dispatch: Dispatch::parse(r.try_get("dispatch")?).ok_or(StoreError::Corrupt("dispatch"))?,
        next_action_at: opt_ms(r.try_get("next_action_at")?),
        sync_attempts: r.try_get("sync_attempts")?,
        submitted_at: opt_ms(r.try_get("submitted_at")?),
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
        history: de::<Vec<HistoryEntry>>(r.try_get("history")?, "history")?,
        routing_detail: r.try_get("routing_detail")?,
        fx_detail: r.try_get("fx_detail")?,
        version: r.try_get("version")?,
    })
}

async fn idem_lookup(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    not_before: i64,
) -> StoreResult<IdemCheck> {
    // Serializes concurrent requests with the same key until this transaction ends: the loser
    // then sees the winner's committed row instead of failing on the primary key.
    lock(conn, LOCK_IDEM, &format!("{scope}\u{1f}{key}")).await?;
    let row = sqlx::query(
        "select fingerprint, status_code, body, created_at from idempotency_key \
         where scope = $1 and idem_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(IdemCheck::Fresh);
    };
    let created: i64 = row.try_get("created_at")?;
    if created < not_before {
        sqlx::query("delete from idempotency_key where scope = $1 and idem_key = $2")
            .bind(scope)
            .bind(key)
            .execute(&mut *conn)
            .await?;
        return Ok(IdemCheck::Fresh);
    }
    let fp: String = row.try_get("fingerprint")?;
    if fp != fingerprint {
        return Ok(IdemCheck::Mismatch);
    }
    Ok(IdemCheck::Replay(StoredResponse {
        status: row.try_get::<i64, _>("status_code")? as u16,
        body: row.try_get("body")?,
    }))
}

async fn idem_insert(conn: &mut PgConnection, idem: &IdemWrite) -> StoreResult<()> {
    sqlx::query(
        "insert into idempotency_key (scope, idem_key, fingerprint, status_code, body, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&idem.scope)
    .bind(&idem.key)
    .bind(&idem.fingerprint)
    .bind(i64::from(idem.response.status))
    .bind(&idem.response.body)
    .bind(to_ms(idem.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Binds an event's columns in the order `event_id, merchant_id, kind, transaction_id,
/// event_type, status, body, created_at`.
fn bind_event<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    e: &'q NewEvent,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(e.id.hex())
        .bind(e.merchant_id.hex())
        .bind(e.kind)
        .bind(&e.transaction_id)
        .bind(e.event_type)
        .bind(&e.status)
        .bind(&e.body)
        .bind(to_ms(e.created_at))
}

async fn insert_events(conn: &mut PgConnection, events: &[NewEvent]) -> StoreResult<()> {
    for e in events {
        bind_event(
            sqlx::query(
                "insert into event (event_id, merchant_id, kind, transaction_id, event_type, \
                 status, body, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)",
            ),
            e,
        )
        .execute(&mut *conn)
        .await?;
        for t in &e.targets {
            sqlx::query(
                "insert into delivery (delivery_id, merchant_id, event_id, event_type, \
                 transaction_id, endpoint_id, url, status, attempt_count, next_attempt_at, \
                 window_start, created_at) values ($1, $2, $3, $4, $5, $6, $7, 'PENDING', 0, $8, $8, $8)",
            )
            .bind(DeliveryId(uuid::Uuid::now_v7()).hex())
            .bind(e.merchant_id.hex())
            .bind(e.id.hex())
            .bind(e.event_type)
            .bind(&e.transaction_id)
            .bind(t.endpoint_id.map(|i| i.hex()))
            .bind(&t.url)
            .bind(to_ms(e.created_at))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

fn endpoint_from_row(r: &PgRow) -> StoreResult<EndpointRecord> {
    Ok(EndpointRecord {
        id: hex_id(r.try_get("endpoint_id")?, EndpointId::parse, "endpoint_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        enabled: r.try_get("enabled")?,
        event_types: de(r.try_get("event_types")?, "event_types")?,
        statuses: de(r.try_get("statuses")?, "statuses")?,
        headers: de(r.try_get("headers")?, "headers")?,
        secret_enc: r.try_get("secret_enc")?,
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

const DELIVERY_COLUMNS: &str = "d.delivery_id, d.merchant_id, d.event_id, d.event_type, \
    d.transaction_id, d.endpoint_id, d.url, d.status, d.attempt_count, d.next_attempt_at, \
    d.last_attempt_at, d.window_start, d.retry_from, d.created_at";

fn delivery_from_row(r: &PgRow) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: hex_id(r.try_get("delivery_id")?, DeliveryId::parse, "delivery_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        event_id: hex_id(r.try_get("event_id")?, EventId::parse, "event_id")?,
        event_type: r.try_get("event_type")?,
        transaction_id: r.try_get("transaction_id")?,
        endpoint_id: r
            .try_get::<Option<String>, _>("endpoint_id")?
            .map(|s| hex_id(&s, EndpointId::parse, "endpoint_id"))
            .transpose()?,
        url: r.try_get("url")?,
        status: r.try_get("status")?,
        attempt_count: r.try_get("attempt_count")?,
        next_attempt_at: opt_ms(r.try_get("next_attempt_at")?),
        last_attempt_at: opt_ms(r.try_get("last_attempt_at")?),
        window_start: from_ms(r.try_get("window_start")?),
        retry_from: r.try_get("retry_from")?,
        created_at: from_ms(r.try_get("created_at")?),
    })
}

/// Column values of a payout, in [`PAYOUT_COLUMNS`] order minus the id.
struct PayoutBinds {
    merchant_id: String,
    customer_id: String,
    order_id: String,
    amount: i64,
    currency: String,
    initial_amount: i64,
    initial_currency: String,
    status: &'static str,
    status_reason: Option<String>,
    kyc_verified: bool,
    previous_transaction_count: i64,
    customer: String,
    return_urls: Option<String>,
    webhook_url: Option<String>,
    router_id: Option<String>,
    routing_reason: Option<String>,
    predicted_psp_id: Option<String>,
    processor_psp_id: Option<String>,
    psp_transaction_id: Option<String>,
    destination: Option<String>,
    metadata: String,
    confirmed_at: Option<i64>,
    confirmation_deadline: Option<i64>,
    dispatch: &'static str,
    next_action_at: Option<i64>,
    sync_attempts: i64,
    submitted_at: Option<i64>,
    history: String,
    created_at: i64,
    updated_at: i64,
    routing_detail: Option<String>,
    fx_detail: Option<String>,
}

impl PayoutBinds {
    fn of(p: &Payout) -> Self {
        Self {
            merchant_id: p.merchant_id.hex(),
            customer_id: p.customer_id.hex(),
            order_id: p.order_id.clone(),
            amount: p.amount.amount.0,
            currency: p.amount.currency.code().to_string(),
            initial_amount: p.initial.amount.0,
            initial_currency: p.initial.currency.code().to_string(),
            status: p.status.as_str(),
            status_reason: p.status_reason.as_ref().map(json),
            kyc_verified: p.kyc_verified,
            previous_transaction_count: p.previous_transaction_count,
            customer: json(&p.customer),
            return_urls: p.return_urls.as_ref().map(json),
            webhook_url: p.webhook_url.clone(),
            router_id: p.router_id.map(|r| r.hex()),
            routing_reason: p.routing_reason.clone(),
            predicted_psp_id: p.predicted_psp_id.map(|r| r.hex()),
            processor_psp_id: p.processor_psp_id.map(|r| r.hex()),
            psp_transaction_id: p.psp_transaction_id.clone(),
            destination: p.destination.as_ref().map(json),
            metadata: json(&p.metadata),
            confirmed_at: p.confirmed_at.map(to_ms),
            confirmation_deadline: p.confirmation_deadline.map(to_ms),
            dispatch: p.dispatch.as_str(),
            next_action_at: p.next_action_at.map(to_ms),
            sync_attempts: p.sync_attempts,
            submitted_at: p.submitted_at.map(to_ms),
            history: json(&p.history),
            created_at: to_ms(p.created_at),
            updated_at: to_ms(p.updated_at),
            routing_detail: p.routing_detail.clone(),
            fx_detail: p.fx_detail.clone(),
        }
    }

    /// Binds the columns of the update statement ($2..$31): everything but id and version.
    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let (history, created, updated) = (self.history.clone(), self.created_at, self.updated_at);
        self.bind_prefix(q)
            .bind(history)
            .bind(created)
            .bind(updated)
    }
}

impl PayoutBinds {
    fn details(&self) -> (Option<String>, Option<String>) {
        (self.routing_detail.clone(), self.fx_detail.clone())
    }

    /// Binds the columns of [`PAYOUT_COLUMNS`] after the id, version in its place.
    fn bind_with_version<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        version: i64,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let (history, created, updated) = (self.history.clone(), self.created_at, self.updated_at);
        // PAYOUT_COLUMNS ends with: …, submitted_at, history, version, created_at, updated_at,
        // routing_detail, fx_detail.
        let (routing, fx) = self.details();
        self.bind_prefix(q)
            .bind(history)
            .bind(version)
            .bind(created)
            .bind(updated)
            .bind(routing)
            .bind(fx)
    }

    fn bind_prefix<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        q.bind(self.merchant_id)
            .bind(self.customer_id)
            .bind(self.order_id)
            .bind(self.amount)
            .bind(self.currency)
            .bind(self.initial_amount)
            .bind(self.initial_currency)
            .bind(self.status)
            .bind(self.status_reason)
            .bind(self.kyc_verified)
            .bind(self.previous_transaction_count)
            .bind(self.customer)
            .bind(self.return_urls)
            .bind(self.webhook_url)
            .bind(self.router_id)
            .bind(self.routing_reason)
            .bind(self.predicted_psp_id)
            .bind(self.processor_psp_id)
            .bind(self.psp_transaction_id)
            .bind(self.destination)
            .bind(self.metadata)
            .bind(self.confirmed_at)
            .bind(self.confirmation_deadline)
            .bind(self.dispatch)
            .bind(self.next_action_at)
            .bind(self.sync_attempts)
            .bind(self.submitted_at)
    }
}

fn router_from_row(r: &PgRow) -> StoreResult<RouterRecord> {
    Ok(RouterRecord {
        id: hex_id(r.try_get("router_id")?, RouterId::parse, "router_id")?,
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        name: r.try_get("name")?,
        body: r.try_get("body")?,
        created_at: from_ms(r.try_get("created_at")?),
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn fx_from_row(r: &PgRow) -> StoreResult<FxRateRecord> {
    Ok(FxRateRecord {
        merchant_id: hex_id(r.try_get("merchant_id")?, MerchantId::parse, "merchant_id")?,
        base: r.try_get("base")?,
        quote: r.try_get("quote")?,
        rate: r.try_get("rate")?,
        markup_bps: r.try_get("markup_bps")?,
        source: r.try_get("source")?,
        updated_at: from_ms(r.try_get("updated_at")?),
    })
}

fn attempt_from_row(r: &PgRow) -> StoreResult<AttemptRecord> {
    Ok(AttemptRecord {
        attempt: r.try_get("attempt")?,
        at: from_ms(r.try_get("at")?),
        http_status: r.try_get("http_status")?,
        latency_ms: r.try_get("latency_ms")?,
        error: r.try_get("error")?,
        response_snippet: r.try_get("response_snippet")?,
    })
}

fn affected(r: sqlx::postgres::PgQueryResult) -> bool {
    r.rows_affected() > 0
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("select value from setting where name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        // The insert waits for a concurrent uncommitted insert of the same name; the select then
        // sees whichever value won.
        sqlx::query(
            "insert into setting (name, value) values ($1, $2) on conflict (name) do nothing",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("select value from setting where name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn put_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "insert into setting (name, value) values ($1, $2) \
             on conflict (name) do update set value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_merchant(&self, m: &MerchantRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into merchant (merchant_id, name, mode, active, enabled_currencies, \
             payout_confirmation_required, default_router_id, allowed_frame_origins, \
             webhook_secret_enc, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(m.id.hex())
        .bind(&m.name)
        .bind(&m.mode)
        .bind(m.active)
        .bind(json(&m.enabled_currencies))
        .bind(m.payout_confirmation_required)
        .bind(m.default_router_id.map(|r| r.hex()))
        .bind(json(&m.allowed_frame_origins))
        .bind(&m.webhook_secret_enc)
        .bind(to_ms(m.created_at))
        .bind(to_ms(m.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<MerchantRecord>> {
        sqlx::query("select * from merchant where merchant_id = $1")
            .bind(id.hex())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| merchant_from_row(&r))
            .transpose()
    }

    async fn update_merchant(&self, m: &MerchantRecord) -> StoreResult<()> {
        sqlx::query(
            "update merchant set name = $2, active = $3, enabled_currencies = $4, \
             payout_confirmation_required = $5, default_router_id = $6, \
             allowed_frame_origins = $7, webhook_secret_enc = $8, updated_at = $9 \
             where merchant_id = $1",
        )
        .bind(m.id.hex())
        .bind(&m.name)
        .bind(m.active)
        .bind(json(&m.enabled_currencies))
        .bind(m.payout_confirmation_required)
        .bind(m.default_router_id.map(|r| r.hex()))
        .bind(json(&m.allowed_frame_origins))
        .bind(&m.webhook_secret_enc)
        .bind(to_ms(m.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_merchants(&self) -> StoreResult<Vec<MerchantRecord>> {
        sqlx::query("select * from merchant order by created_at desc, merchant_id desc")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(merchant_from_row)
            .collect()
    }

    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into api_key (api_key_id, merchant_id, name, key_hash, prefix, last4, \
             demo, created_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(k.id.hex())
        .bind(k.merchant_id.hex())
        .bind(&k.name)
        .bind(&k.key_hash)
        .bind(&k.prefix)
        .bind(&k.last4)
        .bind(k.demo)
        .bind(to_ms(k.created_at))
        .bind(k.revoked_at.map(to_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        sqlx::query("select * from api_key where key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| api_key_from_row(&r))
            .transpose()
    }

    async fn insert_client(&self, cr: &ClientRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into client_credential (client_id, merchant_id, name, secret_hash, \
             demo, created_at, revoked_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cr.client_id.hex())
        .bind(cr.merchant_id.hex())
        .bind(&cr.name)
        .bind(&cr.secret_hash)
        .bind(cr.demo)
        .bind(to_ms(cr.created_at))
        .bind(cr.revoked_at.map(to_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_client(&self, id: ClientId) -> StoreResult<Option<ClientRecord>> {
        sqlx::query("select * from client_credential where client_id = $1")
            .bind(id.hex())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| client_from_row(&r))
            .transpose()
    }

    async fn revoke_demo_credentials(
        &self,
        merchant: MerchantId,
        keep_key: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "update api_key set revoked_at = $3 where merchant_id = $1 and demo \
             and api_key_id <> $2 and revoked_at is null",
        )
        .bind(merchant.hex())
        .bind(keep_key.hex())
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_client_secret(
        &self,
        id: ClientId,
        secret_hash: &str,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query(
            "update client_credential set secret_hash = $2, last_used_at = null, \
             revoked_at = null where client_id = $1",
        )
        .bind(id.hex())
        .bind(secret_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<()> {
        let countries: Vec<&str> = a.countries.iter().map(|c| c.as_str()).collect();
        sqlx::query(
            "insert into psp_account (psp_account_id, merchant_id, name, connector, enabled, \
             currencies, countries, methods, directions, kyc_required, latency_ms, \
             force_decline, decline_rate_bp, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
        )
        .bind(a.id.hex())
        .bind(a.merchant_id.hex())
        .bind(&a.name)
        .bind(&a.connector)
        .bind(a.enabled)
        .bind(json(&a.currencies))
        .bind(json(&countries))
        .bind(json(&a.methods))
        .bind(json(&a.directions))
        .bind(a.kyc_required)
        .bind(i64::from(a.latency_ms))
        .bind(a.force_decline.map(|d| d.as_str()))
        .bind(i64::from(a.decline_rate_bp))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_psp_accounts(&self, merchant: MerchantId) -> StoreResult<Vec<PspAccount>> {
        sqlx::query(
            "select * from psp_account where merchant_id = $1 order by created_at, psp_account_id",
        )
        .bind(merchant.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(psp_from_row)
        .collect()
    }

    async fn ensure_customer(
        &self,
        merchant: MerchantId,
        external_user_id: &str,
        candidate: CustomerId,
        now: OffsetDateTime,
    ) -> StoreResult<CustomerId> {
        let select =
            "select customer_id from customer where merchant_id = $1 and external_user_id = $2";
        let existing: Option<String> = sqlx::query_scalar(select)
            .bind(merchant.hex())
            .bind(external_user_id)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(id) = existing {
            return hex_id(&id, CustomerId::parse, "customer_id");
        }
        // A concurrent insert of the same customer makes this one wait and then do nothing; the
        // select (a new snapshot) sees the winner.
        sqlx::query(
            "insert into customer (customer_id, merchant_id, external_user_id, created_at) \
             values ($1, $2, $3, $4) on conflict (merchant_id, external_user_id) do nothing",
        )
        .bind(candidate.hex())
        .bind(merchant.hex())
        .bind(external_user_id)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        let id: String = sqlx::query_scalar(select)
            .bind(merchant.hex())
            .bind(external_user_id)
            .fetch_one(&self.pool)
            .await?;
        hex_id(&id, CustomerId::parse, "customer_id")
    }

    async fn check_idempotency(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        not_before: OffsetDateTime,
    ) -> StoreResult<IdemCheck> {
        let row = sqlx::query(
            "select fingerprint, status_code, body, created_at from idempotency_key \
             where scope = $1 and idem_key = $2 and created_at >= $3",
        )
        .bind(scope)
        .bind(key)
        .bind(to_ms(not_before))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(IdemCheck::Fresh);
        };
        let fp: String = row.try_get("fingerprint")?;
        if fp != fingerprint {
            return Ok(IdemCheck::Mismatch);
        }
        Ok(IdemCheck::Replay(StoredResponse {
            status: row.try_get::<i64, _>("status_code")? as u16,
            body: row.try_get("body")?,
        }))
    }

    async fn put_idempotency(
        &self,
        idem: &IdemWrite,
        not_before: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.tx(
            (idem.clone(), to_ms(not_before)),
            |c, (idem, not_before)| {
                Box::pin(async move {
                    match idem_lookup(c, &idem.scope, &idem.key, &idem.fingerprint, *not_before)
                        .await?
                    {
                        IdemCheck::Fresh => {
                            idem_insert(c, idem).await?;
                            Ok((true, true))
                        }
                        IdemCheck::Replay(_) | IdemCheck::Mismatch => Ok((false, false)),
                    }
                })
            },
        )
        .await
    }

    async fn create_payout(
        &self,
        payout: &Payout,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome> {
        // Batched unless an Idempotency-Key row must be written too; a payout has at most its one
        // creation event (none when nothing is subscribed to it).
        if meta.idem.is_none()
            && events.len() <= 1
            && let Some(outcome) = self
                .create_payout_at_once(payout, meta, events.first())
                .await?
        {
            return Ok(outcome);
        }
        let arg = (payout.clone(), meta.clone(), events.to_vec());
        self.tx(arg, |c, (p, meta, events)| {
            Box::pin(async move {
                // Lock order everywhere: Idempotency-Key first (inside idem_lookup), then orderId.
                if let Some(idem) = &meta.idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(meta.idem_not_before),
                    )
                    .await?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                        IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                    }
                }
                lock(
                    c,
                    LOCK_ORDER,
                    &format!("{}\u{1f}{}", p.merchant_id.hex(), p.order_id),
                )
                .await?;
                if let Some(taken) = taken_order(
                    c,
                    "payout",
                    p.merchant_id,
                    &p.order_id,
                    &meta.order_fingerprint,
                )
                .await?
                {
                    return Ok((true, taken));
                }
                insert_payout(c, p, meta).await?;
                insert_events(c, events).await?;
                if let Some(idem) = &meta.idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, CreateOutcome::Created))
            })
        })
        .await
    }

    async fn get_payout(
        &self,
        merchant: Option<MerchantId>,
        id: PayoutId,
    ) -> StoreResult<Option<Payout>> {
        sqlx::query(&format!(
            "select {PAYOUT_COLUMNS} from payout where payout_id = $1 \
             and ($2::text is null or merchant_id = $2)"
        ))
        .bind(id.hex())
        .bind(merchant.map(|m| m.hex()))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| payout_from_row(&r))
        .transpose()
    }

    async fn save_payout(&self, w: PayoutWrite<'_>) -> StoreResult<SaveOutcome> {
        let arg = (
            w.payout.clone(),
            w.expected_version,
            w.events,
            w.idem,
            w.pan,
            w.release_lease_of.map(str::to_string),
        );
        self.tx(arg, |c, (p, expected, events, idem, pan, release)| {
            Box::pin(async move {
                if let Some(idem) = idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(idem.not_before),
                    )
                    .await?
                    {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(_) | IdemCheck::Mismatch => {
                            return Ok((false, SaveOutcome::IdemTaken));
                        }
                    }
                }
                let (pan_mode, pan_bytes): (i64, Option<Vec<u8>>) = if p.status.is_final() {
                    (2, None)
                } else {
                    match pan {
                        PanUpdate::Keep => (0, None),
                        PanUpdate::Set(b) => (1, Some(b.clone())),
                        PanUpdate::Clear => (2, None),
                    }
                };
                // The row lock makes a concurrent writer wait; READ COMMITTED then re-checks
                // `version = $32` on the committed row, so exactly one of them updates.
                let q = sqlx::query(
                    "update payout set merchant_id = $2, customer_id = $3, order_id = $4, \
                     amount = $5, currency = $6, initial_amount = $7, initial_currency = $8, \
                     status = $9, status_reason = $10, kyc_verified = $11, \
                     previous_transaction_count = $12, customer = $13, return_urls = $14, \
                     webhook_url = $15, router_id = $16, routing_reason = $17, \
                     predicted_psp_id = $18, processor_psp_id = $19, psp_transaction_id = $20, \
                     destination = $21, metadata = $22, confirmed_at = $23, \
                     confirmation_deadline = $24, dispatch = $25, next_action_at = $26, \
                     sync_attempts = $27, submitted_at = $28, history = $29, created_at = $30, \
                     updated_at = $31, version = version + 1, \
                     pan_enc = case $33 when 0 then pan_enc when 1 then $34 else null end, \
                     lease_owner = case when $35::text is not null and lease_owner = $35 then null else lease_owner end, \
                     lease_until = case when $35::text is not null and lease_owner = $35 then null else lease_until end, \
                     routing_detail = $36, fx_detail = $37 \
                     where payout_id = $1 and version = $32",
                )
                .bind(p.id.hex());
                let binds = PayoutBinds::of(p);
                let (routing, fx) = binds.details();
                let res = binds
                    .bind(q)
                    .bind(*expected)
                    .bind(pan_mode)
                    .bind(pan_bytes)
                    .bind(release.as_deref())
                    .bind(routing)
                    .bind(fx)
                    .execute(&mut *c)
                    .await?;
                if res.rows_affected() == 0 {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                insert_events(c, events).await?;
                if let Some(idem) = idem {
                    idem_insert(c, idem).await?;
                }
                Ok((true, SaveOutcome::Saved))
            })
        })
        .await
    }

    async fn payout_pan(&self, id: PayoutId) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar::<_, Option<Vec<u8>>>(
            "select pan_enc from payout where payout_id = $1",
        )
        .bind(id.hex())
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    async fn claim_due_payouts(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<PayoutId>> {
        // SKIP LOCKED: rows another node is claiming right now are skipped, never waited for;
        // a row whose lease was just taken is re-checked on its committed version and dropped.
        let ids: Vec<String> = sqlx::query_scalar(
            "update payout set lease_owner = $2, lease_until = $3 where payout_id in ( \
               select payout_id from payout where next_action_at is not null \
               and next_action_at <= $1 and (lease_until is null or lease_until < $1) \
               order by next_action_at limit $4 for update skip locked) \
             and next_action_at <= $1 and (lease_until is null or lease_until < $1) \
             returning payout_id",
        )
        .bind(to_ms(now))
        .bind(owner)
        .bind(to_ms(lease_until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|s| hex_id(s, PayoutId::parse, "payout_id"))
            .collect()
    }

    async fn release_payout_lease(&self, id: PayoutId, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "update payout set lease_owner = null, lease_until = null \
             where payout_id = $1 and lease_owner = $2",
        )
        .bind(id.hex())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_events(&self, transaction_id: &str) -> StoreResult<Vec<EventRecord>> {
        sqlx::query(
            "select event_id, event_type, status, body from event where transaction_id = $1 \
             order by created_at, seq",
        )
        .bind(transaction_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(EventRecord {
                id: hex_id(r.try_get("event_id")?, EventId::parse, "event_id")?,
                event_type: r.try_get("event_type")?,
                status: r.try_get("status")?,
                body: r.try_get("body")?,
            })
        })
        .collect()
    }

    async fn insert_endpoint(&self, e: &EndpointRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into webhook_endpoint (endpoint_id, merchant_id, url, description, \
             enabled, event_types, statuses, headers, secret_enc, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(e.id.hex())
        .bind(e.merchant_id.hex())
        .bind(&e.url)
        .bind(&e.description)
        .bind(e.enabled)
        .bind(json(&e.event_types))
        .bind(json(&e.statuses))
        .bind(json(&e.headers))
        .bind(&e.secret_enc)
        .bind(to_ms(e.created_at))
        .bind(to_ms(e.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_endpoints(&self, merchant: MerchantId) -> StoreResult<Vec<EndpointRecord>> {
        sqlx::query(
            "select * from webhook_endpoint where merchant_id = $1 order by created_at, endpoint_id",
        )
        .bind(merchant.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(endpoint_from_row)
        .collect()
    }

    async fn get_endpoint(
        &self,
        merchant: MerchantId,
        id: EndpointId,
    ) -> StoreResult<Option<EndpointRecord>> {
        sqlx::query("select * from webhook_endpoint where merchant_id = $1 and endpoint_id = $2")
            .bind(merchant.hex())
            .bind(id.hex())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| endpoint_from_row(&r))
            .transpose()
    }

    async fn update_endpoint(&self, e: &EndpointRecord) -> StoreResult<bool> {
        let r = sqlx::query(
            "update webhook_endpoint set url = $3, description = $4, enabled = $5, \
             event_types = $6, statuses = $7, headers = $8, secret_enc = $9, \
             updated_at = $10 where merchant_id = $1 and endpoint_id = $2",
        )
        .bind(e.merchant_id.hex())
        .bind(e.id.hex())
        .bind(&e.url)
        .bind(&e.description)
        .bind(e.enabled)
        .bind(json(&e.event_types))
        .bind(json(&e.statuses))
        .bind(json(&e.headers))
        .bind(&e.secret_enc)
        .bind(to_ms(e.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(affected(r))
    }

    async fn delete_endpoint(&self, merchant: MerchantId, id: EndpointId) -> StoreResult<bool> {
        let r =
            sqlx::query("delete from webhook_endpoint where merchant_id = $1 and endpoint_id = $2")
                .bind(merchant.hex())
                .bind(id.hex())
                .execute(&self.pool)
                .await?;
        Ok(affected(r))
    }

    async fn claim_due_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        // One statement: claim (SKIP LOCKED, per-target order kept by the not-exists) and read
        // the claimed rows with their event bodies.
        sqlx::query(&format!(
            "with claimed as ( \
               update delivery set lease_owner = $2, lease_until = $3 where seq in ( \
                 select d.seq from delivery d where d.status = 'PENDING' \
                 and d.next_attempt_at <= $1 \
                 and (d.lease_until is null or d.lease_until < $1) \
                 and not exists (select 1 from delivery e where e.transaction_id = d.transaction_id \
                   and e.url = d.url and e.seq < d.seq and e.status = 'PENDING') \
                 order by d.next_attempt_at, d.seq limit $4 for update skip locked) \
               and status = 'PENDING' and (lease_until is null or lease_until < $1) \
               returning * ) \
             select {DELIVERY_COLUMNS}, e.body from claimed d \
             join event e on e.event_id = d.event_id order by d.next_attempt_at, d.seq"
        ))
        .bind(to_ms(now))
        .bind(owner)
        .bind(to_ms(lease_until))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(DeliveryJob {
                delivery: delivery_from_row(row)?,
                body: row.try_get("body")?,
            })
        })
        .collect()
    }

    async fn finish_attempt(
        &self,
        id: DeliveryId,
        attempt: &AttemptRecord,
        status: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        let arg = (id, attempt.clone(), status.to_string(), next_attempt_at);
        self.tx(arg, |c, (id, a, status, next_attempt_at)| {
            Box::pin(async move {
                sqlx::query(
                    "insert into delivery_attempt (delivery_id, attempt, at, http_status, \
                     latency_ms, error, response_snippet) values ($1, $2, $3, $4, $5, $6, $7) \
                     on conflict (delivery_id, attempt) do nothing",
                )
                .bind(id.hex())
                .bind(a.attempt)
                .bind(to_ms(a.at))
                .bind(a.http_status)
                .bind(a.latency_ms)
                .bind(&a.error)
                .bind(&a.response_snippet)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "update delivery set status = $2, attempt_count = greatest(attempt_count, $3), \
                     last_attempt_at = $4, next_attempt_at = $5, lease_owner = null, \
                     lease_until = null where delivery_id = $1",
                )
                .bind(id.hex())
                .bind(status)
                .bind(a.attempt)
                .bind(to_ms(a.at))
                .bind(next_attempt_at.map(to_ms))
                .execute(&mut *c)
                .await?;
                Ok((true, ()))
            })
        })
        .await
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        after: Option<(OffsetDateTime, DeliveryId)>,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let (after_ms, after_id) = match after {
            Some((t, id)) => (Some(to_ms(t)), Some(id.hex())),
            None => (None, None),
        };
        sqlx::query(&format!(
            "select {DELIVERY_COLUMNS} from delivery d where \
             ($1::text is null or d.merchant_id = $1) and ($2::text is null or d.status = $2) \
             and ($3::text is null or d.transaction_id = $3) \
             and ($4::text is null or d.event_id = $4) \
             and ($5::text is null or d.endpoint_id = $5) \
             and ($6::bigint is null or d.created_at < $6 \
               or (d.created_at = $6 and d.delivery_id < $7)) \
             order by d.created_at desc, d.delivery_id desc limit $8"
        ))
        .bind(filter.merchant_id.map(|m| m.hex()))
        .bind(&filter.status)
        .bind(&filter.transaction_id)
        .bind(filter.event_id.map(|e| e.hex()))
        .bind(filter.endpoint_id.map(|e| e.hex()))
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    async fn get_delivery(
        &self,
        id: DeliveryId,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>> {
        let Some(row) = sqlx::query(&format!(
            "select {DELIVERY_COLUMNS} from delivery d where d.delivery_id = $1"
        ))
        .bind(id.hex())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let d = delivery_from_row(&row)?;
        let attempts =
            sqlx::query("select * from delivery_attempt where delivery_id = $1 order by attempt")
                .bind(id.hex())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(attempt_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some((d, attempts)))
    }

    async fn redeliver(
        &self,
        id: DeliveryId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DeliveryRecord>> {
        sqlx::query(&format!(
            "update delivery d set status = 'PENDING', next_attempt_at = $2, \
             window_start = $2, retry_from = attempt_count, lease_owner = null, \
             lease_until = null where delivery_id = $1 returning {DELIVERY_COLUMNS}"
        ))
        .bind(id.hex())
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| delivery_from_row(&r))
        .transpose()
    }

    async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from delivery where status = 'PENDING'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<bool> {
        let countries: Vec<&str> = a.countries.iter().map(|c| c.as_str()).collect();
        let r = sqlx::query(
            "update psp_account set name = $3, enabled = $4, currencies = $5, \
             countries = $6, methods = $7, directions = $8, kyc_required = $9, \
             latency_ms = $10, force_decline = $11, decline_rate_bp = $12, \
             updated_at = $13 where merchant_id = $1 and psp_account_id = $2",
        )
        .bind(a.merchant_id.hex())
        .bind(a.id.hex())
        .bind(&a.name)
        .bind(a.enabled)
        .bind(json(&a.currencies))
        .bind(json(&countries))
        .bind(json(&a.methods))
        .bind(json(&a.directions))
        .bind(a.kyc_required)
        .bind(i64::from(a.latency_ms))
        .bind(a.force_decline.map(|d| d.as_str()))
        .bind(i64::from(a.decline_rate_bp))
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(affected(r))
    }

    async fn delete_psp_account(
        &self,
        merchant: MerchantId,
        id: PspAccountId,
    ) -> StoreResult<bool> {
        let r =
            sqlx::query("delete from psp_account where merchant_id = $1 and psp_account_id = $2")
                .bind(merchant.hex())
                .bind(id.hex())
                .execute(&self.pool)
                .await?;
        Ok(affected(r))
    }

    async fn psp_account_times(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<(PspAccountId, OffsetDateTime, OffsetDateTime)>> {
        sqlx::query(
            "select psp_account_id, created_at, updated_at from psp_account where merchant_id = $1",
        )
        .bind(merchant.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                hex_id(
                    r.try_get("psp_account_id")?,
                    PspAccountId::parse,
                    "psp_account_id",
                )?,
                from_ms(r.try_get("created_at")?),
                from_ms(r.try_get("updated_at")?),
            ))
        })
        .collect()
    }

    async fn insert_router(&self, r: &RouterRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into router (router_id, merchant_id, name, body, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id.hex())
        .bind(r.merchant_id.hex())
        .bind(&r.name)
        .bind(&r.body)
        .bind(to_ms(r.created_at))
        .bind(to_ms(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_routers(&self, merchant: MerchantId) -> StoreResult<Vec<RouterRecord>> {
        sqlx::query("select * from router where merchant_id = $1 order by created_at, router_id")
            .bind(merchant.hex())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(router_from_row)
            .collect()
    }

    async fn replace_router(&self, r: &RouterRecord) -> StoreResult<bool> {
        let res = sqlx::query(
            "update router set name = $3, body = $4, updated_at = $5 \
             where merchant_id = $1 and router_id = $2",
        )
        .bind(r.merchant_id.hex())
        .bind(r.id.hex())
        .bind(&r.name)
        .bind(&r.body)
        .bind(to_ms(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(affected(res))
    }

    async fn delete_router(&self, merchant: MerchantId, id: RouterId) -> StoreResult<bool> {
        let r = sqlx::query("delete from router where merchant_id = $1 and router_id = $2")
            .bind(merchant.hex())
            .bind(id.hex())
            .execute(&self.pool)
            .await?;
        Ok(affected(r))
    }

    async fn put_fx_rate(&self, r: &FxRateRecord) -> StoreResult<()> {
        sqlx::query(
            "insert into fx_rate (merchant_id, base, quote, rate, markup_bps, source, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7) on conflict (merchant_id, base, quote) do update \
             set rate = excluded.rate, markup_bps = excluded.markup_bps, \
             source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(r.merchant_id.hex())
        .bind(&r.base)
        .bind(&r.quote)
        .bind(&r.rate)
        .bind(r.markup_bps)
        .bind(&r.source)
        .bind(to_ms(r.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_fx_rates(&self, merchant: MerchantId) -> StoreResult<Vec<FxRateRecord>> {
        sqlx::query("select * from fx_rate where merchant_id = $1 order by base, quote")
            .bind(merchant.hex())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(fx_from_row)
            .collect()
    }

    async fn delete_fx_rate(
        &self,
        merchant: MerchantId,
        base: &str,
        quote: &str,
    ) -> StoreResult<bool> {
        let r =
            sqlx::query("delete from fx_rate where merchant_id = $1 and base = $2 and quote = $3")
                .bind(merchant.hex())
                .bind(base)
                .bind(quote)
                .execute(&self.pool)
                .await?;
        Ok(affected(r))
    }

    async fn bump_config_version(&self) -> StoreResult<i64> {
        let v: String = sqlx::query_scalar(
            "insert into setting (name, value) values ('config.version', '1') \
             on conflict (name) do update set value = (setting.value::bigint + 1)::text \
             returning value",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(v.parse().unwrap_or(0))
    }

    async fn config_version(&self) -> StoreResult<i64> {
        let v: Option<String> =
            sqlx::query_scalar("select value from setting where name = 'config.version'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn list_clients(&self, merchant: MerchantId) -> StoreResult<Vec<ClientRecord>> {
        sqlx::query(
            "select * from client_credential where merchant_id = $1 order by created_at, client_id",
        )
        .bind(merchant.hex())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(client_from_row)
        .collect()
    }

    async fn revoke_client(
        &self,
        merchant: MerchantId,
        id: ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "update client_credential set revoked_at = coalesce(revoked_at, $3) \
             where merchant_id = $1 and client_id = $2",
        )
        .bind(merchant.hex())
        .bind(id.hex())
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(affected(r))
    }

    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>> {
        sqlx::query("select * from api_key where merchant_id = $1 order by created_at, api_key_id")
            .bind(merchant.hex())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(api_key_from_row)
            .collect()
    }

    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "update api_key set revoked_at = coalesce(revoked_at, $3) \
             where merchant_id = $1 and api_key_id = $2",
        )
        .bind(merchant.hex())
        .bind(id.hex())
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(affected(r))
    }

    async fn search_payouts(
        &self,
        f: &PayoutFilter,
        after: Option<(OffsetDateTime, PayoutId)>,
        limit: i64,
    ) -> StoreResult<Vec<Payout>> {
        let (after_ms, after_id) = match after {
            Some((t, id)) => (Some(to_ms(t)), Some(id.hex())),
            None => (None, None),
        };
        let statuses = (!f.statuses.is_empty()).then(|| f.statuses.clone());
        let cols: String = PAYOUT_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(&format!(
            "select {cols} from payout p join customer c on c.customer_id = p.customer_id where \
             ($1::text is null or p.merchant_id = $1) \
             and ($2::text[] is null or p.status = any($2)) \
             and ($3::text is null or p.order_id = $3) and ($4::text is null or p.customer_id = $4) \
             and ($5::text is null or c.external_user_id = $5) \
             and ($6::text is null or p.currency = $6) \
             and ($7::text is null or p.processor_psp_id = $7) \
             and ($8::bigint is null or p.created_at >= $8) \
             and ($9::bigint is null or p.created_at < $9) \
             and ($10::bigint is null or p.created_at < $10 \
               or (p.created_at = $10 and p.payout_id < $11)) \
             order by p.created_at desc, p.payout_id desc limit $12"
        ))
        .bind(f.merchant_id.map(|m| m.hex()))
        .bind(statuses)
        .bind(&f.order_id)
        .bind(f.customer_id.map(|c| c.hex()))
        .bind(&f.external_user_id)
        .bind(&f.currency)
        .bind(&f.psp_account_id)
        .bind(f.created_from.map(to_ms))
        .bind(f.created_to.map(to_ms))
        .bind(after_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect()
    }

    // --- payins (issue 4), in postgres/payin.rs ---
    async fn create_payin(
        &self,
        payin: &omno_domain::payin::Payin,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome> {
        self.payin_create(payin, meta, events).await
    }

    async fn get_payin(
        &self,
        merchant: Option<MerchantId>,
        id: omno_domain::ids::PayinId,
    ) -> StoreResult<Option<omno_domain::payin::Payin>> {
        self.payin_get(merchant, id).await
    }

    async fn save_payin(&self, w: crate::PayinWrite<'_>) -> StoreResult<SaveOutcome> {
        self.payin_save(w).await
    }

    async fn payin_pan(&self, id: omno_domain::ids::PayinId) -> StoreResult<Option<Vec<u8>>> {
        self.payin_pan_enc(id).await
    }

    async fn claim_due_payins(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<omno_domain::ids::PayinId>> {
        self.payin_claim_due(now, owner, lease_until, limit).await
    }

    async fn release_payin_lease(
        &self,
        id: omno_domain::ids::PayinId,
        owner: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "update payin set lease_owner = null, lease_until = null \
             where payin_id = $1 and lease_owner = $2",
        )
        .bind(id.hex())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_saved_card(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        card_hash: &str,
    ) -> StoreResult<Option<crate::SavedCardRecord>> {
        self.payin_find_card(merchant, customer, card_hash).await
    }

    async fn get_saved_card(
        &self,
        merchant: MerchantId,
        id: omno_domain::ids::CardId,
    ) -> StoreResult<Option<crate::SavedCardRecord>> {
        self.payin_get_card(merchant, id).await
    }

    async fn search_payins(
        &self,
        filter: &PayoutFilter,
        after: Option<(OffsetDateTime, omno_domain::ids::PayinId)>,
        limit: i64,
    ) -> StoreResult<Vec<omno_domain::payin::Payin>> {
        self.payin_search(filter, after, limit).await
    }

    // --- cashier (issue 7), in postgres/cashier.rs ---
    async fn create_cashier_session(
        &self,
        session: &omno_domain::cashier::CashierSession,
        idem: Option<IdemWrite>,
    ) -> StoreResult<CreateOutcome> {
        self.cashier_create(session, idem).await
    }

    async fn get_cashier_session(
        &self,
        merchant: Option<MerchantId>,
        id: &str,
    ) -> StoreResult<Option<omno_domain::cashier::CashierSession>> {
        self.cashier_get(merchant, id).await
    }

    async fn set_cashier_balance(
        &self,
        merchant: MerchantId,
        id: &str,
        balance: Option<i64>,
        now: OffsetDateTime,
        idem: Option<IdemWrite>,
    ) -> StoreResult<crate::BalanceOutcome> {
        self.cashier_balance(merchant, id, balance, now, idem).await
    }

    async fn cashier_transaction(
        &self,
        w: crate::CashierWrite<'_>,
    ) -> StoreResult<crate::CashierOutcome> {
        self.cashier_tx(w).await
    }

    async fn syncing_payouts(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("select count(*) from payout where dispatch = 'SYNCING'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
