//! SELECT statements, derived FROM items (aliases, subqueries, CTEs) and compound selects.

use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::expr::{BinOp, ColumnRef, Expr};
use crate::arg_err;
use crate::error::Result;
use crate::schema::{Column, Table};

/// What a derived FROM item stands for.
#[derive(Debug)]
pub enum DerivedKind {
    /// `users AS u2`: the aliased table.
    Alias(Rc<Table>),
    /// `(SELECT ...) AS anon_1`.
    Subquery(Select),
    /// `LATERAL (SELECT ...) AS name`: a FROM subquery that correlates to the FROM items
    /// before it (`:lateral()`; PostgreSQL and MySQL 8).
    Lateral(Select),
    /// `WITH name AS (SELECT ...)`.
    Cte(Select),
    /// `name AS alias`: a CTE read a second time under another name (a self-join, or the
    /// recursive member of a `WITH RECURSIVE` reading the rows found so far).
    CteAlias(Rc<Derived>),
    /// `(VALUES (...), (...)) AS name (a, b)`: `orm.values(...)`'s rows, one expression
    /// per column.
    Values(Vec<Vec<Expr>>),
}

/// A FROM item that is not a plain table. `table` is a stand-in table named by the alias
/// whose columns are the item's columns: expressions reference it as they would a table.
#[derive(Debug)]
pub struct Derived {
    pub table: Rc<Table>,
    pub kind: DerivedKind,
    /// A `WITH RECURSIVE` CTE: its compound members may read the CTE itself.
    pub recursive: bool,
}

static NEXT_ANON: AtomicU32 = AtomicU32::new(1);

/// A fresh `anon_N` name for an unnamed alias or subquery.
pub fn anon_name() -> String {
    format!("anon_{}", NEXT_ANON.fetch_add(1, Ordering::Relaxed))
}

impl Derived {
    /// `aliased(table, name)`: the same columns (and foreign keys) under another name.
    pub fn alias(table: &Rc<Table>, name: &str) -> Result<Rc<Derived>> {
        let stand_in = Table::new(
            name,
            table.columns.clone(),
            table.constraints.clone(),
            vec![],
        )?;
        Ok(Rc::new(Derived {
            table: Rc::new(stand_in),
            kind: DerivedKind::Alias(table.clone()),
            recursive: false,
        }))
    }

    /// `cte.alias(name)`: the same CTE under another name, its columns keeping their
    /// foreign keys.
    pub fn cte_alias(cte: &Rc<Derived>, name: &str) -> Result<Rc<Derived>> {
        let cte = match &cte.kind {
            DerivedKind::Cte(_) => cte.clone(),
            DerivedKind::CteAlias(inner) => inner.clone(),
            _ => return Err(arg_err!("alias(): '{}' is not a CTE", cte.table.name)),
        };
        let stand_in = Table::new(name, cte.table.columns.clone(), vec![], vec![])?;
        Ok(Rc::new(Derived {
            table: Rc::new(stand_in),
            kind: DerivedKind::CteAlias(cte),
            recursive: false,
        }))
    }

    /// A subquery or CTE of `select`; its columns are named after the select's result
    /// columns (labelled inside the select when they are not plain columns of that name).
    /// `orm.values(columns...):data(rows)`: a FROM item of literal rows.
    pub fn values(name: &str, columns: Vec<Column>, rows: Vec<Vec<Expr>>) -> Result<Rc<Derived>> {
        if columns.is_empty() {
            return Err(arg_err!("values(): needs at least one column"));
        }
        if rows.is_empty() {
            return Err(arg_err!("values({name}): needs at least one row of data"));
        }
        if let Some((i, r)) = rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != columns.len())
        {
            return Err(arg_err!(
                "values({name}): row {} has {} values for {} columns",
                i + 1,
                r.len(),
                columns.len()
            ));
        }
        Ok(Rc::new(Derived {
            table: Rc::new(Table::new(name, columns, vec![], vec![])?),
            kind: DerivedKind::Values(rows),
            recursive: false,
        }))
    }

    pub fn subquery(mut select: Select, name: &str, cte: bool) -> Result<Rc<Derived>> {
        if select.columns.is_empty() {
            return Err(arg_err!("a subquery needs at least one column"));
        }
        let mut columns: Vec<Column> = Vec::with_capacity(select.columns.len());
        for (i, e) in select.columns.iter_mut().enumerate() {
            let base = e.result_name().unwrap_or_else(|| format!("anon_{}", i + 1));
            let mut name = base.clone();
            let mut n = 0;
            while columns.iter().any(|c| c.name == name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            let plain = matches!(e, Expr::Column(c) if c.name() == name);
            // a plain column keeps its foreign keys, so joins to the subquery infer ON
            let fks = match e {
                Expr::Column(c) => c.table.columns[c.index].foreign_keys.clone(),
                _ => Vec::new(),
            };
            let inner = if let Expr::Label(_, inner) = e {
                (**inner).clone()
            } else {
                e.clone()
            };
            let ty = inner.sql_type();
            if !plain {
                *e = Expr::Label(Rc::from(name.as_str()), Box::new(inner));
            }
            let mut col = Column::new(&name, ty);
            col.foreign_keys = fks;
            columns.push(col);
        }
        let stand_in = Table::new(name, columns, vec![], vec![])?;
        Ok(Rc::new(Derived {
            table: Rc::new(stand_in),
            kind: if cte {
                DerivedKind::Cte(select)
            } else {
                DerivedKind::Subquery(select)
            },
            recursive: false,
        }))
    }

    /// `select:lateral(name)`: a subquery that may read the columns of the FROM items
    /// before it in the enclosing SELECT.
    pub fn lateral(select: Select, name: &str) -> Result<Rc<Derived>> {
        let d = Derived::subquery(select, name, false)?;
        let d = Rc::try_unwrap(d).expect("a new derived item has one owner");
        let DerivedKind::Subquery(select) = d.kind else {
            unreachable!("subquery() makes a subquery")
        };
        Ok(Rc::new(Derived {
            kind: DerivedKind::Lateral(select),
            ..d
        }))
    }

    /// `WITH RECURSIVE name AS (select ...)`: `select` is the anchor member; recursive
    /// members that read the CTE's own columns are added with `union_member`.
    pub fn recursive_cte(select: Select, name: &str) -> Result<Rc<Derived>> {
        let d = Derived::subquery(select, name, true)?;
        let d = Rc::try_unwrap(d).expect("a new derived item has one owner");
        Ok(Rc::new(Derived {
            recursive: true,
            ..d
        }))
    }

    /// The CTE with `part` added as a `UNION [ALL]` member. The result stands for the same
    /// FROM item (same stand-in table), so `part` may reference this CTE's columns.
    pub fn union_member(self: &Rc<Derived>, part: Select, all: bool) -> Result<Rc<Derived>> {
        let DerivedKind::Cte(select) = &self.kind else {
            return Err(arg_err!(
                "union() / union_all() on a subquery: only a CTE takes more members"
            ));
        };
        if part.columns.len() != self.table.columns.len() {
            return Err(arg_err!(
                "CTE {}: all members of a union must have the same number of columns ({} and {})",
                self.table.name,
                self.table.columns.len(),
                part.columns.len()
            ));
        }
        let mut select = select.clone();
        select.compound.push((SetOp::union(all), part));
        Ok(Rc::new(Derived {
            table: self.table.clone(),
            kind: DerivedKind::Cte(select),
            recursive: self.recursive,
        }))
    }

    /// The column `i` of this item as an expression.
    pub fn column(self: &Rc<Derived>, i: usize) -> Expr {
        Expr::Column(ColumnRef {
            table: self.table.clone(),
            index: i,
            from: Some(self.clone()),
            core: false,
        })
    }

    /// Whether reading this item makes a statement ORM-enabled: a subquery or CTE does
    /// when its SELECT is. An alias's columns say it themselves (an alias of a mapped
    /// class is named by the statement, `Select::names_entity`).
    pub fn is_orm_enabled(&self) -> bool {
        match &self.kind {
            DerivedKind::Alias(_) => false,
            DerivedKind::Subquery(s) | DerivedKind::Lateral(s) | DerivedKind::Cte(s) => {
                s.is_orm_enabled()
            }
            DerivedKind::CteAlias(d) => d.is_orm_enabled(),
            DerivedKind::Values(rows) => rows.iter().flatten().any(Expr::is_orm_enabled),
        }
    }
}

#[derive(Clone, Debug)]
pub enum FromItem {
    Table(Rc<Table>),
    Derived(Rc<Derived>),
}

impl FromItem {
    pub fn table_id(&self) -> u32 {
        self.table().id
    }

    /// The table (or stand-in table) the item's column expressions reference.
    pub fn table(&self) -> &Rc<Table> {
        match self {
            FromItem::Table(t) => t,
            FromItem::Derived(d) => &d.table,
        }
    }

    /// The table whose foreign keys describe the item.
    fn base_table(&self) -> Option<&Rc<Table>> {
        match self {
            FromItem::Table(t) => Some(t),
            FromItem::Derived(d) => match &d.kind {
                DerivedKind::Alias(t) => Some(t),
                // its columns carry the foreign keys of the columns they select
                _ => Some(&d.table),
            },
        }
    }

    /// The name error messages use: the table's name, or `users AS u2`.
    pub fn describe(&self) -> String {
        match self {
            FromItem::Table(t) => t.name.clone(),
            FromItem::Derived(d) => match &d.kind {
                DerivedKind::Alias(t) => format!("{} AS {}", t.name, d.table.name),
                DerivedKind::CteAlias(c) => format!("{} AS {}", c.table.name, d.table.name),
                _ => d.table.name.clone(),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Join {
    pub target: FromItem,
    pub on: Expr,
    pub outer: bool,
}

/// How a compound SELECT joins its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Union,
    UnionAll,
    Except,
    ExceptAll,
    Intersect,
    IntersectAll,
}

impl SetOp {
    pub fn union(all: bool) -> SetOp {
        if all {
            SetOp::UnionAll
        } else {
            SetOp::Union
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            SetOp::Union => " UNION ",
            SetOp::UnionAll => " UNION ALL ",
            SetOp::Except => " EXCEPT ",
            SetOp::ExceptAll => " EXCEPT ALL ",
            SetOp::Intersect => " INTERSECT ",
            SetOp::IntersectAll => " INTERSECT ALL ",
        }
    }

    /// The statement method that builds it (`union_all`, `except_`).
    pub fn method(self) -> &'static str {
        match self {
            SetOp::Union => "union",
            SetOp::UnionAll => "union_all",
            SetOp::Except => "except_",
            SetOp::ExceptAll => "except_all",
            SetOp::Intersect => "intersect",
            SetOp::IntersectAll => "intersect_all",
        }
    }

    pub fn is_intersect(self) -> bool {
        matches!(self, SetOp::Intersect | SetOp::IntersectAll)
    }

    /// The ALL forms, which SQLite lacks.
    pub fn is_all(self) -> bool {
        matches!(
            self,
            SetOp::UnionAll | SetOp::ExceptAll | SetOp::IntersectAll
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct Select {
    pub columns: Vec<Expr>,
    /// FROM items named explicitly (`select_from`); the rest are derived from the columns
    /// and the WHERE clause, as SQLAlchemy does.
    pub from: Vec<FromItem>,
    pub joins: Vec<Join>,
    pub where_: Vec<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Vec<Expr>,
    pub order_by: Vec<Expr>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub distinct: bool,
    /// `UNION` / `EXCEPT` / `INTERSECT` members after this one; ORDER BY, LIMIT and
    /// OFFSET then apply to the whole compound.
    pub compound: Vec<(SetOp, Select)>,
    /// `with_for_update{...}`: the row locks the SELECT takes.
    pub for_update: Option<crate::sql::locking::ForUpdate>,
    /// `correlate_except(...)`: nested in an enclosing statement, these FROM items (by
    /// table id) stay in this SELECT's FROM even when the enclosing one reads them too.
    pub correlate_except: Option<Vec<u32>>,
    /// Tables this SELECT reads through a concrete hierarchy's polymorphic union (a query
    /// of a concrete base): their columns render as the union's columns of the same key,
    /// and the table in FROM as the union (`(SELECT ... UNION ALL ...) AS pjoin`).
    pub polymorphic: Vec<(Rc<Table>, Rc<Derived>)>,
    /// A mapped class or an alias of one is named as a FROM item (`select_from(User)`,
    /// `join(User)`, `join(User.posts)`): the statement is ORM-enabled whatever its
    /// columns (`is_orm_enabled`).
    pub names_entity: bool,
}

impl Select {
    pub fn new(columns: Vec<Expr>) -> Select {
        Select {
            columns,
            ..Default::default()
        }
    }

    /// Whether the statement is ORM-enabled, as SQLAlchemy tells its ORM statements (which
    /// a session autoflushes before) from Core ones: a mapped class, an alias of one or an
    /// attribute of one appears anywhere in it (selected, in FROM, joined, in WHERE, GROUP
    /// BY, HAVING or ORDER BY, in a nested SELECT or a compound member).
    pub fn is_orm_enabled(&self) -> bool {
        let exprs = |v: &[Expr]| v.iter().any(Expr::is_orm_enabled);
        let from = |f: &FromItem| matches!(f, FromItem::Derived(d) if d.is_orm_enabled());
        self.names_entity
            || exprs(&self.columns)
            || exprs(&self.where_)
            || exprs(&self.group_by)
            || exprs(&self.having)
            || exprs(&self.order_by)
            || self.from.iter().any(from)
            || self
                .joins
                .iter()
                .any(|j| from(&j.target) || j.on.is_orm_enabled())
            || self.compound.iter().any(|(_, s)| s.is_orm_enabled())
    }

    /// A copy with every expression adapted by `Expr::adapt_deep` (FROM items stay).
    pub fn adapt_deep(&self, f: &dyn Fn(&ColumnRef) -> Option<Expr>) -> Select {
        let all = |v: &[Expr]| v.iter().map(|e| e.adapt_deep(f)).collect::<Vec<_>>();
        Select {
            columns: all(&self.columns),
            from: self.from.clone(),
            joins: self
                .joins
                .iter()
                .map(|j| Join {
                    target: j.target.clone(),
                    on: j.on.adapt_deep(f),
                    outer: j.outer,
                })
                .collect(),
            where_: all(&self.where_),
            group_by: all(&self.group_by),
            having: all(&self.having),
            order_by: all(&self.order_by),
            limit: self.limit,
            offset: self.offset,
            distinct: self.distinct,
            compound: self
                .compound
                .iter()
                .map(|(a, s)| (*a, s.adapt_deep(f)))
                .collect(),
            correlate_except: self.correlate_except.clone(),
            for_update: self.for_update.clone(),
            polymorphic: self.polymorphic.clone(),
            names_entity: self.names_entity,
        }
    }

    /// This SELECT with its `polymorphic` tables replaced by their unions: their columns
    /// (in every clause, nested subqueries too) by the union's of the same key, and FROM /
    /// join items naming them by the union.
    pub fn read_through_unions(&self) -> Select {
        let subst = |c: &ColumnRef| -> Option<Expr> {
            if c.from.is_some() {
                return None;
            }
            let (_, d) = self.polymorphic.iter().find(|(t, _)| t.id == c.table.id)?;
            // the union's columns are named by the tables' column keys
            Some(match d.table.column_index(&c.table.columns[c.index].key) {
                Some(i) => d.column(i),
                None => Expr::Null,
            })
        };
        let mut s = self.adapt_deep(&subst);
        s.polymorphic = Vec::new();
        let swap = |f: &FromItem| -> FromItem {
            match f {
                FromItem::Table(t) => match self.polymorphic.iter().find(|(p, _)| p.id == t.id) {
                    Some((_, d)) => FromItem::Derived(d.clone()),
                    None => f.clone(),
                },
                other => other.clone(),
            }
        };
        s.from = s.from.iter().map(swap).collect();
        for j in &mut s.joins {
            j.target = swap(&j.target);
        }
        s
    }

    /// The FROM list: explicit items first, then tables named by the columns, the WHERE,
    /// ORDER BY and other clauses, leaving out tables that are join targets.
    pub fn froms(&self) -> Vec<FromItem> {
        let mut found: Vec<FromItem> = Vec::new();
        for e in self
            .columns
            .iter()
            .chain(&self.where_)
            .chain(&self.order_by)
            .chain(&self.group_by)
            .chain(&self.having)
        {
            e.collect_froms(&mut found);
        }
        let mut out = self.from.clone();
        for f in found {
            let id = f.table_id();
            if out.iter().any(|o| o.table_id() == id)
                || self.joins.iter().any(|j| j.target.table_id() == id)
            {
                continue;
            }
            out.push(f);
        }
        // as SQLAlchemy's display FROMs: a joined-table subclass's join hides the tables it
        // joins (and a parent class's join it extends), so `select(Employee,
        // Engineer.language)` reads `employees JOIN engineers` once
        if out.iter().any(|f| joined_of(f).is_some()) {
            let hidden: Vec<bool> = out
                .iter()
                .map(|f| out.iter().any(|by| hides(by, f)))
                .collect();
            let mut keep = hidden.into_iter();
            out.retain(|_| !keep.next().unwrap_or(false));
        }
        out
    }

    /// The FROM items of a subquery nested in an expression. As SQLAlchemy's
    /// auto-correlation does, when it reads several FROM items, those of an enclosing
    /// statement (`outer`) are left out: `EXISTS (SELECT ... FROM posts WHERE posts.user_id
    /// = users.id)`.
    pub fn correlated_froms(&self, outer: &[u32]) -> Result<Vec<FromItem>> {
        let all = self.froms();
        if all.len() < 2 {
            return Ok(all);
        }
        let keep = |id: u32| {
            self.correlate_except
                .as_ref()
                .is_some_and(|except| except.contains(&id))
        };
        let own: Vec<FromItem> = all
            .iter()
            .filter(|f| keep(f.table_id()) || !outer.contains(&f.table_id()))
            .cloned()
            .collect();
        if own.is_empty() {
            return Err(crate::invalid!(
                "Select statement returned no FROM clauses due to auto-correlation; every table it reads ({}) is in the enclosing query",
                all.iter().map(|f| f.describe()).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(own)
    }

    /// The ON clause of `join(target)` given without one, inferred from the foreign keys
    /// as SQLAlchemy does. Once the statement has an explicit FROM (`select_from`) or
    /// earlier joins, the join continues that chain: the most recent item that links to
    /// `target` wins, and only when it has none are the other chain items searched.
    /// Otherwise the tables the columns and clauses name are the candidates, and more
    /// than one that links is an error.
    pub fn infer_join_onclause(&self, target: &FromItem) -> Result<Expr> {
        if self.from.is_empty() && self.joins.is_empty() {
            return infer_onclause(&self.froms(), target);
        }
        let chain: Vec<FromItem> = self
            .from
            .iter()
            .cloned()
            .chain(self.joins.iter().map(|j| j.target.clone()))
            .collect();
        for item in chain.iter().rev() {
            let links = links_between(item, target);
            if !links.is_empty() {
                return onclause_of(item, target, links);
            }
        }
        infer_onclause(&chain, target)
    }
}

/// The foreign-key links from `a` to `b`: one list of (a column, b column) per constraint.
fn fk_links(a: &FromItem, b: &FromItem) -> Vec<Vec<(usize, usize)>> {
    let (Some(at), Some(bt)) = (a.base_table(), b.base_table()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, col) in at.columns.iter().enumerate() {
        for fk in &col.foreign_keys {
            let (t, c) = fk.target_parts();
            if t == bt.name {
                if let Some(j) = bt.column_index(c) {
                    out.push(vec![(i, j)]);
                }
            }
        }
    }
    for con in &at.constraints {
        if let crate::schema::Constraint::ForeignKey {
            columns,
            target_table,
            target_columns,
            ..
        } = con
        {
            if *target_table == bt.name {
                let pairs: Option<Vec<(usize, usize)>> = columns
                    .iter()
                    .zip(target_columns)
                    .map(|(c, tc)| Some((at.column_index(c)?, bt.column_index(tc)?)))
                    .collect();
                if let Some(p) = pairs {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

/// The column pairs one foreign key constraint equates.
type OnPairs = Vec<(Expr, Expr)>;

/// The equated column pairs of every foreign key constraint between `left` and
/// `target`, in either direction.
fn links_between(left: &FromItem, target: &FromItem) -> Vec<OnPairs> {
    if left.table_id() == target.table_id() {
        return Vec::new();
    }
    // a plain table's columns: the joins of mapped classes name them as FROM items
    let col = |f: &FromItem, i: usize| match f {
        FromItem::Table(t) => Expr::core_column(t, i),
        FromItem::Derived(d) => d.column(i),
    };
    let mut links: Vec<OnPairs> = fk_links(left, target)
        .into_iter()
        .map(|l| {
            l.into_iter()
                .map(|(a, b)| (col(left, a), col(target, b)))
                .collect()
        })
        .collect();
    let same_table =
        matches!((left.base_table(), target.base_table()), (Some(a), Some(b)) if a.id == b.id);
    if !same_table {
        links.extend(fk_links(target, left).into_iter().map(|l| {
            l.into_iter()
                .map(|(a, b)| (col(left, b), col(target, a)))
                .collect()
        }));
    }
    links
}

/// The ON clause of one foreign key between `left` and `target`; two or more is an error.
fn onclause_of(left: &FromItem, target: &FromItem, mut links: Vec<OnPairs>) -> Result<Expr> {
    if links.len() > 1 {
        return Err(arg_err!(
            "Can't determine join between '{}' and '{}'; tables have more than one foreign key constraint relationship between them. Please specify the 'onclause' of this join explicitly.",
            left.describe(),
            target.describe()
        ));
    }
    let pairs = links.pop().unwrap_or_default();
    let mut conds: Vec<Expr> = pairs
        .into_iter()
        .map(|(a, b)| Expr::binary(a, BinOp::Eq, b))
        .collect();
    Ok(if conds.len() == 1 {
        conds.pop().unwrap()
    } else {
        Expr::and(conds)
    })
}

/// The ON clause of `join(target)` without one: the single foreign key between the
/// target and one of `lefts`, as SQLAlchemy infers it.
pub fn infer_onclause(lefts: &[FromItem], target: &FromItem) -> Result<Expr> {
    let mut found: Vec<(&FromItem, Vec<OnPairs>)> = lefts
        .iter()
        .map(|l| (l, links_between(l, target)))
        .filter(|(_, links)| !links.is_empty())
        .collect();
    match found.len() {
        0 => {
            let others: Vec<String> = lefts
                .iter()
                .filter(|l| l.table_id() != target.table_id())
                .map(|l| format!("'{}'", l.describe()))
                .collect();
            Err(arg_err!(
                "Can't find any foreign key relationships between {} and '{}'; pass the ON clause: join(target, onclause)",
                if others.is_empty() { "''".to_string() } else { others.join(", ") },
                target.describe()
            ))
        }
        1 => {
            let (left, links) = found.pop().unwrap();
            onclause_of(left, target, links)
        }
        _ => Err(arg_err!(
            "Can't determine which FROM clause to join from, there are multiple FROMS which can join to '{}': {}; pass the ON clause: join(target, onclause)",
            target.describe(),
            found
                .iter()
                .map(|(l, _)| format!("'{}'", l.describe()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The tables a FROM item that is a joined-table subclass's join reads.
fn joined_of(f: &FromItem) -> Option<&[Rc<Table>]> {
    match f {
        FromItem::Table(t) => t.joined.as_ref().map(|j| j.tables.as_slice()),
        FromItem::Derived(_) => None,
    }
}

/// Whether `by`, a joined subclass's join, contains `f`: one of its tables, or the join of a
/// parent class (its first tables).
fn hides(by: &FromItem, f: &FromItem) -> bool {
    let Some(tables) = joined_of(by) else {
        return false;
    };
    match f {
        FromItem::Table(t) => match &t.joined {
            None => tables.iter().any(|x| x.id == t.id),
            Some(j) => {
                j.tables.len() < tables.len()
                    && j.tables.iter().zip(tables).all(|(a, b)| a.id == b.id)
            }
        },
        FromItem::Derived(_) => false,
    }
}
