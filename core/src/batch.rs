//! `WriteBatch`: an atomic group of puts and deletes, and the payload of a WAL record.
//!
//! Encoding (little endian), LevelDB style:
//!
//! ```text
//! batch  = sequence: u64 | count: u32 | record*
//! record = kind: u8 | varint key_len | key | (put, range delete) varint value_len | value
//! kind   = 0 delete | 1 put | 2 range delete (key = start, value = end, exclusive)
//! ```
//!
//! Kind 2 was added with table format version 2; batches without it are unchanged, so WALs
//! written before it replay as they did.
//!
//! `sequence` is the sequence number of the first record; record `i` gets `sequence + i`. It
//! is zero until the engine assigns sequences at commit.

use crate::coding::{get_varint, put_varint};
use crate::error::{Error, Result};
use crate::key::Kind;
use alloc::vec::Vec;

/// Size of the batch header.
pub const HEADER_LEN: usize = 12;

/// An atomic group of writes. Either every record of a batch is recovered after a crash or
/// none is.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
}

impl core::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("count", &self.len())
            .field("bytes", &self.rep.len())
            .finish()
    }
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        let mut rep = Vec::with_capacity(64);
        rep.resize(HEADER_LEN, 0);
        WriteBatch { rep }
    }

    /// Sets `key` to `value` (anything that is bytes: `&[u8]`, `Vec<u8>`, `&str`, `String`,
    /// arrays), like `Db::put`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.put_bytes(key.as_ref(), value.as_ref());
    }

    fn put_bytes(&mut self, key: &[u8], value: &[u8]) {
        self.rep.push(Kind::Put as u8);
        put_varint(&mut self.rep, key.len() as u64);
        self.rep.extend_from_slice(key);
        put_varint(&mut self.rep, value.len() as u64);
        self.rep.extend_from_slice(value);
        self.set_count(self.len() + 1);
    }

    /// Deletes `key` (anything that is bytes, like `Db::delete`).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.delete_bytes(key.as_ref());
    }

    fn delete_bytes(&mut self, key: &[u8]) {
        self.rep.push(Kind::Delete as u8);
        put_varint(&mut self.rep, key.len() as u64);
        self.rep.extend_from_slice(key);
        self.set_count(self.len() + 1);
    }

    /// Deletes every key `k` with `start <= k < end` (one record, whatever the range holds).
    /// An empty range (`start >= end`) is recorded and deletes nothing.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) {
        self.rep.push(Kind::RangeDelete as u8);
        put_varint(&mut self.rep, start.len() as u64);
        self.rep.extend_from_slice(start);
        put_varint(&mut self.rep, end.len() as u64);
        self.rep.extend_from_slice(end);
        self.set_count(self.len() + 1);
    }

    /// Deletes every key starting with `prefix` (a range delete up to the prefix's successor;
    /// an all-0xFF or empty prefix deletes up to the end of the key space as far as keys of
    /// at most `max_key_size` bytes go, see [`prefix_range_end`]).
    pub fn delete_prefix(&mut self, prefix: &[u8], max_key_size: usize) {
        let end = prefix_range_end(prefix, max_key_size);
        self.delete_range(prefix, &end);
    }

    /// Number of records.
    pub fn len(&self) -> u32 {
        crate::coding::get_u32(&self.rep, 8).unwrap_or(0)
    }

    /// True when the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every record, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.clear();
        self.rep.resize(HEADER_LEN, 0);
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.rep.len()
    }

    /// The encoded batch (the WAL record payload).
    pub fn as_bytes(&self) -> &[u8] {
        &self.rep
    }

    /// First sequence number (0 until committed).
    pub fn sequence(&self) -> u64 {
        crate::coding::get_u64(&self.rep, 0).unwrap_or(0)
    }

    pub(crate) fn set_sequence(&mut self, seq: u64) {
        self.rep[0..8].copy_from_slice(&seq.to_le_bytes());
    }

    fn set_count(&mut self, n: u32) {
        self.rep[8..12].copy_from_slice(&n.to_le_bytes());
    }

    /// Appends every record of `other` (group commit merges batches this way).
    pub fn append(&mut self, other: &WriteBatch) {
        self.rep.extend_from_slice(&other.rep[HEADER_LEN..]);
        self.set_count(self.len() + other.len());
    }

    /// The records, in order.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            data: &self.rep[HEADER_LEN..],
            remaining: self.len(),
        }
    }
}

/// A read-only view of an encoded batch (for example a WAL record being replayed, borrowed
/// from the read buffer).
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// First sequence number.
    pub sequence: u64,
    /// Number of records.
    pub count: u32,
    body: &'a [u8],
}

impl<'a> BatchRef<'a> {
    /// Parses the header of an encoded batch; the records are checked while iterating.
    pub fn parse(bytes: &'a [u8]) -> Option<BatchRef<'a>> {
        let sequence = crate::coding::get_u64(bytes, 0)?;
        let count = crate::coding::get_u32(bytes, 8)?;
        Some(BatchRef {
            sequence,
            count,
            body: bytes.get(HEADER_LEN..)?,
        })
    }

    /// The records, in order.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            data: self.body,
            remaining: self.count,
        }
    }

    /// Checks that the body decodes to exactly `count` records with nothing left over.
    pub fn validate(&self) -> bool {
        let mut it = self.iter();
        for _ in 0..self.count {
            match it.next() {
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
        it.data.is_empty()
    }

    /// Whether any record is a range delete (false for a malformed batch's unreadable tail).
    pub fn has_range_delete(&self) -> bool {
        self.iter()
            .take(self.count as usize)
            .any(|r| matches!(r, Ok(r) if r.kind == Kind::RangeDelete))
    }
}

/// One record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Put or delete.
    pub kind: Kind,
    /// The user key.
    pub key: &'a [u8],
    /// The value (empty for deletes; the exclusive end key for range deletes).
    pub value: &'a [u8],
}

/// The exclusive end of the range holding every key that starts with `prefix`: the prefix
/// with its last non-0xFF byte incremented, or, when there is none (empty or all-0xFF
/// prefix), `prefix` followed by 0xFF bytes up to one byte past `max_key_size`, which sorts
/// after every key the engine accepts.
pub fn prefix_range_end(prefix: &[u8], max_key_size: usize) -> Vec<u8> {
    let mut s = Vec::from(prefix);
    while let Some(last) = s.pop() {
        if last != 0xFF {
            s.push(last + 1);
            return s;
        }
    }
    let mut s = Vec::from(prefix);
    s.resize(max_key_size.max(prefix.len()) + 1, 0xFF);
    s
}

/// Iterates the records of a batch. Yields `Err(Corruption)` on malformed bytes.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    data: &'a [u8],
    remaining: u32,
}

fn take_slice<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, n) = get_varint(data)?;
    let len = usize::try_from(len).ok()?;
    let end = n.checked_add(len)?;
    let s = data.get(n..end)?;
    *data = &data[end..];
    Some(s)
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let bad = || {
            Some(Err(Error::corruption(
                "write batch",
                None,
                "malformed record",
            )))
        };
        let (&tag, rest) = match self.data.split_first() {
            Some(x) => x,
            None => {
                self.remaining = 0;
                return bad();
            }
        };
        self.data = rest;
        let kind = match Kind::from_u8(tag) {
            Some(k) => k,
            None => {
                self.remaining = 0;
                return bad();
            }
        };
        let Some(key) = take_slice(&mut self.data) else {
            self.remaining = 0;
            return bad();
        };
        let value = match kind {
            Kind::Put | Kind::RangeDelete => match take_slice(&mut self.data) {
                Some(v) => v,
                None => {
                    self.remaining = 0;
                    return bad();
                }
            },
            Kind::Delete => &[][..],
        };
        Some(Ok(Record { kind, key, value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_append() {
        let mut b = WriteBatch::new();
        b.put(b"k1", b"v1");
        b.delete(b"k2");
        b.put(b"", b"");
        let mut c = WriteBatch::new();
        c.put(b"k3", [7u8; 300]);
        b.append(&c);
        b.set_sequence(42);
        assert_eq!(b.len(), 4);
        let r = BatchRef::parse(b.as_bytes()).expect("parse");
        assert!(r.validate());
        assert_eq!(r.sequence, 42);
        let recs: Vec<_> = r.iter().collect::<Result<_>>().expect("records");
        assert_eq!(recs[1].kind, Kind::Delete);
        assert_eq!(recs[3].value.len(), 300);
        let mut r = WriteBatch::new();
        r.delete_range(b"a", b"m");
        r.delete_prefix(b"p\xff", 8);
        let recs: Vec<_> = r.iter().collect::<Result<_>>().expect("records");
        assert_eq!(recs[0].kind, Kind::RangeDelete);
        assert_eq!((recs[0].key, recs[0].value), (&b"a"[..], &b"m"[..]));
        assert_eq!((recs[1].key, recs[1].value), (&b"p\xff"[..], &b"q"[..]));
        assert_eq!(prefix_range_end(b"\xff", 3), b"\xff\xff\xff\xff");
        // Truncations never panic and never validate.
        for cut in 0..b.as_bytes().len() {
            if let Some(r) = BatchRef::parse(&b.as_bytes()[..cut]) {
                assert!(!r.validate(), "cut {cut}");
            }
        }
    }
}
