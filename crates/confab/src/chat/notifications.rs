//! Notifications: the ones a new message causes (`mention`, `reply`), and
//! reading them. Membership changes write theirs in `members`.

use sea_orm::ConnectionTrait;

use super::events::ServerEvent;
use super::outbox::Outbox;
use super::types::Notification;
use super::Window;
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::entities::{messages, notifications, rooms};
use crate::store::notifications::NewNotification;
use crate::store::{self, Store};

/// Characters of a message quoted in a notification.
const QUOTE_CHARS: usize = 200;

/// `@name` tokens of a message, lower-cased, without duplicates. A name is
/// what a username may hold (letters, digits, `@.+-_`), so the text splits
/// into runs of such characters and a run that starts with `@` is a mention:
/// `bob@example.com` is not one, and a trailing `.` is punctuation ("thanks @bob.").
pub fn mentioned_names(content: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let runs = content.split(|c: char| !(c.is_alphanumeric() || "@.+-_".contains(c)));
    for run in runs {
        let Some(name) = run.strip_prefix('@') else { continue };
        let name = name.trim_start_matches('@').trim_end_matches('.').to_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Notifies, inside the message's transaction: the author of the message
/// replied to (`reply`), and every other member named with `@` (`mention`).
/// Nobody is notified of their own message, and nobody twice.
pub(crate) async fn for_new_message<C: ConnectionTrait>(
    db: &C,
    room: &rooms::Model,
    sender: &CurrentUser,
    message: &messages::Model,
    replied: Option<&messages::Model>,
    sent: &mut Vec<notifications::Model>,
) -> Result<()> {
    let quote: String = message.content.chars().take(QUOTE_CHARS).collect();
    let mut notified = vec![sender.id];
    if let Some(original) = replied.filter(|m| m.sender_id != sender.id) {
        let notification = store::notifications::insert(
            db,
            NewNotification {
                user_id: original.sender_id,
                notification_type: "reply",
                title: format!("{} replied to you in {}", sender.username, room.name),
                content: quote.clone(),
                room_id: Some(room.id),
                message_id: Some(message.id),
            },
        )
        .await?;
        sent.push(notification);
        notified.push(original.sender_id);
    }
    let names = mentioned_names(&message.content);
    notify_mentioned(db, room, sender, message, names, &notified, sent).await
}

/// A `mention` notification for each member named in `names`, except those
/// in `skip`, each once.
async fn notify_mentioned<C: ConnectionTrait>(
    db: &C,
    room: &rooms::Model,
    author: &CurrentUser,
    message: &messages::Model,
    names: Vec<String>,
    skip: &[i64],
    sent: &mut Vec<notifications::Model>,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let quote: String = message.content.chars().take(QUOTE_CHARS).collect();
    for user_id in store::members::user_ids_by_names(db, room.id, names).await? {
        if skip.contains(&user_id)
            || sent
                .iter()
                .any(|n| n.user_id == user_id && n.message_id == Some(message.id))
        {
            continue;
        }
        let notification = store::notifications::insert(
            db,
            NewNotification {
                user_id,
                notification_type: "mention",
                title: format!("{} mentioned you in {}", author.username, room.name),
                content: quote.clone(),
                room_id: Some(room.id),
                message_id: Some(message.id),
            },
        )
        .await?;
        sent.push(notification);
    }
    Ok(())
}

/// Notifies, inside an edit's transaction, the members the new content
/// mentions and `mentioned_before` (the old content's names) did not.
pub(crate) async fn for_edit<C: ConnectionTrait>(
    db: &C,
    room: &rooms::Model,
    editor: &CurrentUser,
    message: &messages::Model,
    mentioned_before: &[String],
    sent: &mut Vec<notifications::Model>,
) -> Result<()> {
    let names: Vec<String> = mentioned_names(&message.content)
        .into_iter()
        .filter(|name| !mentioned_before.contains(name))
        .collect();
    notify_mentioned(db, room, editor, message, names, &[editor.id], sent).await
}

pub async fn list(
    store: &Store,
    user: &CurrentUser,
    is_read: Option<bool>,
    window: Window,
) -> Result<(u64, Vec<Notification>)> {
    let (total, rows) =
        store::notifications::page_for_user(store.reader(), user.id, is_read, window.offset, window.limit).await?;
    Ok((total, rows.into_iter().map(present).collect()))
}

/// Marks one of the caller's notifications read; someone else's is not found.
pub async fn mark_read(store: &Store, user: &CurrentUser, id: i64) -> Result<Notification> {
    let txn = store.begin().await?;
    let mut found = store::notifications::find_for_user(&txn, id, user.id)
        .await?
        .ok_or(Error::NotFound)?;
    store::notifications::mark_read(&txn, user.id, Some(id)).await?;
    txn.commit().await?;
    found.is_read = true;
    Ok(present(found))
}

/// Marks all the caller's notifications read; returns how many were unread.
pub async fn mark_all_read(store: &Store, user: &CurrentUser) -> Result<u64> {
    let txn = store.begin().await?;
    let updated = store::notifications::mark_read(&txn, user.id, None).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Puts notifications in the outbox, for every open socket of their recipients.
pub(crate) fn announce(outbox: &mut Outbox, sent: Vec<notifications::Model>) {
    for n in sent {
        let user_id = n.user_id;
        let notification = present(n);
        outbox.to_user(user_id, ServerEvent::Notification { notification });
    }
}

fn present(n: notifications::Model) -> Notification {
    Notification {
        id: n.id,
        notification_type: n.notification_type,
        title: n.title,
        content: n.content,
        is_read: n.is_read,
        created_at: n.created_at,
        room: n.room_id,
        message: n.message_id,
    }
}

#[cfg(test)]
mod tests {
    use super::mentioned_names;

    #[test]
    fn mentions() {
        assert_eq!(mentioned_names("hi @Bob and @alice."), ["bob", "alice"]);
        assert_eq!(mentioned_names("@bob @BOB @bob"), ["bob"]);
        assert_eq!(mentioned_names("mail me at bob@example.com"), Vec::<String>::new());
        assert!(mentioned_names("@ alone, @@, trailing @").is_empty());
        assert_eq!(mentioned_names("(@dev.team-1)"), ["dev.team-1"]);
        assert_eq!(mentioned_names("@名字 hi"), ["名字"]);
    }
}
