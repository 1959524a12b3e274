//! The differential test against SQLAlchemy 2.0 (difftest/, docs/TESTING.md): a fixed set
//! of seeds of random ORM operation sequences runs through SQLAlchemy and through the
//! lualchemy binary cargo built, compared after every step. Without python3 or the pinned
//! SQLAlchemy it says so and passes (CI installs it: .ci/run).

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lualchemy");
const PINNED: &str = "2.0.58";
/// Sequence length: with the seeds below, well under a minute in a debug build.
const OPS: &str = "60";
/// The known, named open divergences (difftest/known.py KNOWN_OPEN) whose generator
/// features are left out (or, for a difference of observation only, forgiven); each entry
/// goes once its bug is fixed.
const EXCLUDE: &str = "all";
/// Seeds per lualchemy database: all of 0-199 agree since the eleventh session (6 Dec),
/// also with the session events compared (`--events`); widen the range (then more seeds and
/// ops) as the fixes land.
const SEEDS: [(&str, &str); 2] = [("memory", "0-199"), ("file", "0-199")];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in host/ of the repository")
        .to_path_buf()
}

fn sqlalchemy_version() -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", "import sqlalchemy; print(sqlalchemy.__version__)"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn lualchemy_matches_sqlalchemy_on_random_sequences() {
    match sqlalchemy_version() {
        Some(v) if v == PINNED => {}
        found => {
            eprintln!(
                "SKIPPED differential test: needs python3 with SQLAlchemy {PINNED} (found: {}); \
                 install it with `pip install sqlalchemy=={PINNED}`",
                found.unwrap_or_else(|| "none".into())
            );
            return;
        }
    }
    let root = root();
    for (db, seeds) in SEEDS {
        let out = Command::new("python3")
            .arg(root.join("difftest/run.py"))
            .args([
                "--seeds",
                seeds,
                "--ops",
                OPS,
                "--db",
                db,
                "--exclude",
                EXCLUDE,
                "--events",
            ])
            .args(["--lualchemy", BIN, "--jobs", "2"])
            .current_dir(&root)
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "lualchemy diverges from SQLAlchemy ({db} database):\n{stdout}\n{stderr}\n\
             shrink a seed with: python3 difftest/run.py --shrink SEED --db {db} --exclude {EXCLUDE}"
        );
    }
}
