//! Intents to cancel at the SMSC (`outbox_cancel`, schema migration 22), written by the
//! outbox changes that make an accepted message wrong to deliver, in their own transaction:
//! a newer message with the same coalescing key (`outbox::enqueue`), a withdrawal
//! (`outbox::withdraw_queued`, `outbox::withdraw_queued_pushes`). The `delivery::cancel`
//! task sends the `cancel_sm`s and records what the SMSC answered.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{Ctx, StoreError};

/// The last error of a row whose message the SMSC deleted at our `cancel_sm`, asked for
/// `why`: `cancelled at the SMSC: <why>`.
pub fn cancelled_error(why: &str) -> String {
    format!("cancelled at the SMSC: {why}")
}

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
    "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
         SELECT o.id, 'superseded by outbox row ' || x.id, ?2, ?2
         FROM outbox x JOIN outbox o
             ON o.coalesce_key = x.coalesce_key AND o.state = 'submitted'
         WHERE x.id IN rarray(?1) AND x.state = 'submitted' AND x.coalesce_key IS NOT NULL
           AND (o.content_at < x.content_at OR (o.content_at = x.content_at AND o.id < x.id))",
];

/// Keyed rows `ids` have just become `submitted` (`outbox::mark_submitted`). A newer message with
/// their key may have come while they were in flight, when [`supersede_submitted`] asked for
/// nothing (they were not `submitted` yet): ask now. A row with its key and newer content
/// (`content_at`, then id) that is `queued` or `submitted` supersedes it; one of `ids` with
/// newer content than a `submitted` row with its key supersedes that one (a newer message
/// claimed while the older was in flight, recorded after it). Each look seeks the partial
/// index of queued or submitted keyed rows. Returns how many rows were asked for.
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
    Ok(asked)
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
    Ok(asked)
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

#[cfg(test)]
mod tests {
    use super::*;

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
