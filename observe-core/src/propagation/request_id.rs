//! `x-request-id`: the request's id, echoed when valid and generated when absent.

use std::fmt;
use std::str::FromStr;

use super::scan::examined;
use super::trim_ows;
use crate::ids::next_u64;

/// The longest accepted request id, in bytes.
pub const REQUEST_ID_MAX_LEN: usize = 128;

/// The longest inbound value that is read, whitespace included: twice the longest
/// id, so that whitespace around an id at the limit still passes. A longer value is
/// rejected ([`RequestIdError::TooLong`]) without being read; repeated headers share
/// this budget.
pub(crate) const REQUEST_ID_READ_LIMIT: usize = 2 * REQUEST_ID_MAX_LEN;

/// Why an inbound `x-request-id` was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestIdError {
    /// The value is empty (or only spaces and tabs).
    Empty,
    /// The value is longer than [`REQUEST_ID_MAX_LEN`] bytes.
    TooLong {
        /// The length received, after trimming (before trimming for a value of
        /// more than 256 bytes, which is not read).
        len: usize,
    },
    /// A byte is not printable ASCII (0x20-0x7E).
    NotPrintable {
        /// The offending byte.
        byte: u8,
        /// Its position in the trimmed value.
        at: usize,
    },
    /// The header was sent several times with different values, or its values
    /// together were longer than 256 bytes.
    Repeated,
}

impl fmt::Display for RequestIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestIdError::Empty => f.write_str("value ignored: a request id is not empty"),
            RequestIdError::TooLong { len } => write!(
                f,
                "value ignored: a request id is at most {REQUEST_ID_MAX_LEN} bytes, got {len}"
            ),
            RequestIdError::NotPrintable { byte, at } => write!(
                f,
                "value ignored: byte {byte:#04x} at {at} is not printable ASCII (0x20-0x7E)"
            ),
            RequestIdError::Repeated => f.write_str(
                "value ignored: the header was sent several times with different values \
                 (or more than 256 bytes in all)",
            ),
        }
    }
}

impl std::error::Error for RequestIdError {}

/// A request id (`x-request-id`): 1 to 128 bytes of printable ASCII.
///
/// "Printable ASCII" means the bytes 0x20 (space) to 0x7E (`~`): letters, digits,
/// punctuation and the space, and nothing else (no control characters, no tab, no
/// DEL, no byte above 0x7F, so no UTF-8). Spaces and tabs around the inbound value
/// are optional whitespace and are removed first; a space inside is kept.
///
/// Stored inline (no allocation), so it is `Copy` and cheap to pass around.
///
/// ```
/// use observe_core::propagation::{RequestId, RequestIdError};
///
/// let id = RequestId::parse(b" req-42 ").unwrap();
/// assert_eq!(id.as_str(), "req-42");
/// assert_eq!(RequestId::parse(b"a\nb").unwrap_err(), RequestIdError::NotPrintable { byte: b'\n', at: 1 });
///
/// let fresh = RequestId::generate();
/// assert_eq!(fresh.len(), 36); // a random UUID v4: 8-4-4-4-12 hex digits
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId {
    len: u8,
    /// Printable ASCII up to `len`, zeros after it (so derived equality is exact).
    buf: [u8; REQUEST_ID_MAX_LEN],
}

impl RequestId {
    /// Validates an inbound value (see the type's documentation for the rule). A
    /// value of more than 256 bytes (twice the longest id) is rejected without being
    /// read.
    ///
    /// # Errors
    ///
    /// Says what was wrong: empty, too long, or which byte is not printable.
    pub fn parse(value: &[u8]) -> Result<Self, RequestIdError> {
        if value.len() > REQUEST_ID_READ_LIMIT {
            return Err(RequestIdError::TooLong { len: value.len() });
        }
        // Trimming reads the whitespace at each end and the byte after it, the check
        // below the bytes in between: every byte once, the two ends twice.
        examined(value.len() + 2 * usize::from(!value.is_empty()));
        let v = trim_ows(value);
        if v.is_empty() {
            return Err(RequestIdError::Empty);
        }
        if v.len() > REQUEST_ID_MAX_LEN {
            return Err(RequestIdError::TooLong { len: v.len() });
        }
        if let Some((at, &byte)) = v
            .iter()
            .enumerate()
            .find(|(_, b)| !(0x20..=0x7e).contains(*b))
        {
            return Err(RequestIdError::NotPrintable { byte, at });
        }
        let mut buf = [0u8; REQUEST_ID_MAX_LEN];
        if let Some(dst) = buf.get_mut(..v.len()) {
            dst.copy_from_slice(v);
        }
        Ok(RequestId {
            len: v.len() as u8,
            buf,
        })
    }

    /// A fresh request id: a random UUID version 4 in its usual lowercase
    /// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` form (`y` is 8, 9, a or b), from the
    /// per-thread id generator.
    pub fn generate() -> Self {
        // Version 4 in bits 12-15 of `hi`, variant 0b10 in bits 62-63 of `lo`.
        let hi = (next_u64() & !(0xf << 12)) | (0x4 << 12);
        let lo = (next_u64() & !(0b11 << 62)) | (0b10 << 62);
        let mut digits = [0u8; 32];
        digits[..16].copy_from_slice(&crate::ids::hex_u64(hi));
        digits[16..].copy_from_slice(&crate::ids::hex_u64(lo));
        // 8-4-4-4-12.
        let mut buf = [0u8; REQUEST_ID_MAX_LEN];
        buf[..8].copy_from_slice(&digits[..8]);
        buf[9..13].copy_from_slice(&digits[8..12]);
        buf[14..18].copy_from_slice(&digits[12..16]);
        buf[19..23].copy_from_slice(&digits[16..20]);
        buf[24..36].copy_from_slice(&digits[20..]);
        for dash in [8, 13, 18, 23] {
            buf[dash] = b'-';
        }
        RequestId { len: 36, buf }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The length in bytes (1 to 128).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl FromStr for RequestId {
    type Err = RequestIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4() {
        for _ in 0..1000 {
            let id = RequestId::generate();
            let s = id.as_str();
            let b = s.as_bytes();
            assert_eq!(b.len(), 36);
            for (i, &c) in b.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    assert_eq!(c, b'-', "{s}");
                } else {
                    assert!(c.is_ascii_digit() || (b'a'..=b'f').contains(&c), "{s}");
                }
            }
            assert_eq!(b[14], b'4', "version nibble in {s}");
            assert!(
                matches!(b[19], b'8' | b'9' | b'a' | b'b'),
                "variant nibble in {s}"
            );
            assert_eq!(RequestId::parse(b).unwrap(), id);
        }
        assert_ne!(RequestId::generate(), RequestId::generate());
    }

    #[test]
    fn inline_storage_compares_by_content() {
        let a = RequestId::parse(b"abc").unwrap();
        let b = RequestId::parse(b"  abc\t").unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), "RequestId(\"abc\")");
    }
}
