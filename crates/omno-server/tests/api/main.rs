//! Integration tests of the HTTP API through a real socket, one binary for the crate.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod auth;
mod hosted;
mod payout;
mod payout_errors;
mod payout_worker;
mod races;
mod webhooks;
