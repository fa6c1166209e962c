//! What the integration tests share, in one place:
//! - the keys every simulator accepts and every exporter signs with: [`KEY_ID`] and [`SECRET`],
//!   a second account's, and an STS key with its token;
//! - [`harness`]: the simulator and an exporter pointed at it, started in one go, and the
//!   handles a test holds of them;
//! - [`process`]: the real binary in a hermetic environment, its output collected and the
//!   address it listens on read back;
//! - [`server`]: an in-process server on a loopback port, certificates made on the spot and a
//!   raw HTTP/1.1 client for what reqwest will not send;
//! - [`prom_text`]: the strict reader of the exposition format, and here [`samples`], the map
//!   of a scrape's values the tests look series up in;
//! - waiting: [`eventually`], and over it [`wait_for`] and [`wait_ok`]; [`get`];
//! - [`proxy`]: a CONNECT proxy that counts the tunnels through it;
//! - [`heap`]: the bytes the current thread holds on the heap, for the leak checks.

pub mod harness;
pub mod heap;
pub mod process;
pub mod prom_text;
pub mod proxy;
pub mod server;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use harness::*;
pub use process::*;
pub use server::*;

/// Long enough for any loaded machine; the tests never assert that something is fast.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// For waits that span several poll rounds of a running exporter (rate-limited rounds of
/// seconds, reloads, state changes seen at the next listing): twice [`PATIENCE`].
pub const LONG_PATIENCE: Duration = Duration::from_secs(30);

/// The access key every simulator accepts and every exporter signs with, unless a test says
/// otherwise. The secret is a canary: tests look for it where it must never appear.
pub const KEY_ID: &str = "LTAI5tTestKeyId";
pub const SECRET: &str = "canary-secret-4f9a";

/// A second account's key, for tests of several accounts.
pub const OTHER_KEY_ID: &str = "LTAI5tOtherKeyId";
pub const OTHER_SECRET: &str = "canary-other-secret-2c";

/// The temporary (STS) key [`TestEstate::sts`] accepts, with its token. The token holds
/// characters that percent-encoding changes, so that a test can look for either spelling.
pub const STS_KEY_ID: &str = "STS.TestKeyId";
pub const STS_SECRET: &str = "canary-sts-secret-77";
pub const STS_TOKEN: &str = "canary-sts-token/CAIS+x=";

/// `text` percent-encoded as in a signed query string (RFC 3986: all but the unreserved
/// characters), the spelling a leaked token would have there.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Milliseconds since the Unix epoch, now: the creation time of a simulated task.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

pub async fn get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::Client::new().get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `url` until it answers 200, up to `within`.
pub async fn wait_ok(url: &str, within: Duration) -> bool {
    eventually(within, || async { matches!(get(url).await, Some((200, _))) }).await
}

/// Polls `check` every 50 ms until it returns true or `within` passes. Every wait of a test on
/// something it does not control goes through here.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Polls the plain `check` (a call count, a log read so far) until it holds; fails the test,
/// naming `what`, after [`LONG_PATIENCE`].
pub async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let held = eventually(LONG_PATIENCE, || std::future::ready(check())).await;
    assert!(held, "{what} never happened");
}

/// The samples of an exposition, read by the strict reader (a malformed exposition fails the
/// test), by [`series`] key: `name{a="1",b="2"}` with the labels sorted by name, since their
/// order is not part of a series' identity, or `name` alone.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let families = prom_text::parse(text).unwrap_or_else(|err| panic!("{err} in the exposition:\n{text}"));
    let samples = families.iter().flat_map(|family| &family.samples);
    samples
        .map(|sample| {
            let labels: Vec<(&str, &str)> =
                sample.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            (series(&sample.name, &labels), sample.float())
        })
        .collect()
}

/// The key of a series in [`samples`].
pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

/// The simulator's name for an exporter task type: the two crates each have their own.
pub fn sim_type(task_type: dbs_exporter::api::TaskType) -> dbs_sim::TaskType {
    match task_type {
        dbs_exporter::api::TaskType::Full => dbs_sim::TaskType::Full,
        dbs_exporter::api::TaskType::Pitr => dbs_sim::TaskType::Pitr,
    }
}
