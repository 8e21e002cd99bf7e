//! SMPP framing: cut exactly one PDU by `command_length`, then hand that slice to rusmpp.
//!
//! rusmpp 0.4's own `CommandCodec` does not confine decoding to `command_length`, and any decode
//! error ends a `Framed` stream (see `shared/reference/rusmpp.md` §6, defects 2-4). [`SmppCodec`]
//! frames first: a PDU whose body does not decode becomes a [`Frame::Invalid`] value carrying its
//! header, so the session answers `generic_nack` (SMPP 3.4 §4.3) and the stream stays aligned.
//! Only a `command_length` that cannot be framed at all (below 16 or above the configured maximum)
//! is a [`FramingError`], after which the connection must be dropped.
//!
//! Two carrier quirks rusmpp refuses are read anyway: a `receipted_message_id` without its NUL
//! is repaired before a second decode (so such an SMSC's receipts are not refused for ever),
//! and an accepting `submit_sm_resp` whose message id does not decode is still an acceptance
//! ([`InvalidPdu::lenient_accept`]; treating it as unknown would submit the message again).
//!
//! Also here: reading TLVs by tag, header-only error responses, and the `esm_class` values we
//! always set explicitly (rusmpp's default `EsmClass` encodes as 0x08, which is wrong for MT).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::{Encode, Length};
use rusmpp::tlvs::{Tlv, TlvTag, TlvValue};
use rusmpp::types::AnyOctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio_util::codec::{Decoder, Encoder};

/// Length of the SMPP header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;

/// Default largest PDU we accept (64 KiB covers a full `message_payload` TLV).
pub const DEFAULT_MAX_PDU_LEN: usize = 64 * 1024 + 1024;

/// `esm_class` values (SMPP 3.4 §5.2.12). Always set one of these explicitly.
pub mod esm_class {
    /// Default message mode, default type, no features.
    pub const DEFAULT: u8 = 0x00;
    /// UDH indicator: `short_message` starts with a User Data Header.
    pub const UDHI: u8 = 0x40;
    /// Message type "SMSC delivery receipt" (deliver_sm only).
    pub const DELIVERY_RECEIPT: u8 = 0x04;
    /// Message type "intermediate delivery notification" (deliver_sm only): a receipt whose
    /// state is not final.
    pub const INTERMEDIATE_NOTIFICATION: u8 = 0x20;
    /// The message-type bits (2-5): 0x00 an ordinary message, 0x04 a receipt, 0x08 an SME
    /// delivery acknowledgement, 0x10 an SME manual/user acknowledgement, 0x18 a conversation
    /// abort, 0x20 an intermediate delivery notification.
    pub const TYPE_MASK: u8 = 0x3C;
}

/// One framed PDU: either decoded by rusmpp, or a well-framed PDU whose body is bad.
// The large variant is the common one (a decoded PDU); boxing it would add an allocation per PDU.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Frame {
    /// A PDU that decoded completely and used exactly `command_length` bytes.
    Pdu(Command),
    /// A PDU that was framed correctly but whose body could not be decoded.
    Invalid(InvalidPdu),
}

/// A correctly framed PDU whose body rusmpp could not decode (or that had trailing bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPdu {
    /// Raw `command_id` from the header.
    pub command_id: u32,
    /// Raw `command_status` from the header.
    pub command_status: u32,
    /// Raw `sequence_number` from the header.
    pub sequence_number: u32,
    /// The whole PDU, header included, for logging and captures.
    pub raw: Bytes,
    /// Why it did not decode.
    pub error: String,
}

impl InvalidPdu {
    /// The status to put in the `generic_nack` (or header-only response) for this PDU.
    ///
    /// An unknown command id is `ESME_RINVCMDID` (0x03); a known one whose body does not fit
    /// its declared length or does not decode is `ESME_RINVCMDLEN` (0x02), SMPP 3.4 §5.1.3.
    pub fn nack_status(&self) -> CommandStatus {
        if !matches!(CommandId::from(self.command_id), CommandId::Other(_)) {
            CommandStatus::EsmeRinvcmdlen
        } else {
            CommandStatus::EsmeRinvcmdid
        }
    }

    /// Whether this PDU was a request (so it deserves an answer) rather than a response.
    pub fn is_request(&self) -> bool {
        self.command_id & 0x8000_0000 == 0
    }

    /// The `generic_nack` that answers this PDU.
    pub fn generic_nack(&self) -> Command {
        generic_nack(self.nack_status(), self.sequence_number)
    }

    /// A `submit_sm_resp` or `data_sm_resp` that says `ESME_ROK` in its header but whose body
    /// does not decode (a `message_id` without its NUL, longer than 64 characters, or not
    /// ASCII), read leniently: the same response with the id's printable ASCII characters
    /// up to the first NUL, at most 64. The SMSC has accepted the message, so a reader that
    /// treated this as an unknown outcome would submit it again. `None` for anything else.
    pub fn lenient_accept(&self) -> Option<Command> {
        if self.command_status != 0 {
            return None;
        }
        let body = self.raw.get(HEADER_LEN..).unwrap_or_default();
        let id: String = body
            .iter()
            .take_while(|&&b| b != 0)
            .filter(|b| b.is_ascii_graphic())
            .take(64)
            .map(|&b| char::from(b))
            .collect();
        let id = rusmpp::types::COctetString::from_string(id).ok()?;
        let pdu = match self.command_id {
            0x8000_0004 => {
                Pdu::SubmitSmResp(rusmpp::pdus::SubmitSmResp::builder().message_id(id).build())
            }
            0x8000_0103 => {
                Pdu::DataSmResp(rusmpp::pdus::DataSmResp::builder().message_id(id).build())
            }
            _ => return None,
        };
        Some(Command::new(
            CommandStatus::EsmeRok,
            self.sequence_number,
            pdu,
        ))
    }
}

/// A fault that makes the byte stream impossible to frame: the connection must be dropped.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// `command_length` below the 16-byte header.
    #[error("command_length {0} is below the 16-byte header")]
    TooShort(usize),
    /// `command_length` above the configured maximum.
    #[error("command_length {actual} exceeds the maximum of {max}")]
    TooLong {
        /// Declared length.
        actual: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// tokio-util codec for SMPP over TCP: framing first, then rusmpp decoding of exactly one PDU.
#[derive(Debug, Clone)]
pub struct SmppCodec {
    max_len: usize,
    /// Keep each decoded PDU's bytes as they came, for [`SmppCodec::take_raw`].
    keep_raw: bool,
    raw: Option<Bytes>,
}

impl Default for SmppCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl SmppCodec {
    /// A codec with [`DEFAULT_MAX_PDU_LEN`].
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_PDU_LEN)
    }

    /// A codec that refuses PDUs longer than `max_len` bytes (header included).
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
            keep_raw: false,
            raw: None,
        }
    }

    /// This codec, keeping the bytes of each PDU it decodes as they came on the wire (a
    /// re-encoded PDU can differ: a repaired field, rusmpp's order of TLVs), for a capture or
    /// a hex log; read them with [`SmppCodec::take_raw`] after each frame.
    pub fn keeping_raw(mut self) -> Self {
        self.keep_raw = true;
        self
    }

    /// The bytes of the PDU decoded last, once (`None` unless [`SmppCodec::keeping_raw`]).
    pub fn take_raw(&mut self) -> Option<Bytes> {
        self.raw.take()
    }

    /// The configured maximum PDU length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

/// Decode one whole PDU (header included) held in `raw`; never panics.
///
/// The slice must be exactly one PDU: `command_length` must equal `raw.len()`.
pub fn decode_pdu(raw: &[u8]) -> Frame {
    if raw.len() < HEADER_LEN {
        return Frame::Invalid(InvalidPdu {
            command_id: 0,
            command_status: 0,
            sequence_number: 0,
            raw: Bytes::copy_from_slice(raw),
            error: format!("{} bytes is shorter than the SMPP header", raw.len()),
        });
    }
    let word = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
    let (declared, command_id, command_status, sequence_number) =
        (word(0), word(4), word(8), word(12));
    let invalid = |error: String| {
        Frame::Invalid(InvalidPdu {
            command_id,
            command_status,
            sequence_number,
            raw: Bytes::copy_from_slice(raw),
            error,
        })
    };
    if declared as usize != raw.len() {
        return invalid(format!(
            "command_length {declared} does not match the {} bytes framed",
            raw.len()
        ));
    }
    match decode_exactly(raw) {
        Ok(cmd) => Frame::Pdu(cmd),
        Err(error) => match repair_receipted_message_id(raw, command_id) {
            Some(fixed) => decode_exactly(&fixed).map_or_else(|_| invalid(error), Frame::Pdu),
            None => invalid(error),
        },
    }
}

/// rusmpp's decoding of one whole PDU that must use every byte.
fn decode_exactly(raw: &[u8]) -> Result<Command, String> {
    let mut body = BytesMut::from(&raw[4..]);
    let length = body.len();
    match Command::decode(&mut body, length) {
        // rusmpp decodes a 16-byte error response with an unknown id as `Other`; keep it.
        Ok((cmd, _)) if body.is_empty() => Ok(cmd),
        Ok((_, used)) => Err(format!(
            "{} trailing bytes after a {used}-byte body",
            body.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A known carrier quirk, repaired (`shared/reference/rusmpp.md` §6, defect 4): a
/// `deliver_sm` or `data_sm` whose `receipted_message_id` TLV (0x001E) holds the id without
/// its terminating NUL (`00 1E 00 01 31`). rusmpp refuses the whole PDU, which would refuse
/// every receipt such an SMSC sends, and it would send them again for ever. The bytes are
/// walked by the SMPP 3.4 layout (§4.6.1, §4.7.1) to the TLVs; when that TLV's value has no
/// NUL, a copy with the NUL appended (and both lengths one more) is returned for a second
/// decode. `None` when the PDU is anything else.
fn repair_receipted_message_id(raw: &[u8], command_id: u32) -> Option<Vec<u8>> {
    /// Past a C-Octet String starting at `i`.
    fn cstr(raw: &[u8], i: usize) -> Option<usize> {
        Some(i + raw.get(i..)?.iter().position(|&b| b == 0)? + 1)
    }
    fn skip(raw: &[u8], i: usize, n: usize) -> Option<usize> {
        (i + n <= raw.len()).then_some(i + n)
    }
    let mut i = HEADER_LEN;
    // service_type, source (ton, npi, addr), destination (ton, npi, addr).
    i = cstr(raw, i)?;
    i = cstr(raw, skip(raw, i, 2)?)?;
    i = cstr(raw, skip(raw, i, 2)?)?;
    match command_id {
        0x0000_0005 => {
            // esm_class, protocol_id, priority_flag; schedule and validity (C strings);
            // registered_delivery, replace_if_present, data_coding, sm_default_msg_id;
            // sm_length and short_message.
            i = cstr(raw, skip(raw, i, 3)?)?;
            i = cstr(raw, i)?;
            i = skip(raw, i, 4)?;
            let sm_length = usize::from(*raw.get(i)?);
            i = skip(raw, i + 1, sm_length)?;
        }
        // esm_class, registered_delivery, data_coding.
        0x0000_0103 => i = skip(raw, i, 3)?,
        _ => return None,
    }
    while i + 4 <= raw.len() {
        let tag = u16::from_be_bytes([raw[i], raw[i + 1]]);
        let len = usize::from(u16::from_be_bytes([raw[i + 2], raw[i + 3]]));
        let end = skip(raw, i + 4, len)?;
        if tag == 0x001E && len < usize::from(u16::MAX) && !raw[i + 4..end].contains(&0) {
            let mut fixed = Vec::with_capacity(raw.len() + 1);
            fixed.extend_from_slice(&raw[..end]);
            fixed.push(0);
            fixed.extend_from_slice(&raw[end..]);
            fixed[0..4].copy_from_slice(&(raw.len() as u32 + 1).to_be_bytes());
            fixed[i + 2..i + 4].copy_from_slice(&(len as u16 + 1).to_be_bytes());
            return Some(fixed);
        }
        i = end;
    }
    None
}

impl Decoder for SmppCodec {
    type Item = Frame;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len < HEADER_LEN {
            return Err(FramingError::TooShort(len));
        }
        if len > self.max_len {
            return Err(FramingError::TooLong {
                actual: len,
                max: self.max_len,
            });
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let raw = src.split_to(len).freeze();
        trace_pdu("in", &raw);
        let frame = decode_pdu(&raw);
        if self.keep_raw {
            self.raw = Some(raw);
        }
        Ok(Some(frame))
    }
}

impl Encoder<&Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let start = dst.len();
        encode_into(command, dst);
        trace_pdu("out", &dst[start..]);
        Ok(())
    }
}

/// Append `command`'s wire bytes (header included) to `dst`.
fn encode_into(command: &Command, dst: &mut BytesMut) {
    let body_len = command.length();
    let total = 4 + body_len;
    dst.reserve(total);
    dst.put_u32(total as u32);
    let start = dst.len();
    dst.resize(start + body_len, 0);
    command.encode(&mut dst[start..]);
}

/// Target of the PDU trace: every PDU an [`SmppCodec`] reads from or writes to a connection,
/// at DEBUG, with its header and all its bytes in hex (a bind's password masked, see
/// [`mask_password`]): `RUST_LOG=info,pdu=debug`, or the same filter set at run time, shows an
/// integration's traffic as the SMSC sees it. Off, it costs one check of the filter a PDU.
pub const PDU_TRACE_TARGET: &str = "pdu";

/// One line of the PDU trace (see [`PDU_TRACE_TARGET`]); `dir` is `in` or `out`.
fn trace_pdu(dir: &'static str, raw: &[u8]) {
    if !tracing::enabled!(target: PDU_TRACE_TARGET, tracing::Level::DEBUG) {
        return;
    }
    let Some((len, id, status, seq)) = peek_header(raw) else {
        return;
    };
    let masked = mask_password(raw);
    tracing::debug!(
        target: PDU_TRACE_TARGET,
        dir,
        command = ?CommandId::from(id),
        status = format_args!("{status:#010x}"),
        seq,
        len,
        hex = %crate::text::to_hex(&masked),
        "SMPP"
    );
}

/// `pdu` with the password of a bind_transmitter / bind_receiver / bind_transceiver / outbind
/// (the C-octet string after `system_id`, SMPP 3.4 §4.1) overwritten with `*`, its length
/// and terminator kept; other PDUs (and one too short to hold a password) unchanged. For
/// anything that shows PDU bytes: the trace, a hex log, a capture.
pub fn mask_password(pdu: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let id = pdu
        .get(4..8)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if !matches!(id, Some(0x01 | 0x02 | 0x09 | 0x0B)) {
        return std::borrow::Cow::Borrowed(pdu);
    }
    let body = pdu.get(16..).unwrap_or_default();
    let Some(sys_end) = body.iter().position(|&b| b == 0) else {
        return std::borrow::Cow::Borrowed(pdu);
    };
    let start = 16 + sys_end + 1;
    let rest = pdu.get(start..).unwrap_or_default();
    // Up to its NUL, or to the end of a PDU cut short.
    let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let mut out = pdu.to_vec();
    out[start..start + len].fill(b'*');
    std::borrow::Cow::Owned(out)
}

impl Encoder<Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        <Self as Encoder<&Command>>::encode(self, &command, dst)
    }
}

/// Encode one command to its full wire bytes (header included).
///
/// Not traced (see [`PDU_TRACE_TARGET`]): what it encodes is not necessarily sent.
pub fn encode_command(command: &Command) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_into(command, &mut buf);
    buf.to_vec()
}

/// Read the header fields of raw PDU bytes: (command_length, command_id, command_status, sequence).
pub fn peek_header(raw: &[u8]) -> Option<(u32, u32, u32, u32)> {
    if raw.len() < HEADER_LEN {
        return None;
    }
    let mut b = &raw[..HEADER_LEN];
    Some((b.get_u32(), b.get_u32(), b.get_u32(), b.get_u32()))
}

/// The first TLV with this tag, if present and decoded.
pub fn find_tlv(tlvs: &[Tlv], tag: TlvTag) -> Option<&TlvValue> {
    tlvs.iter().find(|t| t.tag() == tag).and_then(|t| t.value())
}

/// A `generic_nack` (SMPP 3.4 §4.3) with this status and sequence number.
pub fn generic_nack(status: CommandStatus, sequence_number: u32) -> Command {
    Command::new(status, sequence_number, Pdu::GenericNack)
}

/// A header-only response to `request` (e.g. a 16-byte `submit_sm_resp` with `ESME_RTHROTTLED`).
///
/// Returns a `generic_nack` when `request` is not a request id with a matching response.
pub fn error_response(request: CommandId, status: CommandStatus, sequence_number: u32) -> Command {
    let resp = request.matching_response();
    match resp {
        _ if request.is_operation() && !matches!(resp, CommandId::Other(_)) => Command::new(
            status,
            sequence_number,
            Pdu::Other {
                command_id: resp,
                body: AnyOctetString::empty(),
            },
        ),
        _ => generic_nack(status, sequence_number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace or hex log never shows a bind's password: its bytes become `*`, the rest stays.
    #[test]
    fn bind_passwords_are_masked() {
        let mut bind = vec![0, 0, 0, 0, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0, 1];
        bind.extend_from_slice(b"esme\0s3cret\0\0\x34\0\0\0");
        let n = bind.len() as u32;
        bind[..4].copy_from_slice(&n.to_be_bytes());
        let masked = mask_password(&bind);
        assert_eq!(masked.len(), bind.len());
        assert!(!masked.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(&masked[16..28], b"esme\0******\0");
        assert_eq!(&masked[28..], &bind[28..]);
        // Other PDUs untouched; a short bind does not panic.
        let submit = [0, 0, 0, 17, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, b'x'];
        assert_eq!(&*mask_password(&submit), &submit[..]);
        assert_eq!(&*mask_password(&bind[..10]), &bind[..10]);
        let cut = &bind[..24];
        assert_eq!(&mask_password(cut)[16..], b"esme\0***");
    }

    use rusmpp::pdus::SubmitSmResp;
    use rusmpp::types::COctetString;
    use std::str::FromStr;

    fn submit_sm_resp(seq: u32) -> Command {
        Command::new(
            CommandStatus::EsmeRok,
            seq,
            SubmitSmResp::builder()
                .message_id(COctetString::from_str("abc").unwrap())
                .build(),
        )
    }

    #[test]
    fn a_codec_keeping_raw_hands_each_pdu_back_as_it_came_once() {
        let mut wire = BytesMut::new();
        let mut plain = SmppCodec::new();
        plain.encode(&submit_sm_resp(1), &mut wire).unwrap();
        plain.encode(&submit_sm_resp(2), &mut wire).unwrap();
        let first = wire[..wire.len() / 2].to_vec();
        let second = wire[wire.len() / 2..].to_vec();
        let mut copy = wire.clone();
        assert!(plain.decode(&mut copy).unwrap().is_some());
        assert_eq!(plain.take_raw(), None, "not kept unless asked");
        let mut keeping = SmppCodec::new().keeping_raw();
        assert!(keeping.decode(&mut wire).unwrap().is_some());
        assert_eq!(keeping.take_raw().as_deref(), Some(&first[..]));
        assert_eq!(keeping.take_raw(), None, "handed back once");
        assert!(keeping.decode(&mut wire).unwrap().is_some());
        assert_eq!(keeping.take_raw().as_deref(), Some(&second[..]));
    }

    #[test]
    fn roundtrip_and_alignment_after_a_bad_pdu() {
        let mut wire = BytesMut::new();
        let mut codec = SmppCodec::new();
        codec.encode(&submit_sm_resp(7), &mut wire).unwrap();
        // enquire_link with a 1-byte body: well framed, bad body.
        wire.extend_from_slice(&[0, 0, 0, 17, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9, 0xAA]);
        codec.encode(&submit_sm_resp(8), &mut wire).unwrap();

        let a = codec.decode(&mut wire).unwrap().unwrap();
        assert!(matches!(a, Frame::Pdu(ref c) if c.sequence_number() == 7));
        let b = codec.decode(&mut wire).unwrap().unwrap();
        match b {
            Frame::Invalid(inv) => {
                assert_eq!(inv.sequence_number, 9);
                assert_eq!(inv.command_id, 0x15);
                assert_eq!(inv.generic_nack().status(), CommandStatus::EsmeRinvcmdlen);
            }
            other => panic!("expected invalid, got {other:?}"),
        }
        let c = codec.decode(&mut wire).unwrap().unwrap();
        assert!(matches!(c, Frame::Pdu(ref c) if c.sequence_number() == 8));
        assert!(codec.decode(&mut wire).unwrap().is_none());
    }

    #[test]
    fn partial_input_waits_and_bad_lengths_are_fatal() {
        let bytes = encode_command(&submit_sm_resp(1));
        let mut codec = SmppCodec::new();
        let mut buf = BytesMut::from(&bytes[..10]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&bytes[10..]);
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Pdu(_))
        ));

        let mut short = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut short),
            Err(FramingError::TooShort(8))
        ));
        let mut codec = SmppCodec::with_max_len(100);
        let mut long = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert!(matches!(
            codec.decode(&mut long),
            Err(FramingError::TooLong { .. })
        ));
    }

    #[test]
    fn header_only_throttled_response() {
        let c = error_response(CommandId::SubmitSm, CommandStatus::EsmeRthrottled, 42);
        let bytes = encode_command(&c);
        assert_eq!(bytes.len(), 16);
        assert_eq!(peek_header(&bytes), Some((16, 0x8000_0004, 0x58, 42)));
        match decode_pdu(&bytes) {
            Frame::Pdu(cmd) => {
                assert_eq!(cmd.id(), CommandId::SubmitSmResp);
                assert_eq!(cmd.status(), CommandStatus::EsmeRthrottled);
            }
            Frame::Invalid(i) => panic!("{i:?}"),
        }
    }

    /// A receipt `deliver_sm` whose `receipted_message_id` is `id` with no NUL, then `tail`.
    fn receipt_without_nul(id: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8, 1, 1];
        body.extend_from_slice(b"8613800138000\0");
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(b"10086\0");
        body.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 0, 0, 0]);
        let text = b"id:1A2B stat:DELIVRD err:000";
        body.push(text.len() as u8);
        body.extend_from_slice(text);
        body.extend_from_slice(&[0x00, 0x1E, 0x00, id.len() as u8]);
        body.extend_from_slice(id);
        body.extend_from_slice(tail);
        let mut raw = ((16 + body.len()) as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9]);
        raw.extend_from_slice(&body);
        raw
    }

    #[test]
    fn a_receipted_message_id_without_its_nul_is_repaired() {
        // message_state (0x0427) after it: the walk must find the TLV in the middle too.
        for tail in [&[][..], &[0x04, 0x27, 0x00, 0x01, 0x02][..]] {
            match decode_pdu(&receipt_without_nul(b"1A2B", tail)) {
                Frame::Pdu(cmd) => {
                    assert_eq!(cmd.sequence_number(), 9);
                    let Some(Pdu::DeliverSm(sm)) = cmd.pdu() else {
                        panic!("{cmd:?}")
                    };
                    match find_tlv(sm.tlvs(), TlvTag::ReceiptedMessageId) {
                        Some(TlvValue::ReceiptedMessageId(id)) => assert_eq!(id.as_str(), "1A2B"),
                        other => panic!("{other:?}"),
                    }
                }
                Frame::Invalid(inv) => panic!("not repaired: {}", inv.error),
            }
        }
        // The longest value a TLV can declare, without its NUL: no room for one more byte in
        // its length field, so it is refused, not repaired (and nothing overflows).
        let mut huge = receipt_without_nul(b"", &[]);
        let at = huge.len() - 4;
        huge[at + 2..at + 4].copy_from_slice(&u16::MAX.to_be_bytes());
        huge.extend(std::iter::repeat_n(b'7', usize::from(u16::MAX)));
        let len = huge.len() as u32;
        huge[0..4].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(decode_pdu(&huge), Frame::Invalid(_)));
        // A value that does have its NUL but is broken otherwise is not "repaired".
        let mut raw = receipt_without_nul(b"1A\0B", &[]);
        assert!(matches!(decode_pdu(&raw), Frame::Invalid(_)));
        // Nor is a deliver_sm cut short before its TLVs.
        raw.truncate(30);
        raw[0..4].copy_from_slice(&30u32.to_be_bytes());
        assert!(matches!(decode_pdu(&raw), Frame::Invalid(_)));
    }

    #[test]
    fn an_accepting_answer_with_an_unreadable_id_stays_accepted() {
        let header = |len: usize, id: u32, status: u32| {
            let mut raw = (len as u32).to_be_bytes().to_vec();
            raw.extend_from_slice(&id.to_be_bytes());
            raw.extend_from_slice(&status.to_be_bytes());
            raw.extend_from_slice(&77u32.to_be_bytes());
            raw
        };
        let id_of = |cmd: &Command| match cmd.pdu() {
            Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
            Some(Pdu::DataSmResp(r)) => r.message_id().to_string(),
            other => panic!("{other:?}"),
        };
        let long = "7".repeat(70);
        for (id, body, want) in [
            (0x8000_0004u32, b"abc".to_vec(), "abc".to_string()),
            (0x8000_0004, long.as_bytes().to_vec(), "7".repeat(64)),
            (0x8000_0103, b"d\xE9f".to_vec(), "df".to_string()),
        ] {
            let mut raw = header(16 + body.len(), id, 0);
            raw.extend_from_slice(&body);
            let Frame::Invalid(inv) = decode_pdu(&raw) else {
                panic!("rusmpp read {body:?}")
            };
            let cmd = inv.lenient_accept().expect("accepted");
            assert_eq!(cmd.status(), CommandStatus::EsmeRok);
            assert_eq!(cmd.sequence_number(), 77);
            assert_eq!(id_of(&cmd), want);
        }
        // Not for an error status, nor for other responses.
        let mut raw = header(19, 0x8000_0004, 0x58);
        raw.extend_from_slice(b"abc");
        let Frame::Invalid(inv) = decode_pdu(&raw) else {
            panic!()
        };
        assert!(inv.lenient_accept().is_none());
        let mut raw = header(19, 0x8000_0009, 0);
        raw.extend_from_slice(b"abc");
        if let Frame::Invalid(inv) = decode_pdu(&raw) {
            assert!(inv.lenient_accept().is_none());
        }
    }

    #[test]
    fn unknown_command_id_nacks_with_rinvcmdid() {
        let raw = [0u8, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 5];
        match decode_pdu(&raw) {
            Frame::Pdu(cmd) => assert!(matches!(cmd.pdu(), Some(Pdu::Other { .. }) | None)),
            Frame::Invalid(inv) => assert_eq!(inv.nack_status(), CommandStatus::EsmeRinvcmdid),
        }
    }
}
