//! HTTP basic auth against bcrypt hashes, as `basic_auth_users` of the web config lists them.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10) and Prometheus sends the same
//! credentials with every scrape, so a successful check is remembered for a while. The memory
//! holds an HMAC of the user and password under a key drawn at random per process, never the
//! password, and failures are never remembered. The cache belongs to one loaded web config:
//! any change of the file starts with an empty one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use sha1::Sha1;
use tokio::sync::Semaphore;

/// How long a verified user and password are accepted without running bcrypt again: longer than
/// common scrape intervals, so a scrape normally costs one HMAC.
pub const VERIFIED_FOR: Duration = Duration::from_secs(300);
/// Entries kept at most; a full cache is emptied of expired entries, then cleared.
const CACHE_CAPACITY: usize = 1024;
/// bcrypt checks running at once: a flood of wrong passwords queues here instead of taking every
/// core from the scrapes and the poller.
const CONCURRENT_CHECKS: usize = 2;

type CacheKey = [u8; 20];

#[derive(Debug)]
pub struct BasicAuth {
    /// user to bcrypt hash.
    users: BTreeMap<String, String>,
    cache_secret: [u8; 32],
    verified: Mutex<HashMap<CacheKey, Instant>>,
    checks: Semaphore,
    /// Checked against for unknown users, at the highest cost of the real hashes.
    decoy: Arc<OnceLock<String>>,
}

impl BasicAuth {
    /// `users` maps names to bcrypt hashes, already validated as such.
    pub fn new(users: BTreeMap<String, String>) -> Self {
        BasicAuth {
            users,
            cache_secret: rand::random(),
            verified: Mutex::new(HashMap::new()),
            checks: Semaphore::new(CONCURRENT_CHECKS),
            decoy: Arc::new(OnceLock::new()),
        }
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// Whether an `Authorization` header carries a configured user and its password.
    pub async fn authorize(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else { return false };
        let key = self.cache_key(&user, &password);
        if self.recently_verified(&key) {
            return true;
        }
        let known = self.users.get(&user).cloned();
        let (decoy, cost) = (Arc::clone(&self.decoy), self.highest_cost());
        let Ok(_permit) = self.checks.acquire().await else { return false };
        // An unknown user costs a bcrypt run as long as a known one, so timing does not tell
        // which users exist.
        let verified = tokio::task::spawn_blocking(move || {
            let hash = known.as_deref().unwrap_or_else(|| decoy.get_or_init(|| decoy_hash(cost)));
            bcrypt::verify(&password, hash).unwrap_or(false) && known.is_some()
        })
        .await
        .unwrap_or(false);
        if verified {
            self.remember(key);
        }
        verified
    }

    fn highest_cost(&self) -> u32 {
        let costs = self.users.values().filter_map(|hash| hash.parse::<bcrypt::HashParts>().ok());
        costs.map(|parts| parts.get_cost()).max().unwrap_or(bcrypt::DEFAULT_COST)
    }

    fn cache_key(&self, user: &str, password: &[u8]) -> CacheKey {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.cache_secret).expect("HMAC takes any key length");
        // The user's length first, so that no other user and password give the same input.
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    fn recently_verified(&self, key: &CacheKey) -> bool {
        let verified = crate::util::lock(&self.verified);
        verified.get(key).is_some_and(|at| at.elapsed() < VERIFIED_FOR)
    }

    fn remember(&self, key: CacheKey) {
        let mut verified = crate::util::lock(&self.verified);
        if verified.len() >= CACHE_CAPACITY {
            verified.retain(|_, at| at.elapsed() < VERIFIED_FOR);
            if verified.len() >= CACHE_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(key, Instant::now());
    }
}

/// A hash no password is known to match.
fn decoy_hash(cost: u32) -> String {
    let secret: [u8; 32] = rand::random();
    bcrypt::hash(secret, cost).unwrap_or_default()
}

/// `Basic base64(user:password)` to the user and the password's bytes.
fn parse_basic(header: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = header.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|&byte| byte == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// Whether `hash` is a bcrypt hash this crate can check (`$2a$`, `$2b$`, `$2x$` or `$2y$`, cost
/// 4 to 31, 53 characters of salt and digest).
pub fn is_bcrypt_hash(hash: &str) -> bool {
    hash.parse::<bcrypt::HashParts>().is_ok_and(|parts| (4..=31).contains(&parts.get_cost()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth() -> BasicAuth {
        let hash = bcrypt::hash("s3cret:with colon", 4).unwrap();
        BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]))
    }

    #[tokio::test]
    async fn the_right_password_passes_and_is_remembered() {
        let auth = auth();
        let right = header("alice", "s3cret:with colon");
        assert!(auth.authorize(Some(&right)).await);
        let key = auth.cache_key("alice", b"s3cret:with colon");
        assert!(auth.recently_verified(&key));
        assert!(auth.authorize(Some(&right)).await);
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_fail_and_are_not_remembered() {
        let auth = auth();
        assert!(!auth.authorize(Some(&header("alice", "s3cret"))).await);
        assert!(!auth.authorize(Some(&header("bob", "s3cret:with colon"))).await);
        assert!(!auth.authorize(None).await);
        assert!(!auth.authorize(Some(&HeaderValue::from_static("Bearer abc"))).await);
        assert!(!auth.authorize(Some(&HeaderValue::from_static("Basic !!!"))).await);
        assert!(crate::util::lock(&auth.verified).is_empty());
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_password_may_hold_colons() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("u:p:q");
        let value = HeaderValue::from_str(&format!("bAsIc {encoded}")).unwrap();
        assert_eq!(parse_basic(&value), Some(("u".to_string(), b"p:q".to_vec())));
    }

    #[test]
    fn cache_keys_separate_user_from_password() {
        let auth = auth();
        assert_ne!(auth.cache_key("ab", b"c"), auth.cache_key("a", b"bc"));
    }

    #[test]
    fn bcrypt_hashes_are_recognised() {
        assert!(is_bcrypt_hash(&bcrypt::hash("x", 4).unwrap()));
        assert!(is_bcrypt_hash("$2y$10$oMBGKdeKaFSi3E9kJGULbeK1qJ5Jwv4dQq9dAtuhV3ZGcDpJ2oX7O"));
        assert!(!is_bcrypt_hash("plaintext"));
        assert!(!is_bcrypt_hash("$1$abc$def"));
    }
}
