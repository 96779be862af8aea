//! The front end to end: a fake worker on a loopback port, a client on a real socket.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::{Front, FrontConfig, Rejection, Rejections};

fn config() -> FrontConfig {
    let r = Rejection { status: 400, content_type: "application/json".into(), body: b"{}".to_vec() };
    FrontConfig {
        idle_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(5),
        body_timeout: Duration::from_secs(5),
        send_timeout: Duration::from_secs(5),
        keepalive_requests: 0,
        max_connections: 64,
        max_head_bytes: 64 * 1024,
        max_body_bytes: 1 << 20,
        routed_methods: vec![b"GET".to_vec(), b"POST".to_vec()],
        rejections: Rejections {
            bad_request: r.clone(),
            head_too_large: r.clone(),
            body_too_large: r.clone(),
            timeout: r.clone(),
            bad_gateway: r.clone(),
            unavailable: r,
        },
        replay: true,
        store: None,
        textgen: None,
        count_replays: true,
    }
}

/// A worker that answers every request on each connection with `response`, written in `parts` (one write each,
/// as the application server writes one chunk per item).
fn worker(parts: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let parts = parts.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    for part in &parts {
                        if stream.write_all(part).is_err() {
                            return;
                        }
                        thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
    });
    addr
}

fn front(upstream: SocketAddr) -> Arc<Front> {
    let front = Front::bind("127.0.0.1:0".parse().unwrap(), &[upstream], config()).unwrap();
    front.start().unwrap();
    front
}

/// A client connection to the front that gives up reading after 2 s.
fn client_of(front: &Front) -> TcpStream {
    let client = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    client
}

/// Sends one request on a fresh connection and reads until the front closes it (or 2 s pass).
fn exchange(front: &Front) -> Vec<u8> {
    let mut client = client_of(front);
    client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match client.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the front did not close the connection: {e}; got {}", String::from_utf8_lossy(&got)),
        }
    }
}

const TOKEN: &[u8] = b"0123456789abcdef0123456789abcdef";
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n";

fn event_chunk(text: &str) -> Vec<u8> {
    let data = format!("data: {text}\n\n");
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

#[test]
fn a_stream_that_reaches_its_cut_marker_ends_without_its_last_chunk() {
    let marker = [&[0u8][..], TOKEN].concat();
    let head = [HEAD, b"x-sentra-cut: ", TOKEN, b"\r\n\r\n"].concat();
    let marker_chunk = [format!("{:x}\r\n", marker.len()).as_bytes(), &marker, b"\r\n"].concat();
    let parts =
        vec![head, event_chunk("one"), event_chunk("two"), marker_chunk, event_chunk("never"), b"0\r\n\r\n".to_vec()];
    let front = front(worker(parts));
    let got = exchange(&front);
    let expected = [HEAD, b"\r\n", &event_chunk("one"), &event_chunk("two")].concat();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
}

#[test]
fn a_cut_leaves_out_the_size_line_of_the_marker_chunk_only() {
    assert_eq!(super::exchange::whole_chunks(b"5\r\nhello\r\n21\r\n"), 10);
    assert_eq!(super::exchange::whole_chunks(b"21\r\n"), 0);
    assert_eq!(super::exchange::whole_chunks(b"5\r\nhello\r\n"), 10); // "hello" is data, not a size line: kept
    assert_eq!(super::exchange::whole_chunks(b"5\r\nhel"), 6); // the marker inside a chunk: nothing to leave out
    assert_eq!(super::exchange::whole_chunks(b""), 0);
}

#[test]
fn the_marker_in_the_first_read_cuts_right_after_the_head() {
    let marker = [&[0u8][..], TOKEN].concat();
    let first =
        [HEAD, b"x-sentra-cut: ", TOKEN, b"\r\n\r\n", &event_chunk("one"), b"21\r\n", &marker, b"\r\n0\r\n\r\n"]
            .concat();
    let front = front(worker(vec![first]));
    let got = exchange(&front);
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&[HEAD, b"\r\n", &event_chunk("one")].concat()));
}

#[test]
fn without_a_marker_the_announced_stream_ends_normally_and_the_connection_stays() {
    let head = [HEAD, b"X-Sentra-Cut: ", TOKEN, b"\r\n\r\n"].concat();
    let near = [&[0u8][..], &TOKEN[..31], b"X"].concat(); // one byte off: content, relayed as it is
    let near_chunk = [format!("{:x}\r\n", near.len()).as_bytes(), &near, b"\r\n"].concat();
    let parts = vec![head, event_chunk("one"), near_chunk.clone(), b"0\r\n\r\n".to_vec()];
    let front = front(worker(parts));
    let mut client = client_of(&front);
    let expected = [HEAD, b"\r\n", &event_chunk("one"), &near_chunk, b"0\r\n\r\n"].concat();
    for _ in 0..2 {
        client.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected));
    }
}

/// A worker that counts the connections it accepted and answers each request with a fixed response.
fn counting_worker() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[test]
fn one_worker_connection_serves_one_client_connection_after_another() {
    let (addr, accepted) = counting_worker();
    let front = front(addr);
    for _ in 0..3 {
        let mut client = client_of(&front);
        client.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut got = vec![0u8; 40];
        client.read_exact(&mut got).unwrap();
        assert!(got.ends_with(b"\r\n\r\nok"), "{}", String::from_utf8_lossy(&got));
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_request_that_asks_to_close_is_answered_and_the_connection_closed() {
    let (addr, _) = counting_worker();
    let front = front(addr);
    let mut client = client_of(&front);
    client.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got.ends_with(b"\r\n\r\nok"), "{}", String::from_utf8_lossy(&got));
    assert_eq!(front.in_flight(), 0);
}

/// A worker that answers one request per connection and then closes it without saying so (as a worker does when
/// its keep-alive timeout ends between two requests).
fn one_shot_worker() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        }
    });
    addr
}

#[test]
fn a_pooled_worker_connection_closed_by_its_worker_is_replaced() {
    let front = front(one_shot_worker());
    for _ in 0..5 {
        let mut client = client_of(&front);
        client.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let mut got = vec![0u8; 40];
        client.read_exact(&mut got).unwrap();
        assert!(got.starts_with(b"HTTP/1.1 200 OK"), "{}", String::from_utf8_lossy(&got));
    }
}

#[test]
fn a_client_that_stops_reading_is_cut_off_not_buffered_for() {
    const TOTAL: usize = 64 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {TOTAL}\r\n\r\n").as_bytes());
        let block = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            if stream.write_all(&block).is_err() {
                return; // the front gave up on the client and closed this connection too
            }
        }
    });
    let mut config = config();
    config.send_timeout = Duration::from_millis(100);
    let front = Front::bind("127.0.0.1:0".parse().unwrap(), &[addr], config).unwrap();
    front.start().unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
    client.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    thread::sleep(Duration::from_millis(800)); // reads nothing for far longer than send_timeout
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut received = 0;
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
        received += n;
    }
    assert!(received < TOTAL, "the whole body arrived: the front buffered it for a client that read nothing");
}

/// A worker that passes the head of every request it reads to the returned channel and answers each with a short
/// response (requests without a body or with a Content-Length one, as the front forwards them).
fn head_capturing_worker() -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, heads) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let sender = sender.clone();
            thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = super::http::head_end(&pending) {
                        let Ok(head) = super::http::parse_head(&pending, end) else { return };
                        let length = match head.body {
                            super::http::BodyKind::Length(n) => n as usize,
                            _ => 0,
                        };
                        if pending.len() < end + length {
                            break;
                        }
                        let _ = sender.send(pending[..end].to_vec());
                        pending.drain(..end + length);
                        if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, heads)
}

/// The values of the `x-sentra-arrived` lines of a forwarded head, as CLOCK_MONOTONIC nanoseconds (parsed exactly,
/// not through a float).
fn arrival_stamps(head: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("x-sentra-arrived"))
        .map(|(_, value)| {
            let (secs, frac) = value.trim().split_once('.').expect("seconds with a fraction");
            assert_eq!(frac.len(), 9, "nine decimals: {value}");
            secs.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
        })
        .collect()
}

fn ask(client: &mut TcpStream, request: &[u8]) {
    client.write_all(request).unwrap();
    let mut got = vec![0u8; 40];
    client.read_exact(&mut got).unwrap();
    assert!(got.ends_with(b"\r\n\r\nok"), "{}", String::from_utf8_lossy(&got));
}

#[test]
fn a_forwarded_request_carries_one_arrival_stamp_of_its_own_and_never_the_clients() {
    use super::arrival::clock_monotonic_nanos;
    let (addr, heads) = head_capturing_worker();
    let front = front(addr);
    let mut client = client_of(&front);
    // A client that tries to move the server's clock, in both spellings, one of them far in the past.
    let forged = b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nX-Sentra-Arrived: 1.000000000\r\n\
                   x-sentra-arrived: 99999999999.5\r\nContent-Length: 2\r\n\r\n{}";
    let before = clock_monotonic_nanos();
    ask(&mut client, forged);
    let after = clock_monotonic_nanos();
    let head = heads.recv_timeout(Duration::from_secs(2)).unwrap();
    let stamps = arrival_stamps(&head);
    assert_eq!(stamps.len(), 1, "{}", String::from_utf8_lossy(&head));
    // The front's own reading of the clock: by the client's answer, and not before its send (a second of slack: a
    // stamp may come out early by a pause of the front's thread, never late).
    assert!(before - 1_000_000_000 <= stamps[0] && stamps[0] <= after, "{before} <= {} <= {after}", stamps[0]);
    assert!(!String::from_utf8_lossy(&head).contains("99999999999"));
}

#[test]
fn each_request_of_a_kept_alive_connection_is_stamped_when_it_arrives() {
    use super::arrival::clock_monotonic_nanos;
    let (addr, heads) = head_capturing_worker();
    let front = front(addr);
    let mut client = client_of(&front);
    ask(&mut client, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    let first = arrival_stamps(&heads.recv_timeout(Duration::from_secs(2)).unwrap());
    thread::sleep(Duration::from_millis(300)); // the connection waits between its requests
    let before_second = clock_monotonic_nanos();
    ask(&mut client, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    let second = arrival_stamps(&heads.recv_timeout(Duration::from_secs(2)).unwrap());
    assert_eq!((first.len(), second.len()), (1, 1));
    // Not the connection's first byte or the first request's time: the second request's own arrival, after the wait
    // (a stamp may only come out early, by a pause of the front's thread: 100 ms of slack for that).
    assert!(first[0] + 300_000_000 <= before_second, "{first:?} {before_second}");
    assert!(
        before_second <= second[0] + 100_000_000 && second[0] <= clock_monotonic_nanos(),
        "{before_second} {second:?}"
    );
}

#[test]
fn a_request_is_stamped_when_its_body_is_complete_not_when_its_head_came() {
    use super::arrival::clock_monotonic_nanos;
    let (addr, heads) = head_capturing_worker();
    let front = front(addr);
    let mut client = client_of(&front);
    client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n{}").unwrap();
    thread::sleep(Duration::from_millis(300)); // a slow upload: the real API starts only once it has the whole body
    let before_rest = clock_monotonic_nanos();
    ask(&mut client, b"  ");
    let stamps = arrival_stamps(&heads.recv_timeout(Duration::from_secs(2)).unwrap());
    assert_eq!(stamps.len(), 1);
    // As above, a stamp may only come out early, by a pause of the front's thread: 100 ms of slack for that.
    assert!(before_rest <= stamps[0] + 100_000_000 && stamps[0] <= clock_monotonic_nanos(), "{before_rest} {stamps:?}");
}

#[test]
fn an_arrival_stamp_is_seconds_with_nine_decimals() {
    let mut out = Vec::new();
    super::arrival::write_header(12_345_678_901_234, &mut out);
    super::arrival::write_header(5, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "x-sentra-arrived: 12345.678901234\r\nx-sentra-arrived: 0.000000005\r\n"
    );
}

#[test]
fn an_instant_converts_to_the_monotonic_clock_it_was_read_from() {
    use super::arrival::{clock_monotonic_nanos, monotonic_nanos};
    let at = std::time::Instant::now();
    let after = clock_monotonic_nanos();
    let converted = monotonic_nanos(at);
    let earlier = monotonic_nanos(at - Duration::from_secs(2));
    // Never later than the moment itself (so never in the future), and earlier moments map earlier.
    assert!(converted <= after, "{converted} <= {after}");
    assert!(earlier + 2_000_000_000 <= converted + 1_000_000 && earlier < converted, "{earlier} {converted}");
}

/// A worker that answers each request (one read) with what `answer` returns, called when the request came.
fn answering_worker(answer: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = Arc::clone(&answer);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&answer()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A worker that answers every request with a replay note and counts the requests it got.
fn noting_worker() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    worker_noting("", "")
}

/// A worker whose every answer is a stored one: a note with the row's document, whose id is the answer's.
fn storing_worker() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use base64::Engine as _;
    let doc = base64::engine::general_purpose::STANDARD.encode(b"{\"id\":\"x-AAAAAAAA\"}");
    worker_noting(";store=responses:7:10:none;doc=ans:9:8:10", &format!("x-sentra-replay-doc: {doc}\r\n"))
}

/// A counting worker whose note ends with `note_tail`, and with `lines` among its headers.
fn worker_noting(note_tail: &str, lines: &str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    let (note_tail, lines) = (note_tail.to_string(), lines.to_string());
    let addr = answering_worker(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = b"{\"id\": \"x-AAAAAAAA\"}";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-sentra-replay: ttl=5000;body=b62:10:8;headers={note_tail}\r\n\
             {lines}x-request-id: req_00000000\r\nx-sentra-replay-tag: [\"m\",1]\r\n\r\n",
            body.len()
        );
        [head.as_bytes(), body].concat()
    });
    (addr, requests)
}

fn ask_and_read(client: &mut TcpStream, request: &[u8]) -> String {
    client.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"}") {
        let n = client.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn replays_are_counted_only_when_someone_takes_the_counts() {
    let (addr, requests) = noting_worker();
    let config = FrontConfig { count_replays: false, ..config() };
    let front = Front::bind("127.0.0.1:0".parse().unwrap(), &[addr], config).unwrap();
    front.start().unwrap();
    let mut client = client_of(&front);
    let same = b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
    for _ in 0..3 {
        ask_and_read(&mut client, same);
    }
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1, "replayed all the same");
    assert!(front.take_replays().is_empty());
}

#[test]
fn a_noted_answer_is_replayed_to_identical_requests_until_the_control_api_is_called() {
    let (addr, requests) = noting_worker();
    let front = front(addr);
    let mut client = client_of(&front);
    let same = b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
    let answers: Vec<String> = (0..3).map(|_| ask_and_read(&mut client, same)).collect();
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1, "the worker saw only the first");
    for answer in &answers {
        assert!(!answer.contains("x-sentra-replay"), "{answer}");
        assert!(answer.contains("x-request-id: req_00000000\r\n"), "{answer}");
    }
    let ids: std::collections::HashSet<&str> = answers.iter().map(|a| &a[a.find("\"x-").unwrap()..][..11]).collect();
    assert_eq!(ids.len(), 3, "each answer has its own id: {ids:?}");
    assert_eq!(front.take_replays(), vec![(b"[\"m\",1]".to_vec(), 0, 2)]);
    assert!(front.take_replays().is_empty(), "taken once");

    // Another body, another header: the worker answers.
    ask_and_read(&mut client, b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n{ }");
    ask_and_read(&mut client, b"POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
    // A control call: the next identical request goes to the worker again.
    ask_and_read(&mut client, b"POST /sentra/v1/reset HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}");
    ask_and_read(&mut client, same);
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 5);
    ask_and_read(&mut client, same);
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 5);
}

#[test]
fn a_replayed_stored_answer_is_sent_once_the_front_stored_its_row_or_else_the_worker_answers() {
    let same = b"POST /v1/responses HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
    let (_dir, path) = super::store::testing::store();
    let (addr, requests) = storing_worker();
    let front = Front::bind(
        "127.0.0.1:0".parse().unwrap(),
        &[addr],
        FrontConfig { store: Some(super::store::testing::normal(&path)), ..config() },
    )
    .unwrap();
    front.start().unwrap();
    let mut client = client_of(&front);
    let answers: Vec<String> = (0..3).map(|_| ask_and_read(&mut client, same)).collect();
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1, "the worker saw only the first");
    assert!(answers.iter().all(|a| !a.contains("x-sentra-replay")), "{answers:?}");
    let rows = super::store::testing::rows(&path);
    let stored: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let replayed: Vec<String> =
        answers[1..].iter().map(|a| a[a.find("\"x-").unwrap() + 1..][..10].to_string()).collect();
    assert_eq!(stored, replayed, "each replay's row, with the replay's own id");
    assert_eq!(rows[0].body, format!("{{\"id\":\"{}\"}}", replayed[0]).into_bytes());

    // A store the front cannot write: every request goes to the worker, and is answered.
    let (addr, requests) = storing_worker();
    let nowhere = path.with_file_name("missing/state.sqlite3");
    let front = Front::bind(
        "127.0.0.1:0".parse().unwrap(),
        &[addr],
        FrontConfig { store: Some(super::store::testing::normal(&nowhere)), ..config() },
    )
    .unwrap();
    front.start().unwrap();
    let mut client = client_of(&front);
    for _ in 0..3 {
        assert!(ask_and_read(&mut client, same).starts_with("HTTP/1.1 200 OK"));
    }
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// A worker that answers with a paced stream: three events due 30, 60 and 90 ms after the request came, written at
/// once, then (with `cut`) a cut marker; the body chunked or with a Content-Length.
fn pacing_worker(cut: bool, chunked: bool) -> SocketAddr {
    answering_worker(move || {
        let start = super::arrival::clock_monotonic_nanos();
        let pace = String::from_utf8_lossy(&TOKEN[..20]);
        let mut body = Vec::new();
        for (k, ms) in [30u64, 60, 90].iter().enumerate() {
            body.extend_from_slice(format!("\0{pace}@{}\ndata: {k}\n\n", start + ms * 1_000_000).as_bytes());
        }
        let cut_line = if cut {
            body.extend_from_slice(b"\0");
            body.extend_from_slice(TOKEN);
            format!("x-sentra-cut: {}\r\n", String::from_utf8_lossy(TOKEN))
        } else {
            String::new()
        };
        if !chunked {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\
                                x-sentra-pace: {pace}\r\n{cut_line}\r\n",
                body.len()
            );
            return [head.into_bytes(), body].concat();
        }
        let head = format!("{}x-sentra-pace: {pace}\r\n{cut_line}\r\n", String::from_utf8_lossy(HEAD));
        let chunk = [format!("{:x}\r\n", body.len()).into_bytes(), body, b"\r\n0\r\n\r\n".to_vec()].concat();
        [head.into_bytes(), chunk].concat()
    })
}

/// Reads until the connection closes or `until` is in what came; each read with the monotonic time it came.
fn timed_reads(client: &mut TcpStream, until: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut reads = Vec::new();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !all.ends_with(until) {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                reads.push((super::arrival::clock_monotonic_nanos(), buf[..n].to_vec()));
                all.extend_from_slice(&buf[..n]);
            }
        }
    }
    reads
}

#[test]
fn a_paced_stream_written_at_once_reaches_the_client_event_by_event_never_early() {
    for chunked in [true, false] {
        paced_stream_reaches_the_client_event_by_event(chunked);
    }
}

fn paced_stream_reaches_the_client_event_by_event(chunked: bool) {
    let front = front(pacing_worker(false, chunked));
    let mut client = client_of(&front);
    let asked = super::arrival::clock_monotonic_nanos();
    client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    let reads = timed_reads(&mut client, b"0\r\n\r\n");
    let all: Vec<u8> = reads.iter().flat_map(|(_, r)| r.clone()).collect();
    let text = String::from_utf8_lossy(&all).to_string();
    assert!(!text.contains("x-sentra-pace") && !text.contains('\0'), "{text}");
    assert!(text.contains("transfer-encoding: chunked\r\n") && !text.contains("content-length"), "{text}");
    assert!(text.ends_with("data: 2\n\n\r\n0\r\n\r\n"), "{text}");
    for k in 0..3u64 {
        let needle = format!("data: {k}\n");
        let (at, _) = reads.iter().find(|(_, r)| String::from_utf8_lossy(r).contains(&needle)).expect("every event");
        // The worker set each due from its own clock, after the request was sent: an event never comes earlier.
        assert!(*at >= asked + (k + 1) * 30_000_000, "event {k} came {} ms after asking", (at - asked) / 1_000_000);
    }
    // The connection stays usable for the next request.
    client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    assert!(!timed_reads(&mut client, b"0\r\n\r\n").is_empty());
}

#[test]
fn a_paced_stream_with_a_cut_sends_its_events_then_drops_the_connection_without_the_last_chunk() {
    let front = front(pacing_worker(true, false));
    let mut client = client_of(&front);
    client.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("the front closes the connection");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("data: 2\n\n\r\n") && !text.contains("\r\n0\r\n\r\n") && !text.contains('\0'), "{text}");
}

/// A worker that counts the requests it got and answers none of them until `open` is set.
fn gated_worker() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>, Arc<std::sync::atomic::AtomicBool>) {
    let got = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (counter, gate) = (Arc::clone(&got), Arc::clone(&open));
    let addr = answering_worker(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        while !gate.load(std::sync::atomic::Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec()
    });
    (addr, got, open)
}

#[test]
fn a_worker_gets_at_most_its_share_of_unanswered_requests_and_the_rest_wait_in_line() {
    use std::sync::atomic::Ordering::SeqCst;
    let (addr, got, open) = gated_worker();
    let front = Front::bind("127.0.0.1:0".parse().unwrap(), &[addr], FrontConfig { max_connections: 1000, ..config() })
        .unwrap();
    front.start().unwrap();
    let extra = 3;
    let mut clients: Vec<TcpStream> = (0..super::upstream::MAX_UNANSWERED + extra)
        .map(|_| {
            let mut client = TcpStream::connect(("127.0.0.1", front.port())).unwrap();
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            client.write_all(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            client
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while got.load(SeqCst) < super::upstream::MAX_UNANSWERED && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100)); // time for any request beyond the share to arrive, had it been sent
    assert_eq!(got.load(SeqCst), super::upstream::MAX_UNANSWERED);
    open.store(true, SeqCst);
    for client in &mut clients {
        let mut answer = vec![0u8; 40];
        client.read_exact(&mut answer).unwrap();
        assert!(answer.ends_with(b"\r\n\r\nok"));
    }
    assert_eq!(got.load(SeqCst), super::upstream::MAX_UNANSWERED + extra);
}

#[test]
fn an_answer_due_later_is_held_by_the_front_until_its_moment() {
    let addr = answering_worker(|| {
        let due = super::arrival::clock_monotonic_nanos() + 80_000_000;
        format!("HTTP/1.1 200 OK\r\nx-sentra-due: {due}\r\ncontent-length: 2\r\n\r\nok").into_bytes()
    });
    let front = front(addr);
    let mut client = client_of(&front);
    for _ in 0..2 {
        let asked = super::arrival::clock_monotonic_nanos();
        client.write_all(b"GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut answer = vec![0u8; 40];
        client.read_exact(&mut answer).unwrap();
        let came = super::arrival::clock_monotonic_nanos();
        assert_eq!(answer, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert!(came >= asked + 80_000_000, "held only {} ms", (came - asked) / 1_000_000);
    }
}

/// Shapes (shape.rs): a worker whose answer to one chat request describes the answer to any prompt in its place.
mod shapes {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use blake2::digest::consts::U16;
    use blake2::{Blake2b, Digest};

    use super::*;
    use crate::cost::{cost_picodollars, format_usd};
    use crate::front::Textgen;
    use crate::textgen::bpe::Encoding;
    use crate::textgen::compose::generate_answer;
    use crate::textgen::lexicon::{test_lexicon, TEST_LEXICON};
    use crate::textgen::pyrandom::PyRandom;

    const PATTERN: &str = r"\s+|\S+";
    const PRICE: [u64; 3] = [2_500_000, 1_250_000, 10_000_000];
    const BASE: usize = 8;
    const MAX_PROMPT: usize = BASE + 200;
    const SEED: &str = "0:";
    const PRE: &[u8] = b"('chat', 'm', [('messages', [{'content': ";
    const SUF: &[u8] = b", 'role': 'user'}]), ('model', 'm')])";
    const FIRST: &str = "Hello there";
    const FIRST_ANSWER: &str = "Here is the answer, \\\"quoted\\\".";

    /// A `.tiktoken` file whose 256 tokens are the single bytes: a token per byte. Written once per test process,
    /// to a name of its own and then renamed into place, so that no test (of this process or another) reads it half
    /// written; its content never changes, so one file serves every run.
    fn byte_ranks() -> std::path::PathBuf {
        static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        PATH.get_or_init(|| {
            let text: String = (0..=255u8).map(|b| format!("{} {b}\n", BASE64.encode([b]))).collect();
            let path = std::env::temp_dir().join("sentra-shape-bytes.tiktoken");
            let partial = path.with_extension(format!("{}.partial", std::process::id()));
            std::fs::write(&partial, text).unwrap();
            std::fs::rename(&partial, &path).unwrap();
            path
        })
        .clone()
    }

    fn textgen() -> Arc<Textgen> {
        Arc::new(Textgen::new(TEST_LEXICON, vec![("bytes".into(), byte_ranks(), PATTERN.into())]).unwrap())
    }

    fn request(head_extra: &str, raw_prompt: &str) -> Vec<u8> {
        let body = format!("{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"{raw_prompt}\"}}]}}");
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n{head_extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// An answer body as orjson indents it; `content` already escaped.
    fn body(content: &str, finish: &str, prompt: usize, completion: usize) -> String {
        format!(
            "{{\n  \"id\": \"chatcmpl-AbCdEfGh\",\n  \"object\": \"chat.completion\",\n  \"created\": 1796186087,\n  \
             \"model\": \"m\",\n  \"choices\": [\n    {{\n      \"index\": 0,\n      \"message\": {{\n        \
             \"role\": \"assistant\",\n        \"content\": \"{content}\"\n      }},\n      \"finish_reason\": \
             \"{finish}\"\n    }}\n  ],\n  \"usage\": {{\n    \"prompt_tokens\": {prompt},\n    \"completion_tokens\": \
             {completion},\n    \"total_tokens\": {}\n  }}\n}}",
            prompt + completion
        )
    }

    fn cost(prompt: usize, completion: usize) -> u128 {
        cost_picodollars(prompt as u64, 0, completion as u64, PRICE[0], PRICE[1], PRICE[2]).unwrap()
    }

    /// The head a client gets (the front's notes left out).
    fn head(body_len: usize, cost: u128) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\n\
             x-request-id: req_0123456789abcdef0123456789abcdef\r\nopenai-processing-ms: 3\r\n\
             x-sentra-cost-usd: {}\r\n",
            format_usd(cost)
        )
    }

    fn span(text: &str, after: &str, len: usize) -> std::ops::Range<usize> {
        let start = text.find(after).unwrap() + after.len();
        start..start + len
    }

    fn colon(r: std::ops::Range<usize>) -> String {
        format!("{}:{}", r.start, r.end)
    }

    /// The worker's answer to the first request, with its notes: the shape's template.
    fn noted_answer(limit: usize) -> Vec<u8> {
        let request = request("", FIRST);
        let request_body =
            std::str::from_utf8(&request[request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..])
                .unwrap()
                .to_string();
        let (prompt, completion) = (BASE + FIRST.len(), FIRST_ANSWER.len() - 4);
        let text = body(FIRST_ANSWER, "stop", prompt, completion);
        let tag = format!("[\"m\",\"chat.completions\",200,{prompt},0,{completion},{}]", cost(prompt, completion));
        let id = span(&text, "\"chatcmpl-", 8);
        let created = span(&text, "\"created\": ", 10);
        let note = format!(
            "ttl=5000;body=b62:{}:8,unix:{}:10;headers=x-request-id:hex:4:32,openai-processing-ms:ms",
            id.start, created.start
        );
        let rules = BASE64.encode(concat!(
            r#"[{"exact": "Say this is a test", "regex": null, "model": null},"#,
            r#" {"exact": null, "regex": "(?i)weather", "model": "m*"}]"#
        ));
        let gen = format!(
            "hole={};seed={};key={}:{};enc=bytes;verbosity=medium;limit={limit};budget={limit};\
             prompt={BASE}:{MAX_PROMPT};\
             content={};finish={};usage={},{},{};price={}:{}:{};fixtures={rules}",
            colon(span(&request_body, "\"content\":\"", FIRST.len())),
            BASE64.encode(SEED),
            BASE64.encode(PRE),
            BASE64.encode(SUF),
            colon(span(&text, "\"content\": \"", FIRST_ANSWER.len())),
            colon(span(&text, "\"finish_reason\": \"", 4)),
            colon(span(&text, "\"prompt_tokens\": ", prompt.to_string().len())),
            colon(span(&text, "\"completion_tokens\": ", completion.to_string().len())),
            colon(span(&text, "\"total_tokens\": ", (prompt + completion).to_string().len())),
            PRICE[0],
            PRICE[1],
            PRICE[2],
        );
        let head = head(text.len(), cost(prompt, completion));
        format!(
            "{head}x-sentra-replay: {note}\r\nx-sentra-replay-gen: {gen}\r\nx-sentra-replay-tag: {tag}\r\n\r\n{text}"
        )
        .into_bytes()
    }

    /// The worker's answer to any other request: the same, without notes.
    fn plain_answer() -> Vec<u8> {
        let (prompt, completion) = (BASE + FIRST.len(), FIRST_ANSWER.len() - 4);
        let text = body(FIRST_ANSWER, "stop", prompt, completion);
        format!("{}\r\n{text}", head(text.len(), cost(prompt, completion))).into_bytes()
    }

    /// A worker that answers the first request's bytes with the noted answer, any other with the plain one, and
    /// counts the requests it got.
    fn shaping_worker(limit: usize) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let first = request("", FIRST);
        let first_body = first[first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..].to_vec();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (counter, first_body) = (Arc::clone(&counter), first_body.clone());
                thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4) else {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if got.len() < end + length {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                            continue;
                        }
                        let body: Vec<u8> = got.drain(..end + length).skip(end).collect();
                        counter.fetch_add(1, Ordering::SeqCst);
                        let answer = if body == first_body { noted_answer(limit) } else { plain_answer() };
                        if stream.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, requests)
    }

    fn shaping_front(limit: usize) -> (Arc<Front>, Arc<AtomicUsize>) {
        let (addr, requests) = shaping_worker(limit);
        let front =
            Front::bind("127.0.0.1:0".parse().unwrap(), &[addr], FrontConfig { textgen: Some(textgen()), ..config() })
                .unwrap();
        front.start().unwrap();
        (front, requests)
    }

    /// Reads one whole response (by its content-length).
    fn read_response(client: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4) {
                let head = String::from_utf8_lossy(&got[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + length {
                    assert_eq!(got.len(), end + length, "nothing after the body");
                    return String::from_utf8(got).unwrap();
                }
            }
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }

    fn ask(client: &mut TcpStream, request: &[u8]) -> String {
        client.write_all(request).unwrap();
        read_response(client)
    }

    /// The response with its fills (id, creation time, request id, elapsed ms) set to the template's values, after
    /// checking that they were renewed.
    fn unfilled(response: &str) -> String {
        let mut text = response.to_string();
        let id = span(&text, "\"chatcmpl-", 8);
        assert_ne!(&text[id.clone()], "AbCdEfGh", "a fresh id");
        assert!(text[id.clone()].bytes().all(|b| b.is_ascii_alphanumeric()));
        text.replace_range(id, "AbCdEfGh");
        let created = span(&text, "\"created\": ", 10);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(text[created.clone()].parse::<u64>().unwrap().abs_diff(now) <= 2, "the time of the answer");
        text.replace_range(created, "1796186087");
        let rid = span(&text, "x-request-id: req_", 32);
        assert_ne!(&text[rid.clone()], "0123456789abcdef0123456789abcdef");
        text.replace_range(rid, "0123456789abcdef0123456789abcdef");
        let ms_at = text.find("openai-processing-ms: ").unwrap() + 22;
        let ms_end = ms_at + text[ms_at..].find('\r').unwrap();
        assert!(text[ms_at..ms_end].bytes().all(|b| b.is_ascii_digit()));
        text.replace_range(ms_at..ms_end, "3");
        text
    }

    /// What the protocol says the answer to `prompt` is (its Python repr given), as the engine composes it.
    fn expected(prompt: &str, repr: &str, limit: usize) -> (String, String) {
        let mut hashed = PRE.to_vec();
        hashed.extend_from_slice(repr.as_bytes());
        hashed.extend_from_slice(SUF);
        let digest: String = Blake2b::<U16>::digest(&hashed).iter().map(|b| format!("{b:02x}")).collect();
        let mut rng = PyRandom::from_str_seed(&format!("{SEED}{digest}"));
        rng.random();
        let enc = Encoding::new(&std::fs::read(byte_ranks()).unwrap(), PATTERN).unwrap();
        let lexicon = test_lexicon();
        let answer = generate_answer(&mut rng, limit, &enc, &lexicon, prompt, "medium");
        assert_eq!(answer.completion_tokens, answer.text.len(), "a token per byte");
        let content = answer.text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let p = BASE + prompt.len();
        let c = answer.completion_tokens;
        let text = body(&content, answer.finish_reason.as_str(), p, c);
        let tag = format!("[\"m\",\"chat.completions\",200,{p},0,{c},{}]", cost(p, c));
        (format!("{}\r\n{text}", head(text.len(), cost(p, c))), tag)
    }

    #[test]
    fn a_new_prompt_of_a_noted_shape_is_answered_by_the_front_as_the_engine_would() {
        let (front, requests) = shaping_front(4096);
        let mut client = client_of(&front);
        let first = ask(&mut client, &request("", FIRST));
        assert!(!first.contains("x-sentra-replay"), "{first}");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        let cases = [
            ("Tell me about useful units", "Tell me about useful units", "'Tell me about useful units'"),
            (r#"it's a \"test\"\n\u0041\/"#, "it's a \"test\"\nA/", r#"'it\'s a "test"\nA/'"#),
            (
                "Honest hours, open ideas: adjusting clear units",
                "Honest hours, open ideas: adjusting clear units",
                "'Honest hours, open ideas: adjusting clear units'",
            ),
            (r"caf\u00e9 \u201cd\u00e9j\u00e0\u201d", "café “déjà”", "'café “déjà”'"),
            ("日本語の質問 — ёлка", "日本語の質問 — ёлка", "'日本語の質問 — ёлка'"),
        ];
        let mut tags = Vec::new();
        for (raw, prompt, repr) in cases {
            let answer = ask(&mut client, &request("", raw));
            let (want, tag) = expected(prompt, repr, 4096);
            assert_eq!(unfilled(&answer), want, "{prompt}");
            tags.push((tag.into_bytes(), 1));
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1, "the front answered them all");
        let mut taken: Vec<(Vec<u8>, u64)> = front.take_replays().into_iter().map(|(tag, _, n)| (tag, n)).collect();
        taken.sort();
        tags.sort();
        assert_eq!(taken, tags, "each answer counted under its own usage and cost");
        // The first prompt again is an exact replay of the worker's answer.
        let again = ask(&mut client, &request("", FIRST));
        assert_eq!(unfilled(&again), String::from_utf8(plain_answer()).unwrap());
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_answer_cut_at_the_budget_says_length() {
        let (front, requests) = shaping_front(12);
        let mut client = client_of(&front);
        ask(&mut client, &request("", FIRST));
        let prompt = "Tell me about useful units, at length";
        let answer = ask(&mut client, &request("", prompt));
        let (want, _) = expected(prompt, &format!("'{prompt}'"), 12);
        assert_eq!(unfilled(&answer), want);
        assert!(want.contains("\"finish_reason\": \"length\"") && want.contains("\"completion_tokens\": 12"), "{want}");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn prompts_the_front_cannot_answer_exactly_go_to_the_worker() {
        let (front, requests) = shaping_front(4096);
        let mut client = client_of(&front);
        ask(&mut client, &request("", FIRST));
        let long = "a".repeat(MAX_PROMPT - BASE + 1);
        let forwarded: [(&str, &str); 9] = [
            ("", "smile \\ud83d\\ude42"),              // escaped, but an emoji
            ("", "no\u{a0}break"),                     // raw UTF-8, a no-break space
            ("", "Say this is a test"),                // a fixture's exact prompt
            ("", "What is the WEATHER like?"),         // a fixture's regex
            ("", "give me ```json please"),            // asks for a schema's instance
            ("", "a\", \"role\": \"user"),             // not one JSON string
            ("", "bad \\x escape"),                    // not a JSON escape
            ("", &long),                               // past the prompt limit
            ("x-other: 1\r\n", "Tell me about units"), // another head
        ];
        for (n, (extra, raw)) in forwarded.iter().enumerate() {
            let answer = ask(&mut client, &request(extra, raw));
            assert_eq!(answer, String::from_utf8(plain_answer()).unwrap(), "{raw}");
            assert_eq!(requests.load(Ordering::SeqCst), n + 2, "{raw}");
        }
        // At the limit exactly, the front answers.
        let limit = "a".repeat(MAX_PROMPT - BASE);
        ask(&mut client, &request("", &limit));
        assert_eq!(requests.load(Ordering::SeqCst), forwarded.len() + 1);
        // A control call drops the shape.
        ask(&mut client, b"POST /sentra/v1/reset HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}");
        ask(&mut client, &request("", "Tell me about useful units"));
        assert_eq!(requests.load(Ordering::SeqCst), forwarded.len() + 3);
    }
}
