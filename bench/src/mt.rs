//! MT throughput suite (issue #4 "Bench", first line of issue #9): a pre-filled outbox of N
//! rows drained through the real gateway into an SMSC, at several windows, with receipts on
//! and off, against smsc-sim and the node-smpp SMSC; R rounds with the configurations
//! interleaved (order rotated each round, like `../shared/peers/bench.py`) so that the
//! machine's noise hits all of them alike.
//!
//! Each run: a fresh SQLite file filled here ([`gwrun::fill_outbox`]), SMSC counters reset, the
//! gateway started in a child process (`gw-bench mt-run`, see [`gwrun::run`]) that prints one
//! JSON [`RunResult`]; the SMSC's CPU is read before and after.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::gwrun::{self, RunResult, RunSpec};
use crate::peers::PeerRow;
use crate::procstat::CpuTimes;
use crate::smsc::{NodeClient, NodeClientRun, Smsc, SmscCounts, SmscError};
use crate::stats::{median, Summary};

/// Why the suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum MtError {
    /// An SMSC failed.
    #[error(transparent)]
    Smsc(#[from] SmscError),
    /// The outbox could not be filled.
    #[error("filling {db}: {source}")]
    Fill {
        /// Database.
        db: PathBuf,
        /// Underlying error (boxed: it is large).
        source: Box<gwrun::RunError>,
    },
    /// The child process could not be run.
    #[error("child run ({what}): {source}")]
    Child {
        /// What failed.
        what: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Suite parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MtParams {
    /// Rows per run.
    pub n: u64,
    /// Windows.
    pub windows: Vec<usize>,
    /// Receipts off / on.
    pub receipts: Vec<bool>,
    /// Rounds.
    pub rounds: usize,
    /// Warm-up run per SMSC (2,000 rows, window 100, not recorded).
    pub warmup: bool,
    /// Per-run timeout of the child, seconds.
    pub timeout_s: u64,
    /// Run each gateway child under `perf record -g` (profiling only: perf costs CPU, so the
    /// figures of such a session are not the benchmark's). Files go to the work folder.
    #[serde(default)]
    pub perf: bool,
    /// With `perf`: DWARF call graphs (`--call-graph dwarf`, exact stacks through Rust code
    /// built without frame pointers; large files) instead of frame pointers.
    #[serde(default)]
    pub perf_dwarf: bool,
    /// After each gateway run, run the peers' node-smpp client against the same SMSC with the
    /// same window, N and receipts setting (`esme_client.js`, with `--dlr` for receipts on),
    /// so every gateway figure has a client figure taken minutes apart on the same SMSC
    /// (`bench.py` runs the client only against the node SMSC, only without receipts, and
    /// after all the gateway runs).
    #[serde(default, alias = "node_dlr_client")]
    pub node_client: bool,
    /// The gateway child's tokio worker threads (`[runtime] worker_threads`; 0 = the
    /// gateway's default, one per core less one).
    #[serde(default)]
    pub worker_threads: usize,
    /// Validity period the gateway puts in its `submit_sm`s, seconds; 0 = none, like the
    /// peers' clients (the node-smpp SMSC turns a relative validity into a `Date` with six
    /// local-time calls per PDU: 10-15 % of its throughput, BENCHMARKS.md 2026-12-05).
    #[serde(default)]
    pub validity_s: u64,
    /// The gateway's `[smsc] busy_poll_us` (absent in results older than it: the default).
    #[serde(default = "default_busy_poll_us")]
    pub busy_poll_us: u64,
}

fn default_busy_poll_us() -> u64 {
    presence_gw::smpp::DEFAULT_BUSY_POLL_US
}

/// One run of the node-smpp client (see [`MtParams::node_client`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeClientRecord {
    /// SMSC label.
    #[serde(default = "node_smsc_label")]
    pub smsc: String,
    /// Receipts requested.
    #[serde(default = "receipts_on")]
    pub receipts: bool,
    /// Round, from 1.
    pub round: usize,
    /// What the client printed.
    pub run: NodeClientRun,
    /// SMSC CPU us per message over the client's run.
    pub smsc_us_per_msg: f64,
    /// Every submit answered OK and every receipt received.
    pub good: bool,
}

// Records written before the client ran against both SMSCs were receipts-on runs against the
// node SMSC only.
fn node_smsc_label() -> String {
    "node-smpp".into()
}

fn receipts_on() -> bool {
    true
}

/// The peer name of the node-smpp client's interleaved runs against `smsc` with or without
/// receipts, in [`PeerRow::peer`].
pub fn client_peer(smsc: &str, receipts: bool) -> String {
    format!("node@{smsc}{}", if receipts { "+dlr" } else { "" })
}

/// The node-smpp client's interleaved runs as peer rows (one per SMSC, receipts setting and
/// window, named by [`client_peer`]), in the shape of the `bench.py` summary.
pub fn summarise_clients(records: &[NodeClientRecord]) -> Vec<PeerRow> {
    let mut keys: Vec<(String, bool, usize)> = records
        .iter()
        .map(|r| (r.smsc.clone(), r.receipts, r.run.window))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(smsc, receipts, w)| {
            let all: Vec<&NodeClientRecord> = records
                .iter()
                .filter(|r| r.smsc == smsc && r.receipts == receipts && r.run.window == w)
                .collect();
            let good: Vec<&NodeClientRecord> = all.iter().copied().filter(|r| r.good).collect();
            let col = |f: &dyn Fn(&NodeClientRecord) -> f64| {
                good.iter().map(|r| f(r)).collect::<Vec<_>>()
            };
            Some(PeerRow {
                peer: client_peer(&smsc, receipts),
                param: w as u64,
                mps: Summary::of(&col(&|r| r.run.mps))?,
                peer_us_per_msg: median(&col(&|r| {
                    1e6 * (r.run.cpu_user_s + r.run.cpu_sys_s) / r.run.n.max(1) as f64
                })),
                smsc_us_per_msg: median(&col(&|r| r.smsc_us_per_msg)),
                good: good.len(),
                runs: all.len(),
            })
        })
        .collect()
}

/// One recorded run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MtRecord {
    /// SMSC label.
    pub smsc: String,
    /// Round, from 1.
    pub round: usize,
    /// What the gateway child measured.
    pub run: RunResult,
    /// SMSC CPU over the child's lifetime.
    pub smsc_cpu: CpuTimes,
    /// SMSC CPU us per message.
    pub smsc_us_per_msg: f64,
    /// SMSC counters after the run.
    pub smsc_counts: SmscCounts,
    /// Size of the filled database file before the run (bytes).
    pub db_bytes: u64,
    /// Clean: all rows settled and the SMSC saw every submit (and acked receipt).
    pub good: bool,
}

/// Run one gateway child over a freshly filled outbox.
#[allow(clippy::too_many_arguments)]
fn one_run(
    exe: &Path,
    smsc: &Smsc,
    work: &Path,
    n: u64,
    window: usize,
    receipts: bool,
    p: &MtParams,
    perf: Option<(PathBuf, bool)>,
) -> Result<(RunResult, CpuTimes, SmscCounts, u64), MtError> {
    let (timeout_s, workers) = (p.timeout_s, p.worker_threads);
    let db = work.join("mt.db");
    let db_bytes = gwrun::fill_outbox(&db, n).map_err(|source| MtError::Fill {
        db: db.clone(),
        source: Box::new(source),
    })?;
    smsc.reset()?;
    let spec = RunSpec {
        smsc: smsc.addr().to_string(),
        db: db.clone(),
        n,
        window,
        receipts,
        timeout_s,
        system_id: "bench".into(),
        password: "bench".into(),
        worker_threads: workers,
        validity_s: p.validity_s,
        busy_poll_us: p.busy_poll_us,
    };
    let log = work.join("mt-run.log");
    let logf = std::fs::File::create(&log).map_err(|source| MtError::Child {
        what: "log file",
        source,
    })?;
    let cpu0 = smsc.cpu();
    let mut cmd = match &perf {
        Some((out, dwarf)) => {
            let mut c = Command::new("perf");
            c.args(["record", "-F", "1999", "-q"])
                .args(if *dwarf {
                    &["--call-graph", "dwarf,16384"][..]
                } else {
                    &["-g"][..]
                })
                .arg("-o")
                .arg(out)
                .arg("--")
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("mt-run")
        .args(["--smsc", &spec.smsc])
        .arg("--db")
        .arg(&spec.db)
        .args(["--n", &n.to_string(), "--window", &window.to_string()])
        .args(["--timeout-s", &timeout_s.to_string()])
        .args(["--worker-threads", &workers.to_string()])
        .args(["--validity-s", &p.validity_s.to_string()])
        .args(["--busy-poll-us", &p.busy_poll_us.to_string()]);
    if receipts {
        cmd.arg("--receipts");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(logf)
        .spawn()
        .map_err(|source| MtError::Child {
            what: "spawn",
            source,
        })?;
    // The child stops itself at its timeout; this is the backstop.
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(timeout_s + 60);
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with('{') {
                    last = Some(line);
                }
            }
        }
        last
    });
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                eprintln!("[gw-bench] child {pid} over its deadline: killing it");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                return Err(MtError::Child {
                    what: "wait",
                    source,
                })
            }
        }
    }
    let smsc_cpu = smsc.cpu().since(&cpu0);
    let counts = smsc.counts()?;
    let line = reader.join().ok().flatten();
    let run = match line.and_then(|l| serde_json::from_str::<RunResult>(&l).ok()) {
        Some(r) => r,
        None => failed_run(n, window, receipts, &log),
    };
    Ok((run, smsc_cpu, counts, db_bytes))
}

fn failed_run(n: u64, window: usize, receipts: bool, log: &Path) -> RunResult {
    let tail = std::fs::read_to_string(log)
        .map(|t| {
            let start = t.len().saturating_sub(400);
            t.get(start..).unwrap_or("").to_string()
        })
        .unwrap_or_default();
    RunResult {
        n,
        window,
        receipts,
        ok: false,
        error: Some(format!("no result from child; log tail: {tail}")),
        t_resp_s: f64::NAN,
        t_done_s: f64::NAN,
        mps: f64::NAN,
        mps_resp: f64::NAN,
        cpu: CpuTimes::default(),
        cpu_us_per_msg: f64::NAN,
        threads_cpu_s: Default::default(),
        peak_rss_kb: 0,
        rss_end_kb: 0,
        store_commits: 0,
        store_requests: 0,
        store_largest_batch: 0,
        counts: Default::default(),
        polls: 0,
    }
}

/// One run of the node-smpp client against `smsc` (counters reset first); `None` when the client
/// failed to run at all (reported, and the round goes on).
fn client_run(
    client: &NodeClient,
    smsc: &Smsc,
    round: usize,
    window: usize,
    receipts: bool,
    p: &MtParams,
) -> Result<Option<NodeClientRecord>, MtError> {
    smsc.reset()?;
    let cpu0 = smsc.cpu();
    let run = match client.run(smsc.addr().port(), p.n, window, receipts, p.timeout_s) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("[gw-bench] node-smpp client run failed: {e}");
            return Ok(None);
        }
    };
    let smsc_cpu = smsc.cpu().since(&cpu0);
    let good = run.ok >= p.n && (!receipts || run.dlrs >= run.ok);
    eprintln!(
        "[gw-bench] round {} node client {:9} receipts={:3} window={:<3} {:8.0} msg/s (to last resp), {} receipts{}",
        round + 1,
        smsc.label(),
        if receipts { "on" } else { "off" },
        window,
        run.mps,
        run.dlrs,
        if good { "" } else { "  PROBLEM" }
    );
    Ok(Some(NodeClientRecord {
        smsc: smsc.label().to_string(),
        receipts,
        round: round + 1,
        smsc_us_per_msg: 1e6 * smsc_cpu.total_s() / p.n as f64,
        good,
        run,
    }))
}

/// The configurations of one round, rotated by `round` (0-based).
pub fn round_order<T: Clone>(configs: &[T], round: usize) -> Vec<T> {
    if configs.is_empty() {
        return Vec::new();
    }
    let k = round % configs.len();
    configs[k..].iter().chain(&configs[..k]).cloned().collect()
}

/// Run the suite over `smscs`. `exe` is this binary (for the `mt-run` children); `work` a
/// scratch folder on a real disk for the database.
pub fn run_suite(
    exe: &Path,
    smscs: &[Smsc],
    work: &Path,
    p: &MtParams,
    client: &NodeClient,
) -> Result<(Vec<MtRecord>, Vec<NodeClientRecord>), MtError> {
    std::fs::create_dir_all(work).map_err(|source| MtError::Child {
        what: "work dir",
        source,
    })?;
    let mut configs = Vec::new();
    for (si, _) in smscs.iter().enumerate() {
        for &r in &p.receipts {
            for &w in &p.windows {
                configs.push((si, r, w));
            }
        }
    }
    if p.warmup {
        for s in smscs {
            eprintln!("[gw-bench] warm-up against {}", s.label());
            one_run(exe, s, work, 2000.min(p.n), 100, false, p, None)?;
        }
    }
    let mut out = Vec::new();
    let mut clients = Vec::new();
    for round in 0..p.rounds {
        for (si, receipts, window) in round_order(&configs, round) {
            let smsc = &smscs[si];
            let perf = p
                .perf
                .then(|| {
                    work.join(format!(
                        "{}-{}-w{window}-r{}.perf.data",
                        smsc.label(),
                        if receipts { "dlr" } else { "nodlr" },
                        round + 1
                    ))
                })
                .map(|f| (f, p.perf_dwarf));
            let (run, smsc_cpu, counts, db_bytes) =
                one_run(exe, smsc, work, p.n, window, receipts, p, perf)?;
            let good =
                run.ok && counts.submits >= p.n && (!receipts || counts.receipts_acked >= p.n);
            eprintln!(
                "[gw-bench] round {} {:9} receipts={:3} window={:<3} {:8.0} msg/s (resp {:8.0})  gw {:5.1} us/msg  smsc {:5.1} us/msg  rss {:5.1} MB{}",
                round + 1,
                smsc.label(),
                if receipts { "on" } else { "off" },
                window,
                run.mps,
                run.mps_resp,
                run.cpu_us_per_msg,
                1e6 * smsc_cpu.total_s() / p.n as f64,
                run.peak_rss_kb as f64 / 1024.0,
                if good {
                    String::new()
                } else {
                    format!("  PROBLEM: {:?} smsc {:?}", run.error, counts)
                }
            );
            out.push(MtRecord {
                smsc: smsc.label().to_string(),
                round: round + 1,
                smsc_us_per_msg: 1e6 * smsc_cpu.total_s() / p.n as f64,
                smsc_cpu,
                smsc_counts: counts,
                db_bytes,
                good,
                run,
            });
            std::thread::sleep(Duration::from_millis(300));
            if p.node_client {
                if let Some(rec) = client_run(client, smsc, round, window, receipts, p)? {
                    clients.push(rec);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(work.join(format!("mt.db{suffix}")));
    }
    Ok((out, clients))
}

/// One configuration summarised over its rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MtRow {
    /// SMSC label.
    pub smsc: String,
    /// Receipts on.
    pub receipts: bool,
    /// Window.
    pub window: usize,
    /// msg/s (all rows persisted) over the rounds.
    pub mps: Summary,
    /// Median msg/s to the last submit_sm_resp.
    pub mps_resp: f64,
    /// Median gateway CPU % (100 = one core).
    pub gw_cpu_pct: f64,
    /// Gateway CPU us per message over the rounds.
    pub gw_us_per_msg: Summary,
    /// Median SMSC CPU us per message.
    pub smsc_us_per_msg: f64,
    /// Median peak RSS of the gateway (MB).
    pub peak_rss_mb: f64,
    /// Median store commits per message.
    pub commits_per_msg: f64,
    /// Median share of the store writer thread in the gateway's CPU (0..1).
    pub store_writer_share: f64,
    /// Clean rounds.
    pub good: usize,
    /// Rounds.
    pub runs: usize,
}

/// Summarise records per (smsc, receipts, window), in first-seen order; failed runs are
/// counted but left out of the figures.
pub fn summarise(records: &[MtRecord]) -> Vec<MtRow> {
    let mut keys: Vec<(String, bool, usize)> = Vec::new();
    for r in records {
        let k = (r.smsc.clone(), r.run.receipts, r.run.window);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    keys.into_iter()
        .filter_map(|(smsc, receipts, window)| {
            let all: Vec<&MtRecord> = records
                .iter()
                .filter(|r| r.smsc == smsc && r.run.receipts == receipts && r.run.window == window)
                .collect();
            let rs: Vec<&MtRecord> = all.iter().copied().filter(|r| r.good).collect();
            let col = |f: &dyn Fn(&MtRecord) -> f64| rs.iter().map(|r| f(r)).collect::<Vec<_>>();
            let mps = Summary::of(&col(&|r| r.run.mps))?;
            Some(MtRow {
                mps,
                mps_resp: median(&col(&|r| r.run.mps_resp)),
                gw_cpu_pct: median(&col(&|r| 100.0 * r.run.cpu.total_s() / r.run.t_done_s)),
                gw_us_per_msg: Summary::of(&col(&|r| r.run.cpu_us_per_msg))?,
                smsc_us_per_msg: median(&col(&|r| r.smsc_us_per_msg)),
                peak_rss_mb: median(&col(&|r| r.run.peak_rss_kb as f64 / 1024.0)),
                commits_per_msg: median(&col(&|r| r.run.store_commits as f64 / r.run.n as f64)),
                store_writer_share: median(&col(&|r| {
                    let total: f64 = r.run.threads_cpu_s.values().sum();
                    r.run
                        .threads_cpu_s
                        .get("store-writer")
                        .copied()
                        .unwrap_or(0.0)
                        / total
                })),
                good: rs.len(),
                runs: all.len(),
                smsc,
                receipts,
                window,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_covers_every_config_once() {
        let c = [1, 2, 3];
        assert_eq!(round_order(&c, 0), vec![1, 2, 3]);
        assert_eq!(round_order(&c, 1), vec![2, 3, 1]);
        assert_eq!(round_order(&c, 5), vec![3, 1, 2]);
        assert!(round_order::<u8>(&[], 3).is_empty());
    }

    fn rec(smsc: &str, window: usize, mps: f64, good: bool) -> MtRecord {
        let mut run = failed_run(1000, window, false, Path::new("/nonexistent"));
        run.ok = good;
        run.mps = mps;
        run.mps_resp = mps * 1.1;
        run.t_done_s = 1000.0 / mps;
        run.cpu = CpuTimes {
            user_s: 0.008,
            sys_s: 0.002,
        };
        run.cpu_us_per_msg = 10.0;
        run.store_commits = 100;
        run.threads_cpu_s = [("store-writer".to_string(), 0.25), ("w".to_string(), 0.75)]
            .into_iter()
            .collect();
        MtRecord {
            smsc: smsc.into(),
            round: 1,
            run,
            smsc_cpu: CpuTimes::default(),
            smsc_us_per_msg: 5.0,
            smsc_counts: SmscCounts::default(),
            db_bytes: 0,
            good,
        }
    }

    #[test]
    fn summary_skips_bad_runs_but_counts_them() {
        let rs = vec![
            rec("node-smpp", 10, 1000.0, true),
            rec("node-smpp", 10, 3000.0, true),
            rec("node-smpp", 10, 9e9, false),
            rec("smsc-sim", 1, 500.0, false),
        ];
        let rows = summarise(&rs);
        assert_eq!(rows.len(), 1, "all-bad configs have no figures");
        let r = &rows[0];
        assert_eq!((r.good, r.runs), (2, 3));
        assert_eq!(r.mps.median, 2000.0);
        assert!((r.commits_per_msg - 0.1).abs() < 1e-9);
        assert!((r.store_writer_share - 0.25).abs() < 1e-9);
        assert!((r.gw_cpu_pct - median(&[1.0, 3.0])).abs() < 1e-9);
    }

    #[test]
    fn client_runs_group_by_smsc_receipts_and_window() {
        let rec =
            |smsc: &str, receipts: bool, window: usize, mps: f64, good: bool| NodeClientRecord {
                smsc: smsc.into(),
                receipts,
                round: 1,
                run: NodeClientRun {
                    window,
                    n: 1000,
                    ok: 1000,
                    mps,
                    cpu_user_s: 0.02,
                    ..Default::default()
                },
                smsc_us_per_msg: 7.0,
                good,
            };
        let rows = summarise_clients(&[
            rec("smsc-sim", false, 10, 100.0, true),
            rec("smsc-sim", false, 10, 300.0, true),
            rec("smsc-sim", true, 10, 50.0, true),
            rec("node-smpp", true, 10, 70.0, true),
            rec("node-smpp", true, 10, 9e9, false),
        ]);
        let names: Vec<(&str, u64)> = rows.iter().map(|r| (r.peer.as_str(), r.param)).collect();
        assert_eq!(
            names,
            vec![
                ("node@node-smpp+dlr", 10),
                ("node@smsc-sim", 10),
                ("node@smsc-sim+dlr", 10)
            ]
        );
        assert_eq!((rows[0].good, rows[0].runs), (1, 2));
        assert_eq!(rows[0].mps.median, 70.0);
        assert_eq!(rows[1].mps.median, 200.0);
        assert!((rows[1].peer_us_per_msg - 20.0).abs() < 1e-9);
        // An old record (receipts-on runs against the node SMSC only) reads as such.
        let old: NodeClientRecord = serde_json::from_value(serde_json::json!({
            "round": 1, "run": {"window": 1, "n": 1, "ok": 1, "dlrs": 1, "elapsed_s": 1.0,
            "mps": 1.0, "cpu_user_s": 0.0, "cpu_sys_s": 0.0},
            "smsc_us_per_msg": 1.0, "good": true
        }))
        .unwrap();
        assert_eq!((old.smsc.as_str(), old.receipts), ("node-smpp", true));
    }

    #[test]
    fn failed_run_reads_no_log_without_panicking() {
        let r = failed_run(5, 1, true, Path::new("/nonexistent/log"));
        assert!(!r.ok && r.error.is_some() && r.mps.is_nan());
    }
}
