//! The npm packages (issue 6): packaging/npm/build packs the launcher and
//! the linux-x64 binary package; they are installed from the tarballs into
//! a fresh prefix, and `npx mcp-tether` runs a real bridge session against
//! server-everything through the launcher.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::everything::Everything;
use crate::common::{Bridge, tool_text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Packs the launcher and, with `binary`, the linux-x64 package into `out`.
fn pack(out: &Path, binary: &Path) -> (PathBuf, PathBuf) {
    let built = Command::new(root().join("packaging/npm/build"))
        .arg(out)
        .arg(format!("linux-x64={}", binary.display()))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let version = env!("CARGO_PKG_VERSION");
    (
        out.join(format!("mcp-tether-{version}.tgz")),
        out.join(format!("mcp-tether-linux-x64-{version}.tgz")),
    )
}

/// `npm install` of the given tarballs into a new prefix.
fn install(prefix: &Path, tarballs: &[&Path]) {
    std::fs::write(
        prefix.join("package.json"),
        r#"{"name":"t","private":true}"#,
    )
    .unwrap();
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--omit=optional",
            "--loglevel=error",
        ])
        .args(tarballs)
        .current_dir(prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn npx(prefix: &Path, args: &[&str]) -> std::process::Output {
    Command::new("npx")
        .args(["--no-install", "mcp-tether"])
        .args(args)
        .current_dir(prefix)
        .output()
        .unwrap()
}

#[tokio::test]
async fn npx_mcp_tether_runs_the_native_binary() {
    if cfg!(not(all(target_os = "linux", target_arch = "x86_64"))) {
        return; // The package under test is linux-x64.
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = crate::mcpb::small_binary(dir.path());
    let (launcher, linux) = pack(&dir.path().join("dist"), &binary);
    let prefix = dir.path().join("prefix");
    std::fs::create_dir(&prefix).unwrap();
    install(&prefix, &[&launcher, &linux]);

    let version = npx(&prefix, &["--version"]);
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("mcp-tether {}", env!("CARGO_PKG_VERSION"))
    );

    // A session through the launcher: stdio is the binary's own.
    let server = Everything::streamable().await;
    let launcher_bin = prefix.join("node_modules/.bin/mcp-tether");
    let mut bridge = Bridge::start_program(&launcher_bin, &[&server.url()], &[]);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "from npx" }))
        .await;
    assert!(tool_text(&echo).contains("from npx"), "{echo}");
    // The host's SIGTERM reaches the binary, which ends the session and exits 0.
    bridge.terminate();
    let (ok, took) = bridge.wait_exit().await;
    assert!(ok, "exit status passed through");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

/// Without the platform package (`--omit=optional`), the launcher says what
/// is missing and how to get it.
#[test]
fn a_missing_platform_package_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let binary = crate::mcpb::small_binary(dir.path());
    let (launcher, _) = pack(&dir.path().join("dist"), &binary);
    let prefix = dir.path().join("prefix");
    std::fs::create_dir(&prefix).unwrap();
    install(&prefix, &[&launcher]);
    let run = npx(&prefix, &["--version"]);
    assert!(!run.status.success());
    let text = String::from_utf8_lossy(&run.stderr);
    assert!(
        text.contains("no binary for") && text.contains("--omit=optional"),
        "{text}"
    );
}
