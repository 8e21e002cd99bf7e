//! The floor: the least CPU an SMPP client spends per message on this machine, against the
//! same SMSCs `mt` drains into (issue #4's "<= 10 us gateway CPU per message").
//!
//! A client that does nothing but the socket work of `mt`: one blocking thread, TCP_NODELAY,
//! one `bind_transceiver`, then `submit_sm` kept `window` in flight (every submit the window
//! allows written in one `write`, with the `deliver_sm_resp`s owed), each `read` parsed for
//! `submit_sm_resp`s and receipts (`deliver_sm`, answered at once). No store, no runtime, no
//! encoding per message (one encoded `submit_sm` whose sequence number is patched), no
//! logging: what is left is the kernel's part (system calls, wake-ups) and a header parse.
//! Its thread's on-CPU time (`/proc/thread-self/schedstat`, through `procstat`) divided by the messages is the
//! floor beside which the gateway's figure reads: at window 1 every message is a round trip
//! (a write, a wait, a read) for any client, persisted or not.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;
use sms_wire::framing::{encode_command, peek_header};
use sms_wire::rusmpp::pdus::{BindTransceiver, DeliverSmResp, SubmitSm};
use sms_wire::rusmpp::types::{COctetString, OctetString};
use sms_wire::rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, Ton,
};
use sms_wire::rusmpp::{Command, CommandId, CommandStatus, Pdu};

/// Why a floor run failed.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The socket failed.
    #[error("floor client: {what}: {source}")]
    Io {
        /// What it was doing.
        what: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The SMSC refused something or said something the client does not expect.
    #[error("floor client: {0}")]
    Smsc(String),
}

/// One floor run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct FloorResult {
    /// Requests in flight.
    pub window: usize,
    /// Receipts asked for (and answered).
    pub receipts: bool,
    /// Messages sent (each answered, and with receipts each receipt answered).
    pub n: u64,
    /// Wall time from the first submit to the last answer, seconds.
    pub secs: f64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// The client thread's on-CPU microseconds per message.
    pub cpu_us_per_msg: f64,
    /// `read` calls per message.
    pub reads_per_msg: f64,
    /// `write` calls per message.
    pub writes_per_msg: f64,
}

/// This thread's on-CPU nanoseconds ([`crate::procstat::current_thread_cpu_ns`]).
fn thread_cpu_ns() -> Result<u64, FloorError> {
    crate::procstat::current_thread_cpu_ns()
        .ok_or_else(|| FloorError::Smsc("cannot read /proc/thread-self's CPU time".into()))
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> FloorError {
    move |source| FloorError::Io { what, source }
}

/// The `submit_sm` every message is (sequence number 0, patched per message).
fn submit_template(receipts: bool) -> Result<Vec<u8>, FloorError> {
    let bad = |e| FloorError::Smsc(format!("submit_sm field: {e:?}"));
    let sm = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_str("Floor").map_err(bad)?)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str("8613900139000").map_err(bad)?)
        .esm_class(EsmClass::from(0x00))
        .registered_delivery(RegisteredDelivery::from(u8::from(receipts)))
        .data_coding(DataCoding::from(0x00))
        .short_message(
            OctetString::from_vec(b"+8613800138000: FREE. Reply STOP to stop.".to_vec())
                .map_err(|e| FloorError::Smsc(format!("short_message: {e:?}")))?,
        )
        .build();
    Ok(encode_command(&Command::new(CommandStatus::EsmeRok, 0, sm)))
}

/// Bind as a transceiver (`bench` / `bench`, as `mt`'s gateway does).
fn bind(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), FloorError> {
    let bad = |e| FloorError::Smsc(format!("bind field: {e:?}"));
    let bind = BindTransceiver::builder()
        .system_id(COctetString::from_str("bench").map_err(bad)?)
        .password(COctetString::from_str("bench").map_err(bad)?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .build();
    sock.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        1,
        bind,
    )))
    .map_err(io("writing bind_transceiver"))?;
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((len, id, status, _)) = peek_header(buf) {
            let len = len as usize;
            if buf.len() >= len {
                buf.drain(..len);
                if id != u32::from(CommandId::BindTransceiverResp) || status != 0 {
                    return Err(FloorError::Smsc(format!(
                        "bind answered command 0x{id:08x} status 0x{status:08x}"
                    )));
                }
                return Ok(());
            }
        }
        let got = sock
            .read(&mut chunk)
            .map_err(io("reading bind_transceiver_resp"))?;
        if got == 0 {
            return Err(FloorError::Smsc("the SMSC closed the bind".into()));
        }
        buf.extend_from_slice(&chunk[..got]);
    }
}

/// Send `n` messages to the SMSC at `addr`, `window` in flight, asking for receipts or not,
/// and measure this thread. Runs on the calling thread.
pub fn run(
    addr: SocketAddr,
    n: u64,
    window: usize,
    receipts: bool,
) -> Result<FloorResult, FloorError> {
    let window = window.max(1) as u64;
    let mut sock = TcpStream::connect(addr).map_err(io("connecting"))?;
    sock.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io("read timeout"))?;
    let mut inbuf: Vec<u8> = Vec::with_capacity(1 << 16);
    bind(&mut sock, &mut inbuf)?;
    let template = submit_template(receipts)?;
    let mut out: Vec<u8> = Vec::with_capacity(template.len() * window as usize + 4096);
    let mut chunk = vec![0u8; 1 << 16];
    let (mut sent, mut answered, mut receipted) = (0u64, 0u64, 0u64);
    let (mut reads, mut writes) = (0u64, 0u64);
    let mut seq: u32 = 1;
    let cpu0 = thread_cpu_ns()?;
    let t0 = Instant::now();
    while answered < n || (receipts && receipted < n) {
        while sent < n && sent - answered < window {
            seq = seq.wrapping_add(1).max(2);
            let at = out.len();
            out.extend_from_slice(&template);
            out[at + 12..at + 16].copy_from_slice(&seq.to_be_bytes());
            sent += 1;
        }
        if !out.is_empty() {
            sock.write_all(&out).map_err(io("writing"))?;
            writes += 1;
            out.clear();
        }
        let got = sock.read(&mut chunk).map_err(io("reading"))?;
        reads += 1;
        if got == 0 {
            return Err(FloorError::Smsc("the SMSC closed the link".into()));
        }
        inbuf.extend_from_slice(&chunk[..got]);
        let mut at = 0;
        while let Some((len, id, status, pdu_seq)) = peek_header(&inbuf[at..]) {
            let len = len as usize;
            if len < 16 || inbuf.len() - at < len {
                break;
            }
            if id == u32::from(CommandId::SubmitSmResp) {
                if status != 0 {
                    return Err(FloorError::Smsc(format!(
                        "submit_sm refused with 0x{status:08x}"
                    )));
                }
                answered += 1;
            } else if id == u32::from(CommandId::DeliverSm) {
                receipted += 1;
                out.extend_from_slice(&encode_command(&Command::new(
                    CommandStatus::EsmeRok,
                    pdu_seq,
                    Pdu::DeliverSmResp(DeliverSmResp::default()),
                )));
            } else if id == u32::from(CommandId::EnquireLink) {
                out.extend_from_slice(&encode_command(&Command::new(
                    CommandStatus::EsmeRok,
                    pdu_seq,
                    Pdu::EnquireLinkResp,
                )));
            } else {
                return Err(FloorError::Smsc(format!(
                    "unexpected command 0x{id:08x} status 0x{status:08x}"
                )));
            }
            at += len;
        }
        inbuf.drain(..at);
    }
    // The last receipts' answers.
    if !out.is_empty() {
        sock.write_all(&out).map_err(io("writing"))?;
        writes += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu_ns = thread_cpu_ns()? - cpu0;
    let _ = sock.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        seq.wrapping_add(1),
        Pdu::Unbind,
    )));
    let per = |x: f64| x / n.max(1) as f64;
    Ok(FloorResult {
        window: window as usize,
        receipts,
        n,
        secs,
        msgs_per_s: n as f64 / secs.max(1e-9),
        cpu_us_per_msg: per(cpu_ns as f64 / 1_000.0),
        reads_per_msg: per(reads as f64),
        writes_per_msg: per(writes as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smsc::{SimSmsc, Smsc};

    /// The floor client sends every message through the window, gets each answered (and with
    /// receipts each receipt, which it answers), and the SMSC saw exactly those submits.
    #[test]
    fn the_floor_client_sends_every_message_and_answers_every_receipt() {
        let smsc = Smsc::Sim(SimSmsc::start(1, 10).unwrap());
        for (window, receipts) in [(1, false), (7, true)] {
            smsc.reset().unwrap();
            let r = run(smsc.addr(), 300, window, receipts).unwrap();
            assert_eq!((r.n, r.window, r.receipts), (300, window, receipts));
            assert!(r.cpu_us_per_msg > 0.0 && r.msgs_per_s > 0.0, "{r:?}");
            assert!(r.reads_per_msg > 0.0 && r.writes_per_msg > 0.0, "{r:?}");
            let want = if receipts { 300 } else { 0 };
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut counts = smsc.counts().unwrap();
            while counts.receipts_acked < want && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                counts = smsc.counts().unwrap();
            }
            assert_eq!((counts.submits, counts.receipts_acked), (300, want));
        }
    }

    /// An SMSC that refuses the bind is a clear error, not a hang.
    #[test]
    fn a_refused_bind_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            let seq = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
            s.write_all(&encode_command(&Command::new(
                CommandStatus::EsmeRinvpaswd,
                seq,
                Pdu::BindTransceiverResp(Default::default()),
            )))
            .unwrap();
        });
        let err = run(addr, 10, 1, false).unwrap_err().to_string();
        assert!(err.contains("bind answered"), "{err}");
        server.join().unwrap();
    }
}
