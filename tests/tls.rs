//! SMPP over TLS (`[smsc] tls`): the gateway against smsc-sim's TLS listener over loopback, with
//! certificates made here by rcgen (a test CA, the SMSC's certificate for `localhost` and
//! `127.0.0.1`, a client certificate for mutual TLS). Both directions and the receipts cross
//! the TLS session; an SMSC whose certificate the gateway cannot trust, or whose name does not
//! match, is never bound to; a gateway without TLS gets nowhere with a TLS SMSC; bad TLS
//! settings are refused at load, naming the key.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use presence_gw::app::{Gateway, GatewayOptions};
use presence_gw::config::{Config, ConfigError};
use presence_gw::inbound::MoMessage;
use presence_gw::smpp::LinkState;
use presence_gw::store::outbox::{self, NewMessage};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use smsc_sim::tls::SimTls;
use smsc_sim::{MoRequest, SimConfig, SimHandle, Simulator};
use tokio::sync::mpsc;

const SYSTEM_ID: &str = "presence";
const PASSWORD: &str = "pw123";

/// A CA, and certificates it signs, as PEM files in `dir`.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let ca = p.self_signed(&ca_key).unwrap();
        let pki = Pki {
            dir: dir.to_path_buf(),
            ca,
            ca_key,
        };
        std::fs::write(pki.path(&format!("{name}.pem")), pki.ca.pem()).unwrap();
        pki
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A certificate for `names` with `usage`, signed by this CA: `(cert, key)` files.
    fn issue(
        &self,
        file: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (PathBuf, PathBuf) {
        self.issue_with(file, names, usage, |_| {})
    }

    /// [`Pki::issue`] with the certificate's parameters changed by `tune` first (its validity).
    fn issue_with(
        &self,
        file: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        tune: impl FnOnce(&mut CertificateParams),
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, file);
        p.extended_key_usages = vec![usage];
        tune(&mut p);
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (
            self.path(&format!("{file}.crt")),
            self.path(&format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// smsc-sim serving SMPP over TLS with a certificate for `localhost` and `127.0.0.1` from
/// `pki`, requiring client certificates from `client_ca` if given.
async fn tls_sim(pki: &Pki, client_ca: Option<&Path>) -> SimHandle {
    let (cert, key) = pki.issue(
        "smsc",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    sim_with_certificate(&cert, &key, client_ca).await
}

/// smsc-sim serving SMPP over TLS with the certificate `file` from `pki`, issued for `names`
/// and changed by `tune`.
async fn tls_sim_issued(
    pki: &Pki,
    file: &str,
    names: &[&str],
    tune: impl FnOnce(&mut CertificateParams),
) -> SimHandle {
    let (cert, key) = pki.issue_with(file, names, ExtendedKeyUsagePurpose::ServerAuth, tune);
    sim_with_certificate(&cert, &key, None).await
}

/// smsc-sim serving SMPP over TLS with the certificate and key files `cert` and `key`.
async fn sim_with_certificate(cert: &Path, key: &Path, client_ca: Option<&Path>) -> SimHandle {
    let tls = SimTls::from_pem_files(cert, key, client_ca).expect("sim TLS settings");
    let cfg = SimConfig {
        tls: Some(tls),
        ..SimConfig::local()
    };
    Simulator::start(cfg.with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts")
}

/// A config naming the simulator, with `[smsc]` lines `extra`.
fn config(sim: &SimHandle, extra: &str) -> Result<Config, ConfigError> {
    config_at(&sim.smpp_addr().to_string(), extra)
}

/// A config naming the SMSC at `address`, with `[smsc]` lines `extra`.
fn config_at(address: &str, extra: &str) -> Result<Config, ConfigError> {
    let toml = format!(
        "service_number = \"10658\"\n[smsc]\naddress = \"{address}\"\nsystem_id = \"{SYSTEM_ID}\"\n\
         password = \"{PASSWORD}\"\nresponse_timeout_secs = 2\nreconnect_min_secs = 0.05\n\
         reconnect_max_secs = 0.3\n{extra}"
    );
    Config::from_toml(&toml, Path::new("tls.toml"))
}

/// A gateway started from `cfg` on a fresh database in `dir`.
async fn gateway(dir: &Path, cfg: &Config) -> (Gateway, mpsc::Receiver<MoMessage>) {
    gateway_with(dir, cfg, |_| {}).await
}

/// [`gateway`] with the link's settings changed by `tune` first.
async fn gateway_with(
    dir: &Path,
    cfg: &Config,
    tune: impl FnOnce(&mut presence_gw::smpp::LinkConfig),
) -> (Gateway, mpsc::Receiver<MoMessage>) {
    let smsc = cfg.smsc.clone().expect("[smsc]");
    let mut link = cfg.link_config(&smsc).unwrap();
    tune(&mut link);
    let mut opts = GatewayOptions::new(dir.join("gw.db"), link, "10658");
    cfg.apply_delivery(&mut opts.dispatcher);
    let (tx, rx) = mpsc::channel(16);
    (Gateway::start(opts, tx).await.expect("gateway starts"), rx)
}

/// `gw` binds within 10 s (`what` says which case, when it does not).
async fn bound(gw: &Gateway, what: &str) {
    assert!(
        gw.link.wait_bound(Duration::from_secs(10)).await,
        "{what}: not bound: {:?}",
        gw.link.state()
    );
}

/// Why the link is down, having never bound within `within`.
async fn never_bound(gw: &Gateway, within: Duration) -> String {
    assert!(
        !gw.link.wait_bound(within).await,
        "the gateway bound: {:?}",
        gw.link.state()
    );
    // Caught between two tries the state is `Connecting`: the reason is the next failure's.
    first_down_reason(gw, Duration::from_secs(10)).await
}

/// The reason of the first time the link goes down within `within` (the link retries: its
/// state goes back to connecting between failures).
async fn first_down_reason(gw: &Gateway, within: Duration) -> String {
    let mut state = gw.link.watch_state();
    let found = tokio::time::timeout(
        within,
        state.wait_for(|s| matches!(s, LinkState::Down(_) | LinkState::AuthRejected(_))),
    )
    .await;
    let Ok(Ok(found)) = found else {
        panic!(
            "the link did not go down within {within:?}: {:?}",
            gw.link.state()
        );
    };
    match &*found {
        LinkState::Down(why) | LinkState::AuthRejected(why) => why.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn messages_receipts_and_mo_cross_a_tls_session() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let sim = tls_sim(&pki, None).await;
    let ca = pki.path("ca.pem");
    let cfg = config(&sim, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    assert!(
        cfg.summary()
            .contains("tls:             on, certificate checked against"),
        "{}",
        cfg.summary()
    );
    let (gw, mut mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds over TLS").await;
    let long = "over TLS ".repeat(30);
    for (to, text) in [
        ("+8613900000001", "hello over TLS"),
        ("+8613900000002", long.as_str()),
    ] {
        gw.enqueue(NewMessage::sms(to, text)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = gw.store.read(outbox::counts_by_state).await.unwrap();
        if c.delivered == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = sim
        .wait_for_mt_to("+8613900000002", 1, Duration::from_secs(5))
        .await
        .expect("the long message reached its handset");
    assert!(
        got.len() >= 2,
        "a concatenated message: {} parts",
        got.len()
    );
    sim.inject_mo(MoRequest::new("+8613800000009", "10658", "WHO 13900000001"))
        .await
        .expect("MO sent");
    let m = tokio::time::timeout(Duration::from_secs(10), mo.recv())
        .await
        .expect("the MO arrives")
        .expect("MO channel open");
    assert_eq!(m.text, "WHO 13900000001");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn an_smsc_the_gateway_cannot_trust_or_that_has_another_name_is_never_bound_to() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let other = Pki::new(dir.path(), "other-ca");
    let sim = tls_sim(&pki, None).await;
    // Signed by a CA the gateway does not trust.
    let cfg = config(
        &sim,
        &format!(
            "tls = true\ntls_ca_file = {:?}\n",
            other.path("other-ca.pem")
        ),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = never_bound(&gw, Duration::from_secs(2)).await;
    assert!(why.contains("certificate"), "{why}");
    assert!(why.contains("set tls_ca_file"), "names the setting: {why}");
    gw.shutdown().await;
    // Trusted, but not the name the gateway expects.
    let cfg = config(
        &sim,
        &format!(
            "tls = true\ntls_ca_file = {:?}\ntls_server_name = \"smsc.example.net\"\n",
            pki.path("ca.pem")
        ),
    )
    .unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(dir2.path(), &cfg).await;
    let why = never_bound(&gw, Duration::from_secs(2)).await;
    assert!(why.contains("certificate"), "{why}");
    assert!(
        why.contains("\"smsc.example.net\"") && why.contains("set tls_server_name"),
        "names the setting: {why}"
    );
    gw.shutdown().await;
    assert!(
        sim.binds().iter().all(|b| b.bind.is_none()),
        "{:?}",
        sim.binds()
    );
    // The name it does carry: bound.
    let cfg = config(
        &sim,
        &format!(
            "tls = true\ntls_ca_file = {:?}\ntls_server_name = \"localhost\"\n",
            pki.path("ca.pem")
        ),
    )
    .unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(dir3.path(), &cfg).await;
    bound(&gw, "binds by name").await;
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_plain_gateway_gets_nowhere_with_a_tls_smsc() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let sim = tls_sim(&pki, None).await;
    let cfg = config(&sim, "").unwrap();
    assert!(
        cfg.summary().contains("tls:             off"),
        "{}",
        cfg.summary()
    );
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(5)).await;
    assert!(why.contains("set [smsc] tls = true"), "{why}");
    never_bound(&gw, Duration::from_secs(1)).await;
    assert!(
        sim.binds().iter().all(|b| b.bind.is_none()),
        "{:?}",
        sim.binds()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_binds_with_the_client_certificate_and_not_without() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let clients = Pki::new(dir.path(), "clients");
    let sim = tls_sim(&pki, Some(&clients.path("clients.pem"))).await;
    let ca = pki.path("ca.pem");
    // No client certificate: the SMSC closes the connection.
    let cfg = config(&sim, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(5)).await;
    assert!(
        why.contains("wants a client certificate: set tls_client_cert_file"),
        "{why}"
    );
    gw.shutdown().await;
    // With one from the CA it trusts: bound.
    let (cert, key) = clients.issue(
        "gateway",
        &["presence-gw"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let cfg = config(
        &sim,
        &format!(
            "tls = true\ntls_ca_file = {ca:?}\ntls_client_cert_file = {cert:?}\n\
             tls_client_key_file = {key:?}\n"
        ),
    )
    .unwrap();
    assert!(
        cfg.summary().contains("client certificate set"),
        "{}",
        cfg.summary()
    );
    let dir2 = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway(dir2.path(), &cfg).await;
    bound(&gw, "binds with its certificate").await;
    gw.shutdown().await;
    sim.shutdown().await;
}

/// A TLS setting that cannot work stops the load, naming its key: a CA file that is missing
/// or holds no certificate, half a client certificate, a TLS file set while TLS is off (the
/// link would go in plain text, unlike meant).
#[tokio::test]
async fn unusable_tls_settings_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let sim = tls_sim(&pki, None).await;
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let (cert, _key) = pki.issue(
        "gateway",
        &["presence-gw"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let missing = dir.path().join("missing.pem");
    for (extra, key) in [
        (
            format!("tls = true\ntls_ca_file = {missing:?}\n"),
            "smsc.tls_ca_file",
        ),
        (
            format!("tls = true\ntls_ca_file = {junk:?}\n"),
            "smsc.tls_ca_file",
        ),
        (
            format!(
                "tls = true\ntls_ca_file = {:?}\ntls_client_cert_file = {cert:?}\n",
                pki.path("ca.pem")
            ),
            "smsc.tls_client_key_file",
        ),
        (
            format!("tls_ca_file = {:?}\n", pki.path("ca.pem")),
            "smsc.tls_ca_file",
        ),
        (
            "tls_server_names = { \"127.0.0.1:2775\" = \"smsc.example.net\" }\n".to_string(),
            "smsc.tls_server_names",
        ),
        (
            "tls = true\ntls_server_name = \"not a name!\"\n".to_string(),
            "smsc.tls_server_name",
        ),
    ] {
        match config(&sim, &extra) {
            Err(
                ConfigError::InvalidAt { key: k, reason, .. }
                | ConfigError::Invalid { key: k, reason },
            ) => {
                assert_eq!(k, key, "{extra}: {reason}")
            }
            other => panic!("{extra}: {other:?}"),
        }
    }
    // An address whose host no certificate can be checked by (an IPv6 zone, a space), with no
    // tls_server_name: refused at load, naming the address's key, not at every connect.
    let tls_on = format!("tls = true\ntls_ca_file = {:?}\n", pki.path("ca.pem"));
    for (address, extra, key) in [
        ("[fe80::1%eth0]:2775", tls_on.clone(), "smsc.address"),
        (
            "127.0.0.1:2775",
            format!("{tls_on}fallback_addresses = [\"smsc two:2775\"]\n"),
            "smsc.fallback_addresses",
        ),
    ] {
        let e = config_at(address, &extra).unwrap_err().to_string();
        assert!(
            e.contains(key) && e.contains("set tls_server_name"),
            "{address}: {e}"
        );
        let named = format!("{extra}tls_server_name = \"smsc.example.net\"\n");
        config_at(address, &named).expect("with tls_server_name the address is fine");
    }
    // A certificate given for the key (an easy swap): says what it looked for.
    let extra = format!(
        "tls = true\ntls_ca_file = {:?}\ntls_client_cert_file = {cert:?}\n\
         tls_client_key_file = {cert:?}\n",
        pki.path("ca.pem")
    );
    let e = config(&sim, &extra).unwrap_err().to_string();
    assert!(
        e.contains("smsc.tls_client_key_file") && e.contains("no PEM private key in it"),
        "{e}"
    );
    sim.shutdown().await;
}

/// A port that takes TCP connections and holds them, reading nothing and answering nothing
/// (as a plain SMPP port does a TLS ClientHello): its address, and the task to abort.
async fn silent_listener() -> (String, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    (addr, holder)
}

/// A TLS link that cannot come up says what to look at. A port that takes the connection and
/// never answers the handshake (a plain SMPP port waits for a PDU) is named as that, not as a
/// bare "timed out" that reads the same as a host that never answered; a plain SMSC, which
/// answers the handshake in SMPP, is named as a plain port.
#[tokio::test]
async fn a_port_that_does_not_answer_in_tls_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let ca = pki.path("ca.pem");
    let (silent_addr, holder) = silent_listener().await;
    let plain = Simulator::start(SimConfig::local().with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts");
    let cfg = config(&plain, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(5)).await;
    assert!(
        why.contains("TLS handshake") && why.contains("not its plain SMPP one"),
        "{why}"
    );
    gw.shutdown().await;

    let mut cfg = cfg.clone();
    if let Some(s) = cfg.smsc.as_mut() {
        s.address = silent_addr;
    }
    let dir2 = tempfile::tempdir().unwrap();
    let (gw, _mo) = gateway_with(dir2.path(), &cfg, |link| {
        link.connect_timeout = Duration::from_millis(300);
    })
    .await;
    let why = first_down_reason(&gw, Duration::from_secs(5)).await;
    assert!(
        why.contains("TLS handshake was not finished within 300 ms") && why.contains("TLS port"),
        "{why}"
    );
    gw.shutdown().await;
    holder.abort();
    plain.shutdown().await;
}

/// How the hand-written TLS SMSC of [`scripted_smsc`] ends its sessions.
#[derive(Clone, Copy)]
enum Ending {
    /// Answer the ESME's unbind, then read on: how does the ESME end the connection?
    AnswerUnbind,
    /// Close the TCP connection right after the bind, without a TLS close_notify (as smsc-sim's
    /// drop and many SMSCs do), and take the next connection.
    DropAfterBind,
    /// Close the TCP connection instead of answering the bind, without a TLS close_notify.
    DropOnBind,
}

/// A TLS SMSC written out here rather than smsc-sim, to script how its sessions end (and to see
/// how the ESME ends them): each connection's bind is answered, then `ending`. Its task returns,
/// with [`Ending::AnswerUnbind`], whether the ESME ended the connection after the unbind with a
/// TLS close_notify (a clean end of stream) rather than a bare TCP close; `None`: it did
/// neither within 5 s.
async fn scripted_smsc(
    pki: &Pki,
    ending: Ending,
) -> (String, tokio::task::JoinHandle<Option<bool>>) {
    use futures::{SinkExt, StreamExt};
    use rusmpp::{Command, CommandId, CommandStatus, Pdu};
    use sms_wire::framing::{Frame, SmppCodec};

    let (cert, key) = pki.issue(
        "scripted",
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let tls = SimTls::from_pem_files(&cert, &key, None).expect("TLS settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.ok()?;
            let Ok(io) = tls.accept(sock).await else {
                continue;
            };
            let mut wire = tokio_util::codec::Framed::new(io, SmppCodec::new());
            while let Some(Ok(Frame::Pdu(cmd))) = wire.next().await {
                let s = cmd.sequence_number();
                let ok = |pdu: Pdu| Command::new(CommandStatus::EsmeRok, s, pdu);
                match cmd.id() {
                    CommandId::BindTransceiver if matches!(ending, Ending::DropOnBind) => break,
                    CommandId::BindTransceiver => {
                        let _ = wire
                            .send(ok(Pdu::BindTransceiverResp(Default::default())))
                            .await;
                        if let Ending::DropAfterBind = ending {
                            break; // the stream is dropped: TCP FIN, no close_notify
                        }
                    }
                    CommandId::EnquireLink => {
                        let _ = wire.send(ok(Pdu::EnquireLinkResp)).await;
                    }
                    CommandId::Unbind => {
                        let _ = wire.send(ok(Pdu::UnbindResp)).await;
                        let end = tokio::time::timeout(Duration::from_secs(5), wire.next()).await;
                        return match end {
                            Ok(None) => Some(true),
                            Ok(Some(Err(_))) => Some(false),
                            _ => None,
                        };
                    }
                    _ => {}
                }
            }
        }
    });
    (addr, task)
}

/// After an orderly unbind the gateway ends its TLS session with close_notify: the SMSC reads
/// a clean end of stream, not a connection cut short (which rustls reports as "peer closed
/// connection without sending TLS close_notify" and Java SMSCs log as a possible truncation
/// attack).
#[tokio::test]
async fn a_stop_ends_the_tls_session_with_close_notify() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (addr, smsc) = scripted_smsc(&pki, Ending::AnswerUnbind).await;
    let ca = pki.path("ca.pem");
    let cfg = config_at(&addr, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds").await;
    gw.shutdown().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), smsc)
        .await
        .expect("the SMSC saw the session end")
        .unwrap();
    assert_eq!(
        ended,
        Some(true),
        "the gateway's end of the session: Some(true) close_notify, Some(false) a bare TCP close"
    );
}

/// An SMSC that closes its TLS connection without close_notify ends the session as a plain
/// close does ("SMSC closed the connection", not "unframeable input" quoting rustls), and the
/// gateway binds again.
#[tokio::test]
async fn an_smsc_closing_without_close_notify_is_a_close_and_the_link_binds_again() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (addr, smsc) = scripted_smsc(&pki, Ending::DropAfterBind).await;
    let ca = pki.path("ca.pem");
    let cfg = config_at(&addr, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(10)).await;
    assert_eq!(why, "SMSC closed the connection");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw
        .link
        .stats()
        .binds
        .load(std::sync::atomic::Ordering::Relaxed)
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "never bound again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.shutdown().await;
    smsc.abort();
}

/// smsc-sim dropping a TLS session with hundreds of submits in flight (as tests/core.rs does
/// over plain TCP): the gateway reconnects over TLS and every message reaches its handset;
/// nothing accepted is lost, nothing fails.
#[tokio::test]
async fn a_tls_session_dropped_with_submits_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue(
        "smsc",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let mut sim_cfg = SimConfig {
        tls: Some(SimTls::from_pem_files(&cert, &key, None).unwrap()),
        window: 1000,
        ..SimConfig::local()
    };
    sim_cfg.faults.response_delay = Some(smsc_sim::Delay::fixed(300));
    let sim = Simulator::start(sim_cfg.with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts");
    let ca = pki.path("ca.pem");
    let cfg = config(
        &sim,
        &format!("tls = true\ntls_ca_file = {ca:?}\nwindow = 64\n"),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds").await;
    let n = 300;
    for i in 0..n {
        gw.enqueue(NewMessage::sms(format!("+86139{i:08}"), format!("msg {i}")))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.link.window_in_use() < 32 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "window never filled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(sim.drop_connections(None) >= 1);
    let mut faults = sim.faults();
    faults.response_delay = None;
    sim.set_faults(faults);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let c = gw.store.read(outbox::counts_by_state).await.unwrap();
        assert_eq!(c.failed + c.expired, 0, "{c:?}");
        if c.delivered == n as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gw.link
            .stats()
            .binds
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    for i in 0..n {
        let handset = sim.handset(&format!("+86139{i:08}"));
        let want = format!("msg {i}");
        assert!(
            handset.texts().contains(&want.as_str()),
            "{i}: {:?}",
            handset.texts()
        );
    }
    gw.shutdown().await;
    sim.shutdown().await;
}

/// On a fallback, the look for the primary SMSC does the TLS handshake too: a primary that takes
/// TCP connections but whose certificate the gateway cannot trust (expired, signed by another
/// CA after a renewal) is not a reason to leave a working fallback session. A bare TCP
/// connection counted as "the primary is back" and the link unbound from the fallback at every
/// look, only to fail the handshake at the primary and bind to the fallback again.
#[tokio::test]
async fn a_primary_with_a_certificate_the_gateway_cannot_trust_does_not_pull_it_off_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let other = Pki::new(dir.path(), "other-ca");
    let primary = tls_sim(&other, None).await;
    let fallback = tls_sim(&pki, None).await;
    let ca = pki.path("ca.pem");
    let cfg = config(
        &primary,
        &format!(
            "tls = true\ntls_ca_file = {ca:?}\nfallback_addresses = [\"{}\"]\n\
             return_to_primary_secs = 1\n",
            fallback.smpp_addr()
        ),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds to the fallback").await;
    assert_eq!(
        gw.link.bound_to().as_deref(),
        Some(fallback.smpp_addr().to_string().as_str())
    );
    // Three looks for the primary (1 s apart, each the same handshake failure).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        gw.link
            .stats()
            .binds
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the fallback session was left for the primary: {:?}",
        fallback.binds()
    );
    assert_eq!(gw.link.state(), LinkState::Bound);
    gw.shutdown().await;
    primary.shutdown().await;
    fallback.shutdown().await;
}

/// A TLS session makes no busy-poll choice: its reader does not poll (it reads what rustls
/// decrypts), so there is nothing to choose between, and `presence_gw_smpp_busy_polling` must
/// not say it polls. Before, the session probed as over plain TCP, timed one mode twice, and
/// chose (and reported) polling whenever noise made the second probe a tenth faster.
#[tokio::test]
async fn a_tls_session_makes_no_busy_poll_choice() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let sim = tls_sim(&pki, None).await;
    let ca = pki.path("ca.pem");
    // The largest budget, one request at a time: over plain TCP two probes of 256 answers
    // each end in a choice.
    let cfg = config(
        &sim,
        &format!("tls = true\ntls_ca_file = {ca:?}\nbusy_poll_us = 10000\nwindow = 1\n"),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds").await;
    let n = 2 * 256 + 20;
    gw.store
        .write(move |tx| {
            for i in 0..n {
                let now = presence_gw::store::now_ms();
                outbox::enqueue(tx, &NewMessage::sms(format!("+86139{i:08}"), "hi"), now)?;
            }
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let c = gw.store.read(outbox::counts_by_state).await.unwrap();
        if c.delivered == n as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = gw.link.stats();
    assert_eq!(
        stats
            .busy_poll_choices
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        stats
            .busy_polling
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// An IPv6 literal address, `[::1]:port`, binds over TLS: the certificate is checked against
/// the IP address inside the brackets (an IP SAN), as `127.0.0.1` is.
#[tokio::test]
async fn an_ipv6_literal_address_binds_over_tls_by_its_ip() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("smsc6", &["::1"], ExtendedKeyUsagePurpose::ServerAuth);
    let cfg = SimConfig {
        smpp_addr: "[::1]:0".parse().unwrap(),
        tls: Some(SimTls::from_pem_files(&cert, &key, None).unwrap()),
        ..SimConfig::local()
    };
    let sim = Simulator::start(cfg.with_account(SYSTEM_ID, PASSWORD))
        .await
        .expect("simulator starts on ::1");
    let address = sim.smpp_addr().to_string();
    assert!(address.starts_with("[::1]:"), "{address}");
    let ca = pki.path("ca.pem");
    let cfg = config_at(&address, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    assert!(
        gw.link.wait_bound(Duration::from_secs(10)).await,
        "binds to {address}: {:?}",
        gw.link.state()
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

/// An SMSC that closes its TLS connection instead of answering the bind (some refuse a bind so,
/// or a missing client certificate) is "SMSC closed the connection during bind", as over TCP,
/// with what to check over TLS; not rustls's "peer closed connection without sending TLS
/// close_notify" quoted as a framing error with a hint about the handshake, which was over.
#[tokio::test]
async fn an_smsc_closing_a_tls_session_at_the_bind_is_a_close_during_bind() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (addr, smsc) = scripted_smsc(&pki, Ending::DropOnBind).await;
    let ca = pki.path("ca.pem");
    let cfg = config_at(&addr, &format!("tls = true\ntls_ca_file = {ca:?}\n")).unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(10)).await;
    assert!(
        why.starts_with("SMSC closed the connection during bind")
            && why.contains("tls_client_cert_file"),
        "{why}"
    );
    gw.shutdown().await;
    smsc.abort();
}

/// A TCP stream that keeps a copy of every byte read from it: the TLS records the gateway
/// wrote, as they came over the wire.
struct Tap {
    inner: tokio::net::TcpStream,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl tokio::io::AsyncRead for Tap {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = buf.filled()[before..].to_vec();
        self.seen.lock().unwrap().extend_from_slice(&new);
        polled
    }
}

impl tokio::io::AsyncWrite for Tap {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The TLS application-data records (content type 23) in `bytes`, a client's side of a
/// connection from its first byte.
fn application_data_records(bytes: &[u8]) -> usize {
    let mut at = 0;
    let mut count = 0;
    while let Some(header) = bytes.get(at..at + 5) {
        if header[0] == 23 {
            count += 1;
        }
        at += 5 + usize::from(u16::from_be_bytes([header[3], header[4]]));
    }
    count
}

/// Over TLS the session still writes a busy window's submits several to a write, and so
/// several to a TLS record (rustls seals what one write hands it into one record of up to
/// 16 KiB): 200 messages queued at once cross in a few records, not one record (and one
/// syscall, and one wake-up at the SMSC) per submit_sm.
#[tokio::test]
async fn a_busy_window_goes_out_several_submits_to_a_tls_record() {
    use futures::{SinkExt, StreamExt};
    use rusmpp::pdus::SubmitSmResp;
    use rusmpp::types::COctetString;
    use rusmpp::{Command, CommandId, CommandStatus, Pdu};
    use sms_wire::framing::{Frame, SmppCodec};
    use std::str::FromStr;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue(
        "tapped",
        &["127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let chain = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let server = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(&key).unwrap())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let tap_seen = seen.clone();
    let n = 200usize;
    // Answers every submit_sm at once; returns how many it took.
    let smsc = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let tap = Tap {
            inner: sock,
            seen: tap_seen,
        };
        let tls = acceptor.accept(tap).await.unwrap();
        let mut wire = tokio_util::codec::Framed::new(tls, SmppCodec::new());
        let mut submits = 0usize;
        while let Ok(Some(Ok(Frame::Pdu(cmd)))) =
            tokio::time::timeout(Duration::from_secs(5), wire.next()).await
        {
            let s = cmd.sequence_number();
            let ok = |pdu: Pdu| Command::new(CommandStatus::EsmeRok, s, pdu);
            let reply = match cmd.id() {
                CommandId::BindTransceiver => ok(Pdu::BindTransceiverResp(Default::default())),
                CommandId::EnquireLink => ok(Pdu::EnquireLinkResp),
                CommandId::SubmitSm => {
                    submits += 1;
                    let id = COctetString::from_str(&format!("{submits:x}")).unwrap();
                    ok(SubmitSmResp::builder().message_id(id).build().into())
                }
                _ => continue,
            };
            if wire.send(reply).await.is_err() || submits == n {
                break;
            }
        }
        submits
    });
    let ca = pki.path("ca.pem");
    let cfg = config_at(
        &addr,
        &format!("tls = true\ntls_ca_file = {ca:?}\nwindow = 100\n"),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds").await;
    gw.store
        .write(move |tx| {
            for i in 0..n {
                let now = presence_gw::store::now_ms();
                outbox::enqueue(tx, &NewMessage::sms(format!("+86139{i:08}"), "hi"), now)?;
            }
            Ok::<_, presence_gw::store::StoreError>(())
        })
        .await
        .unwrap();
    let submits = tokio::time::timeout(Duration::from_secs(30), smsc)
        .await
        .expect("the SMSC took the submits")
        .unwrap();
    assert_eq!(submits, n);
    let records = application_data_records(&seen.lock().unwrap());
    // The gateway's records: its Finished (TLS 1.3), the bind, the submits, maybe an
    // enquire_link. One per submit_sm would be over 200.
    assert!(
        records * 4 <= n,
        "{records} TLS records for {n} submits: not batched"
    );
    gw.shutdown().await;
}

/// The key an invalid config is refused by.
fn refused_key(cfg: Result<Config, ConfigError>) -> &'static str {
    match cfg {
        Err(ConfigError::InvalidAt { key, .. } | ConfigError::Invalid { key, .. }) => key,
        other => panic!("not refused by key: {other:?}"),
    }
}

/// `[smsc] connect_timeout_secs` bounds a connection attempt, the TCP connect and the TLS
/// handshake together: a port that takes the connection and never answers the handshake is
/// given up after the 1 s configured, not the 5 s it was fixed at, and the link's reason says
/// so. 0 is refused naming the key; check-config shows the value.
#[tokio::test]
async fn connect_timeout_secs_gives_up_a_handshake_that_never_comes_in_that_time() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (addr, holder) = silent_listener().await;
    let tls = format!("tls = true\ntls_ca_file = {:?}\n", pki.path("ca.pem"));
    assert_eq!(
        refused_key(config_at(
            &addr,
            &format!("{tls}connect_timeout_secs = 0\n")
        )),
        "smsc.connect_timeout_secs"
    );
    let e = config_at(&addr, &format!("{tls}connect_timeout_secs = 0\n")).unwrap_err();
    assert!(
        e.to_string().contains("a positive number of seconds"),
        "{e}"
    );
    let summary = config_at(&addr, &tls).unwrap().summary();
    assert!(
        summary.contains("connect timeout: 5 s (TCP connect and TLS handshake"),
        "the default: {summary}"
    );
    let cfg = config_at(&addr, &format!("{tls}connect_timeout_secs = 1\n")).unwrap();
    assert!(
        cfg.summary().contains("connect timeout: 1 s"),
        "{}",
        cfg.summary()
    );
    let started = Instant::now();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    let why = first_down_reason(&gw, Duration::from_secs(4)).await;
    let took = started.elapsed();
    assert!(
        why.contains("TLS handshake was not finished within 1000 ms"),
        "{why}"
    );
    // From before the gateway's start (opening its database): under 4 s on a loaded machine
    // too, which the 5 s default could never be.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "given up after {took:?}"
    );
    gw.shutdown().await;
    holder.abort();
}

/// Two SMSC sites reached by IP address whose certificates name different hosts: the primary
/// is checked by `tls_server_name`, the fallback by its own entry in `tls_server_names`, and
/// the gateway binds to the one, then, the primary gone, fails over to and binds to the other.
/// One name for every address could not bind to both. A name for an address that is not
/// configured (a typo) is refused at load.
#[tokio::test]
async fn each_address_is_checked_by_its_own_name_across_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let site_a = tls_sim_issued(&pki, "site-a", &["smsc-a.carrier.test"], |_| {}).await;
    let site_b = tls_sim_issued(&pki, "site-b", &["smsc-b.carrier.test"], |_| {}).await;
    let (a, b) = (
        site_a.smpp_addr().to_string(),
        site_b.smpp_addr().to_string(),
    );
    let base = format!(
        "tls = true\ntls_ca_file = {:?}\nfallback_addresses = [\"{b}\"]\n\
         return_to_primary_secs = 0\ntls_server_name = \"smsc-a.carrier.test\"\n",
        pki.path("ca.pem")
    );
    let typo = config_at(
        &a,
        &format!("{base}tls_server_names = {{ \"127.0.0.1:1\" = \"smsc-b.carrier.test\" }}\n"),
    );
    let e = typo.as_ref().unwrap_err().to_string();
    assert!(e.contains("\"127.0.0.1:1\""), "{e}");
    assert_eq!(refused_key(typo), "smsc.tls_server_names");
    assert_eq!(
        refused_key(config_at(
            &a,
            &format!("{base}tls_server_names = {{ \"{b}\" = \"not a name!\" }}\n"),
        )),
        "smsc.tls_server_names"
    );
    let cfg = config_at(
        &a,
        &format!("{base}tls_server_names = {{ \"{b}\" = \"smsc-b.carrier.test\" }}\n"),
    )
    .unwrap();
    assert!(
        cfg.summary()
            .contains(&format!("{b} named \"smsc-b.carrier.test\"")),
        "{}",
        cfg.summary()
    );
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    bound(&gw, "binds to site A").await;
    assert_eq!(gw.link.bound_to().as_deref(), Some(a.as_str()));
    site_a.shutdown().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while gw.link.bound_to().as_deref() != Some(b.as_str()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never bound to site B: {:?}",
            gw.link.state()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        site_b.binds().iter().any(|x| x.bind.is_some()),
        "{:?}",
        site_b.binds()
    );
    gw.shutdown().await;
    site_b.shutdown().await;
}

/// What the `tracing` events of this thread's tasks write while the guard lives: the tests
/// below run on tokio's current-thread runtime, where the gateway's tasks run too.
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    /// A writer into the shared buffer.
    struct Into(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Into {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || Into(writer.clone()))
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// The UTC date `days` from now (`days` may be negative), as rcgen takes a certificate's
/// validity: its midnight.
fn utc_ymd_in(days: i64) -> (i32, u8, u8) {
    let at = presence_gw::store::now_ms() + days * 86_400_000;
    let (y, m, d, ..) = presence_gw::service::clock::utc_fields(at);
    (y as i32, m as u8, d as u8)
}

/// Make `p` valid from the start of the UTC day `from` days from now to the start of the one
/// `until` days from now.
fn valid(p: &mut CertificateParams, from: i64, until: i64) {
    let (y, m, d) = utc_ymd_in(from);
    p.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = utc_ymd_in(until);
    p.not_after = rcgen::date_time_ymd(y, m, d);
}

/// A gateway started against a TLS simulator whose certificate, issued by a test CA the
/// gateway trusts, is valid from 30 days ago until `until` days from today (UTC midnight).
async fn tls_gateway_until(until: i64) -> (tempfile::TempDir, SimHandle, Gateway) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let sim = tls_sim_issued(&pki, "smsc", &["127.0.0.1"], |p| valid(p, -30, until)).await;
    let cfg = config(
        &sim,
        &format!("tls = true\ntls_ca_file = {:?}\n", pki.path("ca.pem")),
    )
    .unwrap();
    let (gw, _mo) = gateway(dir.path(), &cfg).await;
    (dir, sim, gw)
}

/// [`tls_gateway_until`], bound: the seconds left `/metrics` says and what was logged, both
/// then stopped.
async fn tls_bind_logged_until(until: i64) -> (f64, String, std::net::SocketAddr) {
    let (logs, _guard) = capture_logs();
    let (_dir, sim, gw) = tls_gateway_until(until).await;
    bound(&gw, "binds").await;
    let left = common::sample(
        &common::scrape_metrics(&gw).await,
        "presence_gw_smpp_tls_cert_expiry_seconds",
    )
    .expect("a sample after the TLS bind");
    gw.shutdown().await;
    sim.shutdown().await;
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    (left, logs, sim.smpp_addr())
}

/// A certificate that ends in under 14 days binds, and each bind logs the negotiated TLS
/// version, cipher suite and the end of the certificate (INFO) and a WARN that it ends soon;
/// `presence_gw_smpp_tls_cert_expiry_seconds` says how long is left.
#[tokio::test]
async fn a_certificate_ending_within_14_days_is_warned_of_and_counted_down() {
    // Valid until midnight (UTC) 3 days on: between 2 and 3 days left.
    let (left, logs, smsc) = tls_bind_logged_until(3).await;
    assert!(
        (2.0 * 86_400.0..=3.0 * 86_400.0).contains(&left),
        "{left} s left"
    );
    let info = logs
        .lines()
        .find(|l| l.contains(" INFO ") && l.contains("TLS session"))
        .unwrap_or_else(|| panic!("no INFO line of the TLS session:\n{logs}"));
    assert!(
        info.contains(&format!("smsc={smsc}"))
            && info.contains("tls_version=TLSv1_3")
            && info.contains("cipher_suite=TLS13_")
            && info.contains("cert_expires=")
            && info.contains("cert_days_left=2"),
        "{info}"
    );
    assert!(
        logs.lines().any(|l| l.contains(" WARN ")
            && l.contains("expires in less than 14 days")
            && l.contains("cert_days_left=2")),
        "no WARN of the certificate's end:\n{logs}"
    );
}

/// A certificate valid for a year binds with the INFO line and no WARN.
#[tokio::test]
async fn a_certificate_far_from_its_end_is_logged_without_a_warning() {
    let (left, logs, _) = tls_bind_logged_until(365).await;
    assert!(
        (364.0 * 86_400.0..=365.0 * 86_400.0).contains(&left),
        "{left}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains(" INFO ") && l.contains("TLS session")),
        "{logs}"
    );
    assert!(!logs.contains("expires in less than 14 days"), "{logs}");
}

/// An SMSC whose certificate has expired is never bound to, and the link's reason says
/// "expired" and when, in a date an operator reads (rustls gives Unix seconds).
#[tokio::test]
async fn an_expired_certificate_fails_the_bind_saying_expired() {
    let (_dir, sim, gw) = tls_gateway_until(-1).await;
    // The reason of a failed attempt (never_bound's state may be a retry's "Connecting").
    let why = first_down_reason(&gw, Duration::from_secs(5)).await;
    never_bound(&gw, Duration::from_secs(1)).await;
    let (y, m, d, ..) =
        presence_gw::service::clock::utc_fields(presence_gw::store::now_ms() - 86_400_000);
    assert!(
        why.contains(&format!(
            "the SMSC's certificate expired at {y}-{m:02}-{d:02} 00:00:00 UTC"
        )),
        "{why}"
    );
    assert!(
        sim.binds().iter().all(|b| b.bind.is_none()),
        "{:?}",
        sim.binds()
    );
    // No TLS bind, no sample (a 0 would read as "ends now").
    let text = common::scrape_metrics(&gw).await;
    assert!(
        text.contains("# TYPE presence_gw_smpp_tls_cert_expiry_seconds gauge")
            && common::sample(&text, "presence_gw_smpp_tls_cert_expiry_seconds").is_none(),
        "{text}"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}
