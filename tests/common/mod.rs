//! Helpers shared by the tests that run the real `presence-gw` binary as a child process
//! against an in-process smsc-sim (`crash.rs`, `shutdown.rs`): fill an outbox file before the
//! gateway starts, and spawn the binary on it (also the process tests with no simulator of
//! their own, `cli.rs` and `first_run.rs`: [`gateway_process`]).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use presence_gw::store::outbox::{self, NewMessage};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use smsc_sim::{DeliveryKind, DeliveryRecord, MtFilter, SimHandle};

/// The gateway binary as the process tests run it: in `dir`, with none of the gateway's
/// variables taken from this environment, logging at info, stdin closed, stdout piped (the
/// banner) and stderr into the file `dir/<stderr>`.
#[allow(dead_code)] // not every test binary uses it
pub fn gateway_process(dir: &Path, stderr: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_presence-gw"));
    c.current_dir(dir)
        .env_remove("PRESENCE_GW_API_KEY")
        .env_remove("PRESENCE_GW_SMSC_PASSWORD")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join(stderr)).expect("create the stderr file"),
        ));
    c
}

/// The lines `child` writes on its (piped) stdout, read by a thread of their own that goes on
/// reading to the end even when the receiver is gone, so the child never blocks on a full pipe.
#[allow(dead_code)] // not every test binary uses it
pub fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// The simulator account the child binds with.
pub const SYSTEM_ID: &str = "presence";
/// Its password (passed in the environment, never on the command line).
pub const PASSWORD: &str = "pw123";
/// The service number.
pub const SERVICE_NUMBER: &str = "10658";

/// Queue `n` SMS into the outbox of `db` (message `i` to `destination(i)` with `body(i)`),
/// 1,000 per transaction, and check they are all queued.
#[allow(dead_code)] // not every test binary uses it
pub async fn fill_outbox(
    db: &Path,
    n: usize,
    destination: impl Fn(usize) -> String,
    body: impl Fn(usize) -> String,
) {
    let store = Store::open(db, StoreOptions::default()).expect("store opens");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let msgs: Vec<NewMessage> = chunk
            .iter()
            .map(|&i| NewMessage::sms(destination(i), body(i)))
            .collect();
        let now = now_ms();
        store
            .write(move |tx| {
                for m in &msgs {
                    outbox::enqueue(tx, m, now)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .expect("enqueue");
    }
    let c = store.read(outbox::counts_by_state).await.expect("counts");
    assert_eq!(c.queued, n as u64, "{c:?}");
    store.close().await;
}

/// A simulator with the gateway's account and `faults`.
#[allow(dead_code)] // not every test binary uses it
pub async fn simulator(faults: smsc_sim::Faults) -> SimHandle {
    smsc_sim::Simulator::start(
        smsc_sim::SimConfig::local()
            .with_account(SYSTEM_ID, PASSWORD)
            .with_faults(faults),
    )
    .await
    .expect("simulator starts")
}

/// A scratch directory with the child gateway's database and log paths in it.
#[allow(dead_code)] // not every test binary uses it
pub fn workdir() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let log = dir.path().join("gw.log");
    (dir, db, log)
}

/// The gateway binary, serving `db` against the simulator; its stderr goes to `log`.
#[allow(dead_code)] // not every test binary uses it
pub fn spawn_gateway(sim: &SimHandle, db: &Path, log: &Path) -> Child {
    spawn_gateway_http(sim, db, log, "127.0.0.1:0")
}

/// [`spawn_gateway`] serving HTTP on `http` (`host:port`).
/// A loopback address with a port free just now, for `--http`.
#[allow(dead_code)] // not every test binary uses it
pub fn free_http_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[allow(dead_code)] // not every test binary uses it
pub fn spawn_gateway_http(sim: &SimHandle, db: &Path, log: &Path, http: &str) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args(["serve", "--smsc"])
        .arg(sim.smpp_addr().to_string())
        .arg("--db")
        .arg(db)
        .args([
            "--system-id",
            SYSTEM_ID,
            "--service-number",
            SERVICE_NUMBER,
            "--http",
            http,
        ])
        .env("PRESENCE_GW_SMSC_PASSWORD", PASSWORD)
        .env("RUST_LOG", "info,rusmpp=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("gateway binary starts")
}

/// The last 40 lines of the child's log, for failure messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Wait until the simulator has accepted `target` submits in total, failing if the child exits
/// or 60 s pass.
#[allow(dead_code)] // not every test binary uses it
pub async fn wait_accepted(sim: &SimHandle, child: &mut Child, target: u64, log: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = sim.stats().mt_accepted;
        if n >= target {
            return n;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "gateway exited ({status}) at {n} accepted submits\n{}",
                log_tail(log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {target} submits accepted in time\n{}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Accepted MT bodies and how often each arrived.
#[allow(dead_code)] // not every test binary uses it
pub fn bodies_seen(sim: &SimHandle) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in sim.mt_messages(&MtFilter {
        accepted_only: true,
        ..MtFilter::default()
    }) {
        *seen.entry(r.text).or_insert(0) += 1;
    }
    seen
}

/// Send SIGTERM to the child (the graceful stop).
#[allow(dead_code)] // not every test binary uses it
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) runs")
        .success();
    assert!(ok, "kill -TERM {} failed", child.id());
}

/// Wait (bounded) for the child to exit; `None` if it is still running at the deadline.
#[allow(dead_code)] // not every test binary uses it
pub async fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The simulator's MO deliveries (each deliver_sm of an MO, one per part).
#[allow(dead_code)] // not every test binary uses it
pub fn mo_records(sim: &SimHandle) -> Vec<DeliveryRecord> {
    sim.deliveries()
        .into_iter()
        .filter(|d| d.kind == DeliveryKind::Mo)
        .collect()
}

/// Overwrite the root page of `table` in the SQLite file `db` with 0xFF bytes, after a
/// checkpoint has moved everything into the file: a database whose pages of that table are
/// damaged and the rest intact (what `PRAGMA quick_check` at open must find).
#[allow(dead_code)] // not every test binary uses it
pub fn damage_table(db: &Path, table: &str) {
    use std::io::{Seek, SeekFrom, Write};
    let (root, page_size) = {
        let c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        let root: u64 = c
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        let size: u64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        (root, size)
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start((root - 1) * page_size)).unwrap();
    f.write_all(&vec![0xFF; page_size as usize]).unwrap();
}

/// A scrape of `/metrics` from `gw`'s HTTP router (served on a free port for the one request).
#[allow(dead_code)] // not every test binary uses it
pub async fn scrape_metrics(gw: &presence_gw::app::Gateway) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(presence_gw::http::serve(
        listener,
        gw.http_router(None),
        stop.clone(),
    ));
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    stop.cancel();
    let _ = server.await;
    text
}

/// The sample of the unlabelled metric `name` in a scrape, if it has one.
#[allow(dead_code)] // not every test binary uses it
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The most of `times` (ms, sorted) in any half-open window of `span_ms`: how many submits a
/// `max_rate` let into one sliding second, as the SMSC counts them.
#[allow(dead_code)] // not every test binary uses it
pub fn busiest_ms(times: &[u64], span_ms: u64) -> usize {
    let mut most = 0;
    let mut from = 0;
    for (i, t) in times.iter().enumerate() {
        while *t >= times[from] + span_ms {
            from += 1;
        }
        most = most.max(i + 1 - from);
    }
    most
}
