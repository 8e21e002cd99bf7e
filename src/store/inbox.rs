//! The durable MO inbox: every `deliver_sm` is recorded here before its `deliver_sm_resp`
//! (DESIGN.md "How a command flows", steps 1-2); concatenated parts wait until complete; a
//! complete message is handed on exactly once, even across a restart.
//!
//! Tables (see [`super::schema`]): `inbox_pdu` (each PDU, with its dedup key), `inbox_part`
//! (user data per part; open parts have no message yet), `inbox_message` (a complete message,
//! `pending` until the service marks it `processed` in the same transaction as its effects).
//!
//! # Duplicates
//! An SMSC resends a `deliver_sm` whose response it did not see. Each PDU gets a dedup key,
//! SHA-256 over:
//! - a concatenated part (3GPP TS 23.040 §9.2.3.24.1/§9.2.3.24.8 UDH, or SMPP 3.4 §5.3.2.22-24
//!   SAR TLVs): (source, destination, reference, total, seq);
//! - a whole message: (source, destination, data_coding, payload, SMSC message id if any).
//!
//! A PDU whose key was seen within the dedup window (default [`DEFAULT_DEDUP_WINDOW`], 2
//! minutes, by `received_at`) is a [`RecordOutcome::Duplicate`] and produces nothing, with one
//! exception: a whole message whose earlier copy came on the SAME SMPP session
//! ([`InboundPdu::link_session`]) is new. An SMSC resends a PDU because its answer was lost,
//! and an answer is lost with its link: the resend comes on a later session. The same text
//! again on one session is the subscriber's (`STATUS FAMILY FREE`, `BUSY`, `FREE` within a
//! minute; `WHO 138...` asked twice), and every command gets a reply. A resend is marked with
//! the session it came on, so a repeat after it on that session is new too. (The residual
//! risk: an SMSC that resends on the same session after its own response timeout, which our
//! answers miss only while the database is held for longer than that timeout; the command
//! then runs twice, which the status service takes calmly: a repeated STATUS notifies nobody.)
//!
//! An answer the SMSC has read leaves no resend to expect, and the key of its PDU is retired:
//! the same text on a later session is then the subscriber's, and runs.
//! - A session that ended with every answer read (an unbind, ours or its, with nothing left
//!   unanswered: a graceful stop, a failover's return to the primary): [`forget_sessions`]
//!   retires all its keys.
//! - Any other answer: TCP delivers in order, so once the SMSC has answered a request we
//!   wrote after an answer (its `enquire_link_resp` to our keepalive, the `submit_sm_resp` to
//!   the reply the command caused), it had read that answer. The session (`smpp::session`)
//!   counts its `ESME_ROK` answers in write order and notes on each request how many went
//!   before it; the request's response marks those as read. The inbox rows those answers
//!   stood for ([`receive_keyed`]) go to [`forget_answered`]: a whole message's as soon as
//!   that response is read, a part's when the session ends, however it ends (see below).
//!
//! The confirmations are not written on their own: the gateway retires the keys at the start
//! of the store's next write, whatever it is, in the same transaction
//! (`inbound::retire_answers_read`, run by `Store::before_each_batch`). For a command with a
//! reply that write is normally the record of the reply's `submit_sm_resp`, the response that
//! showed the command's answer read; the next session's PDUs are always written after the
//! earlier sessions' confirmations. Nothing is written per PDU for it.
//!
//! Why a part's key waits for its session's end: on that session it is what tells a late
//! resend of the part (an SMSC that timed out waiting for our answer) from a new part, while
//! a whole message's key no longer matters there (the same text again on the same session
//! is new anyway, see above). A subscriber who sends the same long text again gets a new
//! reference from the handset, so the new parts have other keys.
//!
//! # Across a crash
//! The rule that matters most holds whatever the moment of a crash (kill -9): a key is
//! retired only once the SMSC has shown it read the answer, so a PDU whose answer was lost
//! keeps its key for the window, and its resend after the restart is a duplicate, never run
//! twice. A crash can only lose confirmations not written yet, which leaves their keys to
//! the window, the safe side. What is lost:
//! - a whole message whose answer was known read after the last store write began (the
//!   crash came between the SMSC's response and the next write: for a command with a reply,
//!   before the reply's `submit_sm_resp` was recorded);
//! - the parts of the session the crash ended (their confirmations live in its memory until
//!   it ends);
//! - sessions read out or parts confirmed at a session's end, when no write followed before
//!   the crash.
//!
//! For those the same text from the subscriber within the window after the restart is taken
//! for a resend, acknowledged and not run (counted in `presence_gw_inbox_duplicates_total`).
//! A shorter window for keys of sessions that ended before the restart would not be safe:
//! the window counts from the first copy's arrival, the SMSC resends a lost answer's PDU only
//! after it bound again (and at its own pace), and a restart may take much of the window.
//!
//! Only the answers the SMSC is not known to have read (written after the last request it
//! answered, or never written because the link went first) leave their keys to the window: it
//! may resend their PDUs, and a resend is a duplicate. So is the same text from the
//! subscriber then, the trade-off that remains.
//!
//! After the window the same content counts as new. The window is short on purpose: an SMSC
//! resends a lost response's PDU within seconds of its response timeout or of the rebind.
//!
//! A part whose slot (key, seq) is already taken among the open parts is a duplicate whatever
//! its age when its user data is the same; with other user data it starts a new message that
//! reuses the reference of an earlier one that never completed, and that earlier one's parts
//! are dropped (marked 'expired') instead of being mixed in. The trade-off: an 8-bit reference
//! reused by the same handset for the same destination and part count within the window is
//! taken for a resend.
//!
//! # Parts that never come
//! A message still missing parts after the service's parts timeout is dropped by
//! [`expire_incomplete`] (its PDUs stay, marked 'expired'), and the service asks the sender to
//! send it again (`Service::abandon_incomplete`).
//!
//! # Completeness
//! The persisted truth is SQLite: a concatenated message is complete when the open parts of its
//! key hold `total` distinct sequence numbers. [`take_complete`] then creates the
//! `inbox_message` row and attaches the parts to it in the caller's transaction, so a message is
//! handed on once; [`pending_messages`] re-hands those not yet [`mark_processed`] after a
//! restart. Parts are returned separately in sequence order because GSM-7 septet packing makes
//! byte concatenation wrong for some encodings; `sms-wire` decodes and joins them.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::{Ctx, StoreError};

/// Default duplicate window for [`record_part`] / [`receive`].
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(2 * 60);

/// How a concatenated part was marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcatScheme {
    /// UDH IEI 0x00, 8-bit reference (3GPP TS 23.040 §9.2.3.24.1).
    Udh8,
    /// UDH IEI 0x08, 16-bit reference (3GPP TS 23.040 §9.2.3.24.8).
    Udh16,
    /// SMPP 3.4 §5.3.2.22-24 `sar_msg_ref_num` / `sar_total_segments` / `sar_segment_seqnum`.
    Sar,
}

impl ConcatScheme {
    fn as_str(self) -> &'static str {
        match self {
            ConcatScheme::Udh8 => "udh8",
            ConcatScheme::Udh16 => "udh16",
            ConcatScheme::Sar => "sar",
        }
    }
}

/// Concatenation information of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    /// How the part was marked.
    pub scheme: ConcatScheme,
    /// Concatenated message reference number.
    pub reference: u16,
    /// Number of parts in the message (1..=255).
    pub total: u8,
    /// This part's number (1..=total).
    pub seq: u8,
}

/// One MO PDU as the `smpp` layer decoded it; plain fields so the store does not depend on
/// the wire types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPdu {
    /// When it was read, Unix ms.
    pub received_at: i64,
    /// `source_addr` (the subscriber).
    pub source: String,
    /// `destination_addr` (our service number).
    pub destination: String,
    /// A message id the SMSC put on the PDU, if any (vendor TLV); part of the whole-message key.
    pub smsc_message_id: Option<String>,
    /// `esm_class`.
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// The PDU as received (for audit; may be empty).
    pub raw: Vec<u8>,
    /// User data without the UDH (`short_message` or `message_payload`).
    pub payload: Vec<u8>,
    /// Set for a part of a concatenated message.
    pub concat: Option<Concat>,
    /// USSD TLVs, for a USSD dialogue unit.
    pub ussd: Option<UssdTag>,
    /// The SMPP session it came on (`smpp::Inbound::session`), when known. Stored; for a
    /// whole message, the session its last copy came on.
    pub link_session: Option<i64>,
}

/// The USSD TLVs of an MO (wire-formats.md §4): `ussd_service_op` and `its_session_info`
/// (octet 1 session number, octet 2 sequence << 1 | end-of-session bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UssdTag {
    /// `ussd_service_op` (SMPP 3.4 §5.3.2.44).
    pub op: u8,
    /// `its_session_info` as received (SMPP 3.4 §5.3.2.43), if present.
    pub session: Option<[u8; 2]>,
}

/// The identity of a concatenated message's parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConcatKey {
    /// `source_addr`.
    pub source: String,
    /// `destination_addr`.
    pub destination: String,
    /// Reference number.
    pub reference: u16,
    /// Number of parts.
    pub total: u8,
}

/// What [`take_complete`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageKey {
    /// A single-PDU message, by the `inbox_pdu` id [`record_part`] returned.
    Whole {
        /// `inbox_pdu.id`.
        pdu_id: i64,
    },
    /// The parts of a concatenated message.
    Concat(ConcatKey),
}

impl InboundPdu {
    /// The key under which this PDU (recorded as `pdu_id`) completes.
    pub fn message_key(&self, pdu_id: i64) -> MessageKey {
        match &self.concat {
            None => MessageKey::Whole { pdu_id },
            Some(c) => MessageKey::Concat(ConcatKey {
                source: self.source.clone(),
                destination: self.destination.clone(),
                reference: c.reference,
                total: c.total,
            }),
        }
    }

    /// The SHA-256 dedup key (see the module docs).
    pub fn dedup_key(&self) -> [u8; 32] {
        fn field(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        let mut h = Sha256::new();
        match &self.concat {
            Some(c) => {
                h.update(b"part\0");
                field(&mut h, self.source.as_bytes());
                field(&mut h, self.destination.as_bytes());
                h.update(c.reference.to_be_bytes());
                h.update([c.total, c.seq]);
            }
            None => {
                h.update(b"whole\0");
                // A USSD answer ("1") repeats often; its session sequence tells units apart.
                if let Some(u) = &self.ussd {
                    h.update([0xFE, u.op]);
                    h.update(u.session.unwrap_or([0xFF, 0xFF]));
                }
                field(&mut h, self.source.as_bytes());
                field(&mut h, self.destination.as_bytes());
                h.update([self.data_coding]);
                field(&mut h, &self.payload);
                match &self.smsc_message_id {
                    Some(id) => {
                        h.update([1]);
                        field(&mut h, id.trim().as_bytes());
                    }
                    None => h.update([0]),
                }
            }
        }
        h.finalize().into()
    }
}

/// Result of [`record_part`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded as `inbox_pdu` row `id`.
    New(i64),
    /// Seen before (see the module docs); nothing changes for the message.
    Duplicate,
}

/// A complete MO message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMessage {
    /// `inbox_message.id`, for [`mark_processed`].
    pub id: i64,
    /// When its last part arrived, Unix ms.
    pub received_at: i64,
    /// `source_addr`.
    pub source: String,
    /// `destination_addr`.
    pub destination: String,
    /// `esm_class` of the first part.
    pub esm_class: u8,
    /// `data_coding` of the first part.
    pub data_coding: u8,
    /// User data of each part, in sequence order.
    pub parts: Vec<Vec<u8>>,
    /// USSD TLVs, for a USSD dialogue unit.
    pub ussd: Option<UssdTag>,
}

impl CompleteMessage {
    /// The parts' bytes joined (right for 8-bit and UCS-2 data; GSM-7 may need per-part
    /// decoding).
    pub fn payload(&self) -> Vec<u8> {
        self.parts.concat()
    }
}

/// Result of [`receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A resend; answer it and do nothing else.
    Duplicate,
    /// A part stored, its message not yet complete.
    Partial {
        /// `inbox_pdu.id`.
        pdu_id: i64,
    },
    /// This PDU completed a message (or was a whole one): hand it to the service.
    Complete(CompleteMessage),
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxCounts {
    /// Complete messages not yet processed.
    pub pending_messages: u64,
    /// Parts waiting for their siblings.
    pub open_parts: u64,
}

fn check_concat(c: &Concat) -> Result<(), StoreError> {
    if c.total == 0 || c.seq == 0 || c.seq > c.total {
        return Err(StoreError::InvalidPart {
            seq: c.seq,
            total: c.total,
        });
    }
    Ok(())
}

/// What [`insert_pdu`] did.
enum Inserted {
    /// A new `inbox_pdu` row, this id.
    New(i64),
    /// The dedup key was seen within the window: the row that holds it.
    Seen(i64),
}

/// Insert `pdu` into `inbox_pdu` in `state`, unless its dedup key was seen within
/// `dedup_window`. An identical PDU older than the window has its key retired first, so this
/// one counts as new (looked for only when the insert meets the key: the common case is one
/// statement).
fn insert_pdu(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
    state: &str,
) -> Result<Inserted, StoreError> {
    let key = pdu.dedup_key();
    let (scheme, reference, total, seq) = match &pdu.concat {
        Some(c) => (
            Some(c.scheme.as_str()),
            Some(i64::from(c.reference)),
            Some(c.total),
            Some(c.seq),
        ),
        None => (None, None, None, None),
    };
    // No RETURNING (here and below): SQLite runs a RETURNING statement into an ephemeral
    // table, under a statement journal; the new rowid is the connection's last insert.
    let insert = || {
        tx.prepare_cached(
            "INSERT INTO inbox_pdu (received_at, source, destination, smsc_message_id, dedup_key,
                 esm_class, data_coding, concat_scheme, concat_ref, concat_total, concat_seq, raw,
                 state, link_session)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                pdu.received_at,
                pdu.source,
                pdu.destination,
                pdu.smsc_message_id,
                &key[..],
                pdu.esm_class,
                pdu.data_coding,
                scheme,
                reference,
                total,
                seq,
                pdu.raw,
                state,
                pdu.link_session,
            ])
        })
        .map(|n| (n == 1).then(|| tx.last_insert_rowid()))
        .ctx("inbox: insert pdu")
    };
    if let Some(id) = insert()? {
        return Ok(Inserted::New(id));
    }
    let window = i64::try_from(dedup_window.as_millis()).unwrap_or(i64::MAX);
    let cutoff = pdu.received_at.saturating_sub(window);
    // A whole message seen before on this same session is the subscriber's again (the SMSC
    // had its answer); parts are never (their key has no text, and a reference is reused only
    // after 256 long messages).
    let same_session = pdu.link_session.filter(|_| pdu.concat.is_none());
    let retired = tx
        .prepare_cached(
            "UPDATE inbox_pdu SET dedup_key = NULL
             WHERE dedup_key = ?1 AND (received_at < ?2 OR link_session = ?3)",
        )
        .and_then(|mut s| s.execute(params![&key[..], cutoff, same_session]))
        .ctx("inbox: retire key")?;
    // The row holding the key (looked up only here, off the common path).
    let key_row = || {
        tx.prepare_cached("SELECT id FROM inbox_pdu WHERE dedup_key = ?1")
            .and_then(|mut s| s.query_row([&key[..]], |r| r.get::<_, i64>(0)))
            .ctx("inbox: the key's row")
    };
    if retired == 0 {
        let row = key_row()?;
        if let Some(session) = same_session {
            // A resend, answered on this session now: the next identical one here is new.
            tx.prepare_cached("UPDATE inbox_pdu SET link_session = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![row, session]))
                .ctx("inbox: resend seen")?;
        }
        return Ok(Inserted::Seen(row));
    }
    match insert()? {
        Some(id) => Ok(Inserted::New(id)),
        None => key_row().map(Inserted::Seen),
    }
}

/// Sessions whose every answer the SMSC has read (it unbound, or answered our unbind, with
/// nothing left unanswered: `smpp::LinkHandle::take_read_out_sessions`): it sends none of
/// their PDUs again, so the dedup keys of what they brought in the window are retired and
/// the same text on a later session is the subscriber's again (a repeat after a restart, or
/// after a failover's return to the primary, was taken for a resend). Returns how many keys
/// went. (Left: a PDU whose answer came after the SMSC's own response timeout, which it may
/// already have scheduled again; as on one session, see the module docs.)
pub fn forget_sessions(
    tx: &Transaction<'_>,
    sessions: &[u64],
    dedup_window: Duration,
    now: i64,
) -> Result<usize, StoreError> {
    let window = i64::try_from(dedup_window.as_millis()).unwrap_or(i64::MAX);
    let mut n = 0;
    for &session in sessions {
        let Ok(session) = i64::try_from(session) else {
            continue;
        };
        n += tx
            .prepare_cached(
                "UPDATE inbox_pdu SET dedup_key = NULL
                 WHERE received_at >= ?1 AND link_session = ?2 AND dedup_key IS NOT NULL",
            )
            .and_then(|mut s| s.execute(params![now.saturating_sub(window), session]))
            .ctx("inbox::forget_sessions")?;
    }
    Ok(n)
}

/// The rows ([`receive_keyed`]) of PDUs whose answer the SMSC is known to have read: it
/// answered a request we wrote after that answer (`smpp::LinkHandle::take_read_answers`), so
/// it sends none of them again and their dedup keys are retired, as a read-out session's are
/// ([`forget_sessions`]). A row whose key has
/// gone meanwhile (a repeat on the same session took it, or the window passed) is left as it
/// is. Returns how many keys went. (Left, as for [`forget_sessions`]: a PDU whose answer came
/// after the SMSC's own response timeout, which it may already have scheduled again.)
pub fn forget_answered(tx: &Transaction<'_>, rows: &[i64]) -> Result<usize, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    tx.prepare_cached(
        "UPDATE inbox_pdu SET dedup_key = NULL WHERE id IN rarray(?1) AND dedup_key IS NOT NULL",
    )
    .and_then(|mut s| s.execute([super::outbox::id_array(rows.iter().copied())]))
    .ctx("inbox::forget_answered")
}

/// Insert `pdu`'s user data as an `inbox_part` row of PDU `pdu_id`, open (`message_id` NULL)
/// or attached to `message_id`. Returns 0 when the same part is already open.
fn insert_part(
    tx: &Transaction<'_>,
    pdu_id: i64,
    pdu: &InboundPdu,
    message_id: Option<i64>,
) -> Result<usize, StoreError> {
    let (reference, total, seq) = match &pdu.concat {
        Some(c) => (Some(i64::from(c.reference)), c.total, c.seq),
        None => (None, 1, 1),
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO inbox_part (pdu_id, message_id, received_at, source, destination,
             reference, total, seq, data_coding, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut s| {
        s.execute(params![
            pdu_id,
            message_id,
            pdu.received_at,
            pdu.source,
            pdu.destination,
            reference,
            total,
            seq,
            pdu.data_coding,
            pdu.payload,
        ])
    })
    .ctx("inbox: insert part")
}

/// A whole (single-PDU) message: its PDU row ('assembled'), message row ('pending') and
/// attached part in three inserts, instead of [`record_part`] then [`take_complete`]'s look-up
/// and updates (same rows, same outcome).
fn receive_whole(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
) -> Result<(Received, i64), StoreError> {
    let pdu_id = match insert_pdu(tx, pdu, dedup_window, "assembled")? {
        Inserted::New(id) => id,
        Inserted::Seen(row) => return Ok((Received::Duplicate, row)),
    };
    tx.prepare_cached(
        "INSERT INTO inbox_message (created_at, source, destination, esm_class, data_coding,
             total, state, ussd_op, ussd_session)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, 'pending', ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            pdu.received_at,
            pdu.source,
            pdu.destination,
            pdu.esm_class,
            pdu.data_coding,
            pdu.ussd.map(|u| u.op),
            pdu.ussd.and_then(|u| u.session).map(u16::from_be_bytes),
        ])
    })
    .ctx("inbox::receive: insert message")?;
    let id = tx.last_insert_rowid();
    insert_part(tx, pdu_id, pdu, Some(id))?;
    let msg = CompleteMessage {
        id,
        received_at: pdu.received_at,
        source: pdu.source.clone(),
        destination: pdu.destination.clone(),
        esm_class: pdu.esm_class,
        data_coding: pdu.data_coding,
        parts: vec![pdu.payload.clone()],
        ussd: pdu.ussd,
    };
    Ok((Received::Complete(msg), pdu_id))
}

/// Record one PDU. Duplicates within `dedup_window` (and parts already waiting) give
/// [`RecordOutcome::Duplicate`]; everything else is stored and its part left open for
/// [`take_complete`] (call it in the same transaction, or use [`receive`]).
pub fn record_part(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
) -> Result<RecordOutcome, StoreError> {
    record(tx, pdu, dedup_window).map(|(outcome, _)| outcome)
}

/// [`record_part`], with the row holding the PDU's dedup key.
fn record(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
) -> Result<(RecordOutcome, i64), StoreError> {
    if let Some(c) = &pdu.concat {
        check_concat(c)?;
    }
    let pdu_id = match insert_pdu(tx, pdu, dedup_window, "received")? {
        Inserted::New(id) => id,
        Inserted::Seen(row) => return Ok((RecordOutcome::Duplicate, row)),
    };

    let mut inserted = insert_part(tx, pdu_id, pdu, None)?;
    if inserted == 0 {
        if let Some(stale) = stale_group(tx, pdu)? {
            // A new message that reuses the reference of one that never completed: the old
            // parts are dropped, not mixed into this one.
            drop_open_group(tx, &stale)?;
            inserted = insert_part(tx, pdu_id, pdu, None)?;
        }
    }
    if inserted == 0 {
        // The same part is already waiting (a resend older than the window).
        tx.execute(
            "UPDATE inbox_pdu SET state = 'duplicate' WHERE id = ?1",
            [pdu_id],
        )
        .ctx("inbox::record_part: mark duplicate")?;
        return Ok((RecordOutcome::Duplicate, pdu_id));
    }
    Ok((RecordOutcome::New(pdu_id), pdu_id))
}

/// When `pdu`'s slot (sender, reference, total, sequence number) is already taken by an open
/// part with OTHER user data, that part belongs to an earlier message that never completed
/// (8-bit references wrap after 256 long messages): its group. A resend of the same part has
/// the same bytes and is a duplicate (`None`).
fn stale_group(tx: &Transaction<'_>, pdu: &InboundPdu) -> Result<Option<GroupKey>, StoreError> {
    let Some(c) = &pdu.concat else {
        return Ok(None);
    };
    let waiting: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT payload FROM inbox_part WHERE message_id IS NULL AND source = ?1
               AND destination = ?2 AND reference = ?3 AND total = ?4 AND seq = ?5",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    pdu.source,
                    pdu.destination,
                    i64::from(c.reference),
                    c.total,
                    c.seq
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .ctx("inbox::record_part: slot")?;
    Ok(waiting
        .filter(|bytes| *bytes != pdu.payload)
        .map(|_| GroupKey {
            source: pdu.source.clone(),
            destination: pdu.destination.clone(),
            reference: i64::from(c.reference),
            total: c.total,
        }))
}

struct OpenPart {
    id: i64,
    pdu_id: i64,
    seq: u8,
    received_at: i64,
    data_coding: u8,
    esm_class: u8,
    source: String,
    destination: String,
    payload: Vec<u8>,
    total: u8,
}

/// If the message under `key` is complete (all `total` sequence numbers present among its open
/// parts), create its `inbox_message` row ('pending'), attach the parts and return it. Returns
/// `None` when parts are missing or it was already taken: a message is returned at most once.
pub fn take_complete(
    tx: &Transaction<'_>,
    key: &MessageKey,
) -> Result<Option<CompleteMessage>, StoreError> {
    const COLS: &str = "p.id, p.pdu_id, p.seq, p.received_at, p.data_coding, d.esm_class, \
                        p.source, p.destination, p.payload, p.total";
    let map = |r: &rusqlite::Row<'_>| {
        Ok(OpenPart {
            id: r.get(0)?,
            pdu_id: r.get(1)?,
            seq: r.get(2)?,
            received_at: r.get(3)?,
            data_coding: r.get(4)?,
            esm_class: r.get(5)?,
            source: r.get(6)?,
            destination: r.get(7)?,
            payload: r.get(8)?,
            total: r.get(9)?,
        })
    };
    let parts: Vec<OpenPart> = match key {
        MessageKey::Whole { pdu_id } => tx
            .prepare_cached(&format!(
                "SELECT {COLS} FROM inbox_part p JOIN inbox_pdu d ON d.id = p.pdu_id
                 WHERE p.message_id IS NULL AND p.pdu_id = ?1 AND p.reference IS NULL"
            ))
            .and_then(|mut s| s.query_map([pdu_id], map)?.collect())
            .ctx("inbox::take_complete: whole")?,
        MessageKey::Concat(k) => tx
            .prepare_cached(&format!(
                "SELECT {COLS} FROM inbox_part p JOIN inbox_pdu d ON d.id = p.pdu_id
                 WHERE p.message_id IS NULL AND p.source = ?1 AND p.destination = ?2
                   AND p.reference = ?3 AND p.total = ?4
                 ORDER BY p.seq"
            ))
            .and_then(|mut s| {
                s.query_map(params![k.source, k.destination, k.reference, k.total], map)?
                    .collect()
            })
            .ctx("inbox::take_complete: parts")?,
    };
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    // The open-part unique index guarantees distinct seqs; count them anyway.
    let mut seqs: Vec<u8> = parts.iter().map(|p| p.seq).collect();
    seqs.dedup();
    if seqs.len() != usize::from(first.total) {
        return Ok(None);
    }
    let received_at = parts.iter().map(|p| p.received_at).max().unwrap_or(0);
    tx.prepare_cached(
        "INSERT INTO inbox_message (created_at, source, destination, esm_class, data_coding,
             total, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
    )
    .and_then(|mut s| {
        s.execute(params![
            received_at,
            first.source,
            first.destination,
            first.esm_class,
            first.data_coding,
            first.total
        ])
    })
    .ctx("inbox::take_complete: insert message")?;
    let id = tx.last_insert_rowid();
    {
        let mut attach = tx
            .prepare_cached("UPDATE inbox_part SET message_id = ?1 WHERE id = ?2")
            .ctx("inbox::take_complete: attach")?;
        let mut assembled = tx
            .prepare_cached("UPDATE inbox_pdu SET state = 'assembled' WHERE id = ?1")
            .ctx("inbox::take_complete: assembled")?;
        for p in &parts {
            attach
                .execute(params![id, p.id])
                .ctx("inbox::take_complete: attach")?;
            assembled
                .execute([p.pdu_id])
                .ctx("inbox::take_complete: assembled")?;
        }
    }
    Ok(Some(CompleteMessage {
        id,
        received_at,
        source: first.source.clone(),
        destination: first.destination.clone(),
        esm_class: first.esm_class,
        data_coding: first.data_coding,
        parts: parts.into_iter().map(|p| p.payload).collect(),
        ussd: None,
    }))
}

/// Record one PDU and hand on the message it completes: the one call made per `deliver_sm`
/// before answering it (as [`receive_keyed`]). A part goes through [`record_part`] then
/// [`take_complete`]; a whole message is written complete at once.
pub fn receive(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
) -> Result<Received, StoreError> {
    receive_keyed(tx, pdu, dedup_window).map(|(received, _)| received)
}

/// [`receive`], with the `inbox_pdu` row that holds the PDU's dedup key: its own, or for a
/// duplicate the earlier copy's. Once the SMSC is known to have read the PDU's answer, that
/// row's key may go ([`forget_answered`]).
pub fn receive_keyed(
    tx: &Transaction<'_>,
    pdu: &InboundPdu,
    dedup_window: Duration,
) -> Result<(Received, i64), StoreError> {
    if pdu.concat.is_none() {
        return receive_whole(tx, pdu, dedup_window);
    }
    let (outcome, key_row) = record(tx, pdu, dedup_window)?;
    let received = match outcome {
        RecordOutcome::Duplicate => Received::Duplicate,
        RecordOutcome::New(pdu_id) => match take_complete(tx, &pdu.message_key(pdu_id))? {
            Some(mut msg) => {
                if let Some(u) = pdu.ussd {
                    tx.prepare_cached(
                        "UPDATE inbox_message SET ussd_op = ?2, ussd_session = ?3 WHERE id = ?1",
                    )
                    .and_then(|mut s| {
                        s.execute(params![msg.id, u.op, u.session.map(u16::from_be_bytes)])
                    })
                    .ctx("inbox::receive: ussd")?;
                    msg.ussd = Some(u);
                }
                Received::Complete(msg)
            }
            None => Received::Partial { pdu_id },
        },
    };
    Ok((received, key_row))
}

fn load_message(conn: &Connection, row: MessageRow) -> Result<CompleteMessage, StoreError> {
    let parts = conn
        .prepare_cached("SELECT payload FROM inbox_part WHERE message_id = ?1 ORDER BY seq")
        .and_then(|mut s| s.query_map([row.id], |r| r.get(0))?.collect())
        .ctx("inbox: load parts")?;
    Ok(CompleteMessage {
        id: row.id,
        received_at: row.created_at,
        source: row.source,
        destination: row.destination,
        esm_class: row.esm_class,
        data_coding: row.data_coding,
        parts,
        ussd: row.ussd_op.map(|op| UssdTag {
            op,
            session: row.ussd_session.map(u16::to_be_bytes),
        }),
    })
}

struct MessageRow {
    id: i64,
    created_at: i64,
    source: String,
    destination: String,
    esm_class: u8,
    data_coding: u8,
    ussd_op: Option<u8>,
    ussd_session: Option<u16>,
}

/// Complete messages not yet [`mark_processed`], oldest first (hand them on again at start).
pub fn pending_messages(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<CompleteMessage>, StoreError> {
    pending_messages_after(conn, 0, limit)
}

/// [`pending_messages`] with ids above `after` (to read them page by page).
pub fn pending_messages_after(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<CompleteMessage>, StoreError> {
    let rows: Vec<MessageRow> = conn
        .prepare_cached(
            "SELECT id, created_at, source, destination, esm_class, data_coding, ussd_op,
                 ussd_session
             FROM inbox_message WHERE state = 'pending' AND id > ?2 ORDER BY id LIMIT ?1",
        )
        .and_then(|mut s| {
            s.query_map(
                params![i64::try_from(limit).unwrap_or(i64::MAX), after],
                |r| {
                    Ok(MessageRow {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        source: r.get(2)?,
                        destination: r.get(3)?,
                        esm_class: r.get(4)?,
                        data_coding: r.get(5)?,
                        ussd_op: r.get(6)?,
                        ussd_session: r.get(7)?,
                    })
                },
            )?
            .collect()
        })
        .ctx("inbox::pending_messages")?;
    rows.into_iter()
        .map(|row| load_message(conn, row))
        .collect()
}

/// Mark message `id` processed. Returns `false` if it was not pending (already processed or
/// unknown): call it in the transaction that applies the message, and skip the message when it
/// returns `false`, for exactly-once processing.
pub fn mark_processed(tx: &Transaction<'_>, id: i64, now: i64) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE inbox_message SET state = 'processed', processed_at = ?2
             WHERE id = ?1 AND state = 'pending'",
        )
        .and_then(|mut s| s.execute(params![id, now]))
        .ctx("inbox::mark_processed")?;
    Ok(n == 1)
}

/// An incomplete concatenated message dropped by [`expire_incomplete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// Its sender, as received.
    pub source: String,
    /// Where it was sent (the service number), as received.
    pub destination: String,
    /// Parts that had arrived, of `total`.
    pub arrived: usize,
    /// Parts it announced.
    pub total: u8,
}

/// Drop incomplete concatenated messages whose first part arrived before `older_than` (Unix
/// ms): their open parts go, their PDUs stay, marked 'expired'. Returns each message dropped,
/// so its sender can be told. Open parts are few (a message leaves them as soon as it is
/// whole), so the look is cheap.
pub fn expire_incomplete(
    tx: &Transaction<'_>,
    older_than: i64,
) -> Result<Vec<Abandoned>, StoreError> {
    let groups: Vec<(GroupKey, i64)> = tx
        .prepare_cached(
            "SELECT source, destination, reference, total, count(*) FROM inbox_part
             WHERE message_id IS NULL AND reference IS NOT NULL
             GROUP BY source, destination, reference, total
             HAVING min(received_at) < ?1",
        )
        .and_then(|mut s| {
            s.query_map([older_than], |r| {
                Ok((
                    GroupKey {
                        source: r.get(0)?,
                        destination: r.get(1)?,
                        reference: r.get(2)?,
                        total: r.get(3)?,
                    },
                    r.get(4)?,
                ))
            })?
            .collect()
        })
        .ctx("inbox::expire_incomplete: find")?;
    let mut dropped = Vec::with_capacity(groups.len());
    for (key, arrived) in groups {
        drop_open_group(tx, &key)?;
        dropped.push(Abandoned {
            source: key.source,
            destination: key.destination,
            arrived: arrived as usize,
            total: key.total,
        });
    }
    Ok(dropped)
}

/// The parts of one concatenated message while it is open.
struct GroupKey {
    source: String,
    destination: String,
    reference: i64,
    total: u8,
}

/// Drop the open parts of the message under `key`; their PDUs stay, marked 'expired'.
fn drop_open_group(tx: &Transaction<'_>, key: &GroupKey) -> Result<(), StoreError> {
    let args = params![key.source, key.destination, key.reference, key.total];
    tx.prepare_cached(
        "UPDATE inbox_pdu SET state = 'expired' WHERE id IN (
             SELECT pdu_id FROM inbox_part WHERE message_id IS NULL AND source = ?1
               AND destination = ?2 AND reference = ?3 AND total = ?4)",
    )
    .and_then(|mut s| s.execute(args))
    .ctx("inbox: expire open parts")?;
    tx.prepare_cached(
        "DELETE FROM inbox_part WHERE message_id IS NULL AND source = ?1
           AND destination = ?2 AND reference = ?3 AND total = ?4",
    )
    .and_then(|mut s| s.execute(args))
    .ctx("inbox: delete open parts")?;
    Ok(())
}

/// Processed messages among the `?2` oldest processed ones (-1: all; through the
/// `inbox_message_state` index, so pending messages at the head never block it; ids grow with
/// time, so the oldest come first without an index on their time), created before `?1`.
/// Their parts go with them (`ON DELETE CASCADE`).
pub(crate) const PURGE_MESSAGES_SQL: &str = "DELETE FROM inbox_message
     WHERE id IN (SELECT id FROM inbox_message WHERE state = 'processed' ORDER BY id LIMIT ?2)
       AND created_at < ?1";

/// PDUs received before `?1` that no part refers to, at most `?2` (-1: all).
pub(crate) const PURGE_PDUS_SQL: &str = "DELETE FROM inbox_pdu WHERE id IN (
     SELECT id FROM inbox_pdu WHERE received_at < ?1
        AND NOT EXISTS (SELECT 1 FROM inbox_part p WHERE p.pdu_id = inbox_pdu.id)
      LIMIT ?2)";

/// Delete processed messages created before `older_than` and PDUs received before it that no
/// waiting or pending message still needs: at most `limit` of each (`None`: all; the gateway's
/// retention deletes a few at a time, see `store::retention`). Keep `older_than` well behind
/// the dedup window. Returns how many (messages, PDUs) went.
pub fn purge(
    tx: &Transaction<'_>,
    older_than: i64,
    limit: Option<usize>,
) -> Result<(usize, usize), StoreError> {
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let run = |sql: &str, op: &'static str| {
        tx.prepare_cached(sql)
            .and_then(|mut s| s.execute([older_than, limit]))
            .ctx(op)
    };
    let messages = run(PURGE_MESSAGES_SQL, "inbox::purge: messages")?;
    let pdus = run(PURGE_PDUS_SQL, "inbox::purge: pdus")?;
    Ok((messages, pdus))
}

/// Pending messages and open parts, for metrics.
pub fn counts(conn: &Connection) -> Result<InboxCounts, StoreError> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM inbox_message WHERE state = 'pending'),
                (SELECT count(*) FROM inbox_part WHERE message_id IS NULL)",
        [],
        |r| {
            Ok(InboxCounts {
                pending_messages: r.get::<_, i64>(0)?.max(0) as u64,
                open_parts: r.get::<_, i64>(1)?.max(0) as u64,
            })
        },
    )
    .ctx("inbox::counts")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(concat: Option<Concat>, payload: &[u8]) -> InboundPdu {
        InboundPdu {
            received_at: 1_000,
            source: "8613800000001".into(),
            destination: "1234".into(),
            smsc_message_id: None,
            esm_class: 0x40,
            data_coding: 0,
            raw: vec![],
            payload: payload.to_vec(),
            concat,
            ussd: None,
            link_session: None,
        }
    }

    fn part(seq: u8) -> Option<Concat> {
        Some(Concat {
            scheme: ConcatScheme::Udh8,
            reference: 7,
            total: 3,
            seq,
        })
    }

    #[test]
    fn part_key_ignores_payload_but_whole_key_does_not() {
        assert_eq!(
            pdu(part(1), b"a").dedup_key(),
            pdu(part(1), b"b").dedup_key()
        );
        assert_ne!(
            pdu(part(1), b"a").dedup_key(),
            pdu(part(2), b"a").dedup_key()
        );
        assert_ne!(pdu(None, b"a").dedup_key(), pdu(None, b"b").dedup_key());
        let mut with_id = pdu(None, b"a");
        with_id.smsc_message_id = Some("42".into());
        assert_ne!(with_id.dedup_key(), pdu(None, b"a").dedup_key());
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = pdu(None, b"x");
        a.source = "12".into();
        a.destination = "3".into();
        let mut b = pdu(None, b"x");
        b.source = "1".into();
        b.destination = "23".into();
        assert_ne!(a.dedup_key(), b.dedup_key());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeSet;

        fn db() -> Connection {
            let mut conn = Connection::open_in_memory().unwrap();
            crate::store::schema::migrate(&mut conn).unwrap();
            conn
        }

        /// A message of `total` parts delivered as `order` (indices into 1..=total, with repeats).
        fn arrivals() -> impl Strategy<Value = (u8, Vec<u8>)> {
            (1u8..=8).prop_flat_map(|total| {
                let all: Vec<u8> = (1..=total).collect();
                (
                    Just(total),
                    Just(all).prop_shuffle(),
                    proptest::collection::vec(1..=total, 0..6),
                    any::<prop::sample::Index>(),
                )
                    .prop_map(|(total, shuffled, repeats, at)| {
                        let mut order = shuffled;
                        for r in repeats {
                            let i = at.index(order.len() + 1);
                            order.insert(i, r);
                        }
                        (total, order)
                    })
            })
        }

        proptest! {
            #[test]
            fn any_order_with_resends_completes_exactly_once((total, order) in arrivals()) {
                let mut conn = db();
                let mut seen = BTreeSet::new();
                let mut completions = 0;
                for (i, seq) in order.iter().enumerate() {
                    let mut p = pdu(
                        Some(Concat { scheme: ConcatScheme::Udh8, reference: 42, total, seq: *seq }),
                        &[*seq],
                    );
                    p.received_at = 1_000 + i as i64;
                    let tx = conn.transaction().unwrap();
                    let got = receive(&tx, &p, DEFAULT_DEDUP_WINDOW).unwrap();
                    tx.commit().unwrap();
                    let fresh = seen.insert(*seq);
                    match got {
                        Received::Duplicate => prop_assert!(!fresh),
                        Received::Partial { .. } => {
                            prop_assert!(fresh);
                            prop_assert!(seen.len() < usize::from(total));
                        }
                        Received::Complete(msg) => {
                            prop_assert!(fresh);
                            prop_assert_eq!(seen.len(), usize::from(total));
                            let expected: Vec<Vec<u8>> = (1..=total).map(|s| vec![s]).collect();
                            prop_assert_eq!(msg.parts, expected);
                            completions += 1;
                        }
                    }
                }
                prop_assert_eq!(completions, 1);
                prop_assert_eq!(pending_messages(&conn, 10).unwrap().len(), 1);
            }
        }
    }

    #[test]
    fn impossible_part_numbers_are_rejected() {
        for (seq, total) in [(0u8, 3u8), (4, 3), (1, 0)] {
            let c = Concat {
                scheme: ConcatScheme::Sar,
                reference: 1,
                total,
                seq,
            };
            assert!(matches!(
                check_concat(&c),
                Err(StoreError::InvalidPart { .. })
            ));
        }
    }
}
