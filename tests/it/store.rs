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
