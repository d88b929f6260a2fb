//! Foreign exchange (API.md §9.4): exact decimal rates, the merchant's rate table and the
//! conversion of an amount into a PSP account's currency.
//!
//! Everything is exact integer arithmetic. A [`Rate`] is `mantissa / 10^scale`; a conversion is
//! the single fraction
//!
//! ```text
//! direct:  minor_out = minor_in × mantissa × factor × 10^exp_out / (10^exp_in × 10^scale × 10^4)
//! inverse: minor_out = minor_in × 10^scale × factor × 10^exp_out / (10^exp_in × mantissa × 10^4)
//! ```
//!
//! where `factor` is `10000 + markupBps` (payins), `10000 − markupBps` (payouts) or `10000`
//! (no markup), rounded half-even once. `1/rate` is never rounded on its own. Products that do
//! not fit in `u128` are carried in 256 bits, so no valid input overflows on the way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Duration, OffsetDateTime};

use crate::money::{Currency, MAX_MINOR, MinorUnits, Money};
use crate::psp::Direction;

/// Most fractional digits a rate may have.
pub const MAX_RATE_DECIMALS: u8 = 12;

/// Largest accepted rate value: 10^12.
const MAX_RATE_INT_DIGITS: u32 = 12;

/// Exponent parts beyond this magnitude are clamped: the outcome is decided long before.
const EXPONENT_CLAMP: i64 = 1_000_000;

/// Field message for a refused rate.
const RATE_ERROR: &str = "must be a positive number with at most 12 decimals";

/// Largest `markupBps`.
pub const MAX_MARKUP_BPS: u32 = 10_000;

/// Basis points in one.
const BPS_ONE: u128 = 10_000;

/// 10^n for n ≤ 38.
const fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

/// An exact positive decimal rate with at most 12 fractional digits (1 base = rate quote).
///
/// Stored normalised (no trailing fractional zeros), so `==` compares values: `1.50` == `1.5`.
/// Serialises as its shortest decimal string (`"0.34"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Significand: the value is `mantissa / 10^scale`.
    mantissa: u128,
    /// Number of fractional digits, 0..=12, with `mantissa % 10 != 0` when `scale > 0`.
    scale: u8,
}

impl Rate {
    /// Parses the JSON number text of a rate exactly (never through `f64`): `"0.34"`, `"1e-3"`,
    /// `"1.08"`, `"150"`. The value must be > 0, have at most 12 decimals (trailing zeros do not
    /// count: the value counts, not the spelling) and be at most 10^12.
    pub fn parse(json_number_text: &str) -> Result<Rate, &'static str> {
        parse_rate(json_number_text).ok_or(RATE_ERROR)
    }

    /// Builds `mantissa / 10^scale`, with the same limits as [`Rate::parse`].
    pub fn from_parts(mantissa: u128, scale: u8) -> Result<Rate, &'static str> {
        let (mut m, mut s) = (mantissa, scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        if m == 0 || s > MAX_RATE_DECIMALS {
            return Err(RATE_ERROR);
        }
        if m > pow10(MAX_RATE_INT_DIGITS + u32::from(s)) {
            return Err(RATE_ERROR);
        }
        Ok(Rate {
            mantissa: m,
            scale: s,
        })
    }

    /// The significand: the rate is `mantissa() / 10^scale()`.
    pub fn mantissa(&self) -> u128 {
        self.mantissa
    }

    /// The number of fractional digits (0..=12).
    pub fn scale(&self) -> u8 {
        self.scale
    }

    /// Shortest exact decimal, no exponent (`"0.34"`, `"1.08"`, `"150"`).
    pub fn to_decimal_string(&self) -> String {
        let digits = self.mantissa.to_string();
        let scale = usize::from(self.scale);
        if scale == 0 {
            return digits;
        }
        let padded = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{int}.{frac}")
    }
}

/// Parses the JSON number grammar (RFC 8259 §6) into a normalised rate.
fn parse_rate(text: &str) -> Option<Rate> {
    let b = text.as_bytes();
    let digits_from = |start: usize| {
        b.get(start..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    let mut i = match b.first() {
        Some(b'0') => 1,
        Some(b'1'..=b'9') => digits_from(0),
        _ => return None, // includes a leading '-': not positive
    };
    let int = b.get(..i)?;
    let mut frac: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        let n = digits_from(i + 1);
        if n == 0 {
            return None;
        }
        frac = b.get(i + 1..i + 1 + n)?;
        i += 1 + n;
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative = match b.get(i) {
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
        let n = digits_from(i);
        if n == 0 {
            return None;
        }
        for &d in b.get(i..i + n)? {
            exp = (exp * 10 + i64::from(d - b'0')).min(EXPONENT_CLAMP);
        }
        if negative {
            exp = -exp;
        }
        i += n;
    }
    if i != b.len() {
        return None;
    }
    let digit = |k: usize| -> u8 {
        let d = if k < int.len() {
            int.get(k)
        } else {
            frac.get(k - int.len())
        };
        d.map_or(0, |c| c - b'0')
    };
    let total = int.len() + frac.len();
    let first = (0..total).find(|&k| digit(k) != 0)?; // zero → None
    let last = (0..total).rev().find(|&k| digit(k) != 0)?;
    let significant = last - first + 1;
    // ≤ 10^12 with ≤ 12 decimals leaves at most 25 significant digits.
    if significant > 25 {
        return None;
    }
    let mut mantissa: u128 = 0;
    for k in first..=last {
        mantissa = mantissa * 10 + u128::from(digit(k));
    }
    // Weight of the digit at `last`: 10^(exp − frac_len + trailing zeros dropped).
    let weight = exp - i64::try_from(frac.len()).ok()? + i64::try_from(total - 1 - last).ok()?;
    if weight < 0 {
        let scale = u8::try_from(-weight).ok()?;
        return Rate::from_parts(mantissa, scale).ok();
    }
    // A whole number: at most 13 digits in all.
    if i64::try_from(significant).ok()? + weight > i64::from(MAX_RATE_INT_DIGITS) + 1 {
        return None;
    }
    let shift = u32::try_from(weight).ok()?;
    Rate::from_parts(mantissa.checked_mul(pow10(shift))?, 0).ok()
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

impl FromStr for Rate {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Rate, &'static str> {
        Rate::parse(s)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_decimal_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;
        impl serde::de::Visitor<'_> for RateVisitor {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal rate as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                Rate::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Rate, E> {
                Rate::from_parts(u128::from(v), 0).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(RateVisitor)
    }
}

/// One exchange rate of a merchant (API.md §9.4): 1 `base` = `rate` `quote`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxRate {
    /// Currency converted from when used directly.
    pub base: Currency,
    /// Currency converted to when used directly.
    pub quote: Currency,
    /// 1 base = rate quote.
    pub rate: Rate,
    /// Markup in basis points, 0..=10000.
    pub markup_bps: u32,
    /// Free text, `manual` by default.
    pub source: String,
    /// When the rate was set; rates older than `fx.max_rate_age_secs` are ignored.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl FxRate {
    /// False when `max_age_secs` > 0 and the rate is older than that at `now`.
    pub fn is_fresh(&self, now: OffsetDateTime, max_age_secs: u64) -> bool {
        if max_age_secs == 0 {
            return true;
        }
        let max_age = Duration::seconds(i64::try_from(max_age_secs).unwrap_or(i64::MAX));
        now - self.updated_at <= max_age
    }
}

/// The merchant's rates.
#[derive(Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxTable {
    /// Every rate; at most one per (base, quote) pair is expected (the first one wins).
    pub rates: Vec<FxRate>,
}

impl FxTable {
    /// The usable rate from `from` to `to`: direct (`base = from`, `quote = to`) else inverse
    /// (`base = to`, `quote = from`); rates older than `max_age_secs` (0 = never stale) at `now`
    /// are ignored. Returns `(rate, inverse)`. No triangulation through a third currency.
    pub fn lookup(
        &self,
        from: Currency,
        to: Currency,
        now: OffsetDateTime,
        max_age_secs: u64,
    ) -> Option<(&FxRate, bool)> {
        let fresh = |r: &&FxRate| r.is_fresh(now, max_age_secs);
        if let Some(r) = self
            .rates
            .iter()
            .filter(|r| r.base == from && r.quote == to)
            .find(fresh)
        {
            return Some((r, false));
        }
        self.rates
            .iter()
            .filter(|r| r.base == to && r.quote == from)
            .find(fresh)
            .map(|r| (r, true))
    }
}

/// Result of a conversion (§9.4 steps 2–4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// The converted amount, in the target currency.
    pub amount: Money,
    /// The rate used, as stored (the admin view shows rate, source and timestamp).
    pub rate: FxRate,
    /// True when the rate was used inversely (`base` = target currency).
    pub inverse: bool,
    /// The markup applied, in basis points.
    pub markup_bps: u32,
}

/// Converts `amount` into `to`: effective rate = rate × (1 + bps/10000) for PAYIN,
/// × (1 − bps/10000) for PAYOUT, computed as ONE exact fraction (an inverse rate divides by
/// `rate`; 1/rate is never rounded first) and rounded half-even once to the target exponent.
///
/// `None` when no usable rate (including `to` being the amount's own currency), on overflow
/// (a result beyond [`MAX_MINOR`] in magnitude), or when the result is 0 minor units.
pub fn convert(
    amount: Money,
    to: Currency,
    direction: Direction,
    table: &FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Option<Conversion> {
    if amount.currency == to {
        return None;
    }
    let (rate, inverse) = table.lookup(amount.currency, to, now, max_age_secs)?;
    let minor = convert_with(amount, to, rate, inverse, Some(direction))?;
    if minor == 0 || minor.unsigned_abs() > MAX_MINOR.unsigned_abs() {
        return None;
    }
    Some(Conversion {
        amount: Money::new(MinorUnits(minor), to),
        rate: rate.clone(),
        inverse,
        markup_bps: rate.markup_bps,
    })
}

/// Like [`convert`] but without markup (the `amount` routing condition). Same `None` rules
/// except that a 0 result is allowed and the bound is `i64`; converting into the amount's own
/// currency returns it unchanged.
pub fn convert_plain(
    amount: Money,
    to: Currency,
    table: &FxTable,
    now: OffsetDateTime,
    max_age_secs: u64,
) -> Option<Money> {
    if amount.currency == to {
        return Some(amount);
    }
    let (rate, inverse) = table.lookup(amount.currency, to, now, max_age_secs)?;
    convert_with(amount, to, rate, inverse, None).map(|m| Money::new(MinorUnits(m), to))
}

/// The markup factor in basis points of one: `10000 ± markup` (`10000` without direction).
fn markup_factor(markup_bps: u32, direction: Option<Direction>) -> Option<u128> {
    let bps = u128::from(markup_bps);
    match direction {
        None => Some(BPS_ONE),
        Some(Direction::Payin) => Some(BPS_ONE + bps),
        Some(Direction::Payout) => BPS_ONE.checked_sub(bps),
    }
}

/// `amount` × effective rate in minor units of `to`, rounded half-even; `None` beyond `i64`.
pub(crate) fn convert_with(
    amount: Money,
    to: Currency,
    rate: &FxRate,
    inverse: bool,
    direction: Option<Direction>,
) -> Option<i64> {
    let factor = markup_factor(rate.markup_bps, direction)?;
    let magnitude = u128::from(amount.amount.0.unsigned_abs());
    let exp_in = u32::from(amount.currency.exponent());
    let exp_out = u32::from(to.exponent());
    let scale = u32::from(rate.rate.scale);
    let mantissa = rate.rate.mantissa;
    // Every factor is small: |amount| < 2^64, factor ≤ 2·10^4, 10^exp ≤ 10^38 is checked.
    let x = magnitude
        .checked_mul(factor)?
        .checked_mul(pow10_checked(exp_out)?)?;
    let (y, den) = if inverse {
        let den = mantissa
            .checked_mul(pow10_checked(exp_in)?)?
            .checked_mul(BPS_ONE)?;
        (pow10_checked(scale)?, den)
    } else {
        (
            mantissa,
            pow10_checked(exp_in + scale)?.checked_mul(BPS_ONE)?,
        )
    };
    let q = div_round_half_even(x, y, den)?;
    let q = i64::try_from(q).ok()?;
    Some(if amount.amount.0 < 0 { -q } else { q })
}

/// 10^0 ..= 10^38, every power of ten that fits in `u128`.
const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn pow10_checked(n: u32) -> Option<u128> {
    POW10.get(usize::try_from(n).ok()?).copied()
}

/// `x × y / den` rounded half-even, exactly (the product is carried in 256 bits); `None` when
/// `den` is 0, `den` ≥ 2^127, or the quotient does not fit in `u128`.
fn div_round_half_even(x: u128, y: u128, den: u128) -> Option<u128> {
    if den == 0 || den >> 127 != 0 {
        return None;
    }
    let (q, r) = match x.checked_mul(y) {
        // Everyday amounts and rates fit in 64 bits, where division is several times cheaper.
        Some(n) => match (u64::try_from(n), u64::try_from(den)) {
            (Ok(n64), Ok(d64)) => (u128::from(n64 / d64), u128::from(n64 % d64)),
            (Ok(_) | Err(_), Ok(_) | Err(_)) => {
                let q = n / den;
                (q, n - q * den)
            }
        },
        None => {
            let (hi, lo) = mul_wide(x, y);
            div_wide(hi, lo, den)?
        }
    };
    // den < 2^127, so 2r < 2·den fits.
    let twice = r << 1;
    let up = twice > den || (twice == den && q & 1 == 1);
    if up { q.checked_add(1) } else { Some(q) }
}

/// Full 256-bit product `a × b` as `(hi, lo)`.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & MASK);
    let (b1, b0) = (b >> 64, b & MASK);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Middle column: high half of p00 plus the low halves of p01 and p10 (< 3·2^64).
    let mid = (p00 >> 64) + (p01 & MASK) + (p10 & MASK);
    let lo = (p00 & MASK) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `(hi·2^128 + lo) / den` and the remainder; `None` when the quotient needs more than 128 bits.
/// Requires `den < 2^127`.
fn div_wide(hi: u128, lo: u128, den: u128) -> Option<(u128, u128)> {
    if hi >= den {
        return None;
    }
    let mut rem = hi;
    let mut q: u128 = 0;
    for bit in (0..128).rev() {
        // rem < den < 2^127, so the shift cannot lose a bit.
        rem = (rem << 1) | ((lo >> bit) & 1);
        q <<= 1;
        if rem >= den {
            rem -= den;
            q |= 1;
        }
    }
    Some((q, rem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn money(minor: i64, code: &str) -> Money {
        Money::new(MinorUnits(minor), cur(code))
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn fx(base: &str, quote: &str, rate: &str, markup_bps: u32) -> FxRate {
        FxRate {
            base: cur(base),
            quote: cur(quote),
            rate: Rate::parse(rate).unwrap(),
            markup_bps,
            source: "manual".into(),
            updated_at: t0(),
        }
    }

    fn table(rates: Vec<FxRate>) -> FxTable {
        FxTable { rates }
    }

    #[test]
    fn rate_parse_and_format() {
        for (text, want) in [
            ("0.34", "0.34"),
            ("1e-3", "0.001"),
            ("1E-3", "0.001"),
            ("1.08", "1.08"),
            ("150", "150"),
            ("150.000", "150"),
            ("1.5e2", "150"),
            ("0.000000000001", "0.000000000001"),
            ("0.1000000000000000000000", "0.1"),
            ("1000000000000", "1000000000000"),
            ("1e12", "1000000000000"),
            ("999999999999.999999999999", "999999999999.999999999999"),
            ("12345e-12", "0.000000012345"),
            ("12345e-14", ""),
            ("0.0e5", ""),
        ] {
            match Rate::parse(text) {
                Ok(r) => {
                    assert_eq!(r.to_decimal_string(), want, "{text}");
                    assert_eq!(Rate::parse(&r.to_decimal_string()), Ok(r));
                }
                Err(e) => {
                    assert_eq!(want, "", "{text}: {e}");
                }
            }
        }
        assert_eq!(Rate::parse("1.50"), Rate::parse("1.5"));
    }

    #[test]
    fn rate_rejections() {
        for bad in [
            "",
            "0",
            "0.0",
            "-1",
            "-0.5",
            "+1",
            "1.",
            ".5",
            "01",
            "1e",
            "1e+",
            "abc",
            "1.5x",
            " 1",
            "0.0000000000001",
            "1e-13",
            "1000000000000.5",
            "1000000000001",
            "1e13",
            "1e999999999999999999",
            "1e-999999999999999999",
            "NaN",
            "Infinity",
        ] {
            assert_eq!(
                Rate::parse(bad),
                Err("must be a positive number with at most 12 decimals"),
                "{bad:?}"
            );
        }
        assert!(Rate::from_parts(0, 0).is_err());
        assert!(Rate::from_parts(1, 13).is_err());
        assert_eq!(
            Rate::from_parts(10, 13).map(|r| r.to_decimal_string()),
            Ok("0.000000000001".into())
        );
    }

    #[test]
    fn rate_serde_is_a_decimal_string() {
        let r = Rate::parse("0.34").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"0.34\"");
        let back: Rate = serde_json::from_str("\"0.340\"").unwrap();
        assert_eq!(back, r);
        let whole: Rate = serde_json::from_str("3").unwrap();
        assert_eq!(whole.to_decimal_string(), "3");
        assert!(serde_json::from_str::<Rate>("\"0\"").is_err());
        let row = fx("GEL", "EUR", "0.34", 25);
        let json = serde_json::to_string(&row).unwrap();
        assert!(json.contains("\"rate\":\"0.34\""), "{json}");
        let back: FxRate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn lookup_direct_then_inverse_and_staleness() {
        let mut stale = fx("EUR", "USD", "1.08", 0);
        stale.updated_at = t0() - Duration::seconds(61);
        let t = table(vec![
            stale,
            fx("USD", "EUR", "0.9", 0),
            fx("GEL", "EUR", "0.34", 0),
        ]);
        let (eur, usd, gel) = (cur("EUR"), cur("USD"), cur("GEL"));
        // Never stale with 0: the direct EUR→USD wins.
        let (r, inv) = t.lookup(eur, usd, t0(), 0).unwrap();
        assert_eq!((r.rate.to_decimal_string().as_str(), inv), ("1.08", false));
        // 60 s max age: the direct one is stale, the inverse of USD→EUR is used.
        let (r, inv) = t.lookup(eur, usd, t0(), 60).unwrap();
        assert_eq!((r.rate.to_decimal_string().as_str(), inv), ("0.9", true));
        // Exactly max age old is still fresh.
        let (r, _) = t
            .lookup(eur, usd, t0() + Duration::seconds(-1), 60)
            .unwrap();
        assert_eq!(r.rate.to_decimal_string(), "1.08");
        let (_, inv) = t.lookup(eur, gel, t0(), 0).unwrap();
        assert!(inv);
        // No triangulation: GEL→USD would need EUR in between.
        assert!(t.lookup(gel, usd, t0(), 0).is_none());
    }

    #[test]
    fn convert_examples() {
        let t = table(vec![
            fx("GEL", "EUR", "0.34", 0),
            fx("EUR", "JPY", "160.5", 100),
            fx("EUR", "KWD", "0.333", 0),
        ]);
        let now = t0();
        let conv = |m: Money, to: &str, d: Direction| {
            convert(m, cur(to), d, &t, now, 0).map(|c| (c.amount.amount.0, c.inverse))
        };
        // 100.00 GEL × 0.34 = 34.00 EUR.
        assert_eq!(
            conv(money(10_000, "GEL"), "EUR", Direction::Payin),
            Some((3_400, false))
        );
        // 34.00 EUR / 0.34 = 100.00 GEL (inverse, exact).
        assert_eq!(
            conv(money(3_400, "EUR"), "GEL", Direction::Payin),
            Some((10_000, true))
        );
        // 10.00 EUR / 0.34 = 29.411764… GEL → 29.41.
        assert_eq!(
            conv(money(1_000, "EUR"), "GEL", Direction::Payout),
            Some((2_941, true))
        );
        // 10.00 EUR × 160.5 × 1.01 = 1621.05 JPY → 1621 (payin markup).
        assert_eq!(
            conv(money(1_000, "EUR"), "JPY", Direction::Payin),
            Some((1_621, false))
        );
        // × 0.99 = 1588.95 → 1589 (payout markup).
        assert_eq!(
            conv(money(1_000, "EUR"), "JPY", Direction::Payout),
            Some((1_589, false))
        );
        // 1000 JPY back to EUR (inverse of 160.5, with markup): 1000 / 160.5 × 1.01 = 6.2928… → 6.29.
        assert_eq!(
            conv(money(1_000, "JPY"), "EUR", Direction::Payin),
            Some((629, true))
        );
        // 1.00 EUR × 0.333 = 0.333 KWD (3 decimals, exact).
        assert_eq!(
            conv(money(100, "EUR"), "KWD", Direction::Payin),
            Some((333, false))
        );
        // No rate, same currency.
        assert_eq!(conv(money(100, "USD"), "EUR", Direction::Payin), None);
        assert_eq!(conv(money(100, "EUR"), "EUR", Direction::Payin), None);
        // A zero result makes `convert` refuse; the plain conversion allows 0.
        assert_eq!(conv(money(0, "EUR"), "JPY", Direction::Payin), None);
        assert_eq!(
            convert_plain(money(0, "EUR"), cur("JPY"), &t, now, 0),
            Some(money(0, "JPY"))
        );
        let full = convert(
            money(1_000, "EUR"),
            cur("JPY"),
            Direction::Payin,
            &t,
            now,
            0,
        )
        .unwrap();
        assert_eq!(full.markup_bps, 100);
        assert_eq!(full.rate, t.rates[1]);
        assert_eq!(full.amount, money(1_621, "JPY"));
    }

    #[test]
    fn half_even_ties() {
        let t = table(vec![fx("EUR", "USD", "0.5", 0), fx("EUR", "JPY", "0.5", 0)]);
        let now = t0();
        let plain = |minor: i64, to: &str| {
            convert_plain(money(minor, "EUR"), cur(to), &t, now, 0).map(|m| m.amount.0)
        };
        // 0.05 × 0.5 = 0.025 → 0.02; 0.15 × 0.5 = 0.075 → 0.08; 0.03 × 0.5 = 0.015 → 0.02.
        assert_eq!(plain(5, "USD"), Some(2));
        assert_eq!(plain(15, "USD"), Some(8));
        assert_eq!(plain(3, "USD"), Some(2));
        assert_eq!(plain(1, "USD"), Some(0));
        // 5.00 EUR × 0.5 = 2.5 JPY → 2; 7.00 × 0.5 = 3.5 → 4; 9.02 × 0.5 = 4.51 → 5.
        assert_eq!(plain(500, "JPY"), Some(2));
        assert_eq!(plain(700, "JPY"), Some(4));
        assert_eq!(plain(902, "JPY"), Some(5));
        // Negative amounts round symmetrically.
        assert_eq!(plain(-5, "USD"), Some(-2));
        assert_eq!(plain(-15, "USD"), Some(-8));
        // 1 cent × 0.5 = 0.5 cent → 0 → convert refuses.
        assert_eq!(
            convert(money(1, "EUR"), cur("USD"), Direction::Payin, &t, now, 0),
            None
        );
    }

    #[test]
    fn markup_extremes_and_large_values() {
        let now = t0();
        let t = table(vec![fx("EUR", "USD", "1", 10_000)]);
        // Payout with 100 % markup: effective rate 0 → None; payin doubles.
        assert_eq!(
            convert(money(100, "EUR"), cur("USD"), Direction::Payout, &t, now, 0),
            None
        );
        assert_eq!(
            convert(money(100, "EUR"), cur("USD"), Direction::Payin, &t, now, 0)
                .map(|c| c.amount.amount.0),
            Some(200)
        );
        // Largest amount × largest rate overflows; × 1 does not.
        let big = table(vec![fx("EUR", "USD", "1e12", 0), fx("EUR", "GBP", "1", 0)]);
        assert_eq!(
            convert(
                money(MAX_MINOR, "EUR"),
                cur("USD"),
                Direction::Payin,
                &big,
                now,
                0
            ),
            None
        );
        assert_eq!(
            convert(
                money(MAX_MINOR, "EUR"),
                cur("GBP"),
                Direction::Payin,
                &big,
                now,
                0
            )
            .map(|c| c.amount.amount.0),
            Some(MAX_MINOR)
        );
        // 256-bit path: a 24-digit mantissa times a large amount, exact.
        let wide = table(vec![fx("CLF", "JPY", "999999999999.999999999999", 0)]);
        let got = convert_plain(money(1, "CLF"), cur("JPY"), &wide, now, 0);
        // 0.0001 CLF × 999999999999.999999999999 = 99999999.9999999999999999 → 100000000.
        assert_eq!(got, Some(money(100_000_000, "JPY")));
        let inv = convert_plain(money(MAX_MINOR, "JPY"), cur("CLF"), &wide, now, 0);
        // 9007199254740991 JPY / 999999999999.999999999999 = 9007.19925474099100… CLF → 90071992.547… minor → 90071993.
        assert_eq!(inv, Some(money(90_071_993, "CLF")));
        // A product beyond u128 with an in-range plain result (the 256-bit path):
        // 5,000,000 CLF × 999999999999.999999999999 = 4999999999999999999.999995 JPY → 5·10^18.
        let huge = convert_plain(money(50_000_000_000, "CLF"), cur("JPY"), &wide, now, 0);
        assert_eq!(huge, Some(money(5_000_000_000_000_000_000, "JPY")));
        assert!(
            50_000_000_000u128
                .checked_mul(10_000 * 999_999_999_999_999_999_999_999)
                .is_none()
        );
        // … which is beyond MAX_MINOR for an executed amount.
        assert_eq!(
            convert(
                money(50_000_000_000, "CLF"),
                cur("JPY"),
                Direction::Payin,
                &wide,
                now,
                0
            ),
            None
        );
    }

    #[test]
    fn wide_arithmetic() {
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(mul_wide(1 << 64, 1 << 64), (1, 0));
        assert_eq!(mul_wide(3, 5), (0, 15));
        assert_eq!(div_wide(1, 0, 3), Some((u128::MAX / 3, 1)));
        assert_eq!(div_wide(3, 0, 3), None);
        assert_eq!(div_round_half_even(7, 1, 2), Some(4));
        assert_eq!(div_round_half_even(5, 1, 2), Some(2));
        assert_eq!(div_round_half_even(5, 1, 0), None);
    }

    // ---- property tests against an independent big-integer check ----

    /// Minimal test-only unsigned big integer (base 2^32 limbs, little endian).
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Big(Vec<u32>);

    impl Big {
        fn from_u128(mut v: u128) -> Big {
            let mut limbs = Vec::new();
            while v > 0 {
                limbs.push(v as u32);
                v >>= 32;
            }
            Big(limbs)
        }
        fn mul(&self, other: &Big) -> Big {
            let mut out = vec![0u64; self.0.len() + other.0.len() + 1];
            for (i, &a) in self.0.iter().enumerate() {
                let mut carry = 0u64;
                for (j, &b) in other.0.iter().enumerate() {
                    let cur = out[i + j] + u64::from(a) * u64::from(b) + carry;
                    out[i + j] = cur & 0xffff_ffff;
                    carry = cur >> 32;
                }
                let mut k = i + other.0.len();
                while carry > 0 {
                    let cur = out[k] + carry;
                    out[k] = cur & 0xffff_ffff;
                    carry = cur >> 32;
                    k += 1;
                }
            }
            let mut limbs: Vec<u32> = out.into_iter().map(|l| l as u32).collect();
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
            Big(limbs)
        }
        fn mulu(&self, v: u128) -> Big {
            self.mul(&Big::from_u128(v))
        }
    }

    impl PartialOrd for Big {
        fn partial_cmp(&self, other: &Big) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Big {
        fn cmp(&self, other: &Big) -> std::cmp::Ordering {
            self.0
                .len()
                .cmp(&other.0.len())
                .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
        }
    }

    fn big_pow10(n: u32) -> Big {
        (0..n).fold(Big::from_u128(1), |b, _| b.mulu(10))
    }

    /// The exact result as the fraction `num / den` (positive amounts).
    fn exact(
        minor: u64,
        exp_in: u8,
        exp_out: u8,
        rate: Rate,
        inverse: bool,
        factor: u128,
    ) -> (Big, Big) {
        let a = Big::from_u128(u128::from(minor))
            .mulu(factor)
            .mul(&big_pow10(u32::from(exp_out)));
        let m = Big::from_u128(rate.mantissa());
        let s = big_pow10(u32::from(rate.scale()));
        let base = big_pow10(u32::from(exp_in)).mulu(10_000);
        if inverse {
            (a.mul(&s), base.mul(&m))
        } else {
            (a.mul(&m), base.mul(&s))
        }
    }

    /// `q` is `num/den` rounded half-even: |2num − 2q·den| ≤ den, even on a tie.
    fn is_half_even_rounding(q: u64, num: &Big, den: &Big) -> bool {
        let two_num = num.mulu(2);
        let lower = den.mulu(2 * u128::from(q) + 1); // (2q+1)·den ≥ 2num
        let within_up = two_num <= lower;
        let within_down = q == 0 || den.mulu(2 * u128::from(q) - 1) <= two_num;
        let tie = two_num == lower || (q > 0 && den.mulu(2 * u128::from(q) - 1) == two_num);
        within_up && within_down && (!tie || q.is_multiple_of(2))
    }

    const PAIRS: [(&str, &str); 5] = [
        ("JPY", "KRW"),
        ("USD", "EUR"),
        ("GBP", "CHF"),
        ("KWD", "BHD"),
        ("CLF", "UYW"),
    ];

    fn currency_of_exp(exp: u8, second: bool) -> Currency {
        let idx = match exp {
            0 => 0,
            2 => 1,
            3 => 3,
            4 => 4,
            _ => 2,
        };
        let (a, b) = PAIRS[idx];
        cur(if second { b } else { a })
    }

    fn rate_strategy() -> impl Strategy<Value = Rate> {
        prop_oneof![
            // Any valid rate.
            (1u128..=10u128.pow(24), 0u8..=12)
                .prop_filter_map("range", |(m, s)| { Rate::from_parts(m, s).ok() }),
            // Everyday rates: up to 13 significant digits, 4 to 12 decimals.
            (1u128..=10u128.pow(13), 4u8..=12)
                .prop_filter_map("range", |(m, s)| { Rate::from_parts(m, s).ok() }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn conversion_is_exact_half_even(
            minor in prop_oneof![1i64..=1_000_000, 1i64..=MAX_MINOR],
            exp_in in prop::sample::select(vec![0u8, 2, 3, 4]),
            exp_out in prop::sample::select(vec![0u8, 2, 3, 4]),
            rate in rate_strategy(),
            bps in prop_oneof![Just(0u32), 0u32..=10_000],
            payin in any::<bool>(),
            inverse in any::<bool>(),
        ) {
            let from = currency_of_exp(exp_in, false);
            let to = currency_of_exp(exp_out, true);
            let (base, quote) = if inverse { (to, from) } else { (from, to) };
            let row = FxRate { base, quote, rate, markup_bps: bps, source: "p".into(), updated_at: t0() };
            let t = FxTable { rates: vec![row] };
            let direction = if payin { Direction::Payin } else { Direction::Payout };
            let factor = if payin { 10_000 + u128::from(bps) } else { 10_000 - u128::from(bps) };
            let amount = Money::new(MinorUnits(minor), from);
            let (num, den) = exact(minor.unsigned_abs(), exp_in, exp_out, rate, inverse, factor);
            match convert(amount, to, direction, &t, t0(), 0) {
                Some(c) => {
                    prop_assert_eq!(c.inverse, inverse);
                    prop_assert_eq!(c.amount.currency, to);
                    prop_assert_eq!(c.markup_bps, bps);
                    let q = c.amount.amount.0;
                    prop_assert!(q > 0 && q <= MAX_MINOR);
                    prop_assert!(is_half_even_rounding(q.unsigned_abs(), &num, &den));
                }
                None => {
                    // Only when the rounded result is 0 or beyond MAX_MINOR.
                    let rounds_to_zero = is_half_even_rounding(0, &num, &den);
                    let too_big = num.mulu(2) >= den.mulu(2 * MAX_MINOR.unsigned_abs() as u128 + 1);
                    prop_assert!(rounds_to_zero || too_big);
                }
            }
            // The plain conversion is the same with factor 1.
            let (pnum, pden) = exact(minor.unsigned_abs(), exp_in, exp_out, rate, inverse, 10_000);
            match convert_plain(amount, to, &t, t0(), 0) {
                Some(m) => prop_assert!(is_half_even_rounding(m.amount.0.unsigned_abs(), &pnum, &pden)),
                None => prop_assert!(pnum >= pden.mulu(i64::MAX as u128)),
            }
        }

        #[test]
        fn inverse_matches_direct_reciprocal(
            minor in 1i64..=MAX_MINOR,
            twos in 0u32..=12,
            fives in 0u32..=12,
            up in any::<bool>(),
            bps in 0u32..=10_000,
            payin in any::<bool>(),
        ) {
            // r = 2^twos·5^fives or its reciprocal; both have exact short decimal forms.
            let n = 2u128.pow(twos) * 5u128.pow(fives);
            let k = twos.max(fives); // 1/n = (10^k / n) / 10^k exactly
            let recip = Rate::from_parts(10u128.pow(k) / n, k as u8).unwrap();
            let whole = Rate::from_parts(n, 0).unwrap();
            let (r, r_inv) = if up { (whole, recip) } else { (recip, whole) };
            let (eur, gbp) = (cur("EUR"), cur("GBP"));
            let mk = |base, quote, rate| FxRate { base, quote, rate, markup_bps: bps, source: "p".into(), updated_at: t0() };
            let inverse_table = FxTable { rates: vec![mk(gbp, eur, r)] };
            let direct_table = FxTable { rates: vec![mk(eur, gbp, r_inv)] };
            let direction = if payin { Direction::Payin } else { Direction::Payout };
            let amount = Money::new(MinorUnits(minor), eur);
            let a = convert(amount, gbp, direction, &inverse_table, t0(), 0);
            let b = convert(amount, gbp, direction, &direct_table, t0(), 0);
            prop_assert_eq!(a.as_ref().map(|c| c.amount), b.as_ref().map(|c| c.amount));
            prop_assert!(a.is_none_or(|c| c.inverse));
            prop_assert_eq!(
                convert_plain(amount, gbp, &inverse_table, t0(), 0),
                convert_plain(amount, gbp, &direct_table, t0(), 0)
            );
        }

        #[test]
        fn round_trip_without_markup_stays_close(
            minor in 1i64..=1_000_000_000_000,
            rate in (1u128..=10u128.pow(13), 4u8..=12).prop_filter_map("range", |(m, s)| Rate::from_parts(m, s).ok()),
        ) {
            // EUR → USD with the rate and back with the same rate used inversely: the error of
            // the first rounding (≤ ½ cent) is scaled by 1/rate, plus ½ cent for the second one.
            let (eur, usd) = (cur("EUR"), cur("USD"));
            let t = FxTable { rates: vec![FxRate { base: eur, quote: usd, rate, markup_bps: 0, source: "p".into(), updated_at: t0() }] };
            let there = convert_plain(Money::new(MinorUnits(minor), eur), usd, &t, t0(), 0);
            if let Some(there) = there {
                let back = convert_plain(there, eur, &t, t0(), 0).unwrap();
                // |back − minor| ≤ ½ + ½/rate  ⇔  2·|back − minor|·rate ≤ rate + 1.
                let diff = Big::from_u128(u128::from(back.amount.0.abs_diff(minor)));
                let m = Big::from_u128(rate.mantissa());
                let lhs = diff.mulu(2).mul(&m);
                let rhs = Big::from_u128(rate.mantissa() + 10u128.pow(u32::from(rate.scale())));
                prop_assert!(lhs <= rhs);
            }
        }

        #[test]
        fn rate_text_round_trips(m in 1u128..=10u128.pow(24), s in 0u8..=12) {
            if let Ok(r) = Rate::from_parts(m, s) {
                let text = r.to_decimal_string();
                prop_assert_eq!(Rate::parse(&text), Ok(r));
                let exp_form = format!("{}e-{}", r.mantissa(), r.scale());
                prop_assert_eq!(Rate::parse(&exp_form), Ok(r));
            }
        }

        #[test]
        fn rate_parse_never_panics(text in "[-+0-9.eE]{0,40}") {
            let _ = Rate::parse(&text);
        }
    }
}
