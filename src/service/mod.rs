//! The status service: turns a subscriber's command into state changes, a reply and status
//! updates for contacts, all written in the caller's ONE transaction together with the outbox
//! rows they cause (DESIGN.md flow step 4, the transactional outbox). Synchronous and free of
//! I/O apart from that transaction, so it is tested without a runtime; [`worker`] runs it on MO
//! traffic, the expiry scheduler and network events.
//!
//! # Model
//! Every subscriber has *audiences*: the four built-in groups, their own groups, and OTHERS
//! (everyone in none of them). Each audience holds the status it sees, with an optional expiry
//! and the status it reverts to. A network override (INCALL while in a call, OFF while the phone
//! is off) is shown to every audience while it lasts and restores their statuses afterwards.
//!
//! # Who sees what (precedence)
//! A contact in several of an owner's groups sees the status of the group whose status was set
//! **most recently** (`set_seq`; ties, as after `STATUS ALL`, go to the first group in GROUPS
//! order); a number in none of them sees OTHERS. `WHO` answers with exactly that.
//!
//! # Fan-out
//! A change notifies exactly the contacts whose *visible* status changed: the members of the
//! changed groups (a member who sees a more recently set group is not told), minus those who
//! sent STOP for the owner or STOP ALL. OTHERS are never told. One SMS each, in the recipient's
//! language (theirs if they are a subscriber, else the owner's), keyed by (owner, recipient) in
//! the outbox so that a burst of changes leaves only the latest unsent update. An owner who
//! passes the hourly quota of notifying changes still has every change applied; their updates
//! are held until the hour has room (and coalesced meanwhile), and the reply says so.
//!
//! A membership change (`GROUP g ADD` / `DEL` / `DROP`) changes views too: the contacts it
//! moves are compared with their groups before and after, by the same rules
//! ([`Service::notify`] serves both). One taken out of every group is OTHERS and not told.

pub mod address;
pub mod avatar;
pub mod clock;
pub mod replies;
pub mod state;
pub mod ussd;
pub mod worker;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rusqlite::Transaction;

use crate::command::{
    self, Command, GroupName, HelpTopic, Lang, Msisdn, ParseErrorKind, Privacy, StatusAssignment,
    StatusChange, StatusCode, StatusText, StopTarget, Target,
};
use crate::store::outbox::{self, NewMessage};
use crate::store::StoreError;
use clock::Zone;
use replies::{CurrentAvatar, Label, Line, Reach, Shown, Text};
use state::{Audience, AudienceKind, Stored, Subscriber};

/// Errors of the service: only the store can fail; every bad input is a reply.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed; the transaction is rolled back and the message stays pending.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Limits and settings of the status service (`[service]` in the config file).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Default country code for national numbers (`86`).
    pub country_code: String,
    /// The number subscribers text (`service_number`, as the outbox sends from): an MO sent
    /// to another number is not a command ([`Service::is_for_service`]).
    pub service_number: String,
    /// Other numbers the carrier routes to the service (`service_aliases`): their MO are
    /// commands as the service number's are.
    pub service_aliases: Vec<String>,
    /// Time zone of `UNTIL hh:mm` and of times shown.
    pub zone: Zone,
    /// Most members in one group.
    pub max_group_members: usize,
    /// Most memberships over all of a subscriber's groups.
    pub max_total_members: usize,
    /// Most user-made groups per subscriber.
    pub max_user_groups: usize,
    /// Status changes per owner per rolling hour that notify at once; later ones are held.
    pub hourly_change_quota: u32,
    /// How long a status update waits before it goes, so that a contact told of a burst of
    /// changes gets one SMS with the latest (zero: at once). Counted from the burst's first
    /// change: a later one takes the waiting update's place and keeps its time.
    pub update_delay: Duration,
    /// Whether INCALL (call_started / call_ended) notifies contacts.
    pub notify_incall: bool,
    /// Caller avatars.
    pub avatar: avatar::AvatarConfig,
    /// USSD menus.
    pub ussd: ussd::UssdConfig,
    /// Numbers per page of `GROUP g`.
    pub page_size: usize,
    /// Language of a brand-new subscriber whose first command is language-neutral.
    pub default_lang: Lang,
    /// How long a long MO message waits for its missing parts before it is dropped and its
    /// sender asked to send it again ([`Service::abandon_incomplete`]).
    pub parts_timeout: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            country_code: "86".into(),
            service_number: "10658".into(),
            service_aliases: Vec::new(),
            zone: Zone::CHINA,
            max_group_members: 200,
            max_total_members: 1000,
            max_user_groups: 16,
            hourly_change_quota: 30,
            update_delay: Duration::ZERO,
            notify_incall: true,
            avatar: avatar::AvatarConfig::default(),
            ussd: ussd::UssdConfig::default(),
            page_size: 8,
            default_lang: Lang::En,
            parts_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// A network event (`POST /api/v1/events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkEvent {
    /// A call began: every audience sees INCALL.
    CallStarted,
    /// The call ended: statuses are restored.
    CallEnded,
    /// The phone was switched off: every audience sees OFF.
    PowerOff,
    /// The phone came back: statuses are restored.
    PowerOn,
}

impl NetworkEvent {
    /// Parses the API's event names (`call_started`, ...).
    pub fn parse(s: &str) -> Option<NetworkEvent> {
        match s {
            "call_started" => Some(NetworkEvent::CallStarted),
            "call_ended" => Some(NetworkEvent::CallEnded),
            "power_off" => Some(NetworkEvent::PowerOff),
            "power_on" => Some(NetworkEvent::PowerOn),
            _ => None,
        }
    }
}

/// An MO text parsed by [`Service::parse_mo`]: the sender and the command (or why it is not
/// one, and how it reads with a group glued to its status taken apart); `None` inside for a
/// sender that is no plausible number.
#[derive(Debug, Clone)]
pub struct ParsedMo(
    Option<(
        Msisdn,
        Result<command::Parsed, command::ParseError>,
        Readings,
    )>,
);

/// The readings of a text that glues a user group to its status ([`command::glued_readings`]),
/// for the service to take where the subscriber has the group; empty for most texts.
type Readings = Vec<command::GroupReading>;

/// What applying one input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The command's name (for metrics and logs), `None` for unparsable input.
    pub command: Option<&'static str>,
    /// The reply enqueued, if any.
    pub reply: Option<String>,
    /// Status updates enqueued (or coalesced into queued rows).
    pub notified: usize,
    /// Whether the owner's hourly quota held the updates back.
    pub deferred: bool,
}

/// The status service. Cheap to clone; holds only its settings.
#[derive(Debug, Clone)]
pub struct Service {
    cfg: ServiceConfig,
    /// The forms an MO destination takes for the service number and its aliases
    /// ([`address::service_forms`], from `cfg`).
    service_forms: Vec<String>,
    /// The service number and its aliases as E.164 digits ([`command::msisdn::e164_digits`]),
    /// to tell one typed where a subscriber's number goes ([`Service::is_own_number`]).
    own_numbers: Vec<String>,
}

/// What one audience shows right now (the network override applied).
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    shown: Shown,
    expires_at: Option<i64>,
    set_seq: i64,
}

impl View {
    fn same_for_contact(&self, other: &View) -> bool {
        self.shown == other.shown && self.expires_at == other.expires_at
    }
}

fn view(sub: &Subscriber, a: &Audience) -> View {
    match sub.net_state {
        Some(code) => View {
            shown: Shown::Code(code),
            expires_at: None,
            set_seq: a.status.set_seq,
        },
        None => View {
            shown: a.status.shown.clone(),
            expires_at: a.status.expires_at,
            set_seq: a.status.set_seq,
        },
    }
}

/// Longest revert chain kept (timed statuses stacked over each other; the deepest timed steps
/// are dropped beyond it, the lasting status at the bottom is always kept).
const MAX_REVERT_CHAIN: usize = 8;

/// The revert chain of a timed status expiring at `until`, set over `current` whose own chain
/// is `chain`: `current` and then its chain, less every step that will have expired by `until`
/// (each step expires later than the one before it, so those are a prefix). FREE, then BUSY FOR
/// 1H, then DRIVING FOR 30M gives `[BUSY, FREE]`; DRIVING FOR 2H instead gives `[FREE]`.
fn revert_chain(current: &Stored, chain: &[Stored], until: i64) -> Vec<Stored> {
    let mut out: Vec<Stored> = std::iter::once(current)
        .chain(chain)
        .filter(|p| p.expires_at.is_none_or(|t| t > until))
        .cloned()
        .collect();
    if out.len() > MAX_REVERT_CHAIN {
        let bottom = out.pop();
        out.truncate(MAX_REVERT_CHAIN - 1);
        out.extend(bottom);
    }
    out
}

fn views(sub: &Subscriber, auds: &[Audience]) -> HashMap<i64, View> {
    auds.iter().map(|a| (a.id, view(sub, a))).collect()
}

/// The audience a contact in `groups` sees: the most recently set of them, else OTHERS.
/// `auds` is in GROUPS order, which breaks ties.
fn visible<'a>(auds: &'a [Audience], views: &HashMap<i64, View>, groups: &[i64]) -> &'a Audience {
    let mut best: Option<(&Audience, i64)> = None;
    for a in auds.iter().filter(|a| groups.contains(&a.id)) {
        let seq = views.get(&a.id).map_or(0, |v| v.set_seq);
        if best.is_none_or(|(_, s)| seq > s) {
            best = Some((a, seq));
        }
    }
    match best {
        Some((a, _)) => a,
        None => auds
            .iter()
            .find(|a| a.kind == AudienceKind::Others)
            .unwrap_or(&auds[0]),
    }
}

fn shown_of(text: &StatusText) -> Shown {
    match text {
        StatusText::Builtin(c) => Shown::Code(*c),
        StatusText::Free(f) => Shown::Text(f.as_str().to_string()),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Help(_) => "help",
        Command::Name(_) => "name",
        Command::Groups(_) => "groups",
        Command::GroupShow { .. } => "group_show",
        Command::GroupAdd { .. } => "group_add",
        Command::GroupDel { .. } => "group_del",
        Command::GroupRename { .. } => "group_rename",
        Command::GroupDrop(_) => "group_drop",
        Command::StatusShow(_) => "status_show",
        Command::StatusSet(_) => "status_set",
        Command::Who(_) => "who",
        Command::Avatars { .. } => "avatars",
        Command::AvatarShow => "avatar_show",
        Command::AvatarSet(_) => "avatar_set",
        Command::AvatarUpload => "avatar_upload",
        Command::AvatarOff => "avatar_off",
        Command::Privacy(_) => "privacy",
        Command::PrivacyShow => "privacy_show",
        Command::Stop(_) => "stop",
        Command::Start(_) => "start",
        Command::Lang(_) => "lang",
    }
}

/// Reply priority: replies go before fan-out updates.
const REPLY_PRIORITY: i32 = 10;

/// The coalescing key of `owner`'s status updates to `member` (one queued row per pair).
fn status_key(owner: &str, member: &str) -> String {
    format!("status:{owner}:{member}")
}

/// Withdraw every update about `owner` still queued for `member` (status and avatar), or
/// about anyone when `owner` is `None` (STOP ALL): the recipient sent STOP, or left the
/// owner's groups, and must not get what was queued before. An avatar push withdrawn when a
/// veto also stops it (the contact is out of every group under PRIVACY CONTACTS) keeps that
/// veto ([`outbox::push_veto`], the store's rule).
fn withdraw_updates(
    tx: &Transaction<'_>,
    owner: Option<&str>,
    member: &str,
    why: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let veto = match owner {
        Some(owner) => outbox::push_veto(tx, owner, member)?,
        None => None,
    };
    // `%` and `_` cannot occur in a normalised number; the owner part is a LIKE wildcard
    // only for STOP ALL.
    let owner = owner.unwrap_or("%");
    let n = outbox::withdraw_queued(tx, &status_key(owner, member), why, None, now)?;
    Ok(n + outbox::withdraw_queued(tx, &avatar::push_key(owner, member), why, veto, now)?)
}

/// Who a new avatar of `owner`'s reached, as the reply says it: nobody under PRIVACY NOBODY;
/// "already" when it was their avatar before (`again`) and no contact is sent it (their
/// handsets have it); else the `told` contacts queued.
fn reach(owner: &Subscriber, again: bool, told: usize) -> Reach {
    if owner.privacy == Privacy::Nobody {
        Reach::Nobody
    } else if again && told == 0 {
        Reach::Already
    } else {
        Reach::Told(told)
    }
}

/// Refused uploads on one upload link that are told to its owner by SMS
/// ([`Service::reject_upload`]); later refusals get their page only.
pub const REFUSALS_TOLD: u32 = 5;

impl Service {
    /// A service with these settings.
    pub fn new(cfg: ServiceConfig) -> Service {
        let numbers = std::iter::once(cfg.service_number.as_str())
            .chain(cfg.service_aliases.iter().map(String::as_str));
        let service_forms = address::service_forms(numbers.clone(), &cfg.country_code);
        let own_numbers = numbers
            .filter_map(|n| command::msisdn::e164_digits(n, &cfg.country_code))
            .collect();
        Service {
            cfg,
            service_forms,
            own_numbers,
        }
    }

    /// Whether `typed`, a number a subscriber typed, is the service number or one of its
    /// aliases, compared as numbers ([`command::msisdn::e164_digits`]: `+86 1065712345678`
    /// is `1065712345678`), whatever their length: the parser knows only short service
    /// numbers by their look (`10086`: [`command::msisdn::is_service_number`]).
    fn is_own_number(&self, typed: &str) -> bool {
        command::msisdn::e164_digits(typed, &self.cfg.country_code)
            .is_some_and(|digits| self.own_numbers.contains(&digits))
    }

    /// `parsed` with the service's own number, given where a subscriber's number goes (`WHO
    /// 1065712345678`, `STOP +86 1065712345678`, `GROUP FAMILY ADD ...`), refused as a
    /// service number ([`ParseErrorKind::ServiceNumber`]) as `WHO 10086` is, whether the
    /// parser refused it as some other slip or read it as a number; it quotes the number
    /// as typed, or as read when it was read.
    fn own_number_refused(
        &self,
        parsed: Result<command::Parsed, command::ParseError>,
    ) -> Result<command::Parsed, command::ParseError> {
        match parsed {
            Err(mut e)
                if matches!(e.kind, ParseErrorKind::Number(_)) && self.is_own_number(&e.bad) =>
            {
                e.kind = ParseErrorKind::ServiceNumber;
                Err(e)
            }
            Ok(p) => {
                let (numbers, usage): (Vec<&Msisdn>, HelpTopic) = match &p.command {
                    Command::Who(m) => (vec![m], HelpTopic::Who),
                    Command::Stop(StopTarget::Number(m))
                    | Command::Start(StopTarget::Number(m)) => (vec![m], HelpTopic::Stop),
                    Command::GroupAdd { members, .. } | Command::GroupDel { members, .. } => {
                        (members.iter().collect(), HelpTopic::Group)
                    }
                    _ => (Vec::new(), HelpTopic::General),
                };
                match numbers.into_iter().find(|m| self.is_own_number(m.as_str())) {
                    Some(m) => Err(command::ParseError {
                        kind: ParseErrorKind::ServiceNumber,
                        bad: m.as_str().to_owned(),
                        usage,
                        lang_hint: p.lang_hint,
                        doubts: Vec::new(),
                    }),
                    None => Ok(p),
                }
            }
            other => other,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.cfg
    }

    /// Whether an MO sent to `destination` (its `destination_addr` as received) is for the
    /// service: to the service number or one of its aliases (national or international, with
    /// or without `+`), or to the USSD code ([`address::is_for_service`]). Any other is kept
    /// in the inbox but neither run as a command nor answered. A USSD dialogue unit
    /// (`ussd_unit`) with no destination at all is the service's too: some USSD gateways fill
    /// `destination_addr` in only on a dialogue's first unit, and the continuing units belong
    /// to the dialogue their session opened.
    pub fn is_for_service(&self, destination: &str, ussd_unit: bool) -> bool {
        if ussd_unit && destination.trim().is_empty() {
            return true;
        }
        address::is_for_service(destination, &self.service_forms, &self.cfg.ussd)
    }

    /// Apply one MO text from `source` (the SMPP source address as received) at `now`: parse,
    /// apply, and enqueue the reply and updates, all in `tx`. A source that is no plausible
    /// number (an alphanumeric sender) gets no reply and changes nothing.
    pub fn handle_mo(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        source: &str,
        text: &str,
    ) -> Result<Outcome, ServiceError> {
        self.apply_mo(tx, now, self.parse_mo(source, text))
    }

    /// The pure half of [`Service::handle_mo`]: the sender's number and the parsed command
    /// (run it outside the store's writer thread; [`Service::apply_mo`] does the rest).
    pub fn parse_mo(&self, source: &str, text: &str) -> ParsedMo {
        match Msisdn::parse(source, &self.cfg.country_code) {
            Ok(sender) => {
                let parsed = command::parse(text, &self.cfg.country_code);
                let readings = match &parsed {
                    Err(e) if command::glued_readings_may_help(&e.kind) => {
                        command::glued_readings(text, &self.cfg.country_code)
                    }
                    _ => Vec::new(),
                };
                ParsedMo(Some((sender, self.own_number_refused(parsed), readings)))
            }
            Err(_) => ParsedMo(None),
        }
    }

    /// The transactional half of [`Service::handle_mo`], for a message [`Service::parse_mo`]
    /// parsed.
    pub fn apply_mo(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        parsed: ParsedMo,
    ) -> Result<Outcome, ServiceError> {
        let Some((sender, parsed, readings)) = parsed.0 else {
            return Ok(Outcome::default());
        };
        let hint = match &parsed {
            Ok(p) => p.lang_hint,
            Err(e) => e.lang_hint,
        };
        let mut sub = state::ensure_subscriber(
            tx,
            sender.as_str(),
            hint.unwrap_or(self.cfg.default_lang),
            now,
        )?;
        avatar::count_mo(tx, &sub.msisdn, now)?;
        // The language follows the command's keywords, except that one who chose Chinese
        // (LANG ZH) keeps it while typing English keywords (COMMANDS.md: Chinese "if the
        // user's last command used Chinese keywords or LANG ZH").
        if let Some(lang) = hint.filter(|&l| !(sub.lang_chosen && l == Lang::En)) {
            if lang != sub.lang {
                sub.lang = lang;
                state::save_subscriber(tx, &sub, now)?;
            }
        }
        // `状态 老同学忙` from one who has a group 老同学: the reading with the space put in.
        let parsed = match parsed {
            Err(e) if !readings.is_empty() => match self.reading_holding(tx, &sub, readings)? {
                Some(p) => Ok(p),
                None => Err(e),
            },
            other => other,
        };
        let parsed = match parsed {
            Ok(p) if !p.doubts.is_empty() => self.settle_doubts(tx, &sub, p)?,
            Err(e) if !e.doubts.is_empty() => {
                Err(self.doubt_holding(tx, &sub, &e.doubts)?.unwrap_or(e))
            }
            other => other,
        };
        let (name, text, fan) = match parsed {
            Ok(p) => {
                let name = command_name(&p.command);
                let (text, fan) = self.apply(tx, now, &mut sub, p.command)?;
                (Some(name), text, fan)
            }
            // The menu's code texted instead of dialled: say how to dial it.
            Err(e) if ussd::is_menu_code(&self.cfg.ussd, &e.bad) => {
                (None, Text::DialIt(e.bad), FanOut::default())
            }
            Err(e) => (
                None,
                Text::Invalid {
                    kind: e.kind,
                    bad: e.bad,
                    usage: e.usage,
                },
                FanOut::default(),
            ),
        };
        let reply = text.render(sub.lang);
        self.tell(tx, now, &sub, text)?;
        Ok(Outcome {
            command: name,
            reply: Some(reply),
            notified: fan.told,
            deferred: fan.deferred_until.is_some(),
        })
    }

    /// `parsed` as it stands, or the error of its first doubt that holds for `sub`'s groups
    /// (a comma left out before a group they have, or inside free text before a word that
    /// names no group of theirs: see [`command::Doubt`]).
    fn settle_doubts(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        parsed: command::Parsed,
    ) -> Result<Result<command::Parsed, command::ParseError>, ServiceError> {
        Ok(match self.doubt_holding(tx, sub, &parsed.doubts)? {
            Some(e) => Err(e),
            None => Ok(parsed),
        })
    }

    /// The command of the first of `readings` whose groups `sub` all has, if one does
    /// ([`command::GroupReading`]); none when the word read apart is itself one of their
    /// groups (a group 老同学忙 named without its status: asked, not read as 老同学).
    fn reading_holding(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        readings: Readings,
    ) -> Result<Option<command::Parsed>, ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let has = |g: &GroupName| Self::find(&auds, g).is_some();
        Ok(readings
            .into_iter()
            .find(|r| {
                !GroupName::try_from(r.word.as_str()).is_ok_and(|g| has(&g))
                    && r.groups.iter().all(has)
            })
            .map(|r| r.parsed))
    }

    /// The error of the first of `doubts` that holds for `sub`'s groups, if one does
    /// ([`command::Doubt`]).
    fn doubt_holding(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        doubts: &[command::Doubt],
    ) -> Result<Option<command::ParseError>, ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        Ok(doubts
            .iter()
            .find(|d| Self::find(&auds, &d.group).is_some() == d.if_exists)
            .map(|d| d.error.clone()))
    }

    /// The menu from its first screen along the path of `dialled` (`*123*1*2#`: 1, then 2).
    fn ussd_walk(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        data: &mut ussd::MenuData,
        dialled: &str,
        lang: Lang,
    ) -> Result<ussd::Step, ServiceError> {
        let mut step = ussd::start(&self.cfg.ussd, data, lang);
        for input in ussd::dialled_path(dialled) {
            match &step {
                ussd::Step::Show(screen, _) => {
                    self.ussd_group(tx, now, sub, data, screen)?;
                    step = self.ussd_step(screen, &input, data, lang);
                }
                _ => break,
            }
        }
        Ok(step)
    }

    /// Apply one USSD dialogue unit from `source` to `service_code` (step through the menu,
    /// persist the session, apply a finished choice as the equivalent command), all in `tx`.
    /// Returns the screen to send back, or `None` (abort, unknown op, stale, bad sender).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_ussd(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        received_at: i64,
        source: &str,
        service_code: &str,
        text: &str,
        tag: crate::store::inbox::UssdTag,
    ) -> Result<Option<crate::delivery::encode::UssdSubmit>, ServiceError> {
        use ussd::Step;
        let cfg = &self.cfg.ussd;
        let Ok(sender) = Msisdn::parse(source, &self.cfg.country_code) else {
            return Ok(None);
        };
        let mut sub = state::ensure_subscriber(tx, sender.as_str(), self.cfg.default_lang, now)?;
        let number = tag.session.map(|s| s[0]);
        if cfg.op_abort.contains(&tag.op) || now - received_at > cfg.timeout_ms {
            // Aborted, or so old (a restart) that the network has closed the dialogue: that
            // dialogue ends, not a newer one the subscriber has opened since.
            state::end_ussd_of(tx, &sub.msisdn, number)?;
            return Ok(None);
        }
        let lang = sub.lang;
        let mut data = self.menu_data(tx, &sub)?;
        let step = if tag.op == cfg.op_begin {
            self.ussd_walk(tx, now, &sub, &mut data, text, lang)?
        } else if tag.op == cfg.op_continue {
            match state::ussd_dialogue(tx, &sub.msisdn, now, number)? {
                // The menu's code typed as the answer (`*123*1#` on an open screen): a fresh
                // start along its path, as dialling it is.
                state::UssdDialogue::Open(_) if ussd::is_menu_code(cfg, text) => {
                    self.ussd_walk(tx, now, &sub, &mut data, text, lang)?
                }
                state::UssdDialogue::Open(screen) => {
                    self.ussd_group(tx, now, &sub, &mut data, &screen)?;
                    self.ussd_step(&screen, text, &data, lang)
                }
                state::UssdDialogue::None => Step::End(match lang {
                    Lang::En => format!("Your session has ended. Dial {} again.", cfg.code),
                    Lang::Zh => format!("会话已结束，请重新拨打{}。", cfg.code),
                }),
                // A late answer from an earlier dialogue: the open one is not moved by it.
                state::UssdDialogue::Other => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        let (text, end) = match step {
            Step::Show(screen, mut text) => {
                // A group's screen chosen just now: drawn again with the group loaded.
                if self.ussd_group(tx, now, &sub, &mut data, &screen)? {
                    text = ussd::render(cfg, &screen, &data, lang, false);
                }
                state::save_ussd(
                    tx,
                    &sub.msisdn,
                    tag.session,
                    &screen,
                    now,
                    now + cfg.timeout_ms,
                )?;
                (text, false)
            }
            Step::Run(cmd) => {
                state::end_ussd(tx, &sub.msisdn)?;
                let (reply, _) = self.apply(tx, now, &mut sub, cmd)?;
                (ussd::result_text(cfg, &reply, lang), true)
            }
            Step::End(text) => {
                state::end_ussd(tx, &sub.msisdn)?;
                (text, true)
            }
        };
        // Reply from the short code itself (`*123#` -> `123`): SMSCs refuse `*`/`#` addresses.
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let source = Some(digits(service_code))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| digits(&cfg.code));
        Ok(Some(crate::delivery::encode::UssdSubmit {
            source,
            destination: sub.msisdn.clone(),
            text,
            op: if end { cfg.op_end } else { cfg.op_menu },
            // Copy the received session info; set the end-of-session bit when closing.
            session: tag
                .session
                .map(|[s, q]| [s, if end { q | 1 } else { q & !1 }]),
            service_type: cfg.service_type.clone(),
            gsm7_data_coding: cfg.gsm7_data_coding,
        }))
    }

    /// [`ussd::step`], with the service's own number typed at the WHO prompt (of any
    /// length: `1065712345678`) said to be a service number, as the WHO command says it
    /// ([`Service::is_own_number`]).
    fn ussd_step(
        &self,
        screen: &ussd::Screen,
        input: &str,
        data: &ussd::MenuData,
        lang: Lang,
    ) -> ussd::Step {
        if *screen == ussd::Screen::WhoPrompt && self.is_own_number(input) {
            return ussd::service_number_again(&self.cfg.ussd, input, lang);
        }
        ussd::step(&self.cfg.ussd, screen, input, data, lang)
    }

    fn menu_data(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
    ) -> Result<ussd::MenuData, ServiceError> {
        let counts = state::member_counts(tx, &sub.msisdn)?;
        let audiences = state::audiences(tx, &sub.msisdn)?
            .into_iter()
            .map(|a| {
                let n = counts.get(&a.id).copied().unwrap_or(0);
                (a.name.clone(), a.label(), n)
            })
            .collect();
        let presets = avatar::presets(tx, 0, 1000)?;
        Ok(ussd::MenuData {
            audiences,
            presets,
            group: None,
        })
    }

    /// Load into `data` the group `screen` shows, unless it holds it already; `true` when it
    /// was loaded now.
    fn ussd_group(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        data: &mut ussd::MenuData,
        screen: &ussd::Screen,
    ) -> Result<bool, ServiceError> {
        let Some(key) = screen.group() else {
            return Ok(false);
        };
        if data.group.as_ref().is_some_and(|g| g.key == key) {
            return Ok(false);
        }
        let auds = state::audiences(tx, &sub.msisdn)?;
        let Some(a) = auds
            .iter()
            .find(|a| a.kind != AudienceKind::Others && a.name == key)
        else {
            return Ok(false);
        };
        let total = data
            .audiences
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or(0, |(_, _, n)| *n);
        let v = view(sub, a);
        data.group = Some(ussd::GroupView {
            key: key.to_string(),
            line: Line {
                label: a.label(),
                shown: v.shown,
                until: self.until(now, v.expires_at),
                members: Some(total),
            },
            members: state::members(tx, a.id, 0, total.max(1))?,
        });
        Ok(true)
    }

    /// Apply a parsed command for `sub`; returns the reply text and the fan-out done.
    fn apply(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &mut Subscriber,
        cmd: Command,
    ) -> Result<(Text, FanOut), ServiceError> {
        let none = FanOut::default();
        let text = match cmd {
            Command::Help(t) => Text::Help(t.unwrap_or(HelpTopic::General)),
            Command::Name(n) => {
                sub.display_name = n.as_ref().map(|n| n.as_str().to_string());
                state::save_subscriber(tx, sub, now)?;
                match n {
                    Some(n) => Text::NameSet(n.as_str().to_string()),
                    None => Text::NameCleared,
                }
            }
            Command::Groups(page) => Text::Groups {
                lines: self.lines(tx, now, sub, true)?,
                page,
            },
            Command::StatusShow(page) => Text::Statuses {
                lines: self.lines(tx, now, sub, false)?,
                page,
            },
            Command::GroupShow { group, page } => {
                let group = self.meant_group(tx, sub, group)?;
                self.group_show(tx, sub, &group, page)?
            }
            Command::GroupAdd { group, members } => {
                let group = self.meant_group(tx, sub, group)?;
                return self.group_add(tx, now, sub, &group, &members);
            }
            Command::GroupDel { group, members } => {
                let group = self.meant_group(tx, sub, group)?;
                return self.group_del(tx, now, sub, &group, &members);
            }
            Command::GroupRename { from, to } => {
                let from = self.meant_group(tx, sub, from)?;
                let to = self.meant_group(tx, sub, to)?;
                self.group_rename(tx, sub, &from, &to)?
            }
            Command::GroupDrop(group) => {
                let group = self.meant_group(tx, sub, group)?;
                return self.group_drop(tx, now, sub, &group);
            }
            Command::StatusSet(mut assignments) => {
                // `状态 家人组 忙` is 家人's, as `分组 家人组` is ([`Service::meant_group`]).
                for a in &mut assignments {
                    if let Target::Group(g) = &a.target {
                        a.target = Target::Group(self.meant_group(tx, sub, g.clone())?);
                    }
                }
                return self.status_set(tx, now, sub, &assignments);
            }
            Command::Who(n) => self.who(tx, now, sub, &n)?,
            Command::Avatars { page } => self.presets_page(tx, page)?,
            Command::AvatarShow => {
                Text::AvatarNow(match avatar::current_choice(tx, &sub.msisdn)? {
                    None => CurrentAvatar::None,
                    Some((_, None)) => CurrentAvatar::Own,
                    Some((_, Some(id))) => CurrentAvatar::Preset {
                        id,
                        title: avatar::preset(tx, id)?.map(|(_, t)| t),
                    },
                })
            }
            Command::AvatarSet(id) => return self.choose_preset(tx, now, sub, i64::from(id)),
            Command::AvatarUpload => {
                let a = avatar::activity(tx, &sub.msisdn)?;
                match avatar::eligibility(&a, &self.cfg.avatar.thresholds) {
                    Ok(()) => {
                        let token = avatar::create_upload(
                            tx,
                            &sub.msisdn,
                            now,
                            self.cfg.avatar.upload_ttl,
                        )?;
                        Text::UploadLink {
                            url: self.upload_url(&token),
                            minutes: self.cfg.avatar.upload_ttl.as_secs().div_ceil(60),
                            max_kb: self.cfg.avatar.max_upload_bytes / 1024,
                        }
                    }
                    Err(Some(c)) => Text::UploadNotYet {
                        metric: c.metric,
                        have: c.have,
                        need: c.need,
                    },
                    Err(None) => Text::UploadsOff,
                }
            }
            Command::AvatarOff => {
                let had = avatar::clear_avatar(tx, &sub.msisdn, now)?;
                // The link of a push not yet sent would open no picture: withdrawn, as PRIVACY
                // NOBODY withdraws them (one in flight that comes back unsent is withdrawn
                // then).
                if had {
                    outbox::withdraw_queued_pushes(
                        tx,
                        &sub.msisdn,
                        outbox::PushVeto::AvatarOff,
                        now,
                    )?;
                }
                Text::AvatarRemoved { had }
            }
            Command::PrivacyShow => Text::PrivacyNow(sub.privacy),
            Command::Privacy(p) => {
                let was = sub.privacy;
                sub.privacy = p;
                state::save_subscriber(tx, sub, now)?;
                // Opened from NOBODY: the contacts may see the avatar now, and those whose
                // handset does not have it get it (one chosen meanwhile was pushed to nobody;
                // one pushed before NOBODY is still on the handsets it reached). Between
                // CONTACTS and EVERYONE the contacts already had it.
                let told = if was == Privacy::Nobody && p != Privacy::Nobody {
                    self.push_avatar_if_any(tx, now, sub, None)?
                } else {
                    0
                };
                // Closed: the pushes not yet sent are withdrawn (those in flight go out), so
                // no contact is sent a picture they may no longer see. Narrowing EVERYONE to
                // CONTACTS withdraws nothing: pushes only ever go to contacts.
                if p == Privacy::Nobody {
                    outbox::withdraw_queued_pushes(tx, &sub.msisdn, outbox::PushVeto::Nobody, now)?;
                }
                return Ok((
                    Text::PrivacySet(p),
                    FanOut {
                        told,
                        deferred_until: None,
                    },
                ));
            }
            // One's own number: no updates about oneself come (WHO says "That is you" too);
            // nothing is recorded.
            Command::Stop(StopTarget::Number(n)) | Command::Start(StopTarget::Number(n))
                if n.as_str() == sub.msisdn =>
            {
                Text::StopSelf
            }
            Command::Stop(StopTarget::Number(n)) => {
                state::set_optout(tx, &sub.msisdn, n.as_str(), Some("stop"), now)?;
                withdraw_updates(
                    tx,
                    Some(n.as_str()),
                    &sub.msisdn,
                    "recipient sent STOP",
                    now,
                )?;
                Text::Stopped(n.as_str().to_string())
            }
            Command::Stop(StopTarget::All) => {
                sub.stop_all = true;
                state::save_subscriber(tx, sub, now)?;
                state::clear_optouts(tx, &sub.msisdn, "allow")?;
                withdraw_updates(tx, None, &sub.msisdn, "recipient sent STOP ALL", now)?;
                Text::StoppedAll
            }
            Command::Start(StopTarget::Number(n)) => {
                // Whether updates about n were stopped (by STOP n or STOP ALL): if not, the
                // reply says there was nothing to undo, not "again".
                let (_, was_stopped) = state::recipient(tx, &sub.msisdn, n.as_str())?;
                let mode = sub.stop_all.then_some("allow");
                state::set_optout(tx, &sub.msisdn, n.as_str(), mode, now)?;
                let told = self.push_avatar_on_start(tx, now, &sub.msisdn, n.as_str())?;
                let number = n.as_str().to_string();
                return Ok((
                    if was_stopped {
                        Text::Started(number)
                    } else {
                        Text::NotStopped(number)
                    },
                    FanOut {
                        told,
                        deferred_until: None,
                    },
                ));
            }
            Command::Start(StopTarget::All) => {
                sub.stop_all = false;
                state::save_subscriber(tx, sub, now)?;
                state::clear_optouts(tx, &sub.msisdn, "stop")?;
                state::clear_optouts(tx, &sub.msisdn, "allow")?;
                let mut told = 0;
                for owner in state::owners_of(tx, &sub.msisdn)? {
                    told += self.push_avatar_on_start(tx, now, &sub.msisdn, &owner)?;
                }
                return Ok((
                    Text::StartedAll,
                    FanOut {
                        told,
                        deferred_until: None,
                    },
                ));
            }
            Command::Lang(l) => {
                sub.lang = l;
                sub.lang_chosen = l == Lang::Zh;
                state::save_subscriber(tx, sub, now)?;
                Text::LangSet(l)
            }
        };
        Ok((text, none))
    }

    fn upload_url(&self, token: &str) -> String {
        format!(
            "{}/u/{token}",
            self.cfg.avatar.public_url.trim_end_matches('/')
        )
    }

    fn presets_page(&self, tx: &Transaction<'_>, page: u32) -> Result<Text, ServiceError> {
        let total = avatar::preset_count(tx)?;
        if total == 0 {
            return Ok(Text::NoPresets);
        }
        let per = self.cfg.avatar.presets_per_page.max(1);
        let pages = total.div_ceil(per) as u32;
        // A page before the first or past the last is not looked up: the reply says there is
        // no such page.
        let items = if page == 0 || page > pages {
            Vec::new()
        } else {
            avatar::presets(tx, (page as usize - 1) * per, per)?
        };
        Ok(Text::Presets {
            page,
            pages,
            items,
            gallery: format!(
                "{}/gallery?page={page}",
                self.cfg.avatar.public_url.trim_end_matches('/')
            ),
        })
    }

    fn choose_preset(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        id: i64,
    ) -> Result<(Text, FanOut), ServiceError> {
        let Some((avatar_id, title)) = avatar::preset(tx, id)? else {
            return Ok((Text::NoSuchPreset(id), FanOut::default()));
        };
        // The picture the avatar is already: only the handsets without it get it (the others
        // would be told of "a new caller picture" they show already).
        let again = avatar::current(tx, &sub.msisdn)? == Some(avatar_id);
        avatar::set_avatar(tx, &sub.msisdn, avatar_id, Some(id), now)?;
        let told = self.push_avatar(tx, now, sub, None, again)?;
        Ok((
            Text::AvatarChosen {
                id,
                title,
                reach: reach(sub, again, told),
            },
            FanOut {
                told,
                deferred_until: None,
            },
        ))
    }

    /// Queue `owner`'s avatar, if they have one, to `to` (contacts who have just become
    /// allowed to see it; `None`: every contact), as [`Service::push_avatar`] does, except to
    /// those whose handset already has it ([`avatar::sent_current`]): PRIVACY NOBODY and
    /// leaving the groups took nothing off it.
    fn push_avatar_if_any(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        owner: &Subscriber,
        to: Option<Vec<String>>,
    ) -> Result<usize, ServiceError> {
        if to.as_ref().is_some_and(Vec::is_empty)
            || owner.privacy == Privacy::Nobody
            || avatar::current(tx, &owner.msisdn)?.is_none()
        {
            return Ok(0);
        }
        self.push_avatar(tx, now, owner, to, true)
    }

    /// `viewer` sent `START <owner>` (or `START ALL`, once per owner whose groups hold them):
    /// while they were stopped, an avatar the owner chose was pushed to everyone but them, so
    /// their handset would show the old picture on every call until the next change. If they
    /// are the owner's contact (in one of the owner's groups: OTHERS are never pushed to) and
    /// their handset does not have the current picture, it is pushed to them now, as
    /// [`Service::push_avatar_if_any`] does (PRIVACY NOBODY or no avatar: nothing). Returns
    /// how many were queued (0 or 1).
    fn push_avatar_on_start(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        viewer: &str,
        owner: &str,
    ) -> Result<usize, ServiceError> {
        let Some(owner) = state::subscriber(tx, owner)? else {
            return Ok(0);
        };
        if state::groups_of(tx, &owner.msisdn, viewer)?.is_empty() {
            return Ok(0);
        }
        self.push_avatar_if_any(tx, now, &owner, Some(vec![viewer.to_string()]))
    }

    /// Queue `owner`'s avatar to the contacts allowed to see it (`to`: those of them), less,
    /// with `skip_sent`, those whose handset has it already.
    fn push_avatar(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        owner: &Subscriber,
        to: Option<Vec<String>>,
        skip_sent: bool,
    ) -> Result<usize, ServiceError> {
        let (name, number) = (owner.display_name.clone(), owner.msisdn.clone());
        let default_lang = owner.lang;
        let push = |lang: Option<Lang>, url: &str| {
            Text::AvatarPush {
                name: name.clone(),
                number: number.clone(),
                room: crate::delivery::push_text_room(url),
            }
            .render(lang.unwrap_or(default_lang))
        };
        let sms = |lang: Option<Lang>, url: &str| {
            Text::AvatarLink {
                name: name.clone(),
                number: number.clone(),
                url: url.to_string(),
            }
            .render(lang.unwrap_or(default_lang))
        };
        Ok(avatar::push_to_contacts(
            tx,
            now,
            owner,
            &self.cfg.avatar,
            to,
            skip_sent,
            &push,
            &sms,
        )?)
    }

    /// Finish an upload through `token`: store the processed picture, make it the owner's
    /// avatar, push it to their contacts and tell the owner, all in `tx`; returns what the
    /// owner is told ([`Text::AvatarUploaded`]: how many contacts get it, that nobody sees it
    /// under PRIVACY NOBODY, or that it was the avatar already), which the upload page shows
    /// too. `Err` says why the token
    /// cannot be used (nothing is changed then).
    pub fn complete_upload(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        token: &str,
        source_sha256: &str,
        variants: &[avatar::VariantIn<'_>],
    ) -> Result<Result<Text, avatar::UploadToken>, ServiceError> {
        let msisdn = match avatar::use_upload(tx, token, now)? {
            avatar::UploadToken::Valid(m) => m,
            other => return Ok(Err(other)),
        };
        let sub = state::ensure_subscriber(tx, &msisdn, self.cfg.default_lang, now)?;
        let id = avatar::store_avatar(tx, source_sha256, variants, now)?;
        // The same picture again (uploads are stored by content): as `AVATAR n` of the current
        // preset, only the handsets without it get it.
        let again = avatar::current(tx, &msisdn)? == Some(id);
        avatar::set_avatar(tx, &msisdn, id, None, now)?;
        let told = self.push_avatar(tx, now, &sub, None, again)?;
        let text = Text::AvatarUploaded {
            reach: reach(&sub, again, told),
        };
        self.tell(tx, now, &sub, text.clone())?;
        Ok(Ok(text))
    }

    /// Tell the holder of upload `token` why their picture was refused (the token stays
    /// usable until it expires). Returns `false` for an unknown, used or expired token.
    ///
    /// Only the first [`REFUSALS_TOLD`] refusals of a token are told, each replacing the one
    /// before while it is still queued: a client that posts bad files in a loop gets its
    /// refusal pages, the owner a few messages, not one each.
    pub fn reject_upload(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        token: &str,
        why: replies::Rejected,
    ) -> Result<bool, ServiceError> {
        let avatar::UploadToken::Valid(msisdn) = avatar::check_upload(tx, token, now)? else {
            return Ok(false);
        };
        if avatar::note_refusal(tx, token)? > REFUSALS_TOLD {
            return Ok(true);
        }
        let sub = state::ensure_subscriber(tx, &msisdn, self.cfg.default_lang, now)?;
        let key = format!("upload-refused:{token}");
        self.tell_keyed(tx, now, &sub, Text::UploadRejected(why), Some(key))?;
        Ok(true)
    }

    /// Queue `text` to `sub` as a reply.
    fn tell(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        text: Text,
    ) -> Result<(), ServiceError> {
        self.tell_keyed(tx, now, sub, text, None)
    }

    /// Queue `text` to `sub` as a reply that replaces an unsent one with the same `key`.
    fn tell_keyed(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        text: Text,
        key: Option<String>,
    ) -> Result<(), ServiceError> {
        let msg = NewMessage {
            priority: REPLY_PRIORITY,
            coalesce_key: key,
            ..NewMessage::sms(sub.msisdn.clone(), text.render(sub.lang))
        };
        outbox::enqueue(tx, &msg, now)?;
        Ok(())
    }

    /// `at` as read at `now` (today, tomorrow or a date, in the configured zone).
    fn until(&self, now: i64, at: Option<i64>) -> Option<clock::When> {
        at.map(|t| self.cfg.zone.when(now, t))
    }

    fn lines(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        with_members: bool,
    ) -> Result<Vec<Line>, ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let counts = if with_members {
            state::member_counts(tx, &sub.msisdn)?
        } else {
            HashMap::new()
        };
        Ok(auds
            .iter()
            .map(|a| {
                let v = view(sub, a);
                Line {
                    label: a.label(),
                    shown: v.shown,
                    until: self.until(now, v.expires_at),
                    members: (with_members && a.kind != AudienceKind::Others)
                        .then(|| counts.get(&a.id).copied().unwrap_or(0)),
                }
            })
            .collect())
    }

    /// The reply to a group the subscriber does not have (`STATUS FAMLY FREE`): with the
    /// group of theirs, built-in or their own, that its name is one edit away from (a swap of
    /// neighbours counting as one), when exactly one is.
    fn no_such_group(auds: &[Audience], group: &GroupName) -> Text {
        let key = state::group_key(group).to_uppercase();
        let mut near = auds.iter().filter(|a| {
            a.kind != AudienceKind::Others
                && strsim::osa_distance(&key, &a.name.to_uppercase()) == 1
        });
        let label = state::group_label(group);
        match (near.next(), near.next()) {
            (Some(a), None) => Text::NoSuchGroupNear {
                group: label,
                near: a.label(),
            },
            _ => Text::NoSuchGroup(label),
        }
    }

    /// The group a GROUP or STATUS command naming `group` means for `sub`: a built-in group's name with
    /// `组` ("group") run on (`分组 家人组 加 139…`) is that built-in group, unless `sub` has a
    /// group of exactly that name ([`GroupName::builtin_with_group_word`]); else `group`.
    /// Without this, `家人组` became a user group beside 家人 on its first ADD, and the
    /// numbers went where the subscriber did not mean; nor can RENAME make such a group.
    fn meant_group(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        group: GroupName,
    ) -> Result<GroupName, ServiceError> {
        let Some(builtin) = group.builtin_with_group_word() else {
            return Ok(group);
        };
        let auds = state::audiences(tx, &sub.msisdn)?;
        Ok(match Self::find(&auds, &group) {
            Some(_) => group,
            None => GroupName::Builtin(builtin),
        })
    }

    fn find<'a>(auds: &'a [Audience], group: &GroupName) -> Option<&'a Audience> {
        let key = state::group_key(group);
        auds.iter()
            .find(|a| a.kind != AudienceKind::Others && a.name == key)
    }

    fn group_show(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        group: &GroupName,
        page: u32,
    ) -> Result<Text, ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let Some(a) = Self::find(&auds, group) else {
            return Ok(Self::no_such_group(&auds, group));
        };
        let total = state::member_counts(tx, &sub.msisdn)?
            .get(&a.id)
            .copied()
            .unwrap_or(0);
        let size = self.cfg.page_size.max(1);
        let pages = total.div_ceil(size).max(1) as u32;
        // A page before the first or past the last is not looked up: the reply says there is
        // no such page.
        let numbers = if page == 0 || page > pages {
            Vec::new()
        } else {
            state::members(tx, a.id, (page as usize - 1) * size, size)?
        };
        Ok(Text::Members {
            group: a.label(),
            page,
            pages,
            total,
            numbers,
        })
    }

    fn group_add(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        group: &GroupName,
        members: &[Msisdn],
    ) -> Result<(Text, FanOut), ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let label = state::group_label(group);
        let counts = state::member_counts(tx, &sub.msisdn)?;
        // The group is created only once the caps allow the addition: a refused ADD to a new
        // group leaves nothing behind (no empty group counting against `max_user_groups`).
        let existing = Self::find(&auds, group).map(|a| a.id);
        if existing.is_none() {
            let user_groups = auds.iter().filter(|a| a.kind == AudienceKind::User).count();
            if user_groups >= self.cfg.max_user_groups {
                let text = Text::TooManyGroups {
                    cap: self.cfg.max_user_groups,
                };
                return Ok((text, FanOut::default()));
            }
        }
        let has = existing
            .and_then(|id| counts.get(&id).copied())
            .unwrap_or(0);
        let total_has: usize = counts.values().sum();
        let skipped_self = members.iter().any(|m| m.as_str() == sub.msisdn);
        let mut new: Vec<&Msisdn> = Vec::new();
        let mut already = 0;
        for m in members.iter().filter(|m| m.as_str() != sub.msisdn) {
            if new.contains(&m) {
                continue; // the same number twice in one message
            }
            let member = match existing {
                Some(id) => state::is_member(tx, id, m.as_str())?,
                None => false,
            };
            if member {
                already += 1;
            } else {
                new.push(m);
            }
        }
        if has + new.len() > self.cfg.max_group_members {
            let text = Text::GroupFull {
                group: label,
                cap: self.cfg.max_group_members,
                has,
            };
            return Ok((text, FanOut::default()));
        }
        if total_has + new.len() > self.cfg.max_total_members {
            let text = Text::ContactsFull {
                cap: self.cfg.max_total_members,
                has: total_has,
            };
            return Ok((text, FanOut::default()));
        }
        let (id, after) = match existing {
            Some(id) => (id, None),
            None => {
                let id = state::create_group(tx, &sub.msisdn, &state::group_key(group), now)?;
                // The new group is one more audience (STANDBY, never set).
                (id, Some(state::audiences(tx, &sub.msisdn)?))
            }
        };
        let mut moved = Vec::with_capacity(new.len());
        for m in &new {
            let others = state::groups_of(tx, &sub.msisdn, m.as_str())?;
            state::add_member(tx, id, &sub.msisdn, m.as_str(), now)?;
            moved.push(Contact::joined(m.as_str().to_string(), others, id));
        }
        // Who was no contact before is one now: they get the avatar (if PRIVACY lets
        // contacts see it), as every contact did when it was chosen.
        let newcomers: Vec<String> = moved
            .iter()
            .filter(|c| c.before.is_empty())
            .map(|c| c.number.clone())
            .collect();
        self.push_avatar_if_any(tx, now, sub, Some(newcomers))?;
        let fan = self.fan_out_moves(
            tx,
            now,
            sub,
            &auds,
            after.as_deref().unwrap_or(&auds),
            moved,
        )?;
        // What the group shows, when it is set (not STANDBY): the reply says it, rather
        // than suggesting a status as if the numbers added saw nothing yet.
        let sees = after
            .as_deref()
            .unwrap_or(&auds)
            .iter()
            .find(|a| a.id == id)
            .map(|a| view(sub, a))
            .filter(|v| v.shown != Shown::Code(StatusCode::Standby))
            .map(|v| (v.shown, self.until(now, v.expires_at)));
        let text = Text::Added {
            group: label,
            added: new.len(),
            already,
            skipped_self,
            total: has + new.len(),
            deferred_until: self.until(now, fan.deferred_until),
            sees,
        };
        Ok((text, fan))
    }

    fn group_del(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        group: &GroupName,
        members: &[Msisdn],
    ) -> Result<(Text, FanOut), ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let Some(a) = Self::find(&auds, group) else {
            return Ok((Self::no_such_group(&auds, group), FanOut::default()));
        };
        let mut removed = 0;
        let mut moved = Vec::new();
        for m in members {
            if state::remove_member(tx, a.id, m.as_str())? {
                removed += 1;
                let why = "recipient removed from the owner's groups";
                moved.push(left_group(tx, sub, m.as_str().to_string(), a.id, why, now)?);
            }
        }
        let fan = self.fan_out_moves(tx, now, sub, &auds, &auds, moved)?;
        let total = state::member_counts(tx, &sub.msisdn)?
            .get(&a.id)
            .copied()
            .unwrap_or(0);
        let text = Text::Removed {
            group: a.label(),
            removed,
            not_members: members.len() - removed,
            total,
            deferred_until: self.until(now, fan.deferred_until),
        };
        Ok((text, fan))
    }

    fn group_rename(
        &self,
        tx: &Transaction<'_>,
        sub: &Subscriber,
        from: &GroupName,
        to: &GroupName,
    ) -> Result<Text, ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let Some(a) = Self::find(&auds, from) else {
            return Ok(Self::no_such_group(&auds, from));
        };
        if a.kind != AudienceKind::User {
            return Ok(Text::BuiltinFixed(a.label()));
        }
        if let GroupName::Builtin(b) = to {
            return Ok(Text::BuiltinFixed(Label::Builtin(*b)));
        }
        if Self::find(&auds, to).is_some_and(|b| b.id != a.id) {
            return Ok(Text::GroupExists(state::group_label(to)));
        }
        state::rename_group(tx, a.id, &state::group_key(to))?;
        Ok(Text::Renamed {
            from: a.label(),
            to: state::group_label(to),
        })
    }

    fn group_drop(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &Subscriber,
        group: &GroupName,
    ) -> Result<(Text, FanOut), ServiceError> {
        let auds = state::audiences(tx, &sub.msisdn)?;
        let Some(a) = Self::find(&auds, group) else {
            return Ok((Self::no_such_group(&auds, group), FanOut::default()));
        };
        let dropped = state::members(tx, a.id, 0, usize::MAX >> 1)?;
        let members = state::clear_members(tx, a.id)?;
        let mut moved = Vec::with_capacity(dropped.len());
        for m in dropped {
            let why = "recipient's group dropped";
            moved.push(left_group(tx, sub, m, a.id, why, now)?);
        }
        let mut after: Vec<Audience> = auds.clone();
        if a.kind == AudienceKind::User {
            state::delete_group(tx, a.id)?;
            after.retain(|x| x.id != a.id);
        } else {
            // A built-in group always exists: emptied, and back to the default status.
            let mut reset = a.clone();
            reset.status = Stored {
                set_at: now,
                ..Stored::standby()
            };
            reset.prev.clear();
            state::save_status(tx, &reset)?;
            if let Some(x) = after.iter_mut().find(|x| x.id == a.id) {
                *x = reset;
            }
        }
        let fan = self.fan_out_moves(tx, now, sub, &auds, &after, moved)?;
        let text = Text::Dropped {
            group: a.label(),
            members,
            deferred_until: self.until(now, fan.deferred_until),
        };
        Ok((text, fan))
    }

    fn who(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        asker: &Subscriber,
        target: &Msisdn,
    ) -> Result<Text, ServiceError> {
        if target.as_str() == asker.msisdn {
            return Ok(Text::WhoSelf);
        }
        let Some(owner) = state::subscriber(tx, target.as_str())? else {
            return Ok(Text::WhoUnknown(target.as_str().to_string()));
        };
        let auds = state::audiences(tx, &owner.msisdn)?;
        let views = views(&owner, &auds);
        let groups = state::groups_of(tx, &owner.msisdn, &asker.msisdn)?;
        let a = visible(&auds, &views, &groups);
        let v = &views[&a.id];
        let photo = match avatar::shown(tx, &owner.msisdn, &asker.msisdn)? {
            Ok(_) => {
                let token = avatar::link_token(tx, &owner.msisdn, &asker.msisdn, now)?;
                Some(avatar::link_url(&self.cfg.avatar, &token))
            }
            Err(_) => None,
        };
        Ok(Text::Who {
            name: owner.display_name.clone(),
            number: owner.msisdn.clone(),
            shown: v.shown.clone(),
            until: self.until(now, v.expires_at),
            photo,
        })
    }

    fn status_set(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        sub: &mut Subscriber,
        assignments: &[StatusAssignment],
    ) -> Result<(Text, FanOut), ServiceError> {
        let before_sub = sub.clone();
        let mut auds = state::audiences(tx, &sub.msisdn)?;
        let before = self.told_views(sub, &auds);
        // Resolve every target first: an unknown group changes nothing.
        let mut targets: Vec<Vec<usize>> = Vec::new();
        for a in assignments {
            let idx: Vec<usize> = match &a.target {
                Target::All => (0..auds.len()).collect(),
                Target::Others => auds
                    .iter()
                    .position(|x| x.kind == AudienceKind::Others)
                    .into_iter()
                    .collect(),
                Target::Group(g) => match Self::find(&auds, g) {
                    Some(found) => vec![auds.iter().position(|x| x.id == found.id).unwrap_or(0)],
                    None => return Ok((Self::no_such_group(&auds, g), FanOut::default())),
                },
            };
            targets.push(idx);
        }
        // A command proves the phone is on and the subscriber is choosing: it ends a network
        // override (the other audiences get their own statuses back, and are told).
        sub.net_state = None;
        if before_sub.net_state.is_some() {
            state::save_subscriber(tx, sub, now)?;
        }
        // ALL first, whatever the order typed: `FAMILY FREE, ALL BUSY` means family sees FREE
        // and everyone else BUSY, as `ALL BUSY, FAMILY FREE` does. Otherwise as typed: a target
        // named twice ends with its last status (the earlier one is what a timed last reverts to).
        let mut order: Vec<usize> = (0..assignments.len()).collect();
        order.sort_by_key(|&i| assignments[i].target != Target::All);
        // `auds` holds every audience of the owner: the highest precedence number is among them.
        let first_seq = auds.iter().map(|a| a.status.set_seq).max().unwrap_or(0) + 1;
        let mut lines = Vec::new();
        for (seq, (n, &i)) in (first_seq..).zip(order.iter().enumerate()) {
            let (a, idx) = (&assignments[i], &targets[i]);
            let expires_at = a.expiry.map(|e| self.cfg.zone.expiry_at(now, e));
            let shown = match &a.status {
                StatusChange::Set(t) => shown_of(t),
                StatusChange::Clear => Shown::Code(StatusCode::Standby),
            };
            for &i in idx {
                let aud = &mut auds[i];
                let new = Stored {
                    shown: shown.clone(),
                    set_at: now,
                    set_seq: seq,
                    expires_at,
                };
                // A timed status remembers what to revert to; a lasting one forgets. A timed
                // CLEAR (`CLEAR FOR 2H`, the USSD menu's STANDBY for an hour) is a timed
                // STANDBY, so the reply's "until" holds.
                aud.prev = match expires_at {
                    Some(until) => revert_chain(&aud.status, &aud.prev, until),
                    None => Vec::new(),
                };
                aud.status = new;
                state::save_status(tx, aud)?;
            }
            // The reply says what each target ends up seeing: not a status replaced within
            // the same command.
            if order[n + 1..].iter().any(|&later| targets[later] == *idx) {
                continue;
            }
            lines.push(Line {
                label: match &a.target {
                    Target::All => Label::All,
                    Target::Others => Label::Others,
                    Target::Group(_) => auds[idx[0]].label(),
                },
                shown,
                until: self.until(now, expires_at),
                members: None,
            });
        }
        let after = self.told_views(sub, &auds);
        let fan = self.fan_out(tx, now, sub, &auds, &before, &after, "sms")?;
        let text = Text::StatusSet {
            lines,
            told: fan.told,
            deferred_until: self.until(now, fan.deferred_until),
        };
        Ok((text, fan))
    }

    /// Notify every contact whose visible status differs between `before` and `after`
    /// (see the module docs), respecting opt-outs and the hourly quota.
    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        owner: &Subscriber,
        auds: &[Audience],
        before: &HashMap<i64, View>,
        after: &HashMap<i64, View>,
        source: &str,
    ) -> Result<FanOut, ServiceError> {
        let changed: HashSet<i64> = auds
            .iter()
            .filter(|a| a.kind != AudienceKind::Others)
            .filter(|a| match (before.get(&a.id), after.get(&a.id)) {
                // Touched at all (a re-set changes precedence even with the same status).
                (Some(b), Some(x)) => b != x,
                _ => false,
            })
            .map(|a| a.id)
            .collect();
        if changed.is_empty() {
            return Ok(FanOut::default());
        }
        // Everyone stays in the groups they are in: only what the groups show moves.
        let contacts = state::memberships(tx, &owner.msisdn)?
            .into_iter()
            .filter(|(_, groups)| groups.iter().any(|g| changed.contains(g)))
            .map(|(number, groups)| Contact {
                number,
                before: groups.clone(),
                after: groups,
            })
            .collect();
        let before = Shows {
            auds,
            views: before,
        };
        let after = Shows { auds, views: after };
        let fan = self.notify(tx, now, owner, before, after, contacts, source)?;
        state::log_change(
            tx,
            &owner.msisdn,
            now,
            source,
            changed.len(),
            fan.told,
            fan.deferred_until.is_some(),
        )?;
        Ok(fan)
    }

    /// Tell the contacts whose view of `owner` a membership change altered (`moved`: each
    /// with their groups before and after; `before` and `after` are the owner's audiences
    /// around the change, the same unless a group went), by the rules of every fan-out
    /// ([`Service::notify`]). Changes that told someone are logged, and count against the
    /// owner's hourly quota like a STATUS.
    fn fan_out_moves(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        owner: &Subscriber,
        before: &[Audience],
        after: &[Audience],
        moved: Vec<Contact>,
    ) -> Result<FanOut, ServiceError> {
        if moved.is_empty() {
            return Ok(FanOut::default());
        }
        let (vb, va) = (
            self.told_views(owner, before),
            self.told_views(owner, after),
        );
        let before = Shows {
            auds: before,
            views: &vb,
        };
        let after = Shows {
            auds: after,
            views: &va,
        };
        let source = "sms";
        let fan = self.notify(tx, now, owner, before, after, moved, source)?;
        if fan.told > 0 {
            state::log_change(
                tx,
                &owner.msisdn,
                now,
                source,
                1,
                fan.told,
                fan.deferred_until.is_some(),
            )?;
        }
        Ok(fan)
    }

    /// The one place that decides who among `contacts` is told, and tells them: each contact
    /// still in one of `owner`'s groups (OTHERS are never told) whose view (what their groups
    /// show by precedence) differs between `before` and `after`, and who has not opted out,
    /// gets one update keyed by (owner, contact), held while the owner is past the hourly
    /// quota of `source`'s class.
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        owner: &Subscriber,
        before: Shows<'_>,
        after: Shows<'_>,
        mut contacts: Vec<Contact>,
        source: &str,
    ) -> Result<FanOut, ServiceError> {
        contacts.sort_by(|a, b| a.number.cmp(&b.number));
        let mut tell: Vec<(String, Option<Lang>, &View)> = Vec::new();
        for c in contacts {
            if c.after.is_empty() {
                continue;
            }
            let (b, a) = (before.seen_by(&c.before), after.seen_by(&c.after));
            if b.same_for_contact(a) {
                continue;
            }
            let (lang, stopped) = state::recipient(tx, &c.number, &owner.msisdn)?;
            if stopped {
                continue;
            }
            tell.push((c.number, lang, a));
        }
        if tell.is_empty() {
            return Ok(FanOut::default());
        }
        let hour_ago = now - state::QUOTA_WINDOW_MS;
        let class = state::QuotaClass::of(source);
        let (recent, oldest) = state::changes_since(tx, &owner.msisdn, hour_ago, class)?;
        let deferred_until = (recent >= self.cfg.hourly_change_quota)
            .then(|| oldest.unwrap_or(now) + state::QUOTA_WINDOW_MS);
        let told = tell.len();
        let delay = i64::try_from(self.cfg.update_delay.as_millis()).unwrap_or(i64::MAX);
        for (member, lang, a) in tell {
            let key = status_key(&owner.msisdn, &member);
            // With an update delay, from the burst's first change: an update still waiting
            // keeps its time (one already due goes now, with this content).
            let settled = match delay {
                0 => None,
                _ => Some(
                    outbox::queued_due_at(tx, &key)?
                        .map_or(now + delay, |due| due.min(now + delay)),
                ),
            };
            let not_before = deferred_until.max(settled);
            // "Tomorrow" as of when the update goes out: one held past midnight is read on
            // the day it names.
            let text = Text::Update {
                name: owner.display_name.clone(),
                number: owner.msisdn.clone(),
                shown: a.shown.clone(),
                until: self.until(not_before.unwrap_or(now), a.expires_at),
            }
            .render(lang.unwrap_or(owner.lang));
            let msg = NewMessage {
                coalesce_key: Some(key),
                not_before,
                ..NewMessage::sms(member, text)
            };
            outbox::enqueue(tx, &msg, now)?;
        }
        Ok(FanOut {
            told,
            deferred_until,
        })
    }

    /// Drop the long MO messages whose first part arrived more than
    /// [`ServiceConfig::parts_timeout`] before `now` and are still missing parts (the network
    /// lost one; carriers do not resend after they were acknowledged), and ask each sender
    /// once to send it again: every command gets a reply, even one that never arrived whole.
    /// Returns how many messages were dropped.
    pub fn abandon_incomplete(
        &self,
        tx: &Transaction<'_>,
        now: i64,
    ) -> Result<usize, ServiceError> {
        let timeout = i64::try_from(self.cfg.parts_timeout.as_millis()).unwrap_or(i64::MAX);
        let dropped = crate::store::inbox::expire_incomplete(tx, now.saturating_sub(timeout))?;
        let mut told = HashSet::new();
        for a in &dropped {
            tracing::info!(
                from = %crate::command::mask(&a.source),
                arrived = a.arrived,
                total = a.total,
                "long message incomplete past the parts timeout; dropped"
            );
            let Ok(sender) = Msisdn::parse(&a.source, &self.cfg.country_code) else {
                continue;
            };
            // Not sent to the service: not a command, so nothing to send again either.
            if !self.is_for_service(&a.destination, false) {
                continue;
            }
            if !told.insert(sender.as_str().to_string()) {
                continue;
            }
            let sub = state::ensure_subscriber(tx, sender.as_str(), self.cfg.default_lang, now)?;
            self.tell(tx, now, &sub, Text::PartsMissing)?;
        }
        Ok(dropped.len())
    }

    /// What each audience of `sub` is told it sees: [`views`], except that with
    /// `notify_incall` off an INCALL override is not shown to contacts by SMS, so the status
    /// under it is what they were last told. Every fan-out compares these: a call then tells
    /// nobody, while a power-off during a call, a timed status ending during a call, or a
    /// change made during a call tells exactly those whose status changed under it.
    fn told_views(&self, sub: &Subscriber, auds: &[Audience]) -> HashMap<i64, View> {
        if self.cfg.notify_incall || sub.net_state != Some(StatusCode::InCall) {
            return views(sub, auds);
        }
        let under = Subscriber {
            net_state: None,
            ..sub.clone()
        };
        views(&under, auds)
    }

    /// Revert every status that expired by `now` (at most `limit` owners) and tell the contacts
    /// who saw it. Returns the number of owners handled.
    pub fn expire_due(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        limit: usize,
    ) -> Result<usize, ServiceError> {
        let owners = state::expired(tx, now, limit)?;
        for owner in &owners {
            let Some(sub) = state::subscriber(tx, owner)? else {
                continue;
            };
            let mut auds = state::audiences(tx, owner)?;
            let before = self.told_views(&sub, &auds);
            for a in auds.iter_mut() {
                if a.status.expires_at.is_none_or(|t| t > now) {
                    continue;
                }
                // Back one step of the chain, past steps that have expired meanwhile; at its
                // end, the default.
                let mut chain = std::mem::take(&mut a.prev).into_iter();
                a.status = chain
                    .by_ref()
                    .find(|p| p.expires_at.is_none_or(|t| t > now))
                    .unwrap_or_else(Stored::standby);
                a.prev = chain.collect();
                state::save_status(tx, a)?;
            }
            let after = self.told_views(&sub, &auds);
            self.fan_out(tx, now, &sub, &auds, &before, &after, "expiry")?;
        }
        Ok(owners.len())
    }

    /// Apply a network event for `msisdn` (created if unknown): set or clear the override and
    /// tell the contacts whose view changed (INCALL only if configured to).
    pub fn network_event(
        &self,
        tx: &Transaction<'_>,
        now: i64,
        msisdn: &Msisdn,
        event: NetworkEvent,
    ) -> Result<Outcome, ServiceError> {
        // The carrier reports calls and power for all its subscribers; only users of the
        // service have contacts to tell. Anyone else is not made a subscriber (with a
        // language they never chose, and a WHO answer as if they used the service).
        let Some(mut sub) = state::subscriber(tx, msisdn.as_str())? else {
            return Ok(Outcome {
                command: Some("network_event"),
                ..Outcome::default()
            });
        };
        let auds = state::audiences(tx, &sub.msisdn)?;
        let before = self.told_views(&sub, &auds);
        let old = sub.net_state;
        sub.net_state = match (event, old) {
            (NetworkEvent::CallStarted, Some(StatusCode::Off)) => old,
            (NetworkEvent::CallStarted, _) => Some(StatusCode::InCall),
            (NetworkEvent::CallEnded, Some(StatusCode::InCall)) => None,
            (NetworkEvent::PowerOff, _) => Some(StatusCode::Off),
            (NetworkEvent::PowerOn, Some(StatusCode::Off)) => None,
            (_, other) => other,
        };
        if sub.net_state == old {
            return Ok(Outcome {
                command: Some("network_event"),
                ..Outcome::default()
            });
        }
        state::save_subscriber(tx, &sub, now)?;
        let after = self.told_views(&sub, &auds);
        let fan = self.fan_out(tx, now, &sub, &auds, &before, &after, "network")?;
        Ok(Outcome {
            command: Some("network_event"),
            reply: None,
            notified: fan.told,
            deferred: fan.deferred_until.is_some(),
        })
    }
}

/// A contact of an owner with the audiences they are in before and after a change (the
/// same for a status change, not for a membership change).
#[derive(Debug, Clone)]
struct Contact {
    number: String,
    before: Vec<i64>,
    after: Vec<i64>,
}

impl Contact {
    /// `number`, in `others`, joined `group`.
    fn joined(number: String, others: Vec<i64>, group: i64) -> Contact {
        let mut after = others.clone();
        after.push(group);
        Contact {
            number,
            before: others,
            after,
        }
    }

    /// `number`, in `others`, left `group`.
    fn left(number: String, others: Vec<i64>, group: i64) -> Contact {
        let mut before = others.clone();
        before.push(group);
        Contact {
            number,
            before,
            after: others,
        }
    }
}

/// `member` has just left `owner`'s `group` (GROUP DEL, DROP): out of every group, they are
/// OTHERS, who are never sent updates, and what was queued for them is withdrawn (`why`); in
/// another group still, they keep it, and are told if what they see changed.
fn left_group(
    tx: &Transaction<'_>,
    owner: &Subscriber,
    member: String,
    group: i64,
    why: &str,
    now: i64,
) -> Result<Contact, StoreError> {
    let others = state::groups_of(tx, &owner.msisdn, &member)?;
    if others.is_empty() {
        withdraw_updates(tx, Some(&owner.msisdn), &member, why, now)?;
    }
    Ok(Contact::left(member, others, group))
}

/// What an owner shows at one moment: the audiences (in GROUPS order, which breaks ties) and
/// the view of each.
#[derive(Clone, Copy)]
struct Shows<'a> {
    auds: &'a [Audience],
    views: &'a HashMap<i64, View>,
}

impl<'a> Shows<'a> {
    /// The view of a contact in `groups` ([`visible`]).
    fn seen_by(&self, groups: &[i64]) -> &'a View {
        &self.views[&visible(self.auds, self.views, groups).id]
    }
}

/// What a fan-out did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct FanOut {
    told: usize,
    deferred_until: Option<i64>,
}

#[cfg(test)]
mod tests;
