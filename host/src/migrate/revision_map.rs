//! The revision graph of a migration folder: each revision names the one it follows
//! (`down_revision`); heads are the revisions nothing follows. Targets as Alembic's
//! commands take them: `head`, `base`, `+N`, `-N`, a revision id or a unique prefix of one.

use crate::error::{Error, ErrorKind, Result};

/// One revision file.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    pub id: String,
    pub down_revision: Option<String>,
    pub message: String,
    /// The file it was read from (for messages).
    pub path: String,
}

/// One step of an upgrade or downgrade: the revision whose `upgrade` or `downgrade` runs,
/// and the version the database is at before and after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub revision: String,
    pub upgrade: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    pub message: String,
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequestError, msg.into())
}

#[derive(Debug, Default)]
pub struct RevisionMap {
    revisions: Vec<Revision>,
}

impl RevisionMap {
    /// Checks the graph: unique ids, every `down_revision` known, no cycle.
    pub fn new(revisions: Vec<Revision>) -> Result<RevisionMap> {
        for (i, r) in revisions.iter().enumerate() {
            if r.id.is_empty() {
                return Err(err(format!("{}: the revision has no id", r.path)));
            }
            if let Some(o) = revisions[..i].iter().find(|o| o.id == r.id) {
                return Err(err(format!(
                    "revision '{}' is defined twice: {} and {}",
                    r.id, o.path, r.path
                )));
            }
        }
        let map = RevisionMap { revisions };
        for r in &map.revisions {
            if let Some(d) = &r.down_revision {
                if map.get(d).is_none() {
                    return Err(err(format!(
                        "{}: revision '{}' follows '{d}', which no file in versions/ defines",
                        r.path, r.id
                    )));
                }
            }
            // walking down from each revision must reach the base
            let mut seen = 0;
            let mut cur = r.down_revision.as_deref();
            while let Some(c) = cur {
                seen += 1;
                if seen > map.revisions.len() {
                    return Err(err(format!("revision '{}' is part of a cycle", r.id)));
                }
                cur = map.get(c).and_then(|x| x.down_revision.as_deref());
            }
        }
        Ok(map)
    }

    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The revisions no other follows, in file order.
    pub fn heads(&self) -> Vec<&Revision> {
        self.revisions
            .iter()
            .filter(|r| {
                !self
                    .revisions
                    .iter()
                    .any(|o| o.down_revision.as_deref() == Some(r.id.as_str()))
            })
            .collect()
    }

    /// The one head (`None` with no revisions); several heads are an error naming them.
    pub fn head(&self) -> Result<Option<&Revision>> {
        let heads = self.heads();
        match heads.len() {
            0 => Ok(None),
            1 => Ok(Some(heads[0])),
            _ => Err(err(format!(
                "multiple head revisions are present ({}); lualchemy migrates one line of revisions",
                heads.iter().map(|h| h.id.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// A revision by id or unique prefix.
    pub fn resolve(&self, id: &str) -> Result<&Revision> {
        if let Some(r) = self.get(id) {
            return Ok(r);
        }
        let found: Vec<&Revision> = self
            .revisions
            .iter()
            .filter(|r| r.id.starts_with(id))
            .collect();
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(err(format!("can't locate revision identified by '{id}'"))),
            _ => Err(err(format!(
                "revision prefix '{id}' is ambiguous: {}",
                found
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// From `id` down to the base: `id`, its down revision, ... (`None`: empty).
    pub fn lineage(&self, id: Option<&str>) -> Vec<&Revision> {
        let mut out = Vec::new();
        let mut cur = id;
        while let Some(c) = cur {
            match self.get(c) {
                Some(r) => {
                    out.push(r);
                    cur = r.down_revision.as_deref();
                }
                None => break,
            }
        }
        out
    }

    /// Every revision from the heads down, as `history` lists them.
    pub fn history(&self) -> Vec<&Revision> {
        let mut out = Vec::new();
        for h in self.heads() {
            for r in self.lineage(Some(&h.id)) {
                if !out.iter().any(|o: &&Revision| o.id == r.id) {
                    out.push(r);
                }
            }
        }
        out
    }

    fn step(&self, r: &Revision, upgrade: bool) -> Step {
        Step {
            revision: r.id.clone(),
            upgrade,
            from: if upgrade {
                r.down_revision.clone()
            } else {
                Some(r.id.clone())
            },
            to: if upgrade {
                Some(r.id.clone())
            } else {
                r.down_revision.clone()
            },
            message: r.message.clone(),
        }
    }

    /// The steps of `upgrade target` from `current`: `head`, `+N`, a revision (or prefix).
    pub fn upgrade_steps(&self, current: Option<&str>, target: &str) -> Result<Vec<Step>> {
        if let Some(c) = current {
            self.get(c).ok_or_else(|| {
                err(format!(
                    "the database is at revision '{c}', which no file in versions/ defines"
                ))
            })?;
        }
        let head = self.head()?;
        // from the head down to the current revision, reversed
        let mut line: Vec<&Revision> = Vec::new();
        let mut cur = head.map(|h| h.id.as_str());
        while let Some(c) = cur {
            if Some(c) == current {
                break;
            }
            let r = self.get(c).expect("checked by new");
            line.push(r);
            cur = r.down_revision.as_deref();
        }
        if cur != current {
            return Err(err(format!(
                "revision '{}' is not below the head: nothing to upgrade along",
                current.unwrap_or("base")
            )));
        }
        line.reverse();
        let n = match target {
            "head" | "heads" => line.len(),
            t if t.starts_with('+') => {
                let n: usize = t[1..]
                    .parse()
                    .map_err(|_| err(format!("upgrade: invalid relative target '{t}'")))?;
                if n > line.len() {
                    return Err(err(format!(
                        "upgrade {t}: only {} revision(s) above the current one",
                        line.len()
                    )));
                }
                n
            }
            t => {
                let r = self.resolve(t)?;
                if Some(r.id.as_str()) == current {
                    0
                } else {
                    line.iter()
                        .position(|l| l.id == r.id)
                        .map(|i| i + 1)
                        .ok_or_else(|| {
                            err(format!(
                                "upgrade {t}: revision '{}' is not above the current revision '{}'",
                                r.id,
                                current.unwrap_or("base")
                            ))
                        })?
                }
            }
        };
        Ok(line[..n].iter().map(|r| self.step(r, true)).collect())
    }

    /// The steps of `downgrade target` from `current`: `-N`, `base`, a revision (or prefix).
    pub fn downgrade_steps(&self, current: Option<&str>, target: &str) -> Result<Vec<Step>> {
        let line = self.lineage(current);
        if let Some(c) = current {
            if line.is_empty() {
                return Err(err(format!(
                    "the database is at revision '{c}', which no file in versions/ defines"
                )));
            }
        }
        let n = match target {
            "base" => line.len(),
            t if t.starts_with('-') => {
                let n: usize = t[1..]
                    .parse()
                    .map_err(|_| err(format!("downgrade: invalid relative target '{t}'")))?;
                if n > line.len() {
                    return Err(err(format!(
                        "downgrade {t}: only {} revision(s) below the current one",
                        line.len()
                    )));
                }
                n
            }
            t => {
                let r = self.resolve(t)?;
                line.iter().position(|l| l.id == r.id).ok_or_else(|| {
                    err(format!(
                        "downgrade {t}: revision '{}' is not below the current revision '{}'",
                        r.id,
                        current.unwrap_or("base")
                    ))
                })?
            }
        };
        Ok(line[..n].iter().map(|r| self.step(r, false)).collect())
    }
}

/// A new revision id: 12 hex digits, as Alembic's `uuid4().hex[-12:]`.
pub fn new_revision_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(id: &str, down: Option<&str>) -> Revision {
        Revision {
            id: id.into(),
            down_revision: down.map(String::from),
            message: format!("m{id}"),
            path: format!("{id}.lua"),
        }
    }

    fn line() -> RevisionMap {
        RevisionMap::new(vec![
            rev("ccc", Some("bbb")),
            rev("aaa", None),
            rev("bbb", Some("aaa")),
        ])
        .unwrap()
    }

    fn ids(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.revision.as_str()).collect()
    }

    #[test]
    fn heads_history_and_paths() {
        let m = line();
        assert_eq!(m.head().unwrap().unwrap().id, "ccc");
        let h: Vec<&str> = m.history().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(h, vec!["ccc", "bbb", "aaa"]);
        assert_eq!(
            ids(&m.upgrade_steps(None, "head").unwrap()),
            vec!["aaa", "bbb", "ccc"]
        );
        assert_eq!(
            ids(&m.upgrade_steps(Some("aaa"), "+1").unwrap()),
            vec!["bbb"]
        );
        assert_eq!(
            ids(&m.upgrade_steps(None, "bb").unwrap()),
            vec!["aaa", "bbb"]
        );
        assert!(m.upgrade_steps(Some("ccc"), "head").unwrap().is_empty());
        assert!(m.upgrade_steps(Some("bbb"), "+2").is_err());
        let down = m.downgrade_steps(Some("ccc"), "-2").unwrap();
        assert_eq!(ids(&down), vec!["ccc", "bbb"]);
        assert_eq!(down[1].to.as_deref(), Some("aaa"));
        assert_eq!(
            ids(&m.downgrade_steps(Some("ccc"), "base").unwrap()),
            vec!["ccc", "bbb", "aaa"]
        );
        assert_eq!(
            ids(&m.downgrade_steps(Some("ccc"), "aaa").unwrap()),
            vec!["ccc", "bbb"]
        );
        let e = m.upgrade_steps(Some("bbb"), "aaa").unwrap_err();
        assert!(e.message.contains("not above"), "{}", e.message);
    }

    #[test]
    fn bad_graphs_are_refused() {
        let e = RevisionMap::new(vec![rev("a", Some("zzz"))]).unwrap_err();
        assert!(e.message.contains("'zzz'"), "{}", e.message);
        let e = RevisionMap::new(vec![rev("a", Some("b")), rev("b", Some("a"))]).unwrap_err();
        assert!(e.message.contains("cycle"));
        let e = RevisionMap::new(vec![rev("a", None), rev("a", None)]).unwrap_err();
        assert!(e.message.contains("twice"));
        let two = RevisionMap::new(vec![
            rev("a", None),
            rev("b", Some("a")),
            rev("c", Some("a")),
        ])
        .unwrap();
        assert!(two.head().unwrap_err().message.contains("multiple head"));
    }

    #[test]
    fn ids_are_twelve_hex_digits() {
        let a = new_revision_id();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_revision_id());
    }
}
