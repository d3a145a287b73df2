//! A connector's client-side rate limit for named hosts, shaped like integrator.io's own API
//! limit (a leaky bucket: `burst` tokens, refilled at `per_second`), so a tenant's plugins are
//! slowed down here before the platform starts answering 429.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[network.rate_limit]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Patterns (as `allowed_hosts`) whose requests share the bucket.
    pub hosts: Vec<String>,
    /// Requests that may go at once after a quiet period.
    pub burst: u32,
    /// Requests per second in the long run.
    pub per_second: f64,
}

/// The bucket.
#[derive(Debug)]
pub struct Bucket {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket.
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            per_second: per_second.max(f64::MIN_POSITIVE),
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes a token if one is free within `patience`: how long to wait before sending, or
    /// `None` (nothing taken) when the wait would be longer.
    pub fn take(&self, patience: Duration) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, at) = *state;
        let tokens =
            (tokens + now.duration_since(at).as_secs_f64() * self.per_second).min(self.burst);
        let wait = if tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - tokens) / self.per_second)
        };
        if wait > patience {
            *state = (tokens, now);
            return None;
        }
        *state = (tokens - 1.0, now);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_requests_are_spaced_at_the_rate() {
        let bucket = Bucket::new(3, 10.0);
        for _ in 0..3 {
            assert_eq!(bucket.take(Duration::ZERO), Some(Duration::ZERO));
        }
        // Empty: the next token is ~100 ms away, the one after ~200 ms.
        assert_eq!(bucket.take(Duration::from_millis(10)), None);
        let first = bucket.take(Duration::from_secs(1)).unwrap();
        let second = bucket.take(Duration::from_secs(1)).unwrap();
        assert!(
            first <= Duration::from_millis(100) && first > Duration::from_millis(50),
            "{first:?}"
        );
        assert!(second > first, "{second:?} after {first:?}");
    }
}
