//! smsc-sim's TLS listener (`SimConfig::tls`, `serve --tls-cert`): what happens to a connection
//! whose handshake is not finished when the simulator stops, and how a TLS session ends.

use std::path::PathBuf;
use std::time::Duration;

use smsc_sim::tls::SimTls;
use smsc_sim::{SimConfig, Simulator};
use tokio::io::AsyncReadExt;

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
fn cert_files(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("smsc.crt"), dir.join("smsc.key"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

/// A client that connected but has not finished (here: not begun) its TLS handshake is
/// disconnected when the simulator shuts down, as a bound session is, not held until the
/// handshake's 10 s limit.
#[tokio::test]
async fn a_handshake_in_progress_ends_with_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path());
    let cfg = SimConfig {
        tls: Some(SimTls::from_pem_files(&cert, &key, None).unwrap()),
        ..SimConfig::local()
    };
    let sim = Simulator::start(cfg).await.unwrap();
    let mut raw = tokio::net::TcpStream::connect(sim.smpp_addr())
        .await
        .unwrap();
    // Accepted; its handshake waits for a ClientHello that does not come.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.shutdown().await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), raw.read(&mut buf))
        .await
        .expect("closed with the simulator, not after the handshake limit");
    assert!(matches!(read, Ok(0)), "{read:?}");
}

/// A TLS client of `sim` (trusting `cert`), bound as a transceiver of `account`.
async fn bound_tls_client(
    sim: &smsc_sim::SimHandle,
    cert: &std::path::Path,
    account: (&str, &str),
) -> tokio_util::codec::Framed<
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    sms_wire::framing::SmppCodec,
> {
    use futures::{SinkExt, StreamExt};
    use rusmpp::pdus::BindTransceiver;
    use rusmpp::types::COctetString;
    use rusmpp::{Command, CommandId, CommandStatus};
    use std::str::FromStr;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(sim.smpp_addr())
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake");
    let mut wire = tokio_util::codec::Framed::new(tls, sms_wire::framing::SmppCodec::new());
    let bind = BindTransceiver::builder()
        .system_id(COctetString::from_str(account.0).unwrap())
        .password(COctetString::from_str(account.1).unwrap())
        .build();
    wire.send(Command::new(CommandStatus::EsmeRok, 1, bind))
        .await
        .unwrap();
    match wire.next().await {
        Some(Ok(sms_wire::framing::Frame::Pdu(c))) => {
            assert_eq!(c.id(), CommandId::BindTransceiverResp);
            assert_eq!(c.status(), CommandStatus::EsmeRok);
        }
        other => panic!("no bind_transceiver_resp: {other:?}"),
    }
    wire
}

/// How the simulator ended a TLS session, read after its last PDU: `Some(true)` with a
/// close_notify (a clean end of stream), `Some(false)` a bare TCP close.
async fn how_it_ended<
    T: futures::Stream<Item = Result<sms_wire::framing::Frame, sms_wire::framing::FramingError>>
        + Unpin,
>(
    wire: &mut T,
) -> Option<bool> {
    use futures::StreamExt;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), wire.next()).await {
            Ok(None) => return Some(true),
            Ok(Some(Err(_))) => return Some(false),
            Ok(Some(Ok(_))) => continue, // its unbind_resp, or an enquire_link
            Err(_) => return None,
        }
    }
}

/// An orderly end of a TLS session (the ESME's unbind answered) comes with a close_notify, as
/// a TLS SMSC ends one; a dropped connection (the drop fault, as a crash or a network cut)
/// comes without one.
#[tokio::test]
async fn an_unbind_ends_a_tls_session_with_close_notify_a_drop_without() {
    use futures::SinkExt;
    use rusmpp::{Command, CommandStatus, Pdu};

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cert_files(dir.path());
    let cfg = SimConfig {
        tls: Some(SimTls::from_pem_files(&cert, &key, None).unwrap()),
        ..SimConfig::local()
    };
    let sim = Simulator::start(cfg.with_account("esme", "pw"))
        .await
        .unwrap();
    let mut wire = bound_tls_client(&sim, &cert, ("esme", "pw")).await;
    wire.send(Command::new(CommandStatus::EsmeRok, 2, Pdu::Unbind))
        .await
        .unwrap();
    assert_eq!(
        how_it_ended(&mut wire).await,
        Some(true),
        "after unbind_resp"
    );

    let mut wire = bound_tls_client(&sim, &cert, ("esme", "pw")).await;
    assert_eq!(sim.drop_connections(None), 1);
    assert_eq!(
        how_it_ended(&mut wire).await,
        Some(false),
        "a dropped connection"
    );
    sim.shutdown().await;
}
