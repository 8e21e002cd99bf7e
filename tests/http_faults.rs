//! Misbehaving HTTP clients against `presence_gw::http::serve_with` over real TCP: one that
//! connects and sends nothing, one that sends its headers and stops halfway, a kept-alive
//! connection left idle, and a body that promises more than it sends. Each used to hold its
//! connection (and its file descriptor) for ever; now the server closes or fails it after its
//! timeout, and a slow but moving upload still goes through.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The timeouts the server runs with here (the shipped ones are 30 s).
const HEADERS: Duration = Duration::from_millis(700);
const BODY_IDLE: Duration = Duration::from_millis(700);
/// How long a stop waits here for the requests in progress (the shipped wait is 5 s).
const DRAIN: Duration = Duration::from_millis(1500);

/// Longest a test waits for the server to act: well past both timeouts, far below "for ever".
const PATIENCE: Duration = Duration::from_secs(10);

/// A server with a route that reads its whole body and says how long it was, and `/ping`.
async fn server() -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let router = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route(
            "/echo",
            post(|body: String| async move { format!("got {}", body.len()) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let timeouts = presence_gw::http::HttpTimeouts {
                header_read: HEADERS,
                body_idle: BODY_IDLE,
                drain: DRAIN,
            };
            presence_gw::http::serve_with(listener, router, stop, timeouts)
                .await
                .unwrap();
        }
    });
    (addr, stop, task)
}

/// Everything the server sends until it closes the connection, and how long that took; `None`
/// if it was still open after [`PATIENCE`].
async fn until_closed(conn: &mut TcpStream) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + PATIENCE),
            conn.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&got).into_owned(),
                    started.elapsed(),
                ))
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let (addr, stop, task) = server().await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (said, after) = until_closed(&mut silent)
        .await
        .expect("a silent connection is closed, not held for ever");
    assert!(after >= HEADERS - Duration::from_millis(50), "{after:?}");
    assert!(!said.contains("200 OK"), "{said}");
    stop.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn headers_sent_halfway_then_stopped_are_cut_off() {
    let (addr, stop, task) = server().await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, after) = until_closed(&mut slow)
        .await
        .expect("half a request's headers do not hold the connection for ever");
    assert!(after >= HEADERS - Duration::from_millis(50), "{after:?}");
    // Meanwhile and after, others are served.
    let mut fine = TcpStream::connect(addr).await.unwrap();
    fine.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (said, _) = until_closed(&mut fine).await.unwrap();
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(said.ends_with("pong"), "{said}");
    stop.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let (addr, stop, task) = server().await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (said, after) = until_closed(&mut conn)
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(after >= HEADERS - Duration::from_millis(50), "{after:?}");
    stop.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_body_that_promises_more_than_it_sends_fails_and_a_slow_one_does_not() {
    let (addr, stop, task) = server().await;
    // Declares 1000 bytes, sends 5 and goes quiet with the connection open.
    let mut liar = TcpStream::connect(addr).await.unwrap();
    liar.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello")
        .await
        .unwrap();
    let (said, after) = until_closed(&mut liar)
        .await
        .expect("a stalled body fails the request instead of holding it for ever");
    assert!(said.starts_with("HTTP/1.1 400"), "{said}");
    assert!(after >= BODY_IDLE - Duration::from_millis(50), "{after:?}");

    // 20 bytes, one every 200 ms: 4 s in all, but never a pause as long as the idle time.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        slow.write_all(b"x").await.unwrap();
    }
    let (said, _) = until_closed(&mut slow).await.unwrap();
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(said.ends_with("got 20"), "{said}");
    stop.cancel();
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

/// A stop closes idle connections at once and lets the request in progress finish.
#[tokio::test]
async fn a_stop_closes_idle_connections_and_finishes_the_request_in_progress() {
    let (addr, stop, task) = server().await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 17];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK\r\n");
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    busy.write_all(b"cd").await.unwrap();
    let (said, _) = until_closed(&mut busy).await.unwrap();
    assert!(said.ends_with("got 4"), "{said}");
    let (_, after) = until_closed(&mut idle).await.unwrap();
    assert!(after < HEADERS, "{after:?}");
    tokio::time::timeout(PATIENCE, task).await.unwrap().unwrap();
}

/// A request that keeps its connection busy past the stop's drain time (a body trickling in a
/// byte every 200 ms: never idle long enough for the body timeout) does not hold the stop: its
/// connection is closed after [`DRAIN`] and `serve_with` returns. It used to wait for every
/// connection to end, however long that took (only the binary's own 5 s bound stopped it, and
/// aborting the server's task left the connection tasks running).
#[tokio::test]
async fn a_request_still_running_after_the_drain_time_is_closed_and_the_server_returns() {
    let (addr, stop, task) = server().await;
    let mut trickle = TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    let (mut read_half, mut write_half) = trickle.into_split();
    let writer = tokio::spawn(async move {
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write_half.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    stop.cancel();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the server returns although a request is still running")
        .unwrap();
    let took = stopped.elapsed();
    assert!(took >= DRAIN - Duration::from_millis(50), "{took:?}");
    assert!(took < DRAIN + Duration::from_secs(2), "{took:?}");
    // The connection was closed: the client reads its end.
    let mut buf = [0u8; 256];
    let end = tokio::time::timeout(Duration::from_secs(2), read_half.read(&mut buf)).await;
    assert!(
        matches!(end, Ok(Ok(0)) | Ok(Err(_))),
        "the connection is closed: {end:?}"
    );
    writer.abort();
}

/// Reads one `GET /ping` answer (headers and the four-byte body) from a kept-alive connection.
async fn read_pong(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"pong") {
        let n = tokio::time::timeout(PATIENCE, conn.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// With `max` 2, two open connections (kept alive and idle after a request each) are all the
/// server takes: a third one, connected and with its request sent, gets no answer while both
/// are open (it waits in the listen backlog), and is served as soon as one of them closes.
/// Every connection used to be accepted, so enough idle clients ran the process out of file
/// descriptors.
#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let router = Router::new().route("/ping", get(|| async { "pong" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let cap = presence_gw::http::ConnectionCap::new(2);
    let open = cap.open.clone();
    // Idle connections are not closed by the header timeout during the test.
    let timeouts = presence_gw::http::HttpTimeouts {
        header_read: PATIENCE * 3,
        body_idle: BODY_IDLE,
        drain: DRAIN,
    };
    let task = tokio::spawn(presence_gw::http::serve_capped(
        listener,
        router,
        stop.clone(),
        timeouts,
        cap,
    ));
    let ping = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(ping).await.unwrap();
    assert!(read_pong(&mut first).await.starts_with("HTTP/1.1 200"));
    let mut second = TcpStream::connect(addr).await.unwrap();
    second.write_all(ping).await.unwrap();
    assert!(read_pong(&mut second).await.starts_with("HTTP/1.1 200"));
    assert_eq!(open.load(std::sync::atomic::Ordering::Relaxed), 2);
    // The kernel completes the handshake (the backlog); the server does not accept it.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(ping).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(800), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection was answered while two were open: {early:?}"
    );
    assert_eq!(open.load(std::sync::atomic::Ordering::Relaxed), 2);
    // One closes: the third is accepted and served.
    drop(first);
    let said = read_pong(&mut third).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    // Still at most two: the second and the third.
    assert_eq!(open.load(std::sync::atomic::Ordering::Relaxed), 2);
    // A closed connection gives its place back.
    drop(second);
    let deadline = Instant::now() + PATIENCE;
    while open.load(std::sync::atomic::Ordering::Relaxed) != 1 {
        assert!(Instant::now() < deadline, "the count did not come down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    tokio::time::timeout(PATIENCE, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
