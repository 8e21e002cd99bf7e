//! Helpers shared by sms-wire's integration tests.

pub mod captured;
