//! Live heap bytes per pending task: 100 000 tasks, each polled once and left pending, in an
//! `ErrGroup` (with and without a concurrency limit) and in a raw boxed `FuturesUnordered`.
//!
//! A counting global allocator (`stats_alloc`) measures the bytes requested from the allocator
//! and still live while the tasks are pending (the allocator's own per-block overhead is not
//! counted), then checks that dropping each group gives every byte back.
//!
//! ```sh
//! cargo run --release --example memory
//! ```

use std::alloc::System;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use errgroup::ErrGroup;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::task::noop_waker;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TASKS: usize = 100_000;
const LIMIT: usize = 16;

type Task = Pin<Box<dyn Future<Output = Result<usize, ()>> + Send>>;

/// A small task that waits forever: what a task blocked on I/O looks like to its group.
async fn task(i: usize) -> Result<usize, ()> {
    std::future::pending::<()>().await;
    Ok(i)
}

/// What a set of pending tasks holds on the heap.
struct Footprint {
    bytes: usize,
    allocations: usize,
}

impl Footprint {
    fn per_task(&self) -> f64 {
        self.bytes as f64 / TASKS as f64
    }
}

/// Builds a set of tasks, polls it once (every task runs until it is pending), and measures what
/// it holds then; after dropping it, checks that nothing is left.
fn measure<S>(
    name: &str,
    build: impl FnOnce() -> S,
    poll: impl FnOnce(&mut S, &mut Context<'_>),
) -> Footprint {
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
    Footprint {
        bytes: held.bytes_allocated - held.bytes_deallocated,
        allocations: held.allocations - held.deallocations,
    }
}

fn errgroup(limit: Option<usize>) -> Footprint {
    let name = if limit.is_some() {
        "ErrGroup::with_limit(16)"
    } else {
        "ErrGroup::new()"
    };
    measure(
        name,
        || {
            let mut group = match limit {
                Some(limit) => ErrGroup::with_limit(limit),
                None => ErrGroup::new(),
            };
            for i in 0..TASKS {
                group.push(task(i));
            }
            group
        },
        |group, cx| assert!(Pin::new(group).poll(cx).is_pending()),
    )
}

fn futures_unordered() -> Footprint {
    measure(
        "FuturesUnordered",
        || {
            (0..TASKS)
                .map(|i| Box::pin(task(i)) as Task)
                .collect::<FuturesUnordered<_>>()
        },
        |running, cx| assert!(running.poll_next_unpin(cx) == Poll::Pending),
    )
}

fn main() {
    let raw = futures_unordered();
    let group = errgroup(None);
    let limited = errgroup(Some(LIMIT));

    println!("live heap per pending task, {TASKS} tasks (each polled once):");
    println!(
        "{:<44} {:>10} {:>13} {:>8}",
        "", "bytes/task", "allocs/task", "ratio"
    );
    for (name, footprint) in [
        ("FuturesUnordered<Pin<Box<dyn Future>>>", &raw),
        ("ErrGroup::new()", &group),
        ("ErrGroup::with_limit(16) (all but 16 wait)", &limited),
    ] {
        println!(
            "{:<44} {:>10.1} {:>13.2} {:>8.3}",
            name,
            footprint.per_task(),
            footprint.allocations as f64 / TASKS as f64,
            footprint.per_task() / raw.per_task(),
        );
    }
}
