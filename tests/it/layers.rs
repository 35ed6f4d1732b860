//! The layers point one way (issue 15): a top-level module of `src/` names
//! only modules of its own layer or of the layers below it, in the order
//! `src/lib.rs` and ARCHITECTURE.md give. Test code is not counted.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers, from the leaves up. Within a layer, a module may use the
/// ones listed before it.
const LAYERS: &[&[&str]] = &[
    &[
        "secret",
        "reach",
        "header_command",
        "tls",
        "printable",
        "access",
    ],
    &["protocol"],
    &["store"],
    &["error"],
    &["telemetry"],
    &["http"],
    &["auth"],
    &["host"],
    &["cli", "config"],
    &["transport"],
    &["upstream"],
    &["bridge", "probe", "commands", "fuzzing"],
];

/// Where a module sits: its layer, then its place in the layer.
fn rank(module: &str) -> Option<(usize, usize)> {
    LAYERS.iter().enumerate().find_map(|(layer, modules)| {
        let place = modules.iter().position(|m| *m == module)?;
        Some((layer, place))
    })
}

/// The text of a file without its `#[cfg(test)]` module and comments.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read a source file");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names as `crate::X`.
fn named_modules(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_its_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unplaced = BTreeSet::new();
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a component");
        let module = first.as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(from) = rank(module) else {
            unplaced.insert(module.to_owned());
            continue;
        };
        for named in named_modules(&code_of(file)) {
            match rank(&named) {
                Some(to) if named != module && to > from => {
                    upward.push(format!("{} names crate::{named}", relative.display()));
                }
                _ => {}
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS, lib.rs and ARCHITECTURE.md): {unplaced:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that point up a layer:\n{}",
        upward.join("\n")
    );
}

/// The files of `src/` (as paths under it), but those `allowed` names,
/// whose code, tests left out, `breaks` the rule.
fn files_breaking(allowed: &[&str], breaks: impl Fn(&str) -> bool) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .filter(|file| !allowed.iter().any(|name| file.ends_with(name)))
        .filter(|file| breaks(&code_of(file)))
        .map(|file| file.strip_prefix(&src).unwrap().display().to_string())
        .collect()
}

/// Issue 25: one door to the host. Only the link (`src/transport.rs`)
/// hands messages to `Downstream::deliver`; every transport and the
/// translation stage go through `Link::inbound` (what the server sends)
/// or `Link::deliver` (what the stage made).
#[test]
fn only_the_link_delivers_to_the_host() {
    let doors = files_breaking(&["transport.rs", "host/downstream.rs"], |code| {
        code.contains("downstream.deliver(")
    });
    assert!(
        doors.is_empty(),
        "these deliver to the host around the link: {doors:?}"
    );
}

/// Issue 25, item 6: every lifecycle event is said by
/// `telemetry::lifecycle`, so that each carries its fields and each
/// sentence can be reworded (`tests/it/rewording.rs`) without a reader
/// noticing. A `lifecycle` field written anywhere else is an event the
/// rewording never reaches.
#[test]
fn only_telemetry_lifecycle_says_lifecycle_events() {
    let sayers = files_breaking(&["telemetry/lifecycle.rs"], |code| {
        code.lines()
            .any(|line| line.trim_start().starts_with("lifecycle ="))
    });
    assert!(
        sayers.is_empty(),
        "these say lifecycle events of their own: {sayers:?}"
    );
}
