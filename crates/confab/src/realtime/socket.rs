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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::SinkExt;
use tracing::Instrument;

use super::client_frame::{self, ClientFrame};
use super::cluster::ClusterSocket;
use super::frame::Frame;
use super::hub::{CloseFlag, CloseReason, FrameReceiver, FrameSender};
use crate::api::input::Path;
use crate::app::AppState;
use crate::auth::extract::{bearer_token, user_for_token};
use crate::auth::CurrentUser;
use crate::chat::changes::{self, Replay};
use crate::chat::events::ServerEvent;
use crate::chat::outbox::Outbox;
use crate::chat::posting::{self, NewMessageInput, Posted};
use crate::chat::types::Message;
use crate::chat::{messages, policy, rooms};
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

/// How long a close frame may take to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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
/// point(s): `after=<id>` (messages after an id) or `since=<change_seq>`
/// (every history change after a change number) on a room socket,
/// `after=<room>:<id>,...` or `since=<room>:<change_seq>,...` on the user
/// socket. A room named in both resumes by `since`, which covers what `after` would replay.
struct Handshake {
    token: Option<String>,
    after: Option<String>,
    since: Option<String>,
}

fn handshake(query: Option<&str>, headers: &HeaderMap) -> Handshake {
    let mut token = None;
    let mut after = None;
    let mut since = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "token" => token = Some(value.into_owned()),
            "after" => after = Some(value.into_owned()),
            "since" => since = Some(value.into_owned()),
            _ => {}
        }
    }
    let token = token.or_else(|| bearer_token(headers).ok().flatten().map(str::to_owned));
    Handshake { token, after, since }
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
    if let Err(refused) = check_origin(&headers, &state.config.cors_origins) {
        return axum::response::IntoResponse::into_response(refused);
    }
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
    if let Err(refused) = check_origin(&headers, &state.config.cors_origins) {
        return axum::response::IntoResponse::into_response(refused);
    }
    let handshake = handshake(query.as_deref(), &headers);
    sized(ws).on_upgrade(move |socket| {
        let span = tracing::info_span!("user_socket", user_id = tracing::field::Empty);
        counted(run_user(socket, state, handshake)).instrument(span)
    })
}

/// Browsers send `Origin` with every WebSocket handshake and, unlike for
/// `fetch`, apply no same-origin rule to it: without this check any page a
/// user visits could open a socket with a token it got hold of. Allowed: the
/// server's own origin (same host as the request's `Host`) and
/// `cors_origins`. Clients that send no `Origin` (scripts, bots) are not
/// browsers and stay allowed; their token is what authenticates them.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Error> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let same_host = url::Url::parse(origin).ok().is_some_and(|url| {
        let authority = match (url.host_str(), url.port()) {
            (Some(name), Some(port)) => format!("{name}:{port}"),
            (Some(name), None) => name.to_owned(),
            _ => return false,
        };
        // `Host` omits the default port; the origin's `port()` does too.
        authority.eq_ignore_ascii_case(host)
    });
    if same_host || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    metrics::counter!("ws_origin_refused_total").increment(1);
    Err(Error::Forbidden("This origin may not open sockets here.".into()))
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

/// Sends a close frame, waiting at most [`CLOSE_TIMEOUT`] for a client
/// that does not read; the connection is dropped either way.
async fn close_with(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(WsMessage::Close(Some(frame)))).await;
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
    let Some(_slots) = Box::pin(take_socket_slots(&state, user.id)).await else {
        return close_with(socket, close::TRY_AGAIN, "too many sockets").await;
    };
    let stall = stall_timeout(&state);
    // Subscribe before reading the room and the replay: whatever commits after
    // this point reaches the queue, whatever committed before is in the replay;
    // the overlap is dropped by message id below.
    let mut subscription = state.hub.subscribe(room_id, user.as_ref());
    if let Some(cluster) = &state.cluster {
        Box::pin(cluster.watch(&[room_id])).await;
        subscription.online = Box::pin(cluster.online(room_id)).await;
    }
    let Ok(room) = Box::pin(rooms::get(&state.store, &user, room_id)).await else {
        return close_with(socket, close::NOT_FOUND, "no such room").await;
    };
    let established = ServerEvent::ConnectionEstablished {
        room: Box::new(room),
        user: user.as_ref(),
        // Taken, not cloned: kept for the socket's life it would cost a user list per socket.
        online: std::mem::take(&mut subscription.online),
    };
    let scope = Scope::Room(room_id);
    if send(&mut socket, &encode(&established, Some(room_id)), scope, stall)
        .await
        .is_err()
    {
        return;
    }
    let mut replayed = HashMap::new();
    let point = |text: &Option<String>| text.as_deref().and_then(|a| a.trim().parse::<i64>().ok());
    let resume = match (point(&handshake.since), point(&handshake.after)) {
        (Some(since), _) => Some(Resume {
            room_id,
            from: Resumed::Since(since),
            scope,
        }),
        (None, Some(after)) => Some(Resume {
            room_id,
            from: Resumed::After(after),
            scope,
        }),
        (None, None) => None,
    };
    if let Some(resume) = resume {
        let mut budget = state.config.ws_resume_max;
        match Box::pin(replay(&state, &user, resume, &mut budget, &mut socket)).await {
            Ok(last) => replayed.insert(room_id, last),
            Err(()) => return,
        };
    }
    let closed = subscription.close_flag();
    let answers = Answers::new(subscription.tx.clone(), closed.clone());
    drive(
        socket,
        &state,
        &user,
        scope,
        (&mut subscription.rx, answers),
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
    let Some(_slots) = Box::pin(take_socket_slots(&state, user.id)).await else {
        return close_with(socket, close::TRY_AGAIN, "too many sockets").await;
    };
    let stall = stall_timeout(&state);
    let Ok(room_ids) = Box::pin(crate::store::members::active_room_ids(state.store.reader(), user.id)).await else {
        return close_with(socket, close::TRY_AGAIN, "try again later").await;
    };
    // Subscribed before the replay reads the store, as on the room socket.
    let mut subscription = state.hub.subscribe_user(user.as_ref(), &room_ids);
    if let Some(cluster) = &state.cluster {
        Box::pin(cluster.watch(&room_ids)).await;
    }
    let established = ServerEvent::UserConnectionEstablished {
        user: user.as_ref(),
        rooms: room_ids.clone(),
    };
    if send(&mut socket, &encode(&established, None), Scope::User, stall)
        .await
        .is_err()
    {
        return;
    }
    let mut replayed = HashMap::new();
    // One replay per room of the user's, however often the client names it,
    // all of them together at most `ws_resume_max` messages.
    let mut budget = state.config.ws_resume_max;
    // A room named in `since` resumes by change number, one named only in `after` by message id.
    let mut points: std::collections::BTreeMap<i64, Resumed> =
        resume_points(handshake.after.as_deref().unwrap_or_default(), &room_ids)
            .into_iter()
            .map(|(room, after)| (room, Resumed::After(after)))
            .collect();
    for (room, since) in resume_points(handshake.since.as_deref().unwrap_or_default(), &room_ids) {
        points.insert(room, Resumed::Since(since));
    }
    for (room_id, from) in points {
        let resume = Resume {
            room_id,
            from,
            scope: Scope::User,
        };
        match Box::pin(replay(&state, &user, resume, &mut budget, &mut socket)).await {
            Ok(last) => replayed.insert(room_id, last),
            Err(()) => return,
        };
    }
    let closed = subscription.close_flag();
    let answers = Answers::new(subscription.tx.clone(), closed.clone());
    drive(
        socket,
        &state,
        &user,
        Scope::User,
        (&mut subscription.rx, answers),
        &closed,
        replayed,
    )
    .await;
}

/// A place for one more socket of `user` (`ws_max_sockets_per_user`): on
/// this node, and in a cluster across all nodes. Held for the socket's life.
async fn take_socket_slots(state: &AppState, user: i64) -> Option<(crate::limits::Slot<i64>, Option<ClusterSocket>)> {
    let here = state.limits.sockets_per_user.try_take(user)?;
    let cluster = match &state.cluster {
        Some(cluster) => Some(cluster.take_socket(user).await?),
        None => None,
    };
    Some((here, cluster))
}

/// Spends one of `user`'s socket budget, a post's (`ws_message_rate`) or any
/// other frame's (`ws_frame_rate`): this node's, then in a cluster the
/// cluster's. `Err` holds the seconds to wait.
async fn spend_budget(state: &AppState, user: i64, post: bool) -> Result<(), u64> {
    let config = &state.config;
    let (here, name, rate, burst) = if post {
        (
            &state.limits.socket_posts,
            "posts",
            config.ws_message_rate,
            config.ws_message_burst,
        )
    } else {
        (
            &state.limits.socket_frames,
            "frames",
            config.ws_frame_rate,
            config.ws_frame_burst,
        )
    };
    here.check(&user)?;
    match &state.cluster {
        Some(cluster) => cluster.spend(name, user, rate, burst).await,
        None => Ok(()),
    }
}

/// The user socket's `after=<room>:<id>,...` (or `since=`): one point per
/// room (the earliest, when a room is named twice), only rooms of the
/// user's, in room order.
fn resume_points(after: &str, room_ids: &[i64]) -> std::collections::BTreeMap<i64, i64> {
    let mut points = std::collections::BTreeMap::new();
    for point in after.split(',') {
        let Some((room, after)) = point.split_once(':') else {
            continue;
        };
        let (Ok(room), Ok(after)) = (room.trim().parse::<i64>(), after.trim().parse::<i64>()) else {
            continue;
        };
        if room_ids.contains(&room) {
            let earliest: &mut i64 = points.entry(room).or_insert(after);
            *earliest = (*earliest).min(after);
        }
    }
    points
}

/// Where a socket resumes one room.
struct Resume {
    room_id: i64,
    from: Resumed,
    scope: Scope,
}

/// How far a socket's replay of a room went, so the live frames queued
/// meanwhile that it already covered are dropped.
#[derive(Clone, Copy, Debug)]
enum Resumed {
    /// Messages up to this id were sent (`after=`).
    After(i64),
    /// Changes up to this number were sent (`since=`).
    Since(i64),
}

impl Resumed {
    fn covers(self, frame: &Frame) -> bool {
        match self {
            Resumed::After(last) => frame.message_id.is_some_and(|id| id <= last),
            Resumed::Since(last) => frame.change_seq.is_some_and(|seq| seq <= last),
        }
    }
}

/// Sends what the socket missed of a room, or `resync_required` when that
/// is more than the `budget` left for this connection (which it spends).
/// Returns how far it went.
async fn replay(
    state: &AppState,
    user: &CurrentUser,
    Resume { room_id, from, scope }: Resume,
    budget: &mut u64,
    socket: &mut WebSocket,
) -> Result<Resumed, ()> {
    let stall = stall_timeout(state);
    metrics::counter!("ws_resumes_total").increment(1);
    let resync = encode(&ServerEvent::ResyncRequired, Some(room_id));
    if *budget == 0 {
        // Spent on other rooms: no query, the client refetches over REST.
        metrics::counter!("ws_resyncs_total").increment(1);
        send(socket, &resync, scope, stall).await?;
        return Ok(from);
    }
    let after = match from {
        Resumed::After(after) => after,
        Resumed::Since(since) => return replay_changes(state, user, (room_id, since, scope), budget, socket).await,
    };
    let max = *budget;
    let page = messages::history(&state.store, user, room_id, || Ok((Cursor::After(after), max + 1)))
        .await
        .map_err(|_| ())?;
    if page.messages.len() as u64 > max {
        *budget = 0;
        metrics::counter!("ws_resyncs_total").increment(1);
        send(socket, &resync, scope, stall).await?;
        // The client refetches over REST; live frames continue from here.
        return Ok(Resumed::After(page.messages.last().map_or(after, |m| m.id)));
    }
    *budget -= page.messages.len() as u64;
    let mut last = after;
    for message in page.messages {
        last = message.id;
        send(
            socket,
            &encode(&ServerEvent::chat_message(message), Some(room_id)),
            scope,
            stall,
        )
        .await?;
    }
    Ok(Resumed::After(last))
}

/// [`replay`] from a change number: every history change after it, in order.
async fn replay_changes(
    state: &AppState,
    user: &CurrentUser,
    (room_id, since, scope): (i64, i64, Scope),
    budget: &mut u64,
    socket: &mut WebSocket,
) -> Result<Resumed, ()> {
    let stall = stall_timeout(state);
    match changes::since(&state.store, user, room_id, since, *budget).await {
        Ok(Replay::Changes { events, up_to }) => {
            *budget -= events.len() as u64;
            for event in events {
                send(socket, &encode(&event, Some(room_id)), scope, stall).await?;
            }
            Ok(Resumed::Since(up_to))
        }
        Ok(Replay::TooMany { up_to }) => {
            *budget = 0;
            metrics::counter!("ws_resyncs_total").increment(1);
            send(
                socket,
                &encode(&ServerEvent::ResyncRequired, Some(room_id)),
                scope,
                stall,
            )
            .await?;
            Ok(Resumed::Since(up_to))
        }
        Err(_) => Err(()),
    }
}

/// Encodes a frame that answers one socket only (no fan-out).
fn encode(event: &ServerEvent, room: Option<i64>) -> Frame {
    Frame::encode(event, room, None)
}

/// Writes a frame; on the user socket a room's frames carry `"room"`. A
/// client that has not taken it within `stall` is given up on.
async fn send(socket: &mut WebSocket, frame: &Frame, scope: Scope, stall: Duration) -> Result<(), ()> {
    match tokio::time::timeout(stall, socket.send(wire_text(frame, scope))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

/// How long one write may wait for a client that stopped reading: two ping
/// intervals, as for a client that stopped answering.
fn stall_timeout(state: &AppState) -> Duration {
    Duration::from_secs(state.config.ws_ping_interval) * 2
}

fn wire_text(frame: &Frame, scope: Scope) -> WsMessage {
    match scope {
        Scope::User => WsMessage::Text(frame.tagged_text()),
        Scope::Room(_) => WsMessage::Text(frame.text.clone()),
    }
}

/// What a session writes in one go: the frames queued for it (starting with
/// `first`, then whatever else is waiting, up to [`WRITE_BATCH`]), fed into
/// the write buffer and flushed once.
struct Batch<'a> {
    queue: &'a mut FrameReceiver,
    scope: Scope,
    replayed: &'a HashMap<i64, Resumed>,
}

impl Batch<'_> {
    /// Returns when the newest `chat_message` written was encoded, for the
    /// fan-out latency metric.
    async fn write(
        &mut self,
        socket: &mut WebSocket,
        first: Option<Arc<Frame>>,
    ) -> Result<Option<Instant>, axum::Error> {
        let mut newest_message = None;
        let mut next = first.or_else(|| self.queue.try_recv().ok());
        let mut fed = 0;
        while let Some(frame) = next.take() {
            let already_sent = frame
                .room
                .and_then(|room| self.replayed.get(&room))
                .is_some_and(|resumed| resumed.covers(&frame));
            if !already_sent {
                if frame.kind == "chat_message" {
                    newest_message = Some(frame.encoded_at);
                }
                socket.feed(wire_text(&frame, self.scope)).await?;
                fed += 1;
            }
            if fed < WRITE_BATCH {
                next = self.queue.try_recv().ok();
            }
        }
        socket.flush().await?;
        Ok(newest_message)
    }
}

/// How a session answers its own client: through its own queue, behind
/// whatever the hub queued before. The pipeline answers a post after its
/// commit, right after publishing its events and before those of the posts
/// behind it, so the client sees its echoes and errors in the order it sent
/// the frames.
#[derive(Clone)]
struct Answers {
    queue: FrameSender,
    /// Cut off as a slow consumer when even an answer no longer fits.
    closed: Arc<CloseFlag>,
    /// Frames whose answer is still to come (posts waiting for their commit,
    /// reads being written)...
    in_flight: Arc<AtomicUsize>,
    /// ...and a wake-up each time one is answered, for a session that
    /// stopped reading at `ws_max_in_flight`.
    answered: Arc<tokio::sync::Notify>,
}

impl Answers {
    fn new(queue: FrameSender, closed: Arc<CloseFlag>) -> Self {
        Self {
            queue,
            closed,
            in_flight: Arc::default(),
            answered: Arc::default(),
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// A frame whose answer comes later: answer it through the returned
    /// [`Pending`]. Dropped unanswered (its job was lost), it answers
    /// `server_error`, so the count always comes down.
    fn begin(&self) -> Pending {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Pending {
            answers: self.clone(),
            answered: false,
        }
    }

    fn send(&self, answer: Option<Frame>) {
        if let Some(answer) = answer {
            if self.queue.try_send(Arc::new(answer)).is_err() {
                // As the hub does with a full queue: a client this far behind
                // is cut off (1013) rather than silently missing an answer.
                self.closed.set(CloseReason::SlowConsumer);
            }
        }
    }
}

/// One frame's answer still to come.
struct Pending {
    answers: Answers,
    answered: bool,
}

impl Pending {
    fn finish(mut self, answer: Option<Frame>) {
        self.answered = true;
        self.answers.send(answer);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.answered {
            self.answers
                .send(Some(error_frame("server_error", "The frame could not be handled.")));
        }
        self.answers.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.answers.answered.notify_one();
    }
}

/// The session loop shared by both kinds of socket.
///
/// Client frames are pipelined: a `chat_message` goes into the post pipeline
/// and the socket reads on without waiting for its commit, up to
/// `ws_max_in_flight` frames awaiting an answer. Every frame the socket
/// writes, answers included, comes out of its one queue.
async fn drive(
    mut socket: WebSocket,
    state: &AppState,
    user: &CurrentUser,
    scope: Scope,
    (queue, answers): (&mut FrameReceiver, Answers),
    closed: &CloseFlag,
    replayed: HashMap<i64, Resumed>,
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
    let max_in_flight = state.config.ws_max_in_flight;
    let mut batch = Batch {
        queue,
        scope,
        replayed: &replayed,
    };
    // A client that stops reading blocks a write once the kernel's buffers
    // are full; past two ping intervals it is given up on.
    let stall = stall_timeout(state);
    loop {
        tokio::select! {
            reason = closed.cut_off() => {
                // A slow consumer and a revoked user are cut off at once; other
                // verdicts (removed, room deleted) come after what was queued
                // before them (`member_removed`).
                if matches!(reason, CloseReason::Removed | CloseReason::RoomClosed) {
                    let _ = tokio::time::timeout(stall, batch.write(&mut socket, None)).await;
                }
                return close_with(socket, reason.code(), reason.text()).await;
            }
            frame = batch.queue.recv() => {
                let Some(frame) = frame else {
                    return close_with(socket, close::GOING_AWAY, "closed").await;
                };
                // Let the frames of the next few milliseconds join this one: in a
                // busy room that turns one wake-up and one syscall per frame into
                // one per batch, which is most of the cost of a delivery.
                if !write_delay.is_zero() {
                    tokio::time::sleep(write_delay).await;
                }
                queue_depth.record(batch.queue.len() as f64);
                match tokio::time::timeout(stall, batch.write(&mut socket, Some(frame))).await {
                    Ok(Ok(Some(encoded_at))) => fanout_latency.record(encoded_at.elapsed().as_secs_f64()),
                    Ok(Ok(None)) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::debug!("socket write stalled: dropping the connection");
                        return;
                    }
                }
            }
            // Past the limit the client is not read until an answer comes.
            _ = answers.answered.notified(), if answers.in_flight() >= max_in_flight => {}
            incoming = socket.recv(), if answers.in_flight() < max_in_flight => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        // Boxed: handling a frame is a large future that would otherwise
                        // be part of every idle socket's state, for the socket's whole life.
                        Box::pin(handle_client_frame(state, user, scope, text.as_str(), &answers)).await;
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        let answer = match state.limits.socket_frames.check(&user.id) {
                            Ok(()) => error_frame("invalid_json", "Frames must be JSON text."),
                            Err(retry_after_secs) => error_to_frame(&Error::RateLimited { retry_after_secs }),
                        };
                        answers.send(Some(answer));
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
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > stall {
                    tracing::debug!("socket stopped answering: closing");
                    return close_with(socket, close::GOING_AWAY, "ping timeout").await;
                }
                match tokio::time::timeout(stall, socket.send(WsMessage::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return,
                }
            }
            _ = stopping(&mut shutdown) => {
                return close_with(socket, close::GOING_AWAY, "server shutting down").await;
            }
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
    let event = ServerEvent::Error {
        code,
        detail: detail.into(),
    };
    encode(&event, None)
}

/// A domain error as an `error` frame (the socket stays open).
fn error_to_frame(error: &Error) -> Frame {
    match error {
        Error::Invalid(fields) => error_frame("invalid_field", serde_json::to_string(fields).unwrap_or_default()),
        Error::RateLimited { retry_after_secs } => error_frame(
            "rate_limited",
            format!("Too many frames: slow down (try again in {retry_after_secs} s)."),
        ),
        Error::Forbidden(detail) => error_frame("forbidden", detail.clone()),
        Error::NotFound => error_frame("not_found", "Not found."),
        other => error_frame(
            "server_error",
            other.body()["detail"].as_str().unwrap_or("error").to_owned(),
        ),
    }
}

/// Handles one client frame. Its answer, if any, goes into the socket's queue
/// (the effects of a message or a read reach every socket through the hub).
/// Returns once the frame is underway: a post once it is queued for its commit.
///
/// Every frame spends the user's budget: a message `ws_message_rate` (in its
/// lane, below), anything else `ws_frame_rate`, invalid frames included.
async fn handle_client_frame(state: &AppState, user: &CurrentUser, scope: Scope, text: &str, answers: &Answers) {
    let parsed = client_frame::parse(text);
    let is_post = matches!(&parsed, Ok(incoming) if matches!(incoming.frame, Ok(ClientFrame::ChatMessage(_))));
    if !is_post {
        if let Err(retry_after_secs) = spend_budget(state, user.id, false).await {
            return answers.send(Some(error_to_frame(&Error::RateLimited { retry_after_secs })));
        }
    }
    let incoming = match parsed {
        Ok(incoming) => incoming,
        Err(refused) => {
            metrics::counter!("ws_frames_in_total", "type" => "unknown").increment(1);
            return answers.send(Some(error_frame(refused.code, refused.detail)));
        }
    };
    metrics::counter!("ws_frames_in_total", "type" => incoming.kind).increment(1);
    // On the user socket a frame names its room, which must be one of the
    // user's. (A post's membership is checked by the pipeline, with the rest.)
    let room_id = match (scope, &incoming.frame) {
        (Scope::Room(room_id), _) => room_id,
        (Scope::User, Ok(ClientFrame::Ping)) => 0,
        (Scope::User, frame) => {
            let Some(room_id) = incoming.room else {
                return answers.send(Some(error_to_frame(&Error::field("room", "This field is required."))));
            };
            if !matches!(frame, Ok(ClientFrame::ChatMessage(_))) {
                let member = rooms::facts(state.store.reader(), room_id, user.id, false)
                    .await
                    .is_ok_and(|f| policy::take_part(&f.access).is_ok());
                if !member {
                    return answers.send(Some(not_a_member()));
                }
            }
            room_id
        }
    };
    let frame = match incoming.frame {
        Ok(frame) => frame,
        Err(error) => return answers.send(Some(error_to_frame(&error))),
    };
    match frame {
        ClientFrame::Ping => answers.send(Some(encode(&ServerEvent::Pong, None))),
        ClientFrame::Typing { is_typing } => {
            // Coalesced per user and room, across the user's sockets.
            if !state.limits.typing.admit(user.id, room_id, is_typing) {
                return;
            }
            let mut outbox = Outbox::new();
            let event = ServerEvent::Typing {
                user: user.as_ref(),
                is_typing,
            };
            outbox.to_others(room_id, user.id, event);
            state.publisher().publish(outbox);
        }
        ClientFrame::ChatMessage(fields) => {
            let pending = answers.begin();
            let reply = move |result: Result<(Message, Posted), Error>| {
                let answer = match result {
                    // The echo of a new message comes through the hub, in order.
                    Ok((_, Posted::Created)) => None,
                    // A retried client_id stores nothing and broadcasts nothing: the
                    // sender alone gets the first message back, as its acknowledgement.
                    Ok((message, Posted::Duplicate)) => {
                        Some(encode(&ServerEvent::chat_message(message), Some(room_id)))
                    }
                    Err(Error::Forbidden(_) | Error::NotFound) if matches!(scope, Scope::User) => Some(not_a_member()),
                    Err(error) => Some(error_to_frame(&error)),
                };
                pending.finish(answer);
            };
            // Over the budget, the post is refused in its lane without a
            // transaction, so its answer keeps its place among the others.
            let queued = match spend_budget(state, user.id, true).await {
                Ok(()) => {
                    let input = move || NewMessageInput::read(fields);
                    posting::enqueue(&state.posts, user, room_id, input, reply).await
                }
                Err(retry_after_secs) => {
                    let refusal = Error::RateLimited { retry_after_secs };
                    posting::enqueue_refusal(&state.posts, user, room_id, refusal, reply).await
                }
            };
            if let Err(error) = queued {
                // The lane is gone (shutting down): the reply was dropped with
                // its job and has answered `server_error`.
                tracing::debug!(%error, "a post could not be queued");
            }
        }
        ClientFrame::MarkRead { message_id } => {
            let pending = answers.begin();
            let (state, user) = (state.clone(), user.clone());
            tokio::spawn(async move {
                let read = messages::mark_read(&state.store, state.publisher(), &user, message_id).await;
                pending.finish(read.err().map(|error| error_to_frame(&error)));
            });
        }
    }
}

fn not_a_member() -> Frame {
    error_frame("not_a_member", "You are not a member of this room.")
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever `after=` holds, the replay covers only the user's rooms,
        /// each once, from the earliest point named for it.
        #[test]
        fn resume_points_are_bounded_by_the_users_rooms(
            after in "[0-9:,\\- a-z]{0,300}",
            pairs in prop::collection::vec((0i64..20, any::<i64>()), 0..50),
            rooms in prop::collection::vec(0i64..20, 0..10),
        ) {
            let listed: Vec<String> = pairs.iter().map(|(room, id)| format!("{room}:{id}")).collect();
            let text = format!("{after},{}", listed.join(","));
            let points = resume_points(&text, &rooms);
            prop_assert!(points.len() <= rooms.len());
            for (room, from) in &points {
                prop_assert!(rooms.contains(room));
                let earliest = pairs.iter().filter(|(r, _)| r == room).map(|(_, id)| *id).min();
                if let Some(earliest) = earliest {
                    prop_assert!(*from <= earliest);
                }
            }
        }
    }

    #[test]
    fn origins_are_checked_against_the_host_and_the_list() {
        let headers = |origin: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("host", "chat.example.com:8000".parse().unwrap());
            headers.insert("origin", origin.parse().unwrap());
            headers
        };
        let allowed = vec!["https://app.example.com".to_owned()];
        assert!(check_origin(&headers("http://chat.example.com:8000"), &allowed).is_ok());
        assert!(check_origin(&headers("https://app.example.com"), &allowed).is_ok());
        assert!(check_origin(&headers("http://chat.example.com"), &allowed).is_err());
        assert!(check_origin(&headers("http://evil.example"), &allowed).is_err());
        assert!(check_origin(&headers("null"), &allowed).is_err());
        assert!(
            check_origin(&HeaderMap::new(), &allowed).is_ok(),
            "no Origin: not a browser"
        );
    }
}
