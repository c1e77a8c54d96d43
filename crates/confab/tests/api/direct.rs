//! Direct conversations (`POST /api/chat/direct/`): one private room of two
//! per pair, `is_direct` and `peer` on room objects, the `?is_direct=`
//! filter, and the 403s that keep the pair fixed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::ws::{connect_user_socket, next_of};

const DIRECT: &str = "/api/chat/direct/";

#[tokio::test]
async fn opening_twice_from_either_side_gives_one_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("Bob").await;

    let (status, room) = app.post(DIRECT, &alice, json!({ "user_id": bob.id })).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["is_direct"], true);
    assert_eq!(room["room_type"], "private");
    assert_eq!(room["name"], "alice, Bob", "the two usernames, sorted");
    assert_eq!(room["peer"], json!({ "id": bob.id, "username": "Bob" }));
    assert_eq!(room["member_count"], 2);
    assert_eq!(room["is_member"], true);
    let id = id_of(&room);

    let (status, again) = app.post(DIRECT, &alice, json!({ "username": "Bob" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id_of(&again), id);
    let (status, theirs) = app.post(DIRECT, &bob, json!({ "user_id": alice.id })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id_of(&theirs), id);
    assert_eq!(theirs["peer"], json!({ "id": alice.id, "username": "alice" }));

    // Both can talk in it; an outsider cannot see it.
    let (status, _) = app.post(&messages_path(id), &bob, json!({ "content": "hi" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let carol = app.developer("carol").await;
    let (status, body) = app.get(&format!("/api/chat/rooms/{id}/"), &carol).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

#[tokio::test]
async fn concurrent_calls_make_one_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let calls = (0..12).map(|i| {
        let (caller, other) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        app.post(DIRECT, caller, json!({ "user_id": other.id }))
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{answers:?}");
    let ids: std::collections::HashSet<i64> = answers
        .iter()
        .map(|(status, room)| {
            assert!(status.is_success(), "{status} {room}");
            id_of(room)
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let (_, list) = app.get("/api/chat/rooms/?is_direct=true", &alice).await;
    assert_eq!(list["count"], 1);
}

#[tokio::test]
async fn the_other_user_must_be_another_active_developer() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let carol = app.user("carol", false).await;
    let dave = app.developer("dave").await;
    confab::auth::accounts::set_active(&app.state.store, "dave", false)
        .await
        .expect("deactivated");
    let hidden = json!({ "user_id": ["No active developer matches this value."] });
    for body in [
        json!({ "user_id": carol.id }),
        json!({ "user_id": dave.id }),
        json!({ "user_id": 999_999 }),
    ] {
        let (status, answer) = app.post(DIRECT, &alice, body).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, hidden.clone()));
    }
    let (status, answer) = app.post(DIRECT, &alice, json!({ "username": "nobody" })).await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::BAD_REQUEST,
            json!({ "username": ["No active developer matches this value."] })
        )
    );
    let (status, answer) = app.post(DIRECT, &alice, json!({ "user_id": alice.id })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["user_id"][0].as_str().unwrap().contains("yourself"), "{answer}");
    for body in [json!({}), json!({ "user_id": "x" }), json!([1])] {
        let (status, answer) = app.post(DIRECT, &alice, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
    }

    // Only developers may open one, and only with a token.
    let (status, _) = app.post(DIRECT, &carol, json!({ "user_id": alice.id })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(Method::POST, DIRECT, None, Some(json!({ "user_id": alice.id })))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_pair_is_fixed() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let (_, room) = app.post(DIRECT, &alice, json!({ "user_id": bob.id })).await;
    let id = id_of(&room);
    let base = format!("/api/chat/rooms/{id}/");
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            format!("{base}members/"),
            Some(json!({ "user_id": carol.id })),
        ),
        (
            Method::PATCH,
            format!("{base}members/{}/", bob.id),
            Some(json!({ "role": "admin" })),
        ),
        (Method::DELETE, format!("{base}members/{}/", bob.id), None),
        (Method::DELETE, format!("{base}members/{}/", alice.id), None),
        (Method::PATCH, base.clone(), Some(json!({ "name": "renamed" }))),
        (Method::DELETE, base.clone(), None),
        (Method::POST, format!("{base}leave/"), None),
    ];
    for (method, path, body) in attempts {
        for user in [&alice, &bob] {
            let (status, answer) = app.call(method.clone(), &path, Some(&user.token), body.clone()).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} as {}: {answer}",
                user.username
            );
            assert!(answer["detail"].is_string());
        }
        // Someone outside the pair does not learn the room exists.
        let (status, _) = app.call(method.clone(), &path, Some(&carol.token), body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} as carol");
    }
    let (_, members) = app.get(&format!("{base}members/"), &alice).await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    let (_, room) = app.get(&base, &bob).await;
    assert_eq!(room["name"], "alice, bob");
    assert_eq!(room["is_active"], true);
}

#[tokio::test]
async fn lists_filter_by_is_direct_and_rooms_say_whether_they_are() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let group = app.room(&alice, "team", "group").await;
    let (_, direct) = app.post(DIRECT, &alice, json!({ "user_id": bob.id })).await;

    let (_, all) = app.get("/api/chat/rooms/", &alice).await;
    assert_eq!(all["count"], 2);
    for room in all["results"].as_array().unwrap() {
        let is_direct = id_of(room) == id_of(&direct);
        assert_eq!(room["is_direct"], is_direct);
        assert_eq!(room["peer"].is_null(), !is_direct);
    }
    let (_, only_direct) = app.get("/api/chat/rooms/?is_direct=true", &alice).await;
    assert_eq!(page_ids(&only_direct), vec![id_of(&direct)]);
    let (_, no_direct) = app.get("/api/chat/rooms/?is_direct=false", &alice).await;
    assert_eq!(page_ids(&no_direct), vec![group]);
    let (status, body) = app.get("/api/chat/rooms/?is_direct=maybe", &alice).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["is_direct"].is_array(), "{body}");
    let (_, one) = app.get(&format!("/api/chat/rooms/{group}/"), &alice).await;
    assert_eq!(
        (one["is_direct"].clone(), one["peer"].clone()),
        (json!(false), Value::Null)
    );
}

#[tokio::test]
async fn the_other_user_is_invited_and_their_socket_follows_the_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let mut bobs = connect_user_socket(&app, &bob, "").await;
    next_of(&mut bobs, "connection_established").await;

    let (_, room) = app.post(DIRECT, &alice, json!({ "user_id": bob.id })).await;
    let id = id_of(&room);
    let notification = next_of(&mut bobs, "notification").await;
    assert_eq!(notification["notification"]["notification_type"], "room_invite");
    assert_eq!(notification["notification"]["room"], id);
    let added = next_of(&mut bobs, "member_added").await;
    assert_eq!(added["room"], id);
    // The socket now carries the room's messages.
    app.post(&messages_path(id), &alice, json!({ "content": "hello bob" }))
        .await;
    let message = next_of(&mut bobs, "chat_message").await;
    assert_eq!(message["message"]["content"], "hello bob");
    assert_eq!(
        app.notifications_of(&bob).await,
        vec![("room_invite".to_string(), Some(id))]
    );
    // Opening it again notifies nobody.
    app.post(DIRECT, &bob, json!({ "user_id": alice.id })).await;
    assert!(app.notifications_of(&alice).await.is_empty());
}
