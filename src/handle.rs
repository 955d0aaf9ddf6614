//! [`Handle`] and [`LocalHandle`]: pushing into a group from inside its tasks or from elsewhere.
//!
//! # The inbox protocol
//!
//! A handle holds a `Weak` reference to the group's [`Inbox`]: a lock-free queue, the group's
//! readiness word, and one atomic `state` word holding a `CLOSED` bit and a count of *reserved*
//! pushes (pushes that have been accepted but not yet taken by the group).
//!
//! - A push reserves (count + 1, only while not `CLOSED`), enqueues, then sets the readiness
//!   word's inbox bit, which wakes whoever waits on the group, as any wake-up of the group does.
//!   Reserving is the moment a push is accepted; a push that finds `CLOSED` is refused and the
//!   task handed back untouched.
//! - The group takes a task out of the queue, then releases its reservation (count - 1).
//! - The group *finishes* only by swapping `state` from exactly `0` to `CLOSED`: no reservation
//!   outstanding, so no accepted task can be left behind. If a reservation is outstanding, the
//!   group waits for its task, which always arrives (the pusher enqueues before it wakes).
//! - The group *fails* (first error, panic, drop) by firing its token, then setting `CLOSED`
//!   whatever the count, then dropping what is queued. A push that reserved just before is
//!   cancelled with the group: the pusher sees `CLOSED` after enqueueing and drops what the
//!   queue holds itself, so nothing is kept alive by the inbox after the group is gone, and that
//!   drop comes after the token fired.
//!
//! Handles hold a `Weak`, so a task that keeps a handle to its own group does not keep the group's
//! memory alive. The last handle to go wakes the group (its stream waits while a handle may push),
//! after giving up its `Weak`, so that the group, once woken, counts no handle.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::fmt;
use core::future::Future;

use concurrent_queue::ConcurrentQueue;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use crate::sync::{AtomicUsize, Ordering::SeqCst};
use crate::waker::{Readiness, INBOX};
use crate::PushError;

const CLOSED: usize = 1;
const RESERVATION: usize = 2;

pub(crate) struct Inbox<F> {
    queue: ConcurrentQueue<F>,
    state: AtomicUsize,
    readiness: Arc<Readiness>,
}

impl<F> Inbox<F> {
    pub(crate) fn new(readiness: &Arc<Readiness>) -> Self {
        Inbox {
            queue: ConcurrentQueue::unbounded(),
            state: AtomicUsize::new(0),
            readiness: Arc::clone(readiness),
        }
    }

    /// Accepts `fut` unless the group has ended; the group is woken to receive it.
    fn push<G>(&self, fut: G, into_task: impl FnOnce(G) -> F) -> Result<(), G> {
        let mut state = self.state.load(SeqCst);
        loop {
            if state & CLOSED != 0 {
                return Err(fut);
            }
            match self
                .state
                .compare_exchange_weak(state, state + RESERVATION, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if self.queue.push(into_task(fut)).is_err() {
            unreachable!("the inbox queue is unbounded and never closed");
        }
        // A read-modify-write, not a load: it reads the latest `state`, so either it sees the
        // `CLOSED` of a group that failed meanwhile, or that group's `close` comes after it in
        // `state`'s modification order and its drain sees our task. This holds with
        // acquire/release alone (a plain load would lean on `SeqCst` fences in the queue).
        if self.state.fetch_or(0, SeqCst) & CLOSED != 0 {
            // The group failed or was dropped while we pushed: our task is cancelled with it.
            while let Ok(task) = self.queue.pop() {
                drop(task);
            }
        }
        self.readiness.wake(INBOX);
        Ok(())
    }

    /// Tasks in the queue, not yet received.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Accepted pushes not yet received (queued, or between reservation and enqueue).
    pub(crate) fn len(&self) -> usize {
        self.state.load(SeqCst) / RESERVATION
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.len() == 0
    }

    /// The next queued task, its reservation released.
    pub(crate) fn pop(&self) -> Option<F> {
        let task = self.queue.pop().ok()?;
        self.state.fetch_sub(RESERVATION, SeqCst);
        Some(task)
    }

    /// The next queued task of a closed inbox (reservations no longer count).
    pub(crate) fn pop_closed(&self) -> Option<F> {
        self.queue.pop().ok()
    }

    /// Closes the inbox if no push is outstanding; `false` means a task is on its way.
    pub(crate) fn try_close(&self) -> bool {
        self.state
            .compare_exchange(0, CLOSED, SeqCst, SeqCst)
            .is_ok()
    }

    /// Closes the inbox whatever is outstanding (the group failed or is dropped); the group
    /// then drops what it holds with [`pop_closed`](Self::pop_closed).
    pub(crate) fn close(&self) {
        self.state.fetch_or(CLOSED, SeqCst);
    }

    /// A handle's drop: the last one wakes the group, whose stream waits for handles (see
    /// `Core::poll_stream_next`). The `Weak` goes first, so that the group, once woken, counts
    /// no handle.
    fn release(this: Weak<Self>) {
        if let Some(inbox) = this.upgrade() {
            drop(this);
            if Arc::weak_count(&inbox) == 0 {
                inbox.readiness.wake(INBOX);
            }
        }
    }

    fn is_closed(this: &Weak<Self>) -> bool {
        this.upgrade()
            .map_or(true, |inbox| inbox.state.load(SeqCst) & CLOSED != 0)
    }
}

/// Writes a handle type for the group whose tasks come in `$Box`; `$Send` is `+ Send` or
/// nothing.
macro_rules! handle {
    (
        $(#[$attr:meta])*
        $Handle:ident, $Group:ident, $Box:ident, [$($Send:tt)*]
    ) => {
        $(#[$attr])*
        pub struct $Handle<'a, T, E> {
            inbox: Weak<Inbox<$Box<'a, Result<T, E>>>>,
        }

        impl<'a, T, E> $Handle<'a, T, E> {
            pub(crate) fn new(inbox: Weak<Inbox<$Box<'a, Result<T, E>>>>) -> Self {
                $Handle { inbox }
            }

            /// Adds a task to the group. It takes its place in the result order when the group
            /// receives it, and it respects the group's limit. The group's waiter is woken to
            /// receive it: whatever awaits the group, runs `run_until` on it, or waits for it in
            /// a `select!` loop over `try_next`.
            ///
            /// A push that returns `Ok` is never lost: the task runs unless the group fails or
            /// is dropped first (then it is dropped with the others), even when the group is
            /// finishing at the same moment on another thread.
            ///
            /// # Errors
            ///
            /// When the group has already finished, failed or been dropped, the task is handed
            /// back, unpolled, in a [`PushError`] ([`PushError::into_inner`]).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use errgroup::", stringify!($Group), ";")]
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::<u32, ()>::new();")]
            /// let handle = group.handle();
            /// handle.push(async { Ok(1) }).unwrap();
            /// assert_eq!(group.await, Ok(vec![1]));
            ///
            /// // The group has finished: the task comes back.
            /// let task = handle.push(async { Ok(2) }).unwrap_err().into_inner();
            /// assert_eq!(task.await, Ok(2));
            /// # });
            /// ```
            pub fn push<F>(&self, fut: F) -> Result<(), PushError<F>>
            where
                F: Future<Output = Result<T, E>> $($Send)* + 'a,
            {
                match self.inbox.upgrade() {
                    Some(inbox) => inbox
                        .push(fut, |fut| Box::pin(fut) as $Box<'a, _>)
                        .map_err(PushError::closed),
                    None => Err(PushError::closed(fut)),
                }
            }

            /// Whether the group has finished, failed or been dropped, so that every push is
            /// refused.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let group = errgroup::", stringify!($Group), "::<(), ()>::new();")]
            /// let handle = group.handle();
            /// assert!(!handle.is_closed());
            /// drop(group);
            /// assert!(handle.is_closed());
            /// ```
            pub fn is_closed(&self) -> bool {
                Inbox::is_closed(&self.inbox)
            }
        }

        impl<T, E> Clone for $Handle<'_, T, E> {
            fn clone(&self) -> Self {
                $Handle {
                    inbox: self.inbox.clone(),
                }
            }
        }

        impl<T, E> Drop for $Handle<'_, T, E> {
            fn drop(&mut self) {
                Inbox::release(core::mem::replace(&mut self.inbox, Weak::new()));
            }
        }

        impl<T, E> fmt::Debug for $Handle<'_, T, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Handle))
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }
    };
}

handle! {
    /// Pushes tasks into an [`ErrGroup`](crate::ErrGroup) from inside its tasks, other tasks or
    /// other threads: Go's `g.Go` called from a running goroutine.
    ///
    /// Get one with [`ErrGroup::handle`](crate::ErrGroup::handle). A handle is cheap to clone,
    /// and it does not keep the group alive: once the group has finished, failed or been
    /// dropped, [`push`](Handle::push) hands the task back.
    ///
    /// # Examples
    ///
    /// Recursive fan-out: each task pushes its children through the handle.
    ///
    /// ```
    /// use std::future::Future;
    /// use errgroup::{ErrGroup, Handle};
    ///
    /// fn visit(
    ///     handle: Handle<'static, u32, String>,
    ///     depth: u32,
    /// ) -> impl Future<Output = Result<u32, String>> + Send {
    ///     async move {
    ///         if depth < 2 {
    ///             for _ in 0..2 {
    ///                 let child = visit(handle.clone(), depth + 1);
    ///                 handle.push(child).map_err(|e| e.to_string())?;
    ///             }
    ///         }
    ///         Ok(depth)
    ///     }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::new();
    /// group.push(visit(group.handle(), 0));
    /// let depths = group.await?;
    /// assert_eq!(depths, [0, 1, 1, 2, 2, 2, 2]);
    /// # Ok::<(), String>(())
    /// # }).unwrap();
    /// ```
    Handle, ErrGroup, BoxFuture, [+ Send]
}

handle! {
    /// Pushes tasks into a [`LocalErrGroup`](crate::LocalErrGroup) from inside its tasks: the
    /// [`Handle`] of a group whose tasks need not be `Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use errgroup::LocalErrGroup;
    ///
    /// # futures::executor::block_on(async {
    /// let shared = Rc::new(5);
    /// let mut group = LocalErrGroup::<u32, ()>::new();
    /// let handle = group.handle();
    /// let value = Rc::clone(&shared);
    /// group.push(async move {
    ///     handle.push(async move { Ok(*value) }).unwrap();
    ///     Ok(1)
    /// });
    /// assert_eq!(group.await, Ok(vec![1, 5]));
    /// # });
    /// ```
    LocalHandle, LocalErrGroup, LocalBoxFuture, []
}
