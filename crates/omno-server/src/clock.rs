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
pub fn fmt_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
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
