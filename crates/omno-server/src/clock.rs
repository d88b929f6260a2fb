//! Time source. Flows read the time from a [`Clock`], never from the system directly, so tests
//! can move time forward (expiries, sync windows) without sleeping.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    /// Current UTC time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that follows the system clock plus an offset tests can advance.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<Duration>,
}

impl OffsetClock {
    /// Moves this clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut o) = self.offset.lock() {
            *o += by;
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        let off = self.offset.lock().map(|o| *o).unwrap_or_default();
        OffsetDateTime::now_utc() + off
    }
}

/// RFC 3339, UTC, `Z`, exactly three fractional digits (API.md §1.5).
///
/// Written digit by digit: every transaction view renders several of these, and the `format!`
/// machinery with padding cost more than the rest of a timestamp's work.
pub fn fmt_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let Ok(year) = u32::try_from(t.year()) else {
        return fmt_ts_slow(t);
    };
    if year > 9999 {
        return fmt_ts_slow(t);
    }
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, u32::from(u8::from(t.month())));
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 3, u32::from(t.millisecond()));
    b.iter().map(|&c| char::from(c)).collect()
}

/// [`fmt_ts`] for years outside 0–9999.
fn fmt_ts_slow(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Truncates to whole milliseconds (the stored precision), so a value read back is equal.
pub fn trunc_ms(t: OffsetDateTime) -> OffsetDateTime {
    let ns = t.nanosecond();
    t - Duration::nanoseconds(i64::from(ns % 1_000_000))
}

#[cfg(test)]
mod fmt_tests {
    use super::*;

    /// The digit-by-digit rendering equals the `format!` one, padding included.
    #[test]
    fn fmt_ts_matches_the_formatter() {
        let mut t = OffsetDateTime::UNIX_EPOCH;
        for _ in 0..2_000 {
            assert_eq!(fmt_ts(t), fmt_ts_slow(t));
            t += Duration::milliseconds(987_654_321);
        }
        let t = time::macros::datetime!(2026-03-04 05:06:07.089 UTC);
        assert_eq!(fmt_ts(t), "2026-03-04T05:06:07.089Z");
        let t = time::macros::datetime!(0009-01-01 00:00:00 +02:00);
        assert_eq!(fmt_ts(t), "0008-12-31T22:00:00.000Z");
    }
}
