//! A lock-free latency histogram with fixed buckets, cheap enough for the hot paths it times
//! (the store writer's transactions, the acknowledgement of every inbound PDU), read by
//! `/metrics` as a Prometheus histogram and by gw-bench to explain a slow run.
//!
//! Recording is three relaxed atomic adds and a `fetch_max`; a reader takes a
//! [`HistogramSnapshot`], which is consistent enough for monitoring (counts taken one by one
//! while others record may disagree by the few observations in flight).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (an implicit `+Inf` bucket follows): from
/// 100 µs, below which nothing here is worth telling apart, to 10 s, beyond which a link
/// has long timed out.
pub const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

const BUCKETS: usize = BOUNDS_US.len() + 1;

/// Counts of observations per bucket, their sum and the largest.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl LatencyHistogram {
    /// Record one observation.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0u64; BUCKETS];
        for (c, b) in counts.iter_mut().zip(&self.buckets) {
            *c = b.load(Ordering::Relaxed);
        }
        HistogramSnapshot {
            counts,
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative); the last is above every bound.
    pub counts: [u64; BUCKETS],
    /// Sum of the observations, µs.
    pub sum_us: u64,
    /// The largest observation, µs.
    pub max_us: u64,
}

impl HistogramSnapshot {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bound (µs) of the bucket holding quantile `q` (0..=1): the value no more
    /// than `1 - q` of the observations exceed, to bucket resolution. Above the last bound,
    /// the largest observation. `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(
                    BOUNDS_US
                        .get(i)
                        .map_or(self.max_us, |&b| b.min(self.max_us)),
                );
            }
        }
        Some(self.max_us)
    }

    /// Cumulative counts per bound, `+Inf` last, as the Prometheus exposition wants them:
    /// `(le in seconds, count)`.
    pub fn cumulative(&self) -> Vec<(String, u64)> {
        let mut total = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                total += c;
                let le = BOUNDS_US
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |&b| format!("{}", b as f64 / 1e6));
                (le, total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn observations_land_in_the_bucket_of_their_upper_bound() {
        let h = LatencyHistogram::default();
        for v in [0, 100, 101, 250, 9_999_999, 20_000_000] {
            h.observe(us(v));
        }
        let s = h.snapshot();
        assert_eq!(s.counts[0], 2, "0 and 100 µs are at most the first bound");
        assert_eq!(s.counts[1], 2, "101 and 250 µs");
        assert_eq!(s.counts[BOUNDS_US.len() - 1], 1, "just under 10 s");
        assert_eq!(s.counts[BOUNDS_US.len()], 1, "beyond the last bound: +Inf");
        assert_eq!(s.count(), 6);
        assert_eq!(s.max_us, 20_000_000);
        assert_eq!(s.sum_us, 100 + 101 + 250 + 9_999_999 + 20_000_000);
    }

    #[test]
    fn quantiles_are_bucket_bounds_capped_by_the_largest() {
        let h = LatencyHistogram::default();
        assert_eq!(h.snapshot().quantile_us(0.5), None);
        for _ in 0..98 {
            h.observe(us(80));
        }
        h.observe(us(3_000));
        h.observe(us(40_000));
        let s = h.snapshot();
        assert_eq!(s.quantile_us(0.5), Some(100), "the median's bucket bound");
        assert_eq!(s.quantile_us(0.99), Some(5_000));
        assert_eq!(
            s.quantile_us(1.0),
            Some(40_000),
            "the top is the largest seen"
        );
        let low = LatencyHistogram::default();
        low.observe(us(80));
        assert_eq!(
            low.snapshot().quantile_us(0.5),
            Some(80),
            "never above the largest"
        );
    }

    #[test]
    fn cumulative_counts_end_with_every_observation_at_inf() {
        let h = LatencyHistogram::default();
        h.observe(us(50));
        h.observe(us(700));
        h.observe(us(60_000_000));
        let c = h.snapshot().cumulative();
        assert_eq!(c.len(), BOUNDS_US.len() + 1);
        assert_eq!(c[0], ("0.0001".to_string(), 1));
        assert_eq!(c[3], ("0.001".to_string(), 2));
        assert_eq!(c.last(), Some(&("+Inf".to_string(), 3)));
    }
}
