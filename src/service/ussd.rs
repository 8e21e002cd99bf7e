//! USSD menus (issue 7): the subscriber dials `*123#` and sets a status, lists groups, picks
//! an avatar or asks WHO, screen by screen. Each screen fits one USSD string (182 GSM-7 or 80
//! UCS-2 characters, wire-formats.md §4.4): lists are paged to fit, never segmented. A choice
//! that changes something is turned into the same [`Command`] an SMS would carry and applied by
//! the same service, so it notifies contacts exactly as the SMS command does.
//!
//! The session (the screen shown) is persisted per subscriber with a timeout; a new dial
//! replaces it; an abort or a timeout ends it. `*123*1*2#` walks the path 1, 2 at once.

use serde::{Deserialize, Serialize};

use super::replies::{self, Label, Line, Text};
use crate::command::grammar::read_number;
use crate::command::{
    Command, Expiry, GroupName, Lang, ParseErrorKind, StatusAssignment, StatusChange, StatusCode,
    StatusText, Target,
};

/// Items per list page at most (keys 1-7; 8 is "more", 0 "back", 00 "exit").
const MAX_ITEMS: usize = 7;

/// USSD settings (`[ussd]`): the op codes carriers differ on, limits, timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UssdConfig {
    /// The code subscribers dial (shown in hints), e.g. `*123#`.
    pub code: String,
    /// `service_type` of our USSD submit_sm.
    pub service_type: String,
    /// `ussd_service_op` of a new session (PSSR indication).
    pub op_begin: u8,
    /// `ussd_service_op` of the user's answer (USSR confirm).
    pub op_continue: u8,
    /// `ussd_service_op` of a menu that waits for an answer (USSR request).
    pub op_menu: u8,
    /// `ussd_service_op` of the final screen (PSSR response).
    pub op_end: u8,
    /// `ussd_service_op` values that mean the user or network aborted.
    pub op_abort: Vec<u8>,
    /// Session lifetime without input, ms.
    pub timeout_ms: i64,
    /// Longest GSM-7 screen.
    pub max_gsm7: usize,
    /// Longest UCS-2 screen.
    pub max_ucs2: usize,
    /// `data_coding` of GSM-7 screens.
    pub gsm7_data_coding: u8,
    /// Country code for numbers typed at the WHO prompt.
    pub country_code: String,
}

impl Default for UssdConfig {
    fn default() -> Self {
        Self {
            code: "*123#".into(),
            service_type: "USSD".into(),
            op_begin: 1,
            op_continue: 18,
            op_menu: 2,
            op_end: 17,
            op_abort: vec![0x81],
            timeout_ms: 120_000,
            max_gsm7: 182,
            max_ucs2: 80,
            gsm7_data_coding: 0,
            country_code: "86".into(),
        }
    }
}

impl UssdConfig {
    /// Whether `text` fits one USSD screen.
    pub fn fits(&self, text: &str) -> bool {
        if sms_wire::gsm7::is_representable(text) {
            sms_wire::gsm7::encode(text).map_or(usize::MAX, |b| b.len()) <= self.max_gsm7
        } else {
            text.encode_utf16().count() <= self.max_ucs2
        }
    }

    /// `text` cut to fit one screen.
    pub fn clip(&self, text: &str) -> String {
        if self.fits(text) {
            return text.to_string();
        }
        let mut out: Vec<char> = text.chars().collect();
        while !out.is_empty() {
            out.pop();
            let mut s: String = out.iter().collect();
            s.push_str("...");
            if self.fits(&s) {
                return s;
            }
        }
        String::new()
    }
}

/// A screen of the menu tree (persisted as JSON in the session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "screen")]
pub enum Screen {
    /// 1 status, 2 groups, 3 avatar, 4 who.
    Main,
    /// Choose whose view to set (groups, OTHERS, ALL), paged.
    PickTarget {
        /// 1-based page.
        page: usize,
    },
    /// Choose the status for `target` (`ALL`, `OTHERS` or a group's canonical name).
    PickStatus {
        /// The target key.
        target: String,
        /// Chosen from the group's own screen, itself chosen on this page of the groups list:
        /// Back returns there (else to the targets list).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_group: Option<usize>,
    },
    /// Choose how long.
    PickExpiry {
        /// The target key.
        target: String,
        /// The status code name.
        status: String,
        /// As [`Screen::PickStatus`]'s, kept for its Back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_group: Option<usize>,
    },
    /// The groups with member counts, paged.
    Groups {
        /// 1-based page.
        page: usize,
    },
    /// One group: the status it sees and its members (paged), and a way to set that status.
    Group {
        /// The group's canonical name.
        group: String,
        /// 1-based page of its members.
        page: usize,
        /// The page of the groups list it was chosen on (where Back goes).
        #[serde(default = "first_page")]
        list_page: usize,
    },
    /// Preset avatars, paged.
    Presets {
        /// 1-based page.
        page: usize,
    },
    /// Enter a number.
    WhoPrompt,
}

fn first_page() -> usize {
    1
}

impl Screen {
    /// The group whose members this screen shows ([`MenuData::group`] must hold it).
    pub fn group(&self) -> Option<&str> {
        match self {
            Screen::Group { group, .. } => Some(group),
            _ => None,
        }
    }
}

/// What the menu needs from the store for one screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MenuData {
    /// The subscriber's audiences in GROUPS order: (target key, label, members).
    pub audiences: Vec<(String, Label, usize)>,
    /// Presets as (id, titles); a screen shows the title in its language.
    pub presets: Vec<(i64, crate::service::avatar::PresetTitle)>,
    /// The group a [`Screen::Group`] shows (loaded only for that screen).
    pub group: Option<GroupView>,
}

/// One group as its screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The group's canonical name (the key of [`MenuData::audiences`]).
    pub key: String,
    /// Its name, the status it sees (and until when) and its member count.
    pub line: Line,
    /// Every member's number.
    pub members: Vec<String>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show `screen` and wait for an answer.
    Show(Screen, String),
    /// Apply `command` (through the service) and end the session with its reply.
    Run(Command),
    /// End the session with this text.
    End(String),
}

/// The statuses offered, in menu order (key = index + 1).
const STATUSES: [StatusCode; 6] = [
    StatusCode::Free,
    StatusCode::Busy,
    StatusCode::Meeting,
    StatusCode::Driving,
    StatusCode::Dnd,
    StatusCode::Standby,
];

/// The expiries offered, in menu order: none, 1 h, 2 h, 4 h.
const EXPIRY_HOURS: [u64; 4] = [0, 1, 2, 4];

fn t(lang: Lang, en: &str, zh: &str) -> String {
    match lang {
        Lang::En => en.to_string(),
        Lang::Zh => zh.to_string(),
    }
}

fn label(l: &Label, lang: Lang) -> String {
    match (l, lang) {
        (Label::Builtin(g), Lang::En) => g.en().into(),
        (Label::Builtin(g), Lang::Zh) => g.zh().into(),
        (Label::User(n), _) => n.clone(),
        (Label::Others, Lang::En) => "OTHERS".into(),
        (Label::Others, Lang::Zh) => "其他".into(),
        (Label::All, Lang::En) => "ALL".into(),
        (Label::All, Lang::Zh) => "全部".into(),
    }
}

fn status_word(c: StatusCode, lang: Lang) -> String {
    match lang {
        Lang::En => c.code().to_string(),
        Lang::Zh => c
            .words()
            .iter()
            .find(|w| !w.is_ascii())
            .unwrap_or(&"")
            .to_string(),
    }
}

/// How a list shows its items: numbered 1 to 7 on each page with `8` for the next page, or
/// each item already carrying its own number (the avatars' catalogue ids) and `more` for the
/// next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout<'a> {
    numbered: bool,
    more: &'a str,
}

/// Items numbered on each page: 1 to 7, 8 for more.
const NUMBERED: Layout<'static> = Layout {
    numbered: true,
    more: "8",
};

/// Split `items` into pages that each fit one screen with `head` and the footer; returns the
/// page boundaries (start indices).
fn paginate(
    cfg: &UssdConfig,
    head: &str,
    items: &[String],
    layout: Layout<'_>,
    lang: Lang,
) -> Vec<usize> {
    // Lay out with the longer of the header and the hint that may replace it.
    let hint = hint_text(lang);
    let head = if hint.encode_utf16().count() > head.encode_utf16().count() {
        hint.as_str()
    } else {
        head
    };
    let mut starts = vec![0];
    let mut start = 0;
    while start < items.len() {
        let mut end = start;
        loop {
            if end >= items.len() || end - start >= MAX_ITEMS {
                break;
            }
            let candidate = render_list(head, &items[start..=end], layout, true, lang);
            if !cfg.fits(&candidate) && end > start {
                break;
            }
            end += 1;
        }
        start = end.max(start + 1);
        if start < items.len() {
            starts.push(start);
        }
    }
    starts
}

fn render_list(head: &str, items: &[String], layout: Layout<'_>, more: bool, lang: Lang) -> String {
    let mut s = String::from(head);
    for (i, item) in items.iter().enumerate() {
        if layout.numbered {
            s.push_str(&format!("\n{} {item}", i + 1));
        } else {
            s.push_str(&format!("\n{item}"));
        }
    }
    if more {
        s.push_str(&format!("\n{} {}", layout.more, t(lang, "More", "更多")));
    }
    s.push_str(&t(lang, "\n0 Back", "\n0 返回"));
    s
}

/// One page of a list screen: its text and the items' global indices.
fn list_screen(
    cfg: &UssdConfig,
    head: &str,
    items: &[String],
    layout: Layout<'_>,
    page: usize,
    lang: Lang,
) -> (String, std::ops::Range<usize>, bool) {
    let starts = paginate(cfg, head, items, layout, lang);
    let page = page.clamp(1, starts.len());
    let start = starts[page - 1];
    let end = starts.get(page).copied().unwrap_or(items.len());
    let more = page < starts.len();
    let text = render_list(head, &items[start..end], layout, more, lang);
    (cfg.clip(&text), start..end, more)
}

fn target_items(data: &MenuData, lang: Lang) -> Vec<String> {
    let mut v: Vec<String> = data
        .audiences
        .iter()
        .map(|(_, l, _)| label(l, lang))
        .collect();
    v.push(label(&Label::All, lang));
    v
}

fn target_keys(data: &MenuData) -> Vec<String> {
    let mut v: Vec<String> = data.audiences.iter().map(|(k, _, _)| k.clone()).collect();
    v.push("ALL".into());
    v
}

/// The groups list (every audience but OTHERS): (key, `NAME (members)`).
fn group_items(data: &MenuData, lang: Lang) -> Vec<(String, String)> {
    data.audiences
        .iter()
        .filter(|(_, l, _)| *l != Label::Others)
        .map(|(k, l, n)| (k.clone(), format!("{} ({n})", label(l, lang))))
        .collect()
}

/// The longest number a member line can hold (`+` and 15 digits).
const WIDEST_NUMBER: &str = "+999999999999999";

/// A group's screen: who it is and what it sees, the members given, then the keys.
fn render_group(head: &str, members: &[String], empty: bool, more: bool, lang: Lang) -> String {
    let mut s = String::from(head);
    if empty {
        s.push_str(&t(lang, "\nNo members yet.", "\n还没有成员。"));
    }
    for m in members {
        s.push('\n');
        s.push_str(m);
    }
    s.push_str(&t(lang, "\n1 Set its status", "\n1 设置状态"));
    if more {
        s.push_str(&t(lang, "\n8 More", "\n8 更多"));
    }
    s.push_str(&t(lang, "\n0 Back", "\n0 返回"));
    s
}

/// The group screen's first line: `FAMILY(2) FREE until 15:00`, cut so that two members
/// still fit below it (a status of 60 Chinese characters would fill a screen alone).
fn group_head(cfg: &UssdConfig, g: &GroupView, lang: Lang) -> String {
    let full = g.line.render(lang, true);
    let widest = [WIDEST_NUMBER.to_string(), WIDEST_NUMBER.to_string()];
    let fits = |head: &str| {
        [head.to_string(), hint_text(lang)]
            .iter()
            .all(|h| cfg.fits(&render_group(h, &widest, false, true, lang)))
    };
    if fits(&full) {
        return full;
    }
    let mut chars: Vec<char> = full.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut = format!("{}...", chars.iter().collect::<String>());
        if fits(&cut) {
            return cut;
        }
    }
    String::new()
}

/// The pages of a group's members: each page's start index.
fn member_pages(cfg: &UssdConfig, head: &str, members: &[String], lang: Lang) -> Vec<usize> {
    let hint = hint_text(lang);
    let fits = |page: &[String]| {
        [head, hint.as_str()]
            .iter()
            .all(|h| cfg.fits(&render_group(h, page, false, true, lang)))
    };
    let mut starts = vec![0];
    let mut start = 0;
    while start < members.len() {
        let mut end = start + 1;
        while end < members.len() && fits(&members[start..=end]) {
            end += 1;
        }
        start = end;
        if start < members.len() {
            starts.push(start);
        }
    }
    starts
}

/// The text of a group's screen (page `page`) and whether there is a next page.
fn group_screen(
    cfg: &UssdConfig,
    data: &MenuData,
    key: &str,
    page: usize,
    lang: Lang,
) -> (String, bool) {
    let Some(g) = data.group.as_ref().filter(|g| g.key == key) else {
        // Dropped (by SMS) since the list was shown.
        return (
            t(
                lang,
                "That group is gone.\n0 Back",
                "该分组已不存在。\n0 返回",
            ),
            false,
        );
    };
    let head = group_head(cfg, g, lang);
    let starts = member_pages(cfg, &head, &g.members, lang);
    let page = page.clamp(1, starts.len());
    let start = starts[page - 1];
    let end = starts.get(page).copied().unwrap_or(g.members.len());
    let more = page < starts.len();
    let text = render_group(
        &head,
        &g.members[start..end],
        g.members.is_empty(),
        more,
        lang,
    );
    (text, more)
}

/// The presets the menu lists: those a subscriber can type (a catalogue id of 0 or below would
/// be Back or no number; `AVATAR <id>` still takes it).
fn listed_presets(
    data: &MenuData,
) -> impl Iterator<Item = &(i64, crate::service::avatar::PresetTitle)> {
    data.presets.iter().filter(|(id, _)| *id > 0)
}

/// `12 Smile`: each preset with its catalogue id, the number `AVATAR 12` takes.
fn preset_items(data: &MenuData, lang: Lang) -> Vec<String> {
    listed_presets(data)
        .map(|(id, title)| {
            let title: String = title.in_lang(lang).chars().take(14).collect();
            format!("{id} {title}")
        })
        .collect()
}

/// The key of the presets' next page: 98, or 998 (and so on) when the catalogue has an
/// avatar 98, so that every listed number chooses its avatar.
fn presets_more_key(data: &MenuData) -> String {
    let mut key = "98".to_string();
    while key.len() < 18 && data.presets.iter().any(|(id, _)| id.to_string() == key) {
        key.insert(0, '9');
    }
    key
}

/// The presets list's layout: catalogue ids, and [`presets_more_key`].
fn presets_layout(more: &str) -> Layout<'_> {
    Layout {
        numbered: false,
        more,
    }
}

/// The text of `screen` (`hint`: prefix "Invalid choice").
pub fn render(
    cfg: &UssdConfig,
    screen: &Screen,
    data: &MenuData,
    lang: Lang,
    hint: bool,
) -> String {
    let body = match screen {
        Screen::Main => t(
            lang,
            "Presence\n1 Set my status\n2 My groups\n3 Avatar\n4 Who is it?\n00 Exit",
            "状态服务\n1 设置状态\n2 我的分组\n3 头像\n4 查询号码\n00 退出",
        ),
        Screen::PickTarget { page } => {
            let head = t(lang, "Who sees it?", "给谁看？");
            list_screen(cfg, &head, &target_items(data, lang), NUMBERED, *page, lang).0
        }
        Screen::PickStatus { target, .. } => {
            let mut s = match lang {
                Lang::En => format!("Status for {}:", target_name(data, target, lang)),
                Lang::Zh => format!("{}看到的状态：", target_name(data, target, lang)),
            };
            for (i, c) in STATUSES.iter().enumerate() {
                s.push_str(&format!("\n{} {}", i + 1, status_word(*c, lang)));
            }
            s.push_str(&t(lang, "\n0 Back", "\n0 返回"));
            s
        }
        Screen::PickExpiry { .. } => t(
            lang,
            "For how long?\n1 Until I change it\n2 1 hour\n3 2 hours\n4 4 hours\n0 Back",
            "持续多久？\n1 一直\n2 1小时\n3 2小时\n4 4小时\n0 返回",
        ),
        Screen::Groups { page } => {
            let head = t(lang, "Your groups:", "你的分组：");
            let items: Vec<String> = group_items(data, lang)
                .into_iter()
                .map(|(_, i)| i)
                .collect();
            list_screen(cfg, &head, &items, NUMBERED, *page, lang).0
        }
        Screen::Group { group, page, .. } => group_screen(cfg, data, group, *page, lang).0,
        Screen::Presets { page } => {
            if listed_presets(data).next().is_none() {
                t(lang, "No avatars yet.\n0 Back", "暂无头像。\n0 返回")
            } else {
                let head = t(lang, "Choose an avatar:", "选择头像：");
                let more = presets_more_key(data);
                let layout = presets_layout(&more);
                list_screen(cfg, &head, &preset_items(data, lang), layout, *page, lang).0
            }
        }
        Screen::WhoPrompt => t(
            lang,
            "Enter the phone number:\n0 Back",
            "请输入号码：\n0 返回",
        ),
    };
    if hint {
        // The hint takes the header's line, so the screen keeps its size.
        let rest = body.split_once('\n').map_or("", |(_, r)| r);
        cfg.clip(&format!("{}\n{rest}", hint_text(lang)))
    } else {
        cfg.clip(&body)
    }
}

fn hint_text(lang: Lang) -> String {
    t(lang, "Invalid choice.", "选择无效。")
}

/// The target's name for a screen header; a non-ASCII name is cut to 8 characters so the
/// screen still fits the 80 UCS-2 characters.
fn target_name(data: &MenuData, key: &str, lang: Lang) -> String {
    let name = if key == "ALL" {
        label(&Label::All, lang)
    } else {
        data.audiences
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or_else(|| key.to_string(), |(_, l, _)| label(l, lang))
    };
    if name.is_ascii() {
        name
    } else {
        name.chars().take(8).collect()
    }
}

fn target_of(key: &str) -> Option<Target> {
    match key {
        "ALL" => Some(Target::All),
        "OTHERS" => Some(Target::Others),
        k => GroupName::try_from(k).ok().map(Target::Group),
    }
}

fn show(cfg: &UssdConfig, screen: Screen, data: &MenuData, lang: Lang, hint: bool) -> Step {
    let text = render(cfg, &screen, data, lang, hint);
    Step::Show(screen, text)
}

fn exit(lang: Lang) -> Step {
    Step::End(t(lang, "Goodbye.", "再见。"))
}

/// The screen shown first (a fresh dial without a path).
pub fn start(cfg: &UssdConfig, data: &MenuData, lang: Lang) -> Step {
    show(cfg, Screen::Main, data, lang, false)
}

/// The menu path in a dialled string: `*123*1*2#` -> `["1", "2"]`; `*123#` -> `[]`.
pub fn dialled_path(dialled: &str) -> Vec<String> {
    let inner = dialled.trim().trim_start_matches('*').trim_end_matches('#');
    inner
        .split('*')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `text` (an SMS) is this menu's code, `*123#`, or a path in it (`*123*1*2#`): a code
/// to dial that was texted.
pub fn is_menu_code(cfg: &UssdConfig, text: &str) -> bool {
    let text = text.trim();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let service = dialled_service(&cfg.code);
    text.starts_with('*')
        && text.ends_with('#')
        && service.is_some()
        && dialled_service(text) == service
        && text[1..text.len() - 1].split('*').all(digits)
}

/// Whether `destination` (an MO's `destination_addr`) names this menu's service code: the code
/// itself (`*123#`), a path in it (`*123*2#`, as some networks pass the whole dialled string),
/// or its digits alone (`123`).
pub fn is_service_code(cfg: &UssdConfig, destination: &str) -> bool {
    let destination = destination.trim();
    is_menu_code(cfg, destination) || dialled_service(&cfg.code) == Some(destination)
}

/// The service code of a dialled string: `*123*1#` -> `123`.
fn dialled_service(dialled: &str) -> Option<&str> {
    dialled
        .trim()
        .strip_prefix('*')?
        .strip_suffix('#')?
        .split('*')
        .next()
        .filter(|s| !s.is_empty())
}

/// Apply `input` on `screen`. `data` must hold what the screen lists (audiences for the
/// target and groups screens, the presets for the presets screen).
pub fn step(cfg: &UssdConfig, screen: &Screen, input: &str, data: &MenuData, lang: Lang) -> Step {
    let input = input.trim();
    if input == "00" {
        return exit(lang);
    }
    // Menu choices are one or two digits; anything longer is no choice (and cannot overflow
    // the page arithmetic below).
    let n: Option<usize> = input.parse().ok().filter(|&k| k < 100);
    let again = |hint| show(cfg, screen.clone(), data, lang, hint);
    match screen {
        Screen::Main => match n {
            Some(0) => exit(lang),
            Some(1) => show(cfg, Screen::PickTarget { page: 1 }, data, lang, false),
            Some(2) => show(cfg, Screen::Groups { page: 1 }, data, lang, false),
            Some(3) => show(cfg, Screen::Presets { page: 1 }, data, lang, false),
            Some(4) => show(cfg, Screen::WhoPrompt, data, lang, false),
            _ => again(true),
        },
        Screen::PickTarget { page } => {
            let head = t(lang, "Who sees it?", "给谁看？");
            let (_, range, more) =
                list_screen(cfg, &head, &target_items(data, lang), NUMBERED, *page, lang);
            let keys = target_keys(data);
            match n {
                Some(0) if *page > 1 => show(
                    cfg,
                    Screen::PickTarget { page: page - 1 },
                    data,
                    lang,
                    false,
                ),
                Some(0) => show(cfg, Screen::Main, data, lang, false),
                Some(8) if more => show(
                    cfg,
                    Screen::PickTarget { page: page + 1 },
                    data,
                    lang,
                    false,
                ),
                Some(k) if k >= 1 && range.start + k - 1 < range.end => show(
                    cfg,
                    Screen::PickStatus {
                        target: keys[range.start + k - 1].clone(),
                        from_group: None,
                    },
                    data,
                    lang,
                    false,
                ),
                _ => again(true),
            }
        }
        Screen::PickStatus { target, from_group } => match n {
            Some(0) => {
                let back = match from_group {
                    Some(list_page) => Screen::Group {
                        group: target.clone(),
                        page: 1,
                        list_page: *list_page,
                    },
                    None => Screen::PickTarget { page: 1 },
                };
                show(cfg, back, data, lang, false)
            }
            Some(k) if (1..=STATUSES.len()).contains(&k) => show(
                cfg,
                Screen::PickExpiry {
                    target: target.clone(),
                    status: STATUSES[k - 1].code().to_string(),
                    from_group: *from_group,
                },
                data,
                lang,
                false,
            ),
            _ => again(true),
        },
        Screen::PickExpiry {
            target,
            status,
            from_group,
        } => match n {
            Some(0) => show(
                cfg,
                Screen::PickStatus {
                    target: target.clone(),
                    from_group: *from_group,
                },
                data,
                lang,
                false,
            ),
            Some(k) if (1..=EXPIRY_HOURS.len()).contains(&k) => {
                let code = StatusCode::ALL
                    .into_iter()
                    .find(|c| c.code() == status)
                    .unwrap_or(StatusCode::Standby);
                let Some(target) = target_of(target) else {
                    return exit(lang);
                };
                let hours = EXPIRY_HOURS[k - 1];
                let expiry = (hours > 0)
                    .then(|| Expiry::for_units(hours, crate::command::DurationUnit::Hours, ""))
                    .and_then(Result::ok);
                let status = if code == StatusCode::Standby {
                    StatusChange::Clear
                } else {
                    StatusChange::Set(StatusText::Builtin(code))
                };
                Step::Run(Command::StatusSet(vec![StatusAssignment {
                    target,
                    status,
                    expiry,
                }]))
            }
            _ => again(true),
        },
        Screen::Groups { page } => {
            let head = t(lang, "Your groups:", "你的分组：");
            let (keys, items): (Vec<String>, Vec<String>) =
                group_items(data, lang).into_iter().unzip();
            let (_, range, more) = list_screen(cfg, &head, &items, NUMBERED, *page, lang);
            match n {
                Some(8) if more => show(cfg, Screen::Groups { page: page + 1 }, data, lang, false),
                Some(0) if *page > 1 => {
                    show(cfg, Screen::Groups { page: page - 1 }, data, lang, false)
                }
                Some(0) => show(cfg, Screen::Main, data, lang, false),
                Some(k) if k >= 1 && range.start + k - 1 < range.end => show(
                    cfg,
                    Screen::Group {
                        group: keys[range.start + k - 1].clone(),
                        page: 1,
                        list_page: *page,
                    },
                    data,
                    lang,
                    false,
                ),
                _ => again(true),
            }
        }
        Screen::Group {
            group,
            page,
            list_page,
        } => {
            let (_, more) = group_screen(cfg, data, group, *page, lang);
            let found = data.group.as_ref().is_some_and(|g| g.key == *group);
            match n {
                Some(0) if *page > 1 => show(
                    cfg,
                    Screen::Group {
                        group: group.clone(),
                        page: page - 1,
                        list_page: *list_page,
                    },
                    data,
                    lang,
                    false,
                ),
                Some(0) => show(cfg, Screen::Groups { page: *list_page }, data, lang, false),
                Some(1) if found => show(
                    cfg,
                    Screen::PickStatus {
                        target: group.clone(),
                        from_group: Some(*list_page),
                    },
                    data,
                    lang,
                    false,
                ),
                Some(8) if more => show(
                    cfg,
                    Screen::Group {
                        group: group.clone(),
                        page: page + 1,
                        list_page: *list_page,
                    },
                    data,
                    lang,
                    false,
                ),
                _ => again(true),
            }
        }
        Screen::Presets { page } => {
            let head = t(lang, "Choose an avatar:", "选择头像：");
            let more_key = presets_more_key(data);
            let layout = presets_layout(&more_key);
            let (_, _, more) =
                list_screen(cfg, &head, &preset_items(data, lang), layout, *page, lang);
            // The avatar's catalogue id, as AVATAR <id> takes it (any in the catalogue, not
            // only those on this page).
            let id = input
                .parse::<u32>()
                .ok()
                .filter(|&id| listed_presets(data).any(|(p, _)| *p == i64::from(id)));
            match n {
                Some(0) if *page > 1 => {
                    show(cfg, Screen::Presets { page: page - 1 }, data, lang, false)
                }
                Some(0) => show(cfg, Screen::Main, data, lang, false),
                _ if more && input == more_key => {
                    show(cfg, Screen::Presets { page: page + 1 }, data, lang, false)
                }
                _ => match id {
                    Some(id) => Step::Run(Command::AvatarSet(id)),
                    None => again(true),
                },
            }
        }
        Screen::WhoPrompt => match n {
            Some(0) => show(cfg, Screen::Main, data, lang, false),
            // Read as the WHO command reads its number; a service number (`10086`, `+86
            // 10086`) is said to be one, as WHO, STOP and GROUP say it
            // (`grammar::read_number`). The service's own numbers, of any length, are told
            // apart by the service (`Service::handle_ussd`, [`service_number_again`]).
            _ => match read_number(input, &cfg.country_code) {
                Ok(m) => Step::Run(Command::Who(m)),
                Err(kind) => {
                    let service = matches!(kind, ParseErrorKind::ServiceNumber);
                    Step::Show(Screen::WhoPrompt, not_a_number(cfg, input, service, lang))
                }
            },
        },
    }
}

/// The WHO prompt again after `input`, a service number (one of the service's own), saying
/// so as [`step`] says it of `10086`.
pub fn service_number_again(cfg: &UssdConfig, input: &str, lang: Lang) -> Step {
    Step::Show(Screen::WhoPrompt, not_a_number(cfg, input, true, lang))
}

/// The WHO prompt again, saying that `input` is no phone number, or with `service` a service
/// number and no subscriber's (the sentence SMS replies start with:
/// [`replies::service_number`]); quoted, cut to fit.
fn not_a_number(cfg: &UssdConfig, input: &str, service: bool, lang: Lang) -> String {
    let screen = |quoted: &str| match (quoted.is_empty(), service, lang) {
        (true, _, Lang::En) => {
            "That is not a phone number.\nEnter the phone number:\n0 Back".into()
        }
        (true, _, Lang::Zh) => "这不是电话号码。\n请输入号码：\n0 返回".into(),
        (false, true, Lang::En) => format!(
            "{}\nEnter the phone number:\n0 Back",
            replies::service_number(quoted, Lang::En)
        ),
        (false, true, Lang::Zh) => format!(
            "{}\n请输入号码：\n0 返回",
            replies::service_number(quoted, Lang::Zh)
        ),
        (false, false, Lang::En) => {
            format!("\"{quoted}\" is not a phone number.\nEnter the phone number:\n0 Back")
        }
        (false, false, Lang::Zh) => format!("“{quoted}”不是电话号码。\n请输入号码：\n0 返回"),
    };
    let chars: Vec<char> = input.chars().collect();
    (0..=chars.len())
        .rev()
        .map(|n| {
            let mut q: String = chars[..n].iter().collect();
            if n < chars.len() {
                q.push_str("...");
            }
            screen(&q)
        })
        .find(|s| cfg.fits(s))
        .unwrap_or_else(|| screen(""))
}

/// The final screen after a command: its reply, cut to one screen. A WHO answer too long for
/// the screen with its photo link is shown without the link: cut, a link opens nothing
/// (`.../a/WINqNf4b...`), and the status before it is what was asked.
pub fn result_text(cfg: &UssdConfig, reply: &Text, lang: Lang) -> String {
    let full = reply.render(lang);
    if let Text::Who {
        name,
        number,
        shown,
        until,
        photo: Some(_),
    } = reply
    {
        if !cfg.fits(&full) {
            let without = Text::Who {
                name: name.clone(),
                number: number.clone(),
                shown: shown.clone(),
                until: *until,
                photo: None,
            };
            return cfg.clip(&without.render(lang));
        }
    }
    cfg.clip(&full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::BuiltinGroup;
    use crate::service::clock::{Day, When};
    use crate::service::replies::Shown;

    fn worst_data() -> MenuData {
        let mut audiences: Vec<(String, Label, usize)> = BuiltinGroup::ALL
            .into_iter()
            .map(|g| (g.en().to_string(), Label::Builtin(g), 200))
            .collect();
        for i in 0..16 {
            let name = format!("{}{i:02}", "组".repeat(14));
            audiences.push((name.clone(), Label::User(name), 200));
        }
        audiences.push(("OTHERS".into(), Label::Others, 0));
        let key = audiences[5].0.clone();
        MenuData {
            group: Some(GroupView {
                key: key.clone(),
                line: Line {
                    label: Label::User(key),
                    shown: Shown::Text("我".repeat(60)),
                    until: Some(When {
                        day: Day::Date { month: 12, day: 31 },
                        hour: 23,
                        minute: 59,
                    }),
                    members: Some(200),
                },
                members: (0..200).map(|i| format!("+86139{i:010}")).collect(),
            }),
            audiences,
            presets: (1..=40)
                .map(|i| (i, "非常长的头像标题名字很长很长".into()))
                .collect(),
        }
    }

    /// A subscriber with FAMILY (2 members, FREE until 15:00) and an empty COLLEAGUES, on the
    /// FAMILY screen.
    fn family_data() -> MenuData {
        MenuData {
            audiences: vec![
                ("FAMILY".into(), Label::Builtin(BuiltinGroup::Family), 2),
                (
                    "COLLEAGUES".into(),
                    Label::Builtin(BuiltinGroup::Colleagues),
                    0,
                ),
                ("OTHERS".into(), Label::Others, 0),
            ],
            presets: vec![],
            group: Some(GroupView {
                key: "FAMILY".into(),
                line: Line {
                    label: Label::Builtin(BuiltinGroup::Family),
                    shown: Shown::Code(StatusCode::Free),
                    until: Some(When {
                        day: Day::Today,
                        hour: 15,
                        minute: 0,
                    }),
                    members: Some(2),
                },
                members: vec!["+8613900139000".into(), "+8613700137000".into()],
            }),
        }
    }

    fn every_screen(data: &MenuData) -> Vec<Screen> {
        let mut v = vec![
            Screen::Main,
            Screen::PickStatus {
                target: "FAMILY".into(),
                from_group: None,
            },
            Screen::PickStatus {
                target: data
                    .audiences
                    .get(5)
                    .map_or_else(|| "WORK".to_string(), |a| a.0.clone()),
                from_group: Some(1),
            },
            Screen::PickExpiry {
                target: "ALL".into(),
                status: "FREE".into(),
                from_group: None,
            },
            Screen::WhoPrompt,
        ];
        for page in 1..=12 {
            v.push(Screen::PickTarget { page });
            v.push(Screen::Groups { page });
            v.push(Screen::Presets { page });
            for group in [
                data.group.as_ref().map_or("FAMILY", |g| g.key.as_str()),
                "GONE",
            ] {
                v.push(Screen::Group {
                    group: group.into(),
                    page: page * 7,
                    list_page: 1,
                });
            }
        }
        v
    }

    #[test]
    fn every_screen_fits_one_ussd_string_in_both_languages() {
        let cfg = UssdConfig::default();
        for data in [worst_data(), MenuData::default()] {
            for screen in every_screen(&data) {
                for lang in [Lang::En, Lang::Zh] {
                    for hint in [false, true] {
                        // Render without the final clip: the layout itself must fit.
                        let text = render(&cfg, &screen, &data, lang, hint);
                        assert!(
                            !text.ends_with("..."),
                            "{screen:?} {lang:?} was cut: {text}"
                        );
                        assert!(cfg.fits(&text), "{screen:?} {lang:?}: {text}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_who_prompt_reads_a_number_as_the_who_command_does() {
        let cfg = UssdConfig::default();
        let data = MenuData::default();
        match step(
            &cfg,
            &Screen::WhoPrompt,
            "+86 (138) 0013-8000",
            &data,
            Lang::En,
        ) {
            Step::Run(Command::Who(m)) => assert_eq!(m.as_str(), "+8613800138000"),
            other => panic!("{other:?}"),
        }
        // Too short or mistyped: asked again, as the WHO command refuses them.
        for typed in ["1380013800", "1234", "0013-8000"] {
            assert!(
                matches!(
                    step(&cfg, &Screen::WhoPrompt, typed, &data, Lang::En),
                    Step::Show(Screen::WhoPrompt, _)
                ),
                "{typed}"
            );
        }
    }

    #[test]
    fn a_huge_number_is_no_choice_on_any_menu() {
        let cfg = UssdConfig::default();
        let data = worst_data();
        // (The WHO prompt takes a phone number, not a choice.)
        for screen in every_screen(&data)
            .into_iter()
            .filter(|s| *s != Screen::WhoPrompt)
        {
            for input in [
                usize::MAX.to_string(),
                (usize::MAX - 6).to_string(),
                "100".into(),
            ] {
                match step(&cfg, &screen, &input, &data, Lang::En) {
                    Step::Show(next, _) => assert_eq!(next, screen, "{input}"),
                    other => panic!("{screen:?} {input}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn lists_page_so_every_item_is_reachable() {
        let cfg = UssdConfig::default();
        let data = worst_data();
        let mut seen = Vec::new();
        let mut screen = Screen::PickTarget { page: 1 };
        for _ in 0..20 {
            for k in 1..=MAX_ITEMS {
                if let Step::Show(Screen::PickStatus { target, .. }, _) =
                    step(&cfg, &screen, &k.to_string(), &data, Lang::Zh)
                {
                    if !seen.contains(&target) {
                        seen.push(target);
                    }
                }
            }
            match step(&cfg, &screen, "8", &data, Lang::Zh) {
                Step::Show(next @ Screen::PickTarget { .. }, _) => screen = next,
                _ => break,
            }
        }
        assert_eq!(seen, target_keys(&data), "every audience and ALL, in order");
    }

    #[test]
    fn the_presets_screen_shows_titles_in_the_menu_language() {
        use crate::service::avatar::PresetTitle;
        let cfg = UssdConfig::default();
        let data = MenuData {
            audiences: vec![],
            presets: vec![
                (1, PresetTitle::new("Cat", Some("猫".into()))),
                (2, "Robot".into()),
            ],
            group: None,
        };
        let screen = Screen::Presets { page: 1 };
        let zh = render(&cfg, &screen, &data, Lang::Zh, false);
        assert!(zh.contains("猫") && !zh.contains("Cat"), "{zh}");
        assert!(
            zh.contains("Robot"),
            "no Chinese title: the English one. {zh}"
        );
        let en = render(&cfg, &screen, &data, Lang::En, false);
        assert!(en.contains("Cat") && !en.contains("猫"), "{en}");
    }

    #[test]
    fn status_path_builds_the_same_command_as_sms() {
        let cfg = UssdConfig::default();
        let data = MenuData {
            audiences: vec![
                ("FAMILY".into(), Label::Builtin(BuiltinGroup::Family), 2),
                ("OTHERS".into(), Label::Others, 0),
            ],
            presets: vec![],
            group: None,
        };
        let Step::Show(s, _) = step(&cfg, &Screen::Main, "1", &data, Lang::En) else {
            panic!()
        };
        let Step::Show(s, text) = step(&cfg, &s, "1", &data, Lang::En) else {
            panic!()
        };
        assert!(text.starts_with("Status for FAMILY:"), "{text}");
        let Step::Show(s, _) = step(&cfg, &s, "1", &data, Lang::En) else {
            panic!()
        };
        let got = step(&cfg, &s, "3", &data, Lang::En);
        let sms = crate::command::parse("STATUS FAMILY FREE FOR 2H", "86").unwrap();
        assert_eq!(got, Step::Run(sms.command));
        // Invalid input repeats the screen with a hint; 0 goes back; 00 exits.
        let Step::Show(same, text) = step(&cfg, &s, "9", &data, Lang::En) else {
            panic!()
        };
        assert_eq!(same, s);
        assert!(text.starts_with("Invalid choice."));
        assert!(matches!(
            step(&cfg, &s, "0", &data, Lang::En),
            Step::Show(Screen::PickStatus { .. }, _)
        ));
        assert_eq!(
            step(&cfg, &s, "00", &data, Lang::En),
            Step::End("Goodbye.".into())
        );
    }

    #[test]
    fn a_group_chosen_from_my_groups_shows_its_status_and_members() {
        let cfg = UssdConfig::default();
        let data = family_data();
        let list = Screen::Groups { page: 1 };
        assert_eq!(
            render(&cfg, &list, &data, Lang::En, false),
            "Your groups:\n1 FAMILY (2)\n2 COLLEAGUES (0)\n0 Back"
        );
        let Step::Show(family, text) = step(&cfg, &list, "1", &data, Lang::En) else {
            panic!()
        };
        assert_eq!(
            family,
            Screen::Group {
                group: "FAMILY".into(),
                page: 1,
                list_page: 1
            }
        );
        assert_eq!(
            text,
            "FAMILY(2) FREE until 15:00\n+8613900139000\n+8613700137000\n1 Set its status\n0 Back"
        );
        assert_eq!(
            render(&cfg, &family, &data, Lang::Zh, false),
            "家人(2)：“空闲”至15:00\n+8613900139000\n+8613700137000\n1 设置状态\n0 返回"
        );
        // 1 sets the status this group sees; 0 goes back to the list; 8 is no page here.
        let Step::Show(pick @ Screen::PickStatus { .. }, _) =
            step(&cfg, &family, "1", &data, Lang::En)
        else {
            panic!()
        };
        assert!(matches!(&pick, Screen::PickStatus { target, .. } if target == "FAMILY"));
        // Back from its statuses, and from how long after them, returns to this group's
        // screen (it went to the list of whom to show a status).
        assert_eq!(
            step(&cfg, &pick, "0", &data, Lang::En),
            show(&cfg, family.clone(), &data, Lang::En, false)
        );
        let Step::Show(how_long, _) = step(&cfg, &pick, "2", &data, Lang::En) else {
            panic!()
        };
        assert!(matches!(
            step(&cfg, &how_long, "0", &data, Lang::En),
            Step::Show(ref back, _) if *back == pick
        ));
        assert!(matches!(
            step(&cfg, &family, "0", &data, Lang::En),
            Step::Show(Screen::Groups { page: 1 }, _)
        ));
        let Step::Show(same, text) = step(&cfg, &family, "8", &data, Lang::En) else {
            panic!()
        };
        assert_eq!(same, family);
        assert!(
            text.starts_with("Invalid choice.\n+8613900139000"),
            "{text}"
        );
        // The second group (empty) is choosable too.
        let Step::Show(Screen::Group { group, .. }, _) = step(&cfg, &list, "2", &data, Lang::En)
        else {
            panic!()
        };
        assert_eq!(group, "COLLEAGUES");
    }

    #[test]
    fn a_big_group_pages_its_members_and_back_returns_page_by_page() {
        let cfg = UssdConfig::default();
        let data = worst_data();
        let key = data.group.as_ref().unwrap().key.clone();
        for lang in [Lang::En, Lang::Zh] {
            let mut screen = Screen::Group {
                group: key.clone(),
                page: 1,
                list_page: 3,
            };
            let mut seen = Vec::new();
            for _ in 0..300 {
                let text = render(&cfg, &screen, &data, lang, false);
                seen.extend(
                    text.lines()
                        .filter(|l| l.starts_with("+86"))
                        .map(str::to_string),
                );
                match step(&cfg, &screen, "8", &data, lang) {
                    Step::Show(next, _) if next != screen => screen = next,
                    _ => break,
                }
            }
            assert_eq!(seen, data.group.as_ref().unwrap().members, "{lang:?}");
            let Screen::Group { page, .. } = screen.clone() else {
                panic!()
            };
            assert!(page > 2, "{lang:?}: {page} pages");
            // Back walks the pages down, then returns to the list page it came from.
            for _ in 1..page {
                let Step::Show(prev, _) = step(&cfg, &screen, "0", &data, lang) else {
                    panic!()
                };
                screen = prev;
            }
            assert!(matches!(
                step(&cfg, &screen, "0", &data, lang),
                Step::Show(Screen::Groups { page: 3 }, _)
            ));
        }
    }

    #[test]
    fn the_avatar_list_numbers_each_avatar_with_its_catalogue_id() {
        let cfg = UssdConfig::default();
        let mut data = worst_data();
        data.presets = (1..=14)
            .map(|i| (i, format!("Pic{i}").as_str().into()))
            .collect();
        let first = Screen::Presets { page: 1 };
        assert_eq!(
            render(&cfg, &first, &data, Lang::En, false),
            "Choose an avatar:\n1 Pic1\n2 Pic2\n3 Pic3\n4 Pic4\n5 Pic5\n6 Pic6\n7 Pic7\n98 More\n0 Back"
        );
        let Step::Show(second, text) = step(&cfg, &first, "98", &data, Lang::En) else {
            panic!()
        };
        assert_eq!(second, Screen::Presets { page: 2 });
        assert_eq!(
            text,
            "Choose an avatar:\n8 Pic8\n9 Pic9\n10 Pic10\n11 Pic11\n12 Pic12\n13 Pic13\n14 Pic14\n0 Back"
        );
        // The number shown is the one AVATAR takes, on any page; 8 is avatar 8, not "more".
        for (screen, input, id) in [
            (&second, "8", 8),
            (&second, "12", 12),
            (&first, "8", 8),
            (&first, "14", 14),
            (&first, "3", 3),
        ] {
            assert_eq!(
                step(&cfg, screen, input, &data, Lang::En),
                Step::Run(Command::AvatarSet(id)),
                "{screen:?} {input}"
            );
        }
        assert!(matches!(
            step(&cfg, &second, "15", &data, Lang::En),
            Step::Show(Screen::Presets { page: 2 }, t) if t.starts_with("Invalid choice.")
        ));
        assert!(matches!(
            step(&cfg, &second, "0", &data, Lang::En),
            Step::Show(Screen::Presets { page: 1 }, _)
        ));
        // A catalogue with an avatar 98 moves "more" out of its way.
        data.presets.push((98, "Pic98".into()));
        let text = render(&cfg, &first, &data, Lang::En, false);
        assert!(text.ends_with("\n998 More\n0 Back"), "{text}");
        assert_eq!(
            step(&cfg, &first, "98", &data, Lang::En),
            Step::Run(Command::AvatarSet(98))
        );
        assert!(matches!(
            step(&cfg, &first, "998", &data, Lang::En),
            Step::Show(Screen::Presets { page: 2 }, _)
        ));
    }

    #[test]
    fn every_avatar_of_a_long_catalogue_is_listed_once_with_its_id() {
        let cfg = UssdConfig::default();
        let data = worst_data();
        for lang in [Lang::En, Lang::Zh] {
            let mut screen = Screen::Presets { page: 1 };
            let mut seen = Vec::new();
            for _ in 0..50 {
                let text = render(&cfg, &screen, &data, lang, false);
                for l in text.lines().skip(1) {
                    let (key, _) = l.split_once(' ').unwrap();
                    if let Ok(id) = key.parse::<i64>() {
                        if id != 0 && id != 98 {
                            seen.push(id);
                        }
                    }
                }
                match step(&cfg, &screen, "98", &data, lang) {
                    Step::Show(next, _) if next != screen => screen = next,
                    _ => break,
                }
            }
            let all: Vec<i64> = data.presets.iter().map(|(id, _)| *id).collect();
            assert_eq!(seen, all, "{lang:?}");
        }
    }

    #[test]
    fn the_who_prompt_says_what_is_not_a_phone_number() {
        let cfg = UssdConfig::default();
        let data = MenuData::default();
        let who = Screen::WhoPrompt;
        let cases = [
            (
                "abc",
                Lang::En,
                "\"abc\" is not a phone number.\nEnter the phone number:\n0 Back",
            ),
            (
                "12",
                Lang::En,
                "\"12\" is not a phone number.\nEnter the phone number:\n0 Back",
            ),
            (
                "张三",
                Lang::Zh,
                "“张三”不是电话号码。\n请输入号码：\n0 返回",
            ),
            (
                "",
                Lang::En,
                "That is not a phone number.\nEnter the phone number:\n0 Back",
            ),
        ];
        for (input, lang, want) in cases {
            assert_eq!(
                step(&cfg, &who, input, &data, lang),
                Step::Show(Screen::WhoPrompt, want.to_string()),
                "{input}"
            );
        }
        // A service number is said to be one, as WHO, STOP and GROUP say it in an SMS.
        let cases = [
            (
                "10086",
                Lang::En,
                "\"10086\" is not a subscriber's phone number (a service number?).\nEnter the phone number:\n0 Back",
            ),
            (
                "12306",
                Lang::Zh,
                "“12306”不是用户的手机号码（可能是服务号码）。\n请输入号码：\n0 返回",
            ),
            (
                "10658",
                Lang::Zh,
                "“10658”不是用户的手机号码（可能是服务号码）。\n请输入号码：\n0 返回",
            ),
        ];
        for (input, lang, want) in cases {
            let got = step(&cfg, &who, input, &data, lang);
            assert_eq!(
                got,
                Step::Show(Screen::WhoPrompt, want.to_string()),
                "{input}"
            );
            let Step::Show(_, text) = got else { panic!() };
            assert!(cfg.fits(&text), "{text}");
        }
        // A mobile cut short is still no phone number.
        assert_eq!(
            step(&cfg, &who, "13800", &data, Lang::En),
            Step::Show(
                Screen::WhoPrompt,
                "\"13800\" is not a phone number.\nEnter the phone number:\n0 Back".into()
            )
        );
        // A long answer is quoted in part, and the screen still fits.
        let long = "我".repeat(100);
        let Step::Show(Screen::WhoPrompt, text) = step(&cfg, &who, &long, &data, Lang::Zh) else {
            panic!()
        };
        assert!(
            cfg.fits(&text) && text.contains("...”不是电话号码"),
            "{text}"
        );
        // A number is still asked about, and 0 goes back.
        assert!(matches!(
            step(&cfg, &who, "13800138000", &data, Lang::En),
            Step::Run(Command::Who(_))
        ));
        assert!(matches!(
            step(&cfg, &who, "0", &data, Lang::En),
            Step::Show(Screen::Main, _)
        ));
    }

    /// A WHO answer with a Chinese name and a photo link is UCS-2 (80 characters a screen):
    /// the link that does not fit whole is left out, never cut; one that fits stays.
    #[test]
    fn a_who_answer_leaves_out_a_link_it_would_cut() {
        let cfg = UssdConfig::default();
        let who = |name: &str| Text::Who {
            name: Some(name.into()),
            number: "+8613800000002".into(),
            shown: Shown::Code(StatusCode::Free),
            until: None,
            photo: Some("http://127.0.0.1:29280/a/WINqNf4bFCD0fC91OLFWzQ".into()),
        };
        let text = result_text(&cfg, &who("妈妈"), Lang::En);
        assert_eq!(text, "妈妈 (+8613800000002): FREE.");
        let text = result_text(&cfg, &who("Mum"), Lang::En);
        assert!(
            text.ends_with("Photo: http://127.0.0.1:29280/a/WINqNf4bFCD0fC91OLFWzQ"),
            "{text}"
        );
    }

    #[test]
    fn the_menu_code_is_known_when_texted() {
        let cfg = UssdConfig::default();
        for yes in ["*123#", " *123# ", "*123*1#", "*123*1*2#"] {
            assert!(is_menu_code(&cfg, yes), "{yes}");
        }
        for no in [
            "*124#", "*100#", "123", "*123", "123#", "*123*x#", "*#", "*1234#", "**123#",
        ] {
            assert!(!is_menu_code(&cfg, no), "{no}");
        }
    }

    #[test]
    fn dialled_strings_give_the_path() {
        assert_eq!(dialled_path("*123#"), Vec::<String>::new());
        assert_eq!(dialled_path("*123*1*2#"), vec!["1", "2"]);
        assert_eq!(dialled_path(" *123*4# "), vec!["4"]);
    }
}
