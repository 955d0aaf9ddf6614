//! The README's code, compiled and run: each function below holds one of the README's snippets,
//! line for line, with just enough of an `Api` around them to run, and `main` checks that each
//! does what the README says.
//!
//! Run it with `cargo run --example readme`; `cargo test` compiles it, so the README's code
//! cannot drift from the real API unnoticed.

use std::convert::Infallible;
use std::time::Duration;

use errgroup::{CancelToken, ErrGroup};
use futures::StreamExt;

type Json = String;

#[derive(Debug, PartialEq)]
enum ApiError {
    /// A downstream service answered with an error.
    Status(String),
    /// A deadline passed.
    Timeout,
    /// A parent was cancelled.
    Cancelled,
}

#[derive(Debug, PartialEq)]
struct Page {
    user: Json,
    stock: Json,
    price: Json,
}

/// A stand-in for a client of the downstream services: `down` fails at once, `slow` answers
/// after ten seconds, the others after ten milliseconds.
struct Api {
    down: &'static str,
    slow: &'static str,
}

impl Api {
    const UP: Api = Api { down: "", slow: "" };

    async fn get(&self, service: &str, id: u64) -> Result<Json, ApiError> {
        if service == self.down {
            return Err(ApiError::Status(format!("{service}: 503")));
        }
        let latency = if service == self.slow { 10_000 } else { 10 };
        tokio::time::sleep(Duration::from_millis(latency)).await;
        Ok(format!("{service}/{id}"))
    }

    fn cached(&self, service: &str, id: u64) -> Json {
        format!("{service}/{id} (cached)")
    }
}

// ---- the README's first example ----
async fn product_page(api: &Api, id: u64) -> Result<Page, ApiError> {
    let mut group = ErrGroup::new();
    group.push(api.get("users", id)); // futures of any types, each returning
    group.push(api.get("inventory", id)); // Result<Json, ApiError>, borrowing the caller's data
    group.push(async { Ok(api.cached("pricing", id)) });
    // All answers in push order, or the first error with every other call already dropped.
    let [user, stock, price] = <[Json; 3]>::try_from(group.await?).unwrap();
    Ok(Page { user, stock, price })
}

// ---- "The one trap: tasks run only while the group is polled" ----

#[derive(Debug, PartialEq)]
struct User(u64);

/// A database whose `save` takes a while.
struct Db;

impl Db {
    async fn save(&self, user: &User) -> Result<(), ApiError> {
        let _ = user.0;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

async fn save_all(db: &Db, mut group: ErrGroup<'_, User, ApiError>) -> Result<(), ApiError> {
    while let Some(user) = group.try_next().await? {
        group.run_until(db.save(&user)).await??; // the other fetches carry on meanwhile
    }
    Ok(())
}

// ---- "Deadlines and timeouts" ----

/// A deadline on the whole group.
async fn users(api: &Api, ids: Vec<u64>) -> Result<Vec<Json>, ApiError> {
    let mut group = ErrGroup::new();
    for id in ids {
        group.push(api.get("users", id));
    }
    group.cancel_on(async {
        tokio::time::sleep(Duration::from_millis(250)).await; // or smol::Timer::after(..)
        ApiError::Timeout
    });
    let users = group.await?; // Err(ApiError::Timeout) if the deadline passed first
    Ok(users)
}

/// The same deadline with smol's timer, as the README's comment says.
async fn users_on_smol(api: &Api, ids: Vec<u64>) -> Result<Vec<Json>, ApiError> {
    let mut group = ErrGroup::new();
    for id in ids {
        group.push(api.get("users", id));
    }
    group.cancel_on(async {
        smol::Timer::after(Duration::from_millis(250)).await;
        ApiError::Timeout
    });
    group.await
}

/// A group tied to a parent's cancellation (Go's `WithContext(parent)`).
async fn child(api: &Api, parent: CancelToken, id: u64) -> Result<Vec<Json>, ApiError> {
    let mut group = ErrGroup::new();
    group.push(api.get("users", id));
    group.push(api.get("orders", id));
    group.cancel_on(async move {
        parent.cancelled().await;
        ApiError::Cancelled
    });
    group.await
}

/// A deadline per call, flattened into the call's error.
async fn per_call(api: &Api, id: u64) -> Result<Vec<Json>, ApiError> {
    let mut group = ErrGroup::new();
    group.push(api.get("users", id));
    group.push(async move {
        tokio::time::timeout(Duration::from_millis(100), api.get("pricing", id))
            .await
            .map_err(|_elapsed| ApiError::Timeout)? // Result<Result<Json, ApiError>, Elapsed> -> ..
    });
    group.await
}

/// The trap the README warns about: the timeout's error as the group's `E`. Kept here to show
/// that it compiles, and that it loses fail-fast.
async fn per_call_nested(api: &Api, id: u64) -> Result<Vec<Result<Json, ApiError>>, String> {
    let mut group = ErrGroup::new();
    group.push(tokio::time::timeout(
        Duration::from_millis(100),
        api.get("inventory", id),
    ));
    group.push(tokio::time::timeout(
        Duration::from_millis(100),
        api.get("users", id),
    ));
    group.await.map_err(|elapsed| elapsed.to_string())
}

// ---- "Loops: jobs, handles, `select!`" ----

async fn run(job: u32) -> Result<Json, ApiError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if job % 3 == 0 {
        return Err(ApiError::Status(format!("job {job}: failed")));
    }
    Ok(format!("job {job} done"))
}

fn print_result(result: Result<Json, ApiError>) -> Result<Json, ApiError> {
    println!("  job loop:   {result:?}");
    result
}

async fn job_loop(mut jobs: futures::channel::mpsc::Receiver<u32>) -> Vec<Result<Json, ApiError>> {
    let mut reported = Vec::new();
    let mut report = |result| reported.push(print_result(result));
    let mut group = ErrGroup::<Result<Json, ApiError>, Infallible>::new();
    loop {
        // `jobs` is a `FusedStream`: a channel's receiver, or any stream's `.fuse()`
        futures::select! {
            job = jobs.next() => if let Some(job) = job {
                group.push(async move { Ok(run(job).await) }); // the job's error is a value
            },
            done = group.try_next() => if let Ok(Some(result)) = done {
                report(result); // a failed job is logged; the loop goes on
            },
            complete => break, // the job stream has ended and every job has run
        }
    }
    reported
}

/// The `tokio::select!` form with the README's guard, for a loop that pushes the jobs itself.
async fn tokio_job_loop(mut jobs: tokio::sync::mpsc::Receiver<u32>) -> usize {
    let mut done = 0;
    let mut group = ErrGroup::<Result<Json, ApiError>, Infallible>::new();
    loop {
        tokio::select! {
            Some(job) = jobs.recv() => group.push(async move { Ok(run(job).await) }),
            next = group.try_next(), if group.len() + group.kept() > 0 => {
                if let Ok(Some(_result)) = next {
                    done += 1;
                }
            }
            else => break, // the channel is closed and the group is empty
        }
    }
    done
}

// ---- end of the README's code ----

fn main() {
    // Paused time: tokio's timers fire as soon as every task waits, so the seconds-long calls
    // cost nothing, and the deadlines still decide the outcome.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let page = product_page(&Api::UP, 7).await;
        println!("all services up:   {page:?}");
        assert_eq!(
            page,
            Ok(Page {
                user: "users/7".into(),
                stock: "inventory/7".into(),
                price: "pricing/7 (cached)".into(),
            })
        );
        let api = Api {
            down: "inventory",
            slow: "users",
        };
        let start = tokio::time::Instant::now();
        let page = product_page(&api, 7).await;
        println!("inventory down:    {page:?}");
        assert_eq!(page, Err(ApiError::Status("inventory: 503".into())));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the slow call was not waited for"
        );

        let fetch = |id| async move {
            tokio::time::sleep(Duration::from_millis(10 * id)).await;
            Ok(User(id))
        };
        let start = tokio::time::Instant::now();
        assert_eq!(save_all(&Db, (1..=5).map(fetch).collect()).await, Ok(()));
        // Five saves of 50 ms, one after another, and the fetches ran during the first one.
        assert_eq!(start.elapsed(), Duration::from_millis(10 + 5 * 50));
        println!("run_until:         5 users fetched and saved, no fetch waited for a save");

        let start = tokio::time::Instant::now();
        assert_eq!(users(&Api::UP, vec![1, 2]).await.map(|u| u.len()), Ok(2));
        let api = Api {
            down: "",
            slow: "users",
        };
        assert_eq!(users(&api, vec![1, 2]).await, Err(ApiError::Timeout));
        assert_eq!(start.elapsed(), Duration::from_millis(10 + 250));
        println!(
            "deadline:          met, then passed: {:?}",
            ApiError::Timeout
        );

        let api = Api {
            down: "",
            slow: "pricing",
        };
        assert_eq!(per_call(&Api::UP, 7).await.map(|v| v.len()), Ok(2));
        assert_eq!(per_call(&api, 7).await, Err(ApiError::Timeout));
        let api = Api {
            down: "inventory",
            slow: "",
        };
        let start = tokio::time::Instant::now();
        let nested = per_call_nested(&api, 7).await.unwrap();
        assert!(
            matches!(nested[0], Err(ApiError::Status(_))),
            "an error became a value"
        );
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(10),
            "and the group went on"
        );
        println!("per-call timeout:  flattened, it fails the group; nested, it does not");

        // A child group running where the parent cannot drop it (a spawned task) still ends
        // when the parent fails: its deadline future is the parent's token.
        static SLOW_ORDERS: Api = Api {
            down: "",
            slow: "orders",
        };
        let mut parent = ErrGroup::<(), ApiError>::new();
        let spawned = tokio::spawn(child(&SLOW_ORDERS, parent.token(), 7));
        parent.push(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err(ApiError::Status("parent: 500".into()))
        });
        assert_eq!(parent.await, Err(ApiError::Status("parent: 500".into())));
        assert_eq!(spawned.await.unwrap(), Err(ApiError::Cancelled));
        println!("parent:            the parent's cancellation ended the child");
    });

    {
        // The deadline on smol's timer. The stand-in `Api` sleeps on tokio's timer, which a
        // multi-threaded runtime's workers drive while smol runs the group.
        let tokio_timers = tokio::runtime::Runtime::new().unwrap();
        let _context = tokio_timers.enter();
        let start = std::time::Instant::now();
        assert_eq!(
            smol::block_on(users_on_smol(&Api::UP, vec![1, 2])).map(|u| u.len()),
            Ok(2)
        );
        let api = Api {
            down: "",
            slow: "users",
        };
        assert_eq!(
            smol::block_on(users_on_smol(&api, vec![1, 2])),
            Err(ApiError::Timeout)
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the 10 s calls were dropped"
        );
        println!("deadline on smol:  {:?}", ApiError::Timeout);
    }

    // The job loops: ten jobs, every third one fails; every job runs and is reported.
    let (mut tx, jobs) = futures::channel::mpsc::channel(16);
    let feeder = std::thread::spawn(move || {
        for job in 1..=10 {
            futures::executor::block_on(futures::SinkExt::send(&mut tx, job)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let reported = runtime.block_on(job_loop(jobs));
    feeder.join().unwrap();
    assert_eq!(reported.len(), 10, "a failed job did not end the loop");
    assert_eq!(reported.iter().filter(|r| r.is_err()).count(), 3);

    let (tx, jobs) = tokio::sync::mpsc::channel(16);
    for job in 1..=10 {
        tx.try_send(job).unwrap();
    }
    drop(tx);
    assert_eq!(runtime.block_on(tokio_job_loop(jobs)), 10);
    println!("job loops:         every job ran, the failed ones were reported");
}
