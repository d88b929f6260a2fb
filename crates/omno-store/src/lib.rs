//! Storage of omno behind one trait, [`Store`].
//!
//! Methods are coarse: each is one database transaction that carries everything a request or a
//! job must commit together (the status change, its history, its outbox events and the stored
//! `Idempotency-Key` response). Status changes are compare-and-set on the aggregate's `version`,
//! so racing writers — on one node or many — cannot both win. Handlers never see SQL; a
//! PostgreSQL implementation ([`postgres::PgStore`]) sits beside [`sqlite::SqliteStore`] without
//! touching them.
//!
//! # Layout
//! - this file: the [`Store`] trait, the records it stores and [`StoreError`].
//! - [`sqlite`]: the embedded SQLite implementation (rusqlite; WAL, one writer thread with group
//!   commit, reads on the calling thread, migrations).
//! - [`postgres`]: the PostgreSQL implementation for many nodes on one database.
//! - [`testing`]: fresh PostgreSQL databases for the test suites (`OMNO_TEST_PG_URL`).
//! - `migrations/{sqlite,postgres}/`: append-only schema migrations, same numbers in both,
//!   embedded in the binary.

use async_trait::async_trait;
use std::collections::BTreeMap;

use omno_domain::cashier::{CashierKind, CashierSession};
use omno_domain::ids::{
    ApiKeyId, CardId, ClientId, CustomerId, DeliveryId, EndpointId, EventId, MerchantId, PayinId,
    PayoutId, RouterId,
};
use omno_domain::money::Currency;
use omno_domain::payin::Payin;
use omno_domain::payout::Payout;
use omno_domain::psp::PspAccount;
use time::OffsetDateTime;

pub mod postgres;
pub mod sqlite;
pub mod testing;

/// Infrastructure failure; callers turn it into an opaque 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// SQLite migrations failed.
    #[error("migration error: {0}")]
    Migration(String),
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// A unique constraint was violated.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The batch this write was part of failed to commit.
    #[error("write batch failed: {0}")]
    Batch(String),
    /// An unsupported database URL.
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// A merchant account.
#[derive(Debug, Clone, PartialEq)]
pub struct MerchantRecord {
    /// Id.
    pub id: MerchantId,
    /// Display name.
    pub name: String,
    /// `test` or `live`.
    pub mode: String,
    /// Disabled merchants cannot authenticate.
    pub active: bool,
    /// Currencies accepted in requests.
    pub enabled_currencies: Vec<Currency>,
    /// Whether payouts wait for confirm/reject.
    pub payout_confirmation_required: bool,
    /// Router used when a request names none.
    pub default_router_id: Option<RouterId>,
    /// Origins allowed to frame hosted pages.
    pub allowed_frame_origins: Vec<String>,
    /// The webhook signing secret, encrypted with the vault key.
    pub webhook_secret_enc: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A static API key (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Id.
    pub id: ApiKeyId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Optional label.
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the key.
    pub key_hash: String,
    /// `sk_test_` or `sk_live_`.
    pub prefix: String,
    /// Last four characters, for display.
    pub last4: String,
    /// Issued by `omno demo` (revoked and re-issued on every demo start).
    pub demo: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

/// An OAuth2 client credential (only the secret's hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// `client_id`.
    pub client_id: ClientId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Optional label.
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Issued by `omno demo`.
    pub demo: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Revocation time.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A stored 2xx response (idempotent replay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes as sent.
    pub body: String,
}

/// An `Idempotency-Key` record to commit with a request's effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemWrite {
    /// `merchant:<id>` or `admin`.
    pub scope: String,
    /// The header value.
    pub key: String,
    /// SHA-256 hex of method + path + canonical body.
    pub fingerprint: String,
    /// The response to replay.
    pub response: StoredResponse,
    /// First use.
    pub created_at: OffsetDateTime,
    /// Keys first used before this (`idempotency.retention_secs` ago) are free again.
    pub not_before: OffsetDateTime,
}

/// What a stored `Idempotency-Key` says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemCheck {
    /// Unknown (or expired) key: run the request.
    Fresh,
    /// Same request seen: replay this response.
    Replay(StoredResponse),
    /// The key was used for a different request (→ 422).
    Mismatch,
}

/// A webhook outbox event, written in the transaction of the change it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `X-Omno-Event-Id`.
    pub id: EventId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// `PAYIN` or `PAYOUT`.
    pub kind: &'static str,
    /// Transaction id (32 hex).
    pub transaction_id: String,
    /// `PAYOUT_STATUS_CHANGED` / `PAYIN_STATUS_CHANGED`.
    pub event_type: &'static str,
    /// The status announced.
    pub status: String,
    /// The transaction object right after the change, compact JSON.
    pub body: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Where to deliver it; one delivery row each, written in the same transaction.
    pub targets: Vec<DeliveryTarget>,
}

impl NewEvent {
    /// Whether any of `events` has a delivery target (otherwise the delivery worker has nothing
    /// new to send).
    pub fn any_delivery(events: &[NewEvent]) -> bool {
        events.iter().any(|e| !e.targets.is_empty())
    }
}

/// One webhook target of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    /// The merchant endpoint, or `None` for the transaction's own `webhook.url`.
    pub endpoint_id: Option<EndpointId>,
    /// Target URL.
    pub url: String,
}

/// A merchant webhook endpoint (§13.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    /// Id.
    pub id: EndpointId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Target URL.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Disabled endpoints get no new deliveries.
    pub enabled: bool,
    /// Subscribed event types.
    pub event_types: Vec<String>,
    /// Only events announcing these statuses; empty = all.
    pub statuses: Vec<String>,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Signing secret, encrypted with the vault key.
    pub secret_enc: Vec<u8>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A delivery of one event to one target (§13.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Id.
    pub id: DeliveryId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// The event (`X-Omno-Event-Id`).
    pub event_id: EventId,
    /// Event type.
    pub event_type: String,
    /// Transaction announced.
    pub transaction_id: String,
    /// Endpoint, `None` for a per-transaction URL.
    pub endpoint_id: Option<EndpointId>,
    /// Target URL.
    pub url: String,
    /// `PENDING`, `DELIVERED` or `DEAD`.
    pub status: String,
    /// Attempts made so far.
    pub attempt_count: i64,
    /// Next attempt, while pending.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Last attempt.
    pub last_attempt_at: Option<OffsetDateTime>,
    /// Start of the current retry window.
    pub window_start: OffsetDateTime,
    /// Attempt count when the current schedule started (redelivery restarts it).
    pub retry_from: i64,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// One delivery attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub attempt: i64,
    /// When.
    pub at: OffsetDateTime,
    /// HTTP status, if a response came.
    pub http_status: Option<i64>,
    /// Latency.
    pub latency_ms: i64,
    /// Transport error (`timeout`, `connection refused`, `ssrf_blocked`, …).
    pub error: Option<String>,
    /// First 1024 bytes of the response body.
    pub response_snippet: Option<String>,
}

/// A claimed delivery and the body to send.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// The delivery.
    pub delivery: DeliveryRecord,
    /// The event body (identical on every attempt).
    pub body: String,
}

/// A router as stored: rules and fallback targets are the server's JSON (storage form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterRecord {
    /// Id.
    pub id: RouterId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// Name.
    pub name: String,
    /// Rules and fallback targets, JSON.
    pub body: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// An FX rate as stored (the rate is its exact decimal text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxRateRecord {
    /// Owner.
    pub merchant_id: MerchantId,
    /// Base currency code.
    pub base: String,
    /// Quote currency code.
    pub quote: String,
    /// 1 base = rate quote, exact decimal text.
    pub rate: String,
    /// Markup in basis points.
    pub markup_bps: i64,
    /// Where the rate came from.
    pub source: String,
    /// When it was set.
    pub updated_at: OffsetDateTime,
}

/// Filters of the transaction search (admin).
#[derive(Debug, Clone, Default)]
pub struct PayoutFilter {
    /// Merchant.
    pub merchant_id: Option<MerchantId>,
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// Merchant reference.
    pub order_id: Option<String>,
    /// Customer.
    pub customer_id: Option<CustomerId>,
    /// Merchant's customer id.
    pub external_user_id: Option<String>,
    /// Executed currency.
    pub currency: Option<String>,
    /// Processor account.
    pub psp_account_id: Option<String>,
    /// Created at or after.
    pub created_from: Option<OffsetDateTime>,
    /// Created before.
    pub created_to: Option<OffsetDateTime>,
}

/// Filters of the delivery list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Merchant.
    pub merchant_id: Option<MerchantId>,
    /// Status.
    pub status: Option<String>,
    /// Transaction.
    pub transaction_id: Option<String>,
    /// Event.
    pub event_id: Option<EventId>,
    /// Endpoint.
    pub endpoint_id: Option<EndpointId>,
}

/// Stored outbox event (read side; delivery comes with the webhook worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Id.
    pub id: EventId,
    /// Type.
    pub event_type: String,
    /// Status announced.
    pub status: String,
    /// Body.
    pub body: String,
}

/// Creation bookkeeping stored with a new payout.
#[derive(Debug, Clone)]
pub struct CreateMeta {
    /// SHA-256 hex of the canonical body (orderId replay rule).
    pub order_fingerprint: String,
    /// The exact response body, replayed byte-identically for an equivalent repeat.
    pub response: String,
    /// `Idempotency-Key` to honour and store, if sent.
    pub idem: Option<IdemWrite>,
    /// `idempotency.retention_secs`: older keys are free again.
    pub idem_not_before: OffsetDateTime,
}

/// Outcome of [`Store::create_payout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Inserted and committed.
    Created,
    /// Same `Idempotency-Key`, same request: replay.
    IdemReplay(StoredResponse),
    /// Same `Idempotency-Key`, different request (→ 422).
    IdemMismatch,
    /// Same `orderId`, equivalent body: replay the original response.
    OrderReplay(String),
    /// Same `orderId`, different body (→ 409).
    DuplicateOrderId,
}

/// What happens to the encrypted destination PAN of a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanUpdate {
    /// Leave as stored (cleared automatically once the payout is final).
    Keep,
    /// Store this ciphertext.
    Set(Vec<u8>),
    /// Remove.
    Clear,
}

/// Everything a payout change commits together.
#[derive(Debug, Clone)]
pub struct PayoutWrite<'a> {
    /// The payout after the change.
    pub payout: &'a Payout,
    /// The version the change was computed from (compare-and-set).
    pub expected_version: i64,
    /// Outbox events announcing the change.
    pub events: Vec<NewEvent>,
    /// `Idempotency-Key` record of the request, if any.
    pub idem: Option<IdemWrite>,
    /// Destination PAN ciphertext.
    pub pan: PanUpdate,
    /// Release the worker lease held by this owner.
    pub release_lease_of: Option<&'a str>,
}

/// Outcome of [`Store::save_payout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Committed; the payout now has `expected_version + 1`.
    Saved,
    /// Another writer changed the payout first: reload and decide again.
    VersionConflict,
    /// Another request committed the same `Idempotency-Key` first: check it again.
    IdemTaken,
}

/// A saved card: the PAN only encrypted, looked up by (merchant, customer, card hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCardRecord {
    /// `cardId`.
    pub id: CardId,
    /// Owner.
    pub merchant_id: MerchantId,
    /// The customer it was saved for.
    pub customer_id: CustomerId,
    /// Keyed HMAC of the PAN.
    pub card_hash: String,
    /// `411111******1111`.
    pub mask: String,
    /// Brand.
    pub brand: String,
    /// Expiry month.
    pub exp_month: u8,
    /// Expiry year (four digits).
    pub exp_year: u16,
    /// AES-256-GCM ciphertext of the PAN digits.
    pub pan_enc: Vec<u8>,
    /// First saved.
    pub created_at: OffsetDateTime,
}

/// Everything a payin change commits together.
#[derive(Debug, Clone)]
pub struct PayinWrite<'a> {
    /// The payin after the change.
    pub payin: &'a Payin,
    /// The version the change was computed from (compare-and-set).
    pub expected_version: i64,
    /// Outbox events announcing the change.
    pub events: Vec<NewEvent>,
    /// `Idempotency-Key` record of the request, if any.
    pub idem: Option<IdemWrite>,
    /// PAN ciphertext held while a card to save awaits its outcome (cleared once final).
    pub pan: PanUpdate,
    /// Card to vault with this change: inserted, or matched to the existing card of the same
    /// (merchant, customer, hash), whose id must equal `id` (else the write is a conflict).
    pub save_card: Option<SavedCardRecord>,
    /// Release the worker lease held by this owner.
    pub release_lease_of: Option<&'a str>,
}

/// A transaction created by the cashier (§11.2), with the session change it implies.
#[derive(Debug, Clone)]
pub enum CashierTx<'a> {
    /// A deposit: the payin.
    Deposit(&'a Payin),
    /// A withdrawal: the payout and the amount taken from the balance (minor units).
    Withdraw(&'a Payout, i64),
}

/// Everything a cashier transaction commits together: the session's number (and, for a
/// withdrawal, its balance) and the new transaction with its event.
#[derive(Debug, Clone)]
pub struct CashierWrite<'a> {
    /// The session.
    pub session_id: &'a str,
    /// The session's last number of this kind when the flow read it (compare-and-set).
    pub expected_seq: i64,
    /// The number used for this transaction's `orderId`.
    pub seq: i64,
    /// The transaction.
    pub tx: CashierTx<'a>,
    /// `orderId` bookkeeping of the transaction.
    pub meta: CreateMeta,
    /// Outbox events.
    pub events: Vec<NewEvent>,
    /// Now (the session must not have expired).
    pub now: OffsetDateTime,
}

impl CashierWrite<'_> {
    /// The kind of transaction.
    pub fn kind(&self) -> CashierKind {
        match self.tx {
            CashierTx::Deposit(_) => CashierKind::Deposit,
            CashierTx::Withdraw(..) => CashierKind::Withdraw,
        }
    }
}

/// Outcome of [`Store::cashier_transaction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashierOutcome {
    /// Committed.
    Created,
    /// The session does not exist or has expired.
    SessionGone,
    /// The session's number moved, or the `orderId` is taken: read again and retry.
    Conflict,
    /// The withdrawal exceeds the balance now.
    InsufficientBalance,
}

/// Outcome of [`Store::set_cashier_balance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceOutcome {
    /// Committed.
    Updated,
    /// Unknown session (or another merchant's).
    NotFound,
    /// The session has expired.
    Expired,
    /// Another request committed the same `Idempotency-Key` first.
    IdemTaken,
}

/// The storage boundary. One implementation per database; one contract suite for all.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap liveness query for `/ready`.
    async fn ping(&self) -> StoreResult<()>;

    /// A server setting (generated keys, demo bookkeeping).
    async fn get_setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the setting exists; returns the value in force.
    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<String>;
    /// Stores or replaces a setting.
    async fn put_setting(&self, name: &str, value: &str) -> StoreResult<()>;

    /// Inserts a merchant.
    async fn insert_merchant(&self, m: &MerchantRecord) -> StoreResult<()>;
    /// Reads a merchant.
    async fn get_merchant(&self, id: MerchantId) -> StoreResult<Option<MerchantRecord>>;
    /// Replaces a merchant's mutable fields.
    async fn update_merchant(&self, m: &MerchantRecord) -> StoreResult<()>;
    /// Every merchant, newest first.
    async fn list_merchants(&self) -> StoreResult<Vec<MerchantRecord>>;

    /// Inserts an API key.
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()>;
    /// Finds a key by hash (revoked ones included; the caller checks).
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Inserts a client credential.
    async fn insert_client(&self, c: &ClientRecord) -> StoreResult<()>;
    /// Reads a client credential.
    async fn get_client(&self, id: ClientId) -> StoreResult<Option<ClientRecord>>;
    /// Revokes every demo-issued API key and client secret of a merchant except the given ones.
    async fn revoke_demo_credentials(
        &self,
        merchant: MerchantId,
        keep_key: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Replaces the secret of a client (demo re-run, rotation).
    async fn set_client_secret(
        &self,
        id: ClientId,
        secret_hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Inserts a PSP account.
    async fn insert_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<()>;
    /// A merchant's PSP accounts in creation order.
    async fn list_psp_accounts(&self, merchant: MerchantId) -> StoreResult<Vec<PspAccount>>;

    /// The stable customer id for (merchant, externalUserId), created with `candidate` if new.
    async fn ensure_customer(
        &self,
        merchant: MerchantId,
        external_user_id: &str,
        candidate: CustomerId,
        now: OffsetDateTime,
    ) -> StoreResult<CustomerId>;

    /// Looks up an `Idempotency-Key` (keys created before `not_before` count as free).
    async fn check_idempotency(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        not_before: OffsetDateTime,
    ) -> StoreResult<IdemCheck>;
    /// Stores the response of a request that changed nothing (e.g. an idempotent confirm).
    /// Returns `false` when the key was taken meanwhile.
    async fn put_idempotency(
        &self,
        idem: &IdemWrite,
        not_before: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Creates a payout with its outbox event, honouring `Idempotency-Key` and `orderId` rules
    /// inside the same transaction (so concurrent duplicates serialize).
    async fn create_payout(
        &self,
        payout: &Payout,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome>;
    /// Reads a payout; with `merchant`, only if it belongs to that merchant.
    async fn get_payout(
        &self,
        merchant: Option<MerchantId>,
        id: PayoutId,
    ) -> StoreResult<Option<Payout>>;
    /// Persists a change computed from `expected_version` (compare-and-set).
    async fn save_payout(&self, w: PayoutWrite<'_>) -> StoreResult<SaveOutcome>;
    /// The encrypted destination PAN of a payout, if any.
    async fn payout_pan(&self, id: PayoutId) -> StoreResult<Option<Vec<u8>>>;
    /// Claims up to `limit` payouts whose `next_action_at` is due and whose lease is free,
    /// leasing them to `owner` until `lease_until`.
    async fn claim_due_payouts(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<PayoutId>>;
    /// Releases a lease without changing the payout (e.g. nothing to do).
    async fn release_payout_lease(&self, id: PayoutId, owner: &str) -> StoreResult<()>;

    /// Outbox events of a transaction, oldest first.
    async fn list_events(&self, transaction_id: &str) -> StoreResult<Vec<EventRecord>>;

    /// Inserts a webhook endpoint.
    async fn insert_endpoint(&self, e: &EndpointRecord) -> StoreResult<()>;
    /// A merchant's endpoints, oldest first.
    async fn list_endpoints(&self, merchant: MerchantId) -> StoreResult<Vec<EndpointRecord>>;
    /// One endpoint of a merchant.
    async fn get_endpoint(
        &self,
        merchant: MerchantId,
        id: EndpointId,
    ) -> StoreResult<Option<EndpointRecord>>;
    /// Replaces an endpoint's mutable fields; `false` if it does not exist.
    async fn update_endpoint(&self, e: &EndpointRecord) -> StoreResult<bool>;
    /// Deletes an endpoint; `false` if it did not exist.
    async fn delete_endpoint(&self, merchant: MerchantId, id: EndpointId) -> StoreResult<bool>;

    /// Claims due pending deliveries whose earlier deliveries to the same (transaction, URL) are
    /// finished (per-target order), leasing them to `owner`.
    async fn claim_due_deliveries(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records an attempt and the delivery's new state (`status`, `next_attempt_at`), releasing
    /// the lease, in one transaction.
    async fn finish_attempt(
        &self,
        id: DeliveryId,
        attempt: &AttemptRecord,
        status: &str,
        next_attempt_at: Option<OffsetDateTime>,
    ) -> StoreResult<()>;
    /// Deliveries, newest first, after the `(created_at, id)` cursor.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        after: Option<(OffsetDateTime, DeliveryId)>,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// One delivery with its attempts.
    async fn get_delivery(
        &self,
        id: DeliveryId,
    ) -> StoreResult<Option<(DeliveryRecord, Vec<AttemptRecord>)>>;
    /// Queues a delivery again now with a new retry window (same event id and body).
    async fn redeliver(
        &self,
        id: DeliveryId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<DeliveryRecord>>;
    /// Number of pending deliveries.
    async fn pending_deliveries(&self) -> StoreResult<i64>;

    /// Replaces a PSP account's mutable fields; `false` if it does not exist.
    async fn update_psp_account(&self, a: &PspAccount, now: OffsetDateTime) -> StoreResult<bool>;
    /// Deletes a PSP account; `false` if it did not exist.
    async fn delete_psp_account(
        &self,
        merchant: MerchantId,
        id: omno_domain::ids::PspAccountId,
    ) -> StoreResult<bool>;
    /// Creation and update times of a merchant's PSP accounts.
    async fn psp_account_times(
        &self,
        merchant: MerchantId,
    ) -> StoreResult<
        Vec<(
            omno_domain::ids::PspAccountId,
            OffsetDateTime,
            OffsetDateTime,
        )>,
    >;
    /// Inserts a router.
    async fn insert_router(&self, r: &RouterRecord) -> StoreResult<()>;
    /// A merchant's routers, oldest first.
    async fn list_routers(&self, merchant: MerchantId) -> StoreResult<Vec<RouterRecord>>;
    /// Replaces a router; `false` if it does not exist.
    async fn replace_router(&self, r: &RouterRecord) -> StoreResult<bool>;
    /// Deletes a router; `false` if it did not exist.
    async fn delete_router(&self, merchant: MerchantId, id: RouterId) -> StoreResult<bool>;
    /// Sets (inserts or replaces) an FX rate.
    async fn put_fx_rate(&self, r: &FxRateRecord) -> StoreResult<()>;
    /// A merchant's FX rates.
    async fn list_fx_rates(&self, merchant: MerchantId) -> StoreResult<Vec<FxRateRecord>>;
    /// Deletes an FX rate; `false` if it did not exist.
    async fn delete_fx_rate(
        &self,
        merchant: MerchantId,
        base: &str,
        quote: &str,
    ) -> StoreResult<bool>;
    /// Increments the configuration version every node's caches watch; returns the new value.
    async fn bump_config_version(&self) -> StoreResult<i64>;
    /// The configuration version.
    async fn config_version(&self) -> StoreResult<i64>;
    /// A merchant's client credentials, oldest first.
    async fn list_clients(&self, merchant: MerchantId) -> StoreResult<Vec<ClientRecord>>;
    /// Revokes a client credential; `false` if not found (or not the merchant's).
    async fn revoke_client(
        &self,
        merchant: MerchantId,
        id: ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// A merchant's API keys, oldest first.
    async fn list_api_keys(&self, merchant: MerchantId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes an API key; `false` if not found (or not the merchant's).
    async fn revoke_api_key(
        &self,
        merchant: MerchantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Payouts matching `filter`, newest first, after the `(created_at, id)` cursor.
    async fn search_payouts(
        &self,
        filter: &PayoutFilter,
        after: Option<(OffsetDateTime, PayoutId)>,
        limit: i64,
    ) -> StoreResult<Vec<Payout>>;

    // --- payins (issue 4) ---
    /// Creates a payin with its outbox event, under the same `Idempotency-Key` and `orderId`
    /// rules as [`Store::create_payout`] (payins and payouts have separate `orderId`s).
    async fn create_payin(
        &self,
        payin: &Payin,
        meta: &CreateMeta,
        events: &[NewEvent],
    ) -> StoreResult<CreateOutcome>;
    /// Reads a payin; with `merchant`, only if it belongs to that merchant.
    async fn get_payin(
        &self,
        merchant: Option<MerchantId>,
        id: PayinId,
    ) -> StoreResult<Option<Payin>>;
    /// Persists a change computed from `expected_version` (compare-and-set).
    async fn save_payin(&self, w: PayinWrite<'_>) -> StoreResult<SaveOutcome>;
    /// The encrypted PAN held on a payin (a card to save, awaiting 3DS), if any.
    async fn payin_pan(&self, id: PayinId) -> StoreResult<Option<Vec<u8>>>;
    /// Claims due payins (expiry, 3DS timeout, APM outcome, status sync), as for payouts.
    async fn claim_due_payins(
        &self,
        now: OffsetDateTime,
        owner: &str,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> StoreResult<Vec<PayinId>>;
    /// Releases a payin lease without changing it.
    async fn release_payin_lease(&self, id: PayinId, owner: &str) -> StoreResult<()>;
    /// The saved card of (merchant, customer) with this hash.
    async fn find_saved_card(
        &self,
        merchant: MerchantId,
        customer: CustomerId,
        card_hash: &str,
    ) -> StoreResult<Option<SavedCardRecord>>;
    /// A saved card of the merchant by id.
    async fn get_saved_card(
        &self,
        merchant: MerchantId,
        id: CardId,
    ) -> StoreResult<Option<SavedCardRecord>>;
    /// Payins matching `filter`, newest first, after the `(created_at, id)` cursor.
    async fn search_payins(
        &self,
        filter: &PayoutFilter,
        after: Option<(OffsetDateTime, PayinId)>,
        limit: i64,
    ) -> StoreResult<Vec<Payin>>;

    // --- cashier (issue 7) ---
    /// Stores a new cashier session (with the request's `Idempotency-Key` record, if any).
    async fn create_cashier_session(
        &self,
        session: &CashierSession,
        idem: Option<IdemWrite>,
    ) -> StoreResult<CreateOutcome>;
    /// Reads a session; with `merchant`, only if it belongs to that merchant.
    async fn get_cashier_session(
        &self,
        merchant: Option<MerchantId>,
        id: &str,
    ) -> StoreResult<Option<CashierSession>>;
    /// Sets (or, with `None`, only signals) the balance: `balance_version` + 1.
    async fn set_cashier_balance(
        &self,
        merchant: MerchantId,
        id: &str,
        balance: Option<i64>,
        now: OffsetDateTime,
        idem: Option<IdemWrite>,
    ) -> StoreResult<BalanceOutcome>;
    /// Creates a cashier deposit or withdrawal in one transaction with the session change.
    async fn cashier_transaction(&self, w: CashierWrite<'_>) -> StoreResult<CashierOutcome>;

    // --- metrics (issue 10) ---
    /// How many payouts wait for status sync (dispatch `SYNCING`): the `omno_sync_pending` gauge.
    async fn syncing_payouts(&self) -> StoreResult<i64>;
}

/// Milliseconds since the epoch, the storage form of every time.
pub fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Inverse of [`to_ms`].
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A store of either backend, chosen by the database URL (`sqlite://PATH` or `postgres://…`).
#[derive(Clone)]
pub enum AnyStore {
    /// Embedded SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL (many nodes).
    Postgres(postgres::PgStore),
}

impl AnyStore {
    /// Opens the database named by `url` with a pool of `max_connections`. Does not migrate.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        if postgres::is_postgres_url(url) {
            Ok(Self::Postgres(
                postgres::PgStore::open(url, max_connections).await?,
            ))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(
                sqlite::SqliteStore::open(url, max_connections).await?,
            ))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        }
    }

    /// Whether every embedded migration is applied.
    pub async fn migrations_applied(&self) -> StoreResult<bool> {
        match self {
            Self::Sqlite(s) => s.migrations_applied().await,
            Self::Postgres(s) => s.migrations_applied().await,
        }
    }

    /// Closes the connections (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.close().await,
        }
    }

    /// The store behind the trait, as the server holds it.
    pub fn shared(&self) -> std::sync::Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => std::sync::Arc::new(s.clone()),
            Self::Postgres(s) => std::sync::Arc::new(s.clone()),
        }
    }
}
