//! The simulator against real ESMEs' bytes: each request Kannel, node-smpp and smpplib sent
//! an SMSC (`fixtures/pdus/*-esme.hex`: binds, submit_sm of every kind they made, enquire_link,
//! unbind, and a bind again on a new connection) is written to smsc-sim byte for byte over loopback TCP. Each must be answered with
//! status 0, and each submit_sm recorded as Wireshark reads it: addresses, esm_class,
//! data_coding, and the text after any UDH.

mod common;

#[path = "../../sms-wire/tests/common/captured.rs"]
mod captured;

use common::Client;
use rusmpp::CommandId;
use smsc_sim::{MtFilter, SimConfig, Simulator};

#[tokio::test]
async fn the_simulator_takes_kannel_node_smpp_and_smpplib_requests_byte_for_byte() {
    for file in captured::ESME_FILES {
        // No account configured: any bind is taken (the captures' passwords are masked).
        let sim = Simulator::start(SimConfig::local()).await.expect("start");
        let mut c = Client::connect(sim.smpp_addr()).await;
        let requests: Vec<captured::Captured> = captured::load(file)
            .into_iter()
            .filter(|r| r.command_id() & 0x8000_0000 == 0)
            .collect();
        assert!(requests.len() >= 3, "{file}: {} requests", requests.len());
        for r in &requests {
            c.send_raw(&r.bytes).await;
            let seq = u32::from_be_bytes([r.bytes[12], r.bytes[13], r.bytes[14], r.bytes[15]]);
            let resp = c.response(seq).await;
            assert_eq!(
                u32::from(resp.id()),
                r.command_id() | 0x8000_0000,
                "{}: {resp:?}",
                r.name
            );
            assert_eq!(u32::from(resp.status()), 0, "{}: {resp:?}", r.name);
            // The peers' captures go on after an unbind (their next test binds again): on a
            // new connection, as the peer did.
            if resp.id() == CommandId::UnbindResp {
                c = Client::connect(sim.smpp_addr()).await;
            }
        }
        let mts = sim.mt_messages(&MtFilter::all());
        let submits: Vec<&captured::Captured> =
            requests.iter().filter(|r| r.command_id() == 0x04).collect();
        assert_eq!(mts.len(), submits.len(), "{file}: one record a submit_sm");
        for (r, mt) in submits.iter().zip(&mts) {
            let t = |k: &str| r.tshark[&format!("smpp.{k}")].clone();
            let num = |k: &str| u8::from_str_radix(t(k).trim_start_matches("0x"), 16).unwrap();
            assert_eq!(mt.command, "submit_sm", "{}", r.name);
            assert_eq!(mt.source, t("source_addr"), "{}", r.name);
            assert_eq!(mt.dest, t("destination_addr"), "{}", r.name);
            assert_eq!(mt.data_coding, num("data_coding"), "{}", r.name);
            assert_eq!(
                mt.esm_class,
                num("esm.submit.msg_mode")
                    | num("esm.submit.msg_type") << 2
                    | num("esm.submit.features") << 6,
                "{}",
                r.name
            );
            assert_eq!(mt.text, t("message_text"), "{}", r.name);
            assert_eq!(mt.status, 0, "{}", r.name);
        }
        sim.shutdown().await;
    }
}
