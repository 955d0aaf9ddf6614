//! Model-based property test of [`ErrGroup`].
//!
//! proptest generates *scripts*: tasks made of steps (yield by waking themselves, wait for a gate
//! the test or a sibling opens, open a sibling's gate, push a child task through a [`Handle`]) that end with `Ok`, `Err` or a panic;
//! an optional limit; `catch_panics` or not; direct and handle pushes before and during the run;
//! polls of the group future and of `try_next` futures; `run_until` with a scripted future (it
//! may push through the handle and wait for gates) polled a few times, gates opened between its
//! polls, then dropped if it has not returned; gate openings in a scripted order; and a point
//! where the group is dropped. A deterministic single-threaded driver runs the script with a
//! counting waker, and every task logs what happens to it (started, polled, completed, dropped).
//!
//! After every step the log and the results are checked against a reference model:
//!
//! - **results**: the group future returns every `Ok` value not already taken by `try_next`, in
//!   push order (handle pushes take their place when the group receives them, which the model
//!   brackets between the push and the next poll that receives); `try_next` returns the values the
//!   group future collected first (completion order), then the task that completes during its
//!   poll; `Ok(None)` exactly when no task is left; the first error (or panic) is returned by the
//!   very poll in which it happens;
//! - **`run_until`**: each poll polls its future once, then the tasks; it returns the future's
//!   output exactly in the poll where that completes (no task polled in that poll), the first
//!   error in the poll where it happens (the future dropped before it returns), and otherwise
//!   keeps the values that complete, for `try_next` and the group future as above; on a finished
//!   group only the future runs; dropped part-way it drops its future and nothing else; its polls
//!   are held to the same no-lost-wake-up rule as the group future's;
//! - **starts**: no task is polled after the first error; under a limit, never more than `limit`
//!   tasks are running (started, not completed, not dropped) and tasks start in push order;
//! - **drops**: every task is dropped exactly once; while the group runs a task is dropped exactly
//!   when it completes; once the group has ended every task has been dropped, and a task dropped
//!   before completing sees the token already cancelled;
//! - **state**: the token is cancelled, the handle closed and the group terminated exactly when
//!   the group failed, panicked, returned, or was dropped (not after `try_next` returned
//!   `Ok(None)`), and the token's `cause()` is the first of those; `len()` counts the unfinished tasks (zero once ended); a finished group refuses
//!   pushes (handle: `Err`; `push`: panic) and panics if polled again, while `try_next` keeps
//!   returning `Ok(None)`;
//! - **tasks**: no task is polled after it returned `Ready`, and none sees the token cancelled
//!   while it is being polled;
//! - **polls follow wake-ups**: a task is polled again only after its waker was woken (by
//!   itself, or by the test opening its gate), never without one;
//! - **liveness**: a poll made although the waker was not woken since the last `Pending` finds
//!   nothing to do: it may poll tasks, but none starts, advances or completes (no lost wake-up); and after the script, polling only when woken and opening
//!   the remaining gates one by one always reaches the end (no stall, no endless spin).

//!
//! The test is in three parts: [`script`] (what a script is, and how proptest makes one),
//! [`driver`] (running it against the group) and [`checks`] (what must hold after every step).

mod checks;
mod driver;
mod script;
#[path = "../support/mod.rs"]
mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

use driver::{run, Event};
use script::{script, End, Op, Script, Step, Task};

/// The number of generated scripts per run.
const CASES: u32 = if cfg!(miri) { 8 } else { 1000 };

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        // Failures are turned into named regression tests below instead of a file in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn group_matches_model(script in script()) {
        run(&script).map_err(TestCaseError::fail)?;
    }
}

/// A fixed script that exercises every kind of step, as a smoke test of the driver itself.
#[test]
fn model_smoke() {
    use End::*;
    let leaf = |steps: Vec<Step>, end| Task { steps, end };
    let script = Script {
        limit: Some(2),
        catch_panics: false,
        initial: vec![
            leaf(vec![Step::Gate, Step::Yield], Ok),
            leaf(vec![Step::Spawn(leaf(vec![Step::Yield], Ok))], Ok),
            leaf(vec![Step::Gate], Ok),
        ],
        ops: vec![
            Op::Poll {
                only_if_woken: true,
            },
            Op::HandlePush(leaf(vec![], Ok)),
            Op::TryNext,
            Op::Push(leaf(vec![Step::Gate], Ok)),
            Op::Open(0),
            Op::Poll {
                only_if_woken: false,
            },
            Op::TryNext,
        ],
        drop_at: None,
    };
    run(&script).unwrap();
}

/// `run_until` steps: a future that pushes a task through the handle (a producer) and waits
/// for a gate while the tasks run; one dropped part-way; one during which a task fails.
#[test]
fn model_smoke_run_until() {
    use End::*;
    let leaf = |steps: Vec<Step>, end| Task { steps, end };
    let script = Script {
        limit: Some(2),
        catch_panics: false,
        initial: vec![
            leaf(vec![Step::Gate, Step::Yield], Ok),
            leaf(vec![Step::Yield], Ok),
            leaf(vec![Step::Gate], Ok),
        ],
        ops: vec![
            // Gates: 0 and 1 are the tasks', 2 the future's, 3 the pushed task's.
            Op::RunUntil {
                fut: leaf(
                    vec![Step::Spawn(leaf(vec![Step::Gate], Ok)), Step::Gate],
                    Ok,
                ),
                opens: vec![0, 0, 0, 0],
            },
            Op::TryNext,
            Op::RunUntil {
                fut: leaf(vec![Step::Gate], Ok),
                opens: vec![],
            },
            Op::Push(leaf(vec![Step::Yield], Err)),
            Op::RunUntil {
                fut: leaf(vec![Step::Gate], Ok),
                opens: vec![],
            },
            Op::TryNext,
        ],
        drop_at: None,
    };
    let events = run(&script).unwrap();
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::FutDropped)), 3);
    assert_eq!(count(|e| matches!(e, Event::FutCompleted)), 1, "{events:?}");
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::HandlePushed {
                from_fut: true,
                accepted: true,
                ..
            }
        )),
        "the future pushed a task: {events:?}"
    );
    assert_eq!(count(|e| matches!(e, Event::Completed(_, Err))), 1);
}

/// The model notices a failing task, its error, and the drop of the others.
#[test]
fn model_smoke_failure() {
    use End::*;
    let leaf = |steps: Vec<Step>, end| Task { steps, end };
    for catch_panics in [false, cfg!(feature = "std")] {
        for end in [Err, Panic] {
            let script = Script {
                limit: None,
                catch_panics,
                initial: vec![leaf(vec![Step::Gate], Ok), leaf(vec![Step::Yield], end)],
                ops: vec![
                    Op::Poll {
                        only_if_woken: true,
                    },
                    Op::Poll {
                        only_if_woken: true,
                    },
                    Op::Poll {
                        only_if_woken: false,
                    },
                    Op::TryNext,
                    Op::HandlePush(leaf(vec![], Ok)),
                    Op::Push(leaf(vec![], Ok)),
                ],
                drop_at: None,
            };
            run(&script).unwrap();
        }
    }
}

/// Regression (found by the property test): when the group failed, a task pushed through a
/// handle and not yet received was dropped *before* the token fired (`terminate` drained the
/// inbox before cancelling), although the token fires before any task is dropped.
#[test]
fn regression_inbox_task_dropped_before_token_fires() {
    let script = Script {
        limit: None,
        catch_panics: false,
        initial: vec![Task {
            steps: vec![Step::Spawn(Task {
                steps: vec![],
                end: End::Ok,
            })],
            end: End::Err,
        }],
        ops: vec![],
        drop_at: None,
    };
    assert!(run(&script).is_ok());
}

/// A task that spawns ready children through its handle: the group collects more results in one
/// poll than it held tasks when the poll began, so it has to yield (and wake itself) midway.
#[test]
fn model_smoke_ready_children() {
    let ready = || {
        Step::Spawn(Task {
            steps: vec![],
            end: End::Ok,
        })
    };
    for limit in [None, Some(1)] {
        let script = Script {
            limit,
            catch_panics: false,
            initial: vec![Task {
                steps: vec![ready(), ready(), ready()],
                end: End::Ok,
            }],
            ops: vec![
                Op::Poll {
                    only_if_woken: true,
                },
                Op::Poll {
                    only_if_woken: true,
                },
            ],
            drop_at: None,
        };
        run(&script).unwrap();
    }
}

/// Regression (found by the property test, in an engine that polled tasks with one waker shared
/// by all of them and guessed whose wake-up came in): a task that opened the gate of a sibling
/// woke the shared waker, which was taken for the task's own wake-up, and the task was polled
/// twice without having woken. Every waker now belongs to one slot; the script stays, so that
/// no poll without a wake-up comes back.
#[test]
fn regression_waking_a_scheduled_sibling_is_not_taken_for_a_self_wake() {
    use End::*;
    let leaf = |steps: Vec<Step>, end| Task { steps, end };
    let script = Script {
        limit: None,
        catch_panics: false,
        initial: vec![
            leaf(
                vec![Step::Spawn(leaf(vec![Step::Gate], Ok)), Step::Gate],
                Ok,
            ),
            leaf(vec![Step::Gate], Ok),
            leaf(vec![Step::Yield, Step::Gate], Ok),
            leaf(vec![Step::Open(0), Step::Gate, Step::Gate], Ok),
            leaf(vec![Step::Spawn(leaf(vec![Step::Yield], Ok))], Ok),
        ],
        ops: vec![
            Op::TryNext,
            Op::Poll {
                only_if_woken: false,
            },
        ],
        drop_at: None,
    };
    run(&script).unwrap();
}

/// Regression (found by the property test, in the engine with a shared waker): a task woke a
/// sibling through the shared waker, the sibling was polled later in the same pass, and a task
/// from the waiting queue found the shared bit still set and took it for its own wake-up: polled
/// twice without having woken. The script stays, so that no poll without a wake-up comes back.
#[test]
fn regression_a_wake_up_answered_earlier_in_the_pass_is_not_taken_for_a_self_wake() {
    use End::*;
    let leaf = |steps: Vec<Step>, end| Task { steps, end };
    let script = Script {
        limit: Some(2),
        catch_panics: false,
        initial: vec![
            leaf(vec![Step::Gate, Step::Open(5)], Ok),
            leaf(vec![Step::Gate, Step::Gate, Step::Yield], Ok),
            leaf(vec![Step::Gate], Ok),
            leaf(
                vec![Step::Gate, Step::Spawn(leaf(vec![Step::Yield], Ok))],
                Ok,
            ),
        ],
        ops: vec![
            Op::RunUntil {
                fut: leaf(vec![Step::Gate], Ok),
                opens: vec![0, 10],
            },
            Op::Poll {
                only_if_woken: false,
            },
        ],
        drop_at: None,
    };
    run(&script).unwrap();
}
