//! Hostile input for the configuration loader: any text, any YAML-shaped document, any mangled
//! configuration is either accepted as a valid configuration or refused with a message that
//! starts with the file's name; and a valid configuration, however it is written, reads back as
//! exactly the values that were written.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;

use dbs_exporter::api::TaskType;
use dbs_exporter::config::{
    self, format_duration, Config, InstanceConfig, RegionConfig, DEFAULT_CONCURRENCY, DEFAULT_LOOKBACK,
    DEFAULT_MAX_PAGES, DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL, DEFAULT_RATE_LIMIT_PER_REGION,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY, DEFAULT_STALENESS_INTERVALS,
};

// ---------------------------------------------------------------------------------------------
// A small YAML writer, so that generated documents vary in layout as people's files do.

/// A YAML node whose scalars are already written out (quoted or not).
#[derive(Clone, Debug)]
enum Node {
    Scalar(String),
    Seq { items: Vec<Node>, flow: bool },
    Map { entries: Vec<(String, Node)>, flow: bool },
}

impl Node {
    fn is_block(&self) -> bool {
        match self {
            Node::Scalar(_) => false,
            Node::Seq { items, flow } => !flow && !items.is_empty(),
            Node::Map { entries, flow } => !flow && !entries.is_empty(),
        }
    }

    fn inline(&self) -> String {
        match self {
            Node::Scalar(text) => text.clone(),
            Node::Seq { items, .. } => {
                format!("[{}]", items.iter().map(Node::inline).collect::<Vec<_>>().join(", "))
            }
            Node::Map { entries, .. } => format!(
                "{{{}}}",
                entries.iter().map(|(k, v)| format!("{k}: {}", v.inline())).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The node in block style, every line indented by `indent`.
    fn block(&self, indent: usize, out: &mut Vec<String>) {
        let pad = " ".repeat(indent);
        match self {
            Node::Map { entries, .. } if self.is_block() => {
                for (key, value) in entries {
                    if value.is_block() {
                        out.push(format!("{pad}{key}:"));
                        value.block(indent + 2, out);
                    } else {
                        out.push(format!("{pad}{key}: {}", value.inline()));
                    }
                }
            }
            Node::Seq { items, .. } if self.is_block() => {
                for item in items {
                    if item.is_block() {
                        let mut lines = Vec::new();
                        item.block(indent + 2, &mut lines);
                        lines[0] = format!("{pad}- {}", &lines[0][indent + 2..]);
                        out.extend(lines);
                    } else {
                        out.push(format!("{pad}- {}", item.inline()));
                    }
                }
            }
            other => out.push(format!("{pad}{}", other.inline())),
        }
    }

    fn document(&self) -> String {
        let mut lines = Vec::new();
        self.block(0, &mut lines);
        lines.iter().map(|line| format!("{line}\n")).collect()
    }
}

/// A YAML double-quoted scalar: escapes for the quote, the backslash, and everything YAML does
/// not allow as is or would fold (line breaks, including NEL, LS and PS).
fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn single_quoted(text: &str) -> Option<String> {
    let writable =
        text.chars().all(|c| !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'));
    writable.then(|| format!("'{}'", text.replace('\'', "''")))
}

/// Plain only where YAML could not read the text as anything but this string.
fn plain(text: &str) -> Option<String> {
    let safe = text.split_once('-').is_some_and(|(head, tail)| {
        (2..=4).contains(&head.len())
            && head.bytes().all(|b| b.is_ascii_lowercase())
            && !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    safe.then(|| text.to_string())
}

/// A string scalar, in one of the styles that can write it.
fn string_scalar(text: String) -> impl Strategy<Value = String> {
    let styles: Vec<String> =
        [plain(&text), single_quoted(&text), Some(double_quoted(&text))].into_iter().flatten().collect();
    select(styles)
}

// ---------------------------------------------------------------------------------------------
// Valid configurations, as values and as text.

/// One setting: the value the loader must produce, and how it is written.
type Setting<T> = (T, Node);

fn int_setting(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Setting<u32>> {
    range.prop_flat_map(|n| {
        select(vec![
            n.to_string(),
            format!("+{n}"),
            format!("0x{n:x}"),
            format!("0x{n:X}"),
            format!("0o{n:o}"),
        ])
        .prop_map(move |text| (n, Node::Scalar(text)))
    })
}

fn duration_ms() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..1000,
        (1u64..120).prop_map(|s| s * 1000),
        (1u64..120).prop_map(|m| m * 60_000),
        (1u64..30).prop_map(|d| d * 86_400_000),
        1u64..30 * 86_400_000,
    ]
}

/// A duration written as `format_duration` writes it, quoted or not, padded inside quotes.
fn duration_text(duration: Duration) -> impl Strategy<Value = Node> {
    let text = format_duration(duration);
    select(vec![text.clone(), format!("'{text}'"), format!("\"{text}\""), format!("\" {text} \"")])
        .prop_map(Node::Scalar)
}

fn duration_setting(ms: impl Strategy<Value = u64>) -> impl Strategy<Value = Setting<Duration>> {
    ms.prop_flat_map(|ms| {
        let duration = Duration::from_millis(ms);
        duration_text(duration).prop_map(move |node| (duration, node))
    })
}

fn rate_setting() -> impl Strategy<Value = Setting<f64>> {
    prop_oneof![
        (1u32..=10_000).prop_map(f64::from),
        (1u64..=10_000_000).prop_map(|n| n as f64 / 1000.0),
        1e-6f64..=10_000.0
    ]
    .prop_flat_map(|rate| {
        select(vec![format!("{rate}"), format!("{rate:?}")]).prop_map(move |text| (rate, Node::Scalar(text)))
    })
}

fn task_types_setting() -> impl Strategy<Value = Setting<Vec<TaskType>>> {
    prop_oneof![
        Just(vec![TaskType::Full]),
        Just(vec![TaskType::Pitr]),
        Just(TaskType::ALL.to_vec()),
        Just(vec![TaskType::Pitr, TaskType::Full])
    ]
    .prop_flat_map(|types| {
        let names: Vec<_> = types
            .iter()
            .map(|t| {
                select(vec![
                    t.as_str().to_string(),
                    t.as_str().to_uppercase(),
                    format!("'{}'", t.as_str()),
                    format!("\" {} \"", t.as_str()),
                ])
                .prop_map(Node::Scalar)
            })
            .collect();
        (names, any::<bool>()).prop_map(move |(items, flow)| (types.clone(), Node::Seq { items, flow }))
    })
}

fn region_id() -> impl Strategy<Value = String> {
    // A label starting `xn--` is punycode, which a URL parser decodes and may refuse: such a
    // region would make the generated endpoint (not the region) invalid.
    prop_oneof!["[a-z]{2}-[a-z]{3,10}(-[0-9])?", "[a-z0-9-]{1,20}"]
        .prop_filter("no punycode label", |region| !region.contains("xn--"))
}

/// What `instance_id` and the filters accept: no whitespace, no control characters, and not a
/// YAML null spelling (`~`, `null`), which the loader refuses even quoted.
fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        "(rm|pc|pgm|dds)-[a-z0-9]{4,16}",
        "[A-Za-z0-9_.:/@+=,#&*!|>%-]{1,16}",
        "[0-9]{1,12}",
        select(vec!["true", "no", "0x1F", "1e3", "-", "---", "'", "\"", "a: b", "[x]"])
            .prop_map(String::from),
        "\\PC{1,12}",
    ]
    .prop_filter("whitespace is refused", |s| !s.chars().any(char::is_whitespace))
    .prop_filter("YAML null spellings are refused", |s| !matches!(s.as_str(), "~" | "null" | "Null" | "NULL"))
}

fn endpoint(region: &str) -> impl Strategy<Value = String> {
    select(vec![
        format!("https://dbs-api.{region}.aliyuncs.com"),
        "http://127.0.0.1:18080".to_string(),
        "https://dbs-vpc.example.internal/".to_string(),
        "http://[::1]:9000/api".to_string(),
    ])
}

fn optional_entry(key: &'static str, value: Option<String>) -> BoxedStrategy<Option<(String, Node)>> {
    match value {
        None => Just(None).boxed(),
        Some(text) => string_scalar(text).prop_map(move |s| Some((key.to_string(), Node::Scalar(s)))).boxed(),
    }
}

fn instance() -> impl Strategy<Value = Setting<InstanceConfig>> {
    (
        identifier(),
        prop::option::of(identifier()),
        prop::option::of(identifier()),
        prop::option::of(identifier()),
    )
        .prop_flat_map(|(instance_id, cluster_name, datasource_id, backup_set_id)| {
            let expected = InstanceConfig {
                instance_id: instance_id.clone(),
                cluster_name: cluster_name.clone(),
                datasource_id: datasource_id.clone(),
                backup_set_id: backup_set_id.clone(),
            };
            let entries = vec![
                optional_entry("instance_id", Some(instance_id)),
                optional_entry("cluster_name", cluster_name),
                optional_entry("datasource_id", datasource_id),
                optional_entry("backup_set_id", backup_set_id),
            ];
            (entries.prop_shuffle(), any::<bool>()).prop_map(move |(entries, flow)| {
                (expected.clone(), Node::Map { entries: entries.into_iter().flatten().collect(), flow })
            })
        })
}

fn region() -> impl Strategy<Value = Setting<RegionConfig>> {
    region_id().prop_flat_map(|region_id| {
        let instances =
            prop::collection::vec(instance(), 1..4).prop_filter("instance ids repeat", |instances| {
                let mut ids: Vec<&str> = instances.iter().map(|(i, _)| i.instance_id.as_str()).collect();
                ids.sort_unstable();
                ids.windows(2).all(|w| w[0] != w[1])
            });
        (Just(region_id.clone()), prop::option::of(endpoint(&region_id)), instances, any::<bool>())
            .prop_flat_map(|(region_id, endpoint, instances, flow)| {
                let expected = RegionConfig {
                    region_id: region_id.clone(),
                    endpoint: endpoint.clone(),
                    discovery_endpoints: Default::default(),
                    instances: instances.iter().map(|(i, _)| i.clone()).collect(),
                };
                let items = Node::Seq { items: instances.into_iter().map(|(_, node)| node).collect(), flow };
                let entries = vec![
                    optional_entry("region_id", Some(region_id)),
                    optional_entry("endpoint", endpoint),
                    Just(Some(("instances".to_string(), items))).boxed(),
                ];
                entries.prop_shuffle().prop_map(move |entries| {
                    (
                        expected.clone(),
                        Node::Map { entries: entries.into_iter().flatten().collect(), flow: false },
                    )
                })
            })
    })
}

/// Every setting the file may carry; `None` when left to its default.
#[derive(Clone, Debug)]
struct Written {
    poll_interval: Option<Duration>,
    request_timeout: Option<Duration>,
    lookback: Option<Duration>,
    max_staleness: Option<Duration>,
    page_size: Option<u32>,
    max_pages: Option<u32>,
    concurrency: Option<u32>,
    task_types: Option<Vec<TaskType>>,
    rate_limit_per_region: Option<f64>,
    retry: Option<(Option<u32>, Option<Duration>, Option<Duration>)>,
    regions: Vec<RegionConfig>,
}

fn entry<T: std::fmt::Debug + Clone>(
    key: &'static str,
    setting: impl Strategy<Value = Setting<T>>,
) -> impl Strategy<Value = Option<(T, (String, Node))>> {
    prop::option::of(setting.prop_map(move |(value, node)| (value, (key.to_string(), node))))
}

fn split<T>(entry: Option<(T, (String, Node))>, nodes: &mut Vec<(String, Node)>) -> Option<T> {
    entry.map(|(value, node)| {
        nodes.push(node);
        value
    })
}

/// A valid configuration and a document that writes it: settings in any order, each left out
/// or written in one of its spellings, with comments here and there.
fn valid_config() -> BoxedStrategy<(Written, String)> {
    // The interval first, so that the timeout can be drawn below it.
    (2u64..30 * 86_400_000, any::<bool>(), any::<bool>())
        .prop_flat_map(|(interval_ms, write_interval, write_timeout)| {
            let interval = write_interval.then_some(interval_ms);
            let interval_used = interval.unwrap_or(DEFAULT_POLL_INTERVAL.as_millis() as u64);
            let timeout_needed = write_timeout || interval_used <= DEFAULT_REQUEST_TIMEOUT.as_millis() as u64;
            let timings = (
                interval.map_or(Just(None).boxed(), |ms| {
                    duration_setting(Just(ms))
                        .prop_map(|s| Some((s.0, ("poll_interval".to_string(), s.1))))
                        .boxed()
                }),
                if timeout_needed {
                    duration_setting(1..interval_used)
                        .prop_map(|s| Some((s.0, ("request_timeout".to_string(), s.1))))
                        .boxed()
                } else {
                    Just(None).boxed()
                },
                entry("lookback", duration_setting(duration_ms())),
                // Never shorter than the interval: such a file is refused.
                entry(
                    "max_staleness",
                    duration_setting(prop_oneof![
                        Just(interval_used),
                        duration_ms().prop_map(move |ms| interval_used.saturating_add(ms)),
                    ]),
                ),
            )
                .boxed();
            let numbers = (
                entry("page_size", int_setting(1..=100)),
                entry("max_pages", int_setting(1..=10_000)),
                entry("concurrency", int_setting(1..=256)),
                entry("task_types", task_types_setting()),
                entry("rate_limit_per_region", rate_setting()),
            )
                .boxed();
            let retry = prop::option::of((
                entry("max_attempts", int_setting(1..=10)),
                entry("base_delay", duration_setting(duration_ms())),
                entry("max_delay", duration_setting(duration_ms())),
                any::<bool>(),
            ))
            .boxed();
            let regions = prop::collection::vec(region(), 1..4)
                .prop_filter("region ids repeat", |regions| {
                    let mut ids: Vec<&str> = regions.iter().map(|(r, _)| r.region_id.as_str()).collect();
                    ids.sort_unstable();
                    ids.windows(2).all(|w| w[0] != w[1])
                })
                .boxed();
            (timings, numbers, retry, regions, any::<bool>())
        })
        .prop_flat_map(|(timings, numbers, retry, regions, regions_flow)| {
            let mut nodes = Vec::new();
            let (interval, timeout, lookback, staleness) = timings;
            let (page_size, max_pages, concurrency, task_types, rate) = numbers;
            let written_retry = retry.map(|(attempts, base, max, flow)| {
                let mut retry_nodes = Vec::new();
                let values = (
                    split(attempts, &mut retry_nodes),
                    split(base, &mut retry_nodes),
                    split(max, &mut retry_nodes),
                );
                nodes.push(("retry".to_string(), Node::Map { entries: retry_nodes, flow }));
                values
            });
            let written = Written {
                poll_interval: split(interval, &mut nodes),
                request_timeout: split(timeout, &mut nodes),
                lookback: split(lookback, &mut nodes),
                max_staleness: split(staleness, &mut nodes),
                page_size: split(page_size, &mut nodes),
                max_pages: split(max_pages, &mut nodes),
                concurrency: split(concurrency, &mut nodes),
                task_types: split(task_types, &mut nodes),
                rate_limit_per_region: split(rate, &mut nodes),
                retry: written_retry,
                regions: regions.iter().map(|(r, _)| r.clone()).collect(),
            };
            let region_nodes = regions.into_iter().map(|(_, node)| node).collect();
            nodes.push(("regions".to_string(), Node::Seq { items: region_nodes, flow: regions_flow }));
            let comments = prop::collection::vec(
                select(vec!["", "# a comment", "  # indented: [comment]", "#"]),
                nodes.len() + 1,
            );
            (Just(written), Just(nodes).prop_shuffle(), comments, any::<bool>())
        })
        .prop_map(|(written, nodes, comments, document_start)| {
            let mut text = String::new();
            if document_start {
                text.push_str("---\n");
            }
            for ((key, node), comment) in nodes.into_iter().zip(&comments) {
                if !comment.is_empty() {
                    text.push_str(comment);
                    text.push('\n');
                }
                text.push_str(&Node::Map { entries: vec![(key, node)], flow: false }.document());
            }
            text.push_str(comments.last().expect("one more comment than settings"));
            (written, text)
        })
        // Boxed at each level: unboxed, the value trees of this many nested strategies make
        // stack frames that overflow a test thread's 2 MiB in debug builds.
        .boxed()
}

/// Everything a parsed configuration must say, given what was written.
fn assert_reads_as_written(config: &Config, written: &Written) -> Result<(), TestCaseError> {
    let poll_interval = written.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL);
    prop_assert_eq!(config.poll_interval, poll_interval);
    prop_assert_eq!(config.request_timeout, written.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT));
    prop_assert_eq!(config.lookback, written.lookback.unwrap_or(DEFAULT_LOOKBACK));
    prop_assert_eq!(
        config.max_staleness,
        written.max_staleness.unwrap_or(poll_interval * DEFAULT_STALENESS_INTERVALS)
    );
    prop_assert_eq!(config.page_size, written.page_size.unwrap_or(DEFAULT_PAGE_SIZE));
    prop_assert_eq!(config.max_pages, written.max_pages.unwrap_or(DEFAULT_MAX_PAGES));
    prop_assert_eq!(config.concurrency, written.concurrency.map_or(DEFAULT_CONCURRENCY, |n| n as usize));
    prop_assert_eq!(&config.task_types, &written.task_types.clone().unwrap_or(TaskType::ALL.to_vec()));
    prop_assert_eq!(
        config.rate_limit_per_region,
        written.rate_limit_per_region.unwrap_or(DEFAULT_RATE_LIMIT_PER_REGION)
    );
    let (attempts, base, max) = written.retry.unwrap_or_default();
    prop_assert_eq!(config.retry.max_attempts, attempts.unwrap_or(DEFAULT_RETRY.max_attempts));
    prop_assert_eq!(config.retry.base_delay, base.unwrap_or(DEFAULT_RETRY.base_delay));
    prop_assert_eq!(config.retry.max_delay, max.unwrap_or(DEFAULT_RETRY.max_delay));
    prop_assert_eq!(&config.regions, &written.regions);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Hostile documents.

/// Keys the schema knows, at any level, and near misses.
const KEYS: [&str; 26] = [
    "poll_interval",
    "lookback",
    "page_size",
    "max_pages",
    "concurrency",
    "request_timeout",
    "task_types",
    "retry",
    "max_attempts",
    "base_delay",
    "max_delay",
    "rate_limit_per_region",
    "max_staleness",
    "regions",
    "region_id",
    "endpoint",
    "instances",
    "instance_id",
    "cluster_name",
    "datasource_id",
    "backup_set_id",
    "Regions",
    "region-id",
    "instance_ids",
    "\"regions\"",
    "<<",
];

/// Scalars that mean something special to YAML or to the loader.
const TRICKY: [&str; 40] = [
    "~",
    "null",
    "Null",
    "true",
    "no",
    "on",
    "0",
    "-0",
    "+1",
    "0x",
    "0xFFFFFFFFFFFFFFFFFF",
    "0o9",
    "1e400",
    ".nan",
    "-.inf",
    "99999999999999999999",
    "-1",
    "1.5",
    "0s",
    "1m30s",
    "30s1m",
    "213503982334601d",
    "18446744073709551615ms",
    "cn-hangzhou",
    "CN_Hangzhou",
    "full",
    "incremental",
    "''",
    "\"\"",
    "\"\\x\"",
    "'unterminated",
    "&anchor x",
    "*alias",
    "!!binary aGk=",
    "!custom x",
    "|",
    ">-",
    "[",
    "{a: 1",
    "https://u:p@h/?q#f",
];

fn hostile_scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        3 => select(TRICKY.to_vec()).prop_map(|s| Node::Scalar(s.to_string())),
        1 => "\\PC{0,10}".prop_map(|s| Node::Scalar(double_quoted(&s))),
        1 => "[a-z0-9:#&*!|>{}\\[\\],'\" -]{0,10}".prop_map(Node::Scalar),
    ]
}

fn hostile_node() -> impl Strategy<Value = Node> {
    hostile_scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..4), any::<bool>())
                .prop_map(|(items, flow)| Node::Seq { items, flow }),
            (
                prop::collection::vec((select(KEYS.to_vec()).prop_map(String::from), inner), 0..5),
                any::<bool>()
            )
                .prop_map(|(entries, flow)| Node::Map { entries, flow }),
        ]
    })
}

/// A mapping of settings: known and unknown keys, anything as their values.
fn hostile_document() -> impl Strategy<Value = String> {
    prop::collection::vec((select(KEYS.to_vec()).prop_map(String::from), hostile_node()), 0..6)
        .prop_map(|entries| Node::Map { entries, flow: false }.document())
}

/// A valid document with a few characters replaced, inserted or removed.
fn mangled_document() -> impl Strategy<Value = String> {
    (
        valid_config(),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                select(vec![' ', '\n', ':', '-', '"', '\'', '#', '[', '{', '&', '*', '\t', '0']),
            ),
            1..4,
        ),
    )
        .prop_map(|((_, text), edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, kind, c) in edits {
                let at = at.index(chars.len() + 1);
                match kind {
                    0 if at < chars.len() => chars[at] = c,
                    1 => chars.insert(at, c),
                    _ if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => {}
                }
            }
            chars.into_iter().collect()
        })
}

fn origin() -> impl Strategy<Value = &'static str> {
    select(vec![
        "config.yaml",
        "/etc/dbs exporter/dbs.yaml",
        "C:\\dbs\\dbs.yaml",
        "ünïcode.yml",
        "-",
        "a:1:2.yaml",
    ])
}

/// What every outcome of `parse` must satisfy: an accepted configuration is valid, a refusal
/// starts with the file's name and points inside the text.
fn assert_sound(text: &str, origin: &str) -> Result<(), TestCaseError> {
    match config::parse(text, origin) {
        Ok(config) => {
            prop_assert!((1..=100).contains(&config.page_size));
            prop_assert!((1..=10_000).contains(&config.max_pages));
            prop_assert!((1..=256).contains(&config.concurrency));
            prop_assert!(config.request_timeout < config.poll_interval);
            prop_assert!(!config.lookback.is_zero() && config.max_staleness >= config.poll_interval);
            prop_assert!(!config.task_types.is_empty() && !config.regions.is_empty());
            prop_assert!(config.regions.iter().all(|r| !r.instances.is_empty()
                && !r.region_id.is_empty()
                && r.region_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')));
        }
        Err(err) => {
            let message = err.to_string();
            prop_assert!(
                message.starts_with(&format!("{origin}:")),
                "the message does not start with the file name {:?}: {}",
                origin,
                message
            );
            if let Some(location) = err.location() {
                let lines = text.lines().count().max(1);
                prop_assert!(
                    location.line >= 1 && location.line <= lines + 1 && location.column >= 1,
                    "{:?} is outside the {} lines of the text: {}",
                    location,
                    lines,
                    message
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_accepted_as_valid_or_refused_naming_the_file(
        text in any::<String>(),
        origin in origin(),
    ) {
        assert_sound(&text, origin)?;
    }

    #[test]
    fn yaml_punctuation_soup_is_accepted_as_valid_or_refused_naming_the_file(
        text in "[-:{}\\[\\],'\"&*!|>#%@`?~ \n\ta-z0-9_.]{0,120}",
        origin in origin(),
    ) {
        assert_sound(&text, origin)?;
    }

    #[test]
    fn documents_with_known_and_unknown_keys_are_accepted_as_valid_or_refused_naming_the_file(
        text in hostile_document(),
        origin in origin(),
    ) {
        assert_sound(&text, origin)?;
    }

    #[test]
    fn a_mangled_configuration_is_accepted_as_valid_or_refused_naming_the_file(
        text in mangled_document(),
        origin in origin(),
    ) {
        assert_sound(&text, origin)?;
    }

    #[test]
    fn a_valid_configuration_reads_back_as_exactly_what_was_written((written, text) in valid_config()) {
        let with_text = |err: &dyn std::fmt::Display| TestCaseError::fail(format!("{err}\n{text}"));
        let config = config::parse(&text, "dbs.yaml").map_err(|err| with_text(&err))?;
        assert_reads_as_written(&config, &written).map_err(|err| with_text(&err))?;
    }
}

/// YAML's null (`~`, `null`, or nothing) is "not written": an optional filter written as `~` is
/// absent (checked here as it works today), so a required id written as `~` must be refused as
/// missing rather than read as the instance named "~".
#[test]
fn a_null_id_is_refused_not_read_as_the_text_null() {
    let optional = config::parse(
        "regions:\n  - region_id: a\n    instances: [{instance_id: a, cluster_name: ~}]\n",
        "c.yaml",
    );
    assert_eq!(optional.unwrap().regions[0].instances[0].cluster_name, None);
    for text in [
        "regions:\n  - region_id: a\n    instances: [{instance_id: ~}]\n",
        "regions:\n  - region_id: a\n    instances: [{instance_id: null}]\n",
        "regions:\n  - region_id: null\n    instances: [{instance_id: a}]\n",
    ] {
        let result = config::parse(text, "c.yaml");
        assert!(result.is_err(), "{text:?} was accepted as {:?}", result.map(|c| c.regions));
    }
}
