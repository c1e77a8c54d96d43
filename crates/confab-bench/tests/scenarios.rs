//! Runs the scenarios against a real Confab server started in-process, with
//! users made by the server's own account code.

use std::sync::Arc;

use confab::app::Server;
use confab::config::Config;
use confab_bench::accounts::Provisioner;
use confab_bench::client::Api;
use confab_bench::scenarios::fanout::{self, FanoutParams, Via};
use confab_bench::scenarios::{connect, history, post};
use confab_bench::Bench;
use tokio::sync::oneshot;

struct TestServer {
    base: String,
    store: confab::store::Store,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        jwt_secret: Some("bench-test-secret-0123456789abcdef".into()),
        // The bench sends faster than a person and opens many sockets per
        // user; the operator raises these budgets for benchmarks (scripts/bench.sh).
        ws_message_rate: 1_000_000,
        ws_message_burst: 1_000_000,
        ws_frame_rate: 1_000_000,
        ws_frame_burst: 1_000_000,
        rest_write_rate: 1_000_000,
        rest_write_burst: 1_000_000,
        ws_max_sockets_per_user: 1_000_000,
        ..Config::default()
    };
    let server = Server::build(config).await.expect("server starts");
    let base = format!("http://{}", server.local_addr());
    let store = server.state().store.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    TestServer {
        base,
        store,
        _stop: stop,
        _dir: dir,
    }
}

fn bench_for(server: &TestServer, users: usize) -> Bench {
    let store = server.store.clone();
    let provisioner = Provisioner::Callback(Arc::new(move |username, password| {
        let store = store.clone();
        Box::pin(async move {
            confab::auth::accounts::create_user(&store, &username, &password, true)
                .await
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
    }));
    let mut bench = Bench::new(Api::new(&server.base).unwrap(), provisioner);
    bench.users = users;
    bench.progress = false;
    bench
}

fn tiny_fanout(via: Via) -> FanoutParams {
    FanoutParams {
        rooms: 2,
        members: 3,
        senders: Some(2),
        rate: 50.0,
        duration: 1.0,
        warmup: 0.0,
        drain: 1.0,
        via,
        message_size: 0,
        max_in_flight: 16,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_every_message_once_in_order_over_ws_and_rest() {
    let server = start_server().await;
    for via in [Via::Ws, Via::Rest] {
        let mut bench = bench_for(&server, 4);
        // Each pass makes its own users and rooms.
        bench.user_prefix = format!("{}{via:?}", bench.user_prefix).to_lowercase();
        let report = fanout::run(&bench, &tiny_fanout(via)).await.unwrap();
        let verdict = &report.verdict;
        assert!(verdict.clean(), "{via:?}: {verdict:?}");
        assert_eq!(report.sent, 50, "{via:?}: {report:?}");
        assert_eq!(report.acked, 50, "{via:?}: {report:?}");
        // Every acknowledged message reaches the 3 sockets of its room.
        assert_eq!(verdict.expected, 150, "{via:?}: {verdict:?}");
        assert_eq!(verdict.delivered, 150, "{via:?}: {verdict:?}");
        assert_eq!(verdict.unacknowledged, 0);
        assert_eq!(report.misrouted, 0);
        assert!(report.errors.is_empty(), "{via:?}: {:?}", report.errors);
        assert!(report.closed.is_empty(), "{via:?}: {:?}", report.closed);
        assert_eq!(report.delivery_latency.count, 150);
        assert_eq!(report.ack_latency.count, 50);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_sends_and_is_acknowledged_by_its_own_echoes() {
    // The suite's socket-1x200 shape: the only member of its room is the sender.
    let server = start_server().await;
    let bench = bench_for(&server, 100);
    let params = FanoutParams {
        rooms: 1,
        members: 1,
        senders: Some(1),
        rate: 200.0,
        duration: 0.5,
        ..tiny_fanout(Via::Ws)
    };
    let report = fanout::run(&bench, &params).await.unwrap();
    assert_eq!((report.sockets, report.users), (1, 1), "{report:?}");
    assert!(report.verdict.clean(), "{:?}", report.verdict);
    assert_eq!(report.sent, 100, "{report:?}");
    assert_eq!(report.acked, 100, "{report:?}");
    assert_eq!(report.verdict.delivered, 100, "{:?}", report.verdict);
    assert_eq!(report.ack_latency.count, 100);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_post_and_history_run_small() {
    let server = start_server().await;
    let bench = bench_for(&server, 3);

    let params = connect::ConnectParams {
        sockets: 12,
        rooms: 2,
        layout: connect::Layout::Grid,
        hold: 0.2,
        server_pid: Some(std::process::id()),
        settle: 0.0,
    };
    let report = connect::run(&bench, &params).await.unwrap();
    assert_eq!(report.opened, 12, "{report:?}");
    assert!(
        report.failures.is_empty() && report.closed_while_held.is_empty(),
        "{report:?}"
    );
    assert!(report.rss_per_socket_kib.is_some());

    let mut bench = bench_for(&server, 3);
    bench.user_prefix.push('p');
    let params = post::PostParams {
        concurrency: 4,
        duration: 0.5,
        warmup: 0.1,
        rooms: 1,
        rate: None,
        message_size: 0,
    };
    let report = post::run(&bench, &params).await.unwrap();
    assert!(report.acked > 0 && report.errors.is_empty(), "{report:?}");

    let mut bench = bench_for(&server, 3);
    bench.user_prefix.push('h');
    let params = history::HistoryParams {
        concurrency: 4,
        duration: 0.5,
        warmup: 0.1,
        seed: 120,
        limit: 50,
        rate: Some(40.0),
    };
    let report = history::run(&bench, &params).await.unwrap();
    assert!(report.requests > 0 && report.errors.is_empty(), "{report:?}");
    // Pages of 50 over 120 messages: 50, 50, 20, then the newest again.
    assert!(report.messages_per_sec > 0.0);
}
