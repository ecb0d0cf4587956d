//! Requests per second per client: a token bucket per API key (the SHA-256 of the bearer
//! token, never the token itself) once the key has authenticated a request, and otherwise per
//! client IP address — so a client that sends a new made-up token with every request is still
//! limited by its address.
//!
//! Memory is bounded: a bucket that has refilled is the same as no bucket, so idle buckets
//! are dropped every [`SWEEP_INTERVAL`] and whenever the table reaches [`MAX_BUCKETS`]; if it
//! is still full then (a flood of distinct clients), the least recently seen bucket goes.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::KeyVerified;
use crate::error::ApiError;

/// The most clients tracked at once (about 100 bytes each).
pub const MAX_BUCKETS: usize = 100_000;
/// How often idle buckets are swept out.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Paths never limited: probes and scrapers must get through to report an overload.
const EXEMPT_PATHS: [&str; 2] = ["/healthz", "/metrics"];

/// Whom a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    /// The first 16 bytes of the SHA-256 of a bearer token.
    Token([u8; 16]),
    /// A client without a token.
    Address(IpAddr),
}

/// The first 16 bytes of the SHA-256 of the request's bearer token, if it has one.
fn token_hash(request: &Request) -> Option<[u8; 16]> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())?;
    let digest = Sha256::digest(token.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    Some(key)
}

/// The peer's address (unspecified when the server was not given connection info).
fn peer_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The rate and burst every client gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size: the most requests at once after an idle spell.
    pub burst: u32,
}

/// Token buckets of the clients seen recently. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    state: Arc<Mutex<Buckets>>,
    /// Hashes of tokens that authenticated a request (a live key): only those get a bucket
    /// of their own. Bounded like the buckets: when full it is emptied, and the keys in use
    /// are charged to their address until their next request proves them again.
    verified: Arc<Mutex<HashSet<[u8; 16]>>>,
}

struct Buckets {
    by_client: HashMap<ClientKey, Bucket>,
    last_sweep: Instant,
}

impl RateLimiter {
    /// A limiter giving every client `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            state: Arc::new(Mutex::new(Buckets {
                by_client: HashMap::new(),
                last_sweep: Instant::now(),
            })),
            verified: Arc::default(),
        }
    }

    /// The bucket a request is charged to: its token's if that token is a verified key, else
    /// its address's.
    fn client_of(&self, token: Option<[u8; 16]>, address: IpAddr) -> ClientKey {
        match token {
            Some(hash)
                if self
                    .verified
                    .lock()
                    .expect("verified keys lock")
                    .contains(&hash) =>
            {
                ClientKey::Token(hash)
            }
            _ => ClientKey::Address(address),
        }
    }

    /// Remembers whether `hash` authenticated the request just answered: a key revoked since
    /// goes back to its address's bucket.
    fn learn(&self, hash: [u8; 16], verified: bool) {
        let mut keys = self.verified.lock().expect("verified keys lock");
        if !verified {
            keys.remove(&hash);
            return;
        }
        if keys.len() >= MAX_BUCKETS && !keys.contains(&hash) {
            keys.clear();
        }
        keys.insert(hash);
    }

    /// Takes a token from `client`'s bucket, or says how long until one is there.
    fn take(&self, client: ClientKey, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second;
        let mut state = self.state.lock().expect("rate limiter lock");
        if now.duration_since(state.last_sweep) >= SWEEP_INTERVAL
            || (state.by_client.len() >= MAX_BUCKETS && !state.by_client.contains_key(&client))
        {
            state.sweep(now, rate, burst);
        }
        let bucket = state.by_client.entry(client).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::try_from_secs_f64((1.0 - bucket.tokens) / rate).unwrap_or(Duration::MAX))
        }
    }

    /// How many clients have a bucket (for tests of the bound).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap().by_client.len()
    }
}

impl Buckets {
    /// Drops refilled buckets, then — if the table is still full — the least recently seen
    /// tenth, so a flood of new clients pays for a full scan only once in many requests.
    fn sweep(&mut self, now: Instant, rate: f64, burst: f64) {
        self.by_client
            .retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        if self.by_client.len() >= MAX_BUCKETS {
            let mut seen: Vec<Instant> = self.by_client.values().map(|b| b.updated).collect();
            let (_, &mut cutoff, _) = seen.select_nth_unstable(MAX_BUCKETS / 10);
            self.by_client.retain(|_, b| b.updated > cutoff);
        }
        self.last_sweep = now;
    }
}

/// Whether requests to `path` are never limited.
pub fn is_exempt(path: &str) -> bool {
    EXEMPT_PATHS.contains(&path)
}

/// Answers 429 with `Retry-After` when the client's bucket is empty; health and metrics are
/// exempt.
pub async fn limit_rate(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    if is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let token = token_hash(&request);
    let client = limiter.client_of(token, peer_address(&request));
    match limiter.take(client, Instant::now()) {
        Ok(()) => {
            let response = next.run(request).await;
            if let Some(hash) = token {
                limiter.learn(hash, response.extensions().get::<KeyVerified>().is_some());
            }
            response
        }
        Err(wait) => ApiError::TooManyRequests {
            detail: format!(
                "over the rate limit of {} requests per second (bursts of {}) for this API key \
                 or, without a valid one, this client address; retry after the Retry-After seconds",
                limiter.limit.per_second, limiter.limit.burst
            ),
            limit: None,
            retry_after: wait,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst })
    }

    #[test]
    fn only_a_verified_key_has_a_bucket_of_its_own_and_made_up_tokens_pay_for_their_address() {
        let l = limiter(1.0, 2);
        let address: IpAddr = "10.0.0.9".parse().unwrap();
        let t0 = Instant::now();
        // A new made-up token per request: every one is charged to the address.
        for n in 0u8..2 {
            assert_eq!(l.take(l.client_of(Some([n; 16]), address), t0), Ok(()));
            l.learn([n; 16], false);
        }
        assert!(l.take(l.client_of(Some([7; 16]), address), t0).is_err());
        // A key that authenticated a request is limited on its own from then on…
        l.learn([42; 16], true);
        assert_eq!(
            l.client_of(Some([42; 16]), address),
            ClientKey::Token([42; 16])
        );
        assert_eq!(l.take(l.client_of(Some([42; 16]), address), t0), Ok(()));
        // …until it fails to (revoked): back to the address.
        l.learn([42; 16], false);
        assert_eq!(
            l.client_of(Some([42; 16]), address),
            ClientKey::Address(address)
        );
        assert_eq!(l.client_of(None, address), ClientKey::Address(address));
    }

    #[test]
    fn a_burst_passes_then_the_rate_refills_one_token_at_a_time() {
        let l = limiter(2.0, 3);
        let client = ClientKey::Address("10.0.0.1".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take(client, t0), Ok(()));
        }
        let wait = l.take(client, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(l.take(client, t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.take(client, t0 + Duration::from_millis(500)).is_err());
        // Another client has its own bucket.
        let other = ClientKey::Address("10.0.0.2".parse().unwrap());
        assert_eq!(l.take(other, t0), Ok(()));
    }

    #[test]
    fn idle_buckets_are_swept_and_the_table_never_exceeds_its_bound() {
        let l = limiter(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS as u32 + 10) {
            let client = ClientKey::Address(IpAddr::V4(Ipv4Addr::from(i)));
            let _ = l.take(client, t0);
        }
        assert!(l.tracked() <= MAX_BUCKETS);
        // After the sweep interval every bucket has refilled and is dropped.
        let later = t0 + SWEEP_INTERVAL;
        let _ = l.take(ClientKey::Address("10.9.9.9".parse().unwrap()), later);
        assert_eq!(l.tracked(), 1);
    }
}
