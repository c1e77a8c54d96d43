//! Where the bench's accounts come from. The contract has no sign-up
//! endpoint, so users are made by the server's own tooling: a shell command
//! template (`confab user create {username} --developer --password-stdin`),
//! a file of pre-made `username:password` lines, or, in tests, a closure.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{bail, Context};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct Account {
    pub username: String,
    pub password: String,
}

/// Creates one developer account (username, password).
pub type CreateUser = Arc<dyn Fn(String, String) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

#[derive(Clone)]
pub enum Provisioner {
    /// A shell command run once per user; `{username}` is replaced and the
    /// password is written to its standard input.
    Command(String),
    /// Pre-made accounts, one `username:password` per line.
    File(PathBuf),
    /// An in-process function, e.g. the server's own account code in tests.
    Callback(CreateUser),
}

/// Account creation hashes a password (argon2 on Confab), which takes tens of
/// milliseconds of CPU: a few at a time keep the server's cores from saturating.
const CREATE_CONCURRENCY: usize = 4;

impl Provisioner {
    /// `count` accounts named `{prefix}{n}`, created now, or the first
    /// `count` lines of the file (fewer if the file has fewer).
    pub async fn accounts(&self, prefix: &str, count: usize) -> anyhow::Result<Vec<Account>> {
        match self {
            Provisioner::File(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let accounts = parse_accounts(&text)?;
                if accounts.is_empty() {
                    bail!("{} holds no username:password line", path.display());
                }
                Ok(accounts.into_iter().take(count).collect())
            }
            Provisioner::Command(_) | Provisioner::Callback(_) => {
                // Derived from the name so a re-run with the same prefix can log in again;
                // the fixed part keeps it clear of "too similar to the username".
                let wanted: Vec<Account> = (0..count)
                    .map(|n| Account {
                        username: format!("{prefix}{n}"),
                        password: format!("Bench-pass-{n}-Q7w"),
                    })
                    .collect();
                futures::stream::iter(wanted.clone())
                    .map(|account| self.create(account))
                    .buffer_unordered(CREATE_CONCURRENCY)
                    .try_collect::<Vec<()>>()
                    .await?;
                Ok(wanted)
            }
        }
    }

    async fn create(&self, account: Account) -> anyhow::Result<()> {
        match self {
            Provisioner::Command(template) => run_create_command(template, &account).await,
            Provisioner::Callback(create) => create(account.username.clone(), account.password.clone())
                .await
                .with_context(|| format!("creating user {}", account.username)),
            Provisioner::File(_) => unreachable!("files are read, not created"),
        }
    }
}

async fn run_create_command(template: &str, account: &Account) -> anyhow::Result<()> {
    let command = template.replace("{username}", &account.username);
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // A command that exits without reading the password (e.g. "already
    // exists") may close the pipe first: its status and stderr decide.
    match stdin.write_all(format!("{}\n", account.password).as_bytes()).await {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    drop(stdin);
    let output = child.wait_with_output().await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A re-run with the same --user-prefix finds its users made: logging in will tell.
    if !output.status.success() && !stderr.contains("already exists") {
        bail!("{command:?} failed ({}): {}", output.status, stderr.trim());
    }
    Ok(())
}

/// `username:password` lines; blank lines and `#` comments are skipped.
/// The password is everything after the first colon.
pub fn parse_accounts(text: &str) -> anyhow::Result<Vec<Account>> {
    let mut accounts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((username, password)) = line.split_once(':') else {
            bail!("line {}: expected username:password", n + 1);
        };
        accounts.push(Account {
            username: username.trim().to_owned(),
            password: password.to_owned(),
        });
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_account_files() {
        let accounts = parse_accounts("# made by hand\nalice:pa:ss\n\nbob:secret\n").unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].username, "alice");
        assert_eq!(accounts[0].password, "pa:ss");
        assert!(parse_accounts("nocolon\n").is_err());
    }

    #[tokio::test]
    async fn command_template_gets_the_name_and_the_password_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("made");
        let template = format!("cat > {}/{{username}}", dir.path().display());
        let accounts = Provisioner::Command(template).accounts("u", 2).await.unwrap();
        assert_eq!(accounts.len(), 2);
        let written = std::fs::read_to_string(dir.path().join("u1")).unwrap();
        assert_eq!(written.trim(), accounts[1].password);
        assert!(!out.exists());
        let failing = Provisioner::Command("exit 3".into()).accounts("u", 1).await;
        assert!(failing.is_err());
        // An account made by an earlier run is reused (the password is derived from the name).
        let existing = "echo 'username: A user with that username already exists.' >&2; exit 1";
        assert!(Provisioner::Command(existing.into()).accounts("u", 1).await.is_ok());
    }
}
