//! The outbox's rows per state as the store writer keeps them (`outbox::counts_tracked`, what
//! `/metrics` shows) against a count of the table (`outbox::counts_by_state`), on a real store
//! and file, after every step of random sequences of what the gateway and an operator do:
//! enqueue (with coalescing), claim, record answers, receipts (also before their answer),
//! requeue, retry, expiry, purge, a request that rolls back, and writes by another process.

use presence_gw::store::outbox::{
    self, AcceptedSegment, Attempt, AttemptEnd, NewMessage, OutboxCounts, ReceiptState,
};
use presence_gw::store::{Store, StoreError, StoreOptions};
use proptest::prelude::*;
use rusqlite::Connection;

#[derive(Debug, Clone)]
enum Step {
    /// A message, maybe with a coalescing key (few keys, so they collide) and a validity end.
    Enqueue { key: Option<u8>, expires: bool },
    /// The dispatcher claims up to this many due rows.
    Claim(u8),
    /// The oldest claimed rows' attempts end: 0 accepted, 1 retry, 2 permanent failure.
    Record { rows: u8, end: u8 },
    /// A final receipt for one of the accepted segments.
    Receipt { pick: u8, delivered: bool },
    /// A final receipt for the id the next accepted segment will get: held until that segment
    /// is recorded, and applied then, while its row is still in flight.
    EarlyReceipt { delivered: bool },
    /// A disconnect: every in-flight row back to the queue.
    Requeue,
    /// The operator requeues failed rows.
    RetryFailed,
    /// Validity ends for every queued row that has one.
    Expire,
    /// The operator purges finished rows.
    Purge,
    /// A request that enqueues, then fails: its savepoint rolls back.
    RolledBack,
    /// Another process (the CLI) fails every queued row.
    External,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (proptest::option::of(0u8..3), any::<bool>())
            .prop_map(|(key, expires)| Step::Enqueue { key, expires }),
        2 => (1u8..6).prop_map(Step::Claim),
        2 => (1u8..4, 0u8..3).prop_map(|(rows, end)| Step::Record { rows, end }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pick, delivered)| Step::Receipt { pick, delivered }),
        1 => any::<bool>().prop_map(|delivered| Step::EarlyReceipt { delivered }),
        1 => Just(Step::Requeue),
        1 => Just(Step::RetryFailed),
        1 => Just(Step::Expire),
        1 => Just(Step::Purge),
        1 => Just(Step::RolledBack),
        1 => Just(Step::External),
    ]
}

/// What the test remembers between steps.
#[derive(Default)]
struct Model {
    /// Claimed rows not yet recorded: (id, attempts as claimed).
    claimed: Vec<(i64, u32)>,
    /// Message ids of accepted segments.
    accepted: Vec<String>,
    next_id: u32,
    now: i64,
}

fn run(store: &Store, path: &std::path::Path, m: &mut Model, s: &Step) {
    m.now += 1_000;
    let now = m.now;
    match s.clone() {
        Step::Enqueue { key, expires } => {
            let mut msg = NewMessage::sms("8613800000001", format!("t{now}"));
            msg.coalesce_key = key.map(|k| format!("k{k}"));
            msg.expires_at = expires.then_some(now + 5_000);
            store
                .write_blocking(move |tx| outbox::enqueue(tx, &msg, now))
                .unwrap();
        }
        Step::Claim(limit) => {
            let rows = store
                .write_blocking(move |tx| outbox::claim_due(tx, now, limit as usize))
                .unwrap();
            m.claimed.extend(rows.iter().map(|r| (r.id, r.attempts)));
        }
        Step::Record { rows, end } => {
            let take = (rows as usize).min(m.claimed.len());
            let mut attempts = Vec::new();
            for (outbox_id, attempt) in m.claimed.drain(..take) {
                let (accepted, end) = match end {
                    0 => {
                        m.next_id += 1;
                        let id = format!("m{}", m.next_id);
                        m.accepted.push(id.clone());
                        let seg = AcceptedSegment {
                            seq: 1,
                            total: 1,
                            message_id: id,
                        };
                        (vec![seg], AttemptEnd::Submitted)
                    }
                    1 => (
                        Vec::new(),
                        AttemptEnd::Retry {
                            at: now,
                            error: "throttled".into(),
                        },
                    ),
                    _ => (Vec::new(), AttemptEnd::Fail("ESME_RINVDSTADR".into())),
                };
                attempts.push(Attempt {
                    outbox_id,
                    attempt,
                    accepted,
                    end,
                });
            }
            store
                .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, now))
                .unwrap();
        }
        Step::Receipt { pick, delivered } => {
            if m.accepted.is_empty() {
                return;
            }
            let id = m.accepted[pick as usize % m.accepted.len()].clone();
            receipt(store, id, delivered, now);
        }
        Step::EarlyReceipt { delivered } => {
            receipt(store, format!("m{}", m.next_id + 1), delivered, now);
        }
        Step::Requeue => {
            m.claimed.clear();
            store
                .write_blocking(move |tx| outbox::requeue_in_flight(tx, now))
                .unwrap();
        }
        Step::RetryFailed => {
            store
                .write_blocking(move |tx| outbox::retry_failed(tx, now))
                .unwrap();
        }
        Step::Expire => {
            store
                .write_blocking(move |tx| outbox::expire_due(tx, now + 10_000))
                .unwrap();
        }
        Step::Purge => {
            store
                .write_blocking(move |tx| outbox::purge(tx, now + 1, now + 1, 1000))
                .unwrap();
        }
        Step::RolledBack => {
            let failed: Result<(), StoreError> = store.write_blocking(move |tx| {
                outbox::enqueue(tx, &NewMessage::sms("8613800000002", "gone"), now)?;
                outbox::claim_due(tx, now, 3)?;
                Err(StoreError::NotCommitted {
                    reason: "test: the request fails".into(),
                })
            });
            assert!(failed.is_err());
        }
        Step::External => {
            let conn = Connection::open(path).unwrap();
            conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = 'operator' WHERE state = 'queued'",
                [],
            )
            .unwrap();
        }
    }
}

fn receipt(store: &Store, id: String, delivered: bool, now: i64) {
    let (stat, state) = if delivered {
        ("DELIVRD", ReceiptState::Delivered)
    } else {
        ("UNDELIV", ReceiptState::Failed)
    };
    store
        .write_blocking(move |tx| outbox::apply_receipt(tx, &[id], &[], stat, state, now))
        .unwrap();
}

fn tracked(store: &Store) -> OutboxCounts {
    store.write_blocking(outbox::counts_tracked).unwrap()
}

fn counted(store: &Store) -> OutboxCounts {
    store.read_blocking(outbox::counts_by_state).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tracked_counts_equal_the_table_after_every_step(
        steps in proptest::collection::vec(step(), 1..40),
        first_ask in 0usize..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        let mut model = Model::default();
        for (i, s) in steps.iter().enumerate() {
            run(&store, &path, &mut model, s);
            // The first count happens at a random point: before it the tally has no base.
            if i >= first_ask.min(steps.len() - 1) {
                prop_assert_eq!(tracked(&store), counted(&store), "after step {} {:?}", i, s);
            }
        }
        store.close_blocking();
    }
}

/// The scrape's count is read once; afterwards the table is not counted again: rows changed
/// behind the writer's back by SQL that does not say so (which only a test does) stay unseen
/// until another process writes.
#[test]
fn the_table_is_counted_once_and_again_after_another_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.db");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    store
        .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("861", "a"), 1))
        .unwrap();
    assert_eq!(tracked(&store).queued, 1);
    // Unannounced, through the writer: not counted.
    store
        .write_blocking(|tx| {
            tx.execute("UPDATE outbox SET state = 'delivered'", [])
                .map_err(|e| StoreError::NotCommitted {
                    reason: e.to_string(),
                })
        })
        .unwrap();
    assert_eq!(tracked(&store).queued, 1, "the table was counted again");
    assert_eq!(counted(&store).delivered, 1);
    // What the dispatcher's start asks counts the table whatever the tally held.
    let recounted = store.write_blocking(outbox::counts_recounted).unwrap();
    assert_eq!((recounted.queued, recounted.delivered), (0, 1));
    assert_eq!(tracked(&store), recounted);
    // Another process writes: the next ask counts the table.
    let other = Connection::open(&path).unwrap();
    other
        .execute(
            "INSERT INTO outbox (created_at, updated_at, content_at, kind, destination, state,
                 next_attempt_at) VALUES (1, 1, 1, 'sms', '862', 'queued', 1)",
            [],
        )
        .unwrap();
    let after = tracked(&store);
    assert_eq!((after.queued, after.delivered), (1, 1), "{after:?}");
    assert_eq!(after, counted(&store));
    store.close_blocking();
}
