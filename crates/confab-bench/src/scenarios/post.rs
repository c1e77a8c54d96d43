//! `post`: C concurrent clients posting messages over REST.

use std::sync::Arc;

use serde::Serialize;

use super::{as_user, drive, tally_line, Outcome, Tally, Worker};
use crate::bench::{Bench, User};
use crate::client::Api;
use crate::report::{Latency, Table};
use crate::wire::encode_content;

#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct PostParams {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of posting before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Rooms the clients post to (round-robin).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Open loop: this many posts per second, all clients together
    /// [default: closed loop, each client posts as soon as the last answered].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Pad message content to this many bytes.
    #[arg(long, default_value_t = 0)]
    pub message_size: usize,
}

#[derive(Debug, Serialize)]
pub struct PostReport {
    pub clients: usize,
    pub users: usize,
    /// Posts answered 201 in the measured window.
    pub acked: u64,
    pub acked_per_sec: f64,
    pub latency: Latency,
    /// Failed posts by HTTP status (or `transport`).
    pub errors: Tally,
}

impl PostReport {
    pub fn table(&self, params: &PostParams) -> String {
        let mode = params
            .rate
            .map_or("closed loop".into(), |r| format!("open loop at {r} msg/s"));
        let mut t = Table::new(format!(
            "post: {} clients into {} room(s), {mode}, {} s",
            params.concurrency, params.rooms, params.duration
        ));
        t.row("clients / users", format!("{} / {}", self.clients, self.users))
            .row("acknowledged", self.acked)
            .row("acked msg/s", format!("{:.1}", self.acked_per_sec))
            .row("latency", self.latency.line())
            .row("errors", tally_line(&self.errors));
        t.render()
    }
}

struct Poster {
    api: Api,
    user: Arc<User>,
    room: i64,
    size: usize,
    epoch: tokio::time::Instant,
}

impl Worker for Poster {
    async fn call(&mut self) -> Outcome {
        let content = encode_content(self.epoch.elapsed().as_nanos() as u64, self.size);
        let (api, room, content) = (&self.api, self.room, content.as_str());
        match as_user(api, &self.user, |token| async move {
            api.post_message(&token, room, content, None).await
        })
        .await
        {
            Ok(_) => Outcome::Ok(1),
            Err(outcome) => outcome,
        }
    }
}

pub async fn run(bench: &Bench, params: &PostParams) -> anyhow::Result<PostReport> {
    anyhow::ensure!(
        params.concurrency > 0 && params.rooms > 0,
        "concurrency and rooms must be positive"
    );
    let users = bench.users(bench.users.min(params.concurrency)).await?;
    let rooms = bench.rooms(&users[0], params.rooms).await?;
    let client_specs: Vec<(usize, i64)> = (0..params.concurrency)
        .map(|c| (c % users.len(), rooms[c % rooms.len()]))
        .collect();
    bench.join(&users, &client_specs).await?;
    let workers = client_specs
        .iter()
        .map(|&(u, room)| Poster {
            api: bench.api.clone(),
            user: users[u].clone(),
            room,
            size: params.message_size,
            epoch: bench.epoch,
        })
        .collect();
    let driven = drive(bench, "post", workers, params.rate, params.warmup, params.duration).await?;
    Ok(PostReport {
        clients: params.concurrency,
        users: users.len(),
        acked: driven.ok,
        acked_per_sec: driven.ok as f64 / driven.secs,
        latency: driven.latency,
        errors: driven.errors,
    })
}
