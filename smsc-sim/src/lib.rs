//! smsc-sim: an SMPP 3.4 SMSC simulator with window enforcement, scripted faults, delivery
//! receipts, MO/USSD injection, virtual handsets and an HTTP control API.
//!
//! Start one in-process (tests use port 0) and drive it through [`SimHandle`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), smsc_sim::SimError> {
//! use std::time::Duration;
//! use smsc_sim::{MoRequest, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::local().with_account("esme", "secret")).await?;
//! // ... point an ESME at sim.smpp_addr() and let it bind ...
//! sim.inject_mo(MoRequest::new("8613800138000", "10658", "STATUS ALL FREE")).await?;
//! let mts = sim.wait_for_mt_to("8613800138000", 1, Duration::from_secs(5)).await?;
//! let phone = sim.handset("8613800138000");
//! # let _ = (mts, phone);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Routing of what the simulator delivers: a receipt goes to the receiver-capable binds of the
//! account that submitted its message; an MO or USSD goes by its destination (the service number
//! or code) to the receiver-capable binds whose bind `address_range` (a regular expression, SMPP
//! 3.4 §5.2.27) matches it, or when none does to those that gave no `address_range`, and of these
//! only to one account's binds (the earliest connected), round-robin; with no such bind it waits
//! ([`shared::Shared::receivers_for_address`]).
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | [`SimConfig`], accounts, id styles, the receipt plan |
//! | [`diagnose`] | the status for a request whose body does not decode, by its broken field |
//! | [`faults`] | [`Faults`]: throttle, delays, errors, drops, silence, malformed PDUs |
//! | [`session`] | one SMPP connection (actor) |
//! | [`shared`] | state shared by sessions, dispatcher and API; MT acceptance and validation |
//! | [`pdus`] | building receipts, MO parts, USSD and malformed PDUs |
//! | [`handset`] | virtual handsets: reassembly, WAP Push, avatars, USSD screens; the network's numbering (a national `13800138000` is the handset `8613800138000` with country code 86, [`handset::international`]) |
//! | [`recorder`] | MT / delivery records, message store, counters |
//! | [`sim`] | [`Simulator::start`] and [`SimHandle`] |
//! | [`http`] | the HTTP control API and console page |
//! | [`smpp_time`] | `schedule_delivery_time` / `validity_period`: parsing and resolving |
//! | [`util`] | time, hex and number helpers |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Docs are built with --document-private-items (`.ci/run`), where links to private items
// resolve; the crate's public docs may name the private helpers they rely on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod config;
pub mod diagnose;
pub mod faults;
pub mod handset;
pub mod http;
pub mod pdus;
pub mod recorder;
pub mod session;
pub mod shared;
pub mod sim;
pub mod smpp_time;
pub mod tls;
pub mod util;

pub use config::{
    default_canned_messages, parse_canned, Account, DestMatch, HandsetConfig, IdStyle, ReceiptPlan,
    ReceiptRule, ReceiptStat, SimConfig,
};
pub use faults::{Delay, ErrorFault, Faults, MalformedKind, RefuseBinds};
pub use handset::{
    Avatar, CallView, ContactView, FetchState, HandsetView, InboxMessage, PushRecord, UssdScreen,
};
pub use pdus::{MoEncoding, MoStyle};
pub use recorder::{
    BindFields, BindView, DeliveryFilter, DeliveryKind, DeliveryRecord, DeliveryState, MtFilter,
    MtRecord, Stats, SubmitOptions, WindowOccupancy,
};
pub use sim::{MoRequest, MoTicket, ResetSummary, SimError, SimHandle, Simulator, UssdRequest};
