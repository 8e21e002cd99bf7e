//! `gw-bench`: the benchmark runner. One subcommand per suite; each prints a table and writes
//! JSON + Markdown under `bench/results/`.
//!
//! ```sh
//! cargo run --release -p gw-bench -- mt --peers          # gateway suite + peers, same session
//! cargo run --release -p gw-bench -- mt --smsc sim --rounds 1 --n 5000
//! cargo run --release -p gw-bench -- peers -- --peers node --windows 100 --reps 1 --no-interop
//! ```
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use gw_bench::gwrun::{self, RunSpec};
use gw_bench::mt::{self, MtParams};
use gw_bench::peers::{self, PeerRow, PeersPaths};
use gw_bench::report::{self, Machine};
use gw_bench::smsc::{NodeClient, NodeSmsc, SimSmsc, Smsc};
use gw_bench::{fanout, floor, http, latency, mo, outbox, scale};

/// mimalloc for Rust and, through its `override` feature, for SQLite's C allocations: the
/// store writer spent a fifth of its time in glibc malloc/free (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// This crate's folder (results go to `<it>/results`).
const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Debug, Parser)]
#[command(
    name = "gw-bench",
    about = "presence-gw benchmarks beside the SMPP peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// MT throughput: pre-filled outbox -> gateway -> SMSC, windows x receipts x SMSCs.
    Mt(MtArgs),
    /// (internal) one measured gateway run over a pre-filled database; prints one JSON line.
    #[command(hide = true)]
    MtRun(RunSpec),
    /// Run ../shared/peers/bench.py from a writable copy; arguments after `--` go to it.
    Peers(PeersArgs),
    /// MO commands per second end to end (issue #5): deliver_sm in -> processed -> replies.
    Mo(MoArgs),
    /// STATUS deliver_sm -> first fan-out submit_sm latency at a fixed load (issue #5).
    Latency(LatencyArgs),
    /// One status change to a FAMILY of N: time to the last submit (issue #9).
    Fanout(FanoutArgs),
    /// Avatar HTTP requests/s (200 and 304 paths) and upload pipeline ms per image (issue #6).
    Http(HttpArgs),
    /// The store writer's CPU per MT message (claim, record, receipt) without the network
    /// (issue #4): the steady part of `mt`'s figure, for comparing store changes.
    Outbox(OutboxArgs),
    /// Store at scale: generate subscribers and memberships, size on disk, WHO time (issue #9).
    Scale(ScaleArgs),
    /// The floor beside `mt`: the CPU per message of a client doing only the socket work
    /// (no store, no runtime), against the same SMSCs, windows and receipts (issue #4).
    Floor(FloorArgs),
    /// Every suite in turn with its defaults (`mt` beside the peers), each printing its table
    /// and writing its JSON: the whole of BENCHMARKS.md in one command.
    All,
}

/// The suites `all` runs, as command lines.
const ALL_SUITES: &[&[&str]] = &[
    &["mt", "--peers"],
    &["outbox"],
    &["floor"],
    &["mo"],
    &["latency"],
    &["fanout"],
    &["http"],
    &["scale"],
];

#[derive(Debug, clap::Args)]
struct ScaleArgs {
    /// Subscribers to generate.
    #[arg(long, default_value_t = 1_000_000)]
    subscribers: usize,
    /// Memberships per subscriber.
    #[arg(long, default_value_t = 10)]
    per_subscriber: usize,
    /// Subscribers per transaction.
    #[arg(long, default_value_t = 50_000)]
    chunk: usize,
    /// Stop generating after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    budget_s: f64,
    /// WHO commands timed.
    #[arg(long, default_value_t = 1000)]
    who: usize,
    /// Keep the generated database (bench/results/tmp/scale.db).
    #[arg(long)]
    keep: bool,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds per path.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Query of the avatar URL (size and format).
    #[arg(long, default_value = "")]
    query: String,
    /// Pipeline runs per input.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct LatencyArgs {
    /// Owners (round-robin senders).
    #[arg(long, default_value_t = 2000)]
    subscribers: usize,
    /// FAMILY members per owner.
    #[arg(long, default_value_t = 3)]
    family: usize,
    /// STATUS commands per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// smsc-sim deliver_sm windows to run (receipts share the window with MO).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 100])]
    deliver_windows: Vec<usize>,
    /// Runs per window (a shared VM's disk and neighbours vary run to run: see the host
    /// iowait / steal column).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct OutboxArgs {
    /// Rows queued before each round.
    #[arg(long, default_value_t = 100_000)]
    n: u64,
    /// Rows per transaction (one claim, one record, one receipt transaction per batch).
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Receipts: off, on or both.
    #[arg(long, default_value = "both")]
    receipts: String,
    /// Rounds, a fresh database each.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Rows also queued but not due for an hour, which every claim passes by.
    #[arg(long, default_value_t = 0)]
    deferred: u64,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct FloorArgs {
    /// Messages per run.
    #[arg(long, default_value_t = 20_000)]
    n: u64,
    /// Windows (requests in flight).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10, 100])]
    windows: Vec<usize>,
    /// Receipts: off, on or both.
    #[arg(long, default_value = "both")]
    receipts: String,
    /// The SMSCs (as `mt`).
    #[command(flatten)]
    smscs: SmscArgs,
    /// Runs per case (the median is shown).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct FanoutArgs {
    /// FAMILY size.
    #[arg(long, default_value_t = 200)]
    members: usize,
    /// Repetitions.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Gateway SMPP windows (one run each).
    #[arg(long, value_delimiter = ',', default_values_t = [64usize])]
    link_windows: Vec<usize>,
    /// Receipts on the updates: off, on or both.
    #[arg(long, default_value = "on")]
    receipts: String,
    /// Name of the result files.
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct MoArgs {
    /// Owners sending commands.
    #[arg(long, default_value_t = 2000)]
    subscribers: usize,
    /// FAMILY members per owner.
    #[arg(long, default_value_t = 3)]
    family: usize,
    /// Commands in total.
    #[arg(long, default_value_t = 20_000)]
    commands: usize,
    /// smsc-sim deliver_sm windows to run (one run each).
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 100])]
    deliver_windows: Vec<usize>,
    /// Gateway SMPP window.
    #[arg(long, default_value_t = 64)]
    link_window: usize,
    /// Per-run timeout, seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Name of the result files (`results/mo-<tag>.json|md`).
    #[arg(long, default_value = "latest")]
    tag: String,
}

/// The SMSCs a network suite (`mt`, `floor`) drains into.
#[derive(Debug, clap::Args)]
struct SmscArgs {
    /// SMSCs: sim (smsc-sim in this process), node (node-smpp SMSC child process).
    #[arg(long, value_delimiter = ',', default_values = ["sim", "node"])]
    smsc: Vec<String>,
    /// smsc-sim worker threads (node's SMSC is one thread).
    #[arg(long, default_value_t = 1)]
    sim_threads: usize,
    /// smsc-sim receipts in flight per bind.
    #[arg(long, default_value_t = 100)]
    sim_deliver_window: usize,
    /// SMPP port of our node-smpp SMSC (stats on the next port).
    #[arg(long, default_value_t = 28800)]
    node_port: u16,
}

impl SmscArgs {
    /// Start the SMSC an `--smsc` value names: `sim` (smsc-sim in this process) or `node`
    /// (the node-smpp SMSC, its log in `work`).
    fn start(&self, name: &str, work: &Path) -> Result<Smsc> {
        Ok(match name {
            "sim" => Smsc::Sim(SimSmsc::start(self.sim_threads, self.sim_deliver_window)?),
            "node" => {
                let paths = peers_paths();
                Smsc::Node(NodeSmsc::start(
                    &paths.source.join("node/smsc_server.js"),
                    &paths.node_modules,
                    self.node_port,
                    self.node_port + 1,
                    7200,
                    &work.join("node-smsc.log"),
                )?)
            }
            other => bail!("--smsc takes sim,node (got {other})"),
        })
    }
}

#[derive(Debug, clap::Args)]
struct MtArgs {
    /// Queued rows per run.
    #[arg(long, default_value_t = 20_000)]
    n: u64,
    /// SMPP windows.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 10, 100])]
    windows: Vec<usize>,
    /// Receipts: off, on or both.
    #[arg(long, value_delimiter = ',', default_values = ["off", "on"])]
    receipts: Vec<String>,
    /// The SMSCs.
    #[command(flatten)]
    smscs: SmscArgs,
    /// Rounds (configurations interleaved, order rotated each round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Skip the warm-up run per SMSC.
    #[arg(long)]
    no_warmup: bool,
    /// Per-run timeout, seconds.
    #[arg(long, default_value_t = 180)]
    timeout_s: u64,
    /// Also run the peers harness in this session (after the gateway runs) and compare.
    #[arg(long)]
    peers: bool,
    /// Rounds of the peers harness.
    #[arg(long, default_value_t = 3)]
    peers_reps: usize,
    /// Peers to run (smpp34 is not installed in tests/interop/.venv).
    #[arg(long, default_value = "node,smpplib,kannel")]
    peers_list: String,
    /// Base port of the peers harness.
    #[arg(long, default_value_t = 28750)]
    peers_base_port: u16,
    /// Instead of running the peers, compare with this bench.py results JSON.
    #[arg(long, conflicts_with = "peers")]
    peers_json: Option<PathBuf>,
    /// Profile every gateway run with `perf record -g` (files in bench/results/tmp; the
    /// figures of a profiled session are not benchmark figures).
    #[arg(long)]
    perf: bool,
    /// With --perf: DWARF call graphs (exact stacks, large files).
    #[arg(long, requires = "perf")]
    perf_dwarf: bool,
    /// Do not run the node-smpp client after each gateway run, against the same SMSC with the
    /// same window and receipts setting (its figures are what the gateway's are compared
    /// with; without them only bench.py's receipts-off node-SMSC figures are).
    #[arg(long)]
    no_node_client: bool,
    /// The gateway's tokio worker threads (0: its default, one per core less one).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
    /// Validity period in the gateway's submit_sms, seconds; 0 (the default) sends none, as
    /// the peers' clients do, so both sides hand the SMSC the same PDU shape.
    #[arg(long, default_value_t = 0)]
    validity_s: u64,
    /// The gateway's `[smsc] busy_poll_us` (0: never poll the socket for an answer).
    #[arg(long, default_value_t = presence_gw::smpp::DEFAULT_BUSY_POLL_US)]
    busy_poll_us: u64,
    /// Name of the result files (`results/mt-<tag>.json|md`).
    #[arg(long, default_value = "latest")]
    tag: String,
}

#[derive(Debug, clap::Args)]
struct PeersArgs {
    /// Results tag for bench.py.
    #[arg(long, default_value = "gw-bench")]
    tag: String,
    /// Arguments for bench.py.
    #[arg(last = true)]
    rest: Vec<String>,
}

fn repo_dir() -> PathBuf {
    Path::new(CRATE_DIR)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn results_dir() -> PathBuf {
    Path::new(CRATE_DIR).join("results")
}

fn peers_paths() -> PeersPaths {
    let repo = repo_dir();
    PeersPaths {
        source: repo.join("../shared/peers"),
        work: results_dir().join("peers-run"),
        node_modules: repo.join("tests/interop/node_modules"),
        venv: repo.join("tests/interop/.venv"),
    }
}

fn run_peers(tag: &str, args: &[String]) -> Result<(serde_json::Value, Vec<PeerRow>)> {
    let paths = peers_paths();
    let files = peers::prepare(&paths).context("preparing the peers copy")?;
    eprintln!(
        "[gw-bench] peers: {files} files copied to {}; running bench.py {}",
        paths.work.display(),
        args.join(" ")
    );
    let (code, json) = peers::run(&paths, tag, args)?;
    if code != 0 {
        eprintln!("[gw-bench] bench.py exited with {code} (some run was not clean; see its table)");
    }
    Ok(peers::load(&json)?)
}

fn mt_cmd(a: MtArgs) -> Result<()> {
    let machine = Machine::current(&repo_dir());
    let receipts: Vec<bool> = a
        .receipts
        .iter()
        .map(|r| match r.as_str() {
            "off" => Ok(false),
            "on" => Ok(true),
            other => bail!("--receipts takes off,on (got {other})"),
        })
        .collect::<Result<_>>()?;
    let params = MtParams {
        n: a.n,
        windows: a.windows.clone(),
        receipts,
        rounds: a.rounds,
        warmup: !a.no_warmup,
        timeout_s: a.timeout_s,
        perf: a.perf,
        perf_dwarf: a.perf_dwarf,
        node_client: !a.no_node_client,
        worker_threads: a.worker_threads,
        validity_s: a.validity_s,
        busy_poll_us: a.busy_poll_us,
    };
    let results = results_dir();
    let work = results.join("tmp");
    std::fs::create_dir_all(&work)?;
    let exe = std::env::current_exe().context("locating gw-bench")?;
    let paths = peers_paths();
    let smscs = a
        .smscs
        .smsc
        .iter()
        .map(|s| a.smscs.start(s, &work))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "[gw-bench] mt: N={} windows {:?} receipts {:?} SMSCs {:?}, {} rounds",
        a.n, a.windows, a.receipts, a.smscs.smsc, a.rounds
    );
    let client = NodeClient {
        script: paths.source.join("node/esme_client.js"),
        node_modules: paths.node_modules.clone(),
    };
    let (records, clients) = mt::run_suite(&exe, &smscs, &work, &params, &client)?;
    drop(smscs);
    let rows = mt::summarise(&records);

    let (peers_doc, peer_rows) = if a.peers {
        let args: Vec<String> = [
            "--n",
            &a.n.to_string(),
            "--reps",
            &a.peers_reps.to_string(),
            "--windows",
            &a.windows
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(","),
            "--peers",
            &a.peers_list,
            "--base-port",
            &a.peers_base_port.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (doc, rows) = run_peers(&format!("mt-{}", a.tag), &args)?;
        (Some(doc), rows)
    } else if let Some(p) = &a.peers_json {
        let (doc, rows) = peers::load(p)?;
        (Some(doc), rows)
    } else {
        (None, Vec::new())
    };
    let mut peer_rows = peer_rows;
    peer_rows.extend(mt::summarise_clients(&clients));
    // Kannel's SMPP window, from the configuration the peers harness runs it with.
    let kannel_window = std::fs::read_to_string(paths.source.join("kannel/kannel.conf"))
        .ok()
        .and_then(|conf| report::kannel_window(&conf));
    let targets = report::check_targets(&rows, &peer_rows, kannel_window);
    let md = report::render(&machine, a.n, a.rounds, &rows, &peer_rows, &targets);
    let doc = serde_json::json!({
        "suite": "mt",
        "machine": machine,
        "params": params,
        "smscs": a.smscs.smsc,
        "sim_threads": a.smscs.sim_threads,
        "sim_deliver_window": a.smscs.sim_deliver_window,
        "summary": rows,
        "runs": records,
        "node_client_receipts_on": clients,
        "peers": { "summary": peer_rows, "bench_py": peers_doc },
        "targets": targets,
    });
    let json_path = results.join(format!("mt-{}.json", a.tag));
    let md_path = results.join(format!("mt-{}.md", a.tag));
    std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)?;
    std::fs::write(&md_path, &md)?;
    println!("{md}");
    eprintln!(
        "[gw-bench] wrote {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

fn mt_run_cmd(spec: RunSpec) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rusmpp=warn".into()),
        )
        .init();
    // The gateway binary's runtime (`presence-gw serve` builds the same one).
    let rt = presence_gw::app::runtime(spec.worker_threads)?;
    let result = rt.block_on(gwrun::run(&spec))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// Write `results/<suite>-<tag>.json|md`, print the Markdown.
fn write_results(suite: &str, tag: &str, doc: &serde_json::Value, md: &str) -> Result<()> {
    let results = results_dir();
    std::fs::create_dir_all(&results)?;
    let json_path = results.join(format!("{suite}-{tag}.json"));
    let md_path = results.join(format!("{suite}-{tag}.md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(doc)?)?;
    std::fs::write(&md_path, md)?;
    println!("{md}");
    eprintln!(
        "[gw-bench] wrote {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

/// A scratch database path under `results/tmp`.
fn scratch_db(name: &str) -> Result<PathBuf> {
    let work = results_dir().join("tmp");
    std::fs::create_dir_all(&work)?;
    Ok(work.join(name))
}

/// The gateway binary's runtime, with its default worker count, for the in-process suites.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(presence_gw::app::runtime(0)?)
}

fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rusmpp=warn".into()),
        )
        .try_init();
}

fn mo_cmd(a: MoArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let rt = runtime()?;
    let mut rows = Vec::new();
    for &dw in &a.deliver_windows {
        let p = mo::MoParams {
            subscribers: a.subscribers,
            family: a.family,
            commands: a.commands,
            deliver_window: dw,
            link_window: a.link_window,
            timeout_s: a.timeout_s,
        };
        eprintln!("[gw-bench] mo: {p:?}");
        let r = rt.block_on(mo::run(scratch_db("mo.db")?, &p))?;
        eprintln!(
            "[gw-bench] mo: deliver window {dw}: {:.0} commands/s ({:?})",
            r.commands_per_s, r.error
        );
        rows.push(r);
    }
    let md = format!(
        "## mo: MO commands/s end to end\n\n{}\n{}\n\nTarget (issue #5): >= 10,000 commands/s: {}\n",
        machine_line(&machine),
        mo::render(&rows),
        target_verdict(rows.iter().map(|r| r.commands_per_s).fold(0.0, f64::max) >= 10_000.0)
    );
    let doc = serde_json::json!({"suite": "mo", "machine": machine, "runs": rows});
    write_results("mo", &a.tag, &doc, &md)
}

fn latency_cmd(a: LatencyArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let rt = runtime()?;
    let mut rows = Vec::new();
    for &dw in &a.deliver_windows {
        let p = latency::LatencyParams {
            subscribers: a.subscribers,
            family: a.family,
            rate: a.rate,
            seconds: a.seconds,
            deliver_window: dw,
        };
        for rep in 1..=a.reps.max(1) {
            eprintln!("[gw-bench] latency run {rep}: {p:?}");
            rows.push(rt.block_on(latency::run(scratch_db("latency.db")?, &p))?);
        }
    }
    let md = format!(
        "## latency: STATUS deliver_sm -> first fan-out submit_sm\n\n{}\n\n{}\nIssue #5 asks for p50 and p99 at 1,000 commands/s (no figure set).\n",
        machine_line(&machine),
        latency::render(&rows),
    );
    let doc = serde_json::json!({"suite": "latency", "machine": machine, "runs": rows});
    write_results("latency", &a.tag, &doc, &md)
}

fn fanout_cmd(a: FanoutArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let rt = runtime()?;
    let receipts = on_off(&a.receipts)?;
    let mut md = format!(
        "## fanout: one status change to a FAMILY of {}\n\n{}\n\n",
        a.members,
        machine_line(&machine)
    );
    let mut runs = Vec::new();
    for &lw in &a.link_windows {
        for &rc in &receipts {
            let p = fanout::FanoutParams {
                members: a.members,
                reps: a.reps,
                link_window: lw,
                receipts: rc,
            };
            eprintln!("[gw-bench] fanout: {p:?}");
            let r = rt.block_on(fanout::run(scratch_db("fanout.db")?, &p))?;
            md.push_str(&fanout::render(&r));
            md.push('\n');
            runs.push(r);
        }
    }
    let doc = serde_json::json!({"suite": "fanout", "machine": machine, "runs": runs});
    write_results("fanout", &a.tag, &doc, &md)
}

fn http_cmd(a: HttpArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let repo = repo_dir();
    let preset = repo.join("fixtures/presets/01-cat.png");
    let inputs = http::inputs(&repo.join("fixtures/images/good"), &preset);
    eprintln!("[gw-bench] http: pipeline on {} inputs", inputs.len());
    let pipe = http::pipeline(&inputs, a.iterations);
    let picture = std::fs::read(&preset).context("reading the preset picture")?;
    let rt = runtime()?;
    eprintln!(
        "[gw-bench] http: {} connections, {} s per path",
        a.connections, a.seconds
    );
    let runs = http::run_http(
        &rt,
        scratch_db("http.db")?,
        picture,
        a.connections,
        a.seconds,
        &a.query,
    )?;
    let md = format!(
        "## http: avatar requests/s and upload pipeline\n\n{}\n\n{}\nIssue #6 sets no figure.\n",
        machine_line(&machine),
        http::render(&runs, &pipe)
    );
    let doc = serde_json::json!({"suite": "http", "machine": machine, "runs": runs, "pipeline": pipe, "query": a.query});
    write_results("http", &a.tag, &doc, &md)
}

fn outbox_cmd(a: OutboxArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let receipts = on_off(&a.receipts)?;
    let mut md = format!(
        "## outbox: the store writer's CPU per MT message\n\n{}\n\n",
        machine_line(&machine)
    );
    let db = scratch_db("outbox.db")?;
    let mut runs = Vec::new();
    for rc in receipts {
        let p = outbox::OutboxParams {
            n: a.n,
            batch: a.batch,
            receipts: rc,
            rounds: a.rounds,
            deferred: a.deferred,
        };
        let r = outbox::run(&db, &p)?;
        md.push_str(&outbox::render(&r));
        md.push('\n');
        runs.push(r);
    }
    gw_bench::world::remove_db(&db);
    let doc = serde_json::json!({"suite": "outbox", "machine": machine, "runs": runs});
    write_results("outbox", &a.tag, &doc, &md)
}

fn scale_cmd(a: ScaleArgs) -> Result<()> {
    init_log();
    let machine = Machine::current(&repo_dir());
    let p = scale::ScaleParams {
        subscribers: a.subscribers,
        per_subscriber: a.per_subscriber,
        chunk: a.chunk,
        budget_s: a.budget_s,
        who_queries: a.who,
    };
    eprintln!("[gw-bench] scale: {p:?}");
    let db = scratch_db("scale.db")?;
    let r = scale::run(&db, &p)?;
    if !a.keep {
        gw_bench::world::remove_db(&db);
    }
    let md = format!(
        "## scale: the store at {} subscribers / {} memberships\n\n{}\n\n{}\n",
        r.subscribers,
        r.memberships,
        machine_line(&machine),
        scale::render(std::slice::from_ref(&r))
    );
    let doc = serde_json::json!({"suite": "scale", "machine": machine, "runs": [r]});
    write_results("scale", &a.tag, &doc, &md)
}

fn floor_cmd(a: FloorArgs) -> Result<()> {
    let machine = Machine::current(&repo_dir());
    let receipts = on_off(&a.receipts)?;
    let work = results_dir().join("tmp");
    std::fs::create_dir_all(&work)?;
    let mut md = format!(
        "## floor: a client doing only the socket work, CPU per message\n\n{}\n\n\
         | SMSC | receipts | window | msg/s | client µs/msg | reads/msg | writes/msg |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
        machine_line(&machine)
    );
    let mut runs = Vec::new();
    for name in &a.smscs.smsc {
        let smsc = a.smscs.start(name, &work)?;
        for &rc in &receipts {
            for &w in &a.windows {
                let mut got = Vec::new();
                for _ in 0..a.rounds.max(1) {
                    smsc.reset()?;
                    let (addr, n) = (smsc.addr(), a.n);
                    let r = std::thread::Builder::new()
                        .name("floor".into())
                        .spawn(move || floor::run(addr, n, w, rc))?
                        .join()
                        .map_err(|_| anyhow::anyhow!("the floor client panicked"))??;
                    got.push(r);
                }
                let med = |f: fn(&floor::FloorResult) -> f64| {
                    gw_bench::stats::median(&got.iter().map(f).collect::<Vec<_>>())
                };
                let line = format!(
                    "| {} | {} | {w} | {:.0} | {:.1} | {:.2} | {:.2} |\n",
                    smsc.label(),
                    if rc { "on" } else { "off" },
                    med(|r| r.msgs_per_s),
                    med(|r| r.cpu_us_per_msg),
                    med(|r| r.reads_per_msg),
                    med(|r| r.writes_per_msg),
                );
                eprint!("[gw-bench] floor {line}");
                md.push_str(&line);
                runs.push(serde_json::json!({"smsc": smsc.label(), "rounds": got}));
            }
        }
    }
    let doc = serde_json::json!({"suite": "floor", "machine": machine, "runs": runs});
    write_results("floor", &a.tag, &doc, &md)
}

/// A `--receipts` value of the service suites: `on`, `off` or `both` (off first).
fn on_off(value: &str) -> Result<Vec<bool>> {
    Ok(match value {
        "on" => vec![true],
        "off" => vec![false],
        "both" => vec![false, true],
        other => bail!("--receipts takes on, off or both (got {other})"),
    })
}

fn machine_line(m: &Machine) -> String {
    format!(
        "{} UTC; {} × {}; Linux {}; load at start {}; code {}",
        m.date_utc, m.cpus, m.cpu, m.kernel, m.loadavg_start, m.git_commit
    )
}

fn target_verdict(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**not met**"
    }
}

fn main() -> Result<()> {
    run(Cli::parse().command)
}

fn run(command: Cmd) -> Result<()> {
    match command {
        Cmd::All => {
            for suite in ALL_SUITES {
                let argv = std::iter::once("gw-bench").chain(suite.iter().copied());
                let cli = Cli::try_parse_from(argv).context("suite arguments")?;
                println!("\n==== gw-bench {} ====", suite.join(" "));
                run(cli.command)?;
            }
            Ok(())
        }
        Cmd::Mo(a) => mo_cmd(a),
        Cmd::Latency(a) => latency_cmd(a),
        Cmd::Fanout(a) => fanout_cmd(a),
        Cmd::Http(a) => http_cmd(a),
        Cmd::Outbox(a) => outbox_cmd(a),
        Cmd::Scale(a) => scale_cmd(a),
        Cmd::Floor(a) => floor_cmd(a),
        Cmd::Mt(a) => mt_cmd(a),
        Cmd::MtRun(spec) => mt_run_cmd(spec),
        Cmd::Peers(p) => {
            let (_, rows) = run_peers(&p.tag, &p.rest)?;
            for r in rows {
                println!(
                    "{:8} {:>4}  {:8.0} msg/s ({:.0} - {:.0})  peer {:6.1} us/msg  smsc {:5.1} us/msg  {}/{} good",
                    r.peer, r.param, r.mps.median, r.mps.min, r.mps.max, r.peer_us_per_msg,
                    r.smsc_us_per_msg, r.good, r.runs
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_of_all_parses_with_its_defaults() {
        for suite in ALL_SUITES {
            let argv = std::iter::once("gw-bench").chain(suite.iter().copied());
            let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{suite:?}: {e}"));
            assert!(
                !matches!(cli.command, Cmd::All | Cmd::MtRun(_)),
                "{suite:?}"
            );
        }
    }
}
