//! Operator tasks behind the CLI subcommands and the operator API: importing activity figures
//! from a carrier CSV, inspecting and retrying the outbox, and showing one subscriber. Plain
//! functions over the store, so the CLI, the HTTP API and the tests share them.

use std::io::Read;

use rusqlite::{Connection, OptionalExtension};

use crate::command::Msisdn;
use crate::service::avatar::{self, Activity, PresetTitle, MAX_TITLE_CHARS};
use crate::service::state;
use crate::store::{now_ms, outbox, Store, StoreError};

/// The header every activity CSV starts with.
pub const ACTIVITY_HEADER: [&str; 5] =
    ["msisdn", "call_minutes", "sms_sent", "tenure_days", "level"];

/// Rows written per transaction during an import.
const IMPORT_BATCH: usize = 2000;

/// Purge the outbox as [`outbox::purge`] says, [`outbox::PURGE_BATCH`] rows of each kind per
/// transaction (`batch`), until nothing is left: a gateway running on the same database waits
/// for one batch at a time, never for the whole purge. Returns how many rows went.
pub fn purge_outbox(
    store: &Store,
    older_than: i64,
    now: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let n = store.write_blocking(move |tx| outbox::purge(tx, older_than, now, batch.max(1)))?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

/// Rows one transaction of [`retry_failed`] takes back at most.
pub const RETRY_BATCH: usize = 1_000;

/// Queue the failed rows `filter` takes again, [`RETRY_BATCH`] (`batch`) a transaction, so
/// that a gateway running on the same database waits for one batch at a time. Returns how
/// many rows are queued again.
pub fn retry_failed(
    store: &Store,
    filter: &outbox::RetryFilter,
    now: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    retry_failed_counted(store, filter, now, batch).map(|r| r.queued)
}

/// [`retry_failed`], also counting the rows superseded instead of queued.
fn retry_failed_counted(
    store: &Store,
    filter: &outbox::RetryFilter,
    now: i64,
    batch: usize,
) -> Result<outbox::Retried, StoreError> {
    // Only rows that failed before now: one a running gateway fails again meanwhile is not
    // taken a second time (the command would never end).
    let filter = outbox::RetryFilter {
        failed_before: Some(filter.failed_before.map_or(now, |b| b.min(now))),
        ..filter.clone()
    };
    let (mut done, mut after) = (outbox::Retried::default(), 0);
    loop {
        let f = filter.clone();
        let (last, n) = store.write_blocking(move |tx| {
            outbox::retry_failed_matching(tx, &f, after, batch.max(1), now)
        })?;
        done.queued += n.queued;
        done.superseded += n.superseded;
        done.withdrawn += n.withdrawn;
        done.left_failed += n.left_failed;
        match last {
            Some(id) => after = id,
            None => return Ok(done),
        }
    }
}

/// Why a message an operator asked for (`outbox retry --id N`) was not queued again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRetried {
    /// No outbox row has this id: never queued, or purged since.
    NoSuchRow,
    /// The row is in this state, not `failed`: retry takes only failed rows.
    NotFailed(outbox::OutboxState),
    /// The row failed at this time (Unix ms), before the `--within-hours` window.
    FailedBefore(i64),
    /// A newer message with the same coalescing key (a later update to the same contact) is
    /// queued: this one was marked superseded instead of being sent again.
    Superseded,
    /// The row is failed, and was not taken: it failed at this time (Unix ms), not before the
    /// retry started (a running gateway failed it meanwhile, or this machine's clock is
    /// behind the one that wrote it).
    FailedSinceStart(i64),
    /// An avatar push whose owner set PRIVACY NOBODY or AVATAR OFF, or whose contact left the
    /// owner's groups, after it failed: withdrawn (`superseded`) instead of being sent again.
    Withdrawn(outbox::PushVeto),
    /// As [`Withdrawn`](Self::Withdrawn), but the SMSC had already taken a part of the push:
    /// it stays failed, neither sent on nor withdrawn (`superseded` would say nothing went
    /// out). Its segments' SMSC ids are in `outbox list`.
    LeftFailed(outbox::PushVeto),
}

impl std::fmt::Display for NotRetried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotRetried::NoSuchRow => f.write_str("no such message (never queued, or purged)"),
            NotRetried::NotFailed(s) => write!(
                f,
                "it is {}, not failed (retry takes only failed messages)",
                s.as_str()
            ),
            NotRetried::FailedBefore(at) => write!(
                f,
                "it failed at {} UTC, before the --within-hours window",
                crate::service::clock::Zone::UTC.timestamp(*at)
            ),
            NotRetried::Superseded => f.write_str(
                "a newer message with the same key is queued, so this one is now superseded",
            ),
            NotRetried::FailedSinceStart(at) => write!(
                f,
                "it failed at {} UTC, after this retry started (a running gateway, or a clock \
                 behind the gateway's): run the retry again",
                crate::service::clock::Zone::UTC.timestamp(*at)
            ),
            NotRetried::Withdrawn(v) => write!(
                f,
                "it is an avatar push and {} after it failed, so it is withdrawn (superseded), \
                 not sent",
                v.cause()
            ),
            NotRetried::LeftFailed(v) => write!(
                f,
                "it is an avatar push and {} after it failed, but the SMSC had already taken \
                 part of it, so it stays failed: not sent again, and not withdrawn as if \
                 nothing had gone out (its SMSC ids are in `outbox list`)",
                v.cause()
            ),
        }
    }
}

/// What [`retry_failed_explained`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Rows queued again.
    pub queued: usize,
    /// Failed rows taken and superseded instead of queued (a newer message with the same key
    /// is queued).
    pub superseded: usize,
    /// Failed avatar pushes taken and withdrawn instead of queued: their owner set PRIVACY
    /// NOBODY or AVATAR OFF, or their contact left the owner's groups, after they failed
    /// ([`NotRetried::Withdrawn`]).
    pub withdrawn: usize,
    /// Failed avatar pushes taken and left failed, as those withdrawn but with a part the SMSC
    /// had already taken ([`NotRetried::LeftFailed`]).
    pub left_failed: usize,
    /// The ids asked for (`filter.ids`) that were not queued again, with why, by id.
    pub not_retried: Vec<(i64, NotRetried)>,
    /// `failed` rows left once done (those the filter did not take).
    pub failed_left: u64,
}

/// [`retry_failed`], saying why each id asked for that was not queued again was not (read
/// before and after the retry; a row a running gateway sends at once counts as queued).
pub fn retry_failed_explained(
    store: &Store,
    filter: &outbox::RetryFilter,
    now: i64,
    batch: usize,
) -> Result<RetryReport, StoreError> {
    let mut ids = filter.ids.clone();
    ids.sort_unstable();
    ids.dedup();
    let states = |ids: Vec<i64>| {
        store.read_blocking(move |c| {
            ids.iter()
                .map(|&id| {
                    let row = outbox::get(c, id)?;
                    let veto = outbox::recorded_veto(c, id)?;
                    Ok((id, row.map(|r| (r.state, r.updated_at, veto))))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
    };
    let before = states(ids.clone())?;
    let done = retry_failed_counted(store, filter, now, batch)?;
    let after = states(ids)?;
    let since = filter.failed_since.unwrap_or(i64::MIN);
    let not_retried = before
        .into_iter()
        .zip(after)
        .filter_map(|((id, was), (_, is))| {
            use outbox::OutboxState::{Failed, Superseded};
            let why = match (was, is) {
                (None, _) => NotRetried::NoSuchRow,
                (Some((s, _, _)), _) if s != Failed => NotRetried::NotFailed(s),
                (Some((_, at, _)), _) if at < since => NotRetried::FailedBefore(at),
                // Withdrawn for a veto, or superseded by a newer row with its key: the row says
                // which (`push_veto`, schema 21).
                (_, Some((Superseded, _, veto))) => {
                    veto.map_or(NotRetried::Superseded, NotRetried::Withdrawn)
                }
                (_, None) => NotRetried::NoSuchRow,
                // Left failed for a veto by this retry (a retry that queues it clears it).
                (_, Some((Failed, _, Some(veto)))) => NotRetried::LeftFailed(veto),
                // Failed and untouched (a row taken and failed again since has a newer time).
                (Some((_, at, _)), Some((Failed, later, _))) if later == at => {
                    NotRetried::FailedSinceStart(at)
                }
                _ => return None,
            };
            Some((id, why))
        })
        .collect();
    let failed_left = store.read_blocking(outbox::counts_by_state)?.failed;
    Ok(RetryReport {
        queued: done.queued,
        superseded: done.superseded,
        withdrawn: done.withdrawn,
        left_failed: done.left_failed,
        not_retried,
        failed_left,
    })
}

/// The column heads of [`outbox_line`]'s lines. Times are UTC, as the logs are.
pub fn outbox_header() -> String {
    format!(
        "{:>8} {:<10} {:<8} {:<16} {:>5} {:<19} {:>14} {:>14}",
        "id", "state", "kind", "to", "tries", "created (UTC)", "changed", "next try"
    )
}

/// One `outbox list` line, under [`outbox_header`]: id, state, kind, destination, attempts;
/// when the row was created, when its state last changed and (queued rows only) when it is
/// next tried, in UTC; then `smsc ` and the SMSC's ids of its segments (to find it in the
/// carrier's records), and the last error (`earlier: ...` on a row that went out after all). The creation time is in full; the other two are the time of
/// day when on the same day, else `MM-DD HH:MM:SS`, so the columns stay 14 wide.
pub fn outbox_line(r: &outbox::OutboxRow, segments: &[outbox::SegmentRow]) -> String {
    let utc = crate::service::clock::Zone::UTC;
    let after_created = |at: i64| {
        let date = utc.date(at);
        if date == utc.date(r.created_at) {
            utc.time_of_day(at)
        } else {
            format!("{} {}", &date[5..], utc.time_of_day(at))
        }
    };
    let next = if r.state == outbox::OutboxState::Queued {
        after_created(r.next_attempt_at)
    } else {
        "-".to_string()
    };
    let ids: Vec<String> = segments
        .iter()
        .map(|s| format!("{}/{}:{}", s.seq, s.total, s.smsc_message_id_raw))
        .collect();
    let ids = if ids.is_empty() {
        String::new()
    } else {
        format!("smsc {}", ids.join(","))
    };
    // A row that went out after all (retried, or taken by the SMSC on a later try) keeps
    // the error of its earlier try: said as such, not as why it stands where it stands.
    let error = match (&r.last_error, r.state) {
        (
            Some(e),
            outbox::OutboxState::Delivered
            | outbox::OutboxState::Submitted
            | outbox::OutboxState::InFlight,
        ) => format!("earlier: {e}"),
        (e, _) => e.clone().unwrap_or_default(),
    };
    let tail = [ids, error]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = format!(
        "{:>8} {:<10} {:<8} {:<16} {:>5} {:<19} {:>14} {:>14}  {tail}",
        r.id,
        r.state.as_str(),
        r.kind.as_str(),
        r.destination,
        r.attempts,
        utc.timestamp(r.created_at),
        after_created(r.updated_at),
        next,
    );
    line.trim_end().to_string()
}

/// `outbox show`: everything the store holds about outbox row `id`, for an operator following
/// one message (a subscriber's "I never got it", an SMSC's record of an id): what it carries,
/// its state and times (UTC), each segment's submissions with the SMSC's id as given and the
/// receipt's `stat`, a pending `cancel_sm`, the last error. `None` if there is no such row.
pub fn outbox_detail(conn: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    let Some(r) = outbox::get(conn, id)? else {
        return Ok(None);
    };
    let utc = crate::service::clock::Zone::UTC;
    let mut out = format!(
        "outbox row {}: {} {} to {}{}\n",
        r.id,
        r.state.as_str(),
        r.kind.as_str(),
        r.destination,
        r.source
            .as_deref()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default()
    );
    let mut times = vec![
        format!("created {}", utc.timestamp(r.created_at)),
        format!("last change {}", utc.timestamp(r.updated_at)),
    ];
    if r.content_at != r.created_at {
        times.push(format!(
            "content replaced {} (a newer message with its key)",
            utc.timestamp(r.content_at)
        ));
    }
    if r.state == outbox::OutboxState::Queued {
        times.push(format!("next try {}", utc.timestamp(r.next_attempt_at)));
    }
    if let Some(e) = r.expires_at {
        times.push(format!("valid until {}", utc.timestamp(e)));
    }
    out.push_str(&format!("  {} (UTC)\n", times.join(", ")));
    out.push_str(&format!(
        "  attempts {}, priority {}{}\n",
        r.attempts,
        r.priority,
        r.coalesce_key
            .as_deref()
            .map(|k| format!(", coalescing key {k}"))
            .unwrap_or_default()
    ));
    if let Some(body) = &r.body {
        out.push_str(&format!("  text: {body:?}\n"));
    }
    if let Some(url) = &r.url {
        out.push_str(&format!("  link: {url}\n"));
    }
    if let Some(p) = &r.payload {
        out.push_str(&format!("  payload: {} bytes\n", p.len()));
    }
    let segments = outbox::segments(conn, id)?;
    if segments.is_empty() {
        out.push_str("  segments: none submitted\n");
    }
    for g in &segments {
        let receipt = g
            .receipt_stat
            .as_deref()
            .map_or("no receipt yet".to_string(), |s| format!("receipt {s}"));
        out.push_str(&format!(
            "  segment {}/{}: smsc id {} (try {}), {}, {}, submitted {}, changed {}\n",
            g.seq,
            g.total,
            g.smsc_message_id_raw,
            g.attempt,
            g.state.as_str(),
            receipt,
            utc.timestamp(g.submitted_at),
            utc.timestamp(g.updated_at),
        ));
    }
    let cancel: Option<(String, i64, i64)> = conn
        .prepare_cached("SELECT why, asked_at, tries FROM outbox_cancel WHERE outbox_id = ?1")
        .and_then(|mut s| {
            s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(StoreError::from)?;
    if let Some((why, asked, tries)) = cancel {
        out.push_str(&format!(
            "  cancel_sm pending: {why}, asked {}, {tries} tries so far\n",
            utc.timestamp(asked)
        ));
    }
    if let Some(e) = &r.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
    Ok(Some(out))
}

/// One CSV row that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows written.
    pub imported: u64,
    /// Rows skipped, with line numbers.
    pub bad: Vec<BadRow>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The CSV header is not the expected one.
    #[error("the CSV header must be {expected:?}, found {found:?}")]
    Header {
        /// The header expected.
        expected: String,
        /// The header found.
        found: String,
    },
    /// The CSV could not be read.
    #[error("cannot read the CSV: {0}")]
    Csv(#[from] csv::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// `inner` with each `\r\n` read as `\n` (a `\r` alone is kept), for the CSV files operators
/// save from spreadsheets: the csv reader counts the line of a `\r\n` only when it reads the
/// next record (rust-csv#395), so the line it gives each record of such a file, and each bad
/// row's line in the imports' reports, was one short.
struct CrlfAsLf<R> {
    inner: std::io::BufReader<R>,
    /// A `\r` ended the last bytes read: dropped if a `\n` comes next, else passed on.
    held_cr: bool,
    /// Where the line ends it passed on are, for [`LineIndex::line_at`].
    lines: std::rc::Rc<std::cell::RefCell<LineIndex>>,
}

impl<R: Read> CrlfAsLf<R> {
    fn new(inner: R) -> Self {
        Self {
            inner: std::io::BufReader::new(inner),
            held_cr: false,
            lines: Default::default(),
        }
    }
}

/// The line ends a [`CrlfAsLf`] passed on, by byte offset: the csv reader gives a record the
/// position it was at before it skipped the blank lines in front of it, so a record after a
/// blank line was named by the blank line's number.
#[derive(Debug, Default)]
struct LineIndex {
    /// Bytes passed on so far.
    passed: u64,
    /// The offsets of the `\n`s passed on and not yet behind a record.
    ends: std::collections::VecDeque<u64>,
    /// The `\n`s dropped from `ends`.
    behind: u64,
}

impl LineIndex {
    /// The line (1-based) of the record the csv reader placed at byte `at`: past the blank
    /// lines there. Offsets are asked in order.
    fn line_at(&mut self, at: u64) -> u64 {
        while self.ends.front().is_some_and(|&e| e < at) {
            self.ends.pop_front();
            self.behind += 1;
        }
        let blank = self
            .ends
            .iter()
            .zip(at..)
            .take_while(|(&e, b)| e == *b)
            .count() as u64;
        self.behind + blank + 1
    }
}

impl<R: Read> Read for CrlfAsLf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead as _;
        let mut n = 0;
        while n < out.len() {
            let data = self.inner.fill_buf()?;
            if data.is_empty() {
                if std::mem::take(&mut self.held_cr) {
                    out[n] = b'\r';
                    n += 1;
                }
                break;
            }
            if std::mem::take(&mut self.held_cr) && data[0] != b'\n' {
                out[n] = b'\r';
                n += 1;
                continue;
            }
            let mut used = 0;
            while used < data.len() && n < out.len() {
                let b = data[used];
                used += 1;
                match (b, data.get(used)) {
                    // Dropped: the `\n` after it is the line end.
                    (b'\r', Some(b'\n')) => {}
                    // Known only at the next read.
                    (b'\r', None) => self.held_cr = true,
                    _ => {
                        out[n] = b;
                        n += 1;
                    }
                }
            }
            // On to fill `out`: a reader handing out a few bytes at a time would otherwise
            // split the byte-order mark the csv reader looks for in its first read.
            self.inner.consume(used);
        }
        let mut lines = self.lines.borrow_mut();
        let start = lines.passed;
        for (i, _) in out[..n].iter().enumerate().filter(|(_, &b)| b == b'\n') {
            lines.ends.push_back(start + i as u64);
        }
        lines.passed += n as u64;
        Ok(n)
    }
}

/// Parse one activity record (without the header): the subscriber and figures, or why not.
pub fn parse_activity(fields: &[&str], country_code: &str) -> Result<(Msisdn, Activity), String> {
    if fields.len() != ACTIVITY_HEADER.len() {
        return Err(format!(
            "{} fields, expected {}",
            fields.len(),
            ACTIVITY_HEADER.len()
        ));
    }
    let msisdn = Msisdn::parse(fields[0], country_code).map_err(|e| e.to_string())?;
    let num = |i: usize| -> Result<u64, String> {
        let text = fields[i].trim();
        match text.parse::<u64>() {
            Ok(v) if v <= avatar::MAX_ACTIVITY_FIGURE => Ok(v),
            // All digits and still no figure: too large, not "not a whole number".
            _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                Err(avatar::too_large(ACTIVITY_HEADER[i], text))
            }
            _ => Err(format!(
                "{}: {:?} is not a whole number",
                ACTIVITY_HEADER[i], fields[i]
            )),
        }
    };
    Ok((
        msisdn,
        Activity {
            call_minutes: num(1)?,
            sms_sent: num(2)?,
            tenure_days: num(3)?,
            level: num(4)?,
        },
    ))
}

/// Import activity figures from CSV `input` (header `msisdn,call_minutes,sms_sent,tenure_days,
/// level`). Bad rows are reported with their line numbers and skipped; good rows are written in
/// batches (idempotent: importing the same file again writes the same values). `progress` is
/// called with the rows read so far after each batch.
pub fn import_activity_csv(
    store: &Store,
    input: impl Read,
    country_code: &str,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, AdminError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(CrlfAsLf::new(input));
    let index = rdr.get_ref().lines.clone();
    let line_of = |p: Option<&csv::Position>, read: u64| {
        p.map_or(read, |p| index.borrow_mut().line_at(p.byte()))
    };
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_lowercase).collect();
    if header != ACTIVITY_HEADER {
        return Err(AdminError::Header {
            expected: ACTIVITY_HEADER.join(","),
            found: header.join(","),
        });
    }
    let mut report = ImportReport::default();
    let mut batch: Vec<(String, Activity)> = Vec::with_capacity(IMPORT_BATCH);
    let mut read = 0u64;
    let flush = |batch: &mut Vec<(String, Activity)>| -> Result<(), StoreError> {
        let rows = std::mem::take(batch);
        let now = now_ms();
        store.write_blocking(move |tx| {
            for (m, a) in &rows {
                avatar::import_activity(tx, m, a, now)?;
            }
            Ok::<_, StoreError>(())
        })
    };
    for record in rdr.records() {
        read += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(e.position(), read + 1);
                report.bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = line_of(record.position(), read + 1);
        let fields: Vec<&str> = record.iter().collect();
        match parse_activity(&fields, country_code) {
            Ok((m, a)) => batch.push((m.as_str().to_string(), a)),
            Err(reason) => report.bad.push(BadRow { line, reason }),
        }
        if batch.len() >= IMPORT_BATCH {
            report.imported += batch.len() as u64;
            flush(&mut batch)?;
            progress(read);
        }
    }
    report.imported += batch.len() as u64;
    flush(&mut batch)?;
    progress(read);
    Ok(report)
}

/// What a preset import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresetReport {
    /// (id, titles, file name) of each preset imported.
    pub imported: Vec<(i64, PresetTitle, String)>,
    /// (file name, why) of each file refused.
    pub refused: Vec<(String, String)>,
    /// What was wrong with the folder's [`TITLES_FILE`] (each with its line where there is
    /// one); the presets concerned keep the titles their file names give.
    pub warnings: Vec<String>,
    /// The import was stopped before every file was read ([`import_presets_until`]): the
    /// files after the last one named above were not looked at.
    pub stopped: bool,
}

/// Id and title from a file name: `03-owl.png` -> (Some(3), "Owl"); `sunset.jpg` -> (None,
/// "Sunset").
pub fn preset_name(file_name: &str) -> (Option<i64>, String) {
    let stem = file_stem(file_name);
    let (id, rest) = match stem.split_once(['-', '_', ' ']) {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            (n.parse::<i64>().ok(), rest)
        }
        _ if stem.chars().all(|c| c.is_ascii_digit()) && !stem.is_empty() => {
            (stem.parse::<i64>().ok(), "")
        }
        _ => (None, stem),
    };
    let words = rest.replace(['-', '_'], " ");
    let mut title: String = words.trim().to_string();
    if let Some(first) = title.chars().next() {
        title = first.to_uppercase().collect::<String>() + &title[first.len_utf8()..];
    }
    if title.is_empty() {
        title = id.map_or_else(|| "Avatar".to_string(), |n| format!("Avatar {n}"));
    }
    (id, title.chars().take(MAX_TITLE_CHARS).collect())
}

pub use crate::service::avatar::MAX_PRESET_ID;

/// Why the number file `file_name` starts with (as [`preset_name`] reads one) can give no
/// preset: a subscriber chooses one by `AVATAR n`, n from 1 to [`MAX_PRESET_ID`], so preset 0
/// or one past that would be listed and never chosen; a number too long to read at all was
/// taken for none, and the picture numbered as a file without one.
pub fn unchoosable_number(file_name: &str) -> Option<String> {
    let stem = file_stem(file_name);
    let digits = match stem.split_once(['-', '_', ' ']) {
        Some((n, _)) => n,
        None => stem,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<i64>() {
        Ok(n) if (1..=MAX_PRESET_ID).contains(&n) => None,
        _ => Some(format!(
            "number {digits}: subscribers choose a preset by a number from 1 to {MAX_PRESET_ID} \
             (AVATAR n); rename the file"
        )),
    }
}

/// `03-owl.png` -> `03-owl`.
fn file_stem(file_name: &str) -> &str {
    file_name.rsplit_once('.').map_or(file_name, |(s, _)| s)
}

/// The optional file of a presets folder that gives each preset its titles, English and
/// Chinese (see [`read_titles`]).
pub const TITLES_FILE: &str = "titles.csv";

/// The header a [`TITLES_FILE`] starts with: which preset (its id, file name or file name
/// without the extension), its English title, its Chinese title.
pub const TITLES_HEADER: [&str; 3] = ["preset", "title", "title_zh"];

/// One row of a titles file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TitleRow {
    /// 1-based line (the header is line 1).
    line: u64,
    /// The key as written, for warnings.
    key: String,
    /// English title; `None`: the file name's.
    en: Option<String>,
    /// Chinese title; `None`: none.
    zh: Option<String>,
    /// A picture took it.
    used: bool,
    /// The line of the row naming the same picture by its file, which a picture takes first.
    shadowed_by: Option<u64>,
}

/// The titles a presets folder's [`TITLES_FILE`] gives, by preset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Titles {
    /// Rows naming a preset id (`3`, `03`).
    by_id: std::collections::HashMap<i64, TitleRow>,
    /// Rows naming a file, with or without its extension, lower-cased (`03-owl.png`,
    /// `03-owl`).
    by_name: std::collections::HashMap<String, TitleRow>,
}

impl Titles {
    /// The (English, Chinese) titles given for picture `file_name`, whose name gives it
    /// `id`: a row naming the file first, else one naming its id. A picture without a number
    /// in its name gets its id only when stored: ask with `None` before, then again with the
    /// id it got, which marks a row naming that id as taken (or as shadowed by the row naming
    /// the file); when no row names the file, the row naming that id gives its titles
    /// ([`Titles::titles_by_id`] says what they are inside the write that numbers it).
    pub fn take(
        &mut self,
        file_name: &str,
        id: Option<i64>,
    ) -> Option<(Option<String>, Option<String>)> {
        let lower = file_name.to_lowercase();
        let stem = file_stem(&lower).to_string();
        let by_name = [lower, stem]
            .into_iter()
            .find(|k| self.by_name.contains_key(k));
        let row = match by_name {
            Some(k) => {
                let row = self.by_name.get_mut(&k)?;
                // A row naming the picture's id too is left unused: say why.
                if let Some(by_id) = id.and_then(|id| self.by_id.get_mut(&id)) {
                    by_id.shadowed_by.get_or_insert(row.line);
                }
                row
            }
            None => id.and_then(|id| self.by_id.get_mut(&id))?,
        };
        row.used = true;
        Some((row.en.clone(), row.zh.clone()))
    }

    /// The titles of every row naming a preset id that no picture took yet, for a picture
    /// numbered as it is stored (see [`Titles::take`]).
    pub fn titles_by_id(&self) -> std::collections::HashMap<i64, (Option<String>, Option<String>)> {
        self.by_id
            .iter()
            .filter(|(_, r)| !r.used)
            .map(|(&id, r)| (id, (r.en.clone(), r.zh.clone())))
            .collect()
    }

    /// A warning for each row no imported picture took, in line order.
    pub fn unused(&self) -> Vec<String> {
        let mut rows: Vec<&TitleRow> = self
            .by_id
            .values()
            .chain(self.by_name.values())
            .filter(|r| !r.used)
            .collect();
        rows.sort_by_key(|r| r.line);
        rows.iter()
            .map(|r| match r.shadowed_by {
                Some(line) => format!(
                    "{TITLES_FILE} line {}: preset {:?} took its titles from line {line}, which names its file; the row is unused",
                    r.line, r.key
                ),
                None => format!(
                    "{TITLES_FILE} line {}: no picture imported as preset {:?}; the row is unused",
                    r.line, r.key
                ),
            })
            .collect()
    }

    /// How many rows were read.
    pub fn len(&self) -> usize {
        self.by_id.len() + self.by_name.len()
    }

    /// Whether no row was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A title cell: trimmed, `None` when empty; why not when it is too long or holds a control
/// character (a line break in an SMS list).
fn title_cell(column: &str, cell: Option<&str>) -> Result<Option<String>, String> {
    let t = cell.unwrap_or_default().trim();
    if t.is_empty() {
        return Ok(None);
    }
    let n = t.chars().count();
    if n > MAX_TITLE_CHARS {
        return Err(format!(
            "{column}: {t:?} has {n} characters, at most {MAX_TITLE_CHARS}"
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(format!(
            "{column}: {t:?} holds a line break or control character"
        ));
    }
    Ok(Some(t.to_string()))
}

/// Read a titles file ([`TITLES_FILE`], header [`TITLES_HEADER`], UTF-8, a byte-order mark
/// allowed): which preset each row is for (its id, or its file name with or without the
/// extension), its English title (empty: the file name's) and its Chinese title (empty:
/// none, Chinese replies show the English one).
///
/// Never fails, and returns the titles it could read with a warning for everything else: a
/// wrong header or unreadable file (no titles at all), and each bad row, by line (too many
/// fields, no preset, no title, a title over [`MAX_TITLE_CHARS`] characters, a preset named
/// twice, text that is not UTF-8). Why warnings and not an error: the titles are labels, the
/// pictures are the catalogue. On first start the import runs in the background of a
/// starting gateway, where an error would leave every subscriber with an empty catalogue
/// (or the gateway down) over a typo in one translation; the presets concerned keep the
/// titles their file names give, the warnings go to the log and to the output of `presets
/// import`, and the next import takes the corrected file.
pub fn read_titles(input: impl Read) -> (Titles, Vec<String>) {
    let mut titles = Titles::default();
    let mut warnings = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(CrlfAsLf::new(input));
    let index = rdr.get_ref().lines.clone();
    let line_of = |p: Option<&csv::Position>, read: u64| {
        p.map_or(read, |p| index.borrow_mut().line_at(p.byte()))
    };
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h
            // The csv reader drops a byte-order mark (Excel's "CSV UTF-8" writes one).
            .iter()
            .map(str::to_lowercase)
            .collect(),
        Err(e) => {
            warnings.push(format!(
                "{TITLES_FILE}: cannot read the header ({e}); save it as UTF-8 CSV. \
                 The file names give the titles"
            ));
            return (titles, warnings);
        }
    };
    if header != TITLES_HEADER {
        warnings.push(format!(
            "{TITLES_FILE}: the header must be {:?}, found {:?}; the file names give the titles",
            TITLES_HEADER.join(","),
            header.join(",")
        ));
        return (titles, warnings);
    }
    let mut read = 1u64;
    for record in rdr.records() {
        read += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = line_of(e.position(), read);
                let hint = if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    " (save the file as UTF-8)"
                } else {
                    ""
                };
                warnings.push(format!("{TITLES_FILE} line {line}: skipped: {e}{hint}"));
                continue;
            }
        };
        let line = line_of(record.position(), read);
        let skip = |why: String| format!("{TITLES_FILE} line {line}: skipped: {why}");
        if record.len() > TITLES_HEADER.len() {
            warnings.push(skip(format!(
                "{} fields, expected at most {} (quote a title that holds a comma)",
                record.len(),
                TITLES_HEADER.len()
            )));
            continue;
        }
        let key = record.get(0).unwrap_or_default().to_string();
        if key.is_empty() {
            warnings.push(skip("no preset named".into()));
            continue;
        }
        let (en, zh) = match (
            title_cell("title", record.get(1)),
            title_cell("title_zh", record.get(2)),
        ) {
            (Ok(en), Ok(zh)) => (en, zh),
            (Err(why), _) | (_, Err(why)) => {
                warnings.push(skip(why));
                continue;
            }
        };
        if en.is_none() && zh.is_none() {
            warnings.push(skip(format!("no title for preset {key:?}")));
            continue;
        }
        let row = TitleRow {
            line,
            key: key.clone(),
            en,
            zh,
            used: false,
            shadowed_by: None,
        };
        let earlier = if key.chars().all(|c| c.is_ascii_digit()) {
            match key.parse::<i64>() {
                Ok(id) => insert_once(&mut titles.by_id, id, row),
                Err(_) => {
                    warnings.push(skip(format!("{key:?} is not a preset id")));
                    continue;
                }
            }
        } else {
            insert_once(&mut titles.by_name, key.to_lowercase(), row)
        };
        if let Some(first) = earlier {
            warnings.push(skip(format!(
                "preset {key:?} was given on line {first} already"
            )));
        }
    }
    (titles, warnings)
}

/// Insert `row` under `key` unless a row is there already; returns that row's line.
fn insert_once<K: std::hash::Hash + Eq>(
    map: &mut std::collections::HashMap<K, TitleRow>,
    key: K,
    row: TitleRow,
) -> Option<u64> {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => Some(e.get().line),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(row);
            None
        }
    }
}

/// The titles of folder `dir`'s [`TITLES_FILE`] (none when it has none), with warnings as
/// [`read_titles`] gives them.
fn folder_titles(dir: &std::path::Path) -> (Titles, Vec<String>) {
    match std::fs::File::open(dir.join(TITLES_FILE)) {
        Ok(f) => read_titles(std::io::BufReader::new(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Titles::default(), Vec::new()),
        Err(e) => (
            Titles::default(),
            vec![format!(
                "{TITLES_FILE}: cannot open it ({e}); the file names give the titles"
            )],
        ),
    }
}

/// Import every picture in `dir` (sorted by name) into the preset catalogue: id and English
/// title from the file name, titles (English and Chinese) from the folder's [`TITLES_FILE`]
/// when it has one, rendered to every configured size and format. Files that are not
/// pictures the pipeline accepts, or cannot be read, are reported and skipped; what is wrong with the titles file
/// is reported in [`PresetReport::warnings`] and never stops the import (see
/// [`read_titles`]). Re-importing replaces presets by id, titles included. A file without a
/// number gets [`avatar::unnumbered_preset_id`]: its number from the last import, or one
/// above every number in use or named by the folder's files (a refused numbered file keeps
/// its number for when it is mended).
pub fn import_presets(
    store: &Store,
    dir: &std::path::Path,
    cfg: &crate::service::avatar::AvatarConfig,
) -> Result<PresetReport, std::io::Error> {
    import_presets_until(
        store,
        PresetFiles::Dir(dir),
        cfg,
        &tokio_util::sync::CancellationToken::new(),
    )
}

/// The files a preset import reads ([`import_presets_until`]).
#[derive(Debug, Clone, Copy)]
pub enum PresetFiles<'a> {
    /// Every file in this folder (read one at a time).
    Dir(&'a std::path::Path),
    /// These files, (name, contents), as a folder would hold them: the catalogue built into
    /// the binary, imported without writing it to a scratch folder first (one left behind by
    /// a gateway killed during its import stayed in the temp directory for good).
    Memory(&'a [(&'a str, &'a [u8])]),
}

/// One file of a [`PresetFiles`].
enum PresetFile<'a> {
    Path(std::path::PathBuf),
    Bytes(&'a [u8]),
}

impl PresetFile<'_> {
    fn read(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match self {
            PresetFile::Path(p) => std::fs::read(p).map(std::borrow::Cow::Owned),
            PresetFile::Bytes(b) => Ok(std::borrow::Cow::Borrowed(b)),
        }
    }
}

/// [`import_presets`] of `files` (a folder's, or held in memory), stopping before the next
/// file once `stop` is cancelled (the gateway's stop, for the default catalogue it loads on a
/// first start): each picture takes a fraction of a second to render, and a stop used to wait
/// for all of them. The report then says [`PresetReport::stopped`].
pub fn import_presets_until(
    store: &Store,
    files: PresetFiles<'_>,
    cfg: &crate::service::avatar::AvatarConfig,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<PresetReport, std::io::Error> {
    let (mut files, (mut titles, warnings)): (Vec<(String, PresetFile<'_>)>, _) = match files {
        PresetFiles::Dir(dir) => {
            let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            let files = paths
                .into_iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (name, PresetFile::Path(p))
                })
                .collect();
            (files, folder_titles(dir))
        }
        PresetFiles::Memory(list) => {
            let titles = match list.iter().find(|(name, _)| *name == TITLES_FILE) {
                Some((_, bytes)) => read_titles(*bytes),
                None => (Titles::default(), Vec::new()),
            };
            let files = list
                .iter()
                .map(|(name, bytes)| (name.to_string(), PresetFile::Bytes(bytes)))
                .collect();
            (files, titles)
        }
    };
    files.sort_by(|a, b| a.0.cmp(&b.0));
    // Operator files may be bigger than subscriber uploads.
    let limits = crate::images::Limits {
        max_bytes: 4 * 1024 * 1024,
        ..crate::images::Limits::default()
    };
    // Numbers no subscriber can choose are refused below: they hold no number for later.
    let named: std::collections::BTreeSet<i64> = files
        .iter()
        .filter(|(name, _)| unchoosable_number(name).is_none())
        .filter_map(|(name, _)| preset_name(name).0)
        .collect();
    let mut report = PresetReport {
        warnings,
        ..PresetReport::default()
    };
    for (name, file) in files {
        if stop.is_cancelled() {
            report.stopped = true;
            break;
        }
        if name.starts_with('.')
            || name.ends_with(".md")
            || name.ends_with(".txt")
            || name.eq_ignore_ascii_case(TITLES_FILE)
        {
            continue;
        }
        if let Some(why) = unchoosable_number(&name) {
            report.refused.push((name, why));
            continue;
        }
        // One file that cannot be read is refused by name, as a broken picture is: it
        // stopped the import, naming only the folder.
        let bytes = match file.read() {
            Ok(b) => b,
            Err(e) => {
                report.refused.push((name, format!("cannot read it: {e}")));
                continue;
            }
        };
        let processed = match crate::images::process(&bytes, &limits, &cfg.sizes) {
            Ok(p) => p,
            Err(e) => {
                report.refused.push((name, e.to_string()));
                continue;
            }
        };
        let (id, from_name) = preset_name(&name);
        let given = titles.take(&name, id);
        // A file without a number is numbered as it is stored: a row naming the number it
        // gets gives its titles when no row names the file (an operator writes the number
        // the last import listed for it).
        let by_id = (id.is_none() && given.is_none()).then(|| titles.titles_by_id());
        let title = match given {
            Some((en, zh)) => PresetTitle::new(en.unwrap_or_else(|| from_name.clone()), zh),
            None => PresetTitle::new(from_name.clone(), None),
        };
        let now = now_ms();
        let named = named.clone();
        let stored = store.write_blocking(move |tx| {
            let v = avatar::variants_of(&processed);
            let avatar_id = avatar::store_avatar(tx, &processed.source_sha256, &v, now)?;
            let (id, title) = match id {
                Some(id) => (id, title),
                None => {
                    let id = avatar::unnumbered_preset_id(tx, avatar_id, &named)?;
                    let title = match by_id.as_ref().and_then(|rows| rows.get(&id)) {
                        Some((en, zh)) => {
                            PresetTitle::new(en.clone().unwrap_or(from_name), zh.clone())
                        }
                        None => title,
                    };
                    (id, title)
                }
            };
            avatar::add_preset(tx, id, &title, avatar_id).map(|id| (id, title))
        });
        match stored {
            Ok((stored_id, title)) => {
                if id.is_none() {
                    // Marks the row naming the number it got as taken (or shadowed).
                    titles.take(&name, Some(stored_id));
                }
                report.imported.push((stored_id, title, name))
            }
            Err(e) => report.refused.push((name, e.to_string())),
        }
    }
    // Titles of files not reached are not unused.
    if !report.stopped {
        report.warnings.extend(titles.unused());
    }
    Ok(report)
}

/// A human-readable summary of one subscriber: settings, groups with statuses and members,
/// opt-outs, avatar, activity. For a number that has never texted the service, only its
/// imported activity figures, if any; `None` when there is neither.
pub fn subscriber_summary(conn: &Connection, msisdn: &str) -> Result<Option<String>, StoreError> {
    let Some(sub) = state::subscriber(conn, msisdn)? else {
        // Figures imported for someone who has not texted yet (`activity import`): shown, so
        // an operator checking an import sees what the number will be judged on.
        let imported: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM activity WHERE msisdn = ?1)")
            .and_then(|mut s| s.query_row([msisdn], |r| r.get(0)))
            .map_err(StoreError::from)?;
        if !imported {
            return Ok(None);
        }
        return Ok(Some(format!(
            "{msisdn} has never used the service\n{}",
            activity_line(conn, msisdn)?
        )));
    };
    let mut out = String::new();
    out.push_str(&format!("subscriber {}\n", sub.msisdn));
    out.push_str(&format!(
        "  name: {}\n  language: {}\n  privacy: {}\n  stop all: {}\n  network: {}\n",
        sub.display_name.as_deref().unwrap_or("(none)"),
        format!("{:?}", sub.lang).to_lowercase(),
        format!("{:?}", sub.privacy).to_lowercase(),
        sub.stop_all,
        sub.net_state.map_or("-", |c| c.code()),
    ));
    let counts = state::member_counts(conn, msisdn)?;
    out.push_str("  audiences:\n");
    for a in state::audiences(conn, msisdn)? {
        let shown = match &a.status.shown {
            crate::service::replies::Shown::Code(c) => c.code().to_string(),
            crate::service::replies::Shown::Text(t) => format!("{t:?}"),
        };
        let until = a
            .status
            .expires_at
            .map(|t| {
                let utc = crate::service::clock::Zone { offset_minutes: 0 };
                format!(" (until {} UTC)", utc.datetime(t))
            })
            .unwrap_or_default();
        let n = counts.get(&a.id).copied().unwrap_or(0);
        let noun = if n == 1 { "member " } else { "members" };
        out.push_str(&format!(
            "    {:<16} {n:>4} {noun}  sees {shown}{until}\n",
            a.name
        ));
        for m in state::members(conn, a.id, 0, 1000)? {
            out.push_str(&format!("      {m}\n"));
        }
    }
    let stops: Vec<(String, String)> = conn
        .prepare("SELECT owner, mode FROM optout WHERE member = ?1 ORDER BY owner")
        .and_then(|mut s| {
            s.query_map([msisdn], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(StoreError::from)?;
    for (owner, mode) in stops {
        out.push_str(&format!("  {mode} updates about {owner}\n"));
    }
    out.push_str(&format!("  avatar: {}\n", avatar_line(conn, msisdn)?));
    out.push_str(&activity_line(conn, msisdn)?);
    Ok(Some(out))
}

/// The `  activity: ...` line of [`subscriber_summary`].
fn activity_line(conn: &Connection, msisdn: &str) -> Result<String, StoreError> {
    let a = avatar::activity(conn, msisdn)?;
    Ok(format!(
        "  activity: {} call minutes, {} messages, {} days, level {}\n",
        a.call_minutes, a.sms_sent, a.tenure_days, a.level
    ))
}

/// `msisdn`'s avatar as an operator names it: the catalogue's preset number and titles (what
/// `AVATAR n` and the gallery show), an own picture, or none; never the internal row id.
fn avatar_line(conn: &Connection, msisdn: &str) -> Result<String, StoreError> {
    let chosen: Option<Option<i64>> = conn
        .prepare_cached("SELECT preset_id FROM subscriber_avatar WHERE msisdn = ?1")
        .and_then(|mut s| s.query_row([msisdn], |r| r.get(0)).optional())
        .map_err(StoreError::from)?;
    Ok(match chosen {
        None => "none".into(),
        Some(None) => "own picture (uploaded)".into(),
        Some(Some(id)) => match avatar::preset(conn, id)? {
            Some((_, title)) => match title.zh {
                Some(zh) => format!("preset {id} \"{}\" ({zh})", title.en),
                None => format!("preset {id} \"{}\"", title.en),
            },
            None => format!("preset {id} (no longer in the catalogue)"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    #[test]
    fn preset_names_give_id_and_title() {
        assert_eq!(preset_name("03-owl.png"), (Some(3), "Owl".to_string()));
        assert_eq!(
            preset_name("12_big-red_car.gif"),
            (Some(12), "Big red car".to_string())
        );
        assert_eq!(preset_name("sunset.jpg"), (None, "Sunset".to_string()));
        assert_eq!(preset_name("7.png"), (Some(7), "Avatar 7".to_string()));
        assert_eq!(preset_name("05-猫.png"), (Some(5), "猫".to_string()));
    }

    /// `subscriber show` printed `avatar: #1`, the avatar's internal row id, for a
    /// subscriber whose avatar is preset 23 (from the exploratory tester).
    #[test]
    fn a_subscribers_avatar_is_named_by_its_preset() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
        let lines = |store: &Store| {
            store
                .read_blocking(|c| {
                    let mut out = Vec::new();
                    for m in ["+8613800138000", "+8613900139000", "+8613700137000"] {
                        let text = subscriber_summary(c, m)?.unwrap_or_default();
                        let line = text.lines().find(|l| l.trim_start().starts_with("avatar:"));
                        out.push(line.unwrap_or("").trim().to_string());
                    }
                    Ok::<_, StoreError>(out)
                })
                .unwrap()
        };
        store
            .write_blocking(|tx| {
                for m in ["+8613800138000", "+8613900139000", "+8613700137000"] {
                    state::ensure_subscriber(tx, m, crate::command::Lang::En, 1)?;
                }
                tx.execute_batch(
                    "INSERT INTO avatar (id, source_sha256, created_at) VALUES (1, 'a', 1), (2, 'b', 1);
                     INSERT INTO preset (id, title, title_zh, avatar_id) VALUES (23, 'Owl', '猫头鹰', 1);",
                )?;
                avatar::set_avatar(tx, "+8613800138000", 1, Some(23), 1)?;
                avatar::set_avatar(tx, "+8613900139000", 2, None, 1)
            })
            .unwrap();
        assert_eq!(
            lines(&store),
            [
                "avatar: preset 23 \"Owl\" (猫头鹰)",
                "avatar: own picture (uploaded)",
                "avatar: none"
            ]
        );
        store.close_blocking();
    }

    /// `subscriber show` said "1 members" (from the exploratory tester).
    #[test]
    fn a_group_of_one_has_one_member() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
        let owner = "+8613800138000";
        store
            .write_blocking(|tx| {
                state::ensure_subscriber(tx, owner, crate::command::Lang::En, 1)?;
                let family = state::audiences(tx, owner)?[0].id;
                state::add_member(tx, family, owner, "+8613900139000", 1)
            })
            .unwrap();
        let text = store
            .read_blocking(|c| subscriber_summary(c, owner))
            .unwrap()
            .unwrap();
        let counts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("sees"))
            .map(|l| l.split("  sees").next().unwrap_or("").trim())
            .collect();
        assert_eq!(
            counts,
            [
                "FAMILY              1 member",
                "COLLEAGUES          0 members",
                "CLASSMATES          0 members",
                "FRIENDS             0 members",
                "OTHERS              0 members"
            ],
            "{text}"
        );
        store.close_blocking();
    }

    #[test]
    fn the_shipped_presets_import_and_a_bad_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
        let presets = dir.path().join("presets");
        std::fs::create_dir(&presets).unwrap();
        for name in ["01-cat.png", "02-dog.jpg", "03-owl.png"] {
            std::fs::copy(src.join(name), presets.join(name)).unwrap();
        }
        std::fs::write(presets.join("99-broken.png"), b"not a png").unwrap();
        std::fs::write(
            presets.join(TITLES_FILE),
            "preset,title,title_zh\n1,,猫\n02-dog,Puppy,\n03-owl.png,Owl,猫头鹰,x\n42,Nothing,无\n",
        )
        .unwrap();
        let store = Store::open(&dir.path().join("p.db"), StoreOptions::default()).unwrap();
        let cfg = crate::service::avatar::AvatarConfig {
            sizes: vec![48, 96],
            ..Default::default()
        };
        let r = import_presets(&store, &presets, &cfg).unwrap();
        assert_eq!(r.imported.len(), 3, "{r:?}");
        assert_eq!(r.refused.len(), 1, "the titles file is no picture: {r:?}");
        assert_eq!(r.refused[0].0, "99-broken.png");
        let titles: Vec<(&str, Option<&str>)> = r
            .imported
            .iter()
            .map(|(_, t, _)| (t.en.as_str(), t.zh.as_deref()))
            .collect();
        assert_eq!(
            titles,
            [("Cat", Some("猫")), ("Puppy", None), ("Owl", None)],
            "{r:?}"
        );
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].starts_with("titles.csv line 4: skipped"));
        assert!(r.warnings[1].starts_with("titles.csv line 5: no picture"));
        let stored = store.read_blocking(|c| avatar::presets(c, 0, 10)).unwrap();
        assert_eq!(
            stored[0].1,
            PresetTitle::new("Cat", Some("猫".into())),
            "{stored:?}"
        );
        let (count, variants) = store
            .read_blocking(|c| {
                Ok::<_, StoreError>((
                    avatar::preset_count(c)?,
                    c.query_row("SELECT count(*) FROM avatar_variant", [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                ))
            })
            .unwrap();
        assert_eq!(count, 3);
        assert_eq!(variants, 3 * 2 * 3, "3 presets x 2 sizes x 3 formats");
        // Importing again replaces by id: still 3.
        import_presets(&store, &presets, &cfg).unwrap();
        assert_eq!(store.read_blocking(avatar::preset_count).unwrap(), 3);
    }

    /// A fresh folder for `presets import`, a store beside it and avatar settings with one
    /// size (48), as the import tests use them.
    struct PresetFolder {
        _dir: tempfile::TempDir,
        presets: std::path::PathBuf,
        store: Store,
        cfg: crate::service::avatar::AvatarConfig,
    }

    impl PresetFolder {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let presets = dir.path().join("presets");
            std::fs::create_dir(&presets).unwrap();
            let store = Store::open(&dir.path().join("p.db"), StoreOptions::default()).unwrap();
            let cfg = crate::service::avatar::AvatarConfig {
                sizes: vec![48],
                ..Default::default()
            };
            PresetFolder {
                _dir: dir,
                presets,
                store,
                cfg,
            }
        }

        /// Copy the shipped picture `fixture` (fixtures/presets) into the folder as `name`.
        fn add(&self, fixture: &str, name: &str) {
            let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
            std::fs::copy(src.join(fixture), self.presets.join(name)).unwrap();
        }

        fn import(&self) -> PresetReport {
            import_presets(&self.store, &self.presets, &self.cfg).unwrap()
        }
    }

    /// What an import stored: (number, file name) in the report's order.
    fn imported_ids(r: &PresetReport) -> Vec<(i64, String)> {
        r.imported
            .iter()
            .map(|(id, _, f)| (*id, f.clone()))
            .collect()
    }

    /// A file whose number no subscriber can choose is refused, saying why: `00-zero.png`
    /// became preset 0, listed first by `AVATARS` ("0 Zero") while `AVATAR 0` is refused as no
    /// id; `4294967296-big.png` a preset past what `AVATAR n` reads; and a number too long
    /// for any id (`99999999999999999999-huge.png`) was dropped, the file imported as if it
    /// had none, under another number.
    #[test]
    fn a_file_numbered_as_no_subscriber_can_choose_is_refused() {
        let f = PresetFolder::new();
        for (from, to) in [
            ("01-cat.png", "00-zero.png"),
            ("02-dog.jpg", "0.jpg"),
            ("03-owl.png", "4294967296-big.png"),
            ("04-fish.gif", "99999999999999999999-huge.gif"),
            ("06-sunset.jpg", "sunset.jpg"),
        ] {
            f.add(from, to);
        }
        let r = f.import();
        let refused: Vec<&str> = r.refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            refused,
            [
                "0.jpg",
                "00-zero.png",
                "4294967296-big.png",
                "99999999999999999999-huge.gif"
            ],
            "{r:?}"
        );
        for (file, why) in &r.refused {
            assert!(
                why.contains("subscribers choose a preset by a number from 1 to 4294967295"),
                "{file}: {why}"
            );
        }
        // The file without a number is numbered above the choosable numbers only.
        assert_eq!(imported_ids(&r), [(1, "sunset.jpg".to_string())]);
        // The highest number a subscriber can choose is taken.
        f.add("05-flower.png", "4294967295-last.png");
        let r = f.import();
        assert_eq!(
            imported_ids(&r),
            [
                (4_294_967_295, "4294967295-last.png".to_string()),
                (1, "sunset.jpg".to_string())
            ]
        );
    }

    /// With the top number taken (`4294967295-last.png`), a file without a number got
    /// 4294967296, which no `AVATAR n` reads: the unnumbered files now take the lowest numbers
    /// neither a preset nor another file's.
    #[test]
    fn files_without_a_number_take_the_lowest_free_one_when_the_top_is_taken() {
        let f = PresetFolder::new();
        for (from, to) in [
            ("01-cat.png", "01-cat.png"),
            ("02-dog.jpg", "02-dog.jpg"),
            ("04-fish.gif", "04-fish.gif"),
            ("05-flower.png", "4294967295-last.png"),
            ("06-sunset.jpg", "sunset.jpg"),
            ("03-owl.png", "zebra.png"),
        ] {
            f.add(from, to);
        }
        let r = f.import();
        assert!(r.refused.is_empty(), "{r:?}");
        let mut ids = imported_ids(&r);
        ids.sort();
        let want: Vec<(i64, String)> = [
            (1, "01-cat.png"),
            (2, "02-dog.jpg"),
            (3, "sunset.jpg"),
            (4, "04-fish.gif"),
            (5, "zebra.png"),
            (MAX_PRESET_ID, "4294967295-last.png"),
        ]
        .into_iter()
        .map(|(id, f)| (id, f.to_string()))
        .collect();
        assert_eq!(ids, want);
        // Imported again, each keeps its number.
        let r = f.import();
        let mut again = imported_ids(&r);
        again.sort();
        assert_eq!(again, want);
    }

    /// A file of the folder that cannot be read (copied in with a mode the operator's user
    /// may not read; here a link to a file every read of which fails) is refused by name, as
    /// a broken picture is, and the others are imported: the import stopped at it with
    /// "reading DIR: Permission denied", naming no file, the pictures before it imported and
    /// not listed.
    #[test]
    fn a_file_that_cannot_be_read_is_refused_by_name_and_the_rest_imported() {
        let f = PresetFolder::new();
        for name in ["01-cat.png", "03-owl.png"] {
            f.add(name, name);
        }
        // A regular file whose every read fails (EIO), for root as for any user.
        std::os::unix::fs::symlink("/proc/self/mem", f.presets.join("02-dog.jpg")).unwrap();
        let r = f.import();
        let ids: Vec<i64> = r.imported.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids, [1, 3], "{r:?}");
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert_eq!(r.refused[0].0, "02-dog.jpg");
        assert!(r.refused[0].1.starts_with("cannot read it: "), "{r:?}");
    }

    /// From the exploratory tester: `kitten.png` took number 23 because `23-sunrise.png` was
    /// broken, and when the operator mended it and imported again, 23 became Sunrise and
    /// Kitten moved to 24, under the subscribers who had chosen it by its number.
    #[test]
    fn a_file_without_a_number_never_takes_a_numbered_files_and_keeps_its_own() {
        let f = PresetFolder::new();
        f.add("01-cat.png", "01-cat.png");
        std::fs::write(f.presets.join("02-dog.jpg"), b"not a jpeg yet").unwrap();
        f.add("03-owl.png", "kitten.png");
        let numbers = |store: &Store| -> Vec<(i64, String)> {
            store
                .read_blocking(|c| avatar::presets(c, 0, 10))
                .unwrap()
                .into_iter()
                .map(|(id, t)| (id, t.en))
                .collect()
        };
        let r = f.import();
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert_eq!(
            numbers(&f.store),
            [(1, "Cat".to_string()), (3, "Kitten".to_string())],
            "2 is the broken file's"
        );
        // Mended, imported again: the dog gets its number and the kitten keeps its own.
        f.add("02-dog.jpg", "02-dog.jpg");
        let r = f.import();
        assert!(r.refused.is_empty(), "{r:?}");
        assert_eq!(
            numbers(&f.store),
            [
                (1, "Cat".to_string()),
                (2, "Dog".to_string()),
                (3, "Kitten".to_string())
            ]
        );
        // A picture that is also a numbered file's keeps to its own number: a copy of the cat
        // without a number is a new preset, not preset 1 renamed.
        f.add("01-cat.png", "kitty.png");
        f.import();
        let now = numbers(&f.store);
        assert_eq!(now[0], (1, "Cat".to_string()), "{now:?}");
        assert_eq!(now.len(), 4, "{now:?}");
        assert_eq!(now[3].1, "Kitty", "{now:?}");
    }

    /// A picture without a number is numbered as it is stored (`kitten.png` becomes preset 2
    /// here), and an operator who saw that number in the import's output writes their titles row
    /// under it. The row was warned about as unused ("no picture imported as preset 2") and
    /// never applied, since only a row naming the file reached such a picture. It now gives
    /// the preset its titles; a row naming a number nothing got is still warned about, and
    /// so is the numbered row when another row names the file (that one wins).
    #[test]
    fn a_titles_row_for_the_number_a_file_without_one_gets_is_used() {
        let f = PresetFolder::new();
        f.add("01-cat.png", "01-cat.png");
        f.add("03-owl.png", "kitten.png");
        std::fs::write(
            f.presets.join(TITLES_FILE),
            "preset,title,title_zh\n2,Kitty,小猫\n77,Nothing,无\n",
        )
        .unwrap();
        let r = f.import();
        assert!(r.refused.is_empty(), "{r:?}");
        assert_eq!(
            r.warnings,
            ["titles.csv line 3: no picture imported as preset \"77\"; the row is unused"]
        );
        let stored = f
            .store
            .read_blocking(|c| avatar::presets(c, 0, 10))
            .unwrap();
        assert_eq!(
            stored,
            [
                (1, PresetTitle::new("Cat", None)),
                (2, PresetTitle::new("Kitty", Some("小猫".into())))
            ]
        );
        assert_eq!(
            r.imported[1].1, stored[1].1,
            "the report says what was stored"
        );
        // A row naming the file comes first; the numbered one is then unused, and says why.
        std::fs::write(
            f.presets.join(TITLES_FILE),
            "preset,title,title_zh\n2,Kitty,小猫\nkitten,Tabby,虎斑猫\n",
        )
        .unwrap();
        let r = f.import();
        assert_eq!(
            r.warnings,
            ["titles.csv line 2: preset \"2\" took its titles from line 3, which names its file; the row is unused"]
        );
        let stored = f
            .store
            .read_blocking(|c| avatar::presets(c, 0, 10))
            .unwrap();
        assert_eq!(
            stored[1],
            (2, PresetTitle::new("Tabby", Some("虎斑猫".into())))
        );
        f.store.close_blocking();
    }

    #[test]
    fn titles_are_read_by_id_file_name_or_stem_and_bad_rows_are_warned_about() {
        // With a byte-order mark and the header in capitals, as a spreadsheet may save it.
        let file = "\u{feff}Preset,Title,Title_ZH\n\
                    01-cat,,猫\n\
                    2,Puppy,小狗\n\
                    03-OWL.PNG,Owl,\"猫头鹰\"\n\
                    04-fish,Fish,鱼,extra\n\
                    ,Nobody,无\n\
                    05-flower,,\n\
                    06-sunset,Sunset,日日日日日日日日日日日日日日日日日日日日日\n\
                    01-cat,Kitty,小猫\n\
                    99999999999999999999,Big,大\n\
                    77,Unused,无用\n";
        let (mut titles, warnings) = read_titles(file.as_bytes());
        let lines: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            [5, 6, 7, 8, 9, 10].map(|n| format!("titles.csv line {n}")),
            "{warnings:#?}"
        );
        assert!(warnings[0].contains("4 fields"), "{}", warnings[0]);
        assert!(warnings[3].contains("at most 20"), "{}", warnings[3]);
        assert!(warnings[4].contains("line 2 already"), "{}", warnings[4]);
        assert_eq!(
            titles.take("01-cat.png", Some(1)),
            Some((None, Some("猫".into())))
        );
        assert_eq!(
            titles.take("02-dog.jpg", Some(2)),
            Some((Some("Puppy".into()), Some("小狗".into())))
        );
        assert_eq!(
            titles.take("03-owl.png", Some(3)),
            Some((Some("Owl".into()), Some("猫头鹰".into())))
        );
        assert_eq!(titles.take("04-fish.gif", Some(4)), None);
        assert_eq!(
            titles.unused(),
            ["titles.csv line 11: no picture imported as preset \"77\"; the row is unused"]
        );
    }

    #[test]
    fn a_row_naming_the_id_of_a_picture_another_row_names_by_file_says_which_line_won() {
        let file = "preset,title,title_zh\n03-owl,Owl,猫头鹰\n3,Hoot,鸮\n";
        let (mut titles, warnings) = read_titles(file.as_bytes());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            titles.take("03-owl.png", Some(3)),
            Some((Some("Owl".into()), Some("猫头鹰".into())))
        );
        assert_eq!(
            titles.unused(),
            ["titles.csv line 3: preset \"3\" took its titles from line 2, which names its file; the row is unused"]
        );
    }

    #[test]
    fn a_titles_file_that_cannot_be_read_gives_one_warning_and_no_titles() {
        for (file, says) in [
            (
                &b"id;english;chinese\n1;Kitty;cat\n"[..],
                "the header must be",
            ),
            (&b"preset,title\n1,Kitty\n"[..], "the header must be"),
            (&b""[..], "the header must be"),
            (
                &[0xff, 0xfe, 0, b'p', 0, b'r'][..],
                "cannot read the header",
            ),
        ] {
            let (titles, warnings) = read_titles(file);
            assert!(titles.is_empty(), "{file:?}");
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains(says), "{warnings:?}");
        }
        // A row in GBK (what Excel on a Chinese Windows saves): that row, with a hint.
        let (mut titles, warnings) = read_titles(
            &b"preset,title,title_zh\n1,Cat,\xc3\xa8\xb9\xb7\n2,Dog,\xe7\x8b\x97\n"[..],
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("titles.csv line 2") && warnings[0].contains("UTF-8"),
            "{warnings:?}"
        );
        assert_eq!(
            titles.take("02-dog.jpg", Some(2)),
            Some((Some("Dog".into()), Some("狗".into())))
        );
    }

    #[test]
    fn the_shipped_titles_give_every_shipped_preset_a_chinese_title() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
        let (mut titles, warnings) = folder_titles(&dir);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut pictures = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") || name == TITLES_FILE {
                continue;
            }
            pictures += 1;
            let (id, from_name) = preset_name(&name);
            let (en, zh) = titles.take(&name, id).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(en.as_deref(), Some(from_name.as_str()), "{name}");
            assert!(zh.is_some_and(|z| !z.is_ascii()), "{name}");
        }
        assert_eq!(pictures, 14);
        assert!(titles.unused().is_empty(), "{:?}", titles.unused());
    }

    /// A reader that hands out one byte a call: a `\r` is then always the last byte read.
    struct ByteAtATime<'a>(&'a [u8]);

    impl Read for ByteAtATime<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(out)) => {
                    *out = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// A file saved with Windows line ends (Excel's "CSV UTF-8": a byte-order mark and `\r\n`)
    /// names each bad row by the line it is on, as the same file with `\n` does: the csv
    /// reader counts a `\r\n` only when the next record is read (rust-csv#395), so every line
    /// number was one short and the operator mended the row above the bad one. A row after
    /// blank lines is named by its own line too, not by the first blank one (with `\n` line
    /// ends as well).
    #[test]
    fn a_file_with_windows_line_ends_names_the_same_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), StoreOptions::default()).unwrap();
        let csv = "\u{feff}msisdn,call_minutes,sms_sent,tenure_days,level\r\n\
                   13800138000,700,10,20,1\r\n\
                   not-a-number,1,2,3,4\r\n\
                   +8613900139000,1,2,3\r\n\
                   \r\n\
                   \r\n\
                   13700137000,5,6,7,x\r\n\
                   13600136000,\"1\r\n2\",6,7,1\r\n\
                   13500135000,1,1,1,1\r\n";
        let lines = |r: &ImportReport| r.bad.iter().map(|b| b.line).collect::<Vec<u64>>();
        let whole = import_activity_csv(&store, csv.as_bytes(), "86", |_| {}).unwrap();
        assert_eq!(lines(&whole), [3, 4, 7, 8], "{:?}", whole.bad);
        assert_eq!(whole.imported, 2);
        let bytes = import_activity_csv(&store, ByteAtATime(csv.as_bytes()), "86", |_| {}).unwrap();
        assert_eq!(lines(&bytes), [3, 4, 7, 8], "{:?}", bytes.bad);
        // A `\r` not before a `\n` is kept: read as a line end, as before.
        let cr = "msisdn,call_minutes,sms_sent,tenure_days,level\r13800138000,1,1,1,1\r";
        let r = import_activity_csv(&store, ByteAtATime(cr.as_bytes()), "86", |_| {}).unwrap();
        assert_eq!((r.imported, r.bad.len()), (1, 0), "{:?}", r.bad);

        // The titles of a presets folder, saved the same way.
        let titles = "Preset,Title,Title_ZH\n01-cat,,猫\n\n04-fish,Fish,鱼,extra\n,Nobody,无\n\
                      01-cat,Kitty,小猫\n\n\n77,Unused,无用\n";
        let warned = |text: &str, bytewise: bool| {
            let (mut t, mut w) = if bytewise {
                read_titles(ByteAtATime(text.as_bytes()))
            } else {
                read_titles(text.as_bytes())
            };
            t.take("01-cat.png", Some(1));
            w.extend(t.unused());
            w
        };
        let unix = warned(titles, false);
        let named: Vec<&str> = unix.iter().map(|w| w.split(':').next().unwrap()).collect();
        assert_eq!(
            named,
            [4, 5, 6, 9].map(|n| format!("titles.csv line {n}")),
            "{unix:#?}"
        );
        let windows = titles.replace('\n', "\r\n");
        assert_eq!(warned(&windows, false), unix);
        assert_eq!(warned(&windows, true), unix);
    }

    #[test]
    fn csv_import_keeps_good_rows_reports_bad_ones_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db"), StoreOptions::default()).unwrap();
        let csv = "msisdn,call_minutes,sms_sent,tenure_days,level\n\
                   13800138000,700,10,20,1\n\
                   not-a-number,1,2,3,4\n\
                   +8613900139000,1,2,3\n\
                   13700137000, 5 ,6,7,x\n\
                   008613600136000,0,0,400,0\n";
        let mut seen = Vec::new();
        let r = import_activity_csv(&store, csv.as_bytes(), "86", |n| seen.push(n)).unwrap();
        assert_eq!(r.imported, 2);
        let lines: Vec<u64> = r.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5], "{:?}", r.bad);
        assert!(r.bad[2].reason.contains("level"), "{:?}", r.bad[2]);
        assert_eq!(seen.last(), Some(&5));
        let again = import_activity_csv(&store, csv.as_bytes(), "86", |_| {}).unwrap();
        assert_eq!(again.imported, 2);
        let a = store
            .read_blocking(|c| avatar::activity(c, "+8613800138000"))
            .unwrap();
        assert_eq!(a.call_minutes, 700);
        let a = store
            .read_blocking(|c| avatar::activity(c, "+8613600136000"))
            .unwrap();
        assert_eq!(a.tenure_days, 400);
        let bad = import_activity_csv(&store, "number,minutes\n1,2\n".as_bytes(), "86", |_| {});
        assert!(matches!(bad, Err(AdminError::Header { .. })));
    }
}
