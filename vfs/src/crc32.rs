//! CRC-32 (IEEE 802.3, the "ISO-HDLC" CRC that zlib and `crc32fast` compute): the checksum of
//! every WAL and manifest record, table block, file header and current pointer.
//!
//! One function, two implementations with identical results:
//! - natively, [`crc32fast`] (hardware-accelerated where the CPU allows);
//! - on `wasm32` (browser and WASI), the `crc` crate's slice-by-16 table, computed once at
//!   first use. `crc32fast`'s portable fallback is also slice-by-16, but its 16 KiB table is a
//!   constant in the binary, and random-looking bytes do not compress: it cost 16 KiB of the
//!   gzipped browser bundle. Computing the table at run time costs 16 KiB of memory and a few
//!   microseconds once.
//!
//! The test below checks the two against each other on every length up to 600 bytes and on
//! split updates.

/// CRC-32 of `data`.
#[inline]
pub fn hash(data: &[u8]) -> u32 {
    let mut h = Hasher::new();
    h.update(data);
    h.finalize()
}

/// An incremental CRC-32: `update` with every part, then `finalize`.
#[derive(Clone)]
pub struct Hasher(imp::Inner);

impl Hasher {
    /// A hasher over no bytes yet.
    #[inline]
    pub fn new() -> Self {
        Hasher(imp::new())
    }

    /// Adds `data`.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        imp::update(&mut self.0, data)
    }

    /// The CRC-32 of everything added.
    #[inline]
    pub fn finalize(self) -> u32 {
        imp::finalize(self.0)
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl core::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("crc32::Hasher")
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub type Inner = crc32fast::Hasher;

    #[inline]
    pub fn new() -> Inner {
        crc32fast::Hasher::new()
    }

    #[inline]
    pub fn update(h: &mut Inner, data: &[u8]) {
        h.update(data)
    }

    #[inline]
    pub fn finalize(h: Inner) -> u32 {
        h.finalize()
    }
}

#[cfg(any(target_arch = "wasm32", test))]
mod table {
    use crc::{Crc, Table, CRC_32_ISO_HDLC};

    /// The slice-by-16 tables, built on first use (not a constant in the binary).
    static CRC: spin::Once<Crc<u32, Table<16>>> = spin::Once::new();

    pub fn crc() -> &'static Crc<u32, Table<16>> {
        CRC.call_once(|| Crc::<u32, Table<16>>::new(&CRC_32_ISO_HDLC))
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    pub type Inner = crc::Digest<'static, u32, crc::Table<16>>;

    #[inline]
    pub fn new() -> Inner {
        super::table::crc().digest()
    }

    #[inline]
    pub fn update(h: &mut Inner, data: &[u8]) {
        h.update(data)
    }

    #[inline]
    pub fn finalize(h: Inner) -> u32 {
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    #[test]
    fn the_table_implementation_equals_crc32fast() {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let d = &data[..len];
            let want = crc32fast::hash(d);
            assert_eq!(super::table::crc().checksum(d), want, "length {len}");
            assert_eq!(super::hash(d), want, "length {len}");
            let mut dg = super::table::crc().digest();
            let (a, b) = d.split_at(len / 3);
            dg.update(a);
            dg.update(b);
            assert_eq!(dg.finalize(), want, "split at {}", len / 3);
        }
        assert_eq!(super::hash(b"123456789"), 0xCBF4_3926);
    }
}
