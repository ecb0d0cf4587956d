//! Tenants and their API keys: who owns a job, a sweep or a dataset, and how a request proves
//! it acts for a tenant.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::{ApiKeyRow, Store, StoreError};

/// The tenant owning rows made before tenants existed and every row made with auth off.
pub const DEFAULT_TENANT: &str = "default";

/// The longest tenant name.
const MAX_TENANT_NAME: usize = 64;

/// The owner of jobs, sweeps and datasets. Every store query by id or listing filters by it, so
/// one tenant never sees another's resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(String);

impl Tenant {
    /// A tenant name: 1 to 64 ASCII letters, digits, `-`, `_` or `.` (it appears in logs and
    /// in listings, so nothing that could be mistaken for markup or whitespace).
    pub fn parse(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= MAX_TENANT_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "a tenant name is 1 to {MAX_TENANT_NAME} ASCII letters, digits, `-`, `_` or `.`, got `{name}`"
            ))
        }
    }

    /// The tenant a name stored by this server denotes (trusted, not validated again).
    pub fn stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    /// The tenant of auth-off mode and of rows from before tenants.
    fn default() -> Self {
        Self(DEFAULT_TENANT.to_string())
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every API key starts with, so a leaked key is recognisable (secret scanners, logs).
const KEY_PREFIX: &str = "sk_";
/// Random bytes in a key: 256 bits.
const KEY_RANDOM_BYTES: usize = 32;
/// Characters of a key kept in clear in the database, to tell keys apart in listings.
const SHOWN_PREFIX_CHARS: usize = 8;

/// A freshly made API key: the secret (to show once) and what the database keeps of it.
pub struct NewApiKey {
    /// `sk_` + 43 base64url characters; never stored.
    pub secret: String,
    /// [`hash_key`] of the secret.
    pub hash: [u8; 32],
    /// The secret's first characters, shown in listings.
    pub prefix: String,
}

impl NewApiKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut random = [0u8; KEY_RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
        Self {
            hash: hash_key(&secret),
            prefix: secret[..SHOWN_PREFIX_CHARS].to_string(),
            secret,
        }
    }
}

/// Makes a key for `tenant` and stores its hash; returns the stored row and the secret, which
/// the caller shows once (it cannot be recovered).
pub async fn create_api_key(
    store: &Store,
    tenant: &Tenant,
) -> Result<(ApiKeyRow, String), StoreError> {
    let key = NewApiKey::generate();
    let api_key_id = uuid::Uuid::new_v4().to_string();
    let row = store
        .insert_api_key(&api_key_id, tenant, &key.hash, &key.prefix)
        .await?;
    Ok((row, key.secret))
}

/// The SHA-256 of a key: what the database stores and looks keys up by.
///
/// A plain, fast hash is enough here, unlike for passwords: a key carries 256 random bits, so
/// no dictionary or brute-force search over a stolen hash can find it, and a slow hash would
/// only slow down every request. Looking the hash up (instead of comparing secrets) also
/// leaves no timing signal about the secret.
pub fn hash_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_stored_only_as_their_hash() {
        let a = NewApiKey::generate();
        let b = NewApiKey::generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("sk_"));
        assert_eq!(a.secret.len(), 3 + 43);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
    }

    #[test]
    fn tenant_names_are_short_and_plain() {
        assert!(Tenant::parse("acme-1.prod_eu").is_ok());
        assert!(Tenant::parse("").is_err());
        assert!(Tenant::parse("a b").is_err());
        assert!(Tenant::parse(&"x".repeat(65)).is_err());
    }
}
