//! The OS credential store (issue 4): with a Secret Service on the session
//! bus, registrations and tokens live there and never on disk; without one,
//! files; `--credential-store` chooses.

use serde_json::json;

use crate::commands::mcp_tether;
use crate::common::fastmcp::{FastMcp, LoginEnv};
use crate::common::secret_service::SecretService;
use crate::common::{Bridge, tool_text};

/// H4, G18: signed in through the browser with a Secret Service present
/// (`auto`), the tokens and the registration are in it and not on disk; a
/// second bridge signs in from it without a browser; status says where they
/// are; logout deletes them from it.
#[tokio::test]
async fn with_a_credential_store_secrets_never_touch_the_disk() {
    let keyring = SecretService::start();
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("DBUS_SESSION_BUS_ADDRESS", &keyring.address));
    env.push(("MCP_TETHER_CREDENTIAL_STORE", "auto"));

    let mut bridge = Bridge::start_with_env(&[&server.url()], &env);
    bridge.initialize("2025-06-18").await;
    let echo = bridge
        .call_tool(1, "echo", json!({ "message": "kept" }))
        .await;
    assert_eq!(tool_text(&echo), "kept");
    assert_eq!(login.logins().len(), 1);

    let on_disk = crate::common::file_names(&login.config);
    assert!(
        on_disk.contains(&"server.json".to_owned()),
        "the directory still says which server it is: {on_disk:?}"
    );
    assert!(
        !on_disk
            .iter()
            .any(|n| n.contains("tokens") || n.contains("client")),
        "no secret record on disk: {on_disk:?}"
    );
    let server_dir = std::fs::read_dir(login.config.join("servers"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name();
    let key = server_dir.to_string_lossy();
    let tokens = keyring
        .lookup(&format!("{key}/tokens.json"))
        .expect("the tokens are in the Secret Service");
    assert!(tokens.contains("access_token"), "{tokens}");
    assert!(keyring.lookup(&format!("{key}/client.json")).is_some());

    let mut second = Bridge::start_with_env(&[&server.url()], &env);
    second.initialize("2025-06-18").await;
    assert_eq!(
        login.logins().len(),
        1,
        "the second bridge found the tokens"
    );

    let status = mcp_tether(&["status"], &env).await;
    assert!(
        status.stdout.contains("stored in: keychain"),
        "{}",
        status.stdout
    );
    let logout = mcp_tether(&["logout", &server.url()], &env).await;
    assert!(logout.ok, "{}", logout.stderr);
    assert!(keyring.lookup(&format!("{key}/tokens.json")).is_none());
    assert!(keyring.lookup(&format!("{key}/client.json")).is_none());
}

/// Without a credential store, `auto` keeps owner-only files, and an
/// explicit `--credential-store keychain` fails with what to do.
#[tokio::test]
async fn without_a_credential_store_auto_uses_files_and_keychain_says_why_not() {
    let server = FastMcp::start(3600).await;
    let login = LoginEnv::new();
    let mut env = login.vars().to_vec();
    env.push(("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"));

    let forced = mcp_tether(
        &["login", &server.url(), "--credential-store", "keychain"],
        &env,
    )
    .await;
    assert!(!forced.ok);
    assert!(
        forced.stderr.contains("OS credential store")
            && forced.stderr.contains("--credential-store file"),
        "{}",
        forced.stderr
    );

    env.push(("MCP_TETHER_CREDENTIAL_STORE", "auto"));
    let auto = mcp_tether(&["login", &server.url()], &env).await;
    assert!(auto.ok, "{}", auto.stderr);
    assert!(crate::common::file_names(&login.config).contains(&"tokens.json".to_owned()));
    let status = mcp_tether(&["status", "--json"], &env).await;
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report[0]["stored_in"], "file", "{report}");
}
