//! Retention: the rows a carrier does not need to keep forever are deleted by the running
//! gateway once they are older than `[store] keep_days`, a few at a time, so the database
//! stops growing and no delete holds the writer for long (an operator's one-off
//! `presence-gw outbox purge` deletes in larger batches, `outbox::PURGE_BATCH` of each kind a
//! transaction).
//!
//! | table | what goes | found through |
//! |---|---|---|
//! | `outbox` (and its `outbox_segment` rows, by cascade) | final rows (delivered, failed, expired, superseded) last changed before the cut, but never the newest row (its id would be given again) | `outbox_state_updated`, per state |
//! | `inbox_message` (and its `inbox_part` rows, by cascade) | processed MO messages created before the cut | the oldest ids (ids grow with time) |
//! | `inbox_pdu` | PDUs received before the cut that no part still needs | `inbox_pdu_received_at` |
//! | `status_change` | the quota/audit log before the cut | the oldest ids |
//! | `avatar_download`, `avatar_link` | of owners whose avatar changed or went before the cut (and not since): the downloads of pictures other than the current one; the links, when the owner has no avatar | `avatar_stale_since`, then each owner's rows by key |
//! | `avatar`, its `avatar_variant` rows, `image_blob` | pictures no subscriber and no preset has shown since before the cut and no push not yet final carries, never the newest picture; with their variants, and each of their blobs no variant of another picture uses | `avatar_orphan_since`, then each picture's rows by key (`subscriber_avatar_avatar`, `preset_avatar`, `avatar_push_avatar`, `avatar_variant_blob`) |
//!
//! Every statement deletes at most `limit` rows; [`step`] runs one round of them and says how
//! many went, and the caller runs rounds until one deletes less than a full batch
//! (`app::retention`). Pending MO messages, open parts and rows still in flight are never
//! touched. Pictures go at most `limit` a round, and fewer when their variants reach `limit`
//! (each picture has a variant per size and format, and most variants a blob of their own).
//!
//! # Pictures and their ids
//! `avatar.id` is an `INTEGER PRIMARY KEY` without `AUTOINCREMENT`: SQLite gives a new row
//! the highest id in the table plus one, so deleting the picture with the highest id would
//! hand that id to the next picture stored. Rows that outlive a picture name it by id
//! (`avatar_push` until its outbox row goes, `avatar_delivered`, `avatar_download`), and
//! `avatar::sent_current` compares those ids with the owner's current one: a reused id would
//! make the gateway take a contact whose handset got the deleted picture for one that holds
//! the new one, and never push it there. Retention therefore never deletes the picture with
//! the highest id (it goes once a newer picture is stored), so the highest id never goes
//! down and no id is ever given twice; the rows naming a deleted picture can then never
//! match a current one, and may stay until their own retention. (Deleting those rows with the
//! picture instead would need an index on each of those tables, written on every push and
//! download, and would still race the outbox trigger that copies a delivered push's picture
//! into `avatar_delivered` when its row is purged; making the table `AUTOINCREMENT` would
//! mean rebuilding it under the foreign keys of four tables.)

use rusqlite::Transaction;

use super::{inbox, outbox, Ctx, StoreError};

/// Rows deleted by one [`step`], per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Final outbox rows (their segments went with them).
    pub outbox: usize,
    /// Processed inbox messages (their parts went with them).
    pub inbox_messages: usize,
    /// Inbox PDUs no part needed any more.
    pub inbox_pdus: usize,
    /// Status-change log rows.
    pub status_changes: usize,
    /// Downloads of pictures no longer their owner's.
    pub avatar_downloads: usize,
    /// Links of owners with no avatar.
    pub avatar_links: usize,
    /// Owners whose avatar rows were looked at (their `avatar_stale` row went).
    pub avatar_owners: usize,
    /// Pictures no longer shown (their variants and blobs are counted apart).
    pub avatars: usize,
    /// Variants of those pictures.
    pub avatar_variants: usize,
    /// Image blobs no variant used any more.
    pub image_blobs: usize,
    /// Unused pictures looked at (deleted, found shown again, or put off while a push not
    /// yet final carries them).
    pub avatar_orphans: usize,
}

impl Purged {
    /// All rows deleted.
    pub fn total(&self) -> usize {
        self.outbox
            + self.inbox_messages
            + self.inbox_pdus
            + self.status_changes
            + self.avatar_downloads
            + self.avatar_links
            + self.avatars
            + self.avatar_variants
            + self.image_blobs
    }

    /// Whether some statement deleted a full batch (there may be more to delete).
    pub fn more(&self, limit: usize) -> bool {
        // Outbox rows are deleted per final state, so up to four batches a step.
        self.outbox >= limit
            || self.inbox_messages >= limit
            || self.inbox_pdus >= limit
            || self.status_changes >= limit
            || self.avatar_downloads + self.avatar_links >= limit
            || self.avatar_owners >= limit
            || self.avatar_variants >= limit
            || self.avatar_orphans >= limit
    }
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, o: Purged) {
        self.outbox += o.outbox;
        self.inbox_messages += o.inbox_messages;
        self.inbox_pdus += o.inbox_pdus;
        self.status_changes += o.status_changes;
        self.avatar_downloads += o.avatar_downloads;
        self.avatar_links += o.avatar_links;
        self.avatar_owners += o.avatar_owners;
        self.avatars += o.avatars;
        self.avatar_variants += o.avatar_variants;
        self.image_blobs += o.image_blobs;
        self.avatar_orphans += o.avatar_orphans;
    }
}

/// Status changes among the `?2` oldest, recorded before `?1`.
const STATUS_CHANGES_SQL: &str = "DELETE FROM status_change
     WHERE id IN (SELECT id FROM status_change ORDER BY id LIMIT ?2) AND at < ?1";

/// Owners whose avatar changed or went before `?1`, the longest ago first, at most `?2`.
const STALE_OWNERS_SQL: &str =
    "SELECT owner FROM avatar_stale WHERE since < ?1 ORDER BY since LIMIT ?2";

/// `?1`'s downloads of pictures that are not their avatar now.
const STALE_DOWNLOADS_SQL: &str = "DELETE FROM avatar_download
     WHERE owner = ?1
       AND avatar_id IS NOT (SELECT avatar_id FROM subscriber_avatar WHERE msisdn = ?1)";

/// `?1`'s links, when they have no avatar now.
const STALE_LINKS_SQL: &str = "DELETE FROM avatar_link
     WHERE owner = ?1 AND NOT EXISTS (SELECT 1 FROM subscriber_avatar WHERE msisdn = ?1)";

/// `?1` is done.
const STALE_DONE_SQL: &str = "DELETE FROM avatar_stale WHERE owner = ?1";

/// Pictures unused since before `?1`, the longest ago first, at most `?2`; never the one with
/// the highest id (module docs: its id would be given again).
const ORPHANS_SQL: &str = "SELECT avatar_id FROM avatar_orphan
     WHERE since < ?1 AND avatar_id < (SELECT max(id) FROM avatar)
     ORDER BY since LIMIT ?2";

/// Whether a subscriber or a preset shows picture `?1` (again).
const ORPHAN_SHOWN_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM subscriber_avatar WHERE avatar_id = ?1)
     OR EXISTS (SELECT 1 FROM preset WHERE avatar_id = ?1)";

/// Whether a push not yet final (queued, in flight, submitted) carries picture `?1`.
static ORPHAN_PUSHED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let finals: Vec<String> = outbox::OutboxState::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| format!("o.state = '{}'", s.as_str()))
        .collect();
    format!(
        "SELECT EXISTS (SELECT 1 FROM avatar_push p JOIN outbox o ON o.id = p.outbox_id
             WHERE p.avatar_id = ?1 AND NOT ({}))",
        finals.join(" OR ")
    )
});

/// The blobs picture `?1`'s variants use.
const ORPHAN_BLOBS_SQL: &str =
    "SELECT DISTINCT blob_sha256 FROM avatar_variant WHERE avatar_id = ?1";

/// Picture `?1`'s variants.
const ORPHAN_VARIANTS_SQL: &str = "DELETE FROM avatar_variant WHERE avatar_id = ?1";

/// Picture `?1`.
const ORPHAN_AVATAR_SQL: &str = "DELETE FROM avatar WHERE id = ?1";

/// Blob `?1`, unless a variant (of any picture) still uses it.
const ORPHAN_BLOB_SQL: &str = "DELETE FROM image_blob
     WHERE sha256 = ?1 AND NOT EXISTS (SELECT 1 FROM avatar_variant WHERE blob_sha256 = ?1)";

/// Picture `?1` is no longer on the list (deleted, or shown again).
const ORPHAN_DONE_SQL: &str = "DELETE FROM avatar_orphan WHERE avatar_id = ?1";

/// Picture `?1` is carried by a push not yet final: unused from `?2` on at the earliest.
const ORPHAN_LATER_SQL: &str = "UPDATE avatar_orphan SET since = ?2 WHERE avatar_id = ?1";

/// Every statement [`step`] runs, for the plan test.
#[cfg(test)]
fn statements() -> Vec<String> {
    let mut v: Vec<String> = outbox::PURGE_SQL
        .iter()
        .map(|(_, sql)| sql.clone())
        .collect();
    v.extend(
        [
            inbox::PURGE_MESSAGES_SQL,
            inbox::PURGE_PDUS_SQL,
            STATUS_CHANGES_SQL,
            STALE_OWNERS_SQL,
            STALE_DOWNLOADS_SQL,
            STALE_LINKS_SQL,
            STALE_DONE_SQL,
            ORPHANS_SQL,
            ORPHAN_SHOWN_SQL,
            ORPHAN_PUSHED_SQL.as_str(),
            ORPHAN_BLOBS_SQL,
            ORPHAN_VARIANTS_SQL,
            ORPHAN_AVATAR_SQL,
            ORPHAN_BLOB_SQL,
            ORPHAN_DONE_SQL,
            ORPHAN_LATER_SQL,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

/// Delete up to `limit` rows of each kind older than `cut` (Unix ms); see the module docs.
/// The outbox and inbox parts are their modules' own purges, bounded.
pub fn step(tx: &Transaction<'_>, cut: i64, limit: usize) -> Result<Purged, StoreError> {
    let outbox = outbox::purge_finished(tx, cut, Some(limit))?;
    let (inbox_messages, inbox_pdus) = inbox::purge(tx, cut, Some(limit))?;
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let status_changes = tx
        .prepare_cached(STATUS_CHANGES_SQL)
        .and_then(|mut s| s.execute([cut, n]))
        .ctx("retention: status changes")?;
    let (avatar_downloads, avatar_links, avatar_owners) = stale_avatar_rows(tx, cut, limit)?;
    let pictures = unused_pictures(tx, cut, limit)?;
    let p = Purged {
        outbox,
        inbox_messages,
        inbox_pdus,
        status_changes,
        avatar_downloads,
        avatar_links,
        avatar_owners,
        avatars: pictures.avatars,
        avatar_variants: pictures.avatar_variants,
        image_blobs: pictures.image_blobs,
        avatar_orphans: pictures.avatar_orphans,
    };
    // Receipts held for a response that never came are dropped on their own schedule
    // (`outbox::drop_held_receipts`, 48 h).
    Ok(p)
}

/// The avatar rows of owners whose avatar changed or went before `cut` that say nothing any
/// more: their downloads of other pictures, and their links while they have no avatar (see
/// schema 25). Owner by owner, the longest ago first, until `limit` rows went or `limit`
/// owners were done: (downloads, links, owners).
fn stale_avatar_rows(
    tx: &Transaction<'_>,
    cut: i64,
    limit: usize,
) -> Result<(usize, usize, usize), StoreError> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let owners: Vec<String> = tx
        .prepare_cached(STALE_OWNERS_SQL)
        .and_then(|mut s| {
            s.query_map(rusqlite::params![cut, n], |r| r.get(0))?
                .collect::<Result<_, _>>()
        })
        .ctx("retention: stale avatar owners")?;
    let (mut downloads, mut links, mut done) = (0, 0, 0);
    for owner in &owners {
        if downloads + links >= limit {
            break;
        }
        let run = |sql: &str, what: &'static str| {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.execute([owner]))
                .ctx(what)
        };
        downloads += run(STALE_DOWNLOADS_SQL, "retention: stale avatar downloads")?;
        links += run(STALE_LINKS_SQL, "retention: stale avatar links")?;
        run(STALE_DONE_SQL, "retention: stale avatar owner done")?;
        done += 1;
    }
    Ok((downloads, links, done))
}

/// The pictures no subscriber and no preset has shown since before `cut` (`avatar_orphan`,
/// schema 29), the longest ago first, never the newest (module docs), each checked again
/// before it goes:
/// - shown again (a subscriber or a preset): off the list, kept;
/// - carried by a push not yet final (queued, in flight, submitted: its `avatar_push` row
///   names it, and should its owner pick it again before the push settles,
///   `avatar::sent_current` counts that push as carrying their picture): kept, and unused
///   only from now on, so that it is looked at again `keep_days` on rather than at every
///   round (which would hold back the pictures behind it);
/// - else deleted with its variants, then each of its blobs that no variant of another
///   picture uses (`image_blob` is referred to by `avatar_variant` only).
///
/// At most `limit` pictures, and none more once `limit` variants went; the counts of
/// [`Purged`]'s picture fields (the rest left at zero).
fn unused_pictures(tx: &Transaction<'_>, cut: i64, limit: usize) -> Result<Purged, StoreError> {
    // A deleted picture leaves no bytes of it in the file: SQLite otherwise only marks its
    // pages free (a subscriber's old photo stays readable from a copy of the file until the
    // pages are used again). Zeroing costs a write of the pages freed, for these deletes
    // only: the connection's setting is put back after them.
    let was: i64 = tx
        .query_row("PRAGMA secure_delete", [], |r| r.get(0))
        .ctx("retention: secure_delete")?;
    tx.pragma_update(None, "secure_delete", 1)
        .ctx("retention: secure_delete on")?;
    let deleted = delete_unused_pictures(tx, cut, limit);
    // Put back by name: the pragma reads FAST as 2, but takes a 2 for a plain "on".
    let back = match was {
        0 => "OFF",
        2 => "FAST",
        _ => "ON",
    };
    tx.pragma_update(None, "secure_delete", back)
        .ctx("retention: secure_delete back")?;
    deleted
}

/// [`unused_pictures`]' work.
fn delete_unused_pictures(
    tx: &Transaction<'_>,
    cut: i64,
    limit: usize,
) -> Result<Purged, StoreError> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let ids: Vec<i64> = tx
        .prepare_cached(ORPHANS_SQL)
        .and_then(|mut s| {
            s.query_map(rusqlite::params![cut, n], |r| r.get(0))?
                .collect::<Result<_, _>>()
        })
        .ctx("retention: unused pictures")?;
    // Never before the cut, so that a picture put off is not taken again this round.
    let later = super::now_ms().max(cut);
    let mut p = Purged::default();
    for id in ids {
        if p.avatar_variants >= limit {
            break;
        }
        p.avatar_orphans += 1;
        let ask = |sql: &str, what: &'static str| -> Result<bool, StoreError> {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.query_row([id], |r| r.get(0)))
                .ctx(what)
        };
        let run = |sql: &str, what: &'static str| {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.execute([id]))
                .ctx(what)
        };
        if ask(ORPHAN_SHOWN_SQL, "retention: picture shown")? {
            run(ORPHAN_DONE_SQL, "retention: picture shown again")?;
            continue;
        }
        if ask(ORPHAN_PUSHED_SQL.as_str(), "retention: picture pushed")? {
            tx.prepare_cached(ORPHAN_LATER_SQL)
                .and_then(|mut s| s.execute([id, later]))
                .ctx("retention: picture put off")?;
            continue;
        }
        let blobs: Vec<String> = tx
            .prepare_cached(ORPHAN_BLOBS_SQL)
            .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect::<Result<_, _>>())
            .ctx("retention: picture blobs")?;
        p.avatar_variants += run(ORPHAN_VARIANTS_SQL, "retention: picture variants")?;
        p.avatars += run(ORPHAN_AVATAR_SQL, "retention: picture")?;
        run(ORPHAN_DONE_SQL, "retention: picture done")?;
        for sha in &blobs {
            p.image_blobs += tx
                .prepare_cached(ORPHAN_BLOB_SQL)
                .and_then(|mut s| s.execute([sha]))
                .ctx("retention: picture blob")?;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn every_statement_reads_an_index_or_the_oldest_ids_not_the_whole_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        for sql in statements() {
            let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let params = &[0i64, 10][..explain.parameter_count()];
            let plan: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let plan = plan.join("\n");
            // `SCAN CONSTANT ROW` is the one row of a SELECT without FROM (`SELECT EXISTS ...`).
            let scans_all = plan.lines().any(|l| {
                let l = l.trim();
                l.starts_with("SCAN ")
                    && !l.contains("INDEX")
                    && !l.contains("LIST SUBQUERY")
                    && l != "SCAN CONSTANT ROW"
            });
            // A rowid-order scan is allowed only where a LIMIT bounds it to the oldest ids.
            let bounded = sql.contains("ORDER BY id LIMIT");
            assert!(!scans_all || bounded, "{sql}\n{plan}");
        }
    }
}
