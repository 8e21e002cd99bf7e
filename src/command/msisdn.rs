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
/// Fewest digits a number a subscriber types in national form has, counted as typed: its
/// national significant number, without a trunk `0` (COMMANDS.md: "fewer than 5 digits").
/// Read by [`Msisdn::read`].
pub const MIN_NATIONAL_DIGITS: usize = 5;
/// Fewest digits a number typed in international form (`+` or `00`) has, country code
/// included: the shortest numbers in service (Niue, +683 and four digits) have 7. Read by
/// [`Msisdn::read`]; `0013-8000` (`+138000`) is no number.
pub const MIN_INTERNATIONAL_DIGITS: usize = 7;

/// Most digits a short code or service number has, as [`is_service_number`] reads one
/// (`10086`, `12306`, `1065 8000`); longer ones are numbers cut short or typed wrong.
pub const MAX_SERVICE_DIGITS: usize = 8;

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
    /// Too few digits for a number, counted as typed (see [`Msisdn::read`]): the national
    /// significant number of a national number, every digit after the `+` or `00` of an
    /// international one.
    #[error("{text:?} has too few digits for a phone number ({digits})")]
    TooShort {
        /// The text as typed.
        text: String,
        /// The digits counted.
        digits: usize,
    },
    /// A number of a country whose numbers (or mobile numbers) have a fixed length, with
    /// another length: a slip of the finger (`1380013800`, ten digits, in China).
    #[error("{text:?} looks mistyped: {what} have {expected} digits, it has {digits}")]
    Mistyped {
        /// The text as typed.
        text: String,
        /// The digits of its national significant number.
        digits: usize,
        /// How many they should be.
        expected: usize,
        /// Which numbers have that length.
        what: FixedLength,
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
            | MsisdnError::TooShort { text, .. }
            | MsisdnError::Mistyped { text, .. }
            | MsisdnError::BadCountryCode { text }
            | MsisdnError::NoDefaultCountryCode { text, .. } => text,
        }
    }
}

/// Numbers whose length a numbering plan fixes, as [`Msisdn::read`] knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedLength {
    /// Chinese mobile numbers (+86): 11 digits starting with 1.
    ChineseMobile,
    /// Every number of the North American Numbering Plan (+1): 10 digits after the +1.
    Nanp,
}

impl fmt::Display for FixedLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixedLength::ChineseMobile => "mobile numbers",
            FixedLength::Nanp => "+1 numbers",
        })
    }
}

/// The length the national significant number `nsn` of the number `digits` (E.164, no `+`)
/// must have, when its country fixes one. Conservative: only plans where every such number
/// has that length. China: a mobile number is 11 digits, 13 to 19 then nine more; typed
/// nationally, a number starting with 1 can only be one (a landline is typed with its trunk
/// `0`: `010 6552 9988` is Beijing). NANP: every number is 10 digits.
fn fixed_length(digits: &str, nsn: &str, typed_nationally: bool) -> Option<(usize, FixedLength)> {
    let second = nsn.as_bytes().get(1).copied().unwrap_or(b'0');
    if digits.starts_with("86")
        && nsn.starts_with('1')
        && (typed_nationally || (b'3'..=b'9').contains(&second))
    {
        Some((11, FixedLength::ChineseMobile))
    } else if digits.starts_with('1') {
        Some((10, FixedLength::Nanp))
    } else {
        None
    }
}

/// Whether `text` is a short code or service number of the default country (`10086`,
/// `10658`, `12306` in China) rather than a subscriber's number typed wrong: written
/// nationally (no `00` or trunk `0`) or after the default country code (`+86 10086`,
/// `008610086`), 3 to [`MAX_SERVICE_DIGITS`] digits without it, and unlike the beginning of
/// a number of a plan with a fixed length ([`FixedLength`]): a Chinese mobile starts 13 to
/// 19, so `10086` is a service number while `13800` is a mobile cut short; under the NANP
/// short codes have 5 or 6 digits, and 7 are a local number without its area code. Numbers
/// of other countries' plans are never called service numbers (nothing is known of their
/// lengths). Every command that takes a number answers such a number as no subscriber's:
/// typed nationally [`Msisdn::read`] refuses it as [`MsisdnError::Mistyped`] (said instead
/// of the slip), and after the country code it reads as a number no subscriber has.
/// (`010086` is a landline typed with its trunk `0` and cut short, not `10086`.)
pub fn is_service_number(text: &str, default_country_code: &str) -> bool {
    let Ok((digits, form)) = Msisdn::reading(text, Some(default_country_code)) else {
        return false;
    };
    let cc_len = match form {
        Form::National {
            cc_len,
            trunk: false,
        } => cc_len,
        Form::National { trunk: true, .. } => return false,
        Form::International => match country_code(default_country_code) {
            Some(cc) if digits.starts_with(&cc) => cc.len(),
            _ => return false,
        },
    };
    let nsn = &digits[cc_len..];
    if !(3..=MAX_SERVICE_DIGITS).contains(&nsn.len()) {
        return false;
    }
    match fixed_length(&digits, nsn, true) {
        Some((_, FixedLength::ChineseMobile)) => {
            !matches!(nsn.as_bytes().get(1), Some(b'3'..=b'9'))
        }
        Some((_, FixedLength::Nanp)) => (5..=6).contains(&nsn.len()),
        None => false,
    }
}

/// The E.164 digits `text` stands for under `default_country_code`, whatever their number:
/// `10658`, `+86 10658`, `008610658` and `010658` are all `8610658`, and so is a configured
/// `+8610658`. For telling whether a number typed is one of the service's own
/// (`service_number`, `service_aliases`), which need not have the length of a subscriber's
/// (`1065712345678`): compared by these digits, as [`Msisdn::parse`] normalises. `None` when
/// `text` is no number.
pub fn e164_digits(text: &str, default_country_code: &str) -> Option<String> {
    Msisdn::reading(text, Some(default_country_code))
        .ok()
        .map(|(digits, _)| digits)
}

/// How a number was written, for [`Msisdn::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// With `+` or `00`, or a national-looking number that starts with the default country
    /// code (`8613800138000`).
    International,
    /// National: the default country code was put before it; `trunk` if a leading `0` was
    /// dropped first.
    National { cc_len: usize, trunk: bool },
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

    /// Reads a number a subscriber typed (every command's numbers: WHO, STOP, START, GROUP
    /// ADD/DEL, the USSD WHO prompt), as [`Msisdn::parse`] and stricter about what is
    /// plausible, counting the digits as typed:
    /// - a national number needs [`MIN_NATIONAL_DIGITS`] digits without its trunk `0`
    ///   (`1234` is too short, not `+861234`); one typed with `+` or `00` needs
    ///   [`MIN_INTERNATIONAL_DIGITS`] with its country code (`0013-8000` is no `+138000`);
    /// - where the numbering plan fixes the length ([`FixedLength`]: Chinese mobiles, NANP),
    ///   another length is [`MsisdnError::Mistyped`] (`1380013800`).
    pub fn read(text: &str, default_country_code: &str) -> Result<Msisdn, MsisdnError> {
        let typed = text.trim();
        let (digits, form) = Self::reading(text, Some(default_country_code))?;
        if digits.starts_with('0') {
            return Err(MsisdnError::BadCountryCode {
                text: typed.to_owned(),
            });
        }
        let (counted, min, nsn_from) = match form {
            Form::International => (digits.len(), MIN_INTERNATIONAL_DIGITS, None),
            Form::National { cc_len, .. } => {
                (digits.len() - cc_len, MIN_NATIONAL_DIGITS, Some(cc_len))
            }
        };
        if counted < min {
            return Err(MsisdnError::TooShort {
                text: typed.to_owned(),
                digits: counted,
            });
        }
        let number = Self::checked(typed, digits)?;
        let digits = number.digits();
        let typed_nationally = matches!(form, Form::National { trunk: false, .. });
        let nsn = match nsn_from {
            Some(cc_len) => &digits[cc_len..],
            None if digits.starts_with("86") => &digits[2..],
            None => &digits[1..],
        };
        if let Some((expected, what)) = fixed_length(digits, nsn, typed_nationally) {
            if nsn.len() != expected {
                return Err(MsisdnError::Mistyped {
                    text: typed.to_owned(),
                    digits: nsn.len(),
                    expected,
                    what,
                });
            }
        }
        Ok(number)
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
        let (digits, _) = Self::reading(text, default_cc)?;
        Self::checked(text.trim(), digits)
    }

    /// The E.164 digits `text` stands for, with how it was written; lengths not checked.
    fn reading(text: &str, default_cc: Option<&str>) -> Result<(String, Form), MsisdnError> {
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
        if let Some(rest) = compact.strip_prefix('+') {
            return Ok((rest.to_owned(), Form::International));
        }
        if let Some(rest) = compact.strip_prefix("00") {
            return Ok((rest.to_owned(), Form::International));
        }
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
        let cc_len = cc.len();
        Ok(
            if compact.starts_with(&cc) && compact.len() >= cc_len + 10 {
                (compact, Form::International)
            } else if let Some(national) = compact.strip_prefix('0') {
                (
                    format!("{cc}{national}"),
                    Form::National {
                        cc_len,
                        trunk: true,
                    },
                )
            } else {
                (
                    format!("{cc}{compact}"),
                    Form::National {
                        cc_len,
                        trunk: false,
                    },
                )
            },
        )
    }

    /// `digits` as a number, if E.164 allows it (length, country code).
    fn checked(typed: &str, digits: String) -> Result<Msisdn, MsisdnError> {
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
    fn read_counts_the_digits_as_typed() {
        let read = |t: &str| Msisdn::read(t, "86");
        // Four digits typed are too few, whatever the country code makes of them.
        assert_eq!(
            read("1234"),
            Err(MsisdnError::TooShort {
                text: "1234".into(),
                digits: 4
            })
        );
        assert!(matches!(
            read("0123"),
            Err(MsisdnError::TooShort { digits: 3, .. })
        ));
        // Five typed are enough (a number not starting with 1 in China: no fixed length).
        assert_eq!(read("23456").unwrap().as_str(), "+8623456");
        // International: 7 digits with the country code at least; `0013-8000` is no +138000.
        assert_eq!(
            read("0013-8000"),
            Err(MsisdnError::TooShort {
                text: "0013-8000".into(),
                digits: 6
            })
        );
        assert!(matches!(
            read("+44 1234"),
            Err(MsisdnError::TooShort { digits: 6, .. })
        ));
        assert_eq!(read("+683 4002").unwrap().as_str(), "+6834002");
        // Too long stays too long.
        assert!(matches!(
            read("+1234567890123456"),
            Err(MsisdnError::BadLength { digits: 16, .. })
        ));
        // parse (numbers from the SMSC, the config) keeps its rule.
        assert!(Msisdn::parse("1234", "86").is_ok());
    }

    #[test]
    fn read_refuses_a_chinese_mobile_of_the_wrong_length() {
        let read = |t: &str| Msisdn::read(t, "86");
        for typed in [
            "1380013800",
            "138001380001",
            "+86 1380013800",
            "013800138",
            "12345",
        ] {
            assert!(
                matches!(
                    read(typed),
                    Err(MsisdnError::Mistyped {
                        expected: 11,
                        what: FixedLength::ChineseMobile,
                        ..
                    })
                ),
                "{typed}: {:?}",
                read(typed)
            );
        }
        assert_eq!(
            read("1380013800").unwrap_err().to_string(),
            "\"1380013800\" looks mistyped: mobile numbers have 11 digits, it has 10"
        );
        // Every documented form still reads, and landlines (typed with their trunk 0, or
        // +86 10 for Beijing) and other countries' numbers keep working.
        for (typed, want) in [
            ("13800138000", "+8613800138000"),
            ("+86 138-0013-8000", "+8613800138000"),
            ("(+86)13800138000", "+8613800138000"),
            ("008613800138000", "+8613800138000"),
            ("8613800138000", "+8613800138000"),
            ("010 6552 9988", "+861065529988"),
            ("+86 10 6552 9988", "+861065529988"),
            ("0755-8888-6666", "+8675588886666"),
            ("87654321", "+8687654321"),
            ("+44 7911 123456", "+447911123456"),
            ("+852 9123 4567", "+85291234567"),
            ("+1 415 555 0100", "+14155550100"),
        ] {
            assert_eq!(
                read(typed).map(|m| m.to_string()),
                Ok(want.into()),
                "{typed}"
            );
        }
        // Elsewhere a national number starting with 1 has no fixed length.
        assert_eq!(
            Msisdn::read("01632 960123", "44").unwrap().as_str(),
            "+441632960123"
        );
        // NANP numbers are ten digits after the +1.
        assert!(matches!(
            read("+1 415 555 010"),
            Err(MsisdnError::Mistyped {
                expected: 10,
                what: FixedLength::Nanp,
                ..
            })
        ));
        assert!(Msisdn::read("4155550100", "1").is_ok());
        assert!(Msisdn::read("5550100", "1").is_err());
    }

    #[test]
    fn service_numbers_are_told_from_numbers_cut_short() {
        // China: 10x, 11x, 12x are never mobiles; 13x to 19x are mobiles cut short.
        for typed in [
            "10086",
            "10010",
            "10000",
            "10658",
            "12306",
            "12345",
            "110",
            "1065 8000",
        ] {
            assert!(is_service_number(typed, "86"), "{typed}");
        }
        for typed in [
            "13800",
            "1380013800",
            "19912345",
            "138001",
            // Too long for a service number: a Beijing landline without its 0, a slip.
            "1065529988",
            "106581234",
            "+86 1065529988",
            // A trunk 0: a landline cut short; another country's code.
            "010086",
            "+44 10086",
            "+8613800",
            "13800138000",
            "87654321",
            "95555",
            "12",
            "abc",
            "",
        ] {
            assert!(!is_service_number(typed, "86"), "{typed}");
        }
        // NANP: 5 or 6 digits are a short code, 7 a local number without its area code.
        assert!(is_service_number("72345", "1"));
        assert!(is_service_number("898287", "1"));
        assert!(!is_service_number("5550100", "1"));
        // Where no length is fixed, nothing is called a service number.
        assert!(!is_service_number("12345", "44"));
        // Written after the country code, as the service's replies and SMSCs write them.
        for typed in ["+86 10086", "+8610086", "008610086", "(+86) 12306"] {
            assert!(is_service_number(typed, "86"), "{typed}");
        }
        assert!(is_service_number("+1 72345", "1"));
        // Those typed nationally are all refused by read as a slip, which they are not.
        for typed in ["10086", "12306", "1065 8000", "72345"] {
            let cc = if typed == "72345" { "1" } else { "86" };
            assert!(
                matches!(Msisdn::read(typed, cc), Err(MsisdnError::Mistyped { .. })),
                "{typed}"
            );
        }
    }

    #[test]
    fn e164_digits_are_the_same_for_every_way_of_writing_a_number_of_any_length() {
        for typed in [
            "10658",
            "+86 10658",
            "008610658",
            "010658",
            "+8610658",
            "(+86)10658",
        ] {
            assert_eq!(
                e164_digits(typed, "86").as_deref(),
                Some("8610658"),
                "{typed}"
            );
        }
        // Longer than any subscriber's, and longer than E.164 allows: still compared.
        for typed in ["1065712345678", "+86 106 5712 345678"] {
            assert_eq!(
                e164_digits(typed, "86").as_deref(),
                Some("861065712345678"),
                "{typed}"
            );
        }
        assert_eq!(
            e164_digits("10657123456789012", "86").as_deref(),
            Some("8610657123456789012")
        );
        assert_eq!(e164_digits("abc", "86"), None);
        assert_eq!(e164_digits("", "86"), None);
    }

    #[test]
    fn normalisation_is_idempotent() {
        let once = Msisdn::parse("(+86) 138-0013-8000", "86").unwrap();
        assert_eq!(Msisdn::parse(once.as_str(), "1").unwrap(), once);
        assert_eq!(Msisdn::try_from(once.as_str()).unwrap(), once);
    }
}
