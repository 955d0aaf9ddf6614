//! Drop and panic safety: a task whose destructor panics while the group cancels it (after
//! another task's error, when the group is dropped, while it waits behind the limit or in a
//! handle's inbox), a task that panics under `try_next`, and a task that panics while another
//! task holds a `Handle`.
//!
//! What the group guarantees when a destructor panics, as these tests check: the panic reaches
//! the caller (the poll that was cancelling, or `drop`), the token has fired, handles are
//! refused, the group counts as finished, and every other task is still dropped, exactly once,
//! by the time the panic reaches the caller.
mod support;

use std::future::{pending, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use errgroup::ErrGroup;
use futures::executor::block_on;
use futures::future::FusedFuture;
use futures::task::noop_waker;

use support::{panic_message, quiet_provoked_panics, yield_now, Drops, PROVOKED};

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{PROVOKED}: destructor");
    }
}

/// A task that never finishes and holds `guard` until it is dropped.
async fn hold<G, E>(guard: G) -> Result<u32, E> {
    let _guard = guard;
    pending::<()>().await;
    Ok(0)
}

/// A task that never finishes, keeps the waker it was given (so it waits in one of the slab's
/// slots, or in a page beyond them) and holds `guard` until it is dropped.
async fn wait_holding<G, E>(guard: G) -> Result<u32, E> {
    let _guard = guard;
    let mut kept = None;
    std::future::poll_fn(|cx| {
        kept.get_or_insert_with(|| cx.waker().clone());
        Poll::<()>::Pending
    })
    .await;
    Ok(0)
}

/// A task that fails after yielding once, so that the others have started.
async fn fail_after_yield(error: u32) -> Result<u32, u32> {
    yield_now().await;
    Err(error)
}

/// Polls `group` once with a waker that does nothing.
fn poll_once<T, E>(group: &mut ErrGroup<'_, T, E>) -> Poll<Result<Vec<T>, E>> {
    let waker = noop_waker();
    Pin::new(group).poll(&mut Context::from_waker(&waker))
}

fn destructor_message(payload: &(dyn std::any::Any + Send)) -> bool {
    panic_message(payload).is_some_and(|m| m.contains("destructor"))
}

/// Pushes four tasks that never finish: the one at `bomb_at` panics when dropped, the other
/// three are counted by `drops`.
fn add_siblings(group: &mut ErrGroup<'static, u32, u32>, drops: &Arc<Drops>, bomb_at: usize) {
    for slot in 0..4 {
        if slot == bomb_at {
            group.push(hold(PanicOnDrop));
        } else {
            group.push(hold(drops.guard()));
        }
    }
}

/// A group (with `limit`) holding the tasks of [`add_siblings`].
fn bomb_group(
    limit: Option<usize>,
    drops: &Arc<Drops>,
    bomb_at: usize,
) -> ErrGroup<'static, u32, u32> {
    let mut group = limit.map_or_else(ErrGroup::new, ErrGroup::with_limit);
    add_siblings(&mut group, drops, bomb_at);
    group
}

#[test]
fn destructor_panic_while_cancelling_after_an_error_reaches_the_caller() {
    quiet_provoked_panics();
    for limit in [None, Some(2), Some(5)] {
        for bomb_at in 0..4 {
            let drops = Drops::new();
            // The failing task goes first, so that it runs whatever the limit.
            let mut group = limit.map_or_else(ErrGroup::new, ErrGroup::with_limit);
            group.push(fail_after_yield(7));
            add_siblings(&mut group, &drops, bomb_at);
            let token = group.token();
            let handle = group.handle();

            let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
            let payload = result.expect_err("the destructor's panic reaches the awaiting caller");
            assert!(
                destructor_message(&*payload),
                "limit {limit:?}, bomb at {bomb_at}"
            );
            assert!(
                token.is_cancelled(),
                "the token fires before the tasks are dropped"
            );
            assert!(group.is_terminated());
            assert!(handle.push(async { Ok(1) }).unwrap_err().is_closed());
            assert_eq!(
                drops.get(),
                3,
                "limit {limit:?}, bomb at {bomb_at}: every sibling dropped"
            );

            // Dropping the group afterwards neither panics again nor drops anything twice.
            drop(group);
            assert_eq!(drops.get(), 3, "no sibling is dropped twice");
        }
    }
}

#[test]
fn destructor_panic_when_the_group_is_dropped_reaches_the_caller() {
    quiet_provoked_panics();
    for limit in [None, Some(1), Some(3)] {
        for bomb_at in 0..4 {
            for polled in [false, true] {
                let drops = Drops::new();
                let mut group = bomb_group(limit, &drops, bomb_at);
                let token = group.token();
                let handle = group.handle();
                if polled {
                    assert!(poll_once(&mut group).is_pending());
                }
                let result = panic::catch_unwind(AssertUnwindSafe(|| drop(group)));
                let payload = result.expect_err("the destructor's panic reaches `drop`'s caller");
                assert!(destructor_message(&*payload));
                assert!(token.is_cancelled());
                assert!(handle.is_closed());
                assert_eq!(
                    drops.get(),
                    3,
                    "limit {limit:?}, bomb at {bomb_at}, polled {polled}: every sibling dropped once"
                );
            }
        }
    }
}

/// Tasks waiting behind the limit sit in a plain queue: a panicking destructor there still lets
/// every other waiting task be dropped, and the running ones are dropped with the group.
#[test]
fn destructor_panic_behind_the_limit_drops_every_other_task() {
    quiet_provoked_panics();
    let drops = Drops::new();
    let mut group = ErrGroup::<u32, u32>::with_limit(1);
    group.push(hold(drops.guard())); // running
    group.push(hold(drops.guard())); // waiting
    group.push(hold(PanicOnDrop)); // waiting
    group.push(hold(drops.guard())); // waiting
    let token = group.token();
    assert!(poll_once(&mut group).is_pending());
    let payload = panic::catch_unwind(AssertUnwindSafe(|| drop(group))).unwrap_err();
    assert!(destructor_message(&*payload));
    assert!(token.is_cancelled());
    assert_eq!(drops.get(), 3);
}

/// Regression: a task pushed through a handle whose destructor panicked when the group failed
/// (it was still in the inbox) stopped the group's cleanup before the token fired: the token
/// stayed quiet and the running siblings were not dropped until the group itself was.
#[test]
fn destructor_panic_in_the_inbox_still_fires_the_token() {
    quiet_provoked_panics();
    let drops = Drops::new();
    let mut group = ErrGroup::<u32, u32>::new();
    let token = group.token();
    let handle = group.handle();
    group.push(hold(drops.guard()));
    group.push(async move {
        // Pushed, not yet received, when this task fails in the same poll.
        handle.push(hold(PanicOnDrop)).unwrap();
        Err(7)
    });
    let payload = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).unwrap_err();
    assert!(destructor_message(&*payload));
    assert!(
        token.is_cancelled(),
        "the token fires whatever the destructors do"
    );
    assert_eq!(
        drops.get(),
        1,
        "the running sibling is cancelled with the group"
    );
    drop(group);
    assert_eq!(drops.get(), 1);
}

/// Regression: a panicking destructor made the group leak the running tasks `FuturesUnordered`
/// had not dropped yet (its `clear` and `drop` give up on the rest of the list).
#[test]
fn destructor_panic_leaks_no_sibling() {
    quiet_provoked_panics();
    let drops = Drops::new();
    let mut group = ErrGroup::new();
    group.push(fail_after_yield(7));
    add_siblings(&mut group, &drops, 1);
    let _ = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
    drop(group);
    assert_eq!(drops.get(), 3);
}

#[test]
fn panic_under_try_next_reaches_the_caller_and_finishes_the_group() {
    quiet_provoked_panics();
    let drops = Drops::new();
    let mut group = ErrGroup::<u32, u32>::new();
    let token = group.token();
    let handle = group.handle();
    group.push(hold(drops.guard()));
    group.push(async {
        yield_now().await;
        panic!("{PROVOKED}: in a task");
    });
    group.push(async { Ok(1) });

    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert!(!token.is_cancelled());

    let payload = panic::catch_unwind(AssertUnwindSafe(|| block_on(group.try_next()))).unwrap_err();
    assert_eq!(panic_message(&*payload), Some("provoked panic: in a task"));
    assert!(token.is_cancelled());
    assert!(group.is_terminated());
    assert_eq!(group.len(), 0);
    assert_eq!(drops.get(), 1, "the sibling was dropped on the way out");

    // The group has failed: try_next says so, pushes are refused, polling it panics and says why.
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert!(handle.push(async { Ok(2) }).unwrap_err().is_closed());
    let push = panic::catch_unwind(AssertUnwindSafe(|| group.push(async { Ok(3) })));
    assert!(panic_message(&*push.unwrap_err()).is_some_and(|m| m.contains("already finished")));
    let poll = panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut group)));
    assert!(panic_message(&*poll.unwrap_err()).is_some_and(|m| m.contains("after it failed")));
}

/// A task holds a handle (and a shared value) while a sibling panics: the handle goes with the
/// task, pushes are refused afterwards, and nothing is kept alive. Returns what awaiting the
/// group gave.
fn panic_beside_a_handle<E: Send + 'static>(
    mut group: ErrGroup<'static, u32, E>,
) -> std::thread::Result<Result<Vec<u32>, E>> {
    quiet_provoked_panics();
    let shared = Arc::new(());
    let drops = Drops::new();
    let token = group.token();
    let outside = group.handle();
    let inside = group.handle();
    let kept = Arc::clone(&shared);
    let child_drops = Arc::clone(&drops);
    group.push(async move {
        let _kept = kept;
        // Pushes a child that is cancelled with the group, then waits with the handle.
        assert!(inside.push(hold(child_drops.guard())).is_ok());
        yield_now().await;
        pending::<()>().await;
        let _ = inside.push(async { Ok(0) });
        Ok(0)
    });
    group.push(async {
        yield_now().await;
        yield_now().await;
        panic!("{PROVOKED}: beside a handle");
    });

    let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
    assert!(token.is_cancelled());
    assert!(outside.is_closed());
    assert!(outside.push(async { Ok(1) }).unwrap_err().is_closed());
    assert_eq!(
        drops.get(),
        1,
        "the child pushed through the handle was dropped"
    );
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "the task holding the handle was dropped"
    );
    drop(group);
    assert_eq!(drops.get(), 1);
    result
}

#[test]
fn panic_while_another_task_holds_a_handle() {
    let payload = panic_beside_a_handle::<()>(ErrGroup::new()).unwrap_err();
    assert_eq!(
        panic_message(&*payload),
        Some("provoked panic: beside a handle")
    );
}

#[cfg(feature = "std")]
#[test]
fn caught_panic_while_another_task_holds_a_handle() {
    let result = panic_beside_a_handle(ErrGroup::<u32, errgroup::Panicked>::new().catch_panics());
    let error = result.expect("no unwind with catch_panics").unwrap_err();
    assert_eq!(error.message(), "provoked panic: beside a handle");
}

/// What a task's destructor saw of its group.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SeenAtDrop {
    cancelled: bool,
    refused: bool,
}

/// Records what the group looked like when the task holding it was dropped.
struct Witness {
    token: errgroup::CancelToken,
    handle: errgroup::Handle<'static, u32, Error>,
    seen: Arc<std::sync::Mutex<Vec<SeenAtDrop>>>,
    /// Panic in `drop` too (a task that panics twice).
    panic_again: bool,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.seen.lock().unwrap().push(SeenAtDrop {
            cancelled: self.token.is_cancelled(),
            refused: self.handle.is_closed(),
        });
        if self.panic_again && !std::thread::panicking() {
            panic!("{PROVOKED}: and again in drop");
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A group with `siblings` waiting tasks and, pushed last, one that panics; every task holds a
/// witness. With 70 siblings the slab's slots are all taken (60, or 28 on 32-bit targets), so
/// the panicking task runs in the `FuturesUnordered` beside the slab.
fn panicking_group(
    siblings: usize,
    catch: bool,
    panic_again: bool,
) -> (
    ErrGroup<'static, u32, Error>,
    Arc<std::sync::Mutex<Vec<SeenAtDrop>>>,
) {
    #[cfg_attr(not(feature = "std"), allow(unused_mut))]
    let mut group = ErrGroup::<u32, Error>::new();
    #[cfg(feature = "std")]
    if catch {
        group = group.catch_panics();
    }
    #[cfg(not(feature = "std"))]
    let _ = catch;
    let seen = Arc::default();
    let (token, handle) = (group.token(), group.handle());
    let witness = |panic_again| Witness {
        token: token.clone(),
        handle: handle.clone(),
        seen: Arc::clone(&seen),
        panic_again,
    };
    for _ in 0..siblings {
        group.push(wait_holding(witness(false)));
    }
    group.push(PanicsInPoll {
        _witness: witness(panic_again),
        polls: 0,
    });
    (group, seen)
}

/// Yields once, then panics in `poll`. The witness is a field, not a local of the poll, so the
/// panic does not drop it on its way out: only dropping the task does.
struct PanicsInPoll {
    _witness: Witness,
    polls: usize,
}

impl Future for PanicsInPoll {
    type Output = Result<u32, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        if self.polls == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        panic!("{PROVOKED}: in poll");
    }
}

/// The token fires and handles are refused before any task, the panicking one included, is
/// dropped: in the slab and in the `FuturesUnordered`, with and without `catch_panics`.
#[cfg(feature = "std")]
#[test]
fn a_panic_fires_the_token_before_any_task_is_dropped_in_every_mode() {
    quiet_provoked_panics();
    for siblings in [2, 70] {
        for catch in [false, true] {
            let (mut group, seen) = panicking_group(siblings, catch, false);
            let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
            match (catch, result) {
                (false, Err(payload)) => {
                    assert_eq!(panic_message(&*payload), Some("provoked panic: in poll"));
                }
                (true, Ok(Err(error))) => {
                    assert_eq!(
                        error.to_string(),
                        "a task panicked: provoked panic: in poll"
                    );
                }
                (catch, other) => panic!("catch = {catch}: {:?}", other.map(|r| r.is_ok())),
            }
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), siblings + 1, "every task was dropped");
            let every = SeenAtDrop {
                cancelled: true,
                refused: true,
            };
            assert!(
                seen.iter().all(|s| *s == every),
                "siblings = {siblings}, catch = {catch}: {seen:?}"
            );
        }
    }
}

/// A task that panics in `poll` and again in its destructor: in every mode, with and without
/// `catch_panics`, the group unwinds with (or returns as its error) the *original* panic, the
/// second one is swallowed, nothing aborts, and the token has fired first.
#[cfg(feature = "std")]
#[test]
fn a_task_that_panics_twice_unwinds_in_every_mode() {
    quiet_provoked_panics();
    for siblings in [2, 70] {
        for catch in [false, true] {
            let (mut group, seen) = panicking_group(siblings, catch, true);
            let token = group.token();
            let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
            let unwound_or_failed = match result {
                Err(payload) => panic_message(&*payload).map(str::to_owned),
                Ok(Err(error)) => Some(error.to_string()),
                Ok(Ok(_)) => None,
            };
            assert!(
                unwound_or_failed
                    .as_ref()
                    .is_some_and(|m| m.contains("in poll")),
                "siblings = {siblings}, catch = {catch}: {unwound_or_failed:?}"
            );
            assert!(token.is_cancelled());
            drop(group);
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), siblings + 1, "every task was dropped");
            assert!(seen.iter().all(|s| s.cancelled && s.refused), "{seen:?}");
        }
    }
}

/// The error of the `catch_panics` regressions: a task's own error, or a caught panic's message.
#[cfg(feature = "std")]
#[derive(Debug, PartialEq)]
enum Failure {
    Task(u32),
    Panicked(String),
}

#[cfg(feature = "std")]
impl From<errgroup::Panicked> for Failure {
    fn from(panicked: errgroup::Panicked) -> Self {
        Failure::Panicked(panicked.message().to_owned())
    }
}

/// Four siblings that never finish, the one at `bomb_at` panicking when dropped.
#[cfg(feature = "std")]
fn add_caught_siblings(
    group: &mut ErrGroup<'static, u32, Failure>,
    drops: &Arc<Drops>,
    bomb_at: usize,
) {
    for slot in 0..4 {
        if slot == bomb_at {
            group.push(hold(PanicOnDrop));
        } else {
            group.push(hold(drops.guard()));
        }
    }
}

/// Regression: with `catch_panics`, a destructor that panicked while the group cancelled its
/// tasks after an error unwound into the caller, and the task's error was lost. The cancel path
/// now runs inside the catch: the caller gets the error, and every sibling is dropped.
#[cfg(feature = "std")]
#[test]
fn regression_with_catch_panics_a_destructor_panic_after_an_error_keeps_the_error() {
    quiet_provoked_panics();
    for limit in [None, Some(2), Some(5)] {
        for bomb_at in 0..4 {
            let drops = Drops::new();
            let mut group = limit
                .map_or_else(ErrGroup::new, ErrGroup::with_limit)
                .catch_panics();
            group.push(async {
                yield_now().await;
                Err(Failure::Task(7))
            });
            add_caught_siblings(&mut group, &drops, bomb_at);
            let token = group.token();
            let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
            let case = format!("limit {limit:?}, bomb at {bomb_at}");
            assert_eq!(
                result.expect("nothing unwinds with catch_panics"),
                Err(Failure::Task(7)),
                "{case}"
            );
            assert_eq!(token.cause(), Some(errgroup::Cause::Failed), "{case}");
            assert_eq!(drops.get(), 3, "{case}: every other sibling dropped");
            drop(group);
            assert_eq!(drops.get(), 3, "{case}: none dropped twice");
        }
    }
}

/// Regression: with `catch_panics`, a sibling's destructor that panicked while the group
/// cancelled its tasks after a task's panic replaced that panic as the group's error. The first
/// panic is now the error, with the panicking task in the slab or (behind 70 waiting siblings) in
/// the set beside it.
#[cfg(feature = "std")]
#[test]
fn regression_with_catch_panics_a_siblings_destructor_panic_keeps_the_first_panic() {
    quiet_provoked_panics();
    for siblings in [0, 70] {
        for bomb_at in 0..4 {
            let drops = Drops::new();
            let mut group = ErrGroup::<u32, Failure>::new().catch_panics();
            add_caught_siblings(&mut group, &drops, bomb_at);
            for _ in 0..siblings {
                group.push(wait_holding(drops.guard()));
            }
            group.push(async {
                yield_now().await;
                panic!("{PROVOKED}: first");
            });
            let token = group.token();
            let result = panic::catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
            let case = format!("{siblings} more siblings, bomb at {bomb_at}");
            assert_eq!(
                result.expect("nothing unwinds with catch_panics"),
                Err(Failure::Panicked(format!("{PROVOKED}: first"))),
                "{case}"
            );
            assert_eq!(token.cause(), Some(errgroup::Cause::Panicked), "{case}");
            assert_eq!(
                drops.get(),
                3 + siblings,
                "{case}: every other sibling dropped"
            );
        }
    }
}

#[cfg(feature = "std")]
/// Returns `Err(Failure::Task(7))` on its first poll; records whether the token had fired when
/// it is dropped, and panics in its destructor if `bomb`.
struct FailsThenPanicsOnDrop {
    token: errgroup::CancelToken,
    cancelled_at_drop: Arc<Mutex<Option<bool>>>,
    bomb: bool,
}

#[cfg(feature = "std")]
impl Future for FailsThenPanicsOnDrop {
    type Output = Result<u32, Failure>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Err(Failure::Task(7)))
    }
}

#[cfg(feature = "std")]
impl Drop for FailsThenPanicsOnDrop {
    fn drop(&mut self) {
        *self.cancelled_at_drop.lock().unwrap() = Some(self.token.is_cancelled());
        if self.bomb && !std::thread::panicking() {
            panic!("destructor of the failing task");
        }
    }
}

/// Regression: with `catch_panics`, when the failing task's own destructor panicked, the group
/// returned that panic instead of the task's error (the first error), and the token's cause becomes `Panicked`.
/// A task that *panics* and then panics again in its destructor keeps its first panic (the
/// engine holds it and drops it after `terminate`); a task that *fails* is dropped before the
/// group has even seen its error. In the slab and in the set beyond it.
#[cfg(feature = "std")]
#[test]
fn regression_with_catch_panics_the_failing_tasks_destructor_does_not_replace_its_error() {
    let mut outcomes = vec![];
    for siblings in [0, 70] {
        let mut group = ErrGroup::<u32, Failure>::new().catch_panics();
        for _ in 0..siblings {
            group.push(wait_holding(()));
        }
        let token = group.token();
        group.push(FailsThenPanicsOnDrop {
            token: token.clone(),
            cancelled_at_drop: Arc::default(),
            bomb: true,
        });
        // The destructor's panic is provoked on purpose: it prints nothing.
        let result = support::quietly(|| block_on(&mut group));
        outcomes.push((siblings, result.map_err(|_| "unwound"), token.cause()));
    }
    for (siblings, result, cause) in outcomes {
        assert_eq!(result, Ok(Err(Failure::Task(7))), "{siblings} siblings");
        assert_eq!(cause, Some(errgroup::Cause::Failed), "{siblings} siblings");
    }
}

/// Regression: "the token fires before any task is dropped, whatever ends the group": the
/// panicking task was dropped after the token fired, but the failing task before it fired. A
/// finished task is now handed to the core with its output, and dropped after the group ended.
#[cfg(feature = "std")]
#[test]
fn regression_the_failing_task_is_dropped_after_the_token_fired() {
    for siblings in [0, 70] {
        let mut group = ErrGroup::<u32, Failure>::new();
        for _ in 0..siblings {
            group.push(wait_holding(()));
        }
        let token = group.token();
        let seen = Arc::new(Mutex::new(None));
        group.push(FailsThenPanicsOnDrop {
            token: token.clone(),
            cancelled_at_drop: Arc::clone(&seen),
            bomb: false,
        });
        assert_eq!(block_on(&mut group), Err(Failure::Task(7)));
        assert_eq!(
            *seen.lock().unwrap(),
            Some(true),
            "{siblings} siblings: the failing task was dropped before the token fired"
        );
    }
}

/// Regression (found by review): the slots were counted empty before their tasks were taken out,
/// so when a task's destructor panicked during `cancel`, the second round that drops the rest
/// skipped the tasks waiting in the group's slots: they outlived the panic, and were dropped
/// only with the group. In the group's slots and in a page beyond them.
#[test]
fn regression_cancel_with_a_panicking_destructor_still_drops_the_waiting_tasks() {
    quiet_provoked_panics();
    const SLOTS: usize = usize::BITS as usize - 4;
    for waiting in [1, SLOTS + 1] {
        let drops = Drops::new();
        let mut group = ErrGroup::<u32, ()>::new();
        for _ in 0..waiting {
            group.push(wait_holding(drops.guard()));
        }
        assert!(poll_once(&mut group).is_pending());
        let bomb = PanicOnDrop;
        group.push(async move {
            let _bomb = bomb; // never started: its destructor runs in the cancel
            Ok(1)
        });
        let cancelled = panic::catch_unwind(AssertUnwindSafe(|| group.cancel()));
        assert!(
            cancelled.is_err(),
            "the destructor's panic reaches the caller"
        );
        assert_eq!(drops.get(), waiting, "{waiting} waiting: all dropped");
        drop(group);
        assert_eq!(
            drops.get(),
            waiting,
            "{waiting} waiting: none dropped twice"
        );
    }
}
