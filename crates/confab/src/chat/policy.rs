//! Who may do what: every authorization rule of the chat, as pure functions
//! over the facts they need. Handlers, the socket layer and the CLI ask here;
//! nothing else decides. No database: the rules are unit-tested below.
//!
//! The global gate (only users with the `developer` role use chat at all) is
//! enforced by the [`crate::auth::Developer`] extractor before any of these run.
//!
//! Denials carry the status the contract wants: rooms a caller may not see
//! are [`Error::NotFound`] (existence is not leaked); visible rooms where the
//! caller lacks the role are [`Error::Forbidden`].

use super::types::{Role, RoomType};
use crate::error::{Error, Result};

/// What the rules need to know about a room and the caller.
#[derive(Clone, Copy, Debug)]
pub struct RoomAccess {
    pub room_type: RoomType,
    pub is_active: bool,
    /// A direct conversation: its two members are fixed.
    pub is_direct: bool,
    /// The caller's role in the room; `None` when not a member.
    pub my_role: Option<Role>,
}

/// Why a user's open connections must end: the account is gone or was
/// deactivated (4001), or it lost the developer role (4003).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    Inactive,
    NotDeveloper,
}

/// Whether an account (`None`: deleted) may still use chat: checked at every
/// request and handshake, and again for open sockets every ping interval.
pub fn still_may_chat(account: Option<(bool, bool)>) -> Result<(), Revocation> {
    match account {
        None | Some((false, _)) => Err(Revocation::Inactive),
        Some((true, false)) => Err(Revocation::NotDeveloper),
        Some((true, true)) => Ok(()),
    }
}

/// Active rooms are visible to their members, and public ones to every developer.
/// (`store::rooms::page_visible` is the same rule in SQL, for lists.)
pub fn can_view_room(room: &RoomAccess) -> bool {
    room.is_active && (room.room_type == RoomType::Public || room.my_role.is_some())
}

/// Reading a room, its members or (later) its history.
pub fn view_room(room: &RoomAccess) -> Result<()> {
    if can_view_room(room) {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// Changing a room's name, description or type, or deleting it: room admins;
/// never a direct conversation.
pub fn manage_room(room: &RoomAccess) -> Result<()> {
    view_room(room)?;
    fixed_membership(room)?;
    require_role(room, &[Role::Admin])
}

/// A direct conversation is between its two people for good: nobody joins,
/// leaves, is removed or changes role, and it is not renamed or deleted.
fn fixed_membership(room: &RoomAccess) -> Result<()> {
    if room.is_direct {
        return Err(Error::Forbidden(
            "A direct conversation always has its two members and cannot be changed.".into(),
        ));
    }
    Ok(())
}

/// Opening a direct conversation with another active developer (found by
/// `members::find_developer`): not with oneself. `Err` carries the message
/// for the field that named the other user.
pub fn open_direct(caller_id: i64, other_id: i64) -> std::result::Result<(), &'static str> {
    if other_id == caller_id {
        return Err("You cannot start a direct conversation with yourself.");
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinDecision {
    Join,
    AlreadyMember,
}

/// Public rooms: anyone, idempotently. Private and group rooms take members
/// only by invitation, so joining them is forbidden (as the contract says,
/// even though that answer differs from the 404 a non-member gets on read).
pub fn join_room(room: &RoomAccess) -> Result<JoinDecision> {
    if !room.is_active {
        return Err(Error::NotFound);
    }
    if room.my_role.is_some() {
        return Ok(JoinDecision::AlreadyMember);
    }
    match room.room_type {
        RoomType::Public => Ok(JoinDecision::Join),
        RoomType::Private | RoomType::Group => Err(Error::Forbidden(
            "This room is invite-only: ask an admin or moderator to add you.".into(),
        )),
    }
}

/// Leaving requires being a member.
pub fn leave_room(room: &RoomAccess) -> Result<Role> {
    view_room(room)?;
    fixed_membership(room)?;
    room.my_role
        .ok_or_else(|| Error::BadRequest("You are not a member of this room.".into()))
}

/// Adding members: room admins and moderators.
pub fn add_member(room: &RoomAccess) -> Result<()> {
    view_room(room)?;
    fixed_membership(room)?;
    require_role(room, &[Role::Admin, Role::Moderator])
}

/// Changing members' roles: room admins only.
pub fn change_roles(room: &RoomAccess) -> Result<()> {
    view_room(room)?;
    fixed_membership(room)?;
    require_role(room, &[Role::Admin])
}

/// A room never loses its last admin by demotion. `admins` counts the room's
/// admins before the change.
pub fn check_demotion(target_role: Role, new_role: Role, admins: u64) -> Result<()> {
    if target_role == Role::Admin && new_role != Role::Admin && admins <= 1 {
        return Err(Error::field("role", "The last admin of a room cannot be demoted."));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The caller removes themself: the same as leaving.
    Leave,
    /// The caller removes someone else, who is notified.
    Kick,
}

/// Removing a member: anyone may remove themself; admins may remove anyone;
/// moderators may remove plain members.
pub fn remove_member(room: &RoomAccess, is_self: bool, target_role: Role) -> Result<Removal> {
    view_room(room)?;
    fixed_membership(room)?;
    if is_self {
        return Ok(Removal::Leave);
    }
    match (room.my_role, target_role) {
        (Some(Role::Admin), _) => Ok(Removal::Kick),
        (Some(Role::Moderator), Role::Member) => Ok(Removal::Kick),
        _ => Err(Error::forbidden()),
    }
}

/// The role of someone joining a public room: a room left without any admin
/// (everyone left) gets its next joiner as admin, so it is never unmanaged.
pub fn role_on_join(admins: u64) -> Role {
    if admins == 0 {
        Role::Admin
    } else {
        Role::Member
    }
}

/// An invite-only room whose last member left can never be reached again
/// (nobody can see it or join it), so it is deactivated like a deleted room.
pub fn deactivate_when_empty(room_type: RoomType) -> bool {
    room_type != RoomType::Public
}

/// Posting a message, or moving one's read pointer: members of an active room.
pub fn take_part(room: &RoomAccess) -> Result<()> {
    view_room(room)?;
    match room.my_role {
        Some(_) => Ok(()),
        None => Err(Error::Forbidden("You are not a member of this room.".into())),
    }
}

/// Deleting a message: its sender, or a room admin or moderator.
pub fn delete_message(room: &RoomAccess, is_sender: bool) -> Result<()> {
    view_room(room)?;
    if is_sender {
        return Ok(());
    }
    require_role(room, &[Role::Admin, Role::Moderator])
}

/// Editing a message: its sender, while still a member of the room.
pub fn edit_message(room: &RoomAccess, is_sender: bool) -> Result<()> {
    view_room(room)?;
    if !is_sender {
        return Err(Error::Forbidden("Only the sender may edit a message.".into()));
    }
    take_part(room)
}

/// Reacting to a message, or taking one's reaction back: members.
pub fn react(room: &RoomAccess) -> Result<()> {
    take_part(room)
}

/// Uploading a file to a room: members, as for posting.
pub fn upload_file(room: &RoomAccess) -> Result<()> {
    take_part(room)
}

/// Attaching an uploaded file to a post: its uploader, in the room it was
/// uploaded to, once. Anything else looks like a file that does not exist.
pub fn attach_file(file_room: i64, uploader: i64, attached: bool, post_room: i64, sender: i64) -> bool {
    file_room == post_room && uploader == sender && !attached
}

/// Downloading a file: whoever holds a link this server signed and that has
/// not expired (a link is handed only to those who may see the file); the
/// file must still be visible: its room active, its message (if any) not
/// deleted. A bad link is 403 before anything about the file is told.
pub fn download_file(link_valid: bool, visible: bool) -> Result<()> {
    if !link_valid {
        return Err(Error::Forbidden("This link has expired or is not valid.".into()));
    }
    if !visible {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// When a member leaves, does someone have to be promoted to admin?
/// `admins` counts the room's admins before the departure.
pub fn needs_successor(leaving_role: Role, admins: u64) -> bool {
    leaving_role == Role::Admin && admins <= 1
}

fn require_role(room: &RoomAccess, allowed: &[Role]) -> Result<()> {
    match room.my_role {
        Some(role) if allowed.contains(&role) => Ok(()),
        _ => Err(Error::forbidden()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    const TYPES: [RoomType; 3] = [RoomType::Public, RoomType::Private, RoomType::Group];
    const CALLERS: [Option<Role>; 4] = [None, Some(Role::Member), Some(Role::Moderator), Some(Role::Admin)];

    fn room(room_type: RoomType, my_role: Option<Role>) -> RoomAccess {
        RoomAccess {
            room_type,
            is_active: true,
            is_direct: false,
            my_role,
        }
    }

    fn status<T>(result: Result<T>) -> Option<StatusCode> {
        result.err().map(|e| e.status())
    }

    #[test]
    fn direct_conversations_keep_their_two_members() {
        for caller in CALLERS {
            let direct = RoomAccess {
                is_direct: true,
                ..room(RoomType::Private, caller)
            };
            let expected = match caller {
                None => StatusCode::NOT_FOUND,
                Some(_) => StatusCode::FORBIDDEN,
            };
            assert_eq!(status(manage_room(&direct)), Some(expected), "{caller:?}");
            assert_eq!(status(add_member(&direct)), Some(expected));
            assert_eq!(status(change_roles(&direct)), Some(expected));
            assert_eq!(status(leave_room(&direct)), Some(expected));
            assert_eq!(status(remove_member(&direct, true, Role::Member)), Some(expected));
            assert_eq!(status(remove_member(&direct, false, Role::Member)), Some(expected));
            if caller.is_some() {
                assert!(view_room(&direct).is_ok());
                assert!(take_part(&direct).is_ok());
            }
        }
    }

    #[test]
    fn direct_conversations_are_with_someone_else() {
        assert!(open_direct(1, 2).is_ok());
        assert!(open_direct(1, 1).is_err());
    }

    #[test]
    fn visibility_matrix() {
        for room_type in TYPES {
            for caller in CALLERS {
                let expected = room_type == RoomType::Public || caller.is_some();
                assert_eq!(
                    can_view_room(&room(room_type, caller)),
                    expected,
                    "{room_type} {caller:?}"
                );
                let inactive = RoomAccess {
                    is_active: false,
                    ..room(room_type, caller)
                };
                assert!(!can_view_room(&inactive));
                assert_eq!(status(view_room(&inactive)), Some(StatusCode::NOT_FOUND));
            }
        }
    }

    #[test]
    fn hidden_rooms_are_not_found_not_forbidden() {
        for room_type in [RoomType::Private, RoomType::Group] {
            let outsider = room(room_type, None);
            assert_eq!(status(view_room(&outsider)), Some(StatusCode::NOT_FOUND));
            assert_eq!(status(manage_room(&outsider)), Some(StatusCode::NOT_FOUND));
            assert_eq!(status(add_member(&outsider)), Some(StatusCode::NOT_FOUND));
            assert_eq!(status(leave_room(&outsider)), Some(StatusCode::NOT_FOUND));
            assert_eq!(
                status(remove_member(&outsider, false, Role::Member)),
                Some(StatusCode::NOT_FOUND)
            );
        }
    }

    #[test]
    fn only_admins_manage_rooms() {
        for room_type in TYPES {
            for caller in CALLERS {
                let result = manage_room(&room(room_type, caller));
                match caller {
                    Some(Role::Admin) => assert!(result.is_ok()),
                    None if room_type != RoomType::Public => {
                        assert_eq!(status(result), Some(StatusCode::NOT_FOUND))
                    }
                    _ => assert_eq!(status(result), Some(StatusCode::FORBIDDEN)),
                }
            }
        }
    }

    #[test]
    fn joining() {
        assert_eq!(join_room(&room(RoomType::Public, None)).unwrap(), JoinDecision::Join);
        assert_eq!(
            join_room(&room(RoomType::Public, Some(Role::Member))).unwrap(),
            JoinDecision::AlreadyMember
        );
        for room_type in [RoomType::Private, RoomType::Group] {
            assert_eq!(status(join_room(&room(room_type, None))), Some(StatusCode::FORBIDDEN));
            assert_eq!(
                join_room(&room(room_type, Some(Role::Member))).unwrap(),
                JoinDecision::AlreadyMember
            );
        }
        let inactive = RoomAccess {
            is_active: false,
            ..room(RoomType::Public, None)
        };
        assert_eq!(status(join_room(&inactive)), Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn leaving_requires_membership() {
        assert_eq!(
            status(leave_room(&room(RoomType::Public, None))),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            leave_room(&room(RoomType::Group, Some(Role::Moderator))).unwrap(),
            Role::Moderator
        );
    }

    #[test]
    fn adding_members() {
        for room_type in TYPES {
            assert!(add_member(&room(room_type, Some(Role::Admin))).is_ok());
            assert!(add_member(&room(room_type, Some(Role::Moderator))).is_ok());
            assert_eq!(
                status(add_member(&room(room_type, Some(Role::Member)))),
                Some(StatusCode::FORBIDDEN)
            );
        }
        assert_eq!(
            status(add_member(&room(RoomType::Public, None))),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn role_changes_are_for_admins_and_keep_one_admin() {
        assert!(change_roles(&room(RoomType::Group, Some(Role::Admin))).is_ok());
        for caller in [Some(Role::Moderator), Some(Role::Member)] {
            assert_eq!(
                status(change_roles(&room(RoomType::Group, caller))),
                Some(StatusCode::FORBIDDEN)
            );
        }
        assert_eq!(
            status(change_roles(&room(RoomType::Group, None))),
            Some(StatusCode::NOT_FOUND)
        );
        assert!(check_demotion(Role::Member, Role::Moderator, 1).is_ok());
        assert!(check_demotion(Role::Admin, Role::Member, 2).is_ok());
        assert_eq!(
            status(check_demotion(Role::Admin, Role::Member, 1)),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            status(check_demotion(Role::Admin, Role::Moderator, 1)),
            Some(StatusCode::BAD_REQUEST)
        );
        assert!(check_demotion(Role::Admin, Role::Admin, 1).is_ok());
    }

    #[test]
    fn taking_part_needs_membership() {
        for room_type in TYPES {
            for caller in CALLERS {
                let result = take_part(&room(room_type, caller));
                match (caller, room_type) {
                    (Some(_), _) => assert!(result.is_ok()),
                    (None, RoomType::Public) => assert_eq!(status(result), Some(StatusCode::FORBIDDEN)),
                    (None, _) => assert_eq!(status(result), Some(StatusCode::NOT_FOUND)),
                }
            }
        }
        let inactive = RoomAccess {
            is_active: false,
            ..room(RoomType::Public, Some(Role::Admin))
        };
        assert_eq!(status(take_part(&inactive)), Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn deleting_messages() {
        for caller in CALLERS {
            // Senders may delete their own messages, even after leaving a public room.
            assert!(delete_message(&room(RoomType::Public, caller), true).is_ok());
            let others = delete_message(&room(RoomType::Group, caller), false);
            match caller {
                Some(Role::Admin | Role::Moderator) => assert!(others.is_ok()),
                Some(Role::Member) => assert_eq!(status(others), Some(StatusCode::FORBIDDEN)),
                None => assert_eq!(status(others), Some(StatusCode::NOT_FOUND)),
            }
        }
        assert_eq!(
            status(delete_message(&room(RoomType::Private, None), true)),
            Some(StatusCode::NOT_FOUND)
        );
    }

    #[test]
    fn empty_rooms() {
        assert_eq!(role_on_join(0), Role::Admin);
        assert_eq!(role_on_join(1), Role::Member);
        assert!(!deactivate_when_empty(RoomType::Public));
        assert!(deactivate_when_empty(RoomType::Private));
        assert!(deactivate_when_empty(RoomType::Group));
    }

    #[test]
    fn removal_matrix() {
        use Role::*;
        // (caller, target, allowed)
        let cases = [
            (Admin, Admin, true),
            (Admin, Moderator, true),
            (Admin, Member, true),
            (Moderator, Admin, false),
            (Moderator, Moderator, false),
            (Moderator, Member, true),
            (Member, Admin, false),
            (Member, Moderator, false),
            (Member, Member, false),
        ];
        for (caller, target, allowed) in cases {
            let result = remove_member(&room(RoomType::Group, Some(caller)), false, target);
            if allowed {
                assert_eq!(result.unwrap(), Removal::Kick, "{caller} removes {target}");
            } else {
                assert_eq!(status(result), Some(StatusCode::FORBIDDEN), "{caller} removes {target}");
            }
        }
        for caller in [Admin, Moderator, Member] {
            assert_eq!(
                remove_member(&room(RoomType::Group, Some(caller)), true, caller).unwrap(),
                Removal::Leave
            );
        }
        assert_eq!(
            status(remove_member(&room(RoomType::Public, None), false, Member)),
            Some(StatusCode::FORBIDDEN)
        );
    }

    #[test]
    fn successor_only_for_the_last_admin() {
        assert!(needs_successor(Role::Admin, 1));
        assert!(!needs_successor(Role::Admin, 2));
        assert!(!needs_successor(Role::Moderator, 0));
        assert!(!needs_successor(Role::Member, 1));
    }
}
