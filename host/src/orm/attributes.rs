//! Attribute bookkeeping: which attributes hold a value, which changed, and their history.

/// A set of attribute indices; one word inline, more words for wide models.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrSet {
    word: u64,
    more: Vec<u64>,
}

impl AttrSet {
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        if i < 64 {
            self.word & (1 << i) != 0
        } else {
            self.more
                .get(i / 64 - 1)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
        }
    }
    #[inline]
    pub fn insert(&mut self, i: usize) {
        if i < 64 {
            self.word |= 1 << i
        } else {
            let w = i / 64 - 1;
            if self.more.len() <= w {
                self.more.resize(w + 1, 0);
            }
            self.more[w] |= 1 << (i % 64);
        }
    }
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if i < 64 {
            self.word &= !(1 << i)
        } else if let Some(w) = self.more.get_mut(i / 64 - 1) {
            *w &= !(1 << (i % 64));
        }
    }
    pub fn clear(&mut self) {
        self.word = 0;
        self.more.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.word == 0 && self.more.iter().all(|w| *w == 0)
    }
    /// The set with the first `n` indices.
    pub fn all(n: usize) -> AttrSet {
        let mut s = AttrSet::default();
        if n >= 64 {
            s.word = u64::MAX;
            for i in 64..n {
                s.insert(i);
            }
        } else {
            s.word = (1u64 << n) - 1;
        }
        s
    }
    /// The indices in the set, in increasing order (one step per member, not per bit).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.word)
            .chain(self.more.iter().copied())
            .enumerate()
            .flat_map(|(w, mut bits)| {
                std::iter::from_fn(move || {
                    (bits != 0).then(|| {
                        let b = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        w * 64 + b
                    })
                })
            })
    }
    pub fn len(&self) -> usize {
        (self.word.count_ones() + self.more.iter().map(|w| w.count_ones()).sum::<u32>()) as usize
    }
}

/// SQLAlchemy's attribute history: `added`, `unchanged`, `deleted`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History<V> {
    pub added: Vec<V>,
    pub unchanged: Vec<V>,
    pub deleted: Vec<V>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_set_grows_past_one_word() {
        let mut s = AttrSet::default();
        s.insert(3);
        s.insert(70);
        assert!(s.contains(3) && s.contains(70) && !s.contains(4));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![3, 70]);
        s.remove(70);
        s.remove(3);
        assert!(s.is_empty());
        assert_eq!(AttrSet::all(65).iter().count(), 65);
    }
}
