//! Reads an SSTable: point lookups, two-level iteration, and full verification.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;

use super::block::{Block, BlockIter};
use super::bloom::BloomFilter;
use super::format::{read_block, BlockHandle, Footer, TableProperties, FOOTER_LEN};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key;
use cairn_vfs::File;

/// An open table. `Send + Sync` when `F` is; share it through an `Arc`.
pub struct Table<F: File> {
    file: Arc<F>,
    file_number: u64,
    file_size: u64,
    /// Offset of the footer: every block must end at or before it.
    footer_offset: u64,
    footer: Footer,
    cache: Option<Arc<BlockCache>>,
    index: Arc<Block>,
    filter: Option<BloomFilter>,
    prefix_filter: Option<BloomFilter>,
    props: TableProperties,
    range_dels: Arc<crate::range_del::Fragments>,
}

impl<F: File> core::fmt::Debug for Table<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Table")
            .field("file", &crate::filename::table(self.file_number))
            .field("file_size", &self.file_size)
            .field("footer", &self.footer)
            .finish()
    }
}

/// What [`Table::verify`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Data blocks read and checked.
    pub data_blocks: u64,
    /// Entries decoded.
    pub entries: u64,
    /// Bytes of blocks read (stored sizes, trailers included).
    pub bytes_read: u64,
}

impl<F: File> Table<F> {
    /// Opens a table: reads and validates the footer, index block, filters and properties.
    /// A filter block that fails its checksum is dropped (lookups stay correct, only slower);
    /// [`Table::verify`] reports it.
    pub fn open(
        file: Arc<F>,
        file_number: u64,
        file_size: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Table<F>> {
        let name = crate::filename::table(file_number);
        let actual = file.len()?;
        if actual < file_size {
            return Err(Error::corruption(
                name,
                None,
                format!("file is truncated: {actual} bytes, expected {file_size}"),
            ));
        }
        if file_size < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                name,
                None,
                format!("file of {file_size} bytes is too short for a table"),
            ));
        }
        let footer_offset = file_size - FOOTER_LEN as u64;
        let mut fbuf = [0u8; FOOTER_LEN];
        file.read_exact_at(footer_offset, &mut fbuf)?;
        let footer = Footer::decode(&fbuf, file_number, footer_offset)?;
        let index_data = read_block(&*file, file_number, footer.index, footer_offset)?;
        let index = Arc::new(Block::new(index_data, file_number, footer.index.offset)?);
        let pdata = read_block(&*file, file_number, footer.properties, footer_offset)?;
        let props = TableProperties::decode(
            &pdata,
            file_number,
            footer.properties.offset,
            footer.version,
        )?;
        if props.file_size != file_size {
            return Err(Error::corruption(
                name,
                Some(footer.properties.offset),
                format!(
                    "properties record a file size of {}, the file has {file_size}",
                    props.file_size
                ),
            ));
        }
        // A damaged filter is dropped (answers stay correct); I/O errors are reported.
        let load_filter = |h: Option<BlockHandle>| -> Result<Option<BloomFilter>> {
            let Some(h) = h else { return Ok(None) };
            match read_block(&*file, file_number, h, footer_offset) {
                Ok(data) => Ok(Some(BloomFilter::new(data))),
                Err(Error::Corruption { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let filter = load_filter(footer.filter)?;
        let prefix_filter = load_filter(footer.prefix_filter)?;
        // Unlike a filter, a damaged range-deletion block cannot be dropped: the tombstones
        // hide data, so the table fails to open.
        let range_dels = match props.range_del_block {
            Some((offset, size)) => {
                let h = BlockHandle { offset, size };
                let data = read_block(&*file, file_number, h, footer_offset)?;
                let ts = crate::range_del::decode_block(&data, &name, offset)?;
                if ts.len() as u64 != props.num_range_deletions {
                    return Err(Error::corruption(
                        name,
                        Some(offset),
                        format!(
                            "properties count {} range tombstones, the block holds {}",
                            props.num_range_deletions,
                            ts.len()
                        ),
                    ));
                }
                Arc::new(crate::range_del::Fragments::new(ts))
            }
            None if props.num_range_deletions > 0 => {
                return Err(Error::corruption(
                    name,
                    Some(footer.properties.offset),
                    "properties count range tombstones but name no range-deletion block",
                ))
            }
            None => Arc::new(crate::range_del::Fragments::default()),
        };
        Ok(Table {
            range_dels,
            file,
            file_number,
            file_size,
            footer_offset,
            footer,
            cache,
            index,
            filter,
            prefix_filter,
            props,
        })
    }

    /// The table's file number.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// The table's size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The table's properties.
    pub fn properties(&self) -> &TableProperties {
        &self.props
    }

    /// The table's range tombstones, fragmented.
    pub fn range_dels(&self) -> &Arc<crate::range_del::Fragments> {
        &self.range_dels
    }

    /// False only if the table certainly holds no entry for `user_key`.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(user_key))
    }

    /// False only if the table certainly holds no user key starting with `prefix`. Uses the
    /// prefix filter when the table has one and `prefix` is at least as long as the table's
    /// prefix length (a longer prefix is checked by its first `prefix_len` bytes); answers
    /// true otherwise.
    pub fn may_contain_prefix(&self, prefix: &[u8]) -> bool {
        let (Some(f), Some(n)) = (&self.prefix_filter, self.props.prefix_len) else {
            return true;
        };
        match usize::try_from(n).ok().and_then(|n| prefix.get(..n)) {
            Some(p) => f.may_contain(p),
            None => true,
        }
    }

    /// True when the table has a prefix filter.
    pub fn has_prefix_filter(&self) -> bool {
        self.prefix_filter.is_some()
    }

    fn corruption(&self, offset: Option<u64>, detail: impl Into<String>) -> Error {
        Error::corruption(crate::filename::table(self.file_number), offset, detail)
    }

    /// Reads a data block through the cache.
    fn data_block(&self, index_value: &[u8], fill_cache: bool) -> Result<Arc<Block>> {
        let handle = match BlockHandle::decode(index_value) {
            Some((h, n)) if n == index_value.len() => h,
            _ => {
                return Err(
                    self.corruption(Some(self.footer.index.offset), "bad block handle in index")
                )
            }
        };
        if let Some(cache) = &self.cache {
            if let Some(b) = cache.get(self.file_number, handle.offset) {
                return Ok(b);
            }
        }
        let data = read_block(&*self.file, self.file_number, handle, self.footer_offset)?;
        let block = Arc::new(Block::new(data, self.file_number, handle.offset)?);
        if fill_cache {
            if let Some(cache) = &self.cache {
                cache.insert(self.file_number, handle.offset, Arc::clone(&block));
            }
        }
        Ok(block)
    }

    /// The newest entry for `user_key` with sequence number <= `seq`, as (kind byte,
    /// sequence number, value). Tombstones are returned (kind 0); the caller interprets them.
    pub fn get(&self, user_key: &[u8], seq: u64) -> Result<Option<(u8, u64, Vec<u8>)>> {
        if !self.may_contain(user_key) {
            return Ok(None);
        }
        // The seek key and the iterators' key buffers stay inline for ordinary keys: a lookup
        // served from cached blocks allocates only the value it returns.
        let mut target = crate::keybuf::KeyBuf::new();
        target.extend_from_slice(user_key);
        target.extend_from_slice(
            &key::pack_trailer(seq.min(key::MAX_SEQUENCE), key::Kind::SEEK).to_le_bytes(),
        );
        let target = target.as_slice();
        let mut index = self.index.iter();
        index.seek(target)?;
        if !index.valid() {
            return Ok(None);
        }
        let block = self.data_block(index.value(), true)?;
        let mut it = block.iter();
        it.seek(target)?;
        if it.valid() && key::user_key(it.key()) == user_key {
            let k = it.key();
            return Ok(Some((
                key::kind_byte(k),
                key::sequence(k),
                it.value().to_vec(),
            )));
        }
        Ok(None)
    }

    /// A two-level iterator over the whole table. With `fill_cache` false (compaction),
    /// blocks read are not added to the block cache.
    pub fn iter(self: &Arc<Self>, fill_cache: bool) -> TableIter<F> {
        TableIter {
            index: self.index.iter(),
            table: Arc::clone(self),
            data: None,
            data_offset: None,
            fill_cache,
        }
    }

    /// Reads every block of the table, bypassing the cache, and checks every checksum, the
    /// encoding of every block and the order of every key. Errors name the file and offset.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let f = &*self.file;
        let limit = self.footer_offset;
        for h in [self.footer.filter, self.footer.prefix_filter]
            .into_iter()
            .flatten()
        {
            read_block(f, self.file_number, h, limit)?;
            report.bytes_read += h.end() - h.offset;
        }
        read_block(f, self.file_number, self.footer.properties, limit)?;
        if let Some((offset, size)) = self.props.range_del_block {
            let h = BlockHandle { offset, size };
            let data = read_block(f, self.file_number, h, limit)?;
            crate::range_del::decode_block(
                &data,
                &crate::filename::table(self.file_number),
                offset,
            )?;
            report.bytes_read += h.end() - h.offset;
        }
        read_block(f, self.file_number, self.footer.index, limit)?;
        report.bytes_read += self.footer.properties.end() - self.footer.properties.offset;
        report.bytes_read += self.footer.index.end() - self.footer.index.offset;
        let mut index = self.index.iter();
        index.seek_to_first()?;
        let mut last: Vec<u8> = Vec::new();
        let mut prev_end = 0u64;
        while index.valid() {
            let handle = match BlockHandle::decode(index.value()) {
                Some((h, n)) if n == index.value().len() => h,
                _ => {
                    return Err(self
                        .corruption(Some(self.footer.index.offset), "bad block handle in index"))
                }
            };
            if handle.offset != prev_end {
                return Err(self.corruption(
                    Some(handle.offset),
                    format!(
                        "data block at {} does not follow the previous one (ends at {prev_end})",
                        handle.offset
                    ),
                ));
            }
            prev_end = handle.end();
            let data = read_block(f, self.file_number, handle, limit)?;
            let block = Arc::new(Block::new(data, self.file_number, handle.offset)?);
            let mut it = block.iter();
            it.seek_to_first()?;
            if !it.valid() {
                return Err(self.corruption(Some(handle.offset), "empty data block"));
            }
            while it.valid() {
                if report.entries > 0 && key::compare(&last, it.key()) != Ordering::Less {
                    return Err(self.corruption(Some(handle.offset), "keys out of order"));
                }
                last.clear();
                last.extend_from_slice(it.key());
                report.entries += 1;
                it.next()?;
            }
            if key::compare(&last, index.key()) == Ordering::Greater {
                return Err(
                    self.corruption(Some(handle.offset), "block's keys exceed its index key")
                );
            }
            report.data_blocks += 1;
            report.bytes_read += handle.end() - handle.offset;
            index.next()?;
        }
        if report.entries != self.props.num_entries
            || report.data_blocks != self.props.num_data_blocks
        {
            return Err(self.corruption(
                Some(self.footer.properties.offset),
                format!(
                    "properties count {} entries in {} blocks, found {} in {}",
                    self.props.num_entries,
                    self.props.num_data_blocks,
                    report.entries,
                    report.data_blocks
                ),
            ));
        }
        Ok(report)
    }
}

/// A two-level iterator over a table: the index block selects data blocks.
pub struct TableIter<F: File> {
    table: Arc<Table<F>>,
    index: BlockIter,
    data: Option<BlockIter>,
    /// Offset (in the table) of the block `data` reads.
    data_offset: Option<u64>,
    fill_cache: bool,
}

impl<F: File> TableIter<F> {
    /// The table being iterated.
    pub fn table(&self) -> &Arc<Table<F>> {
        &self.table
    }

    fn fail<T>(&mut self, e: Error) -> Result<T> {
        self.data = None;
        self.data_offset = None;
        Err(e)
    }

    /// Points `data` at the block the index iterator is on (reusing it if unchanged).
    fn init_data_block(&mut self) -> Result<()> {
        if !self.index.valid() {
            self.data = None;
            self.data_offset = None;
            return Ok(());
        }
        let offset = BlockHandle::decode(self.index.value()).map(|(h, _)| h.offset);
        if offset.is_some() && offset == self.data_offset && self.data.is_some() {
            return Ok(());
        }
        match self.table.data_block(self.index.value(), self.fill_cache) {
            Ok(b) => {
                self.data = Some(b.iter());
                self.data_offset = offset;
                Ok(())
            }
            Err(e) => self.fail(e),
        }
    }

    fn skip_empty_forward(&mut self) -> Result<()> {
        while !self.data.as_ref().is_some_and(|d| d.valid()) {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            if let Err(e) = self.index.next() {
                return self.fail(e);
            }
            self.init_data_block()?;
            if let Some(d) = &mut self.data {
                if let Err(e) = d.seek_to_first() {
                    return self.fail(e);
                }
            }
        }
        Ok(())
    }

    fn skip_empty_backward(&mut self) -> Result<()> {
        while !self.data.as_ref().is_some_and(|d| d.valid()) {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            if let Err(e) = self.index.prev() {
                return self.fail(e);
            }
            self.init_data_block()?;
            if let Some(d) = &mut self.data {
                if let Err(e) = d.seek_to_last() {
                    return self.fail(e);
                }
            }
        }
        Ok(())
    }

    fn data_op(&mut self, op: impl FnOnce(&mut BlockIter) -> Result<()>) -> Result<()> {
        if let Some(d) = &mut self.data {
            if let Err(e) = op(d) {
                return self.fail(e);
            }
        }
        Ok(())
    }
}

impl<F: File> InternalIterator for TableIter<F> {
    fn valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        if let Err(e) = self.index.seek_to_first() {
            return self.fail(e);
        }
        self.init_data_block()?;
        self.data_op(|d| d.seek_to_first())?;
        self.skip_empty_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        if let Err(e) = self.index.seek_to_last() {
            return self.fail(e);
        }
        self.init_data_block()?;
        self.data_op(|d| d.seek_to_last())?;
        self.skip_empty_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        if let Err(e) = self.index.seek(target) {
            return self.fail(e);
        }
        self.init_data_block()?;
        self.data_op(|d| d.seek(target))?;
        self.skip_empty_forward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        if let Err(e) = self.index.seek(target) {
            return self.fail(e);
        }
        if !self.index.valid() {
            if let Err(e) = self.index.seek_to_last() {
                return self.fail(e);
            }
        }
        self.init_data_block()?;
        self.data_op(|d| d.seek_for_prev(target))?;
        self.skip_empty_backward()
    }

    fn next(&mut self) -> Result<()> {
        if !self.valid() {
            return Ok(());
        }
        self.data_op(|d| d.next())?;
        self.skip_empty_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if !self.valid() {
            return Ok(());
        }
        self.data_op(|d| d.prev())?;
        self.skip_empty_backward()
    }

    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.key())
    }

    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.value())
    }
}
