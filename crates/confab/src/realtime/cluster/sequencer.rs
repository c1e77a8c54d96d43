//! Applies the notices of one partition to this node's hub, in order, with no
//! gap and no duplicate per room.
//!
//! Every room event after a commit carries the room's change number as of
//! that commit (see [`crate::chat::outbox::Notice`]); a change of the room's
//! history (post, delete, edit, reaction) carries its own. Per room with
//! sockets here, the sequencer remembers the last change number it delivered:
//! - a change at or below it is a duplicate or arrived late, after its gap
//!   was filled from the database: dropped;
//! - one further ahead than the next number means notices were lost (or
//!   another node's commit overtook them): the missed changes are read from
//!   the database and delivered first;
//! - any other event at a number not yet delivered first waits for the
//!   changes up to it in the same way.
//!
//! So every socket here sees a room's changes in `change_seq` order, whichever
//! nodes made them. A lost notice that nothing follows is caught by the
//! audit: every heartbeat, the room's change number in the database is
//! compared with what was
//! delivered, and what was committed at least one heartbeat ago and still
//! not delivered is filled. After the Redis connection drops, or a queue
//! overflows, every room of the partition is caught up at once.
//!
//! Reading the database happens on the partition's task: its later notices
//! wait (they must, to keep the order), other partitions do not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::wire::Delivery;
use crate::chat::changes::{self, Replay};
use crate::chat::events::ServerEvent;
use crate::chat::outbox::Audience;
use crate::realtime::frame::Frame;
use crate::realtime::hub::Hub;
use crate::store::{self, Store};

/// What a partition's task is asked to do.
pub enum Work {
    Deliver(Delivery),
    /// A socket here started listening to `room`, which stood at `seq` (read
    /// after the socket subscribed, before its replay).
    Baseline {
        room: i64,
        seq: i64,
    },
    /// Compare with the database and fill what stayed missing since the last audit.
    Audit,
    /// Something may have been lost (the queue overflowed, or Redis
    /// reconnected): catch every room up with the database now.
    CatchUp,
    /// Runs once everything queued before it has been delivered (a post's
    /// answer to its sender, after its echo).
    Run(Box<dyn FnOnce() + Send>),
}

/// One partition's queue, shared by whoever feeds it.
pub struct Partition {
    pub queue: mpsc::Sender<Work>,
    /// Set when work was dropped because the queue was full; the task
    /// catches up before its next piece of work.
    pub behind: AtomicBool,
}

impl Partition {
    /// Queues `work` without waiting; when the queue is full it is dropped
    /// and the partition marked as behind.
    pub fn offer(&self, work: Work) {
        if self.queue.try_send(work).is_err() {
            metrics::counter!("backplane_dropped_total", "where" => "partition").increment(1);
            self.behind.store(true, Ordering::Release);
        }
    }

    /// Queues `then` behind what is queued; when the queue is full it runs
    /// at once instead (an answer is never dropped, only, under overload,
    /// sent ahead of an echo).
    pub fn offer_then(&self, then: Box<dyn FnOnce() + Send>) {
        match self.queue.try_send(Work::Run(then)) {
            Ok(()) => {}
            Err(
                mpsc::error::TrySendError::Full(Work::Run(then)) | mpsc::error::TrySendError::Closed(Work::Run(then)),
            ) => then(),
            Err(_) => unreachable!("the work sent is what comes back"),
        }
    }
}

/// Per room: how far its changes have been delivered here.
#[derive(Clone, Copy, Debug)]
struct Track {
    delivered: i64,
    /// The room's change number in the database at the previous audit.
    audited: i64,
}

pub struct Sequencer {
    hub: Hub,
    store: Store,
    partition: Arc<Partition>,
    tracks: HashMap<i64, Track>,
    /// Most changes filled at once; beyond, the room's sockets get `resync_required`.
    max_fill: u64,
}

impl Sequencer {
    pub fn new(hub: Hub, store: Store, partition: Arc<Partition>, max_fill: u64) -> Self {
        Self {
            hub,
            store,
            partition,
            tracks: HashMap::new(),
            max_fill,
        }
    }

    pub async fn run(mut self, mut queue: mpsc::Receiver<Work>) {
        while let Some(work) = queue.recv().await {
            if self.partition.behind.swap(false, Ordering::AcqRel) {
                self.catch_up(false).await;
            }
            match work {
                Work::Deliver(delivery) => self.deliver(delivery).await,
                Work::Baseline { room, seq } => {
                    // Only for a room not yet tracked: one that is may have
                    // notices below `seq` still on their way to its sockets.
                    self.tracks.entry(room).or_insert(Track {
                        delivered: seq,
                        audited: seq,
                    });
                }
                Work::Audit => self.catch_up(true).await,
                Work::CatchUp => self.catch_up(false).await,
                Work::Run(then) => then(),
            }
        }
    }

    async fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Event { audience, seq, frame } => {
                if let (Some(room), Some(seq)) = (audience.room(), seq) {
                    self.deliver_sequenced(audience, room, seq, frame).await;
                } else {
                    self.hub.deliver(audience, &frame);
                }
            }
            Delivery::Follow { room, user } => self.hub.follow(room, &user),
            Delivery::Disconnect { room, user } => self.hub.disconnect(room, user),
            Delivery::CloseRoom { room } => {
                self.hub.close_room(room);
                self.tracks.remove(&room);
            }
        }
    }

    async fn deliver_sequenced(&mut self, audience: Audience, room: i64, seq: i64, frame: Frame) {
        if !self.hub.has_room(room) {
            // Nobody listens here: nothing to deliver, nothing to remember.
            self.tracks.remove(&room);
            return;
        }
        let is_change = frame.change_seq.is_some();
        let Some(track) = self.tracks.get(&room).copied() else {
            // Listened to, but its baseline is still on its way: deliver
            // and count from here (the socket's replay covers what came before).
            self.tracks.insert(
                room,
                Track {
                    delivered: seq,
                    audited: seq,
                },
            );
            return self.hub.deliver(audience, &frame);
        };
        if is_change && seq <= track.delivered {
            metrics::counter!("backplane_duplicates_total").increment(1);
            return;
        }
        // A change needs every change before it; another event every change up to it.
        let needed = if is_change { seq - 1 } else { seq };
        if needed > track.delivered {
            metrics::counter!("backplane_gaps_total", "found_by" => "sequence").increment(1);
            self.fill(room, track.delivered, needed).await;
        }
        self.hub.deliver(audience, &frame);
        if is_change {
            self.set_delivered(room, seq);
        }
    }

    fn set_delivered(&mut self, room: i64, seq: i64) {
        if let Some(track) = self.tracks.get_mut(&room) {
            track.delivered = track.delivered.max(seq);
        }
    }

    /// Delivers the room's changes `after + 1 ..= up_to` from the database,
    /// or `resync_required` when there are too many (or the database did not answer).
    async fn fill(&mut self, room: i64, after: i64, up_to: i64) {
        match changes::missed(&self.store, room, after, up_to, self.max_fill).await {
            Ok(Replay::Changes { events, .. }) => {
                metrics::counter!("backplane_gap_changes_total").increment(events.len() as u64);
                for event in events {
                    let seq = event.change_seq();
                    self.hub.publish(room, &Frame::encode(&event, Some(room), seq));
                }
            }
            Ok(Replay::TooMany { .. }) => self.resync(room),
            Err(error) => {
                tracing::warn!(room, %error, "could not fill a gap from the database; the room's sockets resync");
                self.resync(room);
            }
        }
        self.set_delivered(room, up_to);
    }

    /// Tells the room's sockets to refetch history: they missed more than
    /// a replay may carry.
    fn resync(&self, room: i64) {
        metrics::counter!("backplane_resyncs_total").increment(1);
        self.hub
            .publish(room, &Frame::encode(&ServerEvent::ResyncRequired, Some(room), None));
    }

    /// Compares every tracked room with the database. With `audit`, fills only
    /// what was already committed at the previous audit (a notice still on
    /// its way is not a gap); otherwise fills everything. Deleted rooms close.
    async fn catch_up(&mut self, audit: bool) {
        self.tracks.retain(|room, _| self.hub.has_room(*room));
        if self.tracks.is_empty() {
            return;
        }
        let rooms: Vec<i64> = self.tracks.keys().copied().collect();
        let points = match store::rooms::sequence_points(self.store.reader(), rooms.clone()).await {
            Ok(points) => points,
            Err(error) => {
                tracing::warn!(%error, "could not compare the rooms with the database");
                if !audit {
                    // Try again with the next piece of work.
                    self.partition.behind.store(true, Ordering::Release);
                }
                return;
            }
        };
        let points: HashMap<i64, (i64, bool)> = points
            .into_iter()
            .map(|(id, seq, active)| (id, (seq, active)))
            .collect();
        for room in rooms {
            let Some(&(last_seq, true)) = points.get(&room) else {
                // Deleted while its notice was lost.
                self.hub.close_room(room);
                self.tracks.remove(&room);
                continue;
            };
            let track = self.tracks[&room];
            let target = if audit { track.audited.min(last_seq) } else { last_seq };
            if target > track.delivered {
                let found_by = if audit { "audit" } else { "catch_up" };
                metrics::counter!("backplane_gaps_total", "found_by" => found_by).increment(1);
                self.fill(room, track.delivered, target).await;
            }
            if let Some(track) = self.tracks.get_mut(&room) {
                track.audited = last_seq;
            }
        }
    }
}
