//! Editing (`PATCH /api/chat/messages/{id}/`) and reactions
//! (`/api/chat/messages/{id}/reactions/`): the permission matrix, content
//! and emoji rules, notifications for new mentions, the frames, and
//! concurrency.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::ws::{established, next_of};

fn message_path(id: i64) -> String {
    format!("/api/chat/messages/{id}/")
}

fn reactions_path(id: i64) -> String {
    format!("/api/chat/messages/{id}/reactions/")
}

/// alice (admin), bob (member) in a public room; carol a developer outside it;
/// dave not a developer. Returns alice's message id too.
async fn scene(app: &TestApp) -> (TestUser, TestUser, TestUser, TestUser, i64, i64) {
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let dave = app.user("dave", false).await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let (_, message) = app
        .post(&messages_path(room), &alice, json!({ "content": "hi @bob" }))
        .await;
    (alice, bob, carol, dave, room, id_of(&message))
}

#[tokio::test]
async fn the_sender_edits_and_everyone_sees_the_new_text() {
    let app = spawn_app().await;
    let (alice, bob, _, _, room, id) = scene(&app).await;
    let (_, reply) = app
        .post(&messages_path(room), &bob, json!({ "content": "yes?", "reply_to": id }))
        .await;
    let (mut socket, _) = established(&app, room, &bob).await;

    let (status, edited) = app
        .patch(&message_path(id), &alice, json!({ "content": "  hello @bob  " }))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["content"], "hello @bob", "trimmed like a post");
    assert_timestamp(&edited["edited_at"]);
    assert_eq!(edited["reactions"], json!([]));

    let frame = next_of(&mut socket, "message_edited").await;
    assert_eq!(frame["message"]["id"], id);
    assert_eq!(frame["message"]["content"], "hello @bob");
    assert!(frame["change_seq"].as_i64().unwrap() > 0);

    let (_, page) = app.get(&messages_path(room), &bob).await;
    let results = page["results"].as_array().unwrap();
    let original = results.iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(original["content"], "hello @bob");
    assert_eq!(original["edited_at"], edited["edited_at"]);
    let answer = results.iter().find(|m| m["id"] == reply["id"]).unwrap();
    assert_eq!(answer["edited_at"], Value::Null);
    assert_eq!(
        answer["reply_preview"]["content"], "hello @bob",
        "reply previews show the edit"
    );
}

#[tokio::test]
async fn only_the_sender_may_edit_and_content_follows_the_post_rules() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, room, id) = scene(&app).await;
    let private = app.room(&alice, "secret", "private").await;
    let (_, hidden) = app
        .post(&messages_path(private), &alice, json!({ "content": "x" }))
        .await;
    let body = json!({ "content": "changed" });

    let (status, _) = app.patch(&message_path(id), &bob, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another member");
    let (status, _) = app.patch(&message_path(id), &carol, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a developer reading the public room");
    let (status, _) = app.patch(&message_path(id_of(&hidden)), &carol, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a message of an invisible room");
    let (status, _) = app.patch(&message_path(id), &dave, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a developer");
    let (status, _) = app
        .call(Method::PATCH, &message_path(id), None, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.patch(&message_path(999_999), &alice, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for bad in [
        json!({}),
        json!({ "content": "" }),
        json!({ "content": "   " }),
        json!({ "content": "x".repeat(5001) }),
    ] {
        let (status, answer) = app.patch(&message_path(id), &alice, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer["content"].is_array(), "{answer}");
    }
    let (status, _) = app
        .patch(&message_path(id), &alice, json!({ "content": "x".repeat(5000) }))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A sender who left may not edit; a deleted message is gone.
    let (_, bobs) = app.post(&messages_path(room), &bob, json!({ "content": "mine" })).await;
    app.post(&format!("/api/chat/rooms/{room}/leave/"), &bob, json!({}))
        .await;
    let (status, _) = app.patch(&message_path(id_of(&bobs)), &bob, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.delete(&format!("/api/chat/messages/{id}/delete/"), &alice).await;
    let (status, _) = app.patch(&message_path(id), &alice, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_edit_notifies_only_the_newly_mentioned() {
    let app = spawn_app().await;
    let (alice, bob, carol, _, room, id) = scene(&app).await;
    app.join(room, &carol).await;
    let mentions = |list: Vec<(String, Option<i64>)>| list.into_iter().filter(|(t, _)| t == "mention").count();
    assert_eq!(mentions(app.notifications_of(&bob).await), 1);
    app.patch(
        &message_path(id),
        &alice,
        json!({ "content": "hi @bob and @carol and @alice" }),
    )
    .await;
    assert_eq!(
        mentions(app.notifications_of(&bob).await),
        1,
        "bob was already mentioned"
    );
    assert_eq!(mentions(app.notifications_of(&carol).await), 1);
    assert_eq!(
        mentions(app.notifications_of(&alice).await),
        0,
        "nobody is notified of their own edit"
    );
}

#[tokio::test]
async fn reactions_are_counted_per_emoji_in_order_of_first_use() {
    let app = spawn_app().await;
    let (alice, bob, _, _, room, id) = scene(&app).await;
    let (mut socket, _) = established(&app, room, &alice).await;

    let (status, reaction) = app.post(&reactions_path(id), &bob, json!({ "emoji": "👍" })).await;
    assert_eq!(status, StatusCode::CREATED, "{reaction}");
    assert_eq!(
        reaction,
        json!({ "emoji": "👍", "count": 1, "users": [{ "id": bob.id, "username": "bob" }] })
    );
    let frame = next_of(&mut socket, "reaction_added").await;
    assert_eq!(frame["message_id"], id);
    assert_eq!(frame["emoji"], "👍");
    assert_eq!(frame["user"]["username"], "bob");
    let added_at = frame["change_seq"].as_i64().unwrap();

    let (status, again) = app.post(&reactions_path(id), &bob, json!({ "emoji": "👍" })).await;
    assert_eq!(
        (status, again["count"].clone()),
        (StatusCode::OK, json!(1)),
        "idempotent"
    );
    app.post(&reactions_path(id), &alice, json!({ "emoji": "🎉" })).await;
    let (status, both) = app.post(&reactions_path(id), &alice, json!({ "emoji": "👍" })).await;
    assert_eq!((status, both["count"].clone()), (StatusCode::CREATED, json!(2)));

    let (_, page) = app.get(&messages_path(room), &alice).await;
    let message = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap();
    assert_eq!(
        message["reactions"],
        json!([
            { "emoji": "👍", "count": 2, "users": [{ "id": bob.id, "username": "bob" }, { "id": alice.id, "username": "alice" }] },
            { "emoji": "🎉", "count": 1, "users": [{ "id": alice.id, "username": "alice" }] },
        ])
    );

    // Taking one back: 204, then 404; the emoji travels URL-encoded.
    let path = format!("{}{}/", reactions_path(id), urlencoding("👍"));
    let (status, _) = app.delete(&path, &bob).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.delete(&path, &bob).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    next_of(&mut socket, "reaction_added").await; // alice's 🎉
    next_of(&mut socket, "reaction_added").await; // alice's 👍
    let removed = next_of(&mut socket, "reaction_removed").await;
    assert_eq!(
        (removed["emoji"].clone(), removed["user"]["id"].clone()),
        (json!("👍"), json!(bob.id))
    );
    assert_eq!(
        removed["change_seq"].as_i64().unwrap(),
        added_at + 3,
        "one number per change"
    );
}

fn urlencoding(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn reactions_have_rules_and_a_cap() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, _, id) = scene(&app).await;
    for bad in [
        json!({}),
        json!({ "emoji": "" }),
        json!({ "emoji": "a b" }),
        json!({ "emoji": " 👍" }),
        json!({ "emoji": "x".repeat(33) }),
    ] {
        let (status, answer) = app.post(&reactions_path(id), &alice, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer["emoji"].is_array(), "{bad} -> {answer}");
    }
    let (status, _) = app.post(&reactions_path(id), &carol, json!({ "emoji": "👍" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a member of the public room");
    let (status, _) = app.post(&reactions_path(id), &dave, json!({ "emoji": "👍" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not a developer");
    let (status, _) = app
        .call(Method::POST, &reactions_path(id), None, Some(json!({ "emoji": "👍" })))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let private = app.room(&alice, "secret", "private").await;
    let (_, hidden) = app
        .post(&messages_path(private), &alice, json!({ "content": "x" }))
        .await;
    let (status, _) = app
        .post(&reactions_path(id_of(&hidden)), &bob, json!({ "emoji": "👍" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "invisible");

    // Twenty different emoji, then no more; a known one still works.
    for i in 0..20 {
        let (status, _) = app
            .post(&reactions_path(id), &alice, json!({ "emoji": format!("e{i}") }))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, answer) = app.post(&reactions_path(id), &bob, json!({ "emoji": "e20" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["emoji"][0].as_str().unwrap().contains("20"), "{answer}");
    let (status, _) = app.post(&reactions_path(id), &bob, json!({ "emoji": "e7" })).await;
    assert_eq!(status, StatusCode::CREATED);

    // A deleted message takes no reactions.
    app.delete(&format!("/api/chat/messages/{id}/delete/"), &alice).await;
    let (status, _) = app.post(&reactions_path(id), &bob, json!({ "emoji": "e7" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.delete(&format!("{}e7/", reactions_path(id)), &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_identical_reactions_store_one() {
    let app = spawn_app().await;
    let (alice, bob, _, _, room, id) = scene(&app).await;
    let path = reactions_path(id);
    let calls = (0..10).map(|i| {
        let user = if i % 2 == 0 { &alice } else { &bob };
        app.post(&path, user, json!({ "emoji": "🔥" }))
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let repeated = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, repeated), (2, 8), "{answers:?}");
    let (_, message) = app.get(&messages_path(room), &alice).await;
    let reactions = &message["results"][0]["reactions"];
    assert_eq!(reactions[0]["count"], 2, "{reactions}");
}
