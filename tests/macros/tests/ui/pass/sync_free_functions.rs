//! Synchronous free functions of every common shape.
use observe_core::traced;

#[traced]
fn unit() {}

#[traced]
fn value(a: u32, b: u32) -> u32 {
    a + b
}

#[traced]
fn mutable_and_destructured(mut n: u32, (a, b): (u8, u8), [c, ..]: [u8; 3]) -> u32 {
    n += u32::from(a) + u32::from(b) + u32::from(c);
    n
}

#[traced]
#[inline]
#[must_use]
pub(crate) fn with_attributes(x: &str) -> usize {
    #![allow(clippy::needless_return)]
    return x.len();
}

#[traced]
fn borrowed<'a>(items: &'a [String], i: usize) -> Option<&'a str> {
    items.get(i).map(String::as_str)
}

#[traced]
fn elided(items: &[String]) -> &str {
    &items[0]
}

/// # Safety
/// `p` must be valid for reads.
#[traced]
unsafe fn unsafe_fn(p: *const u8) -> u8 {
    // SAFETY: the caller promises `p` is valid.
    unsafe { *p }
}

#[traced]
extern "C" fn extern_c(x: i32) -> i32 {
    x * 2
}

#[traced]
fn r#type() -> &'static str {
    "raw identifiers work"
}

#[traced]
fn local_items() -> u8 {
    const K: u8 = 3;
    fn helper() -> u8 {
        K
    }
    #[traced]
    fn nested_traced() -> u8 {
        1
    }
    helper() + nested_traced()
}

fn main() {
    unit();
    assert_eq!(value(1, 2), 3);
    assert_eq!(mutable_and_destructured(1, (1, 1), [1, 2, 3]), 4);
    assert_eq!(with_attributes("abc"), 3);
    let items = vec!["a".to_owned()];
    assert_eq!(borrowed(&items, 0), Some("a"));
    assert_eq!(elided(&items), "a");
    let x = 7u8;
    // SAFETY: `&x` is valid.
    assert_eq!(unsafe { unsafe_fn(&x) }, 7);
    assert_eq!(extern_c(2), 4);
    assert_eq!(r#type(), "raw identifiers work");
    assert_eq!(local_items(), 4);
}
