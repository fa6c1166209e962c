//! Which link of the credential chain is picked for each combination of variables and files.
//! The chain reads an injected lookup and home directory: the process environment is never
//! touched, and building the chain contacts no service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dbs_exporter::credentials::{
    default_chain, CredentialEndpoints, CredentialEnv, CredentialSource, CredentialSpec, CredentialsError,
};

const ROLE_ARN: &str = "acs:ram::1234567890123456:role/dbs-reader";
const PROVIDER_ARN: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1";

/// Loopback addresses nothing listens on: building the chain must not need them, and no test
/// may ever reach the real metadata service at 100.100.100.200.
fn endpoints() -> CredentialEndpoints {
    CredentialEndpoints {
        sts: Some("http://127.0.0.1:9".into()),
        ecs_metadata: Some("http://127.0.0.1:9".into()),
    }
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn token_file(&self) -> String {
        self.write("var/run/secrets/tokens/oidc-token", "eyJhbGciOi.fake.token").display().to_string()
    }

    /// The link the default chain picks for `vars`, or its error.
    fn pick(&self, vars: &[(&str, &str)]) -> Result<String, CredentialsError> {
        default_chain(lookup(vars), Some(self.path()), endpoints())
            .map(|provider| provider.describe().to_string())
    }
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| vars.get(name).cloned()
}

const INI: &str = "\
[default]
type = access_key
access_key_id = LTAIini
access_key_secret = canary-ini-secret

[other]
type = access_key
access_key_id = LTAIother
access_key_secret = canary-other-secret

[assume]
type = ram_role_arn
access_key_id = LTAIbase
access_key_secret = canary-base-secret
role_arn = acs:ram::1234567890123456:role/dbs-reader

[off]
enable = false
type = access_key
access_key_id = LTAIoff
access_key_secret = canary-off-secret

[rsa]
type = rsa_key_pair
public_key_id = x
";

const CLI: &str = r#"{
  "current": "work",
  "profiles": [
    {"name": "default", "mode": "AK", "access_key_id": "LTAIcli", "access_key_secret": "canary-cli"},
    {"name": "work", "mode": "StsToken", "access_key_id": "STS.cli", "access_key_secret": "canary-cli-sts", "sts_token": "canary-cli-token"},
    {"name": "sso", "mode": "CloudSSO"}
  ]
}"#;

#[test]
fn the_environment_wins_over_every_other_link() {
    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", INI);
    home.write(".aliyun/config.json", CLI);
    let token = home.token_file();
    let vars = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "canary-env"),
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.as_str()),
        ("ALIBABA_CLOUD_ECS_METADATA", "role"),
    ];
    assert_eq!(home.pick(&vars).unwrap(), "environment");
}

#[test]
fn half_an_access_key_is_an_error_naming_the_missing_variable() {
    let home = Home::new();
    let err = home.pick(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv")]).unwrap_err().to_string();
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"), "{err}");
    let err = home.pick(&[("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "canary")]).unwrap_err().to_string();
    assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_ID is not") && !err.contains("canary"), "{err}");
    // Empty variables, as Helm renders unused ones, count as unset.
    let vars = [("ALIBABA_CLOUD_ACCESS_KEY_ID", ""), ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", " ")];
    assert_eq!(home.pick(&vars).unwrap(), "ecs-ram-role");
}

#[test]
fn rrsa_variables_pick_oidc_over_files_and_ecs() {
    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", INI);
    home.write(".aliyun/config.json", CLI);
    let token = home.token_file();
    let vars = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.as_str()),
    ];
    assert_eq!(home.pick(&vars).unwrap(), format!("oidc:{ROLE_ARN}"));
}

#[test]
fn partial_rrsa_variables_name_what_is_missing() {
    let home = Home::new();
    let err = home.pick(&[("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN)]).unwrap_err().to_string();
    assert!(err.starts_with("oidc: ALIBABA_CLOUD_ROLE_ARN set"), "{err}");
    assert!(err.contains("ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE not"), "{err}");
}

#[test]
fn a_missing_token_file_or_a_vpc_switch_without_region_is_reported_at_start() {
    let home = Home::new();
    let vars = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent/token"),
    ];
    let err = home.pick(&vars).unwrap_err().to_string();
    assert!(err.contains("cannot read the OIDC token file /nonexistent/token"), "{err}");

    let token = home.token_file();
    let vars = [
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.as_str()),
        ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true"),
    ];
    // With the endpoint left to the environment, the VPC switch needs a region.
    let env = CredentialEnv::new(lookup(&vars), Some(home.path()), CredentialEndpoints::default());
    let err = env.default_chain().unwrap_err().to_string();
    assert!(err.contains("ALIBABA_CLOUD_STS_REGION"), "{err}");
}

#[test]
fn the_cli_profile_comes_before_the_credentials_file_as_in_the_sdks() {
    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", INI);
    home.write(".aliyun/config.json", CLI);
    assert_eq!(home.pick(&[]).unwrap(), "cli-profile:work", "the CLI's `current` profile");
    assert_eq!(home.pick(&[("ALIBABA_CLOUD_PROFILE", "default")]).unwrap(), "cli-profile:default");
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_PROFILE", "other")]).unwrap(),
        "credentials-file:other",
        "a profile the CLI file lacks is looked for in the credentials file"
    );
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")]).unwrap(),
        "credentials-file:default"
    );
    let err = home.pick(&[("ALIBABA_CLOUD_PROFILE", "sso")]).unwrap_err().to_string();
    assert!(err.contains("mode \"CloudSSO\" is not supported"), "{err}");
}

#[test]
fn the_credentials_file_gives_access_keys_and_assumed_roles_by_profile() {
    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", INI);
    assert_eq!(home.pick(&[]).unwrap(), "credentials-file:default");
    assert_eq!(home.pick(&[("ALIBABA_CLOUD_PROFILE", "other")]).unwrap(), "credentials-file:other");
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_PROFILE", "assume")]).unwrap(),
        format!("assume-role:{ROLE_ARN} via credentials-file:assume")
    );
    let err = home.pick(&[("ALIBABA_CLOUD_PROFILE", "off")]).unwrap_err().to_string();
    assert!(err.contains("ALIBABA_CLOUD_PROFILE names a profile that is in none of"), "{err}");
    let err = home.pick(&[("ALIBABA_CLOUD_PROFILE", "rsa")]).unwrap_err().to_string();
    assert!(err.contains("credentials.ini:24: [rsa]: type `rsa_key_pair` is not supported"), "{err}");
}

#[test]
fn a_named_credentials_file_must_exist_and_is_used_from_anywhere() {
    let home = Home::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("creds.ini");
    std::fs::write(&path, INI).unwrap();
    let named = path.display().to_string();
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", named.as_str())]).unwrap(),
        "credentials-file:default"
    );

    home.write("dot/creds.ini", "[default]\naccess_key_id = a\naccess_key_secret = b\n");
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", "~/dot/creds.ini")]).unwrap(),
        "credentials-file:default",
        "~ is the home directory; type defaults to access_key"
    );

    let err =
        home.pick(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent/creds.ini")]).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/creds.ini, which does not exist"), "{err}");
    let err = home
        .pick(&[("ALIBABA_CLOUD_CREDENTIALS_FILE", named.as_str()), ("ALIBABA_CLOUD_PROFILE", "absent")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no enabled profile [absent]"), "{err}");
}

#[test]
fn a_malformed_file_is_an_error_at_its_line_never_quoting_a_value() {
    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", "[default]\naccess_key_id = LTAI\ncanary-secret-value\n");
    let err = home.pick(&[]).unwrap_err().to_string();
    assert!(err.contains("credentials.ini:3: expected `key = value`"), "{err}");
    assert!(!err.contains("canary"), "{err}");

    let home = Home::new();
    home.write(".aliyun/config.json", "{\"profiles\": [");
    let err = home.pick(&[]).unwrap_err().to_string();
    assert!(err.contains("config.json: not JSON"), "{err}");

    let home = Home::new();
    home.write(".alibabacloud/credentials.ini", "[default]\ntype = access_key\naccess_key_id = LTAI\n");
    let err = home.pick(&[]).unwrap_err().to_string();
    assert!(err.contains("[default]: `access_key_secret` is missing or empty"), "{err}");
}

#[test]
fn a_profile_asked_for_by_name_must_exist_somewhere() {
    let home = Home::new();
    let err = home.pick(&[("ALIBABA_CLOUD_PROFILE", "prod")]).unwrap_err().to_string();
    assert!(err.contains("there is no ~/.aliyun/config.json nor credentials file"), "{err}");
}

#[test]
fn with_nothing_configured_the_ecs_role_is_last_unless_disabled() {
    let home = Home::new();
    assert_eq!(home.pick(&[]).unwrap(), "ecs-ram-role", "the role is listed at the first fetch");
    assert_eq!(home.pick(&[("ALIBABA_CLOUD_ECS_METADATA", "EcsReader")]).unwrap(), "ecs-ram-role:EcsReader");
    let err = home.pick(&[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")]).unwrap_err();
    assert!(matches!(err, CredentialsError::NotConfigured), "{err}");
    assert!(err.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_ID"), "{err}");
    assert_eq!(
        home.pick(&[("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false")]).unwrap(),
        "ecs-ram-role",
        "only `true` disables"
    );
    // No home directory at all: no file is looked for in the working directory.
    let provider = default_chain(lookup(&[]), None, endpoints()).unwrap();
    assert_eq!(provider.describe(), "ecs-ram-role");
}

#[test]
fn an_account_picks_its_own_link_whatever_the_chain_would() {
    let home = Home::new();
    let ini = home.write(".alibabacloud/credentials.ini", INI);
    home.write(".aliyun/config.json", CLI);
    let token = home.token_file();
    let vars = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "canary-env"),
        ("PROD_ID", "LTAIprod"),
        ("PROD_SECRET", "canary-prod"),
        ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER_ARN),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.as_str()),
    ];
    let env = CredentialEnv::new(lookup(&vars), Some(home.path()), endpoints());
    let pick = |source: CredentialSource| {
        env.provider(&CredentialSpec { source, assume_role: None }).map(|p| p.describe().to_string())
    };

    assert_eq!(pick(CredentialSource::DefaultChain).unwrap(), "environment");
    let prod = CredentialSource::Environment {
        access_key_id_var: "PROD_ID".into(),
        access_key_secret_var: "PROD_SECRET".into(),
        security_token_var: None,
    };
    assert_eq!(pick(prod).unwrap(), "environment:PROD_ID");
    let oidc = CredentialSource::Oidc {
        role_arn: Some(ROLE_ARN.into()),
        oidc_provider_arn: None,
        token_file: None,
        role_session_name: None,
        sts_endpoint: None,
    };
    assert_eq!(pick(oidc).unwrap(), format!("oidc:{ROLE_ARN}"), "the rest from the RRSA variables");
    let file = CredentialSource::CredentialsFile { path: Some(ini.clone()), profile: Some("other".into()) };
    assert_eq!(pick(file).unwrap(), "credentials-file:other");
    let cli = CredentialSource::CliProfile { path: None, profile: None };
    assert_eq!(pick(cli).unwrap(), "cli-profile:work");
    assert_eq!(pick(CredentialSource::EcsRamRole { role_name: Some("r".into()) }).unwrap(), "ecs-ram-role:r");

    let missing = CredentialSource::Environment {
        access_key_id_var: "NOPE_ID".into(),
        access_key_secret_var: "NOPE_SECRET".into(),
        security_token_var: None,
    };
    assert!(pick(missing).unwrap_err().to_string().contains("NOPE_ID and NOPE_SECRET are not set"));
    let absent =
        CredentialSource::CredentialsFile { path: Some(Path::new("/nonexistent.ini").into()), profile: None };
    assert!(pick(absent).unwrap_err().to_string().contains("does not exist"));
}
