//! The operator's pause of outbound sending (`PUT /api/v1/outbound`), kept in the store so that
//! a restart during a carrier's maintenance window does not start sending again: one row in
//! `outbound_pause` (schema 26) while paused, none while sending.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{Ctx, StoreError};

/// Outbound sending paused: since when (Unix ms) and the operator's note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    /// When the pause began, Unix ms.
    pub since: i64,
    /// Why, as the operator wrote it (may be empty).
    pub note: String,
}

/// The pause in force, if any.
pub fn get(conn: &Connection) -> Result<Option<Paused>, StoreError> {
    conn.prepare_cached("SELECT since, note FROM outbound_pause WHERE id = 1")
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok(Paused {
                    since: r.get(0)?,
                    note: r.get(1)?,
                })
            })
            .optional()
        })
        .ctx("pause::get")
}

/// Pause (`Some`) or resume (`None`). Pausing again keeps the first `since`, with the new note.
pub fn set(tx: &Transaction<'_>, pause: Option<&Paused>) -> Result<(), StoreError> {
    match pause {
        Some(p) => tx
            .execute(
                "INSERT INTO outbound_pause (id, since, note) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET note = excluded.note",
                params![p.since, p.note],
            )
            .map(drop),
        None => tx.execute("DELETE FROM outbound_pause", []).map(drop),
    }
    .ctx("pause::set")
}
