//! Memory follows the group: with a counting global allocator, a group that went through a
//! burst of tasks gives the burst's memory back, and costs no more per pass afterwards than a
//! group that never saw one.
//!
//! The allocator counts every thread's allocations, so the tests take turns (`LOCK`), and each
//! measurement is taken three times and the smallest kept: the test harness allocates on its
//! own thread now and then (when the other test ends), which must not count as the group's.

use std::alloc::System;
use std::future::ready;
use std::sync::Mutex;

use errgroup::ErrGroup;
use futures::executor::block_on;
use futures_lite::future::yield_now;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static LOCK: Mutex<()> = Mutex::new(());

const BURST: usize = if cfg!(miri) { 2_000 } else { 200_000 };

/// Bytes requested from the allocator while `f` runs (new allocations and growth).
fn bytes_requested(f: impl FnOnce()) -> usize {
    let region = Region::new(GLOBAL);
    f();
    // Growth by `realloc` counts into `bytes_allocated`, shrinking into `bytes_deallocated`.
    region.change().bytes_allocated
}

/// Bytes still held after `f` that were not held before it.
fn bytes_kept<R>(f: impl FnOnce() -> R) -> (R, isize) {
    let region = Region::new(GLOBAL);
    let result = f();
    let change = region.change();
    let kept = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    (result, kept)
}

/// The smallest of three measurements.
fn least_of_three<N: Ord>(mut measure: impl FnMut() -> N) -> N {
    (0..3).map(|_| measure()).min().expect("three measurements")
}

/// Drains `group` with `try_next` until it is empty; the number of values.
fn drain(group: &mut ErrGroup<'_, usize, ()>) -> usize {
    block_on(async {
        let mut count = 0;
        while group.try_next().await.unwrap().is_some() {
            count += 1;
        }
        count
    })
}

/// A task that yields `times` times, then returns `Ok(0)`.
async fn yielding(times: usize) -> Result<usize, ()> {
    for _ in 0..times {
        yield_now().await;
    }
    Ok(0)
}

/// Regression: after a burst of ready tasks, every pass in which a task yielded allocated (and
/// freed) a buffer the size of the burst: the queue of yielded tasks was reserved at the size of
/// the queue the burst had gone through. A yield after a burst now costs what it costs in a new
/// group.
#[test]
fn regression_a_yield_after_a_burst_allocates_no_more_than_in_a_new_group() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let yields = 20;
    let mut fresh = ErrGroup::<usize, ()>::new();
    fresh.push(yielding(1));
    drain(&mut fresh);
    let in_fresh = least_of_three(|| {
        bytes_requested(|| {
            fresh.push(yielding(yields));
            assert_eq!(drain(&mut fresh), 1);
        })
    });

    let mut burst = ErrGroup::<usize, ()>::new();
    for i in 0..BURST {
        burst.push(ready(Ok(i)));
    }
    assert_eq!(drain(&mut burst), BURST);
    let after_burst = least_of_three(|| {
        bytes_requested(|| {
            burst.push(yielding(yields));
            assert_eq!(drain(&mut burst), 1);
        })
    });
    assert!(
        after_burst <= in_fresh + 1024,
        "{yields} yields took {after_burst} bytes after a burst of {BURST} tasks, {in_fresh} in a \
         new group"
    );
}

/// Regression: the queue of tasks waiting behind the limit never shrank, so a group that had
/// run a million tasks behind `with_limit(4)` held 24 MiB for the rest of its life. Once a burst
/// has drained, the group keeps next to nothing, whichever queue it went through.
#[test]
fn regression_a_drained_burst_leaves_no_memory_behind() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for limit in [Some(4), None] {
        let kept = least_of_three(|| {
            let (group, kept) = bytes_kept(|| {
                let mut group = match limit {
                    Some(limit) => ErrGroup::<usize, ()>::with_limit(limit),
                    None => ErrGroup::new(),
                };
                for _ in 0..BURST {
                    group.push(yielding(1));
                }
                assert_eq!(drain(&mut group), BURST);
                group
            });
            drop(group);
            kept
        });
        assert!(
            kept <= 4096,
            "limit {limit:?}: {kept} bytes still held after {BURST} tasks drained"
        );
    }
}

/// Regression (found by review): a page that filled up, lost one task and filled up again put
/// its number on the list of pages with a free slot every time, so a steady group (the group's
/// slots and one page full, one page task finishing and another taking its place) grew that
/// list by a word per task, for ever.
#[test]
fn regression_a_full_page_that_churns_keeps_no_memory() {
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    const SLOTS: usize = usize::BITS as usize - 4;
    const CYCLES: usize = if cfg!(miri) { 600 } else { 20_000 };
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());

    /// Whether the test finished the task, and the waker the task keeps.
    type Job = Arc<(AtomicBool, Mutex<Option<Waker>>)>;

    /// A task that keeps its waker until the test finishes it.
    fn job() -> (Job, impl Future<Output = Result<usize, ()>>) {
        let state = Arc::new((AtomicBool::new(false), Mutex::new(None::<Waker>)));
        let shared = Arc::clone(&state);
        let task = std::future::poll_fn(move |cx: &mut Context<'_>| {
            if shared.0.load(SeqCst) {
                return Poll::Ready(Ok(0));
            }
            *shared.1.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        });
        (state, task)
    }
    fn finish(state: &(AtomicBool, Mutex<Option<Waker>>)) {
        state.0.store(true, SeqCst);
        if let Some(waker) = state.1.lock().unwrap().take() {
            waker.wake();
        }
    }

    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut group = ErrGroup::<usize, ()>::new();
    let mut jobs = std::collections::VecDeque::new();
    for _ in 0..2 * SLOTS {
        let (state, task) = job();
        jobs.push_back(state);
        group.push(task);
    }
    // Takes every result there is (the group future would keep them all), until it waits.
    let mut poll = |group: &mut ErrGroup<'_, usize, ()>| loop {
        match std::pin::Pin::new(&mut group.try_next()).poll(&mut cx) {
            Poll::Ready(Ok(Some(_))) => continue,
            Poll::Pending => break,
            other => panic!("{other:?}"),
        }
    };
    poll(&mut group);
    let mut cycle = |group: &mut ErrGroup<'_, usize, ()>| {
        // The oldest page task finishes; a new one takes its slot.
        finish(&jobs.remove(SLOTS).unwrap());
        poll(group);
        let (state, task) = job();
        jobs.push_back(state);
        group.push(task);
        poll(group);
    };
    for _ in 0..100 {
        cycle(&mut group); // warm-up
    }
    let ((), kept) = bytes_kept(|| (0..CYCLES).for_each(|_| cycle(&mut group)));
    assert_eq!(group.len(), 2 * SLOTS);
    assert!(
        kept < 4096,
        "{kept} bytes kept by {CYCLES} cycles of a steady group"
    );
}
