//! A server that answers with more than the client is willing to buffer: the answer is refused
//! with a decode error naming the cap, however the body is framed, and a body exactly at the cap
//! is still read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use dbs_exporter::api::{ApiError, ClientOptions, DbsClient, DownloadTaskQuery, ListOptions, TaskType};
use dbs_exporter::rpc::{CallFailure, Retryable, RpcError};
use dbs_sim::{SimTask, TaskType as SimTaskType};

use crate::support::{credentials, simulator};

/// How the test server frames its body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    /// No length up front: the client only learns the size by reading.
    Chunked,
}

/// A listing page of exactly `len` bytes (at least the bare page's size), padded with JSON
/// whitespace so that it stays valid.
fn page_of_len(len: usize) -> Vec<u8> {
    let mut body = concat!(
        r#"{"RequestId":"R-CAP","Success":"true","Data":{"PageNumber":1,"PageSize":100,"#,
        r#""TotalElements":1,"TotalPages":1,"#,
        r#""Content":{"List":[{"TaskId":"dt-1","DownloadStatus":"finished"}]}}}"#,
    )
    .as_bytes()
    .to_vec();
    assert!(len >= body.len(), "a page needs at least {} bytes", body.len());
    body.resize(len, b' ');
    body
}

/// Serves `body` to every connection until the runtime ends; returns the endpoint URL.
async fn serve(body: Vec<u8>, framing: Framing) -> String {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                // The request: headers only (the client POSTs with an empty body).
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = match framing {
                    Framing::ContentLength => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    ),
                    Framing::Chunked => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                                         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        .to_string(),
                };
                // The client hangs up once it has seen enough: write errors are expected.
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                match framing {
                    Framing::ContentLength => {
                        let _ = socket.write_all(&body).await;
                    }
                    Framing::Chunked => {
                        for chunk in body.chunks(16 * 1024) {
                            let framed =
                                [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                            if socket.write_all(&framed).await.is_err() {
                                return;
                            }
                        }
                        let _ = socket.write_all(b"0\r\n\r\n").await;
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

fn client(max_body_bytes: usize) -> DbsClient {
    let options =
        ClientOptions { timeout: Duration::from_secs(10), max_body_bytes, ..ClientOptions::default() };
    DbsClient::new(options, credentials()).unwrap()
}

fn query() -> DownloadTaskQuery {
    DownloadTaskQuery { task_type: Some(TaskType::Full), ..DownloadTaskQuery::new("cn-hangzhou", "rm-1") }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// One page call to a server answering with `body`, under `cap`.
fn call(body: Vec<u8>, framing: Framing, cap: usize) -> Result<dbs_exporter::api::Page, ApiError> {
    runtime().block_on(async {
        let url = serve(body, framing).await;
        client(cap).describe_download_task(&url, &query(), 100, 1).await
    })
}

fn assert_refused_for_the_cap(result: Result<dbs_exporter::api::Page, ApiError>, cap: usize) {
    match result {
        Err(err @ ApiError::Rpc(RpcError::BodyTooLarge { status: 200, .. })) => {
            assert!(err.to_string().contains(&format!("{cap} byte cap")), "the message names the cap: {err}");
            assert_eq!(err.metric_label(), "decode");
            assert!(!err.is_retryable(), "the same request would bring the same oversized answer");
        }
        other => panic!("expected a decode error for the {cap} byte cap, got {other:?}"),
    }
}

#[test]
fn a_huge_body_is_refused_with_a_decode_error_naming_the_cap() {
    let cap = 64 * 1024;
    for framing in [Framing::ContentLength, Framing::Chunked] {
        assert_refused_for_the_cap(call(page_of_len(8 * 1024 * 1024), framing, cap), cap);
    }
}

#[test]
fn the_default_cap_refuses_a_body_just_past_it() {
    let cap = ClientOptions::default().max_body_bytes;
    assert_refused_for_the_cap(call(page_of_len(cap + 1), Framing::Chunked, cap), cap);
}

#[test]
fn a_listing_too_large_for_the_cap_fails_as_decode_rather_than_being_cut() {
    let tasks: Vec<SimTask> = (0..100)
        .map(|i| {
            SimTask::new(
                format!("dt-{i:03}"),
                "cn-hangzhou",
                "rm-1",
                SimTaskType::Full,
                "finished",
                1_700_000_000_000 + i,
            )
        })
        .collect();
    let cap = 4 * 1024;
    let (small, roomy) = runtime().block_on(async {
        let sim = simulator(tasks).await;
        let options = ListOptions { page_size: 100, ..ListOptions::default() };
        let small = client(cap).list_download_tasks(&sim.url(), &query(), options, &()).await;
        let roomy = client(1024 * 1024).list_download_tasks(&sim.url(), &query(), options, &()).await;
        (small, roomy)
    });
    let err = small.expect_err("a 100-task page is far above 4 KiB");
    assert_eq!(err.metric_label(), "decode");
    assert!(err.to_string().contains("4096 byte cap"), "{err}");
    assert_eq!(roomy.expect("the same listing fits a larger cap").tasks.len(), 100);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The cap is inclusive: a body of exactly `max_body_bytes` is read, one byte more is not.
    #[test]
    fn a_body_is_read_exactly_when_it_fits_the_cap(
        cap in 200usize..40_000,
        offset in -3i64..=3,
        chunked in any::<bool>(),
    ) {
        let len = (cap as i64 + offset) as usize;
        let framing = if chunked { Framing::Chunked } else { Framing::ContentLength };
        check_cap(len, framing, cap)?;
    }
}

fn check_cap(len: usize, framing: Framing, cap: usize) -> Result<(), TestCaseError> {
    let result = call(page_of_len(len), framing, cap);
    if len <= cap {
        let page = result
            .map_err(|err| TestCaseError::fail(format!("{len} bytes under a {cap} byte cap: {err}")))?;
        prop_assert_eq!(page.tasks.len(), 1);
    } else {
        match result {
            Err(err @ ApiError::Rpc(RpcError::BodyTooLarge { .. })) => {
                prop_assert!(err.to_string().contains(&format!("{cap} byte cap")), "{}", err)
            }
            other => prop_assert!(false, "{len} bytes over a {cap} byte cap: {other:?}"),
        }
    }
    Ok(())
}
