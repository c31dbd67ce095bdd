//! Attributes kept as typed values while a span runs and rendered as
//! [`KeyValue`]s when something first reads the record.
//!
//! A server span has a dozen attributes, half of them texts of the request (path,
//! host, client address). As `KeyValue`s they cost an allocation each on the
//! request thread, freed later on observe's worker (which is what makes them
//! expensive: glibc's arenas grow and shrink, and their locks are contended),
//! while most records are never read: the flight recorder keeps them in case. Here
//! they are one allocation: the texts copied into an inline buffer, the addresses
//! kept as `IpAddr`, the rest as they are; [`SpanRecord::attributes`] renders them
//! once, the first time it is asked, exactly as the `KeyValue`s would have been.
//!
//! [`SpanRecord::attributes`]: super::SpanRecord::attributes

use std::borrow::Cow;
use std::mem::ManuallyDrop;
use std::net::IpAddr;
use std::sync::OnceLock;

use super::value::{KeyValue, Value};

/// Attributes held typed at most (a server span's dozen, its status code and
/// `error.type`).
const ENTRIES: usize = 14;
/// Bytes of request texts held inline.
const TEXT: usize = 160;
/// What a rendered address is counted as: the longest IPv6 text.
const IP_TEXT: u16 = 39;

#[derive(Clone, Debug, Default, PartialEq)]
enum Slot {
    #[default]
    Empty,
    /// `text[at..at + len]`.
    Text { at: u16, len: u16 },
    /// Written as `Display` writes it.
    Ip(IpAddr),
    /// Any other value, as given.
    Value(Value),
}

/// Typed attributes, first in a span's attribute order (the span's other
/// attributes, in `Extra::attributes`, follow them).
///
/// Dropped mostly by the flight recorder, minutes after the request, when none of
/// it is in cache: the drop reads only the head (`repr(C)` keeps the fields it
/// reads first, together), and the slots only when one holds a string of its own.
/// Dropped field by field, the fourteen slots' tags cost a cache miss per line,
/// seven for every server span the recorder evicted (callgrind's cache
/// simulation).
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct DeferredAttributes {
    len: u8,
    /// Whether a value holds a string of its own (most are numbers and constants):
    /// the only slots that own anything, and what `drop` frees.
    owned_values: bool,
    text_len: u16,
    /// What the texts and addresses will take once rendered (see [`Self::heap`]),
    /// kept as they are added: the heap of each record is counted up to three
    /// times (its charge to the rings' budget, its release, the flight recorder).
    fixed_heap: u16,
    /// Bit `n` set when a key is `n` bytes long (bit 63: 63 or more): most keys
    /// set at the end (a status code, message counts) are found new without
    /// comparing them with every key.
    key_lengths: u64,
    /// The rendered attributes, these and the span's others, once read.
    rendered: OnceLock<Vec<KeyValue>>,
    keys: [&'static str; ENTRIES],
    /// Empty from `len` on; dropped by [`DeferredAttributes`]'s `Drop`.
    slots: ManuallyDrop<[Slot; ENTRIES]>,
    text: [u8; TEXT],
}

impl Drop for DeferredAttributes {
    fn drop(&mut self) {
        debug_assert!(
            self.owned_values
                || !self
                    .slots
                    .iter()
                    .any(|s| matches!(s, Slot::Value(Value::Str(Cow::Owned(_))))),
            "a slot owns a string that `owned_values` does not record"
        );
        if self.owned_values {
            let n = usize::from(self.len);
            // Replacing drops the old value; texts, addresses, numbers and
            // constants own nothing, and the slots from `len` on are empty.
            for slot in &mut self.slots[..n] {
                *slot = Slot::Empty;
            }
        }
    }
}

impl Default for DeferredAttributes {
    fn default() -> Self {
        DeferredAttributes {
            len: 0,
            owned_values: false,
            text_len: 0,
            fixed_heap: 0,
            key_lengths: 0,
            rendered: OnceLock::new(),
            keys: [""; ENTRIES],
            slots: ManuallyDrop::new(Default::default()),
            text: [0; TEXT],
        }
    }
}

impl PartialEq for DeferredAttributes {
    fn eq(&self, other: &Self) -> bool {
        self.entries().eq(other.entries())
    }
}

impl DeferredAttributes {
    fn entries(&self) -> impl Iterator<Item = KeyValue> + '_ {
        let n = usize::from(self.len);
        self.keys[..n]
            .iter()
            .zip(&self.slots[..n])
            .map(|(key, slot)| KeyValue {
                key: Cow::Borrowed(*key),
                value: self.value(slot),
            })
    }

    fn value(&self, slot: &Slot) -> Value {
        match slot {
            Slot::Empty => Value::Str(Cow::Borrowed("")),
            Slot::Text { at, len } => {
                let (at, len) = (usize::from(*at), usize::from(*len));
                // Copied from a `&str` whole: valid UTF-8.
                let text = std::str::from_utf8(&self.text[at..at + len]).unwrap_or_default();
                Value::Str(Cow::Owned(text.to_owned()))
            }
            Slot::Ip(ip) => Value::Str(Cow::Owned(ip_string(*ip))),
            Slot::Value(v) => v.clone(),
        }
    }

    /// Adds an attribute; `false` (nothing added) when full.
    fn push(&mut self, key: &'static str, slot: Slot) -> bool {
        let n = usize::from(self.len);
        if n == ENTRIES {
            return false;
        }
        self.keys[n] = key;
        self.key_lengths |= length_bit(key);
        self.account(&slot);
        self.slots[n] = slot;
        self.len += 1;
        true
    }

    /// Counts `slot`'s share of [`Self::heap`] as it comes in.
    fn account(&mut self, slot: &Slot) {
        self.fixed_heap += fixed_heap(slot);
        if let Slot::Value(Value::Str(Cow::Owned(_))) = slot {
            self.owned_values = true;
        }
    }

    /// Adds an attribute with this value; `false` when full.
    pub(crate) fn push_value(&mut self, key: &'static str, value: impl Into<Value>) -> bool {
        self.push(key, Slot::Value(value.into()))
    }

    /// Adds a text of the request, copied inline when it fits; `false` when full.
    pub(crate) fn push_text(&mut self, key: &'static str, text: &str) -> bool {
        let at = usize::from(self.text_len);
        if text.len() > TEXT - at || usize::from(self.len) == ENTRIES {
            return self.push(key, Slot::Value(Value::Str(Cow::Owned(text.to_owned()))));
        }
        self.text[at..at + text.len()].copy_from_slice(text.as_bytes());
        // Both below `TEXT`, which fits a u16.
        self.text_len += text.len() as u16;
        self.push(
            key,
            Slot::Text {
                at: at as u16,
                len: text.len() as u16,
            },
        )
    }

    /// Adds an address, written when rendered; `false` when full.
    pub(crate) fn push_ip(&mut self, key: &'static str, ip: IpAddr) -> bool {
        self.push(key, Slot::Ip(ip))
    }

    /// Sets `kv` here if its key is one of these attributes, or if it can come
    /// next in the span's order (`last`: no other attribute follows these);
    /// `Err(kv)` otherwise.
    pub(crate) fn set(&mut self, kv: KeyValue, last: bool) -> Result<(), KeyValue> {
        let n = usize::from(self.len);
        let known = self.key_lengths & length_bit(&kv.key) != 0;
        if let Some(i) = known
            .then(|| self.keys[..n].iter().position(|k| *k == kv.key))
            .flatten()
        {
            let slot = Slot::Value(kv.value);
            self.fixed_heap -= fixed_heap(&self.slots[i]);
            self.account(&slot);
            self.slots[i] = slot;
            self.rendered = OnceLock::new();
            return Ok(());
        }
        match kv.key {
            Cow::Borrowed(key) if last && n < ENTRIES => {
                self.rendered = OnceLock::new();
                self.push(key, Slot::Value(kv.value));
                Ok(())
            }
            _ => Err(kv),
        }
    }

    /// Forgets the rendering (the span's other attributes changed).
    pub(crate) fn changed(&mut self) {
        self.rendered = OnceLock::new();
    }

    /// These attributes, then `others`, rendered on first use.
    pub(crate) fn rendered(&self, others: &[KeyValue]) -> &[KeyValue] {
        self.rendered.get_or_init(|| {
            let mut all = Vec::with_capacity(usize::from(self.len) + others.len());
            all.extend(self.entries());
            all.extend_from_slice(others);
            all
        })
    }

    /// The heap these attributes hold besides themselves once rendered, with
    /// `others` copied beside them (counted whether rendered yet or not, so a
    /// budget holds either way).
    pub(crate) fn heap(&self, others: &[KeyValue], string_heap: impl Fn(&Value) -> usize) -> usize {
        let n = usize::from(self.len);
        // Texts and addresses: kept count of as they came in.
        let mut own = usize::from(self.fixed_heap);
        if self.owned_values {
            // Held here, and its copy once rendered.
            own += self.slots[..n]
                .iter()
                .map(|slot| match slot {
                    Slot::Value(v) => 2 * string_heap(v),
                    _ => 0,
                })
                .sum::<usize>();
        }
        let copies: usize = others.iter().map(|kv| string_heap(&kv.value)).sum();
        (n + others.len()) * std::mem::size_of::<KeyValue>() + own + copies
    }
}

/// What a text or an address takes once rendered (the part of [`DeferredAttributes::heap`]
/// kept count of as slots come in).
fn fixed_heap(slot: &Slot) -> u16 {
    match slot {
        Slot::Text { len, .. } => *len,
        Slot::Ip(_) => IP_TEXT,
        Slot::Empty | Slot::Value(_) => 0,
    }
}

fn length_bit(key: &str) -> u64 {
    1 << key.len().min(63)
}

/// `client.address`: an IPv4 address written with `itoa` (`Display` goes through
/// the formatting machinery, about 1,300 instructions).
pub(crate) fn ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
            out
        }
        IpAddr::V6(_) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_order_with_the_other_attributes_after() {
        let mut d = DeferredAttributes::default();
        assert!(d.push_value("a", "static"));
        assert!(d.push_text("b", "/orders/7"));
        assert!(d.push_ip("c", "10.0.0.1".parse().unwrap()));
        assert!(d.push_value("d", 8080u16));
        let others = [KeyValue::new("e", true)];
        let expected = [
            KeyValue::new("a", "static"),
            KeyValue::new("b", "/orders/7".to_owned()),
            KeyValue::new("c", "10.0.0.1".to_owned()),
            KeyValue::new("d", 8080u64),
            KeyValue::new("e", true),
        ];
        assert_eq!(d.rendered(&others), &expected[..]);
    }

    #[test]
    fn texts_that_do_not_fit_are_kept_owned_and_entries_are_bounded() {
        let mut d = DeferredAttributes::default();
        let long = "x".repeat(TEXT + 1);
        assert!(d.push_text("long", &long));
        assert!(d.push_text("short", "é"));
        for _ in 2..ENTRIES {
            assert!(d.push_value("n", 1u64));
        }
        assert!(!d.push_text("over", "y"));
        assert!(!d.push_ip("over", "::1".parse().unwrap()));
        let all = d.rendered(&[]);
        assert_eq!(all.len(), ENTRIES);
        assert_eq!(all[0].value.to_string(), long);
        assert_eq!(all[1].value.to_string(), "é");
    }

    #[test]
    fn setting_replaces_in_place_or_appends_only_when_last() {
        let mut d = DeferredAttributes::default();
        d.push_text("url.path", "/a");
        assert_eq!(d.rendered(&[]).len(), 1);
        assert!(d.set(KeyValue::new("url.path", "/b"), false).is_ok());
        assert!(d.set(KeyValue::new("status", 200u64), false).is_err());
        assert!(d.set(KeyValue::new("status", 200u64), true).is_ok());
        assert!(
            d.set(KeyValue::new(String::from("owned.key"), 1u64), true)
                .is_err()
        );
        assert_eq!(
            d.rendered(&[]),
            &[
                KeyValue::new("url.path", "/b"),
                KeyValue::new("status", 200u64)
            ][..]
        );
        // Keys of one length (and of 63 bytes or more) are told apart.
        let long_a: &'static str = Box::leak("a".repeat(70).into_boxed_str());
        let long_b: &'static str = Box::leak("b".repeat(80).into_boxed_str());
        assert!(d.set(KeyValue::new(long_a, 1u64), true).is_ok());
        assert!(d.set(KeyValue::new(long_b, 2u64), false).is_err());
        assert!(d.set(KeyValue::new(long_a, 3u64), false).is_ok());
        assert!(d.set(KeyValue::new("url.xxxx", 4u64), false).is_err());
        assert_eq!(d.rendered(&[]).len(), 3);
        assert_eq!(d.rendered(&[])[2], KeyValue::new(long_a, 3u64));
    }

    /// Freed on observe's worker, the box must stay within glibc's per-thread
    /// cache (chunks up to 1,032 bytes): a larger chunk goes back to the request
    /// thread's arena under its lock, which is the arena growing and shrinking
    /// (`mprotect`) and the lock contention (`futex`) this box is meant to avoid.
    #[test]
    fn the_box_stays_within_the_allocators_thread_cache() {
        // With the span's other rare parts, in one allocation.
        assert!(std::mem::size_of::<super::super::ServerExtra>() <= 1024);
    }

    /// The heap as counted slot by slot (the count kept as slots come in must
    /// equal it, whatever was set over what).
    fn heap_slot_by_slot(d: &DeferredAttributes, others: &[KeyValue]) -> usize {
        let n = usize::from(d.len);
        let own: usize = d.slots[..n]
            .iter()
            .map(|slot| match slot {
                Slot::Empty => 0,
                Slot::Text { len, .. } => usize::from(*len),
                Slot::Ip(_) => 39,
                Slot::Value(v) => 2 * string_heap(v),
            })
            .sum();
        let copies: usize = others.iter().map(|kv| string_heap(&kv.value)).sum();
        (n + others.len()) * std::mem::size_of::<KeyValue>() + own + copies
    }

    /// A string's heap, as a sink would count it.
    fn string_heap(v: &Value) -> usize {
        match v {
            Value::Str(Cow::Owned(s)) => s.len() + 1,
            _ => 0,
        }
    }

    #[test]
    fn the_heap_kept_count_of_is_the_heap_of_the_slots() {
        let others = [KeyValue::new("o", "x".repeat(9))];
        let mut d = DeferredAttributes::default();
        let check = |d: &DeferredAttributes| {
            assert_eq!(d.heap(&others, string_heap), heap_slot_by_slot(d, &others));
        };
        check(&d);
        d.push_text("path", "/orders/7");
        d.push_ip("peer", "10.0.0.1".parse().unwrap());
        d.push_value("port", 8080u16);
        check(&d);
        d.push_text("long", &"y".repeat(TEXT + 1));
        check(&d);
        // Set over a text, an address and a value, with owned and static values.
        assert!(d.set(KeyValue::new("path", "/b".to_owned()), false).is_ok());
        check(&d);
        assert!(d.set(KeyValue::new("peer", 7u64), false).is_ok());
        check(&d);
        assert!(d.set(KeyValue::new("long", "static"), false).is_ok());
        check(&d);
        assert!(d.set(KeyValue::new("status", "z".to_owned()), true).is_ok());
        check(&d);
    }

    #[test]
    fn addresses_read_as_display_writes_them() {
        for ip in ["127.0.0.1", "10.200.0.255", "0.0.0.0", "::1", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_string(ip), ip.to_string());
        }
    }
}
