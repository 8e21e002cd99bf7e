//! The SMS command language of COMMANDS.md: text from a subscriber -> [`Command`] (step 3 of the
//! flow in DESIGN.md). Pure and synchronous: no I/O, no clock, no store.
//!
//! [`parse`] normalises once ([`normalize::normalize`]: NFKC, whitespace, quotes) and then parses
//! strictly with one nom function per command plus a dispatcher ([`grammar`]). Errors are values
//! ([`ParseError`]) carrying what was wrong, the offending text to quote in the reply, and the
//! usage to suggest; unknown or empty input is a [`ParseErrorKind::UnknownCommand`] /
//! [`ParseErrorKind::Empty`] error whose usage is [`HelpTopic::General`] (the short help).
//!
//! Reply language: every result carries a `lang_hint` — `Some(Lang::Zh)` when the command keyword
//! was Chinese (`状态`, `查`, ...), `Some(Lang::En)` when it was English (`STATUS`, `WHO`, ...),
//! `None` when it was language-neutral (`?`, `TD`). For unknown input the hint is `Some(Zh)` if the
//! text contains CJK characters, else `None`. The service keeps the subscriber's language when the
//! hint is `None`.

pub mod grammar;
pub mod msisdn;
pub mod normalize;
pub mod types;

use thiserror::Error;

pub use msisdn::{mask, FixedLength, Msisdn, MsisdnError};
pub use types::{
    BuiltinGroup, DisplayName, DurationUnit, Expiry, FreeText, GroupName, HelpTopic, Lang, Privacy,
    StatusAssignment, StatusChange, StatusCode, StatusText, StopTarget, Target, UserGroupName,
    ValueError,
};

/// Longest corrected command offered back for a typo ([`ParseErrorKind::Misspelt`]; it is
/// quoted in an SMS reply).
pub const MAX_SUGGESTION_CHARS: usize = 60;

/// The longest `bad` text a [`ParseError`] carries, in characters (longer text is cut and ends
/// with `...`), so a reply quoting it still fits one SMS.
pub const MAX_BAD_CHARS: usize = 24;

/// One subscriber command (COMMANDS.md "Commands").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELP` / `?` / `帮助` `[topic]`; `None` is the short help.
    Help(Option<HelpTopic>),
    /// `NAME <display name>` / `名字 <名字>`; `None`: `NAME OFF` / `名字 删除` (no name).
    Name(Option<DisplayName>),
    /// `GROUPS [page]` / `分组 [页]` (also `GROUP` alone): list groups, page 1 first.
    ///
    /// Every page number here is as asked, for the reply to say when there is no such page:
    /// 0 stands for 0 or a negative number (`GROUPS -1`), [`u32::MAX`] for any number too
    /// big for a page (`GROUPS 99999999999999999999`).
    Groups(u32),
    /// `GROUP <g> [page]`: list members, page 1 first.
    GroupShow {
        /// The group.
        group: GroupName,
        /// 1-based page (0 and [`u32::MAX`] as in [`Command::Groups`]).
        page: u32,
    },
    /// `GROUP <g> ADD <n>...` / `分组 <g> 加 <n>...` (creates g); members deduplicated, in order.
    GroupAdd {
        /// The group.
        group: GroupName,
        /// At least one number.
        members: Vec<Msisdn>,
    },
    /// `GROUP <g> DEL <n>...` / `分组 <g> 删 <n>...`.
    GroupDel {
        /// The group.
        group: GroupName,
        /// At least one number.
        members: Vec<Msisdn>,
    },
    /// `GROUP <g> RENAME <g2>` / `分组 <g> 改名 <g2>`.
    GroupRename {
        /// The current name.
        from: GroupName,
        /// The new name.
        to: GroupName,
    },
    /// `GROUP <g> DROP` / `分组 <g> 解散`.
    GroupDrop(GroupName),
    /// `STATUS [page]` / `状态 [页]`: show the status each group sees, page 1 first (0 and
    /// [`u32::MAX`] as in [`Command::Groups`]).
    StatusShow(u32),
    /// `STATUS <t> <s> [<expiry>][, <t2> <s2> ...]`: at least one assignment, in typed order.
    StatusSet(Vec<StatusAssignment>),
    /// `WHO <n>` / `查 <n>`.
    Who(Msisdn),
    /// `AVATARS [page]` / `头像库 [页]`.
    Avatars {
        /// 1-based page (0 and [`u32::MAX`] as in [`Command::Groups`]).
        page: u32,
    },
    /// `AVATAR` / `头像` alone: the subscriber's current avatar and the AVATAR forms.
    AvatarShow,
    /// `AVATAR <id>` / `头像 <编号>`: choose a preset.
    AvatarSet(u32),
    /// `AVATAR UPLOAD` / `头像 上传`.
    AvatarUpload,
    /// `AVATAR OFF` / `头像 取消`.
    AvatarOff,
    /// `PRIVACY` / `隐私` alone: who may see the avatar now, and the PRIVACY forms.
    PrivacyShow,
    /// `PRIVACY <everyone|contacts|nobody>` / `隐私 <所有人|联系人|无人>`.
    Privacy(Privacy),
    /// `STOP <n>` / `STOP ALL` / `STOP` / `TD` / `TD<n>` / `UNSUBSCRIBE` / `退订 [<n>|全部]`.
    Stop(StopTarget),
    /// `START <n>` / `START ALL` / `START` / `订阅 [<n>|全部]`.
    Start(StopTarget),
    /// `LANG EN|ZH` / `语言 英文|中文`.
    Lang(Lang),
}

/// A successfully parsed command and the language its keyword was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The command.
    pub command: Command,
    /// Language of the command keyword (`None`: neutral, e.g. `?`, `TD`).
    pub lang_hint: Option<Lang>,
    /// Readings of a STATUS command that depend on the subscriber's groups (empty for every
    /// other command): the service checks them before carrying the command out.
    pub doubts: Vec<Doubt>,
}

/// A STATUS command whose meaning hangs on whether the subscriber has a group, which the parser
/// cannot know: the service answers with `error` instead of carrying the command out when the
/// subscriber has `group` (`if_exists`) or has not (`!if_exists`).
///
/// - `STATUS FAMILY BUSY WORK MEETING`: with a group WORK, a comma left out
///   ([`ParseErrorKind::MissingComma`]); without one, the free text `BUSY WORK MEETING`.
///   (With a built-in target, `BUSY COLLEAGUES MEETING`, the parser refuses it itself.)
/// - `STATUS FAMILY At lunch, back soon`: without a group BACK, a comma inside free text
///   that needs quotes ([`ParseErrorKind::CommaInText`]); with one, two assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doubt {
    /// The group whose existence decides.
    pub group: GroupName,
    /// Whether `error` applies when the subscriber has the group (else when they have not).
    pub if_exists: bool,
    /// The reply then.
    pub error: ParseError,
}

/// What kind of mistake a [`ParseError`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// The message was empty (or only spaces).
    #[error("empty message")]
    Empty,
    /// The first word is no command.
    #[error("unknown command")]
    UnknownCommand,
    /// The first word is a typo away from a command keyword: the corrected command, which
    /// parses, to offer back (never carried out).
    #[error("unknown command; did you mean {0:?}")]
    Misspelt(String),
    /// A phone number is not plausible.
    #[error(transparent)]
    Number(#[from] MsisdnError),
    /// A group name, status, expiry or display name breaks its limits.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The command needs an argument that is missing.
    #[error("missing argument")]
    MissingArgument,
    /// A STATUS target without a status after it.
    #[error("missing status after the target")]
    MissingStatus,
    /// A STATUS assignment that starts with a status instead of a target.
    #[error("missing target (a group, ALL or OTHERS) before the status")]
    MissingTarget,
    /// A word that is not one of the command's options (help topic, group action, privacy ...).
    #[error("not an option of this command")]
    UnknownOption,
    /// A page or avatar number that is not a positive integer.
    #[error("not a positive number")]
    BadNumber,
    /// A short code or service number where a command takes a subscriber's number (`WHO
    /// 10086`, `STOP 10086`, `GROUP FAMILY ADD 10086`: [`msisdn::is_service_number`]): no
    /// subscriber's number, rather than a mistyped one; `bad` is the number as typed.
    #[error("a service number, not a subscriber's phone number")]
    ServiceNumber,
    /// Words that read as one phone number and as several (`GROUP FAMILY ADD 23456 78901`:
    /// both ways every piece is a number); `bad` is them. Commas between numbers settle it.
    #[error("one phone number or several")]
    UnclearNumbers,
    /// Several phone numbers where a command takes one (`WHO 13900139000 13700137000`,
    /// `STOP 139…, 137…`); `bad` is them all. `fixed` is the command with the first of them
    /// (`WHO +8613900139000`), in the keyword's language. Before, the numbers were read as one
    /// and refused as "too many digits", which named no mistake the subscriber had made.
    #[error("one phone number at a time; did you mean {fixed:?}")]
    OneNumberAtATime {
        /// The command with the first number only.
        fixed: String,
    },
    /// `STOP ALL` / `START ALL` with more after it (`STOP ALL please`); `bad` is what follows.
    #[error("nothing goes after ALL")]
    NothingAfterAll {
        /// `START ALL` (else `STOP ALL`).
        start: bool,
    },
    /// Text left over after a complete command.
    #[error("unexpected text after the command")]
    UnexpectedText,
    /// Two or more STATUS assignments without the commas between them (`STATUS FAMILY BUSY
    /// COLLEAGUES MEETING`, `STATUS FAMILY free COLLEAGUES in a meeting OTHERS busy`); `bad`
    /// is the target word the first comma goes before. Could also be one free text, so the
    /// reply offers both: the commas, or quotes.
    #[error("a comma missing between assignments; did you mean {fixed:?}")]
    MissingComma {
        /// The command with the commas put in, if short enough to quote back.
        fixed: Option<String>,
        /// The target words after `bad` that a comma goes before too, in order (empty for
        /// two assignments).
        also_before: Vec<String>,
    },
    /// Assignments run together without their commas that split more than one way
    /// (`STATUS COLLEAGUES BUSY FAMILY Out FOR 1H FRIENDS OTHERS MEETING`: a comma before
    /// FRIENDS, or before OTHERS); `bad` is the first target word a comma may go before.
    /// None is guessed: the reply names the words, and quotes for one text.
    #[error("commas missing between assignments, in more than one place that reads")]
    UnclearCommas {
        /// The target words after `bad` that a comma may go before, in order.
        or_before: Vec<String>,
    },
    /// A built-in status, an expiry keyword and then a number that is no expiry (`STATUS
    /// FAMILY BUSY UNTIL 5 30`, `BUSY FOR 5X`): an expiry gone wrong rather than a text; `bad`
    /// is the keyword and what follows. The reply shows the forms that are taken, and quotes
    /// for a text.
    #[error("an expiry that is none of the forms taken")]
    BadExpiry,
    /// A built-in status and then a length of time that says no definite end (`STATUS 同事
    /// 开会 半天`: half a day is "a while", or a morning, not twelve hours); `bad` is that
    /// length. The reply shows the forms that say how long or until when.
    #[error("an expiry that says no definite length")]
    VagueExpiry,
    /// A word of a command a typo away from the one meant, inside a command whose keyword
    /// was read (`STATUS FAMILY METING`, `GROUP FAMILY AD 139...`), or a group named where the
    /// status goes (`STATUS FAMILY COLLEAGUES BUSY`); `bad` is the word. The reply offers
    /// `fixed` (a complete command, never carried out) and, for a status, quotes for a text.
    #[error("a near miss; did you mean {fixed:?}")]
    NearMiss {
        /// The command as probably meant.
        fixed: String,
    },
    /// Free text with an unquoted comma, read as a separator (`STATUS FAMILY At lunch, back
    /// soon`); `bad` is the text.
    #[error("a comma in free text that is not in quotes; did you mean {fixed:?}")]
    CommaInText {
        /// The command with the text in quotes, if short enough to quote back.
        fixed: Option<String>,
    },
}

/// A command that could not be parsed: what was wrong, the part to quote, the usage to suggest.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}: {bad:?} (see {usage:?})")]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    /// The offending part, as normalised, at most [`MAX_BAD_CHARS`] characters.
    pub bad: String,
    /// The help topic whose usage the reply should show.
    pub usage: HelpTopic,
    /// Language of the command keyword, when one was recognised (see the module docs).
    pub lang_hint: Option<Lang>,
    /// Other replies that hang on the subscriber's groups, which the parser cannot know (as
    /// [`Parsed::doubts`]): the service answers with the error of the first that holds
    /// instead of this one. `把139…加到篮球组` offers `分组 篮球组 加 139…`, and `分组 篮球
    /// 加 139…` to one who has a group 篮球 and no group 篮球组. Empty for most errors.
    pub doubts: Vec<Doubt>,
}

/// A reading of a STATUS command that holds where the subscriber has `groups`
/// ([`glued_readings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReading {
    /// The word read apart first, as typed (`老同学忙`): when that whole word is one of the
    /// subscriber's groups, it was meant as the group, and the reading does not hold.
    pub word: String,
    /// The user groups read apart from their statuses, in the order typed.
    pub groups: Vec<GroupName>,
    /// The command so read.
    pub parsed: Parsed,
}

/// Parses one MO message. `default_country_code` (`"86"` or `"+86"`) completes national numbers.
pub fn parse(text: &str, default_country_code: &str) -> Result<Parsed, ParseError> {
    let text = normalize::normalize(text);
    match grammar::parse_normalized(&text, default_country_code) {
        Ok(mut parsed) => {
            for doubt in &mut parsed.doubts {
                doubt.error.bad = shorten(&doubt.error.bad);
            }
            Ok(parsed)
        }
        Err(mut e) => {
            e.bad = shorten(&e.bad);
            for doubt in &mut e.doubts {
                doubt.error.bad = shorten(&doubt.error.bad);
            }
            Err(e)
        }
    }
}

/// For a STATUS command refused for a target with no status after it, where that target may
/// be a user group glued to its status (`状态 老同学忙`), or for free text with a comma after
/// which such a word stands (`状态 老同学 在开会，新同事开车`: the next assignment, not more
/// text): the command read with the space put in, for each group name the word could start
/// with, longest first. Each holds where the subscriber has its groups (the parser cannot
/// know; the service checks). Empty for any other text. Called only for a
/// [`ParseErrorKind::MissingStatus`] or [`ParseErrorKind::CommaInText`]
/// ([`glued_readings_may_help`]), so it costs nothing on the way of a command that parses.
pub fn glued_readings(text: &str, default_country_code: &str) -> Vec<GroupReading> {
    grammar::glued_readings(&normalize::normalize(text), default_country_code)
}

/// Whether a refusal of kind `kind` may have [`glued_readings`].
pub fn glued_readings_may_help(kind: &ParseErrorKind) -> bool {
    matches!(
        kind,
        ParseErrorKind::MissingStatus | ParseErrorKind::CommaInText { .. }
    )
}

/// Cuts `bad` to [`MAX_BAD_CHARS`] characters, ending in `...` when cut: three dots are in
/// the GSM 7-bit alphabet, so an English reply quoting it stays GSM-7 (`…` would make the
/// whole reply UCS-2, more than twice as many segments).
fn shorten(bad: &str) -> String {
    if bad.chars().count() <= MAX_BAD_CHARS {
        bad.to_owned()
    } else {
        let mut out: String = bad.chars().take(MAX_BAD_CHARS - 3).collect();
        out.push_str("...");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_in_the_keyword_offers_the_corrected_command() {
        let fixed = |text: &str| match parse(text, "86").map_err(|e| e.kind) {
            Err(ParseErrorKind::Misspelt(f)) => Some(f),
            Err(_) => None,
            Ok(p) => panic!("{text:?} parsed: {p:?}"),
        };
        // Letters swapped, one missing, one wrong, lower case.
        assert_eq!(
            fixed("STAUTS FAMILY FREE").as_deref(),
            Some("STATUS FAMILY FREE")
        );
        assert_eq!(
            fixed("grup FAMILY ADD 13900139000").as_deref(),
            Some("GROUP FAMILY ADD 13900139000")
        );
        assert_eq!(fixed("WHI 13800138000").as_deref(), Some("WHO 13800138000"));
        assert_eq!(fixed("STPO ALL").as_deref(), Some("STOP ALL"));
        // Only when the corrected text is a complete, valid command.
        assert_eq!(fixed("STAUTS"), Some("STATUS".into()));
        assert_eq!(fixed("TWO 3 PEOPLE"), None, "WHO 3 PEOPLE is no command");
        assert_eq!(fixed("STAUTS FAMILY"), None, "no status given");
        // Too far from any keyword, or not a word.
        assert_eq!(fixed("hello there"), None);
        assert_eq!(
            fixed("STTTUS FAMILY FREE"),
            Some("STATUS FAMILY FREE".into())
        );
        assert_eq!(fixed("SXXXXS FAMILY FREE"), None);
        assert_eq!(fixed("😀😀"), None);
        // Never a suggestion too long to quote.
        let long = format!("STAUTS FAMILY \"{}\"", "x".repeat(60));
        assert_eq!(fixed(&long), None);
    }

    #[test]
    fn empty_and_unknown_input_ask_for_the_short_help() {
        for empty in ["", "   ", "\u{3000}\n\t"] {
            let err = parse(empty, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Empty);
            assert_eq!(err.usage, HelpTopic::General);
        }
        let err = parse("hello there", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownCommand);
        assert_eq!(err.bad, "hello");
        assert_eq!(err.usage, HelpTopic::General);
        assert_eq!(err.lang_hint, None);
        assert_eq!(parse("你好", "86").unwrap_err().lang_hint, Some(Lang::Zh));
    }

    #[test]
    fn long_bad_parts_are_shortened() {
        let long = format!("STATUS FAMILY \"{}\"", "x".repeat(100));
        let err = parse(&long, "86").unwrap_err();
        assert_eq!(err.bad.chars().count(), MAX_BAD_CHARS);
        assert!(err.bad.ends_with("..."));
        assert_eq!(err.bad.chars().count(), MAX_BAD_CHARS);
        assert!(sms_wire::gsm7::is_representable(&err.bad));
        assert!(matches!(
            err.kind,
            ParseErrorKind::Value(ValueError::BadStatusLength { chars: 100, .. })
        ));
    }

    #[test]
    fn lang_hint_follows_the_keyword() {
        assert_eq!(parse("状态", "86").unwrap().lang_hint, Some(Lang::Zh));
        assert_eq!(parse("status", "86").unwrap().lang_hint, Some(Lang::En));
        assert_eq!(parse("TD", "86").unwrap().lang_hint, None);
        assert_eq!(parse("查 abc", "86").unwrap_err().lang_hint, Some(Lang::Zh));
    }
}
