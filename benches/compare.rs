//! `ErrGroup` against the combinators a user would pick instead, on the same work in the same run.
//!
//! Scenarios (criterion groups), each at several sizes `n`:
//!
//! - `ready`: `n` tasks that return `Ok(i)` at once (`std::future::ready`).
//! - `yield1`: `n` async blocks that await one event that arrives at once (their task wakes
//!   itself once), then return `Ok(i)`.
//! - `failfast`: `n - 1` async blocks that await `pending()` and one, pushed last, that fails at
//!   once: the time until the error is returned and every task has been dropped.
//! - `limit`: 10 000 `yield1` tasks, at most 16 polled at a time.
//! - `shapes`: the trees services build: flat groups of 3, 6 and 10 calls, and groups nested
//!   6 × 6, 6 × 6 × 6, 4 × 4 × 4 × 4 and five levels of 6. Each leaf is an async block awaiting
//!   one event from outside; the events come one leaf at a time, in a scrambled order, each
//!   followed by a poll of the root (an executor's loop, driven by hand). Building the tree,
//!   driving it and dropping it are all timed. Against the same trees of boxed
//!   `FuturesUnordered`s (each level draining into a `Vec`) and of boxed `try_join_all`s.
//!
//! The tasks and contenders are in `work.rs`, shared with `instructions.rs`, which counts the
//! instructions the same work takes under callgrind.
//!
//! Every contender builds its own futures inside the timed closure with the same task constructor,
//! so the timings include creating (and, where the contender needs it, boxing) the tasks, driving
//! them, collecting the values into a `Vec` and dropping everything. `_boxed` contenders hold
//! `Pin<Box<dyn Future + Send>>`, as they must when the tasks have different types (what an
//! `ErrGroup` always does); the others hold the concrete future type. Everything runs on
//! `futures::executor::block_on`, except `joinset`, which spawns `'static` tasks on a tokio
//! current-thread runtime built once, outside the timing.
//!
//! Each point is measured once per round (`BENCH_ROUNDS`, default 3), the rounds one after the
//! other, as `group/contender/n-rROUND`; `python3 docs/chart.py` takes the median over the rounds
//! and turns criterion's output into the tables of `docs/benchmarks.md` and its chart.
//!
//! This file is the one bench of the `errgroup-benches` package (`benches/Cargo.toml`), a member
//! of the root workspace, so that criterion and the peers are not dev-dependencies of `errgroup`.
//! From the repository root, run everything with `cargo bench --bench compare` (the package is a
//! default member; `-p errgroup-benches` works too, from anywhere in the workspace); a subset with
//! a regex filter, e.g.
//! `BENCH_ROUNDS=1 cargo bench --bench compare -- 'ready/(errgroup|futures_unordered_boxed)/10-'`,
//! and `-- --quick` for a rough number in a few seconds. Criterion writes to the workspace's
//! `target/criterion`, where `docs/chart.py` looks.

mod work;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use errgroup::ErrGroup;
use futures::executor::block_on;
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};

use work::{
    contenders, failfast_task, Fail, Ready, Task, Work, Yield1, LIMIT, LIMIT_TASKS, SHAPES,
    SHAPE_CONTENDERS,
};

/// The sizes of the `ready` and `yield1` scenarios.
const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
/// The sizes of the `failfast` scenario.
const FAILFAST_SIZES: [usize; 2] = [1_000, 100_000];

/// How many times the whole suite runs, one round after the other (`BENCH_ROUNDS`, default 3).
///
/// On a shared machine a burst of load can slow one benchmark and not its peers; each point is
/// measured once per round, minutes apart, and `docs/chart.py` takes the median over the rounds.
fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(3)
}

/// `contender` at size `n` in round `round`: criterion's `group/contender/n-rROUND`.
fn id(contender: &str, n: usize, round: usize) -> BenchmarkId {
    BenchmarkId::new(contender, format!("{n}-r{round}"))
}

/// Short measurements: three rounds of about 100 benchmarks take 10 to 12 minutes on two cores.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
}

fn run_to_completion<W: Work>(c: &mut Criterion, name: &str, round: usize) {
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    for n in SIZES {
        for (contender, run) in contenders::<W>() {
            if round == 1 {
                // Same work: every contender returns every value (in its own order).
                let mut values = run(n).expect("no task fails");
                values.sort_unstable();
                assert!(values.iter().copied().eq(0..n), "{contender} lost values");
            }
            group.bench_with_input(id(contender, n, round), &n, |b, &n| {
                b.iter(|| black_box(run(n)));
            });
        }
    }
    group.finish();
}

fn failfast(c: &mut Criterion, round: usize) {
    let mut group = c.benchmark_group("failfast");
    configure(&mut group);
    for n in FAILFAST_SIZES {
        group.bench_with_input(id("errgroup", n, round), &n, |b, &n| {
            b.iter(|| {
                let mut group = ErrGroup::new();
                for i in 0..n {
                    group.push(failfast_task(i, n));
                }
                let result = block_on(group);
                assert_eq!(result, Err(Fail));
            });
        });
        group.bench_with_input(id("futures_unordered_boxed", n, round), &n, |b, &n| {
            b.iter(|| {
                let mut running: FuturesUnordered<Task> = (0..n)
                    .map(|i| Box::pin(failfast_task(i, n)) as Task)
                    .collect();
                // No value ever arrives: like the group, allocate no result storage.
                let mut values = Vec::new();
                let result = block_on(async {
                    while let Some(value) = running.try_next().await? {
                        values.push(value);
                    }
                    Ok(())
                });
                drop(running);
                assert_eq!(result, Err(Fail));
            });
        });
    }
    group.finish();
}

fn limit(c: &mut Criterion, round: usize) {
    let mut group = c.benchmark_group("limit");
    configure(&mut group);
    let n = LIMIT_TASKS;
    group.bench_with_input(id("errgroup", n, round), &n, |b, &n| {
        b.iter(|| black_box(work::limit_errgroup(n)));
    });
    group.bench_with_input(id("buffered_boxed", n, round), &n, |b, &n| {
        b.iter(|| black_box(work::limit_buffered_boxed(n)));
    });
    group.bench_with_input(id("buffered", n, round), &n, |b, &n| {
        b.iter(|| {
            let tasks = stream::iter((0..n).map(Yield1::task));
            black_box(block_on(tasks.buffered(LIMIT).try_collect::<Vec<usize>>()))
        });
    });
    group.finish();
}

fn shapes(c: &mut Criterion, round: usize) {
    let mut group = c.benchmark_group("shapes");
    configure(&mut group);
    for (name, shape) in SHAPES {
        let order = work::scrambled(work::leaves(shape));
        for (contender, run) in SHAPE_CONTENDERS {
            if round == 1 {
                assert_eq!(
                    run(shape, &order),
                    Ok(order.len()),
                    "{contender}: every leaf completes"
                );
            }
            let id = BenchmarkId::new(contender, format!("{name}-r{round}"));
            group.bench_with_input(id, &order, |b, order| {
                b.iter(|| black_box(run(shape, order)));
            });
        }
    }
    group.finish();
}

fn compare(c: &mut Criterion) {
    for round in 1..=rounds() {
        run_to_completion::<Ready>(c, "ready", round);
        run_to_completion::<Yield1>(c, "yield1", round);
        failfast(c, round);
        limit(c, round);
        shapes(c, round);
    }
}

criterion_group!(benches, compare);
criterion_main!(benches);
