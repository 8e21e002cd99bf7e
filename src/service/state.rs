//! The status service's SQL: subscribers, audiences (built-in groups, user groups and OTHERS,
//! each holding the status it sees), memberships, opt-outs and the status-change log (schema
//! migration 2 in `store::schema`). Plain functions over a rusqlite connection or transaction,
//! so they run inside the one transaction that applies a command (DESIGN.md flow step 4).
//! Every statement is parameterised.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::replies::{Label, Shown};
use crate::command::{BuiltinGroup, GroupName, Lang, Privacy, StatusCode};
use crate::store::{Ctx, StoreError};

/// A subscriber's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// E.164 number.
    pub msisdn: String,
    /// NAME, if set.
    pub display_name: Option<String>,
    /// Reply language.
    pub lang: Lang,
    /// `LANG ZH` was chosen: replies stay Chinese whatever keywords a command uses, until
    /// `LANG EN`.
    pub lang_chosen: bool,
    /// STOP ALL is on.
    pub stop_all: bool,
    /// Who may fetch the avatar.
    pub privacy: Privacy,
    /// Network override (INCALL / OFF) every audience sees while set.
    pub net_state: Option<StatusCode>,
}

/// What an audience is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudienceKind {
    /// One of the four built-in groups.
    Builtin(BuiltinGroup),
    /// A group the subscriber made.
    User,
    /// Everyone in none of the groups.
    Others,
}

/// A status as stored: what is shown, when and in which order it was set, when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The status.
    pub shown: Shown,
    /// When it was set (Unix ms; 0 for the default).
    pub set_at: i64,
    /// Precedence among the owner's audiences: higher was set more recently.
    pub set_seq: i64,
    /// When it reverts (Unix ms).
    pub expires_at: Option<i64>,
}

impl Stored {
    /// The default status (STANDBY, never set).
    pub fn standby() -> Stored {
        Stored {
            shown: Shown::Code(StatusCode::Standby),
            set_at: 0,
            set_seq: 0,
            expires_at: None,
        }
    }
}

/// One audience of an owner with its status and the status it reverts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Row id.
    pub id: i64,
    /// Built-in, user or OTHERS.
    pub kind: AudienceKind,
    /// Canonical name (`FAMILY`, `WORK`, `OTHERS`).
    pub name: String,
    /// The current status.
    pub status: Stored,
    /// What it reverts to when `status` expires, nearest first: `prev[0]` when `status`
    /// expires, `prev[1]` when that one does, and so on; each entry expires later than the one
    /// before it, and the chain ends at a lasting status or is empty (then STANDBY).
    pub prev: Vec<Stored>,
}

impl Audience {
    /// How texts call it.
    pub fn label(&self) -> Label {
        match self.kind {
            AudienceKind::Builtin(g) => Label::Builtin(g),
            AudienceKind::User => Label::User(self.name.clone()),
            AudienceKind::Others => Label::Others,
        }
    }
}

/// The canonical stored name of a group.
pub fn group_key(g: &GroupName) -> String {
    match g {
        GroupName::Builtin(b) => b.en().to_string(),
        GroupName::User(u) => u.as_str().to_string(),
    }
}

/// How texts call a group.
pub fn group_label(g: &GroupName) -> Label {
    match g {
        GroupName::Builtin(b) => Label::Builtin(*b),
        GroupName::User(u) => Label::User(u.as_str().to_string()),
    }
}

fn lang_str(l: Lang) -> &'static str {
    match l {
        Lang::En => "en",
        Lang::Zh => "zh",
    }
}

fn privacy_str(p: Privacy) -> &'static str {
    match p {
        Privacy::Everyone => "everyone",
        Privacy::Contacts => "contacts",
        Privacy::Nobody => "nobody",
    }
}

fn code_from(s: &str) -> Option<StatusCode> {
    StatusCode::ALL.into_iter().find(|c| c.code() == s)
}

fn shown_to_sql(s: &Shown) -> (&'static str, Option<&str>) {
    match s {
        Shown::Code(c) => (c.code(), None),
        Shown::Text(t) => ("TEXT", Some(t.as_str())),
    }
}

fn shown_from_sql(code: &str, text: Option<String>) -> Result<Shown, StoreError> {
    match (code, text) {
        ("TEXT", Some(t)) => Ok(Shown::Text(t)),
        (c, _) => code_from(c)
            .map(Shown::Code)
            .ok_or_else(|| StoreError::BadValue {
                column: "audience.status_code",
                value: c.to_string(),
            }),
    }
}

fn subscriber_from_row(r: &Row<'_>) -> rusqlite::Result<(Subscriber, String, String)> {
    let net: Option<String> = r.get(5)?;
    let lang_chosen: bool = r.get(6)?;
    Ok((
        Subscriber {
            msisdn: r.get(0)?,
            display_name: r.get(1)?,
            lang: if r.get::<_, String>(2)? == "zh" {
                Lang::Zh
            } else {
                Lang::En
            },
            lang_chosen,
            stop_all: r.get(3)?,
            privacy: Privacy::Contacts,
            net_state: net.as_deref().and_then(code_from),
        },
        r.get(4)?,
        net.unwrap_or_default(),
    ))
}

/// The subscriber `msisdn`, if known.
pub fn subscriber(conn: &Connection, msisdn: &str) -> Result<Option<Subscriber>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT msisdn, display_name, lang, stop_all, privacy, net_state, lang_chosen
             FROM subscriber WHERE msisdn = ?1",
        )
        .and_then(|mut s| s.query_row([msisdn], subscriber_from_row).optional())
        .ctx("service::subscriber")?;
    Ok(row.map(|(mut sub, privacy, _)| {
        sub.privacy = match privacy.as_str() {
            "everyone" => Privacy::Everyone,
            "nobody" => Privacy::Nobody,
            _ => Privacy::Contacts,
        };
        sub
    }))
}

/// The subscriber `msisdn`, created (with the four built-in groups and OTHERS) on first contact.
pub fn ensure_subscriber(
    tx: &Transaction<'_>,
    msisdn: &str,
    lang: Lang,
    now: i64,
) -> Result<Subscriber, StoreError> {
    if let Some(s) = subscriber(tx, msisdn)? {
        return Ok(s);
    }
    tx.prepare_cached(
        "INSERT INTO subscriber (msisdn, lang, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
    )
    .and_then(|mut s| s.execute(params![msisdn, lang_str(lang), now]))
    .ctx("service::ensure_subscriber: insert")?;
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO audience (owner, kind, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .ctx("service::ensure_subscriber: audiences")?;
    for g in BuiltinGroup::ALL {
        ins.execute(params![msisdn, "builtin", g.en(), now])
            .ctx("service::ensure_subscriber: builtin")?;
    }
    ins.execute(params![msisdn, "others", "OTHERS", now])
        .ctx("service::ensure_subscriber: others")?;
    Ok(Subscriber {
        msisdn: msisdn.to_string(),
        display_name: None,
        lang,
        lang_chosen: false,
        stop_all: false,
        privacy: Privacy::Contacts,
        net_state: None,
    })
}

/// Write the changeable settings of `sub` back.
pub fn save_subscriber(tx: &Transaction<'_>, sub: &Subscriber, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE subscriber SET display_name = ?2, lang = ?3, stop_all = ?4, privacy = ?5,
             net_state = ?6, net_since = CASE WHEN ?6 IS NULL THEN NULL
                 WHEN net_state IS ?6 THEN net_since ELSE ?7 END,
             updated_at = ?7, lang_chosen = ?8
         WHERE msisdn = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            sub.msisdn,
            sub.display_name,
            lang_str(sub.lang),
            sub.stop_all,
            privacy_str(sub.privacy),
            sub.net_state.map(|c| c.code()),
            now,
            sub.lang_chosen
        ])
    })
    .ctx("service::save_subscriber")?;
    Ok(())
}

fn audience_from_row(r: &Row<'_>) -> rusqlite::Result<AudienceRow> {
    Ok(AudienceRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        name: r.get(2)?,
        code: r.get(3)?,
        text: r.get(4)?,
        set_at: r.get(5)?,
        set_seq: r.get(6)?,
        expires_at: r.get(7)?,
        prev_code: r.get(8)?,
        prev_text: r.get(9)?,
        prev_set_at: r.get(10)?,
        prev_set_seq: r.get(11)?,
        prev_expires_at: r.get(12)?,
        prev_more: r.get(13)?,
    })
}

struct AudienceRow {
    id: i64,
    kind: String,
    name: String,
    code: String,
    text: Option<String>,
    set_at: i64,
    set_seq: i64,
    expires_at: Option<i64>,
    prev_code: Option<String>,
    prev_text: Option<String>,
    prev_set_at: Option<i64>,
    prev_set_seq: Option<i64>,
    prev_expires_at: Option<i64>,
    prev_more: Option<String>,
}

impl AudienceRow {
    fn into_audience(self) -> Result<Audience, StoreError> {
        let kind = match self.kind.as_str() {
            "others" => AudienceKind::Others,
            "user" => AudienceKind::User,
            _ => AudienceKind::Builtin(BuiltinGroup::from_word(&self.name).ok_or_else(|| {
                StoreError::BadValue {
                    column: "audience.name",
                    value: self.name.clone(),
                }
            })?),
        };
        let mut prev = Vec::new();
        if let Some(code) = self.prev_code {
            prev.push(Stored {
                shown: shown_from_sql(&code, self.prev_text)?,
                set_at: self.prev_set_at.unwrap_or(0),
                set_seq: self.prev_set_seq.unwrap_or(0),
                expires_at: self.prev_expires_at,
            });
            if let Some(more) = &self.prev_more {
                prev.extend(chain_from_json(more)?);
            }
        }
        Ok(Audience {
            id: self.id,
            kind,
            name: self.name,
            status: Stored {
                shown: shown_from_sql(&self.code, self.text)?,
                set_at: self.set_at,
                set_seq: self.set_seq,
                expires_at: self.expires_at,
            },
            prev,
        })
    }
}

const AUDIENCE_COLUMNS: &str = "id, kind, name, status_code, status_text, set_at, set_seq,
    expires_at, prev_code, prev_text, prev_set_at, prev_set_seq, prev_expires_at, prev_more";

/// Every audience of `owner`: built-in groups in table order, user groups by creation, OTHERS last.
pub fn audiences(conn: &Connection, owner: &str) -> Result<Vec<Audience>, StoreError> {
    // Sorted here: an ORDER BY on the kind would run SQLite's sorter for a handful of rows.
    let sql = format!("SELECT {AUDIENCE_COLUMNS} FROM audience WHERE owner = ?1");
    let rows: Vec<AudienceRow> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_map([owner], audience_from_row)?.collect())
        .ctx("service::audiences")?;
    let mut auds = rows
        .into_iter()
        .map(AudienceRow::into_audience)
        .collect::<Result<Vec<_>, _>>()?;
    auds.sort_by_key(|a| {
        let rank = match a.kind {
            AudienceKind::Builtin(_) => 0,
            AudienceKind::User => 1,
            AudienceKind::Others => 2,
        };
        (rank, a.id)
    });
    Ok(auds)
}

/// Owners with a status that has expired by `now`, earliest first, at most `limit`.
pub fn expired(conn: &Connection, now: i64, limit: usize) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached(
        "SELECT owner FROM audience WHERE expires_at IS NOT NULL AND expires_at <= ?1
         GROUP BY owner ORDER BY min(expires_at) LIMIT ?2",
    )
    .and_then(|mut s| {
        s.query_map(params![now, limit as i64], |r| r.get(0))?
            .collect()
    })
    .ctx("service::expired")
}

/// The earliest pending expiry, if any (for the scheduler's sleep).
pub fn next_expiry(conn: &Connection) -> Result<Option<i64>, StoreError> {
    conn.query_row(
        "SELECT min(expires_at) FROM audience WHERE expires_at IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .ctx("service::next_expiry")
}

/// Write an audience's status and its revert chain.
pub fn save_status(tx: &Transaction<'_>, a: &Audience) -> Result<(), StoreError> {
    let (code, text) = shown_to_sql(&a.status.shown);
    let first = a.prev.first();
    let (pcode, ptext) = match first {
        Some(p) => {
            let (c, t) = shown_to_sql(&p.shown);
            (Some(c), t)
        }
        None => (None, None),
    };
    let more = (a.prev.len() > 1).then(|| chain_to_json(&a.prev[1..]));
    tx.prepare_cached(
        "UPDATE audience SET status_code = ?2, status_text = ?3, set_at = ?4, set_seq = ?5,
             expires_at = ?6, prev_code = ?7, prev_text = ?8, prev_set_at = ?9,
             prev_set_seq = ?10, prev_expires_at = ?11, prev_more = ?12
         WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            a.id,
            code,
            text,
            a.status.set_at,
            a.status.set_seq,
            a.status.expires_at,
            pcode,
            ptext,
            first.map(|p| p.set_at),
            first.map(|p| p.set_seq),
            first.and_then(|p| p.expires_at),
            more,
        ])
    })
    .ctx("service::save_status")?;
    Ok(())
}

/// The revert chain beyond its first step as stored in `audience.prev_more`: one array
/// `[code, text|null, set_at, set_seq, expires_at|null]` per step.
fn chain_to_json(chain: &[Stored]) -> String {
    let steps: Vec<serde_json::Value> = chain
        .iter()
        .map(|p| {
            let (code, text) = shown_to_sql(&p.shown);
            serde_json::json!([code, text, p.set_at, p.set_seq, p.expires_at])
        })
        .collect();
    serde_json::Value::Array(steps).to_string()
}

/// Read [`chain_to_json`]'s text back.
fn chain_from_json(text: &str) -> Result<Vec<Stored>, StoreError> {
    let bad = || StoreError::BadValue {
        column: "audience.prev_more",
        value: text.chars().take(80).collect(),
    };
    type Step = (String, Option<String>, i64, i64, Option<i64>);
    let steps: Vec<Step> = serde_json::from_str(text).map_err(|_| bad())?;
    steps
        .into_iter()
        .map(|(code, text, set_at, set_seq, expires_at)| {
            Ok(Stored {
                shown: shown_from_sql(&code, text)?,
                set_at,
                set_seq,
                expires_at,
            })
        })
        .collect()
}

/// Create user group `name` of `owner`; returns its id.
pub fn create_group(
    tx: &Transaction<'_>,
    owner: &str,
    name: &str,
    now: i64,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO audience (owner, kind, name, created_at) VALUES (?1, 'user', ?2, ?3)
         RETURNING id",
    )
    .and_then(|mut s| s.query_row(params![owner, name, now], |r| r.get(0)))
    .ctx("service::create_group")
}

/// Rename audience `id`.
pub fn rename_group(tx: &Transaction<'_>, id: i64, name: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE audience SET name = ?2 WHERE id = ?1",
        params![id, name],
    )
    .ctx("service::rename_group")?;
    Ok(())
}

/// Delete user group `id` (its memberships go with it).
pub fn delete_group(tx: &Transaction<'_>, id: i64) -> Result<(), StoreError> {
    tx.execute("DELETE FROM audience WHERE id = ?1", [id])
        .ctx("service::delete_group")?;
    Ok(())
}

/// Member count per audience id of `owner`.
pub fn member_counts(conn: &Connection, owner: &str) -> Result<HashMap<i64, usize>, StoreError> {
    conn.prepare_cached(
        "SELECT audience_id, count(*) FROM membership WHERE owner = ?1 GROUP BY audience_id",
    )
    .and_then(|mut s| {
        s.query_map([owner], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize))
        })?
        .collect()
    })
    .ctx("service::member_counts")
}

/// Members of audience `id`, in the order they were added, one page.
pub fn members(
    conn: &Connection,
    id: i64,
    offset: usize,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached(
        "SELECT member FROM membership WHERE audience_id = ?1
         ORDER BY added_at, member LIMIT ?2 OFFSET ?3",
    )
    .and_then(|mut s| {
        s.query_map(params![id, limit as i64, offset as i64], |r| r.get(0))?
            .collect()
    })
    .ctx("service::members")
}

/// Add `member` to audience `id`; `false` if already there.
pub fn add_member(
    tx: &Transaction<'_>,
    id: i64,
    owner: &str,
    member: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO membership (audience_id, owner, member, added_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![id, owner, member, now]))
        .ctx("service::add_member")?;
    Ok(n == 1)
}

/// Is `member` in audience `id`?
pub fn is_member(conn: &Connection, id: i64, member: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM membership WHERE audience_id = ?1 AND member = ?2")
        .and_then(|mut s| s.exists(params![id, member]))
        .ctx("service::is_member")
}

/// Remove `member` from audience `id`; `false` if not there.
pub fn remove_member(tx: &Transaction<'_>, id: i64, member: &str) -> Result<bool, StoreError> {
    let n = tx
        .prepare_cached("DELETE FROM membership WHERE audience_id = ?1 AND member = ?2")
        .and_then(|mut s| s.execute(params![id, member]))
        .ctx("service::remove_member")?;
    Ok(n == 1)
}

/// Remove every member of audience `id`; returns how many.
pub fn clear_members(tx: &Transaction<'_>, id: i64) -> Result<usize, StoreError> {
    tx.execute("DELETE FROM membership WHERE audience_id = ?1", [id])
        .ctx("service::clear_members")
}

/// Audience ids of `owner` that contain `member`.
pub fn groups_of(conn: &Connection, owner: &str, member: &str) -> Result<Vec<i64>, StoreError> {
    conn.prepare_cached("SELECT audience_id FROM membership WHERE owner = ?1 AND member = ?2")
        .and_then(|mut s| s.query_map([owner, member], |r| r.get(0))?.collect())
        .ctx("service::groups_of")
}

/// The query of [`owners_of`].
pub(crate) const OWNERS_OF: &str =
    "SELECT DISTINCT owner FROM membership WHERE member = ?1 ORDER BY owner";

/// The owners in whose groups `member` is (each once, in number order; index
/// `membership_member`).
pub fn owners_of(conn: &Connection, member: &str) -> Result<Vec<String>, StoreError> {
    conn.prepare_cached(OWNERS_OF)
        .and_then(|mut s| s.query_map([member], |r| r.get(0))?.collect())
        .ctx("service::owners_of")
}

/// Every member of `owner`'s groups with the audience ids they are in.
pub fn memberships(
    conn: &Connection,
    owner: &str,
) -> Result<HashMap<String, Vec<i64>>, StoreError> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    let rows: Vec<(String, i64)> = conn
        .prepare_cached("SELECT member, audience_id FROM membership WHERE owner = ?1")
        .and_then(|mut s| {
            s.query_map([owner], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .ctx("service::memberships")?;
    for (m, id) in rows {
        out.entry(m).or_default().push(id);
    }
    Ok(out)
}

/// What a recipient wants: their language (if a subscriber) and whether they opted out of
/// `owner`'s updates (STOP ALL without START for `owner`, or STOP `owner`).
pub fn recipient(
    conn: &Connection,
    member: &str,
    owner: &str,
) -> Result<(Option<Lang>, bool), StoreError> {
    let row: Option<(Option<String>, Option<bool>, Option<String>)> = conn
        .prepare_cached(
            "SELECT s.lang, s.stop_all, o.mode
             FROM (SELECT ?1 AS m) q
             LEFT JOIN subscriber s ON s.msisdn = q.m
             LEFT JOIN optout o ON o.member = q.m AND o.owner = ?2",
        )
        .and_then(|mut s| {
            s.query_row([member, owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("service::recipient")?;
    let (lang, stop_all, mode) = row.unwrap_or((None, None, None));
    let lang = lang.map(|l| if l == "zh" { Lang::Zh } else { Lang::En });
    let stopped = match mode.as_deref() {
        Some("stop") => true,
        Some("allow") => false,
        _ => stop_all.unwrap_or(false),
    };
    Ok((lang, stopped))
}

/// Record STOP/START of `member` for `owner`: `Some("stop" | "allow")`, or `None` to forget.
pub fn set_optout(
    tx: &Transaction<'_>,
    member: &str,
    owner: &str,
    mode: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    match mode {
        Some(m) => tx
            .prepare_cached(
                "INSERT INTO optout (member, owner, mode, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (member, owner) DO UPDATE SET mode = ?3, at = ?4",
            )
            .and_then(|mut s| s.execute(params![member, owner, m, now])),
        None => tx
            .prepare_cached("DELETE FROM optout WHERE member = ?1 AND owner = ?2")
            .and_then(|mut s| s.execute(params![member, owner])),
    }
    .ctx("service::set_optout")?;
    Ok(())
}

/// Forget every per-owner STOP/START of `member` with `mode`.
pub fn clear_optouts(tx: &Transaction<'_>, member: &str, mode: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM optout WHERE member = ?1 AND mode = ?2",
        params![member, mode],
    )
    .ctx("service::clear_optouts")?;
    Ok(())
}

/// Which hourly budget a change's notifications draw on (see [`changes_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaClass {
    /// Changes the owner made (SMS, USSD). Expiries of their timed statuses are held by this
    /// budget too, but do not use it up: the command that set the expiry already counted.
    Owner,
    /// Network events (calls, power): the carrier's, not the owner's; a call storm cannot use
    /// up the owner's budget, and the owner's commands cannot hold back INCALL/OFF.
    Network,
}

impl QuotaClass {
    /// The class of a `status_change.source`.
    pub fn of(source: &str) -> QuotaClass {
        if source == "network" {
            QuotaClass::Network
        } else {
            QuotaClass::Owner
        }
    }
}

/// How far back the hourly change quota counts ([`changes_since`]).
pub const QUOTA_WINDOW_MS: i64 = 3_600_000;

/// The wall clock went back `back_ms` (`delivery::clock`, at start or while running): the
/// status changes the quota still counts were logged on the old clock, so each would count
/// for `back_ms` longer than an hour (a subscriber held to the quota for the step's length).
/// They move back with the clock, as the outbox's waiting times do. Rows are read newest
/// first and the walk stops at the first logged before the window, so it reads about the last
/// hour's changes, not the log; returns how many moved.
pub fn follow_clock_back(
    tx: &Transaction<'_>,
    back_ms: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let mut first_in_window: Option<i64> = None;
    {
        let mut newest_first = tx
            .prepare_cached("SELECT id, at FROM status_change ORDER BY id DESC")
            .ctx("service::follow_clock_back")?;
        let mut rows = newest_first.query([]).ctx("service::follow_clock_back")?;
        while let Some(row) = rows.next().ctx("service::follow_clock_back")? {
            let at: i64 = row.get(1).ctx("service::follow_clock_back")?;
            if at < now - QUOTA_WINDOW_MS {
                break;
            }
            first_in_window = Some(row.get(0).ctx("service::follow_clock_back")?);
        }
    }
    let Some(first) = first_in_window else {
        return Ok(0);
    };
    tx.prepare_cached("UPDATE status_change SET at = at - ?1 WHERE id >= ?2")
        .and_then(|mut s| s.execute(params![back_ms, first]))
        .ctx("service::follow_clock_back")
}

/// Notifying status changes of `owner` since `since` that count against `class`'s budget: how
/// many, and the time of the oldest.
pub fn changes_since(
    conn: &Connection,
    owner: &str,
    since: i64,
    class: QuotaClass,
) -> Result<(u32, Option<i64>), StoreError> {
    let sql = match class {
        QuotaClass::Owner => {
            "SELECT count(*), min(at) FROM status_change WHERE owner = ?1 AND at >= ?2
             AND notified > 0 AND source != 'network' AND source != 'expiry'"
        }
        QuotaClass::Network => {
            "SELECT count(*), min(at) FROM status_change WHERE owner = ?1 AND at >= ?2
             AND notified > 0 AND source = 'network'"
        }
    };
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params![owner, since], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("service::changes_since")
}

/// Log a status change.
pub fn log_change(
    tx: &Transaction<'_>,
    owner: &str,
    now: i64,
    source: &str,
    audiences: usize,
    notified: usize,
    deferred: bool,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO status_change (owner, at, source, audiences, notified, deferred)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            owner,
            now,
            source,
            audiences as i64,
            notified as i64,
            deferred
        ])
    })
    .ctx("service::log_change")?;
    Ok(())
}

/// `msisdn`'s open USSD dialogue as seen by a unit of dialogue `number` (octet 1 of
/// `its_session_info`; `None` when the unit carried none).
#[derive(Debug, Clone, PartialEq)]
pub enum UssdDialogue {
    /// Open, on this screen, and the unit belongs to it.
    Open(super::ussd::Screen),
    /// None open (or timed out).
    None,
    /// Another dialogue is open: the unit is a late one from an earlier dialogue.
    Other,
}

/// The open dialogue of `msisdn` for a unit of dialogue `number` (see [`UssdDialogue`]).
pub fn ussd_dialogue(
    conn: &Connection,
    msisdn: &str,
    now: i64,
    number: Option<u8>,
) -> Result<UssdDialogue, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT session, screen FROM ussd_session WHERE msisdn = ?1 AND expires_at > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![msisdn, now], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("service::ussd_dialogue")?;
    Ok(match row {
        None => UssdDialogue::None,
        Some((open, _)) if number.is_some_and(|n| i64::from(n) != open) => UssdDialogue::Other,
        Some((_, json)) => {
            serde_json::from_str(&json).map_or(UssdDialogue::None, UssdDialogue::Open)
        }
    })
}

/// Open or move `msisdn`'s USSD session to `screen`.
pub fn save_ussd(
    tx: &Transaction<'_>,
    msisdn: &str,
    session: Option<[u8; 2]>,
    screen: &super::ussd::Screen,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(screen).map_err(|e| StoreError::BadValue {
        column: "ussd_session.screen",
        value: e.to_string(),
    })?;
    let [number, seq] = session.unwrap_or([0, 0]);
    tx.prepare_cached(
        "INSERT INTO ussd_session (msisdn, session, sequence, screen, started_at, updated_at,
             expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
         ON CONFLICT (msisdn) DO UPDATE SET session = ?2, sequence = ?3, screen = ?4,
             updated_at = ?5, expires_at = ?6",
    )
    .and_then(|mut s| s.execute(params![msisdn, number, seq, json, now, expires_at]))
    .ctx("service::save_ussd")?;
    Ok(())
}

/// Close `msisdn`'s USSD session if it is dialogue `number` (any dialogue for `None`): a late
/// abort or unit from an earlier dialogue does not end the one open now.
pub fn end_ussd_of(
    tx: &Transaction<'_>,
    msisdn: &str,
    number: Option<u8>,
) -> Result<(), StoreError> {
    match number {
        None => end_ussd(tx, msisdn),
        Some(n) => {
            tx.prepare_cached("DELETE FROM ussd_session WHERE msisdn = ?1 AND session = ?2")
                .and_then(|mut s| s.execute(params![msisdn, n]))
                .ctx("service::end_ussd_of")?;
            Ok(())
        }
    }
}

/// End `msisdn`'s USSD session, whichever dialogue it is.
pub fn end_ussd(tx: &Transaction<'_>, msisdn: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM ussd_session WHERE msisdn = ?1")
        .and_then(|mut s| s.execute([msisdn]))
        .ctx("service::end_ussd")?;
    Ok(())
}

/// Drop USSD sessions that timed out by `now`; returns how many.
pub fn expire_ussd(tx: &Transaction<'_>, now: i64) -> Result<usize, StoreError> {
    tx.prepare_cached("DELETE FROM ussd_session WHERE expires_at <= ?1")
        .and_then(|mut s| s.execute([now]))
        .ctx("service::expire_ussd")
}
