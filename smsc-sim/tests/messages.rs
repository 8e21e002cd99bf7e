//! Receipts, query/cancel, MO injection in every style, USSD sessions, handsets (out-of-order
//! reassembly, WAP Push with the href followed over HTTP) and the HTTP control API.

mod common;

use std::time::Duration;

use common::{message_id, submit, text, tlv, with_tlv, Client, Mode};
use rusmpp::pdus::{CancelSm, QuerySm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue as Sub, TlvTag, TlvValue};
use rusmpp::types::COctetString;
use rusmpp::values::{ItsSessionInfo, MessageState, ServiceType, UssdServiceOp};
use rusmpp::{CommandId, CommandStatus, Pdu};
use sms_wire::reassembly::{part_from_pdu, Insert, PartOrWhole, Reassembler};
use sms_wire::receipt::{DeliveryReceipt, ReceiptStatus};
use sms_wire::segment::SarInfo;
use sms_wire::wap_push::{push_segments, PushContent, ServiceIndication, WspOptions};
use smsc_sim::{
    DeliveryState, Faults, FetchState, IdStyle, MoEncoding, MoRequest, MoStyle, SimConfig,
    SimHandle, Simulator, UssdRequest,
};

const T: Duration = Duration::from_secs(5);

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg.with_account("esme", "secret"))
        .await
        .expect("start")
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

#[tokio::test]
async fn receipts_with_hex_ids() {
    let h = sim(SimConfig::local().with_receipt_rule("8613900*=UNDELIV".parse().unwrap())).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let id = message_id(&c.submit(text("8613800138000", "hello there", 1)).await);
    assert_eq!(id.len(), 8);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    let d = c.deliver().await;
    assert_eq!(u8::from(d.esm_class), 0x04);
    assert_eq!(receipted(&d), id);
    let r = receipt_of(&d);
    assert_eq!(r.id, id);
    assert_eq!(r.stat, Some(ReceiptStatus::Delivered));
    assert_eq!(r.text.as_deref(), Some("hello there"));
    assert!(matches!(
        tlv(&d, TlvTag::MessageState),
        Some(TlvValue::MessageState(MessageState::Delivered))
    ));

    let id2 = message_id(&c.submit(text("8613900139000", "x", 1)).await);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), id2);
    assert_eq!(receipt_of(&d).stat, Some(ReceiptStatus::Undeliverable));
    assert_eq!(d.source_addr.as_str(), "8613900139000");
    assert_eq!(d.destination_addr.as_str(), "10086");

    // registered_delivery 0: no receipt; 2 (failure only) with success: none either.
    c.submit(text("8613800138000", "quiet", 0)).await;
    c.submit(text("8613800138000", "quiet", 2)).await;
    assert!(c.try_read(Duration::from_millis(300)).await.is_none());

    let rs = h
        .wait_until("2 acked receipts", T, |h| {
            let r = h.receipts();
            r.iter()
                .all(|d| d.state == DeliveryState::Answered(0))
                .then_some(r)
        })
        .await
        .unwrap();
    assert_eq!(rs.len(), 2);
    assert_eq!(h.stats().receipts_acked, 2);
    h.shutdown().await;
}

/// With country code 86 a number's national and international forms are one subscriber
/// everywhere, not only in the handset view: in receipt rules, in error destinations and in
/// the `/mt?dest=` filter. A receipt's addresses keep the submit's TON/NPI, and an MO from a
/// handset comes as TON international digits without `+`. (From the exploratory test:
/// `8613900*=UNDELIV` missed `13900000009`, `/mt?dest=13900139000` found nothing, receipts
/// were always TON 1, and MO came as `+8613800138000`.)
#[tokio::test]
async fn national_and_international_forms_match_alike() {
    let h = sim(SimConfig::local()
        .with_receipt_rule("8613900*=UNDELIV".parse().unwrap())
        .with_receipt_rule("13800000001=EXPIRED".parse().unwrap())
        .with_faults(Faults {
            more_errors: vec![smsc_sim::ErrorFault {
                status: 0x0B,
                percent: 0.0,
                destinations: vec!["13700137000".into()],
            }],
            ..Faults::default()
        }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let national = |dest: &str, t: &str| {
        let mut sm = text(dest, t, 1);
        sm.dest_addr_ton = rusmpp::values::Ton::National;
        sm
    };
    // National form, TON 2: the prefix rule written internationally applies, and the receipt
    // comes from the number as submitted, TON 2 / NPI 1, to the submit's source TON 0 / NPI 1.
    let id = message_id(&c.submit(national("13900000009", "hi")).await);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), id);
    assert_eq!(receipt_of(&d).stat, Some(ReceiptStatus::Undeliverable));
    assert_eq!(d.source_addr.as_str(), "13900000009");
    assert_eq!(
        (u8::from(d.source_addr_ton), u8::from(d.source_addr_npi)),
        (2, 1)
    );
    assert_eq!(d.destination_addr.as_str(), "10086");
    assert_eq!(
        (u8::from(d.dest_addr_ton), u8::from(d.dest_addr_npi)),
        (0, 1)
    );
    // International form, TON 1: a number rule written nationally applies.
    let id = message_id(&c.submit(text("8613800000001", "hi", 1)).await);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), id);
    assert_eq!(receipt_of(&d).stat, Some(ReceiptStatus::Expired));
    assert_eq!(u8::from(d.source_addr_ton), 1);
    // An error destination written nationally fails both forms.
    for sm in [
        text("8613700137000", "x", 0),
        national("13700137000", "x"),
        text("+8613700137000", "x", 0),
    ] {
        let r = c.submit(sm).await;
        assert_eq!(r.status(), CommandStatus::EsmeRinvdstadr, "{r:?}");
    }
    assert_eq!(
        c.submit(text("8613700137001", "x", 0)).await.status(),
        CommandStatus::EsmeRok
    );
    // /mt?dest= finds a number's MT in either form, as its handset shows them.
    c.submit(text("8613900000009", "again", 0)).await;
    for dest in ["13900000009", "8613900000009", "+8613900000009"] {
        let found = h.mt_messages(&smsc_sim::MtFilter::to(dest));
        assert_eq!(found.len(), 2, "{dest}: {found:?}");
    }
    let base = h.http_url().unwrap();
    let (s, body) = http_get(&format!("{base}/mt?dest=13900000009")).await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{body}");
    // An MO from a handset written nationally: TON 1, digits without '+'.
    h.inject_mo(MoRequest::new("13800138000", "10086", "mo"))
        .await
        .unwrap();
    let d = c.deliver().await;
    assert_eq!(d.source_addr.as_str(), "8613800138000");
    assert_eq!(
        (u8::from(d.source_addr_ton), u8::from(d.source_addr_npi)),
        (1, 1)
    );
    h.shutdown().await;
}

#[tokio::test]
async fn receipts_with_decimal_ids_and_mixed_text_id() {
    let h = sim(SimConfig {
        message_id_style: IdStyle::Decimal,
        message_id_start: 1000,
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let id = message_id(&c.submit(text("8613800138000", "a", 1)).await);
    assert_eq!(id, "1000");
    let d = c.deliver().await;
    assert_eq!(receipted(&d), "1000");
    assert_eq!(receipt_of(&d).id, "1000");
    h.shutdown().await;

    // Hex ids in responses, decimal in the receipt text (a real carrier quirk).
    let h = sim(SimConfig {
        message_id_style: IdStyle::Hex,
        receipt_text_id_style: Some(IdStyle::Decimal),
        message_id_start: 255,
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let id = message_id(&c.submit(text("8613800138000", "a", 1)).await);
    assert_eq!(id, "000000ff");
    let d = c.deliver().await;
    assert_eq!(receipted(&d), "000000ff");
    assert_eq!(receipt_of(&d).id, "255");
    h.shutdown().await;
}

#[tokio::test]
async fn receipts_go_to_a_receiver_of_the_same_account_and_can_precede_the_resp() {
    let h = sim(SimConfig::local()).await;
    let mut tx = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let mut rx = Client::bound(h.smpp_addr(), Mode::Rx).await;
    h.wait_for_binds(2, T).await.unwrap();
    let id = message_id(&tx.submit(text("8613800138000", "a", 1)).await);
    assert_eq!(receipted(&rx.deliver().await), id);

    h.set_faults(Faults {
        receipt_before_resp: true,
        ..Faults::default()
    });
    let mut trx = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let seq = trx.next_seq();
    trx.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        seq,
        text("8613800138000", "b", 1),
    ))
    .await;
    let Some(sms_wire::framing::Frame::Pdu(first)) = trx.read().await else {
        panic!()
    };
    assert_eq!(first.id(), CommandId::DeliverSm, "receipt first");
    let resp = trx.response(seq).await;
    let Some(Pdu::DeliverSm(d)) = first.pdu() else {
        panic!()
    };
    assert_eq!(receipted(d), message_id(&resp));
    h.shutdown().await;
}

#[tokio::test]
async fn duplicate_receipts_and_receipts_for_ids_never_issued() {
    let h = sim(SimConfig::local()).await;
    h.set_faults(Faults {
        duplicate_receipts: true,
        ..Faults::default()
    });
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let id = message_id(&c.submit(text("8613800138000", "twice", 1)).await);
    let first = c.deliver().await;
    let second = c.deliver().await;
    assert_eq!(receipted(&first), id);
    assert_eq!(receipted(&second), id);
    assert_eq!(receipt_of(&second).stat, Some(ReceiptStatus::Delivered));
    let receipts = h.receipts();
    assert_eq!(receipts.len(), 2, "two records, one per copy");
    assert_ne!(receipts[0].id, receipts[1].id);
    assert!(receipts
        .iter()
        .all(|r| r.message_id.as_deref() == Some(id.as_str())));

    h.set_faults(Faults::default());
    let ticket = h
        .inject_receipt(
            "8613900139000",
            "10658",
            "deadbeef",
            smsc_sim::ReceiptStat::Undeliv,
        )
        .await
        .unwrap();
    let d = c.deliver().await;
    assert_eq!(receipted(&d), "deadbeef");
    let r = receipt_of(&d);
    assert_eq!(r.id, "deadbeef");
    assert_eq!(r.stat, Some(ReceiptStatus::Undeliverable));
    assert_eq!(d.source_addr.as_str(), "8613900139000");
    assert_eq!(d.destination_addr.as_str(), "10658");
    let rec = h.wait_for_deliveries(&ticket.record_ids, T).await.unwrap();
    assert_eq!(rec[0].state, DeliveryState::Answered(0));
    assert_eq!(rec[0].kind, smsc_sim::DeliveryKind::Receipt);
    h.shutdown().await;
}

#[tokio::test]
async fn delayed_receipt_query_and_cancel() {
    let h = sim(SimConfig::local().with_receipt_rule("*=DELIVRD@10000".parse().unwrap())).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let id = message_id(&c.submit(text("8613800138000", "later", 1)).await);
    let q = || {
        QuerySm::builder()
            .message_id(COctetString::from_string(id.clone()).unwrap())
            .source_addr(COctetString::from_string("10086".to_string()).unwrap())
            .build()
    };
    let r = c.request(q()).await;
    let Some(Pdu::QuerySmResp(qr)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(qr.message_state, MessageState::Enroute);
    let cancel = || {
        CancelSm::builder()
            .message_id(COctetString::from_string(id.clone()).unwrap())
            .source_addr(COctetString::from_string("10086".to_string()).unwrap())
            .build()
    };
    assert_eq!(c.request(cancel()).await.id(), CommandId::CancelSmResp);
    let r = c.request(q()).await;
    let Some(Pdu::QuerySmResp(qr)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(qr.message_state, MessageState::Deleted);
    assert_eq!(
        c.request(cancel()).await.status(),
        CommandStatus::EsmeRcancelfail
    );
    let unknown = QuerySm::builder()
        .message_id(COctetString::from_string("nope".to_string()).unwrap())
        .build();
    assert_eq!(
        c.request(unknown).await.status(),
        CommandStatus::EsmeRqueryfail
    );
    h.shutdown().await;
}

/// query_sm and cancel_sm find a message only for the account that submitted it and only
/// with its source_addr (SMPP 3.4 §4.8.1, §4.9.1: ESME_RQUERYFAIL / ESME_RCANCELFAIL
/// otherwise); a cancel_sm with an empty message_id cancels every pending message from that
/// source to that destination. (From the exploratory test: another account could query and
/// cancel a message, a wrong source address was taken, and cancel by source and destination
/// always failed.)
#[tokio::test]
async fn query_and_cancel_keep_to_the_account_and_the_source() {
    let h = Simulator::start(
        SimConfig::local()
            .with_receipt_rule("*=DELIVRD@10000".parse().unwrap())
            .with_account("esme", "secret")
            .with_account("other", "pw2"),
    )
    .await
    .expect("start");
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut o = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        o.bind(Mode::Trx, "other", "pw2").await,
        CommandStatus::EsmeRok
    );
    fn cs<const N: usize>(s: &str) -> COctetString<1, N> {
        COctetString::from_string(s.to_string()).unwrap()
    }
    let query = |id: &str, source: &str| {
        QuerySm::builder()
            .message_id(cs(id))
            .source_addr(cs(source))
            .build()
    };
    let cancel = |id: &str, source: &str, dest: &str| {
        CancelSm::builder()
            .message_id(cs(id))
            .source_addr(cs(source))
            .destination_addr(cs(dest))
            .build()
    };
    let state = |r: rusmpp::Command| match r.pdu() {
        Some(Pdu::QuerySmResp(q)) => q.message_state,
        _ => panic!("{r:?}"),
    };
    let id = message_id(&c.submit(text("8613800138000", "mine", 1)).await);
    // Another account, with the right source: neither sees it.
    let r = o.request(query(&id, "10086")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRqueryfail, "{r:?}");
    let r = o.request(cancel(&id, "10086", "")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRcancelfail, "{r:?}");
    // The account, with a wrong source (or destination): neither.
    let r = c.request(query(&id, "10010")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRqueryfail, "{r:?}");
    let r = c.request(cancel(&id, "10010", "")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRcancelfail, "{r:?}");
    let r = c.request(cancel(&id, "10086", "8613800138999")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRcancelfail, "{r:?}");
    assert_eq!(
        state(c.request(query(&id, "10086")).await),
        MessageState::Enroute
    );

    // By source and destination: both pending messages to ...001 go, the others stay.
    let a = message_id(&c.submit(text("8613800138001", "a", 1)).await);
    let b = message_id(&c.submit(text("8613800138001", "b", 1)).await);
    let kept = message_id(&c.submit(text("8613800138002", "kept", 1)).await);
    let r = o.request(cancel("", "10086", "8613800138001")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRcancelfail, "{r:?}");
    let r = c.request(cancel("", "10086", "8613800138001")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    assert_eq!(
        state(c.request(query(&a, "10086")).await),
        MessageState::Deleted
    );
    assert_eq!(
        state(c.request(query(&b, "10086")).await),
        MessageState::Deleted
    );
    assert_eq!(
        state(c.request(query(&kept, "10086")).await),
        MessageState::Enroute
    );
    assert_eq!(
        state(c.request(query(&id, "10086")).await),
        MessageState::Enroute
    );
    // Nothing pending for that pair any more.
    let r = c.request(cancel("", "10086", "8613800138001")).await;
    assert_eq!(r.status(), CommandStatus::EsmeRcancelfail, "{r:?}");
    h.shutdown().await;
}

/// A real SMSC cannot deliver a message it no longer holds: a message is ENROUTE for its
/// receipt delay and reaches the handset only at its end, so one cancelled within it never
/// shows in the inbox (Rust API and HTTP `/handsets/<n>`) and gets no receipt; one delivered
/// (at the end of its delay, or at once without one) can no longer be cancelled.
#[tokio::test]
async fn a_cancelled_message_never_reaches_the_handset() {
    let h = sim(SimConfig::local()
        .with_receipt_rule("8613900*=DELIVRD".parse().unwrap())
        .with_receipt_rule("*=DELIVRD@1500".parse().unwrap()))
    .await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let phone = "+8613800138000";
    let gone = message_id(&c.submit(text("8613800138000", "cancel me", 1)).await);
    let kept = message_id(&c.submit(text("8613800138000", "keep me", 1)).await);
    // En route: not on the phone yet.
    assert!(
        h.handset(phone).texts().is_empty(),
        "{:?}",
        h.handset(phone).texts()
    );
    let cancel = |id: &str| {
        CancelSm::builder()
            .message_id(COctetString::from_string(id.to_string()).unwrap())
            .source_addr(COctetString::from_string("10086".to_string()).unwrap())
            .build()
    };
    let state = |r: rusmpp::Command| match r.pdu() {
        Some(Pdu::QuerySmResp(q)) => q.message_state,
        _ => panic!("{r:?}"),
    };
    let query = |id: &str| {
        QuerySm::builder()
            .message_id(COctetString::from_string(id.to_string()).unwrap())
            .source_addr(COctetString::from_string("10086".to_string()).unwrap())
            .build()
    };
    let r = c.request(cancel(&gone)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    // The other is delivered when its delay is over; the cancelled one never is.
    let v = h.wait_for_inbox(phone, 1, T).await.unwrap();
    assert_eq!(v.texts(), ["keep me"]);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), kept);
    assert_eq!(receipt_of(&d).stat, Some(ReceiptStatus::Delivered));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.handset(phone).texts(), ["keep me"]);
    let (s, body) = http_get(&format!("{base}/handsets/8613800138000")).await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let inbox = v["inbox"].as_array().unwrap();
    assert_eq!(inbox.len(), 1, "{body}");
    assert_eq!(inbox[0]["text"], "keep me", "{body}");
    assert!(!body.contains("cancel me"), "{body}");
    // No receipt for the cancelled one.
    assert_eq!(
        c.count_until_quiet(CommandId::DeliverSm, Duration::from_millis(300))
            .await,
        0
    );
    assert_eq!(state(c.request(query(&gone)).await), MessageState::Deleted);
    assert_eq!(
        state(c.request(query(&kept)).await),
        MessageState::Delivered
    );
    // Delivered: too late to cancel.
    assert_eq!(
        c.request(cancel(&kept)).await.status(),
        CommandStatus::EsmeRcancelfail
    );
    // Without a delay a message is delivered at once, and so cannot be cancelled either.
    let other = "+8613900139000";
    let now = message_id(&c.submit(text("8613900139000", "at once", 0)).await);
    assert_eq!(h.handset(other).texts(), ["at once"]);
    assert_eq!(
        c.request(cancel(&now)).await.status(),
        CommandStatus::EsmeRcancelfail
    );
    assert_eq!(h.handset(other).texts(), ["at once"]);
    h.shutdown().await;
}

/// A binary MT (data_coding 4, not a WAP Push) reaches the inbox but names no contact: only a
/// text (or a decoded push) does. (From the exploratory test: `00 01 02 ff " binary"` made a
/// contact "2062696" named "000102ff" out of the hex rendering.)
#[tokio::test]
async fn a_binary_mt_makes_no_contact() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let phone = "8613800138000";
    let r = c
        .submit(submit(phone, 0, 0x04, b"\x00\x01\x02\xff binary", 0))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    let v = h.wait_for_inbox(phone, 1, T).await.unwrap();
    assert!(v.contacts.is_empty(), "{:?}", v.contacts);
    // A text naming a number still makes its contact.
    let r = c.submit(text(phone, "Li Lei 13900139000 is free", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok, "{r:?}");
    let v = h.wait_for_inbox(phone, 2, T).await.unwrap();
    assert_eq!(
        v.contacts.keys().collect::<Vec<_>>(),
        ["13900139000"],
        "{:?}",
        v.contacts
    );
    h.shutdown().await;
}

/// Reassemble the deliver_sm parts a client received, like an ESME would.
fn reassemble(parts: &[rusmpp::pdus::DeliverSm]) -> String {
    let mut r = Reassembler::new(60_000, 255);
    for d in parts {
        let sar = match (
            tlv(d, TlvTag::SarMsgRefNum),
            tlv(d, TlvTag::SarTotalSegments),
            tlv(d, TlvTag::SarSegmentSeqnum),
        ) {
            (
                Some(TlvValue::SarMsgRefNum(reference)),
                Some(TlvValue::SarTotalSegments(total)),
                Some(TlvValue::SarSegmentSeqnum(seq)),
            ) => Some(SarInfo {
                reference,
                total,
                seq,
            }),
            _ => None,
        };
        let payload = match tlv(d, TlvTag::MessagePayload) {
            Some(TlvValue::MessagePayload(p)) => Some(p.value.as_ref().to_vec()),
            _ => None,
        };
        match part_from_pdu(
            d.source_addr.as_str(),
            d.destination_addr.as_str(),
            u8::from(d.esm_class),
            u8::from(d.data_coding),
            d.short_message().as_ref(),
            sar,
            payload.as_deref(),
        )
        .unwrap()
        {
            PartOrWhole::Whole {
                data_coding,
                payload,
            } => return sms_wire::text::decode(data_coding, &payload),
            PartOrWhole::Part(p) => {
                if let Insert::Complete {
                    data_coding,
                    payload,
                    ..
                } = r.insert(p, 0)
                {
                    return sms_wire::text::decode(data_coding, &payload);
                }
            }
        }
    }
    panic!("incomplete");
}

#[tokio::test]
async fn mo_in_every_segmentation_style() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Rx).await;
    h.wait_for_binds(1, T).await.unwrap();
    let long = "STATUS FAMILY FREE, COLLEAGUES MEETING UNTIL 15:00. ".repeat(5);
    let chinese = "状态 全部 忙碌，".repeat(12);
    for (style, text, parts) in [
        (MoStyle::Udh8, long.as_str(), 2),
        (MoStyle::Udh16, long.as_str(), 2),
        (MoStyle::Sar, long.as_str(), 2),
        (MoStyle::Payload, long.as_str(), 1),
        (MoStyle::Udh8, chinese.as_str(), 2),
    ] {
        let t = h
            .inject_mo(MoRequest::new("8613800138000", "10086", text).style(style))
            .await
            .unwrap();
        assert_eq!(t.parts, parts, "{style:?}");
        let mut got = Vec::new();
        for _ in 0..parts {
            got.push(c.deliver().await);
        }
        assert_eq!(reassemble(&got), text, "{style:?}");
        let recs = h.wait_for_deliveries(&t.record_ids, T).await.unwrap();
        assert!(recs.iter().all(|d| d.state == DeliveryState::Answered(0)));
    }
    // UCS-2 forced for a GSM-able text, parts reversed.
    let t = h
        .inject_mo(MoRequest {
            reverse_parts: true,
            ..MoRequest::new("8613800138000", "10086", &long).encoding(MoEncoding::Ucs2)
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..t.parts {
        got.push(c.deliver().await);
    }
    assert_eq!(u8::from(got[0].data_coding), 0x08);
    assert_eq!(reassemble(&got), long);
    h.shutdown().await;
}

/// The reference `inject_mo` reports for an 8-bit UDH message is the one its UDH carries
/// (random or given); one that cannot fit 8 bits is refused, not cut to its low byte.
#[tokio::test]
async fn udh8_mo_reports_the_reference_it_writes() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Rx).await;
    h.wait_for_binds(1, T).await.unwrap();
    let long = "STATUS FAMILY FREE, COLLEAGUES MEETING UNTIL 15:00. ".repeat(5);
    for given in [None, Some(200)] {
        for _ in 0..4 {
            let t = h
                .inject_mo(MoRequest {
                    reference: given,
                    ..MoRequest::new("8613800138000", "10086", &long).style(MoStyle::Udh8)
                })
                .await
                .unwrap();
            for _ in 0..t.parts {
                let d = c.deliver().await;
                let sm = d.short_message().as_ref();
                assert_eq!(&sm[..3], &[5, 0, 3], "an 8-bit concatenation UDH");
                assert_eq!(u16::from(sm[3]), t.reference, "{given:?}");
            }
        }
    }
    let e = h
        .inject_mo(MoRequest {
            reference: Some(0x1234),
            ..MoRequest::new("8613800138000", "10086", &long).style(MoStyle::Udh8)
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("8-bit"), "{e}");
    h.shutdown().await;
}

/// Lost parts are a concatenated message's: the ticket lists them for a long MO, and a
/// 1-part MO (or a part past the last) is refused rather than silently lost.
#[tokio::test]
async fn lost_parts_are_only_for_concatenated_messages() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Rx).await;
    h.wait_for_binds(1, T).await.unwrap();
    let short = h
        .inject_mo(MoRequest::new("8613800138000", "10086", "hi").lose_part(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("lost_parts") && short.contains("1 part"),
        "{short}"
    );
    let long = "STATUS FAMILY FREE, COLLEAGUES MEETING UNTIL 15:00. ".repeat(5);
    let past = h
        .inject_mo(MoRequest::new("8613800138000", "10086", &long).lose_part(3))
        .await
        .unwrap_err()
        .to_string();
    assert!(past.contains("part 3"), "{past}");
    let t = h
        .inject_mo(MoRequest::new("8613800138000", "10086", &long).lose_part(2))
        .await
        .unwrap();
    assert_eq!((t.parts, t.lost_parts.clone()), (1, vec![2]));
    let d = c.deliver().await;
    assert_eq!(d.short_message().as_ref()[5], 1, "part 1 went");
    let plain = h
        .inject_mo(MoRequest::new("8613800138000", "10086", "hi"))
        .await
        .unwrap();
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json.get("lost_parts").is_none(), "{json}");
    h.shutdown().await;
}

#[tokio::test]
async fn mo_waits_for_a_receiver_and_is_retried_after_a_refusal_timeout() {
    let h = sim(SimConfig {
        deliver_timeout: Duration::from_millis(300),
        ..SimConfig::local()
    })
    .await;
    let t = h
        .inject_mo(MoRequest::new("8613800138000", "10086", "hi"))
        .await
        .unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    // Read the first copy but never answer it: the simulator times out and resends.
    let first = loop {
        match c.read().await.unwrap() {
            sms_wire::framing::Frame::Pdu(p) if p.id() == CommandId::DeliverSm => break p,
            _ => {}
        }
    };
    let (seq2, d) = c.deliver_with(CommandStatus::EsmeRok).await;
    assert_ne!(seq2, first.sequence_number());
    assert_eq!(d.short_message().as_ref(), b"hi");
    let recs = h.wait_for_deliveries(&t.record_ids, T).await.unwrap();
    assert_eq!(recs[0].attempts, 2);
    h.shutdown().await;
}

/// A push to port 2948 whose WBXML does not decode shows in the handset's inbox as raw
/// bytes with the decoder's reason (`push_error` in /handsets/{n}).
#[tokio::test]
async fn an_undecodable_push_shows_why_in_the_inbox() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    // UDH 16-bit ports 2948 <- 9200, then a WSP Push of SI content (0xAE) whose WBXML holds
    // a token SI does not know.
    let mut sm = vec![6, 5, 4, 0x0B, 0x84, 0x23, 0xF0];
    sm.extend_from_slice(&[0x01, 0x06, 0x01, 0xAE, 0x02, 0x05, 0x6A, 0x00, 0x7F]);
    let r = c.submit(submit("8613800138000", 0x40, 4, &sm, 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let v = serde_json::to_value(h.handset("8613800138000")).unwrap();
    let why = v["inbox"][0]["push_error"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "{v}");
    h.shutdown().await;
}

/// A push addressed by its UDH (port IE 0x05, as WAP-259 over SMS has it) is recorded in
/// `/mt` with that destination port, as one addressed by the destination_port TLV is.
#[tokio::test]
async fn mt_records_read_the_destination_port_from_the_udh() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let si = ServiceIndication::new("http://127.0.0.1:9/a/x", "new photo");
    let parts = push_segments(&PushContent::Si(si), &WspOptions::default(), 3, false).unwrap();
    for s in &parts {
        let r = c
            .submit(submit(
                "8613800138000",
                s.esm_class,
                s.data_coding,
                &s.short_message,
                0,
            ))
            .await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    // 8-bit port addressing (IE 0x04) too.
    let r = c
        .submit(submit(
            "8613800138000",
            0x40,
            4,
            &[4, 4, 2, 0xF5, 0xF6, 1, 2],
            0,
        ))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let mt = h.mt_messages(&smsc_sim::MtFilter::all());
    assert_eq!(mt.len(), parts.len() + 1);
    for r in &mt[..parts.len()] {
        assert_eq!(r.dest_port, Some(2948), "{r:?}");
    }
    assert_eq!(mt[parts.len()].dest_port, Some(0xF5));
    h.shutdown().await;
}

/// A handset shows only what its receipt calls delivered: nothing of a message reported
/// UNDELIV; a handset that refuses WAP Push still reads its SMS.
#[tokio::test]
async fn a_handset_shows_only_what_its_receipt_calls_delivered() {
    let h = sim(SimConfig::local()).await;
    let (gone, no_push) = ("8613800138000", "8613700137000");
    let mut plan = smsc_sim::ReceiptPlan::undeliverable_to(gone);
    plan.rules
        .extend(smsc_sim::ReceiptPlan::push_refused_by(no_push).rules);
    h.set_receipt_plan(plan);
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    c.submit(text(gone, "into the void", 1)).await;
    assert_eq!(
        receipt_of(&c.deliver().await).stat,
        Some(ReceiptStatus::Undeliverable)
    );
    c.submit(text(no_push, "plain text", 1)).await;
    assert_eq!(
        receipt_of(&c.deliver().await).stat,
        Some(ReceiptStatus::Delivered)
    );
    // A push to the handset that cannot take one: reported undeliverable, not shown.
    let si = ServiceIndication::new("http://127.0.0.1:9/a/x", "new photo");
    for s in push_segments(&PushContent::Si(si), &WspOptions::default(), 3, false).unwrap() {
        c.submit(submit(
            no_push,
            s.esm_class,
            s.data_coding,
            &s.short_message,
            1,
        ))
        .await;
        assert_eq!(
            receipt_of(&c.deliver().await).stat,
            Some(ReceiptStatus::Undeliverable)
        );
    }
    assert!(
        h.handset(gone).texts().is_empty(),
        "an undelivered message shows"
    );
    let phone = h.handset(no_push);
    assert_eq!(phone.texts(), ["plain text"]);
    assert!(
        phone.pushes.is_empty(),
        "a refused push shows: {:?}",
        phone.pushes
    );
    h.shutdown().await;
}

/// Once the simulator has sent a bind unbind, MO goes to the other receivers only, at once.
#[tokio::test]
async fn mo_goes_round_a_bind_being_unbound() {
    let h = Simulator::start(
        SimConfig {
            deliver_timeout: Duration::from_secs(5),
            ..SimConfig::local()
        }
        .with_account("esme", "secret")
        .with_account("other", "pw2"),
    )
    .await
    .expect("start");
    let _leaving = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut staying = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        staying.bind(Mode::Trx, "other", "pw2").await,
        CommandStatus::EsmeRok
    );
    h.wait_for_binds(2, T).await.unwrap();
    assert_eq!(h.unbind_all(Some("esme")), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..4 {
        h.inject_mo(MoRequest::new("8613800138001", "10086", &format!("mo {i}")))
            .await
            .unwrap();
    }
    for i in 0..4 {
        let d = tokio::time::timeout(Duration::from_secs(2), staying.deliver())
            .await
            .expect("an MO waited on the bind being unbound");
        assert_eq!(d.short_message().as_ref(), format!("mo {i}").as_bytes());
    }
    h.shutdown().await;
}

/// An MO goes by its service number to the receiver binds whose address_range claims it
/// (SMPP 3.4 §4.1.1, §5.2.27), never to another account's ESME; a number no range claims goes
/// to the binds without a range, of one account only; a number nobody serves waits until a bind
/// serving it comes. (From the exploratory test: MO went round-robin to every receiver bind, so
/// two ESMEs got each other's traffic.)
#[tokio::test]
async fn mo_is_routed_by_address_range_within_one_account() {
    let h = Simulator::start(
        SimConfig::local()
            .with_account("alice", "pw1")
            .with_account("bob", "pw2")
            .with_account("carol", "pw3")
            .with_account("dave", "pw4"),
    )
    .await
    .expect("start");
    let mut alice = Client::connect(h.smpp_addr()).await;
    let st = alice.bind_range(Mode::Rx, "alice", "pw1", "^10658").await;
    assert_eq!(st, CommandStatus::EsmeRok);
    let mut bob = Client::connect(h.smpp_addr()).await;
    let st = bob.bind_range(Mode::Trx, "bob", "pw2", "^999").await;
    assert_eq!(st, CommandStatus::EsmeRok);
    h.wait_for_binds(2, T).await.unwrap();
    for (i, to) in ["10658", "10658", "999", "10658"].iter().enumerate() {
        h.inject_mo(MoRequest::new("8613800138000", to, &format!("mo {i}")))
            .await
            .unwrap();
    }
    for want in ["mo 0", "mo 1", "mo 3"] {
        let d = alice.deliver().await;
        assert_eq!(
            (d.destination_addr.as_str(), d.short_message().as_ref()),
            ("10658", want.as_bytes())
        );
    }
    let d = bob.deliver().await;
    assert_eq!(
        (d.destination_addr.as_str(), d.short_message().as_ref()),
        ("999", b"mo 2".as_slice())
    );
    let quiet = Duration::from_millis(300);
    assert_eq!(
        alice.count_until_quiet(CommandId::DeliverSm, quiet).await,
        0
    );
    assert_eq!(bob.count_until_quiet(CommandId::DeliverSm, quiet).await, 0);

    // No range claims 12345 and every bind has one: the MO waits, for carol's bind without a
    // range; dave's, also without one, gets none of carol's numbers.
    h.inject_mo(MoRequest::new("8613800138000", "12345", "unclaimed"))
        .await
        .unwrap();
    assert_eq!(
        alice.count_until_quiet(CommandId::DeliverSm, quiet).await,
        0
    );
    assert_eq!(bob.count_until_quiet(CommandId::DeliverSm, quiet).await, 0);
    let mut carol = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        carol.bind(Mode::Rx, "carol", "pw3").await,
        CommandStatus::EsmeRok
    );
    let d = carol.deliver().await;
    assert_eq!(d.short_message().as_ref(), b"unclaimed");
    let mut dave = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        dave.bind(Mode::Rx, "dave", "pw4").await,
        CommandStatus::EsmeRok
    );
    h.wait_for_binds(4, T).await.unwrap();
    for i in 0..3 {
        h.inject_mo(MoRequest::new("8613800138000", "12345", &format!("u{i}")))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let d = carol.deliver().await;
        assert_eq!(d.short_message().as_ref(), format!("u{i}").as_bytes());
    }
    assert_eq!(dave.count_until_quiet(CommandId::DeliverSm, quiet).await, 0);
    // A USSD to bob's range goes to bob alone.
    h.inject_ussd(UssdRequest {
        from: "8613800138000".into(),
        to: "999".into(),
        text: "999".into(),
        ..UssdRequest::default()
    })
    .await
    .unwrap();
    let d = bob.deliver().await;
    assert_eq!(d.destination_addr.as_str(), "999");
    for c in [&mut alice, &mut carol, &mut dave] {
        assert_eq!(c.count_until_quiet(CommandId::DeliverSm, quiet).await, 0);
    }
    h.shutdown().await;
}

/// With responses delayed, a receipt still follows its response (only the
/// `receipt_before_resp` fault makes it overtake).
#[tokio::test]
async fn a_delayed_response_still_comes_before_its_receipt() {
    let h = sim(SimConfig::local().with_faults(Faults {
        response_delay: Some(smsc_sim::Delay::fixed(200)),
        ..Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let seq = c.next_seq();
    c.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        seq,
        text("8613800138000", "after you", 1),
    ))
    .await;
    let first = loop {
        match c.read().await.expect("open") {
            sms_wire::framing::Frame::Pdu(p)
                if matches!(p.id(), CommandId::SubmitSmResp | CommandId::DeliverSm) =>
            {
                break p
            }
            _ => {}
        }
    };
    assert_eq!(
        first.id(),
        CommandId::SubmitSmResp,
        "the receipt came first"
    );
    assert_eq!(first.sequence_number(), seq);
    let d = c.deliver().await;
    assert_eq!(receipted(&d), message_id(&first));
    h.shutdown().await;
}

/// A receipt no bind can take (its account is bound as a transmitter only) waits for its
/// account; it does not hold up MO for another account's receiver, and it goes out once its
/// account binds a receiver.
#[tokio::test]
async fn a_receipt_waiting_for_its_account_does_not_hold_up_other_deliveries() {
    let h = Simulator::start(
        SimConfig::local()
            .with_account("esme", "secret")
            .with_account("other", "pw2"),
    )
    .await
    .expect("start");
    let mut tx_only = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        tx_only.bind(Mode::Tx, "other", "pw2").await,
        CommandStatus::EsmeRok
    );
    let id = message_id(
        &tx_only
            .submit(text("8613800138000", "receipt please", 1))
            .await,
    );
    let mut esme = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.inject_mo(MoRequest::new("8613800138001", "10086", "not stuck"))
        .await
        .unwrap();
    let d = tokio::time::timeout(T, esme.deliver())
        .await
        .expect("the MO waited behind another account's receipt");
    assert_eq!(d.short_message().as_ref(), b"not stuck");
    let mut rx = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        rx.bind(Mode::Rx, "other", "pw2").await,
        CommandStatus::EsmeRok
    );
    let receipt = tokio::time::timeout(T, rx.deliver())
        .await
        .expect("receipt");
    assert_eq!(receipted(&receipt), id);
    h.shutdown().await;
}

/// An ESME that answers a deliver_sm with a temporary error (`ESME_RX_T_APPN`: it could not
/// store it now) gets it again after `deliver_retry_delay`, as from a carrier's SMSC; a
/// permanent error (`ESME_RX_P_APPN`) is final.
#[tokio::test]
async fn a_temporary_refusal_is_delivered_again_and_a_permanent_one_is_not() {
    let h = sim(SimConfig {
        deliver_retry_delay: Duration::from_millis(300),
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.wait_for_binds(1, T).await.unwrap();
    let t = h
        .inject_mo(MoRequest::new("8613800138000", "10086", "again"))
        .await
        .unwrap();
    let (first, _) = c.deliver_with(CommandStatus::EsmeRxTAppn).await;
    let refused_at = std::time::Instant::now();
    let (second, d) = c.deliver_with(CommandStatus::EsmeRok).await;
    assert!(
        refused_at.elapsed() >= Duration::from_millis(250),
        "sent again at once"
    );
    assert_ne!(first, second);
    assert_eq!(d.short_message().as_ref(), b"again");
    let recs = h.wait_for_deliveries(&t.record_ids, T).await.unwrap();
    assert_eq!(recs[0].attempts, 2);
    assert_eq!(recs[0].state, DeliveryState::Answered(0));

    let t = h
        .inject_mo(MoRequest::new("8613800138000", "10086", "never"))
        .await
        .unwrap();
    c.deliver_with(CommandStatus::EsmeRxPAppn).await;
    let recs = h.wait_for_deliveries(&t.record_ids, T).await.unwrap();
    assert_eq!(recs[0].attempts, 1);
    assert_eq!(recs[0].state, DeliveryState::Answered(0x65));
    assert!(
        c.try_read(Duration::from_millis(600)).await.is_none(),
        "a permanent refusal was sent again"
    );
    h.shutdown().await;
}

/// A USSD MT whose ussd_service_op SMPP 3.4 reserves (23) is answered with
/// ESME_RINVOPTPARAMVAL (0xC4) in its submit_sm_resp and reaches no handset; a defined one
/// (2, USSR request) and a vendor one (0x81) are taken.
#[tokio::test]
async fn a_reserved_ussd_service_op_is_refused_in_the_submit_sm_resp() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let menu = |op: u8| {
        let mut sm = text("8613800138000", "1 Free 2 Busy", 0);
        sm.service_type = ServiceType::new(COctetString::from_string("USSD".into()).unwrap());
        with_tlv(sm, Sub::UssdServiceOp(UssdServiceOp::from(op)))
    };
    let r = c.submit(menu(23)).await;
    assert_eq!(u32::from(r.status()), 0xC4);
    assert!(h.handset("8613800138000").ussd.is_empty());
    let r = c.submit(menu(2)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let r = c.submit(menu(0x81)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    h.shutdown().await;
}

#[tokio::test]
async fn ussd_session() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.wait_for_binds(1, T).await.unwrap();
    let phone = "8613800138000";
    let t = h
        .inject_ussd(UssdRequest {
            from: phone.into(),
            to: "*123#".into(),
            text: "*123#".into(),
            new_session: false,
            op: None,
        })
        .await
        .unwrap();
    assert_eq!(t.ussd_service_op, Some(1));
    let d = c.deliver().await;
    assert_eq!(d.service_type.value().as_str(), "USSD");
    assert!(matches!(
        tlv(&d, TlvTag::UssdServiceOp),
        Some(TlvValue::UssdServiceOp(UssdServiceOp::PssrIndication))
    ));
    let Some(TlvValue::ItsSessionInfo(its)) = tlv(&d, TlvTag::ItsSessionInfo) else {
        panic!()
    };
    let session = its.session_number;

    // The gateway answers with a menu (USSR request).
    let menu = |op: UssdServiceOp, body: &str| {
        let mut sm = text(phone, body, 0);
        sm.service_type = ServiceType::new(COctetString::from_string("USSD".into()).unwrap());
        let sm = with_tlv(sm, Sub::UssdServiceOp(op));
        with_tlv(sm, Sub::ItsSessionInfo(ItsSessionInfo::new(session, 1)))
    };
    assert_eq!(
        c.submit(menu(UssdServiceOp::UssrRequest, "1 Free 2 Busy"))
            .await
            .status(),
        CommandStatus::EsmeRok
    );
    let v = h.handset(phone);
    assert_eq!(v.ussd.len(), 1);
    assert_eq!(v.ussd[0].text, "1 Free 2 Busy");
    assert!(v.ussd[0].expects_reply);
    assert_eq!(v.ussd[0].session, Some(session));

    // The user picks 2: USSR confirm in the same session.
    let t = h
        .inject_ussd(UssdRequest {
            from: phone.into(),
            to: "*123#".into(),
            text: "2".into(),
            new_session: false,
            op: None,
        })
        .await
        .unwrap();
    assert_eq!(t.ussd_service_op, Some(18));
    let d = c.deliver().await;
    let Some(TlvValue::ItsSessionInfo(its)) = tlv(&d, TlvTag::ItsSessionInfo) else {
        panic!()
    };
    assert_eq!(its.session_number, session);
    assert_eq!(its.sequence_number >> 1, 1);
    assert_eq!(
        sms_wire::text::decode(u8::from(d.data_coding), d.short_message().as_ref()),
        "2"
    );

    // The gateway ends the session (PSSR response).
    c.submit(menu(UssdServiceOp::PssrResponse, "Status set: BUSY"))
        .await;
    let v = h.handset(phone);
    assert_eq!(v.ussd.len(), 2);
    assert!(!v.ussd[1].expects_reply);
    assert!(v.ussd_session.is_none());
    h.shutdown().await;
}

/// A tiny HTTP server serving one PNG, standing in for the gateway's avatar URL.
async fn avatar_server(bytes: &'static [u8]) -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/a/{id}",
        axum::routing::get(move || async move {
            ([(axum::http::header::CONTENT_TYPE, "image/png")], bytes)
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn handset_reassembles_out_of_order_and_decodes_push() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let phone = "8613800138000";
    // A two-part UDH8 text submitted last part first.
    let parts = sms_wire::segment::segment_text(
        &"Bob (+8613900139000): IN A MEETING UNTIL 15:00 ".repeat(4),
        sms_wire::segment::ConcatStyle::Udh8,
        42,
    )
    .unwrap();
    assert_eq!(parts.len(), 2);
    for p in parts.iter().rev() {
        let r = c
            .submit(submit(
                phone,
                p.esm_class,
                p.data_coding,
                &p.short_message,
                0,
            ))
            .await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    let v = h.wait_for_inbox(phone, 1, T).await.unwrap();
    assert_eq!(
        v.inbox[0].text,
        "Bob (+8613900139000): IN A MEETING UNTIL 15:00 ".repeat(4)
    );
    assert_eq!(v.inbox[0].parts, 2);

    // A WAP Push SI for Bob's avatar, long enough to need two port-addressed parts.
    static PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake-image-bytes";
    let srv = avatar_server(PNG).await;
    let href = format!("http://{srv}/a/{}", "x".repeat(120));
    let mut si = ServiceIndication::new(href.clone(), "Bob (+8613900139000) new photo");
    si.si_id = Some("avatar-8613900139000".into());
    let segs = push_segments(&PushContent::Si(si), &WspOptions::default(), 7, false).unwrap();
    assert!(segs.len() >= 2);
    for s in segs.iter().rev() {
        let r = c
            .submit(submit(
                phone,
                s.esm_class,
                s.data_coding,
                &s.short_message,
                0,
            ))
            .await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    let v = h
        .wait_until("avatar fetched", T, |h| {
            let v = h.handset(phone);
            v.pushes
                .first()
                .filter(|p| matches!(p.fetch, FetchState::Fetched { .. }))
                .map(|_| v.clone())
        })
        .await
        .unwrap();
    let p = &v.pushes[0];
    assert_eq!(p.href, href);
    assert_eq!(p.si_id.as_deref(), Some("avatar-8613900139000"));
    assert_eq!(p.contact, "8613900139000");
    let call = h.call(phone, "+8613900139000");
    assert_eq!(call.name.as_deref(), Some("Bob"));
    assert_eq!(call.avatar_content_type.as_deref(), Some("image/png"));
    assert_eq!(
        call.avatar_sha256.as_deref(),
        Some(smsc_sim::handset::sha256_hex(PNG).as_str())
    );
    assert!(call.last_status.unwrap().contains("MEETING"));
    assert_eq!(
        h.avatar(phone, "13900139000").unwrap().bytes.as_slice(),
        PNG
    );
    h.shutdown().await;
}

async fn http_get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn http_post(url: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn http_control_api() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.wait_for_binds(1, T).await.unwrap();
    c.submit(text("8613800138000", "over http", 0)).await;

    let (s, body) = http_get(&format!("{base}/mt?dest=%2B8613800138000")).await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["text"], "over http");
    assert_eq!(v[0]["short_message"], "6f7665722068747470");
    // A '+' left unencoded (a query string reads it as a space) finds the number too.
    let (_, body) = http_get(&format!("{base}/mt?dest=+8613800138000")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["text"], "over http", "{body}");
    let (_, body) = http_get(&format!("{base}/mt?since=1")).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!([])
    );

    let (s, body) = http_post(
        &format!("{base}/mo"),
        r#"{"from":"8613800138000","to":"10086","text":"WHO 13900139000","style":"sar"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let d = c.deliver().await;
    assert_eq!(d.short_message().as_ref(), b"WHO 13900139000");
    let (s, _) = http_post(
        &format!("{base}/mo"),
        r#"{"from":"8613800138000","to":"10086","text":"x","style":"bogus"}"#,
    )
    .await;
    assert!(s >= 400);

    let (s, body) = http_get(&format!("{base}/handsets/8613800138000")).await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["inbox"][0]["text"], "over http");
    let (_, body) = http_get(&format!("{base}/handsets/8613800138000/call?from=10086")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["last_status"], "over http");

    let (_, body) = http_get(&format!("{base}/stats")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["received"]["submit_sm"], 1);
    assert_eq!(v["mt_accepted"], 1);
    let (_, body) = http_get(&format!("{base}/binds")).await;
    assert!(body.contains("transceiver"));
    let (s, html) = http_get(&format!("{base}/")).await;
    assert_eq!(s, 200);
    assert!(html.contains("8613800138000"));

    let (s, body) = http_post(&format!("{base}/faults"), r#"{"throttle_per_sec":0}"#).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        c.submit(text("8613800138000", "x", 0)).await.status(),
        CommandStatus::EsmeRthrottled
    );
    for (path, nonsense) in [
        (
            "mo",
            r#"{"from":"8613800138000","to":"10086","text":"x","bogus":1}"#,
        ),
        ("mo", r#"{"from":"8613800138000","to":"","text":"x"}"#),
        (
            "ussd",
            r#"{"from":"8613800138000","to":"*123#","text":"1","sesion":1}"#,
        ),
    ] {
        let (s, body) = http_post(&format!("{base}/{path}"), nonsense).await;
        assert!(s == 400 || s == 422, "{nonsense}: {s} {body}");
    }
    for nonsense in [
        r#"{"response_delay":{"min_ms":500,"max_ms":100}}"#,
        r#"{"error":{"status":69,"percent":250}}"#,
    ] {
        let (s, body) = http_post(&format!("{base}/faults"), nonsense).await;
        assert_eq!(s, 400, "{nonsense}: {body}");
    }
    let (s, body) = http_post(&format!("{base}/faults"), r#"{"drop_now":true}"#).await;
    assert_eq!(s, 200);
    assert!(body.contains("\"dropped\":1"), "{body}");
    assert!(c.closed().await);
    // An action keeps the faults; keys not given keep theirs; a typo is refused.
    assert_eq!(h.faults().throttle_per_sec, Some(0));
    let (s, body) = http_post(&format!("{base}/faults"), r#"{"throttle":50}"#).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("throttle"), "{body}");
    assert_eq!(h.faults().throttle_per_sec, Some(0));
    let (s, _) = http_post(&format!("{base}/faults"), r#"{"duplicate_receipts":true}"#).await;
    assert_eq!(s, 200);
    assert_eq!(h.faults().throttle_per_sec, Some(0));
    assert!(h.faults().duplicate_receipts);
    let (s, _) = http_post(&format!("{base}/faults"), r#"{"throttle_per_sec":null}"#).await;
    assert_eq!(s, 200);
    assert_eq!(h.faults().throttle_per_sec, None);
    let (s, _) = http_post(&format!("{base}/faults"), r#"{"clear":true}"#).await;
    assert_eq!(s, 200);
    assert_eq!(h.faults(), Faults::default());

    let (s, body) = http_post(&format!("{base}/reset"), "").await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"pending_receipts\":0"), "{body}");
    assert!(h.mt_messages(&smsc_sim::MtFilter::all()).is_empty());
    h.shutdown().await;
}

/// The README's table of the `err:` code and `message_state` each receipt state goes with
/// is what an ESME gets (the codes were written nowhere but in the code): one submit per
/// state, each destination scripted by a `--receipt` rule.
#[tokio::test]
async fn receipt_err_codes_and_states_are_the_readmes() {
    let readme = include_str!("../README.md");
    let rows: Vec<(String, String, u8)> = readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", stat, err, state, ""] if stat.len() == 9 && err.len() == 5 => Some((
                    stat.trim_matches('`').to_string(),
                    err.trim_matches('`').to_string(),
                    state.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect();
    assert_eq!(
        rows.len(),
        8,
        "the README's stat/err/message_state table: {rows:?}"
    );
    let mut cfg = SimConfig::local();
    for (i, (stat, _, _)) in rows.iter().enumerate() {
        cfg = cfg.with_receipt_rule(format!("861380000000{i}={stat}").parse().unwrap());
    }
    let h = sim(cfg).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    for (i, (stat, err, state)) in rows.iter().enumerate() {
        let id = message_id(&c.submit(text(&format!("861380000000{i}"), "x", 1)).await);
        let d = c.deliver().await;
        assert_eq!(receipted(&d), id);
        let t = String::from_utf8(d.short_message().as_ref().to_vec()).unwrap();
        assert!(
            t.contains(&format!("stat:{stat} err:{err} ")),
            "{stat}: README says err:{err}, the receipt is {t}"
        );
        match tlv(&d, TlvTag::MessageState) {
            Some(TlvValue::MessageState(m)) => assert_eq!(u8::from(m), *state, "{stat}"),
            o => panic!("{stat}: no message_state: {o:?}"),
        }
    }
    h.shutdown().await;
}

/// A USSD to another service code while a menu of `*123#` awaits an answer opens a session
/// with that code (op 1, a new session number), as dialling a new code does: it went as an
/// answer (op 18) in `*123#`'s session, addressed to `*456#`, so the ESME serving `*456#`
/// got an answer to a menu it never sent. The same code still answers the menu.
#[tokio::test]
async fn a_ussd_to_another_code_opens_a_session_not_an_answer() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let phone = "8613800138000";
    let post = |to: &str, text: &str| {
        let body = serde_json::json!({"from": phone, "to": to, "text": text}).to_string();
        let url = format!("{base}/ussd");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_str::<serde_json::Value>(&r.text().await.unwrap()).unwrap()
        }
    };
    let session_of = |d: &rusmpp::pdus::DeliverSm| match tlv(d, TlvTag::ItsSessionInfo) {
        Some(TlvValue::ItsSessionInfo(its)) => its.session_number,
        o => panic!("no its_session_info: {o:?}"),
    };
    assert_eq!(post("*123#", "*123#").await["ussd_service_op"], 1);
    let first = session_of(&c.deliver().await);
    let mut sm = text(phone, "1 Free 2 Busy", 0);
    sm.service_type = ServiceType::new(COctetString::from_string("USSD".into()).unwrap());
    let sm = with_tlv(sm, Sub::UssdServiceOp(UssdServiceOp::UssrRequest));
    let sm = with_tlv(sm, Sub::ItsSessionInfo(ItsSessionInfo::new(first, 1)));
    assert_eq!(c.submit(sm).await.status(), CommandStatus::EsmeRok);
    let t = post("*456#", "*456#").await;
    assert_eq!(t["ussd_service_op"], 1, "{t}");
    let d = c.deliver().await;
    assert_eq!(d.destination_addr.as_str(), "*456#");
    assert_ne!(session_of(&d), first, "a new session, not *123#'s");
    assert_eq!(h.handset(phone).ussd_session.unwrap().service, "*456#");
    // A menu of *456# (its source written 456, as a network does) is answered through either
    // form of the code.
    let second = session_of(&d);
    let mut sm = text(phone, "1 Yes 2 No", 0);
    sm.source_addr = COctetString::from_string("456".into()).unwrap();
    sm.service_type = ServiceType::new(COctetString::from_string("USSD".into()).unwrap());
    let sm = with_tlv(sm, Sub::UssdServiceOp(UssdServiceOp::UssrRequest));
    let sm = with_tlv(sm, Sub::ItsSessionInfo(ItsSessionInfo::new(second, 1)));
    assert_eq!(c.submit(sm).await.status(), CommandStatus::EsmeRok);
    let t = post("456", "1").await;
    assert_eq!(t["ussd_service_op"], 18, "{t}");
    assert_eq!(session_of(&c.deliver().await), second);
    h.shutdown().await;
}
