//! Internal keys: a user key plus a sequence number and a kind.
//!
//! Encoding (used in the memtable, in SSTable blocks and in index separators):
//!
//! ```text
//! internal key = user_key bytes ++ trailer (8 bytes, little endian)
//! trailer      = (sequence << 8) | kind
//! ```
//!
//! Ordering ([`compare`]): by user key ascending (bytewise), then by trailer *descending*, so
//! the newest version of a key comes first. Sequence numbers have 56 bits.

use core::cmp::Ordering;

/// Largest sequence number.
pub const MAX_SEQUENCE: u64 = (1 << 56) - 1;
/// Length of the trailer appended to every user key.
pub const TRAILER_LEN: usize = 8;

/// What an entry does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// The key is deleted (a tombstone); the value is empty.
    Delete = 0,
    /// The key is set to the value.
    Put = 1,
    /// Every key in `[key, value)` is deleted (a range tombstone). Used in write batches and
    /// handed to [`crate::memtable::Memtable::insert`]; never stored in a table's data blocks
    /// (tables keep range tombstones in their range-deletion block).
    RangeDelete = 2,
}

impl Kind {
    /// The kind used in seek keys: the largest kind, so that a seek key sorts before every
    /// entry of the same user key and sequence number.
    pub const SEEK: u8 = 0xFF;

    /// Decodes a kind byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            2 => Some(Kind::RangeDelete),
            _ => None,
        }
    }
}

/// Packs a sequence number and kind byte into a trailer.
#[inline]
pub fn pack_trailer(seq: u64, kind: u8) -> u64 {
    (seq << 8) | u64::from(kind)
}

/// Appends the internal key for (`user_key`, `seq`, `kind`) to `out`.
#[inline]
pub fn encode_into(out: &mut alloc::vec::Vec<u8>, user_key: &[u8], seq: u64, kind: u8) {
    out.extend_from_slice(user_key);
    out.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// The internal key for (`user_key`, `seq`, `kind`).
pub fn encode(user_key: &[u8], seq: u64, kind: Kind) -> alloc::vec::Vec<u8> {
    let mut v = alloc::vec::Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_into(&mut v, user_key, seq, kind as u8);
    v
}

/// The key to seek to for the newest version of `user_key` visible at `seq`.
pub fn seek_key(user_key: &[u8], seq: u64) -> alloc::vec::Vec<u8> {
    let mut v = alloc::vec::Vec::with_capacity(user_key.len() + TRAILER_LEN);
    encode_into(&mut v, user_key, seq, Kind::SEEK);
    v
}

/// The user key part of an internal key. Internal keys shorter than the trailer are treated
/// as having an empty user key (they never come out of a valid table; decoders reject them).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_LEN)]
}

/// The trailer of an internal key (0 if the key is too short).
#[inline]
pub fn trailer(ikey: &[u8]) -> u64 {
    if ikey.len() < TRAILER_LEN {
        return 0;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&ikey[ikey.len() - TRAILER_LEN..]);
    u64::from_le_bytes(t)
}

/// The sequence number of an internal key.
#[inline]
pub fn sequence(ikey: &[u8]) -> u64 {
    trailer(ikey) >> 8
}

/// The kind byte of an internal key.
#[inline]
pub fn kind_byte(ikey: &[u8]) -> u8 {
    (trailer(ikey) & 0xFF) as u8
}

/// Orders internal keys: user key ascending, then trailer descending (newest first).
#[inline]
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match user_key(a).cmp(user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

/// A decoded view of an internal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user key.
    pub user_key: &'a [u8],
    /// The sequence number.
    pub seq: u64,
    /// The kind byte (see [`Kind`]).
    pub kind: u8,
}

/// Splits an internal key; `None` if it is shorter than the trailer or has an unknown kind.
pub fn parse(ikey: &[u8]) -> Option<ParsedKey<'_>> {
    if ikey.len() < TRAILER_LEN {
        return None;
    }
    let t = trailer(ikey);
    let kind = (t & 0xFF) as u8;
    Kind::from_u8(kind)?;
    Some(ParsedKey {
        user_key: user_key(ikey),
        seq: t >> 8,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_version_sorts_first_and_user_keys_ascend() {
        let a5 = encode(b"a", 5, Kind::Put);
        let a9 = encode(b"a", 9, Kind::Delete);
        let ab1 = encode(b"ab", 1, Kind::Put);
        assert_eq!(compare(&a9, &a5), Ordering::Less);
        assert_eq!(compare(&a5, &ab1), Ordering::Less);
        assert_eq!(compare(&seek_key(b"a", 7), &a5), Ordering::Less);
        assert_eq!(compare(&seek_key(b"a", 7), &a9), Ordering::Greater);
        let p = parse(&a9).expect("parse");
        assert_eq!((p.user_key, p.seq, p.kind), (&b"a"[..], 9, 0));
        assert!(parse(b"short").is_none());
    }
}
