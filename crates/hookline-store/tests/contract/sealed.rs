//! The secret key check and unreadable secrets, through stores sealing with
//! a key (`Store::with_cipher`) on each backend: a database takes the key
//! of the first node that starts on it, and refuses every other; one written
//! before the check existed is judged by the secrets it holds; a claim whose
//! secrets cannot be opened comes back marked instead of failing (and leaving
//! leased) the claim.

use crate::fixtures::*;
use anyhow::{ensure, Result};
use hookline_core::model::Registration;
use hookline_store::{DocCipher, DynStore, KeyCheck, Lease, StoreError};

/// The database as a node with this key sees it.
fn sealed(inner: &DynStore, key: &[u8; 32]) -> DynStore {
    inner.with_cipher(Some(DocCipher::new(key)))
}

/// A node's key, as the key check sees it.
fn cipher(key: &[u8; 32]) -> DocCipher {
    DocCipher::new(key)
}

/// A registration whose receiver sends an `authorization` header, a secret.
fn authorized_registration(authorization: &str) -> Registration {
    let mut reg = registration("acme", None);
    reg.receiver
        .as_mut()
        .expect("receiver")
        .auth
        .headers
        .insert("authorization".into(), authorization.into());
    reg
}

pub async fn key_check_is_stored_once_and_read_back(store: DynStore) -> Result<()> {
    ensure!(store.key_check().await?.is_none());
    ensure!(store.init_key_check("first", at(0)).await? == "first");
    ensure!(
        store.init_key_check("second", at(1)).await? == "first",
        "a second value does not replace the first"
    );
    ensure!(store.key_check().await?.as_deref() == Some("first"));
    Ok(())
}

pub async fn a_fresh_database_takes_the_first_key_and_refuses_others(
    store: DynStore,
) -> Result<()> {
    let (a, b) = (DocCipher::generate_key(), DocCipher::generate_key());
    let first = cipher(&a).verify_key(&*store).await?;
    ensure!(
        first
            == KeyCheck::Written {
                opened: 0,
                unreadable: 0
            },
        "{first:?}"
    );
    let stored = store.key_check().await?.expect("a check value");
    ensure!(
        !stored.contains(&base64_of(&a)),
        "the check value is not the key"
    );
    ensure!(cipher(&a).verify_key(&*store).await? == KeyCheck::Matched);
    let other = cipher(&b).verify_key(&*store).await;
    ensure!(
        matches!(other, Err(StoreError::WrongSecretKey(_))),
        "{other:?}"
    );
    ensure!(store.key_check().await?.as_deref() == Some(stored.as_str()));
    Ok(())
}

pub async fn nodes_starting_together_agree_on_one_key(store: DynStore) -> Result<()> {
    let (a, b) = (DocCipher::generate_key(), DocCipher::generate_key());
    let (na, nb) = (cipher(&a), cipher(&b));
    let (ra, rb) = tokio::join!(na.verify_key(&*store), nb.verify_key(&*store));
    ensure!(
        ra.is_ok() != rb.is_ok(),
        "exactly one key is taken: {ra:?} {rb:?}"
    );
    let loser = if ra.is_ok() { rb } else { ra };
    ensure!(matches!(loser, Err(StoreError::WrongSecretKey(_))));
    Ok(())
}

pub async fn an_older_database_is_judged_by_the_secrets_it_holds(store: DynStore) -> Result<()> {
    let (a, b) = (DocCipher::generate_key(), DocCipher::generate_key());
    // Written by a release without the check: sealed secrets, no check value.
    let old = sealed(&store, &a);
    let reg = registration("acme", None);
    old.save_registrations(std::slice::from_ref(&reg)).await?;
    ensure!(store.key_check().await?.is_none());

    let wrong = cipher(&b).verify_key(&*store).await;
    ensure!(
        matches!(wrong, Err(StoreError::WrongSecretKey(_))),
        "{wrong:?}"
    );
    ensure!(
        store.key_check().await?.is_none(),
        "a refused key writes no check value"
    );

    let right = cipher(&a).verify_key(&*store).await?;
    ensure!(
        matches!(right, KeyCheck::Written { opened, unreadable: 0 } if opened >= 2),
        "{right:?}"
    );
    ensure!(store.key_check().await?.is_some());
    ensure!(cipher(&a).verify_key(&*store).await? == KeyCheck::Matched);
    ensure!(cipher(&b).verify_key(&*store).await.is_err());
    Ok(())
}

pub async fn a_claim_with_unreadable_secrets_comes_back_marked(store: DynStore) -> Result<()> {
    let (a, b) = (DocCipher::generate_key(), DocCipher::generate_key());
    let reg = authorized_registration("Bearer s3cret");
    sealed(&store, &a)
        .save_registrations(std::slice::from_ref(&reg))
        .await?;
    let plain = saved_registration(&*store, "plain").await;
    store
        .insert_events(&with_payloads(&[
            queued(&reg, at(0)),
            queued(&plain, at(1)),
        ]))
        .await?;

    let claimed = sealed(&store, &b)
        .claim_due(Lease::new("n1", at(10), at(60_000)), 10)
        .await?;
    ensure!(claimed.len() == 2, "both are claimed: {claimed:?}");
    let (bad, good) = (&claimed[0], &claimed[1]);
    ensure!(bad.registration.id == reg.id);
    let why = bad.unreadable_secrets.as_deref().unwrap_or_default();
    ensure!(why.contains("secret key"), "{why}");
    let rx = bad.registration.receiver.as_ref().expect("receiver");
    ensure!(rx.auth.is_empty(), "no sealed value is handed out: {rx:?}");
    ensure!(bad.registration.signing_secret.is_empty());
    ensure!(bad.registration.verification_secret.is_none());
    ensure!(good.unreadable_secrets.is_none());
    ensure!(good.registration.signing_secret == plain.signing_secret);
    Ok(())
}

pub async fn secrets_are_sealed_in_the_stored_documents_and_opened_on_read(
    store: DynStore,
) -> Result<()> {
    let node = sealed(&store, &DocCipher::generate_key());
    let reg = authorized_registration("Bearer rx_s3cret");
    node.save_registrations(std::slice::from_ref(&reg)).await?;
    let (shop, stripe) = (product("shop"), app("stripe"));
    node.insert_product(&shop).await?;
    node.insert_app(&stripe).await?;
    let con = connection(&shop.id, &stripe.id, "main");
    node.insert_connection(&con).await?;

    // What the database holds: every secret sealed, names readable.
    for secret in ["rx_s3cret", "whsec_provider", "whsec_signing", "sk_test"] {
        ensure!(
            store.docs_containing(secret, 10).await?.is_empty(),
            "`{secret}` is stored in plain text"
        );
    }
    ensure!(store.docs_containing("sealed:v1:", 10).await?.len() == 2);
    ensure!(store.docs_containing("authorization", 10).await?.len() == 1);
    let stored = store.get_registration(&reg.id).await?.expect("saved");
    ensure!(
        stored.signing_secret.starts_with("sealed:v1:"),
        "{stored:?}"
    );

    // Every read through the node opens them.
    ensure!(node.get_registration(&reg.id).await? == Some(reg.clone()));
    ensure!(node.get_registration_by_link(reg.link_id.as_str()).await? == Some(reg.clone()));
    ensure!(node.list_registrations(&reg.product_id, None).await? == vec![reg.clone()]);
    ensure!(node.get_connection(&shop.id, "main").await? == Some(con.clone()));
    ensure!(node.list_connections(&shop.id).await? == vec![con.clone()]);
    node.insert_events(&with_payloads(&[queued(&reg, at(0))]))
        .await?;
    let claimed = node
        .claim_due(Lease::new("n1", at(10), at(60_000)), 10)
        .await?;
    ensure!(claimed.len() == 1, "{claimed:?}");
    ensure!(claimed[0].registration == reg, "{claimed:?}");
    ensure!(claimed[0].unreadable_secrets.is_none());
    Ok(())
}

fn base64_of(key: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

macro_rules! sealed_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() -> anyhow::Result<()> {
                    let Some(t) = crate::make_sqlite_store().await else { return Ok(()) };
                    super::$test(t.store.clone()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
                async fn $test() -> anyhow::Result<()> {
                    let Some(t) = crate::make_pg_store().await else { return Ok(()) };
                    super::$test(t.store.clone()).await
                }
            )*
        }
    };
}

sealed_tests!(
    key_check_is_stored_once_and_read_back,
    a_fresh_database_takes_the_first_key_and_refuses_others,
    nodes_starting_together_agree_on_one_key,
    an_older_database_is_judged_by_the_secrets_it_holds,
    a_claim_with_unreadable_secrets_comes_back_marked,
    secrets_are_sealed_in_the_stored_documents_and_opened_on_read,
);
