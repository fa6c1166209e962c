//! The plain-HTTP server over real loopback sockets: refused bodies, `POST /-/reload`, the
//! connection limit, slow clients and graceful shutdown.

use std::time::Duration;

use crate::support::*;
use dbs_exporter::http::reload;
use dbs_exporter::http::Limits;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_request_that_announces_a_body_is_refused_without_the_body_being_read() {
    let server = TestServer::plain(routes()).await;
    let plain =
        raw_exchange(server.addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", PATIENCE)
            .await;
    assert_eq!(status_of(&plain), Some(200), "{plain}");

    let with_length = raw_exchange(
        server.addr,
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        PATIENCE,
    )
    .await;
    assert_eq!(status_of(&with_length), Some(413), "{with_length}");

    let chunked =
        b"GET /-/healthy HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let chunked = raw_exchange(server.addr, chunked, PATIENCE).await;
    assert_eq!(status_of(&chunked), Some(413), "{chunked}");

    // A megabyte announced and never sent: the answer comes anyway, so the server did not wait
    // for the body, and the connection is closed.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut stream, PATIENCE).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn a_request_head_larger_than_the_read_buffer_is_refused() {
    let server = TestServer::plain(routes()).await;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Padding: {}\r\n\r\n", "a".repeat(64 * 1024));
    let answer = raw_exchange(server.addr, request.as_bytes(), PATIENCE).await;
    assert_eq!(status_of(&answer), Some(431), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_gzipped_for_clients_that_ask() {
    let server = TestServer::plain(routes()).await;
    let request = b"GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(server.addr, request, PATIENCE).await.to_ascii_lowercase();
    assert!(answer.contains("content-encoding: gzip"), "{answer}");
    assert!(answer.contains("vary: accept-encoding"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn post_reload_answers_with_the_outcome_the_receiver_reports() {
    let (sender, mut requests) = reload::channel();
    // A fake config holder: the first reload succeeds, the second is refused.
    let receiver = tokio::spawn(async move {
        let mut outcomes = vec![Err("regions[0].region_id: missing field".to_string()), Ok(()), Ok(())];
        while let Some(request) = requests.recv().await {
            let _ = request.reply.send(outcomes.pop().unwrap_or(Ok(())));
        }
    });
    let server = TestServer::plain(routes().with_reload(sender)).await;
    let client = reqwest::Client::new();
    let url = server.url("http", "/-/reload");

    let ok = client.post(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "config reloaded\n");

    let put = client.put(&url).send().await.unwrap();
    assert_eq!(put.status(), 200, "PUT reloads as POST does, as in Prometheus");
    assert_eq!(put.text().await.unwrap(), "config reloaded\n");

    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status(), 500);
    assert!(refused.text().await.unwrap().contains("regions[0].region_id: missing field"));

    let get = client.get(&url).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST, PUT");

    let post_metrics = client.post(server.url("http", "/metrics")).send().await.unwrap();
    assert_eq!(post_metrics.status(), 405);
    server.stop().await;
    receiver.await.unwrap();
}

#[tokio::test]
async fn without_a_reload_channel_the_reload_path_does_not_exist() {
    let server = TestServer::plain(routes()).await;
    let response = reqwest::Client::new().post(server.url("http", "/-/reload")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn with_the_lifecycle_api_off_reload_is_forbidden_as_prometheus_does() {
    let server = TestServer::plain(routes().with_reload_disabled()).await;
    let client = reqwest::Client::new();
    for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::GET] {
        let response = client.request(method.clone(), server.url("http", "/-/reload")).send().await.unwrap();
        assert_eq!(response.status(), 403, "{method}");
        assert_eq!(response.text().await.unwrap(), dbs_exporter::http::LIFECYCLE_DISABLED);
    }
    // The rest is served as usual.
    let metrics = client.get(server.url("http", "/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let limits =
        Limits { max_connections: 2, header_read_timeout: Duration::from_secs(60), ..Limits::default() };
    let server = TestServer::start(routes(), None, limits).await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();

    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
    let waiting = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert_eq!(waiting, "", "the third connection was served while two others held both slots");

    drop(first);
    let served = read_until_closed(&mut third, PATIENCE).await;
    assert_eq!(status_of(&served), Some(200), "{served}");
    server.stop().await;
}

#[tokio::test]
async fn a_slowloris_neither_blocks_a_scrape_nor_keeps_its_connection_past_the_header_timeout() {
    let limits = Limits { header_read_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = TestServer::start(routes(), None, limits).await;
    let addr = server.addr;

    // A client that sends its request head one byte at a time and never finishes it.
    let slowloris = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: {}", "a".repeat(10_000));
        for byte in head.bytes() {
            if stream.write_all(&[byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let scrape =
        reqwest::Client::new().get(server.url("http", "/metrics")).timeout(PATIENCE).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape.text().await.unwrap().contains("aliyun_dbs_exporter_build_info"));

    // The trickle keeps coming, yet the server closes the connection: writes start failing
    // well before the 10,000 bytes are out (that would take over 16 minutes).
    let closed = tokio::time::timeout(Duration::from_secs(60), slowloris).await;
    assert!(matches!(closed, Ok(Ok(true))), "the slowloris connection was not closed: {closed:?}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_closes_idle_connections() {
    let (sender, mut requests) = reload::channel();
    // A reload that takes a moment: the request is in flight when shutdown begins.
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = request.reply.send(Ok(()));
        }
    });
    let server = TestServer::plain(routes().with_reload(sender)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let url = server.url("http", "/-/reload");
    let in_flight = tokio::spawn(async move { reqwest::Client::new().post(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.stop().await;
    let response = in_flight.await.unwrap().expect("the in-flight request was cut off");
    assert_eq!(response.status(), 200);
    assert_eq!(
        closed_within(&mut idle, PATIENCE).await.as_deref(),
        Some(""),
        "the idle connection stayed open"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_a_request_that_never_finishes() {
    let (sender, mut requests) = reload::channel();
    // Takes every reload request and never answers.
    let hoard = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(request) = requests.recv().await {
            held.push(request);
        }
    });
    let limits = Limits { drain_timeout: Duration::from_millis(300), ..Limits::default() };
    let server = TestServer::start(routes().with_reload(sender), None, limits).await;
    let url = server.url("http", "/-/reload");
    let stuck = tokio::spawn(async move { reqwest::Client::new().post(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.stop().await;
    let outcome = tokio::time::timeout(PATIENCE, stuck).await.expect("the stuck request was not dropped");
    assert!(outcome.unwrap().is_err(), "the stuck request got an answer");
    hoard.abort();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let limits = Limits { header_read_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = TestServer::start(routes(), None, limits).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    // The response, then nothing more from this client: the server ends the connection.
    let everything = closed_within(&mut stream, Duration::from_secs(60)).await.expect("still open");
    assert_eq!(status_of(&everything), Some(200), "{everything}");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_past_its_maximum_age_is_closed_even_halfway_through_a_request_head() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(3600),
        connection_max_age: Duration::from_secs(1),
        close_grace: Duration::from_secs(1),
        ..Limits::default()
    };
    let server = TestServer::start(routes(), None, limits).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut halfway = TcpStream::connect(server.addr).await.unwrap();
    halfway.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    // Both would be kept for an hour by the header timeout; the age limit ends them.
    let silent_closed = closed_within(&mut silent, Duration::from_secs(60)).await;
    assert_eq!(silent_closed.as_deref(), Some(""), "the silent connection stayed open");
    let halfway_closed = closed_within(&mut halfway, Duration::from_secs(60)).await;
    assert!(halfway_closed.is_some(), "the half-sent request kept its connection open");
    server.stop().await;
}
