//! The `presence-gw` command line as an operator meets it (issue #8 acceptance): `--help`
//! names every subcommand and every (nested) subcommand's help works; `check-config` accepts
//! the shipped example without printing a secret and rejects broken files naming the key (and
//! the line, for TOML errors); admin commands given an unknown number or a bogus state answer
//! clearly, without a panic. Every run is bounded.

#[allow(dead_code)] // the process helpers only
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any CLI run may take (a debug build on a busy machine).
const LIMIT: Duration = Duration::from_secs(60);

/// What a run of the binary produced.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Fails the test if the binary panicked (Rust exits 101 and prints "panicked").
    fn no_panic(&self, what: &str) {
        assert_ne!(self.code, Some(101), "{what} panicked: {}", self.stderr);
        assert!(
            !self.stderr.contains("panicked"),
            "{what} panicked: {}",
            self.stderr
        );
        assert!(self.code.is_some(), "{what} was killed by a signal");
    }
}

/// Runs `presence-gw args...` in `dir`, bounded by [`LIMIT`] (killed past it).
fn run_in(dir: &Path, args: &[&str]) -> Run {
    run_in_env(dir, args, &[])
}

/// [`run_in`] with these environment variables set.
fn run_in_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args(args)
        .current_dir(dir)
        .env_remove("PRESENCE_GW_API_KEY")
        .env_remove("PRESENCE_GW_SMSC_PASSWORD")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn presence-gw");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(LIMIT) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("presence-gw {args:?} did not finish within {LIMIT:?}");
        }
    };
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A new database at `db`, as the gateway creates it on its first start.
fn create_db(db: &Path) {
    presence_gw::store::Store::open(db, Default::default())
        .unwrap()
        .close_blocking();
}

fn run(args: &[&str]) -> Run {
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// The subcommand names listed under `Commands:` in a clap help text.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn help_lists_every_subcommand_and_each_help_works() {
    let top = run(&["--help"]);
    assert!(top.ok(), "{}", top.stderr);
    let listed = listed_commands(&top.stdout);
    for cmd in [
        "serve",
        "check-config",
        "activity",
        "presets",
        "outbox",
        "subscriber",
        "smsc",
    ] {
        assert!(
            listed.iter().any(|c| c == cmd),
            "{cmd} not listed in --help: {listed:?}\n{}",
            top.stdout
        );
    }
    // The serve flags the README and issue #8 promise.
    for flag in [
        "--config",
        "--smsc",
        "--system-id",
        "--password",
        "--bind-mode",
        "--service-number",
        "--http",
        "--public-url",
        "--api-key",
        "--db",
        "--country-code",
        "--window",
        "--max-rate",
    ] {
        assert!(top.stdout.contains(flag), "{flag} missing from --help");
    }

    // Every subcommand and nested subcommand: help exits 0 and shows its own usage line.
    let cases: [(&[&str], &[&str]); 15] = [
        (&["serve"], &["--smsc", "--public-url"]),
        (&["check-config"], &["[FILE]", "--config"]),
        (&["activity"], &["import"]),
        (&["activity", "import"], &["<FILE>", "--db"]),
        (&["presets"], &["import"]),
        (&["presets", "import"], &["<DIR>", "--db"]),
        (&["outbox"], &["list", "show", "retry", "purge"]),
        (
            &["outbox", "list"],
            &["--state", "--to", "--smsc-id", "--limit"],
        ),
        (&["outbox", "show"], &["<ID>", "--db"]),
        (&["outbox", "retry"], &["--db"]),
        (&["outbox", "purge"], &["--older-than-days"]),
        (&["subscriber"], &["show"]),
        (&["subscriber", "show"], &["<NUMBER>", "--db"]),
        (&["smsc"], &["no-cancel"]),
        (&["smsc", "no-cancel"], &["--forget", "--address", "--db"]),
    ];
    for (path, must) in cases {
        let mut args = path.to_vec();
        args.push("--help");
        let r = run(&args);
        assert!(r.ok(), "{args:?}: exit {:?} {}", r.code, r.stderr);
        let usage = format!("Usage: presence-gw {}", path.join(" "));
        assert!(r.stdout.contains(&usage), "{args:?}:\n{}", r.stdout);
        for m in must {
            assert!(
                r.stdout.contains(m),
                "{args:?} help lacks {m}:\n{}",
                r.stdout
            );
        }
        // A one-line description above the usage.
        assert!(
            r.stdout.lines().next().is_some_and(|l| l.len() > 10),
            "{args:?}:\n{}",
            r.stdout
        );
    }
}

/// The long flags a clap help text lists (`--help` and `--version` aside).
fn listed_flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            // `-h, --help`: the short form first.
            let t = l.trim_start();
            let t = match t.split_once(", ") {
                Some((short, long)) if short.len() == 2 && short.starts_with('-') => long,
                _ => t,
            };
            let name: String = t
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help" && name != "version").then(|| format!("--{name}"))
        })
        .collect()
}

/// The `--flags` written in `text`.
fn written_flags(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("--") {
        rest = &rest[i + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(format!("--{name}"));
        }
    }
    flags
}

/// The subcommand words at the start of `words` (`[serve]` is `serve`; a flag, a placeholder
/// such as `FILE` or `[--state` ends them).
fn command_words(words: &str) -> Vec<String> {
    words
        .split_whitespace()
        .map(|w| w.trim_start_matches('[').trim_end_matches(']'))
        .take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .take_while(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// README.md's command table is what an operator reads before the help: every command it
/// lists has a help of its own, every flag a row writes is in the help of that row's
/// command(s), every subcommand the help lists is in the table, and every flag a help lists
/// is written in the README. (`outbox list --limit` and `outbox purge --older-than-days` were
/// in the help only: "drop old finished ones" said nothing of how old, or of the 30-day
/// default.)
#[test]
fn the_readme_command_table_and_the_help_agree() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `presence-gw "))
        .collect();
    assert!(rows.len() >= 7, "the command table not found: {rows:?}");
    let mut tabled: Vec<Vec<String>> = Vec::new();
    let mut helps: Vec<(Vec<String>, String)> = Vec::new();
    for row in rows {
        // The command column's code: `presence-gw outbox list [--state S] \| retry ... \| purge`.
        let code = row
            .split('`')
            .nth(1)
            .and_then(|c| c.strip_prefix("presence-gw "))
            .unwrap_or_else(|| panic!("no command in {row}"));
        let mut paths: Vec<(Vec<String>, &str)> = Vec::new();
        for (i, part) in code.split("\\|").enumerate() {
            let words = command_words(part);
            let path = match (i, paths.first()) {
                (0, _) | (_, None) => words,
                (_, Some((first, _))) => {
                    let mut p = first[..first.len() - 1].to_vec();
                    p.extend(words);
                    p
                }
            };
            assert!(!path.is_empty(), "no command in {part:?} of {row}");
            paths.push((path, part));
        }
        let mut row_helps = Vec::new();
        for (path, part) in &paths {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push("--help");
            let r = run(&args);
            assert!(
                r.ok(),
                "README's `presence-gw {}`: {}",
                path.join(" "),
                r.stderr
            );
            let usage = format!("Usage: presence-gw {}", path.join(" "));
            assert!(r.stdout.contains(&usage), "{args:?}:\n{}", r.stdout);
            // A flag written with this command is in its help.
            for flag in written_flags(part) {
                assert!(
                    listed_flags(&r.stdout).contains(&flag),
                    "README writes `presence-gw {} {flag}`, which its help does not list:\n{}",
                    path.join(" "),
                    r.stdout
                );
            }
            row_helps.push(r.stdout);
        }
        // A flag written elsewhere in the row is one of the row's commands'.
        for flag in written_flags(row) {
            assert!(
                row_helps.iter().any(|h| listed_flags(h).contains(&flag)),
                "README's row for `presence-gw {code}` writes {flag}, which no help of it lists"
            );
        }
        for ((path, _), help) in paths.into_iter().zip(row_helps) {
            tabled.push(path.clone());
            helps.push((path, help));
        }
    }
    // Every subcommand of the binary is in the table.
    let top = run(&["--help"]);
    assert!(top.ok(), "{}", top.stderr);
    for cmd in listed_commands(&top.stdout) {
        assert!(
            cmd == "help" || tabled.iter().any(|p| p[0] == cmd),
            "`presence-gw {cmd}` is not in README's command table"
        );
    }
    // Every flag a help lists is written in the README.
    helps.push((Vec::new(), top.stdout));
    for (path, help) in helps {
        for flag in listed_flags(&help) {
            assert!(
                readme.contains(&flag),
                "`presence-gw {} --help` lists {flag}, which README.md never writes",
                path.join(" ")
            );
        }
    }
}

#[test]
fn check_config_accepts_the_example_and_masks_secrets() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("presence-gw.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert!(
        text.contains("password = \"secret\""),
        "the example changed"
    );
    let r = run(&["check-config", example.to_str().unwrap()]);
    r.no_panic("check-config example");
    assert!(r.ok(), "example rejected: {}", r.stderr);
    assert!(r.stdout.contains("valid"), "{}", r.stdout);
    assert!(
        r.stdout.contains("password set"),
        "the password is neither shown nor said to be set:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("time zone:       +08:00"),
        "the time zone subscribers' times are in is not shown:\n{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("rows kept 30 days, every page checked at start (check_at_open)"),
        "whether the database is checked at start is not shown:\n{}",
        r.stdout
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("secret"), "the password leaked:\n{all}");

    // Every secret the file can hold, with values that cannot appear by accident.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secrets.toml");
    std::fs::write(
        &f,
        "api_key = \"K3y-0f-the-operator-API-77\"\n[smsc]\naddress = \"10.0.0.1:2775\"\npassword = \"Pw9!x\"\n",
    )
    .unwrap();
    let r = run_in(dir.path(), &["check-config", "secrets.toml"]);
    assert!(r.ok(), "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains("K3y-0f-the-operator-API-77"), "{all}");
    assert!(!all.contains("Pw9!x"), "{all}");
    assert!(
        r.stdout.contains("password set") && r.stdout.contains("operator api:    key set"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("from the environment"), "{}", r.stdout);
    // A password from the environment is said to override the file's (its value is not shown).
    let r = run_in_env(
        dir.path(),
        &["check-config", "secrets.toml"],
        &[("PRESENCE_GW_SMSC_PASSWORD", "Env8pw")],
    );
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("from the environment, over the file: PRESENCE_GW_SMSC_PASSWORD"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Env8pw"), "{}", r.stdout);
}

/// `check-config` says whether the gateway checks the database at start (`[store]
/// check_at_open`): the check delays the bind by seconds on a large database, and the summary
/// left it out.
#[test]
fn check_config_shows_whether_the_database_is_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gw.toml"),
        "[store]\ncheck_at_open = false\n",
    )
    .unwrap();
    let r = run_in(dir.path(), &["check-config", "gw.toml"]);
    r.no_panic("check-config");
    assert!(r.ok(), "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("store:"))
        .unwrap_or_default();
    assert!(
        line.ends_with("not checked at start (check_at_open = false)"),
        "{}",
        r.stdout
    );
}

/// Writes `body` to `dir/name`, runs `check-config` on it, expects a clean refusal.
fn refused(dir: &Path, name: &str, body: &[u8]) -> Run {
    std::fs::write(dir.join(name), body).unwrap();
    let r = run_in(dir, &["check-config", name]);
    r.no_panic(name);
    assert!(
        !r.ok(),
        "{name} accepted:\n{}{}",
        String::from_utf8_lossy(body),
        r.stdout
    );
    assert!(r.stderr.contains("Error"), "{name}: {}", r.stderr);
    r
}

#[test]
fn check_config_rejects_broken_files_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // An unknown key at the top level and inside a section: named, with its line.
    let r = refused(
        d,
        "unknown.toml",
        b"service_number = \"10658\"\nbogus_key = 1\n",
    );
    assert!(r.stderr.contains("bogus_key"), "{}", r.stderr);
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    let r = refused(
        d,
        "typo.toml",
        b"[smsc]\naddress = \"10.0.0.1:2775\"\n\nwindo = 5\n",
    );
    assert!(r.stderr.contains("windo"), "{}", r.stderr);
    assert!(r.stderr.contains("line 4"), "{}", r.stderr);

    // A value of the wrong type: the line and the offending key's text.
    let r = refused(d, "type.toml", b"[avatar]\nsizes = \"big\"\n");
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    assert!(r.stderr.contains("sizes"), "{}", r.stderr);

    // A value out of range: the key named with its section.
    let r = refused(
        d,
        "window.toml",
        b"[smsc]\naddress = \"10.0.0.1:2775\"\npassword = \"pw\"\nwindow = 0\n",
    );
    assert!(r.stderr.contains("smsc.window"), "{}", r.stderr);

    // Not TOML at all, and not even text: a parse error with its line, no panic.
    let r = refused(d, "prose.toml", b"# fine\nthis is { not toml\n");
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    refused(
        d,
        "binary.toml",
        &[0xff, 0xfe, 0x00, 0x89, b'P', b'N', b'G'],
    );

    // A file that is not there.
    let r = run_in(d, &["check-config", "missing.toml"]);
    r.no_panic("missing file");
    assert!(!r.ok());
    assert!(r.stderr.contains("missing.toml"), "{}", r.stderr);
}

/// Issue #8: "unknown keys and bad values are errors that name the key **and line**". A value
/// that parses but fails validation must point at its line too.
/// An operator API key with a space or line break at an end, or a control character, could
/// never match a request (the key a request brings is read without them), so every call was a
/// 403 "wrong API key" though the configured key was sent: refused at load, naming where it
/// came from and never showing it, as a key file holding such a key is.
#[test]
fn an_api_key_no_request_could_match_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, body) in [
        ("trailing.toml", "api_key = \"K3yWithASpaceAtItsEnd \"\n"),
        ("leading.toml", "api_key = \" K3yWithASpaceAtItsStart\"\n"),
        (
            "newline.toml",
            "api_key = \"\"\"K3yWithANewlineAtItsEnd\n\"\"\"\n",
        ),
        ("bell.toml", "api_key = \"K3yWith\\u0007ABellInside\"\n"),
    ] {
        let r = refused(d, name, body.as_bytes());
        assert!(
            r.stderr.contains("invalid value for `api_key`") && r.stderr.contains("line 1"),
            "{name}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("K3yWith"),
            "{name}: the key shown: {}",
            r.stderr
        );
    }
    std::fs::write(d.join("none.toml"), "").unwrap();
    let r = run_in_env(
        d,
        &["check-config", "none.toml"],
        &[("PRESENCE_GW_API_KEY", "K3yFromTheEnvironment\n")],
    );
    assert!(
        !r.ok() && r.stderr.contains("`api_key` (from PRESENCE_GW_API_KEY)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("K3yFrom"), "{}", r.stderr);
    // A space inside the key is read whole (the request's key is everything after `Bearer `).
    std::fs::write(
        d.join("inside.toml"),
        "api_key = \"K3y with spaces inside\"\n",
    )
    .unwrap();
    let r = run_in(d, &["check-config", "inside.toml"]);
    assert!(r.ok(), "{}", r.stderr);
}

#[test]
fn check_config_bad_value_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let r = refused(
        dir.path(),
        "window.toml",
        b"[smsc]\naddress = \"10.0.0.1:2775\"\npassword = \"pw\"\nwindow = 0\n",
    );
    assert!(r.stderr.contains("smsc.window"), "{}", r.stderr);
    assert!(
        r.stderr.contains("line 4"),
        "the error does not say where `window = 0` is: {}",
        r.stderr
    );
}

/// The sample CSVs in `fixtures/csv/` import as their README says: every row of
/// `activity.csv` (numbers in international, national and `0086` form), the good rows of
/// `activity-with-errors.csv` with each bad one named by line and reason; and `subscriber
/// show` of a number that has not texted yet shows the figures imported for it.
#[test]
fn activity_import_of_the_sample_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_db(&d.join("gw.db"));
    let sample = |f: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/csv")
            .join(f)
            .to_string_lossy()
            .into_owned()
    };
    let r = run_in(
        d,
        &[
            "activity",
            "import",
            &sample("activity.csv"),
            "--db",
            "gw.db",
        ],
    );
    assert!(
        r.ok() && r.stdout.contains("imported 5 rows, skipped 0 bad rows"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    let r = run_in(d, &["subscriber", "show", "13700137000", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "+8613700137000 has never used the service\n  \
         activity: 15 call minutes, 350 messages, 30 days, level 0\n"
    );
    // A number with nothing imported and no use: still the one plain sentence.
    let r = run_in(
        d,
        &["subscriber", "show", "+8613100131000", "--db", "gw.db"],
    );
    assert_eq!(r.stdout.trim(), "+8613100131000 has never used the service");

    let errors = sample("activity-with-errors.csv");
    let r = run_in(d, &["activity", "import", &errors, "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("imported 2 rows, skipped 4 bad rows"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    for (line, why) in [
        (3, "is not a phone number"),
        (4, "4 fields, expected 5"),
        (5, "level: \"three\" is not a whole number"),
        (6, "call_minutes: \"-5\" is not a whole number"),
    ] {
        assert!(
            r.stderr.contains(&format!("{errors}:{line}: skipped: "))
                && r.stderr
                    .lines()
                    .any(|l| l.starts_with(&format!("{errors}:{line}:")) && l.contains(why)),
            "line {line}: {}",
            r.stderr
        );
    }
    let r = run_in(
        d,
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"],
    );
    assert!(
        r.stdout
            .contains("activity: 100 call minutes, 100 messages, 100 days, level 3"),
        "{}",
        r.stdout
    );
}

/// Output to a reader that went away (`presence-gw outbox show 1 | true`, a `| head` that had
/// enough) ends the command quietly: before, `outbox show` and `subscriber show` printed with
/// `print!`, which panics on a closed pipe (exit 101, "failed printing to stdout").
#[test]
fn a_show_whose_reader_went_away_ends_without_a_panic() {
    use presence_gw::store::outbox::{self, NewMessage};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = presence_gw::store::Store::open(&d.join("gw.db"), Default::default()).unwrap();
    store
        .write_blocking(|tx| {
            outbox::enqueue(tx, &NewMessage::sms("+8613900139000", "hello"), 1_000)?;
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .unwrap();
    store.close_blocking();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args(["outbox", "show", "1", "--db", "gw.db"])
        .current_dir(d)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A figure no real count reaches (a broken export) is refused with its line, named as too
/// large (it was stored wrapped round: 18446744073709551615 as -1, read as 0), and one at the
/// top of the store's integers no longer breaks `subscriber show` (its sum with the messages
/// counted live was unreadable).
#[test]
fn activity_import_refuses_a_figure_too_large_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_db(&d.join("gw.db"));
    std::fs::write(
        d.join("big.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n\
         13800138001,18446744073709551615,1,1,1\n\
         13800138002,1,9223372036854775807,1,1\n\
         13800138003,1,2,3,99999999999999999999\n\
         13800138004,1000000000000,1,1,1\n",
    )
    .unwrap();
    let r = run_in(d, &["activity", "import", "big.csv", "--db", "gw.db"]);
    r.no_panic("activity import");
    assert!(
        r.ok() && r.stdout.contains("imported 1 rows, skipped 3 bad rows"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    for (line, why) in [
        (
            2,
            "call_minutes: 18446744073709551615 is over the largest figure taken",
        ),
        (
            3,
            "sms_sent: 9223372036854775807 is over the largest figure taken",
        ),
        (
            4,
            "level: 99999999999999999999 is over the largest figure taken",
        ),
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with(&format!("big.csv:{line}: skipped: ")) && l.contains(why)),
            "line {line}: {}",
            r.stderr
        );
    }
    // Refused rows store nothing: the plain sentence, no activity line.
    for number in ["13800138001", "13800138002"] {
        let r = run_in(d, &["subscriber", "show", number, "--db", "gw.db"]);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (
                Some(0),
                format!("+86{number} has never used the service\n").as_str()
            ),
            "{}",
            r.stderr
        );
    }
    let r = run_in(d, &["subscriber", "show", "13800138004", "--db", "gw.db"]);
    assert!(
        r.ok()
            && r.stdout
                .contains("activity: 1000000000000 call minutes, 1 messages"),
        "{} {}",
        r.stdout,
        r.stderr
    );
}

/// `activity import` given a folder (or any file that cannot be read) ends at once with
/// status 1 naming it: counting its lines for the progress bar read it in a loop that never
/// ended, each read failing again ("Is a directory"), and the command hung at full CPU.
#[test]
fn activity_import_of_a_folder_ends_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create_db(&d.join("gw.db"));
    std::fs::create_dir(d.join("exports")).unwrap();
    let r = run_in(d, &["activity", "import", "exports", "--db", "gw.db"]);
    r.no_panic("activity import of a folder");
    assert_eq!(r.code, Some(1), "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("exports") && r.stderr.contains("Is a directory"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("imported"), "{}", r.stdout);
}

#[test]
fn admin_commands_answer_clearly_on_unknowns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // No database yet: inspection commands say so and create nothing.
    let r = run_in(
        d,
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"],
    );
    r.no_panic("subscriber show without a database");
    assert!(
        !r.ok() && r.stderr.contains("no database at gw.db"),
        "{}",
        r.stderr
    );
    assert!(
        !d.join("gw.db").exists(),
        "a read-only command created the database"
    );
    // The gateway creates it (here the store, as the gateway opens it); a header-only CSV
    // imports nothing.
    create_db(&d.join("gw.db"));
    std::fs::write(
        d.join("empty.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n",
    )
    .unwrap();
    let r = run_in(d, &["activity", "import", "empty.csv", "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("imported 0 rows"),
        "{} {}",
        r.stdout,
        r.stderr
    );

    // A number the gateway never saw: a plain sentence, exit 0.
    let r = run_in(
        d,
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"],
    );
    r.no_panic("subscriber show unknown");
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout.contains("+8613500135000") && r.stdout.contains("never"),
        "{}",
        r.stdout
    );
    // National form resolves through the country code to the same subscriber.
    let r = run_in(d, &["subscriber", "show", "13500135000", "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("+8613500135000"),
        "{}",
        r.stdout
    );
    // Not a number: refused, the input quoted.
    let r = run_in(d, &["subscriber", "show", "notanumber", "--db", "gw.db"]);
    r.no_panic("subscriber show notanumber");
    assert!(!r.ok());
    assert!(r.stderr.contains("notanumber"), "{}", r.stderr);

    // A bogus state: refused, listing the valid ones.
    let r = run_in(d, &["outbox", "list", "--state", "bogus", "--db", "gw.db"]);
    r.no_panic("outbox list --state bogus");
    assert!(!r.ok());
    for s in ["queued", "failed", "delivered"] {
        assert!(r.stderr.contains(s), "{}", r.stderr);
    }
    // The valid states work on an empty database, in capitals too (`in-flight` as written
    // with a dash).
    for state in ["failed", "FAILED", "In-Flight"] {
        let r = run_in(d, &["outbox", "list", "--state", state, "--db", "gw.db"]);
        assert!(r.ok(), "{state}: {}", r.stderr);
    }
    // Nothing to retry: said, and no error (a runbook runs it whether anything failed or
    // not; tests/cli.rs `retry_says_why_...` has the rest).
    let r = run_in(d, &["outbox", "retry", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.contains("0 failed"), "{}", r.stdout);
    assert!(r.stdout.contains("no message is failed"), "{}", r.stdout);
    let r = run_in(
        d,
        &[
            "outbox",
            "retry",
            "--id",
            "7",
            "--within-hours",
            "24",
            "--db",
            "gw.db",
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("id 7 not queued again: no such message"),
        "{}",
        r.stderr
    );
    // Ids that are not failed rows (here: no rows at all): each named, not only "0".
    let r = run_in(
        d,
        &["outbox", "retry", "--id", "7", "--id", "9", "--db", "gw.db"],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("2 of the 2 ids given were not queued again"),
        "{}",
        r.stderr
    );
    let r = run_in(d, &["outbox", "purge", "--db", "gw.db"]);
    assert!(r.ok() && r.stdout.contains("0 finished"), "{}", r.stdout);

    // Missing inputs for the importers: an error naming the path, no panic.
    let r = run_in(d, &["activity", "import", "nope.csv", "--db", "gw.db"]);
    r.no_panic("activity import missing");
    assert!(!r.ok() && r.stderr.contains("nope.csv"), "{}", r.stderr);
    let r = run_in(d, &["presets", "import", "no-such-dir", "--db", "gw.db"]);
    r.no_panic("presets import missing");
    assert!(!r.ok() && r.stderr.contains("no-such-dir"), "{}", r.stderr);

    // An unknown subcommand / flag: clap's usage error (exit 2), no panic.
    let r = run_in(d, &["frobnicate"]);
    r.no_panic("unknown subcommand");
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let r = run_in(d, &["outbox", "list", "--colour"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

/// A serve run with `--log-format FORMAT` that logs its first line, then stops at an HTTP
/// address it cannot listen on. Returns its stderr.
fn first_log_lines(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args([
            "--log-format",
            format,
            "serve",
            "--smsc",
            "127.0.0.1:9",
            "--system-id",
            "esme",
            "--password",
            "s3cr3tpw",
            "--db",
            "gw.db",
            "--http",
            "192.0.2.1:8080",
        ])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run presence-gw");
    assert_eq!(out.status.code(), Some(1), "the HTTP address is refused");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("cannot listen for HTTP"), "{stderr}");
    assert!(!stderr.contains("s3cr3tpw"), "{stderr}");
    stderr
}

/// `--log-format json` writes each log line as one JSON object (timestamp, level, message and
/// fields) for a carrier's log pipeline; the bind password is not among them.
#[test]
fn json_log_lines_are_one_object_each() {
    let stderr = first_log_lines("json");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let first = lines
        .first()
        .unwrap_or_else(|| panic!("no JSON line in {stderr}"));
    assert_eq!(first["level"], "INFO", "{first}");
    assert_eq!(
        first["fields"]["message"], "starting the runtime",
        "{first}"
    );
    assert!(first["timestamp"].is_string(), "{first}");
}

/// Text log lines written to a file or a journal (not a terminal) carry no colour codes.
#[test]
fn text_log_lines_off_a_terminal_are_plain() {
    let stderr = first_log_lines("text");
    assert!(stderr.contains("starting the runtime"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "colour codes in {stderr:?}");
}

/// `backup` without a database says so; with one it writes a copy that passes `quick_check`
/// and says where and how big; a second run to the same file is refused, naming why.
/// `smsc no-cancel` lists the SMSCs the gateway remembers to have no cancel_sm (address,
/// account, since when, what they answered), and `--forget` forgets one (`--address`) or all,
/// saying how many; `--address` alone is refused.
#[test]
fn smsc_no_cancel_lists_and_forgets_smscs_without_cancel_sm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("gw.db");
    create_db(&db);
    let r = run_in(d, &["smsc", "no-cancel", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("no SMSC is remembered to have no cancel_sm"),
        "{}",
        r.stdout
    );
    {
        let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
        store
            .write_blocking(|tx| {
                use presence_gw::store::cancel::remember_no_cancel;
                // 2026-12-07 14:00:00 UTC.
                remember_no_cancel(
                    tx,
                    "smsc-a:2775",
                    "gw",
                    "generic_nack ESME_RINVCMDID (0x00000003)",
                    1_796_652_000_000,
                )?;
                remember_no_cancel(
                    tx,
                    "smsc-b:2775",
                    "gw",
                    "ESME_RINVCMDID (0x00000003)",
                    1_796_652_000_000,
                )
            })
            .unwrap();
        store.close_blocking();
    }
    let r = run_in(d, &["smsc", "no-cancel", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "smsc-a:2775  system_id gw  since 2026-12-07 14:00:00 UTC  answered generic_nack \
             ESME_RINVCMDID (0x00000003)"
        ) && r.stdout.contains("smsc-b:2775"),
        "{}",
        r.stdout
    );
    let r = run_in(
        d,
        &[
            "smsc",
            "no-cancel",
            "--address",
            "smsc-a:2775",
            "--db",
            "gw.db",
        ],
    );
    r.no_panic("--address without --forget");
    assert!(!r.ok() && r.stderr.contains("--forget"), "{}", r.stderr);
    let forget = |address: Option<&str>| {
        let mut args = vec!["smsc", "no-cancel", "--forget", "--db", "gw.db"];
        args.extend(address.map(|a| ["--address", a]).into_iter().flatten());
        let r = run_in(d, &args);
        assert!(r.ok(), "{args:?}: {}", r.stderr);
        r.stdout
    };
    // An address no SMSC is remembered at (a typo, the host where the config has its IP) is
    // an error naming the ones that are: it said "forgot 0 SMSCs" and exited 0, and the
    // operator took the SMSC for forgotten.
    let r = run_in(
        d,
        &[
            "smsc",
            "no-cancel",
            "--forget",
            "--address",
            "smsc-c:2775",
            "--db",
            "gw.db",
        ],
    );
    r.no_panic("--forget --address of no remembered SMSC");
    assert_eq!(r.code, Some(1), "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "no SMSC at smsc-c:2775 is remembered to have no cancel_sm (remembered: \
             smsc-a:2775, smsc-b:2775); nothing forgotten"
        ),
        "{}",
        r.stderr
    );
    assert!(forget(Some("smsc-a:2775")).contains("forgot 1 SMSC without cancel_sm"));
    let r = run_in(d, &["smsc", "no-cancel", "--db", "gw.db"]);
    assert!(
        !r.stdout.contains("smsc-a") && r.stdout.contains("smsc-b:2775"),
        "{}",
        r.stdout
    );
    assert!(forget(None).contains("forgot 1 SMSC"));
    let r = run_in(d, &["smsc", "no-cancel", "--db", "gw.db"]);
    assert!(
        r.stdout
            .contains("no SMSC is remembered to have no cancel_sm"),
        "{}",
        r.stdout
    );
}

#[test]
fn backup_writes_a_checked_copy_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = run_in(d, &["backup", "--to", "copy.db", "--db", "gw.db"]);
    r.no_panic("backup without a database");
    assert!(
        !r.ok() && r.stderr.contains("no database at gw.db"),
        "{}",
        r.stderr
    );
    std::fs::write(
        d.join("empty.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n",
    )
    .unwrap();
    create_db(&d.join("gw.db"));
    assert!(run_in(d, &["activity", "import", "empty.csv", "--db", "gw.db"]).ok());
    let r = run_in(d, &["backup", "--to", "copy.db", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout.contains("copy.db") && r.stdout.contains("quick_check ok"),
        "{}",
        r.stdout
    );
    assert!(d.join("copy.db").metadata().unwrap().len() > 0);
    let r = run_in(d, &["backup", "--to", "copy.db", "--db", "gw.db"]);
    r.no_panic("backup over an existing file");
    assert!(!r.ok() && r.stderr.contains("exists"), "{}", r.stderr);
    // Into a folder that is not there: said so, not SQLite's "unable to open database file".
    let r = run_in(d, &["backup", "--to", "nightly/copy.db", "--db", "gw.db"]);
    assert!(
        !r.ok() && r.stderr.contains("the folder nightly does not exist"),
        "{}",
        r.stderr
    );
}

/// The inspection commands read the database and nothing else: a database another build
/// wrote is refused, not upgraded behind the gateway running on it; they read while another
/// process holds the write lock; and they leave the file as it was.
#[test]
fn inspection_commands_never_write_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("empty.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n",
    )
    .unwrap();
    create_db(&d.join("gw.db"));
    assert!(run_in(d, &["activity", "import", "empty.csv", "--db", "gw.db"]).ok());
    let db = d.join("gw.db");
    // One row the SMSC took under id 1A2B3C.
    {
        use presence_gw::store::outbox::{self, AcceptedSegment, Attempt, AttemptEnd, NewMessage};
        let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
        let id = store
            .write_blocking(|tx| outbox::enqueue(tx, &NewMessage::sms("+8613900139000", "x"), 1))
            .unwrap()
            .id;
        store
            .write_blocking(|tx| outbox::claim_due(tx, 2, 1))
            .unwrap();
        let attempts = vec![Attempt {
            outbox_id: id,
            attempt: 1,
            accepted: vec![AcceptedSegment {
                seq: 1,
                total: 1,
                message_id: "1A2B3C".into(),
            }],
            end: AttemptEnd::Submitted,
        }];
        store
            .write_blocking(move |tx| outbox::record_attempts(tx, &attempts, None, 3))
            .unwrap();
        store.close_blocking();
    }
    let r = run_in(d, &["outbox", "list", "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("submitted") && r.stdout.contains("smsc 1/1:1A2B3C"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let version = |c: &rusqlite::Connection| -> i64 {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let conn = rusqlite::Connection::open(&db).unwrap();
    let current = version(&conn);
    // Another process holds the write lock: reading still works at once.
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    for args in [
        &["outbox", "list", "--db", "gw.db"][..],
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"][..],
    ] {
        let r = run_in(d, args);
        assert!(r.ok(), "{args:?}: {}", r.stderr);
    }
    conn.execute_batch("COMMIT").unwrap();
    // As written by an older build: refused, and still at that version afterwards.
    conn.pragma_update(None, "user_version", current - 1)
        .unwrap();
    for args in [
        &["outbox", "list", "--db", "gw.db"][..],
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"][..],
    ] {
        let r = run_in(d, args);
        r.no_panic("inspection of an older database");
        assert!(
            !r.ok() && r.stderr.contains("older than this build"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(
        version(&conn),
        current - 1,
        "an inspection migrated the database"
    );
}

/// One row for [`outbox_rows`]: destination, coalescing key, state, created, changed and next
/// attempt (Unix ms).
type TestRow<'a> = (&'a str, Option<&'a str>, &'a str, i64, i64, i64);

/// Rows for the outbox tests, written as the gateway would (then set to the wanted state and
/// times in SQL): returns their ids in order.
fn outbox_rows(db: &Path, rows: &[TestRow<'_>]) -> Vec<i64> {
    use presence_gw::store::outbox::{self, NewMessage};
    let store = presence_gw::store::Store::open(db, Default::default()).unwrap();
    let mut ids = Vec::new();
    for &(to, key, state, created, changed, next) in rows {
        let mut msg = NewMessage::sms(to, "x");
        msg.coalesce_key = key.map(str::to_string);
        let id = store
            .write_blocking(move |tx| outbox::enqueue(tx, &msg, created))
            .unwrap()
            .id;
        let state = state.to_string();
        store
            .write_blocking(move |tx| {
                tx.execute(
                    "UPDATE outbox SET state = ?2, updated_at = ?3, next_attempt_at = ?4,
                        attempts = 3,
                        last_error = CASE WHEN ?2 IN ('failed', 'delivered') THEN 'EsmeRinvdstadr' END
                     WHERE id = ?1",
                    rusqlite::params![id, state, changed, next],
                )
                .map_err(presence_gw::store::StoreError::from)
            })
            .unwrap();
        ids.push(id);
    }
    store.close_blocking();
    ids
}

/// `outbox retry` while the operator has paused outbound sending (`PUT /api/v1/outbound`)
/// queues the failed rows as always and says they wait for the resume: the pause is in the
/// database, so an operator retrying in a maintenance window is not left wondering why nothing
/// goes. Without a pause nothing of the kind is said.
#[test]
fn retry_while_outbound_is_paused_says_the_rows_wait_for_the_resume() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("gw.db");
    let now = presence_gw::store::now_ms();
    let failed = (
        "+8613900139000",
        None,
        "failed",
        now - 10_000,
        now - 5_000,
        now,
    );
    outbox_rows(&db, &[failed]);
    let r = run_in(d, &["outbox", "retry", "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("1 failed message queued again"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("paused"), "{}", r.stdout);

    outbox_rows(&db, &[failed]);
    let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
    let pause = presence_gw::store::pause::Paused {
        since: now - 60_000,
        note: "SMSC maintenance".into(),
    };
    store
        .write_blocking(move |tx| presence_gw::store::pause::set(tx, Some(&pause)))
        .unwrap();
    store.close_blocking();
    let r = run_in(d, &["outbox", "retry", "--db", "gw.db"]);
    assert!(
        r.ok() && r.stdout.contains("1 failed message queued again"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("outbound sending is paused (since ")
            && r.stdout.contains("\"SMSC maintenance\"")
            && r.stdout.contains("it waits until it resumes"),
        "{}",
        r.stdout
    );
}

/// `outbox retry` of a failed avatar push whose owner set PRIVACY NOBODY (or AVATAR OFF)
/// after it failed does not send it: the row is withdrawn (superseded), the command says why
/// for the id given, and exits 1 as for any id not queued again.
#[test]
fn retry_withdraws_a_failed_avatar_push_its_owner_withdrew_since() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = presence_gw::store::now_ms();
    let hour = 3_600_000;
    let owner = "+8613800138000";
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[
            (
                "+8613900139000",
                None,
                "failed",
                now - hour,
                now - hour,
                now,
            ),
            (
                "+8613700137000",
                None,
                "failed",
                now - hour,
                now - hour,
                now,
            ),
        ],
    );
    let c = rusqlite::Connection::open(d.join("gw.db")).unwrap();
    c.execute(
        "INSERT INTO subscriber (msisdn, privacy, created_at, updated_at)
         VALUES (?1, 'nobody', 0, 0)",
        [owner],
    )
    .unwrap();
    for (id, viewer) in [(ids[0], "+8613900139000"), (ids[1], "+8613700137000")] {
        c.execute(
            "INSERT INTO avatar_push (outbox_id, owner, viewer, avatar_id) VALUES (?1, ?2, ?3, 1)",
            rusqlite::params![id, owner, viewer],
        )
        .unwrap();
    }
    drop(c);
    let r = run_in(
        d,
        &[
            "outbox",
            "retry",
            "--id",
            &ids[0].to_string(),
            "--db",
            "gw.db",
        ],
    );
    r.no_panic("outbox retry");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 failed messages queued again")
            && r.stdout.contains(
                "1 failed avatar push not queued again: the owner set PRIVACY NOBODY or \
                 AVATAR OFF, or the contact left the owner's groups, after it failed, so it is \
                 withdrawn (superseded), not sent"
            ),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "id {} not queued again: it is an avatar push and the owner set PRIVACY NOBODY \
             after it failed, so it is withdrawn (superseded), not sent",
            ids[0]
        )),
        "{}",
        r.stderr
    );
    // A retry of every failed row skips the other one too, says so, and is no error.
    let r = run_in(d, &["outbox", "retry", "--db", "gw.db"]);
    r.no_panic("outbox retry");
    assert!(r.ok(), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 failed avatar push not queued again"),
        "{}",
        r.stdout
    );
    let c = rusqlite::Connection::open(d.join("gw.db")).unwrap();
    let states: Vec<String> = c
        .prepare("SELECT state FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(states, ["superseded", "superseded"]);
}

/// `outbox retry` of a failed avatar push whose owner set PRIVACY NOBODY after it failed, of
/// which the SMSC had already taken a part (a segment with its SMSC id), leaves it failed: not
/// sent again, and not withdrawn (superseded) as if nothing had gone out. The command says so,
/// for the id given (exit 1) and for a retry of every failed row (no error: nothing else is
/// failed). It was withdrawn as one the SMSC never saw.
#[test]
fn retry_leaves_failed_a_withdrawn_avatar_push_the_smsc_took_part_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = presence_gw::store::now_ms();
    let hour = 3_600_000;
    let (owner, contact) = ("+8613800138000", "+8613900139000");
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[(contact, None, "failed", now - hour, now - hour, now)],
    );
    let c = rusqlite::Connection::open(d.join("gw.db")).unwrap();
    c.execute(
        "INSERT INTO subscriber (msisdn, privacy, created_at, updated_at)
         VALUES (?1, 'nobody', 0, 0)",
        [owner],
    )
    .unwrap();
    c.execute(
        "INSERT INTO avatar_push (outbox_id, owner, viewer, avatar_id) VALUES (?1, ?2, ?3, 1)",
        rusqlite::params![ids[0], owner, contact],
    )
    .unwrap();
    c.execute(
        "INSERT INTO outbox_segment (outbox_id, seq, total, smsc_message_id, smsc_message_id_raw,
             attempt, state, submitted_at, updated_at)
         VALUES (?1, 1, 2, '1a2b', '1A2B', 1, 'submitted', ?2, ?2)",
        rusqlite::params![ids[0], now - hour],
    )
    .unwrap();
    drop(c);
    let said = "1 failed avatar push left failed, not queued again: the owner set PRIVACY \
                NOBODY or AVATAR OFF, or the contact left the owner's groups, after it failed, \
                and the SMSC had already taken part of it, so it is not withdrawn either";
    let id = ids[0].to_string();
    let r = run_in(d, &["outbox", "retry", "--id", &id, "--db", "gw.db"]);
    r.no_panic("outbox retry");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 failed messages queued again") && r.stdout.contains(said),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains(&format!(
            "id {id} not queued again: it is an avatar push and the owner set PRIVACY NOBODY \
             after it failed, but the SMSC had already taken part of it, so it stays failed"
        )),
        "{}",
        r.stderr
    );
    let r = run_in(d, &["outbox", "retry", "--db", "gw.db"]);
    r.no_panic("outbox retry");
    assert!(r.ok(), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(said), "{}", r.stdout);
    let c = rusqlite::Connection::open(d.join("gw.db")).unwrap();
    let (state, veto): (String, Option<String>) = c
        .query_row(
            "SELECT state, push_veto FROM outbox WHERE id = ?1",
            [ids[0]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (state.as_str(), veto.as_deref()),
        ("failed", Some("nobody"))
    );
}

/// `outbox retry` that queues nothing again, or not every id it was given, says why for each
/// id and exits 1; one that queues what it was asked exits 0.
#[test]
fn retry_says_why_nothing_was_queued_again_and_exits_1_for_ids_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = presence_gw::store::now_ms();
    let hour = 3_600_000;
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[
            (
                "+8613900139000",
                None,
                "failed",
                now - 5 * hour,
                now - 3 * hour,
                now,
            ),
            (
                "+8613900139001",
                None,
                "delivered",
                now - hour,
                now - hour,
                now,
            ),
            (
                "+8613900139002",
                Some("k"),
                "failed",
                now - 5 * hour,
                now - 3 * hour,
                now,
            ),
            ("+8613900139002", Some("k"), "queued", now, now, now + hour),
            (
                "+8613900139003",
                None,
                "expired",
                now - hour,
                now - hour,
                now,
            ),
        ],
    );
    let (old_failed, delivered, replaced, expired) = (ids[0], ids[1], ids[2], ids[4]);
    let retry = |extra: &[String]| {
        let mut args: Vec<String> = ["outbox", "retry", "--db", "gw.db"]
            .map(String::from)
            .to_vec();
        args.extend_from_slice(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run_in(d, &args);
        r.no_panic("outbox retry");
        r
    };
    let id = |n: i64| ["--id".to_string(), n.to_string()];
    for (args, why) in [
        (
            id(999).to_vec(),
            "id 999 not queued again: no such message".to_string(),
        ),
        (
            id(delivered).to_vec(),
            format!("id {delivered} not queued again: it is delivered, not failed"),
        ),
        (
            id(expired).to_vec(),
            format!("id {expired} not queued again: it is expired, not failed"),
        ),
        (
            [&id(old_failed)[..], &["--within-hours".into(), "2".into()]].concat(),
            format!("id {old_failed} not queued again: it failed at "),
        ),
    ] {
        let r = retry(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("0 failed messages queued again"),
            "{args:?}: {}",
            r.stdout
        );
        assert!(r.stderr.contains(&why), "{args:?}: {}", r.stderr);
    }
    // No id given and none failed lately: nothing to do, said, no error.
    let r = retry(&["--within-hours".to_string(), "2".to_string()]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("none of the 2 failed messages failed within the last 2 hours"),
        "{}",
        r.stdout
    );
    // The one failed row with a newer update to the same contact queued: superseded.
    let r = retry(&id(replaced));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("id {replaced} not queued again: a newer message")),
        "{}",
        r.stderr
    );
    // One of two done: the other named, exit 1.
    let r = retry(&[id(old_failed), id(999)].concat());
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains("1 failed message queued again"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("id 999 not queued again")
            && r.stderr
                .contains("1 of the 2 ids given was not queued again"),
        "{}",
        r.stderr
    );
    // Done as asked: exit 0, nothing on stderr.
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[(
            "+8613900139009",
            None,
            "failed",
            now - hour,
            now - hour,
            now,
        )],
    );
    let r = retry(&id(ids[0]));
    assert!(
        r.ok() && r.stdout.contains("1 failed message queued again"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // A failed row written with a time ahead of this clock (another machine's gateway, or
    // one that failed it while the retry ran) is not taken: named, not passed over silently.
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[("+8613900139010", None, "failed", now, now + hour, now)],
    );
    let r = retry(&id(ids[0]));
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains(&format!("id {} not queued again: it failed at ", ids[0]))
            && r.stderr.contains("after this retry started"),
        "{}",
        r.stderr
    );
    let r = retry(&[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr.contains("failed after the retry started"),
        "{}",
        r.stderr
    );
    // Nothing failed is left: said, no error.
    let purge = |id: i64| {
        let c = rusqlite::Connection::open(d.join("gw.db")).unwrap();
        c.execute("DELETE FROM outbox WHERE id = ?1", [id]).unwrap();
    };
    purge(ids[0]);
    let r = retry(&[]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.contains("no message is failed"), "{}", r.stdout);
}

/// An operator chasing one message finds it by the subscriber's number (`outbox list --to`,
/// any form of the number) or by the id the SMSC gave it (`--smsc-id`, in the SMSC's base or
/// the other, as receipts match), and `outbox show` gives all of it: the text, each segment's
/// SMSC id and receipt, the error. A filter that matches nothing says so; an unknown id is an
/// error.
#[test]
fn outbox_rows_are_found_by_number_and_smsc_id_and_shown_whole() {
    use presence_gw::store::outbox::{self, NewMessage, ReceiptState};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = presence_gw::store::Store::open(&d.join("gw.db"), Default::default()).unwrap();
    // 2026-11-22 06:30:00 UTC.
    let t = 1_795_329_000_000;
    let (mum, dad) = ("+8613900139000", "+8613700137000");
    let long = store
        .write_blocking(move |tx| {
            let id = outbox::enqueue(tx, &NewMessage::sms(mum, "Demo: FAMILY sees BUSY"), t)?.id;
            outbox::claim_due(tx, t, 10)?;
            outbox::record_segment_submitted(tx, id, 1, 2, "1F", t + 1_000)?;
            outbox::record_segment_submitted(tx, id, 2, 2, "20", t + 1_000)?;
            outbox::mark_submitted(tx, id, t + 1_000)?;
            for (smsc_id, stat, state) in [
                ("1f", "DELIVRD", ReceiptState::Delivered),
                ("20", "UNDELIV", ReceiptState::Failed),
            ] {
                outbox::apply_receipt(tx, &[smsc_id.into()], &[], stat, state, t + 5_000)?;
            }
            Ok::<_, presence_gw::store::StoreError>(id)
        })
        .unwrap();
    let to_dad = store
        .write_blocking(move |tx| {
            let id = outbox::enqueue(tx, &NewMessage::sms(dad, "Demo: FAMILY sees FREE"), t)?.id;
            outbox::claim_due(tx, t, 10)?;
            outbox::record_segment_submitted(tx, id, 1, 1, "2A", t + 2_000)?;
            outbox::mark_submitted(tx, id, t + 2_000)?;
            let queued = outbox::enqueue(tx, &NewMessage::sms(mum, "later"), t + 3_000)?.id;
            Ok::<_, presence_gw::store::StoreError>((id, queued))
        })
        .unwrap();
    let (to_dad, queued) = to_dad;
    store.close_blocking();
    let ids_listed = |args: &[&str]| -> Vec<i64> {
        let mut all = vec!["outbox", "list", "--db", "gw.db"];
        all.extend_from_slice(args);
        let r = run_in(d, &all);
        assert!(r.ok(), "{args:?}: {}", r.stderr);
        r.stdout
            .lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    };
    assert_eq!(ids_listed(&["--to", "13900139000"]), [queued, long]);
    assert_eq!(
        ids_listed(&["--to", "+86 139-0013-9000", "--state", "failed"]),
        [long]
    );
    // The SMSC's 0x2A read as decimal 42, and its 1F written as it was never given.
    assert_eq!(ids_listed(&["--smsc-id", "42"]), [to_dad]);
    assert_eq!(ids_listed(&["--smsc-id", "0000001f"]), [long]);
    // As an SMSC's log or a hex dump writes it: the 0x is no part of the id (it matched
    // nothing, "no row matches").
    assert_eq!(ids_listed(&["--smsc-id", "0x1F"]), [long]);
    assert_eq!(ids_listed(&["--smsc-id", "0X2a"]), [to_dad]);
    let r = run_in(
        d,
        &["outbox", "list", "--to", "13500135000", "--db", "gw.db"],
    );
    assert!(
        r.ok() && r.stdout.ends_with("no row matches\n"),
        "{}",
        r.stdout
    );

    let r = run_in(d, &["outbox", "show", &long.to_string(), "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    for part in [
        format!("outbox row {long}: failed sms to {mum}\n"),
        "  created 2026-11-22 06:30:00, last change 2026-11-22 06:30:05".into(),
        "  text: \"Demo: FAMILY sees BUSY\"\n".into(),
        "  segment 1/2: smsc id 1F (try 1), delivered, receipt DELIVRD, submitted 2026-11-22 06:30:01".into(),
        "  segment 2/2: smsc id 20 (try 1), failed, receipt UNDELIV".into(),
        "  last error: ".into(),
    ] {
        assert!(r.stdout.contains(&part), "{part:?} not in:\n{}", r.stdout);
    }
    let r = run_in(d, &["outbox", "show", &queued.to_string(), "--db", "gw.db"]);
    assert!(
        r.stdout.contains("next try 2026-11-22 06:30:03")
            && r.stdout.contains("segments: none submitted"),
        "{}",
        r.stdout
    );
    let r = run_in(d, &["outbox", "show", "999", "--db", "gw.db"]);
    r.no_panic("outbox show of an unknown id");
    assert!(
        !r.ok() && r.stderr.contains("no outbox row 999"),
        "{}",
        r.stderr
    );
}

/// `outbox list` shows when each row was created, last changed and (queued) is next tried,
/// in UTC, under a line of column heads.
#[test]
fn outbox_list_shows_when_rows_were_created_changed_and_are_next_tried() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 2026-11-22 06:30:00 UTC.
    let t = 1_795_329_000_000;
    let ids = outbox_rows(
        &d.join("gw.db"),
        &[
            (
                "+8613900139000",
                None,
                "failed",
                t,
                t + 2 * 3_600_000 + 5_000,
                t,
            ),
            (
                "+8613900139001",
                None,
                "queued",
                t,
                t + 1_000,
                t + 86_400_000,
            ),
            // Failed once, retried by the operator, delivered.
            ("+8613900139002", None, "delivered", t, t + 9_000, t),
        ],
    );
    let r = run_in(d, &["outbox", "list", "--db", "gw.db"]);
    assert!(r.ok(), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("queued 1"), "{}", r.stdout);
    let head = lines[1];
    for col in ["id", "state", "to", "created (UTC)", "changed", "next try"] {
        assert!(head.contains(col), "{head}");
    }
    let row = |id: i64| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no row {id}: {}", r.stdout))
    };
    let failed = row(ids[0]);
    assert!(
        failed.contains("2026-11-22 06:30:00       08:30:05              -  EsmeRinvdstadr"),
        "{failed}"
    );
    let queued = row(ids[1]);
    assert!(
        queued.contains("2026-11-22 06:30:00       06:30:01 11-23 06:30:00"),
        "{queued}"
    );
    // The delivered row's error was its earlier try's, and says so.
    let delivered = row(ids[2]);
    assert!(
        delivered.ends_with("  earlier: EsmeRinvdstadr"),
        "{delivered}"
    );
    assert!(failed.ends_with("  EsmeRinvdstadr"), "{failed}");
    // The columns line up: each time starts where its head does.
    for (col, text) in [
        ("created (UTC)", "2026-11-22"),
        ("next try", "11-23 06:30:00"),
    ] {
        let end = |l: &str, s: &str| l.find(s).map(|i| i + s.len());
        if col == "created (UTC)" {
            assert_eq!(head.find(col), queued.find(text), "{head}\n{queued}");
        } else {
            assert_eq!(end(head, col), end(queued, text), "{head}\n{queued}");
        }
    }
}

/// Flags that would be silently ignored are refused, saying where they belong: serve flags
/// written before a subcommand (`serve`'s own, or another's that has no such flag), and
/// carrier settings with no SMSC to apply them to.
#[test]
fn flags_that_would_be_ignored_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let db = db.to_str().unwrap();
    for (args, want) in [
        (
            vec!["--window", "5", "serve", "--db", db],
            "--window must come after the subcommand",
        ),
        (
            vec!["--smsc", "10.0.0.1:2775", "outbox", "list", "--db", db],
            "--smsc applies only to running the gateway (presence-gw [serve]), not to outbox",
        ),
        (
            vec!["--window", "5", "--db", db],
            "--window only apply to an SMSC",
        ),
        // Secrets typed before the subcommand: a rotated password written there was ignored
        // and the file's old one bound (from the exploratory tester).
        (
            vec!["--password", "new-secret", "serve", "--db", db],
            "--password must come after the subcommand",
        ),
        (
            vec!["--api-key", "new-key", "outbox", "list", "--db", db],
            "--api-key applies only to running the gateway",
        ),
        // A typed password with no SMSC to bind to (the embedded simulator runs instead).
        (
            vec!["serve", "--password", "new-secret", "--db", db],
            "--password only apply to an SMSC",
        ),
    ] {
        let r = run_in(dir.path(), &args);
        r.no_panic("ignored flags");
        assert!(!r.ok(), "{args:?} ran");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("new-secret") && !r.stderr.contains("new-key"),
            "a secret in the error: {}",
            r.stderr
        );
    }
    // The same secrets from the environment are no mistake: they are taken where they apply.
    let r = run_in_env(
        dir.path(),
        &["outbox", "list", "--db", db],
        &[
            ("PRESENCE_GW_SMSC_PASSWORD", "from-env"),
            ("PRESENCE_GW_API_KEY", "from-env"),
        ],
    );
    assert!(
        !r.stderr.contains("--password") && !r.stderr.contains("--api-key"),
        "{}",
        r.stderr
    );
    assert!(
        !dir.path().join("x.db").exists(),
        "no database was created on the way"
    );
}

/// `--config` and `--db` apply to every subcommand: written before it or after it, they are
/// taken (they were refused before it).
#[test]
fn global_options_go_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("gw.toml"), "db = \"from-config.db\"\n").unwrap();
    drop(presence_gw::store::Store::open(&d.join("from-config.db"), Default::default()).unwrap());
    for args in [
        vec!["--config", "gw.toml", "outbox", "list"],
        vec!["outbox", "--config", "gw.toml", "list"],
        vec!["outbox", "list", "--config", "gw.toml"],
        vec!["--db", "from-config.db", "outbox", "list"],
        vec!["--config", "gw.toml", "outbox", "list", "--state", "failed"],
    ] {
        let r = run_in(d, &args);
        r.no_panic("global option");
        assert!(r.ok(), "{args:?}: {}", r.stderr);
        assert!(r.stdout.starts_with("queued 0"), "{args:?}: {}", r.stdout);
    }
    // `--db` before the subcommand overrides the config's `db`, as after it.
    let r = run_in(
        d,
        &[
            "--config",
            "gw.toml",
            "--db",
            "other.db",
            "subscriber",
            "show",
            "13500135000",
        ],
    );
    assert!(
        !r.ok() && r.stderr.contains("no database at other.db"),
        "{}",
        r.stderr
    );
    let r = run_in(
        d,
        &[
            "--db",
            "from-config.db",
            "subscriber",
            "show",
            "13500135000",
        ],
    );
    assert!(r.ok() && r.stdout.contains("never"), "{}", r.stderr);
    // check-config takes its file either way, and refuses two different ones.
    let r = run_in(d, &["--config", "gw.toml", "check-config"]);
    assert!(
        r.ok() && r.stdout.contains("gw.toml is valid"),
        "{}",
        r.stderr
    );
    let r = run_in(d, &["check-config", "gw.toml", "--config", "gw.toml"]);
    assert!(r.ok(), "{}", r.stderr);
    std::fs::write(
        d.join("bad.toml"),
        "[smsc]\naddress = \"10.0.0.1:2775\"\npassword = \"pw\"\nwindow = 0\n",
    )
    .unwrap();
    let r = run_in(d, &["--config", "bad.toml", "check-config", "gw.toml"]);
    assert!(!r.ok() && r.stderr.contains("two files"), "{}", r.stderr);
    // serve reads a config given before it (here one it refuses, so nothing starts).
    for args in [
        vec!["--config", "bad.toml", "serve"],
        vec!["--config", "bad.toml"],
        vec!["serve", "--config", "bad.toml"],
    ] {
        let r = run_in(d, &args);
        r.no_panic("serve with a bad config");
        assert!(
            !r.ok() && r.stderr.contains("smsc.window"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// The README keeps the bind password in `PRESENCE_GW_SMSC_PASSWORD`: a config file without
/// one is checked with it, and the database commands work with it or without it.
#[test]
fn a_config_whose_password_is_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    std::fs::write(
        dir.path().join("gw.toml"),
        format!(
            "db = {:?}\n[smsc]\naddress = \"10.0.0.1:2775\"\n",
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    let r = run_in(dir.path(), &["check-config", "gw.toml"]);
    assert!(!r.ok());
    assert!(
        r.stderr.contains("PRESENCE_GW_SMSC_PASSWORD"),
        "{}",
        r.stderr
    );
    let env = [("PRESENCE_GW_SMSC_PASSWORD", "Pw9!x")];
    let r = run_in_env(dir.path(), &["check-config", "gw.toml"], &env);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.contains("password set") && !r.stdout.contains("Pw9!x"));
    // A database command needs no password at all.
    rusqlite::Connection::open(&db).unwrap();
    let store = presence_gw::store::Store::open(&db, Default::default()).unwrap();
    drop(store);
    let r = run_in(dir.path(), &["outbox", "list", "--config", "gw.toml"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.starts_with("queued 0"), "{}", r.stdout);
}

/// The database commands read no TLS file of `[smsc]`: they never connect, and the files
/// may not be there for them (a client key that systemd's LoadCredential hands the service
/// exists only while it runs, readable only by its user, deploy/README.md). `check-config`,
/// which checks what the gateway will start with, still reads them and names the key.
#[test]
fn database_commands_do_not_read_the_tls_files_check_config_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gw.db");
    let gone = dir.path().join("run/credentials/presence-gw.service");
    std::fs::write(
        dir.path().join("gw.toml"),
        format!(
            "db = {:?}\n[smsc]\naddress = \"10.0.0.1:2775\"\ntls = true\n\
             tls_ca_file = {:?}\ntls_client_cert_file = {:?}\ntls_client_key_file = {:?}\n",
            db.to_str().unwrap(),
            gone.join("ca.pem"),
            gone.join("tls.crt"),
            gone.join("tls.key"),
        ),
    )
    .unwrap();
    create_db(&db);
    let r = run_in(dir.path(), &["outbox", "list", "--config", "gw.toml"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.starts_with("queued 0"), "{}", r.stdout);
    let env = [("PRESENCE_GW_SMSC_PASSWORD", "Pw9!x")];
    let r = run_in_env(dir.path(), &["check-config", "gw.toml"], &env);
    assert!(!r.ok(), "{}", r.stdout);
    assert!(r.stderr.contains("smsc.tls_ca_file"), "{}", r.stderr);
}

/// A bad value given by a flag is named with the flag, not blamed on a line of the file.
#[test]
fn a_bad_flag_value_is_named_with_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gw.toml"),
        "[smsc]\naddress = \"10.0.0.1:2775\"\npassword = \"pw\"\nwindow = 10\n",
    )
    .unwrap();
    let r = run_in(
        dir.path(),
        &["serve", "--config", "gw.toml", "--window", "0"],
    );
    r.no_panic("--window 0");
    assert!(!r.ok());
    assert!(r.stderr.contains("(from --window)"), "{}", r.stderr);
    assert!(!r.stderr.contains("line 4"), "{}", r.stderr);
}

/// A user error is a message, not a crash: with `RUST_BACKTRACE=1` (set in many operations
/// environments to catch panics) it printed a 20-30 line stack trace; and a cause the message
/// already gave is not repeated under "Caused by" (from the exploratory tester).
#[test]
fn errors_print_no_stack_trace_and_no_repeated_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("typo.toml"), "db = \"x.db\"\nwindw = 5\n").unwrap();
    for args in [
        vec!["check-config", "typo.toml"],
        vec!["check-config", "missing.toml"],
        vec!["outbox", "list", "--db", "none.db"],
    ] {
        let r = run_in_env(
            d,
            &args,
            &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
        );
        r.no_panic("user error");
        assert!(!r.ok(), "{args:?} ran");
        assert!(r.stderr.starts_with("Error: "), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("backtrace") && !r.stderr.contains(".rs:"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run_in(d, &["check-config", "missing.toml"]);
    assert!(
        r.stderr.contains("No such file or directory"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("Caused by"), "{}", r.stderr);
}

/// A gateway started with `serve ARGS...` in `dir`, killed (SIGKILL) on drop.
struct Serving {
    child: std::process::Child,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Serving {
    /// Starts `presence-gw serve ARGS...` in `dir` and waits (bounded) for its banner to name
    /// the database, i.e. for the gateway to have started on it. Stderr goes to `log`.
    fn start(dir: &Path, args: &[&str], log: &str) -> Serving {
        let mut child = common::gateway_process(dir, log)
            .arg("serve")
            .args(args)
            .spawn()
            .expect("spawn presence-gw serve");
        let rx = common::stdout_lines(&mut child);
        let serving = Serving { child };
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.trim_start().starts_with("database:") => break,
                Ok(_) => {}
                Err(_) => panic!(
                    "serve {args:?} did not start within 90 s:\n{}",
                    std::fs::read_to_string(dir.join(log)).unwrap_or_default()
                ),
            }
        }
        serving
    }

    /// Still running.
    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Two gateways on one database both sent the queued rows (the second one's start even
/// requeued the first one's rows in flight): the SMSC got duplicates (from the exploratory
/// tester). The second `serve` is refused, naming the database and the first one's pid, and
/// touches nothing; the first keeps running, and the operator's commands work beside it. A
/// gateway killed with `kill -9` leaves its lock file, which does not block the next start.
/// `serve` on a database whose folder this user may not write says so, as README promises
/// for a database it may only read: the lock file beside it cannot be made, and the error
/// was only "cannot lock /x/gw.db.lock: Permission denied" (/sys: no user, root included,
/// creates a file there).
#[test]
fn serve_in_a_folder_it_cannot_write_says_the_folder_must_be_writable() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in_env(
        dir.path(),
        &["serve", "--db", "/sys/gw.db", "--http", "127.0.0.1:0"],
        &[("RUST_LOG", "info")],
    );
    r.no_panic("serve in /sys");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("cannot lock /sys/gw.db.lock")
            && r.stderr
                .contains("the folder /sys must be writable for this user"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("is running"), "{}", r.stdout);
}

#[test]
fn a_second_gateway_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve = ["--db", "gw.db", "--http", "127.0.0.1:0"];
    let mut first = Serving::start(d, &serve, "first.log");

    let second = run_in_env(
        d,
        &["serve", "--db", "gw.db", "--http", "127.0.0.1:0"],
        &[("RUST_LOG", "info")],
    );
    second.no_panic("a second serve");
    assert_eq!(second.code, Some(1), "{}{}", second.stdout, second.stderr);
    let db = std::fs::canonicalize(d.join("gw.db")).unwrap();
    assert!(
        second.stderr.contains(&format!(
            "another gateway (pid {}) is serving the database {}",
            first.child.id(),
            db.display()
        )),
        "{}",
        second.stderr
    );
    // Refused before it did anything: no banner, no requeue, no simulator, no listener.
    assert!(!second.stdout.contains("is running"), "{}", second.stdout);
    assert!(!second.stderr.contains("requeued"), "{}", second.stderr);
    assert!(
        !second.stderr.contains("starting the runtime"),
        "{}",
        second.stderr
    );
    assert!(first.running(), "the first gateway stopped");
    let lock = std::fs::read_to_string(d.join("gw.db.lock")).unwrap();
    assert_eq!(lock.trim(), first.child.id().to_string(), "{lock}");

    // The operator's commands run beside the live gateway.
    std::fs::write(
        d.join("a.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n+8613500135000,10,5,100,1\n",
    )
    .unwrap();
    for args in [
        &["outbox", "list", "--db", "gw.db"][..],
        &["subscriber", "show", "+8613500135000", "--db", "gw.db"][..],
        &["backup", "--to", "copy.db", "--db", "gw.db"][..],
        &["outbox", "retry", "--db", "gw.db"][..],
        &["outbox", "purge", "--db", "gw.db"][..],
        &["activity", "import", "a.csv", "--db", "gw.db"][..],
    ] {
        let r = run_in(d, args);
        assert!(r.ok(), "{args:?} beside a gateway: {}", r.stderr);
    }
    assert!(first.running(), "the first gateway stopped");

    // kill -9: the lock file stays, the lock goes with the process.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(d.join("gw.db.lock").exists());
    let mut again = Serving::start(d, &serve, "again.log");
    assert!(again.running());
    let lock = std::fs::read_to_string(d.join("gw.db.lock")).unwrap();
    assert_eq!(lock.trim(), again.child.id().to_string(), "{lock}");
}

/// `activity import` and `presets import` created a new, empty database where the config's
/// relative `db` pointed from the current directory (or at the default path), and said
/// `imported 1 rows`; even an import that failed on a bad header left one (from the
/// exploratory tester). They now refuse a missing database as the other commands do, naming
/// the absolute path looked at, create nothing, and name the database they wrote to.
#[test]
fn imports_refuse_a_missing_database_and_name_the_one_they_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["run1", "other", "presets2"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("run1/gw.toml"), "db = \"run1/gw.db\"\n").unwrap();
    std::fs::write(
        d.join("other/a.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n+8613500135000,10,5,100,1\n",
    )
    .unwrap();
    std::fs::write(d.join("other/bad.csv"), "who,what\n1,2\n").unwrap();
    let other = d.join("other");
    let looked_at = std::fs::canonicalize(&other).unwrap().join("run1/gw.db");
    for args in [
        &["--config", "../run1/gw.toml", "activity", "import", "a.csv"][..],
        &[
            "--config",
            "../run1/gw.toml",
            "activity",
            "import",
            "bad.csv",
        ][..],
        &[
            "--config",
            "../run1/gw.toml",
            "presets",
            "import",
            "../presets2",
        ][..],
    ] {
        let r = run_in(&other, args);
        r.no_panic("an import without a database");
        assert_eq!(r.code, Some(1), "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("no database at run1/gw.db")
                && r.stderr.contains(&looked_at.display().to_string()),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run_in(&other, &["presets", "import", "../presets2"]);
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no database at data/presence-gw.db"),
        "{}",
        r.stderr
    );
    assert!(!other.join("run1").exists(), "an import created a database");
    assert!(!other.join("data").exists(), "an import created a database");

    // With the database there (from the config's directory), each names where it wrote.
    create_db(&d.join("run1/gw.db"));
    let db = std::fs::canonicalize(d.join("run1/gw.db")).unwrap();
    let r = run_in(
        d,
        &[
            "--config",
            "run1/gw.toml",
            "activity",
            "import",
            "other/a.csv",
        ],
    );
    assert!(
        r.ok()
            && r.stdout.contains(&format!(
                "imported 1 rows, skipped 0 bad rows, into {}",
                db.display()
            )),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let r = run_in(
        d,
        &["--config", "run1/gw.toml", "presets", "import", "presets2"],
    );
    assert!(
        r.ok() && r.stdout.contains(&format!("into {}", db.display())),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

/// A bad secret from the environment was blamed on the file's line (which held a good one) by
/// `check-config`, and on `--password` (never typed) by `serve` (from the exploratory
/// tester). Each names its real source, and never the secret.
#[test]
fn a_bad_secret_is_named_with_the_variable_or_flag_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("cfg")).unwrap();
    // Nothing listens on port 1: a serve that got past its checks would bind nowhere.
    std::fs::write(
        d.join("cfg/t.toml"),
        "api_key = \"0123456789abcdef\"\n[smsc]\naddress = \"127.0.0.1:1\"\npassword = \"okpass\"\n",
    )
    .unwrap();
    let check = ["check-config", "cfg/t.toml"];
    let serve = [
        "serve",
        "--config",
        "cfg/t.toml",
        "--http",
        "127.0.0.1:0",
        "--db",
        "gw.db",
    ];
    for (env, args, source) in [
        (
            ("PRESENCE_GW_SMSC_PASSWORD", "waytoolongpassword"),
            &check[..],
            "PRESENCE_GW_SMSC_PASSWORD",
        ),
        (
            ("PRESENCE_GW_SMSC_PASSWORD", "waytoolongpassword"),
            &serve[..],
            "PRESENCE_GW_SMSC_PASSWORD",
        ),
        (
            ("PRESENCE_GW_API_KEY", "short"),
            &check[..],
            "PRESENCE_GW_API_KEY",
        ),
        (
            ("PRESENCE_GW_API_KEY", "short"),
            &serve[..],
            "PRESENCE_GW_API_KEY",
        ),
        (
            ("PRESENCE_GW_API_KEY", ""),
            &check[..],
            "PRESENCE_GW_API_KEY",
        ),
        (
            ("PRESENCE_GW_API_KEY", ""),
            &serve[..],
            "PRESENCE_GW_API_KEY",
        ),
    ] {
        let r = run_in_env(d, args, &[env]);
        r.no_panic("a bad secret");
        assert_eq!(
            r.code,
            Some(1),
            "{env:?} {args:?}: {}{}",
            r.stdout,
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!("(from {source})")),
            "{env:?} {args:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("line ")
                && !r.stderr.contains("--")
                && !r.stderr.contains("waytoolong"),
            "{env:?} {args:?}: {}",
            r.stderr
        );
    }
    // Typed, the flag is named, whatever the environment holds.
    let mut typed = serve.to_vec();
    typed.extend(["--password", "waytoolongpassword"]);
    let r = run_in_env(d, &typed, &[("PRESENCE_GW_SMSC_PASSWORD", "okpass")]);
    assert!(
        r.code == Some(1) && r.stderr.contains("`smsc.password` (from --password)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("waytoolong"), "{}", r.stderr);
    assert!(
        !d.join("gw.db").exists(),
        "a refused serve created its database"
    );
}

/// `POST path` on `addr` with `Authorization: Bearer key` and an empty JSON body; the
/// response's status code.
fn post_with_key(addr: &str, path: &str, key: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the gateway's HTTP");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
}

/// A wrong API key was only a 403 in `/metrics`: an operator could not tell a client with an
/// old key from someone guessing, nor where either was. It is now a WARN line naming the
/// remote address, method and path, and never the key (not even its start); a burst from one
/// address is one line (the next, 10 s on, says how many were left out).
#[test]
fn a_wrong_api_key_is_logged_with_the_address_and_never_the_key() {
    const KEY: &str = "Rk4vQ-operator-key-8812";
    const GUESS: &str = "Zp9wX-guessed-key-3307";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let addr = common::free_http_addr();
    let serving = Serving::start(
        d,
        &["--db", "gw.db", "--http", &addr, "--api-key", KEY],
        "gw.log",
    );
    for _ in 0..5 {
        assert_eq!(post_with_key(&addr, "/api/v1/events", GUESS), 403);
    }
    // The right key is no refusal (the empty body is a 400).
    assert_eq!(post_with_key(&addr, "/api/v1/events", KEY), 400);
    drop(serving);
    let log = std::fs::read_to_string(d.join("gw.log")).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wrong API key refused"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for the burst:\n{log}");
    let line = lines[0];
    for want in [
        "WARN",
        "remote=127.0.0.1:",
        "method=POST",
        "path=/api/v1/events",
        "suppressed=0",
    ] {
        assert!(line.contains(want), "{want:?} missing: {line}");
    }
    for secret in [KEY, GUESS, &GUESS[..5], &KEY[..5]] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

/// The maintenance commands that write (imports, `outbox retry`, `outbox purge`) do not read
/// every page of the database before they start (`PRAGMA quick_check` took seconds on a
/// multi-GB database for a one-row retry; the gateway checks at its own start): an activity
/// import into a database whose outbox pages are damaged still runs, and the gateway's own
/// open still refuses that database.
#[test]
fn maintenance_commands_do_not_check_the_whole_database_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("gw.db");
    create_db(&db);
    common::damage_table(&db, "outbox");
    std::fs::write(
        d.join("a.csv"),
        "msisdn,call_minutes,sms_sent,tenure_days,level\n+8613500135000,10,5,100,1\n",
    )
    .unwrap();
    let r = run_in(d, &["--db", "gw.db", "activity", "import", "a.csv"]);
    r.no_panic("an import");
    assert!(r.ok(), "{}{}", r.stdout, r.stderr);
    assert!(
        matches!(
            presence_gw::store::Store::open(&db, Default::default()),
            Err(presence_gw::store::StoreError::Damaged { .. })
        ),
        "the gateway's open still checks"
    );
}

/// `api_key_file` as an operator meets it: `check-config` reads the key file as `serve` does
/// and says the key is set and from which file, never the key; a key file that is empty or
/// readable by every user, or one set beside `PRESENCE_GW_API_KEY`, is an error naming the
/// file (or both keys), and `serve` refuses to start on it; the commands that never need the
/// key (`outbox list`) do not read the file at all (a root-only file, a missing one).
#[test]
fn an_api_key_file_is_checked_shown_as_set_and_read_only_by_serve_and_check_config() {
    use std::os::unix::fs::PermissionsExt;
    const KEY: &str = "Fk7-key-from-the-file-0042";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_file = d.join("api_key");
    let write_key = |text: &str, mode: u32| {
        std::fs::write(&key_file, text).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write_key(&format!("{KEY}\n"), 0o640);
    let shown = key_file.display().to_string();
    std::fs::write(
        d.join("gw.toml"),
        format!("db = \"gw.db\"\napi_key_file = {shown:?}\n"),
    )
    .unwrap();
    let r = run_in(d, &["check-config", "gw.toml"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "operator api:    key set (read from api_key_file {shown})"
        )),
        "{}",
        r.stdout
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains(KEY), "{all}");

    // Both ways at once.
    let r = run_in_env(
        d,
        &["check-config", "gw.toml"],
        &[("PRESENCE_GW_API_KEY", "Env-key-0123456789abc")],
    );
    assert!(!r.ok());
    assert!(
        r.stderr.contains(
            "invalid value for `api_key` (from PRESENCE_GW_API_KEY): set together with api_key_file"
        ),
        "{}",
        r.stderr
    );

    // Empty: check-config and serve refuse it, naming the file and why.
    write_key("\n", 0o600);
    let want = format!("gw.toml, line 2: invalid value for `api_key_file`: {shown} is empty");
    for args in [
        &["check-config", "gw.toml"][..],
        &["--config", "gw.toml", "serve", "--http", "127.0.0.1:0"][..],
    ] {
        let r = run_in(d, args);
        r.no_panic("an empty key file");
        assert_eq!(r.code, Some(1), "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&want), "{args:?}: {}", r.stderr);
    }
    assert!(!d.join("gw.db").exists(), "serve opened the database");

    // Readable by every user.
    write_key(KEY, 0o644);
    let r = run_in(d, &["check-config", "gw.toml"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("{shown} is readable by every user (mode 0644)")),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(KEY), "{}", r.stderr);

    // An operator's command never reads it: the file gone, `outbox list` runs.
    std::fs::remove_file(&key_file).unwrap();
    create_db(&d.join("gw.db"));
    let r = run_in(d, &["--config", "gw.toml", "outbox", "list"]);
    assert!(r.ok(), "{}{}", r.stdout, r.stderr);
}
