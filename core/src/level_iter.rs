//! Iterates one sorted run (a level below 0, or one level-0 run): the tables are disjoint and
//! ordered, so the run is their concatenation. Tables are opened lazily through the table
//! cache, one at a time.

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key;
use crate::table::TableIter;
use crate::table_cache::TableCache;
use crate::version::TableMeta;
use alloc::sync::Arc;
use alloc::vec::Vec;
use cairn_vfs::Vfs;

/// Concatenating iterator over a sorted run.
pub struct LevelIter<V: Vfs + Clone> {
    cache: Arc<TableCache<V>>,
    tables: Vec<Arc<TableMeta>>,
    index: usize,
    current: Option<TableIter<V::File>>,
    fill_cache: bool,
    prefix: Option<Vec<u8>>,
}

impl<V: Vfs + Clone> LevelIter<V> {
    /// Iterates `tables` (disjoint, ordered). `fill_cache: false` keeps the blocks read out of
    /// the block cache (compaction). With `prefix`, tables whose prefix filter rules it out
    /// are skipped.
    pub fn new(
        cache: Arc<TableCache<V>>,
        tables: Vec<Arc<TableMeta>>,
        fill_cache: bool,
        prefix: Option<Vec<u8>>,
    ) -> Self {
        LevelIter {
            cache,
            tables,
            index: 0,
            current: None,
            fill_cache,
            prefix,
        }
    }

    fn open(&mut self, index: usize) -> Result<bool> {
        self.index = index;
        self.current = None;
        let Some(meta) = self.tables.get(index) else {
            return Ok(false);
        };
        let table = self.cache.get(meta.number, meta.size)?;
        if let Some(p) = &self.prefix {
            if !table.may_contain_prefix(p) {
                return Ok(false);
            }
        }
        self.current = Some(table.iter(self.fill_cache));
        Ok(true)
    }

    /// Moves to the first entry of the following tables while the current one is exhausted.
    fn skip_forward(&mut self) -> Result<()> {
        while !self.current.as_ref().is_some_and(|c| c.valid()) {
            let next = self.index + 1;
            if next >= self.tables.len() {
                self.current = None;
                self.index = self.tables.len();
                return Ok(());
            }
            if self.open(next)? {
                if let Some(c) = self.current.as_mut() {
                    c.seek_to_first()?;
                }
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<()> {
        while !self.current.as_ref().is_some_and(|c| c.valid()) {
            if self.index == 0 {
                self.current = None;
                return Ok(());
            }
            let prev = self.index - 1;
            if self.open(prev)? {
                if let Some(c) = self.current.as_mut() {
                    c.seek_to_last()?;
                }
            }
        }
        Ok(())
    }

    fn position_forward(
        &mut self,
        index: usize,
        seek: impl FnOnce(&mut TableIter<V::File>) -> Result<()>,
    ) -> Result<()> {
        if self.open(index)? {
            if let Some(c) = self.current.as_mut() {
                seek(c)?;
            }
        }
        self.skip_forward()
    }

    fn position_backward(
        &mut self,
        index: usize,
        seek: impl FnOnce(&mut TableIter<V::File>) -> Result<()>,
    ) -> Result<()> {
        if self.open(index)? {
            if let Some(c) = self.current.as_mut() {
                seek(c)?;
            }
        }
        self.skip_backward()
    }
}

impl<V: Vfs + Clone> InternalIterator for LevelIter<V> {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        if self.tables.is_empty() {
            self.current = None;
            return Ok(());
        }
        self.position_forward(0, |c| c.seek_to_first())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        if self.tables.is_empty() {
            self.current = None;
            return Ok(());
        }
        let last = self.tables.len() - 1;
        self.position_backward(last, |c| c.seek_to_last())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // First table whose largest key >= target.
        let i = self
            .tables
            .partition_point(|t| key::compare(&t.largest, target) == core::cmp::Ordering::Less);
        if i >= self.tables.len() {
            self.current = None;
            self.index = self.tables.len();
            return Ok(());
        }
        self.position_forward(i, |c| c.seek(target))
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // Last table whose smallest key <= target.
        let i = self
            .tables
            .partition_point(|t| key::compare(&t.smallest, target) != core::cmp::Ordering::Greater);
        if i == 0 {
            self.current = None;
            self.index = 0;
            return Ok(());
        }
        self.position_backward(i - 1, |c| c.seek_for_prev(target))
    }

    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.next()?;
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(c) = self.current.as_mut() {
            c.prev()?;
        }
        self.skip_backward()
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.value())
    }
}
