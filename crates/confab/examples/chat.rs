//! A terminal chat client for Confab: logs in over REST, opens the room's
//! socket, prints what arrives, and sends each line you type.
//!
//! ```sh
//! cargo run --example chat -- --user alice --password '...' --room 1
//! ```
//!
//! Lines starting with `/` are commands: `/typing`, `/read ID`, `/quit`.

use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(about = "Chat in a Confab room from the terminal")]
struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    server: String,
    #[arg(long)]
    user: String,
    /// The password (or set CHAT_PASSWORD).
    #[arg(long, env = "CHAT_PASSWORD")]
    password: String,
    /// The room's id.
    #[arg(long)]
    room: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = args.server.trim_end_matches('/');
    let login: Value = reqwest::Client::new()
        .post(format!("{server}/api/token/"))
        .json(&json!({"username": args.user, "password": args.password}))
        .send()
        .await?
        .json()
        .await?;
    let Some(token) = login["access"].as_str() else {
        anyhow::bail!("login failed: {login}");
    };
    let socket_url = format!(
        "{}/ws/chat/{}/?token={token}",
        server.replacen("http", "ws", 1),
        args.room
    );
    let (socket, _) = tokio_tungstenite::connect_async(socket_url).await?;
    let (mut outgoing, mut incoming) = socket.split();

    let printer = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            match message {
                Message::Text(text) => print_frame(&serde_json::from_str(&text).unwrap_or(Value::Null)),
                Message::Close(frame) => {
                    println!("* closed: {frame:?}");
                    break;
                }
                _ => {}
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let frame = match line.trim() {
            "" => continue,
            "/quit" => break,
            "/typing" => json!({"type": "typing", "is_typing": true}),
            read if read.starts_with("/read ") => {
                json!({"type": "mark_read", "message_id": read[6..].trim().parse::<i64>().unwrap_or(0)})
            }
            text => json!({"type": "chat_message", "content": text, "client_id": uuid::Uuid::new_v4().to_string()}),
        };
        outgoing.send(Message::text(frame.to_string())).await?;
    }
    let _ = outgoing.send(Message::Close(None)).await;
    printer.abort();
    Ok(())
}

fn print_frame(frame: &Value) {
    let name = |v: &Value| v["username"].as_str().unwrap_or("?").to_owned();
    match frame["type"].as_str().unwrap_or_default() {
        "connection_established" => {
            let online: Vec<String> = frame["online"].as_array().into_iter().flatten().map(name).collect();
            println!(
                "* joined #{} (online: {})",
                frame["room"]["name"].as_str().unwrap_or("?"),
                online.join(", ")
            );
        }
        "chat_message" => {
            let m = &frame["message"];
            println!(
                "[{}] {}: {}",
                m["id"],
                name(&m["sender"]),
                m["content"].as_str().unwrap_or_default()
            );
        }
        "typing" if frame["is_typing"] == true => println!("* {} is typing", name(&frame["user"])),
        "user_joined" => println!("* {} is online", name(&frame["user"])),
        "user_left" => println!("* {} went offline", name(&frame["user"])),
        "member_added" => println!("* {} joined the room", name(&frame["user"])),
        "member_removed" => println!("* {} left the room", name(&frame["user"])),
        "message_deleted" => println!("* message {} was deleted", frame["message_id"]),
        "notification" => println!("! {}", frame["notification"]["title"].as_str().unwrap_or_default()),
        "error" => println!(
            "! {}: {}",
            frame["code"].as_str().unwrap_or("?"),
            frame["detail"].as_str().unwrap_or("")
        ),
        _ => {}
    }
}
