//! The identity map's key: the mapper and the primary key values of a row.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::value::Value;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PkValue {
    Int(i64),
    Other(Box<[Value]>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdentityKey {
    pub mapper: u32,
    pub pk: PkValue,
}

impl IdentityKey {
    /// `None` when a primary key value is NULL (an unloaded row of an outer join).
    pub fn new(mapper: u32, values: &[Value]) -> Option<IdentityKey> {
        if let [Value::Integer(i)] = values {
            return Some(IdentityKey {
                mapper,
                pk: PkValue::Int(*i),
            });
        }
        if values.iter().any(Value::is_null) {
            return None;
        }
        // integral reals key like integers: get(User, 1.0) finds id 1
        if let [Value::Real(r)] = values {
            if r.fract() == 0.0 {
                return Some(IdentityKey {
                    mapper,
                    pk: PkValue::Int(*r as i64),
                });
            }
        }
        Some(IdentityKey {
            mapper,
            pk: PkValue::Other(values.into()),
        })
    }

    pub fn values(&self) -> Vec<Value> {
        match &self.pk {
            PkValue::Int(i) => vec![Value::Integer(*i)],
            PkValue::Other(v) => v.to_vec(),
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
        let k = IdentityKey::new(1, &[Value::Integer(1), Value::text("x")]).unwrap();
        assert_eq!(k.values(), vec![Value::Integer(1), Value::text("x")]);
        assert_ne!(
            hash_of(&k),
            hash_of(&IdentityKey::new(1, &[Value::Integer(1), Value::text("y")]).unwrap())
        );
    }
}
