//! The command line: mcp-remote's arguments, validation, help.

use std::process::{Command, Output, Stdio};

use crate::common::Bridge;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-tether"));
    command
        .args(args)
        .env("HOME", home.path())
        .env("MCP_TETHER_CONFIG_DIR", home.path().join("cfg"))
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A URL nothing listens on: with stdin closed at once, nothing is sent.
const URL: &str = "http://127.0.0.1:9/mcp";

/// Runs the bridge in process with `args`, its configuration reading
/// `env`, and a host that quits at once: whether it exited cleanly, what
/// it wrote on stdout, and what it said on stderr.
async fn start_and_quit(args: &[&str], env: &[(&str, &str)]) -> (bool, Vec<String>, String) {
    let mut bridge = Bridge::in_process_with_env(args, env);
    bridge.close_stdin();
    let (clean, _) = bridge.wait_exit().await;
    (clean, bridge.rest_of_stdout().await, bridge.stderr())
}

/// Every mcp-remote argument is accepted: it does not make mcp-tether exit
/// with a usage error (`../shared/mcp-remote-compat.md`).
#[tokio::test]
async fn every_mcp_remote_argument_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let header_file = dir.path().join("headers");
    std::fs::write(&header_file, "X-From-File: 1\n").unwrap();
    let header_file = header_file.to_str().unwrap();
    let rows: &[&[&str]] = &[
        &["3334"],
        &["--header", "X-Api-Key: ${API_KEY}"],
        &["--header", "Authorization:Bearer ${API_KEY}"],
        &["--header-file", header_file],
        &["--transport", "http-first"],
        &["--transport", "sse-first"],
        &["--transport", "http-only"],
        &["--transport", "sse-only"],
        &["--protocol", "legacy"],
        &["--protocol", "auto"],
        &["--allow-http"],
        &["--host", "127.0.0.1"],
        &["--callback-path", "/cb"],
        &["--auth-success-url", "https://example.com/ok"],
        &["--auth-timeout", "60"],
        &["--static-oauth-client-metadata", r#"{"scope":"x"}"#],
        &["--static-oauth-client-info", r#"{"client_id":"abc"}"#],
        &["--client-metadata-url", "https://example.com/client.json"],
        &["--resource", "https://example.com/"],
        &["--disable-resource-parameter"],
        &[
            "--authorize-param",
            "prompt=consent",
            "--authorize-param",
            "a=b",
        ],
        &["--device-code"],
        &[
            "--client-credentials",
            "--static-oauth-client-info",
            r#"{"client_id":"a","client_secret":"b"}"#,
        ],
        &["--scope", "tools files:read"],
        &["--token-endpoint", "https://example.com/token"],
        &["--use-id-token"],
        &["--ignore-tool", "delete_*"],
        &["--keep-alive"],
        &["--ping-interval", "30"],
        &[
            "--connect-timeout",
            "5",
            "--headers-timeout",
            "60",
            "--body-timeout",
            "60",
        ],
        &["--ipv4"],
        &["--enable-proxy"],
        &["--disable-cookies"],
        &["--debug"],
        &["--silent"],
        &["-v"],
        &["-vv"],
    ];
    for row in rows {
        let mut args = vec![URL];
        args.extend_from_slice(row);
        let (clean, stdout, stderr) = start_and_quit(&args, &[("API_KEY", "k")]).await;
        assert!(clean, "{row:?} failed: {stderr}");
        assert!(stdout.is_empty(), "{row:?} wrote to stdout: {stdout:?}");
    }
}

/// Arguments with no effect yet say so on stderr, once, rather than being
/// silently ignored.
#[tokio::test]
async fn inactive_arguments_are_noted_on_stderr() {
    let (_, _, text) = start_and_quit(
        &[URL, "--keep-alive", "--enable-proxy", "--device-code"],
        &[],
    )
    .await;
    assert!(
        text.matches("--keep-alive/--ping-interval are accepted")
            .count()
            == 1,
        "said once: {text}"
    );
    assert!(text.contains("--enable-proxy is the default"), "{text}");
    assert!(!text.contains("--device-code"), "it works now: {text}");
}

/// H6: plain http to another host is refused with what to do about it.
#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let text = Bridge::refusal(&["http://example.com/mcp"], &[]);
    assert!(
        text.contains("refusing plain http://") && text.contains("--allow-http"),
        "{text}"
    );
}

/// A `${VAR}` that is not set is a clear error at start, not a header with
/// a literal `${VAR}` in it.
#[test]
fn a_missing_environment_variable_is_a_clear_error() {
    let text = Bridge::refusal(
        &[URL, "--header", "Authorization: Bearer ${NOT_SET_ANYWHERE}"],
        &[],
    );
    assert!(
        text.contains("NOT_SET_ANYWHERE") && text.contains("env"),
        "{text}"
    );
}

/// --help shows examples, including a Claude Desktop snippet, and touches
/// nothing.
#[test]
fn help_shows_examples() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("claude_desktop_config.json") && text.contains("--transport"),
        "{text}"
    );
}

/// --debug writes a log file in the config directory.
#[tokio::test]
async fn debug_writes_a_log_in_the_config_dir() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("cfg");
    let (clean, _, stderr) = start_and_quit(
        &[URL, "--debug"],
        &[("MCP_TETHER_CONFIG_DIR", cfg.to_str().unwrap())],
    )
    .await;
    assert!(clean, "{stderr}");
    let logs = cfg.join("logs");
    let files: Vec<_> = std::fs::read_dir(&logs)
        .expect("a logs directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("mcp-tether-debug-127.0.0.1-") && name.ends_with(".log"),
        "{name}"
    );
    let log = std::fs::read_to_string(&files[0]).expect("a debug log");
    assert!(log.contains("stopping"), "{log}");
    // Issue 16: it holds whole bodies, so only the user may read it, and
    // each line says which process wrote it.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&logs), 0o700);
    assert!(
        log.lines().all(|l| l.starts_with("[pid ")),
        "every line tagged: {log}"
    );
}

/// Issue 16: bridges for two servers sharing one config directory write two
/// logs; two processes for one server write one, each line tagged with its
/// process.
#[test]
fn debug_logs_of_two_bridges_are_kept_apart() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("cfg");
    let run = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
            .args([url, "--debug"])
            .env("MCP_TETHER_CONFIG_DIR", &cfg)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    run("https://one.example.com/mcp");
    run("https://one.example.com/mcp");
    run("https://two.example.com/mcp");
    let mut names: Vec<String> = std::fs::read_dir(cfg.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("one.example.com") && names[1].contains("two.example.com"));
    let one = std::fs::read_to_string(cfg.join("logs").join(&names[0])).unwrap();
    let pids: std::collections::BTreeSet<&str> =
        one.lines().filter_map(|l| l.split(']').next()).collect();
    assert_eq!(pids.len(), 2, "two processes: {one}");
}

/// Issue 6: completions for the common shells and a manual page, both
/// covering the bridge's options and the commands; `--help` has examples.
#[test]
fn completions_manual_and_help_cover_options_and_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["device-code", "header-command", "probe", "replay"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = run(&["man"], &[]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH mcp-tether 1"),
        "{page}"
    );
    assert!(page.contains("SUBCOMMANDS") && page.contains("probe"));
    assert!(page.contains("\\-\\-static\\-oauth\\-client\\-info"));
    let help = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Examples:") && help.contains("mcp-tether probe"),
        "{help}"
    );
}

/// Issue 27: `--help` (and `-h`, and `help`) lists every command, one line
/// each; `help COMMAND` shows that command's help, as cargo and git do;
/// `help` is never taken for a URL.
#[test]
fn help_lists_every_command_and_help_is_a_command() {
    let commands = [
        "login",
        "logout",
        "probe",
        "import-mcp-remote",
        "completions",
        "man",
        "replay",
        "watch",
        "status",
        "help",
    ];
    for asked in [&["--help"][..], &["-h"], &["help"], &[URL, "--help"]] {
        let out = run(asked, &[]);
        assert!(out.status.success(), "{asked:?}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let listed: Vec<&str> = text
            .lines()
            .skip_while(|line| *line != "Commands:")
            .skip(1)
            .take_while(|line| !line.is_empty())
            .collect();
        for name in commands {
            assert!(
                listed
                    .iter()
                    .any(|line| line.trim_start().starts_with(&format!("{name} "))),
                "{asked:?} does not list {name}:\n{text}"
            );
        }
        for line in &listed {
            assert!(line.chars().count() <= 100, "not one short line: {line}");
        }
    }
    for name in ["login", "watch", "replay", "import-mcp-remote"] {
        let out = run(&["help", name], &[]);
        assert!(out.status.success(), "help {name}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Usage: mcp-tether {name}")),
            "{text}"
        );
    }
    let out = run(&["help", "nosuch"], &[]);
    assert!(!out.status.success());
    assert!(
        !stderr(&out).contains("not a valid URL"),
        "{}",
        stderr(&out)
    );
}

/// Issue 27: a bridge that cannot start answers the host's requests with
/// why, then exits, so the host shows the bridge's own sentence instead of
/// "Connection closed": a URL that is not one, an argument it does not
/// know, a log file it cannot open. (Claude Code is checked in `hosts`.)
#[test]
fn a_start_up_error_is_the_answer_to_the_first_request() {
    use std::io::{BufRead as _, Write as _};
    let cases: &[(&[&str], &str)] = &[
        (&["htps://host/mcp"], "is not an http:// or https:// URL"),
        (
            &[URL, "--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
        (
            &[URL, "--log-file", "/no/such/dir/bridge.log"],
            "cannot open the log file",
        ),
    ];
    for (args, said) in cases {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-tether"))
            .args(*args)
            .env("MCP_TETHER_CONFIG_DIR", home.path().join("cfg"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "{}",
            crate::common::initialize_request(7, "2025-06-18")
        )
        .unwrap();
        let mut answer = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut answer)
            .unwrap();
        // The host gives up on the error: the bridge exits with it.
        drop(stdin);
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON-RPC answer");
        assert_eq!(answer["id"], 7, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(said), "{args:?}: {message}");
        assert!(!child.wait().unwrap().success(), "{args:?} exited 0");
    }
}
