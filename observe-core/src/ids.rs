//! W3C trace and span identifiers, trace flags, and the id generator.
//!
//! Ids are plain integers inside (`u128`, `u64`) so that copying, comparing and
//! hashing them on the hot path costs nothing; they print as the lowercase hex the
//! W3C Trace Context specification uses on the wire.
//!
//! New ids come from a per-thread [wyrand] generator seeded from the operating
//! system's entropy source: about a nanosecond per id, no shared state, and never
//! the all-zero (invalid) value.
//!
//! [wyrand]: https://github.com/wangyi-fudan/wyhash

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

/// A 16-byte W3C trace id. The all-zero value is invalid and never generated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(u128);

/// An 8-byte W3C span id (the `parent-id` field of `traceparent`). The all-zero
/// value is invalid and never generated.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(u64);

/// The error returned when a string is not a valid lowercase hex id of the right length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError {
    kind: &'static str,
    expected_len: usize,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} is {} lowercase hex digits and not all zero",
            self.kind, self.expected_len
        )
    }
}

impl std::error::Error for ParseIdError {}

/// The lowercase hex of `v`, most significant digit first, made eight digits at a
/// time: each half's nibbles are spread one per byte and turned into digits with
/// word arithmetic. Ids, request ids and `traceparent` print their hex through
/// this; the digit-by-digit loop it replaced cost about 230 instructions per
/// request in the server layers (a span's ids on the access line and in
/// `traceresponse`), counted.
#[inline]
pub(crate) fn hex_u64(v: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hex_u32((v >> 32) as u32).to_be_bytes());
    out[8..].copy_from_slice(&hex_u32(v as u32).to_be_bytes());
    out
}

/// Writes `src` as lowercase hex into `dst` (two digits per byte), as far as both
/// go: eight bytes at a time ([`hex_u64`]), the rest a byte at a time.
#[inline]
pub(crate) fn write_hex(dst: &mut [u8], src: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = src.len().min(dst.len() / 2);
    let (src, dst) = (&src[..n], &mut dst[..2 * n]);
    let mut words = src.chunks_exact(8);
    let mut digits = dst.chunks_exact_mut(16);
    for (word, out) in (&mut words).zip(&mut digits) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        out.copy_from_slice(&hex_u64(u64::from_be_bytes(bytes)));
    }
    let tail = words.remainder();
    let tail_out = digits.into_remainder();
    for (pair, &b) in tail_out.chunks_exact_mut(2).zip(tail) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

/// Eight hex digits of `x` in a word, the first digit in the most significant byte.
#[inline]
fn hex_u32(x: u32) -> u64 {
    let mut x = u64::from(x);
    // 0x12345678 -> 0x0000_1234_0000_5678 -> 0x0012_0034_0056_0078
    // -> 0x0102_0304_0506_0708: one nibble per byte.
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // A nibble of 10 or more carries into bit 4 when 6 is added: those bytes get
    // `'a' - '0' - 10` (0x27) more than `'0'`. No byte carries into the next.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * 0x27
}

macro_rules! id_impl {
    ($ty:ident, $int:ty, $len:expr, $kind:expr) => {
        impl $ty {
            /// The invalid all-zero id.
            pub const INVALID: $ty = $ty(0);

            /// An id from its integer value.
            pub const fn new(v: $int) -> Self {
                $ty(v)
            }

            /// The id's integer value.
            pub const fn to_int(self) -> $int {
                self.0
            }

            /// The id from its big-endian bytes (the wire order).
            pub const fn from_bytes(bytes: [u8; $len / 2]) -> Self {
                $ty(<$int>::from_be_bytes(bytes))
            }

            /// The id's big-endian bytes (the wire order).
            pub const fn to_bytes(self) -> [u8; $len / 2] {
                self.0.to_be_bytes()
            }

            /// `false` for the all-zero id, which W3C Trace Context forbids.
            pub const fn is_valid(self) -> bool {
                self.0 != 0
            }

            /// Parses lowercase hex of exactly the right length, as `traceparent`
            /// requires. Uppercase hex and the all-zero id are rejected.
            pub fn from_hex(s: &str) -> Result<Self, ParseIdError> {
                let err = ParseIdError {
                    kind: $kind,
                    expected_len: $len,
                };
                let b = s.as_bytes();
                if b.len() != $len {
                    return Err(err);
                }
                let mut v: $int = 0;
                for &c in b {
                    let d = match c {
                        b'0'..=b'9' => c - b'0',
                        b'a'..=b'f' => c - b'a' + 10,
                        _ => return Err(err),
                    };
                    v = (v << 4) | d as $int;
                }
                if v == 0 {
                    return Err(err);
                }
                Ok($ty(v))
            }

            /// Writes the id as lowercase hex into `out` without allocating.
            pub fn write_hex(self, out: &mut [u8; $len]) {
                write_hex(out, &self.0.to_be_bytes());
            }

            /// The id as a lowercase hex `String`.
            pub fn to_hex(self) -> String {
                let mut buf = [0u8; $len];
                self.write_hex(&mut buf);
                // The buffer holds only ASCII hex digits.
                String::from_utf8_lossy(&buf).into_owned()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len];
                self.write_hex(&mut buf);
                f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }

        impl FromStr for $ty {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; $len];
                self.write_hex(&mut buf);
                s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_impl!(TraceId, u128, 32, "trace id");
id_impl!(SpanId, u64, 16, "span id");

impl TraceId {
    /// A new random trace id (never all-zero). All 128 bits are random, so the
    /// W3C level 2 `random` trace flag may be set for it.
    #[inline]
    pub fn random() -> Self {
        loop {
            let v = ((next_u64() as u128) << 64) | next_u64() as u128;
            if v != 0 {
                return TraceId(v);
            }
        }
    }
}

impl SpanId {
    /// A new random span id (never all-zero).
    #[inline]
    pub fn random() -> Self {
        loop {
            let v = next_u64();
            if v != 0 {
                return SpanId(v);
            }
        }
    }
}

/// W3C trace flags: bit 0 is `sampled`, bit 1 (Trace Context level 2) is `random`.
/// Other bits are carried unchanged so that a future version's flags survive a hop.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The `sampled` bit.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The level 2 `random` bit: the trace id's rightmost 7 bytes are random.
    pub const RANDOM: TraceFlags = TraceFlags(0x02);
    /// No flag set.
    pub const NONE: TraceFlags = TraceFlags(0);

    /// Flags from their wire byte.
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// Whether the level 2 `random` bit is set.
    pub const fn is_random(self) -> bool {
        self.0 & 0x02 != 0
    }

    /// These flags with the `sampled` bit set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | 0x01)
        } else {
            TraceFlags(self.0 & !0x01)
        }
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

impl std::ops::BitOr for TraceFlags {
    type Output = TraceFlags;
    fn bitor(self, rhs: TraceFlags) -> TraceFlags {
        TraceFlags(self.0 | rhs.0)
    }
}

/// The identity of a span as it travels between processes: what `traceparent`
/// carries. `is_remote` is true when it was extracted from an inbound request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// Sampled and random bits, plus any future flags, carried unchanged.
    pub flags: TraceFlags,
    /// Whether this context came from another process.
    pub is_remote: bool,
}

impl SpanContext {
    /// Both ids are valid (non-zero).
    pub const fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The next value of this thread's wyrand generator, seeding it on first use.
#[inline]
pub(crate) fn next_u64() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

#[cold]
fn seed() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        // No entropy source: mix the clock, the thread and a stack address so
        // threads still diverge. Ids stay unique per process in practice.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let local = 0u8;
        let addr = &local as *const u8 as u64;
        buf = (t ^ addr.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15).to_le_bytes();
    }
    let s = u64::from_le_bytes(buf);
    if s == 0 { 0x9e37_79b9_7f4a_7c15 } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hex_round_trip() {
        let t = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let s = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert_eq!(s.to_bytes(), [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    }

    #[test]
    fn word_hex_is_what_format_writes() {
        let mut values = vec![
            0,
            1,
            9,
            10,
            15,
            16,
            u64::MAX,
            u64::MAX - 1,
            0x0123_4567_89ab_cdef,
        ];
        // Every nibble value at every position, and a spread of random words.
        for pos in 0..16 {
            for n in 0..16u64 {
                values.push(n << (4 * pos));
                values.push(!(n << (4 * pos)));
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x);
        }
        for v in values {
            assert_eq!(hex_u64(v), *format!("{v:016x}").as_bytes(), "{v:#x}");
        }
        for v in [1u128, u128::MAX, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736] {
            assert_eq!(TraceId::new(v).to_hex(), format!("{v:032x}"));
        }
    }

    #[test]
    fn byte_hex_of_any_length_is_what_format_writes() {
        let src: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
        for len in 0..40usize {
            for room in [0, 2 * len, 2 * len + 1, 2 * len.saturating_sub(3)] {
                let mut dst = vec![b'.'; room];
                write_hex(&mut dst, &src[..len]);
                let written = len.min(room / 2);
                let want: String = src[..written].iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(
                    &dst[..2 * written],
                    want.as_bytes(),
                    "len {len} room {room}"
                );
                assert!(
                    dst[2 * written..].iter().all(|&b| b == b'.'),
                    "len {len} room {room}"
                );
            }
        }
    }

    #[test]
    fn rejects_bad_hex() {
        assert!(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
        assert!(TraceId::from_hex("00000000000000000000000000000000").is_err());
        assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473").is_err());
        assert!(SpanId::from_hex("0000000000000000").is_err());
        assert!(SpanId::from_hex("00f067aa0ba902bz").is_err());
        assert!(SpanId::from_hex("00f067aa0ba902b7a").is_err());
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = SpanId::random();
            assert!(id.is_valid());
            assert!(seen.insert(id));
        }
        assert_ne!(TraceId::random(), TraceId::random());
    }

    #[test]
    fn threads_get_different_streams() {
        let a = std::thread::spawn(SpanId::random).join().unwrap();
        let b = std::thread::spawn(SpanId::random).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn flags() {
        let f = TraceFlags::new(0x03);
        assert!(f.is_sampled() && f.is_random());
        assert!(!f.with_sampled(false).is_sampled());
        assert!(f.with_sampled(false).is_random());
    }
}
