//! Flows: one code path per state change, shared by handlers, hosted pages and workers.

pub mod cashier;
pub mod merchant;
pub mod payin;
pub mod payout;
pub mod routing;
