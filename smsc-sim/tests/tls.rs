//! smsc-sim's TLS listener (`SimConfig::tls`, `serve --tls-cert`): what happens to a connection
//! whose handshake is not finished when the simulator stops.

use std::path::PathBuf;
use std::time::Duration;

use smsc_sim::tls::SimTls;
use smsc_sim::{SimConfig, Simulator};
use tokio::io::AsyncReadExt;

/// A self-signed certificate for `localhost` and its key, as PEM files named after `tag` in a
/// directory of this process.
fn cert_files(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("smsc-sim-tls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let (cert, key) = cert_files("shutdown");
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
