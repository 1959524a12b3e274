//! Concrete-table inheritance (SQLAlchemy's `ConcreteBase` / `AbstractConcreteBase`): each
//! class of the hierarchy has a whole table of its own (every column repeated), and a query
//! of a class with concrete subclasses reads the UNION ALL of its classes' tables, each
//! member naming its class in a `type` column (SQLAlchemy's `polymorphic_union`):
//!
//! ```sql
//! SELECT pjoin.id, pjoin.name, pjoin.type, pjoin.manager_data FROM (
//!   SELECT employee.id AS id, employee.name AS name, CAST(NULL AS VARCHAR(40)) AS manager_data,
//!   'employee' AS type
//!   FROM employee UNION ALL
//!   SELECT manager.id AS id, manager.name AS name, manager.manager_data AS manager_data,
//!   'manager' AS type FROM manager) AS pjoin
//! ```
//!
//! A concrete class is otherwise a plain mapper of its own table: it is written there, a
//! query of it (without concrete subclasses) reads only its table, and its objects have
//! identity keys of their own class (rows of two classes may share a key value).

use std::rc::Rc;

use super::identity::IdentityKey;
use super::instance::Instance;
use super::mapper::{Mapper, PolyColumns};
use super::session::SessionCore;
use crate::engine::Row;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::Table;
use crate::sql::{Derived, Expr, Select, SetOp};
use crate::value::Value;

/// The name of the polymorphic union's discriminator column (SQLAlchemy's default).
pub const DISCRIMINATOR: &str = "type";
/// The name of the polymorphic union in FROM.
pub const UNION_NAME: &str = "pjoin";

/// A mapper's part in a concrete-table hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concrete {
    /// `orm.ConcreteBase`: the base, with a table of its own.
    Base,
    /// `orm.AbstractConcreteBase`: the base, with no table (its columns are copied into its
    /// subclasses' tables; it cannot be instantiated, only queried).
    AbstractBase,
    /// A subclass (`__mapper_args__ = { concrete = true }`) with its own whole table.
    Sub,
}

impl Mapper {
    /// Its kind in a concrete hierarchy, if it is part of one.
    #[inline]
    pub fn concrete(&self) -> Option<Concrete> {
        self.inherit.as_ref().and_then(|i| i.concrete)
    }

    /// Whether this is an `orm.AbstractConcreteBase` model (no table of its own).
    pub fn is_abstract_concrete(&self) -> bool {
        self.concrete() == Some(Concrete::AbstractBase)
    }

    /// The classes a query of this concrete mapper reads: itself (when it has a table) and
    /// its descendants, in declaration order, with their identities. Empty for a mapper
    /// outside a concrete hierarchy.
    fn concrete_members(&self) -> Vec<(Value, Rc<Mapper>)> {
        let Some(inh) = &self.inherit else {
            return Vec::new();
        };
        if inh.concrete.is_none() {
            return Vec::new();
        }
        inh.map
            .mappers()
            .into_iter()
            .filter(|(_, m)| m.isa(self) && !m.is_abstract_concrete())
            .collect()
    }

    /// Whether a query of this mapper reads a polymorphic union: it is a concrete class with
    /// concrete subclasses (or an abstract base).
    pub fn reads_union(&self) -> bool {
        match self.concrete() {
            None => false,
            Some(Concrete::AbstractBase) => true,
            Some(_) => self.concrete_members().iter().any(|(_, m)| m.id != self.id),
        }
    }

    /// The polymorphic union of this mapper's classes (`pjoin`): one member per class with a
    /// table, its columns the union of the tables' columns by key (as SQLAlchemy's), in the
    /// order first seen (a table without one gives a typed NULL), each labelled by its key,
    /// then the `type` discriminator. `None` when a query of this mapper reads its table.
    pub fn polymorphic_union(&self) -> Result<Option<Rc<Derived>>> {
        self.polymorphic_union_named(UNION_NAME)
    }

    /// The polymorphic union under another name: an eager load's join to a class read
    /// through its union reads one of its own (`LEFT OUTER JOIN (...) AS anon_1`).
    pub fn polymorphic_union_named(&self, name: &str) -> Result<Option<Rc<Derived>>> {
        self.build_union(name, false)
    }

    /// The polymorphic union as `orm.aliased(Employee)` reads it: this mapper's columns
    /// first, in its attributes' order (so the alias's column `i` is attribute `i`), then
    /// the other classes' columns and the discriminator.
    pub fn polymorphic_union_aliased(&self, name: &str) -> Result<Option<Rc<Derived>>> {
        self.build_union(name, true)
    }

    fn build_union(&self, name: &str, own_first: bool) -> Result<Option<Rc<Derived>>> {
        if !self.reads_union() {
            return Ok(None);
        }
        let members = self.concrete_members();
        if members.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidRequestError,
                format!(
                    "{} is an abstract concrete base with no concrete subclass yet: there is no table to query",
                    self.class_name
                ),
            ));
        }
        let mut names: Vec<(String, crate::schema::SqlType)> = Vec::new();
        if own_first {
            names.extend(
                self.table
                    .columns
                    .iter()
                    .map(|c| (c.key.clone(), c.ty.clone())),
            );
        }
        for (_, m) in &members {
            for c in &m.table.columns {
                if !names.iter().any(|(n, _)| *n == c.key) {
                    names.push((c.key.clone(), c.ty.clone()));
                }
            }
        }
        let mut union: Option<Select> = None;
        for (identity, m) in &members {
            let mut cols: Vec<Expr> = names
                .iter()
                .map(|(n, ty)| {
                    let e = match m.table.column_index_by_key(n) {
                        Some(i) => Expr::column(&m.table, i),
                        None => Expr::Cast(Box::new(Expr::Null), ty.clone()),
                    };
                    Expr::Label(Rc::from(n.as_str()), Box::new(e))
                })
                .collect();
            cols.push(Expr::Label(
                Rc::from(DISCRIMINATOR),
                Box::new(identity_literal(identity, &m.class_name)?),
            ));
            let part = Select::new(cols);
            match &mut union {
                None => union = Some(part),
                Some(u) => u.compound.push((SetOp::UnionAll, part)),
            }
        }
        let union = union.expect("at least one member");
        Ok(Some(Derived::subquery(union, name, false)?))
    }

    /// Attribute `i` of `class` (this mapper or one of its concrete classes) as the
    /// column of the same key of `union`, this mapper's polymorphic union (a NULL when no
    /// member has it).
    pub fn union_column(union: &Rc<Derived>, class: &Mapper, i: usize) -> Expr {
        match union.table.column_index(&class.table.columns[i].key) {
            Some(c) => union.column(c),
            None => Expr::Null,
        }
    }

    /// The union-read classes other than this one: the concrete classes whose rows a query
    /// of this mapper returns besides its own (empty unless it reads a union).
    pub fn union_subclasses(&self) -> Vec<Rc<Mapper>> {
        if !self.reads_union() {
            return Vec::new();
        }
        self.concrete_members()
            .into_iter()
            .map(|(_, m)| m)
            .filter(|m| m.id != self.id)
            .collect()
    }

    /// The classes `with_polymorphic(self, named)` / `selectin_polymorphic` of a concrete
    /// class load with it: the other classes of its union (all of them for `"*"`, given as
    /// `None`); a named class must be one of them. A query of the class reads every class's
    /// columns from the union already, so these only check the names (as SQLAlchemy's
    /// `with_polymorphic(Employee, "*")` of a `ConcreteBase` reads the same union).
    pub fn concrete_polymorphic(
        &self,
        what: &str,
        named: Option<&[Rc<Mapper>]>,
    ) -> Result<Vec<Rc<Mapper>>> {
        let members = self.union_subclasses();
        let Some(named) = named else {
            return Ok(members);
        };
        for m in named {
            if m.id != self.id && !members.iter().any(|x| x.id == m.id) {
                return Err(Error::new(
                    ErrorKind::ArgumentError,
                    format!(
                        "orm.{what}({}, ...): {} is not a class of {}'s polymorphic union (its classes: {})",
                        self.class_name,
                        m.class_name,
                        self.class_name,
                        std::iter::once(self.class_name.as_str())
                            .chain(members.iter().map(|x| x.class_name.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        Ok(named.iter().filter(|m| m.id != self.id).cloned().collect())
    }

    /// The columns of the union a query of this mapper selects after its own (read from the
    /// union by key): the discriminator, then the columns only subclasses have.
    pub fn union_extra_columns(&self, union: &Rc<Derived>) -> (PolyColumns, Vec<Expr>) {
        let mut poly: Vec<(Rc<Table>, usize)> = Vec::new();
        let mut exprs = Vec::new();
        let t = &union.table;
        let disc = t
            .column_index(DISCRIMINATOR)
            .expect("the union has a discriminator");
        let others = (0..t.columns.len())
            .filter(|&i| i != disc && self.table.column_index_by_key(&t.columns[i].name).is_none());
        for i in std::iter::once(disc).chain(others) {
            poly.push((t.clone(), i));
            exprs.push(union.column(i));
        }
        (poly.into(), exprs)
    }

    /// Where the flush saves this concrete class's table among others: its hierarchy's base
    /// class name and the class's place in declaration order (`None` outside a concrete
    /// hierarchy).
    pub fn concrete_sort_key(&self) -> Option<(String, usize)> {
        let inh = self.inherit.as_ref()?;
        inh.concrete?;
        let mut root = self;
        while let Some(p) = root.inherits() {
            root = p;
        }
        let pos = inh
            .map
            .mappers()
            .iter()
            .position(|(_, m)| m.id == self.id)
            .unwrap_or(0);
        Some((root.class_name.clone(), pos))
    }

    /// The class of a row of the union by its discriminator value.
    pub fn concrete_class_for(&self, v: &Value) -> Result<Rc<Mapper>> {
        let inh = self.inherit.as_ref().expect("a concrete mapper");
        match inh.map.get(v) {
            Some(m) if m.isa(self) => Ok(m),
            _ => Err(Error::new(
                ErrorKind::InvalidRequestError,
                format!(
                    "No such polymorphic_identity {} is defined (a row of the polymorphic union of {})",
                    match v {
                        Value::Text(t) => format!("'{t}'"),
                        other => format!("{other:?}"),
                    },
                    self.class_name
                ),
            )),
        }
    }
}

/// The discriminator value as SQL text in a union member (`'manager'`, `3`): the program's
/// own identity, a string or an integer.
fn identity_literal(v: &Value, class: &str) -> Result<Expr> {
    match v {
        Value::Text(t) => Ok(Expr::Raw(
            Rc::from(format!("'{}'", t.replace('\'', "''")).as_str()),
            crate::schema::SqlType::String(None),
        )),
        Value::Integer(i) => Ok(Expr::Raw(
            Rc::from(i.to_string().as_str()),
            crate::schema::SqlType::Integer,
        )),
        other => Err(crate::arg_err!(
            "model {class}: a concrete class's polymorphic_identity must be a string or an integer, got {other:?}"
        )),
    }
}

/// Refuses to write rows of an `orm.AbstractConcreteBase` (it has no table).
pub fn check_writable(mapper: &Mapper) -> Result<()> {
    if mapper.is_abstract_concrete() {
        return Err(Error::new(
            ErrorKind::InvalidRequestError,
            format!(
                "{} is an orm.AbstractConcreteBase, with no table of its own to write (write one of its concrete classes)",
                mapper.class_name
            ),
        ));
    }
    Ok(())
}

/// Checks a concrete class's table against its hierarchy: no column may have the key of the
/// union's discriminator (SQLAlchemy's `polymorphic_union` refuses it too).
pub fn check_table(class: &str, table: &Table) -> Result<()> {
    if table.column_index_by_key(DISCRIMINATOR).is_some() {
        return Err(Error::new(
            ErrorKind::ArgumentError,
            format!(
                "model {class}: the polymorphic union of a concrete hierarchy can't use '{DISCRIMINATOR}' as the discriminator column: table '{}' has a column '{DISCRIMINATOR}' (give it another key)",
                table.name
            ),
        ));
    }
    Ok(())
}

impl SessionCore {
    /// The object of a row of a concrete class's polymorphic union, read as `mapper` from
    /// `start`: its class by the discriminator among `poly` (the columns after the mapper's
    /// own), its values by column name. The object already in the identity map under the
    /// class's key is returned (its unloaded attributes filled in). `attrs` (`load_only` /
    /// `defer` on `mapper`) are the attributes a row of `mapper`'s own class loads: as
    /// SQLAlchemy's, the options name its attributes, and its concrete classes' rows load
    /// every column (the union selects them all either way).
    pub(crate) fn concrete_from_row(
        &self,
        mapper: &Rc<Mapper>,
        row: &Row<'_>,
        start: usize,
        poly: &PolyColumns,
        attrs: Option<&[usize]>,
    ) -> Result<Option<Rc<Instance>>> {
        let n = mapper.width();
        let pos = |name: &str| -> Option<usize> {
            mapper
                .table
                .column_index_by_key(name)
                .map(|i| start + i)
                .or_else(|| {
                    poly.iter()
                        .position(|(t, c)| t.columns[*c].name == name)
                        .map(|p| start + n + p)
                })
        };
        let disc = pos(DISCRIMINATOR).expect("the union's discriminator is selected");
        let v = row.value(disc)?;
        if v.is_null() {
            // the NULL side of an outer join
            return Ok(None);
        }
        let sub = mapper.concrete_class_for(&v)?;
        let only = attrs.filter(|_| sub.id == mapper.id);
        let value = |i: usize| -> Result<Option<Value>> {
            if only.is_some_and(|a| !a.contains(&i) && !sub.pk.contains(&i)) {
                return Ok(None);
            }
            match pos(&sub.table.columns[i].key) {
                Some(p) => {
                    let v = row.value(p)?;
                    sub.check_loaded(i, &v)?;
                    Ok(Some(v))
                }
                None => Ok(None),
            }
        };
        let mut pk = Vec::with_capacity(sub.pk.len());
        for &i in &sub.pk {
            pk.push(value(i)?.unwrap_or(Value::Null));
        }
        let Some(key) = IdentityKey::new(sub.ident_id, &pk) else {
            return Ok(None);
        };
        if let Some(existing) = self.identity.borrow().get(&key) {
            let mut st = existing.state_mut();
            st.nulls_never_set.clear();
            for i in 0..sub.attrs.len() {
                if !st.loaded.contains(i) {
                    if let Some(v) = value(i)? {
                        st.values[i] = v;
                        st.loaded.insert(i);
                    }
                }
            }
            return Ok(Some(existing.clone()));
        }
        let mut values = Vec::with_capacity(sub.width());
        let mut loaded = super::attributes::AttrSet::default();
        for i in 0..sub.width() {
            match (i < sub.attrs.len())
                .then(|| value(i))
                .transpose()?
                .flatten()
            {
                Some(v) => {
                    values.push(v);
                    loaded.insert(i);
                }
                None => values.push(Value::Null),
            }
        }
        let inst = Instance::loaded(&sub, values.into_boxed_slice(), key.clone(), self.weak());
        inst.state_mut().loaded = loaded;
        if super::events::mapper_listens(sub.id, super::events::MapperEvent::Load) {
            self.loaded_new.borrow_mut().push(inst.clone());
        }
        self.identity.borrow_mut().insert(key, inst.clone());
        Ok(Some(inst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orm::mapper::{Inheritance, PolyMap};
    use crate::orm::query::{OrmSelect, SelectItem};
    use crate::schema::{Column, SqlType};
    use crate::sql::{compile, dialect::default_dialect, Statement};

    fn table(name: &str, cols: &[(&str, SqlType)]) -> Rc<Table> {
        let columns = cols
            .iter()
            .enumerate()
            .map(|(i, (n, t))| {
                let mut c = Column::new(n, t.clone());
                c.primary_key = i == 0;
                c
            })
            .collect();
        Rc::new(Table::new(name, columns, vec![], vec![]).unwrap())
    }

    fn mapper(
        name: &str,
        t: Rc<Table>,
        parent: Option<&Rc<Mapper>>,
        map: &Rc<PolyMap>,
        kind: Concrete,
    ) -> Rc<Mapper> {
        let mut m = Mapper::new(name, t).unwrap();
        m.inherit = Some(Box::new(Inheritance {
            parent: parent.cloned(),
            on: None,
            identity: Some(Value::text(&name.to_lowercase())),
            map: map.clone(),
            inline: false,
            selectin: false,
            concrete: Some(kind),
        }));
        let m = Rc::new(m);
        map.entries
            .borrow_mut()
            .push((Value::text(&name.to_lowercase()), Rc::downgrade(&m)));
        m
    }

    #[test]
    fn a_query_of_the_base_reads_the_polymorphic_union() {
        let map = Rc::new(PolyMap::default());
        let base = mapper(
            "Employee",
            table(
                "employee",
                &[
                    ("id", SqlType::Integer),
                    ("name", SqlType::String(Some(50))),
                ],
            ),
            None,
            &map,
            Concrete::Base,
        );
        let sub = mapper(
            "Manager",
            table(
                "manager",
                &[
                    ("id", SqlType::Integer),
                    ("name", SqlType::String(Some(50))),
                    ("data", SqlType::Integer),
                ],
            ),
            Some(&base),
            &map,
            Concrete::Sub,
        );
        assert!(base.reads_union());
        assert!(!sub.reads_union());
        let mut q = OrmSelect::new(vec![SelectItem::Entity(base.clone())]);
        q.select.where_.push(Expr::binary(
            Expr::column(&base.table, 1),
            crate::sql::BinOp::Eq,
            Expr::bind(Value::text("x")),
        ));
        let c = compile(&Statement::Select(q.select.clone()), default_dialect()).unwrap();
        assert_eq!(
            c.sql.split_whitespace().collect::<Vec<_>>().join(" "),
            "SELECT pjoin.id, pjoin.name, pjoin.type, pjoin.data FROM (SELECT employee.id AS id, \
             employee.name AS name, CAST(NULL AS INTEGER) AS data, 'employee' AS type FROM \
             employee UNION ALL SELECT manager.id AS id, manager.name AS name, manager.data AS \
             data, 'manager' AS type FROM manager) AS pjoin WHERE pjoin.name = ?"
        );
        // a subclass without concrete subclasses reads its own table
        let q = OrmSelect::new(vec![SelectItem::Entity(sub.clone())]);
        let c = compile(&Statement::Select(q.select.clone()), default_dialect()).unwrap();
        assert!(!c.sql.contains("pjoin"), "{}", c.sql);
        assert_eq!(
            base.concrete_class_for(&Value::text("manager")).unwrap().id,
            sub.id
        );
        assert!(base.concrete_class_for(&Value::text("nobody")).is_err());
        assert!(check_table(
            "X",
            &table("x", &[("id", SqlType::Integer), ("type", SqlType::Text)])
        )
        .is_err());
    }
}
