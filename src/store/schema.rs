//! Schema and migrations of the durable store.
//!
//! Migrations are numbered SQL strings applied in order at start, all in one `IMMEDIATE`
//! transaction; the applied count is kept in `PRAGMA user_version` (stored in the database
//! header, so it changes atomically with the tables). Never edit a released migration: append a
//! new one. Timestamps are Unix milliseconds (`INTEGER`).

use rusqlite::{Connection, TransactionBehavior};

use super::{Ctx, StoreError};

/// Migration 1: inbox (MO) and outbox (MT) tables.
const V1: &str = r#"
-- Every deliver_sm as received (written before its deliver_sm_resp).
CREATE TABLE inbox_pdu (
    id              INTEGER PRIMARY KEY,
    received_at     INTEGER NOT NULL,
    source          TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    smsc_message_id TEXT,
    -- SHA-256 of the identity of the PDU; set to NULL once older than the dedup window, so a
    -- later identical message is accepted again.
    dedup_key       BLOB UNIQUE,
    esm_class       INTEGER NOT NULL,
    data_coding     INTEGER NOT NULL,
    concat_scheme   TEXT CHECK (concat_scheme IN ('udh8', 'udh16', 'sar')),
    concat_ref      INTEGER,
    concat_total    INTEGER,
    concat_seq      INTEGER,
    raw             BLOB    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state IN ('received', 'assembled', 'duplicate', 'expired'))
);
CREATE INDEX inbox_pdu_received_at ON inbox_pdu(received_at);

-- A complete MO message, handed on exactly once: 'pending' until the service has applied it.
CREATE TABLE inbox_message (
    id           INTEGER PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    esm_class    INTEGER NOT NULL,
    data_coding  INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'processed')),
    processed_at INTEGER
);
CREATE INDEX inbox_message_state ON inbox_message(state, id);

-- User data of each part (a whole message is one part with a NULL reference). Open parts
-- (message_id NULL) wait for their siblings; one open row per (source, destination,
-- reference, total, seq).
CREATE TABLE inbox_part (
    id          INTEGER PRIMARY KEY,
    pdu_id      INTEGER NOT NULL REFERENCES inbox_pdu(id),
    message_id  INTEGER REFERENCES inbox_message(id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    destination TEXT    NOT NULL,
    reference   INTEGER,
    total       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    data_coding INTEGER NOT NULL,
    payload     BLOB    NOT NULL
);
CREATE UNIQUE INDEX inbox_part_open
    ON inbox_part(source, destination, reference, total, seq) WHERE message_id IS NULL;
CREATE INDEX inbox_part_message ON inbox_part(message_id, seq);
CREATE INDEX inbox_part_pdu ON inbox_part(pdu_id);

-- Every outbound message, a row before it is submitted.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- when the content was last written (enqueue or coalescing replacement)
    content_at      INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('sms', 'wap_push')),
    source          TEXT,
    destination     TEXT    NOT NULL,
    body            TEXT,
    payload         BLOB,
    url             TEXT,
    coalesce_key    TEXT,
    state           TEXT    NOT NULL CHECK (state IN
        ('queued', 'in_flight', 'submitted', 'delivered', 'failed', 'expired', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    expires_at      INTEGER,
    last_error      TEXT,
    priority        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox(state, priority DESC, id);
CREATE INDEX outbox_state_updated ON outbox(state, updated_at);
CREATE UNIQUE INDEX outbox_coalesce_queued
    ON outbox(coalesce_key) WHERE state = 'queued' AND coalesce_key IS NOT NULL;

-- One row per submitted segment (a resubmission after a requeue adds rows).
CREATE TABLE outbox_segment (
    id                  INTEGER PRIMARY KEY,
    outbox_id           INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    seq                 INTEGER NOT NULL,
    total               INTEGER NOT NULL,
    smsc_message_id     TEXT    NOT NULL,
    smsc_message_id_raw TEXT    NOT NULL,
    attempt             INTEGER NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('submitted', 'delivered', 'failed')),
    receipt_stat        TEXT,
    submitted_at        INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (outbox_id, seq, smsc_message_id)
);
CREATE INDEX outbox_segment_message_id ON outbox_segment(smsc_message_id);

-- Receipts that arrived before their submit_sm_resp: one row per id variant, grouped.
CREATE TABLE pending_receipt (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL,
    message_id  TEXT    NOT NULL,
    stat        TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('intermediate', 'delivered', 'failed')),
    received_at INTEGER NOT NULL
);
CREATE INDEX pending_receipt_message_id ON pending_receipt(message_id);
CREATE INDEX pending_receipt_group ON pending_receipt(group_id);
"#;

/// Migration 2: the status service (subscribers, groups with their statuses, memberships,
/// opt-outs, the status-change log used for quotas and audit).
const V2: &str = r#"
-- Everyone who has texted us, or been told about (created on first contact).
CREATE TABLE subscriber (
    msisdn       TEXT    PRIMARY KEY,           -- E.164, '+8613800138000'
    display_name TEXT,
    lang         TEXT    NOT NULL DEFAULT 'en' CHECK (lang IN ('en', 'zh')),
    lang_set     INTEGER NOT NULL DEFAULT 0,    -- 1 once chosen with LANG (no more inference)
    stop_all     INTEGER NOT NULL DEFAULT 0,    -- STOP ALL: no updates about anyone
    privacy      TEXT    NOT NULL DEFAULT 'contacts'
        CHECK (privacy IN ('everyone', 'contacts', 'nobody')),
    -- network override (call_started / power_off): every audience sees it until cleared
    net_state    TEXT    CHECK (net_state IN ('INCALL', 'OFF')),
    net_since    INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- An audience of one owner: the four built-in groups, user groups, and OTHERS; each holds the
-- status that audience sees, with an optional expiry and the status it reverts to.
CREATE TABLE audience (
    id              INTEGER PRIMARY KEY,
    owner           TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('builtin', 'user', 'others')),
    name            TEXT    NOT NULL,          -- FAMILY.. / user name upper-cased / OTHERS
    created_at      INTEGER NOT NULL,
    status_code     TEXT    NOT NULL DEFAULT 'STANDBY',  -- a code, or 'TEXT' for free text
    status_text     TEXT,
    set_at          INTEGER NOT NULL DEFAULT 0,
    -- precedence for a contact in several groups: the most recently set status wins
    set_seq         INTEGER NOT NULL DEFAULT 0,
    expires_at      INTEGER,
    prev_code       TEXT,
    prev_text       TEXT,
    prev_set_at     INTEGER,
    prev_set_seq    INTEGER,
    prev_expires_at INTEGER,
    UNIQUE (owner, name)
);
CREATE INDEX audience_expiry ON audience(expires_at) WHERE expires_at IS NOT NULL;

-- Who is in which group (never in OTHERS: that is everyone else).
CREATE TABLE membership (
    audience_id INTEGER NOT NULL REFERENCES audience(id) ON DELETE CASCADE,
    owner       TEXT    NOT NULL,
    member      TEXT    NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (audience_id, member)
) WITHOUT ROWID;
CREATE INDEX membership_owner_member ON membership(owner, member);

-- STOP <n> ('stop') and START <n> while STOP ALL is on ('allow').
CREATE TABLE optout (
    member TEXT NOT NULL,
    owner  TEXT NOT NULL,
    mode   TEXT NOT NULL CHECK (mode IN ('stop', 'allow')),
    at     INTEGER NOT NULL,
    PRIMARY KEY (member, owner)
) WITHOUT ROWID;
CREATE INDEX optout_owner ON optout(owner);

-- Every status change that reached contacts' view (source: sms, ussd, expiry, network);
-- counts the hourly quota and is the audit trail.
CREATE TABLE status_change (
    id        INTEGER PRIMARY KEY,
    owner     TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    source    TEXT    NOT NULL,
    audiences INTEGER NOT NULL,
    notified  INTEGER NOT NULL,
    deferred  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX status_change_owner_at ON status_change(owner, at);
"#;

/// Migration 3: caller avatars (content-addressed image variants, presets, each subscriber's
/// choice, per-viewer links, upload tokens) and account activity for the upload thresholds.
const V3: &str = r#"
-- Image bytes, stored once per content (SHA-256 of the bytes).
CREATE TABLE image_blob (
    sha256       TEXT    PRIMARY KEY,
    content_type TEXT    NOT NULL,
    bytes        BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- One processed picture (a preset or an upload): its variants by size and format.
CREATE TABLE avatar (
    id            INTEGER PRIMARY KEY,
    source_sha256 TEXT    NOT NULL UNIQUE,   -- identical uploads share one avatar
    created_at    INTEGER NOT NULL
);
CREATE TABLE avatar_variant (
    avatar_id   INTEGER NOT NULL REFERENCES avatar(id) ON DELETE CASCADE,
    size        INTEGER NOT NULL,
    format      TEXT    NOT NULL CHECK (format IN ('jpeg', 'png', 'gif')),
    blob_sha256 TEXT    NOT NULL REFERENCES image_blob(sha256),
    PRIMARY KEY (avatar_id, size, format)
) WITHOUT ROWID;

-- The operator's catalogue.
CREATE TABLE preset (
    id        INTEGER PRIMARY KEY,          -- the number subscribers text (AVATAR 3)
    title     TEXT    NOT NULL,
    avatar_id INTEGER NOT NULL REFERENCES avatar(id)
);

-- Each subscriber's current avatar.
CREATE TABLE subscriber_avatar (
    msisdn     TEXT    PRIMARY KEY,
    avatar_id  INTEGER NOT NULL REFERENCES avatar(id),
    preset_id  INTEGER,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Unguessable per-viewer download links: /a/<token> shows owner's avatar to viewer only.
CREATE TABLE avatar_link (
    token      TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    viewer     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (owner, viewer)
) WITHOUT ROWID;

-- One-time upload links.
CREATE TABLE upload_token (
    token      TEXT    PRIMARY KEY,
    msisdn     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;

-- Account activity (imported from the carrier, plus MO counted live).
CREATE TABLE activity (
    msisdn       TEXT    PRIMARY KEY,
    call_minutes INTEGER NOT NULL DEFAULT 0,
    sms_sent     INTEGER NOT NULL DEFAULT 0,
    tenure_days  INTEGER NOT NULL DEFAULT 0,
    level        INTEGER NOT NULL DEFAULT 0,
    sms_live     INTEGER NOT NULL DEFAULT 0,  -- MO counted by the gateway since import
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Handsets that cannot take WAP Push get the avatar link as a plain SMS.
ALTER TABLE subscriber ADD COLUMN wap_push INTEGER NOT NULL DEFAULT 1;
"#;

/// Migration 4: USSD: the TLVs of an MO dialogue unit, and each subscriber's menu session.
const V4: &str = r#"
ALTER TABLE inbox_message ADD COLUMN ussd_op INTEGER;
ALTER TABLE inbox_message ADD COLUMN ussd_session INTEGER;  -- its_session_info, big-endian

-- One open USSD menu session per subscriber (a new one replaces it).
CREATE TABLE ussd_session (
    msisdn     TEXT    PRIMARY KEY,
    session    INTEGER NOT NULL,          -- its_session_info octet 1
    sequence   INTEGER NOT NULL,          -- last octet 2 received (sequence << 1 | end)
    screen     TEXT    NOT NULL,          -- the screen shown, JSON
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Migration 5: a held receipt's rows say which is its id as received (`exact`) and which are
/// other-base forms, matched only after the response timeout.
const V5: &str = r#"
ALTER TABLE pending_receipt ADD COLUMN exact INTEGER NOT NULL DEFAULT 1;
-- How this SMSC's receipts have matched ('exact': its receipt ids are in the responses' base),
-- which decides whether other-base matching is allowed at all (see outbox::resolve_held_receipts).
CREATE TABLE receipt_seen (
    kind     TEXT    PRIMARY KEY CHECK (kind IN ('exact', 'other_base')),
    first_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Migration 6, SQL part: the outbox's due index holds only `queued` rows (a claimed row leaves
/// it, and later state changes no longer move it), and the state/updated index, used by purge
/// and listings of finished rows, holds only final rows: before, every state change of every
/// message moved an entry in both. Rows in flight or submitted are found by a scan, which runs
/// only at start and after a disconnect (`requeue_in_flight`). Partial-index conditions are
/// written with OR, not IN (see [`v6_checks_without_in_lists`]).
const V6_SQL: &str = r#"
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(priority DESC, id) WHERE state = 'queued';
DROP INDEX outbox_state_updated;
CREATE INDEX outbox_state_updated ON outbox(state, updated_at)
    WHERE state = 'delivered' OR state = 'failed' OR state = 'expired' OR state = 'superseded';
"#;

/// Migration 7: an audience's revert chain beyond its first step. `prev_*` hold the status a
/// timed status reverts to; when that one is timed too (FREE, then BUSY FOR 1H, then DRIVING
/// FOR 30M), `prev_more` holds the rest of the chain as a JSON array, nearest first, so each
/// expiry steps back one level and the last lands on the lasting status (see
/// `service::state::Audience::prev`).
const V7: &str = r#"
ALTER TABLE audience ADD COLUMN prev_more TEXT;
"#;

/// Migration 8: queued rows with a validity end, by that end. The dispatcher looks for
/// expired rows once a second (`outbox::expire_due`); without this index that look read the
/// whole table, final rows included: at 800k rows it was most of the writer's page reads, and
/// it grows with every row kept until the purge. Rows without a validity end (the usual case)
/// are not in the index, so they cost it nothing.
const V8: &str = r#"
CREATE INDEX outbox_expiry ON outbox(expires_at) WHERE state = 'queued' AND expires_at IS NOT NULL;
"#;

/// Migration 9: how many uploads a one-time upload link has refused. Each refusal tells the
/// owner why by SMS; the count caps those messages (`avatar::note_refusal`), so a client that
/// posts bad files in a loop cannot make the gateway text the owner for each.
const V9: &str = r#"
ALTER TABLE upload_token ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
"#;

/// Migration 10: the SMPP session each MO PDU came on (`Inbound::session`), so that the same
/// text sent twice on one session counts as two commands while an SMSC's resend after a lost
/// answer (which comes on a later session) stays a duplicate (`inbox` module docs).
const V10: &str = r#"
ALTER TABLE inbox_pdu ADD COLUMN link_session INTEGER;
"#;

/// Migration 11: what is known about a handset (today: whether it takes WAP Push) in a table
/// of its own. It was a column of `subscriber`, so marking a contact's handset (a failed
/// push, `[avatar] sms_link_handsets`, `POST /api/v1/handsets`) made the contact a subscriber
/// with a language they never chose: their updates switched language, and WHO answered for
/// them as for a user of the service. The old column stays (unused) for older binaries.
const V11: &str = r#"
CREATE TABLE handset (
    msisdn     TEXT    PRIMARY KEY,
    wap_push   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO handset (msisdn, wap_push, updated_at)
    SELECT msisdn, 0, 0 FROM subscriber WHERE wap_push = 0;
"#;

/// Migration 12: forget the "receipts matched their exact id" evidence recorded so far. Until
/// this version a receipt for ids 1 to 9 (the same in decimal and hex) counted, which turned
/// the other-base reading off for an SMSC that switches base (`outbox::apply_receipt`). An SMSC
/// that does keep one base proves it again with its next receipt for an id from 10 on.
const V12: &str = r#"
DELETE FROM receipt_seen WHERE kind = 'exact';
"#;

/// Migration 13: the due index orders queued rows by when they are due. It was
/// `(priority DESC, id)`, so a claim read every queued row not yet due (quota-held updates,
/// back-off after a throttling storm) before it reached a due one younger than them: at
/// 20,000 such rows a claim of 50 cost the writer 1.6 ms instead of 0.2, on every claim and
/// every idle poll. Now `outbox::claim_due` reads, per priority, only the due range.
const V13: &str = r#"
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox(priority DESC, next_attempt_at, id) WHERE state = 'queued';
"#;

/// Migration 14: where a held receipt says its message went. `addresses` holds the digits of
/// the receipt's source and destination addresses (space-separated; NULL when it named no
/// number): a held receipt is claimed only by a segment whose message went to one of them,
/// so a receipt for a reused SMSC id (an SMSC that restarted its counter, or the standby of a
/// failover counting from 1 too) does not land on an older message with that id. `stray` = 1:
/// segments with its exact id existed, all sent to other numbers (`outbox::apply_receipt`).
const V14: &str = r#"
ALTER TABLE pending_receipt ADD COLUMN addresses TEXT;
ALTER TABLE pending_receipt ADD COLUMN stray INTEGER NOT NULL DEFAULT 0;
"#;

/// Migration 15: where the sweep of messages the SMSC never confirmed goes on
/// (`outbox::expire_unconfirmed`): one row per walk, its next id, kept across restarts (a
/// walk started again at the first id after each restart would, on a large table, never
/// reach the newer rows).
const V15: &str = r#"
CREATE TABLE walk (
    name    TEXT    PRIMARY KEY,
    next_id INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Migration 16: whether a subscriber chose Chinese with `LANG ZH` (COMMANDS.md: replies are
/// Chinese "if the user's last command used Chinese keywords or LANG ZH"). Without it an
/// English keyword in the next command (`WHO 138...`, easier to type on a feature phone)
/// switched them back to English; `LANG EN` clears it.
const V16: &str = r#"
ALTER TABLE subscriber ADD COLUMN lang_chosen INTEGER NOT NULL DEFAULT 0;
"#;

/// Migration 17: a preset's Chinese title (`titles.csv` in the presets folder, read by
/// `admin::import_presets`). Chinese replies (`AVATARS`, `AVATAR n`, the USSD menu) show it,
/// and the English `title` when it is NULL: a catalogue imported before this version keeps
/// working unchanged until it is imported again with a titles file.
const V17: &str = r#"
ALTER TABLE preset ADD COLUMN title_zh TEXT;
"#;

/// Migration 18: room kept in a row for the bytes its next update adds. SQLite overwrites a
/// row in place when its stored size stays the same; a row that grows is deleted from its
/// page and inserted again, and the page (filled to the brim by the appends that wrote it)
/// splits. Two updates of every message grew their row: the claim (`queued` to the three bytes
/// longer `in_flight`) and the first receipt of a segment (`receipt_stat` from NULL to the
/// seven letters of an SMPP receipt's `stat`, `DELIVRD`). `room` holds those bytes (zeros)
/// until the update that uses them sets it to NULL. It carries no information: a row without
/// it only costs more to update.
const V18: &str = r#"
ALTER TABLE outbox ADD COLUMN room BLOB;
ALTER TABLE outbox_segment ADD COLUMN room BLOB;
"#;

/// Migration 19: which picture each avatar push carried. A push (the WAP Push SI, the SMS link
/// for a handset without WAP Push, the SMS that replaced a refused push) names a per-viewer
/// link whose picture can change; the outbox row does not say which one it was sent for.
/// `avatar_id` is the owner's avatar when the row was written, so that opening PRIVACY from
/// NOBODY skips the contacts whose handset already has the current picture
/// (`avatar::sent_current`). A row goes with its outbox row (retention); an older database has
/// none, and its contacts get the picture once more.
const V19: &str = r#"
CREATE TABLE avatar_push (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    owner     TEXT    NOT NULL,
    viewer    TEXT    NOT NULL,
    avatar_id INTEGER NOT NULL
);
CREATE INDEX avatar_push_viewer ON avatar_push(owner, viewer);
"#;

/// Migration 20: which picture each contact's handset got, past retention. `avatar_push`
/// rows go with their outbox rows, so once retention (or `outbox purge`) had deleted a
/// contact's delivered pushes, opening PRIVACY from NOBODY took the contact for one who never
/// got the picture and pushed it again. Before a `delivered` outbox row is deleted, the
/// trigger keeps what its push carried in `avatar_delivered`, one row per (owner, viewer):
/// the newest by `content_at` (when the row's content was written; outbox ids can be used
/// again once the newest rows are purged). `avatar::sent_current` reads both tables. A
/// download the contact was refused (403) is kept here too, as avatar 0 at the refusal's time
/// (`avatar::note_refused`): the handset has no picture.
const V20: &str = r#"
CREATE TABLE avatar_delivered (
    owner      TEXT    NOT NULL,
    viewer     TEXT    NOT NULL,
    avatar_id  INTEGER NOT NULL,
    content_at INTEGER NOT NULL,
    PRIMARY KEY (owner, viewer)
) WITHOUT ROWID;
CREATE TRIGGER avatar_push_delivered BEFORE DELETE ON outbox
WHEN old.state = 'delivered'
BEGIN
    INSERT INTO avatar_delivered (owner, viewer, avatar_id, content_at)
    SELECT owner, viewer, avatar_id, old.content_at FROM avatar_push WHERE outbox_id = old.id
    ON CONFLICT (owner, viewer) DO UPDATE
        SET avatar_id = excluded.avatar_id, content_at = excluded.content_at
        WHERE excluded.content_at >= avatar_delivered.content_at;
END;
"#;

/// Migration 21: why an avatar push was withdrawn, as a code (`outbox.push_veto`:
/// `outbox::PushVeto::code`), not only as `last_error` text. `outbox retry` told a push it
/// withdrew from one a newer row superseded by comparing `last_error` with the text it writes,
/// so rewording that text would have broken the report. The rows an older build withdrew get
/// the code their text names (the texts those builds wrote, unchanged since schema 19).
const V21: &str = r#"
ALTER TABLE outbox ADD COLUMN push_veto TEXT
    CHECK (push_veto = 'nobody' OR push_veto = 'avatar_off' OR push_veto = 'not_a_contact');
UPDATE outbox SET push_veto = CASE last_error
    WHEN 'withdrawn: the owner set PRIVACY NOBODY' THEN 'nobody'
    WHEN 'withdrawn: the owner set PRIVACY NOBODY while it was in flight; the SMSC took none of it'
        THEN 'nobody'
    WHEN 'withdrawn at an operator''s retry: the owner set PRIVACY NOBODY after it failed'
        THEN 'nobody'
    WHEN 'withdrawn: the owner set AVATAR OFF' THEN 'avatar_off'
    WHEN 'withdrawn: the owner set AVATAR OFF while it was in flight; the SMSC took none of it'
        THEN 'avatar_off'
    WHEN 'withdrawn at an operator''s retry: the owner set AVATAR OFF after it failed'
        THEN 'avatar_off'
    WHEN 'withdrawn: the contact left the owner''s groups while it was in flight; the SMSC took none of it'
        THEN 'not_a_contact'
    WHEN 'withdrawn at an operator''s retry: the contact left the owner''s groups after it failed'
        THEN 'not_a_contact'
    END
WHERE state = 'superseded' AND last_error LIKE 'withdrawn%';
"#;

/// Migration 22: `cancel_sm` intents (`delivery::cancel`). A row the SMSC accepted and that
/// something newer made wrong to deliver (a newer message with its coalescing key, a
/// withdrawal: STOP, PRIVACY NOBODY, AVATAR OFF, a contact out of every group) gets a row
/// here, written with the change that caused it, so the cancel survives a restart or a link
/// drop: `why` it goes, when it was asked and is next due, the tries made, and the segment
/// rows already cancelled (space-separated ids). The partial index finds a key's `submitted`
/// rows (the coalescing index holds only `queued` ones).
const V22: &str = r#"
CREATE TABLE outbox_cancel (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    why       TEXT    NOT NULL,
    asked_at  INTEGER NOT NULL,
    next_at   INTEGER NOT NULL,
    tries     INTEGER NOT NULL DEFAULT 0,
    cancelled TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_coalesce_submitted
    ON outbox(coalesce_key) WHERE state = 'submitted' AND coalesce_key IS NOT NULL;
"#;

/// Migration 23: the picture each contact's handset last downloaded through its link, one
/// row per (owner, viewer), written when the link serves the picture whole (200) or the
/// handset shows it holds it (304). A refused download (403, `avatar_delivered`'s avatar 0)
/// said the handset had no picture even when it had downloaded this very one before, so
/// adding the contact back pushed it again; `avatar::sent_current` now counts a download of
/// the current picture, whatever came after it.
const V23: &str = r#"
CREATE TABLE avatar_download (
    owner         TEXT    NOT NULL,
    viewer        TEXT    NOT NULL,
    avatar_id     INTEGER NOT NULL,
    downloaded_at INTEGER NOT NULL,
    PRIMARY KEY (owner, viewer)
) WITHOUT ROWID;
"#;

/// Migration 24: keyed rows in flight, by key. A withdrawal (STOP, a removal from the groups,
/// a push veto) marks the rows it concerns whose submit is out and unanswered
/// (`store::cancel::withdraw_submitted`), so that one coming back unsent is withdrawn instead
/// of queued again and one accepted is cancelled; this index finds them by key without
/// reading the outbox. Only keyed rows (status updates, avatar pushes) are in it.
const V24: &str = r#"
CREATE INDEX outbox_coalesce_in_flight
    ON outbox(coalesce_key) WHERE state = 'in_flight' AND coalesce_key IS NOT NULL;
"#;

/// Migration 25: owners whose `avatar_download` and `avatar_link` rows may have outlived their
/// use, for retention (`store::retention`). Both tables keep one row per (owner, viewer) and
/// were never deleted from: a download of a picture the owner no longer has says nothing
/// (`avatar::sent_current` compares it with the current one), and a link of an owner with no
/// avatar shows nothing. An owner goes in here, with the time, when their avatar changes or
/// is turned off (`avatar::set_avatar`, `avatar::clear_avatar`); once that is older than
/// `[store] keep_days`, retention deletes those of their rows and the owner's row here. The
/// owners an older build left such rows for go in now.
const V25: &str = r#"
CREATE TABLE avatar_stale (
    owner TEXT    PRIMARY KEY,
    since INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX avatar_stale_since ON avatar_stale(since);
INSERT OR IGNORE INTO avatar_stale (owner, since)
    SELECT d.owner, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM avatar_download d
    WHERE d.avatar_id IS NOT (SELECT avatar_id FROM subscriber_avatar WHERE msisdn = d.owner);
INSERT OR IGNORE INTO avatar_stale (owner, since)
    SELECT l.owner, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM avatar_link l
    WHERE NOT EXISTS (SELECT 1 FROM subscriber_avatar WHERE msisdn = l.owner);
"#;

/// The operator's pause of outbound sending (`store::pause`): a row while paused, kept across
/// a restart.
const V26: &str = r#"
CREATE TABLE outbound_pause (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    since INTEGER NOT NULL,
    note  TEXT    NOT NULL
);
"#;

/// Migration 27: SMSCs that answered a cancel_sm as one without the operation
/// (`ESME_RINVCMDID`, a `generic_nack`), by address and bind account, with that answer and
/// when (`store::cancel::remember_no_cancel`). The canceller sends no cancel_sm to one of them
/// for `[smsc] no_cancel_memory_hours` after that, across binds and restarts (before, each new
/// bind spent a refused cancel to learn it again); `presence-gw smsc no-cancel --forget`
/// forgets them.
const V27: &str = r#"
CREATE TABLE smsc_no_cancel (
    smsc      TEXT    NOT NULL,
    system_id TEXT    NOT NULL,
    answer    TEXT    NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (smsc, system_id)
) WITHOUT ROWID;
"#;

/// Migration 28: each submission is asked to be cancelled once. A `submitted` row whose
/// cancel the SMSC answered without deleting it (too late, refused, no cancel_sm, no answer
/// after every try: `delivery::cancel`, `RowEnd::Kept`) stays `submitted`, and with receipts
/// off (or an SMSC that sends none) it stays so for good; each newer message with its key
/// (`store::cancel::supersede_submitted`) and each withdrawal asked for it again, so the
/// n-th STATUS change to a contact sent n - 1 cancel_sm, all refused. And when the older
/// row's acceptance and the newer message fell in the same millisecond, the newer one's own
/// acceptance asked a second time (`supersede_on_submit`, which tells the two apart by time).
/// The canceller now notes here the row's newest segment when its cancel is answered so, and
/// the trigger drops any later intent for the row while it is still `submitted` with no newer
/// submission waiting (one sent again after a retry is asked for as before). One trigger
/// covers every statement that writes intents. The note goes with its outbox row.
const V28: &str = r#"
CREATE TABLE outbox_cancel_answered (
    outbox_id    INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    last_segment INTEGER NOT NULL,
    answered_at  INTEGER NOT NULL
);
CREATE TRIGGER outbox_cancel_once BEFORE INSERT ON outbox_cancel
WHEN EXISTS (SELECT 1 FROM outbox_cancel_answered a JOIN outbox o ON o.id = a.outbox_id
             WHERE a.outbox_id = new.outbox_id AND o.state = 'submitted'
               AND NOT EXISTS (SELECT 1 FROM outbox_segment s
                               WHERE s.outbox_id = a.outbox_id AND s.state = 'submitted'
                                 AND s.id > a.last_segment))
BEGIN
    SELECT RAISE(IGNORE);
END;
"#;

/// Migration 29: pictures no subscriber and no preset shows any more, for retention
/// (`store::retention`). An `avatar`, its `avatar_variant` rows and their `image_blob` bytes
/// were never deleted: every picture a subscriber changed away from or turned off stayed in
/// the file for good. A picture goes in `avatar_orphan`, with the time, when it loses its last
/// subscriber or preset (`avatar::set_avatar`, `avatar::clear_avatar`, `avatar::add_preset`
/// replacing a preset's picture) and comes out when one picks it again; retention deletes it
/// once that is older than `[store] keep_days`. The indexes find who still shows a picture
/// (subscribers, presets, pushes) and which variants still use a blob, without reading whole
/// tables; SQLite's own foreign key checks on a deleted avatar or blob use them too. The
/// pictures an older build left unused go in now.
const V29: &str = r#"
CREATE INDEX subscriber_avatar_avatar ON subscriber_avatar(avatar_id);
CREATE INDEX preset_avatar ON preset(avatar_id);
CREATE INDEX avatar_push_avatar ON avatar_push(avatar_id);
CREATE INDEX avatar_variant_blob ON avatar_variant(blob_sha256);
CREATE TABLE avatar_orphan (
    avatar_id INTEGER PRIMARY KEY,
    since     INTEGER NOT NULL
);
CREATE INDEX avatar_orphan_since ON avatar_orphan(since);
INSERT INTO avatar_orphan (avatar_id, since)
    SELECT a.id, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM avatar a
    WHERE NOT EXISTS (SELECT 1 FROM subscriber_avatar s WHERE s.avatar_id = a.id)
      AND NOT EXISTS (SELECT 1 FROM preset p WHERE p.avatar_id = a.id);
"#;

/// Migration 30: the owners whose groups hold a number (`membership` by `member`). `START
/// ALL` pushes the avatars chosen while the sender was stopped, and finding those owners
/// otherwise reads the whole table: seconds at millions of memberships, in the writer.
const V30: &str = r#"
CREATE INDEX membership_member ON membership(member);
"#;

/// One schema step: SQL text, or a Rust function for what SQL alone cannot say.
pub(crate) enum Migration {
    /// Run with `execute_batch`.
    Sql(&'static str),
    /// Run on the migration's transaction.
    Rust(fn(&Connection) -> rusqlite::Result<()>),
}

/// Migration 6: every `CHECK (column IN ('a', 'b', ...))` becomes the same check written as
/// `(column = 'a' OR column = 'b' ...)`, then [`V6_SQL`].
///
/// Why: SQLite evaluates a constant `IN (...)` list by building an ephemeral b-tree each time
/// the statement runs, so every INSERT, and every UPDATE of a checked column, opened and
/// closed a temporary table per check (the `sqlite3BtreeOpen`/`Close` of the outbox profile in
/// BENCHMARKS.md): about half the cost of an outbox state change. The OR form accepts exactly
/// the same values and costs nothing measurable. The rewrite follows SQLite's documented
/// procedure for constraint changes that leave the stored rows valid ("Making Other Kinds Of
/// Table Schema Changes", lang_altertable.html): edit `sqlite_schema` under
/// `writable_schema`, bump `schema_version`, and check the result with `integrity_check`.
fn v6_checks_without_in_lists(conn: &Connection) -> rusqlite::Result<()> {
    let tables: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK%'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut changed = 0;
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    conn.pragma_update(None, "writable_schema", true)?;
    for (name, sql) in tables {
        let rewritten = checks_in_to_or(&sql);
        if rewritten != sql {
            conn.execute(
                "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = ?2",
                rusqlite::params![rewritten, name],
            )?;
            changed += 1;
        }
    }
    if changed > 0 {
        conn.pragma_update(None, "schema_version", version + 1)?;
    }
    conn.pragma_update(None, "writable_schema", false)?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!(
                "integrity_check after the CHECK rewrite: {verdict}"
            )),
        ));
    }
    conn.execute_batch(V6_SQL)
}

/// Rewrite each `CHECK (col IN ('a', 'b'))` of a `CREATE TABLE` text as
/// `CHECK ((col = 'a' OR col = 'b'))`; everything else is kept byte for byte. A list that is not
/// plain single-quoted literals (no quote inside) is left alone.
pub(crate) fn checks_in_to_or(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(at) = rest.find("CHECK (") {
        let (head, tail) = rest.split_at(at + "CHECK (".len());
        out.push_str(head);
        rest = tail;
        if let Some((replacement, used)) = in_list_as_or(rest) {
            out.push_str(&replacement);
            rest = &rest[used..];
        }
    }
    out.push_str(rest);
    out
}

/// Parse `col IN ( 'a' , 'b' ... )` at the start of `s` (whitespace and newlines allowed);
/// returns the OR form and how many bytes it replaced.
fn in_list_as_or(s: &str) -> Option<(String, usize)> {
    let col_len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|&n| n > 0)?;
    let col = &s[..col_len];
    let mut i = col_len;
    let skip_ws = |i: &mut usize| {
        while s[*i..].starts_with(|c: char| c.is_whitespace()) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if !s[i..].starts_with("IN") {
        return None;
    }
    i += 2;
    skip_ws(&mut i);
    if !s[i..].starts_with('(') {
        return None;
    }
    i += 1;
    let mut values = Vec::new();
    loop {
        skip_ws(&mut i);
        if !s[i..].starts_with('\'') {
            return None;
        }
        let end = s[i + 1..].find('\'')? + i + 1;
        values.push(&s[i..=end]);
        i = end + 1;
        skip_ws(&mut i);
        if s[i..].starts_with(',') {
            i += 1;
        } else if s[i..].starts_with(')') {
            i += 1;
            break;
        } else {
            return None;
        }
    }
    let ors: Vec<String> = values.iter().map(|v| format!("{col} = {v}")).collect();
    Some((format!("({})", ors.join(" OR ")), i))
}

/// Every migration, in order; migration `i` (0-based) brings the schema to version `i + 1`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration::Sql(V1),
    Migration::Sql(V2),
    Migration::Sql(V3),
    Migration::Sql(V4),
    Migration::Sql(V5),
    Migration::Rust(v6_checks_without_in_lists),
    Migration::Sql(V7),
    Migration::Sql(V8),
    Migration::Sql(V9),
    Migration::Sql(V10),
    Migration::Sql(V11),
    Migration::Sql(V12),
    Migration::Sql(V13),
    Migration::Sql(V14),
    Migration::Sql(V15),
    Migration::Sql(V16),
    Migration::Sql(V17),
    Migration::Sql(V18),
    Migration::Sql(V19),
    Migration::Sql(V20),
    Migration::Sql(V21),
    Migration::Sql(V22),
    Migration::Sql(V23),
    Migration::Sql(V24),
    Migration::Sql(V25),
    Migration::Sql(V26),
    Migration::Sql(V27),
    Migration::Sql(V28),
    Migration::Sql(V29),
    Migration::Sql(V30),
];

/// The schema version this build writes (`PRAGMA user_version` after `migrate`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Read `PRAGMA user_version`.
pub fn schema_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("schema_version")
}

/// Apply every migration newer than the database's `user_version`, in one transaction.
/// Returns the number of migrations applied (0 when already current).
pub(crate) fn migrate(conn: &mut Connection) -> Result<usize, StoreError> {
    // Every connection that writes runs this first: the `rarray` table-valued function lets
    // one statement take a whole batch of ids (`WHERE id IN rarray(?1)`).
    rusqlite::vtab::array::load_module(conn).ctx("migrate: load rarray")?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("migrate: begin")?;
    let found = schema_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    let mut applied = 0;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(start) {
        match step {
            Migration::Sql(sql) => tx.execute_batch(sql),
            Migration::Rust(f) => f(&tx),
        }
        .map_err(|source| StoreError::Migration {
            version: index + 1,
            source,
        })?;
        applied += 1;
    }
    if applied > 0 {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .ctx("migrate: user_version")?;
    }
    tx.commit().ctx("migrate: commit")?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_in_checks_become_or_chains() {
        let sql = "CREATE TABLE t (\n  a TEXT CHECK (a IN ('x', 'y')),\n  b TEXT NOT NULL CHECK (b IN\n        ('p','q' , 'r'))\n)";
        assert_eq!(
            checks_in_to_or(sql),
            "CREATE TABLE t (\n  a TEXT CHECK ((a = 'x' OR a = 'y')),\n  b TEXT NOT NULL CHECK ((b = 'p' OR b = 'q' OR b = 'r'))\n)"
        );
        // Not a plain literal list: untouched.
        for keep in [
            "CHECK (a > 0)",
            "CHECK (a IN (1, 2))",
            "CHECK (a IN ('x', y))",
            "CHECK (a IN ('x'",
            "CHECK (",
        ] {
            assert_eq!(checks_in_to_or(keep), keep);
        }
    }

    #[test]
    fn the_rewritten_schema_still_refuses_bad_values() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let in_lists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%CHECK (% IN (%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_lists, 0, "a CHECK still holds an IN list");
        let insert = |state: &str| {
            conn.execute(
                "INSERT INTO outbox (created_at, updated_at, content_at, kind, destination, state,
                     next_attempt_at) VALUES (1, 1, 1, 'sms', '861', ?1, 1)",
                [state],
            )
        };
        assert!(insert("queued").is_ok());
        assert!(insert("sent").is_err());
        assert!(conn
            .execute("UPDATE outbox SET kind = 'fax' WHERE id = 1", [])
            .is_err());
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM outbox WHERE state = 'queued'
                 AND priority = 0 AND next_attempt_at <= 5 ORDER BY next_attempt_at, id LIMIT 5",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("outbox_due (priority=? AND next_attempt_at<?)"),
            "{plan}"
        );
    }

    #[test]
    fn migrations_apply_once_in_memory() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                 ('inbox_pdu','inbox_message','inbox_part','outbox','outbox_segment','pending_receipt')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 6);
    }

    #[test]
    fn a_version_7_database_gains_the_expiry_index_and_the_refusal_count_with_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // Back to version 7, as a database written by the last release.
        conn.execute_batch(
            "DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar; DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             DROP INDEX outbox_expiry; ALTER TABLE upload_token DROP COLUMN refusals;
             ALTER TABLE inbox_pdu DROP COLUMN link_session; DROP TABLE handset;
             DROP INDEX outbox_due;
             CREATE INDEX outbox_due ON outbox(priority DESC, id) WHERE state = 'queued';
             ALTER TABLE pending_receipt DROP COLUMN addresses;
             ALTER TABLE pending_receipt DROP COLUMN stray;
             DROP TABLE walk;
             ALTER TABLE subscriber DROP COLUMN lang_chosen;
             ALTER TABLE preset DROP COLUMN title_zh;
             ALTER TABLE outbox DROP COLUMN room;
             ALTER TABLE outbox_segment DROP COLUMN room;
             DROP TABLE avatar_push;
             DROP TRIGGER avatar_push_delivered; DROP TABLE avatar_delivered;
             DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered; DROP TABLE smsc_no_cancel; DROP TABLE outbound_pause; DROP TABLE avatar_stale; DROP INDEX outbox_coalesce_in_flight; DROP TABLE avatar_download;
             DROP INDEX outbox_coalesce_submitted; DROP TABLE outbox_cancel;
             ALTER TABLE outbox DROP COLUMN push_veto;
             INSERT INTO pending_receipt (group_id, message_id, stat, state, received_at)
                 VALUES (1, '7', 'DELIVRD', 'delivered', 1);
             PRAGMA user_version = 7",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO upload_token (token, msisdn, created_at, expires_at) VALUES ('t', '861', 1, 2)",
            [],
        )
        .unwrap();
        for (state, expires) in [
            ("queued", Some(5)),
            ("queued", None),
            ("delivered", Some(5)),
            ("queued", Some(9)),
        ] {
            conn.execute(
                "INSERT INTO outbox (created_at, updated_at, content_at, kind, destination, state,
                     next_attempt_at, expires_at) VALUES (1, 1, 1, 'sms', '861', ?1, 1, ?2)",
                rusqlite::params![state, expires],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn).unwrap(), 23, "versions 8 to 30");
        let held: (Option<String>, i64) = conn
            .query_row("SELECT addresses, stray FROM pending_receipt", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(held, (None, 0), "a receipt held before names no number");
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let refusals: i64 = conn
            .query_row(
                "SELECT refusals FROM upload_token WHERE token = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            refusals, 0,
            "an existing upload link starts with no refusals"
        );
        let indexed: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox INDEXED BY outbox_expiry
                 WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= 100",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 2, "the queued rows with a validity end");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 4);
        let due: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'outbox_due'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(due.contains("next_attempt_at"), "{due}");
    }

    #[test]
    fn a_version_16_catalogue_gains_an_empty_chinese_title_and_keeps_its_presets() {
        use crate::command::Lang;
        use crate::service::avatar;
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // Back to version 16, with the catalogue a version 16 gateway imported.
        conn.execute_batch(
            "DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar; DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             ALTER TABLE preset DROP COLUMN title_zh;
             ALTER TABLE outbox DROP COLUMN room;
             ALTER TABLE outbox_segment DROP COLUMN room;
             DROP TABLE avatar_push;
             DROP TRIGGER avatar_push_delivered; DROP TABLE avatar_delivered;
             DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered; DROP TABLE smsc_no_cancel; DROP TABLE outbound_pause; DROP TABLE avatar_stale; DROP INDEX outbox_coalesce_in_flight; DROP TABLE avatar_download;
             DROP INDEX outbox_coalesce_submitted; DROP TABLE outbox_cancel;
             ALTER TABLE outbox DROP COLUMN push_veto;
             INSERT INTO avatar (id, source_sha256, created_at) VALUES (1, 'a', 1), (2, 'b', 1);
             INSERT INTO preset (id, title, avatar_id) VALUES (1, 'Cat', 1), (2, 'Dog', 2);
             PRAGMA user_version = 16",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 14, "versions 17 to 30");
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), 0, "applied once");
        let listed = avatar::presets(&conn, 0, 10).unwrap();
        assert_eq!(
            listed,
            vec![(1, "Cat".into()), (2, "Dog".into())],
            "kept, with no Chinese title"
        );
        let (avatar_id, title) = avatar::preset(&conn, 2).unwrap().unwrap();
        assert_eq!((avatar_id, title.in_lang(Lang::Zh)), (2, "Dog"));
        // The new column takes a Chinese title, and a re-import replaces it.
        let tx = conn.transaction().unwrap();
        avatar::add_preset(
            &tx,
            1,
            &avatar::PresetTitle::new("Cat", Some("猫".into())),
            1,
        )
        .unwrap();
        tx.commit().unwrap();
        let (_, title) = avatar::preset(&conn, 1).unwrap().unwrap();
        assert_eq!(
            (title.in_lang(Lang::Zh), title.in_lang(Lang::En)),
            ("猫", "Cat")
        );
    }

    /// A version 20 database (no `outbox.push_veto`) migrates: every avatar push an older
    /// build withdrew gets the code of the veto its `last_error` names, in each of the texts
    /// this build writes (queued, in flight, at an operator's retry); a row superseded by a
    /// newer one, or in another state, gets none. The column takes only the three codes.
    /// A version 24 database's avatar rows that say nothing any more (a download of a picture
    /// its owner has since replaced, the links of an owner with no avatar) have their owners
    /// noted for retention, as of the upgrade; an owner whose rows are all current is not.
    #[test]
    fn a_version_24_database_notes_the_owners_of_stale_avatar_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered; DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar; DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             DROP TABLE smsc_no_cancel; DROP TABLE outbound_pause; DROP TABLE avatar_stale; PRAGMA user_version = 24;
             INSERT INTO avatar (id, source_sha256, created_at) VALUES (1, 'a', 1), (2, 'b', 1);
             INSERT INTO subscriber_avatar (msisdn, avatar_id, updated_at)
                 VALUES ('current', 1, 1), ('replaced', 2, 1);
             INSERT INTO avatar_download (owner, viewer, avatar_id, downloaded_at)
                 VALUES ('current', 'v', 1, 1), ('replaced', 'v', 1, 1), ('off', 'v', 1, 1);
             INSERT INTO avatar_link (token, owner, viewer, created_at)
                 VALUES ('t1', 'current', 'v', 1), ('t2', 'replaced', 'v', 1),
                        ('t3', 'off', 'v', 1), ('t4', 'off', 'w', 1);",
        )
        .unwrap();
        let before = crate::store::now_ms();
        assert_eq!(migrate(&mut conn).unwrap(), 6, "versions 25 to 30");
        let noted: Vec<(String, i64)> = conn
            .prepare("SELECT owner, since FROM avatar_stale ORDER BY owner")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let owners: Vec<&str> = noted.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(owners, ["off", "replaced"]);
        assert!(
            noted.iter().all(|(_, since)| *since >= before - 1000),
            "noted as of the upgrade: {noted:?}"
        );
    }

    /// A version 27 database's pictures that no subscriber and no preset shows (an upload
    /// changed away from, the picture a re-import took off a preset) are noted for retention,
    /// as of the upgrade; a subscriber's current picture and a preset's are not, even when
    /// nobody else shows them.
    #[test]
    fn a_version_27_database_notes_its_unused_pictures() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered;
             DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar;
             DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             PRAGMA user_version = 27;
             INSERT INTO avatar (id, source_sha256, created_at)
                 VALUES (1, 'current', 1), (2, 'preset', 1), (3, 'changed away', 1),
                        (4, 'off preset', 1), (5, 'both', 1);
             INSERT INTO subscriber_avatar (msisdn, avatar_id, preset_id, updated_at)
                 VALUES ('a', 1, NULL, 1), ('b', 5, 2, 1);
             INSERT INTO preset (id, title, avatar_id) VALUES (1, 'Cat', 2), (2, 'Dog', 5);",
        )
        .unwrap();
        let before = crate::store::now_ms();
        assert_eq!(migrate(&mut conn).unwrap(), 3, "versions 28 to 30");
        let noted: Vec<(i64, i64)> = conn
            .prepare("SELECT avatar_id, since FROM avatar_orphan ORDER BY avatar_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<i64> = noted.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [3, 4]);
        assert!(
            noted.iter().all(|(_, since)| *since >= before - 1000),
            "noted as of the upgrade: {noted:?}"
        );
    }

    #[test]
    fn a_version_20_database_gains_the_push_veto_of_its_withdrawn_pushes() {
        use crate::store::outbox::PushVeto;
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered; DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar; DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             DROP TABLE smsc_no_cancel; DROP TABLE outbound_pause; DROP TABLE avatar_stale; DROP INDEX outbox_coalesce_in_flight; DROP TABLE avatar_download;
             DROP INDEX outbox_coalesce_submitted; DROP TABLE outbox_cancel;
             ALTER TABLE outbox DROP COLUMN push_veto; PRAGMA user_version = 20",
        )
        .unwrap();
        let insert = |state: &str, error: &str| {
            conn.execute(
                "INSERT INTO outbox (created_at, updated_at, content_at, kind, destination, state,
                     next_attempt_at, last_error) VALUES (1, 1, 1, 'sms', '861', ?1, 1, ?2)",
                [state, error],
            )
            .unwrap();
            conn.last_insert_rowid()
        };
        let mut want = Vec::new();
        for v in PushVeto::ALL {
            let texts = [v.at_retry(), v.in_flight().to_string()];
            for text in texts {
                want.push((insert("superseded", &text), Some(v.code().to_string())));
            }
            if v != PushVeto::NotAContact {
                want.push((
                    insert("superseded", &v.queued()),
                    Some(v.code().to_string()),
                ));
            }
        }
        want.push((insert("superseded", "superseded by outbox row 1"), None));
        want.push((insert("failed", &PushVeto::Nobody.at_retry()), None));
        assert_eq!(migrate(&mut conn).unwrap(), 10, "versions 21 to 30");
        for (id, code) in want {
            let got: Option<String> = conn
                .query_row("SELECT push_veto FROM outbox WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(got, code, "row {id}");
        }
        assert!(conn
            .execute("UPDATE outbox SET push_veto = 'stop' WHERE id = 1", [])
            .is_err());
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, known }) => {
                assert_eq!(found, SCHEMA_VERSION + 5);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
