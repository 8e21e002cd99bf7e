//! The control API's answers and faults as an ESME's tester meets them: every error is JSON
//! with a fitting status, fault values that make no sense are refused with a message naming
//! the key, and the error rules pick the specific one over a percentage.

mod common;

use common::{text, Client, Mode};
use rusmpp::CommandStatus;
use smsc_sim::{SimConfig, SimHandle, Simulator};

async fn sim(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg).await.expect("start")
}

/// Status, content type and body of one request.
async fn http(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// The `error` text of a JSON error answer; fails the test on any other shape.
fn error_text(what: &str, ct: &str, body: &str) -> String {
    assert!(ct.starts_with("application/json"), "{what}: {ct} {body}");
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    let obj = v.as_object().unwrap_or_else(|| panic!("{what}: {body}"));
    assert_eq!(obj.len(), 1, "{what}: {body}");
    obj["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {body}"))
        .to_string()
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_fitting_status() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let json = Some("application/json");
    let mo = r#"{"from":"8613800138000","to":"10086","text":"x"}"#;
    let cases = vec![
        ("POST", format!("{base}/faults"), json, "{not json", 400, ""),
        ("POST", format!("{base}/mo"), json, "{not json", 400, ""),
        (
            "POST",
            format!("{base}/ussd"),
            json,
            r#"{"from": }"#,
            400,
            "",
        ),
        (
            "POST",
            format!("{base}/faults"),
            None,
            "{}",
            415,
            "content-type",
        ),
        ("POST", format!("{base}/mo"), None, mo, 415, "content-type"),
        (
            "POST",
            format!("{base}/ussd"),
            Some("text/plain"),
            mo,
            415,
            "content-type",
        ),
        (
            "POST",
            format!("{base}/mo"),
            json,
            r#"{"from":"1","to":"2","text":"x","bogus":1}"#,
            422,
            "bogus",
        ),
        (
            "POST",
            format!("{base}/ussd"),
            json,
            r#"{"from":"1","to":"*1#","text":"1","sesion":1}"#,
            422,
            "sesion",
        ),
        (
            "POST",
            format!("{base}/mo"),
            json,
            r#"{"from":"1"}"#,
            422,
            "to",
        ),
        (
            "POST",
            format!("{base}/mo"),
            json,
            r#"{"from":"1","to":"","text":"x"}"#,
            400,
            "to",
        ),
        (
            "POST",
            format!("{base}/faults"),
            json,
            r#"{"throttle":5}"#,
            400,
            "throttle",
        ),
        ("POST", format!("{base}/faults"), json, "[1]", 400, "object"),
        (
            "POST",
            format!("{base}/faults"),
            json,
            r#"{"throttle_per_sec":-1}"#,
            400,
            "throttle_per_sec",
        ),
        (
            "POST",
            format!("{base}/faults"),
            json,
            r#"{"send_malformed":"nope"}"#,
            400,
            "send_malformed",
        ),
        (
            "GET",
            format!("{base}/mt?since=abc"),
            None,
            "",
            400,
            "since",
        ),
        (
            "GET",
            format!("{base}/handsets/1/call"),
            None,
            "",
            400,
            "from",
        ),
        (
            "GET",
            format!("{base}/handsets/1/avatar?from=2"),
            None,
            "",
            404,
            "avatar",
        ),
        (
            "GET",
            format!("{base}/no-such-page"),
            None,
            "",
            404,
            "endpoint",
        ),
        ("GET", format!("{base}/mo"), None, "", 405, "method"),
        ("DELETE", format!("{base}/faults"), None, "", 405, "method"),
    ];
    for (method, url, ct, body, want, mentions) in cases {
        let what = format!("{method} {url} {body}");
        let (status, rct, text) = http(method, &url, ct, body).await;
        assert_eq!(status, want, "{what}: {text}");
        let e = error_text(&what, &rct, &text);
        assert!(e.contains(mentions), "{what}: {e}");
    }
    h.shutdown().await;
}

#[tokio::test]
async fn fault_values_that_make_no_sense_are_refused_naming_the_key() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let json = Some("application/json");
    let (s, ct, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"response_delay":-5}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let e = error_text("delay -5", &ct, &body);
    assert!(
        e.contains("response_delay") && e.contains("a delay in milliseconds"),
        "{e}"
    );
    assert!(!e.contains("untagged"), "{e}");
    // 0 would close each connection right after its bind: refused, saying what is meant.
    let (s, ct, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"drop_after_pdus":0}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let e = error_text("drop 0", &ct, &body);
    assert!(
        e.contains("drop_after_pdus") && e.contains("at least 1"),
        "{e}"
    );
    assert_eq!(h.faults(), smsc_sim::Faults::default());
    h.shutdown().await;
}

/// A destination listed in `more_errors` ("always failing") gets its own status every time,
/// even beside an `error` percentage that would fire for it.
#[tokio::test]
async fn a_listed_destination_gets_its_own_status_over_a_percentage() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        Some("application/json"),
        r#"{"error":{"status":"0x45","percent":50},
            "more_errors":[{"status":"0x0B","destinations":["+8613900139000"]}]}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    for _ in 0..20 {
        let r = c.submit(text("8613900139000", "x", 0)).await;
        assert_eq!(r.status(), CommandStatus::EsmeRinvdstadr);
    }
    let mut refused = 0;
    for _ in 0..40 {
        let r = c.submit(text("8613800138000", "x", 0)).await;
        if r.status() == CommandStatus::EsmeRsubmitfail {
            refused += 1;
        }
    }
    assert!((5..35).contains(&refused), "{refused} of 40 at 50 %");
    h.shutdown().await;
}

/// `/mt` shows a refused submit's command_status as SMPP writes it and by name, beside the
/// number scripts compare.
#[tokio::test]
async fn mt_records_show_statuses_as_smpp_writes_them() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        Some("application/json"),
        r#"{"throttle_per_sec":0}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.submit(text("8613800138000", "too fast", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRthrottled);
    let (s, _, body) = http("GET", &format!("{base}/mt"), None, "").await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["status"], 88, "{body}");
    assert_eq!(v[0]["status_hex"], "0x00000058", "{body}");
    assert_eq!(v[0]["status_name"], "ESME_RTHROTTLED", "{body}");
    h.shutdown().await;
}

/// `refuse_binds` answers every new bind with the chosen status (whatever its credentials)
/// while binds already up stay up; turned off, binds succeed again. No restart needed.
#[tokio::test]
async fn refuse_binds_answers_new_binds_with_the_chosen_status() {
    let h = sim(SimConfig::local().with_account("esme", "secret")).await;
    let base = h.http_url().unwrap();
    let json = Some("application/json");
    let mut up = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"refuse_binds":13}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let mut c = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        c.bind(Mode::Tx, "esme", "secret").await,
        CommandStatus::EsmeRbindfail
    );
    // Hex text too; and the answer does not depend on the credentials.
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"refuse_binds":"0x0E"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        c.bind(Mode::Rx, "nobody", "x").await,
        CommandStatus::EsmeRinvpaswd
    );
    // The bind that was up before still works.
    let r = up.submit(text("8613800138000", "still up", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"refuse_binds":0}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, _, _) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"refuse_binds":null}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

/// `refuse_binds` with a system_id refuses only that account's new binds; another account
/// binds as usual.
#[tokio::test]
async fn refuse_binds_may_be_limited_to_one_system_id() {
    let h = sim(SimConfig::local()
        .with_account("esme1", "secret")
        .with_account("esme2", "secret"))
    .await;
    let base = h.http_url().unwrap();
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        Some("application/json"),
        r#"{"refuse_binds":{"status":"0x0D","system_id":"esme1"}}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let mut one = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        one.bind(Mode::Tx, "esme1", "secret").await,
        CommandStatus::EsmeRbindfail
    );
    let mut two = Client::connect(h.smpp_addr()).await;
    assert_eq!(
        two.bind(Mode::Tx, "esme2", "secret").await,
        CommandStatus::EsmeRok
    );
    h.shutdown().await;
}

/// `outage` closes every connection and each new one at once (no PDU read or written);
/// turned off, the ESME reconnects and binds.
#[tokio::test]
async fn outage_closes_connections_until_it_is_turned_off() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let json = Some("application/json");
    let mut up = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"outage":true}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // The connection it closed is counted, as drop_now's are (it answered 0).
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["dropped"], 1, "{body}");
    assert!(up.closed().await, "a bound connection survived the outage");
    for _ in 0..3 {
        let mut c = Client::connect(h.smpp_addr()).await;
        assert!(
            c.closed().await,
            "a new connection stayed open during the outage"
        );
    }
    let (s, _, _) = http(
        "POST",
        &format!("{base}/faults"),
        json,
        r#"{"outage":false}"#,
    )
    .await;
    assert_eq!(s, 200);
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.submit(text("8613800138000", "back", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    h.shutdown().await;
}

/// A reset drops receipts still waiting for their delay (never sent) and says so, in
/// `POST /reset`'s answer.
#[tokio::test]
async fn reset_reports_the_pending_receipts_it_drops() {
    let mut cfg = SimConfig::local();
    cfg.receipts.default_delay_ms = 600;
    let h = sim(cfg).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    for n in ["8613800138000", "8613900139000"] {
        let r = c.submit(text(n, "receipt please", 1)).await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
    }
    let (s, ct, body) = http("POST", &format!("{base}/reset"), None, "").await;
    assert_eq!(s, 200, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "mt_records": 2,
            "handsets": 0,
            "pending_receipts": 2,
            "pending_deliveries": 0,
        }),
        "{body}"
    );
    // As documented: they are never sent.
    assert!(c
        .try_read(std::time::Duration::from_millis(1200))
        .await
        .is_none());
    assert!(h.receipts().is_empty());
    h.shutdown().await;
}

/// `/stats` labels each window's numbers; the console says what makes a handset appear, as
/// `/handsets` does it (an MO sender is no handset); a USSD from nobody is refused as an MO
/// from nobody is; the hex log never holds the bind password.
#[tokio::test]
async fn stats_console_ussd_and_hex_log_say_what_they_mean() {
    let dir = std::env::temp_dir().join(format!("smsc-sim-hexlog-{}", std::process::id()));
    let log = dir.with_extension("log");
    let _ = std::fs::remove_file(&log);
    let mut cfg = SimConfig::local().with_account("esme", "secret");
    cfg.hex_log = Some(log.clone());
    let h = sim(cfg).await;
    let base = h.http_url().unwrap();
    let _c = Client::bound(h.smpp_addr(), Mode::Trx).await;

    let (_, _, body) = http("GET", &format!("{base}/stats"), None, "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let w = &v["window_occupancy"][0];
    assert!(
        w["bind_id"].is_u64() && w["outstanding"].is_u64() && w["deliver_inflight"].is_u64(),
        "{body}"
    );

    let json = Some("application/json");
    let (s, _, body) = http(
        "POST",
        &format!("{base}/mo"),
        json,
        r#"{"from":"8613800138000","to":"10086","text":"hi"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(h.handsets().is_empty(), "an MO sender became a handset");
    let (_, _, page) = http("GET", &format!("{base}/"), None, "").await;
    assert!(page.contains("id=\"no-phones\""), "{page}");
    assert!(!page.contains("or they send an MO"), "{page}");
    assert!(page.contains("does not make one"), "{page}");

    for from in ["", " "] {
        let body = format!(r#"{{"from":"{from}","to":"*123#","text":"*123#"}}"#);
        let (s, ct, answer) = http("POST", &format!("{base}/ussd"), json, &body).await;
        assert_eq!(s, 400, "{body}: {answer}");
        assert!(error_text(&body, &ct, &answer).contains("from"), "{answer}");
    }
    assert!(h.handsets().is_empty(), "{:?}", h.handsets());

    h.shutdown().await;
    let hex = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let secret_hex: String = b"secret".iter().map(|b| format!("{b:02x}")).collect();
    let esme_hex: String = b"esme".iter().map(|b| format!("{b:02x}")).collect();
    assert!(hex.contains(&esme_hex), "the bind was not logged: {hex}");
    assert!(!hex.to_lowercase().contains(&secret_hex), "{hex}");
}

/// A number in a query string written with an unencoded `+`, as a tester types it into curl
/// (README's Try it: `call?from=+8613800138000`), is read with its `+`, not as the leading
/// space form decoding makes of it.
#[tokio::test]
async fn a_number_with_an_unencoded_plus_in_a_query_keeps_its_plus() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let url = format!("{base}/handsets/+8613900139000/call?from=+8613800138000");
    assert!(
        url.ends_with("from=+8613800138000"),
        "sent unencoded: {url}"
    );
    let (status, _, body) = http("GET", &url, None, "").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["from"], "+8613800138000", "{body}");
    let (status, _, html) = http(
        "GET",
        &format!("{base}/console/handsets/+8613900139000/call?from=+8613800138000"),
        None,
        "",
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("+8613800138000 calling"), "{html}");
    // Encoded, and without a `+`, as before.
    for (from, read) in [("%2B8613800138000", "+8613800138000"), ("10086", "10086")] {
        let (_, _, body) = http(
            "GET",
            &format!("{base}/handsets/+8613900139000/call?from={from}"),
            None,
            "",
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["from"], read, "{body}");
    }
    h.shutdown().await;
}

/// `null` turns every fault off, as the README says of every key: the switches
/// (`ignore_enquire_link`, `outage`...) and `more_errors` too, not only the optional ones
/// (it was a 400 "invalid type: null, expected a boolean"); `null` for an action is as if it
/// were absent. An ESME's enquire_link is answered again once `ignore_enquire_link` is null.
#[tokio::test]
async fn null_turns_every_fault_off() {
    let h = sim(SimConfig::local()).await;
    let url = format!("{}/faults", h.http_url().unwrap());
    let json = Some("application/json");
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (s, _, body) = http(
        "POST",
        &url,
        json,
        r#"{"throttle_per_sec":5,"throttle_global_per_sec":9,"response_delay":10,
            "error":{"status":"0x45","percent":1},
            "more_errors":[{"status":"0x0B","destinations":["8613900139000"]}],
            "drop_after_pdus":50,"ignore_enquire_link":true,"receipt_before_resp":true,
            "duplicate_receipts":true,"refuse_binds":13,"refuse_cancels":88}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let seq = c.next_seq();
    c.send(rusmpp::Command::new(
        CommandStatus::EsmeRok,
        seq,
        rusmpp::Pdu::EnquireLink,
    ))
    .await;
    assert!(
        c.try_read(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "enquire_link answered while ignored"
    );
    let all_null = r#"{"throttle_per_sec":null,"throttle_global_per_sec":null,
        "response_delay":null,"error":null,"more_errors":null,"drop_after_pdus":null,
        "ignore_enquire_link":null,"receipt_before_resp":null,"duplicate_receipts":null,
        "refuse_binds":null,"refuse_cancels":null,"outage":null,
        "clear":null,"drop_now":null,"send_malformed":null,"system_id":null}"#;
    let (s, _, body) = http("POST", &url, json, all_null).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(h.faults(), smsc_sim::Faults::default(), "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["dropped"], 0, "{body}");
    let r = c.request(rusmpp::Pdu::EnquireLink).await;
    assert_eq!(r.id(), rusmpp::CommandId::EnquireLinkResp);
    h.shutdown().await;
}

/// Every endpoint the control API serves is in the README's Control API table, the one the
/// 404 answer points at (the README had no such table: its endpoints were named only here and
/// there, `GET /faults` and `GET /handsets` nowhere).
#[tokio::test]
async fn every_endpoint_is_in_the_readme_table_the_404_points_at() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("\n## Control API\n")
        .nth(1)
        .expect("a Control API section in smsc-sim/README.md")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let json = Some("application/json");
    let mo = r#"{"from":"8613800138000","to":"10658","text":"x"}"#;
    let ussd = r#"{"from":"8613800138000","to":"*123#","text":"*123#"}"#;
    let n = "8613800138000";
    let endpoints: Vec<(&str, &str, String, &str)> = vec![
        ("GET", "/", "/".into(), ""),
        ("GET", "/mt", "/mt?dest=1&since=0".into(), ""),
        ("GET", "/receipts", "/receipts?since=0".into(), ""),
        ("GET", "/deliveries", "/deliveries?since=0".into(), ""),
        ("GET", "/binds", "/binds".into(), ""),
        ("GET", "/stats", "/stats".into(), ""),
        ("GET", "/faults", "/faults".into(), ""),
        ("POST", "/faults", "/faults".into(), "{}"),
        ("POST", "/reset", "/reset".into(), ""),
        ("POST", "/mo", "/mo".into(), mo),
        ("POST", "/ussd", "/ussd".into(), ussd),
        ("GET", "/handsets", "/handsets".into(), ""),
        ("GET", "/handsets/{n}", format!("/handsets/{n}"), ""),
        (
            "GET",
            "/handsets/{n}/call",
            format!("/handsets/{n}/call?from=10658"),
            "",
        ),
        (
            "GET",
            "/console/handsets/{n}",
            format!("/console/handsets/{n}"),
            "",
        ),
        (
            "GET",
            "/console/handsets/{n}/call",
            format!("/console/handsets/{n}/call?from=10658"),
            "",
        ),
    ];
    for (method, path, url, body) in &endpoints {
        assert!(
            table.contains(&format!("`{method} {path}")),
            "`{method} {path}` is not in the README's Control API table"
        );
        let (s, _, answer) = http(method, &format!("{base}{url}"), json, body).await;
        assert_eq!(s, 200, "{method} {url}: {answer}");
    }
    // The avatar endpoint exists: its 404 is about the picture, not the path.
    assert!(table.contains("`GET /handsets/{n}/avatar"));
    let (s, ct, answer) = http(
        "GET",
        &format!("{base}/handsets/{n}/avatar?from=10658"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 404);
    assert!(error_text("avatar", &ct, &answer).contains("avatar"));
    let (s, ct, answer) = http("GET", &format!("{base}/no/such/path"), None, "").await;
    assert_eq!(s, 404);
    let e = error_text("unknown path", &ct, &answer);
    assert!(e.contains("README") && e.contains("Control API"), "{e}");
    h.shutdown().await;
}

/// `/receipts` and `/deliveries` take `since` and `message_id` (a test waits for the receipt
/// of the message it sent, not the whole log); a query key an endpoint does not take is a
/// 400 naming it, on `/mt` too. Before, `/receipts?since=3` answered every receipt and
/// `/mt?dst=1` every record, as if filtered.
#[tokio::test]
async fn receipts_and_deliveries_filter_and_unknown_query_keys_are_refused() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut ids = Vec::new();
    for n in ["8613800138000", "8613900139000"] {
        let r = c.submit(text(n, "receipt please", 1)).await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
        ids.push(common::message_id(&r));
        c.deliver().await;
    }
    let get = |path: String| {
        let base = base.clone();
        async move {
            let (s, ct, body) = http("GET", &format!("{base}{path}"), None, "").await;
            (s, ct, body)
        }
    };
    let list = |body: &str| -> Vec<serde_json::Value> {
        serde_json::from_str::<Vec<serde_json::Value>>(body)
            .unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    let (s, _, body) = get(format!("/receipts?message_id={}", ids[1])).await;
    assert_eq!(s, 200, "{body}");
    let one = list(&body);
    assert_eq!(one.len(), 1, "{body}");
    assert_eq!(one[0]["message_id"], ids[1].as_str(), "{body}");
    let first = one[0]["id"].as_u64().unwrap();
    let (_, _, body) = get(format!("/receipts?since={}", first - 1)).await;
    assert_eq!(list(&body).len(), 1, "{body}");
    assert_eq!(list(&body)[0]["id"], first, "{body}");
    let (_, _, body) = get(format!("/deliveries?since={first}")).await;
    assert!(list(&body).is_empty(), "{body}");
    let (_, _, body) = get("/deliveries?message_id=nosuchid".into()).await;
    assert!(list(&body).is_empty(), "{body}");
    for path in [
        "/receipts?id=1",
        "/deliveries?kind=mo",
        "/mt?dst=8613800138000",
    ] {
        let (s, ct, body) = get(path.into()).await;
        assert_eq!(s, 400, "{path}: {body}");
        let e = error_text(path, &ct, &body);
        let key = path.split(['?', '=']).nth(1).unwrap();
        assert!(e.contains(key), "{path}: {e}");
    }
    h.shutdown().await;
}

/// An error fault's destination that is no number (`""`, `+86 139...`) is refused naming
/// it, as it could never match a destination; it used to be taken, and failed nothing.
#[tokio::test]
async fn an_error_destination_that_is_no_number_is_refused() {
    let h = sim(SimConfig::local()).await;
    let url = format!("{}/faults", h.http_url().unwrap());
    for dest in ["", "+86 13900139000", "86139001390OO"] {
        let body = serde_json::json!({"error": {"status": 69, "destinations": [dest]}});
        let (s, ct, answer) = http("POST", &url, Some("application/json"), &body.to_string()).await;
        assert_eq!(s, 400, "{dest:?}: {answer}");
        let e = error_text(dest, &ct, &answer);
        assert!(
            e.contains("destination") && e.contains(&format!("{dest:?}")),
            "{e}"
        );
    }
    assert_eq!(h.faults(), smsc_sim::Faults::default());
    let body = r#"{"more_errors":[{"status":69,"destinations":["+8613900139000","13900139001"]}]}"#;
    let (s, _, answer) = http("POST", &url, Some("application/json"), body).await;
    assert_eq!(s, 200, "{answer}");
    h.shutdown().await;
}

/// `response_delay` delays the responses the README's row names, and those alone: a
/// submit_sm and a query_sm wait, an enquire_link is answered at once (the row said only
/// "delay responses", and a tester counting on it to time out an ESME's keep-alive waited
/// in vain; the library's doc named four of the six operations).
#[tokio::test]
async fn response_delay_delays_what_the_readme_says_and_not_enquire_link() {
    let readme = include_str!("../README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `response_delay`"))
        .expect("a response_delay row in the README's faults table");
    for op in [
        "submit_sm",
        "submit_multi",
        "data_sm",
        "query_sm",
        "cancel_sm",
        "replace_sm",
        "enquire_link",
    ] {
        assert!(row.contains(&format!("`{op}`")), "{op} not in {row}");
    }
    let h = sim(SimConfig::local()).await;
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    h.set_faults(smsc_sim::Faults {
        response_delay: Some(smsc_sim::Delay::fixed(400)),
        ..Default::default()
    });
    let t = std::time::Instant::now();
    let r = c.request(rusmpp::Pdu::EnquireLink).await;
    assert_eq!(r.id(), rusmpp::CommandId::EnquireLinkResp);
    assert!(t.elapsed().as_millis() < 300, "{:?}", t.elapsed());
    let t = std::time::Instant::now();
    let r = c.submit(text("8613800138000", "slow", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    assert!(t.elapsed().as_millis() >= 350, "{:?}", t.elapsed());
    let id = common::message_id(&r);
    let q = rusmpp::pdus::QuerySm::builder()
        .message_id(rusmpp::types::COctetString::from_string(id).unwrap())
        .source_addr(rusmpp::types::COctetString::from_string("10086".into()).unwrap())
        .build();
    let t = std::time::Instant::now();
    let r = c.request(q).await;
    assert_eq!(r.id(), rusmpp::CommandId::QuerySmResp);
    assert!(t.elapsed().as_millis() >= 350, "{:?}", t.elapsed());
    h.shutdown().await;
}

/// `/mt?dest=` with nothing after it (`smsc-sim mt --dest "$N"` with `N` unset) is a 400
/// saying so: it answered `[]`, which a test reads as "nothing was sent to N".
#[tokio::test]
async fn an_empty_dest_filter_is_refused_not_an_empty_list() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.submit(text("8613800138000", "x", 0)).await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    for q in ["dest=", "dest=%20"] {
        let (s, ct, body) = http("GET", &format!("{base}/mt?{q}"), None, "").await;
        assert_eq!(s, 400, "{q}: {body}");
        let e = error_text(q, &ct, &body);
        assert!(e.contains("dest") && e.contains("empty"), "{e}");
    }
    let (s, _, body) = http("GET", &format!("{base}/mt?dest=13800138000"), None, "").await;
    assert_eq!(s, 200);
    let v: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(v.len(), 1, "{body}");
    h.shutdown().await;
}

/// A mistyped key is refused naming every key `POST /faults` takes, the one-shot actions
/// too: `{"drop_nwo": true}` listed the faults alone, without `drop_now`.
#[tokio::test]
async fn an_unknown_fault_key_lists_the_actions_too() {
    let h = sim(SimConfig::local()).await;
    let url = format!("{}/faults", h.http_url().unwrap());
    let (s, ct, body) = http(
        "POST",
        &url,
        Some("application/json"),
        r#"{"drop_nwo":true}"#,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let e = error_text("drop_nwo", &ct, &body);
    for key in [
        "drop_nwo",
        "throttle_per_sec",
        "outage",
        "clear",
        "drop_now",
        "send_malformed",
        "system_id",
    ] {
        assert!(e.contains(key), "{key} not in {e}");
    }
    h.shutdown().await;
}

/// A malformed PDU the `send_malformed` action writes counts in `/stats`' `sent` (by its
/// command_id) as every PDU written does: `received` counted the ESME's deliver_sm_resp to
/// it while `sent` had no deliver_sm, and the two did not add up.
#[tokio::test]
async fn malformed_pdus_sent_count_in_stats() {
    let h = sim(SimConfig::local()).await;
    let base = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        Some("application/json"),
        r#"{"send_malformed":"receipt_missing_nul"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(c
        .try_read(std::time::Duration::from_secs(2))
        .await
        .is_some());
    let (s, _, body) = http(
        "POST",
        &format!("{base}/faults"),
        Some("application/json"),
        r#"{"send_malformed":"unknown_command"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(c
        .try_read(std::time::Duration::from_secs(2))
        .await
        .is_some());
    let (_, _, body) = http("GET", &format!("{base}/stats"), None, "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["sent"]["deliver_sm"], 1, "{body}");
    assert_eq!(v["sent"]["other"], 1, "{body}");
    h.shutdown().await;
}
