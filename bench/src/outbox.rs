//! Suite `outbox` (issue #4, "≤ 10 µs gateway CPU per message"): the store writer's part of an
//! MT message, without the network.
//!
//! In `mt` the store writer is 55–65 % of the gateway's CPU at window 100, but that figure
//! moves ±20 % between identical runs on a shared VM, with the SMSC and the network in the
//! same measurement. This suite runs only the writer's work for each message, through the
//! gateway's own store code on a real SQLite file, in the order the dispatcher asks for it:
//!
//! 1. `claim`: [`outbox::claim_due`] takes `batch` queued rows (they become `in_flight`);
//! 2. `record`: [`outbox::record_attempts`] stores one accepted segment per row with its SMSC
//!    message id, and the rows become `submitted`;
//! 3. `receipt` (with `--receipts`): [`outbox::apply_receipt`] with a final `DELIVRD` for each
//!    segment, `batch` receipts per transaction; the rows become `delivered`.
//!
//! Each step of each batch is one [`Store::write_blocking`] call, so one transaction (the
//! gateway groups more per commit when it is busy; `batch` sets how many). The figure is the
//! store writer thread's on-CPU time per message (`/proc/self/task/*/schedstat`), so the
//! calling thread's waiting is not in it. Every round checks that each row ended `submitted`
//! (or `delivered` with receipts). At the end of each round it also times the `/metrics` outbox
//! count both ways: counting the table, and as the writer keeps it ([`outbox::counts_tracked`]),
//! and checks that they agree. To compare two builds, run them in turn, several times each:
//! the machine's level drifts over minutes (BENCHMARKS.md, session of 2026-12-06).

use std::path::Path;
use std::time::Instant;

use presence_gw::store::outbox::{self, AcceptedSegment, Attempt, AttemptEnd, ReceiptState};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use serde::{Deserialize, Serialize};

use crate::gwrun;
use crate::procstat;
use crate::stats::Summary;

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxParams {
    /// Rows queued before each round.
    pub n: u64,
    /// Rows per claim, per record and per receipt transaction.
    pub batch: usize,
    /// Also apply a final receipt to every message.
    pub receipts: bool,
    /// Rounds (a fresh database each).
    pub rounds: usize,
    /// Rows also queued but not due for an hour (quota-held updates, back-off after a
    /// throttling storm): every claim must pass them by. They stay queued to the end.
    #[serde(default)]
    pub deferred: u64,
}

/// One round: the writer's on-CPU µs per message in each step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutboxRound {
    /// Messages that went through every step.
    pub messages: u64,
    /// Claim µs/msg.
    pub claim_us: f64,
    /// Record µs/msg.
    pub record_us: f64,
    /// Receipt µs/msg (0 without receipts).
    pub receipt_us: f64,
    /// The three together.
    pub total_us: f64,
    /// Wall-clock messages per second through the steps.
    pub msgs_per_s: f64,
    /// Wall ms of a `/metrics` outbox count done by counting the table
    /// ([`outbox::counts_by_state`], on a read connection), at the end of the round.
    #[serde(default)]
    pub count_table_ms: f64,
    /// Wall µs of the same count as the writer keeps it ([`outbox::counts_tracked`], what
    /// `/metrics` asks), once it has counted the table the first time.
    #[serde(default)]
    pub count_tracked_us: f64,
}

/// What the suite measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxResult {
    /// The parameters.
    pub params: OutboxParams,
    /// Every round.
    pub rounds: Vec<OutboxRound>,
    /// Summary of `total_us`.
    pub total_us: Option<Summary>,
    /// Whether every round ran and every row of each ended in the expected state (a round
    /// whose rows did not is an error, so a result has all its rounds or none).
    pub ok: bool,
}

/// On-CPU ns of the store writer thread so far.
fn writer_ns() -> u64 {
    procstat::self_threads_cpu_ns()
        .get("store-writer")
        .copied()
        .unwrap_or(0)
}

/// The SMSC message id the suite gives row `id` (hex, as smsc-sim answers).
fn message_id(id: i64) -> String {
    format!("{id:x}")
}

/// One round over a fresh `db`.
fn round(db: &Path, p: &OutboxParams) -> anyhow::Result<OutboxRound> {
    gwrun::fill_outbox_after_held(db, p.deferred, p.n)?;
    let store = Store::open(db, StoreOptions::default())?;
    let (mut claim_ns, mut record_ns, mut receipt_ns) = (0u64, 0u64, 0u64);
    let mut messages = 0u64;
    let started = Instant::now();
    loop {
        let now = now_ms();
        let batch = p.batch;
        let before = writer_ns();
        let rows = store.write_blocking(move |tx| outbox::claim_due(tx, now, batch))?;
        claim_ns += writer_ns() - before;
        if rows.is_empty() {
            break;
        }
        // Each receipt names its handset, as an SMSC's does (the gateway compares it with
        // the row's destination).
        let ids: Vec<(i64, Vec<String>)> = rows
            .iter()
            .map(|r| (r.id, outbox::receipt_addresses(&r.destination, "10658")))
            .collect();
        let attempts: Vec<Attempt> = rows
            .iter()
            .map(|r| Attempt {
                outbox_id: r.id,
                attempt: r.attempts,
                accepted: vec![AcceptedSegment {
                    seq: 1,
                    total: 1,
                    message_id: message_id(r.id),
                }],
                end: AttemptEnd::Submitted,
            })
            .collect();
        let before = writer_ns();
        let results =
            store.write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, now))?;
        record_ns += writer_ns() - before;
        anyhow::ensure!(
            results.iter().all(Result::is_ok),
            "record_attempts refused a row: {results:?}"
        );
        if p.receipts {
            let before = writer_ns();
            store.write_blocking(move |tx| {
                for (id, addresses) in &ids {
                    outbox::apply_receipt(
                        tx,
                        &[message_id(*id)],
                        addresses,
                        "DELIVRD",
                        ReceiptState::Delivered,
                        now,
                    )?;
                }
                Ok::<_, StoreError>(())
            })?;
            receipt_ns += writer_ns() - before;
        }
        messages += rows.len() as u64;
    }
    let wall = started.elapsed().as_secs_f64();
    let expected = if p.receipts {
        outbox::OutboxState::Delivered
    } else {
        outbox::OutboxState::Submitted
    };
    let began = Instant::now();
    let counts = store.read_blocking(outbox::counts_by_state)?;
    let count_table_ms = began.elapsed().as_secs_f64() * 1e3;
    // The first ask counts the table (as the gateway's first scrape does); the second is
    // what every scrape after it costs.
    let first = store.write_blocking(outbox::counts_tracked)?;
    let began = Instant::now();
    let tracked = store.write_blocking(outbox::counts_tracked)?;
    let count_tracked_us = began.elapsed().as_secs_f64() * 1e6;
    store.close_blocking();
    anyhow::ensure!(
        messages == p.n
            && counts.get(expected) == p.n
            && counts.get(outbox::OutboxState::Queued) == p.deferred,
        "{messages} of {} messages went through; states: {counts:?}",
        p.n
    );
    anyhow::ensure!(
        first == counts && tracked == counts,
        "tracked counts {tracked:?} differ from the table's {counts:?}"
    );
    let per = |ns: u64| ns as f64 / 1e3 / messages.max(1) as f64;
    Ok(OutboxRound {
        messages,
        claim_us: per(claim_ns),
        record_us: per(record_ns),
        receipt_us: per(receipt_ns),
        total_us: per(claim_ns + record_ns + receipt_ns),
        msgs_per_s: messages as f64 / wall.max(1e-9),
        count_table_ms,
        count_tracked_us,
    })
}

/// Run the suite over `db` (rewritten every round).
pub fn run(db: &Path, p: &OutboxParams) -> anyhow::Result<OutboxResult> {
    let mut rounds = Vec::new();
    for r in 0..p.rounds {
        let x = round(db, p)?;
        eprintln!(
            "[gw-bench] outbox round {} batch {} receipts {} deferred {}: writer {:.2} us/msg \
             (claim {:.2}, record {:.2}, receipt {:.2}), {:.0} msg/s; \
             outbox count: table {:.1} ms, tracked {:.0} us",
            r + 1,
            p.batch,
            if p.receipts { "on" } else { "off" },
            p.deferred,
            x.total_us,
            x.claim_us,
            x.record_us,
            x.receipt_us,
            x.msgs_per_s,
            x.count_table_ms,
            x.count_tracked_us
        );
        rounds.push(x);
    }
    let totals: Vec<f64> = rounds.iter().map(|r| r.total_us).collect();
    Ok(OutboxResult {
        params: p.clone(),
        total_us: Summary::of(&totals),
        ok: rounds.len() == p.rounds,
        rounds,
    })
}

/// Markdown: one line per round and the median.
pub fn render(r: &OutboxResult) -> String {
    let mut s = String::from(
        "| round | messages | claim µs/msg | record µs/msg | receipt µs/msg | **writer µs/msg** | msg/s \
         | outbox count, table scan ms | outbox count, tracked µs |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, x) in r.rounds.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | **{:.2}** | {:.0} | {:.1} | {:.0} |\n",
            i + 1,
            x.messages,
            x.claim_us,
            x.record_us,
            x.receipt_us,
            x.total_us,
            x.msgs_per_s,
            x.count_table_ms,
            x.count_tracked_us
        ));
    }
    if let Some(t) = r.total_us {
        s.push_str(&format!(
            "\nStore writer, {} rows, {} a transaction, receipts {}, {} rows deferred: \
             median **{:.2} µs/msg** (min {:.2}, max {:.2}) over {} rounds.\n",
            r.params.n,
            r.params.batch,
            if r.params.receipts { "on" } else { "off" },
            r.params.deferred,
            t.median,
            t.min,
            t.max,
            t.count
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_goes_through_and_the_figures_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = OutboxParams {
            n: 300,
            batch: 64,
            receipts: true,
            rounds: 1,
            deferred: 40,
        };
        let r = run(&dir.path().join("o.db"), &p).unwrap();
        let x = &r.rounds[0];
        assert_eq!(x.messages, 300);
        assert!(
            x.claim_us > 0.0 && x.record_us > 0.0 && x.receipt_us > 0.0,
            "{x:?}"
        );
        let sum = x.claim_us + x.record_us + x.receipt_us;
        assert!((x.total_us - sum).abs() < 1e-6, "{x:?}");
        assert!(x.count_table_ms > 0.0 && x.count_tracked_us > 0.0, "{x:?}");
        assert!(render(&r).contains("| 1 | 300 |"));
    }
}
