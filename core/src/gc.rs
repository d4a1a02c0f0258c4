//! Which versions survive when entries are rewritten (flush and compaction).
//!
//! Snapshots split the sequence-number line into *stripes*: stripe `i` holds the sequence
//! numbers `s` with `snap[i-1] < s <= snap[i]`, and the last stripe everything above the newest
//! snapshot. A reader at any snapshot sees, per key, the newest version at or below its
//! sequence number, so within one stripe only the newest version of a key is ever visible:
//! older versions in the same stripe as a newer one are dropped.
//!
//! A tombstone can be dropped too when nothing older can be seen through it: it lies in the
//! first stripe (no snapshot is older than it, so every older version of the key is in the
//! same stripe and dropped with it) and no level below the output can hold the key.

use crate::key::{self, Kind};
use alloc::vec::Vec;

/// Decides, entry by entry in internal-key order, what to keep.
#[derive(Debug)]
pub struct VersionFilter {
    snapshots: Vec<u64>,
    current_key: Vec<u8>,
    has_key: bool,
    last_stripe: usize,
    /// Entries dropped as shadowed.
    pub dropped_versions: u64,
    /// Tombstones dropped.
    pub dropped_tombstones: u64,
}

/// What to do with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write it out.
    Keep,
    /// A newer version in the same stripe hides it.
    DropShadowed,
    /// A tombstone nothing can see through.
    DropTombstone,
}

impl VersionFilter {
    /// A filter for the live snapshots (ascending sequence numbers).
    pub fn new(mut snapshots: Vec<u64>) -> Self {
        snapshots.sort_unstable();
        snapshots.dedup();
        VersionFilter {
            snapshots,
            current_key: Vec::new(),
            has_key: false,
            last_stripe: 0,
            dropped_versions: 0,
            dropped_tombstones: 0,
        }
    }

    fn stripe(&self, seq: u64) -> usize {
        self.snapshots.partition_point(|&s| s < seq)
    }

    /// True when a range tombstone of `frag` hides the version `seq` from every reader that
    /// could see it: a tombstone newer than `seq` in the same stripe.
    pub fn covered(&self, frag: &crate::range_del::Fragment, seq: u64) -> bool {
        let stripe = self.stripe(seq);
        frag.seqs
            .iter()
            .any(|&t| t > seq && self.stripe(t) == stripe)
    }

    /// The range tombstones worth keeping: per fragment the newest sequence of each stripe
    /// (an older one in the same stripe hides nothing more), and none of the first stripe
    /// when `below_may_overlap(start, end)` says no older data can lie under it.
    pub fn keep_range_dels(
        &self,
        frags: &crate::range_del::Fragments,
        below_may_overlap: &dyn Fn(&[u8], &[u8]) -> bool,
    ) -> Vec<crate::range_del::RangeTombstone> {
        let mut out = Vec::new();
        for f in frags.fragments() {
            let mut last_stripe = usize::MAX;
            let mut below: Option<bool> = None;
            for &seq in &f.seqs {
                let stripe = self.stripe(seq);
                if stripe == last_stripe {
                    continue;
                }
                last_stripe = stripe;
                if stripe == 0 && !*below.get_or_insert_with(|| below_may_overlap(&f.start, &f.end))
                {
                    continue;
                }
                out.push(crate::range_del::RangeTombstone {
                    start: f.start.clone(),
                    end: f.end.clone(),
                    seq,
                });
            }
        }
        out
    }

    /// Decides for the entry `ikey`. `below_may_hold` is asked, only for tombstones that
    /// could be dropped, whether a level below the output may hold the user key.
    pub fn decide(&mut self, ikey: &[u8], below_may_hold: impl FnOnce(&[u8]) -> bool) -> Decision {
        let user_key = key::user_key(ikey);
        let seq = key::sequence(ikey);
        let stripe = self.stripe(seq);
        let first_of_key = !self.has_key || self.current_key.as_slice() != user_key;
        if first_of_key {
            self.current_key.clear();
            self.current_key.extend_from_slice(user_key);
            self.has_key = true;
        } else if stripe == self.last_stripe {
            self.dropped_versions += 1;
            return Decision::DropShadowed;
        }
        self.last_stripe = stripe;
        if key::kind_byte(ikey) == Kind::Delete as u8 && stripe == 0 && !below_may_hold(user_key) {
            self.dropped_tombstones += 1;
            return Decision::DropTombstone;
        }
        Decision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::encode;

    #[test]
    fn snapshots_keep_the_versions_they_see() {
        // Versions of "k" at seqs 9, 7, 5, 3, 1 (newest first), snapshots at 6 and 2.
        let mut f = VersionFilter::new(alloc::vec![6, 2]);
        let d: Vec<_> = [9u64, 7, 5, 3, 1]
            .iter()
            .map(|&s| f.decide(&encode(b"k", s, Kind::Put), |_| true))
            .collect();
        use Decision::*;
        assert_eq!(d, [Keep, DropShadowed, Keep, DropShadowed, Keep]);
        // A tombstone with no older snapshot and nothing below is dropped; with data below it
        // is kept.
        let mut f = VersionFilter::new(alloc::vec![]);
        assert_eq!(
            f.decide(&encode(b"a", 4, Kind::Delete), |_| false),
            DropTombstone
        );
        assert_eq!(
            f.decide(&encode(b"a", 2, Kind::Put), |_| false),
            DropShadowed
        );
        assert_eq!(f.decide(&encode(b"b", 4, Kind::Delete), |_| true), Keep);
        // A snapshot older than the tombstone keeps it.
        let mut f = VersionFilter::new(alloc::vec![3]);
        assert_eq!(f.decide(&encode(b"c", 4, Kind::Delete), |_| false), Keep);
        assert_eq!(f.decide(&encode(b"c", 2, Kind::Put), |_| false), Keep);
    }
}
