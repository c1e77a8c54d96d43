//! The `confab` binary: the server and its admin commands.

use std::process::ExitCode;

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

#[tokio::main]
async fn main() -> ExitCode {
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
