//! Reliability suite (issue 9): the real gateway (SQLite file, SMPP link, status service, outbox
//! dispatcher, HTTP) against smsc-sim over loopback while the simulator misbehaves, while another
//! process holds the database, while subscribers abuse the service, and while secrets are in
//! play. Every test tries to lose a message, leave a row stuck, break a cap or leak a secret,
//! and fails if it can.
//!
//! Not here: kill -9 during fan-out (`tests/crash.rs`), fuzzing (proptests beside each decoder),
//! and the events API's missing/wrong key (`tests/service.rs`,
//! `operator_api_events_health_and_metrics_over_http`: 401 without a key, 403 with a wrong one,
//! 403 when no key is configured).

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::busiest_ms;
use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::config::Secret;
use presence_gw::service::avatar::{self, VariantIn};
use presence_gw::service::ServiceConfig;
use presence_gw::smpp::{BindMode, LinkConfig};
use presence_gw::store::outbox::{self, NewMessage, OutboxCounts};
use presence_gw::store::{now_ms, StoreError};
use rusmpp::Pdu;
use sms_wire::framing::Frame;
use smsc_sim::{
    Delay, DeliveryRecord, DeliveryState, DestMatch, ErrorFault, Faults, MalformedKind, MoRequest,
    ReceiptRule, ReceiptStat, SimConfig, SimHandle, Simulator,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

const SYSTEM_ID: &str = "presence";
const PASSWORD: &str = "pw123";
const SERVICE: &str = "10658";
const WAIT: Duration = Duration::from_secs(20);

/// `ESME_RSUBMITFAIL`: temporary for the dispatcher (`SubmitOutcome::classify`).
const TRANSIENT: u32 = 0x45;
/// `ESME_RINVDSTADR`: permanent.
const PERMANENT: u32 = 0x0B;

// ---------------------------------------------------------------------------------------------
// Harness

async fn start_sim(cfg: SimConfig, password: &str) -> SimHandle {
    Simulator::start(cfg.with_account(SYSTEM_ID, password))
        .await
        .expect("simulator starts")
}

/// Link settings for fault tests: short keepalive, response timeout and reconnect delays.
fn link(sim: &SimHandle, mode: BindMode) -> LinkConfig {
    LinkConfig {
        smsc: sim.smpp_addr().to_string(),
        system_id: SYSTEM_ID.into(),
        password: Secret::new(PASSWORD),
        bind_mode: mode,
        response_timeout: Duration::from_secs(2),
        enquire_link_interval: Duration::from_millis(300),
        enquire_link_timeout: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(300),
        shutdown_grace: Duration::from_millis(500),
        ..LinkConfig::default()
    }
}

fn options(dir: &tempfile::TempDir, link: LinkConfig) -> GatewayOptions {
    let mut opts = GatewayOptions::new(dir.path().join("gw.db"), link, SERVICE);
    opts.dispatcher.retry_min = Duration::from_millis(50);
    opts.dispatcher.retry_max = Duration::from_millis(400);
    // Transient errors must be retried, not given up on, under this much chaos.
    opts.dispatcher.max_attempts = 60;
    opts
}

async fn start_gw(opts: GatewayOptions, service: ServiceConfig) -> Gateway {
    let gw = Gateway::start_with_service(opts, service)
        .await
        .expect("gateway starts");
    assert!(gw.link.wait_bound(WAIT).await, "gateway binds");
    gw
}

async fn counts(gw: &Gateway) -> OutboxCounts {
    gw.store
        .read(outbox::counts_by_state)
        .await
        .expect("counts")
}

/// One outbox row, as the tests look at it.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    destination: String,
    state: String,
    last_error: Option<String>,
    body: Option<String>,
    next_attempt_at: i64,
}

async fn rows(gw: &Gateway) -> Vec<Row> {
    gw.store
        .read(|c| {
            let mut s = c.prepare(
                "SELECT id, destination, state, last_error, body, next_attempt_at
                 FROM outbox ORDER BY id",
            )?;
            let v = s
                .query_map([], |r| {
                    Ok(Row {
                        id: r.get(0)?,
                        destination: r.get(1)?,
                        state: r.get(2)?,
                        last_error: r.get(3)?,
                        body: r.get(4)?,
                        next_attempt_at: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(v)
        })
        .await
        .expect("outbox rows")
}

/// Wait until no row is queued, in flight or waiting for receipts (rows held back by the hourly
/// quota, `queued` more than 10 minutes ahead, do not count; retry back-offs do).
async fn wait_settled(gw: &Gateway, timeout: Duration) -> OutboxCounts {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = now_ms();
        let busy = gw
            .store
            .read(move |c| {
                c.query_row(
                    "SELECT count(*) FROM outbox WHERE state IN ('in_flight', 'submitted')
                        OR (state = 'queued' AND next_attempt_at <= ?1)",
                    [now + 600_000],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(StoreError::from)
            })
            .await
            .expect("busy rows");
        if busy == 0 {
            return counts(gw).await;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{busy} rows still queued/in flight/submitted after {timeout:?}: {:?}\n{}",
                counts(gw).await,
                stuck_report(gw).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first stuck rows with their segments' SMSC ids, and the receipts held unmatched, for a
/// failure message.
async fn stuck_report(gw: &Gateway) -> String {
    gw.store
        .read(|c| {
            let mut out = String::from("stuck rows (id, state, attempts, last_error, segments):\n");
            let mut s = c.prepare(
                "SELECT o.id, o.state, o.attempts, o.last_error,
                        (SELECT group_concat(seq || ':' || smsc_message_id_raw || '/' || state, ' ')
                         FROM outbox_segment WHERE outbox_id = o.id)
                 FROM outbox o WHERE o.state IN ('queued', 'in_flight', 'submitted')
                 ORDER BY o.id LIMIT 12",
            )?;
            let rows = s.query_map([], |r| {
                Ok(format!(
                    "  {} {} {} {:?} [{}]\n",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?.unwrap_or_default()
                ))
            })?;
            for r in rows {
                out.push_str(&r?);
            }
            out.push_str("held receipts (group: ids):\n");
            let mut s = c.prepare(
                "SELECT group_id, group_concat(message_id, ' ') FROM pending_receipt
                 GROUP BY group_id ORDER BY group_id LIMIT 60",
            )?;
            let rows = s.query_map([], |r| {
                Ok(format!(
                    "  {}: {}\n",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?
                ))
            })?;
            for r in rows {
                out.push_str(&r?);
            }
            Ok::<_, StoreError>(out)
        })
        .await
        .unwrap_or_else(|e| format!("(no report: {e})"))
}

/// Enqueue `batch` in one write and wake the dispatcher.
async fn enqueue_all(gw: &Gateway, batch: Vec<NewMessage>) {
    let now = now_ms();
    gw.store
        .write(move |tx| {
            for m in &batch {
                outbox::enqueue(tx, m, now)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    gw.wake_dispatcher();
}

fn number(i: usize) -> String {
    format!("+86139{i:08}")
}

fn texts(sim: &SimHandle, number: &str) -> Vec<String> {
    sim.handset(number)
        .texts()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// `from` texts `body`; returns the reply (the next text on `from`'s handset) and its latency.
async fn say(sim: &SimHandle, from: &str, body: &str) -> (String, Duration) {
    let before = sim.handset(from).inbox.len();
    let t0 = Instant::now();
    sim.inject_mo(MoRequest::new(from, SERVICE, body))
        .await
        .expect("MO injected");
    let view = sim
        .wait_for_inbox(from, before + 1, WAIT)
        .await
        .unwrap_or_else(|e| panic!("no reply to {body:?} from {from}: {e}"));
    (view.texts()[before].to_string(), t0.elapsed())
}

// ---------------------------------------------------------------------------------------------
// 1. SMSC-side faults during load

/// The SMSC drops the connection three times while a batch waits in the session for a window
/// of 2, with `max_attempts = 1`: only the submits actually outstanding at a drop (at most 2
/// each time, their fate at the SMSC unknown) may use up their one attempt. The rows that
/// never went out are queued again without counting an attempt and delivered: before, every
/// row of the batch in hand failed "gave up after 1 attempts: connection lost".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_do_not_use_up_the_attempts_of_messages_never_sent() {
    let n = 300usize;
    let sim = start_sim(
        SimConfig::local().with_faults(Faults {
            response_delay: Some(Delay {
                min_ms: 10,
                max_ms: 10,
            }),
            ..Faults::default()
        }),
        PASSWORD,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(
        &dir,
        LinkConfig {
            window: 2,
            ..link(&sim, BindMode::Trx)
        },
    );
    opts.dispatcher.max_attempts = 1;
    let gw = start_gw(opts, ServiceConfig::default()).await;
    let body = |i: usize| format!("never sent is not an attempt {i}");
    enqueue_all(
        &gw,
        (0..n)
            .map(|i| NewMessage::sms(number(i), body(i)))
            .collect(),
    )
    .await;
    let mut drops = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drops += sim.drop_connections(None);
        assert!(gw.link.wait_bound(WAIT).await, "rebinds after the drop");
    }
    assert_eq!(drops, 3, "one transceiver dropped each time");
    let c = wait_settled(&gw, Duration::from_secs(60)).await;
    let failed: Vec<Row> = rows(&gw)
        .await
        .into_iter()
        .filter(|r| r.state == "failed")
        .collect();
    assert!(
        failed.len() <= 2 * drops,
        "{} rows failed for {drops} drops at window 2 (first: {:?}); {c:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(c.delivered as usize + failed.len(), n, "{c:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// 2,000 outbox messages go out while the SMSC drops the connection at random moments, closes
/// each connection after 120 PDUs for a while, goes silent on enquire_link, answers 5% of submits with a temporary error and every
/// submit to 21 numbers with a permanent one, answers slowly, and writes malformed PDUs.
/// At the end: every row is `delivered` (its handset holds the text) or `failed` for the
/// permanent error with the reason kept; nothing is queued, in flight or submitted; the counts
/// add up; the link window is empty and no receipt is left held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsc_faults_during_load_lose_nothing() {
    let started = Instant::now();
    let n = 2000usize;
    let permanent: Vec<String> = (0..n).filter(|i| i % 97 == 5).map(number).collect();
    let base_faults = Faults {
        error: Some(ErrorFault {
            status: TRANSIENT,
            percent: 5.0,
            destinations: vec![],
        }),
        more_errors: vec![ErrorFault {
            status: PERMANENT,
            percent: 0.0,
            destinations: permanent.clone(),
        }],
        response_delay: Some(Delay {
            min_ms: 0,
            max_ms: 40,
        }),
        ..Faults::default()
    };
    // A carrier's SMSC tries a receipt many times; with connections dropped every 120 PDUs
    // for a while, the simulator's default of 3 can run out for a receipt that happens to
    // be in flight at three drops, and the check below wants every receipt answered.
    let mut cfg = SimConfig::local().with_faults(base_faults.clone());
    cfg.deliver_attempts = 50;
    let sim = start_sim(cfg, PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start_gw(
        options(&dir, link(&sim, BindMode::Trx)),
        ServiceConfig::default(),
    )
    .await;
    let binds_at_start = gw.link.stats().binds.load(Ordering::Relaxed);
    let text = |i: usize| format!("load {i} from the reliability suite");

    // Enqueue in 10 batches of 200, one fault scene per batch.
    let mut enqueued = 0usize;
    let mut malformed_sent = 0usize;
    let mut drops = 0usize;
    for scene in 0..10 {
        let batch: Vec<NewMessage> = (enqueued..enqueued + n / 10)
            .map(|i| NewMessage::sms(number(i), text(i)))
            .collect();
        enqueued += n / 10;
        enqueue_all(&gw, batch).await;
        match scene {
            // Connection drops at random moments (twice, 50-250 ms into the batch).
            1 | 6 => {
                for _ in 0..2 {
                    let ms = 50 + rand::random::<u64>() % 200;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    drops += sim.drop_connections(None);
                }
            }
            // The SMSC closes each connection after 120 PDUs, for a while.
            2 => {
                sim.set_faults(Faults {
                    drop_after_pdus: Some(120),
                    ..base_faults.clone()
                });
                tokio::time::sleep(Duration::from_millis(1500)).await;
                sim.set_faults(base_faults.clone());
            }
            // Malformed PDUs of every kind, while submits are in flight.
            4 => {
                for kind in [
                    MalformedKind::TruncatedBody,
                    MalformedKind::UnknownCommand,
                    MalformedKind::ReceiptMissingNul,
                ] {
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    // Each on a connection: the link may still be waiting out the back-off
                    // that scene 2's bind-and-drop sessions built up.
                    let deadline = Instant::now() + WAIT;
                    loop {
                        assert!(gw.link.wait_bound(WAIT).await, "never bound again");
                        let sent = sim.send_malformed(kind, None);
                        malformed_sent += sent;
                        if sent > 0 {
                            break;
                        }
                        assert!(Instant::now() < deadline, "no connection for {kind:?}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            // Slow responses: 200-600 ms each (window fills, nothing times out).
            5 => {
                sim.set_faults(Faults {
                    response_delay: Some(Delay {
                        min_ms: 200,
                        max_ms: 600,
                    }),
                    ..base_faults.clone()
                });
                tokio::time::sleep(Duration::from_millis(1500)).await;
                sim.set_faults(base_faults.clone());
            }
            // enquire_link silence: the SMSC stops answering keepalives; once the link idles
            // the gateway must notice (500 ms) and reconnect.
            8 => {
                wait_settled(&gw, Duration::from_secs(30)).await;
                sim.set_faults(Faults {
                    ignore_enquire_link: true,
                    ..base_faults.clone()
                });
                let binds = gw.link.stats().binds.load(Ordering::Relaxed);
                let deadline = Instant::now() + Duration::from_secs(20);
                while gw.link.stats().binds.load(Ordering::Relaxed) == binds {
                    assert!(
                        Instant::now() < deadline,
                        "an SMSC silent on enquire_link was never dropped: {:?}",
                        counts(&gw).await
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                sim.set_faults(base_faults.clone());
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        eprintln!(
            "scene {scene} done at {:?}: {:?}, window {} in use, rate {:.0}/s, state {:?}",
            started.elapsed(),
            counts(&gw).await,
            gw.link.window_in_use(),
            gw.link.current_rate(),
            gw.link.state()
        );
    }
    assert_eq!(enqueued, n);

    let c = wait_settled(&gw, Duration::from_secs(40)).await;
    let all = rows(&gw).await;
    assert_eq!(all.len(), n, "one row per message");
    assert_eq!(
        (c.queued, c.in_flight, c.submitted, c.expired, c.superseded),
        (0, 0, 0, 0, 0),
        "{c:?}"
    );
    assert_eq!(c.delivered + c.failed, n as u64, "{c:?}");
    assert_eq!(
        c.failed,
        permanent.len() as u64,
        "only permanent errors fail: {c:?}"
    );
    // Receipts held unmatched are exactly those of submits the SMSC accepted but whose
    // submit_sm_resp died with a connection (the row was sent again under a new id).
    let accepted = sim
        .wait_until("every receipt answered", WAIT, |h| {
            h.receipts()
                .iter()
                .all(|d| matches!(d.state, DeliveryState::Answered(0)))
                .then(|| h.stats().mt_accepted)
        })
        .await
        .expect("every receipt acknowledged OK");
    let recorded: u64 = gw
        .store
        .read(|c| {
            c.query_row("SELECT count(*) FROM outbox_segment", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(StoreError::from)
        })
        .await
        .unwrap() as u64;
    assert_eq!(gw.link.window_in_use(), 0, "window slots leaked");

    let permanent_set: HashSet<&str> = permanent.iter().map(String::as_str).collect();
    let mut duplicates = 0usize;
    for row in &all {
        let i = (row.id - 1) as usize;
        assert_eq!(row.destination, number(i));
        let got = texts(&sim, &row.destination);
        let copies = got.iter().filter(|t| **t == text(i)).count();
        if permanent_set.contains(row.destination.as_str()) {
            assert_eq!(row.state, "failed", "{row:?}");
            let why = row.last_error.as_deref().unwrap_or_default();
            assert!(
                why.contains("ESME_RINVDSTADR (0x0000000B)"),
                "reason kept, by name and code: {row:?}"
            );
            assert_eq!(copies, 0, "a refused message reached {}", row.destination);
        } else {
            assert_eq!(row.state, "delivered", "{row:?}");
            assert!(
                copies >= 1,
                "{} lacks its message: {got:?}",
                row.destination
            );
            duplicates += copies - 1;
        }
    }

    // The faults really happened (else this test proves nothing).
    let refused: Vec<u32> = sim
        .mt_messages(&smsc_sim::MtFilter::default())
        .into_iter()
        .map(|m| m.status)
        .filter(|s| *s != 0)
        .collect();
    let transient = refused.iter().filter(|s| **s == TRANSIENT).count();
    assert!(transient >= 40, "only {transient} transient errors");
    assert!(malformed_sent >= 3 && drops >= 1);
    let stats = gw.link.stats();
    let binds = stats.binds.load(Ordering::Relaxed) - binds_at_start;
    assert!(binds >= 4, "only {binds} rebinds");
    eprintln!(
        "faults under load: {n} messages, {} delivered, {} failed (permanent), {transient} \
         transient errors retried, {binds} rebinds, {} malformed seen, \
         {duplicates} duplicate deliveries (resp lost with the connection), {:?}",
        c.delivered,
        c.failed,
        stats.malformed.load(Ordering::Relaxed),
        started.elapsed()
    );
    // Last, as it is the check that fails today (a receipt whose resp was lost is applied to
    // another message's segment through its hex/decimal variant; see the report).
    assert_eq!(
        c.pending_receipts,
        accepted - recorded,
        "held receipts = accepted submits without a recorded resp ({accepted} - {recorded})"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A throttling storm (the SMSC takes at most 100 submits a second for 2 s, then any rate)
/// during 1,000 messages: nothing is lost or stuck, and the gateway's rate recovers once the
/// storm is over, so the rest goes out within 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_storm_then_recovery() {
    let started = Instant::now();
    let sim = start_sim(
        SimConfig::local().with_faults(Faults {
            throttle_per_sec: Some(100),
            ..Faults::default()
        }),
        PASSWORD,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start_gw(
        options(&dir, link(&sim, BindMode::Trx)),
        ServiceConfig::default(),
    )
    .await;
    let n = 1000usize;
    let batch: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage::sms(number(i), format!("storm {i}")))
        .collect();
    enqueue_all(&gw, batch).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lowest = gw.link.current_rate();
    sim.set_faults(Faults::default());
    let storm_over = Instant::now();
    let mut trace = Vec::new();
    let deadline = storm_over + Duration::from_secs(20);
    loop {
        let c = counts(&gw).await;
        trace.push((
            storm_over.elapsed().as_secs(),
            gw.link.current_rate() as u64,
            c.delivered,
        ));
        if c.delivered == n as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20 s after the storm only {} of {n} delivered (rate {:.1}/s; lowest {lowest:.1}/s; \
             (s, rate, delivered): {trace:?})",
            c.delivered,
            gw.link.current_rate()
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let c = wait_settled(&gw, WAIT).await;
    assert_eq!((c.delivered, c.failed), (n as u64, 0), "{c:?}");
    let throttled = gw.link.stats().submits_throttled.load(Ordering::Relaxed);
    assert!(throttled > 0, "the storm never throttled");
    for i in 0..n {
        assert!(texts(&sim, &number(i)).contains(&format!("storm {i}")));
    }
    eprintln!(
        "throttling storm: {throttled} throttled answers, rate fell to {lowest:.1}/s, \
         all {n} delivered {:?} after the storm, test {:?}",
        storm_over.elapsed(),
        started.elapsed()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A throttle after a quiet spell (the tester: one message, a quiet spell, then the SMSC takes
/// 100 submits a second and 1,000 are queued): the rate is cut from what the gateway achieved
/// while sending, not from one message averaged over the quiet spell (that cut it to 1/s, and
/// the backlog took 18 s). The adapted limit stays above a sixth of the rate the SMSC allows,
/// and the backlog goes out in less than 1.5 times its ideal 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_after_a_quiet_spell_keeps_close_to_the_allowed_rate() {
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start_gw(
        options(&dir, link(&sim, BindMode::Trx)),
        ServiceConfig::default(),
    )
    .await;
    enqueue_all(&gw, vec![NewMessage::sms(number(0), "first")]).await;
    let deadline = Instant::now() + WAIT;
    while sim.stats().mt_accepted < 1 {
        assert!(Instant::now() < deadline, "the first message never went");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let allowed = 100u32;
    sim.set_faults(Faults {
        throttle_per_sec: Some(allowed),
        ..Faults::default()
    });
    let n = 1000u64;
    let started = Instant::now();
    enqueue_all(
        &gw,
        (1..=n as usize)
            .map(|i| NewMessage::sms(number(i), format!("backlog {i}")))
            .collect(),
    )
    .await;
    let ideal = Duration::from_secs(n / u64::from(allowed));
    let mut lowest = f64::MAX;
    let mut trace = Vec::new();
    loop {
        let rate = gw.link.current_rate();
        lowest = lowest.min(rate);
        let accepted = sim.stats().mt_accepted - 1;
        if trace
            .last()
            .is_none_or(|(at, _, _)| started.elapsed().as_secs() > *at)
        {
            trace.push((started.elapsed().as_secs(), rate as u64, accepted));
        }
        if accepted >= n {
            break;
        }
        assert!(
            started.elapsed() < ideal.mul_f64(1.5),
            "{accepted} of {n} taken in {:?} at {allowed}/s (lowest rate {lowest:.1}/s; \
             (s, rate, taken): {trace:?})",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let throttled = gw.link.stats().submits_throttled.load(Ordering::Relaxed);
    assert!(throttled > 0, "the SMSC never throttled");
    assert!(
        lowest >= f64::from(allowed) / 6.0,
        "the rate fell to {lowest:.1}/s with the SMSC allowing {allowed}/s: {trace:?}"
    );
    let c = wait_settled(&gw, WAIT).await;
    assert_eq!((c.failed, c.queued), (0, 0), "{c:?}");
    eprintln!(
        "throttle after a quiet spell: {n} taken in {took:?} (ideal {ideal:?}), \
         {throttled} throttled answers, lowest rate {lowest:.1}/s"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 1b. The database held by another process during load

/// Another process (an operator's `presence-gw outbox purge`, a backup) holds the database
/// past the gateway's busy timeout while 300 messages are out at a slow SMSC: the writes that
/// record the SMSC's answers are refused. The gateway tries them again once the database is
/// free, so every row ends `submitted` in this run, each handset has its text exactly once, and
/// no row is left `in_flight` for a restart to send twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_recorded_after_another_process_held_the_database() {
    held_database(false).await;
}

/// The same with receipts: the receipts that come while the database is held cannot be
/// stored, so the gateway answers them `ESME_RX_T_APPN` and the SMSC delivers them again
/// later (smsc-sim does so after `deliver_retry_delay`, as a carrier's SMSC does); every row
/// ends `delivered`. The test itself sends the first rows' receipts once the database is held,
/// and lets it go only after each has been refused: the simulator's own receipts come with
/// their submits and the gateway stores them within some tens of ms, so whether any of those
/// met the hold depended on how soon after the submits it began (on a loaded machine, none
/// did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_refused_while_the_database_is_held_come_again() {
    held_database(true).await;
}

/// Rows whose receipts the test sends itself while the database is held (receipts run).
const RECEIPTS_WHILE_HELD: usize = 3;

/// The database is held at least this long (five rounds of the dispatcher's
/// `record_patience`), and then until what the test waits for has happened.
const LEAST_HOLD: Duration = Duration::from_millis(1500);

async fn held_database(receipts: bool) {
    let mut cfg = SimConfig::local();
    cfg.faults.response_delay = Some(Delay::fixed(200));
    cfg.deliver_retry_delay = Duration::from_millis(200);
    cfg.deliver_attempts = 50;
    // A deliver_sm left unanswered is sent again only after the test has given up: one sent
    // again within it was refused (answered with a temporary status), not timed out.
    cfg.deliver_timeout = 3 * WAIT;
    // Every receipt written at once: with the default window of 10, the test's receipts queued
    // behind the simulator's own, which the gateway keeps up to 2 s each at its receipt gate
    // (for a record the hold refuses) before refusing them, ten at a time: seconds of waiting.
    cfg.deliver_window = 1024;
    // Receipts at once, before their (delayed) responses: not held back by the receipt gate,
    // so those still on their way when the hold begins come while the database is held.
    cfg.faults.receipt_before_resp = true;
    // The simulator's own receipts for the rows the test sends receipts for come a day late
    // (never, in this test): the test's are their only ones. (By the simulator's plan those
    // messages are en route for that day, so they never reach their handsets here.)
    let by_test: Vec<String> = (0..RECEIPTS_WHILE_HELD).map(number).collect();
    if receipts {
        for to in &by_test {
            cfg.receipts.rules.push(ReceiptRule {
                dest: DestMatch::Number(to.clone()),
                stat: ReceiptStat::Delivrd,
                delay_ms: 86_400_000,
                probability: 1.0,
                push_only: false,
            });
        }
    }
    let sim = start_sim(cfg, PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir, link(&sim, BindMode::Trx));
    opts.dispatcher.template.registered_delivery = receipts;
    opts.store.busy_timeout = Duration::from_millis(100);
    // Shorter than the hold: the record is refused past one round of retries and must not
    // be given up (its rows would stay in flight until a restart sent them twice).
    opts.dispatcher.record_patience = Duration::from_millis(300);
    let db = opts.db.clone();
    let gw = start_gw(opts, ServiceConfig::default()).await;
    let n = 300usize;
    let batch: Vec<NewMessage> = (0..n)
        .map(|i| NewMessage::sms(number(i), format!("held {i}")))
        .collect();
    enqueue_all(&gw, batch).await;
    // Submits are out (the simulator took 16; a count, so a slow poll cannot miss it).
    sim.wait_until("16 submits accepted", WAIT, |h| {
        (h.stats().mt_accepted >= 16).then_some(())
    })
    .await
    .expect("the submits go out");
    // The submits the test's receipts are about: sent before the hold.
    let mut their_submits = Vec::new();
    if receipts {
        for to in &by_test {
            let mt = sim
                .wait_for_mt_to(to, 1, WAIT)
                .await
                .unwrap_or_else(|e| panic!("no submit to {to}: {e}"))
                .remove(0);
            assert_eq!(mt.status, 0, "{mt:?}");
            their_submits.push(mt);
        }
    }
    // /metrics, scraped once before.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let stop_http = tokio_util::sync::CancellationToken::new();
    tokio::spawn(presence_gw::http::serve(
        listener,
        gw.http_router(None),
        stop_http.clone(),
    ));
    let scrape = || async {
        let r = reqwest::get(&metrics_url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (code, text) = scrape().await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("presence_gw_store_counts_stale 0"), "{text}");
    // The database is held from here until the test has seen what it checks below, and at
    // least `LEAST_HOLD` (a panic drops `release` and ends it too); the answers of the submits
    // out come meanwhile.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let other = rusqlite::Connection::open(&db).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        held_tx.send(()).unwrap();
        let _ = released.recv();
        other.execute_batch("COMMIT").unwrap();
    });
    tokio::task::spawn_blocking(move || held_rx.recv().unwrap())
        .await
        .unwrap();
    let held_at = Instant::now();
    // (Nothing commits now: what a read sees stays until the hold ends.)
    let at_hold = counts(&gw).await;
    // A scrape while it is held still answers, with the last counts, marked stale.
    let (code, text) = scrape().await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("presence_gw_store_counts_stale 1"), "{text}");
    assert!(text.contains("presence_gw_smpp_bound 1"), "{text}");
    // Receipts that come now: each must be refused (the simulator, answered with a temporary
    // status, sends it again) and none answered while the database is held.
    let mut sent = Vec::new();
    if receipts {
        for mt in &their_submits {
            let ticket = sim
                .inject_receipt(&mt.dest, &mt.source, &mt.message_id, ReceiptStat::Delivrd)
                .await
                .expect("receipt queued");
            sent.extend(ticket.record_ids);
        }
        let refused = |d: &DeliveryRecord| {
            d.attempts >= 2 || (d.attempts == 1 && d.state == DeliveryState::Queued)
        };
        let seen = sim
            .wait_until(
                "the receipts refused while the database is held",
                WAIT,
                |h| {
                    let mine: Vec<DeliveryRecord> = h
                        .deliveries()
                        .into_iter()
                        .filter(|d| sent.contains(&d.id))
                        .collect();
                    if let Some(d) = mine.iter().find(|d| {
                        matches!(
                            d.state,
                            DeliveryState::Answered(_) | DeliveryState::Failed(_)
                        )
                    }) {
                        return Some(Err(d.clone()));
                    }
                    (mine.len() == sent.len() && mine.iter().all(refused)).then_some(Ok(()))
                },
            )
            .await;
        match seen {
            Ok(Ok(())) => {}
            Ok(Err(d)) => panic!("a receipt was answered while the database was held: {d:?}"),
            Err(e) => panic!(
                "{e}: {:?}",
                sim.deliveries()
                    .into_iter()
                    .filter(|d| sent.contains(&d.id))
                    .collect::<Vec<_>>()
            ),
        }
    }
    tokio::time::sleep(LEAST_HOLD.saturating_sub(held_at.elapsed())).await;
    let held_for = held_at.elapsed();
    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    // Without receipts a row's end is `submitted`.
    let deadline = Instant::now() + 3 * WAIT;
    loop {
        let c = counts(&gw).await;
        let ended = if receipts { c.delivered } else { c.submitted };
        if ended == n as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{c:?}\n{}",
            stuck_report(&gw).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..n {
        let got = texts(&sim, &number(i));
        // The rows the test sends receipts for are en route for a day by the simulator's own
        // plan: not on their handsets yet (their submits were checked above).
        let want = if receipts && i < RECEIPTS_WHILE_HELD {
            Vec::new()
        } else {
            vec![format!("held {i}")]
        };
        assert_eq!(got, want, "handset {i}");
    }
    let mut others_refused = 0;
    if receipts {
        // The refused receipts came again and were taken: theirs are the rows' only receipts,
        // so those rows are `delivered` (checked above) by them.
        let answered = sim
            .wait_for_deliveries(&sent, WAIT)
            .await
            .expect("the refused receipts answered once the database is free");
        for d in &answered {
            assert_eq!(d.state, DeliveryState::Answered(0), "{d:?}");
            assert!(d.attempts >= 2, "{d:?}");
        }
        others_refused = sim
            .receipts()
            .iter()
            .filter(|d| !sent.contains(&d.id) && d.attempts > 1)
            .count();
    }
    eprintln!(
        "database held {held_for:?} with {} rows in flight; {others_refused} of the \
         simulator's own receipts refused too (receipts asked: {receipts})",
        at_hold.in_flight
    );
    // Fresh again once the database is free.
    let (code, text) = scrape().await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("presence_gw_store_counts_stale 0"), "{text}");
    stop_http.cancel();
    gw.shutdown().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Receipt chaos

/// Duplicate receipts, receipts for ids the SMSC never issued (UNDELIV, so a false match would
/// fail a row), and receipts on another bind arriving before their submit_sm_resp (txrx: sent at
/// once on the receiver while the transmitter's responses are held back 30-200 ms). Every row
/// ends `delivered`, every receipt is acknowledged OK, unknown ones are held apart and touch no
/// row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_chaos_on_a_receiver_bind_delivers_every_row() {
    receipt_chaos(BindMode::Txrx).await;
}

/// The same chaos on one transceiver bind, each receipt written before its own submit_sm_resp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_chaos_on_a_transceiver_delivers_every_row() {
    receipt_chaos(BindMode::Trx).await;
}

async fn receipt_chaos(mode: BindMode) {
    let started = Instant::now();
    let faults = Faults {
        duplicate_receipts: true,
        // Trx: the receipt is written before the resp on the same connection; txrx: it goes
        // to the receiver at once, racing the transmitter's delayed response.
        receipt_before_resp: true,
        // Txrx: responses lag behind receipts sent at once on the receiver.
        response_delay: (mode == BindMode::Txrx).then_some(Delay {
            min_ms: 30,
            max_ms: 200,
        }),
        ..Faults::default()
    };
    let sim = start_sim(SimConfig::local().with_faults(faults), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start_gw(options(&dir, link(&sim, mode)), ServiceConfig::default()).await;
    if mode == BindMode::Txrx {
        let binds = sim.wait_for_binds(2, WAIT).await.unwrap();
        let modes: HashSet<&str> = binds.iter().map(|b| b.mode).collect();
        assert_eq!(modes, HashSet::from(["transmitter", "receiver"]));
    }
    let n = 300usize;
    let every = 7;
    let unknown = n.div_ceil(every);
    for i in 0..n {
        gw.enqueue(NewMessage::sms(number(i), format!("chaos {i}")))
            .await
            .unwrap();
        if i % every == 0 {
            let k = i / every;
            // Far outside the simulator's id range, in both id spellings, and not numeric.
            let id = match k % 3 {
                0 => format!("{:08x}", 0x7f00_0000u32 + k as u32),
                1 => format!("{}", 3_000_000_000u64 + k as u64),
                _ => format!("no-such-id-{k}"),
            };
            sim.inject_receipt(&number(i), SERVICE, &id, ReceiptStat::Undeliv)
                .await
                .unwrap();
        }
    }
    let c = wait_settled(&gw, Duration::from_secs(30)).await;
    assert_eq!(c.delivered, n as u64, "{mode:?}: {c:?}");
    assert_eq!(c.failed + c.queued + c.in_flight + c.submitted, 0, "{c:?}");
    for i in 0..n {
        assert!(
            texts(&sim, &number(i)).contains(&format!("chaos {i}")),
            "{mode:?}: {} lacks its message",
            number(i)
        );
    }
    // Every receipt (real, duplicate, unknown) acknowledged OK by the gateway.
    let receipts = sim
        .wait_until("receipts answered", WAIT, |h| {
            let r = h.receipts();
            (r.len() >= 2 * n + unknown
                && r.iter().all(|d| {
                    matches!(
                        d.state,
                        DeliveryState::Answered(_) | DeliveryState::Failed(_)
                    )
                }))
            .then_some(r)
        })
        .await
        .expect("every receipt answered");
    assert_eq!(receipts.len(), 2 * n + unknown, "{mode:?}");
    let bad: Vec<_> = receipts
        .iter()
        .filter(|d| d.state != DeliveryState::Answered(0))
        .collect();
    assert!(bad.is_empty(), "{mode:?}: receipts not acked OK: {bad:?}");
    // Unknown receipts are held apart (for a resp that never comes), not applied.
    let c = counts(&gw).await;
    assert_eq!(c.pending_receipts, unknown as u64, "{mode:?}: {c:?}");
    if mode == BindMode::Txrx {
        let mt_binds: HashSet<u64> = sim
            .mt_messages(&smsc_sim::MtFilter::default())
            .iter()
            .map(|m| m.bind_id)
            .collect();
        assert!(
            receipts
                .iter()
                .all(|r| r.bind_id.is_some_and(|b| !mt_binds.contains(&b))),
            "receipts came on the submitting bind"
        );
    }
    eprintln!(
        "receipt chaos {mode:?}: {n} rows delivered with {} receipts ({unknown} unknown) in {:?}",
        receipts.len(),
        started.elapsed()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Abuse

const OWNER: &str = "+8613800138000";
const MEMBERS: [&str; 3] = ["+8613900139000", "+8613700137000", "+8613600136000"];
const OTHER: &str = "+8613500135000";
const LIMIT: &str = "Hourly update limit reached";

/// One subscriber changes their FAMILY status 1,000 times as fast as the SMSC delivers (well
/// within a minute) while another subscriber keeps asking WHO: the WHO replies come within a
/// few seconds, every change is answered, only the first 30 (the hourly quota) notify at once
/// and the owner is told of the limit on every later one, each member gets at most 30 updates,
/// and the latest status is held (one row per member) for when the hour has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_storm_keeps_quota_and_responsiveness() {
    let started = Instant::now();
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = ServiceConfig::default();
    let quota = svc.hourly_change_quota as usize;
    let gw = start_gw(options(&dir, link(&sim, BindMode::Trx)), svc).await;
    let (r, _) = say(
        &sim,
        OWNER,
        "GROUP FAMILY ADD 13900139000 13700137000 13600136000",
    )
    .await;
    assert!(r.starts_with("FAMILY now has 3 members"), "{r}");

    let changes = 1000usize;
    let storm = {
        let sim = sim.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            for i in 0..changes {
                // Distinct texts: an identical one within 2 minutes would be taken for a resend.
                let body = if i % 2 == 0 {
                    format!("STATUS FAMILY \"free {i}\"")
                } else {
                    format!("STATUS FAMILY \"busy {i}\"")
                };
                sim.inject_mo(MoRequest::new(OWNER, SERVICE, &body))
                    .await
                    .unwrap();
            }
            t0.elapsed()
        })
    };
    // Meanwhile another subscriber asks WHO, spelled differently each time.
    let mut who_latency = Vec::new();
    let spellings = [
        "WHO 13800138000",
        "who +8613800138000",
        "Who 8613800138000",
        "查13800138000",
        "WHO +86 138 0013 8000",
        "who 138-0013-8000",
    ];
    for s in spellings {
        let (reply, took) = say(&sim, OTHER, s).await;
        assert!(reply.contains("+8613800138000"), "{s}: {reply}");
        assert!(
            took < Duration::from_secs(5),
            "WHO answered in {took:?} during the storm"
        );
        who_latency.push(took);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let injected_in = storm.await.unwrap();
    assert!(injected_in < Duration::from_secs(60), "{injected_in:?}");

    // Every change answered (GROUP reply + 1,000).
    let owner_inbox = sim
        .wait_for_inbox(OWNER, changes + 1, Duration::from_secs(45))
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}", counts_sync(&sim, OWNER)));
    let replies: Vec<&str> = owner_inbox.texts()[1..].to_vec();
    assert!(replies.iter().all(|r| r.starts_with("Set: FAMILY sees ")));
    let limited = replies.iter().filter(|r| r.contains(LIMIT)).count();
    assert_eq!(
        limited,
        changes - quota,
        "every change past the quota says so"
    );
    wait_settled(&gw, Duration::from_secs(30)).await;

    // The owner's current status, as a member sees it.
    let (now_shown, _) = say(&sim, MEMBERS[0], "WHO 13800138000").await;
    let current = now_shown
        .rsplit(": ")
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string();
    let held: Vec<Row> = rows(&gw)
        .await
        .into_iter()
        .filter(|r| r.state == "queued")
        .collect();
    assert_eq!(
        held.len(),
        MEMBERS.len(),
        "one held update per member: {held:?}"
    );
    for m in MEMBERS {
        let updates: Vec<String> = texts(&sim, m)
            .into_iter()
            .filter(|t| t.contains("Reply STOP"))
            .collect();
        assert!(
            !updates.is_empty() && updates.len() <= quota,
            "{m} got {} updates",
            updates.len()
        );
        let row = held
            .iter()
            .find(|r| r.destination == m)
            .unwrap_or_else(|| panic!("no held update for {m}"));
        assert!(row.next_attempt_at > now_ms() + 30 * 60 * 1000, "{row:?}");
        let body = row.body.clone().unwrap_or_default();
        assert!(
            body.contains(&current),
            "{m}'s held update {body:?} is not the current status {current:?}"
        );
    }
    eprintln!(
        "status storm: {changes} changes injected in {injected_in:?}, WHO latencies {who_latency:?}, \
         {limited} replies said the limit was reached, whole test {:?}",
        started.elapsed()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

fn counts_sync(sim: &SimHandle, number: &str) -> usize {
    sim.handset(number).inbox.len()
}

/// Groups at their caps refuse with the clear reply and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_at_their_caps_refuse_clearly() {
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = ServiceConfig {
        max_group_members: 3,
        max_total_members: 5,
        max_user_groups: 1,
        ..ServiceConfig::default()
    };
    let gw = start_gw(options(&dir, link(&sim, BindMode::Trx)), svc).await;
    let (r, _) = say(
        &sim,
        OWNER,
        "GROUP FAMILY ADD 13900000001 13900000002 13900000003",
    )
    .await;
    assert!(r.starts_with("FAMILY now has 3 members"), "{r}");
    let (r, _) = say(&sim, OWNER, "GROUP FAMILY ADD 13900000004").await;
    assert_eq!(
        r,
        "Nothing added: FAMILY holds at most 3 numbers and has 3."
    );
    let (r, _) = say(&sim, OWNER, "GROUP TEAM ADD 13900000005").await;
    assert!(r.starts_with("TEAM now has 1 member"), "{r}");
    let (r, _) = say(&sim, OWNER, "GROUP CLUB ADD 13900000006").await;
    assert_eq!(
        r,
        "Nothing added: you can have at most 1 groups of your own. GROUP x DROP frees one."
    );
    let (r, _) = say(&sim, OWNER, "GROUP FRIENDS ADD 13900000007").await;
    assert!(r.starts_with("FRIENDS now has 1 member"), "{r}");
    let (r, _) = say(&sim, OWNER, "GROUP FRIENDS ADD 13900000008").await;
    assert_eq!(
        r,
        "Nothing added: your groups hold at most 5 numbers in all and have 5."
    );
    // Nothing refused slipped in: a change for everyone reaches exactly the 5 accepted.
    let (r, _) = say(&sim, OWNER, "STATUS ALL BUSY").await;
    assert!(r.ends_with("5 contacts will be told."), "{r}");
    wait_settled(&gw, WAIT).await;
    for i in 1..=8 {
        let n = format!("+86139000000{i:02}");
        let got = texts(&sim, &n).len();
        let accepted = matches!(i, 1 | 2 | 3 | 5 | 7);
        assert_eq!(got, usize::from(accepted), "{n} holds {got} texts");
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

/// 10,000 WHO queries from one number (10,000 different targets, so none is a resend) are all
/// answered, once each, within 90 s, and someone else asking behind them is answered too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_who_queries_are_all_answered() {
    let started = Instant::now();
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start_gw(
        options(&dir, link(&sim, BindMode::Trx)),
        ServiceConfig::default(),
    )
    .await;
    let asker = "+8613300133000";
    let n = 10_000usize;
    for i in 0..n {
        sim.inject_mo(MoRequest::new(asker, SERVICE, &format!("WHO 1391{i:07}")))
            .await
            .unwrap();
    }
    let injected = started.elapsed();
    // Someone else asks right behind the flood (the SMSC delivers MO in order, so this one
    // queues behind all 10,000): answered too, latency reported.
    let t_other = Instant::now();
    sim.inject_mo(MoRequest::new(OTHER, SERVICE, "WHO 13300133000"))
        .await
        .unwrap();
    // Poll twice a second (a handset view copies the whole inbox; waking on every change
    // would cost more than the gateway's work).
    // ~48 s alone in a debug build on 2 cores (about 210 WHO/s end to end): bounded at 90 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut progress = Vec::new();
    let view = loop {
        let v = sim.handset(asker);
        if v.inbox.len() >= n {
            break v;
        }
        progress.push(v.inbox.len());
        assert!(
            Instant::now() < deadline,
            "after 90 s only {} of {n} WHO answered (every 0.5 s: {progress:?})",
            v.inbox.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let other = sim
        .wait_for_inbox(OTHER, 1, Duration::from_secs(10))
        .await
        .expect("the other subscriber is answered");
    let took = t_other.elapsed();
    assert!(
        other.texts()[0].contains("+8613300133000"),
        "{:?}",
        other.texts()
    );
    let answered = started.elapsed();
    let targets: HashSet<&str> = view
        .texts()
        .into_iter()
        .filter_map(|t| t.split("+861391").nth(1).map(|s| &s[..7]))
        .collect();
    assert_eq!(targets.len(), n, "one distinct reply per WHO");
    eprintln!(
        "10,000 WHO: injected in {injected:?}, all answered after {answered:?} \
         ({:.0}/s end to end); another subscriber's WHO sent behind them took {took:?}",
        n as f64 / answered.as_secs_f64()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Security

/// Collect a child's output lines into a shared buffer.
fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let mut s = into.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });
}

struct Child {
    child: tokio::process::Child,
    out: Arc<Mutex<String>>,
}

impl Child {
    fn spawn(sim: &SimHandle, db: &std::path::Path, password: &str, api_key: &str) -> Child {
        Self::spawn_logging(sim, db, password, api_key, "trace")
    }

    /// [`Child::spawn`] with `RUST_LOG` = `rust_log`.
    fn spawn_logging(
        sim: &SimHandle,
        db: &std::path::Path,
        password: &str,
        api_key: &str,
        rust_log: &str,
    ) -> Child {
        Child::spawn_with(sim, db, password, api_key, rust_log, &[])
    }

    /// [`Child::spawn_logging`] with `extra` arguments (`--log-format json`); an empty
    /// `api_key` sets no `PRESENCE_GW_API_KEY` (the config file's `api_key`, if any, is used).
    fn spawn_with(
        sim: &SimHandle,
        db: &std::path::Path,
        password: &str,
        api_key: &str,
        rust_log: &str,
        extra: &[&str],
    ) -> Child {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_presence-gw"));
        if api_key.is_empty() {
            command.env_remove("PRESENCE_GW_API_KEY");
        } else {
            command.env("PRESENCE_GW_API_KEY", api_key);
        }
        let mut child = command
            .args(extra)
            .args([
                "serve",
                "--smsc",
                &sim.smpp_addr().to_string(),
                "--system-id",
                SYSTEM_ID,
                "--password",
                password,
                "--db",
                db.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", rust_log)
            .env_remove("PRESENCE_GW_SMSC_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn presence-gw");
        let out = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), out.clone());
        collect(child.stderr.take().unwrap(), out.clone());
        Child { child, out }
    }

    /// The `host:port` its banner says HTTP is served on (waits for the banner).
    async fn http_addr(&self) -> String {
        self.wait_for("the HTTP address", |s| {
            s.contains("HTTP:") || s.contains("presence-gw is running\"")
        })
        .await;
        let s = self.out.lock().unwrap();
        // With --log-format json the banner is one JSON event, its `http` field the address.
        if let Some(event) = s
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "presence-gw is running")
        {
            return event["fields"]["http"].as_str().unwrap().to_string();
        }
        let line = s.lines().find(|l| l.contains("HTTP:")).unwrap().to_string();
        line.split("http://")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    async fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !pred(&self.out.lock().unwrap()) {
            assert!(Instant::now() < deadline, "presence-gw never showed {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Send `signal` (`-HUP`, `-TERM`) with kill(1).
    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running");
        let st = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGHUP: read the config again (`systemctl reload`).
    fn hangup(&self) {
        self.signal("-HUP");
    }

    /// SIGTERM, wait for a clean exit, return everything it wrote.
    async fn terminate(mut self) -> String {
        self.signal("-TERM");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "exit status {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await; // readers drain
        let s = self.out.lock().unwrap().clone();
        s
    }
}

/// The real binary at trace level, with a recognisable bind password (first a wrong one, then
/// the right one) and API key: a rejected bind, MO traffic, API calls with the key (and a wrong
/// one), SIGTERM. Neither secret appears anywhere in what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_at_trace_level() {
    let right = "Rq7Zx4Kp"; // SMPP 3.4 passwords: at most 8 characters
    let wrong = "Wv3Jm8Tn";
    let api_key = "apikey-Hq93Xw71-Lb58Nc";
    let sim = start_sim(SimConfig::local(), right).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");

    // A wrong password: the bind is refused (and retried slowly).
    let bad = Child::spawn(&sim, &db, wrong, api_key);
    bad.wait_for("the bind rejection", |s| {
        let l = s.to_ascii_lowercase();
        l.contains("rinvpaswd") || l.contains("reject")
    })
    .await;
    bad.wait_for("the HTTP address", |s| s.contains("HTTP:"))
        .await;
    // /health names the refusal and the SMSC that refused (the address was null unless bound).
    let http = {
        let out = bad.out.lock().unwrap().clone();
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix("HTTP:"))
            .and_then(|r| r.split_whitespace().next())
            .expect("HTTP address in the banner")
            .to_string()
    };
    let health: serde_json::Value = reqwest::get(format!("{http}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["smsc_address"],
        sim.smpp_addr().to_string(),
        "{health}"
    );
    assert!(
        health["smsc"]
            .as_str()
            .is_some_and(|s| s.contains("ESME_RINVPASWD")),
        "{health}"
    );
    let bad_out = bad.terminate().await;
    // Named as carrier documents and the outbox name it, not by rusmpp's variant.
    assert!(bad_out.contains("ESME_RINVPASWD (0x0000000E)"), "{bad_out}");
    assert!(!bad_out.contains("EsmeRinvpaswd"), "{bad_out}");

    // The right one, and traffic.
    let good = Child::spawn(&sim, &db, right, api_key);
    let http_addr = good.http_addr().await;
    sim.wait_for_binds(1, WAIT).await.unwrap();
    let (r, _) = say(&sim, OWNER, "GROUP FAMILY ADD 13900139000").await;
    assert!(r.starts_with("FAMILY now has 1 member"), "{r}");
    let (r, _) = say(&sim, OWNER, "STATUS FAMILY MEETING FOR 1H").await;
    assert!(r.starts_with("Set: FAMILY sees MEETING"), "{r}");
    sim.wait_for_inbox(MEMBERS[0], 1, WAIT).await.unwrap();
    let http = reqwest::Client::new();
    let events = format!("http://{http_addr}/api/v1/events");
    let call = serde_json::json!({"msisdn": OWNER, "event": "call_started"});
    let ok = http
        .post(&events)
        .bearer_auth(api_key)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong_key = http
        .post(&events)
        .bearer_auth(format!("{api_key}-not"))
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 403);
    sim.wait_for_inbox(MEMBERS[0], 2, WAIT).await.unwrap();
    let metrics = http
        .get(format!("http://{http_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(api_key) && !metrics.contains(right));
    let good_out = good.terminate().await;

    for (run, out) in [("wrong password", &bad_out), ("right password", &good_out)] {
        // The filter really was trace (axum's shutdown lines are TRACE), and the bound run
        // logged its traffic at debug level: else the grep proves little.
        let level = |l: &str| out.lines().filter(|x| x.contains(l)).count();
        assert!(level("TRACE") >= 1, "{run}: no trace lines:\n{out}");
        if run == "right password" {
            assert!(level("DEBUG") >= 3, "{run}: no debug lines:\n{out}");
        }
        for secret in [right, wrong, api_key] {
            let leaks: Vec<&str> = out.lines().filter(|l| l.contains(secret)).collect();
            assert!(leaks.is_empty(), "{run}: secret in the logs: {leaks:#?}");
        }
    }
    eprintln!(
        "secrets: {} + {} log lines at trace level, no secret in any",
        bad_out.lines().count(),
        good_out.lines().count()
    );
    sim.shutdown().await;
}

/// Avatar links are per viewer: 22 characters of URL-safe base64 (128 bits), different for each
/// viewer, unknown tokens (random, or one character off) are 404, and a viewer's link stops
/// working (403) once the owner removes the viewer from their groups, while another viewer's
/// link keeps working. Over real HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatar_links_are_per_viewer_and_unguessable() {
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut svc = ServiceConfig::default();
    svc.avatar.public_url = base.clone();
    let gw = start_gw(options(&dir, link(&sim, BindMode::Trx)), svc).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(presence_gw::http::serve(
        listener,
        gw.http_router(None),
        stop.clone(),
    ));

    // A preset with fake bytes (the HTTP side serves stored variants as they are).
    let bytes: &'static [u8] = b"\xFF\xD8\xFFfake-jpeg-for-the-reliability-suite";
    gw.store
        .write(move |tx| {
            let sha = "ab".repeat(32);
            let v = VariantIn {
                size: 96,
                format: "jpeg",
                content_type: "image/jpeg",
                bytes,
                sha256: &sha,
            };
            let id = avatar::store_avatar(tx, &"cd".repeat(32), &[v], now_ms())?;
            avatar::add_preset(tx, 1, &"Test".into(), id)
        })
        .await
        .unwrap();

    let (mum, dad) = (MEMBERS[0], MEMBERS[1]);
    let (r, _) = say(&sim, OWNER, "GROUP FAMILY ADD 13900139000 13700137000").await;
    assert!(r.starts_with("FAMILY now has 2 members"), "{r}");
    let (r, _) = say(&sim, OWNER, "AVATAR 1").await;
    assert!(!r.starts_with("Sorry"), "{r}");

    let token_of = |reply: &str| -> String {
        let url = reply
            .split("Photo: ")
            .nth(1)
            .unwrap_or_else(|| panic!("no photo link in {reply:?}"))
            .trim();
        assert!(url.starts_with(&format!("{base}/a/")), "{url}");
        url.rsplit('/').next().unwrap().to_string()
    };
    let (r, _) = say(&sim, mum, "WHO 13800138000").await;
    let mum_token = token_of(&r);
    let (r, _) = say(&sim, dad, "WHO 13800138000").await;
    let dad_token = token_of(&r);
    let (r, _) = say(&sim, OTHER, "WHO 13800138000").await;
    assert!(!r.contains("Photo:"), "a stranger got a link: {r}");
    for t in [&mum_token, &dad_token] {
        assert_eq!(t.len(), 22, "{t}");
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{t}"
        );
        assert!(!t.contains("138") || !t.contains("0013800"), "{t}");
    }
    assert_ne!(mum_token, dad_token, "one token per viewer");
    // Asking again gives the same link (stable per pair).
    let (r, _) = say(&sim, mum, "who +8613800138000").await;
    assert_eq!(token_of(&r), mum_token);

    let http = reqwest::Client::new();
    let get = |t: String| {
        let http = http.clone();
        let url = format!("{base}/a/{t}");
        async move { http.get(url).send().await.unwrap() }
    };
    let r = get(mum_token.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes);
    assert_eq!(get(dad_token.clone()).await.status(), 200);
    // Unknown tokens: random, and one character off.
    assert_eq!(get(avatar::random_token()).await.status(), 404);
    let mut off: Vec<u8> = mum_token.clone().into_bytes();
    off[10] = if off[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(get(String::from_utf8(off).unwrap()).await.status(), 404);

    // Mum is removed from the owner's groups: her link (whoever holds it) is now refused.
    let (r, _) = say(&sim, OWNER, "GROUP FAMILY DEL 13900139000").await;
    assert!(!r.starts_with("Sorry"), "{r}");
    let r = get(mum_token.clone()).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(
        !page.contains("13800138000") && !page.contains("13700137000"),
        "{page}"
    );
    assert_eq!(get(dad_token).await.status(), 200, "dad still may see it");

    stop.cancel();
    server.await.unwrap().unwrap();
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A message the SMSC reports undelivered only by its receipt is logged at WARN, as one it
/// refuses in its submit_sm_resp is (from the exploratory tester: 30 rows failed by receipt,
/// no log line); once, though the SMSC sends every receipt twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_by_receipt_is_logged() {
    failure_by_receipt_is_logged_once(Faults {
        duplicate_receipts: true,
        ..Faults::default()
    })
    .await;
}

/// The same for receipts that beat their submit_sm_resp (written before it, the response
/// 300 ms later): held, they fail the row when its segment is recorded, and that is logged
/// too (it was not: only the counter saw it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_by_a_receipt_before_its_response_is_logged() {
    failure_by_receipt_is_logged_once(Faults {
        duplicate_receipts: true,
        receipt_before_resp: true,
        response_delay: Some(Delay {
            min_ms: 300,
            max_ms: 300,
        }),
        ..Faults::default()
    })
    .await;
}

async fn failure_by_receipt_is_logged_once(faults: Faults) {
    let undelivered = "+8613500100001";
    let sim = start_sim(
        SimConfig::local()
            .with_receipt_rule(ReceiptRule {
                dest: DestMatch::Number(undelivered.into()),
                stat: ReceiptStat::Undeliv,
                delay_ms: 0,
                probability: 1.0,
                push_only: false,
            })
            .with_faults(faults),
        PASSWORD,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    {
        let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
        let now = now_ms();
        store
            .write(move |tx| {
                outbox::enqueue(tx, &NewMessage::sms(undelivered, "lost"), now)?;
                outbox::enqueue(tx, &NewMessage::sms("+8613500100002", "fine"), now)
            })
            .await
            .unwrap();
        store.close().await;
    }
    let gw = Child::spawn(&sim, &db, PASSWORD, "apikey-receipt-log-test");
    gw.wait_for("the failure by receipt", |s| {
        s.contains("message failed: the SMSC's delivery receipt says it was not delivered")
    })
    .await;
    // The repeated receipt comes and changes nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = gw.terminate().await;
    let failed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("message failed: the SMSC's delivery receipt"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("WARN") && failed[0].contains("outbox_id=1"),
        "{}",
        failed[0]
    );
}

/// Messages whose validity ends while the SMSC is out of reach end then, with no try counted,
/// instead of staying `queued` (counted as still to be sent) until the rebind (from the
/// exploratory tester: 70 s queued past their validity, then expired with one try).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_expire_while_the_smsc_is_out_of_reach() {
    let sim = start_sim(SimConfig::local(), PASSWORD).await;
    let mut unreachable = link(&sim, BindMode::Trx);
    sim.shutdown().await;
    unreachable.reconnect_min = Duration::from_millis(200);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(&dir, unreachable);
    opts.dispatcher.validity = Some(Duration::from_secs(1));
    let gw = Gateway::start_with_service(opts, ServiceConfig::default())
        .await
        .expect("gateway starts");
    enqueue_all(&gw, vec![NewMessage::sms(number(1), "too late")]).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let c = counts(&gw).await;
        if c.expired == 1 {
            assert_eq!(c.queued, 0, "{c:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not expired while down: {c:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!gw.link.is_bound());
    let attempts: i64 = gw
        .store
        .read(|c| {
            c.query_row("SELECT attempts FROM outbox", [], |r| r.get(0))
                .map_err(StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(attempts, 0, "never sent, no try counted");
    gw.shutdown().await;
}

/// A simulator and the gateway binary bound to it, logging with `rust_log` (and `extra`
/// arguments), its database in the returned folder; and the URL of its log filter API.
async fn logging_gateway(
    password: &str,
    api_key: &str,
    rust_log: &str,
    extra: &[&str],
) -> (SimHandle, tempfile::TempDir, Child, String) {
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        api_key,
        rust_log,
        extra,
    );
    let url = format!("http://{}/api/v1/log", gw.http_addr().await);
    sim.wait_for_binds(1, WAIT).await.unwrap();
    (sim, dir, gw, url)
}

/// The operator reads and changes the log filter of the running binary (`GET` / `PUT
/// /api/v1/log`), without a restart that would drop the SMPP session: debug lines appear
/// from the next command on; a misspelt level is refused and changes nothing; no key, no
/// access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_filter_is_read_and_changed_while_the_gateway_runs() {
    let password = "Lg4Mz8Qa";
    let api_key = "apikey-log-filter-0123";
    let (sim, _dir, gw, url) = logging_gateway(password, api_key, "info,rusmpp=warn", &[]).await;
    let http = reqwest::Client::new();
    let get = || async {
        let r = http.get(&url).bearer_auth(api_key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()["filter"].clone()
    };
    let put = |filter: &str| {
        http.put(&url)
            .bearer_auth(api_key)
            .json(&serde_json::json!({ "filter": filter }))
            .send()
    };
    assert_eq!(get().await, "info,rusmpp=warn");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let (r, _) = say(&sim, OWNER, "STATUS").await;
    assert!(r.starts_with("You show"), "{r}");
    assert!(
        !gw.out.lock().unwrap().contains(" DEBUG "),
        "no debug lines at info"
    );

    // A misspelt level would hide every line: refused, the filter stays.
    let r = put("info,debgu").await.unwrap();
    assert_eq!(r.status(), 400);
    let why = r.text().await.unwrap();
    assert!(
        why.contains("did you mean") && why.contains("debug"),
        "{why}"
    );
    assert_eq!(get().await, "info,rusmpp=warn");

    let r = put("info,presence_gw=debug").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["filter"], "info,presence_gw=debug");
    assert_eq!(body["was"], "info,rusmpp=warn");
    assert_eq!(get().await, "info,presence_gw=debug");
    let (r, _) = say(&sim, OWNER, "STATUS").await;
    assert!(r.starts_with("You show"), "{r}");
    gw.wait_for("debug lines after the change", |s| {
        s.lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("presence_gw"))
    })
    .await;
    let out = gw.terminate().await;
    assert!(
        out.contains("log filter changed through the operator API"),
        "{out}"
    );
    assert!(!out.contains(password) && !out.contains(api_key));
    sim.shutdown().await;
}

/// The PDU trace an engineer turns on to see an integration's traffic (`pdu=debug`, at start
/// or through `PUT /api/v1/log`): every PDU in and out, its header and all its bytes, the bind
/// password masked in them; the hex of the reply's submit_sm decodes to the reply. Turned off
/// again at run time, no more lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pdu_trace_shows_every_pdu_with_the_password_masked_and_turns_off_at_run_time() {
    let password = "Tr9Pw2Xz";
    let api_key = "apikey-pdu-trace-01234";
    let (sim, _dir, gw, url) =
        logging_gateway(password, api_key, "info,rusmpp=warn,pdu=debug", &[]).await;
    let (reply, _) = say(&sim, OWNER, "STATUS").await;
    assert!(reply.starts_with("You show"), "{reply}");
    let traced = |out: &str, command: &str, dir: &str| -> Vec<String> {
        out.lines()
            .filter(|l| {
                l.contains(" DEBUG ")
                    && l.contains(&format!("dir=\"{dir}\""))
                    && l.contains(&format!("command={command} "))
            })
            .map(str::to_string)
            .collect()
    };
    gw.wait_for("the reply's submit_sm_resp traced", |s| {
        !traced(s, "SubmitSmResp", "in").is_empty()
    })
    .await;
    let out = gw.out.lock().unwrap().clone();
    for (command, dir) in [
        ("BindTransceiver", "out"),
        ("BindTransceiverResp", "in"),
        ("DeliverSm", "in"),
        ("DeliverSmResp", "out"),
        ("SubmitSm", "out"),
        ("SubmitSmResp", "in"),
    ] {
        assert!(
            !traced(&out, command, dir).is_empty(),
            "no {dir} {command}: {out}"
        );
    }
    let hex_of = |line: &str| -> Vec<u8> {
        let h = line
            .split("hex=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let bind = hex_of(&traced(&out, "BindTransceiver", "out")[0]);
    let masked = format!("{SYSTEM_ID}\0{}\0", "*".repeat(password.len()));
    assert!(
        bind.windows(masked.len()).any(|w| w == masked.as_bytes()),
        "password masked, its length kept: {bind:?}"
    );
    let password_hex: String = password.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(
        !out.contains(password) && !out.contains(&password_hex),
        "{out}"
    );
    let submit = traced(&out, "SubmitSm", "out").pop().unwrap();
    let Frame::Pdu(cmd) = sms_wire::framing::decode_pdu(&hex_of(&submit)) else {
        panic!("the traced submit_sm decodes: {submit}")
    };
    let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
        panic!("{cmd:?}")
    };
    assert_eq!(
        sms_wire::text::decode(u8::from(sm.data_coding), sm.short_message().as_ref()),
        reply
    );

    // Off at run time: no more PDU lines.
    let r = reqwest::Client::new()
        .put(&url)
        .bearer_auth(api_key)
        .json(&serde_json::json!({ "filter": "info,rusmpp=warn" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines_before = gw.out.lock().unwrap().lines().count();
    let (reply, _) = say(&sim, OWNER, "GROUPS").await;
    assert!(reply.starts_with("Your groups"), "{reply}");
    let out = gw.terminate().await;
    let after: Vec<&str> = out.lines().skip(lines_before).collect();
    assert!(
        !after.iter().any(|l| l.contains("hex=")),
        "traced after it was turned off: {after:?}"
    );
    sim.shutdown().await;
}

/// `systemctl reload` (SIGHUP) reads the config file again: a new `[smsc] max_rate` holds from
/// then on (and a new window is taken) (fifteen replies at most 3 in any second, where they went at once before), a key
/// that needs a restart is named as such, a file that no longer loads is refused with its
/// bad key named and the running settings kept, and a key a flag sets stays the flag's.
/// The gateway lives through every SIGHUP (its default action would have killed it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_reloads_max_rate_names_restart_keys_and_refuses_a_bad_file() {
    let password = "Rl3Hp8Qd";
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    write("[smsc]\nmax_rate = 0\n[delivery]\nmax_attempts = 20\n");
    let config = file.to_str().unwrap().to_string();
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        "apikey-reload-0123456",
        "info,rusmpp=warn",
        &["--config", &config],
    );
    sim.wait_for_binds(1, WAIT).await.unwrap();
    let hup = || gw.hangup();
    // Fifteen replies as fast as they come, at no cap.
    let burst = |sim: &SimHandle, n: usize| {
        let sim = sim.clone();
        async move {
            let seen = sim.mt_messages(&smsc_sim::MtFilter::all()).len();
            for i in 0..n {
                sim.inject_mo(MoRequest::new(
                    &format!("+86138001380{i:02}"),
                    SERVICE,
                    "HELP",
                ))
                .await
                .unwrap();
            }
            let mut times = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            while times.len() < n {
                assert!(Instant::now() < deadline, "{} of {n} replies", times.len());
                tokio::time::sleep(Duration::from_millis(100)).await;
                times = sim
                    .mt_messages(&smsc_sim::MtFilter::all())
                    .into_iter()
                    .skip(seen)
                    .map(|m| m.received_at_ms)
                    .collect();
            }
            times.sort();
            times
        }
    };
    let fast = burst(&sim, 15).await;
    assert!(
        busiest_ms(&fast, 1_000) > 3,
        "unthrottled replies went at most 3 a second: {fast:?}"
    );

    // max_rate 3 and a restart-only key changed; keys the --http and --db flags set written too.
    write("http = \"127.0.0.1:1\"\ndb = \"elsewhere.db\"\n[smsc]\nmax_rate = 3\nwindow = 4\n[delivery]\nmax_attempts = 20\nvalidity_secs = 7200\n");
    hup();
    gw.wait_for("the reload", |s| s.contains("config reloaded"))
        .await;
    let out = gw.out.lock().unwrap().clone();
    assert!(
        out.contains("config reload: smsc.max_rate applied")
            && out.contains("from=no cap to=3 msg/s"),
        "{out}"
    );
    assert!(
        out.contains("config reload: smsc.window applied") && out.contains("from=64 to=4"),
        "{out}"
    );
    assert!(
        out.contains("take effect at the next start: delivery.validity_secs"),
        "{out}"
    );
    for key in ["http", "db"] {
        assert!(
            out.contains(&format!(
                "config reload: {key} changed in the file, but a flag"
            )),
            "{key}: {out}"
        );
    }
    assert!(
        !out.contains("take effect at the next start: db")
            && !out.contains("take effect at the next start: db, delivery.validity_secs"),
        "{out}"
    );
    let slow = burst(&sim, 15).await;
    // Counted where the SMSC reads them: a loaded host can bring two writes a few ms closer
    // on the way, so the second is taken a tenth short; and fifteen at 3 a second take 4 s
    // from the first to the last (3 at once, then 3 a second later...), less such a gap.
    assert!(busiest_ms(&slow, 900) <= 3, "{slow:?}");
    assert!(slow[14] - slow[0] >= 3_800, "{slow:?}");

    // A file that no longer loads: refused whole, max_rate stays 3.
    write("[smsc]\nmax_rate = -1\n");
    hup();
    gw.wait_for("the refusal", |s| s.contains("config reload refused"))
        .await;
    assert!(
        gw.out.lock().unwrap().contains("smsc.max_rate"),
        "the bad key named"
    );
    // Both reloads counted; the one key that waits for a restart (delivery.validity_secs).
    assert_metric_lines(
        &gw.http_addr().await,
        &[
            "presence_gw_config_reloads_total{result=\"applied\"} 1",
            "presence_gw_config_reloads_total{result=\"refused\"} 1",
            "presence_gw_config_keys_pending_restart 1",
        ],
    )
    .await;
    let still = burst(&sim, 6).await;
    assert!(busiest_ms(&still, 900) <= 3, "{still:?}");
    assert!(still[5] - still[0] >= 900, "{still:?}");
    let out = gw.terminate().await;
    assert!(!out.contains(password));
    sim.shutdown().await;
}

/// A reload whose config file is gone (moved away by a deploy script, a typo in `mv`) is
/// refused saying why once: the line read "cannot read gw.toml: No such file or directory
/// (os error 2): No such file or directory (os error 2)", the cause repeated after the message
/// that already holds it (the command line's errors leave such repeats out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_refused_for_a_missing_file_says_why_once() {
    let password = "Mv7Gn2Lq";
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    std::fs::write(&file, "[smsc]\nwindow = 8\n").unwrap();
    let config = file.to_str().unwrap().to_string();
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        "apikey-missing-file-0123",
        "info,rusmpp=warn",
        &["--config", &config],
    );
    sim.wait_for_binds(1, WAIT).await.unwrap();
    std::fs::remove_file(&file).unwrap();
    gw.hangup();
    gw.wait_for("the refusal", |s| s.contains("config reload refused"))
        .await;
    let out = gw.out.lock().unwrap().clone();
    let line = out
        .lines()
        .find(|l| l.contains("config reload refused"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
    assert!(line.contains("cannot read"), "{line}");
    gw.terminate().await;
    sim.shutdown().await;
}

/// Every one of `lines` is a line of the `/metrics` the gateway at `addr` serves.
async fn assert_metric_lines(addr: &str, lines: &[&str]) {
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in lines {
        assert!(metrics.lines().any(|l| l == *line), "{line}:\n{metrics}");
    }
}

/// None of `secrets` is anywhere in the gateway's output `out`.
fn assert_not_logged(out: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!out.contains(secret), "{secret} in the log:\n{out}");
    }
}

/// The operator API's answer to a request with bearer `key` at the gateway on `addr`: the
/// status code and the body.
async fn api_status(client: &reqwest::Client, addr: &str, key: &str) -> (u16, String) {
    let r = client
        .get(format!("http://{addr}/api/v1/log"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `systemctl reload` (SIGHUP) rotates the operator API key: the old key is refused (403)
/// from the first request after the reload, on the same kept-alive connection too, and the
/// new one taken; a file without `api_key` turns the API off, one with it back on. Neither
/// key is ever written to the log (the reload says only that a key is set). Before, a changed
/// `api_key` was named as waiting for a restart and the old key went on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_rotates_the_api_key_and_turns_the_api_off_and_on() {
    let password = "Ak7Rt2Wm";
    let (old, new) = (
        "old-operator-key-4711-rotate",
        "new-operator-key-0815-rotate",
    );
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    let write = |text: String| std::fs::write(&file, text).unwrap();
    write(format!("api_key = \"{old}\"\n"));
    let config = file.to_str().unwrap().to_string();
    // No PRESENCE_GW_API_KEY: the key is the file's.
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        "",
        "info,rusmpp=warn",
        &["--config", &config],
    );
    let addr = gw.http_addr().await;
    sim.wait_for_binds(1, WAIT).await.unwrap();
    // One client throughout: its connection is kept alive across the reloads.
    let client = reqwest::Client::new();
    let status = |key: &'static str| api_status(&client, &addr, key);
    let mut reloads = 0;
    let mut reload = |text: String| {
        write(text);
        gw.hangup();
        reloads += 1;
        let n = reloads;
        let gw = &gw;
        async move {
            gw.wait_for("the reload", |s| s.matches("config reloaded").count() >= n)
                .await
        }
    };
    assert_eq!(status(old).await.0, 200);
    assert_eq!(status(new).await.0, 403);

    reload(format!("api_key = \"{new}\"\n")).await;
    assert_eq!(status(old).await.0, 403, "the old key refused at once");
    assert_eq!(status(new).await.0, 200);
    let out = gw.out.lock().unwrap().clone();
    assert!(out.contains("config reload: api_key applied"), "{out}");
    assert!(!out.contains("take effect at the next start"), "{out}");

    // No key: the API is off.
    reload(String::new()).await;
    let (code, body) = status(new).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("the operator API is off"), "{body}");
    // And on again.
    reload(format!("api_key = \"{new}\"\n")).await;
    assert_eq!(status(new).await.0, 200);
    assert_eq!(status(old).await.0, 403);

    assert_metric_lines(
        &addr,
        &[
            "presence_gw_config_reloads_total{result=\"applied\"} 3",
            "presence_gw_config_keys_pending_restart 0",
        ],
    )
    .await;
    let out = gw.terminate().await;
    assert_eq!(
        out.matches("config reload: api_key applied").count(),
        3,
        "{out}"
    );
    assert_not_logged(&out, &[old, new, password, "operator-key"]);
    sim.shutdown().await;
}

/// The deployed setup's rotation: the operator API key in a file (`api_key_file`), a new key
/// written into it and `systemctl reload` (SIGHUP), the config text unchanged. The old key is
/// refused (403) from the next request and the new one taken; a key file made empty, or
/// readable by every user, refuses the reload (the file named) and the last key goes on
/// working. No key is ever in the log. Before, the file was not read again at a reload (the
/// key set by the env file's `PRESENCE_GW_API_KEY` is never taken from the config either):
/// rotating needed a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_reads_the_api_key_file_again_and_refuses_an_empty_one() {
    use std::os::unix::fs::PermissionsExt;
    let password = "Kf4Rl8Zq";
    let (old, new, third) = (
        "old-filekey-3141-rotate",
        "new-filekey-2718-rotate",
        "third-filekey-1618-rotate",
    );
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api_key");
    let write_key = |text: &str, mode: u32| {
        std::fs::write(&key_file, text).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write_key(&format!("{old}\n"), 0o640);
    let file = dir.path().join("gw.toml");
    let text = format!("api_key_file = {:?}\n", key_file.to_str().unwrap());
    std::fs::write(&file, &text).unwrap();
    let config = file.to_str().unwrap().to_string();
    // No PRESENCE_GW_API_KEY: the key is the key file's.
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        "",
        "info,rusmpp=warn",
        &["--config", &config],
    );
    let addr = gw.http_addr().await;
    sim.wait_for_binds(1, WAIT).await.unwrap();
    let client = reqwest::Client::new();
    let status = |key: &'static str| {
        let answer = api_status(&client, &addr, key);
        async move { answer.await.0 }
    };
    // SIGHUP, then wait for the `n`th line saying `what`.
    let hangup = |what: &'static str, n: usize| {
        gw.hangup();
        let gw = &gw;
        async move {
            gw.wait_for(what, |s| s.matches(what).count() >= n).await;
        }
    };
    assert_eq!(status(old).await, 200);
    assert_eq!(status(new).await, 403);

    // A new key written into the file; the config text is the same.
    write_key(&format!("{new}\n"), 0o640);
    hangup("config reloaded", 1).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(status(old).await, 403, "the old key refused at once");
    assert_eq!(status(new).await, 200);
    let out = gw.out.lock().unwrap().clone();
    assert!(out.contains("config reload: api_key_file applied"), "{out}");
    assert!(!out.contains("take effect at the next start"), "{out}");

    // Emptied (a rotation script that failed half way): the reload is refused, the last key
    // stays.
    write_key("", 0o640);
    hangup("config reload refused", 1).await;
    let out = gw.out.lock().unwrap().clone();
    let shown = key_file.display().to_string();
    assert!(out.contains(&format!("{shown} is empty")), "{out}");
    assert_eq!(status(new).await, 200, "the last key still works");
    assert_eq!(status(old).await, 403);

    // Readable by every user: refused too, its key not taken.
    write_key(&format!("{third}\n"), 0o644);
    hangup("config reload refused", 2).await;
    let out = gw.out.lock().unwrap().clone();
    assert!(
        out.contains(&format!("{shown} is readable by every user (mode 0644)")),
        "{out}"
    );
    assert_eq!(status(third).await, 403);
    assert_eq!(status(new).await, 200);

    assert_metric_lines(
        &addr,
        &[
            "presence_gw_config_reloads_total{result=\"applied\"} 1",
            "presence_gw_config_reloads_total{result=\"refused\"} 2",
        ],
    )
    .await;
    let out = gw.terminate().await;
    assert_not_logged(&out, &[old, new, third, password, "filekey"]);
    sim.shutdown().await;
}

/// `systemctl reload` (SIGHUP) applies `[smsc] temporary_statuses` and the `[delivery]`
/// retry settings to the attempts that end after it. Before the reload a submit refused
/// with the carrier's 0x401 fails at once (unlisted, it is permanent); after it lists 0x401,
/// lowers `max_attempts` from 20 to 3 and the back-off from 600 s to 0.2 s, the next message
/// refused so is tried again within a second and given up after its third attempt. Without
/// the reload of each, the row fails at its first answer (the list), waits ten minutes for
/// its second try (the back-off), or is tried twenty times (`max_attempts`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_applies_temporary_statuses_and_the_retry_settings_to_the_next_attempts() {
    let password = "Tr5Qs9Lx";
    let api_key = "apikey-reload-retries-0123";
    let sim = start_sim(SimConfig::local(), password).await;
    let mut faults = sim.faults();
    faults.error = Some(ErrorFault {
        status: 0x401,
        percent: 100.0,
        destinations: Vec::new(),
    });
    sim.set_faults(faults);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.toml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    write("[smsc]\ntemporary_statuses = []\n[delivery]\nmax_attempts = 20\nretry_min_secs = 600\nretry_max_secs = 600\n");
    let config = file.to_str().unwrap().to_string();
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        api_key,
        "info,rusmpp=warn",
        &["--config", &config],
    );
    let addr = gw.http_addr().await;
    sim.wait_for_binds(1, WAIT).await.unwrap();
    // The reply to `from`'s HELP once it is `failed`, as the operator API shows it.
    let failed_reply = |from: &'static str| {
        let addr = addr.clone();
        let sim = sim.clone();
        async move {
            sim.inject_mo(MoRequest::new(from, SERVICE, "HELP"))
                .await
                .unwrap();
            let deadline = Instant::now() + WAIT;
            loop {
                let rows: serde_json::Value = reqwest::Client::new()
                    .get(format!("http://{addr}/api/v1/outbox?to={from}"))
                    .bearer_auth(api_key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let row = rows["rows"][0].clone();
                if row["state"] == "failed" {
                    return row;
                }
                assert!(Instant::now() < deadline, "never failed: {rows}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let before = failed_reply("+8613800138001").await;
    assert_eq!(before["attempts"], 1, "{before}");
    assert_eq!(
        before["last_error"], "command_status 0x00000401",
        "{before}"
    );

    write("[smsc]\ntemporary_statuses = [0x401]\n[delivery]\nmax_attempts = 3\nretry_min_secs = 0.2\nretry_max_secs = 0.4\n");
    gw.hangup();
    gw.wait_for("the reload", |s| s.contains("config reloaded"))
        .await;
    let out = gw.out.lock().unwrap().clone();
    for (key, values) in [
        ("smsc.temporary_statuses", "from=[] to=[0x401]"),
        ("delivery.max_attempts", "from=20 to=3"),
        ("delivery.retry_min_secs", "from=600 s to=0.2 s"),
        ("delivery.retry_max_secs", "from=600 s to=0.4 s"),
    ] {
        assert!(
            out.contains(&format!("config reload: {key} applied")) && out.contains(values),
            "{key} {values}:\n{out}"
        );
    }
    assert!(!out.contains("take effect at the next start"), "{out}");

    let t0 = Instant::now();
    let after = failed_reply("+8613800138002").await;
    assert_eq!(after["attempts"], 3, "{after}");
    assert_eq!(
        after["last_error"], "gave up after 3 attempts: command_status 0x00000401",
        "{after}"
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let out = gw.terminate().await;
    assert!(!out.contains(password));
    sim.shutdown().await;
}

/// `operator_http`: `/health`, `/metrics` and `/api/v1` on an address of their own, not on the
/// handsets' one (where they answer 404), and outside the handsets' connection cap: with the
/// one connection `http_max_connections = 1` allows held by a handset that sends nothing, a
/// download waits while `/health` still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_routes_on_their_own_address_answer_while_handsets_fill_the_cap() {
    let password = "Op5Ht7Kw";
    let api_key = "apikey-operator-http-01";
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let operator = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let file = dir.path().join("gw.toml");
    std::fs::write(
        &file,
        format!("http_max_connections = 1\noperator_http = \"{operator}\"\n"),
    )
    .unwrap();
    let gw = Child::spawn_with(
        &sim,
        &dir.path().join("gw.db"),
        password,
        api_key,
        "info,rusmpp=warn",
        &["--config", file.to_str().unwrap()],
    );
    let public = gw.http_addr().await;
    sim.wait_for_binds(1, WAIT).await.unwrap();
    assert!(
        gw.out
            .lock()
            .unwrap()
            .contains(&format!("operator HTTP:       http://{operator}")),
        "the banner names the operator's address"
    );
    // A fresh connection a request: none is kept for the next one.
    let get = |url: String| async move {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
            .get(url)
            .bearer_auth(api_key)
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    for path in ["/health", "/metrics", "/api/v1/log"] {
        assert_eq!(
            get(format!("http://{operator}{path}")).await.unwrap(),
            200,
            "{path}"
        );
        assert_eq!(
            get(format!("http://{public}{path}")).await.unwrap(),
            404,
            "{path}"
        );
    }
    assert_eq!(get(format!("http://{public}/gallery")).await.unwrap(), 200);
    assert_eq!(
        get(format!("http://{operator}/gallery")).await.unwrap(),
        404
    );

    // A handset's silent connection takes the handsets' only one.
    let hold = tokio::net::TcpStream::connect(&public).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        get(format!("http://{public}/gallery")).await.is_err(),
        "a second handset connection waits at the cap"
    );
    let t0 = Instant::now();
    assert_eq!(get(format!("http://{operator}/health")).await.unwrap(), 200);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    drop(hold);
    gw.terminate().await;
    sim.shutdown().await;
}

/// The most of `times` (sorted) within any `span`./// A message whose validity ends while the operator has paused outbound sending expires, and
/// the log says it expired while sending was paused, not "while the SMSC is out of reach": the
/// gateway is bound all along, and the old line sent an operator looking for a link fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_expiring_while_paused_is_logged_as_paused_not_as_the_smsc_out_of_reach() {
    let password = "Px7Kd3Vr";
    let sim = start_sim(SimConfig::local(), password).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
    let now = now_ms();
    let msg = NewMessage {
        expires_at: Some(now + 1_500),
        ..NewMessage::sms("+8613900139000", "short-lived")
    };
    let pause = presence_gw::store::pause::Paused {
        since: now,
        note: "maintenance".into(),
    };
    store
        .write(move |tx| {
            outbox::enqueue(tx, &msg, now)?;
            presence_gw::store::pause::set(tx, Some(&pause))
        })
        .await
        .unwrap();
    store.close().await;
    let gw = Child::spawn_logging(
        &sim,
        &db,
        password,
        "apikey-paused-expiry-01",
        "info,rusmpp=warn",
    );
    sim.wait_for_binds(1, WAIT).await.unwrap();
    gw.wait_for("the expiry", |s| s.contains("outbox rows expired while"))
        .await;
    let out = gw.terminate().await;
    assert!(
        out.contains("outbox rows expired while outbound sending is paused"),
        "{out}"
    );
    assert!(!out.contains("while the SMSC is out of reach"), "{out}");
    assert!(sim.mt_messages(&smsc_sim::MtFilter::all()).is_empty());
    sim.shutdown().await;
}

/// A filter put in place through `PUT /api/v1/log` that hides WARN (`error`) still logs its
/// own change, and the binary run with `--log-format json` goes on writing JSON lines after the
/// reload: the change is one JSON object naming the new filter and the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_filter_that_hides_warn_still_logs_its_own_change_as_json() {
    let password = "Jl5Nx2Wb";
    let api_key = "apikey-log-json-0123";
    let (sim, _dir, gw, url) = logging_gateway(
        password,
        api_key,
        "info,rusmpp=warn",
        &["--log-format", "json"],
    )
    .await;
    let r = reqwest::Client::new()
        .put(&url)
        .bearer_auth(api_key)
        .json(&serde_json::json!({ "filter": "error" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["filter"], "error");
    gw.wait_for("the change's WARN line", |s| {
        s.contains("log filter changed through the operator API")
    })
    .await;
    // Info lines are hidden from now on: a command answered logs none.
    let seen = gw.out.lock().unwrap().lines().count();
    let (r, _) = say(&sim, OWNER, "STATUS").await;
    assert!(r.starts_with("You show"), "{r}");
    // The outbound pause, another operator change, is logged whatever the filter too.
    let outbound = url.replace("/api/v1/log", "/api/v1/outbound");
    for paused in [true, false] {
        let r = reqwest::Client::new()
            .put(&outbound)
            .bearer_auth(api_key)
            .json(&serde_json::json!({ "paused": paused, "note": "window" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.wait_for("the resume's WARN line", |s| {
        s.contains("outbound sending resumed through the operator API")
    })
    .await;
    let out = gw.terminate().await;
    assert!(
        out.contains("outbound sending paused through the operator API"),
        "{out}"
    );
    let change: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "log filter changed through the operator API")
        .unwrap_or_else(|| panic!("no JSON line for the change in\n{out}"));
    assert_eq!(change["level"], "WARN", "{change}");
    assert_eq!(change["fields"]["filter"], "error", "{change}");
    assert_eq!(change["fields"]["was"], "info,rusmpp=warn", "{change}");
    let after: Vec<&str> = out.lines().skip(seen).collect();
    assert!(
        after.iter().all(|l| !l.contains("\"INFO\"")),
        "info lines after the filter went to error: {after:?}"
    );
    sim.shutdown().await;
}
