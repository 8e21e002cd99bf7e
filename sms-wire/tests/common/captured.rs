//! Reader of `fixtures/pdus/*.hex`: PDUs that third-party SMPP stacks (Kannel, node-smpp,
//! smpplib) put on the wire, each with what Wireshark's SMPP dissector read from it and what the
//! peer was asked to encode (format and origin: `fixtures/pdus/README.md`).
//!
//! Shared by the captured_pdus tests of sms-wire, smsc-sim and the gateway (the other two take
//! it with `#[path]`).

// Each test crate uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One captured PDU.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `file #N: title`, for failure messages.
    pub name: String,
    /// `tshark FIELD = VALUE` lines: Wireshark's reading.
    pub tshark: BTreeMap<String, String>,
    /// `sent KEY = VALUE` lines: what the peer was asked to encode.
    pub sent: BTreeMap<String, String>,
    /// The whole PDU, header included.
    pub bytes: Vec<u8>,
}

impl Captured {
    /// The command_id from the PDU's header.
    pub fn command_id(&self) -> u32 {
        u32::from_be_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }
}

/// `fixtures/pdus`, found from this crate's directory upwards (the gateway's crate is the
/// workspace root; sms-wire and smsc-sim are one level down).
pub fn dir() -> PathBuf {
    let mut at: &Path = Path::new(env!("CARGO_MANIFEST_DIR"));
    loop {
        let d = at.join("fixtures/pdus");
        if d.is_dir() {
            return d;
        }
        at = at.parent().expect("fixtures/pdus above CARGO_MANIFEST_DIR");
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The PDUs of one fixture file (`kannel-esme.hex`, ...), in order. Panics, naming the line, on
/// a file that does not follow the format.
pub fn load(file: &str) -> Vec<Captured> {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out: Vec<Captured> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{file}:{}", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(title) = line.strip_prefix("== ") {
            out.push(Captured {
                name: format!("{file} #{title}"),
                tshark: BTreeMap::new(),
                sent: BTreeMap::new(),
                bytes: Vec::new(),
            });
            continue;
        }
        let rec = out
            .last_mut()
            .unwrap_or_else(|| panic!("{}: a field before the first '== '", at()));
        let (key, value) = line
            .split_once(" = ")
            .or_else(|| line.strip_suffix(" =").map(|k| (k, "")))
            .unwrap_or_else(|| panic!("{}: not 'KEY = VALUE': {line:?}", at()));
        let value = unescape(value);
        match key.split_once(' ') {
            Some(("tshark", field)) => {
                rec.tshark.insert(field.to_string(), value);
            }
            Some(("sent", field)) => {
                rec.sent.insert(field.to_string(), value);
            }
            None if key == "hex" => {
                rec.bytes = (0..value.len())
                    .step_by(2)
                    .map(|j| u8::from_str_radix(&value[j..j + 2], 16))
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| panic!("{}: hex: {e}", at()));
            }
            _ => panic!("{}: unknown key {key:?}", at()),
        }
    }
    for rec in &out {
        assert!(rec.bytes.len() >= 16, "{}: no PDU bytes", rec.name);
    }
    out
}

/// The fixture files: the ESME side (what clients send to an SMSC) and the SMSC side.
pub const ESME_FILES: [&str; 3] = ["kannel-esme.hex", "node-smpp-esme.hex", "smpplib-esme.hex"];
/// The PDUs an SMSC sends, as node-smpp encodes them.
pub const SMSC_FILE: &str = "node-smpp-smsc.hex";

/// Every captured PDU of every file.
pub fn load_all() -> Vec<Captured> {
    ESME_FILES
        .iter()
        .chain(std::iter::once(&SMSC_FILE))
        .flat_map(|f| load(f))
        .collect()
}
