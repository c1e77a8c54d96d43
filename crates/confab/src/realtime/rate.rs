//! Per-user message rate limit for sockets: a token bucket per user
//! (`governor`'s keyed limiter), sized by `ws_message_rate` and `ws_message_burst`.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct MessageRateLimiter {
    limiter: DefaultKeyedRateLimiter<i64>,
}

impl MessageRateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Takes one message from `user_id`'s budget, or says in how many seconds to retry.
    pub fn check(&self, user_id: i64) -> Result<(), u64> {
        self.limiter.check_key(&user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + 1
        })
    }

    /// Forgets users whose bucket is full again, so memory follows active users only.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limited_per_user() {
        let limiter = MessageRateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check(1).is_ok());
        }
        assert!(limiter.check(1).is_err());
        assert!(limiter.check(2).is_ok(), "users have separate budgets");
    }
}
