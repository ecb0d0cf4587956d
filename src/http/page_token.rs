//! Opaque, signed page tokens: a keyset position that a client cannot forge or move.
//!
//! A token is `base64url(payload) "." base64url(HMAC-SHA256(key, payload)[..16])`, the payload
//! naming the tenant, the listing (`scope`) and the position. A token edited by hand, taken
//! from another listing or from another tenant fails verification and is answered with a 400:
//! a token never carries one tenant's position into another's listing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::tenant::Tenant;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks page tokens with the server's key.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Whose listing.
    t: String,
    /// Which listing: e.g. `jobs` or `steps:<job_seq>`.
    s: String,
    /// The keyset position.
    p: i64,
}

impl PageTokens {
    /// Uses `key` (at least 32 random bytes, kept in the database) to sign tokens.
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &[u8]) -> [u8; 16] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A token for `position` in `tenant`'s listing `scope`.
    pub fn issue(&self, tenant: &Tenant, scope: &str, position: i64) -> String {
        let payload = serde_json::to_vec(&Payload {
            t: tenant.as_str().to_string(),
            s: scope.to_string(),
            p: position,
        })
        .expect("payload serializes");
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.mac(&payload))
        )
    }

    /// The position a token carries, if it was issued by this server for `tenant`'s `scope`.
    pub fn verify(&self, tenant: &Tenant, scope: &str, token: &str) -> Result<i64, ApiError> {
        let tampered = || {
            ApiError::bad_parameter(
                "page_token",
                "is not a token this server issued for this listing; use the next_page_token of the previous page as is, or leave it out to start from the beginning",
            )
        };
        let (payload, mac) = token.split_once('.').ok_or_else(tampered)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| tampered())?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| tampered())?;
        let mut check = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        check.update(&payload);
        check.verify_truncated_left(&mac).map_err(|_| tampered())?;
        if mac.len() != 16 {
            return Err(tampered());
        }
        let payload: Payload = serde_json::from_slice(&payload).map_err(|_| tampered())?;
        if payload.t != tenant.as_str() || payload.s != scope {
            return Err(tampered());
        }
        Ok(payload.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_for_its_own_tenant_and_listing_and_unaltered() {
        let tokens = PageTokens::new(vec![7; 32]);
        let acme = Tenant::parse("acme").unwrap();
        let token = tokens.issue(&acme, "steps:1", 41);
        assert_eq!(tokens.verify(&acme, "steps:1", &token).unwrap(), 41);
        assert!(tokens.verify(&acme, "steps:2", &token).is_err());
        assert!(tokens
            .verify(&Tenant::default(), "steps:1", &token)
            .is_err());
        let forged = tokens.issue(&acme, "steps:1", 41).replace('.', "x.");
        assert!(tokens.verify(&acme, "steps:1", &forged).is_err());
        let other_key = PageTokens::new(vec![8; 32]);
        assert!(other_key.verify(&acme, "steps:1", &token).is_err());
    }
}
