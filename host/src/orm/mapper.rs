//! A mapper joins a class to its table: one attribute per column, the primary key, and a
//! slot for the binding's per-class data (the Lua layer keeps the class's methods there).

use std::any::Any;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::rc::Weak;
use std::sync::atomic::{AtomicU32, Ordering};

use super::relationships::{Relationship, RelationshipSpec};
use crate::error::Result;
use crate::schema::{Table, ValueKind};
use crate::sql::{compile, Compiled, Dialect, Expr, Select, Statement};
use crate::value::Value;

static NEXT_MAPPER_ID: AtomicU32 = AtomicU32::new(1);

/// A mapped column attribute. Attribute `i` maps column `i` of the table.
#[derive(Debug)]
pub struct ColumnAttr {
    pub key: String,
    pub kind: ValueKind,
}

/// A `column_property`: a read-only attribute whose value is a SQL expression over the
/// row, selected with the entity's columns (after them, labelled by its key). Its values
/// live after the column values in an instance (attribute index `attrs.len() + n`).
#[derive(Debug)]
pub struct ColumnProperty {
    pub key: String,
    pub expr: Expr,
    pub kind: ValueKind,
}

pub struct Mapper {
    pub id: u32,
    pub class_name: String,
    pub table: Rc<Table>,
    pub attrs: Vec<ColumnAttr>,
    by_key: HashMap<String, usize>,
    /// Attribute indices of the primary key.
    pub pk: Vec<usize>,
    /// The primary key attribute the database generates, if any.
    pub autoincrement: Option<usize>,
    /// SELECT of all columns by primary key, compiled once (get, refresh, expired loads).
    by_pk_sql: OnceCell<Compiled>,
    /// The binding's data for this class.
    pub host: OnceCell<Box<dyn Any>>,
    /// Relationships declared but not configured yet (see `relationships::configure`).
    pub rel_specs: RefCell<Vec<RelationshipSpec>>,
    /// Configured relationships; `Relationship::index` is the position here.
    pub relationships: RefCell<Vec<Rc<Relationship>>>,
    /// `back_populates` names by relationship key, kept until the pair is linked.
    pub(crate) back_populates: RefCell<HashMap<String, String>>,
    /// Column properties (`column_property`), set before the mapper is shared.
    pub props: Vec<ColumnProperty>,
    /// The version counter (`version_id_col`): 1 on INSERT, bumped by each UPDATE, and
    /// checked by UPDATE and DELETE (optimistic concurrency).
    pub version_col: Option<usize>,
    /// The `Enum` columns (attribute index, values): a value read for one that is not
    /// among its values is a `LookupError`. Empty for most mappers.
    pub enum_attrs: Vec<(usize, Rc<[String]>)>,
    /// `__mapper_args__ = { batch = false }`: the flush saves this mapper's rows one at a
    /// time, each between its own before_ and after_ events (SQLAlchemy's `batch=False`).
    pub batch: bool,
    /// Identities of the classes the model is built on (abstract models, the declarative
    /// base), nearest first, as the binding numbers them: what `binds` may name besides the
    /// class and its table (`session_binds.rs`).
    pub class_lineage: Vec<usize>,
    /// The mapper id the identity map keys this mapper's rows by: its own, or for a mapper
    /// in an inheritance hierarchy the base's (one identity map entry per row).
    pub ident_id: u32,
    /// Its place in an inheritance hierarchy (`None` for the many plain models: one check).
    pub inherit: Option<Box<Inheritance>>,
    /// The delete-orphan relationships of other classes whose target it is (SQLAlchemy's
    /// `_delete_orphans`): an object of it is an orphan when it has no parent in one.
    pub delete_orphans: RefCell<Vec<Weak<Relationship>>>,
    /// The class-less stand-in through which Core DML reaches a plain Table
    /// (`orm.insert(table)`, `orm.update(table)`, `orm.delete(table)`): its statements are
    /// Core ones, which a session runs without autoflush (`Mapper::for_table`).
    pub table_only: bool,
}

/// A mapper's place in an inheritance hierarchy (single-table, joined-table or concrete).
#[derive(Debug)]
pub struct Inheritance {
    /// The mapper it inherits from (`None` for the base of the hierarchy).
    pub parent: Option<Rc<Mapper>>,
    /// The discriminator attribute (`polymorphic_on`), the same index in every mapper of
    /// the hierarchy (a subclass's attributes extend its parent's).
    pub on: Option<usize>,
    /// Its value of the discriminator (`polymorphic_identity`).
    pub identity: Option<Value>,
    /// The hierarchy's classes by identity, shared by its mappers.
    pub map: Rc<PolyMap>,
    /// `polymorphic_load = "inline"`: a query of a parent selects this mapper's columns too.
    pub inline: bool,
    /// `polymorphic_load = "selectin"`: its objects a query of a parent returns load this
    /// mapper's columns by one SELECT ... IN for all of them.
    pub selectin: bool,
    /// Concrete-table inheritance (`None` for single- and joined-table hierarchies).
    pub concrete: Option<super::concrete::Concrete>,
}

/// Columns of subclasses a query of their parent selects after the parent's: (the
/// subclass's table, column index there).
pub type PolyColumns = Rc<[(Rc<Table>, usize)]>;

/// The classes of a hierarchy by discriminator value (`polymorphic_map`).
#[derive(Debug, Default)]
pub struct PolyMap {
    pub entries: RefCell<Vec<(Value, Weak<Mapper>)>>,
}

impl PolyMap {
    /// The mapper of an identity.
    pub fn get(&self, v: &Value) -> Option<Rc<Mapper>> {
        self.entries
            .borrow()
            .iter()
            .find(|(k, _)| k == v)
            .and_then(|(_, m)| m.upgrade())
    }

    /// Every mapper of the hierarchy with an identity, in declaration order.
    pub fn mappers(&self) -> Vec<(Value, Rc<Mapper>)> {
        self.entries
            .borrow()
            .iter()
            .filter_map(|(k, m)| m.upgrade().map(|m| (k.clone(), m)))
            .collect()
    }
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapper[{}({})]", self.class_name, self.table.name)
    }
}

impl Mapper {
    pub fn new(class_name: &str, table: Rc<Table>) -> Result<Mapper> {
        Mapper::build(class_name, table, true)
    }

    /// The class-less stand-in of a plain Table for Core DML (`table_only`).
    pub fn for_table(table: Rc<Table>) -> Result<Mapper> {
        let name = table.name.clone();
        Ok(Mapper {
            table_only: true,
            ..Mapper::build(&name, table, true)?
        })
    }

    /// A mapper whose table may have no primary key: an `orm.AbstractConcreteBase`'s
    /// stand-in table, only ever read through its subclasses' union (whose objects have
    /// their own classes' keys).
    pub fn new_abstract(class_name: &str, table: Rc<Table>) -> Result<Mapper> {
        Mapper::build(class_name, table, false)
    }

    fn build(class_name: &str, table: Rc<Table>, keyed: bool) -> Result<Mapper> {
        if keyed && table.primary_key().is_empty() {
            return Err(crate::arg_err!(
                "Mapper[{class_name}({})] could not assemble any primary key columns for mapped table '{}'",
                table.name,
                table.name
            ));
        }
        let attrs: Vec<ColumnAttr> = table
            .columns
            .iter()
            .map(|c| ColumnAttr {
                key: c.key.clone(),
                kind: c.ty.kind(),
            })
            .collect();
        let by_key = attrs
            .iter()
            .enumerate()
            .map(|(i, a)| (a.key.clone(), i))
            .collect();
        let enum_attrs = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.ty.enum_values().map(|v| (i, v.clone())))
            .collect();
        Ok(Mapper {
            id: NEXT_MAPPER_ID.fetch_add(1, Ordering::Relaxed),
            class_name: class_name.to_string(),
            pk: table.primary_key().to_vec(),
            autoincrement: table.autoincrement_column(),
            table,
            attrs,
            by_key,
            by_pk_sql: OnceCell::new(),
            host: OnceCell::new(),
            rel_specs: RefCell::new(Vec::new()),
            relationships: RefCell::new(Vec::new()),
            back_populates: RefCell::new(HashMap::new()),
            props: Vec::new(),
            version_col: None,
            enum_attrs,
            batch: true,
            class_lineage: Vec::new(),
            ident_id: 0,
            inherit: None,
            delete_orphans: RefCell::new(Vec::new()),
            table_only: false,
        })
        .map(|mut m: Mapper| {
            m.ident_id = m.id;
            m
        })
    }

    /// The discriminator attribute and this class's value of it (a class of a hierarchy
    /// with `polymorphic_on` and a `polymorphic_identity`).
    pub fn discriminator(&self) -> Option<(usize, &Value)> {
        let inh = self.inherit.as_ref()?;
        Some((inh.on?, inh.identity.as_ref()?))
    }

    /// The mapper it inherits from.
    pub fn inherits(&self) -> Option<&Rc<Mapper>> {
        self.inherit.as_ref().and_then(|i| i.parent.as_ref())
    }

    /// Whether this mapper is `other` or inherits from it.
    pub fn isa(&self, other: &Mapper) -> bool {
        if self.id == other.id {
            return true;
        }
        let mut m = self.inherits();
        while let Some(p) = m {
            if p.id == other.id {
                return true;
            }
            m = p.inherits();
        }
        false
    }

    /// The identities of this mapper and of the mappers inheriting from it.
    pub fn identities(&self) -> Vec<Value> {
        let Some(inh) = &self.inherit else {
            return Vec::new();
        };
        inh.map
            .mappers()
            .into_iter()
            .filter(|(_, m)| m.isa(self))
            .map(|(v, _)| v)
            .collect()
    }

    /// The mapper whose row this is, by its discriminator value (a mapper of a hierarchy
    /// with `polymorphic_on`); an identity the hierarchy does not know is an error, as in
    /// SQLAlchemy.
    pub fn class_for(&self, v: &Value) -> Result<Option<Rc<Mapper>>> {
        let Some(inh) = &self.inherit else {
            return Ok(None);
        };
        if inh.on.is_none() {
            return Ok(None);
        }
        if inh.identity.as_ref() == Some(v) {
            return Ok(None);
        }
        match inh.map.get(v) {
            Some(m) => Ok(Some(m)),
            None if v.is_null() => Err(crate::error::Error::new(
                crate::error::ErrorKind::InvalidRequestError,
                format!(
                    "Row of {} can't be loaded into an object; the polymorphic discriminator column '{}.{}' is NULL",
                    self.class_name,
                    self.table.name,
                    self.table.columns[inh.on.unwrap_or(0)].name
                ),
            )),
            None => Err(crate::error::Error::new(
                crate::error::ErrorKind::InvalidRequestError,
                format!(
                    "No such polymorphic_identity {} is defined (a row of {} read as {})",
                    match v {
                        Value::Text(t) => format!("'{t}'"),
                        other => format!("{other:?}"),
                    },
                    self.table.name,
                    self.class_name
                ),
            )),
        }
    }

    /// The subclass columns a query of this mapper selects after its own: those of the
    /// given subclasses (`with_polymorphic`), else of its `polymorphic_load = "inline"`
    /// descendants. `None` when there are none.
    pub fn inline_columns(&self, subs: Option<&[Rc<Mapper>]>) -> Option<PolyColumns> {
        let inh = self.inherit.as_ref()?;
        let subs: Vec<Rc<Mapper>> = match subs {
            Some(s) => s.to_vec(),
            None => inh
                .map
                .mappers()
                .into_iter()
                .map(|(_, m)| m)
                .filter(|m| m.inherit.as_ref().is_some_and(|i| i.inline))
                .collect(),
        };
        let mut out: Vec<(Rc<Table>, usize)> = Vec::new();
        for m in subs {
            if m.id == self.id || !m.isa(self) {
                continue;
            }
            for i in self.attrs.len()..m.attrs.len() {
                // a joined-table subclass's column is its own table's (outer joined)
                let (t, c) = match &m.table.joined {
                    Some(j) => {
                        let (t, c) = j.real(i);
                        (t.clone(), c)
                    }
                    None => (m.table.clone(), i),
                };
                let name = &t.columns[c].name;
                let seen = out.iter().any(|(o, oc)| match &m.table.joined {
                    Some(_) => o.id == t.id && *oc == c,
                    None => &o.columns[*oc].name == name,
                });
                if !seen {
                    out.push((t, c));
                }
            }
        }
        (!out.is_empty()).then(|| out.into())
    }

    /// The attribute of this mapper that a subclass column selected after a parent's span
    /// (`PolyColumns`) fills: by name in a single-table hierarchy, by table and column for
    /// a joined-table subclass.
    pub fn poly_attr(&self, t: &Table, c: usize) -> Option<usize> {
        match &self.table.joined {
            None => self.table.column_index(&t.columns[c].name),
            Some(j) => (0..self.attrs.len()).find(|&i| {
                let (rt, rc) = j.real(i);
                rt.id == t.id && rc == c
            }),
        }
    }

    /// The tables a query of this mapper outer joins to select the columns `poly` of its
    /// joined-table subclasses (`with_polymorphic`, `polymorphic_load = "inline"`), with
    /// each one's ON clause on the key read through `col`.
    pub fn poly_joins(
        &self,
        poly: &[(Rc<Table>, usize)],
        col: &dyn Fn(usize) -> Expr,
    ) -> Vec<crate::sql::Join> {
        let mut out: Vec<crate::sql::Join> = Vec::new();
        let own = |id: u32| {
            self.table.id == id
                || self
                    .table
                    .joined
                    .as_ref()
                    .is_some_and(|j| j.tables.iter().any(|t| t.id == id))
        };
        for (t, _) in poly {
            if own(t.id) || out.iter().any(|j| j.target.table_id() == t.id) {
                continue;
            }
            let on = t
                .primary_key()
                .iter()
                .zip(&self.pk)
                .map(|(&c, &p)| Expr::binary(col(p), crate::sql::BinOp::Eq, Expr::column(t, c)))
                .reduce(|a, b| Expr::binary(a, crate::sql::BinOp::And, b));
            if let Some(on) = on {
                out.push(crate::sql::Join {
                    target: crate::sql::FromItem::Table(t.clone()),
                    on,
                    outer: true,
                });
            }
        }
        out
    }

    /// Whether this is a joined-table subclass with a table of its own: its join has more
    /// tables than its parent's (a single-table subclass of a joined-table subclass maps its
    /// parent's join, its columns added to the parent's table).
    pub fn adds_table(&self) -> bool {
        let Some(j) = &self.table.joined else {
            return false;
        };
        match self.inherits().and_then(|p| p.table.joined.as_ref()) {
            Some(pj) => j.tables.len() > pj.tables.len(),
            None => true,
        }
    }

    /// The WHERE criterion a query of a subclass adds in a single-table hierarchy
    /// (`units.kind IN ('archer', ...)`): none for the base or a plain mapper.
    pub fn criterion(&self, col: &dyn Fn(usize) -> Expr) -> Option<Expr> {
        let inh = self.inherit.as_ref()?;
        inh.parent.as_ref()?;
        // a joined-table subclass's rows are those its table joins
        if self.adds_table() {
            return None;
        }
        let on = inh.on?;
        let ids = self.identities();
        Some(Expr::In {
            expr: Box::new(col(on)),
            items: ids.into_iter().map(Expr::bind).collect(),
            negate: false,
        })
    }

    /// Checks a value read from the database for attribute `i` (an `Enum` column's must be
    /// among its values: `LookupError`).
    #[inline]
    pub fn check_loaded(&self, i: usize, v: &Value) -> Result<()> {
        if self.enum_attrs.is_empty() {
            return Ok(());
        }
        match self.enum_attrs.iter().find(|(a, _)| *a == i) {
            Some((_, values)) => crate::schema::types::check_enum_value(values, v, &|| {
                format!("{}.{}", self.class_name, self.attrs[i].key)
            }),
            None => Ok(()),
        }
    }

    /// Makes attribute `i`, an integer column, the version counter (before the mapper is
    /// shared).
    pub fn with_version_col(mut self, i: usize) -> Result<Mapper> {
        if self.attrs.get(i).map(|a| a.kind) != Some(ValueKind::Integer) {
            return Err(crate::arg_err!(
                "{}: version_id_col must be an Integer column",
                self.class_name
            ));
        }
        self.version_col = Some(i);
        Ok(self)
    }

    /// Adds column properties (before the mapper is shared); a key may not repeat a
    /// column's.
    pub fn with_props(mut self, props: Vec<ColumnProperty>) -> Result<Mapper> {
        for p in &props {
            if self.by_key.contains_key(&p.key) {
                return Err(crate::arg_err!(
                    "{}.{}: a column_property may not share its name with a column",
                    self.class_name,
                    p.key
                ));
            }
        }
        self.props = props;
        Ok(self)
    }

    /// The number of values an instance holds: columns, then column properties. Also the
    /// width of the entity's span in a SELECT, and where relationship indices start among
    /// the binding's attribute indices.
    #[inline]
    pub fn width(&self) -> usize {
        self.attrs.len() + self.props.len()
    }

    /// The index (among instance values) of the column property named `key`.
    pub fn prop_index(&self, key: &str) -> Option<usize> {
        self.props
            .iter()
            .position(|p| p.key == key)
            .map(|n| self.attrs.len() + n)
    }

    /// The value kind of value `i` (a column or a column property).
    pub fn value_kind(&self, i: usize) -> ValueKind {
        match self.attrs.get(i) {
            Some(a) => a.kind,
            None => self.props[i - self.attrs.len()].kind,
        }
    }

    /// The key of value `i` (a column or a column property).
    pub fn value_key(&self, i: usize) -> &str {
        match self.attrs.get(i) {
            Some(a) => &a.key,
            None => &self.props[i - self.attrs.len()].key,
        }
    }

    /// The entity's SELECT list read through `col` (the table's columns, or an alias's):
    /// the columns, then each column property, re-aimed the same way and labelled by its key.
    pub fn entity_exprs(&self, col: &dyn Fn(usize) -> Expr) -> Vec<Expr> {
        let mut out: Vec<Expr> = (0..self.attrs.len()).map(col).collect();
        let tid = self.table.id;
        for p in &self.props {
            let e = p
                .expr
                .adapt_deep(&|c| (c.table.id == tid && c.from.is_none()).then(|| col(c.index)));
            out.push(Expr::Label(Rc::from(p.key.as_str()), Box::new(e)));
        }
        out
    }

    #[inline]
    pub fn attr_index(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The configured relationship named `key`.
    pub fn relationship(&self, key: &str) -> Option<Rc<Relationship>> {
        self.relationships
            .borrow()
            .iter()
            .find(|r| r.key == key)
            .cloned()
    }

    /// True while relationships are declared but not configured.
    pub fn needs_configure(&self) -> bool {
        !self.rel_specs.borrow().is_empty()
    }

    /// The entity's SELECT list: its columns, then its column properties.
    pub fn column_exprs(&self) -> Vec<Expr> {
        if self.props.is_empty() {
            return (0..self.table.columns.len())
                .map(|i| Expr::column(&self.table, i))
                .collect();
        }
        self.entity_exprs(&|i| Expr::column(&self.table, i))
    }

    /// `table.pk1 = ? AND ...` with slots 0.. for the key values.
    pub fn pk_condition(&self, first_slot: usize) -> Vec<Expr> {
        self.pk
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                Expr::binary(
                    Expr::column(&self.table, i),
                    crate::sql::BinOp::Eq,
                    Expr::Slot(first_slot + n),
                )
            })
            .collect()
    }

    /// The SELECT of one row by primary key.
    pub fn by_pk_sql(&self, dialect: &dyn Dialect) -> Result<&Compiled> {
        if let Some(c) = self.by_pk_sql.get() {
            return Ok(c);
        }
        let mut s = Select::new(self.column_exprs());
        s.where_ = self.pk_condition(0);
        s.where_
            .extend(self.criterion(&|i| Expr::column(&self.table, i)));
        let c = compile(&Statement::Select(s), dialect)?;
        Ok(self.by_pk_sql.get_or_init(|| c))
    }

    /// The parameters of `by_pk_sql` for a primary key: the key values, and the values
    /// bound in column properties' expressions.
    pub fn by_pk_params(&self, c: &Compiled, key: Vec<Value>) -> Result<Vec<Value>> {
        if self.props.is_empty() && self.inherit.is_none() {
            return Ok(key);
        }
        c.bind(&key, &|_| None)
    }

    /// `"User.name"`: how errors name an attribute.
    pub fn attr_path(&self, i: usize) -> String {
        format!("{}.{}", self.class_name, self.value_key(i))
    }
}
