//! What every scenario shares: the server, where accounts come from, and the
//! set-up steps (users, rooms, memberships, sockets).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::accounts::{Account, Provisioner};
use crate::client::{connect_room, Api, ConnectError, Ws};
use crate::report::{Counters, Progress, SharedHistogram};

/// One scenario run's context.
pub struct Bench {
    pub api: Api,
    pub provisioner: Provisioner,
    /// Accounts to spread sockets and clients over (logging in is slow, so
    /// sockets outnumber accounts).
    pub users: usize,
    /// Names are `{user_prefix}{n}`; a fresh prefix per run means fresh accounts.
    pub user_prefix: String,
    /// Unique per run: in room names and every message's `client_id`.
    pub run_id: String,
    /// Local addresses sockets are bound to, round-robin; empty: the OS picks.
    pub source_ips: Vec<IpAddr>,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    /// Print a progress line to stderr about once a second.
    pub progress: bool,
    /// Intended send times and latencies are measured from here.
    pub epoch: Instant,
}

/// A logged-in account. The token is replaced when it expires mid-run.
pub struct User {
    pub account: Account,
    token: RwLock<String>,
}

impl User {
    pub fn token(&self) -> String {
        self.token.read().unwrap().clone()
    }

    /// Logs in again, after a 401 (access tokens last 5 minutes by default).
    pub async fn relogin(&self, api: &Api) -> anyhow::Result<()> {
        let token = api.login(&self.account.username, &self.account.password).await?;
        *self.token.write().unwrap() = token;
        Ok(())
    }
}

/// Logging in verifies an argon2 hash on the server: a few at a time.
const LOGIN_CONCURRENCY: usize = 4;
/// REST set-up calls (rooms, joins) are cheap.
const SETUP_CONCURRENCY: usize = 32;

impl Bench {
    pub fn new(api: Api, provisioner: Provisioner) -> Self {
        let run_id = default_run_id();
        Self {
            api,
            provisioner,
            users: 100,
            user_prefix: format!("bench{run_id}u"),
            run_id,
            source_ips: Vec::new(),
            connect_concurrency: 256,
            connect_timeout: Duration::from_secs(30),
            progress: true,
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Creates (or reads) `count` accounts and logs each in.
    pub async fn users(&self, count: usize) -> anyhow::Result<Vec<Arc<User>>> {
        let count = count.max(1);
        eprintln!("setting up {count} users ({}...)", self.user_prefix);
        let accounts = self.provisioner.accounts(&self.user_prefix, count).await?;
        let users: Vec<Arc<User>> = futures::stream::iter(accounts)
            .map(|account| async move {
                let token = self.api.login(&account.username, &account.password).await?;
                anyhow::Ok(Arc::new(User {
                    account,
                    token: RwLock::new(token),
                }))
            })
            .buffered(LOGIN_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(users)
    }

    /// `count` public rooms created by `owner`, named after the run.
    pub async fn rooms(&self, owner: &User, count: usize) -> anyhow::Result<Vec<i64>> {
        let token = owner.token();
        futures::stream::iter(0..count)
            .map(|r| {
                let token = &token;
                async move { self.api.create_room(token, &format!("bench-{}-{r}", self.run_id)).await }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Makes each `(user index, room)` pair a membership (join is idempotent).
    pub async fn join(&self, users: &[Arc<User>], pairs: &[(usize, i64)]) -> anyhow::Result<()> {
        let mut pairs = pairs.to_vec();
        pairs.sort_unstable();
        pairs.dedup();
        futures::stream::iter(pairs)
            .map(|(u, room)| async move { self.api.join(&users[u].token(), room).await })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Opens one socket per `(user index, room)`, `connect_concurrency` at a
    /// time. Results are in the order asked; per-connect latency goes to `latency`.
    pub async fn connect(
        &self,
        users: &[Arc<User>],
        sockets: &[(usize, i64)],
        latency: &Arc<SharedHistogram>,
    ) -> anyhow::Result<Vec<Result<Ws, ConnectError>>> {
        let server = self.api.resolve().await?;
        let source_ips = self.effective_source_ips(server.ip(), sockets.len());
        if source_ips.len() > 1 && self.source_ips.is_empty() {
            eprintln!(
                "spreading {} sockets over {} loopback source addresses",
                sockets.len(),
                source_ips.len()
            );
        }
        let counters = Arc::new(Counters::default());
        let _progress = self
            .progress
            .then(|| Progress::start("connect", ["attempted", "open", "", "failed"], counters.clone()));
        let results = futures::stream::iter(sockets.iter().enumerate())
            .map(|(i, &(u, room))| {
                let url = self.api.ws_url(room, &users[u].token());
                let source = (!source_ips.is_empty()).then(|| source_ips[i % source_ips.len()]);
                let counters = counters.clone();
                async move {
                    Counters::add(&counters.sent, 1);
                    let started = Instant::now();
                    let result = connect_room(server, &url, source, self.connect_timeout).await;
                    match &result {
                        Ok(_) => {
                            latency.record_batch(i, &[started.elapsed().as_micros() as u64]);
                            Counters::add(&counters.acked, 1);
                        }
                        Err(_) => Counters::add(&counters.errors, 1),
                    }
                    result
                }
            })
            .buffered(self.connect_concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let open = counters.acked.load(Ordering::Relaxed);
        eprintln!("{open} of {} sockets open", sockets.len());
        Ok(results)
    }

    /// The configured source addresses; without any, a loopback server and
    /// more sockets than one address's ephemeral ports comfortably hold
    /// (about 28,000, less whatever is in TIME_WAIT) get 127.0.0.1-127.0.0.16.
    fn effective_source_ips(&self, server: IpAddr, sockets: usize) -> Vec<IpAddr> {
        if !self.source_ips.is_empty() {
            return self.source_ips.clone();
        }
        match server {
            IpAddr::V4(v4) if v4.is_loopback() && sockets > 8_000 => {
                (1..=16).map(|n| IpAddr::from([127, 0, 0, n])).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Opens sockets and fails on the first refusal, with a count by kind:
/// the throughput scenarios need every socket.
pub async fn connect_all(
    bench: &Bench,
    users: &[Arc<User>],
    sockets: &[(usize, i64)],
    latency: &Arc<SharedHistogram>,
) -> anyhow::Result<Vec<Ws>> {
    let results = bench.connect(users, sockets, latency).await?;
    let mut open = Vec::with_capacity(results.len());
    let mut first_error = None;
    let mut failed = 0;
    for result in results {
        match result {
            Ok(ws) => open.push(ws),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e).map_err(|e| anyhow::anyhow!("{e}")).context(format!(
            "{failed} of {} sockets failed to open; the first",
            sockets.len()
        ));
    }
    Ok(open)
}

/// A short id unique enough per run: milliseconds since 1970 in base 36.
fn default_run_id() -> String {
    let mut n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}
