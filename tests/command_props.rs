//! Properties of the command parser: it never panics (any Unicode, 500-character text, 30-digit
//! numbers), `Msisdn` normalisation is idempotent, and commands generated from the grammar and
//! rendered in English or Chinese (random case, spacing, full-width digits, number forms) parse
//! back to the same `Command`.

use std::time::Duration;

use presence_gw::command::{
    parse, BuiltinGroup, Command, Expiry, GroupName, Lang, Msisdn, Privacy, StatusAssignment,
    StatusChange, StatusCode, StatusText, StopTarget, Target,
};
use proptest::prelude::*;

const CC: &str = "86";

/// A keyword in one of three cases.
fn cased(word: &str, case: u8) -> String {
    match case % 3 {
        0 => word.to_uppercase(),
        1 => word.to_lowercase(),
        _ => {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        }
    }
}

/// Digits as ASCII or full-width (folded back by NFKC).
fn digits(text: &str, full_width: bool) -> String {
    if !full_width {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0xFF10 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// A word separator: one or more spaces, tabs, newlines or ideographic spaces.
fn gap() -> impl Strategy<Value = String> {
    prop::sample::select(vec![" ", "  ", "\t", "\u{3000}", " \n "]).prop_map(str::to_owned)
}

#[derive(Debug, Clone)]
struct Rendered {
    text: String,
    command: Command,
}

/// A Chinese mobile number and one way of writing it.
fn number() -> impl Strategy<Value = (Msisdn, String)> {
    ("1[3-9][0-9]{9}", 0u8..7, any::<bool>()).prop_map(|(national, form, wide)| {
        let e164 = Msisdn::try_from(format!("+86{national}").as_str()).expect("valid");
        let typed = match form {
            0 => national.clone(),
            1 => format!("+86{national}"),
            2 => format!("0086{national}"),
            3 => format!(
                "+86 {}-{}-{}",
                &national[..3],
                &national[3..7],
                &national[7..]
            ),
            4 => format!("(+86){national}"),
            // With spaces inside: one number wherever it stands (GROUP ADD reads it as WHO).
            5 => format!("{} {} {}", &national[..3], &national[3..7], &national[7..]),
            _ => format!(
                "+86 ({}) {}-{}",
                &national[..3],
                &national[3..7],
                &national[7..]
            ),
        };
        (e164, digits(&typed, wide))
    })
}

/// A group name and how it is typed.
fn group(zh: bool) -> impl Strategy<Value = (GroupName, String)> {
    let builtin =
        (prop::sample::select(BuiltinGroup::ALL.to_vec()), 0u8..3).prop_map(move |(g, case)| {
            let typed = if zh {
                g.zh().to_owned()
            } else {
                cased(g.en(), case)
            };
            (GroupName::Builtin(g), typed)
        });
    let user = prop_oneof!["[A-Za-z][A-Za-z0-9]{0,9}", "[篮球足队组班]{1,5}"].prop_filter_map(
        "reserved or built-in",
        |typed| match GroupName::try_from(typed.as_str()) {
            Ok(g @ GroupName::User(_)) => Some((g, typed)),
            _ => None,
        },
    );
    prop_oneof![builtin, user]
}

/// A target and how it is typed.
fn target(zh: bool) -> impl Strategy<Value = (Target, String)> {
    prop_oneof![
        1 => (0u8..3).prop_map(move |c| (Target::All, if zh { "全部".into() } else { cased("ALL", c) })),
        1 => (0u8..3).prop_map(move |c| (Target::Others, if zh { "其他".into() } else { cased("OTHERS", c) })),
        4 => group(zh).prop_map(|(g, t)| (Target::Group(g), t)),
    ]
}

/// A settable status (or CLEAR) and how it is typed.
fn status(zh: bool) -> impl Strategy<Value = (StatusChange, String)> {
    let settable: Vec<StatusCode> = StatusCode::ALL
        .into_iter()
        .filter(|c| *c != StatusCode::InCall)
        .collect();
    let code = (
        prop::sample::select(settable),
        any::<prop::sample::Index>(),
        0u8..3,
    )
        .prop_map(move |(code, pick, case)| {
            let words: Vec<&str> = code
                .words()
                .iter()
                .copied()
                .filter(|w| w.is_ascii() != zh)
                .collect();
            let word = words[pick.index(words.len())];
            (
                StatusChange::Set(StatusText::Builtin(code)),
                cased(word, case),
            )
        });
    let free = prop_oneof![
        "[a-z]{1,8}( [a-z]{1,8}){0,3}(, [a-z]{1,8})?",
        "[在家里球场, 回电]{1,12}"
    ]
    .prop_filter_map("not storable free text", |text| {
        let t = presence_gw::command::FreeText::try_from(text.trim()).ok()?;
        Some((
            StatusChange::Set(StatusText::Free(t)),
            format!("\"{text}\""),
        ))
    });
    let clear = (0u8..3).prop_map(move |c| {
        (
            StatusChange::Clear,
            if zh {
                "清除".into()
            } else {
                cased("CLEAR", c)
            },
        )
    });
    prop_oneof![4 => code, 2 => free, 1 => clear]
}

/// An optional expiry and how it is typed (with its leading gap).
fn expiry(zh: bool) -> impl Strategy<Value = (Option<Expiry>, String)> {
    let dur = (1u64..=30, 0u8..3, 0u8..3, any::<bool>()).prop_map(move |(n, unit, case, wide)| {
        let (secs, en, cn) = match unit {
            0 => (n * 60, "M", "分钟"),
            1 => (n * 3600, "H", "小时"),
            _ => (n * 86_400, "D", "天"),
        };
        let num = digits(&n.to_string(), wide);
        let typed = if zh {
            format!(" {num}{cn}")
        } else {
            format!(" {} {num}{}", cased("FOR", case), cased(en, case))
        };
        (Some(Expiry::For(Duration::from_secs(secs))), typed)
    });
    let until = (0u8..24, 0u8..60, 0u8..3).prop_map(move |(hour, minute, case)| {
        let typed = if zh {
            format!(" 到{hour}:{minute:02}")
        } else {
            format!(" {} {hour}:{minute:02}", cased("UNTIL", case))
        };
        (Some(Expiry::Until { hour, minute }), typed)
    });
    // In parts, possibly with a fraction or in Chinese numerals: `FOR 1H30M`, `FOR 1.5H`,
    // `1小时30分钟`, `一小时三十分钟`, `一个半小时`.
    let parts = (0u64..24, 1u64..60, 0u8..4, 0u8..3).prop_map(move |(h, m, form, case)| {
        let (minutes, typed) = match (zh, form) {
            (false, 0) => (h * 60 + m, format!(" {} {h}H{m}M", cased("FOR", case))),
            (false, 1) => (
                h * 60 + m,
                format!(
                    " {} {h} {} {m} {}",
                    cased("FOR", case),
                    cased("HOURS", case),
                    cased("MIN", case)
                ),
            ),
            (false, _) => (h * 60 + 30, format!(" {} {h}.5H", cased("FOR", case))),
            (true, 0) => (h * 60 + m, format!(" {h}小时{m}分钟")),
            (true, 1) => (
                h * 60 + m,
                format!(" {}小时{}分钟", zh_number(h), zh_number(m)),
            ),
            (true, 2) => (h * 60 + 30, format!(" {}个半小时", zh_number(h))),
            (true, _) => (h * 60 + 30, format!(" {h}.5小时")),
        };
        (Some(Expiry::For(Duration::from_secs(minutes * 60))), typed)
    });
    prop_oneof![3 => Just((None, String::new())), 1 => dur, 1 => until, 1 => parts]
}

/// `n` (0 to 99) in Chinese numerals: `零`, `两`, `十五`, `二十`, `三十五`.
fn zh_number(n: u64) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let digit = |d: u64| DIGITS[d as usize % 10];
    match n {
        2 => "两".into(),
        0..=9 => digit(n).into(),
        10..=19 => format!("十{}", if n == 10 { "" } else { digit(n - 10) }),
        _ => format!(
            "{}十{}",
            digit(n / 10),
            if n % 10 == 0 { "" } else { digit(n % 10) }
        ),
    }
}

/// One `<target> <status> [<expiry>]`.
fn assignment(zh: bool) -> impl Strategy<Value = (StatusAssignment, String)> {
    (target(zh), gap(), status(zh), expiry(zh)).prop_map(|((t, tt), g, (s, st), (e, et))| {
        (
            StatusAssignment {
                target: t,
                status: s,
                expiry: e,
            },
            format!("{tt}{g}{st}{et}"),
        )
    })
}

/// A valid command in either language.
fn command() -> impl Strategy<Value = Rendered> {
    any::<bool>().prop_flat_map(|zh| {
        let kw = move |en: &'static str, cn: &'static str| {
            (0u8..3).prop_map(move |c| if zh { cn.to_owned() } else { cased(en, c) })
        };
        prop_oneof![
            kw("STATUS", "状态").prop_map(|k| Rendered {
                text: k,
                command: Command::StatusShow(1)
            }),
            kw("GROUPS", "分组").prop_map(|k| Rendered {
                text: k,
                command: Command::Groups(1)
            }),
            (
                kw("STATUS", "状态"),
                gap(),
                prop::collection::vec(assignment(zh), 1..4),
                prop::sample::select(vec![", ", ",", "; ", "，", " ；"])
            )
                .prop_map(|(k, g, list, sep)| {
                    let text = list
                        .iter()
                        .map(|(_, t)| t.as_str())
                        .collect::<Vec<_>>()
                        .join(sep);
                    Rendered {
                        text: format!("{k}{g}{text}"),
                        command: Command::StatusSet(list.into_iter().map(|(a, _)| a).collect()),
                    }
                }),
            (
                kw("GROUP", "分组"),
                gap(),
                group(zh),
                gap(),
                kw("ADD", "加"),
                gap(),
                prop::collection::vec(number(), 1..5)
            )
                .prop_map(|(k, g1, (grp, gt), g2, add, g3, nums)| {
                    let mut members: Vec<Msisdn> = Vec::new();
                    for (m, _) in &nums {
                        if !members.contains(m) {
                            members.push(m.clone());
                        }
                    }
                    let typed = nums
                        .iter()
                        .map(|(_, t)| t.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    Rendered {
                        text: format!("{k}{g1}{gt}{g2}{add}{g3}{typed}"),
                        command: Command::GroupAdd {
                            group: grp,
                            members,
                        },
                    }
                }),
            (
                kw("GROUP", "分组"),
                gap(),
                group(zh),
                gap(),
                kw("DEL", "删"),
                gap(),
                number()
            )
                .prop_map(|(k, g1, (grp, gt), g2, del, g3, (m, t))| Rendered {
                    text: format!("{k}{g1}{gt}{g2}{del}{g3}{t}"),
                    command: Command::GroupDel {
                        group: grp,
                        members: vec![m]
                    },
                }),
            (
                kw("GROUP", "分组"),
                gap(),
                group(zh),
                gap(),
                kw("RENAME", "改名"),
                gap(),
                group(zh)
            )
                .prop_map(|(k, g1, (from, ft), g2, r, g3, (to, tt))| Rendered {
                    text: format!("{k}{g1}{ft}{g2}{r}{g3}{tt}"),
                    command: Command::GroupRename { from, to },
                }),
            (
                kw("GROUP", "分组"),
                gap(),
                group(zh),
                gap(),
                kw("DROP", "解散")
            )
                .prop_map(|(k, g1, (grp, gt), g2, d)| Rendered {
                    text: format!("{k}{g1}{gt}{g2}{d}"),
                    command: Command::GroupDrop(grp),
                }),
            (kw("GROUP", "分组"), gap(), group(zh), gap(), 1u32..1000).prop_map(
                |(k, g1, (grp, gt), g2, page)| Rendered {
                    text: format!("{k}{g1}{gt}{g2}{page}"),
                    command: Command::GroupShow { group: grp, page },
                }
            ),
            (
                kw("WHO", "查"),
                prop::sample::select(vec!["", " ", "  "]),
                number()
            )
                .prop_map(|(k, g, (m, t))| Rendered {
                    text: format!("{k}{g}{t}"),
                    command: Command::Who(m)
                }),
            (kw("STOP", "退订"), gap(), number()).prop_map(|(k, g, (m, t))| Rendered {
                text: format!("{k}{g}{t}"),
                command: Command::Stop(StopTarget::Number(m))
            }),
            (0u8..3, number()).prop_map(|(c, (m, t))| Rendered {
                text: format!("{}{t}", cased("TD", c)),
                command: Command::Stop(StopTarget::Number(m)),
            }),
            (kw("START", "订阅"), gap(), kw("ALL", "全部")).prop_map(|(k, g, a)| Rendered {
                text: format!("{k}{g}{a}"),
                command: Command::Start(StopTarget::All)
            }),
            (kw("AVATAR", "头像"), gap(), 1u32..100_000).prop_map(|(k, g, id)| Rendered {
                text: format!("{k}{g}{id}"),
                command: Command::AvatarSet(id)
            }),
            (kw("AVATARS", "头像库"), gap(), 1u32..50).prop_map(|(k, g, page)| Rendered {
                text: format!("{k}{g}{page}"),
                command: Command::Avatars { page }
            }),
            (
                kw("PRIVACY", "隐私"),
                gap(),
                prop::sample::select(vec![
                    (Privacy::Everyone, "EVERYONE", "所有人"),
                    (Privacy::Contacts, "CONTACTS", "联系人"),
                    (Privacy::Nobody, "NOBODY", "无人"),
                ]),
                0u8..3
            )
                .prop_map(move |(k, g, (p, en, cn), c)| Rendered {
                    text: format!("{k}{g}{}", if zh { cn.to_owned() } else { cased(en, c) }),
                    command: Command::Privacy(p),
                }),
            (
                kw("LANG", "语言"),
                gap(),
                prop::sample::select(vec![(Lang::En, "EN", "英文"), (Lang::Zh, "ZH", "中文")]),
                0u8..3
            )
                .prop_map(move |(k, g, (l, en, cn), c)| Rendered {
                    text: format!("{k}{g}{}", if zh { cn.to_owned() } else { cased(en, c) }),
                    command: Command::Lang(l),
                }),
        ]
    })
}

/// Text shaped like commands: keywords, numbers, CJK, separators, quotes, in any order.
fn commandish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "STATUS",
            "状态",
            "GROUP",
            "分组",
            "ADD",
            "加",
            "TD",
            "查",
            "WHO",
            "FOR",
            "UNTIL",
            "到",
            "小时",
            "分钟",
            "个半",
            "点",
            "半",
            "两",
            "十",
            "一刻钟",
            "天",
            ".",
            "。",
            "!",
            "1.5H",
            "1H30M",
            "5P",
            "ALL",
            "全部",
            "CLEAR",
            "\"",
            "“",
            ",",
            "，",
            ";",
            ":",
            "+86",
            "(",
            ")",
            "-",
            "AVATAR",
            "头像库",
            "PRIVACY",
            "LANG",
            "?",
            "　",
            "\n",
            "😀",
            "\u{0}",
            "\u{200b}",
        ])
        .prop_map(str::to_owned),
        "[0-9]{1,30}",
        "[a-zA-Z]{1,6}",
        "\\PC{1,4}",
        Just(" ".to_owned()),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_string(text in any::<String>()) {
        let _ = parse(&text, CC);
    }

    #[test]
    fn never_panics_on_long_unicode(text in "\\PC{0,500}") {
        let _ = parse(&text, CC);
        let _ = parse(&format!("STATUS FAMILY {text}"), CC);
        let _ = parse(&format!("GROUP FAMILY ADD {text}"), CC);
    }

    #[test]
    fn never_panics_on_commandish_text(text in commandish(), cc in "[+0-9a-z]{0,5}") {
        if let Err(e) = parse(&text, &cc) {
            prop_assert!(e.bad.chars().count() <= presence_gw::command::MAX_BAD_CHARS);
        }
    }

    #[test]
    fn thirty_digit_numbers_are_rejected(n in "[1-9][0-9]{29}", kw in prop::sample::select(vec!["WHO ", "TD", "查", "STOP ", "GROUP FAMILY ADD "])) {
        let err = parse(&format!("{kw}{n}"), CC);
        prop_assert!(err.is_err());
    }

    #[test]
    fn msisdn_normalisation_is_idempotent(text in "[+(]{0,2}[0-9 ()\\-.]{0,24}", cc in "[1-9][0-9]{0,2}", other_cc in "[1-9][0-9]{0,2}") {
        if let Ok(once) = Msisdn::parse(&text, &cc) {
            prop_assert_eq!(Msisdn::parse(once.as_str(), &cc), Ok(once.clone()));
            prop_assert_eq!(Msisdn::parse(once.as_str(), &other_cc), Ok(once.clone()));
            prop_assert_eq!(Msisdn::try_from(once.as_str()), Ok(once.clone()));
            prop_assert!(once.as_str().starts_with('+'));
            prop_assert!((5..=15).contains(&once.digits().len()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_commands_parse_back(r in command()) {
        match parse(&r.text, CC) {
            Ok(parsed) => prop_assert_eq!(parsed.command, r.command, "text {:?}", r.text),
            Err(e) => prop_assert!(false, "{:?} failed: {}", r.text, e),
        }
    }
}
