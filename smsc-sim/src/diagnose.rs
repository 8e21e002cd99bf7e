//! Why a well-framed request did not decode, as the status an SMSC answers it with (SMPP 3.4
//! §5.1.3). The body is walked by the command's layout (§4), field by field, and the first
//! field that breaks it names the status:
//!
//! * the body ends inside a field, or `sm_length` runs past it: `ESME_RINVCMDLEN` (0x02), in
//!   the command's own response (the header was fine; generic_nack is for a bad header, §4.3);
//! * a C-Octet String longer than its field or not ASCII: that field's error
//!   (`ESME_RINVSERTYP` 0x15, `ESME_RINVSRCADR` 0x0A, `ESME_RINVDSTADR` 0x0B...);
//! * a malformed `schedule_delivery_time` / `validity_period`: `ESME_RINVSCHED` (0x61) /
//!   `ESME_RINVEXPIRY` (0x62);
//! * a TLV whose header or value runs past the body: `ESME_RINVOPTPARSTREAM` (0xC0);
//! * in a submit_multi, a `dest_flag` other than 1 (SME address) or 2 (distribution list):
//!   `ESME_RINVDESTFLAG` (0x40); a distribution list name too long `ESME_RINVDLNAME` (0x34);
//!   an SME address too long `ESME_RINVDSTADR` (0x0B) for the whole PDU only when the body is
//!   broken otherwise too: alone, [`long_multi_addresses`] makes the PDU readable and that
//!   destination alone is refused;
//! * in a bind, a `system_id` or `password` longer than SMPP allows: `ESME_RINVSYSID` (0x0F)
//!   or `ESME_RINVPASWD` (0x0E), in the bind's response.

/// ESME_RINVCMDLEN.
const INVCMDLEN: u32 = 0x02;

/// A cursor over a PDU body.
struct Walk<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Walk<'a> {
    /// A C-Octet String of at most `max` bytes with its NUL: its bytes. `Err(INVCMDLEN)` when
    /// the body ends first; `Err(bad)` when no NUL comes within `max` bytes or it is not ASCII.
    fn cstr(&mut self, max: usize, bad: u32) -> Result<&'a [u8], u32> {
        let rest = self.body.get(self.at..).unwrap_or(&[]);
        match rest.iter().take(max).position(|b| *b == 0) {
            Some(p) if rest[..p].is_ascii() => {
                self.at += p + 1;
                Ok(&rest[..p])
            }
            Some(_) => Err(bad),
            None if rest.len() < max => Err(INVCMDLEN),
            None => Err(bad),
        }
    }

    /// `n` fixed octets.
    fn skip(&mut self, n: usize) -> Result<&'a [u8], u32> {
        let end = self.at + n;
        let b = self.body.get(self.at..end).ok_or(INVCMDLEN)?;
        self.at = end;
        Ok(b)
    }

    /// One octet.
    fn byte(&mut self) -> Result<u8, u32> {
        Ok(self.skip(1)?[0])
    }

    /// An SMPP time field (§7.1.1): empty or 16 characters that [`crate::smpp_time`] reads.
    fn time(&mut self, bad: u32) -> Result<(), u32> {
        let t = self.cstr(17, bad)?;
        crate::smpp_time::parse_bytes(t)
            .map(|_| ())
            .map_err(|_| bad)
    }

    /// The end of a body without TLVs: bytes past it make the command_length wrong.
    fn end(&self) -> Result<(), u32> {
        if self.at == self.body.len() {
            Ok(())
        } else {
            Err(INVCMDLEN)
        }
    }

    /// The TLVs up to the end of the body.
    fn tlvs(&mut self) -> Result<(), u32> {
        const INVOPTPARSTREAM: u32 = 0xC0;
        while self.at < self.body.len() {
            let head = self.skip(4).map_err(|_| INVOPTPARSTREAM)?;
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            self.skip(len).map_err(|_| INVOPTPARSTREAM)?;
        }
        Ok(())
    }
}

/// The status for request `command_id` whose body (`raw` is the whole PDU) did not decode, by
/// the first field that breaks it; `None` when the body looks right field by field or the
/// command is not one walked here.
pub fn diagnose_body(command_id: u32, body: &[u8]) -> Option<u32> {
    let mut w = Walk { body, at: 0 };
    let r = match command_id {
        0x0000_0001 | 0x0000_0002 | 0x0000_0009 => bind(&mut w),
        0x0000_0003 => query_sm(&mut w),
        0x0000_0004 => submit_sm(&mut w),
        0x0000_0007 => replace_sm(&mut w),
        0x0000_0008 => cancel_sm(&mut w),
        0x0000_0021 => submit_multi(&mut w),
        0x0000_0103 => data_sm(&mut w),
        _ => return None,
    };
    r.err()
}

/// [`diagnose_body`] for a whole PDU, header included.
pub fn diagnose_invalid(raw: &[u8]) -> Option<u32> {
    let (_, id, _, _) = sms_wire::framing::peek_header(raw)?;
    diagnose_body(id, raw.get(16..)?)
}

/// The SME addresses over 20 characters of a submit_multi, each with its place among the
/// destinations ([`long_multi_addresses`]).
pub type LongAddresses = Vec<(usize, String)>;

/// A submit_multi (`raw`, the whole PDU) that rusmpp cannot read only because SME addresses
/// in it are longer than SMPP 3.4's 20 characters (§4.5.1.1): the PDU with each of those
/// addresses left empty (so it reads), and each one's place among the destinations with the
/// address as sent, for the simulator to refuse that destination alone (`ESME_RINVDSTADR`
/// in `unsuccess_sme`) and take the others. `None` for another command, when no SME address
/// is that long, or when the body is broken up to the end of the destinations otherwise (an
/// address that is not printable ASCII included: one without its NUL runs on into the next
/// destination; a field after them is left to the decoder: the PDU it makes is read or
/// refused as a whole).
pub fn long_multi_addresses(raw: &[u8]) -> Option<(Vec<u8>, LongAddresses)> {
    let (_, id, _, _) = sms_wire::framing::peek_header(raw)?;
    if id != 0x0000_0021 {
        return None;
    }
    let body = raw.get(16..)?;
    let mut w = Walk { body, at: 0 };
    w.cstr(6, 0x15).ok()?;
    w.skip(2).ok()?;
    w.cstr(21, 0x0A).ok()?;
    let n = w.byte().ok()?;
    let mut out = raw[..16].to_vec();
    out.extend_from_slice(&body[..w.at]);
    let mut long = Vec::new();
    for i in 0..usize::from(n) {
        let from = w.at;
        match w.byte().ok()? {
            1 => {
                w.skip(2).ok()?;
                let start = w.at;
                let rest = body.get(start..)?;
                let len = rest.iter().position(|b| *b == 0)?;
                let addr = &rest[..len];
                // Printable ASCII, as an address is written: a control byte is the dest_flag,
                // TON or NPI of the next destination, which an address without its NUL ran on
                // into (the body is broken otherwise).
                if !addr.iter().all(|b| (0x20..0x7F).contains(b)) {
                    return None;
                }
                w.at = start + len + 1;
                if len > 20 {
                    out.extend_from_slice(&body[from..start]);
                    out.push(0);
                    long.push((i, String::from_utf8_lossy(addr).into_owned()));
                } else {
                    out.extend_from_slice(&body[from..w.at]);
                }
            }
            2 => {
                w.cstr(21, 0x34).ok()?;
                out.extend_from_slice(&body[from..w.at]);
            }
            _ => return None,
        }
    }
    if long.is_empty() {
        return None;
    }
    out.extend_from_slice(&body[w.at..]);
    let len = u32::try_from(out.len()).ok()?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Some((out, long))
}

/// service_type, source (TON, NPI, address), destination (TON, NPI, address): the start of
/// submit_sm, data_sm (§4.4.1, §4.7.1).
fn addresses(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(6, 0x15)?;
    w.skip(2)?;
    w.cstr(21, 0x0A)?;
    w.skip(2)?;
    w.cstr(21, 0x0B)?;
    Ok(())
}

/// bind_transmitter, bind_receiver, bind_transceiver (§4.1.1): a system_id or password too
/// long is `ESME_RINVSYSID` (0x0F) / `ESME_RINVPASWD` (0x0E) as for a wrong one, a system_type
/// too long `ESME_RINVSYSTYP` (0x53), an address_range too long `ESME_RBINDFAIL` (0x0D).
fn bind(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(16, 0x0F)?;
    w.cstr(9, 0x0E)?;
    w.cstr(13, 0x53)?;
    w.skip(3)?; // interface_version, addr_ton, addr_npi
    w.cstr(41, 0x0D)?;
    w.end()
}

/// query_sm (§4.8.1): message_id, then the source address.
fn query_sm(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(65, 0x0C)?;
    w.skip(2)?;
    w.cstr(21, 0x0A)?;
    w.end()
}

/// cancel_sm (§4.9.1): service_type, message_id, source and destination addresses.
fn cancel_sm(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(6, 0x15)?;
    w.cstr(65, 0x0C)?;
    w.skip(2)?;
    w.cstr(21, 0x0A)?;
    w.skip(2)?;
    w.cstr(21, 0x0B)?;
    w.end()
}

fn submit_sm(w: &mut Walk<'_>) -> Result<(), u32> {
    addresses(w)?;
    w.skip(3)?; // esm_class, protocol_id, priority_flag
    w.time(0x61)?;
    w.time(0x62)?;
    w.skip(4)?; // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    let sm_length = w.byte()?;
    w.skip(usize::from(sm_length))?;
    w.tlvs()
}

/// replace_sm (§4.10.1): message_id, the source address, the two times, registered_delivery,
/// sm_default_msg_id, sm_length and short_message; SMPP 5.0 adds a message_payload TLV.
fn replace_sm(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(65, 0x0C)?;
    w.skip(2)?;
    w.cstr(21, 0x0A)?;
    w.time(0x61)?;
    w.time(0x62)?;
    w.skip(2)?; // registered_delivery, sm_default_msg_id
    let sm_length = w.byte()?;
    w.skip(usize::from(sm_length))?;
    w.tlvs()
}

/// submit_multi (§4.5.1): service_type, the source address, number_of_dests and each
/// dest_address (dest_flag 1: TON, NPI, address; 2: a distribution list name), then the
/// fields of a submit_sm after its destination.
fn submit_multi(w: &mut Walk<'_>) -> Result<(), u32> {
    w.cstr(6, 0x15)?;
    w.skip(2)?;
    w.cstr(21, 0x0A)?;
    let n = w.byte()?;
    for _ in 0..n {
        match w.byte()? {
            1 => {
                w.skip(2)?;
                w.cstr(21, 0x0B)?;
            }
            2 => {
                w.cstr(21, 0x34)?;
            }
            _ => return Err(0x40),
        }
    }
    w.skip(3)?; // esm_class, protocol_id, priority_flag
    w.time(0x61)?;
    w.time(0x62)?;
    w.skip(4)?; // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    let sm_length = w.byte()?;
    w.skip(usize::from(sm_length))?;
    w.tlvs()
}

fn data_sm(w: &mut Walk<'_>) -> Result<(), u32> {
    addresses(w)?;
    w.skip(3)?; // esm_class, registered_delivery, data_coding
    w.tlvs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submit_sm body with these time fields, `sm`, then `tail` (TLVs).
    fn submit(dest: &[u8], sched: &[u8], validity: &[u8], sm: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 1, 1];
        b.extend_from_slice(b"1\0");
        b.extend_from_slice(&[1, 1]);
        b.extend_from_slice(dest);
        b.push(0);
        b.extend_from_slice(&[0, 0, 0]);
        b.extend_from_slice(sched);
        b.push(0);
        b.extend_from_slice(validity);
        b.push(0);
        b.extend_from_slice(&[0, 0, 0, 0, sm.len() as u8]);
        b.extend_from_slice(sm);
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn each_broken_field_names_its_status() {
        let d = |b: &[u8]| diagnose_body(4, b);
        assert_eq!(d(&submit(b"12", b"", b"", b"hi", b"")), None);
        assert_eq!(
            d(&submit(b"123456789012345678901", b"", b"", b"", b"")),
            Some(0x0B)
        );
        assert_eq!(d(&submit(b"12", b"garbage", b"", b"", b"")), Some(0x61));
        assert_eq!(
            d(&submit(b"12", b"271331235959000+", b"", b"", b"")),
            Some(0x61)
        );
        assert_eq!(
            d(&submit(b"12", b"", b"000000000100000", b"", b"")),
            Some(0x62)
        );
        assert_eq!(
            d(&submit(b"12", b"", b"0000000001000000R", b"", b"")),
            Some(0x62)
        );
        assert_eq!(
            d(&submit(b"12", b"", b"00000000010000\xff+", b"", b"")),
            Some(0x62)
        );
        assert_eq!(
            d(&submit(b"12", b"", b"", b"", &[0x04, 0x24, 0, 0xFF, b'a'])),
            Some(0xC0)
        );
    }

    #[test]
    fn binds_queries_and_cancels() {
        let bind = |sys: &str, pw: &str, rest: &[u8]| {
            let mut b = format!("{sys}\0{pw}\0\0").into_bytes();
            b.extend_from_slice(rest);
            b
        };
        let ok = [0x34, 0, 0, 0];
        for id in [1, 2, 9] {
            assert_eq!(diagnose_body(id, &bind("esme", "pw", &ok)), None);
            assert_eq!(
                diagnose_body(id, &bind(&"x".repeat(20), "pw", &ok)),
                Some(0x0F)
            );
            assert_eq!(
                diagnose_body(id, &bind("esme", &"x".repeat(12), &ok)),
                Some(0x0E)
            );
            assert_eq!(diagnose_body(id, &bind("esme", "pw", &[0x34])), Some(0x02));
            assert_eq!(
                diagnose_body(id, &bind("esme", "pw", &[0x34, 0, 0, 0, 9])),
                Some(0x02)
            );
            assert_eq!(diagnose_body(id, b""), Some(0x02));
        }
        let mut q = "1".repeat(70).into_bytes();
        q.extend_from_slice(b"\0\0\0\0");
        assert_eq!(diagnose_body(3, &q), Some(0x0C));
        assert_eq!(diagnose_body(3, b"1\0\0\0\0"), None);
        assert_eq!(diagnose_body(8, b"\x001\0\0\0\0\0\0\0"), None);
        assert_eq!(diagnose_body(8, b"\x001\0\0\0"), Some(0x02));
        // A body cut mid-field and an sm_length past the end: both a wrong command_length.
        let mut cut = submit(b"12", b"", b"", b"hello", b"");
        cut.truncate(cut.len() - 3);
        assert_eq!(diagnose_body(4, &cut), Some(0x02));
        let mut overrun = submit(b"12", b"", b"", b"abc", b"");
        let at = overrun.len() - 4;
        overrun[at] = 200;
        assert_eq!(diagnose_body(4, &overrun), Some(0x02));
    }

    /// A submit_multi body from service number 10086 to `dests` (each a dest_flag and its
    /// address, as on the wire), with the text "hi".
    fn multi_body(dests: &[&[u8]]) -> Vec<u8> {
        let mut b = b"\0\x01\x0110086\0".to_vec();
        b.push(dests.len() as u8);
        for d in dests {
            b.extend_from_slice(d);
        }
        b.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 2, b'h', b'i']);
        b
    }

    /// replace_sm and submit_multi are walked by their own layouts: a cut body is a wrong
    /// command_length, a long field its own status, an unknown dest_flag ESME_RINVDESTFLAG.
    #[test]
    fn replace_sm_and_submit_multi() {
        let replace = |id: &[u8], sched: &[u8], sm: &[u8]| {
            let mut b = id.to_vec();
            b.extend_from_slice(b"\0\x01\x01123\0");
            b.extend_from_slice(sched);
            b.extend_from_slice(b"\0\0\x01\0");
            b.push(sm.len() as u8);
            b.extend_from_slice(sm);
            b
        };
        assert_eq!(diagnose_body(7, &replace(b"2a", b"", b"new")), None);
        assert_eq!(
            diagnose_body(7, &replace(&[b'1'; 70], b"", b"new")),
            Some(0x0C)
        );
        assert_eq!(diagnose_body(7, &replace(b"2a", b"soon", b"x")), Some(0x61));
        let mut cut = replace(b"2a", b"", b"new");
        cut.truncate(cut.len() - 1);
        assert_eq!(diagnose_body(7, &cut), Some(0x02));
        // submit_multi: service_type, source, then the destinations.
        let multi = multi_body;
        let sme: &[u8] = b"\x01\x01\x018613800138000\0";
        let list: &[u8] = b"\x02friends\0";
        assert_eq!(diagnose_body(0x21, &multi(&[sme, list])), None);
        assert_eq!(
            diagnose_body(0x21, &multi(&[])),
            None,
            "zero: the handler's"
        );
        assert_eq!(diagnose_body(0x21, &multi(&[sme, b"\x03x\0"])), Some(0x40));
        let long = [b"\x02".as_slice(), &[b'n'; 25], b"\0"].concat();
        assert_eq!(diagnose_body(0x21, &multi(&[&long])), Some(0x34));
        let long = [b"\x01\x01\x01".as_slice(), &[b'1'; 25], b"\0"].concat();
        assert_eq!(diagnose_body(0x21, &multi(&[&long])), Some(0x0B));
        // number_of_dests past what follows, and a body cut inside a destination.
        let mut more = multi(&[sme]);
        more.truncate(10 + sme.len());
        more[9] = 2;
        assert_eq!(diagnose_body(0x21, &more), Some(0x02));
        assert_eq!(diagnose_body(0x21, &multi(&[sme])[..14]), Some(0x02));
    }

    /// A submit_multi whose only fault is an SME address over 20 characters reads once that
    /// address is left empty; one broken otherwise, or with none too long, is not repaired.
    #[test]
    fn a_submit_multi_with_a_long_address_is_made_readable() {
        let multi = |dests: &[&[u8]]| {
            let b = multi_body(dests);
            let mut raw = ((16 + b.len()) as u32).to_be_bytes().to_vec();
            raw.extend_from_slice(&[0, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 7]);
            raw.extend_from_slice(&b);
            raw
        };
        let sme: &[u8] = b"\x01\x01\x018613800138000\0";
        let long = [b"\x01\x01\x01".as_slice(), &[b'1'; 25], b"\0"].concat();
        let raw = multi(&[sme, &long, b"\x02friends\0"]);
        let Some((fixed, found)) = long_multi_addresses(&raw) else {
            panic!("not repaired");
        };
        assert_eq!(found, [(1, "1".repeat(25))]);
        assert_eq!(fixed, multi(&[sme, b"\x01\x01\x01\0", b"\x02friends\0"]));
        assert!(matches!(
            sms_wire::framing::decode_pdu(&fixed),
            sms_wire::framing::Frame::Pdu(_)
        ));
        assert_eq!(
            long_multi_addresses(&multi(&[sme])),
            None,
            "nothing too long"
        );
        assert_eq!(
            long_multi_addresses(&multi(&[&long, b"\x03x\0"])),
            None,
            "a bad dest_flag after it"
        );
        assert_eq!(
            long_multi_addresses(&raw[..raw.len() - 20]),
            None,
            "cut short"
        );
        // Two destinations, the first a long address whose NUL is missing: read to the next
        // NUL it runs on into the second (whose dest_flag, TON and NPI are control bytes), and
        // the bytes after that would pass for the second destination. That is a body broken
        // otherwise, not one long address.
        let unended = [b"\x01\x01\x01".as_slice(), &[b'1'; 25]].concat();
        let other: &[u8] = b"\x01\x01\x018613900139000\0";
        let mut run_on = multi(&[&unended, sme, other]);
        run_on[16 + 9] = 2; // number_of_dests
        assert_eq!(
            long_multi_addresses(&run_on).map(|(_, l)| l),
            None,
            "an address without its NUL"
        );
    }

    #[test]
    fn diagnoses_overlong_addresses() {
        let pdu = |dest: &[u8]| {
            let mut raw = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1];
            raw.extend_from_slice(&[0, 1, 1]);
            raw.extend_from_slice(b"1\0");
            raw.extend_from_slice(&[1, 1]);
            raw.extend_from_slice(dest);
            raw
        };
        assert_eq!(
            diagnose_invalid(&pdu(b"123456789012345678901\0")),
            Some(0x0B)
        );
        // Ends right after the destination: truncated too.
        assert_eq!(diagnose_invalid(&pdu(b"12\0")), Some(0x02));
        assert_eq!(diagnose_invalid(&[0; 8]), None);
        // Cut short inside the addresses: a truncated PDU, not a long field.
        assert_eq!(diagnose_invalid(&pdu(b"12")), Some(0x02));
        assert_eq!(
            diagnose_invalid(&[0, 0, 0, 16, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1]),
            Some(0x02),
            "an empty submit_sm"
        );
    }
}
