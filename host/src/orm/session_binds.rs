//! Per-mapper binds (`orm.Session(engine, { binds = { [User] = e1, [Base] = e2,
//! [table] = e3 } })`): which engine a mapper's statements go to, found as SQLAlchemy's
//! `Session.get_bind` finds it (the mapper's class, then the classes it is built on —
//! abstract models, the declarative base — nearest first, then its table, then the
//! session's own bind), and the extra connections a session holds, one per engine other
//! than its bind, each in a transaction of its own that the session's commit commits and
//! its rollback and close roll back.
//!
//! Routing: an operation about one mapper (a query by its first entity, `get`, the load of
//! expired attributes, a lazy load, bulk statements) runs under a route (`route_to`), and
//! `SessionCore::connection` hands out that engine's connection. The flush is split by
//! engine: each engine's objects go through the unit of work on that engine's connection,
//! engines in the order their first object was added.

use std::cell::RefCell;
use std::rc::Rc;

use super::instance::Instance;
use super::mapper::Mapper;
use super::session::SessionCore;
use super::session_bind::RootTx;
use crate::engine::{Connection, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::schema::Table;

/// A key of `binds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindKey {
    /// A mapped class, by mapper id.
    Mapper(u32),
    /// A class a model is built on (abstract model, declarative base): the identity the
    /// binding gives it (`Mapper::class_lineage`).
    Class(usize),
    /// A table, by id.
    Table(u32),
}

/// The `binds` of a session, in the order given.
#[derive(Clone, Default)]
pub struct Binds(Vec<(BindKey, Engine)>);

impl Binds {
    pub fn new(entries: Vec<(BindKey, Engine)>) -> Binds {
        Binds(entries)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: BindKey) -> Option<&Engine> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, e)| e)
    }

    /// The engine `binds` give a mapper: its class, the classes it is built on (nearest
    /// first), then its table.
    pub fn for_mapper(&self, mapper: &Mapper) -> Option<&Engine> {
        // the class, then the mapped classes it inherits from (nearest first)
        let mut parents = Vec::new();
        let mut p = mapper.inherits();
        while let Some(m) = p {
            parents.push(BindKey::Mapper(m.id));
            p = m.inherits();
        }
        std::iter::once(BindKey::Mapper(mapper.id))
            .chain(parents)
            .chain(mapper.class_lineage.iter().map(|&c| BindKey::Class(c)))
            .chain(std::iter::once(BindKey::Table(mapper.table.id)))
            .find_map(|k| self.find(k))
    }
}

/// What a session keeps for its binds: the binds, the route of the operation under way,
/// and the connections to engines other than its bind.
#[derive(Default)]
pub struct BindState {
    binds: RefCell<Binds>,
    route: RefCell<Option<Engine>>,
    extra: RefCell<Vec<(Engine, Rc<Connection>, RootTx)>>,
}

/// Restores the previous route when dropped.
pub struct Route<'a> {
    session: &'a SessionCore,
    previous: Option<Option<Engine>>,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        if let Some(prev) = self.previous.take() {
            *self.session.binds.route.borrow_mut() = prev;
        }
    }
}

impl SessionCore {
    pub fn set_binds(&self, binds: Binds) {
        *self.binds.binds.borrow_mut() = binds;
    }

    pub fn has_binds(&self) -> bool {
        !self.binds.binds.borrow().is_empty()
    }

    /// SQLAlchemy's `Session.get_bind(mapper)`: the engine the mapper's statements run on.
    pub fn get_bind(&self, mapper: Option<&Mapper>) -> Result<Engine> {
        if let Some(e) = mapper.and_then(|m| self.binds.binds.borrow().for_mapper(m).cloned()) {
            return Ok(e);
        }
        self.bind().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidRequestError,
                match mapper {
                    Some(m) => format!(
                        "Could not locate a bind configured on mapper {}, SQL expression or this Session.",
                        m.class_name
                    ),
                    None => "Could not locate a bind configured on SQL expression or this Session."
                        .to_string(),
                },
            )
        })
    }

    /// Routes the session's connection to the mapper's engine until the guard is dropped
    /// (nothing to do without binds).
    pub fn route_to(&self, mapper: Option<&Mapper>) -> Route<'_> {
        match mapper {
            Some(m) if self.has_binds() => {
                let engine = self.binds.binds.borrow().for_mapper(m).cloned();
                self.route_engine(engine)
            }
            _ => Route {
                session: self,
                previous: None,
            },
        }
    }

    /// The engine the operation under way is routed to (`compile` uses its dialect).
    pub(crate) fn routed_engine(&self) -> Option<Engine> {
        self.binds.route.borrow().clone()
    }

    /// `connection()` under a route to an engine other than the session's bind: that
    /// engine's connection, begun on first use (`None`: the session's own connection).
    pub(crate) fn routed_connection(&self) -> Result<Option<Rc<Connection>>> {
        let Some(engine) = self.binds.route.borrow().clone() else {
            return Ok(None);
        };
        if self.bind().is_some_and(|b| b.ptr_eq(&engine)) {
            return Ok(None);
        }
        if let Some((_, c, _)) = self
            .binds
            .extra
            .borrow()
            .iter()
            .find(|(e, ..)| e.ptr_eq(&engine))
        {
            return Ok(Some(c.clone()));
        }
        let conn = Rc::new(engine.connect()?);
        let root = RootTx::from_begin(conn.begin()?);
        // begun inside SAVEPOINTs: it takes them too, so rolling one back undoes its writes
        let open: Vec<String> = self
            .frames
            .borrow()
            .iter()
            .filter_map(|f| f.savepoint.clone())
            .collect();
        for name in &open {
            conn.savepoint(name)?;
        }
        self.binds
            .extra
            .borrow_mut()
            .push((engine, conn.clone(), root));
        self.touched();
        self.dispatch(super::events::SessionEvent::AfterBegin, None, Some(&conn))?;
        Ok(Some(conn))
    }

    /// A SAVEPOINT of `begin_nested` on every extra connection, by the name the bind's
    /// connection gave it.
    pub(crate) fn savepoint_binds(&self, name: &str) -> Result<()> {
        for (_, conn, _) in self.binds.extra.borrow().iter() {
            conn.savepoint(name)?;
        }
        Ok(())
    }

    /// Releases that SAVEPOINT where it is open.
    pub(crate) fn release_binds(&self, name: &str) -> Result<()> {
        for (_, conn, _) in self.binds.extra.borrow().iter() {
            if conn.has_savepoint(name) {
                conn.release_savepoint(name)?;
            }
        }
        Ok(())
    }

    /// Rolls back to that SAVEPOINT on every connection of the session where it is open
    /// (the bind's too: a flush that failed on another engine rolled back only that one).
    pub(crate) fn rollback_to_binds(&self, name: &str) {
        if !self.has_binds() {
            return;
        }
        let main = self.current_connection();
        let extra: Vec<Rc<Connection>> = self
            .binds
            .extra
            .borrow()
            .iter()
            .map(|(_, c, _)| c.clone())
            .collect();
        for conn in main.iter().chain(&extra) {
            if conn.has_savepoint(name) {
                let _ = conn.rollback_to_savepoint(name);
            }
        }
    }

    /// Commits the transactions of the extra connections (after the bind's).
    pub(crate) fn commit_binds(&self) -> Result<()> {
        let extra: Vec<_> = self.binds.extra.borrow_mut().drain(..).collect();
        for (_, conn, root) in &extra {
            root.commit(conn)?;
        }
        Ok(())
    }

    /// Rolls back the transactions of the extra connections and lets them go.
    pub(crate) fn rollback_binds(&self) {
        let extra: Vec<_> = self.binds.extra.borrow_mut().drain(..).collect();
        for (_, conn, root) in &extra {
            let _ = root.rollback(conn);
        }
    }

    /// The connection a flush begins with: that of the first engine it writes to.
    pub(crate) fn flush_connection(&self) -> Result<Rc<Connection>> {
        if !self.has_binds() {
            return self.connection();
        }
        let first = self.flush_groups().into_iter().next().flatten();
        let _route = self.route_engine(first);
        self.connection()
    }

    fn route_engine(&self, engine: Option<Engine>) -> Route<'_> {
        if !self.has_binds() {
            return Route {
                session: self,
                previous: None,
            };
        }
        let previous = std::mem::replace(&mut *self.binds.route.borrow_mut(), engine);
        Route {
            session: self,
            previous: Some(previous),
        }
    }

    /// The engines the pending, modified and deleted objects go to (`None`: the session's
    /// bind): an engine holding a table that another one's tables refer to by foreign key
    /// first, so parents get their keys before the children that copy them; otherwise in
    /// the order their first object was added.
    fn flush_groups(&self) -> Vec<Option<Engine>> {
        if !self.has_binds() {
            return vec![None];
        }
        let binds = self.binds.binds.borrow();
        let mut groups: Vec<(Option<Engine>, Vec<Rc<Table>>)> = Vec::new();
        for list in [&self.new, &self.modified, &self.deleted] {
            for inst in list.borrow().iter() {
                let e = binds.for_mapper(&inst.mapper).cloned();
                let table = &inst.mapper.table;
                match groups.iter_mut().find(|(g, _)| same(g, &e)) {
                    Some((_, tables)) if !tables.iter().any(|t| t.id == table.id) => {
                        tables.push(table.clone())
                    }
                    Some(_) => {}
                    None => groups.push((e, vec![table.clone()])),
                }
            }
        }
        // engines in dependency order: one goes once no engine still to go holds a table
        // its tables refer to (in a cycle, the first added goes)
        let refers = |a: &[Rc<Table>], b: &[Rc<Table>]| {
            a.iter().any(|t| {
                t.referenced_tables()
                    .iter()
                    .any(|r| b.iter().any(|o| o.name == *r && o.id != t.id))
            })
        };
        let mut ordered = Vec::with_capacity(groups.len());
        while !groups.is_empty() {
            let next = (0..groups.len())
                .find(|&i| !(0..groups.len()).any(|j| j != i && refers(&groups[i].1, &groups[j].1)))
                .unwrap_or(0);
            ordered.push(groups.remove(next));
        }
        let groups = ordered;
        let mut out: Vec<Option<Engine>> = groups.into_iter().map(|(e, _)| e).collect();
        if out.is_empty() {
            out.push(None);
        }
        out
    }

    /// The unit of work, once per engine the flush writes to: each engine's objects on its
    /// own connection. With one engine (no binds), the unit of work itself.
    pub(crate) fn flush_by_bind(
        &self,
        conn_for: &dyn Fn() -> Result<Rc<Connection>>,
        finish: &dyn Fn() -> Result<()>,
    ) -> Result<()> {
        if !self.has_binds() {
            return super::unitofwork::flush(self, conn_for, finish);
        }
        let groups = self.flush_groups();
        if groups.len() <= 1 {
            return super::unitofwork::flush(self, conn_for, finish);
        }
        let all = [self.new.take(), self.modified.take(), self.deleted.take()];
        let binds = self.binds.binds.borrow().clone();
        let of = |inst: &Rc<Instance>, g: &Option<Engine>| {
            same(&binds.for_mapper(&inst.mapper).cloned(), g)
        };
        let mut result = Ok(());
        for (n, g) in groups.iter().enumerate() {
            let lists = [&self.new, &self.modified, &self.deleted];
            for (list, objs) in lists.iter().zip(&all) {
                list.borrow_mut()
                    .extend(objs.iter().filter(|i| of(i, g)).cloned());
            }
            let _route = self.route_engine(g.clone());
            // the objects' registration (`finish`) ends the last group's flush
            let last = n + 1 == groups.len();
            let nothing = || Ok(());
            let finish = if last { finish } else { &nothing };
            result = super::unitofwork::flush(self, &|| self.connection(), finish);
            if result.is_err() {
                // the groups not flushed go back to the session's lists
                for (list, objs) in lists.iter().zip(&all) {
                    list.borrow_mut().extend(
                        objs.iter()
                            .filter(|i| groups[n + 1..].iter().any(|g| of(i, g)))
                            .cloned(),
                    );
                }
                break;
            }
        }
        result
    }
}

fn same(a: &Option<Engine>, b: &Option<Engine>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.ptr_eq(b),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineOptions;
    use crate::schema::{Column, SqlType};

    fn mapper(name: &str, lineage: Vec<usize>) -> Mapper {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        let table = Rc::new(Table::new(name, vec![id], Vec::new(), Vec::new()).expect("table"));
        let mut m = Mapper::new(name, table).expect("mapper");
        m.class_lineage = lineage;
        m
    }

    #[test]
    fn get_bind_looks_at_the_class_then_its_bases_then_the_table() {
        let e = |_: u8| Engine::new("sqlite://", EngineOptions::default()).expect("engine");
        let (e1, e2, e3) = (e(1), e(2), e(3));
        let user = mapper("users", vec![7, 9]);
        let post = mapper("posts", vec![9]);
        let tag = mapper("tags", vec![]);
        let binds = Binds::new(vec![
            (BindKey::Class(9), e2.clone()),
            (BindKey::Mapper(user.id), e1.clone()),
            (BindKey::Table(tag.table.id), e3.clone()),
        ]);
        assert!(binds.for_mapper(&user).is_some_and(|e| e.ptr_eq(&e1)));
        assert!(binds.for_mapper(&post).is_some_and(|e| e.ptr_eq(&e2)));
        assert!(binds.for_mapper(&tag).is_some_and(|e| e.ptr_eq(&e3)));
        let nearer = Binds::new(vec![
            (BindKey::Class(9), e2.clone()),
            (BindKey::Class(7), e3.clone()),
        ]);
        assert!(nearer.for_mapper(&user).is_some_and(|e| e.ptr_eq(&e3)));
        assert!(Binds::default().for_mapper(&user).is_none());
    }
}
