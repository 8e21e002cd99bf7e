//! Gateway core end to end: the real gateway (store on a real SQLite file, SMPP link, inbound
//! pump, outbox dispatcher) against smsc-sim over loopback TCP.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{busiest_ms, sample, scrape_metrics};
use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::inbound::MoMessage;
use presence_gw::service::state;
use presence_gw::smpp::LinkConfig;
use presence_gw::store::outbox::{self, NewMessage, OutboxCounts};
use smsc_sim::{IdStyle, MoRequest, MoStyle, SimConfig, SimHandle, Simulator};
use tokio::sync::mpsc;

const SYSTEM_ID: &str = "presence";
const PASSWORD: &str = "pw123";

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg.with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts")
}

async fn gateway(dir: &tempfile::TempDir, sim: &SimHandle) -> (Gateway, mpsc::Receiver<MoMessage>) {
    gateway_with(dir, sim, |_| {}).await
}

/// [`gateway`] with options changed by `tune` first.
async fn gateway_with(
    dir: &tempfile::TempDir,
    sim: &SimHandle,
    tune: impl FnOnce(&mut GatewayOptions),
) -> (Gateway, mpsc::Receiver<MoMessage>) {
    let link = LinkConfig {
        smsc: sim.smpp_addr().to_string(),
        system_id: SYSTEM_ID.into(),
        password: presence_gw::config::Secret::new(PASSWORD),
        response_timeout: Duration::from_secs(2),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        ..LinkConfig::default()
    };
    let mut opts = GatewayOptions::new(dir.path().join("gw.db"), link, "10658");
    opts.dispatcher.retry_min = Duration::from_millis(50);
    opts.dispatcher.retry_max = Duration::from_millis(500);
    tune(&mut opts);
    let (tx, rx) = mpsc::channel(1024);
    let gw = Gateway::start(opts, tx).await.expect("gateway starts");
    assert!(
        gw.link.wait_bound(Duration::from_secs(10)).await,
        "gateway binds"
    );
    (gw, rx)
}

async fn counts(gw: &Gateway) -> OutboxCounts {
    gw.store
        .read(outbox::counts_by_state)
        .await
        .expect("counts")
}

/// Outbox row `id` as it stands now.
async fn row(gw: &Gateway, id: i64) -> outbox::OutboxRow {
    gw.store
        .read(move |c| outbox::get(c, id))
        .await
        .unwrap()
        .expect("the row")
}

async fn wait_delivered(gw: &Gateway, n: u64, timeout: Duration) -> OutboxCounts {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let c = counts(gw).await;
        if c.delivered >= n {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} delivered in time: {c:?}",
            c.delivered
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn number(i: usize) -> String {
    format!("+86139{:08}", i)
}

/// Every handset i got message i at least once.
/// Queue `n` SMS, "msg i" to [`number`]`(i)`.
async fn enqueue_numbered(gw: &Gateway, n: usize) {
    for i in 0..n {
        gw.enqueue(NewMessage::sms(number(i), format!("msg {i}")))
            .await
            .unwrap();
    }
}

/// [`enqueue_numbered`] in one transaction, as a fan-out writes them: the dispatcher finds them
/// all at once.
async fn enqueue_at_once(gw: &Gateway, n: usize) {
    gw.store
        .write(move |tx| {
            for i in 0..n {
                let now = presence_gw::store::now_ms();
                outbox::enqueue(tx, &NewMessage::sms(number(i), format!("msg {i}")), now)?;
            }
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .await
        .unwrap();
}

/// Wait (at most 10 s) until at least `slots` requests are out on the link.
async fn wait_window_in_use(gw: &Gateway, slots: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.link.window_in_use() < slots {
        assert!(
            tokio::time::Instant::now() < deadline,
            "window never filled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Take the simulator's response delay away.
fn answer_at_once(sim: &SimHandle) {
    answer_after(sim, None);
}

/// Make the simulator answer every submit `ms` late (`None`: at once).
fn answer_after(sim: &SimHandle, ms: Option<u64>) {
    let mut faults = sim.faults();
    faults.response_delay = ms.map(smsc_sim::Delay::fixed);
    sim.set_faults(faults);
}

fn assert_every_handset_has_its_message(sim: &SimHandle, n: usize, text: impl Fn(usize) -> String) {
    for i in 0..n {
        let h = sim.handset(&number(i));
        let want = text(i);
        assert!(
            h.texts().iter().any(|t| *t == want),
            "handset {} lacks {want:?}: {:?}",
            number(i),
            h.texts()
        );
    }
}

#[tokio::test]
async fn mt_is_delivered_and_receipts_match_across_id_styles() {
    for (resp_style, receipt_style) in [
        (IdStyle::Hex, None),
        (IdStyle::Decimal, None),
        (IdStyle::Hex, Some(IdStyle::Decimal)),
    ] {
        let mut cfg = SimConfig::local();
        cfg.message_id_style = resp_style;
        cfg.receipt_text_id_style = receipt_style;
        cfg.message_id_start = 4096;
        let sim = sim(cfg).await;
        let dir = tempfile::tempdir().unwrap();
        let (gw, _mo) = gateway(&dir, &sim).await;
        let text = |i: usize| {
            if i == 0 {
                "中".repeat(71) // two UCS-2 parts
            } else {
                format!("Zhang San is FREE until 15:00 ({i})")
            }
        };
        for i in 0..20 {
            gw.enqueue(NewMessage::sms(number(i), text(i)))
                .await
                .unwrap();
        }
        let c = wait_delivered(&gw, 20, Duration::from_secs(20)).await;
        assert_eq!(c.failed, 0, "{c:?}");
        assert_every_handset_has_its_message(&sim, 20, text);
        gw.shutdown().await;
        sim.shutdown().await;
    }
}

/// Count, in the gateway's own database file, every receipt that took the held path (a row
/// in `pending_receipt`: no segment with its id was recorded when it was written).
fn count_held_receipts(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch(
        "CREATE TABLE test_held (n INTEGER NOT NULL);
         INSERT INTO test_held VALUES (0);
         CREATE TRIGGER test_count_held AFTER INSERT ON pending_receipt
         BEGIN UPDATE test_held SET n = n + 1; END;",
    )
    .unwrap();
}

fn held_receipts(db: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT n FROM test_held", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn receipts_right_behind_their_responses_wait_for_the_record_and_are_never_held() {
    // smsc-sim sends each receipt right after the submit_sm_resp, as many SMSCs do: without
    // the receipt gate most of them would reach the store before their batch's record.
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let db = dir.path().join("gw.db");
    count_held_receipts(&db);
    for i in 0..300 {
        gw.enqueue(NewMessage::sms(number(i), format!("gated receipt {i}")))
            .await
            .unwrap();
    }
    let c = wait_delivered(&gw, 300, Duration::from_secs(30)).await;
    assert_eq!((c.delivered, c.failed), (300, 0), "{c:?}");
    assert_eq!(held_receipts(&db), 0, "receipts took the held path");
    assert!(gw.link.receipt_gates().is_empty(), "every gate released");
    // The operator sees the waits (`presence_gw_receipt_gate_wait_seconds`) and that none
    // ran out.
    let gates = gw.link.receipt_gates();
    assert!(gates.waited.snapshot().count() > 0, "no gate wait counted");
    assert_eq!(gates.gave_up.load(std::sync::atomic::Ordering::Relaxed), 0);
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn receipts_before_responses_still_deliver() {
    let mut cfg = SimConfig::local();
    cfg.faults.receipt_before_resp = true;
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    for i in 0..30 {
        gw.enqueue(NewMessage::sms(number(i), format!("early receipt {i}")))
            .await
            .unwrap();
    }
    let c = wait_delivered(&gw, 30, Duration::from_secs(20)).await;
    assert_eq!(c.delivered, 30, "{c:?}");

    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_smsc_counting_its_ids_from_1_again_still_gets_each_receipt_to_its_own_message() {
    // The SMSC restarts and gives ids from 1 again, and its receipts come before its
    // responses: each receipt must reach the new message with its id, not the older one
    // (which would leave the new message `submitted` for ever).
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::local();
    cfg.faults.receipt_before_resp = true;
    // Each receipt reaches the store well before its response.
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(300));
    for round in 0..2u64 {
        let sim = sim(cfg.clone()).await;
        let (gw, _mo) = gateway(&dir, &sim).await;
        let first = 100 * round as usize;
        for i in first..first + 30 {
            gw.enqueue(NewMessage::sms(number(i), format!("round {round}: {i}")))
                .await
                .unwrap();
        }
        let c = wait_delivered(&gw, 30 * (round + 1), Duration::from_secs(20)).await;
        assert_eq!(
            (c.delivered, c.submitted, c.failed),
            (30 * (round + 1), 0, 0),
            "{c:?}"
        );
        gw.shutdown().await;
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_long_message_cut_by_link_drops_is_finished_whole_not_given_up() {
    // Every connection closes right after its bind_resp and one more PDU, so each gets at
    // most one part of a three-part message accepted; the others are lost in flight. Even
    // with max_attempts = 1 the message must be finished (an attempt that got a part
    // accepted is progress, and parts taken are not sent again), never given up with half
    // of it on the handset. A transmitter and a receiver: on a transceiver the answer to a
    // receipt of the previous connection's part could be the PDU that closes the connection,
    // and the submit written beside it would get no answer (no progress that time).
    let mut cfg = SimConfig::local();
    cfg.faults.drop_after_pdus = Some(2);
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| {
        o.dispatcher.max_attempts = 1;
        o.link.bind_mode = presence_gw::smpp::BindMode::Txrx;
    })
    .await;
    let text = "Zhang San is in a meeting until 15:00. ".repeat(10);
    let id = gw
        .enqueue(NewMessage::sms(number(7), text.clone()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = row(&gw, id).await;
        assert_ne!(r.state, outbox::OutboxState::Failed, "{:?}", r.last_error);
        if r.state == outbox::OutboxState::Delivered {
            assert!(
                r.attempts >= 3,
                "one part per connection: {} attempts",
                r.attempts
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not finished: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handset = sim.handset(&number(7));
    let texts = handset.texts();
    assert!(
        texts.iter().any(|t| *t == text),
        "the handset lacks the whole message: {texts:?}"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn under_a_low_rate_cap_receipts_and_mo_are_not_held_behind_a_slow_batch() {
    // With max_rate 20/s a batch of 64 takes over 3 s to go out, and its accepted submits
    // were recorded (and their receipts let through the gate) only at its end: each receipt
    // held a slot of the SMSC's deliver window for up to 2 s, and an MO waited behind them
    // for seconds. Batches now hold a quarter second of sending at the allowed rate.
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut mo) = gateway_with(&dir, &sim, |o| o.link.max_rate = Some(20.0)).await;
    enqueue_at_once(&gw, 60).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = tokio::time::Instant::now();
    sim.inject_mo(MoRequest::new("+8613800138000", "10658", "WHO 13800138001"))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), mo.recv())
        .await
        .expect("the MO is read")
        .unwrap();
    assert_eq!(got.text, "WHO 13800138001");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(1200),
        "the MO waited {waited:?} behind held receipts"
    );
    let c = wait_delivered(&gw, 60, Duration::from_secs(20)).await;
    assert_eq!(c.failed, 0, "{c:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_smsc_with_a_small_window_gets_small_batches_and_few_rows_in_hand() {
    // Window 1, every answer 40 ms late: the link takes 25 a second whatever the rate cap.
    // Batches and rows in hand were sized by the cap alone (none here): 100 rows were claimed
    // at once, `in_flight` for 4 s, none recorded until the last answer (a crash resent every
    // accepted one, their receipts waited behind the gate, a newer status could not replace
    // them). They now follow the window over the response time: about a second of sending in
    // hand, a quarter second a batch.
    let sim = sim(SimConfig::local()).await;
    answer_after(&sim, Some(40));
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.link.window = 1).await;
    enqueue_at_once(&gw, 100).await;
    let mut most_in_flight = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < deadline {
        most_in_flight = most_in_flight.max(counts(&gw).await.in_flight);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = counts(&gw).await;
    assert!(
        c.submitted + c.delivered >= 10,
        "rows recorded as they were answered: {c:?}"
    );
    assert!(
        most_in_flight <= 40,
        "{most_in_flight} rows in hand at once, more than a second and a half of sending"
    );
    answer_at_once(&sim);
    let c = wait_delivered(&gw, 100, Duration::from_secs(30)).await;
    assert_eq!(c.failed, 0, "{c:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// `/health` from `gw`'s HTTP router (served on a free port for the one request): its status
/// code and body.
async fn health(gw: &Gateway) -> (u16, serde_json::Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(presence_gw::http::serve(
        listener,
        gw.http_router(None),
        stop.clone(),
    ));
    let r = reqwest::get(url).await.unwrap();
    let code = r.status().as_u16();
    let body = r.json().await.unwrap();
    stop.cancel();
    let _ = server.await;
    (code, body)
}

/// The operator's pause of outbound sending (`PUT /api/v1/outbound`) for a maintenance window:
/// nothing is submitted while MO still comes in; `/health` and `/metrics` say so; the pause
/// holds across a restart; on resume everything queued goes.
#[tokio::test]
async fn an_operator_pause_holds_outbound_across_a_restart_and_resume_sends_it() {
    let key = "pause-test-key-0123456";
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // `gw`'s router with the API on, served until the returned token is cancelled.
    let serve = |gw: &Gateway| {
        let router = gw.http_router(Some(presence_gw::config::Secret::new(key)));
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let stop = tokio_util::sync::CancellationToken::new();
            tokio::spawn(presence_gw::http::serve(listener, router, stop.clone()));
            (base, stop)
        }
    };
    let (gw, mut mo) = gateway(&dir, &sim).await;
    let (base, stop) = serve(&gw).await;
    let url = format!("{base}/api/v1/outbound");
    let pause = serde_json::json!({"paused": true, "note": "SMSC maintenance"});
    assert_eq!(
        http.put(&url).json(&pause).send().await.unwrap().status(),
        401
    );
    let r = http
        .put(&url)
        .bearer_auth(key)
        .json(&pause)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (body["paused"].as_bool(), body["note"].as_str()),
        (Some(true), Some("SMSC maintenance"))
    );
    let since = body["since_ms"].as_i64().expect("since");
    enqueue_numbered(&gw, 3).await;
    sim.inject_mo(MoRequest::new("+8613800138000", "10658", "STATUS"))
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(20), mo.recv())
        .await
        .expect("an MO still comes in while paused")
        .unwrap();
    assert_eq!(m.text, "STATUS");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        sim.mt_messages(&smsc_sim::MtFilter::all()).is_empty(),
        "submitted while paused"
    );
    assert_eq!(counts(&gw).await.queued, 3);
    let h: serde_json::Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["outbound"], "paused", "{h}");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sample(&metrics, "presence_gw_outbound_paused"), Some(1.0));
    stop.cancel();
    gw.shutdown().await;

    // A restart in the middle of the window stays paused.
    let (gw, _mo) = gateway(&dir, &sim).await;
    let (base, stop) = serve(&gw).await;
    let url = format!("{base}/api/v1/outbound");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        sim.mt_messages(&smsc_sim::MtFilter::all()).is_empty(),
        "submitted after the restart"
    );
    let body: serde_json::Value = http
        .get(&url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["paused"].as_bool(), body["since_ms"].as_i64()),
        (Some(true), Some(since))
    );
    let r = http
        .put(&url)
        .bearer_auth(key)
        .json(&serde_json::json!({"paused": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_delivered(&gw, 3, Duration::from_secs(20)).await;
    let h: serde_json::Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["outbound"], "sending", "{h}");
    stop.cancel();
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A database from before the pause (schema 25, no `outbound_pause`) upgrades at the gateway's
/// start to one that sends (nothing was paused), and a pause taken after the upgrade is kept
/// across the next restart as on a new database.
#[tokio::test]
async fn an_upgraded_database_sends_and_keeps_a_pause_taken_after_the_upgrade() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    presence_gw::store::Store::open(&db, Default::default())
        .unwrap()
        .close()
        .await;
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "DROP INDEX membership_member; DROP TABLE avatar_orphan; DROP INDEX subscriber_avatar_avatar; DROP INDEX preset_avatar;
             DROP INDEX avatar_push_avatar; DROP INDEX avatar_variant_blob;
             DROP TRIGGER outbox_cancel_once; DROP TABLE outbox_cancel_answered;
             DROP TABLE smsc_no_cancel; DROP TABLE outbound_pause; PRAGMA user_version = 25;",
        )
        .unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    assert!(!gw.pause().is_paused());
    enqueue_numbered(&gw, 1).await;
    wait_delivered(&gw, 1, Duration::from_secs(10)).await;
    gw.pause()
        .set(
            &gw.store,
            true,
            "after the upgrade".into(),
            presence_gw::store::now_ms(),
        )
        .await
        .unwrap();
    gw.shutdown().await;
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 26, "{version}");
    let (gw, _mo) = gateway(&dir, &sim).await;
    assert_eq!(
        gw.pause().current().map(|p| p.note),
        Some("after the upgrade".to_string())
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A pause taken while a batch waits for its answers: the submits already out are answered
/// and their rows settle (none is left in flight), nothing more is claimed meanwhile, and the
/// rest goes on the resume.
#[tokio::test]
async fn a_pause_while_a_batch_is_in_flight_lets_it_settle_and_claims_no_more() {
    let mut cfg = SimConfig::local();
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(1000));
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let n = 200;
    enqueue_at_once(&gw, n).await;
    wait_window_in_use(&gw, 8).await;
    gw.pause()
        .set(
            &gw.store,
            true,
            "maintenance".into(),
            presence_gw::store::now_ms(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = counts(&gw).await;
        if c.in_flight == 0 && gw.link.window_in_use() == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows in hand never settled after the pause: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sim.mt_messages(&smsc_sim::MtFilter::all()).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sim.mt_messages(&smsc_sim::MtFilter::all()).len(),
        sent,
        "submitted after the rows in hand settled"
    );
    let c = counts(&gw).await;
    assert!(sent > 0 && c.queued > 0, "{sent} sent, {c:?}");
    assert_eq!(c.queued as usize, n - sent, "{c:?}");
    assert_eq!(c.failed + c.expired, 0, "{c:?}");
    answer_at_once(&sim);
    gw.pause()
        .set(
            &gw.store,
            false,
            String::new(),
            presence_gw::store::now_ms(),
        )
        .await
        .unwrap();
    let c = wait_delivered(&gw, n as u64, Duration::from_secs(60)).await;
    assert_eq!(c.failed + c.expired, 0, "{c:?}");
    assert_every_handset_has_its_message(&sim, n, |i| format!("msg {i}"));
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Makes the store refuse MO rows (a trigger on the database file in `dir`, as a nearly full
/// disk refuses an MO's rows while small writes still fit), sends one MO from `sim` and waits
/// until the gateway deferred it; checks that other writes still commit.
async fn defer_an_mo(dir: &tempfile::TempDir, sim: &SimHandle, gw: &Gateway) {
    rusqlite::Connection::open(dir.path().join("gw.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_mo BEFORE INSERT ON inbox_pdu \
             BEGIN SELECT RAISE(ABORT, 'no room for MO (test)'); END;",
        )
        .unwrap();
    sim.inject_mo(MoRequest::new("+8613800138000", "10658", "STATUS FREE"))
        .await
        .unwrap();
    let deferred = presence_gw::store::MoPdu::Deferred as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.store.stats().mo_pdus[deferred] == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the MO was not deferred"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Other writes commit meanwhile: the store is not failing as a whole.
    gw.store
        .write(|tx| {
            let now = presence_gw::store::now_ms();
            outbox::enqueue(tx, &NewMessage::sms("8613800138001", "hello"), now)
        })
        .await
        .expect("a write that is not an MO's commits");
    assert_eq!(gw.store.stats().failing_since, None);
}

/// MO refused by the store while other writes still commit (as on a nearly full disk, where
/// an MO's rows no longer fit and small writes do; here a trigger refuses the inbox's rows)
/// makes `/health` degraded at once, naming the deferred MO. It stayed "ready" with the store
/// "ok" while over a thousand MO PDUs were deferred, because it looked only at whether every
/// write had failed for 10 s.
#[tokio::test]
async fn health_is_degraded_while_mo_writes_are_refused_though_other_writes_commit() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let (code, body) = health(&gw).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("ready")),
        "{body}"
    );
    defer_an_mo(&dir, &sim, &gw).await;
    let (code, body) = health(&gw).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    let store = body["store"].as_str().unwrap_or_default();
    assert!(store.starts_with("MO not stored"), "{body}");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The time `/health` stays degraded after a deferred MO is the gateway's
/// `mo_deferral_window` (`[health] mo_deferral_window_secs`): with 2 s, degraded at once, ready
/// again 2 s after the MO was deferred (the MO refused no more meanwhile: the SMSC's
/// redelivery is not answered here). It was a fixed 60 s.
#[tokio::test]
async fn the_health_window_after_a_deferred_mo_is_the_configured_one() {
    let window = Duration::from_secs(2);
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.mo_deferral_window = window).await;
    defer_an_mo(&dir, &sim, &gw).await;
    let (code, body) = health(&gw).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (503, Some("degraded")),
        "{body}"
    );
    // The SMSC sends the deferred MO again: it must be stored now, not deferred again (that
    // would start the window anew).
    rusqlite::Connection::open(dir.path().join("gw.db"))
        .unwrap()
        .execute_batch("DROP TRIGGER refuse_mo;")
        .unwrap();
    let last = gw.store.stats().last_mo_deferred;
    let last_ms = last.expect("an MO was deferred");
    let over = last_ms + 2_300 - presence_gw::store::now_ms();
    tokio::time::sleep(Duration::from_millis(u64::try_from(over).unwrap_or(0))).await;
    assert_eq!(
        gw.store.stats().last_mo_deferred,
        last,
        "no MO deferred since"
    );
    let (code, body) = health(&gw).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("ready")),
        "ready again after the window: {body}"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Every metric README.md names (`presence_gw_...`) is a family of a real scrape (its `# TYPE`
/// line: a gauge with no sample yet, such as the rate limit without `max_rate`, has one too),
/// and every label value it writes for one (`{state="failed"}`, `reason="refused"`,
/// `state=delivered|failed|...`) is one the scrape uses: an operator's alert on a name the
/// README gives must match what is exported.
#[tokio::test]
async fn every_metric_the_readme_names_is_exported() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let text = scrape_metrics(&gw).await;
    let named = names_exported(&readme, "README.md", &text);
    assert!(named >= 19, "only {named} metric names found in README.md");
    // The label values the README writes in its prose, with the metric they belong to.
    for (name, label, value) in [
        ("presence_gw_smpp_bind_failures_total", "reason", "refused"),
        (
            "presence_gw_smpp_bind_failures_total",
            "reason",
            "no_session",
        ),
        ("presence_gw_outbox_messages", "state", "queued"),
        ("presence_gw_outbox_messages", "state", "submitted"),
        ("presence_gw_outbox_messages", "state", "expired"),
    ] {
        assert!(
            readme.contains(&format!("`{label}=\"{value}\"`"))
                || readme.contains(&format!("`{value}`")),
            "the README no longer writes {label}={value}: update this list"
        );
        let sample = format!("{name}{{{label}=\"{value}\"}} ");
        assert!(text.contains(&sample), "no {sample:?} in\n{text}");
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Every `presence_gw_...` name `doc` (called `doc_name`) writes is a family of `scrape` (a
/// histogram's `_bucket`, `_sum` and `_count` series count as its family), and every label
/// value written right after one (`{label="a"}` or `{label=a|b}`) is a sample of it. Returns
/// how many names it found.
fn names_exported(doc: &str, doc_name: &str, scrape: &str) -> usize {
    let mut named = 0;
    let mut rest = doc;
    while let Some(i) = rest.find("presence_gw_") {
        rest = &rest[i..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[name.len()..];
        named += 1;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| scrape.contains(&format!("# TYPE {base} histogram")))
            })
            .unwrap_or(&name);
        assert!(
            scrape.contains(&format!("# TYPE {family} ")),
            "{doc_name} names {name}, which /metrics does not export:\n{scrape}"
        );
        // `{label=a|b}` or `{label="a"}` right after the name (a document writes either).
        let Some(labels) = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(l, _)| l)
        else {
            continue;
        };
        let (label, values) = labels.split_once('=').expect("label=value");
        for value in values.trim_matches('"').split('|') {
            if value == "..." {
                continue;
            }
            let sample = format!("{name}{{{label}=\"{value}\"}} ");
            assert!(
                scrape.contains(&sample),
                "{doc_name} writes {name}{{{labels}}}: no sample {sample:?} in\n{scrape}"
            );
        }
    }
    named
}

/// deploy/prometheus/alerts.yml alerts on names and label values a real scrape has: an alert
/// on a name the gateway does not export would never fire.
#[tokio::test]
async fn every_metric_the_alert_rules_use_is_exported() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/alerts.yml"
    ))
    .expect("deploy/prometheus/alerts.yml");
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let text = scrape_metrics(&gw).await;
    let named = names_exported(&rules, "alerts.yml", &text);
    assert!(named >= 10, "only {named} metric names found in alerts.yml");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn metrics_show_the_rate_cap_the_working_rate_and_the_response_time() {
    // Window 1, answers 40 ms late, max_rate 100: the link is capped at 100 a second but
    // works at 25 (one answer per 40 ms), which the dispatcher sizes its batches by.
    let sim = sim(SimConfig::local()).await;
    answer_after(&sim, Some(40));
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| {
        o.link.window = 1;
        o.link.max_rate = Some(100.0);
    })
    .await;
    // Before any submit: the window a second, and no response time yet.
    let text = scrape_metrics(&gw).await;
    assert_eq!(
        sample(&text, "presence_gw_smpp_submit_rate_limit"),
        Some(100.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "presence_gw_smpp_submit_rate_expected"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "presence_gw_smpp_submit_response_seconds"),
        None,
        "{text}"
    );
    for name in [
        "presence_gw_smpp_submit_rate_expected",
        "presence_gw_smpp_submit_response_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{text}");
    }
    enqueue_at_once(&gw, 20).await;
    wait_delivered(&gw, 20, Duration::from_secs(30)).await;
    let text = scrape_metrics(&gw).await;
    assert_eq!(
        sample(&text, "presence_gw_smpp_submit_rate_limit"),
        Some(100.0),
        "{text}"
    );
    let response = sample(&text, "presence_gw_smpp_submit_response_seconds").expect("answered");
    assert!((0.039..0.5).contains(&response), "{response}\n{text}");
    let expected = sample(&text, "presence_gw_smpp_submit_rate_expected").unwrap();
    assert!(
        (expected - 1.0 / response).abs() < 0.01 && expected <= 25.7,
        "{expected} a second at {response} s a response"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A gateway at window 1 that delivered 5 rows while the SMSC answered at once, and then
/// claims 80 more ("late i" to [`number`]`(i)`, i in 10..90) in one batch just as the SMSC
/// slows to 200 ms an answer: 16 s of sending with the link.
async fn claimed_fast_then_slowed(dir: &tempfile::TempDir) -> (SimHandle, Gateway) {
    let sim = sim(SimConfig::local()).await;
    let (gw, _mo) = gateway_with(dir, &sim, |o| o.link.window = 1).await;
    enqueue_at_once(&gw, 5).await;
    wait_delivered(&gw, 5, Duration::from_secs(10)).await;
    answer_after(&sim, Some(200));
    gw.store
        .write(|tx| {
            for i in 10..90 {
                let now = presence_gw::store::now_ms();
                outbox::enqueue(tx, &NewMessage::sms(number(i), format!("late {i}")), now)?;
            }
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .await
        .unwrap();
    (sim, gw)
}

#[tokio::test]
async fn a_stop_waits_for_the_submits_written_not_for_every_row_handed_to_the_link() {
    // Rows claimed while the SMSC answered at once, then it slows to 200 ms an answer at
    // window 1: 80 rows are with the link, 16 s of sending. A stop waited for all of them (up
    // to its 30 s limit). It now waits for the answer to the one written; the others go back
    // to the queue unsent, and a later start sends them.
    let dir = tempfile::tempdir().unwrap();
    let (sim, gw) = claimed_fast_then_slowed(&dir).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = tokio::time::Instant::now();
    let store = gw.store.clone();
    gw.shutdown().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the stop took {took:?}");
    let c = store.read(outbox::counts_by_state).await.unwrap();
    assert_eq!(c.in_flight, 0, "{c:?}");
    assert_eq!(c.queued + c.submitted + c.delivered, 85, "{c:?}");
    assert!(
        c.queued >= 60,
        "rows not written went back to the queue: {c:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn rows_a_slowed_smsc_answers_are_recorded_as_it_goes_not_at_the_end_of_their_batch() {
    // Rows claimed while the SMSC answered at once, then it slows to 200 ms an answer at
    // window 1: 80 rows in one batch with the link, 16 s of sending. Their answers were
    // recorded when the last came in, so a crash in those 16 s sent every accepted one again
    // (100 duplicates in a tester's run). The rows answered are now recorded every second.
    let dir = tempfile::tempdir().unwrap();
    let (sim, gw) = claimed_fast_then_slowed(&dir).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let c = counts(&gw).await;
    assert!(c.in_flight >= 40, "the batch is still out: {c:?}");
    let answered = sim.stats().mt_accepted.saturating_sub(5);
    let recorded = c.submitted + c.delivered - 5;
    assert!(
        recorded >= 8 && recorded + 8 >= answered,
        "{recorded} of the {answered} rows answered are recorded: {c:?}"
    );
    answer_at_once(&sim);
    let c = wait_delivered(&gw, 85, Duration::from_secs(30)).await;
    assert_eq!(c.failed, 0, "{c:?}");
    for i in 10..90 {
        let h = sim.handset(&number(i));
        assert_eq!(h.texts(), vec![format!("late {i}")], "handset {i}");
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn messages_without_a_receipt_do_not_stay_submitted_for_ever() {
    // No receipt asked (or none ever came): once the validity and the grace after it are
    // over, the rows end `expired` with the reason, so retention can take them and the
    // `submitted` gauge means "waiting for a receipt".
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| {
        o.dispatcher.template.registered_delivery = false;
        o.dispatcher.validity = Some(Duration::from_secs(3));
        o.dispatcher.unconfirmed_grace = Duration::ZERO;
        o.dispatcher.sweep_every = Duration::from_millis(100);
    })
    .await;
    enqueue_numbered(&gw, 5).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let c = counts(&gw).await;
        if c.expired == 5 {
            assert_eq!((c.submitted, c.delivered, c.failed), (0, 0, 0), "{c:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = gw
        .store
        .read(|c| outbox::list(c, Some(outbox::OutboxState::Expired), 10))
        .await
        .unwrap();
    assert!(ids
        .iter()
        .all(|r| r.last_error.as_deref() == Some(outbox::NO_RECEIPT_ASKED)));
    assert_eq!(sim.handset(&number(0)).texts().len(), 1, "they were sent");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The next MO the gateway hands on, marked processed as the service would (else the next
/// start hands it on again).
async fn next_mo(gw: &Gateway, mo: &mut mpsc::Receiver<MoMessage>) -> MoMessage {
    let m = tokio::time::timeout(Duration::from_secs(10), mo.recv())
        .await
        .expect("an MO in time")
        .expect("the channel open");
    let id = m.inbox_id;
    gw.store
        .write(move |tx| {
            presence_gw::store::inbox::mark_processed(tx, id, presence_gw::store::now_ms())
        })
        .await
        .unwrap();
    m
}

#[tokio::test]
async fn the_same_text_after_a_clean_restart_is_a_new_command_after_a_drop_a_resend() {
    // After a graceful stop the SMSC has read every answer (the unbind came after them): it
    // resends nothing, so the subscriber's repeat within 2 minutes is theirs and runs. After
    // the link dropped with nothing written after the answer (no reply here, no keepalive
    // yet), the same text on the new session may be the SMSC's resend of one whose answer
    // was lost: taken once.
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = "STATUS FAMILY FREE";
    let send = || sim.inject_mo(MoRequest::new("+8613800138000", "10658", text));
    let (gw, mut mo) = gateway(&dir, &sim).await;
    send().await.unwrap();
    assert_eq!(next_mo(&gw, &mut mo).await.text, text);
    gw.shutdown().await;

    let (gw, mut mo) = gateway(&dir, &sim).await;
    send().await.unwrap();
    assert_eq!(next_mo(&gw, &mut mo).await.text, text, "the repeat runs");
    assert_eq!(gw.store.stats().mo_duplicates, 0);
    // Now the link drops, the answer not known read: the same text on the next session is
    // taken for a resend.
    assert_eq!(sim.drop_connections(None), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.link.wait_bound(Duration::from_secs(10)).await);
    send().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.store.stats().mo_duplicates < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the copy never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mo.try_recv().is_err(), "taken once, not run again");
    // The SMSC unbinds, every answer read: on its next session the same text is new again.
    assert_eq!(sim.unbind_all(None), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.link.wait_bound(Duration::from_secs(10)).await);
    send().await.unwrap();
    assert_eq!(next_mo(&gw, &mut mo).await.text, text, "the repeat runs");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn mo_in_three_parts_out_of_order_and_resent_is_one_message() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut mo) = gateway(&dir, &sim).await;
    let text = format!("STATUS FAMILY FREE {}", "x".repeat(330));
    let mut req = MoRequest::new("+8613800138000", "10658", &text).style(MoStyle::Udh8);
    req.reverse_parts = true;
    req.reference = Some(77);
    let ticket = sim.inject_mo(req.clone()).await.unwrap();
    assert_eq!(ticket.parts, 3);
    let got = tokio::time::timeout(Duration::from_secs(10), mo.recv())
        .await
        .expect("complete message in time")
        .unwrap();
    assert_eq!(got.text, text);
    assert_eq!(got.source.trim_start_matches('+'), "8613800138000");
    // The SMSC re-sends every part (e.g. after lost resps): no second command.
    sim.inject_mo(req).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), mo.recv())
            .await
            .is_err(),
        "a duplicate produced a second message"
    );
    // Counted where an operator sees it (presence_gw_inbox_duplicates_total).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.store.stats().mo_duplicates < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "resent parts not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.store.stats().mo_duplicates, 3, "three parts resent");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The sample of `name{label="value"}` in a scrape, if it has one.
fn labelled(text: &str, name: &str, label: &str, value: &str) -> Option<f64> {
    sample(text, &format!("{name}{{{label}=\"{value}\"}}"))
}

/// `/metrics` counts MO as a carrier's SMSC does, so the two can be reconciled: PDUs (a
/// 3-part message is 3, copies counted apart) and whole messages (it is 1); the delivery
/// receipts that share `deliver_sm` with them (and `inbound_ack_seconds`) are in neither.
#[tokio::test]
async fn metrics_count_mo_pdus_and_whole_messages_apart_from_receipts() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut mo) = gateway(&dir, &sim).await;
    // A receipt first: it is a deliver_sm too.
    gw.enqueue(NewMessage::sms("+8613900139000", "hello"))
        .await
        .unwrap();
    wait_delivered(&gw, 1, Duration::from_secs(10)).await;
    let long = format!("STATUS FAMILY FREE {}", "x".repeat(330));
    let mut three = MoRequest::new("+8613800138000", "10658", &long).style(MoStyle::Udh8);
    three.reference = Some(78);
    assert_eq!(sim.inject_mo(three.clone()).await.unwrap().parts, 3);
    assert_eq!(next_mo(&gw, &mut mo).await.text, long);
    let one = MoRequest::new("+8613700137000", "10658", "WHO 13800138000");
    assert_eq!(sim.inject_mo(one).await.unwrap().parts, 1);
    assert_eq!(next_mo(&gw, &mut mo).await.text, "WHO 13800138000");
    let text = scrape_metrics(&gw).await;
    let pdus = |outcome| labelled(&text, "presence_gw_mo_pdus_total", "outcome", outcome);
    assert_eq!(pdus("stored"), Some(4.0), "3 parts and 1 whole:\n{text}");
    for outcome in ["duplicate", "refused", "deferred"] {
        assert_eq!(pdus(outcome), Some(0.0), "{outcome}:\n{text}");
    }
    assert_eq!(
        sample(&text, "presence_gw_mo_messages_total"),
        Some(2.0),
        "{text}"
    );
    // The ack histogram holds the receipt as well: the reason for counts of their own.
    assert!(sample(&text, "presence_gw_smpp_inbound_ack_seconds_count").unwrap_or(0.0) >= 5.0);
    // The SMSC sends the three parts again: three PDUs more, no message more.
    sim.inject_mo(three).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.store.stats().mo_duplicates < 3 {
        assert!(tokio::time::Instant::now() < deadline, "copies not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = scrape_metrics(&gw).await;
    let pdus = |outcome| labelled(&text, "presence_gw_mo_pdus_total", "outcome", outcome);
    assert_eq!(pdus("stored"), Some(4.0), "{text}");
    assert_eq!(pdus("duplicate"), Some(3.0), "{text}");
    assert_eq!(
        sample(&text, "presence_gw_mo_messages_total"),
        Some(2.0),
        "{text}"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn with_the_consumer_gone_mo_is_still_stored_and_acknowledged() {
    // As at a stop: the service is gone before the link. What arrives meanwhile is stored,
    // answered OK (not ESME_RX_T_APPN, which would make the SMSC send a stored command again)
    // and left pending for the next start.
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mo) = gateway(&dir, &sim).await;
    drop(mo);
    for i in 0..5 {
        sim.inject_mo(MoRequest::new(
            "+8613800138000",
            "10658",
            &format!("WHO 1390013900{i}"),
        ))
        .await
        .unwrap();
        // One at a time: each is its own batch, the later ones after the consumer is known
        // to be gone.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answers: Vec<_> = sim.deliveries().iter().map(|d| d.state.clone()).collect();
        if answers.len() == 5
            && answers.iter().all(|s| {
                !matches!(
                    s,
                    smsc_sim::DeliveryState::Queued | smsc_sim::DeliveryState::Sent
                )
            })
        {
            assert!(
                answers
                    .iter()
                    .all(|s| *s == smsc_sim::DeliveryState::Answered(0)),
                "{answers:?}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pending = gw
        .store
        .read(|c| presence_gw::store::inbox::pending_messages(c, 10))
        .await
        .unwrap();
    assert_eq!(pending.len(), 5);
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn mo_in_every_segmentation_style_is_reassembled() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut mo) = gateway(&dir, &sim).await;
    let styles = [
        MoStyle::Udh8,
        MoStyle::Udh16,
        MoStyle::Sar,
        MoStyle::Payload,
    ];
    for (i, style) in styles.into_iter().enumerate() {
        let text = format!("状态 家人 开车 2小时 {}", "长".repeat(100 + i));
        sim.inject_mo(MoRequest::new(&number(i), "10658", &text).style(style))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), mo.recv())
            .await
            .expect("message in time")
            .unwrap();
        assert_eq!(got.text, text, "style {style:?}");
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

/// While the window is busy the session sleeps until many answers can be read at once
/// (`SO_RCVLOWAT`, `src/smpp/reader.rs`). A lone MO arriving meanwhile is below that mark: it
/// must still be read at once (within the reader's 1 ms look), not when the answers come.
#[tokio::test]
async fn a_lone_mo_during_a_busy_window_is_read_at_once() {
    let mut cfg = SimConfig::local();
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(1500));
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut mo) = gateway(&dir, &sim).await;
    let n = 200;
    enqueue_numbered(&gw, n).await;
    wait_window_in_use(&gw, 32).await;
    // No answer comes for 1.5 s; the MO must not wait for them.
    let started = tokio::time::Instant::now();
    sim.inject_mo(MoRequest::new("+8613800138000", "10658", "STATUS FREE"))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_millis(700), mo.recv())
        .await
        .expect("the MO is read while the window waits for its answers")
        .unwrap();
    assert_eq!(got.text, "STATUS FREE");
    assert!(
        gw.link.window_in_use() >= 32,
        "the answers came first after all ({:?}): the test proved nothing",
        started.elapsed()
    );
    answer_at_once(&sim);
    let c = wait_delivered(&gw, n as u64, Duration::from_secs(60)).await;
    assert_eq!(c.failed + c.expired, 0, "{c:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn link_drop_with_500_in_flight_loses_nothing() {
    let mut cfg = SimConfig::local();
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(300));
    cfg.window = 1000;
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let n = 500;
    enqueue_numbered(&gw, n).await;
    // Wait until submits are in flight (the SMSC holds each response for 300 ms), then cut.
    wait_window_in_use(&gw, 32).await;
    assert!(sim.drop_connections(None) >= 1);
    // Faster from here on.
    answer_at_once(&sim);
    let c = wait_delivered(&gw, n as u64, Duration::from_secs(60)).await;
    assert_eq!(c.failed + c.expired, 0, "{c:?}");
    assert_every_handset_has_its_message(&sim, n, |i| format!("msg {i}"));
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_graceful_stop_waits_for_answers_before_it_unbinds_with_retention_on() {
    // The SMSC answers each submit after 800 ms; the link's own stop grace is shorter, so a
    // stop that cancelled the link first would unbind under answers still coming.
    let mut cfg = SimConfig::local();
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(800));
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let link = LinkConfig {
        smsc: sim.smpp_addr().to_string(),
        system_id: SYSTEM_ID.into(),
        password: presence_gw::config::Secret::new(PASSWORD),
        response_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(200),
        ..LinkConfig::default()
    };
    let mut opts = GatewayOptions::new(dir.path().join("gw.db"), link, "10658");
    // Retention on, as by default in the binary: its task must not stand in for the
    // dispatcher's at the stop.
    opts.keep = Some(Duration::from_secs(30 * 86_400));
    let (tx, _rx) = mpsc::channel(16);
    let gw = Gateway::start(opts, tx).await.expect("gateway starts");
    assert!(gw.link.wait_bound(Duration::from_secs(10)).await);
    let n = 20;
    enqueue_numbered(&gw, n).await;
    wait_window_in_use(&gw, n).await;
    gw.shutdown().await;
    // Every message the SMSC took is recorded as taken: none goes again at the next start.
    let rows: Vec<(String, String)> = {
        let conn = rusqlite::Connection::open(dir.path().join("gw.db")).unwrap();
        let mut s = conn
            .prepare("SELECT destination, state FROM outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(rows.len(), n);
    for (to, state) in rows {
        let taken = !sim.handset(&to).texts().is_empty();
        assert!(
            !taken || state == "submitted" || state == "delivered",
            "{to}: the SMSC took it but the row is {state}"
        );
        assert!(taken, "{to} was in flight and answered within the stop");
    }
    sim.shutdown().await;
}

/// The validity period counts from when a message was queued, not from each submit: a row
/// queued 49 hours ago (the gateway was down, or the link was) is not sent with another 48
/// hours of validity; it becomes `expired`, and a fresh row beside it goes out.
#[tokio::test]
async fn a_row_older_than_its_validity_expires_instead_of_going_out() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let now = presence_gw::store::now_ms();
    let (stale_to, fresh_to) = (number(11), number(12));
    let (stale, fresh) = {
        let (a, b) = (stale_to.clone(), fresh_to.clone());
        gw.store
            .write(move |tx| {
                let stale =
                    outbox::enqueue(tx, &NewMessage::sms(a, "old news"), now - 49 * 3_600_000)?;
                let fresh = outbox::enqueue(tx, &NewMessage::sms(b, "news"), now)?;
                Ok::<_, presence_gw::store::StoreError>((stale.id, fresh.id))
            })
            .await
            .unwrap()
    };
    gw.wake_dispatcher();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row(&gw, fresh).await.state != outbox::OutboxState::Delivered {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fresh row never went out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = row(&gw, stale).await;
    assert_eq!(old.state, outbox::OutboxState::Expired, "{old:?}");
    assert_eq!(old.last_error.as_deref(), Some("validity period ended"));
    assert!(
        sim.handset(&stale_to).texts().is_empty(),
        "the stale row was sent"
    );
    assert_eq!(sim.handset(&fresh_to).texts(), ["news"]);
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_row_failed_by_its_receipt_and_retried_by_the_operator_is_sent_again() {
    let sim = sim(SimConfig::local()).await;
    let to = number(7);
    sim.set_receipt_plan(smsc_sim::ReceiptPlan::undeliverable_to(&to));
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let id = gw
        .enqueue(NewMessage::sms(to.clone(), "try again"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row(&gw, id).await.state != outbox::OutboxState::Failed {
        assert!(tokio::time::Instant::now() < deadline, "never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The operator retries it; the handset takes messages again, but the SMSC's queue is
    // full for the first attempt, so the row goes through a second one.
    sim.set_receipt_plan(smsc_sim::ReceiptPlan::default());
    let mut faults = sim.faults();
    faults.error = Some(smsc_sim::ErrorFault {
        status: 0x14, // ESME_RMSGQFUL
        percent: 0.0,
        destinations: vec![to.clone()],
    });
    sim.set_faults(faults);
    let submits_before = sim.stats().received.get("submit_sm").copied().unwrap_or(0);
    gw.store
        .write(move |tx| outbox::retry_failed(tx, presence_gw::store::now_ms()))
        .await
        .unwrap();
    gw.wake_dispatcher();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.stats().received.get("submit_sm").copied().unwrap_or(0) == submits_before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry was not sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.set_faults(smsc_sim::Faults::default());
    // The failed segment is sent again (not taken for one already accepted) and delivered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while row(&gw, id).await.state != outbox::OutboxState::Delivered {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retried row is {:?}, segments {:?}",
            row(&gw, id).await.state,
            gw.store.read(move |c| outbox::segments(c, id)).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn throttling_storm_delivers_everything_and_rate_adapts() {
    let mut cfg = SimConfig::local();
    cfg.faults.throttle_per_sec = Some(200);
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(&dir, &sim).await;
    let n = 800;
    for i in 0..n {
        gw.enqueue(NewMessage::sms(number(i), format!("storm {i}")))
            .await
            .unwrap();
    }
    let c = wait_delivered(&gw, n as u64, Duration::from_secs(60)).await;
    assert_eq!(c.failed, 0, "{c:?}");
    let throttled = gw
        .link
        .stats()
        .submits_throttled
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(throttled > 0, "the simulator never throttled");
    assert!(
        gw.link.current_rate() < 1_000_000.0,
        "adaptive rate never lowered"
    );
    let distinct: HashSet<String> = (0..n)
        .filter(|i| {
            sim.handset(&number(*i))
                .texts()
                .contains(&format!("storm {i}").as_str())
        })
        .map(number)
        .collect();
    assert_eq!(distinct.len(), n);
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Refusals (of the message to `to`) the simulator answered so far.
fn refusals_of(sim: &SimHandle, to: &str) -> usize {
    sim.mt_messages(&smsc_sim::MtFilter {
        dest: Some(to.to_string()),
        ..smsc_sim::MtFilter::default()
    })
    .iter()
    .filter(|m| !m.accepted())
    .count()
}

/// An SMSC refusing every submit for load (`{"throttle_per_sec":0}`) does not use up
/// `max_attempts` (the tester saw `failed ... gave up after 3 attempts: ESME_RTHROTTLED` in
/// 4 s): the message is refused many more times than that and stays queued, its attempts not
/// counted and its last error the refusal; it goes again at a slow pace, not in a hot loop;
/// it is delivered once the SMSC takes submits again, and one whose validity ends in the
/// meantime is expired.
#[tokio::test]
async fn refusals_for_load_do_not_use_up_the_attempts() {
    let mut cfg = SimConfig::local();
    cfg.faults.throttle_per_sec = Some(0);
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.dispatcher.max_attempts = 3).await;
    let to = number(1);
    let id = gw
        .enqueue(NewMessage::sms(to.clone(), "busy"))
        .await
        .unwrap();
    let mut short = NewMessage::sms(number(2), "short-lived");
    short.expires_at = Some(presence_gw::store::now_ms() + 3_000);
    let short_id = gw.enqueue(short).await.unwrap();
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(40);
    while refusals_of(&sim, &to) < 8 {
        let r = row(&gw, id).await;
        assert!(
            matches!(
                r.state,
                outbox::OutboxState::Queued | outbox::OutboxState::InFlight
            ),
            "after {} refusals for load: {r:?}",
            refusals_of(&sim, &to)
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} refusals in 40 s: {r:?}",
            refusals_of(&sim, &to)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = row(&gw, id).await;
    assert!(
        matches!(
            r.state,
            outbox::OutboxState::Queued | outbox::OutboxState::InFlight
        ) && r.attempts <= 1,
        "refused 8 times for load with max_attempts 3: {r:?}"
    );
    let error = r.last_error.clone().unwrap_or_default();
    assert!(error.contains("ESME_RTHROTTLED (0x00000058)"), "{r:?}");
    // Not a hot loop: the link slowed down to a few submits a second (each refused row
    // waits out its back-off too); a loop would be hundreds a second.
    let submits = sim.mt_messages(&smsc_sim::MtFilter::default()).len();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        (submits as f64) < 20.0 + 10.0 * secs,
        "{submits} submits in {secs:.1} s"
    );
    // The short-lived one ends `expired` once its validity is over, not `failed`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = row(&gw, short_id).await;
        if r.state == outbox::OutboxState::Expired {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The SMSC takes submits again: the message goes out.
    sim.set_faults(smsc_sim::Faults::default());
    wait_delivered(&gw, 1, Duration::from_secs(30)).await;
    assert_eq!(sim.handset(&to).texts(), ["busy"]);
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A window changed on the running link (a config reload) holds from then on, both ways:
/// against an SMSC that takes 2 requests at a time and refuses more (`ESME_RTHROTTLED`),
/// answering each after 50 ms, a window of 2 gets no refusal; raised to 8, the link sends 8
/// at a time (refused); lowered to 2 again while requests are out, no more refusals.
#[tokio::test]
async fn a_window_set_on_the_running_link_holds_from_then_on() {
    let mut cfg = SimConfig::local();
    cfg.window = 2;
    cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(50));
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.link.window = 2).await;
    let throttled = || {
        gw.link
            .stats()
            .submits_throttled
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    enqueue_at_once(&gw, 12).await;
    wait_delivered(&gw, 12, Duration::from_secs(30)).await;
    assert_eq!(throttled(), 0, "a window of 2 at an SMSC of 2");

    gw.link.set_window(8);
    assert_eq!(gw.link.window_size(), 8);
    enqueue_at_once(&gw, 16).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while throttled() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a window of 8 never went past the SMSC's 2"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gw.link.set_window(2);
    assert_eq!(gw.link.window_size(), 2);
    wait_delivered(&gw, 28, Duration::from_secs(60)).await;
    let before = throttled();
    enqueue_at_once(&gw, 12).await;
    wait_delivered(&gw, 40, Duration::from_secs(60)).await;
    assert_eq!(throttled(), before, "no refusal once back at 2");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// `--max-rate 50` is never exceeded as the SMSC counts: the tester saw 55 submits in one
/// sliding second of the simulator's timestamps (a full token bucket on top of 50 a second)
/// and 51 in some calendar seconds. 300 messages at once, the connection dropped once on the
/// way (the limiter outlives the session): no sliding second at the simulator holds more
/// than 50, and they go at close to 50 a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_holds_in_every_sliding_second_across_a_reconnect() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.link.max_rate = Some(50.0)).await;
    let n = 300usize;
    let started = tokio::time::Instant::now();
    for i in 0..n {
        gw.enqueue(NewMessage::sms(number(i), format!("paced {i}")))
            .await
            .unwrap();
    }
    let deadline = started + Duration::from_secs(30);
    let mut dropped = false;
    loop {
        let taken = sim.stats().mt_accepted as usize;
        if taken >= n {
            break;
        }
        if !dropped && taken >= n / 3 {
            dropped = sim.drop_connections(None) > 0;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{taken} of {n} taken in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    assert!(dropped, "the connection was never dropped");
    let mut times: Vec<u64> = sim
        .mt_messages(&smsc_sim::MtFilter::default())
        .iter()
        .map(|m| m.received_at_ms)
        .collect();
    times.sort_unstable();
    let most = busiest_ms(&times, 1000);
    assert!(
        most <= 50,
        "{most} submits in one sliding second at max_rate 50"
    );
    let mut per_second = std::collections::HashMap::new();
    for t in &times {
        *per_second.entry(t / 1000).or_insert(0usize) += 1;
    }
    assert!(per_second.values().all(|&c| c <= 50), "{per_second:?}");
    // 300 at 50 a second is 6 s; the reconnect and start take some more.
    assert!(took < Duration::from_secs(12), "300 at 50/s took {took:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_password_never_binds_and_says_so() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let link = LinkConfig {
        smsc: sim.smpp_addr().to_string(),
        system_id: SYSTEM_ID.into(),
        password: presence_gw::config::Secret::new("wrong"),
        ..LinkConfig::default()
    };
    let opts = GatewayOptions::new(dir.path().join("gw.db"), link, "10658");
    let (tx, _rx) = mpsc::channel(8);
    let gw = Gateway::start(opts, tx).await.unwrap();
    let mut state = gw.link.watch_state();
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| matches!(s, presence_gw::smpp::LinkState::AuthRejected(_))),
    )
    .await
    .expect("auth rejection reported")
    .unwrap();
    // A message queued meanwhile stays queued, not lost.
    let id = gw
        .enqueue(NewMessage::sms(number(1), "waits"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = gw
        .store
        .read(move |c| outbox::get(c, id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, outbox::OutboxState::Queued);
    // An operator's alert sees it: the refusals are counted (they were not: only successful
    // binds were, from the exploratory tester).
    let text = scrape_metrics(&gw).await;
    let refused = sample(
        &text,
        "presence_gw_smpp_bind_failures_total{reason=\"refused\"}",
    );
    assert!(refused.is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(sample(&text, "presence_gw_smpp_binds_total"), Some(0.0));
    gw.shutdown().await;
    sim.shutdown().await;
}

/// An SMSC that cannot be reached is counted as a bind that got no session.
#[tokio::test]
async fn an_unreachable_smsc_is_counted_as_no_session() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound and closed at once.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let link = LinkConfig {
        smsc: addr.to_string(),
        system_id: SYSTEM_ID.into(),
        password: presence_gw::config::Secret::new(PASSWORD),
        reconnect_min: Duration::from_millis(50),
        ..LinkConfig::default()
    };
    let opts = GatewayOptions::new(dir.path().join("gw.db"), link, "10658");
    let (tx, _rx) = mpsc::channel(8);
    let gw = Gateway::start(opts, tx).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape_metrics(&gw).await;
        let none = sample(
            &text,
            "presence_gw_smpp_bind_failures_total{reason=\"no_session\"}",
        );
        if none.is_some_and(|n| n >= 1.0) {
            assert_eq!(
                sample(
                    &text,
                    "presence_gw_smpp_bind_failures_total{reason=\"refused\"}"
                ),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn rows_a_crash_left_in_flight_are_queued_again_before_the_link_binds() {
    // The start's scan of the outbox (its counts, and rows a crash left `in_flight`) ran in
    // the dispatcher's task after the link was spawned: with a million rows it held the
    // store's writer for 0.4 s after the bind, when the SMSC hands over its backlog of
    // receipts and MO. `Gateway::start` now returns with it done.
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
    store
        .write(|tx| {
            let now = presence_gw::store::now_ms();
            for i in 0..20 {
                outbox::enqueue(tx, &NewMessage::sms(number(i), format!("msg {i}")), now)?;
            }
            outbox::claim_due(tx, now, 20).map(|_| ())
        })
        .await
        .unwrap();
    store.close().await;
    // A refused bind: nothing is claimed again, whatever the timing.
    let link = LinkConfig {
        smsc: sim.smpp_addr().to_string(),
        system_id: SYSTEM_ID.into(),
        password: presence_gw::config::Secret::new("wrong"),
        ..LinkConfig::default()
    };
    let (tx, _rx) = mpsc::channel(8);
    let gw = Gateway::start(GatewayOptions::new(db, link, "10658"), tx)
        .await
        .unwrap();
    let c = counts(&gw).await;
    assert_eq!((c.in_flight, c.queued), (0, 20), "{c:?}");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The bind and submit addressing a carrier sets in `[smsc]` (addr_ton/npi, address_range,
/// system_type, source_ton/npi) reaches the wire: the simulator sees it in the bind and in
/// every submit_sm.
#[tokio::test]
async fn addressing_from_the_config_reaches_the_bind_and_the_submits() {
    let sim = sim(SimConfig::local()).await;
    let toml = format!(
        "service_number = \"10658\"\n[smsc]\naddress = \"{}\"\nsystem_id = \"{SYSTEM_ID}\"\n\
         password = \"{PASSWORD}\"\nsystem_type = \"PRESENCE\"\naddr_ton = 1\naddr_npi = 1\n\
         address_range = \"^10658\"\nsource_ton = 3\nsource_npi = 0\n",
        sim.smpp_addr()
    );
    let cfg = presence_gw::config::Config::from_toml(&toml, std::path::Path::new("t.toml"))
        .expect("valid config");
    let smsc = cfg.smsc.clone().expect("[smsc]");
    let dir = tempfile::tempdir().unwrap();
    let mut opts = GatewayOptions::new(
        dir.path().join("gw.db"),
        cfg.link_config(&smsc).unwrap(),
        "10658",
    );
    cfg.apply_delivery(&mut opts.dispatcher);
    let (tx, _mo) = mpsc::channel(16);
    let gw = Gateway::start(opts, tx).await.expect("gateway starts");
    assert!(gw.link.wait_bound(Duration::from_secs(10)).await, "binds");
    let bind = sim
        .binds()
        .into_iter()
        .find_map(|b| b.bind)
        .expect("a bind with its fields");
    assert_eq!(
        bind,
        smsc_sim::BindFields {
            system_type: "PRESENCE".into(),
            interface_version: 0x34,
            addr_ton: 1,
            addr_npi: 1,
            address_range: "^10658".into(),
        }
    );
    gw.enqueue(NewMessage::sms(number(1), "addressed"))
        .await
        .unwrap();
    let mts = sim
        .wait_for_mt_to(&number(1), 1, Duration::from_secs(10))
        .await
        .expect("the submit arrives");
    assert_eq!(
        (mts[0].source.as_str(), mts[0].source_ton, mts[0].source_npi),
        ("10658", 3, 0)
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Claims are sized by the submits their rows send, not by rows: at `max_rate` 20 a batch of
/// three-part messages took 5 rows (15 submits, three quarters of a second of sending instead
/// of a quarter) and the dispatcher held 20 such rows (3 s of sending, 60 submits whose rows
/// a crash would send again). Now the rows in flight are about a second of submits (7 rows of
/// 3 parts), and the rate itself, counted per submit, still holds in every sliding second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_messages_are_claimed_by_their_parts_and_the_rate_holds() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| o.link.max_rate = Some(20.0)).await;
    let n = 24usize;
    // 404 GSM characters: three parts each.
    let text = |i: usize| format!("{i:03} {}", "long ".repeat(80));
    gw.store
        .write(move |tx| {
            for i in 0..n {
                let now = presence_gw::store::now_ms();
                outbox::enqueue(tx, &NewMessage::sms(number(i), text(i)), now)?;
            }
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .await
        .unwrap();
    gw.wake_dispatcher();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut most_in_flight = 0;
    while (sim.stats().mt_accepted as usize) < 3 * n {
        most_in_flight = most_in_flight.max(counts(&gw).await.in_flight);
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {} parts taken in 30 s",
            sim.stats().mt_accepted,
            3 * n
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        most_in_flight <= 8,
        "{most_in_flight} three-part rows in flight at max_rate 20 (a second of sending is 7)"
    );
    let mut times: Vec<u64> = sim
        .mt_messages(&smsc_sim::MtFilter::default())
        .iter()
        .map(|m| m.received_at_ms)
        .collect();
    assert_eq!(times.len(), 3 * n);
    times.sort_unstable();
    let most = busiest_ms(&times, 1000);
    assert!(
        most <= 20,
        "{most} submits in one sliding second at max_rate 20"
    );
    wait_delivered(&gw, n as u64, Duration::from_secs(10)).await;
    gw.shutdown().await;
    sim.shutdown().await;
}

/// Failures the SMSC says are passing are tried again after a back-off, each attempt
/// counted, and the message is delivered once the fault clears: `ESME_RSYSERR` (0x08), and a
/// carrier's own code for it listed in `[smsc] temporary_statuses` (0x401 here; unlisted,
/// such a vendor code failed the message at its first answer). An unlisted vendor code
/// (0x402) still fails it at once.
#[tokio::test]
async fn passing_failures_and_listed_vendor_codes_are_retried_until_the_fault_clears() {
    let sim = sim(SimConfig::local()).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| {
        o.link.temporary_statuses = vec![0x401];
        o.dispatcher.max_attempts = 100;
    })
    .await;
    let (syserr, vendor, other) = (number(1), number(2), number(3));
    let fault = |status: u32, to: &str| smsc_sim::ErrorFault {
        status,
        percent: 0.0,
        destinations: vec![to.to_string()],
    };
    let mut faults = sim.faults();
    faults.error = Some(fault(0x08, &syserr));
    faults.more_errors = vec![fault(0x401, &vendor), fault(0x402, &other)];
    sim.set_faults(faults);
    let mut ids = Vec::new();
    for to in [&syserr, &vendor, &other] {
        ids.push(
            gw.enqueue(NewMessage::sms(to.clone(), "later"))
                .await
                .unwrap(),
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (a, b) = (row(&gw, ids[0]).await, row(&gw, ids[1]).await);
        for r in [&a, &b] {
            assert!(
                matches!(
                    r.state,
                    outbox::OutboxState::Queued | outbox::OutboxState::InFlight
                ),
                "{r:?}"
            );
        }
        if a.attempts >= 3 && b.attempts >= 3 {
            assert_eq!(a.last_error.as_deref(), Some("ESME_RSYSERR (0x00000008)"));
            assert_eq!(b.last_error.as_deref(), Some("command_status 0x00000401"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = row(&gw, ids[2]).await;
    assert_eq!(failed.state, outbox::OutboxState::Failed, "{failed:?}");
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("command_status 0x00000402")
    );
    sim.set_faults(smsc_sim::Faults::default());
    wait_delivered(&gw, 2, Duration::from_secs(20)).await;
    assert_eq!(sim.handset(&syserr).texts(), ["later"]);
    assert_eq!(sim.handset(&vendor).texts(), ["later"]);
    assert_eq!(row(&gw, ids[2]).await.state, outbox::OutboxState::Failed);
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The wall clock steps back an hour under a running gateway (as its dispatcher sees it): a
/// message held for half an hour (the hourly quota holds STATUS updates so) was due at a
/// moment that is now half an hour in the past, and goes at once. Before, its time stayed
/// as the old clock wrote it, and it would have waited an hour and a half.
#[tokio::test]
async fn a_step_back_of_the_wall_clock_moves_a_held_message_back_with_it() {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(SimConfig::local()).await;
    answer_at_once(&sim);
    let step = Arc::new(AtomicI64::new(0));
    let seen = step.clone();
    let (gw, _mo) = gateway_with(&dir, &sim, move |o| {
        o.dispatcher.wall_clock = presence_gw::delivery::clock::WallClock::from_fn(move || {
            presence_gw::store::now_ms() - seen.load(Ordering::Relaxed)
        });
    })
    .await;
    let held = NewMessage {
        not_before: Some(presence_gw::store::now_ms() + 1_800_000),
        ..NewMessage::sms(number(0), "held for half an hour")
    };
    let id = gw.enqueue(held).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(row(&gw, id).await.state.as_str(), "queued", "not due yet");
    step.store(3_600_000, Ordering::Relaxed);
    wait_delivered(&gw, 1, Duration::from_secs(10)).await;
    assert_every_handset_has_its_message(&sim, 1, |_| "held for half an hour".into());
    gw.shutdown().await;
    sim.shutdown().await;
}

/// The wall clock was stepped back an hour while the gateway was stopped: its rows were
/// written by the clock an hour ahead. A message held for half an hour then is held for half
/// an hour from the start, not an hour and a half; one to retry in a second goes at once. The
/// store's newest times tell the start so (`Dispatcher::recover`); before, the watch saw only
/// a step under a running gateway. The status changes the hourly quota counts move back too
/// (before, a change logged ten minutes before the stop counted for an hour and ten minutes);
/// one logged before the quota's hour stays as written.
#[tokio::test]
async fn a_wall_clock_stepped_back_while_stopped_moves_the_held_messages_back_at_the_start() {
    const HOUR: i64 = 3_600_000;
    let sim = sim(SimConfig::local()).await;
    answer_at_once(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store =
        presence_gw::store::Store::open(&dir.path().join("gw.db"), Default::default()).unwrap();
    let (held, retry) = store
        .write(|tx| {
            let ahead = presence_gw::store::now_ms() + HOUR;
            let held = NewMessage {
                not_before: Some(ahead + HOUR / 2),
                ..NewMessage::sms(number(0), "held for half an hour")
            };
            let retry = NewMessage {
                not_before: Some(ahead + 1_000),
                ..NewMessage::sms(number(1), "a retry in a second")
            };
            let owner = "+8613800138000";
            state::log_change(tx, owner, ahead - 3 * HOUR, "sms", 1, 1, false)?;
            state::log_change(tx, owner, ahead - HOUR / 6, "sms", 1, 1, false)?;
            Ok::<_, presence_gw::store::StoreError>((
                outbox::enqueue(tx, &held, ahead)?.id,
                outbox::enqueue(tx, &retry, ahead)?.id,
            ))
        })
        .await
        .unwrap();
    let logged = |db: &std::path::Path| -> Vec<i64> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut s = c
            .prepare("SELECT at FROM status_change ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before = logged(&dir.path().join("gw.db"));
    store.close().await;
    let started = presence_gw::store::now_ms();
    let (gw, _mo) = gateway_with(&dir, &sim, |_| {}).await;
    let after = logged(&dir.path().join("gw.db"));
    assert_eq!(
        after[0], before[0],
        "older than the quota's hour: as written"
    );
    let moved = before[1] - after[1];
    assert!(
        (HOUR - 10_000..=HOUR).contains(&moved),
        "the change ten minutes before the stop moved back {moved} ms"
    );
    let due = row(&gw, held).await.next_attempt_at - started;
    assert!(
        (HOUR / 2 - 10_000..=HOUR / 2 + 1_000).contains(&due),
        "held {due} ms from the start"
    );
    wait_delivered(&gw, 1, Duration::from_secs(10)).await;
    assert_eq!(row(&gw, retry).await.state.as_str(), "delivered");
    assert_eq!(row(&gw, held).await.state.as_str(), "queued");
    gw.shutdown().await;
    sim.shutdown().await;
}

/// While outbound sending is paused the link stays bound and receipts keep coming: one whose
/// id the SMSC writes in another base than its response (decimal here, against the hex of
/// the `submit_sm_resp`) is held, and matched through its other-base form once the grace is
/// over, during the pause, as when sending. Before, held receipts waited for the resume, and
/// the message stayed `submitted` for the whole of a maintenance window.
#[tokio::test]
async fn a_receipt_held_for_its_other_base_id_is_matched_during_a_pause() {
    let mut cfg = SimConfig::local();
    cfg.message_id_style = IdStyle::Hex;
    cfg.message_id_start = 4096;
    let sim = sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(&dir, &sim, |o| {
        o.dispatcher.receipt_grace = Duration::from_millis(300);
        // No receipt asked: the one below is the SMSC's only word on the message.
        o.dispatcher.template.registered_delivery = false;
    })
    .await;
    let db = dir.path().join("gw.db");
    count_held_receipts(&db);
    let id = gw
        .enqueue(NewMessage::sms(number(0), "held receipt"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row(&gw, id).await.state.as_str() != "submitted" {
        assert!(tokio::time::Instant::now() < deadline, "never submitted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let accepted = sim.mt_messages(&smsc_sim::MtFilter::to(&number(0)))[0]
        .message_id
        .clone();
    assert_eq!(accepted, "00001000");
    let now = presence_gw::store::now_ms();
    gw.pause()
        .set(&gw.store, true, "maintenance".into(), now)
        .await
        .unwrap();
    // The receipt names the message as 4096, the decimal of 0x1000: held, then matched.
    sim.inject_receipt(&number(0), "10658", "4096", smsc_sim::ReceiptStat::Delivrd)
        .await
        .unwrap();
    let c = wait_delivered(&gw, 1, Duration::from_secs(10)).await;
    assert_eq!(c.delivered, 1, "{c:?}");
    // One row per form of its id (as written, and read in the other bases).
    assert!(held_receipts(&db) > 0, "the receipt took the held path");
    assert!(gw.pause().is_paused(), "matched while still paused");
    gw.shutdown().await;
    sim.shutdown().await;
}
