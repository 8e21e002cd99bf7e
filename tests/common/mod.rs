//! Helpers shared by the tests that run the real `presence-gw` binary as a child process
//! against an in-process smsc-sim (`crash.rs`, `shutdown.rs`): fill an outbox file before the
//! gateway starts, and spawn the binary on it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use presence_gw::store::outbox::{self, NewMessage};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};
use smsc_sim::SimHandle;

/// The simulator account the child binds with.
pub const SYSTEM_ID: &str = "presence";
/// Its password (passed in the environment, never on the command line).
pub const PASSWORD: &str = "pw123";
/// The service number.
pub const SERVICE_NUMBER: &str = "10658";

/// Queue `n` SMS into the outbox of `db` (message `i` to `destination(i)` with `body(i)`),
/// 1,000 per transaction, and check they are all queued.
pub async fn fill_outbox(
    db: &Path,
    n: usize,
    destination: impl Fn(usize) -> String,
    body: impl Fn(usize) -> String,
) {
    let store = Store::open(db, StoreOptions::default()).expect("store opens");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let msgs: Vec<NewMessage> = chunk
            .iter()
            .map(|&i| NewMessage::sms(destination(i), body(i)))
            .collect();
        let now = now_ms();
        store
            .write(move |tx| {
                for m in &msgs {
                    outbox::enqueue(tx, m, now)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .expect("enqueue");
    }
    let c = store.read(outbox::counts_by_state).await.expect("counts");
    assert_eq!(c.queued, n as u64, "{c:?}");
    store.close().await;
}

/// The gateway binary, serving `db` against the simulator; its stderr goes to `log`.
pub fn spawn_gateway(sim: &SimHandle, db: &Path, log: &Path) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_presence-gw"))
        .args(["serve", "--smsc"])
        .arg(sim.smpp_addr().to_string())
        .arg("--db")
        .arg(db)
        .args([
            "--system-id",
            SYSTEM_ID,
            "--service-number",
            SERVICE_NUMBER,
            "--http",
            "127.0.0.1:0",
        ])
        .env("PRESENCE_GW_SMSC_PASSWORD", PASSWORD)
        .env("RUST_LOG", "info,rusmpp=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("gateway binary starts")
}
