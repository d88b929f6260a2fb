//! The validated customer of a transaction (API.md §2.1), kept as sent (known fields only,
//! country codes uppercased). Parsing from the wire lives at the API edge.

use serde::{Deserialize, Serialize};

use crate::country::CountryCode;

/// Billing address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    /// Street address.
    pub address: String,
    /// City.
    pub city: String,
    /// State or region.
    pub state: String,
    /// ISO 3166-1 alpha-2, uppercase.
    pub country_code: CountryCode,
    /// Postal code.
    pub postal_code: String,
}

/// Optional KYC details (extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kyc {
    /// Document type.
    pub id_type: Option<String>,
    /// Document number.
    pub id_number: Option<String>,
    /// Issuing country.
    pub id_country: Option<CountryCode>,
    /// Nationality.
    pub nationality: Option<CountryCode>,
    /// Country of birth.
    pub country_of_birth: Option<CountryCode>,
    /// Document expiry, `YYYY-MM-DD`.
    pub id_expiration_date: Option<String>,
}

/// A customer as the merchant sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The merchant's own customer id.
    pub external_user_id: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email address.
    pub email: String,
    /// Phone number as sent.
    pub phone_number: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// Billing address.
    pub billing: Billing,
    /// KYC details, if sent.
    pub kyc: Option<Kyc>,
}
