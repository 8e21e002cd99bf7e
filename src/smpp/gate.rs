//! Receipts that overtake the record of their own submit.
//!
//! Many SMSCs send a delivery receipt the moment they answer a `submit_sm`: the
//! `submit_sm_resp` and the receipt's `deliver_sm` then arrive in the same read. The outbox
//! dispatcher records a batch's message ids once the whole batch is answered (one store write
//! per batch), so without help such a receipt finds no segment yet and takes the slow path:
//! it is held in `pending_receipt` (one row per id form) and matched again when the segment is
//! recorded — several writes instead of two, on every message.
//!
//! A [`BatchGate`] closes that gap without breaking the rule that a `deliver_sm` is answered
//! only after it is persisted. The session announces each id the SMSC accepted for a batch
//! the moment it reads the response (`BatchGate::accepted`), which is before it hands on any
//! `deliver_sm` read after it. The dispatcher drops its [`BatchRecording`] once the batch's
//! record write has committed (or failed, or the batch ended any other way); a batch slow
//! enough to have rows recorded before its end releases their ids then
//! ([`BatchRecording::release`]). The inbound pump
//! waits ([`ReceiptGates::wait_recorded`]) before writing a receipt for an announced id that is
//! not recorded yet, so the receipt finds its segment; the receipts of a batch then go in one
//! write of their own. A receipt for an id nobody announced (a receipt before its response, or
//! someone else's) is written at once, as before.
//!
//! The price is latency: such a receipt's `deliver_sm_resp` waits for the rest of its batch
//! (at most [`crate::inbound`]'s cap, 2 s). So the dispatcher gates its batches only at link
//! windows up to [`crate::delivery::GATE_MAX_WINDOW`] (64, the default), where receipts arrive
//! spread out and the saved writes pay for the wait. Recording rows one write at a time as
//! they complete was tried instead (BENCHMARKS.md, 2026-12-05): it waits less but writes more,
//! and cost more CPU per message than no gate at all at window 1.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sms_wire::receipt::normalize_message_id;
use tokio::sync::Notify;

use crate::histogram::LatencyHistogram;

/// The ids accepted by the SMSC whose batch is not recorded yet, by normalised message id.
#[derive(Debug, Default)]
pub struct ReceiptGates {
    open: Mutex<HashMap<String, Arc<BatchGate>>>,
    /// How long batches of receipts waited for the record of their submits
    /// ([`ReceiptGates::wait_all`]; only batches that had one to wait for).
    pub waited: LatencyHistogram,
    /// Batches of receipts whose wait ran out: their submits were still not recorded, and
    /// the receipts were held (matched again later) instead.
    pub gave_up: AtomicU64,
}

impl ReceiptGates {
    /// A gate for one batch of submits; release it (drop the [`BatchRecording`]) once the
    /// batch's answers are recorded.
    pub fn batch(self: &Arc<Self>) -> BatchRecording {
        BatchRecording {
            gate: Arc::new(BatchGate {
                gates: self.clone(),
                released: AtomicBool::new(false),
                notify: Notify::new(),
                ids: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Whether a receipt for `message_id` (as received) would wait: its submit is accepted
    /// but not recorded yet.
    pub fn is_open(&self, message_id: &str) -> bool {
        let id = normalize_message_id(message_id);
        self.lock().contains_key(&id)
    }

    /// Wait until the submit `message_id` (as received) belongs to is recorded, at most
    /// `limit`; true at once for an id nobody announced. Returns whether it was recorded.
    pub async fn wait_recorded(&self, message_id: &str, limit: Duration) -> bool {
        let id = normalize_message_id(message_id);
        let Some(gate) = self.lock().get(&id).cloned() else {
            return true;
        };
        let recorded = async {
            loop {
                // Created before the check: a release between the two still wakes it.
                let notified = gate.notify.notified();
                let open = self.lock().get(&id).is_some_and(|g| Arc::ptr_eq(g, &gate));
                if !open {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, recorded).await.is_ok()
    }

    /// Wait until every one of `message_ids` (as received) is recorded, at most `limit` in
    /// all; returns whether they all were. Counted in [`ReceiptGates::waited`] (and
    /// [`ReceiptGates::gave_up`]) when there is anything to wait for.
    pub async fn wait_all(&self, message_ids: &[String], limit: Duration) -> bool {
        if message_ids.is_empty() {
            return true;
        }
        let started = tokio::time::Instant::now();
        let deadline = started + limit;
        let mut recorded = true;
        for id in message_ids {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !self.wait_recorded(id, left).await {
                recorded = false;
                break;
            }
        }
        self.waited.observe(started.elapsed());
        if !recorded {
            self.gave_up.fetch_add(1, Ordering::Relaxed);
        }
        recorded
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<BatchGate>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ids waiting for their batch's record (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no id is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One batch's gate: the ids the SMSC accepted for it, released together.
#[derive(Debug)]
pub struct BatchGate {
    gates: Arc<ReceiptGates>,
    released: AtomicBool,
    notify: Notify,
    ids: Mutex<Vec<String>>,
}

impl BatchGate {
    /// The SMSC accepted a submit of this batch with `message_id`: a receipt for it waits
    /// until the batch is recorded. Called by the session as it reads the response.
    pub(crate) fn accepted(self: &Arc<Self>, message_id: &str) {
        let id = normalize_message_id(message_id);
        if id.is_empty() {
            return;
        }
        // Under the batch's lock, so that a release of the whole batch cannot slip between
        // the check and the insert and leave the id open for good.
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if self.released.load(Ordering::Acquire) {
            return; // recorded already (a late answer): nothing to wait for
        }
        ids.push(id.clone());
        self.gates.lock().insert(id, self.clone());
    }

    /// Release every id of the batch: receipts waiting for them go ahead.
    fn release(self: &Arc<Self>) {
        let ids = {
            let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
            self.released.store(true, Ordering::Release);
            std::mem::take(&mut *ids)
        };
        self.open_for(ids);
    }

    /// Release the ids `recorded` (as received) ahead of the rest of the batch.
    fn release_some(self: &Arc<Self>, recorded: &[String]) {
        let recorded: HashSet<String> =
            recorded.iter().map(|id| normalize_message_id(id)).collect();
        if recorded.is_empty() {
            return;
        }
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id| !recorded.contains(id));
        self.open_for(recorded);
    }

    /// Let receipts for `ids` (normalised, announced by this batch) go ahead.
    fn open_for(self: &Arc<Self>, ids: impl IntoIterator<Item = String>) {
        {
            let mut open = self.gates.lock();
            for id in ids {
                // The same id may belong to a newer batch by now (an SMSC reusing ids).
                if open.get(&id).is_some_and(|g| Arc::ptr_eq(g, self)) {
                    open.remove(&id);
                }
            }
        }
        self.notify.notify_waiters();
    }
}

/// The dispatcher's hold on a batch's gate: dropping it (after the record write, or on any
/// early exit) releases every receipt waiting for the batch.
#[derive(Debug)]
pub struct BatchRecording {
    gate: Arc<BatchGate>,
}

impl BatchRecording {
    /// The gate, for [`super::LinkHandle::submit_batch_streamed`].
    pub fn gate(&self) -> Arc<BatchGate> {
        self.gate.clone()
    }

    /// The submits that got `message_ids` (as received) are recorded before the rest of the
    /// batch: receipts for them go ahead now.
    pub fn release(&self, message_ids: &[String]) {
        self.gate.release_some(message_ids);
    }
}

impl Drop for BatchRecording {
    fn drop(&mut self) {
        self.gate.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_receipt_waits_for_its_own_batch_only() {
        let gates = Arc::new(ReceiptGates::default());
        let first = gates.batch();
        let second = gates.batch();
        first.gate().accepted("0A1B");
        second.gate().accepted("0A1C");
        assert!(!gates.is_open("1234"), "never announced");
        assert!(gates.wait_recorded("1234", Duration::ZERO).await);
        // Normalised: the same id in another case or with leading zeros.
        assert!(gates.is_open("000a1b"));
        assert!(!gates.wait_recorded("a1b", Duration::from_millis(20)).await);
        let waiting = gates.clone();
        let waiter =
            tokio::spawn(async move { waiting.wait_recorded("A1B", Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        // Another batch's record does not release it.
        drop(second);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        assert!(waiter.await.unwrap(), "released with its batch");
        assert!(gates.is_empty());
    }

    #[tokio::test]
    async fn dropping_the_recording_releases_the_rest() {
        let gates = Arc::new(ReceiptGates::default());
        let rec = gates.batch();
        rec.gate().accepted("1");
        rec.gate().accepted("2");
        let waiting = gates.clone();
        let waiter =
            tokio::spawn(async move { waiting.wait_recorded("2", Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        drop(rec);
        assert!(waiter.await.unwrap());
        assert!(gates.is_empty());
    }

    #[tokio::test]
    async fn ids_recorded_ahead_of_their_batch_go_ahead_alone() {
        let gates = Arc::new(ReceiptGates::default());
        let rec = gates.batch();
        rec.gate().accepted("0A");
        rec.gate().accepted("0B");
        let waiting = gates.clone();
        let waiter =
            tokio::spawn(async move { waiting.wait_recorded("a", Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        rec.release(&["00A".to_string()]);
        assert!(waiter.await.unwrap(), "released with its rows' record");
        assert!(!gates.is_open("0A"));
        assert!(
            gates.is_open("0B"),
            "the rest waits for the end of the batch"
        );
        drop(rec);
        assert!(gates.is_empty());
    }

    #[tokio::test]
    async fn a_batch_of_receipts_waits_once_and_says_when_its_wait_ran_out() {
        let gates = Arc::new(ReceiptGates::default());
        let rec = gates.batch();
        rec.gate().accepted("1");
        rec.gate().accepted("2");
        assert!(
            gates.wait_all(&[], Duration::ZERO).await,
            "nothing to wait for"
        );
        assert_eq!(gates.waited.snapshot().count(), 0, "not counted");
        let ids = ["1".to_string(), "2".to_string(), "99".to_string()];
        assert!(!gates.wait_all(&ids, Duration::from_millis(20)).await);
        assert_eq!(gates.gave_up.load(Ordering::Relaxed), 1);
        let waiting = gates.clone();
        let waiter =
            tokio::spawn(async move { waiting.wait_all(&ids, Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        drop(rec);
        assert!(waiter.await.unwrap(), "released together");
        assert_eq!(gates.waited.snapshot().count(), 2);
        assert_eq!(gates.gave_up.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_late_answer_after_release_waits_for_nothing() {
        let gates = Arc::new(ReceiptGates::default());
        let rec = gates.batch();
        let gate = rec.gate();
        drop(rec);
        gate.accepted("77");
        assert!(!gates.is_open("77"));
    }

    #[tokio::test]
    async fn an_id_reused_by_a_newer_batch_stays_with_it() {
        let gates = Arc::new(ReceiptGates::default());
        let old = gates.batch();
        old.gate().accepted("5");
        let new = gates.batch();
        new.gate().accepted("5");
        drop(old);
        assert!(gates.is_open("5"), "still the new batch's");
        assert!(!gates.wait_recorded("5", Duration::from_millis(10)).await);
        drop(new);
        assert!(gates.wait_recorded("5", Duration::from_millis(10)).await);
    }
}
