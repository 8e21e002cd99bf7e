//! Service tests without a runtime: a real SQLite database (in memory, migrated), the real
//! parser, and the outbox rows the service queues. End-to-end tests over SMPP are in
//! `tests/service.rs`.

use std::time::Duration;

use rusqlite::Connection;

use super::*;
use crate::store::schema;
use replies::segments;

const OWNER: &str = "+8613800138000";
const MUM: &str = "+8613900139000";
const DAD: &str = "+8613700137000";
const BOSS: &str = "+8613600136000";
const STRANGER: &str = "+8613500135000";
// 2026-11-22 14:30 in UTC+8.
const T0: i64 = 1_795_329_000_000;

struct Bench {
    conn: Connection,
    svc: Service,
    now: i64,
}

impl Bench {
    fn new() -> Bench {
        Bench::with(ServiceConfig::default())
    }

    fn with(cfg: ServiceConfig) -> Bench {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        schema::migrate(&mut conn).unwrap();
        Bench {
            conn,
            svc: Service::new(cfg),
            now: T0,
        }
    }

    /// `from` texts `text`; returns the reply.
    fn send(&mut self, from: &str, text: &str) -> String {
        self.outcome(from, text).reply.unwrap()
    }

    fn outcome(&mut self, from: &str, text: &str) -> Outcome {
        let tx = self.conn.transaction().unwrap();
        let o = self.svc.handle_mo(&tx, self.now, from, text).unwrap();
        tx.commit().unwrap();
        o
    }

    fn event(&mut self, who: &str, e: NetworkEvent) -> Outcome {
        let tx = self.conn.transaction().unwrap();
        let m = Msisdn::parse(who, "86").unwrap();
        let o = self.svc.network_event(&tx, self.now, &m, e).unwrap();
        tx.commit().unwrap();
        o
    }

    fn expire(&mut self) -> usize {
        let tx = self.conn.transaction().unwrap();
        let n = self.svc.expire_due(&tx, self.now, 100).unwrap();
        tx.commit().unwrap();
        n
    }

    /// Status updates queued for `to` (not replies), oldest first.
    fn updates(&self, to: &str) -> Vec<String> {
        let mut s = self
            .conn
            .prepare(
                "SELECT body FROM outbox WHERE destination = ?1 AND priority = 0
                 AND state = 'queued' ORDER BY id",
            )
            .unwrap();
        s.query_map([to], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Queued updates to `to`, as (body, due time).
    fn queued_updates(&self, to: &str) -> Vec<(String, i64)> {
        self.conn
            .prepare(
                "SELECT body, next_attempt_at FROM outbox WHERE destination = ?1
                 AND state = 'queued' AND priority = 0 ORDER BY id",
            )
            .unwrap()
            .query_map([to], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Every queued update, as (to, body).
    fn all_updates(&self) -> Vec<(String, String)> {
        let mut s = self
            .conn
            .prepare(
                "SELECT destination, body FROM outbox WHERE priority = 0 AND state = 'queued'
                 ORDER BY destination",
            )
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Pretend every queued update was sent (so the next change is a new message).
    fn flush(&self) {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'submitted' WHERE state = 'queued'",
                [],
            )
            .unwrap();
    }

    /// A fresh bench whose owner has the family of two seeing FREE, that update sent.
    fn family_seeing_free() -> Bench {
        let mut b = Bench::new();
        b.family_of_two();
        b.send(OWNER, "STATUS FAMILY FREE");
        b.flush();
        b
    }

    fn family_of_two(&mut self) {
        let r = self.send(OWNER, "GROUP FAMILY ADD 13900139000 13700137000");
        assert!(r.starts_with("FAMILY now has 2 members."), "{r}");
        self.send(OWNER, "GROUP COLLEAGUES ADD 13600136000");
        self.send(OWNER, "NAME Zhang San");
    }
}

#[test]
fn a_change_tells_exactly_the_members_of_the_changed_group() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY FREE");
    assert_eq!(r, "Set: FAMILY sees FREE. 2 contacts will be told.");
    for m in [MUM, DAD] {
        assert_eq!(
            b.updates(m),
            vec![
                "Zhang San (+8613800138000): FREE. Reply STOP 8613800138000 to stop these updates."
            ]
        );
    }
    assert!(b.updates(BOSS).is_empty(), "colleagues did not change");
    assert!(b.updates(STRANGER).is_empty());
}

#[test]
fn the_commands_md_example_sets_two_groups_with_one_reply() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY FREE, COLLEAGUES MEETING UNTIL 15:00");
    assert_eq!(
        r,
        "Set: FAMILY sees FREE; COLLEAGUES sees MEETING until 15:00. 3 contacts will be told."
    );
    assert!(b.updates(BOSS)[0].contains("MEETING until 15:00"));
    // WHO from a colleague, a family member and a stranger.
    assert_eq!(
        b.send(BOSS, "WHO 13800138000"),
        "Zhang San (+8613800138000): MEETING until 15:00."
    );
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): FREE."
    );
    assert_eq!(
        b.send(STRANGER, "WHO 13800138000"),
        "Zhang San (+8613800138000): STANDBY."
    );
}

#[test]
fn all_in_one_command_with_groups_is_everyone_else_whichever_comes_first() {
    // `FAMILY FREE, ALL BUSY` reads "family free, everyone else busy", as the other order does.
    for text in [
        "STATUS FAMILY FREE, ALL BUSY",
        "STATUS ALL BUSY, FAMILY FREE",
    ] {
        let mut b = Bench::new();
        b.family_of_two();
        let r = b.send(OWNER, text);
        assert_eq!(
            r, "Set: ALL sees BUSY; FAMILY sees FREE. 3 contacts will be told.",
            "{text}"
        );
        let mum = b.send(MUM, "WHO 13800138000");
        assert_eq!(mum, "Zhang San (+8613800138000): FREE.", "{text}");
        let boss = b.send(BOSS, "WHO 13800138000");
        assert_eq!(boss, "Zhang San (+8613800138000): BUSY.", "{text}");
        let stranger = b.send(STRANGER, "WHO 13800138000");
        assert_eq!(stranger, "Zhang San (+8613800138000): BUSY.", "{text}");
        assert!(b.updates(MUM).last().unwrap().contains("FREE"), "{text}");
        assert!(b.updates(BOSS).last().unwrap().contains("BUSY"), "{text}");
    }
}

#[test]
fn a_target_named_twice_is_replied_with_what_it_ends_up_seeing() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY MEETING UNTIL 15:00, 家人 CLEAR");
    // They saw STANDBY before and see it after: nobody is told.
    assert_eq!(r, "Set: FAMILY sees STANDBY. 0 contacts will be told.");
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): STANDBY."
    );
    // A timed last status reverts to the one before it in the same command.
    let r = b.send(OWNER, "STATUS FAMILY BUSY, FAMILY FREE FOR 1H");
    assert_eq!(
        r,
        "Set: FAMILY sees FREE until 15:30. 2 contacts will be told."
    );
    b.now += 3_601_000;
    assert!(b.expire() > 0);
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): BUSY."
    );
}

#[test]
fn a_user_group_glued_to_its_status_is_read_apart_when_the_subscriber_has_it() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "状态 老同学忙");
    assert!(r.starts_with("“老同学忙”要看到什么状态？"), "{r}");
    b.send(OWNER, "分组 老同学 加 13900139000");
    assert_eq!(
        b.send(OWNER, "状态 老同学忙"),
        "已设置：老同学看到“忙碌”。将通知1位联系人。"
    );
    assert!(b.updates(MUM).last().unwrap().contains("忙碌"));
    // Free text, with no space after the keyword either.
    assert_eq!(
        b.send(OWNER, "状态老同学在开会"),
        "已设置：老同学看到“在开会”。将通知1位联系人。"
    );
    // A second glued group.
    b.send(OWNER, "分组 新同事 加 13600136000");
    assert_eq!(
        b.send(OWNER, "状态 老同学忙，新同事开车"),
        "已设置：老同学看到“忙碌”；新同事看到“开车”。将通知2位联系人。"
    );
    assert_eq!(b.send(BOSS, "WHO 13800138000"), "+8613800138000: DRIVING.");
    // After free text and a comma: the next assignment, not more of the text (it was refused
    // as a comma in text that needs quotes).
    assert_eq!(
        b.send(OWNER, "状态老同学 在吃饭，新同事忙"),
        "已设置：老同学看到“在吃饭”；新同事看到“忙碌”。将通知2位联系人。"
    );
    // With no such group, the comma is still one in the text.
    let r = b.send(OWNER, "状态老同学 在吃饭，老朋友忙");
    assert!(r.starts_with("含逗号或分号的状态须加引号"), "{r}");
    // A group named as the whole word is that group, its status missing: asked.
    b.send(OWNER, "分组 老同学忙 加 13500135000");
    let r = b.send(OWNER, "状态 老同学忙");
    assert!(r.starts_with("“老同学忙”要看到什么状态？"), "{r}");
    // English: only before a built-in status.
    b.send(OWNER, "GROUP WORK ADD 13700137000");
    assert_eq!(
        b.send(OWNER, "STATUS WORKBUSY"),
        "Set: WORK sees BUSY. 1 contact will be told."
    );
}

/// From the exploratory tester: a group name typed with a space got "not a group name
/// (1-16 letters or digits)", which does not say the space is the matter; and a DEL of numbers
/// none of which were in the group said "Removed 0 from GYM".
#[test]
fn a_group_name_with_a_space_and_a_del_that_removes_nobody_say_what_happened() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "GROUP Golf Club ADD 13900139000");
    assert!(
        r.starts_with(
            "\"Golf Club\" is not a group name: a group name has no spaces (GolfClub would do)."
        ),
        "{r}"
    );
    let r = b.send(OWNER, "分组 高尔夫 球友 加 13900139000");
    assert!(
        r.starts_with("“高尔夫 球友”不能作组名：组名不能有空格（可用高尔夫球友）。"),
        "{r}"
    );
    // After a built-in group's name, more words are no name.
    let r = b.send(OWNER, "GROUP FAMILY hello ADD 13900139000");
    assert!(
        r.starts_with("\"hello ADD 13900139000\" is not an option here."),
        "{r}"
    );
    b.send(OWNER, "GROUP GYM ADD 13700137000");
    assert_eq!(
        b.send(OWNER, "GROUP GYM DEL 13900139000"),
        "Nobody removed: that number is not in GYM; it has 1 member."
    );
    assert_eq!(
        b.send(OWNER, "分组 GYM 删 13900139000 13600136000"),
        "未删除：这些号码不在GYM中，GYM现有1人。"
    );
    assert!(b
        .send(OWNER, "GROUP GYM DEL 13700137000 13900139000")
        .starts_with("Removed 1 from GYM; it has 0 members. 1 was not in it."));
}

#[test]
fn privacy_alone_says_who_sees_the_avatar_now() {
    let mut b = Bench::new();
    assert_eq!(
        b.send(OWNER, "PRIVACY"),
        "Your avatar can be seen by your contacts. Change: PRIVACY EVERYONE / PRIVACY CONTACTS / PRIVACY NOBODY"
    );
    b.send(OWNER, "PRIVACY NOBODY");
    assert_eq!(
        b.send(OWNER, "隐私"),
        "你的头像可见范围：无人。修改：隐私 所有人／隐私 联系人／隐私 无人"
    );
}

#[test]
fn chinese_commands_get_chinese_replies_and_updates_use_the_recipients_language() {
    let mut b = Bench::new();
    b.send(MUM, "LANG ZH");
    b.send(OWNER, "分组 家人 加 13900139000 13700137000");
    let r = b.send(OWNER, "状态 家人 开车 2小时");
    assert_eq!(r, "已设置：家人看到“开车”至16:30。将通知2位联系人。");
    // Mum chose Chinese; Dad is not a subscriber: he gets the owner's language (Chinese now).
    assert!(b.updates(MUM)[0].starts_with("+8613800138000：“开车”至16:30。"));
    assert!(b.updates(DAD)[0].contains("开车"));
    // An English command switches the owner back.
    assert!(b.send(OWNER, "HELP").starts_with("Commands:"));
    // Mum chose Chinese: English keywords (easier to type) keep her replies and updates
    // Chinese, until LANG EN.
    let who = b.send(MUM, "WHO 13800138000");
    assert!(who.contains("开车"), "{who}");
    b.send(OWNER, "STATUS FAMILY FREE");
    assert!(
        b.updates(MUM).last().unwrap().contains("空闲"),
        "{:?}",
        b.updates(MUM)
    );
    assert!(b
        .send(MUM, "LANG EN")
        .starts_with("Replies will be in English"));
    assert!(b.send(MUM, "HELP").starts_with("Commands:"));
}

#[test]
fn a_member_of_several_groups_sees_the_most_recently_set_one() {
    let mut b = Bench::new();
    b.send(OWNER, "GROUP FAMILY ADD 13900139000");
    b.send(OWNER, "GROUP FRIENDS ADD 13900139000");
    b.send(OWNER, "STATUS FAMILY FREE");
    b.flush();
    b.send(OWNER, "STATUS FRIENDS BUSY");
    assert_eq!(b.updates(MUM).len(), 1);
    assert!(b.updates(MUM)[0].contains("BUSY"));
    assert!(b.send(MUM, "WHO 13800138000").ends_with("BUSY."));
    b.flush();
    // Setting FAMILY to the same status again is a change of precedence: Mum now sees FREE.
    b.send(OWNER, "STATUS FAMILY FREE");
    assert!(b.updates(MUM)[0].contains("FREE"));
    assert!(b.send(MUM, "WHO 13800138000").ends_with("FREE."));
}

#[test]
fn unchanged_statuses_notify_nobody() {
    let mut b = Bench::family_seeing_free();
    let r = b.send(OWNER, "STATUS COLLEAGUES FREE");
    assert!(r.ends_with("1 contact will be told."), "{r}");
    assert!(b.updates(MUM).is_empty());
    b.flush();
    // OTHERS has no members to tell: the reply says who sees it.
    let r = b.send(OWNER, "STATUS OTHERS BUSY");
    assert!(r.ends_with("see it when they ask WHO."), "{r}");
    assert!(b.all_updates().is_empty());
}

#[test]
fn rapid_changes_leave_only_the_latest_update_queued() {
    let mut b = Bench::new();
    b.family_of_two();
    for s in ["FREE", "BUSY", "DRIVING", "MEETING"] {
        b.send(OWNER, &format!("STATUS FAMILY {s}"));
    }
    let mum = b.updates(MUM);
    assert_eq!(mum.len(), 1, "{mum:?}");
    assert!(mum[0].contains("MEETING"));
}

#[test]
fn stop_and_start_are_honoured_by_every_fan_out() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(MUM, "TD13800138000");
    assert_eq!(
        r,
        "You will get no more updates about +8613800138000. START 8613800138000 to undo."
    );
    b.send(DAD, "STOP ALL");
    let r = b.send(OWNER, "STATUS FAMILY BUSY");
    assert!(r.ends_with("0 contacts will be told."), "{r}");
    assert!(b.all_updates().is_empty());
    // START for this owner while STOP ALL is on: this owner only.
    b.send(DAD, "START 13800138000");
    b.send(MUM, "START 13800138000");
    b.send(OWNER, "STATUS FAMILY FREE");
    assert_eq!(b.updates(MUM).len(), 1);
    assert_eq!(b.updates(DAD).len(), 1);
    // Chinese STOP ALL.
    b.flush();
    b.send(MUM, "退订 全部");
    b.send(OWNER, "STATUS FAMILY MEETING");
    assert!(b.updates(MUM).is_empty());
    b.send(MUM, "订阅 全部");
    b.send(OWNER, "STATUS FAMILY DND");
    assert_eq!(b.updates(MUM).len(), 1);
}

#[test]
fn a_number_written_with_spaces_brackets_or_dashes_is_one_member() {
    let mut b = Bench::new();
    // The tester's report: this made two members, +138000 and +86138.
    let r = b.send(STRANGER, "group a1 add +86 (138) 0013-8000");
    assert!(r.starts_with("A1 now has 1 member."), "{r}");
    let r = b.send(STRANGER, "group a1");
    assert!(r.contains("+8613800138000"), "{r}");
    assert!(!r.contains("+138000") && !r.contains("+86138,"), "{r}");
    // Every form WHO reads, GROUP ADD reads as the same one member; and DEL as ADD does.
    for text in [
        "group a1 add (+86) 138 0013 8000",
        "group a1 add +86 138 0013 8000",
        "group a1 add 138 0013 8000",
        "group a1 add 00 86 13800138000",
        "group a1 add +86 138-0013-8000",
    ] {
        let r = b.send(STRANGER, text);
        assert!(r.starts_with("A1 now has 1 member."), "{text}: {r}");
    }
    let r = b.send(STRANGER, "group a1 add +1 415 555 0100");
    assert!(r.starts_with("A1 now has 2 members."), "{r}");
    let r = b.send(STRANGER, "group a1 del +1 (415) 555-0100");
    assert!(r.starts_with("Removed 1 from A1; it has 1 member."), "{r}");
    // Two numbers written with spaces inside and between them.
    let r = b.send(STRANGER, "group a2 add 139 0013 9000 137 0013 7000");
    assert!(r.starts_with("A2 now has 2 members."), "{r}");
}

#[test]
fn a_fragment_that_is_no_number_is_refused_by_name_and_adds_nobody() {
    let mut b = Bench::new();
    let r = b.send(STRANGER, "group a5 add 0013-8000");
    assert!(
        r.starts_with("\"0013-8000\" is not a phone number: too few digits."),
        "{r}"
    );
    let r = b.send(STRANGER, "group a5");
    assert!(r.starts_with("You have no group A5."), "{r}");
    // A slip among good numbers: the slip is named, nothing is added.
    let r = b.send(STRANGER, "group a5 add 13900139000 1370013700");
    assert!(
        r.starts_with("\"1370013700\" looks mistyped: mobile numbers have 11 digits."),
        "{r}"
    );
    let r = b.send(STRANGER, "分组 a5 加 0013-8000");
    assert!(r.starts_with("“0013-8000”不是有效号码：位数太少。"), "{r}");
    // One number or two: asked.
    let r = b.send(STRANGER, "group a5 add 23456 78901");
    assert!(
        r.starts_with(
            "Is \"23456 78901\" one phone number or several? Put a comma between numbers."
        ),
        "{r}"
    );
    let r = b.send(STRANGER, "分组 a5 加 23456 78901");
    assert!(r.starts_with("“23456 78901”是一个号码还是几个？"), "{r}");
    let r = b.send(STRANGER, "group a5");
    assert!(r.starts_with("You have no group A5."), "{r}");
}

/// A service number longer than 8 digits (a configured `1065712345678`), or one written after
/// the country code (`+86 10086`), got "looks mistyped" or was looked up as a subscriber's:
/// WHO, STOP, GROUP ADD and the USSD WHO prompt now give them the answer `WHO 10086` gets.
#[test]
fn the_services_own_long_number_and_one_after_the_country_code_are_service_numbers() {
    let mut b = Bench::with(ServiceConfig {
        service_number: "1065712345678".into(),
        service_aliases: vec!["+861065799999999".into()],
        ..ServiceConfig::default()
    });
    let service = |n: &str| {
        format!("\"{n}\" is not a subscriber's phone number (a service number?). WHO takes a mobile number.")
    };
    for (text, quoted) in [
        ("WHO 1065712345678", "1065712345678"),
        ("WHO 10657 9999 9999", "10657 9999 9999"),
        ("WHO +86 10086", "+86 10086"),
        ("WHO 10086", "10086"),
    ] {
        let r = b.send(STRANGER, text);
        assert!(r.starts_with(&service(quoted)), "{text}: {r}");
    }
    // Read as a number (typed with its country code), it is quoted as read.
    for text in [
        "WHO +861065712345678",
        "who +86 1065712345678",
        "WHO 0086-1065712345678",
    ] {
        let r = b.send(STRANGER, text);
        assert!(r.starts_with(&service("+861065712345678")), "{text}: {r}");
    }
    let r = b.send(STRANGER, "查 1065712345678");
    assert!(
        r.starts_with("“1065712345678”不是用户的手机号码（可能是服务号码）。查询请发手机号码。"),
        "{r}"
    );
    let r = b.send(OWNER, "STOP +86 1065712345678");
    assert!(
        r.starts_with(
            "\"+861065712345678\" is not a subscriber's phone number (a service number?). \
             STOP and START take a mobile number."
        ),
        "{r}"
    );
    let r = b.send(OWNER, "GROUP FAMILY ADD 13900139000 1065712345678");
    assert!(
        r.starts_with(
            "\"1065712345678\" is not a subscriber's phone number (a service number?). \
             Group members are mobile numbers."
        ),
        "{r}"
    );
    assert!(b.send(OWNER, "GROUPS").contains("FAMILY(0)"));
    // Another long number is still a slip, and a subscriber's number still answers.
    let r = b.send(STRANGER, "WHO 1065712345679");
    assert!(r.contains("looks mistyped"), "{r}");
    b.send(MUM, "NAME Mum");
    assert!(b.send(STRANGER, "WHO 13900139000").contains("Mum"));
    // The USSD WHO prompt says the same of each, and asks again.
    for typed in ["1065712345678", "+86 1065712345678", "+86 10086"] {
        ussd(&mut b, 1, "*123*4#");
        assert_eq!(
            ussd(&mut b, 18, typed),
            format!(
                "\"{typed}\" is not a subscriber's phone number (a service number?).\n\
                 Enter the phone number:\n0 Back"
            ),
            "{typed}"
        );
    }
}

#[test]
fn short_or_mistyped_numbers_are_refused_with_the_reason() {
    let mut b = Bench::new();
    let r = b.send(STRANGER, "who 1380013800");
    assert!(
        r.starts_with("\"1380013800\" looks mistyped: mobile numbers have 11 digits."),
        "{r}"
    );
    let r = b.send(STRANGER, "查 1380013800");
    assert!(
        r.starts_with("“1380013800”似乎输错了：手机号码是11位。"),
        "{r}"
    );
    let r = b.send(STRANGER, "who 1234");
    assert!(
        r.starts_with("\"1234\" is not a phone number: too few digits."),
        "{r}"
    );
    let r = b.send(STRANGER, "stop 1234");
    assert!(r.starts_with("\"1234\" is not a phone number"), "{r}");
    // A carrier's service number is no slip: WHO says it is no subscriber's and what it takes.
    let r = b.send(STRANGER, "who 10086");
    assert!(
        r.starts_with(
            "\"10086\" is not a subscriber's phone number (a service number?). \
             WHO takes a mobile number."
        ),
        "{r}"
    );
    assert!(!r.contains("mistyped"), "{r}");
    let r = b.send(STRANGER, "查 12306");
    assert!(
        r.starts_with("“12306”不是用户的手机号码（可能是服务号码）。查询请发手机号码。"),
        "{r}"
    );
    // So is every other command that takes a number, naming what it takes.
    let r = b.send(STRANGER, "STOP 10086");
    assert!(
        r.starts_with(
            "\"10086\" is not a subscriber's phone number (a service number?). \
             STOP and START take a mobile number."
        ),
        "{r}"
    );
    let r = b.send(STRANGER, "GROUP FAMILY ADD 13900139000, 10086");
    assert!(
        r.starts_with(
            "\"10086\" is not a subscriber's phone number (a service number?). \
             Group members are mobile numbers."
        ),
        "{r}"
    );
    let r = b.send(STRANGER, "退订 12306");
    assert!(
        r.starts_with("“12306”不是用户的手机号码（可能是服务号码）。退订和订阅请发手机号码。"),
        "{r}"
    );
    let r = b.send(STRANGER, "分组 家人 删 10086");
    assert!(
        r.starts_with("“10086”不是用户的手机号码（可能是服务号码）。分组成员请用手机号码。"),
        "{r}"
    );
    // A mobile cut short is still a slip.
    let r = b.send(STRANGER, "who 13800");
    assert!(
        r.starts_with("\"13800\" looks mistyped: mobile numbers have 11 digits."),
        "{r}"
    );
    // Landlines and numbers of other countries are read as before.
    let r = b.send(STRANGER, "who 010 6552 9988");
    assert_eq!(r, "+861065529988 does not use this service.");
    let r = b.send(STRANGER, "who +44 7911 123456");
    assert_eq!(r, "+447911123456 does not use this service.");
}

#[test]
fn half_a_day_after_a_built_in_status_is_refused_with_the_forms_and_sets_nothing() {
    let mut b = Bench::new();
    b.send(OWNER, "分组 家人 加 13900139000");
    let r = b.send(OWNER, "状态 同事 开会 半天");
    assert_eq!(
        r,
        "“半天”说不准是多久。请写明时长或结束时间，如：4小时、到12:00；文字请加引号。"
    );
    assert_eq!(segments(&r), 1, "{r}");
    let r = b.send(OWNER, "状态 家人 忙半天");
    assert!(r.starts_with("“半天”说不准是多久。"), "{r}");
    assert!(b.updates(MUM).is_empty());
    // The forms it shows are taken.
    let r = b.send(OWNER, "状态 家人 忙 4小时");
    assert!(r.starts_with("已设置：家人看到“忙碌”"), "{r}");
    let r = b.send(OWNER, "状态 家人 开会 到12:00");
    assert!(r.starts_with("已设置：家人看到“开会”"), "{r}");
}

#[test]
fn stop_or_start_of_ones_own_number_says_that_is_you() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "stop 13800138000");
    assert_eq!(
        r,
        "That is you: you get no updates about yourself. STOP ALL stops those about anyone."
    );
    let r = b.send(OWNER, "退订 +86 138-0013-8000");
    assert!(r.starts_with("这是你自己"), "{r}");
    let r = b.send(OWNER, "START 13800138000");
    assert!(r.starts_with("That is you"), "{r}");
    let rows: i64 = b
        .conn
        .query_row("SELECT count(*) FROM optout", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "nothing recorded");
    // Another number is stopped as ever.
    let r = b.send(OWNER, "stop 13900139000");
    assert!(
        r.starts_with("You will get no more updates about +8613900139000"),
        "{r}"
    );
}

#[test]
fn stop_all_with_more_after_it_says_nothing_goes_after_it() {
    let mut b = Bench::new();
    let r = b.send(STRANGER, "STOP ALL please");
    assert_eq!(
        r,
        "STOP ALL takes nothing after it (not \"please\"). Send just: STOP ALL"
    );
    let r = b.send(STRANGER, "start all now");
    assert_eq!(
        r,
        "START ALL takes nothing after it (not \"now\"). Send just: START ALL"
    );
    let r = b.send(STRANGER, "退订 全部 谢谢");
    assert_eq!(
        r,
        "“退订 全部”后面不用加内容（“谢谢”）。请只发送：退订 全部"
    );
    // Nothing was stopped.
    let stop_all: bool = b
        .conn
        .query_row(
            "SELECT stop_all FROM subscriber WHERE msisdn = ?1",
            [STRANGER],
            |r| r.get(0),
        )
        .unwrap_or(false);
    assert!(!stop_all);
    assert_eq!(
        b.send(STRANGER, "STOP ALL"),
        "You will get no more status updates from anyone. START ALL to undo."
    );
}

#[test]
fn an_expired_status_reverts_and_tells_who_saw_it() {
    let mut b = Bench::family_seeing_free();
    b.send(OWNER, "STATUS FAMILY MEETING FOR 30M");
    b.flush();
    b.now += 29 * 60_000;
    assert_eq!(b.expire(), 0);
    b.now += 60_000;
    assert_eq!(b.expire(), 1);
    assert!(
        b.updates(MUM)[0].contains(": FREE."),
        "{:?}",
        b.updates(MUM)
    );
    assert!(b.updates(BOSS).is_empty());
    assert!(b.send(DAD, "WHO 13800138000").ends_with("FREE."));
    // Nothing left to expire.
    b.flush();
    b.now += 3_600_000;
    assert_eq!(b.expire(), 0);
    assert!(b.all_updates().is_empty());
}

#[test]
fn a_timed_clear_is_a_timed_standby_that_reverts() {
    let mut b = Bench::family_seeing_free();
    let r = b.send(OWNER, "STATUS FAMILY CLEAR FOR 2H");
    assert!(r.contains("FAMILY sees STANDBY until 16:30"), "{r}");
    assert!(b.send(DAD, "WHO 13800138000").contains("STANDBY"));
    b.flush();
    b.now += 2 * 3_600_000;
    assert_eq!(b.expire(), 1, "the reply's \"until\" holds");
    assert!(b.send(DAD, "WHO 13800138000").ends_with("FREE."));
    // A CLEAR without an expiry is for good, and forgets what was before.
    b.send(OWNER, "STATUS FAMILY BUSY FOR 1H");
    b.send(OWNER, "STATUS FAMILY CLEAR");
    b.flush();
    b.now += 3 * 3_600_000;
    assert_eq!(b.expire(), 0);
    assert!(b.send(DAD, "WHO 13800138000").contains("STANDBY"));
}

#[test]
fn stacked_timed_statuses_step_back_one_at_a_time() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE");
    b.send(OWNER, "STATUS FAMILY BUSY FOR 1H");
    b.send(OWNER, "STATUS FAMILY DRIVING FOR 30M");
    b.flush();
    // At 30 minutes DRIVING ends: back to BUSY, which still has half an hour to run.
    b.now += 30 * 60_000;
    assert_eq!(b.expire(), 1);
    assert!(b.updates(MUM)[0].contains(": BUSY"), "{:?}", b.updates(MUM));
    assert!(b.send(DAD, "WHO 13800138000").contains("BUSY"));
    // At an hour BUSY ends too: back to FREE, not to STANDBY.
    b.flush();
    b.now += 30 * 60_000;
    assert_eq!(b.expire(), 1);
    assert!(
        b.updates(MUM)[0].contains(": FREE."),
        "{:?}",
        b.updates(MUM)
    );
    assert!(b.send(DAD, "WHO 13800138000").ends_with("FREE."));
    // A timed status that outlasts the one under it reverts past it.
    b.send(OWNER, "STATUS FAMILY BUSY FOR 1H");
    b.send(OWNER, "STATUS FAMILY MEETING FOR 2H");
    b.flush();
    b.now += 2 * 3_600_000;
    assert_eq!(b.expire(), 1);
    assert!(
        b.updates(MUM)[0].contains(": FREE."),
        "{:?}",
        b.updates(MUM)
    );
    // A lasting status forgets the chain: nothing reverts later.
    b.send(OWNER, "STATUS FAMILY BUSY FOR 1H");
    b.send(OWNER, "STATUS FAMILY DRIVING FOR 30M");
    b.send(OWNER, "STATUS FAMILY MEETING");
    b.flush();
    b.now += 2 * 3_600_000;
    assert_eq!(b.expire(), 0);
    assert!(b.send(DAD, "WHO 13800138000").ends_with("MEETING."));
}

#[test]
fn a_command_whose_messages_cannot_be_written_changes_nothing() {
    let mut b = Bench::family_seeing_free();
    let changes = |b: &Bench| -> i64 {
        b.conn
            .query_row("SELECT count(*) FROM status_change", [], |r| r.get(0))
            .unwrap()
    };
    let logged = changes(&b);
    // The second member's update (members go in number order: DAD, then MUM) cannot be
    // written (a real SQLite error, from a trigger): the status, DAD's update and the log line
    // go with it, in one transaction.
    b.conn
        .execute_batch(&format!(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.destination = '{MUM}'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ))
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    let r = b.svc.handle_mo(&tx, b.now, OWNER, "STATUS FAMILY BUSY");
    assert!(r.is_err(), "{r:?}");
    drop(tx); // rolled back, as the store writer does with a failed request
    b.conn.execute_batch("DROP TRIGGER temp.refuse").unwrap();
    assert!(b.all_updates().is_empty(), "{:?}", b.all_updates());
    assert_eq!(changes(&b), logged);
    assert!(b.send(DAD, "WHO 13800138000").ends_with("FREE."));
}

#[test]
fn clear_goes_back_to_standby() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "STATUS ALL BUSY");
    b.flush();
    let r = b.send(OWNER, "STATUS FAMILY CLEAR");
    assert_eq!(r, "Set: FAMILY sees STANDBY. 2 contacts will be told.");
    assert!(b.send(BOSS, "WHO 13800138000").ends_with("BUSY."));
    assert!(b.send(STRANGER, "WHO 13800138000").ends_with("BUSY."));
}

#[test]
fn a_status_command_during_a_call_ends_the_override() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE, COLLEAGUES MEETING");
    b.event(OWNER, NetworkEvent::CallStarted);
    b.flush();
    // The owner is choosing, so the phone is on and they are not in a call any more: FAMILY
    // gets the new status, COLLEAGUES their own one back, and both are told.
    let r = b.send(OWNER, "STATUS FAMILY BUSY");
    assert!(r.starts_with("Set: FAMILY sees BUSY."), "{r}");
    assert!(
        b.updates(MUM)[0].contains(": BUSY."),
        "{:?}",
        b.updates(MUM)
    );
    assert!(
        b.updates(BOSS)[0].contains(": MEETING."),
        "{:?}",
        b.updates(BOSS)
    );
    assert!(b.send(STRANGER, "WHO 13800138000").ends_with("STANDBY."));
    // The call's end, arriving after, changes nothing.
    b.flush();
    assert_eq!(b.event(OWNER, NetworkEvent::CallEnded).notified, 0);
    assert!(b.all_updates().is_empty());
}

#[test]
fn network_events_override_every_audience_and_restore_afterwards() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE, COLLEAGUES MEETING");
    b.flush();
    let o = b.event(OWNER, NetworkEvent::CallStarted);
    assert_eq!(o.notified, 3);
    assert!(b.updates(MUM)[0].contains("INCALL"));
    assert!(b.send(STRANGER, "WHO 13800138000").ends_with("INCALL."));
    // A repeated event changes nothing.
    b.flush();
    assert_eq!(b.event(OWNER, NetworkEvent::CallStarted).notified, 0);
    let o = b.event(OWNER, NetworkEvent::CallEnded);
    assert_eq!(o.notified, 3);
    assert!(b.updates(MUM)[0].contains("FREE"));
    assert!(b.updates(BOSS)[0].contains("MEETING"));
    // Power off / on.
    b.flush();
    b.event(OWNER, NetworkEvent::PowerOff);
    assert!(b.updates(DAD)[0].contains("OFF"));
    b.event(OWNER, NetworkEvent::PowerOn);
    assert!(
        b.updates(DAD)[0].contains("FREE"),
        "coalesced to the latest"
    );
}

#[test]
fn incall_notifications_can_be_switched_off() {
    let mut b = Bench::with(ServiceConfig {
        notify_incall: false,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE");
    b.flush();
    assert_eq!(b.event(OWNER, NetworkEvent::CallStarted).notified, 0);
    assert!(b.send(MUM, "WHO 13800138000").ends_with("INCALL."));
    assert_eq!(b.event(OWNER, NetworkEvent::CallEnded).notified, 0);
    assert!(b.all_updates().is_empty());
    // Power events still notify.
    assert_eq!(b.event(OWNER, NetworkEvent::PowerOff).notified, 3);
}

#[test]
fn a_network_event_for_someone_who_does_not_use_the_service_changes_nothing() {
    let mut b = Bench::new();
    b.family_of_two();
    let o = b.event(STRANGER, NetworkEvent::PowerOff);
    assert_eq!(o.notified, 0);
    assert!(state::subscriber(&b.conn, STRANGER).unwrap().is_none());
    let r = b.send(MUM, "WHO 13500135000");
    assert!(!r.contains("OFF"), "{r}");
}

#[test]
fn with_incall_notices_off_changes_under_a_call_are_told_and_the_call_is_not() {
    let mut b = Bench::with(ServiceConfig {
        notify_incall: false,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE, COLLEAGUES MEETING");
    b.flush();
    // Powered off during a call: the family and the boss are told OFF ...
    b.event(OWNER, NetworkEvent::CallStarted);
    assert_eq!(b.event(OWNER, NetworkEvent::PowerOff).notified, 3);
    b.flush();
    // ... and back on: told what they saw before.
    assert_eq!(b.event(OWNER, NetworkEvent::PowerOn).notified, 3);
    assert!(
        b.updates(MUM)[0].contains(": FREE."),
        "{:?}",
        b.updates(MUM)
    );
    b.flush();
    // A timed status ends during a call: its contacts are told the status it reverts to.
    b.send(OWNER, "STATUS FAMILY BUSY FOR 30M");
    b.flush();
    b.now += 25 * 60_000;
    b.event(OWNER, NetworkEvent::CallStarted);
    b.now += 5 * 60_000;
    assert_eq!(b.expire(), 1);
    assert!(
        b.updates(MUM)[0].contains(": FREE."),
        "{:?}",
        b.updates(MUM)
    );
    b.flush();
    assert_eq!(b.event(OWNER, NetworkEvent::CallEnded).notified, 0);
    // A change made during a call tells only the group that changed.
    b.event(OWNER, NetworkEvent::CallStarted);
    b.send(OWNER, "STATUS FAMILY DRIVING");
    assert_eq!(b.updates(MUM).len(), 1);
    assert!(b.updates(BOSS).is_empty(), "{:?}", b.updates(BOSS));
}

#[test]
fn the_hourly_quota_holds_updates_back_and_says_so() {
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 3,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    for (i, s) in ["FREE", "BUSY", "DND"].iter().enumerate() {
        b.now += 1000;
        b.flush();
        let r = b.send(OWNER, &format!("STATUS FAMILY {s}"));
        assert!(!r.contains("limit"), "change {i}: {r}");
    }
    b.flush();
    b.now += 1000;
    let r = b.send(OWNER, "STATUS FAMILY DRIVING");
    assert!(
        r.ends_with("Hourly update limit reached: they get your latest status at 15:30."),
        "{r}"
    );
    b.send(OWNER, "STATUS FAMILY MEETING");
    // Held back, coalesced, not dropped: one queued row with the latest, due after the hour.
    let due = b.queued_updates(MUM);
    assert_eq!(due.len(), 1, "{due:?}");
    assert!(due[0].0.contains("MEETING"));
    assert_eq!(due[0].1, T0 + 1000 + 3_600_000);
    // The state changed at once all the same.
    assert!(b.send(MUM, "WHO 13800138000").ends_with("MEETING."));
}

/// With an update delay a burst of changes leaves each contact one update with the latest,
/// due the delay after the burst's first change (a later change keeps that time, so a
/// subscriber changing every few seconds does not hold the update back for good); a change
/// after the update went waits the delay again. The quota still holds where it is later.
#[test]
fn an_update_delay_leaves_one_update_per_burst_due_after_its_first_change() {
    let mut b = Bench::with(ServiceConfig {
        update_delay: std::time::Duration::from_secs(30),
        hourly_change_quota: 3,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY BUSY");
    assert_eq!(r, "Set: FAMILY sees BUSY. 2 contacts will be told.");
    b.now += 10_000;
    b.send(OWNER, "STATUS FAMILY DRIVING");
    b.now += 10_000;
    b.send(OWNER, "STATUS FAMILY FREE");
    let due = b.queued_updates(MUM);
    assert_eq!(due.len(), 1, "{due:?}");
    assert!(due[0].0.contains("FREE"), "{due:?}");
    assert_eq!(due[0].1, T0 + 30_000, "from the first change");
    b.flush();
    b.now += 20_000;
    let r = b.send(OWNER, "STATUS FAMILY DND");
    assert!(r.contains("Hourly update limit reached"), "{r}");
    let due = b.queued_updates(MUM);
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        due[0].1,
        T0 + 3_600_000,
        "the quota's time is later than the delay's"
    );
}

/// GROUP ADD, DEL and DROP notify the contacts they move through the same fan-out as a
/// STATUS, quota included: when the quota holds those updates, the reply says so as a
/// STATUS reply does (in the owner's language), and says nothing when no update was held.
#[test]
fn a_membership_change_whose_updates_the_quota_holds_says_so() {
    const HELD: &str = "Hourly update limit reached: they get your latest status at 15:30.";
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 1,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE");
    b.flush();
    b.now += 1000;
    // The stranger now sees FAMILY's FREE instead of OTHERS' STANDBY: held, and said.
    let r = b.send(OWNER, "GROUP FAMILY ADD 13500135000");
    assert_eq!(
        r,
        format!("FAMILY now has 3 members. {HELD} FAMILY sees FREE.")
    );
    assert_eq!(b.queued_updates(STRANGER)[0].1, T0 + 3_600_000);
    // Boss (COLLEAGUES) joins FAMILY: sees FREE now.
    let r = b.send(OWNER, "GROUP FAMILY ADD 13600136000");
    assert!(r.contains(HELD), "{r}");
    // Back out of FAMILY, Boss sees COLLEAGUES' STANDBY again: held, and said.
    let r = b.send(OWNER, "GROUP FAMILY DEL 13600136000");
    assert_eq!(
        r,
        format!("Removed 1 from FAMILY; it has 3 members. {HELD}")
    );
    // Out of every group the stranger is OTHERS, who are not told: nothing held, nothing said.
    let r = b.send(OWNER, "GROUP FAMILY DEL 13500135000");
    assert_eq!(r, "Removed 1 from FAMILY; it has 2 members.");
    // Mum into COLLEAGUES still sees FAMILY's FREE (set more recently): nobody told.
    let r = b.send(OWNER, "GROUP COLLEAGUES ADD 13900139000");
    assert!(!r.contains("limit"), "{r}");
    // FAMILY emptied: Mum sees COLLEAGUES' STANDBY (held, said), Dad is OTHERS.
    let r = b.send(OWNER, "GROUP FAMILY DROP");
    assert!(r.ends_with(&format!("(or another group's). {HELD}")), "{r}");
    assert_eq!(b.queued_updates(MUM).len(), 1);
    // In Chinese, as a Chinese STATUS reply says it.
    b.send(OWNER, "状态 同事 忙");
    let r = b.send(OWNER, "分组 家人 加 13700137000");
    assert!(
        !r.contains("上限"),
        "FAMILY shows STANDBY, as OTHERS does: {r}"
    );
    let r = b.send(OWNER, "分组 朋友 加 13700137000");
    assert!(!r.contains("上限"), "{r}");
    let r = b.send(OWNER, "分组 家人 删 13700137000");
    assert!(!r.contains("上限"), "still in FRIENDS: STANDBY: {r}");
    let r = b.send(OWNER, "分组 同事 加 13700137000");
    assert!(
        r.starts_with("同事现有3人。已达每小时通知上限，15:30发送最新状态。"),
        "{r}"
    );
}

#[test]
fn stop_del_and_drop_withdraw_updates_already_queued() {
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 1,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "GROUP COLLEAGUES ADD 13500135000");
    b.send(OWNER, "STATUS FAMILY FREE, COLLEAGUES FREE");
    b.flush();
    // Over the quota: these updates wait for the hour.
    b.now += 1000;
    b.send(OWNER, "STATUS FAMILY DRIVING, COLLEAGUES DRIVING");
    for who in [MUM, DAD, BOSS, STRANGER] {
        assert_eq!(b.queued_updates(who).len(), 1, "{who} has one held update");
    }
    // Mum sends STOP for the owner, Dad is removed from FAMILY, COLLEAGUES is dropped:
    // nothing of what was queued reaches them.
    b.send(MUM, "TD13800138000");
    b.send(OWNER, "GROUP FAMILY DEL 13700137000");
    b.send(OWNER, "GROUP COLLEAGUES DROP");
    for who in [MUM, DAD, BOSS, STRANGER] {
        assert!(
            b.queued_updates(who).is_empty(),
            "{who}: {:?}",
            b.queued_updates(who)
        );
    }
    // Removed from one group but still in another: the update queued for them stays.
    b.send(OWNER, "GROUP FRIENDS ADD 13900139000");
    b.send(OWNER, "GROUP CLASSMATES ADD 13900139000");
    b.send(MUM, "START 13800138000");
    b.now += 1000;
    b.send(OWNER, "STATUS FRIENDS FREE");
    assert_eq!(b.queued_updates(MUM).len(), 1);
    b.send(OWNER, "GROUP CLASSMATES DEL 13900139000");
    assert_eq!(b.queued_updates(MUM).len(), 1, "still in FRIENDS");
    // STOP ALL withdraws updates about every owner.
    b.now += 1000;
    b.send(OWNER, "GROUP FRIENDS ADD 13500135000");
    b.send(OWNER, "STATUS FRIENDS BUSY");
    assert_eq!(b.queued_updates(STRANGER).len(), 1);
    b.send(STRANGER, "STOP ALL");
    assert!(b.queued_updates(STRANGER).is_empty());
    // The withdrawn rows are kept, superseded, with the reason.
    let why: Vec<String> = b
        .conn
        .prepare("SELECT last_error FROM outbox WHERE state = 'superseded' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for want in [
        "sent STOP",
        "removed from the owner's groups",
        "group dropped",
        "STOP ALL",
    ] {
        assert!(why.iter().any(|w| w.contains(want)), "{want}: {why:?}");
    }
}

#[test]
fn network_events_and_the_owners_commands_have_separate_hourly_budgets() {
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 3,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE");
    // Five calls in the hour: ten network changes, over the budget of three.
    for _ in 0..5 {
        b.now += 1000;
        b.event(OWNER, NetworkEvent::CallStarted);
        b.now += 1000;
        b.event(OWNER, NetworkEvent::CallEnded);
    }
    // Held (coalesced, due after the hour), not dropped: MUM's latest update says FREE.
    let now = b.now;
    let held: Vec<(String, i64)> = b
        .queued_updates(MUM)
        .into_iter()
        .filter(|&(_, due)| due > now)
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].0.contains("FREE"), "{held:?}");
    // The calls did not use up the owner's own budget: their next change goes out at once
    // (it takes over the held row: one update, the latest, due now).
    b.now += 1000;
    let r = b.send(OWNER, "STATUS FAMILY BUSY");
    assert!(!r.contains("limit"), "{r}");
    let due = b.queued_updates(MUM);
    assert_eq!(due.len(), 1, "{due:?}");
    assert!(due[0].0.contains("BUSY") && due[0].1 <= b.now, "{due:?}");
}

#[test]
fn group_caps_hold_with_a_clear_reply() {
    let mut b = Bench::with(ServiceConfig {
        max_group_members: 3,
        max_total_members: 4,
        max_user_groups: 1,
        ..ServiceConfig::default()
    });
    b.send(OWNER, "GROUP FAMILY ADD 13900139001 13900139002");
    let r = b.send(OWNER, "GROUP FAMILY ADD 13900139003 13900139004");
    assert_eq!(
        r,
        "Nothing added: FAMILY holds at most 3 numbers and has 2."
    );
    b.send(OWNER, "GROUP FAMILY ADD 13900139003");
    let r = b.send(OWNER, "GROUP FRIENDS ADD 13900139005 13900139006");
    assert_eq!(
        r,
        "Nothing added: your groups hold at most 4 numbers in all and have 3."
    );
    // A refused ADD to a new group leaves no empty group behind: it would show in GROUPS and
    // use up the one user group allowed here.
    let r = b.send(
        OWNER,
        "GROUP BIG ADD 13900139011 13900139012 13900139013 13900139014",
    );
    assert_eq!(r, "Nothing added: BIG holds at most 3 numbers and has 0.");
    assert!(!b.send(OWNER, "GROUPS").contains("BIG"));
    // The same number twice in one ADD counts once.
    let r = b.send(OWNER, "GROUP WORK ADD 13900139007 13900139007");
    assert!(r.starts_with("WORK now has 1 member."), "{r}");
    assert!(!r.contains("already"), "{r}");
    let r = b.send(OWNER, "GROUP GOLF ADD 13900139008");
    assert!(
        r.starts_with("Nothing added: you can have at most 1 groups"),
        "{r}"
    );
    let r = b.send(OWNER, "GROUPS");
    assert!(r.contains("FAMILY(3) STANDBY"), "{r}");
    assert!(r.contains("WORK(1) STANDBY"), "{r}");
    assert!(!r.contains("GOLF"));
}

/// `分组 家人加13900139000` (the verb glued to the group) was refused: it adds the number to
/// 家人, as `分组 家人 加 13900139000` does.
#[test]
fn a_chinese_verb_glued_to_the_group_adds_to_that_group() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "分组 家人加13900139000");
    assert!(r.starts_with("家人现有1人。"), "{r}");
    let r = b.send(OWNER, "分组 家人");
    assert!(r.contains("+8613900139000"), "{r}");
    let r = b.send(OWNER, "分组 家人删除 13900139000");
    assert!(!r.contains("没有"), "{r}");
    assert!(b.send(OWNER, "分组 家人").starts_with("家人没有成员。"));
}

/// `加上` and `删掉` were not taken as group verbs (`分组 家人 加上 139…` was refused): they
/// add and remove, as `加入` and `删除` do.
#[test]
fn jia_shang_and_shan_diao_add_and_remove_members() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "分组 家人 加上 13900139000 13700137000");
    assert!(r.starts_with("家人现有2人。"), "{r}");
    b.send(OWNER, "分组 家人 删掉13900139000");
    let r = b.send(OWNER, "分组 家人");
    assert!(
        r.contains("+8613700137000") && !r.contains("+8613900139000"),
        "{r}"
    );
}

/// A Chinese group command said verb first (`加 家人 139…`) is answered in Chinese with the
/// command's order (`分组 家人 加 139…`), as `ADD FAMILY 139…` is in English, and nothing is
/// done until the command is sent that way.
#[test]
fn a_chinese_group_command_said_verb_first_is_offered_in_chinese_and_not_carried_out() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "加 家人 13900139000");
    assert!(
        r.starts_with("“加”不是命令。你是不是想发：分组 家人 加 13900139000"),
        "{r}"
    );
    let r = b.send(OWNER, "把13900139000加到家人");
    assert!(r.contains("你是不是想发：分组 家人 加 13900139000"), "{r}");
    let r = b.send(OWNER, "ADD FAMILY 13900139000");
    assert!(
        r.starts_with(
            "Sorry, \"ADD\" is not a command. Did you mean: GROUP FAMILY ADD 13900139000"
        ),
        "{r}"
    );
    assert!(
        b.send(OWNER, "分组 家人").starts_with("家人没有成员。"),
        "nothing was added"
    );
    // The command as offered works.
    let r = b.send(OWNER, "分组 家人 加 13900139000");
    assert!(r.starts_with("家人现有1人。"), "{r}");
    let r = b.send(OWNER, "删 家人 13900139000");
    assert!(
        r.starts_with("“删”不是命令。你是不是想发：分组 家人 删 13900139000"),
        "{r}"
    );
}

/// `ADD 12 FAMILY` and `加 12 家人` (verb first, a bad number) got the short help: they get
/// what the command in its order says of the number, and nothing is added.
#[test]
fn a_group_command_said_verb_first_with_a_bad_number_is_told_what_is_wrong_with_it() {
    let mut b = Bench::new();
    let normal = b.send(OWNER, "GROUP FAMILY ADD 12");
    assert!(
        normal.starts_with("\"12\" is not a phone number"),
        "{normal}"
    );
    for text in ["ADD 12 FAMILY", "ADD FAMILY 12", "add 12 to family"] {
        assert_eq!(b.send(OWNER, text), normal, "{text}");
    }
    let mistyped = b.send(OWNER, "GROUP FAMILY DEL 1380013800");
    assert!(mistyped.contains("looks mistyped"), "{mistyped}");
    assert_eq!(b.send(OWNER, "DEL 1380013800 FROM FAMILY"), mistyped);
    let normal = b.send(OWNER, "分组 家人 加 12");
    assert!(normal.starts_with("“12”不是有效号码"), "{normal}");
    for text in ["加 12 家人", "加 家人 12", "加家人12", "把12加到家人"] {
        assert_eq!(b.send(OWNER, text), normal, "{text}");
    }
    assert!(b.send(OWNER, "分组 家人").starts_with("家人没有成员。"));
}

/// `把139…加到家人组` offered `分组 家人组 加 139…`, a new group beside 家人: 组 after a
/// built-in group is the word "group", and after another name the group without it is
/// offered to one who has that group and not the other.
#[test]
fn zu_after_the_group_in_an_offer_is_the_word_group_when_that_is_the_group_meant() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "把13900139000加到家人组");
    assert!(r.contains("你是不是想发：分组 家人 加 13900139000"), "{r}");
    // Without a group 篮球, 篮球组 may be the new group's name.
    let r = b.send(OWNER, "把13900139000加到篮球组");
    assert!(
        r.contains("你是不是想发：分组 篮球组 加 13900139000"),
        "{r}"
    );
    b.send(OWNER, "分组 篮球 加 13700137000");
    let r = b.send(OWNER, "把13900139000加到篮球组");
    assert!(r.contains("你是不是想发：分组 篮球 加 13900139000"), "{r}");
    // One who has 篮球组 itself is offered it.
    b.send(MUM, "分组 篮球 加 13700137000");
    b.send(MUM, "分组 篮球组 加 13600136000");
    let r = b.send(MUM, "把13900139000加到篮球组");
    assert!(
        r.contains("你是不是想发：分组 篮球组 加 13900139000"),
        "{r}"
    );
    // Offered, never carried out.
    assert!(b.send(OWNER, "分组 家人").starts_with("家人没有成员。"));
}

/// `把139…加到家人组` offered `分组 家人 加 139…` even to one who has a group named exactly
/// 家人组 (made before), for whom `分组 家人组 加 139…` adds to that group and not to 家人:
/// the offer names the group the command in its order would reach for them.
#[test]
fn an_offer_names_the_subscribers_own_group_named_with_zu_run_on() {
    let mut b = Bench::new();
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, MUM, Lang::Zh, T0).unwrap();
    state::create_group(&tx, MUM, "家人组", T0).unwrap();
    tx.commit().unwrap();
    for text in [
        "把13900139000加到家人组",
        "把13900139000加到家人组里",
        "加 家人组 13900139000",
        "加 13900139000 家人组",
        "加家人组13900139000",
        "加家人组 13900139000",
    ] {
        let r = b.send(MUM, text);
        assert!(
            r.contains("你是不是想发：分组 家人组 加 13900139000"),
            "{text}: {r}"
        );
        // One without such a group is offered the built-in group.
        let r = b.send(OWNER, text);
        assert!(
            r.contains("你是不是想发：分组 家人 加 13900139000"),
            "{text}: {r}"
        );
    }
    let r = b.send(MUM, "把13900139000从家人组删除");
    assert!(
        r.contains("你是不是想发：分组 家人组 删 13900139000"),
        "{r}"
    );
    // Offered, never carried out; the command as offered reaches her group.
    assert!(b.send(MUM, "分组 家人").starts_with("家人没有成员。"));
    b.send(MUM, "分组 家人组 加 13900139000");
    let r = b.send(MUM, "分组 家人组");
    assert!(r.starts_with("家人组") && r.contains("13900139000"), "{r}");
    assert!(b.send(MUM, "分组 家人").starts_with("家人没有成员。"));
}

/// `分组 家人组 加 139…` (`组`, "group", typed after a built-in group's name) made a user
/// group 家人组 beside 家人 on its first ADD, and the number went where the subscriber did not
/// mean. A built-in name with `组` run on is the built-in group in every GROUP command, in
/// Chinese and with the English name; RENAME cannot make such a group either. One who has a
/// group of exactly that name (made before) keeps it: it is theirs.
#[test]
fn a_builtin_group_name_with_zu_run_on_is_the_builtin_group() {
    let mut b = Bench::new();
    let groups_of = |b: &Bench, owner: &str, member: &str| -> Vec<String> {
        let ids = state::groups_of(&b.conn, owner, member).unwrap();
        state::audiences(&b.conn, owner)
            .unwrap()
            .into_iter()
            .filter(|a| ids.contains(&a.id))
            .map(|a| a.name)
            .collect()
    };
    assert_eq!(
        b.send(OWNER, "分组 家人组 加 13900139000"),
        "家人现有1人。设置他们看到的状态：状态 家人 空闲"
    );
    assert_eq!(groups_of(&b, OWNER, MUM), ["FAMILY"]);
    b.send(OWNER, "分组 同事组 加 13700137000");
    b.send(OWNER, "分组 同学组 加 13600136000");
    b.send(OWNER, "GROUP friends组 ADD 13500135000");
    assert_eq!(groups_of(&b, OWNER, DAD), ["COLLEAGUES"]);
    assert_eq!(groups_of(&b, OWNER, BOSS), ["CLASSMATES"]);
    assert_eq!(groups_of(&b, OWNER, STRANGER), ["FRIENDS"]);
    let user_groups = |b: &Bench, owner: &str| -> Vec<String> {
        state::audiences(&b.conn, owner)
            .unwrap()
            .into_iter()
            .filter(|a| a.kind == AudienceKind::User)
            .map(|a| a.name)
            .collect()
    };
    assert!(user_groups(&b, OWNER).is_empty());
    // Listing, removing and dropping by the same word.
    let r = b.send(OWNER, "分组 家人组");
    assert!(r.starts_with("家人") && r.contains("13900139000"), "{r}");
    b.send(OWNER, "分组 同事组 删 13700137000");
    assert!(groups_of(&b, OWNER, DAD).is_empty());
    b.send(OWNER, "分组 同学组 解散");
    assert!(groups_of(&b, OWNER, BOSS).is_empty());
    // The name is the built-in's: no group can be renamed to it.
    b.send(OWNER, "分组 篮球 加 13700137000");
    assert_eq!(
        b.send(OWNER, "分组 篮球 改名 家人组"),
        "家人是内置分组，不能改名或占用。"
    );
    assert_eq!(user_groups(&b, OWNER), ["篮球"]);
    // Mum made 家人组 before: it is hers, and stays apart from 家人.
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, MUM, Lang::Zh, T0).unwrap();
    state::create_group(&tx, MUM, "家人组", T0).unwrap();
    tx.commit().unwrap();
    b.send(MUM, "分组 家人组 加 13800138000");
    assert_eq!(groups_of(&b, MUM, OWNER), ["家人组"]);
    b.send(MUM, "分组 家人 加 13700137000");
    assert_eq!(groups_of(&b, MUM, DAD), ["FAMILY"]);
}

/// `状态 家人组 忙` sets what 家人 sees, as `分组 家人组` lists 家人 (it answered that there
/// is no group 家人组); for a subscriber who has a group named 家人组, it is that group's.
#[test]
fn a_status_for_a_builtin_group_name_with_zu_run_on_is_the_builtin_groups() {
    let mut b = Bench::new();
    b.send(OWNER, "分组 家人 加 13900139000");
    let r = b.send(OWNER, "状态 家人组 忙");
    assert!(!r.contains("没有"), "{r}");
    assert_eq!(b.updates(MUM).len(), 1, "家人 is told");
    let who = b.send(MUM, "WHO 13800138000");
    assert!(
        who.contains('忙') || who.to_lowercase().contains("busy"),
        "{who}"
    );
    // Mum made 家人组 before: STATUS names hers, not 家人.
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, MUM, Lang::Zh, T0).unwrap();
    state::create_group(&tx, MUM, "家人组", T0).unwrap();
    tx.commit().unwrap();
    b.send(MUM, "分组 家人组 加 13800138000");
    b.send(MUM, "分组 家人 加 13700137000");
    b.send(MUM, "状态 家人组 开会");
    assert_eq!(b.updates(OWNER).len(), 1, "her 家人组 is told");
    assert!(b.updates(DAD).is_empty(), "her 家人 is not");
}

/// `ADD 家人 13800138000` (an English verb first, a Chinese group) got the short help: the
/// command's order is offered, in Chinese as the group is, and nothing is added.
#[test]
fn an_english_verb_first_before_a_chinese_group_gets_the_command_order_offered() {
    let mut b = Bench::new();
    let r = b.send(OWNER, "ADD 家人 13900139000");
    assert!(
        r.starts_with("“ADD”不是命令。你是不是想发：GROUP 家人 ADD 13900139000"),
        "{r}"
    );
    assert!(
        b.send(OWNER, "分组 家人").starts_with("家人没有成员。"),
        "nothing was added"
    );
}

#[test]
fn groups_can_be_listed_paged_renamed_and_dropped() {
    let mut b = Bench::with(ServiceConfig {
        page_size: 2,
        ..ServiceConfig::default()
    });
    let r = b.send(
        OWNER,
        "GROUP WORK ADD 13900139001 13900139002 13900139003 13800138000",
    );
    assert_eq!(
        r,
        "WORK now has 3 members. Your own number was skipped. Set what they see: STATUS WORK FREE"
    );
    let r = b.send(OWNER, "GROUP WORK");
    assert_eq!(
        r,
        "WORK (3), page 1/2: +8613900139001, +8613900139002. More: GROUP WORK 2"
    );
    assert_eq!(
        b.send(OWNER, "GROUP WORK 2"),
        "WORK (3), page 2/2: +8613900139003."
    );
    assert_eq!(
        b.send(OWNER, "GROUP WORK RENAME OFFICE"),
        "Group WORK is now called OFFICE."
    );
    assert!(b
        .send(OWNER, "GROUP WORK")
        .starts_with("You have no group WORK."));
    assert!(b
        .send(OWNER, "GROUP FAMILY RENAME HOME")
        .contains("built-in group"));
    b.send(OWNER, "STATUS OFFICE BUSY");
    assert!(b
        .send("+8613900139001", "WHO 13800138000")
        .ends_with("BUSY."));
    let r = b.send(OWNER, "GROUP OFFICE DEL 13900139001 13900139009");
    assert_eq!(
        r,
        "Removed 1 from OFFICE; it has 2 members. 1 was not in it."
    );
    assert!(b
        .send("+8613900139001", "WHO 13800138000")
        .ends_with("STANDBY."));
    let r = b.send(OWNER, "GROUP OFFICE DROP");
    assert_eq!(
        r,
        "Group OFFICE dropped; its 2 members now see your OTHERS status (or another group's)."
    );
    assert!(b
        .send("+8613900139002", "WHO 13800138000")
        .ends_with("STANDBY."));
    let r = b.send(OWNER, "STATUS OFFICE FREE");
    assert!(r.starts_with("You have no group OFFICE."), "{r}");
}

#[test]
fn status_for_an_unknown_group_changes_nothing() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY FREE, GOLF BUSY");
    assert!(r.starts_with("You have no group GOLF."), "{r}");
    assert!(b.all_updates().is_empty());
    assert!(b.send(MUM, "WHO 13800138000").ends_with("STANDBY."));
}

#[test]
fn who_about_a_stranger_or_oneself() {
    let mut b = Bench::new();
    assert_eq!(
        b.send(OWNER, "WHO 13500135000"),
        "+8613500135000 does not use this service."
    );
    assert!(b.send(OWNER, "查13800138000").starts_with("这是你自己"));
}

#[test]
fn malformed_input_gets_a_helpful_reply_and_changes_nothing() {
    let mut b = Bench::family_seeing_free();
    let corpus = [
        "".to_string(),
        "   ".to_string(),
        "😀😀😀".to_string(),
        "x".repeat(500),
        "STATUS 家人 FREE 明天 maybe".to_string(),
        "WHO 123456789012345678901234567890".to_string(),
        "'; DROP TABLE subscriber; --".to_string(),
        "GROUP FAMILY ADD 12".to_string(),
        "STATUS FAMILY".to_string(),
        "STATUS FAMILY INCALL".to_string(),
        "NAME ".to_string() + &"长".repeat(30),
        "STATUS FAMILY FREE FOR 99D".to_string(),
        "STATUS FAMILY FREE UNTIL 25:00".to_string(),
        "\u{0}\u{1b}\u{7f}".to_string(),
    ];
    for text in &corpus {
        let o = b.outcome(STRANGER, text);
        let reply = o.reply.expect("every input gets a reply");
        assert!(!reply.is_empty(), "{text:?}");
        assert!(replies::segments(&reply) <= 3, "{text:?}: {reply}");
        assert_eq!(o.notified, 0, "{text:?}");
    }
    let r = b
        .outcome(STRANGER, "WHO 123456789012345678901234567890")
        .reply
        .unwrap();
    assert!(r.contains("is not a phone number"), "{r}");
    let r = b.outcome(STRANGER, "STATUS FAMILY").reply.unwrap();
    assert!(r.contains("Which status"), "{r}");
    // An empty quoted name or status is empty, not "too long".
    for (text, want) in [
        ("NAME \"\"", "The name is empty"),
        ("STATUS FAMILY \"\"", "The status is empty"),
        ("名字 \"\"", "名字不能为空"),
    ] {
        let r = b.outcome(STRANGER, text).reply.unwrap();
        assert!(r.starts_with(want), "{text}: {r}");
    }
    // Someone who asks for help gets it, whatever follows HELP.
    for text in ["HELP ME", "help?", "帮助 天气"] {
        let r = b.outcome(STRANGER, text).reply.unwrap();
        assert!(
            r.contains("Commands: STATUS FAMILY FREE") || r.contains("命令：状态 家人 空闲"),
            "{text}: {r}"
        );
        assert!(!r.contains("Send HELP"), "{text}: {r}");
    }
    // The owner's state is untouched and the tables are all there.
    assert!(b.send(MUM, "WHO 13800138000").ends_with("FREE."));
    assert!(b.all_updates().is_empty());
    let subs: i64 = b
        .conn
        .query_row("SELECT count(*) FROM subscriber", [], |r| r.get(0))
        .unwrap();
    assert_eq!(subs, 3, "owner, mum, stranger");
}

#[test]
fn an_alphanumeric_sender_gets_nothing() {
    let mut b = Bench::new();
    let o = b.outcome("BANK", "STATUS ALL FREE");
    assert_eq!(o, Outcome::default());
    let rows: i64 = b
        .conn
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn privacy_and_avatar_commands_reply() {
    let mut b = Bench::new();
    assert_eq!(
        b.send(OWNER, "PRIVACY NOBODY"),
        "Your avatar can be seen by nobody."
    );
    let sub = state::subscriber(&b.conn, OWNER).unwrap().unwrap();
    assert_eq!(sub.privacy, crate::command::Privacy::Nobody);
    assert!(!b.send(OWNER, "AVATARS").is_empty());
}

/// Under PRIVACY NOBODY a new avatar (a preset or an upload) goes to nobody: the reply says
/// why and how to share it, in the subscriber's language, where it said "0 contacts will get
/// it", which reads as if the subscriber had no contacts. The upload's SMS says so too.
#[test]
fn a_new_avatar_under_privacy_nobody_says_nobody_sees_it_and_how_to_share_it() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "PRIVACY NOBODY");
    assert_eq!(
        b.send(OWNER, "AVATAR 2"),
        "Your avatar is now 2 Pic2. Nobody sees it while your PRIVACY is NOBODY: \
         PRIVACY CONTACTS shares it with your contacts."
    );
    assert_eq!(
        b.send(OWNER, "头像 3"),
        "头像已设为3 Pic3。隐私为无人，暂无人可见；发送“隐私 联系人”即可公开。"
    );
    assert!(pushes(&b).is_empty());
    let bytes = b"own".to_vec();
    let v = [avatar::VariantIn {
        size: 96,
        format: "jpeg",
        content_type: "image/jpeg",
        bytes: &bytes,
        sha256: "own",
    }];
    let tx = b.conn.transaction().unwrap();
    let token = avatar::create_upload(&tx, OWNER, b.now, Duration::from_secs(900)).unwrap();
    let done = b
        .svc
        .complete_upload(&tx, b.now, &token, "own-src", &v)
        .unwrap();
    tx.commit().unwrap();
    let told = replies::Text::AvatarUploaded {
        reach: replies::Reach::Nobody,
    };
    assert_eq!(done, Ok(told));
    let sms: String = b
        .conn
        .query_row(
            "SELECT body FROM outbox WHERE destination = ?1 ORDER BY id DESC LIMIT 1",
            [OWNER],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        sms,
        "新头像已设置。隐私为无人，暂无人可见；发送“隐私 联系人”即可公开。"
    );
    assert!(pushes(&b).is_empty());
    // Shared again, a new avatar says how many contacts get it, as ever.
    b.send(OWNER, "PRIVACY CONTACTS");
    b.flush();
    assert_eq!(
        b.send(OWNER, "AVATAR 1"),
        "Your avatar is now 1 Pic1. 3 contacts will get it."
    );
}

/// `AVATAR` / `头像` alone says what the avatar is (none, a preset by id and title, or one's
/// own picture) and how to change it, instead of "Something is missing".
#[test]
fn avatar_alone_says_what_the_avatar_is_and_the_forms() {
    let mut b = Bench::new();
    add_presets(&b, 3);
    assert_eq!(
        b.send(OWNER, "AVATAR"),
        "You have no avatar. AVATARS: the catalogue. AVATAR <number>: choose one. \
         AVATAR UPLOAD: your own picture. AVATAR OFF: none."
    );
    b.send(OWNER, "AVATAR 2");
    let r = b.send(OWNER, "AVATAR");
    assert!(r.starts_with("Your avatar is 2 Pic2. AVATARS: "), "{r}");
    assert_eq!(
        b.send(OWNER, "头像"),
        "你的头像是2 Pic2。可发送：头像库（查看）、头像 编号、头像 上传、头像 取消。"
    );
    let bytes = b"own".to_vec();
    let v = [avatar::VariantIn {
        size: 96,
        format: "jpeg",
        content_type: "image/jpeg",
        bytes: &bytes,
        sha256: "own",
    }];
    let tx = b.conn.transaction().unwrap();
    let id = avatar::store_avatar(&tx, "own-src", &v, T0).unwrap();
    avatar::set_avatar(&tx, OWNER, id, None, T0).unwrap();
    tx.commit().unwrap();
    let r = b.send(OWNER, "头像");
    assert!(r.starts_with("你的头像是自己上传的图片。"), "{r}");
    let r = b.send(OWNER, "AVATAR");
    assert!(r.starts_with("Your avatar is your own picture. "), "{r}");
    b.send(OWNER, "AVATAR OFF");
    assert!(b.send(OWNER, "头像").starts_with("你还没有头像。"));
}

fn add_presets(b: &Bench, n: i64) {
    let tx = b.conn.unchecked_transaction().unwrap();
    for i in 1..=n {
        let bytes = vec![i as u8; 10];
        let sha = format!("sha-{i}");
        let v = [avatar::VariantIn {
            size: 96,
            format: "jpeg",
            content_type: "image/jpeg",
            bytes: &bytes,
            sha256: &sha,
        }];
        let id = avatar::store_avatar(&tx, &format!("src-{i}"), &v, T0).unwrap();
        avatar::add_preset(&tx, i, &format!("Pic{i}").as_str().into(), id).unwrap();
    }
    tx.commit().unwrap();
}

/// Queued WAP pushes as (to, url, text).
fn pushes(b: &Bench) -> Vec<(String, String, String)> {
    let mut s = b
        .conn
        .prepare(
            "SELECT destination, url, body FROM outbox WHERE kind = 'wap_push' AND state = 'queued'
             ORDER BY destination",
        )
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Opening PRIVACY from NOBODY pushes the avatar only to the contacts whose handset does not
/// have the current picture: NOBODY took nothing off the handsets (a push cannot), so the
/// ones a push reached keep it. A contact added meanwhile, one whose push never arrived, and
/// every contact after a change made under NOBODY get it.
#[test]
fn reopening_privacy_pushes_the_avatar_only_to_handsets_without_it() {
    let to = |b: &Bench| -> Vec<String> { pushes(b).into_iter().map(|p| p.0).collect() };
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 5);
    b.send(OWNER, "AVATAR 3");
    assert_eq!(to(&b), [BOSS, DAD, MUM]);
    b.flush();
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "GROUP FAMILY ADD 13500135000");
    assert!(pushes(&b).is_empty());
    let o = b.outcome(OWNER, "PRIVACY CONTACTS");
    assert_eq!(o.notified, 1, "only the contact added meanwhile");
    assert_eq!(to(&b), [STRANGER]);
    b.flush();
    // A push that never arrived does not count: Dad's failed, so he gets it this time.
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed' WHERE kind = 'wap_push' AND destination = ?1",
            [DAD],
        )
        .unwrap();
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "PRIVACY EVERYONE");
    assert_eq!(to(&b), [DAD]);
    // Nor does one still queued: it is queued once, not twice.
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(to(&b), [DAD]);
    b.flush();
    // A picture chosen under NOBODY went to nobody: on opening, every contact gets it.
    b.send(OWNER, "PRIVACY NOBODY");
    let r = b.send(OWNER, "AVATAR 5");
    assert!(
        r.ends_with(" PRIVACY CONTACTS shares it with your contacts."),
        "{r}"
    );
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(to(&b), [STRANGER, BOSS, DAD, MUM]);
    b.flush();
    // Back to the first picture under NOBODY: the handsets hold the second one (the newest
    // push that reached them), so they get the first again.
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 3");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(to(&b), [STRANGER, BOSS, DAD, MUM]);
    b.flush();
    // Taken out of every group and added back, a contact keeps the picture it has too.
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    b.send(OWNER, "GROUP COLLEAGUES ADD 13600136000");
    assert!(pushes(&b).is_empty());
    // A refused push replaced by an SMS link counts as the picture sent.
    let dad_push: i64 = b
        .conn
        .query_row(
            "SELECT max(id) FROM outbox WHERE kind = 'wap_push' AND destination = ?1",
            [DAD],
            |r| r.get(0),
        )
        .unwrap();
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
            [dad_push],
        )
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    assert!(avatar::push_failed(&tx, dad_push, b.now).unwrap());
    tx.commit().unwrap();
    assert_eq!(b.updates(DAD).len(), 1, "the link by SMS");
    b.flush();
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert!(pushes(&b).is_empty());
    assert!(b.updates(DAD).is_empty(), "{:?}", b.updates(DAD));
    // Retention deletes what a push carried with its outbox row.
    b.conn
        .execute("UPDATE outbox SET state = 'delivered'", [])
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    outbox::purge_finished(&tx, i64::MAX, None).unwrap();
    tx.commit().unwrap();
    let left: i64 = b
        .conn
        .query_row("SELECT count(*) FROM avatar_push", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // But which picture each handset got stays: opening again pushes to nobody...
    b.send(OWNER, "PRIVACY NOBODY");
    let o = b.outcome(OWNER, "PRIVACY CONTACTS");
    assert_eq!(o.notified, 0);
    assert!(pushes(&b).is_empty());
    assert!(b.updates(DAD).is_empty(), "{:?}", b.updates(DAD));
    // ...until the picture changes under NOBODY, or a push that reached the SMSC after the
    // purge carried another one.
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 5");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(pushes(&b).len(), 3);
    assert_eq!(b.updates(DAD).len(), 1);
    b.flush();
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 3");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(pushes(&b).len(), 3, "the handsets hold picture 5 now");
}

/// The outbox rows to `to` as (state, last error), oldest first.
fn rows_to(b: &Bench, to: &str) -> Vec<(String, Option<String>)> {
    let mut s = b
        .conn
        .prepare("SELECT state, last_error FROM outbox WHERE destination = ?1 ORDER BY id")
        .unwrap();
    s.query_map([to], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The id of the newest outbox row to `to`.
fn newest_row_to(b: &Bench, to: &str) -> i64 {
    b.conn
        .query_row(
            "SELECT max(id) FROM outbox WHERE destination = ?1",
            [to],
            |r| r.get(0),
        )
        .unwrap()
}

/// PRIVACY NOBODY withdraws the avatar pushes not yet sent, whatever form they take (a WAP
/// Push, the SMS link for a handset without WAP Push, the SMS that replaced a refused push):
/// they become `superseded` saying why. A push in flight goes out; one that comes back unsent
/// (the SMSC busy, the link dropped) is withdrawn then, unless the SMSC took a part of it or
/// PRIVACY opened again meanwhile.
/// Choosing the avatar one already has (`AVATAR 3` twice) pushes it only to the handsets that
/// do not have it: the others would get "has a new caller picture" (a two-part WAP Push, or an
/// SMS) for the picture they show already.
#[test]
fn choosing_the_current_avatar_again_pushes_only_to_handsets_without_it() {
    let to = |b: &Bench| -> Vec<String> { pushes(b).into_iter().map(|p| p.0).collect() };
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 5);
    b.send(OWNER, "AVATAR 3");
    assert_eq!(to(&b), [BOSS, DAD, MUM]);
    b.flush();
    // Nothing goes: the reply says it was the avatar already ("0 contacts will get it" read
    // as if the subscriber had no contacts).
    let r = b.send(OWNER, "AVATAR 3");
    assert_eq!(r, "Your avatar is 3 Pic3 already: nothing is sent again.");
    assert_eq!(b.send(OWNER, "头像 3"), "头像已是3 Pic3，不再重复发送。");
    assert!(pushes(&b).is_empty(), "{:?}", pushes(&b));
    // The same picture uploaded twice: the second upload says so too.
    let bytes = b"own".to_vec();
    let v = [avatar::VariantIn {
        size: 96,
        format: "jpeg",
        content_type: "image/jpeg",
        bytes: &bytes,
        sha256: "own",
    }];
    let upload = |b: &mut Bench| {
        let tx = b.conn.transaction().unwrap();
        let token = avatar::create_upload(&tx, OWNER, b.now, Duration::from_secs(900)).unwrap();
        let done = b
            .svc
            .complete_upload(&tx, b.now, &token, "own-src", &v)
            .unwrap();
        tx.commit().unwrap();
        b.flush();
        done
    };
    let reach = |reach| Ok(replies::Text::AvatarUploaded { reach });
    assert_eq!(upload(&mut b), reach(replies::Reach::Told(3)));
    assert_eq!(upload(&mut b), reach(replies::Reach::Already));
    b.send(OWNER, "AVATAR 3");
    b.flush();
    // A push that never arrived does not count: Dad's failed, so he gets it again.
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed' WHERE kind = 'wap_push' AND destination = ?1",
            [DAD],
        )
        .unwrap();
    let r = b.send(OWNER, "AVATAR 3");
    assert_eq!(r, "Your avatar is now 3 Pic3. 1 contact will get it.");
    assert_eq!(to(&b), [DAD]);
    // Another picture goes to every contact, as ever.
    b.flush();
    b.send(OWNER, "AVATAR 4");
    assert_eq!(to(&b), [BOSS, DAD, MUM]);
}

/// A contact who sent `STOP <owner>` gets no avatar push while stopped; `START <owner>` brings
/// the owner's current picture to the handset when it does not have it (the avatar chosen
/// meanwhile: before, the handset showed the old picture on every call until the owner changed
/// it again), and nothing when it has it, when the starter is no contact of the owner, or
/// while the owner's PRIVACY is NOBODY. So does `START <owner>` after `STOP ALL`.
#[test]
fn start_brings_the_avatar_chosen_while_stopped() {
    let to = |b: &Bench| -> Vec<String> { pushes(b).into_iter().map(|p| p.0).collect() };
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 5);
    b.send(OWNER, "AVATAR 3");
    b.flush();
    b.send(MUM, "STOP 13800138000");
    b.send(OWNER, "AVATAR 4");
    assert_eq!(to(&b), [BOSS, DAD]);
    b.flush();
    let r = b.send(MUM, "START 13800138000");
    assert_eq!(r, "You will get updates about +8613800138000 again.");
    assert_eq!(to(&b), [MUM], "the picture chosen while Mum was stopped");
    b.flush();
    // The handset has it now: a STOP and START push nothing.
    b.send(MUM, "STOP 13800138000");
    b.send(MUM, "START 13800138000");
    assert!(pushes(&b).is_empty(), "{:?}", pushes(&b));
    // Opted out of everyone, then back in for this owner.
    b.send(DAD, "STOP ALL");
    b.send(OWNER, "AVATAR 5");
    assert_eq!(to(&b), [BOSS, MUM]);
    b.flush();
    b.send(DAD, "START 13800138000");
    assert_eq!(to(&b), [DAD]);
    b.flush();
    // No contact of the owner: nothing (OTHERS are never pushed to).
    b.send(STRANGER, "STOP 13800138000");
    b.send(STRANGER, "START 13800138000");
    assert!(pushes(&b).is_empty(), "{:?}", pushes(&b));
    // PRIVACY NOBODY: nothing, and the picture goes when PRIVACY opens.
    b.send(MUM, "STOP 13800138000");
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 2");
    b.send(MUM, "START 13800138000");
    assert!(pushes(&b).is_empty(), "{:?}", pushes(&b));
    b.send(OWNER, "PRIVACY CONTACTS");
    assert_eq!(to(&b), [BOSS, DAD, MUM]);
}

/// `START ALL` brings every avatar chosen while the sender was stopped: one push from each
/// owner whose groups hold them and whose picture their handset lacks, none from an owner whose
/// picture it has, nor from one who is not their contact's owner.
#[test]
fn start_all_brings_every_avatar_chosen_while_stopped() {
    let from = |b: &Bench| -> Vec<(String, bool, bool)> {
        pushes(b)
            .into_iter()
            .map(|(to, _, body)| {
                (
                    to,
                    body.contains("13800138000"),
                    body.contains("13600136000"),
                )
            })
            .collect()
    };
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 5);
    // Boss keeps Mum in a group of his; the stranger keeps nobody.
    b.send(BOSS, "GROUP TEAM ADD 13900139000");
    b.send(OWNER, "AVATAR 1");
    b.send(BOSS, "AVATAR 2");
    b.flush();
    b.send(MUM, "STOP ALL");
    b.send(OWNER, "AVATAR 3");
    b.send(BOSS, "AVATAR 4");
    b.send(STRANGER, "AVATAR 5");
    assert!(
        from(&b).iter().all(|(to, _, _)| to != MUM),
        "{:?}",
        from(&b)
    );
    b.flush();
    let r = b.send(MUM, "START ALL");
    assert!(r.contains("again"), "{r}");
    let mut got = from(&b);
    got.sort();
    assert_eq!(
        got,
        [
            (MUM.to_string(), false, true),
            (MUM.to_string(), true, false)
        ],
        "the owner's and Boss's pictures, nothing from the stranger"
    );
    b.flush();
    // The handset has them now: STOP ALL and START ALL again push nothing.
    b.send(MUM, "STOP ALL");
    b.send(MUM, "START ALL");
    assert!(pushes(&b).is_empty(), "{:?}", pushes(&b));
    // The owners are found through the index on members, not by reading every membership.
    let plan: Vec<String> = b
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", state::OWNERS_OF))
        .unwrap()
        .query_map([MUM], |r| r.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|p| p.contains("INDEX membership_member")),
        "{plan:?}"
    );
}

/// The time of an avatar choice dates its downloads (`Last-Modified`), so it never goes back
/// while the owner keeps an avatar: a second choice in the same millisecond, or under a clock
/// stepped back, is dated a second after the one before (a handset holding the first must not
/// take the second for it).
#[test]
fn an_avatar_choice_is_never_dated_before_the_one_it_replaces() {
    let mut b = Bench::new();
    add_presets(&b, 5);
    let at = |b: &Bench| avatar::chosen_at(&b.conn, OWNER).unwrap().unwrap();
    b.send(OWNER, "AVATAR 1");
    let first = at(&b);
    assert_eq!(first, b.now);
    b.send(OWNER, "AVATAR 2");
    assert_eq!(at(&b), first + 1000, "the same moment");
    b.now -= 3_600_000;
    b.send(OWNER, "AVATAR 3");
    assert_eq!(at(&b), first + 2000, "a clock an hour behind");
    b.now += 2 * 3_600_000;
    b.send(OWNER, "AVATAR 4");
    assert_eq!(at(&b), b.now, "a clock ahead of them: its own time");
    // Removed, then a picture chosen again under a clock stepped back: after the removal.
    let off = b.now;
    b.send(OWNER, "AVATAR OFF");
    b.now -= 3_600_000;
    b.send(OWNER, "AVATAR 5");
    assert_eq!(at(&b), off + 1000, "after AVATAR OFF");
}

#[test]
fn privacy_nobody_withdraws_the_avatar_pushes_not_yet_sent() {
    use crate::store::outbox::{Requeued, PUSH_WITHDRAWN, PUSH_WITHDRAWN_IN_FLIGHT};
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "GROUP FRIENDS ADD 13500135000");
    add_presets(&b, 3);
    let tx = b.conn.transaction().unwrap();
    avatar::set_wap_push(&tx, DAD, false).unwrap();
    tx.commit().unwrap();
    b.send(OWNER, "AVATAR 2");
    // Mum's push and Dad's SMS link stay queued. Boss's push failed at his handset and its
    // link waits as an SMS; the stranger's push is in flight.
    let boss_push = newest_row_to(&b, BOSS);
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
            [boss_push],
        )
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    assert!(avatar::push_failed(&tx, boss_push, b.now).unwrap());
    tx.commit().unwrap();
    let in_flight = newest_row_to(&b, STRANGER);
    b.conn
        .execute(
            "UPDATE outbox SET state = 'in_flight' WHERE id = ?1",
            [in_flight],
        )
        .unwrap();
    let queued = |b: &Bench| {
        b.conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE state = 'queued' AND destination != ?1",
                [OWNER],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    assert_eq!(queued(&b), 3);

    assert_eq!(
        b.send(OWNER, "PRIVACY NOBODY"),
        "Your avatar can be seen by nobody."
    );
    assert_eq!(queued(&b), 0);
    let withdrawn = ("superseded".to_string(), Some(PUSH_WITHDRAWN.to_string()));
    assert_eq!(rows_to(&b, MUM), std::slice::from_ref(&withdrawn));
    assert_eq!(rows_to(&b, DAD), std::slice::from_ref(&withdrawn));
    assert_eq!(rows_to(&b, BOSS)[1], withdrawn);
    assert_eq!(rows_to(&b, STRANGER)[0].0, "in_flight");
    // The SMSC was busy: the stranger's push comes back unsent, and is withdrawn.
    let tx = b.conn.transaction().unwrap();
    let back = outbox::retry_busy(&tx, in_flight, b.now + 1000, "ESME_RTHROTTLED", b.now);
    tx.commit().unwrap();
    assert_eq!(back.unwrap(), Requeued::Withdrawn);
    assert_eq!(
        rows_to(&b, STRANGER),
        [(
            "superseded".to_string(),
            Some(PUSH_WITHDRAWN_IN_FLIGHT.to_string())
        )]
    );

    // Opened again, every contact gets the picture (none of the withdrawn ones reached a
    // handset); a push in flight that comes back then is queued again as usual, and so is one
    // of which the SMSC took a part, whatever PRIVACY says.
    let o = b.outcome(OWNER, "PRIVACY CONTACTS");
    assert_eq!(o.notified, 4);
    let mum_push = newest_row_to(&b, MUM);
    let dad_link = newest_row_to(&b, DAD);
    b.conn
        .execute(
            "UPDATE outbox SET state = 'in_flight' WHERE id = ?1 OR id = ?2",
            [mum_push, dad_link],
        )
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    let back = outbox::retry_later(&tx, mum_push, b.now, "timeout", b.now).unwrap();
    outbox::record_segment_submitted(&tx, dad_link, 1, 2, "77", b.now).unwrap();
    tx.commit().unwrap();
    assert_eq!(back, Requeued::Queued);
    b.send(OWNER, "PRIVACY NOBODY");
    let tx = b.conn.transaction().unwrap();
    let back = outbox::retry_later(&tx, dad_link, b.now, "timeout", b.now).unwrap();
    tx.commit().unwrap();
    assert_eq!(
        back,
        Requeued::Queued,
        "the SMSC has part 1: part 2 follows"
    );
    assert_eq!(rows_to(&b, MUM).last().unwrap(), &withdrawn);
}

/// AVATAR OFF withdraws the avatar pushes not yet sent, as PRIVACY NOBODY does: their link
/// opens no picture any more. A push in flight goes out; one that comes back unsent while
/// the owner has no avatar is withdrawn then, one that comes back once a picture is set again
/// is queued again as usual.
#[test]
fn avatar_off_withdraws_the_avatar_pushes_not_yet_sent() {
    use crate::store::outbox::{PushVeto, Requeued, PUSH_WITHDRAWN_AVATAR_OFF};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let mum = newest_row_to(&b, MUM);
    b.conn
        .execute("UPDATE outbox SET state = 'in_flight' WHERE id = ?1", [mum])
        .unwrap();
    assert_eq!(b.send(OWNER, "AVATAR OFF"), "Your avatar is removed.");
    let withdrawn = (
        "superseded".to_string(),
        Some(PUSH_WITHDRAWN_AVATAR_OFF.to_string()),
    );
    assert_eq!(rows_to(&b, DAD), std::slice::from_ref(&withdrawn));
    assert_eq!(rows_to(&b, BOSS), std::slice::from_ref(&withdrawn));
    assert_eq!(rows_to(&b, MUM)[0].0, "in_flight");
    // The link dropped before Mum's push reached the SMSC: it comes back, and is withdrawn.
    let tx = b.conn.transaction().unwrap();
    let back = outbox::requeue_unsent(&tx, mum, b.now).unwrap();
    tx.commit().unwrap();
    assert_eq!(back, Requeued::Withdrawn);
    assert_eq!(
        rows_to(&b, MUM),
        [(
            "superseded".to_string(),
            Some(PushVeto::AvatarOff.in_flight().to_string())
        )]
    );
    // A picture again: pushed to every contact, and one in flight that comes back is queued.
    let o = b.outcome(OWNER, "AVATAR 3");
    assert_eq!(o.notified, 3);
    let dad = newest_row_to(&b, DAD);
    b.conn
        .execute("UPDATE outbox SET state = 'in_flight' WHERE id = ?1", [dad])
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    let back = outbox::retry_later(&tx, dad, b.now, "timeout", b.now).unwrap();
    tx.commit().unwrap();
    assert_eq!(back, Requeued::Queued);
}

/// An operator's retry of a failed avatar push whose owner set PRIVACY NOBODY or AVATAR OFF
/// after it failed withdraws it (`superseded`, saying why) instead of queueing it again; a
/// failed push whose owner changed nothing is queued again as before.
#[test]
fn an_operator_retry_withdraws_a_failed_push_the_owner_withdrew_since() {
    use crate::store::outbox::{PushVeto, RetryFilter};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    // Every push was refused at submit (no handset said anything: no SMS link follows).
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed', last_error = 'EsmeRinvdstadr'
             WHERE destination != ?1",
            [OWNER],
        )
        .unwrap();
    let retry = |b: &mut Bench| {
        let tx = b.conn.transaction().unwrap();
        let (_, done) =
            outbox::retry_failed_matching(&tx, &RetryFilter::default(), 0, 100, b.now).unwrap();
        tx.commit().unwrap();
        done
    };
    let (mum, dad) = (newest_row_to(&b, MUM), newest_row_to(&b, DAD));
    b.send(OWNER, "PRIVACY NOBODY");
    let done = retry(&mut b);
    assert_eq!((done.queued, done.withdrawn), (0, 3), "{done:?}");
    let withdrawn = |v: PushVeto| ("superseded".to_string(), Some(v.at_retry()));
    assert_eq!(rows_to(&b, MUM), [withdrawn(PushVeto::Nobody)]);
    assert_eq!(
        PushVeto::Nobody.at_retry(),
        "withdrawn at an operator's retry: the owner set PRIVACY NOBODY after it failed"
    );
    // AVATAR OFF, the same; with neither, the failed push is queued again.
    b.send(OWNER, "PRIVACY CONTACTS");
    for id in [
        newest_row_to(&b, MUM),
        newest_row_to(&b, DAD),
        newest_row_to(&b, BOSS),
    ] {
        assert!(id != mum && id != dad);
        b.conn
            .execute("UPDATE outbox SET state = 'failed' WHERE id = ?1", [id])
            .unwrap();
    }
    b.send(OWNER, "AVATAR OFF");
    let done = retry(&mut b);
    assert_eq!((done.queued, done.withdrawn), (0, 3), "{done:?}");
    assert_eq!(rows_to(&b, MUM)[1], withdrawn(PushVeto::AvatarOff));
    b.send(OWNER, "AVATAR 3");
    let boss = newest_row_to(&b, BOSS);
    b.conn
        .execute("UPDATE outbox SET state = 'failed' WHERE id = ?1", [boss])
        .unwrap();
    let done = retry(&mut b);
    assert_eq!((done.queued, done.withdrawn), (1, 0), "{done:?}");
    assert_eq!(rows_to(&b, BOSS).last().unwrap().0, "queued");
}

/// An operator's retry of a failed avatar push whose owner withdrew it since (PRIVACY
/// NOBODY), of which the SMSC had already taken a part (part 1 of 2, then the row failed), does
/// not withdraw it (`superseded` says nothing went out) nor send the rest: it stays `failed`
/// as it was, last error and time kept, the veto noted and counted apart. One of which the SMSC
/// took nothing is withdrawn as before. Once the owner opens again, a retry takes the row on as
/// any failed row (here a newer push to the contact supersedes it) and the veto is gone.
#[test]
fn an_operator_retry_leaves_failed_a_withdrawn_push_the_smsc_took_part_of() {
    use crate::store::outbox::{recorded_veto, PushVeto, RetryFilter};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let (mum, dad) = (newest_row_to(&b, MUM), newest_row_to(&b, DAD));
    b.conn
        .execute("UPDATE outbox SET state = 'in_flight' WHERE id = ?1", [mum])
        .unwrap();
    let tx = b.conn.transaction().unwrap();
    outbox::record_segment_submitted(&tx, mum, 1, 2, "77", b.now).unwrap();
    tx.commit().unwrap();
    b.conn
        .execute(
            "UPDATE outbox SET state = 'failed', last_error = 'EsmeRinvdstadr', updated_at = 5
             WHERE id IN (?1, ?2)",
            [mum, dad],
        )
        .unwrap();
    let retry = |b: &mut Bench| {
        let tx = b.conn.transaction().unwrap();
        let (_, done) =
            outbox::retry_failed_matching(&tx, &RetryFilter::default(), 0, 100, b.now).unwrap();
        tx.commit().unwrap();
        done
    };
    b.send(OWNER, "PRIVACY NOBODY");
    let done = retry(&mut b);
    assert_eq!(
        (done.queued, done.withdrawn, done.left_failed),
        (0, 1, 1),
        "{done:?}"
    );
    let (state, error, updated_at): (String, String, i64) = b
        .conn
        .query_row(
            "SELECT state, last_error, updated_at FROM outbox WHERE id = ?1",
            [mum],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (state.as_str(), error.as_str(), updated_at),
        ("failed", "EsmeRinvdstadr", 5)
    );
    assert_eq!(recorded_veto(&b.conn, mum).unwrap(), Some(PushVeto::Nobody));
    assert_eq!(
        rows_to(&b, DAD),
        [("superseded".to_string(), Some(PushVeto::Nobody.at_retry()))]
    );
    // Asked again while the veto holds: the same.
    assert_eq!(retry(&mut b).left_failed, 1);
    // Opened again: a newer push to Mum is queued, and supersedes the failed one at a retry.
    b.send(OWNER, "PRIVACY CONTACTS");
    let done = retry(&mut b);
    assert_eq!((done.left_failed, done.superseded), (0, 1), "{done:?}");
    assert_eq!(rows_to(&b, MUM)[0].0, "superseded");
    assert_eq!(recorded_veto(&b.conn, mum).unwrap(), None);
}

/// Who is shown an owner's picture is one rule ([`outbox::push_veto`], read from the store's
/// tables so that it needs nothing of the service), in every case of PRIVACY, picture and
/// contact: the veto names what stops it, the privacy vetoes first; the avatar link, the sync
/// API and WHO's photo link show the picture exactly when there is none
/// ([`avatar::shown`]), and answer "not shared" exactly for a veto that refuses the viewer
/// ([`avatar::may_view`]). An owner the gateway does not know has no picture to show. (Before,
/// the link's rule was written a second time, in Rust over the subscriber's privacy, beside
/// the store's SQL, and this test checked that the two agreed.)
#[test]
fn one_rule_says_who_is_shown_a_picture_and_why_not() {
    use crate::store::outbox::PushVeto::{AvatarOff, Nobody, NotAContact};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 1);
    let mut vetoes = Vec::new();
    for privacy in ["EVERYONE", "CONTACTS", "NOBODY"] {
        b.send(OWNER, &format!("PRIVACY {privacy}"));
        for picture in ["AVATAR 1", "AVATAR OFF"] {
            b.send(OWNER, picture);
            let avatar = avatar::current(&b.conn, OWNER).unwrap();
            for viewer in [MUM, STRANGER] {
                let case = format!("{privacy}, {picture}, {viewer}");
                let veto = outbox::push_veto(&b.conn, OWNER, viewer).unwrap();
                let shown = avatar::shown(&b.conn, OWNER, viewer).unwrap();
                match veto {
                    None => assert_eq!(shown.ok(), avatar, "{case}: {shown:?}"),
                    Some(v) => assert_eq!(shown, Err(v), "{case}"),
                }
                assert_eq!(
                    avatar::may_view(&b.conn, OWNER, viewer).unwrap(),
                    !veto.is_some_and(|v| v.refuses_viewer()),
                    "{case}: {veto:?}"
                );
                vetoes.push(veto);
            }
        }
    }
    assert_eq!(
        vetoes,
        [
            // EVERYONE: with a picture, Mum (a contact) and a stranger; without, neither.
            None,
            None,
            Some(AvatarOff),
            Some(AvatarOff),
            // CONTACTS: the stranger is no contact, whatever the picture.
            None,
            Some(NotAContact),
            Some(AvatarOff),
            Some(NotAContact),
            // NOBODY: nobody.
            Some(Nobody),
            Some(Nobody),
            Some(Nobody),
            Some(Nobody),
        ]
    );
    assert_eq!(
        outbox::push_veto(&b.conn, "+8613300133000", MUM).unwrap(),
        Some(AvatarOff)
    );
    assert_eq!(
        avatar::shown(&b.conn, "+8613300133000", MUM).unwrap(),
        Err(AvatarOff)
    );
}

/// Every withdrawal of an avatar push keeps its veto as a code (`outbox.push_veto`, read with
/// [`outbox::recorded_veto`]), whichever path withdrew it: queued at PRIVACY NOBODY or AVATAR
/// OFF, back from flight unsent, failed and retried by an operator. `outbox retry` reads the
/// code to tell a withdrawn push from a row a newer one superseded; it compared `last_error`
/// with the text it writes.
#[test]
fn every_withdrawn_push_keeps_its_veto_as_a_code() {
    use crate::store::outbox::PushVeto::{AvatarOff, Nobody, NotAContact};
    use crate::store::outbox::{recorded_veto, Requeued, RetryFilter};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let (mum, dad, boss) = (
        newest_row_to(&b, MUM),
        newest_row_to(&b, DAD),
        newest_row_to(&b, BOSS),
    );
    b.conn
        .execute(
            "UPDATE outbox SET state = CASE id WHEN ?1 THEN 'in_flight' ELSE 'failed' END
             WHERE id IN (?1, ?2)",
            [dad, boss],
        )
        .unwrap();
    b.send(OWNER, "PRIVACY NOBODY");
    let tx = b.conn.transaction().unwrap();
    assert_eq!(
        outbox::requeue_unsent(&tx, dad, b.now).unwrap(),
        Requeued::Withdrawn
    );
    tx.commit().unwrap();
    let veto = |b: &Bench, id: i64| recorded_veto(&b.conn, id).unwrap();
    assert_eq!((veto(&b, mum), veto(&b, dad)), (Some(Nobody), Some(Nobody)));
    assert_eq!(veto(&b, boss), None, "failed, not withdrawn");
    // Open again: new pushes. The boss leaves his only group; an operator retries his failed
    // push: withdrawn, the contact left. AVATAR OFF withdraws the new queued ones.
    b.send(OWNER, "PRIVACY CONTACTS");
    let (mum2, dad2) = (newest_row_to(&b, MUM), newest_row_to(&b, DAD));
    assert!(mum2 > mum && dad2 > dad);
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    let tx = b.conn.transaction().unwrap();
    let (_, done) =
        outbox::retry_failed_matching(&tx, &RetryFilter::default(), 0, 100, b.now).unwrap();
    tx.commit().unwrap();
    assert_eq!(done.withdrawn, 1, "{done:?}");
    assert_eq!(veto(&b, boss), Some(NotAContact));
    b.send(OWNER, "AVATAR OFF");
    assert_eq!(
        (veto(&b, mum2), veto(&b, dad2)),
        (Some(AvatarOff), Some(AvatarOff))
    );
    assert_eq!(veto(&b, i64::MAX), None, "no such row");
}

/// A queued avatar push to a contact taken out of every group under PRIVACY CONTACTS is
/// withdrawn with the veto that stops it, `not_a_contact` in `push_veto`, as every other
/// withdrawn push keeps its own (before, this path alone left it empty). Under PRIVACY
/// EVERYONE the contact may still open the link: their push is withdrawn (OTHERS get no
/// updates) with no veto recorded, and so is one withdrawn by a STOP.
#[test]
fn a_push_withdrawn_as_its_contact_leaves_every_group_keeps_its_veto() {
    use crate::store::outbox::{recorded_veto, PushVeto};
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let (mum, dad, boss) = (
        newest_row_to(&b, MUM),
        newest_row_to(&b, DAD),
        newest_row_to(&b, BOSS),
    );
    let state = |b: &Bench, id: i64| -> String {
        b.conn
            .query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    };
    b.send(OWNER, "GROUP FAMILY DEL 13700137000");
    assert_eq!(state(&b, dad), "superseded");
    assert_eq!(
        recorded_veto(&b.conn, dad).unwrap(),
        Some(PushVeto::NotAContact)
    );
    b.send(MUM, "TD13800138000");
    assert_eq!(state(&b, mum), "superseded");
    assert_eq!(
        recorded_veto(&b.conn, mum).unwrap(),
        None,
        "STOP is no veto"
    );
    b.send(OWNER, "PRIVACY EVERYONE");
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    assert_eq!(state(&b, boss), "superseded");
    assert_eq!(
        recorded_veto(&b.conn, boss).unwrap(),
        None,
        "under EVERYONE the link still opens"
    );
}

/// A contact taken out of every group of the owner (PRIVACY CONTACTS) may no longer see the
/// avatar (its link answers 403): a push to them in flight that comes back unsent is
/// withdrawn, as under PRIVACY NOBODY, not sent again. One still in another group, or a
/// non-contact of an owner with PRIVACY EVERYONE, may see it: theirs is queued again. The
/// rule is the link's ([`outbox::push_veto`]).
#[test]
fn a_push_in_flight_to_a_contact_who_left_every_group_is_withdrawn() {
    use crate::store::outbox::{PushVeto, Requeued};
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "GROUP COLLEAGUES ADD 13900139000");
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let (mum, dad, boss) = (
        newest_row_to(&b, MUM),
        newest_row_to(&b, DAD),
        newest_row_to(&b, BOSS),
    );
    b.conn
        .execute("UPDATE outbox SET state = 'in_flight'", [])
        .unwrap();
    // Dad leaves the family (his only group), Mum leaves it but is a colleague still.
    b.send(OWNER, "GROUP FAMILY DEL 13700137000 13900139000");
    let back = |b: &mut Bench, id: i64| {
        let tx = b.conn.transaction().unwrap();
        let r = outbox::requeue_unsent(&tx, id, b.now).unwrap();
        tx.commit().unwrap();
        r
    };
    assert_eq!(back(&mut b, dad), Requeued::Withdrawn);
    assert_eq!(
        rows_to(&b, DAD),
        [(
            "superseded".to_string(),
            Some(PushVeto::NotAContact.in_flight().to_string())
        )]
    );
    assert_eq!(back(&mut b, mum), Requeued::Queued);
    // Boss leaves his only group while the owner shows the picture to everyone: he may
    // still see it, so his push goes.
    b.send(OWNER, "PRIVACY EVERYONE");
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    assert_eq!(back(&mut b, boss), Requeued::Queued);
}

/// The SMS that replaces a refused WAP Push is the SMS link a handset without WAP Push gets:
/// unsolicited, it carries the "Reply STOP" line (`回复TD...退订` in Chinese) as every update
/// to a contact does, in the contact's language.
#[test]
fn the_sms_that_replaces_a_refused_push_says_how_to_stop() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, MUM, Lang::Zh, T0).unwrap();
    tx.commit().unwrap();
    b.send(OWNER, "AVATAR 2");
    let p = pushes(&b);
    let url = |to: &str| p.iter().find(|p| p.0 == to).unwrap().1.clone();
    let (dad_url, mum_url) = (url(DAD), url(MUM));
    b.flush();
    for to in [DAD, MUM] {
        let push = newest_row_to(&b, to);
        let tx = b.conn.transaction().unwrap();
        tx.execute(
            "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
            [push],
        )
        .unwrap();
        assert!(avatar::push_failed(&tx, push, b.now).unwrap());
        tx.commit().unwrap();
    }
    assert_eq!(
        b.updates(DAD),
        [format!(
            "Zhang San (+8613800138000) has a new caller picture: {dad_url} Reply STOP \
             8613800138000 to stop these updates."
        )]
    );
    let mum = b.updates(MUM);
    assert_eq!(mum.len(), 1, "{mum:?}");
    assert!(
        mum[0].contains(&format!(
            "更新了来电头像：{mum_url} 回复TD8613800138000退订。"
        )),
        "{mum:?}"
    );
    // And it parses back: Dad's STOP line is a STOP of the owner.
    b.send(DAD, "STOP 8613800138000");
    assert!(b.updates(DAD).is_empty());
}

/// A push refused by the handset after its owner withdrew it (PRIVACY NOBODY, AVATAR OFF) or
/// after the contact left every group is not sent again as an SMS: the SMS would carry the
/// link the owner took back. The handset is marked as not taking WAP Push all the same.
#[test]
fn a_push_refused_after_it_was_withdrawn_is_not_sent_again_by_sms() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    b.flush();
    let refused = |b: &mut Bench, to: &str| {
        let push = newest_row_to(b, to);
        let tx = b.conn.transaction().unwrap();
        tx.execute(
            "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
            [push],
        )
        .unwrap();
        let sms = avatar::push_failed(&tx, push, b.now).unwrap();
        tx.commit().unwrap();
        sms
    };
    b.send(OWNER, "GROUP FAMILY DEL 13700137000");
    assert!(!refused(&mut b, DAD));
    assert!(b.updates(DAD).is_empty(), "{:?}", b.updates(DAD));
    assert!(!avatar::takes_wap_push(&b.conn, DAD).unwrap());
    b.send(OWNER, "PRIVACY NOBODY");
    assert!(!refused(&mut b, MUM));
    assert!(b.updates(MUM).is_empty(), "{:?}", b.updates(MUM));
    b.send(OWNER, "PRIVACY CONTACTS");
    b.flush();
    b.send(OWNER, "AVATAR OFF");
    assert!(!refused(&mut b, BOSS));
    assert!(b.updates(BOSS).is_empty(), "{:?}", b.updates(BOSS));
}

/// The SMS that replaces a refused WAP Push is keyed as the push was: a newer avatar change
/// replaces it while it is unsent, and it replaces a newer push still queued to the contact,
/// so the contact gets one message with the link, not two.
#[test]
fn the_sms_that_replaces_a_refused_push_is_coalesced_like_the_push() {
    let avatar_of = |b: &Bench, id: i64| -> i64 {
        b.conn
            .query_row(
                "SELECT avatar_id FROM avatar_push WHERE outbox_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    let refused = |b: &mut Bench, id: i64| {
        let tx = b.conn.transaction().unwrap();
        tx.execute(
            "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
            [id],
        )
        .unwrap();
        assert!(avatar::push_failed(&tx, id, b.now).unwrap());
        tx.commit().unwrap();
    };
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 1");
    b.flush();
    let first = newest_row_to(&b, DAD);
    // Refused while the next change is still queued to Dad as a WAP Push: the SMS takes its
    // place, carrying the newer picture.
    b.send(OWNER, "AVATAR 2");
    let second = newest_row_to(&b, DAD);
    refused(&mut b, first);
    assert_eq!(b.updates(DAD).len(), 1, "{:?}", b.updates(DAD));
    assert_eq!(newest_row_to(&b, DAD), second);
    let kind: String = b
        .conn
        .query_row("SELECT kind FROM outbox WHERE id = ?1", [second], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kind, "sms");
    assert_eq!(
        avatar_of(&b, second),
        avatar::current(&b.conn, OWNER).unwrap().unwrap()
    );
    b.flush();
    // Mum's handset refuses the next push; the change after it replaces the unsent SMS.
    b.send(OWNER, "AVATAR 3");
    let push = newest_row_to(&b, MUM);
    b.flush();
    refused(&mut b, push);
    let link = newest_row_to(&b, MUM);
    assert_eq!(b.updates(MUM).len(), 1);
    b.send(OWNER, "AVATAR 1");
    assert_eq!(b.updates(MUM).len(), 1, "{:?}", b.updates(MUM));
    assert_eq!(newest_row_to(&b, MUM), link);
    assert_eq!(
        avatar_of(&b, link),
        avatar::current(&b.conn, OWNER).unwrap().unwrap()
    );
    // And STOP withdraws it, as it does the push.
    b.send(MUM, "STOP 13800138000");
    assert!(b.updates(MUM).is_empty());
}

/// A push in flight when PRIVACY opens again counts as sent: the contact is not pushed the
/// same picture a second time beside it. Those whose pushes PRIVACY NOBODY withdrew get it.
#[test]
fn a_push_in_flight_when_privacy_reopens_counts_as_sent() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let mum = newest_row_to(&b, MUM);
    b.conn
        .execute("UPDATE outbox SET state = 'in_flight' WHERE id = ?1", [mum])
        .unwrap();
    b.send(OWNER, "PRIVACY NOBODY");
    let o = b.outcome(OWNER, "PRIVACY CONTACTS");
    assert_eq!(o.notified, 2, "Dad and Boss, whose pushes were withdrawn");
    let to: Vec<String> = pushes(&b).into_iter().map(|p| p.0).collect();
    assert_eq!(to, [BOSS, DAD]);
    assert_eq!(
        newest_row_to(&b, MUM),
        mum,
        "nothing queued beside Mum's push"
    );
}

#[test]
fn a_failed_push_falls_back_once_and_leaves_the_contact_a_contact() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "LANG ZH");
    add_presets(&b, 3);
    b.send(OWNER, "AVATAR 2");
    let dad_push: i64 = b
        .conn
        .query_row(
            "SELECT id FROM outbox WHERE kind = 'wap_push' AND destination = ?1",
            [DAD],
            |r| r.get(0),
        )
        .unwrap();
    b.flush();
    // Every part's UNDELIV, or an SMSC redelivering its receipt: the row is failed once and
    // the fallback asked for again and again.
    let tx = b.conn.transaction().unwrap();
    // Refused by the SMSC at submit: that says nothing about the handset, no fallback.
    tx.execute(
        "UPDATE outbox SET state = 'failed', last_error = 'ESME_RINVDSTADR' WHERE id = ?1",
        [dad_push],
    )
    .unwrap();
    assert!(!avatar::push_failed(&tx, dad_push, b.now).unwrap());
    tx.execute(
        "UPDATE outbox SET state = 'failed', last_error = 'receipt UNDELIV' WHERE id = ?1",
        [dad_push],
    )
    .unwrap();
    let sent: Vec<bool> = (0..3)
        .map(|_| avatar::push_failed(&tx, dad_push, b.now).unwrap())
        .collect();
    tx.commit().unwrap();
    assert_eq!(sent, [true, false, false]);
    let links = b.updates(DAD);
    assert_eq!(links.len(), 1, "one SMS with the link: {links:?}");
    assert!(links[0].contains("/a/"), "{links:?}");
    // Dad is remembered as a handset without WAP Push, but he is still no subscriber: his
    // next update comes in the owner's language (Chinese), and WHO says he does not use the
    // service.
    assert!(!avatar::takes_wap_push(&b.conn, DAD).unwrap());
    assert!(state::subscriber(&b.conn, DAD).unwrap().is_none());
    b.flush();
    b.send(OWNER, "状态 家人 开会");
    let update = b.updates(DAD);
    assert!(update[0].contains("开会"), "{update:?}");
    assert!(!b.send(MUM, "WHO 13700137000").contains("STANDBY"));
    // The next avatar goes to Dad by SMS straight away.
    b.flush();
    b.send(OWNER, "AVATAR 3");
    assert!(pushes(&b).iter().all(|p| p.0 != DAD));
    assert!(b.updates(DAD)[0].contains("/a/"));
}

#[test]
fn a_chinese_subscriber_sees_chinese_preset_titles_and_the_english_one_where_there_is_none() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 3);
    let tx = b.conn.unchecked_transaction().unwrap();
    for (id, zh) in [(1, "猫"), (3, "猫头鹰")] {
        let (avatar_id, _) = avatar::preset(&tx, id).unwrap().unwrap();
        let title = avatar::PresetTitle::new(format!("Pic{id}"), Some(zh.into()));
        avatar::add_preset(&tx, id, &title, avatar_id).unwrap();
    }
    tx.commit().unwrap();
    let r = b.send(OWNER, "头像库");
    assert!(r.starts_with("头像库1/1：1 猫、2 Pic2、3 猫头鹰。"), "{r}");
    let r = b.send(OWNER, "头像 3");
    assert!(r.starts_with("头像已设为3 猫头鹰。将发送给"), "{r}");
    assert_eq!(crate::service::replies::segments(&r), 1, "{r}");
    let r = b.send(OWNER, "头像 2");
    assert!(r.starts_with("头像已设为2 Pic2。"), "no Chinese title: {r}");
    // In English, the English titles.
    let r = b.send(OWNER, "AVATARS");
    assert!(r.starts_with("Avatars 1/1: 1 Pic1, 2 Pic2, 3 Pic3."), "{r}");
    let r = b.send(OWNER, "AVATAR 1");
    assert!(r.starts_with("Your avatar is now 1 Pic1. "), "{r}");
}

/// An avatar push is fitted, as it is queued, to one SMS with the link it carries: on a
/// carrier's long host name, a 20-character name (NAME's limit) is cut with an ellipsis, in
/// English and in Chinese, the link whole. Uncut, it took two SMS per contact.
#[test]
fn an_avatar_push_with_a_long_name_is_cut_to_one_sms() {
    let mut cfg = ServiceConfig::default();
    cfg.avatar.public_url = "http://avatars.operator-example.com.cn".into();
    let mut b = Bench::with(cfg);
    b.family_of_two();
    add_presets(&b, 1);
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, MUM, Lang::Zh, T0).unwrap();
    tx.commit().unwrap();
    b.send(OWNER, "NAME Zhang Sanfeng Junior");
    b.send(OWNER, "AVATAR 1");
    let p = pushes(&b);
    assert_eq!(p.len(), 3, "{p:?}");
    for (to, url, text) in &p {
        assert!(
            url.starts_with("http://avatars.operator-example.com.cn/a/"),
            "{url}"
        );
        assert!(
            text.len() <= crate::delivery::push_text_room(url),
            "{text:?} to {to}: more than one SMS with {url}"
        );
        let expected = if to == MUM {
            "Zhang Sanfeng…(+8613800138000)新来电头像"
        } else {
            "Zhang S... (+8613800138000): new caller picture"
        };
        assert_eq!(text, expected, "to {to}");
    }
}

#[test]
fn presets_are_listed_by_page_and_a_choice_is_pushed_to_contacts() {
    let mut b = Bench::new();
    b.family_of_two();
    assert_eq!(b.send(OWNER, "AVATARS"), "The avatar catalogue is empty.");
    add_presets(&b, 7);
    let r = b.send(OWNER, "AVATARS");
    assert_eq!(
        r,
        "Avatars 1/2: 1 Pic1, 2 Pic2, 3 Pic3, 4 Pic4, 5 Pic5. Choose: AVATAR <number>. More: AVATARS 2. See them: http://127.0.0.1:8080/gallery?page=1"
    );
    assert!(b
        .send(OWNER, "头像库 2")
        .starts_with("头像库2/2：6 Pic6、7 Pic7。"));
    assert_eq!(
        b.send(OWNER, "AVATAR 9"),
        "There is no avatar 9. AVATARS lists them."
    );
    b.send(MUM, "STOP 13800138000");
    // Dad's handset takes no WAP Push: he gets the link by SMS.
    let tx = b.conn.transaction().unwrap();
    state::ensure_subscriber(&tx, DAD, Lang::En, T0).unwrap();
    avatar::set_wap_push(&tx, DAD, false).unwrap();
    tx.commit().unwrap();
    let r = b.send(OWNER, "AVATAR 3");
    assert_eq!(r, "Your avatar is now 3 Pic3. 2 contacts will get it.");
    let p = pushes(&b);
    assert_eq!(p.len(), 1, "boss only: {p:?}");
    assert_eq!(p[0].0, BOSS);
    assert!(p[0].1.starts_with("http://127.0.0.1:8080/a/"));
    assert_eq!(p[0].2, "Zhang San (+8613800138000): new caller picture");
    let dad = b.updates(DAD);
    assert_eq!(dad.len(), 1);
    assert!(
        dad[0].contains("new caller picture: http://127.0.0.1:8080/a/"),
        "{dad:?}"
    );
    assert!(b.updates(MUM).is_empty());
    // The link is per viewer, and WHO hands the asker their own.
    let boss_token = p[0].1.rsplit('/').next().unwrap().to_string();
    let who = b.send(BOSS, "WHO 13800138000");
    assert!(who.ends_with(&format!("Photo: {}", p[0].1)), "{who}");
    let dad_token = dad[0]
        .split("/a/")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_ne!(boss_token, dad_token);
    assert_eq!(
        avatar::resolve_link(&b.conn, &boss_token).unwrap(),
        Some((OWNER.to_string(), BOSS.to_string()))
    );
    // A stranger sees the status but no photo (PRIVACY CONTACTS).
    assert!(b.send(STRANGER, "WHO 13800138000").ends_with("STANDBY."));
    b.send(OWNER, "PRIVACY EVERYONE");
    assert!(b.send(STRANGER, "WHO 13800138000").contains("Photo: http"));
    // PRIVACY NOBODY: no pushes at all.
    b.flush();
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 4");
    assert!(pushes(&b).is_empty());
    assert!(!b.send(BOSS, "WHO 13800138000").contains("Photo"));
    assert_eq!(b.send(OWNER, "AVATAR OFF"), "Your avatar is removed.");
    assert_eq!(b.send(OWNER, "AVATAR OFF"), "You have no avatar set.");
}

#[test]
fn uploads_need_activity_and_a_link_that_works_once() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "AVATAR UPLOAD");
    // 4 messages counted live so far; the closest threshold is level 0/3 vs sms 4/300...
    assert!(r.starts_with("Uploads open at "), "{r}");
    let tx = b.conn.transaction().unwrap();
    let a = avatar::Activity {
        call_minutes: 10,
        sms_sent: 280,
        tenure_days: 30,
        level: 1,
    };
    avatar::import_activity(&tx, OWNER, &a, T0).unwrap();
    tx.commit().unwrap();
    let r = b.send(OWNER, "AVATAR UPLOAD");
    // 280 imported + 5 live = 285 of 300: the closest.
    assert_eq!(
        r,
        "Uploads open at 300 messages sent; you have 285 (15 to go). Meanwhile choose a preset: AVATARS"
    );
    let tx = b.conn.transaction().unwrap();
    avatar::import_activity(&tx, OWNER, &avatar::Activity { level: 3, ..a }, T0).unwrap();
    tx.commit().unwrap();
    let r = b.send(OWNER, "头像 上传");
    assert!(
        r.starts_with("请在15分钟内打开 http://127.0.0.1:8080/u/"),
        "{r}"
    );
    let token = r.split("/u/").nth(1).unwrap()[..22].to_string();
    let bytes = b"jpeg bytes".to_vec();
    let v = [avatar::VariantIn {
        size: 96,
        format: "jpeg",
        content_type: "image/jpeg",
        bytes: &bytes,
        sha256: "abc",
    }];
    let tx = b.conn.transaction().unwrap();
    let done = b
        .svc
        .complete_upload(&tx, b.now, &token, "src", &v)
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        done,
        Ok(replies::Text::AvatarUploaded {
            reach: replies::Reach::Told(3)
        })
    );
    assert_eq!(pushes(&b).len(), 3);
    let tx = b.conn.transaction().unwrap();
    let again = b
        .svc
        .complete_upload(&tx, b.now, &token, "src", &v)
        .unwrap();
    assert_eq!(again, Err(avatar::UploadToken::Used));
    assert_eq!(
        avatar::check_upload(&tx, "nonsense", b.now).unwrap(),
        avatar::UploadToken::Unknown
    );
    let t2 = avatar::create_upload(&tx, OWNER, b.now, Duration::from_secs(900)).unwrap();
    assert_eq!(
        avatar::check_upload(&tx, &t2, b.now + 900_000).unwrap(),
        avatar::UploadToken::Expired
    );
    assert!(b
        .svc
        .reject_upload(&tx, b.now, &t2, replies::Rejected::Format)
        .unwrap());
    tx.commit().unwrap();
    let owner_sms: Vec<String> = b
        .conn
        .prepare("SELECT body FROM outbox WHERE destination = ?1 ORDER BY id")
        .unwrap()
        .query_map([OWNER], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        owner_sms
            .iter()
            .any(|s| s.starts_with("新头像已设置，将发送给3位联系人")),
        "{owner_sms:?}"
    );
    assert!(owner_sms.last().unwrap().contains("JPEG"), "{owner_sms:?}");
}

#[test]
fn an_expiry_on_another_day_names_the_day_to_each_reader_in_their_language() {
    let mut b = Bench::new();
    b.send(MUM, "LANG ZH");
    b.family_of_two();
    // 14:30 on 22 November: today, tomorrow, three days on.
    for (expiry, en, zh) in [
        ("UNTIL 17:00", "17:00", "17:00"),
        ("UNTIL 9AM", "tomorrow 09:00", "明天09:00"),
        // The coming midnight by its name ("tomorrow 00:00" read as a day later).
        ("UNTIL MIDNIGHT", "midnight", "午夜"),
        ("FOR 3D", "Nov 25 14:30", "11月25日14:30"),
        ("FOR 10D", "Dec 2 14:30", "12月2日14:30"),
    ] {
        b.flush();
        let r = b.send(OWNER, &format!("STATUS FAMILY BUSY {expiry}"));
        assert_eq!(
            r,
            format!("Set: FAMILY sees BUSY until {en}. 2 contacts will be told."),
            "{expiry}"
        );
        // Mum reads Chinese, Dad (no subscriber) the owner's English.
        assert_eq!(
            b.updates(MUM),
            vec![format!(
                "Zhang San(+8613800138000)：“忙碌”至{zh}。回复TD8613800138000退订。"
            )]
        );
        assert_eq!(
            b.updates(DAD),
            vec![format!(
                "Zhang San (+8613800138000): BUSY until {en}. Reply STOP 8613800138000 to stop these updates."
            )]
        );
        assert_eq!(
            b.send(MUM, "WHO 13800138000"),
            format!("Zhang San(+8613800138000)：“忙碌”至{zh}。")
        );
        assert_eq!(
            b.send(DAD, "WHO 13800138000"),
            format!("Zhang San (+8613800138000): BUSY until {en}.")
        );
        let status = b.send(OWNER, "STATUS");
        assert!(
            status.contains(&format!("FAMILY BUSY until {en}")),
            "{status}"
        );
    }
    // The Chinese reply and STATUS list.
    let r = b.send(OWNER, "状态 家人 忙 3天");
    assert_eq!(
        r,
        "已设置：家人看到“忙碌”至11月25日14:30。将通知2位联系人。"
    );
    let r = b.send(OWNER, "状态 家人 开会到上午9点");
    assert_eq!(r, "已设置：家人看到“开会”至明天09:00。将通知2位联系人。");
    let status = b.send(OWNER, "状态");
    assert!(status.contains("家人：“开会”至明天09:00"), "{status}");
    // A day later the same expiry is today's.
    b.now += 12 * 3_600_000;
    let r = b.send(OWNER, "STATUS");
    assert!(r.contains("FAMILY MEETING until 09:00"), "{r}");
}

#[test]
fn a_held_update_names_the_day_as_of_when_it_goes_out() {
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 1,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    // 23:45 on 22 November: the quota is spent, so updates wait until 00:45 on the 23rd.
    b.now = T0 + (9 * 60 + 15) * 60_000;
    b.send(OWNER, "STATUS FAMILY FREE");
    b.flush();
    b.now += 60_000;
    let r = b.send(OWNER, "STATUS FAMILY MEETING UNTIL 9AM");
    assert_eq!(
        r,
        "Set: FAMILY sees MEETING until tomorrow 09:00. 2 contacts will be told. \
         Hourly update limit reached: they get your latest status tomorrow 00:45."
    );
    // Read after midnight: 09:00 is that day's.
    let due = b.queued_updates(DAD);
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        due[0].0,
        "Zhang San (+8613800138000): MEETING until 09:00. Reply STOP 8613800138000 to stop these updates."
    );
    assert_eq!(due[0].1, T0 + (10 * 60 + 15) * 60_000);
}

#[test]
fn ussd_sessions_abort_time_out_and_ignore_stale_units() {
    use crate::store::inbox::UssdTag;
    let mut b = Bench::new();
    b.family_of_two();
    let unit = |b: &mut Bench, op: u8, text: &str, received_at: i64| {
        let tx = b.conn.transaction().unwrap();
        let tag = UssdTag {
            op,
            session: Some([7, 2]),
        };
        let r = b
            .svc
            .handle_ussd(&tx, b.now, received_at, OWNER, "*123#", text, tag)
            .unwrap();
        tx.commit().unwrap();
        r
    };
    let now = b.now;
    let first = unit(&mut b, 1, "*123*1#", now).unwrap();
    assert_eq!(first.op, 2);
    assert_eq!(first.source, "123");
    assert_eq!(first.session, Some([7, 2]));
    assert!(first.text.starts_with("Who sees it?"), "{}", first.text);
    // The user aborts: no answer, the session is gone.
    assert_eq!(unit(&mut b, 0x81, "", now), None);
    let after = unit(&mut b, 18, "1", now).unwrap();
    assert_eq!(after.op, 17);
    assert_eq!(after.session, Some([7, 3]), "end-of-session bit set");
    assert!(after.text.starts_with("Your session has ended."));
    // A unit older than the timeout (left pending across a restart) is dropped.
    assert_eq!(unit(&mut b, 1, "*123#", now - 10 * 60_000), None);
    // A full path in one dial: FAMILY, BUSY, 1 hour.
    let done = unit(&mut b, 1, "*123*1*1*2*2#", now).unwrap();
    assert_eq!(done.op, 17);
    assert!(
        done.text.starts_with("Set: FAMILY sees BUSY until 15:30."),
        "{}",
        done.text
    );
    assert_eq!(b.updates(MUM).len(), 1);
    // The menu's code typed as an answer on an open screen starts along its path, as
    // dialling it does (it was "Invalid choice"): FAMILY, FREE, until changed.
    let menu = unit(&mut b, 1, "*123#", now).unwrap();
    assert!(menu.text.starts_with("Presence"), "{}", menu.text);
    let done = unit(&mut b, 18, "*123*1*1*1*1#", now).unwrap();
    assert_eq!(done.op, 17);
    assert!(
        done.text.starts_with("Set: FAMILY sees FREE."),
        "{}",
        done.text
    );
}

/// `OWNER`'s USSD dialogue 7: `op` 1 dials `text`, 18 answers it; returns the screen.
fn ussd(b: &mut Bench, op: u8, text: &str) -> String {
    use crate::store::inbox::UssdTag;
    let tx = b.conn.transaction().unwrap();
    let tag = UssdTag {
        op,
        session: Some([7, 2]),
    };
    let now = b.now;
    let r = b
        .svc
        .handle_ussd(&tx, now, now, OWNER, "*123#", text, tag)
        .unwrap()
        .unwrap();
    tx.commit().unwrap();
    r.text
}

#[test]
fn a_group_chosen_in_the_ussd_menu_shows_its_status_and_members() {
    let mut b = Bench::new();
    b.family_of_two();
    b.send(OWNER, "STATUS FAMILY FREE FOR 1H");
    assert_eq!(
        ussd(&mut b, 1, "*123*2#"),
        "Your groups:\n1 FAMILY (2)\n2 COLLEAGUES (1)\n3 CLASSMATES (0)\n4 FRIENDS (0)\n0 Back"
    );
    assert_eq!(
        ussd(&mut b, 18, "1"),
        "FAMILY(2) FREE until 15:30\n+8613700137000\n+8613900139000\n1 Set its status\n0 Back"
    );
    // Back to the list, and another group chosen, the path dialled at once.
    assert!(ussd(&mut b, 18, "0").starts_with("Your groups:\n1 FAMILY (2)"));
    assert_eq!(
        ussd(&mut b, 1, "*123*2*2#"),
        "COLLEAGUES(1) STANDBY\n+8613600136000\n1 Set its status\n0 Back"
    );
    // From the group, its status is set as STATUS COLLEAGUES BUSY would.
    assert_eq!(
        ussd(&mut b, 18, "1"),
        "Status for COLLEAGUES:\n1 FREE\n2 BUSY\n3 MEETING\n4 DRIVING\n5 DND\n6 STANDBY\n0 Back"
    );
    ussd(&mut b, 18, "2");
    let done = ussd(&mut b, 18, "1");
    assert!(done.starts_with("Set: COLLEAGUES sees BUSY."), "{done}");
    assert_eq!(b.updates(BOSS).len(), 1);
    // A group dropped by SMS while its screen is open.
    b.send(OWNER, "GROUP GOLF ADD 13500135000");
    assert!(ussd(&mut b, 1, "*123*2*5#").starts_with("GOLF(1) STANDBY\n+8613500135000"));
    b.send(OWNER, "GROUP GOLF DROP");
    assert_eq!(ussd(&mut b, 18, "8"), "Invalid choice.\n0 Back");
    assert!(ussd(&mut b, 18, "0").starts_with("Your groups:"));
}

#[test]
fn ussd_avatars_carry_their_catalogue_ids_and_who_refuses_a_non_number() {
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 14);
    let first = ussd(&mut b, 1, "*123*3#");
    assert!(
        first.starts_with("Choose an avatar:\n1 Pic1\n2 Pic2") && first.contains("\n98 More"),
        "{first}"
    );
    let second = ussd(&mut b, 18, "98");
    assert!(
        second.starts_with("Choose an avatar:\n8 Pic8\n"),
        "{second}"
    );
    // 12 is avatar 12, as AVATAR 12 is.
    let chosen = ussd(&mut b, 18, "12");
    assert!(
        chosen.starts_with("Your avatar is now 12 Pic12."),
        "{chosen}"
    );
    assert!(ussd(&mut b, 1, "*123*3*8#").starts_with("Your avatar is now 8 Pic8."));
    // WHO: a word is no phone number, and the prompt says so.
    ussd(&mut b, 1, "*123*4#");
    assert_eq!(
        ussd(&mut b, 18, "abc"),
        "\"abc\" is not a phone number.\nEnter the phone number:\n0 Back"
    );
    let who = ussd(&mut b, 18, "13900139000");
    assert!(
        who.contains("+8613900139000") && !who.contains("not a phone number"),
        "{who}"
    );
}

/// `头像 一二` (12 read out digit by digit) was refused: it chooses preset 12, as `头像 12`
/// and `头像 十二` do; `头像库 一二` is page 12.
#[test]
fn a_chinese_avatar_id_read_out_digit_by_digit_chooses_that_preset() {
    let mut b = Bench::new();
    add_presets(&b, 14);
    let by_number = b.send(MUM, "头像 12");
    assert!(by_number.contains("12"), "{by_number}");
    assert_eq!(b.send(OWNER, "头像 一二"), by_number);
    assert_eq!(b.send(DAD, "头像 一〇"), b.send(BOSS, "头像 10"));
    assert_eq!(b.send(DAD, "头像库 一二"), b.send(DAD, "头像库 12"));
}

#[test]
fn the_ussd_code_texted_as_an_sms_is_answered_with_how_to_dial_it() {
    let mut b = Bench::new();
    assert_eq!(
        b.send(OWNER, "*123#"),
        "*123# is a code to dial, not to text: key it in like a phone number and press Call to open the menu. Or text HELP."
    );
    assert!(b
        .send(OWNER, "*123*1#")
        .starts_with("*123*1# is a code to dial"));
    // Full-width, as some handsets type it.
    assert!(b
        .send(OWNER, "＊１２３＃")
        .starts_with("*123# is a code to dial"));
    // In the subscriber's language.
    b.send(MUM, "语言 中文");
    let zh = b.send(MUM, "*123#");
    assert!(zh.starts_with("*123#是拨号代码"), "{zh}");
    assert_eq!(segments(&zh), 1, "{zh}");
    // Another code is not ours: the short help as for any unknown input.
    assert!(!b.send(OWNER, "*100#").contains("code to dial"));
}

#[test]
fn a_late_unit_of_an_earlier_ussd_dialogue_leaves_the_open_one_alone() {
    use crate::store::inbox::UssdTag;
    let mut b = Bench::new();
    b.family_of_two();
    let unit = |b: &mut Bench, op: u8, number: u8, text: &str| {
        let tx = b.conn.transaction().unwrap();
        let tag = UssdTag {
            op,
            session: Some([number, 2]),
        };
        let now = b.now;
        let r = b
            .svc
            .handle_ussd(&tx, now, now, OWNER, "*123#", text, tag)
            .unwrap();
        tx.commit().unwrap();
        r
    };
    // Dialogue 0x1A, then the subscriber dials again: dialogue 0x1B shows the main menu.
    unit(&mut b, 1, 0x1A, "*123#").unwrap();
    let main = unit(&mut b, 1, 0x1B, "*123#").unwrap();
    assert!(main.text.contains("1 "), "{}", main.text);
    // A late answer and a late abort of 0x1A: no answer, and 0x1B is untouched.
    assert_eq!(unit(&mut b, 18, 0x1A, "2"), None);
    assert_eq!(unit(&mut b, 0x81, 0x1A, ""), None);
    let next = unit(&mut b, 18, 0x1B, "1").unwrap();
    assert!(next.text.starts_with("Who sees it?"), "{}", next.text);
    // Its own abort ends it.
    assert_eq!(unit(&mut b, 0x81, 0x1B, ""), None);
    let ended = unit(&mut b, 18, 0x1B, "1").unwrap();
    assert!(
        ended.text.starts_with("Your session has ended."),
        "{}",
        ended.text
    );
}

#[test]
fn a_time_without_a_colon_sets_an_expiry_not_free_text() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 1500");
    assert_eq!(
        r,
        "Set: FAMILY sees BUSY until 15:00. 2 contacts will be told."
    );
    assert!(b.updates(MUM)[0].starts_with("Zhang San (+8613800138000): BUSY until 15:00."));
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): BUSY until 15:00."
    );
    let r = b.send(OWNER, "状态 家人 开会 到1630");
    assert_eq!(r, "已设置：家人看到“开会”至16:30。将通知2位联系人。");
    // Out of range, refused as UNTIL 25:00 is; nothing changes.
    let r = b.send(OWNER, "STATUS FAMILY FREE UNTIL 2500");
    assert!(
        r.starts_with("\"UNTIL 2500\" is not a time of day (HH:MM)."),
        "{r}"
    );
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): MEETING until 16:30."
    );
    // A 12-hour time, and a Chinese part of the day, are the 24-hour time.
    let r = b.send(OWNER, "STATUS FAMILY DRIVING UNTIL 5:30PM");
    assert_eq!(
        r,
        "Set: FAMILY sees DRIVING until 17:30. 2 contacts will be told."
    );
    let r = b.send(OWNER, "状态 家人 开会到下午5点");
    assert_eq!(r, "已设置：家人看到“开会”至17:00。将通知2位联系人。");
}

#[test]
fn durations_in_parts_fractions_and_chinese_numerals_end_when_they_say() {
    let mut b = Bench::new();
    b.family_of_two();
    // 14:30 now: 90 minutes is until 16:00, in each way of writing it.
    for text in [
        "STATUS FAMILY BUSY FOR 1H30M",
        "STATUS FAMILY BUSY FOR 1 HOUR 30 MIN",
        "STATUS FAMILY BUSY FOR 1.5H",
        "STATUS FAMILY BUSY FOR 1.5H!",
    ] {
        b.send(OWNER, "STATUS FAMILY FREE");
        b.flush();
        let r = b.send(OWNER, text);
        assert!(
            r.starts_with("Set: FAMILY sees BUSY until 16:00."),
            "{text}: {r}"
        );
        assert!(
            b.updates(MUM)[0].starts_with("Zhang San (+8613800138000): BUSY until 16:00."),
            "{text}"
        );
        b.flush();
    }
    for text in [
        "状态 家人 开车 一个半小时",
        "状态 家人 开车1.5小时",
        "状态 家人 开车 1小时30分钟",
        "状态 家人 开车 一小时三十分钟。",
    ] {
        let r = b.send(OWNER, text);
        assert!(
            r.starts_with("已设置：家人看到“开车”至16:00。"),
            "{text}: {r}"
        );
    }
    let r = b.send(OWNER, "状态 家人 开会 半小时");
    assert_eq!(r, "已设置：家人看到“开会”至15:00。将通知2位联系人。");
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 5.30p");
    assert_eq!(
        r,
        "Set: FAMILY sees BUSY until 17:30. 2 contacts will be told."
    );
    let r = b.send(OWNER, "状态 家人 忙到下午三点");
    assert_eq!(r, "已设置：家人看到“忙碌”至15:00。将通知2位联系人。");
    b.flush();
    // No whole number of minutes: refused, nothing changes.
    let r = b.send(OWNER, "STATUS FAMILY FREE FOR 1.33H");
    assert!(
        r.starts_with("\"FOR 1.33H\" is not a whole number of minutes"),
        "{r}"
    );
    let r = b.send(OWNER, "状态 家人 空闲 1.33小时");
    assert!(r.starts_with("“1.33小时”不是整分钟"), "{r}");
    // A built-in status and an expiry gone wrong: refused with the forms, not sent as text.
    let r = b.send(OWNER, "STATUS FAMILY FREE UNTIL 5 30");
    assert!(
        r.starts_with("\"UNTIL 5 30\" is not a time I can read. Say e.g. UNTIL 17:30"),
        "{r}"
    );
    let r = b.send(OWNER, "状态 家人 空闲到5点多");
    assert!(r.starts_with("“到5点多”不是能识别的时间。"), "{r}");
    assert!(b.updates(MUM).is_empty());
    assert_eq!(
        b.send(MUM, "WHO 13800138000"),
        "Zhang San (+8613800138000): BUSY until 15:00."
    );
}

#[test]
fn a_bare_hour_is_the_next_such_hour_on_either_half_of_the_day() {
    let mut b = Bench::new();
    b.family_of_two();
    // 14:30: the next 5 o'clock is this afternoon's, not tomorrow morning's.
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 5");
    assert_eq!(
        r,
        "Set: FAMILY sees BUSY until 17:00. 2 contacts will be told."
    );
    let r = b.send(OWNER, "STATUS FAMILY MEETING UNTIL 530");
    assert_eq!(
        r,
        "Set: FAMILY sees MEETING until 17:30. 2 contacts will be told."
    );
    let r = b.send(OWNER, "状态 家人 忙到5");
    assert_eq!(r, "已设置：家人看到“忙碌”至17:00。将通知2位联系人。");
    let r = b.send(OWNER, "状态 家人 开会 到5点");
    assert_eq!(r, "已设置：家人看到“开会”至17:00。将通知2位联系人。");
    // 2 o'clock has passed today: the night's.
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 2");
    assert_eq!(
        r,
        "Set: FAMILY sees BUSY until tomorrow 02:00. 2 contacts will be told."
    );
    // An explicit 24-hour time keeps its meaning.
    for (status, expiry, until) in [
        ("FREE", "UNTIL 05:00", "tomorrow 05:00"),
        ("BUSY", "UNTIL 0500", "tomorrow 05:00"),
        ("FREE", "UNTIL 17", "17:00"),
        ("BUSY", "UNTIL 5AM", "tomorrow 05:00"),
    ] {
        let r = b.send(OWNER, &format!("STATUS FAMILY {status} {expiry}"));
        assert_eq!(
            r,
            format!("Set: FAMILY sees {status} until {until}. 2 contacts will be told."),
            "{expiry}"
        );
    }
    // In the small hours, the morning's: at 03:00, 5 is 05:00.
    b.now = T0 + (12 * 60 + 30) * 60_000;
    let r = b.send(OWNER, "STATUS FAMILY DRIVING UNTIL 5");
    assert_eq!(
        r,
        "Set: FAMILY sees DRIVING until 05:00. 2 contacts will be told."
    );
}

#[test]
fn a_comma_left_out_between_two_statuses_is_asked_about_not_taken_as_text() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 5PM COLLEAGUES MEETING");
    assert_eq!(
        r,
        "Two statuses? Put a comma before \"COLLEAGUES\": STATUS FAMILY BUSY UNTIL 5PM, \
         COLLEAGUES MEETING. One text? Put it in quotes."
    );
    assert_eq!(segments(&r), 1, "{r}");
    let r = b.send(OWNER, "状态 家人 空闲 同事 开会");
    assert_eq!(
        r,
        "是两个状态吗？请在“同事”前加逗号：状态 家人 空闲，同事 开会。如是一句话，请加引号。"
    );
    assert_eq!(segments(&r), 1, "{r}");
    // Nothing was set, nobody told.
    assert!(b.updates(MUM).is_empty());
    // Run together so that two splits read: no comma guessed, every place named.
    let r = b.send(
        OWNER,
        "STATUS COLLEAGUES BUSY FAMILY Out FOR 1H FRIENDS OTHERS MEETING",
    );
    assert_eq!(
        r,
        "Several statuses? Put a comma before each of \"FAMILY\", \"FRIENDS\" and \"OTHERS\" \
         that starts one. One text? Put it in quotes."
    );
    assert_eq!(segments(&r), 1, "{r}");
    let r = b.send(OWNER, "状态 全部 忙 家人 空闲 朋友 其他 开会");
    assert_eq!(
        r,
        "是几个状态吗？请在“家人”、“朋友”、“其他”中开始新状态的词前加逗号。如是一句话，请加引号。"
    );
    assert_eq!(segments(&r), 1, "{r}");
    assert!(b.updates(MUM).is_empty());
    // A user group: only if the subscriber has it.
    let r = b.send(OWNER, "STATUS FAMILY BUSY WORK MEETING");
    assert_eq!(
        r,
        "Set: FAMILY sees \"BUSY WORK MEETING\". 2 contacts will be told."
    );
    b.send(OWNER, "GROUP WORK ADD 13500135000");
    let r = b.send(OWNER, "STATUS FAMILY BUSY WORK MEETING");
    assert!(
        r.starts_with(
            "Two statuses? Put a comma before \"WORK\": STATUS FAMILY BUSY, WORK MEETING."
        ),
        "{r}"
    );
    // Quoted, it is the text.
    let r = b.send(OWNER, "STATUS FAMILY \"BUSY COLLEAGUES MEETING\"");
    assert_eq!(
        r,
        "Set: FAMILY sees \"BUSY COLLEAGUES MEETING\". 2 contacts will be told."
    );
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 5PM, COLLEAGUES MEETING");
    assert_eq!(
        r,
        "Set: FAMILY sees BUSY until 17:00; COLLEAGUES sees MEETING. 3 contacts will be told."
    );
}

#[test]
fn a_comma_inside_free_text_asks_for_quotes_in_both_languages() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY At lunch, back soon");
    assert_eq!(
        r,
        "A status with a comma or ; must be in quotes: STATUS FAMILY \"At lunch, back soon\""
    );
    assert_eq!(segments(&r), 1, "{r}");
    let r = b.send(OWNER, "STATUS FAMILY At lunch, back");
    assert_eq!(
        r,
        "A status with a comma or ; must be in quotes: STATUS FAMILY \"At lunch, back\""
    );
    let r = b.send(OWNER, "状态 家人 在吃饭，马上回来");
    assert_eq!(
        r,
        "含逗号或分号的状态须加引号：状态 家人 \"在吃饭,马上回来\""
    );
    assert_eq!(segments(&r), 1, "{r}");
    // A semicolon separates as a comma does, and the reply says so.
    let r = b.send(OWNER, "STATUS FAMILY At lunch; back");
    assert_eq!(
        r,
        "A status with a comma or ; must be in quotes: STATUS FAMILY \"At lunch; back\""
    );
    assert!(b.updates(MUM).is_empty());
    // Quoted, it is set.
    let r = b.send(OWNER, "STATUS FAMILY \"At lunch, back soon\"");
    assert_eq!(
        r,
        "Set: FAMILY sees \"At lunch, back soon\". 2 contacts will be told."
    );
    // With a group of that name, the comma separates, as typed.
    b.send(OWNER, "GROUP BACK ADD 13500135000");
    let r = b.send(OWNER, "STATUS FAMILY At lunch, back soon");
    assert_eq!(
        r,
        "Set: FAMILY sees \"At lunch\"; BACK sees \"soon\". 3 contacts will be told."
    );
}

#[test]
fn a_page_before_the_first_or_too_big_says_so_and_how_many_there_are() {
    let mut b = Bench::with(ServiceConfig {
        page_size: 2,
        ..ServiceConfig::default()
    });
    for text in ["GROUPS 0", "GROUPS -1", "GROUP 0"] {
        assert_eq!(
            b.send(OWNER, text),
            "Pages start at 1: your groups fit on one page. GROUPS shows it.",
            "{text}"
        );
    }
    assert_eq!(
        b.send(OWNER, "GROUPS 99999999999999999999"),
        "No such page: your groups fit on one page. GROUPS shows it."
    );
    assert_eq!(
        b.send(OWNER, "分组 -1"),
        "页码从1开始：你的分组只有1页，发送“分组”查看。"
    );
    assert_eq!(
        b.send(OWNER, "STATUS 0"),
        "Pages start at 1: your statuses fit on one page. STATUS shows it."
    );
    assert_eq!(
        b.send(OWNER, "STATUS 99999999999999999999"),
        "No such page: your statuses fit on one page. STATUS shows it."
    );
    b.send(OWNER, "GROUP WORK ADD 13900139001 13900139002 13900139003");
    for text in ["GROUP WORK 0", "GROUP WORK -1"] {
        assert_eq!(
            b.send(OWNER, text),
            "Pages start at 1: the members of WORK fit on 2 pages. GROUP WORK shows the first.",
            "{text}"
        );
    }
    assert_eq!(
        b.send(OWNER, "GROUP WORK 99999999999999999999"),
        "No such page: the members of WORK fit on 2 pages. GROUP WORK 2 shows the last."
    );
    assert_eq!(
        b.send(OWNER, "分组 WORK 0"),
        "页码从1开始：WORK的成员共2页，发送“分组 WORK”查看第一页。"
    );
    // A phone number after GROUP g was meant to be added: the usage says how.
    let r = b.send(OWNER, "GROUP WORK 13900139004");
    assert!(
        r.starts_with("\"13900139004\" is not a page or id number. Try: GROUP FAMILY ADD"),
        "{r}"
    );
    add_presets(&b, 7);
    for text in ["AVATARS 0", "AVATARS -1"] {
        assert_eq!(
            b.send(OWNER, text),
            "Pages start at 1: the avatars fit on 2 pages. AVATARS shows the first.",
            "{text}"
        );
    }
    assert_eq!(
        b.send(OWNER, "AVATARS 99999999999999999999"),
        "No such page: the avatars fit on 2 pages. AVATARS 2 shows the last."
    );
    assert_eq!(
        b.send(OWNER, "头像库 0"),
        "页码从1开始：头像库共2页，发送“头像库”查看第一页。"
    );
}

#[test]
fn a_page_past_the_last_says_there_is_none_and_how_many_there_are() {
    let mut b = Bench::with(ServiceConfig {
        page_size: 2,
        ..ServiceConfig::default()
    });
    // GROUPS: one page, then two once long statuses fill more than one reply.
    assert_eq!(
        b.send(OWNER, "GROUPS 9"),
        "No page 9: your groups fit on one page. GROUPS shows it."
    );
    for (i, g) in ["GOLF", "CHESS", "CHOIR", "BRIDGE"].iter().enumerate() {
        b.send(OWNER, &format!("GROUP {g} ADD 1390013900{i}"));
    }
    b.send(
        OWNER,
        &format!("STATUS ALL \"{}\"", "Away on a long trip".repeat(3)),
    );
    assert_eq!(
        b.send(OWNER, "GROUPS 9"),
        "No page 9: your groups fit on 2 pages. GROUPS 2 shows the last."
    );
    assert!(b.send(OWNER, "GROUPS 2").starts_with("Your groups (2/2): "));
    assert!(b.send(OWNER, "GROUPS").starts_with("Your groups (1/2): "));
    assert!(b.send(OWNER, "分组 2").starts_with("你的分组（2/5）："));
    // In Chinese (UCS-2, 67 characters a segment) the same lines take more pages.
    assert_eq!(
        b.send(OWNER, "分组 9"),
        "没有第9页：你的分组共5页，发送“分组 5”查看最后一页。"
    );
    // GROUP g page.
    b.send(OWNER, "GROUP WORK ADD 13900139001 13900139002 13900139003");
    assert_eq!(
        b.send(OWNER, "GROUP WORK 3"),
        "No page 3: the members of WORK fit on 2 pages. GROUP WORK 2 shows the last."
    );
    assert_eq!(
        b.send(OWNER, "分组 家人 2"),
        "家人没有成员。添加：分组 家人 加 13900139000"
    );
    assert_eq!(
        b.send(OWNER, "分组 WORK 3"),
        "没有第3页：WORK的成员共2页，发送“分组 WORK 2”查看最后一页。"
    );
    assert_eq!(
        b.send(OWNER, "GROUP WORK 2"),
        "WORK (3), page 2/2: +8613900139003."
    );
    // AVATARS page.
    add_presets(&b, 7);
    assert_eq!(
        b.send(OWNER, "AVATARS 9"),
        "No page 9: the avatars fit on 2 pages. AVATARS 2 shows the last."
    );
    assert_eq!(
        b.send(OWNER, "头像库 9"),
        "没有第9页：头像库共2页，发送“头像库 2”查看最后一页。"
    );
    assert!(b
        .send(OWNER, "AVATARS 2")
        .starts_with("Avatars 2/2: 6 Pic6, 7 Pic7."));
}

/// A quoted status keeps the subscriber's own punctuation: its contacts read the Chinese comma
/// and question mark typed, not the ASCII ones the parser's folding made of them.
#[test]
fn a_quoted_status_keeps_its_full_width_punctuation() {
    let mut b = Bench::new();
    b.family_of_two();
    b.flush();
    let r = b.send(OWNER, "状态 家人 “开会中，稍后回电？”");
    assert!(r.contains("开会中，稍后回电？"), "{r}");
    let mum = b.updates(MUM);
    assert_eq!(mum.len(), 1, "{mum:?}");
    assert!(mum[0].contains("开会中，稍后回电？"), "{mum:?}");
}

/// `NAME OFF` removes the display name: WHO and later updates show the number alone.
#[test]
fn name_off_leaves_contacts_the_number_alone() {
    let mut b = Bench::family_seeing_free();
    assert_eq!(
        b.send(OWNER, "NAME OFF"),
        "Your name is removed: your contacts will see your number only."
    );
    assert_eq!(b.send(MUM, "WHO 13800138000"), "+8613800138000: FREE.");
    b.send(OWNER, "STATUS FAMILY BUSY");
    let update = b.updates(MUM).pop().unwrap();
    assert!(update.starts_with("+8613800138000: BUSY."), "{update}");
}

#[test]
fn the_confirmation_of_a_timed_status_reads_back_as_the_same_status() {
    let mut b = Bench::new();
    b.family_of_two();
    // At 14:30: what the reply says is what a subscriber may send back.
    let r = b.send(OWNER, "status friends busy until tomorrow 09:00");
    assert!(
        r.starts_with("Set: FRIENDS sees BUSY until tomorrow 09:00."),
        "{r}"
    );
    let r = b.send(OWNER, "STATUS FAMILY FREE UNTIL TOMORROW 15:00");
    assert!(
        r.starts_with("Set: FAMILY sees FREE until tomorrow 15:00."),
        "{r}"
    );
    let r = b.send(OWNER, "状态 家人 忙 至明天09:00");
    assert!(r.starts_with("已设置：家人看到“忙碌”至明天09:00。"), "{r}");
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL 24:00");
    assert!(
        r.starts_with("Set: FAMILY sees BUSY until midnight."),
        "{r}"
    );
    let r = b.send(OWNER, "STATUS FAMILY BUSY TO 15:00");
    assert!(r.starts_with("Set: FAMILY sees BUSY until 15:00."), "{r}");
    // A dangling UNTIL is refused, and nothing is sent.
    let before = b.all_updates().len();
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL");
    assert!(r.contains("not a time I can read"), "{r}");
    let r = b.send(OWNER, "STATUS FAMILY BUSY UNTIL TOMORROW");
    assert!(r.contains("not a time I can read"), "{r}");
    assert_eq!(b.all_updates().len(), before);
}

#[test]
fn a_status_slip_gets_the_command_meant_and_changes_nothing() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMILY METING");
    assert_eq!(
        r,
        "\"METING\"? Did you mean: STATUS FAMILY MEETING. A text? Put it in quotes."
    );
    let r = b.send(OWNER, "status family bsy for 2h");
    assert!(
        r.contains("Did you mean: status family BUSY for 2h."),
        "{r}"
    );
    let r = b.send(OWNER, "STATUS FAMILY COLLEAGUES BUSY");
    assert!(
        r.contains("Did you mean: STATUS FAMILY BUSY, COLLEAGUES BUSY."),
        "{r}"
    );
    let r = b.send(OWNER, "状态 家人 同事 忙");
    assert!(r.contains("你是不是想发：状态 家人 忙，同事 忙"), "{r}");
    // A group of one's own, named where the status goes: asked about only when it exists.
    b.send(OWNER, "GROUP WORK ADD 13500135000");
    let r = b.send(OWNER, "STATUS FAMILY WORK BUSY");
    assert!(
        r.contains("Did you mean: STATUS FAMILY BUSY, WORK BUSY."),
        "{r}"
    );
    assert!(b.all_updates().is_empty(), "{:?}", b.all_updates());
    let r = b.send(OWNER, "STATUS FAMILY GYM BUSY");
    assert!(r.starts_with("Set: FAMILY sees \"GYM BUSY\"."), "{r}");
    // A real word stays a text.
    let r = b.send(OWNER, "STATUS FAMILY Diving");
    assert!(r.starts_with("Set: FAMILY sees \"Diving\"."), "{r}");
}

#[test]
fn a_group_a_typo_away_from_one_of_the_senders_is_offered() {
    let mut b = Bench::new();
    b.family_of_two();
    let r = b.send(OWNER, "STATUS FAMLY FREE");
    assert_eq!(
        r,
        "You have no group FAMLY. Did you mean FAMILY? GROUPS lists yours."
    );
    b.send(OWNER, "GROUP WORK ADD 13500135000");
    let r = b.send(OWNER, "STATUS WROK FREE");
    assert!(
        r.starts_with("You have no group WROK. Did you mean WORK?"),
        "{r}"
    );
    let r = b.send(OWNER, "GROUP WROK");
    assert!(
        r.starts_with("You have no group WROK. Did you mean WORK?"),
        "{r}"
    );
    // Nothing near: as before.
    let r = b.send(OWNER, "STATUS GOLF FREE");
    assert_eq!(r, "You have no group GOLF. GROUPS lists yours.");
    let r = b.send(OWNER, "状态 FAMLY 忙");
    assert!(r.contains("是不是家人"), "{r}");
    assert!(b.all_updates().is_empty());
}

/// The single queued update to each contact, as (to, status shown), for a terse comparison.
fn told(b: &Bench) -> Vec<(String, String)> {
    b.all_updates()
        .into_iter()
        .map(|(to, body)| {
            let shown = body
                .split("): ")
                .nth(1)
                .and_then(|r| r.split('.').next())
                .unwrap_or(&body)
                .to_string();
            (to, shown)
        })
        .collect()
}

#[test]
fn a_membership_change_tells_exactly_the_contacts_whose_view_changed() {
    let mut b = Bench::new();
    b.family_of_two();
    // Dad is in FAMILY and COLLEAGUES; nothing was set yet, so nobody's view moved.
    let o = b.outcome(OWNER, "GROUP COLLEAGUES ADD 13700137000");
    assert_eq!(o.notified, 0);
    b.send(OWNER, "STATUS OTHERS BUSY");
    b.send(OWNER, "STATUS COLLEAGUES MEETING");
    b.send(OWNER, "STATUS FAMILY DRIVING");
    b.flush();
    assert!(b.send(DAD, "WHO 13800138000").ends_with("DRIVING."));
    // Out of FAMILY, Dad sees COLLEAGUES' MEETING: he is told, and nobody else.
    let o = b.outcome(OWNER, "GROUP FAMILY DEL 13700137000");
    assert_eq!(o.notified, 1);
    assert_eq!(told(&b), [(DAD.to_string(), "MEETING".to_string())]);
    assert!(b.send(DAD, "WHO 13800138000").ends_with("MEETING."));
    b.flush();
    // A stranger (OTHERS: BUSY) added to FAMILY now sees DRIVING, and is told so.
    let o = b.outcome(OWNER, "GROUP FAMILY ADD 13500135000 13700137000");
    assert_eq!(o.notified, 2);
    assert_eq!(
        told(&b),
        [
            (STRANGER.to_string(), "DRIVING".to_string()),
            (DAD.to_string(), "DRIVING".to_string())
        ]
    );
    b.flush();
    // A group that is not the most recently set one changes nobody's view.
    let o = b.outcome(OWNER, "GROUP FRIENDS ADD 13500135000 13900139000");
    assert_eq!(o.notified, 0);
    assert!(told(&b).is_empty());
    // Who opted out is not told. FAMILY dropped: Dad falls back to MEETING, Mum (FAMILY,
    // FRIENDS) to FRIENDS' STANDBY; the stranger sent STOP.
    b.send(STRANGER, "STOP 13800138000");
    let o = b.outcome(OWNER, "GROUP FAMILY DROP");
    assert_eq!(o.notified, 2);
    assert_eq!(
        told(&b),
        [
            (DAD.to_string(), "MEETING".to_string()),
            (MUM.to_string(), "STANDBY".to_string())
        ]
    );
    b.flush();
    // A user group dropped: its member sees what their other group shows.
    b.send(OWNER, "GROUP WORK ADD 13600136000");
    b.send(OWNER, "STATUS WORK FREE");
    b.flush();
    let o = b.outcome(OWNER, "GROUP WORK DROP");
    assert_eq!(o.notified, 1);
    assert_eq!(told(&b), [(BOSS.to_string(), "MEETING".to_string())]);
    b.flush();
    // Renaming a group moves nobody.
    b.send(OWNER, "GROUP TEAM ADD 13600136000");
    b.send(OWNER, "STATUS TEAM FREE");
    b.flush();
    assert_eq!(b.outcome(OWNER, "GROUP TEAM RENAME CREW").notified, 0);
    // Taken out of every group, a contact is OTHERS, who are never told.
    let o = b.outcome(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    assert_eq!(o.notified, 0, "Boss is still in CREW: FREE");
    let o = b.outcome(OWNER, "GROUP CREW DEL 13600136000");
    assert_eq!(o.notified, 0, "Boss is OTHERS now");
    assert!(told(&b).is_empty(), "{:?}", told(&b));
}

#[test]
fn a_membership_change_follows_the_fan_out_rules_quota_overrides_and_language() {
    let mut b = Bench::with(ServiceConfig {
        hourly_change_quota: 1,
        notify_incall: false,
        ..ServiceConfig::default()
    });
    b.family_of_two();
    b.send(OWNER, "LANG ZH");
    b.send(OWNER, "STATUS FAMILY FREE");
    b.flush();
    // Past the hourly quota the update is held (and coalesced), like a STATUS's.
    b.now += 1000;
    let o = b.outcome(OWNER, "GROUP FAMILY ADD 13500135000");
    assert!(o.deferred);
    let held = b.queued_updates(STRANGER);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].1, T0 + 3_600_000, "held for the hour");
    // In the owner's language (the stranger uses no service).
    assert!(held[0].0.contains("空闲"), "{held:?}");
    b.flush();
    // During a call (not told by SMS) a new member is told the status under the call.
    b.now += 3_600_000;
    b.event(OWNER, NetworkEvent::CallStarted);
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    b.send(OWNER, "GROUP COLLEAGUES ADD 13600136000");
    assert!(told(&b).is_empty());
    b.send(OWNER, "GROUP FAMILY ADD 13600136000");
    let boss = b.updates(BOSS);
    assert_eq!(boss.len(), 1, "{boss:?}");
    assert!(boss[0].contains("空闲"), "{boss:?}");
    b.flush();
    // Switched off: every audience shows OFF, so a move changes nobody's view.
    b.event(OWNER, NetworkEvent::PowerOff);
    b.flush();
    b.send(OWNER, "GROUP FAMILY DEL 13600136000");
    assert!(told(&b).is_empty(), "{:?}", told(&b));
}

#[test]
fn a_contact_who_becomes_allowed_to_see_the_avatar_gets_it_pushed() {
    const NEW: &str = "+8613400134000";
    let mut b = Bench::new();
    b.family_of_two();
    add_presets(&b, 5);
    b.send(OWNER, "AVATAR 3");
    assert_eq!(pushes(&b).len(), 3);
    b.flush();
    // A number that was no contact, added to a group: the push, with the link WHO gives it.
    let r = b.send(OWNER, "GROUP FAMILY ADD 13500135000");
    assert!(r.starts_with("FAMILY now has 3 members."), "{r}");
    let p = pushes(&b);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, STRANGER);
    let who = b.send(STRANGER, "WHO 13800138000");
    assert!(who.ends_with(&format!("Photo: {}", p[0].1)), "{who}");
    b.flush();
    // A contact already (in another group): nothing new to push.
    b.send(OWNER, "GROUP FRIENDS ADD 13900139000");
    assert!(pushes(&b).is_empty());
    // A handset without WAP Push gets the link by SMS; one who sent STOP gets nothing.
    let tx = b.conn.transaction().unwrap();
    avatar::set_wap_push(&tx, NEW, false).unwrap();
    tx.commit().unwrap();
    b.send(BOSS, "STOP 13800138000");
    b.send(OWNER, "GROUP CLASSMATES DEL 13600136000");
    b.send(OWNER, "GROUP COLLEAGUES DEL 13600136000");
    b.send(OWNER, "GROUP CLASSMATES ADD 13400134000 13600136000");
    assert!(pushes(&b).is_empty());
    let link = b.updates(NEW);
    assert_eq!(link.len(), 1, "{link:?}");
    assert!(link[0].contains("new caller picture: http://127.0.0.1:8080/a/"));
    assert!(b.updates(BOSS).is_empty());
    b.send(BOSS, "START 13800138000");
    b.flush();
    // PRIVACY NOBODY: an avatar chosen then goes to nobody, and nor does a new contact...
    b.send(OWNER, "PRIVACY NOBODY");
    let r = b.send(OWNER, "AVATAR 5");
    assert!(
        r.starts_with("Your avatar is now 5 Pic5. Nobody sees it"),
        "{r}"
    );
    b.send(OWNER, "GROUP FRIENDS ADD 13700137000");
    b.send(OWNER, "GROUP CLASSMATES DEL 13400134000");
    b.send(OWNER, "GROUP CLASSMATES ADD 13400134000");
    assert!(pushes(&b).is_empty());
    assert!(b.updates(NEW).is_empty());
    // ... until the contacts may see it again: then every contact gets the new picture.
    let o = b.outcome(OWNER, "PRIVACY CONTACTS");
    assert_eq!(o.notified, 5);
    let to: Vec<String> = pushes(&b).into_iter().map(|p| p.0).collect();
    assert_eq!(to, [STRANGER, BOSS, DAD, MUM]);
    assert_eq!(b.updates(NEW).len(), 1, "by SMS");
    b.flush();
    // Between CONTACTS and EVERYONE the contacts already have it.
    b.send(OWNER, "PRIVACY EVERYONE");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert!(pushes(&b).is_empty());
    // NOBODY to EVERYONE opens it too (here for a picture the handsets do not have).
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "AVATAR 4");
    b.send(OWNER, "PRIVACY EVERYONE");
    assert_eq!(pushes(&b).len(), 4);
    b.flush();
    // No avatar: nothing to push to a new contact, nor on opening.
    b.send(OWNER, "AVATAR OFF");
    assert!(pushes(&b).is_empty(), "a push cannot take a picture back");
    b.send(OWNER, "GROUP WORK ADD 13300133000");
    b.send(OWNER, "PRIVACY NOBODY");
    b.send(OWNER, "PRIVACY CONTACTS");
    assert!(pushes(&b).is_empty());
    assert!(b.updates("+8613300133000").is_empty());
}
