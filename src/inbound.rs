//! Inbound traffic from the SMSC: every `deliver_sm` / `data_sm` the link hands over is either a
//! delivery receipt (matched against the outbox) or an MO message part (written to the inbox),
//! and is acknowledged to the SMSC only after that write has committed (DESIGN.md flow steps 1-2).
//!
//! Complete MO messages are decoded to text once whole and handed on as [`MoMessage`] values;
//! they stay `pending` in the inbox until the consumer marks them processed, so a crash between
//! the two never loses one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rusmpp::tlvs::{TlvTag, TlvValue};
use rusmpp::{Command, CommandStatus, Pdu};
use sms_wire::framing::{encode_command, esm_class, find_tlv};
use sms_wire::reassembly::{part_from_pdu, PartOrWhole};
use sms_wire::receipt::{message_id_variants, DeliveryReceipt, ReceiptStatus};
use sms_wire::segment::SarInfo;
use sms_wire::udh::Udh;
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::smpp::{Inbound, LinkHandle, ReceiptGates};
use crate::store::inbox::{
    self, CompleteMessage, Concat, ConcatScheme, InboundPdu, Received, UssdTag,
};
use crate::store::outbox::ReceiptState;
use crate::store::{outbox, MoPdu, Store};

/// A delivery receipt read from a deliver_sm (TLVs first, receipt text as fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptEvent {
    /// The SMSC message id the receipt is about, as sent.
    pub message_id: String,
    /// The final or intermediate state, when recognised.
    pub status: Option<ReceiptStatus>,
    /// The `stat:` text or message_state number, as received.
    pub stat_raw: String,
    /// The `err:` field, if any.
    pub err: Option<String>,
    /// The receipt's source address: the handset the message went to (SMPP 3.4 §2.11).
    pub source: String,
    /// The receipt's destination address (the message's sender, or the handset where an SMSC
    /// swaps them).
    pub destination: String,
}

/// What an inbound PDU is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundKind {
    /// A delivery receipt for one of our submits.
    Receipt(ReceiptEvent),
    /// An MO message, or one part of one.
    Mo(InboundPdu),
}

/// Why an inbound PDU could not be understood (it is still acknowledged: redelivery would not help).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Not a deliver_sm or data_sm.
    #[error("not a deliver_sm or data_sm")]
    NotAMessage,
    /// A receipt without a usable message id.
    #[error("delivery receipt without a message id: {0}")]
    BadReceipt(String),
    /// Concatenation or UDH that cannot be read.
    #[error("unreadable message part: {0}")]
    BadPart(String),
    /// A message type that is neither a message nor a receipt: an SME delivery or user
    /// acknowledgement, a conversation abort (`esm_class` bits 2-5, SMPP 3.4 §5.2.12).
    #[error("message type {0:#04x} in esm_class is not a message for the service")]
    NotForService(u8),
}

impl InboundError {
    /// The answer to the SMSC. A part whose UDH cannot be read is refused for good
    /// (`ESME_RX_P_APPN`): it is not stored, so acknowledging it would tell the SMSC a message
    /// was taken that the gateway dropped, and sending it again would not help. The rest are
    /// acknowledged: a receipt without an id or an acknowledgement from a handset carries
    /// nothing for the service, and refusing it would only make the SMSC retry it.
    pub fn answer(&self) -> CommandStatus {
        match self {
            InboundError::BadPart(_) => CommandStatus::EsmeRxPAppn,
            _ => CommandStatus::EsmeRok,
        }
    }
}

/// A complete MO message, decoded, ready for the command service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoMessage {
    /// Inbox id, for marking it processed.
    pub inbox_id: i64,
    /// The subscriber's address as received.
    pub source: String,
    /// Where it was sent, as received: the service number, an alias or the USSD code; an MO
    /// to any other number is kept but not run (`Service::is_for_service`).
    pub destination: String,
    /// The decoded text.
    pub text: String,
    /// When the last part arrived (Unix ms).
    pub received_at: i64,
    /// USSD TLVs when this is a USSD dialogue unit (then `destination` is the service code).
    pub ussd: Option<UssdTag>,
}

fn c_octet(v: &TlvValue) -> Option<String> {
    match v {
        TlvValue::ReceiptedMessageId(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A source address as its type of number says: an international number (TON 1) written
/// without its `+` gets one, so that `447911123456` from a roamer is read as +44..., not as a
/// national number with the service's country code in front.
fn with_ton(address: String, ton: u8) -> String {
    const INTERNATIONAL: u8 = 1;
    if ton != INTERNATIONAL || address.is_empty() || !address.bytes().all(|b| b.is_ascii_digit()) {
        return address;
    }
    // Some SMSCs keep the international prefix 00 as well.
    match address.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None if address.starts_with('0') => address,
        None => format!("+{address}"),
    }
}

/// Classify one inbound PDU (pure: no I/O).
pub fn classify(cmd: &Command, now_ms: i64) -> Result<InboundKind, InboundError> {
    let (source, destination, esm, dcs, sm, tlvs) = match cmd.pdu() {
        Some(Pdu::DeliverSm(d)) => (
            with_ton(d.source_addr.to_string(), u8::from(d.source_addr_ton)),
            d.destination_addr.to_string(),
            u8::from(d.esm_class),
            u8::from(d.data_coding),
            d.short_message().as_ref().to_vec(),
            d.tlvs(),
        ),
        Some(Pdu::DataSm(d)) => (
            with_ton(d.source_addr.to_string(), u8::from(d.source_addr_ton)),
            d.destination_addr.to_string(),
            u8::from(d.esm_class),
            u8::from(d.data_coding),
            Vec::new(),
            d.tlvs(),
        ),
        _ => return Err(InboundError::NotAMessage),
    };
    let receipted = find_tlv(tlvs, TlvTag::ReceiptedMessageId)
        .and_then(c_octet)
        .filter(|id| !id.trim().is_empty());
    // esm_class bits 2-5 = message type (SMPP 3.4 §5.2.12): a delivery receipt or an
    // intermediate notification is a receipt; an acknowledgement from the handset is not a
    // message for the service.
    let kind = esm & esm_class::TYPE_MASK;
    let is_receipt = kind == esm_class::DELIVERY_RECEIPT
        || kind == esm_class::INTERMEDIATE_NOTIFICATION
        || receipted.is_some();
    if !is_receipt && kind != 0 {
        return Err(InboundError::NotForService(kind));
    }
    let payload_tlv = match find_tlv(tlvs, TlvTag::MessagePayload) {
        Some(TlvValue::MessagePayload(p)) => Some(p.value.as_ref().to_vec()),
        _ => None,
    };
    if is_receipt {
        let text_bytes = if sm.is_empty() {
            payload_tlv.clone().unwrap_or_default()
        } else {
            sm.clone()
        };
        let text = String::from_utf8_lossy(&text_bytes).into_owned();
        let parsed = DeliveryReceipt::parse(&text).ok();
        let state = match find_tlv(tlvs, TlvTag::MessageState) {
            Some(TlvValue::MessageState(s)) => Some(u8::from(*s)),
            _ => None,
        };
        let message_id = receipted
            .or_else(|| parsed.as_ref().map(|p| p.id.clone()))
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| InboundError::BadReceipt(text.chars().take(80).collect()))?;
        let status = state
            .and_then(ReceiptStatus::from_message_state)
            .or_else(|| parsed.as_ref().and_then(|p| p.stat));
        let stat_raw = parsed
            .as_ref()
            .map(|p| p.stat_raw.clone())
            .filter(|s| !s.is_empty())
            .or_else(|| state.map(|s| s.to_string()))
            .unwrap_or_default();
        return Ok(InboundKind::Receipt(ReceiptEvent {
            message_id,
            status,
            stat_raw,
            err: parsed.and_then(|p| p.err),
            source,
            destination,
        }));
    }
    let sar = match (
        find_tlv(tlvs, TlvTag::SarMsgRefNum),
        find_tlv(tlvs, TlvTag::SarTotalSegments),
        find_tlv(tlvs, TlvTag::SarSegmentSeqnum),
    ) {
        (
            Some(TlvValue::SarMsgRefNum(r)),
            Some(TlvValue::SarTotalSegments(t)),
            Some(TlvValue::SarSegmentSeqnum(s)),
        ) => Some(SarInfo {
            reference: *r,
            total: *t,
            seq: *s,
        }),
        _ => None,
    };
    let classified = part_from_pdu(
        &source,
        &destination,
        esm,
        dcs,
        &sm,
        sar.clone(),
        payload_tlv.as_deref(),
    )
    .map_err(|e| InboundError::BadPart(e.to_string()))?;
    let (payload, concat) = match classified {
        PartOrWhole::Whole { payload, .. } => (payload, None),
        PartOrWhole::Part(p) => {
            // Only parts need the scheme; the UDH is read again only for them.
            let scheme = if sar.is_some() {
                ConcatScheme::Sar
            } else {
                match Udh::split(&sm).ok().and_then(|(u, _)| u.concat()) {
                    Some(c) if c.wide => ConcatScheme::Udh16,
                    _ => ConcatScheme::Udh8,
                }
            };
            (
                p.payload,
                Some(Concat {
                    scheme,
                    reference: p.key.reference,
                    total: p.key.total,
                    seq: p.seq,
                }),
            )
        }
    };
    let ussd = match find_tlv(tlvs, TlvTag::UssdServiceOp) {
        Some(TlvValue::UssdServiceOp(op)) => Some(UssdTag {
            op: u8::from(*op),
            session: match find_tlv(tlvs, TlvTag::ItsSessionInfo) {
                Some(TlvValue::ItsSessionInfo(i)) => Some([i.session_number, i.sequence_number]),
                _ => None,
            },
        }),
        _ => None,
    };
    Ok(InboundKind::Mo(InboundPdu {
        ussd,
        received_at: now_ms,
        source,
        destination,
        smsc_message_id: None,
        esm_class: esm,
        data_coding: dcs,
        raw: encode_command(cmd),
        payload,
        concat,
        link_session: None,
    }))
}

/// Decode a complete message's text. GSM-7 parts are decoded one by one (an escape never spans
/// parts); UCS-2 is joined first, so a surrogate pair split by a sloppy sender still decodes.
pub fn decode_text(msg: &CompleteMessage) -> String {
    use sms_wire::text::{decode, Alphabet};
    match Alphabet::from_data_coding(msg.data_coding) {
        Alphabet::Gsm7 => msg
            .parts
            .iter()
            .map(|p| decode(msg.data_coding, p))
            .collect(),
        _ => decode(msg.data_coding, &msg.payload()),
    }
}

fn to_mo(msg: &CompleteMessage) -> MoMessage {
    MoMessage {
        inbox_id: msg.id,
        source: msg.source.clone(),
        destination: msg.destination.clone(),
        text: decode_text(msg),
        received_at: msg.received_at,
        ussd: msg.ussd,
    }
}

/// What a receipt status means for the outbox.
pub fn receipt_state(status: Option<ReceiptStatus>) -> ReceiptState {
    match status {
        Some(s) if s.is_final() && s.is_success() => ReceiptState::Delivered,
        Some(s) if s.is_final() => ReceiptState::Failed,
        _ => ReceiptState::Intermediate,
    }
}

/// A receipt ready to apply: the id's candidate forms, the numbers it names, the `stat` text
/// and what it means.
struct ReceiptWrite {
    variants: Vec<String>,
    /// The numbers it names (`outbox::receipt_addresses`).
    addresses: Vec<String>,
    stat: String,
    state: ReceiptState,
}

impl ReceiptWrite {
    fn new(r: &ReceiptEvent) -> Self {
        let stat = if r.stat_raw.is_empty() {
            r.status
                .map(|s| s.as_stat().to_string())
                .unwrap_or_default()
        } else {
            r.stat_raw.clone()
        };
        ReceiptWrite {
            variants: message_id_variants(&r.message_id),
            addresses: outbox::receipt_addresses(&r.source, &r.destination),
            stat,
            state: receipt_state(r.status),
        }
    }

    /// Apply it in `tx`.
    fn apply(
        &self,
        tx: &rusqlite::Transaction<'_>,
        now: i64,
    ) -> Result<outbox::ReceiptMatch, crate::store::StoreError> {
        let m = outbox::apply_receipt(
            tx,
            &self.variants,
            &self.addresses,
            &self.stat,
            self.state,
            now,
        )?;
        // A WAP Push the handset could not take: it gets the link by SMS, and is remembered
        // as a handset without WAP Push.
        if let outbox::ReceiptMatch::Matched {
            outbox_id,
            state: outbox::OutboxState::Failed,
            ..
        } = m
        {
            crate::service::avatar::push_failed(tx, outbox_id, now)?;
        }
        Ok(m)
    }
}

/// What one inbound PDU asks the store to do.
enum Write {
    Receipt(ReceiptWrite),
    Mo(InboundPdu),
}

/// What one write came to.
enum Wrote {
    Receipt(outbox::ReceiptMatch),
    /// What the MO came to, the inbox row holding its dedup key, and whether it was a whole
    /// message (not a part).
    Mo(Received, i64, bool),
}

impl Write {
    fn run(
        &self,
        tx: &rusqlite::Transaction<'_>,
        now: i64,
    ) -> Result<Wrote, crate::store::StoreError> {
        match self {
            Write::Receipt(r) => r.apply(tx, now).map(Wrote::Receipt),
            Write::Mo(pdu) => inbox::receive_keyed(tx, pdu, inbox::DEFAULT_DEDUP_WINDOW)
                .map(|(received, key_row)| Wrote::Mo(received, key_row, pdu.concat.is_none())),
        }
    }
}

/// Tell the operator that the SMSC's receipt failed row `outbox_id` (at `segment`, when
/// known): at WARN, as a failure in a `submit_sm_resp` is (`delivery`). Called once per row,
/// whichever path applied the receipt: when it came, when its segment was recorded after it
/// (it beat the response), or when the dispatcher matched it after the grace.
pub(crate) fn warn_failed_by_receipt(outbox_id: i64, segment: Option<u8>) {
    warn!(
        outbox_id,
        segment, "message failed: the SMSC's delivery receipt says it was not delivered"
    );
}

/// Acknowledge one inbound PDU according to its write's fate; a complete MO is returned.
/// `mo`: the PDU is an MO message or part (not a receipt), counted in the store's MO counts
/// ([`crate::store::Stats::mo_pdus`], [`crate::store::Stats::mo_messages`]) before it is
/// answered.
fn settle(
    store: &Store,
    inbound: Inbound,
    result: Result<Wrote, String>,
    mo: bool,
) -> Option<MoMessage> {
    match result {
        Ok(Wrote::Receipt(m)) => {
            match m {
                // A failure the SMSC reports only by receipt is as much a failure as one in a
                // submit_sm_resp, which is logged at WARN (`delivery`).
                outbox::ReceiptMatch::Matched {
                    outbox_id,
                    seq,
                    state: outbox::OutboxState::Failed,
                    changed: true,
                    ..
                } => warn_failed_by_receipt(outbox_id, Some(seq)),
                outbox::ReceiptMatch::Matched {
                    outbox_id,
                    seq,
                    state,
                    ..
                } => debug!(
                    outbox_id,
                    segment = seq,
                    state = state.as_str(),
                    "receipt applied"
                ),
                outbox::ReceiptMatch::Unknown => {
                    debug!("receipt held: no recorded submit has its message id (yet)")
                }
            }
            inbound.ack(CommandStatus::EsmeRok);
            None
        }
        Ok(Wrote::Mo(received, key_row, whole)) => {
            if let Received::Duplicate = received {
                // At info: a subscriber who sent the same text again right after a link
                // drop that may have lost the first one's answer is taken for the SMSC's
                // resend, and an operator should see that.
                let from = match inbound.command.pdu() {
                    Some(Pdu::DeliverSm(d)) => d.source_addr.to_string(),
                    Some(Pdu::DataSm(d)) => d.source_addr.to_string(),
                    _ => String::new(),
                };
                info!(
                    from = %crate::command::mask(&from),
                    "MO identical to one taken within 2 minutes (the SMSC's resend after a lost answer, or the same text sent again on a later SMPP session): acknowledged, not run again"
                );
                store.note_mo_duplicate();
            } else {
                store.note_mo_pdu(MoPdu::Stored);
            }
            if let Received::Complete(_) = received {
                store.note_mo_message();
            }
            inbound.ack_stored(key_row, whole);
            match received {
                Received::Complete(msg) => Some(to_mo(&msg)),
                Received::Partial { .. } => {
                    debug!("MO part stored; waiting for the rest");
                    None
                }
                Received::Duplicate => None,
            }
        }
        Err(e) => {
            warn!(error = %e, "could not store inbound PDU; the SMSC will redeliver");
            if mo {
                store.note_mo_pdu(MoPdu::Deferred);
            }
            inbound.ack(CommandStatus::EsmeRxTAppn);
            None
        }
    }
}

/// Handle one inbound PDU: persist, then acknowledge. Returns a complete MO message, if any.
pub async fn handle(store: &Store, inbound: Inbound) -> Option<MoMessage> {
    handle_batch(store, vec![inbound], None).await.pop()
}

/// Longest a receipt waits for the record of its own submit (see [`crate::smpp::gate`]);
/// past it, it is written anyway and held until the record comes.
const RECEIPT_GATE_WAIT: Duration = Duration::from_secs(2);

/// Handle many inbound PDUs with one store write: every receipt and MO part is written in one
/// transaction, then each PDU is acknowledged (none before the commit). If any write fails,
/// the batch's changes are rolled back and each PDU is written alone, so one bad PDU costs
/// only its own redelivery. Receipts for submits the SMSC accepted but the dispatcher has not
/// recorded yet wait for that record first (`gates`), so they find their segment. Returns the
/// complete MO messages, in arrival order.
pub async fn handle_batch(
    store: &Store,
    batch: Vec<Inbound>,
    gates: Option<&ReceiptGates>,
) -> Vec<MoMessage> {
    let now = crate::store::now_ms();
    let mut waiting: Vec<(Inbound, Write)> = Vec::with_capacity(batch.len());
    let mut unrecorded: Vec<String> = Vec::new();
    for inbound in batch {
        match classify(&inbound.command, now) {
            Err(e @ InboundError::NotForService(_)) => {
                debug!(error = %e, "acknowledged and not used");
                inbound.ack(e.answer());
            }
            Err(e) => {
                let answer = e.answer();
                if let InboundError::BadPart(_) = e {
                    store.note_mo_pdu(MoPdu::Refused);
                }
                warn!(error = %e, answer = ?answer, "unusable inbound PDU answered and dropped");
                inbound.ack(answer);
            }
            Ok(InboundKind::Receipt(r)) => {
                if gates.is_some_and(|g| g.is_open(&r.message_id)) {
                    unrecorded.push(r.message_id.clone());
                }
                waiting.push((inbound, Write::Receipt(ReceiptWrite::new(&r))))
            }
            Ok(InboundKind::Mo(mut pdu)) => {
                pdu.link_session = i64::try_from(inbound.session).ok();
                waiting.push((inbound, Write::Mo(pdu)))
            }
        }
    }
    if waiting.is_empty() {
        return Vec::new();
    }
    if let Some(gates) = gates {
        // One deadline for the whole batch, not one per receipt.
        if !gates.wait_all(&unrecorded, RECEIPT_GATE_WAIT).await {
            debug!("a receipt's submit is still not recorded; the receipt is held instead");
        }
    }
    let (inbounds, writes): (Vec<Inbound>, Vec<Write>) = waiting.into_iter().unzip();
    let writes = Arc::new(writes);
    let all = writes.clone();
    let together = store
        .write(move |tx| {
            all.iter()
                .map(|w| w.run(tx, now))
                .collect::<Result<Vec<Wrote>, _>>()
        })
        .await;
    let results: Vec<Result<Wrote, String>> = match together {
        Ok(wrote) => wrote.into_iter().map(Ok).collect(),
        Err(e) if writes.len() == 1 => vec![Err(e.to_string())],
        Err(e) => {
            debug!(error = %e, items = writes.len(), "batched inbound write failed; one by one");
            let mut each = Vec::with_capacity(writes.len());
            for i in 0..writes.len() {
                let w = writes.clone();
                each.push(
                    store
                        .write(move |tx| w[i].run(tx, now))
                        .await
                        .map_err(|e| e.to_string()),
                );
            }
            each
        }
    };
    inbounds
        .into_iter()
        .zip(results)
        .zip(writes.iter())
        .filter_map(|((inbound, result), w)| {
            settle(store, inbound, result, matches!(w, Write::Mo(_)))
        })
        .collect()
}

/// Most inbound PDUs written in one store request.
const INBOUND_BATCH: usize = 256;

/// Run the inbound pump: take every PDU waiting from the link (up to `INBOUND_BATCH`), write
/// them in one store request, with up to `concurrency` PDUs in hand at once (so batches share
/// group commits too), and hand complete MO messages to `mo` in the order their PDUs were
/// read: first every message an earlier run left pending (oldest first), then the live ones.
/// Batches are written concurrently, but their messages are released in batch order, so one
/// subscriber's commands reach the service in the order they were sent even when a batch
/// waits for a receipt gate or is retried PDU by PDU.
///
/// The batches in hand are futures polled by this one task, not spawned tasks, and the
/// release happens here too: a spawn (or a hand-off to another task) per batch woke an idle
/// tokio worker, a futex wake and a cross-core hand-off per receipt when receipts arrive one
/// at a time.
pub async fn run(
    store: Store,
    mut from_link: mpsc::Receiver<Inbound>,
    mo: mpsc::Sender<MoMessage>,
    concurrency: usize,
    link: LinkHandle,
) {
    let gates = link.receipt_gates();
    let concurrency = concurrency.max(1);
    let most = concurrency.min(INBOUND_BATCH);
    let mut in_hand = 0usize;
    type Done = (usize, u64, Vec<MoMessage>);
    let mut batches: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut open = true;
    // Messages to hand on, in order: the pending ones first.
    let mut release: std::collections::VecDeque<MoMessage> = pending_all(&store).await.into();
    // How many of those at the front are the earlier run's (they do not count against the
    // limit on live messages waiting, or a large backlog would stop the link being read).
    let mut backlog = release.len();
    let mut ready: std::collections::BTreeMap<u64, Vec<MoMessage>> = Default::default();
    let (mut next_batch, mut next_release) = (0u64, 0u64);
    // Whether the consumer is still there; gone (the service stopping before the link), the
    // pump goes on storing and acknowledging until the link closes, and what it would have
    // handed on stays pending for the next start.
    let mut consumer = true;
    loop {
        tokio::select! {
            // Finished batches first: they free room for the next.
            Some((pdus, seq, complete)) = batches.next(), if !batches.is_empty() => {
                in_hand -= pdus;
                if seq == next_release {
                    // The usual case: batches finish in order, nothing waits in `ready`.
                    next_release += 1;
                    release.extend(complete);
                } else {
                    ready.insert(seq, complete);
                }
                while let Some(msgs) = ready.remove(&next_release) {
                    next_release += 1;
                    release.extend(msgs);
                }
            }
            permit = mo.reserve(), if consumer && !release.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(m) = release.pop_front() {
                        backlog = backlog.saturating_sub(1);
                        permit.send(m);
                    }
                }
                Err(_) => {
                    warn!(
                        waiting = release.len(),
                        "the command service is gone: MO is stored and acknowledged, and applied at the next start"
                    );
                    consumer = false;
                    release.clear();
                    backlog = 0;
                }
            },
            // A consumer that falls behind slows the reading down (the link's queue then
            // fills and the SMSC is answered ESME_RX_T_APPN), instead of messages piling up
            // here without bound.
            got = from_link.recv(),
                if open && in_hand < concurrency && release.len() - backlog < RELEASE_MAX => {
                let Some(first) = got else {
                    open = false;
                    continue;
                };
                let room = (concurrency - in_hand).min(most);
                let mut batch = vec![first];
                while batch.len() < room {
                    match from_link.try_recv() {
                        Ok(i) => batch.push(i),
                        Err(_) => break,
                    }
                }
                // (What the SMSC is known to have read is told to the inbox at the start of
                // the store transaction that writes this batch, ahead of it:
                // `retire_answers_read`, set up by the gateway as the store's prelude.)
                let pdus = batch.len();
                in_hand += pdus;
                let seq = next_batch;
                next_batch += 1;
                let (store, gates) = (store.clone(), gates.clone());
                let span = info_span!("inbound", seq = batch[0].command.sequence_number(), pdus);
                batches.push(Box::pin(
                    async move {
                        let complete = handle_batch(&store, batch, Some(&gates)).await;
                        (pdus, seq, complete)
                    }
                    .instrument(span),
                ));
            }
            else => break,
        }
        if !consumer {
            release.clear();
            ready.clear();
            backlog = 0;
        }
    }
}

/// Tell the inbox, in `tx`, which sessions the SMSC read every answer of
/// (`inbox::forget_sessions`) and which answers it is known to have read
/// (`inbox::forget_answered`): a whole message's as soon as the SMSC answered a request
/// written after it, a part's when its session ended (see `smpp::LinkHandle::take_read_answers`).
/// Their PDUs' dedup keys are retired, so the same text later is the subscriber's and runs.
///
/// The gateway runs this at the start of every store write (`Store::before_each_batch`),
/// ahead of that write's requests: the confirmations reach the database with the next write
/// that happens anyway, with no commit of their own. For a command with a reply that write
/// is usually the record of the reply's `submit_sm_resp`, the very response that showed the
/// command's answer read; an inbound batch of a later session always finds the earlier
/// session's confirmations retired before its own PDUs are written. What is taken here is
/// lost if the write does not commit (a crash, a failed commit): those keys are then left
/// to the dedup window, the safe side (a resend is never run twice; the subscriber's repeat
/// may be taken for one). Returns how many keys went.
pub fn retire_answers_read(
    tx: &rusqlite::Transaction<'_>,
    link: &LinkHandle,
    now: i64,
) -> Result<usize, crate::store::StoreError> {
    let sessions = link.take_read_out_sessions();
    let rows = link.take_read_answers();
    if sessions.is_empty() && rows.is_empty() {
        return Ok(0);
    }
    Ok(
        inbox::forget_sessions(tx, &sessions, inbox::DEFAULT_DEDUP_WINDOW, now)?
            + inbox::forget_answered(tx, &rows)?,
    )
}

/// [`retire_answers_read`] in a write of its own, for when no other write may follow (the
/// gateway's stop, after the link unbound). A failure only leaves their PDUs' keys to the
/// dedup window, as before.
pub async fn forget_answers_read(store: &Store, link: &LinkHandle) {
    let link = link.clone();
    let forget = move |tx: &rusqlite::Transaction<'_>| {
        retire_answers_read(tx, &link, crate::store::now_ms())
    };
    if let Err(e) = store.write(forget).await {
        warn!(error = %e, "could not retire the dedup keys of the answers the SMSC read");
    }
}

/// Most complete messages waiting to be handed on before the pump stops reading the link.
const RELEASE_MAX: usize = 1024;

/// Pages of pending messages read at a time at start.
const PENDING_PAGE: usize = 1000;

/// Every message an earlier run left pending, oldest first.
async fn pending_all(store: &Store) -> Vec<MoMessage> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let page = store
            .read(move |c| inbox::pending_messages_after(c, after, PENDING_PAGE))
            .await
            .unwrap_or_default();
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() == PENDING_PAGE;
        all.extend(page.iter().map(to_mo));
        if !full {
            break;
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rusmpp::pdus::DeliverSm;
    use rusmpp::tlvs::MessageDeliveryRequestTlvValue as Tlv;
    use rusmpp::types::{COctetString, OctetString};
    use rusmpp::values::EsmClass;

    use super::*;

    fn deliver(esm: u8, text: &str, receipted: Option<&str>) -> Command {
        let mut b = DeliverSm::builder()
            .source_addr(COctetString::from_str("8613800138000").unwrap())
            .destination_addr(COctetString::from_str("10658").unwrap())
            .esm_class(EsmClass::from(esm))
            .short_message(OctetString::from_str(text).unwrap());
        if let Some(id) = receipted {
            b = b.push_tlv(Tlv::ReceiptedMessageId(COctetString::from_str(id).unwrap()));
        }
        Command::new(CommandStatus::EsmeRok, 1, b.build())
    }

    const RECEIPT_TEXT: &str = "id:1A2B sub:001 dlvrd:001 submit date:2612061200 \
                                done date:2612061201 stat:DELIVRD err:000 text:hi";

    #[test]
    fn an_international_source_keeps_its_country() {
        use rusmpp::values::Ton;
        let mo = |ton: Ton, from: &str| {
            let d = DeliverSm::builder()
                .source_addr_ton(ton)
                .source_addr(COctetString::from_str(from).unwrap())
                .destination_addr(COctetString::from_str("10658").unwrap())
                .esm_class(EsmClass::from(0))
                .short_message(OctetString::from_str("WHO 13800138000").unwrap())
                .build();
            match classify(&Command::new(CommandStatus::EsmeRok, 1, d), 0) {
                Ok(InboundKind::Mo(p)) => p.source,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(mo(Ton::International, "447911123456"), "+447911123456");
        assert_eq!(mo(Ton::International, "+447911123456"), "+447911123456");
        assert_eq!(mo(Ton::International, "00447911123456"), "+447911123456");
        assert_eq!(mo(Ton::National, "13800138000"), "13800138000");
        assert_eq!(mo(Ton::Alphanumeric, "BANK"), "BANK");
    }

    #[test]
    fn an_empty_receipted_message_id_falls_back_to_the_receipt_text() {
        let Ok(InboundKind::Receipt(r)) = classify(&deliver(0x04, RECEIPT_TEXT, Some("")), 0)
        else {
            panic!("not a receipt")
        };
        assert_eq!(r.message_id, "1A2B");
        assert_eq!(r.status, Some(ReceiptStatus::Delivered));
    }

    #[test]
    fn message_types_other_than_a_message_or_a_receipt_are_not_commands() {
        // An intermediate notification is a receipt (its state decides what it does).
        let text = RECEIPT_TEXT.replace("DELIVRD", "ENROUTE");
        let Ok(InboundKind::Receipt(r)) = classify(&deliver(0x20, &text, None), 0) else {
            panic!("an intermediate notification is a receipt")
        };
        assert_eq!(receipt_state(r.status), ReceiptState::Intermediate);
        // SME delivery / user acknowledgements and a conversation abort: acknowledged, unused.
        for esm in [0x08u8, 0x10, 0x18, 0x08 | 0x40] {
            let e = classify(&deliver(esm, "STATUS FAMILY FREE", None), 0).unwrap_err();
            assert_eq!(
                e,
                InboundError::NotForService(esm & 0x3C),
                "esm_class {esm:#x}"
            );
            assert_eq!(e.answer(), CommandStatus::EsmeRok);
        }
        // An ordinary message (store-and-forward mode bits set) is still a command.
        assert!(matches!(
            classify(&deliver(0x03, "STATUS FAMILY FREE", None), 0),
            Ok(InboundKind::Mo(_))
        ));
    }

    #[test]
    fn a_part_with_an_unreadable_udh_is_refused_not_acknowledged() {
        // UDHI set; UDHL 5 but only 4 octets follow.
        let mut c = deliver(0x40, "", None);
        if let Some(Pdu::DeliverSm(d)) = c.pdu() {
            let mut d = d.clone();
            d.set_short_message(OctetString::from_vec(vec![5, 0, 3, 0x2A, 2]).unwrap());
            c = Command::new(CommandStatus::EsmeRok, 1, d);
        }
        let e = classify(&c, 0).unwrap_err();
        assert!(matches!(e, InboundError::BadPart(_)), "{e:?}");
        assert_eq!(e.answer(), CommandStatus::EsmeRxPAppn);
    }
}
