//! The gateway's refusals, each with its documented code and HTTP status.

use std::time::{Duration, SystemTime};

use super::*;
use crate::gateway::signature::format_timestamp;

async fn refused(sim: &SimHandle, request: BTreeMap<String, String>) -> (u16, String, String) {
    let reply = send(sim, "POST", &request).await;
    let code = reply.code();
    (reply.status, code, reply.json()["Message"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn each_missing_common_parameter_is_named() {
    let sim = start(simulator()).await;
    for missing in ["AccessKeyId", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp"] {
        let request = signed("POST", params(AK, &[(missing, "")]), SECRET);
        let (status, code, message) = refused(&sim, request).await;
        assert_eq!((status, code.as_str()), (400, format!("Missing{missing}").as_str()));
        assert!(message.contains(missing), "{message}");
    }
    let (status, code, _) = refused(&sim, params(AK, &[])).await;
    assert_eq!((status, code.as_str()), (400, "MissingSignature"));
}

#[tokio::test]
async fn only_hmac_sha1_signature_v1_is_accepted() {
    let sim = start(simulator()).await;
    let request = signed("POST", params(AK, &[("SignatureMethod", "HMAC-SHA256")]), SECRET);
    assert_eq!(refused(&sim, request).await.1, "InvalidSignatureMethod");
    let request = signed("POST", params(AK, &[("SignatureVersion", "2.0")]), SECRET);
    assert_eq!(refused(&sim, request).await.1, "InvalidSignatureVersion");
}

#[tokio::test]
async fn an_unknown_access_key_is_not_found() {
    let sim = start(simulator()).await;
    let (status, code, _) = refused(&sim, signed("POST", params("LTAIunknown", &[]), SECRET)).await;
    assert_eq!((status, code.as_str()), (404, "InvalidAccessKeyId.NotFound"));
}

#[tokio::test]
async fn a_wrong_signature_shows_the_server_string_to_sign_but_not_the_secret() {
    let sim = start(simulator()).await;
    let request = signed("POST", params(AK, &[]), "not-the-secret");
    let (status, code, message) = refused(&sim, request).await;
    assert_eq!((status, code.as_str()), (400, "SignatureDoesNotMatch"));
    assert!(message.contains("server string to sign is:POST&%2F&AccessKeyId%3D"), "{message}");
    assert!(!message.contains(SECRET));

    // Signed for GET but sent as POST: the method is part of what is signed.
    let (_, code, _) = refused(&sim, signed("GET", params(AK, &[]), SECRET)).await;
    assert_eq!(code, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn a_timestamp_off_by_more_than_fifteen_minutes_is_expired() {
    let sim = start(simulator()).await;
    for offset in [-16i64, 16] {
        let at = if offset < 0 {
            SystemTime::now() - Duration::from_secs(16 * 60)
        } else {
            SystemTime::now() + Duration::from_secs(16 * 60)
        };
        let request = signed("POST", params(AK, &[("Timestamp", &format_timestamp(at))]), SECRET);
        let (status, code, _) = refused(&sim, request).await;
        assert_eq!((status, code.as_str()), (400, "InvalidTimeStamp.Expired"), "{offset} min");
    }
    let skewed = format_timestamp(SystemTime::now() - Duration::from_secs(14 * 60));
    assert_eq!(call(&sim, &[("Timestamp", &skewed)]).await.status, 200);
    let request = signed("POST", params(AK, &[("Timestamp", "yesterday")]), SECRET);
    assert_eq!(refused(&sim, request).await.1, "InvalidTimeStamp.Format");
}

#[tokio::test]
async fn a_replayed_nonce_is_rejected() {
    let sim = start(simulator()).await;
    let request = signed("POST", params(AK, &[]), SECRET);
    assert_eq!(send(&sim, "POST", &request).await.status, 200);
    let (status, code, _) = refused(&sim, request).await;
    assert_eq!((status, code.as_str()), (400, "SignatureNonceUsed"));
}

#[tokio::test]
async fn sts_keys_need_their_own_unexpired_token() {
    let later = SystemTime::now() + Duration::from_secs(3600);
    let earlier = SystemTime::now() - Duration::from_secs(1);
    let sim =
        start(
            simulator()
                .with_sts_credentials("STS.live", "sts-secret", "token-live", later)
                .with_sts_credentials("STS.old", "old-secret", "token-old", earlier),
        )
        .await;
    let sts =
        |id: &str, secret: &str, token: &str| signed("POST", params(id, &[("SecurityToken", token)]), secret);

    assert_eq!(send(&sim, "POST", &sts("STS.live", "sts-secret", "token-live")).await.status, 200);
    let (status, code, _) = refused(&sim, sts("STS.live", "sts-secret", "")).await;
    assert_eq!((status, code.as_str()), (400, "InvalidSecurityToken.Malformed"));
    let (status, code, _) = refused(&sim, sts("STS.live", "sts-secret", "token-old")).await;
    assert_eq!((status, code.as_str()), (400, "InvalidSecurityToken.MismatchWithAccessKey"));
    let (status, code, _) = refused(&sim, sts("STS.old", "old-secret", "token-old")).await;
    assert_eq!((status, code.as_str()), (400, "InvalidSecurityToken.Expired"));
}

#[tokio::test]
async fn several_accounts_may_sign() {
    let sim = start(simulator().with_access_key("LTAIsecond", "second-secret")).await;
    assert_eq!(call(&sim, &[]).await.status, 200);
    let request = signed("POST", params("LTAIsecond", &[]), "second-secret");
    assert_eq!(send(&sim, "POST", &request).await.status, 200);
}

#[tokio::test]
async fn wrong_action_version_region_or_a_forbidden_instance_are_refused() {
    let sim = start(simulator().with_forbidden_instance("cn-hangzhou", "rm-locked")).await;
    let (status, code, _) =
        refused(&sim, signed("POST", params(AK, &[("Action", "DescribeBackups")]), SECRET)).await;
    assert_eq!((status, code.as_str()), (404, "InvalidAction.NotFound"));
    let (status, code, _) =
        refused(&sim, signed("POST", params(AK, &[("Version", "2019-03-06")]), SECRET)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidVersion"));
    let (status, code, _) = refused(&sim, signed("POST", params(AK, &[("RegionCode", "")]), SECRET)).await;
    assert_eq!((status, code.as_str()), (400, "MissingRegionCode"));
    let request = signed("POST", params(AK, &[("InstanceName", "rm-locked")]), SECRET);
    let (status, code, _) = refused(&sim, request).await;
    assert_eq!((status, code.as_str()), (403, "Forbidden.RAM"));
    assert_eq!(call(&sim, &[]).await.status, 200, "other instances are allowed");
}
