//! One SMPP connection as seen by the SMSC: an actor (`run`) with one `select!` over the socket,
//! the control channel, the deliver_sm queue (only while the outbound window has room), the next
//! timer (delayed responses, deliver_sm response deadlines) and shutdown.
//!
//! Bind authentication and states follow SMPP 3.4 §2.2-2.3 and §4.1 (`ESME_RINVSYSID`,
//! `ESME_RINVPASWD`, `ESME_RALYBND`, `ESME_RINVBNDSTS`). A bad header (an unknown command_id,
//! a command_length a header-only command cannot have) gets `generic_nack` (§4.3); a known
//! command whose body is broken gets its own response with the broken field's status
//! ([`crate::diagnose`]) or `ESME_RINVCMDLEN`; the session continues either way. Handlers are
//! synchronous: they queue responses in `out`, written and flushed once per batch of frames.
//!
//! Operations taken from a bound ESME: submit_sm, submit_multi, data_sm, query_sm, cancel_sm,
//! replace_sm (the message logic is [`crate::shared::Shared`]'s), enquire_link and unbind; any
//! other known operation gets ESME_RINVCMDID (ESME_RINVBNDSTS before a bind).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, CancelSm, DataSm, DataSmResp,
    QuerySmResp, ReplaceSm, SubmitMulti, SubmitMultiResp, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::{TlvTag, TlvValue};
use rusmpp::types::{COctetString, EmptyOrFullCOctetString};
use rusmpp::values::{DestAddress, InterfaceVersion, MessageState, Npi, Ton, UnsuccessSme};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::framing::{
    decode_pdu, encode_command, error_response, find_tlv, generic_nack, Frame, FramingError,
    SmppCodec,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::tls::Io;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_util::codec::Framed;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::pdus;
use crate::recorder::{BindFields, DeliveryState, StoredMessage, SubmitOptions};

/// The [`BindFields`] of a bind PDU (the three bind PDUs share their fields).
macro_rules! bind_fields {
    ($b:expr) => {
        BindFields {
            system_type: $b.system_type.as_str().to_string(),
            interface_version: u8::from($b.interface_version),
            addr_ton: u8::from($b.addr_ton),
            addr_npi: u8::from($b.addr_npi),
            address_range: $b.address_range.as_str().to_string(),
        }
    };
}
use crate::shared::{
    same_address, status, BindMode, ConnCounters, ConnEntry, Control, DeliveryJob, MtDest, MtInput,
    ReplaceInput, Shared,
};
use crate::util::{now_ms, smpp_time};

/// A response waiting for its (fault-injected) delay.
struct Delayed {
    at: Instant,
    order: u64,
    cmd: Command,
    /// Receipts (and their delays) that go out once `cmd`, their submit's response, has.
    then: Vec<(DeliveryJob, u64)>,
}

impl PartialEq for Delayed {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delayed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// What a simulator-originated request in flight was.
enum Pending {
    Deliver(DeliveryJob),
    EnquireLink,
    Unbind,
    Malformed,
}

struct Inflight {
    what: Pending,
    deadline: Instant,
}

// Responses move straight into the codec; boxing them would add an allocation per PDU.
#[allow(clippy::large_enum_variant)]
enum Out {
    Cmd(Command),
    Raw(Vec<u8>),
}

struct Session {
    id: u64,
    shared: Arc<Shared>,
    bound: Option<(String, BindMode)>,
    delayed: BinaryHeap<Reverse<Delayed>>,
    order: u64,
    inflight: HashMap<u32, Inflight>,
    delivers: usize,
    next_seq: u32,
    pdus: u64,
    out: Vec<Out>,
    close: bool,
    /// This side sent an unbind: no more deliveries, no new requests accepted, and the
    /// connection closes at the `unbind_resp` or when it does not come in time.
    unbinding: bool,
    /// [`Control::StopReading`]: nothing more is read from the socket.
    reading_stopped: bool,
    /// The connection is cut by a fault (`Control::Drop`, `drop_after_pdus`): closed as a
    /// crash or a network cut closes it, without a TLS close_notify.
    abrupt: bool,
    /// Why the connection is closing (the first reason given), for the log line that says
    /// it closed.
    close_reason: Option<String>,
    /// The system_id of the last bind refused on this connection, for that log line when no
    /// bind was taken.
    refused_id: Option<String>,
    /// The stream could not be framed: a generic_nack was sent, the connection closes.
    unframeable: bool,
    /// The ESME's unbind (its sequence number), answered once every response still delayed
    /// has been written: a request accepted before the unbind gets its response first.
    peer_unbind: Option<u32>,
    /// The simulator's enquire_links sent since the ESME last answered one.
    links_unanswered: u32,
    /// The SME addresses over 20 characters of the submit_multi being handled, by their place
    /// among its destinations ([`Session::readable_multi`]).
    long_dests: HashMap<usize, String>,
    counters: Arc<ConnCounters>,
}

/// Serve one accepted connection until it closes or the simulator shuts down.
pub async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let socket: Box<dyn Io> = match &shared.cfg.tls {
        None => Box::new(socket),
        // A handshake in progress ends with the simulator, as a session does: it held the
        // connection open for up to its 10 s limit after a shutdown.
        Some(tls) => tokio::select! {
            r = tls.accept(socket) => match r {
                Ok(s) => s,
                Err(e) => {
                    warn!(%peer, "{e}: connection closed");
                    return;
                }
            },
            _ = shared.shutdown.cancelled() => return,
        },
    };
    let id = shared.conn_id();
    let cap = shared.cfg.deliver_window.clamp(1, 64);
    let (deliver_tx, deliver_rx) = mpsc::channel(cap);
    let (ctrl_tx, ctrl_rx) = mpsc::channel(8);
    let counters = Arc::new(ConnCounters::default());
    shared
        .conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id,
            ConnEntry {
                peer: peer.to_string(),
                connected_at_ms: now_ms(),
                bound: None,
                bind: None,
                deliver_tx,
                ctrl_tx,
                counters: Arc::clone(&counters),
                unbinding: false,
                address_range: None,
            },
        );
    shared.bump();
    let mut s = Session {
        id,
        shared: Arc::clone(&shared),
        bound: None,
        delayed: BinaryHeap::new(),
        order: 0,
        inflight: HashMap::new(),
        delivers: 0,
        next_seq: 1,
        pdus: 0,
        out: Vec::new(),
        close: false,
        close_reason: None,
        refused_id: None,
        unbinding: false,
        reading_stopped: false,
        unframeable: false,
        abrupt: false,
        peer_unbind: None,
        long_dests: HashMap::new(),
        links_unanswered: 0,
        counters,
    };
    // With a hex log, the PDUs read are logged as they came, not as re-encoded.
    let codec = if shared.hex_logging() {
        SmppCodec::new().keeping_raw()
    } else {
        SmppCodec::new()
    };
    let framed = Framed::new(socket, codec);
    let span = info_span!("session", conn = id, %peer);
    let deliver_rx = s.serve(framed, deliver_rx, ctrl_rx).instrument(span).await;
    s.finish(deliver_rx);
}

async fn tick(i: &mut Option<Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The [`MtInput`] of a `submit_sm` or `submit_multi` (`$sm`, whose fields other than the
/// destinations have the same names in both rusmpp types), as `$command` with sequence number
/// `$seq` to the destination `($dest, $ton, $npi)` (empty for a submit_multi).
macro_rules! mt_input {
    ($sm:expr, $command:expr, $seq:expr, ($dest:expr, $ton:expr, $npi:expr)) => {{
        let sm = $sm;
        let tlvs = sm.tlvs();
        MtInput {
            command: $command,
            sequence_number: $seq,
            service_type: sm.service_type.value().as_str().to_string(),
            source: sm.source_addr.as_str().to_string(),
            source_ton: u8::from(sm.source_addr_ton),
            source_npi: u8::from(sm.source_addr_npi),
            dest: $dest,
            dest_ton: $ton,
            dest_npi: $npi,
            esm_class: u8::from(sm.esm_class),
            data_coding: u8::from(sm.data_coding),
            registered_delivery: u8::from(sm.registered_delivery),
            short_message: sm.short_message().as_ref().to_vec(),
            message_payload: payload(tlvs),
            sar: sar(tlvs),
            ussd_service_op: ussd_op(tlvs),
            its_session_info: its(tlvs),
            dest_port: dest_port(tlvs),
            options: SubmitOptions {
                protocol_id: sm.protocol_id,
                priority_flag: u8::from(sm.priority_flag),
                replace_if_present_flag: u8::from(sm.replace_if_present_flag),
                schedule_delivery_time: sm.schedule_delivery_time.to_string(),
                validity_period: sm.validity_period.to_string(),
                sm_default_msg_id: sm.sm_default_msg_id,
                ..SubmitOptions::default()
            },
        }
    }};
}

impl Session {
    async fn serve(
        &mut self,
        mut framed: Framed<Box<dyn Io>, SmppCodec>,
        mut deliver_rx: mpsc::Receiver<DeliveryJob>,
        mut ctrl_rx: mpsc::Receiver<Control>,
    ) -> mpsc::Receiver<DeliveryJob> {
        info!("connection accepted");
        let shared = Arc::clone(&self.shared);
        let mut enquire = shared.cfg.enquire_link_interval.map(|d| {
            let d = d.max(Duration::from_millis(10));
            let mut i = tokio::time::interval_at(Instant::now() + d, d);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        // The interval counts from the bind: ticks while unbound are not sent in a burst.
        let mut was_bound = false;
        // A connection that does not bind within this time is closed.
        let bind_deadline = shared.cfg.bind_timeout.map(|t| Instant::now() + t);
        loop {
            if self.bound.is_some() != was_bound {
                was_bound = self.bound.is_some();
                if let Some(i) = enquire.as_mut() {
                    i.reset();
                }
            }
            let timer = self.next_timer();
            let can_deliver = self.bound.as_ref().is_some_and(|(_, m)| m.can_receive())
                && !self.unbinding
                && self.peer_unbind.is_none()
                && self.delivers < shared.cfg.deliver_window;
            tokio::select! {
                _ = shared.shutdown.cancelled() => {
                    self.close_for("the simulator is stopping");
                    break;
                }
                frame = framed.next(), if !self.reading_stopped => match frame {
                    None => {
                        self.close_for("closed by the ESME");
                        break;
                    }
                    Some(Err(e)) => self.on_framing_error(&e, framed.read_buffer()),
                    Some(Ok(f)) => {
                        self.on_frame(f, framed.codec_mut().take_raw());
                        let mut n = 0;
                        while n < 256 && !self.close && !self.reading_stopped {
                            match framed.next().now_or_never() {
                                Some(Some(Ok(f))) => {
                                    self.on_frame(f, framed.codec_mut().take_raw())
                                }
                                Some(Some(Err(e))) => {
                                    self.on_framing_error(&e, framed.read_buffer());
                                }
                                Some(None) => self.close_for("closed by the ESME"),
                                None => break,
                            }
                            n += 1;
                        }
                    }
                },
                Some(c) = ctrl_rx.recv() => self.on_control(c),
                Some(job) = deliver_rx.recv(), if can_deliver => self.send_deliver(job),
                _ = tokio::time::sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => {
                    self.on_timer();
                }
                _ = tick(&mut enquire), if self.bound.is_some() => {
                    let limit = shared.cfg.enquire_link_misses;
                    if limit > 0 && self.links_unanswered >= limit {
                        self.close_for(format!(
                            "{} enquire_link unanswered (--enquire-link-misses)",
                            self.links_unanswered
                        ));
                    } else {
                        let seq = self.seq();
                        self.track(seq, Pending::EnquireLink);
                        self.links_unanswered += 1;
                        self.out.push(Out::Cmd(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink)));
                    }
                }
                _ = tokio::time::sleep_until(bind_deadline.unwrap_or_else(Instant::now)),
                    if self.bound.is_none() && bind_deadline.is_some() => {
                    self.close_for(format!(
                        "no bind within {} s (--bind-timeout-secs)",
                        shared.cfg.bind_timeout.unwrap_or_default().as_secs()
                    ));
                }
            }
            if self.write_out(&mut framed).await.is_err() {
                self.close_for("write failed: the connection is gone");
                break;
            }
            self.counters
                .outstanding
                .store(self.delayed.len(), Ordering::Relaxed);
            self.counters
                .inflight
                .store(self.delivers, Ordering::Relaxed);
            if self.close {
                break;
            }
        }
        let _ = SinkExt::<Command>::flush(&mut framed).await;
        let system_id = match (&self.bound, &self.refused_id) {
            (Some((s, _)), _) => s.clone(),
            (None, Some(tried)) => format!("(not bound; refused {tried})"),
            (None, None) => "(not bound)".to_string(),
        };
        info!(
            system_id,
            reason = self.close_reason.as_deref().unwrap_or("closed"),
            "connection closed"
        );
        if self.unframeable {
            // The generic_nack must reach the ESME: closing with its unread bytes still in
            // our receive buffer would reset the connection and could discard it. Say we are
            // done (FIN), then read and drop what still comes, briefly.
            let sock = framed.get_mut();
            let _ = sock.shutdown().await;
            let mut sink = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while matches!(
                    tokio::io::AsyncReadExt::read(sock, &mut sink).await,
                    Ok(n) if n > 0
                ) {}
            })
            .await;
        } else if !self.abrupt {
            // An orderly end (an unbind, a timeout, the simulator's shutdown, the ESME's own
            // close): over TLS a close_notify before the FIN, as a TLS SMSC ends a session;
            // without it a TLS ESME reads a truncated connection. Plain TCP: the FIN the drop
            // sent anyway. Bounded: an ESME that reads nothing does not hold the session.
            let _ = tokio::time::timeout(Duration::from_secs(1), framed.get_mut().shutdown()).await;
        }
        deliver_rx
    }

    /// The stream cannot be framed any more (a command_length below 16 or past the largest
    /// PDU taken): a generic_nack with ESME_RINVCMDLEN (§4.3) carrying the PDU's sequence
    /// number when its header came whole (else 0), then the connection closes: the SMSC
    /// cannot find the next PDU's start.
    fn on_framing_error(&mut self, e: &FramingError, buffered: &[u8]) {
        self.close_for(format!("framing error: {e}"));
        if matches!(e, FramingError::Io(_)) {
            return;
        }
        let seq = buffered
            .get(12..16)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        self.out
            .push(Out::Cmd(generic_nack(CommandStatus::EsmeRinvcmdlen, seq)));
        self.unframeable = true;
    }

    /// Deregister, and give every undelivered job back to the dispatcher.
    fn finish(&mut self, mut deliver_rx: mpsc::Receiver<DeliveryJob>) {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        deliver_rx.close();
        let mut jobs: Vec<DeliveryJob> = Vec::new();
        while let Ok(j) = deliver_rx.try_recv() {
            jobs.push(j);
        }
        for (_, f) in self.inflight.drain() {
            if let Pending::Deliver(j) = f.what {
                jobs.push(j);
            }
        }
        for j in jobs {
            self.requeue(j, "disconnected");
        }
        // Responses never written (the connection went first): their messages were accepted
        // all the same, so their receipts still come.
        for Reverse(d) in std::mem::take(&mut self.delayed).into_vec() {
            for (job, delay) in d.then {
                self.shared.dispatch(job, delay);
            }
        }
        self.shared.bump();
    }

    fn requeue(&self, job: DeliveryJob, why: &str) {
        self.requeue_after(job, why, 0);
    }

    /// Send `job` again after `delay_ms` (any bind that can receive), unless it has had its
    /// attempts: then it is recorded as failed, saying `why`.
    fn requeue_after(&self, job: DeliveryJob, why: &str, delay_ms: u64) {
        if job.attempts >= self.shared.cfg.deliver_attempts {
            self.shared.set_delivery_state(
                job.record_id,
                DeliveryState::Failed(format!("{why} after {} attempts", job.attempts)),
                None,
            );
        } else {
            self.shared
                .set_delivery_state(job.record_id, DeliveryState::Queued, None);
            self.shared.dispatch(job, delay_ms);
        }
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn track(&mut self, seq: u32, what: Pending) {
        let deadline = Instant::now() + self.shared.cfg.deliver_timeout;
        if matches!(what, Pending::Deliver(_)) {
            self.delivers += 1;
        }
        self.inflight.insert(seq, Inflight { what, deadline });
    }

    fn next_timer(&self) -> Option<Instant> {
        let d = self.delayed.peek().map(|Reverse(d)| d.at);
        let f = self.inflight.values().map(|f| f.deadline).min();
        match (d, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        while self.delayed.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(d)) = self.delayed.pop() {
                self.out.push(Out::Cmd(d.cmd));
                for (job, delay) in d.then {
                    self.shared.dispatch(job, delay);
                }
            }
        }
        if self.delayed.is_empty() {
            if let Some(seq) = self.peer_unbind.take() {
                self.answer_unbind(seq);
            }
        }
        let expired: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            if let Some(f) = self.inflight.remove(&seq) {
                match f.what {
                    Pending::Deliver(job) => {
                        self.delivers -= 1;
                        self.requeue(job, "response timeout");
                    }
                    // No unbind_resp in time: the SMSC closes anyway.
                    Pending::Unbind => self.close_for("unbound by the simulator (no unbind_resp)"),
                    Pending::EnquireLink | Pending::Malformed => {}
                }
            }
        }
    }

    async fn write_out(
        &mut self,
        framed: &mut Framed<Box<dyn Io>, SmppCodec>,
    ) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let log = self.shared.hex_logging();
        for o in std::mem::take(&mut self.out) {
            match o {
                Out::Cmd(c) => {
                    self.shared.tx.bump(u32::from(c.id()));
                    if log {
                        self.shared.log_hex(self.id, "out", &encode_command(&c));
                    }
                    framed.feed(c).await?;
                }
                Out::Raw(bytes) => {
                    // Counted in /stats' `sent` by its header's command_id, as every PDU
                    // written is: the ESME's answers to it are counted in `received`.
                    if let Some(id) = bytes.get(4..8) {
                        self.shared
                            .tx
                            .bump(u32::from_be_bytes([id[0], id[1], id[2], id[3]]));
                    }
                    if log {
                        self.shared.log_hex(self.id, "out", &bytes);
                    }
                    SinkExt::<Command>::flush(framed).await?;
                    framed.get_mut().write_all(&bytes).await?;
                }
            }
        }
        SinkExt::<Command>::flush(framed).await
    }

    /// Change this connection's entry in the simulator's table (what `/binds` shows and
    /// routing reads).
    fn update_entry(&self, f: impl FnOnce(&mut ConnEntry)) {
        if let Some(e) = self
            .shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&self.id)
        {
            f(e);
        }
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Drop => {
                self.close_for("dropped by a fault (drop_now or outage)");
                self.abrupt = true;
            }
            Control::StopReading => self.reading_stopped = true,
            // Nothing to unbind before a bind (or once it is going).
            Control::Unbind if self.bound.is_none() || self.unbinding => {}
            Control::Unbind => {
                self.unbinding = true;
                self.update_entry(|e| e.unbinding = true);
                let seq = self.seq();
                self.track(seq, Pending::Unbind);
                self.out.push(Out::Cmd(Command::new(
                    CommandStatus::EsmeRok,
                    seq,
                    Pdu::Unbind,
                )));
            }
            Control::Malformed(kind) => {
                let seq = self.seq();
                self.track(seq, Pending::Malformed);
                self.out.push(Out::Raw(pdus::malformed(kind, seq)));
            }
        }
    }

    fn send_deliver(&mut self, mut job: DeliveryJob) {
        if job.generation != self.shared.generation.load(Ordering::Relaxed) {
            return;
        }
        job.attempts += 1;
        let seq = self.seq();
        let cmd = Command::new(CommandStatus::EsmeRok, seq, (*job.pdu).clone());
        self.shared
            .set_delivery_state(job.record_id, DeliveryState::Sent, Some(self.id));
        self.track(seq, Pending::Deliver(job));
        self.out.push(Out::Cmd(cmd));
    }

    /// One PDU read; `raw`, its bytes as they came (kept only for the hex log).
    fn on_frame(&mut self, f: Frame, raw: Option<bytes::Bytes>) {
        self.pdus += 1;
        self.counters.pdus.store(self.pdus, Ordering::Relaxed);
        match f {
            Frame::Invalid(inv) => {
                self.shared.rx.bump(inv.command_id);
                self.shared.log_hex(self.id, "in", &inv.raw);
                debug!(error = %inv.error, seq = inv.sequence_number, "invalid PDU");
                let id = CommandId::from(inv.command_id);
                if !inv.is_request() {
                    self.on_response(inv.sequence_number, inv.command_status);
                } else if let Some(cmd) = self.readable_multi(&inv.raw) {
                    // A submit_multi with SME addresses over 20 characters: those alone are
                    // refused, in unsuccess_sme, and the others taken.
                    self.on_command(cmd);
                    self.long_dests.clear();
                } else if let Some(st) = crate::diagnose::diagnose_invalid(&inv.raw) {
                    let c = error_response(id, CommandStatus::from(st), inv.sequence_number);
                    self.out.push(Out::Cmd(c));
                } else if matches!(id, CommandId::Other(_)) || header_only(id) {
                    // A bad header (§4.3): an unknown command_id, or a command_length that
                    // cannot be this command's.
                    self.out.push(Out::Cmd(inv.generic_nack()));
                } else {
                    // A known command whose body does not fit its command_length: its own
                    // response (a generic_nack when it has none) with ESME_RINVCMDLEN.
                    let st = CommandStatus::EsmeRinvcmdlen;
                    self.out
                        .push(Out::Cmd(error_response(id, st, inv.sequence_number)));
                }
            }
            Frame::Pdu(cmd) => {
                self.shared.rx.bump(u32::from(cmd.id()));
                if let Some(raw) = raw {
                    self.shared.log_hex(self.id, "in", &raw);
                }
                self.on_command(cmd);
            }
        }
        let limit = self
            .shared
            .faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .drop_after_pdus;
        if limit.is_some_and(|n| self.pdus >= n) {
            self.close_for(format!("drop_after_pdus fault: {} PDUs read", self.pdus));
            self.abrupt = true;
        }
    }

    /// The submit_multi `raw` made readable by leaving its SME addresses over 20 characters
    /// empty ([`crate::diagnose::long_multi_addresses`]); those addresses, by their place
    /// among the destinations, are kept in `long_dests` for [`Self::on_submit_multi`] to
    /// refuse. `None` when it is not such a PDU or still does not decode.
    fn readable_multi(&mut self, raw: &[u8]) -> Option<Command> {
        let (fixed, long) = crate::diagnose::long_multi_addresses(raw)?;
        match decode_pdu(&fixed) {
            Frame::Pdu(cmd) if matches!(cmd.pdu(), Some(Pdu::SubmitMulti(_))) => {
                self.long_dests = long.into_iter().collect();
                Some(cmd)
            }
            _ => None,
        }
    }

    fn on_response(&mut self, seq: u32, status: u32) {
        let Some(f) = self.inflight.remove(&seq) else {
            return;
        };
        match f.what {
            Pending::Deliver(job) if is_temporary_deliver_status(status) => {
                self.delivers -= 1;
                let delay = self.shared.cfg.deliver_retry_delay.as_millis() as u64;
                self.requeue_after(
                    job,
                    &format!("status {}", crate::util::status_text(status)),
                    delay,
                );
            }
            Pending::Deliver(job) => {
                self.delivers -= 1;
                self.shared.set_delivery_state(
                    job.record_id,
                    DeliveryState::Answered(status),
                    Some(self.id),
                );
            }
            Pending::Unbind => self.close_for("unbound by the simulator"),
            Pending::EnquireLink | Pending::Malformed => {}
        }
    }

    fn reply(&mut self, cmd: Command) {
        self.out.push(Out::Cmd(cmd));
    }

    /// Queue a response to submit/data/query/cancel, honouring the response-delay fault.
    fn reply_delayed(&mut self, cmd: Command) {
        self.reply_delayed_then(cmd, Vec::new());
    }

    /// [`Self::reply_delayed`] for a submit's response, with the receipts that follow it: they
    /// are queued once the response is written, so a response delay does not let a receipt
    /// overtake its response (that is the `receipt_before_resp` fault's job alone), and a
    /// receipt's own delay counts from the response.
    fn reply_delayed_then(&mut self, cmd: Command, then: Vec<(DeliveryJob, u64)>) {
        let delay = self
            .shared
            .faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .response_delay;
        match delay {
            Some(d) => {
                let ms = self.shared.with_rng(|r| d.pick(r));
                self.order += 1;
                self.delayed.push(Reverse(Delayed {
                    at: Instant::now() + Duration::from_millis(ms),
                    order: self.order,
                    cmd,
                    then,
                }));
            }
            None => {
                self.reply(cmd);
                for (job, delay) in then {
                    self.shared.dispatch(job, delay);
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let seq = cmd.sequence_number();
        let id = cmd.id();
        if id.is_response() {
            if id == CommandId::EnquireLinkResp {
                self.links_unanswered = 0;
            }
            self.on_response(seq, u32::from(cmd.status()));
            return;
        }
        let mode = self.bound.as_ref().map(|(_, m)| *m);
        match cmd.pdu() {
            Some(Pdu::BindTransmitter(b)) => self.on_bind(
                id,
                seq,
                BindMode::Transmitter,
                b.system_id.as_str(),
                b.password.as_str(),
                bind_fields!(b),
            ),
            Some(Pdu::BindReceiver(b)) => self.on_bind(
                id,
                seq,
                BindMode::Receiver,
                b.system_id.as_str(),
                b.password.as_str(),
                bind_fields!(b),
            ),
            Some(Pdu::BindTransceiver(b)) => self.on_bind(
                id,
                seq,
                BindMode::Transceiver,
                b.system_id.as_str(),
                b.password.as_str(),
                bind_fields!(b),
            ),
            Some(Pdu::EnquireLink) => {
                let ignore = self
                    .shared
                    .faults
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .ignore_enquire_link;
                if !ignore {
                    self.reply(Command::new(
                        CommandStatus::EsmeRok,
                        seq,
                        Pdu::EnquireLinkResp,
                    ));
                }
            }
            // Before a bind there is nothing to unbind (SMPP 3.4 §4.2: unbind is a bound
            // state's operation): refused, the connection stays open for a bind.
            Some(Pdu::Unbind) if self.bound.is_none() => {
                self.reply(Command::new(
                    CommandStatus::EsmeRinvbndsts,
                    seq,
                    Pdu::UnbindResp,
                ));
            }
            // Responses still held by the response-delay fault go first (their requests were
            // accepted); the unbind_resp follows the last of them.
            Some(Pdu::Unbind) if !self.delayed.is_empty() => self.peer_unbind = Some(seq),
            Some(Pdu::Unbind) => self.answer_unbind(seq),
            Some(Pdu::Other { .. }) => {
                self.reply(generic_nack(CommandStatus::EsmeRinvcmdid, seq));
            }
            None if matches!(id, CommandId::Other(_)) => {
                self.reply(generic_nack(CommandStatus::EsmeRinvcmdid, seq));
            }
            // A known command with no body at all (a 16-byte submit_sm): the body is missing,
            // not the command unknown.
            None => {
                self.reply(error_response(id, CommandStatus::EsmeRinvcmdlen, seq));
            }
            Some(
                Pdu::SubmitSm(_)
                | Pdu::SubmitMulti(_)
                | Pdu::DataSm(_)
                | Pdu::QuerySm(_)
                | Pdu::CancelSm(_)
                | Pdu::ReplaceSm(_),
            ) => {
                let open = !self.unbinding && self.peer_unbind.is_none();
                let Some(mode) = mode.filter(|m| m.can_transmit() && open) else {
                    self.reply(error_response(id, CommandStatus::EsmeRinvbndsts, seq));
                    return;
                };
                let _ = mode;
                if self.delayed.len() >= self.shared.cfg.window {
                    let st = CommandStatus::from(self.shared.cfg.window_status);
                    self.reply(error_response(id, st, seq));
                    return;
                }
                match cmd.pdu() {
                    Some(Pdu::SubmitSm(sm)) => self.on_submit(seq, sm),
                    Some(Pdu::SubmitMulti(sm)) => self.on_submit_multi(seq, sm),
                    Some(Pdu::DataSm(d)) => self.on_data_sm(seq, d),
                    Some(Pdu::ReplaceSm(r)) => self.on_replace(seq, r),
                    Some(Pdu::QuerySm(q)) => {
                        let r = self.on_query(q.message_id.as_str(), q.source_addr.as_str());
                        let c = match r {
                            Ok(resp) => Command::new(CommandStatus::EsmeRok, seq, resp),
                            Err(s) => error_response(id, CommandStatus::from(s), seq),
                        };
                        self.reply_delayed(c);
                    }
                    Some(Pdu::CancelSm(_)) if !self.shared.cfg.cancel_sm => {
                        // `--no-cancel`: an SMSC that does not implement the operation.
                        self.reply_delayed(generic_nack(CommandStatus::EsmeRinvcmdid, seq));
                    }
                    Some(Pdu::CancelSm(c)) => {
                        // The refuse_cancels fault: refused, nothing cancelled.
                        let refused = self
                            .shared
                            .faults
                            .read()
                            .unwrap_or_else(|e| e.into_inner())
                            .refuse_cancels;
                        let st = match refused {
                            Some(st) => {
                                debug!(status = st, "refuse_cancels fault: cancel_sm refused");
                                st
                            }
                            None => self.on_cancel(c),
                        };
                        let c = if st == 0 {
                            Command::new(CommandStatus::EsmeRok, seq, Pdu::CancelSmResp)
                        } else {
                            error_response(id, CommandStatus::from(st), seq)
                        };
                        self.reply_delayed(c);
                    }
                    _ => {}
                }
            }
            Some(_) => {
                // Known operations the simulator does not take from an ESME (broadcast_sm,
                // deliver_sm, outbind, alert_notification...).
                if self.bound.is_none() {
                    self.reply(error_response(id, CommandStatus::EsmeRinvbndsts, seq));
                } else {
                    self.reply(error_response(id, CommandStatus::EsmeRinvcmdid, seq));
                }
            }
        }
    }

    fn on_bind(
        &mut self,
        id: CommandId,
        seq: u32,
        mode: BindMode,
        system_id: &str,
        pw: &str,
        fields: BindFields,
    ) {
        if self.bound.is_some() {
            let why = "this connection is bound already";
            self.refuse_bind(id, seq, system_id, CommandStatus::EsmeRalybnd.into(), why);
            return;
        }
        // The refuse_binds fault: an SMSC refusing every new bind (or one account's),
        // whatever its credentials.
        if let Some(r) = self
            .shared
            .faults()
            .refuse_binds
            .filter(|r| r.refuses(system_id))
        {
            self.refuse_bind(id, seq, system_id, r.status, "the refuse_binds fault");
            return;
        }
        let accounts = &self.shared.cfg.accounts;
        if !accounts.is_empty() {
            match accounts.iter().find(|a| a.system_id == system_id) {
                None => {
                    let why = "no --account has this system_id";
                    self.refuse_bind(id, seq, system_id, CommandStatus::EsmeRinvsysid.into(), why);
                    return;
                }
                Some(a) if a.password != pw => {
                    let why = "wrong password for this --account";
                    self.refuse_bind(id, seq, system_id, CommandStatus::EsmeRinvpaswd.into(), why);
                    return;
                }
                Some(_) => {}
            }
        }
        // A 3.3 (or older) ESME knows no TLVs (SMPP 3.4 §5.3.2.25): its response carries no
        // sc_interface_version.
        let v = (fields.interface_version >= 0x34).then_some(InterfaceVersion::Smpp3_4);
        self.bound = Some((system_id.to_string(), mode));
        let range = fields.address_range.clone();
        self.update_entry(|e| {
            e.bound = Some((system_id.to_string(), mode));
            e.address_range = crate::shared::address_range_regex(&fields.address_range);
            e.bind = Some(fields);
        });
        self.shared.bump();
        let sys = COctetString::from_string(self.shared.cfg.system_id.clone())
            .unwrap_or_else(|_| COctetString::empty());
        let pdu: Pdu = match mode {
            BindMode::Transmitter => BindTransmitterResp::builder()
                .system_id(sys)
                .sc_interface_version(v)
                .build()
                .into(),
            BindMode::Receiver => BindReceiverResp::builder()
                .system_id(sys)
                .sc_interface_version(v)
                .build()
                .into(),
            BindMode::Transceiver => BindTransceiverResp::builder()
                .system_id(sys)
                .sc_interface_version(v)
                .build()
                .into(),
        };
        info!(
            system_id,
            mode = mode.name(),
            address_range = range.as_str(),
            "bound"
        );
        self.reply(Command::new(CommandStatus::EsmeRok, seq, pdu));
    }

    /// Answer the ESME's unbind and close.
    fn answer_unbind(&mut self, seq: u32) {
        self.reply(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp));
        self.close_for("unbind from the ESME");
    }

    /// Close the connection after this turn, for `reason` (logged when it closes; the first
    /// reason given is kept).
    fn close_for(&mut self, reason: impl Into<String>) {
        self.close = true;
        if self.close_reason.is_none() {
            self.close_reason = Some(reason.into());
        }
    }

    /// Answer a bind with `status` (not 0), and log why.
    fn refuse_bind(&mut self, id: CommandId, seq: u32, system_id: &str, status: u32, why: &str) {
        info!(
            system_id,
            status = %crate::util::status_text(status),
            "bind refused: {why}"
        );
        self.refused_id = Some(system_id.to_string());
        self.reply(error_response(id, CommandStatus::from(status), seq));
    }

    fn system_id(&self) -> String {
        self.bound
            .as_ref()
            .map(|(s, _)| s.clone())
            .unwrap_or_default()
    }

    fn on_submit(&mut self, seq: u32, sm: &SubmitSm) {
        let input = mt_input!(
            sm,
            "submit_sm",
            seq,
            (
                sm.destination_addr.as_str().to_string(),
                u8::from(sm.dest_addr_ton),
                u8::from(sm.dest_addr_npi)
            )
        );
        let (status, message_id, then) = self.accept(input);
        let c = if status == 0 {
            let id =
                COctetString::from_string(message_id).unwrap_or_else(|_| COctetString::empty());
            Command::new(
                CommandStatus::EsmeRok,
                seq,
                SubmitSmResp::builder().message_id(id).build(),
            )
        } else {
            error_response(CommandId::SubmitSm, CommandStatus::from(status), seq)
        };
        self.reply_delayed_then(c, then);
    }

    /// submit_multi (SMPP 3.4 §4.5): one message id for the destinations taken; those not
    /// taken (refused as a submit_sm to them would be, or a distribution list name) are the
    /// response's unsuccess_sme ([`Shared::accept_multi`]).
    fn on_submit_multi(&mut self, seq: u32, sm: &SubmitMulti) {
        // The destinations are the submit_multi's own list, taken one by one.
        let input = mt_input!(sm, "submit_multi", seq, (String::new(), 0, 0));
        let long = std::mem::take(&mut self.long_dests);
        let dests = sm
            .dest_address()
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                DestAddress::SmeAddress(a) => MtDest::Sme {
                    ton: u8::from(a.dest_addr_ton),
                    npi: u8::from(a.dest_addr_npi),
                    // An address over 20 characters as sent (read as an empty one).
                    addr: long
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| a.destination_addr.as_str().to_string()),
                },
                DestAddress::DistributionListName(l) => {
                    MtDest::List(l.dl_name.as_str().to_string())
                }
            })
            .collect();
        let sys = self.system_id();
        let out = self.shared.accept_multi(self.id, &sys, input, dests);
        let then = self.route_receipts(out.receipts);
        let c = if out.status == 0 {
            let unsuccess = out
                .unsuccess
                .into_iter()
                .map(|u| {
                    // An address over 20 characters does not fit the field: its first 20.
                    let addr = COctetString::from_string(u.addr.clone())
                        .or_else(|_| COctetString::from_string(u.addr.chars().take(20).collect()))
                        .unwrap_or_else(|_| COctetString::empty());
                    UnsuccessSme::new(
                        Ton::from(u.ton),
                        Npi::from(u.npi),
                        addr,
                        CommandStatus::from(u.status),
                    )
                })
                .collect();
            let id =
                COctetString::from_string(out.message_id).unwrap_or_else(|_| COctetString::empty());
            Command::new(
                CommandStatus::EsmeRok,
                seq,
                SubmitMultiResp::builder()
                    .message_id(id)
                    .unsuccess_sme(unsuccess)
                    .build(),
            )
        } else {
            error_response(CommandId::SubmitMulti, CommandStatus::from(out.status), seq)
        };
        self.reply_delayed_then(c, then);
    }

    /// replace_sm (SMPP 3.4 §4.10), only for the account that submitted the message
    /// ([`Shared::replace_mt`]); its receipts, planned again, follow the response.
    fn on_replace(&mut self, seq: u32, r: &ReplaceSm) {
        let input = ReplaceInput {
            message_id: r.message_id.as_str().to_string(),
            source: r.source_addr.as_str().to_string(),
            schedule_delivery_time: r.schedule_delivery_time.to_string(),
            validity_period: r.validity_period.to_string(),
            registered_delivery: u8::from(r.registered_delivery),
            sm_default_msg_id: r.sm_default_msg_id,
            short_message: r.short_message().as_ref().to_vec(),
            message_payload: r.message_payload().map(|p| p.value.as_ref().to_vec()),
            submit: None,
        };
        let sys = self.system_id();
        let (c, then) = match self.shared.replace_mt(&sys, input) {
            Ok(receipts) => (
                Command::new(CommandStatus::EsmeRok, seq, Pdu::ReplaceSmResp),
                self.route_receipts(receipts),
            ),
            Err(st) => (
                error_response(CommandId::ReplaceSm, CommandStatus::from(st), seq),
                Vec::new(),
            ),
        };
        self.reply_delayed_then(c, then);
    }

    fn on_data_sm(&mut self, seq: u32, d: &DataSm) {
        let tlvs = d.tlvs();
        let input = MtInput {
            command: "data_sm",
            sequence_number: seq,
            service_type: d.service_type.value().as_str().to_string(),
            source: d.source_addr.as_str().to_string(),
            source_ton: u8::from(d.source_addr_ton),
            source_npi: u8::from(d.source_addr_npi),
            dest: d.destination_addr.as_str().to_string(),
            dest_ton: u8::from(d.dest_addr_ton),
            dest_npi: u8::from(d.dest_addr_npi),
            esm_class: u8::from(d.esm_class),
            data_coding: u8::from(d.data_coding),
            registered_delivery: u8::from(d.registered_delivery),
            short_message: Vec::new(),
            message_payload: Some(payload(tlvs).unwrap_or_default()),
            sar: sar(tlvs),
            ussd_service_op: ussd_op(tlvs),
            its_session_info: its(tlvs),
            dest_port: dest_port(tlvs),
            options: SubmitOptions::default(),
        };
        let (status, message_id, then) = self.accept(input);
        let c = if status == 0 {
            let id =
                COctetString::from_string(message_id).unwrap_or_else(|_| COctetString::empty());
            Command::new(
                CommandStatus::EsmeRok,
                seq,
                DataSmResp::builder().message_id(id).build(),
            )
        } else {
            error_response(CommandId::DataSm, CommandStatus::from(status), seq)
        };
        self.reply_delayed_then(c, then);
    }

    /// Accept an MT; its receipt as [`Self::route_receipts`] sends it.
    fn accept(&mut self, input: MtInput) -> (u32, String, Vec<(DeliveryJob, u64)>) {
        let sys = self.system_id();
        let outcome = self.shared.accept_mt(self.id, &sys, input);
        let then = self.route_receipts(outcome.receipt.into_iter().collect());
        (outcome.status, outcome.message_id, then)
    }

    /// Receipts of a submit (or of a replaced message): one is written here, before the
    /// response, under the `receipt_before_resp` fault on a receiver-capable bind; otherwise
    /// it is returned (with its delay, and a duplicate under `duplicate_receipts`) to follow
    /// the response.
    fn route_receipts(&mut self, receipts: Vec<(DeliveryJob, u64)>) -> Vec<(DeliveryJob, u64)> {
        let mut then = Vec::new();
        for (job, delay) in receipts {
            let (before_resp, duplicate) = {
                let f = self.shared.faults.read().unwrap_or_else(|e| e.into_inner());
                (f.receipt_before_resp, f.duplicate_receipts)
            };
            // Written first on this bind only while its deliver window has room; past it,
            // queued at once like a transmitter's, still racing the response.
            let early = delay == 0
                && before_resp
                && self.bound.as_ref().is_some_and(|(_, m)| m.can_receive())
                && self.delivers < self.shared.cfg.deliver_window;
            let copy = duplicate.then(|| self.shared.duplicate_delivery(&job));
            // Under the fault on a transmitter bind, the receipt goes to the account's
            // receiver at once, racing the (possibly delayed) response.
            let at_once = before_resp && delay == 0;
            if early {
                self.send_deliver(job);
            } else if at_once {
                self.shared.dispatch(job, 0);
            } else {
                then.push((job, delay));
            }
            if let Some(copy) = copy {
                if at_once {
                    self.shared.dispatch(copy, 0);
                } else {
                    then.push((copy, delay));
                }
            }
        }
        then
    }

    /// query_sm (SMPP 3.4 §4.8.1): a message is found by its id and source_addr, and only by
    /// the account that submitted it; else ESME_RQUERYFAIL.
    fn on_query(&self, message_id: &str, source: &str) -> Result<QuerySmResp, u32> {
        let now = now_ms();
        let sys = self.system_id();
        let st = self.shared.state();
        let m = st
            .store
            .get(message_id)
            .filter(|m| m.system_id == sys && same_address(&m.source, source))
            .ok_or(status::QUERYFAIL)?;
        let state = m.state_at(now);
        let final_date = if state == 1 {
            EmptyOrFullCOctetString::empty()
        } else {
            EmptyOrFullCOctetString::from_string(smpp_time(m.final_at_ms().min(now)))
                .unwrap_or_else(|_| EmptyOrFullCOctetString::empty())
        };
        Ok(QuerySmResp::builder()
            .message_id(
                COctetString::from_string(message_id.to_string())
                    .unwrap_or_else(|_| COctetString::empty()),
            )
            .final_date(final_date)
            .message_state(MessageState::from(state))
            .error_code(0)
            .build())
    }

    /// cancel_sm (SMPP 3.4 §4.9.1), only for the account that submitted: with a message_id,
    /// that message if its source_addr (and destination_addr, when given) match; with an empty
    /// message_id, every message still pending from source_addr to destination_addr (and of
    /// service_type, when given). ESME_RCANCELFAIL when nothing pending matches.
    fn on_cancel(&self, c: &CancelSm) -> u32 {
        let now = now_ms();
        let sys = self.system_id();
        let source = c.source_addr.as_str();
        let dest = c.destination_addr.as_str();
        let service_type = c.service_type.value().as_str();
        let mut st = self.shared.state();
        let ours = |m: &StoredMessage| {
            m.system_id == sys && m.state_at(now) == 1 && same_address(&m.source, source)
        };
        let message_id = c.message_id.as_str();
        let mut deleted: Vec<String> = Vec::new();
        if !message_id.is_empty() {
            match st.store.get_mut(message_id) {
                Some(m) if ours(m) && (dest.is_empty() || m.is_to(dest)) => {
                    m.cancelled = true;
                    deleted.push(message_id.to_string());
                }
                _ => return status::CANCELFAIL,
            }
        } else {
            if dest.is_empty() {
                return status::CANCELFAIL;
            }
            for (id, m) in st.store.iter_mut() {
                if ours(m)
                    && m.is_to(dest)
                    && (service_type.is_empty() || m.service_type == service_type)
                {
                    m.cancelled = true;
                    deleted.push(id.clone());
                }
            }
            if deleted.is_empty() {
                return status::CANCELFAIL;
            }
        }
        // Their DELETED receipts, when the receipt plan sends them, go at once.
        let receipts: Vec<DeliveryJob> = deleted
            .iter()
            .flat_map(|id| self.shared.deleted_receipts(&mut st, id, now))
            .collect();
        drop(st);
        for job in receipts {
            self.shared.dispatch(job, 0);
        }
        0
    }
}

fn payload(tlvs: &[rusmpp::tlvs::Tlv]) -> Option<Vec<u8>> {
    match find_tlv(tlvs, TlvTag::MessagePayload) {
        Some(TlvValue::MessagePayload(p)) => Some(p.value.as_ref().to_vec()),
        _ => None,
    }
}

fn sar(tlvs: &[rusmpp::tlvs::Tlv]) -> Option<(u16, u8, u8)> {
    let r = match find_tlv(tlvs, TlvTag::SarMsgRefNum) {
        Some(TlvValue::SarMsgRefNum(v)) => *v,
        _ => return None,
    };
    let t = match find_tlv(tlvs, TlvTag::SarTotalSegments) {
        Some(TlvValue::SarTotalSegments(v)) => *v,
        _ => return None,
    };
    let s = match find_tlv(tlvs, TlvTag::SarSegmentSeqnum) {
        Some(TlvValue::SarSegmentSeqnum(v)) => *v,
        _ => return None,
    };
    Some((r, t, s))
}

fn ussd_op(tlvs: &[rusmpp::tlvs::Tlv]) -> Option<u8> {
    match find_tlv(tlvs, TlvTag::UssdServiceOp) {
        Some(TlvValue::UssdServiceOp(op)) => Some(u8::from(*op)),
        _ => None,
    }
}

fn its(tlvs: &[rusmpp::tlvs::Tlv]) -> Option<(u8, u8)> {
    match find_tlv(tlvs, TlvTag::ItsSessionInfo) {
        Some(TlvValue::ItsSessionInfo(i)) => Some((i.session_number, i.sequence_number)),
        _ => None,
    }
}

fn dest_port(tlvs: &[rusmpp::tlvs::Tlv]) -> Option<u16> {
    match find_tlv(tlvs, TlvTag::DestPort) {
        Some(TlvValue::DestPort(p)) => Some(*p),
        _ => None,
    }
}

/// Whether `id` is a command made of its header alone (enquire_link, unbind, their responses,
/// generic_nack): any other command_length is a bad header, answered with generic_nack.
fn header_only(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::EnquireLink
            | CommandId::EnquireLinkResp
            | CommandId::Unbind
            | CommandId::UnbindResp
            | CommandId::GenericNack
    )
}

/// Whether a deliver_sm_resp status asks for the deliver_sm again later, as carriers' SMSCs
/// treat it: `ESME_RX_T_APPN` (0x64, the ESME cannot take it now), `ESME_RTHROTTLED` (0x58),
/// `ESME_RMSGQFUL` (0x14) and `ESME_RSYSERR` (0x08). Any other non-zero status is final.
pub fn is_temporary_deliver_status(status: u32) -> bool {
    matches!(status, 0x64 | 0x58 | 0x14 | 0x08)
}
