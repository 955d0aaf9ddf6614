//! Helpers shared by the integration tests, one meaning per name:
//!
//! - tasks that record when they start, how many run at once and whether they were dropped
//!   before finishing ([`Probe`], [`track`]), gates the test opens ([`Gate`], [`gated`]);
//! - drop counting ([`Drops`], whose [`DropGuard`]s bump it when dropped);
//! - futures that yield ([`yield_now`], futures-lite's; [`yield_times`]) or wake themselves
//!   through a waker they keep ([`kept_wake`]);
//! - wakers that count ([`CountWaker`]), and polling by hand ([`poll_once`], [`run_by_hand`]);
//! - quiet panics: the panics these tests provoke on purpose ([`PROVOKED`]), or any panic inside
//!   [`quietly`], print nothing.
//!
//! Each test crate uses a part of this module.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Waker};

use futures::task::ArcWake;

#[allow(unused_imports)]
pub use futures_lite::future::yield_now;

/// Counts what happens to the tasks it tracks (see [`track`]).
#[derive(Debug, Default)]
pub struct Probe {
    started: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
    completed: AtomicUsize,
    dropped: AtomicUsize,
    start_order: Mutex<Vec<usize>>,
}

impl Probe {
    pub fn new() -> Arc<Self> {
        Arc::new(Probe::default())
    }

    /// Tasks polled at least once.
    pub fn started(&self) -> usize {
        self.started.load(SeqCst)
    }

    /// Tasks started and neither completed nor dropped yet.
    pub fn active(&self) -> usize {
        self.active.load(SeqCst)
    }

    /// The highest `active` ever seen.
    pub fn max_active(&self) -> usize {
        self.max_active.load(SeqCst)
    }

    /// Tasks whose future returned `Ready`.
    pub fn completed(&self) -> usize {
        self.completed.load(SeqCst)
    }

    /// Tasks dropped before they returned `Ready` (started or not).
    pub fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }

    /// Task ids in the order of their first poll.
    pub fn start_order(&self) -> Vec<usize> {
        self.start_order.lock().unwrap().clone()
    }
}

/// Wraps `fut` so that `probe` sees its first poll (start), its completion and its drop.
///
/// `P` is `Arc<Probe>` for `Send` groups and may be `Rc<Probe>` for local ones.
pub fn track<P, F>(probe: P, id: usize, fut: F) -> Tracked<P, F>
where
    P: Deref<Target = Probe>,
    F: Future,
{
    Tracked {
        probe,
        id,
        fut: Box::pin(fut),
        started: false,
        done: false,
    }
}

/// The future returned by [`track`].
pub struct Tracked<P: Deref<Target = Probe>, F> {
    probe: P,
    id: usize,
    fut: Pin<Box<F>>,
    started: bool,
    done: bool,
}

impl<P: Deref<Target = Probe> + Unpin, F: Future> Future for Tracked<P, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        assert!(!this.done, "task {} polled after it completed", this.id);
        if !this.started {
            this.started = true;
            let probe = &*this.probe;
            probe.started.fetch_add(1, SeqCst);
            let active = probe.active.fetch_add(1, SeqCst) + 1;
            probe.max_active.fetch_max(active, SeqCst);
            probe.start_order.lock().unwrap().push(this.id);
        }
        let out = this.fut.as_mut().poll(cx);
        if out.is_ready() {
            this.done = true;
            this.probe.active.fetch_sub(1, SeqCst);
            this.probe.completed.fetch_add(1, SeqCst);
        }
        out
    }
}

impl<P: Deref<Target = Probe>, F> Drop for Tracked<P, F> {
    fn drop(&mut self) {
        if !self.done {
            if self.started {
                self.probe.active.fetch_sub(1, SeqCst);
            }
            self.probe.dropped.fetch_add(1, SeqCst);
        }
    }
}

/// A one-way gate: [`wait`](Gate::wait) completes once the test calls [`open`](Gate::open).
#[derive(Clone, Debug, Default)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    pub fn new() -> Self {
        Gate::default()
    }

    /// `n` closed gates.
    pub fn many(n: usize) -> Vec<Gate> {
        (0..n).map(|_| Gate::new()).collect()
    }

    pub fn open(&self) {
        self.inner.open.store(true, SeqCst);
        for waker in self.inner.wakers.lock().unwrap().drain(..) {
            waker.wake();
        }
    }

    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        std::future::poll_fn(move |cx| {
            if inner.open.load(SeqCst) {
                return Poll::Ready(());
            }
            inner.wakers.lock().unwrap().push(cx.waker().clone());
            if inner.open.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// A task that waits for `gate`, then returns `Ok(id)`, tracked by `probe` as task `id`.
pub fn gated<E>(
    probe: &Arc<Probe>,
    id: usize,
    gate: &Gate,
) -> impl Future<Output = Result<usize, E>> + Send + 'static {
    let wait = gate.wait();
    track(probe.clone(), id, async move {
        wait.await;
        Ok(id)
    })
}

/// Returns `Pending` `times` times, waking itself each time (a cooperative yield), then `Ready`.
pub fn yield_times(times: usize) -> impl Future<Output = ()> + Send + 'static {
    let mut left = times;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            Poll::Ready(())
        } else {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// A `Context` whose waker does nothing, for polling by hand.
pub fn noop_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// Polls `fut` once by hand, with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut noop_cx())
}

/// Polls `fut` by hand, with a waker that does nothing, until it is ready; panics after
/// `max_polls` polls. For tests whose tasks only wake themselves: where a broken group would
/// wait forever, the test fails instead of hanging.
pub fn run_by_hand<F: Future + Unpin>(fut: &mut F, max_polls: usize) -> F::Output {
    for _ in 0..max_polls {
        if let Poll::Ready(out) = poll_once(fut) {
            return out;
        }
    }
    panic!("not ready after {max_polls} polls");
}

/// Keeps a clone of its waker and wakes it, then returns `Pending` (as a future whose event
/// already came does, through a waker it registered): the task waits in one of the slab's slots,
/// and completes on its next poll.
pub fn kept_wake() -> impl Future<Output = ()> + Send + 'static {
    let mut kept: Option<Waker> = None;
    std::future::poll_fn(move |cx| {
        if kept.is_some() {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        waker.wake_by_ref();
        kept = Some(waker);
        Poll::Pending
    })
}

/// Counts drops of the [`DropGuard`]s made from it.
#[derive(Debug, Default)]
pub struct Drops(AtomicUsize);

impl Drops {
    pub fn new() -> Arc<Self> {
        Arc::new(Drops::default())
    }

    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }

    /// A value that bumps this counter when dropped; move it into a task.
    pub fn guard(self: &Arc<Self>) -> DropGuard {
        DropGuard(Arc::clone(self))
    }
}

/// Bumps its [`Drops`] counter when dropped.
#[derive(Debug)]
pub struct DropGuard(Arc<Drops>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, SeqCst);
    }
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct CountWaker {
    wakes: AtomicUsize,
}

impl CountWaker {
    /// The counter and a waker for it; `Arc::strong_count` of the counter tells whether anything
    /// still holds the waker.
    pub fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(CountWaker::default());
        let waker = futures::task::waker(Arc::clone(&counter));
        (counter, waker)
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl ArcWake for CountWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wakes.fetch_add(1, SeqCst);
    }
}

/// The message of every panic these tests provoke on purpose; the panic hook stays quiet for it.
pub const PROVOKED: &str = "provoked panic";

thread_local! {
    /// Set while [`quietly`] runs: every panic there is expected, and checked by the caller.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that prints nothing for panics whose message contains
/// [`PROVOKED`], nor for any panic inside [`quietly`], and defers to the default hook for every
/// other panic.
pub fn quiet_provoked_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let provoked = panic_message(info.payload()).is_some_and(|m| m.contains(PROVOKED));
            if !provoked && !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Runs `f`, catching its panic, which prints nothing.
pub fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    quiet_provoked_panics();
    QUIET.with(|quiet| quiet.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(false));
    result
}

/// The message of a panic payload, if it is a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Bumps `counter` when dropped: a witness of when a value (or the task holding it) was dropped.
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        DropCounter(Arc::clone(counter))
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Counts its polls; wakes itself on every poll (a task that keeps yielding) and never finishes.
pub struct CountsPolls(pub Arc<AtomicUsize>);

impl Future for CountsPolls {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.fetch_add(1, SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
