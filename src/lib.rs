//! presence-gw library.
#![forbid(unsafe_code)]
