//! SQL both backends run as written: configuration documents, registrations
//! included ([`config`]), and what the background tasks keep, registration
//! health and bulk replay jobs ([`background`]). The store traits over them
//! are implemented once, for any [`Backend`], by the macros
//! `config::config_store!`, `config::registration_store!` and
//! `background::replay_job_store!`, which each backend invokes for itself.
//!
//! sqlx's SQLite driver reads PostgreSQL's `$1`-style parameters, and the
//! schemas share column names and types (64-bit integers, JSON as text), so
//! one statement serves both. Every statement here is a method of
//! [`Sql<DB>`](Sql), generic over the backend's [`sqlx::Database`] and
//! taking the connection to run on, so that each backend keeps the choices
//! that really differ: SQLite writes on its one writer and reads from its
//! reader pool, PostgreSQL uses its pool; what follows a commit (SQLite's
//! writer replaced after a storage failure, PostgreSQL's `NOTIFY`); and the
//! few words of dialect in [`Dialect`]. A backend states those choices
//! once, as its [`Backend`] implementation.
//!
//! Events are here too ([`events`]: listing, counting, replay, retention,
//! traffic), and what a claim reads back ([`claims`]). The claims
//! themselves, completions and batch inserts are not: there the backends
//! differ in more than words (SQLite's multi-statement commands,
//! PostgreSQL's `UNNEST` arrays and `SKIP LOCKED` claims).

pub(crate) mod background;
pub(crate) mod claims;
pub(crate) mod config;
pub(crate) mod events;

use crate::{DocCipher, Result};
use std::marker::PhantomData;
use std::ops::DerefMut;

/// The shared statements for backend `DB`; see the module docs. Only a
/// namespace: `Sql::get(store, key)` infers `DB` from the [`Backend`] (and
/// `Sql::list_registration_health(&pool)` from the connection).
pub(crate) struct Sql<DB>(PhantomData<DB>);

/// How a backend runs the statements here that are not given a connection:
/// where reads and writes go, and what follows a write.
pub(crate) trait Backend: Sync {
    type Db: Dialect;
    /// A connection held for writing.
    type Writer<'a>: DerefMut<Target = <Self::Db as sqlx::Database>::Connection> + Send
    where
        Self: 'a;

    fn reads(&self) -> &sqlx::Pool<Self::Db>;
    /// Must be dropped before [`written`](Self::written) is called.
    async fn writer(&self) -> Result<Self::Writer<'_>>;
    /// Passes the result of a write through, after what the backend does
    /// on a failure.
    async fn written<T: Send>(&self, result: Result<T>) -> Result<T>;
    /// After the commit of a write that queued deliveries.
    fn work_queued(&self);
    /// What documents' secrets are sealed with (see [`crate::sealed`]).
    fn cipher(&self) -> Option<&DocCipher>;
}

/// Implements a store trait for a [`Backend`] with the statements here,
/// from a list: the kinds inserted, updated and deleted alike, their reads
/// by one key (named by its columns, which are its parameters) and lists,
/// then the methods that are not one of those.
macro_rules! store_impl {
    (
        $store:ty, $store_trait:path;
        $(write $kind:ty: $insert:ident $update:ident $delete:ident;)*
        $(get $get:ident($($key:ident),*) -> $found:ty;)*
        $(list $list:ident($($by:ident),*) -> $listed:ty;)*
        { $($others:tt)* }
    ) => {
        // A block of its own, for the names the methods use; not every
        // store trait uses every one.
        #[allow(unused_imports)]
        const _: () = {
            use ::hookline_core::model::*;
            use ::hookline_core::time::Millis;
            use $crate::monitor::ReplayJob;
            use $crate::sql::Sql;
            use $crate::Result;

            #[::async_trait::async_trait]
            impl $store_trait for $store {
                $(
                    async fn $insert(&self, value: &$kind) -> Result<()> {
                        Sql::insert(self, value).await
                    }
                    async fn $update(&self, value: &$kind) -> Result<()> {
                        Sql::update(self, value).await
                    }
                    async fn $delete(&self, id: &str) -> Result<()> {
                        Sql::delete::<$kind>(self, id).await
                    }
                )*
                $(
                    async fn $get(&self, $($key: &str),*) -> Result<Option<$found>> {
                        Sql::get(self, &[$((stringify!($key), $key)),*]).await
                    }
                )*
                $(
                    async fn $list(&self, $($by: &str),*) -> Result<Vec<$listed>> {
                        Sql::list(self, &[$((stringify!($by), $by)),*]).await
                    }
                )*
                $($others)*
            }
        };
    };
}
pub(crate) use store_impl;

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
