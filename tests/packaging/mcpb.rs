//! The Claude Desktop extension bundle (issue 9): built by
//! packaging/mcpb/build, validated and packed by the official MCPB CLI,
//! unpacked, and run the way Claude Desktop runs it (the MCPB library's own
//! resolution of the manifest and the user's settings) against
//! server-everything.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::everything::Everything;
use crate::common::{Bridge, tool_text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mcpb_cli() -> PathBuf {
    let cli = root().join("packaging/node_modules/.bin/mcpb");
    assert!(
        cli.exists(),
        "the MCPB CLI is not installed; run scripts/install-test-deps first"
    );
    cli
}

/// The test build of the binary without its debug info (a bundle of the
/// 150 MB debug build would only be slow to pack).
pub fn small_binary(dir: &Path) -> PathBuf {
    let out = dir.join("mcp-tether");
    let stripped = Command::new("strip")
        .args([
            "-o",
            out.to_str().unwrap(),
            env!("CARGO_BIN_EXE_mcp-tether"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(env!("CARGO_BIN_EXE_mcp-tether"), &out).unwrap();
    }
    out
}

fn build(platform: &str, binary: &Path, out: &Path) -> std::process::Output {
    Command::new(root().join("packaging/mcpb/build"))
        .args([platform, binary.to_str().unwrap(), out.to_str().unwrap()])
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_bundle_installs_and_runs_as_claude_desktop_would() {
    let dir = tempfile::tempdir().unwrap();
    let binary = small_binary(dir.path());
    let bundle = dir.path().join("mcp-tether-linux-x64.mcpb");
    let built = build("linux", &binary, &bundle);
    assert!(
        built.status.success(),
        "{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );

    let unpacked = dir.path().join("unpacked");
    let status = Command::new(mcpb_cli())
        .args([
            "unpack",
            bundle.to_str().unwrap(),
            unpacked.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(status.status.success());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(unpacked.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["server"]["type"], "binary");
    assert_eq!(manifest["server"]["entry_point"], "server/mcp-tether");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["compatibility"]["platforms"], json!(["linux"]));
    assert_eq!(manifest["user_config"]["server_url"]["required"], true);
    assert_eq!(manifest["user_config"]["header"]["sensitive"], true);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(unpacked.join("server/mcp-tether"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the binary stays executable");

    let server = Everything::streamable().await;
    for settings in [
        json!({ "server_url": server.url() }),
        json!({ "server_url": server.url(), "header": "X-Team: tether" }),
    ] {
        let resolved = Command::new("node")
            .arg(root().join("packaging/mcpb/resolve.mjs"))
            .arg(&unpacked)
            .arg(settings.to_string())
            .output()
            .unwrap();
        assert!(
            resolved.status.success(),
            "{}",
            String::from_utf8_lossy(&resolved.stderr)
        );
        let config: Value = serde_json::from_slice(&resolved.stdout).unwrap();
        let args: Vec<&str> = config["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(!args.iter().any(|a| a.contains("${")), "{args:?}");
        let program = PathBuf::from(config["command"].as_str().unwrap());
        assert!(program.starts_with(&unpacked));
        let mut bridge = Bridge::start_program(&program, &args, &[]);
        bridge.initialize("2025-06-18").await;
        let echo = bridge
            .call_tool(1, "echo", json!({ "message": "bundled" }))
            .await;
        assert!(tool_text(&echo).contains("bundled"), "{echo}");
    }

    // A missing server URL is refused by the same resolution.
    let missing = Command::new("node")
        .arg(root().join("packaging/mcpb/resolve.mjs"))
        .arg(&unpacked)
        .arg("{}")
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

/// The bundles for the other platforms are written and validated here too
/// (their binaries can only be built on those platforms).
#[test]
fn every_platforms_manifest_validates() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("stand-in");
    std::fs::write(&binary, b"not a real binary").unwrap();
    for platform in ["darwin", "win32"] {
        let out = dir.path().join(format!("{platform}.mcpb"));
        let built = build(platform, &binary, &out);
        assert!(
            built.status.success(),
            "{platform}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
    }
    let unknown = build("beos", &binary, &dir.path().join("x.mcpb"));
    assert!(!unknown.status.success());
}
