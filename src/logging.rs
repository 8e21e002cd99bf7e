//! How `RUST_LOG` is read: the filter the gateway logs by, and what is wrong with it.
//!
//! `tracing_subscriber` reads a bare word in `RUST_LOG` as a module name. A misspelt level
//! (`RUST_LOG=debgu`) is therefore a valid filter that shows only that (non-existent) module:
//! every other line, a refused bind's ERROR included, is hidden, and nothing says why. A
//! filter that does not parse at all was dropped for the default just as quietly.

use tracing_subscriber::EnvFilter;

/// The filter without `RUST_LOG`.
pub const DEFAULT_FILTER: &str = "info,rusmpp=warn";

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
    // Longer names people give levels (other loggers' words for them).
    if let Some(l) = match word.as_str() {
        "warning" | "warnings" => Some("warn"),
        "err" | "errors" => Some("error"),
        "information" | "informational" => Some("info"),
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

/// The filter for `rust_log` (the variable's value, if set), and, when it is not used as
/// given, why: it does not parse, or one of its directives is a misspelt level. Either way
/// the default is used, so that the log still shows what goes wrong.
pub fn filter(rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let default = || EnvFilter::new(DEFAULT_FILTER);
    let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) else {
        return (default(), None);
    };
    if let Some((word, level)) = spec
        .split(',')
        .find_map(|d| misspelt_level(d).map(|l| (d.trim(), l)))
    {
        return (
            default(),
            Some(format!(
                "RUST_LOG={spec:?}: {word:?} is no level (did you mean {level:?}?) and would hide every line; logging with {DEFAULT_FILTER:?} instead"
            )),
        );
    }
    match EnvFilter::try_new(spec) {
        Ok(f) => (f, None),
        Err(e) => (
            default(),
            Some(format!(
                "RUST_LOG={spec:?} is not a log filter ({e}); logging with {DEFAULT_FILTER:?} instead"
            )),
        ),
    }
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
}
