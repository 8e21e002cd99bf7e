//! Submit pacing: a token bucket with an adaptive ceiling that halves when the SMSC answers
//! `ESME_RTHROTTLED` / `ESME_RMSGQFUL` and climbs back additively while submits succeed (AIMD,
//! as TCP does with congestion), and, with a configured maximum rate, a sliding-window cap
//! (`SlidingCap`) that holds every second (any second, not only calendar ones) to it.
//!
//! Why both: a token bucket alone cannot hold a per-second maximum. A bucket of depth `b`
//! refilled at `r` a second grants up to `b + r` in a second (it starts full): with `r` =
//! `max_rate` = 50 and `b` = 5 the tester saw 55 submits in one sliding second. Lowering `r`
//! by `b` to make up for it would cost `b` a second for ever, and a bucket of depth 1 would
//! need a wake-up per submit (20 us apart at 50k/s, below what a timer does). So the bucket
//! paces (and adapts) as before, and the cap only refuses the submit that would make a window
//! hold more than the maximum.
//!
//! Pure logic: time is passed in as a [`Duration`] since an arbitrary origin, so it is tested
//! without a runtime. The session consults it as it writes every submit.

use std::collections::VecDeque;
use std::time::Duration;

/// Slowest adaptive rate we fall back to after repeated throttling (messages per second).
pub const MIN_RATE: f64 = 1.0;
/// Rate assumed when no maximum is configured and the SMSC has not throttled us yet.
pub const UNLIMITED_RATE: f64 = 1_000_000.0;

/// Token bucket with an adaptive rate. See the module docs.
#[derive(Debug, Clone)]
pub struct AdaptiveRate {
    /// Configured hard maximum (messages per second), never exceeded.
    max_rate: Option<f64>,
    /// Holds any sliding window to `max_rate` (only with one).
    cap: Option<SlidingCap>,
    /// Current allowed rate (<= max_rate).
    current: f64,
    tokens: f64,
    last_refill: Duration,
    /// The rate achieved while sending, which a throttle answer cuts from.
    achieved: SendRate,
    /// No submits before this instant (set after a throttle answer).
    paused_until: Duration,
    last_increase: Duration,
    last_decrease: Duration,
    decreased_once: bool,
    /// The SMSC's current spell of push-back: when it began, its last refusal, refusals.
    pushback: Option<(Duration, Duration, u64)>,
}

/// What an operator is told about the SMSC's push-back (`ESME_RTHROTTLED` /
/// `ESME_RMSGQFUL`): when a spell of it begins, and when it has been over for [`QUIET`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pushback {
    /// The first refusal after a quiet spell; the rate is now `rate` messages per second.
    Began {
        /// The rate allowed after this refusal; `None` when nothing was sent to measure a
        /// rate by and no rate was set, so the cut is from no number worth telling.
        rate: Option<f64>,
    },
    /// No refusal for [`QUIET`]: the spell had `refusals` refusals over `lasted`.
    Ended {
        /// Refusals in the spell.
        refusals: u64,
        /// From its first refusal to its last.
        lasted: Duration,
    },
}

/// How long without a refusal before a spell of push-back counts as over.
pub const QUIET: Duration = Duration::from_secs(30);

/// Least time between two rate decreases.
const DECREASE_SPACING: Duration = Duration::from_millis(500);

impl AdaptiveRate {
    /// A limiter with an optional hard maximum in messages per second.
    pub fn new(max_rate: Option<f64>, now: Duration) -> Self {
        let max_rate = max_rate.filter(|r| *r > 0.0);
        let current = max_rate.unwrap_or(UNLIMITED_RATE);
        Self {
            max_rate,
            cap: max_rate.map(SlidingCap::new),
            current,
            tokens: burst(current),
            last_refill: now,
            achieved: SendRate::default(),
            paused_until: now,
            last_increase: now,
            last_decrease: now,
            decreased_once: false,
            pushback: None,
        }
    }

    /// A new hard maximum (an operator's config reload): `None` or a rate of 0 takes the cap
    /// away. Lowered, no submit goes for one sliding second, so that no second can hold the
    /// grants of the old maximum and of the new one together (the new cap starts empty);
    /// the adaptive rate is brought under the new maximum. Raised (or taken away), a rate that
    /// stood at the old maximum moves to the new one; one cut by the SMSC's throttling keeps
    /// climbing back from where it is.
    pub fn set_max_rate(&mut self, max_rate: Option<f64>, now: Duration) {
        let max_rate = max_rate.filter(|r| *r > 0.0);
        if max_rate == self.max_rate {
            return;
        }
        let old_ceiling = self.max_rate.unwrap_or(UNLIMITED_RATE);
        let new_ceiling = max_rate.unwrap_or(UNLIMITED_RATE);
        let cap = max_rate.map(SlidingCap::new);
        if let Some(c) = cap.as_ref().filter(|_| new_ceiling < old_ceiling) {
            self.paused_until = self.paused_until.max(now + c.span);
        }
        self.current = if self.current >= old_ceiling {
            new_ceiling
        } else {
            self.current.min(new_ceiling)
        };
        self.tokens = self.tokens.min(burst(self.current));
        self.max_rate = max_rate;
        self.cap = cap;
    }

    /// The configured hard maximum (messages per second), if any.
    pub fn max_rate(&self) -> Option<f64> {
        self.max_rate
    }

    /// The rate currently allowed (messages per second).
    pub fn current_rate(&self) -> f64 {
        self.current
    }

    /// Take one token if available; otherwise return how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Duration) -> Result<(), Duration> {
        if now < self.paused_until {
            return Err(self.paused_until - now);
        }
        if let Some(cap) = &mut self.cap {
            cap.check(now)?;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            if let Some(cap) = &mut self.cap {
                cap.record(now);
            }
            self.count(now);
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(seconds(missing / self.current).max(MIN_WAIT))
        }
    }

    /// The submits granted at or after `since` were written to the socket at `at` (the session
    /// flushed them): the sliding-second cap counts them from then (see [`WINDOW_GUARD`]).
    pub fn written(&mut self, since: Duration, at: Duration) {
        if let Some(cap) = &mut self.cap {
            cap.written(since, at);
        }
    }

    /// The SMSC accepted a submit: climb back towards the maximum, by a quarter of the current
    /// rate (at least 5 messages/s) per second.
    /// Returns [`Pushback::Ended`] when a spell of push-back has been over for [`QUIET`].
    pub fn on_success(&mut self, now: Duration) -> Option<Pushback> {
        let ended = match self.pushback {
            Some((first, last, refusals)) if now.saturating_sub(last) >= QUIET => {
                self.pushback = None;
                Some(Pushback::Ended {
                    refusals,
                    lasted: last.saturating_sub(first),
                })
            }
            _ => None,
        };
        self.climb(now);
        ended
    }

    fn climb(&mut self, now: Duration) {
        let ceiling = self.max_rate.unwrap_or(UNLIMITED_RATE);
        if self.current >= ceiling {
            return;
        }
        let elapsed = now.saturating_sub(self.last_increase).as_secs_f64();
        if elapsed >= 0.1 {
            let step = (self.current * 0.25).max(5.0) * elapsed.min(1.0);
            self.current = (self.current + step).min(ceiling);
            self.last_increase = now;
        }
    }

    /// The SMSC said `ESME_RTHROTTLED` or `ESME_RMSGQFUL`: halve the rate (based on what we were
    /// really achieving, not on a theoretical ceiling) and pause briefly.
    /// Returns [`Pushback::Began`] for the first refusal after a quiet spell.
    pub fn on_throttled(&mut self, now: Duration) -> Option<Pushback> {
        let began = match &mut self.pushback {
            // A refusal after a quiet spell with no traffic to end the last one is a new one.
            Some((_, last, refusals)) if now.saturating_sub(*last) < QUIET => {
                *last = now;
                *refusals += 1;
                false
            }
            _ => {
                self.pushback = Some((now, now, 1));
                true
            }
        };
        let measured = self.slow_down(now);
        began.then_some(Pushback::Began {
            rate: measured.then_some(self.current),
        })
    }

    /// Halve the rate (see [`Self::on_throttled`]); returns whether the rate it cut from is
    /// a real one (measured while sending, or a limit already set), not the unlimited
    /// placeholder.
    fn slow_down(&mut self, now: Duration) -> bool {
        // The answers to submits already in flight when we slowed down say nothing new: one
        // decrease per half second, whatever the number of throttled answers (AIMD decreases
        // once per round trip, not once per packet).
        if now < self.last_decrease + DECREASE_SPACING && self.decreased_once {
            return self.current < UNLIMITED_RATE;
        }
        self.last_decrease = now;
        self.decreased_once = true;
        let (base, measured) = match self.achieved.estimate() {
            Some(achieved) => (achieved.min(self.current), true),
            None => (self.current, self.current < UNLIMITED_RATE),
        };
        // Never above the configured maximum, even when that is below the floor.
        let ceiling = self.max_rate.unwrap_or(UNLIMITED_RATE);
        self.current = (base / 2.0).max(MIN_RATE).min(ceiling);
        self.tokens = self.tokens.min(burst(self.current));
        self.paused_until = now + Duration::from_millis(100);
        self.last_increase = now;
        measured
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last_refill).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.current).min(burst(self.current));
        self.last_refill = now;
    }

    fn count(&mut self, now: Duration) {
        self.achieved.on_send(now);
    }
}

/// A pause between two submits longer than this is idle time: the rate achieved while
/// sending is measured again from the next submit, so a quiet spell does not dilute it.
pub const IDLE_GAP: Duration = Duration::from_secs(1);

/// The rate is measured over the current window of sending and the one before it, each
/// about this long: between one and two seconds of the latest submits.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Submits counted over less time than this are taken as sent over this long, so that a
/// burst of submits written at once does not read as millions a second: a throttle answer
/// right at the start of sending reads `n` submits as `20 n` a second, and halves that to
/// `10 n` (at least [`MIN_RATE`]); if that is still too fast, the next answers halve again
/// every [`DECREASE_SPACING`].
const MIN_SPAN: Duration = Duration::from_millis(50);

/// The rate of submits achieved *while sending*: the latest submits, in the current window of
/// about [`RATE_WINDOW`] and the one before it, over the time from the first of them to the
/// last. A pause longer than [`IDLE_GAP`] starts afresh, and the time since the last submit
/// does not count, so idle time does not dilute it. (It used to count over whatever time had
/// passed since its window began, idle time included: one submit, 10 s of quiet, then a
/// burst refused for load read as 0.1 a second and cut the rate to the 1/s floor.) Pure,
/// O(1) per submit.
#[derive(Debug, Clone, Default)]
struct SendRate {
    /// Start of the current window.
    start: Duration,
    /// Submits in it.
    count: u32,
    /// The latest submit, if any.
    last: Option<Duration>,
    /// The previous window of the same run of sending: its start and its submits.
    previous: Option<(Duration, u32)>,
}

impl SendRate {
    /// Count one submit at `now`.
    fn on_send(&mut self, now: Duration) {
        match self.last {
            Some(last) if now.saturating_sub(last) <= IDLE_GAP => {
                if now.saturating_sub(self.start) >= RATE_WINDOW {
                    self.previous = Some((self.start, self.count));
                    self.start = now;
                    self.count = 0;
                }
            }
            // The first submit, or the first after idle time: a new run of sending.
            _ => {
                self.start = now;
                self.count = 0;
                self.previous = None;
            }
        }
        self.count = self.count.saturating_add(1);
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
    }

    /// Submits a second achieved while sending; `None` before any submit.
    fn estimate(&self) -> Option<f64> {
        let last = self.last?;
        let (from, count) = match self.previous {
            Some((start, count)) => (start, count.saturating_add(self.count)),
            None => (self.start, self.count),
        };
        let span = last.saturating_sub(from).max(MIN_SPAN);
        Some(f64::from(count) / span.as_secs_f64())
    }
}

/// Shortest wait handed out: below it a timer only spins.
const MIN_WAIT: Duration = Duration::from_micros(50);

/// `secs` seconds as a [`Duration`], an hour at most (a rate configured absurdly low, or not
/// a number, must not panic the pacing).
fn seconds(secs: f64) -> Duration {
    const LONGEST: Duration = Duration::from_secs(3600);
    Duration::try_from_secs_f64(secs).map_or(LONGEST, |d| d.min(LONGEST))
}

/// The window a configured maximum is held over: any second.
pub const WINDOW: Duration = Duration::from_secs(1);

/// Added to [`WINDOW`] by [`SlidingCap`]: a submit counts from when the session wrote it to the
/// socket (its grant, made just before, is moved to then: [`AdaptiveRate::written`]); an SMSC
/// times it when it reads it, after the network and its own scheduling. Submits read at
/// different delays could otherwise look closer together there than here. 1 % of the
/// window, so at most 1 % of `max_rate` is given up. (It used to cover the time from the
/// grant to the write as well: under a load average of 8 the session was held between them
/// for longer than this, and the simulator saw 51 submits in a second at `max_rate` 50.)
pub const WINDOW_GUARD: Duration = Duration::from_millis(10);

/// Most time slots [`SlidingCap`] keeps: its memory is bounded whatever the rate.
const SLOTS: usize = 1000;

/// At most `limit` grants in any sliding window of `span`: `limit` = ⌊max_rate⌋ and `span` =
/// [`WINDOW`] + [`WINDOW_GUARD`] (for a maximum below 1 a second: one grant per `1 / max_rate`
/// seconds, plus the guard), so no second ever holds more than `max_rate` submits. The link
/// keeps one for its life, so this holds across reconnects too. Every submit is granted by the
/// session as it writes it, the outbox's batched ones and USSD screens
/// ([`super::LinkHandle::submit`]) alike: a screen granted before it passed the session's
/// request channel and written after a reconnect was counted a second or more before the
/// SMSC saw it, beside the batch items granted at the rebind.
///
/// Grants are kept in time slots (at most [`SLOTS`], allocated once: no allocation per
/// submit): a grant joins the newest slot when that began less than `span / SLOTS` ago (or
/// when every slot is in use), else it starts a new one. A slot stays counted until `span`
/// after its *latest* grant, so every grant is counted for at least `span` after it was made.
/// A grant is allowed only while fewer than `limit` are counted; so when one is made, the
/// grants in the `span` before it are all counted and number at most `limit - 1`, and no
/// window of `span` holds more than `limit`. Slots only make grants count longer, never
/// shorter: at worst a grant waits `span / SLOTS` (1 ms) longer than it had to.
#[derive(Debug, Clone)]
struct SlidingCap {
    limit: u64,
    span: Duration,
    slot_len: Duration,
    /// Oldest first; never more than `room` (allocated once).
    slots: VecDeque<Slot>,
    room: usize,
    /// Grants in `slots`.
    counted: u64,
}

/// Grants made close together: counted until `span` after the latest of them.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first: Duration,
    last: Duration,
    grants: u64,
}

impl SlidingCap {
    /// A cap of `rate` (> 0) a second.
    fn new(rate: f64) -> Self {
        let (limit, base) = if rate >= 1.0 {
            // Saturates for absurd rates (`as` does), which then never bind.
            (rate.floor() as u64, WINDOW)
        } else {
            (1, seconds(1.0 / rate).max(WINDOW))
        };
        let span = base + WINDOW_GUARD;
        let room = usize::try_from(limit).unwrap_or(SLOTS).clamp(1, SLOTS);
        Self {
            limit,
            span,
            slot_len: span / SLOTS as u32,
            slots: VecDeque::with_capacity(room),
            room,
            counted: 0,
        }
    }

    /// Whether a grant at `now` keeps every window within the limit; if not, how long until
    /// the oldest counted grants leave the window.
    fn check(&mut self, now: Duration) -> Result<(), Duration> {
        while let Some(oldest) = self.slots.front() {
            if now.saturating_sub(oldest.last) < self.span {
                break;
            }
            self.counted -= oldest.grants;
            self.slots.pop_front();
        }
        match self.slots.front() {
            Some(oldest) if self.counted >= self.limit => Err(oldest
                .last
                .saturating_add(self.span)
                .saturating_sub(now)
                .max(MIN_WAIT)),
            _ => Ok(()),
        }
    }

    /// The grants made at or after `since` were written at `at`: each counts until `span`
    /// after that, not after its grant. Only the newest slots change, and only later, so the
    /// oldest slot still leaves the window first.
    fn written(&mut self, since: Duration, at: Duration) {
        for slot in self.slots.iter_mut().rev() {
            if slot.last < since {
                break;
            }
            slot.last = slot.last.max(at);
        }
    }

    /// Count a grant made at `now` (after [`Self::check`] allowed it).
    fn record(&mut self, now: Duration) {
        self.counted += 1;
        let full = self.slots.len() >= self.room;
        match self.slots.back_mut() {
            Some(newest) if full || now.saturating_sub(newest.first) < self.slot_len => {
                newest.grants += 1;
                newest.last = newest.last.max(now);
            }
            _ => self.slots.push_back(Slot {
                first: now,
                last: now,
                grants: 1,
            }),
        }
    }
}

/// Bucket depth: a tenth of a second's worth of messages, at least one.
fn burst(rate: f64) -> f64 {
    (rate / 10.0).clamp(1.0, 1000.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Drive the limiter for `secs` seconds at 1 ms resolution; count the tokens it grants.
    fn granted(r: &mut AdaptiveRate, from_ms: u64, secs: u64) -> u64 {
        let mut n = 0;
        for t in from_ms..from_ms + secs * 1000 {
            while r.try_acquire(ms(t)).is_ok() {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn never_exceeds_configured_max() {
        let mut r = AdaptiveRate::new(Some(100.0), ms(0));
        let n = granted(&mut r, 0, 5);
        // 5 s at 100/s (less the 1 % guard), never the bucket's burst on top.
        assert!(n <= 500, "granted {n}");
        assert!(n >= 490, "granted {n}");
    }

    /// An operator's reload lowers the maximum from 100 to 5 a second mid-stream: no sliding
    /// second holds more than the old maximum before the change nor more than 5 after it
    /// (the grants of the last second under 100 do not add to the first under 5); raised to
    /// 200 it goes faster again, and taken away the cap is gone.
    #[test]
    fn a_new_maximum_holds_from_the_change_on() {
        let mut r = AdaptiveRate::new(Some(100.0), ms(0));
        let asks: Vec<Duration> = (0..50_000)
            .map(|i| Duration::from_micros(i * 100))
            .collect();
        let before = grant_times(&mut r, &asks[..20_000]);
        assert!(before.len() >= 190, "{}", before.len());
        r.set_max_rate(Some(5.0), ms(2_000));
        assert_eq!(r.max_rate(), Some(5.0));
        let after = grant_times(&mut r, &asks[20_000..]);
        let span = Duration::from_secs(1);
        // Nothing for a second after the change, then never more than 5 in a second.
        assert!(after[0] >= ms(3_000), "{after:?}");
        assert!(busiest(&after, span) <= 5, "{after:?}");
        assert!(after.len() >= 8, "{after:?}");
        // No second across the change holds old grants and new ones together.
        let across: Vec<Duration> = before.iter().chain(&after).copied().collect();
        assert_eq!(busiest(&across, span), busiest(&before, span));

        r.set_max_rate(Some(200.0), ms(5_000));
        let n = granted(&mut r, 5_000, 2);
        assert!((300..=400).contains(&n), "granted {n} at 200/s");
        r.set_max_rate(None, ms(7_000));
        assert_eq!(r.max_rate(), None);
        assert!(granted(&mut r, 7_000, 1) > 10_000);
        // 0 is no cap, as in the config.
        r.set_max_rate(Some(50.0), ms(8_000));
        r.set_max_rate(Some(0.0), ms(8_000));
        assert_eq!(r.max_rate(), None);
    }

    /// The most of `times` (sorted: grant times here, write times at a test SMSC in
    /// `smpp::tests`) in any half-open window of `span`.
    pub(crate) fn busiest<T>(times: &[T], span: Duration) -> usize
    where
        T: Copy + PartialOrd + std::ops::Add<Duration, Output = T>,
    {
        let mut most = 0;
        let mut from = 0;
        for (i, t) in times.iter().enumerate() {
            while *t >= times[from] + span {
                from += 1;
            }
            most = most.max(i + 1 - from);
        }
        most
    }

    /// Grants of `r` asked for at each of `asks` (sorted), as fast as it allows.
    fn grant_times(r: &mut AdaptiveRate, asks: &[Duration]) -> Vec<Duration> {
        let mut out = Vec::new();
        for &t in asks {
            if r.try_acquire(t).is_ok() {
                out.push(t);
            }
        }
        out
    }

    /// The tester's case: `--max-rate 50` gave 55 submits in one sliding second (a full
    /// bucket of 5 on top of 50 a second) and 51 in some calendar seconds. Asked at every
    /// 100 us for 5 s, no sliding second holds more than 50, and nearly 50 a second go.
    #[test]
    fn no_sliding_second_holds_more_than_the_maximum() {
        let mut r = AdaptiveRate::new(Some(50.0), ms(0));
        let asks: Vec<Duration> = (0..50_000)
            .map(|i| Duration::from_micros(i * 100))
            .collect();
        let times = grant_times(&mut r, &asks);
        assert_eq!(busiest(&times, WINDOW), 50);
        assert!(times.len() >= 245, "only {} in 5 s", times.len());
        // Nor a fractional one: 7.9 a second is at most 7 in any second.
        let mut r = AdaptiveRate::new(Some(7.9), ms(0));
        let times = grant_times(&mut r, &asks);
        assert_eq!(busiest(&times, WINDOW), 7);
        // Below one a second: one per 1 / rate seconds.
        let mut r = AdaptiveRate::new(Some(0.25), ms(0));
        let times = grant_times(&mut r, &asks);
        assert_eq!(times.len(), 2, "{times:?}");
        assert!(times[1] - times[0] >= Duration::from_secs(4));
    }

    /// At a high rate the slots fill up (1,000 at most) and grants join the newest: still
    /// never more than the maximum in a sliding second, and most of it goes.
    #[test]
    fn a_high_maximum_holds_with_bounded_slots() {
        let mut r = AdaptiveRate::new(Some(20_000.0), ms(0));
        let asks: Vec<Duration> = (0..60_000).map(|i| Duration::from_micros(i * 50)).collect();
        let times = grant_times(&mut r, &asks);
        assert!(busiest(&times, WINDOW) <= 20_000);
        assert!(times.len() >= 55_000, "only {} in 3 s", times.len());
        assert!(r.cap.as_ref().is_some_and(|c| c.slots.len() <= SLOTS));
    }

    /// Absurd maximums neither panic nor bind wrongly.
    #[test]
    fn extreme_maximums_are_safe() {
        let mut tiny = AdaptiveRate::new(Some(1e-300), ms(0));
        assert!(tiny.try_acquire(ms(0)).is_ok());
        let wait = tiny.try_acquire(ms(1)).unwrap_err();
        assert!(wait <= Duration::from_secs(3601), "{wait:?}");
        let mut huge = AdaptiveRate::new(Some(1e300), ms(0));
        for i in 0..10_000 {
            assert!(huge.try_acquire(Duration::from_micros(i)).is_ok());
        }
    }

    proptest::proptest! {
        /// Whatever the maximum, the pattern of asks (bursts, pauses, times asked twice) and
        /// the throttling on the way, no sliding window of a second holds more than the
        /// maximum's whole part (or, below one a second, more than one).
        #[test]
        fn no_window_ever_holds_more_than_the_maximum(
            rate in 0.3f64..300.0,
            gaps in proptest::collection::vec(0u64..400_000, 1..600),
            throttled in proptest::collection::vec(proptest::bool::weighted(0.05), 600),
        ) {
            let mut r = AdaptiveRate::new(Some(rate), ms(0));
            let mut t = Duration::ZERO;
            let mut times = Vec::new();
            for (i, gap) in gaps.iter().enumerate() {
                t += Duration::from_micros(*gap);
                // Ask until refused, as the session does with a full queue.
                while r.try_acquire(t).is_ok() {
                    times.push(t);
                }
                if throttled[i] {
                    r.on_throttled(t);
                } else {
                    r.on_success(t);
                }
            }
            let most = rate.floor().max(1.0) as usize;
            proptest::prop_assert!(busiest(&times, WINDOW) <= most);
        }
    }

    /// The session may be held between a grant and its write (a loaded machine): the first
    /// grants, written 40 ms late, are counted from their write, so the SMSC never sees more
    /// than the maximum in a second (counted from the grant, the 51st went 1,010 ms after the
    /// first grant and 970 ms after its write).
    #[test]
    fn grants_count_from_when_they_were_written() {
        let mut r = AdaptiveRate::new(Some(50.0), ms(0));
        let mut writes = Vec::new();
        for t in 0..3_000 {
            while r.try_acquire(ms(t)).is_ok() {
                let at = if t < 100 { t + 40 } else { t };
                r.written(ms(t), ms(at));
                writes.push(ms(at));
            }
        }
        writes.sort_unstable();
        assert_eq!(busiest(&writes, WINDOW), 50);
        assert!(writes.len() >= 145, "only {} in 3 s", writes.len());
    }

    #[test]
    fn throttle_halves_then_recovers() {
        let mut r = AdaptiveRate::new(Some(1000.0), ms(0));
        let _ = granted(&mut r, 0, 1);
        r.on_throttled(ms(1000));
        let after = r.current_rate();
        assert!(after <= 520.0, "rate after throttle {after}");
        assert!(
            r.try_acquire(ms(1050)).is_err(),
            "paused right after throttle"
        );
        for t in (1100..20_000).step_by(100) {
            r.on_success(ms(t));
        }
        assert_eq!(r.current_rate(), 1000.0);
    }

    #[test]
    fn a_maximum_below_the_floor_holds_after_throttling() {
        let mut r = AdaptiveRate::new(Some(0.5), ms(0));
        r.on_throttled(ms(1000));
        assert_eq!(r.current_rate(), 0.5);
        for t in (1100..20_000).step_by(100) {
            r.on_success(ms(t));
        }
        assert_eq!(r.current_rate(), 0.5);
        // 20 s at 0.5/s: about 10 grants, never 20.
        let n = granted(&mut r, 20_000, 20);
        assert!(n <= 11, "granted {n}");
    }

    #[test]
    fn repeated_throttling_floors_at_min_rate() {
        let mut r = AdaptiveRate::new(None, ms(0));
        for i in 0..100 {
            r.on_throttled(ms(i * 200));
        }
        assert_eq!(r.current_rate(), MIN_RATE);
    }

    /// An operator hears of push-back once when it begins and once when it has been over for
    /// [`QUIET`], not per refusal.
    #[test]
    fn a_spell_of_pushback_is_told_at_its_start_and_end() {
        let mut r = AdaptiveRate::new(Some(400.0), ms(0));
        assert_eq!(r.on_success(ms(500)), None);
        assert_eq!(
            r.on_throttled(ms(1000)),
            Some(Pushback::Began { rate: Some(200.0) })
        );
        for i in 1..50 {
            assert_eq!(r.on_throttled(ms(1000 + i * 100)), None);
        }
        // Successes while refusals are recent say nothing.
        assert_eq!(r.on_success(ms(6000)), None);
        assert_eq!(r.on_success(ms(5900 + QUIET.as_millis() as u64 - 1)), None);
        assert_eq!(
            r.on_success(ms(5900 + QUIET.as_millis() as u64)),
            Some(Pushback::Ended {
                refusals: 50,
                lasted: ms(4900)
            })
        );
        assert_eq!(r.on_success(ms(60_000)), None);
        // A new spell is a new beginning.
        assert!(matches!(
            r.on_throttled(ms(61_000)),
            Some(Pushback::Began { .. })
        ));
        // Also when no traffic came between to end the last one (from the review).
        assert!(matches!(
            r.on_throttled(ms(61_000 + QUIET.as_millis() as u64)),
            Some(Pushback::Began { .. })
        ));
    }

    /// The tester's case: one submit, a quiet spell, then a backlog sent as fast as the
    /// window goes and refused for load: the cut is from the rate of the burst, not from
    /// one submit over the quiet spell (which read 0.1 a second and cut to the 1/s floor).
    #[test]
    fn a_throttle_after_a_quiet_spell_cuts_from_the_rate_while_sending() {
        let mut r = AdaptiveRate::new(None, ms(0));
        assert!(r.try_acquire(ms(0)).is_ok());
        // 10 s of quiet, then 200 submits over 20 ms; the refusal comes 5 ms later.
        for i in 0..200 {
            assert!(r.try_acquire(ms(10_000 + i / 10)).is_ok());
        }
        let news = r.on_throttled(ms(10_025));
        let rate = r.current_rate();
        // 200 submits read as sent over at least 50 ms: 4,000 a second, halved.
        assert_eq!(rate, 2000.0);
        assert_eq!(news, Some(Pushback::Began { rate: Some(2000.0) }));
    }

    /// Sending steadily at 200 a second for 3 s after a long quiet spell: the estimate is
    /// about 200, whatever came before, also early in a window and when asked long after the
    /// last submit; a pause longer than [`IDLE_GAP`] starts afresh.
    #[test]
    fn the_achieved_rate_is_measured_while_sending() {
        let mut e = SendRate::default();
        assert_eq!(e.estimate(), None);
        e.on_send(ms(0));
        for t in (60_000..63_000).step_by(5) {
            e.on_send(ms(t));
        }
        let rate = e.estimate().unwrap();
        assert!((190.0..=210.0).contains(&rate), "{rate}");
        // Early in a window: the previous one speaks too.
        e.on_send(ms(63_000));
        let rate = e.estimate().unwrap();
        assert!((190.0..=210.0).contains(&rate), "{rate}");
        // After a quiet spell, 10 submits in 100 ms read as about 100 a second.
        for t in (100_000..100_100).step_by(10) {
            e.on_send(ms(t));
        }
        let rate = e.estimate().unwrap();
        assert!((90.0..=115.0).contains(&rate), "{rate}");
    }

    /// Sending at 200 a second and refused for load: the rate is cut to about 100, and the
    /// warning's number is that rate. With nothing sent and no rate set, there is no number
    /// to tell (it used to print 500000).
    #[test]
    fn a_throttle_cuts_to_half_the_achieved_rate_and_says_so() {
        let mut r = AdaptiveRate::new(None, ms(0));
        for t in (0..3_000).step_by(5) {
            assert!(r.try_acquire(ms(t)).is_ok());
        }
        let Some(Pushback::Began { rate: Some(rate) }) = r.on_throttled(ms(3_000)) else {
            panic!("no rate told");
        };
        assert!((95.0..=105.0).contains(&rate), "{rate}");
        assert_eq!(r.current_rate(), rate);

        let mut fresh = AdaptiveRate::new(None, ms(0));
        assert_eq!(
            fresh.on_throttled(ms(1_000)),
            Some(Pushback::Began { rate: None })
        );
        // With a configured maximum, the number is a real one.
        let mut capped = AdaptiveRate::new(Some(300.0), ms(0));
        assert_eq!(
            capped.on_throttled(ms(1_000)),
            Some(Pushback::Began { rate: Some(150.0) })
        );
    }

    #[test]
    fn a_burst_of_throttled_answers_halves_once() {
        let mut r = AdaptiveRate::new(Some(400.0), ms(0));
        // A full window of submits in flight, all answered ESME_RTHROTTLED within 10 ms.
        for i in 0..64 {
            r.on_throttled(ms(1000 + i / 8));
        }
        assert_eq!(r.current_rate(), 200.0);
        // Still throttled half a second later: one more halving.
        r.on_throttled(ms(1600));
        assert_eq!(r.current_rate(), 100.0);
    }
}
