//! Files: upload, attach (REST and socket), download by signed link, expiry
//! and forgery, who may download, limits and quotas, a decompression bomb,
//! the cleanup of unattached uploads, and a deleted message hiding its files.

use std::io::Cursor;
use std::time::Duration;

use futures::SinkExt;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{id_of, messages_path, spawn_app, spawn_app_with, TestApp, TestUser};
use crate::ws::{connect_as, next_json};

async fn upload(app: &TestApp, user: &TestUser, room: i64, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    let response = app
        .client
        .post(app.url(&format!("/api/chat/rooms/{room}/files/")))
        .bearer_auth(&user.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A GET without any credentials, as an `<img src>` would make it.
async fn fetch(app: &TestApp, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(url));
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([10, 120, 200]));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

#[tokio::test]
async fn upload_attach_and_download_by_signed_link() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "design", "group").await;
    let picture = png(640, 480);
    let (status, file) = upload(&app, &alice, room, "mock-up.png", picture.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["name"], "mock-up.png");
    assert_eq!(file["size"], picture.len());
    assert_eq!(file["content_type"], "image/png");
    let url = file["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/api/chat/files/{}/?expires=", file["id"])),
        "{url}"
    );

    // The link works without a token, with the type read from the bytes.
    let response = fetch(&app, &url, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), picture.as_slice());

    // The thumbnail: a PNG at most 320 pixels on its longest side.
    let thumbnail = fetch(&app, file["thumbnail_url"].as_str().unwrap(), None).await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (320, 240));

    // A byte range.
    let part = fetch(&app, &url, Some("bytes=1-3")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 1-3/{}", picture.len()));
    assert_eq!(part.bytes().await.unwrap().as_ref(), &picture[1..4]);
    let outside = fetch(&app, &url, Some(&format!("bytes={}-", picture.len() + 10))).await;
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Attached to a post with no text; the message object lists it.
    let (status, message) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "", "attachments": [file["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["attachments"][0]["id"], file["id"]);
    assert_eq!(message["attachments"][0]["content_type"], "image/png");
    let (_, history) = app.get(&messages_path(room), &alice).await;
    let listed = &history["results"][0]["attachments"][0];
    assert_eq!(listed["name"], "mock-up.png");
    assert_eq!(
        fetch(&app, listed["url"].as_str().unwrap(), None).await.status(),
        StatusCode::OK
    );
    // Messages without files say so with [].
    let (_, plain) = app
        .post(&messages_path(room), &alice, json!({"content": "no files"}))
        .await;
    assert_eq!(plain["attachments"], json!([]));

    // Once only: a file already attached is not attached again.
    let (status, body) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "again", "attachments": [file["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["attachments"].is_array(), "{body}");
}

#[tokio::test]
async fn a_socket_post_carries_files_and_other_files_are_downloaded_not_shown() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let (status, file) = upload(&app, &alice, room, "../../evil.html", page).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["name"], "evil.html", "no path reaches the name");
    assert_eq!(file["thumbnail_url"], Value::Null);
    let response = fetch(&app, file["url"].as_str().unwrap(), None).await;
    // Read from the bytes, and served only as a download, never as a page of this site.
    assert_eq!(response.headers()["content-type"], "text/html");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    let mut socket = connect_as(&app, room, &alice).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    let frame = json!({"type": "chat_message", "content": "the page", "attachments": [file["id"]]});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let frame = next_json(&mut socket).await;
        if frame["type"] == "chat_message" {
            assert_eq!(frame["message"]["attachments"][0]["id"], file["id"], "{frame}");
            assert!(frame["message"]["attachments"][0]["url"].is_string());
            break;
        }
    }
}

#[tokio::test]
async fn links_expire_cannot_be_forged_and_outsiders_get_nothing() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "private", "private").await;
    let (_, file) = upload(&app, &alice, room, "notes.txt", b"secret plans".to_vec()).await;
    let id = file["id"].as_i64().unwrap();
    let url = file["url"].as_str().unwrap();

    let forged = format!("{}x", url);
    assert_eq!(fetch(&app, &forged, None).await.status(), StatusCode::FORBIDDEN);
    let other_file = url.replace(&format!("/files/{id}/"), &format!("/files/{}/", id + 1));
    assert_eq!(fetch(&app, &other_file, None).await.status(), StatusCode::FORBIDDEN);
    let later = url.replace("expires=", "expires=1");
    assert_eq!(
        fetch(&app, &later, None).await.status(),
        StatusCode::FORBIDDEN,
        "a changed expiry"
    );
    let bare = format!("/api/chat/files/{id}/");
    let response = app
        .client
        .get(app.url(&bare))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a token is not a link");
    let past = chrono::Utc::now().timestamp() - 5;
    let expired = confab::files::links::links().url_expiring(id, confab::files::links::Variant::Original, past);
    let response = fetch(&app, &expired, None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");

    // bob, outside the room: cannot upload there, nor attach alice's file in his own room.
    let (status, _) = upload(&app, &bob, room, "x.txt", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a private room is invisible");
    let public = app.room(&alice, "open", "public").await;
    let (status, _) = upload(&app, &bob, public, "x.txt", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "members only");
    let his = app.room(&bob, "bob's", "group").await;
    let (status, body) = app
        .post(
            &messages_path(his),
            &bob,
            json!({"content": "mine now", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Nor may alice attach it in another room.
    let (status, _) = app
        .post(
            &messages_path(public),
            &alice,
            json!({"content": "moved", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = upload(&app, &bob, room, "x.txt", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let anonymous = app
        .client
        .post(app.url(&format!("/api/chat/rooms/{room}/files/")))
        .multipart(Form::new().part("file", Part::bytes(b"x".to_vec()).file_name("x")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_a_message_hides_its_files() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let (_, file) = upload(&app, &alice, room, "shot.png", png(40, 40)).await;
    let (_, message) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "see", "attachments": [file["id"]]}),
        )
        .await;
    let url = message["attachments"][0]["url"].as_str().unwrap().to_owned();
    let thumbnail = message["attachments"][0]["thumbnail_url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&app, &url, None).await.status(), StatusCode::OK);
    let (status, _) = app
        .delete(&format!("/api/chat/messages/{}/delete/", id_of(&message)), &alice)
        .await;
    assert!(status.is_success());
    assert_eq!(fetch(&app, &url, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, &thumbnail, None).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sizes_quotas_and_counts_are_bounded() {
    let app = spawn_app_with(|config| {
        config.files_max_bytes = 1000;
        config.files_quota_bytes = 1500;
    })
    .await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let (status, body) = upload(&app, &alice, room, "big.bin", vec![7; 1001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
    let (status, _) = upload(&app, &alice, room, "ok.bin", vec![7; 900]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = upload(&app, &alice, room, "over.bin", vec![7; 700]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "the quota: {body}");
    assert!(body["detail"].as_str().unwrap().contains("quota"), "{body}");
    let (status, body) = upload(&app, &alice, room, "empty.bin", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // No file field; not multipart at all.
    let response = app
        .client
        .post(app.url(&format!("/api/chat/rooms/{room}/files/")))
        .bearer_auth(&alice.token)
        .multipart(Form::new().text("note", "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["file"][0], "No file was submitted.");
    let (status, _) = app
        .post(&format!("/api/chat/rooms/{room}/files/"), &alice, json!({}))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // At most ten files a message; ids that are not files; text needed without files.
    let ids: Vec<i64> = (1..=11).collect();
    let (status, body) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "many", "attachments": ids}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["attachments"][0].as_str().unwrap().contains("10"), "{body}");
    let (status, _) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "x", "attachments": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app.post(&messages_path(room), &alice, json!({"content": ""})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["content"].is_array());
}

/// A PNG whose header claims 100,000 x 100,000 pixels (ten gigapixels) in a
/// few hundred bytes: refused from its header, before any decoding.
fn decompression_bomb() -> Vec<u8> {
    let mut bytes = png(1, 1);
    // IHDR's data starts at byte 16: width, then height, big-endian.
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_and_the_server_lives_on() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let bomb = decompression_bomb();
    let (status, body) = upload(&app, &alice, room, "bomb.png", bomb).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["file"][0].as_str().unwrap().contains("pixels"), "{body}");
    let (status, _) = upload(&app, &alice, room, "fine.png", png(8, 8)).await;
    assert_eq!(status, StatusCode::CREATED);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("files_refused_total{reason=\"image_too_large\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("files_uploads_total"), "{metrics}");
    assert!(metrics.contains("files_stored_bytes"), "{metrics}");
}

#[tokio::test]
async fn unattached_uploads_are_cleaned_up_and_attached_ones_kept() {
    let app = spawn_app_with(|config| {
        config.files_unattached_max_age = 1;
        config.files_cleanup_interval = 1;
    })
    .await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let (_, kept) = upload(&app, &alice, room, "kept.txt", b"kept".to_vec()).await;
    let (_, dropped) = upload(&app, &alice, room, "dropped.txt", b"dropped".to_vec()).await;
    let (status, _) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "", "attachments": [kept["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = fetch(&app, dropped["url"].as_str().unwrap(), None).await.status();
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unattached upload is still served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        fetch(&app, kept["url"].as_str().unwrap(), None).await.status(),
        StatusCode::OK
    );
    let (status, body) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "late", "attachments": [dropped["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The store is whatever `files_storage_url` names: here `memory://`, the
/// in-memory store the `object_store` crate has (S3 takes the same path).
#[tokio::test]
async fn files_go_to_the_store_the_url_names() {
    let app = spawn_app_with(|config| config.files_storage_url = Some("memory://".into())).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "ops", "group").await;
    let (status, file) = upload(&app, &alice, room, "shot.png", png(64, 32)).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let response = fetch(&app, file["url"].as_str().unwrap(), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), png(64, 32).as_slice());
    let thumbnail = fetch(&app, file["thumbnail_url"].as_str().unwrap(), None).await;
    assert_eq!(thumbnail.status(), StatusCode::OK);
    let on_disk = std::fs::read_dir(app.state.config.data_dir.join("files"));
    assert!(on_disk.is_err(), "nothing was written under the data directory");
}
