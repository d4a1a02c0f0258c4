//! The internal iterator every source of entries implements (memtable, SSTable block, SSTable,
//! level, merge), and the merging iterator that combines them.
//!
//! Keys are internal keys (see [`crate::key`]) ordered by [`crate::key::compare`]. An iterator
//! is positioned on one entry or is not valid. Positioning methods return `Err` on I/O or
//! corruption; after an error the iterator is not valid.

use crate::error::Result;

/// A positioned cursor over internal-key-ordered entries.
pub trait InternalIterator {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions on the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions on the first entry with key >= `target` (internal key order).
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Positions on the last entry with key <= `target` (internal key order).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the next entry. Requires `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry. Requires `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// The current internal key. Requires `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. Requires `valid()`.
    fn value(&self) -> &[u8];
}

impl<I: InternalIterator + ?Sized> InternalIterator for alloc::boxed::Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek(target)
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek_for_prev(target)
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
}

/// Merges several internal iterators into one ordered stream, in one direction at a time.
///
/// Children are kept in a small binary heap by current key (min-heap going forward, max-heap
/// going backward). Changing direction re-seeks every child around the current key, as
/// LevelDB's merging iterator does. Equal internal keys never occur across children (each
/// sequence number is unique).
pub struct MergingIterator<'a> {
    children: alloc::vec::Vec<alloc::boxed::Box<dyn InternalIterator + 'a>>,
    /// Indices of valid children, heap-ordered.
    heap: alloc::vec::Vec<usize>,
    forward: bool,
}

impl<'a> MergingIterator<'a> {
    /// Merges `children`. The result is not positioned until a seek.
    pub fn new(children: alloc::vec::Vec<alloc::boxed::Box<dyn InternalIterator + 'a>>) -> Self {
        MergingIterator {
            heap: alloc::vec::Vec::with_capacity(children.len()),
            children,
            forward: true,
        }
    }

    fn before(&self, a: usize, b: usize) -> bool {
        let o = crate::key::compare(self.children[a].key(), self.children[b].key());
        if self.forward {
            o == core::cmp::Ordering::Less
        } else {
            o == core::cmp::Ordering::Greater
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let mut best = l;
            if r < n && self.before(self.heap[r], self.heap[l]) {
                best = r;
            }
            if self.before(self.heap[best], self.heap[i]) {
                self.heap.swap(best, i);
                i = best;
            } else {
                break;
            }
        }
    }

    fn rebuild(&mut self) {
        self.heap.clear();
        for i in 0..self.children.len() {
            if self.children[i].valid() {
                self.heap.push(i);
            }
        }
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    /// After the top child moved: drop it if exhausted, else restore heap order.
    fn fix_top(&mut self) {
        if self.heap.is_empty() {
            return;
        }
        if !self.children[self.heap[0]].valid() {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
        }
        self.sift_down(0);
    }
}

impl InternalIterator for MergingIterator<'_> {
    fn valid(&self) -> bool {
        !self.heap.is_empty()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        for c in self.children.iter_mut() {
            c.seek_to_first()?;
        }
        self.forward = true;
        self.rebuild();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        for c in self.children.iter_mut() {
            c.seek_to_last()?;
        }
        self.forward = false;
        self.rebuild();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        for c in self.children.iter_mut() {
            c.seek(target)?;
        }
        self.forward = true;
        self.rebuild();
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        for c in self.children.iter_mut() {
            c.seek_for_prev(target)?;
        }
        self.forward = false;
        self.rebuild();
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.forward {
            // Every other child goes to its first entry after the current key.
            let cur = self.heap[0];
            let key = alloc::vec::Vec::from(self.children[cur].key());
            for i in 0..self.children.len() {
                if i != cur {
                    let c = &mut self.children[i];
                    c.seek(&key)?;
                    if c.valid() && crate::key::compare(c.key(), &key) == core::cmp::Ordering::Equal
                    {
                        c.next()?;
                    }
                }
            }
            self.forward = true;
            self.children[cur].next()?;
            self.rebuild();
            return Ok(());
        }
        let top = self.heap[0];
        self.children[top].next()?;
        self.fix_top();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if self.forward {
            let cur = self.heap[0];
            let key = alloc::vec::Vec::from(self.children[cur].key());
            for i in 0..self.children.len() {
                if i != cur {
                    self.children[i].seek_for_prev(&key)?;
                }
            }
            self.forward = false;
            self.children[cur].prev()?;
            self.rebuild();
            return Ok(());
        }
        let top = self.heap[0];
        self.children[top].prev()?;
        self.fix_top();
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.children[self.heap[0]].key()
    }

    fn value(&self) -> &[u8] {
        self.children[self.heap[0]].value()
    }
}

/// An iterator over nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyIterator;

impl InternalIterator for EmptyIterator {
    fn valid(&self) -> bool {
        false
    }
    fn seek_to_first(&mut self) -> Result<()> {
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        Ok(())
    }
    fn seek(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn seek_for_prev(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        Ok(())
    }
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
}
