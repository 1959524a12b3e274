//! Runs every `examples/*.lua` script in-process, each in a fresh Lua state with the module
//! installed (as the `lualchemy` binary does), and checks that it runs without error and
//! prints something. A script whose first line is `-- requires: Lua 5.3` (or 5.4) is
//! skipped, with a note, when the crate is built on an older Lua.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use mlua::{Lua, MultiValue};

/// The example scripts, sorted, as paths relative to the repository root.
fn example_scripts() -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir("examples")
        .expect("examples/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "lua"))
        .collect();
    scripts.sort();
    scripts
}

/// Runs one script with the global `print` replaced by one that collects its lines.
/// Returns the printed lines, or the error message (with what was printed before it).
fn run_script(path: &PathBuf) -> Result<Vec<String>, String> {
    let name = path.to_string_lossy().into_owned();
    let lines: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let lua = Lua::new();
    let result = (|| -> mlua::Result<()> {
        lualchemy::install(&lua)?;
        let globals = lua.globals();
        let tostring: mlua::Function = globals.get("tostring")?;
        let sink = Rc::clone(&lines);
        let print = lua.create_function(move |_, args: MultiValue| {
            let mut parts = Vec::with_capacity(args.len());
            for v in args {
                parts.push(tostring.call::<String>(v)?);
            }
            sink.borrow_mut().push(parts.join("\t"));
            Ok(())
        })?;
        globals.set("print", print)?;
        let arg = lua.create_table()?;
        arg.raw_set(0, name.as_str())?;
        globals.set("arg", arg)?;
        let code = std::fs::read(path)
            .map_err(|e| mlua::Error::runtime(format!("cannot open {name}: {e}")))?;
        lua.load(code).set_name(format!("@{name}")).exec()
    })();
    let printed = lines.borrow().clone();
    match result {
        Ok(()) => Ok(printed),
        Err(e) => {
            let message = match lualchemy::lua::error::find_orm_error(&e) {
                Some(oe) => oe.to_string(),
                None => e.to_string(),
            };
            Err(format!(
                "{message}\n--- printed before the error ---\n{}",
                printed.join("\n")
            ))
        }
    }
}

/// "5.4" as (5, 4).
fn version_pair(v: &str) -> (u32, u32) {
    let mut parts = v.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The Lua version a script's `-- requires: Lua X.Y` first line asks for.
fn required_version(path: &PathBuf) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.lines().next()?;
    first
        .strip_prefix("-- requires: Lua ")
        .map(|v| version_pair(v.split_whitespace().next().unwrap_or("")))
}

#[test]
fn examples_run_and_print() {
    // Examples run from the repository root, as `lualchemy examples/NAME.lua` does there.
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let scripts = example_scripts();
    assert!(!scripts.is_empty(), "no examples/*.lua found");
    let mut failures = Vec::new();
    let this_lua: String = Lua::new().globals().get("_VERSION").expect("_VERSION");
    let this_version = version_pair(this_lua.trim_start_matches("Lua "));
    for script in &scripts {
        if let Some(needed) = required_version(script) {
            if needed > this_version {
                println!(
                    "{}: skipped, needs Lua {}.{} ({this_lua} here)",
                    script.display(),
                    needed.0,
                    needed.1
                );
                continue;
            }
        }
        match run_script(script) {
            Ok(lines) if lines.is_empty() => {
                failures.push(format!("{}: printed nothing", script.display()));
            }
            Ok(lines) => {
                println!("{}: ok, {} line(s) printed", script.display(), lines.len());
            }
            Err(e) => failures.push(format!("{}: {e}", script.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} example(s) failed:\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
}

#[test]
fn custom_types_example_prints_the_stored_and_loaded_values() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let lines =
        run_script(&PathBuf::from("examples/custom_types.lua")).unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        // the vector stored as text by the TypeDecorator, the point as two columns
        "Kestrel\t0\t0\t3,4,0",
        "Mule\t10\t-2\t0.5,0,0",
        // loaded back through process_result_value and the composite's class
        "Kestrel\t(0, 0)\t3 4 0",
        // moved: the composite set its columns
        "true\t3\t4",
        "Mule\tgrain",
        "ore grain",
        "false\tLookupError\tShip.class: 'cruiser' is not among the defined enum values. Possible values: scout, freighter",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "examples/custom_types.lua did not print {expected:?}; it printed:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn unit_hierarchy_example_prints_each_row_as_its_class() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let lines =
        run_script(&PathBuf::from("examples/unit_hierarchy.lua")).unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        // the subclasses' columns in the one table
        "units columns: id, name, kind, hp, squad_id, range, armor, mana",
        // the base queried: each row as its class, with the class's methods
        "Unit     pip the unit (hp 10, attack 1)",
        "Archer   robin the archer (hp 10, attack 5)",
        "Paladin  arthur the paladin (hp 10, attack 4)",
        // a subclass queried: its rows and its subclasses'
        "arthur\t7",
        "lancelot\t5",
        // a relationship to a subclass
        "robin\t9",
        "paladin\tPaladin\tinherits Knight",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "examples/unit_hierarchy.lua did not print {expected:?}; it printed:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn joined_hierarchy_example_writes_and_reads_both_tables() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let lines = run_script(&PathBuf::from("examples/joined_hierarchy.lua"))
        .unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        // the subclass tables after the base's (foreign key order)
        "tables: items, weapons, potions",
        // the base queried: each row as its class, its subclass columns loaded
        "Item    rope (item, weight 1)",
        "Potion  elixir (potion, weight 1)",
        "Weapon  sword deals 7",
        // a subclass queried and filtered on its own table
        "sword\t7",
        "dagger damage in weapons: 4",
        // the delete removed both rows
        "items: 3, weapons: 1",
        "potion\tPotion\tinherits Item",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "examples/joined_hierarchy.lua did not print {expected:?}; it printed:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn concrete_hierarchy_example_reads_the_union_and_writes_each_table() {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("repository root");
    let lines = run_script(&PathBuf::from("examples/concrete_hierarchy.lua"))
        .unwrap_or_else(|e| panic!("{e}"));
    for expected in [
        // a whole table per class
        "tables: animals, birds, fish, keepers",
        // a relationship to the base: the union's rows, each as its class
        "ann keeps goat (Animal); heron spans 180 cm; wren spans 15 cm",
        "bob keeps carp (Fish)",
        // the base queried: the union, each row as its class, its columns loaded
        "Fish   carp (Fish)",
        "Animal goat (Animal)",
        "Bird   heron spans 180 cm",
        "animals in all tables: 4",
        // a subclass queried on its own table, with its own relationship
        "heron\t180\tann",
        // keys per class
        "key 1: goat, heron, carp",
        // writes to the object's own table
        "carp water in fish: salt",
        "birds: 1, ann keeps 2",
        "fish\tFish\tinherits Animal\tconcrete true",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "examples/concrete_hierarchy.lua did not print {expected:?}; it printed:\n{}",
            lines.join("\n")
        );
    }
}
