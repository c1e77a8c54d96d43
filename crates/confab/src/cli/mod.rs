//! The admin commands (the original's `create_developer_group.py` and
//! Django's `createsuperuser`/`changepassword`, in one binary). They open the
//! same database with the same [`Config`] as the server and go through the
//! same account and chat rules, so they are safe while the server runs.

mod demo;

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use crate::app::{AppState, Server};
use crate::auth::accounts;
use crate::auth::jwt::TokenType;
use crate::config::Config;
use crate::error::Error;
use crate::store;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (prompts for the password unless --password-stdin).
    Create {
        name: String,
        /// Grant the `developer` role, which opens the chat API.
        #[arg(long)]
        developer: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Grant a global role (only `developer` exists).
    Grant { name: String, role: GlobalRole },
    /// Revoke a global role.
    Revoke { name: String, role: GlobalRole },
    /// List every user with their roles.
    List,
    /// Set a user's password.
    SetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deactivate a user: their tokens stop working and they cannot log in.
    Deactivate { name: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GlobalRole {
    Developer,
}

impl GlobalRole {
    fn as_str(self) -> &'static str {
        match self {
            GlobalRole::Developer => crate::chat::types::DEVELOPER_ROLE,
        }
    }
}

pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    tracing::info!(?config, "starting");
    let server = Server::build(config).await?;
    let state = server.state().clone();
    if demo {
        demo::seed(&state, server.local_addr()).await?;
    } else if store::users::count(state.store.reader()).await? == 0 {
        tracing::warn!(
            "the database has no users yet: create the first with `confab user create NAME --developer`, \
             or restart with `confab serve --demo` to get two demo accounts"
        );
    }
    tracing::info!(
        addr = %server.local_addr(),
        backend = state.store.backend().name(),
        "listening: web client at http://{0}/, API docs at http://{0}/api/docs/",
        server.local_addr()
    );
    server.run().await
}

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    println!("database is up to date ({})", state.store.backend().name());
    Ok(())
}

pub async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    let store = &state.store;
    match command {
        UserCommand::Create {
            name,
            developer,
            password_stdin,
        } => {
            accounts::check_username(&name)?;
            let password = read_password(password_stdin)?;
            let user = accounts::create_user(store, &name, &password, developer).await?;
            let role = if developer { " with the developer role" } else { "" };
            println!("created user {} (id {}){role}", user.username, user.id);
        }
        UserCommand::Grant { name, role } => {
            let changed = accounts::set_role(store, &name, role.as_str(), true).await?;
            println!(
                "{name}: {} {}",
                if changed { "granted" } else { "already has" },
                role.as_str()
            );
        }
        UserCommand::Revoke { name, role } => {
            let changed = accounts::set_role(store, &name, role.as_str(), false).await?;
            println!(
                "{name}: {} {}",
                if changed { "revoked" } else { "did not have" },
                role.as_str()
            );
        }
        UserCommand::List => {
            let users = store::users::all(store.reader()).await?;
            let roles = store::users::all_roles(store.reader()).await?;
            println!(
                "{:>6}  {:<24} {:<8} {:<12} created",
                "id", "username", "active", "roles"
            );
            for user in users {
                let mine: Vec<&str> = roles
                    .iter()
                    .filter(|(id, _)| *id == user.id)
                    .map(|(_, r)| r.as_str())
                    .collect();
                println!(
                    "{:>6}  {:<24} {:<8} {:<12} {}",
                    user.id,
                    user.username,
                    if user.is_active { "yes" } else { "no" },
                    if mine.is_empty() {
                        "-".to_owned()
                    } else {
                        mine.join(",")
                    },
                    user.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        UserCommand::SetPassword { name, password_stdin } => {
            accounts::find_by_username(store, &name).await?;
            let password = read_password(password_stdin)?;
            accounts::set_password(store, &name, &password).await?;
            println!("password of {name} changed");
        }
        UserCommand::Deactivate { name } => {
            accounts::set_active(store, &name, false).await?;
            println!("{name} deactivated");
        }
    }
    Ok(())
}

pub async fn token(config: Config, name: &str) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    let user = accounts::find_by_username(&state.store, name).await?;
    anyhow::ensure!(user.is_active, "{name} is deactivated");
    println!("{}", state.jwt.issue(user.id, TokenType::Access));
    Ok(())
}

/// The password from stdin's first line, or typed twice at a terminal prompt.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on standard input");
        return Ok(password);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to prompt for a password: pipe it in with --password-stdin"
    );
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    anyhow::ensure!(first == second, "the passwords do not match");
    Ok(first)
}

/// A one-line explanation of a failed command, with field errors spelled out.
pub fn describe(error: &anyhow::Error) -> String {
    match error.downcast_ref::<Error>() {
        Some(Error::Invalid(fields)) => fields
            .iter()
            .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
            .collect::<Vec<_>>()
            .join("; "),
        Some(Error::BadRequest(detail)) => detail.clone(),
        _ => format!("{error:#}"),
    }
}
