//! The table cache: keeps up to `capacity` SSTables open, opening `{:06}.sst` through the
//! VFS on a miss and closing the least recently used table when full.

use alloc::sync::Arc;
use hashbrown::HashMap;
use spin::Mutex;

use crate::cache::BlockCache;
use crate::error::Result;
use crate::table::Table;
use cairn_vfs::Vfs;

struct Slot<F: cairn_vfs::File> {
    table: Arc<Table<F>>,
    last_use: u64,
}

struct Inner<F: cairn_vfs::File> {
    tables: HashMap<u64, Slot<F>>,
    tick: u64,
}

/// A cache of open tables, bounded by count.
pub struct TableCache<V: Vfs> {
    vfs: V,
    block_cache: Option<Arc<BlockCache>>,
    capacity: usize,
    inner: Mutex<Inner<V::File>>,
}

impl<V: Vfs> core::fmt::Debug for TableCache<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TableCache")
            .field("capacity", &self.capacity)
            .field("open", &self.len())
            .finish()
    }
}

impl<V: Vfs> TableCache<V> {
    /// A cache keeping at most `capacity` (at least 1) tables open; tables read blocks
    /// through `block_cache`.
    pub fn new(vfs: V, block_cache: Option<Arc<BlockCache>>, capacity: usize) -> Self {
        TableCache {
            vfs,
            block_cache,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                tables: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// The open table `file_number` (of `file_size` bytes), opening it if needed.
    pub fn get(&self, file_number: u64, file_size: u64) -> Result<Arc<Table<V::File>>> {
        {
            let mut inner = self.inner.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(slot) = inner.tables.get_mut(&file_number) {
                slot.last_use = tick;
                return Ok(Arc::clone(&slot.table));
            }
        }
        // Open without holding the lock: I/O can be slow and other lookups must go on.
        let file = self.vfs.open(&crate::filename::table(file_number))?;
        let table = Arc::new(Table::open(
            file,
            file_number,
            file_size,
            self.block_cache.clone(),
        )?);
        let mut inner = self.inner.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(slot) = inner.tables.get_mut(&file_number) {
            // Another thread opened it meanwhile: share that one.
            slot.last_use = tick;
            return Ok(Arc::clone(&slot.table));
        }
        while inner.tables.len() >= self.capacity {
            let oldest = inner
                .tables
                .iter()
                .min_by_key(|(_, s)| s.last_use)
                .map(|(&n, _)| n);
            match oldest {
                Some(n) => {
                    inner.tables.remove(&n);
                }
                None => break,
            }
        }
        inner.tables.insert(
            file_number,
            Slot {
                table: Arc::clone(&table),
                last_use: tick,
            },
        );
        Ok(table)
    }

    /// Closes table `file_number` (if open) and drops its blocks from the block cache;
    /// call this when the file is deleted.
    pub fn evict(&self, file_number: u64) {
        let removed = self.inner.lock().tables.remove(&file_number);
        drop(removed);
        if let Some(c) = &self.block_cache {
            c.erase_table(file_number);
        }
    }

    /// Number of open tables.
    pub fn len(&self) -> usize {
        self.inner.lock().tables.len()
    }

    /// True when no table is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The block cache tables read through.
    pub fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.block_cache.as_ref()
    }
}
