//! Runs every Lua spec in `spec/` so that `cargo test` counts them: on SQLite always, and
//! on PostgreSQL and MySQL / MariaDB when `LUALCHEMY_TEST_POSTGRES` / `LUALCHEMY_TEST_MYSQL`
//! give a server URL (each spec's in-memory engine becomes a fresh schema or database
//! there; see `lualchemy::spec::SpecDatabase`).

fn run_on(db: Option<&str>) {
    // Specs run from the repository root, as `lualchemy test` does.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let (passed, failed) =
        lualchemy::spec::run_specs_on(&["spec".to_string()], db).expect("spec runner");
    assert!(passed > 0, "no Lua specs ran");
    assert_eq!(failed, 0, "{failed} Lua spec(s) failed (see output above)");
}

#[test]
fn lua_specs_pass() {
    run_on(None);
}

/// The server suites run when their URL is given; `.ci/run` gives both.
fn server_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("{var} is not set: the spec suite did not run on that database");
    }
    url
}

#[test]
fn lua_specs_pass_on_postgres() {
    if let Some(url) = server_url("LUALCHEMY_TEST_POSTGRES") {
        run_on(Some(&url));
    }
}

#[test]
fn lua_specs_pass_on_mysql() {
    if let Some(url) = server_url("LUALCHEMY_TEST_MYSQL") {
        run_on(Some(&url));
    }
}
