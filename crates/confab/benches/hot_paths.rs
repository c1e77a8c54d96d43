//! Criterion benches for the server's hot paths, through the public API only:
//!
//! - `encode`: a `chat_message` event serialized once per fan-out
//!   (`Frame::encode(&ServerEvent::ChatMessage { .. }, Some(room), seq)`), with
//!   and without a reply preview, and its user-socket form (`"room"` added).
//! - `hub_publish`: one [`Hub::publish`] to N local subscribers (N = 10, 100,
//!   1000), in deliveries per second; once with no metrics recorder and once
//!   with a Prometheus recorder like the one the server always installs
//!   (every delivery bumps `ws_frames_out_total{type}`).
//! - `jwt`: verifying (and issuing) an access token.
//!
//! ```sh
//! cargo bench -p confab --bench hot_paths -- --warm-up-time 1 --measurement-time 3
//! ```
//!

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use confab::auth::jwt::{JwtKeys, TokenType};
use confab::chat::events::ServerEvent;
use confab::chat::types::{Message, ReplyPreview, UserRef};
use confab::realtime::frame::Frame;
use confab::realtime::hub::{Hub, Subscription};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use metrics_exporter_prometheus::PrometheusBuilder;

const ROOM: i64 = 42;

fn user(id: i64) -> UserRef {
    UserRef {
        id,
        username: format!("user{id:05}"),
    }
}

/// A typical message: ~100 characters, with an optional reply preview.
fn message(id: i64, reply: bool) -> Message {
    let content =
        "Deploy of build 1432 is green on staging; can someone from the payments team double-check the refunds?";
    Message {
        id,
        room: ROOM,
        sender: user(7),
        content: content.into(),
        message_type: "text".into(),
        reply_to: reply.then_some(id - 3),
        reply_preview: reply.then(|| ReplyPreview {
            id: id - 3,
            sender: user(9),
            content: "Is the staging deploy done yet? The refunds flow was failing this morning after the migration."
                .into(),
        }),
        is_deleted: false,
        created_at: Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap() + chrono::Duration::microseconds(589_793),
        client_id: Some("c0ffee00-1234-4abc-8def-0123456789ab".into()),
        is_read: false,
        read_count: 0,
        edited_at: None,
        reactions: Vec::new(),
        attachments: Vec::new(),
        change_seq: id,
    }
}

fn chat_frame(id: i64, reply: bool) -> Frame {
    let event = ServerEvent::chat_message(message(id, reply));
    Frame::encode(&event, Some(ROOM), Some(id))
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, reply) in [("chat_message", false), ("chat_message_reply", true)] {
        let event = ServerEvent::chat_message(message(1000, reply));
        let len = Frame::encode(&event, Some(ROOM), None).text.len();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::new(name, format!("{len}B")), |b| {
            b.iter(|| Frame::encode(black_box(&event), black_box(Some(ROOM)), None))
        });
        // A user socket's copy: made once per frame, then shared by every user socket.
        group.bench_function(
            BenchmarkId::new(format!("{name}_user_socket_tag"), format!("{len}B")),
            |b| {
                b.iter_batched(
                    || Frame::encode(&event, Some(ROOM), None),
                    |frame| frame.tagged_text(),
                    BatchSize::SmallInput,
                )
            },
        );
        // What the server does per post: build the event from the message, then encode.
        let msg = message(1000, reply);
        group.bench_function(
            BenchmarkId::new(format!("{name}_clone_and_encode"), format!("{len}B")),
            |b| {
                b.iter(|| {
                    let event = ServerEvent::chat_message(black_box(&msg).clone());
                    Frame::encode(&event, Some(ROOM), None)
                })
            },
        );
    }
    group.finish();
}

/// N subscribers of one room, each a different user, their queues emptied.
fn subscribers(hub: &Hub, n: usize) -> Vec<Subscription> {
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        subs.push(hub.subscribe(ROOM, user(i as i64 + 1)));
        // Each new user's `user_joined` goes to everyone before: keep queues from filling.
        if i % 256 == 255 {
            drain(&mut subs);
        }
    }
    drain(&mut subs);
    subs
}

fn drain(subs: &mut [Subscription]) -> usize {
    let mut n = 0;
    for sub in subs {
        while sub.rx.try_recv().is_ok() {
            n += 1;
        }
    }
    n
}

/// Publishes timed between two drains: one tokio mpsc block (32 slots), so the
/// queues stay near empty and cache-warm like those of sockets that keep up.
const BATCH: u64 = 32;

/// Times only the publishes, in batches of `batch`, emptying the queues between batches.
fn publish_timed(hub: &Hub, subs: &mut [Subscription], frame: &Frame, iters: u64, batch: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch);
        let start = Instant::now();
        for _ in 0..n {
            hub.publish(black_box(ROOM), black_box(frame));
        }
        total += start.elapsed();
        left -= n;
        drain(subs);
    }
    total
}

fn hub_publish(c: &mut Criterion) {
    const QUEUE: usize = 1024;
    let frame = chat_frame(1000, false);
    let recorder = PrometheusBuilder::new().build_recorder();
    let mut group = c.benchmark_group("hub_publish");
    for n in [10usize, 100, 1000] {
        let hub = Hub::new(QUEUE);
        let mut subs = subscribers(&hub, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("no_metrics", n), &n, |b, _| {
            b.iter_custom(|iters| publish_timed(&hub, &mut subs, &frame, iters, BATCH))
        });
        group.bench_with_input(BenchmarkId::new("prometheus", n), &n, |b, _| {
            b.iter_custom(|iters| {
                metrics::with_local_recorder(&recorder, || publish_timed(&hub, &mut subs, &frame, iters, BATCH))
            })
        });
        // Sanity: every subscriber is still there and gets the frame.
        hub.publish(ROOM, &frame);
        assert_eq!(drain(&mut subs), n, "a subscriber was cut off during the bench");
    }
    group.finish();

    // The consumer side, for scale: a socket task's receive of one frame.
    let mut group = c.benchmark_group("hub_receive");
    let hub = Hub::new(QUEUE);
    let mut subs = subscribers(&hub, 1);
    group.throughput(Throughput::Elements(1));
    group.bench_function("try_recv", |b| {
        b.iter_batched(
            || hub.publish(ROOM, &frame),
            |()| subs[0].rx.try_recv().expect("a frame is queued"),
            BatchSize::NumIterations(256),
        )
    });
    group.finish();
}

fn jwt(c: &mut Criterion) {
    let keys = JwtKeys::new(
        "bench-secret-0123456789abcdef",
        Duration::from_secs(300),
        Duration::from_secs(86400),
    );
    let token = keys.issue(7, TokenType::Access);
    assert_eq!(keys.verify(&token, Some(TokenType::Access)).unwrap().user_id, 7);
    let mut group = c.benchmark_group("jwt");
    group.bench_function("verify_access", |b| {
        b.iter(|| keys.verify(black_box(&token), Some(TokenType::Access)).unwrap())
    });
    group.bench_function("issue_access", |b| {
        b.iter(|| keys.issue(black_box(7), TokenType::Access))
    });
    group.finish();
}

criterion_group!(benches, encode, hub_publish, jwt);
criterion_main!(benches);
