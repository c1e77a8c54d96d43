//! The `confab` binary: the server and its admin commands.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use confab::cli::{self, UserCommand};
use confab::config::Config;

/// mimalloc instead of glibc's malloc: glibc keeps every thread arena's peak
/// (argon2 takes 19 MiB per hash, on whichever blocking thread runs it), and
/// the socket fan-out makes many small, short-lived allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "confab", version, about = "Real-time team chat server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP/WebSocket server (migrates the database first).
    Serve {
        /// Also create two developer accounts and a public room, and print their passwords.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a fresh access token for a user (for scripts and curl).
    Token {
        /// The user's name.
        name: String,
    },
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run());
    // Dropping a runtime waits for every blocking task; one still hashing a
    // password or decoding an image must not keep a stopped server alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run() -> ExitCode {
    confab::telemetry::init_tracing();
    let cli = Cli::parse();
    let (config, report) = match Config::load() {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &report.file {
        tracing::debug!(file = %file.display(), "configuration file loaded");
    }
    for key in &report.unknown_env {
        tracing::warn!(%key, "unknown CONFAB_* environment variable ignored (see the README's configuration table)");
    }
    let result = match cli.command {
        Command::Serve { demo } => cli::serve(config, demo).await,
        Command::Migrate => cli::migrate(config).await,
        Command::User(command) => cli::user(config, command).await,
        Command::Token { name } => cli::token(config, &name).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cli::describe(&error));
            ExitCode::FAILURE
        }
    }
}
