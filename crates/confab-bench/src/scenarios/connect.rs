//! `connect`: open N authenticated room sockets, hold them, and report the
//! connect rate, failures and the server's resident memory per socket.

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{tally_line, Tally};
use crate::bench::Bench;
use crate::report::{Latency, SharedHistogram, Table};
use crate::sys::rss_kib;

#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct ConnectParams {
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Rooms the sockets are spread over.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Which user and room socket n gets (U users, R rooms).
    #[arg(long, value_enum, default_value_t = Layout::RoundRobin)]
    pub layout: Layout,
    /// Seconds to hold the sockets open after the last one connected.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// The server's process id, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seconds to let the server settle before each memory reading.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

/// How sockets are laid out over users and rooms.
#[derive(Clone, Copy, Debug, Serialize, clap::ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// User n % U, room n % R: when R divides U, each user has all its
    /// sockets in one room (100 users over 100 rooms: one user per room).
    RoundRobin,
    /// Room n % R, user (n / R) % U: consecutive users fill every room, so
    /// with N = R x U each user has one socket in each room.
    Grid,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::RoundRobin => "round-robin",
            Layout::Grid => "grid",
        }
    }
}

/// The `(user index, room)` of each socket.
pub fn socket_specs(layout: Layout, sockets: usize, users: usize, rooms: &[i64]) -> Vec<(usize, i64)> {
    let (u, r) = (users.max(1), rooms.len());
    (0..sockets)
        .map(|s| match layout {
            Layout::RoundRobin => (s % u, rooms[s % r]),
            Layout::Grid => (s / r % u, rooms[s % r]),
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct ConnectReport {
    pub requested: usize,
    pub users: usize,
    pub opened: usize,
    /// Failures by kind (`tcp: ...`, `closed 4001`, `timeout`...).
    pub failures: Tally,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    /// From the TCP connect to `connection_established`, per socket.
    pub connect_latency: Latency,
    /// Sockets the server closed (or that broke) while held, by close code.
    pub closed_while_held: Tally,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    pub rss_per_socket_kib: Option<f64>,
    /// The bench's own resident memory with every socket open.
    pub bench_rss_kib: Option<u64>,
}

impl ConnectReport {
    pub fn table(&self, params: &ConnectParams) -> String {
        let mut t = Table::new(format!(
            "connect: {} sockets over {} rooms, {} layout",
            params.sockets,
            params.rooms,
            params.layout.name()
        ));
        let kib = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} KiB"));
        t.row("users", self.users)
            .row("opened / requested", format!("{} / {}", self.opened, self.requested))
            .row("failures", tally_line(&self.failures))
            .row(
                "connect rate",
                format!("{:.0} sockets/s ({:.2} s)", self.connects_per_sec, self.connect_secs),
            )
            .row("connect latency", self.connect_latency.line())
            .row("closed while held", tally_line(&self.closed_while_held))
            .row(
                "server RSS before / after",
                format!("{} / {}", kib(self.rss_before_kib), kib(self.rss_after_kib)),
            )
            .row(
                "server RSS per socket",
                self.rss_per_socket_kib.map_or("-".into(), |v| format!("{v:.1} KiB")),
            )
            .row("bench RSS", kib(self.bench_rss_kib));
        t.render()
    }
}

pub async fn run(bench: &Bench, params: &ConnectParams) -> anyhow::Result<ConnectReport> {
    anyhow::ensure!(
        params.sockets > 0 && params.rooms > 0,
        "sockets and rooms must be positive"
    );
    let users = bench.users(bench.users.min(params.sockets)).await?;
    let rooms = bench.rooms(&users[0], params.rooms).await?;
    let specs = socket_specs(params.layout, params.sockets, users.len(), &rooms);
    bench.join(&users, &specs).await?;

    let settle = Duration::from_secs_f64(params.settle.max(0.0));
    let rss_before = match params.server_pid {
        Some(pid) => {
            tokio::time::sleep(settle).await;
            Some(rss_kib(pid)?)
        }
        None => None,
    };

    let latency = SharedHistogram::new(16);
    let started = Instant::now();
    let results = bench.connect(&users, &specs, &latency).await?;
    let connect_secs = started.elapsed().as_secs_f64();

    // Each held socket is read, so the server's pings are answered and closes seen.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut failures = Tally::new();
    let mut holders = Vec::new();
    for result in results {
        match result {
            Ok(mut ws) => {
                let mut stop = stop_rx.clone();
                holders.push(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = stop.changed() => return None,
                            message = ws.next() => match message {
                                Some(Ok(Message::Close(frame))) => {
                                    return Some(frame.map_or(1005, |f| u16::from(f.code)));
                                }
                                Some(Ok(_)) => continue,
                                Some(Err(_)) | None => return Some(1006),
                            },
                        }
                    }
                }));
            }
            Err(e) => *failures.entry(e.kind()).or_default() += 1,
        }
    }
    let opened = holders.len();

    let hold_started = Instant::now();
    let rss_after = match params.server_pid {
        Some(pid) => {
            tokio::time::sleep(settle).await;
            Some(rss_kib(pid)?)
        }
        None => None,
    };
    let bench_rss_kib = rss_kib(std::process::id()).ok();
    let hold = Duration::from_secs_f64(params.hold.max(0.0));
    tokio::time::sleep(hold.saturating_sub(hold_started.elapsed())).await;
    stop_tx.send_replace(true);
    let mut closed_while_held = Tally::new();
    for holder in holders {
        if let Some(code) = holder.await? {
            *closed_while_held.entry(code.to_string()).or_default() += 1;
        }
    }

    let rss_per_socket_kib = match (rss_before, rss_after) {
        (Some(before), Some(after)) if opened > 0 => Some((after as f64 - before as f64) / opened as f64),
        _ => None,
    };
    Ok(ConnectReport {
        requested: params.sockets,
        users: users.len(),
        opened,
        failures,
        connect_secs,
        connects_per_sec: opened as f64 / connect_secs.max(1e-9),
        connect_latency: Latency::from_histogram(&latency.merged()),
        closed_while_held,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_socket_kib,
        bench_rss_kib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// Users per room and rooms per user of a layout.
    fn shape(specs: &[(usize, i64)]) -> (HashMap<i64, HashSet<usize>>, HashMap<usize, HashSet<i64>>) {
        let (mut by_room, mut by_user) = (HashMap::<_, HashSet<_>>::new(), HashMap::<_, HashSet<_>>::new());
        for &(u, r) in specs {
            by_room.entry(r).or_default().insert(u);
            by_user.entry(u).or_default().insert(r);
        }
        (by_room, by_user)
    }

    #[test]
    fn grid_puts_every_user_in_every_room() {
        let rooms: Vec<i64> = (1000..1100).collect();
        let specs = socket_specs(Layout::Grid, 10_000, 100, &rooms);
        let (by_room, by_user) = shape(&specs);
        assert_eq!(by_room.len(), 100);
        assert!(by_room.values().all(|users| users.len() == 100));
        assert!(by_user.values().all(|rooms| rooms.len() == 100));
        // One socket per (user, room).
        assert_eq!(specs.iter().collect::<HashSet<_>>().len(), 10_000);
    }

    #[test]
    fn round_robin_with_as_many_users_as_rooms_gives_each_room_one_user() {
        let rooms: Vec<i64> = (1000..1100).collect();
        let specs = socket_specs(Layout::RoundRobin, 10_000, 100, &rooms);
        let (by_room, by_user) = shape(&specs);
        assert!(by_room.values().all(|users| users.len() == 1));
        assert!(by_user.values().all(|rooms| rooms.len() == 1));
        // The suite's connect-10000: each room has 10 users, each user's 100 sockets in one room.
        let specs = socket_specs(Layout::RoundRobin, 10_000, 100, &rooms[..10]);
        let (by_room, _) = shape(&specs);
        assert!(by_room.values().all(|users| users.len() == 10));
    }
}
