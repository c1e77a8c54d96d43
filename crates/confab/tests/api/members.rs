//! `/api/chat/rooms/{id}/members/...`: list, add, change role, remove, with
//! the full permission matrix and the notifications each change sends.

use std::collections::BTreeSet;

use confab::auth::accounts;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_detail, call_raw, forbidden, not_found, spawn_app, RawResponse, TestApp, TestUser};

fn members_path(room: i64) -> String {
    format!("/api/chat/rooms/{room}/members/")
}

fn member_path(room: i64, user_id: i64) -> String {
    format!("/api/chat/rooms/{room}/members/{user_id}/")
}

/// Asserts a member object: exactly `{user, role, joined_at, is_online}`.
fn assert_member(member: &Value, user: &TestUser, role: &str) {
    let keys: BTreeSet<&str> = member
        .as_object()
        .unwrap_or_else(|| panic!("expected a member object, got {member}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["user", "role", "joined_at", "is_online"]),
        "{member}"
    );
    assert_eq!(
        member["user"],
        json!({"id": user.id, "username": user.username}),
        "{member}"
    );
    assert_eq!(member["role"], role, "{member}");
    assert_eq!(member["is_online"], false, "{member}");
    let joined_at = member["joined_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no joined_at in {member}"));
    assert!(joined_at.ends_with('Z'), "not UTC: {joined_at}");
    chrono::DateTime::parse_from_rfc3339(joined_at).unwrap_or_else(|e| panic!("not RFC 3339: {joined_at}: {e}"));
}

/// `(user id, role)` of a room's members, longest-standing first.
async fn roles(app: &TestApp, room: i64, viewer: &TestUser) -> Vec<(i64, String)> {
    let (status, body) = app.get(&members_path(room), viewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {body}"))
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn role_of(app: &TestApp, room: i64, viewer: &TestUser, user: &TestUser) -> Option<String> {
    roles(app, room, viewer)
        .await
        .into_iter()
        .find(|(id, _)| *id == user.id)
        .map(|(_, role)| role)
}

/// Types of the notifications `user` got about `room`, oldest first.
async fn notes(app: &TestApp, user: &TestUser, room: i64) -> Vec<String> {
    app.notifications_of(user)
        .await
        .into_iter()
        .filter(|(_, r)| *r == Some(room))
        .map(|(kind, _)| kind)
        .collect()
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------- list

#[tokio::test]
async fn list_members_as_a_plain_array() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let room = app.room(&alice, "general", "public").await;
    app.add_member(room, &alice, &bob, "member").await;
    app.add_member(room, &alice, &carol, "moderator").await;

    let (status, members) = app.get(&members_path(room), &alice).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let list = members
        .as_array()
        .unwrap_or_else(|| panic!("a plain array, not a page: {members}"));
    assert_eq!(list.len(), 3, "{members}");
    assert_member(&list[0], &alice, "admin");
    assert_member(&list[1], &bob, "member");
    assert_member(&list[2], &carol, "moderator");

    // A developer outside a public room sees the same list.
    let (status, seen_by_dave) = app.get(&members_path(room), &dave).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen_by_dave, members);

    // Invite-only rooms do not exist for outsiders.
    for room_type in ["private", "group"] {
        let hidden = app.room(&alice, room_type, room_type).await;
        let (status, body) = app.get(&members_path(hidden), &dave).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{room_type}");
        let (status, body) = app.get(&members_path(hidden), &alice).await;
        assert_eq!(status, StatusCode::OK, "{room_type}: {body}");
        assert_member(&body[0], &alice, "admin");
    }
    for id in ["999999", "abc", "0", "-3"] {
        let (status, body) = app.get(&format!("/api/chat/rooms/{id}/members/"), &alice).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "room {id}");
    }
}

// ---------------------------------------------------------------- add

#[tokio::test]
async fn add_members_by_id_and_by_username() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let room = app.room(&alice, "team", "group").await;

    let (status, member) = app.post(&members_path(room), &alice, json!({"user_id": bob.id})).await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_member(&member, &bob, "member");

    let (status, member) = app
        .post(&members_path(room), &alice, json!({"username": "carol"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_member(&member, &carol, "member");

    // DRF's IntegerField also takes a numeric string.
    let (status, member) = app
        .post(&members_path(room), &alice, json!({"user_id": dave.id.to_string()}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_member(&member, &dave, "member");

    for user in [&bob, &carol, &dave] {
        assert_eq!(
            app.notifications_of(user).await,
            vec![("room_invite".to_owned(), Some(room))],
            "{}",
            user.username
        );
        let (status, seen) = app.get(&format!("/api/chat/rooms/{room}/"), user).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} now sees the group room: {seen}",
            user.username
        );
        assert_eq!((&seen["is_member"], &seen["my_role"]), (&json!(true), &json!("member")));
    }
    assert!(
        app.notifications_of(&alice).await.is_empty(),
        "no notification to the one who adds"
    );
    assert_eq!(
        roles(&app, room, &alice).await,
        vec![
            (alice.id, "admin".to_owned()),
            (bob.id, "member".to_owned()),
            (carol.id, "member".to_owned()),
            (dave.id, "member".to_owned()),
        ]
    );
    let (_, detail) = app.get(&format!("/api/chat/rooms/{room}/"), &alice).await;
    assert_eq!(detail["member_count"], 4);
}

#[tokio::test]
async fn admins_and_moderators_add_members() {
    let app = spawn_app().await;
    let admin = app.developer("admin").await;
    let moderator = app.developer("moderator").await;
    let member = app.developer("member").await;
    let outsider = app.developer("outsider").await;
    let nondev = app.user("nondev", false).await;
    let newcomers = [
        app.developer("new1").await,
        app.developer("new2").await,
        app.developer("new3").await,
        app.developer("new4").await,
    ];
    let public = app.room(&admin, "public", "public").await;
    app.add_member(public, &admin, &moderator, "moderator").await;
    app.add_member(public, &admin, &member, "member").await;

    let [new1, new2, new3, new4] = &newcomers;
    for (who, by, target) in [("admin", &admin, new1), ("moderator", &moderator, new2)] {
        let (status, body) = app.post(&members_path(public), by, json!({"user_id": target.id})).await;
        assert_eq!(status, StatusCode::CREATED, "{who} adds: {body}");
        assert_member(&body, target, "member");
        assert_eq!(notes(&app, target, public).await, owned(&["room_invite"]), "{who} adds");
    }

    for (who, by) in [("member", &member), ("non-member of a public room", &outsider)] {
        let (status, body) = app.post(&members_path(public), by, json!({"user_id": new3.id})).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, forbidden()), "{who} adds");
    }
    let (status, body) = app
        .post(&members_path(public), &nondev, json!({"user_id": new3.id}))
        .await;
    assert_detail(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = app
        .call(
            Method::POST,
            &members_path(public),
            None,
            Some(json!({"user_id": new3.id})),
        )
        .await;
    assert_detail(status, &body, StatusCode::UNAUTHORIZED);
    // Permission comes before validation, as in DRF.
    for body in [json!({}), json!({"user_id": "abc"}), json!({"user_id": 999_999})] {
        let (status, response) = app.post(&members_path(public), &member, body.clone()).await;
        assert_eq!(
            (status, response),
            (StatusCode::FORBIDDEN, forbidden()),
            "member adds with {body}"
        );
    }
    assert_eq!(role_of(&app, public, &admin, new3).await, None, "new3 was never added");
    assert!(app.notifications_of(new3).await.is_empty());

    // In an invite-only room an outsider gets the answer a missing room gets.
    let private = app.room(&admin, "private", "private").await;
    let (status, body) = app
        .post(&members_path(private), &outsider, json!({"user_id": new4.id}))
        .await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app
        .post(&members_path(private), &outsider, json!({"user_id": "abc"}))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "outsider with an invalid body"
    );
    let (status, body) = app
        .post(&members_path(999_999), &admin, json!({"user_id": new4.id}))
        .await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.post(&members_path(999_999), &admin, json!({})).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "missing room with an invalid body"
    );
    assert!(app.notifications_of(new4).await.is_empty());
}

#[tokio::test]
async fn add_member_validation() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let nondev = app.user("nondev", false).await;
    let ghost = app.developer("ghost").await;
    accounts::set_active(&app.state.store, "ghost", false)
        .await
        .expect("deactivated");
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &bob, "member").await;

    let already = "This user is already a member of the room.";
    // The same answer for all three: no enumeration of non-developer accounts.
    let no_user = "No active developer matches this value.";
    let not_developer = no_user;
    let not_integer = "A valid integer is required.";
    // (case, body, field, message)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("existing member by id", json!({"user_id": bob.id}), "user_id", already),
        (
            "existing member by name",
            json!({"username": "bob"}),
            "username",
            already,
        ),
        ("the admin themself", json!({"user_id": alice.id}), "user_id", already),
        ("unknown user id", json!({"user_id": 999_999}), "user_id", no_user),
        ("negative user id", json!({"user_id": -1}), "user_id", no_user),
        ("unknown username", json!({"username": "nobody"}), "username", no_user),
        ("inactive user", json!({"user_id": ghost.id}), "user_id", no_user),
        (
            "non-developer by id",
            json!({"user_id": nondev.id}),
            "user_id",
            not_developer,
        ),
        (
            "non-developer by name",
            json!({"username": "nondev"}),
            "username",
            not_developer,
        ),
        ("neither field", json!({}), "user_id", "This field is required."),
        (
            "only unknown fields",
            json!({"user": bob.id}),
            "user_id",
            "This field is required.",
        ),
        ("user_id abc", json!({"user_id": "abc"}), "user_id", not_integer),
        ("user_id 1.5", json!({"user_id": 1.5}), "user_id", not_integer),
        (
            "user_id object",
            json!({"user_id": {"id": bob.id}}),
            "user_id",
            not_integer,
        ),
        (
            "user_id null",
            json!({"user_id": null}),
            "user_id",
            "This field may not be null.",
        ),
        (
            "blank username",
            json!({"username": "  "}),
            "username",
            "This field may not be blank.",
        ),
    ];
    for (case, body, field, message) in cases {
        let (status, response) = app.post(&members_path(room), &alice, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {response}");
        assert_eq!(response, json!({field: [message]}), "{case}");
    }

    assert_eq!(
        roles(&app, room, &alice).await,
        vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
    );
    assert_eq!(
        notes(&app, &bob, room).await,
        owned(&["room_invite"]),
        "one invite only"
    );
    assert!(app.notifications_of(&nondev).await.is_empty());
    assert!(app.notifications_of(&ghost).await.is_empty());
}

// ---------------------------------------------------------------- matrix

/// Everyone the permission matrix needs. The room's callers are `admin`,
/// `moderator` and `member`; its targets are the second user of each role,
/// so a caller never targets themself.
struct Cast {
    admin: TestUser,
    admin2: TestUser,
    moderator: TestUser,
    moderator2: TestUser,
    member: TestUser,
    member2: TestUser,
    outsider: TestUser,
    nondev: TestUser,
}

impl Cast {
    async fn new(app: &TestApp) -> Self {
        Cast {
            admin: app.developer("admin").await,
            admin2: app.developer("admin2").await,
            moderator: app.developer("moderator").await,
            moderator2: app.developer("moderator2").await,
            member: app.developer("member").await,
            member2: app.developer("member2").await,
            outsider: app.developer("outsider").await,
            nondev: app.user("nondev", false).await,
        }
    }

    /// A fresh room of `room_type` with two members of each role.
    async fn room(&self, app: &TestApp, room_type: &str) -> i64 {
        let room = app.room(&self.admin, "matrix", room_type).await;
        app.add_member(room, &self.admin, &self.admin2, "admin").await;
        app.add_member(room, &self.admin, &self.moderator, "moderator").await;
        app.add_member(room, &self.admin, &self.moderator2, "moderator").await;
        app.add_member(room, &self.admin, &self.member, "member").await;
        app.add_member(room, &self.admin, &self.member2, "member").await;
        room
    }

    /// `(name, token)` of every kind of caller; `None` is anonymous.
    fn callers(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("admin", Some(self.admin.token.as_str())),
            ("moderator", Some(self.moderator.token.as_str())),
            ("member", Some(self.member.token.as_str())),
            ("non-member developer", Some(self.outsider.token.as_str())),
            ("non-developer", Some(self.nondev.token.as_str())),
            ("anonymous", None),
        ]
    }

    /// `(role, user)` of each target.
    fn targets(&self) -> Vec<(&'static str, &TestUser)> {
        vec![
            ("admin", &self.admin2),
            ("moderator", &self.moderator2),
            ("member", &self.member2),
        ]
    }
}

/// Asserts a refusal: 401 with `WWW-Authenticate` for anonymous callers,
/// the standard 403 for developers, a 403 detail for non-developers.
fn assert_refused(caller: &str, status: StatusCode, body: &Value, expected: StatusCode, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    match caller {
        "anonymous" => assert_eq!(
            body,
            &json!({"detail": "Authentication credentials were not provided."}),
            "{what}"
        ),
        "non-developer" => assert_detail(status, body, expected),
        _ => assert_eq!(body, &forbidden(), "{what}"),
    }
}

#[tokio::test]
async fn role_change_permission_matrix() {
    let app = spawn_app().await;
    let cast = Cast::new(&app).await;

    for (caller, token) in cast.callers() {
        for (target_role, target) in cast.targets() {
            let what = format!("{caller} changes the role of the {target_role} target");
            let room = cast.room(&app, "public").await;
            let new_role = if target_role == "member" { "moderator" } else { "member" };
            let notes_before = notes(&app, target, room).await;

            let (status, body) = app
                .call(
                    Method::PATCH,
                    &member_path(room, target.id),
                    token,
                    Some(json!({"role": new_role})),
                )
                .await;

            let expected = match caller {
                "admin" => StatusCode::OK,
                "anonymous" => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            let mut notes_after = notes_before.clone();
            if expected == StatusCode::OK {
                assert_eq!(status, expected, "{what}: {body}");
                assert_member(&body, target, new_role);
                assert_eq!(
                    role_of(&app, room, &cast.admin, target).await.as_deref(),
                    Some(new_role),
                    "{what}"
                );
                notes_after.push("role_changed".to_owned());
            } else {
                assert_refused(caller, status, &body, expected, &what);
                assert_eq!(
                    role_of(&app, room, &cast.admin, target).await.as_deref(),
                    Some(target_role),
                    "{what}"
                );
            }
            assert_eq!(
                notes(&app, target, room).await,
                notes_after,
                "{what}: notifications of the target"
            );
        }
    }
}

#[tokio::test]
async fn removal_permission_matrix() {
    let app = spawn_app().await;
    let cast = Cast::new(&app).await;

    for (caller, token) in cast.callers() {
        for (target_role, target) in cast.targets() {
            let what = format!("{caller} removes the {target_role} target");
            let room = cast.room(&app, "public").await;
            let notes_before = notes(&app, target, room).await;

            let (status, body) = app
                .call(Method::DELETE, &member_path(room, target.id), token, None)
                .await;

            let expected = match (caller, target_role) {
                ("admin", _) | ("moderator", "member") => StatusCode::NO_CONTENT,
                ("anonymous", _) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            let mut notes_after = notes_before.clone();
            if expected == StatusCode::NO_CONTENT {
                assert_eq!(status, expected, "{what}: {body}");
                assert_eq!(body, Value::Null, "{what}: 204 has no body");
                assert_eq!(role_of(&app, room, &cast.admin, target).await, None, "{what}");
                notes_after.push("removed_from_room".to_owned());
                // The public room is still visible to them, as a non-member.
                let (status, seen) = app.get(&format!("/api/chat/rooms/{room}/"), target).await;
                assert_eq!(status, StatusCode::OK, "{what}");
                assert_eq!(
                    (&seen["is_member"], &seen["member_count"]),
                    (&json!(false), &json!(5)),
                    "{what}"
                );
            } else {
                assert_refused(caller, status, &body, expected, &what);
                assert_eq!(
                    role_of(&app, room, &cast.admin, target).await.as_deref(),
                    Some(target_role),
                    "{what}"
                );
            }
            assert_eq!(
                notes(&app, target, room).await,
                notes_after,
                "{what}: notifications of the target"
            );
        }
    }
}

#[tokio::test]
async fn members_may_remove_themselves_without_notification() {
    let app = spawn_app().await;
    let cast = Cast::new(&app).await;

    for (role, user) in [
        ("admin", &cast.admin2),
        ("moderator", &cast.moderator),
        ("member", &cast.member),
    ] {
        let room = cast.room(&app, "group").await;
        let notes_before = notes(&app, user, room).await;
        let (status, body) = app.delete(&member_path(room, user.id), user).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{role} removes themself: {body}");
        assert_eq!(role_of(&app, room, &cast.admin, user).await, None, "{role}");
        assert_eq!(
            notes(&app, user, room).await,
            notes_before,
            "{role}: no removed_from_room for leaving"
        );
        // The group room is now hidden from them.
        let (status, _) = app.get(&format!("/api/chat/rooms/{room}/"), user).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{role}");
        // And removing themself again: the room does not exist for them.
        let (status, body) = app.delete(&member_path(room, user.id), user).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{role} again");
    }
}

#[tokio::test]
async fn only_admins_change_their_own_role() {
    let app = spawn_app().await;
    let cast = Cast::new(&app).await;
    let room = cast.room(&app, "group").await;

    for (role, user) in [("moderator", &cast.moderator), ("member", &cast.member)] {
        let (status, body) = app
            .patch(&member_path(room, user.id), user, json!({"role": "admin"}))
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, forbidden()),
            "{role} promotes themself"
        );
        assert_eq!(role_of(&app, room, &cast.admin, user).await.as_deref(), Some(role));
    }

    // With another admin left, an admin may step down; nobody is notified.
    let (status, body) = app
        .patch(
            &member_path(room, cast.admin.id),
            &cast.admin,
            json!({"role": "moderator"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_member(&body, &cast.admin, "moderator");
    assert!(
        notes(&app, &cast.admin, room).await.is_empty(),
        "no notification for one's own change"
    );
    // Permission comes before validation: a non-admin's invalid role is a 403.
    let (status, body) = app
        .patch(
            &member_path(room, cast.member.id),
            &cast.moderator,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::FORBIDDEN, forbidden()),
        "moderator with an invalid role"
    );
    // Now a moderator, the former admin may not change roles any more.
    let (status, body) = app
        .patch(
            &member_path(room, cast.member.id),
            &cast.admin,
            json!({"role": "moderator"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, forbidden()));
}

#[tokio::test]
async fn an_unchanged_role_sends_no_notification() {
    let app = spawn_app().await;
    let cast = Cast::new(&app).await;
    let room = cast.room(&app, "group").await;

    for (role, user) in [
        ("admin", &cast.admin2),
        ("moderator", &cast.moderator),
        ("member", &cast.member),
    ] {
        let before = notes(&app, user, room).await;
        let (status, body) = app
            .patch(&member_path(room, user.id), &cast.admin, json!({"role": role}))
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        assert_member(&body, user, role);
        assert_eq!(
            notes(&app, user, room).await,
            before,
            "{role}: nothing changed, nothing sent"
        );
    }
    // The setup itself notified each promotion exactly once.
    assert_eq!(
        notes(&app, &cast.admin2, room).await,
        owned(&["room_invite", "role_changed"])
    );
    assert_eq!(notes(&app, &cast.member, room).await, owned(&["room_invite"]));
}

// ---------------------------------------------------------------- last admin

#[tokio::test]
async fn the_last_admin_cannot_be_demoted() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &bob, "member").await;
    let last_admin = json!({"role": ["The last admin of a room cannot be demoted."]});

    for role in ["member", "moderator"] {
        let (status, body) = app
            .patch(&member_path(room, alice.id), &alice, json!({"role": role}))
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::BAD_REQUEST, last_admin.clone()),
            "alice to {role}"
        );
    }
    // Staying admin is fine.
    let (status, body) = app
        .patch(&member_path(room, alice.id), &alice, json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_member(&body, &alice, "admin");

    // With two admins, either may be demoted.
    let (status, body) = app
        .patch(&member_path(room, bob.id), &alice, json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(&member_path(room, bob.id), &alice, json!({"role": "moderator"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_member(&body, &bob, "moderator");
    let (status, _) = app
        .patch(&member_path(room, bob.id), &alice, json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .patch(&member_path(room, alice.id), &alice, json!({"role": "member"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_member(&body, &alice, "member");

    // Now bob is the last admin.
    let (status, body) = app
        .patch(&member_path(room, bob.id), &bob, json!({"role": "member"}))
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, last_admin));
    assert_eq!(
        roles(&app, room, &bob).await,
        vec![(alice.id, "member".to_owned()), (bob.id, "admin".to_owned())]
    );
    assert_eq!(
        notes(&app, &bob, room).await,
        owned(&["room_invite", "role_changed", "role_changed", "role_changed"])
    );
}

#[tokio::test]
async fn the_last_admin_removing_themself_promotes_the_longest_standing_member() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let room = app.room(&alice, "team", "private").await;
    app.add_member(room, &alice, &carol, "member").await;
    app.add_member(room, &alice, &dave, "moderator").await;

    let (status, body) = app.delete(&member_path(room, alice.id), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        roles(&app, room, &carol).await,
        vec![(carol.id, "admin".to_owned()), (dave.id, "moderator".to_owned())]
    );
    assert_eq!(notes(&app, &carol, room).await, owned(&["room_invite", "role_changed"]));
    assert_eq!(
        notes(&app, &dave, room).await,
        owned(&["room_invite", "role_changed"]),
        "dave's only change was to moderator"
    );
    assert!(
        app.notifications_of(&alice).await.is_empty(),
        "leaving is not being removed"
    );

    // The new admin removes the moderator, who is told.
    let (status, _) = app.delete(&member_path(room, dave.id), &carol).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        notes(&app, &dave, room).await,
        owned(&["room_invite", "role_changed", "removed_from_room"])
    );
    let (status, _) = app.get(&format!("/api/chat/rooms/{room}/"), &dave).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a removed member no longer sees a private room"
    );
}

#[tokio::test]
async fn concurrent_changes_never_leave_a_room_without_an_admin() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;

    // Two admins demote each other at the same time: one wins, and the
    // loser, no longer an admin, is refused.
    for round in 0..5 {
        let room = app.room(&alice, "team", "group").await;
        app.add_member(room, &alice, &bob, "admin").await;
        let (alice_path, bob_path) = (member_path(room, alice.id), member_path(room, bob.id));
        let (by_alice, by_bob) = tokio::join!(
            app.patch(&bob_path, &alice, json!({"role": "member"})),
            app.patch(&alice_path, &bob, json!({"role": "member"})),
        );
        let mut statuses = [by_alice.0.as_u16(), by_bob.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 403], "round {round}: {by_alice:?} {by_bob:?}");
        let admins = roles(&app, room, &alice)
            .await
            .into_iter()
            .filter(|(_, role)| role == "admin")
            .count();
        assert_eq!(admins, 1, "round {round}");
    }

    // Both admins leave at the same time: the remaining member takes over.
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &bob, "admin").await;
    app.add_member(room, &alice, &carol, "member").await;
    let leave = format!("/api/chat/rooms/{room}/leave/");
    let (a, b) = tokio::join!(app.post(&leave, &alice, json!({})), app.post(&leave, &bob, json!({})));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    assert_eq!(roles(&app, room, &carol).await, vec![(carol.id, "admin".to_owned())]);
    assert_eq!(notes(&app, &carol, room).await, owned(&["room_invite", "role_changed"]));
}

#[tokio::test]
async fn concurrent_adds_of_one_user_add_them_once() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "team", "group").await;

    let path = members_path(room);
    let answers = futures::future::join_all((0..6).map(|_| app.post(&path, &alice, json!({"user_id": bob.id})))).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            body,
            &json!({"user_id": ["This user is already a member of the room."]})
        );
    }
    assert_eq!(
        roles(&app, room, &alice).await,
        vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
    );
    assert_eq!(
        notes(&app, &bob, room).await,
        owned(&["room_invite"]),
        "one invite only"
    );
}

// ---------------------------------------------------------------- bad targets

#[tokio::test]
async fn invalid_roles_and_unknown_members() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let stranger = app.developer("stranger").await;
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &bob, "member").await;
    let path = member_path(room, bob.id);

    // (case, body, message under "role")
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown role",
            json!({"role": "owner"}),
            "\"owner\" is not a valid choice.",
        ),
        (
            "capitalised role",
            json!({"role": "Admin"}),
            "\"Admin\" is not a valid choice.",
        ),
        ("empty role", json!({"role": ""}), "\"\" is not a valid choice."),
        ("numeric role", json!({"role": 1}), "\"1\" is not a valid choice."),
        ("null role", json!({"role": null}), "This field may not be null."),
        ("missing role", json!({}), "This field is required."),
    ];
    for (case, body, message) in cases {
        let (status, response) = app.patch(&path, &alice, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {response}");
        assert_eq!(response, json!({"role": [message]}), "{case}");
    }
    assert_eq!(role_of(&app, room, &alice, &bob).await.as_deref(), Some("member"));
    assert_eq!(notes(&app, &bob, room).await, owned(&["room_invite"]));

    // Users who are not members of the room, or not users at all.
    for (case, user_id) in [
        ("a developer outside the room", stranger.id.to_string()),
        ("no such user", "999999".into()),
        ("not an id", "abc".into()),
    ] {
        let path = format!("/api/chat/rooms/{room}/members/{user_id}/");
        let (status, body) = app.patch(&path, &alice, json!({"role": "moderator"})).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "patch {case}");
        let (status, body) = app.delete(&path, &alice).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "delete {case}");
    }
    // The target is looked up before the body is read.
    let (status, body) = app
        .patch(&member_path(room, stranger.id), &alice, json!({"role": "owner"}))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "invalid role for a non-member"
    );
    assert!(app.notifications_of(&stranger).await.is_empty());

    // A removed member is no longer a target.
    let (status, _) = app.delete(&path, &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.delete(&path, &alice).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.patch(&path, &alice, json!({"role": "member"})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

#[tokio::test]
async fn outsiders_cannot_touch_members_of_hidden_rooms() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let outsider = app.developer("outsider").await;
    for room_type in ["private", "group"] {
        let room = app.room(&alice, room_type, room_type).await;
        app.add_member(room, &alice, &bob, "member").await;
        let requests: Vec<(&str, Method, String, Option<Value>)> = vec![
            ("list", Method::GET, members_path(room), None),
            (
                "add",
                Method::POST,
                members_path(room),
                Some(json!({"user_id": outsider.id})),
            ),
            (
                "change role",
                Method::PATCH,
                member_path(room, bob.id),
                Some(json!({"role": "admin"})),
            ),
            ("remove", Method::DELETE, member_path(room, bob.id), None),
            ("remove alice", Method::DELETE, member_path(room, alice.id), None),
        ];
        for (case, method, path, body) in requests {
            let (status, body) = app.call(method, &path, Some(&outsider.token), body).await;
            assert_eq!(
                (status, body),
                (StatusCode::NOT_FOUND, not_found()),
                "{room_type}: {case}"
            );
        }
        assert_eq!(
            roles(&app, room, &alice).await,
            vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
        );
    }
}

#[tokio::test]
async fn every_members_endpoint_requires_a_developer_token() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let nondev = app.user("nondev", false).await;
    let room = app.room(&alice, "general", "public").await;
    app.add_member(room, &alice, &bob, "member").await;

    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, members_path(room), None),
        (Method::POST, members_path(room), Some(json!({"user_id": nondev.id}))),
        (Method::PATCH, member_path(room, bob.id), Some(json!({"role": "admin"}))),
        (Method::DELETE, member_path(room, bob.id), None),
    ];
    for (method, path, body) in &endpoints {
        // (case, Authorization header, expected status)
        let credentials = [
            ("no token", None, StatusCode::UNAUTHORIZED),
            (
                "garbage token",
                Some("Bearer garbage".to_owned()),
                StatusCode::UNAUTHORIZED,
            ),
            (
                "non-developer",
                Some(format!("Bearer {}", nondev.token)),
                StatusCode::FORBIDDEN,
            ),
        ];
        for (case, authorization, expected) in credentials {
            let RawResponse {
                status,
                www_authenticate,
                json,
            } = call_raw(&app, method.clone(), path, authorization.as_deref(), body.as_ref()).await;
            let what = format!("{method} {path} with {case}");
            assert_detail(status, &json, expected);
            if expected == StatusCode::UNAUTHORIZED {
                assert_eq!(www_authenticate.as_deref(), Some("Bearer realm=\"api\""), "{what}");
            }
            if case == "garbage token" {
                assert_eq!(json["code"], "token_not_valid", "{what}: {json}");
            }
        }
    }
    assert_eq!(
        roles(&app, room, &alice).await,
        vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
    );
    assert!(app.notifications_of(&nondev).await.is_empty());
    assert_eq!(notes(&app, &bob, room).await, owned(&["room_invite"]));
}
