use std::time::Duration;

use super::*;
use crate::config::parse;

fn refused(text: &str) -> String {
    match parse(text, "c.yaml") {
        Ok(config) => panic!("accepted {text:?} as {config:?}"),
        Err(err) => err.to_string(),
    }
}

#[track_caller]
fn assert_refused(text: &str, place_and_field: &str, why: &str) {
    let message = refused(text);
    assert!(message.starts_with(place_and_field), "expected {place_and_field:?} at the start of:\n{message}");
    assert!(message.contains(why), "expected {why:?} in:\n{message}");
}

const REGIONS: &str = "    regions: [{region_id: cn-hangzhou, instances: [{instance_id: rm-1}]}]\n";

fn account(name: &str, body: &str) -> String {
    format!("  - name: {name}\n{body}")
}

#[test]
fn the_shipped_accounts_example_parses_with_every_key_read() {
    let config =
        parse(include_str!("../../../config/example-accounts.yaml"), "example-accounts.yaml").unwrap();
    let names: Vec<&str> = config.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["prod", "analytics", "legacy"]);
    assert!(config.labels_accounts());
    assert_eq!(config.regions.len(), 4, "every account's regions, flattened");
    assert_eq!(config.instance_count(), 4);

    let oidc = CredentialSource::Oidc {
        role_arn: None,
        oidc_provider_arn: None,
        token_file: None,
        role_session_name: None,
        sts_endpoint: None,
    };
    assert_eq!(config.accounts[0].credentials, CredentialSpec { source: oidc.clone(), assume_role: None });
    let role = config.accounts[1].credentials.assume_role.clone().unwrap();
    assert_eq!(role.role_arn, "acs:ram::1234567890123456:role/dbs-exporter-reader");
    assert_eq!(role.session_name, "dbs-exporter");
    assert_eq!(role.external_id.as_deref(), Some("a1b2c3d4e5"));
    assert_eq!(role.duration, Duration::from_secs(3600));
    assert_eq!(config.accounts[1].credentials.source, oidc);
    assert_eq!(
        config.accounts[2].credentials.source,
        CredentialSource::Environment {
            access_key_id_var: "LEGACY_ACCESS_KEY_ID".into(),
            access_key_secret_var: "LEGACY_ACCESS_KEY_SECRET".into(),
            security_token_var: None,
        }
    );
    assert_eq!(config.accounts[1].regions[1].region_id, "ap-southeast-1");
}

#[test]
fn top_level_regions_are_one_implicit_account_on_the_default_chain() {
    let config = parse("regions:\n  - region_id: a\n    instances: [{instance_id: x}]\n", "c.yaml").unwrap();
    assert_eq!(config.accounts, vec![AccountConfig::implicit(config.regions.clone())]);
    assert_eq!(config.accounts[0].name, "default");
    assert_eq!(config.accounts[0].credentials, CredentialSpec::default());
    assert!(!config.labels_accounts());
}

#[test]
fn one_listed_account_has_no_account_label_and_credentials_default_to_the_chain() {
    let config = parse(&format!("accounts:\n{}", account("only", REGIONS)), "c.yaml").unwrap();
    assert_eq!(config.accounts.len(), 1);
    assert_eq!(config.accounts[0].credentials, CredentialSpec::default());
    assert!(!config.labels_accounts());
}

#[test]
fn accounts_and_top_level_regions_exclude_each_other() {
    let text = format!(
        "regions:\n  - region_id: a\n    instances: [{{instance_id: x}}]\naccounts:\n{}",
        account("a", REGIONS)
    );
    assert_refused(&text, "c.yaml:5:3: accounts: ", "cannot be used with top-level `regions`");
    assert_refused("accounts: []\n", "c.yaml:1:11: accounts: ", "at least one account");
    // Written but empty is not left out: the value itself is refused.
    assert_refused("regions:\n", "c.yaml:1:9: regions: ", "at least one region");
    assert_refused("page_size: 10\n", "c.yaml:1:1: ", "either `regions` or `accounts` is needed");
}

#[test]
fn account_names_and_instances_are_unique_across_accounts() {
    let text = format!("accounts:\n{}{}", account("a", REGIONS), account("a", REGIONS));
    assert_refused(&text, "c.yaml:4:5: accounts[1]: ", "account \"a\" is listed twice");
    let text = format!("accounts:\n{}{}", account("a", REGIONS), account("b", REGIONS));
    assert_refused(
        &text,
        "c.yaml:4:5: accounts[1]: ",
        "instance \"rm-1\" in cn-hangzhou is already listed by account \"a\"",
    );
    let text = format!("accounts:\n{}", account("a b", REGIONS));
    assert_refused(&text, "c.yaml:2:11: accounts[0].name: ", "is not an account name");
}

#[test]
fn an_unknown_source_or_setting_is_placed_at_it() {
    let text =
        format!("accounts:\n{}", account("a", &format!("    credentials: {{source: vault}}\n{REGIONS}")));
    assert_refused(&text, "c.yaml:3:27: accounts[0].credentials.source: ", "unknown variant `vault`");
    let text = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials: {{source: oidc, colour: red}}\n{REGIONS}"))
    );
    assert_refused(&text, "c.yaml:3:33: accounts[0].credentials.colour: ", "unknown field `colour`");
    let text =
        format!("accounts:\n{}", account("a", &format!("    credentials: {{role_arn: x}}\n{REGIONS}")));
    assert_refused(&text, "c.yaml:3:29: accounts[0].credentials.role_arn: ", "not a RAM role ARN");
    let text = format!("accounts:\n{}", account("a", &format!("    credentials: {{profile: p}}\n{REGIONS}")));
    assert_refused(&text, "c.yaml:3:18: accounts[0].credentials: ", "missing field `source`");
}

#[test]
fn a_setting_of_another_source_is_refused_before_or_after_source() {
    let after = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials:\n      source: oidc\n      role_name: r\n{REGIONS}"))
    );
    assert_refused(
        &after,
        "c.yaml:5:7: accounts[0].credentials.role_name: ",
        "`role_name` does not apply to source oidc",
    );
    let before = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials:\n      role_name: r\n      source: oidc\n{REGIONS}"))
    );
    assert_refused(
        &before,
        "c.yaml:5:15: accounts[0].credentials.source: ",
        "`role_name` does not apply to source oidc",
    );
    let none = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials: {{source: default_chain, path: p}}\n{REGIONS}"))
    );
    assert_refused(&none, "c.yaml:3:42: accounts[0].credentials.path: ", "it takes no other settings");
}

#[test]
fn environment_names_come_in_pairs_and_are_variable_names() {
    let half = format!(
        "accounts:\n{}",
        account(
            "a",
            &format!("    credentials: {{source: environment, access_key_id_env: A_ID}}\n{REGIONS}")
        )
    );
    assert!(refused(&half).contains("both access_key_id_env and access_key_secret_env"));
    let bad = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials: {{source: environment, access_key_id_env: 1D}}\n{REGIONS}"))
    );
    assert_refused(
        &bad,
        "c.yaml:3:59: accounts[0].credentials.access_key_id_env: ",
        "not an environment variable name",
    );
    let standard = format!(
        "accounts:\n{}",
        account("a", &format!("    credentials: {{source: environment}}\n{REGIONS}"))
    );
    let config = parse(&standard, "c.yaml").unwrap();
    assert_eq!(config.accounts[0].credentials.source, CredentialSource::standard_environment());
}

#[test]
fn assume_role_settings_are_checked_where_written() {
    let role = |settings: &str| {
        format!("accounts:\n{}", account("a", &format!("    assume_role: {{{settings}}}\n{REGIONS}")))
    };
    let config = parse(
        &role("role_arn: \"acs:ram::123:role/r\", duration: 15m, sts_endpoint: \"http://127.0.0.1:1\""),
        "c.yaml",
    )
    .unwrap();
    let spec = config.accounts[0].credentials.assume_role.clone().unwrap();
    assert_eq!(spec.duration, Duration::from_secs(900));
    assert_eq!(spec.sts_endpoint.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(config.accounts[0].credentials.source, CredentialSource::DefaultChain);

    assert_refused(
        &role("role_arn: \"acs:ram::123:user/r\""),
        "c.yaml:3:29: accounts[0].assume_role.role_arn: ",
        "not a RAM role ARN",
    );
    assert_refused(
        &role("role_arn: \"acs:ram::123:role/r\", duration: 13h"),
        "c.yaml:3:62: accounts[0].assume_role.duration: ",
        "from 15m to 12h",
    );
    assert_refused(
        &role("role_arn: \"acs:ram::123:role/r\", session_name: \"a b\""),
        "c.yaml:3:66: accounts[0].assume_role.session_name: ",
        "not a session name",
    );
    assert_refused(
        &role("role_arn: ~"),
        "c.yaml:3:29: accounts[0].assume_role.role_arn: ",
        "must not be null",
    );
    let message = refused(&role("role_arn: \"acs:ram::123:role/r\", external_id: \"canary id\""));
    assert!(message.contains("not an external id") && !message.contains("canary"), "{message}");
    assert_refused(
        &role("session_name: s1"),
        "c.yaml:3:18: accounts[0].assume_role: ",
        "missing field `role_arn`",
    );
}
