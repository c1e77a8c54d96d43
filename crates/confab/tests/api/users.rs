//! `/api/chat/users/`: developers only, prefix search, pagination.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn lists_active_developers_by_name_with_prefix_search() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let alfred = app.developer("Alfred").await;
    app.developer("bob").await;
    app.user("alan", false).await; // not a developer
    app.developer("al_x").await;
    confab::auth::accounts::set_active(&app.state.store, "al_x", false)
        .await
        .unwrap();

    let (status, body) = app.get("/api/chat/users/", &alice).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 3);
    let names: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alfred", "alice", "bob"]);

    let (_, body) = app.get("/api/chat/users/?search=AL", &alice).await;
    assert_eq!(
        body["results"],
        json!([{"id": alfred.id, "username": "Alfred"}, {"id": alice.id, "username": "alice"}])
    );
    // `_` and `%` match themselves only.
    let (_, body) = app.get("/api/chat/users/?search=a_", &alice).await;
    assert_eq!(body["count"], 0);
    let (_, body) = app.get("/api/chat/users/?search=%25", &alice).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn paginates_with_links() {
    let app = spawn_app().await;
    let me = app.developer("u0").await;
    for i in 1..5 {
        app.developer(&format!("u{i}")).await;
    }
    let (_, first) = app.get("/api/chat/users/?page_size=2", &me).await;
    assert_eq!(first["count"], 5);
    assert_eq!(first["previous"], json!(null));
    let next = first["next"].as_str().unwrap().to_owned();
    assert_eq!(next, app.url("/api/chat/users/?page_size=2&page=2"));
    let (_, second) = app.get(next.trim_start_matches(&app.url("")), &me).await;
    assert_eq!(second["results"][0]["username"], "u2");
    assert_eq!(
        second["previous"].as_str().unwrap(),
        app.url("/api/chat/users/?page_size=2")
    );
    let (_, last) = app.get("/api/chat/users/?page_size=2&page=3", &me).await;
    assert_eq!(last["next"], json!(null));
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    let (status, body) = app.get("/api/chat/users/?page_size=2&page=4", &me).await;
    assert_eq!((status.as_u16(), body), (404, json!({"detail": "Invalid page."})));
}
