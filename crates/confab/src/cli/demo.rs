//! `confab serve --demo`: two developers and a public room, ready to try.

use std::net::SocketAddr;

use crate::app::AppState;
use crate::auth::{accounts, random_token, CurrentUser};
use crate::chat::members::{self, MemberRef};
use crate::chat::rooms::{self, NewRoom};
use crate::chat::types::{RoomType, DEVELOPER_ROLE};
use crate::chat::Window;
use crate::error::Error;
use crate::store;

const DEMO_USERS: [&str; 2] = ["alice", "bob"];
const DEMO_ROOM: &str = "general";

/// Creates (or resets the passwords of) the demo users, makes sure the room
/// exists with both as members, and prints how to log in.
///
/// Only on a database that holds nothing but the demo: resetting the password
/// of a real `alice` (and printing it) would hand her account to whoever
/// reads the console.
pub async fn seed(state: &AppState, addr: SocketAddr) -> anyhow::Result<()> {
    let store = &state.store;
    let mut demo_users = 0;
    for name in DEMO_USERS {
        demo_users += u64::from(store::users::find_by_username(store.reader(), name).await?.is_some());
    }
    let others = store::users::count(store.reader()).await? - demo_users;
    anyhow::ensure!(
        others == 0,
        "--demo resets the demo accounts' passwords, and this database has {others} other user(s): \
         run it on a fresh database (another data_dir or database_url)"
    );
    let mut credentials = Vec::new();
    let mut users = Vec::new();
    for name in DEMO_USERS {
        let password = random_token(16);
        let user = match store::users::find_by_username(store.reader(), name).await? {
            Some(user) => {
                accounts::set_password(store, name, &password).await?;
                accounts::set_active(store, name, true).await?;
                accounts::set_role(store, name, DEVELOPER_ROLE, true).await?;
                user
            }
            None => accounts::create_user(store, name, &password, true).await?,
        };
        users.push(CurrentUser {
            id: user.id,
            username: user.username,
            roles: vec![DEVELOPER_ROLE.into()],
        });
        credentials.push((name, password));
    }
    let (alice, bob) = (&users[0], &users[1]);
    let window = Window { offset: 0, limit: 200 };
    let filter = crate::store::rooms::RoomFilter {
        search: Some(DEMO_ROOM),
        is_direct: Some(false),
    };
    let (_, visible) = rooms::list(store, alice, filter, window).await?;
    let room = match visible.into_iter().find(|r| r.name == DEMO_ROOM) {
        Some(room) => room,
        None => {
            let new = NewRoom {
                name: DEMO_ROOM.into(),
                description: "Say hello!".into(),
                room_type: RoomType::Public,
            };
            rooms::create(store, state.publisher(), alice, new).await?
        }
    };
    if !room.is_member {
        rooms::join(store, state.publisher(), alice, room.id).await?;
    }
    match members::add(store, state.publisher(), alice, room.id, || Ok(MemberRef::Id(bob.id))).await {
        Ok(_) | Err(Error::Invalid(_)) => {} // already a member
        Err(error) => return Err(error.into()),
    }
    println!("\nDemo accounts (passwords are new on every --demo start):");
    for (name, password) in &credentials {
        println!("  {name:<6} {password}");
    }
    println!("Room #{} (id {}) has both as members.", room.name, room.id);
    println!("Open http://{addr}/ in a browser and log in, or try:");
    println!(
        "  curl -s -X POST http://{addr}/api/token/ -H 'Content-Type: application/json' \\\n    -d '{{\"username\":\"alice\",\"password\":\"{}\"}}'\n",
        credentials[0].1
    );
    Ok(())
}
