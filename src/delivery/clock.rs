//! The wall clock stepping back under a running gateway.
//!
//! The outbox keeps its times in Unix milliseconds of the wall clock (`next_attempt_at`,
//! `expires_at`): they must survive a restart, which a monotonic clock does not. When the
//! wall clock is stepped back (an NTP step at a VM's resume, an operator's correction) by an
//! hour, a retry due in a minute would wait an hour and a minute, and a STATUS update held
//! back by the hourly quota two hours; a validity would end an hour late. The dispatcher
//! watches for such a step ([`ClockWatch`], the wall clock against the monotonic one at each
//! of its loop turns) and moves the waiting rows' times back with it
//! (`store::outbox::follow_clock_back`), so each still falls at the moment it was set for.
//!
//! Only a step back is followed. A wall clock ahead of the monotonic one is time that passed
//! while the monotonic clock stood (a suspended VM) as often as a step forward; either way
//! the rows due meanwhile are due now, which is right for the first and harmless for the
//! second (a retry or a held update goes early by the step). A step while the gateway was
//! stopped shows at the next start as a clock behind the newest times the store wrote
//! (`store::outbox::newest_time_written`): `Dispatcher::recover` moves the rows back by that
//! much, the step's least size. The cancel intents have their own guard (`delivery::cancel`,
//! `LONGEST_WAIT_MS`).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// The least step back followed (ms): NTP slews smaller offsets (at most 0.5 ms a second),
/// and the watch compares the clocks at every loop turn, so slewing never adds up to this.
pub const STEP_MIN_MS: i64 = 2_000;

/// The wall clock the dispatcher reads (Unix ms): the system's, or one a test sets.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl WallClock {
    /// A clock reading `f` (tests: the system's clock with a step in it).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now, Unix ms.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for WallClock {
    /// The system clock ([`crate::store::now_ms`]).
    fn default() -> Self {
        Self::from_fn(crate::store::now_ms)
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WallClock")
    }
}

/// The wall clock as last read, with the monotonic clock beside it.
#[derive(Debug, Clone, Copy)]
pub struct ClockWatch {
    wall: i64,
    mono: Instant,
}

impl ClockWatch {
    /// A watch starting from the wall clock `wall` read at `mono`.
    pub fn new(wall: i64, mono: Instant) -> Self {
        Self { wall, mono }
    }

    /// How far (ms) the wall clock, reading `wall` at `mono`, went back since the last look,
    /// if by [`STEP_MIN_MS`] or more. Every look becomes the next one's start.
    pub fn went_back(&mut self, wall: i64, mono: Instant) -> Option<i64> {
        let passed = i64::try_from(mono.saturating_duration_since(self.mono).as_millis())
            .unwrap_or(i64::MAX);
        let expected = self.wall.saturating_add(passed);
        *self = Self::new(wall, mono);
        let back = expected.saturating_sub(wall);
        (back >= STEP_MIN_MS).then_some(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_step_back_is_seen_once_and_nothing_else_is() {
        let t0 = Instant::now();
        let mut w = ClockWatch::new(1_000_000, t0);
        // Time passing on both clocks, a little slewing: nothing.
        assert_eq!(w.went_back(1_005_000, t0 + Duration::from_secs(5)), None);
        assert_eq!(w.went_back(1_009_999, t0 + Duration::from_secs(10)), None);
        // Stepped back an hour between two looks a second apart.
        let at = t0 + Duration::from_secs(11);
        assert_eq!(w.went_back(1_010_999 - 3_600_000, at), Some(3_600_000));
        // Seen once: from there on the new reading is the base.
        let later = at + Duration::from_secs(1);
        assert_eq!(w.went_back(1_011_999 - 3_600_000, later), None);
        // Just under the least step: not followed; at it: followed.
        let t = later + Duration::from_secs(1);
        assert_eq!(w.went_back(1_012_999 - 3_600_000 - 1_999, t), None);
        let t2 = t + Duration::from_secs(1);
        let base = 1_013_999 - 3_600_000 - 1_999;
        assert_eq!(w.went_back(base - STEP_MIN_MS, t2), Some(STEP_MIN_MS));
        // Ahead (a suspended VM, a step forward): not followed.
        let t3 = t2 + Duration::from_secs(1);
        assert_eq!(w.went_back(base + 86_400_000, t3), None);
    }

    #[test]
    fn the_wall_clock_reads_the_system_or_what_a_test_sets() {
        let before = crate::store::now_ms();
        let now = WallClock::default().now();
        assert!(now >= before && now - before < 60_000, "{before} {now}");
        assert_eq!(WallClock::from_fn(|| 42).now(), 42);
        assert_eq!(format!("{:?}", WallClock::default()), "WallClock");
    }
}
