//! The strict nom 8 grammar of COMMANDS.md over normalised text (see `normalize`): one function
//! per command plus one dispatcher, in the style of DESIGN.md example 6.
//!
//! Conventions: English keywords match ASCII case-insensitively and must not run into another
//! ASCII letter (`TD13800138000` is fine, `STATUSX` is not); Chinese keywords need no space after
//! them (`查13800138000`, `状态家人开车2小时`). Once a command keyword has matched, every problem
//! is a nom `Failure` carrying a finished [`ParseError`] (cut), so the dispatcher never backtracks
//! into a different command and the reply names the right usage.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1, take_while_m_n};
use nom::character::complete::{anychar, char, digit1, space0, space1};
use nom::combinator::{consumed, opt, peek, value};
use nom::multi::many_till;
use nom::{IResult, Parser};

use super::msisdn::{Msisdn, MsisdnError};
use super::types::{BuiltinGroup, FreeText, StatusCode};
use super::types::{
    DisplayName, DurationUnit, Expiry, GroupName, HelpTopic, Lang, Privacy, StatusAssignment,
    StatusChange, StatusText, StatusWord, StopTarget, Target, ValueError,
};
use super::{
    Command, Doubt, GroupReading, ParseError, ParseErrorKind, Parsed, MAX_SUGGESTION_CHARS,
};

/// The grammar's nom error: `fail` is `Some` once a command keyword matched (a committed error).
#[derive(Debug)]
pub struct GrammarError<'a> {
    /// Where the error happened.
    pub input: &'a str,
    /// The finished error, for failures after a keyword (boxed: nom passes errors back
    /// through every alternative, and a reply's error with its doubts is large).
    pub fail: Option<Box<ParseError>>,
}

impl<'a> nom::error::ParseError<&'a str> for GrammarError<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        GrammarError { input, fail: None }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        if other.fail.is_none() && self.fail.is_some() {
            self
        } else {
            other
        }
    }
}

type PResult<'a, O> = IResult<&'a str, O, GrammarError<'a>>;

/// Separators between STATUS assignments and between numbers (`,` `;` after NFKC, and `、`).
fn is_sep(c: char) -> bool {
    matches!(c, ',' | ';' | '、')
}

/// A committed failure value.
fn committed<'a>(
    input: &'a str,
    kind: impl Into<ParseErrorKind>,
    bad: &str,
    usage: HelpTopic,
) -> nom::Err<GrammarError<'a>> {
    nom::Err::Failure(GrammarError {
        input,
        fail: Some(Box::new(ParseError {
            kind: kind.into(),
            bad: bad.to_owned(),
            usage,
            lang_hint: None,
            doubts: Vec::new(),
        })),
    })
}

/// A committed failure.
fn fail<'a, T>(
    input: &'a str,
    kind: impl Into<ParseErrorKind>,
    bad: &str,
    usage: HelpTopic,
) -> PResult<'a, T> {
    Err(committed(input, kind, bad, usage))
}

/// A recoverable "not this" error.
fn no<'a, T>(input: &'a str) -> PResult<'a, T> {
    Err(nom::Err::Error(GrammarError { input, fail: None }))
}

/// Sets the language hint on a committed failure, unless one was set already (a Chinese word
/// offered back inside an English command: [`in_chinese`]).
fn with_lang<'a, T>(lang: Option<Lang>, result: PResult<'a, T>) -> PResult<'a, T> {
    result.map_err(|e| {
        e.map(|mut g| {
            if let Some(f) = g.fail.as_mut() {
                f.lang_hint = f.lang_hint.or(lang);
            }
            g
        })
    })
}

/// A committed failure whose reply is in Chinese whatever the command's keyword, when `word`
/// (the word it offers a correction of) is Chinese: `STATUS FAMILY 开慧` is answered as `状态`
/// would be.
fn in_chinese<'a, T>(word: &str, result: PResult<'a, T>) -> PResult<'a, T> {
    if word.chars().any(is_cjk) {
        with_lang(ZH, result)
    } else {
        result
    }
}

/// Succeeds (consuming nothing) unless the next character is an ASCII letter.
fn en_boundary(input: &str) -> PResult<'_, ()> {
    match input.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => no(input),
        _ => Ok((input, ())),
    }
}

/// A keyword table row: the word, the language it signals, and what it means.
type Kw<T> = (&'static str, Option<Lang>, T);

/// One keyword out of `words`, then optional space; yields its language and meaning.
/// Words ending in an ASCII letter need an [`en_boundary`] after them; list longer words
/// before their prefixes (`头像库` before `头像`).
fn keyword<'a, T: Copy>(
    words: &'static [Kw<T>],
) -> impl Fn(&'a str) -> PResult<'a, (Option<Lang>, T)> {
    move |input: &'a str| {
        for (word, lang, meaning) in words {
            let matched: PResult<'a, &'a str> = tag_no_case(*word).parse(input);
            let Ok((rest, _)) = matched else { continue };
            let rest = if word.ends_with(|c: char| c.is_ascii_alphabetic()) {
                match en_boundary(rest) {
                    Ok((rest, ())) => rest,
                    Err(_) => continue,
                }
            } else {
                rest
            };
            let (rest, _) = space0(rest)?;
            return Ok((rest, (*lang, *meaning)));
        }
        no(input)
    }
}

/// The whole of `input` is one of `words` (case-insensitive); returns its meaning.
fn choice<T: Copy>(input: &str, words: &[Kw<T>]) -> Option<T> {
    words
        .iter()
        .find(|(w, _, _)| w.eq_ignore_ascii_case(input))
        .map(|(_, _, v)| *v)
}

const EN: Option<Lang> = Some(Lang::En);
const ZH: Option<Lang> = Some(Lang::Zh);

/// How many glued targets one command may have read apart ([`glued_group_readings`]).
const MAX_GLUED_DEPTH: usize = 4;

/// How many parses reading glued targets apart may take for one message, whatever it holds.
const MAX_GLUED_PARSES: usize = 64;

/// [`super::glued_readings`] of normalised text.
pub fn glued_readings(text: &str, default_cc: &str) -> Vec<GroupReading> {
    let mut budget = MAX_GLUED_PARSES;
    let from = |word: &str, budget: &mut usize| {
        let mut readings = glued_group_readings(text, word, default_cc, MAX_GLUED_DEPTH, budget);
        for r in &mut readings {
            r.word = word.to_string();
        }
        readings
    };
    match parse_normalized(text, default_cc) {
        Err(e) if e.kind == ParseErrorKind::MissingStatus => from(&e.bad, &mut budget),
        // Free text with a comma in it (`在开会，新同事开车`): the first word after a comma may
        // be a user group glued to its status, the next assignment; the first such word that
        // reads apart gives the readings.
        Err(e) if matches!(e.kind, ParseErrorKind::CommaInText { .. }) => e
            .bad
            .split(is_sep)
            .skip(1)
            .filter_map(|clause| clause.split_whitespace().next())
            .map(|word| from(word, &mut budget))
            .find(|readings| !readings.is_empty())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Readings of `token`, a STATUS target with no status after it, as a user group glued to its
/// status: `老同学忙` as `老同学 忙`, `WORKBUSY` as `WORK BUSY`; longest group name first. The
/// status after the name must start with a built-in status word or CLEAR, or, between two
/// CJK characters (Chinese has no spaces), may be free text (`老同学在开会`). Each is `text`
/// with the space put in, parsed again; one that needs a second glued target read apart names
/// both groups (at most `depth` deep, in at most `budget` parses).
fn glued_group_readings(
    text: &str,
    token: &str,
    default_cc: &str,
    depth: usize,
    budget: &mut usize,
) -> Vec<GroupReading> {
    let mut readings: Vec<GroupReading> = Vec::new();
    if depth == 0 {
        return readings;
    }
    for (cut, first) in token.char_indices().rev() {
        let (name, status) = token.split_at(cut);
        let Some(last) = name.chars().next_back() else {
            continue;
        };
        if !(starts_with_status_word(status) || (is_cjk(last) && is_cjk(first))) {
            continue;
        }
        let Ok(group @ GroupName::User(_)) = GroupName::try_from(name) else {
            continue;
        };
        for (at, _) in text.match_indices(token) {
            if *budget == 0 {
                return readings;
            }
            *budget -= 1;
            let spaced = format!(
                "{}{name} {status}{}",
                &text[..at],
                &text[at + token.len()..]
            );
            let found = match parse_normalized(&spaced, default_cc) {
                Ok(parsed) => vec![GroupReading {
                    word: token.to_string(),
                    groups: vec![group.clone()],
                    parsed,
                }],
                // Still `name` with no status (`老同学忙 到5点`: an expiry, no status): no
                // reading. Another glued target further on: its readings, with this group.
                Err(e) if e.kind != ParseErrorKind::MissingStatus || e.bad == name => Vec::new(),
                Err(e) => glued_group_readings(&spaced, &e.bad, default_cc, depth - 1, budget)
                    .into_iter()
                    .map(|mut r| {
                        r.groups.insert(0, group.clone());
                        r
                    })
                    .collect(),
            };
            if !found.is_empty() {
                readings.extend(found);
                break;
            }
        }
    }
    readings
}

/// Parses normalised text (see `normalize`); the body of [`super::parse`].
pub fn parse_normalized(text: &str, default_cc: &str) -> Result<Parsed, ParseError> {
    if text.is_empty() {
        return Err(ParseError {
            kind: ParseErrorKind::Empty,
            bad: String::new(),
            usage: HelpTopic::General,
            lang_hint: None,
            doubts: Vec::new(),
        });
    }
    match command(text, default_cc) {
        Ok(("", parsed)) => Ok(parsed),
        Ok((rest, parsed)) => Err(ParseError {
            kind: ParseErrorKind::UnexpectedText,
            bad: rest.to_owned(),
            usage: HelpTopic::General,
            lang_hint: parsed.lang_hint,
            doubts: Vec::new(),
        }),
        Err(nom::Err::Failure(GrammarError { fail: Some(e), .. }))
        | Err(nom::Err::Error(GrammarError { fail: Some(e), .. })) => {
            // `查旬 13800138000`: `查` matched and `旬 ...` is no number, but `查询` was meant.
            match longer_misspelt(text, default_cc) {
                Some((typed, fixed, lang)) => Err(ParseError {
                    kind: ParseErrorKind::Misspelt(fixed),
                    bad: typed.to_owned(),
                    usage: HelpTopic::General,
                    lang_hint: Some(lang),
                    doubts: Vec::new(),
                }),
                None => Err(*e),
            }
        }
        Err(_) => {
            let first = text.split(' ').next().unwrap_or(text);
            // A group verb said first is no typo (`DROP WORK` is not `GROUP WORK`). A typo's
            // reply is in the language of the command offered ([`misspelt`]).
            // One said verb first whose numbers are wrong gets what the command in its order
            // gets (`ADD 12 FAMILY`: "12" is no phone number).
            let mut doubts = Vec::new();
            let near = match verb_first(text, first, default_cc)
                .or_else(|| zh_verb_first(text, default_cc))
            {
                Some(VerbFirst::Offer(typed, fixed, lang, group_words)) => {
                    // `把139…加到篮球组`: `分组 篮球 加 139…` to one who has 篮球 and no 篮球组;
                    // `把139…加到家人组`: `分组 家人组 加 139…` to one who has a group 家人组.
                    for g in group_words {
                        doubts.push(Doubt {
                            group: g.group,
                            if_exists: true,
                            error: ParseError {
                                kind: ParseErrorKind::Misspelt(g.fixed),
                                bad: typed.to_owned(),
                                usage: HelpTopic::General,
                                lang_hint: Some(lang),
                                doubts: Vec::new(),
                            },
                        });
                    }
                    Some((typed, fixed, lang))
                }
                Some(VerbFirst::Refuse(e)) => return Err(e),
                None => misspelt(text, default_cc),
            };
            let (kind, bad, lang_hint) = match near {
                Some((typed, fixed, lang)) => (ParseErrorKind::Misspelt(fixed), typed, Some(lang)),
                None if text.chars().any(is_cjk) => (ParseErrorKind::UnknownCommand, first, ZH),
                None => (ParseErrorKind::UnknownCommand, first, None),
            };
            Err(ParseError {
                kind,
                bad: bad.to_owned(),
                usage: HelpTopic::General,
                lang_hint,
                doubts,
            })
        }
    }
}

/// Command keywords a typo may be close to, English and Chinese, and the language of each
/// (longest first where one is a prefix). One-character keywords (`查`, `?`) are left out: any
/// character is a typo of them.
const KEYWORDS: &[(&str, Lang)] = &[
    ("HELP", Lang::En),
    ("NAME", Lang::En),
    ("GROUPS", Lang::En),
    ("GROUP", Lang::En),
    ("STATUS", Lang::En),
    ("WHO", Lang::En),
    ("AVATARS", Lang::En),
    ("AVATAR", Lang::En),
    ("PRIVACY", Lang::En),
    ("STOP", Lang::En),
    ("START", Lang::En),
    ("UNSUBSCRIBE", Lang::En),
    ("LANG", Lang::En),
    ("帮助", Lang::Zh),
    ("名字", Lang::Zh),
    ("分组", Lang::Zh),
    ("状态", Lang::Zh),
    ("查询", Lang::Zh),
    ("头像库", Lang::Zh),
    ("头像", Lang::Zh),
    ("隐私", Lang::Zh),
    ("退订", Lang::Zh),
    ("订阅", Lang::Zh),
    ("语言", Lang::Zh),
];

/// How far `typed` is from the command word `word` when it is a typo of it: one edit for
/// words of up to four characters, two for longer ones (a swap of neighbours counts as one;
/// English case-insensitively), or an English word with up to two letters run on (`WHOIS`).
/// `None` when it is no typo of `word` (or is `word`).
fn typo_of(typed: &str, word: &str) -> Option<usize> {
    let typed = typed.to_ascii_uppercase();
    let distance = strsim::osa_distance(&typed, word);
    let most = if word.chars().count() <= 4 { 1 } else { 2 };
    // `WHOIS` is `WHO` and two letters more: a keyword said with a word run on.
    let run_on = word.is_ascii() && typed.starts_with(word) && typed.len() <= word.len() + 2;
    (distance > 0 && (distance <= most || run_on)).then_some(distance)
}

/// The beginnings of `text` that may be a typo of the keyword `keyword`: for an English one,
/// the first word when it is three letters or more; for a Chinese one, the first one, two or
/// three characters (the keyword less one, as long, one more), CJK only, where a word may end:
/// before a space, the end, something not CJK (`查旬13800138000`) or a Chinese target
/// (`状太家人忙`), since a Chinese keyword needs no space after it.
fn typed_keyword<'t>(text: &'t str, keyword: &str) -> Vec<&'t str> {
    if keyword.is_ascii() {
        let first = text.split(' ').next().unwrap_or(text);
        let word = first.len() >= 3 && first.bytes().all(|b| b.is_ascii_alphabetic());
        return if word { vec![first] } else { Vec::new() };
    }
    let n = keyword.chars().count();
    let ends_word = |rest: &str| {
        let targets = ["全部", "所有", "其他", "其它"]
            .into_iter()
            .chain(BuiltinGroup::ALL.iter().map(|g| g.zh()));
        rest.chars().next().is_none_or(|c| !is_cjk(c))
            || targets.into_iter().any(|t| rest.starts_with(t))
    };
    (n.saturating_sub(1).max(1)..=n + 1)
        .filter_map(|len| {
            let end = text.char_indices().nth(len).map_or(text.len(), |(p, _)| p);
            let typed = &text[..end];
            (typed.chars().count() == len && typed.chars().all(is_cjk) && ends_word(&text[end..]))
                .then_some(typed)
        })
        .collect()
}

/// `text` (no command) with its beginning replaced by the nearest command keyword, English or
/// Chinese, when that beginning is a typo of it ([`typo_of`], [`typed_keyword`]) and the
/// result is a complete, valid command short enough to quote back: the beginning as typed,
/// the command, and the language to reply in, to offer back ("Did you mean: ..."). Only
/// offered, never carried out. The reply is English for an English command that is all ASCII
/// (it stays one GSM-7 SMS), Chinese for a Chinese keyword and for an English one with Chinese
/// in it (`ＳＴＡＵＴＳ 家人 忙`, typed in full-width letters, offers `STATUS 家人 忙`).
fn misspelt<'t>(text: &'t str, default_cc: &str) -> Option<(&'t str, String, Lang)> {
    let mut near: Vec<(usize, &str, &str, Lang)> = KEYWORDS
        .iter()
        .flat_map(|&(keyword, lang)| {
            typed_keyword(text, keyword)
                .into_iter()
                .filter_map(move |typed| typo_of(typed, keyword).map(|d| (d, typed, keyword, lang)))
        })
        .collect();
    near.sort_by_key(|&(d, ..)| d);
    near.into_iter().find_map(|(_, typed, keyword, lang)| {
        let fixed = format!("{keyword}{}", &text[typed.len()..]);
        let complete = matches!(command(&fixed, default_cc), Ok(("", _)));
        let lang = match lang {
            Lang::En if fixed.is_ascii() => Some(Lang::En),
            Lang::En if fixed.chars().any(is_cjk) => Some(Lang::Zh),
            Lang::En => None,
            Lang::Zh => Some(Lang::Zh),
        };
        let fits = fixed.chars().count() <= MAX_SUGGESTION_CHARS;
        match lang {
            Some(lang) if complete && fits => Some((typed, fixed, lang)),
            _ => None,
        }
    })
}

/// The words that may follow a Chinese command keyword that is the start of a longer one
/// (`头像` of `头像库`, `查` of `查询`) without a space: a character that starts one of them
/// after the shorter keyword (`头像取`, short for `头像 取消`) is no typo of the longer one.
const AFTER_SHORT_KEYWORD: &[(&str, &[&str])] =
    &[("查", &[]), ("头像", &["上传", "取消", "关闭", "删除"])];

/// [`misspelt`] for text that a Chinese keyword matched as the start of a longer keyword
/// mistyped, so that the shorter one's command failed (`查旬 13800138000`: `查` and then `旬
/// ...`, no number, when `查询` was meant; `头像裤`: `头像` and `裤`, no avatar, for `头像库`):
/// the typo of the longer keyword is offered when the typed beginning is as long as it
/// ([`typed_keyword`], [`typo_of`]) and no shorter typing of it, and the character after the
/// shorter keyword starts none of the words the shorter command takes ([`AFTER_SHORT_KEYWORD`]).
fn longer_misspelt<'t>(text: &'t str, default_cc: &str) -> Option<(&'t str, String, Lang)> {
    let (short, words) = AFTER_SHORT_KEYWORD
        .iter()
        .find(|(short, _)| text.starts_with(short))?;
    let after = &text[short.len()..];
    let starts_a_word = words
        .iter()
        .filter_map(|w| w.chars().next())
        .any(|c| after.starts_with(c));
    if starts_a_word {
        return None;
    }
    let mut near: Vec<(usize, &str, &str)> = KEYWORDS
        .iter()
        .filter(|(keyword, lang)| {
            *lang == Lang::Zh
                && keyword.starts_with(short)
                && keyword.chars().count() == short.chars().count() + 1
        })
        .flat_map(|&(keyword, _)| {
            typed_keyword(text, keyword)
                .into_iter()
                .filter(move |typed| typed.chars().count() >= keyword.chars().count())
                .filter_map(move |typed| typo_of(typed, keyword).map(|d| (d, typed, keyword)))
        })
        .collect();
    near.sort_by_key(|&(d, ..)| d);
    near.into_iter().find_map(|(_, typed, keyword)| {
        let fixed = format!("{keyword}{}", &text[typed.len()..]);
        let complete = matches!(command(&fixed, default_cc), Ok(("", _)));
        let fits = fixed.chars().count() <= MAX_SUGGESTION_CHARS;
        (complete && fits).then_some((typed, fixed, Lang::Zh))
    })
}

/// The group verbs a command may be written with first, as people say it (`ADD FAMILY 139...`).
const GROUP_VERBS: &[&str] = &["ADD", "DEL", "RENAME", "DROP"];

/// What a group command said verb first comes to ([`verb_first`], [`zh_verb_first`]).
#[derive(Debug)]
enum VerbFirst<'t> {
    /// The command in its order, to offer back like a typo's correction (never carried out):
    /// the part quoted as no command, the command, the language to offer it in, and the
    /// commands to offer instead, first that holds, when the group it names may be another
    /// because of `组` run on ([`GroupWord`]).
    Offer(&'t str, String, Lang, Vec<GroupWord>),
    /// The command in its order that is refused for its numbers alone (`ADD 12 FAMILY`:
    /// `GROUP FAMILY ADD 12`): that command's error, so the reply says what is wrong with the
    /// number as it would to the command sent in its order, not the short help.
    Refuse(ParseError),
}

/// A command to offer back instead of the one put together, to a subscriber who has `group`,
/// when a group named in Chinese has `组` ("group") after it and which group is meant hangs
/// on the subscriber's groups ([`crate::command::Doubt`]): `篮球组` is 篮球组 to one who has
/// it, else 篮球 to one who has that; `家人组` is the built-in 家人 unless they have a group
/// named exactly 家人组 (as the GROUP commands read it: [`GroupName::builtin_with_group_word`]).
#[derive(Debug)]
struct GroupWord {
    /// The group whose existence decides.
    group: GroupName,
    /// The command to offer then.
    fixed: String,
}

/// Whether `text` is only what numbers are written with: digits, the signs and spaces inside
/// a number (`+86 (138) 0013-8000`) and the separators between numbers (`,` `;` `、`).
fn number_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || " +()-.".contains(c) || is_sep(c))
}

/// How `fixed`, a group command put together from one said another way, reads: complete
/// (`Ok`), refused for its numbers alone (`Err` with that error), or neither (`None`). The
/// numbers, `numbers` as typed, count only when they are digits (and the signs and separators
/// numbers are written with): `ADD ME TO THE LIST` is no command with a bad number.
fn put_together(fixed: &str, numbers: &str, default_cc: &str) -> Option<Result<(), ParseError>> {
    let numeric = numbers.chars().any(|c| c.is_ascii_digit()) && number_text(numbers);
    match command(fixed, default_cc) {
        Ok(("", _)) => Some(Ok(())),
        Err(nom::Err::Failure(GrammarError { fail: Some(e), .. }))
            if numeric
                && matches!(
                    e.kind,
                    ParseErrorKind::Number(_)
                        | ParseErrorKind::ServiceNumber
                        | ParseErrorKind::UnclearNumbers
                ) =>
        {
            Some(Err(*e))
        }
        _ => None,
    }
}

/// `text` written verb first (`ADD FAMILY 13900139000`) put in the command's order (`GROUP
/// FAMILY ADD 13900139000`), if that is a complete, valid command short enough to quote back,
/// and the language to offer it in: offered back like a typo's correction, never carried
/// out. English when it is all ASCII; Chinese when it names a group in Chinese (`ADD 家人
/// 139...` offers `GROUP 家人 ADD 139...`), as [`misspelt`] offers an English keyword typed
/// around Chinese; none otherwise. `ADD` and `DEL` may have the numbers first (`ADD
/// 139... FAMILY`, `ADD 139... TO FAMILY`, `DEL 139... FROM FAMILY`). When no order makes a
/// complete command but one is refused for its numbers alone (`ADD 12 FAMILY`), that refusal
/// ([`VerbFirst::Refuse`]).
fn verb_first<'t>(text: &'t str, first: &'t str, default_cc: &str) -> Option<VerbFirst<'t>> {
    let verb = first.to_ascii_uppercase();
    if !GROUP_VERBS.contains(&verb.as_str()) {
        return None;
    }
    let rest = text[first.len()..].trim_start();
    let mut orders = vec![rest.split_once(' ').unwrap_or((rest, ""))];
    if matches!(verb.as_str(), "ADD" | "DEL") {
        if let Some((numbers, group)) = rest.rsplit_once(' ') {
            let numbers = numbers
                .rsplit_once(' ')
                .filter(|(_, w)| {
                    ["TO", "INTO", "FROM"]
                        .iter()
                        .any(|t| w.eq_ignore_ascii_case(t))
                })
                .map_or(numbers, |(n, _)| n);
            orders.push((group, numbers));
        }
    }
    let mut refused = None;
    for (group, tail) in orders {
        if group.is_empty() {
            continue;
        }
        let fixed = format!("GROUP {group} {verb} {tail}")
            .trim_end()
            .to_string();
        let lang = if fixed.is_ascii() {
            Lang::En
        } else if fixed.chars().any(is_cjk) {
            Lang::Zh
        } else {
            continue;
        };
        match put_together(&fixed, tail, default_cc) {
            Some(Ok(())) if fixed.chars().count() <= MAX_SUGGESTION_CHARS => {
                return Some(VerbFirst::Offer(first, fixed, lang, Vec::new()));
            }
            Some(Err(e)) => {
                refused.get_or_insert(e);
            }
            _ => {}
        }
    }
    refused.map(VerbFirst::Refuse)
}

/// The Chinese group verbs a command may be written with first (`加 家人 139...`), longest
/// first where one starts another (as [`GROUP_ACTIONS`] lists them), and the verb of
/// COMMANDS.md each is offered as.
fn zh_group_verbs() -> impl Iterator<Item = (&'static str, &'static str)> {
    GROUP_ACTIONS
        .iter()
        .filter(|&&(_, lang, _)| lang == ZH)
        .map(|&(said, _, action)| (said, action.zh()))
}

/// `分组 <group> <verb> <tail>` with `verb` as COMMANDS.md writes it, when that is a complete,
/// valid command short enough to offer back (`Ok`), or the error it gets when it is refused
/// for its numbers alone (`Err`: [`put_together`]). `组` ("group") after the group is the
/// word and left out when it is a word of its own (`篮球 组`) or what is before it names a
/// built-in group (`家人组` is 家人), but the command with it comes with the one offered for
/// one who has a group of exactly that name; after another name (`篮球组`) it may be part of
/// the name, and the command without it comes with the one offered ([`GroupWord`]).
fn zh_group_command(
    group: &str,
    verb: &str,
    tail: &str,
    default_cc: &str,
) -> Option<Result<(String, Vec<GroupWord>), ParseError>> {
    let group = group.trim();
    // The group offered, then the groups that decide on another, each with the one offered then.
    let (offered, others) = match super::types::without_group_word(group) {
        Some(stem) if !stem.trim().is_empty() && stem.ends_with(' ') => (stem.trim(), vec![]),
        Some(stem) if BuiltinGroup::from_word(stem).is_some() => (stem, vec![group]),
        Some(stem) if !stem.is_empty() => (group, vec![group, stem]),
        _ => (group, vec![]),
    };
    if offered.is_empty() {
        return None;
    }
    let tail = tail.trim();
    let build = |group: &str| format!("分组 {group} {verb} {tail}").trim_end().to_string();
    let fixed = build(offered);
    match put_together(&fixed, tail, default_cc)? {
        Err(e) => Some(Err(e)),
        Ok(()) if fixed.chars().count() > MAX_SUGGESTION_CHARS => None,
        Ok(()) => {
            let group_words = others
                .into_iter()
                .filter_map(|other| {
                    let fixed = build(other);
                    let complete = matches!(put_together(&fixed, tail, default_cc), Some(Ok(())));
                    let fits = fixed.chars().count() <= MAX_SUGGESTION_CHARS;
                    Some(GroupWord {
                        group: GroupName::try_from(other).ok()?,
                        fixed,
                    })
                    .filter(|_| complete && fits)
                })
                .collect();
            Some(Ok((fixed, group_words)))
        }
    }
}

/// `text` (no command) that is a Chinese group command said the way people say it, and that
/// command in its order with the verb of COMMANDS.md (`分组 家人 加 13900139000`): the part
/// quoted as no command, and the command, offered back like a typo's correction, never carried
/// out. The forms: verb first (`加 家人 139...`, `删除 家人 139...`, `解散 篮球队`), the verb
/// glued to a built-in Chinese group (`加家人139...`, `组` run on too: `加家人组139...`) and a
/// number glued to a Chinese group (`加 家人139...`), quoting the verb; the numbers before the group (`加 139... 家人`); and
/// `把 <numbers> 加到 <group>` / `把 <numbers> 从 <group> 删除`, quoting the whole text. When
/// none makes a complete command but one is refused for its numbers alone (`加 12 家人`),
/// that refusal ([`VerbFirst::Refuse`]).
fn zh_verb_first<'t>(text: &'t str, default_cc: &str) -> Option<VerbFirst<'t>> {
    let offer = |said: &'t str, r: Result<(String, Vec<GroupWord>), ParseError>| match r {
        Ok((fixed, group_words)) => VerbFirst::Offer(said, fixed, Lang::Zh, group_words),
        Err(e) => VerbFirst::Refuse(e),
    };
    if let Some(body) = text.strip_prefix('把') {
        return ba_form(body, default_cc).map(|r| offer(text, r));
    }
    let mut refused = None;
    for (said, verb) in zh_group_verbs() {
        let Some(after) = text.strip_prefix(said) else {
            continue;
        };
        let mut orders: Vec<(&str, String)> = Vec::new();
        let (group, tail) = match after.strip_prefix(' ') {
            Some(rest) => {
                // `加 13900139000 家人`: the numbers first.
                if let Some((numbers, group)) = rest.rsplit_once(' ') {
                    if verb == "加" || verb == "删" {
                        orders.push((group, numbers.to_owned()));
                    }
                }
                rest.split_once(' ').unwrap_or((rest, ""))
            }
            None => {
                let Some(builtin) = BuiltinGroup::ALL.iter().find(|g| after.starts_with(g.zh()))
                else {
                    continue;
                };
                // `加家人组139…`: `组` (or `組`) run on stays with the group, which
                // [`zh_group_command`] reads as the built-in one or the subscriber's own.
                let name = builtin.zh().len();
                let word = after[name..]
                    .chars()
                    .next()
                    .filter(|&c| super::types::without_group_word(&c.to_string()).is_some())
                    .map_or(0, char::len_utf8);
                after.split_at(name + word)
            }
        };
        // A number glued to a Chinese group name: `家人13900139000`.
        let first = match group.find(|c: char| !is_ideograph(c)) {
            Some(at) if at > 0 => (&group[..at], format!("{} {tail}", &group[at..])),
            _ => (group, tail.to_owned()),
        };
        orders.insert(0, first);
        for (group, tail) in orders {
            match zh_group_command(group, verb, &tail, default_cc).map(|r| offer(said, r)) {
                Some(found @ VerbFirst::Offer(..)) => return Some(found),
                Some(VerbFirst::Refuse(e)) => {
                    refused.get_or_insert(e);
                }
                None => {}
            }
        }
    }
    refused.map(VerbFirst::Refuse)
}

/// The command meant by `把 <numbers> 加到 <group>` or `把 <numbers> 从 <group> 删除` (the text
/// after `把`), as [`zh_verb_first`] offers it (or its error, when it is refused for its
/// numbers alone: [`zh_group_command`]); `里` after the group (`加到家人里`) is dropped.
fn ba_form(body: &str, default_cc: &str) -> Option<Result<(String, Vec<GroupWord>), ParseError>> {
    const ADD: &[&str] = &["添加到", "加入到", "加到", "加进", "加入", "添加"];
    const DEL: &[&str] = &["删除", "删掉", "移除", "去掉", "删"];
    let group_of = |g: &str| {
        let g = g.trim();
        g.strip_suffix('里').unwrap_or(g).trim_end().to_owned()
    };
    if let Some((numbers, rest)) = body.split_once('从') {
        let group = DEL.iter().find_map(|v| rest.trim_end().strip_suffix(v))?;
        return zh_group_command(&group_of(group), "删", numbers, default_cc);
    }
    let (numbers, group) = ADD.iter().find_map(|v| body.split_once(v))?;
    zh_group_command(&group_of(group), "加", numbers, default_cc)
}

/// CJK ideographs and punctuation, used to guess the language of unknown input.
fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// CJK ideographs only ([`is_cjk`] without the CJK punctuation such as `、`): the characters a
/// Chinese word goes on with.
fn is_ideograph(c: char) -> bool {
    is_cjk(c) && !matches!(c, '\u{3000}'..='\u{303f}')
}

/// The dispatcher: tries each command by its keyword; the first keyword that matches commits.
pub fn command<'a>(input: &'a str, default_cc: &str) -> PResult<'a, Parsed> {
    alt((
        help,
        name,
        |i| group(i, default_cc),
        status,
        |i| who(i, default_cc),
        avatars,
        avatar,
        privacy,
        |i| stop(i, default_cc),
        |i| start(i, default_cc),
        lang,
    ))
    .parse(input)
}

/// Builds the success value (every command consumes all of its input).
fn done(command: Command, lang_hint: Option<Lang>) -> PResult<'static, Parsed> {
    Ok((
        "",
        Parsed {
            command,
            lang_hint,
            doubts: Vec::new(),
        },
    ))
}

/// `HELP` / `?` / `帮助` `[topic]`.
pub fn help(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("HELP", EN, ()), ("?", None, ()), ("帮助", ZH, ())];
    const TOPICS: &[Kw<HelpTopic>] = &[
        ("STATUS", EN, HelpTopic::Status),
        ("状态", ZH, HelpTopic::Status),
        ("GROUP", EN, HelpTopic::Group),
        ("GROUPS", EN, HelpTopic::Group),
        ("分组", ZH, HelpTopic::Group),
        ("AVATAR", EN, HelpTopic::Avatar),
        ("AVATARS", EN, HelpTopic::Avatar),
        ("头像", ZH, HelpTopic::Avatar),
        ("头像库", ZH, HelpTopic::Avatar),
        ("WHO", EN, HelpTopic::Who),
        ("查", ZH, HelpTopic::Who),
        ("STOP", EN, HelpTopic::Stop),
        ("START", EN, HelpTopic::Stop),
        ("TD", None, HelpTopic::Stop),
        ("退订", ZH, HelpTopic::Stop),
        ("订阅", ZH, HelpTopic::Stop),
        ("NAME", EN, HelpTopic::Name),
        ("名字", ZH, HelpTopic::Name),
        ("PRIVACY", EN, HelpTopic::Privacy),
        ("隐私", ZH, HelpTopic::Privacy),
        ("LANG", EN, HelpTopic::Lang),
        ("语言", ZH, HelpTopic::Lang),
    ];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    if rest.is_empty() {
        return done(Command::Help(None), lang);
    }
    match choice(rest, TOPICS) {
        Some(topic) => done(Command::Help(Some(topic)), lang),
        None => with_lang(
            lang,
            fail(
                rest,
                ParseErrorKind::UnknownOption,
                rest,
                HelpTopic::General,
            ),
        ),
    }
}

/// Strips one pair of surrounding double quotes, if present.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .trim()
}

/// `NAME <display name>` / `名字 <名字>` (quotes optional); `NAME OFF` / `名字 删除` removes it.
pub fn name(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("NAME", EN, ()), ("名字", ZH, ()), ("姓名", ZH, ())];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    if rest.is_empty() {
        return with_lang(
            lang,
            fail(rest, ParseErrorKind::MissingArgument, "", HelpTopic::Name),
        );
    }
    // `NAME OFF` (unquoted) removes the name: updates then show the number alone.
    const CLEAR: &[&str] = &[
        "OFF", "CLEAR", "NONE", "DELETE", "关闭", "删除", "清除", "无",
    ];
    if CLEAR.iter().any(|w| rest.eq_ignore_ascii_case(w)) {
        return done(Command::Name(None), lang);
    }
    match DisplayName::try_from(unquote(rest)) {
        Ok(n) => done(Command::Name(Some(n)), lang),
        Err(e) => with_lang(lang, fail(rest, e, rest, HelpTopic::Name)),
    }
}

/// A run of characters up to a space.
fn word(input: &str) -> PResult<'_, &str> {
    take_while1(|c: char| c != ' ').parse(input)
}

/// A paged list's command after its keyword: nothing is page 1, digits are that page (see
/// [`page_number`]: 0, a negative or a huge number are kept for the service to say there is no
/// such page); `None` when `rest` is something else.
fn list_page<'a>(
    rest: &'a str,
    lang: Option<Lang>,
    list: fn(u32) -> Command,
) -> Option<PResult<'a, Parsed>> {
    if rest.is_empty() {
        return Some(done(list(1), lang));
    }
    page_number(rest).map(|page| done(list(page), lang))
}

/// A page number making up all of `text` (`2`, `0`, `-1`, `99999999999999999999`): the page;
/// 0 for 0 or a negative number (before the first page), [`u32::MAX`] for a number too big
/// for any page (see [`Command::Groups`]). `None` when `text` is no number.
fn page_number(text: &str) -> Option<u32> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if negative {
        0
    } else {
        digits.parse::<u32>().unwrap_or(u32::MAX)
    })
}

/// A positive page/id number making up all of `text`.
fn positive(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|n| *n > 0)
}

/// A number written in Chinese numerals making up all of `text`: from 0 to 99 as counted,
/// `零` / `〇` 0, `一`..`九` (and `两` for 2) the digits, `十` 10, `十五` 15, `二十` 20, `九十九`
/// 99 (`一十五` too); or digit by digit, as an id is read out ([`zh_digits`]: `一二` 12,
/// `一〇` / `一零` 10, `三三` 33). `None` for anything else (`百`, `两十`, `两两`, digits).
fn chinese_number(text: &str) -> Option<u32> {
    // Read as a duration's count is ([`zh_numeral`]); `两` counts things, so it stands alone
    // (twenty is `二十`, and no id is read out with it).
    if text.contains('两') && text != "两" {
        return None;
    }
    match zh_numeral(text) {
        Ok(("", n)) => u32::try_from(n).ok(),
        _ => zh_digits(text),
    }
}

/// A number of 2 to 9 digits written digit by digit in Chinese numerals, `〇` or `零` for 0
/// (`一二` 12, `一〇` 10, `一零五` 105), as people read out an id or a phone number; never
/// with `两` (it counts things) nor `十` (then it is counted: [`zh_numeral`]).
fn zh_digits(text: &str) -> Option<u32> {
    if !(2..=9).contains(&text.chars().count()) {
        return None;
    }
    text.chars().try_fold(0u32, |n, c| match c {
        '两' => None,
        c => zh_digit(c).map(|d| n * 10 + d as u32),
    })
}

/// A list of numbers (GROUP ADD / DEL), deduplicated in order, each read as WHO reads its one
/// number ([`Msisdn::read`]): `,` `;` `、` separate numbers; a space may separate two numbers
/// or be inside one (`+86 138 0013 8000`, `(+86) 138-0013-8000`, `+1 415 555 0100`). Each run
/// between separators is read the one way that makes every piece a number
/// ([`split_numbers`]).
fn numbers<'a>(input: &'a str, default_cc: &str, usage: HelpTopic) -> PResult<'a, Vec<Msisdn>> {
    let mut out: Vec<Msisdn> = Vec::new();
    let mut any = false;
    for run in input.split(is_sep) {
        let run = run.trim_matches(' ');
        if run.is_empty() {
            continue;
        }
        any = true;
        match split_numbers(run, default_cc) {
            Ok(list) => {
                for m in list {
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
            }
            Err((kind, bad)) => return fail(input, kind, bad, usage),
        }
    }
    if !any {
        return fail(input, ParseErrorKind::MissingArgument, "", usage);
    }
    Ok(("", out))
}

/// Most space-separated words one number is read from (`+86 (138) 0013 - 8000` is five).
const MAX_NUMBER_WORDS: usize = 8;

/// The numbers in `run` (no `,` `;` `、` in it), its words grouped into pieces that each read
/// as a number ([`Msisdn::read`]). When exactly one grouping does, that is it; when several do
/// (`23456 78901`: one number or two), the subscriber is asked
/// ([`ParseErrorKind::UnclearNumbers`]) rather than a member made up; when none does, the
/// error is that of the first bad piece of the grouping with the most numbers and then the
/// fewest bad pieces, quoted as typed (`13900139000 1380013800` names `1380013800`, `0013-8000`
/// itself).
fn split_numbers<'r>(
    run: &'r str,
    default_cc: &str,
) -> Result<Vec<Msisdn>, (ParseErrorKind, &'r str)> {
    // The words, as byte ranges of `run`.
    let mut words: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    for part in run.split(' ') {
        if !part.is_empty() {
            words.push((from, from + part.len()));
        }
        from += part.len() + 1;
    }
    let n = words.len();
    let piece = |i: usize, j: usize| &run[words[i].0..words[j - 1].1];
    // read[i][j - i - 1]: words i..j read as one number.
    let read: Vec<Vec<Result<Msisdn, ParseErrorKind>>> = (0..n)
        .map(|i| {
            (i + 1..=n.min(i + MAX_NUMBER_WORDS))
                .map(|j| read_number(piece(i, j), default_cc))
                .collect()
        })
        .collect();
    // From the end: how many groupings of words i.. read whole (0, 1 or 2 for "more"), and the
    // best grouping (most numbers, then fewest bad pieces) by its score and first piece's end.
    let mut ways = vec![0u8; n + 1];
    let mut best: Vec<((usize, usize), usize)> = vec![((0, 0), n); n + 1];
    ways[n] = 1;
    for i in (0..n).rev() {
        let mut here: Option<((usize, usize), usize)> = None;
        for (k, r) in read[i].iter().enumerate() {
            let j = i + k + 1;
            let ((good, bad), _) = best[j];
            let score = match r {
                Ok(_) => {
                    ways[i] = ways[i].saturating_add(ways[j]).min(2);
                    (good + 1, bad)
                }
                // Words joined into more digits than any number has are no reading of one
                // number: bad once a word, so that `1390013900 1370013700` names its first
                // mistyped number rather than the two as one too long.
                Err(ParseErrorKind::Number(MsisdnError::BadLength { digits, .. }))
                    if *digits > super::msisdn::MAX_DIGITS =>
                {
                    (good, bad + k + 1)
                }
                Err(_) => (good, bad + 1),
            };
            let better = match here {
                None => true,
                Some(((g, b), _)) => score.0 > g || (score.0 == g && score.1 < b),
            };
            if better {
                here = Some((score, j));
            }
        }
        // Every word reads as a piece of its own, so `here` is set; should it not be, the
        // subscriber is asked about the numbers rather than the parser stopping.
        let Some(here) = here else {
            return Err((ParseErrorKind::UnclearNumbers, run));
        };
        best[i] = here;
    }
    let mut out = Vec::new();
    let mut i = 0;
    match ways[0] {
        0 => {
            while i < n {
                let j = best[i].1;
                if let Err(kind) = &read[i][j - i - 1] {
                    return Err((kind.clone(), piece(i, j)));
                }
                i = j;
            }
            // A grouping with no bad piece reads whole (`ways[0]` would not be 0): asked
            // about, should it happen.
            Err((ParseErrorKind::UnclearNumbers, run))
        }
        1 => {
            while i < n {
                // The one grouping goes on from every piece of it.
                let Some((k, m)) = read[i].iter().enumerate().find_map(|(k, r)| match r {
                    Ok(m) if ways[i + k + 1] == 1 => Some((k, m)),
                    _ => None,
                }) else {
                    return Err((ParseErrorKind::UnclearNumbers, run));
                };
                out.push(m.clone());
                i += k + 1;
            }
            Ok(out)
        }
        _ => Err((ParseErrorKind::UnclearNumbers, run)),
    }
}

/// What follows `GROUP <g>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupAction {
    Add,
    Del,
    Rename,
    Drop,
}

impl GroupAction {
    /// The verb COMMANDS.md writes for it in Chinese (`分组 <g> 加 …`).
    fn zh(self) -> &'static str {
        match self {
            GroupAction::Add => "加",
            GroupAction::Del => "删",
            GroupAction::Rename => "改名",
            GroupAction::Drop => "解散",
        }
    }
}

/// The words of what follows `GROUP <g>`, longest first where one starts another.
const GROUP_ACTIONS: &[Kw<GroupAction>] = &[
    ("ADD", EN, GroupAction::Add),
    ("添加", ZH, GroupAction::Add),
    ("加入", ZH, GroupAction::Add),
    ("增加", ZH, GroupAction::Add),
    ("加上", ZH, GroupAction::Add),
    ("加", ZH, GroupAction::Add),
    ("DELETE", EN, GroupAction::Del),
    ("DEL", EN, GroupAction::Del),
    ("REMOVE", EN, GroupAction::Del),
    ("删除", ZH, GroupAction::Del),
    ("移除", ZH, GroupAction::Del),
    ("去掉", ZH, GroupAction::Del),
    ("删掉", ZH, GroupAction::Del),
    ("删", ZH, GroupAction::Del),
    ("RENAME", EN, GroupAction::Rename),
    ("改名", ZH, GroupAction::Rename),
    ("DROP", EN, GroupAction::Drop),
    ("解散", ZH, GroupAction::Drop),
];

/// The group name of `input` (a GROUP command's part after its keyword) typed with spaces:
/// its first words up to a group verb one to three words on (`Golf Club` of `Golf Club ADD
/// 139…`), given `rest`, what follows the first word. `None` when no verb follows so.
fn spaced_group_name<'a>(input: &'a str, rest: &'a str) -> Option<&'a str> {
    let mut at = rest;
    for _ in 0..3 {
        let (after, _) = word(at).ok()?;
        let next = after.strip_prefix(' ')?.trim_start_matches(' ');
        if keyword(GROUP_ACTIONS)(next).is_ok() {
            return Some(input[..input.len() - after.len()].trim_end());
        }
        at = next;
    }
    None
}

/// `GROUPS` / `分组` / `GROUP <g> [page | ADD <n>... | DEL <n>... | RENAME <g2> | DROP]`.
pub fn group<'a>(input: &'a str, default_cc: &str) -> PResult<'a, Parsed> {
    const KW: &[Kw<()>] = &[("GROUPS", EN, ()), ("GROUP", EN, ()), ("分组", ZH, ())];
    let input_all = input;
    let (rest, (lang, ())) = keyword(KW)(input)?;
    // A group name is never all digits: `GROUPS 2` is the second page of the list.
    if let Some(listed) = list_page(rest, lang, Command::Groups) {
        return listed;
    }
    let body = |input: &'a str| -> PResult<'a, Parsed> {
        let (rest, token) = word(input)?;
        if let Some(glued) = glued_verb(input_all, input, token, default_cc, lang) {
            return glued;
        }
        let group =
            GroupName::try_from(token).map_err(|e| committed(input, e, token, HelpTopic::Group))?;
        let (rest, _) = space0(rest)?;
        if rest.is_empty() {
            return done(Command::GroupShow { group, page: 1 }, lang);
        }
        // Numbers go after ADD or DEL (COMMANDS.md): one here is a page, unless it could be a
        // phone number (5 digits or more: no group has that many pages), which was meant to be
        // added, and the reply shows how.
        if let Some(page) = page_number(rest) {
            if rest.len() >= 5 && Msisdn::parse(rest, default_cc).is_ok() {
                return fail(rest, ParseErrorKind::BadNumber, rest, HelpTopic::Group);
            }
            return done(Command::GroupShow { group, page }, lang);
        }
        // A Chinese verb that takes numbers is a whole word: one glued to more Chinese is the
        // start of some other word (`加好`, `删了`), not the verb and then a bad number.
        let verb = keyword(GROUP_ACTIONS)(rest)
            .ok()
            .filter(|(args, (verb_lang, action))| {
                let glued = !rest[..rest.len() - args.len()].ends_with(' ');
                let takes_numbers = matches!(action, GroupAction::Add | GroupAction::Del);
                !(*verb_lang == ZH && takes_numbers && glued && args.starts_with(is_ideograph))
            });
        let Some((args, (_, action))) = verb else {
            if let Some((verb, fixed)) = misspelt_verb(input_all, rest, default_cc) {
                return in_chinese(
                    verb,
                    fail(
                        rest,
                        ParseErrorKind::NearMiss { fixed },
                        verb,
                        HelpTopic::Group,
                    ),
                );
            }
            // `GROUP Golf Club ADD 139…`: a name typed with spaces, the verb after it (a
            // built-in group's name is one word: after FAMILY, more words are no name).
            let user_group = matches!(group, GroupName::User(_));
            if let Some(name) = spaced_group_name(input, rest).filter(|_| user_group) {
                if let Err(e) = GroupName::try_from(name) {
                    return fail(rest, e, name, HelpTopic::Group);
                }
            }
            return fail(rest, ParseErrorKind::UnknownOption, rest, HelpTopic::Group);
        };
        match action {
            GroupAction::Add => {
                let (_, members) = numbers(args, default_cc, HelpTopic::Group)?;
                done(Command::GroupAdd { group, members }, lang)
            }
            GroupAction::Del => {
                let (_, members) = numbers(args, default_cc, HelpTopic::Group)?;
                done(Command::GroupDel { group, members }, lang)
            }
            GroupAction::Rename => {
                if args.is_empty() {
                    return fail(args, ParseErrorKind::MissingArgument, "", HelpTopic::Group);
                }
                match GroupName::try_from(args) {
                    Ok(to) => done(Command::GroupRename { from: group, to }, lang),
                    Err(e) => fail(args, e, args, HelpTopic::Group),
                }
            }
            GroupAction::Drop if args.is_empty() => done(Command::GroupDrop(group), lang),
            GroupAction::Drop => fail(args, ParseErrorKind::UnexpectedText, args, HelpTopic::Group),
        }
    };
    with_lang(lang, body(rest))
}

/// `分组 家人加13900139000`: a Chinese adding or removing verb glued to the group before it
/// (and to the number after it, or a space between: `分组 家人加 139...`), in `input`, the part
/// of the GROUP command `full` after its keyword, whose first word is `token`. The group may
/// end right before such a verb (the longest one ending there: `家人增加139...` is 家人 and
/// 增加) that a number follows, and what is before the verb is a group name. Where it can
/// end in one place only, that is the command, read as `分组 家人 加 139...` is: carried out,
/// or refused for its numbers as that command is; where in several (`家人加13800138000加
/// 13900139000`), the one reading that makes a complete command is offered back, never
/// carried out ([`ParseErrorKind::NearMiss`]). `None` when there is no such place, or the one
/// place has words where the numbers go (`分组 篮球加1队` lists the group of that name).
fn glued_verb<'a>(
    full: &str,
    input: &'a str,
    token: &str,
    default_cc: &str,
    lang: Option<Lang>,
) -> Option<PResult<'a, Parsed>> {
    // (where the group ends, where the verb ends, the verb, what it does)
    let mut places: Vec<(usize, usize, &str, GroupAction)> = Vec::new();
    let ends = token
        .char_indices()
        .map(|(at, _)| at)
        .skip(1)
        .chain([token.len()]);
    for end in ends {
        let number_follows = input[end..]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '(');
        if !number_follows {
            continue;
        }
        let verb = GROUP_ACTIONS
            .iter()
            .filter(|(v, l, a)| {
                *l == ZH
                    && matches!(a, GroupAction::Add | GroupAction::Del)
                    && token[..end].ends_with(v)
            })
            .max_by_key(|(v, ..)| v.len());
        let Some(&(verb, _, action)) = verb else {
            continue;
        };
        let group_end = end - verb.len();
        if group_end > 0 && GroupName::try_from(&token[..group_end]).is_ok() {
            places.push((group_end, end, verb, action));
        }
    }
    match places[..] {
        [] => None,
        [(group_end, end, _, action)] => {
            let args = input[end..].trim_start();
            if !number_text(args) {
                return None;
            }
            let group = GroupName::try_from(&token[..group_end]).ok()?;
            Some(match numbers(args, default_cc, HelpTopic::Group) {
                Ok((_, members)) if action == GroupAction::Add => {
                    done(Command::GroupAdd { group, members }, lang)
                }
                Ok((_, members)) => done(Command::GroupDel { group, members }, lang),
                Err(e) => Err(e),
            })
        }
        _ => {
            let at = full.len() - input.len();
            let mut complete = places.iter().filter_map(|&(group_end, end, verb, _)| {
                let fixed = format!(
                    "{}{} {verb} {}",
                    &full[..at],
                    &token[..group_end],
                    input[end..].trim_start()
                );
                let fits = fixed.chars().count() <= MAX_SUGGESTION_CHARS;
                (fits && matches!(command(&fixed, default_cc), Ok(("", _)))).then_some(fixed)
            });
            let fixed = complete.next()?;
            if complete.next().is_some() {
                return None;
            }
            Some(fail(
                input,
                ParseErrorKind::NearMiss { fixed },
                token,
                HelpTopic::Group,
            ))
        }
    }
}

/// The group verb the first word of `rest` (the part of the GROUP command `full` after its
/// group) is a typo of, and the command with it put right, when that is a complete command:
/// offered back, never carried out. English: one edit, a swap of neighbours counting as one
/// (`AD`, `ADDD`, `DLE`, `RENAM`). Chinese: a two-character word one character off or with
/// the two swapped (`解三`, `改明`, `添家`, `散解`, `删了`), up to a space or a number it may be
/// glued to; one character alone is a typo of both `加` and `删`, so it is none. The first verb
/// that makes a complete command is offered, and none when two Chinese verbs of different
/// meanings do (`加除`: `加入` or `删除`); verbs of one meaning (`去除`: `删除`, `移除`,
/// `去掉`) offer the first.
fn misspelt_verb<'a>(full: &str, rest: &'a str, default_cc: &str) -> Option<(&'a str, String)> {
    const VERBS: &[&str] = &["ADD", "DEL", "DELETE", "REMOVE", "RENAME", "DROP"];
    let at = full.len() - rest.len();
    let offer = |word: &str, verb: &str| {
        let fixed = format!("{}{verb}{}", &full[..at], &rest[word.len()..]);
        let complete = matches!(command(&fixed, default_cc), Ok(("", _)));
        (complete && fixed.chars().count() <= MAX_SUGGESTION_CHARS).then_some(fixed)
    };
    if rest.starts_with(is_cjk) {
        let end = rest.find(|c: char| !is_cjk(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.chars().count() != 2 {
            return None;
        }
        // The two-character Chinese verbs: a one-character verb with a character after it
        // (`加好`) is some other word, not a slip.
        let mut offers = GROUP_ACTIONS
            .iter()
            .filter(|(v, l, _)| *l == ZH && v.chars().count() == 2)
            .filter(|(v, ..)| strsim::osa_distance(word, v) == 1)
            .filter_map(|(verb, _, action)| offer(word, verb).map(|fixed| (*action, fixed)));
        let (action, fixed) = offers.next()?;
        return offers
            .all(|(other, _)| other == action)
            .then_some((word, fixed));
    }
    let word = rest.split(' ').next().unwrap_or(rest);
    if word.len() < 2 || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let upper = word.to_ascii_uppercase();
    VERBS
        .iter()
        .filter(|v| strsim::osa_distance(&upper, v) == 1)
        .find_map(|verb| offer(word, verb).filter(|fixed| fixed.is_ascii()))
        .map(|fixed| (word, fixed))
}

/// `STATUS` / `状态` [`<target> <status> [<expiry>]` separated by `,` `;` `、`].
pub fn status(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("STATUS", EN, ()), ("状态", ZH, ())];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    // `STATUS: FAMILY: FREE` (`STATUS：FAMILY：FREE` folded): a colon after the keyword or the
    // target is a separator as a space is (see `assignment_and_status`).
    let rest = match rest.strip_prefix(':') {
        Some(after) => after.trim_start_matches(' '),
        None => rest,
    };
    // A target is never all digits: `STATUS 2` is the second page of the list.
    if let Some(listed) = list_page(rest, lang, Command::StatusShow) {
        return listed;
    }
    let (_, (list, doubts)) = with_lang(lang, assignments(input, rest, lang))?;
    Ok((
        "",
        Parsed {
            command: Command::StatusSet(list),
            lang_hint: lang,
            doubts,
        },
    ))
}

/// Skips spaces and separators.
fn separators(input: &str) -> PResult<'_, &str> {
    take_while_m_n(0, usize::MAX, |c: char| c == ' ' || is_sep(c)).parse(input)
}

/// One or more assignments up to the end of `input`, the part of the command `full` after its
/// keyword; and the doubts about them for the service to settle ([`Doubt`]).
///
/// Two slips are caught here rather than read the wrong way (`lang` is the reply's):
/// - a comma left out between assignments: free text that reads as a status and then whole
///   assignments (`BUSY UNTIL 5PM COLLEAGUES MEETING`, `free COLLEAGUES in a meeting OTHERS
///   busy`, see [`missing_commas`]). The words could be meant as one text, so they are not
///   taken as several assignments: the reply offers the commas, or quotes. Refused here when
///   every target after the first is built in, a doubt when one is a user group (there is
///   nothing to doubt if the subscriber has no such group);
/// - a comma inside free text (`At lunch, back soon`): after an unquoted free text without
///   expiry, what follows the comma is more text when it is no assignment (`back`, `2 mins`:
///   refused here), or a doubt when it names a user group and a free text (`back soon`:
///   text if the subscriber has no group BACK).
fn assignments<'a>(
    full: &'a str,
    input: &'a str,
    lang: Option<Lang>,
) -> PResult<'a, (Vec<StatusAssignment>, Vec<Doubt>)> {
    let at = |part: &str| full.len() - part.len();
    let error = |kind: ParseErrorKind, bad: &str| ParseError {
        kind,
        bad: bad.to_owned(),
        usage: HelpTopic::Status,
        lang_hint: lang,
        doubts: Vec::new(),
    };
    // The command with the free text of `full[start..end]` in quotes (an expiry it ends
    // with stays outside them: `"At lunch, back" UNTIL 5PM`), and the text. No command is
    // offered when the text has quotes of its own (the offer would not parse).
    let quoted = |start: usize, end: usize| {
        let text = full[start..end].trim_end();
        let text = trailing_expiry_at(text).map_or(text, |p| text[..p].trim_end());
        let end = start + text.len();
        let fixed = format!("{}\"{text}\"{}", &full[..start], &full[end..]);
        let fixed =
            (fixed.chars().count() <= MAX_SUGGESTION_CHARS && !text.contains('"')).then_some(fixed);
        (ParseErrorKind::CommaInText { fixed }, text)
    };
    let mut out = Vec::new();
    let mut doubts = Vec::new();
    // Where the free text starts that the next comma may be inside of; the groups named by
    // assignments read after such commas so far, and where the last assignment ended.
    let mut text_start: Option<usize> = None;
    let mut after_comma: Option<(usize, Vec<GroupName>)> = None;
    let mut last_end = 0;
    let flush =
        |after_comma: &mut Option<(usize, Vec<GroupName>)>, doubts: &mut Vec<Doubt>, end: usize| {
            if let Some((start, groups)) = after_comma.take() {
                let (kind, text) = quoted(start, end);
                for group in groups {
                    doubts.push(Doubt {
                        group,
                        if_exists: false,
                        error: error(kind.clone(), text),
                    });
                }
            }
        };
    let (mut rest, _) = separators(input)?;
    while !rest.is_empty() {
        let (r, (a, status)) = match (assignment_and_status(rest), text_start) {
            (Ok(parsed), _) => parsed,
            (Err(nom::Err::Failure(GrammarError { fail: Some(e), .. })), Some(start))
                if more_text(rest, &e.kind) =>
            {
                let (kind, text) = quoted(start, text_end(full, at(rest)));
                return fail(rest, kind, text, HelpTopic::Status);
            }
            (Err(e), _) => return Err(e),
        };
        let end = at(r);
        let typed = full[at(status)..end].trim_end();
        let unquoted_text =
            !status.starts_with('"') && matches!(a.status, StatusChange::Set(StatusText::Free(_)));
        let commas = if unquoted_text {
            missing_commas(typed, segment_text(rest))
        } else {
            Vec::new()
        };
        if commas.is_empty() && unquoted_text && a.expiry.is_none() {
            if let Some(bad) = near_expiry(typed) {
                return fail(rest, ParseErrorKind::BadExpiry, bad, HelpTopic::Status);
            }
            if let Some(bad) = vague_expiry(typed) {
                return fail(rest, ParseErrorKind::VagueExpiry, bad, HelpTopic::Status);
            }
        }
        if let (true, StatusChange::Set(StatusText::Free(text))) = (commas.is_empty(), &a.status) {
            let status_at = at(status);
            if !status.starts_with('"') {
                if let Some((word, fixed)) = status_typo(full, status_at, text.as_str(), a.expiry) {
                    return in_chinese(
                        word,
                        fail(
                            rest,
                            ParseErrorKind::NearMiss { fixed },
                            word,
                            HelpTopic::Status,
                        ),
                    );
                }
                if let Some((group, fixed)) = group_for_status(full, status_at, typed, lang) {
                    let word = target_token(typed).map_or("", |(_, t)| t);
                    let kind = ParseErrorKind::NearMiss { fixed };
                    match group {
                        group @ GroupName::User(_) => doubts.push(Doubt {
                            group,
                            if_exists: true,
                            error: error(kind, word),
                        }),
                        GroupName::Builtin(_) => {
                            return fail(rest, kind, word, HelpTopic::Status);
                        }
                    }
                }
            }
        }
        for reading in &commas {
            let chain = &reading.cuts;
            let comma = if lang == ZH { "，" } else { ", " };
            let mut fixed = String::new();
            let mut from = 0;
            let mut words = Vec::new();
            for (_, offset) in chain {
                let w = at(status) + offset;
                fixed.push_str(full[from..w].trim_end());
                fixed.push_str(comma);
                words.push(target_token(&full[w..]).map_or("", |(_, t)| t).to_owned());
                from = w;
            }
            fixed.push_str(&full[from..]);
            let fixed = (fixed.chars().count() <= MAX_SUGGESTION_CHARS).then_some(fixed);
            let Some((word, also_before)) = words.split_first() else {
                continue;
            };
            let kind = if reading.unclear {
                ParseErrorKind::UnclearCommas {
                    or_before: also_before.to_vec(),
                }
            } else {
                ParseErrorKind::MissingComma {
                    fixed,
                    also_before: also_before.to_vec(),
                }
            };
            let user = chain.iter().find_map(|(target, _)| match target {
                Target::Group(group @ GroupName::User(_)) => Some(group.clone()),
                _ => None,
            });
            match user {
                Some(group) => doubts.push(Doubt {
                    group,
                    if_exists: true,
                    error: error(kind, word),
                }),
                None => return fail(rest, kind, word, HelpTopic::Status),
            }
        }
        match (&a.target, text_start) {
            (Target::Group(group @ GroupName::User(_)), Some(start)) if unquoted_text => {
                after_comma
                    .get_or_insert_with(|| (start, Vec::new()))
                    .1
                    .push(group.clone());
            }
            _ => {
                flush(&mut after_comma, &mut doubts, last_end);
                text_start = None;
            }
        }
        if !unquoted_text || a.expiry.is_some() {
            text_start = None;
        } else if text_start.is_none() {
            text_start = Some(at(status));
        }
        last_end = end;
        out.push(a);
        let (r, _) = separators(r)?;
        rest = r;
    }
    flush(&mut after_comma, &mut doubts, last_end);
    if out.is_empty() {
        return fail(
            input,
            ParseErrorKind::MissingArgument,
            input,
            HelpTopic::Status,
        );
    }
    Ok((rest, (out, doubts)))
}

/// The expiry keyword and what follows it in `text`, an unquoted free-text status without
/// expiry, when `text` is a built-in status word (or CLEAR), then `UNTIL` / `TILL` / `TIL` /
/// `UNTILL` / `FOR` / `到` / `至` / `直到` and something starting with a digit that no expiry
/// form takes (`BUSY UNTIL 5 30`, `BUSY FOR 5X`, `忙到5点多`) or nothing that says when
/// ([`dangling`]: `BUSY UNTIL`, `BUSY FOR -2H`, `忙到明天`): a near miss of an expiry, refused rather than
/// sent to contacts as a lasting text. Text that goes on in words (`BUSY UNTIL 5 PMs`, `BUSY
/// FOR 2 MORE HOURS`: a part of three or more letters without a digit) and a number too long
/// for any time or duration (`BUSY UNTIL 15000`) stay text, as before.
fn near_expiry(text: &str) -> Option<&str> {
    const KEYWORDS: &[&str] = &["UNTILL", "UNTIL", "TILL", "TIL", "FOR", "直到", "到", "至"];
    let clear: &[&str] = &["CLEAR", "清除"];
    let words = StatusCode::ALL
        .iter()
        .flat_map(|c| c.words().iter())
        .chain(clear.iter());
    for word in words {
        let Some(after) = text
            .get(..word.len())
            .filter(|head| head.eq_ignore_ascii_case(word))
            .map(|_| &text[word.len()..])
        else {
            continue;
        };
        let keyword_at = after.trim_start_matches(' ');
        let spaced = keyword_at.len() < after.len();
        for keyword in KEYWORDS {
            let english = keyword.is_ascii();
            let Some(rest) = keyword_at
                .get(..keyword.len())
                .filter(|k| k.eq_ignore_ascii_case(keyword))
                .map(|_| &keyword_at[keyword.len()..])
            else {
                continue;
            };
            if english && (!spaced || en_boundary(rest).is_err()) {
                continue;
            }
            let rest = rest.trim_start_matches(' ');
            if near_miss(rest) || dangling(rest, *keyword != "FOR") {
                return Some(keyword_at.trim_end());
            }
        }
    }
    None
}

/// `半天` (half a day), possibly with `后` and a sentence's end, when it is all that follows a
/// built-in status word (or CLEAR) in `text`, an unquoted free-text status without expiry
/// (`开会 半天`, `忙半天`, `开车半天后。`): no subscriber means twelve hours by it (it is
/// "a while", or a morning, or an afternoon), so it is refused with the forms that say how
/// long rather than guessed or sent to contacts as a lasting text. After free text it is text
/// (`等了半天`, `忙了半天`: "a long while").
fn vague_expiry(text: &str) -> Option<&str> {
    let clear: &[&str] = &["CLEAR", "清除"];
    let words = StatusCode::ALL
        .iter()
        .flat_map(|c| c.words().iter())
        .chain(clear.iter());
    for word in words {
        let Some(after) = text
            .get(..word.len())
            .filter(|head| head.eq_ignore_ascii_case(word))
            .map(|_| text[word.len()..].trim_start_matches(' '))
        else {
            continue;
        };
        let Some(rest) = after.strip_prefix("半天") else {
            continue;
        };
        let rest = rest.strip_prefix('后').unwrap_or(rest);
        if rest
            .trim_end_matches(['.', '!', '?', '。', '！', ' '])
            .is_empty()
        {
            return Some(after.trim_end_matches(['.', '!', '?', '。', '！', ' ']));
        }
    }
    None
}

/// Whether `text`, after an expiry keyword of a built-in status, leaves the expiry unsaid or
/// unreadable: nothing (`BUSY UNTIL`, `BUSY FOR`), a signed number (`BUSY FOR -2H`), or a
/// day without a time that says which (`BUSY UNTIL TOMORROW`, `忙到明天`, `UNTIL TOMORROW 9`:
/// morning or evening; `TOMORROW 09:00` is read), the last after `UNTIL` / `到` only (`FREE
/// FOR TODAY` is a text). A subscriber means some end by these, and none is guessed: the reply
/// shows the forms.
fn dangling(text: &str, until: bool) -> bool {
    let day = until
        && ["TOMORROW", "TODAY", "明天", "今天"].iter().any(|d| {
            text.get(..d.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(d))
                && (!d.is_ascii() || en_boundary(&text[d.len()..]).is_ok())
        });
    let signed =
        text.starts_with(['-', '+']) && text[1..].starts_with(|c: char| c.is_ascii_digit());
    text.trim_end_matches(['.', '!', '?', '。']).is_empty()
        || signed
        || day
        || (until && dated(text))
}

/// Whether `text` starts with a date in the form the gateway's replies name a later day
/// (`Dec 7 17:00`, `12月7日17:00`): not read as an expiry (there is none past tomorrow but
/// FOR), so after a built-in status it is refused rather than sent as a text that looks timed.
fn dated(text: &str) -> bool {
    const MONTHS: &[&str] = &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let english = text.split_once(' ').is_some_and(|(month, rest)| {
        MONTHS.iter().any(|m| month.eq_ignore_ascii_case(m))
            && rest.starts_with(|c: char| c.is_ascii_digit())
    });
    let digits = text.trim_start_matches(|c: char| c.is_ascii_digit());
    let chinese =
        digits.len() < text.len() && text.len() - digits.len() <= 2 && digits.starts_with('月');
    english || chinese
}

/// Whether `text`, after an expiry keyword, looks like a time or duration gone wrong: it
/// starts with a digit (or a Chinese numeral, with 点 / 时 / 分 in it: `五点多`), is not one
/// number of five digits or more, and has at most three
/// parts, each with a digit, of one letter, or a unit or part of day (`5 30`, `5X`, `1H 30`,
/// `5 p`, `5 PM X`).
/// Chinese in it is only what times and durations are written with (`5点多`): `开车到2号航站楼`
/// (driving to Terminal 2) and `开会到3楼` are places, not times gone wrong, and `FREE FOR 1
/// ON 1` is text.
fn near_miss(text: &str) -> bool {
    const UNIT_WORDS: &[&str] = &["H", "M", "D", "HR", "AM", "PM", "A", "P"];
    const TIME_CHARS: &str = "点时分钟半刻小天个后多";
    let numeral = |c: char| zh_digit(c).is_some() || c == '十';
    let parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    let chinese_time = text.starts_with(numeral) && text.contains(['点', '时', '分']);
    (text.starts_with(|c: char| c.is_ascii_digit()) || chinese_time)
        && !(text.len() >= 5 && text.bytes().all(|b| b.is_ascii_digit()))
        && text
            .chars()
            .all(|c| c.is_ascii() || TIME_CHARS.contains(c) || numeral(c))
        && parts.len() <= 3
        && parts.iter().all(|p| {
            p.contains(|c: char| c.is_ascii_digit())
                || (chinese_time && p.contains(numeral))
                || p.chars().count() == 1
                || UNIT_WORDS.iter().any(|w| p.eq_ignore_ascii_case(w))
        })
}

/// English words one edit away from a built-in status word that people write meaning
/// themselves (`TREE`, `BURY`, `DIVING`): never taken for a typo ([`status_typo`]).
const REAL_WORDS: &[&str] = &[
    "TREE", "FRET", "FRED", "FLEE", "FREED", "FREES", "FREER", "FEE", "BURY", "BUST", "BUSH",
    "BUSS", "BUYS", "BUS", "DIVING", "MELTING", "OFFS",
];

/// The built-in status a one-word free-text status `text` (at `full[at..]`, with `expiry`)
/// is a typo of, and the command with it put right: `STATUS FAMILY METING` is `STATUS FAMILY
/// MEETING`, `BSY FOR 2H` `BUSY FOR 2H`. Conservative: ASCII letters only, exactly one edit
/// (a swap of neighbours counts as one) from an English status word of four letters or more,
/// at least four letters itself unless an expiry shows a status was meant (`BSY FOR 2H`), and
/// not a word people write meaning itself ([`REAL_WORDS`]). Returns the word as typed and the
/// command (the status word alone when the command is too long to quote back).
fn status_typo<'a>(
    full: &str,
    at: usize,
    text: &'a str,
    expiry: Option<Expiry>,
) -> Option<(&'a str, String)> {
    if !full[at..].starts_with(text) {
        return None;
    }
    let word = if text.chars().all(is_cjk) {
        zh_status_typo(text)?
    } else {
        let long_enough = text.len() >= 4 || (text.len() == 3 && expiry.is_some());
        if !long_enough || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let upper = text.to_ascii_uppercase();
        if REAL_WORDS.contains(&upper.as_str()) {
            return None;
        }
        let mut near = StatusCode::ALL
            .iter()
            .filter(|c| **c != StatusCode::InCall)
            .flat_map(|c| c.words().iter())
            .filter(|w| w.len() >= 4 && w.bytes().all(|b| b.is_ascii_alphabetic()))
            .filter(|w| strsim::osa_distance(&upper, w) == 1);
        let word = near.next()?;
        if near.next().is_some() {
            return None;
        }
        word
    };
    let fixed = format!("{}{word}{}", &full[..at], &full[at + text.len()..]);
    let fixed = if fixed.chars().count() <= MAX_SUGGESTION_CHARS {
        fixed
    } else {
        (*word).to_owned()
    };
    Some((text, fixed))
}

/// Characters read the same in pinyin (tones aside) as a character of a Chinese status word:
/// the slips a pinyin input method makes (`开慧` for `开会`, `关鸡` for `关机`, `空线` for
/// `空闲`), and the only substitutions [`zh_status_typo`] takes, since a Chinese word one
/// other character away is mostly a word of its own (`开心`, `关门`, `忙完`).
const ZH_HOMOPHONES: &[(char, &str)] = &[
    ('待', "代带袋贷戴呆逮歹殆怠黛"),
    ('机', "鸡基击积及急级即几己记计技集极吉寄继挤纪际迹激肌饥姬"),
    ('空', "孔控恐"),
    ('闲', "先现线县限显鲜仙咸险献贤嫌弦宪陷馅羡掀纤衔"),
    ('忙', "盲芒茫莽"),
    ('碌', "路录陆鹿露禄卢炉鲁芦庐赂麓"),
    ('开', "凯揩楷慨恺铠"),
    ('会', "回汇惠慧绘灰辉挥毁悔晦讳卉徽恢"),
    ('议', "一以已亿义艺意易益异衣医依移宜仪遗疑乙椅忆译役"),
    ('中', "钟终种重众忠肿仲衷盅"),
    ('车', "扯彻撤澈掣"),
    ('请', "清青轻情晴庆倾顷卿氢擎"),
    ('勿', "无五午物务误雾屋乌吴武舞悟污伍侮捂"),
    ('打', "大达答搭"),
    ('扰', "绕饶娆"),
    ('关', "观官管馆惯冠灌罐贯棺"),
];

/// Chinese words a slip away from a status word that people write meaning themselves.
const ZH_REAL_WORDS: &[&str] = &["机关"];

/// The Chinese built-in status word `text` (CJK only) is a slip of, when exactly one status
/// is near: a word of two characters or more with one character replaced by one read the
/// same ([`ZH_HOMOPHONES`]: `开慧`, `会议钟`, `请无打扰`), two neighbours swapped (`会开`,
/// `车开`), or one character doubled (`开会会`); and for `请勿打扰` one left out (`请勿扰`).
/// Not a word people write meaning itself ([`ZH_REAL_WORDS`]).
fn zh_status_typo(text: &str) -> Option<&'static str> {
    if ZH_REAL_WORDS.contains(&text) {
        return None;
    }
    let typed: Vec<char> = text.chars().collect();
    let near = |word: &str| {
        let w: Vec<char> = word.chars().collect();
        if w.len() < 2 || w == typed {
            return false;
        }
        if typed.len() == w.len() {
            let diff: Vec<usize> = (0..w.len()).filter(|&i| typed[i] != w[i]).collect();
            return match diff[..] {
                [i] => ZH_HOMOPHONES
                    .iter()
                    .any(|(c, same)| *c == w[i] && same.contains(typed[i])),
                [i, j] => j == i + 1 && typed[i] == w[j] && typed[j] == w[i],
                _ => false,
            };
        }
        let (long, short) = if typed.len() == w.len() + 1 {
            (&typed, &w)
        } else if w.len() >= 4 && w.len() == typed.len() + 1 {
            (&w, &typed)
        } else {
            return false;
        };
        (0..long.len()).any(|i| {
            let doubled = long == &typed && i > 0 && long[i] == long[i - 1];
            let dropped = long == &w;
            (doubled || dropped) && long[..i] == short[..i] && long[i + 1..] == short[i..]
        })
    };
    let mut codes = StatusCode::ALL
        .iter()
        .filter(|c| **c != StatusCode::InCall)
        .filter_map(|c| c.words().iter().find(|w| !w.is_ascii() && near(w)));
    let word = codes.next()?;
    codes.next().is_none().then_some(*word)
}

/// The group a free-text status `typed` (at `full[at..]`) starts with, and the command that
/// sets the rest for both groups, when the rest is a built-in status (with any expiry):
/// `STATUS FAMILY COLLEAGUES BUSY` meant FAMILY and COLLEAGUES to see BUSY, not FAMILY to see
/// the text "COLLEAGUES BUSY"; it offers `STATUS FAMILY BUSY, COLLEAGUES BUSY`. Text that goes
/// on in other words (`Friends over tonight`) is text. None when the command would be too long
/// to quote back.
fn group_for_status(
    full: &str,
    at: usize,
    typed: &str,
    lang: Option<Lang>,
) -> Option<(GroupName, String)> {
    let (word, after) = typed.split_once(' ')?;
    let Ok(Target::Group(group)) = Target::try_from(word) else {
        return None;
    };
    let after = after.trim_start();
    match status_and_expiry(after, word) {
        Ok(("", (StatusChange::Set(StatusText::Builtin(_)) | StatusChange::Clear, _))) => {}
        _ => return None,
    }
    let comma = if lang == ZH { "，" } else { ", " };
    let fixed = format!(
        "{}{after}{comma}{typed}{}",
        &full[..at],
        &full[at + typed.len()..]
    );
    (fixed.chars().count() <= MAX_SUGGESTION_CHARS).then_some((group, fixed))
}

/// Where the free text that goes on at `full[from..]` (a part after a comma that is no
/// assignment) ends: with that part and every later one that is no clear assignment (one
/// with a built-in target or status), so that `Sorry, busy, call me later` is one text.
fn text_end(full: &str, from: usize) -> usize {
    let mut end = from + segment_text(&full[from..]).len();
    loop {
        let after = &full[end..];
        let next = after.trim_start_matches(|c: char| c == ' ' || is_sep(c));
        if next.is_empty() || !after.trim_start_matches(' ').starts_with(is_sep) {
            return end;
        }
        let clear = assignment(next).is_ok_and(|(_, a)| {
            !matches!(a.target, Target::Group(GroupName::User(_)))
                || !matches!(a.status, StatusChange::Set(StatusText::Free(_)))
        });
        if clear {
            return end;
        }
        end = full.len() - next.len() + segment_text(next).len();
    }
}

/// Where the expiry that ends `text` starts (` UNTIL 5PM`, `到5点`: the forms that end a
/// free text), if it ends with one.
fn trailing_expiry_at(text: &str) -> Option<usize> {
    let (_, (body, _)) = consumed(many_till(anychar, peek((spaced_strict_expiry, expiry_end))))
        .parse(text)
        .ok()?;
    (!body.is_empty() && body.len() < text.len()).then_some(body.len())
}

/// Whether an assignment after a comma that failed with `kind` is more likely the rest of a
/// free text before the comma (`At lunch, back`, `..., 2 mins`, `..., busy`): it has no
/// status, or no target, or its first word names none, and that word is no built-in target
/// (`..., FAMILY` is an assignment missing its status).
fn more_text(segment: &str, kind: &ParseErrorKind) -> bool {
    let first = target_token(segment).map_or("", |(_, t)| t);
    let builtin = Target::special(first).is_some()
        || BuiltinGroup::from_word(first).is_some()
        || glued_target(first).is_some();
    !builtin
        && matches!(
            kind,
            ParseErrorKind::MissingStatus
                | ParseErrorKind::MissingTarget
                | ParseErrorKind::Value(
                    ValueError::BadGroupName { .. } | ValueError::ReservedGroupName { .. }
                )
        )
}

/// Words after which a phrase goes on into the next word (`In a family meeting`, `Busy with
/// family stuff`, `和家人`): a target word right after one is part of the text, never the
/// start of an assignment whose comma was left out ([`missing_commas`]).
const RUNS_ON: &[&str] = &[
    "A", "AN", "THE", "MY", "OUR", "YOUR", "HIS", "HER", "THEIR", "IN", "AT", "ON", "WITH", "OF",
    "TO", "FOR", "FROM", "AND", "OR", "BY", "的", "和", "跟", "与", "在",
];

/// Whether `piece` ends in a word of [`RUNS_ON`] (a Chinese one may end a longer word: `我和`).
fn runs_on(piece: &str) -> bool {
    let last = piece.rsplit(' ').next().unwrap_or(piece);
    RUNS_ON.iter().any(|w| {
        if w.is_ascii() {
            last.eq_ignore_ascii_case(w)
        } else {
            last.ends_with(w)
        }
    })
}

/// The target a word at the start of `input` names when it starts an assignment there (as
/// [`assignment_and_status`] reads it: `FAMILY busy`, `FAMILY: busy`, `同事开会`), if
/// something follows it.
fn target_at(input: &str) -> Option<Target> {
    let (rest, token) = target_token(input).ok()?;
    if rest.starts_with([' ', ':']) {
        let after = rest[1..].trim_start_matches(' ');
        (!after.is_empty() && !after.starts_with(is_sep))
            .then(|| Target::try_from(token).ok())
            .flatten()
    } else {
        glued_target(token).map(|(t, _)| t)
    }
}

/// Whether `text` starts with a built-in status word or CLEAR (ASCII case-insensitive).
fn starts_with_status_word(text: &str) -> bool {
    StatusCode::ALL
        .iter()
        .flat_map(|c| c.words().iter())
        .chain(["CLEAR", "清除"].iter())
        .any(|w| {
            text.get(..w.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(w))
        })
}

/// How a part of a free text between two target words reads as a status: whether it has an
/// end of its own (a built-in status or CLEAR, or any status with an expiry) and whether it is
/// a built-in status (or CLEAR, with or without an expiry).
#[derive(Debug, Clone, Copy)]
struct Ends {
    ended: bool,
    builtin: bool,
}

/// The search of [`missing_commas`]: the free text, the target word of its assignment, the
/// words in it that name a target (where they start, and what), and the parts between them
/// read so far.
struct Cuts<'t> {
    text: &'t str,
    target: &'t str,
    cuts: Vec<(usize, Target)>,
    read: std::collections::HashMap<(Option<usize>, Option<usize>), Option<Ends>>,
}

impl Cuts<'_> {
    /// The part from cut `from` (the start of the text when `None`) to cut `to` (the end when
    /// `None`), as typed.
    fn part(&self, from: Option<usize>, to: Option<usize>) -> &str {
        let start = from.map_or(0, |i| self.cuts[i].0);
        let end = to.map_or(self.text.len(), |i| self.cuts[i].0);
        self.text[start..end].trim_end()
    }

    /// How the part from `from` to `to` reads ([`Ends`]), or `None` when it is no status (an
    /// assignment, from a cut on).
    fn ends(&mut self, from: Option<usize>, to: Option<usize>) -> Option<Ends> {
        if let Some(known) = self.read.get(&(from, to)) {
            return *known;
        }
        let part = self.part(from, to);
        let read = match from {
            None => status_and_expiry(part, self.target).ok(),
            Some(_) => assignment(part)
                .ok()
                .map(|(r, a)| (r, (a.status, a.expiry))),
        };
        let ends = match read {
            Some((rest, (change, expiry))) if rest.trim().is_empty() => {
                let builtin = !matches!(change, StatusChange::Set(StatusText::Free(_)));
                Some(Ends {
                    ended: builtin || expiry.is_some(),
                    builtin,
                })
            }
            _ => None,
        };
        self.read.insert((from, to), ends);
        ends
    }

    /// Whether the part from cut `from` to `to` may be a built-in status (its status starts
    /// with a built-in status word or CLEAR), checked before it is read: most parts are not.
    fn may_be_builtin(&self, from: usize, to: Option<usize>) -> bool {
        let part = self.part(Some(from), to);
        let status = match target_token(part) {
            Ok((rest, _)) if rest.starts_with([' ', ':']) => rest[1..].trim_start_matches(' '),
            Ok((_, token)) => glued_target(token).map_or("", |(_, len)| &part[len..]),
            Err(_) => "",
        };
        starts_with_status_word(status)
    }

    /// Whether a cut's target is ALL (`ALL`, `全部`, ...): the word is common in text (`Busy
    /// all day`), so it starts an assignment only before a built-in status.
    fn all(&self, cut: usize) -> bool {
        self.cuts[cut].1 == Target::All
    }

    /// Whether a cut's target is a user group.
    fn user(&self, cut: usize) -> bool {
        matches!(self.cuts[cut].1, Target::Group(GroupName::User(_)))
    }

    /// Every chain of cuts that goes on from `chain` into `found`; `left`: the part before
    /// its last cut has an end of its own.
    fn walk(&mut self, chain: &mut Vec<usize>, left: bool, found: &mut Vec<Vec<usize>>) {
        let Some(&last) = chain.last() else {
            return;
        };
        let users = chain.iter().filter(|&&c| self.user(c)).count();
        // The end of the text, then each later cut.
        let by_left = left && !self.all(last);
        for next in std::iter::once(None).chain((last + 1..self.cuts.len()).map(Some)) {
            if next.is_some_and(|cut| self.user(cut) && users > 0)
                || !(by_left || self.may_be_builtin(last, next))
            {
                continue;
            }
            let Some(part) = self.ends(Some(last), next) else {
                continue;
            };
            if !(by_left || part.builtin) {
                continue;
            }
            let Some(cut) = next else {
                // A single cut needs both: `FREE COLLEAGUES MEETING`, not `Busy family
                // dinner` nor `In a family meeting`.
                let both = chain.len() > 1 || (left && part.builtin);
                if both {
                    found.push(chain.clone());
                }
                continue;
            };
            if runs_on(self.part(Some(last), next)) {
                continue;
            }
            chain.push(cut);
            self.walk(chain, part.ended, found);
            chain.pop();
        }
    }
}

/// The targets of the assignments that run on in `text` (an unquoted free-text status as
/// typed, with its expiry, of the assignment of segment `segment`), the commas between them
/// left out, and where in `text` each starts: the most likely reading, built-in targets
/// only, first, then for each user group word the best reading with it (a doubt: it holds
/// only if the subscriber has that group). Empty when `text` is one text.
///
/// `text` is cut before words that name a target (`FAMILY`, `同事`, `OTHERS`, a user group),
/// and every cut needs a status with an end of its own before it (`FREE`, `BUSY UNTIL 5PM`,
/// `At the gym FOR 1H`) or a built-in status after it (`OTHERS BUSY`). One cut needs both
/// (`BUSY UNTIL 5PM COLLEAGUES MEETING`, `FREE COLLEAGUES MEETING`, `忙到5点 同事 开会`); two
/// or more need one each (`free COLLEAGUES in a meeting OTHERS busy`). A target word never
/// starts an assignment right after a word a phrase goes on from (`In a family meeting`,
/// [`RUNS_ON`]), and ALL only before a built-in status (`Busy all day`). Text that goes on
/// differently (`Busy all day`, `Free after lunch`, `Dinner with family tonight`) is one text.
/// The reading with the most cuts is taken, when every other that reads has no cut it lacks;
/// else the reading is unclear ([`Commas::unclear`]) and none is offered.
fn missing_commas(text: &str, segment: &str) -> Vec<Commas> {
    let target = target_token(segment).map_or("", |(_, t)| t);
    let cuts: Vec<(usize, Target)> = text
        .match_indices(' ')
        .filter_map(|(p, _)| target_at(&text[p + 1..]).map(|t| (p + 1, t)))
        .collect();
    let mut search = Cuts {
        text,
        target,
        cuts,
        read: std::collections::HashMap::new(),
    };
    // Every reading needs a part with an end of its own (a built-in status, or an expiry) or
    // a built-in status after a target word: without one, nothing is read part by part.
    let builtin_after = (0..search.cuts.len()).any(|c| search.may_be_builtin(c, None));
    let expiry = many_till(anychar, peek(spaced_strict_expiry))
        .parse(text)
        .is_ok();
    if !(starts_with_status_word(text) || builtin_after || expiry) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for first in 0..search.cuts.len() {
        let Some(before) = search.ends(None, Some(first)) else {
            continue;
        };
        if runs_on(search.part(None, Some(first))) {
            continue;
        }
        search.walk(&mut vec![first], before.ended, &mut found);
    }
    // Most cuts first (then the earliest), built-in targets only before any user group.
    found.sort_by_key(|chain| {
        let users = chain.iter().any(|&c| search.user(c));
        (users, std::cmp::Reverse(chain.len()), chain.clone())
    });
    // One reading with built-in targets only, and one for each user group (a chain names
    // one at most); unclear when another chain of the same kind reads with a cut the first
    // has not (`BUSY FAMILY Out FOR 1H FRIENDS OTHERS MEETING`: a comma before FRIENDS, or
    // before OTHERS), and then every cut of them is kept, none chosen.
    let user_of = |chain: &[usize]| {
        chain
            .iter()
            .find(|&&c| search.user(c))
            .map(|&c| search.cuts[c].1.clone())
    };
    let mut readings: Vec<(Option<Target>, Vec<usize>, bool)> = Vec::new();
    for chain in found {
        let user = user_of(&chain);
        match readings.iter_mut().find(|(u, ..)| *u == user) {
            Some((_, cuts, unclear)) => {
                if chain.iter().any(|c| !cuts.contains(c)) {
                    *unclear = true;
                    cuts.extend(chain);
                    cuts.sort_unstable();
                    cuts.dedup();
                }
            }
            None => readings.push((user, chain, false)),
        }
    }
    readings
        .into_iter()
        .map(|(_, chain, unclear)| Commas {
            cuts: chain
                .iter()
                .map(|&c| (search.cuts[c].1.clone(), search.cuts[c].0))
                .collect(),
            unclear,
        })
        .collect()
}

/// A reading of assignments run together without their commas ([`missing_commas`]).
#[derive(Debug)]
struct Commas {
    /// The target of each assignment after the first and where in the text it starts: the
    /// one reading's, or when `unclear` every target a comma may go before.
    cuts: Vec<(Target, usize)>,
    /// Whether more than one split reads, so none is offered.
    unclear: bool,
}

/// The segment of `input` up to the next separator, for quoting in errors.
fn segment_text(input: &str) -> &str {
    input.split(is_sep).next().unwrap_or(input).trim()
}

/// Succeeds (consuming nothing) at the end of input or before a separator.
fn seg_end(input: &str) -> PResult<'_, ()> {
    match input.chars().next() {
        None => Ok((input, ())),
        Some(c) if is_sep(c) => Ok((input, ())),
        Some(_) => no(input),
    }
}

/// Optional spaces, then [`seg_end`].
fn end_of_segment(input: &str) -> PResult<'_, ()> {
    let (rest, _) = space0(input)?;
    seg_end(rest)
}

/// The end of a sentence after an expiry: spaces and a run of `.` `!` `?` `。` (`UNTIL
/// 17:00.`, `FOR 2H!`, `2小时。`), possibly none; returns what follows.
fn sentence_end(input: &str) -> PResult<'_, &str> {
    let (rest, _) = space0(input)?;
    let (rest, _) =
        take_while_m_n(0, usize::MAX, |c: char| matches!(c, '.' | '!' | '?' | '。')).parse(rest)?;
    Ok((rest, rest))
}

/// The end of a segment after an expiry, past the end of its sentence ([`sentence_end`]).
fn expiry_end(input: &str) -> PResult<'_, ()> {
    let (rest, _) = sentence_end(input)?;
    end_of_segment(rest)
}

/// A target word: up to a space, separator, quote or colon (`FAMILY: FREE`).
fn target_token(input: &str) -> PResult<'_, &str> {
    take_while1(|c: char| c != ' ' && c != '"' && c != ':' && !is_sep(c)).parse(input)
}

/// The target a token names, or a committed error quoting it.
fn to_target<'a>(token: &str, input: &'a str) -> Result<Target, nom::Err<GrammarError<'a>>> {
    match Target::try_from(token) {
        Ok(t) => Ok(t),
        Err(_) if StatusWord::lookup(token).is_some() => Err(committed(
            input,
            ParseErrorKind::MissingTarget,
            token,
            HelpTopic::Status,
        )),
        Err(e) => Err(committed(input, e, token, HelpTopic::Status)),
    }
}

/// A Chinese target glued to its status (`家人开车`): the target and the length of its word.
fn glued_target(token: &str) -> Option<(Target, usize)> {
    let mut words: Vec<&'static str> = vec!["全部", "所有", "其他", "其它"];
    words.extend(BuiltinGroup::ALL.iter().map(|g| g.zh()));
    words
        .into_iter()
        .filter(|w| token.len() > w.len() && token.starts_with(w))
        .find_map(|w| Target::try_from(w).ok().map(|t| (t, w.len())))
}

/// `<target> <status> [<expiry>]` up to the end of its segment.
fn assignment(input: &str) -> PResult<'_, StatusAssignment> {
    let (rest, (a, _)) = assignment_and_status(input)?;
    Ok((rest, a))
}

/// [`assignment`], and the input from its status on.
fn assignment_and_status(input: &str) -> PResult<'_, (StatusAssignment, &str)> {
    let seg = segment_text(input);
    let Ok((rest, token)) = target_token(input) else {
        return fail(input, ParseErrorKind::MissingTarget, seg, HelpTopic::Status);
    };
    let (rest, target) = if let Some(after_space) = rest.strip_prefix(' ') {
        (after_space, to_target(token, input)?)
    } else if let Some(after_colon) = rest.strip_prefix(':') {
        // `FAMILY:FREE`, `家人：忙`: the colon people put between a name and what it gets.
        (
            after_colon.trim_start_matches(' '),
            to_target(token, input)?,
        )
    } else if let Some((target, len)) = glued_target(token) {
        (&input[len..], target)
    } else {
        to_target(token, input)?;
        return fail(
            input,
            ParseErrorKind::MissingStatus,
            token,
            HelpTopic::Status,
        );
    };
    let status_input = rest;
    let (rest, (status, expiry)) = status_and_expiry(rest, token)?;
    Ok((
        rest,
        (
            StatusAssignment {
                target,
                status,
                expiry,
            },
            status_input,
        ),
    ))
}

/// The status (quoted or not) and optional expiry of one assignment; `target` is for errors.
fn status_and_expiry<'a>(
    input: &'a str,
    target: &str,
) -> PResult<'a, (StatusChange, Option<Expiry>)> {
    let (rest, change) = if let Some(quoted) = input.strip_prefix('"') {
        let (inner, rest) = match quoted.find('"') {
            Some(end) => (&quoted[..end], &quoted[end + 1..]),
            None => (quoted, ""),
        };
        let text =
            FreeText::try_from(inner).map_err(|e| committed(input, e, inner, HelpTopic::Status))?;
        (rest, StatusChange::Set(StatusText::Free(text)))
    } else {
        if (raw_expiry, expiry_end).parse(input).is_ok() {
            return fail(
                input,
                ParseErrorKind::MissingStatus,
                target,
                HelpTopic::Status,
            );
        }
        // An expiry written without a space before it does not start inside a number, an
        // ordinal or a duration already begun: `1/2小时` is no `2小时`, `第一天` no `一天`,
        // `1.5.5小时` no `5小时`, `一千二百分钟` no `二百分钟` (the status took the rest as
        // text, and its contacts a wrong end). Whole durations (`1.5小时`, `1小时30分钟`,
        // `一百二十分钟`) are read from their start.
        let begins_here = |i: &'a str| -> PResult<'a, ()> {
            let before = input[..input.len() - i.len()].chars().next_back();
            let inside = !i.starts_with(' ')
                && before.is_some_and(|c| {
                    c.is_ascii_digit()
                        || zh_digit(c).is_some()
                        || matches!(
                            c,
                            '.' | '/'
                                | '-'
                                | '+'
                                | '~'
                                | '十'
                                | '百'
                                | '千'
                                | '万'
                                | '第'
                                | '半'
                                | '时'
                                | '钟'
                                | '天'
                                | '分'
                                | '刻'
                        )
                });
            if inside {
                no(i)
            } else {
                Ok((i, ()))
            }
        };
        let tail = alt((
            value(true, (begins_here, spaced_raw_expiry, expiry_end)),
            value(false, end_of_segment),
        ));
        let (mut rest, (mut body, _)) = consumed(many_till(anychar, peek(tail))).parse(input)?;
        if StatusWord::lookup(body).is_none() {
            // Free text: only COMMANDS.md's expiry forms end it.
            let tail = alt((
                value(true, (begins_here, spaced_strict_expiry, expiry_end)),
                value(false, end_of_segment),
            ));
            (rest, (body, _)) = consumed(many_till(anychar, peek(tail))).parse(input)?;
        }
        if body.is_empty() {
            return fail(
                input,
                ParseErrorKind::MissingStatus,
                target,
                HelpTopic::Status,
            );
        }
        // `FREE.` / `忙。`: a built-in word that ends a sentence is that status, not a text.
        let word = body.trim_end_matches(['.', '!', '。']);
        if word.len() < body.len() && StatusWord::lookup(word).is_some() {
            body = word;
        }
        let change = match StatusWord::lookup(body) {
            Some(StatusWord::Clear) => StatusChange::Clear,
            _ => StatusChange::Set(
                StatusText::try_from(body)
                    .map_err(|e| committed(input, e, body, HelpTopic::Status))?,
            ),
        };
        (rest, change)
    };
    let (rest, raw) = opt(spaced_raw_expiry).parse(rest)?;
    let (rest, _) = if raw.is_some() {
        sentence_end(rest)?
    } else {
        space0(rest)?
    };
    if seg_end(rest).is_err() {
        let extra = segment_text(rest);
        return fail(
            rest,
            ParseErrorKind::UnexpectedText,
            extra,
            HelpTopic::Status,
        );
    }
    let expiry = match raw {
        None => None,
        Some((text, raw)) => Some(
            raw.validate(text.trim())
                .map_err(|e| committed(rest, e, text.trim(), HelpTopic::Status))?,
        ),
    };
    Ok((rest, (change, expiry)))
}

/// An expiry as typed, before its limits are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawExpiry {
    /// A duration in minutes (saturating: too long is refused later).
    For(u64),
    /// A duration with a fraction that is no whole number of minutes (`1.33H`, `1.5M`):
    /// refused later.
    PartMinute,
    /// A time of day read as written (24-hour).
    Until(u64, u64),
    /// An hour of 1 to 12 typed bare (`UNTIL 5`, `到5点`): either half of the day, the service
    /// takes the next ([`Expiry::UntilEither`]).
    Either(u64, u64),
    /// A time of day on the next day (`UNTIL TOMORROW 09:00`, `到明天9:00`).
    Tomorrow(u64, u64),
}

impl RawExpiry {
    fn validate(self, text: &str) -> Result<Expiry, ValueError> {
        match self {
            RawExpiry::For(minutes) => Expiry::for_minutes(minutes, text),
            RawExpiry::PartMinute => Err(ValueError::PartMinute {
                text: text.to_owned(),
            }),
            // `24:00` is the midnight that ends the day, as people write it.
            RawExpiry::Until(24, 0) => Expiry::until(0, 0, text),
            RawExpiry::Until(h, m) => Expiry::until(h, m, text),
            RawExpiry::Either(h, m) => Expiry::until_either(h, m, text),
            RawExpiry::Tomorrow(h, m) => Expiry::until_tomorrow(h, m, text),
        }
    }

    /// A time typed as `digits` (hours, or hours and minutes) with no colon, AM / PM nor
    /// part of the day: on either half of the day when the hour is 1 to 12 without a leading
    /// zero in up to three digits (`5`, `530`, `12`), as written otherwise (`0500`, `17`, `0`,
    /// and the four-digit 24-hour notation `1030`, `1200`).
    fn bare(digits: &str, h: u64, m: u64) -> RawExpiry {
        RawExpiry::hour_of(RawExpiry::either_half(digits), h, m)
    }

    /// Whether an hour typed as `digits` may be on either half of the day: no leading zero,
    /// at most three digits (see [`RawExpiry::bare`]).
    fn either_half(digits: &str) -> bool {
        !digits.starts_with('0') && digits.len() < 4
    }

    /// `h:m` on either half of the day when the hour is 1 to 12 and `bare` (typed without a
    /// colon, leading zero, AM / PM or part of the day), as written otherwise.
    fn hour_of(bare: bool, h: u64, m: u64) -> RawExpiry {
        if bare && (1..=12).contains(&h) {
            RawExpiry::Either(h, m)
        } else {
            RawExpiry::Until(h, m)
        }
    }

    /// The duration `parts` add up to (`1H30M`: 90 minutes).
    fn of_parts(parts: &[(Amount, DurationUnit)]) -> RawExpiry {
        parts
            .iter()
            .try_fold(0u64, |total, &(a, unit)| {
                unit.whole_minutes(a.whole, a.numer, a.denom)
                    .map(|m| total.saturating_add(m))
            })
            .map_or(RawExpiry::PartMinute, RawExpiry::For)
    }

    /// This time of day on the next day (`TOMORROW 09:00`, `明天下午3点`); none for an hour
    /// that may be on either half of the day (`TOMORROW 9`: morning or evening is a guess)
    /// nor for a duration.
    fn tomorrow(self) -> Option<RawExpiry> {
        match self {
            RawExpiry::Until(h, m) => Some(RawExpiry::Tomorrow(h, m)),
            _ => None,
        }
    }

    /// A time read on a 12-hour clock with its AM (`pm` false) or PM: 12AM is midnight, 12PM
    /// noon; an hour outside 1 to 12 (`13PM`, `0AM`) is no time of day and is refused later as
    /// `25:00` is.
    fn twelve_hour(self, pm: bool) -> RawExpiry {
        match self {
            RawExpiry::Until(h @ 1..=12, m) | RawExpiry::Either(h @ 1..=12, m) => {
                RawExpiry::Until(h % 12 + if pm { 12 } else { 0 }, m)
            }
            RawExpiry::Until(_, m) | RawExpiry::Either(_, m) => RawExpiry::Until(u64::MAX, m),
            other => other,
        }
    }
}

/// The part of the day a Chinese time may name before its hour (`到下午5点`, `到晚上8:30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayPart {
    /// `凌晨`: the small hours (`凌晨12点` is midnight).
    SmallHours,
    /// `上午`, `早上`: the hour as written.
    Morning,
    /// `中午`: around noon (`中午1点` is 13:00, up to 5).
    Noon,
    /// `下午`, `傍晚`: 1 to 11 are afternoon hours.
    Afternoon,
    /// `晚上`: 6 to 11 are evening hours, 12 is midnight, 1 to 5 the night after (`晚上1点`
    /// is 01:00).
    Evening,
}

impl DayPart {
    /// `time` read in this part of the day (a 24-hour hour stays as written: `下午15点`).
    fn apply(self, time: RawExpiry) -> RawExpiry {
        let (RawExpiry::Until(h, m) | RawExpiry::Either(h, m)) = time else {
            return time;
        };
        let h = match (self, h) {
            (DayPart::SmallHours, 12) | (DayPart::Evening, 12) => 0,
            // `下午0点` is no time of day (as `0PM` is not): refused later.
            (DayPart::Noon | DayPart::Afternoon | DayPart::Evening, 0) => u64::MAX,
            (DayPart::Noon, 1..=5) | (DayPart::Afternoon, 1..=11) | (DayPart::Evening, 6..=11) => {
                h + 12
            }
            _ => h,
        };
        RawExpiry::Until(h, m)
    }
}

/// `凌晨`, `上午`, `早上`, `中午`, `下午`, `傍晚`, `晚上`.
fn day_part(input: &str) -> PResult<'_, DayPart> {
    alt((
        value(DayPart::SmallHours, tag("凌晨")),
        value(DayPart::Morning, alt((tag("上午"), tag("早上")))),
        value(DayPart::Noon, tag("中午")),
        value(DayPart::Afternoon, alt((tag("下午"), tag("傍晚")))),
        value(DayPart::Evening, tag("晚上")),
    ))
    .parse(input)
}

/// `NOON` (12:00) and `MIDNIGHT` (00:00), as in `BUSY UNTIL NOON`.
fn named_time(input: &str) -> PResult<'_, RawExpiry> {
    let (i, time) = alt((
        value(RawExpiry::Until(12, 0), tag_no_case("NOON")),
        value(RawExpiry::Until(0, 0), tag_no_case("MIDNIGHT")),
    ))
    .parse(input)?;
    let (i, _) = opt(char('.')).parse(i)?;
    let (i, ()) = en_boundary(i)?;
    Ok((i, time))
}

/// `中午` (12:00) and `午夜` (00:00) without an hour, as in `忙到中午`.
fn zh_named_time<'a>(input: &'a str) -> PResult<'a, RawExpiry> {
    alt((
        value(RawExpiry::Until(0, 0), tag("午夜")),
        |i: &'a str| {
            let (i, _) = tag("中午").parse(i)?;
            if i.starts_with(|c: char| c.is_ascii_digit()) {
                return no(input);
            }
            Ok((i, RawExpiry::Until(12, 0)))
        },
    ))
    .parse(input)
}

/// `AM` / `PM` after a time (`5PM`, `5:30 pm`, `11 a.m.`, `5 p.m`, and a sentence's full
/// stop after it: `5pm.`), or its first letter right after the time (`5p`, `5.30a`): true
/// for PM.
fn meridiem(input: &str) -> PResult<'_, bool> {
    let (i, space) = space0(input)?;
    let mut long = alt((
        value(false, alt((tag_no_case("A.M"), tag_no_case("AM")))),
        value(true, alt((tag_no_case("P.M"), tag_no_case("PM")))),
    ));
    let (i, pm) = if space.is_empty() {
        alt((
            long,
            value(false, tag_no_case("A")),
            value(true, tag_no_case("P")),
        ))
        .parse(i)?
    } else {
        long.parse(i)?
    };
    let (i, _) = opt(char('.')).parse(i)?;
    let (i, ()) = en_boundary(i)?;
    Ok((i, pm))
}

/// A decimal number (saturating, so 30 digits is just "too big" later).
fn number(input: &str) -> PResult<'_, u64> {
    let (rest, digits) = digit1(input)?;
    Ok((rest, digits.parse::<u64>().unwrap_or(u64::MAX)))
}

/// A number of units as typed: `whole + numer / denom` (`1.5` is 1 + 5/10, `半` 0 + 1/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Amount {
    whole: u64,
    numer: u64,
    /// 0 for a fraction too long to hold (never whole minutes).
    denom: u64,
}

impl Amount {
    /// `n` units.
    fn whole(n: u64) -> Amount {
        Amount {
            whole: n,
            numer: 0,
            denom: 1,
        }
    }

    /// `n` and a half units (`一个半小时`); none when `self` has a fraction already.
    fn and_a_half(self) -> Option<Amount> {
        (self.numer == 0).then_some(Amount {
            whole: self.whole,
            numer: 1,
            denom: 2,
        })
    }
}

/// A number with an optional decimal fraction (`2`, `1.5`, `0.25`; saturating as [`number`]).
fn decimal(input: &str) -> PResult<'_, Amount> {
    let (i, whole) = number(input)?;
    let fraction: PResult<'_, (char, &str)> = (char('.'), digit1).parse(i);
    let Ok((i, (_, digits))) = fraction else {
        return Ok((i, Amount::whole(whole)));
    };
    let digits = digits.trim_end_matches('0');
    let denom = u32::try_from(digits.len())
        .ok()
        .and_then(|len| 10u64.checked_pow(len));
    let amount = match (denom, digits.parse::<u64>()) {
        (Some(denom), Ok(numer)) => Amount {
            whole,
            numer,
            denom,
        },
        // `1.0`: no fraction left.
        (Some(_), Err(_)) if digits.is_empty() => Amount::whole(whole),
        _ => Amount {
            whole,
            numer: 1,
            denom: 0,
        },
    };
    Ok((i, amount))
}

/// The value of a Chinese digit: `零` / `〇` 0, `一` 1, `二` / `两` 2, ... `九` 9.
fn zh_digit(c: char) -> Option<u64> {
    let value = match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    };
    Some(value)
}

/// One Chinese digit (see [`zh_digit`]).
fn zh_digit_p(input: &str) -> PResult<'_, u64> {
    let mut chars = input.chars();
    match chars.next().and_then(zh_digit) {
        Some(d) => Ok((chars.as_str(), d)),
        None => no(input),
    }
}

/// A number of 0 to 99 in Chinese numerals: `五`, `两`, `十`, `十五`, `二十`, `三十五`.
fn zh_numeral(input: &str) -> PResult<'_, u64> {
    let (i, first) = opt(zh_digit_p).parse(input)?;
    let tens: PResult<'_, &str> = tag("十").parse(i);
    match (first, tens) {
        (Some(0), Ok(_)) => no(input),
        (first, Ok((i, _))) => {
            let (i, ones) = opt(zh_digit_p).parse(i)?;
            if ones == Some(0) {
                return no(input);
            }
            Ok((i, first.unwrap_or(1) * 10 + ones.unwrap_or(0)))
        }
        (Some(d), Err(_)) => Ok((i, d)),
        (None, Err(_)) => no(input),
    }
}

/// A number of 100 to 999 in Chinese numerals: a digit and `百` (`一百`, `两百` / `二百`), then
/// possibly what is below the hundreds ([`zh_below_hundred`]: `一百二十`, `一百零五`). The
/// spoken short form (`一百五`, 150) and forms no one writes (`一百十`, `一百零`) are no
/// number, so a duration they start is not read at all.
fn zh_hundreds(input: &str) -> PResult<'_, u64> {
    let (i, hundreds) = zh_digit_p(input)?;
    let (i, _) = tag("百").parse(i)?;
    let (i, below) = opt(zh_below_hundred).parse(i)?;
    let goes_on =
        i.starts_with(|c: char| zh_digit(c).is_some() || matches!(c, '十' | '百' | '千' | '万'));
    if hundreds == 0 || goes_on {
        return no(input);
    }
    Ok((i, hundreds * 100 + below.unwrap_or(0)))
}

/// What follows `百` in [`zh_hundreds`]: `零` (or `〇`) and the ones (`零五`: 5), or the tens
/// from a digit as [`zh_numeral`] reads them (`二十`, `四十五`).
fn zh_below_hundred(input: &str) -> PResult<'_, u64> {
    if let Some(i) = input.strip_prefix(['零', '〇']) {
        return match zh_digit_p(i)? {
            (i, ones @ 1..=9) => Ok((i, ones)),
            _ => no(input),
        };
    }
    let (i, tens) = zh_numeral(input)?;
    if tens < 10 || !input.starts_with(|c: char| zh_digit(c).is_some()) {
        return no(input);
    }
    Ok((i, tens))
}

/// A count of 0 to 999 in Chinese numerals, the number of units of a duration ([`zh_hundreds`]
/// or [`zh_numeral`]; a time of day needs no more than [`zh_numeral`]).
fn zh_count(input: &str) -> PResult<'_, u64> {
    alt((zh_hundreds, zh_numeral)).parse(input)
}

/// A number of units in a Chinese duration: digits (with a fraction: `1.5`) or Chinese
/// numerals (`两`, `二十`, `一百零五`).
fn zh_amount(input: &str) -> PResult<'_, Amount> {
    alt((decimal, |i| {
        let (i, n) = zh_count(i)?;
        Ok((i, Amount::whole(n)))
    }))
    .parse(input)
}

/// An expiry at the start of `input`, English or Chinese.
fn raw_expiry(input: &str) -> PResult<'_, RawExpiry> {
    alt((en_expiry, zh_expiry)).parse(input)
}

/// An expiry after a status: English ones after a space, Chinese ones possibly glued (`开车2小时`).
/// Takes the short forms too (bare `2H`, `30分`), which follow a built-in status only.
fn spaced_raw_expiry(input: &str) -> PResult<'_, (&str, RawExpiry)> {
    alt((preceded_space1(consumed(en_expiry)), |i| {
        let (i, _) = space0(i)?;
        consumed(zh_expiry).parse(i)
    }))
    .parse(input)
}

/// [`spaced_raw_expiry`] in COMMANDS.md's forms only (`FOR 2H`, `UNTIL 15:00`, `2小时`,
/// `30分钟`, `到15:00`), and a 12-hour time (`UNTIL 5PM`, `到下午5点`): the expiry after free
/// text, whose end may look like a short form (`seat 12D`, `考了90分`), a colon-less time
/// (`Abroad until 2026`, `Working 9 till 5`, `收到100`) or a dotted one that is a price
/// (`Sale UNTIL 19.99`) and then stays part of the text.
fn spaced_strict_expiry(input: &str) -> PResult<'_, (&str, RawExpiry)> {
    alt((
        preceded_space1(consumed(|i| en_keyword_expiry_with(i, false))),
        |i| {
            let (i, _) = space0(i)?;
            consumed(zh_strict_expiry).parse(i)
        },
    ))
    .parse(input)
}

/// `p` after at least one space.
fn preceded_space1<'a, O>(
    mut p: impl Parser<&'a str, Output = O, Error = GrammarError<'a>>,
) -> impl FnMut(&'a str) -> PResult<'a, O> {
    move |i| {
        let (i, _) = space1(i)?;
        p.parse(i)
    }
}

/// `FOR 2H`, `FOR 30 MINUTES`, `FOR 1H30M`, `FOR 1.5H`, bare `2H`, `UNTIL 15:00`, `UNTIL
/// 15.00`, `UNTIL 1500`, `TILL 9:30`.
fn en_expiry(input: &str) -> PResult<'_, RawExpiry> {
    alt((en_keyword_expiry, en_duration)).parse(input)
}

/// `FOR 2H`, `FOR 30 MINUTES`, `UNTIL 15:00`, `UNTIL 1500`, `UNTIL 15`, `UNTIL 5PM`,
/// `UNTIL 5:30 pm`, `TILL 9:30`.
fn en_keyword_expiry(input: &str) -> PResult<'_, RawExpiry> {
    en_keyword_expiry_with(input, true)
}

/// [`en_keyword_expiry`]; without `bare`, a time without a colon counts only with its AM / PM
/// (`UNTIL 5PM`, not `UNTIL 1500`: after free text, `until 2026` is a year), and a dotted one
/// only when it is a time of day or has its AM / PM ([`dotted_number`]: `UNTIL 19.99` is a
/// price).
fn en_keyword_expiry_with(input: &str, bare: bool) -> PResult<'_, RawExpiry> {
    alt((
        |i| {
            let (i, _) = (tag_no_case("FOR"), space0).parse(i)?;
            alt((en_duration, en_word_duration)).parse(i)
        },
        |i| {
            // `TIL` and `UNTILL` are how `UNTIL` / `TILL` are often typed.
            let (i, _) = (
                alt((
                    tag_no_case("UNTILL"),
                    tag_no_case("UNTIL"),
                    tag_no_case("TILL"),
                    tag_no_case("TIL"),
                )),
                space0,
            )
                .parse(i)?;
            en_until_time(i, bare, bare)
        },
        // `BUSY TO 15:00`: after a built-in status only (`Went to Beijing` is text), and only a
        // time that says it is one (a colon, AM / PM, NOON): `DRIVING TO 5` may be a place.
        |i| {
            if !bare {
                return no(i);
            }
            let (i, _) = (tag_no_case("TO"), space1).parse(i)?;
            en_until_time(i, true, false)
        },
    ))
    .parse(input)
}

/// `TODAY` / `TOMORROW` as a word, then what follows it.
fn en_day(input: &str) -> PResult<'_, bool> {
    let (i, tomorrow) = alt((
        value(true, tag_no_case("TOMORROW")),
        value(false, tag_no_case("TODAY")),
    ))
    .parse(input)?;
    let (i, ()) = en_boundary(i)?;
    Ok((i, tomorrow))
}

/// The time after `UNTIL`: [`en_time`], possibly with its day before or after it (`TOMORROW
/// 09:00`, `8:00AM TOMORROW`, `3PM TODAY`, the forms the gateway's replies are written in).
/// `TODAY` changes nothing (the next such time is today's, unless it has passed); with
/// `TOMORROW` a time that may be on either half of the day (`TOMORROW 9`) is none.
fn en_until_time(input: &str, bare: bool, bare_clock_ok: bool) -> PResult<'_, RawExpiry> {
    let on_day = |time: RawExpiry, tomorrow: bool, i| match tomorrow {
        false => Ok((i, time)),
        true => match time.tomorrow() {
            Some(time) => Ok((i, time)),
            None => no(i),
        },
    };
    if let Ok((i, tomorrow)) = en_day(input) {
        let (i, _) = space1(i)?;
        let (i, time) = en_time(i, bare, bare_clock_ok)?;
        return on_day(time, tomorrow, i);
    }
    let (i, time) = en_time(input, bare, bare_clock_ok)?;
    match preceded_space1(en_day).parse(i) {
        Ok((after, tomorrow)) => on_day(time, tomorrow, after),
        Err(_) => Ok((i, time)),
    }
}

/// A time of day in English: `NOON`, `15:00`, `15.00`, `5PM`, `5:30 pm`, and with
/// `bare_clock_ok` `1500`, `15`, `5` (the last only with `bare`: see
/// [`en_keyword_expiry_with`]).
fn en_time(i: &str, bare: bool, bare_clock_ok: bool) -> PResult<'_, RawExpiry> {
    if let Ok((i, time)) = named_time(i) {
        return Ok((i, time));
    }
    if let Ok((after, time)) = clock(i) {
        let (after, pm) = opt(meridiem).parse(after)?;
        if !bare && pm.is_none() && dotted_number(i) {
            return no(i);
        }
        return Ok((after, pm.map_or(time, |pm| time.twelve_hour(pm))));
    }
    let (i, time) = bare_clock(i)?;
    match meridiem(i) {
        Ok((i, pm)) => Ok((i, time.twelve_hour(pm))),
        Err(_) if bare && bare_clock_ok => Ok((i, time)),
        Err(e) => Err(e),
    }
}

/// A duration in words after `FOR`: `AN HOUR`, `A DAY`, `TWO HOURS`, `TEN MINUTES`, `HALF
/// AN HOUR`, `AN HOUR AND A HALF`; then possibly smaller parts in digits (`AN HOUR 30M`).
fn en_word_duration(input: &str) -> PResult<'_, RawExpiry> {
    const NUMBERS: &[(&str, u64)] = &[
        ("AN", 1),
        ("A", 1),
        ("ONE", 1),
        ("TWO", 2),
        ("THREE", 3),
        ("FOUR", 4),
        ("FIVE", 5),
        ("SIX", 6),
        ("SEVEN", 7),
        ("EIGHT", 8),
        ("NINE", 9),
        ("TEN", 10),
        ("ELEVEN", 11),
        ("TWELVE", 12),
        ("FIFTEEN", 15),
        ("TWENTY", 20),
        ("THIRTY", 30),
        ("FORTY", 40),
        ("FORTY-FIVE", 45),
        ("FIFTY", 50),
    ];
    let half = Amount {
        whole: 0,
        numer: 1,
        denom: 2,
    };
    let half_an: PResult<'_, _> = (
        tag_no_case("HALF"),
        space1,
        alt((tag_no_case("AN"), tag_no_case("A"))),
    )
        .parse(input);
    let (i, amount) = match half_an {
        Ok((i, _)) => (i, half),
        Err(_) => {
            let word = input.split(' ').next().unwrap_or("");
            let Some(&(w, n)) = NUMBERS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) else {
                return no(input);
            };
            (&input[w.len()..], Amount::whole(n))
        }
    };
    let (i, _) = space1(i)?;
    let (i, unit) = alt((
        value(
            DurationUnit::Minutes,
            alt((
                tag_no_case("MINUTES"),
                tag_no_case("MINUTE"),
                tag_no_case("MINS"),
                tag_no_case("MIN"),
            )),
        ),
        value(
            DurationUnit::Hours,
            alt((
                tag_no_case("HOURS"),
                tag_no_case("HOUR"),
                tag_no_case("HRS"),
                tag_no_case("HR"),
            )),
        ),
        value(
            DurationUnit::Days,
            alt((tag_no_case("DAYS"), tag_no_case("DAY"))),
        ),
    ))
    .parse(i)?;
    let (i, ()) = en_boundary(i)?;
    // `AN HOUR AND A HALF`.
    let and_a_half: PResult<'_, _> = (
        space1,
        tag_no_case("AND"),
        space1,
        tag_no_case("A"),
        space1,
        tag_no_case("HALF"),
        en_boundary,
    )
        .parse(i);
    let (i, amount) = match and_a_half {
        Ok((after, _)) => match amount.and_a_half() {
            Some(amount) => (after, amount),
            None => return no(input),
        },
        Err(_) => (i, amount),
    };
    let (i, parts) = falling_parts(i, (amount, unit), |i| {
        let (i, _) = (space0, opt((tag_no_case("AND"), space1))).parse(i)?;
        en_duration_part(i)
    });
    Ok((i, RawExpiry::of_parts(&parts)))
}

/// `<n>` then `M|MIN|MINUTES|H|HR|HOURS|D|DAYS`, `n` possibly with a decimal fraction (`1.5H`,
/// `2.5 DAYS`: whole minutes only, see [`DurationUnit::whole_minutes`]); then possibly more
/// such parts in smaller units, with spaces or `AND` between them or neither (`1H30M`,
/// `1H 30M`, `1 HOUR 30 MIN`, `1 HOUR AND 30 MINUTES`, `1D 2H`).
fn en_duration(input: &str) -> PResult<'_, RawExpiry> {
    let (i, first) = en_duration_part(input)?;
    let (i, mut parts) = falling_parts(i, first, |i| {
        let (i, _) = (space0, opt((tag_no_case("AND"), space1))).parse(i)?;
        en_duration_part(i)
    });
    // `2H30`: minutes glued to the hours without their unit, as a clock reads (2h30m).
    let i = match (parts.as_slice(), glued_minutes(i)) {
        ([(_, DurationUnit::Hours)], Ok((after, m))) => {
            parts.push((Amount::whole(m), DurationUnit::Minutes));
            after
        }
        _ => i,
    };
    Ok((i, RawExpiry::of_parts(&parts)))
}

/// Two digits of minutes (00 to 59) right after the hours of a duration, and no letter, digit,
/// colon or dot after them (`2H30`, not `2H300` nor `2H30X`).
fn glued_minutes(input: &str) -> PResult<'_, u64> {
    let (i, digits) = take_while_m_n(2, 2, |c: char| c.is_ascii_digit()).parse(input)?;
    let m = digits.parse::<u64>().unwrap_or(u64::MAX);
    if m >= 60 || i.starts_with(|c: char| c.is_ascii_alphanumeric() || c == ':' || c == '.') {
        return no(input);
    }
    Ok((i, m))
}

/// `first`, then as many more parts from `next` as come in smaller and smaller units (`1H`
/// then `30M`; a second `1H` or a `2D` after `1H` is not this duration's).
fn falling_parts<'a>(
    mut i: &'a str,
    first: (Amount, DurationUnit),
    next: impl Fn(&'a str) -> PResult<'a, (Amount, DurationUnit)>,
) -> (&'a str, Vec<(Amount, DurationUnit)>) {
    let mut parts = vec![first];
    while let Ok((rest, part)) = next(i) {
        if parts.last().is_some_and(|last| part.1 >= last.1) {
            break;
        }
        parts.push(part);
        i = rest;
    }
    (i, parts)
}

/// One `<n><unit>` of [`en_duration`].
fn en_duration_part(input: &str) -> PResult<'_, (Amount, DurationUnit)> {
    let (i, n) = decimal(input)?;
    let (i, _) = space0(i)?;
    let (i, unit) = alt((
        value(
            DurationUnit::Minutes,
            alt((
                tag_no_case("MINUTES"),
                tag_no_case("MINUTE"),
                tag_no_case("MINS"),
                tag_no_case("MIN"),
                tag_no_case("M"),
            )),
        ),
        value(
            DurationUnit::Hours,
            alt((
                tag_no_case("HOURS"),
                tag_no_case("HOUR"),
                tag_no_case("HRS"),
                tag_no_case("HR"),
                tag_no_case("H"),
            )),
        ),
        value(
            DurationUnit::Days,
            alt((tag_no_case("DAYS"), tag_no_case("DAY"), tag_no_case("D"))),
        ),
    ))
    .parse(i)?;
    let (i, ()) = en_boundary(i)?;
    Ok((i, (n, unit)))
}

/// `HH:MM` (one- or two-digit hour), also written `HH.MM` (`5.30` is `5:30`).
fn clock(input: &str) -> PResult<'_, RawExpiry> {
    let (i, h) = number(input)?;
    let (i, _) = alt((char(':'), char('.'))).parse(i)?;
    let (i, m) = take_while_m_n(2, 2, |c: char| c.is_ascii_digit()).parse(i)?;
    let (i, ()) = match i.chars().next() {
        Some(c) if c.is_ascii_digit() => return no(input),
        _ => (i, ()),
    };
    Ok((i, RawExpiry::Until(h, m.parse::<u64>().unwrap_or(u64::MAX))))
}

/// Whether `input` starts with a [`clock`] written with a dot that is no time of day (`19.99`,
/// `5.60`, `25.00`). After free text, with no AM / PM or part of the day to say it is a time,
/// that is a price or an amount (`Sale UNTIL 19.99`, `降价到19.99`), and the text goes on
/// through it; one that is a time (`Lunch special UNTIL 12.50`) ends the text as ever.
fn dotted_number(input: &str) -> bool {
    consumed(clock)
        .parse(input)
        .is_ok_and(|(_, (typed, time))| typed.contains('.') && time.validate(typed).is_err())
}

/// A time without a colon, as typed after `UNTIL` / `到`: `1500` and `930` are hours and
/// minutes (15:00, 9:30), `15` and `9` whole hours; an hour of 1 to 12 without a leading zero
/// is on either half of the day ([`RawExpiry::bare`]: `9` and `930` are the next 9 and 9:30,
/// `0930` is 09:30). The range is checked later, as for `HH:MM` (`2500` is refused as `25:00`
/// is). Not followed by another digit (five digits are no time) nor by `:` (the start of a
/// longer time that [`clock`] refused).
fn bare_clock(input: &str) -> PResult<'_, RawExpiry> {
    let (i, digits) = take_while_m_n(1, 4, |c: char| c.is_ascii_digit()).parse(input)?;
    if i.starts_with(|c: char| c.is_ascii_digit() || c == ':') {
        return no(input);
    }
    let n = digits.parse::<u64>().unwrap_or(u64::MAX);
    let until = if digits.len() <= 2 {
        RawExpiry::bare(digits, n, 0)
    } else {
        RawExpiry::bare(digits, n / 100, n % 100)
    };
    Ok((i, until))
}

/// `15点`, `15点钟`, `15点30`, `15点30分`, `15点半`, `5点一刻` (:15), `5点三刻` (:45), `5点零5分`, also in
/// Chinese numerals (`五点`, `十五点半`, `五点二十`); `5点` (an hour of 1 to 12 without a part
/// of the day) is on either half of the day ([`RawExpiry::bare`]).
fn zh_clock<'a>(input: &'a str) -> PResult<'a, RawExpiry> {
    let (i, (bare, h)) = alt((
        |i: &'a str| -> PResult<'a, (bool, u64)> {
            let (i, digits) = digit1(i)?;
            let h = digits.parse::<u64>().unwrap_or(u64::MAX);
            Ok((i, (RawExpiry::either_half(digits), h)))
        },
        |i: &'a str| -> PResult<'a, (bool, u64)> {
            let (i, h) = zh_numeral(i)?;
            Ok((i, (true, h)))
        },
    ))
    .parse(input)?;
    let (i, _) = tag("点").parse(i)?;
    let (i, m) = opt(alt((
        value(30, tag("半")),
        value(15, tag("一刻")),
        value(45, tag("三刻")),
        |i| {
            let (i, _) = opt(alt((tag("零"), tag("〇")))).parse(i)?;
            let (i, m) = alt((number, zh_numeral)).parse(i)?;
            let (i, _) = opt(tag("分")).parse(i)?;
            Ok((i, m))
        },
    )))
    .parse(i)?;
    // `5点钟`: o'clock.
    let (i, _) = if m.is_none() {
        opt(tag("钟")).parse(i)?
    } else {
        (i, None)
    };
    Ok((i, RawExpiry::hour_of(bare, h, m.unwrap_or(0))))
}

/// `小时`, `个小时`, `钟头`, `个钟头`.
fn zh_hour_word(input: &str) -> PResult<'_, &str> {
    alt((
        tag("个小时"),
        tag("小时"),
        tag("个钟头"),
        tag("钟头"),
        // In Traditional characters (`2個小時`), as some handsets write them.
        tag("個小時"),
        tag("個小时"),
        tag("个小時"),
        tag("小時"),
        tag("個鐘頭"),
        tag("鐘頭"),
    ))
    .parse(input)
}

/// One part of a Chinese duration: `2小时`, `两个小时`, `1.5小时`, `半小时`, `一个半小时`,
/// `1小时半`, `一天`, `一天半`, `一刻钟` (15 minutes), `二十分钟`, and when `short_minutes`
/// (after a built-in status) `30分`. `半天` is none: people say it for "a while" (`等了半天`)
/// or for a morning or an afternoon, never for twelve hours; after a built-in status it is
/// refused ([`vague_expiry`]).
fn zh_duration_part(input: &str, short_minutes: bool) -> PResult<'_, (Amount, DurationUnit)> {
    let half = Amount {
        whole: 0,
        numer: 1,
        denom: 2,
    };
    alt((
        |i| {
            let (i, _) = (tag("半"), zh_hour_word).parse(i)?;
            Ok((i, (half, DurationUnit::Hours)))
        },
        |i| {
            let (i, n) = zh_amount(i)?;
            let (i, _) = space0(i)?;
            let with_half = |i, unit| {
                let (i, more) = opt(tag("半")).parse(i)?;
                match more.map_or(Some(n), |_| n.and_a_half()) {
                    Some(n) => Ok((i, (n, unit))),
                    None => no(i),
                }
            };
            alt((
                |i| {
                    let (i, _) = (
                        alt((tag("个半"), tag("個半"))),
                        alt((tag("小时"), tag("钟头"), tag("小時"), tag("鐘頭"))),
                    )
                        .parse(i)?;
                    match n.and_a_half() {
                        Some(n) => Ok((i, (n, DurationUnit::Hours))),
                        None => no(i),
                    }
                },
                |i| {
                    let (i, _) = zh_hour_word(i)?;
                    with_half(i, DurationUnit::Hours)
                },
                |i| {
                    let (i, _) = tag("天").parse(i)?;
                    with_half(i, DurationUnit::Days)
                },
                |i| {
                    let (i, _) = tag("刻钟").parse(i)?;
                    match n {
                        Amount { numer: 0, .. } => Ok((
                            i,
                            (
                                Amount::whole(n.whole.saturating_mul(15)),
                                DurationUnit::Minutes,
                            ),
                        )),
                        _ => no(i),
                    }
                },
                |i| {
                    let (i, _) = if short_minutes {
                        alt((tag("分钟"), tag("分鐘"), tag("分"))).parse(i)?
                    } else {
                        alt((tag("分钟"), tag("分鐘"))).parse(i)?
                    };
                    Ok((i, (n, DurationUnit::Minutes)))
                },
            ))
            .parse(i)
        },
    ))
    .parse(input)
}

/// A Chinese duration: one or more [`zh_duration_part`]s in smaller and smaller units, a `零`
/// or a space possibly between them (`1小时30分钟`, `一小时三十分`, `1小时零5分`, `1天2小时`;
/// a later part may be the short `30分`), then possibly `后`.
fn zh_duration(input: &str, short_minutes: bool) -> PResult<'_, RawExpiry> {
    let (i, first) = zh_duration_part(input, short_minutes)?;
    let (i, parts) = falling_parts(i, first, |i| {
        let (i, _) = (space0, opt(tag("零"))).parse(i)?;
        zh_duration_part(i, true)
    });
    let (i, _) = opt(tag("后")).parse(i)?;
    Ok((i, RawExpiry::of_parts(&parts)))
}

/// `2小时`, `2个小时`, `30分钟`, `30分`, `1天` (optionally `后`), and the other durations of
/// [`zh_duration`] (`两小时`, `一个半小时`, `1小时30分钟`); `到15:00`, `到1500`, `直到15点`,
/// `到下午5点`, `到晚上8:30`, `到五点半`.
fn zh_expiry(input: &str) -> PResult<'_, RawExpiry> {
    zh_expiry_with(input, true, true)
}

/// [`zh_expiry`] without the short `30分` (which is also a score: `考了90分`), without the
/// colon-less `到1500` (`收到100` is no time) and without a dotted number that is no time of
/// day ([`dotted_number`]: `降价到19.99`).
fn zh_strict_expiry(input: &str) -> PResult<'_, RawExpiry> {
    zh_expiry_with(input, false, false)
}

/// The Chinese expiries; `short_minutes` takes `30分`, `bare` the colon-less `到1500` / `到15`
/// (and without it a dotted number that is no time is none: [`dotted_number`]).
fn zh_expiry_with(input: &str, short_minutes: bool, bare: bool) -> PResult<'_, RawExpiry> {
    alt((
        |i| zh_duration(i, short_minutes),
        |i| {
            // `至` is how the gateway's replies write it (`"忙碌"至05:38`).
            let (i, _) = (alt((tag("直到"), tag("到"), tag("至"))), space0).parse(i)?;
            // `到明天9:00`, `至明天09:00`, `到明天下午3点`: the gateway's own form of a time
            // past midnight. `明天` with an hour that may be on either half of the day
            // (`到明天9点`) or with none (`到明天`) is no expiry.
            let day: PResult<'_, bool> =
                alt((value(true, tag("明天")), value(false, tag("今天")))).parse(i);
            if let Ok((after, tomorrow)) = day {
                let (after, _) = space0(after)?;
                let (after, time) = zh_until_time(after, bare)?;
                return match (tomorrow, time.tomorrow()) {
                    (false, _) => Ok((after, time)),
                    (true, Some(time)) => Ok((after, time)),
                    (true, None) => no(i),
                };
            }
            zh_until_time(i, bare)
        },
    ))
    .parse(input)
}

/// The time after `到` / `至` / `直到` (and a day: `明天`): `中午`, `15:00`, `下午3点`, `下午
/// 三点` (a space after the part of the day, as T9 handsets put one), `1500` with `bare`.
fn zh_until_time(i: &str, bare: bool) -> PResult<'_, RawExpiry> {
    if let Ok((i, time)) = zh_named_time(i) {
        return Ok((i, time));
    }
    let (i, part) = opt(day_part).parse(i)?;
    let (i, _) = if part.is_some() { space0(i)? } else { (i, "") };
    // After free text (`bare` off), `到一点` alone is "a little" (`我会晚到一点`: I'll be
    // a bit late), not one o'clock; `到一点半`, `到一点钟`, `到下午一点`, `到1点` are times.
    if !bare && part.is_none() && i.starts_with("一点") {
        let after = &i["一点".len()..];
        if !after.starts_with(['半', '钟', '零', '〇', '十'])
            && !after.starts_with(|c: char| c.is_ascii_digit() || zh_digit(c).is_some())
        {
            return no(i);
        }
    }
    if !bare && part.is_none() && dotted_number(i) {
        return no(i);
    }
    let (i, time) = match alt((clock, zh_clock)).parse(i) {
        Err(nom::Err::Error(_)) if bare => bare_clock(i),
        other => other,
    }?;
    Ok((i, part.map_or(time, |p| p.apply(time))))
}

/// Why `typed` is no number, for every command that takes one (WHO, STOP / START, GROUP …
/// ADD / DEL): a short code or service number (`10086`, `12306`:
/// [`super::msisdn::is_service_number`]) that [`Msisdn::read`] refused as mistyped is
/// [`ParseErrorKind::ServiceNumber`], so each of them says it is no subscriber's number
/// instead of "looks mistyped"; any other error is [`Msisdn::read`]'s own.
fn number_error(e: MsisdnError, typed: &str, default_cc: &str) -> ParseErrorKind {
    match e {
        MsisdnError::Mistyped { .. } if super::msisdn::is_service_number(typed, default_cc) => {
            ParseErrorKind::ServiceNumber
        }
        e => ParseErrorKind::Number(e),
    }
}

/// A subscriber's number typed in a command (WHO, STOP / START, GROUP … ADD / DEL, the USSD
/// WHO prompt: `service::ussd`), read by [`Msisdn::read`]; a short code or service number is
/// [`ParseErrorKind::ServiceNumber`] however it is written: nationally (`10086`, refused by
/// the reader as mistyped: [`number_error`]) or after the country code (`+86 10086`, which
/// reads as a number but is no subscriber's).
pub fn read_number(typed: &str, default_cc: &str) -> Result<Msisdn, ParseErrorKind> {
    match Msisdn::read(typed, default_cc) {
        Ok(_) if super::msisdn::is_service_number(typed, default_cc) => {
            Err(ParseErrorKind::ServiceNumber)
        }
        Ok(m) => Ok(m),
        Err(e) => Err(number_error(e, typed, default_cc)),
    }
}

/// `WHO <n>` / `查 <n>` / `查询 <n>` (also glued: `查13800138000`).
pub fn who<'a>(input: &'a str, default_cc: &str) -> PResult<'a, Parsed> {
    const KW: &[Kw<()>] = &[("WHO", EN, ()), ("查询", ZH, ()), ("查", ZH, ())];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    if rest.is_empty() {
        return with_lang(
            lang,
            fail(rest, ParseErrorKind::MissingArgument, "", HelpTopic::Who),
        );
    }
    match read_number(rest, default_cc) {
        Ok(m) => done(Command::Who(m), lang),
        // `WHO 10086`: a number no subscriber has, not a mobile typed wrong (`read_number`).
        Err(kind) => {
            let kind = one_at_a_time(rest, default_cc, kind, |first| match lang {
                Some(Lang::Zh) => format!("查 {first}"),
                _ => format!("WHO {first}"),
            });
            with_lang(lang, fail(rest, kind, rest, HelpTopic::Who))
        }
    }
}

/// Why `rest`, where a command takes one number, is none: [`ParseErrorKind::OneNumberAtATime`]
/// when it reads as several numbers ([`numbers`], as GROUP … ADD reads them), with the command
/// `command` makes of the first; else `kind`, the error of reading it as one.
fn one_at_a_time(
    rest: &str,
    default_cc: &str,
    kind: ParseErrorKind,
    command: impl FnOnce(&str) -> String,
) -> ParseErrorKind {
    match numbers(rest, default_cc, HelpTopic::General) {
        Ok((_, list)) if list.len() > 1 => ParseErrorKind::OneNumberAtATime {
            fixed: command(list[0].as_str()),
        },
        _ => kind,
    }
}

/// The subject of STOP/START: nothing or `ALL`/`全部` means all, else one number (read as
/// WHO reads one). `ALL` with more after it (`STOP ALL please`) is refused, saying that
/// nothing goes after it.
fn stop_target<'a>(
    rest: &'a str,
    default_cc: &str,
    start: bool,
    lang: Option<Lang>,
) -> PResult<'a, StopTarget> {
    const ALL: &[Kw<()>] = &[("ALL", EN, ()), ("全部", ZH, ()), ("所有", ZH, ())];
    // A sentence's end is not more after ALL (`STOP ALL.`, `退订全部。`).
    let rest = rest.trim_end_matches(['.', '!', '。', '！']).trim_end();
    if rest.is_empty() || choice(rest, ALL).is_some() {
        return Ok(("", StopTarget::All));
    }
    if let Ok((after, _)) = keyword(ALL)(rest) {
        if !after.is_empty() {
            return fail(
                after,
                ParseErrorKind::NothingAfterAll { start },
                after,
                HelpTopic::Stop,
            );
        }
    }
    match read_number(rest, default_cc) {
        Ok(m) => Ok(("", StopTarget::Number(m))),
        Err(kind) => {
            let kind = one_at_a_time(rest, default_cc, kind, |first| {
                match (start, lang) {
                    (true, Some(Lang::Zh)) => format!("订阅 {first}"),
                    (true, _) => format!("START {first}"),
                    (false, Some(Lang::Zh)) => format!("退订 {first}"),
                    (false, Some(Lang::En)) => format!("STOP {first}"),
                    // `TD`, the keyword of neither language.
                    (false, None) => format!("TD{}", first.trim_start_matches('+')),
                }
            });
            fail(rest, kind, rest, HelpTopic::Stop)
        }
    }
}

/// `STOP [<n>|ALL]` / `UNSUBSCRIBE` / `TD[<n>]` / `退订 [<n>|全部]`.
pub fn stop<'a>(input: &'a str, default_cc: &str) -> PResult<'a, Parsed> {
    const KW: &[Kw<()>] = &[
        ("UNSUBSCRIBE", EN, ()),
        ("STOP", EN, ()),
        ("TD", None, ()),
        ("退订", ZH, ()),
    ];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    let (_, target) = with_lang(lang, stop_target(rest, default_cc, false, lang))?;
    done(Command::Stop(target), lang)
}

/// `START [<n>|ALL]` / `SUBSCRIBE` / `订阅 [<n>|全部]`.
pub fn start<'a>(input: &'a str, default_cc: &str) -> PResult<'a, Parsed> {
    const KW: &[Kw<()>] = &[("START", EN, ()), ("SUBSCRIBE", EN, ()), ("订阅", ZH, ())];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    let (_, target) = with_lang(lang, stop_target(rest, default_cc, true, lang))?;
    done(Command::Start(target), lang)
}

/// `AVATARS [page]` / `头像库 [页]` (the page also in Chinese numerals, [`chinese_number`]).
pub fn avatars(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("AVATARS", EN, ()), ("头像库", ZH, ())];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    if let Some(page) = chinese_number(rest) {
        return done(Command::Avatars { page }, lang);
    }
    list_page(rest, lang, |page| Command::Avatars { page }).unwrap_or_else(|| {
        with_lang(
            lang,
            fail(rest, ParseErrorKind::BadNumber, rest, HelpTopic::Avatar),
        )
    })
}

/// What follows `AVATAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AvatarAction {
    Upload,
    Off,
}

/// `AVATAR [<id>|UPLOAD|OFF]` / `头像 [<编号>|上传|取消]` (alone: what one's avatar is; the id
/// also in Chinese numerals, `头像 三`, [`chinese_number`]).
pub fn avatar(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("AVATAR", EN, ()), ("头像", ZH, ())];
    const ACTIONS: &[Kw<AvatarAction>] = &[
        ("UPLOAD", EN, AvatarAction::Upload),
        ("上传", ZH, AvatarAction::Upload),
        ("OFF", EN, AvatarAction::Off),
        ("NONE", EN, AvatarAction::Off),
        ("REMOVE", EN, AvatarAction::Off),
        ("取消", ZH, AvatarAction::Off),
        ("关闭", ZH, AvatarAction::Off),
        ("删除", ZH, AvatarAction::Off),
    ];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    if rest.is_empty() {
        return done(Command::AvatarShow, lang);
    }
    if let Some(id) = chinese_number(rest) {
        return match id {
            0 => with_lang(
                lang,
                fail(rest, ParseErrorKind::BadNumber, rest, HelpTopic::Avatar),
            ),
            id => done(Command::AvatarSet(id), lang),
        };
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        return match positive(rest) {
            Some(id) => done(Command::AvatarSet(id), lang),
            None => with_lang(
                lang,
                fail(rest, ParseErrorKind::BadNumber, rest, HelpTopic::Avatar),
            ),
        };
    }
    match choice(rest, ACTIONS) {
        Some(AvatarAction::Upload) => done(Command::AvatarUpload, lang),
        Some(AvatarAction::Off) => done(Command::AvatarOff, lang),
        None => with_lang(
            lang,
            fail(rest, ParseErrorKind::UnknownOption, rest, HelpTopic::Avatar),
        ),
    }
}

/// `PRIVACY EVERYONE|CONTACTS|NOBODY` / `隐私 所有人|联系人|无人`; alone, the setting now.
pub fn privacy(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("PRIVACY", EN, ()), ("隐私", ZH, ())];
    const LEVELS: &[Kw<Privacy>] = &[
        ("EVERYONE", EN, Privacy::Everyone),
        ("ALL", EN, Privacy::Everyone),
        ("所有人", ZH, Privacy::Everyone),
        ("全部", ZH, Privacy::Everyone),
        ("CONTACTS", EN, Privacy::Contacts),
        ("联系人", ZH, Privacy::Contacts),
        ("NOBODY", EN, Privacy::Nobody),
        ("NONE", EN, Privacy::Nobody),
        ("无人", ZH, Privacy::Nobody),
        ("没有人", ZH, Privacy::Nobody),
    ];
    let (rest, (lang, ())) = keyword(KW)(input)?;
    match choice(rest, LEVELS) {
        Some(p) => done(Command::Privacy(p), lang),
        None if rest.is_empty() => done(Command::PrivacyShow, lang),
        None => with_lang(
            lang,
            fail(
                rest,
                ParseErrorKind::UnknownOption,
                rest,
                HelpTopic::Privacy,
            ),
        ),
    }
}

/// `LANG EN|ZH` / `语言 英文|中文`.
pub fn lang(input: &str) -> PResult<'_, Parsed> {
    const KW: &[Kw<()>] = &[("LANGUAGE", EN, ()), ("LANG", EN, ()), ("语言", ZH, ())];
    const LANGS: &[Kw<Lang>] = &[
        ("EN", EN, Lang::En),
        ("ENGLISH", EN, Lang::En),
        ("英文", ZH, Lang::En),
        ("英语", ZH, Lang::En),
        ("ZH", EN, Lang::Zh),
        ("CN", EN, Lang::Zh),
        ("CHINESE", EN, Lang::Zh),
        ("中文", ZH, Lang::Zh),
        ("汉语", ZH, Lang::Zh),
        ("中", ZH, Lang::Zh),
    ];
    let (rest, (hint, ())) = keyword(KW)(input)?;
    match choice(rest, LANGS) {
        Some(l) => done(Command::Lang(l), hint),
        None if rest.is_empty() => with_lang(
            hint,
            fail(rest, ParseErrorKind::MissingArgument, "", HelpTopic::Lang),
        ),
        None => with_lang(
            hint,
            fail(rest, ParseErrorKind::UnknownOption, rest, HelpTopic::Lang),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::*;

    #[test]
    fn english_keywords_need_a_boundary_but_may_touch_a_number() {
        const KW: &[Kw<()>] = &[("TD", None, ()), ("STOP", EN, ())];
        assert_eq!(keyword(KW)("TD13800138000").unwrap().0, "13800138000");
        assert_eq!(keyword(KW)("td  ALL").unwrap().0, "ALL");
        assert_eq!(keyword(KW)("stop").unwrap(), ("", (EN, ())));
        assert!(keyword(KW)("TDX").is_err());
        assert!(keyword(KW)("STOPPED").is_err());
    }

    #[test]
    fn chinese_keywords_need_no_space() {
        const KW: &[Kw<()>] = &[("查询", ZH, ()), ("查", ZH, ())];
        assert_eq!(keyword(KW)("查13800138000").unwrap().0, "13800138000");
        assert_eq!(keyword(KW)("查询 138").unwrap().0, "138");
    }

    /// The readings of a glued target: each as (groups, the command with the space put in).
    fn readings(text: &str) -> Vec<(Vec<String>, Command)> {
        let text = normalize::normalize(text);
        let err = parse_normalized(&text, "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::MissingStatus, "{text}");
        glued_readings(&text, "86")
            .into_iter()
            .map(|r| {
                let names = r.groups.iter().map(|g| g.to_string()).collect();
                (names, r.parsed.command)
            })
            .collect()
    }

    /// The command `text` parses to.
    fn command_of(text: &str) -> Command {
        parse_normalized(&normalize::normalize(text), "86")
            .unwrap()
            .command
    }

    #[test]
    fn a_user_group_glued_to_its_status_is_read_apart_for_the_service_to_check() {
        // Longest name first; a shorter one (老同, 老) reads the rest as free text.
        assert_eq!(
            readings("状态 老同学忙"),
            [
                (vec!["老同学".into()], command_of("状态 老同学 忙")),
                (vec!["老同".into()], command_of("状态 老同 学忙")),
                (vec!["老".into()], command_of("状态 老 同学忙")),
            ]
        );
        assert_eq!(
            readings("状态老同学忙到5点")[0],
            (vec!["老同学".into()], command_of("状态 老同学 忙到5点"))
        );
        // Between two CJK characters the status may be free text: every name the text could
        // start with, longest first.
        assert_eq!(
            readings("状态 老同学在开会"),
            [
                (vec!["老同学在开".into()], command_of("状态 老同学在开 会")),
                (vec!["老同学在".into()], command_of("状态 老同学在 开会")),
                (vec!["老同学".into()], command_of("状态 老同学 在开会")),
                (vec!["老同".into()], command_of("状态 老同 学在开会")),
                (vec!["老".into()], command_of("状态 老 同学在开会")),
            ]
        );
        assert_eq!(
            readings("STATUS WORKBUSY"),
            [(vec!["WORK".into()], command_of("STATUS WORK BUSY"))]
        );
        // Latin letters take only a built-in status: `WORKOUT` is no group WORK, OUT.
        assert_eq!(readings("STATUS WORKOUT"), []);
        // Two glued targets name both groups.
        // Two glued targets name both groups (the first, 新同事开, takes 会 as free text).
        let both = readings("状态 老同学忙，新同事开会");
        assert_eq!(both.len(), 4, "{both:?}");
        assert_eq!(
            both[1],
            (
                vec!["老同学".into(), "新同事".into()],
                command_of("状态 老同学 忙，新同事 开会")
            )
        );
        // After free text with a comma, a glued word is the next assignment, not more text.
        let text = normalize::normalize("状态老同学 在开会，新同事开车");
        let e = parse_normalized(&text, "86").unwrap_err();
        assert!(
            matches!(e.kind, ParseErrorKind::CommaInText { .. }),
            "{e:?}"
        );
        let after_comma = glued_readings(&text, "86");
        assert!(
            after_comma.iter().all(|r| r.word == "新同事开车"),
            "{after_comma:?}"
        );
        // Longest name first (新同事开 with 车 as free text), then 新同事 with its status.
        let groups: Vec<String> = after_comma
            .iter()
            .map(|r| r.groups[0].to_string())
            .collect();
        assert_eq!(groups, ["新同事开", "新同事", "新同", "新"]);
        assert_eq!(
            after_comma[1].parsed.command,
            command_of("状态 老同学 在开会，新同事 开车")
        );
        let text = normalize::normalize("STATUS FAMILY at the gym, WORKBUSY");
        let after_comma = glued_readings(&text, "86");
        assert_eq!(after_comma.len(), 1, "{after_comma:?}");
        assert_eq!(
            after_comma[0].parsed.command,
            command_of("STATUS FAMILY at the gym, WORK BUSY")
        );
        // Text after the comma that no group could start: nothing to read.
        let text = normalize::normalize("STATUS FAMILY At lunch, back soon");
        assert!(glued_readings(&text, "86").is_empty());
        // `老同学忙 到5点` would still be 老同学忙 with no status: not a reading of 老同学忙.
        assert!(readings("状态 老同学忙到5点")
            .iter()
            .all(|(groups, _)| groups[0] != "老同学忙"));
    }

    #[test]
    fn expiry_pieces() {
        assert_eq!(en_expiry("FOR 2H").unwrap(), ("", RawExpiry::For(120)));
        assert_eq!(
            en_expiry("for 30 minutes").unwrap(),
            ("", RawExpiry::For(30))
        );
        assert_eq!(en_expiry("1d").unwrap(), ("", RawExpiry::For(1440)));
        assert!(en_expiry("2HX").is_err());
        assert_eq!(
            en_expiry("UNTIL 15:00").unwrap(),
            ("", RawExpiry::Until(15, 0))
        );
        assert!(clock("15:000").is_err());
        assert_eq!(zh_expiry("2小时后").unwrap(), ("", RawExpiry::For(120)));
        assert_eq!(zh_expiry("到9:05").unwrap(), ("", RawExpiry::Until(9, 5)));
        assert_eq!(
            zh_expiry("到15点半").unwrap(),
            ("", RawExpiry::Until(15, 30))
        );
        assert_eq!(
            number("999999999999999999999999999999").unwrap().1,
            u64::MAX
        );
    }

    /// The one assignment of a STATUS command: its status and expiry.
    fn one_assignment(text: &str) -> (StatusChange, Option<Expiry>) {
        match parse_normalized(text, "86") {
            Ok(Parsed {
                command: Command::StatusSet(list),
                ..
            }) if list.len() == 1 => (list[0].status.clone(), list[0].expiry),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn builtin(code: super::super::StatusCode) -> StatusChange {
        StatusChange::Set(StatusText::Builtin(code))
    }

    fn free(text: &str) -> StatusChange {
        StatusChange::Set(StatusText::Free(FreeText::try_from(text).unwrap()))
    }

    #[test]
    fn a_time_without_a_colon_is_the_same_expiry_as_with_one() {
        use super::super::StatusCode::{Busy, Driving, Meeting};
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        let either = |hour, minute| Some(Expiry::UntilEither { hour, minute });
        for (text, change, expiry) in [
            ("STATUS FAMILY BUSY UNTIL 1500", builtin(Busy), until(15, 0)),
            // An hour of 1 to 12 is on either half of the day (see the next test).
            ("STATUS FAMILY BUSY UNTIL 930", builtin(Busy), either(9, 30)),
            ("STATUS FAMILY BUSY UNTIL 0930", builtin(Busy), until(9, 30)),
            ("STATUS FAMILY BUSY UNTIL 15", builtin(Busy), until(15, 0)),
            ("STATUS FAMILY BUSY until 9", builtin(Busy), either(9, 0)),
            ("STATUS FAMILY BUSY UNTIL 0", builtin(Busy), until(0, 0)),
            (
                "STATUS FAMILY MEETING TILL 2359",
                builtin(Meeting),
                until(23, 59),
            ),
            ("STATUS FAMILY BUSY UNTIL1500", builtin(Busy), until(15, 0)),
            ("状态 家人 忙 到1500", builtin(Busy), until(15, 0)),
            ("状态 家人 忙到930", builtin(Busy), either(9, 30)),
            ("状态 家人 开车到15", builtin(Driving), until(15, 0)),
            ("状态 家人 开会 直到 1530", builtin(Meeting), until(15, 30)),
            // The colon form is unchanged.
            (
                "STATUS FAMILY BUSY UNTIL 15:00",
                builtin(Busy),
                until(15, 0),
            ),
            ("状态 家人 忙到15点", builtin(Busy), until(15, 0)),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
    }

    #[test]
    fn a_bare_hour_of_1_to_12_is_on_either_half_of_the_day() {
        use super::super::StatusCode::Busy;
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        let either = |hour, minute| Some(Expiry::UntilEither { hour, minute });
        for (text, expiry) in [
            ("STATUS FAMILY BUSY UNTIL 5", either(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 530", either(5, 30)),
            ("STATUS FAMILY BUSY UNTIL 12", either(12, 0)),
            ("STATUS FAMILY BUSY UNTIL 1", either(1, 0)),
            ("状态 家人 忙到5", either(5, 0)),
            ("状态 家人 忙到5点", either(5, 0)),
            ("状态 家人 忙到5点半", either(5, 30)),
            ("状态 家人 忙 直到 12点", either(12, 0)),
            // Explicit: a colon, a leading zero, an hour of 0 or 13 to 23, AM / PM, a part
            // of the day.
            ("STATUS FAMILY BUSY UNTIL 5:00", until(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 05:00", until(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 0500", until(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 05", until(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 17", until(17, 0)),
            ("STATUS FAMILY BUSY UNTIL 1730", until(17, 30)),
            // Four digits are the 24-hour notation.
            ("STATUS FAMILY BUSY UNTIL 1030", until(10, 30)),
            ("STATUS FAMILY BUSY UNTIL 1200", until(12, 0)),
            ("STATUS FAMILY BUSY UNTIL 0", until(0, 0)),
            ("STATUS FAMILY BUSY UNTIL 5AM", until(5, 0)),
            ("STATUS FAMILY BUSY UNTIL 5 PM", until(17, 0)),
            ("状态 家人 忙到05点", until(5, 0)),
            ("状态 家人 忙到5:00", until(5, 0)),
            ("状态 家人 忙到上午5点", until(5, 0)),
            ("状态 家人 忙到下午5点", until(17, 0)),
            ("状态 家人 忙到17点", until(17, 0)),
        ] {
            assert_eq!(one_assignment(text), (builtin(Busy), expiry), "{text}");
        }
        // Out of range as before.
        for text in [
            "STATUS FAMILY BUSY UNTIL 960",
            "STATUS FAMILY BUSY UNTIL 1260",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn free_text_with_until_or_dao_elsewhere_stays_text() {
        for (text, status) in [
            (
                "STATUS FAMILY Busy until the kids sleep",
                "Busy until the kids sleep",
            ),
            (
                "STATUS FAMILY wait until 5 then call",
                "wait until 5 then call",
            ),
            ("STATUS FAMILY Room 1500", "Room 1500"),
            ("STATUS FAMILY BUSY UNTIL 15000", "BUSY UNTIL 15000"),
            // After free text a time needs its colon (or its AM / PM): these are years, hours
            // of a working day, amounts.
            ("STATUS FAMILY Abroad until 2026", "Abroad until 2026"),
            ("STATUS FAMILY Working 9 till 5", "Working 9 till 5"),
            (
                "STATUS FAMILY At the gym UNTIL 1500",
                "At the gym UNTIL 1500",
            ),
            ("STATUS FAMILY Saving until 2500", "Saving until 2500"),
            ("状态 家人 在健身房 到1500", "在健身房 到1500"),
            // Glued to free text, `到` is part of a word.
            ("状态 家人 收到100", "收到100"),
            ("状态 家人 迟到10", "迟到10"),
        ] {
            assert_eq!(one_assignment(text), (free(status), None), "{text}");
        }
        // Quoted, anything goes.
        assert_eq!(
            one_assignment("STATUS FAMILY \"Saving until 2500\""),
            (free("Saving until 2500"), None)
        );
    }

    #[test]
    fn a_dotted_number_that_is_no_time_after_free_text_is_a_price_and_stays_text() {
        for text in [
            "STATUS FAMILY Sale UNTIL 19.99",
            "STATUS FAMILY Sale until 9.99",
            "STATUS FAMILY Half price UNTIL 25.00",
            "STATUS FAMILY Sale UNTIL 19.99!",
            "状态 家人 降价到19.99",
            "状态 家人 特价 到 5.60",
        ] {
            let body = text.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            assert_eq!(one_assignment(text), (free(&body), None), "{text}");
        }
        // One that is a time of day ends the text, as before.
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        for (text, status, expiry) in [
            (
                "STATUS FAMILY Lunch special UNTIL 12.50",
                "Lunch special",
                until(12, 50),
            ),
            ("状态 家人 午餐特价到12.50", "午餐特价", until(12, 50)),
        ] {
            assert_eq!(one_assignment(text), (free(status), expiry), "{text}");
        }
        // After a built-in status, with AM / PM or a part of the day, or with a colon it is
        // a time gone wrong, refused as before.
        for (text, bad) in [
            ("STATUS FAMILY BUSY UNTIL 19.99", "UNTIL 19.99"),
            ("状态 家人 忙到19.99", "到19.99"),
            ("STATUS FAMILY Sale UNTIL 19.99PM", "UNTIL 19.99PM"),
            ("状态 家人 特价到下午19.99", "到下午19.99"),
            ("STATUS FAMILY Sale UNTIL 25:00", "UNTIL 25:00"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
        }
    }

    #[test]
    fn a_time_without_a_colon_out_of_range_is_refused_like_25_00() {
        for (text, bad) in [
            ("STATUS FAMILY BUSY UNTIL 2500", "UNTIL 2500"),
            // 24:00 is midnight (see the next test), 24:01 no time.
            ("STATUS FAMILY BUSY UNTIL 2401", "UNTIL 2401"),
            ("STATUS FAMILY BUSY UNTIL 1260", "UNTIL 1260"),
            ("STATUS FAMILY BUSY UNTIL 960", "UNTIL 960"),
            ("STATUS FAMILY BUSY UNTIL 25", "UNTIL 25"),
            ("状态 家人 忙 到2500", "到2500"),
            ("状态 家人 忙到25", "到25"),
            // The colon form, for comparison.
            ("STATUS FAMILY BUSY UNTIL 25:00", "UNTIL 25:00"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
    }

    #[test]
    fn a_twelve_hour_time_and_a_chinese_part_of_the_day_are_read_as_24_hours() {
        use super::super::StatusCode::{Busy, Meeting};
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        for (text, change, expiry) in [
            ("STATUS FAMILY BUSY UNTIL 5PM", builtin(Busy), until(17, 0)),
            (
                "STATUS FAMILY BUSY UNTIL 5:30 pm",
                builtin(Busy),
                until(17, 30),
            ),
            (
                "STATUS FAMILY BUSY until 1130am",
                builtin(Busy),
                until(11, 30),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 11 a.m.",
                builtin(Busy),
                until(11, 0),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 5 p.m",
                builtin(Busy),
                until(17, 0),
            ),
            ("STATUS FAMILY BUSY UNTIL 5pm.", builtin(Busy), until(17, 0)),
            ("STATUS FAMILY BUSY UNTIL NOON", builtin(Busy), until(12, 0)),
            (
                "STATUS FAMILY BUSY until midnight",
                builtin(Busy),
                until(0, 0),
            ),
            (
                "STATUS FAMILY At lunch UNTIL NOON",
                free("At lunch"),
                until(12, 0),
            ),
            ("状态 家人 忙到中午", builtin(Busy), until(12, 0)),
            ("状态 家人 忙到午夜", builtin(Busy), until(0, 0)),
            ("STATUS FAMILY BUSY UNTIL 12AM", builtin(Busy), until(0, 0)),
            ("STATUS FAMILY BUSY UNTIL 12PM", builtin(Busy), until(12, 0)),
            (
                "STATUS FAMILY At the gym UNTIL 7 P.M.",
                free("At the gym"),
                until(19, 0),
            ),
            ("状态 家人 忙到下午5点", builtin(Busy), until(17, 0)),
            ("状态 家人 开会到晚上8:30", builtin(Meeting), until(20, 30)),
            ("状态 家人 忙到晚上12点", builtin(Busy), until(0, 0)),
            ("状态 家人 忙到晚上1点", builtin(Busy), until(1, 0)),
            ("状态 家人 忙到晚上6点", builtin(Busy), until(18, 0)),
            ("状态 家人 忙到中午3点", builtin(Busy), until(15, 0)),
            ("状态 家人 忙到中午1点", builtin(Busy), until(13, 0)),
            ("状态 家人 忙到中午12点", builtin(Busy), until(12, 0)),
            ("状态 家人 忙到凌晨12点", builtin(Busy), until(0, 0)),
            ("状态 家人 忙到上午10点半", builtin(Busy), until(10, 30)),
            ("状态 家人 忙到下午15点", builtin(Busy), until(15, 0)),
            (
                "状态 家人 在健身房 到傍晚6点",
                free("在健身房"),
                until(18, 0),
            ),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
        // Not a meridiem: the word goes on, so the expiry is not at the end and all is text.
        assert_eq!(
            one_assignment("STATUS FAMILY BUSY UNTIL 5 PMs"),
            (free("BUSY UNTIL 5 PMs"), None)
        );
        for (text, bad) in [
            ("STATUS FAMILY BUSY UNTIL 13PM", "UNTIL 13PM"),
            ("STATUS FAMILY BUSY UNTIL 0AM", "UNTIL 0AM"),
            ("STATUS FAMILY BUSY UNTIL 12:60 pm", "UNTIL 12:60 pm"),
            ("状态 家人 忙到下午0点", "到下午0点"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
        }
    }

    /// The doubts of a STATUS command, as (group, if_exists, kind, bad).
    fn doubts(text: &str) -> Vec<(String, bool, ParseErrorKind, String)> {
        let parsed = parse_normalized(text, "86").unwrap_or_else(|e| panic!("{text}: {e:?}"));
        parsed
            .doubts
            .into_iter()
            .map(|d| (d.group.to_string(), d.if_exists, d.error.kind, d.error.bad))
            .collect()
    }

    #[test]
    fn a_comma_left_out_before_a_built_in_target_is_refused_with_both_ways_out() {
        for (text, word, fixed) in [
            (
                "STATUS FAMILY BUSY UNTIL 5PM COLLEAGUES MEETING",
                "COLLEAGUES",
                "STATUS FAMILY BUSY UNTIL 5PM, COLLEAGUES MEETING",
            ),
            (
                "STATUS FAMILY FREE COLLEAGUES MEETING",
                "COLLEAGUES",
                "STATUS FAMILY FREE, COLLEAGUES MEETING",
            ),
            (
                "STATUS FAMILY FREE OTHERS BUSY FOR 2H",
                "OTHERS",
                "STATUS FAMILY FREE, OTHERS BUSY FOR 2H",
            ),
            (
                "STATUS FAMILY At the gym UNTIL 7PM ALL CLEAR",
                "ALL",
                "STATUS FAMILY At the gym UNTIL 7PM, ALL CLEAR",
            ),
            (
                "STATUS WORK DND COLLEAGUES FREE, FRIENDS BUSY",
                "COLLEAGUES",
                "STATUS WORK DND, COLLEAGUES FREE, FRIENDS BUSY",
            ),
            (
                "状态 家人 忙到5点 同事 开会",
                "同事",
                "状态 家人 忙到5点，同事 开会",
            ),
            (
                "状态 家人 空闲 同事开会",
                "同事开会",
                "状态 家人 空闲，同事开会",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::MissingComma {
                    fixed: Some(fixed.into()),
                    also_before: Vec::new(),
                },
                "{text}"
            );
            assert_eq!(err.bad, word, "{text}");
            assert_eq!(err.usage, HelpTopic::Status);
        }
        // The comma put in, it is two assignments.
        match parse_normalized("STATUS FAMILY BUSY UNTIL 5PM, COLLEAGUES MEETING", "86") {
            Ok(Parsed {
                command: Command::StatusSet(list),
                doubts,
                ..
            }) => assert!(list.len() == 2 && doubts.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_comma_left_out_before_a_user_group_is_a_doubt_and_free_text_stays_text() {
        let comma = |fixed: &str| ParseErrorKind::MissingComma {
            fixed: Some(fixed.into()),
            also_before: Vec::new(),
        };
        assert_eq!(
            doubts("STATUS FAMILY BUSY WORK MEETING"),
            [(
                "WORK".to_string(),
                true,
                comma("STATUS FAMILY BUSY, WORK MEETING"),
                "WORK".to_string()
            )]
        );
        // Text that goes on otherwise, or is quoted, is just text.
        for text in [
            "STATUS FAMILY Busy all day",
            "STATUS ALL BUSY ALL DAY",
            "STATUS FAMILY Free after lunch",
            "STATUS FAMILY Driving to work",
            "STATUS FAMILY BUSY WITH FAMILY",
            "STATUS FAMILY \"BUSY COLLEAGUES MEETING\"",
            "STATUS FAMILY Busy until the kids sleep",
            "STATUS FAMILY At lunch, COLLEAGUES MEETING",
        ] {
            assert_eq!(doubts(text), [], "{text}");
        }
        assert_eq!(
            one_assignment("STATUS FAMILY \"BUSY COLLEAGUES MEETING\""),
            (free("BUSY COLLEAGUES MEETING"), None)
        );
    }

    #[test]
    fn three_assignments_run_together_are_refused_with_every_comma_shown() {
        for (text, word, also, fixed) in [
            // From the finding: FAMILY would have seen the text "free COLLEAGUES in a ...".
            (
                "STATUS FAMILY free COLLEAGUES in a meeting OTHERS busy",
                "COLLEAGUES",
                &["OTHERS"][..],
                Some("STATUS FAMILY free, COLLEAGUES in a meeting, OTHERS busy"),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 5PM COLLEAGUES Lunch FRIENDS FREE",
                "COLLEAGUES",
                &["FRIENDS"][..],
                Some("STATUS FAMILY BUSY UNTIL 5PM, COLLEAGUES Lunch, FRIENDS FREE"),
            ),
            (
                "STATUS ALL FREE FAMILY BUSY FRIENDS OFF",
                "FAMILY",
                &["FRIENDS"][..],
                Some("STATUS ALL FREE, FAMILY BUSY, FRIENDS OFF"),
            ),
            (
                "STATUS ALL FREE FAMILY BUSY FRIENDS OFF OTHERS DND",
                "FAMILY",
                &["FRIENDS", "OTHERS"][..],
                Some("STATUS ALL FREE, FAMILY BUSY, FRIENDS OFF, OTHERS DND"),
            ),
            (
                "状态 家人 空闲 同事 在开会 其他 忙",
                "同事",
                &["其他"][..],
                Some("状态 家人 空闲，同事 在开会，其他 忙"),
            ),
            // Too long to quote back: the words alone.
            (
                "STATUS FAMILY free COLLEAGUES in a long meeting today OTHERS busy",
                "COLLEAGUES",
                &["OTHERS"][..],
                None,
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::MissingComma {
                    fixed: fixed.map(str::to_string),
                    also_before: also.iter().map(|w| w.to_string()).collect(),
                },
                "{text}"
            );
            assert_eq!(err.bad, word, "{text}");
            assert_eq!(err.usage, HelpTopic::Status);
        }
        // The commas put in, they are three assignments.
        match parse_normalized(
            "STATUS FAMILY free, COLLEAGUES in a meeting, OTHERS busy",
            "86",
        ) {
            Ok(Parsed {
                command: Command::StatusSet(list),
                doubts,
                ..
            }) => assert!(list.len() == 3 && doubts.is_empty(), "{list:?}"),
            other => panic!("{other:?}"),
        }
        // A group of the subscriber's own among them: asked about only if they have it.
        assert_eq!(
            doubts("STATUS FAMILY free WORK in a meeting OTHERS busy"),
            [(
                "WORK".to_string(),
                true,
                ParseErrorKind::MissingComma {
                    fixed: Some("STATUS FAMILY free, WORK in a meeting, OTHERS busy".into()),
                    also_before: vec!["OTHERS".into()],
                },
                "WORK".to_string()
            )]
        );
    }

    #[test]
    fn assignments_run_together_that_split_two_ways_are_asked_about_without_a_guess() {
        // Each reads: a comma before FRIENDS (FAMILY "Out FOR 1H", FRIENDS "OTHERS
        // MEETING"), or before OTHERS (FAMILY "Out FOR 1H FRIENDS", OTHERS MEETING); no
        // comma offered, every word one may go before named.
        for (text, word, or_before) in [
            (
                "STATUS COLLEAGUES BUSY FAMILY Out FOR 1H FRIENDS OTHERS MEETING",
                "FAMILY",
                &["FRIENDS", "OTHERS"][..],
            ),
            (
                "状态 全部 忙 家人 空闲 朋友 其他 开会",
                "家人",
                &["朋友", "其他"][..],
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::UnclearCommas {
                    or_before: or_before.iter().map(|w| w.to_string()).collect(),
                },
                "{text}"
            );
            assert_eq!(err.bad, word, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
        // One split that reads, and splits with fewer commas inside it: offered, as before.
        let err = parse_normalized("STATUS ALL FREE FAMILY BUSY FRIENDS OFF OTHERS DND", "86")
            .unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::MissingComma { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_group_word_inside_a_text_that_reads_as_one_stays_text() {
        // Nothing after the group word, or a phrase that goes on through it: one text.
        for text in [
            "STATUS OTHERS with family",
            "STATUS OTHERS Dinner with family tonight",
            "STATUS COLLEAGUES In a family meeting",
            "STATUS COLLEAGUES Weekly family meeting",
            "STATUS FRIENDS Busy family dinner tonight",
            "STATUS FAMILY Free after the colleagues meeting",
            "STATUS FAMILY Out with friends all day",
            "STATUS FAMILY Busy all day all night",
            "STATUS FRIENDS free family time others welcome",
            "状态 其他 陪 家人 开会",
        ] {
            let body = text.splitn(3, ' ').nth(2).unwrap();
            assert_eq!(one_assignment(text), (free(body), None), "{text}");
            assert_eq!(doubts(text), [], "{text}");
        }
    }

    #[test]
    fn a_comma_inside_free_text_asks_for_quotes() {
        let quoted = |fixed: &str| ParseErrorKind::CommaInText {
            fixed: Some(fixed.into()),
        };
        // What follows the comma is no assignment: refused here.
        for (text, fixed, bad) in [
            (
                "STATUS FAMILY At lunch, back",
                "STATUS FAMILY \"At lunch, back\"",
                "At lunch, back",
            ),
            (
                "STATUS FAMILY At lunch, 2 mins",
                "STATUS FAMILY \"At lunch, 2 mins\"",
                "At lunch, 2 mins",
            ),
            (
                "STATUS FAMILY Sorry, busy",
                "STATUS FAMILY \"Sorry, busy\"",
                "Sorry, busy",
            ),
            (
                "STATUS FAMILY At lunch, back soon, promise",
                "STATUS FAMILY \"At lunch, back soon, promise\"",
                "At lunch, back soon, promise",
            ),
            (
                "状态 家人 在吃饭,马上",
                "状态 家人 \"在吃饭,马上\"",
                "在吃饭,马上",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, quoted(fixed), "{text}");
            assert_eq!(err.bad, bad, "{text}");
        }
        // It reads as an assignment to a user group: the service decides (if there is no such
        // group, it was text).
        assert_eq!(
            doubts("STATUS FAMILY At lunch, back soon"),
            [(
                "BACK".to_string(),
                false,
                quoted("STATUS FAMILY \"At lunch, back soon\""),
                "At lunch, back soon".to_string()
            )]
        );
        assert_eq!(
            doubts("STATUS FAMILY At lunch, back soon, COLLEAGUES BUSY"),
            [(
                "BACK".to_string(),
                false,
                quoted("STATUS FAMILY \"At lunch, back soon\", COLLEAGUES BUSY"),
                "At lunch, back soon".to_string()
            )]
        );
        // Not after free text, after a quoted one, after an expiry, or before a built-in
        // target: a separator as ever.
        for text in [
            "STATUS FAMILY BUSY, WORK in a meeting",
            "STATUS FAMILY \"At lunch\", WORK back soon",
            "STATUS FAMILY At lunch UNTIL 2PM, WORK back soon",
            "STATUS FAMILY At lunch, FRIENDS back soon",
        ] {
            assert_eq!(doubts(text), [], "{text}");
        }
        for text in [
            "STATUS FAMILY BUSY, back",
            "STATUS FAMILY At lunch, FRIENDS",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::MissingStatus, "{text}");
        }
    }

    #[test]
    fn the_quotes_offered_keep_an_expiry_outside_and_take_every_part_of_the_text() {
        let quoted = |fixed: Option<&str>| ParseErrorKind::CommaInText {
            fixed: fixed.map(str::to_string),
        };
        for (text, fixed, bad) in [
            // The expiry stays outside the quotes (inside, it would be text, and the status
            // would never end).
            (
                "STATUS FAMILY At lunch, back UNTIL 5PM",
                Some("STATUS FAMILY \"At lunch, back\" UNTIL 5PM"),
                "At lunch, back",
            ),
            (
                "状态 家人 在吃饭,马上回来到5点",
                Some("状态 家人 \"在吃饭,马上回来\"到5点"),
                "在吃饭,马上回来",
            ),
            // Every later part that is no clear assignment is the same text.
            (
                "STATUS FAMILY At lunch, back, soon",
                Some("STATUS FAMILY \"At lunch, back, soon\""),
                "At lunch, back, soon",
            ),
            (
                "STATUS FAMILY Sorry, busy, call me later",
                Some("STATUS FAMILY \"Sorry, busy, call me later\""),
                "Sorry, busy, call me later",
            ),
            (
                "STATUS FAMILY Sorry, busy, COLLEAGUES MEETING",
                Some("STATUS FAMILY \"Sorry, busy\", COLLEAGUES MEETING"),
                "Sorry, busy",
            ),
            // Quotes of its own: no command offered (it would not parse).
            (
                "STATUS FAMILY At \"lunch\", back",
                None,
                "At \"lunch\", back",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, quoted(fixed), "{text}");
            assert_eq!(err.bad, bad, "{text}");
            // What is offered reads as the subscriber meant it.
            if let Some(fixed) = fixed {
                let parsed =
                    parse_normalized(fixed, "86").unwrap_or_else(|e| panic!("{fixed}: {e:?}"));
                assert!(parsed.doubts.is_empty(), "{fixed}");
            }
        }
        assert_eq!(
            doubts("STATUS FAMILY At lunch, back soon UNTIL 5PM"),
            [(
                "BACK".to_string(),
                false,
                quoted(Some("STATUS FAMILY \"At lunch, back soon\" UNTIL 5PM")),
                "At lunch, back soon".to_string()
            )]
        );
        let (_, expiry) = one_assignment("STATUS FAMILY \"At lunch, back\" UNTIL 5PM");
        assert_eq!(
            expiry,
            Some(Expiry::Until {
                hour: 17,
                minute: 0
            })
        );
    }

    #[test]
    fn an_expiry_without_a_space_never_starts_inside_a_number_or_a_duration() {
        // `1.5小时` was once read as the text `忙 1.` until 5 hours on; `1小时30分钟` as
        // `忙 1小时` for 30 minutes. Whole durations are now read from their start (see
        // `durations_in_parts_with_fractions_and_in_chinese_numerals`); what is still no
        // duration stays text, with no expiry read out of its end (no expiry is better than
        // a wrong one).
        for text in [
            "状态 朋友 忙 1/2小时",
            "状态 朋友 忙 1-2小时",
            "状态 朋友 忙 1.5.5小时",
            "状态 朋友 上班第一天",
            "状态 朋友 上班第1天",
            "状态 朋友 忙 十一二十分钟",
            "STATUS FRIENDS Gym 1/2小时",
            // `一点` is also "a little": I'll be a bit late.
            "状态 朋友 我会晚到一点",
            "状态 朋友 晚到一点",
        ] {
            let (change, expiry) = one_assignment(text);
            let body = text.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            assert_eq!(
                change,
                StatusChange::Set(StatusText::Free(FreeText::try_from(body.as_str()).unwrap())),
                "{text}"
            );
            assert_eq!(expiry, None, "{text}");
        }
        // Where an expiry does begin, it still ends the status.
        for (text, expiry) in [
            (
                "状态 朋友 忙2小时",
                Expiry::For(std::time::Duration::from_secs(7200)),
            ),
            (
                "状态 朋友 在健身房2小时",
                Expiry::For(std::time::Duration::from_secs(7200)),
            ),
            (
                "状态 朋友 在健身房到5点",
                Expiry::UntilEither { hour: 5, minute: 0 },
            ),
            (
                "状态 朋友 第3节课到5点",
                Expiry::UntilEither { hour: 5, minute: 0 },
            ),
            // One o'clock said so that it is no "a little".
            (
                "状态 朋友 在健身房到一点半",
                Expiry::UntilEither {
                    hour: 1,
                    minute: 30,
                },
            ),
            (
                "状态 朋友 在健身房到一点钟",
                Expiry::UntilEither { hour: 1, minute: 0 },
            ),
            (
                "状态 朋友 在健身房到一点十分",
                Expiry::UntilEither {
                    hour: 1,
                    minute: 10,
                },
            ),
            (
                "状态 朋友 在健身房到下午一点",
                Expiry::Until {
                    hour: 13,
                    minute: 0,
                },
            ),
            (
                "状态 朋友 在健身房到1点",
                Expiry::UntilEither { hour: 1, minute: 0 },
            ),
            // After a built-in status `到一点` is the time.
            (
                "状态 朋友 忙到一点",
                Expiry::UntilEither { hour: 1, minute: 0 },
            ),
        ] {
            assert_eq!(one_assignment(text).1, Some(expiry), "{text}");
        }
    }

    fn minutes(n: u64) -> Option<Expiry> {
        Some(Expiry::For(std::time::Duration::from_secs(n * 60)))
    }

    #[test]
    fn durations_in_parts_with_fractions_and_in_chinese_numerals() {
        use super::super::StatusCode::{Busy, Driving, Meeting};
        for (text, change, expiry) in [
            // English: parts in smaller and smaller units, spaced or not.
            ("STATUS FAMILY BUSY FOR 1H30M", builtin(Busy), minutes(90)),
            ("STATUS FAMILY BUSY FOR 1H 30M", builtin(Busy), minutes(90)),
            (
                "STATUS FAMILY BUSY FOR 1 HOUR 30 MIN",
                builtin(Busy),
                minutes(90),
            ),
            (
                "STATUS FAMILY BUSY for 1 hour and 30 minutes",
                builtin(Busy),
                minutes(90),
            ),
            ("STATUS FAMILY BUSY FOR 1D 2H", builtin(Busy), minutes(1560)),
            ("STATUS FAMILY BUSY 1H30M", builtin(Busy), minutes(90)),
            // A fraction that comes to whole minutes.
            ("STATUS FAMILY BUSY FOR 1.5H", builtin(Busy), minutes(90)),
            ("STATUS FAMILY BUSY FOR 0.5H", builtin(Busy), minutes(30)),
            ("STATUS FAMILY BUSY FOR 2.5D", builtin(Busy), minutes(3600)),
            (
                "STATUS FAMILY BUSY FOR 1.5 HOURS",
                builtin(Busy),
                minutes(90),
            ),
            ("STATUS FAMILY BUSY FOR 1.25H", builtin(Busy), minutes(75)),
            ("STATUS FAMILY BUSY FOR 1.0H", builtin(Busy), minutes(60)),
            ("STATUS FAMILY BUSY 1.5H", builtin(Busy), minutes(90)),
            (
                "STATUS FAMILY At the gym FOR 1H30M",
                free("At the gym"),
                minutes(90),
            ),
            (
                "STATUS FAMILY At the gym FOR 1.5H",
                free("At the gym"),
                minutes(90),
            ),
            // Chinese: halves, quarters, numerals, parts.
            ("状态 家人 忙 半小时", builtin(Busy), minutes(30)),
            ("状态 家人 忙半个小时", builtin(Busy), minutes(30)),
            ("状态 家人 开车 一个半小时", builtin(Driving), minutes(90)),
            ("状态 家人 开车1个半小时", builtin(Driving), minutes(90)),
            ("状态 家人 开车 两个半钟头", builtin(Driving), minutes(150)),
            ("状态 家人 忙 1小时半", builtin(Busy), minutes(90)),
            ("状态 家人 忙 1.5小时", builtin(Busy), minutes(90)),
            ("状态 家人 忙1.5小时", builtin(Busy), minutes(90)),
            ("状态 家人 开会 0.5小时", builtin(Meeting), minutes(30)),
            ("状态 家人 忙 2.5天", builtin(Busy), minutes(3600)),
            ("状态 家人 开车 两小时", builtin(Driving), minutes(120)),
            ("状态 家人 开车两个小时", builtin(Driving), minutes(120)),
            ("状态 家人 忙 二十分钟", builtin(Busy), minutes(20)),
            ("状态 家人 忙十分钟", builtin(Busy), minutes(10)),
            ("状态 家人 忙 十五分钟", builtin(Busy), minutes(15)),
            ("状态 家人 忙 三十五分钟", builtin(Busy), minutes(35)),
            ("状态 家人 忙 九十九分", builtin(Busy), minutes(99)),
            ("状态 家人 忙 一天", builtin(Busy), minutes(1440)),
            ("状态 家人 忙 三天", builtin(Busy), minutes(4320)),
            ("状态 家人 忙 一天半", builtin(Busy), minutes(2160)),
            ("状态 家人 忙 1小时30分钟", builtin(Busy), minutes(90)),
            ("状态 家人 忙 1小时30分", builtin(Busy), minutes(90)),
            ("状态 家人 忙 一小时三十分钟", builtin(Busy), minutes(90)),
            ("状态 家人 忙 1小时零5分", builtin(Busy), minutes(65)),
            ("状态 家人 忙 1天 2小时", builtin(Busy), minutes(1560)),
            ("状态 家人 开会 一刻钟", builtin(Meeting), minutes(15)),
            ("状态 家人 开会三刻钟", builtin(Meeting), minutes(45)),
            ("状态 家人 忙两小时后", builtin(Busy), minutes(120)),
            ("状态 朋友 Gym 1.5小时", free("Gym"), minutes(90)),
            (
                "状态 家人 在健身房一个半小时",
                free("在健身房"),
                minutes(90),
            ),
            ("状态 家人 在健身房 二十分钟", free("在健身房"), minutes(20)),
            ("状态 家人 忙 0.5天", builtin(Busy), minutes(720)),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
        // After free text the short `分` is a score as before, in numerals too; `半天` ("a long
        // while": `忙了半天`, busy for ages) is no duration.
        for text in [
            "状态 家人 考了九十分",
            "状态 家人 考了90分",
            "状态 家人 忙了半天",
            "状态 家人 等了半天",
            "状态 家人 等了 半天",
        ] {
            let body = text.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            assert_eq!(one_assignment(text), (free(&body), None), "{text}");
        }
    }

    #[test]
    fn half_a_day_after_a_built_in_status_is_refused_and_after_text_is_text() {
        // `半天` says no definite length (a while, a morning): never read as 12 hours, nor
        // sent as a lasting text after a built-in status; the reply shows the forms.
        for (text, bad) in [
            ("状态 同事 开会 半天", "半天"),
            ("状态 家人 忙半天", "半天"),
            ("状态 家人 忙碌 半天。", "半天"),
            ("状态 家人 开车半天后", "半天后"),
            ("状态 家人 清除 半天", "半天"),
            ("STATUS FAMILY BUSY 半天", "半天"),
            ("状态 家人 空闲，同事 开会半天", "半天"),
        ] {
            let err = parse_normalized(&normalize::normalize(text), "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::VagueExpiry, "{text}: {err:?}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
        assert_eq!(
            parse_normalized("状态 同事 开会 半天", "86")
                .unwrap_err()
                .lang_hint,
            ZH
        );
        // After free text it is text, as before ("a long while").
        for text in [
            "状态 家人 忙了半天",
            "状态 家人 等了半天",
            "状态 家人 等了 半天",
            "状态 家人 \"开会 半天\"",
        ] {
            assert!(
                matches!(
                    one_assignment(text),
                    (StatusChange::Set(StatusText::Free(_)), None)
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn chinese_numerals_of_a_hundred_and_more_are_durations_too() {
        use super::super::StatusCode::{Busy, Driving, Meeting};
        for (text, change, expiry) in [
            ("状态 家人 忙一百二十分钟", builtin(Busy), minutes(120)),
            ("状态 家人 开会一百分钟", builtin(Meeting), minutes(100)),
            ("状态 家人 忙两百分钟", builtin(Busy), minutes(200)),
            ("状态 家人 忙 二百分钟", builtin(Busy), minutes(200)),
            ("状态 家人 忙一百零五分钟", builtin(Busy), minutes(105)),
            ("状态 家人 忙 一百〇五分钟", builtin(Busy), minutes(105)),
            ("状态 家人 忙 一百一十分钟", builtin(Busy), minutes(110)),
            (
                "状态 家人 开车 三百四十五分钟",
                builtin(Driving),
                minutes(345),
            ),
            ("状态 家人 忙 一百分", builtin(Busy), minutes(100)),
            ("状态 家人 忙 一百二十个小时", builtin(Busy), minutes(7200)),
            (
                "状态 家人 忙 一百小时三十分钟",
                builtin(Busy),
                minutes(6030),
            ),
            // 30 days, the longest expiry.
            ("状态 家人 忙 七百二十小时", builtin(Busy), minutes(43200)),
            (
                "状态 家人 在健身房一百二十分钟",
                free("在健身房"),
                minutes(120),
            ),
            (
                "状态 家人 在健身房 两百分钟",
                free("在健身房"),
                minutes(200),
            ),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
        // Too long, as `九十九天`.
        for (text, bad) in [
            ("状态 家人 忙 七百二十一小时", "七百二十一小时"),
            ("状态 家人 忙 九百九十九天", "九百九十九天"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(
                    err.kind,
                    ParseErrorKind::Value(ValueError::BadDuration { .. })
                ),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
        }
        // The spoken short `一百五`, forms no one writes and a thousand stay text, with no
        // expiry read out of their end (`五分钟`, `二百分钟`); so do a score of a hundred after
        // free text and `百` alone.
        for text in [
            "状态 家人 忙一百五分钟",
            "状态 家人 忙一百十分钟",
            "状态 家人 忙一百零分钟",
            "状态 家人 忙一千二百分钟",
            "状态 家人 考了一百分",
            "状态 家人 忙 百分钟",
        ] {
            let body = text.split(' ').skip(2).collect::<Vec<_>>().join(" ");
            assert_eq!(one_assignment(text), (free(&body), None), "{text}");
        }
        assert_eq!(zh_count("九百九十九").unwrap(), ("", 999));
        assert_eq!(zh_count("两百零五").unwrap(), ("", 205));
        assert!(zh_hundreds("零百").is_err());
    }

    #[test]
    fn a_duration_that_is_no_whole_minutes_or_too_long_is_refused() {
        for (text, bad, part_minute) in [
            ("STATUS FAMILY BUSY FOR 1.33333H", "FOR 1.33333H", true),
            ("STATUS FAMILY BUSY FOR 1.5M", "FOR 1.5M", true),
            ("状态 家人 忙 0.01天", "0.01天", true),
            (
                "STATUS FAMILY BUSY FOR 0.0000000000000000000000001H",
                "FOR 0.0000000000000000000000001H",
                true,
            ),
            ("STATUS FAMILY BUSY FOR 30D 1M", "FOR 30D 1M", false),
            ("STATUS FAMILY BUSY FOR 30.5D", "FOR 30.5D", false),
            (
                "STATUS FAMILY BUSY FOR 99999999999999999999D 99999999999999999999H",
                "FOR 99999999999999999999D 99999999999999999999H",
                false,
            ),
            (
                "STATUS FAMILY BUSY FOR 99999999999999999999.5H",
                "FOR 99999999999999999999.5H",
                false,
            ),
            ("状态 家人 忙 九十九天", "九十九天", false),
            ("状态 家人 忙 零分钟", "零分钟", false),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            let expected = if part_minute {
                matches!(
                    err.kind,
                    ParseErrorKind::Value(ValueError::PartMinute { .. })
                )
            } else {
                matches!(
                    err.kind,
                    ParseErrorKind::Value(ValueError::BadDuration { .. })
                )
            };
            assert!(expected, "{text}: {err:?}");
            assert_eq!(err.bad, bad, "{text}");
        }
        // The largest is still 30 days.
        assert_eq!(
            one_assignment("STATUS FAMILY BUSY FOR 29D 23H 60M").1,
            minutes(30 * 1440)
        );
    }

    #[test]
    fn a_dotted_time_a_short_meridiem_and_chinese_numeral_hours() {
        use super::super::StatusCode::Busy;
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        let either = |hour, minute| Some(Expiry::UntilEither { hour, minute });
        for (text, change, expiry) in [
            // `5.30` is `5:30` (an explicit time, as the colon form).
            ("STATUS FAMILY BUSY UNTIL 5.30", builtin(Busy), until(5, 30)),
            ("STATUS FAMILY BUSY UNTIL 5:30", builtin(Busy), until(5, 30)),
            (
                "STATUS FAMILY BUSY UNTIL 17.30",
                builtin(Busy),
                until(17, 30),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 5.30PM",
                builtin(Busy),
                until(17, 30),
            ),
            ("状态 家人 忙到5.30", builtin(Busy), until(5, 30)),
            (
                "STATUS FAMILY At the gym UNTIL 5.30",
                free("At the gym"),
                until(5, 30),
            ),
            // AM / PM by its first letter, right after the time.
            ("STATUS FAMILY BUSY UNTIL 5p", builtin(Busy), until(17, 0)),
            ("STATUS FAMILY BUSY UNTIL 5P", builtin(Busy), until(17, 0)),
            ("STATUS FAMILY BUSY UNTIL 11a", builtin(Busy), until(11, 0)),
            (
                "STATUS FAMILY BUSY UNTIL 530p",
                builtin(Busy),
                until(17, 30),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 5.30p.",
                builtin(Busy),
                until(17, 30),
            ),
            (
                "STATUS FAMILY BUSY UNTIL 5:30 P.M.",
                builtin(Busy),
                until(17, 30),
            ),
            (
                "STATUS FAMILY At the gym UNTIL 7p",
                free("At the gym"),
                until(19, 0),
            ),
            // Chinese numeral hours, with the rules of digits.
            ("状态 家人 忙到五点", builtin(Busy), either(5, 0)),
            ("状态 家人 忙到五点半", builtin(Busy), either(5, 30)),
            ("状态 家人 忙到五点钟", builtin(Busy), either(5, 0)),
            ("状态 家人 忙到5点钟", builtin(Busy), either(5, 0)),
            ("状态 家人 忙 到两点", builtin(Busy), either(2, 0)),
            ("状态 家人 忙到十二点", builtin(Busy), either(12, 0)),
            ("状态 家人 忙到五点一刻", builtin(Busy), either(5, 15)),
            ("状态 家人 忙到五点三刻", builtin(Busy), either(5, 45)),
            ("状态 家人 忙到五点零五分", builtin(Busy), either(5, 5)),
            ("状态 家人 忙到五点二十", builtin(Busy), either(5, 20)),
            ("状态 家人 忙到十七点", builtin(Busy), until(17, 0)),
            ("状态 家人 忙到零点", builtin(Busy), until(0, 0)),
            ("状态 家人 忙到下午三点", builtin(Busy), until(15, 0)),
            ("状态 家人 忙到下午三点二十分", builtin(Busy), until(15, 20)),
            ("状态 家人 忙到晚上八点半", builtin(Busy), until(20, 30)),
            (
                "状态 家人 在健身房 到下午五点",
                free("在健身房"),
                until(17, 0),
            ),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
        // A lone letter after a space is no meridiem; nor is one that goes on.
        for text in [
            "STATUS FAMILY BUSY UNTIL 5 p",
            "STATUS FAMILY BUSY UNTIL 5pa",
        ] {
            assert!(
                !matches!(
                    parse_normalized(text, "86"),
                    Ok(Parsed { command: Command::StatusSet(ref l), .. })
                        if l[0].expiry.is_some()
                ),
                "{text}"
            );
        }
        for (text, bad) in [
            ("STATUS FAMILY BUSY UNTIL 25.00", "UNTIL 25.00"),
            ("STATUS FAMILY BUSY UNTIL 5.60", "UNTIL 5.60"),
            ("状态 家人 忙到二十五点", "到二十五点"),
            ("状态 家人 忙到下午零点", "到下午零点"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
        }
    }

    #[test]
    fn a_built_in_status_with_an_expiry_gone_wrong_is_refused_not_sent_as_text() {
        for (text, bad) in [
            ("STATUS FAMILY BUSY UNTIL 5 30", "UNTIL 5 30"),
            ("STATUS FAMILY BUSY FOR 5X", "FOR 5X"),
            ("STATUS FAMILY BUSY FOR 90", "FOR 90"),
            ("STATUS FAMILY BUSY FOR 1H 30", "FOR 1H 30"),
            ("STATUS FAMILY busy until 5.3", "until 5.3"),
            ("STATUS FAMILY DO NOT DISTURB TILL 5 p", "TILL 5 p"),
            ("STATUS FAMILY CLEAR FOR 2 H X", "FOR 2 H X"),
            (
                "STATUS FAMILY BUSY UNTIL 5 30, COLLEAGUES FREE",
                "UNTIL 5 30",
            ),
            ("STATUS FAMILY FREE, COLLEAGUES BUSY FOR 5X", "FOR 5X"),
            ("状态 家人 忙到5点多", "到5点多"),
            ("状态 家人 忙到五点多", "到五点多"),
            ("状态 家人 开会 到 5x", "到 5x"),
            ("状态 家人 忙碌直到5点多", "直到5点多"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::BadExpiry, "{text}: {err:?}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
        // Text that goes on in words, a long number, no built-in status, quotes: text as ever.
        for (text, status) in [
            ("STATUS FAMILY BUSY UNTIL 15000", "BUSY UNTIL 15000"),
            ("STATUS FAMILY BUSY UNTIL 5 PMs", "BUSY UNTIL 5 PMs"),
            (
                "STATUS FAMILY BUSY FOR 2 MORE HOURS",
                "BUSY FOR 2 MORE HOURS",
            ),
            (
                "STATUS FAMILY BUSY FOR 2H WITH KIDS",
                "BUSY FOR 2H WITH KIDS",
            ),
            ("STATUS FAMILY Gym UNTIL 5 30", "Gym UNTIL 5 30"),
            ("STATUS FAMILY FREEDOM FOR 5X", "FREEDOM FOR 5X"),
            ("STATUS FAMILY \"BUSY UNTIL 5 30\"", "BUSY UNTIL 5 30"),
            ("状态 家人 收到100", "收到100"),
            ("状态 家人 开车到一个地方", "开车到一个地方"),
            // Places and words after 到 / FOR are no times gone wrong (from the review).
            ("状态 家人 开车到2号航站楼", "开车到2号航站楼"),
            ("状态 家人 开会到3楼", "开会到3楼"),
            ("STATUS FAMILY FREE FOR 1 ON 1", "FREE FOR 1 ON 1"),
            ("STATUS FAMILY BUSY FOR 2 OR 3", "BUSY FOR 2 OR 3"),
        ] {
            assert_eq!(one_assignment(text), (free(status), None), "{text}");
        }
        // The comma left out is still asked about, and a user group still left to the service.
        let err =
            parse_normalized("STATUS FAMILY BUSY UNTIL 5PM COLLEAGUES MEETING", "86").unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::MissingComma { .. }),
            "{err:?}"
        );
        assert_eq!(doubts("STATUS FAMILY BUSY UNTIL 5PM WORK MEETING").len(), 1);
        // Also when what follows the keyword could pass for a time gone wrong.
        let err = parse_normalized("状态 家人 忙到5点 同事 开会", "86").unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::MissingComma { .. }),
            "{err:?}"
        );
        assert_eq!(doubts("状态 家人 忙到5点 篮球 忙").len(), 1);
    }

    #[test]
    fn the_gateways_own_reply_forms_and_common_spellings_read_back_as_expiries() {
        use super::super::StatusCode::{Busy, Free};
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        let tomorrow = |hour, minute| Some(Expiry::UntilTomorrow { hour, minute });
        for (text, change, expiry) in [
            // What the confirmations say, copied back.
            (
                "status friends busy until tomorrow 09:00",
                builtin(Busy),
                tomorrow(9, 0),
            ),
            (
                "status family busy until 3pm today",
                builtin(Busy),
                until(15, 0),
            ),
            (
                "status family busy until 15:00 today",
                builtin(Busy),
                until(15, 0),
            ),
            (
                "status family free until 8:00am tomorrow",
                builtin(Free),
                tomorrow(8, 0),
            ),
            (
                "status family busy until tomorrow 0900",
                builtin(Busy),
                tomorrow(9, 0),
            ),
            // Spellings of UNTIL, and TO after a built-in status.
            ("status family busy til 15:00", builtin(Busy), until(15, 0)),
            ("status family busy till 15:00", builtin(Busy), until(15, 0)),
            (
                "status family busy untill 15:00",
                builtin(Busy),
                until(15, 0),
            ),
            ("status family busy to 15:00", builtin(Busy), until(15, 0)),
            ("status family busy to 5pm", builtin(Busy), until(17, 0)),
            // Durations in words.
            ("status family busy for an hour", builtin(Busy), minutes(60)),
            ("status family busy for a day", builtin(Busy), minutes(1440)),
            (
                "status family busy for two hours",
                builtin(Busy),
                minutes(120),
            ),
            (
                "status family busy for half an hour",
                builtin(Busy),
                minutes(30),
            ),
            (
                "status family busy for ten minutes",
                builtin(Busy),
                minutes(10),
            ),
            (
                "status family busy for an hour and a half",
                builtin(Busy),
                minutes(90),
            ),
            ("status family busy for 2h30", builtin(Busy), minutes(150)),
            ("status family busy 2h30", builtin(Busy), minutes(150)),
            // 24:00 is the midnight that ends the day.
            ("status family busy until 24:00", builtin(Busy), until(0, 0)),
            ("status family busy until 2400", builtin(Busy), until(0, 0)),
            ("status family busy until 24", builtin(Busy), until(0, 0)),
            ("状态 家人 忙到24点", builtin(Busy), until(0, 0)),
            ("状态 家人 忙到24", builtin(Busy), until(0, 0)),
            // Chinese: 至 as the replies write it, 明天, spaces from T9 handsets, 個.
            ("状态 家人 忙 至15:00", builtin(Busy), until(15, 0)),
            ("状态 家人 忙至15:00", builtin(Busy), until(15, 0)),
            ("状态 家人 忙 到明天09:00", builtin(Busy), tomorrow(9, 0)),
            ("状态 家人 忙 至明天09:00", builtin(Busy), tomorrow(9, 0)),
            (
                "状态 家人 忙 到明天 下午 三点",
                builtin(Busy),
                tomorrow(15, 0),
            ),
            ("状态 家人 忙 到 下午 三点", builtin(Busy), until(15, 0)),
            ("状态 家人 忙 到下午三点", builtin(Busy), until(15, 0)),
            ("状态 家人 忙 到今天下午5点", builtin(Busy), until(17, 0)),
            ("状态 家人 忙 2個小時", builtin(Busy), minutes(120)),
            ("状态 家人 忙 2个小時", builtin(Busy), minutes(120)),
            ("状态 家人 忙 30分鐘", builtin(Busy), minutes(30)),
            // After free text the same forms end it (they say they are times).
            ("status family Lunch til 15:00", free("Lunch"), until(15, 0)),
            (
                "status family In Beijing until tomorrow 09:00",
                free("In Beijing"),
                tomorrow(9, 0),
            ),
            ("status family Gone for an hour", free("Gone"), minutes(60)),
            ("状态 家人 出差至明天09:00", free("出差"), tomorrow(9, 0)),
        ] {
            assert_eq!(one_assignment(text), (change, expiry), "{text}");
        }
        // Text stays text: TO after free text, a bare hour after free text, words after FOR.
        for text in [
            "Went to Beijing",
            "Went to 15:00 class",
            "Went to 15:00",
            "FREE TO TALK",
            "Free for today",
            "Working 9 til 5",
            "Free for a while",
            "推迟到明天",
            "Busy tomorrow",
            "Driving to 2nd street",
        ] {
            let command = format!("STATUS FAMILY {text}");
            assert_eq!(one_assignment(&command), (free(text), None), "{command}");
        }
        let err = parse_normalized("status family busy until 24:01", "86").unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::Value(ValueError::BadTime { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_built_in_status_with_an_end_left_unsaid_is_refused_with_the_forms() {
        for (text, bad) in [
            ("status family busy until", "until"),
            ("status family busy for", "for"),
            ("status family busy for -2h", "for -2h"),
            ("status family busy for +2h", "for +2h"),
            ("status family busy til", "til"),
            ("status family busy until tomorrow", "until tomorrow"),
            ("status family busy until tomorrow.", "until tomorrow."),
            ("status family busy until today", "until today"),
            // Morning or evening: not guessed.
            ("status family busy until tomorrow 9", "until tomorrow 9"),
            ("状态 家人 忙 到明天", "到明天"),
            ("状态 家人 忙到明天", "到明天"),
            ("状态 家人 忙 至明天9点", "至明天9点"),
            ("状态 家人 忙 到", "到"),
            ("STATUS FAMILY BUSY FOR 2H, COLLEAGUES FREE UNTIL", "UNTIL"),
            // A later day as the replies name it: no expiry form, so no text that looks timed.
            ("status family busy until Dec 7 17:00", "until Dec 7 17:00"),
            ("状态 家人 忙 至12月7日17:00", "至12月7日17:00"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::BadExpiry, "{text}: {err:?}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
        // Free text that ends so is text as before, and so is a quoted one.
        for (text, status) in [
            ("status family Wait until", "Wait until"),
            ("status family Here until tomorrow", "Here until tomorrow"),
            ("status family \"busy until\"", "busy until"),
            ("status family busy for today", "busy for today"),
            (
                "status family Back until Dec 7 17:00",
                "Back until Dec 7 17:00",
            ),
            ("status family busy until May", "busy until May"),
        ] {
            assert_eq!(one_assignment(text), (free(status), None), "{text}");
        }
    }

    #[test]
    fn a_status_word_a_typo_away_gets_the_command_meant() {
        for (text, bad, fixed) in [
            ("STATUS FAMILY METING", "METING", "STATUS FAMILY MEETING"),
            ("status family meting", "meting", "status family MEETING"),
            (
                "status family bsy for 2h",
                "bsy",
                "status family BUSY for 2h",
            ),
            ("STATUS FAMILY DRIVNG", "DRIVNG", "STATUS FAMILY DRIVING"),
            (
                "STATUS FAMILY BUSYY FOR 1H",
                "BUSYY",
                "STATUS FAMILY BUSY FOR 1H",
            ),
            (
                "STATUS FAMILY FREE, COLLEAGUES MEETNIG",
                "MEETNIG",
                "STATUS FAMILY FREE, COLLEAGUES MEETING",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
        }
        // Real words, short words without an expiry, two words, two edits, quotes: text.
        for (text, status) in [
            ("STATUS FAMILY Diving", "Diving"),
            ("STATUS FAMILY tree", "tree"),
            ("STATUS FAMILY Fred", "Fred"),
            ("STATUS FAMILY bsy", "bsy"),
            ("STATUS FAMILY meting room", "meting room"),
            ("STATUS FAMILY metng", "metng"),
            ("STATUS FAMILY \"meting\"", "meting"),
            ("STATUS FAMILY buys", "buys"),
        ] {
            assert_eq!(one_assignment(text), (free(status), None), "{text}");
        }
    }

    #[test]
    fn a_chinese_status_word_a_slip_away_gets_the_command_meant_in_chinese() {
        for (text, bad, fixed) in [
            // A character read the same (the input method's slip), two swapped, one doubled,
            // one left out of a long word; glued to its target, with an expiry.
            ("状态 家人 开慧", "开慧", "状态 家人 开会"),
            ("状态 家人 关鸡", "关鸡", "状态 家人 关机"),
            ("状态 家人 空线 2小时", "空线", "状态 家人 空闲 2小时"),
            ("状态 家人 车开", "车开", "状态 家人 开车"),
            ("状态 家人 开会会", "开会会", "状态 家人 开会"),
            ("状态 同事 会议钟", "会议钟", "状态 同事 会议中"),
            ("状态 全部 请无打扰", "请无打扰", "状态 全部 请勿打扰"),
            ("状态 全部 请勿扰", "请勿扰", "状态 全部 请勿打扰"),
            ("状态 家人开慧", "开慧", "状态 家人开会"),
            (
                "状态 家人 空闲, 同事 开慧",
                "开慧",
                "状态 家人 空闲, 同事 开会",
            ),
            // In an English command too, and the reply is Chinese.
            ("STATUS FAMILY 开慧", "开慧", "STATUS FAMILY 开会"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Status, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        // Words of their own a character away, words near two statuses, a short word
        // missing a character, quotes: text, as before.
        for text in [
            "状态 家人 开心",
            "状态 家人 关门",
            "状态 家人 忙完",
            "状态 家人 开机",
            "状态 家人 机关",
            "状态 家人 会议",
            "状态 家人 待会",
            "状态 家人 \"开慧\"",
        ] {
            assert!(
                matches!(
                    one_assignment(text),
                    (StatusChange::Set(StatusText::Free(_)), None)
                ),
                "{text}"
            );
        }
        // An English typo in an English command is still answered in English.
        let err = parse_normalized("STATUS FAMILY METING", "86").unwrap_err();
        assert_eq!(err.lang_hint, EN);
    }

    #[test]
    fn a_group_named_where_the_status_goes_gets_both_assignments_offered() {
        for (text, bad, fixed) in [
            (
                "status family colleagues busy",
                "colleagues",
                "status family busy, colleagues busy",
            ),
            (
                "STATUS FAMILY FRIENDS FREE UNTIL 5PM",
                "FRIENDS",
                "STATUS FAMILY FREE UNTIL 5PM, FRIENDS FREE UNTIL 5PM",
            ),
            ("状态 家人 同事 忙", "同事", "状态 家人 忙，同事 忙"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
        }
        // A group of the subscriber's own: a doubt for the service (text if there is none).
        let ds = doubts("STATUS FAMILY WORK BUSY");
        assert_eq!(ds.len(), 1, "{ds:?}");
        assert!(ds[0].1, "asked about only if the group exists");
        assert_eq!(
            ds[0].2,
            ParseErrorKind::NearMiss {
                fixed: "STATUS FAMILY BUSY, WORK BUSY".into()
            }
        );
        // A group word that goes on in other words is a text.
        for (text, status) in [
            ("STATUS FAMILY Friends over tonight", "Friends over tonight"),
            ("STATUS FAMILY Family dinner", "Family dinner"),
            ("STATUS FAMILY ALL BUSY", "ALL BUSY"),
        ] {
            assert_eq!(one_assignment(text), (free(status), None), "{text}");
        }
    }

    #[test]
    fn a_group_verb_a_typo_away_gets_the_command_meant() {
        for (text, bad, fixed) in [
            (
                "group family ad 13900139000",
                "ad",
                "group family ADD 13900139000",
            ),
            (
                "GROUP FAMILY DLE 13900139000",
                "DLE",
                "GROUP FAMILY DEL 13900139000",
            ),
            (
                "GROUP WORK RENAM OFFICE",
                "RENAM",
                "GROUP WORK RENAME OFFICE",
            ),
            ("GROUP WORK DORP", "DORP", "GROUP WORK DROP"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Group, "{text}");
        }
        // Chinese verbs too, answered in Chinese (also inside an English command).
        for (text, bad, fixed) in [
            ("分组 家人 解三", "解三", "分组 家人 解散"),
            ("分组 工作 改明 办公室", "改明", "分组 工作 改名 办公室"),
            (
                "分组 家人 添家 13900139000",
                "添家",
                "分组 家人 添加 13900139000",
            ),
            (
                "分组 家人 添家13900139000",
                "添家",
                "分组 家人 添加13900139000",
            ),
            ("分组 家人 散解", "散解", "分组 家人 解散"),
            ("GROUP FAMILY 解三", "解三", "GROUP FAMILY 解散"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Group, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        // One character is a slip of both `加` and `删`; a word near no verb; no complete
        // command with it: as before.
        for text in [
            "分组 家人 家 13900139000",
            "分组 家人 你好",
            "分组 家人 解三 13900139000",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownOption, "{text}: {err:?}");
        }
        // No complete command with it: as before.
        let err = parse_normalized("GROUP FAMILY ADX", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownOption);
        let err = parse_normalized("GROUP FAMILY HELLO 13900139000", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownOption);
    }

    #[test]
    fn a_two_character_chinese_group_verb_is_the_verb_never_a_short_one_and_junk() {
        let one = || vec![Msisdn::try_from("+8613900139000").unwrap()];
        let family = || GroupName::Builtin(BuiltinGroup::Family);
        let read = |text: &str| parse_normalized(text, "86").map(|p| (p.command, p.lang_hint));
        // 加入 / 添加 / 增加 / 加上 are 加; 删除 / 移除 / 去掉 / 删掉 are 删; spaced or glued to
        // the number.
        for verb in ["加", "加入", "添加", "增加", "加上"] {
            for text in [
                format!("分组 家人 {verb} 13900139000"),
                format!("分组 家人 {verb}13900139000"),
            ] {
                let add = Command::GroupAdd {
                    group: family(),
                    members: one(),
                };
                assert_eq!(read(&text), Ok((add, ZH)), "{text}");
            }
        }
        for verb in ["删", "删除", "移除", "去掉", "删掉"] {
            for text in [
                format!("分组 家人 {verb} 13900139000"),
                format!("分组 家人 {verb}13900139000"),
            ] {
                let del = Command::GroupDel {
                    group: family(),
                    members: one(),
                };
                assert_eq!(read(&text), Ok((del, ZH)), "{text}");
            }
        }
        // A word that starts with 加 or 删 and is no verb is not 加 or 删 with the rest read as
        // a number ("入 13900139000" is no number): it is the word that is wrong, offered as
        // the verb it is a slip of, or quoted whole.
        for (text, bad, fixed) in [
            (
                "分组 家人 删了 13900139000",
                "删了",
                "分组 家人 删除 13900139000",
            ),
            (
                "分组 家人 加人13900139000",
                "加人",
                "分组 家人 加入13900139000",
            ),
            // Near 删除, 移除 and 去掉 alike: all mean 删, so one is offered.
            (
                "分组 家人 去除 13900139000",
                "去除",
                "分组 家人 删除 13900139000",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(
                err.kind,
                ParseErrorKind::NearMiss {
                    fixed: fixed.into()
                },
                "{text}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        for text in [
            "分组 家人 加加加 13900139000",
            "分组 家人 删掉了13900139000",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownOption, "{text}: {err:?}");
            assert_eq!(err.bad, &text["分组 家人 ".len()..], "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        // A word near verbs of two meanings (加入 and 删除) is offered as neither.
        let err = parse_normalized("分组 家人 加除 13900139000", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownOption, "{err:?}");
        // A new name may still be glued to 改名, and punctuation after 加 is no word.
        assert!(parse_normalized("分组 工作 改名办公室", "86").is_ok());
        let add = Command::GroupAdd {
            group: family(),
            members: one(),
        };
        assert_eq!(read("分组 家人 加、13900139000"), Ok((add, ZH)));
    }

    #[test]
    fn a_chinese_verb_glued_to_the_group_is_read_where_the_group_can_end_in_one_place() {
        let family = || GroupName::Builtin(BuiltinGroup::Family);
        let one = || vec![Msisdn::try_from("+8613800138000").unwrap()];
        let read = |text: &str| parse_normalized(text, "86").map(|p| (p.command, p.lang_hint));
        for text in [
            "分组 家人加13800138000",
            "分组 家人加 13800138000",
            "分组 家人增加13800138000",
            "分组 家人加上13800138000",
            "分组 FAMILY加13800138000",
        ] {
            let add = Command::GroupAdd {
                group: family(),
                members: one(),
            };
            assert_eq!(read(text), Ok((add, ZH)), "{text}");
        }
        let del = Command::GroupDel {
            group: family(),
            members: one(),
        };
        assert_eq!(read("分组 家人删除13800138000"), Ok((del, ZH)));
        let team = GroupName::try_from("篮球2队").unwrap();
        assert_eq!(
            read("分组 篮球2队加13800138000 13900139000"),
            Ok((
                Command::GroupAdd {
                    group: team,
                    members: vec![
                        Msisdn::try_from("+8613800138000").unwrap(),
                        Msisdn::try_from("+8613900139000").unwrap()
                    ]
                },
                ZH
            ))
        );
        // A bad number is what the command in its order says of it.
        let err = parse_normalized("分组 家人加1380013800", "86").unwrap_err();
        assert!(
            matches!(
                err.kind,
                ParseErrorKind::Number(MsisdnError::Mistyped { .. })
            ),
            "{err:?}"
        );
        assert_eq!(err.bad, "1380013800");
        assert_eq!(err.lang_hint, ZH);
        // Where the group may end in two places, the reading that is a command is asked
        // about, never carried out.
        let err = parse_normalized("分组 家人加13800138000加13900139000", "86").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::NearMiss {
                fixed: "分组 家人加13800138000 加 13900139000".into()
            },
            "{err:?}"
        );
        // No verb that a number follows, or words where the numbers go: as before.
        assert_eq!(
            read("分组 篮球加1队").map(|(c, _)| c),
            Ok(Command::GroupShow {
                group: GroupName::try_from("篮球加1队").unwrap(),
                page: 1
            })
        );
        assert_eq!(
            parse_normalized("分组 增加 13800138000", "86").map_err(|e| e.kind),
            Err(ParseErrorKind::BadNumber)
        );
        // A verb before the group is no verb after it.
        assert!(!matches!(
            read("分组 加家人13800138000"),
            Ok((Command::GroupAdd { .. }, _))
        ));
    }

    #[test]
    fn a_chinese_group_command_said_verb_first_gets_the_command_order_in_chinese() {
        for (text, bad, fixed) in [
            ("加 家人 13900139000", "加", "分组 家人 加 13900139000"),
            (
                "删 家人 13900139000 13700137000",
                "删",
                "分组 家人 删 13900139000 13700137000",
            ),
            // The two-character verbs, offered as the contract's verb.
            ("添加 家人 13900139000", "添加", "分组 家人 加 13900139000"),
            ("加入 同事 13900139000", "加入", "分组 同事 加 13900139000"),
            ("删除 家人 13900139000", "删除", "分组 家人 删 13900139000"),
            ("去掉 朋友 13900139000", "去掉", "分组 朋友 删 13900139000"),
            ("加上 家人 13900139000", "加上", "分组 家人 加 13900139000"),
            ("删掉家人13900139000", "删掉", "分组 家人 删 13900139000"),
            ("解散 篮球队", "解散", "分组 篮球队 解散"),
            ("改名 篮球队 足球队", "改名", "分组 篮球队 改名 足球队"),
            // Glued, before a built-in Chinese group, and a number glued to that group.
            ("加家人13900139000", "加", "分组 家人 加 13900139000"),
            ("删除家人 13900139000", "删除", "分组 家人 删 13900139000"),
            ("加 家人13900139000", "加", "分组 家人 加 13900139000"),
            // An English group name with a Chinese verb.
            ("加 FAMILY 13900139000", "加", "分组 FAMILY 加 13900139000"),
            // 把 ... 加到 / 从 ... 删除.
            (
                "把13900139000加到家人",
                "把13900139000加到家人",
                "分组 家人 加 13900139000",
            ),
            (
                "把 13900139000、13700137000 加入 家人里",
                "把 13900139000、13700137000 加入 家人里",
                "分组 家人 加 13900139000、13700137000",
            ),
            (
                "把13900139000从家人删除",
                "把13900139000从家人删除",
                "分组 家人 删 13900139000",
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::General, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
            // What is offered is a command that works.
            assert!(parse_normalized(fixed, "86").is_ok(), "{fixed}");
        }
        // No complete group command in another order, or words that only start like a verb:
        // the short help, in Chinese, as before.
        for text in [
            "加",
            "加 家人",
            "加 家人 你好",
            "加油",
            "加油 13900139000",
            "把13900139000加到",
            "把手机加到家人",
            "解散",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownCommand, "{text}: {err:?}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
    }

    #[test]
    fn an_english_group_verb_first_before_a_chinese_group_gets_the_command_order() {
        for (text, fixed) in [
            ("ADD 家人 13800138000", "GROUP 家人 ADD 13800138000"),
            ("add 家人 13800138000", "GROUP 家人 ADD 13800138000"),
            (
                "DEL 篮球队 13800138000 13900139000",
                "GROUP 篮球队 DEL 13800138000 13900139000",
            ),
            ("DROP 篮球队", "GROUP 篮球队 DROP"),
            ("RENAME 篮球队 足球队", "GROUP 篮球队 RENAME 足球队"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
            assert_eq!(err.bad, &text[..text.find(' ').unwrap()], "{text}");
            assert_eq!(err.usage, HelpTopic::General, "{text}");
            // Answered in Chinese, as `ＳＴＡＵＴＳ 家人 忙` is.
            assert_eq!(err.lang_hint, ZH, "{text}");
            assert!(parse_normalized(fixed, "86").is_ok(), "{fixed}");
        }
        // All ASCII: in English, as before; no complete command: the short help.
        let err = parse_normalized("ADD FAMILY 13800138000", "86").unwrap_err();
        assert_eq!(err.lang_hint, EN);
        for text in ["ADD 家人", "ADD 家人 你好", "ADD Família 13800138000"] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownCommand, "{text}: {err:?}");
        }
    }

    #[test]
    fn a_group_command_said_verb_first_with_a_bad_number_says_what_is_wrong_with_it() {
        // As the command in its order says it: the number quoted, with the group usage, in
        // the language of the verb.
        for (text, bad, lang) in [
            ("ADD 12 family", "12", EN),
            ("ADD family 12", "12", EN),
            ("ADD 12 TO FAMILY", "12", EN),
            ("DEL 1380013800 FROM FAMILY", "1380013800", EN),
            ("ADD 家人 12", "12", EN),
            ("加 12 家人", "12", ZH),
            ("加 家人 12", "12", ZH),
            ("删 家人 1380013800", "1380013800", ZH),
            ("加家人12", "12", ZH),
            ("把12加到家人", "12", ZH),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(err.kind, ParseErrorKind::Number(_)),
                "{text}: {err:?}"
            );
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.usage, HelpTopic::Group, "{text}");
            assert_eq!(err.lang_hint, lang, "{text}");
        }
        let err = parse_normalized("ADD 10086 FAMILY", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::ServiceNumber);
        // The numbers first, and right: the command's order offered.
        for (text, fixed) in [
            ("ADD 13900139000 FAMILY", "GROUP FAMILY ADD 13900139000"),
            ("ADD 13900139000 TO FAMILY", "GROUP FAMILY ADD 13900139000"),
            ("del 13900139000 from work", "GROUP work DEL 13900139000"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
        }
        let err = parse_normalized("加 13900139000 家人", "86").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Misspelt("分组 家人 加 13900139000".into())
        );
        // Words where the numbers go are no bad number: the short help, as before.
        for text in [
            "ADD ME TO THE LIST",
            "ADD FAMILY hello",
            "加 家人 你好",
            "加油 12",
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownCommand, "{text}: {err:?}");
        }
    }

    #[test]
    fn zu_after_a_group_offered_is_the_word_group_or_hangs_on_the_subscribers_groups() {
        // After a built-in group's name, or as a word of its own, 组 is "group"; after a
        // built-in group's name, the name as typed to one who has a group of exactly that
        // name (as `分组 家人组 加 …` reads for them).
        for (text, fixed, own) in [
            (
                "把13900139000加到家人组",
                "分组 家人 加 13900139000",
                Some(("家人组", "分组 家人组 加 13900139000")),
            ),
            (
                "把13900139000加到家人组里",
                "分组 家人 加 13900139000",
                Some(("家人组", "分组 家人组 加 13900139000")),
            ),
            (
                "把13900139000从同事组删除",
                "分组 同事 删 13900139000",
                Some(("同事组", "分组 同事组 删 13900139000")),
            ),
            ("把13900139000加到篮球 组", "分组 篮球 加 13900139000", None),
            (
                "加 家人组 13900139000",
                "分组 家人 加 13900139000",
                Some(("家人组", "分组 家人组 加 13900139000")),
            ),
            (
                "加 FAMILY组 13900139000",
                "分组 FAMILY 加 13900139000",
                Some(("FAMILY组", "分组 FAMILY组 加 13900139000")),
            ),
            // Traditional script.
            (
                "把13900139000加到家人組",
                "分组 家人 加 13900139000",
                Some(("家人組", "分组 家人組 加 13900139000")),
            ),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
            let doubts: Vec<(String, bool, ParseErrorKind)> = err
                .doubts
                .iter()
                .map(|d| (d.group.to_string(), d.if_exists, d.error.kind.clone()))
                .collect();
            let expected: Vec<(String, bool, ParseErrorKind)> = own
                .map(|(group, fixed)| {
                    (
                        group.to_owned(),
                        true,
                        ParseErrorKind::Misspelt(fixed.into()),
                    )
                })
                .into_iter()
                .collect();
            assert_eq!(doubts, expected, "{text}");
        }
        // After another name it may be part of it: the name as typed, unless the subscriber
        // has the group without 组 and not the one with it.
        let err = parse_normalized("把13900139000加到篮球组", "86").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Misspelt("分组 篮球组 加 13900139000".into())
        );
        let doubts: Vec<(String, bool, ParseErrorKind)> = err
            .doubts
            .iter()
            .map(|d| (d.group.to_string(), d.if_exists, d.error.kind.clone()))
            .collect();
        assert_eq!(
            doubts,
            [
                (
                    "篮球组".to_owned(),
                    true,
                    ParseErrorKind::Misspelt("分组 篮球组 加 13900139000".into())
                ),
                (
                    "篮球".to_owned(),
                    true,
                    ParseErrorKind::Misspelt("分组 篮球 加 13900139000".into())
                ),
            ]
        );
        assert!(err.doubts.iter().all(|d| d.error.bad == err.bad));
        // 组 alone is the name.
        let err = parse_normalized("把13900139000加到组", "86").unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Misspelt("分组 组 加 13900139000".into())
        );
        assert!(err.doubts.is_empty());
    }

    #[test]
    fn a_chinese_keyword_a_character_away_gets_the_command_meant_in_chinese() {
        for (text, bad, fixed) in [
            // One character wrong (a homophone from the input method), missing, or doubled.
            ("状太 家人 忙", "状太", "状态 家人 忙"),
            ("壮态 家人 开会", "壮态", "状态 家人 开会"),
            ("状 家人 忙", "状", "状态 家人 忙"),
            ("帮住", "帮住", "帮助"),
            ("帮帮助", "帮帮助", "帮助"),
            (
                "分足 家人 加 13900139000",
                "分足",
                "分组 家人 加 13900139000",
            ),
            ("退定 13800138000", "退定", "退订 13800138000"),
            ("头象 3", "头象", "头像 3"),
            ("隐似 联系人", "隐似", "隐私 联系人"),
            ("语音 中文", "语音", "语言 中文"),
            // Glued, as Chinese keywords may be, before a number or a Chinese target.
            ("状太家人忙", "状太", "状态家人忙"),
            ("定阅全部", "定阅", "订阅全部"),
            ("退定13800138000", "退定", "退订13800138000"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        // An English keyword typed wrong in full-width letters (folded to ASCII) around
        // Chinese: offered, and the reply is in Chinese.
        let err =
            parse_normalized(&normalize::normalize("ＳＴＡＵＴＳ 家人 忙"), "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Misspelt("STATUS 家人 忙".into()));
        assert_eq!(err.lang_hint, ZH);
        // English stays English.
        let err = parse_normalized("STAUTS FAMILY FREE", "86").unwrap_err();
        assert_eq!(err.lang_hint, EN);
        // Words a character from a keyword with no complete command, glued to more Chinese
        // (no word ends there), or nothing near: the short help, as before.
        for text in ["你好", "名片", "分享一下照片", "头发长了", "状况很好啊"] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::UnknownCommand, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
    }

    #[test]
    fn a_typo_of_a_longer_chinese_keyword_is_offered_though_a_shorter_one_matched() {
        // `查` and `头像` match the start: their commands failed, though `查询` and `头像库`
        // a character away were meant.
        for (text, bad, fixed) in [
            ("查旬 13800138000", "查旬", "查询 13800138000"),
            ("查旬13800138000", "查旬", "查询13800138000"),
            ("头像裤", "头像裤", "头像库"),
            ("头像裤 2", "头像裤", "头像库 2"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert_eq!(err.kind, ParseErrorKind::Misspelt(fixed.into()), "{text}");
            assert_eq!(err.bad, bad, "{text}");
            assert_eq!(err.lang_hint, ZH, "{text}");
        }
        // Correct commands are read as before.
        for text in [
            "查询 13800138000",
            "查 13800138000",
            "查13800138000",
            "头像库",
            "头像库 2",
            "头像 3",
            "头像 取消",
            "头像取消",
        ] {
            assert!(parse_normalized(text, "86").is_ok(), "{text}");
        }
        // The shorter command's own error where nothing longer was meant: a number typed
        // wrong, no longer command that is complete, or the start of a word of the shorter
        // command (`头像取`: `头像 取消` cut short, not `头像库`).
        for (text, kind) in [
            ("查 1380013800", "Number"),
            ("查旬", "Number"),
            ("头像取", "UnknownOption"),
            ("头像 裤", "UnknownOption"),
        ] {
            let err = parse_normalized(text, "86").unwrap_err();
            assert!(
                format!("{:?}", err.kind).starts_with(kind),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn a_keyword_with_a_word_run_on_gets_the_command_meant() {
        let err = parse_normalized("whois 13800138000", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Misspelt("WHO 13800138000".into()));
        assert_eq!(err.bad, "whois");
        let err = parse_normalized("WHOIS", "86").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownCommand, "{err:?}");
    }

    #[test]
    fn a_colon_after_the_status_keyword_or_the_target_is_a_separator() {
        use super::super::StatusCode::{Busy, Free};
        for (text, change) in [
            ("STATUS:FAMILY:FREE", builtin(Free)),
            ("STATUS: FAMILY: FREE", builtin(Free)),
            ("STATUS FAMILY:FREE", builtin(Free)),
            ("状态:家人:忙", builtin(Busy)),
            ("STATUS FAMILY Meeting: room 5", free("Meeting: room 5")),
        ] {
            assert_eq!(one_assignment(text), (change, None), "{text}");
        }
        let normalized = normalize::normalize("STATUS：FAMILY：FREE");
        assert_eq!(one_assignment(&normalized), (builtin(Free), None));
    }

    #[test]
    fn a_sentence_may_end_after_the_expiry() {
        use super::super::StatusCode::{Busy, Free};
        let until = |hour, minute| Some(Expiry::Until { hour, minute });
        for (text, change, expiry) in [
            (
                "STATUS FAMILY BUSY UNTIL 17:00.",
                builtin(Busy),
                until(17, 0),
            ),
            ("STATUS FAMILY BUSY FOR 2H!", builtin(Busy), minutes(120)),
            ("STATUS FAMILY BUSY FOR 2H ...", builtin(Busy), minutes(120)),
            ("STATUS FAMILY BUSY FOR 2H?!", builtin(Busy), minutes(120)),
            (
                "STATUS FAMILY BUSY UNTIL 5.",
                builtin(Busy),
                Some(Expiry::UntilEither { hour: 5, minute: 0 }),
            ),
            ("状态 家人 忙2小时。", builtin(Busy), minutes(120)),
            ("状态 家人 忙 两小时！", builtin(Busy), minutes(120)),
            (
                "状态 家人 忙到5点。",
                builtin(Busy),
                Some(Expiry::UntilEither { hour: 5, minute: 0 }),
            ),
            (
                "STATUS FAMILY At the gym UNTIL 5PM!",
                free("At the gym"),
                until(17, 0),
            ),
            (
                "STATUS FAMILY At the gym FOR 1H.",
                free("At the gym"),
                minutes(60),
            ),
            // Without an expiry the text keeps its punctuation.
            ("STATUS FAMILY At the gym!", free("At the gym!"), None),
            ("STATUS FAMILY FREE", builtin(Free), None),
            ("STATUS FAMILY FREE.", builtin(Free), None),
            ("STATUS FAMILY busy!", builtin(Busy), None),
            ("状态 家人 忙。", builtin(Busy), None),
            ("STATUS FAMILY FREE?", free("FREE?"), None),
        ] {
            let text = normalize::normalize(text);
            assert_eq!(one_assignment(&text), (change, expiry), "{text}");
        }
        match parse_normalized("STATUS FAMILY BUSY FOR 2H!, COLLEAGUES FREE.", "86") {
            Ok(Parsed {
                command: Command::StatusSet(list),
                ..
            }) => {
                assert_eq!(list.len(), 2);
                assert_eq!(list[0].expiry, minutes(120));
                // A built-in word ending the sentence is the built-in status.
                assert_eq!(list[1].status, builtin(StatusCode::Free));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_status_body_stops_before_a_trailing_expiry_only() {
        let (rest, (change, expiry)) = status_and_expiry("back FOR sure FOR 1H", "X").unwrap();
        assert_eq!(rest, "");
        assert_eq!(
            change,
            StatusChange::Set(StatusText::Free(
                FreeText::try_from("back FOR sure").unwrap()
            ))
        );
        assert_eq!(
            expiry,
            Some(Expiry::For(std::time::Duration::from_secs(3600)))
        );
        let (rest, (change, expiry)) = status_and_expiry("BUSY , FAMILY FREE", "X").unwrap();
        assert_eq!(rest, ", FAMILY FREE");
        assert_eq!(
            change,
            StatusChange::Set(StatusText::Builtin(super::super::StatusCode::Busy))
        );
        assert_eq!(expiry, None);
    }

    #[test]
    fn glued_chinese_targets() {
        assert_eq!(glued_target("家人开车").map(|(_, n)| n), Some("家人".len()));
        assert!(matches!(glued_target("全部忙"), Some((Target::All, _))));
        assert!(glued_target("家人").is_none());
        assert!(glued_target("FAMILYBUSY").is_none());
    }

    #[test]
    fn number_lists_join_a_lone_country_code() {
        let (_, list) = numbers(
            "+86 139-0013-9000, (+86) 13700137000",
            "86",
            HelpTopic::Group,
        )
        .unwrap();
        let got: Vec<&str> = list.iter().map(Msisdn::as_str).collect();
        assert_eq!(got, ["+8613900139000", "+8613700137000"]);
        let err = numbers("", "86", HelpTopic::Group).unwrap_err();
        match err {
            nom::Err::Failure(GrammarError { fail: Some(e), .. }) => {
                assert_eq!(e.kind, ParseErrorKind::MissingArgument)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn number_lists_read_each_number_as_who_does() {
        let list = |text: &str| -> Result<Vec<String>, (ParseErrorKind, String)> {
            match numbers(text, "86", HelpTopic::Group) {
                Ok((_, l)) => Ok(l.iter().map(|m| m.as_str().to_owned()).collect()),
                Err(nom::Err::Failure(GrammarError { fail: Some(e), .. })) => Err((e.kind, e.bad)),
                Err(other) => panic!("{other:?}"),
            }
        };
        // One number written with spaces, brackets, dashes: one member, as WHO reads it.
        for text in [
            "+86 (138) 0013-8000",
            "(+86) 138 0013 8000",
            "+86 138 0013 8000",
            "138 0013 8000",
            "00 86 13800138000",
            "+86 138-0013-8000",
            "(+86)13800138000",
        ] {
            assert_eq!(list(text), Ok(vec!["+8613800138000".into()]), "{text}");
        }
        assert_eq!(list("+1 415 555 0100"), Ok(vec!["+14155550100".into()]));
        // Several: spaces between complete numbers, or , ; 、
        assert_eq!(
            list("138 0013 8000 139 0013 9000"),
            Ok(vec!["+8613800138000".into(), "+8613900139000".into()])
        );
        assert_eq!(
            list("+86 138 0013 8000 13900139000、(+86)137-0013-7000;010 6552 9988"),
            Ok(vec![
                "+8613800138000".into(),
                "+8613900139000".into(),
                "+8613700137000".into(),
                "+861065529988".into()
            ])
        );
        assert_eq!(
            list("+1 415 555 0100 212 555 0199"),
            Ok(vec!["+14155550100".into(), "+862125550199".into()])
        );
        // A fragment that is no number is named as typed, never made a member.
        let err = list("0013-8000").unwrap_err();
        assert_eq!(err.1, "0013-8000");
        assert!(matches!(
            err.0,
            ParseErrorKind::Number(MsisdnError::TooShort { .. })
        ));
        let err = list("13900139000 1380013800").unwrap_err();
        assert_eq!(err.1, "1380013800");
        assert!(matches!(
            err.0,
            ParseErrorKind::Number(MsisdnError::Mistyped { .. })
        ));
        let err = list("13900139000, 12ab").unwrap_err();
        assert_eq!(err.1, "12ab");
        // No word reads as a number, and together they are too long for one: the first
        // word's own error, not the run's "too many digits".
        for run in ["1390013900 1370013700", "1390000000 1390000001 1390000002"] {
            let err = list(run).unwrap_err();
            assert_eq!(err.1, run.split(' ').next().unwrap(), "{run}");
            assert!(
                matches!(err.0, ParseErrorKind::Number(MsisdnError::Mistyped { .. })),
                "{run}: {err:?}"
            );
        }
        // A number typed with spaces and a digit missing is still read as one.
        let err = list("+86 138 0013 800").unwrap_err();
        assert_eq!(err.1, "+86 138 0013 800");
        // One number or two, each reading whole: asked, not guessed.
        assert_eq!(
            list("23456 78901"),
            Err((ParseErrorKind::UnclearNumbers, "23456 78901".into()))
        );
        assert_eq!(
            list("23456, 78901"),
            Ok(vec!["+8623456".into(), "+8678901".into()])
        );
        assert_eq!(list("23456 78901,"), list("23456 78901"));
    }

    /// `STOP 10086` and `GROUP FAMILY ADD 10086` said "looks mistyped" where `WHO 10086`
    /// says it is a service number: every command that takes a number now says the same.
    #[test]
    fn every_command_that_takes_a_number_calls_a_service_number_one() {
        for (text, usage, lang) in [
            ("WHO 10086", HelpTopic::Who, EN),
            ("STOP 10086", HelpTopic::Stop, EN),
            ("UNSUBSCRIBE 10086", HelpTopic::Stop, EN),
            ("TD10086", HelpTopic::Stop, None),
            ("START 10086", HelpTopic::Stop, EN),
            ("退订 10086", HelpTopic::Stop, ZH),
            ("订阅10086", HelpTopic::Stop, ZH),
            ("GROUP FAMILY ADD 10086", HelpTopic::Group, EN),
            ("GROUP FAMILY ADD 13900139000, 10086", HelpTopic::Group, EN),
            ("GROUP FAMILY ADD 13900139000 10086", HelpTopic::Group, EN),
            ("GROUP FAMILY DEL 10086", HelpTopic::Group, EN),
            ("分组 家人 加 10086", HelpTopic::Group, ZH),
            ("分组 家人 删 10086", HelpTopic::Group, ZH),
        ] {
            let e = parse_normalized(&normalize::normalize(text), "86").unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::ServiceNumber, "{text}: {e:?}");
            assert_eq!(e.bad, "10086", "{text}");
            assert_eq!(e.usage, usage, "{text}");
            assert_eq!(e.lang_hint, lang, "{text}");
        }
        // A mobile cut short or a digit over is still a slip, in every command; a number too
        // short for any plan is too short.
        for text in [
            "WHO 13800",
            "STOP 13800",
            "START 1380013800",
            "GROUP FAMILY ADD 1380013800",
            "GROUP FAMILY DEL 13800",
        ] {
            let e = parse_normalized(text, "86").unwrap_err();
            assert!(
                matches!(e.kind, ParseErrorKind::Number(MsisdnError::Mistyped { .. })),
                "{text}: {e:?}"
            );
        }
        let e = parse_normalized("STOP 123", "86").unwrap_err();
        assert!(
            matches!(e.kind, ParseErrorKind::Number(MsisdnError::TooShort { .. })),
            "{e:?}"
        );
        // Written after the country code, with a space or without, it is the same service
        // number (it read as a number no subscriber has), and one number in a list.
        for (text, bad) in [
            ("WHO +86 10086", "+86 10086"),
            ("查+8610086", "+8610086"),
            ("WHO 0086 10086", "0086 10086"),
            ("STOP +86 10086", "+86 10086"),
            ("START (+86) 12306", "(+86) 12306"),
            ("GROUP FAMILY ADD +86 10086", "+86 10086"),
            ("GROUP FAMILY ADD 13900139000 +86 10086", "+86 10086"),
            ("分组 家人 删 +86 10086", "+86 10086"),
        ] {
            let e = parse_normalized(text, "86").unwrap_err();
            assert_eq!(e.kind, ParseErrorKind::ServiceNumber, "{text}: {e:?}");
            assert_eq!(e.bad, bad, "{text}");
        }
        // A landline written after the country code is still a number.
        assert!(parse_normalized("WHO +86 10 6552 9988", "86").is_ok());
    }

    #[test]
    fn chinese_ids_are_read_counted_or_digit_by_digit() {
        for (text, n) in [
            // Digit by digit, as an id is read out.
            ("一二", 12),
            ("一〇", 10),
            ("一零", 10),
            ("三三", 33),
            ("九九", 99),
            ("〇五", 5),
            ("一〇五", 105),
            // Counted, as before.
            ("一", 1),
            ("两", 2),
            ("十", 10),
            ("十二", 12),
            ("一十五", 15),
            ("二十", 20),
            ("九十九", 99),
        ] {
            assert_eq!(chinese_number(text), Some(n), "{text}");
        }
        // 两 stands alone; 十 and 百 are counted, not read out; and no more than 9 digits.
        for text in [
            "两两",
            "一两",
            "两一",
            "两十",
            "十十",
            "一百",
            "一十〇",
            "一二三四五六七八九〇",
        ] {
            assert_eq!(chinese_number(text), None, "{text}");
        }
        let read = |text: &str| parse_normalized(text, "86").map(|p| p.command);
        assert_eq!(read("头像 一二"), Ok(Command::AvatarSet(12)));
        assert_eq!(read("头像一〇"), Ok(Command::AvatarSet(10)));
        assert_eq!(read("AVATAR 一零"), Ok(Command::AvatarSet(10)));
        assert_eq!(read("头像库 一二"), Ok(Command::Avatars { page: 12 }));
        assert_eq!(
            read("头像 〇〇").map_err(|e| e.kind),
            Err(ParseErrorKind::BadNumber)
        );
        assert_eq!(
            read("头像 两两").map_err(|e| e.kind),
            Err(ParseErrorKind::UnknownOption)
        );
    }

    #[test]
    fn a_keyword_commits_to_its_command() {
        match command("WHO nobody", "86") {
            Err(nom::Err::Failure(GrammarError { fail: Some(e), .. })) => {
                assert_eq!(e.usage, HelpTopic::Who);
                assert_eq!(e.lang_hint, EN);
                assert_eq!(e.bad, "nobody");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            command("WEATHER", "86"),
            Err(nom::Err::Error(GrammarError { fail: None, .. }))
        ));
    }
}
