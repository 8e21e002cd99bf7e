//! The README's first command as a new user runs it (issue #8 acceptance): the `presence-gw`
//! binary in a fresh working directory (so `./data/` is new), no config file, the embedded
//! simulator. The banner tells where the simulator console and the HTTP server are; two demo
//! handsets text commands through the simulator's control API (`POST /mo`), the members'
//! handsets receive the status update and the avatar WAP Push (and fetch the picture); then
//! the console is walked like a person with a browser: list -> member's phone -> "call from
//! this contact" -> the avatar `<img>`, whose bytes must decode as an image. SIGTERM ends it
//! with exit status 0. Every wait is bounded.

#[allow(dead_code)] // the process helpers only
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEMO: &str = "+8613800138000";
const MUM: &str = "+8613900139000";
const DAD: &str = "+8613700137000";
const COLLEAGUE: &str = "+8613600136000";
/// Start-up of a debug build on a busy 2-core machine, and each later wait.
const START: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(30);

/// The running gateway; killed (SIGKILL) on drop if a check failed before the SIGTERM.
struct Gw {
    child: Child,
    /// `http://host:port` of the simulator's control API / console.
    sim: String,
    /// `http://host:port` of the gateway's HTTP server.
    http: String,
    /// The number subscribers text.
    service: String,
    banner: String,
    http_client: reqwest::Client,
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The text after `label` on the banner line holding it, up to the first whitespace.
fn banner_value(banner: &str, label: &str) -> Option<String> {
    banner
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
}

/// Every value of `attr="..."` in `html`, `&amp;` undone.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let Some(end) = rest.find('"') else { break };
        out.push(rest[..end].replace("&amp;", "&"));
        rest = &rest[end..];
    }
    out
}

fn digits(n: &str) -> String {
    n.chars().filter(char::is_ascii_digit).collect()
}

impl Gw {
    /// Runs the binary in `dir` with `args`, environment free of the gateway's variables,
    /// and waits for the whole banner (including the seeded demo handsets).
    fn start(dir: &Path, args: &[&str]) -> Gw {
        Gw::start_env(dir, args, &[])
    }

    /// [`Gw::start`] with the variables `env` set.
    fn start_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Gw {
        let mut child = common::gateway_process(dir, "stderr.log")
            .args(args)
            .envs(env.iter().copied())
            .spawn()
            .expect("spawn presence-gw");
        let rx = common::stdout_lines(&mut child);
        let deadline = Instant::now() + START;
        let mut banner = String::new();
        while !banner.contains("demo handsets:") {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    banner.push_str(&line);
                    banner.push('\n');
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                    panic!(
                        "no complete banner within {START:?} ({status:?}):\n{banner}\n--- stderr:\n{log}"
                    );
                }
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let sim = banner_value(&banner, "simulator console:")
            .unwrap_or_else(|| panic!("no console URL in\n{banner}"))
            .trim_end_matches('/')
            .to_string();
        let http = banner_value(&banner, "HTTP:")
            .unwrap_or_else(|| panic!("no HTTP address in\n{banner}"));
        let service = banner_value(&banner, "service number:")
            .unwrap_or_else(|| panic!("no service number in\n{banner}"));
        assert!(sim.starts_with("http://127.0.0.1:"), "{sim}");
        assert!(http.starts_with("http://127.0.0.1:"), "{http}");
        Gw {
            child,
            sim,
            http,
            service,
            banner,
            http_client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        let r = self
            .http_client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r
    }

    async fn page(&self, url: &str) -> String {
        let r = self.get(url).await;
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{url}: {ct}");
        r.text().await.unwrap()
    }

    /// `GET /handsets/{n}` of the simulator.
    async fn handset(&self, number: &str) -> Value {
        self.get(&format!("{}/handsets/{}", self.sim, digits(number)))
            .await
            .json()
            .await
            .unwrap()
    }

    fn texts(h: &Value) -> Vec<String> {
        h["inbox"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["text"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Texts the service number as `from` through `POST /mo`.
    async fn text(&self, from: &str, text: &str) {
        let r = self
            .http_client
            .post(format!("{}/mo", self.sim))
            .json(&serde_json::json!({"from": from, "to": self.service, "text": text}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "POST /mo {text}: {}", r.status());
    }

    /// Polls `number`'s handset until `pred` holds (bounded by [`WAIT`]).
    async fn wait_handset(&self, number: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let h = self.handset(number).await;
            if pred(&h) {
                return h;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {WAIT:?}; handset {number}: {h:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Texts `text` as `from` and returns the next message in `from`'s inbox (the reply).
    async fn ask(&self, from: &str, text: &str) -> String {
        let before = Self::texts(&self.handset(from).await).len();
        self.text(from, text).await;
        let h = self
            .wait_handset(from, &format!("reply to {text:?}"), |h| {
                Self::texts(h).len() > before
            })
            .await;
        Self::texts(&h)[before].clone()
    }

    /// SIGTERM, then the exit status (bounded).
    fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// SIGTERM to `child`, then its exit status (bounded by [`WAIT`]).
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {WAIT:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fetched push of `h` whose href contains `/a/`, if the handset fetched it.
fn fetched_avatar_push(h: &Value) -> Option<&Value> {
    h["pushes"].as_array()?.iter().rev().find(|p| {
        p["href"].as_str().is_some_and(|s| s.contains("/a/"))
            && p["fetch"]["state"] == "fetched"
            && p["fetch"]["status"] == 200
    })
}

/// The free local port the OS hands out now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_on_embedded_defaults_texts_calls_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // `cargo run --release` with no flags at all when 8080 is free; otherwise the only change
    // is where HTTP listens (and so the public URL the links carry).
    let port;
    let args: Vec<String> = if std::net::TcpListener::bind("127.0.0.1:8080").is_ok() {
        vec![]
    } else {
        port = free_port();
        vec![
            "--http".into(),
            format!("127.0.0.1:{port}"),
            "--public-url".into(),
            format!("http://127.0.0.1:{port}"),
        ]
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut gw = Gw::start(dir.path(), &args);
    assert!(gw.banner.contains(DEMO) && gw.banner.contains(MUM) && gw.banner.contains(DAD));
    assert!(
        dir.path().join("data/presence-gw.db").is_file(),
        "no ./data/presence-gw.db in the fresh working directory"
    );
    let health = gw
        .http_client
        .get(format!("{}/health", gw.http))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "/health once the demo is seeded");

    // The seeded demo already told the family it is FREE.
    gw.wait_handset(MUM, "seeded FREE update", |h| {
        Gw::texts(h).iter().any(|t| t.contains("FREE"))
    })
    .await;

    // Handset 1 (the demo subscriber) changes what the family sees.
    let reply = gw.ask(DEMO, "STATUS FAMILY BUSY FOR 2H").await;
    assert!(reply.contains("BUSY"), "{reply}");
    for member in [MUM, DAD] {
        let h = gw
            .wait_handset(member, "BUSY update", |h| {
                Gw::texts(h)
                    .iter()
                    .any(|t| t.contains("Demo") && t.contains("BUSY"))
            })
            .await;
        let update = Gw::texts(&h)
            .into_iter()
            .find(|t| t.contains("BUSY"))
            .unwrap();
        assert!(update.contains(DEMO), "{update}");
    }
    // Handset 2 (mum) asks what she may see of the demo subscriber.
    let who = gw.ask(MUM, "WHO 13800138000").await;
    assert!(who.contains("BUSY"), "mum's WHO: {who}");

    // The default presets load in the background on first start, one by one: a list asked
    // for meanwhile may show only the first (seen on a loaded machine).
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let list = gw.ask(DEMO, "AVATARS").await;
        if list.starts_with("Avatars 1/") && list.contains("3 ") {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "presets never listed: last reply {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(list.contains("3 "), "{list}");
    let chosen = gw.ask(DEMO, "AVATAR 3").await;
    assert!(chosen.starts_with("Your avatar is now 3 "), "{chosen}");
    for member in [MUM, DAD] {
        let h = gw
            .wait_handset(member, "avatar push fetched", |h| {
                fetched_avatar_push(h).is_some()
            })
            .await;
        let p = fetched_avatar_push(&h).unwrap();
        assert!(
            p["href"].as_str().unwrap().starts_with(&gw.http),
            "push href {} is not on {}",
            p["href"],
            gw.http
        );
        assert!(p["text"].as_str().unwrap().contains("Demo"), "{p}");
    }

    // The console, like a person: the list, a member's phone, the call link, the picture.
    let list = gw.page(&format!("{}/", gw.sim)).await;
    let phone_link = attr_values(&list, "href")
        .into_iter()
        .find(|l| l.starts_with("/console/handsets/") && l.contains(&digits(MUM)))
        .unwrap_or_else(|| panic!("no link to mum's handset page in {list}"));
    let phone = gw.page(&format!("{}{phone_link}", gw.sim)).await;
    assert!(phone.contains("BUSY"), "{phone}");
    let call_link = attr_values(&phone, "href")
        .into_iter()
        .find(|l| l.contains("/call?from=") && l.contains(&digits(DEMO)))
        .unwrap_or_else(|| panic!("no call link for the demo subscriber in {phone}"));
    let call = gw.page(&format!("{}{call_link}", gw.sim)).await;
    assert!(
        call.contains("Demo"),
        "caller name on the call screen: {call}"
    );
    assert!(
        call.contains("BUSY"),
        "caller status on the call screen: {call}"
    );
    let imgs = attr_values(&call, "src");
    assert_eq!(imgs.len(), 1, "one avatar <img> on {call}");
    let src = if imgs[0].starts_with("http") {
        imgs[0].clone()
    } else {
        format!("{}{}", gw.sim, imgs[0])
    };
    let img = gw.get(&src).await;
    let ct = img.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("image/"), "{src}: {ct}");
    let bytes = img.bytes().await.unwrap();
    let format = image::guess_format(&bytes).expect("avatar magic bytes");
    assert_eq!(
        Some(format),
        image::ImageFormat::from_mime_type(&ct),
        "content type {ct} vs bytes"
    );
    let decoded = image::load_from_memory(&bytes).expect("avatar decodes");
    assert!(decoded.width() >= 48 && decoded.width() == decoded.height());

    // Colleagues were never told about the family-only change.
    let colleague = gw.handset(COLLEAGUE).await;
    assert!(
        !Gw::texts(&colleague).iter().any(|t| t.contains("BUSY")),
        "{colleague:#}"
    );

    let status = gw.terminate();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    assert!(dir.path().join("data/presence-gw.db").is_file());
}

/// `--http` alone (what a user with 8080 taken would type) must not leave the links the
/// handsets receive pointing at the default 8080: the handsets could never fetch them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flag_alone_moves_the_links_too() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut gw = Gw::start(dir.path(), &["--http", &format!("127.0.0.1:{port}")]);
    assert_eq!(gw.http, format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + WAIT;
    while !gw.ask(DEMO, "AVATARS").await.starts_with("Avatars 1/") {
        assert!(Instant::now() < deadline, "presets never listed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Run from a folder without the source tree: the presets are the binary's own.
    let log = loop {
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
        if log.contains("default avatar presets loaded") {
            break log;
        }
        assert!(Instant::now() < deadline, "no presets line in {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        log.contains("from=built-in catalogue") && log.contains("imported=14"),
        "{log}"
    );
    gw.ask(DEMO, "AVATAR 3").await;
    let h = gw
        .wait_handset(MUM, "avatar push", |h| {
            h["pushes"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["fetch"]["state"] != "pending" && p["href"] != "")
            })
        })
        .await;
    let push = &h["pushes"][0];
    let href = push["href"].as_str().unwrap();
    assert!(
        href.starts_with(&format!("{}/a/", gw.http)),
        "with --http 127.0.0.1:{port} and no --public-url the push href is {href}"
    );
    assert_eq!(push["fetch"]["state"], "fetched", "{push}");
    let status = gw.terminate();
    assert!(status.success(), "{status:?}");
}

/// Builds before this one unpacked the built-in presets into `presence-gw-presets-<pid>-<hex>`
/// in the temp directory for the first start's import, and a gateway killed (SIGKILL) during
/// it left the folder there for good. A start now removes such folders whose process is gone,
/// leaving a running process's and anything else alone, and imports the built-in catalogue
/// from memory: no folder of its own appears in the temp directory while it runs (watched
/// every few milliseconds from before the spawn until the import is logged done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_removes_dead_gateways_preset_folders_and_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let dead = {
        let mut gone = Command::new("true").spawn().expect("spawn true");
        gone.wait().unwrap();
        gone.id()
    };
    let mut live = Command::new("sleep")
        .arg("120")
        .spawn()
        .expect("spawn sleep");
    let scratch = |pid: u32| tmp.join(format!("presence-gw-presets-{pid}-00000000deadbeef"));
    let others = [
        tmp.join(format!("presence-gw-presets-{dead}")),
        tmp.join(format!("other-{dead}-00000000deadbeef")),
    ];
    for folder in [scratch(dead), scratch(live.id())].iter().chain(&others) {
        std::fs::create_dir(folder).unwrap();
        std::fs::write(folder.join("01-cat.png"), b"left over").unwrap();
    }
    let planted: Vec<std::ffi::OsString> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    // Anything new in the temp directory while the gateway starts and imports.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (tmp, watching) = (tmp.clone(), watching.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir(&tmp).unwrap().flatten() {
                    if !planted.contains(&e.file_name()) {
                        seen.insert(e.file_name().to_string_lossy().into_owned());
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };
    let mut gw = Gw::start_env(dir.path(), &["--http", "127.0.0.1:0"], &[("TMPDIR", &tmp)]);
    let deadline = Instant::now() + WAIT;
    let log = loop {
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
        if log.contains("default avatar presets loaded") {
            break log;
        }
        assert!(Instant::now() < deadline, "no presets line in {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert!(
        log.contains("from=built-in catalogue") && log.contains("imported=14"),
        "{log}"
    );
    assert!(seen.is_empty(), "made in the temp directory: {seen:?}");
    while scratch(dead).exists() {
        assert!(
            Instant::now() < deadline,
            "a gone process's folder stays\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        scratch(live.id()).exists(),
        "a running process's folder went"
    );
    for other in &others {
        assert!(other.exists(), "{} went", other.display());
    }
    let status = gw.terminate();
    assert!(status.success(), "{status:?}");
    let _ = live.kill();
    let _ = live.wait();
}

/// With `--log-format json` every line a log pipeline takes is one JSON object: the banner
/// (and the demo handsets' lines) became log events, not text on stdout (which `2>&1` under
/// docker or systemd mixes into the log stream; from the exploratory tester).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logging_prints_no_text_banner() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args([
            "--log-format",
            "json",
            "--http",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(dir.path())
        .env_remove("PRESENCE_GW_API_KEY")
        .env_remove("PRESENCE_GW_SMSC_PASSWORD")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("stderr.log")).unwrap(),
        ))
        .spawn()
        .expect("spawn presence-gw");
    let deadline = Instant::now() + START;
    let stderr = loop {
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        if log.contains("demo handsets seeded") {
            break log;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the gateway exited ({status:?}): {log}");
        }
        assert!(
            Instant::now() < deadline,
            "no demo event within {START:?}: {log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let stdout = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    assert_eq!(stdout, "", "text on stdout with JSON logging");
    let running: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "presence-gw is running")
        .collect();
    assert_eq!(running.len(), 1, "{stderr}");
    assert_eq!(
        running[0]["fields"]["http"],
        format!("127.0.0.1:{port}"),
        "{}",
        running[0]
    );
}

/// A gateway whose stdout and stderr readers went away (a log shipper that died, `| head`)
/// keeps serving, its output lost. It printed its banner with `println!`, which panics on a
/// closed pipe: the gateway died at its next line (and an operator saw it spin, never bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_output_pipes_closed_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("PRESENCE_GW_API_KEY")
        .env_remove("PRESENCE_GW_SMSC_PASSWORD")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn presence-gw");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + START;
    let mut last = String::new();
    while !last.contains("\"bound\"") {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the gateway exited ({status:?}); last /health: {last}");
        }
        assert!(
            Instant::now() < deadline,
            "not bound within {START:?}: {last}"
        );
        if let Ok(r) = client.get(&health).send().await {
            last = r.text().await.unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The banner's last lines and the demo's come after the bind: still serving after them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the gateway exited after binding"
    );
    let r = client.get(&health).send().await.expect("/health answers");
    assert_eq!(r.status(), 200);
    let mut gw_child = child;
    let kill = Command::new("kill")
        .args(["-TERM", &gw_child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = gw_child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "no exit within {WAIT:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

/// A SIGTERM soon after the start (a service manager stopping a gateway it just started, a
/// user's Ctrl-C while the demo handsets are seeded) killed the process: the handlers were
/// installed only after the banner and the demo, so the signal's default action ended it,
/// with no graceful stop. Sent as the banner names the database (the demo's texts still to
/// come), it is now a graceful stop: exit 0, "gateway stopped" logged.
#[test]
fn a_stop_signal_during_the_start_is_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    /// Killed (SIGKILL) on drop if still running (a failed check).
    struct Running(Child);
    impl Drop for Running {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let mut running = Running(
        common::gateway_process(dir.path(), "stderr.log")
            .args(["--http", "127.0.0.1:0"])
            .spawn()
            .expect("spawn presence-gw"),
    );
    let child = &mut running.0;
    let rx = common::stdout_lines(child);
    let deadline = Instant::now() + START;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.trim_start().starts_with("database:") => break,
            Ok(_) => {}
            Err(_) => panic!("no banner within {START:?}"),
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let status = terminate(child);
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{log}");
    assert!(log.contains("gateway stopped"), "{log}");
}

/// A socket standing in for systemd's `NOTIFY_SOCKET` in `dir`: what the gateway tells it.
fn notify_socket(dir: &Path) -> (std::os::unix::net::UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the notify socket");
    (sock, path)
}

/// The next message on `sock` within `within`, trimmed; `None` if none came.
fn next_notice(sock: &std::os::unix::net::UnixDatagram, within: Duration) -> Option<String> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

/// With no SMSC configured (the embedded simulator) under `Type=notify`, the gateway tells
/// systemd `READY=1` once HTTP answers (`/health` is served when READY arrives, ready or still
/// binding) and
/// `STOPPING=1` at SIGTERM, then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_simulator_start_tells_systemd_ready_once_http_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = notify_socket(dir.path());
    let mut child = common::gateway_process(dir.path(), "stderr.log")
        .args(["--http", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &path)
        .spawn()
        .expect("spawn presence-gw");
    let rx = common::stdout_lines(&mut child);
    let log = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    let ready = next_notice(&sock, START);
    if ready.as_deref() != Some("READY=1") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no READY=1 within {START:?} (got {ready:?})\n{}", log());
    }
    // The banner went out before READY: the HTTP address is in it.
    let mut banner = String::new();
    while let Ok(line) = rx.recv_timeout(WAIT) {
        banner.push_str(&line);
        banner.push('\n');
        if banner.contains("HTTP:") {
            break;
        }
    }
    std::thread::spawn(move || while rx.recv().is_ok() {});
    let http = banner_value(&banner, "HTTP:").unwrap_or_else(|| panic!("no HTTP in\n{banner}"));
    let health = reqwest::get(format!("{http}/health")).await;
    let status = terminate(&mut child);
    // Served: READY says the gateway started, not that it is bound yet (an SMSC still being
    // bound to is "starting", 503; that is the link's to wait for, not a failed start).
    let health = health.unwrap_or_else(|e| panic!("/health after READY: {e}"));
    let code = health.status().as_u16();
    let body: serde_json::Value = health.json().await.expect("/health answers JSON");
    assert!(
        code == 200 || (code == 503 && body["status"] == "starting"),
        "{code} {body}"
    );
    assert_eq!(
        next_notice(&sock, WAIT).as_deref(),
        Some("STOPPING=1"),
        "{}",
        log()
    );
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}\n{}",
        log()
    );
}

/// An HTTP address the gateway cannot listen on (taken by another process) is a failed start:
/// a non-zero exit and no `READY=1`, so systemd reports the unit failed (and restarts it)
/// instead of taking it for up.
#[test]
fn a_gateway_that_cannot_listen_for_http_never_tells_systemd_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, path) = notify_socket(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut child = common::gateway_process(dir.path(), "stderr.log")
        .args(["--http", &addr])
        .env("NOTIFY_SOCKET", &path)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn presence-gw");
    let deadline = Instant::now() + START;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {START:?} after a failed HTTP bind");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(!status.success(), "{status:?}\n{log}");
    assert!(log.contains("cannot listen for HTTP"), "{log}");
    assert_eq!(
        next_notice(&sock, Duration::from_millis(300)),
        None,
        "told systemd something after a failed start"
    );
    drop(taken);
}

/// A stop on the first start, while the default presets were still being imported, exited
/// only once the import had rendered every picture: seconds after the log said "gateway
/// stopped" (the import runs on tokio's blocking pool, which the runtime waits for at exit).
/// The import now stops before its next picture and the stop waits for that, so the process
/// exits promptly and "gateway stopped" is its last line. The catalogue here is a folder of
/// 42 pictures (`fixtures/presets` in the working directory, the default `presets_dir`): its
/// import takes ten seconds or more in a debug build, which the old stop waited out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_the_first_preset_import_exits_promptly() {
    /// Bound on SIGTERM -> exit: nothing is in flight, so the stop is the unbind, one picture
    /// and the store's close (well under a second unloaded).
    const STOP_WITHIN: Duration = Duration::from_secs(5);
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/presets");
    let presets = dir.path().join("fixtures/presets");
    std::fs::create_dir_all(&presets).unwrap();
    let mut pictures: Vec<_> = std::fs::read_dir(&shipped)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|e| e == "md" || e == "csv"))
        .collect();
    pictures.sort();
    for copy in 0..3 {
        for (i, p) in pictures.iter().enumerate() {
            let id = copy * pictures.len() + i + 1;
            let ext = p.extension().unwrap().to_string_lossy();
            std::fs::copy(p, presets.join(format!("{id:02}-picture.{ext}"))).unwrap();
        }
    }
    let mut gw = Gw::start(dir.path(), &["--http", "127.0.0.1:0"]);
    let log = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(
        !log().contains("default avatar presets"),
        "the import ended before the stop: nothing to measure\n{}",
        log()
    );
    let asked = Instant::now();
    let status = gw.terminate();
    let took = asked.elapsed();
    let log = log();
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{log}");
    assert!(
        took < STOP_WITHIN,
        "exit {took:?} after SIGTERM (bound {STOP_WITHIN:?})\n{log}"
    );
    assert!(
        log.contains("default avatar presets: import stopped by the gateway's stop"),
        "{log}"
    );
    // Nothing after "gateway stopped": the import did not go on against a closed store.
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("gateway stopped"), "last line: {last}\n{log}");
    assert!(!log.contains("the store is closed"), "{log}");
}

/// The words of one shell command line as the shell splits them (single and double quotes,
/// backslash continuations already joined), and its trailing `# comment`.
fn shell_words(line: &str) -> (Vec<String>, String) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, '#') if word.is_none() => return (words, line[i + 1..].trim().to_string()),
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    (words, String::new())
}

/// What the README's comment on a request promises its answer shows: the update named as it
/// says (`named "Demo (+86...)"`), the picture on a call, the USSD menu; `Ok` when the
/// comment promises none of these.
fn promised(comment: &str, answer: &str) -> Result<(), String> {
    let json: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    if let Some(name) = comment.split("named \"").nth(1) {
        let name = name.split('"').next().unwrap_or_default();
        let name = name.split("...").next().unwrap_or_default();
        if !Gw::texts(&json).iter().any(|t| t.contains(name)) {
            return Err(format!("no message naming {name:?}"));
        }
    }
    if comment.contains("picture") && !json["avatar_sha256"].is_string() {
        return Err("no picture".into());
    }
    if comment.contains("USSD menu")
        && !json["ussd"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["text"].as_str().is_some_and(|t| !t.is_empty()))
        })
    {
        return Err("no USSD menu".into());
    }
    Ok(())
}

/// README's "Try it" block as a reader runs it, literally: every `curl` of it (method, URL
/// with `$SIM` the simulator the banner names, headers, body) against a fresh gateway on its
/// embedded defaults, in order, and what each line's comment promises is in its answer
/// (a GET is asked again until it is, as a reader would, for at most [`WAIT`]). The block
/// said `curl ... $SIM/ussd ...  # the USSD menu`, whose answer is the simulator's receipt of
/// the dial (`{"record_ids":...}`): the menu is on the handset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_try_it_block_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = readme
        .split("## Try it")
        .nth(1)
        .and_then(|s| s.split("```sh").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README's Try it block");
    let mut lines = Vec::new();
    let mut line = String::new();
    for l in block.lines() {
        match l.trim_end().strip_suffix('\\') {
            Some(start) => line.push_str(start),
            None => {
                line.push_str(l);
                lines.push(std::mem::take(&mut line));
            }
        }
    }
    // The other tests of this file may hold 8080 (and the simulator's ports: the gateway
    // then takes free ones, which the banner names).
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Gw::start(
        dir.path(),
        &["--http", &format!("127.0.0.1:{}", free_port())],
    );
    // A reader reads the banner first: the default presets are loaded meanwhile.
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(dir.path().join("stderr.log"))
        .unwrap_or_default()
        .contains("default avatar presets loaded")
    {
        assert!(Instant::now() < deadline, "the presets never loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut requests = 0;
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let (words, comment) = shell_words(line);
        let Some(command) = words.first() else {
            continue;
        };
        if let Some(sim) = command.strip_prefix("SIM=") {
            assert!(sim.starts_with("http://127.0.0.1:"), "{line}");
            continue;
        }
        // `open $SIM/`: the console, in a browser.
        let browse = command == "open";
        assert!(
            browse || command == "curl",
            "a command this test does not know: {line}"
        );
        let mut url = None;
        let mut headers = Vec::new();
        let mut body = None;
        let mut args = words[1..].iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "-s" => {}
                "-H" => headers.push(args.next().expect("-H value").clone()),
                "-d" => body = Some(args.next().expect("-d value").clone()),
                a if a.starts_with("$SIM") => url = Some(a.replacen("$SIM", &gw.sim, 1)),
                a => panic!("an argument this test does not know: {a} in {line}"),
            }
        }
        let url = url.unwrap_or_else(|| panic!("no URL in {line}"));
        requests += 1;
        let deadline = Instant::now() + WAIT;
        loop {
            let mut r = match &body {
                Some(b) => gw.http_client.post(&url).body(b.clone()),
                None => gw.http_client.get(&url),
            };
            for h in &headers {
                let (k, v) = h.split_once(':').expect("header");
                r = r.header(k.trim(), v.trim());
            }
            let r = r.send().await.unwrap_or_else(|e| panic!("{line}: {e}"));
            let status = r.status();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            let answer = r.text().await.unwrap();
            assert!(status.is_success(), "{line}: {status} {answer}");
            if browse {
                assert!(ct.is_some_and(|c| c.starts_with("text/html")), "{line}");
                break;
            }
            match promised(&comment, &answer) {
                Ok(()) => break,
                // A POST is sent once: its answer is what the reader sees.
                Err(e) if body.is_some() || Instant::now() > deadline => {
                    panic!("README: `{line}`: {e} in the answer {answer}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    assert!(
        requests >= 6,
        "only {requests} requests in README's Try it block"
    );
    let status = gw.terminate();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}
