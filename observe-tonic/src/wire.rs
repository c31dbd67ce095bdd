//! What both sides read off the wire: the status of a call (`grpc-status`,
//! `grpc-message`), and the messages of a stream (gRPC's length-prefixed framing).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

/// A call's status from metadata: `grpc-status` and, for errors, the decoded
/// `grpc-message`. `None` when there is no `grpc-status`.
pub(crate) fn status(metadata: &HeaderMap) -> Option<(u32, Option<String>)> {
    // A constant name: a `&str` one is parsed and checked on every lookup.
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    let raw = metadata.get(GRPC_STATUS)?.as_bytes();
    let code = parse_code(raw);
    let message = if code == 0 {
        None
    } else {
        tonic::Status::from_header_map(metadata)
            .map(|s| s.message().to_owned())
            .filter(|m| !m.is_empty())
    };
    Some((code, message))
}

/// `grpc-status` digits; anything else is `UNKNOWN`.
fn parse_code(raw: &[u8]) -> u32 {
    if raw.is_empty() || raw.len() > 3 || !raw.iter().all(u8::is_ascii_digit) {
        return observe_core::server::grpc::UNKNOWN;
    }
    raw.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// The status of a response that is not a gRPC response (no `grpc-status`), from
/// its HTTP status, as gRPC's HTTP-to-gRPC status mapping says.
pub(crate) fn code_from_http(status: http::StatusCode) -> u32 {
    match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

/// Counts the messages in a gRPC stream's data frames: each message is a 1-byte
/// compression flag, a 4-byte big-endian length, and that many bytes. The work is
/// constant per frame plus one step per message header; payloads are skipped,
/// never copied.
#[derive(Debug, Default)]
pub(crate) struct MessageCounter {
    /// Bytes of the current message still to skip.
    skip: u64,
    /// Bytes of the next 5-byte header seen so far.
    header: [u8; 5],
    header_len: u8,
    /// Messages whose header was read.
    count: u64,
}

impl MessageCounter {
    /// Takes one data frame into account.
    pub(crate) fn frame(&mut self, mut data: &[u8]) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                self.skip -= n;
                data = &data[n as usize..];
                if self.skip > 0 {
                    return;
                }
            }
            if data.is_empty() {
                return;
            }
            let need = 5 - usize::from(self.header_len);
            let take = need.min(data.len());
            let at = usize::from(self.header_len);
            self.header[at..at + take].copy_from_slice(&data[..take]);
            self.header_len += take as u8;
            data = &data[take..];
            if self.header_len < 5 {
                return;
            }
            self.header_len = 0;
            self.count += 1;
            self.skip = u64::from(u32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]));
        }
    }

    /// Messages seen so far.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

/// A message count shared between a request body (read by the handler or sent by
/// the channel) and the response side that records it.
pub(crate) type SharedCount = Arc<AtomicU64>;

pub(crate) fn load(count: &SharedCount) -> u64 {
    count.load(Ordering::Relaxed)
}

pub(crate) fn store(count: &SharedCount, n: u64) {
    count.store(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend(std::iter::repeat_n(7u8, len as usize));
        m
    }

    #[test]
    fn counts_messages_however_frames_split_them() {
        let stream: Vec<u8> = [0, 3, 300, 1, 70_000]
            .into_iter()
            .flat_map(message)
            .collect();
        for frame in [1, 2, 4, 5, 6, 7, 1000, stream.len()] {
            let mut c = MessageCounter::default();
            for chunk in stream.chunks(frame) {
                c.frame(chunk);
            }
            assert_eq!(c.count(), 5, "frames of {frame} bytes");
        }
    }

    #[test]
    fn status_codes_parse_strictly() {
        assert_eq!(parse_code(b"0"), 0);
        assert_eq!(parse_code(b"14"), 14);
        for bad in [&b""[..], b"x", b"1234", b"-1"] {
            assert_eq!(parse_code(bad), 2);
        }
        let mut h = HeaderMap::new();
        assert_eq!(status(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        h.insert("grpc-message", "no%20such%20order".parse().unwrap());
        assert_eq!(status(&h), Some((5, Some("no such order".into()))));
    }
}
