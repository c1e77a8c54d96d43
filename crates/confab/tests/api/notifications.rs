//! `/api/chat/notifications/...`: the notifications messages cause
//! (`mention`, `reply`) and membership changes cause (`room_invite`,
//! `role_changed`, `removed_from_room`); the paginated list, its `is_read`
//! filter, marking one or all read, and the authentication gate.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{call_raw, id_of, not_found, spawn_app, RawResponse, TestApp, TestUser};

const NOTIFICATIONS: &str = "/api/chat/notifications/";
const READ_ALL: &str = "/api/chat/notifications/read_all/";

fn read_path(id: i64) -> String {
    format!("/api/chat/notifications/{id}/read/")
}

/// Asserts a notification object: exactly its eight fields, well typed.
fn assert_notification(n: &Value) {
    let keys: BTreeSet<&str> = n
        .as_object()
        .unwrap_or_else(|| panic!("expected a notification, got {n}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "notification_type",
            "title",
            "content",
            "is_read",
            "created_at",
            "room",
            "message"
        ]),
        "{n}"
    );
    assert!(id_of(n) > 0, "{n}");
    assert!(n["title"].as_str().is_some_and(|t| !t.is_empty()), "{n}");
    assert!(n["content"].is_string(), "{n}");
    assert!(n["is_read"].is_boolean(), "{n}");
    assert!(n["room"].is_i64() || n["room"].is_null(), "{n}");
    assert!(n["message"].is_i64() || n["message"].is_null(), "{n}");
    let created_at = n["created_at"].as_str().unwrap_or_else(|| panic!("{n}"));
    assert!(created_at.ends_with('Z'), "not UTC: {created_at}");
    chrono::DateTime::parse_from_rfc3339(created_at).unwrap_or_else(|e| panic!("not RFC 3339: {created_at}: {e}"));
}

/// Posts `body` into `room` as `user`, expecting a 201; returns the message id.
async fn send(app: &TestApp, room: i64, user: &TestUser, body: Value) -> i64 {
    let (status, message) = app.post(&format!("/api/chat/rooms/{room}/messages/"), user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    id_of(&message)
}

async fn say(app: &TestApp, room: i64, user: &TestUser, content: &str) -> i64 {
    send(app, room, user, json!({ "content": content })).await
}

/// GET the list with `query`, expecting a 200 page whose results are all well-formed.
async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let (status, page) = app.get(&format!("{NOTIFICATIONS}{query}"), user).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    let keys: BTreeSet<&str> = page
        .as_object()
        .unwrap_or_else(|| panic!("expected a page, got {page}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["count", "next", "previous", "results"]), "{page}");
    for n in page["results"].as_array().unwrap() {
        assert_notification(n);
    }
    page
}

/// `(type, room, message)` of a user's notifications, newest first, from the API.
async fn kinds(app: &TestApp, user: &TestUser) -> Vec<Kind> {
    let page = list(app, user, "?page_size=200").await;
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["notification_type"].as_str().unwrap().to_owned(),
                n["room"].as_i64(),
                n["message"].as_i64(),
            )
        })
        .collect()
}

/// `(notification_type, room, message)`.
type Kind = (String, Option<i64>, Option<i64>);

fn kind(notification_type: &str, room: i64, message: Option<i64>) -> Kind {
    (notification_type.to_owned(), Some(room), message)
}

/// A public room of `owner` that `members` joined (joining sends no notification).
async fn public_room(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let room = app.room(owner, "general", "public").await;
    for member in members {
        app.join(room, member).await;
    }
    room
}

// ---------------------------------------------------------------- mention

#[tokio::test]
async fn a_mention_notifies_the_member_named_in_any_case() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("Carol").await;
    let room = public_room(&app, &alice, &[&bob, &carol]).await;
    assert_eq!(kinds(&app, &bob).await, Vec::<Kind>::new());

    let content = "hi @BOB and @carol, look (thanks @bob.)";
    let message = say(&app, room, &alice, content).await;

    let page = list(&app, &bob, "").await;
    assert_eq!(page["count"], 1);
    assert_eq!(
        (page["next"].clone(), page["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let n = &page["results"][0];
    assert_eq!(n["notification_type"], "mention");
    assert_eq!(n["room"], room);
    assert_eq!(n["message"], message);
    assert_eq!(n["is_read"], false);
    assert_eq!(n["content"], content);
    assert!(n["title"].as_str().unwrap().contains("alice"), "{n}");
    assert_eq!(kinds(&app, &carol).await, vec![kind("mention", room, Some(message))]);
    assert_eq!(
        kinds(&app, &alice).await,
        Vec::<Kind>::new(),
        "the sender is not notified"
    );
    assert_eq!(
        app.notifications_of(&bob).await,
        vec![("mention".to_owned(), Some(room))]
    );

    // The notification quotes at most 200 characters.
    let long = format!("@bob {}", "é".repeat(300));
    let second = say(&app, room, &alice, &long).await;
    let page = list(&app, &bob, "").await;
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"][0]["message"], second);
    assert_eq!(
        page["results"][0]["content"],
        long.chars().take(200).collect::<String>()
    );
}

#[tokio::test]
async fn mentions_of_outsiders_oneself_or_email_addresses_notify_nobody() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let dave = app.developer("dave").await;
    let room = public_room(&app, &alice, &[&bob]).await;

    say(&app, room, &alice, "@dave, are you there?").await; // not a member
    say(&app, room, &alice, "note to self: @alice @ALICE").await; // oneself
    say(&app, room, &alice, "write to bob@example.com or dave@bob").await; // e-mail-like
    say(&app, room, &alice, "@bobby @nobody @ @@ x@bob").await; // no such member
    say(&app, room, &bob, "me, myself: @bob").await; // oneself again

    for user in [&alice, &bob, &dave] {
        assert_eq!(kinds(&app, user).await, Vec::<Kind>::new(), "{}", user.username);
        assert!(app.notifications_of(user).await.is_empty(), "{}", user.username);
    }
}

#[tokio::test]
async fn mentioning_a_member_twice_in_one_message_notifies_once() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = public_room(&app, &alice, &[&bob]).await;

    let message = say(&app, room, &alice, "@bob hello @bob, and again @BOB!").await;
    assert_eq!(kinds(&app, &bob).await, vec![kind("mention", room, Some(message))]);
    // Another message is another notification.
    let again = say(&app, room, &alice, "@bob ping").await;
    assert_eq!(
        kinds(&app, &bob).await,
        vec![kind("mention", room, Some(again)), kind("mention", room, Some(message))]
    );
}

// ---------------------------------------------------------------- reply

#[tokio::test]
async fn a_reply_notifies_the_author_of_the_original_once() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = public_room(&app, &alice, &[&bob, &carol]).await;
    let question = say(&app, room, &alice, "question").await;

    // bob answers alice: alice gets a reply notification carrying the reply's id.
    let answer = send(&app, room, &bob, json!({"content": "answer", "reply_to": question})).await;
    let page = list(&app, &alice, "").await;
    assert_eq!(page["count"], 1);
    let n = &page["results"][0];
    assert_eq!(n["notification_type"], "reply");
    assert_eq!(n["room"], room);
    assert_eq!(n["message"], answer, "the reply, not the original");
    assert_eq!(n["content"], "answer");
    assert_eq!(n["is_read"], false);
    assert!(n["title"].as_str().unwrap().contains("bob"), "{n}");

    // Replying to oneself notifies nobody.
    send(&app, room, &bob, json!({"content": "and more", "reply_to": answer})).await;
    assert_eq!(kinds(&app, &bob).await, Vec::<Kind>::new());

    // A reply that also mentions the author: one notification, the reply.
    let both = send(
        &app,
        room,
        &bob,
        json!({"content": "@alice see above", "reply_to": question}),
    )
    .await;
    assert_eq!(
        kinds(&app, &alice).await,
        vec![kind("reply", room, Some(both)), kind("reply", room, Some(answer))]
    );

    // A reply mentioning someone else: the author gets the reply, the other the mention.
    let third = send(
        &app,
        room,
        &carol,
        json!({"content": "@bob knows", "reply_to": question}),
    )
    .await;
    assert_eq!(kinds(&app, &alice).await[0], kind("reply", room, Some(third)));
    assert_eq!(kinds(&app, &alice).await.len(), 3);
    assert_eq!(kinds(&app, &bob).await, vec![kind("mention", room, Some(third))]);
    assert_eq!(kinds(&app, &carol).await, Vec::<Kind>::new());
}

// ---------------------------------------------------------------- list

#[tokio::test]
async fn the_list_is_paginated_newest_first() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = public_room(&app, &alice, &[&bob]).await;
    let mut messages = Vec::new();
    for n in 0..3 {
        messages.push(say(&app, room, &alice, &format!("@bob number {n}")).await);
    }

    let page = list(&app, &bob, "").await;
    assert_eq!(page["count"], 3);
    assert_eq!(
        (page["next"].clone(), page["previous"].clone()),
        (Value::Null, Value::Null)
    );
    let results = page["results"].as_array().unwrap();
    let listed: Vec<i64> = results.iter().map(|n| n["message"].as_i64().unwrap()).collect();
    assert_eq!(
        listed,
        messages.iter().rev().copied().collect::<Vec<_>>(),
        "newest first"
    );
    let ids: Vec<i64> = results.iter().map(id_of).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(results[0]["content"], "@bob number 2");

    // DRF page-number links, absolute.
    let origin = format!("http://{}", app.addr);
    let first = list(&app, &bob, "?page_size=2").await;
    assert_eq!(first["count"], 3);
    assert_eq!(
        first["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    assert_eq!(first["next"], format!("{origin}{NOTIFICATIONS}?page_size=2&page=2"));
    assert_eq!(first["previous"], Value::Null);
    let second = list(&app, &bob, "?page_size=2&page=2").await;
    assert_eq!(
        second["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        ids[2..].to_vec()
    );
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["previous"], format!("{origin}{NOTIFICATIONS}?page_size=2"));
    let (status, body) = app.get(&format!("{NOTIFICATIONS}?page_size=2&page=3"), &bob).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Invalid page."}))
    );
}

#[tokio::test]
async fn the_list_filters_by_is_read() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = public_room(&app, &alice, &[&bob]).await;
    for n in 0..3 {
        say(&app, room, &alice, &format!("@bob {n}")).await;
    }
    let all = list(&app, &bob, "").await;
    let ids: Vec<i64> = all["results"].as_array().unwrap().iter().map(id_of).collect();
    let (status, body) = app.post(&read_path(ids[1]), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for query in ["?is_read=false", "?is_read=False", "?is_read=0"] {
        let page = list(&app, &bob, query).await;
        assert_eq!(page["count"], 2, "{query}");
        let listed: Vec<i64> = page["results"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(listed, vec![ids[0], ids[2]], "{query}");
        assert!(page["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["is_read"] == false));
    }
    for query in ["?is_read=true", "?is_read=TRUE", "?is_read=1"] {
        let page = list(&app, &bob, query).await;
        assert_eq!(page["count"], 1, "{query}");
        assert_eq!(id_of(&page["results"][0]), ids[1], "{query}");
        assert_eq!(page["results"][0]["is_read"], true);
    }
    // No filter (or an empty one): everything.
    assert_eq!(list(&app, &bob, "?is_read=").await["count"], 3);
    assert_eq!(list(&app, &bob, "").await["count"], 3);

    for bad in ["maybe", "yes", "2", "null"] {
        let (status, body) = app.get(&format!("{NOTIFICATIONS}?is_read={bad}"), &bob).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let object = body.as_object().unwrap();
        assert_eq!(
            object.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["is_read"],
            "{bad}: {body}"
        );
        assert!(body["is_read"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string)));
    }
}

#[tokio::test]
async fn everyone_lists_only_their_own_notifications() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = public_room(&app, &alice, &[&bob, &carol]).await;
    let to_bob = say(&app, room, &alice, "@bob one").await;
    let to_alice = say(&app, room, &bob, "@alice two").await;
    let to_both = say(&app, room, &carol, "@alice @bob three").await;

    assert_eq!(
        kinds(&app, &bob).await,
        vec![
            kind("mention", room, Some(to_both)),
            kind("mention", room, Some(to_bob))
        ]
    );
    assert_eq!(
        kinds(&app, &alice).await,
        vec![
            kind("mention", room, Some(to_both)),
            kind("mention", room, Some(to_alice))
        ]
    );
    assert_eq!(kinds(&app, &carol).await, Vec::<Kind>::new());
    let bobs: BTreeSet<i64> = list(&app, &bob, "").await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let alices: BTreeSet<i64> = list(&app, &alice, "").await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert!(bobs.is_disjoint(&alices), "{bobs:?} {alices:?}");
}

#[tokio::test]
async fn membership_changes_appear_in_the_list() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "team", "group").await;

    app.add_member(room, &alice, &bob, "moderator").await;
    let (status, body) = app
        .delete(&format!("/api/chat/rooms/{room}/members/{}/", bob.id), &alice)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(
        kinds(&app, &bob).await,
        vec![
            kind("removed_from_room", room, None),
            kind("role_changed", room, None),
            kind("room_invite", room, None),
        ]
    );
    let page = list(&app, &bob, "").await;
    assert_eq!(page["count"], 3);
    assert!(page["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["is_read"] == false));
    assert_eq!(
        kinds(&app, &alice).await,
        Vec::<Kind>::new(),
        "the one who acts is not notified"
    );
    assert_eq!(
        app.notifications_of(&bob).await,
        vec![
            ("room_invite".to_owned(), Some(room)),
            ("role_changed".to_owned(), Some(room)),
            ("removed_from_room".to_owned(), Some(room)),
        ]
    );
}

// ---------------------------------------------------------------- read

#[tokio::test]
async fn marking_one_notification_read() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = public_room(&app, &alice, &[&bob]).await;
    say(&app, room, &alice, "@bob first").await;
    say(&app, room, &alice, "@bob second").await;
    say(&app, room, &bob, "@alice hi").await;
    let page = list(&app, &bob, "").await;
    let newest = page["results"][0].clone();
    let oldest = page["results"][1].clone();

    let (status, read) = app.post(&read_path(id_of(&newest)), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_notification(&read);
    let mut expected = newest.clone();
    expected["is_read"] = json!(true);
    assert_eq!(read, expected, "the notification, now read");
    // Again: still 200, still read.
    let (status, again) = app.post(&read_path(id_of(&newest)), &bob, json!({})).await;
    assert_eq!((status, again), (StatusCode::OK, expected.clone()));
    let page = list(&app, &bob, "").await;
    assert_eq!(page["results"][0], expected);
    assert_eq!(page["results"][1], oldest, "the other one is untouched");

    // Someone else's notification is not found, and stays unread.
    let (status, body) = app.post(&read_path(id_of(&oldest)), &alice, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    assert_eq!(list(&app, &bob, "").await["results"][1]["is_read"], false);
    // Nonexistent ids.
    for id in ["999999", "0", "-1", "abc"] {
        let (status, body) = app
            .post(&format!("/api/chat/notifications/{id}/read/"), &bob, json!({}))
            .await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{id}");
    }
    assert_eq!(list(&app, &alice, "?is_read=false").await["count"], 1);
}

#[tokio::test]
async fn marking_all_notifications_read() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = public_room(&app, &alice, &[&bob]).await;
    for n in 0..4 {
        say(&app, room, &alice, &format!("@bob {n}")).await;
    }
    say(&app, room, &bob, "@alice hi").await;
    let first = id_of(&list(&app, &bob, "").await["results"][3]);
    let (status, body) = app.post(&read_path(first), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.post(READ_ALL, &bob, json!({})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"updated": 3})),
        "only the unread ones count"
    );
    let (status, body) = app.post(READ_ALL, &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"updated": 0})));
    assert_eq!(list(&app, &bob, "?is_read=false").await["count"], 0);
    assert_eq!(list(&app, &bob, "?is_read=true").await["count"], 4);
    // Only the caller's.
    assert_eq!(list(&app, &alice, "?is_read=false").await["count"], 1);
    // Without a trailing slash, and with no body at all.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/chat/notifications/read_all",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"updated": 1})));
    // A new one is unread again.
    say(&app, room, &alice, "@bob later").await;
    assert_eq!(list(&app, &bob, "?is_read=false").await["count"], 1);
}

#[tokio::test]
async fn every_notification_endpoint_requires_a_developer_token() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let outsider = app.user("outsider", false).await;
    let room = public_room(&app, &alice, &[&bob]).await;
    say(&app, room, &alice, "@bob hi").await;
    let notification = id_of(&list(&app, &bob, "").await["results"][0]);

    let endpoints: Vec<(Method, String)> = vec![
        (Method::GET, NOTIFICATIONS.to_owned()),
        (Method::POST, read_path(notification)),
        (Method::POST, READ_ALL.to_owned()),
    ];
    for (method, path) in &endpoints {
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
                None,
            )
            .await;
            let what = format!("{method} {path} with {case}");
            assert_eq!(status, expected, "{what}: {json}");
            assert!(json["detail"].is_string(), "{what}: {json}");
            if expected == StatusCode::UNAUTHORIZED {
                assert_eq!(www_authenticate.as_deref(), Some("Bearer realm=\"api\""), "{what}");
            }
        }
    }
    // Nothing was marked read.
    assert_eq!(list(&app, &bob, "?is_read=false").await["count"], 1);
}
