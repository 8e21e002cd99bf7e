//! Which MO messages are for the service: those sent to its number (`service_number`), to one
//! of the other numbers the carrier routes to it (`service_aliases`), or to its USSD code. An
//! MO to any other destination (an SMSC routing traffic for another number to the gateway's
//! bind) is stored and acknowledged like every MO, so nothing accepted is lost, but it is not
//! run as a command and gets no reply ([`super::worker`]).
//!
//! A number is recognised in the forms SMSCs write a destination in: national (`10658`) and
//! international (`8610658`, with the configured country code in front), each with or without
//! a `+` or `00` before it; the type of number (TON) only decides whether that `+` is there.

use super::ussd::{self, UssdConfig};

/// The digit strings a configured service number (`service_number` or an entry of
/// `service_aliases`: 3 to 15 digits, optionally after a `+`) arrives as: the number as
/// written, and its other form under country code `cc` (national with the country code in
/// front; international without it, when it starts with `cc`).
fn forms(number: &str, cc: &str) -> Vec<String> {
    let number = number.trim();
    match number.strip_prefix('+') {
        Some(international) => {
            let mut v = vec![international.to_string()];
            if let Some(national) = international.strip_prefix(cc).filter(|n| !n.is_empty()) {
                v.push(national.to_string());
            }
            v
        }
        None => vec![number.to_string(), format!("{cc}{number}")],
    }
}

/// The digits of a received destination address: without a leading `+`, and also without a
/// leading international prefix `00`; nothing when it holds anything but digits.
fn destination_digits(destination: &str) -> Vec<&str> {
    let d = destination.trim();
    let d = d.strip_prefix('+').unwrap_or(d);
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let mut v = vec![d];
    if let Some(rest) = d.strip_prefix("00").filter(|r| !r.is_empty()) {
        v.push(rest);
    }
    v
}

/// Every digit string an MO destination may arrive as for `numbers` (the service number and
/// its aliases) under country code `cc`: worked out once, when the service starts, for
/// [`is_for_service`].
pub fn service_forms<'a>(numbers: impl IntoIterator<Item = &'a str>, cc: &str) -> Vec<String> {
    numbers.into_iter().flat_map(|n| forms(n, cc)).collect()
}

/// Whether an MO whose `destination_addr` is `destination` (as received) is for the service:
/// sent to one of the numbers whose [`service_forms`] are `forms` (national or international,
/// with or without `+` / `00`), or to the USSD code of `ussd` (`*123#`, a path in it such as
/// `*123*2#`, or its digits `123`).
pub fn is_for_service(destination: &str, forms: &[String], ussd: &UssdConfig) -> bool {
    if ussd::is_service_code(ussd, destination) {
        return true;
    }
    let received = destination_digits(destination);
    forms.iter().any(|f| received.contains(&f.as_str()))
}

/// A destination as the log shows it: in full when it has at most 8 digits (a short code or
/// service number, which an operator needs to see to route it or add it to
/// `service_aliases`), else masked as every MSISDN in the logs is ([`crate::command::mask`]):
/// an SMSC that routes a person's messages to the gateway names that person here.
pub fn logged_destination(destination: &str) -> String {
    let digits = destination.chars().filter(char::is_ascii_digit).count();
    if digits > crate::command::msisdn::MAX_SERVICE_DIGITS {
        crate::command::mask(destination)
    } else {
        destination.chars().take(21).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn for_service(destination: &str, numbers: &[&str], cc: &str) -> bool {
        is_for_service(
            destination,
            &service_forms(numbers.iter().copied(), cc),
            &UssdConfig::default(),
        )
    }

    #[test]
    fn the_service_number_is_recognised_in_every_form() {
        for configured in ["10658", "+8610658"] {
            for received in ["10658", "8610658", "+8610658", "008610658", " 10658 "] {
                assert!(
                    for_service(received, &[configured], "86"),
                    "{received} to {configured}"
                );
            }
        }
        // A long number written either way.
        for configured in ["+14155550100", "4155550100"] {
            for received in ["4155550100", "14155550100", "+14155550100"] {
                assert!(
                    for_service(received, &[configured], "1"),
                    "{received} to {configured}"
                );
            }
        }
    }

    #[test]
    fn other_destinations_are_not_for_the_service() {
        for received in [
            "10086",
            "106580",
            "1065",
            "8510658",
            "+8510658",
            "13800138000",
            "+8613800138000",
            "",
            "BANK",
            "10658#",
            "*124#",
        ] {
            assert!(!for_service(received, &["10658"], "86"), "{received:?}");
        }
        // A number written internationally is not also another country's national one.
        assert!(!for_service("10658", &["+8510658"], "86"));
    }

    #[test]
    fn aliases_count_as_the_service_number() {
        let numbers = ["10658", "1065800001", "+8610659"];
        for received in ["1065800001", "861065800001", "+861065800001", "10659"] {
            assert!(for_service(received, &numbers, "86"), "{received}");
        }
        assert!(!for_service("1065800002", &numbers, "86"));
    }

    #[test]
    fn the_ussd_code_is_for_the_service() {
        for received in ["*123#", "*123*2#", "*123*2*1#", "123"] {
            assert!(for_service(received, &["10658"], "86"), "{received}");
        }
        assert!(!for_service("*1234#", &["10658"], "86"));
    }

    #[test]
    fn long_destinations_are_masked_in_the_log() {
        assert_eq!(logged_destination("10086"), "10086");
        assert_eq!(logged_destination("10658001"), "10658001");
        assert_eq!(logged_destination("+8613800138000"), "+86*******8000");
        assert_eq!(logged_destination("13800138000"), "13*****8000");
    }
}
