//! The contract's client side: REST calls and room socket connections.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// The REST side of one server.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    pub base: String,
}

#[derive(Deserialize)]
struct Tokens {
    access: String,
}

#[derive(Deserialize)]
struct Created {
    id: i64,
}

/// What a history page holds, as far as paging needs.
#[derive(Deserialize)]
pub struct HistoryPage {
    pub results: Vec<MessageId>,
    pub next: Option<String>,
}

/// A message object, of which paging reads only the id.
#[derive(Deserialize)]
pub struct MessageId {
    pub id: i64,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/token/` -> the access token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .post(self.url("/api/token/"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            bail!(
                "login of {username} answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json::<Tokens>().await?.access)
    }

    /// Creates a public room and returns its id.
    pub async fn create_room(&self, token: &str, name: &str) -> anyhow::Result<i64> {
        let response = self
            .http
            .post(self.url("/api/chat/rooms/"))
            .bearer_auth(token)
            .json(&json!({"name": name, "room_type": "public"}))
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::CREATED {
            bail!(
                "creating room {name} answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json::<Created>().await?.id)
    }

    pub async fn join(&self, token: &str, room: i64) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url(&format!("/api/chat/rooms/{room}/join/")))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            bail!(
                "joining room {room} answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Posts a message: the status and, on 200/201, the message id.
    pub async fn post_message(
        &self,
        token: &str,
        room: i64,
        content: &str,
        client_id: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Option<i64>)> {
        let mut body = json!({"content": content});
        if let Some(client_id) = client_id {
            body["client_id"] = client_id.into();
        }
        let response = self
            .http
            .post(self.url(&format!("/api/chat/rooms/{room}/messages/")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            let created: Created = response.json().await?;
            Ok((status, Some(created.id)))
        } else {
            // Read the body so the connection can be reused.
            let _ = response.bytes().await;
            Ok((status, None))
        }
    }

    /// One history page: `?limit=` and optionally `?before=`.
    pub async fn history(
        &self,
        token: &str,
        room: i64,
        before: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<(StatusCode, Option<HistoryPage>)> {
        let mut url = self.url(&format!("/api/chat/rooms/{room}/messages/?limit={limit}"));
        if let Some(before) = before {
            url.push_str(&format!("&before={before}"));
        }
        let response = self.http.get(url).bearer_auth(token).send().await?;
        let status = response.status();
        if status == StatusCode::OK {
            Ok((status, Some(response.json().await?)))
        } else {
            let _ = response.bytes().await;
            Ok((status, None))
        }
    }

    /// `GET /api/chat/search/?q=`: how many messages matched (the page's `count`).
    pub async fn search(&self, token: &str, query: &str, page_size: u32) -> anyhow::Result<(StatusCode, Option<u64>)> {
        #[derive(Deserialize)]
        struct SearchPage {
            count: u64,
        }
        let url = self.url("/api/chat/search/");
        let response = self
            .http
            .get(url)
            .query(&[("q", query), ("page_size", &page_size.to_string())])
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        if status == StatusCode::OK {
            Ok((status, Some(response.json::<SearchPage>().await?.count)))
        } else {
            let _ = response.bytes().await;
            Ok((status, None))
        }
    }

    /// The room socket's URL for a token.
    pub fn ws_url(&self, room: i64, token: &str) -> String {
        let base = if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            self.base.clone()
        };
        format!("{base}/ws/chat/{room}/?token={token}")
    }

    /// The server's socket address, resolved once for all socket connections.
    pub async fn resolve(&self) -> anyhow::Result<SocketAddr> {
        let rest = self
            .base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("the bench opens plain ws:// sockets: the base URL must be http://"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let host_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let first = tokio::net::lookup_host(&host_port).await?.next();
        first.with_context(|| format!("{host_port} does not resolve"))
    }
}

/// Why a socket did not open.
#[derive(Debug)]
pub enum ConnectError {
    Tcp(std::io::Error),
    Handshake(String),
    /// The server completed the handshake and closed (4001, 4003, 4004, 1013...).
    Closed(u16),
    Timeout,
    Other(String),
}

impl ConnectError {
    /// A short key for counting failures by kind.
    pub fn kind(&self) -> String {
        match self {
            ConnectError::Tcp(e) => format!("tcp: {}", e.kind()),
            ConnectError::Handshake(_) => "handshake".into(),
            ConnectError::Closed(code) => format!("closed {code}"),
            ConnectError::Timeout => "timeout".into(),
            ConnectError::Other(_) => "other".into(),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Tcp(e) => write!(f, "tcp connect: {e}"),
            ConnectError::Handshake(e) => write!(f, "websocket handshake: {e}"),
            ConnectError::Closed(code) => write!(f, "closed by the server with {code}"),
            ConnectError::Timeout => write!(f, "no connection_established in time"),
            ConnectError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// Opens a room socket from `source` (any local address when `None`) and
/// waits for `connection_established`, so the socket is known to be
/// subscribed to the room before any message is sent.
pub async fn connect_room(
    server: SocketAddr,
    url: &str,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<Ws, ConnectError> {
    let work = async {
        let socket = match server {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(ConnectError::Tcp)?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).map_err(ConnectError::Tcp)?;
        }
        let stream = socket.connect(server).await.map_err(ConnectError::Tcp)?;
        stream.set_nodelay(true).map_err(ConnectError::Tcp)?;
        // tungstenite's default buffers are 128 KiB each per socket: far too
        // much at 20,000 sockets for frames of a few hundred bytes.
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: crate::wire::Frame =
                        serde_json::from_str(&text).map_err(|e| ConnectError::Other(e.to_string()))?;
                    if frame.kind == "connection_established" {
                        return Ok(ws);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(ConnectError::Closed(frame.map_or(1005, |f| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(ConnectError::Other(e.to_string())),
                None => return Err(ConnectError::Other("socket ended before connection_established".into())),
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_urls() {
        let api = Api::new("http://127.0.0.1:8000/").unwrap();
        assert_eq!(api.ws_url(3, "abc"), "ws://127.0.0.1:8000/ws/chat/3/?token=abc");
    }

    #[tokio::test]
    async fn resolves_the_server_address() {
        let api = Api::new("http://127.0.0.1:8123").unwrap();
        assert_eq!(api.resolve().await.unwrap(), "127.0.0.1:8123".parse().unwrap());
        assert!(Api::new("https://x").unwrap().resolve().await.is_err());
    }
}
