//! Per-merchant token buckets over `/public/**` (API.md §1.10), in memory on each node.
//!
//! A bucket holds up to `rate_limit.burst` tokens and refills at `rate_limit.requests_per_second`;
//! a request takes one token or is answered 429 with the whole seconds until one is back. `0` for
//! either key disables limiting. Buckets are kept per merchant (a few dozen bytes each) behind
//! one mutex held for a few arithmetic operations, so it is no bottleneck at the default rates.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use omno_domain::ids::MerchantId;

use crate::config::RateLimitSettings;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The limiter shared by every request of the process.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<MerchantId, Bucket>>,
}

impl RateLimiter {
    /// A limiter for the configured rates.
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            rate: f64::from(s.requests_per_second),
            burst: f64::from(s.burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether limiting is on (neither key is 0).
    pub fn enabled(&self) -> bool {
        self.rate > 0.0 && self.burst > 0.0
    }

    /// Takes a token for `merchant`: `Ok` to proceed, or `Err(seconds)` to wait (≥ 1).
    pub fn check(&self, merchant: MerchantId) -> Result<(), u64> {
        self.check_at(merchant, Instant::now())
    }

    fn check_at(&self, merchant: MerchantId, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        // A poisoned lock only means another request panicked mid-update of plain numbers.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets.entry(merchant).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.rate).ceil();
            Err((wait as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(rps: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(&RateLimitSettings {
            requests_per_second: rps,
            burst,
        })
    }

    #[test]
    fn burst_then_refill_per_merchant() {
        let l = limiter(2, 3);
        let (a, b) = (
            MerchantId(uuid::Uuid::now_v7()),
            MerchantId(uuid::Uuid::now_v7()),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at(a, t0), Ok(()));
        }
        assert_eq!(l.check_at(a, t0), Err(1));
        assert_eq!(
            l.check_at(b, t0),
            Ok(()),
            "other merchants have their own bucket"
        );
        // Half a second at 2/s gives one token back, and no more than the burst ever.
        assert_eq!(l.check_at(a, t0 + Duration::from_millis(500)), Ok(()));
        assert_eq!(l.check_at(a, t0 + Duration::from_millis(500)), Err(1));
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.check_at(a, later), Ok(()));
        }
        assert!(l.check_at(a, later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = limiter(1, 1);
        let m = MerchantId(uuid::Uuid::now_v7());
        let t0 = Instant::now();
        assert_eq!(l.check_at(m, t0), Ok(()));
        assert_eq!(l.check_at(m, t0 + Duration::from_millis(100)), Err(1));
        // A slower refill than one per second asks for more than one second.
        let l = RateLimiter {
            rate: 0.25,
            ..limiter(1, 1)
        };
        assert_eq!(l.check_at(m, t0), Ok(()));
        assert_eq!(l.check_at(m, t0), Err(4));
    }

    #[test]
    fn zero_disables() {
        for l in [limiter(0, 10), limiter(10, 0)] {
            let m = MerchantId(uuid::Uuid::now_v7());
            let t0 = Instant::now();
            assert!((0..1000).all(|_| l.check_at(m, t0).is_ok()));
        }
    }
}
