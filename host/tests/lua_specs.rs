//! Runs every Lua spec in `spec/` so that `cargo test` counts them.

#[test]
fn lua_specs_pass() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec");
    let (passed, failed) = lualchemy::spec::run_specs(&[dir.to_string()]).expect("spec runner");
    assert!(passed > 0, "no Lua specs ran");
    assert_eq!(failed, 0, "{failed} Lua spec(s) failed (see output above)");
}
