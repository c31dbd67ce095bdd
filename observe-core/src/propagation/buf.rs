//! A short ASCII header value formatted on the stack.

use std::fmt;

/// A header value of at most `N` ASCII bytes, formatted on the stack so that
/// producing it never allocates. Returned by [`format_traceparent`],
/// [`format_traceresponse`] and [`format_server_timing`]; use it as a `&str`.
///
/// ```
/// use observe_core::propagation::format_traceparent;
/// use observe_core::{SpanContext, SpanId, TraceFlags, TraceId};
///
/// let ctx = SpanContext {
///     trace_id: TraceId::new(0x4bf92f3577b34da6a3ce929d0e0e4736),
///     span_id: SpanId::new(0x00f067aa0ba902b7),
///     flags: TraceFlags::SAMPLED,
///     is_remote: false,
/// };
/// let value = format_traceparent(&ctx);
/// assert_eq!(value.as_str(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(value.len(), 55);
/// ```
///
/// [`format_traceparent`]: super::format_traceparent
/// [`format_traceresponse`]: super::format_traceresponse
/// [`format_server_timing`]: super::format_server_timing
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> HeaderBuf<N> {
    pub(crate) const fn new() -> Self {
        HeaderBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// A value that fills the whole buffer (`buf` holds only ASCII).
    pub(crate) const fn full(buf: [u8; N]) -> Self {
        HeaderBuf { buf, len: N }
    }

    /// Appends ASCII bytes; bytes that do not fit are dropped (callers size `N`
    /// for their longest value, so this never happens).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(N);
        let take = end - self.len;
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..end), bytes.get(..take)) {
            dst.copy_from_slice(src);
            self.len = end;
        }
    }

    pub(crate) fn push_byte(&mut self, b: u8) {
        self.push(&[b]);
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever pushed, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The value's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> std::ops::Deref for HeaderBuf<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for HeaderBuf<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<[u8]> for HeaderBuf<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> PartialEq<str> for HeaderBuf<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for HeaderBuf<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> fmt::Display for HeaderBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for HeaderBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

pub(crate) use crate::ids::write_hex;

/// Appends the decimal digits of `value`.
pub(crate) fn push_decimal<const N: usize>(out: &mut HeaderBuf<N>, mut value: u128) {
    let mut digits = [0u8; 39];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 || i == 0 {
            break;
        }
    }
    out.push(digits.get(i..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_never_overflows() {
        let mut b = HeaderBuf::<4>::new();
        b.push(b"abc");
        b.push(b"def");
        assert_eq!(b.as_str(), "abcd");
        b.push_byte(b'x');
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn hex_and_decimal() {
        let mut hex = [0u8; 4];
        write_hex(&mut hex, &[0x0a, 0xbf]);
        assert_eq!(&hex, b"0abf");
        let mut b = HeaderBuf::<64>::new();
        b.push(b"00ab");
        b.push_byte(b' ');
        push_decimal(&mut b, 0);
        b.push_byte(b' ');
        push_decimal(&mut b, u128::MAX);
        assert_eq!(b.as_str(), "00ab 0 340282366920938463463374607431768211455");
    }
}
