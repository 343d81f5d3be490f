//! Configuration documents: api keys, apps, app webhooks, products,
//! connections and registrations, each stored whole as a JSON `doc` beside
//! the columns that identify it and keep it unique (the secrets of the last
//! two sealed under the store's cipher, by the codec); the release of a
//! registration's held deliveries once it can deliver; and the secret key
//! check. Lists come in creation order. Updating or deleting an id that does
//! not exist changes nothing and is not an error.
//!
//! The statements common to every kind are written once, from the kind's
//! [`Document`] description: its table, and its columns with their values.

use super::{Backend, Dialect, Sql};
use crate::codec::{Columns, Document};
use crate::error::OrConflict;
use crate::rules::{RELEASE_HELD, SUMMARIZE_RELEASED};
use crate::{DocCipher, Result};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Connection as _, Decode, Encode, Executor, IntoArguments, Type};

/// `(id, doc)`, as every read of documents selects it.
type DocRow = (String, String);

/// Column values as statements bind them.
#[derive(Clone, Copy)]
enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// What an update rewrites: the key columns, `updated_at` and `doc`.
fn rewritten<'a>(c: &Columns<'a>, doc: &'a str) -> Vec<(&'static str, Param<'a>)> {
    let mut cols: Vec<_> = c.keys.iter().map(|&(n, v)| (n, Param::Text(v))).collect();
    if let Some(at) = c.updated_at {
        cols.push(("updated_at", Param::Int(at.0)));
    }
    cols.push(("doc", Param::Text(doc)));
    cols
}

/// Every column of a row, as an insert writes it.
fn row<'a>(c: &Columns<'a>, doc: &'a str) -> Vec<(&'static str, Param<'a>)> {
    let mut cols = vec![("id", Param::Text(c.id))];
    cols.extend(c.fixed.iter().map(|&(n, v)| (n, Param::Text(v))));
    cols.push(("created_at", Param::Int(c.created_at.0)));
    cols.extend(rewritten(c, doc));
    cols
}

/// `INSERT INTO table (columns) VALUES ($1, …)`.
fn insert_sql(table: &str, cols: &[(&str, Param)]) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        params.join(", ")
    )
}

/// `column = $1`, `column = $2`, … for each of `columns`.
fn numbered<'a>(columns: impl Iterator<Item = &'a str>) -> Vec<String> {
    columns
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect()
}

/// ` WHERE` over `filter`, or nothing.
fn where_sql(filter: &[(&str, &str)]) -> String {
    if filter.is_empty() {
        return String::new();
    }
    let conditions = numbered(filter.iter().map(|(column, _)| *column));
    format!(" WHERE {}", conditions.join(" AND "))
}

fn documents<T: Document>(cipher: Option<&DocCipher>, rows: Vec<DocRow>) -> Result<Vec<T>> {
    rows.iter()
        .map(|(id, doc)| T::from_row(cipher, id, doc))
        .collect()
}

impl<DB> Sql<DB>
where
    DB: Dialect,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // --- every kind ------------------------------------------------------

    fn bound<'q>(sql: &'q str, cols: &[(&str, Param<'q>)]) -> Query<'q, DB, DB::Arguments<'q>> {
        cols.iter()
            .fold(sqlx::query(sql), |q, &(_, value)| match value {
                Param::Text(s) => q.bind(s),
                Param::Int(n) => q.bind(n),
            })
    }

    /// Runs an insert or update of `value`, reporting a unique violation as
    /// a conflict on the key it names.
    async fn write<'c, T: Document>(
        ex: impl Executor<'c, Database = DB>,
        value: &T,
        sql: &str,
        cols: &[(&str, Param<'_>)],
    ) -> Result<()> {
        Self::bound(sql, cols)
            .execute(ex)
            .await
            .or_conflict(T::ENTITY, |constraint| value.conflict_key(constraint))?;
        Ok(())
    }

    pub(crate) async fn insert<T: Document>(b: &impl Backend<Db = DB>, value: &T) -> Result<()> {
        let doc = value.doc(b.cipher())?;
        let cols = row(&value.columns(), &doc);
        let sql = insert_sql(T::TABLE, &cols);
        let done = Self::write(&mut *b.writer().await?, value, &sql, &cols).await;
        b.written(done).await
    }

    pub(crate) async fn update<T: Document>(b: &impl Backend<Db = DB>, value: &T) -> Result<()> {
        let doc = value.doc(b.cipher())?;
        let columns = value.columns();
        let mut cols = rewritten(&columns, &doc);
        let set = numbered(cols.iter().map(|(n, _)| *n));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            T::TABLE,
            set.join(", "),
            cols.len() + 1
        );
        cols.push(("id", Param::Text(columns.id)));
        let done = Self::write(&mut *b.writer().await?, value, &sql, &cols).await;
        b.written(done).await
    }

    /// The one whose text columns equal `filter` (a unique key of the
    /// table).
    pub(crate) async fn get<T: Document>(
        b: &impl Backend<Db = DB>,
        filter: &[(&str, &str)],
    ) -> Result<Option<T>> {
        let sql = format!("SELECT id, doc FROM {}{}", T::TABLE, where_sql(filter));
        let row: Option<DocRow> = filter
            .iter()
            .fold(sqlx::query_as(&sql), |q, (_, value)| q.bind(*value))
            .fetch_optional(b.reads())
            .await?;
        row.map(|(id, doc)| T::from_row(b.cipher(), &id, &doc))
            .transpose()
    }

    /// Those whose text columns equal `filter`.
    pub(crate) async fn list<T: Document>(
        b: &impl Backend<Db = DB>,
        filter: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        let sql = format!(
            "SELECT id, doc FROM {}{} ORDER BY created_at, id",
            T::TABLE,
            where_sql(filter)
        );
        let rows = filter
            .iter()
            .fold(sqlx::query_as(&sql), |q, (_, value)| q.bind(*value))
            .fetch_all(b.reads())
            .await?;
        documents(b.cipher(), rows)
    }

    /// What an app or product owns goes with it (`ON DELETE CASCADE`: an
    /// app's webhooks, a product's connections); a product's registrations
    /// and events stay, as history.
    pub(crate) async fn delete<T: Document>(b: &impl Backend<Db = DB>, id: &str) -> Result<()> {
        let sql = format!("DELETE FROM {} WHERE id = $1", T::TABLE);
        let done = sqlx::query(&sql)
            .bind(id)
            .execute(&mut *b.writer().await?)
            .await;
        b.written(done.map(|_| ()).map_err(Into::into)).await
    }

    // --- connections -----------------------------------------------------

    pub(crate) async fn count_connections_for_app(
        b: &impl Backend<Db = DB>,
        app_id: &str,
    ) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connections WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(b.reads())
            .await?;
        // COUNT(*) is never negative.
        Ok(n.unsigned_abs())
    }

    // --- the secret key check --------------------------------------------

    pub(crate) async fn key_check(b: &impl Backend<Db = DB>) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
                .fetch_optional(b.reads())
                .await?,
        )
    }

    /// Insert-if-absent, then read back (on one connection): of nodes
    /// starting together, the first insert wins and every node reads that
    /// one.
    pub(crate) async fn init_key_check(
        b: &impl Backend<Db = DB>,
        value: &str,
        now: Millis,
    ) -> Result<String> {
        let done = Self::insert_key_check(&mut *b.writer().await?, value, now.0).await;
        b.written(done).await
    }

    async fn insert_key_check(conn: &mut DB::Connection, value: &str, now: i64) -> Result<String> {
        sqlx::query(
            "INSERT INTO key_check (id, value, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(value)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM key_check WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?,
        )
    }

    pub(crate) async fn docs_containing(
        b: &impl Backend<Db = DB>,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        // A position function, not LIKE: the needle is matched as is, case
        // and all.
        let find = DB::FIND;
        Ok(sqlx::query_scalar(&format!(
            "SELECT doc FROM \
               (SELECT doc FROM registrations WHERE {find}(doc, $1) > 0 LIMIT $2) AS r \
             UNION ALL \
             SELECT doc FROM \
               (SELECT doc FROM connections WHERE {find}(doc, $1) > 0 LIMIT $2) AS c"
        ))
        .bind(needle)
        .bind(i64::from(limit))
        .fetch_all(b.reads())
        .await?)
    }

    // --- registrations ---------------------------------------------------

    /// Upserts every registration in one transaction, and queues the held
    /// deliveries of those that can now deliver; after the commit, tells the
    /// backend when any were queued (PostgreSQL tells the other nodes).
    pub(crate) async fn save_registrations(
        b: &impl Backend<Db = DB>,
        regs: &[Registration],
    ) -> Result<()> {
        let saved = Self::upsert_registrations(&mut *b.writer().await?, b.cipher(), regs).await;
        if b.written(saved).await? {
            b.work_queued();
        }
        Ok(())
    }

    async fn upsert_registrations(
        conn: &mut DB::Connection,
        cipher: Option<&DocCipher>,
        regs: &[Registration],
    ) -> Result<bool> {
        let now = Millis::now();
        let mut queued_any = false;
        let mut tx = conn.begin().await?;
        for reg in regs {
            let doc = reg.doc(cipher)?;
            let columns = reg.columns();
            let updates: Vec<String> = rewritten(&columns, &doc)
                .iter()
                .map(|(n, _)| format!("{n} = excluded.{n}"))
                .collect();
            let cols = row(&columns, &doc);
            let sql = format!(
                "{} ON CONFLICT (id) DO UPDATE SET {}",
                insert_sql(Registration::TABLE, &cols),
                updates.join(", ")
            );
            Self::write(&mut *tx, reg, &sql, &cols).await?;

            if reg.active && reg.receiver.is_some() {
                let queued = DB::rows_affected(
                    &sqlx::query(RELEASE_HELD)
                        .bind(now.0)
                        .bind(reg.id.as_str())
                        .execute(&mut *tx)
                        .await?,
                );
                if queued > 0 {
                    sqlx::query(SUMMARIZE_RELEASED)
                        .bind(reg.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    queued_any = true;
                    tracing::info!(registration_id = %reg.id, queued, "queued held deliveries");
                }
            }
        }
        tx.commit().await?;
        Ok(queued_any)
    }

    pub(crate) async fn list_registrations(
        b: &impl Backend<Db = DB>,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        // `$2 IS NULL` keeps one statement (and one cached plan) for both
        // cases; the key index still narrows by product_id. The cast gives
        // PostgreSQL the parameter's type when it is NULL.
        let rows = sqlx::query_as(
            "SELECT id, doc FROM registrations \
             WHERE product_id = $1 AND (CAST($2 AS TEXT) IS NULL OR access_tag = $2) \
             ORDER BY created_at, id",
        )
        .bind(product_id)
        .bind(access_tag)
        .fetch_all(b.reads())
        .await?;
        documents(b.cipher(), rows)
    }
}

/// Implements [`ConfigStore`](crate::ConfigStore) for a [`Backend`] with the
/// statements here.
macro_rules! config_store {
    ($store:ty) => {
        $crate::sql::store_impl! {
                $store, $crate::ConfigStore;
                write App: insert_app update_app delete_app;
                write AppWebhook: insert_webhook update_webhook delete_webhook;
                write Product: insert_product update_product delete_product;
                write Connection: insert_connection update_connection delete_connection;
                get find_api_key(hash) -> ApiKey;
                get get_app(tag) -> App;
                get get_app_by_id(id) -> App;
                get get_webhook(app_id, tag) -> AppWebhook;
                get get_webhook_by_id(id) -> AppWebhook;
                get get_product(tag) -> Product;
                get get_connection(product_id, access_tag) -> Connection;
                list list_apps() -> App;
                list list_webhooks(app_id) -> AppWebhook;
                list list_products() -> Product;
                list list_connections(product_id) -> Connection;
                {
                    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
                        Sql::insert(self, key).await
                    }
                    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
                        Sql::count_connections_for_app(self, app_id).await
                    }
                    async fn key_check(&self) -> Result<Option<String>> {
                        Sql::key_check(self).await
                    }
                    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
                        Sql::init_key_check(self, value, now).await
                    }
                    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
                        Sql::docs_containing(self, needle, limit).await
                    }
                }
        }
    };
}
pub(crate) use config_store;

/// Implements [`RegistrationStore`](crate::RegistrationStore) for a
/// [`Backend`] with the statements here.
macro_rules! registration_store {
    ($store:ty) => {
        $crate::sql::store_impl! {
                $store, $crate::RegistrationStore;
                get get_registration(id) -> Registration;
                get get_registration_by_link(link_id) -> Registration;
                {
                    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
                        Sql::save_registrations(self, regs).await
                    }
                    async fn get_registration_by_key(
                        &self,
                        key: &RegistrationKey,
                    ) -> Result<Option<Registration>> {
                        let event = $crate::codec::registration_event_key(
                            key.event.as_ref().map(|t| t.as_str()),
                        );
                        let key = [
                            ("product_id", key.product_id.as_str()),
                            ("access_tag", key.access_tag.as_str()),
                            ("webhook_id", key.webhook_id.as_str()),
                            ("event", event),
                            ("env", key.env.as_str()),
                        ];
                        Sql::get(self, &key).await
                    }
                    async fn list_registrations(
                        &self,
                        product_id: &str,
                        access_tag: Option<&str>,
                    ) -> Result<Vec<Registration>> {
                        Sql::list_registrations(self, product_id, access_tag).await
                    }
                }
        }
    };
}
pub(crate) use registration_store;
