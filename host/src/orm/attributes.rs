//! Attribute bookkeeping: which attributes hold a value, which changed, and their history.

/// A set of attribute indices; one word inline, more words (boxed, so that the common case
/// costs 16 bytes per object) for models of more than 64 columns.
#[derive(Clone, Debug, Default)]
pub struct AttrSet {
    word: u64,
    // boxed on purpose: 8 bytes per object instead of a Vec's 24
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u64>>>,
}

impl PartialEq for AttrSet {
    fn eq(&self, other: &AttrSet) -> bool {
        let (a, b) = (self.words_more(), other.words_more());
        let n = a.len().max(b.len());
        self.word == other.word
            && (0..n).all(|i| a.get(i).copied().unwrap_or(0) == b.get(i).copied().unwrap_or(0))
    }
}
impl Eq for AttrSet {}

impl AttrSet {
    #[inline]
    fn words_more(&self) -> &[u64] {
        self.more.as_deref().map(|v| v.as_slice()).unwrap_or(&[])
    }
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        if i < 64 {
            self.word & (1 << i) != 0
        } else {
            self.words_more()
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
            let more = self.more.get_or_insert_with(Default::default);
            if more.len() <= w {
                more.resize(w + 1, 0);
            }
            more[w] |= 1 << (i % 64);
        }
    }
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if i < 64 {
            self.word &= !(1 << i)
        } else if let Some(w) = self.more.as_mut().and_then(|m| m.get_mut(i / 64 - 1)) {
            *w &= !(1 << (i % 64));
        }
    }
    pub fn clear(&mut self) {
        self.word = 0;
        self.more = None;
    }
    pub fn is_empty(&self) -> bool {
        self.word == 0 && self.words_more().iter().all(|w| *w == 0)
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
            .chain(self.words_more().iter().copied())
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
        let more: u32 = self.words_more().iter().map(|w| w.count_ones()).sum();
        (self.word.count_ones() + more) as usize
    }
}

/// The attributes changed since the last flush, each with the value it had then (`None`: it
/// was not loaded, so the change is always written). Boxed: most objects have none, and then
/// this costs 8 bytes.
#[derive(Clone, Debug, Default)]
#[allow(clippy::box_collection)] // 8 bytes per object instead of a Vec's 24
pub struct Changes(Option<Box<Vec<Change>>>);

/// An attribute index and its value at the last flush.
pub type Change = (usize, Option<crate::value::Value>);

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|v| v.is_empty())
    }
    pub fn clear(&mut self) {
        self.0 = None;
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Change> {
        self.0
            .as_deref()
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
    }
    pub fn push(&mut self, change: Change) {
        self.0.get_or_insert_with(Default::default).push(change);
    }
    pub fn retain(&mut self, f: impl FnMut(&Change) -> bool) {
        if let Some(v) = self.0.as_mut() {
            v.retain(f);
        }
    }
}

impl<'a> IntoIterator for &'a Changes {
    type Item = &'a Change;
    type IntoIter = std::slice::Iter<'a, Change>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
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
