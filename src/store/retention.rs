//! Retention: the rows a carrier does not need to keep forever are deleted by the running
//! gateway once they are older than `[store] keep_days`, a few at a time, so the database
//! stops growing and no delete holds the writer for long (an operator's one-off
//! `presence-gw outbox purge` deletes everything old in one transaction instead).
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

use super::outbox::OutboxState;
use super::{tally, Ctx, StoreError};

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

/// The final outbox rows of one state last changed before `?1`, at most `?2`.
fn outbox_sql(state: OutboxState) -> String {
    format!(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox WHERE state = '{}' AND updated_at < ?1 LIMIT ?2)",
        state.as_str()
    )
}

/// Processed messages among the `?2` oldest (ids grow with time), created before `?1`.
const INBOX_MESSAGES_SQL: &str = "DELETE FROM inbox_message
     WHERE id IN (SELECT id FROM inbox_message ORDER BY id LIMIT ?2)
       AND state = 'processed' AND created_at < ?1";

/// PDUs received before `?1` that no part refers to, at most `?2`.
const INBOX_PDUS_SQL: &str = "DELETE FROM inbox_pdu WHERE id IN (
     SELECT id FROM inbox_pdu WHERE received_at < ?1
        AND NOT EXISTS (SELECT 1 FROM inbox_part p WHERE p.pdu_id = inbox_pdu.id)
      LIMIT ?2)";

/// Status changes among the `?2` oldest, recorded before `?1`.
const STATUS_CHANGES_SQL: &str = "DELETE FROM status_change
     WHERE id IN (SELECT id FROM status_change ORDER BY id LIMIT ?2) AND at < ?1";

/// Every statement [`step`] runs, for the plan test.
#[cfg(test)]
fn statements() -> Vec<String> {
    let mut v: Vec<String> = final_states().map(outbox_sql).collect();
    v.extend(
        [INBOX_MESSAGES_SQL, INBOX_PDUS_SQL, STATUS_CHANGES_SQL]
            .iter()
            .map(|s| s.to_string()),
    );
    v
}

fn final_states() -> impl Iterator<Item = OutboxState> {
    OutboxState::ALL.iter().copied().filter(|s| s.is_final())
}

/// Delete up to `limit` rows of each kind older than `cut` (Unix ms); see the module docs.
pub fn step(tx: &Transaction<'_>, cut: i64, limit: usize) -> Result<Purged, StoreError> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut p = Purged::default();
    for state in final_states() {
        let gone = tx
            .prepare_cached(&outbox_sql(state))
            .and_then(|mut s| s.execute([cut, n]))
            .ctx("retention: outbox")?;
        tally::note(Some(state), None, gone);
        p.outbox += gone;
    }
    let run = |sql: &str, op: &'static str| {
        tx.prepare_cached(sql)
            .and_then(|mut s| s.execute([cut, n]))
            .ctx(op)
    };
    p.inbox_messages = run(INBOX_MESSAGES_SQL, "retention: inbox messages")?;
    p.inbox_pdus = run(INBOX_PDUS_SQL, "retention: inbox pdus")?;
    p.status_changes = run(STATUS_CHANGES_SQL, "retention: status changes")?;
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
