//! Engine options. Every default is chosen to need no tuning for databases from a few
//! megabytes to a terabyte; each field says what it changes.

/// How recovery treats a damaged write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A damaged or incomplete record at the very end of the newest WAL is the mark of a
    /// crash during a write: it is dropped (with everything after it) and the file truncated.
    /// Damage anywhere else is [`crate::Error::Corruption`]. This is the default.
    #[default]
    TolerateTornTail,
    /// Any damaged byte in any WAL, even a torn tail, is [`crate::Error::Corruption`]; nothing
    /// is truncated. For users who would rather stop than lose an unsynced tail silently.
    AbsoluteConsistency,
}

/// Options fixed when a database is opened.
///
/// Start from [`Options::default`] (or [`Options::browser`]) and change what you need, either
/// with the builder-style setters, one per field and named after it:
///
/// ```
/// use cairn_core::Options;
/// let opts = Options::default().write_buffer_size(8 << 20).bloom_bits_per_key(12);
/// assert_eq!(opts.write_buffer_size, 8 << 20);
/// ```
///
/// or by assigning fields (`let mut o = Options::default(); o.compression = false;`). The
/// struct is `#[non_exhaustive]`: new options arrive without breaking callers, so it cannot be
/// built with a struct literal outside this crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Create the database if the directory holds none. Default `true`.
    pub create_if_missing: bool,
    /// Fail with `AlreadyExists` if the directory already holds a database. Default `false`.
    pub error_if_exists: bool,
    /// Largest accepted key in bytes; longer keys are `KeyTooLarge`. Default 64 KiB, at most
    /// 1 MiB.
    pub max_key_size: usize,
    /// Largest accepted value in bytes; longer values are `ValueTooLarge`. Default and
    /// maximum 64 MiB.
    pub max_value_size: usize,
    /// Bytes of writes the active memtable takes before it is frozen and flushed to an
    /// SSTable. Larger means fewer, larger L0 tables and more memory. Default 64 MiB
    /// (the browser binding uses 4 MiB).
    pub write_buffer_size: usize,
    /// Frozen memtables that may wait for flush before writes stall (memory guard).
    /// Default 4.
    pub max_immutable_memtables: usize,
    /// How recovery treats a damaged WAL. Default [`RecoveryMode::TolerateTornTail`].
    pub recovery_mode: RecoveryMode,
    /// Uncompressed size of an SSTable data block. Default 4 KiB.
    pub block_size: usize,
    /// Keys between restart points in a data block. Default 16.
    pub block_restart_interval: usize,
    /// Bloom filter bits per key (0 disables the filter). Default 10 (about 1% false
    /// positives).
    pub bloom_bits_per_key: u32,
    /// Compress blocks with LZ4 when it saves at least 12.5%. Default `true`.
    pub compression: bool,
    /// If set, the length of the key prefix that a prefix bloom filter is built over; prefix
    /// scans skip tables whose filter rules the prefix out. Default `None`.
    pub prefix_len: Option<usize>,
    /// Byte budget of the block cache shared by all tables. Default 64 MiB (browser: 8 MiB).
    pub block_cache_size: usize,
    /// Most SSTable readers kept open at once. Default 1,000.
    pub max_open_tables: usize,
    /// The manifest is rewritten as a snapshot once it grows past this. Default 4 MiB.
    pub max_manifest_size: u64,
    /// Target size of an SSTable written by compaction: an output table is cut at the first
    /// user-key boundary after it reaches this size. Smaller tables make each leveled
    /// compaction step smaller (smoother background I/O) but mean more files. Default 64 MiB.
    pub target_table_size: u64,
    /// L0 sorted runs at which L0 is compacted (score 1). L0 is first merged into the base
    /// level; while that is not possible (the base level is busy) adjacent L0 runs of similar
    /// size are merged into one run (size-tiered). Lower means fewer runs for reads to check,
    /// higher means less write amplification. Default 4.
    pub l0_compaction_trigger: usize,
    /// L0 sorted runs at which writes start to be slowed down (the delay grows linearly with
    /// the runs up to `l0_stop_trigger`). Default 12.
    pub l0_slowdown_trigger: usize,
    /// L0 sorted runs at which writes stop until compaction catches up (a guard against
    /// unbounded read amplification; smooth slowdown normally keeps L0 far below it).
    /// Default 36.
    pub l0_stop_trigger: usize,
    /// L0 is also merged down once its bytes exceed this percent of the biggest level below
    /// it, even with fewer than `l0_compaction_trigger` runs. This bounds the space that
    /// overwritten data in L0 can waste, which matters when the memtable is large compared
    /// with the database (below ~1 GiB with the defaults); for larger databases the run count
    /// decides. Lower means less space amplification and more write amplification for small
    /// databases; 0 disables the rule. Default 10.
    pub l0_max_space_percent: u64,
    /// Size-tiered merging of L0 runs: starting from the newest run, the next older run joins
    /// the merge while its size is at most `(100 + l0_tier_size_ratio) %` of the runs taken so
    /// far, so only runs of similar size are merged and big runs are not rewritten for small
    /// ones. Larger means more eager merging (fewer runs, more rewriting). Default 20.
    pub l0_tier_size_ratio: u64,
    /// Size ratio between adjacent levels (fanout). Larger means fewer levels and less space
    /// amplification but more write amplification per level. Default 10.
    pub level_size_multiplier: u64,
    /// With dynamic level sizing: the largest target the base level (the level L0 is merged
    /// into) may have before a new level is opened above it. Without: the target of level 1.
    /// Default 256 MiB.
    pub base_level_size: u64,
    /// Dynamic level sizing (RocksDB's `level_compaction_dynamic_level_bytes`): level targets
    /// are derived from the actual size of the last level (each level `level_size_multiplier`
    /// times smaller than the one below), L0 is merged into the *base level* (the highest
    /// level whose target is at most `base_level_size`) and the levels above it stay empty.
    /// Keeps space amplification near `1 + 1 / (multiplier - 1)` (~1.11) at any size. When
    /// false, level `n` has the fixed target `base_level_size * multiplier^(n - 1)` and L0 is
    /// merged into level 1. Default `true`.
    pub dynamic_level_sizes: bool,
    /// A compaction output table is also cut early once it overlaps more than
    /// `max_grandparent_overlap_factor * target_table_size` bytes of the level below its own
    /// (LevelDB's `max_grandparent_overlap_bytes`), so that no future compaction of it has to
    /// rewrite too much. 0 disables the rule. Default 10.
    pub max_grandparent_overlap_factor: u64,
    /// Estimated pending compaction bytes (bytes that must be rewritten to bring every level
    /// within its target) at which writes start to be slowed down. Default 64 GiB.
    pub soft_pending_compaction_bytes: u64,
    /// Estimated pending compaction bytes at which the write delay reaches
    /// `max_write_delay_us`. Writes are never stopped for pending bytes, only slowed.
    /// Default 256 GiB.
    pub hard_pending_compaction_bytes: u64,
    /// The longest delay (microseconds) put on one write group by smooth backpressure. The
    /// delay grows in proportion to the compaction debt (L0 runs past `l0_slowdown_trigger`,
    /// frozen memtables past half of `max_immutable_memtables`, pending compaction bytes past
    /// `soft_pending_compaction_bytes`) up to this. Small values keep tail latency flat; the
    /// write rate adapts because the delay applies to every write group. Default 1,000.
    pub max_write_delay_us: u64,
    /// Number of levels. Default 7.
    pub num_levels: usize,
    /// Background threads for flush and compaction (native only; 0 runs the work inline in
    /// the writing thread, which is what WASI and the browser always do). Default 2.
    pub background_threads: usize,
    /// Once this many bytes of the WAL are unsynced, a background thread syncs them (native),
    /// so that freezing a full memtable, which must sync its WAL, never stalls a writer on a
    /// large fsync. 0 turns it off. Default 1 MiB.
    pub wal_bytes_per_sync: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            max_key_size: 64 << 10,
            max_value_size: 64 << 20,
            write_buffer_size: 64 << 20,
            max_immutable_memtables: 4,
            recovery_mode: RecoveryMode::TolerateTornTail,
            block_size: 4 << 10,
            block_restart_interval: 16,
            bloom_bits_per_key: 10,
            compression: true,
            prefix_len: None,
            block_cache_size: 64 << 20,
            max_open_tables: 1000,
            max_manifest_size: 4 << 20,
            target_table_size: 64 << 20,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 12,
            l0_stop_trigger: 36,
            l0_max_space_percent: 10,
            l0_tier_size_ratio: 20,
            level_size_multiplier: 10,
            base_level_size: 256 << 20,
            dynamic_level_sizes: true,
            max_grandparent_overlap_factor: 10,
            soft_pending_compaction_bytes: 64 << 30,
            hard_pending_compaction_bytes: 256 << 30,
            max_write_delay_us: 1000,
            num_levels: 7,
            background_threads: 2,
            wal_bytes_per_sync: 1 << 20,
        }
    }
}

impl Options {
    /// Defaults sized for a browser tab: smaller memtable and cache.
    pub fn browser() -> Self {
        Options {
            write_buffer_size: 4 << 20,
            block_cache_size: 8 << 20,
            target_table_size: 8 << 20,
            base_level_size: 64 << 20,
            ..Options::default()
        }
    }

    /// Checks that every option is in range.
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |what: &str| {
            Err(crate::error::Error::InvalidArgument(
                alloc::string::String::from(what),
            ))
        };
        // An entry must fit in one SSTable block, whose decoded size is capped
        // (`table::format::MAX_UNCOMPRESSED_BLOCK`) so corrupt lengths cannot allocate
        // unboundedly.
        if self.max_key_size == 0 || self.max_key_size > (1 << 20) {
            return bad("max_key_size must be in 1 B..=1 MiB");
        }
        if self.max_value_size > (64 << 20) {
            return bad("max_value_size must be at most 64 MiB");
        }
        if self.write_buffer_size < 4096 {
            return bad("write_buffer_size must be at least 4 KiB");
        }
        if self.block_size < 256 || self.block_size > (16 << 20) {
            return bad("block_size must be in 256 B..=16 MiB");
        }
        if self.block_restart_interval == 0 || self.block_restart_interval > 1024 {
            return bad("block_restart_interval must be in 1..=1024");
        }
        if self.max_immutable_memtables == 0 {
            return bad("max_immutable_memtables must be at least 1");
        }
        if self.num_levels < 2 || self.num_levels > 16 {
            return bad("num_levels must be in 2..=16");
        }
        if self.level_size_multiplier < 2 {
            return bad("level_size_multiplier must be at least 2");
        }
        if self.l0_compaction_trigger == 0
            || self.l0_slowdown_trigger < self.l0_compaction_trigger
            || self.l0_stop_trigger < self.l0_slowdown_trigger
        {
            return bad("need 0 < l0_compaction_trigger <= l0_slowdown_trigger <= l0_stop_trigger");
        }
        if self.target_table_size == 0 || self.base_level_size == 0 {
            return bad("target_table_size and base_level_size must be at least 1");
        }
        if self.hard_pending_compaction_bytes < self.soft_pending_compaction_bytes {
            return bad("hard_pending_compaction_bytes must be >= soft_pending_compaction_bytes");
        }
        if self.max_open_tables < 8 {
            return bad("max_open_tables must be at least 8");
        }
        if self.prefix_len == Some(0) {
            return bad("prefix_len must be at least 1");
        }
        Ok(())
    }
}

/// One builder-style setter per option: `Options::default().write_buffer_size(8 << 20)`.
macro_rules! setters {
    ($($name:ident: $t:ty),* $(,)?) => {
        impl Options {
            $(
                #[doc = concat!("Sets [`Options::", stringify!($name), "`] and returns the options (builder style).")]
                #[must_use]
                pub fn $name(mut self, value: $t) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    create_if_missing: bool,
    error_if_exists: bool,
    max_key_size: usize,
    max_value_size: usize,
    write_buffer_size: usize,
    max_immutable_memtables: usize,
    recovery_mode: RecoveryMode,
    block_size: usize,
    block_restart_interval: usize,
    bloom_bits_per_key: u32,
    compression: bool,
    prefix_len: Option<usize>,
    block_cache_size: usize,
    max_open_tables: usize,
    max_manifest_size: u64,
    target_table_size: u64,
    l0_compaction_trigger: usize,
    l0_slowdown_trigger: usize,
    l0_stop_trigger: usize,
    l0_max_space_percent: u64,
    l0_tier_size_ratio: u64,
    level_size_multiplier: u64,
    base_level_size: u64,
    dynamic_level_sizes: bool,
    max_grandparent_overlap_factor: u64,
    soft_pending_compaction_bytes: u64,
    hard_pending_compaction_bytes: u64,
    max_write_delay_us: u64,
    num_levels: usize,
    background_threads: usize,
    wal_bytes_per_sync: u64,
}

/// Options for one write. The default is [`WriteOptions::SYNC`], what `put`, `delete` and
/// `write` without options do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// When true the write is durable (the WAL is synced) before the call returns. When false
    /// it is in the OS or browser buffer and a crash of the machine may lose it (never a hole:
    /// a later synced write makes it durable too).
    pub sync: bool,
}

impl WriteOptions {
    /// A write that is durable when it returns.
    pub const SYNC: WriteOptions = WriteOptions { sync: true };
    /// A write that may be lost by a machine crash until a later sync.
    pub const NO_SYNC: WriteOptions = WriteOptions { sync: false };
}

impl Default for WriteOptions {
    /// A synced write ([`WriteOptions::SYNC`]): durable when it returns.
    fn default() -> Self {
        WriteOptions::SYNC
    }
}
