//! Money: ISO 4217 currencies, minor units, and exact parsing/formatting of wire amounts.
//!
//! Contract (API.md §1.4): amounts travel as JSON numbers in **major** units and live internally
//! as `i64` **minor** units. The wire text is parsed with decimal digit arithmetic only (never
//! through `f64`), so `12.500` EUR is accepted, `12.505` EUR is too precise, and `1.25e1` is
//! `12.5`. Output is the shortest exact decimal without exponent or trailing zeros.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest minor amount accepted on the wire: 2^53 − 1, so JavaScript clients stay exact.
pub const MAX_MINOR: i64 = 9_007_199_254_740_991;

/// Active ISO 4217 alpha-3 codes that have a minor unit, sorted (binary-searched).
///
/// Codes without a minor unit (XAG, XAU, XBA, XBB, XBC, XBD, XDR, XPD, XPT, XSU, XTS, XUA, XXX)
/// are deliberately absent: the contract rejects them as unknown.
const ACTIVE_CODES: [&str; 169] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// ISO 4217 minor-unit exponent of an active code (API.md §1.4 table).
fn exponent_of(code: &str) -> u8 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// An active ISO 4217 currency with its minor-unit exponent (EUR 2, JPY 0, KWD 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// Why a currency code was refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrencyError {
    /// Not an active ISO 4217 code with a minor unit.
    #[error("must be an active ISO 4217 currency code")]
    Unknown,
    /// An active code spelled in lowercase or mixed case (`eur`); the contract wants uppercase.
    #[error("must be an uppercase ISO 4217 currency code")]
    NotUppercase,
}

impl Currency {
    /// Parses an active ISO 4217 alpha-3 code; only the uppercase spelling is accepted.
    pub fn parse(s: &str) -> Result<Currency, CurrencyError> {
        let bytes = s.as_bytes();
        let [a, b, c] = bytes else {
            return Err(CurrencyError::Unknown);
        };
        if ACTIVE_CODES.binary_search(&s).is_ok() {
            return Ok(Currency {
                code: [*a, *b, *c],
                exponent: exponent_of(s),
            });
        }
        let upper = s.to_ascii_uppercase();
        if ACTIVE_CODES.binary_search(&upper.as_str()).is_ok() {
            Err(CurrencyError::NotUppercase)
        } else {
            Err(CurrencyError::Unknown)
        }
    }

    /// Every active code omno accepts, in code order (`omno mock` allows them all).
    pub fn all_active() -> Vec<Currency> {
        ACTIVE_CODES
            .iter()
            .filter_map(|c| Currency::parse(c).ok())
            .collect()
    }

    /// The uppercase alpha-3 code (`"EUR"`).
    pub fn code(&self) -> &str {
        // Only `parse` builds a Currency, from an ASCII table entry.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Number of decimal places of the minor unit (EUR 2, JPY 0, KWD 3, CLF 4).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = Currency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

/// An amount in minor units of some currency (cents for EUR, yen for JPY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinorUnits(pub i64);

/// An amount together with its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units of `currency`.
    pub amount: MinorUnits,
    /// The currency of `amount`.
    pub currency: Currency,
}

impl Money {
    /// Builds a money value.
    pub fn new(amount: MinorUnits, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// `self + other`; `None` on `i64` overflow or when the currencies differ.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        let amount = self.amount.0.checked_add(other.amount.0)?;
        Some(Money::new(MinorUnits(amount), self.currency))
    }

    /// `self − other`; `None` on `i64` overflow or when the currencies differ.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        let amount = self.amount.0.checked_sub(other.amount.0)?;
        Some(Money::new(MinorUnits(amount), self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = format_amount(self.amount.0, self.currency.exponent());
        write!(f, "{amount} {}", self.currency)
    }
}

/// Why a wire amount was refused. The `Display` text is the field message of the 400.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// The text is not a JSON number literal.
    #[error("must be a number")]
    NotANumber,
    /// Zero or negative where a positive amount is required.
    #[error("must be greater than 0")]
    NotPositive,
    /// Negative where zero is allowed (balances).
    #[error("must not be negative")]
    Negative,
    /// Not a whole number of minor units.
    #[error("has more decimal places than the currency allows")]
    TooPrecise,
    /// More than [`MAX_MINOR`] minor units.
    #[error("is too large")]
    TooLarge,
}

/// Number of decimal digits of [`MAX_MINOR`]; anything longer is too large.
const MAX_MINOR_DIGITS: i128 = 16;

/// Exponent parts beyond this magnitude are clamped: the outcome (too large / too precise) is
/// already decided long before, and clamping keeps the arithmetic small.
const EXPONENT_CLAMP: i128 = 1_000_000_000_000_000;

/// A JSON number literal reduced to `±significand × 10^scale`, with the significand's decimal
/// digits stripped of leading and trailing zeros (empty for zero).
struct Decimal<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// Range of significant digits in the virtual concatenation `int ++ frac`.
    first: usize,
    last: usize,
    /// Power of ten applied to the significant digits.
    scale: i128,
}

impl Decimal<'_> {
    fn digit(&self, i: usize) -> u8 {
        let d = if i < self.int.len() {
            self.int.get(i)
        } else {
            self.frac.get(i - self.int.len())
        };
        d.map_or(0, |b| b - b'0')
    }

    fn is_zero(&self) -> bool {
        self.first > self.last
    }

    fn significant_len(&self) -> usize {
        if self.is_zero() {
            0
        } else {
            self.last - self.first + 1
        }
    }
}

fn digits_run(bytes: &[u8], start: usize) -> usize {
    bytes.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Parses the JSON number grammar (RFC 8259 §6) without any numeric conversion.
fn parse_decimal(text: &str) -> Option<Decimal<'_>> {
    let b = text.as_bytes();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    let int_start = i;
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits_run(b, i),
        _ => return None,
    }
    let int = b.get(int_start..i)?;
    let mut frac: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        i += 1;
        let n = digits_run(b, i);
        if n == 0 {
            return None;
        }
        frac = b.get(i..i + n)?;
        i += n;
    }
    let mut exp: i128 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let n = digits_run(b, i);
        if n == 0 {
            return None;
        }
        for &d in b.get(i..i + n)? {
            exp = (exp * 10 + i128::from(d - b'0')).min(EXPONENT_CLAMP);
        }
        if exp_negative {
            exp = -exp;
        }
        i += n;
    }
    if i != b.len() {
        return None;
    }
    let mut dec = Decimal {
        negative,
        int,
        frac,
        first: 0,
        last: 0,
        scale: 0,
    };
    let total = int.len() + frac.len();
    let first = (0..total).find(|&k| dec.digit(k) != 0);
    let last = (0..total).rev().find(|&k| dec.digit(k) != 0);
    match (first, last) {
        (Some(f), Some(l)) => {
            dec.first = f;
            dec.last = l;
            // The digit at `last` has weight 10^(exp − frac_len + trailing zeros stripped).
            let trailing = (total - 1 - l) as i128;
            dec.scale = exp - frac.len() as i128 + trailing;
        }
        _ => {
            // Zero: an empty significant range.
            dec.first = 1;
            dec.last = 0;
        }
    }
    Some(dec)
}

/// Converts a non-zero decimal to minor units, checking precision then range.
fn to_minor(dec: &Decimal<'_>, exponent: u8) -> Result<i64, AmountError> {
    let shift = dec.scale + i128::from(exponent);
    if shift < 0 {
        // The last significant digit is non-zero, so a negative shift leaves a fraction.
        return Err(AmountError::TooPrecise);
    }
    if dec.significant_len() as i128 + shift > MAX_MINOR_DIGITS {
        return Err(AmountError::TooLarge);
    }
    // At most 16 digits in total: fits in u64 without overflow.
    let mut value: u64 = 0;
    for k in dec.first..=dec.last {
        value = value * 10 + u64::from(dec.digit(k));
    }
    for _ in 0..shift {
        value *= 10;
    }
    match i64::try_from(value) {
        Ok(v) if v <= MAX_MINOR => Ok(v),
        Ok(_) | Err(_) => Err(AmountError::TooLarge),
    }
}

/// Parses a JSON number literal exactly as it appears in the request text (e.g. `"12.5"`,
/// `"100"`, `"1.25e1"`, `"12.500"`) into minor units for `exponent`. The amount must be > 0 and
/// at most [`MAX_MINOR`] minor units.
///
/// Never goes through `f64`: the digits are handled as decimal text, so inputs of any length and
/// exponents such as `1e999999999` are judged without overflow or large allocations.
pub fn parse_amount(text: &str, exponent: u8) -> Result<MinorUnits, AmountError> {
    let dec = parse_decimal(text).ok_or(AmountError::NotANumber)?;
    if dec.is_zero() || dec.negative {
        return Err(AmountError::NotPositive);
    }
    to_minor(&dec, exponent).map(MinorUnits)
}

/// Like [`parse_amount`] but for balances: zero is allowed, negatives are not.
pub fn parse_balance(text: &str, exponent: u8) -> Result<MinorUnits, AmountError> {
    let dec = parse_decimal(text).ok_or(AmountError::NotANumber)?;
    if dec.is_zero() {
        return Ok(MinorUnits(0));
    }
    if dec.negative {
        return Err(AmountError::Negative);
    }
    to_minor(&dec, exponent).map(MinorUnits)
}

/// Formats minor units as the shortest exact decimal in major units: no exponent, no trailing
/// zeros (`(15025, 2)` → `"150.25"`, `(10000, 2)` → `"100"`, `(5, 2)` → `"0.05"`).
pub fn format_amount(minor: i64, exponent: u8) -> String {
    let digits = minor.unsigned_abs().to_string();
    let exp = usize::from(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    if exp == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= exp {
        format!("{}{digits}", "0".repeat(exp + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - exp);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn code_table_is_sorted_unique_and_uppercase() {
        assert!(ACTIVE_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ACTIVE_CODES
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn currency_parse_and_exponents() {
        for (code, exp) in [
            ("EUR", 2),
            ("USD", 2),
            ("JPY", 0),
            ("KWD", 3),
            ("CLF", 4),
            ("UYW", 4),
            ("XOF", 0),
            ("TND", 3),
            ("XCG", 2),
        ] {
            let c = Currency::parse(code).unwrap();
            assert_eq!(c.code(), code);
            assert_eq!(c.exponent(), exp, "{code}");
            assert_eq!(c.to_string(), code);
        }
    }

    #[test]
    fn currency_rejections() {
        assert_eq!(Currency::parse("eur"), Err(CurrencyError::NotUppercase));
        assert_eq!(Currency::parse("Eur"), Err(CurrencyError::NotUppercase));
        assert_eq!(
            CurrencyError::NotUppercase.to_string(),
            "must be an uppercase ISO 4217 currency code"
        );
        for bad in [
            "", "EU", "EURO", "ABC", "XAU", "XAG", "XDR", "XTS", "XXX", "xau", "EUR ", "€", "ÉUR",
        ] {
            assert_eq!(Currency::parse(bad), Err(CurrencyError::Unknown), "{bad}");
        }
        assert_eq!(
            CurrencyError::Unknown.to_string(),
            "must be an active ISO 4217 currency code"
        );
    }

    #[test]
    fn currency_serde_is_the_code() {
        // No serde_json in this crate: use serde's value deserializers.
        let c = eur();
        assert_eq!(format!("{c}"), "EUR");
        let de: Result<Currency, serde::de::value::Error> =
            Currency::deserialize(serde::de::value::StrDeserializer::new("JPY"));
        assert_eq!(de.unwrap().exponent(), 0);
        let bad: Result<Currency, serde::de::value::Error> =
            Currency::deserialize(serde::de::value::StrDeserializer::new("eur"));
        assert!(bad.is_err());
    }

    #[test]
    fn money_checked_arithmetic() {
        let a = Money::new(MinorUnits(100), eur());
        let b = Money::new(MinorUnits(50), eur());
        assert_eq!(a.checked_add(b).unwrap().amount, MinorUnits(150));
        assert_eq!(a.checked_sub(b).unwrap().amount, MinorUnits(50));
        let jpy = Money::new(MinorUnits(1), Currency::parse("JPY").unwrap());
        assert_eq!(a.checked_add(jpy), None);
        assert_eq!(a.checked_sub(jpy), None);
        let max = Money::new(MinorUnits(i64::MAX), eur());
        assert_eq!(max.checked_add(b), None);
        let min = Money::new(MinorUnits(i64::MIN), eur());
        assert_eq!(min.checked_sub(b), None);
        assert_eq!(a.to_string(), "1 EUR");
    }

    #[test]
    fn parse_amount_examples() {
        let ok = |t: &str, e: u8| parse_amount(t, e).map(|m| m.0);
        assert_eq!(ok("12.5", 2), Ok(1250));
        assert_eq!(ok("100", 2), Ok(10000));
        assert_eq!(ok("1.25e1", 2), Ok(1250));
        assert_eq!(ok("12.500", 2), Ok(1250));
        assert_eq!(ok("1E+2", 2), Ok(10000));
        assert_eq!(ok("1e-2", 2), Ok(1));
        assert_eq!(ok("0.01", 2), Ok(1));
        assert_eq!(ok("100", 0), Ok(100));
        assert_eq!(ok("0.125", 3), Ok(125));
        assert_eq!(ok("1000e-3", 0), Ok(1));
        assert_eq!(ok("90071992547409.91", 2), Ok(MAX_MINOR));
        assert_eq!(ok("9007199254740991", 0), Ok(MAX_MINOR));
        assert_eq!(ok("0.00000000000000000001e20", 0), Ok(1));
        assert_eq!(ok("12.505", 2), Err(AmountError::TooPrecise));
        assert_eq!(ok("10.5", 0), Err(AmountError::TooPrecise));
        assert_eq!(ok("1e-3", 2), Err(AmountError::TooPrecise));
        assert_eq!(ok("9007199254740992", 0), Err(AmountError::TooLarge));
        assert_eq!(ok("90071992547409.92", 2), Err(AmountError::TooLarge));
        assert_eq!(ok("1e16", 0), Err(AmountError::TooLarge));
        assert_eq!(ok("0", 2), Err(AmountError::NotPositive));
        assert_eq!(ok("0.0", 2), Err(AmountError::NotPositive));
        assert_eq!(ok("-0", 2), Err(AmountError::NotPositive));
        assert_eq!(ok("-3", 2), Err(AmountError::NotPositive));
        assert_eq!(ok("0e999999999", 2), Err(AmountError::NotPositive));
    }

    #[test]
    fn parse_amount_rejects_non_json_numbers() {
        for bad in [
            "",
            "-",
            "+1",
            "01",
            "00",
            "1.",
            ".5",
            "1e",
            "1e+",
            "1.5.2",
            "0x10",
            "1_000",
            " 1",
            "1 ",
            "NaN",
            "Infinity",
            "-Infinity",
            "1,5",
            "\"1\"",
            "１",
            "--1",
            "1e1.5",
            "1ee1",
        ] {
            assert_eq!(
                parse_amount(bad, 2),
                Err(AmountError::NotANumber),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_amount_extreme_inputs() {
        assert_eq!(parse_amount("1e999999999", 2), Err(AmountError::TooLarge));
        assert_eq!(
            parse_amount("1e-999999999", 2),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(
            parse_amount(&format!("1e{}", "9".repeat(5000)), 2),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            parse_amount(&format!("1e-{}", "9".repeat(5000)), 2),
            Err(AmountError::TooPrecise)
        );
        // Many digits that cancel out via the exponent.
        let long = format!("1{}e-5000", "0".repeat(5000));
        assert_eq!(parse_amount(&long, 2), Ok(MinorUnits(100)));
        let long = format!("0.{}1e5002", "0".repeat(5000));
        assert_eq!(parse_amount(&long, 0), Ok(MinorUnits(10)));
        let huge = "9".repeat(10_000);
        assert_eq!(parse_amount(&huge, 0), Err(AmountError::TooLarge));
        let precise = format!("1.{}1", "0".repeat(10_000));
        assert_eq!(parse_amount(&precise, 4), Err(AmountError::TooPrecise));
        assert_eq!(parse_amount("1e10", 255), Err(AmountError::TooLarge));
    }

    #[test]
    fn parse_balance_examples() {
        assert_eq!(parse_balance("0", 2), Ok(MinorUnits(0)));
        assert_eq!(parse_balance("0.000", 2), Ok(MinorUnits(0)));
        assert_eq!(parse_balance("-0", 2), Ok(MinorUnits(0)));
        assert_eq!(parse_balance("12.34", 2), Ok(MinorUnits(1234)));
        assert_eq!(parse_balance("-1", 2), Err(AmountError::Negative));
        assert_eq!(parse_balance("1.234", 2), Err(AmountError::TooPrecise));
        assert_eq!(parse_balance("1e20", 2), Err(AmountError::TooLarge));
        assert_eq!(parse_balance("abc", 2), Err(AmountError::NotANumber));
    }

    #[test]
    fn error_messages() {
        assert_eq!(AmountError::NotANumber.to_string(), "must be a number");
        assert_eq!(
            AmountError::NotPositive.to_string(),
            "must be greater than 0"
        );
        assert_eq!(AmountError::Negative.to_string(), "must not be negative");
        assert_eq!(
            AmountError::TooPrecise.to_string(),
            "has more decimal places than the currency allows"
        );
        assert_eq!(AmountError::TooLarge.to_string(), "is too large");
    }

    #[test]
    fn format_amount_examples() {
        assert_eq!(format_amount(15025, 2), "150.25");
        assert_eq!(format_amount(10000, 2), "100");
        assert_eq!(format_amount(125, 3), "0.125");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(-5, 2), "-0.05");
        assert_eq!(format_amount(0, 2), "0");
        assert_eq!(format_amount(0, 0), "0");
        assert_eq!(format_amount(1250, 2), "12.5");
        assert_eq!(format_amount(7, 0), "7");
        assert_eq!(format_amount(-1200, 0), "-1200");
        assert_eq!(format_amount(1, 4), "0.0001");
        assert_eq!(format_amount(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(format_amount(i64::MAX, 0), "9223372036854775807");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 1..=MAX_MINOR, exp in 0u8..=4) {
            let text = format_amount(minor, exp);
            prop_assert_eq!(parse_amount(&text, exp), Ok(MinorUnits(minor)));
            prop_assert_eq!(parse_balance(&text, exp), Ok(MinorUnits(minor)));
        }

        #[test]
        fn spellings_agree(minor in 1..=MAX_MINOR, exp in 0u8..=4, zeros in 0usize..5) {
            let x = format_amount(minor, exp);
            let expected = parse_amount(&x, exp);
            let padded = if x.contains('.') {
                format!("{x}{}", "0".repeat(zeros + 1))
            } else {
                format!("{x}.{}", "0".repeat(zeros + 1))
            };
            prop_assert_eq!(parse_amount(&padded, exp), expected.clone());
            prop_assert_eq!(parse_amount(&format!("{x}e0"), exp), expected.clone());
            prop_assert_eq!(parse_amount(&format!("{x}E+0"), exp), expected.clone());
            // Integer significand with a negative exponent: 150.25 -> 15025e-2.
            let (int, frac) = x.split_once('.').unwrap_or((x.as_str(), ""));
            let significand = format!("{int}{frac}").trim_start_matches('0').to_string();
            let sci = format!("{significand}e-{}", frac.len());
            prop_assert_eq!(parse_amount(&sci, exp), expected.clone());
            // Normalised scientific: d.ddd × 10^k.
            let (head, tail) = significand.split_at(1);
            let k = significand.len() as i64 - 1 - frac.len() as i64;
            let norm = if tail.is_empty() {
                format!("{head}e{k}")
            } else {
                format!("{head}.{tail}e{k}")
            };
            prop_assert_eq!(parse_amount(&norm, exp), expected);
        }

        #[test]
        fn extra_fraction_digits_are_too_precise(
            int in 0u64..1_000_000,
            exp in 0u8..=4,
            extra in 1usize..6,
            last in 1u8..=9,
            fill in proptest::collection::vec(0u8..=9, 0..8),
        ) {
            let mut frac: String = fill.iter().map(|d| char::from(b'0' + d)).collect();
            while frac.len() < usize::from(exp) + extra - 1 {
                frac.push('0');
            }
            frac.push(char::from(b'0' + last));
            let text = format!("{int}.{frac}");
            prop_assert_eq!(parse_amount(&text, exp), Err(AmountError::TooPrecise), "{}", text);
        }

        #[test]
        fn never_panics(text in "[-+0-9.eE]{0,40}", exp in 0u8..=255) {
            let _ = parse_amount(&text, exp);
            let _ = parse_balance(&text, exp);
        }
    }
}
