//! Budgets that hold across nodes: a user's open sockets
//! (`ws_max_sockets_per_user`) and socket frame rates (`ws_message_rate`,
//! `ws_frame_rate`), counted in Redis on top of each node's own counts in
//! [`crate::limits`].
//!
//! When Redis does not answer, only the node's own budgets apply (a user
//! gets at most the node's budget on each node): refusing every socket
//! because Redis is away would turn an outage of the backplane into one of
//! the service. Socket counts that could not be written are rebuilt from
//! the node's own at its next heartbeat.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Script;

use super::Cluster;

/// KEYS: the user's socket counts, this node's user set. ARGV: node, max, user.
/// Returns 1 and counts the socket when the user has fewer than `max` in all.
const TAKE_SOCKET: &str = r#"
local total = 0
for _, c in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(c) end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"#;

/// KEYS: the user's socket counts. ARGV: node.
const RELEASE_SOCKET: &str = r#"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
"#;

/// KEYS: this node's user set. ARGV: prefix, node, then `user, count` pairs:
/// replaces every count of this node with those.
const REWRITE_COUNTS: &str = r#"
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('HDEL', ARGV[1] .. ':sockets:' .. user, ARGV[2])
end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', ARGV[1] .. ':sockets:' .. ARGV[i], ARGV[2], ARGV[i + 1])
  redis.call('SADD', KEYS[1], ARGV[i])
end
return 1
"#;

/// A generic cell rate algorithm on Redis' clock. KEYS: the bucket.
/// ARGV: milliseconds per token, burst. Returns 0 (allowed) or the
/// milliseconds until the next token.
const SPEND: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - interval * burst
if allowed_at > now then return allowed_at - now end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', next_tat - now + 1)
return 0
"#;

/// The Lua scripts, loaded once per process (the crate sends their hash and
/// loads them again when Redis forgot them).
struct Scripts {
    take: Script,
    release: Script,
    rewrite: Script,
    spend: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        take: Script::new(TAKE_SOCKET),
        release: Script::new(RELEASE_SOCKET),
        rewrite: Script::new(REWRITE_COUNTS),
        spend: Script::new(SPEND),
    })
}

/// A socket's place in the cluster-wide count; given back when dropped.
pub struct ClusterSocket {
    cluster: Arc<Cluster>,
    user: i64,
    /// False when Redis did not answer: nothing to give back there.
    counted: bool,
}

impl Drop for ClusterSocket {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let (cluster, user) = (self.cluster.clone(), self.user);
        tokio::spawn(async move {
            let mut redis = cluster.redis.clone();
            let released: redis::RedisResult<i64> = scripts()
                .release
                .key(cluster.key(&format!("sockets:{user}")))
                .arg(&cluster.node)
                .invoke_async(&mut redis)
                .await;
            if let Err(error) = released {
                cluster.counts_stale.store(true, Ordering::Release);
                cluster.command_failed("release a socket", &error);
            }
        });
    }
}

impl Cluster {
    /// Counts a socket of `user` across the cluster, or `None` when they hold
    /// `ws_max_sockets_per_user` already. Call after the node's own count.
    pub async fn take_socket(self: &Arc<Self>, user: i64) -> Option<ClusterSocket> {
        if !self.is_connected() {
            // Not counted there: the next heartbeat that gets through rewrites the counts.
            self.counts_stale.store(true, Ordering::Release);
            return Some(ClusterSocket {
                cluster: self.clone(),
                user,
                counted: false,
            });
        }
        let mut redis = self.redis.clone();
        let taken: redis::RedisResult<i64> = scripts()
            .take
            .key(self.key(&format!("sockets:{user}")))
            .key(self.key(&format!("node-users:{}", self.node)))
            .arg(&self.node)
            .arg(self.max_sockets_per_user)
            .arg(user)
            .invoke_async(&mut redis)
            .await;
        let counted = match taken {
            Ok(0) => return None,
            Ok(_) => true,
            Err(error) => {
                self.counts_stale.store(true, Ordering::Release);
                self.command_failed("count a socket", &error);
                false
            }
        };
        Some(ClusterSocket {
            cluster: self.clone(),
            user,
            counted,
        })
    }

    /// Takes one from `user`'s cluster-wide `budget` (`per_second`
    /// sustained, `burst` at once), or says in how many seconds to retry.
    /// Call after the node's own budget allowed it.
    pub async fn spend(&self, budget: &str, user: i64, per_second: u32, burst: u32) -> Result<(), u64> {
        if !self.is_connected() {
            // No frame waits for a Redis that is away; the node's own budget applied.
            return Ok(());
        }
        let mut redis = self.redis.clone();
        let interval_ms = (1000 / per_second.max(1)).max(1);
        let wait_ms: redis::RedisResult<u64> = scripts()
            .spend
            .key(self.key(&format!("rate:{budget}:{user}")))
            .arg(interval_ms)
            .arg(burst.max(1))
            .invoke_async(&mut redis)
            .await;
        match wait_ms {
            Ok(0) => Ok(()),
            Ok(wait_ms) => Err(wait_ms.div_ceil(1000).max(1)),
            Err(error) => {
                self.command_failed("spend a rate budget", &error);
                Ok(())
            }
        }
    }
}

/// Replaces this node's socket counts in Redis with its own.
pub async fn rewrite_counts(cluster: &Cluster) -> redis::RedisResult<()> {
    let mut redis = cluster.redis.clone();
    let mut invocation = scripts()
        .rewrite
        .key(cluster.key(&format!("node-users:{}", cluster.node)));
    invocation.arg(&cluster.prefix).arg(&cluster.node);
    for (user, count) in cluster.local_sockets.all() {
        invocation.arg(user).arg(count);
    }
    invocation.invoke_async::<i64>(&mut redis).await.map(|_| ())
}
