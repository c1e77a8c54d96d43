//! Who is online, across the cluster.
//!
//! Redis holds, per room, a hash from user id to the user's name and the
//! nodes they have a socket there on (`<prefix>:online:<room>`). A node adds
//! itself when a user's first socket in the room opens on it and removes
//! itself when the last one closes; the scripts below do either atomically
//! and say whether it was the user's first node (they arrived: `user_joined`)
//! or last (they left: `user_left`), so each is announced once, not once per
//! node.
//!
//! Each node refreshes `<prefix>:node:<id>` (a key with a TTL of
//! `cluster_node_ttl`) every `cluster_heartbeat`. A node whose key expired
//! (killed, cut off) is reaped by the first node whose heartbeat notices:
//! its entries go, its users that are online nowhere else get `user_left`,
//! and its socket counts stop counting. So a dead node stops counting at
//! most `cluster_node_ttl + cluster_heartbeat` after its last heartbeat.
//!
//! The node's side is a reconciliation, not a log of changes: the hub marks
//! the rooms whose local presence changed, and the task compares each with
//! what it last wrote. Nothing queues up, and after an outage (or after
//! being reaped while cut off) writing everything again is the same code.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Script;

use super::sequencer::Work;
use super::Cluster;
use crate::chat::events::ServerEvent;
use crate::chat::outbox::{Audience, Notice};
use crate::chat::types::UserRef;
use crate::realtime::backplane::Backplane;

/// KEYS: room hash, this node's room set. ARGV: node, user id, username, room.
/// Returns 1 when the user was online on no node before.
const ARRIVE: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[2])
local e = {n = ARGV[3], s = {}}
if v then e = cjson.decode(v) end
for _, s in ipairs(e.s) do
  if s == ARGV[1] then return 0 end
end
table.insert(e.s, ARGV[1])
e.n = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(e))
redis.call('SADD', KEYS[2], ARGV[4])
if #e.s == 1 then return 1 end
return 0
"#;

/// KEYS: room hash. ARGV: node, user id. Returns 1 when the user is now
/// online on no node.
const DEPART: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return 0 end
local e = cjson.decode(v)
local rest = {}
local found = false
for _, s in ipairs(e.s) do
  if s == ARGV[1] then found = true else table.insert(rest, s) end
end
if not found then return 0 end
if #rest == 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  return 1
end
e.s = rest
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(e))
return 0
"#;

/// KEYS: the node set, this node's heartbeat key. ARGV: node, TTL in ms.
/// Returns 1 when the node was registered already (not reaped meanwhile).
const HEARTBEAT: &str = r#"
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return known
"#;

/// KEYS: the node set. ARGV: prefix, this node. Reaps every other node whose
/// heartbeat expired; returns `room, user id, username` triples of users
/// now online nowhere.
const REAP: &str = r#"
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if node ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. ':node:' .. node) == 0 then
    local rooms = ARGV[1] .. ':node-rooms:' .. node
    for _, room in ipairs(redis.call('SMEMBERS', rooms)) do
      local key = ARGV[1] .. ':online:' .. room
      local all = redis.call('HGETALL', key)
      for i = 1, #all, 2 do
        local e = cjson.decode(all[i + 1])
        local rest = {}
        local had = false
        for _, s in ipairs(e.s) do
          if s == node then had = true else table.insert(rest, s) end
        end
        if had then
          if #rest == 0 then
            redis.call('HDEL', key, all[i])
            table.insert(out, room)
            table.insert(out, all[i])
            table.insert(out, e.n)
          else
            e.s = rest
            redis.call('HSET', key, all[i], cjson.encode(e))
          end
        end
      end
    end
    local users = ARGV[1] .. ':node-users:' .. node
    for _, user in ipairs(redis.call('SMEMBERS', users)) do
      redis.call('HDEL', ARGV[1] .. ':sockets:' .. user, node)
    end
    redis.call('DEL', rooms, users)
    redis.call('SREM', KEYS[1], node)
  end
end
return out
"#;

#[derive(serde::Deserialize)]
struct Entry {
    /// The user's name.
    n: String,
}

/// The users Redis lists as online in `room`, on whichever node.
pub async fn online(cluster: &Cluster, room: i64) -> redis::RedisResult<Vec<UserRef>> {
    let mut redis = cluster.redis.clone();
    let entries: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(cluster.key(&format!("online:{room}")))
        .query_async(&mut redis)
        .await?;
    Ok(entries
        .into_iter()
        .filter_map(|(id, entry)| {
            let entry: Entry = serde_json::from_str(&entry).ok()?;
            Some(UserRef {
                id: id.parse().ok()?,
                username: entry.n,
            })
        })
        .collect())
}

/// Every entry of this node is to be written again (after reconnecting).
pub fn rewrite_all(cluster: &Cluster) {
    cluster.presence_rewrite.store(true, Ordering::Release);
    cluster.presence_changes.wake();
}

/// Runs the node's heartbeat and keeps its presence entries in Redis.
pub async fn run(cluster: Arc<Cluster>) {
    let mut beat = tokio::time::interval(cluster.heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // While Redis does not answer, changes wait for the next heartbeat
        // instead of retrying (and failing) at once, over and over.
        let heartbeat = if cluster.commands_ok.load(Ordering::Acquire) {
            tokio::select! {
                _ = beat.tick() => true,
                _ = cluster.presence_changes.changed() => false,
            }
        } else {
            beat.tick().await;
            true
        };
        let mut presence = cluster.presence.lock().await;
        if heartbeat {
            presence.beat(&cluster).await;
            // The sequencers compare their rooms with the database.
            for partition in &cluster.partitions {
                partition.offer(Work::Audit);
            }
        }
        let rewrite = cluster.presence_rewrite.swap(false, Ordering::AcqRel);
        presence.sync(&cluster, rewrite).await;
    }
}

/// Announces that every user of this node left it (the node is going,
/// whether or not their sockets have closed yet) and removes its heartbeat,
/// so the others reap what is left at their next one.
pub async fn leave(cluster: &Cluster) {
    // The task's next heartbeat would bring the node back. It does all its
    // work under this lock: it is stopped between two runs, not halfway
    // through announcing a departure it has already written.
    let mut presence = cluster.presence.lock().await;
    cluster.stop_presence_task();
    let departures = presence.depart_everywhere(cluster).await;
    tracing::info!(
        departures,
        "leaving the cluster: announced the departures of this node's users"
    );
    let mut redis = cluster.redis.clone();
    let _: redis::RedisResult<()> = redis::cmd("DEL")
        .arg(cluster.key(&format!("node:{}", cluster.node)))
        .query_async(&mut redis)
        .await;
}

/// What the node's presence task keeps between runs.
pub struct Presence {
    /// What this node last wrote, per room: the users it holds there.
    written: HashMap<i64, HashMap<i64, UserRef>>,
    arrive: Script,
    depart: Script,
    heartbeat: Script,
    reap: Script,
}

impl Presence {
    pub fn new() -> Self {
        Self {
            written: HashMap::new(),
            arrive: Script::new(ARRIVE),
            depart: Script::new(DEPART),
            heartbeat: Script::new(HEARTBEAT),
            reap: Script::new(REAP),
        }
    }

    /// Refreshes this node's heartbeat, reaps dead nodes, and rewrites the
    /// socket counts when one could not be written.
    async fn beat(&mut self, cluster: &Cluster) {
        let mut redis = cluster.redis.clone();
        let ttl_ms = cluster.node_ttl.as_millis() as u64;
        let known: redis::RedisResult<i64> = self
            .heartbeat
            .key(cluster.key("nodes"))
            .key(cluster.key(&format!("node:{}", cluster.node)))
            .arg(&cluster.node)
            .arg(ttl_ms)
            .invoke_async(&mut redis)
            .await;
        match known {
            Ok(known) => {
                cluster.command_ok();
                if known == 0 {
                    // New, or reaped while cut off: everything of ours is gone.
                    cluster.presence_rewrite.store(true, Ordering::Release);
                    cluster.counts_stale.store(true, Ordering::Release);
                }
            }
            Err(error) => return cluster.command_failed("heartbeat", &error),
        }
        let reaped: redis::RedisResult<Vec<String>> = self
            .reap
            .key(cluster.key("nodes"))
            .arg(&cluster.prefix)
            .arg(&cluster.node)
            .invoke_async(&mut redis)
            .await;
        match reaped {
            Ok(departed) if !departed.is_empty() => {
                let notices: Vec<Notice> = departed
                    .chunks_exact(3)
                    .filter_map(|triple| {
                        let room = triple[0].parse().ok()?;
                        let user = UserRef {
                            id: triple[1].parse().ok()?,
                            username: triple[2].clone(),
                        };
                        Some(Notice::Event {
                            audience: Audience::Room(room),
                            seq: None,
                            event: ServerEvent::UserLeft { user },
                        })
                    })
                    .collect();
                metrics::counter!("cluster_reaped_departures_total").increment(notices.len() as u64);
                tracing::info!(departures = notices.len(), "reaped a node whose heartbeat expired");
                Backplane::publish(cluster, notices);
            }
            Ok(_) => {}
            Err(error) => cluster.command_failed("reap", &error),
        }
        if cluster.counts_stale.swap(false, Ordering::AcqRel) {
            if let Err(error) = super::budgets::rewrite_counts(cluster).await {
                cluster.counts_stale.store(true, Ordering::Release);
                cluster.command_failed("rewrite socket counts", &error);
            }
        }
    }

    /// Writes the presence changes of the marked rooms (with `rewrite`, of
    /// every room, every entry again) and announces arrivals and departures.
    async fn sync(&mut self, cluster: &Cluster, rewrite: bool) {
        let mut rooms: HashSet<i64> = cluster.presence_changes.take();
        if rewrite {
            rooms.extend(cluster.hub.rooms_listened());
            rooms.extend(self.written.keys().copied());
        }
        let mut notices = Vec::new();
        let mut failed = false;
        for room in rooms {
            if failed {
                cluster.presence_changes.mark(room);
                continue;
            }
            let here = cluster.hub.online(room).into_iter().map(|u| (u.id, u)).collect();
            if let Err(error) = self.sync_room(cluster, room, here, rewrite, &mut notices).await {
                cluster.command_failed("write presence", &error);
                cluster.presence_changes.mark(room);
                if rewrite {
                    cluster.presence_rewrite.store(true, Ordering::Release);
                }
                failed = true;
            }
        }
        if !notices.is_empty() {
            Backplane::publish(cluster, notices);
        }
    }

    /// Removes every entry this node wrote and announces the departures.
    async fn depart_everywhere(&mut self, cluster: &Cluster) -> usize {
        let rooms: Vec<i64> = self.written.keys().copied().collect();
        let mut notices = Vec::new();
        for room in rooms {
            if let Err(error) = self.sync_room(cluster, room, HashMap::new(), false, &mut notices).await {
                // What is left is reaped once the heartbeat key is gone.
                cluster.command_failed("write presence", &error);
                break;
            }
        }
        let departures = notices.len();
        if !notices.is_empty() {
            Backplane::publish(cluster, notices);
        }
        departures
    }

    /// Brings what this node wrote for `room` to `here`, the users it holds
    /// there now.
    async fn sync_room(
        &mut self,
        cluster: &Cluster,
        room: i64,
        here: HashMap<i64, UserRef>,
        rewrite: bool,
        notices: &mut Vec<Notice>,
    ) -> redis::RedisResult<()> {
        let written = self.written.entry(room).or_default();
        let arrivals: Vec<UserRef> = here
            .values()
            .filter(|u| rewrite || !written.contains_key(&u.id))
            .cloned()
            .collect();
        let departures: Vec<i64> = written.keys().filter(|id| !here.contains_key(id)).copied().collect();
        let mut redis = cluster.redis.clone();
        let room_key = cluster.key(&format!("online:{room}"));
        for user in arrivals {
            let first: i64 = self
                .arrive
                .key(&room_key)
                .key(cluster.key(&format!("node-rooms:{}", cluster.node)))
                .arg(&cluster.node)
                .arg(user.id)
                .arg(&user.username)
                .arg(room)
                .invoke_async(&mut redis)
                .await?;
            cluster.command_ok();
            written.insert(user.id, user.clone());
            if first == 1 {
                // The arriving user's own sockets do not hear of their arrival.
                notices.push(Notice::Event {
                    audience: Audience::RoomExcept { room, user: user.id },
                    seq: None,
                    event: ServerEvent::UserJoined { user },
                });
            }
        }
        for user_id in departures {
            let last: i64 = self
                .depart
                .key(&room_key)
                .arg(&cluster.node)
                .arg(user_id)
                .invoke_async(&mut redis)
                .await?;
            cluster.command_ok();
            let Some(user) = written.remove(&user_id) else { continue };
            if last == 1 {
                notices.push(Notice::Event {
                    audience: Audience::Room(room),
                    seq: None,
                    event: ServerEvent::UserLeft { user },
                });
            }
        }
        if written.is_empty() {
            self.written.remove(&room);
        }
        Ok(())
    }
}
