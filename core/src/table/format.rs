//! On-disk pieces shared by the table builder and reader: block handles, the block trailer
//! (compression type + CRC32), compression, table properties and the fixed-size footer.
//! See `docs/FORMAT-sstable.md` for the byte-level description.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::coding::{get_u32, get_u64, get_varint, put_varint};
use crate::error::{Error, Result};
use cairn_vfs::File;

/// Bytes after every block's contents: compression type (1) + CRC32 (4).
pub const BLOCK_TRAILER_LEN: usize = 5;
/// Size of the footer at the end of every table.
pub const FOOTER_LEN: usize = 80;
/// The magic number that ends every Cairn table.
pub const TABLE_MAGIC: [u8; 8] = *b"CAIRNSST";
/// The table format version written by this code. Version 2 added the range-deletion block
/// (its handle and tombstone count are in the properties); version 1 tables still open.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest table format version this code reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Largest uncompressed size a compressed block may declare (64 MiB values + slack).
pub const MAX_UNCOMPRESSED_BLOCK: usize = (64 << 20) + (1 << 20);
/// Compression type byte: stored as is.
pub const COMPRESSION_NONE: u8 = 0;
/// Compression type byte: `varint(uncompressed_len) ++ lz4 block`.
pub const COMPRESSION_LZ4: u8 = 1;

/// Where a block lives: offset of its first byte and size of its contents, excluding the
/// 5-byte trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockHandle {
    /// Offset of the block in the file.
    pub offset: u64,
    /// Size of the stored (possibly compressed) contents, without the trailer.
    pub size: u64,
}

impl BlockHandle {
    /// The encoding of "no block" in the footer.
    pub const ABSENT: BlockHandle = BlockHandle {
        offset: u64::MAX,
        size: 0,
    };

    /// Appends `varint(offset) ++ varint(size)` (the index-entry encoding).
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }

    /// Decodes a varint handle; `None` if malformed.
    pub fn decode(buf: &[u8]) -> Option<(BlockHandle, usize)> {
        let (offset, a) = get_varint(buf)?;
        let (size, b) = get_varint(buf.get(a..)?)?;
        Some((BlockHandle { offset, size }, a + b))
    }

    /// Offset just past the block's trailer (saturating).
    pub fn end(&self) -> u64 {
        self.offset
            .saturating_add(self.size)
            .saturating_add(BLOCK_TRAILER_LEN as u64)
    }
}

/// The fixed-size footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The whole-key bloom filter block, if any.
    pub filter: Option<BlockHandle>,
    /// The prefix bloom filter block, if any.
    pub prefix_filter: Option<BlockHandle>,
    /// The properties block.
    pub properties: BlockHandle,
    /// The table format version (how the properties block is encoded).
    pub version: u32,
}

impl Footer {
    /// Encodes the footer (80 bytes).
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        let handles = [
            self.index,
            self.filter.unwrap_or(BlockHandle::ABSENT),
            self.prefix_filter.unwrap_or(BlockHandle::ABSENT),
            self.properties,
        ];
        for (i, h) in handles.iter().enumerate() {
            out[i * 16..i * 16 + 8].copy_from_slice(&h.offset.to_le_bytes());
            out[i * 16 + 8..i * 16 + 16].copy_from_slice(&h.size.to_le_bytes());
        }
        let crc = cairn_vfs::crc32::hash(&out[..64]);
        out[64..68].copy_from_slice(&crc.to_le_bytes());
        out[68..72].copy_from_slice(&self.version.to_le_bytes());
        out[72..80].copy_from_slice(&TABLE_MAGIC);
        out
    }

    /// Decodes and validates a footer: magic, then version, then checksum.
    pub fn decode(buf: &[u8], file_number: u64, footer_offset: u64) -> Result<Footer> {
        let name = crate::filename::table(file_number);
        let corrupt = |d: &str| Error::corruption(name.clone(), Some(footer_offset), d);
        if buf.len() != FOOTER_LEN || buf[72..80] != TABLE_MAGIC {
            return Err(corrupt("not a Cairn table (bad magic number)"));
        }
        let version = get_u32(buf, 68).unwrap_or(0);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedFormat(format!(
                "{name}: table format version {version}, this build reads versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION}"
            )));
        }
        let crc = get_u32(buf, 64).unwrap_or(0);
        if crc != cairn_vfs::crc32::hash(&buf[..64]) {
            return Err(corrupt("footer checksum mismatch"));
        }
        let h = |i: usize| BlockHandle {
            offset: get_u64(buf, i * 16).unwrap_or(u64::MAX),
            size: get_u64(buf, i * 16 + 8).unwrap_or(0),
        };
        let opt = |h: BlockHandle| (h != BlockHandle::ABSENT).then_some(h);
        Ok(Footer {
            index: h(0),
            filter: opt(h(1)),
            prefix_filter: opt(h(2)),
            properties: h(3),
            version,
        })
    }
}

/// Largest block contents that are offered to LZ4.
pub const MAX_COMPRESSED_INPUT: usize = 8 << 20;

/// Appends `contents` as a stored block (possibly compressed) plus its trailer to `out`.
/// Compresses with LZ4 when `compress` is set and it saves at least 12.5%. `scratch` is a
/// reusable buffer. Returns the stored size (the handle's `size`).
pub fn write_block(
    contents: &[u8],
    compress: bool,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> u64 {
    let mut kind = COMPRESSION_NONE;
    let mut payload: &[u8] = contents;
    // Blocks above MAX_COMPRESSED_INPUT (only an entry with a huge value makes one) are stored
    // uncompressed: lz4_flex's size arithmetic overflows on 32-bit targets for inputs of tens
    // of MiB, and such values rarely compress anyway.
    if compress && contents.len() >= 64 && contents.len() <= MAX_COMPRESSED_INPUT {
        scratch.clear();
        put_varint(scratch, contents.len() as u64);
        let header = scratch.len();
        scratch.resize(
            header + lz4_flex::block::get_maximum_output_size(contents.len()),
            0,
        );
        if let Ok(n) = lz4_flex::block::compress_into(contents, &mut scratch[header..]) {
            scratch.truncate(header + n);
            if scratch.len() <= contents.len() - contents.len() / 8 {
                kind = COMPRESSION_LZ4;
                payload = scratch;
            }
        }
    }
    out.extend_from_slice(payload);
    out.push(kind);
    let mut h = cairn_vfs::crc32::Hasher::new();
    h.update(payload);
    h.update(&[kind]);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    payload.len() as u64
}

/// Reads the block at `handle`, which must end at or before `limit`; checks the CRC and
/// decompresses. Returns the block contents.
pub fn read_block<F: File>(
    file: &F,
    file_number: u64,
    handle: BlockHandle,
    limit: u64,
) -> Result<Vec<u8>> {
    let corrupt =
        |d: String| Error::corruption(crate::filename::table(file_number), Some(handle.offset), d);
    let end = handle
        .offset
        .checked_add(handle.size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN as u64));
    match end {
        Some(e) if e <= limit => {}
        _ => {
            return Err(corrupt(format!(
                "block handle (offset {}, size {}) out of bounds (limit {limit})",
                handle.offset, handle.size
            )))
        }
    }
    let size =
        usize::try_from(handle.size).map_err(|_| corrupt(String::from("block too large")))?;
    let mut buf = alloc::vec![0u8; size + BLOCK_TRAILER_LEN];
    file.read_exact_at(handle.offset, &mut buf)?;
    let stored = get_u32(&buf, size + 1).unwrap_or(0);
    if stored != cairn_vfs::crc32::hash(&buf[..size + 1]) {
        return Err(corrupt(String::from("block checksum mismatch")));
    }
    match buf[size] {
        COMPRESSION_NONE => {
            buf.truncate(size);
            Ok(buf)
        }
        COMPRESSION_LZ4 => {
            let payload = &buf[..size];
            let (ulen, n) = get_varint(payload)
                .ok_or_else(|| corrupt(String::from("bad compressed length")))?;
            if ulen > MAX_UNCOMPRESSED_BLOCK as u64 {
                return Err(corrupt(format!(
                    "compressed block claims {ulen} bytes uncompressed"
                )));
            }
            let mut out = alloc::vec![0u8; ulen as usize];
            match lz4_flex::block::decompress_into(&payload[n..], &mut out) {
                Ok(got) if got == out.len() => Ok(out),
                Ok(got) => Err(corrupt(format!(
                    "block decompressed to {got} bytes, expected {ulen}"
                ))),
                Err(e) => Err(corrupt(format!("lz4 decompression failed: {e}"))),
            }
        }
        t => Err(corrupt(format!("unknown compression type {t}"))),
    }
}

/// Statistics of one table, stored in its properties block (postcard-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableProperties {
    /// Number of entries.
    pub num_entries: u64,
    /// Number of tombstones (kind [`crate::key::Kind::Delete`]).
    pub num_tombstones: u64,
    /// Smallest internal key (empty for an empty table).
    pub smallest_key: Vec<u8>,
    /// Largest internal key (empty for an empty table).
    pub largest_key: Vec<u8>,
    /// Smallest sequence number (0 for an empty table).
    pub min_seq: u64,
    /// Largest sequence number (0 for an empty table).
    pub max_seq: u64,
    /// Sum of internal key lengths.
    pub raw_key_bytes: u64,
    /// Sum of value lengths.
    pub raw_value_bytes: u64,
    /// Number of data blocks.
    pub num_data_blocks: u64,
    /// Bytes of data blocks on disk, trailers included.
    pub data_bytes: u64,
    /// Bytes of the index block on disk, trailer included.
    pub index_bytes: u64,
    /// Bytes of filter blocks on disk, trailers included.
    pub filter_bytes: u64,
    /// Size of the whole table file.
    pub file_size: u64,
    /// The key prefix length of the prefix filter, if the table has one.
    pub prefix_len: Option<u64>,
    /// Number of range tombstones in the range-deletion block (format version 2).
    pub num_range_deletions: u64,
    /// The range-deletion block, if the table has range tombstones (format version 2).
    pub range_del_block: Option<(u64, u64)>,
}

/// The properties of a format version 1 table (no range deletions).
#[derive(Deserialize)]
struct TablePropertiesV1 {
    num_entries: u64,
    num_tombstones: u64,
    smallest_key: Vec<u8>,
    largest_key: Vec<u8>,
    min_seq: u64,
    max_seq: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    num_data_blocks: u64,
    data_bytes: u64,
    index_bytes: u64,
    filter_bytes: u64,
    file_size: u64,
    prefix_len: Option<u64>,
}

impl From<TablePropertiesV1> for TableProperties {
    fn from(p: TablePropertiesV1) -> Self {
        TableProperties {
            num_entries: p.num_entries,
            num_tombstones: p.num_tombstones,
            smallest_key: p.smallest_key,
            largest_key: p.largest_key,
            min_seq: p.min_seq,
            max_seq: p.max_seq,
            raw_key_bytes: p.raw_key_bytes,
            raw_value_bytes: p.raw_value_bytes,
            num_data_blocks: p.num_data_blocks,
            data_bytes: p.data_bytes,
            index_bytes: p.index_bytes,
            filter_bytes: p.filter_bytes,
            file_size: p.file_size,
            prefix_len: p.prefix_len,
            num_range_deletions: 0,
            range_del_block: None,
        }
    }
}

impl TableProperties {
    /// Encodes with postcard.
    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(self)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode table properties: {e}")))
    }

    /// Decodes with postcard, as written by table format `version`; trailing bytes are
    /// rejected.
    pub fn decode(
        buf: &[u8],
        file_number: u64,
        offset: u64,
        version: u32,
    ) -> Result<TableProperties> {
        let r = if version == 1 {
            postcard::take_from_bytes::<TablePropertiesV1>(buf).map(|(p, rest)| (p.into(), rest))
        } else {
            postcard::take_from_bytes::<TableProperties>(buf)
        };
        match r {
            Ok((p, [])) => Ok(p),
            Ok(_) => Err(Error::corruption(
                crate::filename::table(file_number),
                Some(offset),
                "trailing bytes after table properties",
            )),
            Err(e) => Err(Error::corruption(
                crate::filename::table(file_number),
                Some(offset),
                format!("bad table properties: {e}"),
            )),
        }
    }
}
