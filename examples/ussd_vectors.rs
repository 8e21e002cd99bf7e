//! `ussd_vectors`: prints the USSD `submit_sm` PDUs the gateway sends during scripted menu
//! sessions, for independent decoders to check (`tests/interop/ussd.sh` feeds them to tshark's
//! SMPP dissector and to the npm `smpp` 0.5.1 PDU parser).
//!
//! The sessions are driven through the real service: a [`Store`] on a temporary file,
//! [`Service::handle_mo`] to set the subscribers up (groups, language) and
//! [`Service::handle_ussd`] for every dialogue unit a handset sends; each returned
//! [`presence_gw::delivery::encode::UssdSubmit`] is encoded with
//! [`presence_gw::delivery::encode::build_ussd`] and framed with
//! [`sms_wire::framing::encode_command`], exactly as the gateway puts it on the wire.
//!
//! One record per line: `name<TAB>hex<TAB>json`, where hex is the whole PDU (SMPP 3.4 §4.4.1,
//! header included) and json holds the values a decoder must find: `command_id`, `sequence`
//! (the PDU header's sequence_number), `service_type`, `source`, `dest`, `dest_ton`,
//! `data_coding`, `ussd_service_op` (SMPP 3.4 §5.3.2.44), `session_number`, `session_sequence`
//! and `end_of_session` (the two octets of `its_session_info`, §5.3.2.43: octet 1 the session
//! number, octet 2 the sequence number << 1 | the end-of-session bit) and `text`. Those expected
//! values are literals written below from the menu design (issue 7, src/service/ussd.rs) and
//! wire-formats.md §4, never values read back from our own output.
//!
//! ```text
//! cargo run -q -p presence-gw --example ussd_vectors > records.tsv
//! ```
//! Exits non-zero (with the reason on stderr) if a step yields no PDU or cannot be encoded.

#![forbid(unsafe_code)]

use anyhow::{anyhow, Context};
use presence_gw::delivery::encode::{build_ussd, UssdSubmit};
use presence_gw::service::{Service, ServiceConfig, ServiceError};
use presence_gw::store::inbox::UssdTag;
use presence_gw::store::{Store, StoreOptions};
use rusmpp::{Command, CommandStatus};
use serde_json::{json, Value};

/// 2026-11-22 14:30 in UTC+8 (the service's default zone), so "for 1 hour" ends at 15:30.
const T0: i64 = 1_795_329_000_000;

/// The English subscriber (a family of two, so a FAMILY change tells 2 contacts).
const OWNER: &str = "+8613800138000";
/// The Chinese subscriber (chose Chinese replies by SMS first).
const ZH_USER: &str = "+8613700000001";
/// A subscriber who answers a menu that no longer exists.
const LATE_USER: &str = "+8613600000002";

/// `ussd_service_op` values of SMPP 3.4 §5.3.2.44 the handsets send.
const PSSR_INDICATION: u8 = 1;
const USSR_CONFIRM: u8 = 18;

/// One dialogue unit a handset sends, and what the gateway must answer.
struct Step {
    /// Record name.
    name: &'static str,
    /// The handset.
    from: &'static str,
    /// What the user typed (the dialled string for a new session).
    input: &'static str,
    /// `ussd_service_op` of the unit received.
    op_in: u8,
    /// `its_session_info` received: session number and sequence number (end bit clear).
    session_in: (u8, u8),
    /// The expected answer (json literal, without `sequence`, filled per record).
    expect: Value,
}

fn steps() -> Vec<Step> {
    vec![
        // --- English session 0x5A: *123# -> status for FAMILY, an invalid key, BUSY for 1 h.
        Step {
            name: "en_dial_main_menu",
            from: OWNER,
            input: "*123#",
            op_in: PSSR_INDICATION,
            session_in: (0x5A, 0),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 2,
                "session_number": 90, "session_sequence": 0, "end_of_session": 0,
                "text": "Presence\n1 Set my status\n2 My groups\n3 Avatar\n4 Who is it?\n00 Exit",
            }),
        },
        Step {
            name: "en_1_who_sees_it",
            from: OWNER,
            input: "1",
            op_in: USSR_CONFIRM,
            session_in: (0x5A, 1),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 2,
                "session_number": 90, "session_sequence": 1, "end_of_session": 0,
                "text": "Who sees it?\n1 FAMILY\n2 COLLEAGUES\n3 CLASSMATES\n4 FRIENDS\n5 OTHERS\n6 ALL\n0 Back",
            }),
        },
        Step {
            name: "en_1_status_for_family",
            from: OWNER,
            input: "1",
            op_in: USSR_CONFIRM,
            session_in: (0x5A, 2),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 2,
                "session_number": 90, "session_sequence": 2, "end_of_session": 0,
                "text": "Status for FAMILY:\n1 FREE\n2 BUSY\n3 MEETING\n4 DRIVING\n5 DND\n6 STANDBY\n0 Back",
            }),
        },
        Step {
            name: "en_9_invalid_choice",
            from: OWNER,
            input: "9",
            op_in: USSR_CONFIRM,
            session_in: (0x5A, 3),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 2,
                "session_number": 90, "session_sequence": 3, "end_of_session": 0,
                "text": "Invalid choice.\n1 FREE\n2 BUSY\n3 MEETING\n4 DRIVING\n5 DND\n6 STANDBY\n0 Back",
            }),
        },
        Step {
            name: "en_2_for_how_long",
            from: OWNER,
            input: "2",
            op_in: USSR_CONFIRM,
            session_in: (0x5A, 4),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 2,
                "session_number": 90, "session_sequence": 4, "end_of_session": 0,
                "text": "For how long?\n1 Until I change it\n2 1 hour\n3 2 hours\n4 4 hours\n0 Back",
            }),
        },
        Step {
            name: "en_2_final_set_busy",
            from: OWNER,
            input: "2",
            op_in: USSR_CONFIRM,
            session_in: (0x5A, 5),
            expect: json!({
                "dest": "8613800138000", "data_coding": 0, "ussd_service_op": 17,
                "session_number": 90, "session_sequence": 5, "end_of_session": 1,
                "text": "Set: FAMILY sees BUSY until 15:30. 2 contacts will be told.",
            }),
        },
        // --- Chinese session 0xC3 (a session number above 127): UCS-2 screens.
        Step {
            name: "zh_dial_main_menu",
            from: ZH_USER,
            input: "*123#",
            op_in: PSSR_INDICATION,
            session_in: (0xC3, 0),
            expect: json!({
                "dest": "8613700000001", "data_coding": 8, "ussd_service_op": 2,
                "session_number": 195, "session_sequence": 0, "end_of_session": 0,
                "text": "状态服务\n1 设置状态\n2 我的分组\n3 头像\n4 查询号码\n00 退出",
            }),
        },
        Step {
            name: "zh_1_who_sees_it",
            from: ZH_USER,
            input: "1",
            op_in: USSR_CONFIRM,
            session_in: (0xC3, 1),
            expect: json!({
                "dest": "8613700000001", "data_coding": 8, "ussd_service_op": 2,
                "session_number": 195, "session_sequence": 1, "end_of_session": 0,
                "text": "给谁看？\n1 家人\n2 同事\n3 同学\n4 朋友\n5 其他\n6 全部\n0 返回",
            }),
        },
        Step {
            name: "zh_00_goodbye",
            from: ZH_USER,
            input: "00",
            op_in: USSR_CONFIRM,
            session_in: (0xC3, 2),
            expect: json!({
                "dest": "8613700000001", "data_coding": 8, "ussd_service_op": 17,
                "session_number": 195, "session_sequence": 2, "end_of_session": 1,
                "text": "再见。",
            }),
        },
        // --- An answer to a session the gateway no longer has: closed with a hint, the
        // highest sequence number (127) to check all seven bits.
        Step {
            name: "late_answer_session_ended",
            from: LATE_USER,
            input: "1",
            op_in: USSR_CONFIRM,
            session_in: (0x01, 127),
            expect: json!({
                "dest": "8613600000002", "data_coding": 0, "ussd_service_op": 17,
                "session_number": 1, "session_sequence": 127, "end_of_session": 1,
                "text": "Your session has ended. Dial *123# again.",
            }),
        },
    ]
}

/// Run one SMS command for `from` through the service (subscriber setup).
fn sms(store: &Store, svc: &Service, from: &'static str, text: &'static str) -> anyhow::Result<()> {
    let svc = svc.clone();
    store
        .write_blocking(move |tx| svc.handle_mo(tx, T0, from, text).map(|_| ()))
        .with_context(|| format!("SMS {text:?} from {from}"))
}

/// Run one USSD dialogue unit through the service; the submit the gateway would send.
fn ussd(store: &Store, svc: &Service, step: &Step) -> anyhow::Result<UssdSubmit> {
    let svc = svc.clone();
    let (from, input, op) = (step.from, step.input, step.op_in);
    let (number, seq) = step.session_in;
    let tag = UssdTag {
        op,
        session: Some([number, seq << 1]),
    };
    store
        .write_blocking(move |tx| -> Result<_, ServiceError> {
            svc.handle_ussd(tx, T0, T0, from, "*123#", input, tag)
        })
        .with_context(|| format!("{}: handle_ussd", step.name))?
        .ok_or_else(|| anyhow!("{}: the service sent no answer", step.name))
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let store = Store::open(&dir.path().join("ussd.db"), StoreOptions::default())
        .context("opening the store")?;
    let svc = Service::new(ServiceConfig::default());

    sms(
        &store,
        &svc,
        OWNER,
        "GROUP FAMILY ADD 13900139000 13700137000",
    )?;
    sms(&store, &svc, ZH_USER, "语言 中文")?;

    for (i, step) in steps().into_iter().enumerate() {
        let submit = ussd(&store, &svc, &step)?;
        let sm = build_ussd(&submit).with_context(|| format!("{}: build_ussd", step.name))?;
        let sequence = u32::try_from(i + 1)?;
        let pdu =
            sms_wire::framing::encode_command(&Command::new(CommandStatus::EsmeRok, sequence, sm));
        let mut expect = step.expect;
        let obj = expect
            .as_object_mut()
            .ok_or_else(|| anyhow!("{}: expectation is not an object", step.name))?;
        // Common to every USSD submit of the default `[ussd]` settings.
        obj.insert("command_id".into(), json!(4));
        obj.insert("sequence".into(), json!(sequence));
        obj.insert("service_type".into(), json!("USSD"));
        obj.insert("source".into(), json!("123"));
        obj.insert("dest_ton".into(), json!(1));
        obj.insert("esm_class".into(), json!(0));
        obj.insert("registered_delivery".into(), json!(0));
        let hex: String = pdu.iter().map(|b| format!("{b:02x}")).collect();
        println!("{}\t{hex}\t{expect}", step.name);
    }
    store.close_blocking();
    Ok(())
}
