//! Field rules shared by every request: string lengths, `orderId`, email, phone, dates, URLs
//! (including the webhook SSRF rule), IP literals, IBAN and `Idempotency-Key`.
//!
//! Each function returns the human message of the 400 as its error (API.md §1.7); the caller
//! attaches the field path. Rules follow API.md §1.3, §1.6, §2.1–2.4, §4.4 and §12.5.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use time::{Date, Month};

/// Default maximum length of a string field, in Unicode scalar values (API.md §1.6).
pub const MAX_STRING: usize = 255;

/// Maximum length of a URL field (API.md §1.6).
pub const MAX_URL: usize = 2048;

/// Maximum length of an email address.
pub const MAX_EMAIL: usize = 254;

/// The literal accepted by `returnUrls` instead of a URL (API.md §2.3).
pub const IFRAME_POST_MESSAGE: &str = "IFRAME_POST_MESSAGE";

const EMAIL_MSG: &str = "must be a valid email address";
const PHONE_MSG: &str = "must be a valid phone number";
const DATE_MSG: &str = "must be a date in YYYY-MM-DD format";
const URL_MSG: &str = "must be an absolute http(s) URL";
const IP_MSG: &str = "must be an IPv4 or IPv6 address";
const IBAN_MSG: &str = "must be a valid IBAN";
const IDEMPOTENCY_MSG: &str = "must be 1-255 visible ASCII characters";
const USERINFO_MSG: &str = "must not contain user information";
const SSRF_MSG: &str = "must not point to a loopback, private or reserved address";

/// The message for a string longer than `max` characters.
pub fn too_long_message(max: usize) -> String {
    format!("must be at most {max} characters")
}

/// At most `max` characters, counted as Unicode scalar values.
pub fn max_len(s: &str, max: usize) -> Result<(), String> {
    // Cheap exit: a string never has more scalar values than bytes.
    if s.len() <= max || s.chars().count() <= max {
        Ok(())
    } else {
        Err(too_long_message(max))
    }
}

/// Not blank (empty or only whitespace) and at most `max` characters.
pub fn non_blank(s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be blank".to_owned());
    }
    max_len(s, max)
}

/// A merchant `orderId`: 1–255 characters, no control characters (API.md §1.3).
pub fn order_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    max_len(s, MAX_STRING)?;
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// WHATWG HTML "valid e-mail address" syntax, with at least one dot in the domain and at most
/// 254 characters.
pub fn email(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_EMAIL {
        return Err(EMAIL_MSG);
    }
    let (local, domain) = s.split_once('@').ok_or(EMAIL_MSG)?;
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    if !local_ok || !domain.contains('.') || !domain.split('.').all(is_dns_label) {
        return Err(EMAIL_MSG);
    }
    Ok(())
}

/// A label of the WHATWG email domain: 1–63 alphanumerics with inner hyphens.
fn is_dns_label(label: &str) -> bool {
    let b = label.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// A phone number: after removing spaces, `+`, `-`, `(` and `)`, 5–20 digits.
pub fn phone(s: &str) -> Result<(), &'static str> {
    let mut count = 0usize;
    for c in s.chars() {
        match c {
            ' ' | '+' | '-' | '(' | ')' => {}
            '0'..='9' => count += 1,
            _ => return Err(PHONE_MSG),
        }
    }
    if (5..=20).contains(&count) {
        Ok(())
    } else {
        Err(PHONE_MSG)
    }
}

/// A strict `YYYY-MM-DD` date that exists in the calendar.
pub fn date(s: &str) -> Result<Date, &'static str> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(DATE_MSG);
    }
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        let part = b.get(range)?;
        part.iter().try_fold(0u16, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(DATE_MSG);
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or(DATE_MSG)?;
    let day = u8::try_from(day).map_err(|_| DATE_MSG)?;
    Date::from_calendar_date(i32::from(year), month, day).map_err(|_| DATE_MSG)
}

/// A date of birth: a valid date, on or after 1900-01-01 and strictly before `today` (UTC).
pub fn date_of_birth(s: &str, today: Date) -> Result<Date, &'static str> {
    let d = date(s)?;
    if d < time::macros::date!(1900 - 01 - 01) {
        return Err("must be on or after 1900-01-01");
    }
    if d >= today {
        return Err("must be in the past");
    }
    Ok(d)
}

/// The host of a syntactically valid http(s) URL.
#[derive(Debug, PartialEq, Eq)]
enum Host {
    /// An IP literal, including WHATWG numeric IPv4 spellings (`2130706433`, `0x7f.1`).
    Ip(IpAddr),
    /// A domain name, ASCII-lowercased, trailing dot removed.
    Domain(String),
}

/// The parts of an http(s) URL that the rules need.
#[derive(Debug)]
struct HttpUrl {
    has_userinfo: bool,
    host: Host,
}

/// Parses an absolute http(s) URL far enough to judge it.
fn parse_http_url(s: &str) -> Option<HttpUrl> {
    if s.chars().count() > MAX_URL
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    let (scheme, rest) = s.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end)?;
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(after) = host_port.strip_prefix('[') {
        let (inside, tail) = after.split_once(']')?;
        let port = match tail {
            "" => None,
            t => Some(t.strip_prefix(':')?),
        };
        let v6: Ipv6Addr = inside.parse().ok()?;
        (Host::Ip(IpAddr::V6(v6)), port)
    } else {
        let (h, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        (parse_host(h)?, port)
    };
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !p.is_empty() && p.trim_start_matches('0').len() > 5 {
            return None;
        }
        if p.parse::<u32>().is_ok_and(|n| n > 65_535) {
            return None;
        }
    }
    Some(HttpUrl {
        has_userinfo: userinfo.is_some(),
        host,
    })
}

/// Parses a non-bracketed host the way a WHATWG URL parser would see it: percent-decoded,
/// full-width forms folded, lowercase, numeric IPv4 spellings recognised.
fn parse_host(raw: &str) -> Option<Host> {
    let decoded = percent_decode(raw)?;
    let mut host = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        host.push(fold_width(c).to_ascii_lowercase());
    }
    if host.is_empty()
        || host.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '#' | '/' | ':' | '<' | '>' | '?' | '@' | '[' | '\\' | ']' | '^' | '|' | '%'
                )
        })
    {
        return None;
    }
    if let Some(ip) = whatwg_ipv4(&host)? {
        return Some(Host::Ip(IpAddr::V4(ip)));
    }
    let trimmed = host.strip_suffix('.').unwrap_or(&host);
    if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
        return None;
    }
    Some(Host::Domain(trimmed.to_owned()))
}

/// Decodes `%XX` escapes; `None` on a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Folds the full-width digits, letters and dots that IDNA maps to ASCII, so `１２７。０。０。１`
/// is judged as `127.0.0.1`.
fn fold_width(c: char) -> char {
    match c {
        '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    }
}

/// The WHATWG IPv4 parser: `Ok(None)` when the host is a domain, `Some(ip)` for a numeric
/// spelling (`127.1`, `0x7f000001`, `017700000001`), and `None` (outer) when the host "ends in
/// a number" but is not a valid IPv4 address, which makes the URL invalid.
fn whatwg_ipv4(host: &str) -> Option<Option<Ipv4Addr>> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.last() == Some(&"") && parts.len() > 1 {
        parts.pop();
    }
    let last = parts.last().copied().unwrap_or_default();
    let ends_in_number = !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || last
                .strip_prefix("0x")
                .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if !ends_in_number {
        return Some(None);
    }
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        numbers.push(whatwg_ipv4_number(part)?);
    }
    let (last_n, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let last_bits = 8 * (5 - numbers.len() as u32);
    if last_bits < 64 && *last_n >= 1u64 << last_bits {
        return None;
    }
    let mut value = *last_n;
    for (i, &n) in init.iter().enumerate() {
        value += n << (8 * (3 - i as u32));
    }
    let value = u32::try_from(value).ok()?;
    Some(Some(Ipv4Addr::from(value)))
}

/// One WHATWG IPv4 part: decimal, `0x` hex or leading-zero octal.
fn whatwg_ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = part.strip_prefix("0x") {
        (h, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    // Anything longer cannot be a valid part; also keeps u64 from overflowing.
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// An absolute `http://` or `https://` URL with a non-empty host, at most 2048 characters,
/// without whitespace or control characters.
pub fn http_url(s: &str) -> Result<(), &'static str> {
    parse_http_url(s).map(|_| ()).ok_or(URL_MSG)
}

/// A `returnUrls` entry: an http(s) URL or the literal `IFRAME_POST_MESSAGE` (API.md §2.3).
pub fn return_url(s: &str) -> Result<(), &'static str> {
    if s == IFRAME_POST_MESSAGE {
        Ok(())
    } else {
        http_url(s)
    }
}

/// A webhook target checked at request time (API.md §12.5): an http(s) URL without userinfo
/// whose host is not a refused IP literal, nor `localhost` unless loopback is allowed. Domain
/// names are resolved and checked again at every delivery with [`ip_refused`].
pub fn webhook_url(s: &str, allow_loopback: bool, allow_private: bool) -> Result<(), &'static str> {
    let url = parse_http_url(s).ok_or(URL_MSG)?;
    if url.has_userinfo {
        return Err(USERINFO_MSG);
    }
    match url.host {
        Host::Ip(ip) if ip_refused(ip, allow_loopback, allow_private) => Err(SSRF_MSG),
        Host::Ip(_) => Ok(()),
        Host::Domain(d) if !allow_loopback && (d == "localhost" || d.ends_with(".localhost")) => {
            Err(SSRF_MSG)
        }
        Host::Domain(_) => Ok(()),
    }
}

/// Whether a webhook may not connect to `ip` (API.md §12.5): loopback unless
/// `allow_loopback`; private and local ranges unless `allow_private`; multicast, broadcast and
/// reserved ranges always. IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4
/// address they carry.
pub fn ip_refused(ip: IpAddr, allow_loopback: bool, allow_private: bool) -> bool {
    let class = match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    };
    match class {
        AddrClass::Public => false,
        AddrClass::Loopback => !allow_loopback,
        AddrClass::Private => !allow_private,
        AddrClass::Reserved => true,
    }
}

/// How §12.5 treats an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrClass {
    Public,
    Loopback,
    Private,
    Reserved,
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    const PRIVATE: [([u8; 4], u32); 6] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
    ];
    // Multicast, broadcast (inside 240/4), class E, and IANA special-purpose blocks that are
    // never a legitimate webhook target (protocol assignments, documentation, benchmarking,
    // the retired 6to4 relay anycast).
    const RESERVED: [([u8; 4], u32); 8] = [
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 88, 99, 0], 24),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    if in_v4(ip, [127, 0, 0, 0], 8) {
        AddrClass::Loopback
    } else if PRIVATE.iter().any(|&(n, p)| in_v4(ip, n, p)) {
        AddrClass::Private
    } else if RESERVED.iter().any(|&(n, p)| in_v4(ip, n, p)) {
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let bits = u128::from(ip);
    // The low 32 bits as IPv4, for the translation prefixes below.
    let low_v4 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if ip == Ipv6Addr::LOCALHOST {
        AddrClass::Loopback
    } else if ip == Ipv6Addr::UNSPECIFIED {
        AddrClass::Private
    } else if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        // IPv4-mapped and NAT64 well-known prefix: the packet goes to the IPv4 address.
        classify_v4(low_v4)
    } else if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: the IPv4 address sits in bits 16..48.
        classify_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    } else if in_v6(ip, [0xfc00, 0, 0, 0, 0, 0, 0, 0], 7)
        || in_v6(ip, [0xfe80, 0, 0, 0, 0, 0, 0, 0], 10)
        || in_v6(ip, [0xfec0, 0, 0, 0, 0, 0, 0, 0], 10)
        || in_v6(ip, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48)
    {
        AddrClass::Private
    } else if in_v6(ip, [0xff00, 0, 0, 0, 0, 0, 0, 0], 8)
        || in_v6(ip, [0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32)
        || in_v6(ip, [0x2001, 0, 0, 0, 0, 0, 0, 0], 32)
        || in_v6(ip, [0x3fff, 0, 0, 0, 0, 0, 0, 0], 20)
        || !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)
    {
        // Multicast, documentation, Teredo, and everything outside global unicast 2000::/3
        // (including the deprecated IPv4-compatible ::/96).
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

/// An IPv4 or IPv6 literal in standard notation (`91.64.23.117`, `2001:db8::1`).
pub fn ip_literal(s: &str) -> Result<IpAddr, &'static str> {
    s.parse::<IpAddr>().map_err(|_| IP_MSG)
}

/// An IBAN (ISO 13616): spaces ignored, 15–34 alphanumerics, two letters then two digits, and
/// the mod-97 checksum equal to 1. Returns the uppercase IBAN without spaces.
pub fn iban(s: &str) -> Result<String, &'static str> {
    let normalized: String = s
        .chars()
        .filter(|&c| c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = normalized.as_bytes();
    if !(15..=34).contains(&b.len()) || !b.iter().all(u8::is_ascii_alphanumeric) {
        return Err(IBAN_MSG);
    }
    let (head, rest) = b.split_at(4);
    let [c1, c2, d1, d2] = head else {
        return Err(IBAN_MSG);
    };
    if !c1.is_ascii_uppercase()
        || !c2.is_ascii_uppercase()
        || !d1.is_ascii_digit()
        || !d2.is_ascii_digit()
    {
        return Err(IBAN_MSG);
    }
    let mut remainder = 0u32;
    for &c in rest.iter().chain(head) {
        remainder = if c.is_ascii_digit() {
            (remainder * 10 + u32::from(c - b'0')) % 97
        } else {
            // A = 10 … Z = 35: two decimal digits.
            (remainder * 100 + u32::from(c - b'A') + 10) % 97
        };
    }
    if remainder == 1 {
        Ok(normalized)
    } else {
        Err(IBAN_MSG)
    }
}

/// An `Idempotency-Key`: 1–255 characters, each visible ASCII (0x21–0x7E).
pub fn idempotency_key(s: &str) -> Result<(), &'static str> {
    if (1..=MAX_STRING).contains(&s.len()) && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(IDEMPOTENCY_MSG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn lengths_and_blank() {
        assert_eq!(max_len("", 0), Ok(()));
        assert_eq!(max_len(&"é".repeat(255), 255), Ok(()));
        assert_eq!(
            max_len(&"é".repeat(256), 255),
            Err("must be at most 255 characters".to_owned())
        );
        assert_eq!(max_len("😀😀", 2), Ok(()));
        assert_eq!(non_blank("a", 255), Ok(()));
        assert_eq!(non_blank(" a ", 255), Ok(()));
        for blank in ["", " ", "\t\n", "\u{3000}"] {
            assert_eq!(non_blank(blank, 255), Err("must not be blank".to_owned()));
        }
        assert_eq!(
            non_blank(&"x".repeat(1025), 1024),
            Err(too_long_message(1024))
        );
    }

    #[test]
    fn order_ids() {
        assert!(order_id("wd-2026-000184").is_ok());
        assert!(order_id(" ").is_ok());
        assert!(order_id(&"ß".repeat(255)).is_ok());
        assert!(order_id("").is_err());
        assert!(order_id(&"a".repeat(256)).is_err());
        assert!(order_id("a\nb").is_err());
        assert!(order_id("a\u{7f}").is_err());
        assert!(order_id("a\u{85}").is_err());
    }

    #[test]
    fn emails() {
        for ok in [
            "anna.keller@example.de",
            "a@b.co",
            "x+tag@mail.example.com",
            "!#$%&'*+/=?^_`{|}~-@a-b.c0",
            ".dots..@example.com",
            "A@EXAMPLE.DE",
        ] {
            assert_eq!(email(ok), Ok(()), "{ok}");
        }
        let long_label = "a".repeat(64);
        let long_total = format!("{}@{}.de", "a".repeat(200), "b".repeat(51));
        for bad in [
            "a@b",
            "a b@c.de",
            "",
            "@example.de",
            "anna@",
            "anna@@example.de",
            "anna@exa@mple.de",
            "anna@-example.de",
            "anna@example-.de",
            "anna@example..de",
            "anna@.example.de",
            "anna@example.de.",
            "anna@exa_mple.de",
            "änna@example.de",
            "anna@exämple.de",
            "\"anna\"@example.de",
            "anna@[127.0.0.1]",
            &format!("a@{long_label}.de"),
            &long_total,
        ] {
            assert_eq!(email(bad), Err("must be a valid email address"), "{bad}");
        }
        assert_eq!(long_total.len(), 255);
        assert!(email(&format!("a@{}.de", "b".repeat(63))).is_ok());
    }

    #[test]
    fn phones() {
        for ok in [
            "+49 30 901820",
            "12345",
            "(030) 901-820",
            "+1 (555) 010-0000",
            "1".repeat(20).as_str(),
        ] {
            assert_eq!(phone(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "1234",
            "+ ( ) -",
            "123456789012345678901",
            "030/901820",
            "12a45",
            "１２３４５",
            "12345\t",
        ] {
            assert_eq!(phone(bad), Err("must be a valid phone number"), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date("2024-02-29"), Ok(date!(2024 - 02 - 29)));
        assert_eq!(date("1900-01-01"), Ok(date!(1900 - 01 - 01)));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            "+2024-01-01",
            "2024-01-0a",
            "",
            "２０２４-01-01",
        ] {
            assert_eq!(
                date(bad),
                Err("must be a date in YYYY-MM-DD format"),
                "{bad}"
            );
        }
    }

    #[test]
    fn dates_of_birth() {
        let today = date!(2026 - 03 - 14);
        assert_eq!(
            date_of_birth("1990-05-17", today),
            Ok(date!(1990 - 05 - 17))
        );
        assert_eq!(
            date_of_birth("1900-01-01", today),
            Ok(date!(1900 - 01 - 01))
        );
        assert_eq!(
            date_of_birth("2026-03-13", today),
            Ok(date!(2026 - 03 - 13))
        );
        assert_eq!(
            date_of_birth("1899-12-31", today),
            Err("must be on or after 1900-01-01")
        );
        assert_eq!(
            date_of_birth("2026-03-14", today),
            Err("must be in the past")
        );
        assert_eq!(
            date_of_birth("2030-01-01", today),
            Err("must be in the past")
        );
        assert_eq!(
            date_of_birth("1990-02-30", today),
            Err("must be a date in YYYY-MM-DD format")
        );
    }

    #[test]
    fn http_urls() {
        for ok in [
            "https://shop.example.com/return?x=1#top",
            "http://example.com",
            "HTTPS://EXAMPLE.COM/",
            "https://example.com:8443/path",
            "https://user:pw@example.com/",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:3000/",
            "https://xn--mnchen-3ya.de/",
            "https://münchen.de/",
            "https://example.com:/",
        ] {
            assert_eq!(http_url(ok), Ok(()), "{ok}");
        }
        let too_long = format!("https://example.com/{}", "a".repeat(2048));
        for bad in [
            "",
            "example.com",
            "//example.com",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://:80/",
            "https://exa mple.com/",
            "https://example.com/a b",
            "https://example.com/\n",
            "https://example.com:99999/",
            "https://example.com:8a/",
            "https://[::1/",
            "https://[nope]/",
            "https://ex<ample.com/",
            "https://example.com\\@evil.com/",
            "https://1.2.3.4.5/",
            "https://256.1.1.1/",
            "https://a..b/",
            too_long.as_str(),
        ] {
            assert_eq!(
                http_url(bad),
                Err("must be an absolute http(s) URL"),
                "{bad}"
            );
        }
        assert_eq!(return_url("IFRAME_POST_MESSAGE"), Ok(()));
        assert_eq!(return_url("https://shop.example.com/ok"), Ok(()));
        assert!(return_url("iframe_post_message").is_err());
    }

    #[test]
    fn webhook_urls() {
        let strict = |u: &str| webhook_url(u, false, false);
        assert_eq!(strict("https://hooks.example.com/omno"), Ok(()));
        assert_eq!(strict("http://93.184.216.34/x"), Ok(()));
        assert_eq!(strict("http://[2606:4700::1111]/x"), Ok(()));
        assert_eq!(
            strict("https://user:pw@hooks.example.com/"),
            Err("must not contain user information")
        );
        for refused in [
            "http://localhost/",
            "http://LOCALHOST:8080/",
            "http://localhost./",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://%31%32%37.0.0.1/",
            "http://１２７。０。０。１/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[ff02::1]/",
        ] {
            assert!(strict(refused).is_err(), "{refused}");
        }
        // Loopback allowed (omno demo, tests).
        assert_eq!(webhook_url("http://127.0.0.1:9/x", true, false), Ok(()));
        assert_eq!(webhook_url("http://localhost:9/x", true, false), Ok(()));
        assert_eq!(webhook_url("http://[::1]:9/x", true, false), Ok(()));
        assert!(webhook_url("http://10.0.0.1/", true, false).is_err());
        // Private allowed.
        assert_eq!(webhook_url("http://10.0.0.1/", false, true), Ok(()));
        assert_eq!(webhook_url("http://[fd00::1]/", false, true), Ok(()));
        assert!(webhook_url("http://127.0.0.1/", false, true).is_err());
        // Reserved: always.
        assert!(webhook_url("http://224.0.0.1/", true, true).is_err());
        assert!(webhook_url("http://240.0.0.1/", true, true).is_err());
        assert!(webhook_url("ftp://example.com/", true, true).is_err());
    }

    #[test]
    fn ip_classes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let refused = |s: &str, l, p| ip_refused(ip(s), l, p);
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2002:808:808::1",
        ] {
            assert!(!refused(public, false, false), "{public}");
        }
        for loopback in ["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
            assert!(refused(loopback, false, true), "{loopback}");
            assert!(!refused(loopback, true, false), "{loopback}");
        }
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "fc00::1",
            "fdff::1",
            "fe80::1",
            "febf::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(refused(private, true, false), "{private}");
            assert!(!refused(private, false, true), "{private}");
        }
        for reserved in [
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "ff02::1",
            "2001:db8::1",
            "::808:808",
            "100::1",
        ] {
            assert!(refused(reserved, true, true), "{reserved}");
        }
    }

    #[test]
    fn ip_literals() {
        assert_eq!(ip_literal("91.64.23.117"), Ok(ip_addr("91.64.23.117")));
        assert_eq!(ip_literal("2001:db8::1"), Ok(ip_addr("2001:db8::1")));
        for bad in [
            "",
            "1.2.3",
            "256.1.1.1",
            "01.2.3.4",
            "[::1]",
            "example.com",
            " 1.2.3.4",
            "::g",
        ] {
            assert_eq!(
                ip_literal(bad),
                Err("must be an IPv4 or IPv6 address"),
                "{bad}"
            );
        }
    }

    fn ip_addr(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ibans() {
        assert_eq!(
            iban("DE89370400440532013000"),
            Ok("DE89370400440532013000".to_owned())
        );
        assert_eq!(
            iban("GB82WEST12345698765432"),
            Ok("GB82WEST12345698765432".to_owned())
        );
        assert_eq!(
            iban("DE89 3704 0044 0532 0130 00"),
            Ok("DE89370400440532013000".to_owned())
        );
        assert_eq!(
            iban("gb82 west 1234 5698 7654 32"),
            Ok("GB82WEST12345698765432".to_owned())
        );
        assert_eq!(iban("NO9386011117947"), Ok("NO9386011117947".to_owned()));
        for bad in [
            "DE89370400440532013001",
            "DE88370400440532013000",
            "GB82WEST12345698765433",
            "GB82WEST1234569876543",
            "",
            "DE8937040044",
            "1289370400440532013000",
            "DEX9370400440532013000",
            "DE89-3704-0044-0532-0130-00",
            "DE89370400440532013000DE89370400440",
        ] {
            assert_eq!(iban(bad), Err("must be a valid IBAN"), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys() {
        assert!(idempotency_key("a").is_ok());
        assert!(idempotency_key("0f3c9e7a-1b2d-4c5e-8f90-123456789abc").is_ok());
        assert!(idempotency_key("!~").is_ok());
        assert!(idempotency_key(&"k".repeat(255)).is_ok());
        for bad in ["", "a b", "ä", "a\u{7f}", "\t"] {
            assert_eq!(
                idempotency_key(bad),
                Err("must be 1-255 visible ASCII characters"),
                "{bad}"
            );
        }
        assert!(idempotency_key(&"k".repeat(256)).is_err());
    }
}
