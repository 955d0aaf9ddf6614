//! [`LocalErrGroup`]: the group for tasks that are not `Send`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_util::future::LocalBoxFuture;

use crate::engine::{checked_limit, Core};
use crate::futures::{RunUntil, TryNext};
#[cfg(feature = "std")]
use crate::Panicked;
use crate::{CancelToken, LocalHandle, PushError};

/// An [`ErrGroup`](crate::ErrGroup) whose tasks need not be `Send`: `Rc`, `RefCell` borrows,
/// thread-local clients, or a single-threaded executor (futures' `LocalPool`, tokio's
/// `LocalSet`, a browser or an embedded executor).
///
/// Same API and semantics as `ErrGroup`: push order results or the first error, at once, with
/// every other task dropped before it returns. The group itself is not `Send`.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use errgroup::LocalErrGroup;
///
/// # futures::executor::block_on(async {
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let mut group = LocalErrGroup::new();
/// for name in ["users", "orders"] {
///     let log = Rc::clone(&log);
///     group.push(async move {
///         log.borrow_mut().push(name);
///         Ok::<_, String>(name.len())
///     });
/// }
/// assert_eq!(group.await?, [5, 6]);
/// assert_eq!(*log.borrow(), ["users", "orders"]);
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct LocalErrGroup<'a, T, E> {
    core: Core<LocalBoxFuture<'a, Result<T, E>>, T, E>,
}

impl<'a, T, E> LocalErrGroup<'a, T, E> {
    /// An empty group with no concurrency limit.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let group = errgroup::LocalErrGroup::<u32, ()>::new();
    /// assert!(group.is_empty());
    /// assert_eq!(group.await, Ok(vec![]));
    /// # });
    /// ```
    pub fn new() -> Self {
        LocalErrGroup {
            core: Core::new(None),
        }
    }

    /// An empty group that polls at most `limit` tasks at once (Go's `SetLimit`, kratos'
    /// `GOMAXPROCS`). Further tasks wait, unpolled, and start in push order as slots free up.
    ///
    /// # Panics
    ///
    /// If `limit` is zero, with the message "LocalErrGroup: the concurrency limit must be at least 1
    /// (a limit of 0 would never start a task; `None` means no limit)". Go's `SetLimit(0)` admits
    /// no goroutine; here a group that could never start a task is refused when it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut group = errgroup::LocalErrGroup::<u32, ()>::with_limit(2);
    /// for i in 0..5 {
    ///     group.push(async move { Ok(i) });
    /// }
    /// assert_eq!(group.await, Ok(vec![0, 1, 2, 3, 4]));
    /// # });
    /// ```
    #[track_caller]
    pub fn with_limit(limit: usize) -> Self {
        LocalErrGroup {
            core: Core::new(checked_limit(Some(limit), "LocalErrGroup")),
        }
    }

    /// Changes the concurrency limit, at any time (Go's `SetLimit`); `None` removes it.
    ///
    /// Raising the limit starts waiting tasks at once (they are polled on the next poll).
    /// Lowering it below the number of running tasks stops none of them: no new task starts
    /// until fewer than the new limit are running. Unlike Go's `SetLimit`, it may be called
    /// while tasks run.
    ///
    /// # Panics
    ///
    /// If `limit` is `Some(0)`, with the same message as [`with_limit(0)`](Self::with_limit):
    /// a zero limit never means "no limit" (`NonZeroUsize::new(0)` is `None`, which is why this
    /// takes an `Option<usize>`, not an `Option<NonZeroUsize>`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = errgroup::LocalErrGroup::<(), ()>::new();
    /// group.set_limit(Some(4));
    /// assert_eq!(group.limit(), Some(4));
    /// group.set_limit(None);
    /// assert_eq!(group.limit(), None);
    ///
    /// let set_zero = std::panic::AssertUnwindSafe(|| group.set_limit(Some(0)));
    /// assert!(std::panic::catch_unwind(set_zero).is_err(), "a zero limit is refused");
    /// ```
    #[track_caller]
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.core.set_limit(checked_limit(limit, "LocalErrGroup"));
    }

    /// The concurrency limit, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = errgroup::LocalErrGroup::<(), ()>::with_limit(3);
    /// assert_eq!(group.limit(), Some(3));
    /// assert_eq!(errgroup::LocalErrGroup::<(), ()>::new().limit(), None);
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.core.limit()
    }

    /// Turns a panicking task into the group's error instead of letting it unwind into the
    /// caller (kratos' `recover`). The error is `E::from(Panicked)`, with the panic's message and
    /// payload; the siblings are dropped as for any error.
    ///
    /// Without it, a panic unwinds out of the group's `poll` with its original payload, after the
    /// siblings have been dropped and the token cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::{LocalErrGroup, Panicked};
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = LocalErrGroup::<(), Panicked>::new().catch_panics();
    /// group.push(async { Ok(()) });
    /// group.push(async { panic!("oops") });
    /// let err = group.await.unwrap_err();
    /// assert_eq!(err.to_string(), "a task panicked: oops");
    /// # });
    /// ```
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    pub fn catch_panics(mut self) -> Self
    where
        E: From<Panicked>,
    {
        self.core.set_on_panic(E::from);
        self
    }

    /// Adds a task (Go's `g.Go`). It starts on the next poll of the group if the group is under
    /// its limit, and waits its turn otherwise.
    ///
    /// Like `FuturesUnordered::push`, this does not wake the group: poll it (await it, or call
    /// [`try_next`](Self::try_next)) after pushing. To push from inside a task or another
    /// thread, use a [`LocalHandle`].
    ///
    /// # Panics
    ///
    /// If the group has already finished: its future returned, or it failed (an error from
    /// [`try_next`](Self::try_next), or a panic). Use [`try_push`](Self::try_push) to get the
    /// task back instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let local = String::from("borrowed");
    /// let mut group = errgroup::LocalErrGroup::<usize, ()>::new();
    /// group.push(async { Ok(local.len()) }); // tasks may borrow
    /// assert_eq!(group.len(), 1);
    /// assert_eq!(group.await, Ok(vec![8]));
    /// # });
    /// ```
    pub fn push<F>(&mut self, fut: F)
    where
        F: Future<Output = Result<T, E>> + 'a,
    {
        self.core.push(Box::pin(fut), "LocalErrGroup::push");
    }

    /// Adds a task only if it can start now (Go's `TryGo`): the group is under its limit and no
    /// task is waiting. Otherwise the task is handed back, untouched.
    ///
    /// # Errors
    ///
    /// [`PushError::is_full`] when the group is at its limit; [`PushError::is_closed`] when the
    /// group has finished. [`PushError::into_inner`] returns the task.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut group = errgroup::LocalErrGroup::<u32, ()>::with_limit(1);
    /// assert!(group.try_push(async { Ok(1) }).is_ok());
    /// let again = group.try_push(async { Ok(2) }).unwrap_err();
    /// assert!(again.is_full());
    ///
    /// assert_eq!(group.try_next().await, Ok(Some(1))); // a slot frees up
    /// assert!(group.try_push(again.into_inner()).is_ok());
    /// assert_eq!(group.await, Ok(vec![2]));
    /// # });
    /// ```
    pub fn try_push<F>(&mut self, fut: F) -> Result<(), PushError<F>>
    where
        F: Future<Output = Result<T, E>> + 'a,
    {
        if self.core.is_finished() {
            Err(PushError::closed(fut))
        } else if self.core.can_start() {
            self.core.push(Box::pin(fut), "LocalErrGroup::try_push");
            Ok(())
        } else {
            Err(PushError::full(fut))
        }
    }

    /// The number of tasks not finished yet: running, waiting behind the limit, or pushed
    /// through a handle and not yet received.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = errgroup::LocalErrGroup::<(), ()>::with_limit(1);
    /// group.push(async { Ok(()) });
    /// group.push(async { Ok(()) }); // waits behind the limit, still counted
    /// assert_eq!(group.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no task is left (see [`len`](Self::len)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = errgroup::LocalErrGroup::<(), ()>::new();
    /// assert!(group.is_empty());
    /// group.push(async { Ok(()) });
    /// assert!(!group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A [`CancelToken`] that fires when the group fails, is dropped, or finishes: Go's `ctx`
    /// from `WithContext`, for work the group cannot drop. Taken after the group ended, it is
    /// already cancelled.
    ///
    /// The token is created on first use; a group that never asks for one pays nothing for it.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut group = errgroup::LocalErrGroup::<(), &str>::new();
    /// let token = group.token();
    /// let watcher = token.clone();
    /// group.push(async move {
    ///     // A task can hand the token to work it starts elsewhere.
    ///     assert!(!watcher.is_cancelled());
    ///     Err("failed")
    /// });
    /// assert_eq!(group.await, Err("failed"));
    /// assert!(token.is_cancelled());
    /// # });
    /// ```
    pub fn token(&self) -> CancelToken {
        self.core.token()
    }

    /// A [`LocalHandle`] that pushes tasks into this group from inside its tasks (or anything
    /// else on this thread). Handles do not keep the group alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut group = errgroup::LocalErrGroup::<u32, ()>::new();
    /// let handle = group.handle();
    /// group.push(async move {
    ///     handle.push(async { Ok(2) }).unwrap(); // fan out from inside
    ///     Ok(1)
    /// });
    /// assert_eq!(group.await, Ok(vec![1, 2]));
    /// # });
    /// ```
    pub fn handle(&self) -> LocalHandle<'a, T, E> {
        LocalHandle::new(self.core.inbox())
    }

    /// The next result, in completion order: `Ok(Some(value))`, `Ok(None)` when no task is
    /// left, or the first error. It drives the whole group while it waits.
    ///
    /// After `Ok(None)` the group stays usable: push more tasks and call `try_next` again (a
    /// crawler loop). A later `.await` of the group returns only the results `try_next` did not.
    /// After an error the group has failed like the group future: every other task is dropped,
    /// the token fires, and `try_next` returns `Ok(None)` from then on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the returned future before it completes loses no result and drops no
    /// task. Results are taken out of the group only in the poll that returns them, so the tasks
    /// it drove simply carry on at the next call (in a `select!` loop, for example).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut group = errgroup::LocalErrGroup::<u32, ()>::with_limit(4);
    /// group.push(async { Ok(1) });
    /// let mut seen = vec![];
    /// while let Some(n) = group.try_next().await? {
    ///     seen.push(n);
    ///     if n < 4 {
    ///         group.push(async move { Ok(n + 1) }); // new work from results
    ///     }
    /// }
    /// assert_eq!(seen, [1, 2, 3, 4]);
    /// # Ok::<(), ()>(())
    /// # }).unwrap();
    /// ```
    pub fn try_next(&mut self) -> TryNext<'_, Self> {
        TryNext::new(self)
    }

    pub(crate) fn poll_try_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, E>> {
        self.core.poll_try_next(cx)
    }

    pub(crate) fn has_nothing_next(&self) -> bool {
        self.core.has_nothing_next()
    }

    /// Runs `fut` to completion while driving the group's tasks, so they keep running while
    /// the caller awaits its own work; see [`ErrGroup::run_until`](crate::ErrGroup::run_until).
    ///
    /// `Ok(output)` as soon as `fut` completes, with the results that finished meanwhile kept
    /// for [`try_next`](Self::try_next) and the group future; `Err(error)` at once when a task
    /// fails (the group fails as under `.await`, and `fut` is dropped). On an empty or finished
    /// group it just runs `fut`.
    ///
    /// # Panics
    ///
    /// A panicking task behaves as under `.await`; a panic in `fut` leaves the group as it was.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the returned future drops only `fut`; the tasks and every result
    /// already taken from them stay in the group.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use errgroup::LocalErrGroup;
    ///
    /// # /// Yields to the executor once.
    /// # async fn yield_now() {
    /// #     let mut yielded = false;
    /// #     futures::future::poll_fn(|cx| {
    /// #         if std::mem::replace(&mut yielded, true) {
    /// #             return std::task::Poll::Ready(());
    /// #         }
    /// #         cx.waker().wake_by_ref();
    /// #         std::task::Poll::Pending
    /// #     })
    /// #     .await
    /// # }
    /// # futures::executor::block_on(async {
    /// let finished = Rc::new(Cell::new(0));
    /// let mut group = LocalErrGroup::<(), ()>::new();
    /// for _ in 0..3 {
    ///     let finished = Rc::clone(&finished);
    ///     group.push(async move {
    ///         yield_now().await; // stands for I/O
    ///         finished.set(finished.get() + 1);
    ///         Ok(())
    ///     });
    /// }
    /// // The caller's own work, driving the group while it runs.
    /// let mine = group.run_until(async {
    ///     yield_now().await;
    ///     yield_now().await;
    ///     "mine"
    /// });
    /// assert_eq!(mine.await, Ok("mine"));
    /// assert_eq!(finished.get(), 3, "the tasks ran meanwhile");
    /// assert_eq!(group.await, Ok(vec![(), (), ()]));
    /// # });
    /// ```
    pub fn run_until<F: Future>(&mut self, fut: F) -> RunUntil<'_, Self, F> {
        RunUntil::new(self, fut)
    }

    pub(crate) fn poll_run_until<F: Future>(
        &mut self,
        cx: &mut Context<'_>,
        fut: Pin<&mut F>,
    ) -> Poll<Result<F::Output, E>> {
        self.core.poll_run_until(cx, fut)
    }
}

impl<T, E> Future for LocalErrGroup<'_, T, E> {
    type Output = Result<Vec<T>, E>;

    /// Drives every task; resolves to all results in push order (less those `try_next` already
    /// returned), or to the first error once every other task has been dropped.
    ///
    /// # Panics
    ///
    /// If polled again after it completed; and, unless the group was built with
    /// `catch_panics`, when a task panics (with the task's payload).
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.core.poll_all(cx, "LocalErrGroup")
    }
}

impl<T, E> FusedFuture for LocalErrGroup<'_, T, E> {
    fn is_terminated(&self) -> bool {
        self.core.is_finished()
    }
}

// No field is ever pinned: tasks are boxed and values are moved freely.
impl<T, E> Unpin for LocalErrGroup<'_, T, E> {}

impl<T, E> Default for LocalErrGroup<'_, T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> fmt::Debug for LocalErrGroup<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("LocalErrGroup", f)
    }
}

/// `futs.into_iter().collect::<LocalErrGroup<_, _>>().await`: a fail-fast `try_join_all` for
/// futures that are not `Send`.
impl<'a, T, E, F> FromIterator<F> for LocalErrGroup<'a, T, E>
where
    F: Future<Output = Result<T, E>> + 'a,
{
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut group = Self::new();
        group.extend(iter);
        group
    }
}

impl<'a, T, E, F> Extend<F> for LocalErrGroup<'a, T, E>
where
    F: Future<Output = Result<T, E>> + 'a,
{
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for fut in iter {
            self.push(fut);
        }
    }
}
