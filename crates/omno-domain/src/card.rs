//! Card helpers: PAN validation (Luhn), BIN brand, masking, expiry and CVV.
//!
//! Contract (API.md §5.2, §7.2). The PAN and the CVV are secrets (STYLE.md R16): their types
//! have masked `Debug`, and neither `Display` nor `Serialize`, so they cannot leak into logs or
//! responses by accident.

use std::fmt;

/// A validated PAN: 12–19 digits, Luhn-valid. `Debug` prints only the mask; no `Serialize`,
/// no `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber(String);

impl CardNumber {
    /// Parses a PAN; spaces are ignored, then 12–19 ASCII digits passing the Luhn check.
    pub fn parse(s: &str) -> Result<CardNumber, &'static str> {
        let digits: String = s.chars().filter(|&c| c != ' ').collect();
        if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be 12-19 digits");
        }
        if !luhn_valid(&digits) {
            return Err("is not a valid card number");
        }
        Ok(CardNumber(digits))
    }

    /// The PAN digits, without spaces. Handle with care.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The display mask (`cardMask`): for 15–19 digits the first 6 and last 4 stay visible
    /// (`411111******1111`); for 12–14 digits only the first 4 and last 4, so at least four
    /// digits are always hidden.
    pub fn mask(&self) -> String {
        let len = self.0.len();
        let head = if len >= 15 { 6 } else { 4 };
        let hidden = len.saturating_sub(head + 4);
        let first = self.0.get(..head).unwrap_or_default();
        let last = self.0.get(len.saturating_sub(4)..).unwrap_or_default();
        format!("{first}{}{last}", "*".repeat(hidden))
    }

    /// The brand derived from the BIN (§7.2).
    pub fn brand(&self) -> CardBrand {
        CardBrand::from_bin(&self.0)
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        self.0
            .get(self.0.len().saturating_sub(4)..)
            .unwrap_or_default()
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mask())
    }
}

/// The Luhn (mod 10) check over a string of ASCII digits; `false` for empty input or any
/// non-digit.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Card brand as derived from the BIN (API.md §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// American Express: 34, 37.
    Amex,
    /// Diners Club: 300–305, 36, 38, 39.
    Diners,
    /// JCB: 3528–3589.
    Jcb,
    /// Discover: 6011, 644–649, 65.
    Discover,
    /// UnionPay: 62.
    UnionPay,
    /// Mastercard: 51–55, 2221–2720.
    Mastercard,
    /// Maestro: 50, 56–58 and the remaining 6-prefixes.
    Maestro,
    /// Visa: 4.
    Visa,
    /// Anything else.
    Unknown,
}

impl CardBrand {
    /// The wire name (`"VISA"`, `"MASTERCARD"`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            CardBrand::Amex => "AMEX",
            CardBrand::Diners => "DINERS",
            CardBrand::Jcb => "JCB",
            CardBrand::Discover => "DISCOVER",
            CardBrand::UnionPay => "UNIONPAY",
            CardBrand::Mastercard => "MASTERCARD",
            CardBrand::Maestro => "MAESTRO",
            CardBrand::Visa => "VISA",
            CardBrand::Unknown => "UNKNOWN",
        }
    }

    /// The brand of a PAN (or BIN prefix): the first rule of §7.2 that matches.
    pub fn from_bin(digits: &str) -> CardBrand {
        let p1 = prefix(digits, 1);
        let p2 = prefix(digits, 2);
        let p3 = prefix(digits, 3);
        let p4 = prefix(digits, 4);
        let in_range = |p: Option<u32>, lo: u32, hi: u32| p.is_some_and(|v| (lo..=hi).contains(&v));
        if matches!(p2, Some(34 | 37)) {
            CardBrand::Amex
        } else if in_range(p3, 300, 305) || matches!(p2, Some(36 | 38 | 39)) {
            CardBrand::Diners
        } else if in_range(p4, 3528, 3589) {
            CardBrand::Jcb
        } else if p4 == Some(6011) || in_range(p3, 644, 649) || p2 == Some(65) {
            CardBrand::Discover
        } else if p2 == Some(62) {
            CardBrand::UnionPay
        } else if in_range(p2, 51, 55) || in_range(p4, 2221, 2720) {
            CardBrand::Mastercard
        } else if p2 == Some(50) || in_range(p2, 56, 58) || p1 == Some(6) {
            CardBrand::Maestro
        } else if p1 == Some(4) {
            CardBrand::Visa
        } else {
            CardBrand::Unknown
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number formed by the first `n` characters, if they are all ASCII digits.
fn prefix(digits: &str, n: usize) -> Option<u32> {
    let head = digits.as_bytes().get(..n)?;
    head.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// A card verification value: 3 or 4 digits. `Debug` prints `***`; no `Serialize`, no
/// `Display`. Never stored (API.md §5.2).
#[derive(Clone, PartialEq, Eq)]
pub struct Cvv(String);

impl Cvv {
    /// Parses 3 or 4 ASCII digits.
    pub fn parse(s: &str) -> Result<Cvv, &'static str> {
        if (3..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Cvv(s.to_owned()))
        } else {
            Err("must be 3 or 4 digits")
        }
    }

    /// The digits, for the PSP request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A card's expiry month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardExpiry {
    /// 1–12.
    pub month: u8,
    /// Four-digit year.
    pub year: u16,
}

impl CardExpiry {
    /// Parses the wire fields: month `"1"`–`"12"`, optionally zero-padded (`"09"`); year
    /// `"YYYY"` or `"YY"` (= 20YY). The error names the failing field (`"expirationMonth"` or
    /// `"expirationYear"`) and gives its message; the month is checked first.
    pub fn parse(month: &str, year: &str) -> Result<CardExpiry, (&'static str, &'static str)> {
        const MONTH: (&str, &str) = ("expirationMonth", "must be a month from 1 to 12");
        const YEAR: (&str, &str) = ("expirationYear", "must be a year in YYYY or YY format");
        let month = match parse_digits(month, 1, 2) {
            // In 1..=12, so the cast is lossless.
            Some(m @ 1..=12) => m as u8,
            Some(_) | None => return Err(MONTH),
        };
        let year = match (year.len(), parse_digits(year, 2, 4)) {
            (2, Some(yy)) => 2000 + yy,
            (4, Some(yyyy)) => yyyy,
            _ => return Err(YEAR),
        };
        Ok(CardExpiry { month, year })
    }

    /// Whether the card has expired on `today` (UTC): it is valid through the last day of the
    /// expiry month.
    pub fn is_expired(&self, today: time::Date) -> bool {
        let now = (today.year(), u8::from(today.month()));
        (i32::from(self.year), self.month) < now
    }
}

/// `min..=max` ASCII digits as a number.
fn parse_digits(s: &str, min: usize, max: usize) -> Option<u16> {
    if !(min..=max).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u16, |acc, b| {
        acc.checked_mul(10)?.checked_add(u16::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    /// Appends the Luhn check digit to `body`.
    fn with_check_digit(body: &str) -> String {
        (0..=9)
            .map(|d| format!("{body}{d}"))
            .find(|s| luhn_valid(s))
            .unwrap()
    }

    #[test]
    fn luhn() {
        for ok in [
            "4111111111111111",
            "4000000000000002",
            "5555555555554444",
            "378282246310005",
            "4000000000003220",
            "0",
        ] {
            assert!(luhn_valid(ok), "{ok}");
        }
        for bad in [
            "4111111111111112",
            "4000000000000001",
            "5555555555554443",
            "1111111111111111",
            "",
            "4111 1111 1111 1111",
            "411111111111111a",
        ] {
            assert!(!luhn_valid(bad), "{bad}");
        }
    }

    #[test]
    fn card_number_parse() {
        let c = CardNumber::parse("4111 1111 1111 1111").unwrap();
        assert_eq!(c.digits(), "4111111111111111");
        assert_eq!(c.last4(), "1111");
        assert_eq!(c.brand(), CardBrand::Visa);
        assert_eq!(
            CardNumber::parse("4111111111111112").unwrap_err(),
            "is not a valid card number"
        );
        for bad in [
            "",
            "41111111111",
            "41111111111111111111",
            "4111-1111-1111-1111",
            "4111\t1111111111111",
            "４111111111111111",
        ] {
            assert_eq!(
                CardNumber::parse(bad).unwrap_err(),
                "must be 12-19 digits",
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_pan() {
        let c = CardNumber::parse("4111111111111111").unwrap();
        let dbg = format!("{c:?}");
        assert_eq!(dbg, "411111******1111");
        let cvv = Cvv::parse("737").unwrap();
        assert_eq!(format!("{cvv:?}"), "***");
        assert_eq!(cvv.expose(), "737");
    }

    #[test]
    fn masks() {
        let mask = |pan: &str| CardNumber::parse(pan).unwrap().mask();
        assert_eq!(mask("4111111111111111"), "411111******1111");
        assert_eq!(mask("378282246310005"), "378282*****0005");
        let pan19 = with_check_digit("411111111111111111");
        assert_eq!(mask(&pan19), format!("411111*********{}", &pan19[15..]));
        let pan12 = with_check_digit("41111111111");
        assert_eq!(mask(&pan12), format!("4111****{}", &pan12[8..]));
        let pan14 = with_check_digit("3000000000000");
        assert_eq!(mask(&pan14), format!("3000******{}", &pan14[10..]));
        assert_eq!(
            CardNumber::parse(&pan14).unwrap().brand(),
            CardBrand::Diners
        );
    }

    #[test]
    fn brands() {
        let cases = [
            ("34", CardBrand::Amex),
            ("37", CardBrand::Amex),
            ("35", CardBrand::Unknown),
            ("300", CardBrand::Diners),
            ("305", CardBrand::Diners),
            ("306", CardBrand::Unknown),
            ("36", CardBrand::Diners),
            ("38", CardBrand::Diners),
            ("39", CardBrand::Diners),
            ("3527", CardBrand::Unknown),
            ("3528", CardBrand::Jcb),
            ("3589", CardBrand::Jcb),
            ("3590", CardBrand::Unknown),
            ("6011", CardBrand::Discover),
            ("6012", CardBrand::Maestro),
            ("643", CardBrand::Maestro),
            ("644", CardBrand::Discover),
            ("649", CardBrand::Discover),
            ("65", CardBrand::Discover),
            ("62", CardBrand::UnionPay),
            ("6200", CardBrand::UnionPay),
            ("51", CardBrand::Mastercard),
            ("55", CardBrand::Mastercard),
            ("2220", CardBrand::Unknown),
            ("2221", CardBrand::Mastercard),
            ("2720", CardBrand::Mastercard),
            ("2721", CardBrand::Unknown),
            ("50", CardBrand::Maestro),
            ("56", CardBrand::Maestro),
            ("58", CardBrand::Maestro),
            ("59", CardBrand::Unknown),
            ("6304", CardBrand::Maestro),
            ("6999", CardBrand::Maestro),
            ("4", CardBrand::Visa),
            ("4111111111111111", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("1", CardBrand::Unknown),
            ("", CardBrand::Unknown),
            ("x4", CardBrand::Unknown),
        ];
        for (bin, want) in cases {
            assert_eq!(CardBrand::from_bin(bin), want, "{bin}");
        }
        assert_eq!(CardBrand::UnionPay.as_str(), "UNIONPAY");
        assert_eq!(CardBrand::Unknown.to_string(), "UNKNOWN");
    }

    #[test]
    fn cvv() {
        assert!(Cvv::parse("123").is_ok());
        assert!(Cvv::parse("1234").is_ok());
        for bad in ["", "12", "12345", "12a", " 123", "１２３"] {
            assert_eq!(
                Cvv::parse(bad).unwrap_err(),
                "must be 3 or 4 digits",
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_parse() {
        let e = |m, y| CardExpiry::parse(m, y);
        assert_eq!(
            e("9", "2029"),
            Ok(CardExpiry {
                month: 9,
                year: 2029
            })
        );
        assert_eq!(
            e("09", "29"),
            Ok(CardExpiry {
                month: 9,
                year: 2029
            })
        );
        assert_eq!(
            e("1", "2030"),
            Ok(CardExpiry {
                month: 1,
                year: 2030
            })
        );
        assert_eq!(
            e("12", "2030"),
            Ok(CardExpiry {
                month: 12,
                year: 2030
            })
        );
        for m in ["0", "00", "13", "012", "", "a", " 9", "-1"] {
            assert_eq!(e(m, "2030").unwrap_err().0, "expirationMonth", "{m}");
        }
        for y in ["", "2", "202", "20301", "20a0", "+30"] {
            assert_eq!(e("1", y).unwrap_err().0, "expirationYear", "{y}");
        }
        assert_eq!(e("13", "x").unwrap_err().0, "expirationMonth");
    }

    #[test]
    fn expiry_is_valid_through_the_end_of_the_month() {
        let exp = CardExpiry {
            month: 9,
            year: 2029,
        };
        assert!(!exp.is_expired(date!(2029 - 09 - 30)));
        assert!(!exp.is_expired(date!(2029 - 09 - 01)));
        assert!(!exp.is_expired(date!(2028 - 12 - 31)));
        assert!(exp.is_expired(date!(2029 - 10 - 01)));
        assert!(exp.is_expired(date!(2030 - 01 - 01)));
        let dec = CardExpiry {
            month: 12,
            year: 2026,
        };
        assert!(!dec.is_expired(date!(2026 - 12 - 31)));
        assert!(dec.is_expired(date!(2027 - 01 - 01)));
        let jan = CardExpiry {
            month: 1,
            year: 2027,
        };
        assert!(!jan.is_expired(date!(2026 - 12 - 31)));
        assert!(!jan.is_expired(date!(2027 - 01 - 31)));
        assert!(jan.is_expired(date!(2027 - 02 - 01)));
    }

    proptest! {
        #[test]
        fn mask_hides_enough_and_keeps_length(body in "[0-9]{11,18}") {
            let pan = with_check_digit(&body);
            let card = CardNumber::parse(&pan).unwrap();
            let mask = card.mask();
            prop_assert_eq!(mask.len(), pan.len());
            let shown = mask.bytes().filter(u8::is_ascii_digit).count();
            prop_assert!(shown <= 10);
            prop_assert!(pan.len() - shown >= 4);
            prop_assert!(mask.ends_with(card.last4()));
            for (m, p) in mask.bytes().zip(pan.bytes()) {
                prop_assert!(m == b'*' || m == p);
            }
            prop_assert_eq!(format!("{card:?}"), mask);
        }

        #[test]
        fn single_digit_change_breaks_luhn(body in "[0-9]{11,18}", pos in 0usize..19, delta in 1u8..=9) {
            let pan = with_check_digit(&body);
            let pos = pos % pan.len();
            let mut bytes = pan.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let altered = String::from_utf8(bytes).unwrap();
            prop_assert!(!luhn_valid(&altered));
        }
    }
}
