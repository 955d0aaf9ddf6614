//! Steering a running group: ending it on purpose (`cancel`, and `cancel_on` with a deadline, a
//! parent's token or a shutdown), on tokio with paused time and on smol; the group as a
//! `Stream`; results kept by `run_until` (`kept`).
mod support;

use std::future::{pending, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use errgroup::{CancelToken, Cause, ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use futures::future::{self, Either, FusedFuture, FutureExt};
use futures::stream::{self, FusedStream, StreamExt, TryStreamExt};

use support::{poll_once, track, yield_times, Gate, Probe};

/// The error of these tests: a task's own, or what the stop future says.
#[derive(Debug, PartialEq, Eq)]
enum Error {
    Task(u32),
    Timeout,
    Shutdown,
    ParentCancelled,
}

/// Held by a task: counts its drops, and records a drop of a task that had not finished
/// (`finish` not called) before the token fired.
struct Guard {
    token: CancelToken,
    drops: Arc<AtomicUsize>,
    before_token: Arc<AtomicUsize>,
    finished: bool,
}

impl Guard {
    /// The task holding it ran to its end: its drop says nothing of the group's.
    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if !self.finished && !self.token.is_cancelled() {
            self.before_token.fetch_add(1, SeqCst);
        }
    }
}

/// Guards for the tasks of one group.
struct Guards {
    token: CancelToken,
    drops: Arc<AtomicUsize>,
    before_token: Arc<AtomicUsize>,
}

impl Guards {
    fn new(token: CancelToken) -> Self {
        Guards {
            token,
            drops: Arc::default(),
            before_token: Arc::default(),
        }
    }

    fn guard(&self) -> Guard {
        Guard {
            token: self.token.clone(),
            drops: Arc::clone(&self.drops),
            before_token: Arc::clone(&self.before_token),
            finished: false,
        }
    }

    /// Every guard was dropped, and none of an unfinished task before the token fired.
    fn all_dropped_after_the_token(&self, count: usize) {
        assert_eq!(self.drops.load(SeqCst), count, "every task was dropped");
        assert_eq!(
            self.before_token.load(SeqCst),
            0,
            "the token fired before any drop"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// cancel

/// `cancel` drops every task, running, waiting behind the limit and pushed through a handle and
/// not yet received, after the token fired with `Cause::Cancelled`; the group is ended.
#[test]
fn cancel_drops_every_task_after_the_token_fires() {
    let mut group = ErrGroup::<u32, Error>::with_limit(2);
    let guards = Guards::new(group.token());
    for _ in 0..5 {
        let guard = guards.guard();
        group.push(async move {
            let _guard = guard;
            pending::<()>().await;
            Ok(0)
        });
    }
    assert!(poll_once(&mut group).is_pending()); // two run, three wait
    let handle = group.handle();
    let guard = guards.guard();
    handle
        .push(async move {
            let _guard = guard;
            Ok(1)
        })
        .unwrap(); // in the inbox, not received
    group.cancel();
    guards.all_dropped_after_the_token(6);
    assert_eq!(group.token().cause(), Some(Cause::Cancelled));
    assert!(handle.push(async { Ok(2) }).unwrap_err().is_closed());
    assert!(group.is_terminated());
    assert_eq!((group.len(), group.kept()), (0, 0));
    assert_eq!(block_on(group.try_next()), Ok(None));
    // A second cancel, or one after the group ended otherwise, changes nothing.
    group.cancel();
    assert_eq!(group.token().cause(), Some(Cause::Cancelled));
    let mut failed = ErrGroup::<u32, Error>::new();
    failed.push(async { Err(Error::Task(1)) });
    assert_eq!(block_on(&mut failed), Err(Error::Task(1)));
    failed.cancel();
    assert_eq!(failed.token().cause(), Some(Cause::Failed));
}

/// Awaiting a cancelled group, or pushing into it, is the documented misuse panic.
#[test]
fn a_cancelled_group_refuses_pushes_and_panics_when_awaited() {
    let mut group = LocalErrGroup::<u32, Error>::new();
    group.cancel();
    let push =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| group.push(async { Ok(1) })));
    assert!(push.is_err(), "a push into a cancelled group panics");
    assert!(group.try_push(async { Ok(1) }).unwrap_err().is_closed());
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut group)));
    let payload = polled.unwrap_err();
    let message = support::panic_message(&*payload).unwrap_or_default();
    assert!(
        message.contains("polled after it was cancelled"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// cancel_on: deadlines

/// A fan-out whose slow call would answer after the deadline: the group returns the deadline's
/// error when it passes, the slow call dropped, the fast ones' work done; on tokio's paused
/// clock, so the test takes no real time.
#[tokio::test(start_paused = true)]
async fn a_deadline_ends_a_fan_out_on_tokio() {
    let mut group = ErrGroup::<u32, Error>::new();
    let guards = Guards::new(group.token());
    let finished = Arc::new(AtomicUsize::new(0));
    for (i, ms) in [(0, 10), (1, 20), (2, 5_000)] {
        let (guard, finished) = (guards.guard(), Arc::clone(&finished));
        group.push(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            guard.finish();
            finished.fetch_add(1, SeqCst);
            Ok(i)
        });
    }
    group.cancel_on(async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Error::Timeout
    });
    let start = tokio::time::Instant::now();
    assert_eq!(group.await, Err(Error::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(
        finished.load(SeqCst),
        2,
        "the calls that answered in time ran to the end"
    );
    guards.all_dropped_after_the_token(3);
    assert_eq!(guards.token.cause(), Some(Cause::Cancelled));
}

/// The same deadline does not fire when the group finishes first: the group returns its values,
/// and the stop future is dropped with it.
#[tokio::test(start_paused = true)]
async fn a_deadline_that_does_not_pass_changes_nothing() {
    let mut group = ErrGroup::<u32, Error>::new();
    for i in 0..3 {
        group.push(async move {
            tokio::time::sleep(Duration::from_millis(10 * u64::from(i))).await;
            Ok(i)
        });
    }
    let token = group.token();
    group.cancel_on(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Error::Timeout
    });
    assert_eq!(group.await, Ok(vec![0, 1, 2]));
    assert_eq!(token.cause(), Some(Cause::Finished));
}

/// On smol, with its timers: the deadline ends a fan-out, its drop guards fire. (Not under Miri,
/// which does not emulate the `timerfd` smol's timers are built on.)
#[test]
#[cfg(not(miri))]
fn a_deadline_ends_a_fan_out_on_smol() {
    smol::block_on(async {
        let mut group = ErrGroup::<u32, Error>::new();
        let guards = Guards::new(group.token());
        for i in 0..4 {
            let guard = guards.guard();
            group.push(async move {
                let _guard = guard;
                smol::Timer::after(Duration::from_secs(10)).await;
                Ok(i)
            });
        }
        group.cancel_on(async {
            smol::Timer::after(Duration::from_millis(20)).await;
            Error::Timeout
        });
        let start = std::time::Instant::now();
        assert_eq!(group.await, Err(Error::Timeout));
        assert!(start.elapsed() < Duration::from_secs(5));
        guards.all_dropped_after_the_token(4);
    });
}

/// A stop that is ready when a task's result is too: the stop wins, and the group ends before
/// handing the result out.
#[test]
fn a_stop_and_a_result_in_the_same_poll_the_stop_wins() {
    let mut group = ErrGroup::<u32, Error>::new();
    group.push(async { Ok(1) });
    group.cancel_on(async { Error::Shutdown });
    assert_eq!(block_on(group.try_next()), Err(Error::Shutdown));
    assert_eq!(group.token().cause(), Some(Cause::Cancelled));
}

/// Two stops: the first to complete ends the group, with its error.
#[test]
fn the_first_of_two_stops_ends_the_group() {
    for shutdown_first in [false, true] {
        let (deadline, shutdown) = (Gate::new(), Gate::new());
        let mut group = ErrGroup::<u32, Error>::new();
        group.push(pending());
        let wait = deadline.wait();
        group.cancel_on(async move {
            wait.await;
            Error::Timeout
        });
        let wait = shutdown.wait();
        group.cancel_on(async move {
            wait.await;
            Error::Shutdown
        });
        assert!(poll_once(&mut group).is_pending());
        let expected = if shutdown_first {
            shutdown.open();
            Error::Shutdown
        } else {
            deadline.open();
            Error::Timeout
        };
        assert_eq!(block_on(&mut group), Err(expected));
    }
}

/// `cancel_on` on a group that has ended drops the stop future and changes nothing.
#[test]
fn a_stop_given_to_an_ended_group_is_dropped() {
    let mut group = ErrGroup::<u32, Error>::new();
    group.push(async { Ok(1) });
    assert_eq!(block_on(&mut group), Ok(vec![1]));
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = support::DropCounter::new(&dropped);
    group.cancel_on(async move {
        let _guard = guard;
        Error::Shutdown
    });
    assert_eq!(dropped.load(SeqCst), 1);
    assert_eq!(group.token().cause(), Some(Cause::Finished));
}

/// The stop ends the group whichever way it is driven: `try_next`, `run_until` (its future is
/// dropped too), and the stream.
#[test]
fn the_stop_ends_try_next_run_until_and_the_stream() {
    for way in 0..3 {
        let stop = Gate::new();
        let mut group = ErrGroup::<u32, Error>::new();
        group.push(pending());
        let wait = stop.wait();
        group.cancel_on(async move {
            wait.await;
            Error::Shutdown
        });
        assert!(poll_once(&mut group.try_next()).is_pending());
        stop.open();
        let result = match way {
            0 => block_on(group.try_next()).map(|_| ()),
            1 => block_on(group.run_until(pending::<()>())),
            _ => block_on(group.stream().next())
                .expect("an item")
                .map(|_| ()),
        };
        assert_eq!(result, Err(Error::Shutdown), "way {way}");
        assert_eq!(group.token().cause(), Some(Cause::Cancelled));
        assert_eq!(block_on(group.stream().next()), None);
    }
}

/// The `select!` trap: a timer beside a borrowed group only stops the group if the group knows
/// about it. With `cancel_on`, the group's own branch ends it, every task dropped, even though
/// the group is only borrowed; with a timer branch instead, the tasks live on until `cancel`.
#[test]
fn a_borrowed_group_in_a_select_ends_itself_with_cancel_on() {
    block_on(async {
        let mut group = ErrGroup::<u32, Error>::new();
        let guards = Guards::new(group.token());
        for _ in 0..3 {
            let guard = guards.guard();
            group.push(async move {
                let _guard = guard;
                pending::<()>().await;
                Ok(0)
            });
        }
        group.cancel_on(async { Error::Timeout });
        let other = pending::<()>();
        futures::pin_mut!(other);
        match future::select(&mut group, other).await {
            Either::Left((result, _)) => assert_eq!(result, Err(Error::Timeout)),
            Either::Right(_) => unreachable!(),
        }
        guards.all_dropped_after_the_token(3); // while the group is still borrowed and alive
        assert!(group.is_terminated());

        // Without it: the timer's branch wins, and the tasks are still alive until `cancel`.
        let mut group = ErrGroup::<u32, Error>::new();
        let guards = Guards::new(group.token());
        let guard = guards.guard();
        group.push(async move {
            let _guard = guard;
            pending::<()>().await;
            Ok(0)
        });
        let timer = future::ready(());
        match future::select(&mut group, timer).await {
            Either::Right(((), _)) => {}
            Either::Left(_) => unreachable!(),
        }
        assert_eq!(
            guards.drops.load(SeqCst),
            0,
            "the borrowed group still holds its task"
        );
        group.cancel();
        guards.all_dropped_after_the_token(1);
    });
}

/// A stop future that panics ends the group as a task's panic does.
#[test]
fn a_panicking_stop_ends_the_group_as_a_panicking_task() {
    support::quiet_provoked_panics();
    let mut group = ErrGroup::<u32, Error>::new();
    group.push(pending());
    group.cancel_on(async { panic!("{}: in the stop", support::PROVOKED) });
    let token = group.token();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(&mut group)));
    assert!(result.is_err());
    assert_eq!(token.cause(), Some(Cause::Panicked));
}

// ---------------------------------------------------------------------------------------------
// A parent's cancellation

/// A request-scoped token reaches every group nested in it and work outside them: the parent
/// group fails; a group run by a spawned task stops on the parent's token (`cancel_on`), with
/// its own cause `Cancelled`, and that group's token stops a thread outside it.
#[test]
fn a_parent_token_cancels_a_nested_group_and_the_work_outside_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut parent = ErrGroup::<u32, Error>::new();
        let request = parent.token();

        // A spawned task runs a group of its own, tied to the request.
        let (child_token_tx, child_token_rx) = std::sync::mpsc::channel();
        let spawned = tokio::spawn(async move {
            let mut child = ErrGroup::<u32, Error>::new();
            child.cancel_on(async move {
                request.cancelled().await;
                Error::ParentCancelled
            });
            child_token_tx.send(child.token()).unwrap();
            child.push(pending());
            child.push(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(1)
            });
            child.await
        });
        let child_token = child_token_rx.recv().unwrap();
        // Work outside the child group watches the child's token.
        let outside = std::thread::spawn(move || {
            while !child_token.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            child_token.cause()
        });

        parent.push(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(Error::Task(7))
        });
        assert_eq!(parent.await, Err(Error::Task(7)));
        assert_eq!(spawned.await.unwrap(), Err(Error::ParentCancelled));
        assert_eq!(outside.join().unwrap(), Some(Cause::Cancelled));
    });
}

// ---------------------------------------------------------------------------------------------
// The group as a Stream

fn numbers(values: &[Result<u32, Error>]) -> ErrGroup<'static, u32, Error> {
    let mut group = ErrGroup::new();
    for (i, value) in values.iter().enumerate() {
        let value = match value {
            Ok(v) => Ok(*v),
            Err(Error::Task(e)) => Err(Error::Task(*e)),
            Err(_) => unreachable!(),
        };
        group.push(async move {
            // Completion order is the reverse of push order.
            yield_times(values_len_hint() - i).await;
            value
        });
    }
    group
}

/// How many yields the first task of [`numbers`] waits; later ones wait less.
fn values_len_hint() -> usize {
    8
}

/// While a handle lives, the stream of an empty group waits for its pushes instead of ending,
/// and the last handle's drop, on another thread, wakes it to end. Once it has ended, nothing
/// another thread does can make it look unterminated (futures' `select_next_some` asserts that,
/// right after the `None`).
#[test]
fn the_stream_waits_while_a_handle_lives_and_ends_when_the_last_one_drops() {
    let (waker, wakes) = futures_test::task::new_count_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut group = ErrGroup::<u32, Error>::new();
    let handle = group.handle();
    let spare = handle.clone();
    let mut results = group.stream();
    assert!(!results.is_terminated(), "a handle may push");
    assert!(
        results.poll_next_unpin(&mut cx).is_pending(),
        "empty, but a handle lives"
    );

    let pusher = std::thread::spawn(move || handle.push(async { Ok(1) }).unwrap());
    pusher.join().unwrap(); // the handle is dropped with the thread; `spare` lives
    assert!(wakes.get() >= 1, "the push woke the stream");
    assert_eq!(results.poll_next_unpin(&mut cx), Poll::Ready(Some(Ok(1))));
    assert!(
        results.poll_next_unpin(&mut cx).is_pending(),
        "`spare` may still push"
    );

    let before = wakes.get();
    std::thread::spawn(move || drop(spare)).join().unwrap();
    assert!(
        wakes.get() > before,
        "the last handle's drop woke the stream"
    );
    assert_eq!(results.poll_next_unpin(&mut cx), Poll::Ready(None));
    assert!(results.is_terminated());
    // `try_next` does not wait for handles: it answers for the moment.
    let mut group = ErrGroup::<u32, Error>::new();
    let _handle = group.handle();
    assert_eq!(block_on(group.try_next()), Ok(None));
}

#[test]
fn the_stream_yields_results_in_completion_order_and_ends() {
    let mut group = numbers(&[Ok(1), Ok(2), Ok(3)]);
    let all: Vec<Result<u32, Error>> = block_on(group.stream().collect());
    assert_eq!(all, [Ok(3), Ok(2), Ok(1)]);
    assert!(group.stream().is_terminated());
    // It yields again after a push.
    group.push(async { Ok(4) });
    assert!(!group.stream().is_terminated());
    assert_eq!(block_on(group.stream().next()), Some(Ok(4)));
    assert_eq!(block_on(group.stream().next()), None);
}

#[test]
fn the_stream_ends_after_the_first_error_for_good() {
    let mut group = numbers(&[Ok(1), Err(Error::Task(9)), Ok(3)]);
    let mut results = group.stream();
    assert_eq!(block_on(results.next()), Some(Ok(3)));
    assert_eq!(block_on(results.next()), Some(Err(Error::Task(9))));
    assert_eq!(block_on(results.next()), None);
    assert!(results.is_terminated());
    assert_eq!(block_on(results.next()), None, "fused after the end");
    assert_eq!(group.token().cause(), Some(Cause::Failed));
}

#[test]
fn the_stream_works_with_try_stream_combinators() {
    // try_next
    let mut group = numbers(&[Ok(5)]);
    assert_eq!(block_on(group.stream().try_next()), Ok(Some(5)));
    // try_collect: every value, or the first error
    let collected: Result<Vec<u32>, Error> =
        block_on(numbers(&[Ok(1), Ok(2)]).into_stream().try_collect());
    assert_eq!(collected, Ok(vec![2, 1]));
    let failed: Result<Vec<u32>, Error> = block_on(
        numbers(&[Ok(1), Err(Error::Task(2))])
            .into_stream()
            .try_collect(),
    );
    assert_eq!(failed, Err(Error::Task(2)));
    // try_for_each
    let mut sum = 0;
    block_on(numbers(&[Ok(1), Ok(2), Ok(3)]).stream().try_for_each(|v| {
        sum += v;
        future::ready(Ok(()))
    }))
    .unwrap();
    assert_eq!(sum, 6);
    // take_while: the tasks not taken stay in the group
    let mut group = numbers(&[Ok(1), Ok(2), Ok(3)]);
    let taken: Vec<_> = block_on(
        group
            .stream()
            .take_while(|r| future::ready(r.as_ref().is_ok_and(|v| *v > 1)))
            .collect(),
    );
    assert_eq!(taken, [Ok(3), Ok(2)]);
    assert_eq!(
        block_on(group.try_next()),
        Ok(None),
        "the 1 was taken by take_while's check"
    );
    // select with another stream
    let merged: Vec<Result<u32, Error>> = block_on(
        stream::select(
            numbers(&[Ok(1), Ok(2)]).into_stream(),
            stream::iter([Ok(10)]),
        )
        .collect(),
    );
    let mut merged: Vec<u32> = merged.into_iter().map(Result::unwrap).collect();
    merged.sort_unstable();
    assert_eq!(merged, [1, 2, 10]);
}

/// `futures::select!` over the stream: it is skipped while the group is empty, and taken again
/// after a push, without spinning.
#[test]
fn select_over_the_stream_skips_an_empty_group() {
    block_on(async {
        let (jobs_tx, mut jobs) = futures::channel::mpsc::unbounded::<u32>();
        let producer = std::thread::spawn(move || {
            for job in 1..=5 {
                jobs_tx.unbounded_send(job).unwrap();
            }
        });
        let mut group = ErrGroup::<u32, Error>::new().into_stream();
        let mut results = vec![];
        let mut rounds = 0;
        loop {
            rounds += 1;
            futures::select! {
                job = jobs.next() => if let Some(job) = job {
                    group.get_mut().push(async move { Ok(job * 10) });
                },
                result = group.select_next_some() => results.push(result.unwrap()),
                complete => break,
            }
        }
        producer.join().unwrap();
        results.sort_unstable();
        assert_eq!(results, [10, 20, 30, 40, 50]);
        assert!(rounds < 100, "{rounds} rounds: the loop spun");
    });
}

// ---------------------------------------------------------------------------------------------
// Kept results

/// `kept` counts what `run_until` kept: a loop that ends on `is_empty` alone would miss them.
#[test]
fn kept_counts_the_results_run_until_kept() {
    block_on(async {
        let probe = Probe::new();
        let mut group = ErrGroup::<usize, ()>::new();
        for id in 0..3 {
            group.push(track(probe.clone(), id, async move {
                yield_times(id).await;
                Ok(id)
            }));
        }
        group.run_until(yield_times(10)).await.unwrap();
        assert_eq!(probe.completed(), 3);
        assert_eq!((group.len(), group.kept()), (0, 3));
        let mut seen = vec![];
        while group.len() + group.kept() > 0 {
            seen.extend(group.try_next().await.unwrap());
        }
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!(group.kept(), 0);
    });
}

/// A future whose output is the group's error type, for `cancel_on`'s bound.
#[allow(dead_code)]
fn stop_types_check() -> impl Future<Output = Error> + Send {
    async { Error::Shutdown }.boxed()
}
