//! Faults: each one served as specified, in order, counted; and the server's lifecycle.

use std::time::{Duration, Instant};

use super::*;
use crate::Fault;

#[tokio::test]
async fn throttling_says_when_to_retry() {
    let sim = start(simulator()).await;
    sim.inject(Fault::Throttle, 1);
    let reply = call(&sim, &[]).await;
    assert_eq!((reply.status, reply.code().as_str()), (400, "Throttling.User"));
    assert_eq!(reply.json()["Message"], "Request was denied due to user flow control.");
    assert_eq!(reply.header("x-acs-retry-after"), Some("100"));
    assert_eq!(call(&sim, &[]).await.status, 200, "only the next request is throttled");
}

#[tokio::test]
async fn server_errors_are_json_from_the_api_and_html_from_the_gateway() {
    let sim = start(simulator()).await;
    for (status, code) in [(500, "InternalError"), (503, "ServiceUnavailable")] {
        sim.inject(Fault::ServerError(status), 1);
        let reply = call(&sim, &[]).await;
        assert_eq!((reply.status, reply.code().as_str()), (status, code));
    }
    for status in [502, 504] {
        sim.inject(Fault::ServerError(status), 1);
        let reply = call(&sim, &[]).await;
        assert_eq!(reply.status, status);
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
        assert!(reply.text().contains(&status.to_string()));
    }
}

#[tokio::test]
async fn an_in_band_error_is_http_200_with_success_false() {
    let sim = start(simulator()).await;
    sim.inject(Fault::InBandError, 1);
    let reply = call(&sim, &[]).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["Success"], "false");
    assert_eq!(body["ErrCode"], "DBS.InternalError");
}

#[tokio::test]
async fn a_malformed_body_is_not_json() {
    let sim = start(simulator()).await;
    sim.inject(Fault::Malformed, 1);
    let reply = call(&sim, &[]).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err(), "{}", reply.text());
}

#[tokio::test]
async fn a_truncated_body_stops_short_of_its_content_length() {
    let sim = start(simulator()).await;
    sim.inject(Fault::Truncated, 1);
    let reply = call(&sim, &[]).await;
    assert_eq!(reply.status, 200);
    let promised: usize = reply.header("content-length").unwrap().parse().unwrap();
    assert!(!reply.body.is_empty() && reply.body.len() < promised, "{} of {promised}", reply.body.len());
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn a_reset_sends_no_response_at_all() {
    let sim = start(simulator()).await;
    sim.inject(Fault::Reset, 1);
    let request = format!(
        "POST /?{} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        encode(&signed("POST", params(AK, &[]), SECRET))
    );
    match exchange(sim.addr(), request.as_bytes()).await {
        Ok(bytes) => assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes)),
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}"),
    }
    assert_eq!(sim.calls(), 1);
    assert_eq!(call(&sim, &[]).await.status, 200);
}

#[tokio::test]
async fn latency_delays_a_normal_answer() {
    let sim = start(simulator()).await;
    sim.inject(Fault::Latency(Duration::from_millis(200)), 1);
    let began = Instant::now();
    let reply = call(&sim, &[]).await;
    assert!(began.elapsed() >= Duration::from_millis(200));
    assert_eq!(reply.json()["Success"], "true");
}

#[tokio::test]
async fn faults_are_served_in_order_before_any_check_and_counted() {
    let sim = start(simulator()).await;
    sim.inject(Fault::ServerError(503), 2);
    sim.inject(Fault::InBandError, 1);
    // Unsigned requests: the fault comes before authentication.
    let unsigned = params(AK, &[]);
    assert_eq!(send(&sim, "POST", &unsigned).await.status, 503);
    assert_eq!(send(&sim, "POST", &unsigned).await.status, 503);
    assert_eq!(send(&sim, "POST", &unsigned).await.json()["ErrCode"], "DBS.InternalError");
    assert_eq!(send(&sim, "POST", &unsigned).await.code(), "MissingSignature");
    let injected = sim.injected();
    assert_eq!(injected.get("server_error"), Some(&2));
    assert_eq!(injected.get("in_band_error"), Some(&1));
    assert_eq!(injected.values().sum::<u64>(), 3);
    assert_eq!(sim.calls(), 4);
}

#[tokio::test]
async fn a_fault_rate_of_one_faults_every_request_and_zero_stops() {
    let sim = start(simulator()).await;
    sim.set_fault_rate(1.0, vec![Fault::Throttle, Fault::ServerError(500)]);
    for _ in 0..5 {
        assert!(matches!(call(&sim, &[]).await.status, 400 | 500));
    }
    sim.set_fault_rate(0.0, vec![]);
    assert_eq!(call(&sim, &[]).await.status, 200);
    assert_eq!(sim.injected().values().sum::<u64>(), 5);
}

#[tokio::test]
async fn shutdown_and_dropping_the_last_handle_stop_the_server() {
    let sim = start(simulator()).await;
    let addr = sim.addr();
    assert_eq!(sim.url(), format!("http://{addr}"));
    sim.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());

    let sim = start(simulator()).await;
    let (addr, clone) = (sim.addr(), sim.clone());
    drop(sim);
    assert_eq!(call(&clone, &[]).await.status, 200, "a clone keeps it running");
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after the last handle was dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
