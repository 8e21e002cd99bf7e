//! SMPP framing: cut exactly one PDU by `command_length`, then hand that slice to rusmpp.
//!
//! rusmpp 0.4's own `CommandCodec` does not confine decoding to `command_length`, and any decode
//! error ends a `Framed` stream (see `shared/reference/rusmpp.md` §6, defects 2-4). [`SmppCodec`]
//! frames first: a PDU whose body does not decode becomes a [`Frame::Invalid`] value carrying its
//! header, so the session answers `generic_nack` (SMPP 3.4 §4.3) and the stream stays aligned.
//! Only a `command_length` that cannot be framed at all (below 16 or above the configured maximum)
//! is a [`FramingError`], after which the connection must be dropped.
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
}

impl Default for SmppCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl SmppCodec {
    /// A codec with [`DEFAULT_MAX_PDU_LEN`].
    pub fn new() -> Self {
        Self {
            max_len: DEFAULT_MAX_PDU_LEN,
        }
    }

    /// A codec that refuses PDUs longer than `max_len` bytes (header included).
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
        }
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
    let mut body = BytesMut::from(&raw[4..]);
    let length = body.len();
    match Command::decode(&mut body, length) {
        Ok((cmd, _)) if body.is_empty() => {
            // rusmpp decodes a 16-byte error response with an unknown id as `Other`; keep it.
            Frame::Pdu(cmd)
        }
        Ok((_, used)) => invalid(format!(
            "{} trailing bytes after a {used}-byte body",
            body.len()
        )),
        Err(e) => invalid(e.to_string()),
    }
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
        let raw = src.split_to(len);
        Ok(Some(decode_pdu(&raw)))
    }
}

impl Encoder<&Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let body_len = command.length();
        let total = 4 + body_len;
        dst.reserve(total);
        dst.put_u32(total as u32);
        let start = dst.len();
        dst.resize(start + body_len, 0);
        command.encode(&mut dst[start..]);
        Ok(())
    }
}

impl Encoder<Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        <Self as Encoder<&Command>>::encode(self, &command, dst)
    }
}

/// Encode one command to its full wire bytes (header included).
pub fn encode_command(command: &Command) -> Vec<u8> {
    let mut buf = BytesMut::new();
    // Encoding into a BytesMut cannot fail.
    let _ = <SmppCodec as Encoder<&Command>>::encode(&mut SmppCodec::new(), command, &mut buf);
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

    #[test]
    fn unknown_command_id_nacks_with_rinvcmdid() {
        let raw = [0u8, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 5];
        match decode_pdu(&raw) {
            Frame::Pdu(cmd) => assert!(matches!(cmd.pdu(), Some(Pdu::Other { .. }) | None)),
            Frame::Invalid(inv) => assert_eq!(inv.nack_status(), CommandStatus::EsmeRinvcmdid),
        }
    }
}
