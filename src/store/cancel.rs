//! Intents to cancel at the SMSC (`outbox_cancel`, schema migration 22), written by the
//! outbox changes that make an accepted message wrong to deliver, in their own transaction:
//! a newer message with the same coalescing key (`outbox::enqueue`), a withdrawal
//! (`outbox::withdraw_queued`, `outbox::withdraw_queued_pushes`). The `delivery::cancel`
//! task sends the `cancel_sm`s and records what the SMSC answered. Each writer tells the
//! writer's tally how many intents it wrote ([`super::tally::note_intents`]): once its batch
//! commits, the store wakes the canceller ([`super::Store::cancel_intents`]).

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{Ctx, StoreError};

/// The last error of a row whose message the SMSC deleted at our `cancel_sm`, asked for
/// `why`: `cancelled at the SMSC: <why>`.
pub fn cancelled_error(why: &str) -> String {
    format!("cancelled at the SMSC: {why}")
}

/// What the last error of a row withdrawn in flight with parts the SMSC took says of their
/// cancel until it is answered (`outbox::withdraw_marked`); the canceller replaces it with
/// what came of it when nothing was cancelled (`delivery::cancel`, `RowEnd::Kept`).
pub const ASKED: &str = "(cancel_sm asked for)";

/// Why a cancel of row `outbox_id` was asked for, while it is pending (`None`: none is).
pub fn asked(tx: &Transaction<'_>, outbox_id: i64) -> Result<Option<String>, StoreError> {
    tx.prepare_cached("SELECT why FROM outbox_cancel WHERE outbox_id = ?1")
        .and_then(|mut s| s.query_row([outbox_id], |r| r.get(0)).optional())
        .ctx("cancel::asked")
}

/// Ask for `cancel_sm` of every `submitted` row with coalescing key `key` but `by` (the row
/// that now holds the newest content for that key): `why` is `superseded by outbox row <by>`.
/// Called by `outbox::enqueue` for keyed messages. Returns how many rows were asked for.
pub fn supersede_submitted(
    tx: &Transaction<'_>,
    key: &str,
    by: i64,
    now: i64,
) -> Result<usize, StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT id, 'superseded by outbox row ' || ?2, ?3, ?3 FROM outbox
         WHERE state = 'submitted' AND coalesce_key IS NOT NULL AND coalesce_key = ?1
           AND id != ?2",
    )
    .and_then(|mut s| s.execute(params![key, by, now]))
    .ctx("cancel::supersede_submitted")
    .inspect(|n| super::tally::note_intents(*n))
}

/// The statements of [`supersede_on_submit`]: each asks for the cancel of one row of a pair,
/// by the other.
const SUPERSEDED_IN_FLIGHT: [&str; 3] = [
    // A newer message queued while the row was in flight.
    "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT x.id, 'superseded by outbox row ' || o.id, ?2, ?2
         FROM outbox x JOIN outbox o
             ON o.coalesce_key = x.coalesce_key AND o.state = 'queued'
         WHERE x.id IN rarray(?1) AND x.state = 'submitted' AND x.coalesce_key IS NOT NULL
           AND (o.content_at > x.content_at OR (o.content_at = x.content_at AND o.id > x.id))",
    // A newer message claimed while the row was in flight, and recorded first.
    "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT x.id, 'superseded by outbox row ' || o.id, ?2, ?2
         FROM outbox x JOIN outbox o
             ON o.coalesce_key = x.coalesce_key AND o.state = 'submitted'
         WHERE x.id IN rarray(?1) AND x.state = 'submitted' AND x.coalesce_key IS NOT NULL
           AND (o.content_at > x.content_at OR (o.content_at = x.content_at AND o.id > x.id))",
    // The row is that newer message: the older one, in flight when it came, is recorded.
    // Only one accepted since the newer content was written (its latest segment's
    // submitted_at, written with its mark): one accepted before was asked for then
    // (`supersede_submitted`), and its cancel may be answered already (refused, too late);
    // asking again sent it a second time. Both in one millisecond cannot be told apart here:
    // then the trigger of schema migration 28 drops the intent if the cancel was answered.
    "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT o.id, 'superseded by outbox row ' || x.id, ?2, ?2
         FROM outbox x JOIN outbox o
             ON o.coalesce_key = x.coalesce_key AND o.state = 'submitted'
         WHERE x.id IN rarray(?1) AND x.state = 'submitted' AND x.coalesce_key IS NOT NULL
           AND (o.content_at < x.content_at OR (o.content_at = x.content_at AND o.id < x.id))
           AND coalesce((SELECT max(s.submitted_at) FROM outbox_segment s
                         WHERE s.outbox_id = o.id), x.content_at) >= x.content_at",
];

/// Keyed rows `ids` have just become `submitted` (`outbox::mark_submitted`). A newer message with
/// their key may have come while they were in flight, when [`supersede_submitted`] asked for
/// nothing (they were not `submitted` yet): ask now. A row with its key and newer content
/// (`content_at`, then id) that is `queued` or `submitted` supersedes it; one of `ids` with
/// newer content than a `submitted` row with its key supersedes that one if that was accepted
/// after the newer content was written (a newer message claimed while the older was in
/// flight, recorded after it; one accepted before was asked for by [`supersede_submitted`]).
/// Each look seeks the partial index of queued or submitted keyed rows. Returns how many rows
/// were asked for.
pub fn supersede_on_submit(
    tx: &Transaction<'_>,
    ids: &[i64],
    now: i64,
) -> Result<usize, StoreError> {
    let mut asked = 0;
    for sql in SUPERSEDED_IN_FLIGHT {
        asked += tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![super::outbox::id_array(ids.iter().copied()), now]))
            .ctx("cancel::supersede_on_submit")?;
    }
    super::tally::note_intents(asked);
    Ok(asked)
}

/// Keyed rows `ids` have just become `submitted` (`outbox::mark_submitted`): the intents a
/// withdrawal marked them with while they were in flight ([`withdraw_submitted`]) are due
/// now, and the canceller is woken for them. Until this, such an intent waited for the
/// canceller's next look at rows in flight (up to a second after the acceptance, while the
/// SMSC could deliver the message). Returns how many intents were made due.
pub fn due_on_submit(tx: &Transaction<'_>, ids: &[i64], now: i64) -> Result<usize, StoreError> {
    tx.prepare_cached(
        "UPDATE outbox_cancel SET next_at = ?2 WHERE outbox_id IN rarray(?1) AND next_at > ?2",
    )
    .and_then(|mut s| s.execute(params![super::outbox::id_array(ids.iter().copied()), now]))
    .ctx("cancel::due_on_submit")
    .inspect(|n| super::tally::note_intents(*n))
}

/// Row `id`, just superseded by row `by` as it went back to the queue (`outbox::back_to_queue`:
/// a newer message with its key was queued while it was in flight, or it was the older of
/// two), of which an attempt got some parts through and not the others: ask for `cancel_sm`
/// of the parts the SMSC took, `why` `superseded by outbox row <by>`, as for a `submitted`
/// row ([`supersede_submitted`]). Returns whether it was asked for (nothing taken: no).
pub fn supersede_parts_taken(
    tx: &Transaction<'_>,
    id: i64,
    by: i64,
    now: i64,
) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT ?1, 'superseded by outbox row ' || ?2, ?3, ?3
         WHERE EXISTS (SELECT 1 FROM outbox_segment s
                       WHERE s.outbox_id = ?1 AND s.state = 'submitted')",
    )
    .and_then(|mut s| s.execute(params![id, by, now]))
    .ctx("cancel::supersede_parts_taken")
    .inspect(|n| super::tally::note_intents(*n))
    .map(|n| n == 1)
}

/// Which `submitted` rows a withdrawal asks a `cancel_sm` for ([`withdraw_submitted`]).
#[derive(Debug, Clone, Copy)]
pub enum Withdrawn<'a> {
    /// Rows whose coalescing key matches this SQL `LIKE` pattern (a plain key matches
    /// itself): the updates a STOP or a group removal withdraws.
    Key(&'a str),
    /// Every avatar push of this owner (PRIVACY NOBODY, AVATAR OFF).
    PushesOf(&'a str),
}

/// Ask for `cancel_sm` of the `submitted` rows `which` names, keeping `why` (the reason the
/// queued ones were withdrawn for), and mark those still in flight (their submit out,
/// unanswered) the same way: such a row is cancelled once the SMSC has accepted it, and
/// withdrawn if it comes back unsent (`outbox::back_to_queue`), never queued again for a
/// recipient who sent STOP or left the groups meanwhile. Returns how many rows were asked for.
pub fn withdraw_submitted(
    tx: &Transaction<'_>,
    which: Withdrawn<'_>,
    why: &str,
    now: i64,
) -> Result<usize, StoreError> {
    // One statement per state, each seeking its partial index of keyed rows (`submitted`:
    // migration 22; `in_flight`: migration 24).
    let (sqls, what): (&[&str], &str) = match which {
        Withdrawn::Key(pattern) if pattern.contains('%') => (
            &[
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT id, ?2, ?3, ?3 FROM outbox
                 WHERE state = 'submitted' AND coalesce_key IS NOT NULL AND coalesce_key LIKE ?1",
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT id, ?2, ?3, ?3 FROM outbox
                 WHERE state = 'in_flight' AND coalesce_key IS NOT NULL AND coalesce_key LIKE ?1",
            ],
            pattern,
        ),
        Withdrawn::Key(key) => (
            &[
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT id, ?2, ?3, ?3 FROM outbox
                 WHERE state = 'submitted' AND coalesce_key IS NOT NULL AND coalesce_key = ?1",
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT id, ?2, ?3, ?3 FROM outbox
                 WHERE state = 'in_flight' AND coalesce_key IS NOT NULL AND coalesce_key = ?1",
            ],
            key,
        ),
        Withdrawn::PushesOf(owner) => (
            &[
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
               SELECT o.id, ?2, ?3, ?3 FROM avatar_push p JOIN outbox o ON o.id = p.outbox_id
               WHERE p.owner = ?1 AND (o.state = 'submitted' OR o.state = 'in_flight')",
            ],
            owner,
        ),
    };
    let mut asked = 0;
    for sql in sqls {
        asked += tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![what, why, now]))
            .ctx("cancel::withdraw_submitted")?;
    }
    super::tally::note_intents(asked);
    Ok(asked)
}

/// Ask for `cancel_sm` of the parts the SMSC took of the `queued` rows `which` names, about to
/// be withdrawn for `why` (`outbox::withdraw_queued`, `outbox::withdraw_queued_pushes`): a
/// row whose earlier attempt got some of its parts through and not the others, queued again
/// for the rest. Those parts are cancelled as a `submitted` row's are; the rest never goes.
/// Returns how many rows were asked for.
pub fn withdraw_queued_parts(
    tx: &Transaction<'_>,
    which: Withdrawn<'_>,
    why: &str,
    now: i64,
) -> Result<usize, StoreError> {
    const TAKEN: &str = "EXISTS (SELECT 1 FROM outbox_segment s
                                 WHERE s.outbox_id = o.id AND s.state = 'submitted')";
    let (sql, what) = match which {
        Withdrawn::Key(pattern) if pattern.contains('%') => (
            format!(
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT o.id, ?2, ?3, ?3 FROM outbox o
                 WHERE o.state = 'queued' AND o.coalesce_key IS NOT NULL
                   AND o.coalesce_key LIKE ?1 AND {TAKEN}"
            ),
            pattern,
        ),
        Withdrawn::Key(key) => (
            format!(
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT o.id, ?2, ?3, ?3 FROM outbox o
                 WHERE o.state = 'queued' AND o.coalesce_key = ?1 AND {TAKEN}"
            ),
            key,
        ),
        Withdrawn::PushesOf(owner) => (
            format!(
                "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
                 SELECT o.id, ?2, ?3, ?3 FROM avatar_push p JOIN outbox o ON o.id = p.outbox_id
                 WHERE p.owner = ?1 AND o.state = 'queued' AND {TAKEN}"
            ),
            owner,
        ),
    };
    tx.prepare_cached(&sql)
        .and_then(|mut s| s.execute(params![what, why, now]))
        .ctx("cancel::withdraw_queued_parts")
        .inspect(|n| super::tally::note_intents(*n))
}

/// Which of rows `ids` are in flight and marked by a withdrawal ([`withdraw_submitted`]), for
/// the dispatcher to hold back their parts not sent yet (`outbox::AttemptEnd::Withdrawn`).
/// Avatar pushes are left out: whether one still goes is decided by its veto when it comes
/// back (`outbox::back_to_queue`), the rule its link is served by, not by the mark.
///
/// One look by primary key a row, as a reader runs it (readers have no `rarray`).
pub fn marked_in_flight(conn: &Connection, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut look = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox_cancel c JOIN outbox o ON o.id = c.outbox_id
                 WHERE c.outbox_id = ?1 AND o.state = 'in_flight'
                   AND NOT EXISTS (SELECT 1 FROM avatar_push p WHERE p.outbox_id = ?1))",
        )
        .ctx("cancel::marked_in_flight")?;
    let mut marked = Vec::new();
    for &id in ids {
        if look
            .query_row([id], |r| r.get::<_, bool>(0))
            .ctx("cancel::marked_in_flight")?
        {
            marked.push(id);
        }
    }
    Ok(marked)
}

/// Row `id`, in flight, came back unsent: the reason a withdrawal marked it for meanwhile
/// ([`withdraw_submitted`]), the mark taken; the row is not to be queued again. Only
/// withdrawals mark rows in flight (a supersession asks for `submitted` rows). `None`:
/// nothing marked it.
pub fn take_withdrawal(tx: &Transaction<'_>, id: i64) -> Result<Option<String>, StoreError> {
    tx.prepare_cached("DELETE FROM outbox_cancel WHERE outbox_id = ?1 RETURNING why")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .ctx("cancel::take_withdrawal")
}

/// An SMSC remembered as one without cancel_sm (`smsc_no_cancel`, schema migration 27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCancel {
    /// Its address (`host:port`, as configured: `[smsc] address` or a fallback).
    pub smsc: String,
    /// The account bound with (`[smsc] system_id`).
    pub system_id: String,
    /// What it answered a cancel_sm ("generic_nack ESME_RINVCMDID (0x00000003)"...).
    pub answer: String,
    /// When (Unix ms).
    pub since: i64,
}

/// The SMSC at `smsc`, bound as `system_id`, answered a cancel_sm `answer` at `now`: it has
/// no cancel_sm. Replaces what was remembered of it.
pub fn remember_no_cancel(
    tx: &Transaction<'_>,
    smsc: &str,
    system_id: &str,
    answer: &str,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO smsc_no_cancel (smsc, system_id, answer, since) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (smsc, system_id) DO UPDATE SET answer = ?3, since = ?4",
    )
    .and_then(|mut s| s.execute(params![smsc, system_id, answer, now]))
    .ctx("cancel::remember_no_cancel")
    .map(drop)
}

/// What is remembered of the SMSC at `smsc` bound as `system_id` having no cancel_sm, if it
/// was learnt at `not_before` (Unix ms) or later; an older one is forgotten.
pub fn no_cancel(
    c: &Connection,
    smsc: &str,
    system_id: &str,
    not_before: i64,
) -> Result<Option<NoCancel>, StoreError> {
    c.prepare_cached(
        "SELECT smsc, system_id, answer, since FROM smsc_no_cancel
         WHERE smsc = ?1 AND system_id = ?2 AND since >= ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![smsc, system_id, not_before], no_cancel_row)
            .optional()
    })
    .ctx("cancel::no_cancel")
}

fn no_cancel_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoCancel> {
    Ok(NoCancel {
        smsc: r.get(0)?,
        system_id: r.get(1)?,
        answer: r.get(2)?,
        since: r.get(3)?,
    })
}

/// Every SMSC remembered as one without cancel_sm, however long ago, by address.
pub fn no_cancel_list(c: &Connection) -> Result<Vec<NoCancel>, StoreError> {
    c.prepare_cached(
        "SELECT smsc, system_id, answer, since FROM smsc_no_cancel ORDER BY smsc, system_id",
    )
    .and_then(|mut s| s.query_map([], no_cancel_row)?.collect())
    .ctx("cancel::no_cancel_list")
}

/// Forget that the SMSC at `smsc` (every one: `None`) has no cancel_sm: the canceller tries
/// cancel_sm there again. Returns how many were forgotten.
pub fn forget_no_cancel(tx: &Transaction<'_>, smsc: Option<&str>) -> Result<usize, StoreError> {
    tx.prepare_cached("DELETE FROM smsc_no_cancel WHERE ?1 IS NULL OR smsc = ?1")
        .and_then(|mut s| s.execute([smsc]))
        .ctx("cancel::forget_no_cancel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::cancel::pending;

    /// What is remembered of an SMSC without cancel_sm is kept by address and account, read
    /// only while it is recent enough, replaced when learnt again, and forgotten on request,
    /// one address or all.
    #[test]
    fn an_smsc_without_cancel_sm_is_remembered_by_address_and_account() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        remember_no_cancel(&tx, "a:2775", "gw", "ESME_RINVCMDID (0x00000003)", 100).unwrap();
        remember_no_cancel(&tx, "b:2775", "gw", "generic_nack x", 50).unwrap();
        let found = no_cancel(&tx, "a:2775", "gw", 100).unwrap();
        assert_eq!(
            found,
            Some(NoCancel {
                smsc: "a:2775".into(),
                system_id: "gw".into(),
                answer: "ESME_RINVCMDID (0x00000003)".into(),
                since: 100
            })
        );
        assert_eq!(
            no_cancel(&tx, "a:2775", "gw", 101).unwrap(),
            None,
            "too old"
        );
        assert_eq!(no_cancel(&tx, "a:2775", "other", 0).unwrap(), None);
        assert_eq!(no_cancel(&tx, "c:2775", "gw", 0).unwrap(), None);
        remember_no_cancel(&tx, "a:2775", "gw", "generic_nack y", 200).unwrap();
        assert_eq!(
            no_cancel(&tx, "a:2775", "gw", 150)
                .unwrap()
                .map(|n| (n.answer, n.since)),
            Some(("generic_nack y".to_string(), 200))
        );
        assert_eq!(no_cancel_list(&tx).unwrap().len(), 2);
        assert_eq!(forget_no_cancel(&tx, Some("b:2775")).unwrap(), 1);
        assert_eq!(no_cancel(&tx, "b:2775", "gw", 0).unwrap(), None);
        assert_eq!(forget_no_cancel(&tx, None).unwrap(), 1);
        assert!(no_cancel_list(&tx).unwrap().is_empty());
    }
    use crate::store::outbox::{self, AcceptedSegment, Attempt, AttemptEnd, NewMessage};

    /// A store on a fresh file (kept while the directory lives) and the canceller's wake-up.
    fn store_with_wake() -> (
        tempfile::TempDir,
        crate::store::Store,
        std::sync::Arc<tokio::sync::Notify>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            &dir.path().join("cancel.db"),
            crate::store::StoreOptions::default(),
        )
        .unwrap();
        let wake = store.cancel_intents();
        (dir, store, wake)
    }

    /// Whether the canceller was woken since the last look (a look takes the wake-up).
    fn woken_now(wake: &tokio::sync::Notify) -> bool {
        use futures::FutureExt;
        wake.notified().now_or_never().is_some()
    }

    /// A keyed three-part update in flight when its recipient sends STOP, of which the SMSC
    /// took part 1 and refused part 2 for now (part 3 never went): it is withdrawn, not
    /// queued again for its other parts, and the part taken is to be cancelled (the mark
    /// stays, due now, saying what never went). One of which the SMSC took nothing is
    /// withdrawn with the mark's reason and nothing to cancel. Held back for the mark
    /// ([`AttemptEnd::Withdrawn`]), the same. Before, the row with a part taken went back to
    /// the queue and its other parts to the handset of the recipient who had sent STOP.
    #[test]
    fn a_row_withdrawn_in_flight_sends_no_more_parts_and_cancels_those_taken() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let keyed = |to: &str| NewMessage {
            coalesce_key: Some(format!("status:+8613800138000:{to}")),
            ..NewMessage::sms(to, "long")
        };
        let ids: Vec<i64> = ["+8613900139000", "+8613700137000", "+8613600136000"]
            .iter()
            .map(|to| outbox::enqueue(&tx, &keyed(to), 0).unwrap().id)
            .collect();
        assert_eq!(outbox::claim_due(&tx, 1, 10).unwrap().len(), 3);
        for to in ["+8613900139000", "+8613700137000", "+8613600136000"] {
            let key = format!("status:+8613800138000:{to}");
            outbox::withdraw_queued(&tx, &key, "recipient sent STOP", None, 2).unwrap();
        }
        let part_one = |id: i64| {
            vec![AcceptedSegment {
                seq: 1,
                total: 3,
                message_id: format!("m{id}"),
            }]
        };
        let attempts = [
            Attempt {
                outbox_id: ids[0],
                attempt: 1,
                accepted: part_one(ids[0]),
                end: AttemptEnd::Retry {
                    at: 10,
                    error: "ESME_RSYSERR".into(),
                },
            },
            Attempt {
                outbox_id: ids[1],
                attempt: 1,
                accepted: Vec::new(),
                end: AttemptEnd::NotSent,
            },
            Attempt {
                outbox_id: ids[2],
                attempt: 1,
                accepted: part_one(ids[2]),
                end: AttemptEnd::Withdrawn,
            },
        ];
        for r in outbox::record_attempts(&tx, &attempts, None, 3).unwrap() {
            r.unwrap();
        }
        let row = |id: i64| {
            let r = outbox::get(&tx, id).unwrap().unwrap();
            (
                r.state.as_str().to_string(),
                r.last_error.unwrap_or_default(),
            )
        };
        let taken = (
            "superseded".to_string(),
            "withdrawn in flight (recipient sent STOP): the SMSC had taken 1 of its 3 parts \
             (cancel_sm asked for), the other 2 were never sent"
                .to_string(),
        );
        assert_eq!(row(ids[0]), taken);
        assert_eq!(row(ids[2]), taken);
        assert_eq!(
            row(ids[1]),
            ("superseded".to_string(), "recipient sent STOP".to_string())
        );
        assert!(outbox::claim_due(&tx, 1_000_000, 10).unwrap().is_empty());
        let intents: Vec<(i64, String, i64)> = tx
            .prepare("SELECT outbox_id, why, next_at FROM outbox_cancel ORDER BY outbox_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let why = "recipient sent STOP; 2 of its 3 parts never sent".to_string();
        assert_eq!(intents, [(ids[0], why.clone(), 3), (ids[2], why, 3)]);
    }

    /// A keyed two-part update of which the SMSC took part 1 and refused part 2 for now is
    /// queued again for part 2; its recipient then sends STOP: it is withdrawn, and part 1 is
    /// to be cancelled at the SMSC. Before, it was withdrawn and part 1 left to reach the
    /// handset, half a message from an owner they had stopped.
    #[test]
    fn a_queued_row_withdrawn_has_the_parts_taken_before_cancelled() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let key = "status:+8613800138000:+8613900139000";
        let msg = NewMessage {
            coalesce_key: Some(key.into()),
            ..NewMessage::sms("+8613900139000", "long")
        };
        let id = outbox::enqueue(&tx, &msg, 0).unwrap().id;
        let other = outbox::enqueue(&tx, &NewMessage::sms("+8613700137000", "x"), 0)
            .unwrap()
            .id;
        assert_eq!(outbox::claim_due(&tx, 1, 10).unwrap().len(), 2);
        let attempts = [
            Attempt {
                outbox_id: id,
                attempt: 1,
                accepted: vec![AcceptedSegment {
                    seq: 1,
                    total: 2,
                    message_id: "m1".into(),
                }],
                end: AttemptEnd::Retry {
                    at: 10,
                    error: "ESME_RSYSERR".into(),
                },
            },
            Attempt {
                outbox_id: other,
                attempt: 1,
                accepted: Vec::new(),
                end: AttemptEnd::Retry {
                    at: 10,
                    error: "ESME_RSYSERR".into(),
                },
            },
        ];
        for r in outbox::record_attempts(&tx, &attempts, None, 3).unwrap() {
            r.unwrap();
        }
        assert_eq!(
            outbox::get(&tx, id).unwrap().unwrap().state,
            outbox::OutboxState::Queued
        );
        assert_eq!(
            outbox::withdraw_queued(&tx, key, "recipient sent STOP", None, 4).unwrap(),
            1
        );
        let row = outbox::get(&tx, id).unwrap().unwrap();
        assert_eq!(row.state, outbox::OutboxState::Superseded);
        assert_eq!(row.last_error.as_deref(), Some("recipient sent STOP"));
        assert_eq!(
            asked(&tx, id).unwrap().as_deref(),
            Some("recipient sent STOP")
        );
        assert_eq!(asked(&tx, other).unwrap(), None);
        assert_eq!(pending(&tx).unwrap(), 1);
    }

    /// The store wakes the canceller after a commit that wrote intents (a supersession, a
    /// withdrawal, the parts taken of a queued row withdrawn) or made one due now (a row
    /// withdrawn in flight with a part taken), and only then: not for writes that asked for
    /// nothing, not for a request that rolled back.
    #[test]
    fn a_committed_intent_wakes_the_canceller_and_nothing_else_does() {
        let (_dir, store, wake) = store_with_wake();
        let woken = || woken_now(&wake);
        let keyed = |body: &str| NewMessage {
            coalesce_key: Some("status:+861:+862".into()),
            ..NewMessage::sms("+8613900139000", body)
        };
        let first = keyed("FREE");
        store
            .write_blocking(move |tx| {
                let id = outbox::enqueue(tx, &first, 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                outbox::record_segment_submitted(tx, id, 1, 1, "m-1", 1)?;
                outbox::mark_submitted(tx, id, 1)
            })
            .unwrap();
        assert!(!woken(), "nothing to cancel");
        let newer = keyed("BUSY");
        store
            .write_blocking(move |tx| outbox::enqueue(tx, &newer, 2))
            .unwrap();
        assert!(woken(), "a supersession");
        assert!(!woken(), "once");
        store
            .write_blocking(|tx| {
                tx.execute("DELETE FROM outbox_cancel", [])
                    .map_err(StoreError::from)
            })
            .unwrap();
        assert!(!woken());
        let rolled_back = store.write_blocking(|tx| {
            outbox::withdraw_queued(tx, "status:+861:+862", "recipient sent STOP", None, 3)?;
            Err::<(), _>(StoreError::Closed)
        });
        assert!(rolled_back.is_err());
        assert!(!woken(), "rolled back");
        store
            .write_blocking(|tx| {
                outbox::withdraw_queued(tx, "status:+861:+862", "recipient sent STOP", None, 4)
            })
            .unwrap();
        assert!(woken(), "a withdrawal");
        // Parts an earlier attempt got through of a row queued again, withdrawn: woken.
        let other = |to: &str| NewMessage {
            coalesce_key: Some(format!("status:+861:{to}")),
            ..NewMessage::sms(to, "long")
        };
        let (queued, flying) = (other("+8613700137000"), other("+8613600136000"));
        let ids = store
            .write_blocking(move |tx| {
                let ids = [
                    outbox::enqueue(tx, &queued, 5)?.id,
                    outbox::enqueue(tx, &flying, 5)?.id,
                ];
                outbox::claim_due(tx, 5, 10)?;
                Ok::<_, StoreError>(ids)
            })
            .unwrap();
        let part_one = |id: i64, end: AttemptEnd| Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![AcceptedSegment {
                seq: 1,
                total: 2,
                message_id: format!("p{id}"),
            }],
            end,
        };
        let retry = part_one(
            ids[0],
            AttemptEnd::Retry {
                at: 10,
                error: "ESME_RSYSERR".into(),
            },
        );
        store
            .write_blocking(move |tx| outbox::record_attempts(tx, &[retry], None, 6))
            .unwrap();
        assert!(!woken());
        store
            .write_blocking(|tx| {
                outbox::withdraw_queued(tx, "status:+861:+8613700137000", "left", None, 7)
            })
            .unwrap();
        assert!(woken(), "the parts taken of a queued row");
        // A row in flight marked by a withdrawal (woken), held back with a part taken: its
        // mark made due now wakes it again.
        store
            .write_blocking(|tx| {
                outbox::withdraw_queued(tx, "status:+861:+8613600136000", "left", None, 8)
            })
            .unwrap();
        assert!(woken(), "marked in flight");
        let held = part_one(ids[1], AttemptEnd::Withdrawn);
        store
            .write_blocking(move |tx| outbox::record_attempts(tx, &[held], None, 9))
            .unwrap();
        assert!(woken(), "due now");
    }

    /// A keyed row whose parts all went out before a STOP marked it in flight, then accepted
    /// whole: its intent is due at the acceptance and the canceller is woken, not left to the
    /// canceller's look again at rows in flight (a second after its last look: before, the
    /// cancel_sm went up to a second after the acceptance, while the SMSC could deliver the
    /// message). A keyed row accepted with no mark wakes nothing.
    #[test]
    fn a_row_marked_in_flight_and_accepted_whole_is_cancelled_at_once() {
        let (_dir, store, wake) = store_with_wake();
        let woken = || woken_now(&wake);
        let keyed = |to: &str| NewMessage {
            coalesce_key: Some(format!("status:+8613800138000:{to}")),
            ..NewMessage::sms(to, "FREE")
        };
        let (stopped, other) = (keyed("+8613900139000"), keyed("+8613700137000"));
        let (a, b) = store
            .write_blocking(move |tx| {
                let a = outbox::enqueue(tx, &stopped, 1)?.id;
                let b = outbox::enqueue(tx, &other, 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                Ok::<_, StoreError>((a, b))
            })
            .unwrap();
        store
            .write_blocking(|tx| {
                outbox::withdraw_queued(
                    tx,
                    "status:+8613800138000:+8613900139000",
                    "recipient sent STOP",
                    None,
                    2,
                )
            })
            .unwrap();
        assert!(woken(), "marked in flight");
        // The canceller looked: the row is in flight, look again in a second.
        store
            .write_blocking(move |tx| {
                tx.execute(
                    "UPDATE outbox_cancel SET next_at = 1002 WHERE outbox_id = ?1",
                    [a],
                )
                .map_err(StoreError::from)
            })
            .unwrap();
        let accepted = |id: i64| Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![AcceptedSegment {
                seq: 1,
                total: 1,
                message_id: format!("m{id}"),
            }],
            end: AttemptEnd::Submitted,
        };
        let record = |store: &crate::store::Store, id: i64, now: i64| {
            let attempt = accepted(id);
            store
                .write_blocking(move |tx| {
                    for r in outbox::record_attempts(tx, &[attempt], None, now)? {
                        r?;
                    }
                    Ok::<_, StoreError>(())
                })
                .unwrap();
        };
        record(&store, b, 3);
        assert!(!woken(), "no mark, nothing to cancel");
        record(&store, a, 4);
        assert!(woken(), "accepted with a mark");
        let next_at: i64 = store
            .read_blocking(move |c| {
                c.query_row(
                    "SELECT next_at FROM outbox_cancel WHERE outbox_id = ?1",
                    [a],
                    |r| r.get(0),
                )
                .ctx("test: next_at")
            })
            .unwrap();
        assert_eq!(next_at, 4, "due at the acceptance");
        let state = store
            .read_blocking(move |c| outbox::get(c, a))
            .unwrap()
            .map(|r| r.state);
        assert_eq!(state, Some(outbox::OutboxState::Submitted));
    }

    /// A keyed two-part update in flight when a newer one with its key is queued: the SMSC
    /// takes part 1 and refuses part 2 for now, so the row comes back to the queue, where the
    /// newer row supersedes it. Part 1 is to be cancelled at the SMSC (the canceller woken):
    /// before, it was left to reach the handset, half of the stale update. A row that comes
    /// back with nothing taken is superseded with nothing to cancel.
    #[test]
    fn a_row_superseded_as_it_comes_back_has_the_parts_taken_cancelled() {
        let (_dir, store, wake) = store_with_wake();
        let woken = || woken_now(&wake);
        let keyed = |to: &str, body: &str| NewMessage {
            coalesce_key: Some(format!("status:+8613800138000:{to}")),
            ..NewMessage::sms(to, body)
        };
        let (taken, untouched) = ("+8613900139000", "+8613700137000");
        let (older, other) = (keyed(taken, "FREE"), keyed(untouched, "FREE"));
        let ids = store
            .write_blocking(move |tx| {
                let ids = [
                    outbox::enqueue(tx, &older, 1)?.id,
                    outbox::enqueue(tx, &other, 1)?.id,
                ];
                outbox::claim_due(tx, 1, 10)?;
                Ok::<_, StoreError>(ids)
            })
            .unwrap();
        let (newer, newer_other) = (keyed(taken, "BUSY"), keyed(untouched, "BUSY"));
        let by = store
            .write_blocking(move |tx| {
                let by = outbox::enqueue(tx, &newer, 2)?.id;
                outbox::enqueue(tx, &newer_other, 2)?;
                Ok::<_, StoreError>(by)
            })
            .unwrap();
        assert!(!woken(), "nothing submitted yet");
        let refused = |id: i64, accepted: Vec<AcceptedSegment>| Attempt {
            outbox_id: id,
            attempt: 1,
            accepted,
            end: AttemptEnd::Retry {
                at: 10,
                error: "ESME_RSYSERR".into(),
            },
        };
        let attempts = [
            refused(
                ids[0],
                vec![AcceptedSegment {
                    seq: 1,
                    total: 2,
                    message_id: "m1".into(),
                }],
            ),
            refused(ids[1], Vec::new()),
        ];
        store
            .write_blocking(move |tx| {
                for r in outbox::record_attempts(tx, &attempts, None, 3)? {
                    r?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let intents: Vec<(i64, String)> = store
            .read_blocking(|c| {
                c.prepare("SELECT outbox_id, why FROM outbox_cancel ORDER BY outbox_id")
                    .and_then(|mut s| {
                        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<Result<_, _>>()
                    })
                    .ctx("test: intents")
            })
            .unwrap();
        assert_eq!(
            intents,
            [(ids[0], format!("superseded by outbox row {by}"))]
        );
        assert!(woken(), "the canceller is woken");
        for id in ids {
            let state = store
                .read_blocking(move |c| outbox::get(c, id))
                .unwrap()
                .map(|r| r.state);
            assert_eq!(state, Some(outbox::OutboxState::Superseded));
        }
    }

    /// A keyed two-part update of which the SMSC took part 1 and refused part 2 for now is
    /// queued again for part 2; a newer update with its key comes. It is not rewritten with
    /// the newer content (its record of part 1 dropped, part 1 left to reach the handset):
    /// it is superseded by a new row, and part 1 is to be cancelled at the SMSC, the
    /// canceller woken. A queued row with nothing taken is still rewritten in place.
    #[test]
    fn a_newer_update_supersedes_a_queued_row_partly_sent_and_cancels_its_parts() {
        let (_dir, store, wake) = store_with_wake();
        let woken = || woken_now(&wake);
        let key = "status:+8613800138000:+8613900139000";
        let keyed = |body: &str| NewMessage {
            coalesce_key: Some(key.into()),
            ..NewMessage::sms("+8613900139000", body)
        };
        let first = keyed("FREE");
        let old = store
            .write_blocking(move |tx| {
                let id = outbox::enqueue(tx, &first, 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                let attempt = Attempt {
                    outbox_id: id,
                    attempt: 1,
                    accepted: vec![AcceptedSegment {
                        seq: 1,
                        total: 2,
                        message_id: "m1".into(),
                    }],
                    end: AttemptEnd::Retry {
                        at: 10,
                        error: "ESME_RSYSERR".into(),
                    },
                };
                for r in outbox::record_attempts(tx, &[attempt], None, 2)? {
                    r?;
                }
                Ok::<_, StoreError>(id)
            })
            .unwrap();
        let state = |id: i64| {
            store
                .read_blocking(move |c| outbox::get(c, id))
                .unwrap()
                .map(|r| (r.state, r.last_error))
        };
        assert_eq!(state(old).map(|s| s.0), Some(outbox::OutboxState::Queued));
        assert!(!woken());
        let newer = keyed("BUSY");
        let new = store
            .write_blocking(move |tx| outbox::enqueue(tx, &newer, 3))
            .unwrap();
        assert!(!new.coalesced && new.id != old, "a new row: {new:?}");
        assert_eq!(
            state(old),
            Some((
                outbox::OutboxState::Superseded,
                Some(format!("superseded by outbox row {}", new.id))
            ))
        );
        assert_eq!(
            state(new.id).map(|s| s.0),
            Some(outbox::OutboxState::Queued)
        );
        let asked = store.write_blocking(move |tx| asked(tx, old)).unwrap();
        assert_eq!(asked, Some(format!("superseded by outbox row {}", new.id)));
        assert!(woken(), "the canceller is woken");
        // The new row, nothing of it sent, takes the next update in place.
        let latest = keyed("AWAY");
        let again = store
            .write_blocking(move |tx| outbox::enqueue(tx, &latest, 4))
            .unwrap();
        assert!(again.coalesced && again.id == new.id);
        assert!(!woken());
    }

    /// Every statement of [`supersede_on_submit`] runs on every recorded batch: it finds the
    /// rows by id and their partners through a partial index of keyed rows (queued or
    /// submitted), never by scanning the outbox.
    #[test]
    fn the_in_flight_supersession_check_seeks_indexes() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        for sql in SUPERSEDED_IN_FLIGHT {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(
                    params![crate::store::outbox::id_array([1i64].into_iter()), 0],
                    |r| r.get::<_, String>(3),
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .all(|l| !l.starts_with("SCAN x") && !l.starts_with("SCAN o")),
                "{sql}: {plan:?}"
            );
            assert!(
                plan.iter().any(|l| l.contains("outbox_coalesce_")),
                "{sql}: {plan:?}"
            );
        }
    }
}
