//! `fanout`: R rooms x M sockets online, S senders posting at a target rate
//! (over the socket or REST); every delivery is timed and checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::ensure;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::{merge, tally_line, Tally};
use crate::bench::{connect_all, Bench, User};
use crate::checker::{self, SocketLog, Verdict};
use crate::client::Ws;
use crate::rate::{self, Schedule};
use crate::report::{Counters, Latency, Progress, SharedHistogram, Table};
use crate::wire::{decode_content, encode_content, Frame};

#[derive(Clone, Copy, Debug, Serialize, clap::ValueEnum, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `{"type":"chat_message"}` frames on the sender's own room socket.
    Ws,
    /// `POST /api/chat/rooms/{id}/messages/`.
    Rest,
}

#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct FanoutParams {
    /// Rooms.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Sockets online per room (senders' sockets included).
    #[arg(long, default_value_t = 20)]
    pub members: usize,
    /// Senders, spread round-robin over the rooms [default: one per room].
    #[arg(long)]
    pub senders: Option<usize>,
    /// Messages per second offered, all senders together.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Measured seconds of sending (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring; its messages are still checked.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Most seconds to wait after the last send for deliveries to arrive; the
    /// wait ends earlier once no delivery has arrived for a second, so a
    /// server running behind is measured as late, not as lossy.
    #[arg(long, default_value_t = 30.0)]
    pub drain: f64,
    /// How senders post.
    #[arg(long, value_enum, default_value_t = Via::Ws)]
    pub via: Via,
    /// Pad message content to this many bytes.
    #[arg(long, default_value_t = 0)]
    pub message_size: usize,
    /// REST only: most posts in flight per sender (open loop needs several).
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
}

#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub sockets: usize,
    pub users: usize,
    pub senders: usize,
    /// Messages sent / acknowledged over the whole run (warm-up included).
    pub sent: u64,
    pub acked: u64,
    pub offered_rate: f64,
    /// Acknowledged messages per second intended in the measured window.
    pub acked_per_sec: f64,
    /// Deliveries per second of messages intended in the measured window.
    pub deliveries_per_sec: f64,
    /// From the intended send time to each socket's receipt.
    pub delivery_latency: Latency,
    /// From the intended send time to the sender's acknowledgement (echo or 201).
    pub ack_latency: Latency,
    pub verdict: Verdict,
    /// Deliveries whose `message.room` was not the socket's room.
    pub misrouted: u64,
    /// `error` frames by code (WS), or failed posts by status (REST).
    pub errors: Tally,
    /// Sockets the server closed during the run, by close code.
    pub closed: Tally,
    /// Senders that finished their schedule more than 100 ms late.
    pub late_senders: usize,
}

impl FanoutReport {
    pub fn table(&self, params: &FanoutParams) -> String {
        let mut t = Table::new(format!(
            "fanout: {} rooms x {} members, {} senders via {:?} at {} msg/s for {} s",
            params.rooms, params.members, self.senders, params.via, params.rate, params.duration
        ));
        t.row("sockets / users", format!("{} / {}", self.sockets, self.users))
            .row("sent / acked", format!("{} / {}", self.sent, self.acked))
            .row(
                "acked msg/s",
                format!("{:.1} (offered {:.1})", self.acked_per_sec, self.offered_rate),
            )
            .row("deliveries/s", format!("{:.0}", self.deliveries_per_sec))
            .row("delivery latency", self.delivery_latency.line())
            .row("ack latency", self.ack_latency.line())
            .row(
                "expected / delivered",
                format!("{} / {}", self.verdict.expected, self.verdict.delivered),
            )
            .row(
                "lost / dup / out-of-order",
                format!(
                    "{} / {} / {}{}",
                    self.verdict.lost,
                    self.verdict.duplicated,
                    self.verdict.out_of_order,
                    if self.verdict.clean() { "  OK" } else { "  FAILED" }
                ),
            )
            .row("unacknowledged deliveries", self.verdict.unacknowledged)
            .row("misrouted", self.misrouted)
            .row("errors", tally_line(&self.errors))
            .row("closed by server", tally_line(&self.closed))
            .row("late senders", self.late_senders);
        t.render()
    }
}

/// Read by every receiver; written once before sending starts.
struct Shared {
    epoch: tokio::time::Instant,
    /// `b{run}-`: every `client_id` of this run starts with it.
    tag: String,
    /// Latency is recorded for messages intended at or after this time.
    measure_from_ns: u64,
    measure_to_ns: u64,
    latency: Arc<SharedHistogram>,
    ack_latency: Arc<SharedHistogram>,
    counters: Arc<Counters>,
}

/// What one socket's receiver saw.
struct Received {
    log: SocketLog,
    /// Ids of this socket's own messages (its sender's acknowledgements, WS only).
    acks: Vec<i64>,
    acked_in_window: u64,
    delivered_in_window: u64,
    errors: Tally,
    closed: Option<u16>,
    misrouted: u64,
}

const BATCH: usize = 64;

pub async fn run(bench: &Bench, params: &FanoutParams) -> anyhow::Result<FanoutReport> {
    let (rooms_n, members) = (params.rooms, params.members);
    let senders = params.senders.unwrap_or(rooms_n);
    ensure!(
        rooms_n > 0 && members > 0 && senders > 0,
        "rooms, members and senders must be positive"
    );
    ensure!(
        params.rate > 0.0 && params.duration > 0.0,
        "rate and duration must be positive"
    );
    ensure!(
        params.via == Via::Rest || senders <= rooms_n * members,
        "WS senders use room sockets: at most rooms x members senders"
    );
    if senders < rooms_n {
        eprintln!("note: {senders} senders for {rooms_n} rooms: some rooms get no messages");
    }

    let sockets_n = rooms_n * members;
    let users = bench.users(bench.users.min(sockets_n)).await?;
    let rooms = bench.rooms(&users[0], rooms_n).await?;
    // Socket (room r, member j) belongs to user (r * M + j) % U.
    let socket_specs: Vec<(usize, i64)> = (0..sockets_n).map(|s| (s % users.len(), rooms[s / members])).collect();
    bench.join(&users, &socket_specs).await?;
    let connect_latency = SharedHistogram::new(1);
    let sockets = connect_all(bench, &users, &socket_specs, &connect_latency).await?;
    eprintln!("{} sockets in {} rooms connected; sending", sockets.len(), rooms_n);

    // Sender k posts to room k % R as member k / R of that room.
    let sender_socket = |k: usize| (k % rooms_n) * members + k / rooms_n % members;

    let start = bench.epoch.elapsed() + Duration::from_millis(200);
    let warmup = Duration::from_secs_f64(params.warmup.max(0.0));
    let measured = Duration::from_secs_f64(params.duration);
    let schedules = rate::split(params.rate, senders, start, warmup + measured);
    let shards = 4 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let shared = Arc::new(Shared {
        epoch: bench.epoch,
        tag: format!("b{}-", bench.run_id),
        measure_from_ns: (start + warmup).as_nanos() as u64,
        measure_to_ns: (start + warmup + measured).as_nanos() as u64,
        latency: SharedHistogram::new(shards),
        ack_latency: SharedHistogram::new(shards),
        counters: Arc::new(Counters::default()),
    });
    let _progress = bench.progress.then(|| {
        Progress::start(
            "fanout",
            ["sent", "acked", "delivered", "errors"],
            shared.counters.clone(),
        )
    });

    // Receivers first, so nothing is missed; WS senders get the write halves.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sinks: HashMap<usize, SplitSink<Ws, Message>> = HashMap::new();
    let mut receivers = Vec::with_capacity(sockets.len());
    let own_sender: HashMap<usize, usize> = (0..senders).map(|k| (sender_socket(k), k)).collect();
    for (i, ws) in sockets.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        let own_prefix = own_sender.get(&i).filter(|_| params.via == Via::Ws).map(|k| {
            sinks.insert(i, sink);
            format!("{}{k}-", shared.tag)
        });
        let room = socket_specs[i].1;
        receivers.push(tokio::spawn(receive(
            i,
            room,
            stream,
            own_prefix,
            shared.clone(),
            stop_rx.clone(),
        )));
    }

    let rest_acks: Arc<Mutex<HashMap<i64, Vec<i64>>>> = Arc::default();
    let rest_errors: Arc<Mutex<Tally>> = Arc::default();
    let mut sender_tasks = JoinSet::new();
    for (k, schedule) in schedules.into_iter().enumerate() {
        let socket = sender_socket(k);
        let room = socket_specs[socket].1;
        let client_prefix = format!("{}{k}-", shared.tag);
        let size = params.message_size;
        match params.via {
            Via::Ws => {
                let sink = sinks.remove(&socket).expect("one sink per sender socket");
                sender_tasks.spawn(send_ws(sink, schedule, client_prefix, size, shared.clone()));
            }
            Via::Rest => {
                let user = users[socket_specs[socket].0].clone();
                let work = RestSender {
                    bench_api: bench.api.clone(),
                    user,
                    room,
                    schedule,
                    client_prefix,
                    size,
                    max_in_flight: params.max_in_flight.max(1),
                    shared: shared.clone(),
                    acks: rest_acks.clone(),
                    errors: rest_errors.clone(),
                };
                sender_tasks.spawn(work.run());
            }
        }
    }
    let end = start + warmup + measured;
    let mut late_senders = 0;
    while let Some(finished) = sender_tasks.join_next().await {
        if finished? > end + Duration::from_millis(100) {
            late_senders += 1;
        }
    }
    drain_until_quiet(
        &shared.counters.delivered,
        Duration::from_secs_f64(params.drain.max(0.0)),
    )
    .await;
    stop_tx.send_replace(true);

    let mut logs = Vec::with_capacity(receivers.len());
    let mut acked: HashMap<i64, Vec<i64>> = rooms.iter().map(|&r| (r, Vec::new())).collect();
    let (mut errors, mut closed, mut misrouted) = (Tally::new(), Tally::new(), 0);
    let (mut acked_in_window, mut delivered_in_window) = (0, 0);
    for receiver in receivers {
        let r = receiver.await?;
        acked.get_mut(&r.log.room).expect("known room").extend(r.acks);
        acked_in_window += r.acked_in_window;
        delivered_in_window += r.delivered_in_window;
        merge(&mut errors, r.errors);
        if let Some(code) = r.closed {
            *closed.entry(code.to_string()).or_default() += 1;
        }
        misrouted += r.misrouted;
        logs.push(r.log);
    }
    if params.via == Via::Rest {
        let rest = std::mem::take(&mut *rest_acks.lock().unwrap());
        for (room, ids) in rest {
            acked.get_mut(&room).expect("known room").extend(ids);
        }
        acked_in_window = shared.ack_latency.merged().len();
        merge(&mut errors, std::mem::take(&mut *rest_errors.lock().unwrap()));
    }
    let verdict = checker::check(&acked, &logs);
    let secs = measured.as_secs_f64();
    let counters = &shared.counters;
    Ok(FanoutReport {
        sockets: logs.len(),
        users: users.len(),
        senders,
        sent: counters.sent.load(std::sync::atomic::Ordering::Relaxed),
        acked: acked.values().map(|ids| ids.len() as u64).sum(),
        offered_rate: params.rate,
        acked_per_sec: acked_in_window as f64 / secs,
        deliveries_per_sec: delivered_in_window as f64 / secs,
        delivery_latency: Latency::from_histogram(&shared.latency.merged()),
        ack_latency: Latency::from_histogram(&shared.ack_latency.merged()),
        verdict,
        misrouted,
        errors,
        closed,
        late_senders,
    })
}

/// Waits until deliveries stop arriving (none for [`QUIET`]) or `most` has passed.
async fn drain_until_quiet(delivered: &std::sync::atomic::AtomicU64, most: Duration) {
    const QUIET: Duration = Duration::from_secs(1);
    const TICK: Duration = Duration::from_millis(100);
    let deadline = tokio::time::Instant::now() + most;
    let mut last = delivered.load(std::sync::atomic::Ordering::Relaxed);
    let mut quiet_since = tokio::time::Instant::now();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(TICK).await;
        let now = delivered.load(std::sync::atomic::Ordering::Relaxed);
        if now != last {
            last = now;
            quiet_since = tokio::time::Instant::now();
        } else if quiet_since.elapsed() >= QUIET {
            return;
        }
    }
}

/// One socket's receive loop, until told to stop or the server closes it.
async fn receive(
    index: usize,
    room: i64,
    mut stream: SplitStream<Ws>,
    own_prefix: Option<String>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Received {
    let mut out = Received {
        log: SocketLog::new(room),
        acks: Vec::new(),
        acked_in_window: 0,
        delivered_in_window: 0,
        errors: Tally::new(),
        closed: None,
        misrouted: 0,
    };
    let mut latencies = Vec::with_capacity(BATCH);
    let mut ack_latencies = Vec::new();
    let window = shared.measure_from_ns..shared.measure_to_ns;
    let (mut unreported, mut reported_at_ns) = (0u64, 0u64);
    loop {
        let message = tokio::select! {
            biased;
            _ = stop.changed() => break,
            message = stream.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                out.closed = Some(frame.map_or(1005, |f| u16::from(f.code)));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                out.closed = Some(1006);
                break;
            }
        };
        let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
            *out.errors.entry("unparsable frame".into()).or_default() += 1;
            continue;
        };
        match &*frame.kind {
            "chat_message" => {
                let Some(message) = frame.message else { continue };
                let Some(client_id) = message.client_id.as_deref() else {
                    continue;
                };
                if !client_id.starts_with(&shared.tag) {
                    continue; // someone else's traffic
                }
                let now_ns = shared.epoch.elapsed().as_nanos() as u64;
                if message.room != room {
                    out.misrouted += 1;
                    continue;
                }
                out.log.record(message.id);
                // The progress counter is shared by every socket: add to it now and then.
                unreported += 1;
                if unreported >= BATCH as u64 || now_ns - reported_at_ns > 250_000_000 {
                    Counters::add(&shared.counters.delivered, unreported);
                    (unreported, reported_at_ns) = (0, now_ns);
                }
                let intended = decode_content(&message.content);
                if let Some(intended) = intended.filter(|t| window.contains(t)) {
                    out.delivered_in_window += 1;
                    latencies.push(now_ns.saturating_sub(intended) / 1000);
                    if latencies.len() == BATCH {
                        shared.latency.record_batch(index, &latencies);
                        latencies.clear();
                    }
                }
                if own_prefix.as_deref().is_some_and(|p| client_id.starts_with(p)) {
                    out.acks.push(message.id);
                    Counters::add(&shared.counters.acked, 1);
                    if let Some(intended) = intended.filter(|t| window.contains(t)) {
                        out.acked_in_window += 1;
                        ack_latencies.push(now_ns.saturating_sub(intended) / 1000);
                    }
                }
            }
            "error" => {
                let code = frame.code.as_deref().unwrap_or("unknown").to_owned();
                *out.errors.entry(code).or_default() += 1;
                Counters::add(&shared.counters.errors, 1);
            }
            _ => {}
        }
    }
    shared.latency.record_batch(index, &latencies);
    Counters::add(&shared.counters.delivered, unreported);
    shared.ack_latency.record_batch(index, &ack_latencies);
    out
}

/// Sends one sender's schedule over its socket; returns when the last send
/// went out (as an offset from the epoch).
async fn send_ws(
    mut sink: SplitSink<Ws, Message>,
    schedule: Schedule,
    client_prefix: String,
    size: usize,
    shared: Arc<Shared>,
) -> Duration {
    let mut n = 0;
    while let Some(at) = schedule.intended(n) {
        rate::wait_until(shared.epoch, at).await;
        let content = encode_content(at.as_nanos() as u64, size);
        // client_id and content are plain ASCII: no JSON escaping needed.
        let frame = format!(r#"{{"type":"chat_message","content":"{content}","client_id":"{client_prefix}{n}"}}"#);
        if sink.send(Message::text(frame)).await.is_err() {
            Counters::add(&shared.counters.errors, 1);
            break;
        }
        Counters::add(&shared.counters.sent, 1);
        n += 1;
    }
    // Dropping the write half does not close the socket: the receiver goes on.
    shared.epoch.elapsed()
}

struct RestSender {
    bench_api: crate::client::Api,
    user: Arc<User>,
    room: i64,
    schedule: Schedule,
    client_prefix: String,
    size: usize,
    max_in_flight: usize,
    shared: Arc<Shared>,
    acks: Arc<Mutex<HashMap<i64, Vec<i64>>>>,
    errors: Arc<Mutex<Tally>>,
}

impl RestSender {
    /// Open loop: each post is its own task, started at its intended time;
    /// `max_in_flight` bounds them so a stalled server cannot pile up tasks.
    async fn run(self) -> Duration {
        let permits = Arc::new(Semaphore::new(self.max_in_flight));
        let mut posts = JoinSet::new();
        let mut n = 0;
        while let Some(at) = self.schedule.intended(n) {
            rate::wait_until(self.shared.epoch, at).await;
            let permit = permits.clone().acquire_owned().await.expect("never closed");
            let api = self.bench_api.clone();
            let user = self.user.clone();
            let room = self.room;
            let content = encode_content(at.as_nanos() as u64, self.size);
            let client_id = format!("{}{n}", self.client_prefix);
            let shared = self.shared.clone();
            let acks = self.acks.clone();
            let errors = self.errors.clone();
            posts.spawn(async move {
                let _permit = permit;
                Counters::add(&shared.counters.sent, 1);
                let result = api.post_message(&user.token(), room, &content, Some(&client_id)).await;
                let now_ns = shared.epoch.elapsed().as_nanos() as u64;
                let key = match result {
                    Ok((_, Some(id))) => {
                        acks.lock().unwrap().entry(room).or_default().push(id);
                        Counters::add(&shared.counters.acked, 1);
                        let intended = at.as_nanos() as u64;
                        if (shared.measure_from_ns..shared.measure_to_ns).contains(&intended) {
                            shared
                                .ack_latency
                                .record_batch(n as usize, &[(now_ns - intended) / 1000]);
                        }
                        return;
                    }
                    Ok((status, None)) => status.as_u16().to_string(),
                    Err(e) if e.to_string().contains("timed out") => "timeout".into(),
                    Err(_) => "transport".into(),
                };
                Counters::add(&shared.counters.errors, 1);
                *errors.lock().unwrap().entry(key).or_default() += 1;
            });
            n += 1;
            // Reap finished posts so the set does not grow with the run.
            while posts.try_join_next().is_some() {}
        }
        let done = self.shared.epoch.elapsed();
        while posts.join_next().await.is_some() {}
        done
    }
}
