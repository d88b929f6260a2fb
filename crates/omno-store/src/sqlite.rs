//! The embedded SQLite store (rusqlite).
//!
//! WAL journal, `synchronous = FULL` (a commit is fsynced before the caller answers 200),
//! foreign keys on. All writes go to one writer thread (group commit): it takes everything
//! queued, runs it in one `BEGIN IMMEDIATE` transaction with a savepoint per write, commits once —
//! one fsync for the whole batch — and only then answers each caller. Throughput is therefore not
//! capped by one fsync per request, and a 200 still means durable. Other processes on the same
//! file (e.g. `omno admin`) wait on `busy_timeout`. Reads run on the calling thread on one of a
//! few reader connections and see every committed write.
//!
//! Writes run on the writer thread: a request that is abandoned mid-way (client gone) can never
//! leave a half-open transaction behind. The connection machinery is in `sqlite/engine.rs`.

use std::sync::Arc;

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
use rusqlite::{Connection, Row, params};
use time::OffsetDateTime;

use crate::{
    ApiKeyRecord, AttemptRecord, ClientRecord, CreateMeta, CreateOutcome, DeliveryFilter,
    DeliveryJob, DeliveryRecord, EndpointRecord, EventRecord, FxRateRecord, IdemCheck, IdemWrite,
    MerchantRecord, NewEvent, PanUpdate, PayoutFilter, PayoutWrite, RouterRecord, SaveOutcome,
    Store, StoreError, StoreResult, StoredResponse, from_ms, to_ms,
};
use engine::{Engine, RowExt, all, exec, one, opt};

mod cashier;
mod engine;
mod payin;

/// SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    engine: Arc<Engine>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite://PATH` URL. Does not migrate.
    /// Reads use up to `max_connections` connections (at least two), opened on first use.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let readers = usize::try_from(max_connections).unwrap_or(usize::MAX);
        Ok(Self {
            engine: Engine::open(path, readers)?,
        })
    }

    /// Applies pending migrations (on the writer connection, between batches).
    pub async fn migrate(&self) -> StoreResult<()> {
        self.engine.raw(engine::run_migrations).await
    }

    /// Whether every embedded migration is applied.
    pub async fn migrations_applied(&self) -> StoreResult<bool> {
        let applied: i64 = self
            .read(|c| {
                one(
                    c,
                    "select count(*) from _sqlx_migrations where success = 1",
                    [],
                    |r| r.try_get(0),
                )
            })
            .await
            .unwrap_or(0);
        Ok(usize::try_from(applied).unwrap_or(0) >= engine::migration_count())
    }

    /// Closes the connections (checkpointing the WAL) after the queued writes.
    pub async fn close(&self) {
        self.engine.close().await;
    }

    /// Queues a write for the single writer thread (group commit); see [`Engine::write`].
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<(bool, T)> + Send + 'static,
    {
        self.engine.write(f).await
    }

    /// [`SqliteStore::write`] sharing a savepoint with neighbouring unguarded writes (see
    /// [`Engine::write_unguarded`]): for hot inserts; `f` may run more than once.
    async fn write_unguarded<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<(bool, T)> + Send + 'static,
    {
        self.engine.write_unguarded(f).await
    }

    /// Runs a read on the calling thread (see [`Engine::read`]), then waits until whatever it
    /// may have seen is durable (see [`Engine::settled`]).
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let value = self.engine.read(f)?;
        self.engine.settled().await;
        Ok(value)
    }
}

/// A bound value of a one-statement write ([`SqliteStore::exec`]).
enum Arg {
    Text(String),
    Int(i64),
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Text(t) => t.to_sql(),
            Self::Int(i) => i.to_sql(),
        }
    }
}

impl SqliteStore {
    /// Runs one statement as its own write (through the group-commit writer); returns the number
    /// of rows it affected.
    async fn exec(&self, sql: &'static str, args: Vec<Arg>) -> StoreResult<u64> {
        self.write(move |c| {
            let n = exec(c, sql, rusqlite::params_from_iter(args.iter()))?.rows_affected();
            Ok((true, n))
        })
        .await
    }
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

fn merchant_from_row(r: &Row<'_>) -> StoreResult<MerchantRecord> {
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

fn api_key_from_row(r: &Row<'_>) -> StoreResult<ApiKeyRecord> {
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

fn client_from_row(r: &Row<'_>) -> StoreResult<ClientRecord> {
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

fn psp_from_row(r: &Row<'_>) -> StoreResult<PspAccount> {
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

/// The position of `name` in [`PAYOUT_COLUMNS`], the select list of every query that
/// [`payout_from_row`] maps: reading by position skips a name lookup per column, which was most
/// of the cost of mapping this wide row (rusqlite converts and compares each column name). An
/// unknown name is a compile error where it is a constant (see `pc!`) and a panic-free
/// out-of-range index (a read error) otherwise.
const fn payout_col(name: &str) -> usize {
    let (cols, name) = (PAYOUT_COLUMNS.as_bytes(), name.as_bytes());
    let (mut i, mut pos) = (0, 0);
    while i < cols.len() {
        // At the start of a column name: compare it with `name`.
        let mut k = 0;
        while k < name.len() && i + k < cols.len() && cols[i + k] == name[k] {
            k += 1;
        }
        let end = i + k;
        if k == name.len() && (end == cols.len() || cols[end] == b',') {
            return pos;
        }
        // Skip to the next name: past the comma and any whitespace.
        while i < cols.len() && cols[i] != b',' {
            i += 1;
        }
        while i < cols.len() && (cols[i] == b',' || cols[i] == b' ' || cols[i] == b'\n') {
            i += 1;
        }
        pos += 1;
    }
    usize::MAX
}

/// [`payout_col`] evaluated at compile time (an unknown column fails the build).
macro_rules! pc {
    ($name:literal) => {{
        const I: usize = payout_col($name);
        const _: () = assert!(I != usize::MAX, "unknown payout column");
        I
    }};
}

fn payout_from_row(r: &Row<'_>) -> StoreResult<Payout> {
    let opt_psp = |i: usize, col: &'static str| -> StoreResult<Option<PspAccountId>> {
        r.try_get::<Option<String>, _>(i)?
            .map(|s| hex_id(&s, PspAccountId::parse, col))
            .transpose()
    };
    let status_reason: Option<String> = r.try_get(pc!("status_reason"))?;
    let return_urls: Option<String> = r.try_get(pc!("return_urls"))?;
    let destination: Option<String> = r.try_get(pc!("destination"))?;
    Ok(Payout {
        id: hex_id(r.try_get(pc!("payout_id"))?, PayoutId::parse, "payout_id")?,
        merchant_id: hex_id(
            r.try_get(pc!("merchant_id"))?,
            MerchantId::parse,
            "merchant_id",
        )?,
        customer_id: hex_id(
            r.try_get(pc!("customer_id"))?,
            CustomerId::parse,
            "customer_id",
        )?,
        order_id: r.try_get(pc!("order_id"))?,
        amount: Money {
            amount: MinorUnits(r.try_get(pc!("amount"))?),
            currency: currency(r.try_get(pc!("currency"))?)?,
        },
        initial: Money {
            amount: MinorUnits(r.try_get(pc!("initial_amount"))?),
            currency: currency(r.try_get(pc!("initial_currency"))?)?,
        },
        status: PayoutStatus::parse(r.try_get(pc!("status"))?)
            .ok_or(StoreError::Corrupt("status"))?,
        status_reason: status_reason
            .map(|s| de::<StatusReason>(&s, "status_reason"))
            .transpose()?,
        kyc_verified: r.try_get(pc!("kyc_verified"))?,
        previous_transaction_count: r.try_get(pc!("previous_transaction_count"))?,
        customer: de::<Customer>(r.try_get(pc!("customer"))?, "customer")?,
        return_urls: return_urls
            .map(|s| de::<ReturnUrls>(&s, "return_urls"))
            .transpose()?,
        webhook_url: r.try_get(pc!("webhook_url"))?,
        router_id: r
            .try_get::<Option<String>, _>(pc!("router_id"))?
            .map(|s| hex_id(&s, RouterId::parse, "router_id"))
            .transpose()?,
        routing_reason: r.try_get(pc!("routing_reason"))?,
        predicted_psp_id: opt_psp(pc!("predicted_psp_id"), "predicted_psp_id")?,
        processor_psp_id: opt_psp(pc!("processor_psp_id"), "processor_psp_id")?,
        psp_transaction_id: r.try_get(pc!("psp_transaction_id"))?,
        destination: destination
            .map(|s| de::<Destination>(&s, "destination"))
            .transpose()?,
        metadata: de::<Metadata>(r.try_get(pc!("metadata"))?, "metadata")?,
        confirmed_at: opt_ms(r.try_get(pc!("confirmed_at"))?),
        confirmation_deadline: opt_ms(r.try_get(pc!("confirmation_deadline"))?),
        dispatch: Dispatch::parse(r.try_get(pc!("dispatch"))?)
            .ok_or(StoreError::Corrupt("dispatch"))?,
        next_action_at: opt_ms(r.try_get(pc!("next_action_at"))?),
        sync_attempts: r.try_get(pc!("sync_attempts"))?,
        submitted_at: opt_ms(r.try_get(pc!("submitted_at"))?),
        created_at: from_ms(r.try_get(pc!("created_at"))?),
        updated_at: from_ms(r.try_get(pc!("updated_at"))?),
        history: de::<Vec<HistoryEntry>>(r.try_get(pc!("history"))?, "history")?,
        routing_detail: r.try_get(pc!("routing_detail"))?,
        fx_detail: r.try_get(pc!("fx_detail"))?,
        version: r.try_get(pc!("version"))?,
    })
}

/// One payout by id.
static SELECT_PAYOUT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("select {PAYOUT_COLUMNS} from payout where payout_id = ?1")
});

/// One payout by id, only if it belongs to the merchant.
static SELECT_PAYOUT_OF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("select {PAYOUT_COLUMNS} from payout where payout_id = ?1 and merchant_id = ?2")
});

/// `insert into payout` with every column, skipping a taken (merchant, orderId).
static INSERT_PAYOUT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "insert into payout ({PAYOUT_COLUMNS}, request_fingerprint, create_response) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
         ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, \
         ?33, ?34, ?35, ?36) on conflict (merchant_id, order_id) do nothing"
    )
});

/// Inserts a payout unless its (merchant, orderId) is taken; returns the rows inserted (0 or 1).
/// The §1.8 answer for an `orderId` found taken in `table` (`payout` or `payin`): the stored
/// response for an equivalent body, else `DUPLICATE_ORDER_ID`.
fn taken_order(
    c: &Connection,
    table: &'static str,
    merchant_hex: &str,
    order_id: &str,
    fingerprint: &str,
) -> StoreResult<CreateOutcome> {
    let sql = match table {
        "payin" => {
            "select request_fingerprint, create_response from payin \
             where merchant_id = ?1 and order_id = ?2"
        }
        _ => {
            "select request_fingerprint, create_response from payout \
             where merchant_id = ?1 and order_id = ?2"
        }
    };
    let (fp, response): (String, String) = one(c, sql, params![merchant_hex, order_id], |r| {
        Ok((r.try_get(0)?, r.try_get(1)?))
    })?;
    Ok(if fp == fingerprint {
        CreateOutcome::OrderReplay(response)
    } else {
        CreateOutcome::DuplicateOrderId
    })
}

/// The column values come precomputed ([`PayoutBinds::of`], on the caller's thread: the JSON
/// rendering of the payout should not run on the single writer thread).
fn insert_payout(c: &Connection, b: &PayoutBinds, meta: &CreateMeta) -> StoreResult<u64> {
    // Same order as PAYOUT_COLUMNS.
    let n = exec(
        c,
        &INSERT_PAYOUT,
        params![
            b.id,
            b.merchant_id,
            b.customer_id,
            b.order_id,
            b.amount,
            b.currency,
            b.initial_amount,
            b.initial_currency,
            b.status,
            b.status_reason,
            b.kyc_verified,
            b.previous_transaction_count,
            b.customer,
            b.return_urls,
            b.webhook_url,
            b.router_id,
            b.routing_reason,
            b.predicted_psp_id,
            b.processor_psp_id,
            b.psp_transaction_id,
            b.destination,
            b.metadata,
            b.confirmed_at,
            b.confirmation_deadline,
            b.dispatch,
            b.next_action_at,
            b.sync_attempts,
            b.submitted_at,
            b.history,
            b.version,
            b.created_at,
            b.updated_at,
            b.routing_detail,
            b.fx_detail,
            meta.order_fingerprint,
            meta.response,
        ],
    )?;
    Ok(n.rows_affected())
}

fn idem_lookup(
    conn: &Connection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    not_before: i64,
) -> StoreResult<IdemCheck> {
    let row = opt(
        conn,
        "select fingerprint, status_code, body, created_at from idempotency_key \
         where scope = ?1 and idem_key = ?2",
        params![scope, key],
        |r| {
            Ok((
                r.try_get::<String, _>(0)?,
                r.try_get::<i64, _>(1)?,
                r.try_get::<String, _>(2)?,
                r.try_get::<i64, _>(3)?,
            ))
        },
    )?;
    let Some((fp, status, body, created)) = row else {
        return Ok(IdemCheck::Fresh);
    };
    if created < not_before {
        exec(
            conn,
            "delete from idempotency_key where scope = ?1 and idem_key = ?2",
            params![scope, key],
        )?;
        return Ok(IdemCheck::Fresh);
    }
    if fp != fingerprint {
        return Ok(IdemCheck::Mismatch);
    }
    Ok(IdemCheck::Replay(StoredResponse {
        status: status as u16,
        body,
    }))
}

fn idem_insert(conn: &Connection, idem: &IdemWrite) -> StoreResult<()> {
    exec(
        conn,
        "insert into idempotency_key (scope, idem_key, fingerprint, status_code, body, created_at) \
         values (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &idem.scope,
            &idem.key,
            &idem.fingerprint,
            i64::from(idem.response.status),
            &idem.response.body,
            to_ms(idem.created_at)
        ],
    )?;
    Ok(())
}

fn insert_events(conn: &Connection, events: &[NewEvent]) -> StoreResult<()> {
    for e in events {
        exec(
            conn,
            "insert into event (event_id, merchant_id, kind, transaction_id, event_type, status, \
             body, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                e.id.hex(),
                e.merchant_id.hex(),
                e.kind,
                &e.transaction_id,
                e.event_type,
                &e.status,
                &e.body,
                to_ms(e.created_at)
            ],
        )?;
        for t in &e.targets {
            exec(
                conn,
                "insert into delivery (delivery_id, merchant_id, event_id, event_type, \
                 transaction_id, endpoint_id, url, status, attempt_count, next_attempt_at, \
                 window_start, created_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PENDING', 0, ?8, ?8, ?8)",
                params![
                    DeliveryId(uuid::Uuid::now_v7()).hex(),
                    e.merchant_id.hex(),
                    e.id.hex(),
                    e.event_type,
                    &e.transaction_id,
                    t.endpoint_id.map(|i| i.hex()),
                    &t.url,
                    to_ms(e.created_at)
                ],
            )?;
        }
    }
    Ok(())
}

fn endpoint_from_row(r: &Row<'_>) -> StoreResult<EndpointRecord> {
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

fn delivery_from_row(r: &Row<'_>) -> StoreResult<DeliveryRecord> {
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

/// Column values of a payout, in [`PAYOUT_COLUMNS`] order.
struct PayoutBinds {
    id: String,
    version: i64,
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
            id: p.id.hex(),
            version: p.version,
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
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| one(c, "select 1", [], |r| r.try_get::<i64, _>(0)))
            .await?;
        Ok(())
    }

    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self
            .read(|c| {
                opt(
                    c,
                    "select value from setting where name = ?1",
                    params![name],
                    |r| r.try_get(0),
                )
            })
            .await?)
    }

    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let (name, value) = (name.to_string(), value.to_string());
        self.write(move |c| {
            exec(
                c,
                "insert into setting (name, value) values (?1, ?2) on conflict (name) do nothing",
                params![&name, &value],
            )?;
            let v: String = one(
                c,
                "select value from setting where name = ?1",
                params![&name],
                |r| r.try_get(0),
            )?;
            Ok((true, v))
        })
        .await
    }

    async fn put_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        let (name, value) = (name.to_string(), value.to_string());
        self.write(move |c| {
            exec(
                c,
                "insert into setting (name, value) values (?1, ?2) \
                     on conflict (name) do update set value = excluded.value",
                params![&name, &value],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn insert_merchant(&self, m: &MerchantRecord) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            exec(
                c,
                "insert into merchant (merchant_id, name, mode, active, enabled_currencies, \
                     payout_confirmation_required, default_router_id, allowed_frame_origins, \
                     webhook_secret_enc, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    m.id.hex(),
                    &m.name,
                    &m.mode,
                    m.active,
                    json(&m.enabled_currencies),
                    m.payout_confirmation_required,
                    m.default_router_id.map(|r| r.hex()),
                    json(&m.allowed_frame_origins),
                    &m.webhook_secret_enc,
                    to_ms(m.created_at),
                    to_ms(m.updated_at)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<MerchantRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from merchant where merchant_id = ?1",
                params![id.hex()],
                merchant_from_row,
            )
        })
        .await
    }

    async fn update_merchant(&self, m: &MerchantRecord) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            exec(
                c,
                "update merchant set name = ?2, active = ?3, enabled_currencies = ?4, \
                     payout_confirmation_required = ?5, default_router_id = ?6, \
                     allowed_frame_origins = ?7, webhook_secret_enc = ?8, updated_at = ?9 \
                     where merchant_id = ?1",
                params![
                    m.id.hex(),
                    &m.name,
                    m.active,
                    json(&m.enabled_currencies),
                    m.payout_confirmation_required,
                    m.default_router_id.map(|r| r.hex()),
                    json(&m.allowed_frame_origins),
                    &m.webhook_secret_enc,
                    to_ms(m.updated_at)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn list_merchants(&self) -> StoreResult<Vec<MerchantRecord>> {
        self.read(|c| {
            all(
                c,
                "select * from merchant order by created_at desc, merchant_id desc",
                [],
                merchant_from_row,
            )
        })
        .await
    }

    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        let k = k.clone();
        self.write(move |c| {
            exec(
                c,
                "insert into api_key (api_key_id, merchant_id, name, key_hash, prefix, last4, \
                     demo, created_at, revoked_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    k.id.hex(),
                    k.merchant_id.hex(),
                    &k.name,
                    &k.key_hash,
                    &k.prefix,
                    &k.last4,
                    k.demo,
                    to_ms(k.created_at),
                    k.revoked_at.map(to_ms)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from api_key where key_hash = ?1",
                params![key_hash],
                api_key_from_row,
            )
        })
        .await
    }

    async fn insert_client(&self, cr: &ClientRecord) -> StoreResult<()> {
        let cr = cr.clone();
        self.write(move |c| {
            exec(
                c,
                "insert into client_credential (client_id, merchant_id, name, secret_hash, \
                     demo, created_at, revoked_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    cr.client_id.hex(),
                    cr.merchant_id.hex(),
                    &cr.name,
                    &cr.secret_hash,
                    cr.demo,
                    to_ms(cr.created_at),
                    cr.revoked_at.map(to_ms)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn get_client(&self, id: ClientId) -> StoreResult<Option<ClientRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from client_credential where client_id = ?1",
                params![id.hex()],
                client_from_row,
            )
        })
        .await
    }

    async fn revoke_demo_credentials(
        &self,
        merchant: MerchantId,
        keep_key: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(move |c| {
            exec(
                c,
                "update api_key set revoked_at = ?3 where merchant_id = ?1 and demo = 1 \
                     and api_key_id <> ?2 and revoked_at is null",
                params![merchant.hex(), keep_key.hex(), to_ms(now)],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn set_client_secret(
        &self,
        id: ClientId,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let secret_hash = secret_hash.to_string();
        self.write(move |c| {
            exec(
                c,
                "update client_credential set secret_hash = ?2, last_used_at = null, \
                     revoked_at = null, created_at = created_at where client_id = ?1",
                params![id.hex(), &secret_hash],
            )?;
            let _ = now;
            Ok((true, ()))
        })
        .await
    }

    async fn insert_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            let countries: Vec<&str> = a.countries.iter().map(|c| c.as_str()).collect();
            exec(
                c,
                "insert into psp_account (psp_account_id, merchant_id, name, connector, enabled, \
                     currencies, countries, methods, directions, kyc_required, latency_ms, \
                     force_decline, decline_rate_bp, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
                params![
                    a.id.hex(),
                    a.merchant_id.hex(),
                    &a.name,
                    &a.connector,
                    a.enabled,
                    json(&a.currencies),
                    json(&countries),
                    json(&a.methods),
                    json(&a.directions),
                    a.kyc_required,
                    i64::from(a.latency_ms),
                    a.force_decline.map(|d| d.as_str()),
                    i64::from(a.decline_rate_bp),
                    to_ms(now)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn list_psp_accounts(&self, merchant: MerchantId) -> StoreResult<Vec<PspAccount>> {
        self.read(|c| all(c, "select * from psp_account where merchant_id = ?1 order by created_at, psp_account_id", params![merchant.hex()], psp_from_row)).await
    }

    async fn ensure_customer(
        &self,
        merchant: MerchantId,
        external_user_id: &str,
        candidate: CustomerId,
        now: OffsetDateTime,
    ) -> StoreResult<CustomerId> {
        let existing: Option<String> = self.read(|c| {
            opt(
                c,
                "select customer_id from customer where merchant_id = ?1 and external_user_id = ?2",
                params![merchant.hex(), external_user_id],
                |r| r.try_get(0),
            )
        }).await?;
        if let Some(id) = existing {
            return hex_id(&id, CustomerId::parse, "customer_id");
        }
        let ext = external_user_id.to_string();
        self.write(move |c| {
            {
                exec(c, "insert into customer (customer_id, merchant_id, external_user_id, created_at) \
                     values (?1, ?2, ?3, ?4) on conflict (merchant_id, external_user_id) do nothing", params![candidate.hex(), merchant.hex(), &ext, to_ms(now)])?;
                let id: String = one(c, "select customer_id from customer where merchant_id = ?1 and external_user_id = ?2", params![merchant.hex(), &ext], |r| r.try_get(0))?;
                Ok((true, hex_id(&id, CustomerId::parse, "customer_id")?))
            }
        })
        .await
    }

    async fn check_idempotency(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        not_before: OffsetDateTime,
    ) -> StoreResult<IdemCheck> {
        let row = self
            .read(|c| {
                opt(
                    c,
                    "select fingerprint, status_code, body from idempotency_key \
                 where scope = ?1 and idem_key = ?2 and created_at >= ?3",
                    params![scope, key, to_ms(not_before)],
                    |r| {
                        Ok((
                            r.try_get::<String, _>(0)?,
                            r.try_get::<i64, _>(1)?,
                            r.try_get::<String, _>(2)?,
                        ))
                    },
                )
            })
            .await?;
        let Some((fp, status, body)) = row else {
            return Ok(IdemCheck::Fresh);
        };
        if fp != fingerprint {
            return Ok(IdemCheck::Mismatch);
        }
        Ok(IdemCheck::Replay(StoredResponse {
            status: status as u16,
            body,
        }))
    }

    async fn put_idempotency(
        &self,
        idem: &IdemWrite,
        not_before: OffsetDateTime,
    ) -> StoreResult<bool> {
        let idem = idem.clone();
        self.write(move |c| {
            match idem_lookup(
                c,
                &idem.scope,
                &idem.key,
                &idem.fingerprint,
                to_ms(not_before),
            )? {
                IdemCheck::Fresh => {
                    idem_insert(c, &idem)?;
                    Ok((true, true))
                }
                IdemCheck::Replay(_) | IdemCheck::Mismatch => Ok((false, false)),
            }
        })
        .await
    }

    async fn create_payout(
        &self,
        payout: &Payout,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome> {
        let (b, meta, events) = (PayoutBinds::of(payout), meta.clone(), events.to_vec());
        // A hot insert: shares a savepoint with its neighbours (it only runs statements, so it
        // can run again if a neighbour fails).
        self.write_unguarded(move |c| {
            {
                if let Some(idem) = &meta.idem {
                    match idem_lookup(
                        c,
                        &idem.scope,
                        &idem.key,
                        &idem.fingerprint,
                        to_ms(meta.idem_not_before),
                    )? {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(r) => return Ok((true, CreateOutcome::IdemReplay(r))),
                        IdemCheck::Mismatch => return Ok((true, CreateOutcome::IdemMismatch)),
                    }
                }
                // Insert first; only a conflict (a repeated orderId) needs the extra read.
                let inserted = insert_payout(c, &b, &meta)?;
                if inserted == 0 {
                    let taken = taken_order(
                        c,
                        "payout",
                        &b.merchant_id,
                        &b.order_id,
                        &meta.order_fingerprint,
                    )?;
                    return Ok((true, taken));
                }
                insert_events(c, &events)?;
                if let Some(idem) = &meta.idem {
                    idem_insert(c, idem)?;
                }
                Ok((true, CreateOutcome::Created))
            }
        })
        .await
    }

    async fn get_payout(
        &self,
        merchant: Option<MerchantId>,
        id: PayoutId,
    ) -> StoreResult<Option<Payout>> {
        let id = id.hex();
        match merchant {
            Some(m) => {
                self.read(|c| opt(c, &SELECT_PAYOUT_OF, params![id, m.hex()], payout_from_row))
                    .await
            }
            None => {
                self.read(|c| opt(c, &SELECT_PAYOUT, params![id], payout_from_row))
                    .await
            }
        }
    }

    async fn save_payout(&self, w: PayoutWrite<'_>) -> StoreResult<SaveOutcome> {
        let b = PayoutBinds::of(w.payout);
        let is_final = w.payout.status.is_final();
        let expected = w.expected_version;
        let events = w.events;
        let idem = w.idem;
        let pan = w.pan;
        let release = w.release_lease_of.map(str::to_string);
        self.write(move |c| {
            {
                if let Some(idem) = &idem {
                    match idem_lookup(c, &idem.scope, &idem.key, &idem.fingerprint, to_ms(idem.not_before))? {
                        IdemCheck::Fresh => {}
                        IdemCheck::Replay(_) | IdemCheck::Mismatch => {
                            return Ok((false, SaveOutcome::IdemTaken));
                        }
                    }
                }
                let (pan_mode, pan_bytes): (i64, Option<Vec<u8>>) = if is_final {
                    (2, None)
                } else {
                    match pan {
                        PanUpdate::Keep => (0, None),
                        PanUpdate::Set(bytes) => (1, Some(bytes)),
                        PanUpdate::Clear => (2, None),
                    }
                };
                let res = exec(
                    c,
                    "update payout set merchant_id = ?2, customer_id = ?3, order_id = ?4, \
                     amount = ?5, currency = ?6, initial_amount = ?7, initial_currency = ?8, \
                     status = ?9, status_reason = ?10, kyc_verified = ?11, \
                     previous_transaction_count = ?12, customer = ?13, return_urls = ?14, \
                     webhook_url = ?15, router_id = ?16, routing_reason = ?17, \
                     predicted_psp_id = ?18, processor_psp_id = ?19, psp_transaction_id = ?20, \
                     destination = ?21, metadata = ?22, confirmed_at = ?23, \
                     confirmation_deadline = ?24, dispatch = ?25, next_action_at = ?26, \
                     sync_attempts = ?27, submitted_at = ?28, history = ?29, created_at = ?30, \
                     updated_at = ?31, version = version + 1, \
                     pan_enc = case ?33 when 0 then pan_enc when 1 then ?34 else null end, \
                     lease_owner = case when ?35 is not null and lease_owner = ?35 then null else lease_owner end, \
                     lease_until = case when ?35 is not null and lease_owner = ?35 then null else lease_until end, \
                     routing_detail = ?36, fx_detail = ?37 \
                     where payout_id = ?1 and version = ?32",
                    params![
                        b.id,
                        b.merchant_id,
                        b.customer_id,
                        b.order_id,
                        b.amount,
                        b.currency,
                        b.initial_amount,
                        b.initial_currency,
                        b.status,
                        b.status_reason,
                        b.kyc_verified,
                        b.previous_transaction_count,
                        b.customer,
                        b.return_urls,
                        b.webhook_url,
                        b.router_id,
                        b.routing_reason,
                        b.predicted_psp_id,
                        b.processor_psp_id,
                        b.psp_transaction_id,
                        b.destination,
                        b.metadata,
                        b.confirmed_at,
                        b.confirmation_deadline,
                        b.dispatch,
                        b.next_action_at,
                        b.sync_attempts,
                        b.submitted_at,
                        b.history,
                        b.created_at,
                        b.updated_at,
                        expected,
                        pan_mode,
                        pan_bytes,
                        release,
                        b.routing_detail,
                        b.fx_detail,
                    ],
                )?;
                if res.rows_affected() == 0 {
                    return Ok((false, SaveOutcome::VersionConflict));
                }
                insert_events(c, &events)?;
                if let Some(idem) = &idem {
                    idem_insert(c, idem)?;
                }
                Ok((true, SaveOutcome::Saved))
            }
        })
        .await
    }

    async fn payout_pan(&self, id: PayoutId) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .read(|c| {
                opt(
                    c,
                    "select pan_enc from payout where payout_id = ?1",
                    params![id.hex()],
                    |r| r.try_get::<Option<Vec<u8>>, _>(0),
                )
            })
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
        let owner = owner.to_string();
        self.write(move |c| {
            let ids: Vec<String> = all(
                c,
                "update payout set lease_owner = ?2, lease_until = ?3 where payout_id in ( \
                       select payout_id from payout where next_action_at is not null \
                       and next_action_at <= ?1 and (lease_until is null or lease_until < ?1) \
                       order by next_action_at limit ?4) returning payout_id",
                params![to_ms(now), &owner, to_ms(lease_until), limit],
                |r| r.try_get(0),
            )?;
            let ids = ids
                .iter()
                .map(|s| hex_id(s, PayoutId::parse, "payout_id"))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok((true, ids))
        })
        .await
    }

    async fn release_payout_lease(&self, id: PayoutId, owner: &str) -> StoreResult<()> {
        let sql = "update payout set lease_owner = null, lease_until = null \
                   where payout_id = ?1 and lease_owner = ?2";
        self.exec(sql, vec![Arg::Text(id.hex()), Arg::Text(owner.into())])
            .await
            .map(|_| ())
    }

    async fn list_events(&self, transaction_id: &str) -> StoreResult<Vec<EventRecord>> {
        self.read(|c| {
            all(
                c,
                "select event_id, event_type, status, body from event where transaction_id = ?1 \
             order by created_at, rowid",
                params![transaction_id],
                |r| {
                    Ok(EventRecord {
                        id: hex_id(r.try_get("event_id")?, EventId::parse, "event_id")?,
                        event_type: r.try_get("event_type")?,
                        status: r.try_get("status")?,
                        body: r.try_get("body")?,
                    })
                },
            )
        })
        .await
    }

    async fn insert_endpoint(&self, e: &EndpointRecord) -> StoreResult<()> {
        let e = e.clone();
        self.write(move |c| {
            exec(
                c,
                "insert into webhook_endpoint (endpoint_id, merchant_id, url, description, \
                     enabled, event_types, statuses, headers, secret_enc, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    e.id.hex(),
                    e.merchant_id.hex(),
                    &e.url,
                    &e.description,
                    e.enabled,
                    json(&e.event_types),
                    json(&e.statuses),
                    json(&e.headers),
                    &e.secret_enc,
                    to_ms(e.created_at),
                    to_ms(e.updated_at)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn list_endpoints(&self, merchant: MerchantId) -> StoreResult<Vec<EndpointRecord>> {
        self.read(|c| all(c, "select * from webhook_endpoint where merchant_id = ?1 order by created_at, endpoint_id", params![merchant.hex()], endpoint_from_row)).await
    }

    async fn get_endpoint(
        &self,
        merchant: MerchantId,
        id: EndpointId,
    ) -> StoreResult<Option<EndpointRecord>> {
        self.read(|c| {
            opt(
                c,
                "select * from webhook_endpoint where merchant_id = ?1 and endpoint_id = ?2",
                params![merchant.hex(), id.hex()],
                endpoint_from_row,
            )
        })
        .await
    }

    async fn update_endpoint(&self, e: &EndpointRecord) -> StoreResult<bool> {
        let e = e.clone();
        self.write(move |c| {
            let r = exec(
                c,
                "update webhook_endpoint set url = ?3, description = ?4, enabled = ?5, \
                     event_types = ?6, statuses = ?7, headers = ?8, secret_enc = ?9, \
                     updated_at = ?10 where merchant_id = ?1 and endpoint_id = ?2",
                params![
                    e.merchant_id.hex(),
                    e.id.hex(),
                    &e.url,
                    &e.description,
                    e.enabled,
                    json(&e.event_types),
                    json(&e.statuses),
                    json(&e.headers),
                    &e.secret_enc,
                    to_ms(e.updated_at)
                ],
            )?;
            Ok((true, r.rows_affected() > 0))
        })
        .await
    }

    async fn delete_endpoint(&self, merchant: MerchantId, id: EndpointId) -> StoreResult<bool> {
        let sql = "delete from webhook_endpoint where merchant_id = ?1 and endpoint_id = ?2";
        let args = vec![Arg::Text(merchant.hex()), Arg::Text(id.hex())];
        Ok(self.exec(sql, args).await? > 0)
    }

    async fn claim_due_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let owner = owner.to_string();
        self.write(move |c| {
            {
                let seqs: Vec<i64> = all(c, "update delivery set lease_owner = ?2, lease_until = ?3 where seq in ( \
                       select d.seq from delivery d where d.status = 'PENDING' \
                       and d.next_attempt_at <= ?1 \
                       and (d.lease_until is null or d.lease_until < ?1) \
                       and not exists (select 1 from delivery e where e.transaction_id = d.transaction_id \
                         and e.url = d.url and e.seq < d.seq and e.status = 'PENDING') \
                       order by d.next_attempt_at, d.seq limit ?4) returning seq", params![to_ms(now), &owner, to_ms(lease_until), limit], |r| r.try_get(0))?;
                let mut jobs = Vec::with_capacity(seqs.len());
                for seq in seqs {
                    jobs.push(one(
                        c,
                        &format!(
                            "select {DELIVERY_COLUMNS}, e.body from delivery d \
                             join event e on e.event_id = d.event_id where d.seq = ?1"
                        ),
                        params![seq],
                        |r| {
                            Ok(DeliveryJob {
                                delivery: delivery_from_row(r)?,
                                body: r.try_get("body")?,
                            })
                        },
                    )?);
                }
                Ok((true, jobs))
            }
        })
        .await
    }

    async fn finish_attempt(
        &self,
        id: DeliveryId,
        attempt: &AttemptRecord,
        status: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        let (a, status) = (attempt.clone(), status.to_string());
        self.write(move |c| {
            exec(
                c,
                "insert into delivery_attempt (delivery_id, attempt, at, http_status, \
                     latency_ms, error, response_snippet) values (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     on conflict (delivery_id, attempt) do nothing",
                params![
                    id.hex(),
                    a.attempt,
                    to_ms(a.at),
                    a.http_status,
                    a.latency_ms,
                    &a.error,
                    &a.response_snippet
                ],
            )?;
            exec(
                c,
                "update delivery set status = ?2, attempt_count = max(attempt_count, ?3), \
                     last_attempt_at = ?4, next_attempt_at = ?5, lease_owner = null, \
                     lease_until = null where delivery_id = ?1",
                params![
                    id.hex(),
                    &status,
                    a.attempt,
                    to_ms(a.at),
                    next_attempt_at.map(to_ms)
                ],
            )?;
            Ok((true, ()))
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
        self.read(|c| {
            all(
                c,
                &format!(
                    "select {DELIVERY_COLUMNS} from delivery d where \
             (?1 is null or d.merchant_id = ?1) and (?2 is null or d.status = ?2) \
             and (?3 is null or d.transaction_id = ?3) and (?4 is null or d.event_id = ?4) \
             and (?5 is null or d.endpoint_id = ?5) \
             and (?6 is null or d.created_at < ?6 or (d.created_at = ?6 and d.delivery_id < ?7)) \
             order by d.created_at desc, d.delivery_id desc limit ?8"
                ),
                params![
                    filter.merchant_id.map(|m| m.hex()),
                    &filter.status,
                    &filter.transaction_id,
                    filter.event_id.map(|e| e.hex()),
                    filter.endpoint_id.map(|e| e.hex()),
                    after_ms,
                    after_id,
                    limit
                ],
                delivery_from_row,
            )
        })
        .await
    }

    async fn get_delivery(
        &self,
        id: DeliveryId,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>> {
        let id = id.hex();
        self.read(|c| {
            let Some(d) = opt(
                c,
                &format!("select {DELIVERY_COLUMNS} from delivery d where d.delivery_id = ?1"),
                params![id],
                delivery_from_row,
            )?
            else {
                return Ok(None);
            };
            let attempts = all(
                c,
                "select * from delivery_attempt where delivery_id = ?1 order by attempt",
                params![id],
                |r| {
                    Ok(AttemptRecord {
                        attempt: r.try_get("attempt")?,
                        at: from_ms(r.try_get("at")?),
                        http_status: r.try_get("http_status")?,
                        latency_ms: r.try_get("latency_ms")?,
                        error: r.try_get("error")?,
                        response_snippet: r.try_get("response_snippet")?,
                    })
                },
            )?;
            Ok(Some((d, attempts)))
        })
        .await
    }

    async fn redeliver(
        &self,
        id: DeliveryId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.write(move |c| {
            exec(
                c,
                "update delivery set status = 'PENDING', next_attempt_at = ?2, \
                     window_start = ?2, retry_from = attempt_count, lease_owner = null, \
                     lease_until = null where delivery_id = ?1",
                params![id.hex(), to_ms(now)],
            )?;
            let d = opt(
                c,
                &format!("select {DELIVERY_COLUMNS} from delivery d where d.delivery_id = ?1"),
                params![id.hex()],
                delivery_from_row,
            )?;
            Ok((true, d))
        })
        .await
    }

    async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(self
            .read(|c| {
                one(
                    c,
                    "select count(*) from delivery where status = 'PENDING'",
                    [],
                    |r| r.try_get(0),
                )
            })
            .await?)
    }

    async fn update_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<bool> {
        let a = a.clone();
        self.write(move |c| {
            let countries: Vec<&str> = a.countries.iter().map(|c| c.as_str()).collect();
            let r = exec(
                c,
                "update psp_account set name = ?3, enabled = ?4, currencies = ?5, \
                     countries = ?6, methods = ?7, directions = ?8, kyc_required = ?9, \
                     latency_ms = ?10, force_decline = ?11, decline_rate_bp = ?12, \
                     updated_at = ?13 where merchant_id = ?1 and psp_account_id = ?2",
                params![
                    a.merchant_id.hex(),
                    a.id.hex(),
                    &a.name,
                    a.enabled,
                    json(&a.currencies),
                    json(&countries),
                    json(&a.methods),
                    json(&a.directions),
                    a.kyc_required,
                    i64::from(a.latency_ms),
                    a.force_decline.map(|d| d.as_str()),
                    i64::from(a.decline_rate_bp),
                    to_ms(now)
                ],
            )?;
            Ok((true, r.rows_affected() > 0))
        })
        .await
    }

    async fn delete_psp_account(
        &self,
        merchant: MerchantId,
        id: PspAccountId,
    ) -> StoreResult<bool> {
        let sql = "delete from psp_account where merchant_id = ?1 and psp_account_id = ?2";
        let args = vec![Arg::Text(merchant.hex()), Arg::Text(id.hex())];
        Ok(self.exec(sql, args).await? > 0)
    }

    async fn psp_account_times(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<Vec<(PspAccountId, OffsetDateTime, OffsetDateTime)>> {
        self.read(|c| all(c, "select psp_account_id, created_at, updated_at from psp_account where merchant_id = ?1", params![merchant.hex()], |r| {
            Ok((
                hex_id(
                    r.try_get("psp_account_id")?,
                    PspAccountId::parse,
                    "psp_account_id",
                )?,
                from_ms(r.try_get("created_at")?),
                from_ms(r.try_get("updated_at")?),
            ))
        })).await
    }

    async fn insert_router(&self, r: &RouterRecord) -> StoreResult<()> {
        let r = r.clone();
        self.write(move |c| {
            exec(
                c,
                "insert into router (router_id, merchant_id, name, body, created_at, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    r.id.hex(),
                    r.merchant_id.hex(),
                    &r.name,
                    &r.body,
                    to_ms(r.created_at),
                    to_ms(r.updated_at)
                ],
            )?;
            Ok((true, ()))
        })
        .await
    }

    async fn list_routers(&self, merchant: MerchantId) -> StoreResult<Vec<RouterRecord>> {
        self.read(|c| {
            all(
                c,
                "select * from router where merchant_id = ?1 order by created_at, router_id",
                params![merchant.hex()],
                |r| {
                    Ok(RouterRecord {
                        id: hex_id(r.try_get("router_id")?, RouterId::parse, "router_id")?,
                        merchant_id: hex_id(
                            r.try_get("merchant_id")?,
                            MerchantId::parse,
                            "merchant_id",
                        )?,
                        name: r.try_get("name")?,
                        body: r.try_get("body")?,
                        created_at: from_ms(r.try_get("created_at")?),
                        updated_at: from_ms(r.try_get("updated_at")?),
                    })
                },
            )
        })
        .await
    }

    async fn replace_router(&self, r: &RouterRecord) -> StoreResult<bool> {
        let r = r.clone();
        self.write(move |c| {
            let res = exec(
                c,
                "update router set name = ?3, body = ?4, updated_at = ?5 \
                     where merchant_id = ?1 and router_id = ?2",
                params![
                    r.merchant_id.hex(),
                    r.id.hex(),
                    &r.name,
                    &r.body,
                    to_ms(r.updated_at)
                ],
            )?;
            Ok((true, res.rows_affected() > 0))
        })
        .await
    }

    async fn delete_router(&self, merchant: MerchantId, id: RouterId) -> StoreResult<bool> {
        let sql = "delete from router where merchant_id = ?1 and router_id = ?2";
        let args = vec![Arg::Text(merchant.hex()), Arg::Text(id.hex())];
        Ok(self.exec(sql, args).await? > 0)
    }

    async fn put_fx_rate(&self, r: &FxRateRecord) -> StoreResult<()> {
        let r = r.clone();
        self.write(move |c| {
            {
                exec(c, "insert into fx_rate (merchant_id, base, quote, rate, markup_bps, source, updated_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7) on conflict (merchant_id, base, quote) do update \
                     set rate = excluded.rate, markup_bps = excluded.markup_bps, \
                     source = excluded.source, updated_at = excluded.updated_at", params![r.merchant_id.hex(), &r.base, &r.quote, &r.rate, r.markup_bps, &r.source, to_ms(r.updated_at)])?;
                Ok((true, ()))
            }
        })
        .await
    }

    async fn list_fx_rates(&self, merchant: MerchantId) -> StoreResult<Vec<FxRateRecord>> {
        self.read(|c| {
            all(
                c,
                "select * from fx_rate where merchant_id = ?1 order by base, quote",
                params![merchant.hex()],
                |r| {
                    Ok(FxRateRecord {
                        merchant_id: hex_id(
                            r.try_get("merchant_id")?,
                            MerchantId::parse,
                            "merchant_id",
                        )?,
                        base: r.try_get("base")?,
                        quote: r.try_get("quote")?,
                        rate: r.try_get("rate")?,
                        markup_bps: r.try_get("markup_bps")?,
                        source: r.try_get("source")?,
                        updated_at: from_ms(r.try_get("updated_at")?),
                    })
                },
            )
        })
        .await
    }

    async fn delete_fx_rate(
        &self,
        merchant: MerchantId,
        base: &str,
        quote: &str,
    ) -> StoreResult<bool> {
        let sql = "delete from fx_rate where merchant_id = ?1 and base = ?2 and quote = ?3";
        let args = vec![
            Arg::Text(merchant.hex()),
            Arg::Text(base.into()),
            Arg::Text(quote.into()),
        ];
        Ok(self.exec(sql, args).await? > 0)
    }

    async fn bump_config_version(&self) -> StoreResult<i64> {
        self.write(move |c| {
            {
                exec(c, "insert into setting (name, value) values ('config.version', '1') \
                     on conflict (name) do update set value = cast(cast(value as integer) + 1 as text)", [])?;
                let v: String =
                    one(c, "select value from setting where name = 'config.version'", [], |r| r.try_get(0))?;
                Ok((true, v.parse().unwrap_or(0)))
            }
        })
        .await
    }

    async fn config_version(&self) -> StoreResult<i64> {
        let v: Option<String> = self
            .read(|c| {
                opt(
                    c,
                    "select value from setting where name = 'config.version'",
                    [],
                    |r| r.try_get(0),
                )
            })
            .await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn list_clients(&self, merchant: MerchantId) -> StoreResult<Vec<ClientRecord>> {
        self.read(|c| all(c, "select * from client_credential where merchant_id = ?1 order by created_at, client_id", params![merchant.hex()], client_from_row)).await
    }

    async fn revoke_client(
        &self,
        merchant: MerchantId,
        id: ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = "update client_credential set revoked_at = coalesce(revoked_at, ?3) \
                   where merchant_id = ?1 and client_id = ?2";
        let args = vec![
            Arg::Text(merchant.hex()),
            Arg::Text(id.hex()),
            Arg::Int(to_ms(now)),
        ];
        Ok(self.exec(sql, args).await? > 0)
    }

    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.read(|c| {
            all(
                c,
                "select * from api_key where merchant_id = ?1 order by created_at, api_key_id",
                params![merchant.hex()],
                api_key_from_row,
            )
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = "update api_key set revoked_at = coalesce(revoked_at, ?3) \
                   where merchant_id = ?1 and api_key_id = ?2";
        let args = vec![
            Arg::Text(merchant.hex()),
            Arg::Text(id.hex()),
            Arg::Int(to_ms(now)),
        ];
        Ok(self.exec(sql, args).await? > 0)
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
        let statuses = (!f.statuses.is_empty()).then(|| json(&f.statuses));
        let cols: String = PAYOUT_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        self.read(|c| all(c, &format!(
            "select {cols} from payout p join customer c on c.customer_id = p.customer_id where \
             (?1 is null or p.merchant_id = ?1) \
             and (?2 is null or p.status in (select value from json_each(?2))) \
             and (?3 is null or p.order_id = ?3) and (?4 is null or p.customer_id = ?4) \
             and (?5 is null or c.external_user_id = ?5) and (?6 is null or p.currency = ?6) \
             and (?7 is null or p.processor_psp_id = ?7) and (?8 is null or p.created_at >= ?8) \
             and (?9 is null or p.created_at < ?9) \
             and (?10 is null or p.created_at < ?10 or (p.created_at = ?10 and p.payout_id < ?11)) \
             order by p.created_at desc, p.payout_id desc limit ?12"
        ), params![f.merchant_id.map(|m| m.hex()), statuses, &f.order_id, f.customer_id.map(|c| c.hex()), &f.external_user_id, &f.currency, &f.psp_account_id, f.created_from.map(to_ms), f.created_to.map(to_ms), after_ms, after_id, limit], payout_from_row)).await
    }

    // --- payins (issue 4), in sqlite/payin.rs ---
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
        let sql = "update payin set lease_owner = null, lease_until = null \
                   where payin_id = ?1 and lease_owner = ?2";
        self.exec(sql, vec![Arg::Text(id.hex()), Arg::Text(owner.into())])
            .await
            .map(|_| ())
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

    // --- cashier (issue 7), in sqlite/cashier.rs ---
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

    // --- metrics (issue 10) ---
    async fn syncing_payouts(&self) -> StoreResult<i64> {
        Ok(self
            .read(|c| {
                one(
                    c,
                    "select count(*) from payout where dispatch = 'SYNCING'",
                    [],
                    |r| r.try_get(0),
                )
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    /// Every column of the select list maps to its own position; an unknown name to none.
    #[test]
    fn payout_columns_by_position() {
        for (i, name) in super::PAYOUT_COLUMNS.split(',').map(str::trim).enumerate() {
            assert_eq!(super::payout_col(name), i, "{name}");
        }
        assert_eq!(super::payout_col("amount_x"), usize::MAX);
        assert_eq!(super::payout_col("no_such"), usize::MAX);
    }
}
