//! The ESME side of SMPP 3.4: one [`Link`] supervises one carrier account.
//!
//! A link binds as a transceiver, or as a transmitter + receiver pair, and keeps that bind up:
//! reconnect with exponential back-off and jitter, a slow lane for credential rejections, and
//! enquire_link keepalives. Callers reach it through a cloneable [`LinkHandle`]:
//! - [`LinkHandle::submit`] waits for a window slot (a `Semaphore` permit that lives in the
//!   session's in-flight map until the response or timeout) and for the rate limiter, then
//!   returns a classified [`SubmitOutcome`];
//! - inbound `deliver_sm` / `data_sm` arrive on a bounded channel as [`Inbound`] values that the
//!   receiver acknowledges with [`Inbound::ack`] once the message is persisted.
//!
//! Flow position (DESIGN.md): step 1 (reading `deliver_sm`) and the submit half of step 6.

mod backoff;
mod certificate;
pub mod gate;
mod poll;
mod rate;
mod reader;
mod session;
#[cfg(test)]
mod tests;
pub mod transport;

pub use backoff::Backoff;
pub use gate::{BatchGate, BatchRecording, ReceiptGates};
pub use rate::AdaptiveRate;
pub use session::Role;

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rusmpp::pdus::SubmitSm;
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use crate::config::Secret;
use session::{connect_and_run, Batch, Outgoing, ReplyTo, Request, SessionCtx, SessionEnd};

/// How the link binds (SMPP 3.4 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    /// One bind_transceiver connection.
    #[default]
    Trx,
    /// A bind_transmitter and a bind_receiver connection.
    Txrx,
}

/// Default of [`LinkConfig::busy_poll`], microseconds: a few of a fast SMSC's round trips (an
/// SMSC beside the gateway answers a submit in 30-60 us). Whether polling pays is measured by
/// each session (`src/smpp/poll.rs`, BENCHMARKS.md fourteenth session).
pub const DEFAULT_BUSY_POLL_US: u64 = 200;

/// Everything one carrier link needs. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// SMSC address, `host:port`.
    pub smsc: String,
    /// Other addresses of the same SMSC service (a standby, a second site), tried in turn,
    /// after `smsc`, when an address cannot be reached or bound; a link that was bound comes
    /// back to the address it was bound to first.
    pub fallback_smsc: Vec<String>,
    /// While bound to a fallback, how often to see whether `smsc` (the primary) accepts
    /// connections again; when it does, the fallback session ends gracefully (answers in
    /// flight are awaited, then unbind) and the link binds to the primary. `None`: stay on the
    /// fallback until its session ends.
    pub primary_probe: Option<Duration>,
    /// Bind system_id (at most 15 characters).
    pub system_id: String,
    /// Bind password (at most 8 characters in SMPP 3.4).
    pub password: Secret,
    /// Bind system_type (often empty).
    pub system_type: String,
    /// Transceiver or transmitter + receiver.
    pub bind_mode: BindMode,
    /// Bind addr_ton.
    pub addr_ton: u8,
    /// Bind addr_npi.
    pub addr_npi: u8,
    /// Bind address_range (often empty).
    pub address_range: String,
    /// Most requests outstanding at once.
    pub window: usize,
    /// How long to wait for any response.
    pub response_timeout: Duration,
    /// How long a session polls its socket, instead of sleeping on it, for an answer it
    /// expects soon: from its last read or write, only while the SMSC's smoothed response
    /// time is within it (an SMSC across a WAN is never polled for), and only while the
    /// session measures its answers coming back at least a tenth faster that way
    /// (`src/smpp/poll.rs`). Zero: never.
    pub busy_poll: Duration,
    /// Send enquire_link after this long without receiving anything.
    pub enquire_link_interval: Duration,
    /// Drop the connection when an enquire_link is not answered within this.
    pub enquire_link_timeout: Duration,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Largest reconnect delay (also the delay after a credential rejection).
    pub reconnect_max: Duration,
    /// Hard cap on submits per second (None: only the adaptive limit).
    pub max_rate: Option<f64>,
    /// `command_status` codes answered to a submit that mean "failed for now, try later",
    /// beside the standard ones [`SubmitOutcome::classify`] knows (a carrier's vendor codes,
    /// 0x400 to 0x4FF, for an absent subscriber or a busy network element): such a submit
    /// is [`SubmitOutcome::Temporary`] instead of permanent.
    pub temporary_statuses: Vec<u32>,
    /// Depth of the inbound queue towards the gateway.
    pub inbound_capacity: usize,
    /// Longest a connection attempt may take: the TCP connect and, with `tls`, the TLS
    /// handshake together (`[smsc] connect_timeout_secs`).
    pub connect_timeout: Duration,
    /// Largest PDU accepted from the SMSC.
    pub max_pdu_len: usize,
    /// On shutdown, how long to wait for in-flight responses before unbinding.
    pub shutdown_grace: Duration,
    /// SMPP over TLS, with these settings; `None`: plain TCP.
    pub tls: Option<transport::TlsClient>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            smsc: "127.0.0.1:2775".into(),
            fallback_smsc: Vec::new(),
            primary_probe: Some(Duration::from_secs(60)),
            system_id: "presence".into(),
            password: Secret::new("secret"),
            system_type: String::new(),
            bind_mode: BindMode::Trx,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            window: 64,
            response_timeout: Duration::from_secs(10),
            busy_poll: Duration::from_micros(DEFAULT_BUSY_POLL_US),
            enquire_link_interval: Duration::from_secs(30),
            enquire_link_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(30),
            max_rate: None,
            temporary_statuses: Vec::new(),
            inbound_capacity: 1024,
            connect_timeout: Duration::from_secs(5),
            max_pdu_len: sms_wire::framing::DEFAULT_MAX_PDU_LEN,
            shutdown_grace: Duration::from_secs(3),
            tls: None,
        }
    }
}

/// An SMSC address kept in `m` (empty: none).
fn address(m: &Mutex<String>) -> Option<String> {
    let a = m.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (!a.is_empty()).then_some(a)
}

/// An SMSC's `command_status` as an outbox row and the log keep it: the SMPP 3.4 name and
/// the code as carrier documents write it, `ESME_RINVDSTADR (0x0000000B)`; a vendor code the
/// standard does not name, by its code alone.
pub fn status_text(status: rusmpp::CommandStatus) -> String {
    let code = u32::from(status);
    match sms_wire::status::status_name(code) {
        Some(name) => format!("{name} (0x{code:08X})"),
        None => format!("command_status 0x{code:08X}"),
    }
}

/// Where the link stands, observable through [`LinkHandle::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connecting or binding.
    Connecting,
    /// Every connection of the bind mode is bound.
    Bound,
    /// Not bound; the reason, and a reconnect is scheduled.
    Down(String),
    /// The SMSC refused our credentials; retrying slowly.
    AuthRejected(String),
    /// The link was shut down.
    Stopped,
}

/// Why a request got no SMPP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No response within the response timeout.
    #[error("no response within the timeout")]
    Timeout,
    /// The connection dropped while the request was outstanding.
    #[error("connection lost before a response")]
    Disconnected,
    /// The request waited too long for a bound session and was not sent.
    #[error("not sent: no bound session in time")]
    Stale,
    /// The session closed or ended before the request was written: it never reached the SMSC.
    #[error("not sent: the session ended first")]
    NotSent,
    /// The response could not be decoded.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The link has been shut down.
    #[error("link stopped")]
    Closed,
    /// Its caller withdrew it before the session wrote it ([`Recall`]): it never reached the
    /// SMSC.
    #[error("not sent: withdrawn before it went out")]
    Withdrawn,
}

impl LinkError {
    /// Whether the request certainly never reached the SMSC (so sending it again is not a
    /// second attempt at the handset): not sent for want of a session, or the link stopped
    /// before it went out.
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            LinkError::Stale | LinkError::NotSent | LinkError::Closed | LinkError::Withdrawn
        )
    }
}

/// Submits of one batch ([`LinkHandle::submit_batch_streamed`]) its caller no longer wants
/// sent: one flag per submit, by its index in the batch. The session looks at an item's flag
/// as it is about to write it (batch items go out one by one as window slots free up and the
/// rate limiter allows) and answers a withdrawn one [`LinkError::Withdrawn`] instead, taking no
/// window slot or rate token for it. An item already written goes its way: its answer comes as
/// any other.
#[derive(Debug, Default)]
pub struct Recall {
    withdrawn: Vec<std::sync::atomic::AtomicBool>,
}

impl Recall {
    /// Flags for a batch of `n` submits, none withdrawn.
    pub fn new(n: usize) -> Self {
        Self {
            withdrawn: (0..n)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        }
    }

    /// Withdraw submit `index` (no effect past the batch's end).
    pub fn withdraw(&self, index: usize) {
        if let Some(flag) = self.withdrawn.get(index) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Whether submit `index` is withdrawn.
    pub fn is_withdrawn(&self, index: usize) -> bool {
        self.withdrawn
            .get(index)
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// The SMSC's verdict on one submit, classified for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted, with the SMSC's message id.
    Accepted {
        /// `message_id` from submit_sm_resp.
        message_id: String,
    },
    /// `ESME_RTHROTTLED` or `ESME_RMSGQFUL`: retry later, the rate has been lowered.
    Throttled(CommandStatus),
    /// A temporary failure (system error, application busy): retry later.
    Temporary(CommandStatus),
    /// A permanent rejection (bad destination, bad data): do not retry.
    Permanent(CommandStatus),
}

impl SubmitOutcome {
    /// [`Self::classify`], with the codes in `temporary` (a carrier's, configured) read as
    /// [`SubmitOutcome::Temporary`] where the standard ones would be permanent.
    pub fn classify_with(resp: &Command, temporary: &[u32]) -> SubmitOutcome {
        match Self::classify(resp) {
            SubmitOutcome::Permanent(s) if temporary.contains(&u32::from(s)) => {
                SubmitOutcome::Temporary(s)
            }
            outcome => outcome,
        }
    }

    /// Classify a submit_sm_resp (or generic_nack) status (SMPP 3.4 §5.1.3): the SMSC is
    /// busy (`ESME_RTHROTTLED` 0x58, `ESME_RMSGQFUL` 0x14: slow down, try again, the attempt
    /// not counted); failed for now (`ESME_RSYSERR` 0x08 system error, `ESME_RX_T_APPN` 0x64
    /// temporary application error, `ESME_RSUBMITFAIL` 0x45 submit failed, which carriers
    /// answer for passing faults, `ESME_RUNKNOWNERR` 0xFF, `ESME_RINVBNDSTS` 0x04 a session
    /// problem, `ESME_RDELIVERYFAILURE` 0xFE: try again after a back-off, the attempt
    /// counted, so a fault that never passes ends at `max_attempts`); anything else is about
    /// the message itself (`ESME_RINVDSTADR`, `ESME_RX_P_APPN` 0x65 permanent application
    /// error, `ESME_RX_R_APPN` 0x66 rejected...) and fails it.
    pub fn classify(resp: &Command) -> SubmitOutcome {
        match resp.status() {
            CommandStatus::EsmeRok => {
                let message_id = match resp.pdu() {
                    Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
                    Some(Pdu::DataSmResp(r)) => r.message_id().to_string(),
                    _ => String::new(),
                };
                SubmitOutcome::Accepted { message_id }
            }
            s @ (CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful) => {
                SubmitOutcome::Throttled(s)
            }
            s @ (CommandStatus::EsmeRsyserr
            | CommandStatus::EsmeRxTAppn
            | CommandStatus::EsmeRsubmitfail
            | CommandStatus::EsmeRunknownerr
            | CommandStatus::EsmeRinvbndsts
            | CommandStatus::EsmeRdeliveryfailure) => SubmitOutcome::Temporary(s),
            s => SubmitOutcome::Permanent(s),
        }
    }
}

/// An inbound deliver_sm or data_sm. Acknowledge it after it is safely stored; dropping it
/// unacknowledged answers `ESME_RX_T_APPN` so the SMSC delivers it again.
#[derive(Debug)]
pub struct Inbound {
    /// The PDU as received.
    pub command: Command,
    /// The SMPP session it came on: a random number below 2^63, the same for every PDU of
    /// one session and never reused (a reconnect or a restart makes a new one). An identical
    /// PDU again on the same session was sent again by the subscriber, not resent by the SMSC
    /// after a lost answer (see `store::inbox`).
    pub session: u64,
    ack: oneshot::Sender<(CommandStatus, Option<KeyRow>)>,
}

/// The inbox row holding a stored MO's dedup key ([`Inbound::ack_stored`]), and whether the
/// PDU was a whole message rather than a part of a concatenated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRow {
    /// `inbox_pdu.id`.
    pub(crate) row: i64,
    /// A whole message (no concatenation).
    pub(crate) whole: bool,
}

impl Inbound {
    /// Answer the SMSC: `ESME_ROK` once persisted, or an error status.
    pub fn ack(self, status: CommandStatus) {
        let _ = self.ack.send((status, None));
    }

    /// Answer `ESME_ROK` to an MO the inbox took; `key_row` is the inbox row holding its dedup
    /// key (`store::inbox::receive_keyed`), `whole` says the PDU was a whole message (not a
    /// part of a concatenated one). Once the SMSC is known to have read this answer, the row
    /// is handed on and its key retired ([`LinkHandle::take_read_answers`]): a whole
    /// message's at once, a part's when the session ends.
    pub fn ack_stored(self, key_row: i64, whole: bool) {
        let _ = self.ack.send((
            CommandStatus::EsmeRok,
            Some(KeyRow {
                row: key_row,
                whole,
            }),
        ));
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Submits answered ESME_ROK.
    pub submits_ok: AtomicU64,
    /// Submits answered with throttling statuses.
    pub submits_throttled: AtomicU64,
    /// Submits answered with other errors.
    pub submits_failed: AtomicU64,
    /// Requests that timed out.
    pub timeouts: AtomicU64,
    /// Smoothed time from a windowed request's write to the read of its response, µs (an
    /// exponential average over about the last eight); 0 until one is answered. See
    /// [`LinkHandle::expected_rate`].
    pub response_time_us: AtomicU64,
    /// Malformed PDUs received.
    pub malformed: AtomicU64,
    /// 1 while the bound session polls its socket for answers (its last probes found them
    /// coming back faster that way, `src/smpp/poll.rs`), 0 while it sleeps on it.
    pub busy_polling: AtomicU64,
    /// Probe pairs completed (each a choice between polling and sleeping).
    pub busy_poll_choices: AtomicU64,
    /// Successful binds (reconnects included).
    pub binds: AtomicU64,
    /// The end of validity (`notAfter`, Unix seconds) of the certificate of the SMSC at the
    /// last TLS bind; 0 before any (or when it could not be read).
    pub tls_cert_not_after: AtomicI64,
    /// Binds the SMSC answered with a refusal (wrong credentials, `ESME_RBINDFAIL`...).
    pub bind_refusals: AtomicU64,
    /// Attempts that ended without a session and without a refusal: no connection, or no
    /// answer to the bind.
    pub bind_no_session: AtomicU64,
    /// From an inbound deliver_sm / data_sm read off the wire to its resp handed to the
    /// writer: the time the SMSC's deliver window slot is held, mostly the store's commit.
    pub inbound_ack: crate::histogram::LatencyHistogram,
    /// The SMSC address of the bound session (`smsc` or a fallback); empty while not bound.
    pub bound_to: Mutex<String>,
    /// The SMSC address the link binds to or is trying now (set at each attempt).
    pub target: Mutex<String>,
    /// Sessions (their [`Inbound::session`] tags) the SMSC read every answer of: ended by a
    /// completed unbind with nothing left to answer, so it sends none of their PDUs again
    /// and the same text on a later session is the subscriber's. Taken with
    /// [`LinkHandle::take_read_out_sessions`].
    pub(crate) read_out: Mutex<Vec<u64>>,
    /// The inbox rows ([`Inbound::ack_stored`]) of MO whose answers the SMSC is known to have
    /// read: it answered a request written after the answer. A whole message's row comes as
    /// soon as that response is read, a part's when its session ends (see
    /// `session::Answers`). Taken with [`LinkHandle::take_read_answers`].
    pub(crate) read_answers: Mutex<Vec<i64>>,
    /// Set by [`LinkHandle::stop_submitting`]: batch items not yet written are answered
    /// `NotSent`, and no more are written, while answers to those written are still read.
    pub(crate) submitting_stopped: std::sync::atomic::AtomicBool,
}

struct Shared {
    requests: mpsc::Sender<Outgoing>,
    window: Arc<Semaphore>,
    /// The window in force ([`LinkHandle::set_window`] changes it).
    window_size: Arc<AtomicUsize>,
    rate: Arc<Mutex<AdaptiveRate>>,
    origin: Instant,
    state: watch::Receiver<LinkState>,
    stats: Arc<LinkStats>,
    gates: Arc<ReceiptGates>,
    /// [`LinkConfig::temporary_statuses`], or the list a config reload set
    /// ([`LinkHandle::set_temporary_statuses`]).
    temporary: RwLock<Arc<[u32]>>,
}

/// A cloneable handle to a running [`Link`].
#[derive(Clone)]
pub struct LinkHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkHandle")
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

impl LinkHandle {
    /// Current link state.
    pub fn state(&self) -> LinkState {
        self.shared.state.borrow().clone()
    }

    /// The ids accepted for gated batches and not recorded yet: the inbound pump holds
    /// receipts for them back until they are ([`gate`]).
    pub fn receipt_gates(&self) -> Arc<ReceiptGates> {
        self.shared.gates.clone()
    }

    /// The sessions that ended with every answer read by the SMSC since the last call (see
    /// [`LinkStats::read_out`]); handed to the inbox (`store::inbox::forget_sessions`) at the
    /// start of the store's next write (`inbound::retire_answers_read`).
    pub fn take_read_out_sessions(&self) -> Vec<u64> {
        std::mem::take(
            &mut *self
                .shared
                .stats
                .read_out
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// The inbox rows of MO whose answers the SMSC is known to have read, since the last call
    /// (see [`LinkStats::read_answers`]); handed to the inbox with the read-out sessions
    /// (`store::inbox::forget_answered`), at the start of the store's next write
    /// (`inbound::retire_answers_read`).
    pub fn take_read_answers(&self) -> Vec<i64> {
        std::mem::take(
            &mut *self
                .shared
                .stats
                .read_answers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// The SMSC address the link is bound to (`smsc` or one of `fallback_smsc`), if bound.
    pub fn bound_to(&self) -> Option<String> {
        address(&self.shared.stats.bound_to).filter(|_| self.is_bound())
    }

    /// The SMSC address the link is bound to or trying (the last attempt's), if it tried.
    pub fn target(&self) -> Option<String> {
        address(&self.shared.stats.target)
    }

    /// Whether the link is bound now (both sessions of a transmitter/receiver pair).
    pub fn is_bound(&self) -> bool {
        matches!(*self.shared.state.borrow(), LinkState::Bound)
    }

    /// Wait until bound, at most `timeout`; returns whether it is bound.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let mut rx = self.shared.state.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s == LinkState::Bound))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.shared.state.clone()
    }

    /// Requests currently holding a window slot.
    pub fn window_in_use(&self) -> usize {
        self.window_size()
            .saturating_sub(self.shared.window.available_permits())
    }

    /// The window in force: the configured one, or the one a config reload set.
    pub fn window_size(&self) -> usize {
        self.shared.window_size.load(Ordering::Relaxed)
    }

    /// Set the window (`[smsc] window`) of the running link, as a config reload does (at
    /// least 1). Larger, the new slots are free at once. Smaller, the free slots go at once
    /// and those in use as their requests are answered (a task takes them as they come back,
    /// ahead of new requests: the semaphore is fair), so from then on no more than `size`
    /// requests are outstanding; nothing in flight is cut. Call it within the runtime.
    pub fn set_window(&self, size: usize) {
        let size = size.max(1);
        let old = self.shared.window_size.swap(size, Ordering::Relaxed);
        if size > old {
            self.shared.window.add_permits(size - old);
        } else if size < old {
            let owed = old - size;
            let left = owed - self.shared.window.forget_permits(owed);
            if left > 0 {
                let window = self.shared.window.clone();
                let left = u32::try_from(left).unwrap_or(u32::MAX);
                tokio::spawn(async move {
                    if let Ok(slots) = window.acquire_many_owned(left).await {
                        slots.forget();
                    }
                });
            }
        }
    }

    /// Set the configured maximum submit rate (`[smsc] max_rate`) of the running link, as a
    /// config reload does; `None` takes the cap away ([`AdaptiveRate::set_max_rate`]: a lower
    /// one holds from the change on).
    pub fn set_max_rate(&self, max_rate: Option<f64>) {
        let now = self.shared.origin.elapsed();
        self.shared
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_max_rate(max_rate, now);
    }

    /// The configured maximum submit rate in force (messages per second), if any.
    pub fn max_rate(&self) -> Option<f64> {
        self.shared
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .max_rate()
    }

    /// The adaptive submit rate now allowed (messages per second).
    pub fn current_rate(&self) -> f64 {
        self.shared
            .rate
            .lock()
            .map(|r| r.current_rate())
            .unwrap_or(0.0)
    }

    /// The submit rate the link holds to now (messages per second), if any: the configured
    /// `max_rate`, or the adaptive limit an `ESME_RTHROTTLED` set while it climbs back.
    /// `None` when nothing caps it (no `max_rate`, or climbed all the way back).
    pub fn rate_limit(&self) -> Option<f64> {
        let rate = self.current_rate();
        (rate < rate::UNLIMITED_RATE).then_some(rate)
    }

    /// Messages per second the link can be expected to take now: the adaptive rate, or the
    /// window over the smoothed response time when that is lower. A distant SMSC with a small
    /// window sets the pace itself (window 1 at 50 ms is 20 a second, whatever the rate cap),
    /// and the outbox dispatcher sizes its batches and the rows it holds by this. Before any
    /// submit is answered, the window a second.
    pub fn expected_rate(&self) -> f64 {
        let window = self.window_size().max(1) as f64;
        let rtt_us = self.shared.stats.response_time_us.load(Ordering::Relaxed);
        let by_window = if rtt_us == 0 {
            window
        } else {
            window * 1e6 / rtt_us as f64
        };
        self.current_rate().min(by_window)
    }

    /// Stop writing batched submits (a stop in progress): those not yet written are answered
    /// [`LinkError::NotSent`] at the session's next turn, so their rows go back to the queue
    /// unsent, while the answers to those already written are still read. A stop then waits
    /// for at most a window of answers, not for every row the dispatcher had handed over.
    pub fn stop_submitting(&self) {
        self.shared
            .stats
            .submitting_stopped
            .store(true, Ordering::Relaxed);
    }

    /// The smoothed response time of submits ([`LinkStats::response_time_us`]); `None` until
    /// one is answered.
    pub fn response_time(&self) -> Option<Duration> {
        match self.shared.stats.response_time_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &LinkStats {
        &self.shared.stats
    }

    /// Wait for a free window slot; the permit travels with the request until it is answered.
    async fn acquire_window(&self) -> Result<tokio::sync::OwnedSemaphorePermit, LinkError> {
        self.shared
            .window
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| LinkError::Closed)
    }

    /// The `command_status` codes this link's SMSC answers for "failed for now"
    /// ([`LinkConfig::temporary_statuses`], or the list a config reload set), for readers of
    /// other answers (a `cancel_sm`'s).
    pub fn temporary_statuses(&self) -> Arc<[u32]> {
        self.shared
            .temporary
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the codes read as "failed for now" (`[smsc] temporary_statuses`) on the
    /// running link, as a config reload does: every answer read from then on (a submit's, a
    /// `cancel_sm`'s) is classified with `codes`, also one to a request written before.
    pub fn set_temporary_statuses(&self, codes: &[u32]) {
        *self
            .shared
            .temporary
            .write()
            .unwrap_or_else(|e| e.into_inner()) = codes.into();
    }

    /// Send any request PDU through the window and wait for its response.
    pub async fn request(&self, pdu: Pdu) -> Result<Command, LinkError> {
        let permit = self.acquire_window().await?;
        self.send(pdu, Some(permit), false).await
    }

    /// Send a request PDU that is not a submit (`cancel_sm`) as a submit goes: it waits for a
    /// window slot, then the session writes it as soon as the rate limiter allows, ahead of
    /// the outbox's batch items (as [`LinkHandle::submit`]), so it counts against `max_rate`,
    /// and its answer feeds the adaptive rate as a submit's does ([`LinkHandle::pace`]: an
    /// `ESME_RTHROTTLED` or `ESME_RMSGQFUL` slows every submit down). Returns the SMSC's
    /// response (or `generic_nack`) as read; nothing is counted as a submit.
    pub async fn request_paced(&self, pdu: Pdu) -> Result<Command, LinkError> {
        let permit = self.acquire_window().await?;
        let answer = self.send(pdu, Some(permit), true).await;
        if let Ok(resp) = &answer {
            self.pace(&self.classify(resp));
        }
        answer
    }

    /// Hand `pdu` to the session and wait for its answer; `paced`: the session takes a rate
    /// token for it as it writes it (see `session::Request::paced`).
    async fn send(
        &self,
        pdu: Pdu,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        paced: bool,
    ) -> Result<Command, LinkError> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .requests
            .send(Outgoing::One(Box::new(Request {
                pdu,
                reply: ReplyTo::One(tx),
                permit,
                enqueued: Instant::now(),
                paced,
            })))
            .await
            .map_err(|_| LinkError::Closed)?;
        rx.await.unwrap_or(Err(LinkError::Disconnected))
    }

    /// [`SubmitOutcome::classify_with`] this link's temporary statuses, read only for a
    /// refusal the list could change: an accepted submit takes no lock.
    fn classify(&self, resp: &Command) -> SubmitOutcome {
        match SubmitOutcome::classify(resp) {
            SubmitOutcome::Permanent(_) => {
                SubmitOutcome::classify_with(resp, &self.temporary_statuses())
            }
            outcome => outcome,
        }
    }

    /// Classify a submit's response and feed it to the counters and the adaptive rate.
    fn account(&self, resp: &Command) -> SubmitOutcome {
        let outcome = self.classify(resp);
        let stats = &self.shared.stats;
        let counter = match &outcome {
            SubmitOutcome::Accepted { .. } => &stats.submits_ok,
            SubmitOutcome::Throttled(_) => &stats.submits_throttled,
            _ => &stats.submits_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.pace(&outcome);
        outcome
    }

    /// Feed a paced request's answer to the adaptive rate, read as a submit's (`outcome`): an
    /// acceptance lets the rate climb back, `ESME_RTHROTTLED` / `ESME_RMSGQFUL` halve it (the
    /// start of a spell of push-back is logged). Submits and cancels alike: both take their
    /// tokens from the one limiter.
    fn pace(&self, outcome: &SubmitOutcome) {
        let now = self.shared.origin.elapsed();
        match outcome {
            SubmitOutcome::Accepted { .. } => {
                let news = self
                    .shared
                    .rate
                    .lock()
                    .ok()
                    .and_then(|mut r| r.on_success(now));
                if let Some(rate::Pushback::Ended { refusals, lasted }) = news {
                    info!(
                        refusals,
                        lasted_secs = lasted.as_secs(),
                        "the SMSC has taken submits without push-back for {} s; the rate climbs back",
                        rate::QUIET.as_secs()
                    );
                }
            }
            SubmitOutcome::Throttled(status) => {
                let news = self
                    .shared
                    .rate
                    .lock()
                    .ok()
                    .and_then(|mut r| r.on_throttled(now));
                match news {
                    Some(rate::Pushback::Began { rate: Some(rate) }) => warn!(
                        status = %status_text(*status),
                        rate_per_sec = %format_args!("{rate:.1}"),
                        "the SMSC is refusing submits (or cancels) for load: slowing down and retrying them later \
                         (if this goes on, lower [smsc] window or set [smsc] max_rate)"
                    ),
                    Some(rate::Pushback::Began { rate: None }) => warn!(
                        status = %status_text(*status),
                        "the SMSC is refusing submits (or cancels) for load: slowing down and retrying them later \
                         (if this goes on, lower [smsc] window or set [smsc] max_rate)"
                    ),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Submit one `submit_sm` (a USSD screen): window slot, then the session writes it as soon
    /// as the rate limiter allows, ahead of the outbox's batch items, and the SMSC's classified
    /// answer. The rate token is taken as it is written (the sliding-second cap counts the
    /// submit when the SMSC can see it, also after it waited for a reconnect). Throttling
    /// answers lower the adaptive rate; successes raise it back.
    pub async fn submit(&self, sm: SubmitSm) -> Result<SubmitOutcome, LinkError> {
        let permit = self.acquire_window().await?;
        let resp = self.send(Pdu::SubmitSm(sm), Some(permit), true).await?;
        Ok(self.account(&resp))
    }

    /// Submit many `submit_sm`s and return every classified answer in the order given
    /// ([`LinkHandle::submit_batch_streamed`], collected). PDUs the session could not send
    /// before the connection dropped come back [`LinkError::Disconnected`].
    pub async fn submit_batch(&self, sms: Vec<SubmitSm>) -> Vec<Result<SubmitOutcome, LinkError>> {
        let mut answers = vec![Err(LinkError::Disconnected); sms.len()];
        let mut stream = self.submit_batch_streamed(sms, None, None).await;
        while let Some((index, answer)) = stream.next().await {
            answers[index] = answer;
        }
        answers
    }

    /// Submit many `submit_sm`s, giving each classified answer as it comes, with its index in
    /// `sms` ([`BatchAnswers`]). The batch goes to the session in one message; the session
    /// sends the PDUs itself as window slots free up and the rate limiter allows, so up to the
    /// window's size are outstanding and freed slots are refilled (once half the window is
    /// free) in the session turn that read the response: one caller, one reply channel, no
    /// task per PDU. This is the outbox dispatcher's path (DESIGN.md flow step 6); it records
    /// the messages answered so far while a slow batch is still out. `gate` is told each
    /// message id the SMSC accepts as the session reads its response, so that receipts for
    /// those ids wait for the caller to record them ([`gate`]). Through `recall` the caller
    /// may withdraw submits not written yet ([`Recall`]).
    pub async fn submit_batch_streamed(
        &self,
        sms: Vec<SubmitSm>,
        gate: Option<Arc<BatchGate>>,
        recall: Option<Arc<Recall>>,
    ) -> BatchAnswers {
        let n = sms.len();
        let (tx, rx) = mpsc::channel(n.max(1));
        let mut answers = BatchAnswers {
            link: self.clone(),
            rx: None,
            answered: vec![false; n],
            left: n,
            refused: false,
        };
        if n == 0 {
            return answers;
        }
        let batch = Batch {
            pdus: sms.into_iter().map(Pdu::SubmitSm).collect(),
            reply: tx,
            enqueued: Instant::now(),
            gate,
            recall,
        };
        if self
            .shared
            .requests
            .send(Outgoing::Batch(batch))
            .await
            .is_ok()
        {
            answers.rx = Some(rx);
        } else {
            answers.refused = true;
        }
        answers
    }
}

/// The answers to one batch of submits, in the order they come
/// ([`LinkHandle::submit_batch_streamed`]).
#[derive(Debug)]
pub struct BatchAnswers {
    link: LinkHandle,
    /// `None` once the session has dropped the batch (or never took it).
    rx: Option<mpsc::Receiver<(usize, Result<Command, LinkError>)>>,
    answered: Vec<bool>,
    left: usize,
    /// The link was closed: the session never took the batch.
    refused: bool,
}

impl BatchAnswers {
    /// The next answer, with the index of its submit in the batch; `None` once every submit
    /// has one. Submits the session dropped unanswered (the connection went) come last, each
    /// [`LinkError::Disconnected`] ([`LinkError::Closed`] if the link was gone before).
    pub async fn next(&mut self) -> Option<(usize, Result<SubmitOutcome, LinkError>)> {
        if self.left == 0 {
            return None;
        }
        if let Some(rx) = &mut self.rx {
            while let Some((index, answer)) = rx.recv().await {
                match self.answered.get_mut(index) {
                    Some(done) if !*done => {
                        *done = true;
                        self.left -= 1;
                        return Some((index, answer.map(|resp| self.link.account(&resp))));
                    }
                    _ => {}
                }
            }
        }
        self.rx = None;
        let index = self.answered.iter().position(|done| !done)?;
        self.answered[index] = true;
        self.left -= 1;
        let error = if self.refused {
            LinkError::Closed
        } else {
            LinkError::Disconnected
        };
        Some((index, Err(error)))
    }
}

/// The link supervisor: spawns the sessions of its bind mode and keeps them bound.
#[derive(Debug)]
pub struct Link;

impl Link {
    /// Start a link. Returns its handle, the inbound message queue, and the supervisor task
    /// (which ends after `shutdown` is cancelled and the sessions have unbound).
    pub fn spawn(
        cfg: LinkConfig,
        shutdown: CancellationToken,
    ) -> (LinkHandle, mpsc::Receiver<Inbound>, JoinHandle<()>) {
        let window = cfg.window.max(1);
        let (req_tx, req_rx) = mpsc::channel(window);
        let (in_tx, in_rx) = mpsc::channel(cfg.inbound_capacity.max(1));
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let stats = Arc::new(LinkStats::default());
        let origin = Instant::now();
        let shared = Arc::new(Shared {
            requests: req_tx,
            window: Arc::new(Semaphore::new(window)),
            window_size: Arc::new(AtomicUsize::new(window)),
            rate: Arc::new(Mutex::new(AdaptiveRate::new(cfg.max_rate, Duration::ZERO))),
            origin,
            state: state_rx,
            stats: stats.clone(),
            gates: Arc::new(ReceiptGates::default()),
            temporary: RwLock::new(cfg.temporary_statuses.as_slice().into()),
        });
        let pacing = Pacing {
            window: shared.window.clone(),
            window_size: shared.window_size.clone(),
            rate: shared.rate.clone(),
            origin,
        };
        // No SMSC address in the span: with fallbacks it changes, and each line that
        // concerns one names the address it is about.
        let span = tracing::info_span!("link", system_id = %cfg.system_id);
        let task = tokio::spawn(
            supervise(cfg, req_rx, in_tx, state_tx, shutdown, stats, pacing).instrument(span),
        );
        (LinkHandle { shared }, in_rx, task)
    }
}

/// The window and the rate limiter, shared by the handle and the sessions (which send batch
/// items themselves).
struct Pacing {
    window: Arc<Semaphore>,
    /// [`LinkHandle::window_size`].
    window_size: Arc<AtomicUsize>,
    rate: Arc<Mutex<AdaptiveRate>>,
    origin: Instant,
}

async fn supervise(
    cfg: LinkConfig,
    mut requests: mpsc::Receiver<Outgoing>,
    inbound: mpsc::Sender<Inbound>,
    state: watch::Sender<LinkState>,
    shutdown: CancellationToken,
    stats: Arc<LinkStats>,
    pacing: Pacing,
) {
    let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    let mut rotation = Rotation::new(&cfg);
    // A session bound at least this long was not a bind-and-drop: the back-off starts again.
    // Shorter ones (an SMSC that accepts the bind, then unbinds or closes at once) keep it
    // growing, so a policing or draining SMSC is not rebound several times a second.
    let stable_after = cfg.reconnect_max.min(STABLE_SESSION);
    // How often to look for the primary while on a fallback; doubled after each return the
    // primary did not accept (it took the connection, then refused or dropped the bind).
    let mut probe_every = cfg.primary_probe;
    // The fallback left for the primary, while that return is being tried.
    let mut returning_from: Option<usize> = None;
    let state = Arc::new(state);
    let base = cfg;
    let needed = match base.bind_mode {
        BindMode::Trx => 1,
        BindMode::Txrx => 2,
    };
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let _ = state.send(LinkState::Connecting);
        let cfg = LinkConfig {
            smsc: rotation.current().to_string(),
            ..base.clone()
        };
        *stats.target.lock().unwrap_or_else(|e| e.into_inner()) = cfg.smsc.clone();
        // On a fallback, a probe of the primary can end this session (not the link).
        let session_stop = shutdown.child_token();
        let probe = match (rotation.on_fallback(), probe_every) {
            (true, Some(every)) => Some(ProbeGuard(tokio::spawn(probe_primary(
                rotation.primary().to_string(),
                every,
                base.connect_timeout,
                base.tls.clone(),
                session_stop.clone(),
                state.clone(),
            )))),
            _ => None,
        };
        let shutdown_link = &shutdown;
        let shutdown = &session_stop;
        let bound_count = AtomicUsize::new(0);
        let bound_at: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
        let on_bound = || {
            stats.binds.fetch_add(1, Ordering::Relaxed);
            if bound_count.fetch_add(1, Ordering::SeqCst) + 1 >= needed {
                *stats.bound_to.lock().unwrap_or_else(|e| e.into_inner()) = cfg.smsc.clone();
                *bound_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                let _ = state.send(LinkState::Bound);
            }
        };
        // Each session's lines name the SMSC it is with (on a fallback, not the primary).
        let session_span = tracing::info_span!("session", smsc = %cfg.smsc);
        // A session's context: all but its role, request channel and stop token are the link's.
        macro_rules! ctx {
            ($role:expr, $requests:expr, $shutdown:expr) => {
                SessionCtx {
                    cfg: &cfg,
                    role: $role,
                    requests: $requests,
                    inbound: &inbound,
                    shutdown: $shutdown,
                    stats: &stats,
                    on_bound: &on_bound,
                    window: &pacing.window,
                    window_size: &pacing.window_size,
                    rate: &pacing.rate,
                    origin: pacing.origin,
                }
            };
        }
        let end = async {
            match cfg.bind_mode {
                BindMode::Trx => {
                    connect_and_run(ctx!(Role::Transceiver, Some(&mut requests), shutdown)).await
                }
                BindMode::Txrx => {
                    // The pair lives and dies together: when one session ends, the other is told to
                    // unbind through the pair's token (a child of this session's stop token).
                    let pair = shutdown.child_token();
                    let tx = connect_and_run(ctx!(Role::Transmitter, Some(&mut requests), &pair));
                    let rx = connect_and_run(ctx!(Role::Receiver, None, &pair));
                    let (a, b) = tokio::join!(
                        async {
                            let r = tx.await;
                            pair.cancel();
                            r
                        },
                        async {
                            let r = rx.await;
                            pair.cancel();
                            r
                        }
                    );
                    let end = worse(a, b);
                    if matches!(end, SessionEnd::Shutdown) && !shutdown.is_cancelled() {
                        SessionEnd::Closed {
                            reason: "transmitter/receiver pair ended".into(),
                            bound: true,
                        }
                    } else {
                        end
                    }
                }
            }
        }
        .instrument(session_span)
        .await;
        drop(probe);
        let shutdown = shutdown_link;
        let bound_for = bound_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|t| t.elapsed());
        // Bound on the primary (however it got there): the next stay on a fallback looks for
        // it at the configured pace again.
        if bound_for.is_some() && cfg.smsc == rotation.primary() {
            probe_every = base.primary_probe;
        }
        // A return to the primary that did not bind there: straight back to the fallback it
        // left, and look for the primary less often from now on.
        if let Some(fallback) = returning_from.take() {
            if bound_for.is_none() && !matches!(end, SessionEnd::Shutdown) {
                probe_every = probe_every.map(|d| (d * 2).min(PROBE_MAX.max(d)));
                warn!(
                    smsc = %cfg.smsc,
                    outcome = ?end,
                    next_look_secs = probe_every.map_or(0, |d| d.as_secs()),
                    "the primary SMSC took the connection but not the bind: back to the fallback"
                );
                let _ = state.send(LinkState::Down("the primary SMSC refused the bind".into()));
                rotation.back_to(fallback);
                tokio::select! {
                    _ = tokio::time::sleep(base.reconnect_min) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
        }
        let delay = match end {
            SessionEnd::Shutdown if shutdown.is_cancelled() => break,
            SessionEnd::Shutdown => {
                // The probe found the primary again (and said so in the link state): the
                // fallback session has ended cleanly.
                info!(smsc = %rotation.primary(), left = %cfg.smsc, "returning to the primary SMSC");
                returning_from = Some(rotation.current);
                rotation.back_to_primary();
                base.reconnect_min
            }
            SessionEnd::AuthRejected(CommandStatus::EsmeRbindfail) => {
                error!(
                    status = "ESME_RBINDFAIL",
                    system_id = %cfg.system_id,
                    smsc = %cfg.smsc,
                    "the SMSC refused the bind without naming the credentials (often: the account's binds are all in use, or the SMSC is in maintenance); retrying slowly"
                );
                let _ = state.send(LinkState::AuthRejected(status_text(
                    CommandStatus::EsmeRbindfail,
                )));
                stats.bind_refusals.fetch_add(1, Ordering::Relaxed);
                rotation.failed();
                backoff.auth_failure_delay()
            }
            SessionEnd::AuthRejected(status) => {
                let delay = backoff.credentials_refused_delay();
                error!(
                    status = %status_text(status),
                    system_id = %cfg.system_id,
                    smsc = %cfg.smsc,
                    retry_in_secs = delay.as_secs(),
                    "the SMSC rejected the bind credentials: check system_id and password; retrying slowly, each refusal waiting longer (many SMSCs lock an account after failed binds)"
                );
                let _ = state.send(LinkState::AuthRejected(status_text(status)));
                stats.bind_refusals.fetch_add(1, Ordering::Relaxed);
                rotation.failed();
                delay
            }
            SessionEnd::Closed { reason, bound } => {
                if bound {
                    warn!(%reason, smsc = %cfg.smsc, "SMPP session ended");
                } else {
                    warn!(%reason, smsc = %cfg.smsc, "no SMPP session: the connection or the bind failed");
                    stats.bind_no_session.fetch_add(1, Ordering::Relaxed);
                }
                let _ = state.send(LinkState::Down(reason));
                if bound {
                    backoff.bound();
                    if bound_for.is_some_and(|d| d >= stable_after) {
                        backoff.reset();
                    }
                    rotation.was_bound();
                    backoff.next_delay(rand::random::<f64>())
                } else if rotation.failed() {
                    // Another address of this round is still untried: at once (almost).
                    base.reconnect_min
                } else {
                    backoff.next_delay(rand::random::<f64>())
                }
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        info!(delay_ms = delay.as_millis() as u64, smsc = %rotation.current(), "reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    // Fail whatever is still queued so callers return rows to the outbox.
    requests.close();
    while let Ok(r) = requests.try_recv() {
        r.refuse(LinkError::Closed);
    }
    let _ = state.send(LinkState::Stopped);
}

/// Which SMSC address the link tries next: `smsc`, then each fallback in turn while they fail;
/// after a bound session ends, the address it was bound to again.
#[derive(Debug)]
struct Rotation {
    addresses: Vec<String>,
    current: usize,
    /// Addresses that failed since the last bound session or the start of this round.
    failed_in_round: usize,
}

impl Rotation {
    fn new(cfg: &LinkConfig) -> Self {
        let mut addresses = vec![cfg.smsc.clone()];
        addresses.extend(cfg.fallback_smsc.iter().cloned());
        Self {
            addresses,
            current: 0,
            failed_in_round: 0,
        }
    }

    fn current(&self) -> &str {
        &self.addresses[self.current]
    }

    /// The current address could not be reached or bound: move to the next. Returns whether
    /// an address of this round is still untried (then there is no reason to wait long).
    fn failed(&mut self) -> bool {
        self.current = (self.current + 1) % self.addresses.len();
        self.failed_in_round += 1;
        if self.failed_in_round >= self.addresses.len() {
            self.failed_in_round = 0;
            return false;
        }
        true
    }

    /// A session on the current address was bound: it is tried first again.
    fn was_bound(&mut self) {
        self.failed_in_round = 0;
    }

    /// The primary address (`smsc`).
    fn primary(&self) -> &str {
        &self.addresses[0]
    }

    /// Whether the current address is a fallback.
    fn on_fallback(&self) -> bool {
        self.current != 0
    }

    /// Try the primary next, as at the start (a failure there moves on to the fallbacks).
    fn back_to_primary(&mut self) {
        self.back_to(0);
    }

    /// Try address `index` next (a fallback the link left for a primary that then refused).
    fn back_to(&mut self, index: usize) {
        self.current = index.min(self.addresses.len() - 1);
        self.failed_in_round = 0;
    }
}

/// A session bound at least this long (or `reconnect_max`, if shorter) resets the reconnect
/// back-off.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// The longest wait between looks for the primary after returns it refused (unless the
/// configured interval is longer).
const PROBE_MAX: Duration = Duration::from_secs(3600);

/// Aborts the primary probe when the session it watches ends.
struct ProbeGuard(tokio::task::JoinHandle<()>);

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every `every`, try a connection to `primary` (with `tls`, its TLS handshake too); the
/// first that succeeds cancels `session` (the fallback session, which then ends gracefully)
/// and returns. Only a connection is tried, not a bind: an SMSC that allows one bind per
/// account would refuse a second, and a bind refused at the primary sends the link back to the
/// fallback at once. Over TLS a bare TCP connection said nothing of a primary whose
/// certificate the gateway cannot take (expired, another CA after a renewal): the link left a
/// working fallback for it at every look.
async fn probe_primary(
    primary: String,
    every: Duration,
    timeout: Duration,
    tls: Option<transport::TlsClient>,
    session: CancellationToken,
    state: Arc<watch::Sender<LinkState>>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = session.cancelled() => return,
        }
        match transport::connect(&primary, tls.as_ref(), timeout).await {
            Ok(mut conn) => {
                // Over TLS: close_notify, as a session's end (the SMSC logs no truncation).
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.shutdown()).await;
                drop(conn);
                info!(smsc = %primary, "the primary SMSC accepts connections again");
                // Not bound for new work while the fallback session finishes what it has.
                let _ = state.send(LinkState::Down("returning to the primary SMSC".into()));
                session.cancel();
                return;
            }
            Err(e) => {
                debug!(smsc = %primary, error = %e, "the primary SMSC is still not reachable")
            }
        }
    }
}

fn worse(a: SessionEnd, b: SessionEnd) -> SessionEnd {
    match (a, b) {
        (e @ SessionEnd::AuthRejected(_), _) | (_, e @ SessionEnd::AuthRejected(_)) => e,
        (e @ SessionEnd::Closed { .. }, _) | (_, e @ SessionEnd::Closed { .. }) => e,
        (a, _) => a,
    }
}
