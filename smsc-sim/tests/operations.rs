//! replace_sm (SMPP 3.4 §4.10) and submit_multi (§4.5) against a running simulator over
//! loopback TCP: what the handsets get, the receipts, the MT records, the error statuses and
//! malformed PDUs.

mod common;

use std::str::FromStr;
use std::time::Duration;

use common::{message_id, raw_pdu, text, tlv, Client, Mode};
use rusmpp::pdus::{CancelSm, QuerySm, ReplaceSm, SubmitMulti};
use rusmpp::tlvs::{TlvTag, TlvValue};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{
    DataCoding, DestAddress, DistributionListName, EsmClass, MessageState, Npi, RegisteredDelivery,
    ReplaceIfPresentFlag, SmeAddress, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::receipt::{DeliveryReceipt, ReceiptStatus};
use smsc_sim::{ErrorFault, Faults, MtFilter, SimConfig, SimHandle, Simulator};

const T: Duration = Duration::from_secs(5);

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg.with_account("esme", "secret"))
        .await
        .expect("start")
}

fn cs<const N: usize>(s: &str) -> COctetString<1, N> {
    COctetString::from_str(s).unwrap()
}

/// A replace_sm of `id` from source `source` with the text `new` and `registered`.
fn replace(id: &str, source: &str, new: &str, registered: u8) -> ReplaceSm {
    ReplaceSm::builder()
        .message_id(cs(id))
        .source_addr_ton(Ton::Unknown)
        .source_addr_npi(Npi::Isdn)
        .source_addr(cs(source))
        .registered_delivery(RegisteredDelivery::from(registered))
        .short_message(OctetString::from_vec(new.as_bytes().to_vec()).unwrap())
        .build()
}

fn query(id: &str) -> QuerySm {
    QuerySm::builder()
        .message_id(cs(id))
        .source_addr(cs("10086"))
        .build()
}

fn state(r: &Command) -> MessageState {
    match r.pdu() {
        Some(Pdu::QuerySmResp(q)) => q.message_state,
        _ => panic!("not a query_sm_resp: {r:?}"),
    }
}

fn receipt_of(d: &rusmpp::pdus::DeliverSm) -> DeliveryReceipt {
    let t = String::from_utf8(d.short_message().as_ref().to_vec()).unwrap();
    DeliveryReceipt::parse(&t).unwrap()
}

fn receipted(d: &rusmpp::pdus::DeliverSm) -> String {
    match tlv(d, TlvTag::ReceiptedMessageId) {
        Some(TlvValue::ReceiptedMessageId(s)) => s.as_str().to_string(),
        o => panic!("no receipted_message_id: {o:?}"),
    }
}

fn sme(addr: &str) -> DestAddress {
    DestAddress::SmeAddress(SmeAddress::new(Ton::International, Npi::Isdn, cs(addr)))
}

fn list(name: &str) -> DestAddress {
    DestAddress::DistributionListName(DistributionListName::new(cs(name)))
}

/// A GSM-7 (ASCII) text submit_multi from 10086 to `dests`.
fn multi(dests: Vec<DestAddress>, t: &str, registered: u8) -> SubmitMulti {
    SubmitMulti::builder()
        .source_addr_ton(Ton::Unknown)
        .source_addr_npi(Npi::Isdn)
        .source_addr(cs("10086"))
        .dest_address(dests)
        .esm_class(EsmClass::from(0))
        .registered_delivery(RegisteredDelivery::from(registered))
        .data_coding(DataCoding::from(0))
        .short_message(OctetString::from_vec(t.as_bytes().to_vec()).unwrap())
        .build()
}

/// The message id and the unsuccessful destinations (address, status) of a
/// submit_multi_resp.
fn multi_resp(c: &Command) -> (String, Vec<(String, CommandStatus)>) {
    match c.pdu() {
        Some(Pdu::SubmitMultiResp(r)) => (
            r.message_id.as_str().to_string(),
            r.unsuccess_sme()
                .iter()
                .map(|u| (u.destination_addr.as_str().to_string(), u.error_status_code))
                .collect(),
        ),
        other => panic!("not a submit_multi_resp: {other:?} status {:?}", c.status()),
    }
}

/// The session still answers: an enquire_link gets its response.
async fn still_answers(c: &mut Client) {
    let r = c.request(Pdu::EnquireLink).await;
    assert_eq!(r.id(), CommandId::EnquireLinkResp, "{r:?}");
}

/// A message still en route (a receipt delay) is replaced: the handset gets only the new
/// text, the MT record shows it (and the text before), the one receipt refers to the same
/// message id and quotes the new text, and the message is then delivered.
#[tokio::test]
async fn a_pending_message_is_replaced_before_the_handset_gets_it() {
    let h = sim(SimConfig::local().with_receipt_rule("*=DELIVRD@800".parse().unwrap())).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let phone = "8613800138000";
    let id = message_id(&c.submit(text(phone, "old text", 1)).await);
    assert!(h.handset(phone).texts().is_empty(), "delivered too early");
    let r = c.request(replace(&id, "10086", "new text", 1)).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::ReplaceSmResp, CommandStatus::EsmeRok),
        "{r:?}"
    );
    // The record shows the replacement at once.
    let recs = h.mt_messages(&MtFilter::to(phone));
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].message_id, id);
    assert_eq!(recs[0].text, "new text");
    assert_eq!(recs[0].short_message, b"new text");
    assert_eq!(recs[0].text_before_replace.as_deref(), Some("old text"));
    assert!(recs[0].replaced_at_ms.is_some());
    let url = h.http_url().unwrap();
    let body = reqwest::get(format!("{url}/mt?dest={phone}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["text"], "new text", "{body}");
    assert_eq!(v[0]["text_before_replace"], "old text", "{body}");
    // The handset gets the new text only, when the delay is over.
    let view = h.wait_for_inbox(phone, 1, T).await.unwrap();
    assert_eq!(view.texts(), ["new text"]);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), id);
    let rc = receipt_of(&d);
    assert_eq!(rc.stat, Some(ReceiptStatus::Delivered));
    assert_eq!(rc.text.as_deref(), Some("new text"));
    // One receipt: the one planned before the replace is not sent.
    assert_eq!(
        c.count_until_quiet(CommandId::DeliverSm, Duration::from_millis(1200))
            .await,
        0
    );
    assert_eq!(h.handset(phone).texts(), ["new text"]);
    assert_eq!(state(&c.request(query(&id)).await), MessageState::Delivered);
    // Delivered now: too late to replace.
    let r = c.request(replace(&id, "10086", "newer", 1)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRreplacefail, "{r:?}");
    h.shutdown().await;
}

/// `text(dest, t, 1)` with `replace_if_present_flag` 1.
fn replacing(dest: &str, t: &str) -> rusmpp::pdus::SubmitSm {
    let mut sm = text(dest, t, 1);
    sm.replace_if_present_flag = ReplaceIfPresentFlag::Replace;
    sm
}

/// submit_sm with `replace_if_present_flag` (SMPP 3.4 §5.2.18): a message still pending from
/// the same source to the same destination with the same service_type is replaced by the
/// new one (the handset gets only the second text, one receipt, the original message id
/// answered); without the flag both are delivered.
#[tokio::test]
async fn submit_sm_with_replace_if_present_replaces_the_pending_message() {
    let h = sim(SimConfig::local().with_receipt_rule("*=DELIVRD@800".parse().unwrap())).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let phone = "8613800138000";
    let first = message_id(&c.submit(replacing(phone, "first text")).await);
    assert!(h.handset(phone).texts().is_empty(), "delivered too early");
    let second = message_id(&c.submit(replacing(phone, "second text")).await);
    assert_eq!(second, first, "the replaced message's id is answered");
    let recs = h.mt_messages(&MtFilter::to(phone));
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].text, "second text");
    assert_eq!(recs[0].text_before_replace.as_deref(), Some("first text"));
    let view = h.wait_for_inbox(phone, 1, T).await.unwrap();
    assert_eq!(view.texts(), ["second text"]);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), first);
    assert_eq!(receipt_of(&d).text.as_deref(), Some("second text"));
    assert_eq!(
        c.count_until_quiet(CommandId::DeliverSm, Duration::from_millis(1200))
            .await,
        0,
        "the first text's receipt is not sent"
    );
    assert_eq!(h.handset(phone).texts(), ["second text"]);
    // Without the flag, two messages: both arrive, each with its own id and receipt.
    let other = "8613800138001";
    let a = message_id(&c.submit(text(other, "one", 1)).await);
    let b = message_id(&c.submit(text(other, "two", 1)).await);
    assert_ne!(a, b);
    let view = h.wait_for_inbox(other, 2, T).await.unwrap();
    let mut texts = view.texts();
    texts.sort();
    assert_eq!(texts, ["one", "two"]);
    // With the flag but nothing pending (both delivered), a new message.
    let c3 = message_id(&c.submit(replacing(other, "three")).await);
    assert!(c3 != a && c3 != b, "{c3}");
    h.wait_for_inbox(other, 3, T).await.unwrap();
    h.shutdown().await;
}

/// replace_sm answers as SMPP 3.4 says: an id never issued (or another account's)
/// ESME_RINVMSGID; a wrong source address, a message already delivered or cancelled
/// ESME_RREPLACEFAIL; a canned message (sm_default_msg_id) the SMSC does not hold
/// ESME_RINVDFTMSGID. None of them
/// changes the message.
#[tokio::test]
async fn replace_sm_errors() {
    let h = sim(SimConfig::local()
        .with_account("other", "pw")
        .with_receipt_rule("8613900*=DELIVRD".parse().unwrap())
        .with_receipt_rule("*=DELIVRD@1500".parse().unwrap()))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut o = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        o.bind(Mode::Trx, "other", "pw").await,
        CommandStatus::EsmeRok
    );
    let phone = "8613800138000";
    let pending = message_id(&c.submit(text(phone, "pending", 0)).await);
    let st = |r: Command| {
        assert_eq!(r.id(), CommandId::ReplaceSmResp, "{r:?}");
        r.status()
    };
    assert_eq!(
        st(c.request(replace("ffff0000", "10086", "x", 0)).await),
        CommandStatus::EsmeRinvmsgid
    );
    assert_eq!(
        st(o.request(replace(&pending, "10086", "x", 0)).await),
        CommandStatus::EsmeRinvmsgid,
        "another account's message"
    );
    assert_eq!(
        st(c.request(replace(&pending, "10010", "x", 0)).await),
        CommandStatus::EsmeRreplacefail,
        "wrong source"
    );
    let mut canned = replace(&pending, "10086", "", 0);
    canned.sm_default_msg_id = 200;
    assert_eq!(
        st(c.request(canned).await),
        CommandStatus::EsmeRinvdftmsgid,
        "no canned message 200"
    );
    // Delivered at once (no delay for 8613900...): nothing pending to replace.
    let now = message_id(&c.submit(text("8613900139000", "at once", 0)).await);
    assert_eq!(h.handset("8613900139000").texts(), ["at once"]);
    assert_eq!(
        st(c.request(replace(&now, "10086", "x", 0)).await),
        CommandStatus::EsmeRreplacefail,
        "already delivered"
    );
    // Cancelled: gone.
    let gone = message_id(&c.submit(text(phone, "cancelled", 0)).await);
    let cancel = CancelSm::builder()
        .message_id(cs(&gone))
        .source_addr(cs("10086"))
        .build();
    assert_eq!(c.request(cancel).await.status(), CommandStatus::EsmeRok);
    assert_eq!(
        st(c.request(replace(&gone, "10086", "x", 0)).await),
        CommandStatus::EsmeRreplacefail,
        "cancelled"
    );
    // None of the refusals changed anything: the pending one arrives as submitted.
    assert_eq!(
        h.wait_for_inbox(phone, 1, T).await.unwrap().texts(),
        ["pending"]
    );
    let recs = h.mt_messages(&MtFilter::to(phone));
    assert!(recs.iter().all(|r| r.replaced_at_ms.is_none()), "{recs:?}");
    assert_eq!(h.handset("8613900139000").texts(), ["at once"]);
    h.shutdown().await;
}

/// submit_multi to three numbers, one of which the error fault refuses: one message id, the
/// refused one alone in unsuccess_sme with the fault's status, the other two receive the
/// message and a receipt each under that id; /mt (Rust API and HTTP) shows one record per
/// destination, each saying submit_multi.
#[tokio::test]
async fn submit_multi_lists_the_refused_destination_and_delivers_to_the_others() {
    let h = sim(SimConfig::local()).await;
    let (a, b, c3) = ("8613800138001", "8613800138002", "8613800138003");
    h.set_faults(Faults {
        error: Some(ErrorFault {
            status: 0x45,
            percent: 0.0,
            destinations: vec![b.into()],
        }),
        ..Faults::default()
    });
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c
        .request(multi(vec![sme(a), sme(b), sme(c3)], "to all", 1))
        .await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::SubmitMultiResp, CommandStatus::EsmeRok)
    );
    let (id, unsuccess) = multi_resp(&r);
    assert!(!id.is_empty());
    assert_eq!(unsuccess, [(b.to_string(), CommandStatus::EsmeRsubmitfail)]);
    assert_eq!(h.handset(a).texts(), ["to all"]);
    assert_eq!(h.handset(c3).texts(), ["to all"]);
    assert!(h.handset(b).texts().is_empty());
    // A receipt for each destination taken, all about the one message id.
    let mut from = Vec::new();
    for _ in 0..2 {
        let d = c.deliver().await;
        assert_eq!(receipted(&d), id);
        assert_eq!(receipt_of(&d).stat, Some(ReceiptStatus::Delivered));
        from.push(d.source_addr.as_str().to_string());
    }
    from.sort();
    assert_eq!(from, [a, c3]);
    assert_eq!(
        c.count_until_quiet(CommandId::DeliverSm, Duration::from_millis(300))
            .await,
        0
    );
    // One record per destination.
    let recs = h.mt_messages(&MtFilter::all());
    let seen: Vec<(&str, &str, &str, u32)> = recs
        .iter()
        .map(|r| (r.command, r.dest.as_str(), r.message_id.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("submit_multi", a, id.as_str(), 0),
            ("submit_multi", b, "", 0x45),
            ("submit_multi", c3, id.as_str(), 0),
        ]
    );
    let url = h.http_url().unwrap();
    let body = reqwest::get(format!("{url}/mt"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{body}");
    assert!(
        rows.iter().all(|r| r["command"] == "submit_multi"),
        "{body}"
    );
    assert_eq!(rows[1]["status_name"], "ESME_RSUBMITFAIL", "{body}");
    assert_eq!(state(&c.request(query(&id)).await), MessageState::Delivered);
    h.shutdown().await;
}

/// A distribution list name (the simulator holds none) and an invalid address are each an
/// unsuccess_sme entry (ESME_RINVDLNAME, ESME_RINVDSTADR), never dropped; a submit_multi
/// whose every destination fails is still answered ESME_ROK listing them all, with no
/// message id.
#[tokio::test]
async fn distribution_lists_and_bad_addresses_are_reported_unsuccessful() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let ok = "8613800138001";
    let r = c
        .request(multi(vec![list("friends"), sme(ok), sme("12ab")], "hi", 0))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    let (id, unsuccess) = multi_resp(&r);
    assert!(!id.is_empty());
    assert_eq!(
        unsuccess,
        [
            ("friends".to_string(), CommandStatus::EsmeRinvdlname),
            ("12ab".to_string(), CommandStatus::EsmeRinvdstadr),
        ]
    );
    assert_eq!(h.handset(ok).texts(), ["hi"]);
    let r = c.request(multi(vec![list("everyone")], "hi", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    assert_eq!(
        multi_resp(&r),
        (
            String::new(),
            vec![("everyone".to_string(), CommandStatus::EsmeRinvdlname)]
        )
    );
    let lists: Vec<_> = h
        .mt_messages(&MtFilter::all())
        .into_iter()
        .filter(|r| r.dest == "friends" || r.dest == "everyone")
        .map(|r| r.status)
        .collect();
    assert_eq!(lists, [0x34, 0x34]);
    h.shutdown().await;
}

/// A malformed submit_multi or replace_sm gets an answer and the session goes on: no
/// destination ESME_RINVNUMDESTS; a body cut short (number_of_dests past what follows, or
/// inside an address) ESME_RINVCMDLEN; an unknown dest_flag ESME_RINVDESTFLAG; each in the
/// command's own response.
#[tokio::test]
async fn malformed_submit_multi_and_replace_sm_are_answered() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.request(multi(Vec::new(), "nobody", 0)).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::SubmitMultiResp, CommandStatus::EsmeRinvnumdests)
    );
    still_answers(&mut c).await;
    // service_type, source (TON, NPI, address), number_of_dests 2, then one destination
    // and the rest of the body.
    let mut body = b"\0\x00\x0110086\0\x02".to_vec();
    body.extend_from_slice(b"\x01\x01\x018613800138000\0");
    let rest = [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
    // number_of_dests 2, and the body ends after the first.
    let more = body.clone();
    let mut cut = body.clone();
    cut.truncate(cut.len() - 5);
    let mut flag = body.clone();
    flag.extend_from_slice(b"\x03x\0");
    flag.extend_from_slice(&rest);
    let replace_cut = b"1\0\x00\x0110086\0\0\0".to_vec();
    for (seq, id, body, want_id, want) in [
        (50, 0x21, more, CommandId::SubmitMultiResp, 0x02),
        (51, 0x21, cut, CommandId::SubmitMultiResp, 0x02),
        (52, 0x21, flag, CommandId::SubmitMultiResp, 0x40),
        (53, 0x07, replace_cut, CommandId::ReplaceSmResp, 0x02),
        (54, 0x21, Vec::new(), CommandId::SubmitMultiResp, 0x02),
    ] {
        c.send_raw(&raw_pdu(id, seq, &body)).await;
        let r = c.response(seq).await;
        assert_eq!(
            (r.id(), u32::from(r.status())),
            (want_id, want),
            "seq {seq}"
        );
        still_answers(&mut c).await;
    }
    assert!(h.mt_messages(&MtFilter::all()).is_empty());
    // Before a bind neither is taken.
    let mut u = Client::connect(h.smpp_addr()).await;
    let r = u.request(multi(vec![sme("8613800138000")], "x", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvbndsts);
    let r = u.request(replace("1", "10086", "x", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvbndsts);
    h.shutdown().await;
}

/// A submit_multi still en route is replaced for every destination; once one destination
/// has it, the message can no longer be replaced.
#[tokio::test]
async fn a_pending_submit_multi_is_replaced_for_every_destination() {
    let h = sim(SimConfig::local()
        .with_receipt_rule("8613700*=DELIVRD".parse().unwrap())
        .with_receipt_rule("*=DELIVRD@700".parse().unwrap()))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (a, b) = ("8613800138001", "8613800138002");
    let r = c.request(multi(vec![sme(a), sme(b)], "draft", 0)).await;
    let (id, unsuccess) = multi_resp(&r);
    assert!(unsuccess.is_empty());
    let r = c.request(replace(&id, "10086", "final", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    assert_eq!(h.wait_for_inbox(a, 1, T).await.unwrap().texts(), ["final"]);
    assert_eq!(h.wait_for_inbox(b, 1, T).await.unwrap().texts(), ["final"]);
    let recs = h.mt_messages(&MtFilter::all());
    assert!(recs.iter().all(|r| r.text == "final"), "{recs:?}");
    // One destination delivered at once (8613700...), the other pending: not replaceable.
    let r = c
        .request(multi(vec![sme("8613700137000"), sme(a)], "mixed", 0))
        .await;
    let (mixed, _) = multi_resp(&r);
    let r = c.request(replace(&mixed, "10086", "changed", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRreplacefail, "{r:?}");
    assert_eq!(h.handset("8613700137000").texts(), ["mixed"]);
    h.shutdown().await;
}

/// sm_default_msg_id (SMPP 3.4 §5.2.20): a submit_sm with no text (sm_length 0) naming a
/// canned message the SMSC holds sends that message (GSM-7 or UCS-2 as its text needs), as
/// does a submit_multi to each destination and a replace_sm with no new text; an id it does
/// not hold is ESME_RINVDFTMSGID (0x63) and nothing is sent. The table is the config's (the
/// built-in one unless given); a message with its own text sends that text. Before, the id
/// was ignored: the handset got an empty message.
#[tokio::test]
async fn a_submit_without_text_sends_the_canned_message_its_sm_default_msg_id_names() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (a, b, d) = ("8613800138001", "8613800138002", "8613800138003");
    let canned = |dest: &str, id: u8, t: &str| {
        let mut sm = text(dest, t, 0);
        sm.sm_default_msg_id = id;
        sm
    };
    // The built-in table: 1 in English (GSM-7), 3 in Chinese (UCS-2).
    let r = c.submit(canned(a, 1, "")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    let r = c.submit(canned(b, 3, "")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    assert_eq!(h.handset(a).texts(), ["Please call me back."]);
    assert_eq!(h.handset(b).texts(), ["请回电。"]);
    let recs = h.mt_messages(&MtFilter::to(b));
    assert_eq!(recs[0].data_coding, 0x08, "{recs:?}");
    assert_eq!(recs[0].options.sm_default_msg_id, 3, "{recs:?}");
    // Its own text wins over the id.
    c.submit(canned(a, 1, "my own")).await;
    assert_eq!(h.handset(a).texts(), ["Please call me back.", "my own"]);
    // An id the SMSC does not hold: refused, whether or not the message has a text.
    for t in ["", "text"] {
        let r = c.submit(canned(d, 200, t)).await;
        assert_eq!(
            (r.id(), r.status()),
            (CommandId::SubmitSmResp, CommandStatus::EsmeRinvdftmsgid),
            "{t:?}"
        );
    }
    assert!(h.handset(d).texts().is_empty());
    // submit_multi: each destination gets the canned message.
    let mut m = multi(vec![sme(a), sme(d)], "", 0);
    m.sm_default_msg_id = 2;
    let r = c.request(m).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    let said = "I am in a meeting. I will call you later.";
    assert_eq!(h.handset(d).texts(), [said]);
    assert_eq!(h.handset(a).texts().last().copied(), Some(said));
    let mut m = multi(vec![sme(a), sme(d)], "", 0);
    m.sm_default_msg_id = 9;
    let r = c.request(m).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvdftmsgid, "{r:?}");
    h.shutdown().await;

    // A table of one's own (`--canned 7=...`): only its ids.
    let mut cfg = SimConfig::local().with_receipt_rule("*=DELIVRD@1000".parse().unwrap());
    cfg.canned_messages = [(7, "On my way".to_string())].into_iter().collect();
    let h = sim(cfg).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.submit(canned(a, 1, "")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvdftmsgid, "{r:?}");
    let id = message_id(&c.submit(canned(a, 7, "")).await);
    let recs = h.mt_messages(&MtFilter::to(a));
    assert!(
        recs.iter()
            .any(|m| m.message_id == id && m.text == "On my way"),
        "{recs:?}"
    );
    // replace_sm with no new text: the canned message it names.
    let mut r = replace(&id, "10086", "", 0);
    r.sm_default_msg_id = 7;
    let mut other = replace(&id, "10086", "", 0);
    other.sm_default_msg_id = 1;
    assert_eq!(
        c.request(other).await.status(),
        CommandStatus::EsmeRinvdftmsgid
    );
    assert_eq!(c.request(r).await.status(), CommandStatus::EsmeRok);
    let view = h.wait_for_inbox(a, 1, T).await.unwrap();
    assert_eq!(view.texts(), ["On my way"]);
    h.shutdown().await;
}

/// A submit_multi with an SME address over 20 characters (SMPP 3.4 §4.5.1.1 allows 20) refuses
/// that destination alone: it is listed in `unsuccess_sme` with ESME_RINVDSTADR (its first 20
/// characters, all the field holds) and recorded with the address as sent, and the other
/// destinations get the message. Before, the whole PDU was refused (rusmpp cannot read it).
/// Broken otherwise too (an unknown dest_flag after it), the whole PDU still is.
#[tokio::test]
async fn a_too_long_address_in_a_submit_multi_refuses_that_destination_alone() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (a, b) = ("8613800138001", "8613800138002");
    let long = "1".repeat(25);
    let sme = |addr: &str| [b"\x01\x01\x01".as_slice(), addr.as_bytes(), b"\0"].concat();
    let body = |dests: &[Vec<u8>]| {
        let mut body = b"\0\x00\x0110086\0".to_vec();
        body.push(dests.len() as u8);
        for d in dests {
            body.extend_from_slice(d);
        }
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        body
    };
    c.send_raw(&raw_pdu(0x21, 60, &body(&[sme(a), sme(&long), sme(b)])))
        .await;
    let r = c.response(60).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::SubmitMultiResp, CommandStatus::EsmeRok),
        "{r:?}"
    );
    let (id, unsuccess) = multi_resp(&r);
    assert!(!id.is_empty());
    assert_eq!(unsuccess, [("1".repeat(20), CommandStatus::EsmeRinvdstadr)]);
    assert_eq!(h.handset(a).texts(), ["hi"]);
    assert_eq!(h.handset(b).texts(), ["hi"]);
    let refused: Vec<_> = h
        .mt_messages(&MtFilter::all())
        .into_iter()
        .filter(|m| !m.accepted())
        .map(|m| (m.dest, m.status))
        .collect();
    assert_eq!(refused, [(long.clone(), 0x0B)]);
    still_answers(&mut c).await;
    // Broken otherwise too: the whole PDU, as before.
    c.send_raw(&raw_pdu(
        0x21,
        61,
        &body(&[sme(&long), b"\x03x\0".to_vec()]),
    ))
    .await;
    let r = c.response(61).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::SubmitMultiResp, CommandStatus::EsmeRinvdstadr)
    );
    still_answers(&mut c).await;
    h.shutdown().await;
}
