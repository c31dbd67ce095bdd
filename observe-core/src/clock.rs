//! The cheap monotonic clock behind span timing, anchored to wall-clock time.
//!
//! The hot path reads raw ticks ([`Tick`]): the CPU's time-stamp counter through
//! `quanta` where it is invariant (about 10 ns here, against 27 ns for
//! `Instant::now()`), the OS monotonic clock otherwise. Ticks are turned into
//! nanoseconds and into Unix time only off the request path, using an anchor pair
//! (tick, wall-clock time) taken once when the clock is first used.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A raw reading of the monotonic clock. Only differences and conversions through
/// this module mean anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tick(pub(crate) u64);

struct Clock {
    source: quanta::Clock,
    anchor_tick: u64,
    anchor_unix_nanos: u64,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

#[inline]
fn clock() -> &'static Clock {
    CLOCK.get_or_init(|| {
        let source = quanta::Clock::new();
        let anchor_tick = source.raw();
        let anchor_unix_nanos = unix_nanos(SystemTime::now());
        Clock {
            source,
            anchor_tick,
            anchor_unix_nanos,
        }
    })
}

impl Clock {
    /// Ticks per nanosecond: the calibration inverted with one division, off the
    /// hot path.
    fn ticks_per_ns(&self) -> f64 {
        let per_ns = self.source.delta_as_nanos(0, 1_000_000_000) as f64 / 1e9;
        if per_ns > 0.0 { 1.0 / per_ns } else { 1.0 }
    }
}

/// The instant `d` from now, or a far one (in thirty years) when `d` is past what
/// an `Instant` can hold: deadlines come from configuration and from callers
/// (`OBSERVE_SHUTDOWN_TIMEOUT`, `Guard::flush`), where `Duration::MAX` means
/// "wait as long as it takes", and `Instant + Duration` panics on overflow.
pub(crate) fn deadline_after(d: Duration) -> std::time::Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
    let now = std::time::Instant::now();
    now.checked_add(d.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// `d` in milliseconds, the double nearest to its exact value: nanoseconds
/// divided by a million (one correctly rounded division). `as_secs_f64() * 1e3`
/// rounds twice and printed 3 935 ns as `0.003934999999999999`; this prints
/// `0.003935`, and the log line's writer takes its short path for it.
pub(crate) fn millis(d: Duration) -> f64 {
    // Exact up to 2^53 ns (104 days); beyond, the nearest double of a nearest
    // double. Past `u64` nanoseconds (584 years), the seconds' double.
    match u64::try_from(d.as_nanos()) {
        Ok(n) => n as f64 / 1e6,
        Err(_) => d.as_secs_f64() * 1e3,
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Tick {
    /// The current tick.
    #[inline]
    pub fn now() -> Tick {
        Tick(clock().source.raw())
    }

    /// Nanoseconds from `self` to `later`; zero when `later` is not later.
    #[inline]
    pub fn nanos_until(self, later: Tick) -> u64 {
        clock().source.delta_as_nanos(self.0, later.0)
    }

    /// The time from `self` to `later`; zero when `later` is not later.
    #[inline]
    pub fn duration_until(self, later: Tick) -> Duration {
        Duration::from_nanos(self.nanos_until(later))
    }

    /// Nanoseconds since the Unix epoch at this tick.
    pub fn unix_nanos(self) -> u64 {
        let c = clock();
        if self.0 >= c.anchor_tick {
            c.anchor_unix_nanos + c.source.delta_as_nanos(c.anchor_tick, self.0)
        } else {
            c.anchor_unix_nanos
                .saturating_sub(c.source.delta_as_nanos(self.0, c.anchor_tick))
        }
    }

    /// This tick as wall-clock time.
    pub fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos())
    }

    /// The number of ticks in `d`, a millionth short: comparing two ticks'
    /// difference with it says whether they are more than `d` apart without
    /// converting the difference to nanoseconds. The inverse calibration is a
    /// float, so the count errs short: what is compared as within it is within
    /// `d`, and only differences within a millionth of `d` may be taken for more.
    pub(crate) fn ticks_in(d: Duration) -> u64 {
        (d.as_nanos() as f64 * clock().ticks_per_ns() * (1.0 - 1e-6)) as u64
    }

    /// Whether more than `ticks` ticks (see [`Tick::ticks_in`]) separate `self`
    /// from `later`; never when `later` is not later.
    #[inline]
    pub(crate) fn more_than_ticks_before(self, later: Tick, ticks: u64) -> bool {
        later.0.saturating_sub(self.0) > ticks
    }

    /// The tick for a wall-clock time (for spans whose start is known only as a
    /// `SystemTime`, such as one reported by a peer).
    pub fn from_system_time(t: SystemTime) -> Tick {
        let c = clock();
        let target = unix_nanos(t);
        let delta_ns = target as i128 - c.anchor_unix_nanos as i128;
        let delta_ticks = (delta_ns as f64 * c.ticks_per_ns()) as i128;
        Tick((c.anchor_tick as i128 + delta_ticks).clamp(0, u64::MAX as i128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ticks taken 20 ms apart, and the time between them.
    fn ticks_20_ms_apart() -> (Tick, Tick, Duration) {
        let a = Tick::now();
        std::thread::sleep(Duration::from_millis(20));
        let b = Tick::now();
        (a, b, a.duration_until(b))
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let before = std::time::Instant::now();
        let soon = deadline_after(Duration::from_secs(1));
        assert!(soon >= before + Duration::from_secs(1));
        for endless in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            let far = deadline_after(endless);
            assert!(
                far > before + Duration::from_secs(10 * 365 * 86_400),
                "{far:?}"
            );
        }
    }

    #[test]
    fn ticks_advance_with_real_time() {
        let (a, b, d) = ticks_20_ms_apart();
        assert!(d >= Duration::from_millis(19), "{d:?}");
        assert_eq!(b.duration_until(a), Duration::ZERO);
    }

    #[test]
    fn milliseconds_are_the_nearest_double_to_the_exact_value() {
        let mut ns: Vec<u64> = (0..200_000).collect();
        ns.extend([3_935, 42_863, 1_061, 999_999_999, 123_456_789_012, 1 << 52]);
        for n in ns {
            let ms = millis(Duration::from_nanos(n));
            let exact = format!("{}.{:06}", n / 1_000_000, n % 1_000_000);
            assert_eq!(ms, exact.parse::<f64>().unwrap(), "{n} ns");
        }
        assert_eq!(millis(Duration::MAX), Duration::MAX.as_secs_f64() * 1e3);
    }

    #[test]
    fn unix_time_is_close_to_system_time() {
        let before = unix_nanos(SystemTime::now());
        let t = Tick::now().unix_nanos();
        let after = unix_nanos(SystemTime::now());
        // Calibration error is far below a millisecond; allow for it.
        assert!(t + 1_000_000 >= before && t <= after + 1_000_000);
    }

    #[test]
    fn a_tick_difference_compares_with_a_duration_in_ticks() {
        let (a, b, d) = ticks_20_ms_apart();
        assert!(a.more_than_ticks_before(b, Tick::ticks_in(d / 2)));
        assert!(!a.more_than_ticks_before(b, Tick::ticks_in(d * 2)));
        assert!(
            !b.more_than_ticks_before(a, 0),
            "an earlier tick is never later"
        );
        // Within `d` when compared so: within it by the nanosecond clock too.
        let within = Tick::ticks_in(d);
        let c = Tick(a.0 + within);
        assert!(!a.more_than_ticks_before(c, within));
        assert!(a.duration_until(c) <= d);
        assert_eq!(Tick::ticks_in(Duration::ZERO), 0);
    }

    #[test]
    fn system_time_round_trip() {
        let now = SystemTime::now();
        let t = Tick::from_system_time(now);
        let back = unix_nanos(t.system_time()) as i128;
        assert!((back - unix_nanos(now) as i128).abs() < 1_000_000);
    }
}
