//! The outbox dispatcher (DESIGN.md flow step 6): takes due outbox rows, encodes them with
//! sms-wire ([`encode`]), submits them through the link's window, records each segment's SMSC
//! message id, and decides what happens on every answer:
//!
//! | answer | row becomes |
//! |---|---|
//! | every segment accepted | `submitted` (receipts then make it `delivered` / `failed`) |
//! | `ESME_RTHROTTLED`, `ESME_RMSGQFUL` (the SMSC is busy) | `queued` again, with back-off, the attempt not counted |
//! | temporary errors, timeout, disconnect | `queued` again, with back-off |
//! | permanent error (`ESME_RINVDSTADR`...) or an unencodable row | `failed`, reason kept |
//! | validity passed while queued (`expires_at`, or `validity` after its content was queued) | `expired` |
//! | accepted, but no final receipt an hour after the validity ended (none asked, or lost) | `expired` (`outbox::expire_unconfirmed`) |
//! | accepted, then replaced by a newer row with its key or withdrawn, before its receipt | `superseded` once the SMSC takes the `cancel_sm` ([`cancel`]) |
//! | withdrawn while in flight (STOP, a removal from the groups), parts not written yet | those held back, never sent; `superseded`, the parts the SMSC took cancelled there |
//!
//! Rows travel in batches (at most a quarter of `concurrency`, so several overlap, and at most
//! a quarter second of sending at the rate the link can take, see [`BATCH_SECONDS`]; the
//! rows in hand are about a second of it, [`IN_HAND_SECONDS`]; both counted in submits, a
//! row's parts each one, see `PartsPerRow`): one store
//! write claims a batch, [`LinkHandle::submit_batch_streamed`] pipelines all its segments through the
//! window, and one store write records every accepted segment and every row's end
//! ([`outbox::record_attempts`]). Per message that leaves the SQL statements that must be there
//! (claim, segment, state) and no task, channel or commit of its own.
//!
//! A batch the SMSC is slow to answer looks every [`RECALL_LOOK`] whether a withdrawal marked
//! one of its keyed rows (`store::cancel::marked_in_flight`); the link then holds back that
//! row's submits it has not written yet ([`Recall`]). The session writes a batch's submits as
//! window slots free up and the rate limiter allows, so the parts of a long message go out one
//! by one only when the window or the rate is what holds them (a window of 1, a low
//! `max_rate`, a window full of other rows); with room in the window all of a batch's submits
//! are written at once, and then nothing is left to hold back: the row is cancelled at the
//! SMSC once its acceptance is recorded, as before. A row answered so is withdrawn whatever
//! its other parts met (`outbox::AttemptEnd::Withdrawn`); one that comes back unsent is
//! withdrawn too (`outbox::back_to_queue`); in both the parts the SMSC took are cancelled.
//!
//! At start, rows left `in_flight` by a crash are queued again, so delivery is at-least-once
//! towards the SMSC and no accepted row is ever lost. A retried multi-part row resubmits only the
//! segments the SMSC has not accepted, with the same concatenation reference, so a handset that
//! did get a part sees a duplicate it can drop.

pub mod cancel;
pub mod clock;
pub mod encode;
pub mod pause;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rusmpp::pdus::SubmitSm;
use sms_wire::segment::ConcatStyle;
use sms_wire::wap_push::{
    wsp_push, PushContent, ServiceIndication, WapDate, WspOptions, SINGLE_PAYLOAD,
};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::smpp::{LinkError, LinkHandle, Recall, SubmitOutcome};
use crate::store::outbox::{self, MessageKind, OutboxRow};
use crate::store::{now_ms, Store};
use encode::{build_submits_as, Payload, SubmitTemplate};

/// Dispatcher settings.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Fields common to every submit.
    pub template: SubmitTemplate,
    /// Rows processed concurrently (bounded; the link window bounds PDUs in flight). The
    /// default, 512, makes batches of 128 rows (a quarter each, at most `BATCH_MAX`): per message
    /// the writer's claim, record and commit cost a fifth less than at 64 rows a batch
    /// (`gw-bench outbox --batch`), and with four batches in hand the window does not run dry
    /// while one is recorded (BENCHMARKS.md, 2026-12-06 sixth).
    pub concurrency: usize,
    /// How often to look for due rows when nobody signals new ones.
    pub poll: Duration,
    /// First retry delay (at the start: a config reload may change it, [`Retries`]).
    pub retry_min: Duration,
    /// Largest retry delay (at the start, as `retry_min`).
    pub retry_max: Duration,
    /// Attempts before a row fails for good; it fails only on an attempt in which the SMSC
    /// took none of its parts (see `Verdict::end`). At the start, as `retry_min`.
    pub max_attempts: u32,
    /// Validity of a row without its own `expires_at`, counted from when its content was
    /// queued: a row claimed after it is expired instead of sent, and a submit tells the SMSC
    /// what is left of it (at least a minute), not the whole period again at every retry.
    pub validity: Option<Duration>,
    /// How long a receipt whose id matches no segment exactly waits for its own response
    /// before it is matched through the other base (hex <-> decimal); at least the link's
    /// response timeout.
    pub receipt_grace: Duration,
    /// Whether receipt ids may be read in the other base at all.
    pub other_base: outbox::OtherBase,
    /// How long one round of retries of a refused record write lasts before an error is
    /// logged and the next round starts ([`RECORD_PATIENCE`]).
    pub record_patience: Duration,
    /// How long past its validity a message the SMSC accepted may still get its receipt;
    /// after that a row still `submitted` becomes `expired` (`outbox::expire_unconfirmed`).
    pub unconfirmed_grace: Duration,
    /// How often the sweep of such rows takes its next step ([`SWEEP_SPAN`] ids).
    pub sweep_every: Duration,
    /// Send `cancel_sm` for accepted messages that something newer made wrong to deliver
    /// (`[smsc] cancel_superseded`, see [`cancel`]); off, they are left to the handset.
    pub cancel_superseded: bool,
    /// How long an SMSC without cancel_sm is remembered in the store, across binds and
    /// restarts (`[smsc] no_cancel_memory_hours`, [`cancel::Canceller::with_memory`]); zero:
    /// for the bind only.
    pub no_cancel_memory: Duration,
    /// The wall clock the dispatcher watches for a step back ([`clock`]): the system's.
    pub wall_clock: clock::WallClock,
}

/// The retry settings (`[delivery] retry_min_secs`, `retry_max_secs`, `max_attempts`) as the
/// dispatcher reads them each time an attempt ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// First retry delay.
    pub retry_min: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
    /// Attempts before a row fails for good ([`DispatcherConfig::max_attempts`]).
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The settings `cfg` starts with.
    pub fn of(cfg: &DispatcherConfig) -> Self {
        Self {
            retry_min: cfg.retry_min,
            retry_max: cfg.retry_max,
            max_attempts: cfg.max_attempts,
        }
    }

    /// How long a row waits before its next try after `attempts` attempts: `retry_min`
    /// doubled for each attempt after the first, at most `retry_max`, then spread by
    /// `jitter` (0 to 1: from three quarters to five quarters of it).
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let d = self.retry_min.saturating_mul(1u32 << exp);
        d.min(self.retry_max)
            .mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The dispatcher's [`RetryPolicy`], shared with whoever may change it while the dispatcher
/// runs (a config reload, `systemctl reload`): the attempts that end after a
/// [`Retries::set`] are judged by the new settings, a row given up on once the new
/// `max_attempts` is spent and a retry put off by the new delays; rows already waiting keep
/// the time their last attempt gave them, and rows that failed stay failed.
#[derive(Debug, Clone)]
pub struct Retries(Arc<RwLock<RetryPolicy>>);

impl Retries {
    /// A handle holding `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self(Arc::new(RwLock::new(policy)))
    }

    /// The settings in force.
    pub fn get(&self) -> RetryPolicy {
        *self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Put `policy` in force for the attempts that end from now on.
    pub fn set(&self, policy: RetryPolicy) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }
}

/// Ids one step of the sweep of unconfirmed rows reads (a step a minute: ten million rows
/// kept are gone through in about three hours, each step some milliseconds of the writer).
pub const SWEEP_SPAN: i64 = 50_000;

/// Receipts held this long without a match are dropped (their message went again under
/// another id after a lost response, or they were never ours).
use outbox::HELD_RECEIPT_TTL_MS;

impl DispatcherConfig {
    /// Defaults around a template.
    pub fn new(template: SubmitTemplate) -> Self {
        Self {
            template,
            concurrency: 512,
            poll: Duration::from_millis(200),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 20,
            validity: Some(Duration::from_secs(48 * 3600)),
            receipt_grace: Duration::from_secs(10),
            other_base: outbox::OtherBase::Auto,
            record_patience: RECORD_PATIENCE,
            unconfirmed_grace: Duration::from_secs(3600),
            sweep_every: Duration::from_secs(60),
            cancel_superseded: true,
            no_cancel_memory: Duration::from_secs(24 * 3600),
            wall_clock: clock::WallClock::default(),
        }
    }
}

/// How often rows past their validity are looked for while the link is down (each look reads
/// every queued row, [`outbox::expire_past_validity`]).
const EXPIRE_WHILE_DOWN_MS: i64 = 5_000;

pub use crate::smpp::status_text;

/// The WSP datagram of an avatar push: an SI to `url` showing `text`, `created` (when the
/// owner set the avatar the link serves), WSP transaction id `tid`.
fn push_datagram(url: String, text: String, created: Option<WapDate>, tid: u8) -> Vec<u8> {
    // No `si-id`: without one it is the `href` (WAP-167), which is what we would write, and
    // writing the link a second time took a typical push (a 60-odd character link and the
    // owner's name and number) past one SMS.
    // `created`: when the owner set the avatar the link serves (WAP-167: the date of the
    // content the href names), so a handset holding an older SI for the same link replaces
    // it, and one that arrives late never replaces a newer one.
    let mut si = ServiceIndication::new(url, text);
    si.created = created;
    let opts = WspOptions {
        tid,
        ..WspOptions::default()
    };
    wsp_push(&PushContent::Si(si), &opts)
}

/// How many octets of UTF-8 text an avatar push to `url` can carry and still go as one SMS
/// (a datagram of [`SINGLE_PAYLOAD`] octets after the port-addressing UDH), whenever the
/// avatar was set (its `created` date at its longest, seven octets) and whatever its row id.
/// The service fits the push text to it ([`Text::AvatarPush`](crate::service::replies::Text));
/// the link itself is never cut, so a link too long for any text gives 0.
pub fn push_text_room(url: &str) -> usize {
    // 2099-12-31T23:59:59Z: no zero field, so no octet of the date is dropped.
    let longest = WapDate::new(2099, 12, 31, 23, 59, 59);
    // One character of text costs its inline-string marker and terminator too: the datagram
    // with "x" less that one octet is what any non-empty text adds to.
    let base = push_datagram(url.to_string(), "x".into(), Some(longest), 0xFF).len() - 1;
    SINGLE_PAYLOAD.saturating_sub(base)
}

/// The WAP date (UTC, to the second) of `at` (Unix ms), as an SI's `created` carries it;
/// `None` outside the years 0 to 9999 a WAP date can write.
fn wap_date(at: i64) -> Option<WapDate> {
    let (year, month, day, hour, minute, second) = crate::service::clock::utc_fields(at);
    let date = WapDate::new(
        u16::try_from(year).ok()?,
        month as u8,
        day as u8,
        hour as u8,
        minute as u8,
        second as u8,
    );
    date.is_valid().then_some(date)
}

/// What a row refused for load keeps as its `last_error`: the status, and that the refusal
/// was not counted as an attempt (`outbox list` then shows why `attempts` did not grow).
fn busy_text(status: rusmpp::CommandStatus) -> String {
    format!(
        "{} (SMSC busy: not counted as an attempt)",
        status_text(status)
    )
}

/// What one attempt at a row came to, from the answers to its segments.
#[derive(Debug, Default)]
struct Verdict {
    /// A permanent failure (the row fails).
    fail: Option<String>,
    /// A reason to try again later (the attempt counts).
    retry: Option<String>,
    /// The SMSC refused a segment for load (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`): try again
    /// later. With nothing worse and no segment taken, the attempt does not count, so
    /// congestion never uses up `max_attempts`: the row waits until the SMSC takes it or its
    /// validity ends.
    busy: Option<String>,
    /// A segment never went out (the session closed first, the link stopped): with nothing
    /// worse, the row is queued again without counting the attempt.
    unsent: bool,
    /// Its validity ended before it was sent: it is not sent, and becomes `expired`.
    expired: bool,
    /// A withdrawal marked it in flight, and the dispatcher held back a part not written
    /// yet ([`LinkError::Withdrawn`]): it ends withdrawn.
    withdrawn: bool,
}

impl Verdict {
    /// How an attempt ends: the row's `attempts` (this one included), the configured
    /// `max_attempts` (a limit on attempts in which the SMSC took no segment), whether the
    /// SMSC accepted any segment in this attempt, the time now and
    /// when a retry after a refusal would be due (asked only for such a retry: it draws a
    /// random jitter, and most attempts end `Submitted`).
    fn end(
        self,
        attempts: u32,
        max_attempts: u32,
        accepted_some: bool,
        now: i64,
        retry_at: impl FnOnce() -> i64,
    ) -> outbox::AttemptEnd {
        if self.expired {
            return outbox::AttemptEnd::Expired;
        }
        // Held back for a withdrawal: whatever the parts that went out met, the rest is not
        // to go (those taken are cancelled at the SMSC).
        if self.withdrawn {
            return outbox::AttemptEnd::Withdrawn;
        }
        match (self.fail, self.retry, self.busy) {
            (Some(reason), _, _) => outbox::AttemptEnd::Fail(reason),
            // Given up only on an attempt that got nothing through once `max_attempts` are
            // spent. One in which the SMSC took a part is progress (parts taken are not sent
            // again, so such attempts end when the parts do); giving up after it would leave
            // the handset half a message at once.
            (None, Some(reason), _) if attempts >= max_attempts && !accepted_some => {
                outbox::AttemptEnd::Fail(format!("gave up after {attempts} attempts: {reason}"))
            }
            (None, Some(error), _) => outbox::AttemptEnd::Retry {
                at: retry_at(),
                error,
            },
            // Refused for load beside a part the SMSC took: counted (an uncounted attempt
            // would look like a first one and send the taken parts again), never given up.
            (None, None, Some(error)) if accepted_some => outbox::AttemptEnd::Retry {
                at: retry_at(),
                error,
            },
            // Only refused for load (or that and parts never sent): the SMSC is busy, which
            // says nothing about the message. Not counted, so it is not given up for it and
            // its back-off does not grow: it goes again after the back-off of the attempts it
            // really had (at least `retry_min`), at the rate the link has slowed down to.
            (None, None, Some(error)) => outbox::AttemptEnd::Busy {
                at: retry_at(),
                error,
            },
            // Segments that never went out beside some the SMSC took: a counted attempt (an
            // uncounted one would look like a first attempt and send the taken ones again),
            // due at once, and not held to `max_attempts` either: every such attempt sends at
            // least one part not sent before, so it cannot go on for ever, and giving up
            // would leave the handset half a message.
            (None, None, None) if self.unsent && accepted_some => outbox::AttemptEnd::Retry {
                at: now,
                error: LinkError::NotSent.to_string(),
            },
            (None, None, None) if self.unsent => outbox::AttemptEnd::NotSent,
            (None, None, None) => outbox::AttemptEnd::Submitted,
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
    /// The retry settings in force (from `cfg`, then as a config reload sets them).
    retries: Retries,
    wake: Arc<Notify>,
    /// Cancelled at a stop when the SMSC has answered nothing for a while
    /// ([`drain_stall`]): the batches in hand stop waiting for the answers still due and
    /// return their rows to the queue (see [`Dispatcher::run`]).
    abandon: CancellationToken,
    /// The operator's pause: while paused nothing is claimed ([`pause`]).
    pause: pause::Pause,
}

/// How long a stop waits with no submit answered before it gives up on the answers still
/// due: four smoothed response times, at least [`DRAIN_STALL_MIN`], at most
/// [`DRAIN_STALL_MAX`] (also when no submit was answered yet). An SMSC that answers,
/// however slowly, keeps the stop waiting for every answer (up to the response timeout);
/// one that stopped answering (or a link that is down) holds it for this long, not for the
/// response timeout and the 30 s cap of the wait.
fn drain_stall(response_time: Option<Duration>) -> Duration {
    response_time.map_or(DRAIN_STALL_MAX, |rtt| {
        (rtt * 4).clamp(DRAIN_STALL_MIN, DRAIN_STALL_MAX)
    })
}

/// Shortest wait of a stop on an SMSC that answers nothing ([`drain_stall`]).
pub const DRAIN_STALL_MIN: Duration = Duration::from_secs(2);
/// Longest wait of a stop on an SMSC that answers nothing ([`drain_stall`]).
pub const DRAIN_STALL_MAX: Duration = Duration::from_secs(5);

/// What a row whose submit was still unanswered when a stop gave up on it keeps as its
/// `last_error` (a counted attempt: the SMSC may have it).
const ABANDONED: &str = "no answer before the gateway stopped";

/// Largest link window at which receipts wait for their batch's record (the receipt gate; 64
/// is the default window). Measured against smsc-sim and the node-smpp SMSC (BENCHMARKS.md,
/// 2026-12-05): at windows 1 to 64 the gate cut the gateway's CPU per message against the
/// node-smpp SMSC by 10-48 % and raised its throughput by up to 47 %; at window 100 it cost
/// smsc-sim 20 % more CPU per message and both SMSCs 10 % of their throughput.
pub const GATE_MAX_WINDOW: usize = 64;

/// How long a batch's submit outcomes are tried again when the store refuses them for a
/// reason that passes (see `Dispatcher::record`).
pub const RECORD_PATIENCE: Duration = Duration::from_secs(120);

/// Most rows one batch takes; a smaller share of `concurrency` when that is small, so that
/// several batches overlap (one submitting while another is recorded).
const BATCH_MAX: usize = 128;

/// Longest a batch's submits should take to go out at the rate the link can take (its rate
/// cap, or its window over its response time, `LinkHandle::expected_rate`). A batch's
/// accepted submits are recorded when its last answer is in, and receipts for them wait for
/// that record (the receipt gate): under a low rate cap (`max_rate` 20/s: 64 rows took over
/// 3 s) each receipt held a slot of the SMSC's deliver window for up to the gate's 2 s, MO
/// queued behind them for seconds, and a crash in that time sent accepted submits again. A
/// window of 1 at 50 ms an answer did the same with 128 rows (6 s).
const BATCH_SECONDS: f64 = 0.25;

/// About how long the rows the dispatcher holds (claimed, not yet recorded) take to go out. A
/// row in hand is `in_flight`: a newer message with its coalescing key cannot replace it, and
/// a crash sends it again if the SMSC took it. With a window of 1 at 50 ms an answer, 512 rows
/// were 26 s of sending.
const IN_HAND_SECONDS: f64 = 1.0;

/// How often a batch still waiting for answers looks whether a withdrawal (STOP, a removal
/// from the groups) marked one of its keyed rows, whose parts not written yet are then held
/// back ([`crate::smpp::Recall`], `cancel::marked_in_flight`). The first look comes this long
/// after the batch went to the link: a batch answered sooner costs no read.
const RECALL_LOOK: Duration = Duration::from_millis(200);

/// A batch still out this long after its submits went to the link (the SMSC slowed down after
/// it was claimed) has the rows answered so far recorded, and again every as long until it
/// ends. Longer than a batch takes at the expected rate ([`BATCH_SECONDS`]), so a batch
/// is one record write as long as the rate holds.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Rows the dispatcher holds at once at `rate` messages per second with answers
/// `response_secs` after their submits: [`IN_HAND_SECONDS`] of sending, or the response time
/// of it when that is longer (an SMSC answering in 2 s needs 2 s of rows out to keep its
/// window full); at least 1, at most `concurrency`.
fn hand_cap(rate: f64, response_secs: f64, concurrency: usize) -> usize {
    rows_in(rate, response_secs.max(IN_HAND_SECONDS)).min(concurrency.max(1))
}

/// Most rows a batch takes at `rate` messages per second (see [`BATCH_SECONDS`]); at least 1.
fn rate_batch(rate: f64) -> usize {
    rows_in(rate, BATCH_SECONDS)
}

/// What one claimed row sends ([`Dispatcher::prepare`]).
#[derive(Debug)]
enum Built {
    /// Its validity ended before it was sent: it becomes `expired`.
    Expired,
    /// Its `submit_sm`s, one per segment.
    Pdus(Vec<SubmitSm>),
    /// It cannot be encoded: it fails, with this reason.
    Unsendable(String),
}

/// About how many `submit_sm`s a row sends (its parts), from the rows claimed lately, for
/// sizing claims by sending time rather than by rows: a batch of three-part messages at
/// `max_rate` 20 took 5 rows, 15 submits, three quarters of a second instead of a quarter
/// ([`BATCH_SECONDS`]), and the rows in hand three seconds of sending ([`IN_HAND_SECONDS`]).
/// Rises at once to a batch with more parts a row (so long messages overshoot one batch at
/// most), and falls a quarter of the way to one with fewer (a smaller batch costs little).
/// The rate itself is held per submit by the link's limiter, whatever this says.
#[derive(Debug, Clone, Copy)]
struct PartsPerRow(f64);

impl Default for PartsPerRow {
    fn default() -> Self {
        Self(1.0)
    }
}

impl PartsPerRow {
    /// Count a batch of `rows` rows that send `pdus` submits (rows that send none count too:
    /// they take a row of the batch and no time).
    fn observe(&mut self, rows: usize, pdus: usize) {
        if rows == 0 {
            return;
        }
        let seen = (pdus as f64 / rows as f64).max(1.0);
        self.0 = if seen >= self.0 {
            seen
        } else {
            self.0 + (seen - self.0) / 4.0
        };
    }

    /// Rows a second at `rate` submits a second.
    fn rows_at(self, rate: f64) -> f64 {
        rate / self.0
    }
}

/// Rows sent in `seconds` at `rate` a second, rounded up; at least 1 (also for a rate that
/// is 0 or not a number).
fn rows_in(rate: f64, seconds: f64) -> usize {
    let n = (rate * seconds).ceil();
    if n.is_finite() && n >= 1.0 {
        n.min(usize::MAX as f64) as usize
    } else {
        1
    }
}

/// The wall clock went back `back_ms`: the times the store set on the old clock and still
/// ahead move back with it, the outbox's ([`outbox::follow_clock_back`]) and the status
/// changes the hourly quota counts ([`crate::service::state::follow_clock_back`]). Returns
/// how many of each moved.
fn follow_clock_back(
    tx: &rusqlite::Transaction<'_>,
    back_ms: i64,
    now: i64,
) -> Result<(usize, usize), crate::store::StoreError> {
    Ok((
        outbox::follow_clock_back(tx, back_ms, now)?,
        crate::service::state::follow_clock_back(tx, back_ms, now)?,
    ))
}

impl Dispatcher {
    /// A dispatcher over `store`'s outbox, submitting through `link`.
    pub fn new(store: Store, link: LinkHandle, cfg: DispatcherConfig) -> Self {
        Self {
            store,
            link,
            retries: Retries::new(RetryPolicy::of(&cfg)),
            cfg: Arc::new(cfg),
            wake: Arc::new(Notify::new()),
            abandon: CancellationToken::new(),
            pause: pause::Pause::default(),
        }
    }

    /// The wall clock went back `back` ms ([`clock`]): move the waiting rows' times back with
    /// it, and say so.
    async fn follow_clock_back(&self, back: i64) {
        let now = self.cfg.wall_clock.now();
        match self
            .store
            .write(move |tx| follow_clock_back(tx, back, now))
            .await
        {
            Ok((rows, status_changes)) => warn!(
                back_ms = back,
                rows,
                status_changes,
                "the wall clock went back: the waiting rows' next attempts and validity ends, and the status changes the quota counts, moved back with it"
            ),
            Err(e) => warn!(
                back_ms = back,
                error = %e,
                "the wall clock went back, and the waiting rows' times could not be moved with it: their retries wait longer by that much"
            ),
        }
    }

    /// This dispatcher, claiming nothing while `pause` says so.
    pub fn with_pause(mut self, pause: pause::Pause) -> Self {
        self.pause = pause;
        self
    }

    /// The retry settings in force, to change while the dispatcher runs ([`Retries::set`]).
    pub fn retries(&self) -> Retries {
        self.retries.clone()
    }

    /// Submits the SMSC answered (accepted or refused), for [`Dispatcher::run`]'s drain.
    fn answered(&self) -> u64 {
        let s = self.link.stats();
        s.submits_ok.load(std::sync::atomic::Ordering::Relaxed)
            + s.submits_throttled
                .load(std::sync::atomic::Ordering::Relaxed)
            + s.submits_failed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One step of the sweep of rows the SMSC accepted and never confirmed (see
    /// `outbox::expire_unconfirmed`).
    async fn sweep_unconfirmed(&self, now: i64) {
        let grace = i64::try_from(self.cfg.unconfirmed_grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(grace);
        let validity = self
            .cfg
            .validity
            .map(|v| i64::try_from(v.as_millis()).unwrap_or(i64::MAX));
        let reason = if self.cfg.template.registered_delivery {
            outbox::NO_RECEIPT
        } else {
            outbox::NO_RECEIPT_ASKED
        };
        let step = move |tx: &rusqlite::Transaction<'_>| {
            outbox::expire_unconfirmed(tx, SWEEP_SPAN, cutoff, validity, reason, now)
        };
        match self.store.write(step).await {
            Ok(0) => {}
            Ok(n) => info!(
                rows = n,
                reason, "messages the SMSC accepted and never confirmed expired"
            ),
            Err(e) => {
                warn!(error = %e, "the sweep of unconfirmed messages failed; it goes on later")
            }
        }
    }

    /// Signal this after enqueueing rows.
    pub fn notifier(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Make the outbox ready for a run, before the link binds: the waiting rows follow a wall
    /// clock `wall` stepped back while the gateway was stopped (`outbox::newest_time_written`);
    /// one scan of the table gives the counts `/metrics` shows from now on and tells whether
    /// the last run left rows in flight (a crash); a second scan then queues them again. Done before the bind because
    /// the scan holds the store's writer (about 0.4 s for a million rows): after the bind,
    /// the receipts and MO an SMSC hands over first would wait behind it.
    pub async fn recover(store: &Store, wall: &clock::WallClock) {
        let now = wall.now();
        let start = move |tx: &rusqlite::Transaction<'_>| {
            // A wall clock stepped back while the gateway was stopped: the store wrote times
            // later than now. The waiting rows move back by at least that much (the watch in
            // `run` follows a step while running).
            let back = outbox::newest_time_written(tx)?
                .map_or(0, |seen| seen - now)
                .max(0);
            let moved = if back >= clock::STEP_MIN_MS {
                Some((back, follow_clock_back(tx, back, now)?))
            } else {
                None
            };
            let requeued = if outbox::counts_recounted(tx)?.in_flight == 0 {
                0
            } else {
                outbox::requeue_in_flight(tx, now)?
            };
            Ok::<_, crate::store::StoreError>((moved, requeued))
        };
        match store.write(start).await {
            Ok((moved, requeued)) => {
                if let Some((back_ms, (rows, status_changes))) = moved {
                    warn!(
                        back_ms,
                        rows,
                        status_changes,
                        "the wall clock is behind the times the store last wrote (stepped back while stopped): the waiting rows' next attempts and validity ends, and the status changes the quota counts, moved back by that much"
                    );
                }
                if requeued > 0 {
                    info!(
                        rows = requeued,
                        "requeued rows left in flight by the last run"
                    );
                }
            }
            Err(e) => warn!(error = %e, "could not requeue in-flight rows"),
        }
    }

    /// Run until `shutdown`; then finish the rows in hand (their submits are answered or fail
    /// and return to the queue) and return. [`Dispatcher::recover`] comes first.
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let batch_max = (self.cfg.concurrency / 4).clamp(1, BATCH_MAX);
        let mut last_expiry = 0i64;
        let mut last_sweep = 0i64;
        let mut last_down_expiry = 0i64;
        let mut state = self.link.watch_state();
        let mut paused = self.pause.watch();
        let mut parts = PartsPerRow::default();
        let mut watch = clock::ClockWatch::new(self.cfg.wall_clock.now(), Instant::now());
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Some(back) = watch.went_back(self.cfg.wall_clock.now(), Instant::now()) {
                self.follow_clock_back(back).await;
            }
            let now = now_ms();
            let bound = self.link.is_bound();
            let sending = bound && !self.pause.is_paused();
            if bound {
                // Also while paused: receipts keep coming and being answered, so the receipts
                // held for their other-base match and the sweep of rows whose receipt never
                // came go on (a pause sends nothing, it does not stop the books).
                if now - last_sweep >= self.cfg.sweep_every.as_millis() as i64 {
                    last_sweep = now;
                    self.sweep_unconfirmed(now).await;
                }
                if now - last_expiry >= 1000 {
                    last_expiry = now;
                    // While nothing is sent, `expire_while_down` below ends them.
                    if sending {
                        if let Ok(ids) = self
                            .store
                            .write(move |tx| outbox::expire_due(tx, now))
                            .await
                        {
                            if !ids.is_empty() {
                                info!(rows = ids.len(), "outbox rows expired");
                            }
                        }
                    }
                    self.resolve_held_receipts(now).await;
                }
            } else {
                // The sweep's first step comes an interval after the rebind: receipts the
                // SMSC kept while the link was down come first.
                last_sweep = now;
            }
            // Unbound or paused by the operator: nothing is claimed, and validity still ends.
            if !sending {
                // Messages whose validity ends while nothing is sent end then, not at the
                // rebind or resume (the queue counted them meanwhile as still to be sent).
                if now - last_down_expiry >= EXPIRE_WHILE_DOWN_MS {
                    last_down_expiry = now;
                    self.expire_while_down(now).await;
                }
                tokio::select! {
                    _ = state.changed() => {}
                    _ = paused.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            // Rows in hand: up to `concurrency`, and about a second of sending at the rate the
            // link can take (a distant SMSC with a small window is slow whatever the cap),
            // counted in submits: a long message's parts each take their turn.
            let expected = parts.rows_at(self.link.expected_rate());
            let concurrency = self.cfg.concurrency.max(1);
            let free = slots.available_permits();
            let in_hand = concurrency.saturating_sub(free);
            let response_secs = self.link.response_time().map_or(0.0, |d| d.as_secs_f64());
            let room = hand_cap(expected, response_secs, concurrency)
                .saturating_sub(in_hand)
                .min(free);
            if room == 0 {
                // Until a batch in hand settles and gives its rows' permits back.
                tokio::select! {
                    p = slots.clone().acquire_many_owned((free + 1) as u32) => drop(p),
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let limit = room.min(batch_max).min(rate_batch(expected));
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
            // Only this loop takes permits, and `rows.len() <= free`.
            let Ok(permits) = slots.clone().try_acquire_many_owned(rows.len() as u32) else {
                continue;
            };
            let built = self.prepare(&rows, now_ms());
            let sent = built
                .iter()
                .map(|b| match b {
                    Built::Pdus(list) => list.len(),
                    _ => 0,
                })
                .sum();
            parts.observe(rows.len(), sent);
            let me = self.clone();
            tokio::spawn(async move {
                me.process_batch(rows, built).await;
                drop(permits);
            });
        }
        // Wait for rows in hand: the submits written are answered (or time out, or the link
        // drops); those not yet written come back unsent, in their place in the queue. While
        // the SMSC answers nothing for [`drain_stall`] (it stopped answering, the link is
        // down), the rows still waiting go back to the queue (a counted attempt: the SMSC may
        // have them) instead of holding the stop for the response timeout.
        self.link.stop_submitting();
        let all = self.cfg.concurrency.max(1) as u32;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        let stall = drain_stall(self.link.response_time());
        let mut last = (self.answered(), tokio::time::Instant::now());
        let settled = slots.acquire_many(all);
        tokio::pin!(settled);
        loop {
            tokio::select! {
                _ = &mut settled => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            let now = tokio::time::Instant::now();
            let answered = self.answered();
            if answered != last.0 {
                last = (answered, now);
            } else if now.duration_since(last.1) >= stall {
                let in_hand = all as usize - slots.available_permits();
                warn!(
                    rows = in_hand,
                    waited_ms = stall.as_millis() as u64,
                    "stopping: the SMSC answered no submit meanwhile; the rows still waiting for an answer go back to the queue (counted as an attempt: the SMSC may have them)"
                );
                self.abandon.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(10), &mut settled).await;
                return;
            }
            if now >= give_up {
                return;
            }
        }
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
                let text = row.body.clone().unwrap_or_default();
                Ok(Payload::WapPush(push_datagram(
                    url,
                    text,
                    row.avatar_set_at.and_then(wap_date),
                    (row.id & 0xFF) as u8,
                )))
            }
        }
    }

    /// The `submit_sm`s of `row`, one per segment, or why it cannot be sent.
    fn build_pdus(&self, row: &OutboxRow) -> Result<Vec<SubmitSm>, String> {
        let payload = Self::payload(row)?;
        let template = &self.cfg.template;
        let source = row.source.as_deref().unwrap_or(&template.source);
        let concat = match payload {
            Payload::WapPush(_) if template.concat != ConcatStyle::Udh16 => ConcatStyle::Udh8,
            _ => template.concat,
        };
        let validity = self
            .valid_until(row)
            .map(|end| ((end - now_ms()).max(60_000) / 1000) as u64);
        let reference = row.concat_reference();
        build_submits_as(
            template,
            source,
            concat,
            &row.destination,
            &payload,
            reference,
            validity,
        )
        .map_err(|e| e.to_string())
    }

    /// Drop the receipts held longer than their TTL and match those held past the grace
    /// through their other-base id forms (`outbox::resolve_held_receipts`); a WAP Push a
    /// receipt fails gets its SMS fallback.
    async fn resolve_held_receipts(&self, now: i64) {
        let held_before = now - self.cfg.receipt_grace.as_millis() as i64;
        let mode = self.cfg.other_base;
        let stale = now - HELD_RECEIPT_TTL_MS;
        if let Ok((applied, elsewhere, failed)) = self
            .store
            .write(move |tx| {
                outbox::drop_held_receipts(tx, stale)?;
                let r = outbox::resolve_held_receipts(tx, held_before, now, mode)?;
                for &id in &r.failed {
                    crate::service::avatar::push_failed(tx, id, now)?;
                }
                Ok::<_, crate::store::StoreError>((r.applied, r.elsewhere, r.failed))
            })
            .await
        {
            for id in failed {
                crate::inbound::warn_failed_by_receipt(id, None);
            }
            if applied > 0 {
                debug!(receipts = applied, "held receipts matched after the grace");
            }
            if elsewhere > 0 {
                warn!(
                    receipts = elsewhere,
                    "receipts named another number than the message with their SMSC id, and were applied to it when no other came: if this repeats, the SMSC writes other numbers into its receipts"
                );
            }
        }
    }

    /// While the link is down or sending is paused: queued rows past their validity (their own
    /// `expires_at`, or the configured validity after their content was queued) become
    /// `expired`.
    async fn expire_while_down(&self, now: i64) {
        let validity = self.cfg.validity.map(|v| v.as_millis() as i64);
        let expired = self
            .store
            .write(move |tx| {
                let mut ids = outbox::expire_due(tx, now)?;
                if let Some(v) = validity {
                    ids.extend(outbox::expire_past_validity(tx, now, v)?);
                }
                Ok::<_, crate::store::StoreError>(ids.len())
            })
            .await;
        match expired {
            Ok(0) => {}
            // Named for why nothing is sent: a paused gateway may well be bound.
            Ok(rows) if self.link.is_bound() && self.pause.is_paused() => info!(
                rows,
                "outbox rows expired while outbound sending is paused (PUT /api/v1/outbound)"
            ),
            Ok(rows) => info!(rows, "outbox rows expired while the SMSC is out of reach"),
            Err(e) => warn!(error = %e, "could not expire rows while nothing is sent"),
        }
    }

    /// When `row` stops being worth sending (Unix ms): its own `expires_at`, else the
    /// configured validity after its content was queued.
    fn valid_until(&self, row: &OutboxRow) -> Option<i64> {
        row.expires_at.or_else(|| {
            self.cfg
                .validity
                .map(|v| row.content_at.saturating_add(v.as_millis() as i64))
        })
    }

    /// Segment numbers of each row already accepted by an earlier attempt and not failed since
    /// (only rows claimed before, `attempts > 1`, can have any); those are not sent again.
    async fn accepted_before(&self, rows: &[OutboxRow]) -> HashMap<i64, HashSet<u8>> {
        let retried: Vec<i64> = rows
            .iter()
            .filter(|r| r.attempts > 1)
            .map(|r| r.id)
            .collect();
        if retried.is_empty() {
            return HashMap::new();
        }
        self.store
            .read(move |c| {
                let mut done = HashMap::new();
                for id in retried {
                    // A segment whose receipt said it failed (a row the operator retried)
                    // is sent again; accepted and delivered ones are not.
                    let segs = outbox::segments(c, id)?;
                    let accepted = segs
                        .into_iter()
                        .filter(|s| s.state != outbox::SegmentState::Failed)
                        .map(|s| s.seq);
                    done.insert(id, accepted.collect());
                }
                Ok::<_, crate::store::StoreError>(done)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "could not read earlier segments; sending every segment");
                HashMap::new()
            })
    }

    /// What each of `rows`, claimed at `claimed_at`, sends: its `submit_sm`s (every segment;
    /// those an earlier attempt got through are left out when sent), or why it sends none.
    fn prepare(&self, rows: &[OutboxRow], claimed_at: i64) -> Vec<Built> {
        rows.iter()
            .map(|row| {
                if self.valid_until(row).is_some_and(|end| end <= claimed_at) {
                    return Built::Expired;
                }
                match self.build_pdus(row) {
                    Ok(list) => Built::Pdus(list),
                    Err(e) => Built::Unsendable(e),
                }
            })
            .collect()
    }

    /// Submit a batch of claimed rows through the link's window in one pipeline, then record
    /// every accepted segment and every row's end in one store write. A batch still out after
    /// [`RECORD_EVERY`] (claimed while the SMSC was fast, and it slowed down) has the rows
    /// answered so far recorded every [`RECORD_EVERY`], so that a crash then sends again only
    /// what was answered since.
    async fn process_batch(&self, rows: Vec<OutboxRow>, built: Vec<Built>) {
        let done = self.accepted_before(&rows).await;
        // Per row: the segments the SMSC accepted in this attempt.
        let mut accepted: Vec<Vec<outbox::AcceptedSegment>> = Vec::with_capacity(rows.len());
        // Per row: a permanent failure, if any, else a reason to retry, if any, else
        // whether a segment never went out (see `LinkError::never_sent`).
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(rows.len());
        // Per row: its submits not answered yet.
        let mut waiting: Vec<usize> = Vec::with_capacity(rows.len());
        // Per PDU: (row index, segment number, segment count).
        let mut owners: Vec<(usize, u8, u8)> = Vec::with_capacity(rows.len());
        let mut pdus: Vec<SubmitSm> = Vec::with_capacity(rows.len());
        for (row, built) in rows.iter().zip(built) {
            let index = accepted.len();
            accepted.push(Vec::new());
            waiting.push(0);
            match built {
                Built::Expired => verdicts.push(Verdict {
                    expired: true,
                    ..Verdict::default()
                }),
                Built::Pdus(list) => {
                    verdicts.push(Verdict::default());
                    let total = list.len() as u8;
                    let skip = done.get(&row.id);
                    for (i, sm) in list.into_iter().enumerate() {
                        let seq = i as u8 + 1;
                        if skip.is_some_and(|d| d.contains(&seq)) {
                            continue;
                        }
                        owners.push((index, seq, total));
                        waiting[index] += 1;
                        pdus.push(sm);
                    }
                }
                Built::Unsendable(e) => verdicts.push(Verdict {
                    fail: Some(e),
                    ..Verdict::default()
                }),
            }
        }
        // With a small window, receipts for the ids this batch gets wait until their rows'
        // record below has committed (or failed): `recording` releases them then, and is
        // dropped at the end whatever happens. Then the receipts of the whole batch find their
        // segments and go in one write of their own, instead of each being held and matched
        // again ([`crate::smpp::gate`]). With a large window the store's group commit already
        // takes many receipts per write, and the wait only slows the SMSC's receipt flow.
        let recording = self.link.receipt_gates().batch();
        let gated =
            self.cfg.template.registered_delivery && self.link.window_size() <= GATE_MAX_WINDOW;
        let gate = gated.then(|| recording.gate());
        // Keyed rows (the updates a withdrawal can mark) whose parts a withdrawal may still
        // hold back, and the link's flags for doing so: none for a batch without such rows
        // (replies, bulk MT), whose submits then carry no flag to look at.
        let mut recallable: Vec<bool> = rows
            .iter()
            .zip(&waiting)
            .map(|(row, &n)| row.coalesce_key.is_some() && n > 0)
            .collect();
        let mut recall_left = recallable.iter().filter(|&&r| r).count();
        let recall = (recall_left > 0).then(|| Arc::new(Recall::new(pdus.len())));
        let mut answers = self
            .link
            .submit_batch_streamed(pdus, gate, recall.clone())
            .await;
        let mut recorded = vec![false; rows.len()];
        let record_at = tokio::time::sleep(RECORD_EVERY);
        tokio::pin!(record_at);
        let look_at = tokio::time::sleep(RECALL_LOOK);
        tokio::pin!(look_at);
        loop {
            let next = tokio::select! {
                biased;
                next = answers.next() => next,
                // A stop gave up on the answers still due: the rows waiting for one go back to
                // the queue, as after a response timeout.
                _ = self.abandon.cancelled() => {
                    for (i, verdict) in verdicts.iter_mut().enumerate() {
                        if waiting[i] > 0 {
                            waiting[i] = 0;
                            verdict.retry.get_or_insert_with(|| ABANDONED.to_string());
                        }
                    }
                    break;
                }
                _ = &mut record_at => {
                    let ready: Vec<usize> = (0..rows.len())
                        .filter(|&i| !recorded[i] && waiting[i] == 0)
                        .collect();
                    if !ready.is_empty() {
                        let ids: Vec<String> = ready
                            .iter()
                            .flat_map(|&i| accepted[i].iter())
                            .map(|a| a.message_id.clone())
                            .collect();
                        self.settle(&rows, &mut accepted, &mut verdicts, &ready).await;
                        for &i in &ready {
                            recorded[i] = true;
                        }
                        recording.release(&ids);
                    }
                    record_at
                        .as_mut()
                        .reset(tokio::time::Instant::now() + RECORD_EVERY);
                    continue;
                }
                _ = &mut look_at, if recall_left > 0 => {
                    let Some(recall) = &recall else {
                        recall_left = 0;
                        continue;
                    };
                    recall_left = self
                        .recall_withdrawn(&rows, &owners, &waiting, &mut recallable, recall)
                        .await;
                    look_at
                        .as_mut()
                        .reset(tokio::time::Instant::now() + RECALL_LOOK);
                    continue;
                }
            };
            let Some((pdu, answer)) = next else { break };
            let (index, seq, total) = owners[pdu];
            waiting[index] -= 1;
            if waiting[index] == 0 && recallable[index] {
                recallable[index] = false;
                recall_left -= 1;
            }
            let verdict = &mut verdicts[index];
            match answer {
                Ok(SubmitOutcome::Accepted { message_id }) => {
                    accepted[index].push(outbox::AcceptedSegment {
                        seq,
                        total,
                        message_id,
                    });
                }
                Ok(SubmitOutcome::Throttled(s)) => {
                    verdict.busy.get_or_insert_with(|| busy_text(s));
                }
                Ok(SubmitOutcome::Temporary(s)) => {
                    verdict.retry.get_or_insert_with(|| status_text(s));
                }
                Ok(SubmitOutcome::Permanent(s)) => {
                    verdict.fail.get_or_insert_with(|| status_text(s));
                }
                Err(LinkError::Withdrawn) => verdict.withdrawn = true,
                Err(e) if e.never_sent() => verdict.unsent = true,
                Err(e) => {
                    verdict.retry.get_or_insert(e.to_string());
                }
            }
        }
        let rest: Vec<usize> = (0..rows.len()).filter(|&i| !recorded[i]).collect();
        self.settle(&rows, &mut accepted, &mut verdicts, &rest)
            .await;
        drop(recording);
    }

    /// Look whether a withdrawal marked one of the batch's rows still `recallable` (keyed,
    /// with submits unanswered) since it was claimed (`cancel::marked_in_flight`), and hold
    /// back the submits of each such row the session has not written yet: they are answered
    /// [`LinkError::Withdrawn`], and the row ends withdrawn, the parts the SMSC took cancelled
    /// there. A part already written goes its way. A row answered in full is no longer looked
    /// at; one found marked is not looked at again. Returns how many rows are left to look at.
    async fn recall_withdrawn(
        &self,
        rows: &[OutboxRow],
        owners: &[(usize, u8, u8)],
        waiting: &[usize],
        recallable: &mut [bool],
        recall: &Recall,
    ) -> usize {
        for (r, &w) in recallable.iter_mut().zip(waiting) {
            *r &= w > 0;
        }
        let ids: Vec<i64> = rows
            .iter()
            .zip(recallable.iter())
            .filter(|(_, &r)| r)
            .map(|(row, _)| row.id)
            .collect();
        if ids.is_empty() {
            return 0;
        }
        let left = ids.len();
        let marked = match self
            .store
            .read(move |c| crate::store::cancel::marked_in_flight(c, &ids))
            .await
        {
            Ok(marked) => marked,
            Err(e) => {
                warn!(error = %e, "could not look for withdrawals of the rows in flight");
                return left;
            }
        };
        let left = left.saturating_sub(marked.len());
        for id in marked {
            let Some(index) = rows.iter().position(|row| row.id == id) else {
                continue;
            };
            recallable[index] = false;
            debug!(
                outbox_id = id,
                "withdrawn in flight: its parts not sent yet are held back"
            );
            for (pdu, &(owner, _, _)) in owners.iter().enumerate() {
                if owner == index {
                    recall.withdraw(pdu);
                }
            }
        }
        left
    }

    /// End and record the attempts of the rows at `which` (each row settles once: its
    /// accepted segments and verdict are taken).
    async fn settle(
        &self,
        rows: &[OutboxRow],
        accepted: &mut [Vec<outbox::AcceptedSegment>],
        verdicts: &mut [Verdict],
        which: &[usize],
    ) {
        if which.is_empty() {
            return;
        }
        let now = now_ms();
        // The settings in force when these attempts end (a reload may have changed them).
        let policy = self.retries.get();
        let mut ended = Vec::with_capacity(which.len());
        // WAP Pushes whose receipt may be applied by the record itself (a receipt that came
        // before its response): a failure there gets its SMS fallback too.
        let mut pushes = Vec::new();
        for &i in which {
            let row = &rows[i];
            let accepted = std::mem::take(&mut accepted[i]);
            let end = std::mem::take(&mut verdicts[i]).end(
                row.attempts,
                policy.max_attempts,
                !accepted.is_empty(),
                now,
                || now + policy.delay(row.attempts, rand::random()).as_millis() as i64,
            );
            if let outbox::AttemptEnd::Retry { error, .. }
            | outbox::AttemptEnd::Busy { error, .. } = &end
            {
                debug!(outbox_id = row.id, reason = %error, "retrying later");
            }
            if let outbox::AttemptEnd::Fail(reason) = &end {
                let to = crate::command::mask(&row.destination);
                warn!(outbox_id = row.id, %to, %reason, "message failed");
            }
            if row.kind == MessageKind::WapPush {
                pushes.push(row.id);
            }
            ended.push(outbox::Attempt {
                outbox_id: row.id,
                attempt: row.attempts,
                accepted,
                end,
            });
        }
        for (id, error) in self.record(ended, pushes, now).await {
            // The row stays in_flight; the next start sends it again.
            error!(outbox_id = id, %error, "could not record submit outcome");
        }
    }

    /// Record the batch's attempts ([`outbox::record_attempts`]); returns the rows that could
    /// not be recorded, with why. The SMSC has accepted these segments and their message ids
    /// exist only here, so a write refused for a reason that passes (another process held the
    /// database past the busy timeout, a full disk, an I/O error) is tried again for up to
    /// `record_patience` ([`Store::write_patiently`]) and then again, with an error logged
    /// each time, for as long as the refusal stays one that passes: giving up would leave the
    /// rows `in_flight` until the next start, which sends them to the handsets a second time.
    /// A row refused that way sends the whole write again (every step of a record can run
    /// twice). Only a refusal that will not pass (the store closed at a stop, a row the store
    /// rejects) leaves rows unrecorded; they stay `in_flight` and are sent again at the next
    /// start.
    async fn record(
        &self,
        attempts: Vec<outbox::Attempt>,
        pushes: Vec<i64>,
        now: i64,
    ) -> Vec<(i64, String)> {
        let attempts = Arc::new(attempts);
        let written = attempts.clone();
        // The validity the submits were built with (`valid_until`), kept on the rows that
        // become `submitted` for the sweep of unconfirmed ones.
        let validity = self
            .cfg
            .validity
            .map(|v| i64::try_from(v.as_millis()).unwrap_or(i64::MAX));
        let write = move |tx: &rusqlite::Transaction<'_>| {
            // Stamped when the write runs, not when the batch was settled: the writer may
            // have run other requests since (a busy store, a patient retry), among them a
            // newer message with one of these rows' keys. The cancel of a row superseded in
            // flight is asked for by comparing its acceptance (its segments' submitted_at)
            // with the newer content's time (`store::cancel::supersede_on_submit`): a stamp
            // older than the writes before it read as "accepted before the newer message
            // came", and the cancel was never asked for.
            let now = crate::store::now_ms().max(now);
            let per_row = outbox::record_attempts(tx, &written, validity, now)?;
            // (push_failed acts only on a row a receipt failed, and once.)
            for &id in &pushes {
                crate::service::avatar::push_failed(tx, id, now)?;
            }
            let passing = per_row
                .iter()
                .find_map(|r| r.as_ref().err().filter(|e| e.is_transient()));
            match passing {
                Some(e) => Err(crate::store::StoreError::NotCommitted {
                    reason: e.to_string(),
                }),
                None => Ok(per_row),
            }
        };
        let results = loop {
            match self
                .store
                .write_patiently(self.cfg.record_patience, write.clone())
                .await
            {
                Err(e) if e.is_transient() => {
                    error!(
                        rows = attempts.len(),
                        error = %e,
                        "submit outcomes the SMSC accepted are still not recorded; trying on"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                done => break done,
            }
        };
        match results {
            Ok(per_row) => attempts
                .iter()
                .zip(per_row)
                .filter_map(|(a, r)| match r {
                    Ok(recorded) => {
                        if let Some(seq) = recorded.failed_segment {
                            crate::inbound::warn_failed_by_receipt(a.outbox_id, Some(seq));
                        }
                        None
                    }
                    Err(e) => Some((a.outbox_id, e.to_string())),
                })
                .collect(),
            Err(e) => attempts
                .iter()
                .map(|a| (a.outbox_id, e.to_string()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outbox::AttemptEnd;

    /// The back-off doubles from `retry_min` up to `retry_max`, spread a quarter either way;
    /// a policy set on a shared handle is what every holder reads from then on.
    #[test]
    fn retry_delays_double_to_the_cap_and_a_new_policy_holds_for_every_holder() {
        let p = RetryPolicy {
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(5),
            max_attempts: 20,
        };
        let mid = |attempts| p.delay(attempts, 0.5);
        assert_eq!(mid(0), Duration::from_secs(1));
        assert_eq!(mid(1), Duration::from_secs(1));
        assert_eq!(mid(2), Duration::from_secs(2));
        assert_eq!(mid(3), Duration::from_secs(4));
        assert_eq!(mid(4), Duration::from_secs(5));
        assert_eq!(mid(u32::MAX), Duration::from_secs(5));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(3));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(5));
        assert_eq!(p.delay(3, 7.0), Duration::from_secs(5), "jitter clamped");

        let mut cfg = DispatcherConfig::new(SubmitTemplate {
            source: "10658".into(),
            source_ton: 0,
            source_npi: 0,
            registered_delivery: true,
            concat: ConcatStyle::Udh8,
        });
        cfg.max_attempts = 7;
        let retries = Retries::new(RetryPolicy::of(&cfg));
        let held = retries.clone();
        assert_eq!(held.get().max_attempts, 7);
        retries.set(RetryPolicy {
            max_attempts: 2,
            ..p
        });
        assert_eq!(
            held.get(),
            RetryPolicy {
                max_attempts: 2,
                ..p
            }
        );
    }

    /// An avatar push row as the service writes it: a per-viewer link (`/a/` and a 22-letter
    /// token) on a carrier's host, the owner's name and number in the text, the avatar set at
    /// `set_at` (Unix ms).
    fn push_row(url: &str, text: &str, set_at: Option<i64>) -> OutboxRow {
        OutboxRow {
            id: 4242,
            created_at: 0,
            updated_at: 0,
            kind: MessageKind::WapPush,
            source: None,
            destination: "+8613900139000".into(),
            body: Some(text.into()),
            payload: None,
            url: Some(url.into()),
            coalesce_key: None,
            state: outbox::OutboxState::Queued,
            attempts: 0,
            next_attempt_at: 0,
            expires_at: None,
            last_error: None,
            priority: 0,
            content_at: 0,
            avatar_set_at: set_at,
        }
    }

    /// 2026-12-07T06:26:35Z: no field zero, so its WAP date takes all seven octets.
    const SET_AT: i64 = 1_796_624_795_000;

    /// An avatar push is one SMS (133 octets after the port-addressing UDH), in English and in
    /// Chinese, with its `created` date at its longest (seven octets), whatever the owner's
    /// name: the link is written once (`href`; `si-id` left to default to it), and a name too
    /// long for the room left ([`push_text_room`]) is cut with an ellipsis, the link never.
    /// With the link written twice the typical English one took 161 octets, two SMS per
    /// contact; with `created` added to the English text "… has a new caller picture", 137;
    /// with a 20-character name (NAME's limit) and the longest number, 145 in English and 185
    /// in Chinese (an ideograph is three octets of UTF-8).
    #[test]
    fn an_avatar_push_fits_one_sms_and_names_its_link_once() {
        use crate::command::Lang;
        use crate::service::replies::Text;
        use sms_wire::wap_push::{decode_wsp_push, PushContent};
        let url = "http://avatars.operator-example.com.cn/a/kX3v9QmT2pLw8RzA0bYc1d";
        let room = push_text_room(url);
        let push = |name: &str, number: &str, lang: Lang| {
            Text::AvatarPush {
                name: Some(name.into()),
                number: number.into(),
                room,
            }
            .render(lang)
        };
        let long_number = "+861380013800012";
        let cases = [
            // A typical name is shown whole.
            (
                push("Zhang San", "+8613800138000", Lang::En),
                "Zhang San (+8613800138000): new caller picture",
            ),
            (
                push("张三", "+8613800138000", Lang::Zh),
                "张三(+8613800138000)新来电头像",
            ),
            // Twenty characters (NAME's limit), the longest number: the name cut to what
            // fits, the number kept.
            (
                push("Zhang Sanfeng Junior", long_number, Lang::En),
                "Zhang... (+861380013800012): new caller picture",
            ),
            (
                push(
                    "欧阳上官司马诸葛东方慕容皇甫尉迟公孙长孙",
                    long_number,
                    Lang::Zh,
                ),
                "欧阳上…(+861380013800012)新来电头像",
            ),
            // A Chinese name cut beside a usual number.
            (
                push(
                    "欧阳上官司马诸葛东方慕容皇甫尉迟公孙长孙",
                    "+8613800138000",
                    Lang::Zh,
                ),
                "欧阳上官…(+8613800138000)新来电头像",
            ),
        ];
        for (text, expected) in &cases {
            assert_eq!(text, expected);
            let row = push_row(url, text, Some(SET_AT));
            let Ok(Payload::WapPush(datagram)) = Dispatcher::payload(&row) else {
                panic!("a push row makes a WAP Push");
            };
            assert!(
                datagram.len() <= 133,
                "{} octets: {text:?} takes more than one SMS",
                datagram.len()
            );
            let Ok(PushContent::Si(si)) = decode_wsp_push(&datagram) else {
                panic!("the push decodes as an SI");
            };
            assert_eq!(si.href, url);
            assert_eq!(si.text.as_deref(), Some(text.as_str()));
            assert_eq!(si.si_id, None);
            assert_eq!(si.created, Some(WapDate::new(2026, 12, 7, 6, 26, 35)));
        }
        // A link so long that not even the number fits: the text is not cut further, and the
        // link goes whole (in two SMS).
        let long_url = format!("{url}{}", "x".repeat(80));
        let text = Text::AvatarPush {
            name: Some("Zhang Sanfeng Junior".into()),
            number: long_number.into(),
            room: push_text_room(&long_url),
        }
        .render(Lang::En);
        assert_eq!(text, "+861380013800012: new caller picture");
        let Ok(Payload::WapPush(datagram)) =
            Dispatcher::payload(&push_row(&long_url, &text, Some(SET_AT)))
        else {
            panic!("a push row makes a WAP Push");
        };
        let Ok(PushContent::Si(si)) = decode_wsp_push(&datagram) else {
            panic!("the push decodes as an SI");
        };
        assert_eq!(si.href, long_url);
    }

    /// A Chinese owner's push names them whole, in one SMS, with a name of up to four
    /// ideographs, the longest number (16 characters) and a 65-character link (a 40-character
    /// `public_url`, `/a/` and the 22-character token), encoded by sms-wire and cut into SMS
    /// as the link sends it. With the text "…更新了来电头像" the name was left out altogether
    /// (not even two ideographs fitted), so the contact saw a number and not who it was.
    #[test]
    fn a_chinese_push_names_a_four_ideograph_owner_whole_beside_the_longest_number() {
        use crate::command::Lang;
        use crate::service::replies::Text;
        use sms_wire::wap_push::{datagram_segments, decode_wsp_push, PushContent};
        let url = "https://avatar.operator-example.com:8443/a/kX3v9QmT2pLw8RzA0bYc1d";
        assert_eq!(url.len(), 65);
        let long_number = "+861380013800012";
        for name in ["欧阳上官", "诸葛孔明", "张三丰", "李四"] {
            let text = Text::AvatarPush {
                name: Some(name.into()),
                number: long_number.into(),
                room: push_text_room(url),
            }
            .render(Lang::Zh);
            assert_eq!(text, format!("{name}({long_number})新来电头像"));
            let Ok(Payload::WapPush(datagram)) =
                Dispatcher::payload(&push_row(url, &text, Some(SET_AT)))
            else {
                panic!("a push row makes a WAP Push");
            };
            let parts = datagram_segments(&datagram, 1, false).map(|p| p.len());
            assert_eq!(parts, Ok(1), "{text:?}: {} octets", datagram.len());
            let Ok(PushContent::Si(si)) = decode_wsp_push(&datagram) else {
                panic!("the push decodes as an SI");
            };
            assert_eq!(si.href, url);
            assert!(
                si.text.as_deref().is_some_and(|t| t.contains(name)),
                "{si:?}"
            );
        }
    }

    /// An avatar push carries `created`, the time its owner set the avatar, as WAP-167 encodes
    /// it (wire-formats.md §2.5): attribute token `0A`, then OPAQUE (`C3`, length, two decimal
    /// digits per octet) with the trailing zero octets dropped; it comes after the href
    /// (the order Kannel and libwbxml write). A push of no avatar (none now) has none.
    #[test]
    fn an_avatar_push_says_when_the_avatar_was_set_as_a_wap_date() {
        let url = "http://gw.example/a/kX3v9QmT2pLw8RzA0bYc1d";
        let wbxml_of = |set_at: Option<i64>| -> Vec<u8> {
            let Ok(Payload::WapPush(datagram)) =
                Dispatcher::payload(&push_row(url, "Zhang San", set_at))
            else {
                panic!("a push row makes a WAP Push");
            };
            // WSP: TID, 06 (Push), headers length 3, AE (SI), AF 82 (wml.ua); then the WBXML.
            assert_eq!(datagram[1..6], [0x06, 0x03, 0xAE, 0xAF, 0x82]);
            datagram[6..].to_vec()
        };
        let href_then = |date: &[u8]| -> Vec<u8> {
            let mut b = vec![0x02, 0x05, 0x6A, 0x00, 0x45, 0xC6, 0x0C, 0x03];
            b.extend_from_slice(b"gw.example/a/kX3v9QmT2pLw8RzA0bYc1d\0");
            b.extend_from_slice(date);
            b.extend_from_slice(&[0x01, 0x03]);
            b.extend_from_slice(b"Zhang San\0");
            b.extend_from_slice(&[0x01, 0x01]);
            b
        };
        assert_eq!(
            wbxml_of(Some(SET_AT)),
            href_then(&[0x0A, 0xC3, 0x07, 0x20, 0x26, 0x12, 0x07, 0x06, 0x26, 0x35])
        );
        // 2026-12-07T06:00:00Z: minute and second are zero octets, dropped.
        let six = 1_796_623_200_000;
        assert_eq!(
            wbxml_of(Some(six)),
            href_then(&[0x0A, 0xC3, 0x05, 0x20, 0x26, 0x12, 0x07, 0x06])
        );
        assert_eq!(wbxml_of(None), href_then(&[]));
    }

    fn verdict(fail: Option<&str>, retry: Option<&str>, unsent: bool) -> Verdict {
        Verdict {
            fail: fail.map(str::to_string),
            retry: retry.map(str::to_string),
            busy: None,
            unsent,
            expired: false,
            withdrawn: false,
        }
    }

    fn busy(unsent: bool) -> Verdict {
        Verdict {
            busy: Some(busy_text(rusmpp::CommandStatus::EsmeRthrottled)),
            unsent,
            ..Verdict::default()
        }
    }

    #[test]
    fn a_stop_waits_a_few_response_times_for_an_smsc_that_answers_nothing() {
        let ms = Duration::from_millis;
        assert_eq!(drain_stall(None), DRAIN_STALL_MAX);
        assert_eq!(drain_stall(Some(ms(5))), DRAIN_STALL_MIN);
        assert_eq!(drain_stall(Some(ms(800))), ms(3200));
        assert_eq!(drain_stall(Some(ms(9000))), DRAIN_STALL_MAX);
    }

    #[test]
    fn the_rows_in_hand_are_a_second_of_sending_or_a_response_time_at_most_the_concurrency() {
        // Window 1 at 40 ms: 25 a second.
        assert_eq!(hand_cap(25.0, 0.04, 512), 25);
        // A rate cap of 20 with a window of 64 and fast answers: a second, not the window.
        assert_eq!(hand_cap(20.0, 0.01, 512), 20);
        // Window 64 answered in 2 s (32 a second): two seconds of rows, the whole window.
        assert_eq!(hand_cap(32.0, 2.0, 512), 64);
        // Before any answer (the window a second, no response time): the window.
        assert_eq!(hand_cap(64.0, 0.0, 512), 64);
        assert_eq!(
            hand_cap(100_000.0, 0.001, 512),
            512,
            "never above the concurrency"
        );
        assert_eq!(hand_cap(0.5, 0.1, 512), 1);
        assert_eq!(hand_cap(f64::NAN, 0.1, 512), 1);
        assert_eq!(hand_cap(20.0, f64::NAN, 512), 20);
        assert_eq!(hand_cap(20.0, 0.1, 0), 1);
    }

    /// A row of three parts takes three submits' time: at 20 a second a batch is 2 such rows
    /// (6 submits, 0.3 s), not 5 (15 submits, 0.75 s), and the rows in hand 7, not 20. The
    /// estimate rises at once and falls back by quarters.
    #[test]
    fn claims_are_sized_in_submits_not_rows() {
        let mut parts = PartsPerRow::default();
        assert_eq!(rate_batch(parts.rows_at(20.0)), 5);
        parts.observe(5, 15);
        assert_eq!(rate_batch(parts.rows_at(20.0)), 2);
        assert_eq!(hand_cap(parts.rows_at(20.0), 0.01, 512), 7);
        // A batch of one-part rows: a quarter of the way back (2.5 a row), then more.
        parts.observe(4, 4);
        assert_eq!(parts.0, 2.5);
        for _ in 0..40 {
            parts.observe(4, 4);
        }
        assert!(parts.0 < 1.01, "{}", parts.0);
        assert_eq!(rate_batch(parts.rows_at(20.0)), 5);
        // Rows that send nothing (expired, unencodable) and an empty claim read as one part.
        parts.observe(3, 0);
        parts.observe(0, 0);
        assert!(parts.0 >= 1.0);
        parts.observe(2, 20);
        assert_eq!(rate_batch(parts.rows_at(40.0)), 1);
    }

    #[test]
    fn a_batch_holds_a_quarter_second_of_sending_at_the_allowed_rate() {
        assert_eq!(rate_batch(20.0), 5);
        assert_eq!(rate_batch(1.0), 1);
        assert_eq!(rate_batch(0.0), 1);
        assert_eq!(rate_batch(f64::NAN), 1);
        assert!(
            rate_batch(1_000_000.0) >= BATCH_MAX,
            "no cap: the batch size decides"
        );
    }

    #[test]
    fn an_attempt_ends_by_its_worst_answer_and_only_a_wholly_unsent_one_is_not_counted() {
        let end = |v: Verdict, attempts: u32, accepted_some: bool| {
            v.end(attempts, 3, accepted_some, 1_000, || 5_000)
        };
        assert_eq!(
            end(verdict(None, None, false), 1, true),
            AttemptEnd::Submitted
        );
        assert_eq!(
            end(verdict(None, None, true), 1, false),
            AttemptEnd::NotSent
        );
        assert_eq!(
            end(verdict(None, None, true), 3, false),
            AttemptEnd::NotSent
        );
        // Some segments taken, the rest never sent: counted, due at once.
        assert_eq!(
            end(verdict(None, None, true), 1, true),
            AttemptEnd::Retry {
                at: 1_000,
                error: LinkError::NotSent.to_string()
            }
        );
        // ...and not given up at the limit: the next attempt sends the parts left.
        assert_eq!(
            end(verdict(None, None, true), 3, true),
            AttemptEnd::Retry {
                at: 1_000,
                error: LinkError::NotSent.to_string()
            }
        );
        // A refusal beside unsent segments: the refusal decides, with its back-off.
        assert_eq!(
            end(verdict(None, Some("EsmeRsyserr"), true), 1, false),
            AttemptEnd::Retry {
                at: 5_000,
                error: "EsmeRsyserr".into()
            }
        );
        assert_eq!(
            end(verdict(None, Some("EsmeRsyserr"), false), 3, false),
            AttemptEnd::Fail("gave up after 3 attempts: EsmeRsyserr".into())
        );
        // A part taken in this attempt, another refused or lost: progress, not given up.
        assert_eq!(
            end(verdict(None, Some("connection closed"), false), 3, true),
            AttemptEnd::Retry {
                at: 5_000,
                error: "connection closed".into()
            }
        );
        assert_eq!(
            end(verdict(Some("EsmeRinvdstadr"), Some("x"), true), 1, true),
            AttemptEnd::Fail("EsmeRinvdstadr".into())
        );
        assert_eq!(
            status_text(rusmpp::CommandStatus::EsmeRinvdstadr),
            "ESME_RINVDSTADR (0x0000000B)"
        );
        assert_eq!(
            status_text(rusmpp::CommandStatus::Other(0x0000_0401)),
            "command_status 0x00000401"
        );
        let too_late = Verdict {
            expired: true,
            ..Verdict::default()
        };
        assert_eq!(end(too_late, 1, false), AttemptEnd::Expired);
        // Parts held back for a withdrawal: withdrawn, whatever the parts sent met.
        let held_back = Verdict {
            withdrawn: true,
            ..verdict(Some("EsmeRinvdstadr"), Some("x"), true)
        };
        assert_eq!(end(held_back, 3, true), AttemptEnd::Withdrawn);
    }

    /// `ESME_RTHROTTLED` / `ESME_RMSGQFUL` say the SMSC is busy, not that the message is bad:
    /// such an attempt is not counted and never given up, at or past `max_attempts`, alone or
    /// beside segments never sent; it keeps the refusal as its error and waits out a back-off.
    #[test]
    fn a_refusal_for_load_is_not_counted_and_never_gives_up() {
        let end = |v: Verdict, attempts: u32, accepted_some: bool| {
            v.end(attempts, 3, accepted_some, 1_000, || 5_000)
        };
        let error = "ESME_RTHROTTLED (0x00000058) (SMSC busy: not counted as an attempt)";
        for attempts in [1, 3, 4, 100] {
            for unsent in [false, true] {
                assert_eq!(
                    end(busy(unsent), attempts, false),
                    AttemptEnd::Busy {
                        at: 5_000,
                        error: error.into()
                    },
                    "attempt {attempts}, unsent {unsent}"
                );
            }
        }
        // Beside a part the SMSC took: a counted retry (the taken part is not sent again),
        // not given up either.
        assert_eq!(
            end(busy(false), 3, true),
            AttemptEnd::Retry {
                at: 5_000,
                error: error.into()
            }
        );
        // Beside a temporary error: that counts, and gives up at the limit.
        let mut both = busy(false);
        both.retry = Some("EsmeRsyserr".into());
        assert_eq!(
            end(both, 3, false),
            AttemptEnd::Fail("gave up after 3 attempts: EsmeRsyserr".into())
        );
        // And a permanent error still fails.
        let mut bad = busy(false);
        bad.fail = Some("EsmeRinvdstadr".into());
        assert_eq!(
            end(bad, 1, false),
            AttemptEnd::Fail("EsmeRinvdstadr".into())
        );
    }

    /// A keyed row in flight when a newer message with its key is queued and claimed, whose
    /// record then waits in the writer (a busy store, a patient retry): the row is recorded
    /// `submitted` after the newer content was written, so once the newer row is accepted
    /// the older one's cancel is asked for. The record is stamped when it runs: stamped with
    /// the time the batch was settled (before the newer message came), the older row read as
    /// accepted before it, which `supersede_on_submit` leaves to the enqueue's own ask, and
    /// that had found nothing `submitted`: no cancel, and the handset got the stale update.
    #[tokio::test]
    async fn a_record_that_waited_in_the_writer_still_asks_the_cancel_of_the_older_row() {
        use crate::store::{Ctx, StoreError, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("late.db"), StoreOptions::default()).unwrap();
        let stop = CancellationToken::new();
        // Never bound (nothing listens there): only its receipt gates are used.
        let (link, _inbound, _task) = crate::smpp::Link::spawn(
            crate::smpp::LinkConfig {
                smsc: "127.0.0.1:9".into(),
                ..Default::default()
            },
            stop.clone(),
        );
        let template = SubmitTemplate {
            source: "10658".into(),
            source_ton: 0,
            source_npi: 0,
            registered_delivery: true,
            concat: ConcatStyle::Udh8,
        };
        let dispatcher = Dispatcher::new(store.clone(), link, DispatcherConfig::new(template));
        let keyed = |body: &str| outbox::NewMessage {
            coalesce_key: Some("status:+8613800138000:+8613900139000".into()),
            ..outbox::NewMessage::sms("+8613900139000", body)
        };
        // The batch carrying the older row is settled, its record not run yet.
        let settled = now_ms();
        let (older, msg) = (keyed("BUSY"), keyed("FREE"));
        let older = store
            .write(move |tx| {
                let id = outbox::enqueue(tx, &older, settled - 10)?.id;
                outbox::claim_due(tx, settled, 10)?;
                Ok::<_, StoreError>(id)
            })
            .await
            .unwrap();
        // Meanwhile the newer message is written and claimed (the service stamps its
        // content when its write runs).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let newer = store
            .write(move |tx| {
                let now = now_ms();
                let id = outbox::enqueue(tx, &msg, now)?.id;
                outbox::claim_due(tx, now, 10)?;
                Ok::<_, StoreError>(id)
            })
            .await
            .unwrap();
        let accepted = |id: i64| outbox::Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![outbox::AcceptedSegment {
                seq: 1,
                total: 1,
                message_id: format!("m{id}"),
            }],
            end: outbox::AttemptEnd::Submitted,
        };
        assert!(dispatcher
            .record(vec![accepted(older)], Vec::new(), settled)
            .await
            .is_empty());
        assert!(dispatcher
            .record(vec![accepted(newer)], Vec::new(), now_ms())
            .await
            .is_empty());
        let asked = store
            .read(move |c| {
                c.query_row(
                    "SELECT why FROM outbox_cancel WHERE outbox_id = ?1",
                    [older],
                    |r| r.get::<_, String>(0),
                )
                .ctx("test: the older row's intent")
            })
            .await;
        assert_eq!(
            asked.ok().as_deref(),
            Some(format!("superseded by outbox row {newer}").as_str()),
            "the older row's cancel is asked for"
        );
        assert_eq!(store.read(cancel::pending).await.unwrap(), 1);
        stop.cancel();
    }
}
