//! `confab-bench`: the command line. See the crate's README for examples.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use confab_bench::accounts::Provisioner;
use confab_bench::client::Api;
use confab_bench::report::write_json;
use confab_bench::scenarios::{connect, fanout, history, post, search};
use confab_bench::sys::{parse_source_ips, raise_nofile_limit};
use confab_bench::Bench;

#[derive(Parser)]
#[command(version, about = "Load generator for servers that speak the Confab wire contract")]
struct Cli {
    /// The server's base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Shell command that creates one developer account; `{username}` is
    /// replaced and the password comes on standard input, e.g.
    /// 'confab user create {username} --developer --password-stdin'.
    #[arg(long, global = true)]
    create_users_cmd: Option<String>,
    /// File of pre-made `username:password` lines, instead of creating users.
    #[arg(long, global = true, conflicts_with = "create_users_cmd")]
    accounts: Option<PathBuf>,
    /// Accounts to spread sockets and clients over.
    #[arg(long, global = true, default_value_t = 100)]
    users: usize,
    /// Created users are named `{prefix}{n}` [default: bench<run id>u].
    #[arg(long, global = true)]
    user_prefix: Option<String>,
    /// Local addresses to connect sockets from, round-robin:
    /// `127.0.0.1-127.0.0.16` or a comma-separated list.
    #[arg(long, global = true)]
    source_ips: Option<String>,
    /// Socket handshakes in flight at once.
    #[arg(long, global = true, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds a socket may take to reach `connection_established`.
    #[arg(long, global = true, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Write parameters and results as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Runtime worker threads [default: one per core].
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// No progress line on stderr.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Open N room sockets; connect rate, failures, server memory per socket.
    Connect(connect::ConnectParams),
    /// R rooms x M members, S senders at a target rate; delivery rate, latency, checks.
    Fanout(fanout::FanoutParams),
    /// C clients paging a room's history; requests/s and latency.
    History(history::HistoryParams),
    /// C clients posting over REST; acknowledged messages/s and latency.
    Post(post::PostParams),
    /// C clients searching K seeded messages for two words; latency.
    Search(search::SearchParams),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.enable_all().build()?;
    let clean = runtime.block_on(run(cli))?;
    // Sockets still open in the runtime need not close gracefully.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !clean {
        std::process::exit(2);
    }
    Ok(())
}

/// Runs the scenario; `false` when the delivery check failed.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    match raise_nofile_limit() {
        Ok(limit) if limit < 4096 => eprintln!("warning: only {limit} file descriptors allowed"),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
    let provisioner = match (&cli.create_users_cmd, &cli.accounts) {
        (Some(template), None) => {
            if !template.contains("{username}") {
                bail!("--create-users-cmd needs a {{username}} placeholder");
            }
            Provisioner::Command(template.clone())
        }
        (None, Some(path)) => Provisioner::File(path.clone()),
        _ => bail!("say where accounts come from: --create-users-cmd 'TEMPLATE' or --accounts FILE"),
    };
    let mut bench = Bench::new(Api::new(&cli.url)?, provisioner);
    bench.users = cli.users.max(1);
    if let Some(prefix) = &cli.user_prefix {
        bench.user_prefix = prefix.clone();
    }
    if let Some(spec) = &cli.source_ips {
        bench.source_ips = parse_source_ips(spec)?;
    }
    bench.connect_concurrency = cli.connect_concurrency.max(1);
    bench.connect_timeout = Duration::from_secs_f64(cli.connect_timeout);
    bench.progress = !cli.quiet;

    let json = cli.json.as_deref();
    let save = |name: &str, params: &dyn erased::Json, results: &dyn erased::Json| -> anyhow::Result<()> {
        if let Some(path) = json {
            write_json(path, name, &params.value()?, &results.value()?)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    };
    let mut clean = true;
    match &cli.scenario {
        Scenario::Connect(params) => {
            let report = connect::run(&bench, params).await?;
            print!("{}", report.table(params));
            save("connect", params, &report)?;
        }
        Scenario::Fanout(params) => {
            let report = fanout::run(&bench, params).await?;
            print!("{}", report.table(params));
            save("fanout", params, &report)?;
            clean = report.verdict.clean() && report.misrouted == 0;
        }
        Scenario::History(params) => {
            let report = history::run(&bench, params).await?;
            print!("{}", report.table(params));
            save("history", params, &report)?;
        }
        Scenario::Post(params) => {
            let report = post::run(&bench, params).await?;
            print!("{}", report.table(params));
            save("post", params, &report)?;
        }
        Scenario::Search(params) => {
            let report = search::run(&bench, params).await?;
            print!("{}", report.table(params));
            save("search", params, &report)?;
        }
    }
    Ok(clean)
}

/// `Serialize` is not object safe; the closure above takes any serializable value this way.
mod erased {
    pub trait Json {
        fn value(&self) -> serde_json::Result<serde_json::Value>;
    }

    impl<T: serde::Serialize> Json for T {
        fn value(&self) -> serde_json::Result<serde_json::Value> {
            serde_json::to_value(self)
        }
    }
}
