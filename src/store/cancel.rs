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
/// queued ones were withdrawn for). Returns how many rows were asked for.
pub fn withdraw_submitted(
    tx: &Transaction<'_>,
    which: Withdrawn<'_>,
    why: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let (sql, what) = match which {
        // The partial index of submitted keyed rows (migration 22) serves both forms.
        Withdrawn::Key(pattern) if pattern.contains('%') => (
            "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
             SELECT id, ?2, ?3, ?3 FROM outbox
             WHERE state = 'submitted' AND coalesce_key IS NOT NULL AND coalesce_key LIKE ?1",
            pattern,
        ),
        Withdrawn::Key(key) => (
            "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
             SELECT id, ?2, ?3, ?3 FROM outbox
             WHERE state = 'submitted' AND coalesce_key IS NOT NULL AND coalesce_key = ?1",
            key,
        ),
        Withdrawn::PushesOf(owner) => (
            "INSERT OR IGNORE INTO outbox_cancel (outbox_id, why, asked_at, next_at)
             SELECT o.id, ?2, ?3, ?3 FROM avatar_push p JOIN outbox o ON o.id = p.outbox_id
             WHERE p.owner = ?1 AND o.state = 'submitted'",
            owner,
        ),
    };
    tx.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![what, why, now]))
        .ctx("cancel::withdraw_submitted")
}
