//! Integration tests of `presence_gw::store` on real SQLite files in a temporary directory:
//! migrations, group commit, savepoint isolation, inbox dedup and reassembly, outbox life
//! cycle, receipts, reopen after drop, and a SIGKILL crash test in a child process.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use presence_gw::store::inbox::{self, Concat, ConcatScheme, InboundPdu, Received};
use presence_gw::store::outbox::{
    self, NewMessage, OutboxState, ReceiptMatch, ReceiptState, Requeued, SegmentState,
};
use presence_gw::store::{schema, Durability, Store, StoreError, StoreOptions, SCHEMA_VERSION};
use rusqlite::Connection;

const T0: i64 = 1_700_000_000_000;
const WINDOW: Duration = inbox::DEFAULT_DEDUP_WINDOW;

fn open(path: &Path) -> Store {
    Store::open(path, StoreOptions::default()).expect("open store")
}

fn count(store: &Store, sql: &'static str) -> i64 {
    store
        .read_blocking(|c| Ok::<_, StoreError>(c.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

/// Occupy the writer thread until the returned sender is used (or dropped), so that requests
/// sent meanwhile queue up and run in one batch.
fn block_writer(store: &Store) -> std_mpsc::Sender<()> {
    let (release, wait) = std_mpsc::channel::<()>();
    let (started, is_started) = std_mpsc::channel::<()>();
    let s = store.clone();
    std::thread::spawn(move || {
        s.write_blocking(move |_tx| {
            let _ = started.send(());
            let _ = wait.recv_timeout(Duration::from_secs(20));
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    is_started
        .recv_timeout(Duration::from_secs(20))
        .expect("writer started the blocking request");
    release
}

/// Wait (up to 30 s) until `n` requests wait in the writer's channel.
fn wait_queued(store: &Store, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.stats().queued < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        store.stats().queued,
        n,
        "requests queued behind the blocker"
    );
}

fn sms_pdu(source: &str, text: &str, at: i64) -> InboundPdu {
    InboundPdu {
        received_at: at,
        source: source.into(),
        destination: "1234".into(),
        smsc_message_id: None,
        esm_class: 0,
        data_coding: 0,
        raw: b"raw".to_vec(),
        payload: text.as_bytes().to_vec(),
        concat: None,
        ussd: None,
        link_session: None,
    }
}

fn part_pdu(seq: u8, total: u8, reference: u16, text: &str, at: i64) -> InboundPdu {
    InboundPdu {
        esm_class: 0x40,
        concat: Some(Concat {
            scheme: ConcatScheme::Udh16,
            reference,
            total,
            seq,
        }),
        ..sms_pdu("8613800000001", text, at)
    }
}

fn receive(store: &Store, pdu: InboundPdu) -> Received {
    store
        .write_blocking(move |tx| inbox::receive(tx, &pdu, WINDOW))
        .unwrap()
}

fn enqueue(store: &Store, msg: NewMessage, now: i64) -> outbox::Enqueued {
    store
        .write_blocking(move |tx| outbox::enqueue(tx, &msg, now))
        .unwrap()
}

fn row(store: &Store, id: i64) -> outbox::OutboxRow {
    store
        .read_blocking(move |c| outbox::get(c, id))
        .unwrap()
        .expect("row exists")
}

// ---------------------------------------------------------------------------------------------
// Store mechanics

/// The read-only open of the inspection commands works on a database whose gateway stopped
/// cleanly (its WAL checkpointed and gone), reads what was written, and refuses writes.
#[test]
fn a_stopped_gateways_database_opens_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open(&path);
    let id = enqueue(&store, NewMessage::sms("861", "kept"), T0).id;
    store.close_blocking();
    let conn = presence_gw::store::open_read_only(&path, Duration::from_millis(100)).unwrap();
    let row = outbox::get(&conn, id).unwrap().expect("the row");
    assert_eq!(row.body.as_deref(), Some("kept"));
    assert!(conn
        .execute("DELETE FROM outbox WHERE id = ?1", [id])
        .is_err());
}

/// While every write fails (here: another process holds the database past the busy timeout)
/// the store says since when, for `/health`; the first commit after clears it.
#[test]
fn the_store_says_since_when_its_writes_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = Store::open(
        &path,
        StoreOptions {
            busy_timeout: Duration::from_millis(50),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    assert_eq!(store.stats().failing_since, None);
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = presence_gw::store::now_ms();
    for _ in 0..2 {
        assert!(store
            .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "x"), T0))
            .is_err());
    }
    let since = store.stats().failing_since.expect("failing");
    assert!(since >= before, "{since} < {before}");
    other.execute_batch("COMMIT").unwrap();
    store
        .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "x"), T0))
        .unwrap();
    assert_eq!(store.stats().failing_since, None, "a commit clears it");
}

#[test]
fn migrations_are_idempotent_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/gw.db");
    let store = open(&path);
    assert!(path.exists(), "parent directories are created");
    let version = store.read_blocking(schema::schema_version).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let objects = count(&store, "SELECT count(*) FROM sqlite_master");
    let id = enqueue(&store, NewMessage::sms("861", "hello"), T0).id;
    let mode: String = store
        .read_blocking(|c| {
            Ok::<_, StoreError>(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    // The writer cuts a WAL that a long reader let grow back to the limit when it restarts.
    let limit: i64 = store
        .write_blocking(|tx| {
            Ok::<_, StoreError>(tx.query_row("PRAGMA journal_size_limit", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(limit, presence_gw::store::WAL_SIZE_LIMIT);
    store.close_blocking();

    for _ in 0..2 {
        let store = open(&path);
        assert_eq!(
            store.read_blocking(schema::schema_version).unwrap(),
            SCHEMA_VERSION
        );
        assert_eq!(count(&store, "SELECT count(*) FROM sqlite_master"), objects);
        assert_eq!(row(&store, id).body.as_deref(), Some("hello"));
        store.close_blocking();
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    open(&path).close_blocking();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    match Store::open(&path, StoreOptions::default()) {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(known, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn durability_option_sets_synchronous_and_foreign_keys_are_on() {
    let dir = tempfile::tempdir().unwrap();
    for (durability, expected) in [(Durability::Normal, 1), (Durability::Full, 2)] {
        let path = dir.path().join(format!("{durability:?}.db"));
        let opts = StoreOptions {
            durability,
            ..StoreOptions::default()
        };
        let store = Store::open(&path, opts).unwrap();
        let (synchronous, foreign_keys): (i64, i64) = store
            .write_blocking(|tx| {
                let s = tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                let f = tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                Ok::<_, StoreError>((s, f))
            })
            .unwrap();
        assert_eq!((synchronous, foreign_keys), (expected, 1));
        let cache: i64 = store
            .write_blocking(|tx| {
                Ok::<_, StoreError>(tx.query_row("PRAGMA cache_size", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(
            cache,
            -i64::from(presence_gw::store::WRITER_CACHE_KIB),
            "the writer's page cache, in KiB"
        );
        store.close_blocking();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batches_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let release = block_writer(&store);
    let before = store.stats();

    let mut tasks = Vec::new();
    for i in 0..1000 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.write(move |tx| outbox::enqueue(tx, &NewMessage::sms("861", format!("m{i}")), T0))
                .await
        }));
    }
    // Let every task reach the queue, then let the writer go.
    let s = store.clone();
    tokio::task::spawn_blocking(move || wait_queued(&s, 1000))
        .await
        .unwrap();
    release.send(()).unwrap();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1000);

    let after = store.stats();
    let commits = after.commits - before.commits;
    assert!(
        commits <= 3,
        "1000 queued writes should share a few transactions, took {commits} commits"
    );
    assert!(
        after.largest_batch >= 100,
        "largest batch {}",
        after.largest_batch
    );
    assert_eq!(after.requests - before.requests, 1001);
    assert_eq!(
        store.read(outbox::counts_by_state).await.unwrap().queued,
        1000
    );
    store.close().await;
}

#[test]
fn a_failing_request_rolls_back_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let release = block_writer(&store);
    let before = store.stats();

    let spawn_write = |body: &'static str, outcome: &'static str| {
        let s = store.clone();
        let queued = store.stats().queued + 1;
        let handle = std::thread::spawn(move || {
            s.write_blocking(move |tx| {
                outbox::enqueue(tx, &NewMessage::sms("861", body), T0)?;
                match outcome {
                    "ok" => Ok(()),
                    "err" => Err(StoreError::NotFound {
                        table: "test",
                        id: 7,
                    }),
                    _ => panic!("deliberate panic inside a write closure"),
                }
            })
        });
        // Keep the order of arrival deterministic: wait until this request is queued.
        wait_queued(&store, queued);
        handle
    };
    let a = spawn_write("a", "ok");
    let b = spawn_write("b", "err");
    let c = spawn_write("c", "ok");
    let d = spawn_write("d", "panic");
    release.send(()).unwrap();

    assert!(a.join().unwrap().is_ok());
    assert!(matches!(
        b.join().unwrap(),
        Err(StoreError::NotFound {
            table: "test",
            id: 7
        })
    ));
    assert!(c.join().unwrap().is_ok());
    assert!(matches!(
        d.join().unwrap(),
        Err(StoreError::Panicked { op: "write" })
    ));

    let bodies: Vec<String> = store
        .read_blocking(|c| {
            let rows = outbox::list(c, None, 10)?;
            Ok::<_, StoreError>(rows.into_iter().filter_map(|r| r.body).collect())
        })
        .unwrap();
    assert_eq!(bodies, ["c", "a"]);
    let after = store.stats();
    assert_eq!(
        after.commits - before.commits,
        2,
        "blocker + one batch of four"
    );
    assert_eq!(after.failed_requests - before.failed_requests, 2);
    // The writer survived the panic.
    let e = enqueue(&store, NewMessage::sms("861", "e"), T0);
    assert_eq!(row(&store, e.id).body.as_deref(), Some("e"));
}

#[tokio::test]
async fn writes_after_close_are_refused_and_reads_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let clone = store.clone();
    store
        .write(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "x"), T0))
        .await
        .unwrap();
    store.close().await;
    store.close().await; // twice is harmless
    let refused = clone
        .write(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "y"), T0))
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)));
    let counts = clone.read(outbox::counts_by_state).await.unwrap();
    assert_eq!(counts.queued, 1);
}

#[test]
fn survives_reopen_after_drop_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open(&path);
    for i in 0..100 {
        enqueue(&store, NewMessage::sms("861", format!("m{i}")), T0);
    }
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    assert_eq!(claimed.len(), 10);
    drop(store);

    let store = open(&path);
    let counts = store.read_blocking(outbox::counts_by_state).unwrap();
    assert_eq!((counts.queued, counts.in_flight), (90, 10));
    // Startup recovery: in-flight rows go back to the queue.
    let requeued = store
        .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 1))
        .unwrap();
    assert_eq!(requeued, 10);
    let counts = store.read_blocking(outbox::counts_by_state).unwrap();
    assert_eq!((counts.queued, counts.in_flight), (100, 0));
}

#[test]
fn a_batch_of_attempts_records_every_segment_once_in_chunks_and_one_by_one() {
    use presence_gw::store::outbox::{AcceptedSegment, Attempt, AttemptEnd};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    for i in 0..45 {
        enqueue(&store, NewMessage::sms("861", format!("m{i}")), T0);
    }
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 45))
        .unwrap();
    // 40 one-part rows (two full chunks and a remainder), one of two parts, one retried.
    let attempts: Vec<Attempt> = claimed
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let total = if i == 7 { 2 } else { 1 };
            let accepted = (1..=total)
                .map(|seq| AcceptedSegment {
                    seq,
                    total,
                    message_id: format!("{:X}", 0x1000 + i * 10 + usize::from(seq)),
                })
                .collect();
            Attempt {
                outbox_id: row.id,
                attempt: row.attempts,
                accepted: if i == 44 { Vec::new() } else { accepted },
                end: if i == 44 {
                    AttemptEnd::Retry {
                        at: T0 + 1000,
                        error: "ESME_RTHROTTLED".into(),
                    }
                } else {
                    AttemptEnd::Submitted
                },
            }
        })
        .collect();
    let again = attempts.clone();
    let results = store
        .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, T0 + 1))
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The same answers recorded again (a retried write) add nothing.
    store
        .write_blocking(move |tx| outbox::record_attempts(tx, &again, None, T0 + 2))
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM outbox_segment"), 45);
    assert_eq!(
        count(
            &store,
            "SELECT count(DISTINCT outbox_id || '/' || seq) FROM outbox_segment"
        ),
        45
    );
    let counts = store.read_blocking(outbox::counts_by_state).unwrap();
    assert_eq!((counts.submitted, counts.queued), (44, 1), "{counts:?}");
    // Each segment carries its own id, normalised and raw.
    let seg = store
        .read_blocking(move |c| outbox::segments(c, claimed[7].id))
        .unwrap();
    assert_eq!(seg.len(), 2);
    assert_eq!((seg[1].seq, seg[1].smsc_message_id.as_str()), (2, "1048"));
}

#[test]
fn commits_reach_the_database_file_through_the_background_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open(&path);
    let body = "x".repeat(200);
    for i in 0..200 {
        enqueue(&store, NewMessage::sms("861", format!("{i} {body}")), T0);
    }
    // Far fewer pages than the writer's own automatic checkpoint waits for: only the
    // background thread copies them into the database file. `immutable=1` reads that file
    // alone, ignoring the WAL.
    // While a checkpoint is copying pages in, such a read can see a half-written file
    // ("malformed"): that is "not yet", and only a clean read of all 200 rows passes.
    let uri = format!("file:{}?immutable=1", path.display());
    let in_file = || -> rusqlite::Result<i64> {
        let c = Connection::open_with_flags(
            &uri,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )?;
        c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = in_file();
    while seen.as_ref().map_or(true, |&n| n < 200) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen = in_file();
    }
    assert_eq!(seen, Ok(200), "rows checkpointed into the database file");
    const { assert!(200 < presence_gw::store::WRITER_AUTOCHECKPOINT) };
    // Writing goes on, and close still leaves everything in the file.
    enqueue(&store, NewMessage::sms("861", "after"), T0);
    store.close_blocking();
    assert_eq!(in_file(), Ok(201), "nothing writes any more: a clean read");
}

// ---------------------------------------------------------------------------------------------
// Inbox

#[test]
fn a_session_the_smsc_read_out_leaves_no_resend_to_expect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let on = |session: i64, text: &str, at: i64| InboundPdu {
        link_session: Some(session),
        ..sms_pdu("861", text, at)
    };
    assert!(matches!(
        receive(&store, on(7, "WHO 13800138000", T0)),
        Received::Complete(_)
    ));
    assert!(matches!(
        receive(&store, on(9, "GROUPS", T0)),
        Received::Complete(_)
    ));
    // Session 7 unbound with every answer read; 9 did not.
    let forgotten = store
        .write_blocking(|tx| {
            inbox::forget_sessions(tx, &[7], inbox::DEFAULT_DEDUP_WINDOW, T0 + 1_000)
        })
        .unwrap();
    assert_eq!(forgotten, 1);
    assert!(
        matches!(
            receive(&store, on(8, "WHO 13800138000", T0 + 2_000)),
            Received::Complete(_)
        ),
        "the subscriber's repeat on the next session"
    );
    assert_eq!(
        receive(&store, on(8, "GROUPS", T0 + 2_000)),
        Received::Duplicate,
        "session 9 may still have its copy resent"
    );
}

fn receive_keyed(store: &Store, pdu: InboundPdu) -> (Received, i64) {
    store
        .write_blocking(move |tx| inbox::receive_keyed(tx, &pdu, WINDOW))
        .unwrap()
}

fn forget_answered(store: &Store, rows: Vec<i64>) -> usize {
    store
        .write_blocking(move |tx| inbox::forget_answered(tx, &rows))
        .unwrap()
}

#[test]
fn answers_the_smsc_read_on_a_session_that_dropped_leave_no_resend_to_expect() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let on = |session: i64, text: &str, at: i64| InboundPdu {
        link_session: Some(session),
        ..sms_pdu("861", text, at)
    };
    // Session 7 drops; the SMSC had read the answers to WHO and GROUPS, not to NAME's.
    let (who, who_row) = receive_keyed(&store, on(7, "WHO 13800138000", T0));
    assert!(matches!(who, Received::Complete(_)));
    let (_, groups_row) = receive_keyed(&store, on(7, "GROUPS", T0 + 1_000));
    let (_, name_row) = receive_keyed(&store, on(7, "NAME Li", T0 + 2_000));
    assert_eq!(forget_answered(&store, vec![who_row, groups_row]), 2);
    assert!(
        matches!(
            receive(&store, on(8, "WHO 13800138000", T0 + 3_000)),
            Received::Complete(_)
        ),
        "the subscriber's repeat on the next session"
    );
    assert_eq!(
        receive(&store, on(8, "NAME Li", T0 + 3_000)),
        Received::Duplicate,
        "an answer not known read: its PDU may come again"
    );
    // A duplicate names the row of the copy it repeats; once its own answer is known read,
    // that key goes too.
    let (dup, row) = receive_keyed(&store, on(9, "NAME Li", T0 + 4_000));
    assert_eq!((dup, row), (Received::Duplicate, name_row));
    assert_eq!(forget_answered(&store, vec![row]), 1);
    assert!(matches!(
        receive(&store, on(10, "NAME Li", T0 + 5_000)),
        Received::Complete(_)
    ));
    // A key taken since by a repeat on the same session stays with the repeat (its answer
    // is not known read); a retired one is not counted again.
    let (_, first) = receive_keyed(&store, on(11, "BUSY", T0 + 6_000));
    let (again, second) = receive_keyed(&store, on(11, "BUSY", T0 + 7_000));
    assert!(matches!(again, Received::Complete(_)));
    assert_ne!(first, second);
    assert_eq!(forget_answered(&store, vec![first, who_row]), 0);
    assert_eq!(
        receive(&store, on(12, "BUSY", T0 + 8_000)),
        Received::Duplicate
    );
    // A part names its own row, a part resent its first copy's.
    let part = |session: i64, at: i64| InboundPdu {
        link_session: Some(session),
        ..part_pdu(1, 2, 9, "part one", at)
    };
    let (partial, part_row) = receive_keyed(&store, part(7, T0));
    assert_eq!(partial, Received::Partial { pdu_id: part_row });
    assert_eq!(
        receive_keyed(&store, part(8, T0 + 1_000)),
        (Received::Duplicate, part_row)
    );
    assert_eq!(forget_answered(&store, vec![]), 0);
}

#[test]
fn the_same_text_again_on_the_same_session_is_a_new_command_and_on_a_later_one_a_resend() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let on = |session: i64, text: &str, at: i64| InboundPdu {
        link_session: Some(session),
        ..sms_pdu("861", text, at)
    };
    // FREE, BUSY, FREE again within a minute, on one session: three commands.
    for (text, at) in [
        ("STATUS FAMILY FREE", T0),
        ("STATUS FAMILY BUSY", T0 + 20_000),
    ] {
        assert!(matches!(
            receive(&store, on(7, text, at)),
            Received::Complete(_)
        ));
    }
    assert!(matches!(
        receive(&store, on(7, "STATUS FAMILY FREE", T0 + 40_000)),
        Received::Complete(_)
    ));
    // The SMSC resends the last one on a new session (its answer was lost with the link).
    assert_eq!(
        receive(&store, on(8, "STATUS FAMILY FREE", T0 + 45_000)),
        Received::Duplicate
    );
    // ...and after that, the subscriber's own repeat on the new session is new again.
    assert!(matches!(
        receive(&store, on(8, "STATUS FAMILY FREE", T0 + 50_000)),
        Received::Complete(_)
    ));
    // Without a known session (a tool, an old row) the window decides, as before.
    assert_eq!(
        receive(&store, sms_pdu("861", "STATUS FAMILY FREE", T0 + 55_000)),
        Received::Duplicate
    );
    // Parts on one session are still resends: their key has no text.
    let part = |session: i64, at: i64| InboundPdu {
        link_session: Some(session),
        ..part_pdu(1, 2, 9, "part one", at)
    };
    assert!(matches!(
        receive(&store, part(7, T0)),
        Received::Partial { .. }
    ));
    assert_eq!(receive(&store, part(7, T0 + 5_000)), Received::Duplicate);
}

#[test]
fn whole_message_duplicates_within_the_window_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));

    let first = receive(&store, sms_pdu("861", "STATUS busy", T0));
    let Received::Complete(msg) = first else {
        panic!("a whole message completes at once: {first:?}")
    };
    assert_eq!(msg.parts, vec![b"STATUS busy".to_vec()]);
    assert_eq!(msg.source, "861");
    assert_eq!(
        receive(&store, sms_pdu("861", "STATUS busy", T0 + 60_000)),
        Received::Duplicate
    );
    // Other sender or other text: new.
    assert!(matches!(
        receive(&store, sms_pdu("862", "STATUS busy", T0 + 60_000)),
        Received::Complete(_)
    ));
    assert!(matches!(
        receive(&store, sms_pdu("861", "STATUS free", T0 + 60_000)),
        Received::Complete(_)
    ));
    // After the window the same text is a new message.
    assert!(matches!(
        receive(
            &store,
            sms_pdu("861", "STATUS busy", T0 + WINDOW.as_millis() as i64 + 1)
        ),
        Received::Complete(_)
    ));
    // A distinct SMSC message id makes it distinct.
    let mut with_id = sms_pdu("861", "STATUS free", T0 + 61_000);
    with_id.smsc_message_id = Some("abc".into());
    assert!(matches!(
        receive(&store, with_id.clone()),
        Received::Complete(_)
    ));
    assert_eq!(receive(&store, with_id), Received::Duplicate);

    let pending = store
        .read_blocking(|c| inbox::pending_messages(c, 100))
        .unwrap();
    assert_eq!(pending.len(), 5);
    assert_eq!(
        count(&store, "SELECT count(*) FROM inbox_pdu"),
        5,
        "duplicates rejected by the dedup key leave no PDU row"
    );
    // Whole messages are written complete: PDU assembled, its one part attached.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_pdu WHERE state = 'assembled'"
        ),
        5
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_part p JOIN inbox_message m ON m.id = p.message_id
             JOIN inbox_pdu d ON d.id = p.pdu_id WHERE m.total = 1 AND p.seq = 1"
        ),
        5
    );
}

#[test]
fn parts_complete_in_any_order_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));

    assert!(matches!(
        receive(&store, part_pdu(3, 3, 300, "C", T0)),
        Received::Partial { .. }
    ));
    assert!(matches!(
        receive(&store, part_pdu(1, 3, 300, "A", T0 + 1)),
        Received::Partial { .. }
    ));
    assert_eq!(
        receive(&store, part_pdu(1, 3, 300, "A", T0 + 2)),
        Received::Duplicate
    );
    let done = receive(&store, part_pdu(2, 3, 300, "B", T0 + 3));
    let Received::Complete(msg) = done else {
        panic!("third distinct part completes: {done:?}")
    };
    assert_eq!(msg.parts, [b"A".to_vec(), b"B".to_vec(), b"C".to_vec()]);
    assert_eq!(msg.payload(), b"ABC");
    assert_eq!(msg.received_at, T0 + 3);
    assert_eq!(msg.esm_class, 0x40);

    // Every part re-sent after the message was handed on: nothing new.
    for seq in 1..=3 {
        assert_eq!(
            receive(&store, part_pdu(seq, 3, 300, "X", T0 + 10)),
            Received::Duplicate
        );
    }
    // Exactly once through mark_processed.
    let id = msg.id;
    assert!(store
        .write_blocking(move |tx| inbox::mark_processed(tx, id, T0 + 20))
        .unwrap());
    assert!(!store
        .write_blocking(move |tx| inbox::mark_processed(tx, id, T0 + 21))
        .unwrap());
    assert!(store
        .read_blocking(|c| inbox::pending_messages(c, 10))
        .unwrap()
        .is_empty());
    // A different reference from the same sender is another message.
    assert!(matches!(
        receive(&store, part_pdu(1, 3, 301, "A", T0 + 30)),
        Received::Partial { .. }
    ));
    let counts = store.read_blocking(inbox::counts).unwrap();
    assert_eq!((counts.pending_messages, counts.open_parts), (0, 1));
}

#[test]
fn take_complete_hands_a_message_on_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let (first, second) = store
        .write_blocking(|tx| {
            let pdu = part_pdu(1, 1, 9, "solo", T0);
            let inbox::RecordOutcome::New(pdu_id) = inbox::record_part(tx, &pdu, WINDOW)? else {
                return Err(StoreError::NotFound {
                    table: "inbox_pdu",
                    id: 0,
                });
            };
            let key = pdu.message_key(pdu_id);
            Ok((
                inbox::take_complete(tx, &key)?,
                inbox::take_complete(tx, &key)?,
            ))
        })
        .unwrap();
    assert_eq!(first.expect("complete").parts, [b"solo".to_vec()]);
    assert_eq!(second, None);
}

#[test]
fn parts_and_pending_messages_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open(&path);
    receive(&store, part_pdu(2, 3, 77, "world", T0));
    receive(&store, part_pdu(3, 3, 77, "!", T0 + 1));
    assert!(matches!(
        receive(&store, sms_pdu("865", "WHO", T0 + 2)),
        Received::Complete(_)
    ));
    drop(store); // no close

    let store = open(&path);
    // The complete message not yet processed is handed on again.
    let pending = store
        .read_blocking(|c| inbox::pending_messages(c, 10))
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].payload(), b"WHO");
    // A duplicate of a part stored before the restart is still a duplicate.
    assert_eq!(
        receive(&store, part_pdu(3, 3, 77, "!", T0 + 5)),
        Received::Duplicate
    );
    let done = receive(&store, part_pdu(1, 3, 77, "hello ", T0 + 6));
    let Received::Complete(msg) = done else {
        panic!("completes after reopen: {done:?}")
    };
    assert_eq!(msg.payload(), b"hello world!");
    drop(store);

    let store = open(&path);
    let pending = store
        .read_blocking(|c| inbox::pending_messages(c, 10))
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[1], msg);
}

#[test]
fn a_reused_reference_drops_the_stale_parts_instead_of_mixing_them_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    // Message A (reference 7) lost its part 2.
    receive(&store, part_pdu(1, 2, 7, "AAAA part one ", T0));
    // The SMSC sends A's part 1 again much later: still the same part, a duplicate.
    assert_eq!(
        receive(&store, part_pdu(1, 2, 7, "AAAA part one ", T0 + 600_000)),
        Received::Duplicate
    );
    // Message B reuses reference 7: its part 1 replaces A's, and B completes as itself.
    let b1 = receive(&store, part_pdu(1, 2, 7, "BBBB part one ", T0 + 800_000));
    assert!(matches!(b1, Received::Partial { .. }), "{b1:?}");
    let Received::Complete(msg) = receive(&store, part_pdu(2, 2, 7, "BBBB two", T0 + 800_001))
    else {
        panic!("B did not complete")
    };
    assert_eq!(msg.payload(), b"BBBB part one BBBB two");
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_pdu WHERE state = 'expired'"
        ),
        1,
        "A's part is kept, marked expired"
    );
}

#[test]
fn pending_messages_at_the_head_do_not_block_the_inbox_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    // Three old messages never applied (pending), then five old ones applied.
    let mut processed = Vec::new();
    for i in 0..8 {
        let Received::Complete(m) = receive(&store, sms_pdu("861", &format!("cmd {i}"), T0 + i))
        else {
            panic!("whole message")
        };
        if i >= 3 {
            processed.push(m.id);
        }
    }
    let ids = processed.clone();
    store
        .write_blocking(move |tx| {
            for id in ids {
                inbox::mark_processed(tx, id, T0 + 100)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // Batches of three: the first already reaches processed rows.
    let (messages, _) = store
        .write_blocking(|tx| inbox::purge(tx, T0 + 1_000_000, Some(3)))
        .unwrap();
    assert_eq!(messages, 3);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_message WHERE state = 'pending'"
        ),
        3,
        "pending messages are never purged"
    );
}

#[test]
fn incomplete_parts_expire_and_old_rows_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    receive(&store, part_pdu(1, 2, 5, "old", T0));
    receive(&store, part_pdu(1, 2, 6, "new", T0 + 100_000));
    let expired = store
        .write_blocking(|tx| inbox::expire_incomplete(tx, T0 + 50_000))
        .unwrap();
    assert_eq!(
        expired,
        vec![inbox::Abandoned {
            source: "8613800000001".into(),
            destination: sms_pdu("8613800000001", "x", T0).destination,
            arrived: 1,
            total: 2,
        }]
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_pdu WHERE state = 'expired'"
        ),
        1
    );
    // The surviving message still completes; the expired one needs both parts again.
    assert!(matches!(
        receive(&store, part_pdu(2, 2, 6, "!", T0 + 100_001)),
        Received::Complete(_)
    ));
    assert!(matches!(
        receive(&store, part_pdu(2, 2, 5, "late", T0 + 100_002)),
        Received::Partial { .. }
    ));
    let Received::Complete(msg) = receive(&store, sms_pdu("861", "hi", T0)) else {
        panic!("whole message")
    };
    let id = msg.id;
    store
        .write_blocking(move |tx| inbox::mark_processed(tx, id, T0))
        .unwrap();
    let (messages, pdus) = store
        .write_blocking(|tx| inbox::purge(tx, T0 + 1, None))
        .unwrap();
    let purged = messages + pdus;
    // The processed message and its PDU (part rows go with the message), plus the expired PDU.
    assert_eq!(purged, 3);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM inbox_message WHERE state = 'processed'"
        ),
        0
    );
    assert_eq!(count(&store, "SELECT count(*) FROM inbox_message"), 1);
}

#[test]
fn invalid_part_numbers_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let bad = part_pdu(4, 3, 1, "x", T0);
    let result = store.write_blocking(move |tx| inbox::receive(tx, &bad, WINDOW));
    assert!(matches!(
        result,
        Err(StoreError::InvalidPart { seq: 4, total: 3 })
    ));
}

// ---------------------------------------------------------------------------------------------
// Outbox

fn keyed(body: &str, key: &str) -> NewMessage {
    NewMessage {
        coalesce_key: Some(key.into()),
        ..NewMessage::sms("861", body)
    }
}

#[test]
fn replaced_content_gets_another_concatenation_reference() {
    // A handset holding a part of the old content must not join it with the new one; the
    // same content keeps its reference (a retry sends only the missing parts).
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let a = enqueue(&store, keyed("busy", "alice->bob"), T0);
    let first = row(&store, a.id).concat_reference();
    assert_eq!(row(&store, a.id).concat_reference(), first);
    let mut refs = vec![first];
    for (i, body) in ["away", "busy", "free", "dnd", "off"]
        .into_iter()
        .enumerate()
    {
        let e = enqueue(&store, keyed(body, "alice->bob"), T0 + 1 + i as i64);
        assert_eq!(e.id, a.id, "replaced in place");
        refs.push(row(&store, a.id).concat_reference());
    }
    let low_bytes: std::collections::HashSet<u8> = refs.iter().map(|r| *r as u8).collect();
    assert!(
        low_bytes.len() >= 5,
        "8-bit references barely differ: {refs:?}"
    );
}

#[test]
fn coalescing_keeps_only_the_latest_unsent_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let a = enqueue(&store, keyed("busy", "alice->bob"), T0);
    let b = enqueue(&store, keyed("free", "alice->bob"), T0 + 1);
    assert!(!a.coalesced);
    assert_eq!(
        b,
        outbox::Enqueued {
            id: a.id,
            coalesced: true
        }
    );
    assert_eq!(row(&store, a.id).body.as_deref(), Some("free"));
    let other = enqueue(&store, keyed("busy", "alice->carol"), T0 + 2);
    assert_ne!(other.id, a.id);

    // Once in flight, a new status makes a new row...
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 3, 10))
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let c = enqueue(&store, keyed("away", "alice->bob"), T0 + 4);
    assert!(!c.coalesced);
    // ...and when the older one comes back to the queue, the newer content wins.
    let id = a.id;
    let back = store
        .write_blocking(move |tx| outbox::retry_later(tx, id, T0 + 5, "throttled", T0 + 5))
        .unwrap();
    assert_eq!(back, Requeued::Superseded { by: c.id });
    assert_eq!(row(&store, a.id).state, OutboxState::Superseded);
    // A second retry of the same row changes nothing.
    let again = store
        .write_blocking(move |tx| outbox::retry_later(tx, id, T0 + 6, "x", T0 + 6))
        .unwrap();
    assert_eq!(again, Requeued::NotInFlight);

    // The reverse: the queued row is older than the returning one.
    let other_id = other.id;
    let d = enqueue(&store, keyed("old", "alice->carol"), T0 + 7);
    // `other` (content T0+2) is in flight; `d` (T0+7) is queued: requeue keeps `d`.
    store
        .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 8))
        .unwrap();
    assert_eq!(row(&store, other_id).state, OutboxState::Superseded);
    assert_eq!(row(&store, d.id).state, OutboxState::Queued);
    let counts = store.read_blocking(outbox::counts_by_state).unwrap();
    assert_eq!((counts.queued, counts.superseded), (2, 2));
}

/// A row none of whose segments went out (the session closed first) goes back in its old place
/// with its attempt not counted; a row interrupted in flight (crash, disconnect) goes back in
/// its old place too, ahead of rows queued after it, its attempt counted.
#[test]
fn unsent_and_interrupted_rows_keep_their_place_and_only_unsent_keep_their_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let first = enqueue(&store, NewMessage::sms("861", "first"), T0).id;
    let second = enqueue(&store, NewMessage::sms("862", "second"), T0 + 1).id;
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 10, 2))
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let later = enqueue(&store, NewMessage::sms("863", "later"), T0 + 20).id;
    let attempts = vec![
        outbox::Attempt {
            outbox_id: first,
            attempt: 1,
            accepted: Vec::new(),
            end: outbox::AttemptEnd::NotSent,
        },
        outbox::Attempt {
            outbox_id: second,
            attempt: 1,
            accepted: Vec::new(),
            end: outbox::AttemptEnd::NotSent,
        },
    ];
    let results = store
        .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, T0 + 30))
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    for id in [first, second] {
        let r = row(&store, id);
        assert_eq!((r.state, r.attempts), (OutboxState::Queued, 0), "{r:?}");
    }
    let order = |at: i64| {
        store
            .write_blocking(move |tx| outbox::claim_due(tx, at, 10))
            .unwrap()
            .iter()
            .map(|r| (r.id, r.attempts))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        order(T0 + 40),
        [(first, 1), (second, 1), (later, 1)],
        "ahead of the row queued while they were out"
    );
    // A crash (or a disconnect) leaves them in flight: back in the same order, counted.
    store
        .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 50))
        .unwrap();
    let late = enqueue(&store, NewMessage::sms("864", "after the restart"), T0 + 45).id;
    assert_eq!(
        order(T0 + 60),
        [(first, 2), (second, 2), (later, 2), (late, 1)]
    );
}

/// A three-part row whose second part the SMSC refused for good: the operator retries it,
/// and its next claim is a retry (attempts 2), so the dispatcher sends only the part not
/// taken (it looks up earlier segments only for rows past their first attempt).
#[test]
fn an_operator_retry_is_claimed_as_a_retry_so_taken_parts_are_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let id = enqueue(&store, NewMessage::sms("861", "three parts"), T0).id;
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 1))
        .unwrap();
    assert_eq!(claimed[0].attempts, 1);
    let seg = |seq: u8| outbox::AcceptedSegment {
        seq,
        total: 3,
        message_id: format!("a{seq}"),
    };
    let attempts = vec![outbox::Attempt {
        outbox_id: id,
        attempt: 1,
        accepted: vec![seg(1), seg(3)],
        end: outbox::AttemptEnd::Fail("EsmeRinvdstadr".into()),
    }];
    store
        .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, T0 + 1))
        .unwrap();
    assert_eq!(row(&store, id).state, OutboxState::Failed);
    store
        .write_blocking(|tx| outbox::retry_failed(tx, T0 + 2))
        .unwrap();
    let again = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 3, 1))
        .unwrap();
    assert_eq!(again[0].attempts, 2, "claimed as a retry");
    let taken: Vec<u8> = store
        .read_blocking(move |c| outbox::segments(c, id))
        .unwrap()
        .iter()
        .map(|s| s.seq)
        .collect();
    assert_eq!(
        taken,
        [1, 3],
        "the parts the dispatcher will not send again"
    );
}

#[test]
fn claim_orders_by_priority_and_requeue_returns_in_flight_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let low = enqueue(&store, NewMessage::sms("861", "low"), T0).id;
    let high = enqueue(
        &store,
        NewMessage {
            priority: 5,
            ..NewMessage::sms("862", "high")
        },
        T0,
    )
    .id;
    let later = enqueue(
        &store,
        NewMessage {
            not_before: Some(T0 + 60_000),
            ..NewMessage::sms("863", "later")
        },
        T0,
    )
    .id;
    let low2 = enqueue(&store, NewMessage::sms("864", "low2"), T0).id;

    let first = store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 2))
        .unwrap();
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), [high, low]);
    assert!(first
        .iter()
        .all(|r| r.state == OutboxState::InFlight && r.attempts == 1));
    let second = store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    assert_eq!(second.iter().map(|r| r.id).collect::<Vec<_>>(), [low2]);

    assert_eq!(
        store
            .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 1))
            .unwrap(),
        3
    );
    let third = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 60_000, 10))
        .unwrap();
    assert_eq!(
        third.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(),
        [(high, 2), (low, 2), (low2, 2), (later, 1)],
        "within a priority, the earliest due first"
    );
    // retry_later with back-off: not due before `at`.
    store
        .write_blocking(move |tx| outbox::retry_later(tx, low, T0 + 90_000, "ESME_RTHROTTLED", T0))
        .unwrap();
    assert!(store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 89_999, 10))
        .unwrap()
        .is_empty());
    let r = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 90_000, 10))
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].last_error.as_deref(), Some("ESME_RTHROTTLED"));
    assert_eq!(r[0].attempts, 3);
}

#[test]
fn receipt_before_submit_resp_is_held_then_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let id = enqueue(&store, NewMessage::sms("861", "hi"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    // The receipt says 6699 (decimal); the resp will say 1A2B (hex of 6699).
    let variants = sms_wire::receipt::message_id_variants("6699");
    let early = store
        .write_blocking(move |tx| {
            outbox::apply_receipt(
                tx,
                &variants,
                &[],
                "DELIVRD",
                ReceiptState::Delivered,
                T0 + 1,
            )
        })
        .unwrap();
    assert_eq!(early, ReceiptMatch::Unknown);
    assert_eq!(
        store
            .read_blocking(outbox::counts_by_state)
            .unwrap()
            .pending_receipts,
        1
    );
    // The resp's id is the receipt's only in another base: not claimed at once (another
    // message could own that form), but once the response timeout has passed.
    let applied = store
        .write_blocking(move |tx| {
            outbox::record_segment_submitted(tx, id, 1, 1, "00001A2B", T0 + 2)
        })
        .unwrap();
    assert_eq!(applied, ReceiptMatch::Unknown);
    let too_soon = store
        .write_blocking(|tx| outbox::resolve_held_receipts(tx, T0, T0 + 3, outbox::OtherBase::Auto))
        .unwrap();
    assert_eq!(too_soon.applied, 0, "held less than the grace period");
    let resolved = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 1, T0 + 20, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!(resolved.applied, 1);
    // The dispatcher's own mark comes late and must not undo the delivery.
    assert!(!store
        .write_blocking(move |tx| outbox::mark_submitted(tx, id, T0 + 30))
        .unwrap());
    assert_eq!(row(&store, id).state, OutboxState::Delivered);
    let segs = store
        .read_blocking(move |c| outbox::segments(c, id))
        .unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].smsc_message_id, "1a2b");
    assert_eq!(segs[0].smsc_message_id_raw, "00001A2B");
    assert_eq!(segs[0].state, SegmentState::Delivered);
    assert_eq!(
        count(&store, "SELECT count(*) FROM pending_receipt"),
        0,
        "held receipt consumed"
    );
}

#[test]
fn an_early_receipt_never_lands_on_another_message_through_the_other_base() {
    // gw_node.sh found it: message a has hex id "15" (= decimal 21); the receipt for message
    // b, id "21", arrives before b's resp is recorded. It must wait for b, not hit a.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let a = enqueue(&store, NewMessage::sms("861", "a"), T0).id;
    let b = enqueue(&store, NewMessage::sms("862", "b"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, a, 1, 1, "15", T0 + 1))
        .unwrap();
    let variants = sms_wire::receipt::message_id_variants("21");
    let early = store
        .write_blocking(move |tx| {
            outbox::apply_receipt(
                tx,
                &variants,
                &[],
                "DELIVRD",
                ReceiptState::Delivered,
                T0 + 2,
            )
        })
        .unwrap();
    assert_eq!(early, ReceiptMatch::Unknown, "held, not applied to a");
    let claimed = store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, b, 1, 1, "21", T0 + 3))
        .unwrap();
    assert!(matches!(claimed, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == b));
    assert_eq!(row(&store, b).state, OutboxState::Delivered);
    assert_ne!(row(&store, a).state, OutboxState::Delivered);
    // Nothing left for the other-base pass to misapply.
    let later = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 100, T0 + 100, outbox::OtherBase::Always)
        })
        .unwrap();
    assert_eq!(later.applied, 0);
    assert_ne!(row(&store, a).state, OutboxState::Delivered);
}

/// A message to `to`, claimed at `at` (in flight).
fn claimed(store: &Store, to: &str, at: i64) -> i64 {
    let id = enqueue(store, NewMessage::sms(to, "hi"), at).id;
    store
        .write_blocking(move |tx| outbox::claim_due(tx, at, 1000))
        .unwrap();
    id
}

/// A message to `to` the SMSC accepted at `at` with id `smsc_id` (submitted).
fn sent(store: &Store, to: &str, smsc_id: &'static str, at: i64) -> i64 {
    let id = claimed(store, to, at);
    store
        .write_blocking(move |tx| {
            outbox::record_segment_submitted(tx, id, 1, 1, smsc_id, at)?;
            outbox::mark_submitted(tx, id, at)
        })
        .unwrap();
    id
}

/// A receipt for SMSC id `id` naming handset `source`, applied at `at`.
fn receipt_from(store: &Store, id: &str, source: &str, at: i64) -> ReceiptMatch {
    let variants = sms_wire::receipt::message_id_variants(id);
    let addresses = outbox::receipt_addresses(source, "10658");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(
                tx,
                &variants,
                &addresses,
                "DELIVRD",
                ReceiptState::Delivered,
                at,
            )
        })
        .unwrap()
}

#[test]
fn a_receipt_for_a_reused_smsc_id_waits_for_its_own_message() {
    // The SMSC restarted its counter (or a failover's standby counts from 1 too): message
    // `old` to +8613800000001 got id 7 long ago; `new` to +8613800000002 gets 7 again and its
    // receipt comes before its response. It names +8613800000002: it must not land on `old`.
    for old_had_its_receipt in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("gw.db"));
        let old = sent(&store, "+8613800000001", "7", T0);
        if old_had_its_receipt {
            let m = receipt_from(&store, "7", "8613800000001", T0 + 1);
            assert!(matches!(m, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == old));
        }
        let old_state = row(&store, old).state;
        let new = claimed(&store, "+8613800000002", T0 + 10);
        let early = receipt_from(&store, "7", "8613800000002", T0 + 11);
        assert_eq!(early, ReceiptMatch::Unknown, "held for its own message");
        assert_eq!(
            row(&store, old).state,
            old_state,
            "the older message untouched"
        );
        let claimed = store
            .write_blocking(move |tx| outbox::record_segment_submitted(tx, new, 1, 1, "7", T0 + 12))
            .unwrap();
        assert!(
            matches!(claimed, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == new),
            "{claimed:?}"
        );
        assert_eq!(row(&store, new).state, OutboxState::Delivered);
        assert_eq!(row(&store, old).state, old_state);
        // After the response: the newest segment for the named number, not the newest.
        let late = receipt_from(&store, "7", "+8613800000001", T0 + 20);
        assert!(
            matches!(late, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == old),
            "{late:?}"
        );
        assert_eq!(row(&store, old).state, OutboxState::Delivered);
        assert_eq!(count(&store, "SELECT count(*) FROM pending_receipt"), 0);
    }
}

#[test]
fn a_held_receipt_is_claimed_only_by_a_segment_for_the_number_it_names() {
    // Two SMSCs (primary and standby) both gave id 5, to x and to y; y's receipt came first.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let x = claimed(&store, "+8613800000001", T0);
    let y = claimed(&store, "+8613800000002", T0);
    assert_eq!(
        receipt_from(&store, "5", "+8613800000002", T0 + 1),
        ReceiptMatch::Unknown
    );
    let by_x = store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, x, 1, 1, "5", T0 + 2))
        .unwrap();
    assert_eq!(by_x, ReceiptMatch::Unknown, "x went to another number");
    assert_eq!(count(&store, "SELECT count(*) FROM pending_receipt"), 1);
    let by_y = store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, y, 1, 1, "5", T0 + 3))
        .unwrap();
    assert!(matches!(by_y, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == y));
    assert_eq!(row(&store, y).state, OutboxState::Delivered);
    assert_eq!(row(&store, x).state, OutboxState::InFlight);
}

#[test]
fn a_receipt_naming_the_number_in_another_form_still_matches() {
    // National with a trunk 0, with 00, swapped into the destination field: the same handset.
    for (source, destination) in [
        ("013800138000", "10658"),
        ("008613800138000", "10658"),
        ("10658", "+8613800138000"),
        ("", ""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("gw.db"));
        let id = sent(&store, "+8613800138000", "9", T0);
        let addresses = outbox::receipt_addresses(source, destination);
        let m = store
            .write_blocking(move |tx| {
                outbox::apply_receipt(
                    tx,
                    &["9".to_string()],
                    &addresses,
                    "DELIVRD",
                    ReceiptState::Delivered,
                    T0 + 1,
                )
            })
            .unwrap();
        assert!(
            matches!(m, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == id),
            "{source:?} / {destination:?}: {m:?}"
        );
    }
}

#[test]
fn receipts_naming_a_wrong_number_are_applied_once_the_grace_has_passed() {
    // An SMSC that writes some other number into its receipts: each is held as for a message
    // not recorded yet, then, with no such message after the response timeout, given to the
    // newest segment with its id, and counted.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let id = sent(&store, "+8613800138000", "abc", T0);
    assert_eq!(
        receipt_from(&store, "abc", "8613999999999", T0 + 1),
        ReceiptMatch::Unknown
    );
    let soon = store
        .write_blocking(|tx| outbox::resolve_held_receipts(tx, T0, T0 + 2, outbox::OtherBase::Auto))
        .unwrap();
    assert_eq!((soon.applied, soon.elsewhere), (0, 0), "within the grace");
    let later = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 1, T0 + 30, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!((later.applied, later.elsewhere), (1, 1));
    assert_eq!(row(&store, id).state, OutboxState::Delivered);
    assert_eq!(count(&store, "SELECT count(*) FROM pending_receipt"), 0);

    // Never to a segment that has its final receipt already: such a receipt is far likelier
    // another message's (resent under a new id after a lost response). It stays held, once.
    assert_eq!(
        receipt_from(&store, "abc", "8613999999998", T0 + 40),
        ReceiptMatch::Unknown
    );
    let done = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 40, T0 + 70, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!((done.applied, done.elsewhere), (0, 0));
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM pending_receipt WHERE stray = 0"
        ),
        1,
        "kept for a late response, not tried again"
    );
}

#[test]
fn a_receipt_left_by_the_segment_with_its_id_still_gets_the_last_resort() {
    // Held before any segment had its id ("5": one form only, no other-base pass); the
    // segment then recorded with it went to another number, so it left the receipt. With no
    // other segment after the grace, the receipt is that segment's after all.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let x = claimed(&store, "+8613800000001", T0);
    assert_eq!(
        receipt_from(&store, "5", "+8613800000002", T0 + 1),
        ReceiptMatch::Unknown
    );
    let by_x = store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, x, 1, 1, "5", T0 + 2))
        .unwrap();
    assert_eq!(by_x, ReceiptMatch::Unknown);
    let later = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 1, T0 + 30, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!((later.applied, later.elsewhere), (1, 1));
    assert_eq!(row(&store, x).state, OutboxState::Delivered);
}

#[test]
fn receipts_of_two_handsets_for_one_reused_id_are_both_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let a = claimed(&store, "+8613800000001", T0);
    let b = claimed(&store, "+8613800000002", T0);
    for n in ["+8613800000001", "+8613800000002", "+8613800000002"] {
        assert_eq!(receipt_from(&store, "5", n, T0 + 1), ReceiptMatch::Unknown);
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(DISTINCT group_id) FROM pending_receipt"
        ),
        2,
        "one each, the resent one once"
    );
    for id in [a, b] {
        let got = store
            .write_blocking(move |tx| outbox::record_segment_submitted(tx, id, 1, 1, "5", T0 + 2))
            .unwrap();
        assert!(matches!(got, ReceiptMatch::Matched { outbox_id, .. } if outbox_id == id));
        assert_eq!(row(&store, id).state, OutboxState::Delivered);
    }
}

#[test]
fn a_receipt_for_a_lost_response_is_never_read_in_the_other_base_once_ids_matched_exactly() {
    // The SMSC accepted a submit whose response was lost (id "21" never recorded); the row went
    // again and got another id. Its receipt must not land on message a ("15" = hex of 21).
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let a = enqueue(&store, NewMessage::sms("861", "a"), T0).id;
    let c = enqueue(&store, NewMessage::sms("863", "c"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    store
        .write_blocking(move |tx| {
            outbox::record_segment_submitted(tx, a, 1, 1, "15", T0 + 1)?;
            outbox::record_segment_submitted(tx, c, 1, 1, "30", T0 + 1)
        })
        .unwrap();
    // c's receipt matches exactly: this SMSC writes receipts in its responses' base.
    let v = sms_wire::receipt::message_id_variants("30");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(tx, &v, &[], "DELIVRD", ReceiptState::Delivered, T0 + 2)
        })
        .unwrap();
    assert_eq!(row(&store, c).state, OutboxState::Delivered);
    let lost = sms_wire::receipt::message_id_variants("21");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(tx, &lost, &[], "UNDELIV", ReceiptState::Failed, T0 + 3)
        })
        .unwrap();
    let n = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 50, T0 + 60, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!(n.applied, 0);
    assert_eq!(row(&store, a).state, OutboxState::InFlight, "a untouched");
    // Held receipts do not pile up forever.
    let dropped = store
        .write_blocking(|tx| outbox::drop_held_receipts(tx, T0 + 100))
        .unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(count(&store, "SELECT count(*) FROM pending_receipt"), 0);
}

#[test]
fn ids_that_read_the_same_in_both_bases_do_not_turn_the_other_base_off() {
    // An SMSC answering in decimal and writing receipts in hex, from id 1: receipts "1" to
    // "9" match exactly (both bases agree), and must not be taken for proof that the SMSC
    // keeps one base: message 10's receipt "a" still matches through the other base.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let ids: Vec<i64> = (1..=10)
        .map(|i| enqueue(&store, NewMessage::sms(format!("86{i}"), "x"), T0).id)
        .collect();
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 20))
        .unwrap();
    let recorded = ids.clone();
    store
        .write_blocking(move |tx| {
            for (n, id) in recorded.iter().enumerate() {
                let smsc_id = (n + 1).to_string();
                outbox::record_segment_submitted(tx, *id, 1, 1, &smsc_id, T0 + 1)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    for receipt in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "a"] {
        let v = sms_wire::receipt::message_id_variants(receipt);
        store
            .write_blocking(move |tx| {
                outbox::apply_receipt(tx, &v, &[], "DELIVRD", ReceiptState::Delivered, T0 + 2)
            })
            .unwrap();
    }
    let n = store
        .write_blocking(|tx| {
            outbox::resolve_held_receipts(tx, T0 + 50, T0 + 60, outbox::OtherBase::Auto)
        })
        .unwrap();
    assert_eq!(n.applied, 1, "\"a\" read as decimal 10");
    for id in ids {
        assert_eq!(row(&store, id).state, OutboxState::Delivered, "row {id}");
    }
}

#[test]
fn receipts_that_never_match_do_not_block_the_other_base_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    // 1,200 receipts for ids nobody has (foreign, or for lost responses), then one whose
    // message answered in the other base.
    store
        .write_blocking(|tx| {
            for i in 0..1200u32 {
                let v = sms_wire::receipt::message_id_variants(&format!("{}", 900_000 + i));
                outbox::apply_receipt(tx, &v, &[], "DELIVRD", ReceiptState::Delivered, T0)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let id = enqueue(&store, NewMessage::sms("861", "x"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, id, 1, 1, "1a2b", T0 + 1))
        .unwrap();
    let v = sms_wire::receipt::message_id_variants("6699");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(tx, &v, &[], "DELIVRD", ReceiptState::Delivered, T0 + 2)
        })
        .unwrap();
    // The first pass tries the oldest thousand in vain; the second reaches the rest.
    for pass in 0..2 {
        store
            .write_blocking(move |tx| {
                outbox::resolve_held_receipts(
                    tx,
                    T0 + 10,
                    T0 + 20 + pass,
                    outbox::OtherBase::Always,
                )
            })
            .unwrap();
    }
    assert_eq!(row(&store, id).state, OutboxState::Delivered);
}

#[test]
fn multi_segment_message_is_delivered_when_all_segments_are() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let ok = enqueue(&store, NewMessage::sms("861", "long"), T0).id;
    let bad = enqueue(&store, NewMessage::sms("862", "long"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    store
        .write_blocking(move |tx| {
            for seq in 1..=3u8 {
                outbox::record_segment_submitted(tx, ok, seq, 3, &format!("A{seq}"), T0)?;
                outbox::record_segment_submitted(tx, bad, seq, 3, &format!("B{seq}"), T0)?;
            }
            outbox::mark_submitted(tx, ok, T0)?;
            outbox::mark_submitted(tx, bad, T0)
        })
        .unwrap();
    assert_eq!(row(&store, ok).state, OutboxState::Submitted);

    let receipt = |id: &str, stat: &'static str, state: ReceiptState| {
        let variants = vec![id.to_owned()];
        store
            .write_blocking(move |tx| {
                outbox::apply_receipt(tx, &variants, &[], stat, state, T0 + 10)
            })
            .unwrap()
    };
    // Out of order, with an intermediate receipt that changes nothing.
    assert!(matches!(
        receipt("a3", "ENROUTE", ReceiptState::Intermediate),
        ReceiptMatch::Matched {
            all_segments_final: false,
            state: OutboxState::Submitted,
            ..
        }
    ));
    assert!(matches!(
        receipt("A3", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Matched {
            seq: 3,
            all_segments_final: false,
            state: OutboxState::Submitted,
            ..
        }
    ));
    assert!(matches!(
        receipt("A1", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Matched {
            all_segments_final: false,
            state: OutboxState::Submitted,
            ..
        }
    ));
    assert_eq!(
        receipt("A2", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Matched {
            outbox_id: ok,
            seq: 2,
            all_segments_final: true,
            state: OutboxState::Delivered,
            changed: true,
        }
    );
    // A repeated receipt is harmless.
    assert!(matches!(
        receipt("A2", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Matched {
            state: OutboxState::Delivered,
            changed: false,
            ..
        }
    ));

    // One failed segment fails the message, with the reason kept.
    receipt("B1", "DELIVRD", ReceiptState::Delivered);
    assert!(matches!(
        receipt("B2", "UNDELIV", ReceiptState::Failed),
        ReceiptMatch::Matched {
            all_segments_final: false,
            state: OutboxState::Failed,
            ..
        }
    ));
    let failed = row(&store, bad);
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("receipt UNDELIV for segment 2/3")
    );
    assert_eq!(
        receipt("Z9", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Unknown
    );
}

#[test]
fn resubmitted_segments_count_once_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let id = enqueue(&store, NewMessage::sms("861", "two"), T0).id;
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 1))
        .unwrap();
    // Segment 1 accepted, then the link drops: back to the queue, resent with new ids.
    store
        .write_blocking(move |tx| outbox::record_segment_submitted(tx, id, 1, 2, "100", T0))
        .unwrap();
    store
        .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 1))
        .unwrap();
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 1, 1))
        .unwrap();
    store
        .write_blocking(move |tx| {
            outbox::record_segment_submitted(tx, id, 1, 2, "200", T0 + 2)?;
            outbox::record_segment_submitted(tx, id, 2, 2, "201", T0 + 2)?;
            outbox::mark_submitted(tx, id, T0 + 2)
        })
        .unwrap();
    let apply = |mid: &str, stat: &'static str, state| {
        let v = vec![mid.to_owned()];
        store
            .write_blocking(move |tx| outbox::apply_receipt(tx, &v, &[], stat, state, T0 + 5))
            .unwrap()
    };
    // The first submission of segment 1 fails, but the second is still pending: not failed.
    assert!(matches!(
        apply("100", "UNDELIV", ReceiptState::Failed),
        ReceiptMatch::Matched {
            state: OutboxState::Submitted,
            ..
        }
    ));
    apply("200", "DELIVRD", ReceiptState::Delivered);
    assert!(matches!(
        apply("201", "DELIVRD", ReceiptState::Delivered),
        ReceiptMatch::Matched {
            all_segments_final: true,
            state: OutboxState::Delivered,
            ..
        }
    ));
    let segs = store
        .read_blocking(move |c| outbox::segments(c, id))
        .unwrap();
    assert_eq!(
        segs.iter().map(|s| (s.seq, s.attempt)).collect::<Vec<_>>(),
        [(1, 1), (1, 2), (2, 2)]
    );
}

#[test]
fn expiry_failure_retry_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let short = enqueue(
        &store,
        NewMessage {
            expires_at: Some(T0 + 1_000),
            ..NewMessage::sms("861", "short-lived")
        },
        T0,
    )
    .id;
    let bad = enqueue(&store, NewMessage::sms("000", "bad number"), T0).id;
    // Past its validity it is never claimed...
    let claimed = store
        .write_blocking(|tx| outbox::claim_due(tx, T0 + 2_000, 10))
        .unwrap();
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), [bad]);
    // ...and expire_due marks it.
    let expired = store
        .write_blocking(|tx| outbox::expire_due(tx, T0 + 2_000))
        .unwrap();
    assert_eq!(expired, [short]);
    assert_eq!(row(&store, short).state, OutboxState::Expired);

    assert!(store
        .write_blocking(move |tx| outbox::fail(tx, bad, "ESME_RINVDSTADR", T0 + 2_000))
        .unwrap());
    assert!(!store
        .write_blocking(move |tx| outbox::fail(tx, short, "late", T0 + 2_000))
        .unwrap());
    let listed = store
        .read_blocking(|c| outbox::list(c, Some(OutboxState::Failed), 10))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("ESME_RINVDSTADR"));

    assert_eq!(
        store
            .write_blocking(|tx| outbox::retry_failed(tx, T0 + 3_000))
            .unwrap(),
        1
    );
    let again = row(&store, bad);
    assert_eq!((again.state, again.attempts), (OutboxState::Queued, 1));

    // A receipt held for a response not recorded yet: the SMSC was told it was taken.
    let v = sms_wire::receipt::message_id_variants("feedbeef");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(tx, &v, &[], "DELIVRD", ReceiptState::Delivered, T0 + 5_000)
        })
        .unwrap();
    let purged = store
        .write_blocking(|tx| outbox::purge(tx, T0 + 10_000, T0 + 10_000, 100))
        .unwrap();
    assert_eq!(
        purged, 1,
        "only the expired row is final; the young held receipt stays"
    );
    assert!(count(&store, "SELECT count(*) FROM pending_receipt") > 0);
    let later = T0 + outbox::HELD_RECEIPT_TTL_MS + 10_000;
    store
        .write_blocking(move |tx| outbox::purge(tx, later, later, 100))
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM pending_receipt"), 0);
    assert!(store
        .read_blocking(move |c| outbox::get(c, short))
        .unwrap()
        .is_none());
    assert!(store
        .read_blocking(move |c| outbox::get(c, bad))
        .unwrap()
        .is_some());
}

/// An operator retries the failed rows asked for: by id, or those that failed recently, a
/// batch a transaction; the others stay failed.
#[test]
fn an_operator_retry_takes_the_rows_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let ids: Vec<i64> = (0..5)
        .map(|i| enqueue(&store, NewMessage::sms(format!("86{i}"), "x"), T0).id)
        .collect();
    store
        .write_blocking(|tx| outbox::claim_due(tx, T0, 10))
        .unwrap();
    for (k, &id) in ids.iter().enumerate() {
        // The first failed long ago, the last after the command began (a running gateway
        // failing it again), the others recently.
        let at = match k {
            0 => T0 + 1,
            4 => T0 + 300_000,
            _ => T0 + 100_000,
        };
        store
            .write_blocking(move |tx| outbox::fail(tx, id, "ESME_RSYSERR (0x00000008)", at))
            .unwrap();
    }
    let state = |id: i64| row(&store, id).state;
    let by_id = outbox::RetryFilter {
        ids: vec![ids[2]],
        failed_since: None,
        failed_before: None,
        valid_until: Some(T0 + 9_000_000),
    };
    assert_eq!(
        presence_gw::admin::retry_failed(&store, &by_id, T0 + 200_000, 10).unwrap(),
        1
    );
    assert_eq!(state(ids[2]), OutboxState::Queued);
    assert_eq!(
        row(&store, ids[2]).expires_at,
        Some(T0 + 9_000_000),
        "a fresh validity"
    );
    assert_eq!(state(ids[1]), OutboxState::Failed);
    let recent = outbox::RetryFilter {
        ids: Vec::new(),
        failed_since: Some(T0 + 50_000),
        failed_before: None,
        valid_until: None,
    };
    // One row a transaction: still every recent one.
    assert_eq!(
        presence_gw::admin::retry_failed(&store, &recent, T0 + 200_000, 1).unwrap(),
        2
    );
    assert_eq!(
        state(ids[0]),
        OutboxState::Failed,
        "failed before the window"
    );
    assert_eq!(state(ids[1]), OutboxState::Queued);
    assert_eq!(state(ids[3]), OutboxState::Queued);
    assert_eq!(
        state(ids[4]),
        OutboxState::Failed,
        "failed again after the command began: not taken twice"
    );
}

#[test]
fn an_operator_purge_goes_in_batches_and_leaves_nothing_final_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    for i in 0..7 {
        let m = NewMessage {
            expires_at: Some(T0 + 1_000),
            ..NewMessage::sms(format!("86{i}"), "short-lived")
        };
        enqueue(&store, m, T0);
    }
    let kept = enqueue(&store, NewMessage::sms("869", "still queued"), T0).id;
    store
        .write_blocking(|tx| outbox::expire_due(tx, T0 + 2_000))
        .unwrap();
    let one = store
        .write_blocking(|tx| outbox::purge(tx, T0 + 10_000, T0 + 10_000, 3))
        .unwrap();
    assert_eq!(one, 3, "one batch deletes at most its limit of a state");
    let rest = presence_gw::admin::purge_outbox(&store, T0 + 10_000, T0 + 10_000, 3).unwrap();
    assert_eq!(rest, 4);
    assert_eq!(count(&store, "SELECT count(*) FROM outbox"), 1);
    assert_eq!(row(&store, kept).state, OutboxState::Queued);
}

// ---------------------------------------------------------------------------------------------
// Crash test

const CRASH_ENV: &str = "PRESENCE_GW_STORE_CRASH_CHILD_DB";

/// Child side: write from several tasks forever, printing each acknowledged write.
fn crash_child(path: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(path, StoreOptions::default()).unwrap();
        let mut tasks = Vec::new();
        for task in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                let mut n = 0u64;
                while std::time::Instant::now() < deadline {
                    let body = format!("crash-{task}-{n}");
                    let msg = NewMessage::sms("861", body.clone());
                    let id = store
                        .write(move |tx| outbox::enqueue(tx, &msg, T0))
                        .await
                        .unwrap()
                        .id;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {id} {body}").unwrap();
                    out.flush().unwrap();
                    n += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Some(path) = std::env::var_os(CRASH_ENV) {
        crash_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "acknowledged_writes_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked: Vec<(i64, String)> = Vec::new();
    let parse = |line: &str| -> Option<(i64, String)> {
        let rest = line.strip_prefix("ACK ")?;
        let (id, body) = rest.split_once(' ')?;
        Some((id.parse().ok()?, body.to_owned()))
    };
    for line in lines.by_ref() {
        if let Some(ack) = parse(&line.unwrap()) {
            acked.push(ack);
            if acked.len() >= 2_000 {
                break;
            }
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child must still be writing when killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acks printed between our last read and the kill count too.
    for line in lines {
        match line {
            Ok(line) => acked.extend(parse(&line)),
            Err(_) => break,
        }
    }
    assert!(acked.len() >= 2_000, "only {} acks", acked.len());

    let store = open(&path);
    let rows: std::collections::HashMap<i64, String> = store
        .read_blocking(|c| {
            let mut stmt = c.prepare("SELECT id, body FROM outbox")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok::<_, StoreError>(rows)
        })
        .unwrap();
    for (id, body) in &acked {
        assert_eq!(
            rows.get(id),
            Some(body),
            "acknowledged write {id} ({body}) lost after SIGKILL"
        );
    }
    assert!(rows.len() >= acked.len());
}

/// A store that waits only 50 ms for a database another process holds.
fn open_impatient(path: &Path) -> Store {
    let opts = StoreOptions {
        busy_timeout: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    Store::open(path, opts).unwrap()
}

/// A write refused because another process holds the database past the busy timeout is
/// transient (the dispatcher tries it again); a statement that is wrong is not.
#[test]
fn a_locked_database_is_a_transient_error_and_a_bad_statement_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open_impatient(&path);
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked = store
        .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "x"), T0))
        .unwrap_err();
    assert!(locked.is_transient(), "{locked:?}");
    other.execute_batch("COMMIT").unwrap();
    store
        .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "x"), T0))
        .expect("written once the lock is gone");
    let wrong = store
        .write_blocking(|tx| {
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])
                .map_err(StoreError::from)
        })
        .unwrap_err();
    assert!(!wrong.is_transient(), "{wrong:?}");
    assert!(!StoreError::Closed.is_transient());
    store.close_blocking();
}

/// `write_patiently` waits out another process that holds the database past the busy timeout,
/// and gives up with the transient error when its patience is spent first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_write_waits_out_a_held_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open_impatient(&path);
    let hold = |ms: u64| {
        let path = path.clone();
        let (held, is_held) = std_mpsc::channel();
        let t = std::thread::spawn(move || {
            let other = Connection::open(&path).unwrap();
            other.execute_batch("BEGIN IMMEDIATE").unwrap();
            held.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(ms));
            other.execute_batch("COMMIT").unwrap();
        });
        is_held.recv().unwrap();
        t
    };
    let enqueue = |tx: &rusqlite::Transaction<'_>| {
        outbox::enqueue(tx, &NewMessage::sms("861", "patient"), T0).map(|e| e.id)
    };

    let holder = hold(600);
    let started = std::time::Instant::now();
    let id = store
        .write_patiently(Duration::from_secs(10), enqueue)
        .await
        .expect("written once the database is free");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(id > 0);
    let retried = store.stats().retried_writes;
    assert!(
        retried >= 2,
        "{retried} retries while the database was held"
    );
    holder.join().unwrap();

    let holder = hold(1_000);
    let refused = store
        .write_patiently(Duration::from_millis(200), enqueue)
        .await
        .unwrap_err();
    assert!(refused.is_transient(), "{refused:?}");
    holder.join().unwrap();
    let rows = store
        .read(|c| {
            c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
                .map_err(StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(rows, 1, "the refused write left nothing");
    store.close().await;
}

/// `store::backup` while the writer is writing: the copy passes `quick_check`, has the schema
/// version, and holds whole transactions only (each writes a pair of rows, so the copy's count
/// is even) and at least every one committed before it began. A second backup to the same
/// file is refused.
#[test]
fn a_backup_during_writes_is_a_consistent_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = open(&path);
    let pair = |tx: &rusqlite::Transaction<'_>| {
        outbox::enqueue(tx, &NewMessage::sms("861", "one"), T0)?;
        outbox::enqueue(tx, &NewMessage::sms("862", "two"), T0)
    };
    for _ in 0..500 {
        store.write_blocking(pair).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.write_blocking(pair).unwrap();
            }
        })
    };
    let to = dir.path().join("copy.db");
    let b = presence_gw::store::backup(&path, &to, Duration::from_secs(5)).expect("backup");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(b.schema_version, SCHEMA_VERSION);
    assert!(b.bytes > 0);
    let copy = Connection::open(&to).unwrap();
    let rows: i64 = copy
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    let now = count(&store, "SELECT count(*) FROM outbox");
    assert!(rows >= 1000 && rows <= now, "copy {rows}, now {now}");
    assert_eq!(rows % 2, 0, "a transaction cut in half: {rows}");
    let again = presence_gw::store::backup(&path, &to, Duration::from_secs(5)).unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    store.close_blocking();
}

/// Retention deletes the avatar rows that say nothing any more, once the owner's avatar
/// changed or went longer ago than the keep period: downloads of a picture that is not the
/// owner's now, and the links of an owner with no avatar (600 of them here: several steps of
/// 500). The download of the current picture, the links of owners who have one, and the rows
/// of an owner whose change is recent stay. `avatar_download` and `avatar_link` rows were never
/// deleted.
#[test]
fn retention_deletes_the_avatar_downloads_and_links_that_say_nothing_any_more() {
    use presence_gw::service::avatar;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let now = presence_gw::store::now_ms();
    let old = T0;
    let (mum, dad) = ("+8613900139000", "+8613700137000");
    store
        .write_blocking(move |tx| {
            tx.execute_batch(
                "INSERT INTO avatar (id, source_sha256, created_at) VALUES (1, 'a', 0), (2, 'b', 0)",
            )?;
            // A: picture 1, downloaded by Mum, then picture 2 (long ago), downloaded by Dad.
            avatar::set_avatar(tx, "A", 1, None, old)?;
            avatar::link_token(tx, "A", mum, old)?;
            avatar::note_download(tx, "A", mum, 1, old)?;
            avatar::set_avatar(tx, "A", 2, None, old)?;
            avatar::note_download(tx, "A", dad, 2, old)?;
            // B..: a picture, a link and a download, then AVATAR OFF long ago.
            for i in 0..600 {
                let owner = format!("B{i}");
                avatar::set_avatar(tx, &owner, 1, None, old)?;
                avatar::link_token(tx, &owner, mum, old)?;
                avatar::note_download(tx, &owner, mum, 1, old)?;
                assert!(avatar::clear_avatar(tx, &owner, old)?);
            }
            // C: picture 1, downloaded by Mum, replaced just now.
            avatar::set_avatar(tx, "C", 1, None, old)?;
            avatar::link_token(tx, "C", mum, old)?;
            avatar::note_download(tx, "C", mum, 1, old)?;
            avatar::set_avatar(tx, "C", 2, None, now)?;
            // D: AVATAR OFF long ago, a picture again just now.
            avatar::set_avatar(tx, "D", 1, None, old)?;
            avatar::link_token(tx, "D", mum, old)?;
            avatar::note_download(tx, "D", mum, 1, old)?;
            avatar::clear_avatar(tx, "D", old)?;
            avatar::set_avatar(tx, "D", 2, None, now)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(count(&store, "SELECT count(*) FROM avatar_link"), 603);

    retention_until(
        &store,
        || count(&store, "SELECT count(*) FROM avatar_stale") <= 1,
        || {
            format!(
                "retention never took the stale avatar rows: {} links, {} downloads",
                count(&store, "SELECT count(*) FROM avatar_link"),
                count(&store, "SELECT count(*) FROM avatar_download"),
            )
        },
    );

    let rows = |sql: &'static str| -> Vec<(String, String)> {
        store
            .read_blocking(move |c| {
                let mut s = c.prepare(sql)?;
                let v = s
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok::<_, StoreError>(v)
            })
            .unwrap()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        rows("SELECT owner, viewer FROM avatar_download ORDER BY owner, viewer"),
        pairs(&[("A", dad), ("C", mum)]),
        "the current picture's download and the recent change's stay"
    );
    assert_eq!(
        rows("SELECT owner, viewer FROM avatar_link ORDER BY owner, viewer"),
        pairs(&[("A", mum), ("C", mum), ("D", mum)]),
        "the links of owners with an avatar stay"
    );
    assert_eq!(
        rows("SELECT owner, '' FROM avatar_stale"),
        pairs(&[("C", "")]),
        "the recent change waits for its keep period"
    );
    store.close_blocking();
}

/// Store picture `name` with one PNG variant per blob in `blobs` (sizes 48, 96, ...; each
/// blob's bytes are its text, and its text is its key), as [`avatar::store_avatar`] does for
/// an upload or a preset; returns its id.
fn store_picture(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    blobs: &[&str],
    at: i64,
) -> Result<i64, StoreError> {
    use presence_gw::service::avatar;
    let v: Vec<avatar::VariantIn<'_>> = blobs
        .iter()
        .zip(1u32..)
        .map(|(b, i)| avatar::VariantIn {
            size: 48 * i,
            format: "png",
            content_type: "image/png",
            bytes: b.as_bytes(),
            sha256: b,
        })
        .collect();
    avatar::store_avatar(tx, name, &v, at)
}

/// Retention deletes the pictures nobody shows any more, once they have been unused longer
/// than the keep period, with their variants and the blobs no other picture uses (600
/// changed-away uploads here, two variants each: several steps of 500 variants): an upload
/// its owner changed away from and one they turned off go, bytes and all. What stays: the
/// current pictures; a preset's picture nobody shows; a picture a queued push carries (put
/// off until keep_days after it was seen in use); a blob shared with a kept picture; a
/// picture picked again before the cut and changed away from again since (unused only since
/// then); and the picture with the highest id, until a newer one is stored (its id would be
/// given again, module docs of `store::retention`). A preset given another picture at an
/// import lists its old one as unused, and given it back takes it off the list. Pictures
/// were never deleted.
#[test]
fn retention_deletes_pictures_nobody_shows_and_their_blobs_after_the_keep_period() {
    use presence_gw::service::avatar;
    use presence_gw::store::retention;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let now = presence_gw::store::now_ms();
    let old = T0;
    let ids = store
        .write_blocking(move |tx| {
            let preset = store_picture(tx, "preset", &["p-48", "p-96"], old)?;
            avatar::add_preset(tx, 1, &"Cat".into(), preset)?;
            let current = store_picture(tx, "current", &["b-48", "b-96"], old)?;
            // A: an upload, changed away from; off: an upload turned off.
            let changed = store_picture(tx, "changed", &["a-48", "a-96"], old)?;
            avatar::set_avatar(tx, "A", changed, None, old)?;
            avatar::set_avatar(tx, "A", current, None, old)?;
            let off = store_picture(tx, "off", &["o-48"], old)?;
            avatar::set_avatar(tx, "OFF", off, None, old)?;
            assert!(avatar::clear_avatar(tx, "OFF", old)?);
            // S: a picture whose small variant is another's (the same pixels, encoded apart).
            let shared_gone = store_picture(tx, "shared-gone", &["s-48", "g-96"], old)?;
            let shared_kept = store_picture(tx, "shared-kept", &["s-48", "k-96"], old)?;
            avatar::set_avatar(tx, "S", shared_gone, None, old)?;
            avatar::set_avatar(tx, "S", shared_kept, None, old)?;
            // P: the preset, then another picture; the preset's picture stays a preset.
            avatar::set_avatar(tx, "P", preset, Some(1), old)?;
            avatar::set_avatar(tx, "P", current, None, old)?;
            // Q: a picture a push carries that has not gone yet, then another picture.
            let pushed = store_picture(tx, "pushed", &["q-48"], old)?;
            avatar::set_avatar(tx, "Q", pushed, None, old)?;
            let push = outbox::enqueue(
                tx,
                &NewMessage::wap_push("+8613900139000", "http://gw/a/t", "New picture"),
                old,
            )?;
            tx.execute(
                "INSERT INTO avatar_push (outbox_id, owner, viewer, avatar_id)
                 VALUES (?1, 'Q', '+8613900139000', ?2)",
                rusqlite::params![push.id, pushed],
            )?;
            avatar::set_avatar(tx, "Q", current, None, old)?;
            // R: changed away from long ago, picked again (the same upload), changed away
            // from again just now.
            let again = store_picture(tx, "again", &["r-48"], old)?;
            avatar::set_avatar(tx, "R", again, None, old)?;
            avatar::set_avatar(tx, "R", current, None, old)?;
            assert_eq!(store_picture(tx, "again", &["r-48"], old + 1)?, again);
            avatar::set_avatar(tx, "R", again, None, old + 1)?;
            avatar::set_avatar(tx, "R", current, None, now)?;
            // Many more uploads changed away from long ago.
            for i in 0..600 {
                let owner = format!("M{i}");
                let (small, big) = (format!("m{i}-48"), format!("m{i}-96"));
                let id = store_picture(tx, &owner, &[&small, &big], old)?;
                avatar::set_avatar(tx, &owner, id, None, old)?;
                avatar::clear_avatar(tx, &owner, old)?;
            }
            // Z: the newest picture, turned off long ago.
            let newest = store_picture(tx, "newest", &["z-48"], old)?;
            avatar::set_avatar(tx, "Z", newest, None, old)?;
            avatar::clear_avatar(tx, "Z", old)?;
            Ok::<_, StoreError>([preset, current, shared_kept, pushed, again, newest])
        })
        .unwrap();
    let [preset, current, shared_kept, pushed, again, newest] = ids;
    assert_eq!(count(&store, "SELECT count(*) FROM avatar"), 609);

    // One step is bounded: at a limit of 10, the pictures longest unused (by id here) until
    // their variants reach 10 (A's 2, OFF's 1, S's 2, Q's put off, then M0, M1, M2: 11), and
    // their blobs but S's shared one.
    let first = store
        .write_blocking(move |tx| retention::step(tx, now - 86_400_000, 10))
        .unwrap();
    assert_eq!(
        (
            first.avatars,
            first.avatar_variants,
            first.image_blobs,
            first.avatar_orphans
        ),
        (6, 11, 10, 7),
        "{first:?}"
    );
    assert!(first.more(10));

    retention_until(
        &store,
        || count(&store, "SELECT count(*) FROM avatar") <= 6,
        || {
            format!(
                "retention never took the unused pictures: {} left, {} listed",
                count(&store, "SELECT count(*) FROM avatar"),
                count(&store, "SELECT count(*) FROM avatar_orphan"),
            )
        },
    );
    let kept: Vec<i64> = store
        .read_blocking(|c| {
            let mut s = c.prepare("SELECT id FROM avatar ORDER BY id")?;
            let v = s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok::<_, StoreError>(v)
        })
        .unwrap();
    let mut want = vec![preset, current, shared_kept, pushed, again, newest];
    want.sort();
    assert_eq!(kept, want, "the pictures still shown, pushed or new stay");
    let blob_rows = |bytes: &'static [u8]| -> i64 {
        store
            .read_blocking(move |c| {
                Ok::<_, StoreError>(c.query_row(
                    "SELECT count(*) FROM image_blob WHERE bytes = ?1",
                    [bytes],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    };
    for gone in [
        &b"a-48"[..],
        b"a-96",
        b"o-48",
        b"g-96",
        b"m0-48",
        b"m599-96",
    ] {
        assert_eq!(blob_rows(gone), 0, "{}", String::from_utf8_lossy(gone));
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM avatar_variant WHERE avatar_id NOT IN (SELECT id FROM avatar)"
        ),
        0
    );
    assert_eq!(blob_rows(b"s-48"), 1, "the shared blob stays");
    assert_eq!(
        count(&store, "SELECT count(*) FROM image_blob"),
        9,
        "p, b (2 each), s-48, k-96, q, r, z"
    );
    let served = |id: i64, size: u32| {
        store
            .read_blocking(move |c| avatar::variant(c, id, size, "png"))
            .unwrap()
            .map(|v| String::from_utf8(v.bytes).unwrap())
    };
    for (id, size, bytes) in [
        (preset, 96, "p-96"),
        (current, 48, "b-48"),
        (shared_kept, 48, "s-48"),
        (shared_kept, 96, "k-96"),
        (pushed, 48, "q-48"),
        (again, 48, "r-48"),
    ] {
        assert_eq!(served(id, size).as_deref(), Some(bytes), "picture {id}");
    }
    let listed = |id: i64| {
        store
            .read_blocking(move |c| {
                Ok::<_, StoreError>(
                    c.query_row(
                        "SELECT since FROM avatar_orphan WHERE avatar_id = ?1",
                        [id],
                        |r| r.get::<_, i64>(0),
                    )
                    .ok(),
                )
            })
            .unwrap()
    };
    assert!(
        listed(pushed).is_some_and(|since| since >= now),
        "put off while its push has not gone"
    );
    assert_eq!(
        listed(again),
        Some(now),
        "unused since it was changed away from again"
    );
    assert_eq!(
        listed(newest),
        Some(old),
        "the newest waits for a newer one"
    );

    // The push went and the keep period passed (the cut just after now): the pushed and the
    // picked-again pictures go; the newest still waits. A picture stored after it takes a
    // new id, and the newest goes then.
    let later = presence_gw::store::now_ms() + 1;
    let p = store
        .write_blocking(move |tx| {
            tx.execute("UPDATE outbox SET state = 'delivered'", [])?;
            retention::step(tx, later, 500)
        })
        .unwrap();
    assert_eq!((p.avatars, p.image_blobs), (2, 2), "{p:?}");
    let next = store
        .write_blocking(move |tx| store_picture(tx, "next", &["n-48"], later))
        .unwrap();
    assert_eq!(next, newest + 1, "no id given twice");
    let p = store
        .write_blocking(move |tx| retention::step(tx, later, 500))
        .unwrap();
    assert_eq!((p.avatars, p.image_blobs), (1, 1), "{p:?}");
    assert_eq!(served(newest, 48), None);

    // A re-import that gives preset 1 another picture lists its old one as unused; one that
    // gives it back takes it off the list.
    store
        .write_blocking(move |tx| avatar::add_preset(tx, 1, &"Cat".into(), next))
        .unwrap();
    assert!(listed(preset).is_some());
    assert_eq!(listed(next), None);
    store
        .write_blocking(move |tx| avatar::add_preset(tx, 1, &"Cat".into(), preset))
        .unwrap();
    assert_eq!((listed(preset), listed(next).is_some()), (None, true));
    store.close_blocking();
}

/// Retention (`app::retention` over `store::retention::step`, batches of 500): rows older than
/// the keep period go, in several short writes (1,200 old delivered rows), with their segments
/// and parts; rows still in play (in flight, submitted, a pending MO message) and recent rows
/// stay; the outbox counts `/metrics` shows still equal the table.
#[test]
fn retention_deletes_old_finished_rows_in_batches_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let now = presence_gw::store::now_ms();
    let old = T0; // 2023: far older than a day
    store
        .write_blocking(move |tx| {
            // Prime the tracked counts before anything changes.
            outbox::counts_tracked(tx)?;
            for i in 0..1_200 {
                let e = outbox::enqueue(tx, &NewMessage::sms("861", format!("old {i}")), old)?;
                outbox::claim_due(tx, old, 1)?;
                outbox::record_segment_submitted(tx, e.id, 1, 1, &format!("m{i}"), old)?;
                outbox::mark_submitted(tx, e.id, old)?;
                outbox::apply_receipt(
                    tx,
                    &[format!("m{i}")],
                    &[],
                    "DELIVRD",
                    ReceiptState::Delivered,
                    old,
                )?;
            }
            // Old, but still in play: one in flight (claimed again below), one submitted.
            outbox::enqueue(tx, &NewMessage::sms("862", "old in flight"), old)?;
            let s = outbox::enqueue(tx, &NewMessage::sms("863", "old submitted"), old)?;
            outbox::claim_due(tx, old, 10)?;
            outbox::record_segment_submitted(tx, s.id, 1, 1, "s1", old)?;
            outbox::mark_submitted(tx, s.id, old)?;
            // Recent and delivered.
            let r = outbox::enqueue(tx, &NewMessage::sms("864", "recent"), now)?;
            outbox::claim_due(tx, now, 10)?;
            outbox::record_segment_submitted(tx, r.id, 1, 1, "r1", now)?;
            outbox::mark_submitted(tx, r.id, now)?;
            outbox::apply_receipt(
                tx,
                &["r1".into()],
                &[],
                "DELIVRD",
                ReceiptState::Delivered,
                now,
            )?;
            for (owner, at) in [("861", old), ("861", old), ("862", now)] {
                tx.execute(
                    "INSERT INTO status_change (owner, at, source, audiences, notified)
                     VALUES (?1, ?2, 'sms', 1, 1)",
                    rusqlite::params![owner, at],
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // MO: an old processed message, an old pending one, a recent processed one.
    let mut processed = Vec::new();
    for (from, at, done) in [("871", old, true), ("872", old, false), ("873", now, true)] {
        let Received::Complete(m) = receive(&store, sms_pdu(from, "STATUS FREE", at)) else {
            panic!("whole message")
        };
        if done {
            processed.push(m.id);
        }
    }
    store
        .write_blocking(move |tx| {
            for id in processed {
                inbox::mark_processed(tx, id, now)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let commits_before = store.stats().commits;

    retention_until(
        &store,
        || count(&store, "SELECT count(*) FROM status_change") <= 1,
        || "retention never finished".to_string(),
    );

    let rows: Vec<(String, String)> = store
        .read_blocking(|c| {
            let mut s = c.prepare("SELECT destination, state FROM outbox ORDER BY id")?;
            let v = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(v)
        })
        .unwrap();
    let kept: Vec<(&str, &str)> = rows.iter().map(|(d, s)| (d.as_str(), s.as_str())).collect();
    assert_eq!(
        kept,
        [
            ("862", "in_flight"),
            ("863", "submitted"),
            ("864", "delivered")
        ]
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM outbox_segment"),
        2,
        "the deleted rows' segments went with them"
    );
    let mo: Vec<String> = store
        .read_blocking(|c| {
            let mut s =
                c.prepare("SELECT source || ':' || state FROM inbox_message ORDER BY id")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok::<_, StoreError>(v)
        })
        .unwrap();
    assert_eq!(mo, ["872:pending", "873:processed"]);
    assert_eq!(count(&store, "SELECT count(*) FROM inbox_pdu"), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM inbox_part"), 2);
    assert!(
        store.stats().commits >= commits_before + 3,
        "1,200 rows in batches of 500 take several writes"
    );
    let tracked = store.write_blocking(outbox::counts_tracked).unwrap();
    assert_eq!(
        tracked,
        store.read_blocking(outbox::counts_by_state).unwrap()
    );
    store.close_blocking();
}

#[test]
fn messages_the_smsc_took_and_never_confirmed_expire_after_their_validity() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let old = sent(&store, "+8613800000001", "a1", T0);
    let confirmed = sent(&store, "+8613800000002", "a2", T0);
    receipt_from(&store, "a2", "+8613800000002", T0 + 1);
    let own_end = claimed(&store, "+8613800000003", T0);
    store
        .write_blocking(move |tx| {
            tx.execute(
                "UPDATE outbox SET expires_at = ?2 WHERE id = ?1",
                rusqlite::params![own_end, T0 + 10_000_000],
            )?;
            outbox::record_segment_submitted(tx, own_end, 1, 1, "a3", T0)?;
            outbox::mark_submitted(tx, own_end, T0)
        })
        .unwrap();
    let young = sent(&store, "+8613800000004", "a4", T0 + 5_000);
    let late = sent(&store, "+8613800000005", "a5", T0);
    let sweep = |span, cutoff, validity| {
        store
            .write_blocking(move |tx| {
                outbox::expire_unconfirmed(
                    tx,
                    span,
                    cutoff,
                    validity,
                    outbox::NO_RECEIPT,
                    T0 + 9_000,
                )
            })
            .unwrap()
    };
    let next = || {
        count(
            &store,
            "SELECT next_id FROM walk WHERE name = 'unconfirmed'",
        )
    };
    // No validity and no end of its own: never. The walk starts again after the newest.
    assert_eq!(sweep(1000, T0 + 9_000, None), 0);
    assert_eq!(next(), old, "back to the oldest row");
    // Step by step: one id a step, where the last one stopped.
    let validity = Some(1_000);
    assert_eq!(sweep(1, T0 + 3_000, validity), 1);
    assert_eq!(next(), old + 1);
    assert_eq!(sweep(1, T0 + 3_000, validity), 0, "the delivered one");
    assert_eq!(
        sweep(100, T0 + 3_000, validity),
        1,
        "the last one, not the others"
    );
    let r = row(&store, old);
    assert_eq!(r.state, OutboxState::Expired);
    assert_eq!(r.last_error.as_deref(), Some(outbox::NO_RECEIPT));
    assert_eq!(row(&store, confirmed).state, OutboxState::Delivered);
    assert_eq!(row(&store, own_end).state, OutboxState::Submitted);
    assert_eq!(row(&store, young).state, OutboxState::Submitted);
    assert_eq!(row(&store, late).state, OutboxState::Expired);
    // The gauges follow (kept by the writer).
    let tracked = store.write_blocking(outbox::counts_tracked).unwrap();
    assert_eq!((tracked.expired, tracked.submitted), (2, 2));
    // A receipt that comes after all says what happened: failed, or delivered.
    let variants = sms_wire::receipt::message_id_variants("a1");
    store
        .write_blocking(move |tx| {
            outbox::apply_receipt(
                tx,
                &variants,
                &[],
                "UNDELIV",
                ReceiptState::Failed,
                T0 + 9_500,
            )
        })
        .unwrap();
    assert_eq!(row(&store, old).state, OutboxState::Failed);
    receipt_from(&store, "a5", "+8613800000005", T0 + 9_600);
    assert_eq!(row(&store, late).state, OutboxState::Delivered);
}

/// The sweep of unconfirmed messages judges each by the validity it was sent with, not by the
/// configured one of the day: a row sent under a 48 h validity is not ended after an hour
/// because the setting was lowered to an hour since (it was: the sweep read today's setting
/// for every row without its own `expires_at`). A row with its own end keeps it.
#[test]
fn an_unconfirmed_message_is_judged_by_the_validity_it_was_sent_with() {
    use presence_gw::store::outbox::{AcceptedSegment, Attempt, AttemptEnd};
    const HOUR: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("gw.db"));
    let long = claimed(&store, "+8613800000001", T0);
    let own = claimed(&store, "+8613800000002", T0);
    store
        .write_blocking(move |tx| {
            Ok::<_, StoreError>(tx.execute(
                "UPDATE outbox SET expires_at = ?2 WHERE id = ?1",
                rusqlite::params![own, T0 + 2 * HOUR],
            )?)
        })
        .unwrap();
    let attempts: Vec<Attempt> = [(long, "b1"), (own, "b2")]
        .into_iter()
        .map(|(id, smsc_id)| Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![AcceptedSegment {
                seq: 1,
                total: 1,
                message_id: smsc_id.into(),
            }],
            end: AttemptEnd::Submitted,
        })
        .collect();
    // Sent under a validity of 48 hours.
    store
        .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, Some(48 * HOUR), T0))
        .unwrap();
    assert_eq!(row(&store, long).expires_at, Some(T0 + 48 * HOUR));
    assert_eq!(row(&store, own).expires_at, Some(T0 + 2 * HOUR));
    // Three hours on, with the validity now configured to one hour and an hour of grace.
    let sweep = |now: i64| {
        store
            .write_blocking(move |tx| {
                outbox::expire_unconfirmed(
                    tx,
                    1000,
                    now - HOUR,
                    Some(HOUR),
                    outbox::NO_RECEIPT,
                    now,
                )
            })
            .unwrap()
    };
    assert_eq!(
        sweep(T0 + 3 * HOUR + 1),
        1,
        "only the row with its own 2 h end"
    );
    assert_eq!(row(&store, long).state, OutboxState::Submitted);
    assert_eq!(row(&store, own).state, OutboxState::Expired);
    // An hour after the 48 h it was sent with, it ends.
    assert_eq!(sweep(T0 + 49 * HOUR + 1), 1);
    assert_eq!(row(&store, long).state, OutboxState::Expired);
}

/// Makes `path` read-only for this process: its mode 0444, and where the process is root
/// (whom modes do not stop) the immutable attribute (`chattr +i`). `None` when neither
/// worked here (root without CAP_LINUX_IMMUTABLE); the guard undoes both when dropped.
fn make_read_only(path: &Path) -> Option<ReadOnlyFile> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let writable = |p: &Path| std::fs::OpenOptions::new().write(true).open(p).is_ok();
    let mut guard = ReadOnlyFile {
        path: path.to_owned(),
        immutable: false,
    };
    if writable(path) {
        guard.immutable = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    }
    (!writable(path)).then_some(guard)
}

/// Undoes [`make_read_only`].
struct ReadOnlyFile {
    path: std::path::PathBuf,
    immutable: bool,
}

impl Drop for ReadOnlyFile {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o644));
    }
}

/// A database file the gateway may not write is refused at open, naming the file and what to
/// do, rather than opened read-only: SQLite opens such a file without an error, and the
/// gateway ran on it (bound to the SMSC, answered every MO with a temporary error, warned on
/// every background checkpoint) until someone read the log.
#[test]
fn a_read_only_database_file_is_refused_at_open_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    open(&path).close_blocking();
    let Some(_read_only) = make_read_only(&path) else {
        eprintln!("SKIPPED: no way to make a file read-only for this process here");
        return;
    };
    let err = match Store::open(&path, StoreOptions::default()) {
        Ok(_) => panic!("a read-only database was opened for the gateway"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("can only be read"), "{text}");
}

/// Another process holding the database (an operator's `sqlite3` shell in a transaction) past
/// the busy timeout while the store opens it: the error names the file, the lock and the
/// timeout (it was `SQL failed in migrate: begin` / `database is locked`, naming no file);
/// once the lock is gone the store opens.
#[test]
fn a_database_locked_by_another_process_at_open_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    open(&path).close_blocking();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let opts = StoreOptions {
        busy_timeout: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let err = match Store::open(&path, opts.clone()) {
        Ok(_) => panic!("opened while another connection held it exclusively"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        matches!(
            err,
            StoreError::LockedAtOpen {
                busy_timeout_ms: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("locked by another process"), "{text}");
    other.execute_batch("COMMIT").unwrap();
    Store::open(&path, opts)
        .expect("opens once the lock is gone")
        .close_blocking();
}

/// A database at `dir/gw.db` whose outbox pages are damaged (its root page overwritten),
/// everything else intact.
fn damaged_database(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("gw.db");
    let store = open(&path);
    for i in 0..200 {
        enqueue(
            &store,
            NewMessage::sms(format!("86138{i:08}"), "x".repeat(100)),
            T0,
        );
    }
    store.close_blocking();
    common::damage_table(&path, "outbox");
    path
}

/// A database file with damaged pages (here the outbox's) is refused at open, naming the file,
/// what SQLite found and what to do. It used to open: the gateway bound to the SMSC and met
/// the damage only as each write touching those pages failed.
#[test]
fn a_damaged_database_is_refused_at_open_naming_the_file_and_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = damaged_database(dir.path());
    let err = match Store::open(&path, StoreOptions::default()) {
        Ok(_) => panic!("a damaged database was opened"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("is damaged (Tree "), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.contains(".recover"), "{text}");
}

/// With `check_at_open` off (`[store] check_at_open = false`, and the maintenance commands)
/// the store does not read every page at open: the same damaged database opens, and its
/// intact tables work. The check used to run at every open, seconds for a multi-GB database
/// before the gateway could bind after a restart, and before every `outbox retry`.
#[test]
fn the_check_at_open_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = damaged_database(dir.path());
    let opts = StoreOptions {
        check_at_open: false,
        ..StoreOptions::default()
    };
    let store = Store::open(&path, opts).expect("opens without the whole-file check");
    assert_eq!(count(&store, "SELECT count(*) FROM inbox_pdu"), 0);
    store.close_blocking();
}

/// `--db` pointing at another application's SQLite database (tables, no schema version) is
/// refused, naming the file and its tables, and the file is left as it was. It used to be
/// switched to WAL mode and get the gateway's tables added beside its own.
#[test]
fn another_applications_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO customers (name) VALUES ('acme');",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = match Store::open(&path, StoreOptions::default()) {
        Ok(_) => panic!("another application's database was opened and migrated"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::NotOurs { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("(customers)"), "{text}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is unchanged"
    );
    let c = Connection::open(&path).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    // An empty file is a new database, as before.
    let fresh = dir.path().join("empty.db");
    std::fs::write(&fresh, b"").unwrap();
    open(&fresh).close_blocking();
}

/// Set in the child process of [`a_write_failing_while_opening_names_the_file`]: the database
/// it opens.
const FSIZE_ENV: &str = "PRESENCE_GW_STORE_FSIZE_CHILD_DB";

/// A write that fails while the store opens a new database (here files may grow to 48 KiB
/// only, as on a nearly full disk) is an error naming the file, with SQLite's cause: it said
/// `SQL failed in migrate: commit`, naming no file. Run in a child process, whose file size
/// limit does not reach the other tests.
#[test]
fn a_write_failing_while_opening_names_the_file() {
    if let Some(path) = std::env::var_os(FSIZE_ENV) {
        #[allow(unsafe_code)]
        // SAFETY: plain libc calls on this process's own limit and signal disposition; a write
        // past the limit then fails with EFBIG instead of killing the process with SIGXFSZ.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 48 * 1024,
                rlim_max: 48 * 1024,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        }
        match Store::open(Path::new(&path), StoreOptions::default()) {
            Ok(_) => println!("RESULT opened"),
            Err(e) => {
                let cause = std::error::Error::source(&e).map(|c| c.to_string());
                println!("RESULT {e} / {}", cause.unwrap_or_default());
            }
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_write_failing_while_opening_names_the_file",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FSIZE_ENV, &path)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        // The harness prints the test's name on the same line first.
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no result from the child: {stdout}"));
    assert!(
        result.starts_with(&format!(
            "cannot open SQLite database {} (migrate",
            path.display()
        )),
        "{result}"
    );
}

/// Run the gateway's retention task (keep 1 day, a step an hour apart: its steps follow one
/// another as long as they find rows) on its own runtime until `done`, failing with `what()`
/// after 20 s; then let the round end and stop it.
fn retention_until(store: &Store, done: impl Fn() -> bool, what: impl Fn() -> String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = rt.spawn(presence_gw::app::retention(
        store.clone(),
        Duration::from_secs(86_400),
        Duration::from_secs(3600),
        stop.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every statement runs in each step, so the other tables are done too; let the round end.
    std::thread::sleep(Duration::from_millis(100));
    stop.cancel();
    rt.block_on(task).unwrap();
}

/// A keyed three-part update of which the SMSC took part 1 in an earlier attempt, claimed
/// again for the rest and marked by a STOP while in flight; the gateway dies before its
/// dispatcher looks at the mark (the store closed and opened again from its file). At the
/// start the row is withdrawn, not queued again for its other parts, and part 1 is to be
/// cancelled at the SMSC. Regression guard for the recall of withdrawn rows (no fix).
#[test]
fn a_row_marked_in_flight_before_a_crash_is_withdrawn_at_the_start_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let key = "status:+8613800138000:+8613900139000";
    let id = {
        let store = open(&path);
        let id = enqueue(&store, keyed("three parts", key), T0).id;
        store
            .write_blocking(|tx| outbox::claim_due(tx, T0, 1))
            .unwrap();
        let attempts = vec![outbox::Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![outbox::AcceptedSegment {
                seq: 1,
                total: 3,
                message_id: "a1".into(),
            }],
            end: outbox::AttemptEnd::Retry {
                at: T0 + 2,
                error: "ESME_RSYSERR".into(),
            },
        }];
        store
            .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, T0 + 1))
            .unwrap();
        let again = store
            .write_blocking(|tx| outbox::claim_due(tx, T0 + 2, 1))
            .unwrap();
        assert_eq!(again.len(), 1, "claimed again for parts 2 and 3");
        store
            .write_blocking(move |tx| {
                outbox::withdraw_queued(tx, key, "recipient sent STOP", None, T0 + 3)
            })
            .unwrap();
        assert_eq!(row(&store, id).state, OutboxState::InFlight);
        id
    };
    let store = open(&path);
    store
        .write_blocking(|tx| outbox::requeue_in_flight(tx, T0 + 4))
        .unwrap();
    let r = row(&store, id);
    assert_eq!(r.state, OutboxState::Superseded);
    assert_eq!(
        r.last_error.as_deref(),
        Some(
            "withdrawn in flight (recipient sent STOP): the SMSC had taken 1 of its 3 parts \
             (cancel_sm asked for), the other 2 were never sent"
        )
    );
    assert!(store
        .write_blocking(|tx| outbox::claim_due(tx, i64::MAX / 2, 10))
        .unwrap()
        .is_empty());
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox_cancel
             WHERE why = 'recipient sent STOP; 2 of its 3 parts never sent'"
        ),
        1,
        "part 1 is to be cancelled"
    );
}

/// A picture retention deletes leaves none of its bytes in the database file (a copy of the
/// file, a backup, a disk sent for repair): SQLite would only mark its pages free, and an
/// old photo of a subscriber stayed readable there until the pages were used again. The
/// bytes are in the file before, and nowhere in it after (the WAL folded in at the close).
#[test]
fn a_deleted_picture_leaves_none_of_its_bytes_in_the_file() {
    use presence_gw::service::avatar;
    use presence_gw::store::retention;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    // A photo's bytes: over several pages, as a real picture's are.
    let photo: String = (0..2_000)
        .map(|i| format!("photo-of-a-subscriber-{i:05};"))
        .collect();
    let marker = "photo-of-a-subscriber-01234;";
    let in_file = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    };
    let store = open(&path);
    let bytes = photo.clone();
    store
        .write_blocking(move |tx| {
            let v = [avatar::VariantIn {
                size: 96,
                format: "png",
                content_type: "image/png",
                bytes: bytes.as_bytes(),
                sha256: "photo",
            }];
            let old = avatar::store_avatar(tx, "old", &v, T0)?;
            avatar::set_avatar(tx, "+8613800138000", old, None, T0)?;
            // Changed away from; the newer picture keeps the old one from being the newest.
            let newer = store_picture(tx, "newer", &["n-96"], T0)?;
            avatar::set_avatar(tx, "+8613800138000", newer, None, T0)
        })
        .unwrap();
    store.close_blocking();
    assert!(in_file(&path), "the photo is in the file to begin with");
    let store = open(&path);
    let purged = store
        .write_blocking(|tx| retention::step(tx, T0 + 1, 100))
        .unwrap();
    assert_eq!((purged.avatars, purged.image_blobs), (1, 1), "{purged:?}");
    // The writer's setting is back as it was for every other delete.
    let setting: i64 = store
        .write_blocking(|tx| {
            Ok::<_, StoreError>(tx.query_row("PRAGMA secure_delete", [], |r| r.get(0))?)
        })
        .unwrap();
    assert_eq!(setting, 2, "FAST, as the store opens it");
    store.close_blocking();
    assert!(
        !in_file(&path),
        "the deleted photo's bytes are still in the file"
    );
}

/// A message retention deletes leaves none of its text in the database file: the text of a
/// delivered update (a subscriber's status, their number) is in the file before, and nowhere
/// in it after the row went (the WAL folded in at the close).
#[test]
fn a_deleted_message_leaves_none_of_its_text_in_the_file() {
    use presence_gw::store::retention;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let text = "Zhang San (13800138000): IN A MEETING WITH THE BANK UNTIL 15:00.";
    let in_file = |path: &Path| {
        let bytes = std::fs::read(path).unwrap();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    };
    let store = open(&path);
    store
        .write_blocking(move |tx| {
            let id = outbox::enqueue(tx, &NewMessage::sms("+8613900139000", text), T0)?.id;
            tx.execute(
                "UPDATE outbox SET state = 'delivered', updated_at = ?2 WHERE id = ?1",
                rusqlite::params![id, T0],
            )?;
            // A later message: a purge never deletes the newest row (its id would be reused).
            outbox::enqueue(tx, &NewMessage::sms("+8613900139000", "later"), T0 + 1)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
    store.close_blocking();
    assert!(in_file(&path), "the text is in the file to begin with");
    let store = open(&path);
    let purged = store
        .write_blocking(|tx| retention::step(tx, T0 + 1, 100))
        .unwrap();
    assert_eq!(purged.outbox, 1, "{purged:?}");
    store.close_blocking();
    assert!(
        !in_file(&path),
        "the deleted message's text is still in the file"
    );
}
