use super::*;
use crate::engine::EngineOptions;
use crate::schema::SqlType;

fn engine_with_schema() -> Engine {
    let e = Engine::new("sqlite://", EngineOptions::default()).unwrap();
    let c = e.connect().unwrap();
    for sql in [
        "CREATE TABLE users (id INTEGER NOT NULL, name VARCHAR(50) NOT NULL, \
         active BOOLEAN DEFAULT 1, created DATETIME, price NUMERIC(10, 2), \
         CONSTRAINT uq_name UNIQUE (name), PRIMARY KEY (id), \
         CONSTRAINT ck_price CHECK (price >= 0))",
        "CREATE TABLE addresses (id INTEGER PRIMARY KEY, user_id INTEGER, email TEXT, \
         CONSTRAINT fk_user FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE)",
        "CREATE INDEX ix_email ON addresses (email)",
    ] {
        c.execute(sql, &[]).unwrap();
    }
    c.commit().ok();
    e
}

#[test]
fn inspects_a_sqlite_schema() {
    let i = Inspector::new(engine_with_schema());
    assert_eq!(i.table_names().unwrap(), ["addresses", "users"]);
    assert!(i.has_table("users").unwrap() && !i.has_table("nope").unwrap());
    let cols = i.columns("users").unwrap();
    let types: Vec<_> = cols.iter().map(|c| c.ty.clone()).collect();
    assert_eq!(
        types,
        [
            SqlType::Integer,
            SqlType::String(Some(50)),
            SqlType::Boolean,
            SqlType::DateTime,
            SqlType::Numeric(Some(10), Some(2))
        ]
    );
    assert!(!cols[0].nullable && cols[0].primary_key && !cols[1].primary_key);
    assert_eq!(cols[2].default.as_deref(), Some("1"));
    assert_eq!(i.pk_constraint("users").unwrap().columns, ["id"]);
    let fks = i.foreign_keys("addresses").unwrap();
    assert_eq!(
        fks,
        [ReflectedForeignKey {
            name: Some("fk_user".into()),
            columns: vec!["user_id".into()],
            referred_table: "users".into(),
            referred_columns: vec!["id".into()],
            ondelete: Some("CASCADE".into()),
            onupdate: None,
        }]
    );
    let ix = i.indexes("addresses").unwrap();
    assert_eq!(ix.len(), 1);
    assert_eq!(
        (ix[0].name.as_deref(), ix[0].unique),
        (Some("ix_email"), false)
    );
    let uq = i.unique_constraints("users").unwrap();
    assert_eq!(uq.len(), 1);
    assert_eq!(
        (uq[0].name.as_deref(), uq[0].columns.as_slice()),
        (Some("uq_name"), &["name".to_string()][..])
    );
    let ck = i.check_constraints("users").unwrap();
    assert_eq!(
        ck,
        [ReflectedCheck {
            name: Some("ck_price".into()),
            sqltext: "price >= 0".into()
        }]
    );
    let err = i.columns("nope").unwrap_err();
    assert!(
        err.message.contains("NoSuchTableError: nope"),
        "{}",
        err.message
    );
}

#[test]
fn builds_a_table_from_the_catalog() {
    let i = Inspector::new(engine_with_schema());
    let t = reflect_table(&i, "addresses").unwrap();
    assert_eq!(t.primary_key(), &[0]);
    assert_eq!(t.autoincrement_column(), Some(0));
    assert_eq!(t.columns[1].foreign_keys[0].target, "users.id");
    assert_eq!(t.indexes[0].name, "ix_email");
    let u = reflect_table(&i, "users").unwrap();
    assert!(u.constraints.iter().any(
        |c| matches!(c, crate::schema::Constraint::Unique { name: Some(n), .. } if n == "uq_name")
    ));
    assert_eq!(u.columns[2].server_default.as_deref(), Some("1"));
}
