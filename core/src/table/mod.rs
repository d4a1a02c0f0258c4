//! SSTables: immutable sorted files of internal keys and values.
//!
//! A table is a sequence of blocks followed by a fixed-size footer:
//!
//! ```text
//! data block 0 .. data block n-1
//! filter block        (optional: whole-key bloom over user keys)
//! prefix filter block (optional: bloom over user-key prefixes)
//! index block         (separator key -> data block handle)
//! properties block    (postcard-encoded TableProperties)
//! footer              (80 bytes: handles, CRC32, format version, magic "CAIRNSST")
//! ```
//!
//! Every block is stored as `contents ++ compression_type(u8) ++ crc32(contents ++ type)`.
//! The byte-level description is in `docs/FORMAT-sstable.md`.
//!
//! Modules: [`block`] (the block format, [`BlockBuilder`], [`Block`], [`BlockIter`]),
//! [`bloom`] (bloom filters), [`format`] (block handles, block trailer, footer,
//! [`TableProperties`]), [`builder`] ([`TableBuilder`]) and [`reader`] ([`Table`] and its
//! [`TableIter`]).

pub mod block;
pub mod bloom;
pub mod builder;
pub mod format;
pub mod reader;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

pub use block::{Block, BlockBuilder, BlockIter};
pub use bloom::BloomFilter;
pub use builder::{TableBuilder, TableOptions};
pub use format::{BlockHandle, Footer, TableProperties};
pub use reader::{Table, TableIter, VerifyReport};
