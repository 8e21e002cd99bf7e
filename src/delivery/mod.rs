//! The outbox dispatcher (DESIGN.md flow step 6): takes due outbox rows, encodes them with
//! sms-wire ([`encode`]), submits them through the link's window, records each segment's SMSC
//! message id, and decides what happens on every answer:
//!
//! | answer | row becomes |
//! |---|---|
//! | every segment accepted | `submitted` (receipts then make it `delivered` / `failed`) |
//! | `ESME_RTHROTTLED`, `ESME_RMSGQFUL`, temporary errors, timeout, disconnect | `queued` again, with back-off |
//! | permanent error (`ESME_RINVDSTADR`...) or an unencodable row | `failed`, reason kept |
//! | validity passed while queued | `expired` |
//!
//! At start, rows left `in_flight` by a crash are queued again, so delivery is at-least-once
//! towards the SMSC and no accepted row is ever lost. A retried multi-part row resubmits only the
//! segments the SMSC has not accepted, with the same concatenation reference, so a handset that
//! did get a part sees a duplicate it can drop.

pub mod encode;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sms_wire::segment::ConcatStyle;
use sms_wire::wap_push::{wsp_push, PushContent, ServiceIndication, WspOptions};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::smpp::{LinkError, LinkHandle, SubmitOutcome};
use crate::store::outbox::{self, MessageKind, OutboxRow};
use crate::store::{now_ms, Store};
use encode::{build_submits, Payload, SubmitTemplate};

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Fields common to every submit.
    pub template: SubmitTemplate,
    /// Rows processed concurrently (bounded; the link window bounds PDUs in flight).
    pub concurrency: usize,
    /// How often to look for due rows when nobody signals new ones.
    pub poll: Duration,
    /// First retry delay.
    pub retry_min: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
    /// Attempts before a row fails for good.
    pub max_attempts: u32,
    /// Validity period given to the SMSC.
    pub validity: Option<Duration>,
    /// How long a receipt whose id matches no segment exactly waits for its own response
    /// before it is matched through the other base (hex <-> decimal); at least the link's
    /// response timeout.
    pub receipt_grace: Duration,
    /// Whether receipt ids may be read in the other base at all.
    pub other_base: outbox::OtherBase,
}

/// Receipts held this long without a match are dropped (their message went again under
/// another id after a lost response, or they were never ours).
const HELD_RECEIPT_TTL_MS: i64 = 48 * 3600 * 1000;

impl DispatcherConfig {
    /// Defaults around a template.
    pub fn new(template: SubmitTemplate) -> Self {
        Self {
            template,
            concurrency: 256,
            poll: Duration::from_millis(200),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 20,
            validity: Some(Duration::from_secs(48 * 3600)),
            receipt_grace: Duration::from_secs(10),
            other_base: outbox::OtherBase::Auto,
        }
    }
}

/// The dispatcher: run it with [`Dispatcher::run`]; wake it with [`Dispatcher::notifier`] after
/// enqueueing so new rows go out without waiting for the poll.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    link: LinkHandle,
    cfg: Arc<DispatcherConfig>,
    wake: Arc<Notify>,
    recorder: mpsc::Sender<Accepted>,
}

/// A segment the SMSC accepted, to record (and, for the row's last one, the row submitted).
#[derive(Debug)]
struct Accepted {
    outbox_id: i64,
    seq: u8,
    total: u8,
    message_id: String,
    at: i64,
    last: bool,
    done: oneshot::Sender<Result<(), String>>,
}

/// Most accepted segments recorded in one store write.
const RECORD_BATCH: usize = 256;

/// Records accepted segments in batches: everything waiting goes in one store request (one
/// savepoint) instead of one request per message. Each submitter still waits for its own
/// record to be committed before it counts the message as submitted.
async fn recorder(store: Store, mut rx: mpsc::Receiver<Accepted>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        let items: Vec<(i64, u8, u8, String, i64, bool)> = batch
            .iter()
            .map(|a| {
                (
                    a.outbox_id,
                    a.seq,
                    a.total,
                    a.message_id.clone(),
                    a.at,
                    a.last,
                )
            })
            .collect();
        let n = items.len();
        let results = store
            .write(move |tx| {
                // Each item stands alone: one row's error does not fail the others.
                Ok::<_, crate::store::StoreError>(
                    items
                        .iter()
                        .map(|(id, seq, total, message_id, at, last)| {
                            outbox::record_segment_submitted(
                                tx, *id, *seq, *total, message_id, *at,
                            )?;
                            if *last {
                                outbox::mark_submitted(tx, *id, *at)?;
                            }
                            Ok(())
                        })
                        .map(|r: Result<(), crate::store::StoreError>| r.map_err(|e| e.to_string()))
                        .collect::<Vec<_>>(),
                )
            })
            .await
            .unwrap_or_else(|e| vec![Err(e.to_string()); n]);
        for (a, r) in batch.into_iter().zip(results) {
            let _ = a.done.send(r);
        }
    }
}

/// How one row's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowEnd {
    /// Every segment accepted; the row still to be marked submitted.
    Submitted,
    /// Every segment accepted and the row already marked (with its last segment's record).
    Recorded,
    Retry(String),
    Fail(String),
}

impl Dispatcher {
    /// A dispatcher over `store`'s outbox, submitting through `link`.
    pub fn new(store: Store, link: LinkHandle, cfg: DispatcherConfig) -> Self {
        let (recorder_tx, recorder_rx) = mpsc::channel(RECORD_BATCH * 4);
        tokio::spawn(recorder(store.clone(), recorder_rx));
        Self {
            store,
            link,
            cfg: Arc::new(cfg),
            wake: Arc::new(Notify::new()),
            recorder: recorder_tx,
        }
    }

    /// Signal this after enqueueing rows.
    pub fn notifier(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run until `shutdown`; then finish the rows in hand (their submits are answered or fail
    /// and return to the queue) and return.
    pub async fn run(self, shutdown: CancellationToken) {
        match self
            .store
            .write(|tx| outbox::requeue_in_flight(tx, now_ms()))
            .await
        {
            Ok(n) if n > 0 => info!(rows = n, "requeued rows left in flight by the last run"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not requeue in-flight rows"),
        }
        let slots = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let mut last_expiry = 0i64;
        let mut state = self.link.watch_state();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if !self.link.is_bound() {
                tokio::select! {
                    _ = state.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let now = now_ms();
            if now - last_expiry >= 1000 {
                last_expiry = now;
                if let Ok(ids) = self
                    .store
                    .write(move |tx| outbox::expire_due(tx, now))
                    .await
                {
                    if !ids.is_empty() {
                        info!(rows = ids.len(), "outbox rows expired");
                    }
                }
                let held_before = now - self.cfg.receipt_grace.as_millis() as i64;
                let mode = self.cfg.other_base;
                let stale = now - HELD_RECEIPT_TTL_MS;
                if let Ok(n) = self
                    .store
                    .write(move |tx| {
                        outbox::drop_held_receipts(tx, stale)?;
                        outbox::resolve_held_receipts(tx, held_before, now, mode)
                    })
                    .await
                {
                    if n > 0 {
                        debug!(
                            receipts = n,
                            "held receipts matched through their other-base id"
                        );
                    }
                }
            }
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    p = slots.clone().acquire_owned() => drop(p),
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let limit = free.min(512);
            let rows = match self
                .store
                .write(move |tx| outbox::claim_due(tx, now, limit))
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    warn!(error = %e, "claiming due rows failed");
                    tokio::time::sleep(self.cfg.poll).await;
                    continue;
                }
            };
            if rows.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.cfg.poll) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            for row in rows {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    me.process(row).await;
                    drop(permit);
                });
            }
        }
        // Wait for rows in hand: their submits resolve (answer, timeout or disconnect).
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            slots.acquire_many(self.cfg.concurrency.max(1) as u32),
        )
        .await;
    }

    fn payload(row: &OutboxRow) -> Result<Payload, String> {
        match row.kind {
            MessageKind::Sms => row
                .body
                .clone()
                .map(Payload::Text)
                .ok_or_else(|| "SMS row without a body".to_string()),
            MessageKind::WapPush => {
                if let Some(p) = &row.payload {
                    return Ok(Payload::WapPush(p.clone()));
                }
                let url = row
                    .url
                    .clone()
                    .ok_or_else(|| "WAP Push row without a URL".to_string())?;
                let mut si =
                    ServiceIndication::new(url.clone(), row.body.clone().unwrap_or_default());
                si.si_id = Some(url);
                let opts = WspOptions {
                    tid: (row.id & 0xFF) as u8,
                    ..WspOptions::default()
                };
                Ok(Payload::WapPush(wsp_push(&PushContent::Si(si), &opts)))
            }
        }
    }

    fn retry_delay(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let d = self.cfg.retry_min.saturating_mul(1u32 << exp);
        d.min(self.cfg.retry_max)
            .mul_f64(0.75 + 0.5 * rand::random::<f64>())
    }

    /// Submit one claimed row and record the outcome.
    async fn process(&self, row: OutboxRow) {
        let id = row.id;
        let end = self.submit_row(&row).await;
        let now = now_ms();
        let store = &self.store;
        let result = match end {
            RowEnd::Submitted => {
                store
                    .write(move |tx| outbox::mark_submitted(tx, id, now).map(|_| ()))
                    .await
            }
            RowEnd::Recorded => Ok(()),
            RowEnd::Fail(reason) => {
                let to = crate::command::mask(&row.destination);
                warn!(outbox_id = id, %to, %reason, "message failed");
                store
                    .write(move |tx| outbox::fail(tx, id, &reason, now).map(|_| ()))
                    .await
            }
            RowEnd::Retry(reason) if row.attempts >= self.cfg.max_attempts => {
                let reason = format!("gave up after {} attempts: {reason}", row.attempts);
                let to = crate::command::mask(&row.destination);
                warn!(outbox_id = id, %to, %reason, "message failed");
                store
                    .write(move |tx| outbox::fail(tx, id, &reason, now).map(|_| ()))
                    .await
            }
            RowEnd::Retry(reason) => {
                let at = now + self.retry_delay(row.attempts).as_millis() as i64;
                debug!(outbox_id = id, %reason, "retrying later");
                store
                    .write(move |tx| outbox::retry_later(tx, id, at, &reason, now).map(|_| ()))
                    .await
            }
        };
        if let Err(e) = result {
            // The row stays in_flight; the next start (or requeue) sends it again.
            warn!(outbox_id = id, error = %e, "could not record submit outcome");
        }
    }

    async fn submit_row(&self, row: &OutboxRow) -> RowEnd {
        let payload = match Self::payload(row) {
            Ok(p) => p,
            Err(e) => return RowEnd::Fail(e),
        };
        let mut template = self.cfg.template.clone();
        if let Some(src) = &row.source {
            template.source = src.clone();
        }
        if matches!(payload, Payload::WapPush(_)) && template.concat != ConcatStyle::Udh16 {
            template.concat = ConcatStyle::Udh8;
        }
        let validity = match (row.expires_at, self.cfg.validity) {
            (Some(exp), _) => Some(((exp - now_ms()).max(60_000) / 1000) as u64),
            (None, Some(v)) => Some(v.as_secs()),
            (None, None) => None,
        };
        let reference = (row.id & 0xFFFF) as u16;
        let pdus = match build_submits(&template, &row.destination, &payload, reference, validity) {
            Ok(p) => p,
            Err(e) => return RowEnd::Fail(e.to_string()),
        };
        let total = pdus.len() as u8;
        // Segments accepted by an earlier attempt are not sent again.
        let id = row.id;
        let done: HashSet<u8> = if row.attempts > 1 {
            self.store
                .read(move |c| outbox::segments(c, id))
                .await
                .map(|segs| segs.into_iter().map(|s| s.seq).collect())
                .unwrap_or_default()
        } else {
            HashSet::new()
        };
        let last_to_send = (1..=total).rev().find(|s| !done.contains(s));
        for (i, sm) in pdus.into_iter().enumerate() {
            let seq = i as u8 + 1;
            if done.contains(&seq) {
                continue;
            }
            match self.link.submit(sm).await {
                Ok(SubmitOutcome::Accepted { message_id }) => {
                    let now = now_ms();
                    // The last segment's record and the row's mark go together, batched with
                    // other rows' records.
                    let last = Some(seq) == last_to_send;
                    let (done, recorded) = oneshot::channel();
                    let job = Accepted {
                        outbox_id: id,
                        seq,
                        total,
                        message_id,
                        at: now,
                        last,
                        done,
                    };
                    let r = match self.recorder.send(job).await {
                        Ok(()) => recorded
                            .await
                            .unwrap_or_else(|_| Err("recorder stopped".into())),
                        Err(_) => Err("recorder stopped".into()),
                    };
                    if let Err(e) = r {
                        return RowEnd::Retry(format!("recording segment: {e}"));
                    }
                    if last {
                        return RowEnd::Recorded;
                    }
                }
                Ok(SubmitOutcome::Throttled(s)) | Ok(SubmitOutcome::Temporary(s)) => {
                    return RowEnd::Retry(format!("{s:?}"))
                }
                Ok(SubmitOutcome::Permanent(s)) => return RowEnd::Fail(format!("{s:?}")),
                Err(
                    e @ (LinkError::Timeout
                    | LinkError::Disconnected
                    | LinkError::Stale
                    | LinkError::Malformed(_)
                    | LinkError::Closed),
                ) => return RowEnd::Retry(e.to_string()),
            }
        }
        RowEnd::Submitted
    }
}
