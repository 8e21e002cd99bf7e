//! presence-gw: an SMS/USSD presence and caller-avatar gateway (SMPP 3.4 ESME).
// No unsafe code, but for one `setsockopt` call that nothing safe offers
// (`smpp::reader::sockopt`, allowed there alone).
#![deny(unsafe_code)]
// Docs are built with --document-private-items (`.ci/run`), where links to private items
// resolve; the crate's public docs may name the private helpers they rely on.
#![allow(rustdoc::private_intra_doc_links)]

pub mod admin;
pub mod app;
pub mod command;
pub mod config;
pub mod delivery;
pub mod histogram;
pub mod http;
pub mod images;
pub mod inbound;
pub mod logging;
pub mod metrics;
pub mod service;
pub mod smpp;
pub mod store;
