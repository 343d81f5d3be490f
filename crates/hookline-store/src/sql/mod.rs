//! SQL both backends run as written: configuration documents, registrations
//! included ([`config`]), and what the background tasks keep, registration
//! health and bulk replay jobs ([`background`]).
//!
//! sqlx's SQLite driver reads PostgreSQL's `$1`-style parameters, and the
//! schemas share column names and types (64-bit integers, JSON as text), so
//! one statement serves both. Every statement here is a method of
//! [`Sql<DB>`](Sql), generic over the backend's [`sqlx::Database`] and
//! taking the connection to run on, so that each backend keeps the choices
//! that really differ: SQLite writes on its one writer and reads from its
//! reader pool, PostgreSQL uses its pool; what follows a commit (SQLite's
//! writer replaced after a storage failure, PostgreSQL's `NOTIFY`); and the
//! few words of dialect in [`Dialect`].
//!
//! The events, the queue, their statistics and batch inserts are not here:
//! there the backends differ in more than words (SQLite's multi-statement
//! commands, PostgreSQL's `UNNEST` arrays and `SKIP LOCKED` claims).

pub(crate) mod background;
pub(crate) mod config;
pub(crate) mod events;

use std::marker::PhantomData;

/// The shared statements for backend `DB`; see the module docs. Only a
/// namespace: `Sql::get_app(&pool, tag)` infers `DB` from the connection.
pub(crate) struct Sql<DB>(PhantomData<DB>);

/// What differs between the backends' SQL, in the statements shared here.
pub(crate) trait Dialect: sqlx::Database {
    /// The function giving the position of a substring (`f(text, part)`,
    /// 0 when absent).
    const FIND: &'static str;
    /// Closes a sub-select that picks a row to lease, so that concurrent
    /// claimers pass over each other's rows. SQLite's one writer needs none.
    const SKIP_LOCKED: &'static str;
    /// Run first in the transaction that records a registration's health,
    /// with the registration id as `$1`, so that of several nodes judging
    /// the same registration at once exactly one sees a change (a row lock
    /// cannot cover the first record, which does not exist yet). SQLite's
    /// one writer serialises the transactions already.
    const HEALTH_LOCK: Option<&'static str>;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Dialect for sqlx::Sqlite {
    const FIND: &'static str = "instr";
    const SKIP_LOCKED: &'static str = "";
    const HEALTH_LOCK: Option<&'static str> = None;

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for sqlx::Postgres {
    const FIND: &'static str = "strpos";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    // An advisory lock of the two-key form, which never collides with the
    // migrator's single-key lock: first key "HL" in ASCII (0x484C), second
    // a hash of the registration id. Released at commit.
    const HEALTH_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(18508, hashtext($1))");

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}
