//! Shared by the fuzz targets: real files made by the engine, used as the base that an input
//! is XORed onto (so mutations reach deep into valid structures), or the input used raw.
#![allow(dead_code)]

use cairn_core::db::Db;
use cairn_core::{Options, WriteOptions};
use cairn_vfs::{File, MemVfs, Vfs};
use std::sync::OnceLock;

pub struct Samples {
    pub wal: Vec<u8>,
    /// A WAL of synced writes ended by a clean close (format version 2 close marker).
    pub wal_closed: Vec<u8>,
    pub sst: Vec<u8>,
    pub manifest: Vec<u8>,
}

pub fn samples() -> &'static Samples {
    static S: OnceLock<Samples> = OnceLock::new();
    S.get_or_init(|| {
        let vfs = MemVfs::new();
        let opts = Options::default()
            .write_buffer_size(4096)
            .block_size(256)
            .block_restart_interval(4);
        let mut db = Db::open(vfs.clone(), opts).expect("open");
        for i in 0..60u32 {
            let k = format!("key{i:03}");
            db.put(
                k.as_bytes(),
                format!("value-{i}-{}", "x".repeat((i % 9) as usize)).as_bytes(),
                WriteOptions::NO_SYNC,
            )
            .expect("put");
            if i % 7 == 0 {
                db.delete(format!("key{:03}", i / 2).as_bytes(), WriteOptions::NO_SYNC)
                    .expect("delete");
            }
        }
        db.flush().expect("flush");
        for i in 0..10u32 {
            db.put(format!("late{i}").as_bytes(), b"v", WriteOptions::NO_SYNC)
                .expect("put");
        }
        let closed = MemVfs::new();
        {
            let mut db = Db::open(closed.clone(), Options::default()).expect("open");
            for i in 0..12u32 {
                db.put(format!("c{i}").as_bytes(), &[b'v'; 20], WriteOptions::SYNC)
                    .expect("put");
            }
            db.close().expect("close");
        }
        let wal_closed = closed
            .list()
            .expect("list")
            .into_iter()
            .filter(|n| n.ends_with(".wal"))
            .map(|n| closed.open(&n).expect("open").read_all().expect("read"))
            .max_by_key(|b| b.len())
            .expect("a WAL");
        let mut s = Samples {
            wal: Vec::new(),
            wal_closed,
            sst: Vec::new(),
            manifest: Vec::new(),
        };
        for name in vfs.list().expect("list") {
            let bytes = vfs.open(&name).expect("open").read_all().expect("read");
            if name.ends_with(".wal") && bytes.len() > s.wal.len() {
                s.wal = bytes;
            } else if name.ends_with(".sst") && bytes.len() > s.sst.len() {
                s.sst = bytes;
            } else if name.starts_with("MANIFEST-") {
                s.manifest = bytes;
            }
        }
        s
    })
}

/// First input byte even: the rest of the input is the file. Odd: the rest is XORed onto
/// `base` (and may extend or, via the second byte, truncate it).
pub fn file_bytes(data: &[u8], base: &[u8]) -> Vec<u8> {
    match data.split_first() {
        None => Vec::new(),
        Some((&flag, rest)) if flag & 1 == 0 => rest.to_vec(),
        Some((&flag, rest)) => {
            let mut out = base.to_vec();
            for (i, b) in rest.iter().enumerate() {
                if i < out.len() {
                    out[i] ^= b;
                } else {
                    out.push(*b);
                }
            }
            if flag & 2 != 0 {
                let cut = rest.first().copied().unwrap_or(0) as usize * 7;
                out.truncate(out.len().saturating_sub(cut));
            }
            out
        }
    }
}

pub fn mem_file(bytes: Vec<u8>) -> std::sync::Arc<<MemVfs as Vfs>::File> {
    let vfs = MemVfs::new();
    vfs.put_file("000001.x", bytes);
    vfs.open("000001.x").expect("open")
}
