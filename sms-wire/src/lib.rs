//! sms-wire: the bytes on the wire, shared by the gateway and the simulator.
#![forbid(unsafe_code)]
pub mod framing;
pub use rusmpp;
