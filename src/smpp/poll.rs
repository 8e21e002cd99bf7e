//! Whether a session polls its socket for an answer it expects soon or sleeps on it
//! ([`BusyPoll`]).
//!
//! Polling (the reader yields to the runtime between looks, `Reader::set_spin`) saves the
//! wake-up of an idle CPU per answer, which at window 1 can be as long as a nearby SMSC takes to
//! answer. What it is worth depends on the host: on the bench VM it nearly doubled the messages
//! per second at window 1 in one hour, and cost a fifth of them in a later one, when idle CPUs
//! woke fast and the polling CPU only took time from the others (BENCHMARKS.md, fourteenth
//! session). So the session does not assume; it measures. It takes [`PROBE`] answers sleeping,
//! then as many polling, keeps the mode whose answers came back faster (polling only when at
//! least a tenth faster: it costs CPU), runs it for [`RUN`] answers, and probes again.
//!
//! Polling is for an SMSC that answers within the budget (`[smsc] busy_poll_us`): one whose
//! smoothed response time is longer, across a WAN, is never polled for.

use std::time::Duration;

use tokio::time::Instant;

/// Answers timed in each probe.
pub(crate) const PROBE: u32 = 256;

/// Answers between probes, in the mode the last probes chose.
pub(crate) const RUN: u32 = 16 * PROBE;

/// What a pair of probes found, and the mode chosen for the run that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    /// Polling was chosen.
    pub polling: bool,
    /// Mean answer time of the sleeping probe, microseconds.
    pub sleeping_us: u64,
    /// Mean answer time of the polling probe, microseconds.
    pub polling_us: u64,
}

/// Where the session is in its measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Timing answers while sleeping.
    ProbeSleep,
    /// Timing answers while polling; the sleeping probe's mean, microseconds.
    ProbePoll { sleep_mean_us: u64 },
    /// In the chosen mode for this many more answers.
    Run { left: u32 },
}

/// One session's choice between polling and sleeping, and its measuring (module docs).
#[derive(Debug)]
pub(crate) struct BusyPoll {
    budget: Duration,
    polling: bool,
    phase: Phase,
    sum_us: u64,
    count: u32,
}

impl BusyPoll {
    /// A session's chooser with the configured `budget` (zero: never poll, never probe).
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            budget,
            polling: false,
            phase: if budget.is_zero() {
                Phase::Run { left: u32::MAX }
            } else {
                Phase::ProbeSleep
            },
            sum_us: 0,
            count: 0,
        }
    }

    /// Until when to poll ([`Reader::set_spin`](super::reader::Reader::set_spin)): the
    /// budget from the session's last read or write (`active`), when polling is the mode now,
    /// something is expected (a response, or a stored MO's answer to write) and the SMSC's
    /// smoothed response time (`response_time_us`, 0 until known) is within the budget.
    /// `None`: sleep.
    pub(crate) fn until(
        &self,
        expects: bool,
        response_time_us: u64,
        active: Instant,
    ) -> Option<Instant> {
        let fast = Duration::from_micros(response_time_us) <= self.budget;
        (self.polling && expects && fast).then(|| active + self.budget)
    }

    /// Whether polling is the mode now.
    #[cfg(test)]
    pub(crate) fn polling(&self) -> bool {
        self.polling
    }

    /// A windowed request was answered after `took`: count it towards the probe under way, or
    /// the run, and move on when it is complete. When this answer ends the probes, the choice
    /// made ([`Choice`]).
    pub(crate) fn answered(&mut self, took: Duration) -> Option<Choice> {
        if self.budget.is_zero() {
            return None;
        }
        let mean = |sum: u64, count: u32| sum / u64::from(count.max(1));
        match self.phase {
            Phase::Run { left } => {
                if left <= 1 {
                    self.start(Phase::ProbeSleep, false);
                } else {
                    self.phase = Phase::Run { left: left - 1 };
                }
                None
            }
            Phase::ProbeSleep | Phase::ProbePoll { .. } => {
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                self.sum_us = self.sum_us.saturating_add(us);
                self.count += 1;
                if self.count < PROBE {
                    return None;
                }
                let probed = mean(self.sum_us, self.count);
                match self.phase {
                    Phase::ProbeSleep => {
                        self.start(
                            Phase::ProbePoll {
                                sleep_mean_us: probed,
                            },
                            true,
                        );
                        None
                    }
                    Phase::ProbePoll { sleep_mean_us } => {
                        // Polling keeps a CPU busy: it must win by a tenth.
                        let poll = u128::from(probed) * 10 < u128::from(sleep_mean_us) * 9;
                        self.start(Phase::Run { left: RUN }, poll);
                        Some(Choice {
                            polling: poll,
                            sleeping_us: sleep_mean_us,
                            polling_us: probed,
                        })
                    }
                    Phase::Run { .. } => None,
                }
            }
        }
    }

    fn start(&mut self, phase: Phase, polling: bool) {
        self.phase = phase;
        self.polling = polling;
        self.sum_us = 0;
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_micros(200);

    /// Feed `n` answers of `us` microseconds each.
    fn feed(b: &mut BusyPoll, n: u32, us: u64) {
        for _ in 0..n {
            let _ = b.answered(Duration::from_micros(us));
        }
    }

    #[test]
    fn polling_is_kept_only_when_its_answers_come_a_tenth_faster() {
        let mut b = BusyPoll::new(BUDGET);
        assert!(!b.polling(), "the first probe sleeps");
        feed(&mut b, PROBE, 60);
        assert!(b.polling(), "then a probe polls");
        feed(&mut b, PROBE - 1, 30);
        assert_eq!(
            b.answered(Duration::from_micros(30)),
            Some(Choice {
                polling: true,
                sleeping_us: 60,
                polling_us: 30
            })
        );
        assert!(b.polling(), "twice as fast: polling kept");
        feed(&mut b, RUN, 30);
        assert!(!b.polling(), "after the run, probing again, sleeping first");
        feed(&mut b, PROBE, 40);
        assert!(b.polling());
        feed(&mut b, PROBE, 37);
        assert!(!b.polling(), "under a tenth faster: not worth a busy CPU");
        feed(&mut b, RUN - 1, 40);
        assert!(!b.polling());
        feed(&mut b, 1, 40);
        feed(&mut b, PROBE, 40);
        assert!(b.polling(), "the next probe");
        feed(&mut b, PROBE, 50);
        assert!(!b.polling(), "slower when polling: sleep");
    }

    #[test]
    fn a_zero_budget_never_polls() {
        let mut b = BusyPoll::new(Duration::ZERO);
        for us in [60, 1, 1, 1] {
            feed(&mut b, RUN, us);
            assert!(!b.polling());
        }
        assert_eq!(b.until(true, 0, Instant::now()), None);
    }

    #[test]
    fn polls_only_for_an_expected_answer_from_a_fast_smsc() {
        let mut b = BusyPoll::new(BUDGET);
        let active = Instant::now();
        assert_eq!(b.until(true, 40, active), None, "sleeping probe");
        feed(&mut b, PROBE, 100);
        assert_eq!(b.until(true, 40, active), Some(active + BUDGET));
        assert_eq!(
            b.until(true, 0, active),
            Some(active + BUDGET),
            "no response time yet: poll, and learn it"
        );
        assert_eq!(b.until(true, 200, active), Some(active + BUDGET));
        assert_eq!(b.until(true, 201, active), None, "a slow SMSC");
        assert_eq!(b.until(false, 40, active), None, "nothing expected");
    }

    #[test]
    fn huge_answer_times_do_not_overflow() {
        let mut b = BusyPoll::new(BUDGET);
        feed(&mut b, PROBE, u64::MAX / 2);
        feed(&mut b, PROBE, u64::MAX / 2);
        assert!(!b.polling());
    }
}
