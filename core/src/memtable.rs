//! The memtable: recent writes held sorted in memory until they are flushed to an SSTable.
//!
//! # Design
//!
//! A single-writer B+tree with no `unsafe` and no per-entry heap allocation:
//!
//! * **Byte arena** ([`Arena`]): each entry is stored contiguously as an 8-byte header
//!   (internal key length and value length, `u32` little endian), the internal key (user key
//!   ++ 8-byte little-endian trailer) and the value, in a list of byte chunks. Each new chunk
//!   is a quarter of what the arena already holds, clamped to 4 KiB..=1 MiB, so a small
//!   memtable holds little memory and the memory held stays within ~1.25x of the bytes
//!   stored; a chunk is never reallocated once created (entries are only appended within its
//!   capacity), so entry bytes are never copied. Entries larger than 128 KiB that do not fit
//!   the current chunk get a dedicated chunk of exactly their size. An entry is named by its
//!   position, `chunk << 32 | offset` (a `u64` "entry reference").
//! * **Index**: a B+tree of fixed-capacity nodes kept in two `Vec`s (leaves, inner nodes)
//!   and addressed by `u32` ids (no pointers). Every node stores, next to each entry
//!   reference, the first 8 bytes of that entry's user key (zero-padded, read big-endian) in
//!   a separate contiguous array, with unused slots set to `u64::MAX`. A node search counts
//!   the prefixes below the search key's over the whole fixed-size array (branch-free,
//!   vectorizable) and only reads key bytes from the arena for entries whose prefix ties,
//!   by binary search over that run. So a lookup touches ~one node per level (the top levels
//!   stay cached) plus the entry itself, instead of ~30 scattered skiplist nodes.
//!
//!   ```text
//!   leaf  = { prefixes[LEAF_CAP], entries[LEAF_CAP], len, prev, next }   (sorted)
//!   inner = { prefixes[INNER_CAP], separators[INNER_CAP], children[INNER_CAP + 1], len }
//!   ```
//!
//!   A separator is the smallest entry of the subtree to its right (keys >= separator go
//!   right). Leaves are doubly linked in key order, so iteration is O(1) per step in both
//!   directions. A full node splits in half; a split at the very end of the rightmost leaf
//!   (and then along the rightmost path) leaves the left node full instead, so sequential
//!   loads fill nodes completely. Nothing is ever deleted. The node vectors grow by half
//!   (not double) to keep the held memory close to the used memory.
//! * **Insert hint**: the leaf of the last insert is remembered with the key range it covers
//!   (the nearest separators on its path); an entry that falls in that range while the leaf
//!   has room is inserted without a descent (sequential or clustered loads).
//!
//! Index cost per entry: 16 bytes per leaf slot (~23 bytes at the ~70% fill of random
//! inserts, 16 bytes for sequential ones), ~1/40 of that for inner nodes, plus the 8-byte
//! header in the arena.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::ops::Deref;

use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{self, Kind, TRAILER_LEN};

/// Entries per leaf. 16, 32 and 64 measured alike within noise; 64 was slightly ahead at
/// 1M entries and holds the least memory.
const LEAF_CAP: usize = 64;
/// Separators per inner node (children: one more).
const INNER_CAP: usize = 64;
/// Deepest inner-node path. Every inner node off the rightmost path has at least
/// `INNER_CAP / 2` children, so `u32` leaf ids never need more than ~8 levels.
const MAX_DEPTH: usize = 16;
/// Node id meaning "none".
const NIL: u32 = u32::MAX;
/// Prefix of an unused slot: never below a search prefix, so it is never counted.
const PAD: u64 = u64::MAX;
/// Bytes of the arena entry header: internal key length, value length.
const HEADER: usize = 8;

/// First arena chunk size.
const MIN_CHUNK: usize = 4 << 10;
/// Largest regular arena chunk size.
const MAX_CHUNK: usize = 1 << 20;
/// Entries larger than this get a chunk of their own.
const OVERSIZED: usize = MAX_CHUNK / 8;
/// Leaves allocated by [`Memtable::new`].
const INITIAL_LEAVES: usize = 4;

/// The first 8 bytes of `user_key`, zero-padded, as a big-endian integer. For user keys
/// `a < b` (bytewise) this gives `prefix(a) <= prefix(b)`, so unequal prefixes decide order.
#[inline]
fn prefix(user_key: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    let n = user_key.len().min(8);
    p[..n].copy_from_slice(&user_key[..n]);
    u64::from_be_bytes(p)
}

/// The number of `prefixes` below `p`, over the whole fixed-size array: branch-free with a
/// constant trip count, so the compiler unrolls it (and vectorizes it where the target has
/// 64-bit compares).
#[inline(always)]
fn prefix_rank<const N: usize>(prefixes: &[u64; N], p: u64) -> usize {
    let mut lt = 0usize;
    for &x in prefixes {
        lt += usize::from(x < p);
    }
    lt
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

/// An entry reference with its key prefix: a leaf slot, a separator, or a node bound.
#[derive(Clone, Copy, Debug)]
struct Sep {
    prefix: u64,
    entry: u64,
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

    /// The entry's bytes from its header on, and its key and value lengths.
    #[inline(always)]
    fn entry(&self, entry: u64) -> (&[u8], usize, usize) {
        let chunk = &self.chunks[(entry >> 32) as usize];
        let bytes = &chunk[entry as u32 as usize..];
        let header = match bytes.first_chunk::<HEADER>() {
            Some(h) => u64::from_le_bytes(*h),
            None => 0, // unreachable: every entry starts with its header
        };
        (bytes, header as u32 as usize, (header >> 32) as usize)
    }

    /// The entry's internal key.
    #[inline]
    fn ikey(&self, entry: u64) -> &[u8] {
        let (bytes, key_len, _) = self.entry(entry);
        &bytes[HEADER..HEADER + key_len]
    }

    /// The entry's value.
    #[inline]
    fn value(&self, entry: u64) -> &[u8] {
        let (bytes, key_len, value_len) = self.entry(entry);
        let start = HEADER + key_len;
        &bytes[start..start + value_len]
    }

    /// Orders the entry against `sk` with [`key::compare`] semantics.
    #[inline]
    fn cmp(&self, entry: u64, sk: &SearchKey<'_>) -> Ordering {
        let ikey = self.ikey(entry);
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

    /// Orders `s` against `sk`, reading key bytes only when the prefixes tie.
    #[inline]
    fn cmp_sep(&self, s: Sep, sk: &SearchKey<'_>) -> Ordering {
        match s.prefix.cmp(&sk.prefix) {
            Ordering::Equal => self.cmp(s.entry, sk),
            o => o,
        }
    }

    /// The number of the first `len` entries of a node (sorted, with their prefixes; unused
    /// prefix slots hold [`PAD`]) that are below `sk` (`inclusive`: at most `sk`).
    #[inline(always)]
    fn rank<const N: usize>(
        &self,
        prefixes: &[u64; N],
        entries: &[u64; N],
        len: usize,
        sk: &SearchKey<'_>,
        inclusive: bool,
    ) -> usize {
        let mut lo = prefix_rank(prefixes, sk.prefix).min(len);
        // Only the run of entries whose prefix ties needs their key bytes.
        let mut hi = lo;
        while hi < len && prefixes[hi] == sk.prefix {
            hi += 1;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let right = match self.cmp(entries[mid], sk) {
                Ordering::Less => true,
                Ordering::Equal => inclusive,
                Ordering::Greater => false,
            };
            if right {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// A leaf: sorted entries and the neighbouring leaves in key order.
#[derive(Clone)]
struct Leaf {
    prefixes: [u64; LEAF_CAP],
    entries: [u64; LEAF_CAP],
    len: u32,
    prev: u32,
    next: u32,
}

impl Leaf {
    const EMPTY: Leaf = Leaf {
        prefixes: [PAD; LEAF_CAP],
        entries: [0; LEAF_CAP],
        len: 0,
        prev: NIL,
        next: NIL,
    };

    /// Inserts `e` at slot `at`; the leaf must have room.
    #[inline]
    fn insert_at(&mut self, at: usize, e: Sep) {
        let len = self.len as usize;
        self.prefixes.copy_within(at..len, at + 1);
        self.entries.copy_within(at..len, at + 1);
        self.prefixes[at] = e.prefix;
        self.entries[at] = e.entry;
        self.len += 1;
    }

    #[inline]
    fn slot(&self, i: usize) -> Sep {
        Sep {
            prefix: self.prefixes[i],
            entry: self.entries[i],
        }
    }
}

/// An inner node: `len` separators and `len + 1` children (leaf ids at depth 1, inner ids
/// above).
#[derive(Clone)]
struct Inner {
    prefixes: [u64; INNER_CAP],
    seps: [u64; INNER_CAP],
    children: [u32; INNER_CAP + 1],
    len: u32,
}

impl Inner {
    const EMPTY: Inner = Inner {
        prefixes: [PAD; INNER_CAP],
        seps: [0; INNER_CAP],
        children: [NIL; INNER_CAP + 1],
        len: 0,
    };

    #[inline]
    fn sep(&self, i: usize) -> Sep {
        Sep {
            prefix: self.prefixes[i],
            entry: self.seps[i],
        }
    }
}

/// The leaf of the last insert and the key range it covers: `lo <= key < hi` (`None`: no
/// bound). A leaf's range never changes until it splits.
#[derive(Clone, Copy, Debug)]
struct Hint {
    leaf: u32,
    lo: Option<Sep>,
    hi: Option<Sep>,
}

/// Appends `node` to `nodes` and returns its id, growing the vector by half (not double).
fn push_node<T>(nodes: &mut Vec<T>, node: T) -> u32 {
    let id = nodes.len();
    assert!(id < NIL as usize, "memtable index full");
    if nodes.len() == nodes.capacity() {
        nodes.reserve_exact((nodes.capacity() / 2).max(4));
    }
    nodes.push(node);
    id as u32
}

/// A sorted in-memory table of internal-key entries; see the [module docs](self).
///
/// One writer (`&mut self`) and any number of readers (`&self`); callers serialize them.
pub struct Memtable {
    arena: Arena,
    /// Leaf nodes; leaf 0 is always the first in key order.
    leaves: Vec<Leaf>,
    /// Inner nodes.
    inners: Vec<Inner>,
    /// The root: a leaf id when `depth` is 0, else an inner id.
    root: u32,
    /// Number of inner levels above the leaves.
    depth: usize,
    /// The last leaf in key order.
    last_leaf: u32,
    hint: Hint,
    len: usize,
    min_seq: u64,
    max_seq: u64,
    /// Range tombstones, apart from the point entries, in insertion order.
    range_dels: Vec<crate::range_del::RangeTombstone>,
    range_del_bytes: usize,
    /// `range_dels` fragmented, built on the first read after an insert.
    fragments: spin::Mutex<Option<Arc<crate::range_del::Fragments>>>,
}

impl core::fmt::Debug for Memtable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Memtable")
            .field("len", &self.len)
            .field("min_seq", &self.min_seq())
            .field("max_seq", &self.max_seq())
            .field("depth", &self.depth)
            .field("leaves", &self.leaves.len())
            .field("inners", &self.inners.len())
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
    /// An empty memtable. Allocates only room for a few leaves.
    pub fn new() -> Self {
        let mut leaves = Vec::with_capacity(INITIAL_LEAVES);
        leaves.push(Leaf::EMPTY);
        Memtable {
            arena: Arena::new(),
            leaves,
            inners: Vec::new(),
            root: 0,
            depth: 0,
            last_leaf: 0,
            hint: Hint {
                leaf: 0,
                lo: None,
                hi: None,
            },
            len: 0,
            min_seq: u64::MAX,
            max_seq: 0,
            range_dels: Vec::new(),
            range_del_bytes: 0,
            fragments: spin::Mutex::new(None),
        }
    }

    /// Inserts one entry. (`user_key`, `seq`) pairs are unique (the engine assigns increasing
    /// sequence numbers); `seq` must be at most [`key::MAX_SEQUENCE`].
    ///
    /// # Panics
    /// If the internal key or the value is 4 GiB or longer (far above the engine's limits).
    ///
    /// A [`Kind::RangeDelete`] entry is a range tombstone `[user_key, value)`: it is kept in
    /// the memtable's tombstone list, not with the point entries.
    pub fn insert(&mut self, user_key: &[u8], seq: u64, kind: Kind, value: &[u8]) {
        debug_assert!(seq <= key::MAX_SEQUENCE);
        if kind == Kind::RangeDelete {
            self.range_dels.push(crate::range_del::RangeTombstone {
                start: Vec::from(user_key),
                end: Vec::from(value),
                seq,
            });
            self.range_del_bytes += user_key.len() + value.len() + 64;
            *self.fragments.lock() = None;
            self.min_seq = self.min_seq.min(seq);
            self.max_seq = self.max_seq.max(seq);
            return;
        }
        let trailer = key::pack_trailer(seq, kind as u8);
        let ikey_len = user_key.len() + TRAILER_LEN;
        assert!(
            ikey_len <= u32::MAX as usize && value.len() <= u32::MAX as usize,
            "memtable entry too large"
        );
        let sk = SearchKey::new(user_key, trailer);

        // Store the entry in the arena: header, user key, trailer, value.
        let size = HEADER.saturating_add(ikey_len).saturating_add(value.len());
        let chunk_idx = self.arena.reserve(size);
        let chunk = &mut self.arena.chunks[chunk_idx];
        let offset = chunk.len();
        // Regular chunks are at most 1 MiB and oversized entries start their own chunk.
        assert!(
            chunk_idx <= u32::MAX as usize && offset <= u32::MAX as usize,
            "memtable arena full"
        );
        let header = (ikey_len as u64) | ((value.len() as u64) << 32);
        chunk.extend_from_slice(&header.to_le_bytes());
        chunk.extend_from_slice(user_key);
        chunk.extend_from_slice(&trailer.to_le_bytes());
        chunk.extend_from_slice(value);
        let new = Sep {
            prefix: sk.prefix,
            entry: ((chunk_idx as u64) << 32) | offset as u64,
        };

        // Fast path: the key falls in the range of the last insert's leaf, which has room.
        let h = self.hint;
        let fits_hint = h.leaf != NIL
            && (self.leaves[h.leaf as usize].len as usize) < LEAF_CAP
            && h.lo
                .is_none_or(|lo| self.arena.cmp_sep(lo, &sk) != Ordering::Greater)
            && h.hi
                .is_none_or(|hi| self.arena.cmp_sep(hi, &sk) == Ordering::Greater);
        if fits_hint {
            let leaf = &mut self.leaves[h.leaf as usize];
            let len = leaf.len as usize;
            // Appending (sequential loads) takes one prefix comparison.
            let at = if len == 0 || leaf.prefixes[len - 1] < sk.prefix {
                len
            } else {
                self.arena
                    .rank(&leaf.prefixes, &leaf.entries, len, &sk, false)
            };
            leaf.insert_at(at, new);
        } else {
            self.insert_slow(&sk, new);
        }

        self.len += 1;
        self.min_seq = self.min_seq.min(seq);
        self.max_seq = self.max_seq.max(seq);
    }

    /// Inserts `new` (whose key is `sk`) with a descent from the root, splitting full nodes.
    fn insert_slow(&mut self, sk: &SearchKey<'_>, new: Sep) {
        // Descend, remembering the path and the tightest bounds of the leaf's range.
        let mut path = [(NIL, 0usize); MAX_DEPTH];
        let mut lo = None;
        let mut hi = None;
        let mut node = self.root;
        for step in path.iter_mut().take(self.depth) {
            let inner = &self.inners[node as usize];
            let len = inner.len as usize;
            let c = self.arena.rank(&inner.prefixes, &inner.seps, len, sk, true);
            if c > 0 {
                lo = Some(inner.sep(c - 1));
            }
            if c < len {
                hi = Some(inner.sep(c));
            }
            *step = (node, c);
            node = inner.children[c];
        }
        let leaf_id = node;
        let leaf = &mut self.leaves[leaf_id as usize];
        let len = leaf.len as usize;
        let at = self
            .arena
            .rank(&leaf.prefixes, &leaf.entries, len, sk, false);
        if len < LEAF_CAP {
            leaf.insert_at(at, new);
            self.hint = Hint {
                leaf: leaf_id,
                lo,
                hi,
            };
            return;
        }

        // Split the full leaf. Appending past the end of the last leaf (sequential loads)
        // leaves it full and starts an empty right sibling; otherwise it splits in half.
        let append = at == LEAF_CAP && leaf_id == self.last_leaf;
        let mut right = Leaf::EMPTY;
        let mid = if append { LEAF_CAP } else { LEAF_CAP / 2 };
        let moved = LEAF_CAP - mid;
        right.prefixes[..moved].copy_from_slice(&leaf.prefixes[mid..]);
        right.entries[..moved].copy_from_slice(&leaf.entries[mid..]);
        right.len = moved as u32;
        leaf.prefixes[mid..].fill(PAD);
        leaf.len = mid as u32;
        let old_next = leaf.next;
        right.prev = leaf_id;
        right.next = old_next;
        if at <= mid && !append {
            leaf.insert_at(at, new);
        } else {
            right.insert_at(at - mid, new);
        }
        let sep = right.slot(0);
        let right_id = push_node(&mut self.leaves, right);
        self.leaves[leaf_id as usize].next = right_id;
        if old_next != NIL {
            self.leaves[old_next as usize].prev = right_id;
        }
        if self.last_leaf == leaf_id {
            self.last_leaf = right_id;
        }
        self.hint = if at <= mid && !append {
            Hint {
                leaf: leaf_id,
                lo,
                hi: Some(sep),
            }
        } else {
            Hint {
                leaf: right_id,
                lo: Some(sep),
                hi,
            }
        };

        // Insert the separator into the parents, splitting full ones.
        let mut sep = sep;
        let mut child = right_id;
        for &(node, c) in path[..self.depth].iter().rev() {
            match self.inner_insert(node, c, sep, child, append) {
                None => return,
                Some((up, new_node)) => {
                    sep = up;
                    child = new_node;
                }
            }
        }
        // The root split: grow a level.
        let mut root = Inner::EMPTY;
        root.prefixes[0] = sep.prefix;
        root.seps[0] = sep.entry;
        root.children[0] = self.root;
        root.children[1] = child;
        root.len = 1;
        self.root = push_node(&mut self.inners, root);
        self.depth += 1;
        assert!(self.depth < MAX_DEPTH, "memtable index too deep");
    }

    /// Inserts separator `sep` at index `at` of inner node `node`, with `child` (the subtree
    /// of keys >= `sep`) right of it. When the node is full it splits (`append`: leaving it
    /// full, the new right node taking only `child`), and the separator to insert into the
    /// parent and the new node are returned.
    fn inner_insert(
        &mut self,
        node: u32,
        at: usize,
        sep: Sep,
        child: u32,
        append: bool,
    ) -> Option<(Sep, u32)> {
        let inner = &mut self.inners[node as usize];
        let len = inner.len as usize;
        if len < INNER_CAP {
            inner.prefixes.copy_within(at..len, at + 1);
            inner.seps.copy_within(at..len, at + 1);
            inner.children.copy_within(at + 1..len + 1, at + 2);
            inner.prefixes[at] = sep.prefix;
            inner.seps[at] = sep.entry;
            inner.children[at + 1] = child;
            inner.len += 1;
            return None;
        }
        let mut right = Inner::EMPTY;
        let up = if append && at == len {
            right.children[0] = child;
            sep
        } else {
            // Merge into INNER_CAP + 1 separators and INNER_CAP + 2 children, then split
            // around the middle separator, which moves up.
            let mut prefixes = [PAD; INNER_CAP + 1];
            let mut seps = [0u64; INNER_CAP + 1];
            let mut children = [NIL; INNER_CAP + 2];
            prefixes[..at].copy_from_slice(&inner.prefixes[..at]);
            prefixes[at] = sep.prefix;
            prefixes[at + 1..].copy_from_slice(&inner.prefixes[at..]);
            seps[..at].copy_from_slice(&inner.seps[..at]);
            seps[at] = sep.entry;
            seps[at + 1..].copy_from_slice(&inner.seps[at..]);
            children[..at + 1].copy_from_slice(&inner.children[..at + 1]);
            children[at + 1] = child;
            children[at + 2..].copy_from_slice(&inner.children[at + 1..]);

            let m = INNER_CAP / 2;
            inner.prefixes[..m].copy_from_slice(&prefixes[..m]);
            inner.prefixes[m..].fill(PAD);
            inner.seps[..m].copy_from_slice(&seps[..m]);
            inner.children[..m + 1].copy_from_slice(&children[..m + 1]);
            inner.children[m + 1..].fill(NIL);
            inner.len = m as u32;
            let r = INNER_CAP - m;
            right.prefixes[..r].copy_from_slice(&prefixes[m + 1..]);
            right.seps[..r].copy_from_slice(&seps[m + 1..]);
            right.children[..r + 1].copy_from_slice(&children[m + 1..]);
            right.len = r as u32;
            Sep {
                prefix: prefixes[m],
                entry: seps[m],
            }
        };
        Some((up, push_node(&mut self.inners, right)))
    }

    /// The range tombstones, fragmented (shared; rebuilt after an insert).
    pub fn range_dels(&self) -> Arc<crate::range_del::Fragments> {
        let mut g = self.fragments.lock();
        if let Some(f) = &*g {
            return Arc::clone(f);
        }
        let f = Arc::new(crate::range_del::Fragments::new(self.range_dels.clone()));
        *g = Some(Arc::clone(&f));
        f
    }

    /// True when the memtable holds a range tombstone.
    pub fn has_range_dels(&self) -> bool {
        !self.range_dels.is_empty()
    }

    /// Newest entry for `user_key` with sequence number `<= seq`, as (kind, value); `None` if
    /// no version is visible at `seq`. A visible tombstone is returned as `Kind::Delete`.
    /// Range tombstones are not consulted (see [`Memtable::range_dels`]).
    pub fn get(&self, user_key: &[u8], seq: u64) -> Option<(Kind, &[u8])> {
        self.get_entry(user_key, seq).map(|(k, _, v)| (k, v))
    }

    /// Like [`Memtable::get`], with the entry's sequence number.
    pub fn get_entry(&self, user_key: &[u8], seq: u64) -> Option<(Kind, u64, &[u8])> {
        let seq = seq.min(key::MAX_SEQUENCE);
        let sk = SearchKey::new(user_key, key::pack_trailer(seq, Kind::SEEK));
        let (id, hi) = self.descend(&sk);
        let leaf = &self.leaves[id as usize];
        let len = leaf.len as usize;
        let i = self
            .arena
            .rank(&leaf.prefixes, &leaf.entries, len, &sk, false);
        // The first entry >= `sk`; past the leaf's end, that is the next leaf's first entry,
        // which is the bound from the descent (so the next leaf is not read).
        let found = if i < len { Some(leaf.slot(i)) } else { hi }?;
        // A different prefix means a different user key: no need to read the entry's key.
        if found.prefix != sk.prefix {
            return None;
        }
        let ikey = self.arena.ikey(found.entry);
        if key::user_key(ikey) != user_key {
            return None;
        }
        let kind = match key::kind_byte(ikey) {
            0 => Kind::Delete,
            _ => Kind::Put,
        };
        Some((kind, key::sequence(ikey), self.arena.value(found.entry)))
    }

    /// Bytes of memory held: arena chunk capacities plus the node vectors' capacities. Grows
    /// in steps (chunks of up to 1 MiB; the node vectors grow by half), tracking real usage.
    pub fn approximate_memory(&self) -> usize {
        self.arena.memory()
            + self.range_del_bytes
            + self.leaves.capacity() * core::mem::size_of::<Leaf>()
            + self.inners.capacity() * core::mem::size_of::<Inner>()
            + core::mem::size_of::<Self>()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry and no range tombstone has been inserted.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.range_dels.is_empty()
    }

    /// Smallest sequence number inserted, if any.
    pub fn min_seq(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.min_seq)
    }

    /// Largest sequence number inserted, if any.
    pub fn max_seq(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.max_seq)
    }

    /// An iterator borrowing the memtable (initially not positioned).
    pub fn iter(&self) -> MemtableIter<&Memtable> {
        MemtableIter::new(self)
    }

    // ---- searches (positions are (leaf, slot); leaf `NIL` means none) ----

    /// The id of the leaf whose range holds `sk`, and the upper bound of that range (the
    /// first entry of the next leaf; `None` for the last leaf).
    #[inline]
    fn descend(&self, sk: &SearchKey<'_>) -> (u32, Option<Sep>) {
        let mut node = self.root;
        let mut hi = None;
        for _ in 0..self.depth {
            let inner = &self.inners[node as usize];
            let c = self
                .arena
                .rank(&inner.prefixes, &inner.seps, inner.len as usize, sk, true);
            if c < inner.len as usize {
                hi = Some(inner.sep(c));
            }
            node = inner.children[c];
        }
        (node, hi)
    }

    /// The first entry `>= sk`.
    fn find_ge(&self, sk: &SearchKey<'_>) -> (u32, usize) {
        let (id, _) = self.descend(sk);
        let leaf = &self.leaves[id as usize];
        let len = leaf.len as usize;
        let i = self
            .arena
            .rank(&leaf.prefixes, &leaf.entries, len, sk, false);
        if i < len {
            (id, i)
        } else {
            // Every leaf but an empty root is non-empty.
            (leaf.next, 0)
        }
    }

    /// The last entry `<= sk`.
    fn find_le(&self, sk: &SearchKey<'_>) -> (u32, usize) {
        let (id, _) = self.descend(sk);
        let leaf = &self.leaves[id as usize];
        let i = self
            .arena
            .rank(&leaf.prefixes, &leaf.entries, leaf.len as usize, sk, true);
        if i > 0 {
            (id, i - 1)
        } else {
            self.last_of(leaf.prev)
        }
    }

    /// The last slot of leaf `leaf` (`NIL`: none).
    #[inline]
    fn last_of(&self, leaf: u32) -> (u32, usize) {
        match self.leaves.get(leaf as usize) {
            Some(l) if l.len > 0 => (leaf, l.len as usize - 1),
            _ => (NIL, 0),
        }
    }
}

/// A memtable that no longer takes writes, waiting to be flushed (the engine keeps a queue of
/// them, oldest first).
#[derive(Debug)]
pub struct Frozen {
    /// The entries.
    pub mem: Arc<Memtable>,
    /// The oldest WAL holding any of its entries.
    pub first_wal: u64,
}

/// A bidirectional [`InternalIterator`] over a memtable, generic over the handle: `&Memtable`
/// for a borrowing iterator, or `Arc<Memtable>` for one that is `'static + Send` and keeps the
/// memtable alive (e.g. while a background flush holds it).
///
/// Created unpositioned; call a seek method first.
#[derive(Debug, Clone)]
pub struct MemtableIter<M> {
    mem: M,
    /// Current leaf; `NIL` when not valid.
    leaf: u32,
    /// Current slot in the leaf.
    slot: usize,
}

impl<M: Deref<Target = Memtable>> MemtableIter<M> {
    /// An unpositioned iterator over the memtable behind `handle`.
    pub fn new(handle: M) -> Self {
        MemtableIter {
            mem: handle,
            leaf: NIL,
            slot: 0,
        }
    }

    /// The memtable iterated.
    pub fn memtable(&self) -> &Memtable {
        &self.mem
    }

    #[inline]
    fn set(&mut self, (leaf, slot): (u32, usize)) {
        self.leaf = leaf;
        self.slot = slot;
    }

    /// The current entry reference, if valid.
    #[inline]
    fn entry(&self) -> Option<u64> {
        let leaf = self.mem.leaves.get(self.leaf as usize)?;
        Some(leaf.entries[self.slot])
    }
}

impl<M: Deref<Target = Memtable>> InternalIterator for MemtableIter<M> {
    #[inline]
    fn valid(&self) -> bool {
        self.leaf != NIL
    }

    fn seek_to_first(&mut self) -> Result<()> {
        // Leaf 0 is the first leaf; it is empty only when the memtable is.
        let first = if self.mem.len == 0 { NIL } else { 0 };
        self.set((first, 0));
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.mem.last_of(self.mem.last_leaf);
        self.set(last);
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let pos = self.mem.find_ge(&SearchKey::from_internal(target));
        self.set(pos);
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let pos = self.mem.find_le(&SearchKey::from_internal(target));
        self.set(pos);
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        if let Some(leaf) = self.mem.leaves.get(self.leaf as usize) {
            if self.slot + 1 < leaf.len as usize {
                self.slot += 1;
            } else {
                // Leaves after the first are never empty.
                self.leaf = leaf.next;
                self.slot = 0;
            }
        }
        Ok(())
    }

    #[inline]
    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        if let Some(leaf) = self.mem.leaves.get(self.leaf as usize) {
            if self.slot > 0 {
                self.slot -= 1;
            } else {
                let prev = self.mem.last_of(leaf.prev);
                self.set(prev);
            }
        }
        Ok(())
    }

    #[inline]
    fn key(&self) -> &[u8] {
        match self.entry() {
            Some(e) => self.mem.arena.ikey(e),
            None => &[],
        }
    }

    #[inline]
    fn value(&self) -> &[u8] {
        match self.entry() {
            Some(e) => self.mem.arena.value(e),
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests;
