//! `CancelToken`: it fires exactly when its group fails, is dropped (also while a panic unwinds
//! through the group's `poll`) or finishes successfully, and never before; a token taken after
//! the group ended is already cancelled; `cancelled()` is a `'static + Send` future that wakes
//! waiters on other threads and other executors, each once; `run_until_cancelled` returns the
//! output when the future wins and `None` (dropping the future) when the token fires first.
//! Also the two patterns the token exists for: a tokio-spawned task and a blocking thread that
//! stop after the group's first error.

mod support;

use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use errgroup::futures::{Cancelled, RunUntilCancelled};
use errgroup::{CancelToken, ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use futures_test::task::new_count_waker;
use static_assertions::assert_impl_all;

use support::{noop_cx, poll_once, yield_times, Gate};

assert_impl_all!(CancelToken: Clone, Send, Sync, Unpin);
assert_impl_all!(Cancelled: Send, Sync, Unpin);
assert_impl_all!(RunUntilCancelled<std::future::Ready<()>>: Send, Sync, Unpin);

/// Compiles only for futures that can be handed to `tokio::spawn` or a thread.
fn assert_spawnable<F: Future + Send + 'static>(_: &F) {}

/// A multi-thread tokio runtime with two workers.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Counts its drops: put one inside a future to see when the future is dropped.
struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Wraps a future and sends one message the first time it returns `Pending`: from then on its
/// waker is registered, so whoever completes it must wake it.
struct SignalPending<F> {
    fut: F,
    tx: Option<mpsc::Sender<()>>,
}

fn signal_pending<F>(fut: F, tx: mpsc::Sender<()>) -> SignalPending<F> {
    SignalPending { fut, tx: Some(tx) }
}

impl<F: Future + Unpin> Future for SignalPending<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = Pin::new(&mut self.fut).poll(cx);
        if poll.is_pending() {
            if let Some(tx) = self.tx.take() {
                tx.send(()).unwrap();
            }
        }
        poll
    }
}

/// Waits for `n` messages: `n` waiters have registered.
fn wait_registered(rx: &mpsc::Receiver<()>, n: usize) {
    for _ in 0..n {
        rx.recv().unwrap();
    }
}

/// Polls `fut` by hand until it is ready, failing after many polls instead of hanging (for
/// groups with a task that never completes, which must not delay the first error).
fn poll_bounded<F: Future + Unpin>(fut: &mut F) -> F::Output {
    for _ in 0..1_000 {
        if let Poll::Ready(out) = poll_once(fut) {
            return out;
        }
    }
    panic!("still pending after 1000 polls")
}

/// Joins `handle`, failing (instead of hanging forever) if the thread never returns: a lost
/// wake-up. The bound is a deadlock guard, far beyond any real wait.
fn join_or_fail<T: Send + 'static>(handle: thread::JoinHandle<T>, what: &str) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(handle.join()).unwrap());
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(joined) => joined.unwrap(),
        Err(_) => panic!("{what} was never woken"),
    }
}

// ---------------------------------------------------------------------------------------------
// When it fires

#[test]
fn fires_when_the_group_fails_and_not_before() {
    let mut group = ErrGroup::<u32, &str>::new();
    let token = group.token();
    let gate = Gate::new();
    group.push(async { Ok(1) });
    let wait = gate.wait();
    group.push(async move {
        wait.await;
        Err("boom")
    });
    assert!(!token.is_cancelled(), "fired after a push");

    block_on(async {
        assert_eq!(group.try_next().await, Ok(Some(1)));
        assert!(
            !token.is_cancelled(),
            "fired after try_next returned a value"
        );
        // The failing task is still pending behind its gate.
        assert!(poll_once(&mut group.try_next()).is_pending());
        assert!(!token.is_cancelled(), "fired while a task was pending");
        gate.open();
        assert_eq!(group.try_next().await, Err("boom"));
    });
    assert!(token.is_cancelled(), "did not fire on the first error");
}

#[test]
fn fires_when_the_group_future_returns_an_error() {
    for limit in [None, Some(1)] {
        let mut group = match limit {
            Some(n) => ErrGroup::<(), &str>::with_limit(n),
            None => ErrGroup::new(),
        };
        let token = group.token();
        let seen_inside = Arc::new(AtomicBool::new(true));
        let inside = token.clone();
        let seen = Arc::clone(&seen_inside);
        group.push(async move {
            yield_times(2).await;
            seen.store(inside.is_cancelled(), SeqCst);
            Ok(())
        });
        group.push(async {
            yield_times(3).await;
            Err("boom")
        });
        group.push(pending());
        assert_eq!(poll_bounded(&mut group), Err("boom"));
        assert!(
            !seen_inside.load(SeqCst),
            "fired while the group was running"
        );
        assert!(token.is_cancelled());
    }
}

#[test]
fn does_not_fire_when_try_next_runs_out_of_tasks() {
    let mut group = ErrGroup::<u32, ()>::new();
    let token = group.token();
    block_on(async {
        assert_eq!(group.try_next().await, Ok(None));
        assert!(
            !token.is_cancelled(),
            "fired on Ok(None) from an empty group"
        );
        group.push(async { Ok(1) });
        assert_eq!(group.try_next().await, Ok(Some(1)));
        assert_eq!(group.try_next().await, Ok(None));
        assert!(
            !token.is_cancelled(),
            "fired on Ok(None): the group is still usable"
        );
        assert!(!group.token().is_cancelled());
        group.push(async { Ok(2) });
        assert_eq!((&mut group).await, Ok(vec![2]));
    });
    assert!(
        token.is_cancelled(),
        "did not fire when the group future returned"
    );
}

#[test]
fn fires_when_the_group_future_returns_ok() {
    let mut group = ErrGroup::<u32, ()>::new();
    let token = group.token();
    let seen_inside = Arc::new(AtomicBool::new(true));
    let inside = token.clone();
    let seen = Arc::clone(&seen_inside);
    group.push(async move {
        yield_times(2).await;
        seen.store(inside.is_cancelled(), SeqCst);
        Ok(1)
    });
    group.push(async { Ok(2) });
    assert!(!token.is_cancelled());
    assert_eq!(block_on(&mut group), Ok(vec![1, 2]));
    assert!(
        !seen_inside.load(SeqCst),
        "fired while the group was running"
    );
    assert!(
        token.is_cancelled(),
        "did not fire when the group returned Ok"
    );
}

#[test]
fn fires_when_an_empty_group_is_awaited() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    assert!(!token.is_cancelled());
    assert_eq!(block_on(&mut group), Ok(vec![]));
    assert!(token.is_cancelled());
}

#[test]
fn fires_when_the_group_is_dropped() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    group.push(pending());
    assert!(poll_once(&mut group).is_pending());
    assert!(!token.is_cancelled());
    drop(group);
    assert!(token.is_cancelled());

    // Never polled, no tasks.
    let group = ErrGroup::<(), ()>::new();
    let token = group.token();
    drop(group);
    assert!(token.is_cancelled());
}

#[test]
fn fires_while_a_panic_unwinds_through_poll_before_the_siblings_are_dropped() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let sibling_saw_token = Arc::new(AtomicBool::new(false));

    /// Records, when dropped, whether the token had already fired.
    struct SeesToken(CancelToken, Arc<AtomicBool>);
    impl Drop for SeesToken {
        fn drop(&mut self) {
            self.1.store(self.0.is_cancelled(), SeqCst);
        }
    }
    let sees = SeesToken(token.clone(), Arc::clone(&sibling_saw_token));
    group.push(async move {
        let _sees = sees;
        pending().await
    });
    group.push(async {
        yield_times(1).await;
        panic!("task panicked")
    });

    let unwound = catch_unwind(AssertUnwindSafe(|| poll_bounded(&mut group)));
    assert!(unwound.is_err());
    // The group itself is still alive here: the unwind, not a drop, fired the token.
    assert!(token.is_cancelled(), "did not fire while the panic unwound");
    assert!(
        sibling_saw_token.load(SeqCst),
        "the sibling was dropped before the token fired"
    );
    drop(group);
}

#[test]
fn fires_before_the_other_tasks_are_dropped_on_failure() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let fired_at_drop = Arc::new(AtomicBool::new(false));
    let watcher = token.clone();
    let fired = Arc::clone(&fired_at_drop);
    group.push(async move {
        struct OnDrop(CancelToken, Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.1.store(self.0.is_cancelled(), SeqCst);
            }
        }
        let _on_drop = OnDrop(watcher, fired);
        pending().await
    });
    group.push(async {
        yield_times(1).await;
        Err(())
    });
    assert_eq!(poll_bounded(&mut group), Err(()));
    assert!(fired_at_drop.load(SeqCst));
}

#[test]
fn local_group_token_fires_on_failure_success_and_drop() {
    let mut failing = LocalErrGroup::<(), ()>::new();
    let token = failing.token();
    failing.push(async {
        yield_times(1).await;
        Err(())
    });
    assert!(!token.is_cancelled());
    assert_eq!(block_on(&mut failing), Err(()));
    assert!(token.is_cancelled());

    let mut ok = LocalErrGroup::<u8, ()>::new();
    let token = ok.token();
    ok.push(async { Ok(1) });
    block_on(async {
        assert_eq!(ok.try_next().await, Ok(Some(1)));
        assert_eq!(ok.try_next().await, Ok(None));
    });
    assert!(!token.is_cancelled(), "fired on Ok(None)");
    assert_eq!(block_on(&mut ok), Ok(vec![]));
    assert!(token.is_cancelled());

    let dropped = LocalErrGroup::<(), ()>::new();
    let token = dropped.token();
    drop(dropped);
    assert!(token.is_cancelled());
}

#[test]
fn a_token_taken_after_the_group_ended_is_already_cancelled() {
    // Finished successfully.
    let mut group = ErrGroup::<(), ()>::new();
    group.push(async { Ok(()) });
    assert_eq!(block_on(&mut group), Ok(vec![()]));
    let token = group.token();
    assert!(token.is_cancelled());
    assert!(poll_once(&mut token.cancelled()).is_ready());

    // Failed (through try_next, so the group is still there to ask).
    let mut group = ErrGroup::<(), ()>::new();
    group.push(async { Err(()) });
    assert_eq!(block_on(group.try_next()), Err(()));
    let token = group.token();
    assert!(token.is_cancelled());
    assert!(poll_once(&mut token.cancelled()).is_ready());
    assert_eq!(
        poll_once(&mut token.run_until_cancelled(ready(1))),
        Poll::Ready(None),
        "when both are ready, cancellation wins"
    );

    // Failed by a panic.
    let mut group = LocalErrGroup::<(), ()>::new();
    group.push(async { panic!("boom") });
    assert!(catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).is_err());
    assert!(group.token().is_cancelled());
}

// ---------------------------------------------------------------------------------------------
// The futures

#[test]
fn cancelled_is_static_and_send() {
    let group = ErrGroup::<(), ()>::new();
    let cancelled = group.token().cancelled();
    assert_spawnable(&cancelled);
    let run = group.token().run_until_cancelled(async { 1 });
    assert_spawnable(&run);
    // The token outlives the group it came from.
    let waiter = thread::spawn(move || block_on(cancelled));
    drop(group);
    join_or_fail(
        waiter,
        "a thread waiting on a token whose group was dropped",
    );
}

#[test]
fn cancelled_wakes_each_registered_waiter_exactly_once() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let mut waiters: Vec<_> = (0..16)
        .map(|_| {
            let (waker, count) = new_count_waker();
            let mut cancelled = token.cancelled();
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut cancelled).poll(&mut cx).is_pending());
            (cancelled, waker, count)
        })
        .collect();
    // Polling the group (without it ending) wakes nobody.
    group.push(pending());
    assert!(poll_once(&mut group).is_pending());
    assert!(waiters.iter().all(|(_, _, count)| count.get() == 0));

    drop(group);
    for (cancelled, waker, count) in &mut waiters {
        assert_eq!(count.get(), 1, "each waiter is woken once");
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(cancelled).poll(&mut cx).is_ready());
    }
    // Firing happens once: nothing more wakes them.
    assert!(waiters.iter().all(|(_, _, count)| count.get() == 1));
}

#[test]
fn a_dropped_cancelled_future_does_not_steal_the_wakeup() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let (waker, count) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut kept = token.cancelled();
    assert!(Pin::new(&mut kept).poll(&mut cx).is_pending());
    let mut dropped = token.cancelled();
    assert!(Pin::new(&mut dropped).poll(&mut noop_cx()).is_pending());
    drop(dropped);
    group.push(async { Err(()) });
    assert_eq!(block_on(&mut group), Err(()));
    assert_eq!(count.get(), 1);
    assert!(Pin::new(&mut kept).poll(&mut cx).is_ready());
}

#[test]
fn run_until_cancelled_returns_the_output_when_the_future_wins() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    group.push(pending());
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        block_on(token.run_until_cancelled(async {
            yield_times(3).await;
            7
        })),
        Some(7)
    );
    assert!(!token.is_cancelled());
    drop(group);
}

#[test]
fn run_until_cancelled_returns_none_and_drops_the_future_when_the_token_fires_first() {
    let mut group = ErrGroup::<(), &str>::new();
    let token = group.token();
    let dropped = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let guard = DropGuard(Arc::clone(&dropped));
    let counted = Arc::clone(&polls);
    let mut run = Box::pin(token.run_until_cancelled(async move {
        let _guard = guard;
        std::future::poll_fn(|_| {
            counted.fetch_add(1, SeqCst);
            Poll::<u32>::Pending
        })
        .await
    }));
    let (waker, wakes) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(run.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls.load(SeqCst), 1);
    assert_eq!(wakes.get(), 0);

    group.push(async { Err("boom") });
    assert_eq!(block_on(&mut group), Err("boom"));
    assert_eq!(wakes.get(), 1, "the token's firing wakes the wrapper");
    assert_eq!(run.as_mut().poll(&mut cx), Poll::Ready(None));
    assert_eq!(
        polls.load(SeqCst),
        1,
        "the future is not polled once cancelled"
    );
    assert_eq!(dropped.load(SeqCst), 0);
    drop(run);
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the future is dropped with the wrapper"
    );
}

#[test]
fn run_until_cancelled_on_another_thread_returns_none_and_drops_the_future() {
    let mut group = ErrGroup::<(), &str>::new();
    let token = group.token();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropGuard(Arc::clone(&dropped));
    let (tx, rx) = mpsc::channel();
    let outside = thread::spawn(move || {
        let run = token.run_until_cancelled(async move {
            let _guard = guard;
            pending::<u32>().await
        });
        block_on(signal_pending(Box::pin(run), tx))
    });
    wait_registered(&rx, 1);
    group.push(async { Err("boom") });
    assert_eq!(block_on(&mut group), Err("boom"));
    assert_eq!(join_or_fail(outside, "run_until_cancelled"), None);
    assert_eq!(dropped.load(SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Waiters on other threads and executors

#[test]
fn a_thread_blocked_on_cancelled_returns_when_the_group_fails() {
    let mut group = ErrGroup::<(), &str>::new();
    let token = group.token();
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || block_on(signal_pending(token.cancelled(), tx)));
    wait_registered(&rx, 1);
    group.push(async { Err("boom") });
    assert_eq!(block_on(&mut group), Err("boom"));
    join_or_fail(waiter, "a thread in block_on(token.cancelled())");
}

#[test]
fn a_thread_blocked_on_cancelled_returns_when_the_group_finishes_on_tokio() {
    let rt = tokio_rt();
    let mut group = ErrGroup::<u32, ()>::new();
    let token = group.token();
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || block_on(signal_pending(token.cancelled(), tx)));
    wait_registered(&rx, 1);
    group.push(async {
        tokio::task::yield_now().await;
        Ok(1)
    });
    let out = rt.block_on(async move { tokio::spawn(group).await.unwrap() });
    assert_eq!(out, Ok(vec![1]));
    join_or_fail(waiter, "a thread in block_on(token.cancelled())");
}

#[test]
fn a_tokio_task_awaiting_cancelled_wakes_when_the_group_fails() {
    let rt = tokio_rt();
    let mut group = ErrGroup::<(), &str>::new();
    let token = group.token();
    let (tx, rx) = mpsc::channel();
    let task = rt.spawn(signal_pending(token.cancelled(), tx));
    wait_registered(&rx, 1);
    // The group runs on futures' executor on this thread; the waiter is on tokio's workers.
    group.push(async { Err("boom") });
    assert_eq!(block_on(&mut group), Err("boom"));
    rt.block_on(task).unwrap();
    assert!(token.is_cancelled());
}

#[test]
fn a_tokio_task_awaiting_cancelled_wakes_when_a_group_on_tokio_is_dropped() {
    let rt = tokio_rt();
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let (tx, rx) = mpsc::channel();
    let task = rt.spawn(signal_pending(token.cancelled(), tx));
    wait_registered(&rx, 1);
    group.push(pending());
    rt.block_on(async move {
        // Poll the group once on a tokio worker, then drop it there.
        tokio::spawn(async move {
            assert!(poll_once(&mut group).is_pending());
            drop(group);
        })
        .await
        .unwrap();
        task.await.unwrap();
    });
}

#[test]
fn many_threads_blocked_on_cancelled_all_return_each_once() {
    const WAITERS: usize = 16;
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let returned = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let cancelled = token.cancelled();
            let tx = tx.clone();
            let returned = Arc::clone(&returned);
            thread::spawn(move || {
                block_on(signal_pending(cancelled, tx));
                returned.fetch_add(1, SeqCst);
            })
        })
        .collect();
    wait_registered(&rx, WAITERS);
    assert_eq!(returned.load(SeqCst), 0);
    group.push(async { Err(()) });
    assert_eq!(block_on(&mut group), Err(()));
    for waiter in waiters {
        join_or_fail(waiter, "one of many waiting threads");
    }
    assert_eq!(returned.load(SeqCst), WAITERS);
}

#[test]
fn many_tokio_tasks_awaiting_cancelled_all_wake() {
    const WAITERS: usize = 16;
    let rt = tokio_rt();
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let (tx, rx) = mpsc::channel();
    let tasks: Vec<_> = (0..WAITERS)
        .map(|_| rt.spawn(signal_pending(token.cancelled(), tx.clone())))
        .collect();
    wait_registered(&rx, WAITERS);
    group.push(async {
        tokio::task::yield_now().await;
        Err(())
    });
    rt.block_on(async move {
        assert_eq!(group.await, Err(()));
        for task in tasks {
            task.await.unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The patterns the token is for: work the group cannot drop

/// What a worker outside the group reports when it stops.
#[derive(Debug, PartialEq)]
enum Stopped {
    ByToken,
    Finished,
}

#[test]
fn a_spawned_task_and_a_blocking_thread_stop_after_the_first_error() {
    let rt = tokio_rt();
    rt.block_on(async {
        let mut group = ErrGroup::<u32, String>::new();
        let token = group.token();
        let (started_tx, started_rx) = mpsc::channel();

        // A task on the runtime: dropping its JoinHandle would not stop it; the token does.
        let spawned = {
            let token = token.clone();
            let started = started_tx.clone();
            tokio::spawn(async move {
                let work = async {
                    started.send(()).unwrap();
                    loop {
                        tokio::task::yield_now().await;
                    }
                };
                let outcome: Option<()> = token.run_until_cancelled(work).await;
                outcome.map_or(Stopped::ByToken, |()| Stopped::Finished)
            })
        };
        // A blocking thread that checks the token between units of work.
        let blocking = {
            let token = token.clone();
            thread::spawn(move || {
                started_tx.send(()).unwrap();
                let mut units = 0_u64;
                while !token.is_cancelled() {
                    units += 1;
                    thread::yield_now();
                }
                (Stopped::ByToken, units)
            })
        };
        wait_registered(&started_rx, 2);
        assert!(!token.is_cancelled());

        group.push(async { Ok(1) });
        group.push(async {
            tokio::task::yield_now().await;
            Err("downstream failed".to_string())
        });
        assert_eq!(group.await, Err("downstream failed".to_string()));

        assert_eq!(spawned.await.unwrap(), Stopped::ByToken);
        let (stopped, _units) = join_or_fail(blocking, "the blocking worker");
        assert_eq!(stopped, Stopped::ByToken);
    });
}
