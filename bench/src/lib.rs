//! gw-bench: benchmarks of the presence-gw gateway beside third-party SMPP software, so that
//! every figure is also a ratio (issue #4 "Bench", issue #9).
//!
//! One subcommand per suite (see `main.rs`); today: `mt` (outbox -> SMSC throughput, gateway
//! CPU per message, peak RSS) and `peers` (the `../shared/peers` harness, run from a writable
//! copy). Later suites of issue #9 (MO commands/s, fan-out, latency percentiles, avatar HTTP,
//! 1M subscribers) add a module here, a subcommand, and rows to [`report`].
//!
//! | module | holds |
//! |---|---|
//! | [`procstat`] | CPU and RSS from `/proc` |
//! | [`stats`] | median / min / max / spread |
//! | [`smsc`] | smsc-sim in-process and the node-smpp SMSC as a child |
//! | [`gwrun`] | one measured gateway run (the `mt-run` child) and the outbox fill |
//! | [`mt`] | the MT throughput suite |
//! | [`outbox`] | the store writer's part of an MT message, without the network |
//! | [`floor`] | the least CPU per message of a client doing only `mt`'s socket work |
//! | [`world`] | smsc-sim + gateway with the status service, in process (service suites) |
//! | [`mo`] | MO commands/s end to end |
//! | [`latency`] | STATUS -> first fan-out submit latency at a fixed load |
//! | [`http`] | avatar HTTP requests/s (200, 304) and upload pipeline ms |
//! | [`scale`] | 1M subscribers / 10M memberships: generation, size, WHO p50/p99, RSS |
//! | [`fanout`] | one status change to a FAMILY of 200, time to the last submit |
//! | [`peers`] | the peers harness: copy, run, summarise |
//! | [`report`] | Markdown tables and the issue #4 target checks |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Docs are built with --document-private-items (`.ci/run`), where links to private items
// resolve; the crate's public docs may name the private helpers they rely on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod fanout;
pub mod floor;
pub mod gwrun;
pub mod http;
pub mod latency;
pub mod mo;
pub mod mt;
pub mod outbox;
pub mod peers;
pub mod procstat;
pub mod report;
pub mod scale;
pub mod smsc;
pub mod stats;
pub mod world;
