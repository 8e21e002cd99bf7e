//! Reassembly of concatenated messages (3GPP TS 23.040 §9.2.3.24.1 / §9.2.3.24.8 UDH, SMPP 3.4
//! §5.3.2.22-24 SAR TLVs), as a pure data structure: time is passed in as milliseconds, nothing
//! here reads a clock or does I/O, so the gateway can persist and restore the state
//! ([`Reassembler::snapshot`] + [`Reassembler::insert`]).
//!
//! Flow: [`part_from_pdu`] classifies the fields of a `deliver_sm` as a whole message or a
//! [`Part`]; parts go to [`Reassembler::insert`], keyed by (source, destination, reference,
//! total), in any order. Payloads are joined as **octets** and returned undecoded; decode once
//! with [`crate::text::decode`] so a surrogate pair (or escape pair) that a sloppy sender split
//! across parts still decodes (wire-formats.md §3.7).

use std::collections::HashMap;

use crate::segment::SarInfo;
use crate::udh::{Udh, UdhError};

/// Default cap on incomplete messages held at once.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// Identity of one concatenated message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    /// Originating address (`source_addr`).
    pub source: String,
    /// Destination address (`destination_addr`).
    pub destination: String,
    /// Concatenation reference (8-bit references widened; SAR `sar_msg_ref_num`).
    pub reference: u16,
    /// Total number of parts.
    pub total: u8,
}

/// One part of a concatenated message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Which message this part belongs to.
    pub key: PartKey,
    /// 1-based sequence number.
    pub seq: u8,
    /// `data_coding` of this part.
    pub data_coding: u8,
    /// User data without the UDH.
    pub payload: Vec<u8>,
}

/// What a received PDU carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOrWhole {
    /// A complete message: no concatenation, a "1 of 1" concatenation, or a concatenation IE /
    /// SAR set that TS 23.040 §9.2.3.24.1 says to ignore (total 0, seq 0, seq > total).
    Whole {
        /// `data_coding` of the PDU.
        data_coding: u8,
        /// User data without the UDH (other IEs, e.g. ports, can be read with
        /// [`Udh::split`] on the original bytes).
        payload: Vec<u8>,
    },
    /// One part of a longer message.
    Part(Part),
}

/// Why a PDU could not be classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// `esm_class` has UDHI set but the UDH does not parse.
    #[error("esm_class {esm_class:#04x} has UDHI set but the UDH is malformed: {source}")]
    Udh {
        /// The `esm_class` received.
        esm_class: u8,
        /// The UDH parse error.
        #[source]
        source: UdhError,
    },
}

/// Whether a (total, seq) pair is usable per TS 23.040 §9.2.3.24.1.
fn valid_concat(total: u8, seq: u8) -> bool {
    total >= 1 && seq >= 1 && seq <= total
}

/// Classifies a `deliver_sm` (or `data_sm`) as a whole message or a part.
///
/// The user data is `short_message`, or `message_payload` when `short_message` is empty. With
/// UDHI (`esm_class & 0x40`, SMPP 3.4 §5.2.12) the UDH is parsed and removed; a concatenation IE
/// (IEI 0x00 or 0x08) takes precedence over SAR TLVs. A "1 of 1" message and an invalid
/// concatenation IE/SAR set are [`PartOrWhole::Whole`]. Never panics.
pub fn part_from_pdu(
    source: &str,
    destination: &str,
    esm_class: u8,
    data_coding: u8,
    short_message: &[u8],
    sar: Option<SarInfo>,
    message_payload: Option<&[u8]>,
) -> Result<PartOrWhole, ReassemblyError> {
    let data = match message_payload {
        Some(p) if short_message.is_empty() => p,
        _ => short_message,
    };
    let make_part = |reference: u16, total: u8, seq: u8, payload: &[u8]| {
        PartOrWhole::Part(Part {
            key: PartKey {
                source: source.to_owned(),
                destination: destination.to_owned(),
                reference,
                total,
            },
            seq,
            data_coding,
            payload: payload.to_vec(),
        })
    };
    let whole = |payload: &[u8]| PartOrWhole::Whole {
        data_coding,
        payload: payload.to_vec(),
    };

    let mut payload = data;
    if esm_class & 0x40 != 0 {
        let (udh, rest) =
            Udh::split(data).map_err(|source| ReassemblyError::Udh { esm_class, source })?;
        payload = rest;
        if let Some(c) = udh.concat() {
            if valid_concat(c.total, c.seq) && c.total > 1 {
                return Ok(make_part(c.reference, c.total, c.seq, payload));
            }
            if valid_concat(c.total, c.seq) {
                return Ok(whole(payload));
            }
        }
    }
    if let Some(s) = sar {
        if valid_concat(s.total, s.seq) && s.total > 1 {
            return Ok(make_part(s.reference, s.total, s.seq, payload));
        }
    }
    Ok(whole(payload))
}

/// Why [`Reassembler::insert`] refused a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The total exceeds the configured maximum.
    TotalTooLarge {
        /// The part's total.
        total: u8,
        /// The configured maximum.
        max: u8,
    },
    /// seq is 0 or above total, or total is 0.
    BadSeq {
        /// The part's seq.
        seq: u8,
        /// The part's total.
        total: u8,
    },
    /// Too many incomplete messages are held; this part would start another.
    TooManyPending {
        /// The configured maximum.
        max: usize,
    },
}

/// Outcome of [`Reassembler::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// The last missing part arrived: the joined payload, in sequence order.
    Complete {
        /// The message identity.
        key: PartKey,
        /// `data_coding` of the first part received.
        data_coding: u8,
        /// Concatenated user data, undecoded.
        payload: Vec<u8>,
    },
    /// Stored; still waiting for more parts.
    Pending {
        /// Parts held so far.
        have: u8,
        /// Parts expected.
        total: u8,
    },
    /// A part with this seq is already held (the first copy is kept).
    Duplicate,
    /// Refused; nothing stored.
    Rejected(RejectReason),
}

#[derive(Debug, Clone)]
struct Entry {
    first_ms: u64,
    data_coding: u8,
    parts: Vec<Option<Vec<u8>>>,
    have: u8,
}

/// Incomplete concatenated messages, keyed by [`PartKey`].
///
/// A message expires `timeout_ms` after its first part arrived; parts with a total above
/// `max_total` are refused, and at most `max_pending` incomplete messages are held (new ones are
/// refused beyond that, existing ones still complete).
#[derive(Debug, Clone)]
pub struct Reassembler {
    timeout_ms: u64,
    max_total: u8,
    max_pending: usize,
    entries: HashMap<PartKey, Entry>,
}

impl Reassembler {
    /// A reassembler with the given timeout and largest accepted total, holding at most
    /// [`DEFAULT_MAX_PENDING`] incomplete messages.
    pub fn new(timeout_ms: u64, max_total: u8) -> Self {
        Reassembler {
            timeout_ms,
            max_total,
            max_pending: DEFAULT_MAX_PENDING,
            entries: HashMap::new(),
        }
    }

    /// Sets the most incomplete messages held at once.
    pub fn with_max_pending(mut self, max_pending: usize) -> Self {
        self.max_pending = max_pending;
        self
    }

    /// Adds a part received at `now_ms`. An entry whose timeout has passed (but that
    /// [`Reassembler::expire`] has not yet removed) is discarded first, so the part starts a new
    /// message.
    pub fn insert(&mut self, part: Part, now_ms: u64) -> Insert {
        let Part {
            key,
            seq,
            data_coding,
            payload,
        } = part;
        let total = key.total;
        if !valid_concat(total, seq) {
            return Insert::Rejected(RejectReason::BadSeq { seq, total });
        }
        if total > self.max_total {
            return Insert::Rejected(RejectReason::TotalTooLarge {
                total,
                max: self.max_total,
            });
        }
        if let Some(e) = self.entries.get(&key) {
            if now_ms.saturating_sub(e.first_ms) >= self.timeout_ms {
                self.entries.remove(&key);
            }
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_pending {
            return Insert::Rejected(RejectReason::TooManyPending {
                max: self.max_pending,
            });
        }
        let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
            first_ms: now_ms,
            data_coding,
            parts: vec![None; usize::from(total)],
            have: 0,
        });
        let slot = &mut entry.parts[usize::from(seq - 1)];
        if slot.is_some() {
            return Insert::Duplicate;
        }
        *slot = Some(payload);
        entry.have += 1;
        if entry.have < total {
            return Insert::Pending {
                have: entry.have,
                total,
            };
        }
        let parts = std::mem::take(&mut entry.parts);
        let data_coding = entry.data_coding;
        self.entries.remove(&key);
        Insert::Complete {
            key,
            data_coding,
            payload: parts.into_iter().flatten().flatten().collect(),
        }
    }

    /// Removes every incomplete message whose first part arrived `timeout_ms` or more before
    /// `now_ms`, and returns their keys (in no particular order).
    pub fn expire(&mut self, now_ms: u64) -> Vec<PartKey> {
        let timeout = self.timeout_ms;
        let expired: Vec<PartKey> = self
            .entries
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.first_ms) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.entries.remove(k);
        }
        expired
    }

    /// Number of incomplete messages held.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Every held part with the arrival time of its message's first part, for persistence.
    /// Re-inserting them (each at its returned time) into a fresh reassembler with the same
    /// settings restores the state.
    pub fn snapshot(&self) -> Vec<(Part, u64)> {
        let mut out = Vec::new();
        for (key, e) in &self.entries {
            for (i, p) in e.parts.iter().enumerate() {
                if let Some(payload) = p {
                    out.push((
                        Part {
                            key: key.clone(),
                            seq: (i + 1) as u8,
                            data_coding: e.data_coding,
                            payload: payload.clone(),
                        },
                        e.first_ms,
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{segment_text, ConcatStyle};
    use crate::text;

    fn part(reference: u16, total: u8, seq: u8, payload: &[u8]) -> Part {
        Part {
            key: PartKey {
                source: "447700900001".into(),
                destination: "1234".into(),
                reference,
                total,
            },
            seq,
            data_coding: 0x08,
            payload: payload.to_vec(),
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn classify_udh8_udh16_sar_payload() {
        let sm = unhex("0500032a020167e58be2");
        let got = part_from_pdu("a", "b", 0x40, 0x08, &sm, None, None).unwrap();
        assert_eq!(
            got,
            PartOrWhole::Part(Part {
                key: PartKey {
                    source: "a".into(),
                    destination: "b".into(),
                    reference: 0x2A,
                    total: 2
                },
                seq: 1,
                data_coding: 0x08,
                payload: unhex("67e58be2"),
            })
        );
        let sm = unhex("0608041234020267e5");
        let PartOrWhole::Part(p) = part_from_pdu("a", "b", 0x40, 0x08, &sm, None, None).unwrap()
        else {
            panic!("expected a part")
        };
        assert_eq!(
            (p.key.reference, p.seq, p.payload),
            (0x1234, 2, unhex("67e5"))
        );

        let sar = SarInfo {
            reference: 0xBEEF,
            total: 3,
            seq: 3,
        };
        let PartOrWhole::Part(p) =
            part_from_pdu("a", "b", 0x00, 0x00, b"xyz", Some(sar), None).unwrap()
        else {
            panic!("expected a part")
        };
        assert_eq!((p.key.reference, p.key.total, p.seq), (0xBEEF, 3, 3));
        assert_eq!(p.payload, b"xyz");

        let whole = part_from_pdu("a", "b", 0x00, 0x08, &[], None, Some(&unhex("67e5"))).unwrap();
        assert_eq!(
            whole,
            PartOrWhole::Whole {
                data_coding: 0x08,
                payload: unhex("67e5")
            }
        );
    }

    #[test]
    fn one_of_one_and_invalid_concat_are_whole() {
        for udh in [
            "0500032a0101",
            "0500032a0200",
            "0500032a0203",
            "0500032a0000",
        ] {
            let sm = [unhex(udh), b"hi".to_vec()].concat();
            assert_eq!(
                part_from_pdu("a", "b", 0x40, 0, &sm, None, None).unwrap(),
                PartOrWhole::Whole {
                    data_coding: 0,
                    payload: b"hi".to_vec()
                },
                "{udh}"
            );
        }
        // port-only UDH: whole, UDH stripped
        let sm = unhex("0605040b8423f0aabb");
        assert_eq!(
            part_from_pdu("a", "b", 0x40, 4, &sm, None, None).unwrap(),
            PartOrWhole::Whole {
                data_coding: 4,
                payload: vec![0xAA, 0xBB]
            }
        );
        let sar = SarInfo {
            reference: 1,
            total: 1,
            seq: 1,
        };
        assert!(matches!(
            part_from_pdu("a", "b", 0, 0, b"x", Some(sar), None).unwrap(),
            PartOrWhole::Whole { .. }
        ));
    }

    #[test]
    fn malformed_udh_is_an_error() {
        let err = part_from_pdu("a", "b", 0x40, 0, &[9, 0, 3], None, None).unwrap_err();
        assert!(matches!(
            err,
            ReassemblyError::Udh {
                esm_class: 0x40,
                source: UdhError::Truncated { .. }
            }
        ));
    }

    #[test]
    fn reassembles_out_of_order_and_detects_duplicates() {
        let mut r = Reassembler::new(60_000, 16);
        assert_eq!(
            r.insert(part(7, 3, 3, b"C"), 0),
            Insert::Pending { have: 1, total: 3 }
        );
        assert_eq!(r.insert(part(7, 3, 3, b"C"), 1), Insert::Duplicate);
        assert_eq!(
            r.insert(part(7, 3, 1, b"A"), 2),
            Insert::Pending { have: 2, total: 3 }
        );
        assert_eq!(r.pending(), 1);
        assert_eq!(
            r.insert(part(7, 3, 2, b"B"), 3),
            Insert::Complete {
                key: part(7, 3, 1, b"").key,
                data_coding: 0x08,
                payload: b"ABC".to_vec()
            }
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn surrogate_pair_split_across_parts_still_decodes() {
        // Kannel-style sloppy split: part 1 ends D8 3D, part 2 starts DE 00.
        let mut r = Reassembler::new(1000, 8);
        r.insert(part(1, 2, 2, &unhex("de000062")), 0);
        let Insert::Complete {
            data_coding,
            payload,
            ..
        } = r.insert(part(1, 2, 1, &unhex("0061d83d")), 0)
        else {
            panic!("expected completion")
        };
        assert_eq!(text::decode(data_coding, &payload), "a😀b");
    }

    #[test]
    fn rejects_absurd_totals_and_bad_seq() {
        let mut r = Reassembler::new(1000, 10);
        assert_eq!(
            r.insert(part(1, 200, 1, b"x"), 0),
            Insert::Rejected(RejectReason::TotalTooLarge {
                total: 200,
                max: 10
            })
        );
        assert_eq!(
            r.insert(part(1, 3, 4, b"x"), 0),
            Insert::Rejected(RejectReason::BadSeq { seq: 4, total: 3 })
        );
        assert_eq!(
            r.insert(part(1, 3, 0, b"x"), 0),
            Insert::Rejected(RejectReason::BadSeq { seq: 0, total: 3 })
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn max_pending_is_enforced() {
        let mut r = Reassembler::new(1000, 10).with_max_pending(2);
        r.insert(part(1, 2, 1, b"x"), 0);
        r.insert(part(2, 2, 1, b"x"), 0);
        assert_eq!(
            r.insert(part(3, 2, 1, b"x"), 0),
            Insert::Rejected(RejectReason::TooManyPending { max: 2 })
        );
        // an existing message still completes
        assert!(matches!(
            r.insert(part(1, 2, 2, b"y"), 0),
            Insert::Complete { .. }
        ));
    }

    #[test]
    fn expiry() {
        let mut r = Reassembler::new(1000, 10);
        r.insert(part(1, 2, 1, b"x"), 100);
        r.insert(part(2, 2, 1, b"x"), 600);
        assert!(r.expire(1099).is_empty());
        let gone = r.expire(1100);
        assert_eq!(gone, vec![part(1, 2, 1, b"").key]);
        assert_eq!(r.pending(), 1);
        // a stale entry is replaced on insert even before expire() runs
        assert_eq!(
            r.insert(part(2, 2, 2, b"y"), 1600),
            Insert::Pending { have: 1, total: 2 }
        );
    }

    #[test]
    fn snapshot_restores_state() {
        let mut r = Reassembler::new(1000, 10);
        r.insert(part(5, 3, 1, b"a"), 10);
        r.insert(part(5, 3, 3, b"c"), 20);
        let mut restored = Reassembler::new(1000, 10);
        for (p, t) in r.snapshot() {
            restored.insert(p, t);
        }
        assert_eq!(restored.pending(), 1);
        assert!(matches!(
            restored.insert(part(5, 3, 2, b"b"), 30),
            Insert::Complete { ref payload, .. } if payload == b"abc"
        ));
        // the restored message keeps its original first-arrival time
        restored.insert(part(5, 3, 1, b"a"), 10);
        assert_eq!(restored.expire(1010).len(), 1);
    }

    #[test]
    fn round_trip_through_segmenter() {
        let text = "中".repeat(150);
        let segs = segment_text(&text, ConcatStyle::Udh16, 0x1234).unwrap();
        let mut r = Reassembler::new(1000, 16);
        let mut done = None;
        for s in segs.iter().rev() {
            let pw = part_from_pdu(
                "a",
                "b",
                s.esm_class,
                s.data_coding,
                &s.short_message,
                s.sar.clone(),
                s.message_payload.as_deref(),
            )
            .unwrap();
            let PartOrWhole::Part(p) = pw else {
                panic!("expected parts")
            };
            if let Insert::Complete {
                data_coding,
                payload,
                ..
            } = r.insert(p, 0)
            {
                done = Some(text::decode(data_coding, &payload));
            }
        }
        assert_eq!(done.as_deref(), Some(text.as_str()));
    }
}
