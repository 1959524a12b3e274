//! What follows a function call: `OVER (...)` (window functions), `FILTER (WHERE ...)`
//! and `WITHIN GROUP (ORDER BY ...)`, as SQLAlchemy's `over()`, `filter()` and
//! `within_group()` build them.

use super::expr::Expr;
use crate::error::Result;

/// One end of a window frame. In the Lua API (as in SQLAlchemy's `rows=(start, end)`), a
/// bound is given as a number: `nil` is UNBOUNDED (PRECEDING at the start, FOLLOWING at
/// the end), `0` is CURRENT ROW, `-n` is `n PRECEDING` and `n` is `n FOLLOWING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(u64),
    CurrentRow,
    Following(u64),
    UnboundedFollowing,
}

impl FrameBound {
    /// The bound an offset stands for; `start` says which end `None` is unbounded at.
    pub fn from_offset(offset: Option<i64>, start: bool) -> FrameBound {
        match offset {
            None if start => FrameBound::UnboundedPreceding,
            None => FrameBound::UnboundedFollowing,
            Some(0) => FrameBound::CurrentRow,
            Some(n) if n < 0 => FrameBound::Preceding(n.unsigned_abs()),
            Some(n) => FrameBound::Following(n as u64),
        }
    }

    /// The bound as SQL; offsets are integers the program gave, rendered as literals
    /// (MySQL takes no parameter there).
    pub fn sql(self) -> String {
        match self {
            FrameBound::UnboundedPreceding => "UNBOUNDED PRECEDING".into(),
            FrameBound::Preceding(n) => format!("{n} PRECEDING"),
            FrameBound::CurrentRow => "CURRENT ROW".into(),
            FrameBound::Following(n) => format!("{n} FOLLOWING"),
            FrameBound::UnboundedFollowing => "UNBOUNDED FOLLOWING".into(),
        }
    }
}

/// `ROWS` / `RANGE BETWEEN start AND end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `RANGE` rather than `ROWS`.
    pub range: bool,
    pub start: FrameBound,
    pub end: FrameBound,
}

impl Frame {
    pub fn sql(&self) -> String {
        format!(
            "{} BETWEEN {} AND {}",
            if self.range { "RANGE" } else { "ROWS" },
            self.start.sql(),
            self.end.sql()
        )
    }
}

/// A function call with a clause after it.
#[derive(Clone, Debug)]
pub enum FuncClause {
    /// `f(...) OVER (PARTITION BY ... ORDER BY ... frame)`.
    Over {
        func: Expr,
        partition_by: Vec<Expr>,
        order_by: Vec<Expr>,
        frame: Option<Frame>,
    },
    /// `f(...) FILTER (WHERE cond)`.
    Filter { func: Expr, cond: Expr },
    /// `f(...) WITHIN GROUP (ORDER BY ...)`.
    WithinGroup { func: Expr, order_by: Vec<Expr> },
}

impl FuncClause {
    /// `func:over{...}`: only a function call (possibly with FILTER) has a window.
    pub fn over(
        func: Expr,
        partition_by: Vec<Expr>,
        order_by: Vec<Expr>,
        frame: Option<Frame>,
    ) -> Result<Expr> {
        check_function(&func, "over")?;
        Ok(Expr::FuncClause(Box::new(FuncClause::Over {
            func,
            partition_by,
            order_by,
            frame,
        })))
    }

    pub fn filter(func: Expr, cond: Expr) -> Result<Expr> {
        check_function(&func, "filter")?;
        Ok(Expr::FuncClause(Box::new(FuncClause::Filter {
            func,
            cond,
        })))
    }

    pub fn within_group(func: Expr, order_by: Vec<Expr>) -> Result<Expr> {
        check_function(&func, "within_group")?;
        if order_by.is_empty() {
            return Err(crate::arg_err!(
                "within_group() needs at least one ORDER BY expression"
            ));
        }
        Ok(Expr::FuncClause(Box::new(FuncClause::WithinGroup {
            func,
            order_by,
        })))
    }

    /// The function the clause follows.
    pub fn func(&self) -> &Expr {
        match self {
            FuncClause::Over { func, .. }
            | FuncClause::Filter { func, .. }
            | FuncClause::WithinGroup { func, .. } => func,
        }
    }

    /// Every expression in the clause, the function first.
    pub fn children(&self) -> Vec<&Expr> {
        let mut out = vec![self.func()];
        match self {
            FuncClause::Over {
                partition_by,
                order_by,
                ..
            } => out.extend(partition_by.iter().chain(order_by)),
            FuncClause::Filter { cond, .. } => out.push(cond),
            FuncClause::WithinGroup { order_by, .. } => out.extend(order_by),
        }
        out
    }

    /// A copy with every expression replaced by `f` of it.
    pub fn map(&self, f: &dyn Fn(&Expr) -> Expr) -> FuncClause {
        let all = |v: &[Expr]| v.iter().map(f).collect::<Vec<_>>();
        match self {
            FuncClause::Over {
                func,
                partition_by,
                order_by,
                frame,
            } => FuncClause::Over {
                func: f(func),
                partition_by: all(partition_by),
                order_by: all(order_by),
                frame: *frame,
            },
            FuncClause::Filter { func, cond } => FuncClause::Filter {
                func: f(func),
                cond: f(cond),
            },
            FuncClause::WithinGroup { func, order_by } => FuncClause::WithinGroup {
                func: f(func),
                order_by: all(order_by),
            },
        }
    }

    /// The type of the clause's values: ranking functions count, anything else keeps the
    /// function's type.
    pub fn sql_type(&self) -> crate::schema::SqlType {
        use crate::schema::SqlType;
        if let Expr::Func { name, .. } = innermost(self.func()) {
            match name.to_ascii_lowercase().as_str() {
                "row_number" | "rank" | "dense_rank" | "ntile" | "count" => {
                    return SqlType::Integer
                }
                "percent_rank" | "cume_dist" | "percentile_cont" => return SqlType::Float,
                "lag" | "lead" | "first_value" | "last_value" | "nth_value" => {
                    if let Expr::Func { args, .. } = innermost(self.func()) {
                        if let Some(a) = args.first() {
                            return a.sql_type();
                        }
                    }
                }
                "percentile_disc" | "mode" => {
                    if let FuncClause::WithinGroup { order_by, .. } = self {
                        return order_by[0].sql_type();
                    }
                }
                _ => {}
            }
        }
        self.func().sql_type()
    }
}

/// The function call under any FILTER / OVER wrapping.
fn innermost(e: &Expr) -> &Expr {
    match e {
        Expr::FuncClause(c) => innermost(c.func()),
        Expr::Unary(crate::sql::expr::UnaryOp::Asc | crate::sql::expr::UnaryOp::Desc, e) => {
            innermost(e)
        }
        e => e,
    }
}

fn check_function(e: &Expr, method: &str) -> Result<()> {
    let ok = match e {
        Expr::Func { .. } => true,
        // FILTER / WITHIN GROUP then OVER, as SQL orders them
        Expr::FuncClause(c) => method == "over" && !matches!(**c, FuncClause::Over { .. }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(crate::arg_err!(
            ":{method}() applies to a function call (orm.func.<name>(...)){}",
            if method == "over" {
                ", or to one with :filter() or :within_group()"
            } else {
                ""
            }
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::{Column, SqlType, Table};
    use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};
    use crate::sql::expr::{BinOp, UnaryOp};
    use crate::sql::{compile, Dialect, Select, SetOp, Statement};
    use crate::value::Value;
    use std::rc::Rc;

    pub(crate) fn scores() -> Rc<Table> {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        Rc::new(
            Table::new(
                "scores",
                vec![
                    id,
                    Column::new("player", SqlType::String(Some(20))),
                    Column::new("game", SqlType::String(None)),
                    Column::new("points", SqlType::Integer),
                ],
                vec![],
                vec![],
            )
            .unwrap(),
        )
    }

    fn func(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Func {
            name: Rc::from(name),
            args,
        }
    }

    fn render(s: Select, d: &dyn Dialect) -> String {
        compile(&Statement::Select(s), d).unwrap().sql
    }

    #[test]
    fn over_renders_partition_order_and_frames() {
        let t = scores();
        let rn = FuncClause::over(
            func("row_number", vec![]),
            vec![Expr::column(&t, 2)],
            vec![Expr::Unary(UnaryOp::Desc, Box::new(Expr::column(&t, 3)))],
            None,
        )
        .unwrap();
        assert_eq!(rn.sql_type(), SqlType::Integer);
        assert_eq!(
            render(Select::new(vec![Expr::Label(Rc::from("rn"), Box::new(rn))]), &SqliteDialect),
            "SELECT row_number() OVER (PARTITION BY scores.game ORDER BY scores.points DESC) AS rn \nFROM scores"
        );
        let frame = |range, s, e| Frame {
            range,
            start: FrameBound::from_offset(s, true),
            end: FrameBound::from_offset(e, false),
        };
        let running = FuncClause::over(
            func("sum", vec![Expr::column(&t, 3)]),
            vec![],
            vec![Expr::column(&t, 0)],
            Some(frame(false, None, Some(0))),
        )
        .unwrap();
        let sql = render(Select::new(vec![running]), &PostgresDialect);
        assert!(
            sql.starts_with("SELECT sum(scores.points) OVER (ORDER BY scores.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"),
            "{sql}"
        );
        assert_eq!(
            frame(true, Some(-2), Some(3)).sql(),
            "RANGE BETWEEN 2 PRECEDING AND 3 FOLLOWING"
        );
        assert_eq!(
            frame(false, Some(0), None).sql(),
            "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"
        );
        let empty = FuncClause::over(func("rank", vec![]), vec![], vec![], None).unwrap();
        assert!(
            render(Select::new(vec![empty]), &SqliteDialect).starts_with("SELECT rank() OVER ()")
        );
        // over() needs a function
        assert!(FuncClause::over(Expr::column(&t, 0), vec![], vec![], None).is_err());
    }

    #[test]
    fn filter_and_within_group_follow_the_function() {
        let t = scores();
        let cond = Expr::binary(
            Expr::column(&t, 3),
            BinOp::Gt,
            Expr::bind(Value::Integer(5)),
        );
        let counted = FuncClause::filter(func("count", vec![Expr::column(&t, 0)]), cond).unwrap();
        let c = compile(
            &Statement::Select(Select::new(vec![counted.clone()])),
            &MysqlDialect { mariadb: true },
        )
        .unwrap();
        assert!(
            c.sql
                .starts_with("SELECT count(CASE WHEN scores.points > ? THEN scores.id END)"),
            "{}",
            c.sql
        );
        for d in [&SqliteDialect as &dyn Dialect, &PostgresDialect] {
            let c = compile(&Statement::Select(Select::new(vec![counted.clone()])), d).unwrap();
            assert!(
                c.sql
                    .contains("count(scores.id) FILTER (WHERE scores.points > "),
                "{}",
                c.sql
            );
            assert_eq!(c.params.len(), 1);
        }
        // FILTER then OVER
        let windowed =
            FuncClause::over(counted.clone(), vec![Expr::column(&t, 2)], vec![], None).unwrap();
        assert!(render(Select::new(vec![windowed]), &SqliteDialect)
            .contains("FILTER (WHERE scores.points > ?) OVER (PARTITION BY scores.game)"));
        assert!(FuncClause::filter(counted, Expr::Null).is_err());
        let median = FuncClause::within_group(
            func(
                "percentile_cont",
                vec![Expr::Bind(Value::Real(0.5), SqlType::Float)],
            ),
            vec![Expr::column(&t, 3)],
        )
        .unwrap();
        assert!(render(Select::new(vec![median]), &PostgresDialect)
            .starts_with("SELECT percentile_cont($1) WITHIN GROUP (ORDER BY scores.points)"));
        assert!(FuncClause::within_group(func("mode", vec![]), vec![]).is_err());
    }

    #[test]
    fn tuples_compare_and_test_membership_as_row_values() {
        let t = scores();
        let pair = || Expr::Tuple(vec![Expr::column(&t, 2), Expr::column(&t, 3)]);
        let row = |g: &str, p: i64| {
            Expr::Tuple(vec![
                Expr::Bind(Value::Text(g.into()), SqlType::String(None)),
                Expr::Bind(Value::Integer(p), SqlType::Integer),
            ])
        };
        let mut s = Select::new(vec![Expr::column(&t, 0)]);
        s.where_.push(Expr::In {
            expr: Box::new(pair()),
            items: vec![row("a", 1), row("b", 2)],
            negate: false,
        });
        assert!(render(s.clone(), &SqliteDialect)
            .ends_with("WHERE (scores.game, scores.points) IN (VALUES (?, ?), (?, ?))"));
        assert!(render(s.clone(), &PostgresDialect)
            .ends_with("WHERE (scores.game, scores.points) IN (($1, $2), ($3, $4))"));
        assert!(render(s, &MysqlDialect { mariadb: true })
            .ends_with("WHERE (scores.game, scores.points) IN ((?, ?), (?, ?))"));
        let mut empty = Select::new(vec![Expr::column(&t, 0)]);
        empty.where_.push(Expr::In {
            expr: Box::new(pair()),
            items: vec![],
            negate: true,
        });
        assert!(render(empty, &PostgresDialect).ends_with("WHERE (1 = 1)"));
        let mut eq = Select::new(vec![Expr::column(&t, 0)]);
        eq.where_.push(Expr::binary(pair(), BinOp::Eq, row("a", 1)));
        assert!(render(eq, &SqliteDialect).ends_with("WHERE (scores.game, scores.points) = (?, ?)"));
        let mut bad = Select::new(vec![Expr::column(&t, 0)]);
        bad.where_.push(Expr::In {
            expr: Box::new(pair()),
            items: vec![Expr::bind(Value::Integer(1))],
            negate: false,
        });
        assert!(compile(&Statement::Select(bad), &SqliteDialect).is_err());
    }

    #[test]
    fn values_render_as_a_derived_table_each_database_reads() {
        let cols = vec![
            Column::new("game", SqlType::String(None)),
            Column::new("extra", SqlType::Integer),
        ];
        let row = |g: &str, n: i64| {
            vec![
                Expr::Bind(Value::Text(g.into()), SqlType::String(None)),
                Expr::Bind(Value::Integer(n), SqlType::Integer),
            ]
        };
        let v = crate::sql::Derived::values("bonus", cols.clone(), vec![row("a", 1), row("b", 2)])
            .unwrap();
        let s = Select::new(vec![v.column(1)]);
        assert_eq!(
            render(s.clone(), &PostgresDialect),
            "SELECT bonus.extra \nFROM (VALUES (CAST($1 AS VARCHAR), CAST($2 AS INTEGER)), ($3, $4)) AS bonus (game, extra)"
        );
        assert_eq!(
            render(s.clone(), &SqliteDialect),
            "SELECT bonus.extra \nFROM (SELECT ? AS game, ? AS extra UNION ALL SELECT ?, ?) AS bonus"
        );
        assert!(
            render(s, &MysqlDialect { mariadb: true }).contains("UNION ALL SELECT ?, ?) AS bonus")
        );
        assert!(crate::sql::Derived::values("bonus", cols.clone(), vec![]).is_err());
        assert!(crate::sql::Derived::values("bonus", cols, vec![vec![Expr::Null]]).is_err());
    }

    #[test]
    fn except_and_intersect_join_compound_selects() {
        let t = scores();
        let part = |op: BinOp| {
            let mut s = Select::new(vec![Expr::column(&t, 0)]);
            s.where_.push(Expr::binary(
                Expr::column(&t, 3),
                op,
                Expr::bind(Value::Integer(3)),
            ));
            s
        };
        for (op, word) in [
            (SetOp::Except, " EXCEPT SELECT"),
            (SetOp::ExceptAll, " EXCEPT ALL SELECT"),
            (SetOp::Intersect, " INTERSECT SELECT"),
            (SetOp::IntersectAll, " INTERSECT ALL SELECT"),
        ] {
            let mut s = part(BinOp::Gt);
            s.compound.push((op, part(BinOp::Lt)));
            let sql = render(s, &PostgresDialect);
            assert!(sql.contains(word), "{sql}");
        }
    }
}
