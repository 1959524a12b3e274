//! Relationships in SQL, as SQLAlchemy's relationship comparator renders them: the joins of
//! `:join(User.posts)`, the correlated EXISTS of `User.posts:any(...)` /
//! `Post.author:has(...)`, the comparison of a relationship with an object
//! (`Post.author:eq(user)`, `User.posts:contains(post)`) and `with_parent(user, User.posts)`.
//!
//! Objects become bound parameters of their key values at the time the expression is built;
//! a pending object is flushed first (when its session autoflushes) so that it has them.

use std::rc::Rc;

use super::instance::{Instance, Status};
use super::relationships::{and_extra, Direction, Relationship};
use super::session::SessionCore;
use crate::error::Result;
use crate::sql::select::anon_name;
use crate::sql::{BinOp, Derived, Expr, FromItem, Join, Select};
use crate::value::Value;
use crate::{arg_err, invalid};

fn col(f: &FromItem, i: usize) -> Expr {
    match f {
        FromItem::Table(t) => Expr::column(t, i),
        FromItem::Derived(d) => d.column(i),
    }
}

fn and_all(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Expr::and(parts)
    }
}

fn eq(a: Expr, b: Expr) -> Expr {
    Expr::binary(a, BinOp::Eq, b)
}

/// The values of `attrs` of `obj`, loaded if needed (a pending object is flushed first).
fn values_of(obj: &Rc<Instance>, attrs: &[usize]) -> Result<Vec<Value>> {
    if obj.status() == Status::Pending {
        if let Some(s) = obj.session() {
            s.autoflush()?;
        }
    }
    for &a in attrs {
        SessionCore::ensure_loaded(obj, a)?;
    }
    let st = obj.state();
    Ok(attrs.iter().map(|&a| st.values[a].clone()).collect())
}

/// The values of `attrs` of `obj` as a lookup by attribute index (for the columns of a
/// relationship's extra criteria).
fn binds_of(obj: &Rc<Instance>, attrs: &[usize]) -> Result<impl Fn(usize) -> Expr> {
    let values = values_of(obj, attrs)?;
    let attrs = attrs.to_vec();
    Ok(move |i: usize| {
        let k = attrs.iter().position(|&a| a == i).expect("an extra column");
        Expr::bind(values[k].clone())
    })
}

/// `NOT (e)` (the compiler writes the parentheses).
fn not(e: Expr) -> Expr {
    Expr::Unary(crate::sql::expr::UnaryOp::Not, Box::new(e))
}

fn check_model(rel: &Relationship, obj: &Rc<Instance>, side: &str) -> Result<()> {
    let want = if side == "target" {
        rel.target()
    } else {
        rel.parent()
    };
    if !obj.mapper.isa(&want) {
        return Err(arg_err!(
            "{}: expected an object of {}, got {}",
            rel.path(),
            want.class_name,
            obj.mapper.class_name
        ));
    }
    Ok(())
}

impl Relationship {
    /// The joins of `:join(rel)` from the parent (`parent`) to `target` (the target's
    /// table, or an alias of it): through the secondary table for many-to-many.
    pub fn joins_to(&self, parent: &FromItem, target: &FromItem, outer: bool) -> Vec<Join> {
        let mut joins = self.joins_to_table(parent, target, outer);
        // a subclass of a single-table hierarchy: its identities in the last ON
        if let Some(c) = self.target().criterion(&|i| col(target, i)) {
            if let Some(last) = joins.last_mut() {
                let on = std::mem::replace(&mut last.on, Expr::Null);
                last.on = and_extra(on, Some(c));
            }
        }
        joins
    }

    fn joins_to_table(&self, parent: &FromItem, target: &FromItem, outer: bool) -> Vec<Join> {
        match &self.secondary {
            None => vec![Join {
                target: target.clone(),
                on: and_extra(
                    and_all(
                        self.local
                            .iter()
                            .zip(&self.remote)
                            .map(|(&l, &r)| eq(col(parent, l), col(target, r)))
                            .collect(),
                    ),
                    self.extra_adapted(&|i| col(parent, i), &|i| col(target, i)),
                ),
                outer,
            }],
            Some(sec) => {
                // from an alias, the secondary table joins in as an alias of its own (two
                // aliases of one class may join through it in one statement)
                let s = match parent {
                    FromItem::Derived(_) => FromItem::Derived(
                        Derived::alias(sec, &anon_name()).expect("an alias of a table"),
                    ),
                    FromItem::Table(_) => FromItem::Table(sec.clone()),
                };
                vec![
                    Join {
                        target: s.clone(),
                        on: and_all(
                            self.local
                                .iter()
                                .zip(&self.sec_local)
                                .map(|(&l, &x)| eq(col(parent, l), col(&s, x)))
                                .collect(),
                        ),
                        outer,
                    },
                    Join {
                        target: target.clone(),
                        on: and_all(
                            self.remote
                                .iter()
                                .zip(&self.sec_remote)
                                .map(|(&r, &x)| eq(col(target, r), col(&s, x)))
                                .collect(),
                        ),
                        outer,
                    },
                ]
            }
        }
    }

    /// `User.posts:any(cond)` / `Post.author:has(cond)`: EXISTS of a related row (meeting
    /// `criterion`), correlated to the parent's table. A self-referential relationship
    /// reads the related rows through an alias, to which `criterion` is re-aimed.
    pub fn exists(&self, criterion: Option<Expr>) -> Result<Expr> {
        self.exists_from(&FromItem::Table(self.parent().table.clone()), criterion)
    }

    /// `exists` correlated to `parent`, the parent's table or an alias of it: from an alias
    /// the related rows are read from the target's table itself (as SQLAlchemy's
    /// `aliased(Node).children.any(...)`), self-referential ones included.
    pub fn exists_from(&self, parent: &FromItem, criterion: Option<Expr>) -> Result<Expr> {
        let p = self.parent();
        let t = self.target();
        let target = if p.table.id == t.table.id && matches!(parent, FromItem::Table(_)) {
            FromItem::Derived(Derived::alias(&t.table, &anon_name())?)
        } else {
            FromItem::Table(t.table.clone())
        };
        let parent = parent.clone();
        let mut select = Select::new(vec![Expr::Star]);
        // a target read through its concrete union: EXISTS of a row of any of its classes
        if let (FromItem::Table(_), Some(u)) = (&target, t.polymorphic_union()?) {
            select.polymorphic.push((t.table.clone(), u));
        }
        for j in self.joins_to(&parent, &target, false) {
            select.where_.push(j.on);
        }
        // from an alias, the target's table stays in the EXISTS even when the enclosing
        // statement reads it too (`select(Node):join(Node.parent:of_type(P))
        // :where(P.children:any(...))`), as SQLAlchemy's correlate_except
        if let FromItem::Derived(_) = &parent {
            select.correlate_except = Some(vec![target.table_id()]);
        }
        if let Some(c) = criterion {
            select.where_.push(match &target {
                FromItem::Derived(alias) => {
                    let tid = t.table.id;
                    c.adapt(&|c| {
                        (c.table.id == tid && c.from.is_none()).then(|| alias.column(c.index))
                    })
                }
                FromItem::Table(_) => c,
            });
        }
        Ok(Expr::Exists(Box::new(select)))
    }

    /// `Post.author:eq(user)` (a many-to-one: the foreign key equals the object's key;
    /// `nil`: IS NULL) and `User.posts:contains(post)` (a one-to-many or many-to-many: the
    /// parent is the object's). `negate` gives `:ne(obj)`.
    pub fn compare_object(&self, obj: Option<&Rc<Instance>>, negate: bool) -> Result<Expr> {
        self.compare_object_from(&FromItem::Table(self.parent().table.clone()), obj, negate)
    }

    /// `compare_object` on the rows of `parent`, the parent's table or an alias of it.
    pub fn compare_object_from(
        &self,
        parent: &FromItem,
        obj: Option<&Rc<Instance>>,
        negate: bool,
    ) -> Result<Expr> {
        if self.direction == Direction::ManyToOne {
            let locals: Vec<Expr> = self.local.iter().map(|&l| col(parent, l)).collect();
            let Some(obj) = obj else {
                if self.extra.is_some() {
                    // the join condition with the target's side NULL, as SQLAlchemy's
                    let none = and_extra(
                        and_all(
                            locals
                                .into_iter()
                                .map(|c| Expr::binary(c, BinOp::Is, Expr::Null))
                                .collect(),
                        ),
                        self.extra_adapted(&|i| col(parent, i), &|_| Expr::Null),
                    );
                    return Ok(if negate { not(none) } else { none });
                }
                let op = if negate { BinOp::IsNot } else { BinOp::Is };
                return Ok(and_all(
                    locals
                        .into_iter()
                        .map(|c| Expr::binary(c, op, Expr::Null))
                        .collect(),
                ));
            };
            check_model(self, obj, "target")?;
            if negate && self.extra.is_some() {
                // no related row that is this object (SQLAlchemy's NOT EXISTS)
                let t = self.target();
                let key = values_of(obj, &t.pk)?;
                let crit = and_all(
                    t.pk.iter()
                        .zip(key)
                        .map(|(&c, v)| eq(Expr::column(&t.table, c), Expr::bind(v)))
                        .collect(),
                );
                return Ok(not(self.exists_from(parent, Some(crit))?));
            }
            let values = values_of(obj, &self.remote_on(&obj.mapper))?;
            let binds = binds_of(obj, &self.extra_target)?;
            let same = and_extra(
                and_all(
                    locals
                        .iter()
                        .zip(values)
                        .map(|(c, v)| eq(c.clone(), Expr::bind(v)))
                        .collect(),
                ),
                self.extra_adapted(&|i| col(parent, i), &binds),
            );
            if !negate {
                return Ok(same);
            }
            // SQLAlchemy: != an object also matches rows whose key is NULL
            let mut nulls: Vec<Expr> = locals
                .into_iter()
                .map(|c| Expr::binary(c, BinOp::Is, Expr::Null))
                .collect();
            let not_same = Expr::Unary(
                crate::sql::expr::UnaryOp::Not,
                Box::new(Expr::Grouping(Box::new(same))),
            );
            nulls.insert(0, not_same);
            return Ok(Expr::List(BinOp::Or, nulls));
        }
        let Some(obj) = obj else {
            return Err(invalid!(
                "{}: a collection cannot be compared to nil; use ~{}:any()",
                self.path(),
                self.path()
            ));
        };
        check_model(self, obj, "target")?;
        let cond = match &self.secondary {
            None => {
                // the parent whose key the child's foreign key holds
                let values = values_of(obj, &self.remote_on(&obj.mapper))?;
                let binds = binds_of(obj, &self.extra_target)?;
                and_extra(
                    and_all(
                        self.local
                            .iter()
                            .zip(values)
                            .map(|(&l, v)| eq(col(parent, l), Expr::bind(v)))
                            .collect(),
                    ),
                    self.extra_adapted(&|i| col(parent, i), &binds),
                )
            }
            Some(sec) => {
                let values = values_of(obj, &self.remote_on(&obj.mapper))?;
                let mut s = Select::new(vec![Expr::Star]);
                for (&l, &x) in self.local.iter().zip(&self.sec_local) {
                    s.where_.push(eq(col(parent, l), Expr::column(sec, x)));
                }
                for (&x, v) in self.sec_remote.iter().zip(values) {
                    s.where_.push(eq(Expr::column(sec, x), Expr::bind(v)));
                }
                Expr::Exists(Box::new(s))
            }
        };
        Ok(if negate { not(cond) } else { cond })
    }

    /// `with_parent(obj, rel)`: the criterion on the target's rows that are `obj`'s related
    /// objects.
    pub fn with_parent(&self, obj: &Rc<Instance>) -> Result<Expr> {
        self.with_parent_to(&FromItem::Table(self.target().table.clone()), obj)
    }

    /// `with_parent` on the rows of `target`, the target's table or an alias of it
    /// (`with_parent(obj, Node.children:of_type(Child))`).
    pub fn with_parent_to(&self, target: &FromItem, obj: &Rc<Instance>) -> Result<Expr> {
        check_model(self, obj, "parent")?;
        let values = values_of(obj, &self.local)?;
        Ok(match &self.secondary {
            None => {
                let binds = binds_of(obj, &self.extra_parent)?;
                and_extra(
                    and_all(
                        self.remote
                            .iter()
                            .zip(values)
                            .map(|(&r, v)| eq(col(target, r), Expr::bind(v)))
                            .collect(),
                    ),
                    self.extra_adapted(&binds, &|i| col(target, i)),
                )
            }
            Some(sec) => {
                let mut s = Select::new(vec![Expr::Star]);
                for (&r, &x) in self.remote.iter().zip(&self.sec_remote) {
                    s.where_.push(eq(col(target, r), Expr::column(sec, x)));
                }
                for (&x, v) in self.sec_local.iter().zip(values) {
                    s.where_.push(eq(Expr::column(sec, x), Expr::bind(v)));
                }
                Expr::Exists(Box::new(s))
            }
        })
    }
}
