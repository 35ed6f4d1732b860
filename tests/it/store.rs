//! The credentials store survives a process killed in the middle of writing
//! (issue 4, H4): a desktop app that quits, a laptop lid, an OOM kill.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mcp_tether::auth::grant::Tokens;
use mcp_tether::secret::Secret;
use mcp_tether::store::credentials::Credentials;

/// Set for the child process: the directory the writer writes into.
const WRITER_DIR: &str = "MCP_TETHER_TEST_WRITER_DIR";
const ISSUER: &str = "https://as.example";

fn store(dir: &Path) -> Credentials {
    let url = url::Url::parse("https://mcp.example/mcp").unwrap();
    Credentials::for_server(dir, &url, None)
}

/// Tokens of generation `n`, large enough that a write takes a while.
fn tokens(n: u64) -> Tokens {
    Tokens {
        access_token: Secret::new(format!("access-{n}-{}", "a".repeat(64 * 1024))),
        refresh_token: Some(Secret::new(format!("refresh-{n}"))),
        id_token: None,
        expires_at: Some(n),
        lifetime: None,
        scope: Some("tools".into()),
        dpop: false,
    }
}

/// Not a test by itself: the writer that [`killed_while_writing_tokens`]
/// starts in a child process and kills. Does nothing without its variable.
#[test]
fn token_writer_child() {
    let Ok(dir) = std::env::var(WRITER_DIR) else {
        return;
    };
    let store = store(Path::new(&dir));
    for n in 1.. {
        store.save_tokens(ISSUER, &tokens(n)).unwrap();
    }
}

/// H4: kill -9 at varied moments while tokens are being rewritten, until
/// several kills have landed in the middle of a write (a temporary file is
/// left behind): the store always reads back a whole, earlier write (never
/// a torn one, never nothing), and writing goes on afterwards.
#[test]
fn killed_while_writing_tokens() {
    let root = tempfile::tempdir().unwrap();
    let store = store(root.path());
    store.save_tokens(ISSUER, &tokens(0)).unwrap();
    let leftovers = || {
        std::fs::read_dir(store.dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    let mut last = 0;
    for round in 0..60u64 {
        if round >= 10 && leftovers().len() >= 3 {
            break;
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["store::token_writer_child", "--exact", "--nocapture"])
            .env(WRITER_DIR, root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + 37 * (round % 7)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let (issuer, read) = store.tokens::<Tokens>(None).expect("the store is readable");
        assert_eq!(issuer, ISSUER);
        let n = read.expires_at.unwrap();
        assert_eq!(read.access_token.expose(), tokens(n).access_token.expose());
        assert_eq!(
            read.refresh_token.unwrap().expose(),
            &format!("refresh-{n}")
        );
        last = last.max(n);
    }
    assert!(last > 0, "the writer never got a write done");
    assert!(!leftovers().is_empty(), "no kill landed in a write");

    // Leftover temporary files of killed writers are swept once abandoned.
    let old = std::time::SystemTime::now() - Duration::from_secs(600);
    for path in leftovers() {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    store.save_tokens(ISSUER, &tokens(1_000_000)).unwrap();
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    assert_eq!(
        store.tokens::<Tokens>(None).unwrap().1.expires_at,
        Some(1_000_000)
    );
}

/// Issue 25: a user with no home directory at all (a uid with no entry in
/// the password database, as containers often run) still signs in, but
/// nothing is written where the host started the bridge: the credentials
/// live in a directory of the process's own, removed when it exits. Runs
/// as an unnamed uid, so it needs root, which CI has.
#[tokio::test]
async fn without_a_home_credentials_never_land_in_the_working_directory() {
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    if unsafe { libc_geteuid() } != 0 {
        panic!("this test runs the bridge as another uid, which needs root");
    }
    let server = crate::common::fastmcp::FastMcp::start(3600).await;
    let login = crate::common::fastmcp::LoginEnv::new();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::set_permissions(cwd.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (browser, log) = login
        .vars()
        .into_iter()
        .fold((None, None), |(b, l), (k, v)| match k {
            "BROWSER" => (Some(v.to_owned()), l),
            "FAKE_BROWSER_LOG" => (b, Some(v.to_owned())),
            _ => (b, l),
        });
    // The fake browser, run as that uid too, writes its log here.
    let log_dir = Path::new(log.as_deref().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    std::fs::set_permissions(&log_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut child = tokio::process::Command::new(crate::common::tether_program())
        .arg(server.url())
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BROWSER", browser.unwrap())
        .env("FAKE_BROWSER_LOG", log.unwrap())
        .uid(54321)
        .gid(54321)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "homeless"}}});
    let lines = format!(
        "{}\n{}\n{call}\n",
        crate::common::initialize_request(1, "2025-06-18"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    );
    stdin.write_all(lines.as_bytes()).await.unwrap();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("an answer")
            .unwrap()
            .expect("a line");
        answers.push(line);
    }
    assert!(answers[1].contains("homeless"), "{answers:?}");
    let own = std::env::temp_dir().join(format!("mcp-tether-run-{pid}"));
    assert!(
        own.join("servers").is_dir(),
        "{} holds the sign-in",
        own.display()
    );
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("kept for this run only"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "written in the working directory: {left:?}"
    );
    assert!(!own.exists(), "{} is removed at exit", own.display());
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
