//! Release packaging (issue 6), as far as this machine can take it: the
//! Debian package is built with cargo-deb and installed with `dpkg -i`; a
//! release archive holds the binary, manual and completions; the Homebrew
//! formula renders and is valid Ruby; the release workflow is valid YAML
//! whose scripts exist and parse.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_debian_package_installs_with_dpkg_and_runs() {
    if cfg!(not(target_os = "linux")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deb");
    run(Command::new(root().join("packaging/deb/build"))
        .arg(&out)
        .env("PROFILE", "dev")
        .env("NO_BUILD", "1")
        .env("FAST", "1"));
    let deb = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    let depends = String::from_utf8_lossy(&depends.stdout);
    assert!(
        depends.contains("libc6") && !depends.contains("ssl"),
        "{depends}"
    );

    // dpkg -i into a root of the test's own, against this system's package
    // database (so that libc6 counts as installed).
    let target = dir.path().join("root");
    let admin = target.join("var/lib/dpkg");
    for sub in ["info", "updates"] {
        std::fs::create_dir_all(admin.join(sub)).unwrap();
    }
    std::fs::copy("/var/lib/dpkg/status", admin.join("status")).unwrap();
    run(Command::new("dpkg")
        .arg(format!("--instdir={}", target.display()))
        .arg(format!("--admindir={}", admin.display()))
        .args(["--force-not-root", "--force-script-chrootless"])
        .arg(format!("--log={}", dir.path().join("dpkg.log").display()))
        .arg("-i")
        .arg(&deb));
    let status = run(Command::new("dpkg")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-s", "mcp-tether"]));
    assert!(String::from_utf8_lossy(&status.stdout).contains("Status: install ok installed"));
    let version = run(Command::new(target.join("usr/bin/mcp-tether")).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("mcp-tether {}", env!("CARGO_PKG_VERSION"))
    );
    for file in [
        "usr/share/man/man1/mcp-tether.1",
        "usr/share/bash-completion/completions/mcp-tether",
        "usr/share/zsh/vendor-completions/_mcp-tether",
        "usr/share/fish/vendor_completions.d/mcp-tether.fish",
        "usr/share/doc/mcp-tether/copyright",
    ] {
        assert!(target.join(file).is_file(), "{file} is installed");
    }
}

#[test]
fn a_release_archive_holds_the_binary_manual_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let binary = crate::mcpb::small_binary(dir.path());
    let out = run(Command::new(root().join("packaging/archive"))
        .args(["x86_64-unknown-linux-gnu"])
        .arg(&binary)
        .arg(dir.path().join("dist")));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked));
    for file in [
        "mcp-tether",
        "mcp-tether.1",
        "completions/mcp-tether.bash",
        "completions/_mcp-tether",
        "completions/mcp-tether.fish",
        "completions/mcp-tether.ps1",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(unpacked.join(file).is_file(), "{file} in the archive");
    }
    run(Command::new(unpacked.join("mcp-tether")).arg("--version"));
}

fn sums(dir: &Path, targets: &[&str]) -> PathBuf {
    let text: String = targets
        .iter()
        .enumerate()
        .map(|(n, t)| format!("{:064x}  mcp-tether-{t}.tar.gz\n", n + 1))
        .collect();
    let path = dir.join("SHA256SUMS");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_homebrew_formula_renders_into_valid_ruby() {
    let dir = tempfile::tempdir().unwrap();
    let targets = [
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "aarch64-unknown-linux-gnu",
        "x86_64-unknown-linux-gnu",
    ];
    let render = |sums: &Path| {
        Command::new(root().join("packaging/homebrew/render"))
            .args(["1.2.3", "tether/mcp-tether"])
            .arg(sums)
            .output()
            .unwrap()
    };
    let out = render(&sums(dir.path(), &targets));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let formula = String::from_utf8_lossy(&out.stdout);
    assert!(formula.contains("version \"1.2.3\""));
    assert!(formula.contains(
        "https://github.com/tether/mcp-tether/releases/download/v1.2.3/mcp-tether-x86_64-apple-darwin.tar.gz"
    ));
    assert!(!formula.contains('@'), "no placeholder left:\n{formula}");
    let path = dir.path().join("mcp-tether.rb");
    std::fs::write(&path, formula.as_bytes()).unwrap();
    let syntax = run(Command::new("ruby").arg("-c").arg(&path));
    assert_eq!(String::from_utf8_lossy(&syntax.stdout).trim(), "Syntax OK");

    let missing = render(&sums(dir.path(), &targets[..3]));
    assert!(
        !missing.status.success(),
        "a missing checksum fails the render"
    );
}

/// The audit workflow (SECURITY.md) is valid YAML and audits Cargo.lock.
#[test]
fn the_audit_workflow_audits_the_lockfile() {
    let python = root().join("tests/python/.venv/bin/python");
    let check = r#"
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
print("\n".join(s["run"] for s in wf["jobs"]["audit"]["steps"] if "run" in s))
"#;
    let out = run(Command::new(python)
        .args(["-c", check])
        .arg(root().join(".github/workflows/audit.yml")));
    let steps = String::from_utf8_lossy(&out.stdout);
    assert!(steps.contains("cargo audit"), "{steps}");
}

/// The workflow tests and then builds all six targets natively, and every
/// script it calls exists, is executable, and every step parses as bash.
#[test]
fn the_release_workflow_is_consistent() {
    let python = root().join("tests/python/.venv/bin/python");
    let check = r#"
import json, re, sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
matrix = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
steps = [s["run"] for job in wf["jobs"].values() for s in job["steps"] if "run" in s]
build = [s.get("run", "") for s in wf["jobs"]["build"]["steps"]]
scripts = sorted(set(re.findall(r"packaging/[\w/.-]+", "\n".join(steps))))
tested = next((i for i, r in enumerate(build) if r.startswith("cargo test")), None)
built = next((i for i, r in enumerate(build) if r.startswith("cargo build --release")), None)
print(json.dumps({"targets": [m["target"] for m in matrix], "steps": steps, "scripts": scripts,
                  "tested_before_built": tested is not None and built is not None and tested < built}))
"#;
    let out = run(Command::new(python)
        .args(["-c", check])
        .arg(root().join(".github/workflows/release.yml")));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = found["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        found["tested_before_built"], true,
        "each runner runs cargo test before its release build"
    );
    for os in ["linux", "apple-darwin", "windows"] {
        for arch in ["x86_64", "aarch64"] {
            assert!(
                targets
                    .iter()
                    .any(|t| t.starts_with(arch) && t.contains(os)),
                "{arch} {os} in {targets:?}"
            );
        }
    }
    for script in found["scripts"].as_array().unwrap() {
        let path = root().join(script.as_str().unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|_| panic!("{} exists", path.display()))
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{} is executable", path.display());
    }
    for step in found["steps"].as_array().unwrap() {
        // GitHub expressions become plain words for the syntax check.
        let mut text = step.as_str().unwrap().to_owned();
        while let Some(start) = text.find("${{") {
            let end = text[start..]
                .find("}}")
                .map_or(text.len(), |e| start + e + 2);
            text.replace_range(start..end, "X");
        }
        let out = Command::new("bash")
            .args(["-n", "-c", &text])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
