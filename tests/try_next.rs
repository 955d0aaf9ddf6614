//! `try_next`: results in completion order, `Ok(None)` with the group still usable (a crawler
//! loop), cancel safety (a `TryNext` dropped mid-flight loses no result and drops no task), a
//! later `.await` returning only what `try_next` did not, and the group finished after an error.

mod support;

use std::future::pending;
use std::task::Poll;

use errgroup::{ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use futures::future::{self, Either, FusedFuture, FutureExt};

use support::{gated, poll_once, run_by_hand, track, yield_times, Gate, Probe};

#[test]
fn results_come_in_completion_order() {
    let probe = Probe::new();
    let gates = Gate::many(4);
    let mut group = ErrGroup::<usize, String>::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    for i in [2, 0, 3, 1] {
        assert!(poll_once(&mut group.try_next()).is_pending());
        gates[i].open();
        assert_eq!(poll_once(&mut group.try_next()), Poll::Ready(Ok(Some(i))));
    }
    assert_eq!(block_on(group.try_next()), Ok(None));
}

#[test]
fn ok_none_leaves_the_group_usable_for_a_crawler_loop() {
    // Each page links to the next two, down to depth 3: 1 + 2 + 4 + 8 pages per crawl.
    async fn page(depth: u32) -> Result<u32, String> {
        yield_times(depth as usize % 2).await;
        Ok(depth)
    }
    let mut group = ErrGroup::with_limit(3);
    let token = group.token();
    for round in 0..3 {
        group.push(page(0));
        let mut seen = 0;
        while let Some(depth) = block_on(group.try_next()).unwrap() {
            seen += 1;
            if depth < 3 {
                group.push(page(depth + 1));
                group.push(page(depth + 1));
            }
        }
        assert_eq!(seen, 15, "round {round}");
        assert!(group.is_empty());
        assert!(!token.is_cancelled(), "Ok(None) does not end the group");
        assert_eq!(block_on(group.try_next()), Ok(None), "and says so again");
    }
    assert_eq!(block_on(group), Ok(vec![]));
    assert!(token.is_cancelled());
}

#[test]
fn dropping_a_pending_try_next_loses_no_result_and_no_task() {
    let probe = Probe::new();
    let gates = Gate::many(3);
    let mut group = ErrGroup::<usize, String>::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    let mut next = group.try_next();
    assert!(poll_once(&mut next).is_pending());
    gates[1].open();
    drop(next); // the result of task 1 is ready inside, not yet taken
    assert_eq!(probe.dropped(), 0);
    assert_eq!(group.len(), 3);

    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    gates[0].open();
    gates[2].open();
    assert_eq!(block_on(group), Ok(vec![0, 2]));
    assert_eq!(probe.completed(), 3);
    assert_eq!(probe.dropped(), 0);
}

/// A `TryNext` raced against a future that often wins: it is dropped mid-flight again and again,
/// and still every result arrives exactly once and no task is dropped. With a limit of 8 the
/// group polls its tasks as a list; with 32, through a `FuturesUnordered`.
#[test]
fn try_next_in_a_select_loop_is_cancel_safe() {
    for limit in [8, 32] {
        let n = if cfg!(miri) { 20 } else { 200 };
        let probe = Probe::new();
        let mut group = LocalErrGroup::<usize, ()>::with_limit(limit);
        for i in 0..n {
            group.push(track(probe.clone(), i, async move {
                yield_times(3 + i % 5).await;
                Ok(i)
            }));
        }
        let (mut results, mut interrupted) = (Vec::new(), 0);
        block_on(async {
            loop {
                // The rival is polled first and is ready on its second poll: a `TryNext` that
                // is still pending after its first poll is dropped.
                match future::select(Box::pin(yield_times(1)), group.try_next()).await {
                    Either::Right((Ok(Some(i)), _)) => results.push(i),
                    Either::Right((Ok(None), _)) => break,
                    Either::Right((Err(()), _)) => unreachable!(),
                    Either::Left(((), _unfinished_try_next)) => interrupted += 1,
                }
            }
        });
        assert!(
            interrupted > 0,
            "limit {limit}: the race must drop some TryNext futures"
        );
        results.sort_unstable();
        assert_eq!(results, (0..n).collect::<Vec<_>>(), "limit {limit}");
        assert_eq!(probe.completed(), n, "limit {limit}");
        assert_eq!(probe.dropped(), 0, "limit {limit}");
    }
}

#[test]
fn try_next_in_select_macro_keeps_every_result() {
    let n = if cfg!(miri) { 10 } else { 100 };
    let mut group = ErrGroup::<usize, ()>::new();
    for i in 0..n {
        group.push(async move {
            yield_times(i % 7).await;
            Ok(i)
        });
    }
    let mut results = Vec::new();
    block_on(async {
        let mut ticks = 0;
        loop {
            futures::select! {
                next = group.try_next().fuse() => match next {
                    Ok(Some(i)) => results.push(i),
                    Ok(None) => break,
                    Err(()) => unreachable!(),
                },
                () = yield_times(ticks % 2).fuse() => ticks += 1,
            }
        }
    });
    results.sort_unstable();
    assert_eq!(results, (0..n).collect::<Vec<_>>());
}

#[test]
fn a_later_await_returns_only_the_results_try_next_did_not() {
    let probe = Probe::new();
    let gates = Gate::many(5);
    let mut group = ErrGroup::<usize, String>::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    gates[3].open();
    assert_eq!(block_on(group.try_next()), Ok(Some(3)));
    for gate in &gates {
        gate.open();
    }
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 4]));
}

/// The group future collects results as it runs; `try_next` hands those back first (oldest
/// first), and the final `.await` returns the rest, in push order.
#[test]
fn try_next_after_polling_the_group_returns_collected_results_first() {
    let probe = Probe::new();
    let gates = Gate::many(5);
    let mut group = ErrGroup::<usize, String>::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(gated(&probe, i, gate));
    }
    assert!(poll_once(&mut group).is_pending());
    gates[4].open();
    assert!(poll_once(&mut group).is_pending());
    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    gates[2].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(group.len(), 2, "tasks 4, 1 and 2 finished");

    assert_eq!(block_on(group.try_next()), Ok(Some(4)));
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    gates[0].open();
    gates[3].open();
    assert_eq!(block_on(group), Ok(vec![0, 2, 3]));
}

#[test]
fn after_try_next_returned_an_error_the_group_is_finished() {
    let probe = Probe::new();
    let gates = Gate::many(6);
    let mut group = ErrGroup::with_limit(3);
    for (i, gate) in gates.iter().enumerate().skip(1) {
        group.push(gated(&probe, i, gate));
    }
    group.push(async { Err("task 6 failed".to_string()) }); // waits behind the limit
    let (token, handle) = (group.token(), group.handle());
    gates[1].open();
    gates[2].open();
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert_eq!(block_on(group.try_next()), Ok(Some(2)));
    assert_eq!(group.len(), 4, "tasks 3, 4, 5 and the failing one");

    gates[5].open();
    assert_eq!(block_on(group.try_next()), Ok(Some(5)));
    assert_eq!(block_on(group.try_next()), Err("task 6 failed".to_string()));
    assert_eq!(
        probe.dropped(),
        2,
        "tasks 3 and 4, dropped before try_next returned"
    );
    assert!(token.is_cancelled());
    assert!(handle.is_closed());
    assert!(group.is_empty());
    assert!(group.is_terminated());
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert!(group.try_push(async { Ok(0) }).unwrap_err().is_closed());
    assert!(handle.push(async { Ok(0) }).unwrap_err().is_closed());
}

#[test]
#[should_panic(expected = "ErrGroup::push called on a group that has already finished")]
fn push_after_try_next_returned_an_error_panics() {
    let mut group = ErrGroup::<(), ()>::new();
    group.push(pending());
    group.push(async { Err(()) });
    assert_eq!(block_on(group.try_next()), Err(()));
    group.push(async { Ok(()) });
}

#[test]
fn try_next_returns_the_error_at_once_while_siblings_are_pending() {
    let n = if cfg!(miri) { 100 } else { 1_000 };
    let probe = Probe::new();
    let mut group = LocalErrGroup::<(), usize>::new();
    for i in 0..n - 1 {
        group.push(track(probe.clone(), i, pending()));
    }
    group.push(async move { Err(n - 1) });
    assert_eq!(run_by_hand(&mut group.try_next(), 10), Err(n - 1));
    assert_eq!(probe.dropped(), n - 1);
}

#[test]
fn try_next_receives_tasks_pushed_through_a_handle() {
    let mut group = ErrGroup::<u32, ()>::new();
    let handle = group.handle();
    assert_eq!(block_on(group.try_next()), Ok(None));
    handle.push(async { Ok(1) }).unwrap();
    assert_eq!(group.len(), 1);
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert!(!handle.is_closed(), "Ok(None) does not close the group");
}

/// `TryNext` is terminated while the group holds nothing to hand out, as `FuturesUnordered` is
/// when empty, so `futures::select!` skips an empty group; a push (direct or through a handle)
/// makes it live again, and a finished group stays terminated.
#[test]
fn try_next_is_terminated_exactly_while_the_group_holds_nothing() {
    let mut group = ErrGroup::<u32, ()>::new();
    assert!(group.try_next().is_terminated(), "a new group");
    group.push(async { Ok(1) });
    assert!(!group.try_next().is_terminated(), "after a push");
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert!(group.try_next().is_terminated(), "after its last result");
    assert!(!group.is_terminated(), "the group itself is still usable");

    let handle = group.handle();
    handle.push(async { Ok(2) }).unwrap();
    assert!(
        !group.try_next().is_terminated(),
        "a handle push not yet received"
    );
    assert_eq!(block_on(group.try_next()), Ok(Some(2)));

    // Results the group future collected before it was interrupted are still to be handed out.
    let gate = Gate::new();
    let wait = gate.wait();
    group.push(async { Ok(3) });
    group.push(async move {
        wait.await;
        Ok(4)
    });
    assert!(poll_once(&mut group).is_pending()); // collects 3, waits for 4
    assert!(!group.try_next().is_terminated());
    gate.open();
    assert_eq!(block_on(group.try_next()), Ok(Some(3)));
    assert_eq!(block_on(group.try_next()), Ok(Some(4)));
    // A handle may push: the group counts as terminated once a `try_next` has found it empty
    // (and registered its caller, whom a push then wakes), not before.
    assert!(
        !group.try_next().is_terminated(),
        "a handle may push unseen"
    );
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert!(group.try_next().is_terminated());

    group.push(async { Err(()) });
    assert_eq!(block_on(group.try_next()), Err(()));
    assert!(group.try_next().is_terminated(), "a failed group");

    let mut local = LocalErrGroup::<u32, ()>::new();
    assert!(local.try_next().is_terminated());
    local.push(async { Ok(1) });
    assert!(!local.try_next().is_terminated());
}

/// The `select!` loop a newcomer writes first: a group that starts empty receives
/// jobs from another thread, is empty again between bursts, and the loop runs every job. It
/// neither stops at the first moment the group is empty (the `None => break` trap) nor spins.
#[test]
fn a_select_loop_over_a_group_that_is_often_empty_runs_every_job() {
    use futures::channel::mpsc;
    use futures::{select, StreamExt};

    let jobs_total = if cfg!(miri) { 6 } else { 60 };
    let (jobs_tx, mut jobs) = mpsc::unbounded::<u32>();
    let producer = std::thread::spawn(move || {
        for job in 0..jobs_total {
            jobs_tx.unbounded_send(job).unwrap();
            if job % 3 == 0 {
                // Let the group run dry between bursts.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    });
    let mut group = ErrGroup::<u32, String>::new();
    let mut results = vec![];
    let mut iterations = 0;
    block_on(async {
        loop {
            iterations += 1;
            if iterations > 4 * jobs_total as usize + 10 {
                return Err(format!(
                    "spinning: {iterations} iterations, {} results",
                    results.len()
                ));
            }
            select! {
                job = jobs.next() => if let Some(job) = job {
                    group.push(async move {
                        yield_times(job as usize % 3).await;
                        Ok(job)
                    });
                },
                next = group.try_next() => if let Some(value) = next? {
                    results.push(value);
                },
                complete => break,
            }
        }
        Ok::<(), String>(())
    })
    .unwrap();
    producer.join().unwrap();
    results.sort_unstable();
    assert_eq!(results, (0..jobs_total).collect::<Vec<_>>());
    // One iteration per job received and per result, plus the closing `None` of the channel
    // and `complete`: an `Ok(None)` that looped back would spin far beyond that.
    assert!(
        iterations <= 2 * jobs_total as usize + 2,
        "{iterations} iterations for {jobs_total} jobs"
    );
}
