//! `GET /api/chat/search/`: substring matching in any case (Chinese
//! included), only the caller's rooms, never a deleted message, edits seen
//! at once.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

async fn search(app: &TestApp, user: &TestUser, query: &str) -> (StatusCode, Value) {
    let url = format!("/api/chat/search/?{query}");
    app.get(&url, user).await
}

fn contents(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {page}"))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

fn q(text: &str) -> String {
    format!("q={}", text.bytes().map(|b| format!("%{b:02X}")).collect::<String>())
}

#[tokio::test]
async fn finds_every_term_inside_words_in_any_case_newest_first() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "team", "group").await;
    for content in [
        "Deploy to STAGING done",
        "staging is down again",
        "我们的数据库迁移完成了",
        "redeployed production",
        "100% sure, use snake_case",
        "ÄRGER im Büro",
        r#"she said "hi" twice"#,
    ] {
        app.post(&messages_path(room), &alice, json!({ "content": content }))
            .await;
    }
    let (status, page) = search(&app, &alice, &q("staging")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(contents(&page), ["staging is down again", "Deploy to STAGING done"]);
    assert_eq!(page["count"], 2);
    assert_eq!(page["results"][0]["sender"]["username"], "alice");
    assert!(page["results"][0]["reactions"].is_array());

    let (_, page) = search(&app, &alice, &q("EPLOY")).await;
    assert_eq!(
        contents(&page),
        ["redeployed production", "Deploy to STAGING done"],
        "inside words"
    );
    let (_, page) = search(&app, &alice, &q("deploy staging")).await;
    assert_eq!(contents(&page), ["Deploy to STAGING done"], "every term");
    let (_, page) = search(&app, &alice, &q("数据库")).await;
    assert_eq!(contents(&page), ["我们的数据库迁移完成了"]);
    let (_, page) = search(&app, &alice, &q("迁移")).await;
    assert_eq!(contents(&page), ["我们的数据库迁移完成了"], "two characters");
    let (_, page) = search(&app, &alice, &q("迁移 完成")).await;
    assert_eq!(contents(&page), ["我们的数据库迁移完成了"], "two of two characters");
    let (_, page) = search(&app, &alice, &q("完 迁移")).await;
    assert_eq!(contents(&page), ["我们的数据库迁移完成了"], "one character and two");
    let (_, page) = search(&app, &alice, &q("är")).await;
    assert_eq!(contents(&page), ["ÄRGER im Büro"], "case beyond ASCII, two characters");
    let (_, page) = search(&app, &alice, &q("BÜRO är")).await;
    assert_eq!(contents(&page), ["ÄRGER im Büro"], "and beside a longer term");
    let (_, page) = search(&app, &alice, &q(r#""h"#)).await;
    assert_eq!(contents(&page), [r#"she said "hi" twice"#], "quotes are literal");
    let (_, page) = search(&app, &alice, &q("is")).await;
    assert_eq!(contents(&page), ["staging is down again"]);
    let (_, page) = search(&app, &alice, &q("0%")).await;
    assert_eq!(contents(&page), ["100% sure, use snake_case"], "% is literal");
    let (_, page) = search(&app, &alice, &q("e_c")).await;
    assert_eq!(contents(&page), ["100% sure, use snake_case"], "_ is literal");
    let (_, page) = search(&app, &alice, &q("nothing-like-this")).await;
    assert_eq!(page["count"], 0);

    // Paginated like every list.
    let (_, page) = search(&app, &alice, &format!("{}&page_size=1", q("staging"))).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert!(page["next"].as_str().unwrap().contains("page=2"), "{page}");
}

#[tokio::test]
async fn only_the_callers_rooms_and_never_a_deleted_message() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let mine = app.room(&alice, "mine", "group").await;
    let public = app.room(&bob, "open", "public").await;
    let secret = app.room(&bob, "secret", "private").await;
    app.post(
        &messages_path(mine),
        &alice,
        json!({ "content": "release notes draft" }),
    )
    .await;
    app.post(&messages_path(public), &bob, json!({ "content": "release party at 5" }))
        .await;
    app.post(&messages_path(secret), &bob, json!({ "content": "release salaries" }))
        .await;

    let (_, page) = search(&app, &alice, &q("release")).await;
    assert_eq!(
        contents(&page),
        ["release notes draft"],
        "not a public room alice has not joined"
    );
    let (_, page) = search(&app, &bob, &q("release")).await;
    assert_eq!(contents(&page), ["release salaries", "release party at 5"]);
    let (_, page) = search(&app, &carol, &q("release")).await;
    assert_eq!(page["count"], 0);

    // ?room=: one room; invisible is 404, visible but not joined 403.
    let (_, page) = search(&app, &bob, &format!("{}&room={public}", q("release"))).await;
    assert_eq!(contents(&page), ["release party at 5"]);
    let (status, body) = search(&app, &alice, &format!("{}&room={secret}", q("release"))).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, _) = search(&app, &alice, &format!("{}&room={public}", q("release"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deleted: gone at once; edited: found by its new text only.
    let (_, page) = search(&app, &bob, &q("party")).await;
    let party = id_of(&page["results"][0]);
    app.patch(
        &format!("/api/chat/messages/{party}/"),
        &bob,
        json!({ "content": "release picnic at 5" }),
    )
    .await;
    let (_, page) = search(&app, &bob, &q("party")).await;
    assert_eq!(page["count"], 0);
    let (_, page) = search(&app, &bob, &q("picnic")).await;
    assert_eq!(page["count"], 1);
    // Two-character terms have an index of their own, kept the same way.
    let (_, page) = search(&app, &bob, &q("pa")).await;
    assert_eq!(page["count"], 0, "{page}");
    let (_, page) = search(&app, &bob, &q("ic")).await;
    assert_eq!(page["count"], 1, "{page}");
    app.delete(&format!("/api/chat/messages/{party}/delete/"), &bob).await;
    let (_, page) = search(&app, &bob, &q("picnic")).await;
    assert_eq!(page["count"], 0);
    let (_, page) = search(&app, &bob, &q("ic")).await;
    assert_eq!(page["count"], 0);

    // A room that is left or deleted is no longer searched.
    app.post(&format!("/api/chat/rooms/{secret}/leave/"), &bob, json!({}))
        .await;
    let (_, page) = search(&app, &bob, &q("salaries")).await;
    assert_eq!(page["count"], 0);
    app.delete(&format!("/api/chat/rooms/{mine}/"), &alice).await;
    let (_, page) = search(&app, &alice, &q("notes")).await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn the_query_is_checked() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let dave = app.user("dave", false).await;
    for (query, field) in [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=a%00b", "q"),
        ("q=ok&room=x", "room"),
    ] {
        let (status, body) = search(&app, &alice, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body[field].is_array(), "{query}: {body}");
    }
    let long = "x".repeat(201);
    let (status, _) = search(&app, &alice, &format!("q={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = search(&app, &alice, &format!("q={}", "x".repeat(200))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = search(&app, &alice, "q=ok&room=999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = search(&app, &dave, "q=ok").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::GET, "/api/chat/search/?q=ok", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
