//! SMPP time fields (SMPP 3.4 §7.1.1): `schedule_delivery_time` and `validity_period`, read once
//! by [`parse`] and turned into instants by [`SmppTime::resolve`].
//!
//! A field is empty (no time: deliver now, default validity) or 16 characters:
//!
//! * absolute `YYMMDDhhmmsstnnp`: year 20YY, month 01-12, a day that month has, hour 00-23,
//!   minute and second 00-59, tenths `t` 0-9, `nn` 00-48 quarter hours between the local time
//!   written and UTC, and `p` `+` (local time ahead of UTC) or `-` (behind it);
//! * relative `YYMMDDhhmmsstnnR`: that many years, months, days, hours (00-23), minutes and
//!   seconds (00-59) from now; `tnn` are digits the simulator ignores.
//!
//! Anything else is malformed: a submit carrying it is refused with `ESME_RINVSCHED` (0x61)
//! or `ESME_RINVEXPIRY` (0x62), SMPP 3.4 §5.1.3.

use serde::Serialize;

/// A parsed SMPP time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SmppTime {
    /// An absolute instant, in milliseconds since the Unix epoch (UTC).
    Absolute {
        /// The instant.
        utc_ms: u64,
    },
    /// A span from the moment the SMSC received the message.
    Relative {
        /// Years (`YY`).
        years: u32,
        /// Months (`MM`).
        months: u32,
        /// Days (`DD`).
        days: u32,
        /// Hours, minutes and seconds, in seconds.
        seconds: u32,
    },
}

/// Why a time field is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not empty and not 16 characters.
    #[error("{0} characters (an SMPP time is empty or 16)")]
    Length(usize),
    /// A position that must be a digit is not.
    #[error("{0:?} is not 12 digits, a tenths digit and 2 offset digits")]
    NotDigits(String),
    /// The 16th character is not `+`, `-` or `R`.
    #[error("ends in {0:?}, not '+', '-' or 'R'")]
    Direction(char),
    /// A field out of its range (month 13, 31 April, hour 24, offset 49...).
    #[error("{field} {value} is out of range")]
    Range {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
}

/// Parse an SMPP time field: `Ok(None)` when empty.
pub fn parse(s: &str) -> Result<Option<SmppTime>, TimeError> {
    parse_bytes(s.as_bytes())
}

/// [`parse`] for the raw bytes of the field (without its NUL), as they came on the wire.
pub fn parse_bytes(b: &[u8]) -> Result<Option<SmppTime>, TimeError> {
    if b.is_empty() {
        return Ok(None);
    }
    if b.len() != 16 {
        return Err(TimeError::Length(b.len()));
    }
    if !b[..15].iter().all(u8::is_ascii_digit) {
        return Err(TimeError::NotDigits(
            String::from_utf8_lossy(&b[..15]).into_owned(),
        ));
    }
    let two = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss, nn) = (two(0), two(2), two(4), two(6), two(8), two(10), two(13));
    let range = |field: &'static str, value: u32, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(TimeError::Range { field, value })
        }
    };
    range("hour", hh, hh <= 23)?;
    range("minute", mi, mi <= 59)?;
    range("second", ss, ss <= 59)?;
    match b[15] {
        b'R' => Ok(Some(SmppTime::Relative {
            years: yy,
            months: mo,
            days: dd,
            seconds: hh * 3600 + mi * 60 + ss,
        })),
        p @ (b'+' | b'-') => {
            range("month", mo, (1..=12).contains(&mo))?;
            let year = 2000 + i64::from(yy);
            range("day", dd, (1..=days_in_month(year, mo)).contains(&dd))?;
            range("quarter hours from UTC", nn, nn <= 48)?;
            let local =
                days_from_civil(year, mo, dd) * 86_400 + i64::from(hh * 3600 + mi * 60 + ss);
            let offset = i64::from(nn) * 15 * 60;
            // Local time ahead of UTC ('+'): UTC is earlier.
            let utc = if p == b'+' {
                local - offset
            } else {
                local + offset
            };
            let tenths = u64::from(b[12] - b'0') * 100;
            Ok(Some(SmppTime::Absolute {
                utc_ms: u64::try_from(utc).unwrap_or(0) * 1000 + tenths,
            }))
        }
        other => Err(TimeError::Direction(char::from(other))),
    }
}

impl SmppTime {
    /// The instant this time names, for a message received at `now_ms`: an absolute time as
    /// it is; a relative one added to `now_ms` by the calendar (months and years keep the day
    /// of the month, the last day of a shorter month standing in).
    pub fn resolve(&self, now_ms: u64) -> u64 {
        match *self {
            SmppTime::Absolute { utc_ms } => utc_ms,
            SmppTime::Relative {
                years,
                months,
                days,
                seconds,
            } => {
                let (y, mo, d, ..) = crate::util::civil(now_ms);
                let total = y * 12 + i64::from(mo - 1) + i64::from(years) * 12 + i64::from(months);
                let (ny, nmo) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
                let nd = d.min(days_in_month(ny, nmo));
                let shift_days = days_from_civil(ny, nmo, nd) - days_from_civil(y, mo, d);
                let add_ms =
                    (shift_days + i64::from(days)) * 86_400_000 + i64::from(seconds) * 1000;
                now_ms.saturating_add(u64::try_from(add_ms).unwrap_or(0))
            }
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in `month` (1-12) of `year`.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm; the inverse of
/// [`crate::util::civil`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{civil, smpp_time};
    use proptest::prelude::*;

    const MS_2024_02_29_134507: u64 = 1_709_214_307_000;

    #[test]
    fn absolute_times_with_their_offsets() {
        assert_eq!(parse(""), Ok(None));
        let utc = |s| match parse(s) {
            Ok(Some(SmppTime::Absolute { utc_ms })) => utc_ms,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(utc("240229134507000+"), MS_2024_02_29_134507);
        assert_eq!(utc("240229134507300+"), MS_2024_02_29_134507 + 300);
        // Beijing time (UTC+8, 32 quarter hours) is eight hours ahead of UTC.
        assert_eq!(utc("240229214507032+"), MS_2024_02_29_134507);
        assert_eq!(utc("240229054507032-"), MS_2024_02_29_134507);
    }

    #[test]
    fn malformed_times_say_why() {
        for (s, want) in [
            ("garbage", TimeError::Length(7)),
            ("000000000100000", TimeError::Length(15)),
            ("2712312359590000+", TimeError::Length(17)),
            (
                "271331235959000+",
                TimeError::Range {
                    field: "month",
                    value: 13,
                },
            ),
            (
                "270229235959000+",
                TimeError::Range {
                    field: "day",
                    value: 29,
                },
            ),
            (
                "270431235959000+",
                TimeError::Range {
                    field: "day",
                    value: 31,
                },
            ),
            (
                "271231245959000+",
                TimeError::Range {
                    field: "hour",
                    value: 24,
                },
            ),
            (
                "271231235959049+",
                TimeError::Range {
                    field: "quarter hours from UTC",
                    value: 49,
                },
            ),
            ("271231235959000X", TimeError::Direction('X')),
            (
                "27123123595900a+",
                TimeError::NotDigits("27123123595900a".into()),
            ),
            (
                "000000006000000R",
                TimeError::Range {
                    field: "minute",
                    value: 60,
                },
            ),
        ] {
            assert_eq!(parse(s), Err(want), "{s}");
        }
        // 29 February in a leap year is a day.
        assert!(parse("280229000000000+").is_ok());
    }

    #[test]
    fn relative_times_count_from_now_by_the_calendar() {
        let now = MS_2024_02_29_134507;
        let at = |s: &str| parse(s).unwrap().unwrap().resolve(now);
        // What presence-gw sends: 48 hours.
        assert_eq!(at("000002000000000R"), now + 2 * 86_400_000);
        assert_eq!(at("000000010203000R"), now + (3600 + 2 * 60 + 3) * 1000);
        // One year from 29 February is 28 February (no 29th in 2025); one month is 29 March.
        assert_eq!(civil(at("010000000000000R")), (2025, 2, 28, 13, 45, 7));
        assert_eq!(civil(at("000100000000000R")), (2024, 3, 29, 13, 45, 7));
        assert_eq!(civil(at("001100000000000R")), (2025, 1, 29, 13, 45, 7));
        // Days past 31 are days all the same (presence-gw writes up to 99).
        assert_eq!(at("000099000000000R"), now + 99 * 86_400_000);
    }

    proptest! {
        /// Whatever the bytes, parsing never panics; what parses has 16 characters.
        #[test]
        fn parsing_never_panics(b in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(Some(_)) = parse_bytes(&b) {
                prop_assert_eq!(b.len(), 16);
            }
        }

        /// Every instant the simulator writes (query_sm_resp's final_date) reads back as it.
        #[test]
        fn written_times_read_back(secs in 946_684_800u64..4_102_444_799) {
            let ms = secs * 1000;
            prop_assert_eq!(parse(&smpp_time(ms)), Ok(Some(SmppTime::Absolute { utc_ms: ms })));
        }

        /// An offset moves the instant by exactly its quarter hours.
        #[test]
        fn offsets_are_quarter_hours(secs in 946_800_000u64..4_102_000_000, nn in 0u32..=48) {
            let (y, mo, d, h, mi, s) = civil(secs * 1000);
            let local = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}0{nn:02}", y % 100);
            let plus = parse(&format!("{local}+")).unwrap().unwrap().resolve(0);
            let minus = parse(&format!("{local}-")).unwrap().unwrap().resolve(0);
            prop_assert_eq!(plus + u64::from(nn) * 900_000, secs * 1000);
            prop_assert_eq!(minus - u64::from(nn) * 900_000, secs * 1000);
        }
    }
}
