//! The engine shared by [`ErrGroup`](crate::ErrGroup) and [`LocalErrGroup`](crate::LocalErrGroup).
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
//!                                      done (completion order) ──► Vec<T> in push order
//!                                                                 terminate(): drop all
//! ```
//!
//! Each task gets an `index` when the group receives it (push order; handle pushes in arrival
//! order). A finished task's value goes to `done` in completion order, so `try_next` can hand
//! back the oldest, and the final `Vec` is `done` sorted by index. Tasks usually complete in push
//! order; while they do, `done` keeps no indices and its buffer becomes the final `Vec` as it is,
//! with no copy and no sort (`Collected`). Indices wrap around (a long-lived group on a 32-bit
//! target pushes more than 2³² tasks; they skip zero, see [`Indexed`]), so they are compared by
//! how far each lies behind `next_index`, which is right while fewer than `usize::MAX - 1`
//! results are outstanding.
//!
//! # How a wake-up reaches a task
//!
//! `running` polls a task again only after it woke. New tasks and tasks that only yield are
//! polled from a queue with the shared group waker; a task that waits for a later wake-up takes
//! a slab slot (up to `SMALL`) or a `FuturesUnordered` node, and a waker of its own (see
//! [`crate::running`], which writes down what each place guarantees and how a wake-up finds its
//! task). Every outside poll that polls tasks is one pass of the running set, between
//! `start_pass`, which takes the wake-ups that came in since the last pass, and `end_pass`, which
//! registers the caller's waker and wakes the caller if a wake-up came in during the pass; the
//! inbox gets the caller's waker in `receive`.
//!
//! # How a panic leaves the group
//!
//! The token fires and handles are refused before any task, the panicking one included, is
//! dropped, whichever set held it. With `std`, [`Indexed`] catches the task's panic and hands it
//! back with the task, as an [`Outcome::Panicked`]; `poll_running_once` terminates the group,
//! drops that task last (a second panic in its destructor is swallowed: the original payload is
//! the one that carries on), then resumes the panic (or, with `catch_panics`, returns it as the
//! error). A panic elsewhere during a poll (a completed task's destructor), and every panic
//! without `std`, unwinds through `TerminateOnUnwind`, which terminates the group on the way; a
//! set may then drop the panicking task as the panic passes it.
//!
//! # Invariants
//!
//! - `waiting` is non-empty only while `running.len() >= limit`: a task waits only when it cannot
//!   start, and waiting tasks start in FIFO order (`refill` after every completion, in
//!   `set_limit`, and `push` never overtakes the queue).
//! - Once `ended` is set (first error, panic, drop, or the group future's `Ready`: the token's
//!   [`Cause`]), the group holds no task, its inbox is closed and its token is cancelled with that
//!   cause; nothing starts again, and the cause never changes.
//! - `inbox` and `token` are created on first use (`handle()`, `token()`), so a group that uses
//!   neither pays for neither.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::handle::Inbox;
use crate::running::{Running, SMALL};
use crate::token::CancelToken;
use crate::Cause;
#[cfg(feature = "std")]
use crate::Panicked;

/// A task tagged with its position in push order.
///
/// With `std` it also catches the task's panic and returns it as the task's outcome, together
/// with the task itself: so the engine, not the set that polled it, decides when the panicking
/// task is dropped, and that is after the token has fired, in every mode. (Without `std` there is
/// no `catch_unwind`; the panic unwinds through the set, which may drop the task on the way.)
struct Indexed<F> {
    /// Never zero, so that an `Option<Indexed<F>>` (a slot of the slab, a `FuturesUnordered`
    /// node) is no larger than an `Indexed<F>`: `task` already uses its own niche.
    index: NonZeroUsize,
    /// `None` only after it panicked and was handed to the engine.
    task: Option<F>,
}

// The task is only ever polled through `Pin::new`, which needs `F: Unpin`; nothing is pinned
// structurally, so the wrapper can move freely whatever `F` is.
impl<F> Unpin for Indexed<F> {}

/// How a task ended.
enum Outcome<O, F> {
    Done(O),
    /// It panicked: the payload, and the task, not dropped yet.
    #[cfg(feature = "std")]
    Panicked(Box<dyn core::any::Any + Send>, Option<F>),
    #[cfg(not(feature = "std"))]
    #[allow(dead_code)]
    Never(core::convert::Infallible, PhantomData<F>),
}

impl<F: Future + Unpin> Future for Indexed<F> {
    type Output = (usize, Outcome<F::Output, F>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index.get();
        let Some(task) = self.task.as_mut() else {
            // Handed to the engine after a panic; the set that held it is being dropped.
            return Poll::Pending;
        };
        #[cfg(feature = "std")]
        {
            let poll =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(task).poll(cx)));
            match poll {
                Ok(poll) => poll.map(|out| (index, Outcome::Done(out))),
                Err(payload) => {
                    let task = self.task.take();
                    Poll::Ready((index, Outcome::Panicked(payload, task)))
                }
            }
        }
        #[cfg(not(feature = "std"))]
        Pin::new(task)
            .poll(cx)
            .map(|out| (index, Outcome::Done(out)))
    }
}

pub(crate) struct Core<F, T, E> {
    running: Running<Indexed<F>>,
    waiting: VecDeque<Indexed<F>>,
    /// Results collected by the group future, in completion order.
    done: Collected<T>,
    /// The index the next task gets: counting from 1, and from 1 again after `usize::MAX`.
    next_index: NonZeroUsize,
    limit: Option<NonZeroUsize>,
    /// Why the group ended, once it has (see the invariants).
    ended: Option<Cause>,
    inbox: OnceCell<Arc<Inbox<F>>>,
    token: OnceCell<CancelToken>,
    #[cfg(feature = "std")]
    on_panic: Option<fn(Panicked) -> E>,
    _error: PhantomData<fn() -> E>,
}

impl<F, T, E> Core<F, T, E>
where
    F: Future<Output = Result<T, E>> + Unpin,
{
    pub(crate) fn new(limit: Option<NonZeroUsize>) -> Self {
        Core {
            running: Running::default(),
            waiting: VecDeque::new(),
            done: Collected::new(),
            next_index: NonZeroUsize::MIN,
            limit,
            ended: None,
            inbox: OnceCell::new(),
            token: OnceCell::new(),
            #[cfg(feature = "std")]
            on_panic: None,
            _error: PhantomData,
        }
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
    /// no kept result. Like `FuturesUnordered`'s `is_terminated`, so `select!` skips a group that
    /// is empty for a moment, and takes it again once something is pushed.
    pub(crate) fn has_nothing_next(&self) -> bool {
        self.is_finished() || (self.len() == 0 && self.done.values.is_empty())
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
    pub(crate) fn push(&mut self, task: F, caller: &str) {
        assert!(
            !self.is_finished(),
            "{caller} called on a group that has already finished \
             (its future returned, it failed, or a task panicked)"
        );
        self.enqueue(task);
    }

    #[inline]
    fn enqueue(&mut self, task: F) {
        let index = self.next_index;
        self.next_index =
            NonZeroUsize::new(index.get().wrapping_add(1)).unwrap_or(NonZeroUsize::MIN);
        let task = Indexed {
            index,
            task: Some(task),
        };
        if self.waiting.is_empty() && self.under_limit() {
            self.running.push(task);
        } else {
            self.waiting.push_back(task);
        }
    }

    /// Starts waiting tasks while there is room.
    fn refill(&mut self) {
        while !self.waiting.is_empty() && self.under_limit() {
            if let Some(task) = self.waiting.pop_front() {
                self.running.push(task);
            }
        }
    }

    pub(crate) fn token(&self) -> CancelToken {
        self.token
            .get_or_init(|| CancelToken::new(self.ended))
            .clone()
    }

    pub(crate) fn inbox(&self) -> Weak<Inbox<F>> {
        match self.inbox.get() {
            Some(inbox) => Arc::downgrade(inbox),
            // A finished group never receives again: a dangling `Weak` refuses every push.
            None if self.is_finished() => Weak::new(),
            None => Arc::downgrade(self.inbox.get_or_init(|| Arc::new(Inbox::new()))),
        }
    }

    /// Moves tasks pushed through handles into the group, at most as many as were queued when
    /// the call began (a producer pushing faster than we drain cannot keep us here).
    fn receive(&mut self, cx: &mut Context<'_>) {
        let Some(inbox) = self.inbox.get() else {
            return;
        };
        inbox.register(cx.waker());
        for _ in 0..inbox.queued() {
            // Borrowed anew for each task (`enqueue` needs `&mut self`), not cloned: a clone
            // would cost two atomic operations on every poll of a group that has a handle.
            match self.inbox.get().and_then(|inbox| inbox.pop()) {
                Some(task) => self.enqueue(task),
                None => break,
            }
        }
    }

    /// Polls the running tasks once. A task's panic ends the group: the token fires and handles
    /// are refused, every task is dropped (the panicking one last), and then the panic carries on
    /// to the caller, or becomes the group's error with `catch_panics`.
    #[inline]
    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Result<T, E>)>> {
        #[cfg(feature = "std")]
        if let Some(on_panic) = self.on_panic {
            // What `Indexed` does not catch: a panic in a completed task's destructor.
            let poll = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.poll_running_once(cx)
            }));
            return match poll {
                Ok(poll) => poll,
                Err(payload) => {
                    // Ended as `Panicked` here, so the `Failed` that follows changes nothing.
                    self.terminate(Cause::Panicked);
                    Poll::Ready(Some((usize::MAX, Err(on_panic(Panicked::new(payload))))))
                }
            };
        }
        self.poll_running_once(cx)
    }

    #[inline]
    fn poll_running_once(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Result<T, E>)>> {
        // A panic that unwinds through the set (without `std`, or from a destructor) ends the
        // group on its way out.
        let guard = TerminateOnUnwind(self);
        let poll = guard.0.running.poll_next(cx);
        core::mem::forget(guard);
        match poll {
            Poll::Ready(Some((index, Outcome::Done(output)))) => Poll::Ready(Some((index, output))),
            #[cfg(feature = "std")]
            Poll::Ready(Some((_, Outcome::Panicked(payload, task)))) => {
                // Ended as `Panicked` here, so the `Failed` that follows changes nothing.
                self.terminate(Cause::Panicked);
                // Its destructor may panic too: the first panic is the one that carries on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(task)));
                match self.on_panic {
                    Some(on_panic) => {
                        Poll::Ready(Some((usize::MAX, Err(on_panic(Panicked::new(payload))))))
                    }
                    None => std::panic::resume_unwind(payload),
                }
            }
            #[cfg(not(feature = "std"))]
            Poll::Ready(Some((_, Outcome::Never(never, _)))) => match never {},
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next completed task: `Some(Ok((index, value)))`, `Some(Err(e))` after which the group
    /// has terminated, or `None` when nothing is left (the group stays usable).
    #[inline]
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(usize, T), E>>> {
        if self.is_finished() {
            return Poll::Ready(None);
        }
        loop {
            self.receive(cx);
            match self.poll_running(cx) {
                Poll::Ready(Some((index, Ok(value)))) => {
                    self.refill();
                    return Poll::Ready(Some(Ok((index, value))));
                }
                Poll::Ready(Some((_, Err(error)))) => {
                    self.terminate(Cause::Failed);
                    return Poll::Ready(Some(Err(error)));
                }
                // `running` is empty, so by the invariant `waiting` is too; only the inbox may
                // still hold work.
                Poll::Ready(None) => match self.inbox.get() {
                    Some(inbox) if inbox.queued() > 0 => continue,
                    // A push is between its reservation and its enqueue; it wakes us when done.
                    Some(inbox) if !inbox.is_idle() => return Poll::Pending,
                    _ => return Poll::Ready(None),
                },
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A result the group future collected before a `try_next` call, oldest first.
    pub(crate) fn take_collected(&mut self) -> Option<T> {
        self.done.pop_front()
    }

    /// `try_next`: the next result in completion order.
    pub(crate) fn poll_try_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, E>> {
        if let Some(value) = self.take_collected() {
            return Poll::Ready(Ok(Some(value)));
        }
        self.running.start_pass();
        let poll = self.poll_next(cx);
        if !self.is_finished() {
            self.running.end_pass(cx);
        }
        match poll {
            Poll::Ready(Some(Ok((_, value)))) => Poll::Ready(Ok(Some(value))),
            Poll::Ready(Some(Err(error))) => Poll::Ready(Err(error)),
            Poll::Ready(None) => Poll::Ready(Ok(None)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The group future: every remaining result in push order, or the first error.
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>, name: &str) -> Poll<Result<Vec<T>, E>> {
        if let Some(cause) = self.ended {
            finished_group_polled(name, cause);
        }
        loop {
            match self.drive(cx) {
                Drove::Failed(error) => return Poll::Ready(Err(error)),
                Drove::Pending => return Poll::Pending,
                Drove::Empty => {
                    if let Some(inbox) = self.inbox.get() {
                        // A push reserved its place after we looked: run it before finishing.
                        if !inbox.try_close() {
                            continue;
                        }
                    }
                    let done = core::mem::replace(&mut self.done, Collected::new());
                    self.terminate(Cause::Finished);
                    return Poll::Ready(Ok(done.into_vec(self.next_index.get())));
                }
            }
        }
    }

    /// `run_until`: polls `fut`, then the tasks; `Ok(output)` as soon as `fut` completes, the
    /// results that completed meanwhile kept in `done` (for `try_next` and the group future,
    /// each in its own order), or the first error at once. An empty group stays open (a
    /// handle may still push into it), and an ended one only runs `fut`.
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
        match self.drive(cx) {
            Drove::Failed(error) => Poll::Ready(Err(error)),
            Drove::Pending => Poll::Pending,
            Drove::Empty => {
                self.running.end_pass(cx);
                Poll::Pending
            }
        }
    }

    /// Polls the tasks on behalf of an outside poll, collecting each result into `done`.
    ///
    /// Tasks that arrive during the call (through a handle, from the waiting queue) may complete
    /// in it too, but not without bound: past `len() + 1` results it wakes the caller and
    /// returns `Pending`, handing the thread back to the executor.
    ///
    /// The pass ends here unless the set is empty (`Drove::Empty`): then the caller ends it, or
    /// finishes the group, which needs no end.
    fn drive(&mut self, cx: &mut Context<'_>) -> Drove<E> {
        self.running.start_pass();
        let drove = self.drive_pass(cx);
        if let Drove::Pending = drove {
            self.running.end_pass(cx);
        }
        drove
    }

    /// [`drive`](Self::drive) between the start and the end of the pass.
    #[inline]
    fn drive_pass(&mut self, cx: &mut Context<'_>) -> Drove<E> {
        let mut budget = self.len() + 1;
        loop {
            match self.poll_next(cx) {
                Poll::Ready(Some(Ok((index, value)))) => {
                    self.collect(index, value);
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        return Drove::Pending;
                    }
                }
                Poll::Ready(Some(Err(error))) => return Drove::Failed(error),
                Poll::Ready(None) => return Drove::Empty,
                Poll::Pending => return Drove::Pending,
            }
        }
    }

    #[inline]
    fn collect(&mut self, index: usize, value: T) {
        if self.done.values.capacity() == 0 {
            // A small group gets room for all its results at once: one allocation, which
            // becomes the group's `Vec`. A large one starts at `SMALL` and grows by doubling
            // (`realloc`): reserving room for every task would be one large fresh allocation,
            // made while the allocator's bins are full of freed task boxes, which sets off
            // glibc's `malloc_consolidate`, more work than the doubling it saves.
            self.done.values.reserve((self.len() + 1).min(SMALL));
        }
        self.done.push(index, value);
    }

    pub(crate) fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("len", &self.len())
            .field("running", &self.running.len())
            .field("waiting", &self.waiting.len())
            .field("limit", &self.limit)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// How [`Core::drive`] ended.
enum Drove<E> {
    /// A task failed; the group has ended.
    Failed(E),
    /// No task is left, none is on its way through a handle, and the group is still open.
    Empty,
    /// Some task is pending (or the budget ran out, and the caller has been woken).
    Pending,
}

/// A limit given by the user, checked: `Some(0)` panics (it must never become "no limit").
#[track_caller]
pub(crate) fn checked_limit(limit: Option<usize>, name: &str) -> Option<NonZeroUsize> {
    limit.map(|n| NonZeroUsize::new(n).unwrap_or_else(|| zero_limit(name)))
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
        Cause::Dropped => unreachable!("a dropped group cannot be polled"),
    }
}

/// Values the group future collected and has not handed out yet, in completion order, with
/// their push indices.
///
/// The indices are stored only when they have to be: while each value's index follows the one
/// before (ready tasks, and most groups, complete in push order) they are implied by `first`, and
/// the group's final `Vec` is `values` itself.
struct Collected<T> {
    values: VecDeque<T>,
    /// The index of `values[0]`, while the indices are implied.
    first: usize,
    /// The index of every value, once one arrived out of step.
    indices: Option<VecDeque<usize>>,
}

impl<T> Collected<T> {
    fn new() -> Self {
        Collected {
            values: VecDeque::new(),
            first: 0,
            indices: None,
        }
    }

    fn push(&mut self, index: usize, value: T) {
        match &mut self.indices {
            Some(indices) => indices.push_back(index),
            None if self.values.is_empty() => self.first = index,
            None if index == self.first.wrapping_add(self.values.len()) => {}
            None => {
                let first = self.first;
                let mut indices: VecDeque<usize> = (0..self.values.len())
                    .map(|k| first.wrapping_add(k))
                    .collect();
                indices.push_back(index);
                self.indices = Some(indices);
            }
        }
        self.values.push_back(value);
    }

    fn pop_front(&mut self) -> Option<T> {
        let value = self.values.pop_front()?;
        match &mut self.indices {
            Some(indices) => {
                indices.pop_front();
            }
            None => self.first = self.first.wrapping_add(1),
        }
        if self.values.is_empty() {
            self.indices = None;
        }
        Some(value)
    }

    /// The values in push order; `next_index` is the index the next task would get.
    fn into_vec(self, next_index: usize) -> Vec<T> {
        match self.indices {
            // `Vec::from` reuses the deque's buffer.
            None => Vec::from(self.values),
            Some(indices) => {
                let mut pairs: Vec<(usize, T)> = indices.into_iter().zip(self.values).collect();
                // The oldest lies furthest behind `next_index`, across a wrap-around too.
                pairs.sort_unstable_by_key(|&(index, _)| {
                    core::cmp::Reverse(next_index.wrapping_sub(index))
                });
                pairs.into_iter().map(|(_, value)| value).collect()
            }
        }
    }

    fn clear(&mut self) {
        self.values.clear();
        self.indices = None;
    }
}

impl<F, T, E> Core<F, T, E> {
    /// Ends the group: refuse further pushes, cancel the token, drop every task.
    ///
    /// The token fires before any task is dropped, so work outside the group hears of the
    /// failure as early as possible, and still hears of it if a task's destructor panics.
    /// Ending again (a failed group being dropped) keeps the first cause.
    fn terminate(&mut self, cause: Cause) {
        if self.ended.is_some() {
            // Ended before: the inbox is closed, the token has fired, and no task is left but
            // one a push that reserved its place before the close may have queued since.
            if let Some(inbox) = self.inbox.get() {
                inbox.drain();
            }
            return;
        }
        self.ended = Some(cause);
        if let Some(inbox) = self.inbox.get() {
            inbox.close();
        }
        if let Some(token) = self.token.get() {
            token.cancel(cause);
        }
        self.drop_tasks();
    }

    /// Drops every task: those in the inbox, waiting, running, and the collected values.
    ///
    /// A destructor may panic. Each step takes the tasks out of their container before dropping
    /// them, and if one unwinds, the guard runs the steps again on the way out: every other task
    /// is still dropped before the panic reaches the caller (a second panicking destructor
    /// aborts, as it does in a `Vec`).
    fn drop_tasks(&mut self) {
        let guard = DropTasksOnUnwind(self);
        let core = &mut *guard.0;
        if let Some(inbox) = core.inbox.get() {
            inbox.drain();
        }
        core.waiting.clear();
        core.running.clear();
        core.done.clear();
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

    use super::{Collected, Core};

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

    /// The same for the collected values alone, indices on both sides of the wrap.
    #[test]
    fn collected_values_sort_across_the_wrap() {
        let first = usize::MAX - 1;
        let mut done = Collected::new();
        for k in [3_usize, 0, 2, 1] {
            done.push(first.wrapping_add(k), k);
        }
        assert_eq!(done.into_vec(first.wrapping_add(4)), [0, 1, 2, 3]);
    }
}
