//! Waker-level tests of [`ErrGroup`]: when it registers the caller's waker, how often a task's
//! wake or a handle push wakes it, that a self-waking task makes it yield instead of spin, and
//! that wakers kept after the group is gone are harmless.
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use errgroup::ErrGroup;

use support::{CountWaker, Drops};

/// Where a [`Parked`] task leaves its waker, and the switch that lets it finish.
#[derive(Default)]
struct Slot {
    waker: Option<Waker>,
    open: bool,
}

type Shared = Arc<Mutex<Slot>>;

/// A task that stores its waker in a [`Slot`] and returns `Pending` until the slot is opened.
struct Parked {
    slot: Shared,
    value: u32,
}

impl Future for Parked {
    type Output = Result<u32, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.lock().unwrap();
        if slot.open {
            return Poll::Ready(Ok(self.value));
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn parked(value: u32) -> (Parked, Shared) {
    let slot = Shared::default();
    let task = Parked {
        slot: Arc::clone(&slot),
        value,
    };
    (task, slot)
}

/// Opens the slot and wakes the task parked on it (from the test, outside any poll).
fn open(slot: &Shared) {
    let waker = {
        let mut slot = slot.lock().unwrap();
        slot.open = true;
        slot.waker.take()
    };
    waker.expect("the task parked its waker").wake();
}

/// Wakes the task parked on the slot without letting it finish.
fn nudge(slot: &Shared) {
    let waker = slot.lock().unwrap().waker.take();
    waker.expect("the task parked its waker").wake();
}

fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Polls (through `poll_fn`) until the group returns `Pending` without having woken itself.
///
/// `FuturesUnordered`, and so the group, wakes its own waker and yields once it has polled every
/// task in one go, so even a group with nothing to do may need a second poll to go quiet; it
/// must be quiet by the third.
fn settle<T>(counter: &CountWaker, mut poll_fn: impl FnMut() -> Poll<T>) -> Poll<T> {
    for _ in 0..3 {
        let before = counter.wakes();
        match poll_fn() {
            Poll::Pending if counter.wakes() == before => return Poll::Pending,
            Poll::Pending => {}
            ready => return ready,
        }
    }
    panic!("the group keeps waking itself with nothing to do");
}

#[test]
fn pending_only_after_registering_the_waker() {
    let (counter, waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let (task, slot) = parked(1);
    group.push(task);

    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    let before = counter.wakes();
    open(&slot);
    assert_eq!(
        counter.wakes(),
        before + 1,
        "the task's wake reached the waker the group was polled with"
    );
    assert_eq!(poll(&mut group, &waker), Poll::Ready(Ok(vec![1])));
}

#[test]
fn try_next_pending_only_after_registering_the_waker() {
    let (counter, waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let (task, slot) = parked(1);
    group.push(task);

    assert!(settle(&counter, || poll(&mut group.try_next(), &waker)).is_pending());
    let before = counter.wakes();
    open(&slot);
    assert_eq!(counter.wakes(), before + 1);
    assert_eq!(
        poll(&mut group.try_next(), &waker),
        Poll::Ready(Ok(Some(1)))
    );
    assert_eq!(poll(&mut group.try_next(), &waker), Poll::Ready(Ok(None)));
}

/// A handle push into an idle group wakes it.
#[test]
fn a_handle_push_wakes_an_idle_group() {
    let (counter, waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let handle = group.handle();
    let (task, slot) = parked(1);
    group.push(task);

    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    let before = counter.wakes();
    handle.push(async { Ok(2) }).unwrap();
    assert_eq!(counter.wakes(), before + 1);
    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    open(&slot);
    assert_eq!(poll(&mut group, &waker), Poll::Ready(Ok(vec![1, 2])));
}

/// The latest waker is the one woken: a group moved to another task (a new waker) is not lost.
#[test]
fn the_latest_waker_is_woken() {
    let (first, first_waker) = CountWaker::new();
    let (second, second_waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let (task, slot) = parked(1);
    group.push(task);
    let handle = group.handle();

    for round in 0..2 {
        assert!(settle(&first, || poll(&mut group, &first_waker)).is_pending());
        assert!(settle(&second, || poll(&mut group, &second_waker)).is_pending());
        let before = (first.wakes(), second.wakes());
        if round == 0 {
            nudge(&slot);
        } else {
            handle.push(async { Ok(2) }).unwrap();
        }
        assert_eq!((first.wakes(), second.wakes()), (before.0, before.1 + 1));
    }
    assert!(settle(&second, || poll(&mut group, &second_waker)).is_pending());
    open(&slot);
    assert_eq!(poll(&mut group, &second_waker), Poll::Ready(Ok(vec![1, 2])));
}

/// After each `Pending`, one wake of any task, or one handle push, wakes the group exactly once.
#[test]
fn each_wake_wakes_the_group_exactly_once() {
    const TASKS: usize = 8;
    let (counter, waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let handle = group.handle();
    let mut slots = Vec::new();
    for value in 0..TASKS as u32 {
        let (task, slot) = parked(value);
        group.push(task);
        slots.push(slot);
    }
    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());

    // Wake the tasks in a scrambled order, each once without finishing it, then for good.
    let order = [5, 2, 7, 0, 3, 6, 1, 4];
    for &i in &order {
        let before = counter.wakes();
        nudge(&slots[i]);
        assert_eq!(counter.wakes(), before + 1, "nudging task {i}");
        assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    }
    for _ in 0..3 {
        let before = counter.wakes();
        handle.push(async { Ok(100) }).unwrap();
        assert_eq!(counter.wakes(), before + 1, "a handle push");
        assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    }
    for &i in &order {
        let before = counter.wakes();
        open(&slots[i]);
        assert_eq!(counter.wakes(), before + 1, "opening task {i}");
        let result = settle(&counter, || poll(&mut group, &waker));
        if i != order[TASKS - 1] {
            assert!(result.is_pending());
        } else {
            assert_eq!(
                result,
                Poll::Ready(Ok(vec![0, 1, 2, 3, 4, 5, 6, 7, 100, 100, 100]))
            );
        }
    }
}

/// Several wakes between two polls wake the group at least once, and never more often than
/// there were wakes.
#[test]
fn wakes_between_two_polls_are_not_lost() {
    let (counter, waker) = CountWaker::new();
    let mut group = ErrGroup::new();
    let handle = group.handle();
    let slots: Vec<Shared> = (0..4)
        .map(|value| {
            let (task, slot) = parked(value);
            group.push(task);
            slot
        })
        .collect();
    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    let before = counter.wakes();
    nudge(&slots[2]);
    nudge(&slots[0]);
    handle.push(async { Ok(9) }).unwrap();
    let wakes = counter.wakes() - before;
    assert!((1..=3).contains(&wakes), "{wakes} wakes for 3 causes");
    // The group notices all three: two tasks park again, the pushed task completes.
    assert!(settle(&counter, || poll(&mut group, &waker)).is_pending());
    assert!(slots[0].lock().unwrap().waker.is_some());
    assert!(slots[2].lock().unwrap().waker.is_some());
    assert_eq!(group.len(), 4);
}

/// A task that wakes itself every time it is polled, `remaining` times, then finishes.
struct Spinner {
    remaining: usize,
    polls: Arc<Mutex<usize>>,
}

impl Future for Spinner {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        *self.polls.lock().unwrap() += 1;
        if self.remaining == 0 {
            return Poll::Ready(Ok(0));
        }
        self.remaining -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A self-waking task makes the group return `Pending` (having woken its own waker) after a
/// bounded number of polls of the task, instead of spinning inside one poll.
#[test]
fn a_self_waking_task_makes_the_group_yield() {
    const SPINS: usize = 1_000;
    for with_parked_sibling in [false, true] {
        let (counter, waker) = CountWaker::new();
        let polls = Arc::new(Mutex::new(0));
        let mut group = ErrGroup::new();
        group.push(Spinner {
            remaining: SPINS,
            polls: Arc::clone(&polls),
        });
        let slot = with_parked_sibling.then(|| {
            let (task, slot) = parked(1);
            group.push(task);
            slot
        });

        let mut group_polls = 0;
        loop {
            let before = *polls.lock().unwrap();
            let wakes = counter.wakes();
            let result = poll(&mut group, &waker);
            group_polls += 1;
            let task_polls = *polls.lock().unwrap() - before;
            assert!(
                task_polls <= 2,
                "the spinner was polled {task_polls} times in one poll"
            );
            match result {
                Poll::Pending if *polls.lock().unwrap() <= SPINS => {
                    assert!(
                        counter.wakes() > wakes,
                        "Pending without a wake: the group would stall"
                    );
                }
                Poll::Pending => {
                    // Only the parked sibling is left.
                    open(slot.as_ref().expect("a parked sibling"));
                }
                Poll::Ready(values) => {
                    assert_eq!(values.unwrap().len(), 1 + usize::from(with_parked_sibling));
                    break;
                }
            }
        }
        assert!(
            group_polls > SPINS / 2,
            "the group yielded only {group_polls} times"
        );
    }
}

/// A chain of tasks, each pushing the next through a handle and finishing at once, never leaves
/// the group without work; it still yields to the executor after a bounded number of results.
#[test]
fn a_chain_of_ready_tasks_pushed_through_a_handle_yields() {
    const CHAIN: u32 = if cfg!(miri) { 50 } else { 2_000 };

    fn link(
        handle: errgroup::Handle<'static, u32, ()>,
        n: u32,
        polls: Arc<Mutex<u32>>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, ()>> + Send>> {
        Box::pin(async move {
            *polls.lock().unwrap() += 1;
            if n + 1 < CHAIN {
                handle
                    .push(link(handle.clone(), n + 1, polls))
                    .map_err(|_| ())?;
            }
            Ok(n)
        })
    }

    let (counter, waker) = CountWaker::new();
    let polls = Arc::new(Mutex::new(0));
    let mut group = ErrGroup::new();
    group.push(link(group.handle(), 0, Arc::clone(&polls)));
    let mut group_polls = 0;
    let values = loop {
        let before = *polls.lock().unwrap();
        let wakes = counter.wakes();
        let result = poll(&mut group, &waker);
        group_polls += 1;
        let ran = *polls.lock().unwrap() - before;
        assert!(ran <= 4, "{ran} tasks ran in one poll of the group");
        match result {
            Poll::Pending => assert!(counter.wakes() > wakes, "Pending without a wake"),
            Poll::Ready(values) => break values.unwrap(),
        }
    };
    assert_eq!(values, (0..CHAIN).collect::<Vec<_>>());
    assert!(group_polls > 1);
}

/// Wakers that tasks handed out, used after the group finished or was dropped: no panic, and
/// neither the tasks' captures nor the caller's waker are kept alive by the group.
#[test]
fn wakers_outliving_the_group_are_harmless() {
    for ending in ["finished", "failed", "dropped"] {
        let (counter, waker) = CountWaker::new();
        let shared = Arc::new(());
        let drops = Drops::new();
        let mut group = ErrGroup::<u32, ()>::new();
        let handle = group.handle();
        let mut slots = Vec::new();
        for value in 0..4 {
            let (task, slot) = parked(value);
            let kept = Arc::clone(&shared);
            let tracked = drops.guard();
            group.push(async move {
                let _kept = kept;
                let _tracked = tracked;
                task.await
            });
            slots.push(slot);
        }
        let (last, last_slot) = parked(9);
        let fails = ending == "failed";
        group.push(async move {
            let value = last.await?;
            if fails {
                Err(())
            } else {
                Ok(value)
            }
        });
        assert_eq!(poll(&mut group, &waker), Poll::Pending);

        // Keep a clone of every waker the tasks were given.
        let kept_wakers: Vec<Waker> = slots
            .iter()
            .chain([&last_slot])
            .map(|slot| slot.lock().unwrap().waker.clone().unwrap())
            .collect();
        match ending {
            "finished" => {
                for slot in slots.iter().chain([&last_slot]) {
                    open(slot);
                }
                assert_eq!(
                    poll(&mut group, &waker),
                    Poll::Ready(Ok(vec![0, 1, 2, 3, 9]))
                );
                drop(group);
            }
            "failed" => {
                open(&last_slot);
                assert_eq!(poll(&mut group, &waker), Poll::Ready(Err(())));
                drop(group);
            }
            _ => drop(group),
        }
        assert_eq!(drops.get(), 4, "{ending}: every task was dropped");
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "{ending}: no capture kept alive"
        );

        // Stale wakers: wake by reference, by value, clone and drop, from this and other threads.
        for waker in &kept_wakers {
            waker.wake_by_ref();
        }
        std::thread::scope(|s| {
            for waker in kept_wakers.iter().cloned() {
                s.spawn(move || waker.wake());
            }
        });
        drop(kept_wakers);
        for slot in slots.iter().chain([&last_slot]) {
            slot.lock().unwrap().waker = None;
        }
        assert!(handle.push(async { Ok(0) }).is_err());
        drop(handle);
        drop(waker);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "{ending}: nothing still holds the waker the group was polled with"
        );
    }
}

/// Waits for ever, and copies the waker it was polled with to `outside` (a timer or a channel
/// that outlives the task).
struct Leak(Arc<Mutex<Option<Waker>>>);
impl Future for Leak {
    type Output = Result<(), ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        *self.0.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A waker whose `Arc` can be counted.
struct CountedWaker;
impl futures::task::ArcWake for CountedWaker {
    fn wake_by_ref(_: &Arc<Self>) {}
}

/// Regression: after the group was dropped, a waker that one of its tasks left with outside code (a timer or a
/// channel that outlives the task) keeps the *caller's* waker alive: `BitWaker` holds an
/// `Arc<Readiness>`, which holds the caller's waker in its `AtomicWaker`, and nothing took it
/// out when the group ended; it is now released when the group ends. A `FuturesUnordered` does not (its task wakers hold a `Weak` to the
/// queue that holds the parent waker).
#[test]
fn regression_a_dropped_group_does_not_keep_its_callers_waker_alive() {
    /// Polls a fresh group (or set) holding `Leak` with a countable waker, drops it (inside
    /// `run`), then counts who else still holds that waker.
    fn scenario(run: &mut dyn FnMut(&Waker)) -> usize {
        let caller = Arc::new(CountedWaker);
        let waker = futures::task::waker(Arc::clone(&caller));
        run(&waker);
        drop(waker);
        Arc::strong_count(&caller) - 1
    }

    // The outside code: a waker copied from the task before the group (or set) is dropped.
    let outside = Arc::new(Mutex::new(None::<Waker>));

    let held_by_unordered = {
        let outside = Arc::clone(&outside);
        scenario(&mut |waker| {
            let mut set = futures::stream::FuturesUnordered::new();
            set.push(Leak(Arc::clone(&outside)));
            use futures::StreamExt;
            let _ = set.poll_next_unpin(&mut Context::from_waker(waker));
        })
    };
    assert_eq!(
        held_by_unordered, 0,
        "FuturesUnordered keeps no reference to its caller's waker"
    );
    *outside.lock().unwrap() = None;

    let held_by_group = {
        let outside = Arc::clone(&outside);
        scenario(&mut |waker| {
            let mut group = ErrGroup::<(), ()>::new();
            group.push(Leak(Arc::clone(&outside)));
            let _ = Pin::new(&mut group).poll(&mut Context::from_waker(waker));
        })
    };
    assert_eq!(
        held_by_group, 0,
        "the dropped group still holds its caller's waker through the leaked task waker"
    );
}
