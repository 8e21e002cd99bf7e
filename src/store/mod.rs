//! The gateway's durable store: SQLite through rusqlite, one writer thread with group commit,
//! and a small pool of read-only connections.
//!
//! Place in the flow (DESIGN.md "How a command flows"): `smpp` writes every `deliver_sm` to the
//! [`inbox`] before answering it; complete MO messages are handed to `service` exactly once;
//! `service` writes its state changes and every outbound message ([`outbox`]) in one
//! transaction; `delivery` claims due outbox rows, records SMSC message ids and matches
//! delivery receipts. All of it goes through [`Store::write`] / [`Store::read`] with the pure
//! SQL functions of [`inbox`] and [`outbox`], which take a `Transaction` or `Connection` and
//! so also run inside a caller's larger transaction.
//!
//! # Writer and group commit
//! One thread owns the only write connection. Requests arrive on a bounded channel as boxed
//! closures; the thread takes every waiting request (up to [`StoreOptions::max_batch`]) and runs
//! them in ONE `BEGIN IMMEDIATE` transaction, each inside its own `SAVEPOINT`, so a request that
//! returns `Err` (or panics) rolls back only its own changes. Replies are sent only after the
//! `COMMIT` returned: an `Ok` from [`Store::write`] means the change is in the database file.
//! Under load many requests share one commit (see [`Stats::commits`]).
//!
//! A [`Store::before_each_batch`] step runs at the start of every such transaction, ahead of
//! its requests: small bookkeeping that should reach the file soon but does not deserve a
//! commit of its own rides on the next write that happens anyway (the gateway retires there
//! the inbox's dedup keys of MO whose answers the SMSC is known to have read).
//!
//! # Outbox counts
//! The writer keeps the outbox's rows per state as its requests change them (`tally`,
//! following savepoints and commits), for `/metrics`: [`outbox::counts_tracked`] answers from
//! there instead of counting the table at every scrape.
//!
//! # Checkpoints
//! WAL frames are copied back into the database file by a second thread (`store-checkpoint`,
//! its own connection, `PRAGMA wal_checkpoint(PASSIVE)` after commits, at most every
//! [`CHECKPOINT_EVERY`]), not by the writer at commit time: a checkpoint was a twentieth of the
//! writer's time, and the writer is the store's one serial resource. The writer keeps SQLite's
//! own automatic checkpoint as a backstop at [`WRITER_AUTOCHECKPOINT`] pages; by then the
//! background thread has copied nearly everything, so it is cheap, and it lets the WAL start
//! over from its beginning even under sustained load.
//!
//! # Durability
//! The database runs in WAL mode. With [`Durability::Normal`] (`synchronous=NORMAL`) a
//! committed transaction is in the WAL file when `write` returns, so it survives a crash or
//! `kill -9` of the process (our guarantee; tested in `tests/store.rs`); after an OS crash or
//! power loss the last transactions may roll back. [`Durability::Full`] (`synchronous=FULL`)
//! fsyncs the WAL at every commit and also survives power loss; group commit amortises the
//! fsync over the batch.
//!
//! # Portability
//! The interface is deliberately narrow (open, write, read, close, and the functions of
//! [`inbox`] and [`outbox`]) so that a PostgreSQL backend can replace it later (DESIGN.md "Scale
//! beyond one machine").

pub mod cancel;
pub mod inbox;
pub mod outbox;
pub mod pause;
pub mod retention;
pub mod schema;
pub(crate) mod tally;

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::histogram::{HistogramSnapshot, LatencyHistogram};

pub use schema::SCHEMA_VERSION;

/// Errors of the store. Every SQL failure names the operation it happened in.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holding the database could not be created.
    #[error("cannot create the store directory {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened or configured.
    #[error("cannot open SQLite database {path} ({op})")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite could open the database file only for reading (the file is read-only for this
    /// user, or on a read-only file system): the gateway stores every message before it answers
    /// it, so it does not start on a database it cannot write.
    #[error(
        "the SQLite database {path} can only be read, not written: make the file (and its \
         directory, where SQLite keeps the -wal and -shm files beside it) writable for this \
         user, or give the gateway another database (--db, or `db` in its config)"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// Another process held a lock on the database past the busy timeout while the store was
    /// opening it (an `sqlite3` shell with a transaction open, a backup tool).
    #[error(
        "the SQLite database {path} is locked by another process (an sqlite3 shell with a \
         transaction open?) and stayed locked past the busy timeout of {busy_timeout_ms} ms"
    )]
    LockedAtOpen {
        /// The database file.
        path: PathBuf,
        /// How long the store waited, ms.
        busy_timeout_ms: u128,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is another application's SQLite database: it has tables and no gateway
    /// schema version. The store changes nothing in it (not even its journal mode).
    #[error(
        "the SQLite database {path} holds another application's tables ({}) and no \
         presence-gw schema: is --db (or `db` in the config) pointing at the wrong file? \
         Nothing in it was changed",
        tables.join(", ")
    )]
    NotOurs {
        /// The database file.
        path: PathBuf,
        /// The first few of its tables.
        tables: Vec<String>,
    },
    /// `PRAGMA quick_check` found the database file damaged at open.
    #[error(
        "the SQLite database {path} is damaged ({}): restore the last backup \
         (`presence-gw backup` writes one) or salvage it with `sqlite3 {} .recover`; \
         the gateway does not run on a damaged database",
        problems.join("; "),
        path.display()
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The first problems SQLite reported.
        problems: Vec<String>,
    },
    /// SQLite refused WAL mode (e.g. an in-memory database).
    #[error("{path} is not in WAL mode (journal_mode={mode})")]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew {
        /// `user_version` found in the file.
        found: i64,
        /// [`SCHEMA_VERSION`] of this build.
        known: i64,
    },
    /// A database opened for inspection only was written by an older build: this build does
    /// not upgrade it from an inspection command.
    #[error(
        "database schema version {found} is older than this build's ({known}); the gateway of \
         this build upgrades it when it starts, or inspect it with the build that wrote it"
    )]
    SchemaTooOld {
        /// `user_version` found in the file.
        found: i64,
        /// [`SCHEMA_VERSION`] of this build.
        known: i64,
    },
    /// A migration failed; nothing of the migration run was applied.
    #[error("migration to schema version {version} failed")]
    Migration {
        /// The version the failing migration would have produced.
        version: usize,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// An SQL statement failed.
    #[error("SQL failed in {op}")]
    Sql {
        /// The operation (function name) that ran it.
        op: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The store was closed; the request was not run.
    #[error("the store is closed")]
    Closed,
    /// The write transaction could not begin (e.g. the file is locked by another process).
    #[error("could not begin the write transaction: {reason}")]
    Begin {
        /// SQLite's message.
        reason: String,
    },
    /// The batch's COMMIT failed or the batch was rolled back: this write was NOT saved.
    #[error("the write was not saved: {reason}")]
    NotCommitted {
        /// Why.
        reason: String,
    },
    /// A statement failed for a reason that will not pass (shared by several rows of one
    /// write, so kept as text).
    #[error("{op} failed: {reason}")]
    Failed {
        /// The operation.
        op: &'static str,
        /// SQLite's message.
        reason: String,
    },
    /// A backup could not be written or failed its check (see [`backup`]).
    #[error("backup to {path}: {reason}")]
    Backup {
        /// The target file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process serves this database: it holds the database's [`ServeLock`].
    #[error(
        "another gateway{} is serving the database {}: a second one would send the same \
         messages again; stop that one first, or give this one another database (--db, or \
         `db` in its config)",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        db.display()
    )]
    InUse {
        /// The database (absolute where it could be resolved).
        db: PathBuf,
        /// The process that holds the lock, as its lock file says (unknown while it is
        /// writing it).
        pid: Option<u32>,
    },
    /// The lock file beside the database could not be created or locked.
    #[error("cannot lock {path}{hint}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What to do about it, when the cause says (`: the folder ... must be writable`).
        hint: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A closure given to the store panicked; its changes were rolled back.
    #[error("a store closure panicked in {op}")]
    Panicked {
        /// `write` or `read`.
        op: &'static str,
    },
    /// The writer thread could not be started.
    #[error("cannot start the store writer thread")]
    Spawn(#[source] std::io::Error),
    /// A concatenated part whose numbers are impossible (3GPP TS 23.040 §9.2.3.24.1: seq in 1..=total).
    #[error("invalid concatenated part {seq}/{total}")]
    InvalidPart {
        /// Sequence number received.
        seq: u8,
        /// Total number of parts received.
        total: u8,
    },
    /// A row the request names does not exist.
    #[error("no {table} row with id {id}")]
    NotFound {
        /// The table.
        table: &'static str,
        /// The id asked for.
        id: i64,
    },
    /// A column held a value this build does not know (e.g. a state written by a newer build).
    #[error("unexpected value {value:?} in column {column}")]
    BadValue {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

impl StoreError {
    /// Whether the same write may succeed later: the database was locked by another process
    /// past the busy timeout, the disk was full, an I/O error, or the batch's transaction could
    /// not begin or commit. Not: a closed store, a panic, a constraint, bad data.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull, SystemIoFailure};
        match self {
            StoreError::Begin { .. } | StoreError::NotCommitted { .. } => true,
            StoreError::Sql { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure)
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sql { op: "sql", source }
    }
}

/// Attach an operation name to a rusqlite result.
pub(crate) trait Ctx<T> {
    /// Map the error to [`StoreError::Sql`] naming `op`.
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql { op, source })
    }
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Shortest time between two background checkpoints.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// WAL size (pages) at which the writer checkpoints itself (SQLite's default is 1000): the
/// backstop behind the background checkpointer.
pub const WRITER_AUTOCHECKPOINT: u32 = 8000;

/// Bytes a WAL file is cut back to when it starts over after a checkpoint
/// (`journal_size_limit`): a long reader (a backup's `VACUUM INTO`) can let the WAL grow,
/// and without a limit the file keeps that size until the gateway stops.
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// How hard a commit holds on to the disk (`PRAGMA synchronous`, WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a process crash or kill -9; may lose the last commits on
    /// power loss. The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: fsync at every commit; survives power loss too.
    Full,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Options of [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Commit durability (default [`Durability::Normal`]).
    pub durability: Durability,
    /// How long a connection waits for a lock held by another process (default 5 s).
    pub busy_timeout: Duration,
    /// Number of read-only connections (default 4, at least 1).
    pub read_connections: usize,
    /// Most requests run in one group-commit transaction (default 512, at least 1).
    pub max_batch: usize,
    /// Capacity of the bounded request channel (default 4096, at least 1).
    pub queue_capacity: usize,
    /// Page cache of the writer connection, KiB (default [`WRITER_CACHE_KIB`]; SQLite's own
    /// default is 2 MiB). Memory is taken only as pages are used.
    pub writer_cache_kib: u32,
    /// Read every page with `PRAGMA quick_check` at open and refuse a damaged database
    /// ([`StoreError::Damaged`]); default true. It costs about 0.6 s per 340 MB from the page
    /// cache (more from a cold disk after a reboot), so a gateway with a multi-GB database may
    /// turn it off (`[store] check_at_open = false`) to bind sooner after a restart, and the
    /// maintenance commands turn it off (a quick `outbox retry` does not read the whole file).
    pub check_at_open: bool,
}

/// Default page cache of the writer: 16 MiB. The writer touches the outbox's queued head, its
/// newest segments and receipts' lookups, the inbox's open parts and the status tables; past
/// SQLite's 2 MiB default those pages are read back from the OS (a syscall and a copy each).
///
/// Not more, because a bigger cache makes every commit dearer. When a b-tree split reorders
/// its new pages, SQLite renumbers one through the lock page (page 262,145 at 4 KiB pages) as
/// a scratch number (`balance_nonroot`). The page cache then holds a page past the end of the
/// database, and the commit's truncation (`pcache1TruncateUnsafe`) walks every cached page to
/// drop it. With 64 MiB cached that walk was 10 % of the gateway's CPU at a million outbox rows
/// (BENCHMARKS.md, session of 2026-12-06); at 16 MiB the writer's working set still fits.
pub const WRITER_CACHE_KIB: u32 = 16 * 1024;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            max_batch: 512,
            queue_capacity: 4096,
            writer_cache_kib: WRITER_CACHE_KIB,
            check_at_open: true,
        }
    }
}

/// Counters of the writer thread, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Transactions committed by the writer thread.
    pub commits: u64,
    /// Write requests run (successful or not).
    pub requests: u64,
    /// Write requests whose closure returned an error or panicked (rolled back alone).
    pub failed_requests: u64,
    /// Batches whose whole transaction was rolled back or failed to commit.
    pub failed_batches: u64,
    /// Writes refused for a reason that passes and tried again ([`Store::write_patiently`]).
    pub retried_writes: u64,
    /// Most requests committed in one transaction so far.
    pub largest_batch: u64,
    /// Since when (Unix ms) every write transaction has failed (the database held by another
    /// process past the busy timeout, a full disk, a read-only file); `None` once one commits.
    pub failing_since: Option<i64>,
    /// When (Unix ms) an MO PDU was last deferred ([`MoPdu::Deferred`]: its write failed and
    /// the SMSC was asked to send it again); `None` if none was since the store opened. Other
    /// writes may be committing meanwhile (a nearly full disk takes small writes and refuses
    /// bigger ones), so [`Stats::failing_since`] alone does not show it.
    pub last_mo_deferred: Option<i64>,
    /// Requests waiting in the channel right now (not counting the batch being run).
    pub queued: u64,
    /// MO PDUs the inbox took for a copy of one it already had (an SMSC's resend after a lost
    /// answer, see [`inbox`]): acknowledged and not run again.
    pub mo_duplicates: u64,
    /// MO PDUs (`deliver_sm` / `data_sm` carrying a message or a part of one, not a receipt)
    /// by what became of them, in [`MoPdu::ALL`] order; the duplicates are
    /// [`Stats::mo_duplicates`]. Counted before each is answered.
    pub mo_pdus: [u64; 3],
    /// Whole MO messages the inbox put together and handed on to the service: a message in
    /// three parts counts once, when its last part is stored ([`Store::note_mo_message`]).
    pub mo_messages: u64,
    /// Outbox rows this store's writer has taken into each state since it opened, in
    /// [`outbox::OutboxState::ALL`] order: the outcomes (delivered, failed, expired,
    /// superseded) as running totals, which a purge does not lower.
    pub outbox_entered: [u64; 7],
    /// How long each write transaction took, BEGIN to COMMIT (its requests and the WAL
    /// writes): what every request in it waited for once it started.
    pub transaction: HistogramSnapshot,
}

/// What became of an MO PDU that was not a copy ([`Stats::mo_pdus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoPdu {
    /// Written to the inbox and acknowledged.
    Stored,
    /// Refused for good (`ESME_RX_P_APPN`: a part whose UDH cannot be read), not stored.
    Refused,
    /// Not stored because the store failed, answered `ESME_RX_T_APPN`: the SMSC sends it
    /// again, and it is counted again then.
    Deferred,
}

impl MoPdu {
    /// Every kind, in [`Stats::mo_pdus`] order.
    pub const ALL: [MoPdu; 3] = [MoPdu::Stored, MoPdu::Refused, MoPdu::Deferred];

    /// Its label value on `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            MoPdu::Stored => "stored",
            MoPdu::Refused => "refused",
            MoPdu::Deferred => "deferred",
        }
    }
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    requests: AtomicU64,
    failed_requests: AtomicU64,
    failed_batches: AtomicU64,
    retried_writes: AtomicU64,
    largest_batch: AtomicU64,
    mo_duplicates: AtomicU64,
    mo_pdus: [AtomicU64; 3],
    mo_messages: AtomicU64,
    outbox_entered: [AtomicU64; 7],
    /// Unix ms of the first failed batch since the last commit; 0 while commits succeed.
    failing_since: std::sync::atomic::AtomicI64,
    /// Unix ms of the last MO PDU deferred ([`MoPdu::Deferred`]); 0 if none was.
    mo_deferred_at: std::sync::atomic::AtomicI64,
    transaction: LatencyHistogram,
}

impl Counters {
    /// A batch did not commit: the store is failing from now, unless it already was.
    fn batch_failed(&self) {
        self.failed_batches.fetch_add(1, Ordering::Relaxed);
        let _ = self.failing_since.compare_exchange(
            0,
            now_ms().max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// Unix time in milliseconds of `t` (0 before the epoch), the unit of every store timestamp.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

// ---------------------------------------------------------------------------------------------
// Writer requests

/// Sends a request's answer once its batch committed (`None`) or failed (`Some(reason)`).
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// What a request reports back to the writer after running.
struct Ran {
    /// Called once the batch's fate is known.
    finish: Finish,
    /// The closure returned an error or panicked.
    failed: bool,
    /// The enclosing transaction can no longer be used (a rollback to the savepoint failed).
    broken: bool,
}

/// One write request on the writer's channel.
trait Job: Send {
    /// Run inside `tx`, in a savepoint.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Ran;
    /// Reply with an error without running.
    fn abort(self: Box<Self>, err: StoreError);
}

enum Reply<T> {
    Async(oneshot::Sender<T>),
    Blocking(std::sync::mpsc::SyncSender<T>),
}

impl<T> Reply<T> {
    fn send(self, value: T) {
        // A caller that stopped waiting (dropped future) just misses the answer; the write
        // itself stands.
        match self {
            Reply::Async(s) => {
                let _ = s.send(value);
            }
            Reply::Blocking(s) => {
                let _ = s.send(value);
            }
        }
    }
}

struct WriteJob<F, R, E> {
    f: F,
    reply: Reply<Result<R, E>>,
}

const SAVEPOINT: &str = "SAVEPOINT store_request";
const RELEASE: &str = "RELEASE store_request";
const ROLLBACK_TO: &str = "ROLLBACK TO store_request; RELEASE store_request";

impl<F, R, E> Job for WriteJob<F, R, E>
where
    F: FnOnce(&Transaction<'_>) -> Result<R, E> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Ran {
        let WriteJob { f, reply } = *self;
        if let Err(source) = tx.prepare_cached(SAVEPOINT).and_then(|mut s| s.execute([])) {
            let err = E::from(StoreError::Sql {
                op: "write: savepoint",
                source,
            });
            return Ran {
                finish: Box::new(move |_| reply.send(Err(err))),
                failed: true,
                broken: tx.is_autocommit(),
            };
        }
        tally::request_begin();
        let outcome = match catch_unwind(AssertUnwindSafe(|| f(tx))) {
            Ok(result) => result,
            Err(_) => Err(E::from(StoreError::Panicked { op: "write" })),
        };
        let failed = outcome.is_err();
        let closing = if failed { ROLLBACK_TO } else { RELEASE };
        // If the savepoint cannot be released or rolled back (or SQLite already rolled the
        // whole transaction back), the batch's transaction is unusable.
        let closed = if failed {
            tx.execute_batch(closing)
        } else {
            tx.prepare_cached(closing)
                .and_then(|mut s| s.execute([]).map(|_| ()))
        };
        let broken = closed.is_err() || tx.is_autocommit();
        tally::request_end(!failed && !broken);
        Ran {
            finish: Box::new(move |commit_error: Option<&str>| match commit_error {
                None => reply.send(outcome),
                Some(reason) => reply.send(Err(E::from(StoreError::NotCommitted {
                    reason: reason.to_owned(),
                }))),
            }),
            failed,
            broken,
        }
    }

    fn abort(self: Box<Self>, err: StoreError) {
        self.reply.send(Err(E::from(err)));
    }
}

enum Msg {
    Job(Box<dyn Job>),
    Close(oneshot::Sender<()>),
}

/// A step run at the start of every write transaction ([`Store::before_each_batch`]).
type Prelude = Box<dyn Fn(&Transaction<'_>) -> Result<(), StoreError> + Send + Sync>;

/// Where the writer finds the [`Prelude`], once one is set.
type PreludeSlot = Arc<std::sync::OnceLock<Prelude>>;

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    max_batch: usize,
    counters: Arc<Counters>,
    checkpointer: Checkpointer,
    prelude: PreludeSlot,
    intents: Arc<Notify>,
) {
    let mut pending: VecDeque<Box<dyn Job>> = VecDeque::new();
    let mut closers: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        if pending.is_empty() {
            if !closers.is_empty() {
                break;
            }
            match rx.blocking_recv() {
                None => break,
                Some(Msg::Job(job)) => pending.push_back(job),
                Some(Msg::Close(reply)) => {
                    // Refuse new requests; drain what is already queued, then stop.
                    rx.close();
                    closers.push(reply);
                    continue;
                }
            }
        }
        while pending.len() < max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => pending.push_back(job),
                Ok(Msg::Close(reply)) => {
                    rx.close();
                    closers.push(reply);
                }
                Err(_) => break,
            }
        }
        if run_batch(
            &mut conn,
            &mut pending,
            max_batch,
            &counters,
            &prelude,
            &intents,
        ) {
            checkpointer.wake();
        }
    }
    // The background checkpoint ends first: the final TRUNCATE needs the checkpoint lock.
    checkpointer.stop();
    if !closers.is_empty() {
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(error = %e, "store: checkpoint at close failed");
        }
    }
    drop(conn);
    for reply in closers {
        let _ = reply.send(());
    }
}

/// Run the prelude (if any) and up to `max_batch` pending requests in one transaction; true
/// if it committed. A committed batch that wrote cancel intents notifies `intents`.
fn run_batch(
    conn: &mut Connection,
    pending: &mut VecDeque<Box<dyn Job>>,
    max_batch: usize,
    counters: &Counters,
    prelude: &PreludeSlot,
    intents: &Notify,
) -> bool {
    let began = Instant::now();
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(error = %reason, "store: cannot begin write transaction");
            counters.batch_failed();
            for _ in 0..max_batch {
                let Some(job) = pending.pop_front() else {
                    break;
                };
                job.abort(StoreError::Begin {
                    reason: reason.clone(),
                });
            }
            return false;
        }
    };
    if let Some(prelude) = prelude.get() {
        // No savepoint (two statements per batch for a step that mostly has nothing to do):
        // SQLite undoes a failed statement, and those before it stand.
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| prelude(&tx)))
            .unwrap_or(Err(StoreError::Panicked { op: "prelude" }))
        {
            tracing::warn!(error = %e, "store: the step before each write failed");
        }
        if tx.is_autocommit() {
            // SQLite rolled the transaction back: the requests run in the next one.
            counters.batch_failed();
            return false;
        }
    }
    let mut finishes = Vec::new();
    let mut broken = false;
    while finishes.len() < max_batch {
        let Some(job) = pending.pop_front() else {
            break;
        };
        let ran = job.run(&tx);
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if ran.failed {
            counters.failed_requests.fetch_add(1, Ordering::Relaxed);
        }
        finishes.push(ran.finish);
        if ran.broken {
            // Requests still queued run in the next transaction.
            broken = true;
            break;
        }
    }
    let commit_error = if broken {
        drop(tx); // rolls back
        Some("the batch transaction was rolled back after an SQLite error".to_owned())
    } else {
        tx.commit().err().map(|e| e.to_string())
    };
    match &commit_error {
        None => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.failing_since.store(0, Ordering::Relaxed);
            counters
                .largest_batch
                .fetch_max(finishes.len() as u64, Ordering::Relaxed);
        }
        Some(reason) => {
            tracing::error!(error = %reason, requests = finishes.len(), "store: batch not committed");
            counters.batch_failed();
        }
    }
    counters.transaction.observe(began.elapsed());
    let committed = commit_error.is_none();
    let ended = tally::batch_end(committed);
    for (total, n) in counters.outbox_entered.iter().zip(ended.entered) {
        if n > 0 {
            total.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    if ended.intents > 0 {
        // Committed: the canceller reads them now.
        intents.notify_one();
    }
    for finish in finishes {
        finish(commit_error.as_deref());
    }
    committed
}

/// The background checkpoint thread (see the module docs), owned by the writer thread.
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Start checkpointing `path` on its own connection.
    fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path).map_err(open_err(path, "open checkpoint connection"))?;
        conn.busy_timeout(busy_timeout)
            .map_err(open_err(path, "busy_timeout"))?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &woken))
            .map_err(StoreError::Spawn)?;
        Ok(Checkpointer { wake, thread })
    }

    /// Say that a commit added frames (never blocks: one wake-up pending is enough).
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// Let the thread finish its current checkpoint and end.
    fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}

fn checkpoint_loop(conn: &Connection, woken: &std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::TryRecvError;
    // Ends when the writer drops its sender.
    let mut due = woken.recv().is_ok();
    while due {
        let started = std::time::Instant::now();
        let done: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        match done {
            Ok((_busy, log, copied)) => {
                tracing::trace!(log, copied, "store: background checkpoint");
            }
            Err(e) => tracing::warn!(error = %e, "store: background checkpoint failed"),
        }
        // Let frames gather before the next one. Sleep rather than wait on the channel: a
        // commit meanwhile only fills its one slot (no wake-up of this thread per commit, which
        // at thousands of commits per second was most of this thread's cost), and is seen here
        // after the pause, so the checkpoint runs again at once.
        if let Some(rest) = CHECKPOINT_EVERY.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        due = match woken.try_recv() {
            Ok(()) => true,
            Err(TryRecvError::Empty) => woken.recv().is_ok(),
            Err(TryRecvError::Disconnected) => false,
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Read pool

struct ReadPool {
    conns: Mutex<Vec<Connection>>,
    available: Condvar,
}

/// Returns its connection to the pool on drop, even when the read closure panics.
struct Lease<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut conns = self
                .pool
                .conns
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            conns.push(conn);
            self.pool.available.notify_one();
        }
    }
}

impl ReadPool {
    fn lease(&self) -> Lease<'_> {
        let mut conns = self
            .conns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(conn) = conns.pop() {
                return Lease {
                    pool: self,
                    conn: Some(conn),
                };
            }
            conns = self
                .available
                .wait(conns)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Store

struct Inner {
    path: PathBuf,
    requests: mpsc::Sender<Msg>,
    readers: ReadPool,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// [`Store::before_each_batch`].
    prelude: PreludeSlot,
    /// [`Store::cancel_intents`].
    intents: Arc<Notify>,
}

/// Handle to the durable store; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// One query plan per statement whatever its bound values (SQLite's query planner stability
/// guarantee). Without it a statement whose `LIMIT ?` the planner read as a constant is
/// prepared again whenever that value changes (the outbox claim's batch size did, on about one
/// call in ten).
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

/// Refuse another application's database before anything is written to it: one with tables
/// but no schema version (`user_version` 0) was never the gateway's (its first migration sets
/// the version in the transaction that creates its tables). Without this, `--db` pointing at
/// the wrong file switched that file to WAL mode and added the gateway's tables beside its own.
fn check_ours(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err(path, "user_version"))?;
    if version != 0 {
        return Ok(());
    }
    let tables = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
             ESCAPE '\\' ORDER BY name LIMIT 5",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(open_err(path, "list tables"))?;
    if tables.is_empty() {
        return Ok(());
    }
    Err(StoreError::NotOurs {
        path: path.to_owned(),
        tables,
    })
}

/// Most problems [`check_intact`] reports.
const PROBLEMS_SHOWN: u32 = 3;

/// Refuse a damaged database at open (`PRAGMA quick_check`: every page read once, about
/// 0.6 s per 340 MB from the page cache). Without it the gateway ran on one whose damaged
/// pages it met only as each write touching them failed: it bound to the SMSC and took
/// traffic, answering the MO whose writes failed with a temporary error at every redelivery.
fn check_intact(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let damaged = |problems: Vec<String>| StoreError::Damaged {
        path: path.to_owned(),
        problems,
    };
    let mut stmt = conn
        .prepare(&format!("PRAGMA quick_check({PROBLEMS_SHOWN})"))
        .map_err(open_err(path, "quick_check"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
    match rows {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(()),
        Ok(rows) => {
            // One problem a line; a row may hold several, after a `*** in database main ***`
            // heading.
            let lines: Vec<String> = rows
                .iter()
                .flat_map(|row| row.lines())
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("***"))
                .take(PROBLEMS_SHOWN as usize)
                .map(String::from)
                .collect();
            Err(damaged(if lines.is_empty() { rows } else { lines }))
        }
        // Damage in the pages the check itself needs (the schema) is an error of its own.
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            Err(damaged(vec![e.to_string()]))
        }
        Err(e) => Err(open_err(path, "quick_check")(e)),
    }
}

/// `e` as an error of opening the file at `path`: [`StoreError::LockedAtOpen`] when it is
/// another process's lock that outlasted the busy timeout (the bare `database is locked` named
/// neither), [`StoreError::Open`] naming the file for any other SQL error (a full disk at the
/// first migration's commit said only `SQL failed in migrate: commit`).
fn locked_at_open(path: &Path, busy_timeout: Duration, e: StoreError) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e {
        StoreError::Sql { source, .. } | StoreError::Open { source, .. }
            if matches!(
                source.sqlite_error_code(),
                Some(DatabaseBusy | DatabaseLocked)
            ) =>
        {
            StoreError::LockedAtOpen {
                path: path.to_owned(),
                busy_timeout_ms: busy_timeout.as_millis(),
                source,
            }
        }
        StoreError::Sql { op, source } => StoreError::Open {
            path: path.to_owned(),
            op,
            source,
        },
        e => e,
    }
}

fn open_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Open {
        path: path.to_owned(),
        op,
        source,
    }
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Schema version of the copy.
    pub schema_version: i64,
    /// Size of the copy in bytes.
    pub bytes: u64,
}

/// Write a consistent copy of the database at `db` to `to`, while a gateway may be running on
/// it: `VACUUM INTO` on a read-only connection reads one snapshot (WAL mode lets the gateway
/// keep writing meanwhile; the copy has every transaction committed before it began and none
/// after), and writes it compacted, as one file without a WAL. Refuses a `to` that exists.
/// The copy is checked with `PRAGMA quick_check` before this returns.
pub fn backup(db: &Path, to: &Path, busy_timeout: Duration) -> Result<Backup, StoreError> {
    let refuse = |reason: String| StoreError::Backup {
        path: to.to_owned(),
        reason,
    };
    if to.exists() {
        return Err(refuse("the file exists; give a new name".into()));
    }
    // SQLite would say only "unable to open database file".
    let folder = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(refuse(format!(
            "the folder {} does not exist; create it first",
            folder.display()
        )));
    }
    let conn = read_only(db, busy_timeout)?;
    let target = to
        .to_str()
        .ok_or_else(|| refuse("the path is not UTF-8".into()))?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        // A copy cut short (a full disk) is not a backup, and would block the next try.
        let _ = std::fs::remove_file(to);
        return Err(StoreError::Sql {
            op: "backup: vacuum into",
            source: e,
        });
    }
    let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(open_err(to, "backup: open the copy"))?;
    let check: String = copy
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .ctx("backup: quick_check")?;
    if check != "ok" {
        return Err(refuse(format!("the copy fails quick_check: {check}")));
    }
    let schema_version: i64 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("backup: user_version")?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(Backup {
        schema_version,
        bytes,
    })
}

/// A read-only connection to `db` that waits up to `busy_timeout` for a writer.
fn read_only(db: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err(db, "open read-only"))?;
    conn.busy_timeout(busy_timeout)
        .map_err(open_err(db, "busy_timeout"))?;
    Ok(conn)
}

/// Open the database at `db` for reading only, as the inspection commands (`outbox list`,
/// `subscriber show`) do while a gateway may be running on it: no migration (a newer binary
/// must not upgrade a live database behind its gateway), no checkpoint at close, nothing
/// written. Refuses a database of another schema version than this build's.
pub fn open_read_only(db: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let conn = read_only(db, busy_timeout)?;
    let found = schema::schema_version(&conn)?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(conn),
        std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        }),
        std::cmp::Ordering::Less => Err(StoreError::SchemaTooOld {
            found,
            known: SCHEMA_VERSION,
        }),
    }
}

/// The claim of a serving gateway on its database, held for as long as the value lives: an OS
/// advisory lock (`flock(2)`, exclusive) on `<db>.lock` beside the database, with the holder's pid written in
/// it. Two gateways on one database would both claim the same queued rows (and the second
/// one's start requeues the first one's rows in flight), so the SMSC would get every such
/// message twice; [`ServeLock::acquire`] refuses the second one instead.
///
/// Only the gateway takes it: the operator's commands (`outbox list`, `subscriber show`,
/// `backup`, `outbox retry|purge`, the imports) go through SQLite's own locking and are meant
/// to run beside a live gateway. The OS drops the lock when its process ends, however it
/// ends (a crash, `kill -9`), so a lock file left behind never blocks a restart; the file is
/// kept (removing it could let two processes lock two different files of one name).
#[derive(Debug)]
pub struct ServeLock {
    /// Kept open: closing it releases the lock.
    _file: std::fs::File,
    path: PathBuf,
}

impl ServeLock {
    /// The lock file of the database at `db`: `<db>.lock`, beside it.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Lock the database at `db` for this process (creating its directory and the lock file
    /// when missing), or fail with [`StoreError::InUse`], naming the database and the pid of
    /// the process that holds it, without touching the database. `db` is resolved through
    /// symbolic links when it exists, so two spellings of one file take one lock.
    pub fn acquire(db: &Path) -> Result<ServeLock, StoreError> {
        use std::io::{Read as _, Seek as _, Write as _};
        if let Some(parent) = db.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                    path: parent.to_owned(),
                    source,
                })?;
            }
        }
        let db = std::fs::canonicalize(db)
            .or_else(|_| std::path::absolute(db))
            .unwrap_or_else(|_| db.to_owned());
        let path = Self::path_for(&db);
        let io = |source: std::io::Error| {
            // A folder this user may not write (or a read-only file system): the lock file
            // cannot be made there, nor SQLite's -wal and -shm files later.
            let hint = match (source.kind(), path.parent()) {
                (
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem,
                    Some(folder),
                ) => format!(
                    ": the folder {} must be writable for this user (the lock file and \
                     SQLite's -wal and -shm files go beside the database), or give the gateway \
                     another database (--db, or `db` in its config)",
                    folder.display()
                ),
                _ => String::new(),
            };
            StoreError::Lock {
                path: path.clone(),
                hint,
                source,
            }
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::InUse {
                    db,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        // Ours now: the pid of a holder that died is replaced by this one.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io)?;
        Ok(ServeLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Open (creating if needed) the database at `path`: creates the parent directory, sets WAL
    /// mode, `synchronous`, `busy_timeout` and foreign keys, applies pending migrations in one
    /// transaction, opens the read connections and starts the writer thread.
    pub fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                    path: parent.to_owned(),
                    source,
                })?;
            }
        }
        let mut conn = Connection::open(path).map_err(open_err(path, "open"))?;
        // SQLite opens a file it may not write read-only, without an error; every write
        // would then fail while the gateway ran (and answered the SMSC) as if all were well.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(open_err(path, "is_readonly"))?
        {
            return Err(StoreError::ReadOnly {
                path: path.to_owned(),
            });
        }
        conn.busy_timeout(opts.busy_timeout)
            .map_err(open_err(path, "busy_timeout"))?;
        check_ours(&conn, path)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err(path, "journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal {
                path: path.to_owned(),
                mode,
            });
        }
        conn.pragma_update(None, "synchronous", opts.durability.pragma())
            .map_err(open_err(path, "synchronous"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err(path, "foreign_keys"))?;
        // A deleted row's bytes are overwritten in the page it leaves, so a message's text or
        // a subscriber's number cannot be read back from the file (or a copy of it) once
        // retention or a purge deleted it. `FAST` costs a memset per deleted row and no I/O;
        // whole pages freed (a picture's bytes) are zeroed by retention itself, with
        // `secure_delete` on for those deletes (`store::retention`).
        conn.pragma_update(None, "secure_delete", "FAST")
            .map_err(open_err(path, "secure_delete"))?;
        // Each request runs in a savepoint, whose sub-journal (the pages it first changed)
        // otherwise spills to a temporary file past 64 KiB: a pwrite per page copied. In memory
        // it costs a memcpy; the database and its WAL are not affected.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(open_err(path, "temp_store"))?;
        // A negative cache_size is in KiB (not pages).
        conn.pragma_update(
            None,
            "cache_size",
            -i64::from(opts.writer_cache_kib.max(64)),
        )
        .map_err(open_err(path, "cache_size"))?;
        // Every statement the gateway runs stays prepared (rusqlite's default keeps 16; the
        // service alone has more, and an evicted statement is parsed again on every use).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        stable_plans(&conn).map_err(open_err(path, "enable_qpsg"))?;
        if opts.check_at_open {
            let began = Instant::now();
            check_intact(&conn, path).map_err(|e| locked_at_open(path, opts.busy_timeout, e))?;
            // What the check costs, for an operator weighing `[store] check_at_open`.
            tracing::info!(
                path = %path.display(),
                bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
                took_ms = began.elapsed().as_millis() as u64,
                "store: database checked at open (PRAGMA quick_check)"
            );
        }
        let applied =
            schema::migrate(&mut conn).map_err(|e| locked_at_open(path, opts.busy_timeout, e))?;
        if applied > 0 {
            tracing::info!(path = %path.display(), applied, version = SCHEMA_VERSION, "store: schema migrated");
        }
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)
            .map_err(open_err(path, "wal_autocheckpoint"))?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(open_err(path, "journal_size_limit"))?;
        let checkpointer = Checkpointer::start(path, opts.busy_timeout)?;

        let mut readers = Vec::new();
        for _ in 0..opts.read_connections.max(1) {
            let r = read_only(path, opts.busy_timeout)?;
            r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            stable_plans(&r).map_err(open_err(path, "enable_qpsg"))?;
            readers.push(r);
        }

        let (requests, rx) = mpsc::channel(opts.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let max_batch = opts.max_batch.max(1);
        let thread_counters = Arc::clone(&counters);
        let prelude = PreludeSlot::default();
        let thread_prelude = Arc::clone(&prelude);
        let intents = Arc::new(Notify::new());
        let thread_intents = Arc::clone(&intents);
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                writer_loop(
                    conn,
                    rx,
                    max_batch,
                    thread_counters,
                    checkpointer,
                    thread_prelude,
                    thread_intents,
                )
            })
            .map_err(StoreError::Spawn)?;

        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                requests,
                readers: ReadPool {
                    conns: Mutex::new(readers),
                    available: Condvar::new(),
                },
                counters,
                writer: Mutex::new(Some(writer)),
                prelude,
                intents,
            }),
        })
    }

    /// Run `step` at the start of every write transaction from now on, ahead of its requests
    /// and in the same commit, for bookkeeping that should reach the file with the next write
    /// that happens anyway rather than with a commit of its own. It should be quick, and a
    /// no-op when it has nothing to do (it runs for every batch). It runs in no savepoint of
    /// its own: an error (or a panic) is logged, the statement that failed leaves nothing and
    /// those before it stand, so each of its statements must make sense alone; the requests
    /// run as usual. Its work is lost when the batch does not commit. One step per store:
    /// returns `false`, and keeps the first, when one was set already.
    pub fn before_each_batch(
        &self,
        step: impl Fn(&Transaction<'_>) -> Result<(), StoreError> + Send + Sync + 'static,
    ) -> bool {
        self.inner.prelude.set(Box::new(step)).is_ok()
    }

    /// Notified after each commit that wrote cancel intents ([`cancel`]: a supersession or a
    /// withdrawal of an accepted message), from this process's writes only; the canceller
    /// (`delivery::cancel::Canceller`, the one waiter) wakes on it instead of polling. A
    /// notification while it is busy is kept for its next wait.
    pub fn cancel_intents(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.intents)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` in the writer's transaction (inside its own savepoint) and wait for the commit.
    /// `Ok` means committed; an `Err` from `f` rolls back only `f`'s changes. Dropping the
    /// returned future does not cancel a request already queued.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(WriteJob {
            f,
            reply: Reply::Async(reply),
        });
        if self.inner.requests.send(Msg::Job(job)).await.is_err() {
            return Err(E::from(StoreError::Closed));
        }
        answer.await.unwrap_or(Err(E::from(StoreError::Closed)))
    }

    /// [`Store::write`], tried again while it fails for a reason that passes
    /// ([`StoreError::is_transient`]: another process held the database past the busy timeout,
    /// a full disk, an I/O error), after 50 ms, then twice as long each time up to 2 s, until
    /// `patience` is spent; then the last error is returned. Each try runs `f` in a savepoint
    /// of its own, so a failed try left nothing behind. For writes whose data exists nowhere
    /// else once the caller gives up (an SMSC's answers, an applied command).
    pub async fn write_patiently<R, F>(&self, patience: Duration, f: F) -> Result<R, StoreError>
    where
        F: Fn(&Transaction<'_>) -> Result<R, StoreError> + Clone + Send + 'static,
        R: Send + 'static,
    {
        let give_up = Instant::now() + patience;
        let mut delay = Duration::from_millis(50);
        loop {
            match self.write(f.clone()).await {
                Err(e) if e.is_transient() && Instant::now() + delay <= give_up => {
                    self.inner
                        .counters
                        .retried_writes
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        "store write refused; trying again"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                done => return done,
            }
        }
    }

    /// Blocking [`Store::write`] for synchronous callers (CLI, `spawn_blocking`).
    /// Must not be called from inside an async task (it would block the executor; tokio panics).
    pub fn write_blocking<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let job = Box::new(WriteJob {
            f,
            reply: Reply::Blocking(reply),
        });
        if self.inner.requests.blocking_send(Msg::Job(job)).is_err() {
            return Err(E::from(StoreError::Closed));
        }
        answer.recv().unwrap_or(Err(E::from(StoreError::Closed)))
    }

    /// Run `f` on a read-only connection inside one read transaction (a consistent snapshot of
    /// committed data), on tokio's blocking pool.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        match tokio::task::spawn_blocking(move || store.read_blocking(f)).await {
            Ok(result) => result,
            Err(_) => Err(E::from(StoreError::Panicked { op: "read" })),
        }
    }

    /// Blocking [`Store::read`]: waits for a free read connection.
    pub fn read_blocking<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Connection) -> Result<R, E>,
        E: From<StoreError>,
    {
        let lease = self.inner.readers.lease();
        let Some(conn) = lease.conn.as_ref() else {
            return Err(E::from(StoreError::Closed));
        };
        let tx = conn
            .unchecked_transaction()
            .ctx("read: begin")
            .map_err(E::from)?;
        // Dropping `tx` ends the read transaction (nothing to commit).
        f(&tx)
    }

    /// A snapshot of the writer's counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            commits: c.commits.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            failed_requests: c.failed_requests.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            retried_writes: c.retried_writes.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            failing_since: Some(c.failing_since.load(Ordering::Relaxed)).filter(|&t| t > 0),
            last_mo_deferred: Some(c.mo_deferred_at.load(Ordering::Relaxed)).filter(|&t| t > 0),
            queued: (self.inner.requests.max_capacity() - self.inner.requests.capacity()) as u64,
            mo_duplicates: c.mo_duplicates.load(Ordering::Relaxed),
            mo_pdus: std::array::from_fn(|i| c.mo_pdus[i].load(Ordering::Relaxed)),
            mo_messages: c.mo_messages.load(Ordering::Relaxed),
            outbox_entered: std::array::from_fn(|i| c.outbox_entered[i].load(Ordering::Relaxed)),
            transaction: c.transaction.snapshot(),
        }
    }

    /// Count an MO PDU taken for a copy of one the inbox had ([`Stats::mo_duplicates`]).
    pub fn note_mo_duplicate(&self) {
        self.inner
            .counters
            .mo_duplicates
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Count an MO PDU by what became of it ([`Stats::mo_pdus`]; a copy is
    /// [`Store::note_mo_duplicate`]).
    pub fn note_mo_pdu(&self, what: MoPdu) {
        self.inner.counters.mo_pdus[what as usize].fetch_add(1, Ordering::Relaxed);
        if what == MoPdu::Deferred {
            self.inner
                .counters
                .mo_deferred_at
                .store(now_ms().max(1), Ordering::Relaxed);
        }
    }

    /// Count a whole MO message handed on to the service ([`Stats::mo_messages`]).
    pub fn note_mo_message(&self) {
        self.inner
            .counters
            .mo_messages
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Stop accepting writes, run the ones already queued, checkpoint the WAL and join the
    /// writer thread. Later writes (from any clone) fail with [`StoreError::Closed`]; reads keep
    /// working. Calling it twice is harmless.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.inner.requests.send(Msg::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
        self.join_writer().await;
    }

    /// Blocking [`Store::close`] (not from inside an async task).
    pub fn close_blocking(&self) {
        let (reply, done) = oneshot::channel();
        if self.inner.requests.blocking_send(Msg::Close(reply)).is_ok() {
            let _ = done.blocking_recv();
        }
        if let Some(handle) = self.take_writer() {
            let _ = handle.join();
        }
    }

    fn take_writer(&self) -> Option<JoinHandle<()>> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    async fn join_writer(&self) {
        if let Some(handle) = self.take_writer() {
            // The thread has answered the close (or the channel is gone), so it is exiting.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}
