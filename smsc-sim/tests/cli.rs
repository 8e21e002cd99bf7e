//! The `smsc-sim` binary as a tester types it: what it prints on success and on error.

mod common;

use std::process::{Command, Output};

use smsc_sim::{SimConfig, Simulator};

fn smsc_sim(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smsc-sim"));
    c.args(args).env_remove("SMSC_SIM_URL");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run smsc-sim")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `reset` prints one line saying what it forgot, pending receipts included; its help says
/// that pending receipts are dropped.
#[tokio::test(flavor = "multi_thread")]
async fn reset_prints_what_it_forgot() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let out = tokio::task::spawn_blocking(move || smsc_sim(&["reset", "--url", &url], &[]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("reset: forgot 0 MT records, 0 handsets, 0 pending receipts"),
        "{stdout}"
    );
    let help = text(&smsc_sim(&["reset", "--help"], &[]).stdout);
    assert!(
        help.contains("pending") && help.contains("never sent"),
        "{help}"
    );
    h.shutdown().await;
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An unreachable control API is one error line naming --url, SMSC_SIM_URL and the default,
/// without anyhow's stack trace even with RUST_BACKTRACE=1.
#[test]
fn an_unreachable_api_names_url_and_env_without_a_backtrace() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["stats", "--url", url.as_str()],
        vec!["reset", "--url", url.as_str()],
        vec!["faults", "--url", url.as_str(), "{}"],
    ] {
        let out = smsc_sim(
            &args,
            &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("--url") && err.contains("SMSC_SIM_URL") && err.contains("2776"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("backtrace") && !err.contains("Stack") && err.lines().count() <= 3,
            "{args:?}: {err}"
        );
    }
}

/// A call that fails says which address it tried, what went wrong and what to check: the
/// refusal's cause, a --url that is no http:// URL, an address that is not the control API
/// (here the SMPP port), and the API's own error text for a refused request.
#[tokio::test(flavor = "multi_thread")]
async fn failed_calls_name_the_address_the_cause_and_what_to_check() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let api = h.http_url().unwrap();
    let smpp = format!("http://{}", h.smpp_addr());
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let no_scheme = api.trim_start_matches("http://").to_string();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = smsc_sim(&args, &[]);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            text(&out.stderr)
        })
    };
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let err = run(args(&["stats", "--url", &refused])).await.unwrap();
    assert!(
        err.contains(&refused) && err.to_lowercase().contains("refused"),
        "{err}"
    );
    let err = run(args(&["stats", "--url", &no_scheme])).await.unwrap();
    assert!(
        err.contains(&no_scheme) && err.contains("http://HOST:PORT"),
        "{err}"
    );
    let err = run(args(&["stats", "--url", &smpp])).await.unwrap();
    assert!(
        err.contains(&smpp) && err.contains("not its SMPP port") && err.contains("--url"),
        "{err}"
    );
    let err = run(args(&["faults", "--url", &api, r#"{"throttle":5}"#]))
        .await
        .unwrap();
    assert!(
        err.contains("/faults") && err.contains("400") && err.contains("unknown fault"),
        "{err}"
    );
    h.shutdown().await;
}

/// `--account a:123456789` says the password is too long, not that the form is wrong (and
/// does not echo the password).
#[test]
fn a_long_account_password_is_named_as_the_problem() {
    let out = smsc_sim(&["serve", "--account", "a:123456789"], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("password is 9 characters") && err.contains("at most 8"),
        "{err}"
    );
    assert!(!err.contains("not of the form"), "{err}");
    assert!(!err.contains("123456789"), "the password echoed: {err}");
}

/// `faults --help` lists every fault key and every action.
#[test]
fn faults_help_lists_every_key() {
    let help = text(&smsc_sim(&["faults", "--help"], &[]).stdout);
    let keys = serde_json::to_value(smsc_sim::Faults::default()).unwrap();
    for k in keys.as_object().unwrap().keys() {
        assert!(help.contains(k.as_str()), "faults --help lacks {k}: {help}");
    }
    for action in ["clear", "drop_now", "send_malformed", "system_id"] {
        assert!(
            help.contains(action),
            "faults --help lacks {action}: {help}"
        );
    }
}

/// `receipts`, `deliveries` and `binds` print what GET /receipts, /deliveries and /binds
/// answer: here one bind of system_id "esme" and the receipt sent to it.
#[tokio::test(flavor = "multi_thread")]
async fn receipts_deliveries_and_binds_print_the_api_answers() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let mut c = common::Client::connect(h.smpp_addr()).await;
    assert_eq!(
        c.bind(common::Mode::Trx, "esme", "pw").await,
        rusmpp::CommandStatus::EsmeRok
    );
    let r = c.submit(common::text("8613800138000", "hello", 1)).await;
    let id = common::message_id(&r);
    c.deliver().await;
    let run = |cmd: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || smsc_sim(&[cmd, "--url", &url], &[]))
    };
    for (cmd, wanted) in [
        ("binds", "\"esme\""),
        ("receipts", id.as_str()),
        ("deliveries", "\"receipt\""),
    ] {
        let out = run(cmd).await.unwrap();
        assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{cmd}: {e}: {stdout}"));
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{cmd}: {stdout}");
        assert!(stdout.contains(wanted), "{cmd}: {stdout}");
    }
    h.shutdown().await;
}

/// `serve` given a TLS file it cannot use stops at once, non-zero, with one line naming the
/// flag, the file and what is wrong with it (a missing file, no certificate in it, no private
/// key in it: a certificate given for the key).
#[test]
fn serve_with_an_unusable_tls_file_names_the_flag_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("smsc.crt"), dir.join("smsc.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let missing = dir.join("missing.pem");
    for (cert_arg, key_arg, flag, named, why) in [
        (&missing, &key, "--tls-cert", &missing, "No such file"),
        (&junk, &key, "--tls-cert", &junk, "no PEM certificate"),
        (&cert, &cert, "--tls-key", &cert, "no PEM private key"),
        (&cert, &missing, "--tls-key", &missing, "No such file"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smsc-sim"))
            .args(["serve", "--smpp", "127.0.0.1:0", "--no-http", "--tls-cert"])
            .arg(cert_arg)
            .arg("--tls-key")
            .arg(key_arg)
            .env_remove("RUST_BACKTRACE")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run smsc-sim");
        // Bounded: a simulator that took the files would serve until stopped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{flag} {}: serve started", named.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(&format!("{flag} {}: ", named.display())) && err.contains(why),
            "{flag} {}: {err}",
            named.display()
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
}

/// `faults` without JSON prints the faults in force (GET /faults), as a tester checks what a
/// previous step left on; it used to be a usage error ("required arguments were not
/// provided").
#[tokio::test(flavor = "multi_thread")]
async fn faults_without_json_shows_the_faults_in_force() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    h.try_set_faults(smsc_sim::Faults {
        throttle_per_sec: Some(7),
        ignore_enquire_link: true,
        ..Default::default()
    })
    .unwrap();
    let url = h.http_url().unwrap();
    let out = tokio::task::spawn_blocking(move || smsc_sim(&["faults", "--url", &url], &[]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(v["throttle_per_sec"], 7, "{v}");
    assert_eq!(v["ignore_enquire_link"], true, "{v}");
    assert_eq!(v["outage"], false, "{v}");
    let help = text(&smsc_sim(&["faults", "--help"], &[]).stdout);
    assert!(help.contains("GET /faults"), "{help}");
    h.shutdown().await;
}

/// `receipts --message-id` and `--since` (and `deliveries`') pass their filters to the API.
#[tokio::test(flavor = "multi_thread")]
async fn receipts_take_a_message_id_and_since() {
    use common::{text as sm_text, Client, Mode};
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let mut ids = Vec::new();
    for n in ["8613800138000", "8613900139000"] {
        let r = c.submit(sm_text(n, "receipt please", 1)).await;
        ids.push(common::message_id(&r));
        c.deliver().await;
    }
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = smsc_sim(&args, &[]);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
        })
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let one = run(s(&["receipts", "--url", &url, "--message-id", &ids[0]]))
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["message_id"], ids[0].as_str());
    let after = one[0]["id"].as_u64().unwrap().to_string();
    let rest = run(s(&["deliveries", "--url", &url, "--since", &after]))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0]["message_id"], ids[1].as_str());
    h.shutdown().await;
}

/// A `smsc-sim serve` process of the test's own, its stderr read line by line; killed when
/// dropped (also when the test fails), so no simulator outlives its test.
struct ServeProc {
    child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
    /// Its SMPP address, from its "SMPP on" line.
    smpp: std::net::SocketAddr,
}

impl ServeProc {
    /// Start `smsc-sim serve ARGS` on a free SMPP port, without HTTP, with `envs`
    /// (RUST_LOG removed unless given), and wait for it to listen.
    fn start(args: &[&str], envs: &[(&str, &str)]) -> ServeProc {
        use std::io::BufRead;
        let mut c = Command::new(env!("CARGO_BIN_EXE_smsc-sim"));
        c.args(["serve", "--smpp", "127.0.0.1:0", "--no-http"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn smsc-sim serve");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = ServeProc {
            child,
            stderr: rx,
            seen: Vec::new(),
            smpp: "127.0.0.1:0".parse().expect("addr"),
        };
        let started = p.wait_for("SMPP on ");
        p.smpp = started
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {started:?}"));
        p
    }

    /// The next stderr line holding `what` (within 10 s); fails the test, showing every line
    /// read, when none comes.
    fn wait_for(&mut self, what: &str) -> String {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no stderr line with {what:?} in {:#?}", self.seen);
    }

    /// Stop it and return what it wrote on stdout.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut out);
        }
        out
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log goes to stderr, beside the simulator's "SMPP on" lines (as the gateway's does),
/// with no colour codes when stderr is no terminal (a file, a pipe, a CI log). It went to
/// stdout, with ANSI escapes in every line written to a file.
#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_on_stderr_without_colour_codes_when_redirected() {
    use common::{Client, Mode};
    let mut sim = ServeProc::start(&[], &[("RUST_LOG", "info,pdu=debug")]);
    let mut c = Client::connect(sim.smpp).await;
    assert_eq!(
        c.bind(Mode::Trx, "esme", "secret").await,
        rusmpp::CommandStatus::EsmeRok
    );
    let line = sim.wait_for("BindTransceiver");
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    assert!(line.contains("DEBUG"), "{line}");
    let stdout = sim.stop();
    assert!(stdout.is_empty(), "log lines on stdout: {stdout}");
}

/// `serve` says at its default log level what happens to each connection, as a carrier
/// engineer rehearsing a bind needs to see it: a bind refused and why (a wrong password), a
/// bind taken (system_id, mode), a connection closed and why (the ESME's unbind). It logged
/// none of it (a few closes at DEBUG, nothing of a refused bind at all).
#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_binds_refused_and_taken_and_why_a_connection_closed() {
    use common::{Client, Mode};
    let mut sim = ServeProc::start(&["--account", "esme1:secret"], &[]);
    let mut c = Client::connect(sim.smpp).await;
    assert_eq!(
        c.bind(Mode::Trx, "esme1", "wrong").await,
        rusmpp::CommandStatus::EsmeRinvpaswd
    );
    let refused = sim.wait_for("bind refused");
    assert!(
        refused.contains("wrong password")
            && refused.contains("ESME_RINVPASWD")
            && refused.contains("esme1")
            && !refused.contains("wrong\""),
        "{refused}"
    );
    assert_eq!(
        c.bind(Mode::Trx, "esme1", "secret").await,
        rusmpp::CommandStatus::EsmeRok
    );
    let bound = sim.wait_for(" bound");
    assert!(
        bound.contains("esme1") && bound.contains("transceiver"),
        "{bound}"
    );
    let r = c.request(rusmpp::Pdu::Unbind).await;
    assert_eq!(r.status(), rusmpp::CommandStatus::EsmeRok);
    let closed = sim.wait_for("connection closed");
    assert!(
        closed.contains("unbind from the ESME") && closed.contains("esme1"),
        "{closed}"
    );
    // A connection whose only bind was refused names the system_id it tried.
    let mut c = Client::connect(sim.smpp).await;
    assert_eq!(
        c.bind(Mode::Trx, "esme9", "secret").await,
        rusmpp::CommandStatus::EsmeRinvsysid
    );
    drop(c);
    let closed = sim.wait_for("connection closed");
    assert!(closed.contains("not bound; refused esme9"), "{closed}");
}

/// `send-mo --reference --lost-part` and `send-ussd --op` give the CLI what `POST /mo` and
/// `POST /ussd` take (a lost part, a vendor op): a tester had to hand-write the JSON for them.
#[tokio::test(flavor = "multi_thread")]
async fn send_mo_and_send_ussd_take_what_the_api_takes() {
    use common::{tlv, Client, Mode};
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = smsc_sim(&args, &[]);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        })
    };
    let long = "x".repeat(200);
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let t = run(s(&[
        "send-mo",
        "--url",
        &url,
        "--from",
        "8613800138000",
        "--to",
        "10086",
        "--reference",
        "77",
        "--lost-part",
        "2",
        &long,
    ]))
    .await
    .unwrap();
    assert_eq!(t["lost_parts"], serde_json::json!([2]), "{t}");
    assert_eq!(t["reference"], 77, "{t}");
    let d = c.deliver().await;
    // Part 1 of 2 under reference 77 (UDH 05 00 03 77 02 01); part 2 never comes.
    assert_eq!(&d.short_message().as_ref()[..6], &[5, 0, 3, 77, 2, 1]);
    assert!(c
        .try_read(std::time::Duration::from_millis(300))
        .await
        .is_none());
    let t = run(s(&[
        "send-ussd",
        "--url",
        &url,
        "--from",
        "8613800138000",
        "--to",
        "*123#",
        "--op",
        "0x81",
        "bye",
    ]))
    .await
    .unwrap();
    assert_eq!(t["ussd_service_op"], 0x81, "{t}");
    let d = c.deliver().await;
    match tlv(&d, rusmpp::tlvs::TlvTag::UssdServiceOp) {
        Some(rusmpp::tlvs::TlvValue::UssdServiceOp(op)) => assert_eq!(u8::from(op), 0x81),
        o => panic!("no ussd_service_op: {o:?}"),
    }
    h.shutdown().await;
}

/// The exit statuses the README gives (they were written nowhere): 0 done, 1 refused by the
/// API or a serve that cannot start, 2 a usage error; serve stopped by SIGTERM exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn exit_statuses_are_the_readmes() {
    let readme = include_str!("../README.md");
    assert!(
        readme.contains("exit status: 0 done; 1 the API refused")
            && readme.contains("2 a usage error")
            && readme.contains("SIGTERM it unbinds the bound ESMEs and exits 0"),
        "the README does not give the exit statuses"
    );
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let smpp = h.smpp_addr().to_string();
    let codes = tokio::task::spawn_blocking(move || {
        let code = |args: &[&str]| smsc_sim(args, &[]).status.code();
        [
            code(&["stats", "--url", &url]),
            code(&["faults", "--url", &url, r#"{"x":1}"#]),
            code(&["mt", "--url", &url, "--since", "x"]),
            code(&["serve", "--smpp", &smpp, "--no-http"]),
        ]
    })
    .await
    .unwrap();
    assert_eq!(codes, [Some(0), Some(1), Some(2), Some(1)]);
    // The port taken: said once, with the OS's reason once (it was said twice).
    let smpp = h.smpp_addr().to_string();
    let err = tokio::task::spawn_blocking(move || {
        text(&smsc_sim(&["serve", "--smpp", &smpp, "--no-http"], &[]).stderr)
    })
    .await
    .unwrap();
    assert!(err.contains("cannot listen on"), "{err}");
    assert_eq!(err.matches("Address already in use").count(), 1, "{err}");
    let mut sim = ServeProc::start(&[], &[]);
    let pid = sim.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = sim.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "serve after SIGTERM: {status:?}");
    h.shutdown().await;
}

/// `send-mo` with no ESME bound to take it says so (on stderr; `waiting_for_bind` in the
/// answer): it printed the same answer as a delivered MO, and a tester waited at the ESME
/// for a message queued in the simulator. Bound, no note.
#[tokio::test(flavor = "multi_thread")]
async fn send_mo_says_when_no_bind_takes_it() {
    use common::{Client, Mode};
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let run = |url: String| {
        tokio::task::spawn_blocking(move || {
            let out = smsc_sim(
                &[
                    "send-mo",
                    "--url",
                    &url,
                    "--from",
                    "8613800138000",
                    "--to",
                    "10086",
                    "hi",
                ],
                &[],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (v, text(&out.stderr))
        })
    };
    let (v, err) = run(url.clone()).await.unwrap();
    assert_eq!(v["waiting_for_bind"], true, "{v}");
    assert!(
        err.contains("no bind takes deliveries for 10086") && err.contains("waits"),
        "{err}"
    );
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    c.deliver().await;
    let (v, err) = run(url).await.unwrap();
    assert_eq!(v["waiting_for_bind"], false, "{v}");
    assert!(err.is_empty(), "{err}");
    c.deliver().await;
    h.shutdown().await;
}

/// `handset` of a number nothing has reached (a typo) says so: it printed an empty handset,
/// the same as one whose messages had not come yet, and exited 0 without a word. The JSON
/// holds `known`; a handset that got a message is known, without the note.
#[tokio::test(flavor = "multi_thread")]
async fn handset_notes_a_number_nothing_has_reached() {
    use common::{Client, Mode};
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let mut c = Client::bound(h.smpp_addr(), Mode::Trx).await;
    let r = c.submit(common::text("8613900139000", "hello", 0)).await;
    assert_eq!(r.status(), rusmpp::CommandStatus::EsmeRok);
    h.wait_until(
        "the handset got it",
        std::time::Duration::from_secs(5),
        |h| (!h.handset("8613900139000").inbox.is_empty()).then_some(()),
    )
    .await
    .unwrap();
    let run = |number: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let out = smsc_sim(&["handset", "--url", &url, number], &[]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (v, text(&out.stderr))
        })
    };
    let (v, err) = run("8613900193000").await.unwrap();
    assert_eq!(v["known"], false, "{v}");
    assert!(
        err.contains("no handset 8613900193000") && err.contains("/handsets"),
        "{err}"
    );
    let (v, err) = run("13900139000").await.unwrap();
    assert_eq!(v["known"], true, "{v}");
    assert_eq!(v["inbox"][0]["text"], "hello", "{v}");
    assert!(err.is_empty(), "{err}");
    h.shutdown().await;
}
