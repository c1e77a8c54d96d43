//! `/api/chat/rooms/...`: create, list (visibility, search, pagination),
//! detail, change, delete, join, leave, and the authentication gate.

use std::collections::BTreeSet;

use confab::auth::jwt::TokenType;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_detail, assert_timestamp, call_raw, forbidden, not_found, spawn_app, RawResponse, TestApp, TestUser,
};

const ROOMS: &str = "/api/chat/rooms/";

fn room_path(id: i64) -> String {
    format!("/api/chat/rooms/{id}/")
}

/// Names of a page of rooms, in order.
fn names(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("expected a page, got {page}"))
        .iter()
        .map(|room| room["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends a raw body with the given content type as `user`.
async fn post_raw(app: &TestApp, path: &str, user: &TestUser, content_type: &str, body: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(&user.token)
        .header(CONTENT_TYPE, content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, body)
}

/// Follows an absolute `next` / `previous` link, checking it points at this server.
async fn follow(app: &TestApp, link: &Value, user: &TestUser) -> (StatusCode, Value) {
    let link = link.as_str().unwrap_or_else(|| panic!("expected a link, got {link}"));
    let origin = format!("http://{}", app.addr);
    let path = link
        .strip_prefix(&origin)
        .unwrap_or_else(|| panic!("{link} is not an absolute URL of {origin}"));
    app.get(path, user).await
}

async fn create(app: &TestApp, user: &TestUser, body: Value) -> Value {
    let (status, room) = app.post(ROOMS, user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room
}

async fn member_count(app: &TestApp, room: i64, user: &TestUser) -> i64 {
    let (status, body) = app.get(&room_path(room), user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["member_count"].as_i64().unwrap()
}

/// `(user id, role)` of a room's members, in the server's order.
async fn roles(app: &TestApp, room: i64, user: &TestUser) -> Vec<(i64, String)> {
    let (status, body) = app.get(&format!("/api/chat/rooms/{room}/members/"), user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- create

#[tokio::test]
async fn create_returns_the_full_room_object() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;

    let room = create(&app, &alice, json!({"name": "  general  ", "description": "Talk here"})).await;

    let keys: BTreeSet<&str> = room.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "id",
        "name",
        "description",
        "room_type",
        "created_by",
        "is_active",
        "created_at",
        "updated_at",
        "member_count",
        "is_member",
        "my_role",
        "unread_count",
        "last_message",
        "is_direct",
        "peer",
        "change_seq",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected, "{room}");
    assert!(room["id"].as_i64().unwrap() > 0, "{room}");
    assert_eq!(room["name"], "general", "the name is trimmed");
    assert_eq!(room["description"], "Talk here");
    assert_eq!(room["room_type"], "public", "public by default");
    assert_eq!(room["created_by"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(room["is_active"], true);
    assert_timestamp(&room["created_at"]);
    assert_timestamp(&room["updated_at"]);
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["is_member"], true);
    assert_eq!(room["my_role"], "admin");
    assert_eq!(room["unread_count"], 0);
    assert_eq!(room["last_message"], Value::Null);

    // The detail endpoint answers the same object.
    let id = room["id"].as_i64().unwrap();
    let (status, detail) = app.get(&room_path(id), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail, room);

    // The creator is the room's only member, as its admin.
    assert_eq!(roles(&app, id, &alice).await, vec![(alice.id, "admin".to_owned())]);

    // Each room type can be chosen; the description defaults to "".
    for room_type in ["public", "private", "group"] {
        let room = create(&app, &alice, json!({"name": room_type, "room_type": room_type})).await;
        assert_eq!(room["room_type"], room_type, "{room}");
        assert_eq!(room["description"], "", "{room}");
    }
}

#[tokio::test]
async fn create_accepts_the_longest_name_and_description() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;

    let name = "n".repeat(100);
    let description = "d".repeat(500);
    let room = create(&app, &alice, json!({"name": name, "description": description})).await;
    assert_eq!(room["name"], name.as_str());
    assert_eq!(room["description"], description.as_str());

    // Limits count characters, not bytes.
    let wide = "界".repeat(100);
    let room = create(&app, &alice, json!({"name": wide, "description": "é".repeat(500)})).await;
    assert_eq!(room["name"], wide.as_str());

    // Surrounding whitespace does not count against the limit.
    let padded = format!("   {}   ", "p".repeat(100));
    let room = create(&app, &alice, json!({"name": padded})).await;
    assert_eq!(room["name"], "p".repeat(100).as_str());
}

#[tokio::test]
async fn create_rejects_invalid_fields_naming_them() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;

    let too_long = "Ensure this field has no more than 100 characters.";
    let not_string = "Not a valid string.";
    // (case, body, field, message)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "missing name",
            json!({"description": "d"}),
            "name",
            "This field is required.",
        ),
        ("empty body", json!({}), "name", "This field is required."),
        (
            "empty name",
            json!({"name": ""}),
            "name",
            "This field may not be blank.",
        ),
        (
            "whitespace name",
            json!({"name": "  \t\n  "}),
            "name",
            "This field may not be blank.",
        ),
        ("101-char name", json!({"name": "x".repeat(101)}), "name", too_long),
        ("10 kB name", json!({"name": "x".repeat(10_000)}), "name", too_long),
        (
            "null name",
            json!({"name": null}),
            "name",
            "This field may not be null.",
        ),
        ("object name", json!({"name": {"text": "x"}}), "name", not_string),
        ("array name", json!({"name": ["x"]}), "name", not_string),
        ("bool name", json!({"name": true}), "name", not_string),
        (
            "NUL in name",
            json!({"name": "a\u{0}b"}),
            "name",
            "Null characters are not allowed.",
        ),
        (
            "501-char description",
            json!({"name": "ok", "description": "d".repeat(501)}),
            "description",
            "Ensure this field has no more than 500 characters.",
        ),
        (
            "unknown room_type",
            json!({"name": "ok", "room_type": "nope"}),
            "room_type",
            "\"nope\" is not a valid choice.",
        ),
        (
            "room_type in capitals",
            json!({"name": "ok", "room_type": "PUBLIC"}),
            "room_type",
            "\"PUBLIC\" is not a valid choice.",
        ),
        (
            "numeric room_type",
            json!({"name": "ok", "room_type": 1}),
            "room_type",
            "\"1\" is not a valid choice.",
        ),
        (
            "null room_type",
            json!({"name": "ok", "room_type": null}),
            "room_type",
            "This field may not be null.",
        ),
    ];
    for (case, body, field, message) in cases {
        let (status, response) = app.post(ROOMS, &alice, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {response}");
        assert_eq!(response, json!({field: [message]}), "{case}");
    }

    // Every invalid field is reported at once.
    let (status, response) = app.post(ROOMS, &alice, json!({"name": "", "room_type": "nope"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response,
        json!({"name": ["This field may not be blank."], "room_type": ["\"nope\" is not a valid choice."]})
    );

    // Nothing was created.
    let (status, page) = app.get(ROOMS, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 0, "{page}");
}

#[tokio::test]
async fn create_rejects_bodies_that_are_not_json_objects() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;

    let (status, body) = app.post(ROOMS, &alice, json!([{"name": "general"}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );

    let (status, body) = app.post(ROOMS, &alice, json!("general")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]})
    );

    let (status, body) = post_raw(&app, ROOMS, &alice, "application/json", r#"{"name": "general""#).await;
    assert_detail(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().starts_with("JSON parse error"),
        "{body}"
    );

    let (status, body) = post_raw(&app, ROOMS, &alice, "text/plain", r#"{"name": "general"}"#).await;
    assert_detail(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        body,
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );

    let (status, body) = post_raw(&app, ROOMS, &alice, "application/x-www-form-urlencoded", "name=general").await;
    assert_detail(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A body without any content type is not JSON either.
    let response = app
        .client
        .post(app.url(ROOMS))
        .bearer_auth(&alice.token)
        .body(r#"{"name": "general"}"#)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_detail(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Bodies over the limit (256 KiB by default) are refused before parsing.
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(300 * 1024));
    let (status, body) = post_raw(&app, ROOMS, &alice, "application/json", &huge).await;
    assert_detail(status, &body, StatusCode::PAYLOAD_TOO_LARGE);

    // A JSON media type with parameters is fine.
    let (status, body) = post_raw(
        &app,
        ROOMS,
        &alice,
        "application/json; charset=utf-8",
        r#"{"name": "ok"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "ok");

    // An empty body reads as `{}`, whose name is missing.
    let (status, body) = app.call(Method::POST, ROOMS, Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"name": ["This field is required."]}));

    let (status, page) = app.get(ROOMS, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), vec!["ok"], "only the valid request created a room");
}

#[tokio::test]
async fn create_ignores_unknown_and_read_only_fields() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;

    let room = create(
        &app,
        &alice,
        json!({
            "name": "general",
            "id": 4242,
            "is_active": false,
            "member_count": 99,
            "is_member": false,
            "my_role": "member",
            "unread_count": 7,
            "created_by": {"id": bob.id, "username": "bob"},
            "created_at": "2000-01-01T00:00:00Z",
            "colour": "red",
        }),
    )
    .await;
    assert_ne!(room["id"], 4242, "{room}");
    assert_eq!(room["is_active"], true);
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["is_member"], true);
    assert_eq!(room["my_role"], "admin");
    assert_eq!(room["unread_count"], 0);
    assert_eq!(room["created_by"], json!({"id": alice.id, "username": "alice"}));
    assert_ne!(room["created_at"], "2000-01-01T00:00:00Z");
    assert!(room.get("colour").is_none(), "{room}");
    let (status, _) = app.get(&room_path(4242), &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- list

#[tokio::test]
async fn list_shows_public_rooms_and_my_rooms_only() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;

    // Created in this order; the list is newest first.
    app.room(&alice, "alice-public", "public").await;
    app.room(&alice, "alice-private", "private").await;
    app.room(&alice, "alice-group", "group").await;
    let deleted = app.room(&alice, "alice-deleted", "public").await;
    app.room(&bob, "bob-public", "public").await;
    app.room(&bob, "bob-private", "private").await;
    app.room(&bob, "bob-group", "group").await;
    let shared = app.room(&bob, "bob-shared-group", "group").await;
    app.add_member(shared, &bob, &alice, "member").await;
    let (status, body) = app.delete(&room_path(deleted), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (status, page) = app.get(ROOMS, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(&page),
        vec![
            "bob-shared-group",
            "bob-public",
            "alice-group",
            "alice-private",
            "alice-public"
        ],
        "alice sees public rooms and her own, newest first"
    );
    assert_eq!(page["count"], 5);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["previous"], Value::Null);

    let results = page["results"].as_array().unwrap();
    let by_name = |name: &str| results.iter().find(|r| r["name"] == name).unwrap().clone();
    let bob_public = by_name("bob-public");
    assert_eq!(
        (&bob_public["is_member"], &bob_public["my_role"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(bob_public["created_by"], json!({"id": bob.id, "username": "bob"}));
    let bob_shared = by_name("bob-shared-group");
    assert_eq!(
        (&bob_shared["is_member"], &bob_shared["my_role"]),
        (&json!(true), &json!("member"))
    );
    assert_eq!(bob_shared["member_count"], 2);
    assert_eq!(by_name("alice-private")["my_role"], "admin");

    let (status, page) = app.get(ROOMS, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(&page),
        vec![
            "bob-shared-group",
            "bob-group",
            "bob-private",
            "bob-public",
            "alice-public"
        ],
        "bob sees public rooms and his own, newest first"
    );
    assert_eq!(page["count"], 5);

    // A developer in no room sees the public ones.
    let carol = app.developer("carol").await;
    let (status, page) = app.get(ROOMS, &carol).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), vec!["bob-public", "alice-public"]);
}

#[tokio::test]
async fn list_search_is_a_case_insensitive_literal_substring() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    for name in [
        "General Chat",
        "random",
        "100% done",
        "snake_case",
        "snakeXcase",
        "backend-GENERAL",
        "back\\slash",
    ] {
        app.room(&alice, name, "public").await;
    }
    app.room(&bob, "general-secret", "private").await;

    // (query string, expected names, newest first)
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("general", vec!["backend-GENERAL", "General Chat"]),
        ("GENERAL", vec!["backend-GENERAL", "General Chat"]),
        ("neRAL%20c", vec!["General Chat"]),
        ("%25", vec!["100% done"]),
        ("0%25%20d", vec!["100% done"]),
        ("_", vec!["snake_case"]),
        ("e_c", vec!["snake_case"]),
        ("%5C", vec!["back\\slash"]),
        ("zzz", vec![]),
        (
            "",
            vec![
                "back\\slash",
                "backend-GENERAL",
                "snakeXcase",
                "snake_case",
                "100% done",
                "random",
                "General Chat",
            ],
        ),
    ];
    for (query, expected) in cases {
        let (status, page) = app.get(&format!("{ROOMS}?search={query}"), &alice).await;
        assert_eq!(status, StatusCode::OK, "search={query}: {page}");
        assert_eq!(names(&page), expected, "search={query}");
        assert_eq!(page["count"], expected.len(), "search={query}");
    }

    // Case folding covers all of Unicode, not only ASCII.
    for name in ["Café ÉTÉ", "ΣΊΣΥΦΟΣ"] {
        app.room(&alice, name, "public").await;
    }
    for (query, expected) in [
        ("%C3%A9t%C3%A9", "Café ÉTÉ"),
        ("CAF%C3%89", "Café ÉTÉ"),
        ("%CF%83%CE%AF%CF%83", "ΣΊΣΥΦΟΣ"),
    ] {
        let (status, page) = app.get(&format!("{ROOMS}?search={query}"), &alice).await;
        assert_eq!(status, StatusCode::OK, "search={query}: {page}");
        assert_eq!(names(&page), vec![expected], "search={query}");
    }

    // A repeated parameter counts with its last value, as in Django.
    let (status, page) = app.get(&format!("{ROOMS}?search=zzz&search=random"), &alice).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), vec!["random"]);

    // Search never reveals rooms the caller cannot see.
    let (_, page) = app.get(&format!("{ROOMS}?search=secret"), &alice).await;
    assert_eq!(page["count"], 0, "{page}");
    let (_, page) = app.get(&format!("{ROOMS}?search=secret"), &bob).await;
    assert_eq!(names(&page), vec!["general-secret"]);
}

/// A NUL character is refused in the search term, as in any text field
/// (SQLite's `LIKE` would stop reading the pattern at one and match every room).
#[tokio::test]
async fn list_search_refuses_a_nul_character() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    app.room(&alice, "general", "public").await;

    for query in ["%00", "gen%00", "%00%25"] {
        let (status, body) = app.get(&format!("{ROOMS}?search={query}"), &alice).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "search={query}: {body}");
        assert_eq!(
            body,
            json!({"search": ["Null characters are not allowed."]}),
            "search={query}"
        );
    }
}

#[tokio::test]
async fn list_pages_and_links_follow_drf() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    for i in 0..7 {
        app.room(&alice, &format!("room-{i}"), "public").await;
    }
    let origin = format!("http://{}", app.addr);

    let (status, page) = app.get(&format!("{ROOMS}?page_size=3"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 7);
    assert_eq!(names(&page), vec!["room-6", "room-5", "room-4"]);
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(page["next"], format!("{origin}/api/chat/rooms/?page_size=3&page=2"));

    let (status, page2) = app.get(&format!("{ROOMS}?page=2&page_size=3"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page2["count"], 7);
    assert_eq!(names(&page2), vec!["room-3", "room-2", "room-1"]);
    assert_eq!(
        page2["previous"],
        format!("{origin}/api/chat/rooms/?page_size=3"),
        "page 1 has no page param"
    );
    assert_eq!(page2["next"], format!("{origin}/api/chat/rooms/?page_size=3&page=3"));

    // Following the links walks the whole list and back.
    let (status, followed) = follow(&app, &page["next"], &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(followed, page2);
    let (status, page3) = follow(&app, &page2["next"], &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page3), vec!["room-0"]);
    assert_eq!(page3["next"], Value::Null);
    assert_eq!(
        page3["previous"],
        format!("{origin}/api/chat/rooms/?page_size=3&page=2")
    );
    let (status, back) = follow(&app, &page3["previous"], &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(back, page2);
    let (status, first) = follow(&app, &page2["previous"], &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first, page);

    // Links keep the other parameters, search included.
    let (status, page) = app
        .get(&format!("{ROOMS}?search=room&page_size=2&page=2"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), vec!["room-4", "room-3"]);
    assert_eq!(
        page["next"],
        format!("{origin}/api/chat/rooms/?search=room&page_size=2&page=3")
    );
    assert_eq!(
        page["previous"],
        format!("{origin}/api/chat/rooms/?search=room&page_size=2")
    );

    // Repeated parameters: the last value counts, as in Django.
    let (status, page) = app
        .get(&format!("{ROOMS}?page=9&page=2&page_size=50&page_size=3"), &alice)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(&page), vec!["room-3", "room-2", "room-1"]);

    // Pages that are not pages.
    for query in [
        "page=4&page_size=3",
        "page=99",
        "page=2",
        "page=abc",
        "page=0",
        "page=-1",
        "page=1.5",
        "page=",
    ] {
        let (status, body) = app.get(&format!("{ROOMS}?{query}"), &alice).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{query}: {body}");
        assert_eq!(body, json!({"detail": "Invalid page."}), "{query}");
    }

    // An empty result still has its first page, and nothing beyond.
    let (status, page) = app.get(&format!("{ROOMS}?search=nothing-matches&page=1"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"count": 0, "next": null, "previous": null, "results": []}));
    let (status, body) = app.get(&format!("{ROOMS}?search=nothing-matches&page=2"), &alice).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Invalid page."}))
    );
}

#[tokio::test]
async fn list_page_size_defaults_to_50_and_is_capped_at_200() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    for i in 0..205 {
        app.room(&alice, &format!("room-{i:03}"), "public").await;
    }
    let origin = format!("http://{}", app.addr);

    let (status, page) = app.get(ROOMS, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 205);
    assert_eq!(page["results"].as_array().unwrap().len(), 50, "default page size");
    assert_eq!(page["next"], format!("{origin}/api/chat/rooms/?page=2"));
    assert_eq!(page["previous"], Value::Null);

    // A page size that is not a positive integer falls back to the default.
    for size in ["abc", "0", "-5", "1.5", ""] {
        let (status, page) = app.get(&format!("{ROOMS}?page_size={size}"), &alice).await;
        assert_eq!(status, StatusCode::OK, "page_size={size}: {page}");
        assert_eq!(page["results"].as_array().unwrap().len(), 50, "page_size={size}");
        assert_eq!(page["count"], 205, "page_size={size}");
    }

    // Larger sizes are capped at 200.
    let (status, page) = app.get(&format!("{ROOMS}?page_size=1000"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["results"].as_array().unwrap().len(), 200);
    assert_eq!(names(&page)[0], "room-204");
    assert_eq!(page["next"], format!("{origin}/api/chat/rooms/?page_size=1000&page=2"));
    let (status, last) = follow(&app, &page["next"], &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(&last),
        vec!["room-004", "room-003", "room-002", "room-001", "room-000"]
    );
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["previous"], format!("{origin}/api/chat/rooms/?page_size=1000"));

    // Walking every page with `next` sees each room exactly once.
    let (status, mut page) = app.get(&format!("{ROOMS}?page_size=60"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    let mut seen: Vec<String> = names(&page);
    let mut pages = 1;
    while !page["next"].is_null() {
        let (status, next) = follow(&app, &page["next"], &alice).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        seen.extend(names(&next));
        page = next;
        pages += 1;
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..205).rev().map(|i| format!("room-{i:03}")).collect();
    assert_eq!(seen, expected);
}

// ---------------------------------------------------------------- detail

#[tokio::test]
async fn detail_shows_public_rooms_and_hides_the_rest() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let public = app.room(&alice, "public", "public").await;
    let private = app.room(&alice, "private", "private").await;
    let group = app.room(&alice, "group", "group").await;

    let (status, room) = app.get(&room_path(public), &bob).await;
    assert_eq!(status, StatusCode::OK, "{room}");
    assert_eq!(room["id"], public);
    assert_eq!(room["name"], "public");
    assert_eq!(room["is_member"], false);
    assert_eq!(room["my_role"], Value::Null);
    assert_eq!(room["member_count"], 1);

    for (id, room_type) in [(private, "private"), (group, "group")] {
        let (status, room) = app.get(&room_path(id), &alice).await;
        assert_eq!(status, StatusCode::OK, "{room_type}: {room}");
        assert_eq!(
            (&room["room_type"], &room["my_role"]),
            (&json!(room_type), &json!("admin"))
        );

        let (status, body) = app.get(&room_path(id), &bob).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "outsider reads {room_type}");
        assert_eq!(
            body,
            not_found(),
            "outsider reads {room_type}: same as a room that does not exist"
        );
    }

    for id in ["999999", "abc", "99999999999999999999", "-1", "0", "1.0", "%20"] {
        let (status, body) = app.get(&format!("/api/chat/rooms/{id}/"), &alice).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "id {id}: {body}");
        assert_eq!(body, not_found(), "id {id}");
    }
}

// ---------------------------------------------------------------- change

/// A public room of `admin` with a moderator and a member.
struct Staffed {
    room: i64,
    admin: TestUser,
    moderator: TestUser,
    member: TestUser,
}

async fn staffed_room(app: &TestApp, room_type: &str) -> Staffed {
    let admin = app.developer("admin").await;
    let moderator = app.developer("moderator").await;
    let member = app.developer("member").await;
    let room = app.room(&admin, "staffed", room_type).await;
    app.add_member(room, &admin, &moderator, "moderator").await;
    app.add_member(room, &admin, &member, "member").await;
    Staffed {
        room,
        admin,
        moderator,
        member,
    }
}

#[tokio::test]
async fn patch_lets_the_admin_change_name_description_and_type() {
    let app = spawn_app().await;
    let Staffed { room, admin, .. } = staffed_room(&app, "public").await;
    let path = room_path(room);
    let (_, before) = app.get(&path, &admin).await;

    let (status, changed) = app
        .patch(&path, &admin, json!({"description": "Only the description"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["description"], "Only the description");
    assert_eq!(changed["name"], "staffed", "a partial update keeps the other fields");
    assert_eq!(changed["room_type"], "public");
    assert_eq!(changed["created_at"], before["created_at"]);
    assert_timestamp(&changed["updated_at"]);
    let updated = |room: &Value| chrono::DateTime::parse_from_rfc3339(room["updated_at"].as_str().unwrap()).unwrap();
    assert!(updated(&changed) >= updated(&before));

    let (status, changed) = app
        .patch(&path, &admin, json!({"name": "  renamed  ", "room_type": "group"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["room_type"], "group");
    assert_eq!(changed["description"], "Only the description");
    assert_eq!(changed["my_role"], "admin");
    assert_eq!(changed["member_count"], 3);

    // An empty patch and read-only fields change nothing.
    let (status, same) = app
        .patch(&path, &admin, json!({"is_active": false, "member_count": 0, "id": 77}))
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(
        (&same["id"], &same["is_active"], &same["member_count"]),
        (&json!(room), &json!(true), &json!(3))
    );
    let (status, same) = app.patch(&path, &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["name"], "renamed");

    // An empty description is allowed.
    let (status, changed) = app.patch(&path, &admin, json!({"description": ""})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["description"], "");

    let (_, detail) = app.get(&path, &admin).await;
    assert_eq!(detail["name"], "renamed");
    assert_eq!(detail["room_type"], "group");
}

#[tokio::test]
async fn patch_is_for_room_admins_only() {
    let app = spawn_app().await;
    let Staffed {
        room,
        admin,
        moderator,
        member,
    } = staffed_room(&app, "public").await;
    let outsider = app.developer("outsider").await;
    let path = room_path(room);

    for (who, user) in [
        ("moderator", &moderator),
        ("member", &member),
        ("non-member of a public room", &outsider),
    ] {
        let (status, body) = app.patch(&path, user, json!({"name": "hijacked"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        assert_eq!(body, forbidden(), "{who}");
    }
    let (_, detail) = app.get(&path, &admin).await;
    assert_eq!(detail["name"], "staffed", "nothing changed");

    // Permission comes before validation, as in DRF: an invalid body from
    // someone who may not change the room is still a 403.
    for (who, user) in [
        ("moderator", &moderator),
        ("member", &member),
        ("non-member of a public room", &outsider),
    ] {
        let (status, body) = app.patch(&path, user, json!({"name": "", "room_type": "nope"})).await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, forbidden()),
            "{who} with an invalid body"
        );
    }

    // Once the room is private, an outsider cannot tell it exists.
    let (status, _) = app.patch(&path, &admin, json!({"room_type": "private"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.patch(&path, &outsider, json!({"name": "hijacked"})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.patch(&room_path(999_999), &admin, json!({"name": "x"})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
    let (status, body) = app.patch(&path, &moderator, json!({"name": "hijacked"})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, forbidden()));
    // An invalid body does not tell an outsider that the room exists either.
    let (status, body) = app.patch(&path, &outsider, json!({"name": ""})).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "outsider with an invalid body"
    );
    let (status, body) = app.patch(&room_path(999_999), &admin, json!({"name": ""})).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "missing room with an invalid body"
    );
}

#[tokio::test]
async fn patch_validates_fields() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = room_path(room);

    // (case, body, field, message)
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "blank name",
            json!({"name": "   "}),
            "name",
            "This field may not be blank.",
        ),
        (
            "null name",
            json!({"name": null}),
            "name",
            "This field may not be null.",
        ),
        (
            "101-char name",
            json!({"name": "x".repeat(101)}),
            "name",
            "Ensure this field has no more than 100 characters.",
        ),
        ("array name", json!({"name": ["x"]}), "name", "Not a valid string."),
        (
            "501-char description",
            json!({"description": "d".repeat(501)}),
            "description",
            "Ensure this field has no more than 500 characters.",
        ),
        (
            "unknown room_type",
            json!({"room_type": "secret"}),
            "room_type",
            "\"secret\" is not a valid choice.",
        ),
    ];
    for (case, body, field, message) in cases {
        let (status, response) = app.patch(&path, &alice, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {response}");
        assert_eq!(response, json!({field: [message]}), "{case}");
    }

    // An invalid field spoils the whole patch.
    let (status, _) = app
        .patch(&path, &alice, json!({"description": "changed", "room_type": "nope"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, detail) = app.get(&path, &alice).await;
    assert_eq!(
        (&detail["name"], &detail["description"], &detail["room_type"]),
        (&json!("general"), &json!(""), &json!("public"))
    );
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_deactivates_the_room_for_everyone() {
    let app = spawn_app().await;
    let Staffed {
        room,
        admin,
        moderator,
        member,
    } = staffed_room(&app, "public").await;
    let outsider = app.developer("outsider").await;
    let path = room_path(room);

    for (who, user) in [
        ("moderator", &moderator),
        ("member", &member),
        ("non-member", &outsider),
    ] {
        let (status, body) = app.delete(&path, user).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        assert_eq!(body, forbidden(), "{who}");
    }
    let (status, _) = app.get(&path, &outsider).await;
    assert_eq!(status, StatusCode::OK, "still there after refused deletes");

    let (status, body) = app.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null, "204 has no body");

    for (who, user) in [("admin", &admin), ("member", &member), ("non-member", &outsider)] {
        let (status, body) = app.get(&path, user).await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, not_found()),
            "{who} reads the deleted room"
        );
        let (status, page) = app.get(ROOMS, user).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["count"], 0, "{who} lists no room: {page}");
    }

    // Nothing else works on a deleted room either.
    let requests: Vec<(&str, Method, String, Option<Value>)> = vec![
        ("second delete", Method::DELETE, path.clone(), None),
        ("patch", Method::PATCH, path.clone(), Some(json!({"name": "back"}))),
        ("join", Method::POST, format!("{path}join/"), None),
        ("leave", Method::POST, format!("{path}leave/"), None),
        ("members", Method::GET, format!("{path}members/"), None),
    ];
    for (case, method, path, body) in requests {
        let (status, body) = app.call(method, &path, Some(&admin.token), body).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{case}");
    }
    let (status, body) = app
        .call(Method::POST, &format!("{path}join/"), Some(&outsider.token), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, not_found()),
        "outsider joins a deleted room"
    );
}

#[tokio::test]
async fn delete_of_a_hidden_room_is_not_found() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    for room_type in ["private", "group"] {
        let room = app.room(&alice, room_type, room_type).await;
        let (status, body) = app.delete(&room_path(room), &bob).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{room_type}");
        let (status, _) = app.get(&room_path(room), &alice).await;
        assert_eq!(status, StatusCode::OK, "{room_type} still exists");
    }
    let (status, body) = app.delete(&room_path(999_999), &alice).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

// ---------------------------------------------------------------- join

#[tokio::test]
async fn join_a_public_room_idempotently() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let join = format!("{}join/", room_path(room));

    let (status, body) = app.post(&join, &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["detail", "room"]), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    let joined = &body["room"];
    assert_eq!(joined["id"], room);
    assert_eq!(joined["is_member"], true);
    assert_eq!(joined["my_role"], "member");
    assert_eq!(joined["member_count"], 2);
    assert_eq!(joined["created_by"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(
        roles(&app, room, &alice).await,
        vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
    );

    // Joining again changes nothing, and says so.
    let (status, again) = app.post(&join, &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(again["detail"].is_string(), "{again}");
    assert_eq!(again["room"]["member_count"], 2);
    assert_eq!(again["room"]["my_role"], "member");
    assert_eq!(member_count(&app, room, &alice).await, 2);

    // The admin "joining" their own room keeps their role.
    let (status, own) = app.post(&join, &alice, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["room"]["my_role"], "admin");
    assert_eq!(own["room"]["member_count"], 2);

    // The room now shows in bob's list as his.
    let (_, page) = app.get(ROOMS, &bob).await;
    assert_eq!(page["results"][0]["is_member"], true, "{page}");
}

#[tokio::test]
async fn join_an_invite_only_room_is_forbidden() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    for room_type in ["private", "group"] {
        let room = app.room(&alice, room_type, room_type).await;
        let join = format!("{}join/", room_path(room));
        let (status, body) = app.post(&join, &bob, json!({})).await;
        assert_detail(status, &body, StatusCode::FORBIDDEN);
        let (status, _) = app.get(&room_path(room), &bob).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{room_type}: bob did not get in");
        assert_eq!(roles(&app, room, &alice).await.len(), 1, "{room_type}");

        // A member "joining" is harmless.
        let (status, body) = app.post(&join, &alice, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{room_type}: {body}");
        assert_eq!(body["room"]["my_role"], "admin");
    }
    let (status, body) = app.post("/api/chat/rooms/999999/join/", &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

#[tokio::test]
async fn concurrent_joins_add_the_member_once() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let join = format!("{}join/", room_path(room));

    let answers = futures::future::join_all((0..8).map(|_| app.post(&join, &bob, json!({})))).await;
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK, "join #{i}: {body}");
        assert_eq!(body["room"]["my_role"], "member", "join #{i}");
    }
    assert_eq!(member_count(&app, room, &alice).await, 2);
    assert_eq!(
        roles(&app, room, &alice).await,
        vec![(alice.id, "admin".to_owned()), (bob.id, "member".to_owned())]
    );
}

// ---------------------------------------------------------------- leave

#[tokio::test]
async fn leave_a_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let path = room_path(room);
    let (status, _) = app.post(&format!("{path}join/"), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.post(&format!("{path}leave/"), &bob, json!({})).await;
    assert_detail(status, &body, StatusCode::OK);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let (status, room_now) = app.get(&path, &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&room_now["is_member"], &room_now["my_role"], &room_now["member_count"]),
        (&json!(false), &Value::Null, &json!(1))
    );
    assert_eq!(roles(&app, room, &alice).await, vec![(alice.id, "admin".to_owned())]);

    // Not a member (any more): 400.
    let (status, body) = app.post(&format!("{path}leave/"), &bob, json!({})).await;
    assert_detail(status, &body, StatusCode::BAD_REQUEST);

    // Someone else's invite-only room: it does not exist for the caller.
    for room_type in ["private", "group"] {
        let hidden = app.room(&alice, room_type, room_type).await;
        let (status, body) = app.post(&format!("{}leave/", room_path(hidden)), &bob, json!({})).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()), "{room_type}");
    }
    let (status, body) = app.post("/api/chat/rooms/999999/leave/", &bob, json!({})).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, not_found()));
}

#[tokio::test]
async fn when_the_last_admin_leaves_the_longest_standing_member_becomes_admin() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let erin = app.developer("erin").await;
    let room = app.room(&alice, "team", "group").await;
    // carol joined first; seniority wins over the moderator role.
    app.add_member(room, &alice, &carol, "member").await;
    app.add_member(room, &alice, &dave, "moderator").await;
    app.add_member(room, &alice, &erin, "member").await;

    let (status, body) = app.post(&format!("{}leave/", room_path(room)), &alice, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(
        roles(&app, room, &carol).await,
        vec![
            (carol.id, "admin".to_owned()),
            (dave.id, "moderator".to_owned()),
            (erin.id, "member".to_owned())
        ]
    );
    let invite = ("room_invite".to_owned(), Some(room));
    let role_changed = ("role_changed".to_owned(), Some(room));
    assert_eq!(
        app.notifications_of(&carol).await,
        vec![invite.clone(), role_changed.clone()]
    );
    assert_eq!(
        app.notifications_of(&dave).await,
        vec![invite.clone(), role_changed.clone()],
        "only the promotion to moderator"
    );
    assert_eq!(app.notifications_of(&erin).await, vec![invite.clone()]);
    assert!(app.notifications_of(&alice).await.is_empty());

    // The new admin can run the room; alice cannot see it any more.
    let (status, changed) = app
        .patch(&room_path(room), &carol, json!({"name": "carol's team"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["my_role"], "admin");
    let (status, _) = app.get(&room_path(room), &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_admin_leaving_while_another_admin_remains_promotes_nobody() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &carol, "member").await;
    app.add_member(room, &alice, &bob, "admin").await;

    let (status, body) = app.post(&format!("{}leave/", room_path(room)), &alice, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        roles(&app, room, &bob).await,
        vec![(carol.id, "member".to_owned()), (bob.id, "admin".to_owned())]
    );
    assert_eq!(
        app.notifications_of(&carol).await,
        vec![("room_invite".to_owned(), Some(room))]
    );
}

#[tokio::test]
async fn an_empty_public_room_gets_its_next_joiner_as_admin() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = app.room(&alice, "general", "public").await;
    let path = room_path(room);

    let (status, body) = app.post(&format!("{path}leave/"), &alice, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, empty) = app.get(&path, &bob).await;
    assert_eq!(status, StatusCode::OK, "an empty public room stays listed: {empty}");
    assert_eq!(empty["member_count"], 0);

    let (status, body) = app.post(&format!("{path}join/"), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["room"]["my_role"], &body["room"]["member_count"]),
        (&json!("admin"), &json!(1))
    );
    let (status, body) = app.post(&format!("{path}join/"), &carol, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["room"]["my_role"], "member",
        "only an admin-less room makes its joiner admin"
    );
    assert_eq!(
        roles(&app, room, &bob).await,
        vec![(bob.id, "admin".to_owned()), (carol.id, "member".to_owned())]
    );
}

#[tokio::test]
async fn an_invite_only_room_left_empty_is_deactivated() {
    use confab::store::entities::rooms;
    use sea_orm::EntityTrait;

    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    for room_type in ["private", "group"] {
        let room = app.room(&alice, room_type, room_type).await;
        let (status, body) = app.post(&format!("{}leave/", room_path(room)), &alice, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{room_type}: {body}");
        let stored = rooms::Entity::find_by_id(room)
            .one(app.state.store.reader())
            .await
            .unwrap()
            .unwrap();
        assert!(
            !stored.is_active,
            "{room_type}: nobody can reach it any more, so it is inactive"
        );
    }
}

// ---------------------------------------------------------------- gate

#[tokio::test]
async fn every_rooms_endpoint_requires_a_developer_token() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let outsider = app.user("outsider", false).await;
    let room = app.room(&alice, "general", "public").await;
    let refresh = app.state.jwt.issue(alice.id, TokenType::Refresh);

    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, ROOMS.to_owned(), None),
        (Method::POST, ROOMS.to_owned(), Some(json!({"name": "intruders"}))),
        (Method::GET, room_path(room), None),
        (Method::PATCH, room_path(room), Some(json!({"name": "hijacked"}))),
        (Method::DELETE, room_path(room), None),
        (Method::POST, format!("{}join/", room_path(room)), None),
        (Method::POST, format!("{}leave/", room_path(room)), None),
        (Method::GET, room_path(999_999), None),
    ];
    // (case, Authorization header, expected status, expected `code`)
    let garbage = "Bearer not.a.token".to_owned();
    let credentials: Vec<(&str, Option<String>, StatusCode, Option<&str>)> = vec![
        ("no token", None, StatusCode::UNAUTHORIZED, None),
        (
            "garbage token",
            Some(garbage),
            StatusCode::UNAUTHORIZED,
            Some("token_not_valid"),
        ),
        (
            "refresh token",
            Some(format!("Bearer {refresh}")),
            StatusCode::UNAUTHORIZED,
            Some("token_not_valid"),
        ),
        (
            "non-developer",
            Some(format!("Bearer {}", outsider.token)),
            StatusCode::FORBIDDEN,
            None,
        ),
    ];
    for (method, path, body) in &endpoints {
        for (case, authorization, expected, code) in &credentials {
            let RawResponse {
                status,
                www_authenticate,
                json,
            } = call_raw(&app, method.clone(), path, authorization.as_deref(), body.as_ref()).await;
            let what = format!("{method} {path} with {case}");
            assert_eq!(status, *expected, "{what}: {json}");
            assert!(json["detail"].is_string(), "{what}: {json}");
            assert_eq!(json.get("code").and_then(Value::as_str), *code, "{what}: {json}");
            if *expected == StatusCode::UNAUTHORIZED {
                assert_eq!(www_authenticate.as_deref(), Some("Bearer realm=\"api\""), "{what}");
            } else {
                assert_eq!(www_authenticate, None, "{what}");
            }
            if *case == "no token" {
                assert_eq!(
                    json,
                    json!({"detail": "Authentication credentials were not provided."}),
                    "{what}"
                );
            }
        }
    }

    // None of those requests changed anything.
    let (status, page) = app.get(ROOMS, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), vec!["general"]);
    assert_eq!(page["results"][0]["member_count"], 1);
    assert_eq!(page["results"][0]["my_role"], "admin");
}

#[tokio::test]
async fn trailing_slash_is_optional() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;

    let (status, room) = app.post("/api/chat/rooms", &alice, json!({"name": "no-slash"})).await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let id = room["id"].as_i64().unwrap();

    let (status, with) = app.get("/api/chat/rooms/", &alice).await;
    assert_eq!(status, StatusCode::OK);
    let (status, without) = app.get("/api/chat/rooms", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with, without);
    assert_eq!(names(&with), vec!["no-slash"]);

    let (status, with) = app.get(&format!("/api/chat/rooms/{id}/"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    let (status, without) = app.get(&format!("/api/chat/rooms/{id}"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with, without);
    assert_eq!(with, room);

    let (status, changed) = app
        .patch(&format!("/api/chat/rooms/{id}"), &alice, json!({"name": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "renamed");

    let bob = app.developer("bob").await;
    let (status, body) = app.post(&format!("/api/chat/rooms/{id}/join"), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, members) = app.get(&format!("/api/chat/rooms/{id}/members"), &bob).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_eq!(members.as_array().unwrap().len(), 2);
    let (status, body) = app.post(&format!("/api/chat/rooms/{id}/leave"), &bob, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, page) = app.get("/api/chat/rooms?search=ren", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&page), vec!["renamed"]);

    let (status, body) = app.delete(&format!("/api/chat/rooms/{id}"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}
