//! How `RUST_LOG` is read: the filter the gateway logs by, and what is wrong with it.
//!
//! `tracing_subscriber` reads a bare word in `RUST_LOG` as a module name. A misspelt level
//! (`RUST_LOG=debgu`) is therefore a valid filter that shows only that (non-existent) module:
//! every other line, a refused bind's ERROR included, is hidden, and nothing says why. A
//! filter that does not parse at all was dropped for the default just as quietly.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The filter without `RUST_LOG`.
pub const DEFAULT_FILTER: &str = "info,rusmpp=warn";

/// The target of the WARN lines that record an operator's changes through the API (the log
/// filter, the outbound pause): every filter put in place by [`LogControl::set`] shows this
/// target at WARN, so that a filter that hides WARN (`error`, `off`) still leaves a trace of
/// who changed what.
pub const CHANGE_TARGET: &str = "presence_gw::log_change";

/// The levels a directive can name.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// The level `directive` looks like a misspelling of (one or two letters off), if it names
/// no level and no module path itself.
pub fn misspelt_level(directive: &str) -> Option<&'static str> {
    let word = directive.trim().to_ascii_lowercase();
    if word.is_empty()
        || word.contains(['=', '[', ':'])
        || LEVELS.contains(&word.as_str())
        || word.parse::<u8>().is_ok()
    {
        return None;
    }
    // Longer names people give levels, and other loggers' words for them (syslog, log4j,
    // Python's logging): each was read as a module of that name, and every line hidden.
    if let Some(l) = match word.as_str() {
        "warning" | "warnings" => Some("warn"),
        "err" | "errors" | "fatal" | "critical" | "crit" | "severe" | "emerg" | "alert" => {
            Some("error")
        }
        "information" | "informational" | "notice" => Some("info"),
        "verbose" | "all" | "finest" => Some("trace"),
        "none" | "silent" | "quiet" => Some("off"),
        _ => None,
    } {
        return Some(l);
    }
    LEVELS
        .into_iter()
        .map(|l| (strsim::osa_distance(&word, l), l))
        .filter(|&(d, l)| d <= if l.len() <= 4 { 1 } else { 2 })
        .min()
        .map(|(_, l)| l)
}

/// `spec` as a log filter, or why it cannot be one: it does not parse, or one of its
/// directives is a misspelt level (which would hide every line).
pub fn parse(spec: &str) -> Result<EnvFilter, String> {
    if let Some((word, level)) = spec
        .split(',')
        .find_map(|d| misspelt_level(d).map(|l| (d.trim(), l)))
    {
        return Err(format!(
            "{word:?} is no level (did you mean {level:?}?) and would hide every line"
        ));
    }
    EnvFilter::try_new(spec).map_err(|e| format!("not a log filter ({e})"))
}

/// The filter for `rust_log` (the variable's value, if set), and, when it is not used as
/// given, why: it does not parse, or one of its directives is a misspelt level. Either way
/// the default is used, so that the log still shows what goes wrong.
pub fn filter(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let default = || EnvFilter::new(DEFAULT_FILTER);
    let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) else {
        return (default(), None);
    };
    match parse(spec) {
        Ok(f) => (f, None),
        Err(why) => (
            default(),
            Some(format!(
                "RUST_LOG={spec:?}: {why}; logging with {DEFAULT_FILTER:?} instead"
            )),
        ),
    }
}

/// The running process's log filter, which the operator API reads and changes
/// (`GET` / `PUT /api/v1/log`) without a restart: a restart would drop the SMPP session that is
/// often what is being looked at.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    current: Mutex<String>,
}

static CONTROL: OnceLock<LogControl> = OnceLock::new();

impl LogControl {
    /// The filter in force.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Log by `spec` from now on (checked as [`parse`] does); returns the filter it replaced.
    pub fn set(&self, spec: &str) -> Result<String, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(format!(
                "an empty filter: give one, e.g. {DEFAULT_FILTER:?}"
            ));
        }
        parse(spec)?;
        let f = with_change_line(spec)?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.handle
            .reload(f)
            .map_err(|e| format!("the filter could not be put in place: {e}"))?;
        Ok(std::mem::replace(&mut *current, spec.to_string()))
    }
}

/// The filter `spec` (already checked by [`parse`]) with [`CHANGE_TARGET`] shown at WARN, unless
/// `spec` itself says how that target is to be logged.
fn with_change_line(spec: &str) -> Result<EnvFilter, String> {
    let full = if spec.contains(CHANGE_TARGET) {
        spec.to_string()
    } else {
        format!("{spec},{CHANGE_TARGET}=warn")
    };
    EnvFilter::try_new(full).map_err(|e| format!("not a log filter ({e})"))
}

/// The process's [`LogControl`], once [`init`] has run (`None` in a process that did not
/// install the gateway's logging, e.g. a test that runs the gateway as a library).
pub fn control() -> Option<&'static LogControl> {
    CONTROL.get()
}

/// Install the process's logging: lines on stderr by `filter` (its text `spec`), as JSON
/// objects or text (with colours when `colours`), the filter changeable through [`control`].
/// A line that cannot be written (the reader of stderr went away) is lost quietly: reporting
/// it would print to the same closed stderr, which panics.
pub fn init(filter: EnvFilter, spec: String, json: bool, colours: bool) {
    let (filter, handle) = reload::Layer::new(filter);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colours)
        .log_internal_errors(false);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(lines.json()).init();
    } else {
        registry.with(lines).init();
    }
    let _ = CONTROL.set(LogControl {
        handle,
        current: Mutex::new(spec),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_levels_are_told_from_levels_and_module_names() {
        for (typed, meant) in [
            ("debgu", "debug"),
            ("DEBUG ", ""),
            ("inof", "info"),
            ("warning", "warn"),
            ("eror", "error"),
            ("trcae", "trace"),
            ("info", ""),
            ("presence_gw", ""),
            ("presence_gw::smpp=debug", ""),
            ("hyper", ""),
            ("tokio", ""),
            ("3", ""),
        ] {
            assert_eq!(
                misspelt_level(typed),
                (!meant.is_empty()).then_some(meant),
                "{typed:?}"
            );
        }
    }

    /// The level words of other loggers (syslog, log4j, Python, Kannel's admin) are what
    /// an engineer types: `PUT /api/v1/log {"filter":"verbose"}` was taken as a module
    /// named `verbose`, and the gateway then logged nothing at all, not even an ERROR.
    #[test]
    fn other_loggers_level_words_are_refused_with_the_level_meant() {
        for (typed, meant) in [
            ("verbose", "trace"),
            ("ALL", "trace"),
            ("fatal", "error"),
            ("critical", "error"),
            ("crit", "error"),
            ("severe", "error"),
            ("notice", "info"),
            ("none", "off"),
            ("silent", "off"),
        ] {
            assert_eq!(misspelt_level(typed), Some(meant), "{typed:?}");
            let why = parse(&format!("{typed},presence_gw::smpp=debug"))
                .map(|_| ())
                .expect_err(typed);
            assert!(why.contains(&format!("did you mean {meant:?}")), "{why}");
        }
    }

    #[test]
    fn a_filter_is_used_as_given_unless_it_would_hide_everything_or_is_no_filter() {
        assert!(filter(None).1.is_none());
        assert!(filter(Some("")).1.is_none());
        let (f, why) = filter(Some("warn,presence_gw::smpp=trace"));
        assert!(why.is_none());
        assert!(f.to_string().contains("presence_gw::smpp=trace"), "{f}");
        let (f, why) = filter(Some("info,debgu"));
        assert_eq!(f.to_string(), EnvFilter::new(DEFAULT_FILTER).to_string());
        let why = why.expect("a reason");
        assert!(
            why.contains("\"debgu\"") && why.contains("\"debug\""),
            "{why}"
        );
        let (_, why) = filter(Some("presence_gw=loud"));
        assert!(why.expect("a reason").contains("not a log filter"));
    }

    #[test]
    fn a_filter_put_in_place_shows_its_own_change_at_warn() {
        for spec in ["off", "error", "presence_gw=error", "info"] {
            let f = with_change_line(spec).expect("a filter");
            assert!(
                f.to_string().contains(&format!("{CHANGE_TARGET}=warn")),
                "{spec}: {f}"
            );
        }
        let f = with_change_line("info,presence_gw::log_change=off").expect("a filter");
        assert!(!f.to_string().contains("log_change=warn"), "{f}");
    }
}
