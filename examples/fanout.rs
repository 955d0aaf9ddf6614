//! An API gateway fans one request out to four HTTP services and fails fast.
//!
//! The example starts four small HTTP/1 services on 127.0.0.1 (ports chosen by the OS), each
//! with a latency and a failure switch, then serves two product-page requests. Each request
//! calls every service at once through an `ErrGroup`, with a real hyper client:
//!
//! 1. every service is healthy: the four answers are assembled into one page;
//! 2. `inventory` fails fast while `recommendations` is slow: the first error fails the request,
//!    and the calls still in flight are dropped on the spot (their drop guards say so), so the
//!    request takes about as long as the failing call, not the slow one.
//!
//! Run it with `cargo run --example fanout`. Nothing outside 127.0.0.1 is contacted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use errgroup::ErrGroup;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// The downstream services: a hyper server each, with a latency and a failure switch.

/// One downstream service, as both its server and the gateway see it.
struct Service {
    name: &'static str,
    addr: SocketAddr,
    latency_ms: AtomicU64,
    failing: AtomicBool,
    /// Set by the server when a client went away before the answer was sent.
    abandoned: AtomicBool,
}

impl Service {
    /// Binds a port chosen by the OS and serves every connection on its own task.
    async fn start(name: &'static str, latency_ms: u64) -> std::io::Result<Arc<Service>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let service = Arc::new(Service {
            name,
            addr: listener.local_addr()?,
            latency_ms: AtomicU64::new(latency_ms),
            failing: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        });
        let shared = Arc::clone(&service);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = Arc::clone(&shared);
                let handler =
                    hyper::service::service_fn(move |req| Arc::clone(&service).answer(req));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), handler),
                );
            }
        });
        Ok(service)
    }

    /// Waits for the configured latency, then answers 200 or 503.
    async fn answer(
        self: Arc<Self>,
        _req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        // hyper drops this future when the client closes the connection mid-request.
        let mut guard = ServerGuard(Some(Arc::clone(&self)));
        tokio::time::sleep(Duration::from_millis(self.latency_ms.load(SeqCst))).await;
        guard.0 = None;
        let (status, body) = if self.failing.load(SeqCst) {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable".to_string())
        } else {
            (StatusCode::OK, format!("{}-data", self.name))
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        Ok(response)
    }
}

/// Notes, on the server side, that a request was abandoned by its client.
struct ServerGuard(Option<Arc<Service>>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(service) = &self.0 {
            service.abandoned.store(true, SeqCst);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway: one request, one group, one call per service.

/// One downstream call: a fresh TCP connection and an HTTP/1 `GET /`, with a trace.
///
/// A guard prints "cancelled" if the group drops the call before it finishes.
async fn call(service: &Service, t0: Instant) -> Result<String, String> {
    println!("  [{:>4} ms] {:<15} call started", ms(t0), service.name);
    let guard = CallGuard {
        service: service.name,
        t0,
        armed: true,
    };
    let result = get(service).await;
    guard.disarm();
    match &result {
        Ok(body) => println!("  [{:>4} ms] {:<15} 200 OK: {body}", ms(t0), service.name),
        Err(error) => println!("  [{:>4} ms] {:<15} failed: {error}", ms(t0), service.name),
    }
    result
}

async fn get(service: &Service) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", service.name);
    let stream = TcpStream::connect(service.addr)
        .await
        .map_err(|e| fail(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(&e))?;
    let request = Request::get("/")
        .header(hyper::header::HOST, service.addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(&e))?;
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body)) // `sender` is dropped here, which lets `connection` finish
    };
    // hyper's connection driver runs right here, beside the request, instead of on a spawned
    // task: everything the call uses lives in the call, so when the group drops the call the
    // socket closes and the server sees its client go away. (Work that must be spawned is what
    // the group's `CancelToken` is for: see `examples/outside_work.rs`.)
    let ((status, body), ()) = tokio::try_join!(exchange, connection).map_err(|e| fail(&e))?;
    if !status.is_success() {
        return Err(fail(&status));
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Prints "cancelled <service> after <ms>" when a call is dropped before it finished.
struct CallGuard {
    service: &'static str,
    t0: Instant,
    armed: bool,
}

impl CallGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.armed {
            let at = ms(self.t0);
            println!("  [{at:>4} ms] cancelled {} after {at} ms", self.service);
            CANCELLED_CALLS.fetch_add(1, SeqCst);
        }
    }
}

static CANCELLED_CALLS: AtomicU64 = AtomicU64::new(0);

/// The gateway's handler: a product page needs all four services; any failure fails it.
async fn product_page(services: &[Arc<Service>]) -> Result<String, String> {
    let t0 = Instant::now();
    let mut group = ErrGroup::new();
    for service in services {
        // Each call borrows its `Service`: the group never spawns, so no `'static` is needed.
        group.push(call(service, t0));
    }
    // Every answer, in push order, or the first error with every other call already dropped.
    let [user, stock, price, recommended] = <[String; 4]>::try_from(group.await?).unwrap();
    Ok(format!(
        "{{user: {user}, stock: {stock}, price: {price}, recommended: {recommended}}}"
    ))
}

fn ms(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut services = Vec::new();
    for (name, latency_ms) in [
        ("users", 10),
        ("inventory", 40),
        ("pricing", 60),
        ("recommendations", 90),
    ] {
        services.push(Service::start(name, latency_ms).await?);
    }
    for service in &services {
        println!(
            "{:<15} listening on {} ({} ms)",
            service.name,
            service.addr,
            service.latency_ms.load(SeqCst)
        );
    }
    let (inventory, recommendations) = (&services[1], &services[3]);

    println!("\nrequest 1: every service healthy");
    let t0 = Instant::now();
    let page = product_page(&services).await?;
    println!(
        "request 1: 200 OK in {} ms (the slowest call, recommendations, takes 90 ms)\n  {page}",
        ms(t0)
    );

    inventory.latency_ms.store(15, SeqCst);
    inventory.failing.store(true, SeqCst);
    recommendations.latency_ms.store(2_000, SeqCst);
    println!("\nrequest 2: inventory now fails after 15 ms; recommendations now takes 2000 ms");
    let t0 = Instant::now();
    let error = product_page(&services).await.expect_err("inventory fails");
    let total = ms(t0);
    println!("request 2: 502 Bad Gateway in {total} ms, first error: {error}");
    println!("  (inventory fails after 15 ms, recommendations would answer after 2000 ms)");

    // Dropping the slow call closed its socket; give its server a moment to notice.
    for _ in 0..50 {
        if recommendations.abandoned.load(SeqCst) {
            println!(
                "  server side: recommendations saw its client go away and dropped the request"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancelled = CANCELLED_CALLS.load(SeqCst);
    if cancelled == 0 {
        return Err("request 2 failed without cancelling the slow call".into());
    }
    println!("\n{cancelled} calls cancelled; done");
    Ok(())
}
