//! The identity map's key: the mapper and the primary key values of a row.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use std::rc::Rc;

use super::instance::Instance;
use crate::value::Value;

/// A row's identity: its mapper's identity id and its primary key. 16 bytes, so that the
/// key each persistent object keeps costs it no more than two words: an integer key in
/// place, any other key (composite, text, ...) boxed once more, the box's fat pointer
/// behind a thin one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdentityKey {
    Int {
        mapper: u32,
        id: i64,
    },
    #[allow(clippy::box_collection)]
    Other {
        mapper: u32,
        values: Box<Box<[Value]>>,
    },
}

impl IdentityKey {
    /// `None` when a primary key value is NULL (an unloaded row of an outer join).
    pub fn new(mapper: u32, values: &[Value]) -> Option<IdentityKey> {
        if let [Value::Integer(i)] = values {
            return Some(IdentityKey::Int { mapper, id: *i });
        }
        if values.iter().any(Value::is_null) {
            return None;
        }
        // integral reals key like integers: get(User, 1.0) finds id 1
        if let [Value::Real(r)] = values {
            if r.fract() == 0.0 {
                return Some(IdentityKey::Int {
                    mapper,
                    id: *r as i64,
                });
            }
        }
        Some(IdentityKey::Other {
            mapper,
            values: Box::new(values.into()),
        })
    }

    /// The key of an integer primary key.
    /// The order of SQLAlchemy's `_sort_states` for persistent objects: by primary key
    /// (numbers by value, strings and bytes as such; values of no common order tie).
    pub fn sort_cmp(&self, other: &IdentityKey) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        fn value_cmp(a: &Value, b: &Value) -> Ordering {
            match (a, b) {
                (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
                (Value::Integer(_) | Value::Real(_), Value::Integer(_) | Value::Real(_)) => {
                    let f = |v: &Value| match v {
                        Value::Integer(i) => *i as f64,
                        Value::Real(r) => *r,
                        _ => 0.0,
                    };
                    f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal)
                }
                (Value::Text(_), Value::Text(_)) => a.as_str().cmp(&b.as_str()),
                (Value::Blob(x), Value::Blob(y)) => x.cmp(y),
                _ => Ordering::Equal,
            }
        }
        match (self, other) {
            (IdentityKey::Int { id: a, .. }, IdentityKey::Int { id: b, .. }) => a.cmp(b),
            _ => {
                let (a, b) = (self.values(), other.values());
                a.iter()
                    .zip(&b)
                    .map(|(x, y)| value_cmp(x, y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            }
        }
    }

    pub fn int(mapper: u32, id: i64) -> IdentityKey {
        IdentityKey::Int { mapper, id }
    }

    /// The identity id of the mapper (a hierarchy's classes share their base's).
    pub fn mapper(&self) -> u32 {
        match self {
            IdentityKey::Int { mapper, .. } | IdentityKey::Other { mapper, .. } => *mapper,
        }
    }

    pub fn values(&self) -> Vec<Value> {
        match self {
            IdentityKey::Int { id, .. } => vec![Value::Integer(*id)],
            IdentityKey::Other { values, .. } => values.to_vec(),
        }
    }
}

/// FxHash: the identity map is hashed once per loaded row, so the hasher matters.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuildHasher>;

/// A session's identity map: each persistent object by its identity key. Integer primary
/// keys, the common case, sit in one map of `i64` per mapper (16-byte entries: 100,000
/// loaded rows take 2 MB here, where whole `IdentityKey`s would take 5); other keys in one
/// map by the whole key. The methods are those of a `HashMap<IdentityKey, Rc<Instance>>`.
#[derive(Default)]
pub struct IdentityMap {
    ints: Vec<(u32, FxHashMap<i64, Rc<Instance>>)>,
    others: FxHashMap<IdentityKey, Rc<Instance>>,
}

impl IdentityMap {
    fn ints_of(&self, mapper: u32) -> Option<&FxHashMap<i64, Rc<Instance>>> {
        self.ints.iter().find(|(m, _)| *m == mapper).map(|(_, t)| t)
    }

    fn ints_of_mut(&mut self, mapper: u32) -> Option<&mut FxHashMap<i64, Rc<Instance>>> {
        self.ints
            .iter_mut()
            .find(|(m, _)| *m == mapper)
            .map(|(_, t)| t)
    }

    pub fn get(&self, k: &IdentityKey) -> Option<&Rc<Instance>> {
        match *k {
            IdentityKey::Int { mapper, id } => self.ints_of(mapper)?.get(&id),
            IdentityKey::Other { .. } => self.others.get(k),
        }
    }

    pub fn contains_key(&self, k: &IdentityKey) -> bool {
        self.get(k).is_some()
    }

    pub fn insert(&mut self, k: IdentityKey, v: Rc<Instance>) -> Option<Rc<Instance>> {
        match k {
            IdentityKey::Int { mapper, id } => {
                if let Some(t) = self.ints_of_mut(mapper) {
                    return t.insert(id, v);
                }
                let mut t = FxHashMap::default();
                t.insert(id, v);
                self.ints.push((mapper, t));
                None
            }
            IdentityKey::Other { .. } => self.others.insert(k, v),
        }
    }

    /// Makes room for `additional` more integer keys of `mapper` (a flush's new rows: one
    /// allocation instead of a rehash at each doubling).
    pub fn reserve_ints(&mut self, mapper: u32, additional: usize) {
        match self.ints_of_mut(mapper) {
            Some(t) => t.reserve(additional),
            None => {
                let mut t = FxHashMap::default();
                t.reserve(additional);
                self.ints.push((mapper, t));
            }
        }
    }

    pub fn remove(&mut self, k: &IdentityKey) -> Option<Rc<Instance>> {
        match *k {
            IdentityKey::Int { mapper, id } => self.ints_of_mut(mapper)?.remove(&id),
            IdentityKey::Other { .. } => self.others.remove(k),
        }
    }

    pub fn len(&self) -> usize {
        self.ints.iter().map(|(_, t)| t.len()).sum::<usize>() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.others.is_empty() && self.ints.iter().all(|(_, t)| t.is_empty())
    }

    pub fn values(&self) -> impl Iterator<Item = &Rc<Instance>> {
        self.ints
            .iter()
            .flat_map(|(_, t)| t.values())
            .chain(self.others.values())
    }

    /// Empties the map, yielding each entry.
    pub fn drain(&mut self) -> impl Iterator<Item = (IdentityKey, Rc<Instance>)> + '_ {
        let ints = std::mem::take(&mut self.ints);
        ints.into_iter()
            .flat_map(|(mapper, t)| {
                t.into_iter()
                    .map(move |(id, v)| (IdentityKey::Int { mapper, id }, v))
            })
            .chain(self.others.drain())
    }
}

pub fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            IdentityKey::new(1, &[Value::Integer(5)]),
            IdentityKey::new(1, &[Value::Real(5.0)])
        );
        assert_ne!(
            IdentityKey::new(1, &[Value::Integer(5)]),
            IdentityKey::new(2, &[Value::Integer(5)])
        );
        assert!(IdentityKey::new(1, &[Value::Null]).is_none());
        // what every persistent object keeps
        assert_eq!(std::mem::size_of::<Option<IdentityKey>>(), 16);
        let k = IdentityKey::new(1, &[Value::Integer(1), Value::text("x")]).unwrap();
        assert_eq!(k.values(), vec![Value::Integer(1), Value::text("x")]);
        assert_ne!(
            hash_of(&k),
            hash_of(&IdentityKey::new(1, &[Value::Integer(1), Value::text("y")]).unwrap())
        );
    }
}
