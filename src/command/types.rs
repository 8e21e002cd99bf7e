//! The values a command carries, with their limits in the types (DESIGN.md style example 9):
//! group names, statuses, expiries, display names, privacy and opt-out targets. Each text type has
//! a `TryFrom<&str>` that accepts only what COMMANDS.md allows, so `service` never re-validates.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use super::msisdn::Msisdn;

/// Longest user group name, in characters (COMMANDS.md: 1 to 16).
pub const MAX_GROUP_NAME_CHARS: usize = 16;
/// Longest free-text status, in characters (COMMANDS.md: at most 60).
pub const MAX_STATUS_CHARS: usize = 60;
/// Longest display name, in characters (COMMANDS.md: max 20).
pub const MAX_DISPLAY_NAME_CHARS: usize = 20;
/// Longest `FOR` expiry accepted.
pub const MAX_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a value is not acceptable; each variant quotes the offending text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// Group name empty, too long, with a character other than letters/CJK/digits, or all digits.
    #[error(
        "{text:?} is not a group name (1-{MAX_GROUP_NAME_CHARS} letters or digits, not all digits)"
    )]
    BadGroupName {
        /// The name as typed.
        text: String,
    },
    /// Group name that is a command word (`ALL`, `STATUS`, `ADD`, `BUSY`, ...).
    #[error("{text:?} is a command word and cannot name a group")]
    ReservedGroupName {
        /// The name as typed.
        text: String,
    },
    /// Free-text status empty or longer than allowed.
    #[error("status {text:?} has {chars} characters; 1 to {MAX_STATUS_CHARS} are allowed")]
    BadStatusLength {
        /// The status as typed.
        text: String,
        /// Its length in characters.
        chars: usize,
    },
    /// A status only the network may set (INCALL).
    #[error("status {text:?} is set by the network only")]
    StatusNotSettable {
        /// The status as typed.
        text: String,
    },
    /// Display name empty or too long.
    #[error("name {text:?} has {chars} characters; 1 to {MAX_DISPLAY_NAME_CHARS} are allowed")]
    BadDisplayName {
        /// The name as typed.
        text: String,
        /// Its length in characters.
        chars: usize,
    },
    /// Display name written like a phone number (contacts would take it for someone else's).
    #[error("name {text:?} is written like a phone number")]
    NameLikeNumber {
        /// The name as typed.
        text: String,
    },
    /// Duration zero or above [`MAX_EXPIRY`].
    #[error("expiry {text:?} must be between 1 minute and 30 days")]
    BadDuration {
        /// The expiry as typed.
        text: String,
    },
    /// A duration with a fraction that is no whole number of minutes (`FOR 1.33H`, `1.5M`).
    #[error("expiry {text:?} is not a whole number of minutes")]
    PartMinute {
        /// The expiry as typed.
        text: String,
    },
    /// Clock time outside 00:00..=23:59.
    #[error("{text:?} is not a time of day (HH:MM)")]
    BadTime {
        /// The time as typed.
        text: String,
    },
}

/// The language of replies (COMMANDS.md: Chinese if the last command used Chinese keywords).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

/// A help topic, also used as the usage line an error reply suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelpTopic {
    /// The short help (the answer to unknown or empty input).
    General,
    /// `NAME`.
    Name,
    /// `GROUPS` / `GROUP ...`.
    Group,
    /// `STATUS ...`.
    Status,
    /// `WHO <n>`.
    Who,
    /// `AVATARS`, `AVATAR ...`.
    Avatar,
    /// `PRIVACY ...`.
    Privacy,
    /// `STOP ...` / `START ...`.
    Stop,
    /// `LANG ...`.
    Lang,
}

/// One of the four groups every subscriber has (COMMANDS.md "Built-in groups").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinGroup {
    /// `FAMILY` / `家人`.
    Family,
    /// `COLLEAGUES` / `同事`.
    Colleagues,
    /// `CLASSMATES` / `同学`.
    Classmates,
    /// `FRIENDS` / `朋友`.
    Friends,
}

impl BuiltinGroup {
    /// All built-in groups, in display order.
    pub const ALL: [BuiltinGroup; 4] = [
        BuiltinGroup::Family,
        BuiltinGroup::Colleagues,
        BuiltinGroup::Classmates,
        BuiltinGroup::Friends,
    ];

    /// The English name (`FAMILY`).
    pub fn en(self) -> &'static str {
        match self {
            BuiltinGroup::Family => "FAMILY",
            BuiltinGroup::Colleagues => "COLLEAGUES",
            BuiltinGroup::Classmates => "CLASSMATES",
            BuiltinGroup::Friends => "FRIENDS",
        }
    }

    /// The Chinese name (`家人`).
    pub fn zh(self) -> &'static str {
        match self {
            BuiltinGroup::Family => "家人",
            BuiltinGroup::Colleagues => "同事",
            BuiltinGroup::Classmates => "同学",
            BuiltinGroup::Friends => "朋友",
        }
    }

    /// Every word that names the group (English words upper case).
    pub fn words(self) -> &'static [&'static str] {
        match self {
            BuiltinGroup::Family => &["FAMILY", "家人"],
            BuiltinGroup::Colleagues => &["COLLEAGUES", "COLLEAGUE", "同事"],
            BuiltinGroup::Classmates => &["CLASSMATES", "CLASSMATE", "同学"],
            BuiltinGroup::Friends => &["FRIENDS", "FRIEND", "朋友"],
        }
    }

    /// The built-in group `word` names (ASCII case-insensitive), if any.
    pub fn from_word(word: &str) -> Option<BuiltinGroup> {
        BuiltinGroup::ALL
            .into_iter()
            .find(|g| g.words().iter().any(|w| w.eq_ignore_ascii_case(word)))
    }
}

/// A subscriber-made group name: 1-16 letters/CJK/digits, not all digits, not a command word;
/// stored upper-cased so `work` and `WORK` are the same group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserGroupName(String);

impl UserGroupName {
    /// The canonical (upper-cased) name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group: one of the built-ins (either name maps to the same variant) or a user group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupName {
    /// A built-in group.
    Builtin(BuiltinGroup),
    /// A group the subscriber made.
    User(UserGroupName),
}

/// Words no user group may be called (ASCII upper case; compared case-insensitively).
const RESERVED_WORDS: &[&str] = &[
    "ALL",
    "OTHERS",
    "OTHER",
    "EVERYONE",
    "全部",
    "所有",
    "其他",
    "其它",
    "HELP",
    "帮助",
    "NAME",
    "名字",
    "GROUP",
    "GROUPS",
    "分组",
    "STATUS",
    "状态",
    "WHO",
    "查",
    "AVATAR",
    "AVATARS",
    "头像",
    "头像库",
    "PRIVACY",
    "隐私",
    "STOP",
    "TD",
    "UNSUBSCRIBE",
    "退订",
    "START",
    "订阅",
    "LANG",
    "语言",
    "ADD",
    "加",
    "DEL",
    "DELETE",
    "REMOVE",
    "删",
    "删除",
    "RENAME",
    "改名",
    "DROP",
    "解散",
    "CLEAR",
    "清除",
    "FOR",
    "UNTIL",
    "UPLOAD",
    "OFF",
];

impl TryFrom<&str> for GroupName {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        let text = text.trim();
        if let Some(builtin) = BuiltinGroup::from_word(text) {
            return Ok(GroupName::Builtin(builtin));
        }
        let upper = text.to_uppercase();
        let chars = upper.chars().count();
        let bad = || ValueError::BadGroupName {
            text: text.to_owned(),
        };
        if chars == 0
            || chars > MAX_GROUP_NAME_CHARS
            || !upper.chars().all(char::is_alphanumeric)
            || upper.chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        if RESERVED_WORDS.contains(&upper.as_str()) || StatusWord::lookup(&upper).is_some() {
            return Err(ValueError::ReservedGroupName {
                text: text.to_owned(),
            });
        }
        Ok(GroupName::User(UserGroupName(upper)))
    }
}

/// `name` without the word `组` ("group"; `組` in traditional script) run on at its end
/// (`家人组` is `家人`), if it ends so: whether that is the word or part of the name is for the
/// caller to judge ([`GroupName::builtin_with_group_word`], the parser's offers).
pub(crate) fn without_group_word(name: &str) -> Option<&str> {
    name.strip_suffix(['组', '組'])
}

impl GroupName {
    /// The built-in group a user group name may be meant for: a built-in group's name with
    /// `组` ("group"; `組` in traditional script) run on (`家人组`, `同事组`, `FAMILY组`,
    /// `家人組`). Whether it is meant hangs on the subscriber's groups (the built-in, unless
    /// they have a group of exactly that name), which the service knows; `None` for any other
    /// name.
    pub fn builtin_with_group_word(&self) -> Option<BuiltinGroup> {
        match self {
            GroupName::User(u) => without_group_word(u.as_str()).and_then(BuiltinGroup::from_word),
            GroupName::Builtin(_) => None,
        }
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupName::Builtin(g) => f.write_str(g.en()),
            GroupName::User(u) => f.write_str(u.as_str()),
        }
    }
}

/// Whose view a status assignment changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// One group.
    Group(GroupName),
    /// `ALL` / `全部`: every group and OTHERS.
    All,
    /// `OTHERS` / `其他`: everyone in none of the subscriber's groups.
    Others,
}

impl Target {
    /// `ALL`/`OTHERS` words (and aliases), if `word` is one.
    pub fn special(word: &str) -> Option<Target> {
        const ALL: &[&str] = &["ALL", "EVERYONE", "全部", "所有"];
        const OTHERS: &[&str] = &["OTHERS", "OTHER", "其他", "其它"];
        if ALL.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            Some(Target::All)
        } else if OTHERS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            Some(Target::Others)
        } else {
            None
        }
    }
}

impl TryFrom<&str> for Target {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        match Target::special(text.trim()) {
            Some(t) => Ok(t),
            None => GroupName::try_from(text).map(Target::Group),
        }
    }
}

/// The built-in status codes (COMMANDS.md status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusCode {
    /// The default.
    Standby,
    /// Free.
    Free,
    /// Busy.
    Busy,
    /// In a meeting.
    Meeting,
    /// Driving.
    Driving,
    /// Do not disturb.
    Dnd,
    /// Phone off.
    Off,
    /// In a call: set by network events only, never by a command.
    InCall,
}

impl StatusCode {
    /// The code's name (`STANDBY`).
    pub fn code(self) -> &'static str {
        match self {
            StatusCode::Standby => "STANDBY",
            StatusCode::Free => "FREE",
            StatusCode::Busy => "BUSY",
            StatusCode::Meeting => "MEETING",
            StatusCode::Driving => "DRIVING",
            StatusCode::Dnd => "DND",
            StatusCode::Off => "OFF",
            StatusCode::InCall => "INCALL",
        }
    }

    /// Every word that names the code, English (upper case) and Chinese.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            StatusCode::Standby => &["STANDBY", "AVAILABLE", "待机"],
            StatusCode::Free => &["FREE", "空闲"],
            StatusCode::Busy => &["BUSY", "忙碌", "忙"],
            StatusCode::Meeting => &["MEETING", "开会", "会议中"],
            StatusCode::Driving => &["DRIVING", "开车"],
            StatusCode::Dnd => &["DND", "DO NOT DISTURB", "请勿打扰", "勿扰"],
            StatusCode::Off => &["OFF", "关机"],
            StatusCode::InCall => &["INCALL", "IN CALL", "通话中"],
        }
    }

    /// Every code, in table order.
    pub const ALL: [StatusCode; 8] = [
        StatusCode::Standby,
        StatusCode::Free,
        StatusCode::Busy,
        StatusCode::Meeting,
        StatusCode::Driving,
        StatusCode::Dnd,
        StatusCode::Off,
        StatusCode::InCall,
    ];
}

/// A word in the status position that is not free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusWord {
    /// A built-in code.
    Code(StatusCode),
    /// `CLEAR` / `清除`.
    Clear,
}

impl StatusWord {
    /// The status word `text` is (ASCII case-insensitive, whole text), if any.
    pub(crate) fn lookup(text: &str) -> Option<StatusWord> {
        if ["CLEAR", "清除"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(text))
        {
            return Some(StatusWord::Clear);
        }
        StatusCode::ALL
            .into_iter()
            .find(|c| c.words().iter().any(|w| w.eq_ignore_ascii_case(text)))
            .map(StatusWord::Code)
    }
}

/// Trims and turns every whitespace run into one space (the canonical form of texts).
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A free-text status: 1 to 60 characters, no control characters, whitespace collapsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FreeText(String);

impl FreeText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for FreeText {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        let text = collapse_whitespace(text);
        let text = text.as_str();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_STATUS_CHARS || text.chars().any(char::is_control) {
            return Err(ValueError::BadStatusLength {
                text: text.to_owned(),
                chars,
            });
        }
        Ok(FreeText(text.to_owned()))
    }
}

/// A status a subscriber may show: a built-in code or free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatusText {
    /// A built-in code ([`StatusCode::InCall`] only from network events).
    Builtin(StatusCode),
    /// Free text.
    Free(FreeText),
}

/// Parses a status as typed unquoted: any built-in word maps to its code, INCALL is refused,
/// anything else is free text.
impl TryFrom<&str> for StatusText {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        match StatusWord::lookup(text.trim()) {
            Some(StatusWord::Code(StatusCode::InCall)) => Err(ValueError::StatusNotSettable {
                text: text.trim().to_owned(),
            }),
            Some(StatusWord::Code(code)) => Ok(StatusText::Builtin(code)),
            Some(StatusWord::Clear) | None => FreeText::try_from(text).map(StatusText::Free),
        }
    }
}

/// When a status reverts to the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// After this long (`FOR 2H`, `2小时`); 1 minute to [`MAX_EXPIRY`].
    For(Duration),
    /// At the next such wall-clock time in the configured zone (`UNTIL 15:00`, `到15:00`).
    Until {
        /// 0..=23.
        hour: u8,
        /// 0..=59.
        minute: u8,
    },
    /// A time that may be read on either half of the day: an hour of 1 to 12 typed with
    /// neither colon nor leading zero, AM / PM or Chinese part of the day (`UNTIL 5`,
    /// `UNTIL 530`, `到5点`). It falls at whichever of `hour:minute` and twelve hours later
    /// comes next in the configured zone (at 14:00, `UNTIL 5` is 17:00; at 03:00, 05:00):
    /// the next 5 o'clock, as people mean it.
    UntilEither {
        /// 1..=12 (12 is noon or midnight).
        hour: u8,
        /// 0..=59.
        minute: u8,
    },
    /// At this wall-clock time on the next day in the configured zone (`UNTIL TOMORROW 09:00`,
    /// `UNTIL 8:00AM TOMORROW`, `到明天9:00`): the form the gateway's own replies name a time
    /// past midnight with, so a subscriber who copies one back gets what it said.
    UntilTomorrow {
        /// 0..=23.
        hour: u8,
        /// 0..=59.
        minute: u8,
    },
}

/// Unit of a `FOR` expiry, ordered from the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DurationUnit {
    /// Minutes (`M`, `分钟`).
    Minutes,
    /// Hours (`H`, `小时`).
    Hours,
    /// Days (`D`, `天`).
    Days,
}

impl DurationUnit {
    /// Minutes in one unit.
    pub fn minutes(self) -> u64 {
        match self {
            DurationUnit::Minutes => 1,
            DurationUnit::Hours => 60,
            DurationUnit::Days => 1440,
        }
    }

    /// The minutes in `whole + numer / denom` units (`1.5H` is `(1, 5, 10)`, 90), when that is
    /// a whole number of minutes; `None` when it is not (`1.33H`, `1.5M`, `0.01D`) or `denom`
    /// is 0. Saturates at [`u64::MAX`] (too long for any expiry, refused by
    /// [`Expiry::for_minutes`]) rather than wrapping.
    pub fn whole_minutes(self, whole: u64, numer: u64, denom: u64) -> Option<u64> {
        let per = u128::from(self.minutes());
        let part = u128::from(numer).checked_mul(per)?;
        let denom = u128::from(denom);
        if denom == 0 || part % denom != 0 {
            return None;
        }
        let total = u128::from(whole)
            .saturating_mul(per)
            .saturating_add(part / denom);
        Some(u64::try_from(total).unwrap_or(u64::MAX))
    }
}

impl Expiry {
    /// `count` units, checked against 1 minute ..= [`MAX_EXPIRY`]; `text` is quoted on error.
    pub fn for_units(count: u64, unit: DurationUnit, text: &str) -> Result<Expiry, ValueError> {
        Expiry::for_minutes(count.saturating_mul(unit.minutes()), text)
    }

    /// `minutes` minutes, checked against 1 minute ..= [`MAX_EXPIRY`]; `text` is quoted on
    /// error.
    pub fn for_minutes(minutes: u64, text: &str) -> Result<Expiry, ValueError> {
        match minutes.checked_mul(60) {
            Some(secs) if secs > 0 && secs <= MAX_EXPIRY.as_secs() => {
                Ok(Expiry::For(Duration::from_secs(secs)))
            }
            _ => Err(ValueError::BadDuration {
                text: text.to_owned(),
            }),
        }
    }

    /// A clock time, checked to be 00:00..=23:59; `text` is quoted on error.
    pub fn until(hour: u64, minute: u64, text: &str) -> Result<Expiry, ValueError> {
        match (u8::try_from(hour), u8::try_from(minute)) {
            (Ok(hour), Ok(minute)) if hour < 24 && minute < 60 => {
                Ok(Expiry::Until { hour, minute })
            }
            _ => Err(ValueError::BadTime {
                text: text.to_owned(),
            }),
        }
    }

    /// A clock time on the next day ([`Expiry::UntilTomorrow`]), checked as [`Expiry::until`].
    pub fn until_tomorrow(hour: u64, minute: u64, text: &str) -> Result<Expiry, ValueError> {
        match Expiry::until(hour, minute, text)? {
            Expiry::Until { hour, minute } => Ok(Expiry::UntilTomorrow { hour, minute }),
            other => Ok(other),
        }
    }

    /// A time on either half of the day ([`Expiry::UntilEither`]), checked to be 1:00..=12:59;
    /// `text` is quoted on error.
    pub fn until_either(hour: u64, minute: u64, text: &str) -> Result<Expiry, ValueError> {
        match (u8::try_from(hour), u8::try_from(minute)) {
            (Ok(hour @ 1..=12), Ok(minute)) if minute < 60 => {
                Ok(Expiry::UntilEither { hour, minute })
            }
            _ => Err(ValueError::BadTime {
                text: text.to_owned(),
            }),
        }
    }
}

/// What an assignment does to a target's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatusChange {
    /// Show this status.
    Set(StatusText),
    /// Back to the default (STANDBY): `CLEAR` / `清除`.
    Clear,
}

/// One `<target> <status> [<expiry>]` of a STATUS command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusAssignment {
    /// Whose view changes.
    pub target: Target,
    /// The new status.
    pub status: StatusChange,
    /// When it reverts, if ever.
    pub expiry: Option<Expiry>,
}

/// The name shown to contacts: 1 to 20 characters, no control characters, whitespace collapsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for DisplayName {
    type Error = ValueError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        let text = collapse_whitespace(text);
        let text = text.as_str();
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_DISPLAY_NAME_CHARS || text.chars().any(char::is_control) {
            return Err(ValueError::BadDisplayName {
                text: text.to_owned(),
                chars,
            });
        }
        // "13800138000" or "+86 138 0013 8000" as a name would show another subscriber's
        // number beside the sender's in every update.
        let digits = text.chars().filter(char::is_ascii_digit).count();
        let number_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if number_like && digits >= 5 {
            return Err(ValueError::NameLikeNumber {
                text: text.to_owned(),
            });
        }
        Ok(DisplayName(text.to_owned()))
    }
}

/// Who may fetch the subscriber's avatar (`PRIVACY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privacy {
    /// `EVERYONE` / `所有人`.
    Everyone,
    /// `CONTACTS` / `联系人`.
    Contacts,
    /// `NOBODY` / `无人`.
    Nobody,
}

/// The subject of STOP / START.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopTarget {
    /// Updates about one subscriber.
    Number(Msisdn),
    /// Updates about anyone.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_name_with_the_group_word_run_on_may_mean_the_builtin() {
        for g in BuiltinGroup::ALL {
            for name in [
                format!("{}组", g.zh()),
                format!("{}组", g.en().to_lowercase()),
                // Traditional script.
                format!("{}組", g.zh()),
            ] {
                let typed = GroupName::try_from(name.as_str());
                assert!(matches!(typed, Ok(GroupName::User(_))), "{name}: {typed:?}");
                assert_eq!(
                    typed.map(|t| t.builtin_with_group_word()),
                    Ok(Some(g)),
                    "{name}"
                );
            }
        }
        for name in ["篮球组", "组", "家人组组", "家组", "家人"] {
            let typed = GroupName::try_from(name).map(|t| t.builtin_with_group_word());
            assert!(matches!(typed, Ok(None) | Err(_)), "{name}: {typed:?}");
        }
    }

    #[test]
    fn builtin_groups_answer_to_both_names_in_any_case() {
        for g in BuiltinGroup::ALL {
            assert_eq!(GroupName::try_from(g.en()), Ok(GroupName::Builtin(g)));
            assert_eq!(GroupName::try_from(g.zh()), Ok(GroupName::Builtin(g)));
            let lower = g.en().to_lowercase();
            assert_eq!(
                GroupName::try_from(lower.as_str()),
                Ok(GroupName::Builtin(g))
            );
        }
    }

    #[test]
    fn user_group_names_are_checked_and_upper_cased() {
        let work = GroupName::try_from("Work").unwrap();
        assert_eq!(work, GroupName::try_from("WORK").unwrap());
        assert_eq!(work.to_string(), "WORK");
        assert!(GroupName::try_from("篮球队2").is_ok());
        assert!(GroupName::try_from("abcdefghijklmnop").is_ok());
        for bad in ["", "abcdefghijklmnopq", "12345", "a-b", "a b", "😀"] {
            assert!(
                matches!(
                    GroupName::try_from(bad),
                    Err(ValueError::BadGroupName { .. })
                ),
                "{bad}"
            );
        }
        for reserved in ["all", "Others", "全部", "ADD", "busy", "清除", "status"] {
            assert!(
                matches!(
                    GroupName::try_from(reserved),
                    Err(ValueError::ReservedGroupName { .. })
                ),
                "{reserved}"
            );
        }
    }

    #[test]
    fn targets_include_all_and_others() {
        assert_eq!(Target::try_from("all"), Ok(Target::All));
        assert_eq!(Target::try_from("全部"), Ok(Target::All));
        assert_eq!(Target::try_from("OTHERS"), Ok(Target::Others));
        assert_eq!(Target::try_from("其他"), Ok(Target::Others));
        assert_eq!(
            Target::try_from("同学"),
            Ok(Target::Group(GroupName::Builtin(BuiltinGroup::Classmates)))
        );
    }

    #[test]
    fn every_status_word_maps_to_its_code_and_incall_is_refused() {
        for code in StatusCode::ALL {
            for word in code.words() {
                let got = StatusText::try_from(*word);
                if code == StatusCode::InCall {
                    assert!(
                        matches!(got, Err(ValueError::StatusNotSettable { .. })),
                        "{word}"
                    );
                } else {
                    assert_eq!(got, Ok(StatusText::Builtin(code)), "{word}");
                    let lower = word.to_lowercase();
                    assert_eq!(
                        StatusText::try_from(lower.as_str()),
                        Ok(StatusText::Builtin(code))
                    );
                }
            }
        }
    }

    #[test]
    fn free_text_is_limited_to_sixty_characters() {
        let sixty = "好".repeat(60);
        assert!(matches!(
            StatusText::try_from(sixty.as_str()),
            Ok(StatusText::Free(_))
        ));
        let long = "a".repeat(61);
        assert_eq!(
            FreeText::try_from(long.as_str()),
            Err(ValueError::BadStatusLength {
                text: long.clone(),
                chars: 61
            })
        );
        assert!(FreeText::try_from("  ").is_err());
        assert_eq!(FreeText::try_from(" a \t b ").unwrap().as_str(), "a b");
    }

    #[test]
    fn expiries_are_bounded() {
        assert_eq!(
            Expiry::for_units(2, DurationUnit::Hours, "2H"),
            Ok(Expiry::For(Duration::from_secs(7200)))
        );
        assert_eq!(
            Expiry::for_units(30, DurationUnit::Days, "30D"),
            Ok(Expiry::For(MAX_EXPIRY))
        );
        assert!(Expiry::for_units(0, DurationUnit::Minutes, "0M").is_err());
        assert!(Expiry::for_units(31, DurationUnit::Days, "31D").is_err());
        assert!(Expiry::for_units(u64::MAX, DurationUnit::Days, "x").is_err());
        assert_eq!(
            Expiry::for_minutes(90, "1H30M"),
            Ok(Expiry::For(Duration::from_secs(5400)))
        );
        assert!(Expiry::for_minutes(0, "0M").is_err());
        assert!(Expiry::for_minutes(30 * 1440 + 1, "x").is_err());
        assert!(Expiry::for_minutes(u64::MAX, "x").is_err());
        assert_eq!(
            Expiry::until(23, 59, "23:59"),
            Ok(Expiry::Until {
                hour: 23,
                minute: 59
            })
        );
        assert!(Expiry::until(24, 0, "24:00").is_err());
        assert!(Expiry::until(12, 60, "12:60").is_err());
        assert_eq!(
            Expiry::until_either(12, 30, "1230"),
            Ok(Expiry::UntilEither {
                hour: 12,
                minute: 30
            })
        );
        for (h, m) in [(0, 0), (13, 0), (9, 60)] {
            assert!(Expiry::until_either(h, m, "x").is_err(), "{h}:{m}");
        }
    }

    #[test]
    fn fractions_of_a_unit_count_when_they_are_whole_minutes() {
        use DurationUnit::{Days, Hours, Minutes};
        for (whole, numer, denom, unit, minutes) in [
            (1, 5, 10, Hours, Some(90)),
            (0, 5, 10, Hours, Some(30)),
            (2, 5, 10, Days, Some(3600)),
            (1, 25, 100, Hours, Some(75)),
            (0, 1, 10, Hours, Some(6)),
            (0, 1, 2, Hours, Some(30)),
            (1, 0, 1, Days, Some(1440)),
            // Not whole minutes.
            (1, 33333, 100_000, Hours, None),
            (1, 5, 10, Minutes, None),
            (0, 1, 100, Days, None),
            (1, 1, 0, Hours, None),
            // Too big saturates instead of wrapping.
            (u64::MAX, 0, 1, Days, Some(u64::MAX)),
            (u64::MAX / 60 + 1, 0, 1, Hours, Some(u64::MAX)),
        ] {
            assert_eq!(
                unit.whole_minutes(whole, numer, denom),
                minutes,
                "{whole} {numer}/{denom} {unit:?}"
            );
        }
    }

    #[test]
    fn display_names_are_limited_to_twenty_characters() {
        assert_eq!(
            DisplayName::try_from(" Zhang San ").unwrap().as_str(),
            "Zhang San"
        );
        assert!(DisplayName::try_from("张".repeat(20).as_str()).is_ok());
        assert!(matches!(
            DisplayName::try_from("张".repeat(21).as_str()),
            Err(ValueError::BadDisplayName { chars: 21, .. })
        ));
        assert!(DisplayName::try_from("").is_err());
    }

    #[test]
    fn a_display_name_cannot_be_a_phone_number() {
        for number in ["13800138000", "+86 138 0013 8000", "(010) 6552-9988"] {
            assert!(
                matches!(
                    DisplayName::try_from(number),
                    Err(ValueError::NameLikeNumber { .. })
                ),
                "{number}"
            );
        }
        for name in ["Agent 007", "Room 1201", "李四 2号", "1234"] {
            assert!(DisplayName::try_from(name).is_ok(), "{name}");
        }
    }
}
