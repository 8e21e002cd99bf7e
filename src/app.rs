//! The running gateway, assembled: store, SMPP link, inbound pump and outbox dispatcher.
//!
//! `main` and the end-to-end tests both start the gateway through [`Gateway::start`], so what is
//! tested is what runs. Shutdown order matters for "nothing accepted is lost": stop taking MO,
//! let the dispatcher finish or requeue what it holds, unbind the link, then close the store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::delivery::encode::SubmitTemplate;
use crate::delivery::{Dispatcher, DispatcherConfig};
use crate::inbound::{self, MoMessage};
use crate::metrics::Metrics;
use crate::service::worker::{Runner, ServiceHandle};
use crate::service::{Service, ServiceConfig};
use crate::smpp::{Link, LinkConfig, LinkHandle};
use crate::store::outbox::{self, NewMessage};
use crate::store::{now_ms, Store, StoreOptions};

/// Tokio worker threads for `configured` (`[runtime] worker_threads`): that number, or for 0
/// one per core less one, at least one. The store writer is a thread of its own and the
/// gateway's serial resource (every receipt and MO part commits there before its resp), so on
/// a small machine it gets a core of its own rather than sharing two with two workers that
/// steal tasks from each other: on the 2-core bench VM one worker cut the gateway's CPU per
/// message by 10-30 % (BENCHMARKS.md, session of 2026-12-04).
pub fn worker_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// The multi-thread runtime the gateway runs on, with [`worker_threads`]`(configured)` workers.
pub fn runtime(configured: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(configured))
        .enable_all()
        .build()
}

/// The configured default of `[avatar] presets_dir`: the operator's catalogue as shipped.
pub const DEFAULT_PRESETS_DIR: &str = "fixtures/presets";

/// The shipped catalogue (`fixtures/presets`, 164 KiB), built into the binary: a gateway
/// installed without the source tree (a carrier's host) has its presets too. It used to fall
/// back to the build machine's source path, which on another host named a folder that
/// does not exist there.
const BUILT_IN_PRESETS: &[(&str, &[u8])] = &[
    (
        "01-cat.png",
        include_bytes!("../fixtures/presets/01-cat.png"),
    ),
    (
        "02-dog.jpg",
        include_bytes!("../fixtures/presets/02-dog.jpg"),
    ),
    (
        "03-owl.png",
        include_bytes!("../fixtures/presets/03-owl.png"),
    ),
    (
        "04-fish.gif",
        include_bytes!("../fixtures/presets/04-fish.gif"),
    ),
    (
        "05-flower.png",
        include_bytes!("../fixtures/presets/05-flower.png"),
    ),
    (
        "06-sunset.jpg",
        include_bytes!("../fixtures/presets/06-sunset.jpg"),
    ),
    (
        "07-mountains.webp",
        include_bytes!("../fixtures/presets/07-mountains.webp"),
    ),
    (
        "08-tree.png",
        include_bytes!("../fixtures/presets/08-tree.png"),
    ),
    (
        "09-house.bmp",
        include_bytes!("../fixtures/presets/09-house.bmp"),
    ),
    (
        "10-car.gif",
        include_bytes!("../fixtures/presets/10-car.gif"),
    ),
    (
        "11-robot.png",
        include_bytes!("../fixtures/presets/11-robot.png"),
    ),
    (
        "12-smile.png",
        include_bytes!("../fixtures/presets/12-smile.png"),
    ),
    (
        "13-moon.jpg",
        include_bytes!("../fixtures/presets/13-moon.jpg"),
    ),
    (
        "14-heart.gif",
        include_bytes!("../fixtures/presets/14-heart.gif"),
    ),
    (
        "titles.csv",
        include_bytes!("../fixtures/presets/titles.csv"),
    ),
];

/// Where the default presets come from.
enum PresetSource {
    /// A folder on this host (the working directory's `fixtures/presets`, or a configured one).
    Dir(PathBuf),
    /// [`BUILT_IN_PRESETS`], imported from memory.
    BuiltIn,
}

/// The name scratch folders of the built-in presets had (`presence-gw-presets-<pid>-<16 hex
/// digits>` in the temp directory): builds before this one unpacked the catalogue there for
/// its import, and a gateway killed (SIGKILL) during it left the folder for good.
const PRESET_SCRATCH_PREFIX: &str = "presence-gw-presets-";

/// The process id in `name` if it is a preset scratch folder's name ([`PRESET_SCRATCH_PREFIX`]).
fn preset_scratch_pid(name: &str) -> Option<u32> {
    let (pid, tag) = name.strip_prefix(PRESET_SCRATCH_PREFIX)?.split_once('-')?;
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    (digits(pid, 10) && tag.len() == 16 && digits(tag, 16))
        .then(|| pid.parse().ok())
        .flatten()
}

/// Remove from `dir` (the temp directory) the preset scratch folders of processes that are
/// gone ([`PRESET_SCRATCH_PREFIX`]): a folder whose process runs (another gateway importing
/// now) is left alone, as is anything else, a symlink with such a name included. Whether a
/// process runs is read from `/proc`; without it (not Linux) nothing is removed. Returns the
/// folders removed.
fn remove_preset_leftovers(dir: &std::path::Path) -> Vec<PathBuf> {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(preset_scratch_pid) else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || pid == std::process::id() || proc.join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => {
                tracing::debug!(dir = %path.display(), error = %e, "a preset scratch folder of a gone process not removed")
            }
        }
    }
    if !removed.is_empty() {
        info!(
            removed = removed.len(),
            dir = %dir.display(),
            "removed the preset scratch folders gateways killed during their import left"
        );
    }
    removed
}

/// On first start (an empty catalogue), import the default presets in the background: from
/// `dir` (relative to the working directory) when it exists, else, when `dir` is the default,
/// from the catalogue built into the binary. The import stops before its next picture once
/// `stop` is cancelled (the gateway is stopping); a mark in the database
/// ([`crate::service::avatar::default_import_unfinished`]) then makes the next start run it
/// again, to the end (it replaces presets by id: those already in are not doubled). An
/// operator's own catalogue, in a database with no such mark, is left alone.
/// [`Gateway::shutdown`] waits for the import: it
/// runs on tokio's blocking pool, which the runtime waits for at exit, so an import left
/// running kept the process alive for seconds after "gateway stopped".
fn load_default_presets(
    store: Store,
    dir: PathBuf,
    cfg: crate::service::avatar::AvatarConfig,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let due = store
            .read_blocking(|c| {
                Ok::<_, crate::store::StoreError>(
                    crate::service::avatar::preset_count(c)? == 0
                        || crate::service::avatar::default_import_unfinished(c)?,
                )
            })
            .unwrap_or(false);
        if !due {
            return;
        }
        let source = if dir.is_dir() {
            PresetSource::Dir(dir)
        } else if dir == std::path::Path::new(DEFAULT_PRESETS_DIR) {
            PresetSource::BuiltIn
        } else {
            let shown = std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(&dir));
            tracing::warn!(dir = %shown.display(), "[avatar] presets_dir is no folder; the catalogue stays empty");
            return;
        };
        let (from, files) = match &source {
            PresetSource::Dir(d) => (d.display().to_string(), crate::admin::PresetFiles::Dir(d)),
            PresetSource::BuiltIn => (
                "built-in catalogue".to_string(),
                crate::admin::PresetFiles::Memory(BUILT_IN_PRESETS),
            ),
        };
        if let Err(e) = store.write_blocking(crate::service::avatar::default_import_begun) {
            tracing::warn!(%from, error = %e, "default presets: the import is not marked begun; a stop now is not resumed");
        }
        match crate::admin::import_presets_until(&store, files, &cfg, &stop) {
            Ok(r) if r.stopped => info!(
                %from,
                imported = r.imported.len(),
                refused = r.refused.len(),
                "default avatar presets: import stopped by the gateway's stop; the next start finishes it"
            ),
            Ok(r) => {
                if let Err(e) =
                    store.write_blocking(crate::service::avatar::default_import_finished)
                {
                    tracing::warn!(%from, error = %e, "default presets: the import is not marked finished; the next start runs it again");
                }
                for (file, why) in &r.refused {
                    tracing::warn!(%from, %file, reason = %why, "default presets: file skipped");
                }
                for warning in &r.warnings {
                    tracing::warn!(%from, "default presets: {warning}");
                }
                info!(
                    %from,
                    imported = r.imported.len(),
                    refused = r.refused.len(),
                    title_warnings = r.warnings.len(),
                    "default avatar presets loaded"
                );
            }
            Err(e) => tracing::warn!(%from, error = %e, "default presets not loaded"),
        }
    })
}

/// What the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// SQLite database file.
    pub db: PathBuf,
    /// The carrier link.
    pub link: LinkConfig,
    /// Outbox dispatcher settings.
    pub dispatcher: DispatcherConfig,
    /// Inbound PDUs handled concurrently.
    pub inbound_concurrency: usize,
    /// The store's durability and busy timeout.
    pub store: StoreOptions,
    /// How long finished rows are kept (see [`crate::store::retention`]); `None` keeps them
    /// forever.
    pub keep: Option<Duration>,
    /// How long `/health` says degraded after an MO PDU was deferred
    /// ([`crate::http::MO_DEFERRED_DEGRADED_SECS`] by default).
    pub mo_deferral_window: Duration,
}

impl GatewayOptions {
    /// Options with defaults for everything but the database, the SMSC and the service number.
    pub fn new(db: PathBuf, link: LinkConfig, service_number: &str) -> Self {
        let grace = link.response_timeout + Duration::from_secs(1);
        let mut opts = Self {
            db,
            link,
            dispatcher: DispatcherConfig::new(SubmitTemplate {
                source: service_number.to_string(),
                source_ton: 0,
                source_npi: 0,
                registered_delivery: true,
                concat: sms_wire::segment::ConcatStyle::Udh8,
            }),
            inbound_concurrency: 256,
            store: StoreOptions::default(),
            keep: None,
            mo_deferral_window: Duration::from_secs(crate::http::MO_DEFERRED_DEGRADED_SECS),
        };
        opts.dispatcher.receipt_grace = grace;
        opts
    }
}

/// How often the gateway looks for rows past `[store] keep_days`.
pub const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Rows of each kind one retention write deletes at most (one short transaction each).
const RETENTION_BATCH: usize = 500;

/// Delete rows older than `keep`, every `every`, in short writes of at most [`RETENTION_BATCH`]
/// rows of each kind with a pause between them, so that the writer's other work is never held
/// for long (see [`crate::store::retention`]).
pub async fn retention(store: Store, keep: Duration, every: Duration, stop: CancellationToken) {
    loop {
        let cut = now_ms() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let mut total = crate::store::retention::Purged::default();
        loop {
            let step = store
                .write(move |tx| crate::store::retention::step(tx, cut, RETENTION_BATCH))
                .await;
            match step {
                Ok(p) => {
                    total += p;
                    if !p.more(RETENTION_BATCH) {
                        break;
                    }
                }
                Err(crate::store::StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: delete failed; next round later");
                    break;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = stop.cancelled() => return,
            }
        }
        if total.total() > 0 {
            tracing::info!(
                outbox = total.outbox,
                inbox_messages = total.inbox_messages,
                inbox_pdus = total.inbox_pdus,
                status_changes = total.status_changes,
                avatar_downloads = total.avatar_downloads,
                avatar_links = total.avatar_links,
                avatars = total.avatars,
                avatar_variants = total.avatar_variants,
                image_blobs = total.image_blobs,
                "retention: deleted rows older than the keep period"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// How long [`Gateway::shutdown`] waits for the default presets' import to stop (it stops
/// before its next picture; one picture takes well under a second).
const PRESETS_STOP_WAIT: Duration = Duration::from_secs(10);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// The durable store.
    pub store: Store,
    /// The carrier link.
    pub link: LinkHandle,
    dispatcher: Dispatcher,
    stop_intake: CancellationToken,
    stop_link: CancellationToken,
    /// Background tasks aborted at shutdown (inbound pump, pending MO feed, retention, ...).
    tasks: Vec<JoinHandle<()>>,
    /// The first start's import of the default presets ([`load_default_presets`]): it stops
    /// with the intake and is awaited at shutdown, before the store closes.
    presets_task: Option<JoinHandle<()>>,
    /// The outbox dispatcher, awaited at shutdown before the link is stopped.
    dispatcher_task: JoinHandle<()>,
    link_task: JoinHandle<()>,
    service: Option<Runner>,
    /// [`Gateway::drain`] ran.
    drained: bool,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// [`GatewayOptions::mo_deferral_window`], for the HTTP router's `/health`.
    mo_deferral_window: Duration,
    /// The operator's pause of outbound sending.
    pause: crate::delivery::pause::Pause,
}

impl Gateway {
    /// Open the store, bind the link and start the pumps. Complete MO messages are sent to
    /// `mo` (those left pending by a previous run first).
    pub async fn start(
        opts: GatewayOptions,
        mo: mpsc::Sender<MoMessage>,
    ) -> Result<Gateway, StartError> {
        let store = Store::open(&opts.db, opts.store.clone())?;
        Dispatcher::recover(&store, &opts.dispatcher.wall_clock).await;
        let stop_intake = CancellationToken::new();
        let stop_link = CancellationToken::new();
        let (link, inbound_rx, link_task) = Link::spawn(opts.link.clone(), stop_link.clone());
        // What the SMSC is known to have read rides on every store write from now on, ahead
        // of the write's own requests (`inbound::retire_answers_read`).
        let reads = link.clone();
        store.before_each_batch(move |tx| {
            inbound::retire_answers_read(tx, &reads, crate::store::now_ms()).map(drop)
        });
        let pause = crate::delivery::pause::Pause::load(&store).await?;
        if let Some(p) = pause.current() {
            warn!(
                since_ms = p.since,
                note = %p.note,
                "outbound sending is paused by the operator (PUT /api/v1/outbound to resume): queued messages wait"
            );
        }
        let dispatcher = Dispatcher::new(store.clone(), link.clone(), opts.dispatcher.clone())
            .with_pause(pause.clone());
        let metrics = Arc::new(Metrics::default());
        let mut tasks = Vec::new();
        // Accepted messages a newer one or a withdrawal made wrong to deliver: cancel_sm.
        let canceller = crate::delivery::cancel::Canceller::new(
            store.clone(),
            link.clone(),
            opts.dispatcher.template.clone(),
            opts.dispatcher.cancel_superseded,
            metrics.cancel_counts(),
        )
        .with_memory(&opts.link.system_id, opts.dispatcher.no_cancel_memory)
        .with_pause(pause.clone());
        tasks.push(tokio::spawn(canceller.run(stop_intake.clone())));
        // The inbound pump hands on the messages left pending by a previous run first, then
        // the live ones, in order. One that also arrives live is applied once: the consumer
        // marks it processed in the same transaction.
        tasks.push(tokio::spawn(inbound::run(
            store.clone(),
            inbound_rx,
            mo,
            opts.inbound_concurrency,
            link.clone(),
        )));
        let dispatcher_task = tokio::spawn(dispatcher.clone().run(stop_intake.clone()));
        if let Some(keep) = opts.keep {
            tasks.push(tokio::spawn(retention(
                store.clone(),
                keep,
                RETENTION_EVERY,
                stop_intake.clone(),
            )));
        }
        Ok(Gateway {
            store,
            link,
            dispatcher,
            stop_intake,
            stop_link,
            tasks,
            presets_task: None,
            dispatcher_task,
            link_task,
            service: None,
            drained: false,
            metrics,
            mo_deferral_window: opts.mo_deferral_window,
            pause,
        })
    }

    /// [`Gateway::start`] with the status service consuming MO messages and running the
    /// expiry scheduler.
    pub async fn start_with_service(
        opts: GatewayOptions,
        service: ServiceConfig,
    ) -> Result<Gateway, StartError> {
        let (mo_tx, mo_rx) = mpsc::channel(1024);
        let presets_dir = service.avatar.presets_dir.clone();
        let avatar_cfg = service.avatar.clone();
        let mut gw = Gateway::start(opts, mo_tx).await?;
        // Scratch folders older builds' preset imports left in the temp directory when killed.
        tokio::task::spawn_blocking(|| remove_preset_leftovers(&std::env::temp_dir()));
        let sms_only = avatar_cfg.sms_link_handsets.clone();
        if !sms_only.is_empty() {
            gw.store
                .write(move |tx| crate::service::avatar::mark_sms_link_handsets(tx, &sms_only))
                .await?;
        }
        if let Some(dir) = presets_dir {
            gw.presets_task = Some(load_default_presets(
                gw.store.clone(),
                dir,
                avatar_cfg,
                gw.stop_intake.clone(),
            ));
        }
        gw.service = Some(Runner::start(
            gw.store.clone(),
            Service::new(service),
            mo_rx,
            gw.dispatcher.notifier(),
            gw.metrics.clone(),
            Some(gw.link.clone()),
            gw.stop_intake.clone(),
        ));
        Ok(gw)
    }

    /// The status service, when started with [`Gateway::start_with_service`].
    pub fn service(&self) -> Option<&ServiceHandle> {
        self.service.as_ref().map(Runner::handle)
    }

    /// The HTTP API over this gateway (see [`crate::http`]); `api_key` guards `/api/v1`.
    pub fn http_router(&self, api_key: Option<crate::config::Secret>) -> axum::Router {
        self.http_router_keyed(crate::http::ApiKey::new(api_key))
    }

    /// [`Gateway::http_router`] with a key handle the caller keeps: what it sets there
    /// ([`crate::http::ApiKey::set`], a config reload) guards `/api/v1` from the next request on.
    pub fn http_router_keyed(&self, api_key: crate::http::ApiKey) -> axum::Router {
        crate::http::router(self.http_state(api_key))
    }

    /// The HTTP routes in two: the handsets' ([`crate::http::handset_router`]) and the
    /// operator's ([`crate::http::operator_router`]), for `operator_http`'s listener of its
    /// own. One state: the counters and the upload slots are shared.
    pub fn http_routers(
        &self,
        api_key: Option<crate::config::Secret>,
    ) -> (axum::Router, axum::Router) {
        self.http_routers_keyed(crate::http::ApiKey::new(api_key))
    }

    /// [`Gateway::http_routers`] with a key handle the caller keeps (see
    /// [`Gateway::http_router_keyed`]).
    pub fn http_routers_keyed(&self, api_key: crate::http::ApiKey) -> (axum::Router, axum::Router) {
        let state = self.http_state(api_key);
        (
            crate::http::handset_router(state.clone()),
            crate::http::operator_router(state),
        )
    }

    fn http_state(&self, api_key: crate::http::ApiKey) -> crate::http::HttpState {
        crate::http::HttpState {
            store: self.store.clone(),
            link: self.link.clone(),
            service: self.service().cloned(),
            metrics: self.metrics.clone(),
            api_key,
            image_slots: Arc::new(tokio::sync::Semaphore::new(2)),
            stopping: self.stop_intake.clone(),
            mo_deferral_window: self.mo_deferral_window,
            pause: self.pause.clone(),
        }
    }

    /// The operator's pause of outbound sending ([`crate::delivery::pause`]).
    pub fn pause(&self) -> &crate::delivery::pause::Pause {
        &self.pause
    }

    /// The outbox dispatcher's retry settings in force, to change while it runs (a config
    /// reload: [`crate::delivery::Retries::set`]).
    pub fn retries(&self) -> crate::delivery::Retries {
        self.dispatcher.retries()
    }

    /// Queue an outbound message (one transaction) and wake the dispatcher.
    pub async fn enqueue(&self, msg: NewMessage) -> Result<i64, crate::store::StoreError> {
        let now = now_ms();
        let r = self
            .store
            .write(move |tx| outbox::enqueue(tx, &msg, now))
            .await?;
        self.dispatcher.notifier().notify_one();
        Ok(r.id)
    }

    /// Wake the dispatcher (after enqueueing through the store directly).
    pub fn wake_dispatcher(&self) {
        self.dispatcher.notifier().notify_one();
    }

    /// First half of a graceful stop: no new work (MO is refused with a temporary error, so
    /// the SMSC gives it again; the status service stops), the rows in hand settle (the
    /// submits written are answered, or time out), then the link unbinds. The store stays
    /// open, so the HTTP side keeps answering meanwhile (`/health` says `stopping`, `/metrics`
    /// still counts, avatars are still served) until [`Gateway::shutdown`]. Runs once.
    pub async fn drain(&mut self) {
        if std::mem::replace(&mut self.drained, true) {
            return;
        }
        self.stop_intake.cancel();
        if let Some(service) = self.service.take() {
            service.abort();
        }
        // The dispatcher task ends after its rows in hand are settled; only then does the
        // link unbind (before, it would cut submits the SMSC was still answering).
        let _ = tokio::time::timeout(Duration::from_secs(40), &mut self.dispatcher_task).await;
        self.stop_link.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.link_task).await;
    }

    /// Graceful stop: [`Gateway::drain`] (if not done yet), then the background tasks end and
    /// the store closes.
    pub async fn shutdown(mut self) {
        self.drain().await;
        for t in self.tasks {
            t.abort();
        }
        // The preset import saw the intake stop and ends after the picture in hand (aborting
        // it would not stop a blocking task, and the runtime would wait for it at exit).
        if let Some(presets) = self.presets_task.take() {
            if tokio::time::timeout(PRESETS_STOP_WAIT, presets)
                .await
                .is_err()
            {
                tracing::warn!("the default presets' import did not stop in time");
            }
        }
        // The sessions that unbound just now with every answer read (and the answers known
        // read of any that dropped): a subscriber's repeat after the restart is then taken as
        // theirs, not as the SMSC's resend.
        inbound::forget_answers_read(&self.store, &self.link).await;
        self.store.close().await;
        info!("gateway stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first start's default preset import that a stop cut short was not resumed: the
    /// catalogue was no longer empty, so the next start left it with what the stop left.
    /// The next start now runs the import again (a mark in the database says it did not
    /// finish) and the catalogue is complete; once finished, or for an operator's own
    /// catalogue, a start imports nothing.
    #[test]
    fn a_default_preset_import_cut_short_is_finished_at_the_next_start() {
        use crate::service::avatar;
        let dir = tempfile::tempdir().unwrap();
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PRESETS_DIR);
        let presets = dir.path().join("presets");
        let first = dir.path().join("first");
        std::fs::create_dir(&presets).unwrap();
        std::fs::create_dir(&first).unwrap();
        for name in ["01-cat.png", "02-dog.jpg", "03-owl.png"] {
            std::fs::copy(shipped.join(name), presets.join(name)).unwrap();
        }
        std::fs::copy(shipped.join("01-cat.png"), first.join("01-cat.png")).unwrap();
        let cfg = avatar::AvatarConfig {
            sizes: vec![48],
            ..Default::default()
        };
        let store = Store::open(&dir.path().join("p.db"), Default::default()).unwrap();
        let count = |s: &Store| s.read_blocking(avatar::preset_count).unwrap();
        let unfinished = |s: &Store| s.read_blocking(avatar::default_import_unfinished).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // One start's import, to its end (the store's blocking calls run outside the runtime).
        let run = |store: &Store, stop: CancellationToken| {
            let task = {
                let _in_runtime = rt.enter();
                load_default_presets(store.clone(), presets.clone(), cfg.clone(), stop)
            };
            rt.block_on(task).unwrap();
        };
        let start = |stop: CancellationToken| run(&store, stop);
        // The first start is stopped at once; then as if it had got through one picture.
        let stopped = CancellationToken::new();
        stopped.cancel();
        start(stopped);
        assert!(unfinished(&store));
        crate::admin::import_presets(&store, &first, &cfg).unwrap();
        assert_eq!(count(&store), 1);
        // The next start finishes it.
        start(CancellationToken::new());
        assert_eq!(count(&store), 3);
        assert!(!unfinished(&store));
        // Finished: a start imports nothing more (a preset deleted since stays deleted).
        store
            .write_blocking(|tx| {
                tx.execute("DELETE FROM preset WHERE id = 3", [])
                    .map_err(crate::store::StoreError::from)
            })
            .unwrap();
        start(CancellationToken::new());
        assert_eq!(count(&store), 2);
        // An operator's own catalogue (no mark) is left alone too.
        let own = Store::open(&dir.path().join("own.db"), Default::default()).unwrap();
        crate::admin::import_presets(&own, &first, &cfg).unwrap();
        run(&own, CancellationToken::new());
        assert_eq!(count(&own), 1);
        own.close_blocking();
        store.close_blocking();
    }

    /// The catalogue built into the binary is the shipped folder, file for file.
    #[test]
    fn built_in_presets_are_the_shipped_folder() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PRESETS_DIR);
        let mut shipped: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "README.md")
            .collect();
        shipped.sort();
        let built_in: Vec<String> = BUILT_IN_PRESETS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(built_in, shipped, "add new presets to BUILT_IN_PRESETS");
        for (name, bytes) in BUILT_IN_PRESETS {
            assert_eq!(*bytes, std::fs::read(dir.join(name)).unwrap(), "{name}");
        }
    }

    /// The built-in catalogue, imported from memory (no scratch folder in the temp directory
    /// any more), gives the presets, titles and warnings its folder gives.
    #[test]
    fn the_built_in_catalogue_imports_from_memory_as_its_folder_does() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_PRESETS_DIR);
        let cfg = crate::service::avatar::AvatarConfig {
            sizes: vec![48],
            ..Default::default()
        };
        let memory = Store::open(&dir.path().join("m.db"), Default::default()).unwrap();
        let folder = Store::open(&dir.path().join("f.db"), Default::default()).unwrap();
        let from_memory = crate::admin::import_presets_until(
            &memory,
            crate::admin::PresetFiles::Memory(BUILT_IN_PRESETS),
            &cfg,
            &CancellationToken::new(),
        )
        .unwrap();
        let from_folder = crate::admin::import_presets(&folder, &shipped, &cfg).unwrap();
        assert_eq!(from_memory, from_folder);
        assert_eq!(from_memory.imported.len(), BUILT_IN_PRESETS.len() - 1);
        assert!(from_memory.refused.is_empty() && from_memory.warnings.is_empty());
        assert_eq!(
            from_memory.imported[0].1,
            crate::service::avatar::PresetTitle::new("Cat", Some("猫".into()))
        );
        memory.close_blocking();
        folder.close_blocking();
    }

    /// The names of preset scratch folders are told from others: a pid and 16 hex digits.
    #[test]
    fn preset_scratch_folders_are_told_by_name() {
        assert_eq!(
            preset_scratch_pid("presence-gw-presets-4242-0123456789abcdef"),
            Some(4242)
        );
        for other in [
            "presence-gw-presets-4242",
            "presence-gw-presets-4242-0123",
            "presence-gw-presets-x42-0123456789abcdef",
            "presence-gw-presets--0123456789abcdef",
            "presence-gw-presets-4242-0123456789abcdeg",
            "other-4242-0123456789abcdef",
        ] {
            assert_eq!(preset_scratch_pid(other), None, "{other}");
        }
    }
}
