//! The set of running tasks a group polls.
//!
//! Most groups are small: a request fans out to a handful of services. For those, a
//! `FuturesUnordered` costs more than the work it saves: a reference-counted node per task,
//! atomic operations on every wake, poll and release, and two allocations for the set itself.
//! So a group keeps up to [`SMALL`] running tasks in a plain `Vec` and polls all of them on each
//! poll of the group, as `try_join_all` does for short lists; a wake-up from any of them wakes
//! the group's caller directly. When one more task would start, every running task moves into a
//! `FuturesUnordered`, which polls only the tasks that were woken, and the group stays there.
//!
//! A list poll may poll a task that was not woken. The `Future` contract allows such spurious
//! polls, and with at most [`SMALL`] tasks they cost less than the bookkeeping that would avoid
//! them.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

/// The most tasks polled as a list; one more moves them all to a `FuturesUnordered`.
pub(crate) const SMALL: usize = 16;

pub(crate) enum Running<F> {
    /// Up to [`SMALL`] tasks in push order, and the position of the next one to poll in the
    /// current pass.
    List { tasks: Vec<F>, next: usize },
    /// Any number of tasks, each woken on its own.
    Unordered(FuturesUnordered<F>),
}

impl<F> Default for Running<F> {
    fn default() -> Self {
        Running::List {
            tasks: Vec::new(),
            next: 0,
        }
    }
}

impl<F: Unpin> Running<F> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Running::List { tasks, .. } => tasks.len(),
            Running::Unordered(set) => set.len(),
        }
    }

    /// Drops every task, and all of them even if a destructor panics: a `Vec` drops the rest of
    /// its elements while the panic unwinds, and so does a `FuturesUnordered`'s `IntoIter`
    /// (its own `clear` and `drop` would leak the tasks after a panicking one). The set left
    /// behind is an empty list, which owns no allocation.
    pub(crate) fn clear(&mut self) {
        match core::mem::take(self) {
            Running::List { tasks, .. } => drop(tasks),
            Running::Unordered(set) => {
                for task in set {
                    drop(task);
                }
            }
        }
    }
}

impl<F: Future + Unpin> Running<F> {
    /// Adds a task; it is polled before the current pass ends.
    #[inline]
    pub(crate) fn push(&mut self, task: F) {
        match self {
            Running::List { tasks, .. } if tasks.len() < SMALL => {
                if tasks.capacity() == 0 {
                    // One allocation for the whole list instead of a doubling series.
                    tasks.reserve_exact(SMALL);
                }
                tasks.push(task);
            }
            Running::List { tasks, .. } => {
                // Every task moves, so each is polled again in the set: one spurious poll, and
                // no task can miss the wake-up it registered with the caller's waker.
                let set: FuturesUnordered<F> = tasks.drain(..).chain([task]).collect();
                *self = Running::Unordered(set);
            }
            Running::Unordered(set) => set.push(task),
        }
    }

    /// Starts a new pass: called on every poll of the group from outside, so that a task that
    /// returns `Pending` has seen the waker of the poll that returns `Pending`.
    pub(crate) fn start_pass(&mut self) {
        if let Running::List { next, .. } = self {
            *next = 0;
        }
    }

    /// The output of the next task to complete in this pass; `Pending` once every task has been
    /// polled in it, `None` when there is no task.
    ///
    /// A list polls each task at most once per pass, in push order, including tasks pushed
    /// during the pass.
    #[inline]
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        match self {
            Running::List { tasks, next } => {
                while let Some(task) = tasks.get_mut(*next) {
                    if let Poll::Ready(output) = Pin::new(task).poll(cx) {
                        // The tasks behind it move up, so `next` already points at the next one.
                        tasks.remove(*next);
                        return Poll::Ready(Some(output));
                    }
                    *next += 1;
                }
                if tasks.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            }
            Running::Unordered(set) => set.poll_next_unpin(cx),
        }
    }
}
