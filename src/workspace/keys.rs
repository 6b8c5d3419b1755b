//! API keys: made from 32 random bytes, shown once, stored only as a SHA-256 hash.

use sha2::{Digest, Sha256};

use super::Principal;
use crate::error::Result;
use crate::store::{self, Store};

/// A key as created: the secret is here once and nowhere else.
pub struct NewKey {
    /// The key's id, safe to show and log.
    pub id: String,
    /// The key itself (`hk_...`).
    pub key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewKey {{ id: {}, key: *** }}", self.id)
    }
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key for a principal; the workspace must exist.
pub fn create(store: &Store, principal: &Principal) -> Result<NewKey> {
    let secret: [u8; 32] = rand::random();
    let key = format!("hk_{}", hex::encode(secret));
    let id = format!("key_{}", &hex::encode(Sha256::digest(key.as_bytes()))[..12]);
    store.with(|c| {
        if store::workspaces::get(c, &principal.workspace)?.is_none() {
            return Err(crate::error::Error::NotFound(format!(
                "no workspace `{}`",
                principal.workspace
            )));
        }
        store::keys::insert(c, &id, &hash_key(&key), principal)
    })?;
    Ok(NewKey { id, key })
}

/// The principal of a live key.
pub fn resolve(store: &Store, key: &str) -> Result<Option<Principal>> {
    store.principal_of_key(&hash_key(key))
}
