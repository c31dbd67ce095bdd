//! Cumulative good/total samples over time, from which any window's counts are a
//! difference, and the burn-rate arithmetic.

use std::collections::VecDeque;

/// Cumulative counts of one SLO at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sample {
    /// Registry clock, nanoseconds since the Unix epoch.
    pub(crate) t: u64,
    pub(crate) good: u64,
    pub(crate) total: u64,
}

/// Good and total requests of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) good: u64,
    pub(crate) total: u64,
    /// The time the counts actually cover (shorter than asked while the history
    /// is shorter than the window).
    pub(crate) covered_nanos: u64,
}

impl Counts {
    /// The burn rate: the bad fraction over the fraction the objective allows
    /// (`1 - objective`); 0 without requests. A burn rate of 1 spends exactly the
    /// budget over the period; 14.4 spends 2 % of a 30-day budget in one hour.
    pub(crate) fn burn_rate(&self, objective: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let bad = self.total.saturating_sub(self.good) as f64;
        (bad / self.total as f64) / error_budget(objective)
    }
}

/// The error budget of `objective`, `1 - objective` rounded to 12 decimals: in
/// binary, 1 - 0.999 is 0.0010000000000000009, which read a burn rate of exactly
/// 100 as 100.00000000001101. Objectives have far fewer decimals than 12.
pub(crate) fn error_budget(objective: f64) -> f64 {
    let exact = 1.0 - objective;
    let rounded = (exact * 1e12).round() / 1e12;
    // An objective with more decimals than that keeps its own budget (never 0).
    if rounded > 0.0 { rounded } else { exact }
}

/// Samples kept every `step` for `span` (plus one older).
#[derive(Debug)]
struct Tier {
    step: u64,
    span: u64,
    samples: VecDeque<Sample>,
}

impl Tier {
    fn offer(&mut self, s: Sample) {
        if self
            .samples
            .back()
            .is_none_or(|b| s.t >= b.t.saturating_add(self.step))
        {
            self.samples.push_back(s);
        }
        // Keep exactly one sample at or before `now - span`, so a window of `span`
        // finds its start.
        while self.samples.len() >= 2 && self.samples[1].t.saturating_add(self.span) <= s.t {
            self.samples.pop_front();
        }
    }

    /// The newest sample at or before `t`.
    fn at_or_before(&self, t: u64) -> Option<Sample> {
        let i = self.samples.partition_point(|s| s.t <= t);
        i.checked_sub(1).map(|i| self.samples[i])
    }
}

/// One SLO's history: a few tiers of samples, finest first, and the first sample
/// ever taken (the start of what the engine saw).
#[derive(Debug)]
pub(crate) struct History {
    tiers: Vec<Tier>,
    first: Option<Sample>,
}

impl History {
    /// Tiers of `(step, span)` in nanoseconds, finest first.
    pub(crate) fn new(tiers: &[(u64, u64)]) -> History {
        History {
            tiers: tiers
                .iter()
                .map(|&(step, span)| Tier {
                    step: step.max(1),
                    span,
                    samples: VecDeque::with_capacity(
                        usize::try_from(span / step.max(1)).unwrap_or(0).min(8192) + 2,
                    ),
                })
                .collect(),
            first: None,
        }
    }

    pub(crate) fn record(&mut self, s: Sample) {
        self.first.get_or_insert(s);
        for t in &mut self.tiers {
            t.offer(s);
        }
    }

    /// Samples held (for the memory bound's test).
    pub(crate) fn len(&self) -> usize {
        self.tiers.iter().map(|t| t.samples.len()).sum()
    }

    /// The counts of the window of `window` nanoseconds ending at `now` (the
    /// current cumulative sample): `now` minus the newest sample at or before
    /// `now.t - window`, from the finest tier that reaches that far; while the
    /// history is shorter than the window, minus the first sample.
    pub(crate) fn window(&self, now: Sample, window: u64) -> Counts {
        let start = now.t.saturating_sub(window);
        let base = self
            .tiers
            .iter()
            .find_map(|t| t.at_or_before(start))
            .or(self.first)
            .unwrap_or(now);
        Counts {
            good: now.good.saturating_sub(base.good),
            total: now.total.saturating_sub(base.total),
            covered_nanos: now.t.saturating_sub(base.t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_burn_rate_reads_as_the_decimal_it_is() {
        let c = Counts {
            good: 90,
            total: 100,
            covered_nanos: 0,
        };
        assert_eq!(c.burn_rate(0.999), 100.0);
        assert_eq!(c.burn_rate(0.99), 10.0);
        assert_eq!(error_budget(0.999), 0.001);
        assert_eq!(error_budget(0.9999), 0.0001);
        let nines = 0.999_999_999_999_9;
        assert!(error_budget(nines) > 0.0);
        assert!(c.burn_rate(nines).is_finite());
    }

    #[test]
    fn a_known_series_gives_the_exact_burn_rate() {
        // 10 s steps for 1 h: 100 requests every 10 s, 1 bad in each of the first
        // 30 minutes' batches, then 20 bad per batch for the last 5 minutes.
        let mut h = History::new(&[(10 * S, 3600 * S)]);
        let (mut good, mut total) = (0u64, 0u64);
        let mut t = 1_000 * S;
        h.record(Sample { t, good, total });
        for i in 0..210 {
            t += 10 * S;
            total += 100;
            good += if i < 180 { 99 } else { 80 };
            h.record(Sample { t, good, total });
        }
        let now = Sample { t, good, total };
        let five = h.window(now, 300 * S);
        assert_eq!((five.good, five.total), (30 * 80, 3000));
        // 20 % bad against a 1 % budget: burn rate 20, exactly.
        assert!((five.burn_rate(0.99) - 20.0).abs() < 1e-9);
        let hour = h.window(now, 3600 * S);
        // 35 minutes of history: all of it.
        assert_eq!(hour.total, 21_000);
        assert_eq!(hour.total - hour.good, 180 + 600);
        assert!((hour.burn_rate(0.99) - 780.0 / 21_000.0 / 0.01).abs() < 1e-9);
        assert_eq!(hour.covered_nanos, 2100 * S);
        assert_eq!(Counts::default().burn_rate(0.99), 0.0);
    }

    #[test]
    fn tiers_are_bounded_and_the_coarse_one_reaches_further() {
        let mut h = History::new(&[(10 * S, 600 * S), (60 * S, 7200 * S)]);
        let mut t = 0;
        for i in 0..100_000u64 {
            t = i * S;
            h.record(Sample {
                t,
                good: i,
                total: i,
            });
        }
        // 61 + 1 fine samples, 121 + 1 coarse ones, whatever the run's length.
        assert!(h.len() <= 62 + 122, "{}", h.len());
        let now = Sample {
            t,
            good: 99_999,
            total: 99_999,
        };
        // 5 minutes from the fine tier: within its 10 s step.
        let five = h.window(now, 300 * S).covered_nanos;
        assert!((300 * S..310 * S).contains(&five), "{five}");
        // An hour from the coarse tier: within its 60 s step.
        let hour = h.window(now, 3600 * S).covered_nanos;
        assert!((3600 * S..3660 * S).contains(&hour), "{hour}");
    }
}
