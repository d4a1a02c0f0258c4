//! Key ranges: owned bounds, a range narrowed to a key prefix, whether a key lies in a range
//! and whether two ranges may share a key. Reads, scans, prefix iterators and the conflict
//! checks of transactions all use these.

use alloc::vec::Vec;
use core::ops::Bound;

/// `range` (owned) narrowed to the keys starting with `prefix`, if one is given.
pub fn narrow_to_prefix(
    range: (Bound<&[u8]>, Bound<&[u8]>),
    prefix: Option<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let (mut lo, mut hi) = (bound_to_owned(range.0), bound_to_owned(range.1));
    if let Some(p) = prefix {
        let plo = Bound::Included(Vec::from(p));
        if lower_is_tighter(&plo, &lo) {
            lo = plo;
        }
        if let Some(succ) = prefix_successor(p) {
            let phi = Bound::Excluded(succ);
            if upper_is_tighter(&phi, &hi) {
                hi = phi;
            }
        }
    }
    (lo, hi)
}

fn bound_to_owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(Vec::from(k)),
        Bound::Excluded(k) => Bound::Excluded(Vec::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn lower_is_tighter(a: &Bound<Vec<u8>>, than: &Bound<Vec<u8>>) -> bool {
    match (a, than) {
        (_, Bound::Unbounded) => true,
        (Bound::Unbounded, _) => false,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x > y || (x == y && matches!(a, Bound::Excluded(_)))
        }
    }
}

fn upper_is_tighter(a: &Bound<Vec<u8>>, than: &Bound<Vec<u8>>) -> bool {
    match (a, than) {
        (_, Bound::Unbounded) => true,
        (Bound::Unbounded, _) => false,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x < y || (x == y && matches!(a, Bound::Excluded(_)))
        }
    }
}

/// The smallest key greater than every key starting with `p`, or `None` if there is none
/// (`p` is all 0xFF).
pub fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = Vec::from(p);
    while let Some(last) = s.pop() {
        if last != 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// True when `[start, end)` (not empty) and the range `lo`..`hi` may share a key: `lo` is
/// below `end` and `hi` is not below `start` (an `Excluded` lower bound counts as
/// inclusive, a conservative answer).
pub fn overlaps(start: &[u8], end: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let lo_ok = match lo {
        Bound::Included(l) | Bound::Excluded(l) => l.as_slice() < end,
        Bound::Unbounded => true,
    };
    let hi_ok = match hi {
        Bound::Included(h) => h.as_slice() >= start,
        Bound::Excluded(h) => h.as_slice() > start,
        Bound::Unbounded => true,
    };
    lo_ok && hi_ok
}

/// True when `k` lies within `lo`..`hi`.
pub fn in_bounds(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    (match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    }) && (match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    })
}
