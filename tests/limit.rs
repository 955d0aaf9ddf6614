//! The concurrency limit: never more than `n` tasks polled at once, waiting tasks start in FIFO
//! order and all of them run (Go's `TestGoLimit`); `with_limit(0)` and `set_limit(Some(0))` panic
//! with one message; `set_limit` raises,
//! lowers and removes the limit; `try_push` hands the task back when full (Go's `TestTryGo`).

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

use errgroup::{ErrGroup, LocalErrGroup};
use futures::executor::block_on;

use support::{gated, poll_once, track, yield_times, Gate, Probe};

/// Go's `TestGoLimit`: 1025 tasks under a limit of 10. The active count (up at a task's first
/// poll, down when it completes) never exceeds the limit and reaches it; every task runs, and
/// they start in push order.
#[test]
fn go_limit_active_tasks_never_exceed_the_limit_and_reach_it() {
    const LIMIT: usize = 10;
    let n = if cfg!(miri) { 65 } else { 1025 };
    let probe = Probe::new();
    let mut group = ErrGroup::<usize, ()>::with_limit(LIMIT);
    for i in 0..n {
        group.push(track(probe.clone(), i, async move {
            yield_times(1 + i % 4).await; // overlap, and finish out of order
            Ok(i)
        }));
    }
    assert_eq!(group.len(), n);
    assert_eq!(block_on(group), Ok((0..n).collect::<Vec<_>>()));
    assert_eq!(probe.max_active(), LIMIT);
    assert_eq!(probe.completed(), n);
    assert_eq!(probe.start_order(), (0..n).collect::<Vec<_>>(), "FIFO");
}

#[test]
fn go_limit_on_a_local_group() {
    const LIMIT: usize = 10;
    let n = if cfg!(miri) { 65 } else { 1025 };
    let probe = Probe::new();
    let mut group = LocalErrGroup::<usize, ()>::with_limit(LIMIT);
    for i in 0..n {
        group.push(track(probe.clone(), i, async move {
            yield_times(1 + i % 3).await;
            Ok(i)
        }));
    }
    assert_eq!(block_on(group).map(|v| v.len()), Ok(n));
    assert_eq!(probe.max_active(), LIMIT);
    assert_eq!(probe.start_order(), (0..n).collect::<Vec<_>>());
}

#[test]
fn waiting_tasks_are_not_polled_and_start_in_fifo_order_as_slots_free() {
    let probe = Probe::new();
    let gates = Gate::many(6);
    let mut group = ErrGroup::<usize, ()>::with_limit(2);
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), [0, 1]);

    gates[5].open(); // a waiting task's gate: nothing changes
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), [0, 1]);

    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        probe.start_order(),
        [0, 1, 2],
        "one slot, the oldest waiting task"
    );
    assert_eq!(probe.active(), 2);

    gates[0].open();
    gates[2].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), [0, 1, 2, 3, 4]);
    assert_eq!(probe.completed(), 3);

    gates[3].open();
    gates[4].open();
    assert_eq!(
        poll_once(&mut group),
        Poll::Ready(Ok(vec![0, 1, 2, 3, 4, 5]))
    );
    assert_eq!(probe.max_active(), 2);
}

/// The message a zero limit panics with, from `with_limit(0)` and `set_limit(Some(0))` alike.
fn zero_limit_message(name: &str) -> String {
    format!(
        "{name}: the concurrency limit must be at least 1 \
         (a limit of 0 would never start a task; `None` means no limit)"
    )
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_zero_limit_panics_with_one_message_and_never_means_no_limit() {
    let with_limit = catch_unwind(|| drop(ErrGroup::<(), ()>::with_limit(0)));
    assert_eq!(
        panic_text(with_limit.unwrap_err()),
        zero_limit_message("ErrGroup")
    );
    let with_limit = catch_unwind(|| drop(LocalErrGroup::<(), ()>::with_limit(0)));
    assert_eq!(
        panic_text(with_limit.unwrap_err()),
        zero_limit_message("LocalErrGroup")
    );

    // `set_limit(Some(0))`: the same message, and the limit is left as it was.
    let mut group = ErrGroup::<(), ()>::with_limit(3);
    let set = catch_unwind(AssertUnwindSafe(|| group.set_limit(Some(0))));
    assert_eq!(panic_text(set.unwrap_err()), zero_limit_message("ErrGroup"));
    assert_eq!(group.limit(), Some(3));
    let mut group = LocalErrGroup::<(), ()>::new();
    let set = catch_unwind(AssertUnwindSafe(|| group.set_limit(Some(0))));
    assert_eq!(
        panic_text(set.unwrap_err()),
        zero_limit_message("LocalErrGroup")
    );
    assert_eq!(
        group.limit(),
        None,
        "a refused zero limit does not become a limit either"
    );
}

#[test]
fn raising_the_limit_starts_waiting_tasks() {
    let probe = Probe::new();
    let gates = Gate::many(8);
    let mut group = ErrGroup::<usize, ()>::with_limit(2);
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 2);

    group.set_limit(Some(5));
    assert_eq!(group.limit(), Some(5));
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), [0, 1, 2, 3, 4]);

    group.set_limit(None);
    assert_eq!(group.limit(), None);
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), (0..8).collect::<Vec<_>>());

    for gate in &gates {
        gate.open();
    }
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok((0..8).collect())));
}

#[test]
fn lowering_the_limit_lets_running_tasks_finish_but_starts_none_beyond_it() {
    let probe = Probe::new();
    let gates = Gate::many(8);
    let mut group = ErrGroup::<usize, ()>::with_limit(4);
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 4);

    group.set_limit(Some(2));
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.active(), 4, "running tasks are not stopped");
    assert_eq!(probe.dropped(), 0);

    gates[0].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!((probe.active(), probe.started()), (3, 4));
    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        (probe.active(), probe.started()),
        (2, 4),
        "2 running: at the new limit"
    );
    gates[2].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        (probe.active(), probe.started()),
        (2, 5),
        "below it: the oldest waiting task"
    );
    assert_eq!(probe.start_order(), [0, 1, 2, 3, 4]);

    for gate in &gates {
        gate.open();
    }
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok((0..8).collect())));
    assert_eq!(probe.completed(), 8);
}

#[test]
fn removing_the_limit_starts_every_waiting_task() {
    let probe = Probe::new();
    let gate = Gate::new();
    let mut group = LocalErrGroup::<usize, ()>::with_limit(1);
    for i in 0..10 {
        group.push(gated(&probe, i, &gate));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 1);
    group.set_limit(None);
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 10);
    gate.open();
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok((0..10).collect())));
}

/// Go's `TestTryGo`: at the limit the task comes back, untouched and still usable; once a task
/// has finished there is room again.
#[test]
fn try_push_hands_the_task_back_at_the_limit_and_succeeds_once_a_task_finished() {
    let probe = Probe::new();
    let gates = Gate::many(3);
    let mut group = ErrGroup::<usize, ()>::with_limit(2);
    assert!(group.try_push(gated(&probe, 0, &gates[0])).is_ok());
    assert!(group.try_push(gated(&probe, 1, &gates[1])).is_ok());

    let refused = group.try_push(gated(&probe, 2, &gates[2])).unwrap_err();
    assert!(refused.is_full());
    assert!(!refused.is_closed());
    assert_eq!(group.len(), 2);
    let task = refused.into_inner();
    assert_eq!(probe.started(), 0, "the refused task was never polled");

    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.start_order(), [0, 1]);
    let task = group.try_push(task).unwrap_err().into_inner();

    gates[1].open();
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert!(group.try_push(task).is_ok(), "a slot is free again");
    assert!(group
        .try_push(gated(&probe, 3, &gates[2]))
        .unwrap_err()
        .is_full());

    gates[0].open();
    gates[2].open();
    assert_eq!(block_on(group), Ok(vec![0, 2]));
    assert_eq!(probe.max_active(), 2);
}

#[test]
fn a_task_refused_by_try_push_still_runs_elsewhere() {
    let probe = Probe::new();
    let mut group = LocalErrGroup::<usize, ()>::with_limit(1);
    group.push(std::future::pending());
    let task = group
        .try_push(track(probe.clone(), 7, async { Ok(7) }))
        .unwrap_err()
        .into_inner();
    assert_eq!(block_on(task), Ok(7));
    assert_eq!((probe.started(), probe.completed()), (1, 1));
}

#[test]
fn try_push_without_a_limit_always_succeeds() {
    let mut group = ErrGroup::<usize, ()>::new();
    for i in 0..100 {
        assert!(group.try_push(async move { Ok(i) }).is_ok());
    }
    assert_eq!(block_on(group), Ok((0..100).collect()));
}

#[test]
fn try_push_on_a_finished_group_is_closed() {
    let mut group = ErrGroup::<usize, ()>::with_limit(1);
    group.push(async { Ok(1) });
    assert_eq!(block_on(&mut group), Ok(vec![1]));
    let refused = group.try_push(async { Ok(2) }).unwrap_err();
    assert!(refused.is_closed());
    assert!(!refused.is_full());
    assert_eq!(block_on(refused.into_inner()), Ok(2));

    let mut group = LocalErrGroup::<usize, ()>::new();
    group.push(async { Err(()) });
    assert_eq!(block_on(group.try_next()), Err(()));
    assert!(group.try_push(async { Ok(2) }).unwrap_err().is_closed());
}

/// Tasks handed in through a handle (here from another thread) wait behind the limit like any
/// other, and start in arrival order.
#[test]
fn handle_pushes_respect_the_limit_and_start_in_arrival_order() {
    let n = if cfg!(miri) { 12 } else { 100 };
    let probe = Probe::new();
    let group = ErrGroup::<usize, ()>::with_limit(3);
    let handle = group.handle();
    let pusher = probe.clone();
    std::thread::spawn(move || {
        for i in 0..n {
            let task = track(pusher.clone(), i, async move {
                yield_times(1 + i % 3).await;
                Ok(i)
            });
            handle.push(task).expect("the group is alive");
        }
    })
    .join()
    .unwrap();
    assert_eq!(group.len(), n);
    assert_eq!(probe.started(), 0, "nothing runs until the group is polled");
    assert_eq!(block_on(group), Ok((0..n).collect::<Vec<_>>()));
    assert_eq!(probe.max_active(), 3);
    assert_eq!(probe.start_order(), (0..n).collect::<Vec<_>>());
}
