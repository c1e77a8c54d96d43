//! Several nodes as one server: the Redis backplane.
//!
//! With `redis_url` set, every node publishes what its use cases caused to
//! Redis and applies what the others published, so a client sees the same
//! events whichever node its socket or its requests land on. The database
//! stays the truth: Redis only carries notices, and may lose them.
//!
//! - **Channels** are few and fixed: `<prefix>:events:<n>` for `n` below
//!   `redis_partitions`. A notice goes to the partition of its room (or, for
//!   what is addressed to one user, of that user), so one room's notices
//!   keep their order. Each node subscribes to every partition on one
//!   connection and drops, before any work, events for rooms and users it
//!   has no socket for.
//! - **Order and gaps**: each partition is applied by one task, the
//!   [`sequencer`], which drops duplicates and fills gaps in a room's
//!   message sequence from the database. A node's own notices take the same
//!   path (not the round trip through Redis), so they keep their place
//!   among the others'.
//! - **Presence** is cluster-wide ([`presence`]): Redis holds who is online
//!   where, each node refreshes a heartbeat key with a TTL, and the nodes
//!   reap the entries of one whose key expired.
//! - **Budgets** ([`budgets`]): sockets per user and socket frame rates are
//!   counted in Redis, on top of each node's own counts.
//! - **Outage**: each node goes on serving its own sockets and REST, says
//!   so at `/readyz`, reconnects with backoff, and once subscribed again
//!   catches every room up from the database.
//!
//! The `redis` crate's pub/sub connection does not reconnect by itself and
//! hands messages over through an unbounded channel: the listener here
//! reconnects, pings, and drains that channel at once into bounded queues.

mod budgets;
mod presence;
mod sequencer;
pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use self::budgets::ClusterSocket;
use self::presence::Presence;
use self::sequencer::{Partition, Sequencer, Work};
use self::wire::{Delivery, Envelope};
use super::backplane::Backplane;
use super::hub::{Hub, PresenceChanges};
use crate::chat::outbox::{Audience, Notice, Outbox};
use crate::chat::types::UserRef;
use crate::config::Config;
use crate::store::{self, Store};

/// How long one Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Envelopes published in one pipelined round trip, at most.
const PUBLISH_BATCH: usize = 256;
/// How long leaving the cluster may take: announcing, publishing what is queued.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection backoff of the subscriber: from the first to the last delay, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_LAST: Duration = Duration::from_secs(5);

/// What the publish loop is given, in order.
enum Outgoing {
    /// One envelope for the partition's channel.
    Publish { partition: usize, payload: String },
    /// Answered once everything queued before has been published (or given up on).
    Flush(tokio::sync::oneshot::Sender<()>),
}

fn answer(flushes: &mut Vec<tokio::sync::oneshot::Sender<()>>) {
    for done in flushes.drain(..) {
        // The one waiting may have given up: nothing to tell.
        let _ = done.send(());
    }
}

/// This node's part in the cluster. One per process; cheap to share.
pub struct Cluster {
    /// Random at each start: a restarted node is a new node, and the entries
    /// of the old one are reaped once its heartbeat expires.
    node: String,
    prefix: String,
    hub: Hub,
    store: Store,
    client: redis::Client,
    /// Commands and publications; reconnects by itself.
    redis: ConnectionManager,
    channels: Vec<String>,
    partitions: Vec<Arc<Partition>>,
    /// Envelopes waiting to be published, in order.
    outgoing: mpsc::Sender<Outgoing>,
    presence_changes: Arc<PresenceChanges>,
    /// The presence task's state; `leave` takes it for a last run.
    presence: tokio::sync::Mutex<Presence>,
    /// Set after (re)subscribing: every presence entry of this node is written again.
    presence_rewrite: AtomicBool,
    /// The subscriber connection is up and subscribed...
    subscribed: AtomicBool,
    /// ...and the last command (heartbeat, publication) went through.
    commands_ok: AtomicBool,
    heartbeat: Duration,
    node_ttl: Duration,
    /// Most messages a gap fill delivers (`ws_resume_max`); beyond, `resync_required`.
    max_fill: u64,
    max_sockets_per_user: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The heartbeat and presence task, stopped first when leaving: a
    /// heartbeat after the goodbye would bring this node back to life.
    presence_task: Mutex<Option<JoinHandle<()>>>,
    /// Set when a socket count could not be written: the next heartbeat
    /// rewrites this node's counts from its own.
    counts_stale: AtomicBool,
    /// This node's own socket counts, the truth the Redis counts are rebuilt from.
    local_sockets: crate::limits::Slots<i64>,
}

impl Cluster {
    /// Joins the cluster at `url` and starts the backplane's tasks. Redis
    /// need not be up yet: the node starts degraded and connects when it can.
    pub fn start(
        config: &Config,
        url: &str,
        hub: Hub,
        store: Store,
        local_sockets: crate::limits::Slots<i64>,
    ) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url).context("redis_url is not a valid Redis URL")?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(COMMAND_TIMEOUT);
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), manager)
            .context("cannot set up the Redis connection")?;
        let prefix = config.redis_prefix.clone();
        let count = config.redis_partitions as usize;
        let mut queues = Vec::with_capacity(count);
        let partitions = (0..count)
            .map(|_| {
                let (queue, rx) = mpsc::channel(config.backplane_queue);
                queues.push(rx);
                Arc::new(Partition {
                    queue,
                    behind: AtomicBool::new(false),
                })
            })
            .collect();
        let (outgoing, outgoing_rx) = mpsc::channel(config.backplane_queue);
        let presence_changes = Arc::new(PresenceChanges::default());
        hub.report_presence_to(presence_changes.clone());
        let cluster = Arc::new(Self {
            node: format!("{:016x}", rand::random::<u64>()),
            channels: (0..count).map(|n| format!("{prefix}:events:{n}")).collect(),
            prefix,
            hub,
            store,
            client,
            redis,
            partitions,
            outgoing,
            presence_changes,
            presence: tokio::sync::Mutex::new(Presence::new()),
            presence_rewrite: AtomicBool::new(true),
            subscribed: AtomicBool::new(false),
            commands_ok: AtomicBool::new(true),
            heartbeat: Duration::from_secs(config.cluster_heartbeat),
            node_ttl: Duration::from_secs(config.cluster_node_ttl),
            max_fill: config.ws_resume_max,
            max_sockets_per_user: config.ws_max_sockets_per_user,
            tasks: Mutex::default(),
            presence_task: Mutex::default(),
            counts_stale: AtomicBool::new(false),
            local_sockets,
        });
        let mut tasks = Vec::new();
        for (partition, queue) in cluster.partitions.iter().zip(queues) {
            let sequencer = Sequencer::new(
                cluster.hub.clone(),
                cluster.store.clone(),
                partition.clone(),
                cluster.max_fill,
            );
            tasks.push(tokio::spawn(sequencer.run(queue)));
        }
        tasks.push(tokio::spawn(cluster.clone().publish_loop(outgoing_rx)));
        tasks.push(tokio::spawn(cluster.clone().listen_loop()));
        *cluster.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        *cluster.presence_task.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::spawn(presence::run(cluster.clone())));
        metrics::gauge!("backplane_connected").set(0.0);
        tracing::info!(node = %cluster.node, partitions = count, "joined the cluster through Redis");
        Ok(cluster)
    }

    /// Whether Redis answers: subscribed, and the last command went through.
    pub fn is_connected(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && self.commands_ok.load(Ordering::Acquire)
    }

    /// Users online in `room` on any node (this node's own included, even
    /// before Redis has heard of them), by id. With Redis down, this node's only.
    pub async fn online(&self, room: i64) -> Vec<UserRef> {
        let mut users = self.hub.online(room);
        if self.is_connected() {
            match presence::online(self, room).await {
                Ok(elsewhere) => users.extend(elsewhere),
                Err(error) => self.command_failed("read the presence of a room", &error),
            }
        }
        users.sort_by_key(|u| u.id);
        users.dedup_by_key(|u| u.id);
        users
    }

    /// A socket here started listening to `rooms`: where each stands now is
    /// what this node's delivery of it counts from. Called after the socket
    /// subscribed and before its replay reads the store.
    pub async fn watch(&self, rooms: &[i64]) {
        match store::rooms::sequence_points(self.store.reader(), rooms.to_vec()).await {
            Ok(points) => {
                for (room, seq, _) in points {
                    self.partition_of(room).offer(Work::Baseline { room, seq });
                }
            }
            // The room's first notice starts its count instead.
            Err(error) => tracing::debug!(%error, "could not read where the rooms stand"),
        }
    }

    /// Leaves the cluster (for a moment at most): stops the heartbeat,
    /// announces that every user of this node left it, whether or not their
    /// sockets have closed yet, removes the heartbeat key, so the others
    /// reap what is left at their next heartbeat, and waits until what was
    /// queued before has been published.
    pub async fn leave(&self) {
        let leaving = async {
            presence::leave(self).await;
            let (flushed, published) = tokio::sync::oneshot::channel();
            if self.outgoing.send(Outgoing::Flush(flushed)).await.is_ok() {
                let _ = published.await;
            }
        };
        if tokio::time::timeout(LEAVE_TIMEOUT, leaving).await.is_err() {
            tracing::warn!(limit = ?LEAVE_TIMEOUT, "left the cluster without a complete goodbye: the others reap this node once its heartbeat expires");
        }
        self.stop_presence_task();
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
    }

    /// Stops the heartbeat and presence task. Called with the presence
    /// lock held, the task is not in the middle of a change (a departure
    /// written to Redis but not yet announced).
    fn stop_presence_task(&self) {
        if let Some(task) = self.presence_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }

    /// The partition notices with `key` (a room, or a user) go through.
    fn partition_index(&self, key: i64) -> usize {
        key.rem_euclid(self.partitions.len() as i64) as usize
    }

    fn partition_of(&self, key: i64) -> &Partition {
        &self.partitions[self.partition_index(key)]
    }

    /// `suffix` under this cluster's prefix.
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }

    fn command_ok(&self) {
        if !self.commands_ok.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis answers again");
            self.update_gauge();
        }
    }

    fn command_failed(&self, what: &str, error: &redis::RedisError) {
        if self.commands_ok.swap(false, Ordering::AcqRel) {
            tracing::warn!(%error, "Redis did not answer ({what}): this node serves its own sockets until it does");
            self.update_gauge();
        } else {
            tracing::debug!(%error, "Redis did not answer ({what})");
        }
    }

    fn update_gauge(&self) {
        metrics::gauge!("backplane_connected").set(if self.is_connected() { 1.0 } else { 0.0 });
    }

    /// Publishes queued envelopes, pipelined, in the order they were queued.
    async fn publish_loop(self: Arc<Self>, mut queue: mpsc::Receiver<Outgoing>) {
        let published = metrics::counter!("backplane_published_total");
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let mut flushes = Vec::new();
        while queue.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for outgoing in batch.drain(..) {
                match outgoing {
                    Outgoing::Publish { partition, payload } => {
                        pipe.cmd("PUBLISH").arg(&self.channels[partition]).arg(payload).ignore();
                    }
                    Outgoing::Flush(done) => flushes.push(done),
                }
            }
            if pipe.is_empty() {
                answer(&mut flushes);
                continue;
            }
            let mut redis = self.redis.clone();
            let count = pipe.len() as u64;
            match pipe.query_async::<()>(&mut redis).await {
                Ok(()) => {
                    published.increment(count);
                    self.command_ok();
                }
                // Lost: the receivers' audits fill the messages from the database.
                Err(error) => {
                    metrics::counter!("backplane_dropped_total", "where" => "publish").increment(count);
                    self.command_failed("publish", &error);
                }
            }
            // Everything queued before each flush was in this batch or an earlier one.
            answer(&mut flushes);
        }
    }

    /// Keeps a subscriber connection up: connects, subscribes to every
    /// partition, catches up, then applies what arrives until the connection
    /// fails; then waits (with backoff) and starts over.
    async fn listen_loop(self: Arc<Self>) {
        let mut delay = BACKOFF_FIRST;
        let mut connected_before = false;
        loop {
            let error = match self.listen(&mut connected_before, &mut delay).await {
                Ok(never) => match never {},
                Err(error) => error,
            };
            if self.subscribed.swap(false, Ordering::AcqRel) {
                tracing::warn!(%error, "lost the Redis subscription: reconnecting");
                self.update_gauge();
            } else {
                tracing::debug!(%error, "could not subscribe to Redis");
            }
            // Some jitter, so a restarted Redis is not met by every node at once.
            let jitter = Duration::from_millis(rand::random::<u64>() % 100);
            tokio::time::sleep(delay + jitter).await;
            delay = (delay * 2).min(BACKOFF_LAST);
        }
    }

    async fn listen(
        &self,
        connected_before: &mut bool,
        delay: &mut Duration,
    ) -> anyhow::Result<std::convert::Infallible> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .context("connecting timed out")??;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(&self.channels))
            .await
            .context("subscribing timed out")??;
        self.subscribed.store(true, Ordering::Release);
        self.update_gauge();
        *delay = BACKOFF_FIRST;
        if std::mem::replace(connected_before, true) {
            metrics::counter!("backplane_reconnects_total").increment(1);
            tracing::info!("subscribed to Redis again: catching up from the database");
        }
        // Whatever was published while no subscription was up is lost:
        // every room is caught up from the database, and every presence
        // entry of this node written again.
        for partition in &self.partitions {
            partition.offer(Work::CatchUp);
        }
        presence::rewrite_all(self);
        let mut ping = tokio::time::interval(self.heartbeat);
        ping.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.receive(message.get_payload_bytes()),
                    None => anyhow::bail!("the connection closed"),
                },
                // A connection that died without closing (a host gone) only shows by not answering.
                _ = ping.tick() => {
                    tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>())
                        .await
                        .context("ping timed out")??;
                }
            }
        }
    }

    /// One envelope from another node: to its partition's queue, unless
    /// nobody here listens.
    fn receive(&self, payload: &[u8]) {
        let envelope: Envelope = match serde_json::from_slice(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                metrics::counter!("backplane_invalid_total").increment(1);
                tracing::debug!(%error, "ignored an envelope that does not parse");
                return;
            }
        };
        if envelope.node == self.node {
            return;
        }
        metrics::counter!("backplane_received_total").increment(1);
        let lag = chrono::Utc::now().timestamp_micros().saturating_sub(envelope.at);
        metrics::histogram!("backplane_lag_seconds").record(lag.max(0) as f64 / 1e6);
        let delivery = envelope.into_delivery();
        if let Delivery::Event { audience, .. } = &delivery {
            let listened = match *audience {
                Audience::Room(room) | Audience::RoomExcept { room, .. } => self.hub.has_room(room),
                Audience::User(user) => self.hub.has_user(user),
            };
            if !listened {
                return;
            }
        }
        self.partition_of(delivery.key()).offer(Work::Deliver(delivery));
    }

    /// Queues one notice for this node's sockets and for the other nodes.
    fn send(&self, notice: Notice) {
        let delivery = Delivery::from_notice(notice);
        let partition = self.partition_index(delivery.key());
        let payload = Envelope::encode(&self.node, &delivery);
        if self
            .outgoing
            .try_send(Outgoing::Publish { partition, payload })
            .is_err()
        {
            // Redis is slow or away: the other nodes catch up from the database.
            metrics::counter!("backplane_dropped_total", "where" => "outgoing").increment(1);
        }
        self.partitions[partition].offer(Work::Deliver(delivery));
    }
}

impl Backplane for Cluster {
    fn publish(&self, notices: Vec<Notice>) {
        for notice in notices {
            self.send(notice);
        }
    }

    /// `then` runs on the room's partition, after what was published before
    /// it for the room has reached this node's sockets.
    fn publish_then(&self, room: i64, outbox: Outbox, then: Box<dyn FnOnce() + Send>) {
        Backplane::publish(self, outbox.into_notices());
        self.partition_of(room).offer_then(then);
    }
}
