//! Deadlines on a fan-out: one on the whole request, one on a single call, and a parent's
//! cancellation reaching a nested group.
//!
//! A gateway answers each request by calling four downstream services at once. Every call holds
//! a drop guard that reports when the call is dropped before it answered. Four requests:
//!
//! 1. every service answers within the request's 100 ms deadline;
//! 2. `recommendations` would take 2 s: at 100 ms the deadline ends the group, the call still in
//!    flight is dropped on the spot, and the token reports `Cause::Cancelled`;
//! 3. `pricing` has a 30 ms budget of its own, flattened into the call's error, so that its
//!    timeout fails the request at once like any other error;
//! 4. the client goes away at 40 ms: the request's groups, nested two deep, end together.
//!
//! Run it with `cargo run --example deadline`. The services are simulated with tokio's timer.

use std::time::{Duration, Instant};

use errgroup::{Cause, ErrGroup};
use tokio::time::{sleep, timeout};

#[derive(Debug, Clone, PartialEq)]
enum GatewayError {
    /// The whole request ran out of time: a 504.
    DeadlineExceeded,
    /// One call ran out of its own budget.
    Timeout(&'static str),
    /// The client went away: nobody is waiting for the answer.
    ClientGone,
}

/// Reports a call dropped before it answered.
struct InFlight {
    service: &'static str,
    start: Instant,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.answered {
            let ms = self.start.elapsed().as_millis();
            println!(
                "  [{ms:4} ms] dropped {:<16} its call was still in flight",
                self.service
            );
        }
    }
}

/// A downstream call that answers after `latency_ms`.
async fn call(
    service: &'static str,
    latency_ms: u64,
    start: Instant,
) -> Result<String, GatewayError> {
    let mut guard = InFlight {
        service,
        start,
        answered: false,
    };
    sleep(Duration::from_millis(latency_ms)).await;
    guard.answered = true;
    println!(
        "  [{:4} ms] {service:<24} answered",
        start.elapsed().as_millis()
    );
    Ok(format!("{service}-data"))
}

/// One request: four calls at once, the whole group under `deadline`.
async fn product_page(
    latencies: [u64; 4],
    deadline: Duration,
    start: Instant,
) -> (Result<Vec<String>, GatewayError>, Option<Cause>) {
    let [users, inventory, pricing, recommendations] = latencies;
    let mut group = ErrGroup::new();
    group.push(call("users", users, start));
    group.push(call("inventory", inventory, start));
    group.push(call("pricing", pricing, start));
    group.push(call("recommendations", recommendations, start));
    // The deadline is a future the group polls like a task: when it completes, the group ends
    // with the error it returns, every call dropped.
    group.cancel_on(async move {
        sleep(deadline).await;
        GatewayError::DeadlineExceeded
    });
    let token = group.token();
    (group.await, token.cause())
}

/// One request where `pricing` also has a budget of its own.
async fn with_call_budget(start: Instant) -> Result<Vec<String>, GatewayError> {
    let mut group = ErrGroup::new();
    group.push(call("users", 10, start));
    group.push(async move {
        // The timeout's error flattened into the call's: the group's `E` stays GatewayError,
        // and a timeout fails the group at once like any other error.
        timeout(Duration::from_millis(30), call("pricing", 500, start))
            .await
            .map_err(|_elapsed| GatewayError::Timeout("pricing"))?
    });
    group.push(call("recommendations", 2000, start));
    group.cancel_on(async {
        sleep(Duration::from_millis(100)).await;
        GatewayError::DeadlineExceeded
    });
    group.await
}

/// One request whose calls each fan out again, nested under a group that the client's
/// disconnect ends: the inner groups are the outer group's tasks, so they end with it.
async fn nested(
    client_gone: Duration,
    start: Instant,
) -> (Result<Vec<Vec<String>>, GatewayError>, Option<Cause>) {
    let mut request = ErrGroup::new();
    for (services, latency_ms) in [
        (["eu/users", "eu/stock"], 10),
        (["us/users", "us/stock"], 1000),
    ] {
        request.push(async move {
            let mut region = ErrGroup::new();
            for (i, service) in services.into_iter().enumerate() {
                region.push(call(service, latency_ms * (i as u64 + 1), start));
            }
            region.await
        });
    }
    let token = request.token();
    // Work outside the group that the request's token reaches: a spawned audit log writer.
    let audit = tokio::spawn(token.run_until_cancelled(async {
        sleep(Duration::from_secs(10)).await;
    }));
    request.cancel_on(async move {
        sleep(client_gone).await; // stands for the connection closing
        GatewayError::ClientGone
    });
    let result = request.await;
    assert_eq!(
        audit.await.unwrap(),
        None,
        "the spawned work was stopped too"
    );
    (result, token.cause())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let deadline = Duration::from_millis(100);

    println!(
        "request 1: every service answers within the {} ms deadline",
        deadline.as_millis()
    );
    let start = Instant::now();
    let (result, cause) = product_page([10, 20, 30, 40], deadline, start).await;
    println!(
        "request 1: {result:?} in {} ms\n",
        start.elapsed().as_millis()
    );
    assert_eq!(result.map(|page| page.len()), Ok(4));
    assert_eq!(cause, Some(Cause::Finished));

    println!("request 2: recommendations would take 2000 ms");
    let start = Instant::now();
    let (result, cause) = product_page([10, 20, 30, 2000], deadline, start).await;
    let took = start.elapsed();
    println!(
        "request 2: {result:?} ({cause:?}) in {} ms\n",
        took.as_millis()
    );
    assert_eq!(result, Err(GatewayError::DeadlineExceeded));
    assert_eq!(cause, Some(Cause::Cancelled));
    assert!(
        took < Duration::from_millis(1000),
        "the slow call was not waited for"
    );

    println!("request 3: pricing has 30 ms of its own, and would take 500 ms");
    let start = Instant::now();
    let result = with_call_budget(start).await;
    let took = start.elapsed();
    println!("request 3: {result:?} in {} ms\n", took.as_millis());
    assert_eq!(result, Err(GatewayError::Timeout("pricing")));
    assert!(
        took < Duration::from_millis(100),
        "the call's budget ended it before the deadline"
    );

    println!("request 4: the client goes away at 40 ms; each region fans out again");
    let start = Instant::now();
    let (result, cause) = nested(Duration::from_millis(40), start).await;
    println!(
        "request 4: {result:?} ({cause:?}) in {} ms",
        start.elapsed().as_millis()
    );
    assert_eq!(result, Err(GatewayError::ClientGone));
    assert_eq!(cause, Some(Cause::Cancelled));
}
