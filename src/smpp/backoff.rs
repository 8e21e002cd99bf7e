//! Reconnect back-off: exponential with full jitter, capped, and a slow lane for bind rejections
//! that will not fix themselves (wrong password, unknown system_id).

use std::time::Duration;

/// Exponential back-off with jitter between reconnect attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    /// Credential refusals in a row, since the last successful bind.
    refusals: u32,
}

/// Longest wait between binds the SMSC refused for their credentials. Many SMSCs lock an
/// account after a number of failed binds: a wrong password retried every half minute would
/// reach that overnight, so each refusal in a row doubles the wait, up to this.
pub const REFUSED_MAX: Duration = Duration::from_secs(600);

impl Backoff {
    /// Back-off starting at `min`, doubling per failed attempt, never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            refusals: 0,
        }
    }

    /// A successful bind: start again from `min`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt. `unit` in `[0, 1)` is the jitter draw: the delay is
    /// uniformly spread over the upper half of the exponential step, so reconnect storms from
    /// many gateways do not line up, yet no delay falls below half the step.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let step = self
            .min
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let unit = unit.clamp(0.0, 1.0);
        step.mul_f64(0.5 + 0.5 * unit)
    }

    /// Delay after a bind the SMSC refused without blaming the credentials (`ESME_RBINDFAIL`:
    /// its binds all in use, maintenance): the cap, straight away.
    pub fn auth_failure_delay(&mut self) -> Duration {
        self.attempt = 16;
        self.max
    }

    /// Delay after a bind refused for its credentials (wrong password, unknown system_id): the
    /// cap, doubled for each such refusal in a row, up to [`REFUSED_MAX`] (or the cap, if
    /// that is longer).
    pub fn credentials_refused_delay(&mut self) -> Duration {
        self.attempt = 16;
        self.refusals = self.refusals.saturating_add(1);
        self.max
            .saturating_mul(1u32 << (self.refusals - 1).min(16))
            .min(REFUSED_MAX.max(self.max))
    }

    /// A bind succeeded: the credentials are good again.
    pub fn bound(&mut self) {
        self.refusals = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_credentials_wait_longer_each_time_until_a_bind() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let waits: Vec<u64> = (0..7)
            .map(|_| b.credentials_refused_delay().as_secs())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        // Other refusals keep the cap.
        assert_eq!(b.auth_failure_delay(), Duration::from_secs(30));
        b.bound();
        assert_eq!(b.credentials_refused_delay(), Duration::from_secs(30));
        // A cap above the ceiling stays the cap.
        let mut long = Backoff::new(Duration::from_secs(1), Duration::from_secs(900));
        long.credentials_refused_delay();
        assert_eq!(long.credentials_refused_delay(), Duration::from_secs(900));
    }

    #[test]
    fn grows_exponentially_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let d: Vec<_> = (0..10).map(|_| b.next_delay(1.0)).collect();
        assert_eq!(d[0], Duration::from_millis(100));
        assert_eq!(d[1], Duration::from_millis(200));
        assert_eq!(d[3], Duration::from_millis(800));
        assert_eq!(d[9], Duration::from_secs(5));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(50));
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for i in 0..20 {
            let u = f64::from(i) / 20.0;
            let mut c = b.clone();
            let d = c.next_delay(u);
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_secs(1));
        }
        assert_eq!(b.auth_failure_delay(), Duration::from_secs(60));
    }
}
