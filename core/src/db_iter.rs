//! The user-facing iterator: turns the merged stream of internal entries (every version of
//! every key, from every source) into the user's view at one sequence number: the newest
//! visible version of each key, tombstones and keys under a visible range tombstone hidden, within range bounds, forward or reverse.

use crate::error::Result;
use crate::iter::{InternalIterator, MergingIterator};
use crate::key::{self, Kind};
use crate::range_del::RangeDelAggregator;
use alloc::vec::Vec;
use core::ops::Bound;

/// Iteration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Reverse,
}

/// Iterates user keys and values at a sequence number. Yields owned pairs; errors end the
/// iteration after being yielded once.
pub struct DbIter<'a> {
    inner: MergingIterator<'a>,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    seq: u64,
    direction: Direction,
    started: bool,
    done: bool,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    range_dels: RangeDelAggregator,
}

impl<'a> DbIter<'a> {
    pub(crate) fn new(
        inner: MergingIterator<'a>,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        seq: u64,
        direction: Direction,
        range_dels: RangeDelAggregator,
    ) -> Result<Self> {
        Ok(DbIter {
            inner,
            lo,
            hi,
            seq,
            direction,
            started: false,
            done: false,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            range_dels,
        })
    }

    fn above_lo(&self, k: &[u8]) -> bool {
        match &self.lo {
            Bound::Included(lo) => k >= lo.as_slice(),
            Bound::Excluded(lo) => k > lo.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn below_hi(&self, k: &[u8]) -> bool {
        match &self.hi {
            Bound::Included(hi) => k <= hi.as_slice(),
            Bound::Excluded(hi) => k < hi.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn start(&mut self) -> Result<()> {
        self.started = true;
        match self.direction {
            Direction::Forward => match &self.lo {
                Bound::Included(k) | Bound::Excluded(k) => {
                    let target = key::seek_key(k, key::MAX_SEQUENCE);
                    self.inner.seek(&target)
                }
                Bound::Unbounded => self.inner.seek_to_first(),
            },
            Direction::Reverse => match &self.hi {
                // The last internal key of user key k is (k, seq 0, kind 0).
                Bound::Included(k) => {
                    let target = key::encode(k, 0, Kind::Delete);
                    self.inner.seek_for_prev(&target)
                }
                // Everything strictly below the first internal key of k.
                Bound::Excluded(k) => {
                    let target = key::seek_key(k, key::MAX_SEQUENCE);
                    self.inner.seek_for_prev(&target)
                }
                Bound::Unbounded => self.inner.seek_to_last(),
            },
        }
    }

    /// The next visible entry going forward: (key, value) in the buffers.
    fn next_forward(&mut self) -> Result<bool> {
        while self.inner.valid() {
            let ikey = self.inner.key();
            let Some(p) = key::parse(ikey) else {
                return Err(crate::error::Error::corruption(
                    "iterator",
                    None,
                    "malformed internal key",
                ));
            };
            if !self.below_hi(p.user_key) {
                return Ok(false);
            }
            if p.seq > self.seq || !self.above_lo(p.user_key) {
                self.inner.next()?;
                continue;
            }
            // The newest visible version of this user key.
            self.key_buf.clear();
            self.key_buf.extend_from_slice(p.user_key);
            let is_put = p.kind == Kind::Put as u8
                && (self.range_dels.is_empty() || !self.range_dels.covers(p.user_key, p.seq));
            if is_put {
                self.value_buf.clear();
                self.value_buf.extend_from_slice(self.inner.value());
            }
            // Skip the older versions.
            self.inner.next()?;
            while self.inner.valid() && key::user_key(self.inner.key()) == self.key_buf.as_slice() {
                self.inner.next()?;
            }
            if is_put {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next visible entry going backward. Versions of a key arrive oldest first, so the
    /// last visible one seen before the user key changes is the newest.
    fn next_reverse(&mut self) -> Result<bool> {
        while self.inner.valid() {
            let ikey = self.inner.key();
            let Some(p) = key::parse(ikey) else {
                return Err(crate::error::Error::corruption(
                    "iterator",
                    None,
                    "malformed internal key",
                ));
            };
            if !self.above_lo(p.user_key) {
                return Ok(false);
            }
            if !self.below_hi(p.user_key) {
                self.inner.prev()?;
                continue;
            }
            self.key_buf.clear();
            self.key_buf.extend_from_slice(p.user_key);
            let mut found: Option<bool> = None; // Some(is_put) of the newest visible version
            while self.inner.valid() {
                let ikey = self.inner.key();
                if key::user_key(ikey) != self.key_buf.as_slice() {
                    break;
                }
                let seq = key::sequence(ikey);
                if seq <= self.seq {
                    let is_put = key::kind_byte(ikey) == Kind::Put as u8
                        && (self.range_dels.is_empty()
                            || !self.range_dels.covers(&self.key_buf, seq));
                    if is_put {
                        self.value_buf.clear();
                        self.value_buf.extend_from_slice(self.inner.value());
                    }
                    found = Some(is_put);
                }
                self.inner.prev()?;
            }
            if found == Some(true) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next entry as borrowed slices, valid until the next call; no allocation.
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.done {
            return None;
        }
        let r = (|| {
            if !self.started {
                self.start()?;
            }
            match self.direction {
                Direction::Forward => self.next_forward(),
                Direction::Reverse => self.next_reverse(),
            }
        })();
        match r {
            Ok(true) => Some(Ok((&self.key_buf, &self.value_buf))),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for DbIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref()
            .map(|r| r.map(|(k, v)| (Vec::from(k), Vec::from(v))))
    }
}
