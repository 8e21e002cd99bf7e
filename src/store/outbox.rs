//! The durable MT outbox: every outbound message is a row before it is submitted
//! (DESIGN.md "How a command flows", steps 4-6), with its state, attempts, next attempt time,
//! SMSC message id per segment and last error.
//!
//! Life of a row:
//! ```text
//! enqueue -> queued --claim_due--> in_flight --record_segment_submitted..--> mark_submitted
//!              ^                      |                                         |
//!              |   retry_later /      |  fail                          apply_receipt (all
//!              +-- requeue_in_flight -+-------> failed              segments) -> delivered
//!   queued past expires_at --expire_due--> expired          any segment failed -> failed
//!   submitted, no final receipt by validity end + grace --expire_unconfirmed--> expired
//! ```
//! `superseded`: a row that lost a coalescing race (see [`enqueue`]); it is never sent. A
//! `submitted` row that a newer one with its key, or a withdrawal, makes wrong to deliver is
//! cancelled at the SMSC (`delivery::cancel`) and becomes `superseded` too, its last error
//! `cancelled at the SMSC: ...`; a `DELIVRD` receipt that still comes makes it `delivered`,
//! and a `DELETED` one that beats the cancel's answer makes it `superseded`, not `failed`
//! (the SMSC reporting the deletion we asked for).
//!
//! # Coalescing
//! A message with a `coalesce_key` (e.g. status updates keyed (owner, recipient, kind), DESIGN.md
//! step 5) replaces the content of a still-`queued` row with the same key: the latest wins, a
//! contact never gets a stale burst. At most one `queued` row per key exists (unique partial
//! index); when an older row returns to `queued` (retry, requeue) while a newer one with its key
//! is queued, the one with older content becomes `superseded`.
//!
//! # Receipts
//! Segment rows keep the SMSC message id normalised with
//! [`sms_wire::receipt::normalize_message_id`] (and raw). [`apply_receipt`] takes the receipt
//! id's variants (`sms_wire::receipt::message_id_variants`: hex/decimal forms), tries them in
//! order, and when none matches a submitted segment keeps the receipt in `pending_receipt`;
//! [`record_segment_submitted`] applies it when the `submit_sm_resp` arrives later. A message is
//! `delivered` when every segment number has a successful final receipt, `failed` as soon as a
//! segment's only submissions all failed. A resubmission after a requeue adds segment rows; any
//! delivered submission of a segment number counts.
//!
//! SMSC ids are not unique for ever: an SMSC restarts its counter, a standby SMSC of a failover
//! counts from 1 too. A receipt names the handset (SMPP 3.4 §2.11: its source address is the
//! original destination), so among segments with its id it takes the newest whose message went
//! to that number ([`same_handset`]); when every segment with its id went elsewhere, its own
//! message is not recorded yet and it is held for it. A receipt that names no number matches
//! by id alone, as before.

use std::sync::LazyLock;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use sms_wire::receipt::normalize_message_id;

use super::cancel::{self, Withdrawn};
use super::{tally, Ctx, StoreError};

/// `execute` through the connection's statement cache (`Connection::execute` parses the SQL
/// on every call).
fn exec_cached<P: rusqlite::Params>(
    tx: &Transaction<'_>,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $column:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in SQLite.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parse the stored text.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::BadValue {
                        column: $column,
                        value: other.to_owned(),
                    }),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = value.as_str()?;
                $name::parse(s).map_err(FromSqlError::other)
            }
        }
    };
}

text_enum!(
    /// What an outbox row carries.
    MessageKind, "outbox.kind" {
        /// A text SMS (`body`).
        Sms = "sms",
        /// A WAP Push Service Indication (`url` + `body` as its text, or a prebuilt `payload`).
        WapPush = "wap_push",
    }
);

text_enum!(
    /// State of an outbox row.
    OutboxState, "outbox.state" {
        /// Waiting for its next attempt.
        Queued = "queued",
        /// Claimed by the dispatcher; being submitted.
        InFlight = "in_flight",
        /// Every segment accepted by the SMSC; waiting for receipts.
        Submitted = "submitted",
        /// Every segment delivered (final receipts).
        Delivered = "delivered",
        /// Permanently failed; `last_error` says why.
        Failed = "failed",
        /// Its validity period ended before it could be sent.
        Expired = "expired",
        /// Replaced by a newer row with the same coalescing key; never sent again.
        Superseded = "superseded",
    }
);

text_enum!(
    /// State of one submitted segment.
    SegmentState, "outbox_segment.state" {
        /// Accepted by the SMSC (`submit_sm_resp` OK), no final receipt yet.
        Submitted = "submitted",
        /// Final successful receipt.
        Delivered = "delivered",
        /// Final unsuccessful receipt.
        Failed = "failed",
    }
);

text_enum!(
    /// What a delivery receipt says (SMPP 3.4 §5.2.28 `message_state`, Appendix B `stat`).
    ReceiptState, "pending_receipt.state" {
        /// Not final (ENROUTE, ACCEPTD, ...): recorded, no state change.
        Intermediate = "intermediate",
        /// Final success (DELIVRD).
        Delivered = "delivered",
        /// Final failure (UNDELIV, EXPIRED, REJECTD, DELETED, ...).
        Failed = "failed",
    }
);

impl OutboxState {
    /// Whether the row will not change any more without an operator (delivered, failed,
    /// expired, superseded).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxState::Delivered
                | OutboxState::Failed
                | OutboxState::Expired
                | OutboxState::Superseded
        )
    }
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// SMS or WAP Push.
    pub kind: MessageKind,
    /// `source_addr`; `None` = the link's configured service number.
    pub source: Option<String>,
    /// `destination_addr`.
    pub destination: String,
    /// The text (SMS body, or the WAP Push SI text).
    pub body: Option<String>,
    /// Prebuilt binary content, if any.
    pub payload: Option<Vec<u8>>,
    /// The WAP Push link.
    pub url: Option<String>,
    /// Coalescing key: replaces a still-queued row with the same key.
    pub coalesce_key: Option<String>,
    /// Higher is sent first (ties by age).
    pub priority: i32,
    /// Not before this time, Unix ms (`None` = now).
    pub not_before: Option<i64>,
    /// Validity: not sent after this time, Unix ms.
    pub expires_at: Option<i64>,
}

impl NewMessage {
    /// A plain SMS with default priority, no key, no expiry.
    pub fn sms(destination: impl Into<String>, body: impl Into<String>) -> Self {
        NewMessage {
            kind: MessageKind::Sms,
            source: None,
            destination: destination.into(),
            body: Some(body.into()),
            payload: None,
            url: None,
            coalesce_key: None,
            priority: 0,
            not_before: None,
            expires_at: None,
        }
    }

    /// A WAP Push SI for `url` with `text`.
    pub fn wap_push(
        destination: impl Into<String>,
        url: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        NewMessage {
            kind: MessageKind::WapPush,
            url: Some(url.into()),
            ..NewMessage::sms(destination, text)
        }
    }
}

/// Result of [`enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The outbox row holding the message.
    pub id: i64,
    /// `true` when an existing queued row's content was replaced.
    pub coalesced: bool,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Last state change, Unix ms.
    pub updated_at: i64,
    /// SMS or WAP Push.
    pub kind: MessageKind,
    /// `source_addr` (`None` = link default).
    pub source: Option<String>,
    /// `destination_addr`.
    pub destination: String,
    /// Text.
    pub body: Option<String>,
    /// Binary content.
    pub payload: Option<Vec<u8>>,
    /// WAP Push link.
    pub url: Option<String>,
    /// Coalescing key.
    pub coalesce_key: Option<String>,
    /// State.
    pub state: OutboxState,
    /// Times claimed for submission (reset when content is replaced or a failed row retried).
    pub attempts: u32,
    /// Not before, Unix ms.
    pub next_attempt_at: i64,
    /// Validity end, Unix ms.
    pub expires_at: Option<i64>,
    /// Last error (submit status, receipt stat, expiry...).
    pub last_error: Option<String>,
    /// Higher is sent first.
    pub priority: i32,
    /// When the content was last set (Unix ms): at enqueue, or when a newer message with the
    /// same coalescing key replaced it in place.
    pub content_at: i64,
    /// For an avatar push (schema 19's `avatar_push`): when its owner set the avatar its link
    /// serves (Unix ms), the SI's `created`; `None` for other rows, or an owner with no avatar
    /// now. Read with the row, not stored in it.
    pub avatar_set_at: Option<i64>,
}

impl OutboxRow {
    /// The concatenation reference of this content (a 16-bit UDH reference; 8-bit takes its
    /// low byte). The same row and content give the same reference, so a retry that sends
    /// only the parts the SMSC did not take keeps it; content that replaced an earlier one in
    /// place gets another, so a handset holding an earlier part of the old content does not
    /// join it with the new one.
    pub fn concat_reference(&self) -> u16 {
        let mixed = (self.id as u64) ^ (self.content_at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed ^ (mixed >> 16) ^ (mixed >> 32) ^ (mixed >> 48)) as u16
    }
}

const ROW_COLS: &str = "id, created_at, updated_at, kind, source, destination, body, payload, url, \
                        coalesce_key, state, attempts, next_attempt_at, expires_at, last_error, priority, \
                        content_at, \
                        CASE WHEN kind = 'wap_push' THEN (SELECT a.updated_at FROM avatar_push p \
                            JOIN subscriber_avatar a ON a.msisdn = p.owner \
                            WHERE p.outbox_id = outbox.id) END";

fn map_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        created_at: r.get(1)?,
        updated_at: r.get(2)?,
        kind: r.get(3)?,
        source: r.get(4)?,
        destination: r.get(5)?,
        body: r.get(6)?,
        payload: r.get(7)?,
        url: r.get(8)?,
        coalesce_key: r.get(9)?,
        state: r.get(10)?,
        attempts: r.get(11)?,
        next_attempt_at: r.get(12)?,
        expires_at: r.get(13)?,
        last_error: r.get(14)?,
        priority: r.get(15)?,
        content_at: r.get(16)?,
        avatar_set_at: r.get(17)?,
    })
}

/// One submission of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    /// The outbox row.
    pub outbox_id: i64,
    /// Segment number, 1-based.
    pub seq: u8,
    /// Number of segments.
    pub total: u8,
    /// SMSC message id, normalised.
    pub smsc_message_id: String,
    /// SMSC message id as the `submit_sm_resp` gave it.
    pub smsc_message_id_raw: String,
    /// The row's `attempts` when submitted.
    pub attempt: u32,
    /// State.
    pub state: SegmentState,
    /// Last receipt `stat` seen.
    pub receipt_stat: Option<String>,
    /// Submitted, Unix ms.
    pub submitted_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// Result of [`apply_receipt`] / [`record_segment_submitted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptMatch {
    /// The receipt was applied to a segment of `outbox_id`.
    Matched {
        /// The outbox row.
        outbox_id: i64,
        /// The segment number.
        seq: u8,
        /// Every segment number has a final receipt (or a delivered one).
        all_segments_final: bool,
        /// The row's state after the receipt.
        state: OutboxState,
        /// This receipt changed the row's state (a repeated receipt, or a delivered part of a
        /// message another part already failed, changes nothing).
        changed: bool,
    },
    /// No segment has this id (yet): the receipt is held in `pending_receipt`. From
    /// [`record_segment_submitted`]: no held receipt matched.
    Unknown,
}

/// Result of [`retry_later`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Back in the queue.
    Queued,
    /// A newer row with the same coalescing key is queued; this one is now superseded.
    Superseded {
        /// The row that won.
        by: i64,
    },
    /// The row was not in flight (already requeued, or finished); nothing changed.
    NotInFlight,
    /// An avatar push that may no longer go to its contact ([`PushVeto`]: the owner set
    /// PRIVACY NOBODY or AVATAR OFF, or the contact left the owner's groups), back from
    /// flight with nothing taken by the SMSC, or failed, nothing of it taken by the SMSC, and
    /// retried by an operator: withdrawn (`superseded`, [`PushVeto::in_flight`],
    /// [`PushVeto::at_retry`]) instead of queued again.
    Withdrawn,
    /// A failed avatar push an operator retried that may no longer go to its contact
    /// ([`PushVeto`]), of which the SMSC had already taken a part: left `failed`, as it is
    /// (its last error and time kept), with the veto recorded ([`recorded_veto`]). Not sent
    /// on (the owner withdrew it), and not withdrawn (`superseded` says nothing went out).
    LeftFailed,
}

/// Rows per state, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// `queued`.
    pub queued: u64,
    /// `in_flight`.
    pub in_flight: u64,
    /// `submitted`.
    pub submitted: u64,
    /// `delivered`.
    pub delivered: u64,
    /// `failed`.
    pub failed: u64,
    /// `expired`.
    pub expired: u64,
    /// `superseded`.
    pub superseded: u64,
    /// Receipts held for a `submit_sm_resp` not yet seen (distinct receipts).
    pub pending_receipts: u64,
}

impl OutboxCounts {
    /// The count for `state`.
    pub fn get(&self, state: OutboxState) -> u64 {
        let mut copy = *self;
        *copy.get_mut(state)
    }

    /// The count for `state`, to set.
    fn get_mut(&mut self, state: OutboxState) -> &mut u64 {
        match state {
            OutboxState::Queued => &mut self.queued,
            OutboxState::InFlight => &mut self.in_flight,
            OutboxState::Submitted => &mut self.submitted,
            OutboxState::Delivered => &mut self.delivered,
            OutboxState::Failed => &mut self.failed,
            OutboxState::Expired => &mut self.expired,
            OutboxState::Superseded => &mut self.superseded,
        }
    }
}

/// Add a message. With a `coalesce_key` matching a `queued` row, that row's content,
/// priority, times and attempts are replaced instead (its old segment records dropped), unless
/// an earlier attempt got some of its parts through: then it is superseded by a new row and
/// the parts the SMSC took are to be cancelled there ([`cancel::supersede_parts_taken`]). Rows
/// with that key the SMSC accepted and has not confirmed (`submitted`) are to be cancelled
/// there ([`cancel::supersede_submitted`]): the handset must not get them after the
/// newer one.
pub fn enqueue(tx: &Transaction<'_>, msg: &NewMessage, now: i64) -> Result<Enqueued, StoreError> {
    let next = msg.not_before.unwrap_or(now);
    // The row's content, ?1..?11 of both the coalescing UPDATE and the INSERT.
    let mut content: Vec<&dyn rusqlite::ToSql> = vec![
        &now,
        &msg.kind,
        &msg.source,
        &msg.destination,
        &msg.body,
        &msg.payload,
        &msg.url,
        &msg.coalesce_key,
        &next,
        &msg.expires_at,
        &msg.priority,
    ];
    if let Some(key) = &msg.coalesce_key {
        let queued: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM outbox
                 WHERE coalesce_key = ?1 AND state = 'queued' AND coalesce_key IS NOT NULL",
            )
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .ctx("outbox::enqueue: find queued")?;
        // A queued row an earlier attempt got some parts of through (queued again for the
        // rest) is not rewritten: its segments name the parts the SMSC holds. It is
        // superseded by a new row instead, and those parts are cancelled there (below).
        let queued = match queued {
            Some(id) if part_taken(tx, id)? => {
                let old = Some(id);
                return enqueue_new(tx, msg, content, key, old, now);
            }
            queued => queued,
        };
        if let Some(id) = queued {
            content.push(&id);
            exec_cached(
                tx,
                "UPDATE outbox SET kind = ?2, source = ?3, destination = ?4, body = ?5,
                     payload = ?6, url = ?7, priority = ?11, next_attempt_at = ?9,
                     expires_at = ?10, content_at = ?1, updated_at = ?1, attempts = 0,
                     last_error = NULL
                 WHERE id = ?12 AND coalesce_key = ?8",
                rusqlite::params_from_iter(content),
            )
            .ctx("outbox::enqueue: coalesce")?;
            exec_cached(tx, "DELETE FROM outbox_segment WHERE outbox_id = ?1", [id])
                .ctx("outbox::enqueue: drop old segments")?;
            cancel::supersede_submitted(tx, key, id, now)?;
            return Ok(Enqueued {
                id,
                coalesced: true,
            });
        }
    }
    enqueue_new(tx, msg, content, "", None, now)
}

/// When the row queued with coalescing key `key` is due (its next attempt), if one is.
pub fn queued_due_at(tx: &Transaction<'_>, key: &str) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached(
        "SELECT next_attempt_at FROM outbox
         WHERE coalesce_key = ?1 AND state = 'queued' AND coalesce_key IS NOT NULL",
    )
    .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
    .ctx("outbox::queued_due_at")
}

/// [`enqueue`]'s insert of a new row with `content`; `partly_sent`: the queued row with its
/// key (`key`) of which the SMSC took some parts, superseded by the new one, those parts
/// asked to be cancelled ([`cancel::supersede_parts_taken`]).
fn enqueue_new(
    tx: &Transaction<'_>,
    msg: &NewMessage,
    content: Vec<&dyn rusqlite::ToSql>,
    key: &str,
    partly_sent: Option<i64>,
    now: i64,
) -> Result<Enqueued, StoreError> {
    if let Some(old) = partly_sent {
        // Out of the queue first: one queued row per key (its last error names the new row
        // once inserted).
        let n = exec_cached(
            tx,
            "UPDATE outbox SET state = 'superseded', updated_at = ?2, push_veto = NULL
             WHERE id = ?1 AND state = 'queued' AND coalesce_key = ?3",
            params![old, now, key],
        )
        .ctx("outbox::enqueue: supersede the row partly sent")?;
        tally::note(Some(OutboxState::Queued), Some(OutboxState::Superseded), n);
    }
    // No RETURNING (here and below): SQLite runs a RETURNING statement into an ephemeral
    // table, under a statement journal; the new rowid is the connection's last insert. `room`:
    // the bytes the claim will use (three, schema migration 18), and for a row without its own
    // validity end the six its record may fill with the one it was sent with.
    exec_cached(
        tx,
        "INSERT INTO outbox (created_at, updated_at, content_at, kind, source, destination,
             body, payload, url, coalesce_key, state, attempts, next_attempt_at, expires_at,
             priority, room)
         VALUES (?1, ?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', 0, ?9, ?10, ?11,
                 CASE WHEN ?10 IS NULL THEN X'000000000000000000' ELSE X'000000' END)",
        rusqlite::params_from_iter(content),
    )
    .ctx("outbox::enqueue: insert")?;
    tally::note(None, Some(OutboxState::Queued), 1);
    let id = tx.last_insert_rowid();
    if let Some(old) = partly_sent {
        exec_cached(
            tx,
            "UPDATE outbox SET last_error = ?2 WHERE id = ?1",
            params![old, format!("superseded by outbox row {id}")],
        )
        .ctx("outbox::enqueue: the row partly sent")?;
        cancel::supersede_parts_taken(tx, old, id, now)?;
    }
    if let Some(key) = &msg.coalesce_key {
        cancel::supersede_submitted(tx, key, id, now)?;
    }
    Ok(Enqueued {
        id,
        coalesced: false,
    })
}

/// The due rows of the highest priority below `?3`: `?2` of them, earliest due first, at `?1`.
/// Built once: a claim runs it for every batch.
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ROW_COLS} FROM outbox
         WHERE state = 'queued'
           AND priority = (SELECT max(priority) FROM outbox
                           WHERE state = 'queued' AND priority < ?3)
           AND next_attempt_at <= ?1 AND (expires_at IS NULL OR expires_at > ?1)
         ORDER BY next_attempt_at, id LIMIT ?2"
    )
});

/// Claim up to `limit` due rows (queued, `next_attempt_at <= now`, not expired): they become
/// `in_flight` with `attempts + 1`. Returned highest priority first; within a priority the
/// earliest due first (a retry waiting out its back-off goes behind rows queued before it came
/// due), then the oldest.
pub fn claim_due(
    tx: &Transaction<'_>,
    now: i64,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    // One priority at a time, highest first; within one, the earliest due, then the oldest.
    // Each priority's due rows are one range of `outbox_due` (priority, next_attempt_at, id),
    // so rows not yet due (quota-held, backing off) are never read, however many there are
    // (migration 13). The usual claim, filled from the top priority, is one statement.
    let mut rows: Vec<OutboxRow> = Vec::new();
    let mut below = i64::MAX;
    while rows.len() < limit {
        let want = i64::try_from(limit - rows.len()).unwrap_or(i64::MAX);
        let before = rows.len();
        tx.prepare_cached(&CLAIM_SQL)
            .and_then(|mut s| {
                for row in s.query_map(params![now, want, below], map_row)? {
                    rows.push(row?);
                }
                Ok(())
            })
            .ctx("outbox::claim_due: select")?;
        below = match rows.get(before) {
            Some(first) => i64::from(first.priority),
            // The next priority down has nothing due: step past it, if there is one.
            None => match tx
                .prepare_cached(
                    "SELECT max(priority) FROM outbox WHERE state = 'queued' AND priority < ?1",
                )
                .and_then(|mut s| s.query_row([below], |r| r.get::<_, Option<i64>>(0)))
                .ctx("outbox::claim_due: next priority")?
            {
                Some(p) => p,
                None => break,
            },
        };
    }
    if rows.is_empty() {
        return Ok(rows);
    }
    // One statement for the batch (`rarray`, see `schema::migrate`), not one per row.
    let ids = id_array(rows.iter().map(|r| r.id));
    // The claim gives back the three bytes `in_flight` adds to `queued`; a row without its own
    // validity end keeps six for the one its record may write (`mark_all_submitted`), so each
    // row is overwritten in place (schema migration 18).
    let claimed = exec_cached(
        tx,
        "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1, updated_at = ?1,
             room = CASE WHEN expires_at IS NULL THEN X'000000000000' END
         WHERE id IN rarray(?2)",
        params![now, ids],
    )
    .ctx("outbox::claim_due: claim")?;
    tally::note(
        Some(OutboxState::Queued),
        Some(OutboxState::InFlight),
        claimed,
    );
    for row in &mut rows {
        row.state = OutboxState::InFlight;
        row.attempts += 1;
        row.updated_at = now;
    }
    Ok(rows)
}

/// A segment row and what it belongs to.
#[derive(Clone, Copy)]
struct SegmentRef {
    id: i64,
    outbox_id: i64,
    seq: u8,
    total: u8,
}

/// Apply a receipt to segment row `segment.id` and settle its outbox row.
fn apply_to_segment(
    tx: &Transaction<'_>,
    segment: SegmentRef,
    stat: &str,
    state: ReceiptState,
    now: i64,
) -> Result<ReceiptMatch, StoreError> {
    let SegmentRef {
        id: segment_id,
        outbox_id,
        seq,
        total,
    } = segment;
    let new_state = match state {
        ReceiptState::Intermediate => SegmentState::Submitted,
        ReceiptState::Delivered => SegmentState::Delivered,
        ReceiptState::Failed => SegmentState::Failed,
    };
    // A final segment keeps its outcome; later receipts for it change nothing. `room = NULL`
    // gives back the bytes the stat takes (schema migration 18).
    let updated = exec_cached(
        tx,
        "UPDATE outbox_segment SET state = ?2, receipt_stat = ?3, updated_at = ?4, room = NULL
         WHERE id = ?1 AND state = 'submitted'",
        params![segment_id, new_state, stat, now],
    )
    .ctx("outbox: update segment")?;

    // Per segment number: delivered if any submission was delivered; failed if every
    // submission failed. A one-part message whose segment just became delivered is delivered
    // whatever its other submissions did, so the usual case needs no look at them.
    let just_delivered = updated == 1 && new_state == SegmentState::Delivered && total == 1;
    let (delivered, finals, this_failed): (i64, i64, bool) = if just_delivered {
        (1, 1, false)
    } else {
        tx.prepare_cached(
            "SELECT coalesce(sum(d), 0), coalesce(sum(d OR f), 0),
                    coalesce(max(seq = ?2 AND f AND NOT d), 0)
             FROM (SELECT seq, max(state = 'delivered') AS d, min(state = 'failed') AS f
                   FROM outbox_segment WHERE outbox_id = ?1 AND seq <= ?3 GROUP BY seq)",
        )
        .and_then(|mut s| {
            s.query_row(params![outbox_id, seq, total], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .ctx("outbox: settle")?
    };
    let mut changed: Option<OutboxState> = None;
    if delivered >= i64::from(total) {
        changed = settle_delivered(tx, outbox_id, now)?;
    } else if this_failed && state == ReceiptState::Failed {
        changed = if deleted_at_our_cancel(tx, outbox_id, stat, now)? {
            Some(OutboxState::Superseded)
        } else {
            let reason = format!("{RECEIPT_FAILURE}{stat} for segment {seq}/{total}");
            fail(tx, outbox_id, &reason, now)?.then_some(OutboxState::Failed)
        };
    }
    let row_state: OutboxState = match changed {
        Some(state) => state,
        None => state_of(tx, outbox_id)?.ok_or(StoreError::NotFound {
            table: "outbox",
            id: outbox_id,
        })?,
    };
    Ok(ReceiptMatch::Matched {
        outbox_id,
        seq,
        all_segments_final: finals >= i64::from(total),
        state: row_state,
        changed: changed.is_some(),
    })
}

/// A `DELETED` receipt for submitted row `id` while a cancel of it is pending
/// (`outbox_cancel`): the SMSC telling what our `cancel_sm` did (many send that receipt, some
/// before the `cancel_sm_resp`), not a failure to deliver. The row becomes `superseded`, last
/// error [`cancel::cancelled_error`], as the cancel's answer would make it; failed instead, a
/// push would be taken for one the handset refused (resent by SMS, the handset marked as
/// without WAP Push) and `outbox retry` would send the stale message again. The intent stays
/// for the canceller (parts not yet cancelled). Returns whether it did so.
fn deleted_at_our_cancel(
    tx: &Transaction<'_>,
    id: i64,
    stat: &str,
    now: i64,
) -> Result<bool, StoreError> {
    use sms_wire::receipt::ReceiptStatus;
    if ReceiptStatus::from_stat(stat) != Some(ReceiptStatus::Deleted) {
        return Ok(false);
    }
    let Some(why) = cancel::asked(tx, id)? else {
        return Ok(false);
    };
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3
         WHERE id = ?1 AND state = 'submitted'",
        params![id, cancel::cancelled_error(&why), now],
    )
    .ctx("outbox: deleted at our cancel")?;
    tally::note(
        Some(OutboxState::Submitted),
        Some(OutboxState::Superseded),
        n,
    );
    Ok(n == 1)
}

/// Row `id` becomes `delivered` from whatever state it was in but `delivered`; returns
/// `Some(Delivered)` if it changed. The usual rows are `submitted` (a receipt after its record)
/// and `in_flight` (a held receipt applied while its segment is recorded): one statement each,
/// tried in that order; any other state is looked up first.
fn settle_delivered(
    tx: &Transaction<'_>,
    id: i64,
    now: i64,
) -> Result<Option<OutboxState>, StoreError> {
    const FROM: [(OutboxState, &str); 2] = [
        (
            OutboxState::Submitted,
            "UPDATE outbox SET state = 'delivered', updated_at = ?2
             WHERE id = ?1 AND state = 'submitted'",
        ),
        (
            OutboxState::InFlight,
            "UPDATE outbox SET state = 'delivered', updated_at = ?2
             WHERE id = ?1 AND state = 'in_flight'",
        ),
    ];
    for (from, sql) in FROM {
        if exec_cached(tx, sql, params![id, now]).ctx("outbox: delivered")? == 1 {
            tally::note(Some(from), Some(OutboxState::Delivered), 1);
            return Ok(Some(OutboxState::Delivered));
        }
    }
    let from = match state_of(tx, id)? {
        Some(s) if s != OutboxState::Delivered => s,
        _ => return Ok(None),
    };
    exec_cached(
        tx,
        "UPDATE outbox SET state = 'delivered', updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )
    .ctx("outbox: delivered")?;
    tally::note(Some(from), Some(OutboxState::Delivered), 1);
    Ok(Some(OutboxState::Delivered))
}

/// The state of row `id`, if it exists.
fn state_of(tx: &Transaction<'_>, id: i64) -> Result<Option<OutboxState>, StoreError> {
    tx.prepare_cached("SELECT state FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .ctx("outbox: state")
}

/// Record that segment `seq`/`total` of `outbox_id` was accepted with `message_id` (the
/// `submit_sm_resp` id, stored normalised and raw). Receipts held for this id are applied now
/// (receipt before resp); the last one applied is returned, else [`ReceiptMatch::Unknown`].
pub fn record_segment_submitted(
    tx: &Transaction<'_>,
    outbox_id: i64,
    seq: u8,
    total: u8,
    message_id: &str,
    now: i64,
) -> Result<ReceiptMatch, StoreError> {
    let attempt: Option<u32> = tx
        .prepare_cached("SELECT attempts FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.query_row([outbox_id], |r| r.get(0)).optional())
        .ctx("outbox::record_segment_submitted: row")?;
    let Some(attempt) = attempt else {
        return Err(StoreError::NotFound {
            table: "outbox",
            id: outbox_id,
        });
    };
    let segment = SegmentRecord {
        outbox_id,
        seq,
        total,
        message_id,
        attempt,
    };
    insert_segment(tx, &segment, true, now)
}

/// One accepted segment to record (see [`record_segment_submitted`]).
struct SegmentRecord<'a> {
    outbox_id: i64,
    seq: u8,
    total: u8,
    message_id: &'a str,
    attempt: u32,
}

/// Insert a segment row (the same response twice reuses the first row) and, when receipts may
/// be held (`held_receipts`), apply those waiting for its id.
fn insert_segment(
    tx: &Transaction<'_>,
    segment: &SegmentRecord<'_>,
    held_receipts: bool,
    now: i64,
) -> Result<ReceiptMatch, StoreError> {
    let SegmentRecord {
        outbox_id,
        seq,
        total,
        message_id,
        attempt,
    } = *segment;
    let normalised = normalize_message_id(message_id);
    let inserted = tx
        .prepare_cached(&SEGMENT_INSERT_ONE)
        .and_then(|mut s| {
            s.execute(params![
                outbox_id, seq, total, normalised, message_id, attempt, now, now
            ])
        })
        .ctx("outbox::record_segment_submitted: insert")?;
    if !held_receipts {
        return Ok(ReceiptMatch::Unknown);
    }
    let segment_id: i64 = if inserted == 1 {
        tx.last_insert_rowid()
    } else {
        // The same resp recorded twice: reuse the row.
        tx.prepare_cached(
            "SELECT id FROM outbox_segment
             WHERE outbox_id = ?1 AND seq = ?2 AND smsc_message_id = ?3",
        )
        .and_then(|mut s| s.query_row(params![outbox_id, seq, normalised], |r| r.get(0)))
        .ctx("outbox::record_segment_submitted: segment")?
    };
    let segment = SegmentRef {
        id: segment_id,
        outbox_id,
        seq,
        total,
    };

    let groups: Vec<HeldGroup> = tx
        .prepare_cached(
            "SELECT group_id, stat, state, addresses FROM pending_receipt
             WHERE group_id IN (SELECT group_id FROM pending_receipt
                                WHERE message_id = ?1 AND exact = 1)
             GROUP BY group_id ORDER BY group_id",
        )
        .and_then(|mut s| s.query_map([&normalised], HeldGroup::from_row)?.collect())
        .ctx("outbox::record_segment_submitted: pending receipts")?;
    // A held receipt that names another number than this message's is not for it (the same
    // SMSC id given to another message); it waits for its own.
    let destination: Option<String> = if groups.iter().any(|g| !g.addresses.is_empty()) {
        tx.prepare_cached("SELECT destination FROM outbox WHERE id = ?1")
            .and_then(|mut s| s.query_row([outbox_id], |r| r.get(0)).optional())
            .ctx("outbox::record_segment_submitted: destination")?
    } else {
        None
    };
    let mut outcome = ReceiptMatch::Unknown;
    for HeldGroup {
        group,
        stat,
        state,
        addresses,
    } in groups
    {
        if destination
            .as_deref()
            .is_some_and(|d| same_handset(d, &addresses) == Some(false))
        {
            // Left for its own segment; if none comes, the resolver's last resort weighs it
            // (an id with no other-base form would otherwise wait out its 48 hours unseen).
            exec_cached(
                tx,
                "UPDATE pending_receipt SET stray = 1 WHERE group_id = ?1 AND stray = 0",
                [group],
            )
            .ctx("outbox::record_segment_submitted: stray")?;
            continue;
        }
        outcome = apply_to_segment(tx, segment, &stat, state, now)?;
        exec_cached(
            tx,
            "DELETE FROM pending_receipt WHERE group_id = ?1",
            [group],
        )
        .ctx("outbox::record_segment_submitted: drop pending")?;
    }
    Ok(outcome)
}

/// A held receipt (one `pending_receipt` group) as a segment claims it.
struct HeldGroup {
    group: i64,
    stat: String,
    state: ReceiptState,
    /// The numbers it names ([`receipt_addresses`]).
    addresses: Vec<String>,
}

impl HeldGroup {
    /// From `group_id, stat, state, addresses`.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        let addresses: Option<String> = r.get(3)?;
        Ok(HeldGroup {
            group: r.get(0)?,
            stat: r.get(1)?,
            state: r.get(2)?,
            addresses: addresses
                .map(|a| a.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        })
    }
}

/// A segment the SMSC accepted, as [`record_attempts`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedSegment {
    /// Segment number, 1-based.
    pub seq: u8,
    /// Number of segments.
    pub total: u8,
    /// `message_id` of the `submit_sm_resp`, as received.
    pub message_id: String,
}

/// How one attempt at an in-flight row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Every segment accepted (now or by an earlier attempt): the row becomes `submitted`.
    Submitted,
    /// Try again not before `at` (Unix ms), keeping `error` ([`retry_later`]).
    Retry {
        /// Next attempt, Unix ms.
        at: i64,
        /// Why.
        error: String,
    },
    /// The SMSC refused it for load (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`) and took nothing of
    /// this attempt: try again not before `at` (Unix ms), keeping `error`, the attempt not
    /// counted ([`retry_busy`]), so congestion never uses up `max_attempts`.
    Busy {
        /// Next attempt, Unix ms.
        at: i64,
        /// Why.
        error: String,
    },
    /// Nothing of this attempt reached the SMSC (the session closed or ended before its
    /// segments went out, or the link stopped): back to `queued` in its old place, the attempt
    /// not counted ([`requeue_unsent`]). Not for an attempt some of whose segments the SMSC
    /// accepted: uncounted, the row's next claim would look like a first attempt and send
    /// those segments again.
    NotSent,
    /// Its validity ended before it could be sent: `expired`, nothing sent.
    Expired,
    /// A withdrawal (STOP, a removal from the groups) marked it while it was in flight
    /// ([`cancel::withdraw_submitted`]) and the dispatcher held back its parts not written
    /// yet ([`cancel::marked_in_flight`]): `superseded`, the parts the SMSC took to be
    /// cancelled there ([`requeue_withdrawn`]).
    Withdrawn,
    /// Permanent failure ([`fail`]).
    Fail(String),
}

/// One claimed row's attempt: what was accepted and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The outbox row.
    pub outbox_id: i64,
    /// The row's `attempts` as claimed (stored on its segment rows).
    pub attempt: u32,
    /// Segments accepted in this attempt.
    pub accepted: Vec<AcceptedSegment>,
    /// The row's end.
    pub end: AttemptEnd,
}

/// Record a batch of attempts in the caller's transaction: each accepted segment (applying
/// receipts that beat its response), then the row's end. One statement per segment and one per
/// row, all prepared once, and the held-receipt look-up only when receipts are held at all:
/// this is the per-message cost of the outbox. Each attempt stands alone: the result says, per
/// attempt in order, whether it was recorded and what a receipt held for it did.
///
/// `validity_ms` is the configured validity the submits were built with (counted from when a
/// row's content was queued): a row that becomes `submitted` without its own `expires_at`
/// keeps the end it was sent with there, so that [`expire_unconfirmed`] judges it by that and
/// not by whatever the validity is configured to later.
pub fn record_attempts(
    tx: &Transaction<'_>,
    attempts: &[Attempt],
    validity_ms: Option<i64>,
    now: i64,
) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
    let held_receipts: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM pending_receipt)")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("outbox::record_attempts: held receipts")?;
    // With no receipt held, nothing waits for these segments: they go in with multi-row
    // inserts, SEGMENT_CHUNK rows a statement. Attempts whose chunk failed are recorded one by
    // one below, so each still stands alone.
    let mut in_chunk = vec![false; attempts.len()];
    if !held_receipts {
        in_chunk = insert_segments_chunked(tx, attempts, now);
    }
    // Rows whose every segment is accepted become `submitted` together, in one statement
    // after the loop.
    let mut submitted: Vec<(usize, i64)> = Vec::new();
    let mut record = |(i, a): (usize, &Attempt)| -> Result<Recorded, StoreError> {
        let mut recorded = Recorded::default();
        for seg in a.accepted.iter().filter(|_| !in_chunk[i]) {
            let record = SegmentRecord {
                outbox_id: a.outbox_id,
                seq: seg.seq,
                total: seg.total,
                message_id: &seg.message_id,
                attempt: a.attempt,
            };
            let held = insert_segment(tx, &record, held_receipts, now)?;
            if let ReceiptMatch::Matched {
                state: OutboxState::Failed,
                changed: true,
                ..
            } = held
            {
                recorded.failed_segment = Some(seg.seq);
            }
        }
        match &a.end {
            AttemptEnd::Submitted => {
                submitted.push((i, a.outbox_id));
                Ok(())
            }
            AttemptEnd::Retry { at, error } => {
                retry_later(tx, a.outbox_id, *at, error, now).map(|_| ())
            }
            AttemptEnd::Busy { at, error } => {
                retry_busy(tx, a.outbox_id, *at, error, now).map(|_| ())
            }
            AttemptEnd::NotSent => requeue_unsent(tx, a.outbox_id, now).map(|_| ()),
            AttemptEnd::Expired => expire_in_flight(tx, a.outbox_id, now).map(|_| ()),
            AttemptEnd::Withdrawn => requeue_withdrawn(tx, a.outbox_id, now).map(|_| ()),
            AttemptEnd::Fail(reason) => fail(tx, a.outbox_id, reason, now).map(|_| ()),
        }
        .map(|()| recorded)
    };
    let mut results: Vec<Result<Recorded, StoreError>> =
        attempts.iter().enumerate().map(&mut record).collect();
    if !submitted.is_empty() {
        let ids = submitted.iter().map(|&(_, id)| id);
        let marked = mark_all_submitted(tx, ids, validity_ms, now);
        if let Err(e) = marked {
            // Only a refusal that passes makes the caller try the whole write again; any
            // other stands (trying it again for ever would change nothing).
            let transient = e.is_transient();
            let reason = e.to_string();
            for (i, _) in submitted {
                results[i] = Err(if transient {
                    StoreError::NotCommitted {
                        reason: reason.clone(),
                    }
                } else {
                    StoreError::Failed {
                        op: "outbox::mark_all_submitted",
                        reason: reason.clone(),
                    }
                });
            }
        }
    }
    Ok(results)
}

/// What recording one attempt did beyond its own rows ([`record_attempts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The segment whose receipt, held because it came before the `submit_sm_resp`, failed
    /// the row as its segment was recorded (the caller tells the operator, as for a receipt
    /// that fails a row when it comes).
    pub failed_segment: Option<u8>,
}

/// Segment rows one multi-row insert takes (see [`record_attempts`]).
const SEGMENT_CHUNK: usize = 16;

/// The segment insert for `rows` rows, eight parameters a row: outbox id, segment number,
/// segment count, normalised id, raw id, attempt, submitted at, updated at. The same answer
/// recorded twice is ignored; each row keeps room for its receipt's stat (schema migration 18).
/// No RETURNING: SQLite materialises a RETURNING statement's rows
/// in an ephemeral table.
fn segment_insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO outbox_segment (outbox_id, seq, total, smsc_message_id,
             smsc_message_id_raw, attempt, state, submitted_at, updated_at, room)
         VALUES {}
         ON CONFLICT (outbox_id, seq, smsc_message_id) DO NOTHING",
        vec!["(?, ?, ?, ?, ?, ?, 'submitted', ?, ?, X'00000000000000')"; rows].join(", ")
    )
}

/// [`segment_insert_sql`] for one row and for a chunk, built once.
static SEGMENT_INSERT_ONE: LazyLock<String> = LazyLock::new(|| segment_insert_sql(1));
static SEGMENT_INSERT_CHUNK: LazyLock<String> = LazyLock::new(|| segment_insert_sql(SEGMENT_CHUNK));

/// Insert the accepted segments of `attempts` (no receipt held) with `SEGMENT_CHUNK`-row
/// statements, whole attempts per chunk; returns, per attempt, whether its segments are in
/// (false: left to the one-by-one path, e.g. after a chunk's statement failed, or for the
/// remainder that does not fill a chunk).
fn insert_segments_chunked(tx: &Transaction<'_>, attempts: &[Attempt], now: i64) -> Vec<bool> {
    let mut done = vec![false; attempts.len()];
    // Attempts grouped so that a chunk holds exactly SEGMENT_CHUNK segments.
    let mut group: Vec<usize> = Vec::new();
    let mut segments = 0;
    for (i, a) in attempts.iter().enumerate() {
        if a.accepted.is_empty() {
            continue;
        }
        if segments + a.accepted.len() > SEGMENT_CHUNK {
            group.clear();
            segments = 0;
            if a.accepted.len() > SEGMENT_CHUNK {
                continue;
            }
        }
        group.push(i);
        segments += a.accepted.len();
        if segments < SEGMENT_CHUNK {
            continue;
        }
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(SEGMENT_CHUNK * 8);
        for &g in &group {
            let a = &attempts[g];
            for seg in &a.accepted {
                use rusqlite::types::Value::{Integer, Text};
                values.extend([
                    Integer(a.outbox_id),
                    Integer(i64::from(seg.seq)),
                    Integer(i64::from(seg.total)),
                    Text(normalize_message_id(&seg.message_id)),
                    Text(seg.message_id.clone()),
                    Integer(i64::from(a.attempt)),
                    Integer(now),
                    Integer(now),
                ]);
            }
        }
        let inserted = tx
            .prepare_cached(&SEGMENT_INSERT_CHUNK)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(values)));
        if inserted.is_ok() {
            for &g in &group {
                done[g] = true;
            }
        }
        group.clear();
        segments = 0;
    }
    done
}

/// Ids as a `rarray` parameter.
pub(super) fn id_array(ids: impl Iterator<Item = i64>) -> rusqlite::vtab::array::Array {
    std::rc::Rc::new(ids.map(rusqlite::types::Value::Integer).collect())
}

/// Every segment of in-flight row `id` was accepted: `in_flight` -> `submitted`. Returns
/// `false` (and changes nothing) if the row was not in flight, e.g. already delivered by
/// receipts that beat this call. Its `expires_at` stays as it is (the dispatcher records
/// through [`record_attempts`], which keeps the validity a row was sent with).
pub fn mark_submitted(tx: &Transaction<'_>, id: i64, now: i64) -> Result<bool, StoreError> {
    Ok(mark_all_submitted(tx, std::iter::once(id), None, now)? == 1)
}

/// [`mark_submitted`] for many rows in one statement; returns how many changed. A row no
/// longer in flight (delivered by receipts that beat this) is left alone. A keyed row that a
/// newer message superseded while it was in flight is to be cancelled at the SMSC
/// ([`cancel::supersede_on_submit`]).
fn mark_all_submitted(
    tx: &Transaction<'_>,
    ids: impl Iterator<Item = i64>,
    validity_ms: Option<i64>,
    now: i64,
) -> Result<usize, StoreError> {
    // A row without its own `expires_at` keeps the validity end its submits carried, in the
    // six bytes of room its claim left (a six-byte integer for a time in milliseconds). Each
    // row changed comes back, with its id if keyed: only those can have been superseded while
    // in flight, and most batches (replies, one-off messages) hold none.
    let mut n = 0;
    let mut keyed = Vec::new();
    tx.prepare_cached(
        "UPDATE outbox SET state = 'submitted', updated_at = ?1,
             expires_at = coalesce(expires_at, content_at + ?3),
             room = CASE WHEN expires_at IS NULL AND ?3 IS NOT NULL THEN NULL ELSE room END
         WHERE id IN rarray(?2) AND state = 'in_flight'
         RETURNING CASE WHEN coalesce_key IS NOT NULL THEN id END",
    )
    .and_then(|mut s| {
        let mut rows = s.query(params![now, id_array(ids), validity_ms])?;
        while let Some(r) = rows.next()? {
            n += 1;
            if let Some(id) = r.get::<_, Option<i64>>(0)? {
                keyed.push(id);
            }
        }
        Ok(())
    })
    .ctx("outbox::mark_submitted")?;
    tally::note(Some(OutboxState::InFlight), Some(OutboxState::Submitted), n);
    if !keyed.is_empty() {
        // Superseded while in flight: the cancel `enqueue` could not ask for yet.
        cancel::supersede_on_submit(tx, &keyed, now)?;
        // Withdrawn while in flight and accepted whole (its parts all written before the
        // dispatcher saw the mark): cancelled now, not at the canceller's next look at rows
        // in flight.
        cancel::due_on_submit(tx, &keyed, now)?;
    }
    Ok(n)
}

/// Append `mark` to the last error of failed row `id` unless it is there already: `true` the
/// first time (the caller acts once per failed row, however many receipts report it).
pub fn mark_failed_once(
    tx: &Transaction<'_>,
    id: i64,
    mark: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec_cached(
        tx,
        "UPDATE outbox SET last_error = coalesce(last_error, '') || ?2, updated_at = ?3
         WHERE id = ?1 AND state = 'failed' AND instr(coalesce(last_error, ''), ?2) = 0",
        params![id, mark, now],
    )
    .ctx("outbox::mark_failed_once")?;
    Ok(n == 1)
}

/// Withdraw the queued rows whose coalescing key matches `pattern` (SQL `LIKE`; a plain key
/// matches itself): they become `superseded` with `why` and are never sent. For updates the
/// recipient may no longer get (they sent STOP, or left the owner's groups). `veto`: the
/// [`PushVeto`] that also stops them, for avatar pushes (a contact taken out of every group
/// under PRIVACY CONTACTS: [`PushVeto::NotAContact`]), kept in `push_veto` as every
/// withdrawn push keeps its own ([`recorded_veto`]); `None` for status updates and for a
/// withdrawal no veto causes (STOP). The parts the SMSC took of a queued row (an earlier
/// attempt got them through) are to be cancelled there ([`cancel::withdraw_queued_parts`]).
/// Rows in flight are marked: their parts not written yet are held back, and they end
/// withdrawn ([`AttemptEnd::Withdrawn`], [`back_to_queue`]); those the SMSC accepted and has
/// not confirmed (`submitted`) are to be cancelled there ([`cancel::withdraw_submitted`]).
/// Returns how many queued rows were withdrawn.
pub fn withdraw_queued(
    tx: &Transaction<'_>,
    pattern: &str,
    why: &str,
    veto: Option<PushVeto>,
    now: i64,
) -> Result<usize, StoreError> {
    // A plain key seeks the partial index of queued keyed rows; a pattern (STOP ALL, rare)
    // reads its entries, the state and IS NOT NULL terms keeping the look inside it.
    let sql = if pattern.contains('%') {
        "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3,
             push_veto = ?4
         WHERE state = 'queued' AND coalesce_key IS NOT NULL AND coalesce_key LIKE ?1"
    } else {
        "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3,
             push_veto = ?4
         WHERE state = 'queued' AND coalesce_key = ?1"
    };
    let code = veto.map(PushVeto::code);
    cancel::withdraw_queued_parts(tx, Withdrawn::Key(pattern), why, now)?;
    let n =
        exec_cached(tx, sql, params![pattern, why, now, code]).ctx("outbox::withdraw_queued")?;
    tally::note(Some(OutboxState::Queued), Some(OutboxState::Superseded), n);
    cancel::withdraw_submitted(tx, Withdrawn::Key(pattern), why, now)?;
    Ok(n)
}

/// Why [`withdraw_queued_pushes`] withdrew a row (its `last_error`) when the owner set
/// PRIVACY NOBODY ([`PushVeto::queued`]).
pub const PUSH_WITHDRAWN: &str = "withdrawn: the owner set PRIVACY NOBODY";

/// Why an avatar push in flight when its owner set PRIVACY NOBODY, which then came back
/// unsent (the SMSC busy, the link dropped), was withdrawn instead of queued again.
pub const PUSH_WITHDRAWN_IN_FLIGHT: &str =
    "withdrawn: the owner set PRIVACY NOBODY while it was in flight; the SMSC took none of it";

/// Withdraw every queued avatar push of `owner` for `veto` (PRIVACY NOBODY, AVATAR OFF): the
/// rows schema 19's `avatar_push` names (the WAP Push SI, the SMS link for a handset without
/// WAP Push, the SMS that replaced a refused push) that are still `queued` become
/// `superseded`, last error [`PushVeto::queued`] and `push_veto` its code, and are never
/// sent, as the updates a STOP withdraws ([`withdraw_queued`]); the parts the SMSC took of one
/// (an earlier attempt got them through) are to be cancelled there
/// ([`cancel::withdraw_queued_parts`]). Rows in flight go out; one that comes back to the
/// queue unsent is withdrawn then ([`Requeued::Withdrawn`], [`PushVeto`]). Those the SMSC
/// accepted and has not confirmed (`submitted`) are to be cancelled there
/// ([`cancel::withdraw_submitted`]). Returns how many queued rows were withdrawn.
pub fn withdraw_queued_pushes(
    tx: &Transaction<'_>,
    owner: &str,
    veto: PushVeto,
    now: i64,
) -> Result<usize, StoreError> {
    let why = veto.queued();
    cancel::withdraw_queued_parts(tx, Withdrawn::PushesOf(owner), &why, now)?;
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3,
             push_veto = ?4
         WHERE state = 'queued'
           AND id IN (SELECT outbox_id FROM avatar_push WHERE owner = ?1)",
        params![owner, why, now, veto.code()],
    )
    .ctx("outbox::withdraw_queued_pushes")?;
    tally::note(Some(OutboxState::Queued), Some(OutboxState::Superseded), n);
    cancel::withdraw_submitted(tx, Withdrawn::PushesOf(owner), &why, now)?;
    Ok(n)
}

/// Why [`withdraw_queued_pushes`] withdrew a row (its `last_error`) when the owner set
/// AVATAR OFF: its link opens no picture any more ([`PushVeto::queued`]).
pub const PUSH_WITHDRAWN_AVATAR_OFF: &str = "withdrawn: the owner set AVATAR OFF";

/// Why an avatar push may no longer go to its contact, though it was queued for them: the
/// owner or their groups changed since. Decided by [`push_veto`], the rule the push's link
/// is served by. A row withdrawn for it keeps it in `outbox.push_veto` (schema 21, as
/// [`PushVeto::code`]; read with [`recorded_veto`]), so that what happened to a row is read
/// from a typed column, not from its `last_error` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushVeto {
    /// The owner set PRIVACY NOBODY.
    Nobody,
    /// The owner set AVATAR OFF: the link opens no picture.
    AvatarOff,
    /// The owner has PRIVACY CONTACTS and the contact is in none of their groups any more
    /// (GROUP ... DEL, DROP): the link would show them nothing.
    NotAContact,
}

impl PushVeto {
    /// Every veto.
    pub const ALL: [PushVeto; 3] = [PushVeto::Nobody, PushVeto::AvatarOff, PushVeto::NotAContact];

    /// The code `outbox.push_veto` keeps (schema 21's CHECK names these three).
    pub fn code(self) -> &'static str {
        match self {
            PushVeto::Nobody => "nobody",
            PushVeto::AvatarOff => "avatar_off",
            PushVeto::NotAContact => "not_a_contact",
        }
    }

    /// The veto of [`code`](Self::code) `code`.
    pub fn from_code(code: &str) -> Option<PushVeto> {
        PushVeto::ALL.into_iter().find(|v| v.code() == code)
    }

    /// The `last_error` of a queued push withdrawn ([`withdraw_queued_pushes`]):
    /// [`PUSH_WITHDRAWN`], [`PUSH_WITHDRAWN_AVATAR_OFF`].
    pub fn queued(self) -> String {
        format!("withdrawn: {}", self.cause())
    }

    /// What changed, as a clause: "the owner set PRIVACY NOBODY".
    pub fn cause(self) -> &'static str {
        match self {
            PushVeto::Nobody => "the owner set PRIVACY NOBODY",
            PushVeto::AvatarOff => "the owner set AVATAR OFF",
            PushVeto::NotAContact => "the contact left the owner's groups",
        }
    }

    /// The `last_error` of a failed push an operator's retry withdrew instead of queueing it
    /// again ([`retry_failed_matching`]).
    pub fn at_retry(self) -> String {
        format!(
            "withdrawn at an operator's retry: {} after it failed",
            self.cause()
        )
    }

    /// Whether the owner does not show the picture to this viewer (PRIVACY NOBODY, or a
    /// contact out of every group under PRIVACY CONTACTS): the link answers that it is not
    /// shared with them. `false` for [`PushVeto::AvatarOff`]: they may see it, there is none.
    pub fn refuses_viewer(self) -> bool {
        match self {
            PushVeto::Nobody | PushVeto::NotAContact => true,
            PushVeto::AvatarOff => false,
        }
    }

    /// The `last_error` of a push withdrawn when it came back from flight unsent.
    pub fn in_flight(self) -> &'static str {
        match self {
            PushVeto::Nobody => PUSH_WITHDRAWN_IN_FLIGHT,
            PushVeto::AvatarOff => {
                "withdrawn: the owner set AVATAR OFF while it was in flight; the SMSC took none \
                 of it"
            }
            PushVeto::NotAContact => {
                "withdrawn: the contact left the owner's groups while it was in flight; the \
                 SMSC took none of it"
            }
        }
    }
}

/// The owner and the contact of avatar push row `outbox_id` (schema 19's `avatar_push`);
/// `None` for another row, or a push written before that table.
pub fn push_pair(
    conn: &Connection,
    outbox_id: i64,
) -> Result<Option<(String, String)>, StoreError> {
    conn.prepare_cached("SELECT owner, viewer FROM avatar_push WHERE outbox_id = ?1")
        .and_then(|mut s| {
            s.query_row([outbox_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("outbox::push_pair")
}

/// Why `viewer` is not shown `owner`'s avatar (`None`: they are): the owner set PRIVACY
/// NOBODY, or the contact is in none of the owner's groups any more under PRIVACY CONTACTS, or
/// the owner has no avatar (AVATAR OFF: there is no picture to show). The privacy vetoes come
/// first ([`PushVeto::refuses_viewer`]): [`PushVeto::AvatarOff`] means the viewer may see the
/// picture and there is none. This is the one rule of who sees a picture: the avatar link
/// (`/a/<token>`), the sync API and WHO's photo link read it (through
/// `service::avatar::shown` and `may_view`), and so does every path that decides whether a
/// queued push may still go (the requeue paths of this module, a withdrawal, the SMS fallback
/// of a refused push), from the tables it reads (`subscriber.privacy`, `membership`,
/// `subscriber_avatar`), so that none of them needs anything above the store. An owner with
/// no subscriber row (none is ever deleted) counts as one without an avatar.
pub fn push_veto(
    conn: &Connection,
    owner: &str,
    viewer: &str,
) -> Result<Option<PushVeto>, StoreError> {
    let facts: Option<(String, bool, bool)> = conn
        .prepare_cached(
            "SELECT privacy,
                    EXISTS (SELECT 1 FROM membership WHERE owner = ?1 AND member = ?2),
                    EXISTS (SELECT 1 FROM subscriber_avatar WHERE msisdn = ?1)
             FROM subscriber WHERE msisdn = ?1",
        )
        .and_then(|mut s| {
            s.query_row([owner, viewer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("outbox::push_veto")?;
    let Some((privacy, in_a_group, has_avatar)) = facts else {
        return Ok(Some(PushVeto::AvatarOff));
    };
    // As `state::subscriber` reads the column: anything but these two is CONTACTS.
    Ok(match privacy.as_str() {
        "nobody" => Some(PushVeto::Nobody),
        "everyone" => None,
        _ => (!in_a_group).then_some(PushVeto::NotAContact),
    }
    .or((!has_avatar).then_some(PushVeto::AvatarOff)))
}

/// The veto row `id` was withdrawn for (`outbox.push_veto`, schema 21), or, on a `failed`
/// row, the one an operator's retry left it failed for ([`Requeued::LeftFailed`]): `None` for
/// a row no veto stopped, and for a missing one.
pub fn recorded_veto(conn: &Connection, id: i64) -> Result<Option<PushVeto>, StoreError> {
    let code: Option<Option<String>> = conn
        .prepare_cached("SELECT push_veto FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .ctx("outbox::recorded_veto")?;
    Ok(code.flatten().as_deref().and_then(PushVeto::from_code))
}

/// Why row `id`, if an avatar push, may no longer go to its contact. With `untouched`, only
/// one of which the SMSC took no part (for a row in flight: a part taken is on its way, the
/// rest follows, or the handset keeps half a message).
fn push_withdrawn(
    tx: &Transaction<'_>,
    id: i64,
    untouched: bool,
) -> Result<Option<PushVeto>, StoreError> {
    let Some((owner, viewer)) = push_pair(tx, id)? else {
        return Ok(None);
    };
    if untouched && part_taken(tx, id)? {
        return Ok(None);
    }
    push_veto(tx, &owner, &viewer)
}

/// Row `id`, in flight, which a withdrawal marked `why` ([`cancel::withdraw_submitted`]),
/// ends without sending what is left of it: `superseded`. If the SMSC took none of its parts,
/// the mark goes and the row keeps `why` as its last error. If it took some, the mark stays as
/// the intent to cancel them (due now, the canceller sends the `cancel_sm`s), its reason
/// saying how many parts never went, and the last error says what became of the parts until
/// the canceller records that the SMSC cancelled them (`cancelled at the SMSC: <why>; N of
/// its M parts never sent`).
fn withdraw_marked(tx: &Transaction<'_>, id: i64, why: &str, now: i64) -> Result<(), StoreError> {
    // Parts the SMSC took (a segment with its message id, in any attempt), of how many.
    let (taken, total): (i64, i64) = tx
        .prepare_cached(
            "SELECT count(DISTINCT seq), coalesce(max(total), 0) FROM outbox_segment
             WHERE outbox_id = ?1",
        )
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("outbox: parts taken")?;
    let last_error = if taken == 0 {
        cancel::take_withdrawal(tx, id)?;
        why.to_string()
    } else {
        let unsent = (total - taken).max(0);
        let cancel_why = if unsent > 0 {
            format!("{why}; {unsent} of its {total} parts never sent")
        } else {
            why.to_string()
        };
        let due = exec_cached(
            tx,
            "UPDATE outbox_cancel SET why = ?2, next_at = ?3 WHERE outbox_id = ?1",
            params![id, cancel_why, now],
        )
        .ctx("outbox: cancel the parts taken")?;
        // Due now: the canceller is woken once this commits.
        tally::note_intents(due);
        format!(
            "withdrawn in flight ({why}): the SMSC had taken {taken} of its {total} parts \
             {}, the other {unsent} were never sent",
            cancel::ASKED
        )
    };
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, last_error, now],
    )
    .ctx("outbox: withdrawn in flight")?;
    tally::note(
        Some(OutboxState::InFlight),
        Some(OutboxState::Superseded),
        n,
    );
    Ok(())
}

/// In-flight row `id`, whose parts not written yet the dispatcher held back because a
/// withdrawal marked it ([`AttemptEnd::Withdrawn`]): withdrawn ([`back_to_queue`]: the parts
/// the SMSC took are cancelled there, the rest never sent). Were the mark gone, it is queued
/// again as a row whose parts did not go out (the attempt counted if the SMSC took a part, so
/// those are not sent again).
pub fn requeue_withdrawn(tx: &Transaction<'_>, id: i64, now: i64) -> Result<Requeued, StoreError> {
    if part_taken(tx, id)? {
        retry_later(tx, id, now, "parts held back for a withdrawal", now)
    } else {
        requeue_unsent(tx, id, now)
    }
}

/// Whether the SMSC took a part of row `id` (a segment with its message id).
fn part_taken(tx: &Transaction<'_>, id: i64) -> Result<bool, StoreError> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox_segment WHERE outbox_id = ?1)")
        .and_then(|mut s| s.query_row([id], |r| r.get::<_, bool>(0)))
        .ctx("outbox: part taken")
}

/// How a row goes back to `queued` ([`back_to_queue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requeue {
    /// Tried and not accepted: due at the given time (a back-off), the attempt counted.
    Later(i64),
    /// Left in flight by a disconnect or a crash: due again in its old place (its due time,
    /// or now if that is later), the attempt counted (it may have reached the SMSC).
    Interrupted,
    /// Never reached the SMSC: due again in its old place, the attempt not counted.
    Unsent,
    /// Refused for load: due again at the time given, the attempt not counted.
    Busy(i64),
    /// An operator's retry of a failed row: due now, attempts from 1 (the attempt that
    /// failed), so that its next claim counts as a retry and segments the SMSC already took
    /// are not sent again (`delivery`'s `accepted_before` looks only at rows past their first
    /// attempt).
    Operator,
}

/// Put row `id` back to `queued` from its current state `from`, honouring the
/// one-queued-row-per-key rule: the row whose content is newer stays queued, the other is
/// superseded. An avatar push that may no longer go to its contact ([`PushVeto`]) is withdrawn
/// instead ([`Requeued::Withdrawn`]): one coming back from flight of which the SMSC took
/// nothing, and a failed one an operator retries, if the SMSC took nothing of it either; a
/// failed one of which it took a part stays failed ([`Requeued::LeftFailed`]).
fn back_to_queue(
    tx: &Transaction<'_>,
    id: i64,
    from: OutboxState,
    how: Requeue,
    error: Option<&str>,
    now: i64,
) -> Result<Requeued, StoreError> {
    // A withdrawal (STOP, a removal from the groups, a push veto) came while it was out
    // ([`cancel::withdraw_submitted`] marked it). An avatar push is decided by its veto below,
    // the rule its link is served by, and the mark goes. Another update is not queued again:
    // it is withdrawn, the parts the SMSC took cancelled there, the rest never sent.
    if from == OutboxState::InFlight {
        if push_pair(tx, id)?.is_some() {
            cancel::take_withdrawal(tx, id)?;
        } else if let Some(why) = cancel::asked(tx, id)? {
            withdraw_marked(tx, id, &why, now)?;
            return Ok(Requeued::Withdrawn);
        }
    }
    let withdrawn = match from {
        OutboxState::InFlight => {
            push_withdrawn(tx, id, true)?.map(|v| (v, v.in_flight().to_string()))
        }
        OutboxState::Failed => match push_withdrawn(tx, id, false)? {
            // Part of it went out: withdrawing it would say nothing did, sending the rest
            // would go against the owner. It stays failed, the veto noted for the report.
            Some(veto) if part_taken(tx, id)? => {
                exec_cached(
                    tx,
                    "UPDATE outbox SET push_veto = ?2 WHERE id = ?1",
                    params![id, veto.code()],
                )
                .ctx("outbox: leave push failed")?;
                return Ok(Requeued::LeftFailed);
            }
            veto => veto.map(|v| (v, v.at_retry())),
        },
        _ => None,
    };
    if let Some((veto, why)) = withdrawn {
        let n = exec_cached(
            tx,
            "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3,
                 push_veto = ?4
             WHERE id = ?1",
            params![id, why, now, veto.code()],
        )
        .ctx("outbox: withdraw push")?;
        tally::note(Some(from), Some(OutboxState::Superseded), n);
        return Ok(Requeued::Withdrawn);
    }
    let (key, content_at): (Option<String>, i64) = tx
        .prepare_cached("SELECT coalesce_key, content_at FROM outbox WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("outbox: requeue row")?;
    if let Some(key) = key {
        let rival: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT id, content_at FROM outbox
                 WHERE coalesce_key = ?1 AND state = 'queued' AND id != ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![key, id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .ctx("outbox: requeue rival")?;
        if let Some((rival_id, rival_content_at)) = rival {
            let supersede = "UPDATE outbox SET state = 'superseded', last_error = ?2, \
                             updated_at = ?3, push_veto = NULL WHERE id = ?1";
            // The parts the SMSC took of the row superseded (an attempt got some through,
            // not all) are cancelled there, as a `submitted` row's would be: the handset is
            // not to get part of the older message.
            if (rival_content_at, rival_id) > (content_at, id) {
                let n = exec_cached(
                    tx,
                    supersede,
                    params![id, format!("superseded by outbox row {rival_id}"), now],
                )
                .ctx("outbox: supersede self")?;
                tally::note(Some(from), Some(OutboxState::Superseded), n);
                cancel::supersede_parts_taken(tx, id, rival_id, now)?;
                return Ok(Requeued::Superseded { by: rival_id });
            }
            let n = exec_cached(
                tx,
                supersede,
                params![rival_id, format!("superseded by outbox row {id}"), now],
            )
            .ctx("outbox: supersede rival")?;
            tally::note(Some(OutboxState::Queued), Some(OutboxState::Superseded), n);
            cancel::supersede_parts_taken(tx, rival_id, id, now)?;
        }
    }
    // ?5: keep the row's place (its due time, if not later than now); ?6: attempts 1 (1),
    // one fewer (2) or as they are.
    let (due, keep_place, attempts) = match how {
        Requeue::Later(at) => (at, false, 0),
        Requeue::Interrupted => (now, true, 0),
        Requeue::Unsent => (now, true, 2),
        Requeue::Busy(at) => (at, false, 2),
        Requeue::Operator => (now, false, 1),
    };
    // Queued again, the row takes back the room its next claim uses (schema migration 18); a
    // veto an earlier retry left it failed for no longer holds.
    tx.prepare_cached(
        "UPDATE outbox SET state = 'queued', push_veto = NULL,
             room = CASE WHEN expires_at IS NULL THEN X'000000000000000000' ELSE X'000000' END,
             next_attempt_at = CASE WHEN ?5 THEN min(next_attempt_at, ?2) ELSE ?2 END,
             last_error = coalesce(?3, last_error), updated_at = ?4,
             attempts = CASE ?6 WHEN 1 THEN min(attempts, 1) WHEN 2 THEN max(attempts - 1, 0)
                                ELSE attempts END
         WHERE id = ?1",
    )
    .and_then(|mut s| s.execute(params![id, due, error, now, keep_place, attempts]))
    .ctx("outbox: requeue")
    .map(|n| tally::note(Some(from), Some(OutboxState::Queued), n))?;
    Ok(Requeued::Queued)
}

/// An in-flight row could not be submitted now (throttled, timeout, transient error): back to
/// `queued`, not before `at`, keeping `error`.
pub fn retry_later(
    tx: &Transaction<'_>,
    id: i64,
    at: i64,
    error: &str,
    now: i64,
) -> Result<Requeued, StoreError> {
    in_flight_back_to_queue(tx, id, Requeue::Later(at), error, now)
}

/// An in-flight row the SMSC refused for load and took nothing of (see
/// [`AttemptEnd::Busy`]): back to `queued`, not before `at`, keeping `error`, its attempt not
/// counted (`attempts` back to what it was before this claim). Its `last_error` still says
/// it was refused.
pub fn retry_busy(
    tx: &Transaction<'_>,
    id: i64,
    at: i64,
    error: &str,
    now: i64,
) -> Result<Requeued, StoreError> {
    in_flight_back_to_queue(tx, id, Requeue::Busy(at), error, now)
}

/// Row `id` back to `queued` as `how` says, keeping `error`, if it is in flight.
fn in_flight_back_to_queue(
    tx: &Transaction<'_>,
    id: i64,
    how: Requeue,
    error: &str,
    now: i64,
) -> Result<Requeued, StoreError> {
    match state_of(tx, id)? {
        Some(OutboxState::InFlight) => {
            back_to_queue(tx, id, OutboxState::InFlight, how, Some(error), now)
        }
        Some(_) => Ok(Requeued::NotInFlight),
        None => Err(StoreError::NotFound {
            table: "outbox",
            id,
        }),
    }
}

/// An in-flight row none of whose tried segments reached the SMSC (see
/// [`AttemptEnd::NotSent`]): back to `queued`, due again in its old place, its attempt not
/// counted, so a link that keeps dropping does not use up the attempts of messages it never
/// sent.
pub fn requeue_unsent(tx: &Transaction<'_>, id: i64, now: i64) -> Result<Requeued, StoreError> {
    match state_of(tx, id)? {
        Some(OutboxState::InFlight) => {
            back_to_queue(tx, id, OutboxState::InFlight, Requeue::Unsent, None, now)
        }
        Some(_) => Ok(Requeued::NotInFlight),
        None => Err(StoreError::NotFound {
            table: "outbox",
            id,
        }),
    }
}

/// Permanent failure (e.g. `ESME_RINVDSTADR`): the row becomes `failed` with `error`, unless it
/// already reached a final state. Returns whether it changed.
pub fn fail(tx: &Transaction<'_>, id: i64, error: &str, now: i64) -> Result<bool, StoreError> {
    let Some(from) = state_of(tx, id)? else {
        return Ok(false);
    };
    if from.is_final() && !(from == OutboxState::Expired && swept(tx, id)?) {
        return Ok(false);
    }
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, error, now],
    )
    .ctx("outbox::fail")?;
    tally::note(Some(from), Some(OutboxState::Failed), n);
    Ok(n == 1)
}

/// Whether expired row `id` was ended by the sweep ([`expire_unconfirmed`]), which only
/// guessed: a receipt that comes after all still says what happened.
fn swept(tx: &Transaction<'_>, id: i64) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "SELECT coalesce(last_error = ?2 OR last_error = ?3, 0) FROM outbox WHERE id = ?1",
    )
    .and_then(|mut s| s.query_row(params![id, NO_RECEIPT, NO_RECEIPT_ASKED], |r| r.get(0)))
    .optional()
    .map(|v| v.unwrap_or(false))
    .ctx("outbox::fail: swept")
}

/// The expired queued rows, through the partial index `outbox_expiry` (schema migration 8),
/// whose condition the query repeats so that SQLite can use it.
const EXPIRED_SQL: &str = "SELECT id FROM outbox
     WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= ?1
     ORDER BY id";

/// An in-flight row whose validity ended before it was sent becomes `expired`. Returns whether
/// it changed.
pub fn expire_in_flight(tx: &Transaction<'_>, id: i64, now: i64) -> Result<bool, StoreError> {
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'expired', last_error = 'validity period ended',
             updated_at = ?2
         WHERE id = ?1 AND state = 'in_flight'",
        params![id, now],
    )
    .ctx("outbox::expire_in_flight")?;
    tally::note(Some(OutboxState::InFlight), Some(OutboxState::Expired), n);
    Ok(n == 1)
}

/// The wall clock went back `back_ms` (`delivery::clock`): the times still ahead that rows
/// were given on the old clock move back with it, so each falls at the moment it was set for
/// (a retry in a minute stays a minute away, not an hour and a minute after a step of an
/// hour): a `queued` row's next attempt, and the validity end of a `queued` or `submitted`
/// one. A row written in the moment between the step and its detection moves too (it goes
/// early by the step). Reads the rows not final through the state index; returns how many
/// changed.
pub fn follow_clock_back(
    tx: &Transaction<'_>,
    back_ms: i64,
    now: i64,
) -> Result<usize, StoreError> {
    exec_cached(
        tx,
        "UPDATE outbox SET
             next_attempt_at = CASE WHEN state = 'queued' AND next_attempt_at > ?2
                                    THEN next_attempt_at - ?1 ELSE next_attempt_at END,
             expires_at = CASE WHEN expires_at > ?2 THEN expires_at - ?1 ELSE expires_at END
         WHERE state IN ('queued', 'submitted')
           AND ((state = 'queued' AND next_attempt_at > ?2) OR expires_at > ?2)",
        params![back_ms, now],
    )
    .ctx("outbox::follow_clock_back")
}

/// The latest wall-clock time (Unix ms) the store is known to have written, if any: the
/// newest outbox row's creation and last change, the latest change of a finished row of each
/// state, and the newest inbound PDU. Each is one index look-up. A time written is never
/// ahead of the clock that wrote it, so a clock now earlier than this was stepped back, by
/// at least the difference, while the gateway was stopped (`Dispatcher::recover`). It can
/// miss a later change (a `submitted` row's, a subscriber's), so it tells a step's least
/// size, never more than its size.
pub fn newest_time_written(tx: &Transaction<'_>) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached(NEWEST_TIME_SQL)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("outbox::newest_time_written")
}

/// [`newest_time_written`]'s query: the final states written out, so that each reads the
/// partial index `outbox_state_updated` (a bound state would not).
const NEWEST_TIME_SQL: &str = "SELECT max(t) FROM (
    SELECT max(created_at, updated_at) AS t FROM outbox WHERE id = (SELECT max(id) FROM outbox)
    UNION ALL SELECT max(updated_at) FROM outbox WHERE state = 'delivered'
    UNION ALL SELECT max(updated_at) FROM outbox WHERE state = 'failed'
    UNION ALL SELECT max(updated_at) FROM outbox WHERE state = 'expired'
    UNION ALL SELECT max(updated_at) FROM outbox WHERE state = 'superseded'
    UNION ALL SELECT max(received_at) FROM inbox_pdu)";

/// Queued rows past their validity become `expired`. Returns their ids.
pub fn expire_due(tx: &Transaction<'_>, now: i64) -> Result<Vec<i64>, StoreError> {
    // Looked up first: this runs on every dispatcher pass and usually finds nothing.
    let ids: Vec<i64> = tx
        .prepare_cached(EXPIRED_SQL)
        .and_then(|mut s| s.query_map([now], |r| r.get(0))?.collect())
        .ctx("outbox::expire_due")?;
    expire_queued(tx, &ids, now)?;
    Ok(ids)
}

/// Queued rows `ids` become `expired` (validity period ended).
fn expire_queued(tx: &Transaction<'_>, ids: &[i64], now: i64) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut expire = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'expired', last_error = 'validity period ended',
                 updated_at = ?2
             WHERE id = ?1 AND state = 'queued'",
        )
        .ctx("outbox::expire_queued")?;
    for id in ids {
        let n = expire
            .execute(params![id, now])
            .ctx("outbox::expire_queued")?;
        tally::note(Some(OutboxState::Queued), Some(OutboxState::Expired), n);
    }
    Ok(())
}

/// Queued rows without a validity end of their own whose content was queued more than
/// `validity_ms` before `now` become `expired`; returns their ids. While the link is up such
/// rows end when claimed (the dispatcher checks each row's validity before it sends); this is
/// for while it is down, so that the queue does not count messages it can no longer send.
/// It reads every queued row (no index orders them by age), so it runs seldom.
pub fn expire_past_validity(
    tx: &Transaction<'_>,
    now: i64,
    validity_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM outbox WHERE state = 'queued' AND expires_at IS NULL
                 AND content_at <= ?1",
        )
        .and_then(|mut s| {
            s.query_map([now.saturating_sub(validity_ms)], |r| r.get(0))?
                .collect()
        })
        .ctx("outbox::expire_past_validity")?;
    expire_queued(tx, &ids, now)?;
    Ok(ids)
}

/// Why a row the SMSC accepted ended `expired` ([`expire_unconfirmed`]), with receipts asked.
pub const NO_RECEIPT: &str = "accepted by the SMSC; no final receipt by the end of its validity";

/// [`NO_RECEIPT`] when no receipt was asked (`registered_delivery` off).
pub const NO_RECEIPT_ASKED: &str = "accepted by the SMSC (no receipt asked); validity over";

/// One step of the sweep that ends messages the SMSC accepted and never confirmed: rows with
/// the next `span` ids still `submitted` whose validity ended before `cutoff` become `expired`
/// with `reason`. No receipt comes after that (an SMSC gives a message up at its validity end and
/// says so then), so without it they stayed `submitted` for ever: the `submitted` gauge only
/// grew, and retention, which deletes final rows, never took them.
///
/// A row's validity is the one it was sent with: its `expires_at`, which
/// [`record_attempts`] fills in from the configured validity as the row becomes `submitted`.
/// Only rows marked `submitted` before it did that (or sent with no validity at all) fall
/// back to `validity_ms` (today's setting) after their content was queued; none: never. (It
/// used to be today's setting for every row without its own end: a validity lowered in the
/// configuration ended rows sent under the longer one before the SMSC gave them up.)
///
/// Walks ids, not an index (one on `submitted` rows would cost every message two more
/// B-tree writes): each call reads at most `span` rows by rowid, from where the last one
/// stopped (kept in `walk`, across restarts; never below the oldest row, which retention
/// moves up), and starts again after the newest. Returns how many rows became `expired`.
pub fn expire_unconfirmed(
    tx: &Transaction<'_>,
    span: i64,
    cutoff: i64,
    validity_ms: Option<i64>,
    reason: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) = tx
        .prepare_cached("SELECT min(id), max(id) FROM outbox")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("outbox::expire_unconfirmed")?;
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(0);
    };
    let kept: Option<i64> = tx
        .prepare_cached("SELECT next_id FROM walk WHERE name = 'unconfirmed'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .ctx("outbox::expire_unconfirmed")?;
    let from = kept.unwrap_or(first).max(first);
    let to = from.saturating_add(span.max(1));
    let n = exec_cached(
        tx,
        "UPDATE outbox SET state = 'expired', last_error = ?5, updated_at = ?6
         WHERE id >= ?1 AND id < ?2 AND state = 'submitted'
           AND coalesce(expires_at, content_at + ?4) < ?3",
        params![from, to, cutoff, validity_ms, reason, now],
    )
    .ctx("outbox::expire_unconfirmed")?;
    tally::note(Some(OutboxState::Submitted), Some(OutboxState::Expired), n);
    let next = if to <= last { to } else { first };
    exec_cached(
        tx,
        "INSERT INTO walk (name, next_id) VALUES ('unconfirmed', ?1)
         ON CONFLICT (name) DO UPDATE SET next_id = excluded.next_id",
        [next],
    )
    .ctx("outbox::expire_unconfirmed")?;
    Ok(n)
}

/// Every `in_flight` row back to `queued` (on disconnect, and at start after a crash), due
/// immediately in its old place (ahead of rows queued after it). Returns how many rows are
/// queued again (superseded ones not counted).
pub fn requeue_in_flight(tx: &Transaction<'_>, now: i64) -> Result<usize, StoreError> {
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM outbox WHERE state = 'in_flight' ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .ctx("outbox: requeue")?;
    let mut queued = 0;
    for id in ids {
        let how = Requeue::Interrupted;
        if back_to_queue(tx, id, OutboxState::InFlight, how, None, now)? == Requeued::Queued {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Every `failed` row back to `queued` with attempts reset to 1 (operator action; see
/// `Requeue::Operator`), in this transaction. Returns how many rows are queued again.
pub fn retry_failed(tx: &Transaction<'_>, now: i64) -> Result<usize, StoreError> {
    retry_failed_matching(tx, &RetryFilter::default(), 0, usize::MAX, now).map(|(_, n)| n.queued)
}

/// What [`retry_failed_matching`] did with the failed rows it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retried {
    /// Back in the queue.
    pub queued: usize,
    /// Superseded instead: a newer row with the same coalescing key is queued.
    pub superseded: usize,
    /// Avatar pushes withdrawn instead ([`PushVeto::at_retry`]): the owner set PRIVACY
    /// NOBODY or AVATAR OFF, or the contact left the owner's groups, after they failed.
    pub withdrawn: usize,
    /// Avatar pushes as those withdrawn, of which the SMSC had already taken a part: left
    /// failed ([`Requeued::LeftFailed`]).
    pub left_failed: usize,
}

/// Which failed rows an operator's retry takes ([`retry_failed_matching`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryFilter {
    /// Only these rows (empty: any).
    pub ids: Vec<i64>,
    /// Only rows that failed at or after this time (Unix ms).
    pub failed_since: Option<i64>,
    /// Only rows that failed before this time (Unix ms): the start of a batched retry, so a
    /// row a running gateway fails again meanwhile is not taken a second time.
    pub failed_before: Option<i64>,
    /// A fresh validity end (Unix ms) for the rows taken: a row queued longer ago than the
    /// validity period would otherwise expire at its first claim.
    pub valid_until: Option<i64>,
}

/// Up to `limit` `failed` rows after row `after` that `filter` takes back to `queued` (attempts
/// from 1, see `Requeue::Operator`). Returns the last id looked at (`None`: none is left) and
/// how many rows are queued again, how many superseded instead (a row whose coalescing key
/// has a newer queued row), how many avatar pushes withdrawn instead ([`PushVeto`]), and how
/// many left failed ([`Requeued::LeftFailed`]).
pub fn retry_failed_matching(
    tx: &Transaction<'_>,
    filter: &RetryFilter,
    after: i64,
    limit: usize,
    now: i64,
) -> Result<(Option<i64>, Retried), StoreError> {
    let ids: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM outbox WHERE state = 'failed' AND id > ?5
               AND updated_at >= ?1 AND updated_at < ?6
               AND (?2 = 0 OR id IN rarray(?3))
             ORDER BY id LIMIT ?4",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    filter.failed_since.unwrap_or(i64::MIN),
                    !filter.ids.is_empty(),
                    id_array(filter.ids.iter().copied()),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    after,
                    filter.failed_before.unwrap_or(i64::MAX)
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .ctx("outbox::retry_failed_matching")?;
    let mut done = Retried::default();
    for &id in &ids {
        let how = Requeue::Operator;
        let requeued = back_to_queue(tx, id, OutboxState::Failed, how, None, now)?;
        if let Requeued::Superseded { .. } = requeued {
            done.superseded += 1;
        }
        if requeued == Requeued::Withdrawn {
            done.withdrawn += 1;
        }
        if requeued == Requeued::LeftFailed {
            done.left_failed += 1;
        }
        if requeued == Requeued::Queued {
            done.queued += 1;
            if let Some(end) = filter.valid_until {
                exec_cached(
                    tx,
                    "UPDATE outbox SET expires_at = ?2 WHERE id = ?1",
                    params![id, end],
                )
                .ctx("outbox::retry_failed_matching: validity")?;
            }
        }
    }
    Ok((ids.last().copied(), done))
}

/// Apply a delivery receipt. `message_id_variants` are the receipt id's candidate forms
/// (normalised again here); the first is the id as received. A segment with exactly that id
/// gets the receipt now. Otherwise the receipt is held in `pending_receipt`: the segment with
/// that exact id claims it when its `submit_sm_resp` is recorded (receipt before resp), and
/// [`resolve_held_receipts`] matches it through the other base (hex <-> decimal) only once no
/// response can still bring the exact id, so that `"16"` never lands on another message whose
/// hex id is `"10"`. Returns [`ReceiptMatch::Unknown`] when held.
///
/// `addresses` are the numbers the receipt names ([`receipt_addresses`]): a segment whose
/// message went to none of them is not this receipt's (its SMSC id was used again).
pub fn apply_receipt(
    tx: &Transaction<'_>,
    message_id_variants: &[String],
    addresses: &[String],
    stat: &str,
    state: ReceiptState,
    now: i64,
) -> Result<ReceiptMatch, StoreError> {
    let mut variants: Vec<String> = Vec::new();
    for v in message_id_variants {
        let n = normalize_message_id(v);
        if !n.is_empty() && !variants.contains(&n) {
            variants.push(n);
        }
    }
    let Some(exact) = variants.first() else {
        return Ok(ReceiptMatch::Unknown);
    };
    let found = segment_for(tx, exact, addresses)?;
    if let Found::Segment(segment) = found {
        // Evidence that this SMSC writes receipts in its responses' base, which turns the
        // other-base reading off in `OtherBase::Auto`: only from an id that reads differently
        // in the other base. "1" to "9" are the same in both, and an SMSC that switches base
        // matches them exactly too.
        if variants.len() > 1 {
            note_receipt_match(tx, "exact", now)?;
        }
        return apply_to_segment(tx, segment, stat, state, now);
    }
    // The same receipt again (an SMSC redelivers one whose deliver_sm_resp it missed): held
    // once. Two handsets' receipts for one reused id are two receipts.
    let joined = (!addresses.is_empty()).then(|| addresses.join(" "));
    let already: bool = tx
        .prepare_cached(
            "SELECT 1 FROM pending_receipt
             WHERE message_id = ?1 AND exact = 1 AND stat = ?2 AND addresses IS ?3",
        )
        .and_then(|mut s| s.exists(params![exact, stat, joined]))
        .ctx("outbox::apply_receipt: held already")?;
    if already {
        return Ok(ReceiptMatch::Unknown);
    }
    // Segments with its id exist, all sent to other numbers: held for its own segment, and
    // given to the newest of those only if none comes (see `resolve_held_receipts`).
    let stray = matches!(found, Found::Elsewhere(_));
    let group: i64 = tx
        .prepare_cached("SELECT coalesce(max(group_id), 0) + 1 FROM pending_receipt")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("outbox::apply_receipt: group")?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO pending_receipt
                 (group_id, message_id, stat, state, received_at, exact, addresses, stray)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .ctx("outbox::apply_receipt: hold")?;
    for (i, v) in variants.iter().enumerate() {
        insert
            .execute(params![group, v, stat, state, now, i == 0, joined, stray])
            .ctx("outbox::apply_receipt: hold")?;
    }
    Ok(ReceiptMatch::Unknown)
}

/// Remember that a receipt matched this way (only the first time counts; looked up first, as
/// a read is cheaper than an insert that is ignored on every receipt after the first).
fn note_receipt_match(tx: &Transaction<'_>, kind: &str, now: i64) -> Result<(), StoreError> {
    let seen = tx
        .prepare_cached("SELECT 1 FROM receipt_seen WHERE kind = ?1")
        .and_then(|mut s| s.exists([kind]))
        .ctx("outbox::note_receipt_match")?;
    if !seen {
        exec_cached(
            tx,
            "INSERT OR IGNORE INTO receipt_seen (kind, first_at) VALUES (?1, ?2)",
            params![kind, now],
        )
        .ctx("outbox::note_receipt_match")?;
    }
    Ok(())
}

/// Whether other-base receipt matching applies (see [`resolve_held_receipts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtherBase {
    /// Only while no receipt of this SMSC has ever matched its exact id: an SMSC that writes
    /// the same ids in responses and receipts never needs it, and then a receipt for a lost
    /// response must not be read in the other base.
    #[default]
    Auto,
    /// Never: the SMSC's receipts use the responses' ids.
    Never,
    /// Always, after the response timeout (the SMSC is known to switch bases, as Kannel's
    /// `msg-id-type` describes).
    Always,
}

/// Drop receipts held since before `older_than` (their message will never be recorded: its
/// response was lost and it was sent again under another id). Returns how many rows went.
pub fn drop_held_receipts(tx: &Transaction<'_>, older_than: i64) -> Result<usize, StoreError> {
    exec_cached(
        tx,
        "DELETE FROM pending_receipt WHERE received_at < ?1",
        [older_than],
    )
    .ctx("outbox::drop_held_receipts")
}

/// What [`segment_for`] found for a receipt.
#[derive(Clone, Copy)]
enum Found {
    /// The newest segment with the id whose message went to a number the receipt names (or
    /// any, when it names none).
    Segment(SegmentRef),
    /// Segments with the id exist, all sent to other numbers: the newest of them still
    /// waiting for a receipt, if any.
    Elsewhere(Option<SegmentRef>),
    /// No segment with the id.
    Nothing,
}

/// Segments with one id that a receipt looks through, newest first. More than this many
/// submissions sharing an id (an SMSC wrapping a small counter, rows kept for weeks) and the
/// receipt's own is still among the newest.
const SAME_ID_LOOKED_AT: i64 = 8;

/// The segment submitted with normalised id `id` that a receipt naming `addresses` is about
/// (see [`Found`]).
fn segment_for(tx: &Transaction<'_>, id: &str, addresses: &[String]) -> Result<Found, StoreError> {
    let mut found = Found::Nothing;
    tx.prepare_cached(
        "SELECT s.id, s.outbox_id, s.seq, s.total, o.destination, s.state = 'submitted'
         FROM outbox_segment s JOIN outbox o ON o.id = s.outbox_id
         WHERE s.smsc_message_id = ?1 ORDER BY s.id DESC LIMIT ?2",
    )
    .and_then(|mut s| {
        let mut rows = s.query(params![id, SAME_ID_LOOKED_AT])?;
        while let Some(r) = rows.next()? {
            let segment = SegmentRef {
                id: r.get(0)?,
                outbox_id: r.get(1)?,
                seq: r.get(2)?,
                total: r.get(3)?,
            };
            let destination = r.get_ref(4)?.as_str().unwrap_or_default();
            if same_handset(destination, addresses) != Some(false) {
                found = Found::Segment(segment);
                break;
            }
            let waiting: bool = r.get(5)?;
            found = match found {
                Found::Elsewhere(None) | Found::Nothing if waiting => {
                    Found::Elsewhere(Some(segment))
                }
                Found::Nothing => Found::Elsewhere(None),
                other => other,
            };
        }
        Ok(())
    })
    .ctx("outbox::segment_for")?;
    Ok(found)
}

/// Fewest digits an address needs to count as a phone number in receipt matching (shorter:
/// a short code, an alphanumeric sender; such an address says nothing).
const HANDSET_MIN_DIGITS: usize = 6;

/// Trailing digits compared: the subscriber's number whatever is written before it (a country
/// code, `00`, a national trunk `0`, a mobile prefix that one form of the number inserts, as
/// Argentina's 9 and 15 do).
const HANDSET_TAIL_DIGITS: usize = 8;

/// The digits of `address` without leading zeros (`0086…`, a trunk `0`), as receipt matching
/// compares them.
fn number_digits(address: &str) -> Vec<u8> {
    let digits: Vec<u8> = address.bytes().filter(u8::is_ascii_digit).collect();
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    digits[zeros..].to_vec()
}

/// The numbers a receipt names, for [`apply_receipt`]: its source address (the handset, SMPP
/// 3.4 §2.11) and its destination address (some SMSCs swap them), digits only, each left out
/// when too short to be a phone number.
pub fn receipt_addresses(source: &str, destination: &str) -> Vec<String> {
    [source, destination]
        .iter()
        .map(|a| number_digits(a))
        .filter(|d| d.len() >= HANDSET_MIN_DIGITS)
        .map(|d| String::from_utf8(d).unwrap_or_default())
        .collect()
}

/// Whether a message sent to `destination` can be the one a receipt naming `addresses` (from
/// [`receipt_addresses`]) is about: the same last [`HANDSET_TAIL_DIGITS`] digits (or all of
/// the shorter). `None` when the receipt names no number or the destination is none.
fn same_handset(destination: &str, addresses: &[String]) -> Option<bool> {
    let dest = number_digits(destination);
    if addresses.is_empty() || dest.len() < HANDSET_MIN_DIGITS {
        return None;
    }
    Some(addresses.iter().any(|a| {
        let a = a.as_bytes();
        let n = a.len().min(dest.len()).min(HANDSET_TAIL_DIGITS);
        a[a.len() - n..] == dest[dest.len() - n..]
    }))
}

/// Match receipts held since before `held_before` (Unix ms) through their other-base id forms,
/// for SMSCs whose receipts write the id in another base than their responses. Call it with
/// `held_before = now - response timeout`: by then no response can bring the exact id any more.
/// `mode` says whether this SMSC may do that at all. Returns how many receipts were applied.
pub fn resolve_held_receipts(
    tx: &Transaction<'_>,
    held_before: i64,
    now: i64,
    mode: OtherBase,
) -> Result<Resolved, StoreError> {
    let allowed = match mode {
        OtherBase::Never => false,
        OtherBase::Always => true,
        OtherBase::Auto => !tx
            .prepare_cached("SELECT 1 FROM receipt_seen WHERE kind = 'exact'")
            .and_then(|mut s| s.exists([]))
            .ctx("outbox::resolve_held_receipts: seen")?,
    };
    let groups: Vec<HeldGroup> = tx
        .prepare_cached(
            // Only groups not tried yet (they still hold their other-base forms, or are
            // stray): a group tried in vain keeps its exact form alone, for a late response,
            // and must not take a place in the next thousand for its whole 48 hours.
            "SELECT p.group_id, p.stat, p.state, p.addresses FROM pending_receipt p
             WHERE p.received_at <= ?1 AND p.exact = 1
               AND (p.stray = 1 OR EXISTS (SELECT 1 FROM pending_receipt q
                                           WHERE q.group_id = p.group_id AND q.exact = 0))
             ORDER BY p.group_id LIMIT 1000",
        )
        .and_then(|mut s| s.query_map([held_before], HeldGroup::from_row)?.collect())
        .ctx("outbox::resolve_held_receipts: groups")?;
    let mut applied = 0;
    let mut elsewhere = 0;
    let mut failed = Vec::new();
    for HeldGroup {
        group,
        stat,
        state,
        addresses,
    } in groups
    {
        let forms: Vec<String> = tx
            .prepare_cached(
                "SELECT message_id FROM pending_receipt WHERE group_id = ?1 ORDER BY exact DESC, id",
            )
            .and_then(|mut s| s.query_map([group], |r| r.get(0))?.collect())
            .ctx("outbox::resolve_held_receipts: forms")?;
        let mut found = None;
        // The newest segment with its exact id still waiting for a receipt, though sent to
        // another number: taken only if nothing else matches (an SMSC that writes other
        // numbers into its receipts would otherwise never have one applied). A segment that
        // has its final receipt already is never taken this way: the receipt is then far
        // likelier another message's (one resent under a new id after a lost response).
        let mut last_resort = None;
        for (i, f) in forms.iter().enumerate() {
            if i > 0 && !allowed {
                break;
            }
            match segment_for(tx, f, &addresses)? {
                Found::Segment(seg) => {
                    found = Some((seg, i > 0));
                    break;
                }
                Found::Elsewhere(Some(seg)) if i == 0 => last_resort = Some((seg, false)),
                _ => {}
            }
        }
        if found.is_none() && last_resort.is_some() {
            found = last_resort;
            elsewhere += 1;
        }
        if let Some((segment, other_base)) = found {
            if other_base {
                note_receipt_match(tx, "other_base", now)?;
            }
            let outcome = apply_to_segment(tx, segment, &stat, state, now)?;
            if let ReceiptMatch::Matched {
                outbox_id,
                state: OutboxState::Failed,
                changed: true,
                ..
            } = outcome
            {
                failed.push(outbox_id);
            }
            exec_cached(
                tx,
                "DELETE FROM pending_receipt WHERE group_id = ?1",
                [group],
            )
            .ctx("outbox::resolve_held_receipts: drop")?;
            applied += 1;
        } else {
            // Nothing to match: keep only the exact form, for a very late response, and
            // do not try it here again.
            exec_cached(
                tx,
                "DELETE FROM pending_receipt WHERE group_id = ?1 AND exact = 0",
                [group],
            )
            .ctx("outbox::resolve_held_receipts: narrow")?;
            exec_cached(
                tx,
                "UPDATE pending_receipt SET stray = 0 WHERE group_id = ?1 AND stray = 1",
                [group],
            )
            .ctx("outbox::resolve_held_receipts: narrow")?;
        }
    }
    Ok(Resolved {
        applied,
        elsewhere,
        failed,
    })
}

/// What [`resolve_held_receipts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Receipts applied.
    pub applied: usize,
    /// Of those, receipts given to the newest segment with their exact id still waiting for a
    /// receipt although its message went to another number than the receipt names (no
    /// segment for that number came within the response timeout): many of them mean the SMSC
    /// writes other numbers into its receipts.
    pub elsewhere: usize,
    /// Rows a receipt failed in this call (a WAP Push among them gets its SMS fallback).
    pub failed: Vec<i64>,
}

/// Rows per state (and held receipts).
pub fn counts_by_state(conn: &Connection) -> Result<OutboxCounts, StoreError> {
    let rows: Vec<(OutboxState, i64)> = conn
        .prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .ctx("outbox::counts_by_state")?;
    let mut c = OutboxCounts::default();
    for (state, n) in rows {
        *c.get_mut(state) = n.max(0) as u64;
    }
    c.pending_receipts = pending_receipt_count(conn)?;
    Ok(c)
}

/// Receipts held for their `submit_sm_resp` (distinct receipts, through the group index).
fn pending_receipt_count(conn: &Connection) -> Result<u64, StoreError> {
    let pending: i64 = conn
        .prepare_cached("SELECT count(DISTINCT group_id) FROM pending_receipt")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("outbox: pending receipts")?;
    Ok(pending.max(0) as u64)
}

/// Rows per state (and held receipts) as the store writer keeps them (see `store::tally`):
/// the table is counted only the first time, after a batch that did not commit, and after
/// another process wrote to the database. Run it through [`crate::store::Store::write`]:
/// only the writer thread sees every change. Same answer as [`counts_by_state`].
pub fn counts_tracked(tx: &Transaction<'_>) -> Result<OutboxCounts, StoreError> {
    let data_version: i64 = tx
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("outbox::counts_tracked: data_version")?;
    let per_state = tally::current(data_version, || {
        let counted = counts_by_state(tx)?;
        Ok(std::array::from_fn(|i| {
            OutboxState::ALL
                .get(i)
                .map_or(0, |&s| counted.get(s) as i64)
        }))
    })?;
    let mut c = OutboxCounts {
        pending_receipts: pending_receipt_count(tx)?,
        ..OutboxCounts::default()
    };
    for (&state, &n) in OutboxState::ALL.iter().zip(&per_state) {
        *c.get_mut(state) = n.max(0) as u64;
    }
    Ok(c)
}

/// [`counts_tracked`] from a fresh count of the table (one scan), which the writer then keeps.
/// The dispatcher's start runs it: it learns from the table itself whether a crash left rows
/// in flight, and the first scrape afterwards costs nothing.
pub fn counts_recounted(tx: &Transaction<'_>) -> Result<OutboxCounts, StoreError> {
    tally::forget();
    counts_tracked(tx)
}

/// Up to `limit` rows, newest first, optionally only in `state`.
pub fn list(
    conn: &Connection,
    state: Option<OutboxState>,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    list_matching(
        conn,
        &ListFilter {
            state,
            ..ListFilter::default()
        },
        limit,
    )
}

/// Which rows [`list_matching`] shows; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only rows in this state.
    pub state: Option<OutboxState>,
    /// Only rows to this destination, as stored (E.164 with `+` for a subscriber). Not
    /// indexed: the rows are read newest first until `limit` match, all of them when fewer do.
    pub destination: Option<String>,
    /// Only rows with a segment the SMSC gave this message id: as the SMSC writes it (in its
    /// responses, receipts or records), compared normalised, in either base when it reads as
    /// both (hex `1F` / decimal `31`), as receipts are matched. Indexed.
    pub smsc_message_id: Option<String>,
}

/// Up to `limit` rows matching `filter`, newest first.
pub fn list_matching(
    conn: &Connection,
    filter: &ListFilter,
    limit: usize,
) -> Result<Vec<OutboxRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let Some(smsc_id) = &filter.smsc_message_id else {
        let sql = format!(
            "SELECT {ROW_COLS} FROM outbox WHERE (?1 IS NULL OR state = ?1)
             AND (?2 IS NULL OR destination = ?2) ORDER BY id DESC LIMIT ?3"
        );
        return conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params![filter.state, filter.destination, limit], map_row)?
                    .collect()
            })
            .ctx("outbox::list");
    };
    // Rows by the segments' id index, then the other filters on each. An id written with
    // `0x` (as an SMSC's log or a hex dump has it) is also looked for without it.
    let written = smsc_id.trim();
    let bare = written
        .strip_prefix("0x")
        .or_else(|| written.strip_prefix("0X"))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut ids: Vec<i64> = Vec::new();
    let variants = std::iter::once(written)
        .chain(bare)
        .flat_map(sms_wire::receipt::message_id_variants);
    for v in variants {
        let found: Vec<i64> = conn
            .prepare_cached(
                "SELECT DISTINCT outbox_id FROM outbox_segment WHERE smsc_message_id = ?1",
            )
            .and_then(|mut s| s.query_map([&v], |r| r.get(0))?.collect())
            .ctx("outbox::list: by SMSC id")?;
        ids.extend(found);
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() as i64 >= limit {
            break;
        }
        match get(conn, id)? {
            Some(r)
                if filter.state.is_none_or(|s| s == r.state)
                    && filter
                        .destination
                        .as_ref()
                        .is_none_or(|d| *d == r.destination) =>
            {
                rows.push(r)
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// One row by id.
pub fn get(conn: &Connection, id: i64) -> Result<Option<OutboxRow>, StoreError> {
    conn.prepare_cached(&format!("SELECT {ROW_COLS} FROM outbox WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], map_row).optional())
        .ctx("outbox::get")
}

/// The segment submissions of row `id`, by segment number then submission order.
pub fn segments(conn: &Connection, id: i64) -> Result<Vec<SegmentRow>, StoreError> {
    conn.prepare_cached(
        "SELECT outbox_id, seq, total, smsc_message_id, smsc_message_id_raw, attempt, state,
                receipt_stat, submitted_at, updated_at
         FROM outbox_segment WHERE outbox_id = ?1 ORDER BY seq, id",
    )
    .and_then(|mut s| {
        s.query_map([id], |r| {
            Ok(SegmentRow {
                outbox_id: r.get(0)?,
                seq: r.get(1)?,
                total: r.get(2)?,
                smsc_message_id: r.get(3)?,
                smsc_message_id_raw: r.get(4)?,
                attempt: r.get(5)?,
                state: r.get(6)?,
                receipt_stat: r.get(7)?,
                submitted_at: r.get(8)?,
                updated_at: r.get(9)?,
            })
        })?
        .collect()
    })
    .ctx("outbox::segments")
}

/// The final rows of one state last changed before `?1`, at most `?2` (-1: all), one
/// statement per final state so that the tally knows how many of each went. The state is a
/// literal, not a parameter: SQLite uses the partial index `outbox_state_updated` (schema
/// migration 6) only when it can see that the query implies the index's condition. The
/// newest row of the table is never among them: a row's id is SQLite's largest plus one, so
/// deleting the newest would give its id (named by `outbox show`, an operator's notes, a
/// "superseded by outbox row N") to the next message.
pub(crate) static PURGE_SQL: LazyLock<Vec<(OutboxState, String)>> = LazyLock::new(|| {
    OutboxState::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|&s| {
            let sql = format!(
                "DELETE FROM outbox WHERE id IN (
                     SELECT id FROM outbox WHERE state = '{}' AND updated_at < ?1
                         AND id < (SELECT max(id) FROM outbox) LIMIT ?2)",
                s.as_str()
            );
            (s, sql)
        })
        .collect()
});

/// Delete rows in a final state last changed before `older_than`, with their segments: at most
/// `limit` of each final state (`None`: all; the gateway's retention deletes a few at a time,
/// see `store::retention`). Returns how many rows went.
pub fn purge_finished(
    tx: &Transaction<'_>,
    older_than: i64,
    limit: Option<usize>,
) -> Result<usize, StoreError> {
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut rows = 0;
    for (state, sql) in PURGE_SQL.iter() {
        let n = tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([older_than, limit]))
            .ctx("outbox::purge: rows")?;
        tally::note(Some(*state), None, n);
        rows += n;
    }
    Ok(rows)
}

/// How long a held receipt may still find its segment (a response recorded late, or the
/// other-base reading): the dispatcher drops held receipts older than this, and a purge never
/// deletes younger ones.
pub const HELD_RECEIPT_TTL_MS: i64 = 48 * 3600 * 1000;

/// How the last error of a row failed by a receipt begins (`receipt UNDELIV for segment 1/1`).
pub const RECEIPT_FAILURE: &str = "receipt ";

/// Rows of each kind one [`purge`] transaction deletes at most when an operator purges (`presence-gw
/// outbox purge`, `admin::purge_outbox`): a running gateway's writer waits for the database
/// at most that long, not for the whole purge.
pub const PURGE_BATCH: usize = 5_000;

/// Delete rows in a final state last changed before `older_than` (with their segments) and
/// held receipts received before it, but never a held receipt younger than
/// [`HELD_RECEIPT_TTL_MS`] at `now` (its response may still be recorded, and the SMSC was
/// already told it was taken): at most `limit` of each final state and `limit` receipts.
/// Returns the number of outbox rows and receipts deleted (0: nothing is left to purge).
pub fn purge(
    tx: &Transaction<'_>,
    older_than: i64,
    now: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    let rows = purge_finished(tx, older_than, Some(limit))?;
    let receipts = exec_cached(
        tx,
        "DELETE FROM pending_receipt WHERE rowid IN (
             SELECT rowid FROM pending_receipt WHERE received_at < ?1 LIMIT ?2)",
        params![
            older_than.min(now.saturating_sub(HELD_RECEIPT_TTL_MS)),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
    )
    .ctx("outbox::purge: receipts")?;
    Ok(rows + receipts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step back of the wall clock by an hour: the times rows were given on the old clock
    /// move back with it (a retry a minute away stays a minute away, a row held an hour by the
    /// quota is held an hour, a validity ends when it was to), on a real file. A due row stays
    /// due, a final row is left alone.
    #[test]
    fn a_step_back_of_the_wall_clock_moves_the_waiting_times_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            &dir.path().join("o.db"),
            crate::store::StoreOptions::default(),
        )
        .unwrap();
        const HOUR: i64 = 3_600_000;
        let t0 = 10 * HOUR; // the old clock when the rows were written
        let ids = store
            .write_blocking(move |tx| {
                let mut ids = Vec::new();
                for (not_before, expires) in [
                    (Some(t0 + 60_000), Some(t0 + 48 * HOUR)), // a retry in a minute
                    (Some(t0 + HOUR), None),                   // held by the quota
                    (Some(t0 - 10_000), Some(t0 + HOUR)),      // due already
                    (None, Some(t0 + 2 * HOUR)),               // to be submitted
                    (None, Some(t0 + 2 * HOUR)),               // to be delivered
                ] {
                    let m = NewMessage {
                        not_before,
                        expires_at: expires,
                        ..NewMessage::sms("+8613900139000", "x")
                    };
                    ids.push(enqueue(tx, &m, t0 - 20_000)?.id);
                }
                let claimed = claim_due(tx, t0, 2)?;
                assert_eq!(claimed.len(), 2);
                for (id, state) in [(ids[3], "submitted"), (ids[4], "delivered")] {
                    tx.execute(
                        "UPDATE outbox SET state = ?2 WHERE id = ?1",
                        params![id, state],
                    )?;
                }
                Ok::<_, StoreError>(ids)
            })
            .unwrap();
        let now = t0 - HOUR + 1_000; // the new clock, a second after the step
        let moved = store
            .write_blocking(move |tx| follow_clock_back(tx, HOUR, now))
            .unwrap();
        assert_eq!(moved, 4, "the final row stays");
        let times = |store: &crate::store::Store| -> Vec<(i64, Option<i64>)> {
            let ids = ids.clone();
            store
                .read_blocking(move |c| {
                    ids.iter()
                        .map(|&id| {
                            let r = get(c, id)?.expect("row");
                            Ok((r.next_attempt_at, r.expires_at))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()
                })
                .unwrap()
        };
        let after = times(&store);
        assert_eq!(
            after,
            [
                (t0 + 60_000 - HOUR, Some(t0 + 47 * HOUR)),
                (t0, None),
                (t0 - 10_000 - HOUR, Some(t0)),
                (after[3].0, Some(t0 + HOUR)),
                (after[4].0, Some(t0 + 2 * HOUR)),
            ]
        );
        // Still due: the one that was, and nothing waits longer than it was to.
        let due: Vec<i64> = store
            .write_blocking(move |tx| {
                Ok::<_, StoreError>(claim_due(tx, now, 10)?.iter().map(|r| r.id).collect())
            })
            .unwrap();
        assert_eq!(due, [ids[2]]);
    }

    /// Thousands of queued rows not yet due, older than the due ones and at both priorities,
    /// cost a claim nothing: it reads the due range of each priority only (migration 13).
    #[test]
    fn a_claim_reads_only_due_rows() {
        use rusqlite::StatementStatus;
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let held = |i: i32| NewMessage {
            priority: i % 2,
            not_before: Some(3_600_000),
            ..NewMessage::sms(format!("86{i}"), "held")
        };
        for i in 0..2000 {
            enqueue(&tx, &held(i), 0).unwrap();
        }
        let reply = NewMessage {
            priority: 1,
            ..NewMessage::sms("8601", "reply")
        };
        let reply = enqueue(&tx, &reply, 0).unwrap().id;
        let update = enqueue(&tx, &NewMessage::sms("8602", "update"), 0)
            .unwrap()
            .id;
        let sql: &str = &CLAIM_SQL;
        tx.prepare_cached(sql)
            .unwrap()
            .reset_status(StatementStatus::VmStep);
        let got = claim_due(&tx, 10, 50).unwrap();
        assert_eq!(
            got.iter().map(|r| r.id).collect::<Vec<_>>(),
            [reply, update]
        );
        let steps = tx
            .prepare_cached(sql)
            .unwrap()
            .get_status(StatementStatus::VmStep);
        assert!(steps < 1000, "the claim took {steps} VM steps");
        assert!(claim_due(&tx, 10, 50).unwrap().is_empty());
    }

    /// A priority with nothing due (only held rows) is stepped over to the next one down, and
    /// a priority that fills the claim is the only one read.
    #[test]
    fn a_claim_steps_over_a_priority_with_nothing_due() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let at = |priority: i32, not_before: Option<i64>, to: &str| NewMessage {
            priority,
            not_before,
            ..NewMessage::sms(to, "x")
        };
        enqueue(&tx, &at(9, Some(3_600_000), "861"), 0).unwrap();
        let five = enqueue(&tx, &at(5, None, "862"), 0).unwrap().id;
        enqueue(&tx, &at(3, Some(3_600_000), "863"), 0).unwrap();
        let zero: Vec<i64> = (0..3)
            .map(|i| enqueue(&tx, &at(0, None, &format!("87{i}")), 0).unwrap().id)
            .collect();
        let ids = |rows: Vec<OutboxRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(claim_due(&tx, 10, 1).unwrap()), [five]);
        assert_eq!(ids(claim_due(&tx, 10, 2).unwrap()), zero[..2]);
        assert_eq!(ids(claim_due(&tx, 10, 50).unwrap()), zero[2..]);
        assert!(claim_due(&tx, 10, 50).unwrap().is_empty());
        // An hour on, the held rows by priority.
        let later = ids(claim_due(&tx, 3_600_000, 50).unwrap());
        assert_eq!(later.len(), 2);
    }

    /// The bytes a table's rows take in its pages and how many leaf pages hold them (`dbstat`).
    fn stored(tx: &Transaction<'_>, table: &str) -> (i64, i64) {
        tx.query_row(
            "SELECT sum(payload), count(*) FROM dbstat WHERE name = ?1 AND pagetype = 'leaf'",
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// The claim (`queued` to `in_flight`), the record (`in_flight` to `submitted`, with the
    /// validity end it was sent with in `expires_at`) and a segment's first receipt
    /// (`receipt_stat` from NULL to `DELIVRD`) use the room their row kept (migration 18): no
    /// row grows, so SQLite overwrites each in place and no page splits.
    #[test]
    fn a_claim_and_a_receipt_leave_their_rows_the_size_they_were() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        // Times as the gateway writes them (milliseconds since 1970), all one size.
        let t = 1_765_000_000_000;
        let ids: Vec<i64> = (0..300)
            .map(|i| {
                let m = NewMessage::sms(format!("86138{i:08}"), "Mum: free, until 15:00");
                enqueue(&tx, &m, t).unwrap().id
            })
            .collect();
        let queued = stored(&tx, "outbox");
        assert!(queued.1 > 3, "{queued:?}: rows on several pages");
        assert_eq!(claim_due(&tx, t + 1, 300).unwrap().len(), 300);
        assert_eq!(stored(&tx, "outbox"), queued, "claimed");
        for &id in &ids {
            record_segment_submitted(&tx, id, 1, 1, &format!("{id:08x}"), t + 2).unwrap();
            // As the dispatcher records: the validity the submits carried becomes the row's
            // `expires_at` (NULL before), which takes the room the claim left.
            let validity = Some(48 * 3600 * 1000);
            mark_all_submitted(&tx, std::iter::once(id), validity, t + 2).unwrap();
        }
        assert_eq!(stored(&tx, "outbox"), queued, "submitted");
        assert!(get(&tx, ids[0]).unwrap().unwrap().expires_at.is_some());
        let segments = stored(&tx, "outbox_segment");
        for &id in &ids {
            let receipt = apply_receipt(
                &tx,
                &[format!("{id:08x}")],
                &[],
                "DELIVRD",
                ReceiptState::Delivered,
                t + 3,
            );
            assert!(
                matches!(receipt, Ok(ReceiptMatch::Matched { .. })),
                "{receipt:?}"
            );
        }
        assert_eq!(stored(&tx, "outbox_segment"), segments, "receipts applied");
        assert_eq!(stored(&tx, "outbox"), queued, "delivered");
        assert_eq!(
            get(&tx, ids[0]).unwrap().unwrap().state,
            OutboxState::Delivered
        );
    }

    #[test]
    fn states_round_trip_and_unknown_is_an_error() {
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse(s.as_str()).unwrap(), *s);
        }
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()).unwrap(), *k);
        }
        assert!(matches!(
            OutboxState::parse("sent"),
            Err(StoreError::BadValue {
                column: "outbox.state",
                ..
            })
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Receipts for the segments of one message, in any order, some before their
            /// `submit_sm_resp`: the row ends delivered iff every segment was delivered, and
            /// failed iff one failed.
            #[test]
            fn receipts_in_any_order_settle_the_row(
                outcomes in proptest::collection::vec(any::<bool>(), 1..6),
                early in proptest::collection::vec(any::<bool>(), 6),
                order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(),
            ) {
                let mut conn = Connection::open_in_memory().unwrap();
                crate::store::schema::migrate(&mut conn).unwrap();
                let tx = conn.transaction().unwrap();
                let id = enqueue(&tx, &NewMessage::sms("861", "x"), 0).unwrap().id;
                claim_due(&tx, 0, 1).unwrap();
                let total = outcomes.len() as u8;
                let receipt = |tx: &Transaction<'_>, seg: usize| {
                    let (stat, state) = if outcomes[seg] {
                        ("DELIVRD", ReceiptState::Delivered)
                    } else {
                        ("UNDELIV", ReceiptState::Failed)
                    };
                    apply_receipt(tx, &[format!("{:X}", 0xA0 + seg)], &[], stat, state, 5).unwrap()
                };
                // Receipts that beat their resp.
                for &seg in order.iter().filter(|&&s| s < outcomes.len() && early[s]) {
                    prop_assert_eq!(receipt(&tx, seg), ReceiptMatch::Unknown);
                }
                for (seg, &was_early) in early.iter().enumerate().take(outcomes.len()) {
                    let got = record_segment_submitted(
                        &tx, id, seg as u8 + 1, total, &format!("{:x}", 0xA0 + seg), 1,
                    ).unwrap();
                    prop_assert_eq!(got == ReceiptMatch::Unknown, !was_early);
                }
                mark_submitted(&tx, id, 2).unwrap();
                for &seg in order.iter().filter(|&&s| s < outcomes.len() && !early[s]) {
                    let matched = matches!(receipt(&tx, seg), ReceiptMatch::Matched { .. });
                    prop_assert!(matched);
                }
                let row = get(&tx, id).unwrap().unwrap();
                let expected = if outcomes.iter().all(|&ok| ok) {
                    OutboxState::Delivered
                } else {
                    OutboxState::Failed
                };
                prop_assert_eq!(row.state, expected);
                prop_assert_eq!(counts_by_state(&tx).unwrap().pending_receipts, 0);
            }
        }
    }

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params = vec![0i64; stmt.parameter_count()];
        let steps: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        steps.join("\n")
    }

    /// The newest time written is read from the ends of indexes (the row ids, each final
    /// state's, the inbound PDUs'), never a scan; on a real file it is the latest of the row
    /// times and the inbound PDUs' times, and nothing for an empty store.
    #[test]
    fn the_newest_time_written_reads_index_ends_and_takes_the_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let p = plan(&conn, NEWEST_TIME_SQL);
        assert!(!p.contains("SCAN"), "{p}");
        assert_eq!(p.matches("outbox_state_updated").count(), 4, "{p}");
        assert!(p.contains("inbox_pdu_received_at"), "{p}");

        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            &dir.path().join("n.db"),
            crate::store::StoreOptions::default(),
        )
        .unwrap();
        let newest =
            |store: &crate::store::Store| store.write_blocking(newest_time_written).unwrap();
        assert_eq!(newest(&store), None);
        let first = store
            .write_blocking(|tx| {
                let first = enqueue(tx, &NewMessage::sms("+8613900139000", "a"), 5_000)?.id;
                enqueue(tx, &NewMessage::sms("+8613900139000", "b"), 7_000)?;
                Ok::<_, StoreError>(first)
            })
            .unwrap();
        assert_eq!(newest(&store), Some(7_000));
        // An older row delivered later: its change is the latest.
        store
            .write_blocking(move |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'delivered', updated_at = 9000 WHERE id = ?1",
                    [first],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(newest(&store), Some(9_000));
        store
            .write_blocking(move |tx| {
                tx.execute(
                    "INSERT INTO inbox_pdu (received_at, source, destination, data_coding, raw,
                         state, esm_class, smsc_message_id)
                     VALUES (12000, '+8613900139000', '10658', 0, x'00', 'received', 0, NULL)",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(newest(&store), Some(12_000));
    }

    /// The periodic expiry look and the purge go through their partial indexes, never a scan of
    /// the whole outbox (final rows included), which grows with every row kept.
    #[test]
    fn expiry_and_purge_read_their_indexes_not_the_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        // As the gateway runs: rows, and no statistics (it never runs ANALYZE).
        let tx = conn.transaction().unwrap();
        for i in 0..200 {
            let mut m = NewMessage::sms("861", "x");
            m.expires_at = (i % 2 == 0).then_some(10_000 + i);
            enqueue(&tx, &m, 0).unwrap();
        }
        claim_due(&tx, 0, 150).unwrap();
        tx.commit().unwrap();
        let expired = plan(&conn, EXPIRED_SQL);
        assert!(expired.contains("INDEX outbox_expiry"), "{expired}");
        let mut plans = vec![expired];
        for (_, sql) in PURGE_SQL.iter() {
            let purging = plan(&conn, sql);
            assert!(purging.contains("outbox_state_updated"), "{purging}");
            plans.push(purging);
        }
        for p in &plans {
            assert!(!p.lines().any(|l| l.trim() == "SCAN outbox"), "{p}");
        }
        // And they still do their work.
        let tx = conn.transaction().unwrap();
        // The 50 rows left queued (ids 151 to 200), every other one with a validity end.
        let ids = expire_due(&tx, 20_000).unwrap();
        assert_eq!(ids.len(), 25, "{ids:?}");
        for &id in &ids {
            assert_eq!(get(&tx, id).unwrap().unwrap().state, OutboxState::Expired);
        }
        assert_eq!(
            purge(&tx, i64::MAX, i64::MAX, PURGE_BATCH).unwrap(),
            ids.len()
        );
    }

    /// Purging every row of an idle outbox keeps the newest, so the next message gets the next
    /// id, not one an earlier message had (before, ids started again from 1).
    #[test]
    fn a_purge_keeps_the_newest_row_so_no_id_is_given_twice() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        for _ in 0..3 {
            let id = enqueue(&tx, &NewMessage::sms("+8613900139000", "x"), 0)
                .unwrap()
                .id;
            tx.execute(
                "UPDATE outbox SET state = 'delivered', updated_at = 1 WHERE id = ?1",
                [id],
            )
            .unwrap();
        }
        assert_eq!(purge(&tx, i64::MAX, i64::MAX, PURGE_BATCH).unwrap(), 2);
        assert!(get(&tx, 3).unwrap().is_some(), "the newest row stays");
        assert!(get(&tx, 1).unwrap().is_none());
        let next = enqueue(&tx, &NewMessage::sms("+8613900139000", "y"), 2)
            .unwrap()
            .id;
        assert_eq!(next, 4);
        // Once it is not the newest, it goes with the next purge.
        tx.execute(
            "UPDATE outbox SET state = 'delivered', updated_at = 2 WHERE id = ?1",
            [next],
        )
        .unwrap();
        assert_eq!(purge(&tx, i64::MAX, i64::MAX, PURGE_BATCH).unwrap(), 1);
        assert!(get(&tx, 3).unwrap().is_none());
    }

    #[test]
    fn receipt_numbers_compare_by_their_subscriber_digits() {
        // Short codes and names are not numbers: they say nothing.
        assert!(receipt_addresses("10658", "INFO").is_empty());
        assert!(
            receipt_addresses("0000012", "").is_empty(),
            "zeros in front"
        );
        // (row destination, receipt source, receipt destination, verdict)
        for (to, source, destination, same) in [
            ("+8613800138000", "10658", "", None),
            ("10658", "8613800138000", "", None),
            ("+8613800138000", "+8613800138000", "10658", Some(true)),
            ("+8613800138000", "8613800138000", "10658", Some(true)),
            ("+8613800138000", "008613800138000", "10658", Some(true)),
            ("+8613800138000", "013800138000", "10658", Some(true)),
            ("+8613800138000", "+8613800138001", "10658", Some(false)),
            // Either field may name it (SMSCs that swap them).
            ("+8613800138000", "10658", "+8613800138000", Some(true)),
            // A number shorter than the compared tail: all of it.
            ("+4420123", "4420123", "", Some(true)),
            ("+4420123", "4420124", "", Some(false)),
            // Short numbers written nationally (New Zealand), and the mobile prefix one form
            // inserts (Argentina: +54 9 11 ..., national 011 15 ...).
            ("+6421123456", "021123456", "", Some(true)),
            ("+5491112345678", "0111512345678", "", Some(true)),
        ] {
            assert_eq!(
                same_handset(to, &receipt_addresses(source, destination)),
                same,
                "{to} / {source} / {destination}"
            );
        }
    }

    #[test]
    fn final_states() {
        let finals: Vec<_> = OutboxState::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [
                &OutboxState::Delivered,
                &OutboxState::Failed,
                &OutboxState::Expired,
                &OutboxState::Superseded
            ]
        );
    }

    #[test]
    fn wap_push_constructor_sets_kind_and_url() {
        let m = NewMessage::wap_push("861", "http://x/a", "Avatar");
        assert_eq!(m.kind, MessageKind::WapPush);
        assert_eq!(m.url.as_deref(), Some("http://x/a"));
        assert_eq!(m.body.as_deref(), Some("Avatar"));
    }
}
