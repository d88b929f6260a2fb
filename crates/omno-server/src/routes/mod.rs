//! HTTP routes; each resource module owns its routes and their OpenAPI annotations.

pub mod admin;
pub mod admin_config;
pub mod admin_transactions;
pub mod admin_webhooks;
pub mod cashier;
pub mod oauth;
pub mod ops;
pub mod payin;
pub mod payout;
