//! sms-wire: the bytes on the wire, shared by the gateway and the simulator.
//!
//! Pure code: no I/O, no tokio runtime (only tokio-util's codec traits for [`framing`]).
//! Every decoder here accepts any byte string without panicking.
//!
//! | module | holds |
//! |---|---|
//! | [`framing`] | SMPP PDU framing over rusmpp 0.4, TLV lookup, header-only error responses |
//! | [`gsm7`] | GSM 03.38 default alphabet + extension table, unpacked septets |
//! | [`ucs2`] | UCS-2 / UTF-16BE with surrogate pairs |
//! | [`latin1`] | ISO-8859-1 decoding (data_coding 0x03) |
//! | [`text`] | choosing an alphabet and decoding by `data_coding` |
//! | [`udh`] | User Data Header build and parse (concat 8/16-bit, ports, unknown IEs) |
//! | [`segment`] | splitting text or binary into concatenated parts (UDH, SAR, message_payload) |
//! | [`reassembly`] | joining parts back in any order, with expiry |
//! | [`receipt`] | delivery receipt text and message-id normalisation |
//! | [`status`] | SMPP command_status names |
//! | [`wap_push`] | WAP Push SI / SL: WBXML, WSP push PDU, port-addressed segments |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Docs are built with --document-private-items (`.ci/run`), where links to private items
// resolve; the crate's public docs may name the private helpers they rely on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod framing;
pub mod gsm7;
pub mod latin1;
pub mod reassembly;
pub mod receipt;
pub mod segment;
pub mod status;
pub mod text;
pub mod ucs2;
pub mod udh;
pub mod wap_push;

pub use rusmpp;
