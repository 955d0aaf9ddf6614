//! `Handle` and `LocalHandle`: pushing into a group from inside its own tasks (recursive fan-out
//! under a limit), from other tasks and threads; pushed tasks respect the limit and take their
//! place in the result order when received; a push after the group finished, failed or was
//! dropped hands the task back unpolled; a push that returned `Ok` always runs, even when the
//! group finishes at the same moment on another thread (many rounds, two executors); accepted
//! tasks are run or dropped exactly once when the group fails or is dropped meanwhile; dropping
//! the group drops the tasks waiting in its inbox, and a task holding a handle to its own group
//! keeps nothing alive.

mod support;

use std::fmt;
use std::future::{pending, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::thread;

use errgroup::{ErrGroup, Handle, LocalErrGroup, LocalHandle, PushError};
use futures::executor::block_on;
use futures::future::{BoxFuture, FutureExt, LocalBoxFuture};
use static_assertions::{assert_impl_all, assert_not_impl_any};

use support::{poll_once, track, yield_times, Gate, Probe};

assert_impl_all!(Handle<'static, u32, String>: Clone, Send, Sync, Unpin, fmt::Debug);
assert_impl_all!(Handle<'static, Rc<u32>, Rc<String>>: Clone, Send, Sync);
// A `LocalHandle` takes tasks that are not `Send`, so it must stay on the group's thread.
assert_impl_all!(LocalHandle<'static, u32, String>: Clone, Unpin, fmt::Debug);
assert_not_impl_any!(LocalHandle<'static, u32, String>: Send, Sync);

/// A multi-thread tokio runtime with two workers.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// A task pushed through a handle: it records that it ran and returns its id; its drop is
/// counted in its own slot of `drops`, so a task dropped twice or never is visible.
struct Job {
    id: usize,
    ran: Arc<AtomicUsize>,
    drops: Arc<Vec<AtomicUsize>>,
    polled: bool,
}

impl Job {
    fn new(id: usize, ran: &Arc<AtomicUsize>, drops: &Arc<Vec<AtomicUsize>>) -> Self {
        Job {
            id,
            ran: Arc::clone(ran),
            drops: Arc::clone(drops),
            polled: false,
        }
    }
}

impl Future for Job {
    type Output = Result<usize, ()>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.polled, "job {} polled twice", self.id);
        self.polled = true;
        self.ran.fetch_add(1, SeqCst);
        Poll::Ready(Ok(self.id))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

fn drop_slots(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

// ---------------------------------------------------------------------------------------------
// Pushing from inside the group's own tasks

const FAN_OUT: usize = 3;
const DEPTH: usize = 3;
/// 1 + 3 + 9 + 27.
const FAN_OUT_TASKS: usize = 40;

/// Visits node `id` of a complete tree: yields, pushes its children through the handle, yields,
/// and returns its id. Children of `id` are `3 * id + 1 ..= 3 * id + 3`.
fn visit(
    handle: Handle<'static, usize, String>,
    probe: Arc<Probe>,
    id: usize,
    depth: usize,
) -> BoxFuture<'static, Result<usize, String>> {
    let tracked_probe = Arc::clone(&probe);
    track(tracked_probe, id, async move {
        yield_times(1).await;
        if depth < DEPTH {
            for k in 1..=FAN_OUT {
                let child = visit(
                    handle.clone(),
                    Arc::clone(&probe),
                    FAN_OUT * id + k,
                    depth + 1,
                );
                handle.push(child).map_err(|e| e.to_string())?;
            }
        }
        yield_times(1).await;
        Ok(id)
    })
    .boxed()
}

/// Runs the recursive fan-out with `limit` and checks the results and the limit.
fn check_recursive_fan_out(
    limit: usize,
    run: impl FnOnce(ErrGroup<'static, usize, String>) -> Result<Vec<usize>, String>,
) {
    let probe = Probe::new();
    let mut group = ErrGroup::with_limit(limit);
    group.push(visit(group.handle(), Arc::clone(&probe), 0, 0));
    let mut out = run(group).unwrap();
    assert_eq!(out.len(), FAN_OUT_TASKS);
    out.sort_unstable();
    assert_eq!(out, (0..FAN_OUT_TASKS).collect::<Vec<_>>());
    assert_eq!(probe.completed(), FAN_OUT_TASKS);
    assert!(
        probe.max_active() <= limit,
        "limit {limit} exceeded: {}",
        probe.max_active()
    );
    assert_eq!(
        probe.max_active(),
        limit,
        "the fan-out should fill the limit"
    );
}

#[test]
fn recursive_fan_out_depth_3_by_3_gives_40_results_within_the_limit() {
    for limit in [1, 4] {
        check_recursive_fan_out(limit, block_on);
    }
}

#[test]
fn recursive_fan_out_on_tokio_multi_thread() {
    let rt = tokio_rt();
    check_recursive_fan_out(4, |group| {
        rt.block_on(async move { tokio::spawn(group).await.unwrap() })
    });
}

#[test]
fn recursive_fan_out_with_try_next() {
    let probe = Probe::new();
    let mut group = ErrGroup::with_limit(2);
    group.push(visit(group.handle(), Arc::clone(&probe), 0, 0));
    let mut seen = block_on(async {
        let mut seen = vec![];
        while let Some(id) = group.try_next().await? {
            seen.push(id);
        }
        Ok::<_, String>(seen)
    })
    .unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..FAN_OUT_TASKS).collect::<Vec<_>>());
    assert!(probe.max_active() <= 2);
}

#[test]
fn local_recursive_fan_out_gives_40_results() {
    fn visit_local(
        handle: LocalHandle<'static, usize, ()>,
        active: Rc<(AtomicUsize, AtomicUsize)>,
        id: usize,
        depth: usize,
    ) -> LocalBoxFuture<'static, Result<usize, ()>> {
        async move {
            let now = active.0.fetch_add(1, SeqCst) + 1;
            active.1.fetch_max(now, SeqCst);
            yield_times(1).await;
            if depth < DEPTH {
                for k in 1..=FAN_OUT {
                    let child = visit_local(
                        handle.clone(),
                        Rc::clone(&active),
                        FAN_OUT * id + k,
                        depth + 1,
                    );
                    handle.push(child).map_err(drop)?;
                }
            }
            yield_times(1).await;
            active.0.fetch_sub(1, SeqCst);
            Ok(id)
        }
        .boxed_local()
    }

    // (active now, most active at once); an `Rc` so the tasks are not `Send`.
    let active = Rc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let mut group = LocalErrGroup::with_limit(3);
    group.push(visit_local(group.handle(), Rc::clone(&active), 0, 0));
    let mut out = block_on(group).unwrap();
    out.sort_unstable();
    assert_eq!(out, (0..FAN_OUT_TASKS).collect::<Vec<_>>());
    assert_eq!(
        active.1.load(SeqCst),
        3,
        "the limit is filled and never exceeded"
    );
}

// ---------------------------------------------------------------------------------------------
// Result order and the limit

#[test]
fn a_pushed_task_takes_its_place_in_result_order_when_received() {
    let mut group = ErrGroup::<&str, ()>::with_limit(1);
    let handle = group.handle();
    group.push(async move {
        handle.push(async { Ok("pushed by a") }).unwrap();
        yield_times(1).await;
        Ok("a")
    });
    group.push(async { Ok("b") });
    // "b" was pushed before the group received a's push.
    assert_eq!(block_on(group), Ok(vec!["a", "b", "pushed by a"]));
}

#[test]
fn a_handle_push_before_the_first_poll_is_received_after_direct_pushes() {
    let mut group = ErrGroup::<&str, ()>::new();
    group
        .handle()
        .push(async { Ok("through the handle") })
        .unwrap();
    group.push(async { Ok("direct") });
    assert_eq!(group.len(), 2, "len counts tasks waiting in the inbox");
    assert_eq!(block_on(group), Ok(vec!["direct", "through the handle"]));
}

#[test]
fn pushes_from_another_thread_keep_their_arrival_order_and_respect_the_limit() {
    const PUSHES: usize = 100;
    let probe = Probe::new();
    let mut group = ErrGroup::<usize, ()>::with_limit(3);
    let gate = Gate::new();
    let wait = gate.wait();
    group.push(async move {
        wait.await;
        Ok(0)
    });
    let handle = group.handle();
    let pushing_probe = Arc::clone(&probe);
    let opener = gate.clone();
    let pusher = thread::spawn(move || {
        for i in 1..=PUSHES {
            let task = track(Arc::clone(&pushing_probe), i, async move {
                yield_times(2).await;
                Ok(i)
            });
            handle.push(task).unwrap();
        }
        opener.open();
    });
    let out = block_on(group).unwrap();
    pusher.join().unwrap();
    assert_eq!(out, (0..=PUSHES).collect::<Vec<_>>());
    assert_eq!(probe.completed(), PUSHES);
    assert!(
        probe.max_active() <= 3,
        "limit exceeded: {}",
        probe.max_active()
    );
}

#[test]
fn pushes_from_tokio_tasks_while_the_group_runs_on_tokio() {
    const TASKS: usize = 4;
    const PUSHES: usize = 50;
    let rt = tokio_rt();
    let probe = Probe::new();
    let mut group = ErrGroup::<usize, ()>::with_limit(2);
    let gate = Gate::new();
    let wait = gate.wait();
    group.push(async move {
        wait.await;
        Ok(usize::MAX)
    });
    let handle = group.handle();
    let out = rt.block_on(async move {
        let group = tokio::spawn(group);
        let pushers: Vec<_> = (0..TASKS)
            .map(|t| {
                let handle = handle.clone();
                let probe = Arc::clone(&probe);
                tokio::spawn(async move {
                    for i in 0..PUSHES {
                        let id = t * PUSHES + i;
                        let task = track(Arc::clone(&probe), id, async move {
                            tokio::task::yield_now().await;
                            Ok(id)
                        });
                        handle.push(task).unwrap();
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for pusher in pushers {
            pusher.await.unwrap();
        }
        gate.open();
        let out = group.await.unwrap().unwrap();
        assert!(
            probe.max_active() <= 2,
            "limit exceeded: {}",
            probe.max_active()
        );
        out
    });
    let mut out = out;
    assert_eq!(out[0], usize::MAX);
    out.sort_unstable();
    out.pop();
    assert_eq!(out, (0..TASKS * PUSHES).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Pushing after the group ended

/// Checks that a refused push handed back the very job, unpolled.
fn assert_refused(result: Result<(), PushError<Job>>, id: usize) {
    let err = result.unwrap_err();
    assert!(err.is_closed());
    assert!(!err.is_full());
    assert_eq!(
        err.to_string(),
        "the group has finished and takes no more tasks"
    );
    let job = err.into_inner();
    assert_eq!(job.id, id);
    assert!(!job.polled);
}

#[test]
fn push_after_the_group_finished_hands_the_task_back_unpolled() {
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = drop_slots(2);
    let mut group = ErrGroup::<usize, ()>::new();
    let handle = group.handle();
    handle.push(Job::new(0, &ran, &drops)).unwrap();
    assert!(!handle.is_closed());
    assert_eq!(block_on(&mut group), Ok(vec![0]));
    assert!(handle.is_closed());
    assert_refused(handle.push(Job::new(1, &ran, &drops)), 1);
    // A handle taken after the end refuses too.
    assert_refused(group.handle().push(Job::new(1, &ran, &drops)), 1);
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn push_after_the_group_failed_hands_the_task_back_unpolled() {
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = drop_slots(1);
    let mut group = ErrGroup::<usize, ()>::new();
    let handle = group.handle();
    group.push(async { Err(()) });
    assert_eq!(block_on(group.try_next()), Err(()));
    assert!(handle.is_closed());
    assert_refused(handle.push(Job::new(0, &ran, &drops)), 0);
    assert_eq!(ran.load(SeqCst), 0);
}

#[test]
fn push_after_the_group_was_dropped_hands_the_task_back_unpolled() {
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = drop_slots(1);
    let group = ErrGroup::<usize, ()>::new();
    let handle = group.handle();
    drop(group);
    assert!(handle.is_closed());
    assert_refused(handle.clone().push(Job::new(0, &ran, &drops)), 0);
    assert_eq!(ran.load(SeqCst), 0);
}

#[test]
fn push_after_try_next_ran_out_of_tasks_is_accepted() {
    let mut group = ErrGroup::<u32, ()>::new();
    let handle = group.handle();
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert!(!handle.is_closed());
    handle.push(async { Ok(1) }).unwrap();
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert_eq!(block_on(group.try_next()), Ok(None));
    handle.push(async { Ok(2) }).unwrap();
    assert_eq!(block_on(group), Ok(vec![2]));
    assert!(handle.is_closed());
}

#[test]
fn local_handle_push_after_the_group_ended_hands_the_task_back() {
    let mut group = LocalErrGroup::<Rc<u32>, ()>::new();
    let handle = group.handle();
    let value = Rc::new(1);
    let inner = Rc::clone(&value);
    handle.push(async move { Ok(inner) }).unwrap();
    assert_eq!(block_on(&mut group).unwrap(), [Rc::clone(&value)]);
    assert!(handle.is_closed());
    let inner = Rc::clone(&value);
    let err = handle.push(async move { Ok(inner) }).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(block_on(err.into_inner()), Ok(value));
}

#[test]
fn push_error_debug_needs_no_debug_task() {
    /// Not `Debug`.
    struct Opaque;
    impl Future for Opaque {
        type Output = Result<(), ()>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(()))
        }
    }
    let group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    drop(group);
    let err = handle.push(Opaque).unwrap_err();
    let debug = format!("{err:?}");
    assert!(debug.starts_with("PushError"), "{debug}");
    assert!(debug.contains("closed: true"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// A push that returned `Ok` always runs: pushes racing the group's end

const PUSHERS: usize = 2;
/// Pushes per pusher and round; each is a cross-thread race, which Miri runs slowly.
const MAX_PUSHES: usize = if cfg!(miri) { 16 } else { 500 };

/// Rounds per executor: many for the finish race (the one a lost push would hide in), fewer for
/// failure and drop.
fn rounds(end: End) -> usize {
    match (cfg!(miri), end) {
        (true, _) => 3,
        (false, End::Finish) => 2000,
        (false, _) => 500,
    }
}

/// How a racing round ends the group.
#[derive(Clone, Copy, Debug)]
enum End {
    Finish,
    Fail,
    Drop,
}

/// What the pushers saw in one round.
#[derive(Default)]
struct Pushed {
    accepted: Vec<usize>,
    refused: usize,
}

/// Starts `PUSHERS` threads that push jobs as fast as they can until one is refused (or
/// `MAX_PUSHES` each); every refused job must come back unpolled.
fn start_pushers(
    handle: &Handle<'static, usize, ()>,
    start: &Arc<Barrier>,
    ran: &Arc<AtomicUsize>,
    drops: &Arc<Vec<AtomicUsize>>,
) -> Vec<thread::JoinHandle<Pushed>> {
    (0..PUSHERS)
        .map(|p| {
            let (handle, start) = (handle.clone(), Arc::clone(start));
            let (ran, drops) = (Arc::clone(ran), Arc::clone(drops));
            thread::spawn(move || {
                let mut pushed = Pushed::default();
                start.wait();
                for i in 0..MAX_PUSHES {
                    let id = p * MAX_PUSHES + i;
                    match handle.push(Job::new(id, &ran, &drops)) {
                        Ok(()) => {
                            pushed.accepted.push(id);
                            // Let the group's thread in: on a loaded machine the pushers could
                            // otherwise make all their pushes before the group ends, and no
                            // round would race.
                            thread::yield_now();
                        }
                        Err(err) => {
                            assert_refused(Err(err), id);
                            pushed.refused += 1;
                            break;
                        }
                    }
                }
                pushed
            })
        })
        .collect()
}

/// Totals over all rounds, to show the race was really run.
#[derive(Debug, Default)]
struct RaceStats {
    rounds_with_both: usize,
    accepted: usize,
    refused: usize,
}

/// The group future's output (none when the group was dropped instead), and the group itself
/// when the executor leaves it to us: it is then checked to hold no task while it still exists.
type Ran = (
    Option<Result<Vec<usize>, ()>>,
    Option<ErrGroup<'static, usize, ()>>,
);

/// One round: the group ends (`end`) on `run` while the pushers push.
fn race_round(end: End, stats: &mut RaceStats, run: &dyn Fn(ErrGroup<'static, usize, ()>) -> Ran) {
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = drop_slots(PUSHERS * MAX_PUSHES);
    let mut group = ErrGroup::<usize, ()>::new();
    let handle = group.handle();
    match end {
        End::Finish => group.push(async {
            yield_times(2).await;
            Ok(usize::MAX)
        }),
        End::Fail => group.push(async {
            yield_times(2).await;
            Err(())
        }),
        End::Drop => group.push(pending()),
    }
    let start = Arc::new(Barrier::new(PUSHERS + 1));
    let pushers = start_pushers(&handle, &start, &ran, &drops);
    start.wait();
    let (out, kept) = run(group);
    let pushed: Vec<Pushed> = pushers.into_iter().map(|p| p.join().unwrap()).collect();
    let mut accepted: Vec<usize> = pushed
        .iter()
        .flat_map(|p| p.accepted.iter().copied())
        .collect();
    accepted.sort_unstable();
    let refused: usize = pushed.iter().map(|p| p.refused).sum();
    stats.accepted += accepted.len();
    stats.refused += refused;
    stats.rounds_with_both += usize::from(!accepted.is_empty() && refused > 0);

    match end {
        End::Finish => {
            let mut out = out.expect("the group was run").expect("no task fails");
            assert_eq!(out.first(), Some(&usize::MAX));
            out.remove(0);
            out.sort_unstable();
            assert_eq!(
                out, accepted,
                "every accepted push ran and returned its value"
            );
            assert_eq!(ran.load(SeqCst), accepted.len(), "only accepted pushes ran");
        }
        End::Fail => assert_eq!(out, Some(Err(()))),
        End::Drop => assert!(out.is_none()),
    }
    // Every job ever made (accepted or refused) is gone now, each dropped exactly once, even
    // when the ended group itself is still there.
    let made = accepted.len() + refused;
    for (id, slot) in drops.iter().enumerate() {
        let expected = usize::from(accepted.binary_search(&id).is_ok()) + {
            // A refused job was dropped by its pusher.
            let p = id / MAX_PUSHES;
            usize::from(pushed[p].refused > 0 && id == p * MAX_PUSHES + pushed[p].accepted.len())
        };
        assert_eq!(slot.load(SeqCst), expected, "job {id} ({end:?})");
    }
    assert_eq!(drops.iter().map(|s| s.load(SeqCst)).sum::<usize>(), made);
    if let Some(group) = kept {
        assert!(group.is_empty());
    }
}

/// The rounds must have raced: in some, pushes were accepted and then refused as the group
/// ended under them.
fn assert_race_was_run(stats: &RaceStats) {
    if !cfg!(miri) {
        assert!(
            stats.rounds_with_both > 0,
            "the pushes never raced the end: {stats:?}"
        );
    }
}

fn race_on_block_on(end: End) {
    let mut stats = RaceStats::default();
    for _ in 0..rounds(end) {
        race_round(end, &mut stats, &|mut group| match end {
            End::Drop => {
                // Drop it once pushes are landing: unpolled, the group keeps them in its inbox.
                while group.len() < 2 {
                    thread::yield_now();
                }
                assert!(poll_once(&mut group).is_pending());
                (None, None)
            }
            // The group outlives the round's checks: an ended group must hold no task.
            _ => (Some(block_on(&mut group)), Some(group)),
        });
    }
    eprintln!("{end:?} on block_on: {stats:?}");
    assert_race_was_run(&stats);
}

fn race_on_tokio(end: End) {
    let rt = tokio_rt();
    let mut stats = RaceStats::default();
    for _ in 0..rounds(end) {
        race_round(end, &mut stats, &|mut group| {
            rt.block_on(async {
                match end {
                    End::Drop => tokio::spawn(async move {
                        while group.len() < 2 {
                            tokio::task::yield_now().await;
                        }
                        assert!(poll_once(&mut group).is_pending());
                        (None, None)
                    })
                    .await
                    .unwrap(),
                    _ => (Some(tokio::spawn(group).await.unwrap()), None),
                }
            })
        });
    }
    eprintln!("{end:?} on tokio: {stats:?}");
    assert_race_was_run(&stats);
}

#[test]
fn an_accepted_push_always_runs_when_the_group_finishes_meanwhile() {
    race_on_block_on(End::Finish);
}

#[test]
fn an_accepted_push_always_runs_when_the_group_finishes_meanwhile_on_tokio() {
    race_on_tokio(End::Finish);
}

#[test]
fn pushes_racing_a_failure_are_run_or_dropped_exactly_once() {
    race_on_block_on(End::Fail);
    race_on_tokio(End::Fail);
}

#[test]
fn pushes_racing_a_drop_are_dropped_exactly_once() {
    race_on_block_on(End::Drop);
    race_on_tokio(End::Drop);
}

// ---------------------------------------------------------------------------------------------
// Dropping the group; no reference cycles

#[test]
fn dropping_the_group_drops_the_tasks_waiting_in_its_inbox() {
    let probe = Probe::new();
    let mut group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    group.push(pending());
    assert!(poll_once(&mut group).is_pending());
    for id in 0..3 {
        handle
            .push(track(Arc::clone(&probe), id, async { Ok(()) }))
            .unwrap();
    }
    assert_eq!(group.len(), 4);
    drop(group);
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), 3);
    assert!(handle.is_closed());
}

#[test]
fn a_failing_group_drops_the_tasks_waiting_in_its_inbox() {
    let probe = Probe::new();
    let mut group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    let pushing = handle.clone();
    let pushing_probe = Arc::clone(&probe);
    group.push(async move {
        for id in 0..3 {
            let task = track(Arc::clone(&pushing_probe), id, async { Ok(()) });
            pushing.push(task).unwrap();
        }
        Err(())
    });
    assert_eq!(block_on(group.try_next()), Err(()));
    assert_eq!(probe.started(), 0);
    assert_eq!(probe.dropped(), 3);
    drop(group);
}

/// Regression: `len()` counted handle pushes that a failure had already dropped from the inbox,
/// so a failed group reported tasks it no longer held (the inbox's reservation count is not
/// released when `close` drops what was queued).
#[test]
fn a_failed_group_is_empty_even_if_handle_pushes_were_pending() {
    let mut group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    group.push(async move {
        handle.push(async { Ok(()) }).unwrap();
        Err(())
    });
    assert_eq!(block_on(group.try_next()), Err(()));
    assert_eq!(group.len(), 0, "a failed group holds no task");
    assert!(group.is_empty());
}

#[test]
fn a_task_holding_a_handle_to_its_own_group_keeps_nothing_alive() {
    // Pushed through the handle and never received.
    let owned = Arc::new(());
    let group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    let (own_handle, held) = (handle.clone(), Arc::clone(&owned));
    handle
        .push(async move {
            let _keep = (own_handle, held);
            Ok(())
        })
        .unwrap();
    assert_eq!(Arc::strong_count(&owned), 2);
    drop(group);
    assert_eq!(
        Arc::strong_count(&owned),
        1,
        "the inbox kept the task alive"
    );
    drop(handle);

    // Received and running when the group is dropped.
    let mut group = ErrGroup::<(), ()>::new();
    let (own_handle, held) = (group.handle(), Arc::clone(&owned));
    group.push(async move {
        let _keep = (own_handle, held);
        pending().await
    });
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(Arc::strong_count(&owned), 2);
    drop(group);
    assert_eq!(Arc::strong_count(&owned), 1);

    // The local group, with an `Rc`.
    let owned = Rc::new(());
    let group = LocalErrGroup::<(), ()>::new();
    let handle = group.handle();
    let (own_handle, held) = (handle.clone(), Rc::clone(&owned));
    handle
        .push(async move {
            let _keep = (own_handle, held);
            Ok(())
        })
        .unwrap();
    assert_eq!(Rc::strong_count(&owned), 2);
    drop(group);
    assert_eq!(Rc::strong_count(&owned), 1);
    assert!(handle.is_closed());
}

#[test]
fn a_handle_kept_after_the_group_is_gone_keeps_no_task_alive() {
    let dropped = Arc::new(AtomicBool::new(false));
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let group = ErrGroup::<(), ()>::new();
    let handle = group.handle();
    let guard = SetOnDrop(Arc::clone(&dropped));
    handle
        .push(async move {
            let _guard = guard;
            Ok(())
        })
        .unwrap();
    drop(group);
    assert!(dropped.load(SeqCst));
    assert!(handle.is_closed());
}

/// Regression: a `select!` loop over `try_next` and a channel, as `TryNext`'s docs show, with the group fed
/// by a `Handle` on another thread. After `try_next` returns a value the group is empty, so
/// `select!` skips it; the handle's push must wake the loop (`Handle::push`: "The group's waiter
/// is woken to receive it: [...] or waits for it in a `select!` loop over `try_next`").
#[test]
fn regression_a_handle_push_wakes_a_select_loop_after_try_next_returned_a_value() {
    use futures::{channel::mpsc, select, StreamExt};
    use std::time::Duration;

    // The first task finishes at once, or after one yield (so that a pass has registered the
    // loop's waker before the pass that returns the value).
    for yields in [0, 1] {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut group = ErrGroup::<u32, ()>::new();
            let handle = group.handle();
            group.push(async move {
                for _ in 0..yields {
                    futures_lite::future::yield_now().await;
                }
                Ok(1)
            });
            // A channel that never yields: the loop's other branch.
            let (_jobs_tx, mut jobs) = mpsc::unbounded::<u32>();
            let pusher = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                handle.push(async { Ok(2) }).unwrap();
            });
            let results = futures::executor::block_on(async {
                let mut results = vec![];
                while results.len() < 2 {
                    select! {
                        _ = jobs.next() => {},
                        next = group.try_next() => if let Some(v) = next.unwrap() { results.push(v) },
                    }
                }
                results
            });
            pusher.join().unwrap();
            done_tx.send(results).unwrap();
        });
        let results = done_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| {
                panic!("{yields} yields: the select! loop was never woken for the handle's push")
            });
        assert_eq!(results, [1, 2]);
    }
}

/// Regression, by hand and without timing: after `try_next` hands out the group's last value, a
/// handle's push must reach a `select!` that waits on the group. Whatever the pass that returned
/// the value left behind (it did not end, so no waker is registered by it), the group does not
/// count as terminated until a `try_next` has found it empty and registered the waiter's
/// waker; from then on, a push wakes the waiter.
#[test]
fn regression_a_handle_push_wakes_the_caller_after_try_next_returned_the_last_value() {
    use futures::future::FusedFuture;
    for yields in [0, 1] {
        let (waker, wakes) = futures_test::task::new_count_waker();
        let mut cx = Context::from_waker(&waker);
        let mut group = ErrGroup::<u32, ()>::new();
        let handle = group.handle();
        group.push(async move {
            for _ in 0..yields {
                futures_lite::future::yield_now().await;
            }
            Ok(1)
        });
        let value = loop {
            if let Poll::Ready(value) = Pin::new(&mut group.try_next()).poll(&mut cx) {
                break value;
            }
        };
        assert_eq!(value, Ok(Some(1)));
        assert!(
            !group.try_next().is_terminated(),
            "{yields} yields: select! must poll the group once more, so that it registers"
        );
        let mut next = group.try_next();
        assert_eq!(Pin::new(&mut next).poll(&mut cx), Poll::Ready(Ok(None)));
        assert!(next.is_terminated(), "now select! skips the group");
        let before = wakes.get();
        handle.push(async { Ok(2) }).unwrap();
        assert!(
            !group.try_next().is_terminated(),
            "select! takes it again..."
        );
        assert_eq!(
            wakes.get(),
            before + 1,
            "{yields} yields: ...and the push woke the waiter to look"
        );
    }
}
