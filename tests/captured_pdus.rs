//! The gateway against an SMSC's own bytes: a stand-in SMSC on loopback TCP answers the
//! gateway's bind and sends it, byte for byte, the PDUs node-smpp (the SMSC of
//! `../shared/peers`) encodes (`fixtures/pdus/node-smpp-smsc.hex`): receipts, MO as GSM 7-bit,
//! UCS-2, a UDH-concatenated pair, a SAR part, a `message_payload`, a USSD indication, an
//! enquire_link, a generic_nack and an unbind. Each must be answered as SMPP 3.4 says, and
//! each MO handed on with the text node-smpp was asked to encode (`sent` in the fixture);
//! the classifier reads each receipt's id and state.

#[path = "../sms-wire/tests/common/captured.rs"]
mod captured;

use std::collections::HashSet;
use std::time::Duration;

use captured::Captured;
use futures::StreamExt;
use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::inbound::{self, InboundKind};
use presence_gw::smpp::LinkConfig;
use rusmpp::{Command, CommandId};
use sms_wire::framing::{decode_pdu, Frame, SmppCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(10);

/// The fixture titled `starts`, with sequence number `seq` written into its header.
fn pdu(all: &[Captured], starts: &str, seq: u32) -> Vec<u8> {
    let rec = all
        .iter()
        .find(|r| {
            r.name
                .split_once(": ")
                .is_some_and(|(_, t)| t.starts_with(starts))
        })
        .unwrap_or_else(|| panic!("no fixture {starts:?}"));
    let mut b = rec.bytes.clone();
    b[12..16].copy_from_slice(&seq.to_be_bytes());
    b
}

/// The next PDU the gateway sends that is not an enquire_link (those are answered with
/// node-smpp's enquire_link_resp, its sequence number put in).
async fn next(sock: &mut Framed<TcpStream, SmppCodec>, all: &[Captured]) -> Command {
    loop {
        let frame = tokio::time::timeout(WAIT, sock.next())
            .await
            .expect("the gateway answers in time")
            .expect("the link stays up")
            .expect("a PDU that frames");
        let Frame::Pdu(cmd) = frame else {
            panic!("the gateway sent a PDU we cannot decode: {frame:?}")
        };
        if cmd.id() == CommandId::EnquireLink {
            let resp = pdu(all, "enquire_link_resp", cmd.sequence_number());
            sock.get_mut().write_all(&resp).await.unwrap();
            continue;
        }
        return cmd;
    }
}

#[tokio::test]
async fn the_gateway_takes_node_smpp_smsc_pdus_byte_for_byte() {
    let all = captured::load(captured::SMSC_FILE);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let link = LinkConfig {
        smsc: listener.local_addr().unwrap().to_string(),
        system_id: "presence".into(),
        password: presence_gw::config::Secret::new("pw123"),
        response_timeout: Duration::from_secs(2),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        ..LinkConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = GatewayOptions::new(dir.path().join("gw.db"), link, "10658");
    let (tx, mut mo) = mpsc::channel(64);
    let gw = tokio::spawn(Gateway::start(opts, tx));

    let (sock, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the gateway connects")
        .unwrap();
    let mut sock = Framed::new(sock, SmppCodec::new());
    let bind = next(&mut sock, &all).await;
    assert_eq!(bind.id(), CommandId::BindTransceiver, "{bind:?}");
    let resp = pdu(&all, "bind_transceiver_resp", bind.sequence_number());
    sock.get_mut().write_all(&resp).await.unwrap();
    let gw = gw.await.unwrap().expect("gateway starts");
    assert!(
        gw.link.wait_bound(WAIT).await,
        "bound on node-smpp's bind_transceiver_resp"
    );

    // Every deliver_sm, then an enquire_link, each with its own sequence number.
    let delivers: Vec<&Captured> = all.iter().filter(|r| r.command_id() == 0x05).collect();
    let mut seq = 1000u32;
    let mut waiting = HashSet::new();
    for d in &delivers {
        seq += 1;
        let mut b = d.bytes.clone();
        b[12..16].copy_from_slice(&seq.to_be_bytes());
        sock.get_mut().write_all(&b).await.unwrap();
        waiting.insert(seq);
    }
    seq += 1;
    sock.get_mut()
        .write_all(&pdu(&all, "enquire_link", seq))
        .await
        .unwrap();
    let enquire = seq;
    let mut enquire_answered = false;
    while !waiting.is_empty() || !enquire_answered {
        let c = next(&mut sock, &all).await;
        match c.id() {
            CommandId::DeliverSmResp => {
                assert!(waiting.remove(&c.sequence_number()), "{c:?}");
                assert_eq!(u32::from(c.status()), 0, "every deliver_sm taken: {c:?}");
            }
            CommandId::EnquireLinkResp => {
                assert_eq!(c.sequence_number(), enquire);
                enquire_answered = true;
            }
            other => panic!("unexpected {other:?} from the gateway"),
        }
    }

    // The MO, as node-smpp was asked to encode it: the UDH pair joined, the SAR part waiting
    // for its second half, the USSD indication with its service op.
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), mo.recv()).await {
        got.push((m.text.clone(), m.source.clone(), m.ussd.map(|u| u.op)));
    }
    got.sort();
    let sent = |t: &str| {
        delivers
            .iter()
            .find(|r| r.name.contains(t))
            .and_then(|r| r.sent.get("text"))
            .unwrap_or_else(|| panic!("no sent text in {t:?}"))
            .clone()
    };
    let pair = ["part 1/2, 8-bit UDH", "part 2/2, 8-bit UDH"]
        .map(sent)
        .concat();
    let mut want = vec![
        (sent("GSM 7-bit"), "+8613800138000".to_string(), None),
        (sent("UCS-2 Chinese"), "+8613800138000".to_string(), None),
        (pair, "+8613800138000".to_string(), None),
        (sent("message_payload"), "+8613800138000".to_string(), None),
        (sent("USSD"), "+8613800138000".to_string(), Some(1)),
    ];
    want.sort();
    assert_eq!(got, want);

    // A generic_nack for nothing the gateway sent is no reason to drop the link; an unbind is
    // answered, and the gateway binds again.
    sock.get_mut()
        .write_all(&pdu(&all, "generic_nack", 7))
        .await
        .unwrap();
    sock.get_mut()
        .write_all(&pdu(&all, "unbind", 8))
        .await
        .unwrap();
    let c = next(&mut sock, &all).await;
    assert_eq!(
        (c.id(), c.sequence_number()),
        (CommandId::UnbindResp, 8),
        "{c:?}"
    );
    let (again, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the gateway binds again after the SMSC's unbind")
        .unwrap();
    let mut again = Framed::new(again, SmppCodec::new());
    let bind = next(&mut again, &all).await;
    assert_eq!(bind.id(), CommandId::BindTransceiver);
    drop((sock, again));
    gw.shutdown().await;
}

/// The receipts node-smpp encodes, read by the gateway's classifier: the id and `stat:` it was
/// asked to write (one with `receipted_message_id` and `message_state` TLVs, one with the id in
/// the text only), from the handset's number.
#[test]
fn node_smpp_receipts_classify_with_their_id_and_state() {
    let all = captured::load(captured::SMSC_FILE);
    let receipts: Vec<&Captured> = all
        .iter()
        .filter(|r| r.sent.contains_key("receipt_id"))
        .collect();
    assert!(receipts.len() >= 2);
    for r in receipts {
        let Frame::Pdu(cmd) = decode_pdu(&r.bytes) else {
            panic!("{}: not decoded", r.name)
        };
        let Ok(InboundKind::Receipt(ev)) = inbound::classify(&cmd, 0) else {
            panic!("{}: not a receipt", r.name)
        };
        assert_eq!(ev.message_id, r.sent["receipt_id"], "{}", r.name);
        assert_eq!(ev.stat_raw, r.sent["stat"], "{}", r.name);
        assert!(ev.status.is_some(), "{}: state not recognised", r.name);
        assert_eq!(ev.source, format!("+{}", r.sent["from"]), "{}", r.name);
    }
}
