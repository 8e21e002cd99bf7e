//! `outbox_fill`: put N queued SMS rows into a gateway database file through the store API
//! ([`presence_gw::store::outbox::enqueue`]), without a running gateway. Used by the interop
//! script `tests/interop/gw_node.sh` (and by hand for load tests); `tests/crash.rs` fills its
//! database the same way in-process.
//!
//! ```text
//! cargo run -q -p presence-gw --example outbox_fill -- --db gw.db --count 500 \
//!     [--destinations 100] [--prefix "interop #"] [--batch 1000]
//! ```
//! Message `i` (0-based) goes to `+86139` followed by `i % destinations` on 8 digits, with body
//! `<prefix><i on 5 digits>` (e.g. `interop #00042`), so every body is unique. Rows are written
//! in transactions of `--batch` messages. Prints `queued N messages into PATH` and exits 0.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use presence_gw::store::outbox::{self, NewMessage};
use presence_gw::store::{now_ms, Store, StoreError, StoreOptions};

/// Enqueue N unique SMS into a presence-gw database.
#[derive(Debug, Parser)]
#[command(name = "outbox_fill")]
struct Args {
    /// SQLite database file (created and migrated if missing).
    #[arg(long)]
    db: PathBuf,
    /// Number of messages.
    #[arg(long)]
    count: usize,
    /// Number of distinct destination numbers.
    #[arg(long, default_value_t = 100)]
    destinations: usize,
    /// Body prefix; the message number (5 digits) follows it.
    #[arg(long, default_value = "outbox fill #")]
    prefix: String,
    /// Messages per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
}

/// The destination of message `i` among `destinations` numbers.
fn destination(i: usize, destinations: usize) -> String {
    format!("+86139{:08}", i % destinations.max(1))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = Store::open(&args.db, StoreOptions::default())
        .with_context(|| format!("opening {}", args.db.display()))?;
    let batch = args.batch.max(1);
    let mut start = 0;
    while start < args.count {
        let end = (start + batch).min(args.count);
        let msgs: Vec<NewMessage> = (start..end)
            .map(|i| {
                NewMessage::sms(
                    destination(i, args.destinations),
                    format!("{}{i:05}", args.prefix),
                )
            })
            .collect();
        let now = now_ms();
        store
            .write_blocking(move |tx| {
                for m in &msgs {
                    outbox::enqueue(tx, m, now)?;
                }
                Ok::<_, StoreError>(())
            })
            .with_context(|| format!("enqueueing messages {start}..{end}"))?;
        start = end;
    }
    store.close_blocking();
    println!("queued {} messages into {}", args.count, args.db.display());
    Ok(())
}
