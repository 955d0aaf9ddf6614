//! `run_until`: the group's tasks make progress while the caller's own future runs; the results
//! that finish meanwhile are kept (completion order for `try_next`, push order for the group
//! future); a task's error fails the group at once and drops the caller's future; dropping the
//! `RunUntil` drops only that future; a producer can feed the group through a handle; panics
//! behave as under `.await`; neither side can hold the executor's thread by waking itself.

mod support;

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use errgroup::futures::RunUntil;
use errgroup::{Cause, ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use futures::future::FusedFuture;
use futures_test::task::new_count_waker;
use static_assertions::{assert_impl_all, assert_not_impl_any};

use support::{gated, poll_once, yield_times, Gate, Probe};
use support::{quiet_provoked_panics, Drops, PROVOKED};

assert_impl_all!(RunUntil<'static, ErrGroup<'static, u32, ()>, std::future::Ready<()>>: Send, Unpin);
assert_not_impl_any!(RunUntil<'static, ErrGroup<'static, u32, ()>, std::future::Ready<Rc<()>>>: Send);
assert_not_impl_any!(RunUntil<'static, LocalErrGroup<'static, u32, ()>, std::future::Ready<()>>: Send);

#[test]
fn the_tasks_make_progress_while_the_callers_future_runs() {
    // Below and above the 16 tasks a group polls as a list.
    for n in [5, 40] {
        let finished = Arc::new(AtomicUsize::new(0));
        let mut group = ErrGroup::<usize, String>::new();
        for i in 0..n {
            let finished = Arc::clone(&finished);
            group.push(async move {
                yield_times(1 + i % 4).await;
                finished.fetch_add(1, SeqCst);
                Ok(i)
            });
        }
        // The caller's own work: steps until it sees every task finished, a thousand at most.
        let seen = block_on(group.run_until(async {
            for _ in 0..1_000 {
                if finished.load(SeqCst) == n {
                    break;
                }
                yield_times(1).await;
            }
            finished.load(SeqCst)
        }));
        assert_eq!(
            seen,
            Ok(n),
            "every task finished while the caller's future ran"
        );
        assert_eq!(group.len(), 0);
        assert_eq!(block_on(group), Ok((0..n).collect::<Vec<_>>()));
    }
}

#[test]
fn kept_results_come_out_of_try_next_in_completion_order_and_of_await_in_push_order() {
    let order = [3, 1, 0, 2];
    for by_try_next in [true, false] {
        let probe = Probe::new();
        let gates = Gate::many(4);
        let mut group = ErrGroup::<usize, String>::new();
        for (id, gate) in gates.iter().enumerate() {
            group.push(gated(&probe, id, gate));
        }
        // The caller's future opens the gates one at a time, letting the group run in between.
        let opened = block_on(group.run_until(async {
            for &id in &order {
                gates[id].open();
                yield_times(2).await;
            }
        }));
        assert_eq!(opened, Ok(()));
        assert_eq!(probe.completed(), 4);
        assert_eq!(group.len(), 0, "kept results are not tasks");
        if by_try_next {
            let mut taken = vec![];
            while let Some(id) = block_on(group.try_next()).unwrap() {
                taken.push(id);
            }
            assert_eq!(taken, order, "completion order");
        } else {
            assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3]), "push order");
        }
    }
}

#[test]
fn a_tasks_error_fails_the_group_at_once_and_drops_the_callers_future() {
    for siblings in [3, 30] {
        let drops = Drops::new();
        let mut group = ErrGroup::<(), String>::new();
        let (token, handle) = (group.token(), group.handle());
        for _ in 0..siblings {
            let guard = drops.guard();
            group.push(async move {
                let _guard = guard;
                pending().await
            });
        }
        let gate = Gate::new();
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Err("inventory: 503".to_string())
        });
        let fut_guard = drops.guard();
        let fut = async move {
            let _guard = fut_guard;
            pending::<()>().await
        };
        let mut run = Box::pin(group.run_until(fut));
        assert!(poll_once(&mut run).is_pending());
        assert_eq!(drops.get(), 0);
        gate.open();
        let result = poll_once(&mut run);
        assert_eq!(result, Poll::Ready(Err("inventory: 503".to_string())));
        // Before `run` itself is dropped: the siblings and the caller's future are gone.
        assert_eq!(drops.get(), siblings + 1);
        assert!(run.is_terminated());
        drop(run);
        assert!(token.is_cancelled());
        assert_eq!(token.cause(), Some(Cause::Failed));
        assert!(
            handle.push(async { Ok(()) }).is_err(),
            "handles are refused"
        );
        assert!(group.is_terminated());
        assert_eq!(block_on(group.try_next()), Ok(None));
    }
}

#[test]
fn dropping_run_until_part_way_drops_only_the_callers_future() {
    for n in [6, 30] {
        let probe = Probe::new();
        let gates = Gate::many(n);
        let mut group = ErrGroup::<usize, String>::new();
        for (id, gate) in gates.iter().enumerate() {
            group.push(gated(&probe, id, gate));
        }
        let drops = Drops::new();
        let guard = drops.guard();
        {
            let mut run = Box::pin(group.run_until(async move {
                let _guard = guard;
                pending::<()>().await
            }));
            assert!(poll_once(&mut run).is_pending());
            // Half the tasks finish while `run` is polled, then it is dropped.
            for gate in gates.iter().step_by(2) {
                gate.open();
            }
            assert!(poll_once(&mut run).is_pending());
        }
        assert_eq!(drops.get(), 1, "the caller's future was dropped");
        assert_eq!(probe.dropped(), 0, "no task was dropped");
        assert_eq!(probe.completed(), n.div_ceil(2));
        assert!(!group.token().is_cancelled());
        for gate in &gates {
            gate.open();
        }
        assert_eq!(
            block_on(group),
            Ok((0..n).collect::<Vec<_>>()),
            "no result lost"
        );
    }
}

#[test]
fn a_producer_feeds_the_group_through_a_handle_while_run_until_drives_it() {
    let mut group = ErrGroup::<u32, String>::new();
    let handle = group.handle();
    let log = Arc::new(Mutex::new(Vec::new()));
    let producer = {
        let log = Arc::clone(&log);
        async move {
            for job in 0..5_u32 {
                let log = Arc::clone(&log);
                handle
                    .push(async move {
                        yield_times(1).await;
                        log.lock().unwrap().push(format!("job {job} done"));
                        Ok(job * 10)
                    })
                    .map_err(|e| e.to_string())?;
                yield_times(3).await; // the next job arrives a little later
            }
            log.lock().unwrap().push("producer done".to_string());
            Ok::<_, String>(5)
        }
    };
    let pushed = block_on(group.run_until(producer));
    assert_eq!(pushed, Ok(Ok(5)));
    // The jobs ran while the producer was still producing, not after it.
    let log = log.lock().unwrap().clone();
    let producer_done = log.iter().position(|e| e == "producer done").unwrap();
    assert!(producer_done >= 4, "{log:?}");
    assert_eq!(block_on(group), Ok(vec![0, 10, 20, 30, 40]));
}

#[test]
fn local_groups_run_until_too() {
    let finished = Rc::new(Cell::new(0));
    let mut group = LocalErrGroup::<u32, String>::new();
    for i in 0..3 {
        let finished = Rc::clone(&finished);
        group.push(async move {
            yield_times(2).await;
            finished.set(finished.get() + 1);
            Ok(i)
        });
    }
    let not_send = Rc::new(7);
    let seen = block_on(group.run_until(async {
        yield_times(5).await;
        (*not_send, finished.get())
    }));
    assert_eq!(seen, Ok((7, 3)));
    assert_eq!(block_on(group), Ok(vec![0, 1, 2]));

    let mut failing = LocalErrGroup::<u32, &str>::new();
    failing.push(async { Err("x") });
    assert_eq!(block_on(failing.run_until(pending::<()>())), Err("x"));
    assert!(failing.is_terminated());
}

#[test]
fn on_an_empty_or_finished_group_it_just_runs_the_future() {
    let mut empty = ErrGroup::<u32, ()>::new();
    assert_eq!(block_on(empty.run_until(ready(1))), Ok(1));
    assert_eq!(block_on(empty.run_until(yield_times(3))), Ok(()));
    assert!(!empty.is_terminated(), "an empty group stays open");
    assert!(!empty.token().is_cancelled());

    let mut failed = ErrGroup::<u32, ()>::new();
    failed.push(async { Err(()) });
    assert_eq!(block_on(failed.try_next()), Err(()));
    assert_eq!(block_on(failed.run_until(ready(2))), Ok(2));

    let mut done = ErrGroup::<u32, ()>::new();
    assert_eq!(block_on(&mut done), Ok(vec![]));
    assert_eq!(block_on(done.run_until(yield_times(2))), Ok(()));
}

/// Both sides wake themselves a million times (a thousand under Miri): every poll of the
/// `RunUntil` returns, having woken the caller, and the whole takes as many polls as the
/// longer side has steps. A `run_until` that looped inside one poll until something was ready
/// would take a handful.
#[test]
fn neither_side_keeps_the_poll_to_itself() {
    let steps = if cfg!(miri) { 1_000 } else { 1_000_000 };
    for task_first in [true, false] {
        let (fut_steps, task_steps) = if task_first {
            (steps, steps / 2)
        } else {
            (steps / 2, steps)
        };
        let mut group = ErrGroup::<usize, ()>::new();
        group.push(async move {
            yield_times(task_steps).await;
            Ok(task_steps)
        });
        let (waker, wakes) = new_count_waker();
        let mut cx = Context::from_waker(&waker);
        let mut run = Box::pin(group.run_until(yield_times(fut_steps)));
        let mut polls = 0;
        loop {
            polls += 1;
            match run.as_mut().poll(&mut cx) {
                Poll::Ready(out) => {
                    assert_eq!(out, Ok(()));
                    break;
                }
                Poll::Pending => assert!(wakes.get() >= polls, "not woken before a Pending"),
            }
        }
        assert_eq!(polls, fut_steps + 1);
        drop(run);
        if task_first {
            assert_eq!(group.len(), 0, "the task's steps all fit in the future's");
        }
    }
}

#[test]
fn a_panicking_task_unwinds_through_run_until_as_under_await() {
    quiet_provoked_panics();
    let drops = Drops::new();
    let mut group = ErrGroup::<(), String>::new();
    let token = group.token();
    let guard = drops.guard();
    group.push(async move {
        let _guard = guard;
        pending().await
    });
    group.push(async { panic!("{PROVOKED}: in a task") });
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        block_on(group.run_until(pending::<()>()))
    }));
    let payload = unwound.unwrap_err();
    assert_eq!(
        support::panic_message(&*payload),
        Some("provoked panic: in a task")
    );
    assert_eq!(drops.get(), 1, "the sibling was dropped on the way");
    assert_eq!(token.cause(), Some(Cause::Panicked));
    assert!(group.is_terminated());
}

#[cfg(feature = "std")]
#[test]
fn with_catch_panics_a_panicking_task_is_the_error() {
    use errgroup::Panicked;
    quiet_provoked_panics();
    let mut group = ErrGroup::<(), Panicked>::new().catch_panics();
    group.push(async { panic!("{PROVOKED}: caught") });
    let error = block_on(group.run_until(pending::<()>())).unwrap_err();
    assert_eq!(error.message(), "provoked panic: caught");
    assert_eq!(group.token().cause(), Some(Cause::Panicked));
}

#[test]
fn a_panic_in_the_callers_future_leaves_the_group_as_it_was() {
    quiet_provoked_panics();
    let mut group = ErrGroup::<u32, ()>::new();
    group.push(async {
        yield_times(3).await;
        Ok(1)
    });
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        block_on(group.run_until(async {
            yield_times(1).await;
            panic!("{PROVOKED}: in the caller's future")
        }))
    }));
    assert!(unwound.is_err());
    assert!(!group.is_terminated());
    assert!(!group.token().is_cancelled());
    assert_eq!(block_on(group), Ok(vec![1]));
}

#[test]
fn polled_after_it_returned_it_panics_with_a_message() {
    let mut group = ErrGroup::<u32, ()>::new();
    let mut run = group.run_until(ready(1));
    assert!(!run.is_terminated());
    assert_eq!(poll_once(&mut run), Poll::Ready(Ok(1)));
    assert!(run.is_terminated());
    let again = catch_unwind(AssertUnwindSafe(|| poll_once(&mut run)));
    assert_eq!(
        support::panic_message(&*again.unwrap_err()),
        Some("`RunUntil` polled after it completed")
    );
}

#[test]
fn debug_needs_no_bounds_on_the_future() {
    struct Opaque;
    let mut group = ErrGroup::<Opaque, Opaque>::new();
    let run = group.run_until(async { Opaque });
    let debug = format!("{run:?}");
    assert!(debug.starts_with("RunUntil { group: ErrGroup {"), "{debug}");
    assert!(debug.contains("done: false"), "{debug}");
}

/// Go starts a call at `g.Go`: the caller's own call overlaps the group's two calls instead of
/// running before them. Every call logs its start and end; all three start before any ends.
#[test]
fn the_callers_own_call_overlaps_the_groups_calls() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let call = |name: &'static str| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(format!("{name} start"));
            yield_times(5).await;
            log.lock().unwrap().push(format!("{name} end"));
            Ok::<_, String>(name)
        }
    };
    let mut group = ErrGroup::new();
    group.push(call("users"));
    group.push(call("orders"));
    let mine = block_on(group.run_until(call("mine")));
    let rest = block_on(group);
    assert_eq!(mine, Ok(Ok("mine")));
    assert_eq!(rest, Ok(vec!["users", "orders"]));
    let log = log.lock().unwrap().clone();
    let first_end = log.iter().position(|e| e.ends_with("end")).unwrap();
    assert_eq!(
        first_end, 3,
        "all three calls started before any ended: {log:?}"
    );
}
