//! The sockets: `/ws/chat/{room_id}/` (one room) and `/ws/chat/` (every
//! room of the user, frames tagged with `"room"`). Each is a session task in
//! the shape of mini-redis' connection handler: authenticate, subscribe,
//! replay, then `select!` between the hub's frames, the client's frames, the
//! ping timer and shutdown.
//!
//! Refusals complete the handshake and then close with 4001 (not
//! authenticated), 4003 (not a developer, or not a member of a public room)
//! or 4004 (no such active room, or one the caller may not see); nothing about
//! the room is sent first.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::SinkExt;
use serde_json::Value;
use tracing::Instrument;

use super::event::{Frame, ServerEvent};
use super::hub::{CloseReason, FrameReceiver};
use crate::api::input::Path;
use crate::app::AppState;
use crate::auth::extract::{bearer_token, user_for_token};
use crate::auth::CurrentUser;
use crate::chat::messages::{self, Posted};
use crate::chat::{policy, rooms};
use crate::error::Error;
use crate::store::messages::Cursor;

/// Frames larger than this close the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// tungstenite reads into a buffer of this size (its default, 128 KiB, is
/// allocated and zero-filled per socket: most of an idle socket's memory).
/// Client frames are small; a larger one just takes several reads.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames collect in the write buffer until it holds this much, then go out
/// in one write; the rest of a batch goes out at its flush.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Queued frames written (and flushed) together: one syscall for up to this
/// many, instead of one each, while the queue stays fair to pings and reads.
const WRITE_BATCH: usize = 256;

/// Close codes of the contract.
mod close {
    pub const NOT_AUTHENTICATED: u16 = 4001;
    pub const FORBIDDEN: u16 = 4003;
    pub const NOT_FOUND: u16 = 4004;
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    pub const POLICY: u16 = 1008;
    pub const TRY_AGAIN: u16 = 1013;
}

/// What the handshake carried: the token (query or header) and the resume
/// point(s): `after=<id>` on a room socket, `after=<room>:<id>,...` on the user socket.
struct Handshake {
    token: Option<String>,
    after: Option<String>,
}

fn handshake(query: Option<&str>, headers: &HeaderMap) -> Handshake {
    let mut token = None;
    let mut after = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "token" => token = Some(value.into_owned()),
            "after" => after = Some(value.into_owned()),
            _ => {}
        }
    }
    let token = token.or_else(|| bearer_token(headers).ok().flatten().map(str::to_owned));
    Handshake { token, after }
}

/// Which kind of socket a session serves.
#[derive(Clone, Copy)]
enum Scope {
    /// `/ws/chat/{room_id}/`: one room; client frames are about it.
    Room(i64),
    /// `/ws/chat/`: every room of the user; frames carry `"room"`.
    User,
}

pub async fn room_socket(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(room_id): Path<i64>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let handshake = handshake(query.as_deref(), &headers);
    sized(ws).on_upgrade(move |socket| {
        let span = tracing::info_span!("socket", room_id, user_id = tracing::field::Empty);
        counted(run(socket, state, room_id, handshake)).instrument(span)
    })
}

/// `/ws/chat/`: one socket for every room of the user, plus their notifications.
pub async fn user_socket(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let handshake = handshake(query.as_deref(), &headers);
    sized(ws).on_upgrade(move |socket| {
        let span = tracing::info_span!("user_socket", user_id = tracing::field::Empty);
        counted(run_user(socket, state, handshake)).instrument(span)
    })
}

fn sized(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
}

async fn counted(session: impl std::future::Future<Output = ()>) {
    metrics::gauge!("ws_open_sockets").increment(1.0);
    session.await;
    metrics::gauge!("ws_open_sockets").decrement(1.0);
}

async fn close_with(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(WsMessage::Close(Some(frame))).await;
}

/// The user behind the handshake's token: 4001 without a valid one, 4003
/// for a user without the developer role.
async fn authenticate(state: &AppState, token: Option<&str>) -> Result<CurrentUser, (u16, &'static str)> {
    let token = token.ok_or((close::NOT_AUTHENTICATED, "not authenticated"))?;
    let user = user_for_token(state, token).await.map_err(|error| match error {
        Error::Unauthorized { .. } => (close::NOT_AUTHENTICATED, "not authenticated"),
        _ => (close::TRY_AGAIN, "try again later"),
    })?;
    if !user.is_developer() {
        return Err((close::FORBIDDEN, "not a developer"));
    }
    tracing::Span::current().record("user_id", user.id);
    Ok(user)
}

/// Who may open a room socket, as the policy decides it: the same rule as posting.
async fn admit(state: &AppState, room_id: i64, token: Option<&str>) -> Result<CurrentUser, (u16, &'static str)> {
    let user = authenticate(state, token).await?;
    let facts = rooms::facts(state.store.reader(), room_id, user.id, false).await;
    match facts.map(|f| policy::take_part(&f.access)) {
        Ok(Ok(())) => Ok(user),
        Ok(Err(Error::Forbidden(_))) => Err((close::FORBIDDEN, "not a member")),
        Ok(Err(_)) | Err(Error::NotFound) => Err((close::NOT_FOUND, "no such room")),
        // The database did not answer: not the client's fault, and no verdict on the room.
        Err(_) => Err((close::TRY_AGAIN, "try again later")),
    }
}

async fn run(mut socket: WebSocket, state: AppState, room_id: i64, handshake: Handshake) {
    // Setup steps are boxed: their futures (database queries) would otherwise
    // be sized into the session's state and kept for the socket's whole life.
    let user = match Box::pin(admit(&state, room_id, handshake.token.as_deref())).await {
        Ok(user) => user,
        Err((code, reason)) => return close_with(socket, code, reason).await,
    };
    // Subscribe before reading the room and the replay: whatever commits after
    // this point reaches the queue, whatever committed before is in the replay;
    // the overlap is dropped by message id below.
    let mut subscription = state.hub.subscribe(room_id, user.as_ref());
    let Ok(room) = Box::pin(rooms::get(&state.store, &user, room_id)).await else {
        return close_with(socket, close::NOT_FOUND, "no such room").await;
    };
    let established = ServerEvent::ConnectionEstablished {
        room: Box::new(room),
        user: user.as_ref(),
        online: subscription.online.clone(),
    };
    if send(&mut socket, &established.encode(Some(room_id)), Scope::Room(room_id))
        .await
        .is_err()
    {
        return;
    }
    let mut replayed = HashMap::new();
    if let Some(after) = handshake.after.as_deref().and_then(|a| a.trim().parse::<i64>().ok()) {
        match Box::pin(replay(&state, &user, room_id, after, Scope::Room(room_id), &mut socket)).await {
            Ok(last) => replayed.insert(room_id, last),
            Err(()) => return,
        };
    }
    let closed = subscription.close_flag();
    drive(
        socket,
        &state,
        &user,
        Scope::Room(room_id),
        &mut subscription.rx,
        &closed,
        replayed,
    )
    .await;
}

async fn run_user(mut socket: WebSocket, state: AppState, handshake: Handshake) {
    // Boxed setup steps, as in `run`.
    let user = match Box::pin(authenticate(&state, handshake.token.as_deref())).await {
        Ok(user) => user,
        Err((code, reason)) => return close_with(socket, code, reason).await,
    };
    let Ok(room_ids) = Box::pin(crate::store::members::active_room_ids(state.store.reader(), user.id)).await else {
        return close_with(socket, close::TRY_AGAIN, "try again later").await;
    };
    // Subscribed before the replay reads the store, as on the room socket.
    let mut subscription = state.hub.subscribe_user(user.as_ref(), &room_ids);
    let established = ServerEvent::UserConnectionEstablished {
        user: user.as_ref(),
        rooms: room_ids.clone(),
    };
    if send(&mut socket, &established.encode(None), Scope::User).await.is_err() {
        return;
    }
    let mut replayed = HashMap::new();
    for point in handshake.after.as_deref().unwrap_or_default().split(',') {
        let Some((room, after)) = point.split_once(':') else {
            continue;
        };
        let (Ok(room), Ok(after)) = (room.trim().parse::<i64>(), after.trim().parse::<i64>()) else {
            continue;
        };
        if !room_ids.contains(&room) {
            continue;
        }
        match Box::pin(replay(&state, &user, room, after, Scope::User, &mut socket)).await {
            Ok(last) => replayed.insert(room, last),
            Err(()) => return,
        };
    }
    let closed = subscription.close_flag();
    drive(
        socket,
        &state,
        &user,
        Scope::User,
        &mut subscription.rx,
        &closed,
        replayed,
    )
    .await;
}

/// Sends every live message after `after`, oldest first, or `resync_required`
/// when there are more than the configured maximum. Returns the last id sent.
async fn replay(
    state: &AppState,
    user: &CurrentUser,
    room_id: i64,
    after: i64,
    scope: Scope,
    socket: &mut WebSocket,
) -> Result<i64, ()> {
    let max = state.config.ws_resume_max;
    let page = messages::history(&state.store, user, room_id, || Ok((Cursor::After(after), max + 1)))
        .await
        .map_err(|_| ())?;
    metrics::counter!("ws_resumes_total").increment(1);
    if page.messages.len() as u64 > max {
        metrics::counter!("ws_resyncs_total").increment(1);
        send(socket, &ServerEvent::ResyncRequired.encode(Some(room_id)), scope)
            .await
            .map_err(|_| ())?;
        // The client refetches over REST; live frames continue from here.
        return Ok(page.messages.last().map_or(after, |m| m.id));
    }
    let mut last = after;
    for message in page.messages {
        last = message.id;
        let frame = ServerEvent::ChatMessage {
            message: Box::new(message),
        }
        .encode(Some(room_id));
        send(socket, &frame, scope).await.map_err(|_| ())?;
    }
    Ok(last)
}

/// Writes a frame; on the user socket a room's frames carry `"room"`.
async fn send(socket: &mut WebSocket, frame: &Frame, scope: Scope) -> Result<(), axum::Error> {
    socket.send(wire_text(frame, scope)).await
}

/// Writes what the hub queued, starting with `first`: every frame already
/// waiting (up to [`WRITE_BATCH`]) is fed into the socket's write buffer and
/// the lot flushed once. Returns when the newest `chat_message` was encoded,
/// for the fan-out latency metric.
async fn send_batch(
    socket: &mut WebSocket,
    queue: &mut FrameReceiver,
    first: Arc<Frame>,
    scope: Scope,
    replayed: &HashMap<i64, i64>,
) -> Result<Option<Instant>, axum::Error> {
    let mut newest_message = None;
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(frame) = next.take() {
        let already_sent = match (frame.message_id, frame.room) {
            (Some(id), Some(room)) => replayed.get(&room).is_some_and(|last| id <= *last),
            _ => false,
        };
        if !already_sent {
            if frame.kind == "chat_message" {
                newest_message = Some(frame.encoded_at);
            }
            socket.feed(wire_text(&frame, scope)).await?;
            fed += 1;
        }
        if fed < WRITE_BATCH {
            next = queue.try_recv().ok();
        }
    }
    socket.flush().await?;
    Ok(newest_message)
}

fn wire_text(frame: &Frame, scope: Scope) -> WsMessage {
    let text = match (scope, frame.room) {
        (Scope::User, Some(room)) => Utf8Bytes::from(format!(
            "{{\"room\":{room},{}",
            frame.text.as_str().strip_prefix('{').unwrap_or_default()
        )),
        _ => frame.text.clone(),
    };
    WsMessage::Text(text)
}

/// The session loop shared by both kinds of socket.
async fn drive(
    mut socket: WebSocket,
    state: &AppState,
    user: &CurrentUser,
    scope: Scope,
    queue: &mut FrameReceiver,
    closed: &OnceLock<CloseReason>,
    replayed: HashMap<i64, i64>,
) {
    let ping_every = Duration::from_secs(state.config.ws_ping_interval);
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut shutdown = state.shutdown.subscribe();
    // Looked up once: a metric lookup per frame shows up at 10^5 frames/s.
    // Both are sampled once per written batch.
    let write_delay = Duration::from_millis(state.config.ws_write_delay_ms);
    let queue_depth = metrics::histogram!("ws_queue_depth");
    let fanout_latency = metrics::histogram!("ws_fanout_latency_seconds");
    loop {
        // A user socket shares one queue among its rooms, so it does not end
        // when one room lets go of it: a slow consumer is caught here. (Other
        // verdicts end a room socket's queue after what was queued before.)
        if closed.get() == Some(&CloseReason::SlowConsumer) {
            let reason = CloseReason::SlowConsumer;
            return close_with(socket, reason.code(), reason.text()).await;
        }
        tokio::select! {
            frame = queue.recv() => match frame {
                Some(frame) => {
                    // Let the frames of the next few milliseconds join this one: in a
                    // busy room that turns one wake-up and one syscall per frame into
                    // one per batch, which is most of the cost of a delivery.
                    if !write_delay.is_zero() {
                        tokio::time::sleep(write_delay).await;
                    }
                    queue_depth.record(queue.len() as f64);
                    // A client that stops reading blocks the write once the kernel's
                    // buffers are full; past two ping intervals it is given up on.
                    let batch = send_batch(&mut socket, queue, frame, scope, &replayed);
                    match tokio::time::timeout(ping_every * 2, batch).await {
                        Ok(Ok(Some(encoded_at))) => fanout_latency.record(encoded_at.elapsed().as_secs_f64()),
                        Ok(Ok(None)) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            tracing::debug!("socket write stalled: dropping the connection");
                            return;
                        }
                    }
                }
                None => {
                    let (code, text) = closed.get().map_or((close::GOING_AWAY, "closed"), |r| (r.code(), r.text()));
                    return close_with(socket, code, text).await;
                }
            },
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        // Boxed: a post's future is large and would otherwise be part of
                        // every idle socket's state, for the socket's whole life.
                        let handled = Box::pin(handle_client_frame(state, user, scope, text.as_str()));
                        if let Some(reply) = handled.await {
                            if send(&mut socket, &reply, scope).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        let reply = error_frame("invalid_json", "Frames must be JSON text.");
                        if send(&mut socket, &reply, scope).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    Some(Ok(WsMessage::Close(_))) | None => return,
                    Some(Err(error)) => {
                        // tungstenite refuses frames over the limit with a capacity error.
                        let text = error.to_string().to_ascii_lowercase();
                        let too_big = text.contains("too long") || text.contains("capacity");
                        let (code, reason) = if too_big { (close::TOO_BIG, "frame too large") } else { (close::POLICY, "protocol error") };
                        return close_with(socket, code, reason).await;
                    }
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > ping_every * 2 {
                    tracing::debug!("socket stopped answering: closing");
                    return close_with(socket, close::GOING_AWAY, "ping timeout").await;
                }
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    return;
                }
            },
            _ = stopping(&mut shutdown) => {
                return close_with(socket, close::GOING_AWAY, "server shutting down").await;
            },
        }
    }
}

/// Completes once the server is shutting down, including when it began
/// before this session subscribed.
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let already = *shutdown.borrow_and_update();
    if !already {
        let _ = shutdown.changed().await;
    }
}

fn error_frame(code: &'static str, detail: impl Into<String>) -> Frame {
    // Errors answer one socket's frame; they carry no room.
    ServerEvent::Error {
        code,
        detail: detail.into(),
    }
    .encode(None)
}

/// A domain error as an `error` frame (the socket stays open).
fn error_to_frame(error: &Error) -> Frame {
    match error {
        Error::Invalid(fields) => error_frame("invalid_field", serde_json::to_string(fields).unwrap_or_default()),
        Error::RateLimited { .. } => error_frame("rate_limited", "Too many messages: slow down."),
        Error::Forbidden(detail) => error_frame("forbidden", detail.clone()),
        Error::NotFound => error_frame("not_found", "Not found."),
        other => error_frame(
            "server_error",
            other.body()["detail"].as_str().unwrap_or("error").to_owned(),
        ),
    }
}

/// Handles one client frame; returns the frame to answer with, if any (the
/// effects of a message or a read reach every socket through the hub).
async fn handle_client_frame(state: &AppState, user: &CurrentUser, scope: Scope, text: &str) -> Option<Frame> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return Some(error_frame("invalid_json", "Frames must be JSON objects."));
    };
    let kind = map
        .remove("type")
        .and_then(|t| t.as_str().map(str::to_owned))
        .unwrap_or_default();
    let label = match kind.as_str() {
        known @ ("ping" | "typing" | "chat_message" | "mark_read") => known.to_owned(),
        _ => "unknown".to_owned(),
    };
    metrics::counter!("ws_frames_in_total", "type" => label).increment(1);
    // On the user socket a frame names its room, which must be one of the user's.
    let room_id = match scope {
        Scope::Room(room_id) => room_id,
        Scope::User if kind == "ping" => 0,
        Scope::User => {
            let Some(room_id) = map.remove("room").and_then(|r| r.as_i64()) else {
                return Some(error_to_frame(&Error::field("room", "This field is required.")));
            };
            let member = rooms::facts(state.store.reader(), room_id, user.id, false)
                .await
                .is_ok_and(|f| policy::take_part(&f.access).is_ok());
            if !member {
                return Some(error_frame("not_a_member", "You are not a member of this room."));
            }
            room_id
        }
    };
    match kind.as_str() {
        "ping" => Some(ServerEvent::Pong.encode(None)),
        "typing" => {
            let Some(is_typing) = map.get("is_typing").and_then(Value::as_bool) else {
                return Some(error_to_frame(&Error::field("is_typing", "Must be true or false.")));
            };
            let frame = ServerEvent::Typing {
                user: user.as_ref(),
                is_typing,
            }
            .encode(Some(room_id));
            state.hub.publish_to_others(room_id, &frame, user.id);
            None
        }
        "chat_message" => {
            if let Err(retry) = state.rate_limiter.check(user.id) {
                return Some(error_to_frame(&Error::RateLimited {
                    retry_after_secs: retry,
                }));
            }
            let body = crate::api::input::JsonObject(map);
            let input = move || crate::api::messages::message_input(body);
            match messages::post_detached(state, user, room_id, input).await {
                // The echo of a new message comes through the hub, in order.
                Ok((_, Posted::Created)) => None,
                // A retried client_id stores nothing and broadcasts nothing: the
                // sender alone gets the first message back, as its acknowledgement.
                Ok((message, Posted::Duplicate)) => {
                    let message = Box::new(message);
                    Some(ServerEvent::ChatMessage { message }.encode(Some(room_id)))
                }
                Err(error) => Some(error_to_frame(&error)),
            }
        }
        "mark_read" => {
            let Some(message_id) = map.get("message_id").and_then(Value::as_i64) else {
                return Some(error_to_frame(&Error::field(
                    "message_id",
                    "A valid integer is required.",
                )));
            };
            match messages::mark_read(&state.store, &state.hub, user, message_id).await {
                Ok(_) => None,
                Err(error) => Some(error_to_frame(&error)),
            }
        }
        "" => Some(error_frame("unknown_type", "A frame needs a \"type\".")),
        other => Some(error_frame(
            "unknown_type",
            format!("Unknown frame type \"{}\".", other.chars().take(50).collect::<String>()),
        )),
    }
}
