//! Relationship attributes read on an alias (`orm.aliased(User).posts`) or aimed at one
//! (`Node.parent:of_type(Parent)`), as SQLAlchemy's: the relationship's parent side is the
//! alias's columns, its target side the target's table or the `of_type` alias. Joins,
//! `:any()` / `:has()`, comparisons with an object and `with_parent` render from them;
//! loader options along them are those of the relationship itself.

use std::rc::Rc;

use super::instance::Instance;
use super::relationships::Relationship;
use crate::error::Result;
use crate::sql::{Derived, Expr, FromItem, Join};

/// A relationship as an attribute of its class, of an alias of its class (`parent`), or
/// aimed at an alias of its target (`of_type`).
#[derive(Clone)]
pub struct RelAttr {
    pub rel: Rc<Relationship>,
    pub parent: Option<Rc<Derived>>,
    pub of_type: Option<Rc<Derived>>,
}

impl RelAttr {
    pub fn new(rel: Rc<Relationship>) -> RelAttr {
        RelAttr {
            rel,
            parent: None,
            of_type: None,
        }
    }

    /// How errors name it: `User.posts`, `aliased(User, name='a').posts`, with
    /// `:of_type(aliased(Post, name='p'))` when aimed at an alias.
    pub fn path(&self) -> String {
        let base = match &self.parent {
            Some(d) => format!(
                "aliased({}, name='{}').{}",
                self.rel.parent().class_name,
                d.table.name,
                self.rel.key
            ),
            None => self.rel.path(),
        };
        match &self.of_type {
            Some(d) => format!(
                "{base}:of_type(aliased({}, name='{}'))",
                self.rel.target().class_name,
                d.table.name
            ),
            None => base,
        }
    }

    /// The FROM item of the parent side: the alias, or the parent's table.
    pub fn parent_from(&self) -> FromItem {
        match &self.parent {
            Some(d) => FromItem::Derived(d.clone()),
            None => FromItem::Table(self.rel.parent().table.clone()),
        }
    }

    /// The FROM item of the target side: the `of_type` alias, or the target's table.
    pub fn target_from(&self) -> FromItem {
        match &self.of_type {
            Some(d) => FromItem::Derived(d.clone()),
            None => FromItem::Table(self.rel.target().table.clone()),
        }
    }

    /// `:join(A.posts)` / `:outerjoin(...)`: the joins from the parent side to the target.
    pub fn joins(&self, outer: bool) -> Vec<Join> {
        self.rel
            .joins_to(&self.parent_from(), &self.target_from(), outer)
    }

    /// `:join(target, A.posts)`: the joins from the parent side to `target`.
    pub fn joins_to(&self, target: &FromItem, outer: bool) -> Vec<Join> {
        self.rel.joins_to(&self.parent_from(), target, outer)
    }

    /// `A.posts:any(cond)` / `A.parent:has(cond)`.
    pub fn exists(&self, criterion: Option<Expr>) -> Result<Expr> {
        self.rel.exists_from(&self.parent_from(), criterion)
    }

    /// `A.parent:eq(obj)` / `:ne(obj)` / `A.posts:contains(obj)`.
    pub fn compare_object(&self, obj: Option<&Rc<Instance>>, negate: bool) -> Result<Expr> {
        self.rel
            .compare_object_from(&self.parent_from(), obj, negate)
    }

    /// `with_parent(obj, A.children)`: the criterion is on the target's rows (the
    /// `of_type` alias's when given); the alias the attribute is read on plays no part,
    /// as in SQLAlchemy.
    pub fn with_parent(&self, obj: &Rc<Instance>) -> Result<Expr> {
        self.rel.with_parent_to(&self.target_from(), obj)
    }
}
