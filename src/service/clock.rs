//! Wall-clock arithmetic of the status service in the configured time zone: when `UNTIL 15:00`
//! falls, and which local day and time an expiry is for a subscriber ([`When`]: today, tomorrow
//! or a date; the reply code words it in the reader's language). The zone is a fixed UTC
//! offset (China and most carriers' markets have no DST); times are Unix milliseconds, as
//! everywhere in the store.

use std::time::Duration;

use crate::command::Expiry;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// A fixed-offset time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// Minutes east of UTC (`480` for UTC+08:00).
    pub offset_minutes: i32,
}

impl Zone {
    /// UTC+08:00 (China Standard Time), the default.
    pub const CHINA: Zone = Zone {
        offset_minutes: 480,
    };

    /// Parses `+08:00`, `-05:30`, `+8`, `UTC`, `Z`.
    pub fn parse(text: &str) -> Option<Zone> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Some(Zone { offset_minutes: 0 });
        }
        let (sign, rest) = match t.as_bytes().first()? {
            b'+' => (1, &t[1..]),
            b'-' => (-1, &t[1..]),
            _ => return None,
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
            None => (rest.parse::<i32>().ok()?, 0),
        };
        if !(0..=14).contains(&h) || !(0..60).contains(&m) {
            return None;
        }
        Some(Zone {
            offset_minutes: sign * (h * 60 + m),
        })
    }

    fn offset_ms(self) -> i64 {
        i64::from(self.offset_minutes) * MINUTE_MS
    }

    /// When `expiry`, given at `now`, falls (Unix ms). `UNTIL hh:mm` is the next such local time
    /// strictly after `now` (today if still ahead, else tomorrow); a time on either half of the
    /// day (`UNTIL 5`) the nearer of the next `h:mm` and the next `h+12:mm`; `UNTIL TOMORROW
    /// hh:mm` that time on the next local day (even when today's is still ahead).
    pub fn expiry_at(self, now: i64, expiry: Expiry) -> i64 {
        match expiry {
            Expiry::For(d) => now.saturating_add(duration_ms(d)),
            Expiry::UntilEither { hour, minute } => {
                let at = |hour| self.expiry_at(now, Expiry::Until { hour, minute });
                at(hour % 24).min(at((hour + 12) % 24))
            }
            Expiry::Until { hour, minute } => {
                let local = now + self.offset_ms();
                let day_start = local.div_euclid(DAY_MS) * DAY_MS;
                let mut target = day_start + (i64::from(hour) * 60 + i64::from(minute)) * MINUTE_MS;
                if target <= local {
                    target += DAY_MS;
                }
                target - self.offset_ms()
            }
            Expiry::UntilTomorrow { hour, minute } => {
                let local = now + self.offset_ms();
                let tomorrow = (local.div_euclid(DAY_MS) + 1) * DAY_MS;
                tomorrow + (i64::from(hour) * 60 + i64::from(minute)) * MINUTE_MS - self.offset_ms()
            }
        }
    }

    /// `at` as a subscriber reads it at `now`: its local time of day, and whether its local day
    /// is today, tomorrow or another date.
    pub fn when(self, now: i64, at: i64) -> When {
        let local_at = at + self.offset_ms();
        let minutes = local_at.rem_euclid(DAY_MS) / MINUTE_MS;
        let day_at = local_at.div_euclid(DAY_MS);
        let today = (now + self.offset_ms()).div_euclid(DAY_MS);
        let day = if day_at == today {
            Day::Today
        } else if day_at == today + 1 {
            Day::Tomorrow
        } else {
            let (_, month, day) = civil_from_days(day_at);
            Day::Date { month, day }
        };
        When {
            day,
            hour: (minutes / 60) as u32,
            minute: (minutes % 60) as u32,
        }
    }

    /// UTC.
    pub const UTC: Zone = Zone { offset_minutes: 0 };

    /// `YYYY-MM-DD HH:MM:SS` of `at` in this zone (operator output that logs are read beside).
    pub fn timestamp(self, at: i64) -> String {
        format!("{} {}", self.date(at), self.time_of_day(at))
    }

    /// `HH:MM:SS` of `at` in this zone.
    pub fn time_of_day(self, at: i64) -> String {
        hms((at + self.offset_ms()).rem_euclid(DAY_MS) / 1000)
    }

    /// `YYYY-MM-DD` of `at` in this zone.
    pub fn date(self, at: i64) -> String {
        let (year, month, day) = civil_from_days((at + self.offset_ms()).div_euclid(DAY_MS));
        format!("{year}-{month:02}-{day:02}")
    }

    /// `YYYY-MM-DD HH:MM` of `at` in this zone (operator output).
    pub fn datetime(self, at: i64) -> String {
        format!("{} {}", self.date(at), &self.time_of_day(at)[..5])
    }

    /// Start of the hour containing `now` (Unix ms; zones with whole-hour offsets align).
    pub fn hour_start(self, now: i64) -> i64 {
        let local = now + self.offset_ms();
        local.div_euclid(3_600_000) * 3_600_000 - self.offset_ms()
    }
}

/// A local day relative to the reader's today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    /// The same local day as now.
    Today,
    /// The next local day.
    Tomorrow,
    /// Any other day (later, or earlier for an expiry not yet processed): month 1 to 12, day
    /// of the month 1 to 31. No year: expiries are at most 30 days ahead.
    Date {
        /// Month, 1 to 12.
        month: u32,
        /// Day of the month, 1 to 31.
        day: u32,
    },
}

/// A moment as a subscriber reads it (an expiry, when held updates go out): built by the
/// service from the zone with [`Zone::when`], worded by the reply code in the reader's
/// language (`17:00`, `tomorrow 17:00` / `明天17:00`, `Dec 7 17:00` / `12月7日17:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    /// Its local day.
    pub day: Day,
    /// Local hour, 0 to 23.
    pub hour: u32,
    /// Local minute, 0 to 59.
    pub minute: u32,
}

impl When {
    /// Today at `hour:minute`.
    pub const fn today(hour: u32, minute: u32) -> When {
        When {
            day: Day::Today,
            hour,
            minute,
        }
    }

    /// Tomorrow at `hour:minute`.
    pub const fn tomorrow(hour: u32, minute: u32) -> When {
        When {
            day: Day::Tomorrow,
            hour,
            minute,
        }
    }

    /// `month`/`day` at `hour:minute`.
    pub const fn on(month: u32, day: u32, hour: u32, minute: u32) -> When {
        When {
            day: Day::Date { month, day },
            hour,
            minute,
        }
    }
}

/// `HH:MM:SS` of a second of the day.
fn hms(seconds: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The UTC calendar fields of `at` (Unix ms): (year, month, day, hour, minute, second).
pub fn utc_fields(at: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (year, month, day) = civil_from_days(at.div_euclid(DAY_MS));
    let secs = at.rem_euclid(DAY_MS) / 1000;
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_is_the_local_calendar_time() {
        // 2026-11-22 06:30 UTC.
        let at = 1_795_329_000_000;
        assert_eq!(Zone { offset_minutes: 0 }.datetime(at), "2026-11-22 06:30");
        assert_eq!(Zone::CHINA.datetime(at), "2026-11-22 14:30");
        assert_eq!(
            Zone {
                offset_minutes: -480
            }
            .datetime(at),
            "2026-11-21 22:30"
        );
        assert_eq!(Zone::UTC.timestamp(at + 59_999), "2026-11-22 06:30:59");
        assert_eq!(Zone::CHINA.timestamp(at + 1_000), "2026-11-22 14:30:01");
        assert_eq!(Zone::CHINA.time_of_day(at - 1_000), "14:29:59");
        assert_eq!(Zone::CHINA.date(at + 10 * 3_600_000), "2026-11-23");
    }

    // 2026-11-22 06:30:00 UTC = 14:30 in UTC+8.
    const NOW: i64 = 1_795_329_000_000;

    #[test]
    fn parses_offsets() {
        assert_eq!(Zone::parse("+08:00"), Some(Zone::CHINA));
        assert_eq!(Zone::parse("+8"), Some(Zone::CHINA));
        assert_eq!(
            Zone::parse("-05:30"),
            Some(Zone {
                offset_minutes: -330
            })
        );
        assert_eq!(Zone::parse("UTC"), Some(Zone { offset_minutes: 0 }));
        for bad in ["", "8", "+25", "+08:61", "CST"] {
            assert_eq!(Zone::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn until_is_the_next_such_local_time() {
        let z = Zone::CHINA;
        assert_eq!(z.when(NOW, NOW), When::today(14, 30));
        let at = z.expiry_at(
            NOW,
            Expiry::Until {
                hour: 15,
                minute: 0,
            },
        );
        assert_eq!(at - NOW, 30 * 60_000);
        assert_eq!(z.when(NOW, at), When::today(15, 0));
        // 14:00 has passed today: tomorrow.
        let at = z.expiry_at(
            NOW,
            Expiry::Until {
                hour: 14,
                minute: 0,
            },
        );
        assert_eq!(at - NOW, (24 * 60 - 30) * 60_000);
        assert_eq!(z.when(NOW, at), When::tomorrow(14, 0));
        // Exactly now is not ahead.
        let at = z.expiry_at(
            NOW,
            Expiry::Until {
                hour: 14,
                minute: 30,
            },
        );
        assert_eq!(at - NOW, 24 * 3_600_000);
    }

    #[test]
    fn until_tomorrow_is_that_time_on_the_next_local_day() {
        let z = Zone::CHINA;
        let tomorrow = |hour, minute| Expiry::UntilTomorrow { hour, minute };
        // At 14:30: tomorrow 15:00 is a day and half an hour away, not the 15:00 of today.
        let at = z.expiry_at(NOW, tomorrow(15, 0));
        assert_eq!(at - NOW, (24 * 60 + 30) * 60_000);
        assert_eq!(z.when(NOW, at), When::tomorrow(15, 0));
        let at = z.expiry_at(NOW, tomorrow(9, 0));
        assert_eq!(at - NOW, (24 * 60 - 5 * 60 - 30) * 60_000);
        assert_eq!(z.when(NOW, at), When::tomorrow(9, 0));
    }

    #[test]
    fn a_bare_hour_is_the_next_of_its_two_readings() {
        let z = Zone::CHINA;
        let either = |hour, minute| Expiry::UntilEither { hour, minute };
        // At 14:30: 5 is 17:00 today, 3 is 15:00, 2 is 02:00 tomorrow (14:00 has passed).
        assert_eq!(
            z.when(NOW, z.expiry_at(NOW, either(5, 0))),
            When::today(17, 0)
        );
        assert_eq!(
            z.when(NOW, z.expiry_at(NOW, either(3, 0))),
            When::today(15, 0)
        );
        assert_eq!(
            z.when(NOW, z.expiry_at(NOW, either(2, 0))),
            When::tomorrow(2, 0)
        );
        assert_eq!(
            z.when(NOW, z.expiry_at(NOW, either(2, 45))),
            When::today(14, 45)
        );
        // 12 is noon or midnight: midnight is next.
        assert_eq!(
            z.when(NOW, z.expiry_at(NOW, either(12, 0))),
            When::tomorrow(0, 0)
        );
        // In the small hours, the morning one: at 03:00 local (19:00 UTC), 5 is 05:00.
        let night = NOW + 12 * 3_600_000 + 30 * 60_000;
        assert_eq!(z.datetime(night), "2026-11-23 03:00");
        assert_eq!(
            z.when(night, z.expiry_at(night, either(5, 0))),
            When::today(5, 0)
        );
        assert_eq!(
            z.when(night, z.expiry_at(night, either(12, 0))),
            When::today(12, 0)
        );
    }

    #[test]
    fn for_adds_the_duration() {
        let z = Zone::CHINA;
        let at = z.expiry_at(NOW, Expiry::For(Duration::from_secs(7200)));
        assert_eq!(at - NOW, 7_200_000);
        assert_eq!(z.when(NOW, at), When::today(16, 30));
    }

    #[test]
    fn a_moment_is_today_tomorrow_or_a_date_by_the_local_day() {
        let z = Zone::CHINA;
        let h = 3_600_000;
        // 14:30 on 2026-11-22: 23:59 is today, midnight and the next day's 23:59 tomorrow,
        // the midnight after that a date.
        assert_eq!(z.when(NOW, NOW + 9 * h + 29 * 60_000), When::today(23, 59));
        assert_eq!(z.when(NOW, NOW + 9 * h + 30 * 60_000), When::tomorrow(0, 0));
        assert_eq!(
            z.when(NOW, NOW + 33 * h + 29 * 60_000),
            When::tomorrow(23, 59)
        );
        assert_eq!(
            z.when(NOW, NOW + 33 * h + 30 * 60_000),
            When::on(11, 24, 0, 0)
        );
        // Across a month and a year end; thirty days ahead; an expiry not yet processed.
        assert_eq!(z.when(NOW, NOW + 9 * 24 * h), When::on(12, 1, 14, 30));
        assert_eq!(z.when(NOW, NOW + 40 * 24 * h), When::on(1, 1, 14, 30));
        assert_eq!(z.when(NOW, NOW - 24 * h), When::on(11, 21, 14, 30));
        // The day is the local one: 14:30 in China is 06:30 UTC, and 20:00 UTC (04:00 on the
        // 23rd in China) is still today in UTC.
        let utc = Zone::UTC;
        assert_eq!(
            z.when(NOW, NOW + 13 * h + 30 * 60_000),
            When::tomorrow(4, 0)
        );
        assert_eq!(
            utc.when(NOW, NOW + 13 * h + 30 * 60_000),
            When::today(20, 0)
        );
    }

    #[test]
    fn dates_across_months_and_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
        assert_eq!(civil_from_days(20_819), (2027, 1, 1));
        // 2026-12-07T06:26:35.900Z; before 1970 the fields still count forward.
        assert_eq!(utc_fields(1_796_624_795_900), (2026, 12, 7, 6, 26, 35));
        assert_eq!(utc_fields(-1_000), (1969, 12, 31, 23, 59, 59));
        let z = Zone { offset_minutes: 0 };
        assert_eq!(z.hour_start(NOW), NOW - 30 * 60_000);
    }
}
