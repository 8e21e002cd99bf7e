//! One bound SMPP connection (a `Session`): bind, then a single `select!` loop over the socket,
//! outbound requests, acknowledgements of inbound messages, response deadlines, the
//! enquire_link timer and shutdown (DESIGN.md style examples 2-4).
//!
//! Guarantees the rest of the gateway builds on:
//! - every request taken from the request channel gets exactly one answer: its response, a
//!   timeout, or (by the reply channel being dropped) a disconnect;
//! - an inbound `deliver_sm` / `data_sm` is answered only when the gateway has acknowledged it
//!   (after persisting it); a dropped acknowledgement or a full inbound queue answers
//!   `ESME_RX_T_APPN`, so the SMSC redelivers later (SMPP 3.4 §5.1.3);
//! - a malformed PDU from the SMSC is answered with `generic_nack` and the session goes on;
//! - when the session ends, however it ends, the inbox rows of the stored MO whose answers the
//!   SMSC is known to have read (it answered a request written after the answer) go to the
//!   link ([`Answers`]), so the inbox can retire their dedup keys;
//! - batch items ([`Outgoing::Batch`]) wait in the session's own queue and take a window slot
//!   and a rate token here, as responses free them: no other task sits between a response and
//!   the next submit.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, SinkExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DataSmResp, DeliverSmResp};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::framing::{error_response, generic_nack, Frame, FramingError, SmppCodec};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::{Framed, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::gate::BatchGate;
use super::poll::BusyPoll;
use super::reader::Reader;
use super::transport::{self, Stream, WriteSide};
use super::{AdaptiveRate, Inbound, KeyRow, LinkConfig, LinkError, LinkStats, Recall};

/// What a session binds as (SMPP 3.4 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// bind_transmitter: submits only.
    Transmitter,
    /// bind_receiver: deliver_sm only.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

/// An outbound request waiting for the session: the PDU, where to answer, and its window slot.
pub(crate) struct Request {
    pub pdu: Pdu,
    pub reply: ReplyTo,
    pub permit: Option<OwnedSemaphorePermit>,
    pub enqueued: Instant,
    /// A submit that takes its rate token from the session as it is written (a USSD screen,
    /// [`super::LinkHandle::submit`]): it goes ahead of the batch items waiting, and the
    /// sliding-second cap counts it when it is written, not when it was asked for.
    pub paced: bool,
}

/// What callers put on a session's request channel.
pub(crate) enum Outgoing {
    /// One request that already holds its window slot; written at once, or (`paced`) as soon
    /// as the rate limiter allows, ahead of batch items.
    One(Box<Request>),
    /// Many `submit_sm`s for the session to send itself, in order, as window slots free up
    /// and the rate limiter allows ([`super::LinkHandle::submit_batch`]): once half the window
    /// is free, the freed slots are refilled in the loop turn that read the response freeing
    /// the last of them, with no other task involved.
    Batch(Batch),
}

/// A batch of requests and the channel (with room for all of them) their answers go to, as
/// `(index in pdus, answer)`.
pub(crate) struct Batch {
    pub pdus: Vec<Pdu>,
    pub reply: mpsc::Sender<(usize, Result<Command, LinkError>)>,
    pub enqueued: Instant,
    /// Told each message id the SMSC accepts, as its response is read ([`super::gate`]).
    pub gate: Option<Arc<BatchGate>>,
    /// Items its caller withdrew: not written, answered [`LinkError::Withdrawn`].
    pub recall: Option<Arc<Recall>>,
}

impl Outgoing {
    /// Answer every request inside with `err` without sending it.
    pub(crate) fn refuse(self, err: LinkError) {
        match self {
            Outgoing::One(r) => r.reply.send(Err(err)),
            Outgoing::Batch(b) => {
                for index in 0..b.pdus.len() {
                    let _ = b.reply.try_send((index, Err(err.clone())));
                }
            }
        }
    }
}

/// A submit waiting in the session for a window slot (a batch item) or for the rate limiter
/// (both, or a paced request that brought its slot along in `permit`).
struct Queued {
    pdu: Pdu,
    reply: ReplyTo,
    permit: Option<OwnedSemaphorePermit>,
    /// A batch item's recall flags and its index there ([`Recall`]).
    recall: Option<(Arc<Recall>, usize)>,
}

impl Queued {
    /// Whether its caller withdrew it ([`Recall`]).
    fn withdrawn(&self) -> bool {
        self.recall
            .as_ref()
            .is_some_and(|(recall, index)| recall.is_withdrawn(*index))
    }
}

/// The session's submits not written yet: paced single requests (USSD screens, each holding
/// its window slot) first, in the order they came, then batch items. Whatever is still in it
/// when the session closes or ends is answered [`LinkError::NotSent`]: it never reached the
/// SMSC, so its caller may send it again without counting an attempt (a dropped item would
/// read as a disconnect).
#[derive(Default)]
struct Unsent(VecDeque<Queued>);

impl Unsent {
    /// Answer every item [`LinkError::NotSent`] and empty the queue.
    fn refuse_all(&mut self) {
        for q in self.0.drain(..) {
            q.reply.send(Err(LinkError::NotSent));
        }
    }

    /// Queue a paced request holding its window slot: after those queued before it, ahead of
    /// every batch item.
    fn push_paced(&mut self, q: Queued) {
        let at = self.0.iter().take_while(|q| q.permit.is_some()).count();
        self.0.insert(at, q);
    }

    /// Whether the next item holds its window slot already (a paced request).
    fn front_holds_slot(&self) -> bool {
        self.0.front().is_some_and(|q| q.permit.is_some())
    }
}

impl std::ops::Deref for Unsent {
    type Target = VecDeque<Queued>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Unsent {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Unsent {
    fn drop(&mut self) {
        self.refuse_all();
    }
}

/// The requests of one drain of the request channel not handled yet; dropped early (the
/// session ending on a failed write), each is answered [`LinkError::NotSent`].
struct RefuseRest(std::vec::IntoIter<Outgoing>);

impl Drop for RefuseRest {
    fn drop(&mut self) {
        for out in self.0.by_ref() {
            out.refuse(LinkError::NotSent);
        }
    }
}

/// Where a request's answer goes. Dropping it unanswered tells the caller the connection was
/// lost (a closed oneshot, or a batch channel whose senders are all gone).
pub(crate) enum ReplyTo {
    /// One caller waiting for this request alone.
    One(oneshot::Sender<Result<Command, LinkError>>),
    /// Item `index` of a batch ([`super::LinkHandle::submit_batch`]); the channel has room for
    /// every item of its batch, so sending never waits. The gate, if any, hears of an accepted
    /// submit before its answer goes out (and before the session reads on).
    Batch(
        mpsc::Sender<(usize, Result<Command, LinkError>)>,
        usize,
        Option<Arc<BatchGate>>,
    ),
}

impl ReplyTo {
    /// Deliver the answer (a caller that stopped waiting just misses it).
    pub(crate) fn send(self, answer: Result<Command, LinkError>) {
        match self {
            ReplyTo::One(tx) => {
                let _ = tx.send(answer);
            }
            ReplyTo::Batch(tx, index, gate) => {
                if let (Some(gate), Ok(cmd)) = (&gate, &answer) {
                    if cmd.status() == CommandStatus::EsmeRok {
                        if let Some(Pdu::SubmitSmResp(r)) = cmd.pdu() {
                            gate.accepted(&r.message_id().to_string());
                        }
                    }
                }
                let _ = tx.try_send((index, answer));
            }
        }
    }
}

/// Note that the SMSC has read every answer of session `tag` (see `LinkStats::read_out`).
fn read_out(ctx: &SessionCtx<'_>, tag: u64) {
    ctx.stats
        .read_out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(tag);
}

/// Why a session ended.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    /// The SMSC rejected our credentials: retrying fast will not help.
    AuthRejected(CommandStatus),
    /// The connection ended after (`bound` = true) or before a successful bind.
    Closed { reason: String, bound: bool },
    /// We were asked to stop and unbound cleanly.
    Shutdown,
}

struct Pending {
    reply: ReplyTo,
    /// The window slot of a submit (none for requests outside the window).
    permit: Option<OwnedSemaphorePermit>,
    /// When it was written.
    sent: Instant,
    /// [`Answers::mark`] when it was written.
    mark: u64,
}

/// Our `ESME_ROK` answers to stored MO on one session ([`Inbound::ack_stored`]), in the
/// order they were written, and how many of them the SMSC is known to have read.
///
/// TCP delivers in order: when the SMSC answers a request we wrote after one of our answers,
/// it read that answer before the request, and will not send its PDU again. Each request
/// carries the [`Answers::mark`] of the moment it was written (how many answers went before
/// it); its response hands the mark to [`Answers::request_answered`]. The answers known read
/// are therefore always the first ones written, and one count says which.
///
/// The rows of the answers known read go to [`LinkStats::read_answers`], for the inbox to
/// retire their dedup keys with the store's next write (`store::inbox::forget_answered`): a
/// whole message's as soon as the response that proves it read is read, so that a crash
/// (kill -9) a moment later does not leave its key to the dedup window (on this session its
/// key no longer matters: the same text again on it is the subscriber's anyway); a part's
/// when the session ends, however it ends (a part's key is what tells a late resend of the
/// part on this same session from a new part, and a subscriber's new long text comes with a
/// new reference, so its parts have other keys). An answer not known read may have been
/// lost with the link, and its PDU's resend must still be taken for one.
struct Answers<'a> {
    stats: &'a LinkStats,
    /// Each answer's inbox row, in write order, with when its PDU was read. Those read
    /// longer than the inbox's dedup window before the newest are let go: their keys have
    /// lapsed anyway.
    rows: VecDeque<(Instant, KeyRow)>,
    /// How many answers were let go from the front of `rows`.
    gone: u64,
    /// How many answers the SMSC is known to have read: the first `read` written.
    read: u64,
}

impl<'a> Answers<'a> {
    fn new(stats: &'a LinkStats) -> Self {
        Answers {
            stats,
            rows: VecDeque::new(),
            gone: 0,
            read: 0,
        }
    }

    /// The answer to a PDU read at `read_at` and stored under `key` was written.
    fn written(&mut self, key: KeyRow, read_at: Instant) {
        while self.rows.front().is_some_and(|&(at, _)| {
            read_at.saturating_duration_since(at) > crate::store::inbox::DEFAULT_DEDUP_WINDOW
        }) {
            self.rows.pop_front();
            self.gone += 1;
        }
        self.rows.push_back((read_at, key));
    }

    /// What a request written now carries: the number of answers written before it.
    fn mark(&self) -> u64 {
        self.gone + self.rows.len() as u64
    }

    /// The position in `rows` of answer number `n` (clamped to the rows held).
    fn index(&self, n: u64) -> usize {
        usize::try_from(n.saturating_sub(self.gone))
            .unwrap_or(usize::MAX)
            .min(self.rows.len())
    }

    /// The SMSC answered a request that carried `mark`: it read every answer before it. The
    /// whole messages' rows among those newly known read are reported at once.
    fn request_answered(&mut self, mark: u64) {
        if mark <= self.read {
            return;
        }
        let (from, to) = (self.index(self.read), self.index(mark));
        self.read = mark;
        let whole: Vec<i64> = self
            .rows
            .range(from..to)
            .filter(|(_, k)| k.whole)
            .map(|(_, k)| k.row)
            .collect();
        self.report(whole);
    }

    /// Hand `rows`, whose answers the SMSC is known to have read, to the link.
    fn report(&self, rows: Vec<i64>) {
        if !rows.is_empty() {
            self.stats
                .read_answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(rows);
        }
    }

    /// The rows of the answers the SMSC is known to have read (those not let go).
    fn read_rows(&self) -> impl Iterator<Item = KeyRow> + '_ {
        self.rows
            .iter()
            .take(self.index(self.read))
            .map(|&(_, k)| k)
    }
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        // The whole messages' rows went when they were known read; the parts' go now.
        let parts: Vec<i64> = self
            .read_rows()
            .filter(|k| !k.whole)
            .map(|k| k.row)
            .collect();
        self.report(parts);
    }
}

/// Fold one response time (a windowed request's write to its response's read) into the
/// link's smoothed response time ([`LinkStats::response_time_us`]): an eighth of the way
/// from the average to the new time. Only this session's task writes it.
fn note_response_time(stats: &LinkStats, took: Duration) {
    let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
    let old = stats
        .response_time_us
        .load(std::sync::atomic::Ordering::Relaxed);
    let new = if old == 0 {
        sample
    } else {
        // In i128: no overflow whatever the two values.
        let moved = i128::from(old) + (i128::from(sample) - i128::from(old)) / 8;
        u64::try_from(moved).unwrap_or(old).max(1)
    };
    stats
        .response_time_us
        .store(new, std::sync::atomic::Ordering::Relaxed);
}

/// An inbound PDU awaiting the gateway's answer: sequence, operation, status, the inbox row of
/// a stored MO ([`Inbound::ack_stored`]), when it was read.
type Ack = BoxFuture<'static, (u32, CommandId, CommandStatus, Option<KeyRow>, Instant)>;
type Wire = Framed<Stream, SmppCodec>;
type Sink = FramedWrite<WriteSide, SmppCodec>;

/// Write out what was fed to `sink` (the codec encodes both `Command` and `&Command`, so the
/// item type is named here once).
async fn flush(sink: &mut Sink) -> std::io::Result<()> {
    SinkExt::<Command>::flush(sink).await
}

/// Sequence numbers 1..=0x7FFF_FFFF, wrapping (SMPP 3.4 §5.1.4).
struct Sequence(u32);

impl Sequence {
    fn next(&mut self) -> u32 {
        self.0 = if self.0 >= 0x7FFF_FFFF { 1 } else { self.0 + 1 };
        self.0
    }
}

/// Everything a session needs from its link, borrowed for the session's lifetime.
pub(crate) struct SessionCtx<'a> {
    pub cfg: &'a LinkConfig,
    pub role: Role,
    pub requests: Option<&'a mut mpsc::Receiver<Outgoing>>,
    /// The link's window: batch items take their slot here, inside the session.
    pub window: &'a Arc<Semaphore>,
    /// The window's size in force (a config reload may change it while the session runs).
    pub window_size: &'a std::sync::atomic::AtomicUsize,
    /// The link's submit pacing, consulted for batch items.
    pub rate: &'a Mutex<AdaptiveRate>,
    /// Origin of the rate limiter's clock.
    pub origin: Instant,
    pub inbound: &'a mpsc::Sender<Inbound>,
    pub shutdown: &'a CancellationToken,
    pub stats: &'a LinkStats,
    pub on_bound: &'a (dyn Fn() + Sync),
}

/// The response that completes a bind as `role`.
fn bind_resp_id(role: Role) -> CommandId {
    match role {
        Role::Transmitter => CommandId::BindTransmitterResp,
        Role::Receiver => CommandId::BindReceiverResp,
        Role::Transceiver => CommandId::BindTransceiverResp,
    }
}

fn bind_pdu(cfg: &LinkConfig, role: Role) -> Result<Pdu, String> {
    let system_id = COctetString::from_str(&cfg.system_id)
        .map_err(|e| format!("system_id {:?}: {e}", cfg.system_id))?;
    let password = COctetString::from_str(cfg.password.expose())
        .map_err(|_| "password: must be 1-8 ASCII characters (SMPP 3.4 §4.1.1)".to_string())?;
    let system_type = COctetString::from_str(&cfg.system_type)
        .map_err(|e| format!("system_type {:?}: {e}", cfg.system_type))?;
    let address_range = COctetString::from_str(&cfg.address_range)
        .map_err(|e| format!("address_range {:?}: {e}", cfg.address_range))?;
    let (ton, npi) = (Ton::from(cfg.addr_ton), Npi::from(cfg.addr_npi));
    let v = InterfaceVersion::Smpp3_4;
    // The three bind PDUs share one body layout (SMPP 3.4 §4.1.1-4.1.5).
    macro_rules! bind {
        ($variant:ident) => {
            Pdu::$variant($variant::new(
                system_id,
                password,
                system_type,
                v,
                ton,
                npi,
                address_range,
            ))
        };
    }
    Ok(match role {
        Role::Transceiver => bind!(BindTransceiver),
        Role::Transmitter => bind!(BindTransmitter),
        Role::Receiver => bind!(BindReceiver),
    })
}

/// Connect, bind and run one session until it ends.
pub(crate) async fn connect_and_run(mut ctx: SessionCtx<'_>) -> SessionEnd {
    let cfg = ctx.cfg;
    let stream = match transport::connect(&cfg.smsc, cfg.tls.as_ref(), cfg.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            return SessionEnd::Closed {
                reason: format!("connect to {}: {e}", cfg.smsc),
                bound: false,
            }
        }
    };
    let tls_info = stream.tls_info();
    let mut wire = Framed::new(stream, SmppCodec::with_max_len(cfg.max_pdu_len));
    let mut seq = Sequence(0);
    match bind(&mut ctx, &mut wire, &mut seq).await {
        Ok(()) => {}
        Err(end) => {
            close_write(wire.get_mut()).await;
            return end;
        }
    }
    if let Some(info) = &tls_info {
        report_tls(&cfg.smsc, info, ctx.stats, crate::store::now_ms() / 1000);
    }
    (ctx.on_bound)();
    // Bound: the read and write halves go their own ways (the reader keeps whatever arrived
    // behind the bind response).
    let parts = wire.into_parts();
    let (read_half, write_half) = parts.io.into_split();
    let reader = Reader::new(read_half, parts.codec.clone(), parts.read_buf);
    let mut sink = FramedWrite::new(write_half, parts.codec);
    let end = run_bound(ctx, reader, &mut sink, seq).await;
    close_write(sink.get_mut()).await;
    end
}

/// From how long before its end the SMSC's certificate is warned of at each TLS bind.
pub(crate) const CERT_WARN_BEFORE_SECS: i64 = 14 * 86_400;

/// Log what a bound TLS session agreed on and when the SMSC's certificate ends (INFO; a WARN
/// too when that is within [`CERT_WARN_BEFORE_SECS`] of `now`, Unix seconds), and keep the
/// end for `presence_gw_smpp_tls_cert_expiry_seconds`. An expired certificate never gets
/// here: the handshake refuses it (`transport::connect` says "expired").
fn report_tls(smsc: &str, info: &transport::TlsSessionInfo, stats: &LinkStats, now: i64) {
    let Some(end) = info.cert_not_after else {
        info!(
            smsc = %smsc,
            tls_version = %info.version,
            cipher_suite = %info.cipher_suite,
            "TLS session (the SMSC certificate's end of validity could not be read)"
        );
        return;
    };
    stats
        .tls_cert_not_after
        .store(end, std::sync::atomic::Ordering::Relaxed);
    let expires = transport::utc_text(u64::try_from(end).unwrap_or(0));
    let left = end - now;
    info!(
        smsc = %smsc,
        tls_version = %info.version,
        cipher_suite = %info.cipher_suite,
        cert_expires = %expires,
        cert_days_left = left / 86_400,
        "TLS session"
    );
    if left < CERT_WARN_BEFORE_SECS {
        warn!(
            smsc = %smsc,
            cert_expires = %expires,
            cert_days_left = left / 86_400,
            "the SMSC's TLS certificate expires in less than 14 days: once it has, no bind \
             succeeds until the SMSC has a renewed one"
        );
    }
}

/// Longest the end of a session waits to say so on the wire ([`close_write`]).
const CLOSE_WRITE_WAIT: Duration = Duration::from_secs(1);

/// End our direction of the connection: over TLS a `close_notify` alert, then FIN (plain TCP:
/// FIN, as dropping the write half did). Without the alert a TLS SMSC reads the end of the
/// session as a truncation (rustls: "peer closed connection without sending TLS
/// close_notify", Java: "possible truncation attack"), after an orderly unbind too. Only what
/// the socket already took goes out: frames a failed session left in the sink's buffer were
/// never sent and are not sent now. Bounded: a peer that reads nothing does not hold up the
/// end of the session.
async fn close_write(io: &mut (impl tokio::io::AsyncWrite + Unpin)) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(CLOSE_WRITE_WAIT, io.shutdown()).await;
}

async fn bind(
    ctx: &mut SessionCtx<'_>,
    wire: &mut Wire,
    seq: &mut Sequence,
) -> Result<(), SessionEnd> {
    let closed = |reason: String| SessionEnd::Closed {
        reason,
        bound: false,
    };
    let pdu = bind_pdu(ctx.cfg, ctx.role).map_err(closed)?;
    let bind_seq = seq.next();
    wire.send(Command::new(CommandStatus::EsmeRok, bind_seq, pdu))
        .await
        .map_err(|e| closed(format!("send bind: {e}")))?;
    let deadline = Instant::now() + ctx.cfg.response_timeout;
    loop {
        let frame = tokio::select! {
            f = wire.next() => f,
            _ = sleep_until(deadline) => return Err(closed("no bind response".into())),
            _ = ctx.shutdown.cancelled() => return Err(SessionEnd::Shutdown),
        };
        match frame {
            None => return Err(closed("SMSC closed the connection during bind".into())),
            // Over TLS many SMSCs close without close_notify: a close like any other (the
            // message of rustls says "truncation", and a hint for the handshake misled).
            Some(Err(FramingError::Io(e)))
                if ctx.cfg.tls.is_some() && e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                return Err(closed(
                    "SMSC closed the connection during bind (an SMSC that wants a client \
                     certificate may close so: tls_client_cert_file)"
                        .into(),
                ))
            }
            Some(Err(e)) => {
                // Under TLS 1.3 an SMSC refuses a client certificate (or its absence) after
                // the handshake: the first read says why.
                let hint = match (&e, &ctx.cfg.tls) {
                    (FramingError::Io(io), Some(tls)) => tls.hint(io, &ctx.cfg.smsc),
                    // A plain bind to a TLS port: the SMSC's TLS stack answers with a record
                    // (an alert) whose first bytes read as a huge command_length.
                    (FramingError::TooLong { actual, .. }, None)
                        if transport::looks_like_tls_record(*actual) =>
                    {
                        Some("the SMSC answered in TLS: set [smsc] tls = true".to_string())
                    }
                    _ => None,
                };
                return Err(closed(match hint {
                    Some(h) => format!("framing during bind: {e} ({h})"),
                    None => format!("framing during bind: {e}"),
                }));
            }
            Some(Ok(Frame::Invalid(inv))) => {
                if inv.is_request() {
                    let _ = wire.send(inv.generic_nack()).await;
                }
                if inv.sequence_number == bind_seq {
                    return Err(closed(format!("malformed bind response: {}", inv.error)));
                }
            }
            Some(Ok(Frame::Pdu(cmd))) if cmd.sequence_number() == bind_seq => {
                // Only a bind response binds: another PDU with the bind's sequence number (a
                // confused SMSC's submit_sm_resp, a generic_nack with status 0) read as "bound"
                // and sent submits to an SMSC that had bound nothing. Any of the three bind
                // responses is taken (an SMSC that answers a bind_transmitter with a
                // bind_transceiver_resp means a bind); a generic_nack with an error status is
                // a refusal, as before.
                let expected = bind_resp_id(ctx.role);
                let a_bind_resp = matches!(
                    cmd.id(),
                    CommandId::BindTransmitterResp
                        | CommandId::BindReceiverResp
                        | CommandId::BindTransceiverResp
                );
                let refusal =
                    cmd.id() == CommandId::GenericNack && cmd.status() != CommandStatus::EsmeRok;
                if !a_bind_resp && !refusal {
                    return Err(closed(format!(
                        "the SMSC answered the bind with {:?} (status {}), not {expected:?}",
                        cmd.id(),
                        super::status_text(cmd.status())
                    )));
                }
                return match cmd.status() {
                    CommandStatus::EsmeRok => {
                        info!(system_id = %ctx.cfg.system_id, smsc = %ctx.cfg.smsc, role = ?ctx.role, "bound");
                        Ok(())
                    }
                    s @ (CommandStatus::EsmeRinvpaswd
                    | CommandStatus::EsmeRinvsysid
                    | CommandStatus::EsmeRbindfail
                    | CommandStatus::EsmeRinvsystyp) => Err(SessionEnd::AuthRejected(s)),
                    s => Err(closed(format!("bind refused: {}", super::status_text(s)))),
                };
            }
            Some(Ok(Frame::Pdu(cmd))) => {
                // Anything else before the bind completes: enquire_link may be answered.
                if cmd.id() == CommandId::EnquireLink {
                    let _ = wire
                        .send(Command::new(
                            CommandStatus::EsmeRok,
                            cmd.sequence_number(),
                            Pdu::EnquireLinkResp,
                        ))
                        .await;
                }
            }
        }
    }
}

async fn next_request(requests: &mut Option<&mut mpsc::Receiver<Outgoing>>) -> Option<Outgoing> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Answer to an inbound deliver_sm / data_sm with the gateway's status.
fn inbound_resp(id: CommandId, seq: u32, status: CommandStatus) -> Command {
    if status != CommandStatus::EsmeRok {
        return error_response(id, status, seq);
    }
    match id {
        CommandId::DataSm => Command::new(status, seq, Pdu::DataSmResp(DataSmResp::default())),
        _ => Command::new(status, seq, Pdu::DeliverSmResp(DeliverSmResp::default())),
    }
}

async fn run_bound(
    mut ctx: SessionCtx<'_>,
    mut reader: Reader,
    sink: &mut Sink,
    mut seq: Sequence,
) -> SessionEnd {
    let cfg = ctx.cfg;
    let mut pending: HashMap<u32, Pending> = HashMap::new();
    // Every request gets the same timeout, so deadlines arrive in order: the front is the next
    // to expire. Entries whose request was already answered are skipped when they reach the front.
    let mut deadlines: VecDeque<(Instant, u32)> = VecDeque::new();
    let mut acks: FuturesUnordered<Ack> = FuturesUnordered::new();
    let mut last_rx = Instant::now();
    // The response-deadline and keepalive timers live across loop turns and are re-armed only
    // when they fire or must fire earlier: a `sleep_until` built in every turn registered and
    // removed a timer-wheel entry per PDU. Both may fire early (the front request was answered,
    // or input arrived since): the branch then only re-arms.
    let mut deadline_timer = Box::pin(sleep_until(last_rx));
    let mut deadline_armed: Option<Instant> = None;
    let mut keepalive_timer = Box::pin(sleep_until(last_rx));
    let mut keepalive_armed: Option<Instant> = None;
    // An enquire_link and our unbind in flight: sequence, when written (the unbind: its
    // deadline), and their [`Answers::mark`].
    let mut keepalive: Option<(u32, Instant, u64)> = None;
    let mut closing: Option<Instant> = None;
    let mut unbind: Option<(u32, Instant, u64)> = None;
    // Which of our answers to stored MO the SMSC is known to have read; handed to the link
    // when this session ends, however it ends.
    let mut answers = Answers::new(ctx.stats);
    // Whether our unbind went out with every inbound PDU answered (then its unbind_resp
    // proves the SMSC read all the answers).
    let mut unbind_after_all_answers = false;
    // Whether every inbound PDU was answered ESME_ROK (see `read_out`).
    let mut all_answers_ok = true;
    let mut requests_open = ctx.requests.is_some();
    // Names this session on every inbound PDU (see `Inbound::session`): random, so unique
    // across reconnects and restarts.
    let session_tag = rand::random::<u64>() >> 1;
    // Batch items waiting for a window slot (or for the rate limiter, until `pace_at`).
    let mut queue = Unsent::default();
    let mut pace_at: Option<Instant> = None;
    // Refill once half of the window is free (or nothing is outstanding): several PDUs per write
    // instead of one write per response, and, with the reader's low-water mark, one wake-up per
    // half window of answers. Half rather than a quarter: with the mark, measured better or
    // equal at windows 10, 64 and 100 on both SMSCs (BENCHMARKS.md, 2026-12-05 late).
    // Half the window in force (a reload may change it while the session runs).
    let refill_at = || (ctx.window_size.load(std::sync::atomic::Ordering::Relaxed) / 2).max(1);
    // When this session last read or wrote a PDU: a busy poll counts from it.
    let mut last_tx = last_rx;
    // Whether to poll the socket for an expected answer rather than sleep ([`BusyPoll`]).
    // Not over TLS: the reader does not poll there (it reads what rustls decrypts), so the
    // probes would time one mode twice and could report polling (the busy_polling metric, its
    // log line) where nothing polls.
    let mut poll = BusyPoll::new(if cfg.tls.is_some() {
        Duration::ZERO
    } else {
        cfg.busy_poll
    });
    ctx.stats
        .busy_polling
        .store(0, std::sync::atomic::Ordering::Relaxed);

    macro_rules! end {
        ($reason:expr) => {
            return SessionEnd::Closed {
                reason: $reason,
                bound: true,
            }
        };
    }

    // Write one request with the next sequence number; it stays pending until its response,
    // its deadline or the end of the session.
    macro_rules! write_request {
        ($pdu:expr, $reply:expr, $permit:expr, $now:expr) => {{
            let s = seq.next();
            if sink
                .feed(Command::new(CommandStatus::EsmeRok, s, $pdu))
                .await
                .is_err()
            {
                $reply.send(Err(LinkError::Disconnected));
                end!("write failed".into());
            }
            pending.insert(
                s,
                Pending {
                    reply: $reply,
                    permit: $permit,
                    sent: $now,
                    mark: answers.mark(),
                },
            );
            deadlines.push_back(($now + cfg.response_timeout, s));
            last_tx = $now;
        }};
    }

    loop {
        // Refill the window from the batch queue, here at the top because select branches
        // `continue`: as many items as there are free slots and the rate allows, in one flush.
        // Not while closing: unsent items are answered `NotSent` (nothing of them reached
        // the SMSC).
        if closing.is_some()
            || ctx
                .stats
                .submitting_stopped
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            queue.refuse_all();
        } else if !queue.is_empty()
            && pace_at.is_none()
            && (queue.front_holds_slot()
                || pending.is_empty()
                || ctx.window.available_permits() >= queue.len().min(refill_at()))
        {
            let now = Instant::now();
            // Every grant below is at or after this (the limiter's clock).
            let since = ctx.origin.elapsed();
            let mut wrote = false;
            // No staleness check here: these items reached a bound session and wait only for
            // the window and the rate, which is the pacing they asked for. The rate token is
            // taken here, as the item is written, for paced requests too: one granted earlier
            // and written later (it waited for the session, through a reconnect) would be
            // counted by the sliding-second cap before the SMSC sees it.
            while let Some(front) = queue.front_mut() {
                if front.withdrawn() {
                    // Withdrawn by its caller before it went out: answered so, no slot taken.
                    if let Some(q) = queue.pop_front() {
                        q.reply.send(Err(LinkError::Withdrawn));
                    }
                    continue;
                }
                let (permit, own) = match front.permit.take() {
                    Some(permit) => (permit, true),
                    None => match ctx.window.clone().try_acquire_owned() {
                        Ok(permit) => (permit, false),
                        Err(_) => {
                            if pending.is_empty() {
                                // The slots are held outside this session (callers about to
                                // send): look again shortly rather than wait for a response
                                // that won't come.
                                pace_at = Some(now + Duration::from_millis(2));
                            }
                            break;
                        }
                    },
                };
                let paced = match ctx.rate.lock() {
                    Ok(mut r) => r.try_acquire(ctx.origin.elapsed()),
                    Err(_) => Ok(()),
                };
                if let Err(wait) = paced {
                    if own {
                        front.permit = Some(permit);
                    }
                    pace_at = Some(now + wait);
                    break;
                }
                let Some(q) = queue.pop_front() else { break };
                write_request!(q.pdu, q.reply, Some(permit), now);
                wrote = true;
            }
            if wrote {
                if flush(sink).await.is_err() {
                    end!("write failed".into());
                }
                // The sliding-second cap counts these submits from now, when they are on the
                // socket, not from their grants (the task may be held between the two).
                if let Ok(mut r) = ctx.rate.lock() {
                    r.written(since, ctx.origin.elapsed());
                }
            }
        }
        while deadlines
            .front()
            .is_some_and(|(_, s)| !pending.contains_key(s))
        {
            deadlines.pop_front();
        }
        let next_deadline = deadlines.front().map(|(d, _)| *d);
        let keepalive_at = match keepalive {
            Some((_, sent, _)) => sent + cfg.enquire_link_timeout,
            None => last_rx + cfg.enquire_link_interval,
        };
        let close_at = match (closing, unbind) {
            (_, Some((_, at, _))) => Some(at),
            (Some(at), None) => Some(at),
            _ => None,
        };
        let accept_requests = requests_open && closing.is_none();
        // While the window is busy, wake for as many answers as the refill above waits for,
        // not for each one ([`Reader`]).
        reader.set_lowat(if pending.len() >= 2 {
            pending.len().min(refill_at())
        } else {
            1
        });
        reader.set_spin(
            poll.until(
                !pending.is_empty() || !acks.is_empty(),
                ctx.stats
                    .response_time_us
                    .load(std::sync::atomic::Ordering::Relaxed),
                last_rx.max(last_tx),
            ),
        );
        // Deadlines only move later (every request has the same timeout), keepalive_at too
        // except when an enquire_link goes out: re-arm when unarmed or due earlier.
        if let Some(at) = next_deadline {
            if deadline_armed.is_none_or(|armed| at < armed) {
                deadline_timer.as_mut().reset(at);
                deadline_armed = Some(at);
            }
        }
        if keepalive_armed.is_none_or(|armed| keepalive_at < armed) {
            keepalive_timer.as_mut().reset(keepalive_at);
            keepalive_armed = Some(keepalive_at);
        }

        tokio::select! {
            _ = ctx.shutdown.cancelled(), if closing.is_none() => {
                closing = Some(Instant::now() + cfg.shutdown_grace);
            }
            frame = reader.next() => {
                last_rx = Instant::now();
                let cmd = match frame {
                    None => end!("SMSC closed the connection".into()),
                    Some(Err(e)) => end!(format!("unframeable input: {e}")),
                    Some(Ok(Frame::Invalid(inv))) => {
                        warn!(command_id = format_args!("{:#010x}", inv.command_id), error = %inv.error, "malformed PDU from SMSC");
                        ctx.stats.malformed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if inv.is_request() {
                            if sink.send(inv.generic_nack()).await.is_err() { end!("write failed".into()); }
                        } else if let Some(p) = pending.remove(&inv.sequence_number) {
                            answers.request_answered(p.mark);
                            match inv.lenient_accept() {
                                // Accepted, with an id rusmpp would not read: still accepted
                                // (sending it again would duplicate it on the handset).
                                Some(resp) => p.reply.send(Ok(resp)),
                                // A response we cannot read: the outcome is unknown, treat as
                                // a timeout.
                                None => p.reply.send(Err(LinkError::Malformed(inv.error.clone()))),
                            }
                        }
                        continue;
                    }
                    Some(Ok(Frame::Pdu(cmd))) => cmd,
                };
                let id = cmd.id();
                let s = cmd.sequence_number();
                if id.is_response() {
                    if let Some((_, _, mark)) = keepalive.filter(|&(k, _, _)| k == s) {
                        answers.request_answered(mark);
                        keepalive = None;
                    } else if let Some((_, _, mark)) = unbind.filter(|&(u, _, _)| u == s) {
                        answers.request_answered(mark);
                        if unbind_after_all_answers && all_answers_ok && acks.is_empty() {
                            read_out(&ctx, session_tag);
                        }
                        return SessionEnd::Shutdown;
                    } else if let Some(p) = pending.remove(&s) {
                        answers.request_answered(p.mark);
                        if p.permit.is_some() {
                            let took = last_rx.saturating_duration_since(p.sent);
                            note_response_time(ctx.stats, took);
                            if let Some(c) = poll.answered(took) {
                                ctx.stats.busy_polling.store(u64::from(c.polling), std::sync::atomic::Ordering::Relaxed);
                                ctx.stats.busy_poll_choices.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                debug!(polling = c.polling, sleeping_us = c.sleeping_us, polling_us = c.polling_us, "busy poll: answers timed sleeping and polling");
                            }
                        }
                        p.reply.send(Ok(cmd));
                    } else {
                        debug!(seq = s, ?id, "response to no pending request (late or duplicate)");
                    }
                    continue;
                }
                match id {
                    CommandId::DeliverSm | CommandId::DataSm => {
                        // Crossing our unbind: its answer would go out behind the unbind,
                        // which the SMSC need not read; it may come again.
                        if unbind.is_some() {
                            unbind_after_all_answers = false;
                        }
                        let (tx, rx) = oneshot::channel();
                        match ctx.inbound.try_send(Inbound { command: cmd, session: session_tag, ack: tx }) {
                            Ok(()) => {
                                let read_at = Instant::now();
                                acks.push(Box::pin(async move {
                                    let (status, row) = rx.await.unwrap_or((CommandStatus::EsmeRxTAppn, None));
                                    (s, id, status, row, read_at)
                                }))
                            }
                            Err(_) => {
                                warn!("inbound queue full or closed: asking the SMSC to redeliver");
                                if sink.send(inbound_resp(id, s, CommandStatus::EsmeRxTAppn)).await.is_err() {
                                    end!("write failed".into());
                                }
                            }
                        }
                    }
                    CommandId::EnquireLink => {
                        if sink.send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLinkResp)).await.is_err() {
                            end!("write failed".into());
                        }
                    }
                    CommandId::Unbind => {
                        let answered = acks.is_empty();
                        let sent = sink.send(Command::new(CommandStatus::EsmeRok, s, Pdu::UnbindResp)).await;
                        // It reads our unbind_resp after every answer written before it.
                        if answered && all_answers_ok && sent.is_ok() {
                            read_out(&ctx, session_tag);
                        }
                        end!("SMSC sent unbind".into());
                    }
                    CommandId::AlertNotification => {
                        debug!("alert_notification received");
                    }
                    CommandId::Other(_) => {
                        if sink.send(generic_nack(CommandStatus::EsmeRinvcmdid, s)).await.is_err() {
                            end!("write failed".into());
                        }
                    }
                    other => {
                        // A known operation an ESME does not accept (bind, submit_sm...).
                        if sink.send(error_response(other, CommandStatus::EsmeRinvbndsts, s)).await.is_err() {
                            end!("write failed".into());
                        }
                    }
                }
            }
            Some(first) = acks.next(), if !acks.is_empty() => {
                // Every resp whose message is already stored goes out in this one write: the
                // store commits inbound PDUs in groups, so their acks complete together, and
                // one syscall here is one read event at the SMSC rather than one per resp.
                let mut ready = Some(first);
                while let Some((s, id, status, row, read_at)) = ready {
                    ctx.stats.inbound_ack.observe(read_at.elapsed());
                    // An error answer asks the SMSC to send it again, maybe after it was
                    // stored (a batch cut short at stop): this session is not read out.
                    all_answers_ok &= status == CommandStatus::EsmeRok;
                    if sink.feed(inbound_resp(id, s, status)).await.is_err() {
                        end!("write failed".into());
                    }
                    if let (CommandStatus::EsmeRok, Some(key)) = (status, row) {
                        answers.written(key, read_at);
                    }
                    ready = acks.next().now_or_never().flatten();
                }
                if flush(sink).await.is_err() {
                    end!("write failed".into());
                }
            }
            req = next_request(&mut ctx.requests), if accept_requests => {
                let Some(first) = req else {
                    requests_open = false;
                    continue;
                };
                // Batch: write every request already waiting, then flush once.
                let mut batch = vec![first];
                if let Some(rx) = ctx.requests.as_mut() {
                    while batch.len() < 256 {
                        match rx.try_recv() { Ok(r) => batch.push(r), Err(_) => break }
                    }
                }
                let now = Instant::now();
                // If a write fails the session ends here: what is left of the drain was
                // never written, and says so (`NotSent`) rather than read as a disconnect.
                let mut rest = RefuseRest(batch.into_iter());
                for out in rest.0.by_ref() {
                    let r = match out {
                        Outgoing::One(r) => r,
                        Outgoing::Batch(b) => {
                            if now.duration_since(b.enqueued) > cfg.response_timeout {
                                Outgoing::Batch(b).refuse(LinkError::Stale);
                                continue;
                            }
                            for (index, pdu) in b.pdus.into_iter().enumerate() {
                                queue.push_back(Queued {
                                    pdu,
                                    reply: ReplyTo::Batch(b.reply.clone(), index, b.gate.clone()),
                                    permit: None,
                                    recall: b.recall.clone().map(|r| (r, index)),
                                });
                            }
                            continue;
                        }
                    };
                    if now.duration_since(r.enqueued) > cfg.response_timeout {
                        r.reply.send(Err(LinkError::Stale));
                        continue;
                    }
                    let Request { pdu, reply, permit, paced, .. } = *r;
                    if paced {
                        // Written at the top of the loop, once the rate limiter allows.
                        queue.push_paced(Queued { pdu, reply, permit, recall: None });
                        continue;
                    }
                    write_request!(pdu, reply, permit, now);
                }
                if flush(sink).await.is_err() { end!("write failed".into()); }
            }
            _ = sleep_until(pace_at.unwrap_or_else(Instant::now)), if pace_at.is_some() => {
                pace_at = None;
            }
            _ = &mut deadline_timer, if deadline_armed.is_some() => {
                deadline_armed = None;
                let now = Instant::now();
                while let Some(&(deadline, k)) = deadlines.front() {
                    if deadline > now {
                        break;
                    }
                    deadlines.pop_front();
                    if let Some(p) = pending.remove(&k) {
                        ctx.stats.timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        p.reply.send(Err(LinkError::Timeout));
                    }
                }
            }
            _ = &mut keepalive_timer, if keepalive_armed.is_some() => {
                keepalive_armed = None;
                if Instant::now() < keepalive_at {
                    continue; // input arrived since it was armed: re-armed above
                }
                if keepalive.is_some() {
                    end!("no enquire_link_resp within the timeout".into());
                }
                let s = seq.next();
                if sink.send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLink)).await.is_err() {
                    end!("write failed".into());
                }
                keepalive = Some((s, Instant::now(), answers.mark()));
            }
            _ = sleep_until(close_at.unwrap_or_else(Instant::now)), if close_at.is_some() => {
                if unbind.is_some() {
                    return SessionEnd::Shutdown;
                }
                let s = seq.next();
                unbind_after_all_answers = acks.is_empty();
                let _ = sink.send(Command::new(CommandStatus::EsmeRok, s, Pdu::Unbind)).await;
                unbind = Some((s, Instant::now() + Duration::from_secs(1), answers.mark()));
            }
        }
        // While closing, unbind as soon as nothing is in flight.
        if closing.is_some() && unbind.is_none() && pending.is_empty() && acks.is_empty() {
            let s = seq.next();
            unbind_after_all_answers = true;
            let _ = sink
                .send(Command::new(CommandStatus::EsmeRok, s, Pdu::Unbind))
                .await;
            unbind = Some((s, Instant::now() + Duration::from_secs(1), answers.mark()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(stats: &LinkStats) -> Vec<i64> {
        std::mem::take(&mut *stats.read_answers.lock().unwrap())
    }

    /// A part of a concatenated message stored as inbox row `row`.
    fn part(row: i64) -> KeyRow {
        KeyRow { row, whole: false }
    }

    /// A whole message stored as inbox row `row`.
    fn whole(row: i64) -> KeyRow {
        KeyRow { row, whole: true }
    }

    fn read_rows(answers: &Answers<'_>) -> Vec<i64> {
        answers.read_rows().map(|k| k.row).collect()
    }

    /// An answer counts as read only once the SMSC answered a request written after it; a
    /// request written before it proves nothing about it, whenever its response comes.
    #[test]
    fn an_answer_is_read_once_a_request_written_after_it_is_answered() {
        let stats = LinkStats::default();
        let t = Instant::now();
        let mut answers = Answers::new(&stats);
        let submit = answers.mark(); // a submit_sm in flight before any answer
        answers.written(part(10), t);
        answers.written(part(11), t);
        answers.request_answered(submit); // its response comes after both answers
        assert_eq!(read_rows(&answers).len(), 0);
        let enquire_link = answers.mark();
        answers.written(part(12), t);
        let reply = answers.mark();
        answers.written(part(13), t);
        answers.request_answered(enquire_link);
        assert_eq!(read_rows(&answers), [10, 11]);
        answers.request_answered(reply);
        assert_eq!(read_rows(&answers), [10, 11, 12]);
        // A late response to an earlier request takes nothing back.
        answers.request_answered(enquire_link);
        assert_eq!(read_rows(&answers), [10, 11, 12]);
        drop(answers);
        assert_eq!(reported(&stats), [10, 11, 12], "13 may have been lost");
    }

    /// A session the SMSC is known to have read nothing of reports nothing.
    #[test]
    fn a_session_with_no_answer_known_read_reports_nothing() {
        let stats = LinkStats::default();
        let mut answers = Answers::new(&stats);
        answers.written(part(1), Instant::now());
        answers.request_answered(0);
        drop(answers);
        assert!(reported(&stats).is_empty());
        drop(Answers::new(&stats));
        assert!(stats.read_answers.lock().unwrap().is_empty());
    }

    /// Answers whose PDUs were read longer than the dedup window before the newest are let go
    /// (their keys lapse anyway); the count of those written stays right, so a later request
    /// still marks exactly the answers before it.
    #[test]
    fn answers_older_than_the_dedup_window_are_let_go() {
        let stats = LinkStats::default();
        let t = Instant::now();
        let later = t + crate::store::inbox::DEFAULT_DEDUP_WINDOW + Duration::from_secs(1);
        let mut answers = Answers::new(&stats);
        answers.written(part(1), t);
        answers.written(part(2), t + Duration::from_secs(5));
        let before_3 = answers.mark();
        answers.written(part(3), later);
        assert_eq!(answers.rows.len(), 2, "row 1 let go");
        answers.request_answered(before_3);
        assert_eq!(read_rows(&answers), [2]);
        let after_3 = answers.mark();
        answers.written(part(4), later);
        answers.request_answered(after_3);
        drop(answers);
        assert_eq!(reported(&stats), [2, 3]);
    }

    /// A whole message's row is reported as soon as the SMSC is known to have read its
    /// answer, not when the session ends: a crash (kill -9) ends no session, and its key
    /// would be left to the dedup window. A part's row still waits for the session's end.
    #[test]
    fn a_whole_message_is_reported_once_read_a_part_when_the_session_ends() {
        let stats = LinkStats::default();
        let t = Instant::now();
        let mut answers = Answers::new(&stats);
        answers.written(whole(1), t);
        answers.written(part(2), t);
        let reply = answers.mark();
        answers.written(whole(3), t);
        assert!(reported(&stats).is_empty(), "nothing known read yet");
        answers.request_answered(reply);
        assert_eq!(
            reported(&stats),
            [1],
            "the whole message at once, the part not yet"
        );
        // The same response again, or an older one, reports nothing twice.
        answers.request_answered(reply);
        answers.request_answered(0);
        assert!(reported(&stats).is_empty());
        let keepalive = answers.mark();
        answers.request_answered(keepalive);
        assert_eq!(reported(&stats), [3]);
        drop(answers);
        assert_eq!(reported(&stats), [2], "the part when the session ends");
    }

    /// The first answer sets the response time; each later one moves it an eighth of the way;
    /// it never reads 0 ("none yet") once set, and a huge time does not overflow it.
    #[test]
    fn the_response_time_is_an_eighth_of_the_way_to_each_new_one() {
        let stats = LinkStats::default();
        let now = || {
            stats
                .response_time_us
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        assert_eq!(now(), 0);
        note_response_time(&stats, Duration::from_millis(40));
        assert_eq!(now(), 40_000);
        note_response_time(&stats, Duration::from_millis(120));
        assert_eq!(now(), 50_000);
        for _ in 0..200 {
            note_response_time(&stats, Duration::ZERO);
        }
        assert!(now() >= 1, "{}", now());
        assert!(now() < 10, "{}", now());
        note_response_time(&stats, Duration::MAX);
        assert!(now() > 1_000_000_000, "{}", now());
    }

    /// Requests a session took from its channel but never wrote, because it ended first, are
    /// answered `NotSent`, batch items and single requests alike.
    #[tokio::test]
    async fn what_a_session_never_wrote_is_answered_not_sent() {
        let (tx, mut rx) = mpsc::channel(4);
        let batch = Outgoing::Batch(Batch {
            pdus: vec![Pdu::EnquireLink, Pdu::EnquireLink],
            reply: tx,
            enqueued: Instant::now(),
            gate: None,
            recall: None,
        });
        let (one_tx, one_rx) = oneshot::channel();
        let one = Outgoing::One(Box::new(Request {
            pdu: Pdu::EnquireLink,
            reply: ReplyTo::One(one_tx),
            permit: None,
            enqueued: Instant::now(),
            paced: false,
        }));
        let mut rest = RefuseRest(vec![batch, one].into_iter());
        let _taken = rest.0.next();
        drop(rest);
        assert_eq!(one_rx.await.unwrap(), Err(LinkError::NotSent));
        drop(_taken);
        assert!(rx.recv().await.is_none(), "the batch taken was not refused");

        let mut queue = Unsent::default();
        let (tx, mut rx) = mpsc::channel(4);
        queue.push_back(Queued {
            pdu: Pdu::EnquireLink,
            reply: ReplyTo::Batch(tx, 3, None),
            permit: None,
            recall: None,
        });
        drop(queue);
        assert_eq!(rx.recv().await, Some((3, Err(LinkError::NotSent))));
    }
}
