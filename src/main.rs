//! `presence-gw`: the gateway binary. `presence-gw` (or `presence-gw serve`) runs the gateway;
//! with no SMSC configured it starts the bundled smsc-sim in-process so it works on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::config::{Config, Secret, SmscConfig};
use presence_gw::smpp::BindMode;
use tracing::{info, warn};

/// `println!` that never panics: a gateway whose stdout reader went away (a log shipper that
/// died, `| head`) keeps running, its output lost, instead of dying at its next line.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// [`out!`] for stderr.
macro_rules! err_out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// mimalloc for Rust and, through its `override` feature, for SQLite's C allocations: the
/// store writer spent a fifth of its time in glibc malloc/free (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Presence and caller-avatar gateway for feature phones (SMPP 3.4 ESME).
#[derive(Debug, Parser)]
#[command(name = "presence-gw", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    serve: ServeArgs,
    /// Log lines on stderr as text, or as one JSON object per line (for a log pipeline).
    /// Levels as `RUST_LOG` says (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: timestamp, level, target, message and fields.
    Json,
}

/// Start logging to stderr in `format`.
fn init_logging(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, not_as_given) = presence_gw::logging::filter(rust_log.as_deref());
    let spec = match (&rust_log, &not_as_given) {
        (Some(s), None) if !s.trim().is_empty() => s.trim().to_string(),
        _ => presence_gw::logging::DEFAULT_FILTER.to_string(),
    };
    // Colours only on a terminal: a journal or a log file gets plain text.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    presence_gw::logging::init(filter, spec, format == LogFormat::Json, colours);
    if let Some(why) = not_as_given {
        warn!("{why}");
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Load and validate a config file, then print it with secrets masked.
    CheckConfig {
        /// The TOML file to check (or give it with --config).
        file: Option<PathBuf>,
    },
    /// Account activity for the avatar upload thresholds.
    #[command(subcommand)]
    Activity(ActivityCmd),
    /// The operator's avatar catalogue.
    #[command(subcommand)]
    Presets(PresetsCmd),
    /// The outbound queue: list by state, retry failed messages, purge old ones.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Subscribers: show one (groups, statuses, avatar, opt-outs, activity).
    #[command(subcommand)]
    Subscriber(SubscriberCmd),
    /// The SMSCs: what the gateway remembers of them (those without cancel_sm).
    #[command(subcommand)]
    Smsc(SmscCmd),
    /// Write a consistent copy of the database to a new file, also while the gateway runs.
    Backup {
        /// The copy to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
}

impl Command {
    /// The subcommand as typed.
    fn name(&self) -> &'static str {
        match self {
            Command::Serve(_) => "serve",
            Command::CheckConfig { .. } => "check-config",
            Command::Activity(_) => "activity",
            Command::Presets(_) => "presets",
            Command::Outbox(_) => "outbox",
            Command::Subscriber(_) => "subscriber",
            Command::Smsc(_) => "smsc",
            Command::Backup { .. } => "backup",
        }
    }
}

/// The options every subcommand takes, before or after it (`presence-gw --config f.toml
/// outbox list` or `presence-gw outbox list --config f.toml`): the config file, and where the
/// database is (`--db`, else the config's `db`, else the default).
#[derive(Debug, Clone, Default, clap::Args)]
struct DbArgs {
    /// TOML config file (see presence-gw.example.toml): what serve runs by; the other
    /// commands take its `db`, `country_code` and `[store]` settings.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// SQLite database file (overrides the config).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
}

impl DbArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => {
                let text = Config::read_text(p)?;
                let mut cfg = Config::parse_toml(&text, p)?;
                let from_env = cfg.apply_env_secrets();
                // These commands do not bind: a password kept elsewhere is no error here, nor
                // are TLS files they never read (a client key handed to the service by
                // systemd's LoadCredential exists only while the service runs, and only the
                // service's user may read it; deploy/README.md).
                if let Some(s) = cfg.smsc.as_mut() {
                    if s.password.expose().is_empty() {
                        s.password = Secret::new("unused");
                    }
                    s.tls = false;
                    s.tls_ca_file.clear();
                    s.tls_server_name.clear();
                    s.tls_server_names.clear();
                    s.tls_client_cert_file.clear();
                    s.tls_client_key_file.clear();
                }
                cfg.validate_with(Some((&text, p)), &from_env)?;
                cfg
            }
            None => Config::default(),
        };
        if let Some(db) = &self.db {
            cfg.db = db.clone();
        }
        Ok(cfg)
    }

    /// The config, refusing a database that does not exist (inspection, maintenance, backup,
    /// imports): only the gateway creates one. A relative `db` is taken from the current
    /// directory, so the message names the absolute path too (a config run from another
    /// directory looks elsewhere).
    fn existing(&self) -> anyhow::Result<Config> {
        let cfg = self.config()?;
        if !cfg.db.exists() {
            let resolved = if cfg.db.is_absolute() {
                String::new()
            } else {
                format!(
                    " ({}: a relative `db` is taken from the current directory)",
                    absolute(&cfg.db).display()
                )
            };
            anyhow::bail!(
                "no database at {}{resolved}; give --db or --config (the gateway creates it on \
                 first start)",
                cfg.db.display()
            );
        }
        Ok(cfg)
    }

    /// Open an existing database to write (maintenance commands and imports); refuses one
    /// that does not exist.
    fn open(&self) -> anyhow::Result<(Config, presence_gw::store::Store)> {
        let cfg = self.existing()?;
        // No whole-file check: a quick `outbox retry` on a multi-GB database would read every
        // page first (seconds), and the gateway checks at its own start.
        let opts = presence_gw::store::StoreOptions {
            check_at_open: false,
            ..cfg.store_options()
        };
        let store = presence_gw::store::Store::open(&cfg.db, opts)
            .with_context(|| format!("opening {}", cfg.db.display()))?;
        Ok((cfg, store))
    }

    /// Open an existing database read-only, for inspection: nothing is written, no migration
    /// runs (see `store::open_read_only`).
    fn inspect(&self) -> anyhow::Result<(Config, rusqlite::Connection)> {
        let cfg = self.existing()?;
        let conn = presence_gw::store::open_read_only(&cfg.db, cfg.store_options().busy_timeout)
            .with_context(|| format!("opening {} to read", cfg.db.display()))?;
        Ok((cfg, conn))
    }
}

/// `path` made absolute (resolved through links when it exists), for the lines that tell an
/// operator which database a command used.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

#[derive(Debug, Subcommand)]
enum ActivityCmd {
    /// Import `msisdn,call_minutes,sms_sent,tenure_days,level` rows (bad rows are reported
    /// with their line numbers and skipped; re-importing a file is harmless).
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PresetsCmd {
    /// Import every picture in DIR (JPEG, PNG, GIF, BMP, WebP). `03-owl.png` becomes preset 3
    /// "Owl"; files without a number get the next free one. An optional DIR/titles.csv
    /// (`preset,title,title_zh`) gives English and Chinese titles. Re-importing replaces by id.
    Import {
        /// The folder.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCmd {
    /// Newest rows first, optionally of one state (queued, in_flight, submitted, delivered,
    /// failed, expired, superseded).
    List {
        /// Only this state.
        #[arg(long)]
        state: Option<String>,
        /// Only messages to this number (national or international; read newest first).
        #[arg(long, value_name = "NUMBER")]
        to: Option<String>,
        /// Only the message the SMSC gave this id (as in its records or receipts; hex or
        /// decimal).
        #[arg(long, value_name = "ID")]
        smsc_id: Option<String>,
        /// Most rows shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Everything about one row: text or link, times, each segment's SMSC id and receipt, a
    /// pending cancel, the last error.
    Show {
        /// The row's id (as `outbox list` shows it).
        id: i64,
    },
    /// Put failed rows back in the queue with fresh attempts: every one, or those asked for.
    Retry {
        /// Only this row (repeatable; the ids `outbox list --state failed` shows).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<i64>,
        /// Only rows that failed within the last N hours.
        #[arg(long, value_name = "N")]
        within_hours: Option<u64>,
    },
    /// Delete finished rows (delivered, failed, expired, superseded) older than N days.
    Purge {
        /// Age in days.
        #[arg(long, default_value_t = 30)]
        older_than_days: u64,
    },
}

#[derive(Debug, Subcommand)]
enum SmscCmd {
    /// List the SMSCs remembered to have no cancel_sm (they answered one ESME_RINVCMDID or
    /// generic_nack; none is sent to them for [smsc] no_cancel_memory_hours), or forget them.
    NoCancel {
        /// Forget them (every one, or the one --address names): the gateway tries cancel_sm
        /// there again at its next cancel, also while it runs.
        #[arg(long)]
        forget: bool,
        /// Only this SMSC (its host:port as configured), with --forget.
        #[arg(long, value_name = "HOST:PORT", requires = "forget")]
        address: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SubscriberCmd {
    /// Everything the gateway holds about one number.
    Show {
        /// The number (national or international).
        number: String,
    },
}

fn activity(cmd: ActivityCmd, db: &DbArgs) -> anyhow::Result<()> {
    let ActivityCmd::Import { file } = cmd;
    let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    // Before the database: a file that cannot be read (a folder) is named at once.
    let lines = count_lines(&file)
        .with_context(|| format!("reading {}", file.display()))?
        .saturating_sub(1);
    let (cfg, store) = db.open()?;
    let bar = indicatif::ProgressBar::new(lines);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = presence_gw::admin::import_activity_csv(&store, f, &cfg.country_code, |n| {
        bar.set_position(n)
    })?;
    bar.finish();
    for b in &report.bad {
        err_out!("{}:{}: skipped: {}", file.display(), b.line, b.reason);
    }
    out!(
        "imported {} rows, skipped {} bad rows, into {}",
        report.imported,
        report.bad.len(),
        absolute(&cfg.db).display()
    );
    store.close_blocking();
    Ok(())
}

/// The lines of the file at `path` (a last one without its newline counted too), or the error
/// of the first read that fails: `BufRead::lines` yields a failed read as one more item and
/// reads again, so counting it never ended on a file every read of which fails (a folder).
fn count_lines(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::BufRead as _;
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let buf = r.fill_buf()?;
        let Some(&end) = buf.last() else {
            return Ok(lines + u64::from(last != b'\n'));
        };
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        last = end;
        let n = buf.len();
        r.consume(n);
    }
}

fn presets(cmd: PresetsCmd, db: &DbArgs) -> anyhow::Result<()> {
    let PresetsCmd::Import { dir } = cmd;
    let (cfg, store) = db.open()?;
    let report = presence_gw::admin::import_presets(&store, &dir, &cfg.avatar_config())
        .with_context(|| format!("reading {}", dir.display()))?;
    for (id, title, file) in &report.imported {
        let zh = title.zh.as_deref().unwrap_or("-");
        out!("{id:>4}  {:<20} {zh}  {file}", title.en);
    }
    for (file, why) in &report.refused {
        err_out!("{file}: skipped: {why}");
    }
    for warning in &report.warnings {
        err_out!("warning: {warning}");
    }
    let (n, skipped) = (report.imported.len(), report.refused.len());
    out!(
        "imported {n} preset{}, skipped {skipped} file{}, into {}",
        if n == 1 { "" } else { "s" },
        if skipped == 1 { "" } else { "s" },
        absolute(&cfg.db).display()
    );
    store.close_blocking();
    Ok(())
}

fn outbox(cmd: OutboxCmd, db: &DbArgs) -> anyhow::Result<()> {
    use presence_gw::store::outbox::{self, OutboxState};
    match cmd {
        OutboxCmd::List {
            state,
            to,
            smsc_id,
            limit,
        } => {
            let state = state
                // As typed or in capitals (`--state FAILED`); `in-flight` as `in_flight`.
                .map(|s| OutboxState::parse(&s.trim().to_ascii_lowercase().replace('-', "_")))
                .transpose()
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--state must be queued, in_flight, submitted, delivered, failed, expired or superseded"
                    )
                })?;
            let (cfg, conn) = db.inspect()?;
            let destination = to
                .map(|n| {
                    presence_gw::command::Msisdn::parse(&n, &cfg.country_code)
                        .map(|m| m.as_str().to_string())
                        .with_context(|| format!("--to {n:?}"))
                })
                .transpose()?;
            let filter = outbox::ListFilter {
                state,
                destination,
                smsc_message_id: smsc_id,
            };
            // One snapshot: the counts and the rows agree even while a gateway writes.
            let snapshot = conn.unchecked_transaction()?;
            let counts = outbox::counts_by_state(&snapshot)?;
            let line: Vec<String> = OutboxState::ALL
                .iter()
                .map(|s| format!("{} {}", s.as_str(), counts.get(*s)))
                .collect();
            out!("{}", line.join(", "));
            let rows = outbox::list_matching(&snapshot, &filter, limit)?;
            if !rows.is_empty() {
                out!("{}", presence_gw::admin::outbox_header());
            } else if filter.destination.is_some() || filter.smsc_message_id.is_some() {
                out!("no row matches");
            }
            for r in rows {
                let segments = outbox::segments(&snapshot, r.id)?;
                out!("{}", presence_gw::admin::outbox_line(&r, &segments));
            }
        }
        OutboxCmd::Show { id } => {
            let (_, conn) = db.inspect()?;
            let snapshot = conn.unchecked_transaction()?;
            match presence_gw::admin::outbox_detail(&snapshot, id)? {
                Some(text) => out!("{}", text.strip_suffix('\n').unwrap_or(&text)),
                None => anyhow::bail!("no outbox row {id}"),
            }
        }
        OutboxCmd::Retry { ids, within_hours } => {
            let (cfg, store) = db.open()?;
            let now = presence_gw::store::now_ms();
            let validity_ms = i64::try_from(cfg.delivery.validity_secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            let filter = outbox::RetryFilter {
                valid_until: (validity_ms > 0).then(|| now.saturating_add(validity_ms)),
                ids,
                failed_since: within_hours.map(|h| {
                    now.saturating_sub(
                        i64::try_from(h)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(3_600_000),
                    )
                }),
                failed_before: None,
            };
            let asked = filter
                .ids
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len();
            let report = presence_gw::admin::retry_failed_explained(
                &store,
                &filter,
                now,
                presence_gw::admin::RETRY_BATCH,
            );
            // Rows queued again wait while the operator has paused outbound sending.
            let paused = store.read_blocking(presence_gw::store::pause::get);
            store.close_blocking();
            let report = report?;
            let n = report.queued;
            out!(
                "{n} failed message{} queued again",
                if n == 1 { "" } else { "s" }
            );
            if let (true, Ok(Some(p))) = (n > 0, &paused) {
                out!(
                    "outbound sending is paused (since {} UTC{}): {} wait{} until it resumes \
                     (PUT /api/v1/outbound {{\"paused\": false}})",
                    presence_gw::service::clock::Zone::UTC.timestamp(p.since),
                    if p.note.is_empty() {
                        String::new()
                    } else {
                        format!(", {:?}", p.note)
                    },
                    if n == 1 { "it" } else { "they" },
                    if n == 1 { "s" } else { "" }
                );
            }
            // Said whether ids were given or not: a withdrawn push is never sent.
            if report.withdrawn > 0 {
                out!(
                    "{} failed avatar push{} not queued again: the owner set PRIVACY NOBODY or \
                     AVATAR OFF, or the contact left the owner's groups, after {} failed, so {} \
                     withdrawn (superseded), not sent",
                    report.withdrawn,
                    if report.withdrawn == 1 { "" } else { "es" },
                    if report.withdrawn == 1 { "it" } else { "they" },
                    if report.withdrawn == 1 {
                        "it is"
                    } else {
                        "they are"
                    }
                );
            }
            if report.left_failed > 0 {
                let one = report.left_failed == 1;
                out!(
                    "{} failed avatar push{} left failed, not queued again: the owner set \
                     PRIVACY NOBODY or AVATAR OFF, or the contact left the owner's groups, after \
                     {} failed, and the SMSC had already taken part of {}, so {} not withdrawn \
                     either (see `outbox list --state failed`)",
                    report.left_failed,
                    if one { "" } else { "es" },
                    if one { "it" } else { "they" },
                    if one { "it" } else { "them" },
                    if one { "it is" } else { "they are" }
                );
            }
            for (id, why) in &report.not_retried {
                err_out!("id {id} not queued again: {why}");
            }
            // Asked for and not done: an error (exit 1), as when nothing matched at all.
            let missed = report.not_retried.len();
            if missed > 0 {
                anyhow::bail!(
                    "{missed} of the {asked} id{} given {} not queued again (see `outbox list \
                     --state failed`)",
                    if asked == 1 { "" } else { "s" },
                    if missed == 1 { "was" } else { "were" }
                );
            }
            // Nothing to do for a retry of every failed row (or of those of the last hours) is
            // no error: a runbook or a cron job runs it whether anything failed or not.
            if n == 0 {
                // The pushes left failed are said above: the other failed rows.
                let left = report
                    .failed_left
                    .saturating_sub(u64::try_from(report.left_failed).unwrap_or(u64::MAX));
                match (left, within_hours) {
                    // Said above.
                    (0, _) if report.withdrawn > 0 || report.left_failed > 0 => {}
                    _ if report.superseded > 0 => out!(
                        "nothing to queue again: newer messages with the same keys are queued, \
                         so the {} failed message{} taken {} now superseded",
                        report.superseded,
                        if report.superseded == 1 { "" } else { "s" },
                        if report.superseded == 1 { "is" } else { "are" }
                    ),
                    (0, _) => out!("nothing to queue again: no message is failed"),
                    (left, Some(h)) => out!(
                        "nothing to queue again: none of the {left} failed message{} failed \
                         within the last {h} hour{}",
                        if left == 1 { "" } else { "s" },
                        if h == 1 { "" } else { "s" }
                    ),
                    // Failed rows left and none taken: a running gateway failed them after
                    // the retry started.
                    (left, None) => anyhow::bail!(
                        "nothing to queue again: the {left} failed message{} failed after the \
                         retry started",
                        if left == 1 { "" } else { "s" }
                    ),
                }
            }
        }
        OutboxCmd::Purge { older_than_days } => {
            let (_, store) = db.open()?;
            let now = presence_gw::store::now_ms();
            let age = i64::try_from(older_than_days)
                .ok()
                .and_then(|d| d.checked_mul(86_400_000))
                .ok_or_else(|| {
                    anyhow::anyhow!("--older-than-days {older_than_days} is too large")
                })?;
            let cutoff = now.saturating_sub(age);
            let n = presence_gw::admin::purge_outbox(&store, cutoff, now, outbox::PURGE_BATCH)?;
            out!("{n} finished messages purged");
            store.close_blocking();
        }
    }
    Ok(())
}

fn backup(to: &std::path::Path, db: &DbArgs) -> anyhow::Result<()> {
    let cfg = db.existing()?;
    let b = presence_gw::store::backup(&cfg.db, to, cfg.store_options().busy_timeout)?;
    out!(
        "{} -> {}: {} bytes, schema version {}, quick_check ok",
        cfg.db.display(),
        to.display(),
        b.bytes,
        b.schema_version
    );
    Ok(())
}

fn smsc(cmd: SmscCmd, db: &DbArgs) -> anyhow::Result<()> {
    let SmscCmd::NoCancel { forget, address } = cmd;
    if forget {
        let (cfg, store) = db.open()?;
        let asked = address.clone();
        let written = store.write_blocking(move |tx| {
            use presence_gw::store::cancel::{forget_no_cancel, no_cancel_list};
            let n = forget_no_cancel(tx, address.as_deref())?;
            // The addresses remembered, for an --address that named none of them.
            let left = match (n, &address) {
                (0, Some(_)) => no_cancel_list(tx)?,
                _ => Vec::new(),
            };
            Ok::<_, presence_gw::store::StoreError>((n, left))
        });
        store.close_blocking();
        let (forgotten, left) = written?;
        // An address that names no remembered SMSC (a typo, a host name where the config
        // has the IP) is an error, as an `outbox retry --id` that matched nothing is: "forgot
        // 0" read as done.
        if let (0, Some(a)) = (forgotten, &asked) {
            let mut known: Vec<String> = left.into_iter().map(|n| n.smsc).collect();
            known.dedup();
            let known = if known.is_empty() {
                "none is".to_string()
            } else {
                format!("remembered: {}", known.join(", "))
            };
            anyhow::bail!(
                "no SMSC at {a} is remembered to have no cancel_sm ({known}); nothing forgotten \
                 (give --address as `presence-gw smsc no-cancel` lists it)"
            );
        }
        out!(
            "forgot {forgotten} SMSC{} without cancel_sm, in {}",
            if forgotten == 1 { "" } else { "s" },
            absolute(&cfg.db).display()
        );
        return Ok(());
    }
    let (_, conn) = db.inspect()?;
    let known = presence_gw::store::cancel::no_cancel_list(&conn)?;
    if known.is_empty() {
        out!("no SMSC is remembered to have no cancel_sm");
    }
    for n in known {
        let (y, mo, d, h, mi, sec) = presence_gw::service::clock::utc_fields(n.since);
        out!(
            "{}  system_id {}  since {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02} UTC  answered {}",
            n.smsc,
            n.system_id,
            n.answer
        );
    }
    Ok(())
}

fn subscriber(cmd: SubscriberCmd, db: &DbArgs) -> anyhow::Result<()> {
    let SubscriberCmd::Show { number } = cmd;
    let (cfg, conn) = db.inspect()?;
    let m = presence_gw::command::Msisdn::parse(&number, &cfg.country_code)
        .with_context(|| format!("{number:?}"))?;
    let snapshot = conn.unchecked_transaction()?;
    match presence_gw::admin::subscriber_summary(&snapshot, m.as_str())? {
        Some(text) => out!("{}", text.strip_suffix('\n').unwrap_or(&text)),
        None => out!("{} has never used the service", m.as_str()),
    }
    Ok(())
}

/// Flags of `serve`; each overrides the config file.
#[derive(Debug, Clone, Default, clap::Args)]
struct ServeArgs {
    /// Carrier SMSC host:port. Absent (here and in the file): start the embedded simulator.
    #[arg(long)]
    smsc: Option<String>,
    /// Bind system_id.
    #[arg(long)]
    system_id: Option<String>,
    /// Bind password (prefer the environment variable).
    #[arg(long, env = "PRESENCE_GW_SMSC_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// trx (one transceiver) or txrx (transmitter + receiver).
    #[arg(long, value_parser = ["trx", "txrx"])]
    bind_mode: Option<String>,
    /// The number subscribers text.
    #[arg(long)]
    service_number: Option<String>,
    /// HTTP listen address (operator API, /metrics, /health).
    #[arg(long)]
    http: Option<String>,
    /// Public base URL of the HTTP server, used in links sent to handsets.
    #[arg(long)]
    public_url: Option<String>,
    /// Bearer key of the operator API (prefer the environment variable).
    #[arg(long, env = "PRESENCE_GW_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Default country code for national numbers.
    #[arg(long)]
    country_code: Option<String>,
    /// Most SMPP requests outstanding.
    #[arg(long)]
    window: Option<usize>,
    /// Hard cap on submits per second.
    #[arg(long)]
    max_rate: Option<f64>,
    /// Tokio worker threads (0: one per core less one, leaving a core to the store writer).
    #[arg(long)]
    worker_threads: Option<usize>,
}

/// One serve flag as typed: its name, the config key it sets (if any), whether it was given,
/// and the environment variable it may also come from (then its being set proves nothing).
struct FlagUse {
    flag: &'static str,
    key: Option<&'static str>,
    given: bool,
    env: Option<&'static str>,
}

impl FlagUse {
    /// Given on the command line: set, and not (possibly) from the environment unless `typed`
    /// says it was written there.
    fn written(&self, typed: &impl Fn(&str) -> bool) -> bool {
        self.given && (self.env.is_none() || typed(self.flag))
    }

    /// Where its value came from, when it was given: the flag as typed, or its environment
    /// variable.
    fn source(&self, typed: &impl Fn(&str) -> bool) -> Option<&'static str> {
        match self.env {
            _ if !self.given => None,
            Some(var) if !typed(self.flag) => Some(var),
            _ => Some(self.flag),
        }
    }
}

impl ServeArgs {
    /// Every serve flag, for the checks that refuse flags that would be ignored and that
    /// name a bad value by its flag.
    fn flag_uses(&self) -> [FlagUse; 12] {
        let f = |flag, key, given| FlagUse {
            flag,
            key,
            given,
            env: None,
        };
        [
            f("--smsc", Some("smsc.address"), self.smsc.is_some()),
            f(
                "--system-id",
                Some("smsc.system_id"),
                self.system_id.is_some(),
            ),
            FlagUse {
                env: Some(presence_gw::config::SMSC_PASSWORD_ENV),
                ..f("--password", Some("smsc.password"), self.password.is_some())
            },
            f("--bind-mode", None, self.bind_mode.is_some()),
            f("--window", Some("smsc.window"), self.window.is_some()),
            f("--max-rate", Some("smsc.max_rate"), self.max_rate.is_some()),
            f(
                "--service-number",
                Some("service_number"),
                self.service_number.is_some(),
            ),
            f("--http", Some("http"), self.http.is_some()),
            f(
                "--public-url",
                Some("public_url"),
                self.public_url.is_some(),
            ),
            FlagUse {
                env: Some(presence_gw::config::API_KEY_ENV),
                ..f("--api-key", Some("api_key"), self.api_key.is_some())
            },
            f(
                "--country-code",
                Some("country_code"),
                self.country_code.is_some(),
            ),
            f(
                "--worker-threads",
                Some("runtime.worker_threads"),
                self.worker_threads.is_some(),
            ),
        ]
    }
}

/// Serve flags written before a subcommand (`presence-gw --window 5 serve`, `presence-gw
/// --smsc h:p outbox list`) would be silently ignored: refuse them and say where they go.
/// (`--config` and `--db` are global: taken before or after any subcommand.) `--password` and
/// `--api-key` may also come from the environment, which is no mistake: they are refused when
/// `typed` says they were written on the command line (a rotated password written before
/// `serve` was ignored, and the file's old one used).
fn refuse_flags_before(
    top: &ServeArgs,
    typed: impl Fn(&str) -> bool,
    subcommand: &str,
) -> anyhow::Result<()> {
    let given: Vec<&str> = top
        .flag_uses()
        .iter()
        .filter(|u| u.written(&typed))
        .map(|u| u.flag)
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    if subcommand != "serve" {
        anyhow::bail!(
            "{} {} only to running the gateway (presence-gw [serve]), not to {subcommand}",
            given.join(", "),
            if given.len() == 1 { "applies" } else { "apply" }
        );
    }
    anyhow::bail!(
        "{} must come after the subcommand (presence-gw serve ... {} ...): written before it, \
         it would be ignored",
        given.join(", "),
        given[0]
    )
}

/// The file `check-config` checks: its argument or `--config` (one of them, or both naming the
/// same file). `--db` is refused: nothing would read it.
fn config_to_check(file: Option<PathBuf>, global: &DbArgs) -> anyhow::Result<PathBuf> {
    if global.db.is_some() {
        anyhow::bail!("check-config reads no database: --db would be ignored");
    }
    match (file, &global.config) {
        (Some(f), Some(c)) if f != *c => anyhow::bail!(
            "check-config was given two files ({} and --config {}): check one at a time",
            f.display(),
            c.display()
        ),
        (Some(f), _) => Ok(f),
        (None, Some(c)) => Ok(c.clone()),
        (None, None) => {
            anyhow::bail!("check-config needs the file to check: presence-gw check-config FILE")
        }
    }
}

/// The config `serve` runs with: the file (`--config`), then the flags over it.
/// `typed` says whether a flag that may also come from the environment was written on the
/// command line.
fn build_config(
    global: &DbArgs,
    args: &ServeArgs,
    typed: impl Fn(&str) -> bool,
) -> anyhow::Result<(Config, Option<String>)> {
    // The file's values are checked once flags and the environment have had their say (the
    // password often comes from PRESENCE_GW_SMSC_PASSWORD only).
    let file = match &global.config {
        Some(p) => Some((p.clone(), Config::read_text(p)?)),
        None => None,
    };
    let mut cfg = match &file {
        Some((p, text)) => Config::parse_toml(text, p)?,
        None => Config::default(),
    };
    if let Some(addr) = &args.smsc {
        cfg.smsc.get_or_insert_with(SmscConfig::default).address = addr.clone();
    }
    if cfg.smsc.is_none() {
        // Without an SMSC the gateway runs its embedded simulator: carrier settings would be
        // silently ignored. (--password may also come from PRESENCE_GW_SMSC_PASSWORD, which
        // a test environment may set for every run; only a typed one is refused.)
        let given: Vec<&str> = args
            .flag_uses()
            .iter()
            .filter(|u| u.written(&typed))
            .filter(|u| u.flag == "--bind-mode" || u.key.is_some_and(|k| k.starts_with("smsc.")))
            .map(|u| u.flag)
            .collect();
        if !given.is_empty() {
            anyhow::bail!(
                "the flags {} only apply to an SMSC: give --smsc host:port or [smsc] address in --config \
                 (without one the gateway runs its embedded simulator)",
                given.join(", ")
            );
        }
    }
    if let Some(s) = cfg.smsc.as_mut() {
        if let Some(v) = &args.system_id {
            s.system_id = v.clone();
        }
        if let Some(v) = &args.password {
            s.password = Secret::new(v.clone());
        }
        match args.bind_mode.as_deref() {
            Some("txrx") => s.bind_mode = BindMode::Txrx,
            Some(_) => s.bind_mode = BindMode::Trx,
            None => {}
        }
        if let Some(v) = args.window {
            s.window = v;
        }
        if let Some(v) = args.max_rate {
            s.max_rate = v;
        }
    }
    if let Some(v) = &args.service_number {
        cfg.service_number = v.clone();
    }
    if let Some(v) = &global.db {
        cfg.db = v.clone();
    }
    if let Some(v) = &args.country_code {
        cfg.country_code = v.clone();
    }
    if let Some(v) = &args.http {
        cfg.http = v.clone();
    }
    if let Some(v) = args.worker_threads {
        cfg.runtime.worker_threads = v;
    }
    if let Some(v) = &args.public_url {
        cfg.public_url = v.clone();
    }
    if let Some(v) = &args.api_key {
        cfg.api_key = Some(Secret::new(v.clone()));
    }
    // A value given by a flag is named with the flag (or with the environment variable it
    // came from), not with a line of the file.
    let overrides: Vec<presence_gw::config::Override> = args
        .flag_uses()
        .iter()
        .filter_map(|u| {
            Some(presence_gw::config::Override {
                key: u.key?,
                source: u.source(&typed)?,
            })
        })
        .collect();
    let checked = file.as_ref().map(|(p, text)| (text.as_str(), p.as_path()));
    cfg.validate_with(checked, &overrides)?;
    // Read at every call: at start, and again at each reload (a rotated key in the file).
    cfg.read_api_key_file(checked)?;
    Ok((cfg, file.map(|(_, text)| text)))
}

/// What `serve` needs to read its config again on SIGHUP (`systemctl reload`): the file and
/// the flags it started with, and the file's text then. The keys in
/// [`presence_gw::config::RELOADABLE_KEYS`] are applied to the running gateway ([`Live`]);
/// any other key that changed is named as taking effect at the next start, a key a flag (or
/// its environment variable) sets as not taken from the file, and a file that does not load
/// is refused whole, the running settings kept. `api_key_file`'s file is read again too (a
/// key file that cannot be used refuses the reload as a bad key does).
struct Reload {
    global: DbArgs,
    args: ServeArgs,
    /// The flags that may come from the environment and were typed (see [`FlagUse::written`]).
    typed: Vec<&'static str>,
    /// The file's text the gateway started with (restart-only keys are compared with it).
    started: Option<String>,
}

/// The parts of a running gateway a reload changes.
struct Live {
    /// `[smsc] max_rate`, `window`, `temporary_statuses`.
    link: presence_gw::smpp::LinkHandle,
    /// `api_key`, `api_key_file`: the handle the HTTP handlers check each request against.
    api_key: presence_gw::http::ApiKey,
    /// `[delivery] retry_min_secs`, `retry_max_secs`, `max_attempts`.
    retries: presence_gw::delivery::Retries,
    /// The reloads are counted here.
    metrics: std::sync::Arc<presence_gw::metrics::Metrics>,
}

impl Reload {
    /// Read the file again and apply what a running gateway can to `live` (see [`Reload`]);
    /// counted in its metrics (`presence_gw_config_reloads_total`, `..._keys_pending_restart`).
    fn apply(&self, live: &Live) {
        use presence_gw::logging::CHANGE_TARGET;
        let (link, metrics) = (&live.link, &live.metrics);
        let (Some(path), Some(started)) = (&self.global.config, &self.started) else {
            warn!(
                target: CHANGE_TARGET,
                "SIGHUP: no config file to read again (started without --config); nothing changed"
            );
            return;
        };
        let typed = |flag: &str| self.typed.contains(&flag);
        let (cfg, text) = match build_config(&self.global, &self.args, typed) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(
                    target: CHANGE_TARGET,
                    file = %path.display(),
                    "config reload refused, the running settings stay: {}",
                    error_messages(&e).join(": ")
                );
                metrics.record_reload(None);
                return;
            }
        };
        let text = text.unwrap_or_default();
        let Some(changed) = presence_gw::config::changed_keys(started, &text) else {
            return;
        };
        let mut by_flag: Vec<&'static str> = self
            .args
            .flag_uses()
            .iter()
            .filter(|u| u.given)
            .filter_map(|u| u.key)
            .collect();
        if self.global.db.is_some() {
            by_flag.push("db");
        }
        let mut restart = Vec::new();
        for key in &changed {
            if by_flag.contains(&key.as_str()) {
                warn!(
                    target: CHANGE_TARGET,
                    key = %key,
                    "config reload: {key} changed in the file, but a flag (or its environment \
                     variable) sets it: the flag's value stays"
                );
            } else if !presence_gw::config::RELOADABLE_KEYS.contains(&key.as_str()) {
                restart.push(key.as_str());
            }
        }
        // Reloadable keys by their value now (a key written or left out with the same value
        // changes nothing).
        let applied = |key: &str, from: String, to: String| {
            warn!(target: CHANGE_TARGET, key, %from, %to, "config reload: {key} applied");
        };
        if !by_flag.contains(&"smsc.max_rate") {
            let wanted = cfg.smsc.as_ref().map(|s| s.max_rate).filter(|r| *r > 0.0);
            let running = link.max_rate();
            if wanted != running {
                link.set_max_rate(wanted);
                let shown =
                    |r: Option<f64>| r.map_or("no cap".to_string(), |r| format!("{r} msg/s"));
                applied("smsc.max_rate", shown(running), shown(wanted));
            }
        }
        if !by_flag.contains(&"smsc.window") {
            let running = link.window_size();
            let wanted = cfg.smsc.as_ref().map_or(running, |s| s.window.max(1));
            if wanted != running {
                link.set_window(wanted);
                applied("smsc.window", running.to_string(), wanted.to_string());
            }
        }
        {
            let running = link.temporary_statuses();
            let wanted = cfg
                .smsc
                .as_ref()
                .map_or_else(|| running.to_vec(), |s| s.temporary_statuses.clone());
            if *running != *wanted {
                link.set_temporary_statuses(&wanted);
                let shown = |codes: &[u32]| {
                    let codes: Vec<String> = codes.iter().map(|c| format!("{c:#x}")).collect();
                    format!("[{}]", codes.join(", "))
                };
                applied("smsc.temporary_statuses", shown(&running), shown(&wanted));
            }
        }
        // The key file was read again by `build_config`: a key written into it is applied
        // here, whether the config text changed or not.
        if !by_flag.contains(&"api_key") {
            let running = live.api_key.get();
            let wanted = cfg.operator_api_key();
            if running != wanted {
                live.api_key.set(wanted.clone());
                // Only whether a key is set, never the key nor any part of it.
                let (from, to) = match (&running, &wanted) {
                    (Some(_), Some(_)) => ("a key", "a new key"),
                    (None, _) => ("none (the operator API off)", "a key"),
                    (Some(_), None) => ("a key", "none (the operator API off)"),
                };
                let key = match cfg.api_key_file {
                    Some(_) if cfg.api_key_from_file.is_some() => "api_key_file",
                    _ => "api_key",
                };
                applied(key, from.to_string(), to.to_string());
            }
        }
        {
            let running = live.retries.get();
            let wanted = cfg.retry_policy();
            if wanted != running {
                live.retries.set(wanted);
                let secs = |d: std::time::Duration| format!("{} s", d.as_secs_f64());
                if wanted.retry_min != running.retry_min {
                    let (from, to) = (secs(running.retry_min), secs(wanted.retry_min));
                    applied("delivery.retry_min_secs", from, to);
                }
                if wanted.retry_max != running.retry_max {
                    let (from, to) = (secs(running.retry_max), secs(wanted.retry_max));
                    applied("delivery.retry_max_secs", from, to);
                }
                if wanted.max_attempts != running.max_attempts {
                    let (from, to) = (running.max_attempts, wanted.max_attempts);
                    applied("delivery.max_attempts", from.to_string(), to.to_string());
                }
            }
        }
        metrics.record_reload(Some(restart.len()));
        if restart.is_empty() {
            warn!(target: CHANGE_TARGET, file = %path.display(), "config reloaded");
        } else {
            warn!(
                target: CHANGE_TARGET,
                file = %path.display(),
                keys = %restart.join(", "),
                "config reloaded; these keys differ from the running settings and take effect \
                 at the next start: {}",
                restart.join(", ")
            );
        }
    }
}

/// The next Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first awaited: from then on a stop signal is a graceful stop, never the
/// default action (the process killed). `serve` calls it before it starts anything; it used
/// to be awaited only after the banner and the demo handsets, and a SIGTERM in between (a
/// service manager stopping a gateway that had just started) killed the process outright.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        /// The next of `s` (never, when its handler could not be installed).
        async fn next(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                _ = next(term.as_mut()) => {}
                _ = next(int.as_mut()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        let ctrl_c = tokio::signal::ctrl_c();
        async move {
            let _ = ctrl_c.await;
        }
    }
}

/// Demo handsets on the embedded simulator: on a fresh database, a demo subscriber texts a few
/// commands (as a person would), so the console shows handsets with replies and updates.
async fn seed_demo(
    gw: &Gateway,
    sim: &smsc_sim::SimHandle,
    service_number: &str,
    log_format: LogFormat,
) {
    const DEMO: &str = "+8613800138000";
    let fresh = gw
        .store
        .read(|c| {
            // NOT EXISTS stops at the first row; count(*) would read the whole table.
            c.query_row("SELECT NOT EXISTS (SELECT 1 FROM subscriber)", [], |r| {
                r.get::<_, bool>(0)
            })
            .map_err(presence_gw::store::StoreError::from)
        })
        .await
        .unwrap_or(false);
    if !fresh {
        return;
    }
    for text in [
        "NAME Demo",
        "GROUP FAMILY ADD 13900139000 13700137000",
        "GROUP COLLEAGUES ADD 13600136000",
        "STATUS FAMILY FREE, COLLEAGUES MEETING",
    ] {
        let mo = smsc_sim::MoRequest::new(DEMO, service_number, text);
        if sim.inject_mo(mo).await.is_err() {
            return;
        }
        // One at a time, in order, as a person types.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    if log_format == LogFormat::Json {
        info!(
            handset = DEMO,
            family = "+8613900139000 +8613700137000",
            colleagues = "+8613600136000",
            "demo handsets seeded"
        );
        return;
    }
    out!(
        "  demo handsets:       {DEMO} (FAMILY: +8613900139000 +8613700137000; COLLEAGUES: +8613600136000)"
    );
    if let Some(url) = sim.http_url() {
        out!("                       see them at {url}/ ; dial USSD: curl -s {url}/ussd -d '{{\"from\":\"{DEMO}\",\"to\":\"*123#\",\"text\":\"*123#\"}}' -H 'content-type: application/json'");
    }
}

async fn serve(mut cfg: Config, log_format: LogFormat, reload: Reload) -> anyhow::Result<()> {
    // A stop signal from here on stops the gateway gracefully, also during the start.
    let stop_signal = shutdown_signal();
    // SIGHUP reads the config again (its default action would kill the gateway).
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    // No SMSC configured: run the bundled simulator in-process, with an account for us.
    let mut embedded = None;
    if cfg.smsc.is_none() {
        let smsc = SmscConfig::default();
        let mut sim_cfg =
            smsc_sim::SimConfig::local().with_account(&smsc.system_id, smsc.password.expose());
        sim_cfg.smpp_addr = SocketAddr::from(([127, 0, 0, 1], 2775));
        sim_cfg.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], 2776)));
        let sim = match smsc_sim::Simulator::start(sim_cfg.clone()).await {
            Ok(s) => s,
            Err(_) => {
                // Default ports busy: take free ones.
                sim_cfg.smpp_addr = SocketAddr::from(([127, 0, 0, 1], 0));
                sim_cfg.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
                smsc_sim::Simulator::start(sim_cfg)
                    .await
                    .context("starting the embedded simulator")?
            }
        };
        cfg.smsc = Some(SmscConfig {
            address: sim.smpp_addr().to_string(),
            ..smsc
        });
        embedded = Some(sim);
    }
    let smsc = cfg.smsc.clone().context("no SMSC")?;
    if let Some(parent) = cfg.db.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    // Listen first: with port 0 (or no public_url) the links we send name the real address.
    let listener = tokio::net::TcpListener::bind(&cfg.http)
        .await
        .with_context(|| {
            format!(
                "cannot listen for HTTP on {} (choose another address: `http` in the config file or --http)",
                cfg.http
            )
        })?;
    let http_addr = listener.local_addr()?;
    cfg.http = http_addr.to_string();
    // The operator's routes on an address of their own, when configured.
    let operator_listener = if cfg.operator_http.is_empty() {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(&cfg.operator_http)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for the operator's HTTP on {} (`operator_http` in the config file)",
                        cfg.operator_http
                    )
                })?,
        )
    };
    // Where /health, /metrics and /api/v1 answer.
    let operator_addr = match &operator_listener {
        Some(l) => l.local_addr()?,
        None => http_addr,
    };
    let mut opts =
        GatewayOptions::new(cfg.db.clone(), cfg.link_config(&smsc)?, &cfg.service_number);
    cfg.apply_delivery(&mut opts.dispatcher);
    opts.store = cfg.store_options();
    opts.keep = cfg.keep();
    opts.mo_deferral_window = cfg.mo_deferral_window();
    let mut gw = Gateway::start_with_service(opts, cfg.service_config()).await?;
    let stop_http = tokio_util::sync::CancellationToken::new();
    // The operator API's key, kept to be replaced by a reload.
    let api_key = presence_gw::http::ApiKey::new(cfg.operator_api_key());
    let (handset_routes, operator_task) = match operator_listener {
        None => (gw.http_router_keyed(api_key.clone()), None),
        Some(l) => {
            let (handsets, operator) = gw.http_routers_keyed(api_key.clone());
            // Not under the handsets' connection cap: /health answers however busy they are.
            let task = tokio::spawn(presence_gw::http::serve(l, operator, stop_http.clone()));
            (handsets, Some(task))
        }
    };
    let http_task = tokio::spawn(presence_gw::http::serve_capped(
        listener,
        handset_routes,
        stop_http.clone(),
        presence_gw::http::HttpTimeouts::default(),
        presence_gw::http::ConnectionCap {
            max: cfg.http_max_connections,
            open: gw.metrics.http_connections(),
        },
    ));

    if log_format == LogFormat::Json {
        // A log pipeline takes only JSON lines: the banner is one event.
        info!(
            smsc = %smsc.address,
            embedded_simulator = embedded.is_some(),
            http = %http_addr,
            operator_http = %operator_addr,
            public_url = %cfg.public_url(),
            service_number = %cfg.service_number,
            database = %cfg.db.display(),
            operator_api = cfg.operator_api_key().is_some(),
            "presence-gw is running"
        );
    } else {
        out!("presence-gw is running");
        out!("  SMSC (SMPP 3.4):     {}", smsc.address);
        if let Some(sim) = &embedded {
            out!("  embedded smsc-sim:   smpp://{}", sim.smpp_addr());
            if let Some(url) = sim.http_url() {
                out!("  simulator console:   {url}/");
                out!(
                    "  text the gateway:    curl -s {url}/mo -H 'content-type: application/json' \\\n                         -d '{{\"from\":\"+8613800138000\",\"to\":\"{}\",\"text\":\"HELP\"}}'",
                    cfg.service_number
                );
            }
        }
        if operator_addr == http_addr {
            out!("  HTTP:                http://{http_addr}  (/health, /metrics)");
        } else {
            out!(
                "  HTTP:                http://{http_addr}  (handsets: avatars, gallery, uploads)"
            );
            out!("  operator HTTP:       http://{operator_addr}  (/health, /metrics, /api/v1)");
        }
        out!(
            "  avatars:             {}/gallery  (links sent to handsets start with {})",
            cfg.public_url().trim_end_matches('/'),
            cfg.public_url().trim_end_matches('/')
        );
        out!(
            "  operator API:        POST http://{operator_addr}/api/v1/events ({})",
            if cfg.operator_api_key().is_some() {
                "bearer key set"
            } else {
                "off: set api_key_file or PRESENCE_GW_API_KEY"
            }
        );
        out!("  service number:      {}", cfg.service_number);
        out!("  database:            {}", cfg.db.display());
        out!("  stop with Ctrl-C (in-flight messages are finished or requeued)");
    }
    // Up: the store open, HTTP listening, the link started (bound, or still trying: an SMSC
    // that is down is the link's to wait for, not a failed start).
    tell_systemd(sd_notify::NotifyState::Ready);
    #[cfg(unix)]
    {
        let live = Live {
            link: gw.link.clone(),
            api_key,
            retries: gw.retries(),
            metrics: gw.metrics.clone(),
        };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tell_systemd(sd_notify::NotifyState::Reloading);
                reload.apply(&live);
                tell_systemd(sd_notify::NotifyState::Ready);
            }
        });
    }
    if let Some(sim) = &embedded {
        seed_demo(&gw, sim, &cfg.service_number, log_format).await;
    }

    stop_signal.await;
    info!("shutting down (a second Ctrl-C or SIGTERM exits at once)");
    tell_systemd(sd_notify::NotifyState::Stopping);
    tokio::spawn(async {
        shutdown_signal().await;
        // What was accepted is in the database; the next start sends what is left.
        err_out!("second stop signal: exiting now");
        std::process::exit(130);
    });
    // The rows in hand settle and the link unbinds while HTTP still answers (`/health` says
    // `stopping`, the last scrape of `/metrics` sees the end of the drain).
    gw.drain().await;
    stop_http.cancel();
    // Requests in progress may finish; one that stalls (a handset that lost its data
    // connection mid-upload) is closed after `http::DRAIN_TIMEOUT` and does not hold the stop.
    for task in std::iter::once(http_task).chain(operator_task) {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "HTTP server ended with an error"),
            Err(e) => warn!(error = %e, "HTTP server task ended abnormally"),
        }
    }
    gw.shutdown().await;
    if let Some(sim) = embedded {
        sim.shutdown().await;
    }
    Ok(())
}

/// Tell systemd how the service stands (`Type=notify` units, deploy/presence-gw.service):
/// nothing happens unless systemd set `NOTIFY_SOCKET`.
fn tell_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(false, &[state]) {
        warn!(error = %e, "could not notify systemd (NOTIFY_SOCKET)");
    }
}

/// Whether `flag` (`--api-key`) was written on the command line in `m`, not taken from the
/// environment or absent.
fn typed_in(m: &clap::ArgMatches, flag: &str) -> bool {
    let id = flag.trim_start_matches("--").replace('-', "_");
    m.value_source(&id) == Some(ValueSource::CommandLine)
}

/// Errors end the process with status 1 and their message and causes on stderr, without the
/// stack trace `anyhow` adds to a returned error when `RUST_BACKTRACE` is set (as many
/// operations environments set it for panics; a typo in a config file is no crash).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `e`'s message, then each cause not already said by the messages before it (`cannot read
/// x.toml: No such file or directory` is not followed by `No such file or directory`).
fn error_messages(e: &anyhow::Error) -> Vec<String> {
    let mut said = vec![e.to_string()];
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
    }
    said
}

/// `Error: <message>` and each cause not already said by the messages before it
/// ([`error_messages`]).
fn error_report(e: &anyhow::Error) -> String {
    let mut said = error_messages(e).into_iter();
    let mut out = format!("Error: {}", said.next().unwrap_or_default());
    let causes: Vec<String> = said.collect();
    if !causes.is_empty() {
        out.push_str("\n\nCaused by:");
        for c in causes {
            out.push_str("\n    ");
            out.push_str(&c);
        }
    }
    out
}

fn run() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli.log_format);
    // A flag written before the subcommand, as opposed to one taken from the environment.
    let typed = |flag: &str| typed_in(&matches, flag);
    if let Some(cmd) = &cli.command {
        if !matches!(cmd, Command::Serve(_)) {
            refuse_flags_before(&cli.serve, typed, cmd.name())?;
        }
    }
    let serve_args = match cli.command {
        Some(Command::CheckConfig { file }) => {
            let file = config_to_check(file, &cli.db)?;
            // As `serve` would run it: secrets may come from the environment.
            let text = Config::read_text(&file)?;
            let mut cfg = Config::parse_toml(&text, &file)?;
            let from_env = cfg.apply_env_secrets();
            cfg.validate_with(Some((&text, &file)), &from_env)?;
            // The key file too, as `serve` reads it (its content is never shown).
            cfg.read_api_key_file(Some((&text, &file)))?;
            out!("{} is valid:\n{}", file.display(), cfg.summary());
            // Which secrets the environment gives, over the file's (their values are not shown).
            let from_env: Vec<&str> = from_env.iter().map(|o| o.source).collect();
            if !from_env.is_empty() {
                out!(
                    "from the environment, over the file: {}",
                    from_env.join(", ")
                );
            }
            return Ok(());
        }
        Some(Command::Activity(cmd)) => return activity(cmd, &cli.db),
        Some(Command::Outbox(cmd)) => return outbox(cmd, &cli.db),
        Some(Command::Presets(cmd)) => return presets(cmd, &cli.db),
        Some(Command::Subscriber(cmd)) => return subscriber(cmd, &cli.db),
        Some(Command::Smsc(cmd)) => return smsc(cmd, &cli.db),
        Some(Command::Backup { to }) => return backup(&to, &cli.db),
        Some(Command::Serve(args)) => {
            refuse_flags_before(&cli.serve, typed, "serve")?;
            *args
        }
        None => cli.serve,
    };
    // The config decides the runtime, so it is read before the runtime exists.
    // The serve flags' own matches: the subcommand's, or the top level's without one.
    let serve_matches = matches.subcommand_matches("serve").unwrap_or(&matches);
    let typed_serve = |flag: &str| typed_in(serve_matches, flag);
    let (cfg, started) = build_config(&cli.db, &serve_args, typed_serve)?;
    let reload = Reload {
        typed: serve_args
            .flag_uses()
            .iter()
            .map(|u| u.flag)
            .filter(|f| typed_serve(f))
            .collect(),
        global: cli.db.clone(),
        args: serve_args.clone(),
        started,
    };
    // One gateway per database, held until this returns (or the process ends, however it
    // ends): a second one is refused before it opens the database, starts the simulator or
    // listens, so it requeues and sends nothing of the first one's.
    let _serving = presence_gw::store::ServeLock::acquire(&cfg.db)?;
    let workers = presence_gw::app::worker_threads(cfg.runtime.worker_threads);
    info!(workers, "starting the runtime");
    presence_gw::app::runtime(workers)?.block_on(serve(cfg, cli.log_format, reload))
}
