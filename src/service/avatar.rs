//! Caller avatars (issue 6; the seed patent CN101795260A): the operator's preset catalogue,
//! the activity thresholds that let a subscriber upload their own picture, one-time upload
//! tokens, each subscriber's choice, per-viewer download links, and the WAP Push (or SMS link)
//! that tells contacts to fetch the picture. SQL over the caller's transaction, like
//! [`super::state`]; image decoding lives in `crate::images`, HTTP in `crate::http`.
//!
//! # Links
//! A contact never gets a URL that names a number. Each (owner, viewer) pair has its own random
//! 128-bit token (`/a/<token>`): it cannot be guessed, and one viewer's link shows nothing to
//! another (the link is checked against the owner's PRIVACY and groups at every fetch, so a
//! removed contact's old link stops working).

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::state::{self, Subscriber};
use crate::command::{Lang, Privacy};
use crate::store::outbox::{self, NewMessage, PushVeto};
use crate::store::{Ctx, StoreError};

/// Upload thresholds: a subscriber may upload when ANY configured one is met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thresholds {
    /// Total call minutes.
    pub call_minutes: Option<u64>,
    /// Messages sent (imported plus counted live).
    pub sms_sent: Option<u64>,
    /// Days on the network.
    pub tenure_days: Option<u64>,
    /// User level.
    pub level: Option<u64>,
}

/// Settings of the avatar service.
#[derive(Debug, Clone)]
pub struct AvatarConfig {
    /// Base URL of our HTTP server as handsets reach it (`http://gw.example`).
    pub public_url: String,
    /// Upload gate.
    pub thresholds: Thresholds,
    /// How long an upload link lives.
    pub upload_ttl: Duration,
    /// Presets listed per `AVATARS` page.
    pub presets_per_page: usize,
    /// Square sizes rendered for every avatar, in pixels.
    pub sizes: Vec<u32>,
    /// Size served when the handset does not ask.
    pub default_size: u32,
    /// Largest upload accepted, bytes (checked before decoding).
    pub max_upload_bytes: usize,
    /// Largest width or height accepted, pixels.
    pub max_dimension: u32,
    /// Folder of default presets loaded on first start when the catalogue is empty.
    pub presets_dir: Option<std::path::PathBuf>,
    /// Handsets known not to take WAP Push (E.164): they get avatar links by SMS.
    pub sms_link_handsets: Vec<String>,
}

impl Default for AvatarConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            thresholds: Thresholds {
                call_minutes: Some(600),
                sms_sent: Some(300),
                tenure_days: Some(365),
                level: Some(3),
            },
            upload_ttl: Duration::from_secs(15 * 60),
            presets_per_page: 5,
            sizes: vec![48, 96, 128, 176],
            default_size: 96,
            max_upload_bytes: 100 * 1024,
            max_dimension: 4096,
            presets_dir: None,
            sms_link_handsets: Vec::new(),
        }
    }
}

/// One rendered variant to store.
#[derive(Debug, Clone, Copy)]
pub struct VariantIn<'a> {
    /// Square size in pixels.
    pub size: u32,
    /// `jpeg`, `png` or `gif`.
    pub format: &'a str,
    /// MIME type.
    pub content_type: &'a str,
    /// The encoded image.
    pub bytes: &'a [u8],
    /// SHA-256 of `bytes`, hex.
    pub sha256: &'a str,
}

/// A stored variant, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 hex (the ETag).
    pub sha256: String,
    /// Square size.
    pub size: u32,
}

/// A subscriber's activity figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Total call minutes.
    pub call_minutes: u64,
    /// Messages sent (imported + counted live).
    pub sms_sent: u64,
    /// Days on the network.
    pub tenure_days: u64,
    /// User level.
    pub level: u64,
}

/// The largest activity figure an import takes (`activity import`, `POST /api/v1/activity`):
/// far above any real count (a million years of call minutes), and far enough below the
/// store's 64-bit signed integers that the messages counted live never carry a sum past
/// them. A larger figure is a broken export, refused with its row instead of stored wrapped
/// round to a negative number (read as 0) or, at the top of the range, making the sum with
/// the live count unreadable (the subscriber's `AVATAR UPLOAD` failed).
pub const MAX_ACTIVITY_FIGURE: u64 = 1_000_000_000_000;

impl Activity {
    /// The figures by their names as the imports write them (`ACTIVITY_HEADER`'s columns).
    pub fn named(&self) -> [(&'static str, u64); 4] {
        [
            ("call_minutes", self.call_minutes),
            ("sms_sent", self.sms_sent),
            ("tenure_days", self.tenure_days),
            ("level", self.level),
        ]
    }

    /// Why an import refuses these figures: the first over [`MAX_ACTIVITY_FIGURE`], named.
    pub fn refused(&self) -> Option<String> {
        self.named()
            .into_iter()
            .find(|&(_, v)| v > MAX_ACTIVITY_FIGURE)
            .map(|(name, v)| too_large(name, &v.to_string()))
    }
}

/// Why activity figure `name`, written `value`, is refused: over [`MAX_ACTIVITY_FIGURE`].
pub fn too_large(name: &str, value: &str) -> String {
    format!("{name}: {value} is over the largest figure taken, {MAX_ACTIVITY_FIGURE}")
}

/// Which activity figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Call minutes.
    CallMinutes,
    /// Messages sent.
    SmsSent,
    /// Days on the network.
    TenureDays,
    /// User level.
    Level,
}

/// Not eligible: the closest threshold and how far away it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closest {
    /// Which figure.
    pub metric: Metric,
    /// The subscriber's value.
    pub have: u64,
    /// The threshold.
    pub need: u64,
}

/// Whether `a` meets any of `t`; otherwise the threshold closest to being met (by fraction
/// reached). `Err(None)` when no threshold is configured (uploads are off).
pub fn eligibility(a: &Activity, t: &Thresholds) -> Result<(), Option<Closest>> {
    let pairs = [
        (Metric::CallMinutes, a.call_minutes, t.call_minutes),
        (Metric::SmsSent, a.sms_sent, t.sms_sent),
        (Metric::TenureDays, a.tenure_days, t.tenure_days),
        (Metric::Level, a.level, t.level),
    ];
    let mut closest: Option<(f64, Closest)> = None;
    for (metric, have, need) in pairs {
        let Some(need) = need else { continue };
        if have >= need {
            return Ok(());
        }
        let frac = have as f64 / need.max(1) as f64;
        if closest.is_none_or(|(f, _)| frac > f) {
            closest = Some((frac, Closest { metric, have, need }));
        }
    }
    Err(closest.map(|(_, c)| c))
}

impl AvatarConfig {
    /// The image pipeline's limits for an upload.
    pub fn upload_limits(&self) -> crate::images::Limits {
        crate::images::Limits {
            max_bytes: self.max_upload_bytes,
            max_width: self.max_dimension,
            max_height: self.max_dimension,
            ..crate::images::Limits::default()
        }
    }
}

/// The rendered variants of a processed picture, ready for [`store_avatar`].
pub fn variants_of(p: &crate::images::Processed) -> Vec<VariantIn<'_>> {
    p.variants
        .iter()
        .map(|v| VariantIn {
            size: v.size,
            format: v.format.as_str(),
            content_type: v.content_type,
            bytes: &v.bytes,
            sha256: &v.sha256,
        })
        .collect()
}

/// Why the image pipeline refused a picture, in the words replies use.
pub fn rejection(e: &crate::images::ImageError, max_bytes: usize) -> super::replies::Rejected {
    use super::replies::Rejected;
    use crate::images::{ErrorKind, ImageError};
    match e.kind() {
        ErrorKind::TooLarge => Rejected::TooLarge(max_bytes / 1024),
        ErrorKind::UnsupportedFormat => Rejected::Format,
        ErrorKind::Empty => Rejected::Empty,
        ErrorKind::TooManyFrames => Rejected::Frames,
        // The limits the header broke, as the side of the largest square they take (a
        // picture within it passes them all). A decoder's memory limit names none.
        ErrorKind::DimensionsTooLarge => Rejected::Dimensions(match *e {
            ImageError::DimensionsTooLarge {
                max_width,
                max_height,
                max_pixels,
                ..
            } => {
                let side = u32::try_from(max_pixels.isqrt()).unwrap_or(u32::MAX);
                Some(max_width.min(max_height).min(side))
            }
            _ => None,
        }),
        ErrorKind::ResourceLimit => Rejected::Dimensions(None),
        _ => Rejected::Corrupt,
    }
}

/// A random URL-safe token with 128 bits of entropy.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Store a processed picture (blobs once per content); returns its avatar id (an identical
/// source picture returns the existing avatar).
pub fn store_avatar(
    tx: &Transaction<'_>,
    source_sha256: &str,
    variants: &[VariantIn<'_>],
    now: i64,
) -> Result<i64, StoreError> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM avatar WHERE source_sha256 = ?1")
        .and_then(|mut s| s.query_row([source_sha256], |r| r.get(0)).optional())
        .ctx("avatar::store: lookup")?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO avatar (source_sha256, created_at) VALUES (?1, ?2) RETURNING id",
        )
        .and_then(|mut s| s.query_row(params![source_sha256, now], |r| r.get(0)))
        .ctx("avatar::store: avatar")?;
    for v in variants {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO image_blob (sha256, content_type, bytes, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![v.sha256, v.content_type, v.bytes, now]))
        .ctx("avatar::store: blob")?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO avatar_variant (avatar_id, size, format, blob_sha256)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![id, v.size, v.format, v.sha256]))
        .ctx("avatar::store: variant")?;
    }
    Ok(id)
}

/// Longest preset title, in characters, English or Chinese: `AVATAR 3` answers `"Your avatar is
/// now 3 <title>."` in one SMS even in Chinese (70 UCS-2 characters), and five titles still fit
/// an `AVATARS` page.
pub const MAX_TITLE_CHARS: usize = 20;

/// A preset's titles: the English one (from the file name, or `titles.csv` in the presets
/// folder) and the Chinese one when the catalogue has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetTitle {
    /// The English title; also shown to Chinese subscribers when there is no Chinese one.
    pub en: String,
    /// The Chinese title, if the catalogue carries one.
    pub zh: Option<String>,
}

impl PresetTitle {
    /// Titles `en` and `zh`; an empty or blank Chinese title counts as none.
    pub fn new(en: impl Into<String>, zh: Option<String>) -> Self {
        Self {
            en: en.into(),
            zh: zh.filter(|z| !z.trim().is_empty()),
        }
    }

    /// The title a reply in `lang` shows: the Chinese one in Chinese when there is one, else
    /// the English one.
    pub fn in_lang(&self, lang: Lang) -> &str {
        match (lang, &self.zh) {
            (Lang::Zh, Some(zh)) => zh,
            _ => &self.en,
        }
    }
}

impl From<&str> for PresetTitle {
    /// An English title with no Chinese one.
    fn from(en: &str) -> Self {
        Self::new(en, None)
    }
}

/// The highest preset number a subscriber can choose (`AVATAR n` reads a 32-bit number).
pub const MAX_PRESET_ID: i64 = u32::MAX as i64;

/// Add (or replace) preset `id` with `title` (both languages; a replaced preset's Chinese
/// title goes when `title` has none); returns its id. The picture is in use
/// ([`note_used`]); one the preset showed before, if nobody shows it now, is noted as unused
/// ([`note_unused`]).
pub fn add_preset(
    tx: &Transaction<'_>,
    id: i64,
    title: &PresetTitle,
    avatar_id: i64,
) -> Result<i64, StoreError> {
    let old = preset(tx, id)?
        .map(|(old, _)| old)
        .filter(|&old| old != avatar_id);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO preset (id, title, title_zh, avatar_id) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![id, title.en, title.zh, avatar_id]))
    .ctx("avatar::add_preset")?;
    note_used(tx, avatar_id)?;
    if let Some(old) = old {
        note_unused(tx, old, crate::store::now_ms())?;
    }
    Ok(id)
}

/// The number a picture without one in its file name gets at import: the preset that shows
/// `avatar_id` already (the same picture imported before keeps its number), unless its number
/// is one of `named` (the numbers the folder's file names give: another file's); else the
/// next number above every preset and every one of `named`, so that a numbered file that
/// was refused this time (a broken file, mended later) does not find its number taken; or,
/// when [`MAX_PRESET_ID`] is taken, the lowest number neither a preset nor in `named`.
pub fn unnumbered_preset_id(
    conn: &Connection,
    avatar_id: i64,
    named: &std::collections::BTreeSet<i64>,
) -> Result<i64, StoreError> {
    let shown: Vec<i64> = conn
        .prepare_cached("SELECT id FROM preset WHERE avatar_id = ?1 ORDER BY id")
        .and_then(|mut s| s.query_map([avatar_id], |r| r.get(0))?.collect())
        .ctx("avatar::unnumbered_preset_id: same picture")?;
    if let Some(&id) = shown.iter().find(|id| !named.contains(id)) {
        return Ok(id);
    }
    let highest: i64 = conn
        .query_row("SELECT coalesce(max(id), 0) FROM preset", [], |r| r.get(0))
        .ctx("avatar::unnumbered_preset_id: highest")?;
    let above = highest.max(named.last().copied().unwrap_or(0)) + 1;
    if above <= MAX_PRESET_ID {
        return Ok(above);
    }
    // The top number is taken (a file numbered 4294967295): the lowest free one, as a number
    // above it could not be chosen by `AVATAR n`. Each query jumps over a whole run of taken
    // numbers (reading that run once), so the catalogue is read about once.
    let mut candidate = 1;
    while candidate <= MAX_PRESET_ID {
        if named.contains(&candidate) {
            candidate += 1;
            continue;
        }
        let run_end: Option<i64> = conn
            .prepare_cached(
                "SELECT min(p.id) FROM preset p WHERE p.id >= ?1
                   AND NOT EXISTS (SELECT 1 FROM preset q WHERE q.id = p.id + 1)
                   AND EXISTS (SELECT 1 FROM preset r WHERE r.id = ?1)",
            )
            .and_then(|mut s| s.query_row([candidate], |r| r.get(0)))
            .ctx("avatar::unnumbered_preset_id: free")?;
        match run_end {
            None => return Ok(candidate),
            Some(end) => candidate = end + 1,
        }
    }
    Err(StoreError::Failed {
        op: "numbering the preset",
        reason: format!("no number from 1 to {MAX_PRESET_ID} is free"),
    })
}

/// Number of presets.
pub fn preset_count(conn: &Connection) -> Result<usize, StoreError> {
    conn.query_row("SELECT count(*) FROM preset", [], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
        .ctx("avatar::preset_count")
}

/// One page of presets as (id, titles), by id.
pub fn presets(
    conn: &Connection,
    offset: usize,
    limit: usize,
) -> Result<Vec<(i64, PresetTitle)>, StoreError> {
    conn.prepare_cached("SELECT id, title, title_zh FROM preset ORDER BY id LIMIT ?1 OFFSET ?2")
        .and_then(|mut s| {
            s.query_map(params![limit as i64, offset as i64], |r| {
                Ok((
                    r.get(0)?,
                    PresetTitle::new(r.get::<_, String>(1)?, r.get(2)?),
                ))
            })?
            .collect()
        })
        .ctx("avatar::presets")
}

/// The avatar and titles of preset `id`.
pub fn preset(conn: &Connection, id: i64) -> Result<Option<(i64, PresetTitle)>, StoreError> {
    conn.prepare_cached("SELECT avatar_id, title, title_zh FROM preset WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    PresetTitle::new(r.get::<_, String>(1)?, r.get(2)?),
                ))
            })
            .optional()
        })
        .ctx("avatar::preset")
}

/// The `walk` row (schema 15: progress kept across restarts) that says the default preset
/// import of a first start began and has not finished.
const DEFAULT_IMPORT: &str = "default_presets";

/// Mark the default preset import begun ([`default_import_unfinished`] until
/// [`default_import_finished`]).
pub fn default_import_begun(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO walk (name, next_id) VALUES (?1, 0)",
        [DEFAULT_IMPORT],
    )
    .ctx("avatar::default_import_begun")?;
    Ok(())
}

/// Mark the default preset import finished: every file was read.
pub fn default_import_finished(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("DELETE FROM walk WHERE name = ?1", [DEFAULT_IMPORT])
        .ctx("avatar::default_import_finished")?;
    Ok(())
}

/// Whether a default preset import began and did not finish (a stop came first): the next
/// start runs it again (re-importing replaces presets by id, so the pictures already in are
/// not doubled).
pub fn default_import_unfinished(conn: &Connection) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM walk WHERE name = ?1)")
        .and_then(|mut s| s.query_row([DEFAULT_IMPORT], |r| r.get(0)))
        .ctx("avatar::default_import_unfinished")
}

/// Set `msisdn`'s avatar. When it replaces another, the owner is noted for retention
/// ([`note_stale`]): the downloads of the old picture say nothing any more; and the old
/// picture, if nobody shows it now, is noted as unused ([`note_unused`]). The picture set is
/// in use again if it was not ([`note_used`]: retention does not delete it). The choice's
/// time ([`chosen_at`]) is `now`, or a second past the previous choice's (or, after `AVATAR
/// OFF`, the removal's, while retention keeps it) when that is later (a clock stepped back,
/// two choices in one second): a picture's `Last-Modified` never matches a copy of the one
/// before.
pub fn set_avatar(
    tx: &Transaction<'_>,
    msisdn: &str,
    avatar_id: i64,
    preset_id: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let old = current(tx, msisdn)?.filter(|&old| old != avatar_id);
    if old.is_some() {
        note_stale(tx, msisdn, now)?;
    }
    tx.prepare_cached(
        "INSERT INTO subscriber_avatar (msisdn, avatar_id, preset_id, updated_at)
         VALUES (?1, ?2, ?3,
                 max(?4, coalesce((SELECT since + 1000 FROM avatar_stale WHERE owner = ?1), ?4)))
         ON CONFLICT (msisdn) DO UPDATE SET avatar_id = ?2, preset_id = ?3,
             updated_at = max(?4, updated_at + 1000)",
    )
    .and_then(|mut s| s.execute(params![msisdn, avatar_id, preset_id, now]))
    .ctx("avatar::set_avatar")?;
    note_used(tx, avatar_id)?;
    if let Some(old) = old {
        note_unused(tx, old, now)?;
    }
    Ok(())
}

/// Remove `msisdn`'s avatar at `now`; `false` if there was none. The owner is noted for
/// retention ([`note_stale`]): their links show nothing while they have no avatar; and so is
/// the picture, if nobody shows it now ([`note_unused`]).
pub fn clear_avatar(tx: &Transaction<'_>, msisdn: &str, now: i64) -> Result<bool, StoreError> {
    let old: Option<i64> = tx
        .prepare_cached("DELETE FROM subscriber_avatar WHERE msisdn = ?1 RETURNING avatar_id")
        .and_then(|mut s| s.query_row([msisdn], |r| r.get(0)).optional())
        .ctx("avatar::clear_avatar")?;
    if let Some(old) = old {
        note_stale(tx, msisdn, now)?;
        note_unused(tx, old, now)?;
    }
    Ok(old.is_some())
}

/// Picture `avatar_id` may have lost its last subscriber or preset at `now`: if no
/// `subscriber_avatar` and no `preset` row shows it, it goes in `avatar_orphan` (schema 29)
/// as unused since `now`, or keeps the earlier time it is there with (it has been unused
/// since then: [`note_used`] takes it out whenever it is shown again). Retention deletes it,
/// its variants and the blobs no other variant uses once that is older than
/// `[store] keep_days` (`store::retention`).
fn note_unused(tx: &Transaction<'_>, avatar_id: i64, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO avatar_orphan (avatar_id, since)
         SELECT ?1, ?2
         WHERE NOT EXISTS (SELECT 1 FROM subscriber_avatar WHERE avatar_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM preset WHERE avatar_id = ?1)",
    )
    .and_then(|mut s| s.execute(params![avatar_id, now]))
    .ctx("avatar::note_unused")?;
    Ok(())
}

/// Picture `avatar_id` is shown again (a subscriber picked it, the same upload or the same
/// preset, or a preset was given it before retention deleted it): it is no longer unused.
fn note_used(tx: &Transaction<'_>, avatar_id: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM avatar_orphan WHERE avatar_id = ?1")
        .and_then(|mut s| s.execute([avatar_id]))
        .ctx("avatar::note_used")?;
    Ok(())
}

/// `owner`'s avatar changed or went at `now`: once `[store] keep_days` have passed since the
/// last such change, retention deletes their downloads of pictures that are not their avatar
/// then, and, if they have none then, their links (`store::retention`, schema 25).
fn note_stale(tx: &Transaction<'_>, owner: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO avatar_stale (owner, since) VALUES (?1, ?2)
         ON CONFLICT (owner) DO UPDATE SET since = excluded.since",
    )
    .and_then(|mut s| s.execute(params![owner, now]))
    .ctx("avatar::note_stale")?;
    Ok(())
}

/// `msisdn`'s avatar id, if any.
pub fn current(conn: &Connection, msisdn: &str) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT avatar_id FROM subscriber_avatar WHERE msisdn = ?1")
        .and_then(|mut s| s.query_row([msisdn], |r| r.get(0)).optional())
        .ctx("avatar::current")
}

/// When `msisdn` chose the avatar they show (Unix ms; `None` without one). Each choice
/// writes it, the same picture chosen again too, and it never goes back while they keep an
/// avatar ([`set_avatar`]): downloads date the picture by it (`Last-Modified`).
pub fn chosen_at(conn: &Connection, msisdn: &str) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT updated_at FROM subscriber_avatar WHERE msisdn = ?1")
        .and_then(|mut s| s.query_row([msisdn], |r| r.get(0)).optional())
        .ctx("avatar::chosen_at")
}

/// `msisdn`'s avatar id and, when it was chosen from the catalogue, the preset id; `None`
/// without an avatar.
pub fn current_choice(
    conn: &Connection,
    msisdn: &str,
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    conn.prepare_cached("SELECT avatar_id, preset_id FROM subscriber_avatar WHERE msisdn = ?1")
        .and_then(|mut s| {
            s.query_row([msisdn], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("avatar::current_choice")
}

/// The variant of `avatar_id` in `format` closest to `size` (the smallest at least as big,
/// else the biggest). A WBMP (`wbmp`, for WAP 1.x handsets) is not stored: it is made from
/// the smallest PNG variant, whatever `size` ([`wbmp_variant`]).
pub fn variant(
    conn: &Connection,
    avatar_id: i64,
    size: u32,
    format: &str,
) -> Result<Option<Served>, StoreError> {
    if format == crate::images::OutputFormat::Wbmp.as_str() {
        return wbmp_variant(conn, avatar_id);
    }
    conn.prepare_cached(
        "SELECT b.content_type, b.bytes, b.sha256, v.size
         FROM avatar_variant v JOIN image_blob b ON b.sha256 = v.blob_sha256
         WHERE v.avatar_id = ?1 AND v.format = ?3
         ORDER BY (v.size < ?2), CASE WHEN v.size >= ?2 THEN v.size ELSE -v.size END
         LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![avatar_id, size, format], |r| {
            Ok(Served {
                content_type: r.get(0)?,
                bytes: r.get(1)?,
                sha256: r.get(2)?,
                size: r.get(3)?,
            })
        })
        .optional()
    })
    .ctx("avatar::variant")
}

/// The WBMP of `avatar_id`, dithered from its smallest PNG variant (48 pixels with the default
/// sizes: a WAP 1.x screen is about 96 pixels wide) by [`crate::images::wbmp`]; its ETag is
/// the SHA-256 of the WBMP's bytes. `None` without a PNG variant, or when the stored one no
/// longer decodes (logged).
pub fn wbmp_variant(conn: &Connection, avatar_id: i64) -> Result<Option<Served>, StoreError> {
    let Some(png) = variant(
        conn,
        avatar_id,
        1,
        crate::images::OutputFormat::Png.as_str(),
    )?
    else {
        return Ok(None);
    };
    match crate::images::wbmp::from_png(&png.bytes) {
        Ok(bytes) => Ok(Some(Served {
            content_type: crate::images::wbmp::CONTENT_TYPE.to_string(),
            sha256: crate::images::sha256_hex(&bytes),
            bytes,
            size: png.size,
        })),
        Err(e) => {
            tracing::warn!(avatar_id, error = %e, "a stored PNG variant does not decode: no WBMP");
            Ok(None)
        }
    }
}

/// The SHA-256 (ETag) of the variant [`variant`] would serve, without reading its bytes
/// (`None` for a WBMP, which is made when served).
pub fn variant_etag(
    conn: &Connection,
    avatar_id: i64,
    size: u32,
    format: &str,
) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(
        "SELECT v.blob_sha256 FROM avatar_variant v
         WHERE v.avatar_id = ?1 AND v.format = ?3
         ORDER BY (v.size < ?2), CASE WHEN v.size >= ?2 THEN v.size ELSE -v.size END
         LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![avatar_id, size, format], |r| r.get(0))
            .optional()
    })
    .ctx("avatar::variant_etag")
}

/// The (owner, viewer) link token, created on first use.
pub fn link_token(
    tx: &Transaction<'_>,
    owner: &str,
    viewer: &str,
    now: i64,
) -> Result<String, StoreError> {
    let found: Option<String> = tx
        .prepare_cached("SELECT token FROM avatar_link WHERE owner = ?1 AND viewer = ?2")
        .and_then(|mut s| s.query_row([owner, viewer], |r| r.get(0)).optional())
        .ctx("avatar::link_token: lookup")?;
    if let Some(t) = found {
        return Ok(t);
    }
    let token = random_token();
    tx.prepare_cached(
        "INSERT INTO avatar_link (token, owner, viewer, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![token, owner, viewer, now]))
    .ctx("avatar::link_token: insert")?;
    Ok(token)
}

/// Who a link token is for: (owner, viewer).
pub fn resolve_link(
    conn: &Connection,
    token: &str,
) -> Result<Option<(String, String)>, StoreError> {
    conn.prepare_cached("SELECT owner, viewer FROM avatar_link WHERE token = ?1")
        .and_then(|mut s| {
            s.query_row([token], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("avatar::resolve_link")
}

/// May `viewer` see `owner`'s avatar, by the owner's PRIVACY and groups (whether there is a
/// picture or not)? Read from [`outbox::push_veto`], the one rule of who sees a picture: no
/// veto that refuses the viewer ([`PushVeto::refuses_viewer`]). An owner the gateway does not
/// know refuses nobody (and has no picture).
pub fn may_view(conn: &Connection, owner: &str, viewer: &str) -> Result<bool, StoreError> {
    Ok(!outbox::push_veto(conn, owner, viewer)?.is_some_and(PushVeto::refuses_viewer))
}

/// The avatar (`avatar_id`) `viewer` is shown of `owner`'s, or the veto why none
/// ([`outbox::push_veto`], the one rule of who sees a picture; then the owner's current
/// avatar, read in the same transaction): what the avatar link, the sync API and WHO's photo
/// link show.
pub fn shown(
    conn: &Connection,
    owner: &str,
    viewer: &str,
) -> Result<Result<i64, PushVeto>, StoreError> {
    Ok(shown_chosen(conn, owner, viewer)?.map(|(id, _)| id))
}

/// [`shown`], with when the owner chose the picture ([`chosen_at`]), read in the same look-up:
/// what the avatar link dates its downloads by.
pub fn shown_chosen(
    conn: &Connection,
    owner: &str,
    viewer: &str,
) -> Result<Result<(i64, i64), PushVeto>, StoreError> {
    if let Some(veto) = outbox::push_veto(conn, owner, viewer)? {
        return Ok(Err(veto));
    }
    // No veto means the owner has an avatar; one removed in between reads as AVATAR OFF.
    let choice: Option<(i64, i64)> = conn
        .prepare_cached("SELECT avatar_id, updated_at FROM subscriber_avatar WHERE msisdn = ?1")
        .and_then(|mut s| {
            s.query_row([owner], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("avatar::shown")?;
    Ok(choice.ok_or(PushVeto::AvatarOff))
}

/// The link `viewer` uses to fetch `owner`'s avatar.
pub fn link_url(cfg: &AvatarConfig, token: &str) -> String {
    format!("{}/a/{token}", cfg.public_url.trim_end_matches('/'))
}

/// Whether handset `msisdn` takes WAP Push (unknown numbers are assumed to).
pub fn takes_wap_push(conn: &Connection, msisdn: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT wap_push FROM handset WHERE msisdn = ?1")
        .and_then(|mut s| s.query_row([msisdn], |r| r.get::<_, bool>(0)).optional())
        .map(|v| v.unwrap_or(true))
        .ctx("avatar::takes_wap_push")
}

/// Mark whether `msisdn`'s handset takes WAP Push (operator API).
pub fn set_wap_push(tx: &Transaction<'_>, msisdn: &str, on: bool) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO handset (msisdn, wap_push, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (msisdn) DO UPDATE SET wap_push = excluded.wap_push,
             updated_at = excluded.updated_at",
    )
    .and_then(|mut s| s.execute(params![msisdn, on, crate::store::now_ms()]))
    .ctx("avatar::set_wap_push")?;
    Ok(())
}

/// The coalescing key of `owner`'s avatar push to `member`.
pub fn push_key(owner: &str, member: &str) -> String {
    format!("avatar:{owner}:{member}")
}

/// Whether `viewer`'s handset has `owner`'s current avatar: the newest (by when its content
/// was written) of the owner's pushes to them that reached the SMSC or is on its way there
/// (`in_flight`, `submitted` or `delivered`; a queued one has not gone yet, a failed, expired
/// or withdrawn one never arrived), or the SMS link that replaced a refused push, carried
/// this picture. Delivered pushes whose outbox rows retention deleted count through
/// `avatar_delivered` (schema 20), and so does a download of the picture refused since the
/// newest push ([`note_refused`]: the handset has none), unless the handset downloaded the
/// current picture through its link ([`note_download`]): a refusal after that cannot take it
/// off the handset, any more than a push can. `false` when `owner` has no avatar or
/// was never pushed to `viewer` (by this version of the schema). Neither PRIVACY NOBODY nor leaving the owner's
/// groups takes a picture off a handset (a push cannot), so pushing it again only costs the
/// contact a message. A push in flight counts: pushing again beside it would send the
/// picture twice (a queued one is replaced in place by the next push instead).
pub fn sent_current(conn: &Connection, owner: &str, viewer: &str) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT coalesce((SELECT avatar_id FROM avatar_download WHERE owner = ?1 AND viewer = ?2)
                 = (SELECT avatar_id FROM subscriber_avatar WHERE msisdn = ?1), 0)
             OR coalesce((
             SELECT sent.avatar_id = (SELECT avatar_id FROM subscriber_avatar WHERE msisdn = ?1)
             FROM (SELECT p.avatar_id, o.content_at, o.id
                   FROM avatar_push p JOIN outbox o ON o.id = p.outbox_id
                   WHERE p.owner = ?1 AND p.viewer = ?2
                     AND (o.state = 'in_flight' OR o.state = 'submitted'
                          OR o.state = 'delivered')
                   UNION ALL
                   SELECT avatar_id, content_at, 0 FROM avatar_delivered
                   WHERE owner = ?1 AND viewer = ?2) AS sent
             ORDER BY sent.content_at DESC, sent.id DESC LIMIT 1), 0)",
    )
    .and_then(|mut s| s.query_row([owner, viewer], |r| r.get(0)))
    .ctx("avatar::sent_current")
}

/// The `avatar_id` [`note_refused`] records in `avatar_delivered`: no picture (avatar ids
/// start at 1).
pub const NO_PICTURE: i64 = 0;

/// `viewer`'s download of `owner`'s avatar was refused at `now` (403: PRIVACY, or the viewer
/// is in none of the owner's groups): the handset asked for the picture and did not get it,
/// so it no longer counts as having it ([`sent_current`]), and it is pushed the picture again
/// once it may see it (added back to a group, PRIVACY opened), unless it downloaded the
/// current picture through its link before ([`note_download`]): then it has it. Kept in `avatar_delivered` as
/// [`NO_PICTURE`] at `now`, newer than every push written before it (and than what retention
/// keeps of them); a push written later counts again. Nothing is recorded when the viewer may
/// see the picture again by now.
pub fn note_refused(
    tx: &Transaction<'_>,
    owner: &str,
    viewer: &str,
    now: i64,
) -> Result<(), StoreError> {
    if state::subscriber(tx, owner)?.is_none() || may_view(tx, owner, viewer)? {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO avatar_delivered (owner, viewer, avatar_id, content_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, viewer) DO UPDATE
             SET avatar_id = excluded.avatar_id, content_at = excluded.content_at
             WHERE excluded.content_at >= avatar_delivered.content_at",
    )
    .and_then(|mut s| s.execute(params![owner, viewer, NO_PICTURE, now]))
    .ctx("avatar::note_refused")?;
    Ok(())
}

/// The picture (`avatar_id`) `viewer`'s handset last downloaded of `owner`'s through its link
/// ([`note_download`]); `None` when it never did (by this version of the schema).
pub fn downloaded(conn: &Connection, owner: &str, viewer: &str) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT avatar_id FROM avatar_download WHERE owner = ?1 AND viewer = ?2")
        .and_then(|mut s| s.query_row([owner, viewer], |r| r.get(0)).optional())
        .ctx("avatar::downloaded")
}

/// `viewer`'s handset downloaded `owner`'s picture `avatar_id` through its link at `now`: the
/// link served it whole (200), or the handset showed it holds it (304). It has that picture
/// from then on ([`sent_current`]), whatever a later refused download says ([`note_refused`]),
/// until the owner's avatar is another.
pub fn note_download(
    tx: &Transaction<'_>,
    owner: &str,
    viewer: &str,
    avatar_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO avatar_download (owner, viewer, avatar_id, downloaded_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, viewer) DO UPDATE
             SET avatar_id = excluded.avatar_id, downloaded_at = excluded.downloaded_at",
    )
    .and_then(|mut s| s.execute(params![owner, viewer, avatar_id, now]))
    .ctx("avatar::note_download")?;
    Ok(())
}

/// Record that outbox row `outbox_id` pushes `owner`'s current avatar to `viewer` (replacing
/// what a coalesced row carried before).
fn note_push(
    tx: &Transaction<'_>,
    outbox_id: i64,
    owner: &str,
    viewer: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO avatar_push (outbox_id, owner, viewer, avatar_id)
         SELECT ?1, msisdn, ?3, avatar_id FROM subscriber_avatar WHERE msisdn = ?2",
    )
    .and_then(|mut s| s.execute(params![outbox_id, owner, viewer]))
    .ctx("avatar::note_push")?;
    Ok(())
}

/// Queue the avatar of `owner` to every contact allowed to see it and not opted out (`to`:
/// those of them; `None`: all of them), less, with `skip_sent`, those whose handset has it
/// already ([`sent_current`]): a WAP Push SI (`push_text(lang, url)` is its text, fitted to
/// the link `url` it goes with) or, for handsets
/// without WAP Push, an SMS from `sms_text(url)`. Keyed per (owner, contact) so a quick
/// second change replaces the first. Returns how many contacts were queued.
#[allow(clippy::too_many_arguments)]
pub fn push_to_contacts(
    tx: &Transaction<'_>,
    now: i64,
    owner: &Subscriber,
    cfg: &AvatarConfig,
    to: Option<Vec<String>>,
    skip_sent: bool,
    push_text: &dyn Fn(Option<crate::command::Lang>, &str) -> String,
    sms_text: &dyn Fn(Option<crate::command::Lang>, &str) -> String,
) -> Result<usize, StoreError> {
    if owner.privacy == Privacy::Nobody {
        return Ok(0);
    }
    let mut members: Vec<String> = match to {
        Some(to) => to,
        None => state::memberships(tx, &owner.msisdn)?.into_keys().collect(),
    };
    members.sort();
    let mut told = 0;
    for member in members {
        let (lang, stopped) = state::recipient(tx, &member, &owner.msisdn)?;
        if stopped || (skip_sent && sent_current(tx, &owner.msisdn, &member)?) {
            continue;
        }
        let token = link_token(tx, &owner.msisdn, &member, now)?;
        let url = link_url(cfg, &token);
        let msg = if takes_wap_push(tx, &member)? {
            NewMessage::wap_push(member.clone(), url.clone(), push_text(lang, &url))
        } else {
            NewMessage::sms(member.clone(), sms_text(lang, &url))
        };
        let msg = NewMessage {
            coalesce_key: Some(push_key(&owner.msisdn, &member)),
            ..msg
        };
        let row = outbox::enqueue(tx, &msg, now)?;
        note_push(tx, row.id, &owner.msisdn, &member)?;
        told += 1;
    }
    Ok(told)
}

/// A WAP Push to a contact failed (its delivery receipt said so): mark the handset as not
/// taking WAP Push and queue the same link as a plain SMS, with the push's coalescing key,
/// unless the push may no longer go to its contact ([`outbox::push_veto`]). Returns `true` when the
/// SMS was queued for row `outbox_id`. Rows of other kinds are left alone.
pub fn push_failed(tx: &Transaction<'_>, outbox_id: i64, now: i64) -> Result<bool, StoreError> {
    let Some(row) = outbox::get(tx, outbox_id)? else {
        return Ok(false);
    };
    let (outbox::MessageKind::WapPush, Some(url)) = (row.kind, row.url.as_deref()) else {
        return Ok(false);
    };
    // Only a handset that refused it (a receipt said so); a push the SMSC refused at submit,
    // or that gave up, says nothing about the handset.
    let by_receipt = row.state == outbox::OutboxState::Failed
        && row
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with(outbox::RECEIPT_FAILURE));
    if !by_receipt {
        return Ok(false);
    }
    // A push that may no longer go to its contact ([`outbox::push_veto`]: the owner set PRIVACY
    // NOBODY or AVATAR OFF, or the contact left every group, since it was sent) is not sent
    // again as an SMS; what the receipt says of the handset still counts.
    let pair = outbox::push_pair(tx, outbox_id)?;
    if let Some((owner, viewer)) = &pair {
        if outbox::push_veto(tx, owner, viewer)?.is_some() {
            set_wap_push(tx, &row.destination, false)?;
            return Ok(false);
        }
    }
    // Once per push, whatever number of receipts says it failed (an SMSC that redelivers
    // its receipt, every part of a two-part push): the failed row carries the mark.
    if !outbox::mark_failed_once(tx, outbox_id, FALLBACK_SENT, now)? {
        return Ok(false);
    }
    set_wap_push(tx, &row.destination, false)?;
    let text = fallback_text(tx, &row, pair.map(|(owner, _)| owner), url)?;
    // Keyed as the push was ([`push_key`]): a newer avatar change replaces it while it is
    // unsent, and it replaces a newer push still queued to the contact (which would be
    // refused too), as a STOP or PRIVACY NOBODY withdraws it.
    let msg = NewMessage {
        coalesce_key: row.coalesce_key.clone(),
        ..NewMessage::sms(row.destination.clone(), text)
    };
    let sms = outbox::enqueue(tx, &msg, now)?;
    // The SMS carries the picture the push did ([`sent_current`]); one that took the place
    // of a newer push keeps the newer picture (the link opens the owner's current one).
    tx.prepare_cached(
        "INSERT OR IGNORE INTO avatar_push (outbox_id, owner, viewer, avatar_id)
         SELECT ?1, owner, viewer, avatar_id FROM avatar_push WHERE outbox_id = ?2",
    )
    .and_then(|mut s| s.execute(params![sms.id, outbox_id]))
    .ctx("avatar::push_failed: record")?;
    Ok(true)
}

/// The text of the SMS that carries refused push `row`'s link: the SMS link a handset without
/// WAP Push gets ([`Text::AvatarLink`](super::replies::Text::AvatarLink), with the "Reply STOP"
/// line every unsolicited message to a contact carries), in the contact's language (else the
/// owner's), from the owner the push was for (`recorded`: schema 19's `avatar_push`, else the
/// push's coalescing key, [`push_key`]). A push that names no owner keeps its text, the link
/// after it.
fn fallback_text(
    tx: &Transaction<'_>,
    row: &outbox::OutboxRow,
    recorded: Option<String>,
    url: &str,
) -> Result<String, StoreError> {
    let owner = recorded.or_else(|| {
        let key = row.coalesce_key.as_deref()?.strip_prefix("avatar:")?;
        key.split_once(':').map(|(owner, _)| owner.to_string())
    });
    let Some(owner) = owner else {
        return Ok(format!(
            "{}: {url}",
            row.body.as_deref().unwrap_or_default()
        ));
    };
    let sub = state::subscriber(tx, &owner)?;
    let (lang, _) = state::recipient(tx, &row.destination, &owner)?;
    let lang = lang.or(sub.as_ref().map(|s| s.lang)).unwrap_or(Lang::En);
    Ok(super::replies::Text::AvatarLink {
        name: sub.and_then(|s| s.display_name),
        number: owner,
        url: url.to_string(),
    }
    .render(lang))
}

/// Appended to a failed WAP Push row's last error once its link went by SMS.
const FALLBACK_SENT: &str = " (link sent by SMS)";

/// Mark the configured numbers (`[avatar] sms_link_handsets`) as not taking WAP Push.
pub fn mark_sms_link_handsets(tx: &Transaction<'_>, numbers: &[String]) -> Result<(), StoreError> {
    for n in numbers {
        set_wap_push(tx, n, false)?;
    }
    Ok(())
}

/// A new one-time upload link token for `msisdn`.
pub fn create_upload(
    tx: &Transaction<'_>,
    msisdn: &str,
    now: i64,
    ttl: Duration,
) -> Result<String, StoreError> {
    let token = random_token();
    let expires = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    tx.prepare_cached(
        "INSERT INTO upload_token (token, msisdn, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![token, msisdn, now, expires]))
    .ctx("avatar::create_upload")?;
    Ok(token)
}

/// The state of an upload token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadToken {
    /// Valid; for this subscriber.
    Valid(String),
    /// Never issued.
    Unknown,
    /// Past its lifetime.
    Expired,
    /// Already used.
    Used,
}

/// Look up upload `token` at `now` without using it.
pub fn check_upload(conn: &Connection, token: &str, now: i64) -> Result<UploadToken, StoreError> {
    let row: Option<(String, i64, Option<i64>)> = conn
        .prepare_cached("SELECT msisdn, expires_at, used_at FROM upload_token WHERE token = ?1")
        .and_then(|mut s| {
            s.query_row([token], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("avatar::check_upload")?;
    Ok(match row {
        None => UploadToken::Unknown,
        Some((_, _, Some(_))) => UploadToken::Used,
        Some((_, exp, None)) if exp <= now => UploadToken::Expired,
        Some((m, _, None)) => UploadToken::Valid(m),
    })
}

/// The language of the subscriber upload `token` was issued to (the language of their replies),
/// whatever the token's state; `None` for a token never issued. The upload pages speak it.
pub fn upload_lang(conn: &Connection, token: &str) -> Result<Option<Lang>, StoreError> {
    let msisdn: Option<String> = conn
        .prepare_cached("SELECT msisdn FROM upload_token WHERE token = ?1")
        .and_then(|mut s| s.query_row([token], |r| r.get(0)).optional())
        .ctx("avatar::upload_lang")?;
    match msisdn {
        Some(m) => Ok(state::subscriber(conn, &m)?.map(|s| s.lang)),
        None => Ok(None),
    }
}

/// Use upload `token` (in the transaction that stores the upload): the subscriber, or why not.
pub fn use_upload(tx: &Transaction<'_>, token: &str, now: i64) -> Result<UploadToken, StoreError> {
    let state = check_upload(tx, token, now)?;
    if matches!(state, UploadToken::Valid(_)) {
        tx.execute(
            "UPDATE upload_token SET used_at = ?2 WHERE token = ?1",
            params![token, now],
        )
        .ctx("avatar::use_upload")?;
    }
    Ok(state)
}

/// Count one refused upload on `token`; returns how many it has refused so far (0 for a token
/// that does not exist).
pub fn note_refusal(tx: &Transaction<'_>, token: &str) -> Result<u32, StoreError> {
    tx.prepare_cached(
        "UPDATE upload_token SET refusals = refusals + 1 WHERE token = ?1 RETURNING refusals",
    )
    .and_then(|mut s| s.query_row([token], |r| r.get::<_, u32>(0)).optional())
    .map(Option::unwrap_or_default)
    .ctx("avatar::note_refusal")
}

/// `msisdn`'s activity (imported figures plus messages counted live).
pub fn activity(conn: &Connection, msisdn: &str) -> Result<Activity, StoreError> {
    conn.prepare_cached(
        "SELECT call_minutes, sms_sent, sms_live, tenure_days, level FROM activity WHERE msisdn = ?1",
    )
    .and_then(|mut s| {
        // Added here, not in SQL: a sum past SQLite's integers is a REAL, which no figure
        // reads as (a figure stored by an older import unchecked, see MAX_ACTIVITY_FIGURE).
        s.query_row([msisdn], |r| {
            let figure = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0).unsigned_abs());
            Ok(Activity {
                call_minutes: figure(0)?,
                sms_sent: figure(1)?.saturating_add(figure(2)?),
                tenure_days: figure(3)?,
                level: figure(4)?,
            })
        })
        .optional()
    })
    .map(Option::unwrap_or_default)
    .ctx("avatar::activity")
}

/// Count one MO message from `msisdn` towards `sms_sent`.
pub fn count_mo(tx: &Transaction<'_>, msisdn: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO activity (msisdn, sms_live, updated_at) VALUES (?1, 1, ?2)
         ON CONFLICT (msisdn) DO UPDATE SET sms_live = sms_live + 1, updated_at = ?2",
    )
    .and_then(|mut s| s.execute(params![msisdn, now]))
    .ctx("avatar::count_mo")?;
    Ok(())
}

/// Set imported figures for `msisdn` (idempotent: a re-import writes the same values; the
/// live count is kept).
pub fn import_activity(
    tx: &Transaction<'_>,
    msisdn: &str,
    a: &Activity,
    now: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO activity (msisdn, call_minutes, sms_sent, tenure_days, level, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (msisdn) DO UPDATE SET call_minutes = ?2, sms_sent = ?3, tenure_days = ?4,
             level = ?5, updated_at = ?6",
    )
    .and_then(|mut s| {
        // Checked by the imports (MAX_ACTIVITY_FIGURE); never wrapped round to negative.
        let figure = |v: u64| i64::try_from(v.min(MAX_ACTIVITY_FIGURE)).unwrap_or(i64::MAX);
        s.execute(params![
            msisdn,
            figure(a.call_minutes),
            figure(a.sms_sent),
            figure(a.tenure_days),
            figure(a.level),
            now
        ])
    })
    .ctx("avatar::import_activity")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_qualifies_else_the_closest_is_named() {
        let t = Thresholds {
            call_minutes: Some(600),
            sms_sent: Some(300),
            tenure_days: None,
            level: Some(3),
        };
        let a = Activity {
            call_minutes: 120,
            sms_sent: 270,
            tenure_days: 5000,
            level: 1,
        };
        assert_eq!(
            eligibility(&a, &t),
            Err(Some(Closest {
                metric: Metric::SmsSent,
                have: 270,
                need: 300
            }))
        );
        let a = Activity { level: 3, ..a };
        assert_eq!(eligibility(&a, &t), Ok(()));
        assert_eq!(eligibility(&a, &Thresholds::default()), Err(None));
    }

    /// The reply says what was wrong with the upload itself: a form sent without a file (a
    /// WAP browser posts an empty part when no file was chosen) is not a damaged file, and an
    /// animation of too many frames is not a picture too large in pixels (a 1x1 GIF of 1000
    /// frames was answered so).
    #[test]
    fn an_empty_upload_and_a_long_animation_are_refused_for_what_they_are() {
        use crate::images::ImageError;
        use crate::service::replies::Text;
        let said =
            |e: &ImageError, lang| Text::UploadRejected(rejection(e, 100 * 1024)).render(lang);
        let empty = ImageError::Empty;
        assert_eq!(
            said(&empty, Lang::En),
            "Picture not set: no picture came with the upload. Choose one and send it again."
        );
        assert_eq!(
            said(&empty, Lang::Zh),
            "头像未设置：没有收到图片。请选择图片后重新上传。"
        );
        let frames = ImageError::TooManyFrames {
            frames: 101,
            max: 100,
        };
        assert_eq!(
            said(&frames, Lang::En),
            "Picture not set: the animation has too many frames. Send a still picture."
        );
        assert_eq!(
            said(&frames, Lang::Zh),
            "头像未设置：动画帧数过多。请使用静态图片。"
        );
    }

    /// A picture too large in pixels is told the limit, as the side of the largest square the
    /// limits take (it said only "too large in pixels"); a decoder's memory limit names no
    /// figure.
    #[test]
    fn a_picture_too_large_in_pixels_is_told_the_largest_square_taken() {
        use crate::images::ImageError;
        use crate::service::replies::Text;
        let said =
            |e: &ImageError, lang| Text::UploadRejected(rejection(e, 100 * 1024)).render(lang);
        let big = |max_width, max_height, max_pixels| ImageError::DimensionsTooLarge {
            width: 5000,
            height: 5000,
            max_width,
            max_height,
            max_pixels,
        };
        let default = big(4096, 4096, 16 * 1024 * 1024);
        assert_eq!(
            said(&default, Lang::En),
            "Picture not set: it is too large in pixels (at most 4096 x 4096)."
        );
        assert_eq!(
            said(&default, Lang::Zh),
            "头像未设置：图片尺寸过大（最大4096x4096像素）。"
        );
        // Wider sides than the pixel count allows: the count decides.
        assert!(said(&big(8192, 8192, 16 * 1024 * 1024), Lang::En).contains("4096 x 4096"));
        assert!(said(&big(1000, 2000, u64::MAX), Lang::En).contains("1000 x 1000"));
        let memory = ImageError::ResourceLimit {
            reason: "too much".into(),
        };
        assert_eq!(
            said(&memory, Lang::En),
            "Picture not set: it is too large in pixels."
        );
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
