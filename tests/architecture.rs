//! The house plan, checked: dependencies point edge → core → storage, sled
//! is named only in `store/`, the core builds no JSON by hand, and nothing
//! below the top imports the configuration. (See `lib.rs`, "Layout".)

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// (file, line number, line) of every non-comment line under `src/<folder>`
/// that contains `needle`, up to the file's unit tests.
fn uses(folder: &str, needle: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let mut hits = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            if code.contains(needle) {
                hits.push(format!("{}:{}: {}", file.display(), n + 1, code));
            }
        }
    }
    hits
}

#[test]
fn sled_is_named_only_in_store() {
    for folder in ["cache", "http", "embed", "cli"] {
        assert_eq!(uses(folder, "sled::"), Vec::<String>::new(), "{folder}");
    }
    for file in ["main.rs", "lib.rs", "config.rs", "error.rs", "clock.rs"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file))
                .unwrap();
        assert!(!text.contains("sled::"), "{file} names sled");
    }
}

#[test]
fn arrows_point_one_way() {
    // The core and below never import the edge, the CLI or the configuration.
    for folder in ["cache", "store", "embed"] {
        for upward in ["crate::http", "crate::cli", "crate::config", "actix_web"] {
            assert_eq!(
                uses(folder, upward),
                Vec::<String>::new(),
                "{folder} → {upward}"
            );
        }
    }
    // Storage knows nothing of the core.
    assert_eq!(uses("store", "crate::cache"), Vec::<String>::new());
    assert_eq!(uses("store", "crate::embed"), Vec::<String>::new());
    // The edge does not import the CLI or the configuration.
    assert_eq!(uses("http", "crate::config"), Vec::<String>::new());
    assert_eq!(uses("http", "crate::cli"), Vec::<String>::new());
}

#[test]
fn the_core_builds_no_json_by_hand() {
    assert_eq!(uses("cache", "json!"), Vec::<String>::new());
}
