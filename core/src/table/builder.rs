//! Writes an SSTable: data blocks, filter blocks, index block, properties block, footer.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;

use super::block::BlockBuilder;
use super::bloom::FilterBuilder;
use super::format::{
    write_block, BlockHandle, Footer, TableProperties, BLOCK_TRAILER_LEN, FOOTER_LEN,
};
use crate::error::{Error, Result};
use crate::key::{self, Kind, MAX_SEQUENCE, TRAILER_LEN};
use crate::options::Options;
use cairn_vfs::File;

/// Pending output is written to the file once it reaches this many bytes.
const WRITE_BUFFER: usize = 256 << 10;

/// Options for building one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed size of a data block.
    pub block_size: usize,
    /// Keys between restart points.
    pub restart_interval: usize,
    /// Bloom filter bits per key; 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// Compress blocks with LZ4 when it saves at least 12.5%.
    pub compression: bool,
    /// If set, also write a prefix bloom filter over the first `n` bytes of each user key.
    pub prefix_len: Option<usize>,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions::from(&Options::default())
    }
}

impl From<&Options> for TableOptions {
    fn from(o: &Options) -> Self {
        TableOptions {
            block_size: o.block_size,
            restart_interval: o.block_restart_interval,
            bloom_bits_per_key: o.bloom_bits_per_key,
            compression: o.compression,
            prefix_len: o.prefix_len,
        }
    }
}

/// Builds a table into a file, front to back. Keys must be added in strictly increasing
/// internal-key order.
pub struct TableBuilder<F: File> {
    file: Arc<F>,
    opts: TableOptions,
    /// Bytes handed to the file so far.
    flushed: u64,
    /// Bytes encoded but not yet written (they follow `flushed`).
    pending: Vec<u8>,
    scratch: Vec<u8>,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// The handle of the last data block, waiting for the next key to pick a separator.
    pending_index: Option<BlockHandle>,
    last_key: Vec<u8>,
    handle_buf: Vec<u8>,
    sep_buf: Vec<u8>,
    filter: Option<FilterBuilder>,
    prefix_filter: Option<FilterBuilder>,
    props: TableProperties,
    range_dels: Vec<crate::range_del::RangeTombstone>,
}

impl<F: File> TableBuilder<F> {
    /// A builder writing into `file` (expected empty) from offset 0.
    pub fn new(file: Arc<F>, opts: TableOptions) -> Self {
        let filter =
            (opts.bloom_bits_per_key > 0).then(|| FilterBuilder::new(opts.bloom_bits_per_key));
        let prefix_filter = match opts.prefix_len {
            Some(n) if n > 0 && opts.bloom_bits_per_key > 0 => {
                Some(FilterBuilder::new(opts.bloom_bits_per_key))
            }
            _ => None,
        };
        TableBuilder {
            file,
            data_block: BlockBuilder::new(opts.restart_interval),
            index_block: BlockBuilder::new(1),
            opts,
            flushed: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
            pending_index: None,
            last_key: Vec::new(),
            handle_buf: Vec::new(),
            sep_buf: Vec::new(),
            filter,
            prefix_filter,
            props: TableProperties::default(),
            range_dels: Vec::new(),
        }
    }

    fn offset(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }

    /// Approximate size of the file if it were finished now.
    pub fn estimated_size(&self) -> u64 {
        self.offset() + self.data_block.size_estimate() as u64
    }

    /// Adds a range tombstone (written to the range-deletion block at [`TableBuilder::finish`];
    /// any order). The table's key range grows to cover it.
    pub fn add_range_tombstone(&mut self, t: crate::range_del::RangeTombstone) -> Result<()> {
        if t.start >= t.end || t.seq > MAX_SEQUENCE {
            return Err(Error::InvalidArgument(String::from(
                "range tombstone with start >= end or an invalid sequence number",
            )));
        }
        self.range_dels.push(t);
        Ok(())
    }

    /// True when nothing (no entry, no range tombstone) was added.
    pub fn is_empty(&self) -> bool {
        self.props.num_entries == 0 && self.range_dels.is_empty()
    }

    /// Number of entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Adds an entry. `ikey` is an internal key; it must sort after every key added before.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        if ikey.len() < TRAILER_LEN {
            return Err(Error::InvalidArgument(String::from(
                "internal key shorter than its 8-byte trailer",
            )));
        }
        if self.props.num_entries > 0 && key::compare(ikey, &self.last_key) != Ordering::Greater {
            return Err(Error::InvalidArgument(String::from(
                "table keys must be added in strictly increasing internal-key order",
            )));
        }
        if ikey.len() as u64 + value.len() as u64 + self.data_block.size_estimate() as u64
            >= u64::from(u32::MAX) - 64
        {
            return Err(Error::InvalidArgument(format!(
                "entry of {} bytes too large for a block",
                ikey.len() + value.len()
            )));
        }
        if let Some(handle) = self.pending_index.take() {
            shortest_separator(&self.last_key, ikey, &mut self.sep_buf);
            self.handle_buf.clear();
            handle.encode_to(&mut self.handle_buf);
            self.index_block.add(&self.sep_buf, &self.handle_buf);
        }
        let uk = key::user_key(ikey);
        if self.props.num_entries == 0 || key::user_key(&self.last_key) != uk {
            if let Some(f) = &mut self.filter {
                f.add(uk);
            }
            if let (Some(f), Some(n)) = (&mut self.prefix_filter, self.opts.prefix_len) {
                if uk.len() >= n {
                    f.add(&uk[..n]);
                }
            }
        }
        let seq = key::sequence(ikey);
        let p = &mut self.props;
        if p.num_entries == 0 {
            p.smallest_key = ikey.to_vec();
            p.min_seq = seq;
            p.max_seq = seq;
        }
        p.min_seq = p.min_seq.min(seq);
        p.max_seq = p.max_seq.max(seq);
        p.num_entries += 1;
        if key::kind_byte(ikey) == Kind::Delete as u8 {
            p.num_tombstones += 1;
        }
        p.raw_key_bytes += ikey.len() as u64;
        p.raw_value_bytes += value.len() as u64;
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        self.data_block.add(ikey, value);
        if self.data_block.size_estimate() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    fn emit_block(&mut self, contents_from_data: bool, compress: bool) -> BlockHandle {
        let offset = self.offset();
        let contents = if contents_from_data {
            self.data_block.finish()
        } else {
            self.index_block.finish()
        };
        let size = write_block(contents, compress, &mut self.scratch, &mut self.pending);
        BlockHandle { offset, size }
    }

    fn emit_raw(&mut self, contents: &[u8]) -> BlockHandle {
        let offset = self.offset();
        let size = write_block(contents, false, &mut self.scratch, &mut self.pending);
        BlockHandle { offset, size }
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data_block.is_empty() {
            return Ok(());
        }
        let handle = self.emit_block(true, self.opts.compression);
        self.data_block.reset();
        self.props.num_data_blocks += 1;
        self.props.data_bytes += handle.size + BLOCK_TRAILER_LEN as u64;
        self.pending_index = Some(handle);
        if self.pending.len() >= WRITE_BUFFER {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.file.write_at(self.flushed, &self.pending)?;
            self.flushed += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes the remaining blocks and the footer, syncs the file, and returns the table's
    /// properties.
    pub fn finish(mut self) -> Result<TableProperties> {
        self.flush_data_block()?;
        self.props.largest_key = self.last_key.clone();
        let range_del = if self.range_dels.is_empty() {
            None
        } else {
            let mut ts = core::mem::take(&mut self.range_dels);
            crate::range_del::sort_tombstones(&mut ts);
            let p = &mut self.props;
            for t in &ts {
                // Key range: from (start, seq) to the largest key the range may cover.
                let lo = key::encode(&t.start, t.seq, Kind::RangeDelete);
                if p.smallest_key.is_empty() || key::compare(&lo, &p.smallest_key) == Ordering::Less
                {
                    p.smallest_key = lo;
                }
                let hi = key::encode(crate::range_del::inclusive_end(&t.end), 0, Kind::Delete);
                if p.largest_key.is_empty()
                    || key::compare(&hi, &p.largest_key) == Ordering::Greater
                {
                    p.largest_key = hi;
                }
                if p.num_entries == 0 && p.num_range_deletions == 0 {
                    p.min_seq = t.seq;
                    p.max_seq = t.seq;
                }
                p.min_seq = p.min_seq.min(t.seq);
                p.max_seq = p.max_seq.max(t.seq);
                p.num_range_deletions += 1;
            }
            let contents = crate::range_del::encode_block(&ts);
            let offset = self.offset();
            let size = write_block(
                &contents,
                self.opts.compression,
                &mut self.scratch,
                &mut self.pending,
            );
            Some((offset, size))
        };
        self.props.range_del_block = range_del;
        if let Some(handle) = self.pending_index.take() {
            short_successor(&self.last_key, &mut self.sep_buf);
            self.handle_buf.clear();
            handle.encode_to(&mut self.handle_buf);
            self.index_block.add(&self.sep_buf, &self.handle_buf);
        }
        let filter = match self.filter.take() {
            Some(f) => {
                let h = self.emit_raw(&f.finish());
                self.props.filter_bytes += h.size + BLOCK_TRAILER_LEN as u64;
                Some(h)
            }
            None => None,
        };
        let prefix_filter = match self.prefix_filter.take() {
            Some(f) => {
                self.props.prefix_len = self.opts.prefix_len.map(|n| n as u64);
                let h = self.emit_raw(&f.finish());
                self.props.filter_bytes += h.size + BLOCK_TRAILER_LEN as u64;
                Some(h)
            }
            None => None,
        };
        let index = self.emit_block(false, self.opts.compression);
        self.props.index_bytes = index.size + BLOCK_TRAILER_LEN as u64;
        // The properties record the final file size, which depends on their own encoded
        // length: iterate until the length is stable (varints only grow, so this converges).
        let props_offset = self.offset();
        let fixed = props_offset + (BLOCK_TRAILER_LEN + FOOTER_LEN) as u64;
        self.props.file_size = fixed;
        let mut encoded = self.props.encode()?;
        for _ in 0..8 {
            let size = fixed + encoded.len() as u64;
            if size == self.props.file_size {
                break;
            }
            self.props.file_size = size;
            encoded = self.props.encode()?;
        }
        if self.props.file_size != fixed + encoded.len() as u64 {
            return Err(Error::InvalidArgument(String::from(
                "table properties size did not converge",
            )));
        }
        let properties = self.emit_raw(&encoded);
        let footer = Footer {
            index,
            filter,
            prefix_filter,
            properties,
            version: super::format::FORMAT_VERSION,
        };
        self.pending.extend_from_slice(&footer.encode());
        self.write_pending()?;
        debug_assert_eq!(self.flushed, self.props.file_size);
        self.file.sync()?;
        Ok(self.props)
    }
}

/// Sets `out` to a key `k` with `start <= k < limit` (internal order), as short as possible:
/// LevelDB's FindShortestSeparator on the user keys, re-encoded with the largest trailer.
/// Falls back to `start` itself.
pub fn shortest_separator(start: &[u8], limit: &[u8], out: &mut Vec<u8>) {
    let us = key::user_key(start);
    let ul = key::user_key(limit);
    out.clear();
    let min_len = us.len().min(ul.len());
    let diff = us.iter().zip(ul.iter()).take_while(|(a, b)| a == b).count();
    if diff < min_len {
        let b = us[diff];
        if b < 0xFF && b + 1 < ul[diff] {
            let short = &us[..=diff];
            // short > us (it is a prefix of us with a larger last byte) and short < ul.
            if short.len() < us.len() {
                key::encode_into(out, short, MAX_SEQUENCE, Kind::SEEK);
                if let Some(last) = out.get_mut(diff) {
                    *last += 1;
                }
                return;
            }
        }
    }
    out.extend_from_slice(start);
}

/// Sets `out` to a short key `k >= start` (internal order): LevelDB's FindShortSuccessor on
/// the user key, re-encoded with the largest trailer. Falls back to `start` itself.
pub fn short_successor(start: &[u8], out: &mut Vec<u8>) {
    let us = key::user_key(start);
    out.clear();
    if let Some(i) = us.iter().position(|&b| b != 0xFF) {
        if i + 1 < us.len() {
            key::encode_into(out, &us[..=i], MAX_SEQUENCE, Kind::SEEK);
            out[i] += 1;
            return;
        }
    }
    out.extend_from_slice(start);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_between_their_bounds() {
        let cases: &[(&[u8], u64, &[u8], u64)] = &[
            (b"abcdefg", 5, b"abzzz", 3),
            (b"abc", 5, b"abd", 3),
            (b"abc", 5, b"abc", 3),
            (b"a\xff\xff", 1, b"b", 1),
            (b"apple", 9, b"apricot", 1),
            (b"", 3, b"x", 1),
            (b"abc", 5, b"abcdef", 5),
        ];
        let mut out = Vec::new();
        for &(a, sa, b, sb) in cases {
            let ka = key::encode(a, sa, Kind::Put);
            let kb = key::encode(b, sb, Kind::Put);
            shortest_separator(&ka, &kb, &mut out);
            assert_ne!(key::compare(&out, &ka), Ordering::Less, "{a:?} {b:?}");
            assert_eq!(key::compare(&out, &kb), Ordering::Less, "{a:?} {b:?}");
            short_successor(&ka, &mut out);
            assert_ne!(key::compare(&out, &ka), Ordering::Less);
        }
        let ka = key::encode(b"abcdefg", 5, Kind::Put);
        let kb = key::encode(b"abzzz", 3, Kind::Put);
        shortest_separator(&ka, &kb, &mut out);
        assert_eq!(key::user_key(&out), b"abd");
        short_successor(&ka, &mut out);
        assert_eq!(key::user_key(&out), b"b");
    }
}
