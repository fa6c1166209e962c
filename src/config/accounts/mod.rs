//! `accounts:`: several Alibaba Cloud accounts, each with its own credentials and regions.
//!
//! ```yaml
//! accounts:
//!   - name: prod
//!     credentials: {source: oidc}
//!     regions: [...]
//!   - name: analytics
//!     credentials: {source: oidc}
//!     assume_role: {role_arn: "acs:ram::1234567890123456:role/dbs-reader", external_id: x}
//!     regions: [...]
//! ```
//!
//! As everywhere in the file, each value is checked inside its own deserializer call so that a
//! mistake is reported at its line and column. `credentials` is read by hand rather than as a
//! tagged enum: serde buffers a tagged enum's content, and positions are lost in the buffer.

mod credentials;
mod values;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

use self::credentials::RawCredentials;
use self::values::{AccountName, ExternalId, RoleArn, SessionDuration, SessionName};
use super::list::UniqueList;
use super::region::RawRegion;
use super::values::Endpoint;
use super::RegionConfig;
use crate::credentials::{AssumeRoleSpec, CredentialSource, CredentialSpec, DEFAULT_ROLE_SESSION_NAME};

/// One account: its credentials and the regions read with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountConfig {
    /// The value of the `account` label when more than one account is configured.
    pub name: String,
    pub credentials: CredentialSpec,
    pub regions: Vec<RegionConfig>,
}

impl AccountConfig {
    /// The name of the one account a configuration without `accounts:` describes.
    pub const IMPLICIT_NAME: &'static str = "default";

    /// The account of a configuration with top-level `regions`: the default credential chain.
    pub fn implicit(regions: Vec<RegionConfig>) -> Self {
        AccountConfig {
            name: Self::IMPLICIT_NAME.to_string(),
            credentials: CredentialSpec::default(),
            regions,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub name: AccountName,
    #[serde(default)]
    pub credentials: Option<RawCredentials>,
    #[serde(default)]
    pub assume_role: Option<RawAssumeRole>,
    pub regions: UniqueList<RawRegion>,
}

impl RawAccount {
    pub fn into_config(self) -> AccountConfig {
        AccountConfig {
            name: self.name.0,
            credentials: CredentialSpec {
                source: self.credentials.map_or(CredentialSource::DefaultChain, |c| c.0),
                assume_role: self.assume_role.map(RawAssumeRole::into_spec),
            },
            regions: self.regions.0.into_iter().map(RegionConfig::from).collect(),
        }
    }

    /// `(region, instance)` pairs, to refuse an instance listed under two accounts.
    fn instances(&self) -> impl Iterator<Item = (&str, &str)> {
        self.regions.0.iter().flat_map(|region| {
            region
                .instances
                .0
                .iter()
                .flat_map(|list| list.0.iter())
                .map(move |instance| (region.region_id.0.as_str(), instance.instance_id.0.as_str()))
        })
    }
}

/// A non-empty list of accounts with distinct names, no instance listed by two of them (its
/// series would be counted twice by any sum over accounts).
pub(super) struct AccountList(pub Vec<RawAccount>);

impl<'de> Deserialize<'de> for AccountList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(AccountListVisitor)
    }
}

struct AccountListVisitor;

impl<'de> Visitor<'de> for AccountListVisitor {
    type Value = AccountList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of at least one account")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AccountList, A::Error> {
        let mut accounts: Vec<RawAccount> = Vec::new();
        while let Some(account) = seq.next_element_seed(NewAccount { earlier: &accounts })? {
            accounts.push(account);
        }
        if accounts.is_empty() {
            return Err(de::Error::custom("must list at least one account"));
        }
        Ok(AccountList(accounts))
    }
}

/// Reads one account and checks it against the earlier ones inside the same call, so that the
/// error is placed at this account.
struct NewAccount<'a> {
    earlier: &'a [RawAccount],
}

impl<'de> DeserializeSeed<'de> for NewAccount<'_> {
    type Value = RawAccount;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawAccount, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NewAccount<'_> {
    type Value = RawAccount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an account: a mapping with `name` and `regions`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawAccount, A::Error> {
        let account = RawAccount::deserialize(MapAccessDeserializer::new(map))?;
        if let Some(index) = self.earlier.iter().position(|earlier| earlier.name.0 == account.name.0) {
            return Err(de::Error::custom(format!(
                "account {:?} is listed twice (first at index {index})",
                account.name.0
            )));
        }
        for (region, instance) in account.instances() {
            if let Some(earlier) =
                self.earlier.iter().find(|earlier| earlier.instances().any(|i| i == (region, instance)))
            {
                return Err(de::Error::custom(format!(
                    "instance {instance:?} in {region} is already listed by account {:?}",
                    earlier.name.0
                )));
            }
        }
        Ok(account)
    }
}
/// `assume_role: {role_arn, session_name, external_id, duration, sts_endpoint}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAssumeRole {
    pub role_arn: RoleArn,
    #[serde(default)]
    pub session_name: Option<SessionName>,
    #[serde(default)]
    pub external_id: Option<ExternalId>,
    #[serde(default)]
    pub duration: Option<SessionDuration>,
    #[serde(default)]
    pub sts_endpoint: Option<Endpoint>,
}

impl RawAssumeRole {
    fn into_spec(self) -> AssumeRoleSpec {
        let mut spec = AssumeRoleSpec::new(self.role_arn.0);
        spec.session_name = self.session_name.map_or_else(|| DEFAULT_ROLE_SESSION_NAME.to_string(), |s| s.0);
        spec.external_id = self.external_id.map(|id| id.0);
        if let Some(duration) = self.duration {
            spec.duration = duration.0;
        }
        spec.sts_endpoint = self.sts_endpoint.map(|endpoint| endpoint.0);
        spec
    }
}

#[cfg(test)]
mod tests;
