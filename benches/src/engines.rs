//! One [`Engine`] trait, one adapter per engine. The peers are behind cargo features so the
//! default build compiles only Cairn.
//!
//! Equal settings for every engine (see also docs/BENCHMARKS.md):
//! - block/page cache budget [`CACHE_BYTES`] (64 MiB),
//! - LZ4 block compression where the engine has it (Cairn, RocksDB, fjall; redb and sled
//!   have no LZ4),
//! - a 64 MiB write buffer / memtable where the engine has one,
//! - bloom filters at 10 bits per key where the engine has them,
//! - non-sync writes: the WAL (journal) is on but not synced; durable writes (`sync = true`)
//!   use each engine's durable mode (Cairn `WriteOptions::SYNC`, RocksDB
//!   `WriteOptions::set_sync(true)`, fjall `PersistMode::SyncAll`, redb
//!   `Durability::Immediate`, sled `flush()`).

use std::path::Path;

/// Error type of the adapters: every engine's error as a string.
pub type Result<T> = std::result::Result<T, String>;

/// Cache budget given to every engine.
pub const CACHE_BYTES: usize = 64 << 20;
/// Write buffer (memtable) size given to every engine that has one.
pub const WRITE_BUFFER_BYTES: usize = 64 << 20;

/// What the harness needs from an engine. Implementations are shared between threads.
pub trait Engine: Send + Sync {
    /// Writes `key = value`; durable before returning when `sync`.
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()>;
    /// Looks `key` up; returns the value's length if present (the value is read through the
    /// engine's cheapest API: pinned slices where the engine has them).
    fn get(&self, key: &[u8]) -> Result<Option<usize>>;
    /// Seeks to the first key >= `key` and reads up to `n` entries; returns how many it read.
    fn scan(&self, key: &[u8], n: usize) -> Result<usize>;
    /// Flushes memtables and waits until background compaction has settled.
    fn settle(&self) -> Result<()>;
    /// Closes the engine (best effort; dropping closes too).
    fn close(self: Box<Self>) -> Result<()>;
    /// Engine-internal counters worth printing after a workload (for diagnosis).
    fn stats_line(&self) -> Option<String> {
        None
    }
}

/// The engines this build can open.
pub fn available() -> Vec<&'static str> {
    let mut v = vec!["cairn"];
    if cfg!(feature = "rocksdb") {
        v.push("rocksdb");
    }
    if cfg!(feature = "fjall") {
        v.push("fjall");
    }
    if cfg!(feature = "redb") {
        v.push("redb");
    }
    if cfg!(feature = "sled") {
        v.push("sled");
    }
    v
}

/// Opens engine `name` in directory `dir` (created if missing).
pub fn open(name: &str, dir: &Path) -> Result<Box<dyn Engine>> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    match name {
        "cairn" => Ok(Box::new(cairn_impl::CairnEngine::open(dir)?)),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(Box::new(rocks_impl::RocksEngine::open(dir)?)),
        #[cfg(feature = "fjall")]
        "fjall" => Ok(Box::new(fjall_impl::FjallEngine::open(dir)?)),
        #[cfg(feature = "redb")]
        "redb" => Ok(Box::new(redb_impl::RedbEngine::open(dir)?)),
        #[cfg(feature = "sled")]
        "sled" => Ok(Box::new(sled_impl::SledEngine::open(dir)?)),
        other => Err(format!(
            "engine {other:?} is not in this build (available: {}; peers need `--features peers`)",
            available().join(", ")
        )),
    }
}

/// A one-line description of each engine's settings, for the report.
pub fn settings(name: &str) -> &'static str {
    match name {
        "cairn" => {
            "Options::default(): 64 MiB block cache, 64 MiB memtable, LZ4, bloom 10 bits/key, \
             2 background threads; non-sync writes `WriteOptions::NO_SYNC`, sync writes \
             `WriteOptions::SYNC` (group commit)"
        }
        "rocksdb" => {
            "64 MiB LRU block cache, 64 MiB write buffer, LZ4, bloom 10 bits/key (full filter), \
             max_background_jobs 2, level compaction dynamic; non-sync writes WAL on + \
             `set_sync(false)`, sync writes `set_sync(true)`"
        }
        "fjall" => {
            "fjall 2.11: cache_size 64 MiB, max_memtable_size 64 MiB, LZ4, bloom 10 bits/key; \
             non-sync writes `insert` (journal buffered), sync writes `insert` + \
             `persist(PersistMode::SyncAll)`"
        }
        "redb" => {
            "redb 2.6: cache 64 MiB, no compression (redb has none), one write transaction per \
             put; non-sync `Durability::None` with every 1000th commit `Durability::Eventual` \
             (written, not fsynced; frees pages), sync `Durability::Immediate`"
        }
        "sled" => {
            "sled 0.34: cache_capacity 64 MiB, no compression (zstd only, not enabled), \
             flush_every_ms 500; sync writes `insert` + `flush()`"
        }
        _ => "",
    }
}

mod cairn_impl {
    use super::{Engine, Result};
    use cairn::{Db, Options, WriteOptions};
    use std::path::Path;

    pub struct CairnEngine {
        db: Db,
    }

    impl CairnEngine {
        pub fn open(dir: &Path) -> Result<Self> {
            let opts = Options::default()
                .block_cache_size(super::CACHE_BYTES)
                .write_buffer_size(super::WRITE_BUFFER_BYTES)
                .compression(true)
                .bloom_bits_per_key(10);
            let db = Db::open_with(dir, opts).map_err(|e| e.to_string())?;
            Ok(CairnEngine { db })
        }
    }

    impl Engine for CairnEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
            let opts = if sync {
                WriteOptions::SYNC
            } else {
                WriteOptions::NO_SYNC
            };
            self.db
                .put_with(key, value, opts)
                .map_err(|e| e.to_string())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>> {
            self.db
                .get(key)
                .map(|v| v.map(|v| v.len()))
                .map_err(|e| e.to_string())
        }

        fn scan(&self, key: &[u8], n: usize) -> Result<usize> {
            let mut read = 0;
            for entry in self.db.range(key..).take(n) {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                std::hint::black_box((k, v));
                read += 1;
            }
            Ok(read)
        }

        fn settle(&self) -> Result<()> {
            self.db.flush().map_err(|e| e.to_string())?;
            self.db
                .wait_for_background_work()
                .map_err(|e| e.to_string())
        }

        fn close(self: Box<Self>) -> Result<()> {
            self.db.close().map_err(|e| e.to_string())
        }

        fn stats_line(&self) -> Option<String> {
            let s = self.db.stats();
            Some(format!(
                "commits {} batches {} wal_syncs {} flushes {} compactions {} slowdowns {} \
                 stops {} cache hits {} misses {} l0 runs {}",
                s.commits,
                s.batches,
                s.wal_syncs,
                s.flushes,
                s.compactions,
                s.write_slowdowns,
                s.write_stops,
                s.cache_hits,
                s.cache_misses,
                s.l0_runs
            ))
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocks_impl {
    use super::{Engine, Result};
    use rocksdb::{
        BlockBasedOptions, Cache, DBCompressionType, Direction, IteratorMode, Options,
        WaitForCompactOptions, WriteOptions, DB,
    };
    use std::path::Path;

    pub struct RocksEngine {
        db: DB,
        nosync: WriteOptions,
        sync: WriteOptions,
    }

    impl RocksEngine {
        pub fn open(dir: &Path) -> Result<Self> {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.set_compression_type(DBCompressionType::Lz4);
            opts.set_write_buffer_size(super::WRITE_BUFFER_BYTES);
            opts.set_max_background_jobs(2);
            opts.set_level_compaction_dynamic_level_bytes(true);
            let mut table = BlockBasedOptions::default();
            let cache = Cache::new_lru_cache(super::CACHE_BYTES);
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            table.set_block_size(4096);
            opts.set_block_based_table_factory(&table);
            let db = DB::open(&opts, dir).map_err(|e| e.to_string())?;
            let mut sync = WriteOptions::default();
            sync.set_sync(true);
            let mut nosync = WriteOptions::default();
            nosync.set_sync(false);
            Ok(RocksEngine { db, nosync, sync })
        }
    }

    impl Engine for RocksEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
            let wo = if sync { &self.sync } else { &self.nosync };
            self.db.put_opt(key, value, wo).map_err(|e| e.to_string())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>> {
            self.db
                .get_pinned(key)
                .map(|v| v.map(|v| v.len()))
                .map_err(|e| e.to_string())
        }

        fn scan(&self, key: &[u8], n: usize) -> Result<usize> {
            let mut read = 0;
            for entry in self
                .db
                .iterator(IteratorMode::From(key, Direction::Forward))
                .take(n)
            {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                std::hint::black_box((k, v));
                read += 1;
            }
            Ok(read)
        }

        fn settle(&self) -> Result<()> {
            self.db.flush().map_err(|e| e.to_string())?;
            let mut w = WaitForCompactOptions::default();
            w.set_flush(true);
            self.db.wait_for_compact(&w).map_err(|e| e.to_string())
        }

        fn close(self: Box<Self>) -> Result<()> {
            drop(self);
            Ok(())
        }
    }
}

#[cfg(feature = "fjall")]
mod fjall_impl {
    use super::{Engine, Result};
    use fjall::{
        CompressionType, Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode,
    };
    use std::path::Path;
    use std::time::Duration;

    pub struct FjallEngine {
        ks: Keyspace,
        part: PartitionHandle,
    }

    impl FjallEngine {
        pub fn open(dir: &Path) -> Result<Self> {
            let ks = Config::new(dir)
                .cache_size(super::CACHE_BYTES as u64)
                .max_write_buffer_size(super::WRITE_BUFFER_BYTES as u64)
                .open()
                .map_err(|e| e.to_string())?;
            let part = ks
                .open_partition(
                    "bench",
                    PartitionCreateOptions::default()
                        .compression(CompressionType::Lz4)
                        .bloom_filter_bits(Some(10))
                        .max_memtable_size(super::WRITE_BUFFER_BYTES as u32)
                        .block_size(4096),
                )
                .map_err(|e| e.to_string())?;
            Ok(FjallEngine { ks, part })
        }
    }

    impl Engine for FjallEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
            self.part.insert(key, value).map_err(|e| e.to_string())?;
            if sync {
                self.ks
                    .persist(PersistMode::SyncAll)
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>> {
            self.part
                .get(key)
                .map(|v| v.map(|v| v.len()))
                .map_err(|e| e.to_string())
        }

        fn scan(&self, key: &[u8], n: usize) -> Result<usize> {
            let mut read = 0;
            for entry in self.part.range(key..).take(n) {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                std::hint::black_box((k, v));
                read += 1;
            }
            Ok(read)
        }

        fn settle(&self) -> Result<()> {
            self.part
                .rotate_memtable_and_wait()
                .map_err(|e| e.to_string())?;
            // fjall has no "wait for compaction" call: wait until no compaction runs and the
            // segment count has been stable for a second.
            let mut stable = 0;
            let mut last = usize::MAX;
            while stable < 10 {
                std::thread::sleep(Duration::from_millis(100));
                let segs = self.part.segment_count();
                if self.ks.active_compactions() == 0 && segs == last {
                    stable += 1;
                } else {
                    stable = 0;
                }
                last = segs;
            }
            Ok(())
        }

        fn close(self: Box<Self>) -> Result<()> {
            self.ks
                .persist(PersistMode::SyncAll)
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(feature = "redb")]
mod redb_impl {
    use super::{Engine, Result};
    use redb::{Database, Durability, TableDefinition};
    use std::path::Path;

    const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

    /// Non-sync writes commit with `Durability::None`, and every `EVENTUAL_EVERY`-th with
    /// `Durability::Eventual` (written, not fsynced), which frees the pages the non-durable
    /// commits could not (redb grows without bound otherwise, and an `Eventual` commit per
    /// write costs ~100 µs of CPU).
    const EVENTUAL_EVERY: u64 = 1000;

    pub struct RedbEngine {
        db: Database,
        writes: std::sync::atomic::AtomicU64,
    }

    impl RedbEngine {
        pub fn open(dir: &Path) -> Result<Self> {
            let db = Database::builder()
                .set_cache_size(super::CACHE_BYTES)
                .create(dir.join("bench.redb"))
                .map_err(|e| e.to_string())?;
            let tx = db.begin_write().map_err(|e| e.to_string())?;
            tx.open_table(TABLE).map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            Ok(RedbEngine {
                db,
                writes: std::sync::atomic::AtomicU64::new(0),
            })
        }
    }

    impl Engine for RedbEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
            let mut tx = self.db.begin_write().map_err(|e| e.to_string())?;
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tx.set_durability(if sync {
                Durability::Immediate
            } else if n % EVENTUAL_EVERY == EVENTUAL_EVERY - 1 {
                Durability::Eventual
            } else {
                Durability::None
            });
            {
                let mut t = tx.open_table(TABLE).map_err(|e| e.to_string())?;
                t.insert(key, value).map_err(|e| e.to_string())?;
            }
            tx.commit().map_err(|e| e.to_string())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>> {
            let tx = self.db.begin_read().map_err(|e| e.to_string())?;
            let t = tx.open_table(TABLE).map_err(|e| e.to_string())?;
            let v = t.get(key).map_err(|e| e.to_string())?;
            Ok(v.map(|g| g.value().len()))
        }

        fn scan(&self, key: &[u8], n: usize) -> Result<usize> {
            let tx = self.db.begin_read().map_err(|e| e.to_string())?;
            let t = tx.open_table(TABLE).map_err(|e| e.to_string())?;
            let mut read = 0;
            for entry in t.range(key..).map_err(|e| e.to_string())?.take(n) {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                std::hint::black_box((k.value(), v.value()));
                read += 1;
            }
            Ok(read)
        }

        fn settle(&self) -> Result<()> {
            // A durable commit frees the pages that non-durable commits could not.
            let mut tx = self.db.begin_write().map_err(|e| e.to_string())?;
            tx.set_durability(Durability::Immediate);
            tx.commit().map_err(|e| e.to_string())
        }

        fn close(self: Box<Self>) -> Result<()> {
            self.settle()
        }
    }
}

#[cfg(feature = "sled")]
mod sled_impl {
    use super::{Engine, Result};
    use std::path::Path;

    pub struct SledEngine {
        db: sled::Db,
    }

    impl SledEngine {
        pub fn open(dir: &Path) -> Result<Self> {
            let db = sled::Config::new()
                .path(dir)
                .cache_capacity(super::CACHE_BYTES as u64)
                .flush_every_ms(Some(500))
                .open()
                .map_err(|e| e.to_string())?;
            Ok(SledEngine { db })
        }
    }

    impl Engine for SledEngine {
        fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
            self.db.insert(key, value).map_err(|e| e.to_string())?;
            if sync {
                self.db.flush().map_err(|e| e.to_string())?;
            }
            Ok(())
        }

        fn get(&self, key: &[u8]) -> Result<Option<usize>> {
            self.db
                .get(key)
                .map(|v| v.map(|v| v.len()))
                .map_err(|e| e.to_string())
        }

        fn scan(&self, key: &[u8], n: usize) -> Result<usize> {
            let mut read = 0;
            for entry in self.db.range(key..).take(n) {
                let (k, v) = entry.map_err(|e| e.to_string())?;
                std::hint::black_box((k, v));
                read += 1;
            }
            Ok(read)
        }

        fn settle(&self) -> Result<()> {
            self.db.flush().map(|_| ()).map_err(|e| e.to_string())
        }

        fn close(self: Box<Self>) -> Result<()> {
            self.settle()
        }
    }
}
