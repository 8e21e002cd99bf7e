//! A raw SMPP test client (ESME side) over real TCP, built on `sms_wire::framing::SmppCodec`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{
    BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm,
};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvTag, TlvValue};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use sms_wire::framing::{find_tlv, Frame, SmppCodec};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Bounded wait for every read.
pub const WAIT: Duration = Duration::from_secs(5);

/// Bind mode.
#[derive(Clone, Copy)]
pub enum Mode {
    Tx,
    Rx,
    Trx,
}

/// The raw client.
pub struct Client {
    pub framed: Framed<TcpStream, SmppCodec>,
    seq: u32,
    /// Frames read while waiting for something else.
    pub queued: VecDeque<Frame>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).unwrap();
        Client {
            framed: Framed::new(s, SmppCodec::new()),
            seq: 0,
            queued: VecDeque::new(),
        }
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    pub async fn send(&mut self, cmd: Command) {
        SinkExt::<Command>::send(&mut self.framed, cmd)
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed.get_mut().write_all(bytes).await.expect("write");
    }

    /// Next frame from the socket (None on EOF / framing error); panics after WAIT.
    pub async fn read(&mut self) -> Option<Frame> {
        match tokio::time::timeout(WAIT, self.framed.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            Ok(_) => None,
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// Next frame within `d`, or None.
    pub async fn try_read(&mut self, d: Duration) -> Option<Frame> {
        if let Some(f) = self.queued.pop_front() {
            return Some(f);
        }
        match tokio::time::timeout(d, self.framed.next()).await {
            Ok(Some(Ok(f))) => Some(f),
            _ => None,
        }
    }

    /// How many PDUs of `id` arrive (queued ones included, none answered) until the line has
    /// been quiet for `quiet`.
    pub async fn count_until_quiet(&mut self, id: CommandId, quiet: Duration) -> usize {
        let mut n = 0;
        while let Some(f) = self.try_read(quiet).await {
            if matches!(f, Frame::Pdu(ref p) if p.id() == id) {
                n += 1;
            }
        }
        n
    }

    /// Whether the server closed the connection within WAIT.
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// The response to `seq`, queueing other frames.
    pub async fn response(&mut self, seq: u32) -> Command {
        if let Some(i) = self.queued.iter().position(
            |f| matches!(f, Frame::Pdu(c) if c.sequence_number() == seq && c.id().is_response()),
        ) {
            if let Some(Frame::Pdu(c)) = self.queued.remove(i) {
                return c;
            }
        }
        loop {
            match self
                .read()
                .await
                .expect("connection closed while waiting for a response")
            {
                Frame::Pdu(c) if c.sequence_number() == seq && c.id().is_response() => return c,
                other => self.queued.push_back(other),
            }
        }
    }

    pub async fn request(&mut self, pdu: impl Into<Pdu>) -> Command {
        let seq = self.next_seq();
        self.send(Command::new(CommandStatus::EsmeRok, seq, pdu))
            .await;
        self.response(seq).await
    }

    pub async fn bind(&mut self, mode: Mode, sys: &str, pw: &str) -> CommandStatus {
        self.bind_range(mode, sys, pw, "").await
    }

    /// Bind as `sys` serving the ESME addresses `range` (the bind's `address_range`, a regular
    /// expression per SMPP 3.4 §5.2.27).
    pub async fn bind_range(
        &mut self,
        mode: Mode,
        sys: &str,
        pw: &str,
        range: &str,
    ) -> CommandStatus {
        let s = COctetString::from_str(sys).unwrap();
        let p = COctetString::from_str(pw).unwrap();
        let r = COctetString::from_str(range).unwrap();
        let v = InterfaceVersion::Smpp3_4;
        let pdu: Pdu = match mode {
            Mode::Tx => BindTransmitter::builder()
                .system_id(s)
                .password(p)
                .interface_version(v)
                .address_range(r)
                .build()
                .into(),
            Mode::Rx => BindReceiver::builder()
                .system_id(s)
                .password(p)
                .interface_version(v)
                .address_range(r)
                .build()
                .into(),
            Mode::Trx => BindTransceiver::builder()
                .system_id(s)
                .password(p)
                .interface_version(v)
                .address_range(r)
                .build()
                .into(),
        };
        self.request(pdu).await.status()
    }

    /// Connect and bind, asserting success.
    pub async fn bound(addr: SocketAddr, mode: Mode) -> Client {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.bind(mode, "esme", "secret").await, CommandStatus::EsmeRok);
        c
    }

    pub async fn submit(&mut self, sm: SubmitSm) -> Command {
        self.request(sm).await
    }

    /// Next deliver_sm (from the queue or the socket), answered with `status`.
    pub async fn deliver_with(&mut self, status: CommandStatus) -> (u32, DeliverSm) {
        let found = self
            .queued
            .iter()
            .position(|f| matches!(f, Frame::Pdu(c) if c.id() == CommandId::DeliverSm));
        let cmd = match found.and_then(|i| self.queued.remove(i)) {
            Some(Frame::Pdu(c)) => c,
            _ => loop {
                match self
                    .read()
                    .await
                    .expect("closed while waiting for deliver_sm")
                {
                    Frame::Pdu(c) if c.id() == CommandId::DeliverSm => break c,
                    other => self.queued.push_back(other),
                }
            },
        };
        let seq = cmd.sequence_number();
        let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
            panic!("not a deliver_sm: {cmd:?}")
        };
        let d = d.clone();
        self.send(Command::new(status, seq, DeliverSmResp::default()))
            .await;
        (seq, d)
    }

    pub async fn deliver(&mut self) -> DeliverSm {
        self.deliver_with(CommandStatus::EsmeRok).await.1
    }
}

/// The bytes of a PDU with this command_id, sequence number and body (command_status 0).
pub fn raw_pdu(command_id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut b = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(&command_id.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// A submit_sm with every field explicit.
pub fn submit(dest: &str, esm: u8, dc: u8, body: &[u8], registered: u8) -> SubmitSm {
    SubmitSm::builder()
        .source_addr_ton(Ton::Unknown)
        .source_addr_npi(Npi::Isdn)
        .source_addr(COctetString::from_str("10086").unwrap())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str(dest).unwrap())
        .esm_class(EsmClass::from(esm))
        .registered_delivery(RegisteredDelivery::from(registered))
        .data_coding(DataCoding::from(dc))
        .short_message(OctetString::from_vec(body.to_vec()).unwrap())
        .build()
}

/// A GSM-7 text submit_sm.
pub fn text(dest: &str, t: &str, registered: u8) -> SubmitSm {
    submit(
        dest,
        0,
        0,
        &sms_wire::text::encode(t, sms_wire::text::Alphabet::Gsm7).unwrap(),
        registered,
    )
}

/// message_id of a submit_sm_resp.
pub fn message_id(c: &Command) -> String {
    match c.pdu() {
        Some(Pdu::SubmitSmResp(r)) => r.message_id().as_str().to_string(),
        other => panic!("not a submit_sm_resp: {other:?} status {:?}", c.status()),
    }
}

/// A TLV value of a deliver_sm.
pub fn tlv(d: &DeliverSm, tag: TlvTag) -> Option<TlvValue> {
    find_tlv(d.tlvs(), tag).cloned()
}

/// Push a submission TLV.
pub fn with_tlv(mut sm: SubmitSm, t: MessageSubmissionRequestTlvValue) -> SubmitSm {
    sm.push_tlv(t);
    sm
}
