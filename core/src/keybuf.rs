//! `KeyBuf`: a key buffer that holds short keys inline and spills longer ones to the heap, so
//! that a point lookup with ordinary keys (up to [`INLINE`] bytes, trailer included) allocates
//! nothing but the value it returns.

use alloc::vec::Vec;

/// Keys up to this many bytes live inline.
pub const INLINE: usize = 64;

/// A growable byte buffer with inline storage for short contents.
#[derive(Clone)]
pub struct KeyBuf {
    inline: [u8; INLINE],
    len: usize,
    heap: Option<Vec<u8>>,
}

impl Default for KeyBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyBuf").field("len", &self.len()).finish()
    }
}

impl KeyBuf {
    /// An empty buffer.
    pub const fn new() -> Self {
        KeyBuf {
            inline: [0; INLINE],
            len: 0,
            heap: None,
        }
    }

    /// The contents.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v,
            None => &self.inline[..self.len],
        }
    }

    /// Length of the contents.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.heap {
            Some(v) => v.len(),
            None => self.len,
        }
    }

    /// Empties the buffer (a spilled buffer keeps its heap allocation).
    #[inline]
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Shortens the contents to `n` bytes (no effect if already shorter).
    #[inline]
    pub fn truncate(&mut self, n: usize) {
        match &mut self.heap {
            Some(v) => v.truncate(n),
            None => self.len = self.len.min(n),
        }
    }

    /// Appends `bytes`, spilling to the heap once the contents outgrow the inline storage.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.heap {
            Some(v) => v.extend_from_slice(bytes),
            None => {
                let end = self.len + bytes.len();
                if end <= INLINE {
                    self.inline[self.len..end].copy_from_slice(bytes);
                    self.len = end;
                } else {
                    let mut v = Vec::with_capacity(end.max(2 * INLINE));
                    v.extend_from_slice(&self.inline[..self.len]);
                    v.extend_from_slice(bytes);
                    self.heap = Some(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_spilled_contents_behave_like_a_vec() {
        let mut k = KeyBuf::new();
        let mut model: Vec<u8> = Vec::new();
        for step in 0..200u32 {
            let piece: Vec<u8> = (0..(step % 23) as u8).collect();
            if step % 5 == 0 {
                let n = (step as usize * 7) % (model.len() + 1);
                k.truncate(n);
                model.truncate(n);
            }
            k.extend_from_slice(&piece);
            model.extend_from_slice(&piece);
            assert_eq!(k.as_slice(), &model[..]);
            assert_eq!(k.len(), model.len());
            if step % 50 == 49 {
                k.clear();
                model.clear();
                assert_eq!(k.len(), 0);
            }
        }
    }
}
