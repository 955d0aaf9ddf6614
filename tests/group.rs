//! The group future itself: results in push order, the first error returned at once with every
//! other task dropped before it returns (futures-rs #2866), panics unwinding into the caller,
//! dropping the group without leaks, tasks borrowing the caller's locals, and fairness towards
//! the other futures of the caller's task.

mod support;

use std::cell::{Cell, RefCell};
use std::future::{pending, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use errgroup::{ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use futures::future::{self, Either, FutureExt};

use support::{kept_wake, poll_once, run_by_hand, track, yield_times, Gate, Probe};

// ---------------------------------------------------------------------------------------------
// Results

#[test]
fn results_come_in_push_order_whatever_the_completion_order() {
    let gates = Gate::many(5);
    let mut group = ErrGroup::<usize, ()>::new();
    for (i, gate) in gates.iter().enumerate() {
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Ok(i * 10)
        });
    }
    assert!(poll_once(&mut group).is_pending());
    for i in [3, 1, 4, 0] {
        gates[i].open();
        assert!(
            poll_once(&mut group).is_pending(),
            "task 2 is still waiting"
        );
    }
    gates[2].open();
    assert_eq!(
        poll_once(&mut group),
        Poll::Ready(Ok(vec![0, 10, 20, 30, 40]))
    );
}

#[test]
fn an_empty_group_resolves_at_once_to_no_results() {
    assert_eq!(block_on(ErrGroup::<u8, ()>::new()), Ok(vec![]));
    assert_eq!(block_on(LocalErrGroup::<u8, ()>::new()), Ok(vec![]));
}

#[test]
fn a_group_of_ready_tasks_of_many_kinds_collects_everything() {
    let n = if cfg!(miri) { 50 } else { 2_000 };
    let mut group = ErrGroup::<usize, String>::new();
    for i in 0..n {
        match i % 3 {
            0 => group.push(ready(Ok(i))),
            1 => group.push(async move { Ok(i) }),
            _ => group.push(async move {
                yield_times(i % 4).await;
                Ok(i)
            }),
        }
    }
    assert_eq!(block_on(group), Ok((0..n).collect::<Vec<_>>()));
}

/// A group keeps up to 60 waiting tasks in its slab (28 on 32-bit targets) and more in a
/// `FuturesUnordered` beside it. Groups on either side of that line, and groups that cross it
/// while being polled (tasks pushing children through a handle), return every value, direct
/// pushes in push order, and finish every task without dropping one early.
#[test]
fn groups_on_both_sides_of_the_slab_keep_every_task() {
    for (direct, children) in [(1, 0), (59, 0), (60, 0), (61, 0), (90, 0), (30, 1), (20, 3)] {
        let probe = Probe::new();
        let mut group = ErrGroup::<usize, ()>::new();
        let handle = group.handle();
        for i in 0..direct {
            let (handle, child_probe) = (handle.clone(), probe.clone());
            group.push(track(probe.clone(), i, async move {
                yield_times(i % 3).await;
                kept_wake().await; // waits in a slot
                for k in 0..children {
                    let id = 1000 + 10 * i + k;
                    let child = track(child_probe.clone(), id, async move {
                        yield_times(k).await;
                        kept_wake().await;
                        Ok(id)
                    });
                    assert!(handle.push(child).is_ok(), "the group is running");
                }
                yield_times(1).await;
                Ok(i)
            }));
        }
        drop(handle);
        let case = format!("{direct} tasks with {children} children each");
        let values = run_by_hand(&mut group, 1_000).expect(&case);
        let total = direct * (1 + children);
        assert_eq!(values.len(), total, "{case}");
        assert_eq!(values[..direct], (0..direct).collect::<Vec<_>>(), "{case}");
        let mut spawned = values[direct..].to_vec();
        spawned.sort_unstable();
        let expected: Vec<usize> = (0..direct)
            .flat_map(|i| (0..children).map(move |k| 1000 + 10 * i + k))
            .collect();
        assert_eq!(spawned, expected, "{case}");
        assert_eq!(probe.completed(), total, "{case}");
        assert_eq!(probe.dropped(), 0, "{case}");
    }
}

// ---------------------------------------------------------------------------------------------
// First error wins, at once

/// futures-rs #2866: `try_join_all` over many futures did not return the error of a late one
/// while earlier ones were pending. 999 tasks that never finish, then a 1000th that fails.
#[test]
fn the_error_of_the_last_task_returns_while_all_others_are_pending() {
    let n = if cfg!(miri) { 100 } else { 1_000 };
    let probe = Probe::new();
    let mut group = ErrGroup::<(), usize>::new();
    for i in 0..n - 1 {
        group.push(track(probe.clone(), i, pending()));
    }
    group.push(track(probe.clone(), n - 1, ready(Err(n - 1))));

    assert_eq!(block_on(&mut group), Err(n - 1));
    assert_eq!(
        probe.dropped(),
        n - 1,
        "every pending sibling dropped before returning"
    );
    assert_eq!(probe.completed(), 1);
}

#[test]
fn an_error_from_the_middle_returns_while_the_others_are_pending_or_done() {
    let n = if cfg!(miri) { 60 } else { 1_000 };
    let middle = n / 2 + 1; // odd: one of the tasks that would wait
    let probe = Probe::new();
    let gate = Gate::new(); // never opened
    let mut group = ErrGroup::<usize, String>::new();
    for i in 0..n {
        let wait = gate.wait();
        group.push(track(probe.clone(), i, async move {
            if i == middle {
                yield_times(3).await;
                return Err(format!("task {i} failed"));
            }
            if i % 2 == 0 {
                return Ok(i); // some finish before the error
            }
            wait.await;
            Ok(i)
        }));
    }
    assert_eq!(
        run_by_hand(&mut group, 10),
        Err(format!("task {middle} failed"))
    );
    assert_eq!(
        probe.completed(),
        n / 2 + 1,
        "the even tasks and the failing one"
    );
    assert_eq!(
        probe.dropped(),
        n / 2 - 1,
        "every odd task except the failing one"
    );
    assert_eq!(probe.active(), 0);
}

#[test]
fn the_first_error_in_completion_order_wins_not_the_first_pushed() {
    let gates = Gate::many(3);
    let mut group = ErrGroup::<(), &str>::new();
    for (name, gate) in ["first pushed", "second pushed", "third pushed"]
        .into_iter()
        .zip(&gates)
    {
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Err(name)
        });
    }
    assert!(poll_once(&mut group).is_pending());
    gates[1].open();
    assert_eq!(poll_once(&mut group), Poll::Ready(Err("second pushed")));
    // The earlier-pushed task can no longer produce anything: it was dropped.
    gates[0].open();
    gates[2].open();
}

#[test]
fn a_later_error_does_not_replace_the_first_one() {
    let mut group = ErrGroup::<(), &str>::new();
    group.push(async {
        yield_times(1).await;
        Err("second")
    });
    group.push(async { Err("first") });
    assert_eq!(block_on(group), Err("first"));
}

// ---------------------------------------------------------------------------------------------
// Cancellation on the first error

/// Every other task, running or waiting behind the limit, is dropped before the group returns:
/// the counters are read while the group is still alive, right after it returned.
#[test]
fn on_error_running_and_waiting_tasks_are_dropped_before_the_group_returns() {
    let probe = Probe::new();
    let gates = Gate::many(10);
    let mut group = ErrGroup::<usize, usize>::with_limit(4);
    for (i, gate) in gates.iter().enumerate() {
        let wait = gate.wait();
        group.push(track(probe.clone(), i, async move {
            wait.await;
            if i == 2 {
                Err(i)
            } else {
                Ok(i)
            }
        }));
    }
    let token = group.token();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 4);

    gates[2].open();
    assert_eq!(poll_once(&mut group), Poll::Ready(Err(2)));
    assert_eq!(probe.dropped(), 9, "3 running and 6 waiting tasks");
    assert_eq!(probe.active(), 0);
    assert_eq!(probe.started(), 4, "no waiting task started");
    assert!(token.is_cancelled());
    assert!(group.is_empty());

    for gate in &gates {
        gate.open();
    }
    assert_eq!(probe.started(), 4);
}

#[test]
fn no_waiting_task_starts_after_the_first_error() {
    let probe = Probe::new();
    let mut group = ErrGroup::<(), &str>::with_limit(1);
    group.push(track(probe.clone(), 0, async { Err("boom") }));
    group.push(track(probe.clone(), 1, async { Ok(()) }));
    assert_eq!(block_on(&mut group), Err("boom"));
    assert_eq!(probe.start_order(), [0]);
    assert_eq!(probe.dropped(), 1);

    // A slot frees (task 0 succeeds) and the next one fails: the third must never start.
    let probe = Probe::new();
    let mut group = ErrGroup::<(), &str>::with_limit(1);
    group.push(track(probe.clone(), 0, async { Ok(()) }));
    group.push(track(probe.clone(), 1, async { Err("boom") }));
    group.push(track(probe.clone(), 2, async { Ok(()) }));
    assert_eq!(block_on(&mut group), Err("boom"));
    assert_eq!(probe.start_order(), [0, 1]);
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn a_task_pushed_through_a_handle_by_the_failing_task_never_starts() {
    let probe = Probe::new();
    let mut group = ErrGroup::<(), &str>::new();
    let handle = group.handle();
    let inner = probe.clone();
    group.push(async move {
        handle
            .push(track(inner, 1, async { Ok(()) }))
            .expect("the group is running");
        Err("boom")
    });
    assert_eq!(block_on(&mut group), Err("boom"));
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn a_finished_group_takes_no_more_tasks() {
    let mut group = ErrGroup::<u8, ()>::new();
    group.push(async { Ok(1) });
    assert_eq!(block_on(&mut group), Ok(vec![1]));
    let refused = group.try_push(async { Ok(2) }).unwrap_err();
    assert!(refused.is_closed());
    assert!(!refused.is_full());
    assert_eq!(block_on(refused.into_inner()), Ok(2));
}

#[test]
#[should_panic(expected = "ErrGroup::push called on a group that has already finished")]
fn push_on_a_finished_group_panics() {
    let mut group = ErrGroup::<u8, ()>::new();
    group.push(async { Ok(1) });
    assert_eq!(block_on(&mut group), Ok(vec![1]));
    group.push(async { Ok(2) });
}

#[test]
#[should_panic(expected = "LocalErrGroup::push called on a group that has already finished")]
fn push_on_a_failed_local_group_panics() {
    let mut group = LocalErrGroup::<u8, ()>::new();
    group.push(async { Err(()) });
    assert_eq!(block_on(&mut group), Err(()));
    group.push(async { Ok(2) });
}

// ---------------------------------------------------------------------------------------------
// Panics

#[derive(Debug, PartialEq)]
struct Payload(u32);

#[test]
fn a_panicking_task_unwinds_into_the_caller_with_its_payload_and_siblings_dropped() {
    let probe = Probe::new();
    let mut group = ErrGroup::<(), ()>::with_limit(3);
    for i in 0..5 {
        group.push(track(probe.clone(), i, pending()));
    }
    let shared = Arc::new(());
    let held = Arc::clone(&shared);
    group.set_limit(None);
    group.push(async move {
        let _held = held;
        yield_times(2).await;
        std::panic::panic_any(Payload(42))
    });
    let token = group.token();

    let caught = catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).unwrap_err();
    assert_eq!(caught.downcast_ref::<Payload>(), Some(&Payload(42)));
    // Read while the group is still alive: the siblings were dropped on the way out.
    assert_eq!(probe.dropped(), 5);
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "the panicking task was dropped too"
    );
    assert!(token.is_cancelled());
    assert!(group.is_empty());
    assert!(group.try_push(async { Ok(()) }).unwrap_err().is_closed());
}

#[test]
fn string_panic_messages_reach_the_caller() {
    let mut group = LocalErrGroup::<(), ()>::new();
    group.push(async { panic!("static message") });
    let caught = catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"static message"));

    let mut group = ErrGroup::<(), ()>::new();
    group.push(pending());
    let n = std::hint::black_box(7);
    group.push(async move { panic!("formatted {n}") });
    let caught = catch_unwind(AssertUnwindSafe(|| block_on(group.try_next()))).unwrap_err();
    assert_eq!(
        caught.downcast_ref::<String>().map(String::as_str),
        Some("formatted 7")
    );
}

// ---------------------------------------------------------------------------------------------
// Dropping the group

/// Tasks holding a clone of one `Arc`, tracked by a probe.
fn leak_check_tasks(
    probe: &Arc<Probe>,
    shared: &Arc<()>,
    n: usize,
    gate: &Gate,
) -> Vec<impl Future<Output = Result<(), ()>> + Send + 'static> {
    (0..n)
        .map(|i| {
            let held = Arc::clone(shared);
            let wait = gate.wait();
            track(probe.clone(), i, async move {
                let _held = held;
                wait.await;
                Ok(())
            })
        })
        .collect()
}

#[test]
fn dropping_an_unpolled_group_drops_every_task() {
    let (probe, shared, gate) = (Probe::new(), Arc::new(()), Gate::new());
    let group: ErrGroup<(), ()> = leak_check_tasks(&probe, &shared, 8, &gate)
        .into_iter()
        .collect();
    assert_eq!(Arc::strong_count(&shared), 9);
    drop(group);
    assert_eq!(probe.dropped(), 8);
    assert_eq!(probe.started(), 0);
    assert_eq!(Arc::strong_count(&shared), 1);
}

#[test]
fn dropping_a_running_group_with_waiting_tasks_drops_every_task() {
    let (probe, shared, gate) = (Probe::new(), Arc::new(()), Gate::new());
    let mut group = ErrGroup::<(), ()>::with_limit(3);
    group.extend(leak_check_tasks(&probe, &shared, 10, &gate));
    let token = group.token();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(probe.started(), 3);
    drop(group);
    assert_eq!(probe.dropped(), 10);
    assert_eq!(probe.active(), 0);
    assert_eq!(Arc::strong_count(&shared), 1);
    assert!(token.is_cancelled());
}

#[test]
fn dropping_the_group_drops_tasks_still_in_the_handle_inbox() {
    let (probe, shared, gate) = (Probe::new(), Arc::new(()), Gate::new());
    let mut group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    let mut tasks = leak_check_tasks(&probe, &shared, 6, &gate).into_iter();
    group.push(tasks.next().unwrap());
    assert!(poll_once(&mut group).is_pending());
    for task in tasks {
        handle.push(task).expect("the group is alive");
    }
    assert_eq!(group.len(), 6);
    drop(group);
    assert_eq!(probe.dropped(), 6);
    assert_eq!(probe.started(), 1);
    assert_eq!(Arc::strong_count(&shared), 1);
    assert!(handle.is_closed());
}

#[test]
fn a_task_holding_a_handle_and_token_of_its_own_group_does_not_leak_it() {
    let shared = Arc::new(());
    let mut group = LocalErrGroup::<(), ()>::new();
    let (handle, token) = (group.handle(), group.token());
    let held = Arc::clone(&shared);
    group.push(async move {
        let _held = (held, handle, token);
        pending().await
    });
    assert!(poll_once(&mut group).is_pending());
    drop(group);
    assert_eq!(Arc::strong_count(&shared), 1);
}

#[test]
fn a_finished_group_holds_nothing() {
    let shared = Arc::new(());
    let mut group = ErrGroup::<usize, ()>::new();
    for _ in 0..4 {
        let held = Arc::clone(&shared);
        group.push(async move { Ok(Arc::strong_count(&held)) });
    }
    assert!(block_on(&mut group).is_ok());
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "before the group itself is dropped"
    );
}

// ---------------------------------------------------------------------------------------------
// Borrowing

#[test]
fn tasks_borrow_the_callers_locals() {
    let names = vec![
        "users".to_string(),
        "orders".to_string(),
        "cart".to_string(),
    ];
    let calls = AtomicUsize::new(0);
    let mut group = ErrGroup::<&str, String>::new();
    for name in &names {
        let calls = &calls;
        group.push(async move {
            calls.fetch_add(1, SeqCst);
            yield_times(1).await;
            Ok(name.as_str())
        });
    }
    let found: Vec<&str> = block_on(group).unwrap();
    assert_eq!(found, ["users", "orders", "cart"]);
    assert_eq!(calls.load(SeqCst), 3);

    // Not `Send`: a local group may share `Cell`s and `RefCell`s by reference.
    let count = Cell::new(0);
    let log = RefCell::new(Vec::new());
    let mut group = LocalErrGroup::<(), ()>::new();
    for i in 0..3 {
        let (count, log) = (&count, &log);
        group.push(async move {
            count.set(count.get() + 1);
            log.borrow_mut().push(i);
            Ok(())
        });
    }
    assert_eq!(block_on(group), Ok(vec![(), (), ()]));
    assert_eq!(count.get(), 3);
    assert_eq!(*log.borrow(), [0, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Fairness

/// Wakes itself on every poll and never finishes; panics if polled `limit` times, which only a
/// group that spins instead of yielding would do before its sibling completes.
struct WakesItselfForever {
    polls: usize,
    limit: usize,
}

impl Future for WakesItselfForever {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        assert!(
            self.polls < self.limit,
            "the group kept polling a self-waking task instead of yielding"
        );
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn spinner() -> WakesItselfForever {
    WakesItselfForever {
        polls: 0,
        limit: 1_000,
    }
}

#[test]
fn a_self_waking_task_does_not_starve_a_sibling_in_select() {
    let mut group = ErrGroup::<(), ()>::new();
    group.push(spinner());
    group.push(pending());
    let sibling = async {
        yield_times(5).await;
        "sibling done"
    };
    match block_on(future::select(&mut group, Box::pin(sibling))) {
        Either::Right((out, _)) => assert_eq!(out, "sibling done"),
        Either::Left((out, _)) => panic!("the group cannot finish: {out:?}"),
    }
}

#[test]
fn a_self_waking_task_does_not_starve_a_sibling_in_select_macro() {
    let mut group = LocalErrGroup::<(), ()>::new();
    group.push(spinner());
    group.push(async {
        yield_times(3).await;
        Ok(())
    });
    let out = block_on(async {
        let sibling = yield_times(10).fuse();
        futures::pin_mut!(sibling);
        loop {
            futures::select! {
                r = group.try_next().fuse() => assert_eq!(r, Ok(Some(()))),
                () = sibling => break "sibling done",
            }
        }
    });
    assert_eq!(out, "sibling done");
}

/// Tasks that wake themselves on every poll (without keeping their waker): one poll of the
/// group polls each of them exactly once, none skipped, none twice, however many there are:
/// such tasks never take a slot, so none of them ends up in the set beside the slab.
#[test]
fn one_poll_of_the_group_polls_each_task_exactly_once() {
    for n in [1, 5, 59, 60, 61, 70, 200] {
        let counters: Vec<Arc<AtomicUsize>> = (0..n).map(|_| Arc::default()).collect();
        let mut group = ErrGroup::<(), ()>::new();
        for counter in &counters {
            group.push(support::CountsPolls(Arc::clone(counter)));
        }
        let polls = || -> Vec<usize> { counters.iter().map(|c| c.load(SeqCst)).collect() };
        for round in 1..=3 {
            let before = polls();
            assert!(poll_once(&mut group).is_pending());
            let once: Vec<usize> = before.iter().map(|b| b + 1).collect();
            assert_eq!(polls(), once, "{n} tasks, poll {round}");
        }
    }
}

#[test]
fn the_group_yields_to_the_executor_after_one_pass() {
    let (waker, wakes) = futures_test::task::new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut group = ErrGroup::<(), ()>::new();
    group.push(spinner());
    for _ in 0..3 {
        let before = wakes.get();
        assert!(Pin::new(&mut group).poll(&mut cx).is_pending());
        assert!(
            wakes.get() > before,
            "woken to be polled again, not spinning"
        );
    }
}

/// Regression (found by the model test): a new task could start before a task pushed earlier
/// that waited, not yet polled, in the set beyond the slab. The set ends a call once two of its
/// tasks woke themselves, before polling the rest (and a pass calls it at most twice); if a
/// slot freed up meanwhile, a task pushed later took it and started first. Due tasks now join the set behind its unpolled ones.
#[test]
fn regression_a_new_task_does_not_start_before_an_earlier_one_waiting_in_the_set() {
    const SLOTS: usize = usize::BITS as usize - 4;
    let probe = Probe::new();
    let gates = Gate::many(SLOTS);
    let mut group = ErrGroup::<usize, ()>::new();
    for (id, gate) in gates.iter().enumerate() {
        group.push(support::gated(&probe, id, gate)); // every slot taken
    }
    for id in SLOTS..SLOTS + 4 {
        // Tasks that keep yielding: the set ends each call after two of them, and the pass
        // calls it twice.
        let counter = Arc::new(AtomicUsize::new(0));
        group.push(track(probe.clone(), id, async move {
            support::CountsPolls(counter).await?;
            Ok(id)
        }));
    }
    let earlier = SLOTS + 4;
    group.push(track(probe.clone(), earlier, async move { Ok(earlier) }));
    assert!(poll_once(&mut group).is_pending());
    gates[0].open(); // a slot frees up in the next pass
    let later = SLOTS + 5;
    group.push(track(probe.clone(), later, async move { Ok(later) }));
    for _ in 0..4 {
        let _ = poll_once(&mut group);
    }
    let order = probe.start_order();
    let at = |id: usize| order.iter().position(|&started| started == id);
    assert!(at(earlier).is_some() && at(later).is_some(), "{order:?}");
    assert!(at(earlier) < at(later), "started in this order: {order:?}");
}
