//! Graceful shutdown test (issue 8 acceptance): the real `presence-gw` binary, run as a child
//! process against smsc-sim over loopback TCP, gets SIGTERM while 5,000 queued messages are
//! being submitted (the simulator delays every `submit_sm_resp` by 50-100 ms, so a full window
//! of submits is in flight) and while subscribers' MO commands are arriving. It must: exit 0
//! within a bound, unbind, leave no outbox row `in_flight` and none lost or failed, and lose no
//! MO it acknowledged (each is in the inbox, processed or pending). Restarted on the same
//! database, it must bring every one of the 5,000 bodies to the SMSC with no duplicate (the
//! in-flight submits were answered before the exit, so nothing is sent twice), and process
//! every MO acknowledged before the stop (its sender gets the reply).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use presence_gw::store::outbox::{self, OutboxCounts};
use presence_gw::store::{Store, StoreError, StoreOptions};
use smsc_sim::{Delay, DeliveryRecord, DeliveryState, Faults, MoRequest, MtFilter, SimHandle};

/// Messages queued before the first start.
const N: usize = 5_000;
/// Distinct destination numbers the messages are spread over.
const DESTINATIONS: usize = 100;
/// MO commands injected around the SIGTERM, and the subscribers sending them.
const MO_COUNT: usize = 200;
const MO_SENDERS: usize = 8;
/// Accepted submits at which MO injection starts, and MO injected before the SIGTERM.
const MO_START_AT: u64 = 800;
const MO_BEFORE_TERM: usize = 120;
/// Bound on the graceful stop.
const STOP_WITHIN: Duration = Duration::from_secs(30);

fn body(i: usize) -> String {
    format!("shutdown test #{i:05}")
}

fn destination(i: usize) -> String {
    format!("+86139{:08}", i % DESTINATIONS)
}

/// The subscriber sending MO `k` (digits, as a handset's `source_addr`).
fn mo_sender(k: usize) -> String {
    format!("86138000000{:02}", k % MO_SENDERS)
}

/// MO `k`: a status with a unique free text, so no two are taken for a resend.
fn mo_text(k: usize) -> String {
    format!("STATUS ALL AT DESK {k:03}")
}

/// What the database of the stopped gateway holds.
struct DbView {
    counts: OutboxCounts,
    /// State of each row carrying one of the 5,000 bodies, by body.
    body_states: HashMap<String, Vec<String>>,
    /// Attempts of each such row, by body (the last row's, if several).
    body_attempts: HashMap<String, u32>,
    /// Inbox messages: (source digits, text, state).
    inbox: Vec<(String, String, String)>,
}

async fn inspect(db: &Path) -> DbView {
    let store = Store::open(db, StoreOptions::default()).expect("store reopens");
    let counts = store.read(outbox::counts_by_state).await.expect("counts");
    let (rows, inbox) = store
        .read(|c| {
            let rows: Vec<(String, String, u32)> = c
                .prepare(
                    "SELECT body, state, attempts FROM outbox WHERE body LIKE 'shutdown test #%'",
                )
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()
                })
                .map_err(|e| StoreError::Sql {
                    op: "outbox rows",
                    source: e,
                })?;
            // A whole MO is one part; its payload is the unpacked GSM-7 / ASCII text here.
            let inbox: Vec<(String, Vec<u8>, String)> = c
                .prepare(
                    "SELECT m.source, p.payload, m.state FROM inbox_message m
                     JOIN inbox_part p ON p.message_id = m.id ORDER BY m.id, p.seq",
                )
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()
                })
                .map_err(|e| StoreError::Sql {
                    op: "inbox rows",
                    source: e,
                })?;
            Ok::<_, StoreError>((rows, inbox))
        })
        .await
        .expect("db rows");
    store.close().await;
    let mut body_states: HashMap<String, Vec<String>> = HashMap::new();
    let mut body_attempts: HashMap<String, u32> = HashMap::new();
    for (b, s, a) in rows {
        body_attempts.insert(b.clone(), a);
        body_states.entry(b).or_default().push(s);
    }
    let inbox = inbox
        .into_iter()
        .map(|(src, payload, state)| {
            let digits: String = src.chars().filter(char::is_ascii_digit).collect();
            (
                digits,
                String::from_utf8_lossy(&payload).into_owned(),
                state,
            )
        })
        .collect();
    DbView {
        counts,
        body_states,
        body_attempts,
        inbox,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_flight_with_mo_arriving_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let faults = Faults {
        response_delay: Some(Delay {
            min_ms: 50,
            max_ms: 100,
        }),
        ..Faults::default()
    };
    let sim = common::simulator(faults).await;
    let (_dir, db, log) = common::workdir();
    common::fill_outbox(&db, N, destination, body).await;

    // --- Run 1: submits flowing (each answered 50-100 ms late), MO arriving, then SIGTERM.
    let mut child = common::spawn_gateway(&sim, &db, &log);
    common::wait_accepted(&sim, &mut child, MO_START_AT, &log).await;
    let injector = {
        let sim = sim.clone();
        tokio::spawn(async move {
            for k in 0..MO_COUNT {
                sim.inject_mo(MoRequest::new(
                    &mo_sender(k),
                    common::SERVICE_NUMBER,
                    &mo_text(k),
                ))
                .await
                .expect("MO queued");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // SIGTERM once enough MO has been queued; the rest keeps arriving during the stop.
    let term_deadline = Instant::now() + Duration::from_secs(30);
    while common::mo_records(&sim).len() < MO_BEFORE_TERM {
        assert!(Instant::now() < term_deadline, "MO injection stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let in_flight_at_term: usize = sim.binds().iter().map(|b| b.outstanding).sum();
    let accepted_at_term = sim.stats().mt_accepted;
    let unbinds_before = sim.stats().received.get("unbind").copied().unwrap_or(0);
    common::sigterm(&child);
    let term_at = Instant::now();
    let status = common::wait_exit(&mut child, STOP_WITHIN).await;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "gateway still running {STOP_WITHIN:?} after SIGTERM\n{}",
            common::log_tail(&log)
        );
    };
    let stop_took = term_at.elapsed();
    injector.await.expect("injector");
    assert!(
        status.success(),
        "graceful stop exited {status}\n{}",
        common::log_tail(&log)
    );
    assert!(
        accepted_at_term < N as u64,
        "everything was sent ({accepted_at_term}) before the SIGTERM: not mid-flight"
    );
    assert!(
        in_flight_at_term > 0,
        "no submit awaited its response at the SIGTERM: the test proves nothing"
    );
    let stats = sim.stats();
    let unbinds = stats.received.get("unbind").copied().unwrap_or(0) - unbinds_before;
    assert_eq!(unbinds, 1, "the gateway unbinds once: {:?}", stats.received);
    // The sim's answer to MO held by the gateway at its exit is settled by now; snapshot them.
    let mo_at_stop = common::mo_records(&sim);
    let acked: Vec<&DeliveryRecord> = mo_at_stop
        .iter()
        .filter(|d| d.state == DeliveryState::Answered(0))
        .collect();
    let refused: Vec<&DeliveryRecord> = mo_at_stop
        .iter()
        .filter(|d| matches!(d.state, DeliveryState::Answered(s) if s != 0))
        .collect();
    let accepted_at_stop = stats.mt_accepted;

    // --- The database of the stopped gateway.
    let view = inspect(&db).await;
    let c = &view.counts;
    assert_eq!(c.in_flight, 0, "rows left in flight after SIGTERM: {c:?}");
    assert_eq!(c.failed + c.expired + c.superseded, 0, "{c:?}");
    let mut missing = Vec::new();
    for i in 0..N {
        match view.body_states.get(&body(i)) {
            Some(states) => {
                assert_eq!(states.len(), 1, "{:?} is in {} rows", body(i), states.len());
                assert!(
                    ["queued", "submitted", "delivered"].contains(&states[0].as_str()),
                    "{:?} is {}",
                    body(i),
                    states[0]
                );
            }
            None => missing.push(body(i)),
        }
    }
    assert!(missing.is_empty(), "outbox rows lost: {missing:?}");
    let queued_rows = view
        .body_states
        .values()
        .filter(|s| s[0] == "queued")
        .count();
    // A row the stop took back before it went out (it waited in the session for the window)
    // keeps its attempts: the SMSC never saw it, so it is not an attempt at the handset.
    let seen_at_stop = common::bodies_seen(&sim);
    let counted_unsent: Vec<(&String, u32)> = view
        .body_states
        .iter()
        .filter(|(b, s)| s[0] == "queued" && !seen_at_stop.contains_key(*b))
        .map(|(b, _)| (b, view.body_attempts[b]))
        .filter(|(_, a)| *a > 0)
        .collect();
    assert!(
        counted_unsent.is_empty(),
        "{} rows never sent have attempts counted (first: {:?})",
        counted_unsent.len(),
        &counted_unsent[..counted_unsent.len().min(5)]
    );
    // Every MO the gateway acknowledged is in its inbox, applied or waiting.
    let inbox: HashSet<(String, String)> = view
        .inbox
        .iter()
        .map(|(src, text, _)| (src.clone(), text.clone()))
        .collect();
    let lost_mo: Vec<(&str, &str)> = acked
        .iter()
        .filter(|d| !inbox.contains(&(d.from.clone(), d.text.clone())))
        .map(|d| (d.from.as_str(), d.text.as_str()))
        .collect();
    assert!(
        lost_mo.is_empty(),
        "{} acknowledged MO missing from the inbox: {lost_mo:?}",
        lost_mo.len()
    );
    let pending_mo = view.inbox.iter().filter(|m| m.2 == "pending").count();
    println!(
        "run 1: SIGTERM at {accepted_at_term} accepted submits with {in_flight_at_term} awaiting \
         their response; exit {status} after {:.2}s; {accepted_at_stop} accepted by then; \
         outbox {c:?} ({queued_rows} of the {N} still queued); MO: {} acked, {} refused \
         (ESME_RX_T_APPN etc.), {} not answered; inbox {} messages, {pending_mo} pending",
        stop_took.as_secs_f64(),
        acked.len(),
        refused.len(),
        mo_at_stop.len() - acked.len() - refused.len(),
        view.inbox.len()
    );

    // --- Run 2 on the same database: everything reaches the SMSC exactly once.
    let mut child = common::spawn_gateway(&sim, &db, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected_replies: Vec<(String, String)> = acked
        .iter()
        .map(|d| {
            let desk = d.text.trim_start_matches("STATUS ALL AT ").to_string();
            (d.from.clone(), desk)
        })
        .collect();
    let replied = |sim: &SimHandle| -> Vec<(String, String)> {
        let mts = sim.mt_messages(&MtFilter {
            accepted_only: true,
            ..MtFilter::default()
        });
        expected_replies
            .iter()
            .filter(|(from, desk)| {
                !mts.iter().any(|m| {
                    m.dest.trim_start_matches('+') == from.as_str()
                        && m.text.to_uppercase().contains(desk.as_str())
                })
            })
            .cloned()
            .collect()
    };
    // MO the gateway refused while stopping (ESME_RX_T_APPN) come again from the SMSC after
    // the restart; the second stop waits until every MO is settled at the SMSC and each one
    // acknowledged has had its reply, so that none is caught mid-way by that stop.
    let mo_in_play = |sim: &SimHandle| -> usize {
        let mts = sim.mt_messages(&MtFilter {
            accepted_only: true,
            ..MtFilter::default()
        });
        common::mo_records(sim)
            .iter()
            .filter(|d| match d.state {
                DeliveryState::Answered(0) => {
                    let desk = d.text.trim_start_matches("STATUS ALL AT ");
                    !mts.iter().any(|m| {
                        m.dest.trim_start_matches('+') == d.from.as_str()
                            && m.text.to_uppercase().contains(desk)
                    })
                }
                DeliveryState::Answered(_) | DeliveryState::Failed(_) => false,
                _ => true,
            })
            .count()
    };
    let seen = loop {
        let seen = common::bodies_seen(&sim);
        let all_bodies = (0..N).all(|i| seen.contains_key(&body(i)));
        if all_bodies && replied(&sim).is_empty() && mo_in_play(&sim) == 0 {
            break seen;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "restarted gateway exited ({status})\n{}",
                common::log_tail(&log)
            );
        }
        if Instant::now() >= deadline {
            let missing: Vec<String> = (0..N).map(body).filter(|b| !seen.contains_key(b)).collect();
            let unreplied = replied(&sim);
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "after the restart {} of {N} bodies never reached the SMSC (first: {:?}); {} \
                 acknowledged MO never answered (first: {:?}); {} MO still in play\n{}",
                missing.len(),
                &missing[..missing.len().min(10)],
                unreplied.len(),
                &unreplied[..unreplied.len().min(5)],
                mo_in_play(&sim),
                common::log_tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, STOP_WITHIN).await;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "restarted gateway ignored SIGTERM\n{}",
            common::log_tail(&log)
        );
    };
    assert!(status.success(), "second stop exited {status}");

    // No body of the 5,000 arrived twice: the stop answered or returned every in-flight row.
    let repeated: BTreeMap<&String, usize> = seen
        .iter()
        .filter(|(b, n)| **n > 1 && b.starts_with("shutdown test #"))
        .map(|(b, n)| (b, *n))
        .collect();
    let duplicates: usize = repeated.values().map(|n| n - 1).sum();
    assert_eq!(
        duplicates,
        0,
        "{duplicates} duplicate submits after a graceful stop (first: {:?})",
        repeated.iter().take(10).collect::<Vec<_>>()
    );
    // The inbox has nothing left pending: MO acknowledged before the stop were applied.
    let end = inspect(&db).await;
    let pending = end.inbox.iter().filter(|m| m.2 == "pending").count();
    assert_eq!(pending, 0, "MO still pending after the restart");
    assert_eq!(end.counts.in_flight, 0, "{:?}", end.counts);
    assert_eq!(
        end.counts.failed + end.counts.expired + end.counts.superseded,
        0,
        "{:?}",
        end.counts
    );
    let mo_end = common::mo_records(&sim);
    println!(
        "run 2: all {N} bodies at the SMSC, 0 duplicates, {} acknowledged MO answered; MO at \
         the end: {} acked of {}; outbox {:?}; total {:.1}s",
        expected_replies.len(),
        mo_end
            .iter()
            .filter(|d| d.state == DeliveryState::Answered(0))
            .count(),
        mo_end.len(),
        end.counts,
        started.elapsed().as_secs_f64()
    );
    sim.shutdown().await;
}

/// A handset that lost its data connection halfway through a request must not hold the stop:
/// open HTTP requests get a few seconds, then the gateway stops anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http_request_does_not_hold_a_graceful_stop() {
    use tokio::io::AsyncWriteExt;
    let sim = common::simulator(Faults::default()).await;
    let (_dir, db, log) = common::workdir();
    let addr = common::free_http_addr();
    let mut child = common::spawn_gateway_http(&sim, &db, &log, &addr);
    // Up: /health answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "no HTTP\n{}",
            common::log_tail(&log)
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited\n{}",
            common::log_tail(&log)
        );
        if let Ok(r) = reqwest::get(format!("http://{addr}/health")).await {
            if r.status().is_success() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A request whose head never completes (the server waits for the rest of it).
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"GET /health HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, Duration::from_secs(20)).await;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "still running 20 s after SIGTERM\n{}",
            common::log_tail(&log)
        );
    };
    assert!(
        status.success(),
        "exited {status}\n{}",
        common::log_tail(&log)
    );
    drop(stalled);
    sim.shutdown().await;
}

/// While the rows in hand settle after a SIGTERM (each submit answered 400-500 ms late), HTTP
/// still answers: `/health` says `stopping` with a 503, so a load balancer sends no more work,
/// and `/metrics` can be scraped to the end of the drain. (HTTP used to close first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_answers_stopping_while_the_rows_in_hand_settle() {
    let sim = common::simulator(Faults {
        response_delay: Some(Delay {
            min_ms: 400,
            max_ms: 500,
        }),
        ..Faults::default()
    })
    .await;
    let (_dir, db, log) = common::workdir();
    common::fill_outbox(&db, 2_000, destination, body).await;
    let addr = common::free_http_addr();
    let mut child = common::spawn_gateway_http(&sim, &db, &log, &addr);
    common::wait_accepted(&sim, &mut child, 100, &log).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    common::sigterm(&child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut stopping, mut scraped) = (0, 0);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM\n{}",
            common::log_tail(&log)
        );
        if let Ok(r) = http.get(format!("http://{addr}/health")).send().await {
            let code = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            if code == 503 && body["status"] == "stopping" {
                stopping += 1;
            }
        }
        if stopping > 0 {
            if let Ok(r) = http.get(format!("http://{addr}/metrics")).send().await {
                if r.status().is_success() {
                    scraped += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exited {status}\n{}",
        common::log_tail(&log)
    );
    assert!(
        stopping > 0 && scraped > 0,
        "during the drain: {stopping} answers `stopping`, {scraped} scrapes\n{}",
        common::log_tail(&log)
    );
    sim.shutdown().await;
}

/// An SMSC that stops answering submits (its link alive otherwise) held a stop for the
/// whole response timeout: the rows in hand waited for answers that were not coming (with
/// `response_timeout_secs = 30`, 30 s and more; "over 20 s under load" in the field). The
/// stop now gives up once the SMSC has answered nothing for a few response times (2 to 5 s):
/// the rows still waiting go back to the queue (a counted attempt, as after a timeout) and
/// the link unbinds without waiting for them. Nothing is lost: no row is left in flight or
/// failed, and after a restart against an SMSC that answers again every message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_smsc_answers_no_submit_is_prompt_and_loses_nothing() {
    /// Bound on SIGTERM -> exit: the stall wait (2 s after the last answer), the record of
    /// the rows in hand and the unbind, on a loaded machine. The old stop took the 30 s
    /// response timeout.
    const STOP_WITHIN: Duration = Duration::from_secs(15);
    const ROWS: usize = 2_000;
    let sim = common::simulator(Faults::default()).await;
    let (dir, db, log) = common::workdir();
    common::fill_outbox(&db, ROWS, destination, body).await;
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "service_number = \"{}\"\nhttp = \"127.0.0.1:0\"\n[smsc]\naddress = \"{}\"\n\
             system_id = \"{}\"\nresponse_timeout_secs = 30\n",
            common::SERVICE_NUMBER,
            sim.smpp_addr(),
            common::SYSTEM_ID
        ),
    )
    .unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_presence-gw"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .env("PRESENCE_GW_SMSC_PASSWORD", common::PASSWORD)
            .env("RUST_LOG", "info,rusmpp=warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .expect("gateway binary starts")
    };
    let mut child = spawn();
    common::wait_accepted(&sim, &mut child, 200, &log).await;
    // The SMSC stops answering submits: each is held two minutes.
    sim.set_faults(Faults {
        response_delay: Some(Delay {
            min_ms: 120_000,
            max_ms: 120_000,
        }),
        ..Faults::default()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim
        .stats()
        .window_occupancy
        .iter()
        .all(|w| w.outstanding == 0)
    {
        assert!(
            Instant::now() < deadline,
            "no submit held\n{}",
            common::log_tail(&log)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    common::sigterm(&child);
    let Some(status) = common::wait_exit(&mut child, Duration::from_secs(90)).await else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "still running 90 s after SIGTERM\n{}",
            common::log_tail(&log)
        );
    };
    let took = asked.elapsed();
    eprintln!("a stop while the SMSC answers no submit: exit {took:?} after SIGTERM");
    assert!(
        status.success(),
        "exited {status}\n{}",
        common::log_tail(&log)
    );
    assert!(
        took < STOP_WITHIN,
        "exit {took:?} after SIGTERM (bound {STOP_WITHIN:?})\n{}",
        common::log_tail(&log)
    );
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    let c = store.read(outbox::counts_by_state).await.unwrap();
    store.close().await;
    assert_eq!(c.in_flight, 0, "{c:?}");
    assert_eq!(c.failed, 0, "{c:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the SMSC answered no submit meanwhile"),
        "{}",
        common::log_tail(&log)
    );

    // The SMSC answers again: after a restart every message reaches it (those it held at
    // the stop perhaps twice: it may have them, so they count as sent once more).
    sim.set_faults(Faults::default());
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = common::bodies_seen(&sim);
        if (0..ROWS).all(|i| seen.contains_key(&body(i))) {
            break;
        }
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} of {ROWS} bodies reached the SMSC\n{}",
                (0..ROWS).filter(|&i| seen.contains_key(&body(i))).count(),
                common::log_tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, Duration::from_secs(30)).await;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    sim.shutdown().await;
}
