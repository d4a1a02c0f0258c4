//! Side-by-side timing of the memtable (B+tree) against the previous skiplist memtable (kept
//! below in `mod old` for comparison). No criterion: medians of repeated runs.
//!
//! ```text
//! cargo run -p cairn-core --release --example memtable_speed [-- REPS [N...]]
//! ```
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

/// This thread's on-CPU time in ns (Linux `schedstat`; updated at scheduler ticks, so only
/// long intervals are precise), or wall time where unavailable: the machine may be shared,
/// and CPU time excludes the time spent descheduled.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_nanos() as u64
        })
}

/// A timer over CPU time (see [`cpu_ns`]).
struct Timer(u64);

impl Timer {
    fn now() -> Self {
        Timer(cpu_ns())
    }
    /// ns per op since `now`.
    fn per(&self, ops: usize) -> f64 {
        (cpu_ns() - self.0) as f64 / ops as f64
    }
}

use cairn_core::iter::InternalIterator;
use cairn_core::key::{self, Kind};
use cairn_core::memtable::{Memtable, MemtableIter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const VALUE: [u8; 100] = [0xAB; 100];

trait Api: Sized {
    const NAME: &'static str;
    fn new() -> Self;
    fn insert(&mut self, k: &[u8], seq: u64);
    fn get(&self, k: &[u8]) -> bool;
    fn scan(&self) -> usize;
    fn seek_next(&self, target: &[u8], n: usize) -> usize;
    fn memory(&self) -> usize;
}

macro_rules! impl_api {
    ($t:ty, $it:ident, $name:expr) => {
        impl Api for $t {
            const NAME: &'static str = $name;
            fn new() -> Self {
                <$t>::new()
            }
            fn insert(&mut self, k: &[u8], seq: u64) {
                <$t>::insert(self, k, seq, Kind::Put, &VALUE)
            }
            fn get(&self, k: &[u8]) -> bool {
                <$t>::get(self, k, key::MAX_SEQUENCE).is_some()
            }
            fn scan(&self) -> usize {
                let mut it = $it::new(self);
                it.seek_to_first().unwrap();
                let mut n = 0;
                while it.valid() {
                    n += it.key().len() + it.value().len();
                    it.next().unwrap();
                }
                n
            }
            fn seek_next(&self, target: &[u8], n: usize) -> usize {
                let mut it = $it::new(self);
                it.seek(target).unwrap();
                let mut s = 0;
                for _ in 0..n {
                    if !it.valid() {
                        break;
                    }
                    s += it.key().len();
                    it.next().unwrap();
                }
                s
            }
            fn memory(&self) -> usize {
                self.approximate_memory()
            }
        }
    };
}
impl_api!(Memtable, MemtableIter, "btree");
impl_api!(old::Memtable, OldIter, "skiplist");
use old::MemtableIter as OldIter;

fn random_keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen()).collect()
}

fn seq_keys(n: usize) -> Vec<[u8; 16]> {
    (0..n as u64)
        .map(|i| {
            let mut k = [b'0'; 16];
            k[..8].copy_from_slice(&i.to_be_bytes());
            k
        })
        .collect()
}

/// ns/op of each operation, for one memtable type, one repetition.
fn run<T: Api>(
    n: usize,
    keys: &[[u8; 16]],
    probes: &[[u8; 16]],
    misses: &[[u8; 16]],
    sk: &[[u8; 16]],
) -> [f64; 6] {
    let mut r = [0f64; 6];
    // Every phase is repeated at small sizes so that it runs for long enough: the CPU time
    // read from `schedstat` is only updated at scheduler ticks.
    let reps = (1_000_000 / n).max(1);
    // Random insert (the memtables are dropped after the timing).
    let t = Timer::now();
    let mut built: Vec<T> = (0..reps)
        .map(|_| {
            let mut m = T::new();
            for (i, k) in keys.iter().enumerate() {
                m.insert(k, i as u64 + 1);
            }
            m
        })
        .collect();
    r[0] = t.per(n * reps);
    let m = built.pop().unwrap();
    drop(built);
    // Sequential insert.
    let t = Timer::now();
    let built: Vec<T> = (0..reps)
        .map(|_| {
            let mut s = T::new();
            for (i, k) in sk.iter().enumerate() {
                s.insert(k, i as u64 + 1);
            }
            s
        })
        .collect();
    r[1] = t.per(n * reps);
    black_box(built.iter().map(T::memory).sum::<usize>());
    drop(built);
    // Random get, hit.
    let t = Timer::now();
    let mut hits = 0;
    for _ in 0..reps {
        for k in probes {
            hits += usize::from(m.get(k));
        }
    }
    r[2] = t.per(probes.len() * reps);
    assert_eq!(hits, probes.len() * reps);
    // Random get, miss.
    let t = Timer::now();
    let mut hits = 0;
    for _ in 0..reps {
        for k in misses {
            hits += usize::from(m.get(k));
        }
    }
    r[3] = t.per(misses.len() * reps);
    assert_eq!(hits, 0);
    // Full iteration.
    let t = Timer::now();
    for _ in 0..reps {
        black_box(m.scan());
    }
    r[4] = t.per(n * reps);
    // Seek + next 100.
    let seeks = 50_000.min(misses.len());
    let t = Timer::now();
    for k in &misses[..seeks] {
        black_box(m.seek_next(&key::seek_key(k, key::MAX_SEQUENCE), 100));
    }
    r[5] = t.per(seeks);
    black_box(m.memory());
    r
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps: usize = args.first().map_or(5, |a| a.parse().unwrap());
    let sizes: Vec<usize> = if args.len() > 1 {
        args[1..].iter().map(|a| a.parse().unwrap()).collect()
    } else {
        vec![100_000, 1_000_000]
    };
    let ops = [
        "random insert",
        "sequential insert",
        "random get (hit)",
        "random get (miss)",
        "full iteration (/entry)",
        "seek + next 100",
    ];
    if let Some(n) = std::env::var("ONLY_SEQ")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // Profiling aid: sequential inserts only, new memtable.
        let sk = seq_keys(n);
        for _ in 0..reps {
            let t = Timer::now();
            let mut s = Memtable::new();
            for (i, k) in sk.iter().enumerate() {
                Api::insert(&mut s, k, i as u64 + 1);
            }
            println!("sequential insert: {:.1} ns/op", t.per(n));
        }
        return;
    }
    for &n in &sizes {
        let keys = random_keys(n, 1);
        let mut probes = keys.clone();
        {
            use rand::seq::SliceRandom;
            probes.shuffle(&mut SmallRng::seed_from_u64(2));
        }
        probes.truncate(n.min(500_000));
        let misses = random_keys(n.min(500_000), 3);
        let sk = seq_keys(n);
        let mut old_r: Vec<[f64; 6]> = Vec::new();
        let mut new_r: Vec<[f64; 6]> = Vec::new();
        for rep in 0..reps {
            // Alternate which goes first, so that drift on a shared machine hits both.
            if std::env::var_os("ONLY_NEW").is_some() {
                new_r.push(run::<Memtable>(n, &keys, &probes, &misses, &sk));
                old_r.push([1.0; 6]);
            } else if rep % 2 == 0 {
                old_r.push(run::<old::Memtable>(n, &keys, &probes, &misses, &sk));
                new_r.push(run::<Memtable>(n, &keys, &probes, &misses, &sk));
            } else {
                new_r.push(run::<Memtable>(n, &keys, &probes, &misses, &sk));
                old_r.push(run::<old::Memtable>(n, &keys, &probes, &misses, &sk));
            }
        }
        let mem = |f: &dyn Fn() -> usize| f() as f64 / n as f64;
        let old_mem = mem(&|| {
            let mut m = old::Memtable::new();
            keys.iter()
                .enumerate()
                .for_each(|(i, k)| Api::insert(&mut m, k, i as u64 + 1));
            Api::memory(&m)
        });
        let new_mem = mem(&|| {
            let mut m = Memtable::new();
            keys.iter()
                .enumerate()
                .for_each(|(i, k)| Api::insert(&mut m, k, i as u64 + 1));
            Api::memory(&m)
        });
        println!("\nN = {n} (16-byte random keys, 100-byte values; medians of {reps} reps, ns/op of thread CPU time)");
        println!(
            "| operation | {} | {} | speedup |",
            <old::Memtable as Api>::NAME,
            <Memtable as Api>::NAME
        );
        println!("|---|---:|---:|---:|");
        for (i, op) in ops.iter().enumerate() {
            let o = median(old_r.iter().map(|r| r[i]).collect());
            let b = median(new_r.iter().map(|r| r[i]).collect());
            println!("| {op} | {o:.1} | {b:.1} | {:.2}x |", o / b);
        }
        println!("| approximate_memory (B/entry, random) | {old_mem:.1} | {new_mem:.1} | |");
    }
}

/// The previous memtable (skiplist), copied from `core/src/memtable.rs` for comparison.
#[allow(dead_code)]
mod old {
    // The memtable: recent writes held sorted in memory until they are flushed to an SSTable.
    //
    // # Design
    //
    // A single-writer skiplist with no `unsafe` and no per-entry heap allocation:
    //
    // * **Byte arena** ([`Arena`]): each entry's internal key (user key ++ 8-byte little-endian
    //   trailer) is stored contiguously, immediately followed by its value, in a list of byte
    //   chunks. Each new chunk is a quarter of what the arena already holds, clamped to
    //   4 KiB..=1 MiB, so a small memtable holds little memory and the memory held stays within
    //   ~1.25x of the bytes stored; a chunk is never reallocated once created (entries are only
    //   appended within its capacity), so entry bytes are never copied. Entries larger than
    //   128 KiB that do not fit the current chunk get a dedicated chunk of exactly their size.
    // * **Tower index**: every skiplist node is a variable-length record in one flat `Vec<u32>`
    //   and is addressed by its index in it (no pointers):
    //
    //   ```text
    //   [chunk, offset, ikey_len, value_len, (next, next_prefix_hi, next_prefix_lo) x height]
    //   ```
    //
    //   Each link carries the first 8 bytes of its *successor's* user key (zero-padded, read
    //   big-endian). Comparing prefixes orders most pairs of keys, so a search step decides
    //   whether to advance from the current node's record alone: the successor's record and key
    //   bytes are only touched when it is actually visited or the prefixes tie. Index 0 is the
    //   head node (`MAX_HEIGHT` links); since the head is never a successor, a link of 0 means
    //   "none". The vector grows by 1.5x. Tower heights come from a constant-seeded xorshift
    //   generator with branching factor 4, so the structure is deterministic.
    // * **Insert splice**: the predecessors of the last inserted entry at every level are kept;
    //   an entry that falls right after the previous one (sequential or nearly sorted loads)
    //   is linked in O(1) without a search.
    //
    // Backward iteration searches for the predecessor (O(log n)) instead of storing back links,
    // which keeps the index at 16 bytes plus 12 bytes per level per entry (~32 bytes on average).

    use core::cmp::Ordering;
    use core::ops::Deref;

    use cairn_core::iter::InternalIterator;
    use cairn_core::key::{self, Kind, TRAILER_LEN};
    use cairn_core::Result;

    /// Tallest tower; with branching factor 4 this serves ~16 million entries at full speed.
    const MAX_HEIGHT: usize = 12;
    /// The head node's index in the tower vector.
    const HEAD: u32 = 0;
    /// Link value meaning "no next node".
    const NIL: u32 = 0;

    // Layout of a node record in the tower vector: a header, then one link per level.
    const F_CHUNK: usize = 0;
    const F_OFFSET: usize = 1;
    const F_KEY_LEN: usize = 2;
    const F_VALUE_LEN: usize = 3;
    /// Start of the links.
    const F_LINKS: usize = 4;
    /// Size of one link: `[next, next_prefix_hi, next_prefix_lo]`.
    const LINK: usize = 3;

    /// First arena chunk size.
    const MIN_CHUNK: usize = 4 << 10;
    /// Largest regular arena chunk size.
    const MAX_CHUNK: usize = 1 << 20;
    /// Entries larger than this get a chunk of their own.
    const OVERSIZED: usize = MAX_CHUNK / 8;
    /// Seed of the tower-height generator (any non-zero constant).
    const RNG_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The first 8 bytes of `user_key`, zero-padded, as a big-endian integer. For user keys
    /// `a < b` (bytewise) this gives `prefix(a) <= prefix(b)`, so unequal prefixes decide order.
    #[inline]
    fn prefix(user_key: &[u8]) -> u64 {
        let mut p = [0u8; 8];
        let n = user_key.len().min(8);
        p[..n].copy_from_slice(&user_key[..n]);
        u64::from_be_bytes(p)
    }

    /// A search key split into its parts, so that comparisons never re-parse it.
    #[derive(Clone, Copy)]
    struct SearchKey<'a> {
        prefix: u64,
        user_key: &'a [u8],
        trailer: u64,
    }

    impl<'a> SearchKey<'a> {
        #[inline]
        fn new(user_key: &'a [u8], trailer: u64) -> Self {
            SearchKey {
                prefix: prefix(user_key),
                user_key,
                trailer,
            }
        }

        /// Splits an internal key the way [`key::compare`] does.
        #[inline]
        fn from_internal(ikey: &'a [u8]) -> Self {
            SearchKey::new(key::user_key(ikey), key::trailer(ikey))
        }
    }

    /// Append-only chunked byte storage.
    struct Arena {
        chunks: Vec<Vec<u8>>,
        /// Chunk receiving regular entries (`usize::MAX` before the first one exists).
        current: usize,
        /// Sum of the chunks' capacities.
        bytes: usize,
    }

    impl Arena {
        const fn new() -> Self {
            Arena {
                chunks: Vec::new(),
                current: usize::MAX,
                bytes: 0,
            }
        }

        /// Makes room for `len` contiguous bytes and returns the index of the chunk to append
        /// them to (they start at its current length; it will not reallocate).
        #[inline]
        fn reserve(&mut self, len: usize) -> usize {
            if let Some(c) = self.chunks.get(self.current) {
                if c.capacity() - c.len() >= len {
                    return self.current;
                }
            }
            if len > OVERSIZED {
                return self.push_chunk(len);
            }
            // Each new chunk is a quarter of what the arena holds (4 KiB ..= 1 MiB), so the memory
            // held stays within ~1.25x of the bytes stored while small memtables stay small.
            let size = (self.bytes / 4).clamp(MIN_CHUNK, MAX_CHUNK).max(len);
            self.current = self.push_chunk(size);
            self.current
        }

        fn push_chunk(&mut self, capacity: usize) -> usize {
            let chunk = Vec::with_capacity(capacity);
            self.bytes += chunk.capacity();
            self.chunks.push(chunk);
            self.chunks.len() - 1
        }

        fn memory(&self) -> usize {
            self.bytes + self.chunks.capacity() * core::mem::size_of::<Vec<u8>>()
        }
    }

    /// xorshift64: deterministic, fast, good enough for tower heights.
    struct XorShift(u64);

    impl XorShift {
        #[inline]
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// A sorted in-memory table of internal-key entries; see the [module docs](self).
    ///
    /// One writer (`&mut self`) and any number of readers (`&self`); callers serialize them.
    pub struct Memtable {
        arena: Arena,
        /// Node records; see the module docs. Index 0 is the head.
        towers: Vec<u32>,
        /// Current height of the list (levels in use).
        height: usize,
        /// Predecessors, at every level, of the last inserted entry (`splice[0]` is that entry
        /// itself once one exists). Levels above `height` hold the head.
        splice: [u32; MAX_HEIGHT],
        rng: XorShift,
        len: usize,
        min_seq: u64,
        max_seq: u64,
    }

    impl core::fmt::Debug for Memtable {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Memtable")
                .field("len", &self.len)
                .field("min_seq", &self.min_seq())
                .field("max_seq", &self.max_seq())
                .field("height", &self.height)
                .field("chunks", &self.arena.chunks.len())
                .field("approximate_memory", &self.approximate_memory())
                .finish()
        }
    }

    impl Default for Memtable {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Memtable {
        /// An empty memtable. Allocates only the head node.
        pub fn new() -> Self {
            let mut towers = Vec::with_capacity(1024);
            towers.resize(F_LINKS + LINK * MAX_HEIGHT, 0);
            Memtable {
                arena: Arena::new(),
                towers,
                height: 1,
                splice: [HEAD; MAX_HEIGHT],
                rng: XorShift(RNG_SEED),
                len: 0,
                min_seq: u64::MAX,
                max_seq: 0,
            }
        }

        /// Inserts one entry. (`user_key`, `seq`) pairs are unique (the engine assigns increasing
        /// sequence numbers); `seq` must be at most [`key::MAX_SEQUENCE`].
        ///
        /// # Panics
        /// If the internal key or the value is 4 GiB or longer (far above the engine's limits).
        pub fn insert(&mut self, user_key: &[u8], seq: u64, kind: Kind, value: &[u8]) {
            debug_assert!(seq <= key::MAX_SEQUENCE);
            let trailer = key::pack_trailer(seq, kind as u8);
            let ikey_len = user_key.len() + TRAILER_LEN;
            assert!(
                ikey_len <= u32::MAX as usize && value.len() <= u32::MAX as usize,
                "memtable entry too large"
            );
            let sk = SearchKey::new(user_key, trailer);

            // Find the predecessors at every level, reusing the last insert's splice when the new
            // key falls between the last inserted entry and its successor (then the splice
            // brackets the key at every level, as higher-level brackets contain lower ones).
            let mut prev = self.splice;
            let last = self.splice[0];
            let fits_splice = (last == HEAD || self.cmp_full(last, &sk) == Ordering::Less) && {
                let n = self.next(last, 0);
                n == NIL || self.cmp_link(last, 0, n, &sk) == Ordering::Greater
            };
            if !fits_splice {
                let mut x = HEAD;
                let mut last_bigger = NIL;
                for level in (0..self.height).rev() {
                    loop {
                        let n = self.next(x, level);
                        if n != NIL
                            && n != last_bigger
                            && self.cmp_link(x, level, n, &sk) == Ordering::Less
                        {
                            x = n;
                        } else {
                            last_bigger = n;
                            break;
                        }
                    }
                    prev[level] = x;
                }
                // Levels at or above `height` have the head as predecessor.
                for p in prev.iter_mut().skip(self.height) {
                    *p = HEAD;
                }
            }

            // Store the entry in the arena: user key, trailer, value.
            let chunk_idx = self.arena.reserve(ikey_len + value.len());
            let chunk = &mut self.arena.chunks[chunk_idx];
            let offset = chunk.len();
            chunk.extend_from_slice(user_key);
            chunk.extend_from_slice(&trailer.to_le_bytes());
            chunk.extend_from_slice(value);

            // Append the node record and link it in.
            let height = self.random_height();
            let need = F_LINKS + LINK * height;
            let node = self.towers.len();
            assert!(node + need <= u32::MAX as usize, "memtable index full");
            let node = node as u32;
            if self.towers.capacity() - self.towers.len() < need {
                // Grow by half (not double) to keep the held memory close to the used memory.
                let extra = (self.towers.capacity() / 2).max(need);
                self.towers.reserve_exact(extra);
            }
            self.towers.extend_from_slice(&[
                chunk_idx as u32,
                offset as u32,
                ikey_len as u32,
                value.len() as u32,
            ]);
            let new_link = [node, (sk.prefix >> 32) as u32, sk.prefix as u32];
            for (level, &p) in prev.iter().enumerate().take(height) {
                // The new node takes over its predecessor's link (successor and its prefix)...
                let at = p as usize + F_LINKS + LINK * level;
                let old: [u32; LINK] = [self.towers[at], self.towers[at + 1], self.towers[at + 2]];
                self.towers.extend_from_slice(&old);
                // ...and the predecessor now links to the new node.
                self.towers[at..at + LINK].copy_from_slice(&new_link);
            }
            if height > self.height {
                self.height = height;
            }
            for p in prev.iter_mut().take(height) {
                *p = node;
            }
            self.splice = prev;

            self.len += 1;
            self.min_seq = self.min_seq.min(seq);
            self.max_seq = self.max_seq.max(seq);
        }

        /// Newest entry for `user_key` with sequence number `<= seq`, as (kind, value); `None` if
        /// no version is visible at `seq`. A visible tombstone is returned as `Kind::Delete`.
        pub fn get(&self, user_key: &[u8], seq: u64) -> Option<(Kind, &[u8])> {
            let seq = seq.min(key::MAX_SEQUENCE);
            let sk = SearchKey::new(user_key, key::pack_trailer(seq, Kind::SEEK));
            let n = self.find_ge(&sk);
            if n == NIL {
                return None;
            }
            let ikey = self.ikey(n);
            if key::user_key(ikey) != user_key {
                return None;
            }
            let kind = match key::kind_byte(ikey) {
                0 => Kind::Delete,
                _ => Kind::Put,
            };
            Some((kind, self.value(n)))
        }

        /// Bytes of memory held: arena chunk capacities plus the index's capacity. Grows in steps
        /// (chunks of up to 1 MiB; the index vector grows by half), tracking real usage.
        pub fn approximate_memory(&self) -> usize {
            self.arena.memory()
                + self.towers.capacity() * core::mem::size_of::<u32>()
                + core::mem::size_of::<Self>()
        }

        /// Number of entries.
        pub fn len(&self) -> usize {
            self.len
        }

        /// True when no entry has been inserted.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// Smallest sequence number inserted, if any.
        pub fn min_seq(&self) -> Option<u64> {
            (self.len > 0).then_some(self.min_seq)
        }

        /// Largest sequence number inserted, if any.
        pub fn max_seq(&self) -> Option<u64> {
            (self.len > 0).then_some(self.max_seq)
        }

        /// An iterator borrowing the memtable (initially not positioned).
        pub fn iter(&self) -> MemtableIter<&Memtable> {
            MemtableIter::new(self)
        }

        // ---- node access ----

        /// The successor of `node` at `level` (`NIL` if none).
        #[inline]
        fn next(&self, node: u32, level: usize) -> u32 {
            self.towers[node as usize + F_LINKS + LINK * level]
        }

        /// The node's internal key bytes.
        #[inline]
        fn ikey(&self, node: u32) -> &[u8] {
            let r = &self.towers[node as usize..node as usize + F_LINKS];
            let off = r[F_OFFSET] as usize;
            &self.arena.chunks[r[F_CHUNK] as usize][off..off + r[F_KEY_LEN] as usize]
        }

        /// The node's value bytes.
        #[inline]
        fn value(&self, node: u32) -> &[u8] {
            let r = &self.towers[node as usize..node as usize + F_LINKS];
            let off = r[F_OFFSET] as usize + r[F_KEY_LEN] as usize;
            &self.arena.chunks[r[F_CHUNK] as usize][off..off + r[F_VALUE_LEN] as usize]
        }

        /// Orders `n`, the successor of `x` at `level`, against `sk`. Uses the key prefix cached
        /// in the link, so `n`'s record and key are only read when the prefixes are equal.
        #[inline]
        fn cmp_link(&self, x: u32, level: usize, n: u32, sk: &SearchKey<'_>) -> Ordering {
            let at = x as usize + F_LINKS + LINK * level;
            let l = &self.towers[at + 1..at + LINK];
            let p = (u64::from(l[0]) << 32) | u64::from(l[1]);
            if p != sk.prefix {
                return p.cmp(&sk.prefix);
            }
            self.cmp_full(n, sk)
        }

        /// Orders node `n` against `sk` with [`key::compare`] semantics, reading its key.
        #[inline]
        fn cmp_full(&self, n: u32, sk: &SearchKey<'_>) -> Ordering {
            let ikey = self.ikey(n);
            let (uk, tr) = ikey.split_at(ikey.len() - TRAILER_LEN);
            match uk.cmp(sk.user_key) {
                Ordering::Equal => {
                    let mut t = [0u8; TRAILER_LEN];
                    t.copy_from_slice(tr);
                    // Trailers order descending.
                    sk.trailer.cmp(&u64::from_le_bytes(t))
                }
                o => o,
            }
        }

        fn random_height(&mut self) -> usize {
            // Each pair of zero low bits adds a level: P(height > h) = 4^-h.
            let r = self.rng.next();
            1 + ((r.trailing_zeros() / 2) as usize).min(MAX_HEIGHT - 1)
        }

        // ---- searches (return NIL/HEAD for "none") ----

        /// First node with key >= `sk`, or `NIL`.
        fn find_ge(&self, sk: &SearchKey<'_>) -> u32 {
            let mut x = HEAD;
            let mut last_bigger = NIL;
            let mut level = self.height - 1;
            loop {
                let n = self.next(x, level);
                if n != NIL && n != last_bigger && self.cmp_link(x, level, n, sk) == Ordering::Less
                {
                    x = n;
                } else {
                    if level == 0 {
                        return n;
                    }
                    last_bigger = n;
                    level -= 1;
                }
            }
        }

        /// Last node with key < `sk` (`or_equal`: <= `sk`), or `HEAD`.
        fn find_before(&self, sk: &SearchKey<'_>, or_equal: bool) -> u32 {
            let mut x = HEAD;
            let mut last_bigger = NIL;
            let mut level = self.height - 1;
            loop {
                let n = self.next(x, level);
                let advance = n != NIL
                    && n != last_bigger
                    && match self.cmp_link(x, level, n, sk) {
                        Ordering::Less => true,
                        Ordering::Equal => or_equal,
                        Ordering::Greater => false,
                    };
                if advance {
                    x = n;
                } else {
                    if level == 0 {
                        return x;
                    }
                    last_bigger = n;
                    level -= 1;
                }
            }
        }

        /// The last node, or `HEAD` when empty.
        fn find_last(&self) -> u32 {
            let mut x = HEAD;
            for level in (0..self.height).rev() {
                loop {
                    let n = self.next(x, level);
                    if n == NIL {
                        break;
                    }
                    x = n;
                }
            }
            x
        }
    }

    /// A bidirectional [`InternalIterator`] over a memtable, generic over the handle: `&Memtable`
    /// for a borrowing iterator, or `Arc<Memtable>` for one that is `'static + Send` and keeps the
    /// memtable alive (e.g. while a background flush holds it).
    ///
    /// Created unpositioned; call a seek method first.
    #[derive(Debug, Clone)]
    pub struct MemtableIter<M> {
        mem: M,
        /// Current node; `NIL` (= `HEAD`) when not valid.
        node: u32,
    }

    impl<M: Deref<Target = Memtable>> MemtableIter<M> {
        /// An unpositioned iterator over the memtable behind `handle`.
        pub fn new(handle: M) -> Self {
            MemtableIter {
                mem: handle,
                node: NIL,
            }
        }

        /// The memtable iterated.
        pub fn memtable(&self) -> &Memtable {
            &self.mem
        }
    }

    impl<M: Deref<Target = Memtable>> InternalIterator for MemtableIter<M> {
        #[inline]
        fn valid(&self) -> bool {
            self.node != NIL
        }

        fn seek_to_first(&mut self) -> Result<()> {
            self.node = self.mem.next(HEAD, 0);
            Ok(())
        }

        fn seek_to_last(&mut self) -> Result<()> {
            self.node = self.mem.find_last();
            Ok(())
        }

        fn seek(&mut self, target: &[u8]) -> Result<()> {
            self.node = self.mem.find_ge(&SearchKey::from_internal(target));
            Ok(())
        }

        fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
            self.node = self
                .mem
                .find_before(&SearchKey::from_internal(target), true);
            Ok(())
        }

        #[inline]
        fn next(&mut self) -> Result<()> {
            debug_assert!(self.valid());
            self.node = self.mem.next(self.node, 0);
            Ok(())
        }

        fn prev(&mut self) -> Result<()> {
            debug_assert!(self.valid());
            let mem: &Memtable = &self.mem;
            if self.node != NIL {
                let ikey = mem.ikey(self.node);
                self.node = mem.find_before(&SearchKey::from_internal(ikey), false);
            }
            Ok(())
        }

        #[inline]
        fn key(&self) -> &[u8] {
            if self.node == NIL {
                return &[];
            }
            self.mem.ikey(self.node)
        }

        #[inline]
        fn value(&self) -> &[u8] {
            if self.node == NIL {
                return &[];
            }
            self.mem.value(self.node)
        }
    }
}
