//! Posting a message, with group commit: [`post`] queues the post on its
//! room's lane of the [`Posts`] pipeline, and the [`Poster`] writes every post
//! waiting on a lane in one transaction.
//!
//! Per batch, whatever its size: lock the rooms, read the memberships, the
//! replied-to messages and the retried `client_id`s (one query each), one
//! multi-row insert and one read-back of the new ids, one `last_seq` update
//! and one read-pointer update per room, then the mention and reply
//! notifications. Each post is authorized and validated on its own and fails
//! alone; a database error before the commit fails the batch, which is then
//! written again one post per transaction so that only the culprit fails
//! (unless the database is unreachable, or the commit itself failed and may
//! have been applied: then the batch's posts fail, and a client retrying
//! with its `client_id` finds what was stored). Every post is answered
//! only after the commit that holds it; the lane publishes each post's events
//! and then answers it, post by post in the order they came, before it writes
//! its next batch, so ids (and sequence numbers) increase in publish order
//! within a room and a socket sees its echoes and errors in the order sent.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::{Map, Value};

use super::events::ServerEvent;
use super::fields::{Fields, Text};
use super::files::{attachment, ATTACHMENTS_MAX};
use super::messages::{message_object, present_one};
use super::notifications;
use super::outbox::{Outbox, Publisher};
use super::policy;
use super::rooms::access;
use super::types::limits::{CLIENT_ID_MAX, MESSAGE_CONTENT_MAX};
use super::types::{Message, MessageType, UserRef};
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::pipeline::{BatchWriter, Pipeline};
use crate::store::entities::{files, messages, room_members, rooms};
use crate::store::messages::NewMessage;
use crate::store::order::OrderGuard;
use crate::store::{self, Store};

/// A validated message to post.
pub struct NewMessageInput {
    pub content: String,
    pub message_type: MessageType,
    pub reply_to: Option<i64>,
    pub client_id: Option<String>,
    /// Uploaded files to attach (each checked in the post's transaction).
    pub attachments: Vec<i64>,
}

impl NewMessageInput {
    /// The fields of a new message, read as the REST post and the socket's
    /// `chat_message` frame both read them.
    pub fn read(body: Map<String, Value>) -> Result<Self> {
        let mut fields = Fields::new(body);
        let attachments = fields.id_list("attachments", ATTACHMENTS_MAX);
        // With files, the text may be empty.
        let content_rule = if attachments.is_empty() {
            Text::required(MESSAGE_CONTENT_MAX)
        } else {
            Text::optional(MESSAGE_CONTENT_MAX)
        };
        let content = fields.text("content", content_rule);
        let message_type = fields.choice("message_type", false, MessageType::parse);
        let reply_to = fields.nullable_integer("reply_to");
        let client_id = fields.nullable_text("client_id", Text::optional(CLIENT_ID_MAX));
        fields.finish()?;
        Ok(Self {
            content: content.unwrap_or_default(),
            message_type: message_type.unwrap_or(MessageType::Text),
            reply_to,
            client_id: client_id.filter(|c| !c.is_empty()),
            attachments,
        })
    }
}

/// Validates a post's fields. Runs only once the caller is known to be
/// allowed to post, as DRF checks permissions before the serializer.
pub type PostInput = Box<dyn FnOnce() -> Result<NewMessageInput> + Send + Sync>;

/// Whether a post stored a new message or found the one already sent with its `client_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    Created,
    Duplicate,
}

/// The group-commit pipeline of posts, one lane per room hash.
pub type Posts = Pipeline<Poster>;

/// Posts a message and waits for the commit that holds it. The answer is the
/// message as its sender sees it; a retried `client_id` answers the message
/// stored first, and stores and publishes nothing.
pub async fn post(
    posts: &Posts,
    user: &CurrentUser,
    room_id: i64,
    input: impl FnOnce() -> Result<NewMessageInput> + Send + Sync + 'static,
) -> Result<(Message, Posted)> {
    let job = PostJob {
        user: user.clone(),
        room_id,
        input: Box::new(input),
        refused: None,
    };
    posts.submit(room_id, job).await.map_err(Error::internal)?
}

/// Queues a post and returns at once; `reply` gets the answer after the
/// commit, right after the post's own events are published and before those
/// of the posts behind it. A socket routes the answer into its own queue, so
/// it sees answers and echoes in the order it sent its frames.
pub async fn enqueue(
    posts: &Posts,
    user: &CurrentUser,
    room_id: i64,
    input: impl FnOnce() -> Result<NewMessageInput> + Send + Sync + 'static,
    reply: impl FnOnce(Result<(Message, Posted)>) + Send + 'static,
) -> Result<()> {
    let job = PostJob {
        user: user.clone(),
        room_id,
        input: Box::new(input),
        refused: None,
    };
    posts
        .enqueue(room_id, job, Box::new(reply))
        .await
        .map_err(Error::internal)
}

/// Queues the answer to a post refused before it reached the pipeline (over
/// its sender's rate budget): it costs no transaction, and keeps its place
/// among the sender's other answers.
pub async fn enqueue_refusal(
    posts: &Posts,
    user: &CurrentUser,
    room_id: i64,
    refusal: Error,
    reply: impl FnOnce(Result<(Message, Posted)>) + Send + 'static,
) -> Result<()> {
    let job = PostJob {
        user: user.clone(),
        room_id,
        input: Box::new(|| Err(Error::internal(anyhow::anyhow!("a refused post is never read")))),
        refused: Some(refusal),
    };
    posts
        .enqueue(room_id, job, Box::new(reply))
        .await
        .map_err(Error::internal)
}

/// One post waiting on a lane.
pub struct PostJob {
    pub user: CurrentUser,
    pub room_id: i64,
    pub input: PostInput,
    /// Refused before it came: answered with this, in its place.
    pub refused: Option<Error>,
}

/// Writes batches of posts; see the module's documentation.
pub struct Poster {
    store: Store,
    publisher: Arc<dyn Publisher>,
}

impl Poster {
    pub fn new(store: Store, publisher: Arc<dyn Publisher>) -> Self {
        Self { store, publisher }
    }
}

impl BatchWriter for Poster {
    type Job = PostJob;
    type Output = Result<(Message, Posted)>;
    /// The post's room, what it caused there, and the rooms' order lock,
    /// let go once the batch's last effects are published.
    type Effects = (i64, Outbox, Arc<OrderGuard>);

    async fn write(&self, jobs: Vec<PostJob>) -> Vec<(Self::Output, Self::Effects)> {
        let order = Arc::new(self.store.room_order().lock(jobs.iter().map(|job| job.room_id)).await);
        let mut posts: Vec<Post> = jobs.into_iter().map(Post::new).collect();
        match self.write_batch(&mut posts).await {
            Ok(()) => {}
            // One post may have broken the transaction: alone, it fails by itself.
            Err(BatchError::Before(error)) if posts.len() > 1 && !matches!(error, Error::Unavailable(_)) => {
                tracing::debug!(%error, size = posts.len(), "batch failed: writing its posts one by one");
                for index in 0..posts.len() {
                    if !posts[index].is_pending() {
                        continue;
                    }
                    match self.write_batch(&mut posts[index..=index]).await {
                        Ok(()) => {}
                        Err(BatchError::Before(Error::Unavailable(detail))) => {
                            // The database is gone: the rest would each wait for it.
                            fail_pending(&mut posts, Error::Unavailable(detail));
                            break;
                        }
                        Err(BatchError::Before(error) | BatchError::Commit(error)) => {
                            posts[index].outcome = Outcome::Failed(error);
                        }
                    }
                }
            }
            // A lone post's own error; an unreachable database; or a commit whose
            // outcome is unknown (it may have been applied): nothing is retried
            // here. A client that retries with its `client_id` gets the stored
            // message if there is one.
            Err(BatchError::Before(error) | BatchError::Commit(error)) => {
                if posts.len() > 1 {
                    tracing::warn!(%error, size = posts.len(), "a batch of posts failed");
                }
                fail_pending(&mut posts, error);
            }
        }
        let mut written = Vec::with_capacity(posts.len());
        for index in 0..posts.len() {
            let output = self.answer(&mut posts, index).await;
            let effects = (
                posts[index].room_id,
                std::mem::take(&mut posts[index].outbox),
                Arc::clone(&order),
            );
            written.push((output, effects));
        }
        written
    }

    fn publish(&self, (room, outbox, _order): Self::Effects, answer: Box<dyn FnOnce() + Send>) {
        self.publisher.publish_then(room, outbox, answer);
    }
}

/// A post, as the batch sees it.
struct Post {
    user: CurrentUser,
    room_id: i64,
    input: Option<PostInput>,
    /// The validated fields, once the post was authorized and `input` ran.
    fields: Option<NewMessageInput>,
    outcome: Outcome,
    /// What its commit announces: its message, then its notifications.
    outbox: Outbox,
}

enum Outcome {
    Pending,
    Failed(Error),
    Created(Message),
    /// Its `client_id` was already stored.
    Duplicate(messages::Model),
    /// Its `client_id` is that of an earlier post of the same batch (by index).
    DuplicateOf(usize),
}

impl Post {
    fn new(job: PostJob) -> Self {
        Self {
            user: job.user,
            room_id: job.room_id,
            input: Some(job.input),
            fields: None,
            outcome: job.refused.map_or(Outcome::Pending, Outcome::Failed),
            outbox: Outbox::new(),
        }
    }

    fn is_pending(&self) -> bool {
        matches!(self.outcome, Outcome::Pending)
    }

    /// Validates the fields once; a post whose fields are invalid has failed for good.
    fn validate(&mut self) -> bool {
        if self.fields.is_some() {
            return true;
        }
        let Some(input) = self.input.take() else {
            return false;
        };
        match input() {
            Ok(fields) => {
                self.fields = Some(fields);
                true
            }
            Err(error) => {
                self.outcome = Outcome::Failed(error);
                false
            }
        }
    }

    fn client_key(&self) -> Option<(i64, &str)> {
        let client_id = self.fields.as_ref()?.client_id.as_deref()?;
        Some((self.user.id, client_id))
    }
}

/// How a batch's transaction failed.
enum BatchError {
    /// Before its commit: nothing of it was applied.
    Before(Error),
    /// At its commit: it may or may not have been applied.
    Commit(Error),
}

impl From<Error> for BatchError {
    fn from(error: Error) -> Self {
        BatchError::Before(error)
    }
}

impl From<DbErr> for BatchError {
    fn from(error: DbErr) -> Self {
        BatchError::Before(error.into())
    }
}

/// Fails every post still waiting for an outcome: the first with `error`
/// itself (so a lone post keeps its own error, a unique violation included),
/// the others with its like.
fn fail_pending(posts: &mut [Post], error: Error) {
    let mut pending = posts.iter_mut().filter(|p| p.is_pending());
    let Some(first) = pending.next() else { return };
    for post in pending {
        post.outcome = Outcome::Failed(error_like(&error));
    }
    first.outcome = Outcome::Failed(error);
}

/// An error of the same kind, for another post of a failed batch.
fn error_like(error: &Error) -> Error {
    match error {
        Error::Unavailable(detail) => Error::Unavailable(detail.clone()),
        other => Error::internal(anyhow::anyhow!("{other}")),
    }
}

/// A post that will be inserted, with its place in its room.
struct Insert {
    index: usize,
    seq: i64,
    /// The room's change number for it (see `store::changes`).
    change_seq: i64,
    replied: Option<messages::Model>,
    /// The files it claims, checked.
    attachments: Vec<files::Model>,
}

impl Poster {
    /// Writes the pending posts of `posts` in one transaction. Decisions
    /// about single posts (forbidden, invalid, duplicate) are outcomes, and
    /// each stored post's events go in its outbox; an `Err` means the
    /// transaction failed and nothing of it holds (outcomes other than invalid
    /// fields are left pending).
    async fn write_batch(&self, posts: &mut [Post]) -> Result<(), BatchError> {
        let pending: Vec<usize> = (0..posts.len()).filter(|&i| posts[i].is_pending()).collect();
        if pending.is_empty() {
            return Ok(());
        }
        let mut decided: Vec<(usize, Outcome)> = Vec::new();
        let txn = self.store.begin().await?;
        let (rooms, accepted) = authorize(&txn, posts, pending, &mut decided).await?;
        let (inserts, last_seq) = number(&txn, posts, accepted, &rooms, &mut decided).await?;
        let stored = self.insert(&txn, posts, &inserts, &rooms, &last_seq).await?;
        let mut notified = Vec::with_capacity(inserts.len());
        for (insert, message) in inserts.iter().zip(&stored) {
            let post = &posts[insert.index];
            let room = &rooms[&post.room_id];
            let mut sent = Vec::new();
            notifications::for_new_message(&txn, room, &post.user, message, insert.replied.as_ref(), &mut sent).await?;
            notified.push(sent);
        }
        let names = replied_names(&txn, posts, &inserts).await?;
        txn.commit().await.map_err(|e| BatchError::Commit(e.into()))?;

        // Committed: what to answer and to announce, post by post.
        for ((insert, message), sent) in inserts.iter().zip(stored).zip(notified) {
            let post = &mut posts[insert.index];
            let replied = insert.replied.as_ref().map(|r| {
                let username = names.get(&r.sender_id).cloned().unwrap_or_default();
                (
                    r,
                    UserRef {
                        id: r.sender_id,
                        username,
                    },
                )
            });
            // Fresh, a message has been read by its sender only: `is_read` is
            // true in the sender's answer, false in the broadcast.
            let message = Message {
                attachments: insert.attachments.iter().map(attachment).collect(),
                ..message_object(message, post.user.as_ref(), replied, true, 0)
            };
            let broadcast = Message {
                is_read: false,
                ..message.clone()
            };
            let event = ServerEvent::chat_message(broadcast);
            post.outbox.to_room(post.room_id, Some(insert.change_seq), event);
            notifications::announce(&mut post.outbox, sent);
            decided.push((insert.index, Outcome::Created(message)));
        }
        for (index, outcome) in decided {
            posts[index].outcome = outcome;
        }
        Ok(())
    }

    /// Inserts the numbered posts, moves each room's `last_seq` and each
    /// sender's read pointer; returns the stored rows in `inserts` order.
    async fn insert(
        &self,
        txn: &DatabaseTransaction,
        posts: &[Post],
        inserts: &[Insert],
        rooms: &HashMap<i64, rooms::Model>,
        last_seq: &HashMap<i64, i64>,
    ) -> Result<Vec<messages::Model>, DbErr> {
        if inserts.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<NewMessage<'_>> = inserts
            .iter()
            .map(|insert| {
                let post = &posts[insert.index];
                let fields = post.fields.as_ref().expect("inserted posts are validated");
                NewMessage {
                    room_id: post.room_id,
                    sender_id: post.user.id,
                    seq: insert.seq,
                    change_seq: insert.change_seq,
                    content: &fields.content,
                    message_type: fields.message_type.as_str(),
                    reply_to_id: insert.replied.as_ref().map(|m| m.id),
                    client_id: fields.client_id.as_deref(),
                }
            })
            .collect();
        store::messages::insert_many(txn, &rows).await?;
        let mut ranges = Vec::new();
        for (&room_id, &last) in last_seq {
            let first = rooms[&room_id].last_seq + 1;
            if last >= first {
                ranges.push((room_id, first, last));
                // Each message took one message number and one change number.
                let change_seq = rooms[&room_id].change_seq + (last - first + 1);
                store::rooms::set_last_seq(txn, room_id, last, change_seq).await?;
                // Posting shows the sender has seen the room up to their own message.
                let mut pointers: HashMap<i64, i64> = HashMap::new();
                for insert in inserts.iter().filter(|i| posts[i.index].room_id == room_id) {
                    let sender = posts[insert.index].user.id;
                    let seq = pointers.entry(sender).or_default();
                    *seq = (*seq).max(insert.seq);
                }
                let pointers: Vec<(i64, i64)> = pointers.into_iter().collect();
                store::members::advance_read_pointers(txn, room_id, &pointers).await?;
            }
        }
        let mut stored: HashMap<(i64, i64), messages::Model> = store::messages::find_by_seq_ranges(txn, &ranges)
            .await?
            .into_iter()
            .map(|m| ((m.room_id, m.seq), m))
            .collect();
        let stored: Vec<messages::Model> = inserts
            .iter()
            .map(|insert| {
                stored
                    .remove(&(posts[insert.index].room_id, insert.seq))
                    .ok_or_else(|| DbErr::RecordNotFound("a message just inserted".into()))
            })
            .collect::<Result<_, _>>()?;
        let searchable: Vec<(i64, &str)> = stored.iter().map(|m| (m.id, m.content.as_str())).collect();
        store::search::index(txn, &searchable).await?;
        for (insert, message) in inserts.iter().zip(&stored) {
            let ids: Vec<i64> = insert.attachments.iter().map(|f| f.id).collect();
            let expected = ids.len() as u64;
            // Checked above in this transaction; only the cleanup of old
            // uploads could have taken one since.
            if store::files::attach(txn, message.id, ids).await? != expected {
                return Err(DbErr::RecordNotUpdated);
            }
        }
        Ok(stored)
    }

    /// The answer to one post, once its batch is over.
    async fn answer(&self, posts: &mut [Post], index: usize) -> Result<(Message, Posted)> {
        if let Outcome::Failed(_) = posts[index].outcome {
            let Outcome::Failed(error) = std::mem::replace(&mut posts[index].outcome, Outcome::Pending) else {
                unreachable!("matched above")
            };
            // A retry that raced its first copy into another room's lane (or
            // another node) meets the unique index: it is that first copy.
            if let Some((sender, client_id)) = posts[index].client_key().filter(|_| is_unique_violation(&error)) {
                if let Some(first) = store::messages::find_by_client_id(self.store.reader(), sender, client_id).await? {
                    let message = present_one(self.store.reader(), sender, first).await?;
                    return Ok((message, Posted::Duplicate));
                }
            }
            return Err(error);
        }
        match &posts[index].outcome {
            Outcome::Created(message) => Ok((message.clone(), Posted::Created)),
            Outcome::DuplicateOf(first) => match &posts[*first].outcome {
                Outcome::Created(message) => Ok((message.clone(), Posted::Duplicate)),
                _ => Err(Error::internal(anyhow::anyhow!(
                    "a retried post's first copy was not stored"
                ))),
            },
            Outcome::Duplicate(first) => {
                let message = present_one(self.store.reader(), posts[index].user.id, first.clone()).await?;
                Ok((message, Posted::Duplicate))
            }
            Outcome::Failed(_) | Outcome::Pending => Err(Error::internal(anyhow::anyhow!("a post was left unwritten"))),
        }
    }
}

/// Locks the rooms of the `pending` posts, then authorizes and validates
/// each post on its own (a forbidden or invalid post is decided). Returns the
/// locked rooms and the posts that may go on.
async fn authorize(
    txn: &DatabaseTransaction,
    posts: &mut [Post],
    pending: Vec<usize>,
    decided: &mut Vec<(usize, Outcome)>,
) -> Result<(HashMap<i64, rooms::Model>, Vec<usize>)> {
    let room_ids: Vec<i64> = pending.iter().map(|&i| posts[i].room_id).collect();
    let rooms: HashMap<i64, rooms::Model> = store::rooms::find_many_for_update(txn, room_ids.clone())
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let sender_ids: Vec<i64> = pending.iter().map(|&i| posts[i].user.id).collect();
    let memberships: HashMap<(i64, i64), room_members::Model> = store::members::find_many(txn, room_ids, sender_ids)
        .await?
        .into_iter()
        .map(|m| ((m.room_id, m.user_id), m))
        .collect();
    let mut accepted = Vec::with_capacity(pending.len());
    for index in pending {
        let post = &mut posts[index];
        let Some(room) = rooms.get(&post.room_id) else {
            decided.push((index, Outcome::Failed(Error::NotFound)));
            continue;
        };
        let membership = memberships.get(&(post.room_id, post.user.id));
        if let Err(error) = policy::take_part(&access(room, membership)) {
            decided.push((index, Outcome::Failed(error)));
            continue;
        }
        // Permission first, then the fields, as DRF does.
        if post.validate() {
            accepted.push(index);
        }
    }
    Ok((rooms, accepted))
}

/// Numbers the `accepted` posts that will be stored, per room in the order
/// they came, after deciding the retries (a `client_id` stored before, or
/// earlier in this batch) and the bad replies. Returns the inserts and each
/// room's new `last_seq`.
async fn number(
    txn: &DatabaseTransaction,
    posts: &[Post],
    accepted: Vec<usize>,
    rooms: &HashMap<i64, rooms::Model>,
    decided: &mut Vec<(usize, Outcome)>,
) -> Result<(Vec<Insert>, HashMap<i64, i64>)> {
    let keys: Vec<(i64, &str)> = accepted.iter().filter_map(|&i| posts[i].client_key()).collect();
    let stored_first: HashMap<(i64, String), messages::Model> = store::messages::find_by_client_ids(txn, &keys)
        .await?
        .into_iter()
        .filter_map(|m| Some(((m.sender_id, m.client_id.clone()?), m)))
        .collect();
    let reply_ids: Vec<i64> = accepted
        .iter()
        .filter_map(|&i| posts[i].fields.as_ref()?.reply_to)
        .collect();
    let replied: HashMap<i64, messages::Model> = store::messages::find_many(txn, reply_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let file_ids: Vec<i64> = accepted
        .iter()
        .filter_map(|&i| posts[i].fields.as_ref())
        .flat_map(|f| f.attachments.iter().copied())
        .collect();
    let uploads: HashMap<i64, files::Model> = store::files::find_many(txn, file_ids)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    // Claimed by an earlier post of this batch.
    let mut claimed: Vec<i64> = Vec::new();

    let mut last_seq: HashMap<i64, i64> = rooms.values().map(|r| (r.id, r.last_seq)).collect();
    let mut change_seq: HashMap<i64, i64> = rooms.values().map(|r| (r.id, r.change_seq)).collect();
    let mut first_in_batch: HashMap<(i64, String), usize> = HashMap::new();
    let mut inserts: Vec<Insert> = Vec::with_capacity(accepted.len());
    for index in accepted {
        let post = &posts[index];
        let fields = post.fields.as_ref().expect("accepted posts are validated");
        if let Some((sender, client_id)) = post.client_key() {
            let key = (sender, client_id.to_owned());
            // A retry is the message stored first, even if what it replies
            // to was deleted since.
            if let Some(first) = stored_first.get(&key) {
                decided.push((index, Outcome::Duplicate(first.clone())));
                continue;
            }
            if let Some(&first) = first_in_batch.get(&key) {
                decided.push((index, Outcome::DuplicateOf(first)));
                continue;
            }
        }
        let reply = match fields.reply_to {
            Some(id) => match replied.get(&id).filter(|m| m.room_id == post.room_id && !m.is_deleted) {
                Some(replied) => Some(replied.clone()),
                None => {
                    let error = Error::field("reply_to", format!("Invalid pk \"{id}\" - object does not exist."));
                    decided.push((index, Outcome::Failed(error)));
                    continue;
                }
            },
            None => None,
        };
        let mut attachments = Vec::with_capacity(fields.attachments.len());
        for id in &fields.attachments {
            match uploads.get(id).filter(|f| {
                let attached = f.message_id.is_some() || claimed.contains(id);
                policy::attach_file(f.room_id, f.uploader_id, attached, post.room_id, post.user.id)
            }) {
                Some(file) => attachments.push(file.clone()),
                None => break,
            }
        }
        if attachments.len() < fields.attachments.len() {
            let id = fields.attachments[attachments.len()];
            let error = Error::field("attachments", format!("Invalid pk \"{id}\" - object does not exist."));
            decided.push((index, Outcome::Failed(error)));
            continue;
        }
        claimed.extend(attachments.iter().map(|f| f.id));
        if let Some((sender, client_id)) = post.client_key() {
            first_in_batch.insert((sender, client_id.to_owned()), index);
        }
        let seq = last_seq.get_mut(&post.room_id).expect("the room was loaded");
        *seq += 1;
        let change = change_seq.get_mut(&post.room_id).expect("the room was loaded");
        *change += 1;
        inserts.push(Insert {
            index,
            seq: *seq,
            change_seq: *change,
            replied: reply,
            attachments,
        });
    }
    Ok((inserts, last_seq))
}

/// The names of the senders of the messages replied to (other than the replier).
async fn replied_names(txn: &DatabaseTransaction, posts: &[Post], inserts: &[Insert]) -> Result<HashMap<i64, String>> {
    let mut ids: Vec<i64> = inserts
        .iter()
        .filter_map(|i| i.replied.as_ref().map(|r| r.sender_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut names: HashMap<i64, String> = inserts
        .iter()
        .map(|i| (posts[i.index].user.id, posts[i.index].user.username.clone()))
        .collect();
    ids.retain(|id| !names.contains_key(id));
    names.extend(store::users::names(txn, ids).await?);
    Ok(names)
}

fn is_unique_violation(error: &Error) -> bool {
    match error {
        Error::Internal(error) => error.downcast_ref::<DbErr>().is_some_and(store::is_unique_violation),
        _ => false,
    }
}
