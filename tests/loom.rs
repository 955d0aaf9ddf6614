//! The group's two cross-thread protocols under the interleavings loom explores (`--cfg loom`;
//! see `.ci/run`), on the real `ErrGroup` run by `loom::future::block_on`:
//!
//! - the handle inbox: the group ends while loom threads push through a `Handle`, and the
//!   group's stream waits for a handle that pushes and is dropped on another thread;
//! - the wake-up path: a waiting task woken from another thread while the group's passes take
//!   the readiness word, in one of the group's slots and in a page beyond them, beside a sibling
//!   that wakes itself; a waker lent to a task for one poll, handed by that task to another
//!   thread that wakes it and drops it while the group decides where the task goes, and lent
//!   next to the task polled after it. A lost wake-up would leave `block_on` parked, which loom
//!   reports as a deadlock.
//!
//! For the inbox:
//!
//! - Finish: a push that returned `Ok` is in the result; a refused push hands its task back,
//!   unpolled. Never both, never neither.
//! - Failure: every task pushed is dropped exactly once, run or not, and none is left in the
//!   failed group.
//!
//! The groups stay alive until the pushers are joined: a handle's `Weak` and the group's `Arc`
//! are `std`'s (loom's `Arc` has no `Weak`), so loom does not see the synchronisation through
//! their counts. A push racing the *drop* of the group is left to the stress tests in
//! `tests/handle.rs`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use errgroup::ErrGroup;
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// A task that returns its id, remembers whether it was polled and counts its drops.
struct Job {
    id: u32,
    polled: bool,
    drops: Arc<AtomicUsize>,
}

impl Job {
    fn new(id: u32, drops: &Arc<AtomicUsize>) -> Self {
        Job {
            id,
            polled: false,
            drops: Arc::clone(drops),
        }
    }
}

impl Future for Job {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.polled = true;
        Poll::Ready(Ok(self.id))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// What a pusher thread saw.
#[derive(Debug, PartialEq)]
enum Push {
    Accepted,
    /// Refused, and the very task came back unpolled.
    Refused,
}

/// Pushes job `id` on a new loom thread.
fn push_from_thread(
    handle: errgroup::Handle<'static, u32, ()>,
    id: u32,
    drops: &Arc<AtomicUsize>,
) -> thread::JoinHandle<Push> {
    let drops = Arc::clone(drops);
    thread::spawn(move || match handle.push(Job::new(id, &drops)) {
        Ok(()) => Push::Accepted,
        Err(err) => {
            assert!(err.is_closed());
            let job = err.into_inner();
            assert_eq!(job.id, id);
            assert!(!job.polled, "a refused task was polled");
            Push::Refused
        }
    })
}

#[test]
fn an_accepted_push_runs_when_the_group_finishes_meanwhile() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<u32, ()>::new();
        group.push(async { Ok(0) });
        let pusher = push_from_thread(group.handle(), 1, &drops);

        let out = block_on(&mut group).unwrap();
        let pushed = pusher.join().unwrap();
        drop(group);
        match pushed {
            Push::Accepted => assert_eq!(out, [0, 1], "an accepted push did not run"),
            Push::Refused => assert_eq!(out, [0]),
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn two_pushes_racing_the_finish_run_exactly_when_accepted() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<u32, ()>::new();
        let first = push_from_thread(group.handle(), 1, &drops);
        let second = push_from_thread(group.handle(), 2, &drops);

        let mut out = block_on(&mut group).unwrap();
        out.sort_unstable();
        let mut expected = vec![];
        for (id, pusher) in [(1, first), (2, second)] {
            if pusher.join().unwrap() == Push::Accepted {
                expected.push(id);
            }
        }
        assert_eq!(out, expected);
        drop(group);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// Once the group has failed and the pusher has returned, the pushed task is gone (run or
/// dropped, exactly once), even though the failed group still exists.
///
/// Regression: the pusher used to re-check `CLOSED` after enqueueing with a plain `SeqCst` load.
/// Loom (which treats `SeqCst` accesses as `AcqRel`) found a schedule where that load missed
/// `CLOSED` while the failing group's drain missed the task, so an accepted task stayed in a
/// failed group's inbox until the group was dropped. The re-check is now a read-modify-write.
/// The stream of an empty group waits while a handle lives; the last handle, pushing and then
/// dropped on another thread, wakes it however the drop interleaves with the stream's check.
#[test]
fn the_last_handle_dropped_on_another_thread_ends_the_stream() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<u32, ()>::new();
        // Moved into the thread and dropped there, after its push.
        let pusher = push_from_thread(group.handle(), 1, &drops);
        let results: Vec<_> = block_on(futures::StreamExt::collect(group.stream()));
        assert_eq!(pusher.join().unwrap(), Push::Accepted);
        assert_eq!(results, [Ok(1)]);
    });
}

#[test]
fn a_push_racing_a_failure_is_dropped_exactly_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<u32, ()>::new();
        group.push(async { Err(()) });
        let pusher = push_from_thread(group.handle(), 1, &drops);

        assert_eq!(block_on(&mut group), Err(()));
        assert_eq!(group.len(), 0);
        pusher.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "a failed group's inbox kept a task");
        drop(group);
        assert_eq!(drops.load(SeqCst), 1, "a pushed task was dropped twice");
    });
}

/// Signals handed to a task from another thread, with the waker to wake: what a channel is to a
/// task waiting on it.
#[derive(Default)]
struct Signal {
    state: loom::sync::Mutex<(usize, Option<std::task::Waker>)>,
}

impl Signal {
    /// Sends one, and wakes the waiter through the waker it keeps: no waker of the group's is
    /// dropped on the sending thread. (A page's waker can be the last owner of the page's word,
    /// whose `Arc` is `std`'s: loom would not see that drop ordered after the group's last use.)
    fn send_keeping_the_waker(&self) {
        let state = &mut *self.state.lock().unwrap();
        state.0 += 1;
        if let Some(waker) = &state.1 {
            waker.wake_by_ref();
        }
    }

    fn send(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 += 1;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Completes once it has seen `want` signals.
struct Waiter {
    signal: Arc<Signal>,
    want: usize,
}

impl Future for Waiter {
    type Output = Result<u32, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.signal.state.lock().unwrap();
        if state.0 >= self.want {
            return Poll::Ready(Ok(state.0 as u32));
        }
        state.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A waiting task woken from another thread, twice, racing the group's passes, which register the
/// caller's waker and take the readiness word. A lost wake-up would leave `block_on` parked for
/// ever, which loom reports.
#[test]
fn a_waiting_task_woken_from_another_thread_is_always_polled() {
    loom::model(|| {
        let signal = Arc::new(Signal::default());
        let mut group = ErrGroup::<u32, ()>::new();
        group.push(Waiter {
            signal: Arc::clone(&signal),
            want: 2,
        });
        let sender = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                signal.send();
                signal.send();
            })
        };
        assert_eq!(block_on(&mut group), Ok(vec![2]));
        sender.join().unwrap();
    });
}

/// Waits, holding its waker, until released; then returns `Ok(0)`. Fills one of the group's slots.
struct Filler {
    released: Arc<std::sync::atomic::AtomicBool>,
    wakers: Arc<std::sync::Mutex<Vec<std::task::Waker>>>,
}

impl Future for Filler {
    type Output = Result<u32, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.released.load(std::sync::atomic::Ordering::SeqCst) {
            return Poll::Ready(Ok(0));
        }
        self.wakers.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

/// With every one of the group's slots taken by a task that waits, the next task waits in a
/// page, and is woken from another thread, twice: the page's word, the page queue and the
/// group's word race the passes that take them. A lost wake-up would leave `block_on` parked.
#[test]
fn a_task_waiting_in_a_page_woken_from_another_thread_is_always_polled() {
    const SLOTS: usize = usize::BITS as usize - 4;
    loom::model(|| {
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wakers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let signal = Arc::new(Signal::default());
        let mut group = ErrGroup::<u32, ()>::new();
        for _ in 0..SLOTS {
            group.push(Filler {
                released: Arc::clone(&released),
                wakers: Arc::clone(&wakers),
            });
        }
        let waiter = Waiter {
            signal: Arc::clone(&signal),
            want: 2,
        };
        group.push(async move {
            let seen = waiter.await?;
            // Then the fillers may finish.
            released.store(true, std::sync::atomic::Ordering::SeqCst);
            let fillers: Vec<std::task::Waker> = wakers.lock().unwrap().drain(..).collect();
            fillers.into_iter().for_each(std::task::Waker::wake);
            Ok(seen)
        });
        let sender = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                signal.send_keeping_the_waker();
                signal.send_keeping_the_waker();
            })
        };
        let mut expected = vec![0; SLOTS];
        expected.push(2);
        assert_eq!(block_on(&mut group), Ok(expected));
        sender.join().unwrap();
    });
}

/// Two tasks, one waking itself (it goes to the next pass's queue, and gives its slot back) and
/// one woken from another thread (it waits in a slot), so a wake-up from another thread can land
/// while the group is deciding where the self-waking task goes.
#[test]
fn a_self_waking_sibling_never_hides_a_wake_up_from_another_thread() {
    loom::model(|| {
        let signal = Arc::new(Signal::default());
        let mut group = ErrGroup::<u32, ()>::new();
        group.push(Waiter {
            signal: Arc::clone(&signal),
            want: 1,
        });
        let mut yielded = false;
        group.push(std::future::poll_fn(move |cx| {
            if std::mem::replace(&mut yielded, true) {
                return Poll::Ready(Ok(7));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        let sender = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.send())
        };
        assert_eq!(block_on(&mut group), Ok(vec![1, 7]));
        sender.join().unwrap();
    });
}

/// A task hands a clone of the waker it was lent to another thread and returns `Pending`; that
/// thread wakes the waker and drops it, at any point, possibly before the group has looked at
/// the waker's count. Whatever the order, the task is polled again (a wake-up that finds the
/// count back at one has set the bit the group clears next), and the task polled after it,
/// which may be lent the same slot's waker, is not disturbed by it.
#[test]
fn a_waker_handed_to_another_thread_during_its_poll_is_never_lost() {
    loom::model(|| {
        let mailbox: Arc<loom::sync::Mutex<Option<std::task::Waker>>> = Arc::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<u32, ()>::new();
        {
            let (mailbox, sent) = (Arc::clone(&mailbox), Arc::clone(&sent));
            let mut posted = false;
            group.push(std::future::poll_fn(move |cx| {
                if sent.load(SeqCst) == 1 {
                    return Poll::Ready(Ok(1));
                }
                if !std::mem::replace(&mut posted, true) {
                    *mailbox.lock().unwrap() = Some(cx.waker().clone());
                }
                Poll::Pending
            }));
        }
        let mut yielded = false;
        group.push(std::future::poll_fn(move |cx| {
            if std::mem::replace(&mut yielded, true) {
                return Poll::Ready(Ok(2));
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        let waker_thread = thread::spawn(move || loop {
            if let Some(waker) = mailbox.lock().unwrap().take() {
                sent.store(1, SeqCst);
                waker.wake();
                return;
            }
            thread::yield_now();
        });
        assert_eq!(block_on(&mut group), Ok(vec![1, 2]));
        waker_thread.join().unwrap();
    });
}
