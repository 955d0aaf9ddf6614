//! Heap held by a group against the alternatives, measured by a counting global allocator
//! (`stats_alloc`: the bytes requested from the allocator, not its own per-block overhead):
//!
//! - **small groups whose tasks wait** (3, 6 and 10 tasks, each polled once and left pending):
//!   live bytes, against a `FuturesUnordered` of the same boxed tasks;
//! - **small groups whose tasks finish at once** (3, 6, 10): every byte requested while the
//!   group is built and awaited, against boxed `try_join_all`;
//! - **100 000 pending tasks**: live bytes per task, against a raw `FuturesUnordered`, and with a
//!   concurrency limit of 16.
//!
//! The task boxes are counted for every contender (they are the same boxes). Each measurement
//! checks that dropping the contender gives every byte back. Exits non-zero if a group holds
//! more than the targets below.
//!
//! ```sh
//! cargo run --release --example memory
//! ```

use std::alloc::System;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use errgroup::ErrGroup;
use futures::channel::oneshot;
use futures::executor::block_on;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::task::noop_waker;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Task = Pin<Box<dyn Future<Output = Result<usize, ()>> + Send>>;

/// A task that waits for an answer that has not come: what a call blocked on I/O looks like to
/// its group. It keeps its waker (the receiver registers it); the channels are made outside
/// the measurements, and are the same for every contender.
async fn waits(answer: oneshot::Receiver<usize>) -> Result<usize, ()> {
    answer.await.map_err(|_| ())
}

/// A task that never finishes and keeps no waker (`std::future::pending`).
async fn parked(i: usize) -> Result<usize, ()> {
    std::future::pending::<()>().await;
    Ok(i)
}

/// `n` channels: the senders, kept by the caller, and the receivers the tasks wait on.
fn channels(n: usize) -> (Vec<oneshot::Sender<usize>>, Vec<oneshot::Receiver<usize>>) {
    (0..n).map(|_| oneshot::channel()).unzip()
}

/// A task that finishes at once.
async fn ready(i: usize) -> Result<usize, ()> {
    Ok(i)
}

/// What a measurement saw.
#[derive(Clone, Copy)]
struct Heap {
    bytes: usize,
    allocations: usize,
}

/// Builds a set of tasks, polls it once, and measures what it holds then; after dropping it,
/// checks that nothing is left.
fn live<S>(
    name: &str,
    build: impl FnOnce() -> S,
    poll: impl FnOnce(&mut S, &mut Context<'_>),
) -> Heap {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let region = Region::new(GLOBAL);
    let mut tasks = build();
    poll(&mut tasks, &mut cx);
    let held = region.change();
    drop(tasks);
    let after = region.change();
    assert_eq!(
        after.bytes_allocated, after.bytes_deallocated,
        "{name}: dropping the tasks must free everything"
    );
    Heap {
        bytes: held.bytes_allocated - held.bytes_deallocated,
        allocations: held.allocations - held.deallocations,
    }
}

/// Every byte requested while `run` builds and awaits its tasks (growth included).
fn requested(name: &str, run: impl FnOnce() -> Vec<usize>) -> Heap {
    let region = Region::new(GLOBAL);
    let values = run();
    drop(values);
    let change = region.change();
    assert_eq!(
        change.bytes_allocated, change.bytes_deallocated,
        "{name}: everything is freed once the results are dropped"
    );
    Heap {
        bytes: change.bytes_allocated,
        allocations: change.allocations,
    }
}

/// How a measured task waits.
#[derive(Clone, Copy)]
enum Waits {
    /// On a channel, keeping its waker.
    Channel,
    /// On `pending()`, keeping none.
    Parked,
}

fn errgroup_waiting(n: usize, limit: Option<usize>, how: Waits) -> Heap {
    let (_senders, receivers) = channels(n);
    let mut receivers = receivers.into_iter();
    live(
        "ErrGroup",
        || {
            let mut group = match limit {
                Some(limit) => ErrGroup::with_limit(limit),
                None => ErrGroup::new(),
            };
            for i in 0..n {
                match how {
                    Waits::Channel => group.push(waits(receivers.next().unwrap())),
                    Waits::Parked => group.push(parked(i)),
                }
            }
            group
        },
        |group, cx| assert!(Pin::new(group).poll(cx).is_pending()),
    )
}

fn futures_unordered_waiting(n: usize, how: Waits) -> Heap {
    let (_senders, receivers) = channels(n);
    let mut receivers = receivers.into_iter();
    live(
        "FuturesUnordered",
        || {
            (0..n)
                .map(|i| match how {
                    Waits::Channel => Box::pin(waits(receivers.next().unwrap())) as Task,
                    Waits::Parked => Box::pin(parked(i)) as Task,
                })
                .collect::<FuturesUnordered<_>>()
        },
        |set, cx| assert!(set.poll_next_unpin(cx) == Poll::Pending),
    )
}

fn errgroup_ready(n: usize) -> Heap {
    requested("ErrGroup", || {
        let mut group = ErrGroup::new();
        for i in 0..n {
            group.push(ready(i));
        }
        block_on(group).unwrap()
    })
}

fn try_join_all_ready(n: usize) -> Heap {
    requested("try_join_all", || {
        block_on(futures::future::try_join_all(
            (0..n).map(|i| Box::pin(ready(i)) as Task),
        ))
        .unwrap()
    })
}

/// A target a measurement must meet; `false` if it does not.
fn check(what: &str, ratio: f64, most: f64) -> bool {
    let met = ratio <= most;
    println!(
        "  {what}: {ratio:.2}x (target <= {most:.2}x) {}",
        if met { "met" } else { "MISSED" }
    );
    met
}

/// Prints one table of small groups (3, 6 and 10 tasks), ErrGroup against `peer`, and checks each
/// ratio against its most; whether all were met.
fn small_groups(
    title: &str,
    (peer, most): (&str, f64),
    tasks: &str,
    measure: impl Fn(usize) -> (Heap, Heap),
) -> bool {
    println!("{title}");
    println!(
        "{:>6} {:>20} {:>20} {:>7}",
        "tasks", "ErrGroup", peer, "ratio"
    );
    let mut met = true;
    for n in [3, 6, 10] {
        let (ours, theirs) = measure(n);
        let ratio = ours.bytes as f64 / theirs.bytes as f64;
        println!(
            "{n:>6} {:>11} B, {:>3} al {:>11} B, {:>3} al {ratio:>7.2}",
            ours.bytes, ours.allocations, theirs.bytes, theirs.allocations
        );
        met &= check(
            &format!("{n} {tasks} tasks, ErrGroup / {peer}"),
            ratio,
            most,
        );
    }
    met
}

fn main() {
    // `block_on` makes its thread's waker on first use; made here, it is not counted below.
    block_on(async {});
    let mut met = true;

    met &= small_groups(
        "small groups whose tasks wait (live bytes, allocations):",
        ("FuturesUnordered", 1.0),
        "waiting",
        |n| {
            (
                errgroup_waiting(n, None, Waits::Channel),
                futures_unordered_waiting(n, Waits::Channel),
            )
        },
    );
    met &= small_groups(
        "small groups whose tasks finish at once (bytes requested, allocations):",
        ("try_join_all", 2.0),
        "ready",
        |n| (errgroup_ready(n), try_join_all_ready(n)),
    );

    const TASKS: usize = 100_000;
    let per_task = |heap: Heap| heap.bytes as f64 / TASKS as f64;
    for (how, waiting) in [
        (Waits::Channel, "on a channel"),
        (Waits::Parked, "on `pending()`"),
    ] {
        let raw = futures_unordered_waiting(TASKS, how);
        let group = errgroup_waiting(TASKS, None, how);
        let limited = errgroup_waiting(TASKS, Some(16), how);
        println!("{TASKS} tasks waiting {waiting} (live bytes per task):");
        for (name, heap) in [
            ("FuturesUnordered<Pin<Box<dyn Future>>>", raw),
            ("ErrGroup::new()", group),
            ("ErrGroup::with_limit(16) (all but 16 wait)", limited),
        ] {
            println!("  {name:<44} {:>8.1} B/task", per_task(heap));
        }
        met &= check(
            &format!("{TASKS} tasks waiting {waiting}, ErrGroup / FuturesUnordered"),
            per_task(group) / per_task(raw),
            1.10,
        );
    }
    if !met {
        std::process::exit(1);
    }
}
