//! Reactions: an emoji per (message, user), at most
//! [`EMOJI_PER_MESSAGE_MAX`] different ones per message. Adding and taking
//! back are history changes, numbered like edits and announced to the room.

use super::events::ServerEvent;
use super::messages::{begin_change, record_change, MessageChange};
use super::outbox::{Outbox, Publisher};
use super::policy;
use super::types::limits::{EMOJI_MAX, EMOJI_PER_MESSAGE_MAX};
use super::types::{Reaction, UserRef};
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::{self, Store};

/// Whether [`add`] stored a reaction or found it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    Created,
    Existing,
}

/// An emoji as the contract takes it: 1 to 32 characters, no whitespace
/// (nor control characters, which no emoji holds).
pub fn valid_emoji(emoji: &str) -> Result<(), String> {
    let count = emoji.chars().count();
    if count == 0 || count > EMOJI_MAX {
        return Err(format!("Use 1 to {EMOJI_MAX} characters."));
    }
    if emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("No whitespace.".into());
    }
    Ok(())
}

/// Reacts to a message with `emoji` (validated once the caller may react).
/// Returns everyone's reaction with that emoji on the message.
pub async fn add(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    message_id: i64,
    emoji: impl FnOnce() -> Result<String>,
) -> Result<(Added, Reaction)> {
    // The room lock orders this with every other change to the room,
    // which also makes the count below exact.
    let MessageChange {
        order: _order,
        txn,
        message,
        facts,
    } = begin_change(store, user, message_id).await?;
    policy::react(&facts.access)?;
    let emoji = emoji()?;
    if store::reactions::find(&txn, message_id, user.id, &emoji)
        .await?
        .is_some()
    {
        drop(txn);
        return Ok((Added::Existing, summary(store, message_id, &emoji).await?));
    }
    let (distinct, known) = store::reactions::distinct_emoji(&txn, message_id, &emoji).await?;
    if !known && distinct >= EMOJI_PER_MESSAGE_MAX {
        return Err(Error::field(
            "emoji",
            format!("A message can have at most {EMOJI_PER_MESSAGE_MAX} different emoji."),
        ));
    }
    match store::reactions::insert(&txn, message_id, user.id, &emoji).await {
        Ok(()) => {}
        // Another request of this user got there first (a backend without row locks).
        Err(error) if store::is_unique_violation(&error) => {
            drop(txn);
            return Ok((Added::Existing, summary(store, message_id, &emoji).await?));
        }
        Err(error) => return Err(error.into()),
    }
    let change_seq = record_change(&txn, &facts, "reaction_added", message_id, Some((user.id, &emoji))).await?;
    txn.commit().await?;
    let mut outbox = Outbox::new();
    outbox.to_room(
        message.room_id,
        Some(change_seq),
        ServerEvent::ReactionAdded {
            message_id,
            emoji: emoji.clone(),
            user: user.as_ref(),
            change_seq,
        },
    );
    publisher.publish(outbox);
    Ok((Added::Created, summary(store, message_id, &emoji).await?))
}

/// Takes back the caller's reaction with `emoji`; not found when there is none.
pub async fn remove(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    message_id: i64,
    emoji: &str,
) -> Result<()> {
    let MessageChange {
        order: _order,
        txn,
        message,
        facts,
    } = begin_change(store, user, message_id).await?;
    policy::react(&facts.access)?;
    let reaction = store::reactions::find(&txn, message_id, user.id, emoji)
        .await?
        .ok_or(Error::NotFound)?;
    store::reactions::delete(&txn, reaction.id).await?;
    let change_seq = record_change(&txn, &facts, "reaction_removed", message_id, Some((user.id, emoji))).await?;
    txn.commit().await?;
    let mut outbox = Outbox::new();
    outbox.to_room(
        message.room_id,
        Some(change_seq),
        ServerEvent::ReactionRemoved {
            message_id,
            emoji: emoji.to_owned(),
            user: user.as_ref(),
            change_seq,
        },
    );
    publisher.publish(outbox);
    Ok(())
}

/// Everyone's reaction with `emoji` on a message, as message objects list them.
async fn summary(store: &Store, message_id: i64, emoji: &str) -> Result<Reaction> {
    let db = store.reader();
    let rows: Vec<_> = store::reactions::of_messages(db, vec![message_id])
        .await?
        .into_iter()
        .filter(|r| r.emoji == emoji)
        .collect();
    let names: std::collections::HashMap<i64, String> =
        store::users::names(db, rows.iter().map(|r| r.user_id).collect())
            .await?
            .into_iter()
            .collect();
    let users: Vec<UserRef> = rows
        .iter()
        .map(|r| UserRef {
            id: r.user_id,
            username: names.get(&r.user_id).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(Reaction {
        emoji: emoji.to_owned(),
        count: users.len() as i64,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_rules() {
        for good in ["👍", "🎉", "👨‍👩‍👧‍👦", ":+1:", "ok", "x".repeat(32).as_str()] {
            assert!(valid_emoji(good).is_ok(), "{good}");
        }
        for bad in ["", " ", "a b", "👍\n", "\t", "\u{0}", "x".repeat(33).as_str()] {
            assert!(valid_emoji(bad).is_err(), "{bad:?}");
        }
    }
}
