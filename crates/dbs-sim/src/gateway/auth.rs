//! The gateway's checks before a signed request reaches a product: common parameters,
//! signature V1, timestamp window, nonce replay and STS tokens, in the order the real gateway
//! applies them. The keys it knows are the gateway's, whichever product they call.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::signature::{self, parse_timestamp};
use super::wire::GatewayError;
use crate::util::lock;

/// How far a request's `Timestamp` may be from the server's clock, either way.
const TIMESTAMP_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A nonce is remembered for the whole span in which its request could still pass the timestamp
/// check (15 minutes either side), so no replay slips through once it is forgotten.
const NONCE_TTL: Duration = Duration::from_secs(30 * 60);

/// Past this many remembered nonces the oldest are forgotten, bounding memory under a soak test.
const NONCE_CAPACITY: usize = 200_000;

/// Parameters every signed RPC request carries, checked in this order.
const REQUIRED: [&str; 8] = [
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Action",
    "Version",
];

/// A key the gateway accepts.
#[derive(Clone, Debug)]
pub struct Account {
    secret: String,
    /// A temporary key's token and expiry: only STS hands them out, and only the test fakes
    /// and tests make them (the `testing` feature).
    #[cfg(feature = "testing")]
    sts: Option<StsGrant>,
}

#[cfg(feature = "testing")]
#[derive(Clone, Debug)]
struct StsGrant {
    token: String,
    expires_at: SystemTime,
}

impl Account {
    /// A long-lived AccessKey's secret.
    pub fn permanent(secret: impl Into<String>) -> Self {
        Account {
            secret: secret.into(),
            #[cfg(feature = "testing")]
            sts: None,
        }
    }

    /// A temporary key: accepted only with its `SecurityToken`, and only until `expires_at`.
    #[cfg(feature = "testing")]
    pub fn sts(secret: impl Into<String>, token: impl Into<String>, expires_at: SystemTime) -> Self {
        Account { secret: secret.into(), sts: Some(StsGrant { token: token.into(), expires_at }) }
    }
}

/// Every key the gateway accepts, by AccessKeyId. Products may add keys while serving (STS
/// hands out temporary ones that every product on the gateway then accepts).
#[derive(Default)]
pub struct Accounts(Mutex<HashMap<String, Account>>);

impl Accounts {
    pub fn grant(&self, access_key_id: impl Into<String>, account: Account) {
        lock(&self.0).insert(access_key_id.into(), account);
    }

    fn get(&self, access_key_id: &str) -> Option<Account> {
        lock(&self.0).get(access_key_id).cloned()
    }
}

/// Nonces seen recently, per AccessKey.
#[derive(Default)]
pub(super) struct NonceCache {
    seen: HashSet<(String, String)>,
    order: VecDeque<(SystemTime, (String, String))>,
}

impl NonceCache {
    /// Remembers the nonce; false when it was already used.
    pub fn first_use(&mut self, access_key_id: &str, nonce: &str, now: SystemTime) -> bool {
        while let Some((seen_at, _)) = self.order.front() {
            let stale = now.duration_since(*seen_at).is_ok_and(|age| age >= NONCE_TTL);
            if !stale && self.order.len() < NONCE_CAPACITY {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
        let key = (access_key_id.to_string(), nonce.to_string());
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.order.push_back((now, key));
        true
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }
}

fn bad_request(code: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::new(400, code, message)
}

/// Runs every gateway check on a request's parameters; `Ok` means it may reach DBS.
pub(super) fn authenticate(
    accounts: &Accounts,
    nonces: &Mutex<NonceCache>,
    method: &str,
    params: &BTreeMap<String, String>,
    now: SystemTime,
) -> Result<(), GatewayError> {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if let Some(missing) = REQUIRED.iter().find(|name| param(name).is_empty()) {
        return Err(bad_request(
            &format!("Missing{missing}"),
            format!("{missing} is mandatory for this action."),
        ));
    }
    if param("SignatureMethod") != signature::METHOD {
        return Err(bad_request("InvalidSignatureMethod", "Specified signature method is not valid."));
    }
    if param("SignatureVersion") != signature::VERSION {
        return Err(bad_request("InvalidSignatureVersion", "Specified signature version is not valid."));
    }
    let access_key_id = param("AccessKeyId");
    let Some(account) = accounts.get(access_key_id) else {
        return Err(GatewayError::new(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    };

    let server_string = signature::string_to_sign(method, params);
    if !signature::same(&signature::signature(&account.secret, &server_string), param("Signature")) {
        // The real gateway shows its string-to-sign so a client can diff it against its own.
        return Err(bad_request(
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server string to sign is:{server_string}"),
        ));
    }

    let Some(sent_at) = parse_timestamp(param("Timestamp")) else {
        return Err(bad_request(
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        ));
    };
    let skew = now.duration_since(sent_at).unwrap_or_else(|early| early.duration());
    if skew > TIMESTAMP_WINDOW {
        return Err(bad_request(
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }

    let first_use = lock(nonces).first_use(access_key_id, param("SignatureNonce"), now);
    if !first_use {
        return Err(bad_request("SignatureNonceUsed", "Specified signature nonce was used already."));
    }

    #[cfg(feature = "testing")]
    check_security_token(&account, param("SecurityToken"), now)?;
    Ok(())
}

/// A temporary key must come with its own `SecurityToken`, before it expires.
#[cfg(feature = "testing")]
fn check_security_token(account: &Account, token: &str, now: SystemTime) -> Result<(), GatewayError> {
    if let Some(grant) = &account.sts {
        if token.is_empty() {
            return Err(bad_request(
                "InvalidSecurityToken.Malformed",
                "Specified SecurityToken is malformed.",
            ));
        }
        if !signature::same(&grant.token, token) {
            return Err(bad_request(
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            ));
        }
        if now >= grant.expires_at {
            return Err(bad_request("InvalidSecurityToken.Expired", "Specified SecurityToken is expired."));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_the_second_time_for_the_same_key_only() {
        let mut cache = NonceCache::default();
        let now = SystemTime::now();
        assert!(cache.first_use("ak", "n1", now));
        assert!(!cache.first_use("ak", "n1", now + Duration::from_secs(60)));
        assert!(cache.first_use("other", "n1", now));
    }

    #[test]
    fn a_nonce_is_forgotten_only_after_it_could_no_longer_pass_the_timestamp_check() {
        let mut cache = NonceCache::default();
        let now = SystemTime::now();
        assert!(cache.first_use("ak", "n1", now));
        assert!(!cache.first_use("ak", "n1", now + Duration::from_secs(29 * 60)));
        assert!(cache.first_use("ak", "n1", now + Duration::from_secs(31 * 60)));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_nonce_memory_is_bounded() {
        let mut cache = NonceCache::default();
        let now = SystemTime::now();
        for i in 0..NONCE_CAPACITY + 10 {
            cache.first_use("ak", &i.to_string(), now);
        }
        assert!(cache.len() <= NONCE_CAPACITY);
    }
}
