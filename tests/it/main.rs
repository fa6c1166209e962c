//! The integration tests, in one binary: one link instead of 23 (relinking them was most of
//! a warm `cargo test --no-run` on two cores), and one [`support`] module they all share.
//!
//! Each module was a test file of its own; run one with `cargo test --test it <module>::`,
//! for example `cargo test --test it scheduler::`. Proptest keeps the failures it has seen, to
//! run them again first, in `tests/proptest-regressions/<module>.txt`: for a source file beside
//! a `main.rs`, that is where its default persistence looks.

mod support;

/// Counts the heap per thread (`support::heap`): the tests share this process.
#[global_allocator]
static HEAP: support::heap::Counting = support::heap::Counting;

mod accounts;
mod client_against_simulator;
mod commands;
mod config_errors;
mod credentials_accounts;
mod credentials_chain;
mod credentials_ecs;
mod credentials_sts;
mod discovery;
mod discovery_binary;
mod exporter_binary;
mod golden_exposition;
mod golden_families;
mod hostile_body_cap;
mod hostile_config;
mod hostile_exposition;
mod hostile_paging;
mod hostile_response;
mod http_binary;
mod http_server;
mod http_tls_auth;
mod https;
mod insight;
mod instance_page;
mod one_gateway;
mod operations;
mod resilience;
mod scheduler;
mod series_budget;
mod signature_vectors;
mod simulate;
mod task_events;
