//! Range tombstones: `delete_range(start..end)` records, how they are fragmented for fast
//! reads, how they are stored in a table's range-deletion block, and how reads apply them.
//!
//! A range tombstone `[start, end) @ seq` hides every version of every user key `k` with
//! `start <= k < end` whose sequence number is below `seq`, for readers at sequence numbers
//! `>= seq`. Tombstones are kept apart from point entries: in the memtable in their own list,
//! in a table in the range-deletion meta block (see `docs/FORMAT-sstable.md`).
//!
//! Reads never scan the raw list. As RocksDB's `FragmentedRangeTombstoneList` does, the
//! tombstones of one source are cut at every start and end into non-overlapping
//! [`Fragment`]s, each holding the sequence numbers of every tombstone covering it (newest
//! first). Looking up a key is then a binary search, and a reader at sequence `s` only needs
//! the newest fragment sequence `<= s`.

use crate::coding::{get_varint, put_varint};
use crate::error::{Error, Result};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Version byte that starts every range-deletion block written by this build.
pub const BLOCK_VERSION: u8 = 1;

/// One range tombstone: `[start, end)` deleted at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RangeTombstone {
    /// First user key deleted.
    pub start: Vec<u8>,
    /// First user key past the deleted range (exclusive).
    pub end: Vec<u8>,
    /// Sequence number of the delete.
    pub seq: u64,
}

/// A piece of the key space `[start, end)` covered by the tombstones with sequence numbers
/// `seqs` (strictly descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// First user key of the piece.
    pub start: Vec<u8>,
    /// First user key past the piece.
    pub end: Vec<u8>,
    /// Sequence numbers of the tombstones covering the piece, newest first.
    pub seqs: Vec<u64>,
}

impl Fragment {
    /// The newest sequence number visible at `read_seq` (0 if none is).
    #[inline]
    pub fn visible_seq(&self, read_seq: u64) -> u64 {
        self.seqs
            .iter()
            .copied()
            .find(|&s| s <= read_seq)
            .unwrap_or(0)
    }
}

/// Sorts `ts` by start key, newest first among equal starts. Every sort of tombstones goes
/// through here, so the binary holds one instance of the sort for them (each distinct
/// comparator closure is a separate copy of the sort, about 2.5 KB of wasm).
#[inline(never)]
pub fn sort_tombstones(ts: &mut [RangeTombstone]) {
    ts.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.seq.cmp(&a.seq)));
}

/// Non-overlapping fragments ordered by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragments {
    frags: Vec<Fragment>,
    /// Number of tombstones the fragments were built from.
    tombstones: usize,
}

impl Fragments {
    /// Fragments `tombstones` (in any order; empty ranges are ignored).
    pub fn new(mut tombstones: Vec<RangeTombstone>) -> Fragments {
        tombstones.retain(|t| t.start < t.end);
        let count = tombstones.len();
        if tombstones.is_empty() {
            return Fragments::default();
        }
        sort_tombstones(&mut tombstones);
        let mut points: Vec<&[u8]> = Vec::with_capacity(tombstones.len() * 2);
        for t in &tombstones {
            points.push(&t.start);
            points.push(&t.end);
        }
        points.sort_unstable();
        points.dedup();
        let mut frags: Vec<Fragment> = Vec::new();
        // Tombstones covering the current piece: (end, seq).
        let mut active: Vec<(&[u8], u64)> = Vec::new();
        let mut next = 0usize;
        for w in points.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            while next < tombstones.len() && tombstones[next].start.as_slice() <= lo {
                active.push((&tombstones[next].end, tombstones[next].seq));
                next += 1;
            }
            active.retain(|&(end, _)| end > lo);
            if active.is_empty() {
                continue;
            }
            let mut seqs: Vec<u64> = active.iter().map(|&(_, s)| s).collect();
            // Descending (sorting ascending and reversing shares the one `u64` sort of the
            // binary instead of adding another).
            seqs.sort_unstable();
            seqs.reverse();
            seqs.dedup();
            // Adjacent pieces covered by the same tombstones are one fragment.
            if let Some(last) = frags.last_mut() {
                if last.end.as_slice() == lo && last.seqs == seqs {
                    last.end = Vec::from(hi);
                    continue;
                }
            }
            frags.push(Fragment {
                start: Vec::from(lo),
                end: Vec::from(hi),
                seqs,
            });
        }
        Fragments {
            frags,
            tombstones: count,
        }
    }

    /// True when there are no tombstones.
    pub fn is_empty(&self) -> bool {
        self.frags.is_empty()
    }

    /// The fragments, ordered by key.
    pub fn fragments(&self) -> &[Fragment] {
        &self.frags
    }

    /// Number of tombstones the fragments were built from.
    pub fn tombstone_count(&self) -> usize {
        self.tombstones
    }

    /// The index of the fragment covering `key`, if any.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let i = self.frags.partition_point(|f| f.start.as_slice() <= key);
        (i > 0 && key < self.frags[i - 1].end.as_slice()).then(|| i - 1)
    }

    /// The newest sequence number `<= read_seq` of a tombstone covering `key` (0 if none).
    #[inline]
    pub fn max_covering(&self, key: &[u8], read_seq: u64) -> u64 {
        self.find(key)
            .map_or(0, |i| self.frags[i].visible_seq(read_seq))
    }

    /// The tombstones again, one per (fragment, sequence number) (what a table stores).
    pub fn tombstones(&self) -> impl Iterator<Item = RangeTombstone> + '_ {
        self.frags.iter().flat_map(|f| {
            f.seqs.iter().map(move |&seq| RangeTombstone {
                start: f.start.clone(),
                end: f.end.clone(),
                seq,
            })
        })
    }

    /// Smallest and largest sequence numbers, if any.
    pub fn seq_range(&self) -> Option<(u64, u64)> {
        let mut it = self.frags.iter().flat_map(|f| f.seqs.iter().copied());
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), s| (lo.min(s), hi.max(s))))
    }
}

/// The user key just after `k` in bytewise order (`k ++ 0x00`).
pub fn successor(k: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.extend_from_slice(k);
    v.push(0);
    v
}

/// The largest user key a tombstone ending (exclusively) at `end` may cover, as far as a
/// table's inclusive key range can say: `k` when `end` is `k ++ 0x00` (its exact
/// predecessor), else `end` itself (one key too many, which only makes the range
/// conservative).
pub fn inclusive_end(end: &[u8]) -> &[u8] {
    match end.split_last() {
        Some((0, rest)) => rest,
        _ => end,
    }
}

/// Encodes a range-deletion block: `version u8 | varint count | (varint start_len | start |
/// varint end_len | end | varint seq)*`, tombstones ordered by start, then sequence
/// descending.
pub fn encode_block(tombstones: &[RangeTombstone]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + tombstones.len() * 24);
    out.push(BLOCK_VERSION);
    put_varint(&mut out, tombstones.len() as u64);
    for t in tombstones {
        put_varint(&mut out, t.start.len() as u64);
        out.extend_from_slice(&t.start);
        put_varint(&mut out, t.end.len() as u64);
        out.extend_from_slice(&t.end);
        put_varint(&mut out, t.seq);
    }
    out
}

/// A varint in its one shortest form: a longer spelling of the same number (a last byte of
/// zero) is damage, so that a block that decodes always re-encodes to the same bytes.
fn get_canonical_varint(data: &[u8]) -> Option<(u64, usize)> {
    let (v, n) = get_varint(data)?;
    if n > 1 && data[n - 1] == 0 {
        return None;
    }
    Some((v, n))
}

fn take<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, n) = get_canonical_varint(data)?;
    let len = usize::try_from(len).ok()?;
    let end = n.checked_add(len)?;
    let s = data.get(n..end)?;
    *data = &data[end..];
    Some(s)
}

fn take_varint(data: &mut &[u8]) -> Option<u64> {
    let (v, n) = get_canonical_varint(data)?;
    *data = &data[n..];
    Some(v)
}

/// Decodes a range-deletion block. Every malformed input is [`Error::Corruption`] (`what`
/// names the file); an unknown version is [`Error::UnsupportedFormat`].
pub fn decode_block(buf: &[u8], what: &str, offset: u64) -> Result<Vec<RangeTombstone>> {
    let bad = |d: &str| Error::corruption(String::from(what), Some(offset), d);
    let (&version, mut data) = buf
        .split_first()
        .ok_or_else(|| bad("empty range-deletion block"))?;
    if version != BLOCK_VERSION {
        return Err(Error::UnsupportedFormat(alloc::format!(
            "{what}: range-deletion block version {version}, this build reads version {BLOCK_VERSION}"
        )));
    }
    let count = take_varint(&mut data).ok_or_else(|| bad("bad range-deletion count"))?;
    // Each tombstone takes at least 3 bytes: a count beyond that is damage, not a reason to
    // reserve memory.
    if count > data.len() as u64 / 3 {
        return Err(bad("range-deletion count exceeds the block"));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let start = take(&mut data).ok_or_else(|| bad("malformed range tombstone"))?;
        let end = take(&mut data).ok_or_else(|| bad("malformed range tombstone"))?;
        let seq = take_varint(&mut data).ok_or_else(|| bad("malformed range tombstone"))?;
        if start >= end || seq > crate::key::MAX_SEQUENCE {
            return Err(bad("invalid range tombstone"));
        }
        out.push(RangeTombstone {
            start: Vec::from(start),
            end: Vec::from(end),
            seq,
        });
    }
    if !data.is_empty() {
        return Err(bad("trailing bytes after range tombstones"));
    }
    Ok(out)
}

/// Applies the range tombstones of several sources to the entries a reader sees at one
/// sequence number. Remembers the fragment last found in each source, so that a scan moving
/// through the key space mostly answers without a search.
#[derive(Debug, Clone, Default)]
pub struct RangeDelAggregator {
    sources: Vec<(Arc<Fragments>, usize)>,
    read_seq: u64,
}

impl RangeDelAggregator {
    /// An aggregator for a reader at `read_seq`.
    pub fn new(read_seq: u64) -> Self {
        RangeDelAggregator {
            sources: Vec::new(),
            read_seq,
        }
    }

    /// Adds the tombstones of one source (ignored when it has none).
    pub fn add(&mut self, f: Arc<Fragments>) {
        if !f.is_empty() {
            self.sources.push((f, 0));
        }
    }

    /// True when no source has a tombstone.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// True when a tombstone visible at the read sequence hides the version `seq` of `key`.
    #[inline]
    pub fn covers(&mut self, key: &[u8], seq: u64) -> bool {
        let read_seq = self.read_seq;
        for (f, hint) in self.sources.iter_mut() {
            let frags = f.fragments();
            let cached = frags
                .get(*hint)
                .is_some_and(|fr| fr.start.as_slice() <= key && key < fr.end.as_slice());
            // A scan forward mostly meets keys in the gap after the fragment last found, or
            // in the next fragment: both are answered without a search.
            let after = |i: usize| frags.get(i).is_none_or(|fr| key < fr.start.as_slice());
            let in_gap = !cached
                && frags
                    .get(*hint)
                    .is_some_and(|fr| fr.end.as_slice() <= key && after(*hint + 1));
            let next = !cached
                && !in_gap
                && frags.get(*hint + 1).is_some_and(|fr| {
                    frags[*hint].end.as_slice() <= key
                        && fr.start.as_slice() <= key
                        && key < fr.end.as_slice()
                });
            let idx = if cached {
                Some(*hint)
            } else if in_gap {
                None
            } else if next {
                *hint += 1;
                Some(*hint)
            } else {
                // The fragment starting at or before `key` becomes the hint, whether it covers
                // `key` or `key` lies in the gap after it.
                let i = frags.partition_point(|fr| fr.start.as_slice() <= key);
                if i == 0 {
                    None
                } else {
                    *hint = i - 1;
                    (key < frags[i - 1].end.as_slice()).then_some(i - 1)
                }
            };
            if let Some(i) = idx {
                if frags[i].visible_seq(read_seq) > seq {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;

    fn t(s: &[u8], e: &[u8], seq: u64) -> RangeTombstone {
        RangeTombstone {
            start: s.to_vec(),
            end: e.to_vec(),
            seq,
        }
    }

    #[test]
    fn fragments_split_overlaps_and_keep_every_sequence() {
        let f = Fragments::new(vec![t(b"a", b"e", 5), t(b"c", b"g", 9), t(b"x", b"x", 3)]);
        let got: Vec<_> = f
            .fragments()
            .iter()
            .map(|fr| (fr.start.clone(), fr.end.clone(), fr.seqs.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), b"c".to_vec(), vec![5]),
                (b"c".to_vec(), b"e".to_vec(), vec![9, 5]),
                (b"e".to_vec(), b"g".to_vec(), vec![9]),
            ]
        );
        assert_eq!(f.max_covering(b"d", 100), 9);
        assert_eq!(f.max_covering(b"d", 8), 5);
        assert_eq!(f.max_covering(b"d", 4), 0);
        assert_eq!(f.max_covering(b"g", 100), 0);
        assert_eq!(f.max_covering(b"a", 100), 5);
        assert_eq!(f.max_covering(b"", 100), 0);
        assert_eq!(f.tombstone_count(), 2);
        assert_eq!(f.seq_range(), Some((5, 9)));
    }

    #[test]
    fn fragments_match_a_brute_force_answer() {
        // Pseudo-random tombstones over a small key space, checked key by key.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..50 {
            let n = rnd(20) as usize;
            let ts: Vec<_> = (0..n)
                .map(|i| {
                    let a = rnd(30) as u8;
                    let b = rnd(30) as u8;
                    t(&[a], &[b], i as u64 + 1)
                })
                .collect();
            let f = Fragments::new(ts.clone());
            for k in 0..31u8 {
                for read in [0u64, 3, 10, 100] {
                    let want = ts
                        .iter()
                        .filter(|t| t.start.as_slice() <= [k].as_slice())
                        .filter(|t| [k].as_slice() < t.end.as_slice() && t.seq <= read)
                        .map(|t| t.seq)
                        .max()
                        .unwrap_or(0);
                    assert_eq!(f.max_covering(&[k], read), want);
                }
            }
            // Re-fragmenting the stored form gives the same fragments.
            let again = Fragments::new(f.tombstones().collect());
            assert_eq!(again.fragments(), f.fragments());
        }
    }

    #[test]
    fn a_longer_spelling_of_a_varint_is_damage() {
        // Found by the range_del_block fuzz target: seq 2 + 2<<7 + ... spelt with a trailing
        // zero byte decoded, and re-encoded shorter.
        let overlong = [1u8, 1, 1, 0, 1, 1, 130, 130, 130, 130, 130, 130, 0];
        assert!(matches!(
            decode_block(&overlong, "t", 0),
            Err(Error::Corruption { .. })
        ));
        // The same tombstone spelt shortest decodes and round-trips.
        let short = [1u8, 1, 1, 0, 1, 1, 130, 130, 130, 130, 130, 2];
        let ts = decode_block(&short, "t", 0).unwrap();
        assert_eq!(encode_block(&ts), short);
        // Zero itself is one byte, and fine.
        assert_eq!(
            decode_block(&encode_block(&[t(b"a", b"b", 0)]), "t", 0).unwrap(),
            vec![t(b"a", b"b", 0)]
        );
    }

    #[test]
    fn block_round_trips_and_rejects_damage() {
        let ts = vec![t(b"a", b"b", 3), t(b"k", b"zz", 1 << 40)];
        let b = encode_block(&ts);
        assert_eq!(decode_block(&b, "t", 0).unwrap(), ts);
        for cut in 0..b.len() {
            assert!(decode_block(&b[..cut], "t", 0).is_err(), "cut {cut}");
        }
        let mut v = b.clone();
        v[0] = 9;
        assert!(matches!(
            decode_block(&v, "t", 0),
            Err(Error::UnsupportedFormat(_))
        ));
        let mut extra = b.clone();
        extra.push(0);
        assert!(decode_block(&extra, "t", 0).is_err());
        // start >= end is rejected.
        let bad = encode_block(&[t(b"b", b"a", 1)]);
        assert!(decode_block(&bad, "t", 0).is_err());
    }

    #[test]
    fn aggregator_uses_the_newest_visible_tombstone_of_every_source() {
        let mut a = RangeDelAggregator::new(10);
        a.add(Arc::new(Fragments::new(vec![t(b"a", b"m", 4)])));
        a.add(Arc::new(Fragments::new(vec![t(b"f", b"z", 12)])));
        assert!(a.covers(b"b", 3));
        assert!(!a.covers(b"b", 4));
        assert!(!a.covers(b"n", 1)); // the seq-12 tombstone is not visible at 10
        assert!(a.covers(b"g", 2));
        assert!(!a.covers(b"z", 0));
        assert_eq!(inclusive_end(b"k\0"), b"k");
        assert_eq!(inclusive_end(b"k"), b"k");
        assert_eq!(successor(b"k"), b"k\0");
    }
}
