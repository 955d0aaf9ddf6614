//! The scripts the model test runs: tasks made of steps, the operations between polls, and the
//! proptest strategies that generate them.

#[cfg(feature = "std")]
use errgroup::Panicked;
use proptest::prelude::*;

/// Tasks are numbered in creation order; a task's `Ok` value and its error are its number.
pub(crate) type Id = usize;

/// One step of a task, run in order before the task ends.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Wake itself and return `Pending` once.
    Yield,
    /// Return `Pending` until the test opens this step's gate.
    Gate,
    /// Push a child task through the group's handle.
    Spawn(Task),
    /// Open the `n % count`-th gate still closed, waking whoever waits on it: a task waking a
    /// sibling (or the `run_until` future) while it is being polled, as a channel send does.
    Open(usize),
}

/// How a task ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Ok,
    Err,
    Panic,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub(crate) steps: Vec<Step>,
    pub(crate) end: End,
}

/// What the test does between polls.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// Poll the group future. Without `only_if_woken`, a poll whatever the waker says (spurious
    /// polls are allowed); with it, a poll that must find nothing to do unless the waker was
    /// woken since the last poll (see `Driver::probe`).
    Poll { only_if_woken: bool },
    /// Poll a fresh `try_next()` future once, then drop it.
    TryNext,
    /// Open the `n % count`-th gate still closed (no-op when none is).
    Open(usize),
    /// `group.push(task)`.
    Push(Task),
    /// `handle.push(task)` from the test.
    HandlePush(Task),
    /// `group.run_until(fut)` with a scripted future (a task's steps; it ends with a value):
    /// poll it, open the gates `opens` one between each two polls, and drop it if it has not
    /// returned by then (cancelling it part-way).
    RunUntil { fut: Task, opens: Vec<usize> },
    /// `group.cancel()`.
    Cancel,
    /// `group.cancel_on(stop)`, with a stop future that waits at a new gate and then returns
    /// `Failure::Stopped`.
    CancelOn,
}

#[derive(Clone, Debug)]
pub(crate) struct Script {
    pub(crate) limit: Option<usize>,
    pub(crate) catch_panics: bool,
    /// Pushed directly before anything else.
    pub(crate) initial: Vec<Task>,
    pub(crate) ops: Vec<Op>,
    /// The group is dropped before `ops[drop_at]` (after the last op when out of range).
    pub(crate) drop_at: Option<usize>,
}

/// The error type: a task's `Err`, or its panic caught by `catch_panics` (with `std`).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) enum Failure {
    Task(Id),
    Panicked(Id),
    /// What the stop future given to `cancel_on` returns.
    Stopped,
}

/// The payload a scripted task panics with.
#[derive(Debug)]
pub(crate) struct TaskPanic(pub(crate) Id);

#[cfg(feature = "std")]
impl From<Panicked> for Failure {
    fn from(panicked: Panicked) -> Self {
        match panicked.into_payload().downcast::<TaskPanic>() {
            Ok(payload) => Failure::Panicked(payload.0),
            Err(_) => Failure::Panicked(usize::MAX),
        }
    }
}

pub(crate) fn end() -> impl Strategy<Value = End> {
    prop_oneof![14 => Just(End::Ok), 3 => Just(End::Err), 2 => Just(End::Panic)]
}

pub(crate) fn task() -> impl Strategy<Value = Task> {
    let simple = prop_oneof![
        2 => Just(Step::Yield),
        2 => Just(Step::Gate),
        1 => (0..16usize).prop_map(Step::Open),
    ];
    // A third of the leaves finish at their first poll: a task spawning several of them makes
    // the group collect more results in one poll than it held tasks when the poll began.
    let leaf =
        (prop::collection::vec(simple, 0..3), end()).prop_map(|(steps, end)| Task { steps, end });
    leaf.prop_recursive(3, 12, 3, |inner| {
        let step = prop_oneof![
            3 => Just(Step::Yield),
            4 => Just(Step::Gate),
            3 => inner.prop_map(Step::Spawn),
            2 => (0..16usize).prop_map(Step::Open),
        ];
        (prop::collection::vec(step, 0..4), end()).prop_map(|(steps, end)| Task { steps, end })
    })
}

/// A task that waits at a gate first (it takes a slot), then runs a task's steps: enough of them
/// at once fill the slab and spill into the set beside it.
pub(crate) fn gated() -> impl Strategy<Value = Task> {
    task().prop_map(|mut task| {
        task.steps.insert(0, Step::Gate);
        task
    })
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => any::<bool>().prop_map(|only_if_woken| Op::Poll { only_if_woken }),
        3 => Just(Op::TryNext),
        5 => (0..16usize).prop_map(Op::Open),
        2 => task().prop_map(Op::Push),
        2 => task().prop_map(Op::HandlePush),
        3 => (task(), prop::collection::vec(0..16usize, 0..5))
            .prop_map(|(fut, opens)| Op::RunUntil { fut, opens }),
        1 => Just(Op::Cancel),
        1 => Just(Op::CancelOn),
    ]
}

pub(crate) fn script() -> impl Strategy<Value = Script> {
    (
        // Some groups run more tasks at once than the slab holds (60 on 64-bit targets), so the
        // set beside it is checked too, under a limit and without.
        prop::option::of(prop_oneof![3 => 1..=4usize, 1 => Just(66)]),
        prop::bool::weighted(0.3),
        prop_oneof![
            3 => prop::collection::vec(task(), 0..6),
            1 => prop::collection::vec(gated(), 56..76),
        ],
        prop::collection::vec(op(), 0..40),
        prop::option::weighted(0.3, 0..40usize),
    )
        .prop_map(|(limit, catch_panics, initial, ops, drop_at)| Script {
            limit,
            // `catch_panics` needs the `std` feature.
            catch_panics: catch_panics && cfg!(feature = "std"),
            initial,
            ops,
            drop_at,
        })
}
