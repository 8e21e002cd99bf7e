//! Operator tasks behind the CLI subcommands and the operator API: importing activity figures
//! from a carrier CSV, inspecting and retrying the outbox, and showing one subscriber. Plain
//! functions over the store, so the CLI, the HTTP API and the tests share them.

use std::io::Read;

use rusqlite::Connection;

use crate::command::Msisdn;
use crate::service::avatar::{self, Activity};
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
    // Only rows that failed before now: one a running gateway fails again meanwhile is not
    // taken a second time (the command would never end).
    let filter = outbox::RetryFilter {
        failed_before: Some(filter.failed_before.map_or(now, |b| b.min(now))),
        ..filter.clone()
    };
    let (mut queued, mut after) = (0, 0);
    loop {
        let f = filter.clone();
        let (last, n) = store.write_blocking(move |tx| {
            outbox::retry_failed_matching(tx, &f, after, batch.max(1), now)
        })?;
        queued += n;
        match last {
            Some(id) => after = id,
            None => return Ok(queued),
        }
    }
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
        fields[i].trim().parse::<u64>().map_err(|_| {
            format!(
                "{}: {:?} is not a whole number",
                ACTIVITY_HEADER[i], fields[i]
            )
        })
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
        .from_reader(input);
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
                let line = e.position().map_or(read + 1, |p| p.line());
                report.bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(read + 1, |p| p.line());
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
    /// (id, title, file name) of each preset imported.
    pub imported: Vec<(i64, String, String)>,
    /// (file name, why) of each file refused.
    pub refused: Vec<(String, String)>,
}

/// Id and title from a file name: `03-owl.png` -> (Some(3), "Owl"); `sunset.jpg` -> (None,
/// "Sunset").
pub fn preset_name(file_name: &str) -> (Option<i64>, String) {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
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
    (id, title.chars().take(20).collect())
}

/// Import every picture in `dir` (sorted by name) into the preset catalogue: id and title from
/// the file name, rendered to every configured size and format. Files that are not pictures
/// the pipeline accepts are reported and skipped. Re-importing replaces presets by id.
pub fn import_presets(
    store: &Store,
    dir: &std::path::Path,
    cfg: &crate::service::avatar::AvatarConfig,
) -> Result<PresetReport, std::io::Error> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    // Operator files may be bigger than subscriber uploads.
    let limits = crate::images::Limits {
        max_bytes: 4 * 1024 * 1024,
        ..crate::images::Limits::default()
    };
    let mut report = PresetReport::default();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let processed = match crate::images::process(&bytes, &limits, &cfg.sizes) {
            Ok(p) => p,
            Err(e) => {
                report.refused.push((name, e.to_string()));
                continue;
            }
        };
        let (id, title) = preset_name(&name);
        let now = now_ms();
        let t = title.clone();
        let stored = store.write_blocking(move |tx| {
            let v = avatar::variants_of(&processed);
            let avatar_id = avatar::store_avatar(tx, &processed.source_sha256, &v, now)?;
            avatar::add_preset(tx, id, &t, avatar_id)
        });
        match stored {
            Ok(id) => report.imported.push((id, title, name)),
            Err(e) => report.refused.push((name, e.to_string())),
        }
    }
    Ok(report)
}

/// A human-readable summary of one subscriber: settings, groups with statuses and members,
/// opt-outs, avatar, activity.
pub fn subscriber_summary(conn: &Connection, msisdn: &str) -> Result<Option<String>, StoreError> {
    let Some(sub) = state::subscriber(conn, msisdn)? else {
        return Ok(None);
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
        out.push_str(&format!(
            "    {:<16} {:>4} members  sees {shown}{until}\n",
            a.name,
            counts.get(&a.id).copied().unwrap_or(0)
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
    match avatar::current(conn, msisdn)? {
        Some(id) => out.push_str(&format!("  avatar: #{id}\n")),
        None => out.push_str("  avatar: none\n"),
    }
    let a = avatar::activity(conn, msisdn)?;
    out.push_str(&format!(
        "  activity: {} call minutes, {} messages, {} days, level {}\n",
        a.call_minutes, a.sms_sent, a.tenure_days, a.level
    ));
    Ok(Some(out))
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

    #[test]
    fn the_shipped_presets_import_and_a_bad_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
        let presets = dir.path().join("presets");
        std::fs::create_dir(&presets).unwrap();
        let mut n = 0;
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("0") && n < 3 {
                std::fs::copy(&p, presets.join(&name)).unwrap();
                n += 1;
            }
        }
        std::fs::write(presets.join("99-broken.png"), b"not a png").unwrap();
        let store = Store::open(&dir.path().join("p.db"), StoreOptions::default()).unwrap();
        let cfg = crate::service::avatar::AvatarConfig {
            sizes: vec![48, 96],
            ..Default::default()
        };
        let r = import_presets(&store, &presets, &cfg).unwrap();
        assert_eq!(r.imported.len(), 3, "{r:?}");
        assert_eq!(r.refused.len(), 1);
        assert_eq!(r.refused[0].0, "99-broken.png");
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
