//! The work both benchmarks run: the scenarios' tasks and every contender, written once so that
//! `compare.rs` (time) and `instructions.rs` (instruction counts) measure the same code.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use errgroup::ErrGroup;
use futures::executor::block_on;
use futures::stream::{FuturesUnordered, TryStreamExt};
use futures_concurrency::prelude::*;

/// The tasks' error type.
#[derive(Debug, PartialEq)]
pub struct Fail;

pub type Task = Pin<Box<dyn Future<Output = Result<usize, Fail>> + Send>>;

/// The work of one scenario: how its `i`-th task is made.
///
/// Contenders are generic over it, so every task constructor is inlined the same way for all.
pub trait Work {
    fn task(i: usize) -> impl Future<Output = Result<usize, Fail>> + Send + 'static;
}

/// Tasks that return `Ok(i)` at once.
pub struct Ready;

impl Work for Ready {
    fn task(i: usize) -> impl Future<Output = Result<usize, Fail>> + Send + 'static {
        std::future::ready(Ok(i))
    }
}

/// Tasks that wait for one event (their own wake-up) and return `Ok(i)`, written as users
/// write them: an async block around one `.await`.
pub struct Yield1;

/// Wakes its task and returns `Pending` once, then `Ready`: one event that arrives at once.
pub struct YieldOnce {
    yielded: bool,
}

impl YieldOnce {
    pub fn new() -> Self {
        YieldOnce { yielded: false }
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The task of [`Yield1`].
pub async fn yield_once(i: usize) -> Result<usize, Fail> {
    YieldOnce::new().await;
    Ok(i)
}

impl Work for Yield1 {
    fn task(i: usize) -> impl Future<Output = Result<usize, Fail>> + Send + 'static {
        yield_once(i)
    }
}

/// One way to run `n` tasks to completion, collecting their values.
pub type Contender = fn(usize) -> Result<Vec<usize>, Fail>;

pub fn errgroup<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let mut group = ErrGroup::new();
    for i in 0..n {
        group.push(W::task(i));
    }
    block_on(group)
}

pub fn try_join_all_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures::future::try_join_all(
        (0..n).map(|i| Box::pin(W::task(i)) as Task),
    ))
}

pub fn try_join_all<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures::future::try_join_all((0..n).map(W::task)))
}

pub fn futures_unordered_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
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

pub fn fc_try_join_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let tasks: Vec<Task> = (0..n).map(|i| Box::pin(W::task(i)) as Task).collect();
    block_on(tasks.try_join())
}

pub fn fc_try_join<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    let tasks: Vec<_> = (0..n).map(W::task).collect();
    block_on(tasks.try_join())
}

pub fn fb_try_join_all_boxed<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures_buffered::try_join_all(
        (0..n).map(|i| Box::pin(W::task(i)) as Task),
    ))
}

pub fn fb_try_join_all<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
    block_on(futures_buffered::try_join_all((0..n).map(W::task)))
}

/// The runtime `joinset` spawns on, built once for the whole run.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

pub fn joinset<W: Work>(n: usize) -> Result<Vec<usize>, Fail> {
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
pub fn contenders<W: Work>() -> [(&'static str, Contender); 9] {
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

/// The `shapes` scenario: trees of groups of the sizes services build (a request's handful of
/// calls, each fanning out again), by name and width at each level, root first.
pub const SHAPES: [(&str, &[usize]); 7] = [
    ("3", &[3]),
    ("6", &[6]),
    ("10", &[10]),
    ("6x6", &[6, 6]),
    ("6x6x6", &[6, 6, 6]),
    ("4x4x4x4", &[4, 4, 4, 4]),
    ("6x6x6x6x6", &[6, 6, 6, 6, 6]),
];

/// What the leaves of a tree share: per leaf, whether its signal came and the waker to wake. One
/// leaf is woken at a time, from outside the tree, as sockets and channels wake real tasks.
#[derive(Default)]
pub struct Signals {
    slots: Mutex<Vec<(bool, Option<Waker>)>>,
}

impl Signals {
    /// A new leaf's wait: completes once the leaf's signal came.
    fn wait(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        let id = {
            let mut slots = self.slots.lock().unwrap();
            slots.push((false, None));
            slots.len() - 1
        };
        let signals = Arc::clone(self);
        std::future::poll_fn(move |cx| {
            let mut slots = signals.slots.lock().unwrap();
            let (signalled, waker) = &mut slots[id];
            if *signalled {
                return Poll::Ready(());
            }
            *waker = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    fn send(&self, id: usize) {
        let waker = {
            let mut slots = self.slots.lock().unwrap();
            slots[id].0 = true;
            slots[id].1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn count(&self) -> usize {
        self.slots.lock().unwrap().len()
    }

    /// A leaf as users write one: an async block around one `.await` of an outside event.
    fn leaf(self: &Arc<Self>) -> impl Future<Output = Result<usize, Fail>> + Send + 'static {
        let wait = self.wait();
        async move {
            wait.await;
            Ok(1)
        }
    }
}

/// A fixed permutation of `0..n` (xorshift-driven Fisher–Yates): the order the leaves are woken.
pub fn scrambled(n: usize) -> Vec<usize> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order
}

/// The number of leaves of `shape`.
pub fn leaves(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Sets its flag when woken.
struct Flag(AtomicBool);

impl futures::task::ArcWake for Flag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::Relaxed);
    }
}

/// Drives `root` as an executor would, polling it only when woken, and signals the next leaf in
/// `order` whenever it is not: one leaf woken between two polls.
fn drive(
    root: impl Future<Output = Result<usize, Fail>>,
    signals: &Signals,
    order: &[usize],
) -> Result<usize, Fail> {
    let woken = Arc::new(Flag(AtomicBool::new(true)));
    let waker = futures::task::waker(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    let mut root = std::pin::pin!(root);
    let mut next = order.iter();
    loop {
        if woken.0.swap(false, Ordering::Relaxed) {
            if let Poll::Ready(out) = root.as_mut().poll(&mut cx) {
                return out;
            }
        } else {
            let &id = next
                .next()
                .expect("the tree is done once every leaf is signalled");
            signals.send(id);
        }
    }
}

/// A tree of `ErrGroup`s: each group awaited inside an async block pushed into its parent.
fn errgroup_tree(shape: &[usize], signals: &Arc<Signals>) -> ErrGroup<'static, usize, Fail> {
    let mut group = ErrGroup::new();
    match shape {
        [width] => (0..*width).for_each(|_| group.push(signals.leaf())),
        [width, rest @ ..] => {
            for _ in 0..*width {
                let child = errgroup_tree(rest, signals);
                group.push(async move { child.await.map(|values| values.iter().sum()) });
            }
        }
        [] => unreachable!("a shape has at least one level"),
    }
    group
}

/// Drains a boxed `FuturesUnordered` into a `Vec`, as a user collects results, failing on the
/// first error; the sum of the values.
async fn drain(mut set: FuturesUnordered<Task>) -> Result<usize, Fail> {
    let mut values = Vec::with_capacity(set.len());
    while let Some(value) = set.try_next().await? {
        values.push(value);
    }
    Ok(values.iter().sum())
}

/// The same tree of boxed `FuturesUnordered`s.
fn futures_unordered_tree(shape: &[usize], signals: &Arc<Signals>) -> FuturesUnordered<Task> {
    match shape {
        [width] => (0..*width)
            .map(|_| Box::pin(signals.leaf()) as Task)
            .collect(),
        [width, rest @ ..] => (0..*width)
            .map(|_| Box::pin(drain(futures_unordered_tree(rest, signals))) as Task)
            .collect(),
        [] => unreachable!("a shape has at least one level"),
    }
}

/// The same tree of boxed `try_join_all`s.
fn try_join_all_tree(shape: &[usize], signals: &Arc<Signals>) -> futures::future::TryJoinAll<Task> {
    match shape {
        [width] => {
            futures::future::try_join_all((0..*width).map(|_| Box::pin(signals.leaf()) as Task))
        }
        [width, rest @ ..] => futures::future::try_join_all((0..*width).map(|_| {
            let child = try_join_all_tree(rest, signals);
            Box::pin(async move { child.await.map(|values| values.iter().sum()) }) as Task
        })),
        [] => unreachable!("a shape has at least one level"),
    }
}

/// One way to build and drive a tree of `shape`, its leaves woken in `order`; the number of
/// leaves.
pub type ShapeContender = fn(&[usize], &[usize]) -> Result<usize, Fail>;

pub fn shape_errgroup(shape: &[usize], order: &[usize]) -> Result<usize, Fail> {
    let signals = Arc::new(Signals::default());
    let root = errgroup_tree(shape, &signals);
    drive(
        async { root.await.map(|values| values.iter().sum()) },
        &signals,
        order,
    )
}

pub fn shape_futures_unordered(shape: &[usize], order: &[usize]) -> Result<usize, Fail> {
    let signals = Arc::new(Signals::default());
    let root = futures_unordered_tree(shape, &signals);
    drive(drain(root), &signals, order)
}

pub fn shape_try_join_all(shape: &[usize], order: &[usize]) -> Result<usize, Fail> {
    let signals = Arc::new(Signals::default());
    let root = try_join_all_tree(shape, &signals);
    debug_assert_eq!(signals.count(), order.len());
    drive(
        async { root.await.map(|values| values.iter().sum()) },
        &signals,
        order,
    )
}

/// Every contender of the `shapes` scenario, by the name criterion reports.
pub const SHAPE_CONTENDERS: [(&str, ShapeContender); 3] = [
    ("errgroup", shape_errgroup),
    ("futures_unordered_boxed", shape_futures_unordered),
    ("try_join_all_boxed", shape_try_join_all),
];

/// A `failfast` task, as users write one: fails at once if it is the last of `n`, waits for
/// ever otherwise (a call that never answers).
pub async fn failfast_task(i: usize, n: usize) -> Result<usize, Fail> {
    if i + 1 == n {
        return Err(Fail);
    }
    std::future::pending::<()>().await;
    Ok(i)
}

/// The `limit` scenario: how many tasks, and how many may run at once.
pub const LIMIT_TASKS: usize = 10_000;
pub const LIMIT: usize = 16;

/// `LIMIT_TASKS` `yield1` tasks in a group that polls at most `LIMIT` at once.
pub fn limit_errgroup(n: usize) -> Result<Vec<usize>, Fail> {
    let mut group = ErrGroup::with_limit(LIMIT);
    for i in 0..n {
        group.push(Yield1::task(i));
    }
    block_on(group)
}

/// The same tasks through `buffered(LIMIT)`, boxed as a group boxes them.
pub fn limit_buffered_boxed(n: usize) -> Result<Vec<usize>, Fail> {
    let tasks = futures::stream::iter((0..n).map(|i| Box::pin(Yield1::task(i)) as Task));
    block_on(futures::StreamExt::buffered(tasks, LIMIT).try_collect())
}
