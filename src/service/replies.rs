//! Every text a subscriber can see, in English and Chinese (DESIGN.md style example 7): replies to
//! commands, status updates to contacts, help. Nothing else in the gateway writes user-visible
//! words. A test renders every variant with worst-case arguments in both languages and checks the
//! COMMANDS.md limits: at most 3 SMS segments, and English texts without free text stay in GSM-7.
//!
//! Lists that can grow (groups, members) are cut to fit with [`clip`].

use sms_wire::segment::{segment_text, ConcatStyle};

use super::avatar::{Metric, PresetTitle};
use super::clock::{Day, When};
use crate::command::{BuiltinGroup, HelpTopic, Lang, ParseErrorKind, Privacy, StatusCode};

/// Why an uploaded picture was refused (from the image pipeline's errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Bigger than the limit (KB).
    TooLarge(usize),
    /// Not JPEG, PNG, GIF, BMP or WebP.
    Format,
    /// Width, height or pixel count beyond the limits: the side of the largest square taken
    /// (`[avatar] max_dimension`), when the limits are known (not for a decoder's memory
    /// limit).
    Dimensions(Option<u32>),
    /// Damaged or unreadable.
    Corrupt,
    /// No picture came with the upload (a form sent without choosing a file).
    Empty,
    /// An animation with more frames than the pipeline takes.
    Frames,
    /// A multipart form with more than one file in it: which one is the picture is not
    /// guessed.
    SeveralFiles,
    /// The link was used or has expired.
    LinkInvalid,
}

/// Most SMS segments one reply may take (COMMANDS.md: never more than 3).
pub const MAX_SEGMENTS: usize = 3;

/// What an audience is called in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// A built-in group, named in the reader's language.
    Builtin(BuiltinGroup),
    /// A user group (its canonical name).
    User(String),
    /// OTHERS / 其他.
    Others,
    /// ALL / 全部.
    All,
}

/// A status as shown: a built-in code (named in the reader's language) or the owner's free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// A built-in code.
    Code(StatusCode),
    /// Free text, as the owner typed it.
    Text(String),
}

/// One line of a status summary: who sees what, until when, how many members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The audience.
    pub label: Label,
    /// Its status.
    pub shown: Shown,
    /// Expiry, if any.
    pub until: Option<When>,
    /// Member count (`None` for OTHERS / ALL).
    pub members: Option<usize>,
}

/// The avatar a subscriber has, as `AVATAR` alone tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentAvatar {
    /// No avatar.
    None,
    /// A preset from the catalogue.
    Preset {
        /// Preset id.
        id: i64,
        /// Its titles (`None` if the catalogue no longer has it).
        title: Option<PresetTitle>,
    },
    /// The subscriber's own uploaded picture.
    Own,
}

/// Who a new avatar (`AVATAR n`, an upload) goes to, as its reply says ("0 contacts will get
/// it" read as if the subscriber had no contacts, in the two cases where no contact is sent it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This many contacts will get it.
    Told(usize),
    /// The owner's PRIVACY is NOBODY: nobody sees it (the reply says how to share it).
    Nobody,
    /// It was the avatar already and no contact is sent it again (the handsets allowed it
    /// have it).
    Already,
}

/// Every text the gateway sends to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// Help, short (`General`) or on one topic.
    Help(HelpTopic),
    /// A command that could not be parsed: what was wrong, quoting `bad`, and the usage.
    Invalid {
        /// What kind of mistake.
        kind: ParseErrorKind,
        /// The offending text.
        bad: String,
        /// The usage to show.
        usage: HelpTopic,
    },
    /// NAME accepted.
    NameSet(String),
    /// `NAME OFF`: updates show the number alone.
    NameCleared,
    /// GROUPS: each audience with its member count and status; the lines that fit one reply
    /// on page `page` (see [`paged`]).
    Groups {
        /// Every audience.
        lines: Vec<Line>,
        /// Page asked for (1-based; past the last, answered by [`no_such_page`]).
        page: u32,
    },
    /// STATUS alone: what each audience sees, paged as [`Text::Groups`].
    Statuses {
        /// Every audience.
        lines: Vec<Line>,
        /// Page asked for (1-based; past the last, answered by [`no_such_page`]).
        page: u32,
    },
    /// GROUP g `[page]`: one page of members.
    Members {
        /// The group.
        group: Label,
        /// Page asked for (1-based; past the last, answered by [`no_such_page`]).
        page: u32,
        /// Pages in all.
        pages: u32,
        /// Members in all.
        total: usize,
        /// The numbers on this page (none past the last).
        numbers: Vec<String>,
    },
    /// GROUP g ADD done.
    Added {
        /// The group.
        group: Label,
        /// Numbers newly added.
        added: usize,
        /// Numbers that were members already.
        already: usize,
        /// The sender's own number was in the list and was skipped.
        skipped_self: bool,
        /// Members now.
        total: usize,
        /// When the updates to the contacts it moved go out, if the hourly quota holds them.
        deferred_until: Option<When>,
        /// What the group sees now (and until when), when that is not STANDBY: the reply
        /// says so instead of suggesting a status to set, which read as if the numbers added
        /// saw nothing yet.
        sees: Option<(Shown, Option<When>)>,
    },
    /// GROUP g ADD refused: the group would exceed its cap.
    GroupFull {
        /// The group.
        group: Label,
        /// The cap.
        cap: usize,
        /// Members now.
        has: usize,
    },
    /// GROUP g ADD refused: all groups together would exceed the cap.
    ContactsFull {
        /// The cap.
        cap: usize,
        /// Memberships now.
        has: usize,
    },
    /// GROUP g ADD refused: too many user groups.
    TooManyGroups {
        /// The cap.
        cap: usize,
    },
    /// GROUP g DEL done.
    Removed {
        /// The group.
        group: Label,
        /// Numbers removed.
        removed: usize,
        /// Listed numbers that were not members.
        not_members: usize,
        /// Members now.
        total: usize,
        /// When the updates to the contacts it moved go out, if the hourly quota holds them.
        deferred_until: Option<When>,
    },
    /// GROUP g RENAME done.
    Renamed {
        /// Old name.
        from: Label,
        /// New name.
        to: Label,
    },
    /// A built-in group cannot be renamed (or a group renamed to a built-in name).
    BuiltinFixed(Label),
    /// The new name is taken.
    GroupExists(Label),
    /// GROUP g DROP done (a built-in group is emptied, not deleted).
    Dropped {
        /// The group.
        group: Label,
        /// Members it had.
        members: usize,
        /// When the updates to the contacts it moved go out, if the hourly quota holds them.
        deferred_until: Option<When>,
    },
    /// The subscriber has no such group.
    NoSuchGroup(Label),
    /// The subscriber has no such group, and `near` is one of theirs a typo away
    /// (`STATUS FAMLY FREE`).
    NoSuchGroupNear {
        /// The group as named.
        group: Label,
        /// The group probably meant.
        near: Label,
    },
    /// STATUS set; `told` contacts will get an update; `deferred_until` when the hourly quota
    /// holds updates back.
    StatusSet {
        /// What was set.
        lines: Vec<Line>,
        /// Contacts who will be told.
        told: usize,
        /// When held-back updates go out, if the quota was reached.
        deferred_until: Option<When>,
    },
    /// WHO n: what n shows the asker.
    Who {
        /// n's display name.
        name: Option<String>,
        /// n's number.
        number: String,
        /// The status.
        shown: Shown,
        /// Expiry, if any.
        until: Option<When>,
        /// Link to n's picture, when n has one the asker may see.
        photo: Option<String>,
    },
    /// WHO n: n does not use the service.
    WhoUnknown(String),
    /// WHO yourself.
    WhoSelf,
    /// STOP n or START n of one's own number: no updates about oneself come anyway.
    StopSelf,
    /// STOP n.
    Stopped(String),
    /// STOP ALL.
    StoppedAll,
    /// START n.
    Started(String),
    /// START n when updates about n were not stopped: nothing to undo (it said "again").
    NotStopped(String),
    /// START ALL.
    StartedAll,
    /// LANG set.
    LangSet(Lang),
    /// PRIVACY set.
    PrivacySet(Privacy),
    /// `PRIVACY` alone: who may see the avatar now, and how to change it.
    PrivacyNow(Privacy),
    /// AVATARS: one page of the preset catalogue and the gallery link.
    Presets {
        /// Page asked for (1-based; past the last, answered by [`no_such_page`]).
        page: u32,
        /// Pages in all.
        pages: u32,
        /// (id, titles) on this page (none past the last); the reply shows the title in its
        /// language, the English one when there is no Chinese one.
        items: Vec<(i64, PresetTitle)>,
        /// The gallery page URL (`.../gallery?page=2`); a Chinese reply adds `&lang=zh`, so
        /// the page opens in Chinese.
        gallery: String,
    },
    /// AVATARS with an empty catalogue.
    NoPresets,
    /// AVATAR alone: the current avatar and the AVATAR forms, in one SMS.
    AvatarNow(CurrentAvatar),
    /// AVATAR n: no such preset.
    NoSuchPreset(i64),
    /// AVATAR n done.
    AvatarChosen {
        /// Preset id.
        id: i64,
        /// Its titles (the reply shows the one in its language, else the English one).
        title: PresetTitle,
        /// Who gets it.
        reach: Reach,
    },
    /// AVATAR UPLOAD: the one-time link.
    UploadLink {
        /// The link.
        url: String,
        /// Minutes it stays valid.
        minutes: u64,
        /// The largest picture taken, in KB (`[avatar] max_upload_kb`).
        max_kb: usize,
    },
    /// AVATAR UPLOAD refused: the closest threshold.
    UploadNotYet {
        /// Which figure.
        metric: Metric,
        /// The subscriber's value.
        have: u64,
        /// The threshold.
        need: u64,
    },
    /// AVATAR UPLOAD: uploads are off on this gateway.
    UploadsOff,
    /// The USSD code (`*123#`, or a path in it) texted instead of dialled: the code as texted.
    DialIt(String),
    /// AVATAR OFF (`had`: there was one to remove).
    AvatarRemoved {
        /// Whether an avatar was set.
        had: bool,
    },
    /// An upload was stored.
    AvatarUploaded {
        /// Who gets it.
        reach: Reach,
    },
    /// An upload was refused.
    UploadRejected(Rejected),
    /// A long message whose parts did not all arrive in time was dropped unread.
    PartsMissing,
    /// WAP Push SI text to a contact: the owner has a new picture. Fitted to `room` octets
    /// (what the push can carry and still go as one SMS,
    /// [`push_text_room`](crate::delivery::push_text_room)): a name too long for it is cut,
    /// with an ellipsis, to what fits, or left out (the number stays) when fewer than
    /// [`PUSH_NAME_MIN_CHARS`] of it would.
    AvatarPush {
        /// Owner's display name.
        name: Option<String>,
        /// Owner's number.
        number: String,
        /// Octets of UTF-8 the text may take.
        room: usize,
    },
    /// The same as a plain SMS with the link, for handsets without WAP Push.
    AvatarLink {
        /// Owner's display name.
        name: Option<String>,
        /// Owner's number.
        number: String,
        /// Download link.
        url: String,
    },
    /// To a contact: the owner's status as this contact now sees it.
    Update {
        /// Owner's display name.
        name: Option<String>,
        /// Owner's number (E.164).
        number: String,
        /// The status.
        shown: Shown,
        /// Expiry, if any.
        until: Option<When>,
    },
}

impl Label {
    fn render(&self, lang: Lang) -> String {
        match (self, lang) {
            (Label::Builtin(g), Lang::En) => g.en().to_string(),
            (Label::Builtin(g), Lang::Zh) => g.zh().to_string(),
            (Label::User(name), _) => name.clone(),
            (Label::Others, Lang::En) => "OTHERS".into(),
            (Label::Others, Lang::Zh) => "其他".into(),
            (Label::All, Lang::En) => "ALL".into(),
            (Label::All, Lang::Zh) => "全部".into(),
        }
    }
}

impl Shown {
    fn render(&self, lang: Lang) -> String {
        match (self, lang) {
            (Shown::Code(c), Lang::En) => c.code().to_string(),
            (Shown::Code(c), Lang::Zh) => zh_status(*c).to_string(),
            (Shown::Text(t), _) => t.clone(),
        }
    }
}

fn zh_status(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Standby => "待机",
        StatusCode::Free => "空闲",
        StatusCode::Busy => "忙碌",
        StatusCode::Meeting => "开会",
        StatusCode::Driving => "开车",
        StatusCode::Dnd => "请勿打扰",
        StatusCode::Off => "关机",
        StatusCode::InCall => "通话中",
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `at` in words: `17:00`, `tomorrow 17:00` / `明天17:00`, `Dec 7 17:00` / `12月7日17:00`; the
/// coming midnight is `midnight` / `午夜` (not `tomorrow 00:00`, which reads as a day later).
fn when(at: &When, lang: Lang) -> String {
    let hm = format!("{:02}:{:02}", at.hour, at.minute);
    match (at.day, lang) {
        (Day::Tomorrow, _) if at.hour == 0 && at.minute == 0 => match lang {
            Lang::En => "midnight".into(),
            Lang::Zh => "午夜".into(),
        },
        (Day::Today, _) => hm,
        (Day::Tomorrow, Lang::En) => format!("tomorrow {hm}"),
        (Day::Tomorrow, Lang::Zh) => format!("明天{hm}"),
        (Day::Date { month, day }, Lang::En) => {
            let name = month
                .checked_sub(1)
                .and_then(|m| MONTHS.get(m as usize))
                .copied()
                .unwrap_or("?");
            format!("{name} {day} {hm}")
        }
        (Day::Date { month, day }, Lang::Zh) => format!("{month}月{day}日{hm}"),
    }
}

/// What a reply adds when the hourly quota holds the updates it caused until `at`
/// (` Hourly update limit reached: ...` / `已达每小时通知上限，...`): a STATUS and a GROUP
/// ADD, DEL or DROP that moved contacts say it alike.
fn held_back(at: &When, lang: Lang) -> String {
    let t = when(at, lang);
    match (lang, at.day) {
        // `tomorrow 00:30`, not `at tomorrow 00:30` (but `at midnight`).
        (Lang::En, Day::Tomorrow) if !t.starts_with("midnight") => {
            format!(" Hourly update limit reached: they get your latest status {t}.")
        }
        (Lang::En, _) => {
            format!(" Hourly update limit reached: they get your latest status at {t}.")
        }
        (Lang::Zh, _) => format!("已达每小时通知上限，{t}发送最新状态。"),
    }
}

/// `shown` plus ` until 15:00` / `至15:00`.
/// `MEETING until 15:00` / `"at lunch, back soon" until 15:00` / `“开会”至15:00`: a status
/// and its expiry. English quotes a free-text status, as Chinese quotes every status: unquoted,
/// `FAMILY sees at lunch, back soon until 19:48` read as two things, and a comma inside broke
/// the `;`-separated lists of STATUS and GROUPS.
fn status_phrase(shown: &Shown, until: &Option<When>, lang: Lang) -> String {
    let s = match (shown, lang) {
        (Shown::Text(t), Lang::En) => format!("\"{t}\""),
        _ => shown.render(lang),
    };
    match (until, lang) {
        (None, Lang::En) => s,
        (None, Lang::Zh) => format!("“{s}”"),
        (Some(t), Lang::En) => format!("{s} until {}", when(t, lang)),
        (Some(t), Lang::Zh) => format!("“{s}”至{}", when(t, lang)),
    }
}

/// `Zhang San (+8613800138000)` or just the number.
/// The fewest characters of an owner's name an avatar push shows cut: fewer say nothing a
/// contact would recognise, and the push names the owner by number alone.
pub const PUSH_NAME_MIN_CHARS: usize = 2;

/// An avatar push's text in at most `room` octets of UTF-8 where it can be: the owner's name
/// whole, else cut to the most characters that fit with an ellipsis ("..." in English, "…" in
/// Chinese, three octets either way), else left out. The number and the rest are never cut;
/// with no room even for those the text goes longer (the push takes two SMS, its link whole).
fn avatar_push(name: &Option<String>, number: &str, room: usize, lang: Lang) -> String {
    // Short: with the link and the `created` date, "Zhang San (+8613800138000) has a new
    // caller picture" took a push to 137 octets, past one SMS (133). In Chinese every
    // ideograph is three octets: "更新了来电头像" (21) left a 60-odd character link and the
    // longest number (16) room for no name at all; "新来电头像" (15, "new caller picture",
    // as the English) leaves room for four ideographs beside them.
    let say = |name: &Option<String>| match lang {
        Lang::En => format!("{}: new caller picture", who_phrase(name, number, lang)),
        Lang::Zh => format!("{}新来电头像", who_phrase(name, number, lang)),
    };
    let whole = say(name);
    let Some(full) = name else {
        return whole;
    };
    if whole.len() <= room {
        return whole;
    }
    let ellipsis = match lang {
        Lang::En => "...",
        Lang::Zh => "…",
    };
    let chars: Vec<char> = full.chars().collect();
    for keep in (PUSH_NAME_MIN_CHARS..chars.len()).rev() {
        let kept: String = chars[..keep].iter().collect();
        let cut = say(&Some(format!("{}{ellipsis}", kept.trim_end())));
        if cut.len() <= room {
            return cut;
        }
    }
    say(&None)
}

fn who_phrase(name: &Option<String>, number: &str, lang: Lang) -> String {
    match (name, lang) {
        (Some(n), Lang::En) => format!("{n} ({number})"),
        (Some(n), Lang::Zh) => format!("{n}({number})"),
        (None, _) => number.to_string(),
    }
}

fn usage(topic: HelpTopic, lang: Lang) -> &'static str {
    match (topic, lang) {
        (HelpTopic::General, Lang::En) => "Send HELP for the commands.",
        (HelpTopic::General, Lang::Zh) => "发送“帮助”查看命令。",
        (HelpTopic::Name, Lang::En) => "NAME Zhang San (max 20 characters)",
        (HelpTopic::Name, Lang::Zh) => "名字 张三（最多20字）",
        (HelpTopic::Group, Lang::En) => {
            "GROUP FAMILY ADD 13900139000 / GROUP FAMILY DEL 139... / GROUP WORK RENAME OFFICE / GROUP WORK DROP"
        }
        (HelpTopic::Group, Lang::Zh) => "分组 家人 加 13900139000／分组 家人 删 139…／分组 A 改名 B／分组 A 解散",
        (HelpTopic::Status, Lang::En) => {
            "STATUS FAMILY FREE / STATUS ALL BUSY FOR 2H / STATUS COLLEAGUES MEETING UNTIL 15:00 / STATUS FAMILY CLEAR"
        }
        (HelpTopic::Status, Lang::Zh) => "状态 家人 空闲／状态 全部 忙 2小时／状态 同事 开会 到15:00／状态 家人 清除",
        (HelpTopic::Who, Lang::En) => "WHO 13800138000",
        (HelpTopic::Who, Lang::Zh) => "查 13800138000",
        (HelpTopic::Avatar, Lang::En) => "AVATARS / AVATAR 3 / AVATAR UPLOAD / AVATAR OFF / PRIVACY CONTACTS",
        (HelpTopic::Avatar, Lang::Zh) => "头像库／头像 3／头像 上传／头像 取消／隐私 联系人",
        (HelpTopic::Privacy, Lang::En) => "PRIVACY EVERYONE / PRIVACY CONTACTS / PRIVACY NOBODY",
        (HelpTopic::Privacy, Lang::Zh) => "隐私 所有人／隐私 联系人／隐私 无人",
        (HelpTopic::Stop, Lang::En) => "STOP 13800138000 / STOP ALL / START 13800138000 / START ALL",
        (HelpTopic::Stop, Lang::Zh) => "退订 13800138000／退订 全部／订阅 13800138000／订阅 全部",
        (HelpTopic::Lang, Lang::En) => "LANG EN / LANG ZH",
        (HelpTopic::Lang, Lang::Zh) => "语言 英文／语言 中文",
    }
}

/// The answer to `HELP <topic>` (`帮助 <主题>`): what the command does and its forms, in one
/// SMS. The bare usage line ([`usage`]) answers a command typed wrong; one who asks for help
/// on a topic is told what it does too: which statuses there are and whom a status can be set
/// for, what WHO answers, what STOP stops.
fn topic_help(topic: HelpTopic, lang: Lang) -> String {
    match (topic, lang) {
        (HelpTopic::General, _) => help(topic, lang),
        (HelpTopic::Status, Lang::En) => "STATUS FAMILY BUSY FOR 2H (or UNTIL 15:00): a group, ALL or OTHERS. Statuses: FREE BUSY MEETING DRIVING DND OFF STANDBY, or your words. STATUS: what each sees".into(),
        (HelpTopic::Status, Lang::Zh) => "状态 家人 忙 2小时（或到15:00）：对象为分组、全部或其他。状态：空闲 忙碌 开会 开车 勿扰 关机 待机，或自己写。发“状态”查看".into(),
        (HelpTopic::Group, Lang::En) => "GROUPS: your groups. GROUP FAMILY: its members. GROUP FAMILY ADD 139... / GROUP FAMILY DEL 139... / GROUP WORK RENAME OFFICE / GROUP WORK DROP".into(),
        (HelpTopic::Group, Lang::Zh) => "分组：你的分组。分组 家人：成员。分组 家人 加 139…／分组 家人 删 139…／分组 A 改名 B／分组 A 解散".into(),
        (HelpTopic::Who, Lang::En) => "WHO 13800138000: the status (and photo) that number shows you.".into(),
        (HelpTopic::Who, Lang::Zh) => "查 13800138000：该号码给你看的状态（和头像）。".into(),
        (HelpTopic::Stop, Lang::En) => "STOP 138...: no more updates about that number. STOP ALL: none from anyone. START 138... or START ALL: get them again.".into(),
        (HelpTopic::Stop, Lang::Zh) => "退订 138…：不再收该号码的通知。退订 全部：谁的都不收。订阅 138…／订阅 全部：恢复。".into(),
        (HelpTopic::Avatar, Lang::En) => "AVATARS: the pictures. AVATAR 3: choose one. AVATAR UPLOAD: your own. AVATAR OFF: none. AVATAR: yours now. Who sees it: PRIVACY".into(),
        (HelpTopic::Avatar, Lang::Zh) => "头像库：查看。头像 3：选用。头像 上传：用自己的图片。头像 取消：不用。头像：当前头像。谁能看到：隐私".into(),
        (HelpTopic::Privacy, Lang::En) => "PRIVACY EVERYONE / PRIVACY CONTACTS / PRIVACY NOBODY: who may see your avatar. PRIVACY: the setting now.".into(),
        (HelpTopic::Privacy, Lang::Zh) => "隐私 所有人／隐私 联系人／隐私 无人：谁能看到你的头像。发“隐私”查看当前设置。".into(),
        (HelpTopic::Lang, Lang::En) => "LANG ZH: replies in Chinese. LANG EN: replies in English.".into(),
        (HelpTopic::Lang, Lang::Zh) => "语言 中文：用中文回复。语言 英文：用英文回复。".into(),
        (HelpTopic::Name, Lang::En) => "NAME Zhang San: the name your contacts see in updates (max 20 characters). NAME OFF: your number only.".into(),
        (HelpTopic::Name, Lang::Zh) => "名字 张三：联系人在通知里看到的名字（最多20字）。名字 删除：只显示号码。".into(),
    }
}

fn help(topic: HelpTopic, lang: Lang) -> String {
    match (topic, lang) {
        (HelpTopic::General, Lang::En) => "Commands: STATUS FAMILY FREE; GROUP FAMILY ADD 139...; WHO 138...; GROUPS; NAME Zhang; STOP 138...; LANG ZH. More: HELP STATUS (or GROUP, WHO, AVATAR, STOP)".into(),
        (HelpTopic::General, Lang::Zh) => "命令：状态 家人 空闲｜分组 家人 加 139…｜查 138…｜分组｜名字 张三｜退订 138…｜语言 英文。发送“帮助 状态”等看详情。".into(),
        (t, Lang::En) => format!("Usage: {}", usage(t, Lang::En)),
        (t, Lang::Zh) => format!("用法：{}", usage(t, Lang::Zh)),
    }
}

/// Whether `bad` is empty once spaces and quotes are gone (`""`).
fn blank(bad: &str) -> bool {
    bad.trim_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '“' | '”'))
        .is_empty()
}

/// The reply to input that is not a valid command: [`invalid_in_full`], or, when that takes
/// more than one SMS and a shorter form fits in one, the shorter form (COMMANDS.md: "A reply
/// is one SMS where it can be"): the short help alone for unknown input, the suggestion alone
/// for a near miss, what was wrong without the usage line after it.
fn invalid(kind: &ParseErrorKind, bad: &str, topic: HelpTopic, lang: Lang) -> String {
    let full = invalid_in_full(kind, bad, topic, lang);
    if segments(&full) <= 1 {
        return full;
    }
    let short = match (kind, lang) {
        (ParseErrorKind::Empty | ParseErrorKind::UnknownCommand, _) => {
            help(HelpTopic::General, lang)
        }
        (ParseErrorKind::Misspelt(fixed), _) => suggestion(bad, fixed, lang),
        (ParseErrorKind::NearMiss { fixed }, Lang::En) => format!("Did you mean: {fixed}"),
        (ParseErrorKind::NearMiss { fixed }, Lang::Zh) => format!("你是不是想发：{fixed}"),
        // Without the corrected command (it names a group in Chinese in an English reply, or
        // is long): what to do, in words.
        (ParseErrorKind::MissingComma { also_before, .. }, _) => invalid_in_full(
            &ParseErrorKind::MissingComma {
                fixed: None,
                also_before: also_before.clone(),
            },
            bad,
            topic,
            lang,
        ),
        (ParseErrorKind::CommaInText { .. }, _) => invalid_in_full(
            &ParseErrorKind::CommaInText { fixed: None },
            bad,
            topic,
            lang,
        ),
        // The usage names the words that would do (for `HELP <other>`, the short help):
        // without it the sentence says nothing.
        (ParseErrorKind::UnknownOption | ParseErrorKind::MissingArgument, _) => help(topic, lang),
        // The usage line is the last part (see `invalid_in_full`'s `en` / `zh`).
        (_, Lang::En) => full
            .rsplit_once(" Try: ")
            .map_or_else(|| full.clone(), |(what, _)| what.to_string()),
        (_, Lang::Zh) => full
            .rsplit_once("试试：")
            .map_or_else(|| full.clone(), |(what, _)| what.to_string()),
    };
    if segments(&short) < segments(&full) {
        short
    } else {
        full
    }
}

/// A near miss's correction, offered back (`Did you mean: STATUS FAMILY BUSY`).
fn suggestion(bad: &str, fixed: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("Sorry, \"{bad}\" is not a command. Did you mean: {fixed}"),
        Lang::Zh => format!("“{bad}”不是命令。你是不是想发：{fixed}"),
    }
}

/// Which numbers have a fixed length, in a reply (`mobile numbers`, `手机号码`).
fn fixed_length_words(what: crate::command::FixedLength, lang: Lang) -> &'static str {
    use crate::command::FixedLength;
    match (what, lang) {
        (FixedLength::ChineseMobile, Lang::En) => "mobile numbers",
        (FixedLength::ChineseMobile, Lang::Zh) => "手机号码",
        (FixedLength::Nanp, Lang::En) => "+1 numbers after the +1",
        (FixedLength::Nanp, Lang::Zh) => "+1号码（+1之后）",
    }
}

/// That `bad`, typed where a subscriber's number goes, is a service number
/// ([`ParseErrorKind::ServiceNumber`]), in one sentence: the start of the reply to WHO, STOP
/// or GROUP ... ADD with one, and of the USSD WHO prompt's answer (`ussd`).
pub(crate) fn service_number(bad: &str, lang: Lang) -> String {
    match lang {
        Lang::En => format!("\"{bad}\" is not a subscriber's phone number (a service number?)."),
        Lang::Zh => format!("“{bad}”不是用户的手机号码（可能是服务号码）。"),
    }
}

/// What a command that was given a service number takes instead
/// ([`ParseErrorKind::ServiceNumber`]), by the command's help topic.
fn takes_a_mobile(topic: HelpTopic, lang: Lang) -> &'static str {
    match (topic, lang) {
        (HelpTopic::Who, Lang::En) => "WHO takes a mobile number.",
        (HelpTopic::Who, Lang::Zh) => "查询请发手机号码。",
        (HelpTopic::Stop, Lang::En) => "STOP and START take a mobile number.",
        (HelpTopic::Stop, Lang::Zh) => "退订和订阅请发手机号码。",
        (HelpTopic::Group, Lang::En) => "Group members are mobile numbers.",
        (HelpTopic::Group, Lang::Zh) => "分组成员请用手机号码。",
        (_, Lang::En) => "Send a mobile number.",
        (_, Lang::Zh) => "请发手机号码。",
    }
}

fn invalid_in_full(kind: &ParseErrorKind, bad: &str, topic: HelpTopic, lang: Lang) -> String {
    use crate::command::{MsisdnError, ValueError};
    let en = |what: String| format!("{what} Try: {}", usage(topic, Lang::En));
    let zh = |what: String| format!("{what}试试：{}", usage(topic, Lang::Zh));
    match (kind, lang) {
        (ParseErrorKind::Empty | ParseErrorKind::UnknownCommand, _) if bad.is_empty() => {
            help(HelpTopic::General, lang)
        }
        (ParseErrorKind::Empty | ParseErrorKind::UnknownCommand, Lang::En) => {
            format!(
                "Sorry, \"{bad}\" is not a command. {}",
                help(HelpTopic::General, Lang::En)
            )
        }
        (ParseErrorKind::Empty | ParseErrorKind::UnknownCommand, Lang::Zh) => {
            format!("“{bad}”不是命令。{}", help(HelpTopic::General, Lang::Zh))
        }
        // A near miss gets the suggestion first, then the short help as any unknown input.
        (ParseErrorKind::Misspelt(fixed), _) => format!(
            "{}\n{}",
            suggestion(bad, fixed, lang),
            help(HelpTopic::General, lang)
        ),
        (
            ParseErrorKind::Number(MsisdnError::BadLength { digits, .. }),
            Lang::En,
        ) if *digits > crate::command::msisdn::MAX_DIGITS => en(format!(
            "\"{bad}\" is not a phone number: too many digits (15 at most with the country code)."
        )),
        (
            ParseErrorKind::Number(MsisdnError::BadLength { digits, .. }),
            Lang::Zh,
        ) if *digits > crate::command::msisdn::MAX_DIGITS => {
            zh(format!("“{bad}”不是有效号码：位数太多（含国家码最多15位）。"))
        }
        (
            ParseErrorKind::Number(MsisdnError::BadLength { .. } | MsisdnError::TooShort { .. }),
            Lang::En,
        ) => en(format!(
            "\"{bad}\" is not a phone number: too few digits."
        )),
        (
            ParseErrorKind::Number(MsisdnError::BadLength { .. } | MsisdnError::TooShort { .. }),
            Lang::Zh,
        ) => zh(format!("“{bad}”不是有效号码：位数太少。")),
        (
            ParseErrorKind::Number(MsisdnError::Mistyped {
                expected, what, ..
            }),
            Lang::En,
        ) => en(format!(
            "\"{bad}\" looks mistyped: {} have {expected} digits.",
            fixed_length_words(*what, Lang::En)
        )),
        (
            ParseErrorKind::Number(MsisdnError::Mistyped {
                expected, what, ..
            }),
            Lang::Zh,
        ) => zh(format!(
            "“{bad}”似乎输错了：{}是{expected}位。",
            fixed_length_words(*what, Lang::Zh)
        )),
        (ParseErrorKind::ServiceNumber, Lang::En) => en(format!(
            "{} {}",
            service_number(bad, Lang::En),
            takes_a_mobile(topic, Lang::En)
        )),
        (ParseErrorKind::ServiceNumber, Lang::Zh) => zh(format!(
            "{}{}",
            service_number(bad, Lang::Zh),
            takes_a_mobile(topic, Lang::Zh)
        )),
        (ParseErrorKind::Number(_), Lang::En) => en(format!("\"{bad}\" is not a phone number.")),
        (ParseErrorKind::Number(_), Lang::Zh) => zh(format!("“{bad}”不是有效号码。")),
        (ParseErrorKind::UnclearNumbers, Lang::En) => en(format!(
            "Is \"{bad}\" one phone number or several? Put a comma between numbers."
        )),
        (ParseErrorKind::UnclearNumbers, Lang::Zh) => {
            zh(format!("“{bad}”是一个号码还是几个？多个号码请用逗号隔开。"))
        }
        (ParseErrorKind::OneNumberAtATime { fixed }, Lang::En) => {
            format!("One number at a time, please: {fixed} (then the next).")
        }
        (ParseErrorKind::OneNumberAtATime { fixed }, Lang::Zh) => {
            format!("请一次发一个号码：{fixed}（再发下一个）。")
        }
        (ParseErrorKind::NothingAfterAll { start }, Lang::En) => {
            let all = if *start { "START ALL" } else { "STOP ALL" };
            format!("{all} takes nothing after it (not \"{bad}\"). Send just: {all}")
        }
        (ParseErrorKind::NothingAfterAll { start }, Lang::Zh) => {
            let all = if *start { "订阅 全部" } else { "退订 全部" };
            format!("“{all}”后面不用加内容（“{bad}”）。请只发送：{all}")
        }
        (ParseErrorKind::Value(ValueError::ReservedGroupName { .. }), Lang::En) => {
            en(format!("\"{bad}\" is a command word, not a group name."))
        }
        (ParseErrorKind::Value(ValueError::ReservedGroupName { .. }), Lang::Zh) => {
            zh(format!("“{bad}”是命令词，不能作组名。"))
        }
        // Spaces in it (`Golf Club`): said, with the name run together when that is one.
        (ParseErrorKind::Value(ValueError::BadGroupName { .. }), _)
            if bad.contains(char::is_whitespace) =>
        {
            let joined: String = bad.split_whitespace().collect();
            let fits = crate::command::GroupName::try_from(joined.as_str()).is_ok();
            match (lang, fits) {
                (Lang::En, true) => en(format!(
                    "\"{bad}\" is not a group name: a group name has no spaces ({joined} would do)."
                )),
                (Lang::En, false) => en(format!(
                    "\"{bad}\" is not a group name: a group name has no spaces (1-16 letters or digits)."
                )),
                (Lang::Zh, true) => zh(format!("“{bad}”不能作组名：组名不能有空格（可用{joined}）。")),
                (Lang::Zh, false) => {
                    zh(format!("“{bad}”不能作组名：组名不能有空格（1到16个字母、汉字或数字）。"))
                }
            }
        }
        (ParseErrorKind::Value(ValueError::BadGroupName { .. }), Lang::En) => en(format!(
            "\"{bad}\" is not a group name (1-16 letters or digits, not all digits)."
        )),
        (ParseErrorKind::Value(ValueError::BadGroupName { .. }), Lang::Zh) => {
            zh(format!("“{bad}”不能作组名（1到16个字母、汉字或数字，不能全是数字）。"))
        }
        (ParseErrorKind::Value(ValueError::BadStatusLength { .. }), Lang::En) if blank(bad) => {
            en("The status is empty (1 to 60 characters).".into())
        }
        (ParseErrorKind::Value(ValueError::BadStatusLength { .. }), Lang::Zh) if blank(bad) => {
            zh("状态不能为空（1到60字）。".into())
        }
        (ParseErrorKind::Value(ValueError::BadDisplayName { .. }), Lang::En) if blank(bad) => {
            en("The name is empty (1 to 20 characters).".into())
        }
        (ParseErrorKind::Value(ValueError::BadDisplayName { .. }), Lang::Zh) if blank(bad) => {
            zh("名字不能为空（1到20字）。".into())
        }
        (ParseErrorKind::Value(ValueError::BadStatusLength { .. }), Lang::En) => en(format!(
            "The status \"{bad}\" is too long (60 characters at most)."
        )),
        (ParseErrorKind::Value(ValueError::BadStatusLength { .. }), Lang::Zh) => {
            zh(format!("状态“{bad}”太长（最多60字）。"))
        }
        (ParseErrorKind::Value(ValueError::StatusNotSettable { .. }), Lang::En) => {
            en(format!("\"{bad}\" is set by the network, not by command."))
        }
        (ParseErrorKind::Value(ValueError::StatusNotSettable { .. }), Lang::Zh) => {
            zh(format!("“{bad}”由网络设置，不能手动设置。"))
        }
        (ParseErrorKind::Value(ValueError::BadDisplayName { .. }), Lang::En) => en(format!(
            "The name \"{bad}\" is too long (20 characters at most)."
        )),
        (ParseErrorKind::Value(ValueError::BadDisplayName { .. }), Lang::Zh) => {
            zh(format!("名字“{bad}”太长（最多20字）。"))
        }
        (ParseErrorKind::Value(ValueError::NameLikeNumber { .. }), Lang::En) => en(format!(
            "\"{bad}\" looks like a phone number; a name must not (your number is shown beside it)."
        )),
        (ParseErrorKind::Value(ValueError::NameLikeNumber { .. }), Lang::Zh) => {
            zh(format!("“{bad}”像是电话号码，不能作名字（你的号码会显示在名字旁）。"))
        }
        (ParseErrorKind::Value(ValueError::BadDuration { .. }), Lang::En) => {
            en(format!("\"{bad}\": a time must be 1 minute to 30 days."))
        }
        (ParseErrorKind::Value(ValueError::BadDuration { .. }), Lang::Zh) => {
            zh(format!("“{bad}”：时长须在1分钟到30天之间。"))
        }
        (ParseErrorKind::Value(ValueError::PartMinute { .. }), Lang::En) => en(format!(
            "\"{bad}\" is not a whole number of minutes (FOR 1.5H and FOR 90M are)."
        )),
        (ParseErrorKind::Value(ValueError::PartMinute { .. }), Lang::Zh) => {
            zh(format!("“{bad}”不是整分钟（1.5小时、90分钟可以）。"))
        }
        (ParseErrorKind::Value(ValueError::BadTime { .. }), Lang::En) => {
            en(format!("\"{bad}\" is not a time of day (HH:MM)."))
        }
        (ParseErrorKind::Value(ValueError::BadTime { .. }), Lang::Zh) => {
            zh(format!("“{bad}”不是有效时间（时:分）。"))
        }
        (ParseErrorKind::BadExpiry, Lang::En) => format!(
            "\"{bad}\" is not a time I can read. Say e.g. UNTIL 17:30, UNTIL 5:30PM, FOR 90M or FOR 1H30M; a text goes in quotes."
        ),
        (ParseErrorKind::BadExpiry, Lang::Zh) => format!(
            "“{bad}”不是能识别的时间。可写：到17:30、到下午5点半、90分钟、1小时30分钟；文字请加引号。"
        ),
        (ParseErrorKind::VagueExpiry, Lang::En) => format!(
            "\"{bad}\" does not say how long. Say e.g. FOR 4H or UNTIL 12:00; a text goes in quotes."
        ),
        (ParseErrorKind::VagueExpiry, Lang::Zh) => format!(
            "“{bad}”说不准是多久。请写明时长或结束时间，如：4小时、到12:00；文字请加引号。"
        ),
        (ParseErrorKind::MissingArgument, Lang::En) => en("Something is missing.".into()),
        (ParseErrorKind::MissingArgument, Lang::Zh) => zh("缺少内容。".into()),
        (ParseErrorKind::MissingStatus, Lang::En) => {
            en(format!("Which status should \"{bad}\" see?"))
        }
        (ParseErrorKind::MissingStatus, Lang::Zh) => zh(format!("“{bad}”要看到什么状态？")),
        (ParseErrorKind::MissingTarget, Lang::En) => en(format!(
            "Who should see \"{bad}\"? Name a group, ALL or OTHERS first."
        )),
        (ParseErrorKind::MissingTarget, Lang::Zh) => {
            zh(format!("谁看到“{bad}”？请先写分组、全部或其他。"))
        }
        // `HELP <something else>`: someone asking for help gets it, not "send HELP".
        (ParseErrorKind::UnknownOption, Lang::En) if topic == HelpTopic::General => format!(
            "\"{bad}\" is not a help topic. {}",
            help(HelpTopic::General, Lang::En)
        ),
        (ParseErrorKind::UnknownOption, Lang::Zh) if topic == HelpTopic::General => {
            format!(
                "“{bad}”不是帮助主题。{}",
                help(HelpTopic::General, Lang::Zh)
            )
        }
        (ParseErrorKind::UnknownOption, Lang::En) => {
            en(format!("\"{bad}\" is not an option here."))
        }
        (ParseErrorKind::UnknownOption, Lang::Zh) => zh(format!("“{bad}”不是此命令的选项。")),
        (ParseErrorKind::BadNumber, Lang::En) => {
            en(format!("\"{bad}\" is not a page or id number."))
        }
        (ParseErrorKind::BadNumber, Lang::Zh) => zh(format!("“{bad}”不是有效编号。")),
        (ParseErrorKind::UnexpectedText, Lang::En) => {
            en(format!("I did not understand \"{bad}\" at the end."))
        }
        (ParseErrorKind::UnexpectedText, Lang::Zh) => zh(format!("结尾的“{bad}”无法识别。")),
        // Two statuses or one text: both ways out, no usage line (no room for it).
        (
            ParseErrorKind::MissingComma {
                fixed: Some(f),
                also_before,
            },
            Lang::En,
        ) if also_before.is_empty() => {
            format!("Two statuses? Put a comma before \"{bad}\": {f}. One text? Put it in quotes.")
        }
        (
            ParseErrorKind::MissingComma {
                fixed: None,
                also_before,
            },
            Lang::En,
        ) if also_before.is_empty() => {
            format!("Two statuses? Put a comma before \"{bad}\". One text? Put it in quotes.")
        }
        (
            ParseErrorKind::MissingComma {
                fixed: Some(f),
                also_before,
            },
            Lang::Zh,
        ) if also_before.is_empty() => {
            format!("是两个状态吗？请在“{bad}”前加逗号：{f}。如是一句话，请加引号。")
        }
        (
            ParseErrorKind::MissingComma {
                fixed: None,
                also_before,
            },
            Lang::Zh,
        ) if also_before.is_empty() => {
            format!("是两个状态吗？请在“{bad}”前加逗号。如是一句话，请加引号。")
        }
        // Three or more run together (`free COLLEAGUES in a meeting OTHERS busy`): a comma
        // before each of the later targets.
        (ParseErrorKind::MissingComma { fixed, also_before }, Lang::En) => {
            let mut words: Vec<String> = std::iter::once(bad)
                .chain(also_before.iter().map(String::as_str))
                .map(|w| format!("\"{w}\""))
                .collect();
            let last = words.pop().unwrap_or_default();
            let fixed = fixed.as_ref().map_or(String::new(), |f| format!(": {f}"));
            format!(
                "{} statuses? Put a comma before {} and {last}{fixed}. One text? Put it in quotes.",
                also_before.len() + 2,
                words.join(", "),
            )
        }
        (ParseErrorKind::MissingComma { fixed, also_before }, Lang::Zh) => {
            let mut words: Vec<String> = std::iter::once(bad)
                .chain(also_before.iter().map(String::as_str))
                .map(|w| format!("“{w}”"))
                .collect();
            let last = words.pop().unwrap_or_default();
            let fixed = fixed.as_ref().map_or(String::new(), |f| format!("：{f}"));
            format!(
                "是{}个状态吗？请在{}和{last}前加逗号{fixed}。如是一句话，请加引号。",
                also_before.len() + 2,
                words.join("、"),
            )
        }
        // Run together in more than one way that reads: the words, none chosen.
        (ParseErrorKind::UnclearCommas { or_before }, Lang::En) => {
            let mut words: Vec<String> = std::iter::once(bad)
                .chain(or_before.iter().map(String::as_str))
                .map(|w| format!("\"{w}\""))
                .collect();
            let last = words.pop().unwrap_or_default();
            let words = if words.is_empty() {
                last
            } else {
                format!("{} and {last}", words.join(", "))
            };
            format!(
                "Several statuses? Put a comma before each of {words} that starts one. One text? Put it in quotes."
            )
        }
        (ParseErrorKind::UnclearCommas { or_before }, Lang::Zh) => {
            let words: Vec<String> = std::iter::once(bad)
                .chain(or_before.iter().map(String::as_str))
                .map(|w| format!("“{w}”"))
                .collect();
            format!(
                "是几个状态吗？请在{}中开始新状态的词前加逗号。如是一句话，请加引号。",
                words.join("、")
            )
        }
        // A near miss inside a command: the command as meant; for a status, quotes for a text.
        (ParseErrorKind::NearMiss { fixed }, Lang::En) if topic == HelpTopic::Status => {
            format!("\"{bad}\"? Did you mean: {fixed}. A text? Put it in quotes.")
        }
        (ParseErrorKind::NearMiss { fixed }, Lang::En) => {
            format!("\"{bad}\"? Did you mean: {fixed}")
        }
        (ParseErrorKind::NearMiss { fixed }, Lang::Zh) if topic == HelpTopic::Status => {
            format!("“{bad}”？你是不是想发：{fixed}。如是一句话，请加引号。")
        }
        (ParseErrorKind::NearMiss { fixed }, Lang::Zh) => {
            format!("“{bad}”？你是不是想发：{fixed}")
        }
        (ParseErrorKind::CommaInText { fixed: Some(f) }, Lang::En) => {
            format!("A status with a comma or ; must be in quotes: {f}")
        }
        (ParseErrorKind::CommaInText { fixed: None }, Lang::En) => {
            "A status with a comma or ; must be in quotes: STATUS FAMILY \"At lunch, back soon\""
                .into()
        }
        (ParseErrorKind::CommaInText { fixed: Some(f) }, Lang::Zh) => {
            format!("含逗号或分号的状态须加引号：{f}")
        }
        (ParseErrorKind::CommaInText { fixed: None }, Lang::Zh) => {
            "含逗号或分号的状态须加引号，如：状态 家人 \"吃饭中，马上回来\"".into()
        }
    }
}

/// The picture formats an upload may be in, as the image pipeline accepts them
/// ([`Format::ALL`](crate::images::Format::ALL)): `JPEG, PNG, GIF, BMP or WebP` /
/// `JPEG、PNG、GIF、BMP或WebP`.
pub fn upload_formats(lang: Lang) -> String {
    let names: Vec<String> = crate::images::Format::ALL
        .iter()
        .map(ToString::to_string)
        .collect();
    let (sep, last) = match lang {
        Lang::En => (", ", " or "),
        Lang::Zh => ("、", "或"),
    };
    match names.split_last() {
        Some((tail, [])) => tail.clone(),
        Some((tail, rest)) => format!("{}{last}{tail}", rest.join(sep)),
        None => String::new(),
    }
}

impl Line {
    /// `FAMILY(2) FREE until 15:00` / `家人(2)：“空闲”至15:00` (the member count if asked and
    /// known), as the GROUPS and STATUS replies list it.
    pub fn render(&self, lang: Lang, with_members: bool) -> String {
        line(self, lang, with_members)
    }
}

fn line(l: &Line, lang: Lang, with_members: bool) -> String {
    let mut s = l.label.render(lang);
    if let (true, Some(n)) = (with_members, l.members) {
        s.push_str(&format!("({n})"));
    }
    // A Chinese reply takes Chinese punctuation whole (it is UCS-2 anyway: the same length).
    s.push(if lang == Lang::En { ' ' } else { '：' });
    s.push_str(&status_phrase(&l.shown, &l.until, lang));
    s
}

/// A list shown a page at a time, by the command that asks for its pages.
#[derive(Debug, Clone, Copy)]
enum Listing<'a> {
    /// `GROUPS [page]`.
    Groups,
    /// `STATUS [page]`.
    Statuses,
    /// `GROUP g [page]`.
    Members(&'a Label),
    /// `AVATARS [page]`.
    Avatars,
}

impl Listing<'_> {
    /// The command that shows a page, without the page's number (`GROUP FAMILY`, `分组 家人`).
    fn command(self, lang: Lang) -> String {
        match (self, lang) {
            (Listing::Groups, Lang::En) => "GROUPS".into(),
            (Listing::Groups, Lang::Zh) => "分组".into(),
            (Listing::Statuses, Lang::En) => "STATUS".into(),
            (Listing::Statuses, Lang::Zh) => "状态".into(),
            (Listing::Members(g), Lang::En) => format!("GROUP {}", g.render(lang)),
            (Listing::Members(g), Lang::Zh) => format!("分组 {}", g.render(lang)),
            (Listing::Avatars, Lang::En) => "AVATARS".into(),
            (Listing::Avatars, Lang::Zh) => "头像库".into(),
        }
    }

    /// The pointer to page `n` (`More: GROUPS 2`, `下一页：分组 2`), without punctuation around
    /// it: the same words in every paged list.
    fn pointer(self, lang: Lang, n: impl std::fmt::Display) -> String {
        match lang {
            Lang::En => format!("More: {} {n}", self.command(lang)),
            Lang::Zh => format!("下一页：{} {n}", self.command(lang)),
        }
    }

    /// What the pages hold (`your groups`, `家人的成员`).
    fn contents(self, lang: Lang) -> String {
        match (self, lang) {
            (Listing::Groups, Lang::En) => "your groups".into(),
            (Listing::Groups, Lang::Zh) => "你的分组".into(),
            (Listing::Statuses, Lang::En) => "your statuses".into(),
            (Listing::Statuses, Lang::Zh) => "你的状态".into(),
            (Listing::Members(g), Lang::En) => format!("the members of {}", g.render(lang)),
            (Listing::Members(g), Lang::Zh) => format!("{}的成员", g.render(lang)),
            (Listing::Avatars, Lang::En) => "the avatars".into(),
            (Listing::Avatars, Lang::Zh) => "头像库".into(),
        }
    }
}

/// The reply to page `asked` of `listing`, which has `pages` pages, when there is no such page
/// (`None` when there is): one SMS saying so, how many pages there are and how to see the last
/// (`No page 9: your groups fit on 2 pages. GROUPS 2 shows the last.`), or for page 0 (asked
/// as 0 or a negative number) that pages start at 1 and how to see the first; [`u32::MAX`]
/// stands for any number too big for a page and is not quoted (see `Command::Groups`). Where
/// that takes more than one SMS (an English reply naming a group in Chinese), a shorter form
/// that always fits.
fn no_such_page(listing: Listing<'_>, asked: u32, pages: u32, lang: Lang) -> Option<String> {
    if (1..=pages).contains(&asked) {
        return None;
    }
    let command = listing.command(lang);
    let contents = listing.contents(lang);
    let first = asked == 0;
    let what = match (asked, lang) {
        (0, Lang::En) => "Pages start at 1".to_string(),
        (0, Lang::Zh) => "页码从1开始".to_string(),
        (u32::MAX, Lang::En) => "No such page".to_string(),
        (u32::MAX, Lang::Zh) => "没有这一页".to_string(),
        (n, Lang::En) => format!("No page {n}"),
        (n, Lang::Zh) => format!("没有第{n}页"),
    };
    let full = match (lang, pages, first) {
        (Lang::En, 1, _) => {
            format!("{what}: {contents} fit on one page. {command} shows it.")
        }
        (Lang::En, _, true) => {
            format!("{what}: {contents} fit on {pages} pages. {command} shows the first.")
        }
        (Lang::En, _, false) => {
            format!("{what}: {contents} fit on {pages} pages. {command} {pages} shows the last.")
        }
        (Lang::Zh, 1, _) => format!("{what}：{contents}只有1页，发送“{command}”查看。"),
        (Lang::Zh, _, true) => {
            format!("{what}：{contents}共{pages}页，发送“{command}”查看第一页。")
        }
        (Lang::Zh, _, false) => {
            format!("{what}：{contents}共{pages}页，发送“{command} {pages}”查看最后一页。")
        }
    };
    if segments(&full) <= 1 {
        return Some(full);
    }
    Some(match (lang, first) {
        (Lang::En, true) => format!("{what}: {pages} in all. First: {command}"),
        (Lang::En, false) => format!("{what}: {pages} in all. Last: {command} {pages}"),
        (Lang::Zh, true) => format!("{what}，共{pages}页。第一页：{command}"),
        (Lang::Zh, false) => format!("{what}，共{pages}页。最后一页：{command} {pages}"),
    })
}

/// Page `page` of a list of audience lines after `head`: as many whole lines per page as fit
/// [`MAX_SEGMENTS`] with the pointer to the next page (`More: GROUPS 2.`), so that a
/// subscriber with many groups can read them all (16 user groups with Chinese names and
/// free-text statuses take several replies). A page past the last is answered by
/// [`no_such_page`].
fn paged(
    title: &str,
    all: &[Line],
    page: u32,
    listing: Listing<'_>,
    lang: Lang,
    with_members: bool,
) -> String {
    // `Your groups: …`, or with several pages `Your groups (2/3): …`, so a page read alone says
    // where it stands (AVATARS and GROUP g pages do). Pages are cut to fit the widest mark.
    let head = |mark: Option<(usize, usize)>| match (lang, mark) {
        (Lang::En, None) => format!("{title}: "),
        (Lang::En, Some((i, n))) => format!("{title} ({i}/{n}): "),
        (Lang::Zh, None) => format!("{title}："),
        (Lang::Zh, Some((i, n))) => format!("{title}（{i}/{n}）："),
    };
    let widest = head(Some((99, 99)));
    let sep = if lang == Lang::En { "; " } else { "；" };
    // A full stop before the pointer: the last line may end in free text ("…than 03"),
    // unless that text ends a sentence already ("At work.").
    let next = |n: usize, after: &str| {
        let stop = if after.ends_with(['.', '!', '?', '…', '。', '！', '？']) {
            ""
        } else if lang == Lang::En {
            "."
        } else {
            "。"
        };
        match lang {
            Lang::En => format!("{stop} {}.", listing.pointer(lang, n)),
            Lang::Zh => format!("{stop}{}", listing.pointer(lang, n)),
        }
    };
    // Split into pages, each as long as fits with its "more" pointer.
    let rendered: Vec<String> = all.iter().map(|l| line(l, lang, with_members)).collect();
    let mut pages: Vec<Vec<&str>> = vec![Vec::new()];
    for text in &rendered {
        let current = pages.len();
        let page_lines = pages.last_mut().expect("one page at least");
        let mut candidate = page_lines.clone();
        candidate.push(text);
        let fits = segments(&format!(
            "{widest}{}{}",
            candidate.join(sep),
            next(current + 1, text)
        )) <= MAX_SEGMENTS;
        if fits || page_lines.is_empty() {
            *page_lines = candidate;
        } else {
            pages.push(vec![text]);
        }
    }
    let count = pages.len();
    if let Some(refusal) = no_such_page(listing, page, count as u32, lang) {
        return refusal;
    }
    let index = (page.max(1) as usize).min(count) - 1;
    let mark = (count > 1).then_some((index + 1, count));
    let mut out = format!("{}{}", head(mark), pages[index].join(sep));
    if index + 1 < count {
        let last = pages[index].last().copied().unwrap_or_default();
        out.push_str(&next(index + 2, last));
    }
    out
}

/// What a new avatar's reply says under PRIVACY NOBODY instead of how many contacts get it
/// (none: "0 contacts will get it" read as if the subscriber had no contacts): why, and how
/// to share it.
fn nobody_sees(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "Nobody sees it while your PRIVACY is NOBODY: PRIVACY CONTACTS shares it with your contacts."
        }
        Lang::Zh => "隐私为无人，暂无人可见；发送“隐私 联系人”即可公开。",
    }
}

fn privacy_word(p: Privacy, lang: Lang) -> &'static str {
    match (p, lang) {
        (Privacy::Everyone, Lang::En) => "everyone",
        (Privacy::Contacts, Lang::En) => "your contacts",
        (Privacy::Nobody, Lang::En) => "nobody",
        (Privacy::Everyone, Lang::Zh) => "所有人",
        (Privacy::Contacts, Lang::Zh) => "联系人",
        (Privacy::Nobody, Lang::Zh) => "无人",
    }
}

/// The `STOP`/`TD` hint appended to updates, by the owner's digits.
fn stop_hint(number: &str, lang: Lang) -> String {
    let digits = number.trim_start_matches('+');
    match lang {
        Lang::En => format!(" Reply STOP {digits} to stop these updates."),
        Lang::Zh => format!("回复TD{digits}退订。"),
    }
}

/// [`stop_hint`] in English in fewer words, for an update that would otherwise take one SMS
/// more: `Reply STOP … to stop.`, or, where that is still one SMS too many (a Chinese name
/// and an expiry: `李四 (+86…): BUSY until 15:00.` leaves 32 characters of a UCS-2 SMS),
/// `STOP … to stop.`.
fn short_stop_hints(number: &str) -> [String; 2] {
    let digits = number.trim_start_matches('+');
    [
        format!(" Reply STOP {digits} to stop."),
        format!(" STOP {digits} to stop."),
    ]
}

impl Text {
    /// The text in `lang`, cut to [`MAX_SEGMENTS`] SMS segments.
    pub fn render(&self, lang: Lang) -> String {
        clip(&self.render_full(lang), MAX_SEGMENTS)
    }

    fn render_full(&self, lang: Lang) -> String {
        let en = lang == Lang::En;
        match self {
            Text::Help(t) => topic_help(*t, lang),
            Text::Invalid { kind, bad, usage } => invalid(kind, bad, *usage, lang),
            Text::NameSet(n) if en => format!("Your contacts will see you as \"{n}\"."),
            Text::NameSet(n) => format!("联系人将看到你的名字：{n}。"),
            Text::NameCleared if en => {
                "Your name is removed: your contacts will see your number only.".into()
            }
            Text::NameCleared => "名字已删除：联系人只会看到你的号码。".into(),
            Text::Groups { lines, page } => {
                let title = if en { "Your groups" } else { "你的分组" };
                paged(title, lines, *page, Listing::Groups, lang, true)
            }
            Text::Statuses { lines, page } => {
                let title = if en { "You show" } else { "你的状态" };
                paged(title, lines, *page, Listing::Statuses, lang, false)
            }
            Text::Members {
                group,
                page,
                pages,
                total,
                numbers,
            } => {
                let g = group.render(lang);
                if *total == 0 {
                    return if en {
                        format!("{g} has no members. Add: GROUP {g} ADD 13900139000")
                    } else {
                        format!("{g}没有成员。添加：分组 {g} 加 13900139000")
                    };
                }
                let listing = Listing::Members(group);
                if let Some(refusal) = no_such_page(listing, *page, *pages, lang) {
                    return refusal;
                }
                let list = numbers.join(if en { ", " } else { "、" });
                let more = match (page < pages, en) {
                    (true, true) => format!(" {}", listing.pointer(lang, page + 1)),
                    (true, false) => listing.pointer(lang, page + 1),
                    _ => String::new(),
                };
                if en {
                    format!("{g} ({total}), page {page}/{pages}: {list}.{more}")
                } else {
                    format!("{g}（{total}人）第{page}/{pages}页：{list}。{more}")
                }
            }
            Text::Added {
                group,
                added,
                already,
                skipped_self,
                total,
                deferred_until,
                sees,
            } => {
                let g = group.render(lang);
                let mut s = if en {
                    format!("{g} now has {total} member{}.", plural(*total))
                } else {
                    format!("{g}现有{total}人。")
                };
                if *already > 0 {
                    s.push_str(&if en {
                        format!(" {already} already in it.")
                    } else {
                        format!("{already}人已在组内。")
                    });
                }
                if *skipped_self {
                    s.push_str(if en {
                        " Your own number was skipped."
                    } else {
                        "已跳过你自己的号码。"
                    });
                }
                if let Some(at) = deferred_until {
                    s.push_str(&held_back(at, lang));
                }
                let sees = sees.as_ref().map(|(shown, until)| {
                    if en {
                        format!(" {g} sees {}.", status_phrase(shown, until, lang))
                    } else {
                        format!("{g}看到{}。", status_phrase(shown, until, lang))
                    }
                });
                match sees {
                    // A long text status (Chinese in an English reply) that would take the
                    // reply past its segments is left to STATUS to show.
                    Some(sees) if segments(&format!("{s}{sees}")) <= MAX_SEGMENTS => {
                        s.push_str(&sees)
                    }
                    Some(_) => {}
                    None if *added > 0 => s.push_str(&if en {
                        format!(" Set what they see: STATUS {g} FREE")
                    } else {
                        format!("设置他们看到的状态：状态 {g} 空闲")
                    }),
                    None => {}
                }
                s
            }
            Text::GroupFull { group, cap, has } if en => format!(
                "Nothing added: {} holds at most {cap} numbers and has {has}.",
                group.render(lang)
            ),
            Text::GroupFull { group, cap, has } => {
                format!("未添加：{}最多{cap}人，现有{has}人。", group.render(lang))
            }
            Text::ContactsFull { cap, has } if en => format!(
                "Nothing added: your groups hold at most {cap} numbers in all and have {has}."
            ),
            Text::ContactsFull { cap, has } => {
                format!("未添加：所有分组合计最多{cap}人，现有{has}人。")
            }
            Text::TooManyGroups { cap } if en => {
                format!("Nothing added: you can have at most {cap} groups of your own. GROUP x DROP frees one.")
            }
            Text::TooManyGroups { cap } => format!("未添加：自建分组最多{cap}个。可先解散一个。"),
            Text::Removed {
                group,
                removed,
                not_members,
                total,
                deferred_until,
            } => {
                let g = group.render(lang);
                let mut s = match (*removed, en) {
                    // None of them was in it: said so, not "Removed 0 from g".
                    (0, true) => format!(
                        "Nobody removed: {} not in {g}; it has {total} member{}.",
                        if *not_members == 1 {
                            "that number is"
                        } else {
                            "those numbers are"
                        },
                        plural(*total)
                    ),
                    (0, false) => format!("未删除：这些号码不在{g}中，{g}现有{total}人。"),
                    (_, true) => format!(
                        "Removed {removed} from {g}; it has {total} member{}.",
                        plural(*total)
                    ),
                    (_, false) => format!("已从{g}删除{removed}人，现有{total}人。"),
                };
                if *not_members > 0 && *removed > 0 {
                    s.push_str(&if en {
                        format!(
                            " {not_members} {} not in it.",
                            if *not_members == 1 { "was" } else { "were" }
                        )
                    } else {
                        format!("{not_members}人本不在组内。")
                    });
                }
                if let Some(at) = deferred_until {
                    s.push_str(&held_back(at, lang));
                }
                s
            }
            Text::Renamed { from, to } if en => format!(
                "Group {} is now called {}.",
                from.render(lang),
                to.render(lang)
            ),
            Text::Renamed { from, to } => {
                format!("分组{}已改名为{}。", from.render(lang), to.render(lang))
            }
            Text::BuiltinFixed(g) if en => format!(
                "{} is a built-in group name: built-in groups cannot be renamed or taken.",
                g.render(lang)
            ),
            Text::BuiltinFixed(g) => format!("{}是内置分组，不能改名或占用。", g.render(lang)),
            Text::GroupExists(g) if en => format!("You already have a group {}.", g.render(lang)),
            Text::GroupExists(g) => format!("分组{}已存在。", g.render(lang)),
            // A built-in group stays (emptied, back to STANDBY); a member still in another
            // group sees that group's status, not OTHERS.
            Text::Dropped {
                group,
                members,
                deferred_until,
            } => {
                let what = match (group, en) {
                    (Label::Builtin(_), true) => format!(
                        "{} emptied and back to STANDBY (built-in groups stay)",
                        group.render(lang)
                    ),
                    (_, true) => format!("Group {} dropped", group.render(lang)),
                    (Label::Builtin(_), false) => format!(
                        "分组{}已清空并恢复为“待机”（内置分组保留）",
                        group.render(lang)
                    ),
                    (_, false) => format!("分组{}已解散", group.render(lang)),
                };
                // A group without members moves nobody: "its 0 members now see ..." said
                // nothing the subscriber could use.
                let mut s = match (*members, en) {
                    (0, true) => format!("{what}."),
                    (0, false) => format!("{what}。"),
                    (_, true) => format!(
                        "{what}; its {members} member{} now {} your OTHERS status (or another group's).",
                        plural(*members),
                        if *members == 1 { "sees" } else { "see" }
                    ),
                    (_, false) => format!(
                        "{what}，其{members}人将看到你的“其他”状态（或其所在其他分组的状态）。"
                    ),
                };
                if let Some(at) = deferred_until {
                    s.push_str(&held_back(at, lang));
                }
                s
            }
            Text::NoSuchGroup(g) if en => {
                format!("You have no group {}. GROUPS lists yours.", g.render(lang))
            }
            Text::NoSuchGroup(g) => format!("你没有分组{}。发送“分组”查看。", g.render(lang)),
            Text::NoSuchGroupNear { group, near } if en => format!(
                "You have no group {}. Did you mean {}? GROUPS lists yours.",
                group.render(lang),
                near.render(lang)
            ),
            Text::NoSuchGroupNear { group, near } => format!(
                "你没有分组{}。是不是{}？发送“分组”查看。",
                group.render(lang),
                near.render(lang)
            ),
            Text::StatusSet {
                lines: ls,
                told,
                deferred_until,
            } => {
                let mut s = if en {
                    let sets = ls
                        .iter()
                        .map(|l| {
                            format!(
                                "{} sees {}",
                                l.label.render(lang),
                                status_phrase(&l.shown, &l.until, lang)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    format!("Set: {sets}. {}", told_phrase(ls, *told, lang))
                } else {
                    let sets = ls
                        .iter()
                        .map(|l| {
                            format!(
                                "{}看到{}",
                                l.label.render(lang),
                                status_phrase(&l.shown, &l.until, lang)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("；");
                    format!("已设置：{sets}。{}", told_phrase(ls, *told, lang))
                };
                let deferred = deferred_until.as_ref().map(|at| held_back(at, lang));
                if let Some(d) = &deferred {
                    s.push_str(d);
                }
                // Too long for the reply's segments (five long statuses): the groups set and
                // where to read them, rather than a list cut off before its end.
                if segments(&s) > MAX_SEGMENTS {
                    let mut labels: Vec<String> = Vec::new();
                    for l in ls {
                        let label = l.label.render(lang);
                        if !labels.contains(&label) {
                            labels.push(label);
                        }
                    }
                    let condensed = |groups: &str| {
                        let mut c = if en {
                            format!(
                                "Set: {groups} (STATUS shows what each sees). {told} contact{} will be told.",
                                plural(*told)
                            )
                        } else {
                            format!("已设置：{groups}（发送“状态”查看）。将通知{told}位联系人。")
                        };
                        if let Some(d) = &deferred {
                            c.push_str(d);
                        }
                        c
                    };
                    s = condensed(&labels.join(if en { ", " } else { "、" }));
                    // Still too long (a dozen long group names): how many.
                    if segments(&s) > MAX_SEGMENTS {
                        s = condensed(&if en {
                            format!("{} groups", labels.len())
                        } else {
                            format!("{}个分组", labels.len())
                        });
                    }
                }
                s
            }
            Text::Who {
                name,
                number,
                shown,
                until,
                photo,
            } => {
                let sep = if en { ": " } else { "：" };
                let end = if en { "." } else { "。" };
                let photo = match (photo, en) {
                    (Some(url), true) => format!(" Photo: {url}"),
                    (Some(url), false) => format!("头像：{url}"),
                    (None, _) => String::new(),
                };
                format!(
                    "{}{sep}{}{end}{photo}",
                    who_phrase(name, number, lang),
                    status_phrase(shown, until, lang)
                )
            }
            Text::WhoUnknown(n) if en => format!("{n} does not use this service."),
            Text::WhoUnknown(n) => format!("{n}未使用本服务。"),
            Text::DialIt(code) if en => format!(
                "{code} is a code to dial, not to text: key it in like a phone number and press Call to open the menu. Or text HELP."
            ),
            Text::DialIt(code) => {
                format!("{code}是拨号代码，不能用短信发送：请像拨电话一样输入并按呼叫键打开菜单。或发送“帮助”。")
            }
            Text::WhoSelf if en => "That is you. STATUS shows what each group sees.".into(),
            Text::WhoSelf => "这是你自己。发送“状态”查看各分组看到的状态。".into(),
            Text::StopSelf if en => {
                "That is you: you get no updates about yourself. STOP ALL stops those about anyone."
                    .into()
            }
            Text::StopSelf => "这是你自己：你不会收到自己的状态通知。发送“退订 全部”可退订所有人的通知。".into(),
            Text::Stopped(n) if en => format!(
                "You will get no more updates about {n}. START {} to undo.",
                n.trim_start_matches('+')
            ),
            Text::Stopped(n) => format!(
                "你将不再收到{n}的状态通知。发送“订阅 {}”可恢复。",
                n.trim_start_matches('+')
            ),
            Text::StoppedAll if en => {
                "You will get no more status updates from anyone. START ALL to undo.".into()
            }
            Text::StoppedAll => "你将不再收到任何状态通知。发送“订阅 全部”可恢复。".into(),
            Text::Started(n) if en => format!("You will get updates about {n} again."),
            Text::Started(n) => format!("你将重新收到{n}的状态通知。"),
            Text::NotStopped(n) if en => {
                format!("You had not stopped updates about {n}: nothing to undo.")
            }
            Text::NotStopped(n) => format!("你没有退订{n}的状态通知，无需恢复。"),
            Text::StartedAll if en => "You will get status updates again.".into(),
            Text::StartedAll => "你将重新收到状态通知。".into(),
            Text::LangSet(Lang::En) => "Replies will be in English. LANG ZH for Chinese.".into(),
            Text::LangSet(Lang::Zh) => "回复将使用中文。发送“语言 英文”切换英文。".into(),
            Text::PrivacySet(p) if en => {
                format!("Your avatar can be seen by {}.", privacy_word(*p, lang))
            }
            Text::PrivacySet(p) => format!("你的头像可见范围：{}。", privacy_word(*p, lang)),
            Text::PrivacyNow(p) if en => format!(
                "Your avatar can be seen by {}. Change: PRIVACY EVERYONE / PRIVACY CONTACTS / \
                 PRIVACY NOBODY",
                privacy_word(*p, lang)
            ),
            Text::PrivacyNow(p) => format!(
                "你的头像可见范围：{}。修改：隐私 所有人／隐私 联系人／隐私 无人",
                privacy_word(*p, lang)
            ),
            Text::Presets {
                page,
                pages,
                items,
                gallery,
            } => {
                if let Some(refusal) = no_such_page(Listing::Avatars, *page, *pages, lang) {
                    return refusal;
                }
                let more = match (page < pages, en) {
                    (true, true) => format!(" {}.", Listing::Avatars.pointer(lang, page + 1)),
                    (true, false) => format!("{}。", Listing::Avatars.pointer(lang, page + 1)),
                    _ => String::new(),
                };
                let gallery = match lang {
                    Lang::En => gallery.clone(),
                    Lang::Zh if gallery.contains('?') => format!("{gallery}&lang=zh"),
                    Lang::Zh => format!("{gallery}?lang=zh"),
                };
                // As many items as fit with the gallery link whole: long (Chinese) titles and
                // a long public URL could otherwise push the link past the last SMS, and a
                // cut link is a broken one.
                let with = |n: usize| {
                    let mut list = items[..n]
                        .iter()
                        .map(|(id, t)| format!("{id} {}", t.in_lang(lang)))
                        .collect::<Vec<_>>()
                        .join(if en { ", " } else { "、" });
                    if n < items.len() {
                        list.push_str(if en { ", ..." } else { "…" });
                    }
                    if en {
                        format!("Avatars {page}/{pages}: {list}. Choose: AVATAR <number>.{more} See them: {gallery}")
                    } else {
                        format!("头像库{page}/{pages}：{list}。选择：头像 编号。{more}预览：{gallery}")
                    }
                };
                (1..=items.len())
                    .rev()
                    .map(with)
                    .find(|t| segments(t) <= MAX_SEGMENTS)
                    .unwrap_or_else(|| with(items.len()))
            }
            Text::NoPresets if en => "The avatar catalogue is empty.".into(),
            Text::NoPresets => "头像库暂时为空。".into(),
            Text::AvatarNow(current) => {
                let now = match (current, en) {
                    (CurrentAvatar::None, true) => "You have no avatar".to_string(),
                    (CurrentAvatar::None, false) => "你还没有头像".to_string(),
                    (CurrentAvatar::Own, true) => "Your avatar is your own picture".to_string(),
                    (CurrentAvatar::Own, false) => "你的头像是自己上传的图片".to_string(),
                    (CurrentAvatar::Preset { id, title }, true) => match title {
                        Some(t) => format!("Your avatar is {id} {}", t.in_lang(lang)),
                        None => format!("Your avatar is {id}"),
                    },
                    (CurrentAvatar::Preset { id, title }, false) => match title {
                        Some(t) => format!("你的头像是{id} {}", t.in_lang(lang)),
                        None => format!("你的头像是{id}"),
                    },
                };
                if en {
                    format!("{now}. AVATARS: the catalogue. AVATAR <number>: choose one. AVATAR UPLOAD: your own picture. AVATAR OFF: none.")
                } else {
                    format!("{now}。可发送：头像库（查看）、头像 编号、头像 上传、头像 取消。")
                }
            }
            Text::NoSuchPreset(id) if en => format!("There is no avatar {id}. AVATARS lists them."),
            Text::NoSuchPreset(id) => format!("没有编号{id}的头像。发送“头像库”查看。"),
            Text::AvatarChosen { id, title, reach } => {
                let title = title.in_lang(lang);
                match (reach, en) {
                    (Reach::Told(told), true) => format!(
                        "Your avatar is now {id} {title}. {told} contact{} will get it.",
                        plural(*told)
                    ),
                    (Reach::Told(told), false) => {
                        format!("头像已设为{id} {title}。将发送给{told}位联系人。")
                    }
                    (Reach::Nobody, true) => {
                        format!("Your avatar is now {id} {title}. {}", nobody_sees(lang))
                    }
                    (Reach::Nobody, false) => {
                        format!("头像已设为{id} {title}。{}", nobody_sees(lang))
                    }
                    (Reach::Already, true) => {
                        format!("Your avatar is {id} {title} already: nothing is sent again.")
                    }
                    (Reach::Already, false) => {
                        format!("头像已是{id} {title}，不再重复发送。")
                    }
                }
            }
            Text::UploadLink {
                url,
                minutes,
                max_kb,
            } if en => format!(
                "Upload your picture ({}, max {max_kb} KB) at {url} within {minutes} minutes. The link works once.",
                upload_formats(lang)
            ),
            Text::UploadLink {
                url,
                minutes,
                max_kb,
            } => format!(
                "请在{minutes}分钟内打开 {url} 上传头像（{}，最大{max_kb}KB），链接仅可用一次。",
                upload_formats(lang)
            ),
            Text::UploadNotYet { metric, have, need } => {
                let (what_en, what_zh) = match metric {
                    Metric::CallMinutes => ("call minutes", "通话分钟"),
                    Metric::SmsSent => ("messages sent", "短信条数"),
                    Metric::TenureDays => ("days on the network", "在网天数"),
                    Metric::Level => ("user level", "用户等级"),
                };
                if en {
                    // A level is a rank, not an amount: "user level 3", "you are at level 2".
                    let (open_at, now_at) = match metric {
                        Metric::Level => (format!("user level {need}"), format!("are at level {have}")),
                        _ => (format!("{need} {what_en}"), format!("have {have}")),
                    };
                    format!(
                        "Uploads open at {open_at}; you {now_at} ({} to go). Meanwhile choose a preset: AVATARS",
                        need - have
                    )
                } else {
                    format!(
                        "{what_zh}达到{need}即可上传，你现在{have}（还差{}）。可先选用头像库：头像库",
                        need - have
                    )
                }
            }
            Text::UploadsOff if en => "Uploads are not offered here. Choose a preset: AVATARS".into(),
            Text::UploadsOff => "暂不支持上传。可选用头像库：头像库".into(),
            Text::AvatarRemoved { had: true } if en => "Your avatar is removed.".into(),
            Text::AvatarRemoved { had: true } => "头像已取消。".into(),
            Text::AvatarRemoved { had: false } if en => "You have no avatar set.".into(),
            Text::AvatarRemoved { had: false } => "你还没有设置头像。".into(),
            Text::AvatarUploaded { reach } => match (reach, en) {
                (Reach::Told(told), true) => format!(
                    "Your new picture is set. {told} contact{} will get it.",
                    plural(*told)
                ),
                (Reach::Told(told), false) => format!("新头像已设置，将发送给{told}位联系人。"),
                (Reach::Nobody, true) => {
                    format!("Your new picture is set. {}", nobody_sees(lang))
                }
                (Reach::Nobody, false) => format!("新头像已设置。{}", nobody_sees(lang)),
                (Reach::Already, true) => {
                    "That picture is your avatar already: nothing is sent again.".into()
                }
                (Reach::Already, false) => "该图片已是你的头像，不再重复发送。".into(),
            },
            Text::UploadRejected(r) => match (r, en) {
                (Rejected::TooLarge(kb), true) => format!("Picture not set: it is over {kb} KB."),
                (Rejected::TooLarge(kb), false) => format!("头像未设置：图片超过{kb}KB。"),
                (Rejected::Format, true) => format!(
                    "Picture not set: send a {} image.",
                    upload_formats(Lang::En)
                ),
                (Rejected::Format, false) => {
                    format!("头像未设置：请使用{}图片。", upload_formats(Lang::Zh))
                }
                (Rejected::Dimensions(Some(max)), true) => {
                    format!("Picture not set: it is too large in pixels (at most {max} x {max}).")
                }
                (Rejected::Dimensions(Some(max)), false) => {
                    format!("头像未设置：图片尺寸过大（最大{max}x{max}像素）。")
                }
                (Rejected::Dimensions(None), true) => "Picture not set: it is too large in pixels.".into(),
                (Rejected::Dimensions(None), false) => "头像未设置：图片尺寸过大。".into(),
                (Rejected::Corrupt, true) => "Picture not set: the file is damaged.".into(),
                (Rejected::Corrupt, false) => "头像未设置：文件已损坏。".into(),
                (Rejected::Empty, true) => {
                    "Picture not set: no picture came with the upload. Choose one and send it again.".into()
                }
                (Rejected::Empty, false) => "头像未设置：没有收到图片。请选择图片后重新上传。".into(),
                (Rejected::Frames, true) => {
                    "Picture not set: the animation has too many frames. Send a still picture.".into()
                }
                (Rejected::Frames, false) => "头像未设置：动画帧数过多。请使用静态图片。".into(),
                (Rejected::SeveralFiles, true) => {
                    "Picture not set: the upload had more than one file. Send one picture only.".into()
                }
                (Rejected::SeveralFiles, false) => "头像未设置：上传了多个文件。请只上传一张图片。".into(),
                (Rejected::LinkInvalid, true) => {
                    "That upload link has expired or was used. Send AVATAR UPLOAD for a new one.".into()
                }
                (Rejected::LinkInvalid, false) => "上传链接已失效。请发送“头像 上传”获取新链接。".into(),
            },
            Text::PartsMissing if en => {
                "Part of your long message did not arrive, so it was not read. Please send it again."
                    .into()
            }
            Text::PartsMissing => "你的长短信有部分未收到，无法处理。请重新发送。".into(),
            Text::AvatarPush { name, number, room } => avatar_push(name, number, *room, lang),
            Text::AvatarLink { name, number, url } if en => format!(
                "{} has a new caller picture: {url}{}",
                who_phrase(name, number, lang),
                stop_hint(number, lang)
            ),
            Text::AvatarLink { name, number, url } => format!(
                "{}更新了来电头像：{url} {}",
                who_phrase(name, number, lang),
                stop_hint(number, lang)
            ),
            Text::Update {
                name,
                number,
                shown,
                until,
            } => {
                let who = who_phrase(name, number, lang);
                let what = status_phrase(shown, until, lang);
                if en {
                    // A name or status in Chinese makes the whole update UCS-2 (70 characters
                    // a segment): the short hint then keeps it to one SMS where it can.
                    // The wordiest of the hints that gives the fewest SMS.
                    let long = format!("{who}: {what}.{}", stop_hint(number, lang));
                    let mut best = long;
                    for hint in short_stop_hints(number) {
                        let short = format!("{who}: {what}.{hint}");
                        if segments(&short) < segments(&best) {
                            best = short;
                        }
                    }
                    best
                } else {
                    format!("{who}：{what}。{}", stop_hint(number, lang))
                }
            }
        }
    }
}

/// Who a STATUS reply says is told: `N contacts will be told.`; for OTHERS alone, whom no
/// update goes to, who sees it instead (`0 contacts will be told` read as if the setting
/// reached nobody, or had failed).
fn told_phrase(lines: &[Line], told: usize, lang: Lang) -> String {
    let others_only = !lines.is_empty() && lines.iter().all(|l| l.label == Label::Others);
    match (others_only && told == 0, lang) {
        (true, Lang::En) => "Numbers in none of your groups see it when they ask WHO.".into(),
        (true, Lang::Zh) => "不在你任何分组里的号码查询你时会看到。".into(),
        (false, Lang::En) => format!("{told} contact{} will be told.", plural(told)),
        (false, Lang::Zh) => format!("将通知{told}位联系人。"),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// How many SMS segments `text` takes (GSM-7 if it fits, else UCS-2).
///
/// Counted with 8-bit concatenation references, the default (`[delivery] concat_16bit =
/// false`); with 16-bit references a part holds one septet (or UCS-2 unit) less, and a reply
/// at the very edge of [`MAX_SEGMENTS`] can take one part more.
pub fn segments(text: &str) -> usize {
    segment_text(text, ConcatStyle::Udh8, 0)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

/// `text` cut (ending in `...`, or `…` when the text is UCS-2 anyway) so that it takes at most
/// `max` segments.
pub fn clip(text: &str, max: usize) -> String {
    if segments(text) <= max {
        return text.to_string();
    }
    let ellipsis = if sms_wire::gsm7::is_representable(text) {
        "..."
    } else {
        "…"
    };
    let chars: Vec<char> = text.chars().collect();
    // Binary search the longest prefix that fits with the ellipsis.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let mut candidate: String = chars[..mid].iter().collect();
        candidate.push_str(ellipsis);
        if segments(&candidate) <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut out: String = chars[..lo].iter().collect();
    out.push_str(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{MsisdnError, ValueError};

    const LONG_NUMBER: &str = "+861380013800012";
    const URL: &str = "https://avatars.gateway.example-carrier.com/a/AAAAAAAAAAAAAAAAAAAAAA";

    /// The longest expiry in English (`tomorrow 14:00`).
    const TOMORROW: When = When::tomorrow(14, 0);
    /// The longest in Chinese (`12月23日14:00`; `Dec 23 14:00`).
    const LATER: When = When::on(12, 23, 14, 0);

    fn worst_line(label: Label) -> Line {
        worst_line_until(label, TOMORROW)
    }

    fn worst_line_until(label: Label, until: When) -> Line {
        Line {
            label,
            shown: Shown::Code(StatusCode::Dnd),
            until: Some(until),
            members: Some(200),
        }
    }

    /// A preset with the longest titles `titles.csv` may give, English and Chinese.
    fn longest_zh_title() -> PresetTitle {
        let n = crate::service::avatar::MAX_TITLE_CHARS;
        PresetTitle::new("S".repeat(n), Some("向".repeat(n)))
    }

    /// Every variant with worst-case arguments (longest names, numbers, statuses).
    /// The texts that show an expiry, each at its longest, with `until` and `lines`.
    fn timed_samples(lines: &[Line], until: When) -> Vec<Text> {
        let name20 = "Zhang Sanfeng Junior".to_string();
        vec![
            Text::Groups {
                lines: lines.to_vec(),
                page: 1,
            },
            Text::Groups {
                lines: lines.to_vec(),
                page: 99,
            },
            Text::Statuses {
                lines: lines.to_vec(),
                page: 2,
            },
            Text::StatusSet {
                lines: lines[..5].to_vec(),
                told: 1000,
                deferred_until: Some(until),
            },
            // Five 60-character statuses (in Chinese, 60 ideographs): condensed, not cut.
            Text::StatusSet {
                lines: lines[..5]
                    .iter()
                    .map(|l| Line {
                        shown: Shown::Text("我".repeat(60)),
                        ..l.clone()
                    })
                    .collect(),
                told: 1000,
                deferred_until: Some(until),
            },
            Text::Who {
                name: Some(name20.clone()),
                number: LONG_NUMBER.into(),
                shown: Shown::Code(StatusCode::Meeting),
                until: Some(until),
                photo: Some(URL.into()),
            },
            Text::Update {
                name: Some(name20.clone()),
                number: LONG_NUMBER.into(),
                shown: Shown::Code(StatusCode::Dnd),
                until: Some(until),
            },
            Text::Update {
                name: Some(name20),
                number: LONG_NUMBER.into(),
                shown: Shown::Text("x".repeat(60)),
                until: Some(until),
            },
        ]
    }

    fn samples() -> Vec<Text> {
        let name20 = "Zhang Sanfeng Junior".to_string();
        let user16 = Label::User("ABCDEFGHIJKLMNOP".into());
        let mut v: Vec<Text> = [
            HelpTopic::General,
            HelpTopic::Name,
            HelpTopic::Group,
            HelpTopic::Status,
            HelpTopic::Who,
            HelpTopic::Avatar,
            HelpTopic::Privacy,
            HelpTopic::Stop,
            HelpTopic::Lang,
        ]
        .into_iter()
        .map(Text::Help)
        .collect();
        let kinds = vec![
            ParseErrorKind::Empty,
            ParseErrorKind::UnknownCommand,
            ParseErrorKind::Misspelt("S".repeat(crate::command::MAX_SUGGESTION_CHARS)),
            ParseErrorKind::Number(MsisdnError::BadLength {
                text: "1".into(),
                digits: 1,
            }),
            ParseErrorKind::Number(MsisdnError::BadLength {
                text: "1".into(),
                digits: 30,
            }),
            ParseErrorKind::Number(MsisdnError::TooShort {
                text: "1".into(),
                digits: 1,
            }),
            ParseErrorKind::Number(MsisdnError::Mistyped {
                text: "1".into(),
                digits: 1,
                expected: 11,
                what: crate::command::FixedLength::ChineseMobile,
            }),
            ParseErrorKind::Number(MsisdnError::Mistyped {
                text: "1".into(),
                digits: 1,
                expected: 10,
                what: crate::command::FixedLength::Nanp,
            }),
            ParseErrorKind::Number(MsisdnError::Empty),
            ParseErrorKind::ServiceNumber,
            ParseErrorKind::UnclearNumbers,
            ParseErrorKind::NothingAfterAll { start: false },
            ParseErrorKind::NothingAfterAll { start: true },
            ParseErrorKind::OneNumberAtATime {
                fixed: "TD+86123456789012".into(),
            },
            ParseErrorKind::Value(ValueError::BadGroupName { text: "x".into() }),
            ParseErrorKind::Value(ValueError::ReservedGroupName { text: "x".into() }),
            ParseErrorKind::Value(ValueError::BadStatusLength {
                text: "x".into(),
                chars: 61,
            }),
            ParseErrorKind::Value(ValueError::StatusNotSettable { text: "x".into() }),
            ParseErrorKind::Value(ValueError::BadDisplayName {
                text: "x".into(),
                chars: 21,
            }),
            ParseErrorKind::Value(ValueError::BadDuration { text: "x".into() }),
            ParseErrorKind::Value(ValueError::BadTime { text: "x".into() }),
            ParseErrorKind::Value(ValueError::PartMinute { text: "x".into() }),
            ParseErrorKind::MissingArgument,
            ParseErrorKind::MissingStatus,
            ParseErrorKind::MissingTarget,
            ParseErrorKind::UnknownOption,
            ParseErrorKind::BadNumber,
            ParseErrorKind::UnexpectedText,
            ParseErrorKind::BadExpiry,
            ParseErrorKind::VagueExpiry,
        ];
        let longest = || Some("S".repeat(crate::command::MAX_SUGGESTION_CHARS));
        let kinds = kinds.into_iter().chain([
            ParseErrorKind::MissingComma {
                fixed: longest(),
                also_before: Vec::new(),
            },
            ParseErrorKind::MissingComma {
                fixed: None,
                also_before: Vec::new(),
            },
            ParseErrorKind::MissingComma {
                fixed: longest(),
                also_before: vec!["y".repeat(16), "y".repeat(16)],
            },
            ParseErrorKind::MissingComma {
                fixed: None,
                also_before: vec!["y".repeat(16), "y".repeat(16)],
            },
            ParseErrorKind::UnclearCommas {
                or_before: vec!["y".repeat(16), "y".repeat(16)],
            },
            ParseErrorKind::UnclearCommas {
                or_before: Vec::new(),
            },
            ParseErrorKind::CommaInText { fixed: longest() },
            ParseErrorKind::CommaInText { fixed: None },
            ParseErrorKind::NearMiss {
                fixed: "S".repeat(crate::command::MAX_SUGGESTION_CHARS),
            },
        ]);
        // The service-number answer names what WHO and STOP take.
        for usage in [HelpTopic::Who, HelpTopic::Stop] {
            v.push(Text::Invalid {
                kind: ParseErrorKind::ServiceNumber,
                bad: "y".repeat(crate::command::MAX_BAD_CHARS),
                usage,
            });
        }
        for kind in kinds {
            for usage in [HelpTopic::General, HelpTopic::Status, HelpTopic::Group] {
                v.push(Text::Invalid {
                    kind: kind.clone(),
                    bad: "y".repeat(crate::command::MAX_BAD_CHARS),
                    usage,
                });
            }
        }
        let mut all: Vec<Line> = BuiltinGroup::ALL
            .into_iter()
            .map(|g| worst_line(Label::Builtin(g)))
            .collect();
        for _ in 0..16 {
            all.push(worst_line(user16.clone()));
        }
        v.extend([
            Text::NameSet(name20.clone()),
            Text::NameCleared,
            Text::Members {
                group: user16.clone(),
                page: 19,
                pages: 20,
                total: 200,
                numbers: vec![LONG_NUMBER.to_string(); 8],
            },
            Text::Members {
                group: user16.clone(),
                page: 1,
                pages: 1,
                total: 0,
                numbers: vec![],
            },
            Text::Members {
                group: user16.clone(),
                page: u32::MAX,
                pages: 200,
                total: 1600,
                numbers: vec![],
            },
            Text::Added {
                group: user16.clone(),
                added: 200,
                already: 200,
                skipped_self: true,
                total: 200,
                deferred_until: Some(LATER),
                sees: Some((Shown::Text("W".repeat(60)), Some(LATER))),
            },
            Text::GroupFull {
                group: user16.clone(),
                cap: 200,
                has: 199,
            },
            Text::ContactsFull {
                cap: 1000,
                has: 999,
            },
            Text::TooManyGroups { cap: 16 },
            Text::Removed {
                group: user16.clone(),
                removed: 200,
                not_members: 200,
                total: 0,
                deferred_until: Some(LATER),
            },
            Text::Renamed {
                from: user16.clone(),
                to: user16.clone(),
            },
            Text::BuiltinFixed(Label::Builtin(BuiltinGroup::Classmates)),
            Text::GroupExists(user16.clone()),
            Text::Dropped {
                group: user16.clone(),
                members: 200,
                deferred_until: Some(LATER),
            },
            Text::NoSuchGroup(user16.clone()),
            Text::NoSuchGroupNear {
                group: user16.clone(),
                near: user16.clone(),
            },
            Text::WhoUnknown(LONG_NUMBER.into()),
            Text::WhoSelf,
            Text::StopSelf,
            Text::Stopped(LONG_NUMBER.into()),
            Text::StoppedAll,
            Text::Started(LONG_NUMBER.into()),
            Text::NotStopped(LONG_NUMBER.into()),
            Text::StartedAll,
            Text::LangSet(Lang::En),
            Text::LangSet(Lang::Zh),
            Text::PrivacySet(Privacy::Contacts),
            Text::PrivacyNow(Privacy::Contacts),
            Text::Presets {
                page: 19,
                pages: 20,
                items: (100..105).map(|i| (i, "Sunflower field".into())).collect(),
                gallery: URL.into(),
            },
            Text::Presets {
                page: u32::MAX,
                pages: 200,
                items: vec![],
                gallery: URL.into(),
            },
            Text::NoPresets,
            Text::AvatarNow(CurrentAvatar::None),
            Text::AvatarNow(CurrentAvatar::Own),
            Text::AvatarNow(CurrentAvatar::Preset {
                id: i64::from(u32::MAX),
                title: Some("Sunflower field".into()),
            }),
            Text::AvatarNow(CurrentAvatar::Preset {
                id: i64::from(u32::MAX),
                title: Some(longest_zh_title()),
            }),
            Text::AvatarNow(CurrentAvatar::Preset { id: 7, title: None }),
            Text::NoSuchPreset(i64::from(u32::MAX)),
            Text::AvatarChosen {
                id: 100,
                title: "Sunflower field".into(),
                reach: Reach::Told(1000),
            },
            Text::AvatarChosen {
                id: 100,
                title: "Sunflower field".into(),
                reach: Reach::Nobody,
            },
            Text::AvatarChosen {
                id: 100,
                title: "Sunflower field".into(),
                reach: Reach::Already,
            },
            // The longest Chinese titles the catalogue takes.
            Text::Presets {
                page: 19,
                pages: 20,
                items: (100..105).map(|i| (i, longest_zh_title())).collect(),
                gallery: URL.into(),
            },
            Text::AvatarChosen {
                id: 100,
                title: longest_zh_title(),
                reach: Reach::Told(1000),
            },
            Text::AvatarChosen {
                id: i64::from(u32::MAX),
                title: longest_zh_title(),
                reach: Reach::Nobody,
            },
            Text::AvatarChosen {
                id: i64::from(u32::MAX),
                title: longest_zh_title(),
                reach: Reach::Already,
            },
            Text::UploadLink {
                url: URL.into(),
                minutes: 15,
                max_kb: 10_000,
            },
            Text::UploadNotYet {
                metric: Metric::TenureDays,
                have: 1000,
                need: 100000,
            },
            Text::UploadsOff,
            Text::DialIt("*123*1*2*3*4*5*6*7#".into()),
            Text::AvatarRemoved { had: true },
            Text::AvatarRemoved { had: false },
            Text::AvatarUploaded {
                reach: Reach::Told(1000),
            },
            Text::AvatarUploaded {
                reach: Reach::Nobody,
            },
            Text::AvatarUploaded {
                reach: Reach::Already,
            },
            Text::UploadRejected(Rejected::TooLarge(100)),
            Text::UploadRejected(Rejected::Format),
            Text::UploadRejected(Rejected::Dimensions(Some(u32::MAX))),
            Text::UploadRejected(Rejected::Dimensions(None)),
            Text::UploadRejected(Rejected::Corrupt),
            Text::UploadRejected(Rejected::Empty),
            Text::UploadRejected(Rejected::Frames),
            Text::UploadRejected(Rejected::SeveralFiles),
            Text::UploadRejected(Rejected::LinkInvalid),
            Text::PartsMissing,
            Text::AvatarPush {
                name: Some(name20.clone()),
                number: LONG_NUMBER.into(),
                room: usize::MAX,
            },
            Text::AvatarLink {
                name: Some(name20.clone()),
                number: LONG_NUMBER.into(),
                url: URL.into(),
            },
        ]);
        // The texts with an expiry, on the next day (the longest in English) and on a later
        // one (the longest in Chinese).
        let later: Vec<Line> = all
            .iter()
            .map(|l| worst_line_until(l.label.clone(), LATER))
            .collect();
        v.extend(timed_samples(&all, TOMORROW));
        v.extend(timed_samples(&later, LATER));
        v
    }

    /// `AVATAR` alone answers in one SMS in either language, whatever the avatar, even with
    /// the longest preset id and title.
    #[test]
    fn the_current_avatar_and_its_forms_fit_one_sms() {
        for current in [
            CurrentAvatar::None,
            CurrentAvatar::Own,
            CurrentAvatar::Preset {
                id: i64::from(u32::MAX),
                title: Some(
                    "S".repeat(crate::service::avatar::MAX_TITLE_CHARS)
                        .as_str()
                        .into(),
                ),
            },
            CurrentAvatar::Preset {
                id: i64::from(u32::MAX),
                title: Some(longest_zh_title()),
            },
        ] {
            for lang in [Lang::En, Lang::Zh] {
                let t = Text::AvatarNow(current.clone()).render_full(lang);
                assert_eq!(segments(&t), 1, "{t}");
                for form in if lang == Lang::En {
                    ["AVATARS", "AVATAR <number>", "AVATAR UPLOAD", "AVATAR OFF"]
                } else {
                    ["头像库", "头像 编号", "头像 上传", "头像 取消"]
                } {
                    assert!(t.contains(form), "{t}");
                }
            }
        }
    }

    /// `PRIVACY` alone answers in one SMS in either language: the setting and every form.
    #[test]
    fn the_privacy_setting_and_its_forms_fit_one_sms() {
        for p in [Privacy::Everyone, Privacy::Contacts, Privacy::Nobody] {
            for lang in [Lang::En, Lang::Zh] {
                let t = Text::PrivacyNow(p).render_full(lang);
                assert_eq!(segments(&t), 1, "{t}");
                assert!(t.contains(privacy_word(p, lang)), "{t}");
                for form in if lang == Lang::En {
                    ["PRIVACY EVERYONE", "PRIVACY CONTACTS", "PRIVACY NOBODY"]
                } else {
                    ["隐私 所有人", "隐私 联系人", "隐私 无人"]
                } {
                    assert!(t.contains(form), "{t}");
                }
            }
        }
    }

    #[test]
    fn every_group_line_is_on_exactly_one_page_and_every_page_fits() {
        let user = |i: usize| Label::User(format!("{}{i:02}", "组".repeat(14)));
        let mut all: Vec<Line> = BuiltinGroup::ALL
            .into_iter()
            .map(|g| worst_line(Label::Builtin(g)))
            .collect();
        all.extend((0..16).map(|i| worst_line(user(i))));
        for lang in [Lang::En, Lang::Zh] {
            for members in [true, false] {
                // Every line shown, page after page (a line shown twice would appear twice).
                let mut seen: Vec<String> = Vec::new();
                let mut page = 1;
                loop {
                    let text = if members {
                        Text::Groups {
                            lines: all.clone(),
                            page,
                        }
                    } else {
                        Text::Statuses {
                            lines: all.clone(),
                            page,
                        }
                    }
                    .render_full(lang);
                    assert!(
                        segments(&text) <= MAX_SEGMENTS,
                        "{lang:?} page {page}: {text}"
                    );
                    for l in &all {
                        let shown = line(l, lang, members);
                        if text.contains(&shown) {
                            seen.push(shown);
                        }
                    }
                    let next = match lang {
                        Lang::En => format!(
                            ". More: {} {}.",
                            if members { "GROUPS" } else { "STATUS" },
                            page + 1
                        ),
                        Lang::Zh => format!(
                            "。下一页：{} {}",
                            if members { "分组" } else { "状态" },
                            page + 1
                        ),
                    };
                    if !text.contains(&next) {
                        break;
                    }
                    page += 1;
                    assert!(page < 30, "no end");
                }
                assert!(page > 1, "the worst case takes more than one reply");
                let want: Vec<String> = all.iter().map(|l| line(l, lang, members)).collect();
                assert_eq!(seen, want, "{lang:?}: every line once, in order");
                // Past the last page: no such page, and how many there are, in one SMS.
                let past = if members {
                    Text::Groups {
                        lines: all.clone(),
                        page: 500,
                    }
                } else {
                    Text::Statuses {
                        lines: all.clone(),
                        page: 500,
                    }
                }
                .render_full(lang);
                let want = match (lang, members) {
                    (Lang::En, true) => format!(
                        "No page 500: your groups fit on {page} pages. GROUPS {page} shows the last."
                    ),
                    (Lang::En, false) => format!(
                        "No page 500: your statuses fit on {page} pages. STATUS {page} shows the last."
                    ),
                    (Lang::Zh, true) => format!(
                        "没有第500页：你的分组共{page}页，发送“分组 {page}”查看最后一页。"
                    ),
                    (Lang::Zh, false) => format!(
                        "没有第500页：你的状态共{page}页，发送“状态 {page}”查看最后一页。"
                    ),
                };
                assert_eq!(past, want);
                assert_eq!(segments(&past), 1, "{past}");
            }
        }
    }

    #[test]
    fn a_page_past_the_last_says_so_and_how_many_pages_there_are() {
        let family = Label::Builtin(BuiltinGroup::Family);
        let two_lines = vec![
            worst_line(Label::Builtin(BuiltinGroup::Family)),
            worst_line(Label::Others),
        ];
        let cases = [
            (
                Text::Groups {
                    lines: two_lines.clone(),
                    page: 2,
                },
                "No page 2: your groups fit on one page. GROUPS shows it.",
                "没有第2页：你的分组只有1页，发送“分组”查看。",
            ),
            (
                Text::Statuses {
                    lines: two_lines,
                    page: 3,
                },
                "No page 3: your statuses fit on one page. STATUS shows it.",
                "没有第3页：你的状态只有1页，发送“状态”查看。",
            ),
            (
                Text::Members {
                    group: family.clone(),
                    page: 9,
                    pages: 2,
                    total: 12,
                    numbers: vec![],
                },
                "No page 9: the members of FAMILY fit on 2 pages. GROUP FAMILY 2 shows the last.",
                "没有第9页：家人的成员共2页，发送“分组 家人 2”查看最后一页。",
            ),
            (
                Text::Presets {
                    page: 9,
                    pages: 3,
                    items: vec![],
                    gallery: URL.into(),
                },
                "No page 9: the avatars fit on 3 pages. AVATARS 3 shows the last.",
                "没有第9页：头像库共3页，发送“头像库 3”查看最后一页。",
            ),
        ];
        for (text, en, zh) in cases {
            assert_eq!(text.render(Lang::En), en);
            assert_eq!(text.render(Lang::Zh), zh);
        }
        // The last page itself is shown as ever.
        let last = Text::Members {
            group: family,
            page: 2,
            pages: 2,
            total: 12,
            numbers: vec![LONG_NUMBER.into()],
        };
        assert!(last.render(Lang::En).starts_with("FAMILY (12), page 2/2: "));
        // The longest page number and group names still fit one SMS (70 UCS-2 characters
        // when an English reply names a group in Chinese): the short form. (`u32::MAX`
        // stands for any bigger number and is not quoted: see the next test.)
        for group in [
            Label::User("ABCDEFGHIJKLMNOP".into()),
            Label::User("组".repeat(16)),
        ] {
            for (page, quoted) in [(u32::MAX - 1, true), (u32::MAX, false), (0, false)] {
                let text = Text::Members {
                    group: group.clone(),
                    page,
                    pages: 200,
                    total: 1600,
                    numbers: vec![],
                };
                for lang in [Lang::En, Lang::Zh] {
                    let r = text.render_full(lang);
                    assert_eq!(segments(&r), 1, "{lang:?}: {r}");
                    let command = Listing::Members(&group).command(lang);
                    if page == 0 {
                        assert!(r.contains(&command), "{r}");
                        assert!(r.to_lowercase().contains("first") || r.contains("第一页"));
                    } else {
                        assert_eq!(r.contains(&page.to_string()), quoted, "{r}");
                        assert!(r.contains(&format!("{command} 200")), "{r}");
                    }
                }
            }
        }
        assert_eq!(
            Text::Members {
                group: Label::User("组".repeat(16)),
                page: 9,
                pages: 2,
                total: 12,
                numbers: vec![],
            }
            .render(Lang::En),
            format!("No page 9: 2 in all. Last: GROUP {} 2", "组".repeat(16))
        );
    }

    #[test]
    fn a_page_before_the_first_or_too_big_for_any_says_so() {
        let two_lines = vec![
            worst_line(Label::Builtin(BuiltinGroup::Family)),
            worst_line(Label::Others),
        ];
        let family = Label::Builtin(BuiltinGroup::Family);
        let members = |page| Text::Members {
            group: family.clone(),
            page,
            pages: 2,
            total: 12,
            numbers: vec![],
        };
        let presets = |page| Text::Presets {
            page,
            pages: 3,
            items: vec![],
            gallery: URL.into(),
        };
        let cases = [
            (
                Text::Groups {
                    lines: two_lines.clone(),
                    page: 0,
                },
                "Pages start at 1: your groups fit on one page. GROUPS shows it.",
                "页码从1开始：你的分组只有1页，发送“分组”查看。",
            ),
            (
                Text::Statuses {
                    lines: two_lines.clone(),
                    page: u32::MAX,
                },
                "No such page: your statuses fit on one page. STATUS shows it.",
                "没有这一页：你的状态只有1页，发送“状态”查看。",
            ),
            (
                members(0),
                "Pages start at 1: the members of FAMILY fit on 2 pages. GROUP FAMILY shows the first.",
                "页码从1开始：家人的成员共2页，发送“分组 家人”查看第一页。",
            ),
            (
                members(u32::MAX),
                "No such page: the members of FAMILY fit on 2 pages. GROUP FAMILY 2 shows the last.",
                "没有这一页：家人的成员共2页，发送“分组 家人 2”查看最后一页。",
            ),
            (
                presets(0),
                "Pages start at 1: the avatars fit on 3 pages. AVATARS shows the first.",
                "页码从1开始：头像库共3页，发送“头像库”查看第一页。",
            ),
            (
                presets(u32::MAX),
                "No such page: the avatars fit on 3 pages. AVATARS 3 shows the last.",
                "没有这一页：头像库共3页，发送“头像库 3”查看最后一页。",
            ),
        ];
        for (text, en, zh) in cases {
            assert_eq!(text.render(Lang::En), en);
            assert_eq!(text.render(Lang::Zh), zh);
            for lang in [Lang::En, Lang::Zh] {
                assert_eq!(segments(&text.render(lang)), 1);
            }
        }
        // The short form, for an English reply naming a group in Chinese.
        assert_eq!(
            Text::Members {
                group: Label::User("组".repeat(16)),
                page: 0,
                pages: 2,
                total: 12,
                numbers: vec![],
            }
            .render(Lang::En),
            format!(
                "Pages start at 1: 2 in all. First: GROUP {}",
                "组".repeat(16)
            )
        );
    }

    #[test]
    fn every_text_fits_three_segments_unclipped_in_both_languages() {
        for t in samples() {
            for lang in [Lang::En, Lang::Zh] {
                let full = t.render_full(lang);
                assert!(!full.is_empty(), "{t:?}");
                assert!(
                    segments(&full) <= MAX_SEGMENTS,
                    "{lang:?} {} segments: {full}",
                    segments(&full)
                );
                assert!(segments(&t.render(lang)) <= MAX_SEGMENTS);
            }
        }
    }

    #[test]
    fn english_texts_stay_in_gsm7_and_common_ones_fit_one_sms() {
        for t in samples() {
            if t == Text::LangSet(Lang::Zh) {
                continue; // confirms the switch in Chinese
            }
            let s = t.render_full(Lang::En);
            assert!(sms_wire::gsm7::is_representable(&s), "not GSM-7: {s}");
        }
        // Typical texts fit one SMS (160 GSM-7 / 70 UCS-2 characters).
        let typical = [
            Text::Update {
                name: Some("Zhang San".into()),
                number: "+8613800138000".into(),
                shown: Shown::Code(StatusCode::Meeting),
                until: Some(When::today(15, 0)),
            },
            Text::Help(HelpTopic::General),
            Text::Stopped("+8613800138000".into()),
        ];
        for t in typical {
            assert_eq!(segments(&t.render(Lang::En)), 1, "{}", t.render(Lang::En));
        }
        let zh = Text::Update {
            name: Some("张三".into()),
            number: "+8613800138000".into(),
            shown: Shown::Code(StatusCode::Driving),
            until: None,
        }
        .render(Lang::Zh);
        assert_eq!(segments(&zh), 1, "{zh}");
    }

    #[test]
    fn a_time_on_another_day_says_which_day_in_the_readers_language() {
        let update = |until| Text::Update {
            name: Some("Zhang San".into()),
            number: "+8613800138000".into(),
            shown: Shown::Code(StatusCode::Meeting),
            until: Some(until),
        };
        for (until, en, zh) in [
            (
                When::today(17, 0),
                "MEETING until 17:00.",
                "“开会”至17:00。",
            ),
            (
                When::tomorrow(17, 0),
                "MEETING until tomorrow 17:00.",
                "“开会”至明天17:00。",
            ),
            (
                When::on(12, 7, 17, 0),
                "MEETING until Dec 7 17:00.",
                "“开会”至12月7日17:00。",
            ),
            (
                When::on(1, 1, 0, 5),
                "MEETING until Jan 1 00:05.",
                "“开会”至1月1日00:05。",
            ),
        ] {
            let (r_en, r_zh) = (
                update(until).render(Lang::En),
                update(until).render(Lang::Zh),
            );
            assert!(r_en.contains(en), "{r_en}");
            assert!(r_zh.contains(zh), "{r_zh}");
            // Typical updates still fit one SMS.
            assert_eq!(segments(&r_en), 1, "{r_en}");
            assert_eq!(segments(&r_zh), 1, "{r_zh}");
        }
        let months: Vec<String> = (1..=12)
            .map(|m| when(&When::on(m, 30, 9, 0), Lang::En))
            .collect();
        assert_eq!(
            months.join(", "),
            "Jan 30 09:00, Feb 30 09:00, Mar 30 09:00, Apr 30 09:00, May 30 09:00, \
             Jun 30 09:00, Jul 30 09:00, Aug 30 09:00, Sep 30 09:00, Oct 30 09:00, \
             Nov 30 09:00, Dec 30 09:00"
        );
        // WHO, STATUS lines and when held updates go out.
        let who = Text::Who {
            name: None,
            number: "+8613800138000".into(),
            shown: Shown::Code(StatusCode::Busy),
            until: Some(When::tomorrow(9, 30)),
            photo: None,
        };
        assert_eq!(
            who.render(Lang::En),
            "+8613800138000: BUSY until tomorrow 09:30."
        );
        assert_eq!(who.render(Lang::Zh), "+8613800138000：“忙碌”至明天09:30。");
        let set = |deferred_until| Text::StatusSet {
            lines: vec![Line {
                label: Label::Builtin(BuiltinGroup::Family),
                shown: Shown::Code(StatusCode::Busy),
                until: Some(When::on(11, 24, 2, 0)),
                members: None,
            }],
            told: 2,
            deferred_until,
        };
        assert_eq!(
            set(Some(When::tomorrow(0, 10))).render(Lang::En),
            "Set: FAMILY sees BUSY until Nov 24 02:00. 2 contacts will be told. \
             Hourly update limit reached: they get your latest status tomorrow 00:10."
        );
        assert_eq!(
            set(Some(When::today(15, 10))).render(Lang::En),
            "Set: FAMILY sees BUSY until Nov 24 02:00. 2 contacts will be told. \
             Hourly update limit reached: they get your latest status at 15:10."
        );
        assert_eq!(
            set(Some(When::tomorrow(0, 10))).render(Lang::Zh),
            "已设置：家人看到“忙碌”至11月24日02:00。将通知2位联系人。\
             已达每小时通知上限，明天00:10发送最新状态。"
        );
        // The coming midnight by name, with its "at".
        assert!(set(Some(When::tomorrow(0, 0)))
            .render(Lang::En)
            .ends_with("they get your latest status at midnight."));
        assert!(set(Some(When::tomorrow(0, 0)))
            .render(Lang::Zh)
            .ends_with("已达每小时通知上限，午夜发送最新状态。"));
    }

    #[test]
    fn updates_name_the_owner_first_and_carry_the_stop_hint() {
        let t = Text::Update {
            name: Some("Zhang San".into()),
            number: "+8613800138000".into(),
            shown: Shown::Code(StatusCode::Meeting),
            until: Some(When::today(15, 0)),
        };
        assert_eq!(
            t.render(Lang::En),
            "Zhang San (+8613800138000): MEETING until 15:00. Reply STOP 8613800138000 to stop these updates."
        );
        assert_eq!(
            t.render(Lang::Zh),
            "Zhang San(+8613800138000)：“开会”至15:00。回复TD8613800138000退订。"
        );
        // An owner with a Chinese name makes an English update UCS-2 (70 characters a
        // segment): the shorter hint keeps it to one SMS.
        let chinese_name = |shown: Shown| Text::Update {
            name: Some("李四".into()),
            number: "+8613500135000".into(),
            shown,
            until: None,
        };
        let busy = chinese_name(Shown::Code(StatusCode::Busy)).render(Lang::En);
        assert_eq!(
            busy,
            "李四 (+8613500135000): BUSY. Reply STOP 8613500135000 to stop."
        );
        assert_eq!(segments(&busy), 1);
        // With an expiry only the shortest hint keeps it to one SMS (it took two).
        let until = |shown: Shown| Text::Update {
            name: Some("妈妈".into()),
            number: "+8613800000002".into(),
            shown,
            until: Some(When::today(15, 0)),
        };
        for code in [StatusCode::Busy, StatusCode::Driving, StatusCode::Meeting] {
            let r = until(Shown::Code(code)).render(Lang::En);
            assert!(r.ends_with(". STOP 8613800000002 to stop."), "{r}");
            assert_eq!(segments(&r), 1, "{r}");
        }
        // Where one SMS cannot be had anyway, the hint stays whole.
        let long = chinese_name(Shown::Text(
            "在开会，很长的会议，请稍后再联系我，谢谢大家".into(),
        ))
        .render(Lang::En);
        assert!(long.ends_with("to stop these updates."), "{long}");
        // The stop hint parses back to STOP of that owner.
        let parsed = crate::command::parse("STOP 8613800138000", "86").unwrap();
        assert_eq!(
            parsed.command,
            crate::command::Command::Stop(crate::command::StopTarget::Number(
                crate::command::Msisdn::parse("+8613800138000", "86").unwrap()
            ))
        );
        let parsed = crate::command::parse("TD8613800138000", "86").unwrap();
        assert!(matches!(parsed.command, crate::command::Command::Stop(_)));
    }

    #[test]
    fn an_error_reply_is_one_sms_where_a_shorter_form_fits() {
        use crate::command::{ParseErrorKind as K, ValueError};
        let general = HelpTopic::General;
        // Unknown input: the English help alone takes 156 of an SMS's 160 characters, so
        // the quote of the input goes.
        let short = invalid(&K::UnknownCommand, "x", general, Lang::En);
        assert_eq!(short, help(general, Lang::En));
        let long_word = "y".repeat(30);
        let r = invalid(&K::UnknownCommand, &long_word, general, Lang::En);
        assert_eq!(r, help(general, Lang::En));
        // A near miss: the suggestion alone.
        let r = invalid(
            &K::Misspelt("STATUS FAMILY FREE".into()),
            "STATSU",
            general,
            Lang::En,
        );
        assert_eq!(
            r,
            "Sorry, \"STATSU\" is not a command. Did you mean: STATUS FAMILY FREE"
        );
        // What was wrong, without the usage line, when both do not fit one SMS.
        let status = "s".repeat(61);
        let r = invalid(
            &K::Value(ValueError::BadStatusLength {
                text: status.clone(),
                chars: 61,
            }),
            &status,
            HelpTopic::Status,
            Lang::En,
        );
        assert!(!r.contains("Try:"), "{r}");
        assert_eq!(segments(&r), 1, "{r}");
        for r in [
            invalid(&K::UnknownCommand, "你好你好", general, Lang::Zh),
            invalid(&K::UnknownCommand, &long_word, general, Lang::En),
        ] {
            assert_eq!(segments(&r), 1, "{r}");
        }
    }

    /// `GROUP g ADD` says what the group sees; a text status that would take the reply past
    /// its segments (60 Chinese characters in an English reply) is left out, not cut.
    #[test]
    fn an_add_says_what_the_group_sees_when_it_fits() {
        let added = |shown: Shown| Text::Added {
            group: Label::User("A".repeat(16)),
            added: 200,
            already: 200,
            skipped_self: true,
            total: 200,
            deferred_until: Some(LATER),
            sees: Some((shown, Some(LATER))),
        };
        let r = added(Shown::Code(StatusCode::Driving)).render_full(Lang::En);
        assert!(r.ends_with(" sees DRIVING until Dec 23 14:00."), "{r}");
        let r = added(Shown::Text("我".repeat(60))).render_full(Lang::En);
        assert!(segments(&r) <= MAX_SEGMENTS && !r.contains('我'), "{r}");
        assert!(!r.contains("STATUS"), "no suggestion either: {r}");
        let r = added(Shown::Text("我".repeat(60))).render_full(Lang::Zh);
        assert!(r.contains(&"我".repeat(60)), "{r}");
    }

    /// `HELP <topic>` says what the command does, in one SMS in either language; HELP STATUS
    /// names every status a subscriber can set and whom for.
    #[test]
    fn topic_help_explains_in_one_sms() {
        use HelpTopic as T;
        for t in [
            T::General,
            T::Name,
            T::Group,
            T::Status,
            T::Who,
            T::Avatar,
            T::Privacy,
            T::Stop,
            T::Lang,
        ] {
            for lang in [Lang::En, Lang::Zh] {
                let r = Text::Help(t).render(lang);
                assert_eq!(segments(&r), 1, "{t:?} {lang:?}: {r}");
            }
        }
        let en = Text::Help(T::Status).render(Lang::En);
        for word in [
            "FREE", "BUSY", "MEETING", "DRIVING", "DND", "OFF", "STANDBY", "ALL", "OTHERS", "UNTIL",
        ] {
            assert!(en.contains(word), "{word}: {en}");
        }
        let zh = Text::Help(T::Status).render(Lang::Zh);
        for word in [
            "空闲", "忙碌", "开会", "开车", "勿扰", "关机", "待机", "全部", "其他",
        ] {
            assert!(zh.contains(word), "{word}: {zh}");
        }
    }

    #[test]
    fn shortened_replies_keep_what_the_reader_needs() {
        use crate::command::ParseErrorKind as K;
        // A wrong word: the usage that names the right ones, not the bare complaint.
        let r = invalid(
            &K::UnknownOption,
            "增加 13900139000",
            HelpTopic::Group,
            Lang::Zh,
        );
        assert_eq!(r, help(HelpTopic::Group, Lang::Zh));
        let r = invalid(&K::UnknownOption, "朋友", HelpTopic::Privacy, Lang::En);
        assert!(r.starts_with("Usage: "), "{r}");
        // A dozen long group names set at once: how many, and still the count told.
        let line = |i: usize| Line {
            label: Label::User(format!("{}{i:02}", "组".repeat(14))),
            shown: Shown::Text("我".repeat(60)),
            until: None,
            members: None,
        };
        let t = Text::StatusSet {
            lines: (0..12).map(line).collect(),
            told: 7,
            deferred_until: None,
        };
        let r = t.render_full(Lang::Zh);
        assert!(segments(&r) <= MAX_SEGMENTS, "{r}");
        assert!(
            r.contains("12个分组") && r.contains("将通知7位联系人"),
            "{r}"
        );
        // A page whose last status ends a sentence gets no second full stop inside its quotes.
        let lines: Vec<Line> = (0..30)
            .map(|i| Line {
                label: Label::User(format!("G{i:02}")),
                shown: Shown::Text("At work, back soon.".into()),
                until: None,
                members: Some(1),
            })
            .collect();
        let r = Text::Groups {
            lines: lines.clone(),
            page: 1,
        }
        .render_full(Lang::En);
        assert!(
            r.contains("\"At work, back soon.\". More: GROUPS 2."),
            "{r}"
        );
        assert!(!r.contains(".."), "{r}");
        // Each page of several says which it is.
        let pages = r
            .split("(1/")
            .nth(1)
            .and_then(|t| t.split(')').next())
            .unwrap();
        assert!(
            r.starts_with(&format!("Your groups (1/{pages}): G00(1) ")),
            "{r}"
        );
        let second = Text::Groups { lines, page: 2 }.render_full(Lang::En);
        assert!(
            second.starts_with(&format!("Your groups (2/{pages}): ")),
            "{second}"
        );
        assert!(segments(&second) <= MAX_SEGMENTS, "{second}");
    }

    #[test]
    fn a_dropped_group_of_one_member_says_it_sees() {
        let t = |members| {
            Text::Dropped {
                group: Label::User("WORK".into()),
                members,
                deferred_until: None,
            }
            .render(Lang::En)
        };
        assert_eq!(
            t(1),
            "Group WORK dropped; its 1 member now sees your OTHERS status (or another group's)."
        );
        assert_eq!(
            t(2),
            "Group WORK dropped; its 2 members now see your OTHERS status (or another group's)."
        );
        // A built-in group is not gone: it is emptied and reset (the tester read "dropped"
        // and still found FAMILY listed, its status silently STANDBY).
        let family = Text::Dropped {
            group: Label::Builtin(crate::command::BuiltinGroup::Family),
            members: 1,
            deferred_until: None,
        };
        assert_eq!(
            family.render(Lang::En),
            "FAMILY emptied and back to STANDBY (built-in groups stay); its 1 member now sees your OTHERS status (or another group's)."
        );
        assert!(family
            .render(Lang::Zh)
            .starts_with("分组家人已清空并恢复为“待机”"));
        assert!(segments(&family.render(Lang::En)) == 1 && segments(&family.render(Lang::Zh)) <= 2);
    }

    #[test]
    fn a_membership_change_whose_updates_the_quota_holds_says_so_like_a_status() {
        let family = Label::Builtin(crate::command::BuiltinGroup::Family);
        let texts = |deferred_until: Option<When>| {
            [
                Text::Added {
                    group: family.clone(),
                    added: 1,
                    already: 0,
                    skipped_self: false,
                    total: 3,
                    deferred_until,
                    sees: None,
                },
                Text::Removed {
                    group: family.clone(),
                    removed: 1,
                    not_members: 0,
                    total: 1,
                    deferred_until,
                },
                Text::Dropped {
                    group: family.clone(),
                    members: 2,
                    deferred_until,
                },
            ]
        };
        let [added, removed, dropped] = texts(Some(When::today(15, 10)));
        assert_eq!(
            added.render(Lang::En),
            "FAMILY now has 3 members. Hourly update limit reached: they get your latest \
             status at 15:10. Set what they see: STATUS FAMILY FREE"
        );
        assert_eq!(
            removed.render(Lang::En),
            "Removed 1 from FAMILY; it has 1 member. Hourly update limit reached: they get \
             your latest status at 15:10."
        );
        assert!(dropped.render(Lang::En).ends_with(
            "(or another group's). Hourly update limit reached: they get your latest status \
             at 15:10."
        ));
        let [added, removed, dropped] = texts(Some(When::tomorrow(0, 10)));
        assert_eq!(
            added.render(Lang::Zh),
            "家人现有3人。已达每小时通知上限，明天00:10发送最新状态。设置他们看到的状态：状态 家人 空闲"
        );
        assert_eq!(
            removed.render(Lang::Zh),
            "已从家人删除1人，现有1人。已达每小时通知上限，明天00:10发送最新状态。"
        );
        assert!(dropped
            .render(Lang::Zh)
            .ends_with("。已达每小时通知上限，明天00:10发送最新状态。"));
        assert!(added
            .render(Lang::En)
            .contains("they get your latest status tomorrow 00:10."));
        // Nothing held: nothing said.
        for t in texts(None) {
            for lang in [Lang::En, Lang::Zh] {
                let s = t.render(lang);
                assert!(!s.contains("Hourly") && !s.contains("上限"), "{s}");
            }
        }
    }

    /// A handset's link finder takes a link up to the next space: a character glued to its end
    /// (`…/u/abc上传头像`) becomes part of the link, which then opens "This upload link is not
    /// known". Every link a reply carries ends the text or is followed by a space.
    #[test]
    fn a_link_in_a_reply_ends_the_text_or_is_followed_by_a_space() {
        let url = "http://gw.example/u/Ab-3_x";
        let texts = [
            Text::UploadLink {
                url: url.into(),
                minutes: 15,
                max_kb: 100,
            },
            Text::Who {
                name: Some("Zhang San".into()),
                number: "+8613800138000".into(),
                shown: Shown::Code(StatusCode::Busy),
                until: None,
                photo: Some(url.into()),
            },
        ];
        for text in &texts {
            for lang in [Lang::En, Lang::Zh] {
                let s = text.render(lang);
                let at = s.find(url).expect("the link is in the text") + url.len();
                let next = s[at..].chars().next();
                assert!(
                    next.is_none_or(char::is_whitespace),
                    "{lang:?}: {next:?} glued to the link: {s}"
                );
            }
        }
    }

    #[test]
    fn upload_texts_name_every_format_the_pipeline_takes_and_the_configured_size() {
        assert_eq!(upload_formats(Lang::En), "JPEG, PNG, GIF, BMP or WebP");
        assert_eq!(upload_formats(Lang::Zh), "JPEG、PNG、GIF、BMP或WebP");
        let link = Text::UploadLink {
            url: "http://gw.example/u/abc".into(),
            minutes: 15,
            max_kb: 250,
        };
        for lang in [Lang::En, Lang::Zh] {
            for text in [
                link.render(lang),
                Text::UploadRejected(Rejected::Format).render(lang),
            ] {
                for f in crate::images::Format::ALL {
                    assert!(text.contains(&f.to_string()), "{lang:?} lacks {f}: {text}");
                }
            }
            let text = link.render(lang);
            assert!(text.contains("250") && !text.contains("100"), "{text}");
        }
        assert_eq!(
            link.render(Lang::En),
            "Upload your picture (JPEG, PNG, GIF, BMP or WebP, max 250 KB) at http://gw.example/u/abc within 15 minutes. The link works once."
        );
    }

    /// The reply to an `AVATAR UPLOAD` that does not qualify yet names the closest threshold
    /// in words that read for each figure: a level is "user level 3", not "3 user level"
    /// (it said "Uploads open at 3 user level; you have 2").
    #[test]
    fn an_upload_not_yet_open_reads_for_every_figure() {
        let not_yet = |metric, have, need| Text::UploadNotYet { metric, have, need };
        for (metric, have, need, en, zh) in [
            (
                Metric::CallMinutes,
                599,
                600,
                "Uploads open at 600 call minutes; you have 599 (1 to go).",
                "通话分钟达到600即可上传，你现在599（还差1）。",
            ),
            (
                Metric::SmsSent,
                285,
                300,
                "Uploads open at 300 messages sent; you have 285 (15 to go).",
                "短信条数达到300即可上传，你现在285（还差15）。",
            ),
            (
                Metric::TenureDays,
                364,
                365,
                "Uploads open at 365 days on the network; you have 364 (1 to go).",
                "在网天数达到365即可上传，你现在364（还差1）。",
            ),
            (
                Metric::Level,
                2,
                3,
                "Uploads open at user level 3; you are at level 2 (1 to go).",
                "用户等级达到3即可上传，你现在2（还差1）。",
            ),
        ] {
            let t = not_yet(metric, have, need);
            assert_eq!(
                t.render(Lang::En),
                format!("{en} Meanwhile choose a preset: AVATARS")
            );
            assert_eq!(t.render(Lang::Zh), format!("{zh}可先选用头像库：头像库"));
        }
    }

    #[test]
    fn an_avatars_page_of_long_titles_keeps_its_gallery_link_whole() {
        let gallery = "https://avatars.gateway.example-carrier.com/gallery?page=19";
        let t = Text::Presets {
            page: 19,
            pages: 20,
            items: (100..105).map(|i| (i, longest_zh_title())).collect(),
            gallery: gallery.into(),
        };
        for (lang, link) in [
            (Lang::En, gallery.to_string()),
            (Lang::Zh, format!("{gallery}&lang=zh")),
        ] {
            let reply = t.render(lang);
            assert!(segments(&reply) <= MAX_SEGMENTS, "{reply}");
            assert!(reply.ends_with(&link), "{lang:?}: the link is cut: {reply}");
            assert!(reply.contains("100 "), "{lang:?}: no item left: {reply}");
        }
        // Chinese titles this long take items off the page, said with an ellipsis.
        assert!(t.render(Lang::Zh).contains('…'), "{}", t.render(Lang::Zh));
    }

    #[test]
    fn preset_titles_follow_the_reply_language_and_a_choice_stays_one_sms() {
        let items = vec![
            (1, PresetTitle::new("Cat", Some("猫".into()))),
            (2, PresetTitle::from("Robot")),
        ];
        let page = Text::Presets {
            page: 1,
            pages: 3,
            items,
            gallery: "http://gw.example/gallery?page=1".into(),
        };
        assert_eq!(
            page.render(Lang::Zh),
            "头像库1/3：1 猫、2 Robot。选择：头像 编号。下一页：头像库 2。预览：http://gw.example/gallery?page=1&lang=zh"
        );
        let en = page.render(Lang::En);
        assert!(en.starts_with("Avatars 1/3: 1 Cat, 2 Robot."), "{en}");
        assert!(
            en.ends_with("See them: http://gw.example/gallery?page=1"),
            "{en}"
        );
        let chosen = |title: PresetTitle| Text::AvatarChosen {
            id: 1,
            title,
            reach: Reach::Told(2),
        };
        let cat = PresetTitle::new("Cat", Some("猫".into()));
        assert_eq!(
            chosen(cat.clone()).render(Lang::Zh),
            "头像已设为1 猫。将发送给2位联系人。"
        );
        assert_eq!(
            chosen(cat).render(Lang::En),
            "Your avatar is now 1 Cat. 2 contacts will get it."
        );
        // One SMS as before, with the longest titles of either language, also when it says
        // that nobody sees it or that it was the avatar already.
        for lang in [Lang::En, Lang::Zh] {
            for reach in [Reach::Told(100_000), Reach::Nobody, Reach::Already] {
                let r = Text::AvatarChosen {
                    id: i64::from(u32::MAX),
                    title: longest_zh_title(),
                    reach,
                }
                .render_full(lang);
                assert_eq!(segments(&r), 1, "{lang:?}: {r}");
            }
        }
    }

    #[test]
    fn a_bad_group_name_reply_states_the_rule_it_broke() {
        // `GROUP 123 ADD ...`: 123 has 1 to 16 digits; what it breaks is "not all digits".
        let text = |lang| {
            Text::Invalid {
                kind: ParseErrorKind::Value(ValueError::BadGroupName { text: "123".into() }),
                bad: "123".into(),
                usage: HelpTopic::Group,
            }
            .render(lang)
        };
        let en = text(Lang::En);
        assert!(en.contains("not all digits"), "{en}");
        let zh = text(Lang::Zh);
        assert!(zh.contains("数字") && zh.contains("不能全是数字"), "{zh}");
    }

    #[test]
    fn clip_cuts_to_the_segment_budget() {
        let long = "word ".repeat(200);
        let c = clip(&long, 1);
        assert!(c.ends_with("..."));
        assert_eq!(segments(&c), 1);
        assert!(c.chars().count() >= 150, "{}", c.chars().count());
        assert_eq!(clip("short", 1), "short");
        let zh = "状".repeat(300);
        let c = clip(&zh, 3);
        assert_eq!(segments(&c), 3);
        assert!(c.ends_with('…'));
        assert_eq!(c.chars().count(), 201);
    }
}
