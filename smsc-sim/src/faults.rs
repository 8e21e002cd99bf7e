//! Fault injection: behaviours (values, not subclasses) that make the simulator misbehave like a
//! real carrier SMSC, set at start ([`crate::SimConfig::faults`]) or at run time
//! ([`crate::SimHandle::set_faults`], `POST /faults`).
//!
//! Each field is one behaviour; the default is a well-behaved SMSC. The pure decisions live here
//! (throttle window, error selection, delay choice) so they are tested without a runtime.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which malformed PDU the simulator sends on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MalformedKind {
    /// A deliver_sm whose `command_length` is right but whose body stops mid-field.
    #[default]
    TruncatedBody,
    /// A request with the unknown `command_id` 0x000000FF (SMPP 3.4 §5.1.2).
    UnknownCommand,
    /// A delivery receipt whose `receipted_message_id` TLV lacks its NUL terminator (a known
    /// carrier quirk).
    ReceiptMissingNul,
}

/// The longest delay the simulator keeps (a response or a receipt), in milliseconds: a day.
/// Longer ones (a typo, `u64::MAX`) are cut to it rather than overflow a clock.
pub const MAX_DELAY_MS: u64 = 86_400_000;

/// A response delay: uniform between `min_ms` and `max_ms` (equal for a fixed delay). In JSON
/// (`POST /faults`) also as the command line writes it: `150` or `"200-400"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delay {
    /// Shortest delay in milliseconds.
    pub min_ms: u64,
    /// Longest delay in milliseconds.
    pub max_ms: u64,
}

/// What a delay may be written as in JSON, for error messages.
const DELAY_EXPECTED: &str = "a delay in milliseconds: a whole number of at least 0 (150), \
     \"MIN-MAX\" (\"200-400\") or {\"min_ms\": MIN, \"max_ms\": MAX}";

impl Delay {
    /// This delay, or why it is none: its shortest above its longest.
    fn ordered(self) -> Result<Delay, String> {
        if self.min_ms > self.max_ms {
            return Err(format!(
                "min_ms {} is above max_ms {}",
                self.min_ms, self.max_ms
            ));
        }
        Ok(self)
    }

    /// A fixed delay.
    pub fn fixed(ms: u64) -> Self {
        Delay {
            min_ms: ms,
            max_ms: ms,
        }
    }

    /// Draw one delay in milliseconds (at most [`MAX_DELAY_MS`]).
    pub fn pick(&self, rng: &mut impl Rng) -> u64 {
        let ms = if self.max_ms <= self.min_ms {
            self.min_ms
        } else {
            rng.random_range(self.min_ms..=self.max_ms)
        };
        ms.min(MAX_DELAY_MS)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayFields {
    min_ms: u64,
    max_ms: u64,
}

impl<'de> Deserialize<'de> for Delay {
    /// A number, `"MIN-MAX"` or `{"min_ms", "max_ms"}`; anything else (`-5`, `1.5`) is refused
    /// with a message saying what a delay may be.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Delay, D::Error> {
        use serde::de::{self, Unexpected};
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Delay;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(DELAY_EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Delay, E> {
                Ok(Delay::fixed(ms))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Delay, E> {
                u64::try_from(v)
                    .map(Delay::fixed)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Delay, E> {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Delay, E> {
                s.parse()
                    .map_err(|e| E::custom(format!("{e}; expected {DELAY_EXPECTED}")))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Delay, A::Error> {
                let f = DelayFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Delay {
                    min_ms: f.min_ms,
                    max_ms: f.max_ms,
                }
                .ordered()
                .map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl std::str::FromStr for Delay {
    type Err = String;
    /// `MS` or `MIN-MAX` in milliseconds, as `smsc-sim serve --delay` takes it.
    fn from_str(s: &str) -> Result<Delay, String> {
        let ms = |v: &str| v.trim().parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match s.split_once('-') {
            Some((a, b)) => Delay {
                min_ms: ms(a)?,
                max_ms: ms(b)?,
            }
            .ordered()
            .map_err(|e| format!("{s:?}: {e}")),
            None => Ok(Delay::fixed(ms(s)?)),
        }
    }
}

/// A command_status as written on the command line or in JSON: decimal or `0x` hex.
pub fn parse_status(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

/// A command_status in JSON: a number, or a string as [`parse_status`] reads it (`"0x0B"`).
struct Status(u32);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        use serde::de::{self, Unexpected};
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Status;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command_status: a number (69) or hex text (\"0x45\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Status, E> {
                u32::try_from(v)
                    .map(Status)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Status, E> {
                u32::try_from(v)
                    .map(Status)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Status, E> {
                parse_status(s).map(Status).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn status_from_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Status::deserialize(d).map(|s| s.0)
}

/// A command_status or `null`.
fn optional_status_from_json<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    Option::<Status>::deserialize(d).map(|s| s.map(|s| s.0))
}

/// The `refuse_binds` fault: answer new binds with `status`, those of one account only when
/// `system_id` is given. In JSON a status alone (`13`, `"0x0D"`: every account) or
/// `{"status": 13, "system_id": "esme1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefuseBinds {
    /// The command_status to answer (e.g. 0x0D ESME_RBINDFAIL, 0x0E ESME_RINVPASWD).
    pub status: u32,
    /// Refuse only binds with this system_id; `None`: every bind.
    pub system_id: Option<String>,
}

impl RefuseBinds {
    /// Refuse every bind with `status`.
    pub fn all(status: u32) -> Self {
        RefuseBinds {
            status,
            system_id: None,
        }
    }

    /// Whether a bind with `system_id` is refused.
    pub fn refuses(&self, system_id: &str) -> bool {
        self.system_id.as_deref().is_none_or(|s| s == system_id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefuseBindsFields {
    #[serde(deserialize_with = "status_from_json")]
    status: u32,
    #[serde(default)]
    system_id: Option<String>,
}

impl<'de> Deserialize<'de> for RefuseBinds {
    /// A status (number or hex text) or `{"status", "system_id"}`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RefuseBinds, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Fields(RefuseBindsFields),
            Status(Status),
        }
        match Form::deserialize(d) {
            Ok(Form::Fields(f)) => Ok(RefuseBinds {
                status: f.status,
                system_id: f.system_id,
            }),
            Ok(Form::Status(s)) => Ok(RefuseBinds::all(s.0)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a command_status (13 or \"0x0D\") for every bind, or \
                 {\"status\": 13, \"system_id\": \"ESME\"} for one account's binds",
            )),
        }
    }
}

/// Answer submit_sm / data_sm with `status` for listed destinations and for `percent` of others.
/// An unknown key (`dests` for `destinations`) is refused, not taken for "none".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorFault {
    /// The command_status to answer (e.g. 0x45 `ESME_RSUBMITFAIL`, 0x14 `ESME_RMSGQFUL`).
    #[serde(deserialize_with = "status_from_json")]
    pub status: u32,
    /// Percentage (0..=100) of all other submits that fail.
    #[serde(default)]
    pub percent: f64,
    /// Destinations that always fail (national and international forms alike, as the
    /// handsets number them: [`crate::handset::same_subscriber`]).
    #[serde(default)]
    pub destinations: Vec<String>,
}

/// The set of active faults. `Default` is a well-behaved SMSC.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Answer `ESME_RTHROTTLED` to submit_sm / data_sm above this many per second and account
    /// (`system_id`, all its binds together), as carriers set a rate per account: one ESME's
    /// traffic does not use up another's.
    pub throttle_per_sec: Option<u32>,
    /// Answer `ESME_RTHROTTLED` to submit_sm / data_sm above this many per second over all
    /// accounts together (the whole SMSC's capacity); with `throttle_per_sec` both apply.
    pub throttle_global_per_sec: Option<u32>,
    /// Delay the responses to submit_sm, submit_multi, data_sm, query_sm, cancel_sm and
    /// replace_sm (binds and enquire_link are answered at once). Delayed requests count as
    /// outstanding for window enforcement.
    pub response_delay: Option<Delay>,
    /// Error responses for some destinations.
    pub error: Option<ErrorFault>,
    /// More error rules beside `error` (e.g. a permanent status for listed destinations
    /// alongside a percentage of temporary ones). A destination listed in any rule always
    /// gets that rule's status (the first listing it, `error` first); the percentages apply
    /// only to destinations no rule lists.
    pub more_errors: Vec<ErrorFault>,
    /// Close each connection right after it has sent this many PDUs (at least 1; 1 closes
    /// it right after its bind is answered).
    pub drop_after_pdus: Option<u64>,
    /// Never answer enquire_link.
    pub ignore_enquire_link: bool,
    /// Send a zero-delay receipt before the submit_sm_resp it refers to: on a transceiver,
    /// written first on the same connection; from a transmitter, queued for the account's
    /// receiver at once, racing the response. Without it a receipt follows its response
    /// (also a delayed one).
    pub receipt_before_resp: bool,
    /// Send every delivery receipt twice (as a carrier does when a deliver_sm_resp is lost).
    pub duplicate_receipts: bool,
    /// Answer every new bind (or, with a `system_id`, that account's) with this
    /// command_status (e.g. 0x0D ESME_RBINDFAIL, 0x0E ESME_RINVPASWD), whatever its
    /// credentials: an SMSC refusing binds, for an ESME's bind-refused path. Binds already up
    /// stay up.
    pub refuse_binds: Option<RefuseBinds>,
    /// Answer every cancel_sm with this command_status in a header-only cancel_sm_resp,
    /// cancelling nothing (e.g. 0x58 ESME_RTHROTTLED: an SMSC busy; 0x03 ESME_RINVCMDID: one
    /// that does not do cancel_sm), for an ESME's handling of refused cancels. An SMSC without
    /// cancel_sm that answers generic_nack is `serve --no-cancel`
    /// ([`crate::SimConfig::cancel_sm`]).
    #[serde(deserialize_with = "optional_status_from_json")]
    pub refuse_cancels: Option<u32>,
    /// An SMSC outage: every connection is closed when it is set, and every new one is
    /// closed as soon as it is accepted (before any PDU), until it is turned off.
    pub outage: bool,
}

impl Faults {
    /// Refuse values that make no sense (a delay whose shortest is above its longest, a
    /// percentage outside 0 to 100, an error status of 0, which would answer a failure as
    /// accepted and without a message id): set, they would make a test pass that injected
    /// nothing, or answer malformed PDUs.
    pub fn check(&self) -> Result<(), String> {
        if let Some(d) = &self.response_delay {
            if d.min_ms > d.max_ms {
                return Err(format!(
                    "response_delay: min_ms {} is above max_ms {}",
                    d.min_ms, d.max_ms
                ));
            }
        }
        if self.refuse_binds.as_ref().is_some_and(|r| r.status == 0) {
            return Err(
                "refuse_binds cannot be 0 (ESME_ROK would accept the bind); e.g. 13 \
                        (0x0D ESME_RBINDFAIL); null turns it off"
                    .into(),
            );
        }
        if self.refuse_cancels == Some(0) {
            return Err(
                "refuse_cancels cannot be 0 (ESME_ROK would say the message was cancelled); \
                        e.g. 88 (0x58 ESME_RTHROTTLED); null turns it off"
                    .into(),
            );
        }
        if self.drop_after_pdus == Some(0) {
            return Err(
                "drop_after_pdus is at least 1 (1 closes each connection right after \
                        its first PDU, the bind); null turns it off"
                    .into(),
            );
        }
        for e in self.error.iter().chain(&self.more_errors) {
            if e.status == 0 {
                return Err("an error fault's status cannot be 0 (ESME_ROK)".into());
            }
            if !(0.0..=100.0).contains(&e.percent) {
                return Err(format!(
                    "an error fault's percent {} is not 0 to 100",
                    e.percent
                ));
            }
            if let Some(why) = e
                .destinations
                .iter()
                .find_map(|d| crate::util::number_problem(d))
            {
                return Err(format!("an error fault's destination {why}"));
            }
        }
        Ok(())
    }

    /// Whether a submit to `dest` should fail, and with which status, on a network whose
    /// country code is `cc`: a rule listing `dest` (in either of its forms) wins over every
    /// percentage (the specific rule over the general one), then the percentages are drawn in
    /// order.
    pub fn error_for(&self, dest: &str, cc: &str, rng: &mut impl Rng) -> Option<u32> {
        let rules = || self.error.iter().chain(self.more_errors.iter());
        if let Some(e) = rules().find(|e| {
            e.destinations
                .iter()
                .any(|x| crate::handset::same_subscriber(x, dest, cc))
        }) {
            return Some(e.status);
        }
        rules()
            .find(|e| e.percent > 0.0 && rng.random::<f64>() * 100.0 < e.percent)
            .map(|e| e.status)
    }
}

/// A fixed one-second window counter for the submit throttle.
#[derive(Debug, Default)]
pub struct ThrottleWindow {
    second: u64,
    count: u32,
    previous: u32,
}

impl ThrottleWindow {
    /// Count one submit at `now_ms`; returns false when it is above `limit` for this second.
    pub fn admit(&mut self, now_ms: u64, limit: Option<u32>) -> bool {
        let sec = now_ms / 1000;
        if sec != self.second {
            self.previous = if sec == self.second + 1 {
                self.count
            } else {
                0
            };
            self.second = sec;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        match limit {
            Some(l) => self.count <= l,
            None => true,
        }
    }

    /// Submits counted in the last complete second.
    pub fn last_second(&self) -> u32 {
        self.previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn throttle_admits_limit_per_second() {
        let mut w = ThrottleWindow::default();
        let admitted = (0..10).filter(|_| w.admit(5_000, Some(3))).count();
        assert_eq!(admitted, 3);
        assert!(w.admit(6_001, Some(3)));
        assert_eq!(w.last_second(), 10);
        assert!(w.admit(9_000, None));
        assert_eq!(w.last_second(), 0);
    }

    #[test]
    fn errors_for_listed_and_percent() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let f = Faults {
            error: Some(ErrorFault {
                status: 0x45,
                percent: 0.0,
                destinations: vec!["+861".into()],
            }),
            ..Faults::default()
        };
        assert_eq!(f.error_for("861", "86", &mut rng), Some(0x45));
        assert_eq!(f.error_for("862", "86", &mut rng), None);
        // National and international forms of one number alike.
        let national = Faults {
            error: Some(ErrorFault {
                status: 0x0B,
                percent: 0.0,
                destinations: vec!["13900139000".into()],
            }),
            ..Faults::default()
        };
        assert_eq!(
            national.error_for("+8613900139000", "86", &mut rng),
            Some(0x0B)
        );
        assert_eq!(
            national.error_for("8613900139000", "86", &mut rng),
            Some(0x0B)
        );
        assert_eq!(national.error_for("8613900139001", "86", &mut rng), None);
        let all = Faults {
            error: Some(ErrorFault {
                status: 0x14,
                percent: 100.0,
                destinations: vec![],
            }),
            ..Faults::default()
        };
        assert_eq!(all.error_for("1", "86", &mut rng), Some(0x14));
        assert_eq!(Faults::default().error_for("1", "86", &mut rng), None);
        let two = Faults {
            error: Some(ErrorFault {
                status: 0x45,
                percent: 0.0,
                destinations: vec!["5".into()],
            }),
            more_errors: vec![ErrorFault {
                status: 0x0B,
                percent: 0.0,
                destinations: vec!["+6".into()],
            }],
            ..Faults::default()
        };
        assert_eq!(two.error_for("5", "86", &mut rng), Some(0x45));
        assert_eq!(two.error_for("6", "86", &mut rng), Some(0x0B));
        assert_eq!(two.error_for("7", "86", &mut rng), None);
        // A listed destination gets its own status even beside a percentage that always
        // fires (the specific rule wins).
        let both = Faults {
            error: Some(ErrorFault {
                status: 0x45,
                percent: 100.0,
                destinations: vec![],
            }),
            more_errors: vec![ErrorFault {
                status: 0x0B,
                percent: 0.0,
                destinations: vec!["+6".into()],
            }],
            ..Faults::default()
        };
        for _ in 0..20 {
            assert_eq!(both.error_for("6", "86", &mut rng), Some(0x0B));
        }
        assert_eq!(both.error_for("7", "86", &mut rng), Some(0x45));
        let only_more = Faults {
            more_errors: two.more_errors.clone(),
            ..Faults::default()
        };
        assert_eq!(only_more.error_for("6", "86", &mut rng), Some(0x0B));
    }

    #[test]
    fn delay_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        assert_eq!(Delay::fixed(30).pick(&mut rng), 30);
        let d = Delay {
            min_ms: 10,
            max_ms: 20,
        };
        for _ in 0..100 {
            assert!((10..=20).contains(&d.pick(&mut rng)));
        }
        // A typo'd huge delay is cut to a day instead of overflowing a clock.
        assert_eq!(Delay::fixed(u64::MAX).pick(&mut rng), MAX_DELAY_MS);
    }

    #[test]
    fn nonsense_faults_are_refused() {
        assert_eq!(Faults::default().check(), Ok(()));
        let delay = Faults {
            response_delay: Some(Delay {
                min_ms: 500,
                max_ms: 100,
            }),
            ..Faults::default()
        };
        assert!(delay.check().is_err());
        let error = |status, percent| Faults {
            more_errors: vec![ErrorFault {
                status,
                percent,
                destinations: Vec::new(),
            }],
            ..Faults::default()
        };
        assert_eq!(error(0x45, 100.0).check(), Ok(()));
        assert!(error(0, 10.0).check().is_err());
        assert!(error(0x45, 250.0).check().is_err());
        assert!(error(0x45, -1.0).check().is_err());
        let drop0 = Faults {
            drop_after_pdus: Some(0),
            ..Faults::default()
        };
        assert!(drop0.check().unwrap_err().contains("at least 1"));
    }

    /// A bad delay or status names what it accepts (not "did not match any variant of
    /// untagged enum").
    #[test]
    fn bad_delay_and_status_say_what_they_accept() {
        for bad in [
            r#"{"response_delay": -5}"#,
            r#"{"response_delay": 1.5}"#,
            r#"{"response_delay": true}"#,
        ] {
            let e = serde_json::from_str::<Faults>(bad).unwrap_err().to_string();
            assert!(e.contains("a delay in milliseconds"), "{bad}: {e}");
            assert!(!e.contains("untagged"), "{bad}: {e}");
        }
        let e = serde_json::from_str::<Faults>(r#"{"response_delay": "x-1"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("MIN-MAX"), "{e}");
        let e = serde_json::from_str::<Faults>(r#"{"error": {"status": -1}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("command_status"), "{e}");
    }

    /// JSON takes what the command line takes (from the exploratory tester): a delay as
    /// `"200-400"` or a number, a status in hex; a misspelt key inside a fault is refused.
    #[test]
    fn faults_json_reads_like_the_command_line() {
        let f: Faults = serde_json::from_str(r#"{"response_delay": "200-400"}"#).unwrap();
        assert_eq!(
            f.response_delay,
            Some(Delay {
                min_ms: 200,
                max_ms: 400
            })
        );
        let f: Faults = serde_json::from_str(r#"{"response_delay": 150}"#).unwrap();
        assert_eq!(f.response_delay, Some(Delay::fixed(150)));
        let f: Faults =
            serde_json::from_str(r#"{"response_delay": {"min_ms": 5, "max_ms": 9}}"#).unwrap();
        assert_eq!(
            f.response_delay,
            Some(Delay {
                min_ms: 5,
                max_ms: 9
            })
        );
        assert!(serde_json::from_str::<Faults>(r#"{"response_delay": "400-200"}"#).is_err());
        let f: Faults =
            serde_json::from_str(r#"{"error": {"status": "0x0B", "destinations": ["+1"]}}"#)
                .unwrap();
        assert_eq!(f.error.map(|e| e.status), Some(0x0B));
        let typo = serde_json::from_str::<Faults>(r#"{"error": {"status": 11, "dests": ["+1"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(typo.contains("dests"), "{typo}");
    }

    #[test]
    fn faults_json_defaults() {
        let f: Faults = serde_json::from_str(r#"{"throttle_per_sec": 5}"#).unwrap();
        assert_eq!(f.throttle_per_sec, Some(5));
        assert_eq!(f.throttle_global_per_sec, None);
        assert!(!f.ignore_enquire_link);
        assert!(!f.duplicate_receipts);
        let f: Faults = serde_json::from_str(r#"{"duplicate_receipts": true}"#).unwrap();
        assert!(f.duplicate_receipts);
        assert_eq!(f.refuse_binds, None);
        assert!(!f.outage);
        let f: Faults = serde_json::from_str(r#"{"refuse_binds": "0x0D"}"#).unwrap();
        assert_eq!(f.refuse_binds, Some(RefuseBinds::all(13)));
        let f: Faults = serde_json::from_str(r#"{"refuse_binds": 13, "outage": true}"#).unwrap();
        assert_eq!(f.refuse_binds, Some(RefuseBinds::all(13)));
        assert!(f.outage);
        let f: Faults = serde_json::from_str(r#"{"refuse_binds": null}"#).unwrap();
        assert_eq!(f.refuse_binds, None);
        let zero = Faults {
            refuse_binds: Some(RefuseBinds::all(0)),
            ..Faults::default()
        };
        assert!(zero.check().is_err());
        assert_eq!(f.refuse_cancels, None);
        let f: Faults = serde_json::from_str(r#"{"refuse_cancels": "0x58"}"#).unwrap();
        assert_eq!(f.refuse_cancels, Some(0x58));
        let back: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        let f: Faults = serde_json::from_str(r#"{"refuse_cancels": null}"#).unwrap();
        assert_eq!(f.refuse_cancels, None);
        let zero = Faults {
            refuse_cancels: Some(0),
            ..Faults::default()
        };
        assert!(zero.check().is_err());
    }

    /// `refuse_binds` may name one account: only its binds are refused; without a
    /// system_id, every bind. What GET /faults shows reads back as the same fault.
    #[test]
    fn refuse_binds_may_name_one_account() {
        let f: Faults =
            serde_json::from_str(r#"{"refuse_binds": {"status": "0x0D", "system_id": "esme1"}}"#)
                .unwrap();
        let r = f.refuse_binds.clone().unwrap();
        assert_eq!(r.status, 13);
        assert!(r.refuses("esme1"));
        assert!(!r.refuses("esme2"));
        assert!(RefuseBinds::all(13).refuses("esme2"));
        let back: Faults = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        let f: Faults = serde_json::from_str(r#"{"refuse_binds": {"status": 14}}"#).unwrap();
        assert_eq!(f.refuse_binds, Some(RefuseBinds::all(14)));
        let e = serde_json::from_str::<Faults>(r#"{"refuse_binds": {"system_id": "esme1"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("system_id"), "{e}");
    }
}
