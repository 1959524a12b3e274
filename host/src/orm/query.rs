//! ORM-level statements: a SELECT plus what each of its result columns becomes (an entity
//! built from a span of columns, or a plain value), and the buffered result rows.

use std::rc::Rc;

use super::instance::Instance;
use super::mapper::Mapper;
use super::strategy_options::LoaderOption;
use crate::schema::ValueKind;
use crate::sql::{Derived, Expr, Select};
use crate::value::Value;

#[derive(Clone, Debug)]
pub enum ResultColumn {
    /// An entity whose columns start at `start` in the SELECT list; `alias` is the name of
    /// its `aliased()` form, which the row knows it by.
    Entity {
        mapper: Rc<Mapper>,
        start: usize,
        alias: Option<Rc<str>>,
        /// Columns of subclasses the row holds after the entity's own (a single-table
        /// hierarchy's `polymorphic_load = "inline"` or `with_polymorphic`).
        poly: Option<super::mapper::PolyColumns>,
    },
    Value {
        name: Rc<str>,
        kind: ValueKind,
        index: usize,
        /// An `Enum` expression's values: what is read must be among them (`LookupError`).
        enum_values: Option<Rc<[String]>>,
    },
}

impl ResultColumn {
    pub fn name(&self) -> Rc<str> {
        match self {
            ResultColumn::Entity { alias: Some(a), .. } => a.clone(),
            ResultColumn::Entity { mapper, .. } => Rc::from(mapper.class_name.as_str()),
            ResultColumn::Value { name, .. } => name.clone(),
        }
    }
}

/// What a SELECT lists: an entity or an expression.
pub enum SelectItem {
    Entity(Rc<Mapper>),
    /// `with_polymorphic(Model, { Sub, ... })`: the entity with the subclasses' columns.
    Polymorphic(Rc<Mapper>, Vec<Rc<Mapper>>),
    /// `aliased(Model, name)`: the entity read from an alias of its table.
    Aliased(Rc<Mapper>, Rc<Derived>),
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub struct OrmSelect {
    pub select: Select,
    pub columns: Vec<ResultColumn>,
    /// Loader options (`:options(...)`), shared by the statements built from this one.
    pub options: Rc<Vec<LoaderOption>>,
    /// The model of its first column attribute when it selects no entity
    /// (`orm.select(User.name)`): which engine a session's `binds` run it on, as
    /// SQLAlchemy's plugin subject.
    pub subject: Option<Rc<Mapper>>,
}

/// The subclass columns of a polymorphic entity after its own, and the criterion of a
/// subclass entity (`kind IN (...)`).
fn extend_poly(
    select: &mut Select,
    m: &Rc<Mapper>,
    poly: Option<super::mapper::PolyColumns>,
    col: &dyn Fn(&Rc<crate::schema::Table>, usize) -> Expr,
) {
    if let Some(p) = poly {
        select.columns.extend(p.iter().map(|(t, i)| col(t, *i)));
        select.joins.extend(m.poly_joins(&p, &|i| col(&m.table, i)));
    }
    if let Some(c) = m.criterion(&|i| col(&m.table, i)) {
        select.where_.push(c);
    }
}

impl OrmSelect {
    /// Whether a session autoflushes before it: an entity is selected, or a mapped class
    /// or attribute appears anywhere (`Select::is_orm_enabled`). A SELECT of plain Tables'
    /// columns only is a Core statement.
    pub fn is_orm_enabled(&self) -> bool {
        self.columns
            .iter()
            .any(|c| matches!(c, ResultColumn::Entity { .. }))
            || self.select.is_orm_enabled()
    }

    pub fn new(items: Vec<SelectItem>) -> OrmSelect {
        let mut select = Select::default();
        let mut columns = Vec::new();
        // `with_polymorphic` of a class read through its concrete union: the union, with
        // its classes' columns read from it too (`wp.Manager.manager_data` is
        // `pjoin.manager_data`)
        let mut union_classes: Vec<(Rc<Mapper>, Vec<Rc<Mapper>>)> = Vec::new();
        for item in items {
            let item = match item {
                SelectItem::Polymorphic(m, subs) if m.concrete().is_some() => {
                    union_classes.push((m.clone(), subs));
                    SelectItem::Entity(m)
                }
                other => other,
            };
            match item {
                SelectItem::Entity(m) => {
                    // a concrete class with concrete subclasses reads their union
                    if let Some(union) = m.polymorphic_union().ok().flatten() {
                        let (poly, extra) = m.union_extra_columns(&union);
                        columns.push(ResultColumn::Entity {
                            mapper: m.clone(),
                            start: select.columns.len(),
                            alias: None,
                            poly: Some(poly),
                        });
                        select.columns.extend(m.column_exprs());
                        select.columns.extend(extra);
                        select.polymorphic.push((m.table.clone(), union));
                        continue;
                    }
                    let poly = m.inherit.as_ref().and_then(|_| m.inline_columns(None));
                    columns.push(ResultColumn::Entity {
                        mapper: m.clone(),
                        start: select.columns.len(),
                        alias: None,
                        poly: poly.clone(),
                    });
                    select.columns.extend(m.column_exprs());
                    if m.inherit.is_some() {
                        extend_poly(&mut select, &m, poly, &|t, i| Expr::column(t, i));
                    }
                }
                SelectItem::Polymorphic(m, subs) => {
                    let poly = m.inline_columns(Some(&subs));
                    columns.push(ResultColumn::Entity {
                        mapper: m.clone(),
                        start: select.columns.len(),
                        alias: None,
                        poly: poly.clone(),
                    });
                    select.columns.extend(m.column_exprs());
                    extend_poly(&mut select, &m, poly, &|t, i| Expr::column(t, i));
                }
                SelectItem::Aliased(m, d) => {
                    // an alias of a concrete union: its discriminator and other classes'
                    // columns after the entity's
                    let union = (m.reads_union()
                        && d.table
                            .column_index(super::concrete::DISCRIMINATOR)
                            .is_some())
                    .then(|| m.union_extra_columns(&d));
                    columns.push(ResultColumn::Entity {
                        mapper: m.clone(),
                        start: select.columns.len(),
                        alias: Some(Rc::from(d.table.name.as_str())),
                        poly: union.as_ref().map(|(p, _)| p.clone()),
                    });
                    select.columns.extend(m.entity_exprs(&|i| d.column(i)));
                    if let Some((_, extra)) = union {
                        select.columns.extend(extra);
                    }
                    if let Some(c) = m.criterion(&|i| d.column(i)) {
                        select.where_.push(c);
                    }
                }
                SelectItem::Expr(e) => {
                    let n = columns.len();
                    let name: Rc<str> = Rc::from(
                        e.result_name()
                            .unwrap_or_else(|| format!("anon_{}", n + 1))
                            .as_str(),
                    );
                    let ty = e.sql_type();
                    columns.push(ResultColumn::Value {
                        name,
                        kind: ty.kind(),
                        index: select.columns.len(),
                        enum_values: ty.enum_values().cloned(),
                    });
                    select.columns.push(e);
                }
            }
        }
        for (m, subs) in union_classes {
            let Some(u) = select
                .polymorphic
                .iter()
                .find(|(t, _)| t.id == m.table.id)
                .map(|(_, u)| u.clone())
            else {
                continue;
            };
            for sub in subs {
                if !select.polymorphic.iter().any(|(t, _)| t.id == sub.table.id) {
                    select.polymorphic.push((sub.table.clone(), u.clone()));
                }
            }
        }
        OrmSelect {
            select,
            columns,
            options: Rc::default(),
            subject: None,
        }
    }

    /// Reads `m`'s table through its concrete hierarchy's polymorphic union when it has one
    /// (`orm.select(Employee.name)`, `select_from(Employee)`: the columns of every class).
    pub fn read_through_union(&mut self, m: &Rc<Mapper>) {
        if self
            .select
            .polymorphic
            .iter()
            .any(|(t, _)| t.id == m.table.id)
        {
            return;
        }
        if let Some(u) = m.polymorphic_union().ok().flatten() {
            self.select.polymorphic.push((m.table.clone(), u));
        }
    }

    /// The entity of the first column, if it is one (the target of `filter_by`).
    pub fn first_entity(&self) -> Option<&Rc<Mapper>> {
        self.columns.iter().find_map(|c| match c {
            ResultColumn::Entity { mapper, .. } => Some(mapper),
            _ => None,
        })
    }
}

#[derive(Clone)]
pub enum Item {
    Instance(Rc<Instance>),
    Value(Value, ValueKind),
    /// An entity absent from the row (the NULL side of an outer join).
    None,
}

/// Buffered result rows: `width` items per row.
#[derive(Default)]
pub struct Rows {
    pub keys: Rc<[Rc<str>]>,
    pub width: usize,
    pub items: Vec<Item>,
    /// Joined eager loading of a collection repeats parent rows: a 2.0-style result must
    /// be uniqued (`unique()`) before rows are fetched, as in SQLAlchemy.
    pub needs_unique: bool,
}

impl Rows {
    /// Plain value rows (`orm.text` results): `values` one row after another, `names.len()`
    /// each.
    pub fn of_values(names: &[String], values: Vec<Value>) -> Rows {
        Rows {
            keys: names.iter().map(|n| Rc::from(n.as_str())).collect(),
            width: names.len(),
            items: values
                .into_iter()
                .map(|v| Item::Value(v, crate::schema::ValueKind::Any))
                .collect(),
            needs_unique: false,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len().checked_div(self.width).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn row(&self, i: usize) -> &[Item] {
        &self.items[i * self.width..(i + 1) * self.width]
    }
}
