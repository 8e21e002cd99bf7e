//! SMPP 3.4 protocol conformance over real TCP: time fields (scheduling and validity), the
//! statuses for broken fields and bodies, command_length errors, unbind and keep-alive, and
//! field validation.

mod common;

use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;

use common::{message_id, raw_pdu, text, Client, Mode};
use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::{TlvTag, TlvValue};
use rusmpp::types::EmptyOrFullCOctetString;
use rusmpp::values::{PriorityFlag, ReplaceIfPresentFlag};
use rusmpp::{CommandId, CommandStatus};
use sms_wire::receipt::{DeliveryReceipt, ReceiptStatus};
use smsc_sim::{MtFilter, SimConfig, SimHandle, Simulator};

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg.with_account("esme", "secret"))
        .await
        .expect("start")
}

fn time(s: &str) -> EmptyOrFullCOctetString<17> {
    EmptyOrFullCOctetString::from_str(s).unwrap()
}

/// A text submit_sm with these time fields.
fn timed(dest: &str, body: &str, sched: &str, validity: &str, registered: u8) -> SubmitSm {
    let mut sm = text(dest, body, registered);
    sm.schedule_delivery_time = time(sched);
    sm.validity_period = time(validity);
    sm
}

/// Raw submit_sm bytes (sequence `seq`) whose time fields are `sched` and `validity` as given,
/// however malformed.
fn raw_submit(seq: u32, sched: &[u8], validity: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b.extend_from_slice(&[0, 0, 1]);
    b.extend_from_slice(b"10086\0");
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(b"8613800138000\0");
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(sched);
    b.push(0);
    b.extend_from_slice(validity);
    b.push(0);
    b.extend_from_slice(&[0, 0, 0, 0, 2]);
    b.extend_from_slice(b"hi");
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_be_bytes());
    b[4..8].copy_from_slice(&4u32.to_be_bytes());
    b[12..16].copy_from_slice(&seq.to_be_bytes());
    b
}

fn receipt_stat(d: &rusmpp::pdus::DeliverSm) -> Option<ReceiptStatus> {
    let t = String::from_utf8(d.short_message().as_ref().to_vec()).unwrap();
    DeliveryReceipt::parse(&t).unwrap().stat
}

/// Malformed time fields are refused with ESME_RINVSCHED / ESME_RINVEXPIRY in a
/// submit_sm_resp, whether rusmpp could read the field (month 13, zone 'X') or not (7 or 15
/// characters).
#[tokio::test]
async fn malformed_schedule_and_validity_get_their_own_statuses() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    for (seq, sched, validity, want) in [
        (71, &b"garbage"[..], &b""[..], 0x61u32),
        (72, b"", b"000000000100000", 0x62),
        (73, b"271331235959000+", b"", 0x61),
        (74, b"", b"271231235959000X", 0x62),
        (75, b"", b"270230000000000+", 0x62),
    ] {
        c.send_raw(&raw_submit(seq, sched, validity)).await;
        let r = c.response(seq).await;
        assert_eq!(
            (r.id(), u32::from(r.status())),
            (CommandId::SubmitSmResp, want),
            "sched {sched:?} validity {validity:?}"
        );
    }
    assert_eq!(h.mt_messages(&MtFilter::to("8613800138000")).len(), 0);
    h.shutdown().await;
}

/// A message whose validity ended before it arrived is accepted, never reaches the handset,
/// and its receipt says EXPIRED; the record keeps the fields as sent and the instant.
#[tokio::test]
async fn an_already_expired_message_is_not_delivered_and_its_receipt_says_expired() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut sm = timed("8613800138000", "too late", "", "200101000000000+", 1);
    sm.priority_flag = PriorityFlag::from(2);
    sm.protocol_id = 0x40;
    sm.replace_if_present_flag = ReplaceIfPresentFlag::from(1);
    let r = c.submit(sm).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let id = message_id(&r);
    let d = c.deliver().await;
    assert_eq!(receipt_stat(&d), Some(ReceiptStatus::Expired));
    assert!(matches!(
        common::tlv(&d, TlvTag::ReceiptedMessageId),
        Some(TlvValue::ReceiptedMessageId(s)) if s.as_str() == id
    ));
    assert!(h.handset("8613800138000").inbox.is_empty());
    let rec = &h.mt_messages(&MtFilter::to("8613800138000"))[0];
    assert_eq!(rec.options.validity_period, "200101000000000+");
    assert_eq!(rec.options.expires_at_ms, Some(1_577_836_800_000));
    assert_eq!(rec.options.schedule_delivery_time, "");
    assert_eq!(rec.options.scheduled_at_ms, None);
    assert_eq!(
        (
            rec.options.priority_flag,
            rec.options.protocol_id,
            rec.options.replace_if_present_flag
        ),
        (2, 0x40, 1)
    );
    // In the JSON of `/mt` too.
    let json = serde_json::to_value(rec).unwrap();
    assert_eq!(json["validity_period"], "200101000000000+");
    assert_eq!(json["priority_flag"], 2);
    h.shutdown().await;
}

/// A scheduled message is held until its time: the response comes at once, the handset and
/// the receipt only then. What presence-gw sends (a 48-hour relative validity) is kept.
#[tokio::test]
async fn a_scheduled_message_is_held_until_its_time() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let sent = std::time::Instant::now();
    let r = c
        .submit(timed(
            "8613800138000",
            "later",
            "000000000002000R",
            "000002000000000R",
            1,
        ))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    assert!(c.try_read(Duration::from_millis(1200)).await.is_none());
    assert!(h.handset("8613800138000").inbox.is_empty());
    let d = c.deliver().await;
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert_eq!(receipt_stat(&d), Some(ReceiptStatus::Delivered));
    let phone = h
        .wait_until("the held message", Duration::from_secs(2), |h| {
            let v = h.handset("8613800138000");
            (!v.inbox.is_empty()).then_some(v)
        })
        .await
        .unwrap();
    assert_eq!(phone.texts(), ["later"]);
    let rec = &h.mt_messages(&MtFilter::to("8613800138000"))[0];
    let (at, until) = (rec.options.scheduled_at_ms, rec.options.expires_at_ms);
    assert_eq!(at.map(|t| t - rec.received_at_ms), Some(2000));
    assert_eq!(until.map(|t| t - rec.received_at_ms), Some(48 * 3_600_000));

    // A message whose validity ends before its schedule expires then, undelivered.
    let r = c
        .submit(timed(
            "8613800138001",
            "never",
            "000000000005000R",
            "000000000001000R",
            1,
        ))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let d = c.deliver().await;
    assert_eq!(receipt_stat(&d), Some(ReceiptStatus::Expired));
    assert!(h.handset("8613800138001").inbox.is_empty());
    h.shutdown().await;
}

/// A bind body with this system_id and password, SMPP 3.4.
fn bind_body(system_id: &str, password: &str) -> Vec<u8> {
    let mut b = format!("{system_id}\0{password}\0\0").into_bytes();
    b.extend_from_slice(&[0x34, 0, 0, 0]);
    b
}

/// A field too long is that field's error in the command's own response, not a generic_nack
/// (which §4.3 keeps for a bad header): a bind's system_id ESME_RINVSYSID, its password
/// ESME_RINVPASWD; a known command without its body, or cut short anywhere (inside a field or
/// by its sm_length), ESME_RINVCMDLEN in its response, never ESME_RINVCMDID.
#[tokio::test]
async fn broken_fields_and_bodies_get_the_commands_own_response() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::connect(h.smpp_addr()).await;
    let cases: [(u32, Vec<u8>, CommandId, u32); 4] = [
        (
            9,
            bind_body(&"x".repeat(20), "secret"),
            CommandId::BindTransceiverResp,
            0x0F,
        ),
        (
            9,
            bind_body("esme", &"x".repeat(12)),
            CommandId::BindTransceiverResp,
            0x0E,
        ),
        (
            2,
            bind_body(&"y".repeat(16), "secret"),
            CommandId::BindTransmitterResp,
            0x0F,
        ),
        (
            1,
            bind_body("esme", "123456789"),
            CommandId::BindReceiverResp,
            0x0E,
        ),
    ];
    for (i, (id, body, want, status)) in cases.into_iter().enumerate() {
        let seq = 10 + i as u32;
        c.send_raw(&raw_pdu(id, seq, &body)).await;
        let r = c.response(seq).await;
        assert_eq!((r.id(), u32::from(r.status())), (want, status), "case {i}");
    }
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );

    let whole = raw_submit(0, b"", b"");
    let body = &whole[16..];
    let mut cut = body.to_vec();
    cut.truncate(cut.len() - 1); // "h" of "hi": sm_length 2 runs past the end
    let mid_field = body[..14].to_vec(); // inside the destination address
    let mut overrun = body.to_vec();
    let at = overrun.len() - 3;
    overrun[at] = 200;
    for (seq, id, body, want) in [
        (20, 4u32, Vec::new(), CommandId::SubmitSmResp),
        (21, 4, cut, CommandId::SubmitSmResp),
        (22, 4, mid_field, CommandId::SubmitSmResp),
        (23, 4, overrun, CommandId::SubmitSmResp),
        (24, 0x103, Vec::new(), CommandId::DataSmResp),
        (25, 3, Vec::new(), CommandId::QuerySmResp),
        (26, 8, b"\x001\0".to_vec(), CommandId::CancelSmResp),
    ] {
        c.send_raw(&raw_pdu(id, seq, &body)).await;
        let r = c.response(seq).await;
        assert_eq!(
            (r.id(), r.status()),
            (want, CommandStatus::EsmeRinvcmdlen),
            "seq {seq}"
        );
    }
    // A header-only command with a body, and an unknown command, are bad headers.
    c.send_raw(&raw_pdu(0x15, 30, b"x")).await;
    let r = c.response(30).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdlen)
    );
    c.send_raw(&raw_pdu(0x1234, 31, b"")).await;
    let r = c.response(31).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdid)
    );
    // Still serving.
    let r = c.submit(text("8613800138000", "still here", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    h.shutdown().await;
}

/// A command_length that cannot be framed (below the 16-byte header, or past the largest PDU
/// the simulator takes) gets a generic_nack with ESME_RINVCMDLEN and the PDU's sequence
/// number, then the connection closes (the stream cannot be resynchronised).
#[tokio::test]
async fn an_unframeable_command_length_gets_a_generic_nack_before_the_close() {
    let h = sim(SimConfig::local()).await;
    for (i, len) in [0u32, 8, 15, 0x7FFF_FFFF, 100_000].into_iter().enumerate() {
        let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
        let seq = 500 + i as u32;
        let mut header = len.to_be_bytes().to_vec();
        header.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0]);
        header.extend_from_slice(&seq.to_be_bytes());
        c.send_raw(&header).await;
        if len == 100_000 {
            // The body follows, as a client that means it would send it.
            c.send_raw(&vec![0u8; 100_000 - 16]).await;
        }
        let r = c.response(seq).await;
        assert_eq!(
            (r.id(), r.status()),
            (CommandId::GenericNack, CommandStatus::EsmeRinvcmdlen),
            "command_length {len}"
        );
        assert!(c.closed().await, "command_length {len}: still open");
    }
    h.shutdown().await;
}

/// A submit accepted before the ESME's unbind gets its submit_sm_resp before the unbind_resp,
/// also when the response-delay fault holds it back.
#[tokio::test]
async fn responses_held_back_go_out_before_the_unbind_resp() {
    let h = sim(SimConfig::local().with_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay::fixed(800)),
        ..smsc_sim::Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (s1, s2, u) = (c.next_seq(), c.next_seq(), c.next_seq());
    for seq in [s1, s2] {
        c.send(rusmpp::Command::new(
            CommandStatus::EsmeRok,
            seq,
            text("8613800138000", "before the unbind", 0),
        ))
        .await;
    }
    c.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        u,
        rusmpp::Pdu::Unbind,
    ))
    .await;
    let mut order = Vec::new();
    while let Some(f) = c.read().await {
        if let sms_wire::framing::Frame::Pdu(p) = f {
            order.push((p.id(), p.sequence_number(), p.status()));
        }
    }
    assert_eq!(
        order,
        [
            (CommandId::SubmitSmResp, s1, CommandStatus::EsmeRok),
            (CommandId::SubmitSmResp, s2, CommandStatus::EsmeRok),
            (CommandId::UnbindResp, u, CommandStatus::EsmeRok),
        ]
    );
    h.shutdown().await;
}

/// A bind that leaves the simulator's enquire_links unanswered is dropped after
/// `enquire_link_misses` of them; one that answers stays.
#[tokio::test]
async fn a_bind_ignoring_enquire_links_is_dropped() {
    let h = sim(SimConfig {
        enquire_link_interval: Some(Duration::from_millis(200)),
        enquire_link_misses: 3,
        ..SimConfig::local()
    })
    .await;
    let mut deaf = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut awake = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let start = std::time::Instant::now();
    let mut links = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        if let Some(sms_wire::framing::Frame::Pdu(p)) =
            awake.try_read(Duration::from_millis(50)).await
        {
            if p.id() == CommandId::EnquireLink {
                links += 1;
                awake
                    .send(rusmpp::Command::new(
                        CommandStatus::EsmeRok,
                        p.sequence_number(),
                        rusmpp::Pdu::EnquireLinkResp,
                    ))
                    .await;
            }
        }
    }
    assert!(links >= 4, "{links} enquire_links");
    // What the deaf bind got: its enquire_links, then the close (bounded: without the drop
    // they would keep coming).
    let mut unanswered = 0;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(2), deaf.framed.next()).await {
            Ok(Some(Ok(sms_wire::framing::Frame::Pdu(p)))) if p.id() == CommandId::EnquireLink => {
                unanswered += 1;
                if unanswered > 10 {
                    break false;
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(None) | Ok(Some(Err(_))) => break true,
            Err(_) => break false,
        }
    };
    assert!(
        closed,
        "the deaf bind is still open after {unanswered} enquire_links"
    );
    assert_eq!(unanswered, 3);
    let r = awake.submit(text("8613800138000", "still bound", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    assert_eq!(h.binds().len(), 1);
    h.shutdown().await;
}

/// A connection that never binds is closed after `bind_timeout`; a bind in time stays.
#[tokio::test]
async fn a_connection_that_never_binds_is_closed() {
    let h = sim(SimConfig {
        bind_timeout: Some(Duration::from_millis(300)),
        ..SimConfig::local()
    })
    .await;
    let mut idle = Client::connect(h.smpp_addr()).await;
    let mut quick = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let t = std::time::Instant::now();
    assert!(idle.closed().await);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = quick
        .submit(text("8613800138000", "bound in time", 0))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    h.shutdown().await;
}

/// SIGTERM to `smsc-sim serve`: each bound ESME gets an unbind, and once it answers the
/// simulator exits (it used to close the sockets without a word).
#[cfg(unix)]
#[tokio::test]
async fn sigterm_unbinds_the_esmes_before_exiting() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_smsc-sim"))
        .args(["serve", "--smpp", "127.0.0.1:0", "--no-http"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("no listening line")
            .unwrap()
            .expect("exited early");
        if let Some(a) = line.strip_prefix("smsc-sim: SMPP on ") {
            break a.trim().parse::<std::net::SocketAddr>().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let mut c = Client::connect(addr).await;
    assert_eq!(
        c.bind(Mode::Trx, "any", "any").await,
        CommandStatus::EsmeRok
    );
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let unbind = loop {
        match c.read().await.expect("closed without an unbind") {
            sms_wire::framing::Frame::Pdu(p) if p.id() == CommandId::Unbind => break p,
            _ => {}
        }
    };
    c.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        unbind.sequence_number(),
        rusmpp::Pdu::UnbindResp,
    ))
    .await;
    assert!(c.closed().await);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("still running")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// What a real SMSC refuses: a delivery receipt's esm_class in a submit_sm, a TON past 6 or an
/// NPI outside SMPP 3.4's table, reserved registered_delivery bits, a priority past 3.
#[tokio::test]
async fn fields_outside_their_smpp_values_are_refused() {
    use rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let base = || text("8613800138000", "x", 0);
    let mut cases: Vec<(SubmitSm, u32)> = Vec::new();
    let mut sm = base();
    sm.esm_class = EsmClass::from(0x04);
    cases.push((sm, 0x43));
    let mut sm = base();
    sm.esm_class = EsmClass::from(0x20);
    cases.push((sm, 0x43));
    let mut sm = base();
    sm.dest_addr_ton = Ton::from(7);
    cases.push((sm, 0x50));
    let mut sm = base();
    sm.dest_addr_npi = Npi::from(99);
    cases.push((sm, 0x51));
    let mut sm = base();
    sm.source_addr_ton = Ton::from(9);
    cases.push((sm, 0x48));
    let mut sm = base();
    sm.source_addr_npi = Npi::from(5);
    cases.push((sm, 0x49));
    let mut sm = base();
    sm.registered_delivery = RegisteredDelivery::from(0xFF);
    cases.push((sm, 0x07));
    let mut sm = base();
    sm.registered_delivery = RegisteredDelivery::from(0x03);
    cases.push((sm, 0x07));
    let mut sm = base();
    sm.priority_flag = PriorityFlag::from(9);
    cases.push((sm, 0x06));
    // Still taken: an ESME delivery acknowledgement, the SME-ack and intermediate bits of
    // registered_delivery, priority 3, a national number with TON 2.
    let mut sm = base();
    sm.esm_class = EsmClass::from(0x08);
    cases.push((sm, 0));
    let mut sm = base();
    sm.registered_delivery = RegisteredDelivery::from(0x1D);
    cases.push((sm, 0));
    let mut sm = base();
    sm.priority_flag = PriorityFlag::from(3);
    sm.dest_addr_ton = Ton::from(2);
    cases.push((sm, 0));
    for (i, (sm, want)) in cases.into_iter().enumerate() {
        let r = c.submit(sm).await;
        assert_eq!(u32::from(r.status()), want, "case {i}");
        assert_eq!(r.id(), CommandId::SubmitSmResp);
    }
    h.shutdown().await;
}

/// A bind with interface_version 0x33 (SMPP 3.3, which has no TLVs) gets no
/// sc_interface_version TLV in its response; a 3.4 bind does.
#[tokio::test]
async fn an_smpp_3_3_bind_gets_no_tlv() {
    let h = sim(SimConfig::local()).await;
    for (version, tlv) in [(0x33u8, false), (0x34, true)] {
        let mut c = Client::connect(h.smpp_addr()).await;
        let mut body = bind_body("esme", "secret");
        body[13] = version; // after "esme\0secret\0\0"
        c.send_raw(&raw_pdu(9, 7, &body)).await;
        let r = c.response(7).await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
        let Some(rusmpp::Pdu::BindTransceiverResp(b)) = r.pdu() else {
            panic!("{r:?}")
        };
        assert_eq!(
            b.sc_interface_version().is_some(),
            tlv,
            "version {version:#x}"
        );
    }
    h.shutdown().await;
}
