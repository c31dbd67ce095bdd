//! Reading an inbound header within a byte budget, and (in tests) counting the
//! bytes the parsers examine.
//!
//! A client chooses how long its headers are; observe chooses how much of them it
//! reads. Every parser of an inbound header takes its input through a [`Budget`]:
//! the combined value of a repeated header (its values joined by commas, as the
//! specifications combine them) is read up to the header's limit and no further,
//! so a megabyte header costs what a header at the limit costs.

/// The read budget of one header: the combined value (its values joined by `,`,
/// each joining comma counting one byte) is read up to `limit` bytes.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
    started: bool,
}

/// What [`Budget::take`] allows of one value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Window<'a> {
    /// The whole value.
    All(&'a [u8]),
    /// The first bytes of a longer value: the budget ends inside it. When
    /// `ends_at_separator` is true the byte right after the window is `,` (it was
    /// looked at), so the last member of the window is complete; otherwise the
    /// window ends inside a member, which is dropped unread.
    Part {
        /// The bytes that may be read.
        window: &'a [u8],
        /// Whether the window ends where a member ends.
        ends_at_separator: bool,
    },
    /// The budget is spent: nothing of this value may be read.
    Spent,
}

impl Budget {
    pub(crate) const fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: 0,
            started: false,
        }
    }

    /// The part of the next value of the header that may be read.
    pub(crate) fn take<'a>(&mut self, value: &'a [u8]) -> Window<'a> {
        if self.started {
            // The comma that joins this value to the previous ones.
            self.used = self.used.saturating_add(1);
        }
        self.started = true;
        let avail = self.limit.saturating_sub(self.used);
        if self.used > self.limit || (avail == 0 && !value.is_empty()) {
            self.used = self.limit.saturating_add(1);
            return Window::Spent;
        }
        if value.len() <= avail {
            self.used += value.len();
            return Window::All(value);
        }
        self.used = self.limit.saturating_add(1);
        let window = value.get(..avail).unwrap_or_default();
        let next = value.get(avail).copied();
        examined(1);
        Window::Part {
            window,
            ends_at_separator: next == Some(b','),
        }
    }

    /// Whether nothing more can be read.
    #[cfg(test)]
    pub(crate) fn is_spent(&self) -> bool {
        self.used > self.limit
    }
}

/// A 64-bit FNV-1a hash, fed one byte at a time while a key is scanned, so that
/// duplicate keys are found by comparing hashes rather than rescanning kept keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHash(u64);

impl KeyHash {
    pub(crate) const fn new() -> Self {
        KeyHash(0xcbf2_9ce4_8422_2325)
    }

    #[inline]
    pub(crate) fn feed(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }

    pub(crate) const fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
thread_local! {
    static EXAMINED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Records that a parser examined `n` more bytes (input bytes read, plus kept bytes
/// compared). Counted in tests only; compiles to nothing otherwise.
#[inline(always)]
pub(crate) fn examined(n: usize) {
    #[cfg(test)]
    EXAMINED.with(|c| c.set(c.get().saturating_add(n)));
    #[cfg(not(test))]
    let _ = n;
}

/// The bytes examined on this thread since the last call, and resets the count.
#[cfg(test)]
pub(crate) fn take_examined() -> usize {
    EXAMINED.with(|c| c.replace(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_joined_by_one_byte_and_cut_at_the_limit() {
        let mut b = Budget::new(10);
        assert_eq!(b.take(b"abcd"), Window::All(b"abcd"));
        // 4 + 1 (comma) = 5 used, 5 left.
        assert_eq!(
            b.take(b"efg,hijk"),
            Window::Part {
                window: b"efg,h",
                ends_at_separator: false
            }
        );
        assert!(b.is_spent());
        assert_eq!(b.take(b"x"), Window::Spent);
    }

    #[test]
    fn a_window_that_ends_at_a_comma_keeps_its_last_member() {
        let mut b = Budget::new(3);
        assert_eq!(
            b.take(b"a=1,b=2"),
            Window::Part {
                window: b"a=1",
                ends_at_separator: true
            }
        );
    }

    #[test]
    fn a_value_that_ends_at_the_limit_is_whole_and_the_next_one_is_not_read() {
        let mut b = Budget::new(3);
        assert_eq!(b.take(b"a=1"), Window::All(b"a=1"));
        assert!(!b.is_spent());
        assert_eq!(b.take(b"b=2"), Window::Spent);
    }
}
