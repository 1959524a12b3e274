//! Attribute bookkeeping: which attributes hold a value, which changed, and their history.

/// A set of attribute indices in one word (8 bytes per set: every instance has two):
/// indices 0 to 62 are its bits; a set holding a larger index (a model of more than 63
/// columns) keeps all its bits in a boxed vector, and the word is then the box's address
/// with the top bit set.
#[derive(Default)]
pub struct AttrSet(u64);

/// The top bit of `AttrSet`'s word: the rest is the address of a `Box<Vec<u64>>`.
const BOXED: u64 = 1 << 63;
/// Indices below this fit in the word itself.
const INLINE: usize = 63;

impl AttrSet {
    /// The set's bits, index `i` being bit `i % 64` of word `i / 64`.
    #[inline]
    fn words(&self) -> &[u64] {
        match self.boxed() {
            Some(v) => v.as_slice(),
            None => std::slice::from_ref(&self.0),
        }
    }
    #[inline]
    fn boxed(&self) -> Option<&Vec<u64>> {
        // SAFETY: with the top bit set, the word is a `Box<Vec<u64>>` this set owns
        (self.0 & BOXED != 0).then(|| unsafe { &*((self.0 & !BOXED) as usize as *const Vec<u64>) })
    }
    #[inline]
    fn boxed_mut(&mut self) -> Option<&mut Vec<u64>> {
        // SAFETY: as `boxed`, borrowed mutably through `self`
        (self.0 & BOXED != 0)
            .then(|| unsafe { &mut *((self.0 & !BOXED) as usize as *mut Vec<u64>) })
    }
    /// The set as a boxed vector of words (made so the first time an index is past the word).
    fn make_boxed(&mut self) -> &mut Vec<u64> {
        if self.0 & BOXED == 0 {
            let p = Box::into_raw(Box::new(vec![self.0])) as usize as u64;
            assert!(p & BOXED == 0, "an address with its top bit set");
            self.0 = p | BOXED;
        }
        self.boxed_mut().expect("boxed")
    }
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        if self.0 & BOXED == 0 {
            i < INLINE && self.0 & (1 << i) != 0
        } else {
            self.words()
                .get(i / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
        }
    }
    #[inline]
    pub fn insert(&mut self, i: usize) {
        if i < INLINE && self.0 & BOXED == 0 {
            self.0 |= 1 << i
        } else {
            let more = self.make_boxed();
            if more.len() <= i / 64 {
                more.resize(i / 64 + 1, 0);
            }
            more[i / 64] |= 1 << (i % 64);
        }
    }
    #[inline]
    pub fn remove(&mut self, i: usize) {
        if self.0 & BOXED == 0 {
            if i < INLINE {
                self.0 &= !(1 << i)
            }
        } else if let Some(w) = self.boxed_mut().and_then(|m| m.get_mut(i / 64)) {
            *w &= !(1 << (i % 64));
        }
    }
    pub fn clear(&mut self) {
        *self = AttrSet::default();
    }
    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|w| *w == 0)
    }
    /// The set with the first `n` indices.
    pub fn all(n: usize) -> AttrSet {
        let mut s = AttrSet::default();
        if n <= INLINE {
            s.0 = (1u64 << n) - 1;
        } else {
            let words = s.make_boxed();
            words.clear();
            words.resize(n / 64, u64::MAX);
            if !n.is_multiple_of(64) {
                words.push((1u64 << (n % 64)) - 1);
            }
        }
        s
    }
    /// The indices in the set, in increasing order (one step per member, not per bit).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words()
            .iter()
            .copied()
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
        self.words().iter().map(|w| w.count_ones() as usize).sum()
    }
}

impl Drop for AttrSet {
    fn drop(&mut self) {
        if self.0 & BOXED != 0 {
            // SAFETY: the box this set owns, dropped once
            drop(unsafe { Box::from_raw((self.0 & !BOXED) as usize as *mut Vec<u64>) });
        }
    }
}

impl Clone for AttrSet {
    fn clone(&self) -> AttrSet {
        match self.boxed() {
            None => AttrSet(self.0),
            Some(v) => {
                let mut s = AttrSet::default();
                *s.make_boxed() = v.clone();
                s
            }
        }
    }
}

impl std::fmt::Debug for AttrSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl PartialEq for AttrSet {
    fn eq(&self, other: &AttrSet) -> bool {
        let (a, b) = (self.words(), other.words());
        (0..a.len().max(b.len()))
            .all(|i| a.get(i).copied().unwrap_or(0) == b.get(i).copied().unwrap_or(0))
    }
}
impl Eq for AttrSet {}

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

    #[test]
    fn attr_set_is_one_word_and_boxes_past_62() {
        assert_eq!(std::mem::size_of::<AttrSet>(), 8);
        for n in [0, 1, 62, 63, 64, 65, 127, 128, 130] {
            let all = AttrSet::all(n);
            assert_eq!(
                all.iter().collect::<Vec<_>>(),
                (0..n).collect::<Vec<_>>(),
                "{n}"
            );
            assert_eq!(all.len(), n);
            let mut built = AttrSet::default();
            (0..n).for_each(|i| built.insert(i));
            assert_eq!(built, all, "{n}");
            assert_eq!(all.clone(), all);
            assert!((0..n).all(|i| all.contains(i)) && !all.contains(n) && !all.contains(n + 64));
        }
        let mut s = AttrSet::default();
        s.insert(62);
        assert!(s.contains(62) && !s.contains(63));
        s.insert(63); // boxes, keeping 62
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![62, 63]);
        let c = s.clone();
        s.remove(62);
        s.remove(63);
        assert!(s.is_empty() && s == AttrSet::default() && c.len() == 2);
        s.remove(200);
        s.clear();
        assert!(s.is_empty() && !s.contains(1));
        assert_eq!(format!("{c:?}"), "{62, 63}");
    }
}
