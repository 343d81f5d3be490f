//! Configuration rows: create, read, update, delete, and uniqueness.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::model::{ApiKey, App, Product};
use hookline_store::{Store, StoreError};

fn assert_conflict<T: std::fmt::Debug>(
    r: hookline_store::Result<T>,
    want_entity: &str,
    want_key: &str,
) {
    match r {
        Err(StoreError::Conflict { entity, key }) => {
            assert_eq!((entity, key.as_str()), (want_entity, want_key));
        }
        other => panic!("expected Conflict({want_entity}, {want_key}), got {other:?}"),
    }
}

/// `get` finds `want` under `tag`, and nothing under a tag never stored.
async fn assert_found<T, F>(
    get: impl Fn(&'static str) -> F,
    tag: &'static str,
    want: &T,
) -> Result<()>
where
    T: PartialEq + std::fmt::Debug,
    F: std::future::Future<Output = hookline_store::Result<Option<T>>>,
{
    assert_eq!(get(tag).await?.as_ref(), Some(want), "{tag}");
    assert_eq!(get("nope").await?, None);
    Ok(())
}

/// Apps `stripe` and `github`, inserted in that order.
async fn two_apps(s: &dyn Store) -> Result<(App, App)> {
    let (stripe, github) = (app("stripe"), app("github"));
    s.insert_app(&stripe).await?;
    s.insert_app(&github).await?;
    Ok((stripe, github))
}

/// Products `shop` and `billing`, inserted in that order.
async fn two_products(s: &dyn Store) -> Result<(Product, Product)> {
    let (shop, billing) = (product("shop"), product("billing"));
    s.insert_product(&shop).await?;
    s.insert_product(&billing).await?;
    Ok((shop, billing))
}

pub async fn api_keys_insert_find_and_conflict(s: &dyn Store) -> Result<()> {
    let key = ApiKey {
        id: "key_1".into(),
        name: "admin".into(),
        hash: "9f86d081884c7d65".into(),
        created_at: T0,
    };
    s.insert_api_key(&key).await?;
    assert_eq!(s.find_api_key("9f86d081884c7d65").await?, Some(key.clone()));
    assert_eq!(s.find_api_key("nope").await?, None);

    let same_hash = ApiKey {
        id: "key_2".into(),
        ..key.clone()
    };
    assert_conflict(s.insert_api_key(&same_hash).await, "api key", "key_2");
    Ok(())
}

pub async fn apps_crud_and_conflict(s: &dyn Store) -> Result<()> {
    let (stripe, github) = two_apps(s).await?;

    assert_found(|t| s.get_app(t), "stripe", &stripe).await?;
    assert_eq!(s.get_app_by_id(&github.id).await?, Some(github.clone()));
    assert_eq!(s.list_apps().await?, vec![stripe.clone(), github.clone()]);

    assert_conflict(s.insert_app(&app("stripe")).await, "app", "stripe");

    let mut renamed = stripe.clone();
    renamed.tag = tag("stripe-eu");
    renamed.name = "Stripe EU".into();
    renamed.updated_at = at(1_000);
    s.update_app(&renamed).await?;
    assert_eq!(s.get_app("stripe").await?, None);
    assert_eq!(s.get_app("stripe-eu").await?, Some(renamed.clone()));

    let mut clash = renamed.clone();
    clash.tag = tag("github");
    assert_conflict(s.update_app(&clash).await, "app", "github");
    assert_eq!(s.get_app_by_id(&stripe.id).await?, Some(renamed));

    s.delete_app(&stripe.id).await?;
    assert_eq!(s.get_app_by_id(&stripe.id).await?, None);
    assert_eq!(s.list_apps().await?, vec![github]);
    Ok(())
}

pub async fn webhooks_crud_conflict_and_cascade(s: &dyn Store) -> Result<()> {
    let (stripe, github) = two_apps(s).await?;

    let payments = webhook(&stripe.id, "payments");
    let payouts = webhook(&stripe.id, "payouts");
    // The same tag under another app is another webhook.
    let gh_payments = webhook(&github.id, "payments");
    s.insert_webhook(&payments).await?;
    s.insert_webhook(&payouts).await?;
    s.insert_webhook(&gh_payments).await?;

    let dup = webhook(&stripe.id, "payments");
    assert_conflict(
        s.insert_webhook(&dup).await,
        "webhook",
        &format!("{}/payments", stripe.id),
    );

    assert_found(|t| s.get_webhook(&stripe.id, t), "payments", &payments).await?;
    assert_eq!(
        s.get_webhook_by_id(&gh_payments.id).await?,
        Some(gh_payments.clone())
    );
    assert_eq!(
        s.list_webhooks(&stripe.id).await?,
        vec![payments.clone(), payouts.clone()]
    );

    let mut changed = payouts.clone();
    changed.name = "Payouts v2".into();
    changed.envs[0].registration_url = None;
    s.update_webhook(&changed).await?;
    assert_eq!(
        s.get_webhook_by_id(&payouts.id).await?,
        Some(changed.clone())
    );

    let mut clash = changed.clone();
    clash.tag = tag("payments");
    assert_conflict(
        s.update_webhook(&clash).await,
        "webhook",
        &format!("{}/payments", stripe.id),
    );

    s.delete_webhook(&payments.id).await?;
    assert_eq!(s.list_webhooks(&stripe.id).await?, vec![changed]);

    // Deleting the app deletes its webhooks, and only its own.
    s.delete_app(&stripe.id).await?;
    assert_eq!(s.get_webhook_by_id(&payouts.id).await?, None);
    assert_eq!(s.list_webhooks(&stripe.id).await?, vec![]);
    assert_eq!(s.list_webhooks(&github.id).await?, vec![gh_payments]);
    Ok(())
}

pub async fn products_crud_and_conflict(s: &dyn Store) -> Result<()> {
    let (shop, billing) = two_products(s).await?;
    assert_conflict(s.insert_product(&product("shop")).await, "product", "shop");

    assert_found(|t| s.get_product(t), "shop", &shop).await?;
    assert_eq!(
        s.list_products().await?,
        vec![shop.clone(), billing.clone()]
    );

    let mut changed = shop.clone();
    changed.name = "The Shop".into();
    changed.envs.push(hookline_core::model::ProductEnv {
        slug: env("stg"),
        name: None,
    });
    s.update_product(&changed).await?;
    assert_eq!(s.get_product("shop").await?, Some(changed));

    let mut clash = billing.clone();
    clash.tag = tag("shop");
    assert_conflict(s.update_product(&clash).await, "product", "shop");

    s.delete_product(&shop.id).await?;
    assert_eq!(s.get_product("shop").await?, None);
    assert_eq!(s.list_products().await?, vec![billing]);
    Ok(())
}

pub async fn connections_crud_conflict_and_cascade(s: &dyn Store) -> Result<()> {
    let (shop, billing) = two_products(s).await?;
    let (stripe, github) = two_apps(s).await?;

    let main = connection(&shop.id, &stripe.id, "main");
    // One app may be connected several times under different access tags.
    let second = connection(&shop.id, &stripe.id, "second");
    let other_product = connection(&billing.id, &stripe.id, "main");
    s.insert_connection(&main).await?;
    s.insert_connection(&second).await?;
    s.insert_connection(&other_product).await?;
    assert_conflict(
        s.insert_connection(&connection(&shop.id, &github.id, "main"))
            .await,
        "connection",
        "main",
    );

    assert_found(|t| s.get_connection(&shop.id, t), "main", &main).await?;
    assert_eq!(
        s.list_connections(&shop.id).await?,
        vec![main.clone(), second.clone()]
    );
    assert_eq!(s.count_connections_for_app(&stripe.id).await?, 3);
    assert_eq!(s.count_connections_for_app(&github.id).await?, 0);

    let mut moved = second.clone();
    moved.app_id = github.id.clone();
    moved.envs[0].auth.query.insert("key".into(), "v".into());
    s.update_connection(&moved).await?;
    assert_eq!(
        s.get_connection(&shop.id, "second").await?,
        Some(moved.clone())
    );
    assert_eq!(s.count_connections_for_app(&github.id).await?, 1);

    let mut clash = moved.clone();
    clash.access_tag = tag("main");
    assert_conflict(s.update_connection(&clash).await, "connection", "main");

    s.delete_connection(&main.id).await?;
    assert_eq!(s.list_connections(&shop.id).await?, vec![moved]);

    // Deleting a product takes its connections with it, and only its own.
    s.delete_product(&shop.id).await?;
    assert_eq!(s.list_connections(&shop.id).await?, vec![]);
    assert_eq!(s.count_connections_for_app(&github.id).await?, 0);
    assert_eq!(s.count_connections_for_app(&stripe.id).await?, 1);
    assert_eq!(
        s.get_connection(&billing.id, "main").await?,
        Some(other_product)
    );
    Ok(())
}
