//! The driver: runs a script against a real `ErrGroup`, single-threaded, logging every event
//! (the driver's actions and the tasks' own reports), and checking each result as it comes.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use errgroup::{CancelToken, Cause, ErrGroup, Handle};
use futures::future::FusedFuture;
use futures_test::task::{new_count_waker, AwokenCount};

use super::checks::{progress, states_of, woken_and_not_polled, TaskState};
use super::script::{End, Failure, Id, Op, Script, Step, Task, TaskPanic};
use super::support;

/// Everything that happens, in order: the driver's actions and the tasks' own reports.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// The driver pushed a task directly and the group took it.
    Pushed(Id),
    /// A task was pushed through a handle, by the driver, from inside a task, or from the
    /// future `run_until` runs.
    HandlePushed {
        id: Id,
        accepted: bool,
        from_task: bool,
        from_fut: bool,
    },
    /// A direct push into a finished group panicked, as documented.
    PushPanicked(Id),
    /// The driver starts polling the group future or a `try_next` future. `receiving`: the
    /// group is certain to take in handle pushes at the start of this poll.
    PollBegin {
        receiving: bool,
    },
    PollEnd,
    Started(Id),
    Polled(Id),
    /// A task's poll returned `Pending`.
    Pending(Id),
    /// A task's waker (the one it registered last) was woken: by itself, or by the test opening
    /// the gate it waits on.
    Woken(Id),
    /// A task got past one of its steps.
    Advanced(Id),
    Completed(Id, End),
    Dropped {
        id: Id,
        token_cancelled: bool,
    },
    /// The future `run_until` runs was polled, got past a step, completed, was dropped.
    FutPolled,
    FutAdvanced,
    FutCompleted,
    FutDropped,
    /// The stop future given to `cancel_on` completed.
    StopFired,
    Violation(String),
}

pub(crate) struct Gate {
    pub(crate) open: bool,
    pub(crate) waker: Option<Waker>,
    /// The task waiting on it (`None` for the `run_until` future).
    pub(crate) waiter: Option<Id>,
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) events: Vec<Event>,
    pub(crate) gates: Vec<Gate>,
    pub(crate) next_id: Id,
}

pub(crate) fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) type Group = ErrGroup<'static, Id, Failure>;

pub(crate) enum RunStep {
    Yield,
    Gate(usize),
    Spawn(Task),
    Open(usize),
}

/// A scripted task: runs its steps, logs every poll and its drop, and reports (instead of
/// misbehaving) a poll after completion or a cancelled token seen while running.
pub(crate) struct ScriptTask {
    pub(crate) id: Id,
    /// The caller's future of a `run_until`, not a task: it logs `Fut*` events, may run while
    /// the token is cancelled, and always ends with `Ok`.
    pub(crate) fut: bool,
    pub(crate) steps: Vec<RunStep>,
    pub(crate) end: End,
    pub(crate) pc: usize,
    pub(crate) yielded: bool,
    pub(crate) started: bool,
    pub(crate) done: bool,
    pub(crate) world: Arc<Mutex<World>>,
    pub(crate) handle: Handle<'static, Id, Failure>,
    pub(crate) token: CancelToken,
}

impl ScriptTask {
    pub(crate) fn new(
        spec: &Task,
        world: &Arc<Mutex<World>>,
        handle: &Handle<'static, Id, Failure>,
        token: &CancelToken,
    ) -> Self {
        let mut w = lock(world);
        let id = w.next_id;
        w.next_id += 1;
        let steps = spec
            .steps
            .iter()
            .map(|step| match step {
                Step::Yield => RunStep::Yield,
                Step::Gate => {
                    w.gates.push(Gate {
                        open: false,
                        waker: None,
                        waiter: None,
                    });
                    RunStep::Gate(w.gates.len() - 1)
                }
                Step::Spawn(child) => RunStep::Spawn(child.clone()),
                Step::Open(n) => RunStep::Open(*n),
            })
            .collect();
        ScriptTask {
            id,
            fut: false,
            steps,
            end: spec.end,
            pc: 0,
            yielded: false,
            started: false,
            done: false,
            world: Arc::clone(world),
            handle: handle.clone(),
            token: token.clone(),
        }
    }

    /// The future for `run_until`: it takes no task id.
    pub(crate) fn new_fut(
        spec: &Task,
        world: &Arc<Mutex<World>>,
        handle: &Handle<'static, Id, Failure>,
        token: &CancelToken,
    ) -> Self {
        let mut fut = ScriptTask::new(spec, world, handle, token);
        lock(world).next_id -= 1;
        fut.id = Id::MAX;
        fut.fut = true;
        fut.end = End::Ok;
        fut
    }

    pub(crate) fn log(&self, event: Event) {
        lock(&self.world).events.push(event);
    }
}

impl Future for ScriptTask {
    type Output = Result<Id, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            this.log(Event::Violation(format!(
                "task {} polled after it returned Ready",
                this.id
            )));
            return Poll::Pending;
        }
        if this.fut {
            this.log(Event::FutPolled);
        } else {
            if this.token.is_cancelled() {
                this.log(Event::Violation(format!(
                    "task {} polled while the token is cancelled",
                    this.id
                )));
            }
            if !this.started {
                this.started = true;
                this.log(Event::Started(this.id));
            }
            this.log(Event::Polled(this.id));
        }
        while let Some(step) = this.steps.get(this.pc) {
            match step {
                RunStep::Yield if !this.yielded => {
                    this.yielded = true;
                    cx.waker().wake_by_ref();
                    if !this.fut {
                        this.log(Event::Woken(this.id));
                        this.log(Event::Pending(this.id));
                    }
                    return Poll::Pending;
                }
                RunStep::Yield => this.yielded = false,
                RunStep::Gate(gate) => {
                    let mut w = lock(&this.world);
                    let gate = &mut w.gates[*gate];
                    if !gate.open {
                        gate.waker = Some(cx.waker().clone());
                        gate.waiter = (!this.fut).then_some(this.id);
                        if !this.fut {
                            w.events.push(Event::Pending(this.id));
                        }
                        return Poll::Pending;
                    }
                }
                RunStep::Open(n) => open_gate(&this.world, *n),
                RunStep::Spawn(spec) => {
                    let child = ScriptTask::new(spec, &this.world, &this.handle, &this.token);
                    let id = child.id;
                    let accepted = this.handle.push(child).is_ok();
                    this.log(Event::HandlePushed {
                        id,
                        accepted,
                        from_task: !this.fut,
                        from_fut: this.fut,
                    });
                }
            }
            this.pc += 1;
            this.log(if this.fut {
                Event::FutAdvanced
            } else {
                Event::Advanced(this.id)
            });
        }
        this.done = true;
        this.log(if this.fut {
            Event::FutCompleted
        } else {
            Event::Completed(this.id, this.end)
        });
        match this.end {
            End::Ok => Poll::Ready(Ok(this.id)),
            End::Err => Poll::Ready(Err(Failure::Task(this.id))),
            End::Panic => panic::panic_any(TaskPanic(this.id)),
        }
    }
}

impl Drop for ScriptTask {
    fn drop(&mut self) {
        if self.fut {
            self.log(Event::FutDropped);
            return;
        }
        let token_cancelled = self.token.is_cancelled();
        self.log(Event::Dropped {
            id: self.id,
            token_cancelled,
        });
    }
}

pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(TaskPanic(id)) = payload.downcast_ref::<TaskPanic>() {
        format!("TaskPanic({id})")
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_owned()
    }
}

pub(crate) struct Driver {
    pub(crate) world: Arc<Mutex<World>>,
    pub(crate) group: Option<Group>,
    pub(crate) handle: Handle<'static, Id, Failure>,
    pub(crate) token: CancelToken,
    pub(crate) waker: Waker,
    pub(crate) wakes: AwokenCount,
    /// The wake count when the last poll began.
    pub(crate) wakes_at_poll: usize,
    /// The group must be polled whether woken or not (first poll, after a push or a `Ready`).
    pub(crate) must_poll: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) catch_panics: bool,
    /// The group failed, returned, or was dropped.
    pub(crate) finished: bool,
    /// Why it ended: the first of those (what the token's `cause()` must say).
    pub(crate) cause: Option<Cause>,
    /// Values the group future collected and `try_next` has not returned, in completion order.
    pub(crate) collected: VecDeque<Id>,
    /// Values `try_next` returned.
    pub(crate) taken: HashSet<Id>,
    /// `run_until` calls made.
    pub(crate) runs_until: usize,
}

impl Driver {
    pub(crate) fn new(script: &Script) -> Self {
        #[cfg_attr(not(feature = "std"), allow(unused_mut))]
        let mut group = match script.limit {
            Some(limit) => Group::with_limit(limit),
            None => Group::new(),
        };
        #[cfg(feature = "std")]
        if script.catch_panics {
            group = group.catch_panics();
        }
        let handle = group.handle();
        let token = group.token();
        let (waker, wakes) = new_count_waker();
        Driver {
            world: Arc::default(),
            group: Some(group),
            handle,
            token,
            waker,
            wakes,
            wakes_at_poll: 0,
            must_poll: true,
            limit: script.limit,
            catch_panics: script.catch_panics,
            finished: false,
            cause: None,
            collected: VecDeque::new(),
            taken: HashSet::new(),
            runs_until: 0,
        }
    }

    pub(crate) fn log(&self, event: Event) {
        lock(&self.world).events.push(event);
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        lock(&self.world).events.clone()
    }

    pub(crate) fn task(&self, spec: &Task) -> ScriptTask {
        ScriptTask::new(spec, &self.world, &self.handle, &self.token)
    }

    pub(crate) fn woken(&self) -> bool {
        self.must_poll || self.wakes.get() > self.wakes_at_poll
    }

    pub(crate) fn run(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Poll { only_if_woken } => {
                if self.group.is_some() {
                    if !only_if_woken || self.woken() || self.finished {
                        self.poll_group()?;
                    } else {
                        self.probe()?;
                    }
                }
            }
            Op::TryNext => {
                if self.group.is_some() {
                    self.poll_try_next()?;
                }
            }
            Op::Open(n) => self.open(*n),
            Op::Push(spec) => self.push(spec)?,
            Op::HandlePush(spec) => self.handle_push(spec)?,
            Op::Cancel => {
                if let Some(group) = self.group.as_mut() {
                    group.cancel();
                    if !self.finished {
                        self.end(Cause::Cancelled);
                        self.collected.clear();
                    }
                }
            }
            Op::CancelOn => {
                if let Some(group) = self.group.as_mut() {
                    let gate = {
                        let mut w = lock(&self.world);
                        w.gates.push(Gate {
                            open: false,
                            waker: None,
                            waiter: None,
                        });
                        w.gates.len() - 1
                    };
                    group.cancel_on(StopFuture {
                        world: Arc::clone(&self.world),
                        gate,
                    });
                    // Like a push, it does not wake the group: the next poll polls it.
                    self.must_poll = true;
                }
            }
            Op::RunUntil { fut, opens } => {
                if self.group.is_some() {
                    self.run_until(fut, opens)?;
                }
            }
        }
        self.check()
    }

    pub(crate) fn push(&mut self, spec: &Task) -> Result<(), String> {
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        let task = ScriptTask::new(spec, &self.world, &self.handle, &self.token);
        let id = task.id;
        match support::quietly(|| group.push(task)) {
            Ok(()) if !self.finished => {
                self.log(Event::Pushed(id));
                self.must_poll = true;
                Ok(())
            }
            Ok(()) => Err(format!(
                "push of task {id} into a finished group did not panic"
            )),
            Err(payload) => {
                let text = payload_text(&*payload);
                if !self.finished || !text.contains("already finished") {
                    return Err(format!("push of task {id} panicked: {text}"));
                }
                self.log(Event::PushPanicked(id));
                Ok(())
            }
        }
    }

    pub(crate) fn handle_push(&mut self, spec: &Task) -> Result<(), String> {
        let task = self.task(spec);
        let id = task.id;
        let result = self.handle.push(task);
        let accepted = result.is_ok();
        if let Err(refused) = result {
            if !refused.is_closed() {
                return Err(format!("handle push of task {id} refused but not closed"));
            }
        }
        self.log(Event::HandlePushed {
            id,
            accepted,
            from_task: false,
            from_fut: false,
        });
        if accepted == self.finished {
            return Err(format!(
                "handle push of task {id}: accepted = {accepted}, but the group finished = {}",
                self.finished
            ));
        }
        Ok(())
    }

    /// Opens the `n % count`-th closed gate and wakes whoever waits on it.
    pub(crate) fn open(&mut self, n: usize) {
        open_gate(&self.world, n);
    }

    pub(crate) fn begin_poll(&mut self, receiving: bool) -> usize {
        let mut w = lock(&self.world);
        w.events.push(Event::PollBegin { receiving });
        self.wakes_at_poll = self.wakes.get();
        self.must_poll = false;
        w.events.len()
    }

    /// After a poll that returned `Pending` without waking the caller, no task is left that woke
    /// and was not polled since: nothing would poll it before something else wakes the caller.
    pub(crate) fn check_woken_tasks_were_polled(&self) -> Result<(), String> {
        if self.wakes.get() != self.wakes_at_poll {
            return Ok(());
        }
        let left = woken_and_not_polled(&lock(&self.world).events);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "a poll returned Pending without waking the caller, but tasks {left:?} woke and \
                 were not polled"
            ))
        }
    }

    /// Whether the stop future of `cancel_on` completed since `start`.
    pub(crate) fn stopped_since(&self, start: usize) -> bool {
        lock(&self.world).events[start..]
            .iter()
            .any(|e| matches!(e, Event::StopFired))
    }

    /// A poll in which the stop future completed: it returned the stop's error (`stopped`),
    /// polled no task (the stop is polled first in a pass, and wins), and the group has ended,
    /// cancelled.
    pub(crate) fn ended_by_stop(
        &mut self,
        start: usize,
        stopped: bool,
        what: &str,
    ) -> Result<(), String> {
        if !stopped {
            return Err(format!(
                "{what}: the stop future completed, but the poll did not return its error"
            ));
        }
        if lock(&self.world).events[start..]
            .iter()
            .any(|e| matches!(e, Event::Polled(_)))
        {
            return Err(format!(
                "{what}: the stop future completed, yet a task was polled"
            ));
        }
        self.end(Cause::Cancelled);
        self.collected.clear();
        Ok(())
    }

    /// Completions logged since `start`, in order.
    pub(crate) fn completions_since(&self, start: usize) -> Vec<(Id, End)> {
        lock(&self.world).events[start..]
            .iter()
            .filter_map(|e| match e {
                Event::Completed(id, end) => Some((*id, *end)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn events_since(&self, start: usize) -> usize {
        lock(&self.world).events.len() - start
    }

    /// Checks that `result` is the failure the completion `(id, end)` must surface as.
    pub(crate) fn check_failure<T: std::fmt::Debug>(
        &self,
        result: Result<Poll<Result<T, Failure>>, Box<dyn std::any::Any + Send>>,
        failed: Option<(Id, End)>,
        what: &str,
    ) -> Result<(), String> {
        match (result, failed) {
            (Ok(Poll::Ready(Err(Failure::Task(e)))), Some((id, End::Err))) if e == id => Ok(()),
            (Ok(Poll::Ready(Err(Failure::Panicked(e)))), Some((id, End::Panic)))
                if e == id && self.catch_panics =>
            {
                Ok(())
            }
            (Err(payload), Some((id, End::Panic))) if !self.catch_panics => {
                match payload.downcast_ref::<TaskPanic>() {
                    Some(TaskPanic(p)) if *p == id => Ok(()),
                    _ => Err(format!(
                        "{what}: task {id} panicked but the poll unwound with {}",
                        payload_text(&*payload)
                    )),
                }
            }
            (Err(payload), _) => Err(format!(
                "{what}: unexpected panic {}",
                payload_text(&*payload)
            )),
            (Ok(poll), failed) => Err(format!(
                "{what}: returned {poll:?}, but the failing completion was {failed:?}"
            )),
        }
    }

    pub(crate) fn poll_group(&mut self) -> Result<(), String> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let group = self.group.as_mut().expect("group present");
        if self.finished {
            let start = lock(&self.world).events.len();
            let result = support::quietly(|| Pin::new(&mut *group).poll(&mut cx));
            if self.events_since(start) != 0 {
                return Err("polling a finished group touched its tasks".into());
            }
            let said = match self.cause {
                Some(Cause::Finished) => "polled after it completed",
                Some(Cause::Cancelled) => "polled after it was cancelled",
                _ => "polled after it failed",
            };
            return match result {
                Err(p) if payload_text(&*p).contains(said) => Ok(()),
                Err(p) => Err(format!("finished group poll: panic {}", payload_text(&*p))),
                Ok(poll) => Err(format!("finished group poll returned {poll:?}, no panic")),
            };
        }
        let start = self.begin_poll(true);
        let group = self.group.as_mut().expect("group present");
        let result = support::quietly(|| Pin::new(&mut *group).poll(&mut cx));
        self.log(Event::PollEnd);
        if self.stopped_since(start) {
            let stopped = matches!(result, Ok(Poll::Ready(Err(Failure::Stopped))));
            return self.ended_by_stop(start, stopped, "group poll");
        }
        let completions = self.completions_since(start);
        let failed = completions.iter().copied().find(|&(_, end)| end != End::Ok);
        if let Some(pos) = completions.iter().position(|&(_, end)| end != End::Ok) {
            if pos + 1 != completions.len() {
                return Err(format!(
                    "group poll: completions after a failure: {completions:?}"
                ));
            }
        }
        match result {
            Ok(Poll::Pending) if failed.is_none() => {
                self.collected.extend(completions.iter().map(|&(id, _)| id));
                self.check_woken_tasks_were_polled()
            }
            Ok(Poll::Ready(Ok(values))) if failed.is_none() => {
                self.end(Cause::Finished);
                self.collected.clear();
                self.check_output(&values)
            }
            result => {
                self.check_failure(result, failed, "group poll")?;
                self.end_failed(failed);
                Ok(())
            }
        }
    }

    pub(crate) fn poll_try_next(&mut self) -> Result<(), String> {
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        if self.finished {
            let start = lock(&self.world).events.len();
            let group = self.group.as_mut().expect("group present");
            let result = support::quietly(|| Pin::new(&mut group.try_next()).poll(&mut cx));
            if self.events_since(start) != 0 {
                return Err("try_next on a finished group touched its tasks".into());
            }
            return match result {
                Ok(Poll::Ready(Ok(None))) => Ok(()),
                Ok(poll) => Err(format!("try_next on a finished group returned {poll:?}")),
                Err(p) => Err(format!(
                    "try_next on a finished group: {}",
                    payload_text(&*p)
                )),
            };
        }
        let oldest = self.collected.front().copied();
        let start = self.begin_poll(oldest.is_none());
        let group = self.group.as_mut().expect("group present");
        let result = support::quietly(|| Pin::new(&mut group.try_next()).poll(&mut cx));
        self.log(Event::PollEnd);
        let completions = self.completions_since(start);
        if let Some(oldest) = oldest {
            if !completions.is_empty() {
                return Err(format!(
                    "try_next with collected value {oldest} pending completed {completions:?}"
                ));
            }
            return match result {
                Ok(Poll::Ready(Ok(Some(v)))) if v == oldest => {
                    self.collected.pop_front();
                    self.taken.insert(v);
                    self.must_poll = true;
                    Ok(())
                }
                other => Err(format!(
                    "try_next returned {:?}, expected the collected value {oldest}",
                    other.map_err(|p| payload_text(&*p))
                )),
            };
        }
        if self.stopped_since(start) {
            let stopped = matches!(result, Ok(Poll::Ready(Err(Failure::Stopped))));
            return self.ended_by_stop(start, stopped, "try_next");
        }
        let outstanding = self.outstanding();
        match (result, completions.as_slice()) {
            (Ok(Poll::Ready(Ok(Some(v)))), [(id, End::Ok)]) if v == *id => {
                self.taken.insert(v);
                self.must_poll = true;
                Ok(())
            }
            (Ok(Poll::Ready(Ok(None))), []) if outstanding.is_empty() => {
                self.must_poll = true;
                Ok(())
            }
            (Ok(Poll::Pending), []) if !outstanding.is_empty() => {
                self.check_woken_tasks_were_polled()
            }
            (result, &[failed]) if failed.1 != End::Ok => {
                self.check_failure(result, Some(failed), "try_next")?;
                self.end_failed(Some(failed));
                Ok(())
            }
            (result, completions) => Err(format!(
                "try_next returned {:?} with completions {completions:?} and unfinished tasks \
                 {outstanding:?}",
                result.map_err(|p| payload_text(&*p))
            )),
        }
    }

    /// `run_until(fut)`, polled once, then once more after each gate in `opens` is opened, and
    /// dropped if it has not returned by then. Each poll polls `fut` exactly once (while it has
    /// not completed), then the tasks:
    ///
    /// - `Ok(fut's output)` exactly when `fut` completed in the poll, and then no task was polled
    ///   in it; the group is left as it was;
    /// - the first error (or panic) exactly when a task failed in the poll, with `fut` dropped
    ///   before the poll returned; the group has failed as under `.await`;
    /// - `Pending` otherwise, the values that completed kept for `try_next` and the group future.
    ///
    /// On a finished group only `fut` runs. `fut` is dropped exactly once in every case.
    pub(crate) fn run_until(&mut self, spec: &Task, opens: &[usize]) -> Result<(), String> {
        let fut = ScriptTask::new_fut(spec, &self.world, &self.handle, &self.token);
        let mut group = self.group.take().expect("group present");
        let outcome = self.drive_run_until(&mut group, fut, opens);
        // A group that ran out of tasks during `run_until` stays open, where the group future
        // would have returned: only the next poll can tell, and what polls the group next is a
        // new future (the group future, `try_next`), which is polled at least once. Otherwise
        // the group must be left as a `Pending` group-future poll leaves it, every task having
        // been polled since it was last woken, which the next unwoken poll checks.
        if group.is_empty() && !group.is_terminated() {
            self.must_poll = true;
        }
        self.group = Some(group);
        let drops = self
            .events()
            .iter()
            .filter(|e| matches!(e, Event::FutDropped))
            .count();
        outcome?;
        if drops != self.runs_until {
            return Err(format!(
                "{drops} run_until futures dropped after {} run_until calls",
                self.runs_until
            ));
        }
        Ok(())
    }

    pub(crate) fn drive_run_until(
        &mut self,
        group: &mut Group,
        fut: ScriptTask,
        opens: &[usize],
    ) -> Result<(), String> {
        self.runs_until += 1;
        // A new future: its first poll is made whatever the waker says.
        self.must_poll = true;
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        let mut run = group.run_until(fut);
        for k in 0..=opens.len() {
            if k > 0 {
                self.open(opens[k - 1]);
            }
            let finished_before = self.finished;
            let woken = self.woken();
            let start = self.begin_poll(false);
            let result = support::quietly(|| Pin::new(&mut run).poll(&mut cx));
            self.log(Event::PollEnd);
            let events = lock(&self.world).events[start..].to_vec();
            let moved = progress(&events);
            if !woken && !moved.is_empty() {
                return Err(format!(
                    "lost wake-up: run_until was not woken, yet a poll found work (tasks \
                     {moved:?}, {} for its future): {events:?}",
                    Id::MAX
                ));
            }
            let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
            let fut_polls = count(|e| matches!(e, Event::FutPolled));
            let fut_done = count(|e| matches!(e, Event::FutCompleted)) == 1;
            let fut_dropped = count(|e| matches!(e, Event::FutDropped)) == 1;
            if fut_polls != 1 {
                return Err(format!(
                    "a run_until poll polled its future {fut_polls} times"
                ));
            }
            if let Some(Event::HandlePushed { id, accepted, .. }) = events.iter().find(|e| {
                matches!(e, Event::HandlePushed { from_fut: true, accepted, .. }
                    if *accepted == finished_before)
            }) {
                return Err(format!(
                    "the run_until future's push of task {id}: accepted = {accepted}, but the \
                     group had finished = {finished_before}"
                ));
            }
            let completions = self.completions_since(start);
            let failed = completions.iter().copied().find(|&(_, end)| end != End::Ok);
            if let Some(pos) = completions.iter().position(|&(_, end)| end != End::Ok) {
                if pos + 1 != completions.len() {
                    return Err(format!(
                        "run_until: completions after a failure: {completions:?}"
                    ));
                }
            }
            if finished_before && count(|e| matches!(e, Event::Polled(_))) != 0 {
                return Err("run_until on a finished group polled a task".into());
            }
            if self.stopped_since(start) {
                let stopped = matches!(result, Ok(Poll::Ready(Err(Failure::Stopped))));
                if stopped && !fut_dropped {
                    return Err(
                        "run_until returned the stop's error before dropping its future".into(),
                    );
                }
                self.ended_by_stop(start, stopped, "run_until")?;
                return self.check();
            }
            match result {
                Ok(Poll::Pending) if failed.is_none() && !fut_done => {
                    self.collected.extend(completions.iter().map(|&(id, _)| id));
                    self.check_woken_tasks_were_polled()?;
                }
                Ok(Poll::Ready(Ok(Ok(Id::MAX)))) if fut_done => {
                    if count(|e| matches!(e, Event::Polled(_))) != 0 {
                        return Err(format!(
                            "run_until returned the future's output but polled tasks: {events:?}"
                        ));
                    }
                    // Tasks woken before this poll were not polled in it.
                    self.must_poll = true;
                    return self.check();
                }
                result => {
                    if fut_done {
                        return Err(format!(
                            "run_until: its future completed but it returned {:?}",
                            result.map_err(|p| payload_text(&*p))
                        ));
                    }
                    let is_error = matches!(result, Ok(Poll::Ready(Err(_))));
                    self.check_failure(result, failed, "run_until")?;
                    if is_error && !fut_dropped {
                        return Err("run_until returned an error before dropping its future".into());
                    }
                    self.end_failed(failed);
                    return self.check();
                }
            }
            self.check()?;
        }
        // Not returned yet: dropping it part-way drops the future and nothing else.
        let start = lock(&self.world).events.len();
        drop(run);
        let events = lock(&self.world).events[start..].to_vec();
        if !matches!(events.as_slice(), [Event::FutDropped]) {
            return Err(format!(
                "dropping a RunUntil did more than drop its future: {events:?}"
            ));
        }
        Ok(())
    }

    pub(crate) fn drop_group(&mut self) -> Result<(), String> {
        if let Some(group) = self.group.take() {
            support::quietly(|| drop(group))
                .map_err(|p| format!("drop panicked: {}", payload_text(&*p)))?;
            self.end(Cause::Dropped);
        }
        self.check()
    }

    /// After the script: poll only when woken, open the remaining gates one at a time, until
    /// the group returns.
    pub(crate) fn drain(&mut self) -> Result<(), String> {
        for _ in 0..100_000 {
            if self.finished || self.group.is_none() {
                return Ok(());
            }
            if self.woken() {
                self.poll_group()?;
            } else if self.probe()? {
                self.open(0);
            } else {
                return Err(format!(
                    "stuck: the group returned Pending, was not woken, and no gate is left \
                     (unfinished tasks {:?})",
                    self.outstanding()
                ));
            }
            self.check()?;
        }
        Err("the group did not finish after 100 000 driver steps".into())
    }

    /// Polls a group whose waker was not woken since it last returned `Pending`. Such a poll
    /// must find nothing to do (it may poll tasks, which the `Future` contract allows, but no
    /// task may start, advance, push or complete): otherwise a wake-up was lost, and an executor
    /// that polls only when woken would stall. `Ok(true)` when a gate is left to open.
    pub(crate) fn probe(&mut self) -> Result<bool, String> {
        let start = lock(&self.world).events.len();
        self.poll_group()?;
        let events = lock(&self.world).events[start..].to_vec();
        let progress = progress(&events);
        if !progress.is_empty() || self.finished {
            return Err(format!(
                "lost wake-up: the group was not woken, yet a poll found work \
                 (tasks {progress:?}): {events:?}"
            ));
        }
        Ok(lock(&self.world).gates.iter().any(|g| !g.open))
    }

    pub(crate) fn states(&self) -> Vec<TaskState> {
        let w = lock(&self.world);
        states_of(&w.events, w.next_id)
    }

    /// Accepted tasks that have not completed.
    pub(crate) fn outstanding(&self) -> Vec<Id> {
        self.states()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.accepted && s.end.is_none())
            .map(|(id, _)| id)
            .collect()
    }

    /// The invariants that hold after every step.
    /// The group has ended; the first cause is the one that stays.
    pub(crate) fn end(&mut self, cause: Cause) {
        self.finished = true;
        self.cause.get_or_insert(cause);
    }

    /// The group has ended with the failing completion `failed`.
    pub(crate) fn end_failed(&mut self, failed: Option<(Id, End)>) {
        self.end(match failed {
            Some((_, End::Panic)) => Cause::Panicked,
            _ => Cause::Failed,
        });
    }
}

/// Opens the `n % count`-th closed gate (no-op when none is) and wakes whoever waits on it.
pub(crate) fn open_gate(world: &Mutex<World>, n: usize) {
    let waker = {
        let mut w = lock(world);
        let closed: Vec<usize> = (0..w.gates.len()).filter(|&g| !w.gates[g].open).collect();
        if closed.is_empty() {
            return;
        }
        let gate = &mut w.gates[closed[n % closed.len()]];
        gate.open = true;
        let waker = gate.waker.take();
        if let (Some(id), Some(_)) = (gate.waiter, &waker) {
            w.events.push(Event::Woken(id));
        }
        waker
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Runs a script against the model; `Err` describes the first discrepancy, `Ok` holds the log.
pub(crate) fn run(script: &Script) -> Result<Vec<Event>, String> {
    let mut driver = Driver::new(script);
    for spec in &script.initial {
        driver.push(spec)?;
    }
    driver.check()?;
    for (i, op) in script.ops.iter().enumerate() {
        if script.drop_at == Some(i) {
            driver.drop_group()?;
        }
        driver
            .run(op)
            .map_err(|e| format!("at op {i} ({op:?}): {e}"))?;
    }
    driver.drain().map_err(|e| format!("draining: {e}"))?;
    driver.drop_group()?;
    // Stale wakers (kept by the test's gates) are harmless once the group is gone.
    let wakers: Vec<Waker> = lock(&driver.world)
        .gates
        .iter_mut()
        .filter_map(|g| g.waker.take())
        .collect();
    wakers.into_iter().for_each(Waker::wake);
    let states = driver.states();
    if let Some(id) = (0..states.len()).find(|&id| states[id].drops != 1) {
        return Err(format!(
            "task {id} dropped {} times in the end",
            states[id].drops
        ));
    }
    Ok(driver.events())
}

/// The stop future of `Op::CancelOn`: waits at its gate, then returns `Failure::Stopped`.
pub(crate) struct StopFuture {
    world: Arc<Mutex<World>>,
    gate: usize,
}

impl Future for StopFuture {
    type Output = Failure;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Failure> {
        let mut w = lock(&self.world);
        if w.gates[self.gate].open {
            w.events.push(Event::StopFired);
            return Poll::Ready(Failure::Stopped);
        }
        w.gates[self.gate].waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
