//! Turns statements into SQL text and a parameter list, through a dialect. Values never
//! enter the SQL text: each becomes a placeholder and a parameter.

use std::rc::Rc;

use super::dialect::{Dialect, Dml, RepeatedBind, TrueDivision};
use super::dml::{Delete, Insert, Update};
use super::expr::{BinOp, Expr, UnaryOp};
use super::select::{Derived, DerivedKind, FromItem, Select};
use super::Statement;
use crate::arg_err;
use crate::error::Result;
use crate::schema::SqlType;
use crate::value::Value;

/// One parameter of a compiled statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A value bound at compile time.
    Value(Value),
    /// The `n`th value of each execution's row (batched DML).
    Slot(usize),
    /// A `:name` of `orm.text`, looked up in the execution's parameters.
    Named(Rc<str>),
}

#[derive(Clone, Debug)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Compiled {
    /// The parameter values, with slots taken from `row` and names from `named`.
    pub fn bind(&self, row: &[Value], named: &dyn Fn(&str) -> Option<Value>) -> Result<Vec<Value>> {
        self.params
            .iter()
            .map(|p| match p {
                Param::Value(v) => Ok(v.clone()),
                Param::Slot(i) => row
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| arg_err!("statement parameter {} is missing", i + 1)),
                Param::Named(n) => {
                    named(n).ok_or_else(|| arg_err!("A value is required for bind parameter '{n}'"))
                }
            })
            .collect()
    }

    /// Each row's parameters in statement order: the row's slots, plus any values the
    /// statement binds itself. A statement of slots only in order takes the rows as they are.
    pub fn bind_rows<'a>(
        &self,
        rows: &'a [Vec<Value>],
    ) -> Result<std::borrow::Cow<'a, [Vec<Value>]>> {
        if self.slots_in_order() {
            return Ok(std::borrow::Cow::Borrowed(rows));
        }
        rows.iter()
            .map(|r| self.bind(r, &|_| None))
            .collect::<Result<Vec<_>>>()
            .map(std::borrow::Cow::Owned)
    }

    /// True when the parameters are the row's slots in order: a row is bound as it is.
    pub fn slots_in_order(&self) -> bool {
        self.params
            .iter()
            .enumerate()
            .all(|(n, p)| *p == Param::Slot(n))
    }

    /// True when every parameter is a per-row slot (nothing bound at compile time).
    pub fn is_static_but_slots(&self) -> bool {
        self.params.iter().all(|p| matches!(p, Param::Slot(_)))
    }

    /// True when every parameter is bound already.
    pub fn is_static(&self) -> bool {
        self.params.iter().all(|p| matches!(p, Param::Value(_)))
    }
}

pub fn compile(stmt: &Statement, dialect: &dyn Dialect) -> Result<Compiled> {
    let mut c = Compiler::new(dialect, 128);
    if let Some(t) = stmt.dml_table().filter(|t| t.joined.is_some()) {
        return Err(crate::error::Error::new(
            crate::error::ErrorKind::InvalidRequestError,
            format!(
                "an INSERT, UPDATE or DELETE statement on the joined-table inheritance subclass of table '{}' is not supported (the unit of work writes its tables; use a statement on one of its tables)",
                t.name
            ),
        ));
    }
    match stmt {
        Statement::Select(s) => c.top_select(s)?,
        Statement::Insert(i) => c.insert(i)?,
        Statement::Update(u) => c.update(u)?,
        Statement::Delete(d) => c.delete(d)?,
        Statement::Text(t) => c.text(t),
    }
    Ok(Compiled {
        sql: c.sql,
        params: c.params,
    })
}

/// `orm.text(sql)` with each bind's value known: `cast_of(name)` is what the dialect puts
/// after its placeholder (`Dialect::text_bind_cast`), the types its server cannot guess.
pub fn compile_text(text: &str, dialect: &dyn Dialect, cast_of: &TextCasts) -> Compiled {
    let mut c = Compiler::new(dialect, text.len() + 16);
    c.text_casts = Some(cast_of);
    c.text(text);
    Compiled {
        sql: c.sql,
        params: c.params,
    }
}

/// An INSERT of `rows` rows in one statement (`VALUES (...), (...)`): bound with the rows'
/// values one after another.
pub fn compile_insert_rows(ins: &Insert, rows: usize, dialect: &dyn Dialect) -> Result<Compiled> {
    let mut c = Compiler::new(dialect, 64 + 16 * rows * ins.values.len().max(1));
    c.insert_rows(ins, rows)?;
    Ok(Compiled {
        sql: c.sql,
        params: c.params,
    })
}

/// An UPDATE of `rows` rows in one statement, joined to a VALUES list of their parameters
/// (PostgreSQL's `UPDATE ... FROM (VALUES ...)`): bound with the rows' slot values one after
/// another. Every slot must be a column's new value or a column's `=` comparison.
pub fn compile_update_rows(up: &Update, rows: usize, dialect: &dyn Dialect) -> Result<Compiled> {
    let mut c = Compiler::new(
        dialect,
        128 + 24 * rows * (up.values.len() + up.where_.len()),
    );
    c.update_rows(up, rows)?;
    Ok(Compiled {
        sql: c.sql,
        params: c.params,
    })
}

/// Compiles a lone expression (a WHERE condition, a column), as `tostring` shows it.
pub fn compile_expr(e: &Expr, dialect: &dyn Dialect) -> Result<Compiled> {
    let mut c = Compiler::new(dialect, 64);
    c.expr(e, 0)?;
    Ok(Compiled {
        sql: c.sql,
        params: c.params,
    })
}

/// For each `orm.text` bind name, what follows its placeholder.
type TextCasts<'a> = dyn Fn(&str) -> Option<&'static str> + 'a;

struct Compiler<'a> {
    dialect: &'a dyn Dialect,
    sql: String,
    params: Vec<Param>,
    /// FROM items of the enclosing SELECTs, which subqueries in expressions correlate to.
    outer_froms: Vec<u32>,
    /// Columns render without their table (ORDER BY of a UNION).
    unqualified: bool,
    /// Added to slot numbers: the row a multi-row INSERT is rendering.
    slot_offset: usize,
    /// Slots render as columns of the VALUES list a batched UPDATE joins (`v.p0`).
    slots_as_columns: bool,
    /// The labelled columns of the SELECT being rendered: each label's name and the range
    /// of parameters its expression bound (GROUP BY / HAVING of a label read them again).
    labels: Vec<(Rc<str>, std::ops::Range<usize>)>,
    /// Rendering GROUP BY or HAVING.
    grouping: bool,
    /// Placeholders re-use the parameters from this index on instead of adding new ones.
    replay: Option<usize>,
    /// What follows each `orm.text` bind's placeholder, by name (the dialect's bind casts).
    text_casts: Option<&'a TextCasts<'a>>,
}

/// Every CTE a statement reads, in order of first appearance, nested CTEs first. A CTE is
/// known by its stand-in table, so a recursive member's reference to the CTE it belongs to
/// (an earlier version of the same item, with fewer members) is not collected again.
fn collect_ctes(s: &Select, out: &mut Vec<Rc<Derived>>, visiting: &mut Vec<u32>) {
    fn visit(d: &Rc<Derived>, out: &mut Vec<Rc<Derived>>, visiting: &mut Vec<u32>) {
        match &d.kind {
            DerivedKind::Cte(inner) => {
                let id = d.table.id;
                if visiting.contains(&id) || out.iter().any(|o| o.table.id == id) {
                    return;
                }
                visiting.push(id);
                collect_ctes(inner, out, visiting);
                visiting.pop();
                out.push(d.clone());
            }
            DerivedKind::CteAlias(cte) => visit(cte, out, visiting),
            DerivedKind::Subquery(inner) | DerivedKind::Lateral(inner) => {
                collect_ctes(inner, out, visiting)
            }
            DerivedKind::Alias(_) | DerivedKind::Values(_) => {}
        }
    }
    for f in s.froms().iter().chain(s.joins.iter().map(|j| &j.target)) {
        if let FromItem::Derived(d) = f {
            visit(d, out, visiting);
        }
    }
    let mut subs = Vec::new();
    for e in s.columns.iter().chain(&s.where_).chain(&s.having) {
        e.collect_selects(&mut subs);
    }
    for sub in subs {
        collect_ctes(sub, out, visiting);
    }
    for (_, part) in &s.compound {
        collect_ctes(part, out, visiting);
    }
}

impl<'a> Compiler<'a> {
    fn new(dialect: &'a dyn Dialect, cap: usize) -> Compiler<'a> {
        Compiler {
            dialect,
            sql: String::with_capacity(cap),
            params: Vec::new(),
            outer_froms: Vec::new(),
            unqualified: false,
            slot_offset: 0,
            slots_as_columns: false,
            text_casts: None,
            labels: Vec::new(),
            grouping: false,
            replay: None,
        }
    }

    /// A statement's SELECT: its CTEs in a WITH clause first.
    fn top_select(&mut self, s: &Select) -> Result<()> {
        let mut ctes = Vec::new();
        collect_ctes(s, &mut ctes, &mut Vec::new());
        let recursive = ctes.iter().any(|c| c.recursive);
        for (i, cte) in ctes.iter().enumerate() {
            self.sql.push_str(match (i, recursive) {
                (0, false) => "WITH ",
                (0, true) => "WITH RECURSIVE ",
                _ => ", ",
            });
            self.ident(&cte.table.name);
            if cte.recursive {
                self.sql.push('(');
                for (n, c) in cte.table.columns.iter().enumerate() {
                    if n > 0 {
                        self.sql.push_str(", ");
                    }
                    self.ident(&c.name);
                }
                self.sql.push(')');
            }
            self.sql.push_str(" AS \n(");
            if let DerivedKind::Cte(inner) = &cte.kind {
                self.select(inner, false)?;
            }
            self.sql.push_str(")\n ");
        }
        self.select(s, false)
    }

    fn ident(&mut self, name: &str) {
        self.dialect.quote_identifier(name, &mut self.sql);
    }

    fn param(&mut self, p: Param) {
        if let Some(n) = self.replay {
            self.replay = Some(n + 1);
            self.dialect.placeholder(n + 1, &mut self.sql);
            return;
        }
        self.params.push(p);
        self.dialect.placeholder(self.params.len(), &mut self.sql);
    }

    fn list(&mut self, items: &[Expr], sep: &str) -> Result<()> {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(sep);
            }
            self.expr(e, 0)?;
        }
        Ok(())
    }

    /// A SELECT; `correlate` when it is nested in an expression of an enclosing one.
    fn select(&mut self, s: &Select, correlate: bool) -> Result<()> {
        if !s.polymorphic.is_empty() {
            return self.select(&s.read_through_unions(), correlate);
        }
        self.select_core(s, correlate)?;
        for (op, part) in &s.compound {
            self.sql.push_str(op.sql());
            let wrap = !part.order_by.is_empty()
                || part.limit.is_some()
                || part.offset.is_some()
                || !part.compound.is_empty();
            if wrap {
                self.sql.push_str("SELECT * FROM (");
                self.select(part, correlate)?;
                self.sql.push(')');
            } else {
                self.select_core(part, correlate)?;
            }
        }
        if !s.order_by.is_empty() {
            self.sql.push_str(" ORDER BY ");
            let was = self.unqualified;
            self.unqualified = !s.compound.is_empty();
            let mut r = Ok(());
            for (i, e) in s.order_by.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                r = self.order_item(e, &s.columns);
                if r.is_err() {
                    break;
                }
            }
            self.unqualified = was;
            r?;
        }
        if let Some(l) = s.limit {
            self.sql.push_str(" LIMIT ");
            self.param(Param::Value(Value::Integer(l)));
        }
        if let Some(o) = s.offset {
            if s.limit.is_none() {
                self.sql.push_str(self.dialect.offset_without_limit());
            }
            self.sql.push_str(" OFFSET ");
            self.param(Param::Value(Value::Integer(o)));
        }
        if let Some(fu) = &s.for_update {
            self.for_update(fu);
        }
        Ok(())
    }

    /// `FOR UPDATE` / `FOR SHARE` / `LOCK IN SHARE MODE`, as the dialect spells it.
    fn for_update(&mut self, fu: &super::locking::ForUpdate) {
        use super::locking::LockStyle;
        let style = self.dialect.lock_style();
        match (style, fu.read) {
            (LockStyle::None, _) => return,
            (_, false) => self.sql.push_str(" FOR UPDATE"),
            (LockStyle::Postgres, true) => self.sql.push_str(" FOR SHARE"),
            (LockStyle::Mysql, true) => self.sql.push_str(" LOCK IN SHARE MODE"),
        }
        if style == LockStyle::Postgres && !fu.of.is_empty() {
            self.sql.push_str(" OF ");
            for (i, f) in fu.of.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                self.ident(&f.table().name);
            }
        }
        if fu.nowait {
            self.sql.push_str(" NOWAIT");
        }
        if fu.skip_locked {
            self.sql.push_str(" SKIP LOCKED");
        }
    }

    /// The conflict clause of an INSERT built by `orm.<dialect>.insert`; an error when the
    /// statement is for another database.
    fn upsert(&mut self, i: &Insert) -> Result<()> {
        use super::upsert::{ConflictTarget, OnConflict};
        let Some(u) = &i.upsert else {
            return Ok(());
        };
        let name = self.dialect.name();
        if !u.flavor.runs_on(name) {
            return Err(arg_err!(
                "orm.{}.insert({}) builds {} SQL and cannot run on {name}; use orm.{}.insert() for this database",
                u.flavor.module(),
                i.table.name,
                u.flavor.module(),
                match name {
                    "mariadb" => "mysql",
                    n => n,
                }
            ));
        }
        let table = i.table.clone();
        let set_list = |c: &mut Self, set: &[(usize, Expr)]| -> Result<()> {
            for (n, (col, v)) in set.iter().enumerate() {
                if n > 0 {
                    c.sql.push_str(", ");
                }
                c.ident(&table.columns[*col].name);
                c.sql.push_str(" = ");
                c.expr(v, 0)?;
            }
            Ok(())
        };
        let target = |c: &mut Self, t: &ConflictTarget| -> Result<()> {
            if let Some(name) = &t.constraint {
                c.sql.push_str(" ON CONSTRAINT ");
                c.ident(name);
            } else if !t.columns.is_empty() {
                c.sql.push_str(" (");
                for (n, col) in t.columns.iter().enumerate() {
                    if n > 0 {
                        c.sql.push_str(", ");
                    }
                    c.ident(&i.table.columns[*col].name);
                }
                c.sql.push(')');
                if let Some(w) = &t.index_where {
                    c.sql.push_str(" WHERE ");
                    c.expr(w, 0)?;
                }
            }
            Ok(())
        };
        match &u.clause {
            None => {}
            Some(OnConflict::DoNothing(t)) => {
                self.sql.push_str(" ON CONFLICT");
                target(self, t)?;
                self.sql.push_str(" DO NOTHING");
            }
            Some(OnConflict::DoUpdate {
                target: t,
                set,
                where_,
            }) => {
                self.sql.push_str(" ON CONFLICT");
                target(self, t)?;
                self.sql.push_str(" DO UPDATE SET ");
                set_list(self, set)?;
                if let Some(w) = where_ {
                    self.sql.push_str(" WHERE ");
                    self.expr(w, 0)?;
                }
            }
            Some(OnConflict::DuplicateKeyUpdate(set)) => {
                self.sql.push_str(" ON DUPLICATE KEY UPDATE ");
                set_list(self, set)?;
            }
        }
        Ok(())
    }

    /// An ORDER BY term: a label of the statement's own columns orders by its name
    /// (`ORDER BY depth`), any other labelled expression by the expression, as SQLAlchemy
    /// renders them.
    fn order_item(&mut self, e: &Expr, columns: &[Expr]) -> Result<()> {
        match e {
            Expr::Label(name, inner) => {
                let selected = columns
                    .iter()
                    .any(|c| matches!(c, Expr::Label(n, _) if Rc::ptr_eq(n, name)));
                if selected {
                    self.ident(name);
                    Ok(())
                } else {
                    self.expr(inner, 0)
                }
            }
            Expr::Unary(op @ (UnaryOp::Asc | UnaryOp::Desc), inner) => {
                self.order_item(inner, columns)?;
                self.sql
                    .push_str(if *op == UnaryOp::Asc { " ASC" } else { " DESC" });
                Ok(())
            }
            e => self.expr(e, 0),
        }
    }

    /// The columns of a SELECT or RETURNING: a labelled expression is `expr AS name` here,
    /// and only here (in WHERE, GROUP BY, HAVING, a function's arguments it is its
    /// expression).
    fn column_list(&mut self, items: &[Expr]) -> Result<()> {
        for (i, e) in items.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            match e {
                Expr::Label(name, inner) => {
                    let start = self.params.len();
                    self.expr(inner, 0)?;
                    self.labels.push((name.clone(), start..self.params.len()));
                    self.sql.push_str(" AS ");
                    self.ident(name);
                }
                e => self.expr(e, 0)?,
            }
        }
        Ok(())
    }

    /// A label of the statement's columns in GROUP BY or HAVING: its expression, which the
    /// database must see as the very expression of the column. Where that expression binds
    /// parameters, PostgreSQL gets the column's placeholders again (`$1`), MySQL the label's
    /// name (a fresh `?` would be another expression to either; SQLAlchemy's drivers send
    /// the values inline, which has the same effect).
    fn grouped_label(&mut self, inner: &Expr, outer: u8, i: usize) -> Result<()> {
        let (name, range) = self.labels[i].clone();
        if range.is_empty() {
            return self.expr(inner, outer);
        }
        match self.dialect.repeated_bind() {
            RepeatedBind::Again => self.expr(inner, outer),
            RepeatedBind::LabelName => {
                self.ident(&name);
                Ok(())
            }
            RepeatedBind::SamePlaceholder => {
                let (sql_mark, param_mark) = (self.sql.len(), self.params.len());
                self.expr(inner, outer)?;
                if self.params[param_mark..] == self.params[range.clone()] {
                    self.sql.truncate(sql_mark);
                    self.params.truncate(param_mark);
                    self.replay = Some(range.start);
                    let r = self.expr(inner, outer);
                    self.replay = None;
                    r?;
                }
                Ok(())
            }
        }
    }

    /// `l / r` (true division) and `l // r` (floor division), as the dialect spells them.
    fn division(&mut self, l: &Expr, op: BinOp, r: &Expr, outer: u8) -> Result<()> {
        let p = op.precedence();
        let how = self.dialect.true_division();
        let floor = op == BinOp::FloorDiv
            && (how == TrueDivision::Native || !r.operand_type().is_integer());
        let paren = p < outer && !floor;
        if paren {
            self.sql.push('(');
        }
        if floor {
            self.sql.push_str("FLOOR(");
        }
        self.expr(l, p)?;
        self.sql.push_str(" / ");
        let untyped_real = matches!(r, Expr::Bind(Value::Real(_), SqlType::Null));
        match how {
            _ if op == BinOp::FloorDiv => self.expr(r, p + 1)?,
            TrueDivision::Native => self.expr(r, p + 1)?,
            // a float bound without a type already carries its cast
            TrueDivision::CastNumeric if untyped_real => self.expr(r, p + 1)?,
            TrueDivision::AddZero => {
                self.sql.push('(');
                self.expr(r, p + 1)?;
                self.sql.push_str(" + 0.0)");
            }
            TrueDivision::CastNumeric => {
                self.sql.push_str("CAST(");
                self.expr(r, p + 1)?;
                self.sql.push_str(" AS ");
                // NUMERIC without precision, so the divisor is not rounded
                let ty = match r.operand_type().base() {
                    SqlType::Float => SqlType::Float,
                    _ => SqlType::Numeric(None, None),
                };
                let t = self.dialect.type_ddl(&ty);
                self.sql.push_str(&t);
                self.sql.push(')');
            }
        }
        if floor || paren {
            self.sql.push(')');
        }
        Ok(())
    }

    /// SELECT ... FROM ... WHERE ... GROUP BY ... HAVING, without ORDER BY and paging.
    fn select_core(&mut self, s: &Select, correlate: bool) -> Result<()> {
        if s.columns.is_empty() {
            return Err(arg_err!("a SELECT needs at least one column"));
        }
        let froms = if correlate {
            s.correlated_froms(&self.outer_froms)?
        } else {
            s.froms()
        };
        let mark = self.outer_froms.len();
        self.outer_froms.extend(froms.iter().map(|f| f.table_id()));
        self.outer_froms
            .extend(s.joins.iter().map(|j| j.target.table_id()));
        // a subquery correlates to the tables of a joined subclass's join too
        for f in froms.iter().chain(s.joins.iter().map(|j| &j.target)) {
            if let FromItem::Table(t) = f {
                if let Some(j) = &t.joined {
                    self.outer_froms.extend(j.tables.iter().map(|x| x.id));
                }
            }
        }
        let r = self.select_body(s, &froms);
        self.outer_froms.truncate(mark);
        r
    }

    fn select_body(&mut self, s: &Select, froms: &[FromItem]) -> Result<()> {
        let labels = std::mem::take(&mut self.labels);
        let grouping = std::mem::replace(&mut self.grouping, false);
        let r = self.select_clauses(s, froms);
        self.labels = labels;
        self.grouping = grouping;
        r
    }

    fn select_clauses(&mut self, s: &Select, froms: &[FromItem]) -> Result<()> {
        self.sql.push_str("SELECT ");
        if s.distinct {
            self.sql.push_str("DISTINCT ");
        }
        self.column_list(&s.columns)?;
        if !froms.is_empty() {
            self.sql.push_str(" \nFROM ");
            for (i, f) in froms.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                self.render_from(f)?;
                if i == 0 {
                    for j in &s.joins {
                        self.sql.push_str(if j.outer {
                            " LEFT OUTER JOIN "
                        } else {
                            " JOIN "
                        });
                        // a joined-table subclass's join nests in parentheses
                        let nested = matches!(&j.target, FromItem::Table(t) if t.joined.is_some());
                        if nested {
                            self.sql.push('(');
                        }
                        self.render_from(&j.target)?;
                        if nested {
                            self.sql.push(')');
                        }
                        self.sql.push_str(" ON ");
                        self.expr(&j.on, 0)?;
                    }
                }
            }
        }
        self.where_clause(&s.where_)?;
        if !s.group_by.is_empty() {
            self.sql.push_str(" GROUP BY ");
            self.grouping = true;
            let r = self.list(&s.group_by, ", ");
            self.grouping = false;
            r?;
        }
        if !s.having.is_empty() {
            self.sql.push_str(" \nHAVING ");
            self.grouping = true;
            let r = self.conjunction(&s.having);
            self.grouping = false;
            r?;
        }
        Ok(())
    }

    fn render_from(&mut self, f: &FromItem) -> Result<()> {
        match f {
            FromItem::Table(t) => match &t.joined {
                None => self.ident(&t.name),
                Some(j) => self.joined_from(j),
            },
            FromItem::Derived(d) => match &d.kind {
                DerivedKind::Alias(t) => match &t.joined {
                    Some(j) => self.joined_subquery(t, j, &d.table.name),
                    None => {
                        self.ident(&t.name);
                        self.sql.push_str(" AS ");
                        self.ident(&d.table.name);
                    }
                },
                DerivedKind::Subquery(inner) => {
                    // a FROM subquery does not correlate to the enclosing statement
                    let outer = std::mem::take(&mut self.outer_froms);
                    self.sql.push('(');
                    let r = self.select(inner, false);
                    self.outer_froms = outer;
                    r?;
                    self.sql.push_str(") AS ");
                    self.ident(&d.table.name);
                }
                DerivedKind::Lateral(inner) => {
                    if !matches!(self.dialect.name(), "postgresql" | "mysql") {
                        return Err(crate::error::Error::new(
                            crate::error::ErrorKind::InvalidRequestError,
                            format!(
                                "LATERAL ('{}') is not supported by {}: PostgreSQL and MySQL 8 have it",
                                d.table.name,
                                self.dialect.name()
                            ),
                        ));
                    }
                    // it reads the FROM items of the statement it is in
                    self.sql.push_str("LATERAL (");
                    self.select(inner, true)?;
                    self.sql.push_str(") AS ");
                    self.ident(&d.table.name);
                }
                DerivedKind::Cte(_) => self.ident(&d.table.name),
                DerivedKind::CteAlias(cte) => {
                    self.ident(&cte.table.name);
                    self.sql.push_str(" AS ");
                    self.ident(&d.table.name);
                }
                DerivedKind::Values(rows) => self.values_from(&d.table, rows)?,
            },
        }
        Ok(())
    }

    /// A joined-table subclass's alias: its join as a subquery, as SQLAlchemy's
    /// `aliased(Engineer)` (not flat): `(SELECT employees.id AS id, ..., engineers.language
    /// AS language FROM employees JOIN engineers ON ...) AS name`.
    fn joined_subquery(
        &mut self,
        t: &Rc<crate::schema::Table>,
        j: &crate::schema::joined::Joined,
        name: &str,
    ) {
        self.sql.push_str("(SELECT ");
        for (i, col) in t.columns.iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            let (real, c) = j.real(i);
            self.ident(&real.name);
            self.sql.push('.');
            self.ident(&real.columns[c].name);
            self.sql.push_str(" AS ");
            self.ident(&col.name);
        }
        self.sql.push_str(" \nFROM ");
        self.joined_from(j);
        self.sql.push_str(") AS ");
        self.ident(name);
    }

    /// A joined-table subclass's tables: `base JOIN sub ON base.id = sub.id ...`.
    fn joined_from(&mut self, j: &crate::schema::joined::Joined) {
        self.ident(&j.tables[0].name);
        for k in 1..j.tables.len() {
            self.sql.push_str(" JOIN ");
            self.ident(&j.tables[k].name);
            self.sql.push_str(" ON ");
            for (n, ((pt, pc), c)) in j.on_pairs(k).into_iter().enumerate() {
                if n > 0 {
                    self.sql.push_str(" AND ");
                }
                self.ident(&pt.name);
                self.sql.push('.');
                self.ident(&pt.columns[pc].name);
                self.sql.push_str(" = ");
                self.ident(&j.tables[k].name);
                self.sql.push('.');
                self.ident(&j.tables[k].columns[c].name);
            }
        }
    }

    /// `(VALUES (...), ...) AS name (a, b)` on PostgreSQL, its first row cast to the
    /// columns' types, which it cannot infer from parameters. SQLite, MySQL and MariaDB take
    /// no column list after a derived table's name (SQLAlchemy renders one and they reject
    /// it): there `(SELECT ? AS a, ? AS b UNION ALL SELECT ?, ?) AS name`.
    fn values_from(&mut self, table: &crate::schema::Table, rows: &[Vec<Expr>]) -> Result<()> {
        let union = self.dialect.name() != "postgresql";
        let cast = self.dialect.name() == "postgresql";
        self.sql.push_str(if union { "(" } else { "(VALUES " });
        for (r, row) in rows.iter().enumerate() {
            if r > 0 {
                self.sql.push_str(if union { " UNION ALL " } else { ", " });
            }
            self.sql.push_str(if union { "SELECT " } else { "(" });
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                let col = &table.columns[i];
                if cast && r == 0 && col.ty != SqlType::Null {
                    self.expr(&Expr::Cast(Box::new(v.clone()), col.ty.clone()), 0)?;
                } else {
                    self.expr(v, 0)?;
                }
                if union && r == 0 {
                    self.sql.push_str(" AS ");
                    self.ident(&col.name);
                }
            }
            if !union {
                self.sql.push(')');
            }
        }
        self.sql.push_str(") AS ");
        self.ident(&table.name);
        if !union {
            self.sql.push_str(" (");
            for (i, c) in table.columns.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                self.ident(&c.name);
            }
            self.sql.push(')');
        }
        Ok(())
    }

    fn where_clause(&mut self, clauses: &[Expr]) -> Result<()> {
        if !clauses.is_empty() {
            self.sql.push_str(" \nWHERE ");
            self.conjunction(clauses)?;
        }
        Ok(())
    }

    fn conjunction(&mut self, clauses: &[Expr]) -> Result<()> {
        if clauses.len() == 1 {
            self.expr(&clauses[0], 0)
        } else {
            for (i, e) in clauses.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(" AND ");
                }
                self.expr(e, BinOp::And.precedence())?;
            }
            Ok(())
        }
    }

    fn returning(&mut self, cols: &[Expr], on: Dml) -> Result<()> {
        if !cols.is_empty() {
            if !self.dialect.supports_returning(on) {
                return Err(arg_err!(
                    "the {} dialect does not support RETURNING on {}",
                    self.dialect.name(),
                    match on {
                        Dml::Insert => "INSERT",
                        Dml::Update => "UPDATE",
                        Dml::Delete => "DELETE",
                    }
                ));
            }
            self.sql.push_str(" RETURNING ");
            self.column_list(cols)?;
        }
        Ok(())
    }

    fn insert(&mut self, i: &Insert) -> Result<()> {
        self.insert_rows(i, 1)
    }

    /// `INSERT ... VALUES (...), (...)`: `rows` tuples, the slots of row `r` numbered after
    /// those of the rows before it.
    fn insert_rows(&mut self, i: &Insert, rows: usize) -> Result<()> {
        self.sql.push_str("INSERT INTO ");
        self.ident(&i.table.name);
        if i.values.is_empty() {
            self.sql.push_str(self.dialect.default_values());
        } else {
            self.sql.push_str(" (");
            for (n, (col, _)) in i.values.iter().enumerate() {
                if n > 0 {
                    self.sql.push_str(", ");
                }
                self.ident(&i.table.columns[*col].name);
            }
            self.sql.push_str(") VALUES ");
            let width = i
                .values
                .iter()
                .filter(|(_, v)| matches!(v, Expr::Slot(_)))
                .count();
            for r in 0..rows {
                self.sql.push_str(if r == 0 { "(" } else { ", (" });
                self.slot_offset = r * width;
                for (n, (_, v)) in i.values.iter().enumerate() {
                    if n > 0 {
                        self.sql.push_str(", ");
                    }
                    self.expr(v, 0)?;
                }
                self.sql.push(')');
            }
            self.slot_offset = 0;
        }
        self.upsert(i)?;
        self.returning(&i.returning, Dml::Insert)
    }

    fn update(&mut self, u: &Update) -> Result<()> {
        if u.values.is_empty() {
            return Err(arg_err!(
                "UPDATE of table '{}' has no values to set",
                u.table.name
            ));
        }
        self.sql.push_str("UPDATE ");
        self.ident(&u.table.name);
        self.sql.push_str(" SET ");
        for (n, (col, v)) in u.values.iter().enumerate() {
            if n > 0 {
                self.sql.push_str(", ");
            }
            self.ident(&u.table.columns[*col].name);
            self.sql.push('=');
            self.expr(v, 0)?;
        }
        // subqueries in the WHERE correlate to the updated table
        self.outer_froms.push(u.table.id);
        self.where_clause(&u.where_)?;
        self.returning(&u.returning, Dml::Update)
    }

    /// One UPDATE for `rows` rows of `u` (whose values and WHERE bind slots), joined to a
    /// VALUES list that carries each row's slots, cast to the type of the column each slot
    /// is set to or compared with: `UPDATE t SET a=lualchemy_rows.p0 FROM (VALUES ($1::T,
    /// $2::T), ...) AS lualchemy_rows(p0, p1) WHERE t.id = lualchemy_rows.p1`.
    fn update_rows(&mut self, u: &Update, rows: usize) -> Result<()> {
        let mut types: Vec<Option<&crate::schema::SqlType>> = Vec::new();
        let mut note = |slot: usize, col: usize| {
            if types.len() <= slot {
                types.resize(slot + 1, None);
            }
            types[slot] = Some(&u.table.columns[col].ty);
        };
        for (col, v) in &u.values {
            if let Expr::Slot(k) = v {
                note(*k, *col);
            }
        }
        for w in &u.where_ {
            if let Expr::Binary(l, BinOp::Eq, r) = w {
                if let (Expr::Column(c), Expr::Slot(k)) = (&**l, &**r) {
                    note(*k, c.index);
                }
            }
        }
        let Some(types) = types.into_iter().collect::<Option<Vec<_>>>() else {
            return Err(arg_err!(
                "UPDATE of table '{}': a parameter's column is not known",
                u.table.name
            ));
        };
        if self.dialect.batched_update_joins() {
            return self.update_rows_joined(u, rows, types.len());
        }
        self.slots_as_columns = true;
        let r = self.update(u);
        self.slots_as_columns = false;
        r?;
        // the VALUES list goes between SET and WHERE
        let where_at = self.sql.find(" \nWHERE ").unwrap_or(self.sql.len());
        let tail = self.sql.split_off(where_at);
        self.sql.push_str(" FROM (VALUES ");
        for r in 0..rows {
            self.sql.push_str(if r == 0 { "(" } else { ", (" });
            for (k, ty) in types.iter().enumerate() {
                if k > 0 {
                    self.sql.push_str(", ");
                }
                self.param(Param::Slot(r * types.len() + k));
                self.sql.push_str("::");
                let t = self.dialect.type_ddl(ty);
                self.sql.push_str(&t);
            }
            self.sql.push(')');
        }
        self.sql.push_str(") AS lualchemy_rows(");
        for k in 0..types.len() {
            if k > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('p');
            self.sql.push_str(&k.to_string());
        }
        self.sql.push(')');
        self.sql.push_str(&tail);
        Ok(())
    }

    /// MySQL's form of `update_rows`: `UPDATE t JOIN (SELECT ? AS p0, ? AS p1 UNION ALL
    /// SELECT ?, ? ...) AS lualchemy_rows ON t.id = lualchemy_rows.p1 SET t.a =
    /// lualchemy_rows.p0` (the binary protocol sends each parameter typed: no casts).
    fn update_rows_joined(&mut self, u: &Update, rows: usize, width: usize) -> Result<()> {
        self.sql.push_str("UPDATE ");
        self.ident(&u.table.name);
        self.sql.push_str(" JOIN (");
        for r in 0..rows {
            self.sql.push_str(if r == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            for k in 0..width {
                if k > 0 {
                    self.sql.push_str(", ");
                }
                self.param(Param::Slot(r * width + k));
                if r == 0 {
                    self.sql.push_str(" AS p");
                    self.sql.push_str(&k.to_string());
                }
            }
        }
        self.sql.push_str(") AS lualchemy_rows ON ");
        self.slots_as_columns = true;
        let r = (|| {
            self.conjunction(&u.where_)?;
            self.sql.push_str(" SET ");
            for (n, (col, v)) in u.values.iter().enumerate() {
                if n > 0 {
                    self.sql.push_str(", ");
                }
                self.ident(&u.table.name);
                self.sql.push('.');
                self.ident(&u.table.columns[*col].name);
                self.sql.push('=');
                self.expr(v, 0)?;
            }
            Ok(())
        })();
        self.slots_as_columns = false;
        r
    }

    fn delete(&mut self, d: &Delete) -> Result<()> {
        self.sql.push_str("DELETE FROM ");
        self.ident(&d.table.name);
        self.outer_froms.push(d.table.id);
        self.where_clause(&d.where_)?;
        self.returning(&d.returning, Dml::Delete)
    }

    /// `orm.text`: `:name` becomes a placeholder bound by name; `\:` is a literal colon and
    /// `::` (a PostgreSQL cast) is left alone.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut start = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if bytes.get(i + 1) == Some(&b':') => {
                    self.sql.push_str(&text[start..i]);
                    self.sql.push(':');
                    i += 2;
                    start = i;
                }
                b':' if bytes.get(i + 1) == Some(&b':') => i += 2,
                b':' if bytes
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                    && (i == 0 || bytes[i - 1] != b':') =>
                {
                    self.sql.push_str(&text[start..i]);
                    let mut j = i + 1;
                    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_')
                    {
                        j += 1;
                    }
                    let name = &text[i + 1..j];
                    self.param(Param::Named(Rc::from(name)));
                    if let Some(cast) = self.text_casts.and_then(|f| f(name)) {
                        self.sql.push_str(cast);
                    }
                    i = j;
                    start = j;
                }
                b'\'' => {
                    // skip string literals: a colon inside quotes is no bind
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        self.sql.push_str(&text[start.min(text.len())..]);
    }

    fn column(&mut self, c: &super::expr::ColumnRef) {
        if let (Some(j), None) = (&c.table.joined, &c.from) {
            let (t, i) = j.real(c.index);
            if !self.unqualified {
                self.ident(&t.name);
                self.sql.push('.');
            }
            self.ident(&t.columns[i].name);
            return;
        }
        if !self.unqualified {
            self.ident(&c.table.name);
            self.sql.push('.');
        }
        self.ident(c.name());
    }

    /// `f(...) OVER (...)`, `f(...) FILTER (WHERE ...)`, `f(...) WITHIN GROUP (ORDER BY ...)`.
    fn func_clause(&mut self, c: &super::window::FuncClause) -> Result<()> {
        use super::window::FuncClause;
        if let (FuncClause::Filter { func, cond }, false) = (c, self.dialect.native_filter()) {
            return self.filter_as_case(func, cond);
        }
        self.expr(c.func(), 0)?;
        match c {
            FuncClause::Over {
                partition_by,
                order_by,
                frame,
                ..
            } => {
                self.sql.push_str(" OVER (");
                let mut sep = "";
                if !partition_by.is_empty() {
                    self.sql.push_str("PARTITION BY ");
                    self.list(partition_by, ", ")?;
                    sep = " ";
                }
                if !order_by.is_empty() {
                    self.sql.push_str(sep);
                    self.sql.push_str("ORDER BY ");
                    self.list(order_by, ", ")?;
                    sep = " ";
                }
                if let Some(f) = frame {
                    self.sql.push_str(sep);
                    self.sql.push_str(&f.sql());
                }
                self.sql.push(')');
            }
            FuncClause::Filter { cond, .. } => {
                self.sql.push_str(" FILTER (WHERE ");
                self.expr(cond, 0)?;
                self.sql.push(')');
            }
            FuncClause::WithinGroup { order_by, .. } => {
                self.sql.push_str(" WITHIN GROUP (ORDER BY ");
                self.list(order_by, ", ")?;
                self.sql.push(')');
            }
        }
        Ok(())
    }

    /// `f(CASE WHEN cond THEN x END)` for `f(x) FILTER (WHERE cond)` where the database
    /// has no FILTER (MySQL, MariaDB); `count(*)` counts `CASE WHEN cond THEN 1 END`.
    fn filter_as_case(&mut self, func: &Expr, cond: &Expr) -> Result<()> {
        let Expr::Func { name, args } = func else {
            return self.expr(func, 0);
        };
        let when = |e: Expr| Expr::Case {
            whens: vec![(cond.clone(), e)],
            else_: None,
        };
        let args: Vec<Expr> = match args.as_slice() {
            [] | [Expr::Star] => vec![when(Expr::Raw(Rc::from("1"), SqlType::Integer))],
            [Expr::Unary(UnaryOp::Distinct, inner)] => vec![Expr::Unary(
                UnaryOp::Distinct,
                Box::new(when((**inner).clone())),
            )],
            [one] => vec![when(one.clone())],
            _ => {
                return Err(arg_err!(
                    "{name}(...) FILTER (WHERE ...): {} has no FILTER, and a function of several arguments cannot be rewritten as CASE",
                    self.dialect.name()
                ))
            }
        };
        self.expr(
            &Expr::Func {
                name: name.clone(),
                args,
            },
            0,
        )
    }

    /// Renders `e`; `outer` is the precedence of the enclosing operator.
    /// A JSON element, in the pieces its dialect renders it as (`json.rs`); PostgreSQL's
    /// operator form is parenthesized inside another operator.
    fn json_element(&mut self, j: &super::json::JsonElement, outer: u8) -> Result<()> {
        use super::json::Piece;
        let pieces = j.pieces(self.dialect.name());
        let paren = outer > 0 && matches!(pieces.first(), Some(Piece::Target));
        if paren {
            self.sql.push('(');
        }
        for p in pieces {
            match p {
                Piece::Sql(s) => self.sql.push_str(s),
                Piece::Target => self.expr(&j.target, 9)?,
                Piece::Bind(v) => self.param(Param::Value(v)),
            }
        }
        if paren {
            self.sql.push(')');
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr, outer: u8) -> Result<()> {
        match e {
            Expr::Column(c) => self.column(c),
            Expr::Annotated(inner, _) => self.expr(inner, outer)?,
            Expr::Bind(v, ty) => {
                if v.is_null() {
                    self.sql.push_str("NULL")
                } else {
                    self.param(Param::Value(v.clone()));
                    if *ty == crate::schema::SqlType::Null {
                        if let Some(cast) = self.dialect.untyped_bind_cast(v) {
                            self.sql.push_str(cast);
                        }
                    }
                }
            }
            Expr::Slot(i) if self.slots_as_columns => {
                self.sql.push_str("lualchemy_rows.p");
                self.sql.push_str(&i.to_string());
            }
            Expr::Slot(i) => self.param(Param::Slot(*i + self.slot_offset)),
            Expr::Null => self.sql.push_str("NULL"),
            Expr::Raw(s, _) => self.sql.push_str(s),
            Expr::Text(t) => self.text(t),
            Expr::Star => self.sql.push('*'),
            Expr::Binary(l, op @ (BinOp::Div | BinOp::FloorDiv), r) => {
                self.division(l, *op, r, outer)?
            }
            Expr::Binary(l, op, r) => {
                let p = op.precedence();
                let paren = p < outer || (p == outer && op.is_comparison());
                if paren {
                    self.sql.push('(');
                }
                if *op == BinOp::Concat {
                    if let Some(f) = self.dialect.concat_function() {
                        self.sql.push_str(f);
                        self.sql.push('(');
                        self.expr(l, 0)?;
                        self.sql.push_str(", ");
                        self.expr(r, 0)?;
                        self.sql.push(')');
                        if paren {
                            self.sql.push(')');
                        }
                        return Ok(());
                    }
                }
                let native = self.dialect.native_ilike();
                let ci = matches!(op, BinOp::ILike | BinOp::NotILike) && !native;
                if ci {
                    self.sql.push_str("lower(");
                    self.expr(l, 0)?;
                    self.sql.push(')');
                } else {
                    self.expr(l, p)?;
                }
                // `IS true`: the right of IS is a literal, never a parameter (only SQLite
                // takes `IS ?`)
                if matches!(op, BinOp::Is | BinOp::IsNot) {
                    if let Expr::Bind(Value::Integer(b @ (0 | 1)), _) = &**r {
                        self.sql.push_str(op.sql());
                        self.sql.push_str(self.dialect.boolean_literal(*b == 1));
                        if paren {
                            self.sql.push(')');
                        }
                        return Ok(());
                    }
                }
                self.sql.push_str(match op {
                    BinOp::ILike if native => " ILIKE ",
                    BinOp::NotILike if native => " NOT ILIKE ",
                    _ => op.sql(),
                });
                if ci {
                    self.sql.push_str("lower(");
                    self.expr(r, 0)?;
                    self.sql.push(')');
                } else {
                    // right operand of - and / binds tighter to keep a - (b - c) intact
                    self.expr(r, p + 1)?;
                }
                if paren {
                    self.sql.push(')');
                }
            }
            Expr::List(op, items) => {
                if items.is_empty() {
                    // and_() of nothing is true, or_() of nothing is false
                    self.sql
                        .push_str(if *op == BinOp::And { "1 = 1" } else { "0 = 1" });
                    return Ok(());
                }
                let p = op.precedence();
                let paren = items.len() > 1 && p < outer;
                if paren {
                    self.sql.push('(');
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(op.sql());
                    }
                    self.expr(item, if items.len() > 1 { p } else { outer })?;
                }
                if paren {
                    self.sql.push(')');
                }
            }
            Expr::Unary(op, inner) => match op {
                UnaryOp::Not => {
                    self.sql.push_str("NOT (");
                    self.expr(inner, 0)?;
                    self.sql.push(')');
                }
                UnaryOp::Neg => {
                    self.sql.push('-');
                    self.expr(inner, 9)?;
                }
                UnaryOp::Distinct => {
                    self.sql.push_str("DISTINCT ");
                    self.expr(inner, 9)?;
                }
                UnaryOp::Asc | UnaryOp::Desc => {
                    self.expr(inner, 0)?;
                    self.sql
                        .push_str(if *op == UnaryOp::Asc { " ASC" } else { " DESC" });
                }
            },
            Expr::In {
                expr,
                items,
                negate,
            } => {
                if matches!(**expr, Expr::Tuple(_)) && items.is_empty() {
                    // a row value IN nothing: false (NOT IN: true), whatever the row holds
                    self.sql
                        .push_str(if *negate { "(1 = 1)" } else { "(1 != 1)" });
                    return Ok(());
                }
                let paren = outer > 5;
                if paren {
                    self.sql.push('(');
                }
                self.expr(expr, 6)?;
                self.sql
                    .push_str(if *negate { " NOT IN (" } else { " IN (" });
                if let (Expr::Tuple(cols), true) = (&**expr, !items.is_empty()) {
                    // row values: SQLite takes them only from a subquery
                    let values = self.dialect.row_value_in_values();
                    if values {
                        self.sql.push_str("VALUES ");
                    }
                    for (n, item) in items.iter().enumerate() {
                        match item {
                            Expr::Tuple(v) if v.len() == cols.len() => {}
                            _ => {
                                return Err(arg_err!(
                                    "tuple_ IN: each item must be a tuple of {} values",
                                    cols.len()
                                ))
                            }
                        }
                        if n > 0 {
                            self.sql.push_str(", ");
                        }
                        self.expr(item, 0)?;
                    }
                } else if items.is_empty() {
                    // SQLAlchemy's "empty IN": a subquery that selects nothing
                    self.sql.push_str("SELECT 1 WHERE 1!=1");
                } else {
                    self.list(items, ", ")?;
                }
                self.sql.push(')');
                if paren {
                    self.sql.push(')');
                }
            }
            Expr::InSelect {
                expr,
                select,
                negate,
            } => {
                self.expr(expr, 6)?;
                self.sql
                    .push_str(if *negate { " NOT IN (" } else { " IN (" });
                self.select(select, true)?;
                self.sql.push(')');
            }
            Expr::Between {
                expr,
                low,
                high,
                negate,
            } => {
                let paren = outer > 5;
                if paren {
                    self.sql.push('(');
                }
                self.expr(expr, 6)?;
                self.sql.push_str(if *negate {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                });
                self.expr(low, 6)?;
                self.sql.push_str(" AND ");
                self.expr(high, 6)?;
                if paren {
                    self.sql.push(')');
                }
            }
            Expr::Func { name, args } => {
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                {
                    return Err(arg_err!("'{name}' is not a valid SQL function name"));
                }
                let lower = name.to_ascii_lowercase();
                if lower == "now" {
                    // SQLite has no now(); SQLAlchemy renders CURRENT_TIMESTAMP there
                    self.sql.push_str(self.dialect.now());
                    return Ok(());
                }
                self.sql.push_str(name);
                self.sql.push('(');
                if lower == "count" && args.is_empty() {
                    self.sql.push('*');
                }
                self.list(args, ", ")?;
                self.sql.push(')');
            }
            // outside a column list a label is its expression
            Expr::Label(name, inner) => {
                let own = if self.grouping {
                    self.labels.iter().position(|(n, _)| Rc::ptr_eq(n, name))
                } else {
                    None
                };
                match own {
                    Some(i) => self.grouped_label(inner, outer, i)?,
                    None => self.expr(inner, outer)?,
                }
            }
            // a typed NULL (a member of a concrete hierarchy's polymorphic union): MySQL's
            // CAST knows few types, and its UNION takes the type of the other members
            Expr::Cast(inner, _)
                if matches!(**inner, Expr::Null) && self.dialect.name() == "mysql" =>
            {
                self.sql.push_str("NULL");
            }
            Expr::Cast(inner, ty) => {
                self.sql.push_str("CAST(");
                self.expr(inner, 0)?;
                self.sql.push_str(" AS ");
                let t = self.dialect.type_ddl(ty);
                self.sql.push_str(&t);
                self.sql.push(')');
            }
            Expr::Case { whens, else_ } => {
                self.sql.push_str("CASE");
                for (c, v) in whens {
                    self.sql.push_str(" WHEN ");
                    self.expr(c, 0)?;
                    self.sql.push_str(" THEN ");
                    self.expr(v, 0)?;
                }
                if let Some(e) = else_ {
                    self.sql.push_str(" ELSE ");
                    self.expr(e, 0)?;
                }
                self.sql.push_str(" END");
            }
            Expr::Grouping(inner) => {
                self.sql.push('(');
                self.expr(inner, 0)?;
                self.sql.push(')');
            }
            Expr::ScalarSelect(s) => {
                self.sql.push('(');
                self.select(s, true)?;
                self.sql.push(')');
            }
            Expr::Exists(s) => {
                self.sql.push_str("EXISTS (");
                self.select(s, true)?;
                self.sql.push(')');
            }
            Expr::FuncClause(c) => self.func_clause(c)?,
            Expr::Tuple(items) => {
                self.sql.push('(');
                self.list(items, ", ")?;
                self.sql.push(')');
            }
            Expr::Json(j) => self.json_element(j, outer)?,
            Expr::Excluded(t, i) => {
                let name = &t.columns[*i].name;
                if matches!(self.dialect.name(), "mysql" | "mariadb") {
                    self.sql.push_str("VALUES(");
                    self.ident(name);
                    self.sql.push(')');
                } else {
                    self.sql.push_str("excluded.");
                    self.ident(name);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, SqlType, Table};
    use crate::sql::dialect::SqliteDialect;
    use crate::sql::select::{infer_onclause, Join};

    fn users() -> Rc<Table> {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        Rc::new(
            Table::new(
                "users",
                vec![
                    id,
                    Column::new("name", SqlType::String(Some(50))),
                    Column::new("age", SqlType::Integer),
                ],
                vec![],
                vec![],
            )
            .unwrap(),
        )
    }

    fn sql(stmt: Statement) -> Compiled {
        compile(&stmt, &SqliteDialect).unwrap()
    }

    #[test]
    fn select_with_where_order_limit() {
        let t = users();
        let mut s = Select::new(vec![Expr::column(&t, 0), Expr::column(&t, 1)]);
        s.where_.push(Expr::compare(
            Expr::column(&t, 1),
            BinOp::Eq,
            Expr::bind(Value::text("ed")),
        ));
        s.where_.push(Expr::List(
            BinOp::Or,
            vec![
                Expr::compare(
                    Expr::column(&t, 2),
                    BinOp::Gt,
                    Expr::bind(Value::Integer(3)),
                ),
                Expr::compare(Expr::column(&t, 2), BinOp::Eq, Expr::bind(Value::Null)),
            ],
        ));
        s.order_by
            .push(Expr::Unary(UnaryOp::Desc, Box::new(Expr::column(&t, 0))));
        s.limit = Some(5);
        let c = sql(Statement::Select(s));
        assert_eq!(c.sql, "SELECT users.id, users.name \nFROM users \nWHERE users.name = ? AND (users.age > ? OR users.age IS NULL) ORDER BY users.id DESC LIMIT ?");
        assert_eq!(
            c.params,
            vec![
                Param::Value(Value::text("ed")),
                Param::Value(Value::Integer(3)),
                Param::Value(Value::Integer(5))
            ]
        );
    }

    #[test]
    fn arithmetic_keeps_grouping() {
        let t = users();
        let e = Expr::binary(
            Expr::column(&t, 2),
            BinOp::Sub,
            Expr::binary(
                Expr::column(&t, 0),
                BinOp::Sub,
                Expr::bind(Value::Integer(1)),
            ),
        );
        let c = sql(Statement::Select(Select::new(vec![e])));
        assert!(
            c.sql.starts_with("SELECT users.age - (users.id - ?)"),
            "{}",
            c.sql
        );
    }

    #[test]
    fn dml_statements() {
        let t = users();
        let mut i = Insert::new(&t);
        i.values = vec![(1, Expr::Slot(0)), (2, Expr::Slot(1))];
        assert_eq!(
            sql(Statement::Insert(i)).sql,
            "INSERT INTO users (name, age) VALUES (?, ?)"
        );
        let mut u = Update::new(&t);
        u.values = vec![(2, Expr::Slot(0))];
        u.where_ = vec![Expr::compare(Expr::column(&t, 0), BinOp::Eq, Expr::Slot(1))];
        assert_eq!(
            sql(Statement::Update(u)).sql,
            "UPDATE users SET age=? \nWHERE users.id = ?"
        );
        let mut d = Delete::new(&t);
        d.where_ = vec![Expr::compare(Expr::column(&t, 0), BinOp::Eq, Expr::Slot(0))];
        assert_eq!(
            sql(Statement::Delete(d)).sql,
            "DELETE FROM users \nWHERE users.id = ?"
        );
    }

    #[test]
    fn text_binds_by_name() {
        let c = sql(Statement::Text(Rc::from(
            "SELECT * FROM t WHERE a > :n AND b = ':x' AND c::int = \\:y",
        )));
        assert_eq!(
            c.sql,
            "SELECT * FROM t WHERE a > ? AND b = ':x' AND c::int = :y"
        );
        assert_eq!(c.params, vec![Param::Named(Rc::from("n"))]);
        let err = c.bind(&[], &|_| None).unwrap_err();
        assert!(err.message.contains("'n'"));
    }

    #[test]
    fn empty_in_and_hostile_function_name() {
        let t = users();
        let e = Expr::In {
            expr: Box::new(Expr::column(&t, 0)),
            items: vec![],
            negate: false,
        };
        assert!(
            sql(Statement::Select(Select::new(vec![Expr::column(&t, 0)])))
                .sql
                .contains("FROM users")
        );
        let mut s = Select::new(vec![Expr::column(&t, 0)]);
        s.where_.push(e);
        assert!(sql(Statement::Select(s))
            .sql
            .contains("IN (SELECT 1 WHERE 1!=1)"));
        let bad = Expr::Func {
            name: Rc::from("x(); DROP TABLE users; --"),
            args: vec![],
        };
        assert!(compile(&Statement::Select(Select::new(vec![bad])), &SqliteDialect).is_err());
    }

    fn depts() -> Rc<Table> {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        Rc::new(
            Table::new(
                "depts",
                vec![id, Column::new("name", SqlType::String(None))],
                vec![],
                vec![],
            )
            .unwrap(),
        )
    }

    /// emps.dept_id → depts.id, emps.boss_id → emps.id
    fn emps(extra_fk_to_depts: bool) -> Rc<Table> {
        use crate::schema::column::ForeignKey;
        let fk = |t: &str| ForeignKey {
            target: t.to_string(),
            name: None,
            ondelete: None,
            onupdate: None,
        };
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        let mut dept = Column::new("dept_id", SqlType::Integer);
        dept.foreign_keys.push(fk("depts.id"));
        let mut boss = Column::new("boss_id", SqlType::Integer);
        boss.foreign_keys.push(fk("emps.id"));
        let mut cols = vec![id, Column::new("salary", SqlType::Integer), dept, boss];
        if extra_fk_to_depts {
            let mut other = Column::new("old_dept_id", SqlType::Integer);
            other.foreign_keys.push(fk("depts.id"));
            cols.push(other);
        }
        Rc::new(Table::new("emps", cols, vec![], vec![]).unwrap())
    }

    fn eq(l: Expr, r: Expr) -> Expr {
        Expr::compare(l, BinOp::Eq, r)
    }

    /// `employees` and `engineers` (its key a foreign key to `employees.id`), and the joined
    /// table of the subclass over both.
    fn engineers_joined() -> (Rc<Table>, Rc<Table>) {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        let base = Rc::new(
            Table::new(
                "employees",
                vec![id.clone(), Column::new("name", SqlType::String(None))],
                vec![],
                vec![],
            )
            .unwrap(),
        );
        id.foreign_keys.push(crate::schema::column::ForeignKey {
            target: "employees.id".to_string(),
            name: None,
            ondelete: None,
            onupdate: None,
        });
        let sub = Rc::new(
            Table::new(
                "engineers",
                vec![id, Column::new("language", SqlType::String(None))],
                vec![],
                vec![],
            )
            .unwrap(),
        );
        let joined = crate::schema::joined::join_tables("Engineer", &base, &sub).unwrap();
        (base, Rc::new(joined))
    }

    #[test]
    fn a_joined_subclass_join_hides_the_tables_it_joins() {
        let (base, joined) = engineers_joined();
        let lang = joined
            .columns
            .iter()
            .position(|c| c.name == "language")
            .unwrap();
        let s = Select::new(vec![Expr::column(&base, 1), Expr::column(&joined, lang)]);
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "SELECT employees.name, engineers.language \nFROM employees JOIN engineers ON employees.id = engineers.id"
        );
    }

    #[test]
    fn an_alias_of_a_joined_subclass_reads_its_join_as_a_subquery() {
        let (_, joined) = engineers_joined();
        let e = Derived::alias(&joined, "e1").unwrap();
        let lang = joined
            .columns
            .iter()
            .position(|c| c.name == "language")
            .unwrap();
        let s = Select::new(vec![e.column(lang)]);
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "SELECT e1.language \nFROM (SELECT employees.id AS id, employees.name AS name, engineers.language AS language \nFROM employees JOIN engineers ON employees.id = engineers.id) AS e1"
        );
    }

    #[test]
    fn alias_renders_as_and_qualifies_columns() {
        let e = emps(false);
        let boss = Derived::alias(&e, "Boss").unwrap();
        let mut s = Select::new(vec![Expr::column(&e, 0), boss.column(1)]);
        s.joins.push(Join {
            target: FromItem::Derived(boss.clone()),
            on: eq(Expr::column(&e, 3), boss.column(0)),
            outer: true,
        });
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "SELECT emps.id, \"Boss\".salary \nFROM emps LEFT OUTER JOIN emps AS \"Boss\" ON emps.boss_id = \"Boss\".id"
        );
    }

    #[test]
    fn subquery_labels_its_columns_and_keeps_params_in_order() {
        let e = emps(false);
        let d = depts();
        let mut inner = Select::new(vec![
            Expr::column(&e, 2),
            Expr::Func {
                name: Rc::from("max"),
                args: vec![Expr::column(&e, 1)],
            },
        ]);
        inner.where_.push(Expr::compare(
            Expr::column(&e, 1),
            BinOp::Gt,
            Expr::bind(Value::Integer(10)),
        ));
        inner.group_by.push(Expr::column(&e, 2));
        let sub = Derived::subquery(inner, "sub", false).unwrap();
        assert_eq!(sub.table.columns[1].name, "max");
        let mut s = Select::new(vec![Expr::column(&d, 1), sub.column(1)]);
        s.joins.push(Join {
            target: FromItem::Derived(sub.clone()),
            on: eq(sub.column(0), Expr::column(&d, 0)),
            outer: false,
        });
        s.where_
            .push(eq(Expr::column(&d, 1), Expr::bind(Value::text("eng"))));
        let c = sql(Statement::Select(s));
        assert_eq!(
            c.sql,
            "SELECT depts.name, sub.max \nFROM depts JOIN (SELECT emps.dept_id, max(emps.salary) AS max \nFROM emps \nWHERE emps.salary > ? GROUP BY emps.dept_id) AS sub ON sub.dept_id = depts.id \nWHERE depts.name = ?"
        );
        assert_eq!(
            c.params,
            vec![
                Param::Value(Value::Integer(10)),
                Param::Value(Value::text("eng"))
            ]
        );
    }

    #[test]
    fn duplicate_subquery_column_names_get_suffixes() {
        let e = emps(false);
        let d = depts();
        let sub = Derived::subquery(
            Select::new(vec![Expr::column(&e, 0), Expr::column(&d, 0)]),
            "s",
            false,
        )
        .unwrap();
        let names: Vec<&str> = sub.table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "id_1"]);
    }

    #[test]
    fn recursive_cte_reads_itself_once_in_the_with_clause() {
        // the chain of bosses above emp 7
        let e = emps(false);
        let mut anchor_sel = Select::new(vec![Expr::column(&e, 0), Expr::column(&e, 3)]);
        anchor_sel
            .where_
            .push(eq(Expr::column(&e, 0), Expr::bind(Value::Integer(7))));
        let chain = Derived::recursive_cte(anchor_sel, "chain").unwrap();
        let mut step = Select::new(vec![Expr::column(&e, 0), Expr::column(&e, 3)]);
        step.where_.push(eq(Expr::column(&e, 0), chain.column(1)));
        let chain = chain.union_member(step, true).unwrap();
        let s = Select::new(vec![chain.column(0)]);
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "WITH RECURSIVE chain(id, boss_id) AS \n(SELECT emps.id, emps.boss_id \nFROM emps \nWHERE emps.id = ? UNION ALL SELECT emps.id, emps.boss_id \nFROM emps, chain \nWHERE emps.id = chain.boss_id)\n SELECT chain.id \nFROM chain"
        );
        let bad = chain.union_member(Select::new(vec![Expr::column(&e, 0)]), true);
        assert!(bad.unwrap_err().message.contains("same number of columns"));
    }

    #[test]
    fn cte_renders_a_with_clause_first() {
        let e = emps(false);
        let d = depts();
        let mut inner = Select::new(vec![Expr::column(&e, 2)]);
        inner.where_.push(Expr::compare(
            Expr::column(&e, 1),
            BinOp::Gt,
            Expr::bind(Value::Integer(5)),
        ));
        let cte = Derived::subquery(inner, "rich", true).unwrap();
        let mut s = Select::new(vec![Expr::column(&d, 1)]);
        s.joins.push(Join {
            target: FromItem::Derived(cte.clone()),
            on: eq(cte.column(0), Expr::column(&d, 0)),
            outer: false,
        });
        s.limit = Some(3);
        let c = sql(Statement::Select(s));
        assert_eq!(
            c.sql,
            "WITH rich AS \n(SELECT emps.dept_id \nFROM emps \nWHERE emps.salary > ?)\n SELECT depts.name \nFROM depts JOIN rich ON rich.dept_id = depts.id LIMIT ?"
        );
        assert_eq!(
            c.params,
            vec![
                Param::Value(Value::Integer(5)),
                Param::Value(Value::Integer(3))
            ]
        );
    }

    #[test]
    fn union_orders_by_unqualified_names() {
        let e = emps(false);
        let d = depts();
        let mut s = Select::new(vec![Expr::column(&e, 0)]);
        s.compound.push((
            crate::sql::SetOp::Union,
            Select::new(vec![Expr::column(&d, 0)]),
        ));
        s.compound.push((
            crate::sql::SetOp::UnionAll,
            Select::new(vec![Expr::column(&d, 0)]),
        ));
        s.order_by.push(Expr::column(&e, 0));
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "SELECT emps.id \nFROM emps UNION SELECT depts.id \nFROM depts UNION ALL SELECT depts.id \nFROM depts ORDER BY id"
        );
    }

    #[test]
    fn exists_correlates_to_the_enclosing_from() {
        let e = emps(false);
        let d = depts();
        let mut inner = Select::new(vec![Expr::column(&e, 0)]);
        inner
            .where_
            .push(eq(Expr::column(&e, 2), Expr::column(&d, 0)));
        let mut s = Select::new(vec![Expr::column(&d, 1)]);
        s.where_.push(Expr::Exists(Box::new(inner.clone())));
        assert_eq!(
            sql(Statement::Select(s)).sql,
            "SELECT depts.name \nFROM depts \nWHERE EXISTS (SELECT emps.id \nFROM emps \nWHERE emps.dept_id = depts.id)"
        );
        // alone, nothing to correlate to
        let alone = sql(Statement::Select(inner)).sql;
        assert!(alone.contains("FROM emps, depts"), "{alone}");
        // a one-table subquery keeps its FROM even when the outer query reads that table
        let avg = Select::new(vec![Expr::Func {
            name: Rc::from("avg"),
            args: vec![Expr::column(&e, 1)],
        }]);
        let mut s = Select::new(vec![Expr::column(&e, 0)]);
        s.where_.push(Expr::compare(
            Expr::column(&e, 1),
            BinOp::Gt,
            Expr::ScalarSelect(Box::new(avg)),
        ));
        assert!(sql(Statement::Select(s))
            .sql
            .ends_with("WHERE emps.salary > (SELECT avg(emps.salary) \nFROM emps)"));
    }

    #[test]
    fn dml_where_subqueries_correlate_to_the_target_table() {
        let e = emps(false);
        let d = depts();
        let mut inner = Select::new(vec![Expr::column(&e, 0)]);
        inner
            .where_
            .push(eq(Expr::column(&e, 2), Expr::column(&d, 0)));
        let mut del = Delete::new(&d);
        del.where_.push(Expr::Unary(
            UnaryOp::Not,
            Box::new(Expr::Exists(Box::new(inner))),
        ));
        assert_eq!(
            sql(Statement::Delete(del)).sql,
            "DELETE FROM depts \nWHERE NOT (EXISTS (SELECT emps.id \nFROM emps \nWHERE emps.dept_id = depts.id))"
        );
    }

    #[test]
    fn case_and_cast_bind_their_values() {
        let e = emps(false);
        let case = Expr::Case {
            whens: vec![(
                Expr::compare(
                    Expr::column(&e, 1),
                    BinOp::Gt,
                    Expr::bind(Value::Integer(9)),
                ),
                Expr::bind(Value::text("high")),
            )],
            else_: Some(Box::new(Expr::bind(Value::text("low")))),
        };
        let cast = Expr::Cast(Box::new(Expr::column(&e, 1)), SqlType::Float);
        let c = sql(Statement::Select(Select::new(vec![
            Expr::Label(Rc::from("band"), Box::new(case)),
            cast,
        ])));
        assert_eq!(
            c.sql,
            "SELECT CASE WHEN emps.salary > ? THEN ? ELSE ? END AS band, CAST(emps.salary AS FLOAT) \nFROM emps"
        );
        assert_eq!(c.params.len(), 3);
    }

    #[test]
    fn join_onclause_inferred_from_the_single_foreign_key() {
        let e = emps(false);
        let d = depts();
        let on =
            infer_onclause(&[FromItem::Table(e.clone())], &FromItem::Table(d.clone())).unwrap();
        assert_eq!(
            compile_expr(&on, &SqliteDialect).unwrap().sql,
            "emps.dept_id = depts.id"
        );
        // the other direction puts the left table first
        let on =
            infer_onclause(&[FromItem::Table(d.clone())], &FromItem::Table(e.clone())).unwrap();
        assert_eq!(
            compile_expr(&on, &SqliteDialect).unwrap().sql,
            "depts.id = emps.dept_id"
        );
        // self-referential through an alias
        let boss = Derived::alias(&e, "boss").unwrap();
        let on = infer_onclause(&[FromItem::Table(e.clone())], &FromItem::Derived(boss)).unwrap();
        assert_eq!(
            compile_expr(&on, &SqliteDialect).unwrap().sql,
            "emps.boss_id = boss.id"
        );
        // a subquery's plain columns keep their foreign keys
        let sub = Derived::subquery(Select::new(vec![Expr::column(&e, 2)]), "s", false).unwrap();
        let on = infer_onclause(&[FromItem::Table(d.clone())], &FromItem::Derived(sub)).unwrap();
        assert_eq!(
            compile_expr(&on, &SqliteDialect).unwrap().sql,
            "depts.id = s.dept_id"
        );
        // none, several
        let err =
            infer_onclause(&[FromItem::Table(d.clone())], &FromItem::Table(users())).unwrap_err();
        assert!(
            err.message.contains("'depts'") && err.message.contains("'users'"),
            "{}",
            err.message
        );
        let e2 = emps(true);
        let err = infer_onclause(&[FromItem::Table(e2)], &FromItem::Table(d)).unwrap_err();
        assert!(
            err.message.contains("more than one foreign key"),
            "{}",
            err.message
        );
    }

    /// `users (id INTEGER, name TEXT)`.
    fn id_and_name_table() -> Rc<Table> {
        let cols = vec![
            Column::new("id", SqlType::Integer),
            Column::new("name", SqlType::Text),
        ];
        Rc::new(Table::new("users", cols, vec![], vec![]).unwrap())
    }

    #[test]
    fn server_dialects_render_placeholders_paging_and_operators() {
        use crate::sql::dialect::{MysqlDialect, PostgresDialect};
        let t = id_and_name_table();
        let mut s = Select::new(vec![Expr::column(&t, 1)]);
        s.where_.push(Expr::Binary(
            Box::new(Expr::column(&t, 1)),
            BinOp::ILike,
            Box::new(Expr::bind(Value::text("a%"))),
        ));
        s.offset = Some(5);
        let pg = compile(&Statement::Select(s.clone()), &PostgresDialect).unwrap();
        assert_eq!(
            pg.sql,
            "SELECT users.name \nFROM users \nWHERE users.name ILIKE $1::VARCHAR OFFSET $2"
        );
        let my = compile(&Statement::Select(s), &MysqlDialect { mariadb: false }).unwrap();
        assert_eq!(
            my.sql,
            "SELECT users.name \nFROM users \nWHERE lower(users.name) LIKE lower(?) \
             LIMIT 18446744073709551615 OFFSET ?"
        );
        // a number bound with no SQL type is cast on PostgreSQL
        let lit = compile_expr(&Expr::bind(Value::Integer(3)), &PostgresDialect).unwrap();
        assert_eq!(lit.sql, "$1::INTEGER");
        let cat = Expr::Binary(
            Box::new(Expr::column(&t, 1)),
            BinOp::Concat,
            Box::new(Expr::column(&t, 1)),
        );
        assert_eq!(
            compile_expr(&cat, &MysqlDialect { mariadb: false })
                .unwrap()
                .sql,
            "concat(users.name, users.name)"
        );
        // RETURNING where the dialect has it, a clear error where it does not
        let mut del = Delete::new(&t);
        del.returning.push(Expr::column(&t, 0));
        assert!(compile(
            &Statement::Delete(del.clone()),
            &MysqlDialect { mariadb: true }
        )
        .is_ok());
        let err = compile(&Statement::Delete(del), &MysqlDialect { mariadb: false }).unwrap_err();
        assert!(
            err.message.contains("RETURNING on DELETE"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_multi_row_insert_numbers_each_rows_slots_after_the_last() {
        use crate::sql::dialect::PostgresDialect;
        let t = id_and_name_table();
        let mut ins = Insert::new(&t);
        ins.values.push((1, Expr::Slot(0)));
        ins.returning.push(Expr::column(&t, 0));
        let c = compile_insert_rows(&ins, 3, &PostgresDialect).unwrap();
        assert_eq!(
            c.sql,
            "INSERT INTO users (name) VALUES ($1), ($2), ($3) RETURNING users.id"
        );
        let flat = [Value::text("a"), Value::text("b"), Value::text("c")];
        assert_eq!(c.bind(&flat, &|_| None).unwrap(), flat.to_vec());
    }

    #[test]
    fn a_batched_update_joins_its_rows_as_each_dialect_can() {
        use crate::sql::dialect::{MysqlDialect, PostgresDialect};
        let t = id_and_name_table();
        let mut up = Update::new(&t);
        up.values.push((1, Expr::Slot(0)));
        up.where_
            .push(Expr::binary(Expr::column(&t, 0), BinOp::Eq, Expr::Slot(1)));
        assert_eq!(
            compile_update_rows(&up, 2, &PostgresDialect).unwrap().sql,
            "UPDATE users SET name=lualchemy_rows.p0 FROM (VALUES ($1::TEXT, $2::INTEGER), \
             ($3::TEXT, $4::INTEGER)) AS lualchemy_rows(p0, p1) \nWHERE users.id = lualchemy_rows.p1"
        );
        let my = compile_update_rows(&up, 2, &MysqlDialect { mariadb: false }).unwrap();
        assert_eq!(
            my.sql,
            "UPDATE users JOIN (SELECT ? AS p0, ? AS p1 UNION ALL SELECT ?, ?) AS lualchemy_rows \
             ON users.id = lualchemy_rows.p1 SET users.name=lualchemy_rows.p0"
        );
        let rows = [
            Value::text("a"),
            Value::Integer(1),
            Value::text("b"),
            Value::Integer(2),
        ];
        assert_eq!(my.bind(&rows, &|_| None).unwrap(), rows.to_vec());
    }

    #[test]
    fn a_select_of_plain_table_columns_is_a_core_statement() {
        let (d, e) = (depts(), emps(false));
        let core = |t: &Rc<Table>, i| Expr::core_column(t, i);
        let mut sel = Select::new(vec![core(&d, 1)]);
        sel.where_
            .push(eq(core(&d, 0), Expr::bind(Value::Integer(1))));
        assert!(!sel.is_orm_enabled());
        // a Core join's inferred ON clause stays Core
        let on = sel
            .infer_join_onclause(&FromItem::Table(e.clone()))
            .unwrap();
        sel.joins.push(Join {
            target: FromItem::Table(e.clone()),
            on,
            outer: false,
        });
        assert!(!sel.is_orm_enabled());
        // a Core subquery read by a Core SELECT
        let sub =
            crate::sql::Derived::subquery(Select::new(vec![core(&e, 0)]), "s", false).unwrap();
        let mut outer = Select::new(vec![sub.column(0)]);
        assert!(!outer.is_orm_enabled());
        // COUNT(*) with a plain table in FROM
        let mut count = Select::new(vec![Expr::Star]);
        count.from.push(FromItem::Table(d.clone()));
        assert!(!count.is_orm_enabled());
        // named as a mapped class's FROM item
        count.names_entity = true;
        assert!(count.is_orm_enabled());
        // a mapped attribute in an IN subquery, in ORDER BY, in a compound member
        outer.where_.push(Expr::InSelect {
            expr: Box::new(core(&d, 0)),
            select: Box::new(Select::new(vec![Expr::column(&e, 2)])),
            negate: false,
        });
        assert!(outer.is_orm_enabled());
        let mut ordered = Select::new(vec![core(&d, 1)]);
        ordered.order_by.push(Expr::column(&d, 1));
        assert!(ordered.is_orm_enabled());
        let mut union = Select::new(vec![core(&d, 0)]);
        union.compound.push((
            crate::sql::SetOp::Union,
            Select::new(vec![Expr::column(&d, 0)]),
        ));
        assert!(union.is_orm_enabled());
        // an ORM subquery makes the SELECT reading it ORM-enabled
        let orm_sub =
            crate::sql::Derived::subquery(Select::new(vec![Expr::column(&e, 0)]), "o", false)
                .unwrap();
        assert!(Select::new(vec![orm_sub.column(0)]).is_orm_enabled());
        let mut from_sub = Select::new(vec![Expr::Star]);
        from_sub.from.push(FromItem::Derived(orm_sub));
        assert!(from_sub.is_orm_enabled());
    }
}
