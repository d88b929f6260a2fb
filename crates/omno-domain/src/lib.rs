//! The pure domain of omno: money and currencies, identifiers, field validation, the card
//! helpers and the transaction state machines.
//!
//! Nothing here performs I/O, reads a clock or draws randomness: identifiers and times are passed
//! in by the caller, so every rule can be unit- and property-tested in isolation.
//!
//! # Layout
//! - [`money`]: ISO 4217 currencies, exact parsing of wire amounts into minor units, formatting.
//! - [`country`]: ISO 3166-1 alpha-2 country codes.
//! - [`validate`]: field rules shared by every request (email, phone, dates, URLs, IBAN, …).
//! - [`card`]: Luhn, BIN brand, masking, expiry, CVV.
//! - [`errors`]: [`errors::FieldErrors`], the collector behind "every invalid field at once".
//! - [`ids`]: 32-hex identifiers.
//! - [`customer`]: the validated customer of a transaction.
//! - [`payout`]: the payout aggregate and its state machine.
//! - [`payin`]: the payin state machine and refund arithmetic.
//! - [`psp`]: PSP-facing vocabulary shared by routing, connectors and flows.
//! - [`router`]: the routing engine: routers, rules, conditions, eligibility with FX (§9.1).
//! - [`fx`]: exact FX rates, the merchant's rate table and half-even conversion (§9.4).
#![deny(clippy::wildcard_enum_match_arm)]

pub mod card;
pub mod cashier;
pub mod country;
pub mod customer;
pub mod errors;
pub mod fx;
pub mod ids;
pub mod money;
pub mod payin;
pub mod payout;
pub mod psp;
pub mod router;
pub mod validate;
