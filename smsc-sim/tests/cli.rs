//! The `smsc-sim` binary as a tester types it: what it prints on success and on error.

use std::process::{Command, Output};

use smsc_sim::{SimConfig, Simulator};

fn smsc_sim(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smsc-sim"));
    c.args(args).env_remove("SMSC_SIM_URL");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run smsc-sim")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `reset` prints one line saying what it forgot, pending receipts included; its help says
/// that pending receipts are dropped.
#[tokio::test(flavor = "multi_thread")]
async fn reset_prints_what_it_forgot() {
    let h = Simulator::start(SimConfig::local()).await.unwrap();
    let url = h.http_url().unwrap();
    let out = tokio::task::spawn_blocking(move || smsc_sim(&["reset", "--url", &url], &[]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("reset: forgot 0 MT records, 0 handsets, 0 pending receipts"),
        "{stdout}"
    );
    let help = text(&smsc_sim(&["reset", "--help"], &[]).stdout);
    assert!(
        help.contains("pending") && help.contains("never sent"),
        "{help}"
    );
    h.shutdown().await;
}
