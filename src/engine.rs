//! The core both fronts share: [`ErrGroup`](crate::ErrGroup) and
//! [`LocalErrGroup`](crate::LocalErrGroup) differ only in the box their tasks come in.
//!
//! # Design
//!
//! A group is a plain value that owns its tasks. Polling the group polls the tasks, in place, on
//! the caller's task: nothing is spawned, so tasks may borrow from the caller's stack, and
//! dropping a task is the only way it is ever stopped. Tasks are boxed (`F` is
//! `Pin<Box<dyn Future>>`, with or without `Send`), so one group holds futures of many types.
//!
//! ```text
//!  push ──► waiting (VecDeque, FIFO) ──refill──► running (Running<Indexed<F>>)
//!    ▲                                               │ (index, Ok(v))      │ (index, Err(e))
//!  inbox (Handle pushes, any thread)                 ▼                     ▼
//!                                      kept (completion order) ──► Vec<T> in push order
//!                                                                 terminate(): drop all
//! ```
//!
//! Each task gets an `index` when the group receives it (push order; handle pushes in arrival
//! order). A finished task's value is kept in completion order (`Kept`), so `try_next` can hand
//! back the oldest, and the final `Vec` is sorted by index.
//!
//! # The pass
//!
//! Every outside poll that polls tasks (the group future, `try_next`, `run_until`) goes through
//! [`Core::drive`]: one pass of the running set, between `start_pass`, which takes the wake-ups
//! that came in since the last pass, and `end_pass`, which registers the caller's waker. The
//! pass ends (`end_pass`) exactly when the drive returns without handing out a value and the group
//! is still open: a poll that returns a value, or ends the group, leaves its caller nothing to
//! wait for, and the next pass takes whatever woke meanwhile. A `select!` loop that goes on
//! waiting on the group after a value polls its `try_next` once more first (see
//! [`Core::has_nothing_next`]), and that poll's pass ends. The stop future of `cancel_on` is
//! polled at the start of a pass, before any task. How a wake-up reaches a task is
//! [`crate::running`]'s business.
//!
//! # How a panic leaves the group
//!
//! The token fires and handles are refused before any task, the panicking one included, is
//! dropped. With `std`, [`Indexed`] catches the task's panic and hands it back with the task, as
//! an [`Outcome::Panicked`]; the core terminates the group, drops that task last, then resumes
//! the panic (or, with `catch_panics`, returns it as the error). While a group that catches
//! panics, or one whose task panicked, drops its tasks, each destructor runs inside
//! `catch_unwind`: a second panic is swallowed, and the first error or panic is the one that
//! carries on. A panic elsewhere during a poll (a completed task's destructor), and every panic
//! without `std`, unwinds through `TerminateOnUnwind`, which terminates the group on the way.
//!
//! # Invariants
//!
//! - `waiting` is non-empty only while `running.len() >= limit`: a task waits only when it cannot
//!   start, and waiting tasks start in FIFO order (`refill` after every completion, in
//!   `set_limit`, and `push` never overtakes the queue).
//! - Once `ended` is set (first error, panic, drop, or the group future's `Ready`: the token's
//!   [`Cause`]), the group holds no task, its token has fired with that cause and its inbox is
//!   closed (in that order); nothing starts again, and the cause never changes.
//! - `inbox` and `token` are created on first use (`handle()`, `token()`), so a group that uses
//!   neither pays for neither.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, OnceCell};
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::task::waker_ref;

use crate::handle::Inbox;
use crate::kept::{fit, Kept};
use crate::running::Running;
use crate::task::{Indexed, Outcome};
use crate::token::CancelToken;
use crate::waker::{BitWaker, INBOX, STOP};
use crate::Cause;
#[cfg(feature = "std")]
use crate::Panicked;

pub(crate) struct Core<F, T, E> {
    running: Running<Indexed<F>>,
    waiting: VecDeque<Indexed<F>>,
    kept: Kept<T>,
    /// The index the next task gets: counting from 1, and from 1 again after `usize::MAX`.
    next_index: NonZeroUsize,
    limit: Option<NonZeroUsize>,
    /// Why the group ended, once it has (see the invariants).
    ended: Option<Cause>,
    inbox: OnceCell<Arc<Inbox<F>>>,
    token: OnceCell<CancelToken>,
    /// What ends the group on purpose when it completes (`cancel_on`), boxed as a task is: it
    /// yields the group's error and never `Ok`.
    stop: Option<Box<Stop<F>>>,
    /// The last poll was a `try_next` that found no task, and ended its pass by registering the
    /// caller's waker: a push through a handle wakes whoever polled it (see `has_nothing_next`).
    armed: bool,
    /// A handle was made since the stream last saw every handle gone: the stream waits for
    /// handles, where `try_next` does not (see `poll_stream_next`). A `Cell` because handles are
    /// made through `&self`; the core is not `Sync`, so only its owner's thread touches it.
    handles_out: Cell<bool>,
    #[cfg(feature = "std")]
    on_panic: Option<fn(Panicked) -> E>,
    _error: PhantomData<fn() -> E>,
}

/// The stop future of `cancel_on`, polled with the waker of the readiness word's [`STOP`] bit:
/// at the first pass after it was set, then only when that bit is set.
struct Stop<F> {
    fut: Indexed<F>,
    waker: Option<Arc<BitWaker>>,
    due: bool,
}

/// What a [`Core::drive`] is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `try_next`: the first value that completes.
    Next,
    /// `run_until`: keep what completes; an empty group stays open.
    Keep,
    /// The group future: keep what completes, and finish once nothing is left.
    Finish,
}

/// How a [`Core::drive`] ended.
enum Drove<T, E> {
    /// `Mode::Next`: a task's value.
    Value(T),
    /// A task failed; the group has ended.
    Failed(E),
    /// `Mode::Finish`: no task is left; the group has ended with these values, in push order.
    Finished(Vec<T>),
    /// No task is left, none is on its way through a handle, and the group is still open.
    Empty,
    /// Some task is pending (or the budget ran out, and the caller has been woken).
    Pending,
}

impl<F, T, E> Core<F, T, E>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    pub(crate) const fn new(limit: Option<NonZeroUsize>) -> Self {
        Core {
            running: Running::new(),
            waiting: VecDeque::new(),
            kept: Kept::new(),
            next_index: NonZeroUsize::MIN,
            limit,
            ended: None,
            inbox: OnceCell::new(),
            token: OnceCell::new(),
            stop: None,
            armed: false,
            handles_out: Cell::new(false),
            #[cfg(feature = "std")]
            on_panic: None,
            _error: PhantomData,
        }
    }

    /// Ends the group when `stop` completes, with its error (an `Err` it returns; it never
    /// returns `Ok`), before any task that completes in the same pass. A second stop ends the
    /// group at the first of the two: the front combines them into one before it comes here.
    pub(crate) fn cancel_on(&mut self, stop: F) {
        if self.is_finished() {
            // Nothing left to stop.
            return;
        }
        self.stop = Some(Box::new(Stop {
            fut: Indexed::new(NonZeroUsize::MAX, stop),
            waker: None,
            due: true,
        }));
    }

    /// The stop future set by `cancel_on`, taken out (to be combined with another).
    pub(crate) fn take_stop(&mut self) -> Option<F> {
        self.stop.take().and_then(|stop| stop.fut.into_inner())
    }

    /// Ends the group now, on purpose: the token fires with [`Cause::Cancelled`], handles are
    /// refused, every task is dropped. Nothing happens to a group that has ended.
    pub(crate) fn cancel(&mut self) {
        self.terminate(Cause::Cancelled);
    }

    /// Results that finished and are kept for `try_next` and the group future.
    pub(crate) fn kept(&self) -> usize {
        self.kept.len()
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit.map(NonZeroUsize::get)
    }

    pub(crate) fn set_limit(&mut self, limit: Option<NonZeroUsize>) {
        self.limit = limit;
        self.refill();
    }

    #[cfg(feature = "std")]
    pub(crate) fn set_on_panic(&mut self, on_panic: fn(Panicked) -> E) {
        self.on_panic = Some(on_panic);
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.ended.is_some()
    }

    /// Whether `try_next` has nothing to wait for: the group has ended, or it holds no task and
    /// no kept result, and no push can come in unseen. Like `FuturesUnordered`'s
    /// `is_terminated`, so `futures::select!` skips a group that is empty for a moment, and takes
    /// it again once something is pushed.
    ///
    /// A push through a handle wakes the waker of whoever polled the group last; a `select!` that
    /// skips the group polls it not at all. So while a handle may push, an empty group counts as
    /// terminated only once a `try_next` has found it empty (and registered its caller's waker):
    /// a `select!` loop polls it once, gets `Ok(None)`, and from then on sleeps until a push
    /// wakes it, whether or not the group was ever polled before.
    pub(crate) fn has_nothing_next(&self) -> bool {
        if self.is_finished() {
            return true;
        }
        let unseen = self
            .inbox
            .get()
            .is_some_and(|inbox| Arc::weak_count(inbox) > 0 && !self.armed);
        self.len() == 0 && self.kept.is_empty() && !unseen
    }

    pub(crate) fn len(&self) -> usize {
        if self.is_finished() {
            // Pushes that raced a failure still hold reservations; their tasks are gone.
            return 0;
        }
        let inbox = self.inbox.get().map_or(0, |inbox| inbox.len());
        self.running.len() + self.waiting.len() + inbox
    }

    fn under_limit(&self) -> bool {
        self.limit
            .map_or(true, |limit| self.running.len() < limit.get())
    }

    /// Whether a task pushed now would be polled on the next poll (Go's `TryGo` condition).
    pub(crate) fn can_start(&self) -> bool {
        !self.is_finished() && self.waiting.is_empty() && self.under_limit()
    }

    /// Adds a task; panics if the group has finished.
    #[track_caller]
    pub(crate) fn push(&mut self, task: F, caller: &str) {
        if self.is_finished() {
            pushed_into_finished(caller);
        }
        self.enqueue(task);
    }

    #[inline]
    fn enqueue(&mut self, task: F) {
        let index = self.next_index;
        self.next_index =
            NonZeroUsize::new(index.get().wrapping_add(1)).unwrap_or(NonZeroUsize::MIN);
        let task = Indexed::new(index, task);
        if self.waiting.is_empty() && self.under_limit() {
            self.running.push(task);
        } else {
            self.waiting.push_back(task);
        }
    }

    /// Starts waiting tasks while there is room.
    fn refill(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        while self.under_limit() {
            match self.waiting.pop_front() {
                Some(task) => self.running.push(task),
                None => break,
            }
        }
        if self.waiting.is_empty() {
            self.waiting = VecDeque::new();
        } else {
            fit(&mut self.waiting);
        }
    }

    pub(crate) fn token(&self) -> CancelToken {
        self.token
            .get_or_init(|| CancelToken::new(self.ended))
            .clone()
    }

    pub(crate) fn inbox(&self) -> Weak<Inbox<F>> {
        self.handles_out.set(!self.is_finished());
        match self.inbox.get() {
            Some(inbox) => Arc::downgrade(inbox),
            // A finished group never receives again: a dangling `Weak` refuses every push.
            None if self.is_finished() => Weak::new(),
            None => Arc::downgrade(
                self.inbox
                    .get_or_init(|| Arc::new(Inbox::new(self.running.readiness()))),
            ),
        }
    }

    /// Moves tasks pushed through handles into the group, at most as many as were queued when
    /// the call began (a producer pushing faster than we drain cannot keep us here).
    fn receive(&mut self) {
        let Some(inbox) = self.inbox.get() else {
            return;
        };
        for _ in 0..inbox.queued() {
            // Borrowed anew for each task (`enqueue` needs `&mut self`), not cloned: a clone
            // would cost two atomic operations.
            match self.inbox.get().and_then(|inbox| inbox.pop()) {
                Some(task) => self.enqueue(task),
                None => break,
            }
        }
    }

    /// Polls the running tasks once. A task's panic ends the group: the token fires and handles
    /// are refused, every task is dropped (the panicking one last), and then the panic carries on
    /// to the caller, or becomes the group's error with `catch_panics`. A task's error ends the
    /// group too.
    #[inline]
    fn poll_running(&mut self) -> Poll<Option<Result<(usize, T), E>>> {
        #[cfg(feature = "std")]
        if let Some(on_panic) = self.on_panic {
            // What `Indexed` does not catch: a panic in a completed task's destructor.
            let poll =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.poll_running_once()));
            return match poll {
                Ok(poll) => poll,
                Err(payload) => {
                    self.terminate(Cause::Panicked);
                    Poll::Ready(Some(Err(on_panic(Panicked::new(payload)))))
                }
            };
        }
        self.poll_running_once()
    }

    #[inline]
    fn poll_running_once(&mut self) -> Poll<Option<Result<(usize, T), E>>> {
        // A panic that unwinds through the set (without `std`, or from a destructor) ends the
        // group on its way out.
        let guard = TerminateOnUnwind(self);
        let poll = guard.0.running.poll_next();
        core::mem::forget(guard);
        match poll {
            Poll::Ready(Some((index, outcome))) => Poll::Ready(Some(
                self.settle(outcome, Cause::Failed)
                    .map(|value| (index, value)),
            )),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// What a task's (or the stop future's) outcome means for the group: a value, or the group's
    /// end with `cause` for an error, or with [`Cause::Panicked`] for a panic, which then carries
    /// on to the caller (or becomes the error with `catch_panics`).
    fn settle(&mut self, outcome: Outcome<Result<T, E>, F>, cause: Cause) -> Result<T, E> {
        match outcome {
            Outcome::Done(Ok(value), task) => {
                // Dropped before its value is handed on, as in a `FuturesUnordered`; a panic in
                // its destructor ends the group on its way out.
                let guard = TerminateOnUnwind(self);
                drop(task);
                core::mem::forget(guard);
                Ok(value)
            }
            Outcome::Done(Err(error), task) => {
                // Ended first, so its destructor runs after the token fired, as every other
                // task's does (and, with `catch_panics`, cannot replace its error).
                self.terminate(cause);
                let swallow = self.swallows_panics();
                dispose(task, swallow);
                Err(error)
            }
            #[cfg(feature = "std")]
            Outcome::Panicked(payload, task) => {
                self.terminate(Cause::Panicked);
                // Its destructor may panic too: the first panic is the one that carries on.
                dispose(task, true);
                match self.on_panic {
                    Some(on_panic) => Err(on_panic(Panicked::new(payload))),
                    None => std::panic::resume_unwind(payload),
                }
            }
            #[cfg(not(feature = "std"))]
            Outcome::Never(never, _) => match never {},
        }
    }

    /// Polls the stop future if it is due; `Some(error)` once it has ended the group.
    fn poll_stop(&mut self, woken: usize) -> Option<E> {
        let stop = self.stop.as_mut()?;
        if woken & STOP == 0 && !stop.due {
            return None;
        }
        stop.due = false;
        let readiness = self.running.readiness();
        let waker = stop
            .waker
            .get_or_insert_with(|| BitWaker::new(readiness, STOP));
        let outcome =
            match Pin::new(&mut stop.fut).poll(&mut Context::from_waker(&waker_ref(waker))) {
                Poll::Ready((_, outcome)) => outcome,
                Poll::Pending => return None,
            };
        self.stop = None;
        match self.settle(outcome, Cause::Cancelled) {
            Err(error) => Some(error),
            Ok(_) => unreachable!("a stop future never returns `Ok`"),
        }
    }

    /// One pass of the running set on behalf of an outside poll: every poll that polls tasks
    /// comes here (see "The pass" in the module docs).
    ///
    /// Tasks that arrive during the pass (through a handle, from the waiting queue) may complete
    /// in it too, but not without bound: past `len() + 1` results it wakes the caller and
    /// returns `Pending`, handing the thread back to the executor.
    fn drive(&mut self, cx: &mut Context<'_>, mode: Mode) -> Drove<T, E> {
        self.armed = false;
        let woken = self.running.start_pass();
        if let Some(error) = self.poll_stop(woken) {
            return Drove::Failed(error);
        }
        if woken & INBOX != 0 {
            self.receive();
        }
        // Counted down from `len() + 1`, taken at the first result: most passes see one.
        let mut budget = usize::MAX;
        let drove = loop {
            match self.poll_running() {
                Poll::Ready(Some(Ok((index, value)))) => {
                    self.refill();
                    if mode == Mode::Next {
                        return Drove::Value(value);
                    }
                    let expected = if self.kept.needs_room() {
                        self.len() + 1
                    } else {
                        0
                    };
                    self.kept.push(index, value, expected);
                    if budget == usize::MAX {
                        budget = self.len() + 2;
                    }
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        break Drove::Pending;
                    }
                }
                Poll::Ready(Some(Err(error))) => return Drove::Failed(error),
                Poll::Ready(None) => {
                    // No task is running, so none is waiting either; only the inbox may still
                    // hold work.
                    if let Some(inbox) = self.inbox.get() {
                        if self.running.readiness().take(INBOX) && inbox.queued() > 0 {
                            self.receive();
                            continue;
                        }
                        if !inbox.is_idle() {
                            // A push is between its reservation and its enqueue; it sets the
                            // inbox's bit when done, which wakes us.
                            break Drove::Pending;
                        }
                    }
                    if mode == Mode::Finish {
                        if self.inbox.get().is_some_and(|inbox| !inbox.try_close()) {
                            // A push reserved its place after we looked: run it first.
                            continue;
                        }
                        let kept = core::mem::replace(&mut self.kept, Kept::new());
                        self.terminate(Cause::Finished);
                        return Drove::Finished(kept.into_vec(self.next_index.get()));
                    }
                    break Drove::Empty;
                }
                Poll::Pending => break Drove::Pending,
            }
        };
        self.running.end_pass(cx.waker());
        drove
    }

    /// `try_next`: the next result in completion order.
    pub(crate) fn poll_try_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, E>> {
        if let Some(value) = self.kept.pop_front() {
            return Poll::Ready(Ok(Some(value)));
        }
        if self.is_finished() {
            return Poll::Ready(Ok(None));
        }
        match self.drive(cx, Mode::Next) {
            Drove::Value(value) => Poll::Ready(Ok(Some(value))),
            Drove::Failed(error) => Poll::Ready(Err(error)),
            Drove::Empty => {
                // The pass ended by registering the caller's waker: a push wakes it.
                self.armed = true;
                Poll::Ready(Ok(None))
            }
            Drove::Pending => Poll::Pending,
            Drove::Finished(_) => unreachable!("`try_next` does not finish the group"),
        }
    }

    /// The stream's next item. Unlike `try_next`, it does not end while a handle may still push:
    /// on an empty group with handles alive it stays pending (the pass registered the caller's
    /// waker), and a push or the last handle's drop wakes it. So once it has returned `None`,
    /// [`stream_ended`](Self::stream_ended) holds until the owner pushes or makes a handle,
    /// whatever other threads do: futures' `select_next_some` asserts exactly that.
    pub(crate) fn poll_stream_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, E>>> {
        match self.poll_try_next(cx) {
            Poll::Ready(Ok(None)) => {
                if self.handles_out.get() && !self.is_finished() {
                    let inbox = self.inbox.get().expect("handles come from the inbox");
                    // After the pass registered the waker: a handle dropped after this load
                    // wakes it (see the handles' `Drop`), and a push is seen by `is_idle`.
                    if Arc::weak_count(inbox) > 0 || !inbox.is_idle() {
                        return Poll::Pending;
                    }
                    self.handles_out.set(false);
                }
                Poll::Ready(None)
            }
            other => other.map(Result::transpose),
        }
    }

    /// Whether the stream has ended: the group has, or it holds no task and no kept result and
    /// no handle is out. Every input changes only through the owner, so the answer holds until
    /// the owner acts.
    pub(crate) fn stream_ended(&self) -> bool {
        self.is_finished()
            || (self.running.is_empty()
                && self.waiting.is_empty()
                && self.kept.is_empty()
                && !self.handles_out.get())
    }

    /// The group future: every remaining result in push order, or the first error.
    #[track_caller]
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>, name: &str) -> Poll<Result<Vec<T>, E>> {
        if let Some(cause) = self.ended {
            finished_group_polled(name, cause);
        }
        match self.drive(cx, Mode::Finish) {
            Drove::Finished(values) => Poll::Ready(Ok(values)),
            Drove::Failed(error) => Poll::Ready(Err(error)),
            Drove::Pending => Poll::Pending,
            Drove::Value(_) | Drove::Empty => unreachable!("the group future finishes the group"),
        }
    }

    /// `run_until`: polls `fut`, then the tasks; `Ok(output)` as soon as `fut` completes, the
    /// results that completed meanwhile kept (for `try_next` and the group future, each in its
    /// own order), or the first error at once. An empty group stays open (a handle may still
    /// push into it), and an ended one only runs `fut`.
    ///
    /// Each side is polled once per call at most as much as the group future would poll it:
    /// `fut` once, the tasks within [`drive`](Self::drive)'s budget, so neither a `fut` nor a
    /// task that keeps waking itself holds the executor's thread.
    pub(crate) fn poll_run_until<O>(
        &mut self,
        cx: &mut Context<'_>,
        fut: Pin<&mut impl Future<Output = O>>,
    ) -> Poll<Result<O, E>> {
        if let Poll::Ready(output) = fut.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if self.is_finished() {
            return Poll::Pending;
        }
        match self.drive(cx, Mode::Keep) {
            Drove::Failed(error) => Poll::Ready(Err(error)),
            Drove::Pending | Drove::Empty => Poll::Pending,
            Drove::Value(_) | Drove::Finished(_) => {
                unreachable!("`run_until` keeps what completes")
            }
        }
    }

    pub(crate) fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("len", &self.len())
            .field("running", &self.running.len())
            .field("waiting", &self.waiting.len())
            .field("kept", &self.kept.len())
            .field("limit", &self.limit)
            .field("stop", &self.stop.is_some())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A limit given by the user, checked: `Some(0)` panics (it must never become "no limit").
#[track_caller]
pub(crate) fn checked_limit(limit: Option<usize>, name: &str) -> Option<NonZeroUsize> {
    match limit {
        None => None,
        Some(n) => match NonZeroUsize::new(n) {
            Some(n) => Some(n),
            None => zero_limit(name),
        },
    }
}

/// The panic of a zero concurrency limit.
#[cold]
#[track_caller]
fn zero_limit(name: &str) -> ! {
    panic!(
        "{name}: the concurrency limit must be at least 1 \
         (a limit of 0 would never start a task; `None` means no limit)"
    )
}

/// The panic of a push into a group that has ended.
#[cold]
#[track_caller]
fn pushed_into_finished(caller: &str) -> ! {
    panic!(
        "{caller} called on a group that has already finished (its future returned, it failed, \
         or a task panicked); `try_push` and `Handle::push` hand the task back instead"
    )
}

/// The panic of a group future polled after its group ended, saying how it ended.
#[cold]
#[track_caller]
fn finished_group_polled(name: &str, cause: Cause) -> ! {
    match cause {
        Cause::Finished => panic!(
            "`{name}` polled after it completed: `.await` already returned its results \
             (to keep using a group, take results with `try_next` instead)"
        ),
        Cause::Failed | Cause::Panicked => panic!(
            "`{name}` polled after it failed: its first error was already returned \
             (by `try_next`, `run_until` or an earlier poll), and it holds no task"
        ),
        Cause::Cancelled => panic!(
            "`{name}` polled after it was cancelled: `cancel` or the future given to `cancel_on` \
             ended it, and it holds no task"
        ),
        Cause::Dropped => unreachable!("a dropped group cannot be polled"),
    }
}

/// Drops `value`; with `swallow` (and `std`), a panic in its destructor is caught and dropped.
fn dispose<X>(value: X, swallow: bool) {
    #[cfg(feature = "std")]
    if swallow {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)));
        return;
    }
    let _ = swallow;
    drop(value);
}

impl<F, T, E> Core<F, T, E> {
    /// Ends the group: cancel the token, refuse further pushes, drop every task.
    ///
    /// The token fires first, so work outside the group hears of the end as early as possible,
    /// before any task is dropped, and whatever a task's destructor does. Only then is the inbox
    /// closed: a push that reserved its place before the close and finds it closed drops its
    /// task itself, on its own thread, and by then the token has fired. Ending again (a failed
    /// group being dropped) keeps the first cause.
    fn terminate(&mut self, cause: Cause) {
        if self.ended.is_some() {
            // Ended before: the token has fired, the inbox is closed, and no task is left but one
            // a push that reserved its place before the close may have queued since.
            if let Some(inbox) = self.inbox.get() {
                let swallow = self.swallows_panics();
                while let Some(task) = inbox.pop_closed() {
                    dispose(task, swallow);
                }
            }
            return;
        }
        self.ended = Some(cause);
        if let Some(token) = self.token.get() {
            token.cancel(cause);
        }
        if let Some(inbox) = self.inbox.get() {
            inbox.close();
        }
        self.drop_tasks();
        // Wakers that tasks left behind may outlive the group: they no longer hold the caller's.
        self.running.release_caller();
    }

    /// Whether a panicking destructor is swallowed while the group drops its tasks: with
    /// `catch_panics`, whatever ended the group, and after a task's panic, whose payload is the
    /// one that carries on.
    fn swallows_panics(&self) -> bool {
        #[cfg(feature = "std")]
        {
            self.on_panic.is_some() || self.ended == Some(Cause::Panicked)
        }
        #[cfg(not(feature = "std"))]
        false
    }

    /// Drops every task: those in the inbox, waiting, running, and the kept values.
    ///
    /// A destructor may panic. Unless [`swallows_panics`](Self::swallows_panics), the panic
    /// unwinds, and the guard runs this again on the way out, so every other task is still
    /// dropped before the panic reaches the caller (a second panicking destructor aborts, as it
    /// does in a `Vec`).
    fn drop_tasks(&mut self) {
        let swallow = self.swallows_panics();
        let guard = DropTasksOnUnwind(self);
        let core = &mut *guard.0;
        if let Some(inbox) = core.inbox.get() {
            while let Some(task) = inbox.pop_closed() {
                dispose(task, swallow);
            }
        }
        if !core.waiting.is_empty() {
            let waiting = core::mem::take(&mut core.waiting);
            waiting.into_iter().for_each(|task| dispose(task, swallow));
        }
        if !core.running.is_empty() {
            core.running.drain(|task| dispose(task, swallow));
        }
        if !core.kept.is_empty() {
            dispose(core::mem::replace(&mut core.kept, Kept::new()), swallow);
        }
        if let Some(stop) = core.stop.take() {
            dispose(stop, swallow);
        }
        core::mem::forget(guard);
    }
}

impl<F, T, E> Drop for Core<F, T, E> {
    fn drop(&mut self) {
        self.terminate(Cause::Dropped);
    }
}

/// Terminates the group if a task's `poll` unwinds through it: the siblings are dropped, the
/// token fires and handles are refused, then the panic carries on to the caller.
struct TerminateOnUnwind<'c, F, T, E>(&'c mut Core<F, T, E>);

impl<F, T, E> Drop for TerminateOnUnwind<'_, F, T, E> {
    fn drop(&mut self) {
        self.0.terminate(Cause::Panicked);
    }
}

/// Finishes [`Core::drop_tasks`] if a destructor unwinds through it.
struct DropTasksOnUnwind<'c, F, T, E>(&'c mut Core<F, T, E>);

impl<F, T, E> Drop for DropTasksOnUnwind<'_, F, T, E> {
    fn drop(&mut self) {
        self.0.drop_tasks();
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use futures_util::future::BoxFuture;

    use super::Core;

    /// Returns `Pending` `n` times, waking itself each time, then `Ready`.
    fn yields(mut n: usize) -> impl Future<Output = ()> + Send {
        core::future::poll_fn(move |cx: &mut Context<'_>| {
            if n == 0 {
                return Poll::Ready(());
            }
            n -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    /// Push order survives the index wrapping around: a group whose counter starts just below
    /// `usize::MAX` gets results out of order and returns them in push order.
    #[test]
    fn push_order_survives_index_wrap_around() {
        let mut core: Core<BoxFuture<'static, Result<usize, ()>>, usize, ()> = Core::new(None);
        core.next_index = core::num::NonZeroUsize::new(usize::MAX - 2).unwrap();
        let n = 7;
        for i in 0..n {
            // The last pushed completes first.
            let task: Pin<Box<dyn Future<Output = Result<usize, ()>> + Send>> =
                Box::pin(async move {
                    yields(n - i).await;
                    Ok(i)
                });
            core.push(task, "ErrGroup::push");
        }
        let values =
            futures::executor::block_on(core::future::poll_fn(|cx| core.poll_all(cx, "ErrGroup")));
        assert_eq!(values, Ok((0..n).collect::<Vec<_>>()));
    }
}
