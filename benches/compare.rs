//! `ErrGroup` against the combinators a user would pick instead, on the same work in the same run.
//!
//! Scenarios (criterion groups), each at several sizes `n`:
//!
//! - `ready`: `n` tasks that return `Ok(i)` at once.
//! - `yield1`: `n` tasks that wake themselves once, then return `Ok(i)`.
//! - `failfast`: `n - 1` tasks that never finish and one, pushed last, that fails at once: the
//!   time until the error is returned and every task has been dropped.
//! - `limit`: 10 000 yield-once tasks, at most 16 polled at a time.
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
//! and turns criterion's output into the README's table and `docs/benchmarks.svg`.
//!
//! This file is the one bench of the `errgroup-benches` package (`benches/Cargo.toml`), a member
//! of the root workspace, so that criterion and the peers are not dev-dependencies of `errgroup`.
//! From the repository root, run everything with `cargo bench --bench compare` (the package is a
//! default member; `-p errgroup-benches` works too, from anywhere in the workspace); a subset with
//! a regex filter, e.g.
//! `BENCH_ROUNDS=1 cargo bench --bench compare -- 'ready/(errgroup|futures_unordered_boxed)/10-'`,
//! and `-- --quick` for a rough number in a few seconds. Criterion writes to the workspace's
//! `target/criterion`, where `docs/chart.py` looks.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use errgroup::ErrGroup;
use futures::executor::block_on;
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use futures_concurrency::prelude::*;

/// The sizes of the `ready` and `yield1` scenarios.
const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];
/// The sizes of the `failfast` scenario.
const FAILFAST_SIZES: [usize; 2] = [1_000, 100_000];
/// Tasks in the `limit` scenario, and how many may run at once.
const LIMIT_TASKS: usize = 10_000;
const LIMIT: usize = 16;

/// The tasks' error type.
#[derive(Debug, PartialEq)]
struct Fail;

type Task = Pin<Box<dyn Future<Output = Result<usize, Fail>> + Send>>;

/// The work of one scenario: how its `i`-th task is made.
///
/// Contenders are generic over it, so every task constructor is inlined the same way for all.
trait Work {
    type Task: Future<Output = Result<usize, Fail>> + Send + 'static;

    fn task(i: usize) -> Self::Task;
}

/// Tasks that return `Ok(i)` at once.
struct Ready;

impl Work for Ready {
    type Task = std::future::Ready<Result<usize, Fail>>;

    fn task(i: usize) -> Self::Task {
        std::future::ready(Ok(i))
    }
}

/// Tasks that wake themselves once, then return `Ok(i)`: a task that waits for one event.
struct Yield1;

/// The task of [`Yield1`]: `Pending` once after waking its own task, then `Ok(i)`.
struct YieldOnce {
    i: usize,
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = Result<usize, Fail>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.yielded {
            Poll::Ready(Ok(self.i))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Work for Yield1 {
    type Task = YieldOnce;

    fn task(i: usize) -> Self::Task {
        YieldOnce { i, yielded: false }
    }
}

/// One way to run `n` tasks to completion, collecting their values.
type Contender = fn(usize) -> Result<Vec<usize>, Fail>;

fn errgroup<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let mut group = ErrGroup::new();
    for i in 0..n {
        group.push(W::task(i));
    }
    block_on(group)
}

fn try_join_all_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures::future::try_join_all(
        (0..n).map(|i| Box::pin(W::task(i)) as Task),
    ))
}

fn try_join_all<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures::future::try_join_all((0..n).map(W::task)))
}

fn futures_unordered_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let mut running: FuturesUnordered<Task> =
        (0..n).map(|i| Box::pin(W::task(i)) as Task).collect();
    block_on(async {
        let mut values = Vec::with_capacity(n);
        while let Some(value) = running.try_next().await? {
            values.push(value);
        }
        Ok(values)
    })
}

fn fc_try_join_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let tasks: Vec<Task> = (0..n).map(|i| Box::pin(W::task(i)) as Task).collect();
    block_on(tasks.try_join())
}

fn fc_try_join<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let tasks: Vec<W::Task> = (0..n).map(W::task).collect();
    block_on(tasks.try_join())
}

fn fb_try_join_all_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures_buffered::try_join_all(
        (0..n).map(|i| Box::pin(W::task(i)) as Task),
    ))
}

fn fb_try_join_all<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures_buffered::try_join_all((0..n).map(W::task)))
}

/// The runtime `joinset` spawns on, built once for the whole run.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn joinset<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    runtime().block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(W::task(i));
        }
        let mut values = Vec::with_capacity(n);
        while let Some(joined) = set.join_next().await {
            values.push(joined.expect("tasks do not panic")?);
        }
        Ok(values)
    })
}

/// Every contender of the `ready` and `yield1` scenarios, by the name criterion reports.
fn contenders<W: Work>() -> [(&'static str, Contender); 9] {
    [
        ("errgroup", errgroup::<W>),
        ("try_join_all_boxed", try_join_all_boxed::<W>),
        ("try_join_all", try_join_all::<W>),
        ("futures_unordered_boxed", futures_unordered_boxed::<W>),
        ("fc_try_join_boxed", fc_try_join_boxed::<W>),
        ("fc_try_join", fc_try_join::<W>),
        ("fb_try_join_all_boxed", fb_try_join_all_boxed::<W>),
        ("fb_try_join_all", fb_try_join_all::<W>),
        ("joinset", joinset::<W>),
    ]
}

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

/// A `failfast` task: fails at once if `fail`, never finishes otherwise.
struct FailFast {
    fail: bool,
}

impl Future for FailFast {
    type Output = Result<usize, Fail>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if self.fail {
            Poll::Ready(Err(Fail))
        } else {
            Poll::Pending
        }
    }
}

/// `n - 1` tasks that never finish, then one that fails at once.
fn failfast_tasks(n: usize) -> impl Iterator<Item = FailFast> {
    (0..n).map(move |i| FailFast { fail: i + 1 == n })
}

fn failfast(c: &mut Criterion, round: usize) {
    let mut group = c.benchmark_group("failfast");
    configure(&mut group);
    for n in FAILFAST_SIZES {
        group.bench_with_input(id("errgroup", n, round), &n, |b, &n| {
            b.iter(|| {
                let mut group = ErrGroup::new();
                for task in failfast_tasks(n) {
                    group.push(task);
                }
                let result = block_on(group);
                assert_eq!(result, Err(Fail));
            });
        });
        group.bench_with_input(id("futures_unordered_boxed", n, round), &n, |b, &n| {
            b.iter(|| {
                let mut running: FuturesUnordered<Task> = failfast_tasks(n)
                    .map(|task| Box::pin(task) as Task)
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
        b.iter(|| {
            let mut group = ErrGroup::with_limit(LIMIT);
            for i in 0..n {
                group.push(Yield1::task(i));
            }
            black_box(block_on(group))
        });
    });
    group.bench_with_input(id("buffered_boxed", n, round), &n, |b, &n| {
        b.iter(|| {
            let tasks = stream::iter((0..n).map(|i| Box::pin(Yield1::task(i)) as Task));
            black_box(block_on(tasks.buffered(LIMIT).try_collect::<Vec<usize>>()))
        });
    });
    group.bench_with_input(id("buffered", n, round), &n, |b, &n| {
        b.iter(|| {
            let tasks = stream::iter((0..n).map(Yield1::task));
            black_box(block_on(tasks.buffered(LIMIT).try_collect::<Vec<usize>>()))
        });
    });
    group.finish();
}

fn compare(c: &mut Criterion) {
    for round in 1..=rounds() {
        run_to_completion::<Ready>(c, "ready", round);
        run_to_completion::<Yield1>(c, "yield1", round);
        failfast(c, round);
        limit(c, round);
    }
}

criterion_group!(benches, compare);
criterion_main!(benches);
