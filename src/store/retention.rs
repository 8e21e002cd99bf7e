//! Retention: the rows a carrier does not need to keep forever are deleted by the running
//! gateway once they are older than `[store] keep_days`, a few at a time, so the database
//! stops growing and no delete holds the writer for long (an operator's one-off
//! `presence-gw outbox purge` deletes in larger batches, `outbox::PURGE_BATCH` of each kind a
//! transaction).
//!
//! | table | what goes | found through |
//! |---|---|---|
//! | `outbox` (and its `outbox_segment` rows, by cascade) | final rows (delivered, failed, expired, superseded) last changed before the cut | `outbox_state_updated`, per state |
//! | `inbox_message` (and its `inbox_part` rows, by cascade) | processed MO messages created before the cut | the oldest ids (ids grow with time) |
//! | `inbox_pdu` | PDUs received before the cut that no part still needs | `inbox_pdu_received_at` |
//! | `status_change` | the quota/audit log before the cut | the oldest ids |
//! | `avatar_download`, `avatar_link` | of owners whose avatar changed or went before the cut (and not since): the downloads of pictures other than the current one; the links, when the owner has no avatar | `avatar_stale_since`, then each owner's rows by key |
//!
//! Every statement deletes at most `limit` rows; [`step`] runs one round of them and says how
//! many went, and the caller runs rounds until one deletes less than a full batch
//! (`app::retention`). Pending MO messages, open parts and rows still in flight are never
//! touched.

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
    let p = Purged {
        outbox,
        inbox_messages,
        inbox_pdus,
        status_changes,
        avatar_downloads,
        avatar_links,
        avatar_owners,
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
            let scans_all = plan.lines().any(|l| {
                let l = l.trim();
                l.starts_with("SCAN ") && !l.contains("INDEX") && !l.contains("LIST SUBQUERY")
            });
            // A rowid-order scan is allowed only where a LIMIT bounds it to the oldest ids.
            let bounded = sql.contains("ORDER BY id LIMIT");
            assert!(!scans_all || bounded, "{sql}\n{plan}");
        }
    }
}
