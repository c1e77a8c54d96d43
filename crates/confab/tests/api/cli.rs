//! The admin CLI, run as the real binary against a temporary data directory.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::process::exit_within;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("CONFAB_DATA_DIR", self.dir.path().join("data"))
            .env("CONFAB_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }
}

#[test]
fn user_lifecycle() {
    let cli = Cli::new();
    assert!(cli.ok(&["migrate"], None).contains("up to date"));
    assert!(cli.dir.path().join("data/confab.db").exists());
    let out = cli.ok(
        &["user", "create", "alice", "--developer", "--password-stdin"],
        Some("s3cret-enough\n"),
    );
    assert!(out.contains("created user alice"), "{out}");
    cli.ok(&["user", "create", "bob", "--password-stdin"], Some("another-pass\n"));

    let list = cli.ok(&["user", "list"], None);
    let alice_line = list.lines().find(|l| l.contains("alice")).unwrap();
    assert!(alice_line.contains("developer"), "{list}");
    let bob_line = list.lines().find(|l| l.contains("bob")).unwrap();
    assert!(!bob_line.contains("developer"), "{list}");

    assert!(cli.ok(&["user", "grant", "bob", "developer"], None).contains("granted"));
    assert!(cli
        .ok(&["user", "grant", "bob", "developer"], None)
        .contains("already has"));
    assert!(cli
        .ok(&["user", "revoke", "bob", "developer"], None)
        .contains("revoked"));
    cli.ok(
        &["user", "set-password", "bob", "--password-stdin"],
        Some("brand-new-pass\n"),
    );
    let token = cli.ok(&["token", "alice"], None);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    cli.ok(&["user", "deactivate", "alice"], None);
    assert!(cli.fails(&["token", "alice"], None).contains("deactivated"));
    // The secret was generated once, private to its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.dir.path().join("data/jwt_secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn clear_errors_for_bad_input() {
    let cli = Cli::new();
    cli.ok(
        &["user", "create", "alice", "--password-stdin"],
        Some("s3cret-enough\n"),
    );
    let err = cli.fails(
        &["user", "create", "ALICE", "--password-stdin"],
        Some("s3cret-enough\n"),
    );
    assert!(err.contains("already exists"), "{err}");
    let err = cli.fails(&["user", "create", "carol", "--password-stdin"], Some("short\n"));
    assert!(err.contains("too short"), "{err}");
    let err = cli.fails(
        &["user", "create", "bad name!", "--password-stdin"],
        Some("s3cret-enough\n"),
    );
    assert!(err.contains("valid username"), "{err}");
    let err = cli.fails(&["user", "create", "dave"], None);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = cli.fails(&["user", "grant", "nobody", "developer"], None);
    assert!(err.contains("nobody"), "{err}");
    let err = cli.fails(&["token", "nobody"], None);
    assert!(err.contains("nobody"), "{err}");
    cli.fails(&["user", "grant", "alice", "superuser"], None);
}

#[test]
fn unknown_env_keys_are_warned_about() {
    let cli = Cli::new();
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("migrate")
        .current_dir(cli.dir.path())
        .env_clear()
        .env("CONFAB_DATA_DIR", cli.dir.path().join("data"))
        .env("CONFAB_DATABSE_URL", "typo")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONFAB_DATABSE_URL"), "{stderr}");
}

#[test]
fn bad_database_urls_are_errors_not_panics() {
    let cli = Cli::new();
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("migrate")
        .current_dir(cli.dir.path())
        .env_clear()
        .env("CONFAB_DATABASE_URL", "oracle://db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported database URL") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn unreachable_databases_are_errors_not_panics() {
    let cli = Cli::new();
    for url in [
        "postgres://postgres@127.0.0.1:1/confab",
        "mysql://root@127.0.0.1:1/confab",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_confab"))
            .arg("migrate")
            .current_dir(cli.dir.path())
            .env_clear()
            .env("CONFAB_DATABASE_URL", url)
            .env("CONFAB_DB_ACQUIRE_TIMEOUT", "2")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot connect") && !stderr.contains("panicked"),
            "{url}: {stderr}"
        );
    }
}

/// Runs the binary with `envs` in `cli`'s directory; kills it after 30 s.
fn run_with_env(cli: &Cli, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab"));
    command
        .args(args)
        .current_dir(cli.dir.path())
        .env_clear()
        .env("CONFAB_DATA_DIR", cli.dir.path().join("data"))
        .env("CONFAB_LOG", "error")
        .env("CONFAB_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    exit_within(&mut child, Duration::from_secs(30));
    child.wait_with_output().unwrap()
}

#[test]
fn start_up_mistakes_are_one_line_errors() {
    let cli = Cli::new();
    // (A configuration error exits with 2, any other start-up error with 1; a panic with 101.)
    let out = run_with_env(&cli, &["migrate"], &[("CONFAB_CORS_ORIGINS", "*")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cors_origins") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // A secret file that is not text (or not readable) is named, not recursed on.
    std::fs::create_dir_all(cli.dir.path().join("data")).unwrap();
    std::fs::write(cli.dir.path().join("data/jwt_secret"), [0xff_u8; 32]).unwrap();
    let out = run_with_env(&cli, &["migrate"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("jwt_secret") && stderr.contains("UTF-8"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    cli.ok(&["migrate"], None);
    let mode = |path: &str| {
        std::fs::metadata(cli.dir.path().join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("data"), 0o700);
    assert_eq!(mode("data/confab.db"), 0o600);
    assert_eq!(mode("data/jwt_secret"), 0o600);
}

#[test]
fn demo_refuses_a_database_with_real_users() {
    let cli = Cli::new();
    cli.ok(
        &["user", "create", "carol", "--password-stdin"],
        Some("s3cret-enough\n"),
    );
    let out = run_with_env(&cli, &["serve", "--demo"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--demo") && stderr.contains("other user"), "{stderr}");
}

/// SIGTERM stops the server within `shutdown_timeout` even when a request
/// never finishes (here a body that never arrives, under a request timeout
/// of an hour): a stuck client cannot keep a node from stopping.
#[cfg(unix)]
#[test]
fn a_stopped_server_exits_even_with_a_request_stuck_in_flight() {
    use std::io::{BufRead, BufReader};

    let cli = Cli::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .current_dir(cli.dir.path())
        .env_clear()
        .env("CONFAB_DATA_DIR", cli.dir.path().join("data"))
        .env("CONFAB_BIND", "127.0.0.1:0")
        .env("CONFAB_LOG", "info")
        .env("CONFAB_LOG_FORMAT", "json")
        .env("CONFAB_HTTP_REQUEST_TIMEOUT", "3600")
        .env("CONFAB_SHUTDOWN_TIMEOUT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = log
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
            entry["fields"]["addr"].as_str().map(str::to_owned)
        })
        .expect("the server says where it listens");

    // Headers promise 1,000 bytes of body; ten arrive.
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stuck,
        "POST /api/token/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"username\""
    )
    .unwrap();
    stuck.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // A liveness bound, far above the 1 s grace and the cleanup's 5 s.
    let exit = exit_within(&mut child, Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = log.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|line| line.contains("without waiting longer for requests in flight")),
        "{rest:#?}"
    );
    drop(stuck);
}
