//! User Data Header build and parse (3GPP TS 23.040 §9.2.2 TP-UDHI, §9.2.3.24 TP-UD).
//!
//! A UDH is `UDHL` (octets that follow) and then information elements, each `IEI IEDL data`.
//! We know concatenation (IEI 0x00 8-bit reference, §9.2.3.24.1; IEI 0x08 16-bit reference,
//! §9.2.3.24.8) and application port addressing (IEI 0x04 8-bit, §9.2.3.24.3; IEI 0x05 16-bit,
//! §9.2.3.24.4). Every other IE, and a known IEI with the wrong length, is kept verbatim as
//! [`InformationElement::Other`], so `encode(parse(x)) == x` for every well-formed header.
//!
//! In SMPP the UDH sits at the start of `short_message` (or `message_payload`) and `esm_class`
//! bit 6 (0x40, UDHI) says so (SMPP 3.4 §5.2.12). With unpacked GSM-7 the UDH octets are
//! followed directly by the septets, one per octet (wire-formats.md §3.3).

/// IEI: concatenated short messages, 8-bit reference (TS 23.040 §9.2.3.24.1).
pub const IEI_CONCAT8: u8 = 0x00;
/// IEI: application port addressing, 8-bit ports (TS 23.040 §9.2.3.24.3).
pub const IEI_PORT8: u8 = 0x04;
/// IEI: application port addressing, 16-bit ports (TS 23.040 §9.2.3.24.4).
pub const IEI_PORT16: u8 = 0x05;
/// IEI: concatenated short messages, 16-bit reference (TS 23.040 §9.2.3.24.8).
pub const IEI_CONCAT16: u8 = 0x08;

/// One information element of a UDH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InformationElement {
    /// IEI 0x00: `00 03 ref total seq` (TS 23.040 §9.2.3.24.1). `seq` is 1-based.
    Concat8 {
        /// Concatenated message reference number.
        reference: u8,
        /// Total number of parts.
        total: u8,
        /// This part's sequence number, 1..=total.
        seq: u8,
    },
    /// IEI 0x08: `08 04 refHi refLo total seq` (TS 23.040 §9.2.3.24.8).
    Concat16 {
        /// Concatenated message reference number.
        reference: u16,
        /// Total number of parts.
        total: u8,
        /// This part's sequence number, 1..=total.
        seq: u8,
    },
    /// IEI 0x04: `04 02 dest src` (TS 23.040 §9.2.3.24.3).
    Port8 {
        /// Destination port.
        dest: u8,
        /// Originator port.
        src: u8,
    },
    /// IEI 0x05: `05 04 destHi destLo srcHi srcLo` (TS 23.040 §9.2.3.24.4). WAP Push is
    /// dest 2948, src 9200.
    Port16 {
        /// Destination port.
        dest: u16,
        /// Originator port.
        src: u16,
    },
    /// Any other IE (or a known IEI with an unexpected length), preserved as received.
    Other {
        /// Information element identifier.
        iei: u8,
        /// Information element data (at most 255 octets are encoded).
        data: Vec<u8>,
    },
}

impl InformationElement {
    /// The IEI octet.
    pub fn iei(&self) -> u8 {
        match self {
            InformationElement::Concat8 { .. } => IEI_CONCAT8,
            InformationElement::Concat16 { .. } => IEI_CONCAT16,
            InformationElement::Port8 { .. } => IEI_PORT8,
            InformationElement::Port16 { .. } => IEI_PORT16,
            InformationElement::Other { iei, .. } => *iei,
        }
    }

    /// Encoded length: IEI + IEDL + data.
    pub fn encoded_len(&self) -> usize {
        2 + match self {
            InformationElement::Concat8 { .. } => 3,
            InformationElement::Concat16 { .. } => 4,
            InformationElement::Port8 { .. } => 2,
            InformationElement::Port16 { .. } => 4,
            InformationElement::Other { data, .. } => data.len(),
        }
    }

    /// Appends `IEI IEDL data` to `out`. `Other` data longer than 255 octets is cut to 255 so
    /// that IEDL stays consistent; [`Udh::try_encode`] reports it as an error instead.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.iei());
        match self {
            InformationElement::Concat8 {
                reference,
                total,
                seq,
            } => out.extend_from_slice(&[3, *reference, *total, *seq]),
            InformationElement::Concat16 {
                reference,
                total,
                seq,
            } => {
                let [hi, lo] = reference.to_be_bytes();
                out.extend_from_slice(&[4, hi, lo, *total, *seq]);
            }
            InformationElement::Port8 { dest, src } => out.extend_from_slice(&[2, *dest, *src]),
            InformationElement::Port16 { dest, src } => {
                out.push(4);
                out.extend_from_slice(&dest.to_be_bytes());
                out.extend_from_slice(&src.to_be_bytes());
            }
            InformationElement::Other { data, .. } => {
                let n = data.len().min(255);
                out.push(n as u8);
                out.extend_from_slice(&data[..n]);
            }
        }
    }

    /// Interprets one IE from its IEI and data; a known IEI with the wrong length is `Other`.
    fn from_parts(iei: u8, data: &[u8]) -> InformationElement {
        match (iei, data) {
            (IEI_CONCAT8, &[reference, total, seq]) => InformationElement::Concat8 {
                reference,
                total,
                seq,
            },
            (IEI_CONCAT16, &[hi, lo, total, seq]) => InformationElement::Concat16 {
                reference: u16::from_be_bytes([hi, lo]),
                total,
                seq,
            },
            (IEI_PORT8, &[dest, src]) => InformationElement::Port8 { dest, src },
            (IEI_PORT16, &[d1, d2, s1, s2]) => InformationElement::Port16 {
                dest: u16::from_be_bytes([d1, d2]),
                src: u16::from_be_bytes([s1, s2]),
            },
            _ => InformationElement::Other {
                iei,
                data: data.to_vec(),
            },
        }
    }
}

/// Why a UDH could not be parsed or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdhError {
    /// There is no UDHL octet at all (empty user data with UDHI set).
    #[error("user data is empty, no UDHL octet")]
    Empty,
    /// UDHL announces more octets than the user data holds.
    #[error("UDHL {udhl} exceeds the {available} octets that follow it")]
    Truncated {
        /// The UDHL value.
        udhl: usize,
        /// Octets available after the UDHL octet.
        available: usize,
    },
    /// An IE's length runs past the end of the header.
    #[error(
        "IE {iei:#04x} at header offset {offset} declares {len} octets but {remaining} remain"
    )]
    IeOverrun {
        /// The IEI.
        iei: u8,
        /// Offset of the IEI within the header (after UDHL).
        offset: usize,
        /// The IEDL value.
        len: usize,
        /// Octets left in the header after the IEDL octet.
        remaining: usize,
    },
    /// An IEI at the last header octet has no IEDL octet.
    #[error("IE {iei:#04x} at header offset {offset} has no length octet")]
    MissingLength {
        /// The IEI.
        iei: u8,
        /// Offset of the IEI within the header (after UDHL).
        offset: usize,
    },
    /// Encoding: the header would exceed 255 octets after UDHL, or an IE's data 255 octets.
    #[error("UDH too long to encode: {len} octets (max {max})")]
    TooLong {
        /// Length that was needed.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Concatenation details from either concat IE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcatInfo {
    /// Reference number (8-bit references are widened).
    pub reference: u16,
    /// Total number of parts.
    pub total: u8,
    /// This part's 1-based sequence number.
    pub seq: u8,
    /// `true` for IEI 0x08 (16-bit reference), `false` for IEI 0x00.
    pub wide: bool,
}

/// A User Data Header: an ordered list of information elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Udh {
    /// The information elements, in wire order.
    pub elements: Vec<InformationElement>,
}

impl Udh {
    /// A header holding `elements`.
    pub fn new(elements: Vec<InformationElement>) -> Udh {
        Udh { elements }
    }

    /// Encodes the header including the leading UDHL octet. Never panics: an `Other` IE longer
    /// than 255 octets is cut, and IEs that would push the header past 255 octets after UDHL are
    /// left out. Use [`Udh::try_encode`] to get an error for those cases instead.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8];
        for ie in &self.elements {
            let mut one = Vec::with_capacity(ie.encoded_len());
            ie.encode_into(&mut one);
            if out.len() - 1 + one.len() > 255 {
                break;
            }
            out.extend_from_slice(&one);
        }
        out[0] = (out.len() - 1) as u8;
        out
    }

    /// Encodes the header including UDHL, or an error if it does not fit the UDHL/IEDL octets.
    pub fn try_encode(&self) -> Result<Vec<u8>, UdhError> {
        for ie in &self.elements {
            if let InformationElement::Other { data, .. } = ie {
                if data.len() > 255 {
                    return Err(UdhError::TooLong {
                        len: data.len(),
                        max: 255,
                    });
                }
            }
        }
        let body = self.len() - 1;
        if body > 255 {
            return Err(UdhError::TooLong {
                len: body,
                max: 255,
            });
        }
        Ok(self.encode())
    }

    /// Encoded length including the UDHL octet (so an empty header is 1).
    pub fn len(&self) -> usize {
        1 + self
            .elements
            .iter()
            .map(InformationElement::encoded_len)
            .sum::<usize>()
    }

    /// Whether the header has no information elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Parses a UDH at the start of `bytes` (user data with UDHI set). Returns the header and
    /// the number of octets consumed including UDHL. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<(Udh, usize), UdhError> {
        let (&udhl, rest) = bytes.split_first().ok_or(UdhError::Empty)?;
        let udhl = usize::from(udhl);
        if udhl > rest.len() {
            return Err(UdhError::Truncated {
                udhl,
                available: rest.len(),
            });
        }
        let header = &rest[..udhl];
        let mut elements = Vec::new();
        let mut offset = 0;
        while offset < header.len() {
            let iei = header[offset];
            let Some(&len) = header.get(offset + 1) else {
                return Err(UdhError::MissingLength { iei, offset });
            };
            let len = usize::from(len);
            let start = offset + 2;
            let remaining = header.len() - start;
            if len > remaining {
                return Err(UdhError::IeOverrun {
                    iei,
                    offset,
                    len,
                    remaining,
                });
            }
            elements.push(InformationElement::from_parts(
                iei,
                &header[start..start + len],
            ));
            offset = start + len;
        }
        Ok((Udh { elements }, 1 + udhl))
    }

    /// Splits user data that starts with a UDH into the header and the rest (the message
    /// payload proper).
    pub fn split(short_message: &[u8]) -> Result<(Udh, &[u8]), UdhError> {
        let (udh, used) = Udh::parse(short_message)?;
        Ok((udh, &short_message[used..]))
    }

    /// The first concatenation IE (8- or 16-bit reference), if any. Values are as received;
    /// TS 23.040 §9.2.3.24.1 says to ignore an IE whose total or seq is 0 or whose seq exceeds
    /// total, which [`crate::reassembly::part_from_pdu`] does.
    pub fn concat(&self) -> Option<ConcatInfo> {
        self.elements.iter().find_map(|ie| match *ie {
            InformationElement::Concat8 {
                reference,
                total,
                seq,
            } => Some(ConcatInfo {
                reference: u16::from(reference),
                total,
                seq,
                wide: false,
            }),
            InformationElement::Concat16 {
                reference,
                total,
                seq,
            } => Some(ConcatInfo {
                reference,
                total,
                seq,
                wide: true,
            }),
            _ => None,
        })
    }

    /// The first port addressing IE as `(dest, src)`; 8-bit ports are widened.
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.elements.iter().find_map(|ie| match *ie {
            InformationElement::Port16 { dest, src } => Some((dest, src)),
            InformationElement::Port8 { dest, src } => Some((u16::from(dest), u16::from(src))),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn concat8_and_concat16_bytes() {
        let u8h = Udh::new(vec![InformationElement::Concat8 {
            reference: 0x2A,
            total: 2,
            seq: 1,
        }]);
        assert_eq!(u8h.encode(), unhex("0500032a0201"));
        assert_eq!(u8h.len(), 6);
        let u16h = Udh::new(vec![InformationElement::Concat16 {
            reference: 0x1234,
            total: 2,
            seq: 1,
        }]);
        assert_eq!(u16h.encode(), unhex("06080412340201"));
        assert_eq!(u16h.len(), 7);
        assert_eq!(
            u16h.concat(),
            Some(ConcatInfo {
                reference: 0x1234,
                total: 2,
                seq: 1,
                wide: true
            })
        );
    }

    #[test]
    fn wap_push_header_with_several_ies() {
        // Kannel's order: port first, then concat (wire-formats.md §2.2).
        let bytes = unhex("0b05040b8423f00003420201");
        let (udh, used) = Udh::parse(&bytes).unwrap();
        assert_eq!(used, 12);
        assert_eq!(
            udh.elements,
            vec![
                InformationElement::Port16 {
                    dest: 2948,
                    src: 9200
                },
                InformationElement::Concat8 {
                    reference: 0x42,
                    total: 2,
                    seq: 1
                },
            ]
        );
        assert_eq!(udh.ports(), Some((2948, 9200)));
        assert_eq!(
            udh.concat().map(|c| (c.reference, c.wide)),
            Some((0x42, false))
        );
        assert_eq!(udh.encode(), bytes);
    }

    #[test]
    fn unknown_and_odd_length_ies_are_preserved() {
        // IEI 0x24 (national language single shift) and a Concat8 IEI with 2 data octets.
        let bytes = unhex("0b2401010002aabb040201f0");
        let sm = [bytes.clone(), vec![0x41, 0x42]].concat();
        let (udh, rest) = Udh::split(&sm).unwrap();
        assert_eq!(rest, &[0x41, 0x42]);
        assert_eq!(
            udh.elements,
            vec![
                InformationElement::Other {
                    iei: 0x24,
                    data: vec![0x01]
                },
                InformationElement::Other {
                    iei: 0x00,
                    data: vec![0xAA, 0xBB]
                },
                InformationElement::Port8 { dest: 1, src: 0xF0 },
            ]
        );
        assert_eq!(udh.concat(), None);
        assert_eq!(udh.ports(), Some((1, 0xF0)));
        assert_eq!(udh.encode(), bytes);
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert_eq!(Udh::parse(&[]), Err(UdhError::Empty));
        assert_eq!(
            Udh::parse(&[5, 0, 3, 1]),
            Err(UdhError::Truncated {
                udhl: 5,
                available: 3
            })
        );
        assert_eq!(
            Udh::parse(&[3, 0, 3, 1]),
            Err(UdhError::IeOverrun {
                iei: 0,
                offset: 0,
                len: 3,
                remaining: 1
            })
        );
        assert_eq!(
            Udh::parse(&[1, 0]),
            Err(UdhError::MissingLength { iei: 0, offset: 0 })
        );
        // UDHL 0 is a valid empty header.
        assert_eq!(Udh::parse(&[0, 0x41]), Ok((Udh::default(), 1)));
    }

    #[test]
    fn encode_limits() {
        let big = Udh::new(vec![InformationElement::Other {
            iei: 0x70,
            data: vec![0; 300],
        }]);
        assert!(matches!(big.try_encode(), Err(UdhError::TooLong { .. })));
        let encoded = big.encode();
        assert_eq!(encoded.len(), 1, "an IE that cannot fit is left out");
        assert_eq!(encoded[0], 0);
        let many = Udh::new(vec![
            InformationElement::Other {
                iei: 0x70,
                data: vec![1; 200],
            };
            2
        ]);
        assert!(many.try_encode().is_err());
        let e = many.encode();
        assert_eq!(usize::from(e[0]) + 1, e.len());
        assert_eq!(Udh::parse(&e).unwrap().0.elements.len(), 1);
        assert!(Udh::default().is_empty());
        assert_eq!(Udh::default().encode(), vec![0]);
    }
}
