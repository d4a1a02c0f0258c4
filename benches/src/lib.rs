//! Cairn's benchmark harness: a db_bench-style comparison against RocksDB, fjall, redb and
//! sled (peers behind cargo features), an allocation counter, a probe of the machine's
//! storage limits, and a report writer (Markdown + SVG plots).
//!
//! The criterion micro-benchmarks live in `benches/micro.rs`.

pub mod alloc_count;
pub mod engines;
pub mod measure;
pub mod report;
pub mod run;
pub mod svg;
pub mod workload;
