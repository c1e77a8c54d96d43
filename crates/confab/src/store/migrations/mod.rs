//! Versioned schema migrations, written once with SeaORM's schema builder and
//! rendered in each backend's dialect. Applied in order by `confab migrate` and
//! at server start-up; the applied versions are recorded in `seaql_migrations`.
//!
//! Never edit a migration that has shipped: add a new one.

use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_messages;
mod m20261127_000003_revocation;
mod m20261128_000004_direct;
mod m20261128_000005_history_changes;
mod m20261128_000006_search;
mod m20261128_000007_mysql_trigrams;
mod m20261128_000008_files;
mod m20261128_000009_bigrams;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_messages::Migration),
            Box::new(m20261127_000003_revocation::Migration),
            Box::new(m20261128_000004_direct::Migration),
            Box::new(m20261128_000005_history_changes::Migration),
            Box::new(m20261128_000006_search::Migration),
            Box::new(m20261128_000007_mysql_trigrams::Migration),
            Box::new(m20261128_000008_files::Migration),
            Box::new(m20261128_000009_bigrams::Migration),
        ]
    }
}

/// A non-null UTC timestamp with microseconds on every backend (MySQL's plain
/// `TIMESTAMP` would drop them and stop in 2038).
pub(crate) fn timestamp(manager: &SchemaManager, column: impl IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    match manager.get_database_backend() {
        sea_orm::DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    def.not_null();
    def
}

/// `CREATE TABLE`, with MySQL/MariaDB options where the backend is MySQL:
/// InnoDB, `utf8mb4` (all of Unicode, emoji included, whatever the server's
/// default) and the binary collation, so text compares exactly as on
/// PostgreSQL and SQLite (case folding is done by the application).
pub(crate) fn create_table(manager: &SchemaManager, table: impl IntoIden + 'static) -> TableCreateStatement {
    let mut create = Table::create();
    create.table(table);
    if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
        create.engine("InnoDB").character_set("utf8mb4").collate("utf8mb4_bin");
    }
    create
}

/// A 64-bit auto-increment primary key.
pub(crate) fn id(column: impl IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    def.big_integer().not_null().auto_increment().primary_key();
    def
}
