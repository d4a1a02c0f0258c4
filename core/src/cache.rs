//! The block cache: decompressed SSTable blocks shared by all tables, keyed by (table file
//! number, block offset), within a byte budget.
//!
//! The cache has 16 shards, each a `spin::Mutex` around a hash map and a CLOCK ring: a hit
//! sets the entry's reference bit; eviction sweeps the ring, clearing set bits and evicting
//! the first entry whose bit is clear. A hit takes one lock and clones one `Arc`; it does not
//! allocate.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use hashbrown::HashMap;
use spin::Mutex;

use crate::table::block::Block;

const SHARD_BITS: u32 = 4;
const NUM_SHARDS: usize = 1 << SHARD_BITS;
/// Bytes charged per entry on top of the block's contents (map slot, ring slot, `Arc`).
const ENTRY_OVERHEAD: usize = 96;

type Key = (u64, u64);

struct Entry {
    key: Key,
    block: Arc<Block>,
    charge: usize,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, usize>,
    ring: Vec<Option<Entry>>,
    free: Vec<usize>,
    hand: usize,
    used: usize,
}

impl Shard {
    fn remove_slot(&mut self, slot: usize) -> Option<Entry> {
        let e = self.ring.get_mut(slot)?.take()?;
        self.map.remove(&e.key);
        self.free.push(slot);
        self.used -= e.charge;
        Some(e)
    }

    /// Evicts one entry by CLOCK; false if the shard is empty.
    fn evict_one(&mut self) -> bool {
        let n = self.ring.len();
        if self.map.is_empty() || n == 0 {
            return false;
        }
        // Two sweeps clear every reference bit, so this finds a victim.
        for _ in 0..2 * n + 1 {
            let slot = self.hand % n;
            self.hand = (slot + 1) % n;
            if let Some(e) = &mut self.ring[slot] {
                if e.referenced {
                    e.referenced = false;
                } else {
                    self.remove_slot(slot);
                    return true;
                }
            }
        }
        false
    }
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Blocks inserted.
    pub inserts: u64,
    /// Blocks evicted to stay within the budget.
    pub evictions: u64,
    /// Bytes charged by the cached blocks now.
    pub bytes_used: u64,
    /// The byte budget.
    pub capacity: u64,
}

/// A sharded CLOCK cache of decompressed blocks.
pub struct BlockCache {
    shards: [Mutex<Shard>; NUM_SHARDS],
    shard_capacity: usize,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    used: AtomicU64,
}

impl core::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockCache")
            .field("stats", &self.stats())
            .finish()
    }
}

fn shard_of(file_number: u64, offset: u64) -> usize {
    let h = (file_number.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ offset)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (h >> (64 - SHARD_BITS)) as usize
}

impl BlockCache {
    /// A cache holding up to `capacity_bytes` of blocks (split evenly over 16 shards).
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            shards: core::array::from_fn(|_| Mutex::new(Shard::default())),
            shard_capacity: capacity_bytes / NUM_SHARDS,
            capacity: capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            used: AtomicU64::new(0),
        }
    }

    /// The block at (`file_number`, `offset`), if cached.
    pub fn get(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        let mut shard = self.shards[shard_of(file_number, offset)].lock();
        let slot = shard.map.get(&(file_number, offset)).copied();
        let found = slot.and_then(|s| {
            let e = shard.ring.get_mut(s)?.as_mut()?;
            e.referenced = true;
            Some(Arc::clone(&e.block))
        });
        drop(shard);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Caches `block` at (`file_number`, `offset`), replacing any block there, and evicts
    /// blocks as needed to stay within the budget. Blocks larger than a shard's budget are
    /// not cached.
    pub fn insert(&self, file_number: u64, offset: u64, block: Arc<Block>) {
        let charge = block.size() + ENTRY_OVERHEAD;
        if charge > self.shard_capacity {
            return;
        }
        let key = (file_number, offset);
        let mut shard = self.shards[shard_of(file_number, offset)].lock();
        let before = shard.used;
        let mut evicted = 0;
        if let Some(&slot) = shard.map.get(&key) {
            shard.remove_slot(slot);
        }
        while shard.used + charge > self.shard_capacity {
            if !shard.evict_one() {
                break;
            }
            evicted += 1;
        }
        let entry = Entry {
            key,
            block,
            charge,
            referenced: false,
        };
        let slot = match shard.free.pop() {
            Some(s) => {
                shard.ring[s] = Some(entry);
                s
            }
            None => {
                shard.ring.push(Some(entry));
                shard.ring.len() - 1
            }
        };
        shard.map.insert(key, slot);
        shard.used += charge;
        let after = shard.used;
        drop(shard);
        self.adjust_used(before, after);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
    }

    fn adjust_used(&self, before: usize, after: usize) {
        if after >= before {
            self.used
                .fetch_add((after - before) as u64, Ordering::Relaxed);
        } else {
            self.used
                .fetch_sub((before - after) as u64, Ordering::Relaxed);
        }
    }

    /// Drops every cached block of table `file_number` (after the table is deleted).
    pub fn erase_table(&self, file_number: u64) {
        for shard in &self.shards {
            let mut s = shard.lock();
            let before = s.used;
            let slots: Vec<usize> = s
                .map
                .iter()
                .filter(|(k, _)| k.0 == file_number)
                .map(|(_, &slot)| slot)
                .collect();
            for slot in slots {
                s.remove_slot(slot);
            }
            let after = s.used;
            drop(s);
            self.adjust_used(before, after);
        }
    }

    /// The byte budget.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes charged by cached blocks now.
    pub fn bytes_used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            inserts: self.inserts.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bytes_used: self.bytes_used(),
            capacity: self.capacity as u64,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::table::block::BlockBuilder;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16);
        b.add(
            &crate::key::encode(b"k", 1, crate::key::Kind::Put),
            &alloc::vec![7u8; n],
        );
        Arc::new(Block::new(b.finish().to_vec(), 0, 0).unwrap())
    }

    #[test]
    fn budget_hits_and_eviction() {
        let cap = 16 * 10_000;
        let cache = BlockCache::new(cap);
        for i in 0..1000u64 {
            cache.insert(1, i * 1000, block(900));
            assert!(cache.bytes_used() <= cap as u64);
        }
        let s = cache.stats();
        assert_eq!(s.inserts, 1000);
        assert!(s.evictions > 800, "{s:?}");
        assert_eq!(cache.len() as u64, s.inserts - s.evictions);
        // The newest block is present and counted as a hit.
        assert!(cache.get(1, 999 * 1000).is_some());
        assert!(cache.get(1, 0).is_none());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        // A referenced block survives a sweep that evicts unreferenced ones.
        let hot = (2u64, 0u64);
        cache.insert(hot.0, hot.1, block(900));
        for i in 0..2000u64 {
            assert!(
                cache.get(hot.0, hot.1).is_some(),
                "hot block evicted at {i}"
            );
            cache.insert(3, i * 1000, block(900));
        }
        // Replacing a key does not leak budget; erase_table empties.
        let used = cache.bytes_used();
        cache.insert(hot.0, hot.1, block(900));
        assert_eq!(cache.bytes_used(), used);
        cache.erase_table(3);
        cache.erase_table(1);
        cache.erase_table(2);
        assert_eq!(cache.bytes_used(), 0);
        assert!(cache.is_empty());
        // Oversized blocks are not cached.
        cache.insert(4, 0, block(20_000));
        assert!(cache.get(4, 0).is_none());
    }
}
