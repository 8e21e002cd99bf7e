//! Fuzz-style properties of the framing codec: any bytes are framed without panicking, and a
//! well-framed PDU with any body never misaligns the PDU that follows it.

use bytes::BytesMut;
use proptest::prelude::*;
use rusmpp::{Command, CommandStatus, Pdu};
use sms_wire::framing::{decode_pdu, encode_command, Frame, SmppCodec};
use tokio_util::codec::Decoder;

fn enquire_link(seq: u32) -> Vec<u8> {
    encode_command(&Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut codec = SmppCodec::with_max_len(4096);
        let mut buf = BytesMut::from(&bytes[..]);
        // Decode until the codec wants more input or reports a fatal framing error.
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let _ = decode_pdu(&bytes);
    }

    #[test]
    fn any_body_in_a_valid_frame_keeps_the_stream_aligned(
        command_id in prop_oneof![any::<u32>(), Just(0x04u32), Just(0x05), Just(0x8000_0004), Just(0x15)],
        body in proptest::collection::vec(any::<u8>(), 0..300),
        seq in 1u32..0x7FFF_FFFF,
    ) {
        let mut pdu = Vec::with_capacity(16 + body.len());
        pdu.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
        pdu.extend_from_slice(&command_id.to_be_bytes());
        pdu.extend_from_slice(&0u32.to_be_bytes());
        pdu.extend_from_slice(&seq.to_be_bytes());
        pdu.extend_from_slice(&body);
        let mut stream = BytesMut::from(&pdu[..]);
        stream.extend_from_slice(&enquire_link(42));
        let mut codec = SmppCodec::new();
        match codec.decode(&mut stream).expect("a valid frame").expect("complete") {
            Frame::Pdu(cmd) => prop_assert_eq!(cmd.sequence_number(), seq),
            Frame::Invalid(inv) => {
                prop_assert_eq!(inv.sequence_number, seq);
                prop_assert_eq!(inv.command_id, command_id);
                prop_assert_eq!(&inv.raw[..], &pdu[..]);
            }
        }
        match codec.decode(&mut stream).expect("next frame").expect("complete") {
            Frame::Pdu(cmd) => prop_assert_eq!(cmd.sequence_number(), 42),
            Frame::Invalid(inv) => prop_assert!(false, "next PDU misaligned: {:?}", inv),
        }
        prop_assert!(stream.is_empty());
    }
}
