//! The SMSCs a benchmark drains into, all on 127.0.0.1:
//! - our `smsc-sim`, in this (the orchestrating) process on its own tokio runtime whose threads
//!   are named `sim`, so its CPU is read per thread and the gateway child process is measured
//!   alone;
//! - the node-smpp SMSC of `../shared/peers/node/smsc_server.js` as a child process (the same
//!   sink the peers harness measures node-smpp, smpplib and Kannel against), stopped by its own
//!   PID when dropped, and exiting by itself after `--max-seconds` in any case.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smsc_sim::{SimConfig, SimHandle, Simulator};

use crate::procstat::{self, CpuTimes};

/// Why an SMSC could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum SmscError {
    /// The simulator's runtime or listener failed.
    #[error("smsc-sim: {0}")]
    Sim(String),
    /// The node process could not be started.
    #[error("cannot start node {script}: {source}")]
    Spawn {
        /// The script.
        script: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The node SMSC did not listen in time.
    #[error("node SMSC did not answer on 127.0.0.1:{port} within {secs} s (log: {log})")]
    NotListening {
        /// Stats port waited for.
        port: u16,
        /// Seconds waited.
        secs: u64,
        /// Its log file.
        log: PathBuf,
    },
    /// The stats endpoint failed.
    #[error("stats GET {path} on port {port}: {reason}")]
    Stats {
        /// Port.
        port: u16,
        /// Path requested.
        path: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The node-smpp client run failed or printed no result.
    #[error("node-smpp client: {0}")]
    Client(String),
}

/// What one node-smpp client run (`../shared/peers/node/esme_client.js`) printed.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct NodeClientRun {
    /// Window.
    pub window: usize,
    /// Messages sent.
    pub n: u64,
    /// submit_sm answered OK.
    pub ok: u64,
    /// Receipts (deliver_sm) it received and answered.
    pub dlrs: u64,
    /// Bind -> last submit_sm_resp, seconds (the client's own clock).
    pub elapsed_s: f64,
    /// ok / elapsed_s.
    pub mps: f64,
    /// The client's user CPU over the load, seconds.
    pub cpu_user_s: f64,
    /// The client's system CPU over the load, seconds.
    pub cpu_sys_s: f64,
}

/// Counters an SMSC keeps for one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmscCounts {
    /// submit_sm accepted.
    pub submits: u64,
    /// Receipts acknowledged by the ESME.
    pub receipts_acked: u64,
}

/// smsc-sim on its own runtime in this process.
pub struct SimSmsc {
    rt: Option<tokio::runtime::Runtime>,
    handle: SimHandle,
}

impl SimSmsc {
    /// Start with `threads` runtime worker threads and `deliver_window` receipts in flight per
    /// bind (the simulator's default is 10; the node SMSC has no such limit).
    pub fn start(threads: usize, deliver_window: usize) -> Result<SimSmsc, SmscError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("sim")
            .enable_all()
            .build()
            .map_err(|e| SmscError::Sim(e.to_string()))?;
        let cfg = SimConfig {
            http_addr: None,
            deliver_window: deliver_window.max(1),
            window: 10_000,
            max_records: 250_000,
            ..SimConfig::local()
        };
        let handle = rt
            .block_on(Simulator::start(cfg))
            .map_err(|e| SmscError::Sim(e.to_string()))?;
        Ok(SimSmsc {
            rt: Some(rt),
            handle,
        })
    }

    /// SMPP address.
    pub fn addr(&self) -> SocketAddr {
        self.handle.smpp_addr()
    }

    /// Zero the records and counters.
    pub fn reset(&self) {
        self.handle.reset();
    }

    /// Counters since the last reset.
    pub fn counts(&self) -> SmscCounts {
        let s = self.handle.stats();
        SmscCounts {
            submits: s.mt_accepted,
            receipts_acked: s.receipts_acked,
        }
    }

    /// On-CPU time of the simulator's threads (nanosecond resolution, all in `user_s`).
    pub fn cpu(&self) -> CpuTimes {
        let ns = procstat::self_threads_cpu_ns()
            .get("sim")
            .copied()
            .unwrap_or(0);
        CpuTimes {
            user_s: ns as f64 / 1e9,
            sys_s: 0.0,
        }
    }
}

impl Drop for SimSmsc {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.block_on(self.handle.shutdown());
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// The node-smpp SMSC as a child process.
pub struct NodeSmsc {
    child: Child,
    port: u16,
    stats_port: u16,
}

impl NodeSmsc {
    /// Start `node <script> --port P --stats-port S --dlr --quiet --max-seconds M` with
    /// `NODE_PATH=<node_modules>`, logging to `log`, and wait until its stats port answers.
    pub fn start(
        script: &Path,
        node_modules: &Path,
        port: u16,
        stats_port: u16,
        max_seconds: u64,
        log: &Path,
    ) -> Result<NodeSmsc, SmscError> {
        let spawn_err = |source| SmscError::Spawn {
            script: script.to_path_buf(),
            source,
        };
        let logf = std::fs::File::create(log).map_err(spawn_err)?;
        let errf = logf.try_clone().map_err(spawn_err)?;
        let child = Command::new("node")
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--stats-port", &stats_port.to_string()])
            .args([
                "--dlr",
                "--quiet",
                "--max-seconds",
                &max_seconds.to_string(),
            ])
            .env("NODE_PATH", node_modules)
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(errf)
            .spawn()
            .map_err(spawn_err)?;
        let me = NodeSmsc {
            child,
            port,
            stats_port,
        };
        let waited = Duration::from_secs(15);
        let end = Instant::now() + waited;
        while Instant::now() < end {
            if me.get("/stats").is_ok() {
                return Ok(me);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(SmscError::NotListening {
            port: stats_port,
            secs: waited.as_secs(),
            log: log.to_path_buf(),
        })
    }

    /// SMPP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn get(&self, path: &'static str) -> Result<serde_json::Value, SmscError> {
        let err = |reason: String| SmscError::Stats {
            port: self.stats_port,
            path,
            reason,
        };
        let body = http_get(self.stats_port, path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&body).map_err(|e| err(e.to_string()))
    }

    /// Zero the counters.
    pub fn reset(&self) -> Result<(), SmscError> {
        self.get("/reset").map(|_| ())
    }

    /// Counters since the last reset.
    pub fn counts(&self) -> Result<SmscCounts, SmscError> {
        let v = self.get("/stats")?;
        let n = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        Ok(SmscCounts {
            submits: n("submit_sm"),
            receipts_acked: n("dlr_acked"),
        })
    }

    /// Process CPU time (10 ms resolution).
    pub fn cpu(&self) -> CpuTimes {
        procstat::process_cpu(self.pid()).unwrap_or_default()
    }
}

impl Drop for NodeSmsc {
    fn drop(&mut self) {
        // Our own child, by its handle (PID): SIGKILL is fine, it holds no state.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peers' node-smpp client (`../shared/peers/node/esme_client.js`, the one `bench.py`
/// measures), run by gw-bench against either SMSC right after the gateway's run of the same
/// configuration, so both clients meet the same SMSC in the same state of the machine.
#[derive(Debug, Clone)]
pub struct NodeClient {
    /// `esme_client.js`.
    pub script: PathBuf,
    /// The `node_modules` folder holding npm `smpp`.
    pub node_modules: PathBuf,
}

impl NodeClient {
    /// `n` messages at `window` to the SMSC at 127.0.0.1:`port`, with `registered_delivery=1`
    /// when `dlr` (it then answers every receipt; its clock still stops at the last
    /// submit_sm_resp, and it waits up to 10 s more for the receipts before printing).
    pub fn run(
        &self,
        port: u16,
        n: u64,
        window: usize,
        dlr: bool,
        timeout_s: u64,
    ) -> Result<NodeClientRun, SmscError> {
        let out = Command::new("node")
            .arg(&self.script)
            .args(["--port", &port.to_string()])
            .args(["--n", &n.to_string()])
            .args(["--window", &window.to_string()])
            .args(["--timeout", &timeout_s.to_string()])
            .args(if dlr { &["--dlr"][..] } else { &[][..] })
            .env("NODE_PATH", &self.node_modules)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| SmscError::Client(e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .ok_or_else(|| SmscError::Client(format!("no result line ({})", out.status)))?;
        let run: NodeClientRun =
            serde_json::from_str(line).map_err(|e| SmscError::Client(format!("{e}: {line}")))?;
        if !out.status.success() {
            return Err(SmscError::Client(format!("{}: {line}", out.status)));
        }
        Ok(run)
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1 returning the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_string())
        }
        _ => Err(std::io::Error::other(format!(
            "bad HTTP answer: {:.80}",
            text
        ))),
    }
}

/// Either SMSC.
pub enum Smsc {
    /// smsc-sim in this process.
    Sim(SimSmsc),
    /// node-smpp in a child process.
    Node(NodeSmsc),
}

impl Smsc {
    /// Short label for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Smsc::Sim(_) => "smsc-sim",
            Smsc::Node(_) => "node-smpp",
        }
    }

    /// SMPP address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Smsc::Sim(s) => s.addr(),
            Smsc::Node(s) => s.addr(),
        }
    }

    /// Zero the counters.
    pub fn reset(&self) -> Result<(), SmscError> {
        match self {
            Smsc::Sim(s) => {
                s.reset();
                Ok(())
            }
            Smsc::Node(s) => s.reset(),
        }
    }

    /// Counters since the last reset.
    pub fn counts(&self) -> Result<SmscCounts, SmscError> {
        match self {
            Smsc::Sim(s) => Ok(s.counts()),
            Smsc::Node(s) => s.counts(),
        }
    }

    /// CPU time used so far.
    pub fn cpu(&self) -> CpuTimes {
        match self {
            Smsc::Sim(s) => s.cpu(),
            Smsc::Node(s) => s.cpu(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_starts_resets_and_reports() {
        let sim = SimSmsc::start(1, 50).unwrap();
        let smsc = Smsc::Sim(sim);
        assert_eq!(smsc.label(), "smsc-sim");
        assert!(smsc.addr().ip().is_loopback() && smsc.addr().port() != 0);
        smsc.reset().unwrap();
        assert_eq!(smsc.counts().unwrap(), SmscCounts::default());
        assert!(smsc.cpu().total_s() >= 0.0);
    }

    #[test]
    fn http_get_to_closed_port_is_an_error() {
        // port 1 on loopback: nothing listens there in a test sandbox
        assert!(http_get(1, "/stats").is_err());
    }
}
