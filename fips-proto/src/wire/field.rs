//! Typed reads and writes of one little-endian field at a byte range, and
//! the `view!` and `accessors!` macros that turn a view's table of field
//! ranges into getters and setters. A view checks its length once in
//! `new_checked`; after that every range it names is in bounds, so these
//! index without further checks.

use crate::addr::NodeAddr;
use core::ops::Range;

/// A value stored at a fixed byte range.
pub(crate) trait Field: Sized {
    fn get(b: &[u8], r: Range<usize>) -> Self;
    fn put(self, b: &mut [u8], r: Range<usize>);
}

macro_rules! le_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn get(b: &[u8], r: Range<usize>) -> Self {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(&b[r]);
                <$t>::from_le_bytes(a)
            }
            fn put(self, b: &mut [u8], r: Range<usize>) {
                b[r].copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

le_field!(u8, u16, u32, u64, i32);

impl<const N: usize> Field for [u8; N] {
    fn get(b: &[u8], r: Range<usize>) -> Self {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[r]);
        a
    }
    fn put(self, b: &mut [u8], r: Range<usize>) {
        b[r].copy_from_slice(&self);
    }
}

impl Field for NodeAddr {
    fn get(b: &[u8], r: Range<usize>) -> Self {
        NodeAddr(Field::get(b, r))
    }
    fn put(self, b: &mut [u8], r: Range<usize>) {
        self.0.put(b, r);
    }
}

/// The range of `len` bytes starting at `at`.
pub(crate) const fn at(at: usize, len: usize) -> Range<usize> {
    at..at + len
}

/// Grows `out` by `len` zero bytes and returns them, for a view to fill.
pub(crate) fn grow(out: &mut Vec<u8>, len: usize) -> &mut [u8] {
    let at = out.len();
    out.resize(at + len, 0);
    &mut out[at..]
}

/// `Truncated` unless `buf` holds `need` bytes.
pub(crate) fn need(buf: &[u8], need: usize, what: &'static str) -> Result<(), super::WireError> {
    if buf.len() < need {
        return Err(super::WireError::Truncated {
            what,
            need,
            got: buf.len(),
        });
    }
    Ok(())
}

/// A link message's first checks: its type byte is `msg_type` and at least
/// `min_len` bytes are present.
pub(crate) fn check_message(
    buf: &[u8],
    msg_type: u8,
    min_len: usize,
    what: &'static str,
) -> Result<(), super::WireError> {
    expect_type(buf, msg_type, what)?;
    need(buf, min_len, what)
}

/// `UnknownType` unless the first byte (present) is `want`.
pub(crate) fn expect_type(
    buf: &[u8],
    want: u8,
    what: &'static str,
) -> Result<(), super::WireError> {
    need(buf, 1, what)?;
    if buf[0] != want {
        return Err(super::WireError::UnknownType {
            what,
            msg_type: buf[0],
        });
    }
    Ok(())
}

/// Getters (`T: AsRef<[u8]>`) and setters (`T: AsMut<[u8]>` too) for the
/// fixed fields of a view whose buffer is `self.buf`:
/// `accessors!(View { name / set_name: Type = RANGE, ... });`. With
/// `View + base { ... }` the ranges are relative to `self.base`.
macro_rules! accessors {
    ($view:ident { $($t:tt)* }) => {
        $crate::wire::field::accessors!(@ $view, |_v: &$view<T>| 0usize; $($t)*);
    };
    ($view:ident + $base:ident { $($t:tt)* }) => {
        $crate::wire::field::accessors!(@ $view, |v: &$view<T>| v.$base; $($t)*);
    };
    (@ $view:ident, $off:expr; $($get:ident / $set:ident : $ty:ty = $range:expr),* $(,)?) => {
        impl<T: AsRef<[u8]>> $view<T> {
            $(pub fn $get(&self) -> $ty {
                let r = $crate::wire::field::shift($range, ($off)(self));
                <$ty as $crate::wire::field::Field>::get(self.buf.as_ref(), r)
            })*
        }
        impl<T: AsRef<[u8]> + AsMut<[u8]>> $view<T> {
            $(pub fn $set(&mut self, value: $ty) {
                let r = $crate::wire::field::shift($range, ($off)(&*self));
                $crate::wire::field::Field::put(value, self.buf.as_mut(), r)
            })*
        }
    };
}
pub(crate) use accessors;

/// A view type over `buf: T` (plus a base offset with `+ base`) and its
/// field accessors, as in [`accessors!`].
macro_rules! view {
    ($(#[$m:meta])* pub struct $view:ident { $($t:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $view<T: AsRef<[u8]>> {
            buf: T,
        }
        $crate::wire::field::accessors!($view { $($t)* });
    };
    ($(#[$m:meta])* pub struct $view:ident + $base:ident { $($t:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $view<T: AsRef<[u8]>> {
            buf: T,
            $base: usize,
        }
        $crate::wire::field::accessors!($view + $base { $($t)* });
    };
}
pub(crate) use view;

/// `r` moved `by` bytes on.
pub(crate) const fn shift(r: Range<usize>, by: usize) -> Range<usize> {
    r.start + by..r.end + by
}
