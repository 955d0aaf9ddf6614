//! The work both benchmarks run: the scenarios' tasks and every contender, written once so that
//! `compare.rs` (time) and `instructions.rs` (instruction counts) measure the same code.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
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
    type Task: Future<Output = Result<usize, Fail>> + Send + 'static;

    fn task(i: usize) -> Self::Task;
}

/// Tasks that return `Ok(i)` at once.
pub struct Ready;

impl Work for Ready {
    type Task = std::future::Ready<Result<usize, Fail>>;

    fn task(i: usize) -> Self::Task {
        std::future::ready(Ok(i))
    }
}

/// Tasks that wake themselves once, then return `Ok(i)`: a task that waits for one event.
pub struct Yield1;

/// The task of [`Yield1`]: `Pending` once after waking its own task, then `Ok(i)`.
pub struct YieldOnce {
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
    let tasks: Vec<W::Task> = (0..n).map(W::task).collect();
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

/// The `nested` scenario's shape: a root group of `NESTED.0` groups of `NESTED.1` leaves each.
pub const NESTED: (usize, usize) = (15, 15);
/// How many signals each leaf waits for, one at a time.
pub const NESTED_ROUNDS: usize = 4;

/// What the leaves of a `nested` tree share: per leaf, the signals not yet taken and the waker
/// to wake. One leaf is woken at a time, by the tree's driver task, as sockets and channels wake
/// real tasks.
#[derive(Default)]
pub struct Signals {
    slots: Mutex<Vec<(usize, Option<Waker>)>>,
}

impl Signals {
    fn leaf(self: &Arc<Self>, rounds: usize) -> Leaf {
        let mut slots = self.slots.lock().unwrap();
        slots.push((0, None));
        Leaf {
            signals: Arc::clone(self),
            id: slots.len() - 1,
            left: rounds,
        }
    }

    fn send(&self, id: usize) {
        let waker = {
            let mut slots = self.slots.lock().unwrap();
            slots[id].0 += 1;
            slots[id].1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Waits for `left` signals, then returns `Ok(1)`.
pub struct Leaf {
    signals: Arc<Signals>,
    id: usize,
    left: usize,
}

impl Future for Leaf {
    type Output = Result<usize, Fail>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut slots = this.signals.slots.lock().unwrap();
        let (signals, waker) = &mut slots[this.id];
        let taken = (*signals).min(this.left);
        *signals -= taken;
        this.left -= taken;
        if this.left == 0 {
            return Poll::Ready(Ok(1));
        }
        *waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Hands one signal to each leaf in turn, `rounds` times over, yielding after each, so that the
/// tree is polled with one leaf woken at a time; returns `Ok(0)`.
async fn driver(signals: Arc<Signals>, leaves: usize, rounds: usize) -> Result<usize, Fail> {
    for _ in 0..rounds {
        for id in 0..leaves {
            signals.send(id);
            YieldOnce {
                i: 0,
                yielded: false,
            }
            .await?;
        }
    }
    Ok(0)
}

/// The `nested` tree of `ErrGroup`s; returns the number of leaves.
pub fn nested_errgroup() -> Result<usize, Fail> {
    let signals = Arc::new(Signals::default());
    let (width, leaves) = NESTED;
    let mut root = ErrGroup::new();
    for _ in 0..width {
        let mut group = ErrGroup::new();
        for _ in 0..leaves {
            group.push(signals.leaf(NESTED_ROUNDS));
        }
        root.push(async move { group.await.map(|done| done.iter().sum()) });
    }
    root.push(driver(Arc::clone(&signals), width * leaves, NESTED_ROUNDS));
    block_on(root).map(|done| done.iter().sum())
}

/// Drains a boxed `FuturesUnordered`, summing the values, failing on the first error.
async fn drain(mut set: FuturesUnordered<Task>) -> Result<usize, Fail> {
    let mut sum = 0;
    while let Some(value) = set.try_next().await? {
        sum += value;
    }
    Ok(sum)
}

/// The same tree of boxed `FuturesUnordered`s.
pub fn nested_futures_unordered() -> Result<usize, Fail> {
    let signals = Arc::new(Signals::default());
    let (width, leaves) = NESTED;
    let root: FuturesUnordered<Task> = FuturesUnordered::new();
    for _ in 0..width {
        let set: FuturesUnordered<Task> = (0..leaves)
            .map(|_| Box::pin(signals.leaf(NESTED_ROUNDS)) as Task)
            .collect();
        root.push(Box::pin(drain(set)));
    }
    root.push(Box::pin(driver(
        Arc::clone(&signals),
        width * leaves,
        NESTED_ROUNDS,
    )));
    block_on(drain(root))
}
