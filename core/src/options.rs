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
#[derive(Debug, Clone)]
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
    /// Target size of an SSTable written by compaction. Default 64 MiB.
    pub target_table_size: u64,
    /// L0 sorted runs at which L0 is compacted. Default 4.
    pub l0_compaction_trigger: usize,
    /// L0 sorted runs at which writes start to be slowed down smoothly. Default 12.
    pub l0_slowdown_trigger: usize,
    /// L0 sorted runs at which writes stop until compaction catches up (memory guard).
    /// Default 36.
    pub l0_stop_trigger: usize,
    /// Size ratio between adjacent levels. Default 10.
    pub level_size_multiplier: u64,
    /// Target size of the first non-empty level below L0. Default 256 MiB.
    pub base_level_size: u64,
    /// Number of levels. Default 7.
    pub num_levels: usize,
    /// Background threads for flush and compaction (native only; 0 runs the work inline in
    /// the writing thread, which is what WASI and the browser always do). Default 2.
    pub background_threads: usize,
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
            level_size_multiplier: 10,
            base_level_size: 256 << 20,
            num_levels: 7,
            background_threads: 2,
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
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| {
            Err(crate::Error::InvalidArgument(alloc::string::String::from(
                what,
            )))
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
        if self.max_open_tables < 8 {
            return bad("max_open_tables must be at least 8");
        }
        if self.prefix_len == Some(0) {
            return bad("prefix_len must be at least 1");
        }
        Ok(())
    }
}

/// Options for one write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
