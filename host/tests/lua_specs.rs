//! Runs every Lua spec in `spec/` so that `cargo test` counts them.

#[test]
fn lua_specs_pass() {
    // Specs run from the repository root, as `lualchemy test` does.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let (passed, failed) = lualchemy::spec::run_specs(&["spec".to_string()]).expect("spec runner");
    assert!(passed > 0, "no Lua specs ran");
    assert_eq!(failed, 0, "{failed} Lua spec(s) failed (see output above)");
}
