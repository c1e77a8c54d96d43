//! The seam between nodes: every outbox goes through a [`Backplane`] on its
//! way to the sockets, so a second node can hear what the first committed.
//!
//! [`LocalBackplane`] serves a single node: it applies each notice to this
//! node's [`Hub`] at once, in order. A Redis implementation publishes the same
//! notices to the other nodes, each of which applies them to its own hub; the
//! room sequence in each event lets a receiver detect a gap and fill it from
//! the database.

use super::hub::Hub;
use crate::chat::outbox::{Notice, Outbox, Publisher};

/// Carries notices from the node that caused them to every node's hub.
pub trait Backplane: Send + Sync + 'static {
    /// Hands `notices` over for delivery, in order. Never waits on the network:
    /// a backplane that must, queues.
    fn publish(&self, notices: Vec<Notice>);

    /// Publishes `outbox`, then runs `then` once this node's sockets have
    /// been handed what was published about `room` so far: a post's answer
    /// to its sender comes after the echoes of the posts before it. This
    /// node's hub is handed everything at once by default.
    fn publish_then(&self, room: i64, outbox: Outbox, then: Box<dyn FnOnce() + Send>) {
        let _ = room;
        Backplane::publish(self, outbox.into_notices());
        then();
    }
}

/// The use cases' [`Publisher`] is whichever backplane the node runs.
impl<B: Backplane + ?Sized> Publisher for B {
    fn publish(&self, outbox: Outbox) {
        if !outbox.is_empty() {
            Backplane::publish(self, outbox.into_notices());
        }
    }

    fn publish_then(&self, room: i64, outbox: Outbox, then: Box<dyn FnOnce() + Send>) {
        Backplane::publish_then(self, room, outbox, then);
    }
}

/// One node: notices go straight to this node's hub.
pub struct LocalBackplane {
    hub: Hub,
}

impl LocalBackplane {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl Backplane for LocalBackplane {
    fn publish(&self, notices: Vec<Notice>) {
        for notice in &notices {
            self.hub.apply(notice);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::events::ServerEvent;
    use crate::chat::types::UserRef;

    #[test]
    fn an_outbox_reaches_the_hub_in_order() {
        let hub = Hub::new(16);
        let alice = UserRef {
            id: 1,
            username: "alice".into(),
        };
        let mut room_socket = hub.subscribe(5, alice.clone());
        let mut user_socket = hub.subscribe_user(alice.clone(), &[]);
        let backplane = LocalBackplane::new(hub.clone());
        let publisher: &dyn Publisher = &backplane;

        let mut outbox = Outbox::new();
        outbox.push(Notice::Follow {
            room: 5,
            user: alice.clone(),
        });
        outbox.to_room(5, Some(1), ServerEvent::MemberAdded { user: alice });
        outbox.to_user(1, ServerEvent::Pong);
        publisher.publish(outbox);
        publisher.publish(Outbox::new()); // nothing to say: nothing happens

        let room_frames: Vec<_> = std::iter::from_fn(|| room_socket.rx.try_recv().ok()).collect();
        let kinds: Vec<&str> = room_frames.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["member_added", "pong"]);
        let user_frames: Vec<_> = std::iter::from_fn(|| user_socket.rx.try_recv().ok()).collect();
        let tagged: Vec<String> = user_frames
            .iter()
            .map(|f| f.tagged_text().as_str().to_owned())
            .collect();
        assert_eq!(
            tagged,
            [
                r#"{"room":5,"type":"member_added","user":{"id":1,"username":"alice"}}"#.to_owned(),
                r#"{"type":"pong"}"#.to_owned(),
            ],
            "the user socket follows the room from the Follow notice on"
        );
    }
}
