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
}

impl Purged {
    /// All rows deleted.
    pub fn total(&self) -> usize {
        self.outbox + self.inbox_messages + self.inbox_pdus + self.status_changes
    }

    /// Whether some statement deleted a full batch (there may be more to delete).
    pub fn more(&self, limit: usize) -> bool {
        // Outbox rows are deleted per final state, so up to four batches a step.
        self.outbox >= limit
            || self.inbox_messages >= limit
            || self.inbox_pdus >= limit
            || self.status_changes >= limit
    }
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, o: Purged) {
        self.outbox += o.outbox;
        self.inbox_messages += o.inbox_messages;
        self.inbox_pdus += o.inbox_pdus;
        self.status_changes += o.status_changes;
    }
}

/// Status changes among the `?2` oldest, recorded before `?1`.
const STATUS_CHANGES_SQL: &str = "DELETE FROM status_change
     WHERE id IN (SELECT id FROM status_change ORDER BY id LIMIT ?2) AND at < ?1";

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
    let p = Purged {
        outbox,
        inbox_messages,
        inbox_pdus,
        status_changes,
    };
    // Receipts held for a response that never came are dropped on their own schedule
    // (`outbox::drop_held_receipts`, 48 h).
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
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map([0i64, 10], |r| r.get::<_, String>(3))
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
