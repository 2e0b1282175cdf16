//! A loopback proxy between Quiver and the S3 server that fails a share of
//! the requests on a fixed schedule: a 500, a 503 SlowDown, a response cut
//! in the middle of its body, and a slow answer. Or, as another writer
//! that always wins, it answers every conditional create of some objects
//! with S3's `412 Precondition Failed`. Each request goes on its
//! own connection (`Connection: close`), so a fault never leaks into the
//! next request. It counts what it did, for the test's report.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Passed on unharmed.
    None,
    /// Answered `500 Internal Server Error` without asking the server.
    Status500,
    /// Answered `503 SlowDown` without asking the server.
    SlowDown,
    /// Passed on, then the answer cut halfway and the connection closed.
    CutMidBody,
    /// Passed on after a 300 ms wait.
    Slow,
    /// A conditional create (`If-None-Match: *`) answered `412
    /// Precondition Failed`, as S3 answers when another writer created the
    /// object first, without asking the server.
    LostCreate,
}

/// Which requests meet which fault.
#[derive(Clone)]
enum Schedule {
    /// Of every `period` requests, the 2nd to 5th.
    Period(usize),
    /// Every conditional create of a key ending so.
    LoseCreates(&'static str),
}

/// The proxy; it runs until the test process ends.
pub struct FaultProxy {
    port: u16,
    done: Arc<Mutex<BTreeMap<Fault, usize>>>,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream`: of every `period` requests,
    /// the 2nd to 5th get a 500, a 503 SlowDown, a cut body and a slow answer.
    pub fn start(upstream: u16, period: usize) -> Self {
        assert!(period >= 5, "a period holds the four faults and at least one clean request");
        Self::with(upstream, Schedule::Period(period))
    }

    /// Starts a proxy to `127.0.0.1:upstream` that loses every conditional
    /// create of a key ending in `suffix` to a writer that never was.
    pub fn losing_creates(upstream: u16, suffix: &'static str) -> Self {
        Self::with(upstream, Schedule::LoseCreates(suffix))
    }

    fn with(upstream: u16, schedule: Schedule) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let done: Arc<Mutex<BTreeMap<Fault, usize>>> = Arc::default();
        let counter = Arc::new(AtomicUsize::new(0));
        let tally = done.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (counter, tally, schedule) = (counter.clone(), tally.clone(), schedule.clone());
                std::thread::spawn(move || {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if let Ok(fault) = serve(client, upstream, |head| choose(&schedule, n, head)) {
                        *tally.lock().unwrap().entry(fault).or_default() += 1;
                    }
                });
            }
        });
        Self { port, done }
    }

    /// The endpoint to give Quiver.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests met each fault so far.
    pub fn faults(&self) -> BTreeMap<Fault, usize> {
        self.done.lock().unwrap().clone()
    }
}

/// The fault of the `n`th request, whose head (request line and headers) is `head`.
fn choose(schedule: &Schedule, n: usize, head: &str) -> Fault {
    match schedule {
        Schedule::Period(period) => match n % period {
            1 => Fault::Status500,
            2 => Fault::SlowDown,
            3 => Fault::CutMidBody,
            4 => Fault::Slow,
            _ => Fault::None,
        },
        Schedule::LoseCreates(suffix) => {
            let line = head.lines().next().unwrap_or_default();
            let path = line.split(' ').nth(1).unwrap_or_default();
            let conditional = head.lines().any(|h| h.to_ascii_lowercase().starts_with("if-none-match:"));
            if line.starts_with("PUT ") && path.ends_with(suffix) && conditional {
                Fault::LostCreate
            } else {
                Fault::None
            }
        }
    }
}

/// Reads one request from `client` and answers it according to the fault
/// `choose` picks from its head; the fault.
fn serve(client: TcpStream, upstream: u16, choose: impl Fn(&str) -> Fault) -> std::io::Result<Fault> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        assert!(!lower.starts_with("transfer-encoding:"), "the proxy does not take chunked request bodies");
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let fault = choose(&String::from_utf8_lossy(&head));
    let mut client = client;
    let refuse = |client: &mut TcpStream, status: &str, code: &str| {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
        );
        write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )
    };
    match fault {
        Fault::Status500 => return refuse(&mut client, "500 Internal Server Error", "InternalError").map(|()| fault),
        Fault::SlowDown => return refuse(&mut client, "503 Service Unavailable", "SlowDown").map(|()| fault),
        Fault::LostCreate => {
            return refuse(&mut client, "412 Precondition Failed", "PreconditionFailed").map(|()| fault);
        }
        Fault::Slow => std::thread::sleep(Duration::from_millis(300)),
        Fault::None | Fault::CutMidBody => {}
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(&head)?;
    server.write_all(&body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    if fault == Fault::CutMidBody {
        let header_end = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |at| at + 4);
        let body_len = answer.len() - header_end;
        // Half the body; an answer without one is cut inside its headers.
        let keep = if body_len > 1 { header_end + body_len / 2 } else { header_end / 2 };
        client.write_all(&answer[..keep])?;
        return client.shutdown(std::net::Shutdown::Both).map(|()| fault);
    }
    client.write_all(&answer).map(|()| fault)
}
