//! `/api/chat/rooms/{id}/messages/` and `/api/chat/messages/{id}/...`:
//! posting (validation, permissions, replies, `client_id` idempotency,
//! ordering under concurrency), cursor history, deletion, read pointers, and
//! the room object's `unread_count` and `last_message`.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use confab::store::entities::messages as rows;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Map, Value};

use crate::helpers::{
    assert_timestamp, call_raw, forbidden, id_of, messages_path, not_found, page_ids, spawn_app, RawResponse, TestApp,
    TestUser,
};

/// The contract's message keys, the extensions' (`edited_at`, `reactions`) included.
const MESSAGE_KEYS: [&str; 15] = [
    "id",
    "room",
    "sender",
    "content",
    "message_type",
    "reply_to",
    "reply_preview",
    "is_deleted",
    "created_at",
    "client_id",
    "is_read",
    "read_count",
    "edited_at",
    "reactions",
    "attachments",
];

const CONTENT_TOO_LONG: &str = "Ensure this field has no more than 5000 characters.";

fn read_path(message: i64) -> String {
    format!("/api/chat/messages/{message}/read/")
}

fn delete_path(message: i64) -> String {
    format!("/api/chat/messages/{message}/delete/")
}

fn room_path(room: i64) -> String {
    format!("/api/chat/rooms/{room}/")
}

fn not_a_member() -> Value {
    json!({"detail": "You are not a member of this room."})
}

fn marked_read() -> Value {
    json!({"detail": "Marked as read."})
}

/// Asserts a 400 that names exactly `field`, with exactly `message`.
fn assert_field_error(status: StatusCode, body: &Value, field: &str, message: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    let mut expected = Map::new();
    expected.insert(field.to_owned(), json!([message]));
    assert_eq!(body, &Value::Object(expected), "{what}");
}

/// Asserts a 400 that names exactly `field` (whatever the messages say).
fn assert_names_field(status: StatusCode, body: &Value, field: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: expected an error object, got {body}"));
    assert_eq!(
        object.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![field],
        "{what}: {body}"
    );
    let messages = object[field]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: expected a list of messages, got {body}"));
    assert!(
        !messages.is_empty() && messages.iter().all(Value::is_string),
        "{what}: {body}"
    );
}

/// Posts `body` as `user` and expects a 201; returns the message.
async fn send(app: &TestApp, room: i64, user: &TestUser, body: Value) -> Value {
    let (status, message) = app.post(&messages_path(room), user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    message
}

/// Posts a text message and returns its id.
async fn say(app: &TestApp, room: i64, user: &TestUser, content: &str) -> i64 {
    id_of(&send(app, room, user, json!({ "content": content })).await)
}

/// Posts `count` messages one after the other ("{prefix} 0", "{prefix} 1", ...); returns their ids.
async fn says(app: &TestApp, room: i64, user: &TestUser, prefix: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        ids.push(say(app, room, user, &format!("{prefix} {n}")).await);
    }
    ids
}

async fn delete(app: &TestApp, message: i64, user: &TestUser) {
    let (status, body) = app.delete(&delete_path(message), user).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
}

async fn read(app: &TestApp, message: i64, user: &TestUser) {
    let (status, body) = app.post(&read_path(message), user, json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, marked_read()));
}

/// One history page: GET `messages/{query}`, expecting a 200 `{next, previous, results}`.
async fn history(app: &TestApp, room: i64, user: &TestUser, query: &str) -> Value {
    let (status, page) = app.get(&format!("{}{query}", messages_path(room)), user).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    let keys: BTreeSet<&str> = page
        .as_object()
        .unwrap_or_else(|| panic!("expected a page, got {page}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["next", "previous", "results", "change_seq"]),
        "{page}"
    );
    page
}

/// The absolute link a history page gives for `query`.
fn link(app: &TestApp, room: i64, query: &str) -> Value {
    json!(format!("http://{}{}?{query}", app.addr, messages_path(room)))
}

/// Follows an absolute `next` / `previous` link, checking it points at this server.
async fn follow(app: &TestApp, link: &Value, user: &TestUser) -> Value {
    let link = link.as_str().unwrap_or_else(|| panic!("expected a link, got {link}"));
    let origin = format!("http://{}", app.addr);
    let path = link
        .strip_prefix(&origin)
        .unwrap_or_else(|| panic!("{link} is not an absolute URL of {origin}"));
    let (status, page) = app.get(path, user).await;
    assert_eq!(status, StatusCode::OK, "{link}: {page}");
    page
}

/// Every listed message of a room as `user` sees it, oldest first, walking
/// `next` links back from the newest page.
async fn all_messages(app: &TestApp, room: i64, user: &TestUser) -> Vec<Value> {
    let mut page = history(app, room, user, "?limit=200").await;
    let mut pages = Vec::new();
    loop {
        let next = page["next"].clone();
        pages.push(page["results"].as_array().unwrap().clone());
        if next.is_null() {
            break;
        }
        page = follow(app, &next, user).await;
    }
    pages.into_iter().rev().flatten().collect()
}

async fn all_ids(app: &TestApp, room: i64, user: &TestUser) -> Vec<i64> {
    all_messages(app, room, user).await.iter().map(id_of).collect()
}

/// One field of every message of a room as `user` sees it, oldest first.
async fn field_of_all(app: &TestApp, room: i64, user: &TestUser, field: &str) -> Vec<Value> {
    all_messages(app, room, user)
        .await
        .into_iter()
        .map(|m| m[field].clone())
        .collect()
}

/// The room as `user` sees it, from the detail endpoint; asserts the list shows the same object.
async fn room_seen_by(app: &TestApp, room: i64, user: &TestUser) -> Value {
    let (status, detail) = app.get(&room_path(room), user).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let (status, list) = app.get("/api/chat/rooms/?page_size=200", user).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == room)
        .unwrap_or_else(|| panic!("room {room} not listed for {}: {list}", user.username))
        .clone();
    assert_eq!(listed, detail, "the list and the detail endpoint agree");
    detail
}

async fn unread_count(app: &TestApp, room: i64, user: &TestUser) -> i64 {
    room_seen_by(app, room, user).await["unread_count"].as_i64().unwrap()
}

// ---------------------------------------------------------------- post

#[tokio::test]
async fn post_returns_the_full_message_object() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;

    let (status, message) = app
        .post(&messages_path(room), &alice, json!({"content": "  hello world \n"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let keys: BTreeSet<&str> = message.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(MESSAGE_KEYS), "{message}");
    assert!(id_of(&message) > 0, "{message}");
    assert_eq!(message["room"], room);
    assert_eq!(message["sender"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(message["content"], "hello world", "the content is trimmed");
    assert_eq!(message["message_type"], "text", "text by default");
    assert_eq!(message["reply_to"], Value::Null);
    assert_eq!(message["reply_preview"], Value::Null);
    assert_eq!(message["is_deleted"], false);
    assert_timestamp(&message["created_at"]);
    assert_eq!(message["client_id"], Value::Null);
    assert_eq!(message["is_read"], true, "one's own message is read");
    assert_eq!(message["read_count"], 0);

    // The history shows its sender the same object.
    let page = history(&app, room, &alice, "").await;
    assert_eq!(
        page,
        json!({"next": null, "previous": null, "results": [message.clone()], "change_seq": 1})
    );

    // A developer reading the public room has not read it.
    let page = history(&app, room, &bob, "").await;
    let mut unread = message.clone();
    unread["is_read"] = json!(false);
    assert_eq!(page["results"], json!([unread]));

    // Unknown and read-only fields are ignored, as DRF does.
    let echoed = send(
        &app,
        room,
        &alice,
        json!({"content": "again", "id": 999_999, "room": 424_242, "sender": {"id": bob.id, "username": "bob"},
               "is_deleted": true, "is_read": false, "read_count": 7, "created_at": "2000-01-01T00:00:00Z",
               "reply_preview": {"id": 1}, "colour": "blue"}),
    )
    .await;
    assert_ne!(id_of(&echoed), 999_999);
    assert!(id_of(&echoed) > id_of(&message), "{echoed}");
    assert_eq!(echoed["room"], room);
    assert_eq!(echoed["sender"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(echoed["content"], "again");
    assert_eq!(echoed["is_deleted"], false);
    assert_eq!(echoed["read_count"], 0);
    assert_eq!(echoed["reply_preview"], Value::Null);
    assert_ne!(echoed["created_at"], "2000-01-01T00:00:00Z");
    assert_eq!(all_ids(&app, room, &alice).await, vec![id_of(&message), id_of(&echoed)]);
}

#[tokio::test]
async fn post_accepts_text_image_and_file_types_only() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;

    let mut stored = Vec::new();
    for message_type in ["text", "image", "file"] {
        let message = send(
            &app,
            room,
            &alice,
            json!({"content": format!("a {message_type}"), "message_type": message_type}),
        )
        .await;
        assert_eq!(message["message_type"], message_type, "{message}");
        stored.push(id_of(&message));
    }

    let (status, body) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "hi", "message_type": "system"}),
        )
        .await;
    assert_field_error(
        status,
        &body,
        "message_type",
        "\"system\" is not a valid choice.",
        "system",
    );
    let (status, body) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "hi", "message_type": "nope"}),
        )
        .await;
    assert_field_error(status, &body, "message_type", "\"nope\" is not a valid choice.", "nope");
    for bad in [json!("TEXT"), json!(""), json!(1), json!(["text"]), json!(null)] {
        let (status, body) = app
            .post(
                &messages_path(room),
                &alice,
                json!({"content": "hi", "message_type": bad}),
            )
            .await;
        assert_names_field(status, &body, "message_type", &format!("message_type {bad}"));
    }

    assert_eq!(
        all_ids(&app, room, &alice).await,
        stored,
        "no refused message was stored"
    );
}

#[tokio::test]
async fn post_validates_content_counting_characters() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = messages_path(room);

    let refused: Vec<(&str, Value, &str)> = vec![
        ("missing", json!({}), "This field is required."),
        (
            "missing, other fields",
            json!({"message_type": "text"}),
            "This field is required.",
        ),
        ("empty", json!({"content": ""}), "This field may not be blank."),
        ("blank", json!({"content": " \n\t  "}), "This field may not be blank."),
        ("5001 chars", json!({"content": "x".repeat(5001)}), CONTENT_TOO_LONG),
        ("5001 emoji", json!({"content": "😀".repeat(5001)}), CONTENT_TOO_LONG),
        (
            "5001 chars inside whitespace",
            json!({"content": format!("  {}  ", "y".repeat(5001))}),
            CONTENT_TOO_LONG,
        ),
        ("10000 chars", json!({"content": "z".repeat(10_000)}), CONTENT_TOO_LONG),
        ("object", json!({"content": {"text": "hi"}}), "Not a valid string."),
        ("list", json!({"content": ["hi"]}), "Not a valid string."),
        ("bool", json!({"content": true}), "Not a valid string."),
        ("null", json!({"content": null}), "This field may not be null."),
        ("NUL", json!({"content": "a\u{0}b"}), "Null characters are not allowed."),
    ];
    for (what, body, message) in refused {
        let (status, answer) = app.post(&path, &alice, body).await;
        assert_field_error(status, &answer, "content", message, what);
    }

    // The limit counts characters after trimming, not bytes.
    let accepted: Vec<(&str, String, String)> = vec![
        ("5000 chars", "x".repeat(5000), "x".repeat(5000)),
        ("5000 emoji (20000 bytes)", "😀".repeat(5000), "😀".repeat(5000)),
        ("5000 accented", "é".repeat(5000), "é".repeat(5000)),
        (
            "5000 chars inside whitespace",
            format!("\n  {}  \t", "w".repeat(5000)),
            "w".repeat(5000),
        ),
        ("one char", "k".to_owned(), "k".to_owned()),
    ];
    let mut stored = Vec::new();
    for (what, content, expected) in accepted {
        let (status, message) = app.post(&path, &alice, json!({ "content": content })).await;
        assert_eq!(status, StatusCode::CREATED, "{what}: {message}");
        assert_eq!(message["content"], expected, "{what}");
        stored.push(id_of(&message));
    }
    // A number is accepted as text, as DRF's CharField does.
    let number = send(&app, room, &alice, json!({"content": 42})).await;
    assert_eq!(number["content"], "42");
    stored.push(id_of(&number));

    assert_eq!(
        all_ids(&app, room, &alice).await,
        stored,
        "no refused message was stored"
    );
}

#[tokio::test]
async fn post_is_for_members_of_an_active_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let public = app.room(&alice, "general", "public").await;
    let private = app.room(&alice, "secret", "private").await;
    let group = app.room(&alice, "team", "group").await;

    // A developer who is not a member of a public room: 403, even with an invalid body
    // (authorization comes before validation).
    for body in [json!({"content": "let me in"}), json!({"content": ""}), json!({})] {
        let (status, answer) = app.post(&messages_path(public), &bob, body.clone()).await;
        assert_eq!((status, answer), (StatusCode::FORBIDDEN, not_a_member()), "{body}");
    }
    // Private and group rooms are not even found.
    for room in [private, group] {
        let (status, answer) = app.post(&messages_path(room), &bob, json!({"content": "psst"})).await;
        assert_eq!((status, answer), (StatusCode::NOT_FOUND, not_found()));
        let (status, answer) = app.post(&messages_path(room), &bob, json!({})).await;
        assert_eq!((status, answer), (StatusCode::NOT_FOUND, not_found()));
    }

    // Joining opens the room; leaving closes it again.
    app.join(public, &bob).await;
    let hello = say(&app, public, &bob, "hello").await;
    let (status, body) = app.post(&format!("{}leave/", room_path(public)), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, answer) = app
        .post(&messages_path(public), &bob, json!({"content": "still here?"}))
        .await;
    assert_eq!((status, answer), (StatusCode::FORBIDDEN, not_a_member()));

    // A deleted room takes no messages, not even from its admin.
    let (status, body) = app.delete(&room_path(public), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for user in [&alice, &bob] {
        let (status, answer) = app
            .post(&messages_path(public), user, json!({"content": "anyone?"}))
            .await;
        assert_eq!(
            (status, answer),
            (StatusCode::NOT_FOUND, not_found()),
            "{}",
            user.username
        );
        let (status, answer) = app.get(&messages_path(public), user).await;
        assert_eq!(
            (status, answer),
            (StatusCode::NOT_FOUND, not_found()),
            "{}",
            user.username
        );
    }

    // Nothing but bob's one message was ever stored.
    assert_eq!(all_ids(&app, private, &alice).await, Vec::<i64>::new());
    assert_eq!(all_ids(&app, group, &alice).await, Vec::<i64>::new());
    let stored: Vec<i64> = rows::Entity::find()
        .all(app.state.store.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored, vec![hello]);
}

#[tokio::test]
async fn room_and_message_ids_that_do_not_exist_are_not_found() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let message = say(&app, room, &alice, "hello").await;

    for id in [
        "0",
        "-1",
        "-999",
        "999999",
        "99999999999999999999",
        "abc",
        "1.5",
        "1e3",
        "%20",
    ] {
        let (status, body) = app
            .post(
                &format!("/api/chat/rooms/{id}/messages/"),
                &alice,
                json!({"content": "x"}),
            )
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, not_found()),
            "post to room {id}"
        );
        let (status, body) = app.get(&format!("/api/chat/rooms/{id}/messages/"), &alice).await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, not_found()),
            "history of room {id}"
        );
        let (status, body) = app
            .post(&format!("/api/chat/messages/{id}/read/"), &alice, json!({}))
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, not_found()),
            "read message {id}"
        );
        let (status, body) = app.delete(&format!("/api/chat/messages/{id}/delete/"), &alice).await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, not_found()),
            "delete message {id}"
        );
    }
    assert_eq!(all_ids(&app, room, &alice).await, vec![message]);
    assert_eq!(field_of_all(&app, room, &alice, "is_deleted").await, vec![json!(false)]);
}

#[tokio::test]
async fn every_message_endpoint_requires_a_developer_token() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let outsider = app.user("outsider", false).await;
    let room = app.room(&alice, "general", "public").await;
    let message = say(&app, room, &alice, "hello").await;

    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, messages_path(room), None),
        (Method::POST, messages_path(room), Some(json!({"content": "intruder"}))),
        (Method::POST, read_path(message), None),
        (Method::DELETE, delete_path(message), None),
    ];
    for (method, path, body) in &endpoints {
        for (case, token, expected) in [
            ("no token", None, StatusCode::UNAUTHORIZED),
            ("non-developer", Some(&outsider.token), StatusCode::FORBIDDEN),
        ] {
            let RawResponse {
                status,
                www_authenticate,
                json,
            } = call_raw(
                &app,
                method.clone(),
                path,
                token.map(|t| format!("Bearer {t}")).as_deref(),
                body.as_ref(),
            )
            .await;
            let what = format!("{method} {path} with {case}");
            assert_eq!(status, expected, "{what}: {json}");
            assert!(json["detail"].is_string(), "{what}: {json}");
            if expected == StatusCode::UNAUTHORIZED {
                assert_eq!(
                    json,
                    json!({"detail": "Authentication credentials were not provided."}),
                    "{what}"
                );
                assert_eq!(www_authenticate.as_deref(), Some("Bearer realm=\"api\""), "{what}");
            } else {
                assert_eq!(www_authenticate, None, "{what}");
            }
        }
    }

    // Nothing changed: one message, not deleted, read by nobody else.
    let page = history(&app, room, &alice, "").await;
    assert_eq!(page_ids(&page), vec![message]);
    assert_eq!(page["results"][0]["is_deleted"], false);
    assert_eq!(page["results"][0]["read_count"], 0);
}

// ---------------------------------------------------------------- reply_to

#[tokio::test]
async fn a_reply_carries_a_preview_of_the_original() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;

    // 300 characters, half of them two bytes long: the preview keeps 200 characters.
    let long = format!("{}{}", "é".repeat(150), "x".repeat(150));
    let original = say(&app, room, &alice, &long).await;
    let reply = send(&app, room, &bob, json!({"content": "agreed", "reply_to": original})).await;
    assert_eq!(reply["reply_to"], original);
    let preview = json!({
        "id": original,
        "sender": {"id": alice.id, "username": "alice"},
        "content": format!("{}{}", "é".repeat(150), "x".repeat(50)),
    });
    assert_eq!(reply["reply_preview"], preview);

    // A numeric string is an id too (DRF); a short original is quoted whole.
    let short = say(&app, room, &alice, "short one").await;
    let reply2 = send(
        &app,
        room,
        &bob,
        json!({"content": "me too", "reply_to": short.to_string()}),
    )
    .await;
    assert_eq!(reply2["reply_to"], short);
    assert_eq!(
        reply2["reply_preview"],
        json!({"id": short, "sender": {"id": alice.id, "username": "alice"}, "content": "short one"})
    );
    // A reply to a reply.
    let reply3 = send(&app, room, &alice, json!({"content": "ok", "reply_to": id_of(&reply)})).await;
    assert_eq!(
        reply3["reply_preview"],
        json!({"id": id_of(&reply), "sender": {"id": bob.id, "username": "bob"}, "content": "agreed"})
    );
    // reply_to null is no reply.
    let plain = send(&app, room, &bob, json!({"content": "plain", "reply_to": null})).await;
    assert_eq!(
        (plain["reply_to"].clone(), plain["reply_preview"].clone()),
        (Value::Null, Value::Null)
    );

    // The history shows the same previews.
    let messages = all_messages(&app, room, &bob).await;
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[1]["reply_preview"], preview);
    assert_eq!(messages[1]["id"], id_of(&reply));
    assert_eq!(messages[1]["reply_to"], original);

    // Deleting the original keeps reply_to and drops the preview.
    delete(&app, original, &alice).await;
    let messages = all_messages(&app, room, &bob).await;
    let reply_now = messages.iter().find(|m| m["id"] == id_of(&reply)).unwrap();
    assert_eq!(reply_now["reply_to"], original);
    assert_eq!(reply_now["reply_preview"], Value::Null);
}

#[tokio::test]
async fn reply_to_must_be_a_live_message_of_the_same_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let other = app.room(&alice, "random", "public").await;
    let live = say(&app, room, &alice, "live").await;
    let elsewhere = say(&app, other, &alice, "elsewhere").await;
    let gone = say(&app, room, &alice, "gone").await;
    delete(&app, gone, &alice).await;

    let invalid_pk = |id: i64| format!("Invalid pk \"{id}\" - object does not exist.");
    let cases: Vec<(&str, Value, String)> = vec![
        ("a message of another room", json!(elsewhere), invalid_pk(elsewhere)),
        ("a nonexistent message", json!(999_999), invalid_pk(999_999)),
        ("a deleted message", json!(gone), invalid_pk(gone)),
        (
            "a deleted message, as a string",
            json!(gone.to_string()),
            invalid_pk(gone),
        ),
        ("text", json!("abc"), "A valid integer is required.".to_owned()),
        ("a fraction", json!(1.5), "A valid integer is required.".to_owned()),
        (
            "an object",
            json!({"id": live}),
            "A valid integer is required.".to_owned(),
        ),
        ("a list", json!([live]), "A valid integer is required.".to_owned()),
    ];
    for (what, reply_to, message) in cases {
        let (status, body) = app
            .post(
                &messages_path(room),
                &alice,
                json!({"content": "re", "reply_to": reply_to}),
            )
            .await;
        assert_field_error(status, &body, "reply_to", &message, what);
    }

    assert_eq!(
        all_ids(&app, room, &alice).await,
        vec![live],
        "nothing refused was stored"
    );
    assert_eq!(all_ids(&app, other, &alice).await, vec![elsewhere]);
    let ok = send(&app, room, &alice, json!({"content": "re", "reply_to": live})).await;
    assert_eq!(ok["reply_to"], live);
}

// ---------------------------------------------------------------- client_id

#[tokio::test]
async fn a_retry_with_the_same_client_id_returns_the_first_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = messages_path(room);

    let (status, first) = app
        .post(&path, &alice, json!({"content": "hello", "client_id": "c-1"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["client_id"], "c-1");

    let (status, again) = app
        .post(&path, &alice, json!({"content": "hello", "client_id": "c-1"}))
        .await;
    assert_eq!(
        (status, again),
        (StatusCode::OK, first.clone()),
        "the retry answers the first message"
    );
    // Even a retry with a different body returns the first message unchanged.
    let (status, changed) = app
        .post(
            &path,
            &alice,
            json!({"content": "edited", "message_type": "image", "client_id": "c-1"}),
        )
        .await;
    assert_eq!((status, changed), (StatusCode::OK, first.clone()));
    assert_eq!(
        all_ids(&app, room, &alice).await,
        vec![id_of(&first)],
        "nothing new stored"
    );

    // Another key is another message.
    let second = send(&app, room, &alice, json!({"content": "hello", "client_id": "c-2"})).await;
    assert!(id_of(&second) > id_of(&first));
    assert_eq!(second["client_id"], "c-2");

    // "" and null mean no key: every such post is stored.
    for client_id in [json!(""), json!(""), json!(null), json!(null)] {
        let message = send(&app, room, &alice, json!({"content": "no key", "client_id": client_id})).await;
        assert_eq!(message["client_id"], Value::Null, "{message}");
    }
    assert_eq!(all_ids(&app, room, &alice).await.len(), 6);
    let (status, again) = app
        .post(&path, &alice, json!({"content": "hello", "client_id": "c-1"}))
        .await;
    assert_eq!((status, again), (StatusCode::OK, first));
}

/// The retry still names the message it replied to, which has since been
/// deleted: it is the same message, not a new (and now invalid) reply.
#[tokio::test]
async fn a_retried_reply_whose_original_was_deleted_returns_the_first_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let original = say(&app, room, &alice, "question").await;
    let body = json!({"content": "answer", "reply_to": original, "client_id": "r-1"});
    let first = send(&app, room, &alice, body.clone()).await;
    let (status, _) = app
        .delete(&format!("/api/chat/messages/{original}/delete/"), &alice)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, again) = app.post(&messages_path(room), &alice, body).await;
    assert_eq!((status, id_of(&again)), (StatusCode::OK, id_of(&first)), "{again}");
    // Without a client_id the same body is refused, as any reply to a deleted message.
    let (status, refused) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "answer", "reply_to": original}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["reply_to"].is_array(), "{refused}");
}

#[tokio::test]
async fn client_ids_are_per_sender_and_at_most_64_characters() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let path = messages_path(room);

    let from_alice = send(&app, room, &alice, json!({"content": "a", "client_id": "same"})).await;
    let from_bob = send(&app, room, &bob, json!({"content": "b", "client_id": "same"})).await;
    assert_ne!(id_of(&from_alice), id_of(&from_bob));
    assert_eq!(from_bob["sender"]["id"], bob.id);
    assert_eq!(from_bob["client_id"], "same");
    let (status, retry) = app
        .post(&path, &bob, json!({"content": "b", "client_id": "same"}))
        .await;
    assert_eq!((status, retry), (StatusCode::OK, from_bob.clone()));
    assert_eq!(
        all_ids(&app, room, &alice).await,
        vec![id_of(&from_alice), id_of(&from_bob)]
    );

    let longest = "k".repeat(64);
    let message = send(&app, room, &alice, json!({"content": "long key", "client_id": longest})).await;
    assert_eq!(message["client_id"], longest);
    let (status, body) = app
        .post(
            &path,
            &alice,
            json!({"content": "longer key", "client_id": "k".repeat(65)}),
        )
        .await;
    assert_field_error(
        status,
        &body,
        "client_id",
        "Ensure this field has no more than 64 characters.",
        "65 chars",
    );
    let (status, body) = app
        .post(&path, &alice, json!({"content": "odd key", "client_id": {"k": 1}}))
        .await;
    assert_names_field(status, &body, "client_id", "object client_id");
    assert_eq!(all_ids(&app, room, &alice).await.len(), 3);
}

#[tokio::test]
async fn a_client_id_reused_in_another_room_returns_the_first_message() {
    // docs/api.md: the key is unique per sender across all rooms.
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let general = app.room(&alice, "general", "public").await;
    let random = app.room(&alice, "random", "public").await;

    let first = send(&app, general, &alice, json!({"content": "hi", "client_id": "k-1"})).await;
    let (status, retry) = app
        .post(
            &messages_path(random),
            &alice,
            json!({"content": "hi", "client_id": "k-1"}),
        )
        .await;
    assert_eq!((status, retry), (StatusCode::OK, first.clone()));
    assert_eq!(all_ids(&app, general, &alice).await, vec![id_of(&first)]);
    assert_eq!(all_ids(&app, random, &alice).await, Vec::<i64>::new());
}

/// Counts of 201 and 200 among answers; panics on anything else.
fn created_and_ok(answers: &[(StatusCode, Value)]) -> (usize, usize) {
    let mut counts = (0, 0);
    for (status, body) in answers {
        match *status {
            StatusCode::CREATED => counts.0 += 1,
            StatusCode::OK => counts.1 += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    counts
}

#[tokio::test]
async fn concurrent_posts_with_one_client_id_store_one_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = messages_path(room);

    // Two at once.
    let body = json!({"content": "once", "client_id": "dup-1"});
    let (a, b) = tokio::join!(
        app.post(&path, &alice, body.clone()),
        app.post(&path, &alice, body.clone())
    );
    let answers = [a, b];
    assert_eq!(created_and_ok(&answers), (1, 1), "{answers:?}");
    assert_eq!(answers[0].1, answers[1].1, "both answer the same message");
    let first = id_of(&answers[0].1);
    assert_eq!(all_ids(&app, room, &alice).await, vec![first]);

    // A burst of ten.
    let burst = json!({"content": "burst", "client_id": "dup-2"});
    let answers = join_all((0..10).map(|_| app.post(&path, &alice, burst.clone()))).await;
    assert_eq!(created_and_ok(&answers), (1, 9), "{answers:?}");
    let ids: HashSet<i64> = answers.iter().map(|(_, m)| id_of(m)).collect();
    assert_eq!(ids.len(), 1, "every answer is the same message: {answers:?}");
    let second = *ids.iter().next().unwrap();
    assert!(answers
        .iter()
        .all(|(_, m)| m["content"] == "burst" && m["client_id"] == "dup-2"));
    assert_eq!(all_ids(&app, room, &alice).await, vec![first, second]);
}

#[tokio::test]
async fn concurrent_posts_with_one_client_id_into_two_rooms_store_one_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let general = app.room(&alice, "general", "public").await;
    let random = app.room(&alice, "random", "public").await;

    let (general_path, random_path) = (messages_path(general), messages_path(random));
    for round in 0..5 {
        let body = json!({"content": format!("round {round}"), "client_id": format!("two-rooms-{round}")});
        let (a, b) = tokio::join!(
            app.post(&general_path, &alice, body.clone()),
            app.post(&random_path, &alice, body.clone())
        );
        let answers = [a, b];
        assert_eq!(created_and_ok(&answers), (1, 1), "round {round}: {answers:?}");
        assert_eq!(answers[0].1, answers[1].1, "round {round}: one message");
    }
    let stored = all_ids(&app, general, &alice).await.len() + all_ids(&app, random, &alice).await.len();
    assert_eq!(stored, 5, "one message per round across both rooms");
}

// ---------------------------------------------------------------- ordering

#[tokio::test]
async fn concurrent_posts_are_each_stored_once_in_id_order() {
    const MEMBERS: usize = 8;
    const POSTS: usize = 25;
    let app = spawn_app().await;
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        members.push(app.developer(&format!("member{i}")).await);
    }
    let room = app.room(&members[0], "busy", "public").await;
    for member in &members[1..] {
        app.join(room, member).await;
    }
    let start = say(&app, room, &members[0], "start").await;
    let path = messages_path(room);

    // Phase 1: all 200 posts at once, while a client catches up with ?after=.
    let done = AtomicBool::new(false);
    let posting = async {
        let posts = members.iter().flat_map(|m| (0..POSTS).map(move |n| (m, n)));
        let answers = join_all(posts.map(|(member, n)| {
            let (app, path) = (&app, &path);
            async move {
                let content = format!("{} #{n}", member.username);
                let answer = app.post(path, member, json!({ "content": content })).await;
                (member.id, content, answer)
            }
        }))
        .await;
        done.store(true, Ordering::SeqCst);
        answers
    };
    // The catching-up client only ever asks for ids above the last one it saw:
    // if a message could commit with an id below one already visible, it would
    // be skipped for good.
    let catching_up = async {
        let mut seen = Vec::new();
        let mut cursor = start;
        loop {
            let finished = done.load(Ordering::SeqCst);
            loop {
                let page = history(&app, room, &members[0], &format!("?after={cursor}&limit=200")).await;
                let got = page_ids(&page);
                if let Some(last) = got.last() {
                    cursor = *last;
                }
                seen.extend(got);
                if page["previous"].is_null() {
                    break;
                }
            }
            if finished {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (answers, seen) = tokio::join!(posting, catching_up);

    let mut acknowledged = HashSet::new();
    for (sender, content, (status, message)) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{content}: {message}");
        assert_eq!(message["sender"]["id"], *sender, "{message}");
        assert_eq!(message["content"], content.as_str(), "{message}");
        assert!(acknowledged.insert(id_of(message)), "id given twice: {message}");
    }
    assert_eq!(acknowledged.len(), MEMBERS * POSTS);

    let messages = all_messages(&app, room, &members[0]).await;
    let history_ids: Vec<i64> = messages.iter().map(id_of).collect();
    assert_eq!(history_ids.len(), MEMBERS * POSTS + 1);
    assert_eq!(history_ids[0], start);
    assert!(
        history_ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increase, oldest first: {history_ids:?}"
    );
    let listed: HashSet<i64> = history_ids[1..].iter().copied().collect();
    assert_eq!(
        listed, acknowledged,
        "the history holds exactly the acknowledged messages"
    );
    let contents: HashSet<&str> = messages[1..].iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents.len(), MEMBERS * POSTS, "every post is stored exactly once");
    assert_eq!(
        seen,
        history_ids[1..].to_vec(),
        "catching up with ?after= saw every message once, in order"
    );

    // Phase 2: each member sends 10 messages one after the other, all members
    // at once: each sender's messages keep their order.
    let sequences = join_all(members.iter().map(|member| {
        let app = &app;
        async move {
            let mut sent = Vec::new();
            for n in 0..10 {
                sent.push(say(app, room, member, &format!("{} seq {n}", member.username)).await);
            }
            sent
        }
    }))
    .await;
    let messages = all_messages(&app, room, &members[0]).await;
    assert_eq!(messages.len(), MEMBERS * POSTS + 1 + MEMBERS * 10);
    assert!(messages.windows(2).all(|w| id_of(&w[0]) < id_of(&w[1])));
    for (member, sent) in members.iter().zip(&sequences) {
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{}: {sent:?}", member.username);
        let listed: Vec<&str> = messages
            .iter()
            .filter(|m| m["sender"]["id"] == member.id)
            .map(|m| m["content"].as_str().unwrap())
            .filter(|c| c.contains(" seq "))
            .collect();
        let expected: Vec<String> = (0..10).map(|n| format!("{} seq {n}", member.username)).collect();
        assert_eq!(listed, expected, "{}", member.username);
    }
}

// ---------------------------------------------------------------- history

#[tokio::test]
async fn history_of_an_empty_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let empty = json!({"next": null, "previous": null, "results": [], "change_seq": 0});
    for query in ["", "?limit=3", "?before=5", "?after=5", "?after=1&limit=200"] {
        assert_eq!(history(&app, room, &alice, query).await, empty, "{query}");
    }
}

#[tokio::test]
async fn history_returns_the_newest_50_oldest_first_by_default() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;

    // Exactly one default page: no links.
    let mut posted = says(&app, room, &alice, "message", 50).await;
    let page = history(&app, room, &alice, "").await;
    assert_eq!(page_ids(&page), posted);
    assert_eq!(page["results"][0]["content"], "message 0", "oldest first");
    assert_eq!(page["results"][49]["content"], "message 49");
    assert_eq!(
        (page["next"].clone(), page["previous"].clone()),
        (Value::Null, Value::Null)
    );

    // Five more: the newest 50, and a link to the older five.
    posted.extend(says(&app, room, &alice, "more", 5).await);
    let page = history(&app, room, &alice, "").await;
    assert_eq!(page_ids(&page), posted[5..].to_vec());
    assert_eq!(page["next"], link(&app, room, &format!("before={}", posted[5])));
    assert_eq!(page["previous"], Value::Null);
    let older = follow(&app, &page["next"], &alice).await;
    assert_eq!(page_ids(&older), posted[..5].to_vec());
    assert_eq!(older["next"], Value::Null);
    assert_eq!(older["previous"], link(&app, room, &format!("after={}", posted[4])));
    let newer = follow(&app, &older["previous"], &alice).await;
    assert_eq!(page_ids(&newer), posted[5..].to_vec());
    assert_eq!(newer["previous"], Value::Null);
}

#[tokio::test]
async fn history_with_a_limit_equal_to_the_count_is_one_page() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let posted = says(&app, room, &alice, "m", 5).await;

    for limit in [5, 6, 200] {
        let page = history(&app, room, &alice, &format!("?limit={limit}")).await;
        assert_eq!(page["results"].as_array().unwrap().len(), 5, "limit {limit}: {page}");
        assert_eq!(page_ids(&page), posted);
        assert_eq!(
            (page["next"].clone(), page["previous"].clone()),
            (Value::Null, Value::Null)
        );
    }
    let page = history(&app, room, &alice, "?limit=4").await;
    assert_eq!(page_ids(&page), posted[1..].to_vec());
    assert_eq!(page["next"], link(&app, room, &format!("limit=4&before={}", posted[1])));
    // The same holds for ?after=: a page that reaches the newest message has no newer link.
    let page = history(&app, room, &alice, &format!("?limit=4&after={}", posted[0])).await;
    assert_eq!(page_ids(&page), posted[1..].to_vec());
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["next"], link(&app, room, &format!("limit=4&before={}", posted[1])));
}

#[tokio::test]
async fn history_pages_back_with_next_and_forward_with_previous() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 10).await;
    let before = |i: usize| link(&app, room, &format!("limit=3&before={}", m[i]));
    let after = |i: usize| link(&app, room, &format!("limit=3&after={}", m[i]));

    // Back in time: 8..10, 5..7, 2..4, 1.
    let p1 = history(&app, room, &alice, "?limit=3").await;
    assert_eq!(page_ids(&p1), m[7..10].to_vec());
    assert_eq!((p1["next"].clone(), p1["previous"].clone()), (before(7), Value::Null));
    let p2 = follow(&app, &p1["next"], &alice).await;
    assert_eq!(page_ids(&p2), m[4..7].to_vec());
    assert_eq!((p2["next"].clone(), p2["previous"].clone()), (before(4), after(6)));
    let p3 = follow(&app, &p2["next"], &alice).await;
    assert_eq!(page_ids(&p3), m[1..4].to_vec());
    assert_eq!((p3["next"].clone(), p3["previous"].clone()), (before(1), after(3)));
    let p4 = follow(&app, &p3["next"], &alice).await;
    assert_eq!(page_ids(&p4), m[..1].to_vec());
    assert_eq!((p4["next"].clone(), p4["previous"].clone()), (Value::Null, after(0)));

    // And forward again from the start.
    let f1 = follow(&app, &p4["previous"], &alice).await;
    assert_eq!(page_ids(&f1), m[1..4].to_vec());
    assert_eq!((f1["next"].clone(), f1["previous"].clone()), (before(1), after(3)));
    let f2 = follow(&app, &f1["previous"], &alice).await;
    assert_eq!(page_ids(&f2), m[4..7].to_vec());
    assert_eq!((f2["next"].clone(), f2["previous"].clone()), (before(4), after(6)));
    let f3 = follow(&app, &f2["previous"], &alice).await;
    assert_eq!(page_ids(&f3), m[7..10].to_vec());
    assert_eq!((f3["next"].clone(), f3["previous"].clone()), (before(7), Value::Null));
}

#[tokio::test]
async fn history_after_catches_up_with_newer_messages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 6).await;

    let page = history(&app, room, &bob, &format!("?after={}", m[2])).await;
    assert_eq!(page_ids(&page), m[3..].to_vec());
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["next"], link(&app, room, &format!("before={}", m[3])));

    let page = history(&app, room, &bob, &format!("?limit=2&after={}", m[2])).await;
    assert_eq!(page_ids(&page), m[3..5].to_vec());
    assert_eq!(page["previous"], link(&app, room, &format!("limit=2&after={}", m[4])));
    assert_eq!(page["next"], link(&app, room, &format!("limit=2&before={}", m[3])));
    let newer = follow(&app, &page["previous"], &bob).await;
    assert_eq!(page_ids(&newer), m[5..].to_vec());
    assert_eq!(newer["previous"], Value::Null);

    // New messages show up after the last id seen.
    let more = says(&app, room, &alice, "more", 2).await;
    let page = history(&app, room, &bob, &format!("?after={}", m[5])).await;
    assert_eq!(page_ids(&page), more);
    assert_eq!(page["results"][0]["content"], "more 0");
}

#[tokio::test]
async fn history_cursors_at_both_ends() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    // A message elsewhere first, so this room's oldest id is not 1 (see
    // `the_newer_link_of_a_page_before_message_1_can_be_followed`).
    let other = app.room(&alice, "random", "public").await;
    say(&app, other, &alice, "elsewhere").await;
    let m = says(&app, room, &alice, "m", 4).await;
    assert!(m[0] > 1);

    // Before the oldest message: nothing older, but a way back to newer ones.
    let page = history(&app, room, &alice, &format!("?before={}", m[0])).await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["next"], Value::Null);
    assert!(page["previous"].is_string(), "newer messages exist: {page}");
    let newer = follow(&app, &page["previous"], &alice).await;
    assert_eq!(page_ids(&newer), m);
    assert_eq!(newer["previous"], Value::Null);

    // After the newest message: nothing newer.
    let page = history(&app, room, &alice, &format!("?after={}", m[3])).await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["previous"], Value::Null);

    // Cursors beyond the ends.
    let page = history(&app, room, &alice, &format!("?before={}", m[3] + 1000)).await;
    assert_eq!(page_ids(&page), m);
    assert_eq!(
        (page["next"].clone(), page["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let page = history(&app, room, &alice, &format!("?after={}", m[3] + 1000)).await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["previous"], Value::Null);
    let page = history(&app, room, &alice, "?before=1").await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["next"], Value::Null);
}

/// A `previous` link the server hands out must be one it accepts. Before the
/// very first message (id 1) the link reads `?after=0`, which the server
/// itself refuses with a 400 (`after` must be >= 1).
#[tokio::test]

async fn the_newer_link_of_a_page_before_message_1_can_be_followed() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 3).await;
    assert_eq!(m[0], 1, "a fresh database starts at id 1");

    let page = history(&app, room, &alice, "?before=1").await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["next"], Value::Null);
    assert!(page["previous"].is_string(), "newer messages exist: {page}");
    let newer = follow(&app, &page["previous"], &alice).await;
    assert_eq!(page_ids(&newer), m);
}

/// The contract: `next` links the older page and is null only at the (oldest)
/// end. An empty catch-up page past the newest message is not at that end.
#[tokio::test]

async fn an_empty_catch_up_page_still_links_the_older_messages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 4).await;

    let page = history(&app, room, &alice, &format!("?after={}", m[3])).await;
    assert_eq!(page["results"], json!([]));
    assert!(page["next"].is_string(), "older messages exist: {page}");
    let older = follow(&app, &page["next"], &alice).await;
    assert_eq!(page_ids(&older), m);
}

#[tokio::test]
async fn history_skips_deleted_messages_without_breaking_pages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 10).await;
    // Delete the oldest, the newest and two in the middle of a page.
    for i in [0, 4, 5, 9] {
        delete(&app, m[i], &alice).await;
    }
    let before = |i: usize| link(&app, room, &format!("limit=3&before={}", m[i]));
    let after = |i: usize| link(&app, room, &format!("limit=3&after={}", m[i]));

    // Live: 1 2 3 6 7 8.
    let p1 = history(&app, room, &alice, "?limit=3").await;
    assert_eq!(page_ids(&p1), vec![m[6], m[7], m[8]]);
    assert_eq!((p1["next"].clone(), p1["previous"].clone()), (before(6), Value::Null));
    let p2 = follow(&app, &p1["next"], &alice).await;
    assert_eq!(page_ids(&p2), vec![m[1], m[2], m[3]]);
    assert_eq!(
        (p2["next"].clone(), p2["previous"].clone()),
        (Value::Null, after(3)),
        "only a deleted message is older"
    );
    let f1 = follow(&app, &p2["previous"], &alice).await;
    assert_eq!(page_ids(&f1), vec![m[6], m[7], m[8]]);
    assert_eq!(f1["previous"], Value::Null, "only a deleted message is newer");
    assert_eq!(f1["next"], before(6));

    // The default page and cursors naming deleted messages.
    assert_eq!(
        page_ids(&history(&app, room, &alice, "").await),
        vec![m[1], m[2], m[3], m[6], m[7], m[8]]
    );
    let page = history(&app, room, &alice, &format!("?before={}", m[5])).await;
    assert_eq!(page_ids(&page), vec![m[1], m[2], m[3]]);
    let page = history(&app, room, &alice, &format!("?after={}", m[4])).await;
    assert_eq!(page_ids(&page), vec![m[6], m[7], m[8]]);
    let page = history(&app, room, &alice, &format!("?after={}", m[8])).await;
    assert_eq!(page["results"], json!([]));
    assert_eq!(page["previous"], Value::Null);
    // Every listed message is live.
    assert!(field_of_all(&app, room, &alice, "is_deleted")
        .await
        .iter()
        .all(|d| *d == false));
}

#[tokio::test]
async fn history_validates_its_parameters() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    say(&app, room, &alice, "hello").await;

    let not_integer = "A valid integer is required.";
    let too_small = "Ensure this value is greater than or equal to 1.";
    // Cursors may be 0 (`after=0` reads from the start); ids are never negative.
    let negative = "Ensure this value is greater than or equal to 0.";
    let cases = [
        ("limit=abc", "limit", not_integer),
        ("limit=1.5", "limit", not_integer),
        ("limit=", "limit", not_integer),
        ("limit=0", "limit", too_small),
        ("limit=-3", "limit", too_small),
        ("before=abc", "before", not_integer),
        ("before=-1", "before", negative),
        ("after=x1", "after", not_integer),
        ("after=-1", "after", negative),
    ];
    for (query, field, message) in cases {
        let (status, body) = app.get(&format!("{}?{query}", messages_path(room)), &alice).await;
        assert_field_error(status, &body, field, message, query);
    }
    for query in ["before=0", "after=0"] {
        let (status, body) = app.get(&format!("{}?{query}", messages_path(room)), &alice).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
    for query in ["before=3&after=1", "after=1&before=3&limit=2"] {
        let (status, body) = app.get(&format!("{}?{query}", messages_path(room)), &alice).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 1, "{query}: {body}");
        let (_, messages) = object.iter().next().unwrap();
        assert!(
            messages
                .as_array()
                .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn history_limit_is_capped_at_200() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let m = says(&app, room, &alice, "m", 205).await;

    for limit in [200, 201, 1000, 1_000_000] {
        let page = history(&app, room, &alice, &format!("?limit={limit}")).await;
        assert_eq!(page_ids(&page), m[5..].to_vec(), "limit {limit}");
        assert_eq!(
            page["next"],
            link(&app, room, &format!("limit={limit}&before={}", m[5])),
            "limit {limit}"
        );
        let older = follow(&app, &page["next"], &alice).await;
        assert_eq!(page_ids(&older), m[..5].to_vec());
    }
}

#[tokio::test]
async fn history_of_public_rooms_is_open_to_developers_and_hidden_elsewhere() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let public = app.room(&alice, "general", "public").await;
    let private = app.room(&alice, "secret", "private").await;
    let group = app.room(&alice, "team", "group").await;
    let hello = say(&app, public, &alice, "hello").await;
    say(&app, private, &alice, "secret").await;
    let plan = say(&app, group, &alice, "plan").await;

    // Any developer reads a public room.
    let page = history(&app, public, &bob, "").await;
    assert_eq!(page_ids(&page), vec![hello]);
    assert_eq!(page["results"][0]["is_read"], false);
    // Private and group rooms are not found for outsiders, whatever the query.
    for room in [private, group] {
        for query in ["", "?limit=1", "?before=999999", "?after=1"] {
            let (status, body) = app.get(&format!("{}{query}", messages_path(room)), &bob).await;
            assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{query}");
        }
    }
    // Members read them.
    app.add_member(group, &alice, &bob, "member").await;
    assert_eq!(page_ids(&history(&app, group, &bob, "").await), vec![plan]);
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn senders_admins_and_moderators_delete_messages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let moderator = app.developer("mo").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "group").await;
    app.add_member(room, &alice, &moderator, "moderator").await;
    app.add_member(room, &alice, &bob, "member").await;

    let b = says(&app, room, &bob, "bob", 4).await;
    let a = say(&app, room, &alice, "from the admin").await;
    let mine = say(&app, room, &moderator, "from the moderator").await;

    delete(&app, b[0], &bob).await; // the sender
    delete(&app, b[1], &alice).await; // the room admin
    delete(&app, b[2], &moderator).await; // a moderator
    delete(&app, a, &moderator).await; // a moderator, the admin's message
    delete(&app, mine, &alice).await; // the admin, a moderator's message

    assert_eq!(all_ids(&app, room, &alice).await, vec![b[3]]);
    // Deleted messages are gone for every purpose: deleting again, reading.
    for id in [b[0], b[1], b[2], a, mine] {
        for user in [&alice, &moderator, &bob] {
            let (status, body) = app.delete(&delete_path(id), user).await;
            assert_eq!(
                (status, body),
                (StatusCode::NOT_FOUND, not_found()),
                "delete {id} again"
            );
            let (status, body) = app.post(&read_path(id), user, json!({})).await;
            assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "read {id}");
        }
    }
    // The row stays, marked deleted (soft delete).
    let row = rows::Entity::find_by_id(b[0])
        .one(app.state.store.reader())
        .await
        .unwrap()
        .expect("the row stays");
    assert!(row.is_deleted);
    assert_eq!(row.content, "bob 0");
}

#[tokio::test]
async fn members_and_outsiders_cannot_delete_others_messages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let public = app.room(&alice, "general", "public").await;
    app.join(public, &bob).await;
    app.join(public, &carol).await;
    let from_bob = say(&app, public, &bob, "bob's").await;
    let from_alice = say(&app, public, &alice, "alice's").await;

    // A plain member: neither another member's nor the admin's message.
    for id in [from_bob, from_alice] {
        let (status, body) = app.delete(&delete_path(id), &carol).await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, forbidden()),
            "carol deletes {id}"
        );
    }
    // A developer who is not a member of the public room.
    let (status, body) = app.delete(&delete_path(from_bob), &dave).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, forbidden()));

    // In a private room, an outsider does not even find the message.
    let private = app.room(&alice, "secret", "private").await;
    app.add_member(private, &alice, &bob, "member").await;
    let secret = say(&app, private, &alice, "secret").await;
    let (status, body) = app.delete(&delete_path(secret), &dave).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.delete(&delete_path(secret), &bob).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, forbidden()));

    assert_eq!(all_ids(&app, public, &alice).await, vec![from_bob, from_alice]);
    assert_eq!(all_ids(&app, private, &alice).await, vec![secret]);

    // A sender may still delete their own message after leaving a public room.
    let (status, body) = app.post(&format!("{}leave/", room_path(public)), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    delete(&app, from_bob, &bob).await;
    assert_eq!(all_ids(&app, public, &alice).await, vec![from_alice]);
}

// ---------------------------------------------------------------- read pointer

#[tokio::test]
async fn read_marks_the_message_and_every_earlier_one() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    app.join(room, &carol).await;
    let a = says(&app, room, &alice, "a", 4).await;

    let f = json!(false);
    let t = json!(true);
    assert_eq!(field_of_all(&app, room, &bob, "is_read").await, vec![f.clone(); 4]);
    assert_eq!(field_of_all(&app, room, &alice, "is_read").await, vec![t.clone(); 4]);
    assert_eq!(field_of_all(&app, room, &alice, "read_count").await, vec![json!(0); 4]);

    read(&app, a[1], &bob).await;
    assert_eq!(
        field_of_all(&app, room, &bob, "is_read").await,
        vec![t.clone(), t.clone(), f.clone(), f.clone()]
    );
    assert_eq!(field_of_all(&app, room, &carol, "is_read").await, vec![f.clone(); 4]);
    assert_eq!(field_of_all(&app, room, &alice, "is_read").await, vec![t.clone(); 4]);
    // read_count is the same for every viewer.
    for viewer in [&alice, &bob, &carol] {
        assert_eq!(
            field_of_all(&app, room, viewer, "read_count").await,
            vec![json!(1), json!(1), json!(0), json!(0)],
            "seen by {}",
            viewer.username
        );
    }

    read(&app, a[2], &carol).await;
    assert_eq!(
        field_of_all(&app, room, &alice, "read_count").await,
        vec![json!(2), json!(2), json!(1), json!(0)]
    );

    // Posting moves the sender's own pointer past everything before it.
    let b = say(&app, room, &bob, "bob").await;
    assert_eq!(field_of_all(&app, room, &bob, "is_read").await, vec![t.clone(); 5]);
    assert_eq!(
        field_of_all(&app, room, &alice, "read_count").await,
        vec![json!(2), json!(2), json!(2), json!(1), json!(0)],
        "the sender is never counted as a reader"
    );
    assert_eq!(
        field_of_all(&app, room, &alice, "is_read").await,
        vec![t.clone(), t.clone(), t.clone(), t.clone(), f.clone()]
    );

    read(&app, b, &alice).await;
    let messages = all_messages(&app, room, &bob).await;
    assert_eq!(messages[4]["id"], b);
    assert_eq!(messages[4]["read_count"], 1);
    assert_eq!(
        field_of_all(&app, room, &alice, "read_count").await,
        vec![json!(2), json!(2), json!(2), json!(1), json!(1)]
    );
    // Marking read neither changes the message nor lists anything new.
    assert_eq!(messages.len(), 5);
    assert!(messages.iter().all(|m| m["is_deleted"] == false));
}

#[tokio::test]
async fn the_read_pointer_never_moves_backward() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let a = says(&app, room, &alice, "a", 3).await;

    read(&app, a[2], &bob).await;
    read(&app, a[0], &bob).await; // a harmless 200
    read(&app, a[1], &bob).await;
    assert_eq!(field_of_all(&app, room, &bob, "is_read").await, vec![json!(true); 3]);
    assert_eq!(field_of_all(&app, room, &alice, "read_count").await, vec![json!(1); 3]);
    assert_eq!(unread_count(&app, room, &bob).await, 0);

    let later = say(&app, room, &alice, "later").await;
    read(&app, a[0], &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 1);
    assert_eq!(
        field_of_all(&app, room, &bob, "is_read").await,
        vec![json!(true), json!(true), json!(true), json!(false)]
    );
    read(&app, later, &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 0);
}

#[tokio::test]
async fn marking_read_is_for_members() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let public = app.room(&alice, "general", "public").await;
    let private = app.room(&alice, "secret", "private").await;
    let hello = say(&app, public, &alice, "hello").await;
    let secret = say(&app, private, &alice, "secret").await;

    let (status, body) = app.post(&read_path(hello), &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, not_a_member()));
    let (status, body) = app.post(&read_path(secret), &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.post(&read_path(999_999), &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    // Nobody's pointer moved.
    assert_eq!(field_of_all(&app, public, &alice, "read_count").await, vec![json!(0)]);
    assert_eq!(field_of_all(&app, private, &alice, "read_count").await, vec![json!(0)]);

    // A deleted message cannot be marked read, even by a member.
    app.join(public, &bob).await;
    delete(&app, hello, &alice).await;
    let (status, body) = app.post(&read_path(hello), &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

// ---------------------------------------------------------------- room object

#[tokio::test]
async fn unread_count_counts_others_messages_past_the_read_pointer() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 0);

    let first = says(&app, room, &alice, "first", 3).await;
    assert_eq!(unread_count(&app, room, &bob).await, 3);
    assert_eq!(
        unread_count(&app, room, &alice).await,
        0,
        "one's own posts are not unread"
    );

    // Posting moves bob's own pointer: what came before counts as seen.
    say(&app, room, &bob, "caught up").await;
    assert_eq!(unread_count(&app, room, &bob).await, 0);
    assert_eq!(unread_count(&app, room, &alice).await, 1);

    let second = says(&app, room, &alice, "second", 2).await;
    assert_eq!(unread_count(&app, room, &bob).await, 2);
    assert_eq!(unread_count(&app, room, &alice).await, 0);
    read(&app, second[0], &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 1);
    read(&app, first[0], &bob).await;
    assert_eq!(
        unread_count(&app, room, &bob).await,
        1,
        "reading backwards changes nothing"
    );
    read(&app, second[1], &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 0);

    // A non-member sees the public room with nothing unread.
    let seen = room_seen_by(&app, room, &carol).await;
    assert_eq!(seen["is_member"], false);
    assert_eq!(seen["unread_count"], 0);
}

#[tokio::test]
async fn unread_count_ignores_deleted_messages() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let a = says(&app, room, &alice, "a", 4).await;
    read(&app, a[0], &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 3);

    delete(&app, a[2], &alice).await;
    assert_eq!(unread_count(&app, room, &bob).await, 2, "a deleted unread message");
    delete(&app, a[0], &alice).await;
    assert_eq!(
        unread_count(&app, room, &bob).await,
        2,
        "a deleted message already read"
    );
    delete(&app, a[3], &alice).await;
    assert_eq!(unread_count(&app, room, &bob).await, 1, "the deleted newest message");
    read(&app, a[1], &bob).await;
    assert_eq!(unread_count(&app, room, &bob).await, 0);
    say(&app, room, &alice, "new").await;
    assert_eq!(unread_count(&app, room, &bob).await, 1);
    assert_eq!(unread_count(&app, room, &alice).await, 0);
}

#[tokio::test]
async fn last_message_is_the_newest_live_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    assert_eq!(room_seen_by(&app, room, &bob).await["last_message"], Value::Null);

    /// Asserts `user` sees `last_message` exactly as the newest history entry.
    async fn assert_last(app: &TestApp, room: i64, user: &TestUser, expected: Option<i64>) {
        let seen = room_seen_by(app, room, user).await;
        let newest = all_messages(app, room, user).await.pop();
        assert_eq!(newest.as_ref().map(id_of), expected, "history of {}", user.username);
        assert_eq!(
            seen["last_message"],
            newest.unwrap_or(Value::Null),
            "last_message seen by {}",
            user.username
        );
    }

    let first = say(&app, room, &alice, "first").await;
    assert_last(&app, room, &bob, Some(first)).await;
    assert_last(&app, room, &alice, Some(first)).await;
    let second = say(&app, room, &bob, "second").await;
    assert_last(&app, room, &bob, Some(second)).await;
    assert_last(&app, room, &alice, Some(second)).await;
    let seen = room_seen_by(&app, room, &alice).await;
    assert_eq!(seen["last_message"]["content"], "second");
    assert_eq!(seen["last_message"]["is_read"], false);
    assert_eq!(seen["last_message"]["read_count"], 0);
    // Reading it shows in its read_count.
    read(&app, second, &alice).await;
    assert_eq!(room_seen_by(&app, room, &bob).await["last_message"]["read_count"], 1);
    assert_last(&app, room, &bob, Some(second)).await;

    // Deleting the newest falls back to the one before; deleting all leaves null.
    delete(&app, second, &bob).await;
    assert_last(&app, room, &bob, Some(first)).await;
    assert_last(&app, room, &alice, Some(first)).await;
    delete(&app, first, &alice).await;
    assert_last(&app, room, &bob, None).await;
    assert_eq!(room_seen_by(&app, room, &alice).await["last_message"], Value::Null);
}
