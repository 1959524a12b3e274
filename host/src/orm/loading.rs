//! Loading: rows into instances through the identity map, `get` by primary key, and the
//! reload of expired attributes.

use std::rc::Rc;

use super::events::{self, MapperEvent};
use super::identity::IdentityKey;
use super::instance::{Instance, Status};
use super::mapper::Mapper;
use super::query::{Item, OrmSelect, ResultColumn, Rows};
use super::session::SessionCore;
use super::strategies::JoinedFill;
use super::strategy_options::EntityLoad;
use crate::engine::Row;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::{compile, Select, Statement};
use crate::value::Value;
use crate::{arg_err, invalid};

/// The entity's row by identity key, as a statement (for the paths that need load plans).
fn by_key(mapper: &Rc<Mapper>, key: &IdentityKey) -> OrmSelect {
    let mut q = OrmSelect::new(vec![super::query::SelectItem::Entity(mapper.clone())]);
    for (&i, v) in mapper.pk.iter().zip(key.values()) {
        q.select.where_.push(crate::sql::Expr::binary(
            crate::sql::Expr::column(&mapper.table, i),
            crate::sql::BinOp::Eq,
            crate::sql::Expr::bind(v),
        ));
    }
    q
}

impl SessionCore {
    /// The instance of a row: the one already in the identity map (its expired attributes
    /// filled from the row), or a new persistent one.
    pub(crate) fn instance_from_row(
        &self,
        mapper: &Rc<Mapper>,
        row: &Row<'_>,
        start: usize,
        attrs: Option<&[usize]>,
        poly: Option<&super::mapper::PolyColumns>,
    ) -> Result<Option<Rc<Instance>>> {
        // a concrete class's entity has `poly` only when it reads its hierarchy's union
        // (the discriminator and the subclasses' columns after its own)
        if mapper.concrete().is_some() {
            if let Some(poly) = poly {
                return self.concrete_from_row(mapper, row, start, poly, attrs);
            }
        }
        if let Some(attrs) = attrs {
            return self.instance_from_partial_row(mapper, row, start, attrs);
        }
        // the columns, then the column properties
        let n = mapper.width();
        let key = if let [pk] = mapper.pk.as_slice() {
            match row.integer(start + pk)? {
                Some(i) => Some(IdentityKey::int(mapper.ident_id, i)),
                None => IdentityKey::new(mapper.ident_id, &[row.value(start + pk)?]),
            }
        } else {
            let pk: Vec<Value> = mapper
                .pk
                .iter()
                .map(|&i| row.value(start + i))
                .collect::<Result<_>>()?;
            IdentityKey::new(mapper.ident_id, &pk)
        };
        let Some(key) = key else { return Ok(None) };
        if mapper.inherit.is_some() {
            if let Some(sub) = self.polymorphic_class(mapper, row, start, &key)? {
                return self.polymorphic_from_row(mapper, &sub, row, start, key, None, poly);
            }
        }
        if let Some(existing) = self.identity.borrow().get(&key) {
            if !mapper.props.is_empty() {
                // column properties a flushed change made stale take the row's values
                existing.expire_flushed_props();
            }
            let (unloaded, never_set) = {
                let st = existing.state();
                (
                    (0..n).any(|i| !st.loaded.contains(i)),
                    !st.nulls_never_set.is_empty(),
                )
            };
            // the columns an INSERT left NULL without a value are not in SQLAlchemy's
            // `__dict__`: the row fills them in like unloaded ones (its value is the NULL
            // held here, unless a bulk UPDATE not synchronized changed it)
            if never_set && !unloaded {
                existing.state_mut().nulls_never_set.clear();
            }
            if unloaded {
                let mut st = existing.state_mut();
                st.nulls_never_set.clear();
                for i in 0..n {
                    if !st.loaded.contains(i) {
                        let v = row.value(start + i)?;
                        mapper.check_loaded(i, &v)?;
                        st.values[i] = v;
                        st.loaded.insert(i);
                    }
                }
            }
            return Ok(Some(existing.clone()));
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v = row.value(start + i)?;
            mapper.check_loaded(i, &v)?;
            values.push(v);
        }
        let inst = Instance::loaded(mapper, values.into_boxed_slice(), key.clone(), self.weak());
        if events::mapper_listens(mapper.id, MapperEvent::Load) {
            self.loaded_new.borrow_mut().push(inst.clone());
        }
        self.identity.borrow_mut().insert(key, inst.clone());
        Ok(Some(inst))
    }

    /// `instance_from_row` for a row that holds only `attrs` of the entity (`load_only`,
    /// `defer`): the others stay unloaded and load on access.
    fn instance_from_partial_row(
        &self,
        mapper: &Rc<Mapper>,
        row: &Row<'_>,
        start: usize,
        attrs: &[usize],
    ) -> Result<Option<Rc<Instance>>> {
        let pos = |i: usize| attrs.iter().position(|&a| a == i).map(|p| start + p);
        let pk: Vec<Value> = mapper
            .pk
            .iter()
            .map(|&i| match pos(i) {
                Some(p) => row.value(p),
                None => Ok(Value::Null),
            })
            .collect::<Result<_>>()?;
        let Some(key) = IdentityKey::new(mapper.ident_id, &pk) else {
            return Ok(None);
        };
        if let Some(on) = mapper.inherit.as_ref().and_then(|i| i.on) {
            if let Some(p) = pos(on) {
                if self.identity.borrow().get(&key).is_none() {
                    if let Some(sub) = mapper.class_for(&row.value(p)?)? {
                        return self.polymorphic_from_row(
                            mapper,
                            &sub,
                            row,
                            start,
                            key,
                            Some(attrs),
                            None,
                        );
                    }
                }
            }
        }
        if let Some(existing) = self.identity.borrow().get(&key) {
            let mut st = existing.state_mut();
            st.nulls_never_set.clear();
            for (p, &i) in attrs.iter().enumerate() {
                if !st.loaded.contains(i) {
                    let v = row.value(start + p)?;
                    mapper.check_loaded(i, &v)?;
                    st.values[i] = v;
                    st.loaded.insert(i);
                }
            }
            return Ok(Some(existing.clone()));
        }
        let mut values = vec![Value::Null; mapper.width()];
        for (p, &i) in attrs.iter().enumerate() {
            let v = row.value(start + p)?;
            mapper.check_loaded(i, &v)?;
            values[i] = v;
        }
        let inst = Instance::loaded(mapper, values.into_boxed_slice(), key.clone(), self.weak());
        if events::mapper_listens(mapper.id, MapperEvent::Load) {
            self.loaded_new.borrow_mut().push(inst.clone());
        }
        {
            let mut st = inst.state_mut();
            st.loaded.clear();
            for &i in attrs {
                st.loaded.insert(i);
            }
        }
        self.identity.borrow_mut().insert(key, inst.clone());
        Ok(Some(inst))
    }

    /// The subclass a row of a polymorphic mapper is, when it is not the mapper itself
    /// and no instance of the key is in the identity map yet.
    fn polymorphic_class(
        &self,
        mapper: &Rc<Mapper>,
        row: &Row<'_>,
        start: usize,
        key: &IdentityKey,
    ) -> Result<Option<Rc<Mapper>>> {
        let Some(on) = mapper.inherit.as_ref().and_then(|i| i.on) else {
            return Ok(None);
        };
        let v = row.value(start + on)?;
        let sub = mapper.class_for(&v)?;
        if sub.is_some() && self.identity.borrow().contains_key(key) {
            return Ok(None);
        }
        Ok(sub)
    }

    /// A new instance of subclass `sub` from a row read as `mapper` (a parent): the
    /// parent's columns from the row (`attrs` of them for a partial row), then the
    /// subclass's columns the row holds after them (`polymorphic_load = "inline"`,
    /// `with_polymorphic`); the others load on access.
    #[allow(clippy::too_many_arguments)]
    fn polymorphic_from_row(
        &self,
        mapper: &Rc<Mapper>,
        sub: &Rc<Mapper>,
        row: &Row<'_>,
        start: usize,
        key: IdentityKey,
        attrs: Option<&[usize]>,
        poly: Option<&super::mapper::PolyColumns>,
    ) -> Result<Option<Rc<Instance>>> {
        let n = mapper.attrs.len();
        let mut values = vec![Value::Null; sub.width()];
        let mut loaded = super::attributes::AttrSet::default();
        match attrs {
            None => {
                for (i, slot) in values.iter_mut().enumerate().take(n) {
                    let v = row.value(start + i)?;
                    sub.check_loaded(i, &v)?;
                    *slot = v;
                }
                loaded = super::attributes::AttrSet::all(n);
                // inline columns of subclasses: by name after the parent's span
                for (p, (t, c)) in poly.map(|p| &p[..]).unwrap_or(&[]).iter().enumerate() {
                    if let Some(i) = sub.poly_attr(t, *c) {
                        if i < values.len() {
                            values[i] = row.value(start + mapper.width() + p)?;
                            loaded.insert(i);
                        }
                    }
                }
            }
            Some(attrs) => {
                for (p, &i) in attrs.iter().enumerate() {
                    if i < values.len() {
                        let v = row.value(start + p)?;
                        sub.check_loaded(i, &v)?;
                        values[i] = v;
                        loaded.insert(i);
                    }
                }
            }
        }
        let inst = Instance::loaded(sub, values.into_boxed_slice(), key.clone(), self.weak());
        inst.state_mut().loaded = loaded;
        if events::mapper_listens(sub.id, MapperEvent::Load) {
            self.loaded_new.borrow_mut().push(inst.clone());
        }
        self.identity.borrow_mut().insert(key, inst.clone());
        Ok(Some(inst))
    }

    /// Runs a SELECT and buffers its rows; an ORM-enabled one autoflushes first, a Core
    /// one (of plain Tables' columns only) does not, as SQLAlchemy's session.
    pub fn execute_select(&self, q: &OrmSelect) -> Result<Rows> {
        if q.is_orm_enabled() {
            self.autoflush()?;
        }
        // with binds, a query runs on its first entity's engine
        let _route = self.route_to(q.first_entity().or(q.subject.as_ref()).map(|m| &**m));
        let conn = self.connection()?;
        let planned = super::strategies::plan_select(q)?;
        let (select, columns, plans): (&Select, &[ResultColumn], Vec<Option<&EntityLoad>>) =
            match &planned {
                Some((s, c, p)) => (s, c, p.iter().map(Option::as_ref).collect()),
                None => (&q.select, &q.columns, Vec::new()),
            };
        let c = compile(&Statement::Select(select.clone()), conn.engine().dialect())?;
        let params = c.bind(&[], &|_| None)?;
        let rows = self.run_planned(&conn, &c.sql, &params, columns, &plans)?;
        if columns
            .iter()
            .any(|c| matches!(c, ResultColumn::Entity { mapper, .. } if mapper.inherit.is_some()))
        {
            self.load_polymorphic_selectin(&conn, q, columns, &rows)?;
        }
        super::cycles::maybe_collect();
        Ok(rows)
    }

    /// `selectin_polymorphic` / `polymorphic_load = "selectin"`: the subclass objects the
    /// rows hold whose subclass columns did not load get them by one SELECT of the key and
    /// those columns per subclass, `WHERE key IN (...) AND kind IN (...)`.
    fn load_polymorphic_selectin(
        &self,
        conn: &crate::engine::Connection,
        q: &OrmSelect,
        columns: &[ResultColumn],
        rows: &Rows,
    ) -> Result<()> {
        for (ci, c) in columns.iter().enumerate() {
            let ResultColumn::Entity { mapper, .. } = c else {
                continue;
            };
            let Some(inh) = &mapper.inherit else { continue };
            if mapper.pk.len() != 1 {
                continue;
            }
            let mut subs: Vec<Rc<Mapper>> = inh
                .map
                .mappers()
                .into_iter()
                .map(|(_, m)| m)
                .filter(|m| m.id != mapper.id && m.isa(mapper))
                .filter(|m| m.inherit.as_ref().is_some_and(|i| i.selectin))
                .collect();
            for o in q.options.iter() {
                if let super::strategy_options::LoaderOption::SelectinPolymorphic {
                    mapper: m,
                    subs: s,
                } = o
                {
                    if m.id == mapper.id {
                        for x in s {
                            if !subs.iter().any(|y| y.id == x.id) {
                                subs.push(x.clone());
                            }
                        }
                    }
                }
            }
            let width = rows.width.max(1);
            for sub in subs {
                // the subclass's columns beyond the queried class's
                let own: Vec<usize> = (mapper.attrs.len()..sub.attrs.len()).collect();
                if own.is_empty() {
                    continue;
                }
                let mut targets: Vec<Rc<Instance>> = Vec::new();
                for r in 0..rows.items.len() / width {
                    if let Item::Instance(i) = &rows.items[r * width + ci] {
                        if i.mapper.isa(&sub)
                            && !targets.iter().any(|t| Rc::ptr_eq(t, i))
                            && own.iter().any(|&a| !i.state().loaded.contains(a))
                        {
                            targets.push(i.clone());
                        }
                    }
                }
                for chunk in targets.chunks(super::strategies::SELECTIN_BATCH) {
                    let pk = sub.pk[0];
                    let mut cols = vec![crate::sql::Expr::column(&sub.table, pk)];
                    cols.extend(own.iter().map(|&a| crate::sql::Expr::column(&sub.table, a)));
                    let mut s = Select::new(cols);
                    s.where_.push(crate::sql::Expr::In {
                        expr: Box::new(crate::sql::Expr::column(&sub.table, pk)),
                        items: chunk
                            .iter()
                            .map(|i| crate::sql::Expr::bind(i.state().values[pk].clone()))
                            .collect(),
                        negate: false,
                    });
                    s.where_
                        .extend(sub.criterion(&|i| crate::sql::Expr::column(&sub.table, i)));
                    s.order_by = vec![crate::sql::Expr::column(&sub.table, pk)];
                    let c = compile(&Statement::Select(s), conn.engine().dialect())?;
                    let params = c.bind(&[], &|_| None)?;
                    conn.query(&c.sql, &params, |row| {
                        let key = row.value(0)?;
                        if let Some(inst) = chunk.iter().find(|i| i.state().values[pk] == key) {
                            let mut st = inst.state_mut();
                            for (p, &a) in own.iter().enumerate() {
                                if !st.loaded.contains(a) {
                                    st.values[a] = row.value(p + 1)?;
                                    st.loaded.insert(a);
                                }
                            }
                        }
                        Ok(())
                    })?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn run_select(
        &self,
        conn: &crate::engine::Connection,
        sql: &str,
        params: &[Value],
        columns: &[ResultColumn],
    ) -> Result<Rows> {
        self.run_planned(conn, sql, params, columns, &[])
    }

    /// Runs a SELECT and buffers its rows; `plans` (by result column, may be empty) say
    /// how each entity loads: which columns the row holds, which relationships fill from
    /// the same rows (joined) or a SELECT per batch of parents (selectin) afterwards.
    pub(crate) fn run_planned(
        &self,
        conn: &crate::engine::Connection,
        sql: &str,
        params: &[Value],
        columns: &[ResultColumn],
        plans: &[Option<&EntityLoad>],
    ) -> Result<Rows> {
        let width = columns.len();
        let keys: Rc<[Rc<str>]> = columns.iter().map(|c| c.name()).collect();
        let mut items = Vec::new();
        let mut fill = JoinedFill::default();
        conn.query(sql, params, |row| {
            for (ci, c) in columns.iter().enumerate() {
                items.push(match c {
                    ResultColumn::Entity {
                        mapper,
                        start,
                        poly,
                        ..
                    } => {
                        let plan = plans.get(ci).copied().flatten();
                        let attrs = plan.and_then(|p| p.attrs.as_deref());
                        match self.instance_from_row(mapper, row, *start, attrs, poly.as_ref())? {
                            Some(i) => {
                                if let Some(plan) = plan {
                                    self.populate_row(row, &i, plan, &mut fill)?;
                                }
                                Item::Instance(i)
                            }
                            None => Item::None,
                        }
                    }
                    ResultColumn::Value {
                        kind,
                        index,
                        enum_values,
                        name,
                    } => {
                        let v = row.value(*index)?;
                        if let Some(values) = enum_values {
                            crate::schema::types::check_enum_value(values, &v, &|| {
                                name.to_string()
                            })?;
                        }
                        Item::Value(v, *kind)
                    }
                });
            }
            Ok(())
        })?;
        let mut needs_unique = false;
        self.dispatch_loads()?;
        for (ci, plan) in plans.iter().enumerate() {
            let Some(plan) = *plan else { continue };
            needs_unique |= plan.multiplies_rows();
            let parents: Vec<Rc<Instance>> = (0..items.len() / width.max(1))
                .filter_map(|r| match &items[r * width + ci] {
                    Item::Instance(i) => Some(i.clone()),
                    _ => None,
                })
                .collect();
            if plan.has_selectin() {
                self.load_selectin_tree(conn, &parents, plan)?;
            }
        }
        Ok(Rows {
            keys,
            width,
            items,
            needs_unique,
        })
    }

    /// The `load` events of the instances the last rows built, once the rows are read.
    fn dispatch_loads(&self) -> Result<()> {
        if self.loaded_new.borrow().is_empty() {
            return Ok(());
        }
        let loaded = std::mem::take(&mut *self.loaded_new.borrow_mut());
        for inst in &loaded {
            events::dispatch_mapper(MapperEvent::Load, inst, None, None)?;
        }
        Ok(())
    }

    /// `session:get(Model, pk)`: the identity map first, then one SELECT.
    pub fn get(&self, mapper: &Rc<Mapper>, pk: &[Value]) -> Result<Option<Rc<Instance>>> {
        self.get_with(mapper, pk, &[])
    }

    /// `get` with loader options (the legacy `query:options(...):get(pk)`); they and the
    /// entity's eager relationships apply when the row is loaded.
    pub fn get_with(
        &self,
        mapper: &Rc<Mapper>,
        pk: &[Value],
        options: &[super::strategy_options::LoaderOption],
    ) -> Result<Option<Rc<Instance>>> {
        if pk.len() != mapper.pk.len() {
            return Err(arg_err!(
                "Incorrect number of values in identifier formed from argument for {}: expected {}, got {}",
                mapper.class_name,
                mapper.pk.len(),
                pk.len()
            ));
        }
        let key = IdentityKey::new(mapper.ident_id, pk).ok_or_else(|| {
            arg_err!("session:get({}, ...): a primary key value may not be nil (a NULL primary key identifies no row)", mapper.class_name)
        })?;
        if let Some(inst) = self.find(&key) {
            // an object of another class of the hierarchy is not the one asked for
            if !inst.mapper.isa(mapper) {
                return Ok(None);
            }
            // as SQLAlchemy's identity lookup: an object marked for deletion is still found
            // (until the flush; also a deleted one `take_key_again` put there);
            // an expired one (its key expired with the rest) loads first, autoflushing, and
            // is deleted in the session when its row is gone
            let expired = {
                let st = inst.state();
                !st.expired_flag_reset() && mapper.pk.iter().any(|&i| !st.loaded.contains(i))
            };
            if !expired {
                return Ok(Some(inst));
            }
            match self.load_expired(&inst) {
                Ok(()) => return Ok(Some(inst)),
                // its row is gone (or so says the error: SQLAlchemy takes an autoflush's
                // ObjectDeletedError about another object the same way): deleted in the
                // session, and the lookup found nothing, so the row is selected by key as
                // for an object not in the identity map (a session the failed autoflush
                // left wanting a rollback refuses it; seed 823)
                Err(e) if e.kind == ErrorKind::ObjectDeletedError => {
                    self.remove_newly_deleted(&inst);
                }
                Err(e) => return Err(e),
            }
        }
        if !options.is_empty()
            || super::strategies::has_eager_default(mapper)
            || mapper.reads_union()
        {
            let union = mapper.reads_union();
            let mut q = by_key(mapper, &key);
            q.options = Rc::new(options.to_vec());
            let rows = self.execute_select(&q)?;
            let mut found = rows.items.into_iter().filter_map(|i| match i {
                Item::Instance(i) => Some(i),
                _ => None,
            });
            let first = found.next();
            // the tables of a concrete hierarchy may each have a row of the key
            if union && found.next().is_some() {
                return Err(Error::new(
                    ErrorKind::MultipleResultsFound,
                    format!(
                        "Multiple rows were found when exactly one was required (session:get({}, ...): the tables of its concrete-table hierarchy have several rows of this key)",
                        mapper.class_name
                    ),
                ));
            }
            return Ok(first);
        }
        self.autoflush()?;
        let _route = self.route_to(Some(mapper));
        let conn = self.connection()?;
        let c = mapper.by_pk_sql(conn.engine().dialect())?;
        // the rows as `run_select` reads an entity column (no load plan), without its
        // buffers: the first row's instance, then the `load` events
        let (one, owned);
        let params: &[Value] = match &key {
            IdentityKey::Int { id, .. } if mapper.props.is_empty() && mapper.inherit.is_none() => {
                one = [Value::Integer(*id)];
                &one
            }
            _ => {
                owned = mapper.by_pk_params(c, key.values())?;
                &owned
            }
        };
        let mut first = None;
        conn.query_hot(&c.sql, params, |row| {
            let inst = self.instance_from_row(mapper, row, 0, None, None)?;
            if first.is_none() {
                first = inst;
            }
            Ok(())
        })?;
        self.dispatch_loads()?;
        Ok(first)
    }

    /// Reloads the unloaded attributes of a persistent instance in one SELECT, autoflushing
    /// first (SQLAlchemy's `load_on_ident`): an attribute read, `get` finding the object
    /// expired, `refresh` and a lazy load needing an expired foreign key all come here.
    pub fn load_expired(&self, inst: &Rc<Instance>) -> Result<()> {
        self.autoflush()?;
        let key = inst
            .state()
            .key
            .clone()
            .ok_or_else(|| invalid!("Instance {} is not persistent", inst.describe()))?;
        let _route = self.route_to(Some(&inst.mapper));
        let conn = self.connection()?;
        let mapper = &inst.mapper;
        let c = mapper.by_pk_sql(conn.engine().dialect())?;
        let mut found = false;
        conn.query_hot(&c.sql, &mapper.by_pk_params(c, key.values())?, |row| {
            found = true;
            let mut st = inst.state_mut();
            // only what was unloaded loads (SQLAlchemy's refresh of the expired attributes):
            // a column the INSERT left NULL stays never set
            for i in 0..mapper.width() {
                if !st.loaded.contains(i) {
                    st.nulls_never_set.remove(i);
                    let v = row.value(i)?;
                    mapper.check_loaded(i, &v)?;
                    st.values[i] = v;
                    st.loaded.insert(i);
                }
            }
            Ok(())
        })?;
        if found {
            events::dispatch_mapper(MapperEvent::Refresh, inst, None, None)?;
        }
        if !found {
            return Err(Error::new(
                ErrorKind::ObjectDeletedError,
                format!(
                    "Instance '{}' has been deleted, or its row is otherwise not present.",
                    inst.describe()
                ),
            ));
        }
        Ok(())
    }

    /// `session:refresh(obj)`: expires every attribute and loads them again now.
    pub fn refresh(&self, inst: &Rc<Instance>) -> Result<()> {
        self.expire(inst, None)?;
        // as SQLAlchemy: the autoflush comes after the expiry and before the load, and what
        // it raises (an ObjectDeletedError of the flush's own loads too) is not the load's
        // missing row; the load itself does not autoflush again (a delete the flush put off
        // stays for the next flush)
        self.autoflush()?;
        self.enter_no_autoflush();
        let r = self.refresh_load(inst);
        self.exit_no_autoflush();
        r
    }

    fn refresh_load(&self, inst: &Rc<Instance>) -> Result<()> {
        let mapper = inst.mapper.clone();
        if super::strategies::has_eager_default(&mapper) {
            // the row and its eager relationships again, in the same statement(s)
            let key = inst.state().key.clone();
            if let Some(key) = key {
                let rows = self.execute_select(&by_key(&mapper, &key))?;
                if rows.is_empty() {
                    return Err(invalid!("Could not refresh instance '{}'", inst.describe()));
                }
                return Ok(());
            }
        }
        self.load_expired(inst).map_err(|e| {
            if e.kind == ErrorKind::ObjectDeletedError {
                invalid!("Could not refresh instance '{}'", inst.describe())
            } else {
                e
            }
        })
    }

    /// A bulk INSERT of `rows` (the values of `ins`'s slots), batched as the dialect
    /// allows; returns the rows inserted.
    pub fn insert_sql_rows(&self, ins: &crate::sql::Insert, rows: &[Vec<Value>]) -> Result<usize> {
        let conn = self.connection()?;
        let c = crate::sql::compile(
            &crate::sql::Statement::Insert(ins.clone()),
            conn.engine().dialect(),
        )?;
        conn.insert_rows(
            ins,
            &c,
            crate::engine::Rows::Vecs(rows),
            None,
            |_, _| Ok(()),
        )
    }

    /// Runs an `orm.text` statement: its rows when it returns some, else the rows it
    /// changed. No autoflush: SQLAlchemy's session flushes before ORM statements only (a
    /// text statement names no mapped class), so pending changes stay in memory.
    pub fn run_text(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<crate::engine::connection::TextOutcome> {
        self.connection()?.run_text(sql, params)
    }

    /// Runs a text query or a DML with RETURNING: plain value rows, column names from the
    /// database.
    pub fn query_values(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        self.autoflush()?;
        let conn = self.connection()?;
        let names = conn.column_names(sql)?;
        let columns: Vec<ResultColumn> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ResultColumn::Value {
                name: Rc::from(n.as_str()),
                kind: crate::schema::ValueKind::Any,
                enum_values: None,
                index: i,
            })
            .collect();
        self.run_select(&conn, sql, params, &columns)
    }

    /// `session:merge(obj)`: copies the state of `source` onto the persistent instance with
    /// the same primary key (loading it if needed), or onto a new pending one.
    pub fn merge(&self, source: &Rc<Instance>) -> Result<Rc<Instance>> {
        // as SQLAlchemy: one autoflush first, none while the graph is merged
        self.autoflush()?;
        self.enter_no_autoflush();
        let r = self.merge_with(source, &mut std::collections::HashMap::new());
        self.exit_no_autoflush();
        r
    }

    /// `merge` with the objects merged so far (by source), for the `merge` cascade along
    /// relationships, whose graphs loop back (`post.author.posts`).
    fn merge_with(
        &self,
        source: &Rc<Instance>,
        memo: &mut std::collections::HashMap<*const Instance, Rc<Instance>>,
    ) -> Result<Rc<Instance>> {
        if source.session().is_some_and(|s| self.is(&s)) {
            return Ok(source.clone());
        }
        if let Some(done) = memo.get(&Rc::as_ptr(source)) {
            return Ok(done.clone());
        }
        let mapper = source.mapper.clone();
        let (values, loaded) = {
            let st = source.state();
            (st.values.to_vec(), st.loaded.clone())
        };
        let pk: Vec<Value> = mapper
            .pk
            .iter()
            .map(|&i| {
                if loaded.contains(i) {
                    values[i].clone()
                } else {
                    Value::Null
                }
            })
            .collect();
        let target = match IdentityKey::new(mapper.ident_id, &pk) {
            Some(_) => self.get(&mapper, &pk)?,
            None => None,
        };
        let target = match target {
            Some(t) => t,
            None => {
                let t = Instance::new(&mapper);
                self.add(&t)?;
                t
            }
        };
        for i in loaded.iter() {
            if i < mapper.attrs.len() {
                let same =
                    target.state().loaded.contains(i) && target.state().values[i] == values[i];
                if !same {
                    target.set(i, values[i].clone());
                }
            }
        }
        memo.insert(Rc::as_ptr(source), target.clone());
        // the `merge` cascade: related objects the source has loaded are merged too, and
        // the target's relationship set to the merged ones
        let rels: Vec<Rc<super::relationships::Relationship>> =
            mapper.relationships.borrow().clone();
        for rel in rels {
            if !rel.cascade.merge || rel.viewonly || !source.rel_loaded(rel.index) {
                continue;
            }
            let events = super::collections::Events;
            match source.rel_state(rel.index) {
                super::collections::RelState::Scalar(r) => {
                    let merged = match &r.value {
                        Some(v) => Some(self.merge_with(v, memo)?),
                        None => None,
                    };
                    let current = match target.rel_state(rel.index) {
                        super::collections::RelState::Scalar(t) => Some(t.value),
                        _ => None,
                    };
                    let same = matches!((&current, &merged), (Some(Some(a)), Some(b)) if Rc::ptr_eq(a, b))
                        || matches!((&current, &merged), (Some(None), None));
                    if !same {
                        events.set_scalar(&target, &rel, merged)?;
                    }
                }
                super::collections::RelState::Collection(c) => {
                    let merged: Vec<Rc<Instance>> = c
                        .items
                        .iter()
                        .map(|v| self.merge_with(v, memo))
                        .collect::<Result<_>>()?;
                    events.replace(&target, &rel, &merged)?;
                }
                _ => {}
            }
        }
        Ok(target)
    }

    /// The attribute of a persistent or detached instance is not loaded: load it, or say
    /// why it cannot be.
    pub fn ensure_loaded(inst: &Rc<Instance>, attr: usize) -> Result<()> {
        if inst.state().loaded.contains(attr) {
            return Ok(());
        }
        let status = inst.status();
        if matches!(status, Status::Transient | Status::Pending) {
            let st = inst.state();
            let cleared_key = st.key_cleared() && inst.mapper.autoincrement == Some(attr);
            // pending again with attributes a rollback expired and its key not loaded:
            // SQLAlchemy cannot refresh it (it has no key to load by)
            if status == Status::Pending
                && st.attrs_expired()
                && !cleared_key
                && inst.mapper.pk.iter().any(|&k| !st.loaded.contains(k))
            {
                // a generated key a rollback cleared (the contract), not expired: SQLAlchemy
                // still holds it, so its load of the expired attributes goes by that key and
                // autoflushes first, which inserts the object; loaded then by its new key
                // (seed 9984: the INSERT fails, `IntegrityError`)
                let cleared = st.key_cleared() && !st.key_expired();
                drop(st);
                if cleared {
                    if let Some(s) = inst.session() {
                        s.autoflush()?;
                    }
                    if inst.status() == Status::Persistent {
                        return Self::ensure_loaded(inst, attr);
                    }
                }
                return Err(invalid!(
                    "Instance {} cannot be refreshed - it's not persistent and does not contain a full primary key (attribute '{}')",
                    inst.describe(),
                    inst.mapper.attr_path(attr)
                ));
            }
            if !(status == Status::Transient && st.attrs_expired()) || cleared_key {
                return Ok(()); // never loaded: reads as nil
            }
        }
        match inst.session() {
            Some(s) if status != Status::Detached => s.load_expired(inst),
            _ => Err(Error::new(
                ErrorKind::DetachedInstanceError,
                format!(
                    "Instance {} is not bound to a Session; attribute refresh operation cannot proceed (attribute '{}')",
                    inst.describe(),
                    inst.mapper.attr_path(attr)
                ),
            )),
        }
    }
}
