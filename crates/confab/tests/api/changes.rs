//! Change resume: `change_seq` on rooms, history pages and every frame that
//! changes a room's history, and `?since=` on both sockets.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::ws::{connect, connect_user_socket, next_json};

async fn room_change_seq(app: &TestApp, room: i64, user: &TestUser) -> i64 {
    let (_, body) = app.get(&format!("/api/chat/rooms/{room}/"), user).await;
    body["change_seq"].as_i64().expect("rooms carry change_seq")
}

#[tokio::test]
async fn rooms_and_history_pages_carry_the_change_number() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    assert_eq!(room_change_seq(&app, room, &alice).await, 0);
    let (_, first) = app
        .post(&messages_path(room), &alice, json!({ "content": "one" }))
        .await;
    app.post(&messages_path(room), &alice, json!({ "content": "two" }))
        .await;
    app.patch(
        &format!("/api/chat/messages/{}/", id_of(&first)),
        &alice,
        json!({ "content": "1" }),
    )
    .await;
    app.post(
        &format!("/api/chat/messages/{}/reactions/", id_of(&first)),
        &alice,
        json!({ "emoji": "👍" }),
    )
    .await;
    app.delete(&format!("/api/chat/messages/{}/delete/", id_of(&first)), &alice)
        .await;
    assert_eq!(
        room_change_seq(&app, room, &alice).await,
        5,
        "two posts, an edit, a reaction, a delete"
    );
    let (_, page) = app.get(&messages_path(room), &alice).await;
    assert_eq!(page["change_seq"], 5);
    let (_, list) = app.get("/api/chat/rooms/", &alice).await;
    assert_eq!(list["results"][0]["change_seq"], 5);
}

#[tokio::test]
async fn since_replays_every_kind_of_change_in_order() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let (_, kept) = app
        .post(&messages_path(room), &alice, json!({ "content": "before" }))
        .await;
    let since = room_change_seq(&app, room, &bob).await;

    // bob is away while all of this happens.
    let (_, new) = app
        .post(&messages_path(room), &alice, json!({ "content": "new" }))
        .await;
    let (_, gone) = app
        .post(&messages_path(room), &alice, json!({ "content": "secret" }))
        .await;
    let kept_id = id_of(&kept);
    app.patch(
        &format!("/api/chat/messages/{kept_id}/"),
        &alice,
        json!({ "content": "before, edited" }),
    )
    .await;
    let reactions = format!("/api/chat/messages/{kept_id}/reactions/");
    app.post(&reactions, &alice, json!({ "emoji": "👍" })).await;
    app.delete(&format!("{reactions}%F0%9F%91%8D/"), &alice).await;
    app.delete(&format!("/api/chat/messages/{}/delete/", id_of(&gone)), &alice)
        .await;

    let mut socket = connect(&app, room, &format!("?token={}&since={since}", bob.token)).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    let mut frames = Vec::new();
    for _ in 0..6 {
        frames.push(next_json(&mut socket).await);
    }
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "chat_message",
            "chat_message",
            "message_edited",
            "reaction_added",
            "reaction_removed",
            "message_deleted"
        ]
    );
    let numbers: Vec<i64> = frames.iter().map(|f| f["change_seq"].as_i64().unwrap()).collect();
    assert_eq!(
        numbers,
        ((since + 1)..=(since + 6)).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert_eq!(frames[0]["message"]["id"], new["id"]);
    // The deleted message is replayed without its text; its deletion follows.
    assert_eq!(frames[1]["message"]["id"], gone["id"]);
    assert_eq!(frames[1]["message"]["content"], "");
    assert_eq!(frames[1]["message"]["is_deleted"], true);
    assert_eq!(frames[2]["message"]["content"], "before, edited");
    assert_eq!(
        (frames[3]["emoji"].clone(), frames[3]["user"]["id"].clone()),
        (json!("👍"), json!(alice.id))
    );
    assert_eq!(frames[5]["message_id"], gone["id"]);

    // Then live, numbered on.
    app.post(&messages_path(room), &alice, json!({ "content": "live" }))
        .await;
    let live = next_json(&mut socket).await;
    assert_eq!(
        (live["type"].clone(), live["change_seq"].clone()),
        (json!("chat_message"), json!(since + 7))
    );

    // Nothing missed: nothing replayed.
    let mut socket = connect(&app, room, &format!("?token={}&since={}", bob.token, since + 7)).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    app.post(&messages_path(room), &alice, json!({ "content": "next" }))
        .await;
    assert_eq!(next_json(&mut socket).await["change_seq"], since + 8);
}

#[tokio::test]
async fn the_user_socket_resumes_each_room_from_its_number() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let one = app.room(&alice, "one", "public").await;
    let two = app.room(&alice, "two", "public").await;
    app.join(one, &bob).await;
    app.join(two, &bob).await;
    let (_, m) = app.post(&messages_path(one), &alice, json!({ "content": "a" })).await;
    let since_one = room_change_seq(&app, one, &bob).await;
    app.post(&messages_path(two), &alice, json!({ "content": "b" })).await;
    let since_two = room_change_seq(&app, two, &bob).await;
    app.patch(
        &format!("/api/chat/messages/{}/", id_of(&m)),
        &alice,
        json!({ "content": "a2" }),
    )
    .await;
    app.post(&messages_path(two), &alice, json!({ "content": "c" })).await;

    let query = format!("&since={one}:{since_one},{two}:{since_two}");
    let mut socket = connect_user_socket(&app, &bob, &query).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    let first = next_json(&mut socket).await;
    let second = next_json(&mut socket).await;
    assert_eq!(
        (first["room"].clone(), first["type"].clone()),
        (json!(one), json!("message_edited"))
    );
    assert_eq!(first["change_seq"], since_one + 1);
    assert_eq!(
        (second["room"].clone(), second["type"].clone()),
        (json!(two), json!("chat_message"))
    );
    assert_eq!(second["message"]["content"], "c");
}

#[tokio::test]
async fn too_much_to_replay_asks_for_a_resync() {
    let app = spawn_app_with(|c| c.ws_resume_max = 3).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    for i in 0..4 {
        app.post(&messages_path(room), &alice, json!({ "content": format!("m{i}") }))
            .await;
    }
    let mut socket = connect(&app, room, &format!("?token={}&since=0", alice.token)).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    assert_eq!(next_json(&mut socket).await, json!({ "type": "resync_required" }));
    // Live frames go on from the room's current number.
    app.post(&messages_path(room), &alice, json!({ "content": "live" }))
        .await;
    assert_eq!(next_json(&mut socket).await["change_seq"], 5);
}

/// A client resumes while others post, edit and react: the replay and the
/// live frames join with every number once, in order.
#[tokio::test]
async fn resuming_under_concurrent_changes_has_no_gap_and_no_duplicate() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let (_, target) = app
        .post(&messages_path(room), &alice, json!({ "content": "react here" }))
        .await;
    let target = id_of(&target);
    let since = room_change_seq(&app, room, &bob).await;

    let mut live = connect(&app, room, &format!("?token={}", bob.token)).await;
    assert_eq!(next_json(&mut live).await["type"], "connection_established");
    // Three writers at once: posts, edits and reactions race for numbers.
    let writers: Vec<_> = (0..3)
        .map(|kind| {
            let app_url = app.url("");
            let client = app.client.clone();
            let token = alice.token.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    let (method, path, body) = match kind {
                        0 => (
                            reqwest::Method::POST,
                            format!("/api/chat/rooms/{room}/messages/"),
                            json!({ "content": format!("m{i}") }),
                        ),
                        1 => (
                            reqwest::Method::PATCH,
                            format!("/api/chat/messages/{target}/"),
                            json!({ "content": format!("edit {i}") }),
                        ),
                        _ => (
                            reqwest::Method::POST,
                            format!("/api/chat/messages/{target}/reactions/"),
                            json!({ "emoji": format!("e{i}") }),
                        ),
                    };
                    let response = client
                        .request(method, format!("{app_url}{path}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut socket = connect(&app, room, &format!("?token={}&since={since}", bob.token)).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    for writer in writers {
        writer.await.unwrap();
    }
    let last = room_change_seq(&app, room, &bob).await;
    assert_eq!(last - since, 30);
    for socket in [&mut socket, &mut live] {
        let mut expected = since + 1;
        while expected <= last {
            let frame: Value = next_json(socket).await;
            let Some(number) = frame["change_seq"].as_i64() else {
                continue; // presence, read receipts
            };
            assert_eq!(number, expected, "{frame}");
            expected += 1;
        }
    }
}
