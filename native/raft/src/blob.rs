//! The byte format of a state-machine snapshot as it travels between nodes (see
//! `docs/FORMAT-raft.md`): a magic, then `(u32 key length, key, u32 value length, value)`
//! records in ascending key order, then the record count (u64) and a CRC-32 of everything
//! before it. All integers little-endian.

use crate::error::{Error, Result};

pub(crate) const MAGIC: &[u8; 8] = b"CRNRSNP1";
const TRAILER: usize = 8 + 4;

/// Builds a snapshot blob.
pub(crate) struct BlobWriter {
    buf: Vec<u8>,
    count: u64,
}

impl BlobWriter {
    pub(crate) fn new() -> Self {
        BlobWriter {
            buf: MAGIC.to_vec(),
            count: 0,
        }
    }

    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let (Ok(kl), Ok(vl)) = (u32::try_from(key.len()), u32::try_from(value.len())) else {
            return Err(Error::InvalidRequest(
                "entry too large for a snapshot".into(),
            ));
        };
        self.buf.extend_from_slice(&kl.to_le_bytes());
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(&vl.to_le_bytes());
        self.buf.extend_from_slice(value);
        self.count += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&self.count.to_le_bytes());
        let crc = crc32fast::hash(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Checks a blob's magic, checksum, record framing, count and key order; returns an iterator
/// over its records.
pub(crate) fn parse(blob: &[u8]) -> Result<BlobIter<'_>> {
    let bad = |why: &str| Error::BadSnapshot(why.to_string());
    if blob.len() < MAGIC.len() + TRAILER || &blob[..MAGIC.len()] != MAGIC {
        return Err(bad("not a cairn-raft snapshot (magic)"));
    }
    let (body, crc) = blob.split_at(blob.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| bad("short trailer"))?);
    if crc32fast::hash(body) != crc {
        return Err(bad("checksum mismatch"));
    }
    let (records, count) = body.split_at(body.len() - 8);
    let count = u64::from_le_bytes(count.try_into().map_err(|_| bad("short trailer"))?);
    let it = BlobIter {
        rest: &records[MAGIC.len()..],
    };
    // Validate framing and order up front, so that installing never starts on a bad blob.
    let mut n = 0u64;
    let mut prev: Option<&[u8]> = None;
    for r in it.clone() {
        let (k, _) = r?;
        if prev.is_some_and(|p| p >= k) {
            return Err(bad("keys out of order"));
        }
        prev = Some(k);
        n += 1;
    }
    if n != count {
        return Err(bad("record count mismatch"));
    }
    Ok(it)
}

/// Records of a parsed blob.
#[derive(Clone)]
pub(crate) struct BlobIter<'a> {
    rest: &'a [u8],
}

impl<'a> BlobIter<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::BadSnapshot("truncated record".into()));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    fn take_len(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a) as usize)
    }

    fn record(&mut self) -> Result<(&'a [u8], &'a [u8])> {
        let kl = self.take_len()?;
        let k = self.take(kl)?;
        let vl = self.take_len()?;
        let v = self.take(vl)?;
        Ok((k, v))
    }
}

impl<'a> Iterator for BlobIter<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.record();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut w = BlobWriter::new();
        for (k, v) in entries {
            w.add(k, v).unwrap();
        }
        w.finish()
    }

    #[test]
    fn round_trip() {
        let b = blob(&[(b"a", b"1"), (b"b", b""), (b"c", b"333")]);
        let got: Vec<_> = parse(&b).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(
            got,
            vec![(&b"a"[..], &b"1"[..]), (b"b", b""), (b"c", b"333")]
        );
        assert_eq!(parse(&blob(&[])).unwrap().count(), 0);
    }

    #[test]
    fn every_bit_flip_and_truncation_is_rejected() {
        let b = blob(&[(b"key", b"value"), (b"other", b"x")]);
        for i in 0..b.len() * 8 {
            let mut c = b.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(parse(&c).is_err(), "flip of bit {i} accepted");
        }
        for n in 0..b.len() {
            assert!(parse(&b[..n]).is_err(), "truncation to {n} accepted");
        }
    }

    #[test]
    fn out_of_order_keys_are_rejected() {
        let b = blob(&[(b"b", b"1"), (b"a", b"2")]);
        assert!(matches!(parse(&b), Err(Error::BadSnapshot(_))));
    }
}
