//! The bootstrap management key: `HOOKLINE_ADMIN_KEY` when set; otherwise
//! generated on first start, printed once, and saved with mode 0600 as
//! `<data_dir>/admin.key` for later starts. Only its hash is in the database
//! ([`hash_key`], the one way every management key is stored and checked).

use hookline_core::ids::new_id;
use hookline_core::model::ApiKey;
use hookline_core::time::Millis;
use hookline_store::{Store, StoreError};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const FILE: &str = "admin.key";

/// How every management key is stored and looked up: the hex SHA-256 of
/// the key. A key is long and random, so a fast hash is enough and the
/// lookup is by equality.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    Configured,
    Saved,
    /// Generated just now; the caller prints it once.
    Generated,
}

/// Returns the key and where it came from, after making sure its hash is stored.
pub async fn ensure(
    store: &dyn Store,
    configured: &str,
    data_dir: &Path,
) -> Result<(String, Origin), Box<dyn std::error::Error + Send + Sync>> {
    let path = data_dir.join(FILE);
    let (key, origin) = if !configured.is_empty() {
        (configured.to_owned(), Origin::Configured)
    } else if path.exists() {
        (
            std::fs::read_to_string(&path)?.trim().to_owned(),
            Origin::Saved,
        )
    } else {
        let key = format!(
            "hk_{}",
            rand::rngs::OsRng
                .sample_iter(&Alphanumeric)
                .take(40)
                .map(char::from)
                .collect::<String>()
        );
        std::fs::create_dir_all(data_dir)?;
        write_private(&path, &key)?;
        (key, Origin::Generated)
    };
    let hash = hash_key(&key);
    if store.find_api_key(&hash).await?.is_none() {
        let name = match origin {
            Origin::Configured => "admin (HOOKLINE_ADMIN_KEY)",
            _ => "admin (generated)",
        };
        let inserted = store
            .insert_api_key(&ApiKey {
                id: new_id("key"),
                name: name.into(),
                hash: hash.clone(),
                created_at: Millis::now(),
            })
            .await;
        match inserted {
            Ok(()) => {}
            // Another node sharing the database stored the same key between
            // our lookup and our insert (nodes starting together).
            Err(StoreError::Conflict { .. }) if store.find_api_key(&hash).await?.is_some() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((key, origin))
}

fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{key}")?;
    f.sync_all()
}
