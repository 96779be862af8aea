//! Connections by index (their poll token): a vector with a free list, so the event loop finds a connection from
//! its token without hashing. An index is reused after its connection closes; a stale readiness event for it is
//! harmless, because every read and write stops at `WouldBlock`.
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    /// Indexes in use, including one whose item is taken out for a while.
    used: usize,
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab { items: Vec::new(), free: Vec::new(), used: 0 }
    }

    pub fn len(&self) -> usize {
        self.used
    }

    /// The index the next [`Slab::insert`] will use.
    pub fn vacant(&self) -> usize {
        self.free.last().copied().unwrap_or(self.items.len())
    }

    pub fn insert(&mut self, item: T) -> usize {
        self.used += 1;
        match self.free.pop() {
            Some(index) => {
                self.items[index] = Some(item);
                index
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        }
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.items.get_mut(index).and_then(Option::as_mut)
    }

    pub fn remove(&mut self, index: usize) -> Option<T> {
        let item = self.items.get_mut(index).and_then(Option::take);
        if item.is_some() {
            self.release(index);
        }
        item
    }

    /// Takes the item out while keeping its index: give it back with [`Slab::put`] or free it with
    /// [`Slab::release`].
    pub fn take(&mut self, index: usize) -> Option<T> {
        self.items.get_mut(index).and_then(Option::take)
    }

    pub fn put(&mut self, index: usize, item: T) {
        self.items[index] = Some(item);
    }

    pub fn release(&mut self, index: usize) {
        self.used -= 1;
        self.free.push(index);
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items.iter().enumerate().filter_map(|(i, item)| item.as_ref().map(|item| (i, item)))
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn indexes_are_reused_after_release_and_kept_while_taken() {
        let mut slab = Slab::new();
        let (a, b) = (slab.insert("a"), slab.insert("b"));
        assert_eq!(slab.take(a), Some("a"));
        assert_eq!((slab.len(), slab.vacant()), (2, 2)); // a taken item keeps its index
        slab.put(a, "a2");
        assert_eq!(slab.remove(b), Some("b"));
        assert_eq!((slab.len(), slab.vacant(), slab.insert("c")), (1, b, b));
        assert_eq!(slab.iter().map(|(_, v)| *v).collect::<Vec<_>>(), ["a2", "c"]);
    }
}
