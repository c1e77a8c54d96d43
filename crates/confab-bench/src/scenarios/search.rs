//! `search`: rooms seeded with K messages of random words, C concurrent
//! clients asking `GET /api/chat/search/` for two random words at once.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{as_user, drive, tally_line, Outcome, Tally, Worker};
use crate::bench::{Bench, User};
use crate::client::Api;
use crate::report::{Latency, Table};

/// Words messages are made of (and queries drawn from): common enough that
/// a two-word query matches a few hundredths of a percent of the messages.
const WORDS: &[&str] = &[
    "deploy",
    "staging",
    "release",
    "migration",
    "database",
    "review",
    "merge",
    "branch",
    "rollback",
    "latency",
    "cache",
    "index",
    "query",
    "socket",
    "token",
    "refresh",
    "cluster",
    "nginx",
    "redis",
    "postgres",
    "sqlite",
    "mariadb",
    "schema",
    "backup",
    "restore",
    "alert",
    "metric",
    "dashboard",
    "incident",
    "hotfix",
    "ticket",
    "sprint",
    "standup",
    "design",
    "mockup",
    "frontend",
    "backend",
    "android",
    "iphone",
    "browser",
    "timeout",
    "retry",
    "pipeline",
    "commit",
    "rebase",
    "conflict",
    "lint",
    "format",
    "compile",
    "benchmark",
    "profile",
    "memory",
    "thread",
    "async",
    "future",
    "stream",
    "channel",
    "buffer",
    "queue",
    "worker",
    "scheduler",
    "数据库",
    "迁移",
    "发布",
    "测试",
    "部署",
    "服务器",
    "缓存",
    "索引",
    "查询",
    "会议",
];

#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct SearchParams {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Seconds of searching before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Messages posted first, spread over the rooms.
    #[arg(long, default_value_t = 100_000)]
    pub seed: usize,
    /// Rooms, each with every user as a member.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Words per message.
    #[arg(long, default_value_t = 8)]
    pub words: usize,
    /// Results per page (`page_size`).
    #[arg(long, default_value_t = 20)]
    pub page_size: u32,
    /// Open loop: this many searches per second, all clients together
    /// [default: closed loop].
    #[arg(long)]
    pub rate: Option<f64>,
    /// A shell command run once seeding is done, before searching: say
    /// `psql -c ANALYZE`, as PostgreSQL's autovacuum would within a minute of
    /// a bulk load (its time is not counted as seeding).
    #[arg(long)]
    pub after_seed_cmd: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub clients: usize,
    pub seeded: usize,
    pub seconds_to_seed: f64,
    /// Searches answered 200 in the measured window.
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Mean matches (the page's `count`) per search.
    pub mean_matches: f64,
    pub latency: Latency,
    pub errors: Tally,
}

impl SearchReport {
    pub fn table(&self, params: &SearchParams) -> String {
        let mut t = Table::new(format!(
            "search: {} clients, two-word queries over {} messages in {} rooms, {} s",
            params.concurrency, self.seeded, params.rooms, params.duration
        ));
        t.row("seeding", format!("{:.0} s", self.seconds_to_seed))
            .row("searches", self.requests)
            .row("searches/s", format!("{:.1}", self.requests_per_sec))
            .row("mean matches", format!("{:.0}", self.mean_matches))
            .row("latency", self.latency.line())
            .row("errors", tally_line(&self.errors));
        t.render()
    }
}

/// A small deterministic generator, so runs search the same text.
struct Words(u64);

impl Words {
    fn next(&mut self) -> &'static str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        WORDS[(self.0 % WORDS.len() as u64) as usize]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words).map(|_| self.next()).collect::<Vec<_>>().join(" ")
    }
}

struct Searcher {
    api: Api,
    user: Arc<User>,
    words: Words,
    page_size: u32,
}

impl Worker for Searcher {
    async fn call(&mut self) -> Outcome {
        let query = format!("{} {}", self.words.next(), self.words.next());
        let (api, page_size) = (&self.api, self.page_size);
        match as_user(api, &self.user, |token| {
            let query = query.clone();
            async move { api.search(&token, &query, page_size).await }
        })
        .await
        {
            Ok(count) => Outcome::Ok(count),
            Err(outcome) => outcome,
        }
    }
}

pub async fn run(bench: &Bench, params: &SearchParams) -> anyhow::Result<SearchReport> {
    anyhow::ensure!(
        params.concurrency > 0 && params.rooms > 0,
        "concurrency and rooms must be positive"
    );
    let users = bench.users(bench.users.max(1)).await?;
    let rooms = bench.rooms(&users[0], params.rooms).await?;
    let members: Vec<(usize, i64)> = (0..users.len())
        .flat_map(|u| rooms.iter().map(move |r| (u, *r)))
        .collect();
    bench.join(&users, &members).await?;

    eprintln!("seeding {} rooms with {} messages", rooms.len(), params.seed);
    let started = std::time::Instant::now();
    futures::stream::iter(0..params.seed)
        .map(|n| {
            let user = &users[n % users.len()];
            let room = rooms[n % rooms.len()];
            let content = Words(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1)).sentence(params.words);
            async move {
                match bench.api.post_message(&user.token(), room, &content, None).await? {
                    (_, Some(_)) => anyhow::Ok(()),
                    (status, None) => anyhow::bail!("seeding post answered {status}"),
                }
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await?;
    let seconds_to_seed = started.elapsed().as_secs_f64();
    if let Some(command) = &params.after_seed_cmd {
        eprintln!("after seeding: {command}");
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
            .await?;
        anyhow::ensure!(status.success(), "--after-seed-cmd exited with {status}");
    }

    let workers = (0..params.concurrency)
        .map(|c| Searcher {
            api: bench.api.clone(),
            user: users[c % users.len()].clone(),
            words: Words(0x2545_F491_4F6C_DD1D ^ (c as u64 + 1)),
            page_size: params.page_size,
        })
        .collect();
    let driven = drive(bench, "search", workers, params.rate, params.warmup, params.duration).await?;
    Ok(SearchReport {
        clients: params.concurrency,
        seeded: params.seed,
        seconds_to_seed,
        requests: driven.ok,
        requests_per_sec: driven.ok as f64 / driven.secs,
        mean_matches: if driven.ok == 0 {
            0.0
        } else {
            driven.items as f64 / driven.ok as f64
        },
        latency: driven.latency,
        errors: driven.errors,
    })
}
