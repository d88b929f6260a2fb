//! Integration tests of the HTTP API through a real socket, one binary for the crate.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod helpers;

mod auth;
mod cashier;
mod hardening;
mod hosted;
mod hosted_payin;
mod metrics;
mod mock;
mod openapi;
mod payin;
mod payin_errors;
mod payout;
mod payout_errors;
mod payout_worker;
mod races;
mod rate_limit;
mod routing;
mod webhooks;
