//! JSON element access in SQL (SQLAlchemy's `JSON.Comparator`): `data["key"]`, an index, a
//! path, and `as_string()` / `as_integer()` / `as_float()` / `as_boolean()` / `as_json()`,
//! rendered per database as SQLAlchemy 2.0 renders them:
//!
//! - SQLite: `JSON_QUOTE(JSON_EXTRACT(data, ?))` for a JSON element, `JSON_EXTRACT(data, ?)`
//!   for a typed one, the path bound as `'$."key"[0]'`;
//! - PostgreSQL: `data -> $1::TEXT` (an index: `$1::INT`), a path `data #> $1` bound as
//!   `'{a, 0, b}'`, typed elements `CAST(data ->> $1::TEXT AS INTEGER)`;
//! - MySQL / MariaDB: `JSON_EXTRACT(data, %s)`, typed elements in a `CASE` that turns JSON
//!   `null` into NULL (`JSON_UNQUOTE`, `CAST(... AS SIGNED INTEGER)`, `+0.0...`).
//!
//! Indexes here are JSON's own (0-based); the Lua binding turns Lua's 1-based ones into
//! them.

use std::rc::Rc;

use super::expr::Expr;
use crate::schema::SqlType;
use crate::value::Value;

/// One step of a JSON path: an object key or an array index (0-based).
#[derive(Clone, Debug, PartialEq)]
pub enum JsonStep {
    Key(Rc<str>),
    Index(i64),
}

/// What the element reads as: JSON (the default) or a SQL type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonAs {
    Json,
    String,
    Integer,
    Float,
    Boolean,
}

/// `target[step]` (one step) or `target[{ path }]` (a path, even of one step: PostgreSQL's
/// `#>`), read as `as_`.
#[derive(Clone, Debug)]
pub struct JsonElement {
    pub target: Expr,
    pub steps: Vec<JsonStep>,
    pub path: bool,
    pub as_: JsonAs,
}

/// What the compiler writes for an element: SQL text, the target expression, or a bound
/// value.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Sql(&'static str),
    Target,
    Bind(Value),
}

impl JsonElement {
    pub fn sql_type(&self) -> SqlType {
        match self.as_ {
            JsonAs::Json => SqlType::Json,
            JsonAs::String => SqlType::String(None),
            JsonAs::Integer => SqlType::Integer,
            JsonAs::Float => SqlType::Float,
            JsonAs::Boolean => SqlType::Boolean,
        }
    }

    /// The same element read as `as_`.
    pub fn read_as(&self, as_: JsonAs) -> JsonElement {
        JsonElement {
            as_,
            ..self.clone()
        }
    }

    /// The path as SQLite and MySQL take it: `$."a"[0]."b"`.
    fn dollar_path(&self) -> Value {
        let mut s = String::from("$");
        for step in &self.steps {
            match step {
                JsonStep::Key(k) => {
                    s.push_str(".\"");
                    s.push_str(&k.replace('"', "\\\""));
                    s.push('"');
                }
                JsonStep::Index(i) => {
                    s.push('[');
                    s.push_str(&i.to_string());
                    s.push(']');
                }
            }
        }
        Value::text(&s)
    }

    /// The path as PostgreSQL's `#>` takes it: a text array literal, `{a, 0, b}`.
    fn pg_path(&self) -> Value {
        let items: Vec<String> = self
            .steps
            .iter()
            .map(|s| match s {
                JsonStep::Index(i) => i.to_string(),
                JsonStep::Key(k)
                    if !k.is_empty()
                        && !k.contains([',', '{', '}', '"', '\\', ' '])
                        && !k.eq_ignore_ascii_case("null") =>
                {
                    k.to_string()
                }
                JsonStep::Key(k) => {
                    format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))
                }
            })
            .collect();
        Value::text(&format!("{{{}}}", items.join(", ")))
    }

    /// The pieces of the element's SQL on the database `dialect` names.
    pub fn pieces(&self, dialect: &str) -> Vec<Piece> {
        use Piece::*;
        match dialect {
            "postgresql" => {
                let typed = self.as_ != JsonAs::Json;
                let (op, bind, cast) = match (&self.steps[..], self.path, typed) {
                    ([JsonStep::Key(k)], false, t) => {
                        (if t { " ->> " } else { " -> " }, Value::text(k), "::TEXT")
                    }
                    ([JsonStep::Index(i)], false, t) => (
                        if t { " ->> " } else { " -> " },
                        Value::Integer(*i),
                        "::INT",
                    ),
                    (_, _, t) => (if t { " #>> " } else { " #> " }, self.pg_path(), "::TEXT[]"),
                };
                let mut out = Vec::new();
                if typed {
                    out.push(Sql("CAST("));
                }
                out.extend([Target, Sql(op), Bind(bind)]);
                // a path goes as text the server reads as an array (our driver binds by the
                // type the server infers, and has no array encoding)
                out.push(Sql(if cast == "::TEXT[]" {
                    "::TEXT::TEXT[]"
                } else {
                    cast
                }));
                if typed {
                    out.push(Sql(match self.as_ {
                        JsonAs::String => " AS VARCHAR)",
                        JsonAs::Integer => " AS INTEGER)",
                        JsonAs::Float => " AS FLOAT)",
                        _ => " AS BOOLEAN)",
                    }));
                }
                out
            }
            "mysql" | "mariadb" => {
                let extract = |out: &mut Vec<Piece>| {
                    out.extend([
                        Sql("JSON_EXTRACT("),
                        Target,
                        Sql(", "),
                        Bind(self.dollar_path()),
                        Sql(")"),
                    ])
                };
                let mut out = Vec::new();
                if self.as_ == JsonAs::Json {
                    extract(&mut out);
                    return out;
                }
                out.push(Sql("CASE "));
                extract(&mut out);
                out.push(Sql(" WHEN 'null' THEN NULL"));
                match self.as_ {
                    JsonAs::Boolean => out.push(Sql(" WHEN true THEN true ELSE false END")),
                    JsonAs::String => {
                        out.push(Sql(" ELSE JSON_UNQUOTE("));
                        extract(&mut out);
                        out.push(Sql(") END"));
                    }
                    JsonAs::Integer => {
                        out.push(Sql(" ELSE CAST("));
                        extract(&mut out);
                        out.push(Sql(" AS SIGNED INTEGER) END"));
                    }
                    _ => {
                        out.push(Sql(" ELSE "));
                        extract(&mut out);
                        out.push(Sql("+0.0000000000000000000000 END"));
                    }
                }
                out
            }
            _ => {
                let quote = self.as_ == JsonAs::Json;
                let mut out = Vec::new();
                if quote {
                    out.push(Sql("JSON_QUOTE("));
                }
                out.extend([
                    Sql("JSON_EXTRACT("),
                    Target,
                    Sql(", "),
                    Bind(self.dollar_path()),
                    Sql(")"),
                ]);
                if quote {
                    out.push(Sql(")"));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, Table};

    fn data() -> Expr {
        let t = Rc::new(
            Table::new(
                "t",
                vec![Column::new("data", SqlType::Json)],
                vec![],
                vec![],
            )
            .unwrap(),
        );
        Expr::column(&t, 0)
    }

    fn render(e: &JsonElement, dialect: &str) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut binds = Vec::new();
        for p in e.pieces(dialect) {
            match p {
                Piece::Sql(s) => sql.push_str(s),
                Piece::Target => sql.push_str("t.data"),
                Piece::Bind(v) => {
                    sql.push('?');
                    binds.push(v);
                }
            }
        }
        (sql, binds)
    }

    fn element(steps: Vec<JsonStep>, path: bool, as_: JsonAs) -> JsonElement {
        JsonElement {
            target: data(),
            steps,
            path,
            as_,
        }
    }

    #[test]
    fn renders_as_sqlalchemy_does() {
        let key = element(vec![JsonStep::Key(Rc::from("k"))], false, JsonAs::Json);
        assert_eq!(
            render(&key, "sqlite"),
            (
                "JSON_QUOTE(JSON_EXTRACT(t.data, ?))".into(),
                vec![Value::text("$.\"k\"")]
            )
        );
        assert_eq!(
            render(&key.read_as(JsonAs::String), "sqlite").0,
            "JSON_EXTRACT(t.data, ?)"
        );
        assert_eq!(
            render(&key, "postgresql"),
            ("t.data -> ?::TEXT".into(), vec![Value::text("k")])
        );
        assert_eq!(
            render(&key.read_as(JsonAs::Integer), "postgresql").0,
            "CAST(t.data ->> ?::TEXT AS INTEGER)"
        );
        assert_eq!(
            render(&key.read_as(JsonAs::String), "mysql").0,
            "CASE JSON_EXTRACT(t.data, ?) WHEN 'null' THEN NULL ELSE JSON_UNQUOTE(JSON_EXTRACT(t.data, ?)) END"
        );
        let path = element(
            vec![
                JsonStep::Key(Rc::from("a")),
                JsonStep::Index(1),
                JsonStep::Key(Rc::from("b c")),
            ],
            true,
            JsonAs::Json,
        );
        assert_eq!(
            render(&path, "sqlite").1,
            vec![Value::text("$.\"a\"[1].\"b c\"")]
        );
        assert_eq!(
            render(&path, "postgresql"),
            (
                "t.data #> ?::TEXT::TEXT[]".into(),
                vec![Value::text("{a, 1, \"b c\"}")]
            )
        );
        let index = element(vec![JsonStep::Index(2)], false, JsonAs::Json);
        assert_eq!(
            render(&index, "postgresql"),
            ("t.data -> ?::INT".into(), vec![Value::Integer(2)])
        );
        assert_eq!(render(&index, "mysql").1, vec![Value::text("$[2]")]);
        assert_eq!(index.read_as(JsonAs::Float).sql_type(), SqlType::Float);
    }

    #[test]
    fn the_compiler_numbers_its_binds_and_groups_the_operator_form() {
        use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};
        use crate::sql::{compile_expr, BinOp};
        let inner = element(vec![JsonStep::Key(Rc::from("a"))], false, JsonAs::Json);
        // data["a"]["b"] compared with a value
        let chained = Expr::Json(Box::new(JsonElement {
            target: Expr::Json(Box::new(inner)),
            steps: vec![JsonStep::Key(Rc::from("b"))],
            path: false,
            as_: JsonAs::Json,
        }));
        let cmp = Expr::binary(chained.clone(), BinOp::Eq, Expr::bind(Value::text("1")));
        let pg = compile_expr(&cmp, &PostgresDialect).unwrap();
        assert_eq!(pg.sql, "((t.data -> $1::TEXT) -> $2::TEXT) = $3::VARCHAR");
        let lite = compile_expr(&chained, &SqliteDialect).unwrap();
        assert_eq!(
            lite.sql,
            "JSON_QUOTE(JSON_EXTRACT(JSON_QUOTE(JSON_EXTRACT(t.data, ?)), ?))"
        );
        // MySQL repeats the extraction inside its CASE, binding the path each time
        let typed = element(vec![JsonStep::Index(0)], false, JsonAs::Integer);
        let my = compile_expr(
            &Expr::Json(Box::new(typed)),
            &MysqlDialect { mariadb: true },
        )
        .unwrap();
        assert_eq!(
            my.sql,
            "CASE JSON_EXTRACT(t.data, ?) WHEN 'null' THEN NULL ELSE CAST(JSON_EXTRACT(t.data, ?) AS SIGNED INTEGER) END"
        );
        assert_eq!(my.params.len(), 2);
    }
}
