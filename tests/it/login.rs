//! The pieces of a browser login: opening the page without a shell (H1) and
//! the localhost callback (G10, G11, G20).

use std::time::Duration;

use mcp_tether::auth::browser;
use mcp_tether::auth::loopback::{Callback, CallbackError, Expect};
use mcp_tether::secret::Secret;

/// H1 (CVE-2025-6514): even a URL full of shell syntax, were it to get past
/// validation, reaches the opener as one argument, byte for byte, and
/// nothing in it runs.
#[tokio::test]
async fn the_login_url_is_never_seen_by_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let opener = dir.path().join("fake-browser");
    std::fs::write(
        &opener,
        // Written aside and renamed: the test reads it only when whole.
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" > {d}/argv.part && mv {d}/argv.part {d}/argv\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hostile = format!(
        "https://as.example/authorize?a=$(touch${{IFS}}{d}/pwned1)&b=`touch${{IFS}}{d}/pwned2`;touch${{IFS}}{d}/pwned3|x"
    );
    // validate() would refuse this URL (the first wall); skip it to prove
    // the second: the opener gets the URL as one argument, without a shell.
    assert!(browser::validate(&hostile).is_err());
    let url = url::Url::parse(&hostile).unwrap();
    browser::open_with(opener.to_str().unwrap(), &url).unwrap();
    let argv = dir.path().join("argv");
    // Up to 20 s for the opener to run on a busy machine; no longer than it
    // takes when it is not.
    for _ in 0..1000 {
        if argv.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = std::fs::read_to_string(&argv).expect("the opener ran");
    assert_eq!(written, format!("1\n{}\n", url.as_str()));
    for n in 1..=3 {
        assert!(
            !dir.path().join(format!("pwned{n}")).exists(),
            "pwned{n} was created"
        );
    }
}

fn expect(state: &str) -> Expect {
    Expect {
        state: Secret::new(state.into()),
        issuer: None,
        require_iss: false,
        success_url: None,
        start: None,
    }
}

async fn get(url: &str) -> (u16, String, Option<String>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (
        response.status().as_u16(),
        response.text().await.unwrap(),
        location,
    )
}

/// G20, G10: the listener is up before anything is opened; stray requests
/// and a redirect with the wrong state are answered and ignored; the real
/// redirect ends the wait with its code and a page saying to close the tab.
#[tokio::test]
async fn the_callback_takes_only_our_redirect() {
    let callback = Callback::bind("localhost", 0, "/callback").await.unwrap();
    let base = callback.redirect_uri().clone();
    assert!(base.as_str().starts_with("http://localhost:"));
    let waiting = tokio::spawn(async move {
        callback
            .wait(&expect("s-42"), Duration::from_secs(10))
            .await
    });

    let (status, _, _) = get(base.join("/favicon.ico").unwrap().as_str()).await;
    assert_eq!(status, 404);
    let (status, page, _) = get(&format!("{base}?code=stolen&state=guess")).await;
    assert_eq!(status, 400);
    assert!(page.contains("not the one mcp-tether is waiting for"));
    let (status, page, _) = get(&format!("{base}?code=the-code&state=s-42")).await;
    assert_eq!(status, 200);
    assert!(page.contains("You can close this tab"), "{page}");
    assert_eq!(waiting.await.unwrap().unwrap().expose(), "the-code");
}

/// --auth-success-url: the browser is sent on there after the login.
#[tokio::test]
async fn the_browser_can_be_sent_on_after_login() {
    let callback = Callback::bind("127.0.0.1", 0, "cb").await.unwrap();
    let base = callback.redirect_uri().clone();
    let mut expected = expect("s");
    expected.success_url = Some(url::Url::parse("https://example.com/done").unwrap());
    let waiting =
        tokio::spawn(async move { callback.wait(&expected, Duration::from_secs(10)).await });
    let (status, _, location) = get(&format!("{base}?code=c&state=s")).await;
    assert_eq!(
        (status, location.as_deref()),
        (302, Some("https://example.com/done"))
    );
    assert!(waiting.await.unwrap().is_ok());
}

/// A refused login ends the wait with the server's reason.
#[tokio::test]
async fn a_refused_login_says_why() {
    let callback = Callback::bind("localhost", 0, "/cb").await.unwrap();
    let base = callback.redirect_uri().clone();
    let waiting =
        tokio::spawn(async move { callback.wait(&expect("s"), Duration::from_secs(10)).await });
    get(&format!(
        "{base}?error=access_denied&error_description=User%20said%20no&state=s"
    ))
    .await;
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("access_denied (User said no)"),
        "{err}"
    );
}

/// G20: the wait is bounded, and the message says what to do next.
#[tokio::test]
async fn an_abandoned_login_times_out_with_advice() {
    let callback = Callback::bind("localhost", 0, "/cb").await.unwrap();
    let err = callback
        .wait(&expect("s"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, CallbackError::TimedOut(_)));
    let text = err.to_string();
    assert!(
        text.contains("mcp-tether login") && text.contains("--auth-timeout"),
        "{text}"
    );
}

/// A callback port that is taken is reported at once, before any browser
/// opens (mcp-remote #235 et al.: instances fighting over the port).
#[tokio::test]
async fn a_taken_callback_port_is_reported_at_once() {
    let first = Callback::bind("localhost", 0, "/cb").await.unwrap();
    let port = first.redirect_uri().port().unwrap();
    let err = Callback::bind("localhost", port, "/cb")
        .await
        .err()
        .expect("the port is taken");
    assert!(matches!(err, CallbackError::Bind { .. }));
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

/// Issue 17: a flood of idle local connections cannot stall a sign-in:
/// connections are served concurrently, each with a short deadline, so the
/// browser's redirect is taken at once among 130 idle ones.
#[tokio::test]
async fn idle_connections_do_not_delay_the_browsers_redirect() {
    let callback = Callback::bind("localhost", 0, "/cb").await.unwrap();
    let base = callback.redirect_uri().clone();
    let port = base.port().unwrap();
    let waiting = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let code = callback.wait(&expect("s"), Duration::from_secs(30)).await;
        (code, started.elapsed())
    });
    let mut idle = Vec::new();
    for _ in 0..130 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = tokio::time::Instant::now();
    let (status, _, _) = get(&format!("{base}?code=the-code&state=s")).await;
    assert_eq!(status, 200);
    let (code, _) = waiting.await.unwrap();
    assert_eq!(code.unwrap().expose(), "the-code");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "the redirect waited {:?}",
        sent.elapsed()
    );
    drop(idle);
}

/// Issue 17: the redirect URI says `localhost`, which a browser may resolve
/// to `::1`; the listener holds the port there too, so no other local
/// process can take `[::1]` on it and receive the code; and a port whose
/// `[::1]` another program holds is reported, not half-bound.
#[tokio::test]
async fn the_callback_port_is_held_on_both_loopbacks() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("this machine has no IPv6 loopback; nothing to hold there");
        return;
    };
    drop(probe);
    let callback = Callback::bind("localhost", 0, "/cb").await.unwrap();
    let port = callback.redirect_uri().port().unwrap();
    let taken = std::net::TcpListener::bind(("::1", port));
    assert!(taken.is_err(), "another process could bind [::1]:{port}");

    let squatter = std::net::TcpListener::bind("[::1]:0").unwrap();
    let squatted = squatter.local_addr().unwrap().port();
    let err = Callback::bind("localhost", squatted, "/cb")
        .await
        .err()
        .expect("[::1] on that port is taken");
    assert!(matches!(err, CallbackError::Bind { .. }), "{err}");
}

/// A local process that floods the callback port: `slow` keeps opening
/// idle connections (up to 1000 held, a new one every millisecond, the
/// oldest let go); `sustained` holds 300 and reopens each the moment the
/// listener closes it. Writes `PATH` once the flood is on.
const FLOODER: &str = r#"
import resource, socket, sys, time, select
port, mode, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return None
    return s
held = []
start = time.time()
while time.time() - start < 60:
    if mode == "slow":
        s = connect()
        if s is not None:
            held.append(s)
        if len(held) > 1000:
            held.pop(0).close()
        if len(held) == 300:
            open(ready, "w").close()
        time.sleep(0.001)
    else:
        while len(held) < 300:
            s = connect()
            if s is None:
                break
            held.append(s)
        open(ready, "w").close()
        readable, _, _ = select.select(held, [], [], 0.01)
        for s in readable:
            try:
                gone = s.recv(1) == b""
            except OSError:
                gone = True
            if gone:
                held.remove(s)
                s.close()
"#;

/// Issue 26: a flood from another local process cannot take the sign-in
/// away. Under a slow flood of 1000 idle connections and under 300
/// connections reopened as fast as they are closed, every real redirect
/// (ten under each) is taken, at once. The latencies are printed.
#[tokio::test]
async fn a_flood_of_local_connections_cannot_reset_the_redirect() {
    for mode in ["slow", "sustained"] {
        let mut latencies = Vec::new();
        for n in 0..10 {
            let callback = Callback::bind("localhost", 0, "/cb").await.unwrap();
            let base = callback.redirect_uri().clone();
            let port = base.port().unwrap();
            let state = format!("s{n}");
            let wanted = expect(&state);
            let waiting =
                tokio::spawn(async move { callback.wait(&wanted, Duration::from_secs(20)).await });
            let dir = tempfile::tempdir().unwrap();
            let ready = dir.path().join("ready");
            let mut flooder = tokio::process::Command::new("python3")
                .args([
                    "-c",
                    FLOODER,
                    &port.to_string(),
                    mode,
                    ready.to_str().unwrap(),
                ])
                .kill_on_drop(true)
                .spawn()
                .expect("python3 runs");
            while !ready.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let sent = tokio::time::Instant::now();
            let (status, _, _) = get(&format!("{base}?code=c{n}&state={state}")).await;
            let took = sent.elapsed();
            assert_eq!(status, 200, "{mode} flood, redirect {n}");
            let code = waiting.await.unwrap().expect("the sign-in completes");
            assert_eq!(code.expose(), &format!("c{n}"));
            latencies.push(took);
            let _ = flooder.kill().await;
        }
        latencies.sort();
        eprintln!(
            "{mode} flood: 10 of 10 redirects taken; latency p50 {:?}, max {:?}",
            latencies[5], latencies[9]
        );
        assert!(latencies[9] < Duration::from_secs(1), "{latencies:?}");
    }
}
