//! The SQLite connections behind [`super::SqliteStore`]: one writer thread with group commit,
//! reader connections used directly on the calling thread, the migration runner, and the row
//! helpers the queries use.
//!
//! Why no async driver: every statement through an async SQLite driver is a hop to a worker
//! thread and back (a channel send and a wake-up each). SQLite itself answers a point read or an
//! insert in microseconds, so those hops were most of the cost of a request. Here a write is one
//! hop (to the writer thread, which runs the whole job) and a read is none.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::types::{FromSql, ValueRef};
use rusqlite::{Connection, OpenFlags, Params, Row};
use sha2::{Digest, Sha384};

use crate::{StoreError, StoreResult};

/// Most writes committed together in one transaction (one fsync).
const MAX_BATCH: usize = 512;

/// Writes committed between two checkpoint requests. The writer's automatic checkpoint is off
/// (it ran inside a commit and held every caller of that batch); a checkpoint thread copies the
/// WAL back into the database instead. Small and frequent checkpoints measured best: each one's
/// writes to the database file slow the WAL syncs running meanwhile, and small ones less
/// (session 4, create payout at 2,000/s: every 100 writes p99 ≈ 12 ms; 400: 14–17 ms; 1,000:
/// 19 ms).
const CHECKPOINT_EVERY: usize = 100;

/// Batches between two checkpoint requests, at least: under a heavy load, where a batch holds
/// tens of writes, a checkpoint every [`CHECKPOINT_EVERY`] writes would run after every other
/// batch and copy the same hot pages each time (session 7, create payout at 128 connections:
/// checkpoint thread 13.9 – 15.7 → 10.4 – 11.6 µs of CPU per create; at a fixed 2,000/s, where a
/// batch holds one or two writes, nothing changes).
const CHECKPOINT_MIN_BATCHES: usize = 8;

/// Writes after which the writer copies the rest of the WAL itself when the checkpoint thread has
/// not caught up (under a write load without pauses, or when that thread gets no CPU): the bound
/// on the WAL's growth (about 40 MB of WAL for create payout).
const CHECKPOINT_BEHIND: usize = 1_000;

/// Most passes of the checkpoint thread per request (see [`checkpoint_loop`]).
const CHECKPOINT_PASSES: usize = 4;

/// How long a connection waits for a lock held by another process (e.g. `omno admin`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection (the store has about a hundred distinct ones).
const STATEMENT_CACHE: usize = 256;

/// One queued write. [`Job::run`] executes it inside the batch transaction under its own
/// savepoint and says whether to keep its changes; [`Job::deliver`] answers the caller once the
/// batch's fate is known (`Err` if the batch did not commit).
pub(super) trait Job: Send {
    /// Runs the write; `true` keeps its changes.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether the write runs under its own savepoint (see [`Engine::write_unguarded`]).
    fn guarded(&self) -> bool;
    /// Answers the caller.
    fn deliver(self: Box<Self>, outcome: Result<(), &str>);
}

/// A write job built from a closure (see [`Engine::write`]).
struct WriteJob<F, T> {
    f: Option<F>,
    result: Option<StoreResult<T>>,
    tx: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

/// Records a write's result; `true` when its changes are to be kept.
fn record<T>(slot: &mut Option<StoreResult<T>>, r: StoreResult<(bool, T)>) -> bool {
    match r {
        Ok((keep, value)) => {
            *slot = Some(Ok(value));
            keep
        }
        Err(e) => {
            *slot = Some(Err(e));
            false
        }
    }
}

/// Answers a caller once its batch's fate is known.
fn answer<T>(
    result: Option<StoreResult<T>>,
    outcome: Result<(), &str>,
    tx: tokio::sync::oneshot::Sender<StoreResult<T>>,
) {
    let answer = match (result, outcome) {
        // A failed write reports its own error, whatever happened to the batch.
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(v)), Ok(())) => Ok(v),
        (Some(Ok(_)), Err(e)) => Err(StoreError::Batch(e.to_string())),
        (None, _) => Err(StoreError::Batch("the write did not run".into())),
    };
    let _ = tx.send(answer);
}

impl<F, T> Job for WriteJob<F, T>
where
    F: FnOnce(&Connection) -> StoreResult<(bool, T)> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        match self.f.take() {
            Some(f) => record(&mut self.result, f(conn)),
            None => false,
        }
    }

    fn guarded(&self) -> bool {
        true
    }

    fn deliver(self: Box<Self>, outcome: Result<(), &str>) {
        let this = *self;
        answer(this.result, outcome, this.tx);
    }
}

/// An unguarded write (see [`Engine::write_unguarded`]): it may run again when an earlier
/// neighbour's failure rolls back the run of unguarded writes it belongs to.
struct RerunJob<F, T> {
    f: F,
    result: Option<StoreResult<T>>,
    tx: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for RerunJob<F, T>
where
    F: FnMut(&Connection) -> StoreResult<(bool, T)> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        record(&mut self.result, (self.f)(conn))
    }

    fn guarded(&self) -> bool {
        false
    }

    fn deliver(self: Box<Self>, outcome: Result<(), &str>) {
        let this = *self;
        answer(this.result, outcome, this.tx);
    }
}

/// What the writer thread is asked to do.
enum Msg {
    /// A write, batched with its neighbours.
    Job(Box<dyn Job>),
    /// Work outside any batch transaction (migrations).
    Raw(Box<dyn FnOnce(&Connection) + Send>),
    /// Finish the queued writes, close the connection and answer.
    Close(tokio::sync::oneshot::Sender<()>),
    /// From the sync thread: a sync ended, the open batch may commit.
    Synced,
}

/// The connections of one database file.
pub(super) struct Engine {
    path: String,
    jobs: mpsc::Sender<Msg>,
    readers: Arc<Readers>,
    closed: AtomicBool,
    durability: Arc<Durability>,
}

/// How far commits and syncs have got, in batches. The writer commits a batch without waiting
/// for the disk and hands it to the sync thread, which makes the WAL durable (`fdatasync`) for
/// everything committed so far and only then answers the batch's callers — so the writer runs
/// the next batch while the previous one syncs, and a caller's success still means durable.
/// Readers can see a committed batch before it is durable; [`Engine::settled`] makes a read
/// wait until everything it may have seen is durable, so no answer ever shows a write that a
/// crash could still take back.
struct Durability {
    /// Batches whose `COMMIT` has started (counted before the commit, so a reader that sees a
    /// batch's rows also sees its number).
    committing: AtomicU64,
    /// Batches settled: synced to disk, or failed.
    settled: AtomicU64,
    /// Wakes readers waiting for `settled`.
    changed: tokio::sync::watch::Sender<u64>,
}

/// The reader connections, each with the read transaction it may keep open between reads, and
/// the engine's own descriptors of the database files.
struct Readers {
    slots: Box<[Mutex<Option<Reader>>]>,
    /// Declared after `slots`, so dropped after them; and every other connection of the engine
    /// (writer, checkpoint) closes before its holder lets go of this struct.
    files: HeldFiles,
}

/// The descriptors of the database and `-shm` files that omno opens itself, next to SQLite's
/// own: the checkpoint thread syncs the database file through one, readers read the WAL-index
/// header through the other. Closing *any* descriptor of a file drops every POSIX lock the
/// process holds on it, SQLite's included — the database file's shared lock that keeps another
/// process closing its last connection from deleting the WAL under this one, the `-shm` file's
/// locks that tell another process opening the database that the WAL index is in use. So both
/// are opened once, with the engine, and closed only after all of its connections.
struct HeldFiles {
    db: std::fs::File,
    /// `None` if it cannot be opened: readers then take a read transaction per read.
    shm: Option<std::fs::File>,
}

impl HeldFiles {
    /// Makes the database file's pages durable (what checkpoints copied into it so far).
    fn sync_database(&self) -> std::io::Result<()> {
        self.db.sync_data()
    }
}

impl Readers {
    /// Ends the read transactions of the idle readers, so that they hold back no checkpoint.
    /// A reader busy right now ends its own after its read if a write committed meanwhile.
    fn release_idle(&self) {
        for slot in self.slots.iter() {
            if let Ok(mut guard) = slot.try_lock()
                && let Some(reader) = guard.as_mut()
            {
                reader.release();
            }
        }
    }
}

/// Page cache of a reader connection, in KiB (see [`Reader::open`]).
const READER_CACHE_KIB: u32 = 8_000;

/// Size of the WAL-index header, stored twice at the start of the `-shm` file (the second copy
/// written first by a commit, <https://www.sqlite.org/walformat.html>).
const WAL_INDEX_HEADER: usize = 48;

/// A reader connection. Starting a read transaction costs more than a point read itself (file
/// locks on the database and the `-shm` file, taken and dropped with `fcntl` each time, under
/// SQLite's process-wide mutexes), so a reader keeps its read transaction open between reads for
/// as long as no transaction committed: it compares the WAL-index header — which every commit of
/// any connection in any process rewrites — with the one it read just before the transaction
/// began, and starts over when they differ. A read therefore still sees every write committed
/// before it started, from this process or another.
struct Reader {
    conn: Connection,
    /// The WAL-index header read just before the open read transaction began.
    snapshot: Option<[u8; WAL_INDEX_HEADER]>,
    /// [`Durability::committing`] when it began.
    began_at: u64,
}

impl Reader {
    fn open(path: &str) -> StoreResult<Self> {
        let conn = connect(path)?;
        // SQLite's default page cache (2 MB) holds ~1,000 payouts of ~1.7 KB: once the database
        // outgrew it, a get read ~4.7 pages from the OS (`pread`) instead of ~0. Filled on demand,
        // so an idle server does not pay for it.
        conn.pragma_update(None, "cache_size", -i64::from(READER_CACHE_KIB))?;
        Ok(Self {
            conn,
            snapshot: None,
            began_at: 0,
        })
    }

    /// The current WAL-index header, `None` when unreadable or being rewritten (its two copies
    /// differ).
    fn header(shm: Option<&std::fs::File>) -> Option<[u8; WAL_INDEX_HEADER]> {
        use std::os::unix::fs::FileExt;
        let mut both = [0u8; 2 * WAL_INDEX_HEADER];
        shm?.read_exact_at(&mut both, 0).ok()?;
        let (a, b) = both.split_at(WAL_INDEX_HEADER);
        // Byte 12 is `isInit`.
        if a != b || a[12] == 0 {
            return None;
        }
        a.try_into().ok()
    }

    /// Makes sure the next statement runs in a read transaction that sees every commit so far:
    /// keeps the open one when nothing committed since it began, else starts a new one (the
    /// snapshot is taken by the first statement, after the header was read).
    fn snapshot_for_read(&mut self, shm: Option<&std::fs::File>, seq: u64) {
        let now = Self::header(shm);
        if self.snapshot.is_some() && self.snapshot == now {
            return;
        }
        self.release();
        if let Some(h) = now
            && step(&self.conn, "begin").is_ok()
        {
            self.snapshot = Some(h);
            self.began_at = seq;
        }
    }

    /// Ends the open read transaction, if any.
    fn release(&mut self) {
        if self.snapshot.take().is_some() && step(&self.conn, "commit").is_err() {
            let _ = self.conn.execute_batch("rollback");
        }
    }
}

/// Opens a connection with the store's settings.
fn connect(path: &str) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "pragma synchronous = full; pragma foreign_keys = on; pragma temp_store = memory;",
    )?;
    Ok(conn)
}

impl Engine {
    /// Opens the database file (creating it), switches it to WAL and starts the writer thread.
    /// Reader connections open lazily, up to `readers` of them.
    pub(super) fn open(path: &str, readers: usize) -> StoreResult<Arc<Self>> {
        let writer = connect(path)?;
        let mode: String = writer.query_row("pragma journal_mode = wal", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Batch(format!(
                "could not switch {path} to WAL (journal mode {mode})"
            )));
        }
        // The commit does not wait for the disk: the sync thread does (see [`Durability`]).
        writer.execute_batch("pragma wal_autocheckpoint = 0; pragma synchronous = normal")?;
        // A first read creates the `-shm` file, if it did not exist.
        writer.query_row("select count(*) from sqlite_master", [], |_| Ok(()))?;
        let files = HeldFiles {
            db: std::fs::File::open(path)
                .map_err(|e| StoreError::Batch(format!("cannot open {path}: {e}")))?,
            shm: std::fs::File::open(format!("{path}-shm")).ok(),
        };
        let checkpoints = connect(path)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let readers = Arc::new(Readers {
            slots: (0..readers.max(2)).map(|_| Mutex::new(None)).collect(),
            files,
        });
        let to_release = readers.clone();
        let checkpointer = std::thread::Builder::new()
            .name("omno-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoints, woken, &to_release))
            .map_err(|e| StoreError::Batch(format!("cannot start the sqlite checkpointer: {e}")))?;
        let durability = Arc::new(Durability {
            committing: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            changed: tokio::sync::watch::Sender::new(0),
        });
        let (to_sync, committed) = mpsc::channel();
        let (jobs, rx) = mpsc::channel();
        let wal = WalFile::new(format!("{path}-wal"));
        let synced = durability.clone();
        let to_writer = jobs.clone();
        let syncer = std::thread::Builder::new()
            .name("omno-sqlite-sync".into())
            .spawn(move || sync_loop(wal, committed, to_writer, &synced))
            .map_err(|e| StoreError::Batch(format!("cannot start the sqlite sync thread: {e}")))?;
        let writer_side = Writer {
            conn: writer,
            durability: durability.clone(),
            to_sync,
            syncer,
            wake,
            checkpointer,
            wal: WalFile::new(format!("{path}-wal")),
            readers: readers.clone(),
        };
        std::thread::Builder::new()
            .name("omno-sqlite-writer".into())
            .spawn(move || writer_loop(writer_side, rx))
            .map_err(|e| StoreError::Batch(format!("cannot start the sqlite writer: {e}")))?;
        Ok(Arc::new(Self {
            path: path.to_string(),
            jobs,
            readers,
            closed: AtomicBool::new(false),
            durability,
        }))
    }

    /// Waits until every batch committed so far is durable (see [`Durability`]). Call it after
    /// a read and before answering with what it returned. Returns at once when nothing is in
    /// flight, which is always the case without concurrent writes.
    pub(super) async fn settled(&self) {
        let d = &self.durability;
        let seen = d.committing.load(Ordering::SeqCst);
        if d.settled.load(Ordering::SeqCst) >= seen {
            return;
        }
        let mut rx = d.changed.subscribe();
        let _ = rx.wait_for(|settled| *settled >= seen).await;
    }

    /// Queues a write for the writer thread (group commit, see [`writer_loop`]). `f` runs inside
    /// the batch transaction and decides whether to keep its changes by returning
    /// `(keep, value)`; the value arrives only after the batch is durable. Cancellation-safe: the
    /// write runs on the writer thread whether or not the caller still waits.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<(bool, T)> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue(Box::new(WriteJob {
            f: Some(f),
            result: None,
            tx,
        }))?;
        Self::answered(rx).await
    }

    /// [`Engine::write`] for hot inserts, without a savepoint of its own. A savepoint per write
    /// makes SQLite copy every page the write touches that an earlier write of the batch
    /// already changed (the last page of each table and index: most of what a create touches)
    /// into its sub-journal; that copying was the largest single cost of a create on the
    /// writer thread. Consecutive unguarded writes share one savepoint instead, so each page is
    /// copied once per run of them. If one fails (an error, or `keep == false`), the run rolls
    /// back to that savepoint and its other writes run again — which is why `f` is `FnMut` and
    /// must do nothing but its statements — so a failure still affects only its own write.
    pub(super) async fn write_unguarded<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<(bool, T)> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue(Box::new(RerunJob {
            f,
            result: None,
            tx,
        }))?;
        Self::answered(rx).await
    }

    fn queue(&self, job: Box<dyn Job>) -> StoreResult<()> {
        self.jobs
            .send(Msg::Job(job))
            .map_err(|_| StoreError::Batch("the writer has stopped".into()))
    }

    async fn answered<T>(rx: tokio::sync::oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
        rx.await
            .map_err(|_| StoreError::Batch("the writer dropped the write".into()))?
    }

    /// Runs `f` on the writer connection outside any batch (between two batches).
    pub(super) async fn raw<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Msg::Raw(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .map_err(|_| StoreError::Batch("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Batch("the writer dropped the work".into()))?
    }

    /// Runs a read on the calling thread with the first free reader connection (SQLite point
    /// reads take microseconds, so this does not hold up the async runtime; a hop to another
    /// thread would cost more than the read). WAL: it sees every committed write.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        for slot in self.readers.slots.iter() {
            match slot.try_lock() {
                Ok(mut guard) => return self.run_read(&mut guard, f),
                Err(TryLockError::Poisoned(p)) => return self.run_read(&mut p.into_inner(), f),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // All busy (more concurrent reads than connections): wait for one.
        let slot = &self.readers.slots[0];
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        self.run_read(&mut guard, f)
    }

    fn run_read<T>(
        &self,
        slot: &mut Option<Reader>,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Batch("the database is closed".into()));
        }
        let reader = match slot {
            Some(r) => r,
            None => slot.insert(Reader::open(&self.path)?),
        };
        let seq = self.durability.committing.load(Ordering::SeqCst);
        reader.snapshot_for_read(self.readers.files.shm.as_ref(), seq);
        let out = f(&reader.conn);
        if out.is_err() || self.durability.committing.load(Ordering::SeqCst) != reader.began_at {
            // A write of this process committed meanwhile: the snapshot is out of date, and an
            // idle one would hold back the checkpoints.
            reader.release();
        }
        out
    }

    /// Closes the reader connections, then lets the writer finish what is queued and close its
    /// connection (the last connection to close checkpoints the WAL).
    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for slot in self.readers.slots.iter() {
            let reader = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            drop(reader);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.jobs.send(Msg::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for Engine {
    /// Stops the writer (and with it the sync and checkpoint threads) when the engine goes away
    /// without [`Engine::close`]: the sync thread's handle on the writer's queue would keep it
    /// waiting otherwise. A no-op after `close`.
    fn drop(&mut self) {
        let (tx, _) = tokio::sync::oneshot::channel();
        let _ = self.jobs.send(Msg::Close(tx));
    }
}

/// Runs one cached statement without parameters (transaction control).
fn step(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// What the writer thread owns.
struct Writer {
    conn: Connection,
    durability: Arc<Durability>,
    /// Committed (or failed) batches on their way to the sync thread.
    to_sync: mpsc::Sender<Settle>,
    syncer: std::thread::JoinHandle<()>,
    /// Asks the checkpoint thread for a checkpoint.
    wake: mpsc::SyncSender<()>,
    checkpointer: std::thread::JoinHandle<()>,
    /// The WAL file, read for its restart counter.
    wal: WalFile,
    /// The reader connections, whose idle read transactions the writer's checkpoint ends.
    readers: Arc<Readers>,
}

/// One batch for the sync thread: its number, its callers and how its commit went.
struct Settle {
    seq: u64,
    jobs: Vec<Box<dyn Job>>,
    outcome: Result<(), String>,
}

/// Copies the WAL back into the database file when the writer asks (`PASSIVE`: it never blocks
/// the writer or readers). A pass copies the frames the WAL held when it started — SQLite then
/// reports the WAL fully copied even when the writer appended more meanwhile — so the thread runs
/// passes until one finds nothing new to copy (each later pass copies only what the writer
/// appended during the one before, quickly), up to [`CHECKPOINT_PASSES`]. Once the whole WAL is
/// copied, the database file is synced (this connection keeps `synchronous = full`) and the
/// writer's next transaction starts the WAL over. When writes never paused long enough, the
/// database file is synced anyway, so that the writer's own final pass, if the WAL grows too long
/// ([`CHECKPOINT_BEHIND`]), has little left to sync. Ends when the writer drops its sender.
fn checkpoint_loop(conn: Connection, woken: mpsc::Receiver<()>, readers: &Readers) {
    while woken.recv().is_ok() {
        readers.release_idle();
        let mut copied = false;
        let mut last = None;
        for _ in 0..CHECKPOINT_PASSES {
            match wal_checkpoint(&conn) {
                Ok(Some(frames)) if last == Some(frames) => {
                    copied = true;
                    break;
                }
                Ok(frames) => last = frames,
                Err(e) => {
                    tracing::warn!(error = %e, "sqlite checkpoint failed");
                    break;
                }
            }
        }
        if !copied && let Err(e) = readers.files.sync_database() {
            tracing::warn!(error = %e, "sqlite: syncing the database file failed");
        }
    }
}

/// One `PASSIVE` checkpoint: the frames of the WAL as this pass saw it when they are now all
/// copied, `None` when some are not (another checkpoint ran, or a reader still needed them).
fn wal_checkpoint(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("pragma wal_checkpoint(passive)", [], |r| {
        let (busy, log, copied) = (
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        );
        Ok((busy == 0 && log == copied).then_some(log))
    })
}

/// The writer's part of a checkpoint (see [`checkpoint_loop`]): copies what was appended since
/// the checkpoint thread's passes, with the WAL synced first and the database after, so its next
/// transaction starts the WAL over (unless the checkpoint thread held the checkpoint lock; the
/// writer then tries again after its next batch).
fn finish_checkpoint(conn: &Connection) {
    let full = conn
        .execute_batch("pragma synchronous = full")
        .and_then(|()| wal_checkpoint(conn));
    let normal = conn.execute_batch("pragma synchronous = normal");
    if let Err(e) = full.and(normal) {
        tracing::warn!(error = %e, "sqlite checkpoint failed");
    }
}

/// The WAL file, opened for `fdatasync` (any descriptor of the file syncs its pages) and to
/// read its header. Reopened if the file was replaced (it is not while this process keeps its
/// connections open).
struct WalFile {
    path: String,
    file: Option<(std::fs::File, u64)>,
}

impl WalFile {
    fn new(path: String) -> Self {
        Self { path, file: None }
    }

    fn open(&mut self) -> std::io::Result<&std::fs::File> {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(&self.path)?.ino();
        let file = match self.file.take() {
            Some((f, i)) if i == ino => f,
            _ => std::fs::File::open(&self.path)?,
        };
        Ok(&self.file.insert((file, ino)).0)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.open()?.sync_data()
    }

    /// The WAL header's checkpoint sequence number (bytes 12..16), which SQLite bumps each time
    /// it starts the WAL over; `None` before the WAL exists.
    fn restarts(&mut self) -> Option<u32> {
        use std::os::unix::fs::FileExt;
        let mut seq = [0u8; 4];
        self.open().ok()?.read_exact_at(&mut seq, 12).ok()?;
        Some(u32::from_be_bytes(seq))
    }
}

/// The sync thread: takes every batch committed meanwhile, makes the WAL durable once for all
/// of them, then answers their callers. Ends when the writer drops its sender.
fn sync_loop(
    mut wal: WalFile,
    committed: mpsc::Receiver<Settle>,
    writer: mpsc::Sender<Msg>,
    d: &Durability,
) {
    let mut group = Vec::new();
    while let Ok(first) = committed.recv() {
        group.push(first);
        while let Ok(more) = committed.try_recv() {
            group.push(more);
        }
        let synced = if group.iter().any(|s| s.outcome.is_ok()) {
            wal.sync().map_err(|e| {
                tracing::error!(error = %e, "sqlite: syncing the WAL failed");
                format!("syncing the WAL failed: {e}")
            })
        } else {
            Ok(())
        };
        // Settled before the callers hear back (a caller that reads right after its write
        // does not wait), and even when the sync failed: readers must not wait forever; the
        // writes of a failed sync are answered with an error below.
        let last = group.iter().map(|s| s.seq).max().unwrap_or(0);
        d.settled.store(last, Ordering::SeqCst);
        d.changed.send_replace(last);
        // The writer commits its open batch now (this thread is free for it).
        let _ = writer.send(Msg::Synced);
        for s in group.drain(..) {
            let outcome = s.outcome.and_then(|()| synced.clone());
            for job in s.jobs {
                job.deliver(outcome.as_ref().map(|_| ()).map_err(String::as_str));
            }
        }
    }
}

/// The single writer. A write runs as soon as it arrives, under a savepoint inside the open batch
/// transaction (`BEGIN IMMEDIATE`; a failed or declined write rolls back only itself). The batch
/// commits, without waiting for the disk, as soon as the sync thread is idle — while it syncs
/// the previous batch, arriving writes join the open one — and goes to the sync thread, which
/// answers the callers once the commit is durable: a caller's success always means its write is
/// durable. Committing only when the sync thread can take the batch costs a write no time (its
/// batch could not be synced earlier) and makes batches as large as the disk requires: each
/// commit rewrites the last page of every table and index it touched, so many small commits
/// would multiply the bytes every sync has to write.
fn writer_loop(mut w: Writer, rx: mpsc::Receiver<Msg>) {
    let mut batch = Batch::default();
    let mut closing = None;
    let mut since_checkpoint = 0;
    let mut batches_since_checkpoint = 0;
    // Writes since the WAL last started over.
    let mut since_restart = 0;
    let mut restarts = None;
    // The last batch handed to the sync thread.
    let mut last_seq = 0;
    'outer: while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(j) => {
                    if batch.jobs.is_empty() && since_restart >= CHECKPOINT_BEHIND {
                        // The checkpoint thread copies the WAL whenever writes pause; if it
                        // never catches up (writes never pause long enough, or a starved
                        // core), copy the rest here rather than let the WAL grow without
                        // bound — it holds the writes behind it for the syncs, so it is the
                        // exception. The next batch then starts the WAL over.
                        w.readers.release_idle();
                        finish_checkpoint(&w.conn);
                    }
                    batch.run(&w.conn, j);
                }
                Msg::Synced => {}
                Msg::Raw(f) => {
                    // Keep the order: commit what ran before, then this. Raw work (the
                    // migrations) commits itself, so it syncs at commit.
                    last_seq = commit_batch(&w, &mut batch).unwrap_or(last_seq);
                    let conn = &w.conn;
                    let _ = conn.execute_batch("pragma synchronous = full");
                    if std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))).is_err() {
                        tracing::error!("sqlite writer: raw work panicked");
                    }
                    let _ = conn.execute_batch("pragma synchronous = normal");
                }
                Msg::Close(tx) => {
                    closing = Some(tx);
                    commit_batch(&w, &mut batch);
                    break 'outer;
                }
            }
            if batch.jobs.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // (A sync thread that ended cannot send `Synced`; the commit then answers with its error.)
        let sync_idle =
            w.durability.settled.load(Ordering::SeqCst) >= last_seq || w.syncer.is_finished();
        if batch.jobs.is_empty() || !(sync_idle || batch.jobs.len() >= MAX_BATCH) {
            // Nothing to commit, or the sync thread is busy: its `Synced` wakes this loop.
            continue;
        }
        let committed = batch.committable();
        let Some(seq) = commit_batch(&w, &mut batch) else {
            continue;
        };
        last_seq = seq;
        since_checkpoint += committed;
        batches_since_checkpoint += 1;
        since_restart += committed;
        let now = w.wal.restarts();
        if now != restarts {
            restarts = now;
            since_restart = committed;
        }
        if since_checkpoint >= CHECKPOINT_EVERY
            && batches_since_checkpoint >= CHECKPOINT_MIN_BATCHES
        {
            // Full means a request is already pending: nothing lost.
            let _ = w.wake.try_send(());
            since_checkpoint = 0;
            batches_since_checkpoint = 0;
        }
    }
    let Writer {
        conn,
        to_sync,
        syncer,
        wake,
        checkpointer,
        ..
    } = w;
    drop(to_sync);
    let _ = syncer.join();
    drop(wake);
    let _ = checkpointer.join();
    drop(conn);
    if let Some(tx) = closing {
        let _ = tx.send(());
    }
}

/// The open batch: the writes run so far in its transaction, the error that broke it (the
/// transaction could not start, or a savepoint failed: the whole batch then fails), and the open
/// run of unguarded writes.
#[derive(Default)]
struct Batch {
    jobs: Vec<Box<dyn Job>>,
    broken: Option<String>,
    /// While savepoint `u` is open: the positions in `jobs` of the unguarded writes run since,
    /// whose changes are kept.
    run: Option<Vec<usize>>,
}

impl Batch {
    /// Runs one write in the open batch (starting it if needed): a guarded write under its own
    /// savepoint, an unguarded one in the run of unguarded writes (see
    /// [`Engine::write_unguarded`]).
    fn run(&mut self, conn: &Connection, mut job: Box<dyn Job>) {
        if self.jobs.is_empty()
            && let Err(e) = step(conn, "begin immediate")
        {
            tracing::error!(error = %e, "sqlite writer could not start a batch");
            self.broken = Some(e.to_string());
        }
        if self.broken.is_some() {
            self.jobs.push(job);
            return;
        }
        if !job.guarded() {
            if self.run.is_none() {
                if let Err(e) = step(conn, "savepoint u") {
                    self.broken = Some(e.to_string());
                    self.jobs.push(job);
                    return;
                }
                self.run = Some(Vec::new());
            }
            let keep = run_job(conn, &mut job);
            let at = self.jobs.len();
            self.jobs.push(job);
            if !keep {
                self.replay(conn);
            } else if let Some(kept) = &mut self.run {
                kept.push(at);
            }
            return;
        }
        self.end_run(conn);
        if self.broken.is_none() {
            self.broken = match step(conn, "savepoint w") {
                Ok(()) => {
                    let keep = run_job(conn, &mut job);
                    let res = if keep {
                        step(conn, "release w")
                    } else {
                        step(conn, "rollback to w").and_then(|()| step(conn, "release w"))
                    };
                    res.err().map(|e| e.to_string())
                }
                Err(e) => Some(e.to_string()),
            };
        }
        self.jobs.push(job);
    }

    /// After an unguarded write failed: rolls the run back to its savepoint and runs its kept
    /// writes again, in order, until all of them succeed (one that fails now is dropped from
    /// the run and keeps its error, and the rest run again).
    fn replay(&mut self, conn: &Connection) {
        let Some(mut pending) = self.run.take() else {
            return;
        };
        'again: loop {
            if let Err(e) = step(conn, "rollback to u") {
                self.broken = Some(e.to_string());
                return;
            }
            let mut kept = Vec::with_capacity(pending.len());
            for (n, &at) in pending.iter().enumerate() {
                if run_job(conn, &mut self.jobs[at]) {
                    kept.push(at);
                } else {
                    kept.extend_from_slice(&pending[n + 1..]);
                    pending = kept;
                    continue 'again;
                }
            }
            self.run = Some(kept);
            return;
        }
    }

    /// Closes the open run of unguarded writes, keeping their changes.
    fn end_run(&mut self, conn: &Connection) {
        if self.run.take().is_some()
            && let Err(e) = step(conn, "release u")
        {
            self.broken = Some(e.to_string());
        }
    }

    /// The writes a commit of this batch would make durable.
    fn committable(&self) -> usize {
        if self.broken.is_some() {
            0
        } else {
            self.jobs.len()
        }
    }
}

/// Runs a write, a panic counting as a failure.
fn run_job(conn: &Connection, job: &mut Box<dyn Job>) -> bool {
    std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or(false)
}

/// Commits the open batch (or rolls it back when it broke) and hands it to the sync thread;
/// returns its sequence number, `None` when there was no batch.
fn commit_batch(w: &Writer, batch: &mut Batch) -> Option<u64> {
    if batch.jobs.is_empty() {
        return None;
    }
    let conn = &w.conn;
    // `commit` (or `rollback`) ends the run's savepoint with the transaction.
    batch.run = None;
    // Counted before the commit: a read that may see this batch waits for its sync.
    let seq = w.durability.committing.fetch_add(1, Ordering::SeqCst) + 1;
    let outcome = match batch.broken.take() {
        Some(e) => {
            if !conn.is_autocommit() {
                let _ = step(conn, "rollback");
            }
            Err(e)
        }
        None => step(conn, "commit").map_err(|e| {
            if !conn.is_autocommit() {
                let _ = step(conn, "rollback");
            }
            e.to_string()
        }),
    };
    match &outcome {
        Ok(()) => tracing::trace!(jobs = batch.jobs.len(), "sqlite write batch committed"),
        Err(e) => tracing::error!(error = %e, "sqlite write batch failed"),
    }
    let settle = Settle {
        seq,
        jobs: std::mem::take(&mut batch.jobs),
        outcome,
    };
    if let Err(mpsc::SendError(s)) = w.to_sync.send(settle) {
        // The sync thread is gone (it only ends after the writer): answer here.
        for job in s.jobs {
            job.deliver(Err("the sqlite sync thread has stopped"));
        }
    }
    Some(seq)
}

// --- migrations ---

/// One embedded migration, recorded in `_sqlx_migrations` exactly as sqlx's migrator did
/// (databases created by earlier versions keep working, and the reverse).
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// The migrations of `migrations/sqlite/`, in order (append-only, see R20).
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        description: "webhooks",
        sql: include_str!("../../migrations/sqlite/0002_webhooks.sql"),
    },
    Migration {
        version: 3,
        description: "routing",
        sql: include_str!("../../migrations/sqlite/0003_routing.sql"),
    },
    Migration {
        version: 4,
        description: "payins",
        sql: include_str!("../../migrations/sqlite/0004_payins.sql"),
    },
    Migration {
        version: 5,
        description: "cashier",
        sql: include_str!("../../migrations/sqlite/0005_cashier.sql"),
    },
];

/// Number of embedded migrations.
pub(super) fn migration_count() -> usize {
    MIGRATIONS.len()
}

fn migration_error(msg: String) -> StoreError {
    StoreError::Migration(msg)
}

/// Applies pending migrations on `conn` (the writer's, outside any batch), each in its own
/// transaction with its bookkeeping row; refuses a dirty, unknown or edited migration.
pub(super) fn run_migrations(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);",
    )?;
    let dirty: Option<i64> = opt(
        conn,
        "select version from _sqlx_migrations where success = false order by version limit 1",
        [],
        |r| r.try_get(0),
    )?;
    if let Some(v) = dirty {
        return Err(migration_error(format!(
            "migration {v} is partially applied; fix and remove the migration row"
        )));
    }
    let applied: Vec<(i64, Vec<u8>)> = all(
        conn,
        "select version, checksum from _sqlx_migrations order by version",
        [],
        |r| Ok((r.try_get(0)?, r.try_get(1)?)),
    )?;
    for (version, _) in &applied {
        if !MIGRATIONS.iter().any(|m| m.version == *version) {
            return Err(migration_error(format!(
                "migration {version} was previously applied but is missing in the resolved migrations"
            )));
        }
    }
    for m in MIGRATIONS {
        let checksum = Sha384::digest(m.sql.as_bytes()).to_vec();
        if let Some((_, stored)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *stored != checksum {
                return Err(migration_error(format!(
                    "migration {} was previously applied but has been modified",
                    m.version
                )));
            }
            continue;
        }
        let start = Instant::now();
        conn.execute_batch("begin immediate")?;
        let applied = conn.execute_batch(m.sql).and_then(|()| {
            conn.execute(
                "insert into _sqlx_migrations (version, description, success, checksum, \
                 execution_time) values (?1, ?2, true, ?3, -1)",
                rusqlite::params![m.version, m.description, checksum],
            )
        });
        match applied {
            Ok(_) => conn.execute_batch("commit")?,
            Err(e) => {
                let _ = conn.execute_batch("rollback");
                return Err(migration_error(format!(
                    "while executing migration {}: {e}",
                    m.version
                )));
            }
        }
        let elapsed = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        conn.execute(
            "update _sqlx_migrations set execution_time = ?1 where version = ?2",
            rusqlite::params![elapsed, m.version],
        )?;
    }
    Ok(())
}

// --- statements and rows ---

/// Logs a statement at `trace` (the SQL text only, never a bound value), as the sqlx-based store
/// logged every statement; disabled, it costs one atomic load.
fn trace_statement(sql: &str, rows: usize) {
    tracing::trace!(target: "omno_store::sqlite", rows, "sqlite: {sql}");
}

/// Rows changed by a statement.
pub(super) struct Done(u64);

impl Done {
    /// Number of rows inserted, updated or deleted.
    pub(super) fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// Runs one cached statement.
pub(super) fn exec<P: Params>(conn: &Connection, sql: &str, params: P) -> StoreResult<Done> {
    let n = conn.prepare_cached(sql)?.execute(params)?;
    trace_statement(sql, n);
    Ok(Done(n as u64))
}

/// The first row of a cached query, mapped, if any.
pub(super) fn opt<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(params)?;
    let row = match rows.next()? {
        Some(r) => f(r).map(Some),
        None => Ok(None),
    };
    trace_statement(sql, usize::from(matches!(row, Ok(Some(_)))));
    row
}

/// The first row of a cached query, mapped; an error if there is none.
pub(super) fn one<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    opt(conn, sql, params, f)?.ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// Every row of a cached query, mapped.
pub(super) fn all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    mut f: impl FnMut(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    trace_statement(sql, out.len());
    Ok(out)
}

/// A column value as the row mappers read it (text borrowed from the row where possible).
pub(super) trait Col<'r>: Sized {
    /// Converts the value.
    fn col(v: ValueRef<'r>) -> StoreResult<Self>;
}

impl<'r> Col<'r> for &'r str {
    fn col(v: ValueRef<'r>) -> StoreResult<Self> {
        v.as_str().map_err(|_| StoreError::Corrupt("text column"))
    }
}

impl<'r> Col<'r> for Option<&'r str> {
    fn col(v: ValueRef<'r>) -> StoreResult<Self> {
        match v {
            ValueRef::Null => Ok(None),
            v => v
                .as_str()
                .map(Some)
                .map_err(|_| StoreError::Corrupt("text column")),
        }
    }
}

macro_rules! owned_col {
    ($($t:ty),*) => {$(
        impl<'r> Col<'r> for $t {
            fn col(v: ValueRef<'r>) -> StoreResult<Self> {
                <$t as FromSql>::column_result(v).map_err(|_| StoreError::Corrupt(stringify!($t)))
            }
        }
    )*};
}

owned_col!(
    String,
    Option<String>,
    i64,
    Option<i64>,
    bool,
    Vec<u8>,
    Option<Vec<u8>>
);

/// Typed column access by name or index.
pub(super) trait RowExt {
    /// The column converted to `T`.
    fn try_get<'r, T: Col<'r>, I: ColIndex>(&'r self, idx: I) -> StoreResult<T>;
}

impl RowExt for Row<'_> {
    fn try_get<'r, T: Col<'r>, I: ColIndex>(&'r self, idx: I) -> StoreResult<T> {
        T::col(self.get_ref(idx.index(self)?)?)
    }
}

/// A column by position or by name.
pub(super) trait ColIndex {
    /// The column's position in `row`.
    fn index(&self, row: &Row<'_>) -> StoreResult<usize>;
}

impl ColIndex for usize {
    fn index(&self, _: &Row<'_>) -> StoreResult<usize> {
        Ok(*self)
    }
}

thread_local! {
    /// Where the next by-name lookup starts: one past the column found last.
    static NEXT_COLUMN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ColIndex for &str {
    /// Row mappers read columns mostly in select-list order, so the scan starts one past the
    /// column found last (on this thread) and usually matches at once; rusqlite's own lookup
    /// scans from the first column every time, which dominated reading a wide row.
    fn index(&self, row: &Row<'_>) -> StoreResult<usize> {
        let stmt = row.as_ref();
        let n = stmt.column_count();
        let start = NEXT_COLUMN.get();
        for k in 0..n {
            let i = (start + k) % n;
            if stmt.column_name(i)?.eq_ignore_ascii_case(self) {
                NEXT_COLUMN.set(i + 1);
                return Ok(i);
            }
        }
        Err(rusqlite::Error::InvalidColumnName((*self).to_string()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine on a new database file with one table created by `schema`.
    async fn engine_with(schema: &'static str) -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().join("t.db").to_str().unwrap(), 2).unwrap();
        engine
            .raw(move |c| {
                c.execute_batch(schema)?;
                Ok(())
            })
            .await
            .unwrap();
        (dir, engine)
    }

    /// Writes one row through the writer: `sql` with `v` as its one parameter, kept.
    async fn insert(engine: &Engine, sql: &'static str, v: i64) -> StoreResult<()> {
        engine
            .write(move |c| {
                exec(c, sql, [v])?;
                Ok((true, ()))
            })
            .await
    }

    fn fresh() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(dir.path().join("t.db").to_str().unwrap()).unwrap();
        (dir, conn)
    }

    #[test]
    fn migrations_are_recorded_as_sqlx_did_and_run_once() {
        let (_dir, conn) = fresh();
        run_migrations(&conn).unwrap();
        run_migrations(&conn).unwrap();
        let rows: Vec<(i64, String, bool, Vec<u8>, i64)> = all(
            &conn,
            "select version, description, success, checksum, execution_time \
             from _sqlx_migrations order by version",
            [],
            |r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            },
        )
        .unwrap();
        assert_eq!(rows.len(), MIGRATIONS.len());
        for (row, m) in rows.iter().zip(MIGRATIONS) {
            assert_eq!(row.0, m.version);
            assert_eq!(row.1, m.description);
            assert!(row.2);
            assert_eq!(row.3, Sha384::digest(m.sql.as_bytes()).to_vec());
            assert!(row.4 >= 0, "execution time is filled in");
        }
    }

    #[test]
    fn migration_names_match_the_files() {
        // sqlx derived version and description from the file name: NNNN_desc_words.sql.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "embed every migration file");
        for (f, m) in files.iter().zip(MIGRATIONS) {
            let (num, desc) = f.trim_end_matches(".sql").split_once('_').unwrap();
            assert_eq!(num.parse::<i64>().unwrap(), m.version);
            assert_eq!(desc.replace('_', " "), m.description);
        }
    }

    #[test]
    fn edited_dirty_or_unknown_migrations_are_refused() {
        let (_dir, conn) = fresh();
        run_migrations(&conn).unwrap();
        conn.execute(
            "update _sqlx_migrations set checksum = x'00' where version = 2",
            [],
        )
        .unwrap();
        assert!(matches!(
            run_migrations(&conn),
            Err(StoreError::Migration(m)) if m.contains("modified")
        ));
        conn.execute("delete from _sqlx_migrations where version = 2", [])
            .unwrap();
        conn.execute(
            "insert into _sqlx_migrations (version, description, success, checksum, \
             execution_time) values (99, 'future', true, x'00', 0)",
            [],
        )
        .unwrap();
        assert!(matches!(
            run_migrations(&conn),
            Err(StoreError::Migration(m)) if m.contains("missing")
        ));
        conn.execute(
            "update _sqlx_migrations set success = false where version = 99",
            [],
        )
        .unwrap();
        assert!(matches!(
            run_migrations(&conn),
            Err(StoreError::Migration(m)) if m.contains("partially")
        ));
    }

    #[tokio::test]
    async fn a_declined_write_rolls_back_only_itself() {
        let (dir, engine) = engine_with("create table t (v integer primary key)").await;
        let ins = |v: i64, keep: bool| {
            let e = engine.clone();
            async move {
                e.write(move |c| {
                    exec(c, "insert into t (v) values (?1)", [v])?;
                    Ok((keep, v))
                })
                .await
            }
        };
        let dup = {
            let e = engine.clone();
            async move {
                e.write(|c| {
                    exec(c, "insert into t (v) values (1)", [])?;
                    Ok((true, ()))
                })
                .await
            }
        };
        let (a, b, c, d) = tokio::join!(ins(1, true), ins(2, false), ins(3, true), dup);
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
        assert!(matches!(d, Err(StoreError::Sqlite(_))), "{d:?}");
        let rows: Vec<i64> = engine
            .read(|c| all(c, "select v from t order by v", [], |r| r.try_get(0)))
            .unwrap();
        assert_eq!(rows, [1, 3]);
        engine.close().await;
        assert!(engine.read(|_| Ok(())).is_err(), "closed");
        assert!(
            !dir.path().join("t.db-wal").exists(),
            "WAL checkpointed on close"
        );
    }

    /// Unguarded writes share one savepoint per run: a failing one (an error after a change, or
    /// a declined write) is undone alone — the run rolls back and the writes before it in the
    /// run are redone — so every other write commits, guarded or not, and nothing partial does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_unguarded_write_fails_alone() {
        let (_dir, engine) = engine_with("create table t (v integer primary key)").await;
        // A row every failing write collides with, whatever order the writes arrive in.
        engine
            .write(|c| exec(c, "insert into t (v) values (-1)", []).map(|_| (true, ())))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for v in 0..90_i64 {
            let e = engine.clone();
            tasks.push(tokio::spawn(async move {
                let r = match v {
                    // Changes a row, then fails: the change must not survive.
                    30 | 61 => {
                        e.write_unguarded(move |c| {
                            exec(c, "insert into t (v) values (?1)", [1000 + v])?;
                            exec(c, "insert into t (v) values (-1)", [])?;
                            Ok((true, ()))
                        })
                        .await
                    }
                    // Declines its own change.
                    45 => {
                        e.write_unguarded(move |c| {
                            exec(c, "insert into t (v) values (?1)", [v])?;
                            Ok((false, ()))
                        })
                        .await
                    }
                    v if v % 4 == 0 => {
                        e.write(move |c| {
                            exec(c, "insert into t (v) values (?1)", [v]).map(|_| (true, ()))
                        })
                        .await
                    }
                    v => {
                        e.write_unguarded(move |c| {
                            exec(c, "insert into t (v) values (?1)", [v]).map(|_| (true, ()))
                        })
                        .await
                    }
                };
                (v, r)
            }));
        }
        let mut expected = vec![-1];
        for t in tasks {
            let (v, r) = t.await.unwrap();
            match v {
                30 | 61 => assert!(r.is_err(), "the failing write reports its error"),
                45 => assert!(r.is_ok(), "a declined write is answered, not failed"),
                v => {
                    assert!(r.is_ok(), "write {v}: {r:?}");
                    expected.push(v);
                }
            }
        }
        let rows: Vec<i64> = engine
            .read(|c| all(c, "select v from t order by v", [], |r| r.try_get(0)))
            .unwrap();
        assert_eq!(
            rows, expected,
            "every other write committed, nothing partial"
        );
        engine.close().await;
    }

    /// The WAL is copied back and started over while writes keep coming (checkpoints off the
    /// commit path must still let it restart, or it grows without bound), and every answered
    /// write is in the database after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_continuous_writes() {
        let (dir, engine) =
            engine_with("create table t (v integer primary key, pad blob not null)").await;
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let mut largest = 0;
        // 80 rounds of 100 concurrent 4 KiB writes: about 32 MiB through the WAL.
        for round in 0..80i64 {
            let mut writes = tokio::task::JoinSet::new();
            for i in 0..100i64 {
                let e = engine.clone();
                writes.spawn(async move {
                    insert(
                        &e,
                        "insert into t (v, pad) values (?1, zeroblob(4096))",
                        round * 100 + i,
                    )
                    .await
                });
            }
            while let Some(r) = writes.join_next().await {
                r.unwrap().unwrap();
            }
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        // Each restart bumps the checkpoint sequence number in the WAL header (bytes 12..16,
        // big-endian); without restarts the WAL would also hold everything written (> 32 MiB).
        let header = std::fs::read(&wal).unwrap();
        let restarts = u32::from_be_bytes(header[12..16].try_into().unwrap());
        assert!(
            restarts >= 2 && largest < 32 << 20,
            "the WAL restarted {restarts} times (largest {largest} bytes for ~32 MiB written)"
        );
        engine.close().await;
        let engine = Engine::open(path.to_str().unwrap(), 2).unwrap();
        let n: i64 = engine
            .read(|c| one(c, "select count(*) from t", [], |r| r.try_get(0)))
            .unwrap();
        assert_eq!(n, 8000);
        engine.close().await;
    }

    /// When writes pause, the checkpoint thread copies the whole WAL and the next write starts
    /// it over — the writer does not have to copy it itself (which holds a batch).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_after_a_pause_without_the_writer_copying_it() {
        wal_starts_over_after_pauses(false).await;
    }

    /// An idle reader's open read transaction does not hold back the checkpoints: the WAL is
    /// still copied back and started over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_reader_holds_back_no_checkpoint() {
        wal_starts_over_after_pauses(true).await;
    }

    /// Three rounds of writes, each followed by a pause: the WAL must start over in each; with
    /// `read_first`, each round begins with a read that leaves its transaction open.
    async fn wal_starts_over_after_pauses(read_first: bool) {
        let (dir, engine) =
            engine_with("create table t (v integer primary key, pad blob not null)").await;
        let wal = dir.path().join("t.db-wal");
        let restarts = || {
            let header = std::fs::read(&wal).unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        };
        let write = |v: i64| {
            let e = engine.clone();
            async move {
                insert(&e, "insert into t (v, pad) values (?1, zeroblob(4096))", v)
                    .await
                    .unwrap()
            }
        };
        for round in 0..3i64 {
            let before = restarts();
            if read_first {
                engine
                    .read(|c| one(c, "select count(*) from t", [], |r| r.try_get::<i64, _>(0)))
                    .unwrap();
            }
            // Enough writes to wake the checkpoint thread, far fewer than make the writer copy.
            for i in 0..CHECKPOINT_EVERY as i64 {
                write(round * 1000 + i).await;
            }
            std::thread::sleep(Duration::from_millis(300));
            write(round * 1000 + 999).await;
            assert!(
                restarts() > before,
                "round {round}: the WAL did not start over"
            );
        }
        engine.close().await;
    }

    /// Another process opening and closing the database while the engine runs (`omno admin`,
    /// the `sqlite3` shell) must not find itself its last user: its close would then copy the
    /// WAL back and delete it under the engine, whose later commits would go to the deleted
    /// file. The engine's own descriptors must never drop its connections' locks (closing any
    /// descriptor of a file drops all of the process's locks on it), including when the
    /// checkpoint thread syncs the database file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_process_closing_the_database_leaves_the_wal_in_place() {
        let (dir, engine) = engine_with("create table t (v integer primary key)").await;
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let add = |v: i64| insert(&engine, "insert into t (v) values (?1)", v);
        add(1).await.unwrap();
        let count = || {
            engine
                .read(|c| one(c, "select count(*) from t", [], |r| r.try_get::<i64, _>(0)))
                .unwrap()
        };
        assert_eq!(count(), 1);
        engine.readers.files.sync_database().unwrap();
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1])\n\
                 print(c.execute('select count(*) from t').fetchone()[0])\n\
                 c.close()",
                path.to_str().unwrap(),
            ])
            .output()
            .expect("python3 runs the other process");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
        assert!(wal.exists(), "the other process deleted the WAL");
        add(2)
            .await
            .expect("a write after the other process closed");
        assert_eq!(count(), 2);
        engine.close().await;
        let engine = Engine::open(path.to_str().unwrap(), 2).unwrap();
        let n: i64 = engine
            .read(|c| one(c, "select count(*) from t", [], |r| r.try_get(0)))
            .unwrap();
        assert_eq!(n, 2, "every answered write survives a reopen");
        engine.close().await;
    }

    /// A reader keeps its read transaction open while nothing commits, yet every read sees
    /// each write committed before it started: this process's, and another connection's (as
    /// from another process, e.g. `omno admin`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reused_read_transactions_still_see_every_commit() {
        let (dir, engine) = engine_with("create table t (v integer primary key)").await;
        let count = || {
            engine
                .read(|c| one(c, "select count(*) from t", [], |r| r.try_get::<i64, _>(0)))
                .unwrap()
        };
        let open = |engine: &Engine| {
            engine.readers.slots.iter().any(|s| {
                s.lock()
                    .unwrap()
                    .as_ref()
                    .is_some_and(|r| r.snapshot.is_some() && !r.conn.is_autocommit())
            })
        };
        assert_eq!(count(), 0);
        assert!(open(&engine), "the read transaction stays open");
        let other = connect(dir.path().join("t.db").to_str().unwrap()).unwrap();
        for v in 1..=3i64 {
            exec(&other, "insert into t (v) values (?1)", [v * 10]).unwrap();
            assert_eq!(count(), v * 2 - 1, "another connection's commit is seen");
            insert(&engine, "insert into t (v) values (?1)", v * 10 + 1)
                .await
                .unwrap();
            assert_eq!(count(), v * 2, "this process's commit is seen");
        }
        assert_eq!(count(), 6);
        assert!(open(&engine));
        drop(other);
        engine.close().await;
    }

    /// A read waits until every batch committed before it ended is durable; with nothing in
    /// flight it returns at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_settle_after_the_writes_they_may_have_seen() {
        let (_dir, engine) = engine_with("create table t (v integer primary key)").await;
        let d = &engine.durability;
        tokio::time::timeout(Duration::from_secs(1), engine.settled())
            .await
            .expect("nothing in flight: no wait");
        let writer = {
            let e = engine.clone();
            tokio::spawn(async move {
                for v in 0..200i64 {
                    insert(&e, "insert into t (v) values (?1)", v)
                        .await
                        .unwrap();
                }
            })
        };
        for _ in 0..200 {
            let _ =
                engine.read(|c| one(c, "select count(*) from t", [], |r| r.try_get::<i64, _>(0)));
            let seen = d.committing.load(Ordering::SeqCst);
            tokio::time::timeout(Duration::from_secs(5), engine.settled())
                .await
                .expect("settles");
            assert!(d.settled.load(Ordering::SeqCst) >= seen);
        }
        writer.await.unwrap();
        assert_eq!(
            d.settled.load(Ordering::SeqCst),
            d.committing.load(Ordering::SeqCst),
            "every batch settled"
        );
        engine.close().await;
    }
}
