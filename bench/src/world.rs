//! The in-process test bed of the service suites (`mo`, `latency`, `fanout`, `http`): smsc-sim
//! on its own tokio runtime (threads named `sim`, so its CPU can be told apart from the
//! gateway's) and the real gateway with the status service
//! ([`Gateway::start_with_service`]) on the caller's runtime, over a SQLite file that the suite
//! may pre-populate through the gateway's own store code before the gateway opens it.
//!
//! The gateway is **in this process** (not a child as in `mt`): the suites need the
//! simulator's handsets and MT records, and the service's store, side by side. Gateway CPU is
//! therefore reported as process CPU minus the `sim` threads' CPU (it includes the bench's own
//! polling, which is small).

use std::path::{Path, PathBuf};
use std::time::Duration;

use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::config::Secret;
use presence_gw::service::{Service, ServiceConfig};
use presence_gw::smpp::LinkConfig;
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use smsc_sim::{MtFilter, MtRecord, SimConfig, SimHandle, Simulator};

use crate::procstat::{self, CpuTimes};

/// The service number subscribers text.
pub const SERVICE_NUMBER: &str = "10658";

/// Why the test bed could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The simulator's runtime or listener failed.
    #[error("smsc-sim: {0}")]
    Sim(String),
    /// The store could not be opened or written while preparing `path`.
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
    /// The gateway did not bind to the simulator in time.
    #[error("gateway not bound to smsc-sim within {0} s")]
    NotBound(u64),
}

/// Settings of one test bed.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// Database file (removed with its WAL first).
    pub db: PathBuf,
    /// smsc-sim deliver_sm in flight per bind (`SimConfig::deliver_window`, default 10).
    pub deliver_window: usize,
    /// Gateway SMPP window (`LinkConfig::window`, default 64).
    pub link_window: usize,
    /// Ask for receipts on MT (the gateway's default: yes).
    pub receipts: bool,
    /// The service's settings.
    pub service: ServiceConfig,
}

impl WorldSpec {
    /// Defaults of the gateway and the simulator, on `db`.
    pub fn new(db: PathBuf) -> WorldSpec {
        WorldSpec {
            db,
            deliver_window: 10,
            link_window: LinkConfig::default().window,
            receipts: true,
            service: ServiceConfig::default(),
        }
    }
}

/// The running simulator + gateway.
pub struct World {
    sim_rt: Option<tokio::runtime::Runtime>,
    /// The simulator.
    pub sim: SimHandle,
    /// The gateway (taken by [`World::shutdown`]).
    pub gw: Option<Gateway>,
}

/// Remove `db` and its `-wal` / `-shm` files.
pub fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Bytes of `db` plus its WAL on disk.
pub fn db_size(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(PathBuf::from(p))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

/// Create `db` afresh and run each command of `script` (source, text) through
/// [`Service::handle_mo`] in one write, then delete the replies and updates it queued, so the
/// gateway starts with that state and an empty outbox.
pub fn prepare(
    db: &Path,
    service: &ServiceConfig,
    script: Vec<(String, String)>,
) -> Result<(), WorldError> {
    remove_db(db);
    if let Some(dir) = db.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let err = |source| WorldError::Store {
        path: db.to_path_buf(),
        source: Box::new(source),
    };
    let store = Store::open(db, StoreOptions::default()).map_err(err)?;
    let svc = Service::new(service.clone());
    store
        .write_blocking(move |tx| {
            let now = now_ms();
            for (from, text) in &script {
                svc.handle_mo(tx, now, from, text)
                    .map_err(StoreError::from)?;
            }
            tx.execute_batch("DELETE FROM outbox_segment; DELETE FROM outbox;")
                .map_err(StoreError::from)?;
            Ok::<_, StoreError>(())
        })
        .map_err(err)?;
    store.close_blocking();
    Ok(())
}

impl World {
    /// Start the simulator (own runtime) and the gateway (on the current runtime) over
    /// `spec.db` (prepared or not), and wait for the bind.
    pub async fn start(spec: &WorldSpec) -> Result<World, WorldError> {
        let sim_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sim")
            .enable_all()
            .build()
            .map_err(|e| WorldError::Sim(e.to_string()))?;
        let mut cfg = SimConfig::local();
        cfg.http_addr = None;
        cfg.deliver_window = spec.deliver_window.max(1);
        cfg.window = 10_000;
        cfg.max_records = 1_000_000;
        cfg.handsets.follow_push_links = false;
        let sim = sim_rt
            .spawn(Simulator::start(cfg))
            .await
            .map_err(|e| WorldError::Sim(e.to_string()))?
            // With its cause: `cannot listen on …` names the address, the OS error why.
            .map_err(|e| {
                WorldError::Sim(match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                })
            })?;
        let link = LinkConfig {
            smsc: sim.smpp_addr().to_string(),
            system_id: "bench".into(),
            password: Secret::new("bench"),
            window: spec.link_window,
            ..LinkConfig::default()
        };
        let mut opts = GatewayOptions::new(spec.db.clone(), link, SERVICE_NUMBER);
        opts.dispatcher.template.registered_delivery = spec.receipts;
        let gw = Gateway::start_with_service(opts, spec.service.clone())
            .await
            .map_err(|e| WorldError::Start(e.to_string()))?;
        let wait = Duration::from_secs(15);
        if !gw.link.wait_bound(wait).await {
            gw.shutdown().await;
            return Err(WorldError::NotBound(wait.as_secs()));
        }
        Ok(World {
            sim_rt: Some(sim_rt),
            sim,
            gw: Some(gw),
        })
    }

    /// The gateway.
    pub fn gw(&self) -> &Gateway {
        self.gw.as_ref().expect("gateway running until shutdown")
    }

    /// The simulator's runtime (to run injection loops on the `sim` threads).
    pub fn sim_runtime(&self) -> &tokio::runtime::Handle {
        self.sim_rt.as_ref().expect("sim runtime").handle()
    }

    /// On-CPU time of the simulator's threads.
    pub fn sim_cpu_s() -> f64 {
        procstat::self_threads_cpu_ns()
            .get("sim")
            .copied()
            .unwrap_or(0) as f64
            / 1e9
    }

    /// Process CPU now (all threads).
    pub fn process_cpu() -> CpuTimes {
        procstat::self_cpu().unwrap_or_default()
    }

    /// One `SELECT count(*)` on the gateway's store.
    pub async fn count(&self, sql: &'static str) -> Result<u64, StoreError> {
        self.gw()
            .store
            .read(move |c| {
                c.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .map(|n| n.max(0) as u64)
                    .map_err(StoreError::from)
            })
            .await
    }

    /// MT records newer than record id `since`.
    pub fn mt_since(&self, since: u64) -> Vec<MtRecord> {
        self.sim.mt_messages(&MtFilter {
            dest: None,
            since: Some(since),
            accepted_only: true,
        })
    }

    /// Stop the gateway, then the simulator.
    pub async fn shutdown(mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown().await;
        }
        let sim = self.sim.clone();
        if let Some(rt) = self.sim_rt.take() {
            let _ = rt.spawn(async move { sim.shutdown().await }).await;
            // Dropping a runtime inside async context panics: hand it to a plain thread.
            std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(2)));
        }
    }
}

/// Subscriber number `i` (owners: `+86138xxxxxxxx`).
pub fn owner(i: usize) -> String {
    format!("+86138{:08}", i)
}

/// Member `j` of owner `i`'s family (`+86139xxxxxxxx`), distinct over all owners when
/// `j < per_owner`.
pub fn member(i: usize, j: usize, per_owner: usize) -> String {
    format!("+86139{:08}", i * per_owner + j)
}

/// The national form of an E.164 number (what a subscriber types).
pub fn national(e164: &str) -> &str {
    e164.strip_prefix("+86").unwrap_or(e164)
}

/// Wall clock in ms since the epoch (the unit of `MtRecord::received_at_ms`).
pub fn wall_ms() -> u64 {
    now_ms().max(0) as u64
}

/// The number after the first `prefix` in `text` when it has exactly `digits` ASCII digits
/// there (a token planted in a status text, found again in the MT that carries it).
pub fn token(text: &str, prefix: &str, digits: usize) -> Option<u64> {
    let at = text.find(prefix)? + prefix.len();
    let tail = text.get(at..at + digits)?;
    if !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text[at + digits..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    tail.parse().ok()
}

/// Whether `dest` is an owner's number ([`owner`]), i.e. the MT is a reply, not an update.
pub fn is_owner(dest: &str) -> bool {
    dest.trim_start_matches('+').starts_with("86138")
}

/// Percentile `q` (0..=1, nearest rank) of sorted `v`; NaN if empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_percentiles() {
        assert_eq!(token("Zhang (+86): lat000123. Reply", "lat", 6), Some(123));
        assert_eq!(token("lat12345", "lat", 6), None);
        assert_eq!(token("lat1234567", "lat", 6), None);
        assert_eq!(token("nothing", "lat", 6), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!(percentile(&[], 0.5).is_nan());
        assert!(is_owner("+8613800000001") && !is_owner("8613900000001"));
    }

    #[test]
    fn numbers_are_distinct_e164() {
        assert_eq!(owner(7), "+8613800000007");
        assert_eq!(member(2, 1, 4), "+8613900000009");
        assert_ne!(member(1, 0, 4), member(0, 3, 4));
        assert_eq!(national("+8613800000007"), "13800000007");
    }
}
