//! Starting the simulator and driving it: [`Simulator::start`] binds the SMPP and HTTP listeners
//! and spawns the accept loop, the delivery dispatcher and the HTTP server; [`SimHandle`] is the
//! cloneable Rust API tests use in-process (the HTTP API in [`crate::http`] calls the same
//! methods).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{ReceiptPlan, ReceiptStat, SimConfig};
use crate::faults::{Faults, MalformedKind};
use crate::handset::{Avatar, CallView, HandsetView};
use crate::pdus::{self, MoEncoding, MoStyle, PduError};
use crate::recorder::{
    BindView, DeliveryFilter, DeliveryKind, DeliveryRecord, DeliveryState, MtFilter, MtRecord,
    Stats,
};
use crate::shared::{Control, DeliveryJob, Shared};
use crate::util::now_ms;

/// Errors from starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A listener could not be bound. The OS's reason is the source: a report of the chain
    /// (`{:#}`) says it once.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A setting makes no sense (see [`SimConfig::check`]).
    #[error("bad simulator setting: {0}")]
    Config(String),
    /// The hex log file could not be opened.
    #[error("cannot open the hex log: {0}")]
    HexLog(#[source] std::io::Error),
    /// An MO/USSD could not be built.
    #[error("cannot build the message: {0}")]
    Pdu(#[from] PduError),
    /// The simulator is shutting down.
    #[error("the simulator is shut down")]
    Closed,
    /// A wait helper timed out.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
    },
}

/// An MO SMS to inject (also the JSON body of `POST /mo`; an unknown key is refused, so a typo
/// is not taken for a default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoRequest {
    /// The handset sending it (`source_addr`).
    pub from: String,
    /// The service number (`destination_addr`).
    pub to: String,
    /// The text.
    pub text: String,
    /// Alphabet (auto: GSM-7 if it fits, else UCS-2).
    #[serde(default)]
    pub encoding: MoEncoding,
    /// How a long text is split.
    #[serde(default)]
    pub style: MoStyle,
    /// Concatenation reference (random when absent). With the `udh8` style it is the 8-bit
    /// reference written in the UDH, 0 to 255 (a larger one is refused).
    #[serde(default)]
    pub reference: Option<u16>,
    /// Send the parts last-to-first (exercises out-of-order reassembly).
    #[serde(default)]
    pub reverse_parts: bool,
    /// Parts (1-based) of a concatenated message the network loses: they are never
    /// delivered, so the message stays incomplete at the ESME. Refused for a message that
    /// goes in 1 part and for a part past its last.
    #[serde(default)]
    pub lost_parts: Vec<u8>,
}

impl MoRequest {
    /// A plain MO with the default encoding and style.
    pub fn new(from: &str, to: &str, text: &str) -> Self {
        MoRequest {
            from: from.into(),
            to: to.into(),
            text: text.into(),
            ..MoRequest::default()
        }
    }

    /// Same request with this segmentation style.
    pub fn style(mut self, style: MoStyle) -> Self {
        self.style = style;
        self
    }

    /// Same request with this alphabet.
    pub fn encoding(mut self, encoding: MoEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Same request with part `n` (1-based) lost by the network.
    pub fn lose_part(mut self, n: u8) -> Self {
        self.lost_parts.push(n);
        self
    }
}

/// A USSD message from a handset (also the JSON body of `POST /ussd`; unknown keys refused).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UssdRequest {
    /// The handset (`source_addr`).
    pub from: String,
    /// The service code, e.g. `*123#` (`destination_addr`).
    pub to: String,
    /// What the user typed (the service code itself to open a session, or a menu choice).
    pub text: String,
    /// Open a new session even if the network awaits a reply on the current one.
    #[serde(default)]
    pub new_session: bool,
    /// Send this `ussd_service_op` instead of the planned one, e.g. a vendor "user aborted"
    /// op (0x81) on the open session; the session's numbering is kept.
    #[serde(default)]
    pub op: Option<u8>,
}

/// What an injection queued.
#[derive(Debug, Clone, Serialize)]
pub struct MoTicket {
    /// Delivery record ids, one per deliver_sm, in sending order.
    pub record_ids: Vec<u64>,
    /// Number of deliver_sm.
    pub parts: usize,
    /// Concatenation reference used (MO) or session number (USSD).
    pub reference: u16,
    /// USSD only: the `ussd_service_op` sent.
    pub ussd_service_op: Option<u8>,
    /// A concatenated MO only: the parts (1-based) the network lost, never delivered (absent
    /// from the JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_parts: Vec<u8>,
    /// No bind could take it when it was injected (no receiver or transceiver bound whose
    /// `address_range` matches its destination, nor one without a range): it waits for one,
    /// `queued` in `/deliveries`.
    pub waiting_for_bind: bool,
}

/// What a reset forgot (the answer of `POST /reset`): a receipt or MO still pending then is
/// never sent, so a test that resets between cases does not get the previous case's late
/// receipts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetSummary {
    /// MT records (accepted and refused) forgotten.
    pub mt_records: usize,
    /// Handsets forgotten (with their inboxes, pushes, contacts and USSD screens).
    pub handsets: usize,
    /// Receipts not yet answered by the ESME (waiting for their delay, for a receiver bind or
    /// for their deliver_sm_resp): never sent, or never sent again.
    pub pending_receipts: usize,
    /// MO and USSD deliver_sm not yet answered by the ESME, likewise dropped.
    pub pending_deliveries: usize,
}

impl std::fmt::Display for ResetSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "forgot {} MT records, {} handsets, {} pending receipts, {} pending MO/USSD \
             deliveries (pending ones are never sent)",
            self.mt_records, self.handsets, self.pending_receipts, self.pending_deliveries
        )
    }
}

/// The SMSC simulator.
#[derive(Debug)]
pub struct Simulator;

/// Cloneable handle to a running simulator.
#[derive(Clone, Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    smpp_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Simulator {
    /// Bind the listeners (port 0 picks a free port) and start serving.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        cfg.check().map_err(SimError::Config)?;
        let smpp = TcpListener::bind(cfg.smpp_addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: cfg.smpp_addr,
                source,
            })?;
        let http = match cfg.http_addr {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .map_err(|source| SimError::Bind { addr: a, source })?,
            ),
            None => None,
        };
        let smpp_addr = smpp.local_addr().map_err(|source| SimError::Bind {
            addr: cfg.smpp_addr,
            source,
        })?;
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        let (delivery_tx, delivery_rx) = mpsc::channel(65_536);
        let shared = Arc::new(Shared::new(cfg, delivery_tx).map_err(SimError::HexLog)?);
        let handle = SimHandle {
            shared: Arc::clone(&shared),
            smpp_addr,
            http_addr,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        let mut tasks = vec![
            tokio::spawn(accept_loop(Arc::clone(&shared), smpp)),
            tokio::spawn(dispatcher(Arc::clone(&shared), delivery_rx)),
        ];
        if let Some(l) = http {
            let router = crate::http::router(handle.clone());
            let token = shared.shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let r = axum::serve(l, router)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .await;
                if let Err(e) = r {
                    warn!(error = %e, "http server stopped");
                }
            }));
        }
        *handle.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        Ok(handle)
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    if shared.faults().outage {
                        // The outage fault: closed before any PDU is read or written.
                        info!(%peer, "connection closed at once: the outage fault");
                        drop(sock);
                        continue;
                    }
                    tokio::spawn(crate::session::run(Arc::clone(&shared), sock, peer));
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Most jobs the dispatcher holds for one account (or one MO address) with no receiver bind at
/// all; beyond it the oldest is given up ("no receiver bind"). (An account whose receiver is
/// only slow keeps every job: it drains them.)
const PARKED_PER_ACCOUNT: usize = 10_000;

/// The queue a job waits in when no bind can take it now: its account's (a receipt of a
/// submit), or its destination address's (an MO, USSD or injected receipt, routed by the
/// binds' address_range, [`Shared::receivers_for_address`]).
fn park_key(job: &DeliveryJob) -> (Option<String>, String) {
    match &job.system_id {
        Some(sys) => (Some(sys.clone()), String::new()),
        None => (None, job.pdu.destination_addr.as_str().to_string()),
    }
}

/// Hands queued deliver_sm to receiver-capable binds. A job no bind can take now (its account
/// has no receiver bind, no bind serves its address, or that bind's queue is full) waits in a
/// queue of its own account or address ([`park_key`]), and later jobs for the same wait behind
/// it, in order; other jobs go on (a transmitter-only ESME that asked for receipts must not
/// hold up everyone's MO, nor an MO to a service nobody serves the others).
async fn dispatcher(shared: Arc<Shared>, mut rx: mpsc::Receiver<DeliveryJob>) {
    use std::collections::{HashMap, VecDeque};
    let mut changed = shared.changed.subscribe();
    let mut parked: HashMap<(Option<String>, String), VecDeque<DeliveryJob>> = HashMap::new();
    loop {
        // Whatever can go now, each account's queue in order.
        let generation = shared.generation.load(Ordering::Relaxed);
        for queue in parked.values_mut() {
            while let Some(job) = queue.pop_front() {
                if job.generation != generation {
                    continue;
                }
                if let Err(job) = shared.route(job) {
                    queue.push_front(job);
                    break;
                }
            }
        }
        parked.retain(|_, q| !q.is_empty());
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            j = rx.recv() => {
                let Some(job) = j else { return };
                if job.generation != shared.generation.load(Ordering::Relaxed) {
                    continue;
                }
                // Behind its account's waiting jobs, if any; else straight on if it can go.
                let key = park_key(&job);
                let waiting = !parked.is_empty() && parked.contains_key(&key);
                let job = if waiting {
                    job
                } else {
                    match shared.route(job) {
                        Ok(()) => continue,
                        Err(job) => job,
                    }
                };
                let queue = parked.entry(key).or_default();
                queue.push_back(job);
                if queue.len() > PARKED_PER_ACCOUNT && shared.eligible(&queue[0]).is_empty() {
                    if let Some(old) = queue.pop_front() {
                        let why = match &old.system_id {
                            Some(sys) => format!("no receiver bind for {sys}"),
                            None => format!(
                                "no receiver bind for {}",
                                old.pdu.destination_addr.as_str()
                            ),
                        };
                        shared.set_delivery_state(old.record_id, DeliveryState::Failed(why), None);
                    }
                }
            }
            _ = changed.changed(), if !parked.is_empty() => {}
            _ = tokio::time::sleep(Duration::from_millis(20)), if !parked.is_empty() => {}
        }
    }
}

impl SimHandle {
    /// The SMPP listen address.
    pub fn smpp_addr(&self) -> SocketAddr {
        self.smpp_addr
    }

    /// The HTTP control API address, if enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// `http://addr` of the control API, if enabled.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}"))
    }

    /// Send unbind to every bound ESME, wait up to `wait` for their unbind_resp (each bind
    /// closes at its answer), then [`SimHandle::shutdown`]: how an SMSC going down for
    /// maintenance leaves its ESMEs (SMPP 3.4 §4.2), rather than dropping their sockets.
    pub async fn unbind_and_shutdown(&self, wait: Duration) {
        if self.unbind_all(None) > 0 {
            let _ = self
                .wait_until("the binds to close", wait, |h| {
                    h.binds()
                        .iter()
                        .all(|b| b.system_id.is_none())
                        .then_some(())
                })
                .await;
        }
        self.shutdown().await;
    }

    /// Stop listening, close every session and the HTTP server, and wait for them.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    fn queue(
        &self,
        kind: DeliveryKind,
        from: &str,
        to: &str,
        pdus: Vec<rusmpp::pdus::DeliverSm>,
    ) -> Vec<(u64, DeliveryJob)> {
        let now = now_ms();
        let generation = self.shared.generation.load(Ordering::Relaxed);
        let mut st = self.shared.state();
        pdus.into_iter()
            .map(|pdu| {
                let id = st.deliveries.next_id();
                st.deliveries.push(DeliveryRecord {
                    id,
                    kind,
                    from: from.to_string(),
                    to: to.to_string(),
                    message_id: None,
                    stat: None,
                    text: pdus::decode_body(
                        u8::from(pdu.esm_class),
                        u8::from(pdu.data_coding),
                        pdu.short_message().as_ref(),
                    ),
                    bind_id: None,
                    attempts: 0,
                    state: DeliveryState::Queued,
                    created_at_ms: now,
                });
                (
                    id,
                    DeliveryJob {
                        record_id: id,
                        system_id: None,
                        pdu: Box::new(pdu),
                        attempts: 0,
                        generation,
                        revision: None,
                    },
                )
            })
            .collect()
    }

    /// Hand `jobs` to the dispatcher; their record ids, and whether no bind could take them
    /// now (they wait for one).
    async fn send_jobs(&self, jobs: Vec<(u64, DeliveryJob)>) -> Result<(Vec<u64>, bool), SimError> {
        let waiting = jobs
            .first()
            .is_some_and(|(_, j)| self.shared.eligible(j).is_empty());
        let mut ids = Vec::with_capacity(jobs.len());
        for (id, job) in jobs {
            self.shared
                .delivery_tx
                .send(job)
                .await
                .map_err(|_| SimError::Closed)?;
            ids.push(id);
        }
        self.shared.bump();
        Ok((ids, waiting))
    }

    /// Inject an MO SMS: split, encoded and queued as deliver_sm to the receiver-capable binds
    /// that serve its service number `to` ([`Shared::receivers_for_address`]: those whose bind
    /// `address_range` matches it, else those without one; one account's binds, round-robin);
    /// while none is bound it waits. Returns once queued; see [`SimHandle::deliveries`] for
    /// the outcome.
    pub async fn inject_mo(&self, req: MoRequest) -> Result<MoTicket, SimError> {
        // An 8-bit UDH reference (IEI 0x00) holds 0 to 255: the reference reported is the
        // one written, never a 16-bit number the UDH cuts to its low byte.
        let udh8 = req.style == MoStyle::Udh8;
        let reference = match req.reference {
            Some(r) if udh8 && r > 255 => return Err(PduError::Reference(r).into()),
            Some(r) => r,
            None if udh8 => u16::from(self.shared.with_rng(rand::Rng::random::<u8>)),
            None => self.shared.with_rng(rand::Rng::random::<u16>),
        };
        // As the network presents the handset: `13800138000` becomes `8613800138000`.
        let from = self.shared.state().handsets.presented(&req.from);
        let mut parts = pdus::mo_parts(
            &from,
            &req.to,
            &req.text,
            req.encoding,
            req.style,
            reference,
        )?;
        let mut lost_parts = req.lost_parts.clone();
        lost_parts.sort_unstable();
        lost_parts.dedup();
        if !lost_parts.is_empty() {
            // Losing parts is about concatenated messages: a 1-part message has none to
            // lose (the whole MO vanishing is no partial loss), and a part past the last
            // would lose nothing while the test believes it did.
            let total = parts.len();
            if total < 2 {
                return Err(PduError::LostParts(
                    "this text goes in 1 part, not concatenated; lost_parts names parts of a \
                     long message (make the text longer, or leave lost_parts out)"
                        .into(),
                )
                .into());
            }
            if let Some(p) = lost_parts
                .iter()
                .find(|p| **p == 0 || usize::from(**p) > total)
            {
                return Err(PduError::LostParts(format!(
                    "part {p} does not exist: the message goes in parts 1 to {total}"
                ))
                .into());
            }
        }
        let mut seq = 0u8;
        parts.retain(|_| {
            seq = seq.wrapping_add(1);
            !lost_parts.contains(&seq)
        });
        if req.reverse_parts {
            parts.reverse();
        }
        let n = parts.len();
        let jobs = self.queue(DeliveryKind::Mo, &from, &req.to, parts);
        let (record_ids, waiting_for_bind) = self.send_jobs(jobs).await?;
        Ok(MoTicket {
            record_ids,
            parts: n,
            reference,
            ussd_service_op: None,
            lost_parts,
            waiting_for_bind,
        })
    }

    /// Inject a USSD message from a handset: opens a session (PSSR indication, op 1) or answers
    /// the menu the network sent (USSR confirm, op 18) with `its_session_info` tracking.
    pub async fn inject_ussd(&self, req: UssdRequest) -> Result<MoTicket, SimError> {
        // As inject_mo: no handset or service made up for an empty address.
        for (field, a) in [("from", &req.from), ("to", &req.to)] {
            if a.trim().is_empty() {
                return Err(PduError::Missing(field).into());
            }
        }
        let (planned, session, seq, from) = {
            let mut st = self.shared.state();
            let (planned, session, seq) =
                st.handsets.next_ussd(&req.from, &req.to, req.new_session);
            (planned, session, seq, st.handsets.presented(&req.from))
        };
        let op = req.op.unwrap_or(planned);
        let pdu = pdus::ussd(&from, &req.to, &req.text, op, session, seq, false)?;
        let jobs = self.queue(DeliveryKind::Ussd, &from, &req.to, vec![pdu]);
        let (record_ids, waiting_for_bind) = self.send_jobs(jobs).await?;
        Ok(MoTicket {
            record_ids,
            parts: 1,
            reference: u16::from(session),
            ussd_service_op: Some(op),
            lost_parts: Vec::new(),
            waiting_for_bind,
        })
    }

    /// Send a delivery receipt about `message_id` that this simulator never issued (a carrier
    /// quirk: receipts for another account's or a purged message), from handset `from` to the
    /// ESME address `to`, routed by `to` as an MO is (not to the account of a submit: there is
    /// none). Returns once queued.
    pub async fn inject_receipt(
        &self,
        from: &str,
        to: &str,
        message_id: &str,
        stat: ReceiptStat,
    ) -> Result<MoTicket, SimError> {
        let now = now_ms();
        let pdu = pdus::receipt_between(from, to, "", message_id, message_id, stat, now, now);
        let jobs = self.queue(DeliveryKind::Receipt, from, to, vec![pdu]);
        {
            let mut st = self.shared.state();
            for (id, _) in &jobs {
                if let Some(r) = st.deliveries.get_mut(*id) {
                    r.message_id = Some(message_id.to_string());
                    r.stat = Some(stat);
                }
            }
        }
        let (record_ids, waiting_for_bind) = self.send_jobs(jobs).await?;
        Ok(MoTicket {
            record_ids,
            parts: 1,
            reference: 0,
            ussd_service_op: None,
            lost_parts: Vec::new(),
            waiting_for_bind,
        })
    }

    /// MT messages received, oldest first.
    pub fn mt_messages(&self, filter: &MtFilter) -> Vec<MtRecord> {
        self.shared
            .state()
            .mt
            .iter()
            .filter(|r| filter.matches(r, &self.shared.cfg.handsets.country_code))
            .cloned()
            .collect()
    }

    /// Every deliver_sm the simulator originated (MO, USSD, receipts), oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.state().deliveries.iter().cloned().collect()
    }

    /// The deliver_sm records `filter` passes, oldest first; with `receipts_only`, receipts
    /// alone (`GET /receipts`).
    pub fn deliveries_matching(
        &self,
        filter: &DeliveryFilter,
        receipts_only: bool,
    ) -> Vec<DeliveryRecord> {
        self.shared
            .state()
            .deliveries
            .iter()
            .filter(|d| !receipts_only || d.kind == DeliveryKind::Receipt)
            .filter(|d| filter.matches(d))
            .cloned()
            .collect()
    }

    /// Receipts only.
    pub fn receipts(&self) -> Vec<DeliveryRecord> {
        self.shared
            .state()
            .deliveries
            .iter()
            .filter(|d| d.kind == DeliveryKind::Receipt)
            .cloned()
            .collect()
    }

    /// Snapshot of the handset `number` (empty if it never received anything).
    pub fn handset(&self, number: &str) -> HandsetView {
        self.shared.state().handsets.view(number)
    }

    /// Numbers of all handsets that received something.
    pub fn handsets(&self) -> Vec<String> {
        self.shared.state().handsets.numbers()
    }

    /// What handset `number` shows when `from` calls (name, last status, avatar hash).
    pub fn call(&self, number: &str, from: &str) -> CallView {
        self.shared.state().handsets.call(number, from)
    }

    /// The avatar (with bytes) handset `number` stores for contact `from`.
    pub fn avatar(&self, number: &str, from: &str) -> Option<Avatar> {
        self.shared.state().handsets.avatar(number, from)
    }

    /// Replace the active faults, unless [`Faults::check`] refuses them (then they stay as
    /// they were and the reason is returned).
    /// An `outage` fault coming on closes every connection.
    pub fn try_set_faults(&self, faults: Faults) -> Result<(), String> {
        self.set_faults_closing(faults).map(|_| ())
    }

    /// [`SimHandle::try_set_faults`], answering how many connections an `outage` closed
    /// (0 without one), as `POST /faults` reports them in `dropped`.
    pub fn set_faults_closing(&self, faults: Faults) -> Result<usize, String> {
        faults.check()?;
        self.shared
            .receipts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .check_faults(&faults)?;
        let outage = faults.outage;
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = faults;
        Ok(if outage {
            self.shared.control_all(None, Control::Drop)
        } else {
            0
        })
    }

    /// Replace the active faults (a test's own setting).
    ///
    /// # Panics
    /// On faults [`Faults::check`] refuses (a delay MIN above MAX, a percentage outside 0 to
    /// 100, an error status 0): a test that set them would otherwise pass having injected
    /// nothing. [`SimHandle::try_set_faults`] returns the reason instead.
    pub fn set_faults(&self, faults: Faults) {
        if let Err(e) = self.try_set_faults(faults) {
            panic!("smsc-sim: refused faults: {e}");
        }
    }

    /// The active faults.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Replace the receipt plan.
    pub fn set_receipt_plan(&self, plan: ReceiptPlan) {
        *self
            .shared
            .receipts
            .write()
            .unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// Totals, rates and window occupancy.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Open connections and their binds.
    pub fn binds(&self) -> Vec<BindView> {
        self.shared.binds()
    }

    /// Forget every record, handset and counter, and drop every receipt and MO/USSD still
    /// pending (they are never sent); returns what was forgotten. Connections and faults stay.
    pub fn reset(&self) -> ResetSummary {
        self.shared.reset()
    }

    /// Close connections now (all, or those bound as `system_id`); returns how many.
    pub fn drop_connections(&self, system_id: Option<&str>) -> usize {
        self.shared.control_all(system_id, Control::Drop)
    }

    /// Stop reading every connection (or those of `system_id`) until it closes, as an SMSC
    /// whose reading stalls: what the ESME writes from now on (answers, requests) stays unread
    /// in the socket buffers, while the simulator still writes (deliver_sm, delayed
    /// responses). A connection that then drops leaves its deliver_sm unanswered, to be sent
    /// again on the next bind. Returns how many.
    pub fn stop_reading(&self, system_id: Option<&str>) -> usize {
        self.shared.control_all(system_id, Control::StopReading)
    }

    /// Send an SMSC-initiated unbind on every connection (or those of `system_id`).
    pub fn unbind_all(&self, system_id: Option<&str>) -> usize {
        self.shared.control_all(system_id, Control::Unbind)
    }

    /// Write one malformed PDU on every connection (or those of `system_id`).
    pub fn send_malformed(&self, kind: MalformedKind, system_id: Option<&str>) -> usize {
        self.shared.control_all(system_id, Control::Malformed(kind))
    }

    /// Wait until `f` returns `Some`, re-checking whenever records change.
    pub async fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&SimHandle) -> Option<T>,
    ) -> Result<T, SimError> {
        let mut rx = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(v) = f(self) {
                return Ok(v);
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return Err(SimError::Closed) },
                _ = tokio::time::sleep_until(deadline) => {
                    return f(self).ok_or_else(|| SimError::Timeout { what: what.to_string(), timeout });
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Wait until at least `count` accepted MT have arrived; returns all accepted MT.
    pub async fn wait_for_mt(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<MtRecord>, SimError> {
        let f = MtFilter {
            accepted_only: true,
            ..MtFilter::default()
        };
        self.wait_until(&format!("{count} MT"), timeout, |h| {
            let v = h.mt_messages(&f);
            (v.len() >= count).then_some(v)
        })
        .await
    }

    /// Wait until at least `count` accepted MT to `dest` have arrived; returns them.
    pub async fn wait_for_mt_to(
        &self,
        dest: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<MtRecord>, SimError> {
        let f = MtFilter::to(dest);
        self.wait_until(&format!("{count} MT to {dest}"), timeout, |h| {
            let v = h.mt_messages(&f);
            (v.len() >= count).then_some(v)
        })
        .await
    }

    /// Wait until handset `number` holds at least `count` complete texts.
    pub async fn wait_for_inbox(
        &self,
        number: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<HandsetView, SimError> {
        self.wait_until(&format!("{count} texts on {number}"), timeout, |h| {
            let v = h.handset(number);
            (v.inbox.len() >= count).then_some(v)
        })
        .await
    }

    /// Wait until at least `count` connections are bound.
    pub async fn wait_for_binds(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<BindView>, SimError> {
        self.wait_until(&format!("{count} binds"), timeout, |h| {
            let v: Vec<BindView> = h
                .binds()
                .into_iter()
                .filter(|b| b.system_id.is_some())
                .collect();
            (v.len() >= count).then_some(v)
        })
        .await
    }

    /// Wait until every listed delivery record is answered or failed; returns them.
    pub async fn wait_for_deliveries(
        &self,
        ids: &[u64],
        timeout: Duration,
    ) -> Result<Vec<DeliveryRecord>, SimError> {
        self.wait_until("deliveries answered", timeout, |h| {
            let all = h.deliveries();
            let v: Vec<DeliveryRecord> = all.into_iter().filter(|d| ids.contains(&d.id)).collect();
            (v.len() == ids.len()
                && v.iter().all(|d| {
                    matches!(
                        d.state,
                        DeliveryState::Answered(_) | DeliveryState::Failed(_)
                    )
                }))
            .then_some(v)
        })
        .await
    }
}
