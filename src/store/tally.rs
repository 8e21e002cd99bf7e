//! The outbox's rows per state, kept up to date by the writer thread as its requests change
//! them, so that `/metrics` does not count the whole table at every scrape (a table scan: 244
//! ms at a million rows, and a carrier keeps every row until the purge).
//!
//! Every function of [`super::outbox`] that changes a row's state says so with [`note`], with
//! the number of rows the statement changed. The counts live in the thread that runs the
//! statements (the store writer), in three layers that follow the writer's transactions:
//!
//! | layer | holds | becomes |
//! |---|---|---|
//! | request | changes of the request running, in its savepoint | dropped if the request rolls back ([`request_end`]), else added to the batch |
//! | batch | changes of the finished requests of the open transaction | added to the base at `COMMIT` ([`batch_end`]); a failed commit makes the base unknown |
//! | base | rows per state as of the last commit | counted from the table when unknown |
//!
//! The base is counted from the table (one scan) at the dispatcher's start
//! ([`super::outbox::counts_recounted`], the scan that also finds rows a crash left in flight),
//! the first time it is asked for if that has not happened, after a batch
//! that did not commit, and after another process changed the database (the operator's
//! `presence-gw outbox retry` or `purge`): SQLite's `PRAGMA data_version` on the writer's
//! connection changes only then, not for the writer's own commits nor for checkpoints.
//! [`super::outbox::counts_tracked`] answers from here; [`super::outbox::counts_by_state`]
//! still counts the table (the CLI and the tests compare the two).
//!
//! The same layers carry the cancel intents written or made due ([`note_intents`], by
//! [`super::cancel`]'s writers and by `outbox`'s withdrawal of a row in flight): a batch that
//! committed some says so ([`Ended::intents`]) and the store wakes the canceller
//! ([`super::Store::cancel_intents`]); rolled back, they wake nothing.

use std::cell::RefCell;

use super::outbox::OutboxState;

/// Per state, in [`OutboxState::ALL`] order.
pub(crate) type PerState = [i64; STATES];

const STATES: usize = 7;

/// The writer thread's counts (see the module docs).
#[derive(Default)]
struct Tally {
    /// Rows per state as of the last commit and `data_version` when it was counted; `None`
    /// until counted, and after a batch whose outcome the counts cannot follow.
    base: Option<(PerState, i64)>,
    /// Changes made by the open transaction's finished requests.
    batch: PerState,
    /// Changes made by the running request.
    request: PerState,
    /// Rows that entered each state in the open transaction's finished requests, and in the
    /// running request: the outcomes [`batch_end`] reports once committed.
    batch_entered: PerState,
    request_entered: PerState,
    /// Cancel intents written by the open transaction's finished requests, and by the
    /// running request.
    batch_intents: usize,
    request_intents: usize,
}

/// What a batch's end reports ([`batch_end`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Ended {
    /// Rows that entered each state in it, in [`OutboxState::ALL`] order.
    pub(crate) entered: PerState,
    /// Cancel intents it wrote ([`note_intents`]).
    pub(crate) intents: usize,
}

thread_local! {
    static TALLY: RefCell<Tally> = RefCell::new(Tally::default());
}

fn index(state: OutboxState) -> usize {
    OutboxState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or_default()
}

fn add(into: &mut PerState, from: &PerState) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// `rows` rows went from state `from` to state `to` (`None`: inserted / deleted).
pub(crate) fn note(from: Option<OutboxState>, to: Option<OutboxState>, rows: usize) {
    if rows == 0 || from == to {
        return;
    }
    let n = rows as i64;
    TALLY.with_borrow_mut(|t| {
        if let Some(s) = from {
            t.request[index(s)] -= n;
        }
        if let Some(s) = to {
            t.request[index(s)] += n;
            t.request_entered[index(s)] += n;
        }
    });
}

/// `rows` cancel intents (`outbox_cancel` rows) were written, or made due now.
pub(crate) fn note_intents(rows: usize) {
    if rows > 0 {
        TALLY.with_borrow_mut(|t| t.request_intents += rows);
    }
}

/// A request starts: whatever an earlier, unfinished piece of work left is not its.
pub(crate) fn request_begin() {
    TALLY.with_borrow_mut(|t| {
        t.request = PerState::default();
        t.request_entered = PerState::default();
        t.request_intents = 0;
    });
}

/// The running request ended: its changes stay in the transaction (`kept`) or were rolled
/// back with its savepoint.
pub(crate) fn request_end(kept: bool) {
    TALLY.with_borrow_mut(|t| {
        let request = std::mem::take(&mut t.request);
        let entered = std::mem::take(&mut t.request_entered);
        let intents = std::mem::take(&mut t.request_intents);
        if kept {
            add(&mut t.batch, &request);
            add(&mut t.batch_entered, &entered);
            t.batch_intents += intents;
        }
    });
}

/// The open transaction committed (`true`) or did not: in that case the base is counted again
/// when next asked for, since part of the batch may have reached the file. Returns how many
/// rows entered each state in it and the cancel intents it wrote (none if it did not commit).
pub(crate) fn batch_end(committed: bool) -> Ended {
    TALLY.with_borrow_mut(|t| {
        let batch = std::mem::take(&mut t.batch);
        let entered = std::mem::take(&mut t.batch_entered);
        let intents = std::mem::take(&mut t.batch_intents);
        match (&mut t.base, committed) {
            (Some((base, _)), true) => add(base, &batch),
            (base, _) => *base = None,
        }
        if committed {
            Ended { entered, intents }
        } else {
            Ended::default()
        }
    })
}

/// Count the table again at the next [`current`].
pub(crate) fn forget() {
    TALLY.with_borrow_mut(|t| t.base = None);
}

/// Rows per state as the running transaction sees them: `count` counts the table (it is called
/// only when the base is unknown or `data_version` moved since it was counted).
pub(crate) fn current(
    data_version: i64,
    count: impl FnOnce() -> Result<PerState, super::StoreError>,
) -> Result<PerState, super::StoreError> {
    let known = TALLY.with_borrow(|t| match t.base {
        Some((base, version)) if version == data_version => Some(base),
        _ => None,
    });
    let base = match known {
        Some(base) => base,
        None => {
            // The table as this transaction sees it includes the batch and request so far:
            // the base is what was committed before them.
            let mut counted = count()?;
            TALLY.with_borrow(|t| {
                for (c, (b, r)) in counted.iter_mut().zip(t.batch.iter().zip(&t.request)) {
                    *c -= b + r;
                }
            });
            TALLY.with_borrow_mut(|t| t.base = Some((counted, data_version)));
            counted
        }
    };
    Ok(TALLY.with_borrow(|t| {
        let mut now = base;
        add(&mut now, &t.batch);
        add(&mut now, &t.request);
        now
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(queued: i64, delivered: i64) -> PerState {
        let mut p = PerState::default();
        p[index(OutboxState::Queued)] = queued;
        p[index(OutboxState::Delivered)] = delivered;
        p
    }

    /// Each test runs on its own thread, so each has its own tally.
    #[test]
    fn layers_follow_savepoints_and_commits() {
        // First ask: counted.
        let now = current(1, || Ok(counted(5, 0))).unwrap();
        assert_eq!(now, counted(5, 0));

        // A request that stays, one that rolls back, then the commit.
        request_begin();
        note(Some(OutboxState::Queued), Some(OutboxState::Delivered), 2);
        request_end(true);
        request_begin();
        note(None, Some(OutboxState::Queued), 10);
        request_end(false);
        let in_tx = current(1, || panic!("the base is known")).unwrap();
        assert_eq!(in_tx, counted(3, 2));
        // The commit reports the rows that entered each state, the rolled-back ones not.
        let entered = batch_end(true).entered;
        assert_eq!(entered[index(OutboxState::Delivered)], 2);
        assert_eq!(entered[index(OutboxState::Queued)], 0);
        assert_eq!(current(1, || panic!("known")).unwrap(), counted(3, 2));

        // A batch that failed: counted again, and so is a change by another process; it
        // reports no outcome.
        request_begin();
        note(Some(OutboxState::Queued), Some(OutboxState::Failed), 1);
        request_end(true);
        assert_eq!(batch_end(false), Ended::default());
        assert_eq!(current(1, || Ok(counted(4, 2))).unwrap(), counted(4, 2));
        assert_eq!(current(2, || Ok(counted(0, 6))).unwrap(), counted(0, 6));
        assert_eq!(current(2, || panic!("known")).unwrap(), counted(0, 6));
        // Forgotten: counted again at the same data_version.
        forget();
        assert_eq!(current(2, || Ok(counted(1, 6))).unwrap(), counted(1, 6));
    }

    #[test]
    fn a_count_inside_a_batch_is_not_added_twice() {
        current(7, || Ok(counted(1, 0))).unwrap();
        batch_end(false); // base unknown
        request_begin();
        note(None, Some(OutboxState::Queued), 3);
        request_end(true);
        // The table, seen from inside the transaction, already has the 3 new rows.
        request_begin();
        assert_eq!(current(7, || Ok(counted(4, 0))).unwrap(), counted(4, 0));
        request_end(true);
        batch_end(true);
        assert_eq!(current(7, || panic!("known")).unwrap(), counted(4, 0));
    }

    /// Cancel intents follow the requests that wrote them: a rolled-back request's are not
    /// reported, a committed batch reports the others, a failed one none.
    #[test]
    fn intents_are_reported_once_committed() {
        request_begin();
        note_intents(2);
        request_end(true);
        request_begin();
        note_intents(5);
        request_end(false);
        assert_eq!(batch_end(true).intents, 2);
        assert_eq!(batch_end(true).intents, 0, "reported once");
        request_begin();
        note_intents(1);
        request_end(true);
        assert_eq!(batch_end(false).intents, 0);
    }
}
