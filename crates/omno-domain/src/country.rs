//! ISO 3166-1 alpha-2 country codes.
//!
//! Contract (API.md §2.1): only the 249 officially assigned codes are accepted; input is
//! case-insensitive and the code is stored and echoed in uppercase.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted (binary-searched).
const ASSIGNED: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code, always uppercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

/// A string that is not an assigned ISO 3166-1 alpha-2 code.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("must be an ISO 3166-1 alpha-2 country code")]
pub struct CountryError;

impl CountryCode {
    /// Parses an assigned alpha-2 code, case-insensitively (`"de"` → `DE`).
    pub fn parse(s: &str) -> Result<CountryCode, CountryError> {
        let [a, b] = s.as_bytes() else {
            return Err(CountryError);
        };
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        let upper = std::str::from_utf8(&code).map_err(|_| CountryError)?;
        if ASSIGNED.binary_search(&upper).is_ok() {
            Ok(CountryCode(code))
        } else {
            Err(CountryError)
        }
    }

    /// The uppercase code (`"DE"`).
    pub fn as_str(&self) -> &str {
        // Only `parse` builds a CountryCode, from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = CountryCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 3166-1 alpha-2 country code")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CountryCode, E> {
                CountryCode::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_uppercase() {
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ASSIGNED
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn parses_case_insensitively_and_stores_uppercase() {
        for (input, want) in [
            ("DE", "DE"),
            ("de", "DE"),
            ("gB", "GB"),
            ("us", "US"),
            ("AX", "AX"),
            ("ss", "SS"),
            ("XK", ""),
        ] {
            match CountryCode::parse(input) {
                Ok(c) => {
                    assert_eq!(c.as_str(), want);
                    assert_eq!(c.to_string(), want);
                }
                Err(e) => {
                    assert_eq!(want, "", "{input}");
                    assert_eq!(e.to_string(), "must be an ISO 3166-1 alpha-2 country code");
                }
            }
        }
    }

    #[test]
    fn rejects_unassigned_and_malformed() {
        for bad in [
            "",
            "D",
            "DEU",
            "UK",
            "EU",
            "XK",
            "ZZ",
            "AA",
            "12",
            "D ",
            "ÄÖ",
            "é",
            "\u{0}\u{0}",
        ] {
            assert_eq!(CountryCode::parse(bad), Err(CountryError), "{bad:?}");
        }
    }

    #[test]
    fn deserializes_through_parse() {
        let c: Result<CountryCode, serde::de::value::Error> =
            CountryCode::deserialize(serde::de::value::StrDeserializer::new("fr"));
        assert_eq!(c.unwrap().as_str(), "FR");
        let bad: Result<CountryCode, serde::de::value::Error> =
            CountryCode::deserialize(serde::de::value::StrDeserializer::new("xx"));
        assert!(bad.is_err());
    }
}
