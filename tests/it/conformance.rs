//! The official MCP client conformance suite (`@modelcontextprotocol/
//! conformance` 0.1.16, pinned), every client scenario, one at a time, with
//! tests/conformance/driver.py playing the host and the fake browser
//! logging in. A warning counts as a failure. Every scenario must pass
//! (tests/conformance/expected-failures.txt may list ones known to fail,
//! with the issue that will fix them; it is empty now).

/// Issues 4 and 10: the client conformance suite through mcp-tether, all 26.
#[test]
fn the_official_client_conformance_suite_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(format!("{root}/tests/conformance/run"))
        .env("MCP_TETHER_BIN", env!("CARGO_BIN_EXE_mcp-tether"))
        .output()
        .expect("the conformance runner starts");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "conformance failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("conformance: 26 passed, 0 failed"),
        "{report}"
    );
}
