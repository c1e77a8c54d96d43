//! Open-loop send schedules.
//!
//! Every send has an *intended* time fixed in advance; a sender that falls
//! behind sends at once to catch up instead of sliding the schedule, and
//! latency is measured from the intended time. A slow server thus shows up
//! as latency, not as a quietly lower offered load (coordinated omission).

use std::time::Duration;

/// One sender's schedule: sends at `start + n * interval` while before `end`.
/// Times are offsets from the bench's epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub start: Duration,
    pub interval: Duration,
    pub end: Duration,
}

impl Schedule {
    /// The intended time of send number `n`, or `None` once past the end.
    pub fn intended(&self, n: u64) -> Option<Duration> {
        let offset = self.interval.checked_mul(u32::try_from(n).ok()?)?;
        let at = self.start + offset;
        (at < self.end).then_some(at)
    }

    /// How many sends the schedule holds.
    pub fn len(&self) -> u64 {
        if self.end <= self.start || self.interval.is_zero() {
            return 0;
        }
        let span = (self.end - self.start).as_nanos();
        span.div_ceil(self.interval.as_nanos()) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits `total_rate` messages per second over `senders` for `duration`
/// from `start`, each sender offset by a fraction of its interval so the
/// combined stream is evenly spaced rather than arriving in bursts of `senders`.
pub fn split(total_rate: f64, senders: usize, start: Duration, duration: Duration) -> Vec<Schedule> {
    assert!(total_rate > 0.0 && senders > 0, "rate and senders must be positive");
    let interval = Duration::from_secs_f64(senders as f64 / total_rate);
    (0..senders)
        .map(|i| {
            let offset = interval.mul_f64(i as f64 / senders as f64);
            Schedule {
                start: start + offset,
                interval,
                end: start + duration,
            }
        })
        .collect()
}

/// Sleeps until `at` past `epoch`; returns at once when already late.
pub async fn wait_until(epoch: tokio::time::Instant, at: Duration) {
    tokio::time::sleep_until(epoch + at).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_and_stops_at_the_end() {
        let s = Schedule {
            start: Duration::from_millis(100),
            interval: Duration::from_millis(10),
            end: Duration::from_millis(200),
        };
        assert_eq!(s.len(), 10);
        assert_eq!(s.intended(0), Some(Duration::from_millis(100)));
        assert_eq!(s.intended(9), Some(Duration::from_millis(190)));
        assert_eq!(s.intended(10), None);
        assert!(Schedule {
            end: s.start,
            ..s.clone()
        }
        .is_empty());
    }

    #[test]
    fn split_offers_the_total_rate_evenly_spaced() {
        let schedules = split(1000.0, 4, Duration::ZERO, Duration::from_secs(2));
        let total: u64 = schedules.iter().map(Schedule::len).sum();
        assert_eq!(total, 2000);
        let mut times: Vec<Duration> = schedules
            .iter()
            .flat_map(|s| (0..s.len()).map(|n| s.intended(n).unwrap()))
            .collect();
        times.sort();
        // Combined, the four senders send every millisecond.
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap.abs_diff(Duration::from_millis(1)) < Duration::from_micros(2),
                "{gap:?}"
            );
        }
    }

    #[test]
    fn odd_rates_keep_their_total() {
        let schedules = split(50.0, 3, Duration::from_secs(1), Duration::from_secs(1));
        let total: u64 = schedules.iter().map(Schedule::len).sum();
        assert!((49..=51).contains(&total), "{total}");
        assert!(schedules
            .iter()
            .all(|s| s.intended(0).unwrap() >= Duration::from_secs(1)));
    }
}
