//! One measured gateway run: the real [`Gateway`] (store on a real SQLite file, SMPP [`Link`],
//! outbox `Dispatcher`, inbound pump for receipts) drains a pre-filled outbox into an SMSC.
//!
//! The suite runs this in a child process (`gw-bench mt-run`), so that the process's CPU time
//! and peak RSS are the gateway's alone: the SMSC lives in the parent (smsc-sim) or in its own
//! process (node-smpp). The outbox is filled by the parent with [`fill_outbox`] before the child
//! starts, so neither the fill's CPU nor its memory is counted.
//!
//! Timing: `t0` is the moment the link reports `Bound` (the dispatcher starts claiming rows on
//! that same state change), `t_resp` the moment the link has counted N `submit_sm_resp` OK, and
//! `t_done` the moment the store shows all N rows `submitted` (receipts off) or `delivered`
//! (receipts on), i.e. every answer persisted. msg/s = N / t_done. CPU is the process's
//! utime + stime between `t0` and `t_done`.
//!
//! [`Gateway`]: presence_gw::app::Gateway
//! [`Link`]: presence_gw::smpp::Link

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::config::Secret;
use presence_gw::smpp::{LinkConfig, LinkState};
use presence_gw::store::outbox::{self, NewMessage, OutboxCounts, OutboxState};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::procstat::{self, CpuTimes};

/// The 28-character GSM-7 text the peers harness sends (`http_sendsms.py`, `esme_client.js`).
pub const BODY: &str = "Hello from the peers harness";

/// Distinct destination numbers cycled through by the filled outbox.
pub const DESTINATIONS: usize = 1000;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened or written.
    #[error("store {path}: {source}")]
    Store {
        /// Database file.
        path: PathBuf,
        /// Underlying error (boxed: it is large).
        source: Box<StoreError>,
    },
    /// The gateway did not start.
    #[error("gateway start: {0}")]
    Start(String),
    /// The link did not bind in time.
    #[error("link to {smsc} not bound after {secs} s (state {state})")]
    NotBound {
        /// SMSC address.
        smsc: String,
        /// Seconds waited.
        secs: u64,
        /// Last state seen.
        state: String,
    },
    /// Reading `/proc` failed.
    #[error(transparent)]
    Proc(#[from] procstat::ProcError),
}

/// What one child run is asked to do (passed on the command line).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct RunSpec {
    /// SMSC `host:port`.
    #[arg(long)]
    pub smsc: String,
    /// Pre-filled SQLite database.
    #[arg(long)]
    pub db: PathBuf,
    /// Rows in the outbox.
    #[arg(long)]
    pub n: u64,
    /// SMPP window (requests outstanding).
    #[arg(long)]
    pub window: usize,
    /// Ask for delivery receipts (registered_delivery = 1) and wait for `delivered`.
    #[arg(long)]
    pub receipts: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 180)]
    pub timeout_s: u64,
    /// Bind system_id.
    #[arg(long, default_value = "bench")]
    pub system_id: String,
    /// Bind password.
    #[arg(long, default_value = "bench")]
    pub password: String,
    /// Tokio worker threads of the gateway's runtime (0: the gateway's default).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
    /// Validity period in the `submit_sm`s, seconds (0: none, like the peers' clients).
    #[arg(long, default_value_t = 0)]
    pub validity_s: u64,
    /// `[smsc] busy_poll_us` of the gateway (its default unless given; 0: never poll).
    #[arg(long, default_value_t = presence_gw::smpp::DEFAULT_BUSY_POLL_US)]
    pub busy_poll_us: u64,
}

/// What one run measured (one JSON line on the child's stdout).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Rows in the outbox.
    pub n: u64,
    /// Window.
    pub window: usize,
    /// Receipts requested.
    pub receipts: bool,
    /// Whether all N rows reached the target state in time with no failure.
    pub ok: bool,
    /// Problem, if any.
    pub error: Option<String>,
    /// Seconds from `Bound` to the N-th `submit_sm_resp` OK.
    #[serde(deserialize_with = "f64_or_nan")]
    pub t_resp_s: f64,
    /// Seconds from `Bound` to all N rows persisted in the target state.
    #[serde(deserialize_with = "f64_or_nan")]
    pub t_done_s: f64,
    /// N / t_done_s.
    #[serde(deserialize_with = "f64_or_nan")]
    pub mps: f64,
    /// N / t_resp_s (comparable to the peers' client definition, but without the persist tail).
    #[serde(deserialize_with = "f64_or_nan")]
    pub mps_resp: f64,
    /// Gateway process CPU between `t0` and `t_done`.
    pub cpu: CpuTimes,
    /// Gateway CPU microseconds per message.
    #[serde(deserialize_with = "f64_or_nan")]
    pub cpu_us_per_msg: f64,
    /// On-CPU seconds per thread group over the same interval (live threads only).
    pub threads_cpu_s: BTreeMap<String, f64>,
    /// Peak RSS of the gateway process (kB).
    pub peak_rss_kb: u64,
    /// RSS at the end (kB).
    pub rss_end_kb: u64,
    /// Store write transactions committed during the run.
    pub store_commits: u64,
    /// Store write requests run during the run.
    pub store_requests: u64,
    /// Largest group commit so far.
    pub store_largest_batch: u64,
    /// Outbox counts at the end.
    pub counts: Counts,
    /// Times the harness queried the store for the end condition.
    pub polls: u64,
}

/// Read an `f64` that JSON may carry as `null` (serde_json writes NaN as `null`) as NaN.
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Serializable copy of [`OutboxCounts`].
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Queued rows.
    pub queued: u64,
    /// Rows in flight.
    pub in_flight: u64,
    /// Submitted rows.
    pub submitted: u64,
    /// Delivered rows.
    pub delivered: u64,
    /// Failed rows.
    pub failed: u64,
    /// Expired rows.
    pub expired: u64,
}

impl From<OutboxCounts> for Counts {
    fn from(c: OutboxCounts) -> Self {
        Counts {
            queued: c.queued,
            in_flight: c.in_flight,
            submitted: c.submitted,
            delivered: c.delivered,
            failed: c.failed,
            expired: c.expired,
        }
    }
}

/// Destination of the `i`-th filled row (E.164, [`DESTINATIONS`] distinct numbers).
pub fn destination(i: u64) -> String {
    format!("+86139{:08}", i % DESTINATIONS as u64)
}

/// Create `db` (removing an older file and its WAL) with `n` queued SMS rows, in one
/// transaction through the gateway's own store code. Returns the file size in bytes.
pub fn fill_outbox(db: &Path, n: u64) -> Result<u64, RunError> {
    fill_outbox_after_held(db, 0, n)
}

/// [`fill_outbox`], with `held` rows queued first that are not due for an hour (quota-held
/// updates, back-off after a throttling storm): older than the `n` due rows, so every claim
/// passes them by.
pub fn fill_outbox_after_held(db: &Path, held: u64, n: u64) -> Result<u64, RunError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let err = |source| RunError::Store {
        path: db.to_path_buf(),
        source: Box::new(source),
    };
    let store = Store::open(db, StoreOptions::default()).map_err(err)?;
    let now = now_ms();
    store
        .write_blocking(move |tx| {
            for i in 0..held {
                let mut m = NewMessage::sms(format!("+86138{i:08}"), "held update");
                m.not_before = Some(now + 3_600_000);
                outbox::enqueue(tx, &m, now)?;
            }
            for i in 0..n {
                outbox::enqueue(tx, &NewMessage::sms(destination(i), BODY), now)?;
            }
            Ok::<_, StoreError>(())
        })
        .map_err(err)?;
    store.close_blocking();
    Ok(std::fs::metadata(db).map(|m| m.len()).unwrap_or(0))
}

async fn counts(gw: &Gateway) -> Result<OutboxCounts, StoreError> {
    gw.store.read(outbox::counts_by_state).await
}

/// Rows in `state`, as the store writer keeps them (`outbox::counts_tracked`: no table scan).
/// Counting the table instead (`SELECT count(*) ... WHERE state = ?`: no index covers
/// `submitted`) scanned every row at each poll, and the gateway's CPU figure paid for it.
async fn count_state(gw: &Gateway, state: OutboxState) -> Result<u64, StoreError> {
    gw.store
        .write(move |tx| outbox::counts_tracked(tx).map(|c| c.get(state)))
        .await
}

/// Run the gateway over the pre-filled `spec.db` against `spec.smsc` and measure.
pub async fn run(spec: &RunSpec) -> Result<RunResult, RunError> {
    let link = LinkConfig {
        smsc: spec.smsc.clone(),
        system_id: spec.system_id.clone(),
        password: Secret::new(spec.password.clone()),
        window: spec.window,
        busy_poll: Duration::from_micros(spec.busy_poll_us),
        ..LinkConfig::default()
    };
    let mut opts = GatewayOptions::new(spec.db.clone(), link, "10658");
    opts.dispatcher.template.registered_delivery = spec.receipts;
    opts.dispatcher.validity = (spec.validity_s > 0).then(|| Duration::from_secs(spec.validity_s));
    let (mo_tx, mut mo_rx) = mpsc::channel(1024);
    tokio::spawn(async move { while mo_rx.recv().await.is_some() {} });
    let gw = Gateway::start(opts, mo_tx)
        .await
        .map_err(|e| RunError::Start(e.to_string()))?;
    let bind_wait = Duration::from_secs(15);
    let mut state = gw.link.watch_state();
    // `wait_for` returns a read guard on the watched value: drop it at once, or the link's
    // next state change (a write) would block a runtime worker for ever.
    let bound = tokio::time::timeout(bind_wait, state.wait_for(|s| *s == LinkState::Bound))
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    drop(state);
    if !bound {
        let st = format!("{:?}", gw.link.state());
        gw.shutdown().await;
        return Err(RunError::NotBound {
            smsc: spec.smsc.clone(),
            secs: bind_wait.as_secs(),
            state: st,
        });
    }
    let t0 = Instant::now();
    let cpu0 = procstat::self_cpu()?;
    let threads0 = procstat::self_threads_cpu_ns();
    let store0 = gw.store.stats();
    let deadline = t0 + Duration::from_secs(spec.timeout_s);
    let n = spec.n;
    let mut error = None;

    // Phase 1: every submit answered (an atomic counter: free to poll).
    let mut last_note = Instant::now();
    let mut t_resp = f64::NAN;
    loop {
        if gw.link.stats().submits_ok.load(Ordering::Relaxed) >= n {
            t_resp = t0.elapsed().as_secs_f64();
            break;
        }
        if Instant::now() > deadline {
            error = Some("timeout waiting for submit_sm_resp".to_string());
            break;
        }
        if last_note.elapsed() >= Duration::from_secs(5) {
            last_note = Instant::now();
            let st = gw.link.stats();
            eprintln!(
                "gw-bench mt-run: {:.0} s, submits ok {} throttled {} failed {}, rate {:.0}/s",
                t0.elapsed().as_secs_f64(),
                st.submits_ok.load(Ordering::Relaxed),
                st.submits_throttled.load(Ordering::Relaxed),
                st.submits_failed.load(Ordering::Relaxed),
                gw.link.current_rate()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Phase 2a, with receipts: every receipt persisted and answered, read from the link's
    // deliver_sm counter (free to poll; the store count below would cost the gateway a scan of
    // the final rows every poll, charged to its CPU figure).
    while spec.receipts && error.is_none() && gw.link.stats().inbound_ack.snapshot().count() < n {
        if Instant::now() > deadline {
            error = Some("timeout waiting for delivery receipts".to_string());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Phase 2b: every row persisted in its target state (store queries, only in the tail).
    let mut polls = 0u64;
    let mut t_done = f64::NAN;
    let want = if spec.receipts {
        OutboxState::Delivered
    } else {
        OutboxState::Submitted
    };
    while error.is_none() {
        polls += 1;
        match count_state(&gw, want).await {
            Ok(c) if c >= n => {
                t_done = t0.elapsed().as_secs_f64();
                break;
            }
            Ok(_) => {}
            Err(e) => error = Some(format!("store count: {e}")),
        }
        if error.is_none() && Instant::now() > deadline {
            error = Some(format!("timeout waiting for rows to be {want:?}"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = procstat::self_cpu()?.since(&cpu0);
    let threads1 = procstat::self_threads_cpu_ns();
    let store1 = gw.store.stats();
    let (peak_rss_kb, rss_end_kb) = procstat::memory_kb(std::process::id())?;
    let last = match counts(&gw).await {
        Ok(c) => c,
        Err(e) => {
            error.get_or_insert(format!("final counts: {e}"));
            OutboxCounts::default()
        }
    };
    if error.is_none() && (last.failed > 0 || last.expired > 0) {
        error = Some(format!(
            "{} failed, {} expired rows",
            last.failed, last.expired
        ));
    }
    gw.shutdown().await;
    let threads_cpu_s = threads1
        .iter()
        .map(|(k, v)| {
            let before = threads0.get(k).copied().unwrap_or(0);
            (k.clone(), v.saturating_sub(before) as f64 / 1e9)
        })
        .collect();
    Ok(RunResult {
        n,
        window: spec.window,
        receipts: spec.receipts,
        ok: error.is_none(),
        error,
        t_resp_s: t_resp,
        t_done_s: t_done,
        mps: n as f64 / t_done,
        mps_resp: n as f64 / t_resp,
        cpu_us_per_msg: cpu.total_s() * 1e6 / n as f64,
        cpu,
        threads_cpu_s,
        peak_rss_kb,
        rss_end_kb,
        store_commits: store1.commits - store0.commits,
        store_requests: store1.requests - store0.requests,
        store_largest_batch: store1.largest_batch,
        counts: last.into(),
        polls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_cycle_and_are_e164() {
        assert_eq!(destination(0), "+8613900000000");
        assert_eq!(destination(1001), "+8613900000001");
        assert_eq!(destination(999).len(), 14);
        assert_eq!(BODY.len(), 28);
    }

    #[test]
    fn fill_writes_queued_rows_to_a_real_file() {
        let dir = std::env::temp_dir().join(format!("gw-bench-fill-{}", std::process::id()));
        let db = dir.join("fill.db");
        let size = fill_outbox(&db, 250).unwrap();
        assert!(size > 0);
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        let c = store.read_blocking(outbox::counts_by_state).unwrap();
        assert_eq!(c.queued, 250);
        store.close_blocking();
        // a second fill starts from scratch
        fill_outbox(&db, 10).unwrap();
        let store = Store::open(&db, StoreOptions::default()).unwrap();
        assert_eq!(
            store.read_blocking(outbox::counts_by_state).unwrap().queued,
            10
        );
        store.close_blocking();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drains_into_smsc_sim_with_receipts() {
        let sim = smsc_sim::Simulator::start(smsc_sim::SimConfig::local())
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(format!("gw-bench-run-{}", std::process::id()));
        let db = dir.join("run.db");
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || fill_outbox(&db2, 300))
            .await
            .unwrap()
            .unwrap();
        let spec = RunSpec {
            smsc: sim.smpp_addr().to_string(),
            db,
            n: 300,
            window: 10,
            receipts: true,
            timeout_s: 60,
            system_id: "bench".into(),
            password: "bench".into(),
            worker_threads: 0,
            validity_s: 0,
            busy_poll_us: presence_gw::smpp::DEFAULT_BUSY_POLL_US,
        };
        let r = run(&spec).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.counts.delivered, 300);
        assert!(r.t_done_s >= r.t_resp_s && r.mps > 0.0);
        assert!(r.peak_rss_kb > 0 && r.store_commits > 0);
        assert_eq!(sim.stats().mt_accepted, 300);
        sim.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
