//! Subscriber numbers: the `Msisdn` type (E.164, ITU-T E.164 §6) and its forgiving normalisation.
//!
//! Step 3 of the command flow (DESIGN.md): `command::parse` turns every number a subscriber types
//! (`13800138000`, `+8613800138000`, `008613800138000`, `+86 138-0013-8000`, `(+86)13800138000`)
//! into one canonical `+<digits>` value, so the service and the store compare numbers by equality.

use std::fmt;

use thiserror::Error;

/// Fewest digits (country code included) a plausible E.164 number has after normalisation.
pub const MIN_DIGITS: usize = 5;
/// Most digits an E.164 number may have (ITU-T E.164 §6.1: at most 15).
pub const MAX_DIGITS: usize = 15;

/// Why a text is not a plausible subscriber number; every variant quotes the text as typed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MsisdnError {
    /// Nothing that looks like a number was given.
    #[error("no number given")]
    Empty,
    /// A character other than digits, a leading `+`, `( ) - .` or spaces.
    #[error("{text:?} is not a phone number (unexpected {found:?})")]
    InvalidChar {
        /// The text as typed.
        text: String,
        /// The first character that cannot be part of a number.
        found: char,
    },
    /// Too few or too many digits once the country code is applied.
    #[error("{text:?} is no phone number: with its country code it has {digits} digits, and a number has {MIN_DIGITS} to {MAX_DIGITS}")]
    BadLength {
        /// The text as typed.
        text: String,
        /// How many digits the normalised number would have.
        digits: usize,
    },
    /// An international number whose country code starts with 0 (E.164 §6.2.1).
    #[error("{text:?} does not start with a country code")]
    BadCountryCode {
        /// The text as typed.
        text: String,
    },
    /// A national number was given but the default country code is unusable.
    #[error("{text:?} needs a country code and the configured default {default:?} is not one")]
    NoDefaultCountryCode {
        /// The text as typed.
        text: String,
        /// The configured default country code.
        default: String,
    },
}

impl MsisdnError {
    /// The text that was rejected, as typed (empty for [`MsisdnError::Empty`]).
    pub fn text(&self) -> &str {
        match self {
            MsisdnError::Empty => "",
            MsisdnError::InvalidChar { text, .. }
            | MsisdnError::BadLength { text, .. }
            | MsisdnError::BadCountryCode { text }
            | MsisdnError::NoDefaultCountryCode { text, .. } => text,
        }
    }
}

/// A number as logs show it: the country code and last four digits kept, the middle masked
/// (`+8613800138000` -> `+86*******8000`); short or odd inputs keep only their last two.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let plus = if number.trim_start().starts_with('+') {
        "+"
    } else {
        ""
    };
    if digits.len() >= 9 {
        let head: String = digits[..2].iter().collect();
        let tail: String = digits[digits.len() - 4..].iter().collect();
        format!("{plus}{head}{}{tail}", "*".repeat(digits.len() - 6))
    } else {
        let keep = digits.len().min(2);
        let tail: String = digits[digits.len() - keep..].iter().collect();
        format!("{plus}{}{tail}", "*".repeat(digits.len() - keep))
    }
}

/// A subscriber number in E.164 form: `+` followed by 5 to 15 digits, the first not `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

impl Msisdn {
    /// Normalises `text` to E.164, applying `default_country_code` (`"86"` or `"+86"`) to
    /// national numbers (no `+`/`00` prefix; a single leading trunk `0` is dropped).
    ///
    /// A national-looking number that already starts with the default country code and has at
    /// least 10 more digits (`8613800138000`) is taken as international without the `+`.
    pub fn parse(text: &str, default_country_code: &str) -> Result<Msisdn, MsisdnError> {
        Self::normalise(text, Some(default_country_code))
    }

    /// The canonical form, `+8613800138000`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the leading `+` (`8613800138000`), as SMPP addresses with TON
    /// international carry them (SMPP 3.4 §5.2.5).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    fn normalise(text: &str, default_cc: Option<&str>) -> Result<Msisdn, MsisdnError> {
        let typed = text.trim();
        let mut compact = String::with_capacity(typed.len());
        for c in typed.chars() {
            match c {
                '0'..='9' => compact.push(c),
                '+' if compact.is_empty() => compact.push(c),
                '(' | ')' | '-' | '.' | ' ' | '\u{a0}' => {}
                other => {
                    return Err(MsisdnError::InvalidChar {
                        text: typed.to_owned(),
                        found: other,
                    })
                }
            }
        }
        if compact.is_empty() || compact == "+" {
            return Err(MsisdnError::Empty);
        }
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest.to_owned()
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest.to_owned()
        } else {
            let cc = match default_cc.map(country_code) {
                Some(Some(cc)) => cc,
                Some(None) => {
                    return Err(MsisdnError::NoDefaultCountryCode {
                        text: typed.to_owned(),
                        default: default_cc.unwrap_or_default().to_owned(),
                    })
                }
                None => {
                    return Err(MsisdnError::NoDefaultCountryCode {
                        text: typed.to_owned(),
                        default: String::new(),
                    })
                }
            };
            if compact.starts_with(&cc) && compact.len() >= cc.len() + 10 {
                compact
            } else if let Some(national) = compact.strip_prefix('0') {
                format!("{cc}{national}")
            } else {
                format!("{cc}{compact}")
            }
        };
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(MsisdnError::BadLength {
                text: typed.to_owned(),
                digits: digits.len(),
            });
        }
        if digits.starts_with('0') {
            return Err(MsisdnError::BadCountryCode {
                text: typed.to_owned(),
            });
        }
        Ok(Msisdn(format!("+{digits}")))
    }
}

/// The digits of a configured country code (`"+86"`, `"86"`, `"0086"` -> `"86"`), if plausible.
fn country_code(configured: &str) -> Option<String> {
    let trimmed = configured.trim();
    let trimmed = trimmed
        .strip_prefix('+')
        .or_else(|| trimmed.strip_prefix("00"))
        .unwrap_or(trimmed);
    let ok = (1..=3).contains(&trimmed.len())
        && trimmed.bytes().all(|b| b.is_ascii_digit())
        && !trimmed.starts_with('0');
    ok.then(|| trimmed.to_owned())
}

/// Accepts international forms only (`+8613800138000`, `008613800138000`, `(+86) 138-0013-8000`);
/// national numbers need [`Msisdn::parse`] with a default country code.
impl TryFrom<&str> for Msisdn {
    type Error = MsisdnError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::normalise(text, None)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_country_code_and_last_four() {
        assert_eq!(mask("+8613800138000"), "+86*******8000");
        assert_eq!(mask("8613800138000"), "86*******8000");
        assert_eq!(mask("10658"), "***58");
        assert_eq!(mask(""), "");
        assert!(!mask("+8613800138000").contains("138001"));
    }

    #[test]
    fn every_documented_form_is_the_same_subscriber() {
        for text in [
            "13800138000",
            "+8613800138000",
            "008613800138000",
            "+86 138-0013-8000",
            "(+86)13800138000",
            "8613800138000",
            " 138.0013.8000 ",
        ] {
            assert_eq!(
                Msisdn::parse(text, "86").map(|m| m.to_string()),
                Ok("+8613800138000".to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn default_country_code_may_carry_a_plus() {
        assert_eq!(
            Msisdn::parse("13800138000", "+86").unwrap().as_str(),
            "+8613800138000"
        );
        assert_eq!(
            Msisdn::parse("07911123456", "44").unwrap().digits(),
            "447911123456"
        );
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(matches!(
            Msisdn::parse("+1234", "86"),
            Err(MsisdnError::BadLength { digits: 4, .. })
        ));
        assert!(Msisdn::parse("+12345", "86").is_ok());
        assert!(Msisdn::parse("+123456789012345", "86").is_ok());
        // The count includes the country code the number was given: say so.
        assert_eq!(
            Msisdn::parse("12", "86").unwrap_err().to_string(),
            "\"12\" is no phone number: with its country code it has 4 digits, and a number has 5 to 15"
        );
        let err = Msisdn::parse("+1234567890123456", "86").unwrap_err();
        assert_eq!(err.text(), "+1234567890123456");
        assert!(Msisdn::parse(&"9".repeat(30), "86").is_err());
    }

    #[test]
    fn junk_is_rejected_and_quoted() {
        let err = Msisdn::parse("138abc", "86").unwrap_err();
        assert_eq!(
            err,
            MsisdnError::InvalidChar {
                text: "138abc".into(),
                found: 'a'
            }
        );
        assert_eq!(Msisdn::parse("  ", "86"), Err(MsisdnError::Empty));
        assert_eq!(Msisdn::parse("+", "86"), Err(MsisdnError::Empty));
        assert!(matches!(
            Msisdn::parse("1+38", "86"),
            Err(MsisdnError::InvalidChar { found: '+', .. })
        ));
        assert!(matches!(
            Msisdn::parse("+0123456", "86"),
            Err(MsisdnError::BadCountryCode { .. })
        ));
    }

    #[test]
    fn try_from_needs_an_international_form() {
        assert_eq!(
            Msisdn::try_from("+8613800138000").unwrap().as_str(),
            "+8613800138000"
        );
        assert!(matches!(
            Msisdn::try_from("13800138000"),
            Err(MsisdnError::NoDefaultCountryCode { .. })
        ));
        assert!(matches!(
            Msisdn::parse("13800138000", "abc"),
            Err(MsisdnError::NoDefaultCountryCode { .. })
        ));
    }

    #[test]
    fn normalisation_is_idempotent() {
        let once = Msisdn::parse("(+86) 138-0013-8000", "86").unwrap();
        assert_eq!(Msisdn::parse(once.as_str(), "1").unwrap(), once);
        assert_eq!(Msisdn::try_from(once.as_str()).unwrap(), once);
    }
}
