//! What extraction rejected, and why: for adapters to count and log bad headers
//! without parsing them again.

use std::fmt;

use super::{BaggageError, RequestIdError, TraceStateError, TraceparentError};

/// Why a header (or one member of a list header) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// An invalid `traceparent`: no parent, a new trace starts.
    Traceparent(TraceparentError),
    /// An invalid `traceresponse`.
    Traceresponse(TraceparentError),
    /// A `tracestate` member was dropped, or the whole header was ignored.
    TraceState(TraceStateError),
    /// A `baggage` member was dropped.
    Baggage(BaggageError),
    /// An `x-request-id` value was ignored.
    RequestId(RequestIdError),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Traceparent(e) | RejectReason::Traceresponse(e) => e.fmt(f),
            RejectReason::TraceState(e) => e.fmt(f),
            RejectReason::Baggage(e) => e.fmt(f),
            RejectReason::RequestId(e) => e.fmt(f),
        }
    }
}

/// One rejected header value or list member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The header's name, one of this module's constants.
    pub header: &'static str,
    /// What was wrong and what is accepted.
    pub reason: RejectReason,
    /// The offending input (the value, or the list member), lossily decoded and
    /// shortened to at most [`Rejection::MAX_INPUT_LEN`] bytes (then ending in `…`).
    pub input: String,
}

impl Rejection {
    /// How much of the offending input a rejection keeps.
    pub const MAX_INPUT_LEN: usize = 64;
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (input {:?})",
            self.header, self.reason, self.input
        )
    }
}

/// The rejections of one extraction. At most [`Rejections::MAX_KEPT`] are kept in
/// detail so that a hostile header cannot make this list grow without bound;
/// [`total`](Rejections::total) counts them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    kept: Vec<Rejection>,
    total: usize,
}

impl Rejections {
    /// How many rejections are kept in detail.
    pub const MAX_KEPT: usize = 16;

    /// No rejections.
    pub const fn new() -> Self {
        Rejections {
            kept: Vec::new(),
            total: 0,
        }
    }

    /// Whether nothing was rejected.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many values or members were rejected, including those not kept in detail.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The rejections kept in detail, in the order they happened.
    pub fn iter(&self) -> std::slice::Iter<'_, Rejection> {
        self.kept.iter()
    }

    /// Whether a rejection of `header` happened (among those kept in detail).
    pub fn contains_header(&self, header: &str) -> bool {
        self.kept.iter().any(|r| r.header == header)
    }

    pub(crate) fn push(&mut self, header: &'static str, reason: RejectReason, input: &[u8]) {
        self.total = self.total.saturating_add(1);
        if self.kept.len() < Self::MAX_KEPT {
            self.kept.push(Rejection {
                header,
                reason,
                input: shorten(input),
            });
        }
    }
}

impl<'a> IntoIterator for &'a Rejections {
    type Item = &'a Rejection;
    type IntoIter = std::slice::Iter<'a, Rejection>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Decodes at most the first 64 bytes of `input`, whatever its length.
fn shorten(input: &[u8]) -> String {
    let cut = input.len() > Rejection::MAX_INPUT_LEN;
    let s = String::from_utf8_lossy(input.get(..Rejection::MAX_INPUT_LEN).unwrap_or(input));
    if !cut && s.len() <= Rejection::MAX_INPUT_LEN {
        return s.into_owned();
    }
    let mut end = Rejection::MAX_INPUT_LEN - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(Rejection::MAX_INPUT_LEN);
    out.push_str(s.get(..end).unwrap_or_default());
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_number_and_counts_all() {
        let mut r = Rejections::new();
        for _ in 0..100 {
            r.push(
                "tracestate",
                RejectReason::TraceState(TraceStateError::MissingEquals),
                b"x",
            );
        }
        assert_eq!(r.total(), 100);
        assert_eq!(r.iter().count(), Rejections::MAX_KEPT);
    }

    #[test]
    fn input_is_shortened_on_a_char_boundary() {
        let long = "é".repeat(100);
        let s = shorten(long.as_bytes());
        assert!(s.len() <= Rejection::MAX_INPUT_LEN);
        assert!(s.ends_with('…'));
        assert_eq!(shorten(b"\xff ok"), "\u{fffd} ok");
        let long = vec![b'x'; 65];
        assert_eq!(
            shorten(&long).chars().last(),
            Some('…'),
            "shortened, and says so"
        );
        assert_eq!(shorten(&[b'x'; 64]), "x".repeat(64));
    }
}
