//! Column properties in the core (no Lua): the entity's SELECT list, loading with the row,
//! never written by INSERT / UPDATE, reload after expiry and after a flushed change; and the
//! SQL pieces they rest on (`Expr::adapt_deep`, `Select::correlate_except`).

mod common;

use std::rc::Rc;

use common::*;
use lualchemy::orm::mapper::ColumnProperty;
use lualchemy::orm::query::SelectItem;
use lualchemy::orm::session::SessionCore;
use lualchemy::orm::{Instance, Item, Mapper, OrmSelect};
use lualchemy::schema::{SqlType, Table, ValueKind};
use lualchemy::sql::{compile, BinOp, Derived, Expr, Select, Statement};
use lualchemy::Value;

/// `people(id, first, last)` with `full = first || ' ' || last` and `n_pets`, the count of
/// the person's rows in `pets(id, owner_id, name)`.
struct World {
    db: Db,
    people: Rc<Mapper>,
}

fn world() -> World {
    let db = Db::empty();
    let people_t = Rc::new(
        Table::new(
            "people",
            vec![
                pk("id"),
                col("first", SqlType::String(None)),
                col("last", SqlType::String(None)),
            ],
            vec![],
            vec![],
        )
        .unwrap(),
    );
    let pets_t = Rc::new(
        Table::new(
            "pets",
            vec![
                pk("id"),
                fk(col("owner_id", SqlType::Integer), "people.id"),
                col("name", SqlType::String(None)),
            ],
            vec![],
            vec![],
        )
        .unwrap(),
    );
    db.metadata.add(people_t.clone()).unwrap();
    db.metadata.add(pets_t.clone()).unwrap();
    let full = Expr::binary(
        Expr::binary(
            Expr::column(&people_t, 1),
            BinOp::Concat,
            Expr::bind(Value::text(" ")),
        ),
        BinOp::Concat,
        Expr::column(&people_t, 2),
    );
    let mut count = Select::new(vec![Expr::Func {
        name: Rc::from("count"),
        args: vec![Expr::column(&pets_t, 0)],
    }]);
    count.where_.push(Expr::binary(
        Expr::column(&pets_t, 1),
        BinOp::Eq,
        Expr::column(&people_t, 0),
    ));
    count.correlate_except = Some(vec![pets_t.id]);
    let props = vec![
        ColumnProperty {
            key: "full".into(),
            kind: ValueKind::Text,
            expr: full,
        },
        ColumnProperty {
            key: "n_pets".into(),
            kind: ValueKind::Integer,
            expr: Expr::ScalarSelect(Box::new(count)),
        },
    ];
    let people = Rc::new(
        Mapper::new("Person", people_t)
            .unwrap()
            .with_props(props)
            .unwrap(),
    );
    db.create_all();
    World { db, people }
}

fn prop(inst: &Rc<Instance>, key: &str) -> Value {
    let i = inst.mapper.prop_index(key).expect("a column property");
    inst.expire_flushed_props();
    SessionCore::ensure_loaded(inst, i).unwrap();
    let v = inst.state().values[i].clone();
    v
}

fn prop_loaded(inst: &Instance, key: &str) -> bool {
    let i = inst.mapper.prop_index(key).unwrap();
    inst.expire_flushed_props();
    inst.state().loaded.contains(i)
}

#[test]
fn the_entity_select_lists_the_properties_after_the_columns() {
    let w = world();
    let m = &w.people;
    assert_eq!(m.width(), 5);
    assert_eq!(m.prop_index("full"), Some(3));
    assert_eq!(m.attr_path(4), "Person.n_pets");
    assert_eq!(m.value_kind(4), ValueKind::Integer);
    let q = OrmSelect::new(vec![SelectItem::Entity(m.clone())]);
    let c = compile(&Statement::Select(q.select.clone()), w.db.engine.dialect()).unwrap();
    assert!(
        c.sql
            .contains("people.first || ? || people.last AS \"full\""),
        "{}",
        c.sql
    );
    assert!(
        c.sql.contains(
            "(SELECT count(pets.id) \nFROM pets \nWHERE pets.owner_id = people.id) AS n_pets"
        ),
        "{}",
        c.sql
    );
    // a column property's key may not be a column's
    let dup = Mapper::new("P2", m.table.clone())
        .unwrap()
        .with_props(vec![ColumnProperty {
            key: "first".into(),
            kind: ValueKind::Text,
            expr: Expr::Null,
        }]);
    assert!(dup.is_err());
}

#[test]
fn properties_load_with_the_row_and_are_never_written() {
    let w = world();
    let s = w.db.session();
    let p = make(
        &w.people,
        &[("first", Value::text("Ada")), ("last", Value::text("King"))],
    );
    s.add(&p).unwrap();
    s.flush().unwrap();
    let sent = w.db.capture.take_sql();
    let insert = sent.iter().find(|q| q.starts_with("INSERT")).unwrap();
    assert!(
        !insert.contains("full") && !insert.contains("n_pets"),
        "{insert}"
    );
    // not loaded by the INSERT: read, it loads (one SELECT)
    assert!(!prop_loaded(&p, "full"));
    assert_eq!(prop(&p, "full"), Value::text("Ada King"));
    assert_eq!(prop(&p, "n_pets"), Value::Integer(0));
    assert_eq!(w.db.capture.take_sql().len(), 1);
    let id = get(&p, "id");
    w.db.exec(&format!(
        "INSERT INTO pets (owner_id, name) VALUES ({}, 'rex')",
        id.as_i64().unwrap()
    ));
    s.commit().unwrap();

    // a query reads them with the row
    let s = w.db.session();
    let q = OrmSelect::new(vec![SelectItem::Entity(w.people.clone())]);
    let rows = s.execute_select(&q).unwrap();
    let Item::Instance(p) = &rows.items[0] else {
        panic!("an entity")
    };
    w.db.capture.clear();
    assert!(prop_loaded(p, "full") && prop_loaded(p, "n_pets"));
    assert_eq!(prop(p, "n_pets"), Value::Integer(1));
    assert!(w.db.capture.take_sql().is_empty());

    // a change: the loaded value stays until the change is flushed, then reloads
    set(p, "last", "Byron");
    assert_eq!(prop(p, "full"), Value::text("Ada King"));
    s.flush().unwrap();
    let update = w.db.capture.take_sql();
    let update = update.iter().find(|q| q.starts_with("UPDATE")).unwrap();
    assert!(!update.contains("full"), "{update}");
    assert!(!prop_loaded(p, "full"));
    assert_eq!(prop(p, "full"), Value::text("Ada Byron"));
    // a second change after that flush expires the value the flush left stale
    set(p, "first", "Augusta");
    s.flush().unwrap();
    set(p, "last", "Lovelace");
    assert!(!prop_loaded(p, "full"));

    // get by primary key binds the properties' parameters too
    s.commit().unwrap();
    let s = w.db.session();
    let again = s.get(&w.people, &[id]).unwrap().unwrap();
    assert!(prop_loaded(&again, "full"));
    assert_eq!(prop(&again, "full"), Value::text("Augusta Lovelace"));
}

#[test]
fn adapt_deep_reaches_into_subqueries_and_correlate_except_keeps_a_from() {
    let w = world();
    let m = &w.people;
    let alias = Derived::alias(&m.table, "p2").unwrap();
    let exprs = m.entity_exprs(&|i| alias.column(i));
    assert_eq!(exprs.len(), 5);
    let mut s = Select::new(exprs);
    s.from
        .push(lualchemy::sql::FromItem::Derived(alias.clone()));
    let sql = compile(&Statement::Select(s), w.db.engine.dialect())
        .unwrap()
        .sql;
    assert!(sql.contains("pets.owner_id = p2.id"), "{sql}");
    assert!(!sql.contains("people.id"), "{sql}");

    // an enclosing statement that reads pets too: pets stays in the subquery's FROM
    let pets = w.db.metadata.get("pets").unwrap();
    let mut outer = Select::new(m.column_exprs());
    outer.joins.push(lualchemy::sql::Join {
        target: lualchemy::sql::FromItem::Table(pets.clone()),
        on: Expr::binary(Expr::column(&pets, 1), BinOp::Eq, Expr::column(&m.table, 0)),
        outer: false,
    });
    let sql = compile(&Statement::Select(outer.clone()), w.db.engine.dialect())
        .unwrap()
        .sql;
    assert!(sql.contains("(SELECT count(pets.id)"), "{sql}");
    assert!(
        sql.contains("FROM pets \nWHERE pets.owner_id = people.id)"),
        "{sql}"
    );
}
