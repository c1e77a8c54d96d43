//! The hub alone: Confab's own [`Hub`] fanning chat messages out to local
//! subscribers, with no database, no auth and no sockets, so the cost of each
//! layer shows next to the full-server numbers of `confab-bench`.
//!
//! It subscribes `rooms * members` sockets (one user each), spawns one task per
//! subscriber draining its queue as a socket writer would (without the write),
//! and publishes open-loop at `--rate` messages per second, round-robin over
//! the rooms. Each message goes the server's way:
//! `Frame::encode(&ServerEvent::ChatMessage { .. }, Some(room), Some(seq))` once, then
//! `hub.publish`. By default the Prometheus recorder is installed as in the
//! server, so every delivery also counts `ws_frames_out_total`.
//!
//! Latency of each delivery is measured two ways: from the message's intended
//! publish time (open loop: includes the publisher's lateness) and from the
//! frame's `encoded_at` (what the server's fan-out latency measures). Every
//! subscriber must get every message of its room exactly once, in order.
//!
//! `--rate 0` publishes as fast as the subscribers can take it: the publisher
//! keeps at most half a queue ahead of the slowest subscriber of each room, so
//! nobody is cut off and the rate shows the hub's ceiling.
//!
//! ```sh
//! cargo run --release -p confab --example hub_fanout -- --rooms 1 --members 1000 --rate 400 --duration 5
//! cargo run --release -p confab --example hub_fanout -- --rooms 100 --members 50 --rate 1000
//! cargo run --release -p confab --example hub_fanout -- --rate 0 --json /tmp/hub.json
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use confab::chat::events::ServerEvent;
use confab::chat::types::{Message, UserRef};
use confab::realtime::frame::Frame;
use confab::realtime::hub::{CloseReason, Hub, Subscription};
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Fan chat messages out through Confab's Hub alone (no database, auth or sockets)")]
struct Args {
    /// Rooms to publish to, round-robin.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Subscribers per room, each a different user.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Messages per second over all rooms; 0 = as fast as the subscribers keep up.
    #[arg(long, default_value_t = 400.0)]
    rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Each subscriber's queue capacity, in frames (the server's `ws_queue_capacity`).
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Content length of each message, in characters.
    #[arg(long, default_value_t = 100)]
    content: usize,
    /// Leave out the Prometheus recorder the server installs.
    #[arg(long)]
    no_metrics: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Latencies in nanoseconds, one shard per worker thread (merged at the end).
struct Latencies {
    from_intended: Histogram<u64>,
    from_encode: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        let h = || Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid bounds");
        Self {
            from_intended: h(),
            from_encode: h(),
        }
    }
}

static SHARDS: Mutex<Vec<Arc<Mutex<Latencies>>>> = Mutex::new(Vec::new());

thread_local! {
    static SHARD: Arc<Mutex<Latencies>> = {
        let shard = Arc::new(Mutex::new(Latencies::new()));
        SHARDS.lock().unwrap().push(shard.clone());
        shard
    };
}

/// What the receiving side needs to know about the schedule.
struct Schedule {
    start: Instant,
    /// Seconds between two messages; `None` when publishing as fast as possible.
    interval: Option<f64>,
}

impl Schedule {
    /// When message number `index` (0-based, over all rooms) should be published.
    fn intended(&self, index: u64) -> Option<Instant> {
        self.interval
            .map(|interval| self.start + Duration::from_secs_f64(index as f64 * interval))
    }
}

/// One subscriber's account of what it received.
#[derive(Default)]
struct Tally {
    received: u64,
    distinct: u64,
    dup: u64,
    ooo: u64,
    cut_off: bool,
}

/// Drains one subscriber's queue like a socket writer, without the write,
/// until the end marker (a `pong` frame) or until the hub cuts it off.
async fn drain(mut sub: Subscription, schedule: Arc<Schedule>, progress: Arc<AtomicU64>) -> Tally {
    let mut tally = Tally::default();
    // Bit per room sequence number seen (seq starts at 1).
    let mut seen: Vec<u64> = Vec::new();
    let mut highest = 0i64;
    while let Some(frame) = sub.rx.recv().await {
        let now = Instant::now();
        match frame.kind {
            "chat_message" => {}
            "pong" => break,
            _ => continue, // user_joined and the like
        }
        let (Some(seq), Some(id)) = (frame.seq, frame.message_id) else {
            continue;
        };
        tally.received += 1;
        let (word, bit) = ((seq as usize) / 64, seq % 64);
        if seen.len() <= word {
            seen.resize(word + 1, 0);
        }
        if seen[word] & (1 << bit) != 0 {
            tally.dup += 1;
        } else {
            seen[word] |= 1 << bit;
            tally.distinct += 1;
            if seq < highest {
                tally.ooo += 1;
            }
        }
        highest = highest.max(seq);
        progress.store(highest as u64, Ordering::Release);
        let from_encode = now.saturating_duration_since(frame.encoded_at).as_nanos() as u64;
        let from_intended = schedule
            .intended(id as u64 - 1)
            .map_or(from_encode, |t| now.saturating_duration_since(t).as_nanos() as u64);
        // The shard of the thread running this task now.
        SHARD.with(|shard| {
            let mut lat = shard.lock().unwrap();
            lat.from_encode.saturating_record(from_encode.max(1));
            lat.from_intended.saturating_record(from_intended.max(1));
        });
    }
    tally.cut_off = sub.close_reason() == Some(CloseReason::SlowConsumer);
    tally
}

fn user(id: i64) -> UserRef {
    UserRef {
        id,
        username: format!("user{id:06}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.rooms >= 1 && args.members >= 1,
        "--rooms and --members must be at least 1"
    );
    anyhow::ensure!(
        args.rate >= 0.0 && args.duration > 0.0,
        "--rate must be >= 0 and --duration > 0"
    );
    if !args.no_metrics {
        // The server's recorder, installed the server's way.
        let _ = confab::telemetry::metrics_handle();
    }
    let hub = Hub::new(args.queue);
    let rooms: Vec<i64> = (1..=args.rooms as i64).collect();
    // Subscribe everyone, keeping the queues from filling with `user_joined`.
    let setup = Instant::now();
    let mut subs: Vec<Vec<Subscription>> = Vec::with_capacity(args.rooms);
    let drain_every = (args.queue / 2).max(1);
    for (r, &room) in rooms.iter().enumerate() {
        let mut members = Vec::with_capacity(args.members);
        for m in 0..args.members {
            members.push(hub.subscribe(room, user((r * args.members + m) as i64 + 1)));
            if (m + 1) % drain_every == 0 {
                members.iter_mut().for_each(|s| while s.rx.try_recv().is_ok() {});
            }
        }
        members.iter_mut().for_each(|s| while s.rx.try_recv().is_ok() {});
        subs.push(members);
    }
    let subscribed = setup.elapsed();

    // Now that setup is over, the schedule starts.
    let schedule = Arc::new(Schedule {
        start: Instant::now() + Duration::from_millis(20),
        interval: (args.rate > 0.0).then(|| 1.0 / args.rate),
    });
    let mut progress: Vec<Vec<Arc<AtomicU64>>> = Vec::with_capacity(args.rooms);
    let mut tasks = Vec::with_capacity(args.rooms * args.members);
    for members in subs {
        let mut room_progress = Vec::with_capacity(members.len());
        for sub in members {
            let p = Arc::new(AtomicU64::new(0));
            room_progress.push(p.clone());
            tasks.push(tokio::spawn(drain(sub, schedule.clone(), p)));
        }
        progress.push(room_progress);
    }

    let content: String = "The quick brown fox jumps over the lazy dog; "
        .chars()
        .cycle()
        .take(args.content)
        .collect();
    let publisher = tokio::spawn(publish(
        hub.clone(),
        rooms.clone(),
        schedule.clone(),
        Duration::from_secs_f64(args.duration),
        content,
        progress,
        args.queue as u64 / 2,
    ));
    let (published, per_room, publish_time) = publisher.await?;
    // The end marker: queues are FIFO, so a subscriber that sees it has seen everything before.
    for &room in &rooms {
        hub.publish(room, &Frame::encode(&ServerEvent::Pong, Some(room), None));
    }
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await?);
    }
    let drained = schedule.start.elapsed();

    let mut lat = Latencies::new();
    for shard in SHARDS.lock().unwrap().iter() {
        let shard = shard.lock().unwrap();
        lat.from_intended.add(&shard.from_intended)?;
        lat.from_encode.add(&shard.from_encode)?;
    }
    let deliveries: u64 = tallies.iter().map(|t| t.received).sum();
    let expected: u64 = per_room.iter().map(|&n| n * args.members as u64).sum();
    let distinct: u64 = tallies.iter().map(|t| t.distinct).sum();
    let lost = expected - distinct;
    let dup: u64 = tallies.iter().map(|t| t.dup).sum();
    let ooo: u64 = tallies.iter().map(|t| t.ooo).sum();
    let cut_off = tallies.iter().filter(|t| t.cut_off).count();
    let secs = publish_time.as_secs_f64();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e6;

    let mode = if args.rate > 0.0 {
        format!("{} msg/s", args.rate)
    } else {
        "max".into()
    };
    println!(
        "hub_fanout: {} room(s) x {} members = {} subscribers, queue {}, {}, {:.1} s, metrics {}, {} worker threads",
        args.rooms,
        args.members,
        args.rooms * args.members,
        args.queue,
        mode,
        args.duration,
        if args.no_metrics { "off" } else { "prometheus" },
        tokio::runtime::Handle::current().metrics().num_workers(),
    );
    println!(
        "subscribe: {:.1} ms; published {published} messages in {secs:.2} s ({:.0} msg/s); all drained {:.2} s after start",
        subscribed.as_secs_f64() * 1e3,
        published as f64 / secs,
        drained.as_secs_f64()
    );
    println!();
    println!("{:<22} {:>12}", "deliveries", deliveries);
    println!("{:<22} {:>12.0}", "deliveries/s", deliveries as f64 / secs);
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "p50", "p90", "p99", "p99.9", "max"
    );
    for (name, h) in [
        ("  from intended time", &lat.from_intended),
        ("  from encode", &lat.from_encode),
    ] {
        println!(
            "{:<22} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            name,
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1e6
        );
    }
    println!("{:<22} {:>12}", "lost", lost);
    println!("{:<22} {:>12}", "duplicated", dup);
    println!("{:<22} {:>12}", "out of order", ooo);
    println!("{:<22} {:>12}", "cut off (slow)", cut_off);

    if let Some(path) = &args.json {
        let hist = |h: &Histogram<u64>| {
            json!({
                "p50_ms": ms(h, 0.5), "p90_ms": ms(h, 0.9), "p99_ms": ms(h, 0.99),
                "p999_ms": ms(h, 0.999), "max_ms": h.max() as f64 / 1e6, "mean_ms": h.mean() / 1e6,
            })
        };
        let report = json!({
            "rooms": args.rooms, "members": args.members, "subscribers": args.rooms * args.members,
            "queue": args.queue, "rate": args.rate, "duration_s": args.duration,
            "metrics": !args.no_metrics, "content_chars": args.content,
            "published": published, "publish_seconds": secs, "deliveries": deliveries,
            "deliveries_per_s": deliveries as f64 / secs,
            "latency_from_intended": hist(&lat.from_intended), "latency_from_encode": hist(&lat.from_encode),
            "lost": lost, "duplicated": dup, "out_of_order": ooo, "cut_off": cut_off,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    anyhow::ensure!(
        lost == 0 && dup == 0 && ooo == 0 && cut_off == 0,
        "some subscriber did not get every message exactly once, in order"
    );
    Ok(())
}

/// Publishes until `duration` is over; returns the messages published, per room, and the time taken.
async fn publish(
    hub: Hub,
    rooms: Vec<i64>,
    schedule: Arc<Schedule>,
    duration: Duration,
    content: String,
    progress: Vec<Vec<Arc<AtomicU64>>>,
    window: u64,
) -> (u64, Vec<u64>, Duration) {
    let sender = user(0);
    let mut per_room = vec![0u64; rooms.len()];
    // Max mode: how far each room may be published (half a queue past its slowest subscriber).
    let mut allowed = vec![window; rooms.len()];
    let mut index = 0u64;
    // Paced: exactly rate x duration messages.
    let total = schedule.interval.map(|i| (duration.as_secs_f64() / i).round() as u64);
    tokio::time::sleep_until(schedule.start.into()).await;
    let start = Instant::now();
    let end = start + duration;
    'publishing: loop {
        let now = Instant::now();
        if now >= end || total.is_some_and(|t| index >= t) {
            break;
        }
        // Everything due by now (open loop), or one message (max mode).
        let due = match schedule.interval {
            Some(interval) => {
                let due = ((now - schedule.start).as_secs_f64() / interval) as u64 + 1;
                if due <= index {
                    let next = schedule.intended(index).expect("paced");
                    tokio::time::sleep_until(next.min(end).into()).await;
                    continue;
                }
                due.min(total.expect("paced"))
            }
            None => index + 1,
        };
        while index < due {
            let r = (index % rooms.len() as u64) as usize;
            let room = rooms[r];
            if schedule.interval.is_none() && per_room[r] >= allowed[r] {
                let slowest = progress[r].iter().map(|p| p.load(Ordering::Acquire)).min().unwrap_or(0);
                allowed[r] = slowest + window;
                if per_room[r] >= allowed[r] {
                    tokio::task::yield_now().await;
                    continue 'publishing;
                }
            }
            let seq = per_room[r] as i64 + 1;
            let message = Message {
                id: index as i64 + 1,
                room,
                sender: sender.clone(),
                content: content.clone(),
                message_type: "text".into(),
                reply_to: None,
                reply_preview: None,
                is_deleted: false,
                created_at: Utc::now(),
                client_id: Some(format!("fanout-{index}")),
                is_read: false,
                read_count: 0,
                edited_at: None,
                reactions: Vec::new(),
                attachments: Vec::new(),
                change_seq: seq,
            };
            let event = ServerEvent::chat_message(message);
            hub.publish(room, &Frame::encode(&event, Some(room), Some(seq)));
            per_room[r] += 1;
            index += 1;
        }
        if schedule.interval.is_none() && index.is_multiple_of(64) {
            // Let the subscribers of this worker run now and then.
            tokio::task::yield_now().await;
        }
    }
    (index, per_room, start.elapsed())
}
