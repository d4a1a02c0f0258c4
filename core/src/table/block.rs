//! Blocks of prefix-compressed, sorted internal keys with restart points (LevelDB style).
//!
//! ```text
//! block   = entry* ++ restart_offset(u32 LE)* ++ num_restarts(u32 LE)
//! entry   = varint(shared) ++ varint(non_shared) ++ varint(value_len)
//!           ++ key_delta[non_shared] ++ value[value_len]
//! ```
//!
//! Every `restart_interval` entries the full key is stored (`shared == 0`) and the entry's
//! offset is recorded in the restart array, so a seek can binary-search the restart points.
//! Every decode path is bounds-checked: damaged bytes give [`Error::Corruption`].

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::coding::{get_u32, get_varint32, put_varint};
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::{self, TRAILER_LEN};
use crate::keybuf::KeyBuf;

/// Builds one block. Reusable: call [`BlockBuilder::reset`] after [`BlockBuilder::finish`].
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    restart_interval: usize,
    last_key: Vec<u8>,
    entries: usize,
    finished: bool,
}

impl BlockBuilder {
    /// A builder storing a full key every `restart_interval` entries (0 is taken as 1).
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: alloc::vec![0],
            counter: 0,
            restart_interval: restart_interval.max(1),
            last_key: Vec::new(),
            entries: 0,
            finished: false,
        }
    }

    /// Clears the builder, keeping its buffers.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        self.finished = false;
    }

    /// Appends an entry. Keys must be added in increasing order (checked by the caller), and
    /// the block must stay below 4 GiB (the restart offsets are `u32`).
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(!self.finished);
        let mut shared = 0;
        if self.counter < self.restart_interval {
            shared = self
                .last_key
                .iter()
                .zip(key.iter())
                .take_while(|(a, b)| a == b)
                .count();
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
        }
        let non_shared = key.len() - shared;
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, non_shared as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
        self.entries += 1;
    }

    /// Appends the restart array and returns the finished block contents.
    pub fn finish(&mut self) -> &[u8] {
        if !self.finished {
            for r in &self.restarts {
                self.buf.extend_from_slice(&r.to_le_bytes());
            }
            self.buf
                .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
            self.finished = true;
        }
        &self.buf
    }

    /// Size of the block if it were finished now.
    pub fn size_estimate(&self) -> usize {
        if self.finished {
            self.buf.len()
        } else {
            self.buf.len() + self.restarts.len() * 4 + 4
        }
    }

    /// True when no entry was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Number of entries added since the last reset.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// The last key added (empty when the block is empty).
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }
}

/// A decoded, validated block (owned contents).
#[derive(Debug)]
pub struct Block {
    data: Vec<u8>,
    restarts_offset: usize,
    num_restarts: usize,
    file_number: u64,
    offset: u64,
}

impl Block {
    /// Validates `contents` as a block (the trailer and restart array are in bounds and the
    /// restart offsets increase). `file_number` and `offset` only name the block in errors.
    pub fn new(contents: Vec<u8>, file_number: u64, offset: u64) -> Result<Block> {
        let bad = |detail: String| {
            Err(Error::corruption(
                crate::filename::table(file_number),
                Some(offset),
                detail,
            ))
        };
        let len = contents.len();
        if len < 4 {
            return bad(format!("block of {len} bytes is too short"));
        }
        let num = match get_u32(&contents, len - 4) {
            Some(n) => n as usize,
            None => return bad(String::from("block trailer unreadable")),
        };
        let max_restarts = (len - 4) / 4;
        if num == 0 || num > max_restarts {
            return bad(format!("block restart count {num} invalid for {len} bytes"));
        }
        let restarts_offset = len - 4 - num * 4;
        let mut prev: Option<u32> = None;
        for i in 0..num {
            let r = get_u32(&contents, restarts_offset + i * 4).unwrap_or(u32::MAX);
            let in_bounds = (r as usize) < restarts_offset || (r == 0 && restarts_offset == 0);
            let increasing = prev.is_none_or(|p| r > p);
            if !in_bounds || !increasing {
                return bad(format!(
                    "block restart point {i} ({r}) out of order or bounds"
                ));
            }
            prev = Some(r);
        }
        if get_u32(&contents, restarts_offset) != Some(0) {
            return bad(String::from("block's first restart point is not 0"));
        }
        Ok(Block {
            data: contents,
            restarts_offset,
            num_restarts: num,
            file_number,
            offset,
        })
    }

    /// The block's bytes (entries and restart array).
    pub fn contents(&self) -> &[u8] {
        &self.data
    }

    /// Size of the block in memory, as charged to the block cache.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// An iterator over the block (not positioned).
    pub fn iter(self: &Arc<Self>) -> BlockIter {
        BlockIter {
            block: Arc::clone(self),
            current: 0,
            next_off: 0,
            restart_index: 0,
            key: KeyBuf::new(),
            value: (0, 0),
            valid: false,
        }
    }

    fn restart(&self, i: usize) -> usize {
        // In bounds: validated in `new`.
        get_u32(&self.data, self.restarts_offset + i * 4).unwrap_or(0) as usize
    }

    fn corruption(&self, detail: impl Into<String>) -> Error {
        Error::corruption(
            crate::filename::table(self.file_number),
            Some(self.offset),
            detail,
        )
    }

    /// Decodes the entry header at `off`: (shared, non_shared, value_len, header_len).
    fn decode_header(&self, off: usize) -> Result<(usize, usize, usize, usize)> {
        let region = self
            .data
            .get(off..self.restarts_offset)
            .ok_or_else(|| self.corruption("block entry offset out of bounds"))?;
        let err = || self.corruption(format!("bad block entry header at block offset {off}"));
        let (shared, a) = get_varint32(region).ok_or_else(err)?;
        let (non_shared, b) = get_varint32(&region[a..]).ok_or_else(err)?;
        let (vlen, c) = get_varint32(&region[a + b..]).ok_or_else(err)?;
        let header = a + b + c;
        let need = (non_shared as u64) + (vlen as u64);
        if need > (region.len() - header) as u64 {
            return Err(self.corruption(format!("block entry at {off} overruns the block")));
        }
        Ok((shared as usize, non_shared as usize, vlen as usize, header))
    }

    /// The full key stored at a restart point (shared must be 0 there).
    fn restart_key(&self, i: usize) -> Result<&[u8]> {
        let off = self.restart(i);
        let (shared, non_shared, _, header) = self.decode_header(off)?;
        if shared != 0 {
            return Err(self.corruption("restart entry shares a prefix"));
        }
        let start = off + header;
        Ok(&self.data[start..start + non_shared])
    }
}

/// A cursor over one block. Owns an `Arc` of its block.
#[derive(Debug)]
pub struct BlockIter {
    block: Arc<Block>,
    current: usize,
    next_off: usize,
    restart_index: usize,
    key: KeyBuf,
    value: (usize, usize),
    valid: bool,
}

impl BlockIter {
    /// The block this iterator reads.
    pub fn block(&self) -> &Arc<Block> {
        &self.block
    }

    fn fail(&mut self, e: Error) -> Result<()> {
        self.valid = false;
        self.key.clear();
        Err(e)
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.restart_index = i;
        self.next_off = self.block.restart(i);
        self.valid = false;
    }

    /// Decodes the entry at `next_off`; not valid at the end of the block.
    fn parse_next(&mut self) -> Result<()> {
        let off = self.next_off;
        if off >= self.block.restarts_offset {
            self.valid = false;
            self.current = self.block.restarts_offset;
            return Ok(());
        }
        let (shared, non_shared, vlen, header) = match self.block.decode_header(off) {
            Ok(h) => h,
            Err(e) => return self.fail(e),
        };
        if shared > self.key.len() {
            let e = self.block.corruption(format!(
                "block entry at {off} shares more than the previous key"
            ));
            return self.fail(e);
        }
        let kstart = off + header;
        let vstart = kstart + non_shared;
        self.key.truncate(shared);
        self.key.extend_from_slice(&self.block.data[kstart..vstart]);
        if self.key.len() < TRAILER_LEN {
            let e = self.block.corruption(format!(
                "block entry at {off} has a key shorter than 8 bytes"
            ));
            return self.fail(e);
        }
        self.value = (vstart, vstart + vlen);
        self.current = off;
        self.next_off = vstart + vlen;
        self.valid = true;
        while self.restart_index + 1 < self.block.num_restarts
            && self.block.restart(self.restart_index + 1) <= self.current
        {
            self.restart_index += 1;
        }
        Ok(())
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.valid
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.seek_to_restart(0);
        self.parse_next()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.seek_to_restart(self.block.num_restarts - 1);
        self.parse_next()?;
        while self.valid && self.next_off < self.block.restarts_offset {
            self.parse_next()?;
        }
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // Last restart point whose key is < target.
        let mut left = 0usize;
        let mut right = self.block.num_restarts - 1;
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            let ord = match self.block.restart_key(mid) {
                Ok(k) => key::compare(k, target),
                Err(e) => return self.fail(e),
            };
            if ord == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.seek_to_restart(left);
        loop {
            self.parse_next()?;
            if !self.valid || key::compare(self.key.as_slice(), target) != Ordering::Less {
                return Ok(());
            }
        }
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.seek(target)?;
        if !self.valid {
            return self.seek_to_last();
        }
        while self.valid && key::compare(self.key.as_slice(), target) == Ordering::Greater {
            self.prev()?;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        self.parse_next()
    }

    fn prev(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        let original = self.current;
        while self.block.restart(self.restart_index) >= original {
            if self.restart_index == 0 {
                self.valid = false;
                self.key.clear();
                return Ok(());
            }
            self.restart_index -= 1;
        }
        let ri = self.restart_index;
        self.seek_to_restart(ri);
        loop {
            self.parse_next()?;
            if !self.valid {
                // The entry before `original` vanished: the block is inconsistent.
                let e = self
                    .block
                    .corruption("block entries do not chain to the previous entry");
                return self.fail(e);
            }
            if self.next_off >= original {
                return Ok(());
            }
        }
    }

    fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    fn value(&self) -> &[u8] {
        &self.block.data[self.value.0..self.value.1]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::key::Kind;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn build(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(interval);
        for (k, v) in entries {
            b.add(k, v);
        }
        Arc::new(Block::new(b.finish().to_vec(), 1, 0).expect("valid block"))
    }

    fn model(n: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|_| {
                let uk = format!("key{:05}", rng.gen_range(0..n * 2 + 1)).into_bytes();
                let seq = rng.gen_range(0..1000u64);
                let val = alloc::vec![b'v'; rng.gen_range(0..20)];
                (key::encode(&uk, seq, Kind::Put), val)
            })
            .collect();
        v.sort_by(|a, b| key::compare(&a.0, &b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        v
    }

    #[test]
    fn block_round_trip_seek_and_reverse() {
        for interval in [1, 2, 16] {
            let entries = model(300, interval as u64);
            let block = build(&entries, interval);
            let mut it = block.iter();
            it.seek_to_first().unwrap();
            for (k, v) in &entries {
                assert!(it.valid());
                assert_eq!(it.key(), &k[..]);
                assert_eq!(it.value(), &v[..]);
                it.next().unwrap();
            }
            assert!(!it.valid());
            it.seek_to_last().unwrap();
            for (k, _) in entries.iter().rev() {
                assert_eq!(it.key(), &k[..]);
                it.prev().unwrap();
            }
            assert!(!it.valid());
            let mut rng = SmallRng::seed_from_u64(7);
            for _ in 0..500 {
                let uk = format!("key{:05}", rng.gen_range(0..700)).into_bytes();
                let t = key::seek_key(&uk, rng.gen_range(0..1100));
                let pos = entries.partition_point(|e| key::compare(&e.0, &t) == Ordering::Less);
                it.seek(&t).unwrap();
                match entries.get(pos) {
                    Some(e) => assert_eq!(it.key(), &e.0[..]),
                    None => assert!(!it.valid()),
                }
                it.seek_for_prev(&t).unwrap();
                let pp = entries.partition_point(|e| key::compare(&e.0, &t) != Ordering::Greater);
                if pp == 0 {
                    assert!(!it.valid());
                } else {
                    assert_eq!(it.key(), &entries[pp - 1].0[..]);
                    it.next().unwrap();
                    match entries.get(pp) {
                        Some(e) => assert_eq!(it.key(), &e.0[..]),
                        None => assert!(!it.valid()),
                    }
                }
            }
        }
    }

    #[test]
    fn empty_block_is_valid_and_empty() {
        let block = build(&[], 16);
        let mut it = block.iter();
        it.seek_to_first().unwrap();
        assert!(!it.valid());
        it.seek_to_last().unwrap();
        assert!(!it.valid());
        it.seek(&key::seek_key(b"a", 1)).unwrap();
        assert!(!it.valid());
        it.seek_for_prev(&key::seek_key(b"a", 1)).unwrap();
        assert!(!it.valid());
    }

    fn exercise(bytes: Vec<u8>) {
        let Ok(block) = Block::new(bytes, 9, 0) else {
            return;
        };
        let block = Arc::new(block);
        let mut it = block.iter();
        let mut steps = 0;
        if it.seek_to_first().is_ok() {
            while it.valid() && steps < 10_000 {
                let _ = (it.key().len(), it.value().len());
                if it.next().is_err() {
                    break;
                }
                steps += 1;
            }
        }
        if it.seek_to_last().is_ok() {
            steps = 0;
            while it.valid() && steps < 10_000 {
                if it.prev().is_err() {
                    break;
                }
                steps += 1;
            }
        }
        let _ = it.seek(&key::seek_key(b"m", 5));
        let _ = it.seek_for_prev(&key::seek_key(b"m", 5));
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = SmallRng::seed_from_u64(42);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..200);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            // Make a plausible trailer half of the time so decoding gets exercised.
            if len >= 16 && rng.gen_bool(0.5) {
                let n = rng.gen_range(1..3u32);
                let l = bytes.len();
                bytes[l - 4..].copy_from_slice(&n.to_le_bytes());
                for i in 0..n as usize {
                    let p = l - 4 - 4 * (n as usize - i);
                    let r = if i == 0 {
                        0
                    } else {
                        rng.gen_range(0..(l as u32 / 2))
                    };
                    bytes[p..p + 4].copy_from_slice(&r.to_le_bytes());
                }
            }
            exercise(bytes);
        }
        // Mutations of a valid block.
        let entries = model(50, 3);
        let good = build(&entries, 4).contents().to_vec();
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            exercise(bytes);
        }
    }
}
