//! The SMPP server over real TCP: binds and their errors, PDU handling, validation, window
//! enforcement and every fault type.

mod common;

use std::time::Duration;

use common::{message_id, submit, text, Client, Mode};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::framing::Frame;
use smsc_sim::{Delay, ErrorFault, Faults, MalformedKind, SimConfig, SimHandle, Simulator};

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg.with_account("esme", "secret"))
        .await
        .expect("start")
}

#[tokio::test]
async fn bind_errors_and_states() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::connect(h.smpp_addr()).await;
    // Before bind: submit is refused with ESME_RINVBNDSTS, enquire_link is answered.
    let r = c.submit(text("8613800138000", "hi", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvbndsts);
    assert_eq!(r.id(), CommandId::SubmitSmResp);
    assert_eq!(
        c.request(Pdu::EnquireLink).await.id(),
        CommandId::EnquireLinkResp
    );
    assert_eq!(
        c.bind(Mode::Trx, "nobody", "secret").await,
        CommandStatus::EsmeRinvsysid
    );
    assert_eq!(
        c.bind(Mode::Trx, "esme", "wrong").await,
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );
    assert_eq!(
        c.bind(Mode::Tx, "esme", "secret").await,
        CommandStatus::EsmeRalybnd
    );
    let binds = h.wait_for_binds(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(binds[0].mode, "transceiver");
    assert_eq!(binds[0].system_id.as_deref(), Some("esme"));

    // A receiver may not submit.
    let mut rx = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        rx.bind(Mode::Rx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );
    let r = rx.submit(text("8613800138000", "hi", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvbndsts);

    // Unbind is answered and the connection closes.
    let r = c.request(Pdu::Unbind).await;
    assert_eq!(r.id(), CommandId::UnbindResp);
    assert!(c.closed().await);
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_and_malformed_pdus_get_generic_nack_and_session_survives() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    // Unknown command id.
    c.send_raw(&[0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 77])
        .await;
    let r = c.response(77).await;
    assert_eq!(r.id(), CommandId::GenericNack);
    assert_eq!(r.status(), CommandStatus::EsmeRinvcmdid);
    // enquire_link with a stray body byte: well framed, bad body.
    c.send_raw(&[0, 0, 0, 17, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 78, 0xAA])
        .await;
    let r = c.response(78).await;
    assert_eq!(r.id(), CommandId::GenericNack);
    assert_eq!(r.status(), CommandStatus::EsmeRinvcmdlen);
    // Still serving.
    let r = c.submit(text("8613800138000", "still here", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let stats = h.stats();
    assert_eq!(stats.received["submit_sm"], 1);
    assert!(stats.sent["generic_nack"] >= 2);
    // Each response under its own name.
    assert_eq!(stats.sent["submit_sm_resp"], 1);
    assert_eq!(stats.sent["bind_transceiver_resp"], 1);
    assert!(!stats.sent.contains_key("other"), "{:?}", stats.sent);
    h.shutdown().await;
}

#[tokio::test]
async fn field_validation_codes() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let st = |r: Command| r.status();
    assert_eq!(
        st(c.submit(submit("12ab", 0, 0, b"x", 0)).await),
        CommandStatus::EsmeRinvdstadr
    );
    // A 21-digit destination cannot even be decoded: still ESME_RINVDSTADR, not generic_nack.
    let mut raw = vec![0u8; 16];
    raw.extend_from_slice(&[0, 1, 1]);
    raw.extend_from_slice(b"10086\0");
    raw.extend_from_slice(&[1, 1]);
    raw.extend_from_slice(b"123456789012345678901\0");
    raw.extend_from_slice(&[0; 12]);
    let len = raw.len() as u32;
    raw[0..4].copy_from_slice(&len.to_be_bytes());
    raw[4..8].copy_from_slice(&4u32.to_be_bytes());
    raw[12..16].copy_from_slice(&99u32.to_be_bytes());
    c.send_raw(&raw).await;
    let r = c.response(99).await;
    assert_eq!(
        (r.id(), r.status()),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRinvdstadr)
    );
    assert_eq!(
        st(c.submit(submit("12345678901234567890", 0, 0, b"x", 0))
            .await),
        CommandStatus::EsmeRok
    );
    assert_eq!(
        st(c.submit(submit("1234567", 0, 0x80, b"x", 0)).await),
        CommandStatus::EsmeRinvdcs
    );
    assert_eq!(
        st(c.submit(submit("1234567", 0, 0x08, b"abc", 0)).await),
        CommandStatus::EsmeRinvmsglen
    );
    assert_eq!(
        st(c.submit(submit("1234567", 0x40, 0, &[9, 0, 3], 0)).await),
        CommandStatus::EsmeRinvesmclass
    );
    assert_eq!(
        st(c.submit(submit("1234567", 0, 0, b"ok", 0)).await),
        CommandStatus::EsmeRok
    );
    let all = h.mt_messages(&smsc_sim::MtFilter::all());
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|m| m.accepted()).count(), 2);
    h.shutdown().await;
}

#[tokio::test]
async fn window_enforced_while_responses_are_delayed() {
    let cfg = SimConfig {
        window: 5,
        ..SimConfig::local()
    }
    .with_faults(Faults {
        response_delay: Some(Delay::fixed(400)),
        ..Faults::default()
    });
    let h = sim(cfg).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let mut seqs = Vec::new();
    for i in 0..8 {
        let seq = c.next_seq();
        seqs.push(seq);
        c.send(Command::new(
            CommandStatus::EsmeRok,
            seq,
            text("8613800138000", &format!("m{i}"), 0),
        ))
        .await;
    }
    // The three beyond the window are answered at once with ESME_RTHROTTLED.
    let mut throttled = Vec::new();
    for _ in 0..3 {
        let Some(Frame::Pdu(r)) = c.read().await else {
            panic!("closed")
        };
        assert_eq!(r.status(), CommandStatus::EsmeRthrottled);
        throttled.push(r.sequence_number());
    }
    assert_eq!(throttled, seqs[5..].to_vec());
    let occupied = h.binds().iter().map(|b| b.outstanding).max().unwrap();
    assert_eq!(occupied, 5);
    for seq in &seqs[..5] {
        assert_eq!(c.response(*seq).await.status(), CommandStatus::EsmeRok);
    }
    assert_eq!(h.binds()[0].outstanding, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn throttle_fault_limits_submits_per_second() {
    let h = sim(SimConfig::local().with_faults(Faults {
        throttle_per_sec: Some(3),
        ..Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let mut ok = 0;
    let mut throttled = 0;
    for _ in 0..12 {
        match c.submit(text("8613800138000", "x", 0)).await.status() {
            CommandStatus::EsmeRok => ok += 1,
            CommandStatus::EsmeRthrottled => throttled += 1,
            s => panic!("{s:?}"),
        }
    }
    // 12 submits span at most two one-second windows.
    assert!((3..=6).contains(&ok), "ok {ok}");
    assert_eq!(ok + throttled, 12);
    h.set_faults(Faults::default());
    assert_eq!(
        c.submit(text("8613800138000", "x", 0)).await.status(),
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

/// Submits of `n_a` from `a` then `n_b` from `b`, all within one wall-clock second (retried
/// in the next second when the machine was too slow): the statuses of `a`'s and of `b`'s.
async fn submits_in_one_second(
    a: &mut Client,
    n_a: usize,
    b: &mut Client,
    n_b: usize,
) -> (Vec<CommandStatus>, Vec<CommandStatus>) {
    let second = || smsc_sim::util::now_ms() / 1000;
    for _ in 0..5 {
        // Start early in a second, when both windows begin afresh.
        let ms = smsc_sim::util::now_ms() % 1000;
        tokio::time::sleep(Duration::from_millis(1000 - ms + 5)).await;
        let start = second();
        let mut sa = Vec::new();
        for _ in 0..n_a {
            sa.push(a.submit(text("8613800138000", "x", 0)).await.status());
        }
        let mut sb = Vec::new();
        for _ in 0..n_b {
            sb.push(b.submit(text("8613800138001", "x", 0)).await.status());
        }
        if second() == start {
            return (sa, sb);
        }
    }
    panic!("no run of submits within one second");
}

/// `throttle_per_sec` counts per account: one ESME's submits do not use up another's (from the
/// exploratory test: with 5/s, accounts A and B sending 4 each got B three 0x58). The
/// SMSC-wide limit is `throttle_global_per_sec`.
#[tokio::test]
async fn the_throttle_counts_per_account() {
    let h = Simulator::start(
        SimConfig::local()
            .with_account("esme", "secret")
            .with_account("other", "pw2")
            .with_faults(Faults {
                throttle_per_sec: Some(5),
                ..Faults::default()
            }),
    )
    .await
    .expect("start");
    let mut a = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let mut b = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        b.bind(Mode::Tx, "other", "pw2").await,
        CommandStatus::EsmeRok
    );
    let ok = CommandStatus::EsmeRok;
    let (sa, sb) = submits_in_one_second(&mut a, 6, &mut b, 5).await;
    assert_eq!(sa[..5], [ok; 5], "{sa:?}");
    assert_eq!(sa[5], CommandStatus::EsmeRthrottled, "{sa:?}");
    assert_eq!(sb, [ok; 5], "{sb:?}");

    h.set_faults(Faults {
        throttle_global_per_sec: Some(5),
        ..Faults::default()
    });
    let (sa, sb) = submits_in_one_second(&mut a, 3, &mut b, 3).await;
    assert_eq!(sa, [ok; 3], "{sa:?}");
    assert_eq!(sb, [ok, ok, CommandStatus::EsmeRthrottled], "{sb:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn error_fault_for_listed_and_percent() {
    let h = sim(SimConfig::local()).await;
    h.set_faults(Faults {
        error: Some(ErrorFault {
            status: 0x45,
            percent: 0.0,
            destinations: vec!["+8613900000000".into()],
        }),
        ..Faults::default()
    });
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let r = c.submit(text("8613900000000", "x", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRsubmitfail);
    assert_eq!(r.id(), CommandId::SubmitSmResp);
    assert_eq!(
        c.submit(text("8613900000001", "x", 0)).await.status(),
        CommandStatus::EsmeRok
    );
    h.set_faults(Faults {
        error: Some(ErrorFault {
            status: 0x14,
            percent: 100.0,
            destinations: vec![],
        }),
        ..Faults::default()
    });
    assert_eq!(
        c.submit(text("8613900000001", "x", 0)).await.status(),
        CommandStatus::EsmeRmsgqful
    );
    h.shutdown().await;
}

#[tokio::test]
async fn random_delay_fault_stays_within_range() {
    let h = sim(SimConfig::local().with_faults(Faults {
        response_delay: Some(Delay {
            min_ms: 100,
            max_ms: 250,
        }),
        ..Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        assert_eq!(
            c.submit(text("8613800138000", "x", 0)).await.status(),
            CommandStatus::EsmeRok
        );
        let e = t.elapsed();
        assert!(
            e >= Duration::from_millis(95) && e < Duration::from_millis(1500),
            "{e:?}"
        );
    }
    h.shutdown().await;
}

#[tokio::test]
async fn drop_after_n_pdus_and_on_demand() {
    let h = sim(SimConfig::local().with_faults(Faults {
        drop_after_pdus: Some(3),
        ..Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await; // PDU 1
    assert_eq!(
        c.submit(text("8613800138000", "a", 0)).await.status(),
        CommandStatus::EsmeRok
    ); // 2
    let seq = c.next_seq();
    c.send(Command::new(
        CommandStatus::EsmeRok,
        seq,
        text("8613800138000", "b", 0),
    ))
    .await; // 3
    assert_eq!(c.response(seq).await.status(), CommandStatus::EsmeRok);
    assert!(c.closed().await, "connection should close after 3 PDUs");

    h.set_faults(Faults::default());
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.wait_for_binds(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(h.drop_connections(Some("esme")), 1);
    assert!(c.closed().await, "drop on demand");
    h.shutdown().await;
}

#[tokio::test]
async fn enquire_link_can_go_unanswered() {
    let h = sim(SimConfig::local().with_faults(Faults {
        ignore_enquire_link: true,
        ..Faults::default()
    }))
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Tx).await;
    let seq = c.next_seq();
    c.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink))
        .await;
    assert!(c.try_read(Duration::from_millis(300)).await.is_none());
    assert_eq!(
        c.submit(text("8613800138000", "x", 0)).await.status(),
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

#[tokio::test]
async fn malformed_pdu_on_demand() {
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.wait_for_binds(1, Duration::from_secs(2)).await.unwrap();
    for kind in [
        MalformedKind::TruncatedBody,
        MalformedKind::ReceiptMissingNul,
        MalformedKind::UnknownCommand,
    ] {
        assert_eq!(h.send_malformed(kind, None), 1);
        match c.read().await.expect("frame") {
            Frame::Invalid(inv) => {
                c.send(inv.generic_nack()).await;
            }
            // sms-wire repairs the receipt's missing NUL; the client answers it as a receipt.
            Frame::Pdu(p) if kind == MalformedKind::ReceiptMissingNul => {
                assert_eq!(p.id(), CommandId::DeliverSm, "{p:?}");
                c.send(Command::new(
                    CommandStatus::EsmeRok,
                    p.sequence_number(),
                    rusmpp::Pdu::DeliverSmResp(Default::default()),
                ))
                .await;
            }
            Frame::Pdu(p) => {
                assert!(matches!(p.id(), CommandId::Other(0xFF)), "{kind:?}: {p:?}");
                c.send(sms_wire::framing::generic_nack(
                    CommandStatus::EsmeRinvcmdid,
                    p.sequence_number(),
                ))
                .await;
            }
        }
    }
    assert_eq!(
        c.submit(text("8613800138000", "x", 0)).await.status(),
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

#[tokio::test]
async fn open_mode_accepts_any_account_and_message_ids_are_unique() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let mut c = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        c.bind(Mode::Tx, "anyone", "any").await,
        CommandStatus::EsmeRok
    );
    let a = message_id(&c.submit(text("8613800138000", "x", 0)).await);
    let b = message_id(&c.submit(text("8613800138000", "y", 0)).await);
    assert_ne!(a, b);
    assert_eq!(a, "00000001");
    h.shutdown().await;
}

#[tokio::test]
async fn data_sm_is_accepted_and_pdus_are_hex_logged() {
    let log = std::env::temp_dir().join(format!("smsc-sim-hexlog-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let h = sim(SimConfig {
        hex_log: Some(log.clone()),
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let d = rusmpp::pdus::DataSm::builder()
        .source_addr(std::str::FromStr::from_str("10086").unwrap())
        .destination_addr(std::str::FromStr::from_str("8613800138000").unwrap())
        .esm_class(rusmpp::values::EsmClass::from(0))
        .data_coding(rusmpp::values::DataCoding::from(0))
        .push_tlv(
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::MessagePayload(
                rusmpp::values::MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(
                    b"via data sm".to_vec(),
                )),
            ),
        )
        .build();
    let r = c.request(d).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let Some(Pdu::DataSmResp(resp)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(resp.message_id().as_str(), "00000001");
    let mt = h.mt_messages(&smsc_sim::MtFilter::to("8613800138000"));
    assert_eq!(mt[0].command, "data_sm");
    assert_eq!(mt[0].text, "via data sm");
    h.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // bind + data_sm in, their two responses out.
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains(" in 0000"));
    assert!(lines[1].contains(" out 0000"));
    let _ = std::fs::remove_file(&log);
}

/// The hex log holds a PDU as it came, also one the simulator had to repair to read (a
/// `receipted_message_id` without its NUL): a re-encoded copy would show the NUL it lacked.
#[tokio::test]
async fn the_hex_log_holds_pdus_as_they_came() {
    let log = std::env::temp_dir().join(format!("smsc-sim-rawlog-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let h = sim(SimConfig {
        hex_log: Some(log.clone()),
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut body = vec![0, 0, 0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 9]; // data_sm, seq 9
    body.push(0); // service_type
    body.extend_from_slice(&[0, 0]); // source ton, npi
    body.extend_from_slice(b"10086\0");
    body.extend_from_slice(b"\x01\x018613800138000\0");
    body.extend_from_slice(&[0, 0, 0]); // esm_class, registered_delivery, data_coding
    body.extend_from_slice(&[0x04, 0x24, 0, 3]);
    body.extend_from_slice(b"raw");
    body.extend_from_slice(&[0x00, 0x1E, 0, 2]);
    body.extend_from_slice(b"ab"); // no NUL
    let mut pdu = u32::try_from(body.len() + 4)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    pdu.extend_from_slice(&body);
    c.send_raw(&pdu).await;
    let answer = loop {
        match c.read().await.expect("open") {
            Frame::Pdu(p) if p.sequence_number() == 9 => break p,
            _ => {}
        }
    };
    assert_eq!(answer.id(), CommandId::DataSmResp, "{answer:?}");
    h.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let want: String = pdu.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        text.lines()
            .any(|l| l.contains(" in ") && l.to_ascii_lowercase().ends_with(&want)),
        "{want} not in the log:\n{text}"
    );
    let _ = std::fs::remove_file(&log);
}

/// After the SMSC sends unbind, the bind takes no new requests and gets no deliveries; when
/// no unbind_resp comes, the SMSC closes the connection after its response timeout.
#[tokio::test]
async fn after_its_unbind_the_smsc_takes_nothing_more_and_closes_without_an_answer() {
    let h = sim(SimConfig {
        deliver_timeout: Duration::from_millis(300),
        ..SimConfig::local()
    })
    .await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    assert_eq!(h.unbind_all(None), 1);
    let unbind = loop {
        match c.read().await.expect("open") {
            Frame::Pdu(p) if p.id() == CommandId::Unbind => break p,
            _ => {}
        }
    };
    assert!(unbind.sequence_number() > 0);
    let r = c.submit(text("8613800138000", "too late", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRinvbndsts);
    h.inject_mo(smsc_sim::MoRequest::new(
        "8613800138001",
        "10086",
        "held back",
    ))
    .await
    .unwrap();
    // Until the close: nothing delivered on a bind being unbound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let frame = tokio::time::timeout_at(deadline, c.read())
            .await
            .expect("the connection was never closed");
        match frame {
            None => break,
            Some(Frame::Pdu(p)) => assert_ne!(p.id(), CommandId::DeliverSm, "delivered: {p:?}"),
            Some(_) => {}
        }
    }
    h.shutdown().await;
}

#[tokio::test]
async fn a_simulator_with_nonsense_settings_does_not_start() {
    for tweak in [
        (|c: &mut SimConfig| c.window = 0) as fn(&mut SimConfig),
        |c| c.window_status = 0,
        |c| c.deliver_window = 0,
        |c| {
            c.faults.response_delay = Some(Delay {
                min_ms: 9,
                max_ms: 1,
            })
        },
    ] {
        let mut cfg = SimConfig::local();
        tweak(&mut cfg);
        assert!(matches!(
            Simulator::start(cfg).await,
            Err(smsc_sim::SimError::Config(_))
        ));
    }
}

/// Receipts sent before their responses still keep to the bind's deliver window.
#[tokio::test]
async fn early_receipts_keep_to_the_deliver_window() {
    let mut cfg = SimConfig {
        deliver_window: 2,
        ..SimConfig::local()
    };
    cfg.faults.receipt_before_resp = true;
    let h = sim(cfg).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    for i in 0..8 {
        let r = c
            .submit(text("8613800138000", &format!("early {i}"), 1))
            .await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    // Nothing answered: no more deliver_sm than the window may be out.
    let delivers = c
        .count_until_quiet(CommandId::DeliverSm, Duration::from_millis(300))
        .await;
    assert_eq!(delivers, 2, "deliver_sm out beyond the window of 2");
    h.shutdown().await;
}

/// The SMSC's enquire_link interval counts from the bind: the ticks of a connection that
/// waited before binding are not sent in a burst.
#[tokio::test]
async fn enquire_links_start_one_interval_after_the_bind() {
    let h = sim(SimConfig {
        enquire_link_interval: Some(Duration::from_secs(1)),
        ..SimConfig::local()
    })
    .await;
    let mut c = common::Client::connect(h.smpp_addr()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );
    let early = c
        .count_until_quiet(CommandId::EnquireLink, Duration::from_millis(400))
        .await;
    assert_eq!(early, 0, "enquire_link sent within 400 ms of the bind");
    h.shutdown().await;
}

#[tokio::test]
async fn unbind_before_a_bind_is_refused_and_a_bind_still_works() {
    let h = sim(SimConfig::local()).await;
    let mut c = common::Client::connect(h.smpp_addr()).await;
    c.send(Command::new(CommandStatus::EsmeRok, 3, Pdu::Unbind))
        .await;
    let answer = loop {
        match c.read().await.expect("open") {
            Frame::Pdu(p) if p.sequence_number() == 3 => break p,
            _ => {}
        }
    };
    assert_eq!(answer.id(), CommandId::UnbindResp);
    assert_eq!(answer.status(), CommandStatus::EsmeRinvbndsts);
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

#[tokio::test]
async fn faults_set_from_code_are_checked_too() {
    let h = sim(SimConfig::local()).await;
    let bad = Faults {
        response_delay: Some(Delay {
            min_ms: 9,
            max_ms: 1,
        }),
        ..Faults::default()
    };
    assert!(h.try_set_faults(bad).is_err());
    assert_eq!(h.faults(), Faults::default(), "left as they were");
    let throttle = Faults {
        throttle_per_sec: Some(0),
        ..Faults::default()
    };
    assert_eq!(h.try_set_faults(throttle.clone()), Ok(()));
    assert_eq!(h.faults(), throttle);
    h.shutdown().await;
}
