//! Link tests against a scripted SMSC peer on loopback TCP (DESIGN.md style example 13).
//! The full simulator is exercised in `tests/`; here each test scripts the exact peer behaviour.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::types::COctetString;
use rusmpp::values::EsmClass;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::framing::{error_response, Frame, SmppCodec};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::*;

/// What the scripted peer does with each PDU it receives on a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Answer everything normally.
    Normal,
    /// Reject binds with ESME_RINVPASWD.
    BadPassword,
    /// Never answer enquire_link.
    SilentKeepalive,
    /// Never answer submit_sm.
    SilentSubmit,
    /// Answer submit_sm with ESME_RTHROTTLED.
    Throttle,
    /// Accept submit_sm with a message id that has no NUL (`abc<n>`), as some SMSCs do.
    IdWithoutNul,
    /// Accept submit_sm after 400 ms (reading nothing else meanwhile).
    SlowSubmit,
    /// Answer binds with a submit_sm_resp (status 0) carrying the bind's sequence number.
    BindAnsweredWrongly,
    /// Answer binds with a generic_nack whose status is 0.
    BindNackedWithoutError,
}

struct Peer {
    addr: String,
    /// Every PDU the peer received, per connection index.
    seen: mpsc::UnboundedReceiver<(usize, Command)>,
    /// Push a command to the newest connection.
    push: mpsc::Sender<Vec<u8>>,
    connections: Arc<AtomicUsize>,
}

async fn peer(script: Script) -> Peer {
    peer_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), script)
}

fn peer_on(listener: TcpListener, script: Script) -> Peer {
    let addr = listener.local_addr().unwrap().to_string();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (push, mut push_rx) = mpsc::channel::<Vec<u8>>(16);
    let connections = Arc::new(AtomicUsize::new(0));
    let conns = connections.clone();
    tokio::spawn(async move {
        let (conn_tx, mut conn_rx) = mpsc::channel::<mpsc::Sender<Vec<u8>>>(4);
        tokio::spawn(async move {
            let mut current: Option<mpsc::Sender<Vec<u8>>> = None;
            loop {
                tokio::select! {
                    Some(c) = conn_rx.recv() => current = Some(c),
                    Some(bytes) = push_rx.recv() => {
                        if let Some(c) = &current { let _ = c.send(bytes).await; }
                    }
                    else => break,
                }
            }
        });
        while let Ok((sock, _)) = listener.accept().await {
            let idx = conns.fetch_add(1, Ordering::SeqCst);
            let (raw_tx, raw_rx) = mpsc::channel(16);
            let _ = conn_tx.send(raw_tx).await;
            tokio::spawn(serve(sock, idx, script, seen_tx.clone(), raw_rx));
        }
    });
    Peer {
        addr,
        seen,
        push,
        connections,
    }
}

async fn serve(
    sock: TcpStream,
    idx: usize,
    script: Script,
    seen: mpsc::UnboundedSender<(usize, Command)>,
    mut raw: mpsc::Receiver<Vec<u8>>,
) {
    let mut wire = Framed::new(sock, SmppCodec::new());
    let mut next_id = 0u32;
    loop {
        let frame = tokio::select! {
            f = wire.next() => f,
            Some(bytes) = raw.recv() => {
                use tokio::io::AsyncWriteExt;
                let _ = wire.get_mut().write_all(&bytes).await;
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { return };
        let cmd = match frame {
            Frame::Pdu(c) => c,
            Frame::Invalid(_) => continue,
        };
        let s = cmd.sequence_number();
        let id = cmd.id();
        let _ = seen.send((idx, cmd));
        let reply = match id {
            CommandId::BindTransceiver | CommandId::BindTransmitter | CommandId::BindReceiver => {
                if script == Script::BadPassword {
                    Some(error_response(id, CommandStatus::EsmeRinvpaswd, s))
                } else if script == Script::BindAnsweredWrongly {
                    Some(Command::new(
                        CommandStatus::EsmeRok,
                        s,
                        SubmitSmResp::builder()
                            .message_id(COctetString::from_str("x").unwrap())
                            .build(),
                    ))
                } else if script == Script::BindNackedWithoutError {
                    Some(Command::new(CommandStatus::EsmeRok, s, Pdu::GenericNack))
                } else {
                    let resp = match id {
                        CommandId::BindTransceiver => Pdu::BindTransceiverResp(Default::default()),
                        CommandId::BindTransmitter => Pdu::BindTransmitterResp(Default::default()),
                        _ => Pdu::BindReceiverResp(Default::default()),
                    };
                    Some(Command::new(CommandStatus::EsmeRok, s, resp))
                }
            }
            CommandId::EnquireLink if script == Script::SilentKeepalive => None,
            CommandId::EnquireLink => Some(Command::new(
                CommandStatus::EsmeRok,
                s,
                Pdu::EnquireLinkResp,
            )),
            CommandId::SubmitSm => match script {
                Script::SilentSubmit => None,
                Script::Throttle => Some(error_response(id, CommandStatus::EsmeRthrottled, s)),
                Script::IdWithoutNul => {
                    use tokio::io::AsyncWriteExt;
                    next_id += 1;
                    let body = format!("abc{next_id}");
                    let mut raw = ((16 + body.len()) as u32).to_be_bytes().to_vec();
                    raw.extend_from_slice(&0x8000_0004u32.to_be_bytes());
                    raw.extend_from_slice(&0u32.to_be_bytes());
                    raw.extend_from_slice(&s.to_be_bytes());
                    raw.extend_from_slice(body.as_bytes());
                    let _ = wire.get_mut().write_all(&raw).await;
                    None
                }
                _ => {
                    if script == Script::SlowSubmit {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    }
                    next_id += 1;
                    Some(Command::new(
                        CommandStatus::EsmeRok,
                        s,
                        SubmitSmResp::builder()
                            .message_id(COctetString::from_str(&format!("{next_id:x}")).unwrap())
                            .build(),
                    ))
                }
            },
            CommandId::Unbind => Some(Command::new(CommandStatus::EsmeRok, s, Pdu::UnbindResp)),
            _ => None,
        };
        if let Some(r) = reply {
            if wire.send(r).await.is_err() {
                return;
            }
        }
        if id == CommandId::Unbind {
            return;
        }
    }
}

fn cfg(addr: &str) -> LinkConfig {
    LinkConfig {
        smsc: addr.to_string(),
        response_timeout: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        shutdown_grace: Duration::from_millis(200),
        ..LinkConfig::default()
    }
}

fn sm(dest: &str) -> SubmitSm {
    SubmitSm::builder()
        .source_addr(COctetString::from_str("10658").unwrap())
        .destination_addr(COctetString::from_str(dest).unwrap())
        .esm_class(EsmClass::from(0x00))
        .build()
}

/// A link bound to a fresh scripted peer with `window` and `timeout`; the token stops it.
async fn bound_link(
    script: Script,
    window: usize,
    timeout: Duration,
) -> (Peer, LinkHandle, CancellationToken) {
    let p = peer(script).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.window = window;
    c.response_timeout = timeout;
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    (p, link, stop)
}

/// The peer sends `unbind` (sequence `seq`) on its newest connection.
async fn smsc_unbinds(peer: &Peer, seq: u32) {
    let unbind =
        sms_wire::framing::encode_command(&Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind));
    peer.push.send(unbind).await.unwrap();
}

/// Wait (at most 5 s) until `peer` has accepted `n` connections; `what` names the failure.
async fn wait_connections(peer: &Peer, n: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while peer.connections.load(Ordering::SeqCst) < n {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_of(peer: &mut Peer, id: CommandId) -> (usize, Command) {
    loop {
        let (i, c) = tokio::time::timeout(Duration::from_secs(5), peer.seen.recv())
            .await
            .expect("peer saw nothing in time")
            .expect("peer closed");
        if c.id() == id {
            return (i, c);
        }
    }
}

#[tokio::test]
async fn binds_as_smpp34_transceiver_and_submits() {
    let mut p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let (link, _in, task) = Link::spawn(cfg(&p.addr), stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    let (_, bind) = next_of(&mut p, CommandId::BindTransceiver).await;
    match bind.pdu() {
        Some(Pdu::BindTransceiver(b)) => {
            assert_eq!(u8::from(b.interface_version), 0x34);
            assert_eq!(b.system_id.to_string(), "presence");
        }
        other => panic!("unexpected bind {other:?}"),
    }
    let out = link.submit(sm("8613800138000")).await.unwrap();
    assert_eq!(
        out,
        SubmitOutcome::Accepted {
            message_id: "1".into()
        }
    );
    let (_, submit) = next_of(&mut p, CommandId::SubmitSm).await;
    match submit.pdu() {
        Some(Pdu::SubmitSm(s)) => assert_eq!(u8::from(s.esm_class), 0),
        other => panic!("{other:?}"),
    }
    stop.cancel();
    next_of(&mut p, CommandId::Unbind).await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.state(), LinkState::Stopped);
}

#[tokio::test]
async fn wrong_password_is_reported_and_retried_slowly() {
    let p = peer(Script::BadPassword).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.reconnect_max = Duration::from_secs(30);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    let mut w = link.watch_state();
    tokio::time::timeout(
        Duration::from_secs(5),
        w.wait_for(|s| matches!(s, LinkState::AuthRejected(_))),
    )
    .await
    .unwrap()
    .unwrap();
    // Slow lane: no second attempt within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    stop.cancel();
}

/// A bind answered by anything but its own response is no bind: the link does not report
/// itself bound (it did, then sent submits to an SMSC that had bound nothing, each answered
/// with an error that used up an attempt) and keeps trying.
#[tokio::test]
async fn a_bind_answered_by_another_pdu_is_not_bound() {
    for script in [Script::BindAnsweredWrongly, Script::BindNackedWithoutError] {
        let p = peer(script).await;
        let stop = CancellationToken::new();
        let (link, _in, _task) = Link::spawn(cfg(&p.addr), stop.clone());
        assert!(!link.wait_bound(Duration::from_millis(1500)).await);
        assert!(
            p.connections.load(Ordering::SeqCst) >= 2,
            "the bind is tried again"
        );
        stop.cancel();
    }
}

/// A `command_length` no PDU can have (0: below the header; 4 GiB - 1: past any maximum)
/// leaves nothing to frame the rest of the stream by: the session ends, the link binds again
/// and takes submits. (Behaved already; the framing unit tests covered the codec, not this.)
#[tokio::test]
async fn an_unframeable_command_length_ends_the_session_and_the_link_rebinds() {
    let p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let (link, _in, _task) = Link::spawn(cfg(&p.addr), stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    for (n, length) in [0u32, u32::MAX].into_iter().enumerate() {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9]);
        p.push.send(bytes).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while p.connections.load(Ordering::SeqCst) < n + 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no new session after command_length {length}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(link.wait_bound(Duration::from_secs(5)).await);
        assert!(matches!(
            link.submit(sm("8613800138000")).await,
            Ok(SubmitOutcome::Accepted { .. })
        ));
    }
    stop.cancel();
}

#[tokio::test]
async fn malformed_pdu_gets_generic_nack_and_session_continues() {
    let mut p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let (link, _in, _task) = Link::spawn(cfg(&p.addr), stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    // enquire_link with a 1-byte body (seq 77), then a request with an unknown command id (seq 78).
    let mut bytes = vec![0, 0, 0, 17, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 77, 0xAA];
    bytes.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 78]);
    p.push.send(bytes).await.unwrap();
    let (_, nack) = next_of(&mut p, CommandId::GenericNack).await;
    assert_eq!(nack.sequence_number(), 77);
    assert_eq!(nack.status(), CommandStatus::EsmeRinvcmdlen);
    let (_, nack) = next_of(&mut p, CommandId::GenericNack).await;
    assert_eq!(nack.sequence_number(), 78);
    assert_eq!(nack.status(), CommandStatus::EsmeRinvcmdid);
    assert!(matches!(
        link.submit(sm("8613800138000")).await,
        Ok(SubmitOutcome::Accepted { .. })
    ));
    assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    stop.cancel();
}

#[tokio::test]
async fn an_accepted_submit_whose_id_lacks_its_nul_is_accepted_not_resent() {
    let (mut p, link, stop) = bound_link(Script::IdWithoutNul, 4, Duration::from_millis(500)).await;
    for n in 1..=3 {
        let out = link.submit(sm("8613800138000")).await.unwrap();
        assert_eq!(
            out,
            SubmitOutcome::Accepted {
                message_id: format!("abc{n}")
            }
        );
    }
    // Each went once, on the one session.
    let mut submits = 0;
    while let Ok(Some((_, c))) =
        tokio::time::timeout(Duration::from_millis(200), p.seen.recv()).await
    {
        submits += usize::from(c.id() == CommandId::SubmitSm);
    }
    assert_eq!(submits, 3);
    assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    stop.cancel();
}

#[tokio::test]
async fn unanswered_enquire_link_drops_and_reconnects() {
    let p = peer(Script::SilentKeepalive).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.enquire_link_interval = Duration::from_millis(100);
    c.enquire_link_timeout = Duration::from_millis(100);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    wait_connections(&p, 2, "never reconnected").await;
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    stop.cancel();
}

#[tokio::test]
async fn deliver_sm_is_answered_only_after_ack() {
    let mut p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let (link, mut inbound, _task) = Link::spawn(cfg(&p.addr), stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    let deliver = |seq: u32| {
        let d = DeliverSm::builder()
            .source_addr(COctetString::from_str("8613900139000").unwrap())
            .destination_addr(COctetString::from_str("10658").unwrap())
            .esm_class(EsmClass::from(0))
            .build();
        sms_wire::framing::encode_command(&Command::new(CommandStatus::EsmeRok, seq, d))
    };
    p.push.send(deliver(500)).await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), inbound.recv())
        .await
        .unwrap()
        .unwrap();
    // No response yet: nothing from the link but possibly keepalives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok((_, c)) = p.seen.try_recv() {
        assert_ne!(c.id(), CommandId::DeliverSmResp, "answered before ack");
    }
    msg.ack(CommandStatus::EsmeRok);
    let (_, resp) = next_of(&mut p, CommandId::DeliverSmResp).await;
    assert_eq!(
        (resp.sequence_number(), resp.status()),
        (500, CommandStatus::EsmeRok)
    );
    // A dropped (never acknowledged) message asks the SMSC to redeliver.
    p.push.send(deliver(501)).await.unwrap();
    drop(inbound.recv().await.unwrap());
    let (_, resp) = next_of(&mut p, CommandId::DeliverSmResp).await;
    assert_eq!(
        (resp.sequence_number(), resp.status()),
        (501, CommandStatus::EsmeRxTAppn)
    );
    stop.cancel();
}

#[tokio::test]
async fn window_bounds_outstanding_and_timeouts_free_slots() {
    let (_peer, link, stop) = bound_link(Script::SilentSubmit, 2, Duration::from_millis(300)).await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let l = link.clone();
        tasks.push(tokio::spawn(
            async move { l.submit(sm("8613800138000")).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(link.window_in_use(), 2);
    for t in tasks {
        assert_eq!(t.await.unwrap(), Err(LinkError::Timeout));
    }
    assert_eq!(link.window_in_use(), 0);
    stop.cancel();
}

#[tokio::test]
async fn throttled_answers_lower_the_rate() {
    let p = peer(Script::Throttle).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.max_rate = Some(500.0);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    let before = link.current_rate();
    let out = link.submit(sm("8613800138000")).await.unwrap();
    assert_eq!(out, SubmitOutcome::Throttled(CommandStatus::EsmeRthrottled));
    assert!(link.current_rate() < before);
    stop.cancel();
}

#[tokio::test]
async fn disconnect_fails_in_flight_and_link_rebinds() {
    let mut p = peer(Script::SilentSubmit).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.response_timeout = Duration::from_secs(5);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    let l = link.clone();
    let pending = tokio::spawn(async move { l.submit(sm("8613800138000")).await });
    next_of(&mut p, CommandId::SubmitSm).await;
    // The SMSC unbinds the session while the submit is in flight.
    smsc_unbinds(&p, 900).await;
    let r = tokio::time::timeout(Duration::from_secs(3), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Err(LinkError::Disconnected));
    wait_connections(&p, 2, "never reconnected").await;
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    stop.cancel();
}

#[tokio::test]
async fn transmitter_receiver_pair_binds_both() {
    let mut p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.bind_mode = BindMode::Txrx;
    let (link, _in, task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    // Both binds arrive, on two different connections.
    let mut binds = Vec::new();
    while binds.len() < 2 {
        let (conn, c) = tokio::time::timeout(Duration::from_secs(5), p.seen.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(c.id(), CommandId::BindTransmitter | CommandId::BindReceiver) {
            binds.push((conn, c.id()));
        }
    }
    binds.sort_by_key(|(_, id)| u32::from(*id));
    assert_eq!(binds[0].1, CommandId::BindReceiver);
    assert_eq!(binds[1].1, CommandId::BindTransmitter);
    assert_ne!(binds[0].0, binds[1].0, "two separate connections");
    assert!(matches!(
        link.submit(sm("8613800138000")).await,
        Ok(SubmitOutcome::Accepted { .. })
    ));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_batch_is_answered_in_order_within_the_window() {
    let (mut p, link, stop) = bound_link(Script::Normal, 3, Duration::from_millis(500)).await;
    let numbers: Vec<String> = (0..20).map(|i| format!("86138001380{i:02}")).collect();
    let answers = link
        .submit_batch(numbers.iter().map(|n| sm(n)).collect())
        .await;
    assert_eq!(answers.len(), 20);
    let mut ids = Vec::new();
    for a in &answers {
        match a {
            Ok(SubmitOutcome::Accepted { message_id }) => ids.push(message_id.clone()),
            other => panic!("expected accepted, got {other:?}"),
        }
    }
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 20, "every answer is its own submit's");
    // Sent in the order given.
    let mut sent = Vec::new();
    while sent.len() < 20 {
        let (_, cmd) = next_of(&mut p, CommandId::SubmitSm).await;
        if let Some(Pdu::SubmitSm(s)) = cmd.pdu() {
            sent.push(s.destination_addr.to_string());
        }
    }
    assert_eq!(sent, numbers);
    assert_eq!(link.stats().submits_ok.load(Ordering::Relaxed), 20);
    assert_eq!(link.window_in_use(), 0);
    stop.cancel();
}

/// The session times its answers sleeping, then polling, and chooses: one choice after two
/// probes' worth of answers, none with polling off.
#[tokio::test]
async fn the_session_probes_polling_and_chooses_after_two_probes() {
    for (busy_poll, choices) in [(Duration::from_micros(200), 1), (Duration::ZERO, 0)] {
        let p = peer(Script::Normal).await;
        let stop = CancellationToken::new();
        let mut c = cfg(&p.addr);
        c.window = 1;
        c.busy_poll = busy_poll;
        let (link, _in, _task) = Link::spawn(c, stop.clone());
        assert!(link.wait_bound(Duration::from_secs(5)).await);
        let n = 2 * super::poll::PROBE as usize + 10;
        let answers = link
            .submit_batch((0..n).map(|_| sm("8613800138000")).collect())
            .await;
        assert!(answers.iter().all(|a| a.is_ok()), "{busy_poll:?}");
        let st = link.stats();
        assert_eq!(
            st.busy_poll_choices.load(Ordering::Relaxed),
            choices,
            "{busy_poll:?}"
        );
        assert!(st.busy_polling.load(Ordering::Relaxed) <= 1);
        if busy_poll.is_zero() {
            assert_eq!(st.busy_polling.load(Ordering::Relaxed), 0);
        }
        stop.cancel();
    }
}

#[tokio::test]
async fn a_batch_never_exceeds_the_window_and_times_out_per_item() {
    let (_peer, link, stop) = bound_link(Script::SilentSubmit, 2, Duration::from_millis(300)).await;
    let l = link.clone();
    let batch = tokio::spawn(async move {
        l.submit_batch((0..4).map(|_| sm("8613800138000")).collect())
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(link.window_in_use(), 2, "two outstanding, two waiting");
    let answers = batch.await.unwrap();
    // The first two time out; their slots let the last two go, which time out too.
    assert_eq!(answers, vec![Err(LinkError::Timeout); 4]);
    assert_eq!(link.window_in_use(), 0);
    stop.cancel();
}

#[tokio::test]
async fn a_disconnect_answers_every_batch_item() {
    let (mut p, link, stop) = bound_link(Script::SilentSubmit, 2, Duration::from_secs(5)).await;
    let l = link.clone();
    let batch = tokio::spawn(async move {
        l.submit_batch((0..5).map(|_| sm("8613800138000")).collect())
            .await
    });
    next_of(&mut p, CommandId::SubmitSm).await;
    smsc_unbinds(&p, 901).await;
    let answers = tokio::time::timeout(Duration::from_secs(3), batch)
        .await
        .unwrap()
        .unwrap();
    // Two were in flight (their fate at the SMSC unknown); three never left the session,
    // and say so, so that sending them again is not counted as another attempt.
    assert_eq!(
        answers,
        [
            Err(LinkError::Disconnected),
            Err(LinkError::Disconnected),
            Err(LinkError::NotSent),
            Err(LinkError::NotSent),
            Err(LinkError::NotSent)
        ]
    );
    assert!(answers[2..]
        .iter()
        .all(|a| a.as_ref().is_err_and(LinkError::never_sent)));
    assert!(!LinkError::Disconnected.never_sent() && !LinkError::Timeout.never_sent());
    stop.cancel();
}

#[tokio::test]
async fn a_closing_session_answers_what_it_never_wrote_not_sent_at_once() {
    let (mut p, link, stop) = bound_link(Script::SlowSubmit, 1, Duration::from_secs(5)).await;
    let l = link.clone();
    let batch = tokio::spawn(async move {
        l.submit_batch((0..3).map(|_| sm("8613800138000")).collect())
            .await
    });
    next_of(&mut p, CommandId::SubmitSm).await;
    stop.cancel();
    let answers = tokio::time::timeout(Duration::from_secs(3), batch)
        .await
        .unwrap()
        .unwrap();
    // The one in flight is answered within the stop's grace; the two waiting for the window
    // never went out.
    assert_eq!(
        answers,
        [
            Ok(SubmitOutcome::Accepted {
                message_id: "1".into()
            }),
            Err(LinkError::NotSent),
            Err(LinkError::NotSent)
        ]
    );
}

/// An address that refuses connections (nothing listens there any more).
async fn dead_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn rotation_moves_on_while_addresses_fail_and_keeps_a_bound_one() {
    let mut c = cfg("a:1");
    c.fallback_smsc = vec!["b:1".into(), "c:1".into()];
    let mut r = Rotation::new(&c);
    assert_eq!(r.current(), "a:1");
    assert!(r.failed(), "b is untried");
    assert_eq!(r.current(), "b:1");
    assert!(r.failed(), "c is untried");
    assert_eq!(r.current(), "c:1");
    assert!(!r.failed(), "the round is over: back off");
    assert_eq!(r.current(), "a:1");
    assert!(r.failed());
    r.was_bound();
    assert_eq!(r.current(), "b:1", "the bound address is tried again");
    assert!(
        r.failed() && r.failed(),
        "a new round after a bound session"
    );
    let mut one = Rotation::new(&cfg("a:1"));
    assert!(!one.failed(), "one address: every failure backs off");
    assert_eq!(one.current(), "a:1");
}

#[tokio::test]
async fn an_unreachable_smsc_falls_over_to_its_fallback_which_is_kept_after_a_drop() {
    let mut standby = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&dead_address().await);
    c.fallback_smsc = vec![standby.addr.clone()];
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(
        link.wait_bound(Duration::from_secs(5)).await,
        "bound on the standby"
    );
    assert_eq!(link.bound_to().as_deref(), Some(standby.addr.as_str()));
    next_of(&mut standby, CommandId::BindTransceiver).await;
    // The standby drops the session: the link comes back to it, not to the dead address.
    smsc_unbinds(&standby, 901).await;
    wait_connections(&standby, 2, "never came back").await;
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    stop.cancel();
}

#[tokio::test]
async fn on_a_fallback_the_link_returns_to_the_primary_once_it_answers_finishing_in_flight_first() {
    let primary_addr = dead_address().await;
    let mut standby = peer(Script::SlowSubmit).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&primary_addr);
    c.fallback_smsc = vec![standby.addr.clone()];
    c.primary_probe = Some(Duration::from_millis(100));
    c.response_timeout = Duration::from_secs(2);
    c.shutdown_grace = Duration::from_secs(2);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    assert_eq!(link.bound_to().as_deref(), Some(standby.addr.as_str()));
    // A submit in flight on the standby when the primary comes back.
    let l = link.clone();
    let in_flight = tokio::spawn(async move { l.submit(sm("8613800138000")).await });
    next_of(&mut standby, CommandId::SubmitSm).await;
    let mut primary = peer_on(
        TcpListener::bind(&primary_addr).await.unwrap(),
        Script::Normal,
    );
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        SubmitOutcome::Accepted {
            message_id: "1".into()
        },
        "answered by the standby before the link left it"
    );
    next_of(&mut standby, CommandId::Unbind).await;
    next_of(&mut primary, CommandId::BindTransceiver).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while link.bound_to().as_deref() != Some(primary_addr.as_str()) {
        assert!(tokio::time::Instant::now() < deadline, "never moved back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    link.submit(sm("8613800138001")).await.unwrap();
    next_of(&mut primary, CommandId::SubmitSm).await;
    stop.cancel();
}

/// A primary that takes connections but refuses the bind (a load balancer in front of a
/// dead SMSC, an account barred there): each return goes straight back to the fallback,
/// without the slow lane of a rejected password, and the looks for the primary space out.
#[tokio::test]
async fn a_primary_that_refuses_the_bind_sends_the_link_back_to_its_fallback_at_once() {
    let primary_addr = dead_address().await;
    let standby = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&primary_addr);
    c.fallback_smsc = vec![standby.addr.clone()];
    c.primary_probe = Some(Duration::from_millis(100));
    c.reconnect_max = Duration::from_secs(30);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(link.wait_bound(Duration::from_secs(5)).await);
    let primary = peer_on(
        TcpListener::bind(&primary_addr).await.unwrap(),
        Script::BadPassword,
    );
    // A probe connection and a refused bind per return.
    wait_connections(&primary, 2, "the link never tried the primary").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while standby.connections.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not back on the fallback within 3 s (the rejected-password lane waits 30 s)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(link.wait_bound(Duration::from_secs(2)).await);
    assert_eq!(link.bound_to().as_deref(), Some(standby.addr.as_str()));
    // Looks at 100, 200, 400, 800 ms... after each refusal: a handful in 2 s, not twenty.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tries = primary.connections.load(Ordering::SeqCst);
    assert!(
        tries <= 10,
        "{tries} connections to the refusing primary in about 2 s"
    );
    stop.cancel();
}

/// An SMSC that accepts the bind and drops the session at once is not rebound several times
/// a second: a session that did not stay bound keeps the back-off growing.
#[tokio::test]
async fn an_smsc_that_drops_each_session_at_once_is_rebound_ever_more_slowly() {
    let mut p = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&p.addr);
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_secs(5);
    let (_link, _in, _task) = Link::spawn(c, stop.clone());
    let started = tokio::time::Instant::now();
    for seq in 0..5 {
        next_of(&mut p, CommandId::BindTransceiver).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        smsc_unbinds(&p, 900 + seq).await;
    }
    next_of(&mut p, CommandId::BindTransceiver).await;
    // Delays of at least 25, 50, 100, 200, 400 ms (the upper half of each doubling step).
    assert!(
        started.elapsed() >= Duration::from_millis(775),
        "six binds in {:?}: the back-off was reset by sessions that lasted 20 ms",
        started.elapsed()
    );
    stop.cancel();
}

#[tokio::test]
async fn a_rejecting_smsc_falls_over_to_one_that_accepts() {
    let primary = peer(Script::BadPassword).await;
    let standby = peer(Script::Normal).await;
    let stop = CancellationToken::new();
    let mut c = cfg(&primary.addr);
    c.fallback_smsc = vec![standby.addr.clone()];
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    assert!(
        link.wait_bound(Duration::from_secs(5)).await,
        "bound on the standby"
    );
    assert_eq!(primary.connections.load(Ordering::SeqCst), 1);
    assert_eq!(standby.connections.load(Ordering::SeqCst), 1);
    stop.cancel();
}

use super::rate::tests::busiest;

/// USSD screens asked for while the SMSC is out of reach wait for the session; they used to
/// take their rate token when asked for, so the sliding-second cap had let them go by the
/// rebind, and the batch items granted then went beside them: 10 submits in under a second
/// at `max_rate` 5. Now every submit takes its token as it is written: at most 5 in any
/// 0.9 s at the SMSC (the cap holds 1.01 s; the slack is for the times taken here).
#[tokio::test]
async fn screens_that_wait_for_a_rebind_are_paced_when_written() {
    let addr = dead_address().await;
    let stop = CancellationToken::new();
    let mut c = cfg(&addr);
    c.max_rate = Some(5.0);
    c.response_timeout = Duration::from_secs(4);
    let (link, _in, _task) = Link::spawn(c, stop.clone());
    let mut screens = Vec::new();
    for _ in 0..5 {
        let l = link.clone();
        screens.push(tokio::spawn(
            async move { l.submit(sm("8613800138000")).await },
        ));
    }
    // Past the second the screens would have been counted in, then the outbox's batch.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let l = link.clone();
    let batch = tokio::spawn(async move { l.submit_batch(vec![sm("8613800138001"); 5]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut p = peer_on(TcpListener::bind(&addr).await.unwrap(), Script::Normal);
    let mut times = Vec::new();
    while times.len() < 10 {
        next_of(&mut p, CommandId::SubmitSm).await;
        times.push(tokio::time::Instant::now());
    }
    for s in screens {
        assert!(matches!(
            s.await.unwrap(),
            Ok(SubmitOutcome::Accepted { .. })
        ));
    }
    let answers = batch.await.unwrap();
    assert!(answers
        .iter()
        .all(|a| matches!(a, Ok(SubmitOutcome::Accepted { .. }))));
    let most = busiest(&times, Duration::from_millis(900));
    assert!(
        most <= 5,
        "{most} submits in 0.9 s at max_rate 5: {times:?}"
    );
    stop.cancel();
}
