//! Withdrawing messages the SMSC has accepted but not delivered yet: SMPP 3.4 `cancel_sm`
//! (§4.9), one per segment, for outbox rows that are `submitted` when something newer makes
//! them wrong to deliver.
//!
//! Two things make a `submitted` row wrong to deliver: a newer message with its coalescing key
//! (a STATUS changed again while the contact's handset was off: `outbox::enqueue`), and a
//! withdrawal of what was queued for a recipient (STOP, left the owner's groups:
//! `outbox::withdraw_queued`; PRIVACY NOBODY, AVATAR OFF for avatar pushes:
//! `outbox::withdraw_queued_pushes`). Each writes an intent into `outbox_cancel` (schema
//! migration 22, [`crate::store::cancel`]) in the same transaction as the change that caused
//! it, so it survives a restart or a link drop.
//!
//! The [`Canceller`] task reads the intents that are due while the link is bound (woken by
//! the store when a commit wrote one, by the link binding, and by a timer for the next that
//! falls due again; it does not poll) and sends a
//! `cancel_sm` for each segment of the row still waiting for its receipt (its SMSC message
//! id, the source and destination addresses it was submitted with, an empty service_type),
//! one at a time: each takes a window slot and a rate token from the link like a submit
//! ([`LinkHandle::request_paced`]), so a cancel never holds more than one slot and counts
//! against `max_rate`, and its answer feeds the adaptive rate as a submit's does (a throttled
//! cancel slows the submits down too). What the SMSC answers decides the row ([`row_end`]):
//!
//! | answers | row |
//! |---|---|
//! | some segment cancelled (`ESME_ROK`) | `superseded`, last error `cancelled at the SMSC: <why>`, with ` (N part(s) had reached the handset already)` when some had (delivered before, or `ESME_RCANCELFAIL`) |
//! | `ESME_RCANCELFAIL` (delivered or final already) | stays `submitted`, its receipt decides; last error says so |
//! | `ESME_RINVCMDID` or a `generic_nack`: this SMSC has no cancel_sm | stays `submitted`; last error says so; no more cancels on this bind (below) |
//! | another refusal (`ESME_RINVMSGID`...) | stays `submitted`; last error says so |
//! | no answer, or a passing refusal (`ESME_RTHROTTLED`, a status in `[smsc] temporary_statuses`, timeout, link drop) | tried again after a back-off, up to [`MAX_TRIES`] |
//!
//! A receipt that still comes for a cancelled message is applied as any: `DELIVRD` makes the
//! row `delivered` (the SMSC knows best), a failure leaves the `superseded` row as it is. A
//! `DELETED` receipt that beats the answer (many SMSCs send one for what cancel_sm deleted)
//! makes the row `superseded` as the answer would, not `failed` (see
//! `outbox::apply_receipt`); its parts still waiting are cancelled all the same.
//! A row withdrawn while in flight ends `superseded` at once, its parts not sent yet held back
//! (`outbox::AttemptEnd::Withdrawn`); the parts the SMSC took are cancelled as a `submitted`
//! row's, and its last error becomes `cancelled at the SMSC: <why>; N of its M parts never
//! sent`. So are the parts an earlier attempt got through of a queued row withdrawn
//! (`store::cancel::withdraw_queued_parts`). If none of a row withdrawn in flight is
//! cancelled (refused, too late, no answer, no cancel_sm, the cancels turned off), the
//! "(cancel_sm asked for)" of its last error becomes `(not cancelled: <answer>)`.
//! A row that left `submitted` before its cancel went out (its receipt came) drops the intent.
//! A row kept `submitted` is not asked for again (`outbox_cancel_answered`, schema migration
//! 28: without receipts it would be, by every newer message with its key and every
//! withdrawal) until it is sent again.
//! With `[smsc] cancel_superseded = false` intents are dropped unsent.
//!
//! An SMSC that answers a cancel_sm with `ESME_RINVCMDID` or a `generic_nack` does not do
//! cancel_sm ([`Answer::Unsupported`]): the canceller remembers it for the rest of the bind
//! (the link's bind count) and, for `[smsc] no_cancel_memory_hours` (24 by default), in the
//! store by the SMSC's address and the bind's system_id (`smsc_no_cancel`, schema migration
//! 27; [`Canceller::with_memory`]), so neither a new bind to that address nor a restart
//! spends another refused cancel to learn it again. Meanwhile it sends no cancels and drops
//! the intents unsent, as with `cancel_superseded = false` (the rows stay `submitted`, their
//! receipts decide, their last error says why), and logs it once at warn. A bind to another
//! address (a standby SMSC) tries, with one cancel; so does one to the same address once the
//! memory is older than that, or the operator forgot it (`presence-gw smsc no-cancel
//! --forget`); with `no_cancel_memory_hours = 0` every new bind tries.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusmpp::pdus::CancelSm;
use rusmpp::types::COctetString;
use rusmpp::values::{Npi, ServiceType, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use rusqlite::{params, Connection, Transaction};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::encode::{destination_fields, SubmitTemplate};
use crate::smpp::{status_text, LinkError, LinkHandle, SubmitOutcome};
use crate::store::outbox::OutboxState;
use crate::store::{now_ms, tally, Ctx, Store, StoreError};

/// Tries of a row's cancel that got no answer (or a passing refusal) before it is given up;
/// the back-off between them doubles from a second up to [`RETRY_MAX`] (about 17 minutes in
/// all).
pub const MAX_TRIES: u32 = 10;

/// Longest wait between two tries of a row's cancel.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// How long an intent for a row still in flight waits before the canceller looks again: about
/// a submit's round trip on a slow link, so the row is `submitted` (or back in the queue) by
/// then.
const IN_FLIGHT_WAIT_MS: i64 = 1_000;

/// How long the canceller waits before it looks again after the store failed it (a read of
/// the intents, or the record of an answer).
const AFTER_TROUBLE: Duration = Duration::from_millis(1_000);

/// Least time between two looks at the intents: a spin guard (each look that finds work
/// makes progress, so a loop that finds due intents again at once has more than a look's
/// worth of them).
const LOOK_GAP: Duration = Duration::from_millis(10);

/// Rows one look takes at most.
const PASS_MAX: usize = 64;

/// One segment submission a cancel is for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// `outbox_segment.id`.
    id: i64,
    /// The SMSC's message id as its `submit_sm_resp` gave it.
    message_id: String,
}

/// A due intent and what its row looks like now.
#[derive(Debug, Clone)]
struct Due {
    outbox_id: i64,
    why: String,
    tries: u32,
    /// Segment rows cancelled by earlier tries.
    done: Vec<i64>,
    /// The row's state (`None`: the row is gone).
    state: Option<OutboxState>,
    source: Option<String>,
    destination: String,
    /// Its segment submissions still waiting for a receipt.
    segments: Vec<Segment>,
    /// Its parts that reached the handset before (a submission delivered, none waiting).
    reached: usize,
}

impl Due {
    /// Whether its row's parts still waiting for a receipt are to be cancelled: a row
    /// `submitted`, or one a `DELETED` receipt made `superseded` while its cancel was out
    /// (`outbox::apply_receipt`: the SMSC deleted a part; the others still go).
    fn cancellable(&self) -> bool {
        matches!(
            self.state,
            Some(OutboxState::Submitted | OutboxState::Superseded)
        )
    }
}

/// The longest an intent is ever set to wait (Unix ms past the time it is written): a
/// retry's back-off at most [`RETRY_MAX`]; an intent asked for is due at once, one for a row
/// in flight waits [`IN_FLIGHT_WAIT_MS`]. One due further ahead than this was set before the
/// wall clock went back (an NTP step, an operator's correction): it is due now, not when the
/// clock reaches that time again (an hour later for a clock set back an hour, while the SMSC
/// could deliver the message it is to cancel).
const LONGEST_WAIT_MS: i64 = RETRY_MAX.as_millis() as i64;

/// The intents due at `now` (or set before the clock went back, [`LONGEST_WAIT_MS`]), at
/// most `limit`, with their rows.
fn due(c: &Connection, now: i64, limit: usize) -> Result<Vec<Due>, StoreError> {
    let mut list: Vec<Due> = c
        .prepare_cached(
            "SELECT c.outbox_id, c.why, c.tries, c.cancelled, o.state, o.source,
                    coalesce(o.destination, '')
             FROM outbox_cancel c LEFT JOIN outbox o ON o.id = c.outbox_id
             WHERE c.next_at <= ?1 OR c.next_at > ?1 + ?3
             ORDER BY c.next_at, c.outbox_id LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(
                params![
                    now,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    LONGEST_WAIT_MS
                ],
                |r| {
                    let done: String = r.get(3)?;
                    Ok(Due {
                        outbox_id: r.get(0)?,
                        why: r.get(1)?,
                        tries: r.get(2)?,
                        done: done
                            .split_whitespace()
                            .filter_map(|s| s.parse().ok())
                            .collect(),
                        state: r.get(4)?,
                        source: r.get(5)?,
                        destination: r.get(6)?,
                        segments: Vec::new(),
                        reached: 0,
                    })
                },
            )?
            .collect()
        })
        .ctx("cancel::due")?;
    for d in &mut list {
        if !d.cancellable() {
            continue;
        }
        d.segments = c
            .prepare_cached(
                "SELECT id, smsc_message_id_raw FROM outbox_segment
                 WHERE outbox_id = ?1 AND state = 'submitted' ORDER BY seq, id",
            )
            .and_then(|mut s| {
                s.query_map([d.outbox_id], |r| {
                    Ok(Segment {
                        id: r.get(0)?,
                        message_id: r.get(1)?,
                    })
                })?
                .collect()
            })
            .ctx("cancel::due: segments")?;
        d.reached = c
            .prepare_cached(
                "SELECT count(*) FROM (SELECT seq FROM outbox_segment WHERE outbox_id = ?1
                 GROUP BY seq HAVING max(state = 'delivered') AND NOT max(state = 'submitted'))",
            )
            .and_then(|mut s| s.query_row([d.outbox_id], |r| r.get::<_, i64>(0)))
            .map(|n| usize::try_from(n).unwrap_or(0))
            .ctx("cancel::due: parts delivered")?;
    }
    Ok(list)
}

/// What the SMSC's answer to one `cancel_sm` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `ESME_ROK`: the message is deleted, it will not reach the handset.
    Cancelled,
    /// `ESME_RCANCELFAIL`: nothing pending to cancel (delivered, or final, already).
    TooLate,
    /// `ESME_RINVCMDID`, or a `generic_nack` (but for a passing status): this SMSC does not
    /// do cancel_sm at all (the answer, as text).
    Unsupported(String),
    /// Any other refusal: this SMSC will not cancel this message (`ESME_RINVMSGID`...).
    Refused(String),
    /// No answer (timeout, the link dropped, never sent) or a passing refusal
    /// (`ESME_RTHROTTLED`, `ESME_RSYSERR`...): worth trying again.
    Failed(String),
}

impl Answer {
    /// Read the link's answer to a `cancel_sm` (a `cancel_sm_resp` or a `generic_nack`); the
    /// statuses that mean "for now" are the ones a submit retries on.
    pub fn classify(answer: &Result<Command, LinkError>) -> Answer {
        Self::classify_with(answer, &[])
    }

    /// [`Answer::classify`], with the codes in `temporary` (`[smsc] temporary_statuses`,
    /// [`crate::smpp::LinkConfig::temporary_statuses`]) read as "for now" whatever they
    /// are: such an answer is [`Answer::Failed`] and the cancel is tried again after its
    /// back-off, as a submit refused with one is (`SubmitOutcome::classify_with`).
    pub fn classify_with(answer: &Result<Command, LinkError>, temporary: &[u32]) -> Answer {
        match answer {
            Ok(resp)
                if resp.status() != CommandStatus::EsmeRok
                    && temporary.contains(&u32::from(resp.status())) =>
            {
                let status = status_text(resp.status());
                Answer::Failed(if resp.id() == CommandId::GenericNack {
                    format!("generic_nack {status}")
                } else {
                    status
                })
            }
            Ok(resp) if resp.status() == CommandStatus::EsmeRcancelfail => Answer::TooLate,
            Ok(resp) if resp.id() == CommandId::GenericNack => {
                match SubmitOutcome::classify(resp) {
                    SubmitOutcome::Throttled(s) | SubmitOutcome::Temporary(s) => {
                        Answer::Failed(format!("generic_nack {}", status_text(s)))
                    }
                    _ => {
                        Answer::Unsupported(format!("generic_nack {}", status_text(resp.status())))
                    }
                }
            }
            Ok(resp) if resp.status() == CommandStatus::EsmeRinvcmdid => {
                Answer::Unsupported(status_text(resp.status()))
            }
            Ok(resp) => match SubmitOutcome::classify(resp) {
                SubmitOutcome::Accepted { .. } => Answer::Cancelled,
                SubmitOutcome::Throttled(s) | SubmitOutcome::Temporary(s) => {
                    Answer::Failed(status_text(s))
                }
                SubmitOutcome::Permanent(s) => Answer::Refused(status_text(s)),
            },
            Err(e) => Answer::Failed(e.to_string()),
        }
    }

    /// The `outcome` label of `presence_gw_smpp_cancels_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Answer::Cancelled => "cancelled",
            Answer::TooLate => "too_late",
            Answer::Unsupported(_) => "unsupported",
            Answer::Refused(_) => "refused",
            Answer::Failed(_) => "failed",
        }
    }
}

/// `cancel_sm` answers by outcome, for `/metrics` (`presence_gw_smpp_cancels_total`).
#[derive(Debug, Default)]
pub struct CancelCounts {
    counts: [AtomicU64; 5],
    /// Looks at the intents (the canceller's reads of the store).
    looks: AtomicU64,
}

impl CancelCounts {
    /// Every outcome label, in the order [`CancelCounts::get`] reads them.
    pub const LABELS: [&'static str; 5] =
        ["cancelled", "too_late", "unsupported", "refused", "failed"];

    fn note(&self, answer: &Answer) {
        if let Some(i) = Self::LABELS.iter().position(|l| *l == answer.label()) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many times the canceller has looked at the intents (read the store): it does when
    /// an intent is written, when the link binds, and when one falls due again, never on a
    /// timer while idle. For tests.
    pub fn looks(&self) -> u64 {
        self.looks.load(Ordering::Relaxed)
    }

    /// The count of outcome `label` (one of [`CancelCounts::LABELS`]; 0 for another).
    pub fn get(&self, label: &str) -> u64 {
        Self::LABELS
            .iter()
            .position(|l| *l == label)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// What becomes of a row once its segments' cancels are answered ([`row_end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowEnd {
    /// A part is deleted at the SMSC (the message can no longer reach the handset whole):
    /// `superseded`, with this last error.
    Cancelled(String),
    /// Nothing was cancelled: the row stays `submitted` (its receipt decides), its last error
    /// saying why ([`RowEnd::kept_error`]). A row a withdrawal ended `superseded` in flight
    /// with parts the SMSC took has its last error's "(cancel_sm asked for)" replaced by
    /// "(not cancelled: ANSWER)".
    Kept {
        /// Why the cancel was asked for (the intent's reason).
        why: String,
        /// What the SMSC answered, as text ("the SMSC refused cancel_sm with ...").
        answer: String,
    },
    /// Try the segments not cancelled yet again at `at` (Unix ms).
    Again {
        /// When.
        at: i64,
        /// The segment rows cancelled so far (kept with the intent).
        done: Vec<i64>,
    },
    /// The row is still in flight (its submit unanswered): look again at `at` (Unix ms), the
    /// tries not counted.
    Wait {
        /// When.
        at: i64,
    },
    /// Nothing to do (the row left `submitted`, or has no segment waiting): the intent goes.
    Drop,
}

/// How a row's cancel ends: `why` it was asked for, `tries` made before this one, the segment
/// rows cancelled by earlier tries (`done`), its parts that had reached the handset before
/// this try (`reached`: delivered, nothing of them left to cancel), this try's answers with
/// their segment rows, at `now`.
pub fn row_end(
    why: &str,
    tries: u32,
    mut done: Vec<i64>,
    reached: usize,
    answers: &[(i64, Answer)],
    now: i64,
) -> RowEnd {
    for (id, a) in answers {
        if *a == Answer::Cancelled && !done.contains(id) {
            done.push(*id);
        }
    }
    let failed = answers.iter().find_map(|(_, a)| match a {
        Answer::Failed(e) => Some(e.clone()),
        _ => None,
    });
    if failed.is_some() && tries + 1 < MAX_TRIES {
        let wait = Duration::from_secs(1u64 << tries.min(16)).min(RETRY_MAX);
        return RowEnd::Again {
            at: now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
            done,
        };
    }
    let too_late = answers
        .iter()
        .filter(|(_, a)| *a == Answer::TooLate)
        .count();
    if !done.is_empty() {
        let mut text = crate::store::cancel::cancelled_error(why);
        let reached = reached + too_late;
        if reached > 0 {
            text.push_str(&format!(
                " ({reached} part(s) had reached the handset already)"
            ));
        }
        return RowEnd::Cancelled(text);
    }
    let unsupported = answers.iter().find_map(|(_, a)| match a {
        Answer::Unsupported(s) => Some(s.clone()),
        _ => None,
    });
    let refused = answers.iter().find_map(|(_, a)| match a {
        Answer::Refused(s) => Some(s.clone()),
        _ => None,
    });
    if too_late > 0 {
        RowEnd::kept(
            why,
            format!(
                "the SMSC answered {}: delivered or final already; its receipt decides",
                status_text(CommandStatus::EsmeRcancelfail)
            ),
        )
    } else if let Some(answer) = unsupported {
        RowEnd::kept(why, not_supported(&answer))
    } else if let Some(status) = refused {
        RowEnd::kept(why, format!("the SMSC refused cancel_sm with {status}"))
    } else if let Some(error) = failed {
        RowEnd::kept(
            why,
            format!("no answer to cancel_sm after {MAX_TRIES} tries ({error})"),
        )
    } else {
        RowEnd::Drop
    }
}

impl RowEnd {
    /// [`RowEnd::Kept`] for a cancel asked for `why`, answered `answer`.
    pub fn kept(why: &str, answer: impl Into<String>) -> RowEnd {
        RowEnd::Kept {
            why: why.to_string(),
            answer: answer.into(),
        }
    }

    /// The last error [`RowEnd::Kept`] gives a `submitted` row: `not cancelled (<why>):
    /// <answer>` (`None` for another end).
    pub fn kept_error(&self) -> Option<String> {
        match self {
            RowEnd::Kept { why, answer } => Some(format!("not cancelled ({why}): {answer}")),
            _ => None,
        }
    }
}

/// What an SMSC that answered a cancel_sm `answer` ([`Answer::Unsupported`]) said, for a
/// row's last error.
fn not_supported(answer: &str) -> String {
    format!("the SMSC does not support cancel_sm (it answered {answer}); its receipt decides")
}

/// Record `end` for the intent of row `outbox_id`. A row that left `submitted` meanwhile (its
/// receipt came while the cancel was out) is left as it is, but for a `superseded` one whose
/// part the SMSC cancelled (a `DELETED` receipt came first, or a withdrawal ended it in flight
/// with parts the SMSC had taken, `outbox::AttemptEnd::Withdrawn`): its last error says so.
fn record(tx: &Transaction<'_>, outbox_id: i64, end: &RowEnd, now: i64) -> Result<(), StoreError> {
    let forget = |tx: &Transaction<'_>| {
        tx.prepare_cached("DELETE FROM outbox_cancel WHERE outbox_id = ?1")
            .and_then(|mut s| s.execute([outbox_id]))
            .ctx("cancel::record: forget")
    };
    match end {
        RowEnd::Cancelled(why) => {
            let n = tx
                .prepare_cached(
                    "UPDATE outbox SET state = 'superseded', last_error = ?2, updated_at = ?3
                     WHERE id = ?1 AND state = 'submitted'",
                )
                .and_then(|mut s| s.execute(params![outbox_id, why, now]))
                .ctx("cancel::record: superseded")?;
            tally::note(
                Some(OutboxState::Submitted),
                Some(OutboxState::Superseded),
                n,
            );
            if n == 0 {
                tx.prepare_cached(
                    "UPDATE outbox SET last_error = ?2, updated_at = ?3
                     WHERE id = ?1 AND state = 'superseded'",
                )
                .and_then(|mut s| s.execute(params![outbox_id, why, now]))
                .ctx("cancel::record: superseded already")?;
            }
            forget(tx)?;
        }
        RowEnd::Kept { answer, .. } => {
            tx.prepare_cached(
                "UPDATE outbox SET last_error = ?2, updated_at = ?3
                 WHERE id = ?1 AND state = 'submitted'",
            )
            .and_then(|mut s| s.execute(params![outbox_id, end.kept_error(), now]))
            .ctx("cancel::record: kept")?;
            // A row a withdrawal ended in flight (`outbox::withdraw_marked`): its last error
            // said the cancel of the parts taken was asked for; now it says what came of it.
            tx.prepare_cached(
                "UPDATE outbox SET last_error = replace(last_error, ?2, ?3), updated_at = ?4
                 WHERE id = ?1 AND state = 'superseded' AND instr(last_error, ?2) > 0",
            )
            .and_then(|mut s| {
                s.execute(params![
                    outbox_id,
                    crate::store::cancel::ASKED,
                    format!("(not cancelled: {answer})"),
                    now
                ])
            })
            .ctx("cancel::record: kept, withdrawn in flight")?;
            // Answered for these submissions: not asked again (schema migration 28).
            tx.prepare_cached(
                "INSERT OR REPLACE INTO outbox_cancel_answered (outbox_id, last_segment, answered_at)
                 SELECT ?1, coalesce(max(id), 0), ?2 FROM outbox_segment WHERE outbox_id = ?1",
            )
            .and_then(|mut s| s.execute(params![outbox_id, now]))
            .ctx("cancel::record: answered")?;
            forget(tx)?;
        }
        RowEnd::Again { at, done } => {
            let done: Vec<String> = done.iter().map(i64::to_string).collect();
            tx.prepare_cached(
                "UPDATE outbox_cancel SET tries = tries + 1, next_at = ?2, cancelled = ?3
                 WHERE outbox_id = ?1",
            )
            .and_then(|mut s| s.execute(params![outbox_id, at, done.join(" ")]))
            .ctx("cancel::record: again")?;
        }
        RowEnd::Wait { at } => {
            // Only while the row is still in flight: one that left it since the look (the
            // dispatcher withdrew it with parts taken, `outbox::AttemptEnd::Withdrawn`, and
            // made its intent due now; or it was accepted) keeps the due time it has, or its
            // cancel would wait for this look's timer though the store woke the canceller.
            tx.prepare_cached(
                "UPDATE outbox_cancel SET next_at = ?2 WHERE outbox_id = ?1
                   AND EXISTS (SELECT 1 FROM outbox WHERE id = ?1 AND state = 'in_flight')",
            )
            .and_then(|mut s| s.execute(params![outbox_id, at]))
            .ctx("cancel::record: wait")?;
        }
        RowEnd::Drop => {
            forget(tx)?;
        }
    }
    Ok(())
}

/// When the next intent falls due (Unix ms), if there is one, as read at `now`: one set
/// before the clock went back ([`LONGEST_WAIT_MS`]) is due now, so the canceller's timer is
/// never set further ahead than the longest wait.
fn next_due(c: &Connection, now: i64) -> Result<Option<i64>, StoreError> {
    c.prepare_cached(
        "SELECT min(CASE WHEN next_at > ?1 + ?2 THEN ?1 ELSE next_at END) FROM outbox_cancel",
    )
    .and_then(|mut s| s.query_row(params![now, LONGEST_WAIT_MS], |r| r.get(0)))
    .ctx("cancel::next_due")
}

/// Intents still waiting (for tests and the operator).
pub fn pending(c: &Connection) -> Result<usize, StoreError> {
    c.prepare_cached("SELECT count(*) FROM outbox_cancel")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .map(|n| usize::try_from(n).unwrap_or(0))
        .ctx("cancel::pending")
}

/// The task that sends the `cancel_sm`s the intents ask for (see the module documentation).
#[derive(Debug, Clone)]
pub struct Canceller {
    store: Store,
    link: LinkHandle,
    template: SubmitTemplate,
    enabled: bool,
    counts: std::sync::Arc<CancelCounts>,
    /// The operator's pause of outbound sending: no `cancel_sm` goes while paused.
    pause: super::pause::Pause,
    /// The link's bind count ([`crate::smpp::LinkStats::binds`]) when the SMSC answered a
    /// cancel_sm [`Answer::Unsupported`], and that answer. While the link is still on that
    /// bind, no cancel is sent.
    unsupported: Arc<std::sync::Mutex<Option<(u64, String)>>>,
    /// That was logged at warn already (once a run; later binds say it at info).
    told: Arc<AtomicBool>,
    /// The bind account (`[smsc] system_id`): with the SMSC's address, what an SMSC without
    /// cancel_sm is remembered by in the store.
    system_id: String,
    /// How long an SMSC without cancel_sm is remembered in the store, across binds and
    /// restarts (`[smsc] no_cancel_memory_hours`); zero: for the bind only.
    memory: Duration,
    /// The bind on which a remembered SMSC without cancel_sm was last said in the log.
    told_bind: Arc<AtomicU64>,
    /// Notified after a commit that wrote intents ([`Store::cancel_intents`]).
    wake: Arc<tokio::sync::Notify>,
}

impl Canceller {
    /// A canceller over `store`'s intents, sending through `link` with the source address of
    /// `template` (a row's own source when it has one); `enabled` is
    /// `[smsc] cancel_superseded` (off: intents are dropped unsent). Answers are counted in
    /// `counts`.
    pub fn new(
        store: Store,
        link: LinkHandle,
        template: SubmitTemplate,
        enabled: bool,
        counts: std::sync::Arc<CancelCounts>,
    ) -> Self {
        Self {
            wake: store.cancel_intents(),
            store,
            link,
            template,
            enabled,
            counts,
            pause: super::pause::Pause::default(),
            unsupported: Arc::default(),
            told: Arc::new(AtomicBool::new(false)),
            system_id: String::new(),
            memory: Duration::ZERO,
            told_bind: Arc::default(),
        }
    }

    /// This canceller, remembering an SMSC without cancel_sm (by its address and the bind
    /// account `system_id`) for `memory` in the store, so that neither a new bind nor a
    /// restart spends a refused cancel_sm to learn it again (zero: for the bind only).
    pub fn with_memory(mut self, system_id: &str, memory: Duration) -> Self {
        self.system_id = system_id.to_string();
        self.memory = memory;
        self
    }

    /// The answer by which the SMSC now bound said it has no cancel_sm, if it did: on this
    /// bind, or, with a memory ([`Canceller::with_memory`]), within it on any bind to its
    /// address with this account, as the store holds it (`store::cancel::no_cancel`). What the
    /// store no longer holds (the operator forgot it, or it is older than the memory) is
    /// forgotten for this bind too: a cancel_sm is tried again.
    async fn no_cancel_now(&self) -> Option<String> {
        let (Some(smsc), false) = (self.link.bound_to(), self.memory.is_zero()) else {
            return self.unsupported_here();
        };
        let bind = self.bind_count();
        let memory_ms = i64::try_from(self.memory.as_millis()).unwrap_or(i64::MAX);
        let not_before = now_ms().saturating_sub(memory_ms);
        let (key, system_id) = (smsc.clone(), self.system_id.clone());
        let known = self
            .store
            .read(move |c| crate::store::cancel::no_cancel(c, &key, &system_id, not_before))
            .await;
        match known {
            Ok(Some(known)) => {
                if self.told_bind.swap(bind, Ordering::Relaxed) != bind {
                    info!(
                        smsc = %smsc,
                        answer = %known.answer,
                        since_ms = known.since,
                        "this SMSC is remembered to have no cancel_sm: no cancel_sm is sent to \
                         it (`presence-gw smsc no-cancel --forget` to try again sooner)"
                    );
                }
                *self.unsupported.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((bind, known.answer.clone()));
                Some(known.answer)
            }
            Ok(None) => {
                *self.unsupported.lock().unwrap_or_else(|e| e.into_inner()) = None;
                None
            }
            Err(e) => {
                warn!(error = %e, "could not read whether the SMSC has cancel_sm");
                self.unsupported_here()
            }
        }
    }

    /// The link's bind count now.
    fn bind_count(&self) -> u64 {
        self.link.stats().binds.load(Ordering::Relaxed)
    }

    /// The answer by which the SMSC of the current bind said it does not do cancel_sm, if it
    /// did.
    fn unsupported_here(&self) -> Option<String> {
        let bind = self.bind_count();
        self.unsupported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(on, _)| *on == bind)
            .map(|(_, answer)| answer.clone())
    }

    /// The SMSC of bind `bind` (the bind count before the cancel went out), at address
    /// `smsc`, answered `answer` ([`Answer::Unsupported`]): remember it for that bind, and with
    /// a memory in the store too (by address and account), and say so.
    async fn learn_unsupported(&self, bind: u64, smsc: Option<&str>, answer: &str) {
        *self.unsupported.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((bind, answer.to_string()));
        let until = match smsc.filter(|_| !self.memory.is_zero()) {
            Some(smsc) => {
                let (smsc, system_id, text) =
                    (smsc.to_string(), self.system_id.clone(), answer.to_string());
                let kept = self
                    .store
                    .write(move |tx| {
                        crate::store::cancel::remember_no_cancel(
                            tx,
                            &smsc,
                            &system_id,
                            &text,
                            now_ms(),
                        )
                    })
                    .await;
                if let Err(e) = &kept {
                    warn!(error = %e, "could not remember that the SMSC has no cancel_sm; the next bind tries again");
                }
                self.told_bind.store(bind, Ordering::Relaxed);
                format!(
                    "for {} h, across binds and restarts ([smsc] no_cancel_memory_hours; \
                     `presence-gw smsc no-cancel --forget` to try again sooner)",
                    self.memory.as_secs() / 3600
                )
            }
            None => "until the next bind".to_string(),
        };
        if self.told.swap(true, Ordering::Relaxed) {
            info!(
                answer,
                "the SMSC does not support cancel_sm on this bind either; no cancel is sent {until}"
            );
        } else {
            warn!(
                answer,
                "the SMSC does not support cancel_sm: no more cancel_sm is sent to it {until}, \
                 and accepted messages a newer one or a withdrawal made wrong to deliver \
                 are left to the SMSC (their rows stay submitted, their receipts decide). Set \
                 [smsc] cancel_superseded = false if this carrier never takes cancel_sm"
            );
        }
    }

    /// This canceller, sending nothing while `pause` says so.
    pub fn with_pause(mut self, pause: super::pause::Pause) -> Self {
        self.pause = pause;
        self
    }

    /// Run until `stop`, sending the due intents while the link is bound and sending is not
    /// paused. It looks at the intents when woken: by the store after a commit that wrote one
    /// ([`Store::cancel_intents`]), by the link binding or the operator resuming (a state
    /// change), and by a timer set for when the next one falls due (a retry's back-off, a row
    /// in flight); idle, it reads nothing.
    pub async fn run(self, stop: CancellationToken) {
        let mut state = self.link.watch_state();
        let mut watching = true;
        let mut paused = self.pause.watch();
        let mut watching_pause = true;
        loop {
            if stop.is_cancelled() {
                return;
            }
            // Changes until now are seen by the look below.
            state.borrow_and_update();
            paused.borrow_and_update();
            let next = if !self.enabled {
                self.drop_all(None).await
            } else if self.link.is_bound() && !self.pause.is_paused() {
                match self.no_cancel_now().await {
                    Some(answer) => self.drop_all(Some(answer)).await,
                    None => self.pass(&stop).await,
                }
            } else {
                // Looked at once the link binds, or sending resumes.
                None
            };
            let timer = async {
                match next {
                    Some(at) => {
                        let wait = Duration::from_millis(
                            u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0),
                        )
                        .max(LOOK_GAP);
                        tokio::time::sleep(wait).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                changed = state.changed(), if watching => {
                    // The link is gone (its task ended): nothing to wait for there.
                    watching = changed.is_ok();
                }
                changed = paused.changed(), if watching_pause => {
                    watching_pause = changed.is_ok();
                }
                _ = timer => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// When to look again (Unix ms) after the store failed the canceller.
    fn after_trouble() -> Option<i64> {
        Some(now_ms() + i64::try_from(AFTER_TROUBLE.as_millis()).unwrap_or(i64::MAX))
    }

    /// `[smsc] cancel_superseded = false`, or an SMSC without cancel_sm on this bind: forget
    /// every intent (looked for with a read first, so a wake-up with nothing to drop writes
    /// nothing). `unsupported`: the SMSC's answer that said it has no cancel_sm, written into
    /// the last error of the `submitted` rows whose intents go ([`not_supported`]). A row a
    /// withdrawal ended in flight with parts taken has its "(cancel_sm asked for)" replaced by
    /// "(not cancelled: ...)" either way (the SMSC's answer, or the cancels turned off). Returns
    /// when to look again: while marks of rows in flight stay, once such a row may have been
    /// accepted (its intent is dropped then).
    async fn drop_all(&self, unsupported: Option<String>) -> Option<i64> {
        self.counts.looks.fetch_add(1, Ordering::Relaxed);
        match self.store.read(pending).await {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "could not read the cancel intents");
                return Self::after_trouble();
            }
        }
        let dropped = self
            .store
            .write(move |tx| {
                // The rows whose last error says why their cancel goes unsent: with an SMSC
                // without cancel_sm, the `submitted` ones and those a withdrawal ended in
                // flight (`superseded`, "cancel_sm asked for"); with the cancels turned off,
                // only the latter (nothing was said of a cancel to the others).
                let (sql, answer) = match &unsupported {
                    Some(answer) => (
                        "SELECT c.outbox_id, c.why FROM outbox_cancel c
                         JOIN outbox o ON o.id = c.outbox_id
                         WHERE o.state = 'submitted'
                            OR (o.state = 'superseded' AND instr(o.last_error, ?1) > 0)",
                        not_supported(answer),
                    ),
                    None => (
                        "SELECT c.outbox_id, c.why FROM outbox_cancel c
                         JOIN outbox o ON o.id = c.outbox_id
                         WHERE o.state = 'superseded' AND instr(o.last_error, ?1) > 0",
                        "cancel_sm is turned off ([smsc] cancel_superseded = false)".to_string(),
                    ),
                };
                let now = now_ms();
                let rows: Vec<(i64, String)> = tx
                    .prepare_cached(sql)
                    .and_then(|mut s| {
                        s.query_map([crate::store::cancel::ASKED], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?
                        .collect()
                    })
                    .ctx("cancel::drop_all: rows")?;
                for (id, why) in rows {
                    record(tx, id, &RowEnd::kept(&why, answer.as_str()), now)?;
                }
                // A mark on a row still in flight stays: it is what withdraws the row if it
                // comes back unsent (`outbox::back_to_queue`), cancel or no cancel.
                tx.prepare_cached(
                    "DELETE FROM outbox_cancel WHERE NOT EXISTS (SELECT 1 FROM outbox o
                         WHERE o.id = outbox_cancel.outbox_id AND o.state = 'in_flight')",
                )
                .and_then(|mut s| s.execute([]))
                .ctx("cancel::drop_all")?;
                // Marks of rows in flight stay.
                pending(tx)
            })
            .await;
        match dropped {
            Ok(0) => None,
            Ok(_) => Some(now_ms() + IN_FLIGHT_WAIT_MS),
            Err(e) => {
                warn!(error = %e, "could not drop the cancel intents");
                Self::after_trouble()
            }
        }
    }

    /// One look: every due intent, one row at a time. Returns when to look again (Unix ms):
    /// when the next intent falls due, `None` when none is waiting or the link went down or
    /// sending was paused (the canceller looks again once it binds or resumes).
    async fn pass(&self, stop: &CancellationToken) -> Option<i64> {
        self.counts.looks.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        // Read before any cancel goes out: an answer that says the SMSC has no cancel_sm is
        // remembered for this bind, or for none if the link bound again meanwhile.
        let bind = self.bind_count();
        let smsc = self.link.bound_to();
        let list = match self.store.read(move |c| due(c, now, PASS_MAX)).await {
            Ok(list) => list,
            Err(e) => {
                warn!(error = %e, "could not read the cancel intents");
                return Self::after_trouble();
            }
        };
        let mut trouble = false;
        for d in list {
            // The link down or sending paused: looked at again once it binds or resumes.
            if stop.is_cancelled() || !self.link.is_bound() || self.pause.is_paused() {
                return None;
            }
            if self.unsupported_here().is_some() {
                break;
            }
            let end = if d.state == Some(OutboxState::InFlight) {
                // Its submit is out, unanswered: cancelled once accepted, withdrawn if it
                // comes back unsent or the dispatcher held back its parts not sent yet
                // (`outbox::back_to_queue`; then the parts taken are cancelled, the intent
                // due at once). Look again then.
                RowEnd::Wait {
                    at: now_ms() + IN_FLIGHT_WAIT_MS,
                }
            } else if d.cancellable() {
                let mut answers = Vec::new();
                for seg in d.segments.iter().filter(|s| !d.done.contains(&s.id)) {
                    let answer = match self.pdu(&d, seg) {
                        Ok(pdu) => Answer::classify_with(
                            &self.link.request_paced(pdu).await,
                            &self.link.temporary_statuses(),
                        ),
                        Err(why) => Answer::Refused(why),
                    };
                    self.counts.note(&answer);
                    if let Answer::Unsupported(text) = &answer {
                        self.learn_unsupported(bind, smsc.as_deref(), text).await;
                        answers.push((seg.id, answer));
                        break;
                    }
                    answers.push((seg.id, answer));
                }
                row_end(
                    &d.why,
                    d.tries,
                    d.done.clone(),
                    d.reached,
                    &answers,
                    now_ms(),
                )
            } else {
                RowEnd::Drop
            };
            match &end {
                RowEnd::Cancelled(why) => {
                    info!(outbox_id = d.outbox_id, %why, "message cancelled at the SMSC")
                }
                RowEnd::Kept { .. } => {
                    let why = end.kept_error().unwrap_or_default();
                    info!(outbox_id = d.outbox_id, %why, "message not cancelled")
                }
                _ => {}
            }
            let id = d.outbox_id;
            let recorded = self
                .store
                .write(move |tx| record(tx, id, &end, now_ms()))
                .await;
            if let Err(e) = recorded {
                warn!(outbox_id = id, error = %e, "could not record a cancel's outcome; it is tried again");
                trouble = true;
            }
        }
        if let Some(answer) = self.unsupported_here() {
            // The SMSC has no cancel_sm: the rest go unsent.
            return self.drop_all(Some(answer)).await;
        }
        if trouble {
            return Self::after_trouble();
        }
        match self.store.read(|c| next_due(c, now_ms())).await {
            Ok(next) => next,
            Err(e) => {
                warn!(error = %e, "could not read the cancel intents");
                Self::after_trouble()
            }
        }
    }

    /// The `cancel_sm` of segment `seg` of row `d`: its message id, the addresses it was
    /// submitted with, an empty service_type (SMPP 3.4 §4.9.1).
    fn pdu(&self, d: &Due, seg: &Segment) -> Result<Pdu, String> {
        let t = &self.template;
        let source = d.source.as_deref().unwrap_or(&t.source);
        let (dest_ton, dest_npi, dest) =
            destination_fields(&d.destination).map_err(|e| e.to_string())?;
        let message_id = COctetString::from_str(&seg.message_id)
            .map_err(|_| format!("message id {:?} unusable in cancel_sm", seg.message_id))?;
        let source = COctetString::from_str(source)
            .map_err(|_| format!("source address {source:?} unusable in cancel_sm"))?;
        Ok(Pdu::CancelSm(CancelSm::new(
            ServiceType::default(),
            message_id,
            Ton::from(t.source_ton),
            Npi::from(t.source_npi),
            source,
            dest_ton,
            dest_npi,
            dest,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::{self, NewMessage};
    use crate::store::{Store, StoreOptions};

    fn status(s: CommandStatus) -> Result<Command, LinkError> {
        Ok(Command::new(s, 1, Pdu::CancelSmResp))
    }

    #[test]
    fn answers_are_read_as_cancelled_too_late_refused_or_worth_another_try() {
        assert_eq!(
            Answer::classify(&status(CommandStatus::EsmeRok)),
            Answer::Cancelled
        );
        assert_eq!(
            Answer::classify(&status(CommandStatus::EsmeRcancelfail)),
            Answer::TooLate
        );
        assert_eq!(
            Answer::classify(&status(CommandStatus::EsmeRinvmsgid)),
            Answer::Refused("ESME_RINVMSGID (0x0000000C)".into())
        );
        assert!(matches!(
            Answer::classify(&status(CommandStatus::EsmeRthrottled)),
            Answer::Failed(_)
        ));
        assert!(matches!(
            Answer::classify(&Err(LinkError::Disconnected)),
            Answer::Failed(_)
        ));
        let counts = CancelCounts::default();
        counts.note(&Answer::TooLate);
        counts.note(&Answer::TooLate);
        assert_eq!(counts.get("too_late"), 2);
        assert_eq!(counts.get("cancelled"), 0);
    }

    /// A status the operator listed in `[smsc] temporary_statuses` (a carrier's vendor code
    /// for "busy now") is a passing refusal: the cancel is tried again. Before, the list was
    /// read only for submits, and such a cancel was refused for good. Unlisted, it is a
    /// refusal; a listed ESME_RINVCMDID is tried again too, not taken for an SMSC without
    /// cancel_sm.
    #[test]
    fn a_status_listed_as_temporary_is_tried_again() {
        let vendor = || status(CommandStatus::from(0x401));
        assert_eq!(
            Answer::classify_with(&vendor(), &[0x401]),
            Answer::Failed(status_text(CommandStatus::from(0x401)))
        );
        assert!(matches!(
            Answer::classify_with(&vendor(), &[0x40A]),
            Answer::Refused(_)
        ));
        assert!(matches!(Answer::classify(&vendor()), Answer::Refused(_)));
        assert!(matches!(
            Answer::classify_with(&status(CommandStatus::EsmeRinvcmdid), &[0x03]),
            Answer::Failed(_)
        ));
        assert_eq!(
            Answer::classify_with(&status(CommandStatus::EsmeRok), &[0x401]),
            Answer::Cancelled
        );
    }

    /// `ESME_RINVCMDID` in a cancel_sm_resp, or a `generic_nack` with any status but a
    /// passing one, says the SMSC does not do cancel_sm; before, they were refusals like any
    /// other (and every later supersession sent another cancel). The row stays `submitted`.
    #[test]
    fn an_smsc_without_cancel_sm_is_told_from_a_refusal() {
        let nack = |s: CommandStatus| -> Result<Command, LinkError> {
            Ok(Command::new(s, 1, Pdu::GenericNack))
        };
        assert_eq!(
            Answer::classify(&status(CommandStatus::EsmeRinvcmdid)),
            Answer::Unsupported("ESME_RINVCMDID (0x00000003)".into())
        );
        assert_eq!(
            Answer::classify(&nack(CommandStatus::EsmeRinvcmdid)),
            Answer::Unsupported("generic_nack ESME_RINVCMDID (0x00000003)".into())
        );
        assert_eq!(
            Answer::classify(&nack(CommandStatus::EsmeRinvcmdlen)),
            Answer::Unsupported("generic_nack ESME_RINVCMDLEN (0x00000002)".into())
        );
        assert!(matches!(
            Answer::classify(&nack(CommandStatus::EsmeRthrottled)),
            Answer::Failed(_)
        ));
        let counts = CancelCounts::default();
        counts.note(&Answer::Unsupported("x".into()));
        assert_eq!((counts.get("unsupported"), counts.get("refused")), (1, 0));
        assert_eq!(
            row_end(
                "superseded by outbox row 9",
                0,
                vec![],
                0,
                &[(1, Answer::Unsupported("ESME_RINVCMDID (0x00000003)".into()))],
                0
            ),
            RowEnd::kept(
                "superseded by outbox row 9",
                "the SMSC does not support cancel_sm (it answered ESME_RINVCMDID \
                 (0x00000003)); its receipt decides"
            )
        );
    }

    #[test]
    fn a_row_is_superseded_once_a_part_is_cancelled_and_kept_when_none_is() {
        let why = "superseded by outbox row 9";
        assert_eq!(
            row_end(why, 0, vec![], 0, &[(1, Answer::Cancelled)], 0),
            RowEnd::Cancelled("cancelled at the SMSC: superseded by outbox row 9".into())
        );
        assert_eq!(
            row_end(
                why,
                0,
                vec![],
                0,
                &[(1, Answer::Cancelled), (2, Answer::TooLate)],
                0
            ),
            RowEnd::Cancelled(
                "cancelled at the SMSC: superseded by outbox row 9 (1 part(s) had reached \
                 the handset already)"
                    .into()
            )
        );
        assert_eq!(
            row_end(why, 0, vec![], 0, &[(1, Answer::TooLate)], 0),
            RowEnd::kept(
                why,
                "the SMSC answered ESME_RCANCELFAIL (0x00000011): delivered or final already; \
                 its receipt decides"
            )
        );
        assert!(matches!(
            row_end(why, 0, vec![], 0, &[(1, Answer::Refused("x".into()))], 0),
            RowEnd::Kept { .. }
        ));
        assert_eq!(row_end(why, 0, vec![], 0, &[], 0), RowEnd::Drop);
    }

    /// On a real store: a newer message with its key asks for the cancel of the `submitted`
    /// row (not of a queued or delivered one), which lists its segment waiting for a receipt;
    /// a cancelled row is `superseded`, a refused one stays `submitted`; either way the
    /// intent goes, and a `DELIVRD` receipt that still comes makes the row `delivered`.
    #[test]
    fn intents_follow_supersession_and_a_late_delivered_receipt_is_honest() {
        use crate::store::outbox::{self, NewMessage, ReceiptState};
        use crate::store::{Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        let keyed = |body: &str| NewMessage {
            coalesce_key: Some("status:+861:+862".into()),
            ..NewMessage::sms("+8613900139000", body)
        };
        // Sent and accepted: `submitted`, message id "m-<id>".
        let submit = |store: &Store, body: &str, now: i64| -> i64 {
            let msg = keyed(body);
            store
                .write_blocking(move |tx| {
                    let id = outbox::enqueue(tx, &msg, now)?.id;
                    outbox::claim_due(tx, now, 10)?;
                    outbox::record_segment_submitted(tx, id, 1, 1, &format!("m-{id}"), now)?;
                    outbox::mark_submitted(tx, id, now)?;
                    Ok::<_, StoreError>(id)
                })
                .unwrap()
        };
        let state = |store: &Store, id: i64| {
            store
                .read_blocking(move |c| outbox::get(c, id))
                .unwrap()
                .map(|r| (r.state, r.last_error))
                .unwrap()
        };
        let delivered = |store: &Store, id: i64| {
            store
                .write_blocking(move |tx| {
                    outbox::apply_receipt(
                        tx,
                        &[format!("m-{id}")],
                        &[],
                        "DELIVRD",
                        ReceiptState::Delivered,
                        5,
                    )
                })
                .unwrap();
        };
        let a = submit(&store, "FREE", 1);
        assert_eq!(store.read_blocking(pending).unwrap(), 0);
        let b = submit(&store, "BUSY", 2);
        let due_now = store.read_blocking(|c| due(c, 2, 10)).unwrap();
        assert_eq!(due_now.len(), 1, "{due_now:?}");
        assert_eq!(due_now[0].outbox_id, a);
        assert_eq!(due_now[0].why, format!("superseded by outbox row {b}"));
        assert_eq!(
            due_now[0].segments,
            [Segment {
                id: due_now[0].segments[0].id,
                message_id: format!("m-{a}")
            }]
        );
        // A third message, queued only: B gets an intent, A keeps its one.
        let msg = keyed("AWAY");
        store
            .write_blocking(move |tx| outbox::enqueue(tx, &msg, 3))
            .unwrap();
        assert_eq!(store.read_blocking(pending).unwrap(), 2);
        let end = RowEnd::Cancelled("cancelled at the SMSC: x".into());
        store
            .write_blocking(move |tx| record(tx, a, &end, 4))
            .unwrap();
        assert_eq!(
            state(&store, a),
            (
                OutboxState::Superseded,
                Some("cancelled at the SMSC: x".into())
            )
        );
        let end = RowEnd::kept("w", "y");
        store
            .write_blocking(move |tx| record(tx, b, &end, 4))
            .unwrap();
        assert_eq!(
            state(&store, b),
            (OutboxState::Submitted, Some("not cancelled (w): y".into()))
        );
        assert_eq!(store.read_blocking(pending).unwrap(), 0);
        // The SMSC says delivered after all: it is.
        delivered(&store, a);
        delivered(&store, b);
        assert_eq!(state(&store, a).0, OutboxState::Delivered);
        assert_eq!(state(&store, b).0, OutboxState::Delivered);
        // A failure receipt for a cancelled message (DELETED) leaves it `superseded`.
        let f = submit(&store, "F", 5);
        let end = RowEnd::Cancelled("cancelled at the SMSC: z".into());
        store
            .write_blocking(move |tx| record(tx, f, &end, 5))
            .unwrap();
        store
            .write_blocking(move |tx| {
                outbox::apply_receipt(
                    tx,
                    &[format!("m-{f}")],
                    &[],
                    "DELETED",
                    ReceiptState::Failed,
                    5,
                )
            })
            .unwrap();
        assert_eq!(state(&store, f).0, OutboxState::Superseded);
        // A row delivered before its cancel went out drops the intent unsent.
        let c = submit(&store, "X", 6);
        let d = submit(&store, "Y", 7);
        delivered(&store, c);
        let due_now = store.read_blocking(|c| due(c, 8, 10)).unwrap();
        assert_eq!(due_now[0].state, Some(OutboxState::Delivered));
        assert!(due_now[0].segments.is_empty());
        // A withdrawal (STOP ALL: a pattern) asks for the submitted rows too (D, still out, and E).
        let e = submit(&store, "Z", 9);
        store
            .write_blocking(move |tx| {
                tx.execute("DELETE FROM outbox_cancel", [])
                    .map_err(StoreError::from)?;
                outbox::withdraw_queued(tx, "status:%:+862", "recipient sent STOP ALL", None, 10)
            })
            .unwrap();
        let due_now = store.read_blocking(|c| due(c, 10, 10)).unwrap();
        let asked: Vec<(i64, &str)> = due_now
            .iter()
            .map(|x| (x.outbox_id, x.why.as_str()))
            .collect();
        assert_eq!(
            asked,
            [
                (d, "recipient sent STOP ALL"),
                (e, "recipient sent STOP ALL")
            ]
        );
    }

    /// A two-part message whose first part reached the handset before the cancel (its
    /// receipt said DELIVRD) and whose second was cancelled: the row is `superseded` and its
    /// last error says a part had reached the handset. Before, it said only "cancelled at
    /// the SMSC", as if nothing had, while the handset held half the message.
    #[test]
    fn a_part_delivered_before_the_cancel_is_told_in_the_last_error() {
        use crate::store::outbox::{self, NewMessage, ReceiptState};
        use crate::store::{Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        let keyed = |body: &str| NewMessage {
            coalesce_key: Some("avatar:+861:+862".into()),
            ..NewMessage::sms("+8613900139000", body)
        };
        let old = keyed("two parts");
        let a = store
            .write_blocking(move |tx| {
                let id = outbox::enqueue(tx, &old, 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                outbox::record_segment_submitted(tx, id, 1, 2, "p1", 1)?;
                outbox::record_segment_submitted(tx, id, 2, 2, "p2", 1)?;
                outbox::mark_submitted(tx, id, 1)?;
                outbox::apply_receipt(
                    tx,
                    &["p1".to_string()],
                    &[],
                    "DELIVRD",
                    ReceiptState::Delivered,
                    2,
                )?;
                let newer = keyed("newer");
                outbox::enqueue(tx, &newer, 3)?;
                Ok::<_, StoreError>(id)
            })
            .unwrap();
        let due_now = store.read_blocking(|c| due(c, 3, 10)).unwrap();
        assert_eq!(due_now.len(), 1);
        let d = &due_now[0];
        assert_eq!((d.outbox_id, d.reached), (a, 1));
        assert_eq!(
            d.segments
                .iter()
                .map(|s| s.message_id.as_str())
                .collect::<Vec<_>>(),
            ["p2"]
        );
        let end = row_end(
            &d.why,
            d.tries,
            d.done.clone(),
            d.reached,
            &[(d.segments[0].id, Answer::Cancelled)],
            4,
        );
        store
            .write_blocking(move |tx| record(tx, a, &end, 4))
            .unwrap();
        let (state, why) = store
            .read_blocking(move |c| outbox::get(c, a))
            .unwrap()
            .map(|r| (r.state, r.last_error.unwrap_or_default()))
            .unwrap();
        assert_eq!(state, OutboxState::Superseded);
        assert!(
            why.ends_with("(1 part(s) had reached the handset already)"),
            "{why}"
        );
    }

    /// A row in flight when a newer message with its key comes gets no intent then (it is
    /// neither queued nor submitted); once its acceptance is recorded it does, whichever of
    /// the two was recorded first, and whether the newer one is still queued or accepted too.
    /// A row with no newer message gets none.
    #[test]
    fn a_row_superseded_in_flight_is_asked_for_once_submitted() {
        use crate::store::outbox::{self, NewMessage};
        use crate::store::{Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        let msg = |key: &str, body: &str| NewMessage {
            coalesce_key: Some(key.to_string()),
            ..NewMessage::sms("+8613900139000", body)
        };
        // Queue a message and claim every row due: in flight.
        let send = |store: &Store, key: &str, body: &str, now: i64| -> i64 {
            let m = msg(key, body);
            store
                .write_blocking(move |tx| {
                    let id = outbox::enqueue(tx, &m, now)?.id;
                    outbox::claim_due(tx, now, 10)?;
                    Ok::<_, StoreError>(id)
                })
                .unwrap()
        };
        let accepted = |store: &Store, id: i64, now: i64| {
            store
                .write_blocking(move |tx| {
                    outbox::record_segment_submitted(tx, id, 1, 1, &format!("m-{id}"), now)?;
                    outbox::mark_submitted(tx, id, now)
                })
                .unwrap()
        };
        let asked = |store: &Store| -> Vec<(i64, String)> {
            store
                .read_blocking(|c| due(c, i64::MAX, 100))
                .unwrap()
                .into_iter()
                .map(|d| (d.outbox_id, d.why))
                .collect()
        };
        // A in flight; B comes and stays queued; A is accepted.
        let a = send(&store, "k1", "FREE", 1);
        let b = {
            let m = msg("k1", "BUSY");
            store
                .write_blocking(move |tx| outbox::enqueue(tx, &m, 2))
                .unwrap()
        };
        assert!(!b.coalesced, "A was in flight");
        assert_eq!(asked(&store), [], "nothing to cancel yet");
        assert!(accepted(&store, a, 3));
        assert_eq!(
            asked(&store),
            [(a, format!("superseded by outbox row {}", b.id))]
        );
        store
            .write_blocking(|tx| {
                tx.execute("DELETE FROM outbox_cancel", [])
                    .map_err(StoreError::from)
            })
            .unwrap();
        // C in flight, D comes and goes in flight too; D is accepted first, then C.
        let c = send(&store, "k2", "FREE", 10);
        let d = send(&store, "k2", "BUSY", 11);
        assert!(accepted(&store, d, 12));
        assert!(asked(&store).is_empty());
        assert!(accepted(&store, c, 13));
        assert_eq!(
            asked(&store),
            [(c, format!("superseded by outbox row {d}"))]
        );
        store
            .write_blocking(|tx| {
                tx.execute("DELETE FROM outbox_cancel", [])
                    .map_err(StoreError::from)
            })
            .unwrap();
        // E in flight, F in flight; E is accepted first, then F.
        let e = send(&store, "k3", "FREE", 20);
        let f = send(&store, "k3", "BUSY", 21);
        assert!(accepted(&store, e, 22));
        assert!(asked(&store).is_empty());
        assert!(accepted(&store, f, 23));
        assert_eq!(
            asked(&store),
            [(e, format!("superseded by outbox row {f}"))]
        );
        // G alone with its key: accepted, nothing to cancel.
        let g = send(&store, "k4", "FREE", 30);
        assert!(accepted(&store, g, 31));
        assert_eq!(asked(&store).len(), 1);
    }

    /// The coalescing key of the tests of answered cancels.
    const KEY: &str = "status:+861:+862";

    /// A store on a fresh file holding row `a` (key [`KEY`]) accepted at `accepted_at`, then
    /// row `b` with that key written at `newer_at`: the store and both ids.
    fn accepted_then_newer(
        accepted_at: i64,
        newer_at: i64,
    ) -> (tempfile::TempDir, Store, i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        let a = store
            .write_blocking(move |tx| {
                let id = outbox::enqueue(tx, &keyed("FREE"), 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                outbox::record_segment_submitted(tx, id, 1, 1, "m-a", accepted_at)?;
                outbox::mark_submitted(tx, id, accepted_at)?;
                Ok::<_, StoreError>(id)
            })
            .unwrap();
        let b = store
            .write_blocking(move |tx| outbox::enqueue(tx, &keyed("BUSY"), newer_at))
            .unwrap()
            .id;
        (dir, store, a, b)
    }

    /// A message with key [`KEY`].
    fn keyed(body: &str) -> NewMessage {
        NewMessage {
            coalesce_key: Some(KEY.into()),
            ..NewMessage::sms("+8613900139000", body)
        }
    }

    /// The rows whose cancel is due.
    fn asked(store: &Store) -> Vec<i64> {
        store
            .read_blocking(|c| due(c, i64::MAX, 100))
            .unwrap()
            .into_iter()
            .map(|d| d.outbox_id)
            .collect()
    }

    /// The SMSC answers row `id`'s cancel: delivered already.
    fn too_late(store: &Store, id: i64) {
        let end = RowEnd::kept("w", "too late");
        store
            .write_blocking(move |tx| record(tx, id, &end, 3))
            .unwrap();
    }

    /// Row `b` is sent and accepted at `at`.
    fn accept(store: &Store, b: i64, at: i64) {
        store
            .write_blocking(move |tx| {
                outbox::claim_due(tx, at, 10)?;
                outbox::record_segment_submitted(tx, b, 1, 1, "m-b", at)?;
                outbox::mark_submitted(tx, b, at)
            })
            .unwrap();
    }

    /// A row accepted before a newer message with its key came is asked for once, when that
    /// message is written: once its cancel is answered and the row kept (refused, too late),
    /// the newer message's acceptance does not ask again. Before, it did, and the SMSC got a
    /// second cancel_sm for it whenever the first was answered before the newer message was
    /// accepted.
    #[test]
    fn a_cancel_answered_is_not_asked_again_when_the_newer_message_is_accepted() {
        let (_dir, store, a, b) = accepted_then_newer(1, 2);
        assert_eq!(asked(&store), [a]);
        too_late(&store, a);
        assert!(asked(&store).is_empty());
        accept(&store, b, 5);
        assert!(asked(&store).is_empty(), "asked once, answered once");
    }

    /// Once a row's cancel is answered without deleting it, nothing asks for it again while
    /// those submissions are all it has out (schema migration 28): not the newer message's
    /// acceptance when the older was accepted in the same millisecond as the newer was written
    /// (the time comparison cannot tell those apart: a second cancel_sm went, as a test saw
    /// under load), not a still newer message, not a withdrawal. A submission made after the
    /// answer (the row sent again) is asked for as before.
    #[test]
    fn a_cancel_answered_is_not_asked_again_by_anything_until_the_row_is_sent_again() {
        use crate::store::cancel::{supersede_submitted, withdraw_submitted, Withdrawn};
        // The newer message written in the millisecond the older was accepted.
        let (_dir, store, a, b) = accepted_then_newer(2, 2);
        assert_eq!(asked(&store), [a]);
        too_late(&store, a);
        assert!(asked(&store).is_empty());
        accept(&store, b, 5);
        assert!(asked(&store).is_empty(), "the newer one's acceptance");
        let c = store
            .write_blocking(move |tx| outbox::enqueue(tx, &keyed("AWAY"), 6))
            .unwrap()
            .id;
        assert_eq!(asked(&store), [b], "a still newer one asks for b only");
        too_late(&store, b);
        let again = store
            .write_blocking(move |tx| {
                Ok::<_, StoreError>(
                    withdraw_submitted(tx, Withdrawn::Key(KEY), "recipient sent STOP", 7)?
                        + supersede_submitted(tx, KEY, c, 7)?,
                )
            })
            .unwrap();
        assert_eq!(
            again, 0,
            "a withdrawal and a supersession count nothing asked"
        );
        assert!(asked(&store).is_empty());
        // Row a sent again (a new submission after the answer): asked for as before.
        store
            .write_blocking(move |tx| {
                outbox::record_segment_submitted(tx, a, 1, 1, "m-a2", 8)?;
                supersede_submitted(tx, KEY, c, 8)
            })
            .unwrap();
        assert_eq!(asked(&store), [a]);
    }

    /// A keyed three-part update in flight when its recipient sends STOP: the canceller looks
    /// while it is still in flight (its answer: wait and look again in a second), and before
    /// that is recorded the dispatcher ends the row withdrawn with part 1 taken, the intent
    /// due now and the canceller woken. The look's wait, recorded last, leaves the intent due:
    /// the parts taken are cancelled at the woken look, not a second later (before, the wait
    /// overwrote the due time, and the woken look found nothing due). A row still in flight
    /// does wait.
    #[test]
    fn a_wait_recorded_after_the_row_left_flight_leaves_its_intent_due() {
        use crate::store::outbox::{self, AcceptedSegment, Attempt, AttemptEnd, NewMessage};
        use crate::store::{Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        let keyed = |to: &str| NewMessage {
            coalesce_key: Some(format!("status:+8613800138000:{to}")),
            ..NewMessage::sms(to, "long")
        };
        let (first, second) = (keyed("+8613900139000"), keyed("+8613700137000"));
        let (a, b) = store
            .write_blocking(move |tx| {
                let a = outbox::enqueue(tx, &first, 1)?.id;
                let b = outbox::enqueue(tx, &second, 1)?.id;
                outbox::claim_due(tx, 1, 10)?;
                outbox::withdraw_queued(
                    tx,
                    "status:+8613800138000:%",
                    "recipient sent STOP",
                    None,
                    2,
                )?;
                Ok::<_, StoreError>((a, b))
            })
            .unwrap();
        let looked: Vec<(i64, Option<OutboxState>)> = store
            .read_blocking(|c| due(c, 2, 10))
            .unwrap()
            .into_iter()
            .map(|d| (d.outbox_id, d.state))
            .collect();
        assert_eq!(
            looked,
            [
                (a, Some(OutboxState::InFlight)),
                (b, Some(OutboxState::InFlight))
            ]
        );
        // The dispatcher: part 1 of row a taken, the rest held back.
        store
            .write_blocking(move |tx| {
                let held = Attempt {
                    outbox_id: a,
                    attempt: 1,
                    accepted: vec![AcceptedSegment {
                        seq: 1,
                        total: 3,
                        message_id: "m-a1".into(),
                    }],
                    end: AttemptEnd::Withdrawn,
                };
                for r in outbox::record_attempts(tx, &[held], None, 3)? {
                    r?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        // The canceller records what its look decided for both.
        for id in [a, b] {
            store
                .write_blocking(move |tx| record(tx, id, &RowEnd::Wait { at: 1_003 }, 3))
                .unwrap();
        }
        let now_due: Vec<(i64, String, Option<OutboxState>)> = store
            .read_blocking(|c| due(c, 3, 10))
            .unwrap()
            .into_iter()
            .map(|d| (d.outbox_id, d.why, d.state))
            .collect();
        assert_eq!(
            now_due,
            [(
                a,
                "recipient sent STOP; 2 of its 3 parts never sent".to_string(),
                Some(OutboxState::Superseded)
            )],
            "the withdrawn row's cancel is due now; the row in flight waits"
        );
        assert_eq!(store.read_blocking(|c| next_due(c, 3)).unwrap(), Some(3));
    }

    /// Two cancels got no answer and wait out their back-off (two seconds, and the longest,
    /// five minutes); then the wall clock is set back an hour. Both are due at once, not an
    /// hour and some seconds later, and the canceller's timer is set for now. With the clock
    /// as it was, the one waiting out the longest back-off keeps its wait.
    #[test]
    fn an_intent_set_before_the_clock_went_back_is_due_not_an_hour_later() {
        use crate::store::outbox::{self, NewMessage};
        use crate::store::{Store, StoreOptions};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), StoreOptions::default()).unwrap();
        const T: i64 = 1_796_624_795_000;
        const HOUR: i64 = 3_600_000;
        let keyed = |to: &str, body: &str| NewMessage {
            coalesce_key: Some(format!("status:+8613800138000:{to}")),
            ..NewMessage::sms(to, body)
        };
        let mut ids = Vec::new();
        for to in ["+8613900139000", "+8613700137000"] {
            let (older, newer) = (keyed(to, "FREE"), keyed(to, "BUSY"));
            ids.push(
                store
                    .write_blocking(move |tx| {
                        let id = outbox::enqueue(tx, &older, T)?.id;
                        outbox::claim_due(tx, T, 10)?;
                        outbox::record_segment_submitted(tx, id, 1, 1, &format!("m-{id}"), T)?;
                        outbox::mark_submitted(tx, id, T)?;
                        outbox::enqueue(tx, &newer, T + 1)?;
                        Ok::<_, StoreError>(id)
                    })
                    .unwrap(),
            );
        }
        let (first, second) = (ids[0], ids[1]);
        for (id, at) in [(first, T + 2_000), (second, T + 300_000)] {
            let end = RowEnd::Again { at, done: vec![] };
            store
                .write_blocking(move |tx| record(tx, id, &end, T))
                .unwrap();
        }
        let looked = |now: i64| -> Vec<i64> {
            store
                .read_blocking(move |c| due(c, now, 10))
                .unwrap()
                .into_iter()
                .map(|d| d.outbox_id)
                .collect()
        };
        // The clock as it was: neither due yet, the timer for the first.
        assert!(looked(T + 1).is_empty());
        assert_eq!(
            store.read_blocking(|c| next_due(c, T + 1)).unwrap(),
            Some(T + 2_000)
        );
        // Set back an hour.
        let back = T + 1 - HOUR;
        assert_eq!(looked(back), [first, second], "due at once");
        assert_eq!(
            store.read_blocking(move |c| next_due(c, back)).unwrap(),
            Some(back)
        );
        // The longest back-off, looked at as it was set: not due.
        assert_eq!(looked(T + 2_000), [first]);
    }

    /// A cancel that got no answer is tried again, with a growing back-off, keeping the parts
    /// already cancelled; after [`MAX_TRIES`] the row is kept, or superseded if a part went.
    #[test]
    fn an_unanswered_cancel_is_tried_again_then_given_up() {
        let why = "w";
        let failed = Answer::Failed("connection lost".into());
        assert_eq!(
            row_end(
                why,
                0,
                vec![],
                0,
                &[(1, Answer::Cancelled), (2, failed.clone())],
                100
            ),
            RowEnd::Again {
                at: 1_100,
                done: vec![1]
            }
        );
        assert_eq!(
            row_end(why, 3, vec![1], 0, &[(2, failed.clone())], 100),
            RowEnd::Again {
                at: 8_100,
                done: vec![1]
            }
        );
        assert_eq!(
            row_end(why, 12, vec![], 0, &[(2, failed.clone())], 0),
            RowEnd::kept(
                "w",
                "no answer to cancel_sm after 10 tries (connection lost)"
            )
        );
        assert_eq!(
            row_end(why, 9, vec![1], 0, &[(2, failed)], 0),
            RowEnd::Cancelled("cancelled at the SMSC: w".into())
        );
    }
}
