//! `history`: a room seeded with K messages, C concurrent clients paging
//! back through it with `?before=` / `?limit=`.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{as_user, drive, tally_line, Outcome, Tally, Worker};
use crate::bench::{Bench, User};
use crate::client::Api;
use crate::report::{Latency, Table};
use crate::wire::encode_content;

#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct HistoryParams {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of paging before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Messages posted into the room first.
    #[arg(long, default_value_t = 2000)]
    pub seed: usize,
    /// Page size (`?limit=`; the contract caps it at 200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Open loop: this many requests per second, all clients together
    /// [default: closed loop].
    #[arg(long)]
    pub rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub clients: usize,
    pub users: usize,
    pub seeded: usize,
    /// Pages answered 200 in the measured window.
    pub requests: u64,
    pub requests_per_sec: f64,
    pub messages_per_sec: f64,
    pub latency: Latency,
    pub errors: Tally,
}

impl HistoryReport {
    pub fn table(&self, params: &HistoryParams) -> String {
        let mut t = Table::new(format!(
            "history: {} clients paging {} messages by {}, {} s",
            params.concurrency, self.seeded, params.limit, params.duration
        ));
        t.row("clients / users", format!("{} / {}", self.clients, self.users))
            .row("pages", self.requests)
            .row("requests/s", format!("{:.1}", self.requests_per_sec))
            .row("messages/s", format!("{:.0}", self.messages_per_sec))
            .row("latency", self.latency.line())
            .row("errors", tally_line(&self.errors));
        t.render()
    }
}

struct Pager {
    api: Api,
    user: Arc<User>,
    room: i64,
    limit: u32,
    /// `None`: the newest page next; then older and older until the start.
    before: Option<i64>,
}

impl Worker for Pager {
    async fn call(&mut self) -> Outcome {
        let (api, room, before, limit) = (&self.api, self.room, self.before, self.limit);
        match as_user(api, &self.user, |token| async move {
            api.history(&token, room, before, limit).await
        })
        .await
        {
            Ok(page) => {
                // Oldest first: the first id is where the next (older) page ends.
                self.before = match (page.next.is_some(), page.results.first()) {
                    (true, Some(oldest)) => Some(oldest.id),
                    _ => None,
                };
                Outcome::Ok(page.results.len() as u64)
            }
            Err(outcome) => outcome,
        }
    }
}

pub async fn run(bench: &Bench, params: &HistoryParams) -> anyhow::Result<HistoryReport> {
    anyhow::ensure!(params.concurrency > 0, "concurrency must be positive");
    let users = bench.users(bench.users.min(params.concurrency)).await?;
    let room = bench.rooms(&users[0], 1).await?[0];
    let members: Vec<(usize, i64)> = (0..users.len()).map(|u| (u, room)).collect();
    bench.join(&users, &members).await?;

    eprintln!("seeding room {room} with {} messages", params.seed);
    futures::stream::iter(0..params.seed)
        .map(|n| {
            let user = &users[n % users.len()];
            async move {
                let content = encode_content(n as u64, 0);
                match bench.api.post_message(&user.token(), room, &content, None).await? {
                    (_, Some(_)) => anyhow::Ok(()),
                    (status, None) => anyhow::bail!("seeding post answered {status}"),
                }
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    let workers = (0..params.concurrency)
        .map(|c| Pager {
            api: bench.api.clone(),
            user: users[c % users.len()].clone(),
            room,
            limit: params.limit,
            before: None,
        })
        .collect();
    let driven = drive(bench, "history", workers, params.rate, params.warmup, params.duration).await?;
    Ok(HistoryReport {
        clients: params.concurrency,
        users: users.len(),
        seeded: params.seed,
        requests: driven.ok,
        requests_per_sec: driven.ok as f64 / driven.secs,
        messages_per_sec: driven.items as f64 / driven.secs,
        latency: driven.latency,
        errors: driven.errors,
    })
}
