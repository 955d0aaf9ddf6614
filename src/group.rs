//! [`ErrGroup`] and [`LocalErrGroup`]: one implementation, two fronts.
//!
//! Both are written once, by [`front!`]: they differ only in the box their tasks come in
//! (`BoxFuture`, which is `Send`, or `LocalBoxFuture`), in the `Send` bound on what they accept,
//! and in their type-level docs. Every method is a delegation to the shared [`Core`]; the named
//! futures of [`crate::futures`] reach the core through the sealed [`Group`](sealed::Group)
//! trait, so they too are written once.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_util::future::{BoxFuture, FutureExt, LocalBoxFuture};

use crate::engine::{checked_limit, Core};
use crate::futures::{GroupStream, RunUntil, TryNext};
use crate::handle::{Handle, LocalHandle};
#[cfg(feature = "std")]
use crate::Panicked;
use crate::{CancelToken, PushError};

// The sealed pattern: the trait is public so that it can bound public impls, in a private
// module so that nothing outside the crate can name it, implement it, or reach the core.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use core::future::Future;

    use crate::engine::Core;

    /// What the named futures need of a group: its core. Public in a private module, so that it
    /// bounds their impls without being nameable outside the crate.
    pub trait Group {
        /// The box a task comes in.
        type Task: Future<Output = Result<Self::Ok, Self::Err>> + Unpin;
        /// The tasks' `Ok` type.
        type Ok;
        /// The tasks' error type.
        type Err;

        #[doc(hidden)]
        fn core(&mut self) -> &mut Core<Self::Task, Self::Ok, Self::Err>;

        #[doc(hidden)]
        fn core_ref(&self) -> &Core<Self::Task, Self::Ok, Self::Err>;
    }

    /// A borrowed group is a group: `group.stream()` borrows it.
    impl<G: Group> Group for &mut G {
        type Task = G::Task;
        type Ok = G::Ok;
        type Err = G::Err;

        fn core(&mut self) -> &mut Core<Self::Task, Self::Ok, Self::Err> {
            (**self).core()
        }

        fn core_ref(&self) -> &Core<Self::Task, Self::Ok, Self::Err> {
            (**self).core_ref()
        }
    }
}

/// Writes a front: the type, its methods and their docs, and its trait impls. `$Send` is
/// `+ Send` or nothing: the bound on the tasks it accepts.
macro_rules! front {
    (
        $(#[$attr:meta])*
        $Group:ident, $Handle:ident, $Box:ident, [$($Send:tt)*]
    ) => {
        $(#[$attr])*
        #[must_use = "futures do nothing unless you `.await` or poll them"]
        pub struct $Group<'a, T, E> {
            core: Core<$Box<'a, Result<T, E>>, T, E>,
        }

        impl<'a, T, E> $Group<'a, T, E> {
            /// An empty group with no concurrency limit.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let group = errgroup::", stringify!($Group), "::<u32, ()>::new();")]
            /// assert!(group.is_empty());
            /// assert_eq!(group.await, Ok(vec![]));
            /// # });
            /// ```
            pub const fn new() -> Self {
                $Group { core: Core::new(None) }
            }

            /// An empty group that polls at most `limit` tasks at once (Go's `SetLimit`, kratos'
            /// `GOMAXPROCS`). Further tasks wait, unpolled, and start in push order as slots
            /// free up.
            ///
            /// # Panics
            ///
            #[doc = concat!("If `limit` is zero, with the message \"", stringify!($Group), ": the")]
            /// concurrency limit must be at least 1 (a limit of 0 would never start a task;
            /// `None` means no limit)". Go's `SetLimit(0)` admits no goroutine; here a group that
            /// could never start a task is refused when it is built.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, ()>::with_limit(2);")]
            /// for i in 0..5 {
            ///     group.push(async move { Ok(i) });
            /// }
            /// assert_eq!(group.await, Ok(vec![0, 1, 2, 3, 4]));
            /// # });
            /// ```
            #[track_caller]
            pub fn with_limit(limit: usize) -> Self {
                $Group { core: Core::new(checked_limit(Some(limit), stringify!($Group))) }
            }

            /// Changes the concurrency limit, at any time (Go's `SetLimit`); `None` removes it.
            ///
            /// Raising the limit starts waiting tasks at once (they are polled on the next
            /// poll). Lowering it below the number of running tasks stops none of them: no new
            /// task starts until fewer than the new limit are running. Unlike Go's `SetLimit`, it
            /// may be called while tasks run.
            ///
            /// # Panics
            ///
            /// If `limit` is `Some(0)`, with the same message as
            /// [`with_limit(0)`](Self::with_limit): a zero limit never means "no limit"
            /// (`NonZeroUsize::new(0)` is `None`, which is why this takes an `Option<usize>`, not
            /// an `Option<NonZeroUsize>`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<(), ()>::new();")]
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
                self.core.set_limit(checked_limit(limit, stringify!($Group)));
            }

            /// The concurrency limit, if any.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use errgroup::", stringify!($Group), ";")]
            ///
            #[doc = concat!("assert_eq!(", stringify!($Group), "::<(), ()>::with_limit(3).limit(), Some(3));")]
            #[doc = concat!("assert_eq!(", stringify!($Group), "::<(), ()>::new().limit(), None);")]
            /// ```
            pub fn limit(&self) -> Option<usize> {
                self.core.limit()
            }

            /// Turns a panicking task into the group's error instead of letting it unwind into
            /// the caller (kratos' `recover`). The error is `E::from(Panicked)`, with the panic's
            /// message and payload; the siblings are dropped as for any error.
            ///
            /// Without it, a panic unwinds out of the group's `poll` with its original payload,
            /// after the siblings have been dropped and the token cancelled. With it, nothing
            /// that happens while the group cancels its tasks unwinds into the caller either: a
            /// task whose destructor panics is dropped like the others, and the group's error
            /// stays the first error or panic.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use errgroup::{", stringify!($Group), ", Panicked};")]
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), Panicked>::new().catch_panics();")]
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

            /// Ends the group when `stop` completes, with the error `stop` returns: a deadline,
            /// a parent's cancellation, a shutdown. Runtime-agnostic: bring any future (a timer
            /// from your runtime, a [`CancelToken::cancelled`], a channel).
            ///
            /// When `stop` completes, the group ends as it would on a task's error, at once and
            /// whatever is running: every task is dropped, the token fires with
            /// [`Cause::Cancelled`](crate::Cause::Cancelled) (distinct from a task's failure),
            /// handles are refused, and the poll that saw it (`.await`, `try_next`, `run_until`,
            /// the stream) returns `stop`'s error. So it holds when the group is only borrowed
            /// (`&mut group` in a `select!`): the group ends itself, the caller need not. If a
            /// task's result and `stop` come in the same poll, `stop` wins.
            ///
            /// `stop` is polled whenever the group is, and wakes it like a task does. Calling this
            /// again adds another stop: the first to complete ends the group. On a group that has
            /// already ended, `stop` is dropped.
            ///
            /// **Why the stop future gives the error.** A task's panic becomes the group's error
            /// through `E: From<Panicked>` because the group cannot know the caller's error type.
            /// A stop is different: the caller chose it, and knows what it means (a deadline
            /// is a 504, a shutdown is not), so it returns the error itself, and the caller
            /// tells it apart from a task's error by its own variant, with no string matching.
            ///
            /// # Examples
            ///
            /// A deadline on a whole fan-out: the call that would answer after the deadline is
            /// dropped when it passes.
            ///
            /// ```
            /// # futures::executor::block_on(async {
            /// #[derive(Debug, PartialEq)]
            /// enum Error { Timeout, Downstream(&'static str) }
            ///
            /// let (tx, deadline) = futures::channel::oneshot::channel::<()>(); // stands for a timer
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, Error>::new();")]
            /// group.push(async { Ok(1) });
            /// group.push(std::future::pending()); // a call that never answers
            /// group.cancel_on(async { let _ = deadline.await; Error::Timeout });
            /// let token = group.token();
            /// tx.send(()).unwrap(); // the deadline passes
            /// assert_eq!(group.await, Err(Error::Timeout));
            /// assert_eq!(token.cause(), Some(errgroup::Cause::Cancelled));
            /// # });
            /// ```
            pub fn cancel_on<S>(&mut self, stop: S)
            where
                S: Future<Output = E> $($Send)* + 'a,
                T: 'a,
                E: 'a,
            {
                let stop: $Box<'a, Result<T, E>> = Box::pin(async move { Err(stop.await) });
                let stop = match self.core.take_stop() {
                    None => stop,
                    Some(first) => Box::pin(
                        futures_util::future::select(first, stop)
                            .map(|either| either.factor_first().0),
                    ),
                };
                self.core.cancel_on(stop);
            }

            /// Ends the group now, on purpose (Go's `cancel()`, tokio's `JoinSet::abort_all`): the
            /// token fires with [`Cause::Cancelled`](crate::Cause::Cancelled), handles are
            /// refused, and every task, running, waiting or pushed through a handle, is dropped
            /// before this returns. Nothing happens to a group that has already ended.
            ///
            /// Afterwards the group holds nothing: [`try_next`](Self::try_next) returns
            /// `Ok(None)`, a push panics (`try_push` and handles hand the task back), and awaiting
            /// the group panics, as after any other end. Results kept by `run_until` are
            /// dropped too; take them first if you need them.
            ///
            /// # Examples
            ///
            /// A deadline in a `select!` that only borrows the group: the group must be
            /// cancelled, or its tasks live on until it is dropped.
            ///
            /// ```
            /// use futures::{future::Either, FutureExt};
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<(), &str>::new();")]
            /// let token = group.token();
            /// group.push(std::future::pending()); // a call that never answers
            /// let deadline = std::future::ready(()); // stands for a timer that fired
            /// match futures::future::select(&mut group, deadline.boxed()).await {
            ///     Either::Left((result, _)) => { result?; }
            ///     Either::Right(((), _)) => group.cancel(), // drops the call now
            /// }
            /// assert_eq!(token.cause(), Some(errgroup::Cause::Cancelled));
            /// # Ok::<(), &str>(())
            /// # }).unwrap();
            /// ```
            pub fn cancel(&mut self) {
                self.core.cancel();
            }

            /// The number of results that finished and are kept in the group for
            /// [`try_next`](Self::try_next) and the group future: the results of tasks that
            /// completed during [`run_until`](Self::run_until), or during polls of the group
            /// future that did not return them. [`len`](Self::len) counts tasks; a loop that
            /// must not end while results are kept checks both.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, ()>::new();")]
            /// group.push(async { Ok(1) });
            /// // The task completes while the caller's own future waits for its first event.
            /// group.run_until(futures_lite::future::yield_now()).await?;
            /// assert_eq!((group.len(), group.kept()), (0, 1));
            /// assert_eq!(group.try_next().await?, Some(1));
            /// assert_eq!(group.kept(), 0);
            /// # Ok::<(), ()>(())
            /// # }).unwrap();
            /// ```
            pub fn kept(&self) -> usize {
                self.core.kept()
            }

            /// The group's results as a [`Stream`](futures_core::Stream), in completion order:
            /// `Ok(value)` for each task, then the end; or the first error, then the end. It
            /// borrows the group, which stays usable afterwards.
            ///
            /// It works wherever a `Stream` or `TryStream` is expected: `next`, `try_next`,
            /// `try_for_each`, `try_collect`, `take_while`, `select`. Like `FuturesUnordered`, it
            /// ends when the group holds no task and no kept result, and yields again after a
            /// push; it is a `FusedStream` that a `futures::select!` skips once it has ended.
            /// While a [`handle`](Self::handle) lives, it does not end on an empty group: like a
            /// channel's receiver, it waits for the handles' pushes, and ends once the last
            /// handle is dropped.
            ///
            /// Why an adapter and not `Stream` on the group itself: the group is a `Future`, and
            /// a type that is both makes `map`, `then`, `boxed` and `fuse` ambiguous wherever
            /// `FutureExt` and `StreamExt` are both in scope (`use futures::prelude::*`);
            /// tokio-stream's `JoinSetStream` is an adapter for the same reason.
            ///
            /// # Cancel safety
            ///
            /// Each item is taken as [`try_next`](Self::try_next) takes it: dropping the stream,
            /// or its `next()` future, loses no result and drops no task.
            ///
            /// # Examples
            ///
            /// ```
            /// use futures::TryStreamExt;
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, String>::new();")]
            /// for i in 1..=3 {
            ///     group.push(async move { Ok(i * 10) });
            /// }
            /// let mut total = 0;
            /// group.stream().try_for_each(|v| { total += v; async { Ok(()) } }).await?;
            /// assert_eq!(total, 60);
            /// # Ok::<(), String>(())
            /// # }).unwrap();
            /// ```
            pub fn stream(&mut self) -> GroupStream<&mut Self> {
                GroupStream::new(self)
            }

            /// The group as a [`Stream`](futures_core::Stream) of its results, taking it by value:
            /// see [`stream`](Self::stream), which borrows it. For returning the stream, or
            /// handing it to a combinator that keeps it.
            ///
            /// # Examples
            ///
            /// ```
            /// use futures::TryStreamExt;
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, String>::new();")]
            /// group.push(async { Ok(2) });
            /// group.push(async { Err("inventory: 503".to_string()) });
            /// let results: Result<Vec<u32>, String> = group.into_stream().try_collect().await;
            /// assert_eq!(results, Err("inventory: 503".to_string()));
            /// # });
            /// ```
            pub fn into_stream(self) -> GroupStream<Self> {
                GroupStream::new(self)
            }

            /// Adds a task (Go's `g.Go`). It starts on the next poll of the group if the group is
            /// under its limit, and waits its turn otherwise.
            ///
            /// Like `FuturesUnordered::push`, this does not wake the group: poll it (await it, or
            /// call [`try_next`](Self::try_next)) after pushing. To push from inside a task or
            #[doc = concat!("another thread, use a [`", stringify!($Handle), "`].")]
            ///
            /// # Panics
            ///
            /// If the group has already finished: its future returned, or it failed (an error
            /// from [`try_next`](Self::try_next), or a panic). The message names the caller's
            /// line. [`try_push`](Self::try_push) hands the task back instead.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            /// let local = String::from("borrowed");
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<usize, ()>::new();")]
            /// group.push(async { Ok(local.len()) }); // tasks may borrow
            /// assert_eq!(group.len(), 1);
            /// assert_eq!(group.await, Ok(vec![8]));
            /// # });
            /// ```
            #[track_caller]
            pub fn push<F>(&mut self, fut: F)
            where
                F: Future<Output = Result<T, E>> $($Send)* + 'a,
            {
                self.core.push(Box::pin(fut), concat!(stringify!($Group), "::push"));
            }

            /// Adds a task only if it can start now (Go's `TryGo`): the group is under its limit
            /// and no task is waiting. Otherwise the task is handed back, untouched.
            ///
            /// # Errors
            ///
            /// [`PushError::is_full`] when the group is at its limit; [`PushError::is_closed`]
            /// when the group has finished. [`PushError::into_inner`] returns the task.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, ()>::with_limit(1);")]
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
                F: Future<Output = Result<T, E>> $($Send)* + 'a,
            {
                if self.core.is_finished() {
                    Err(PushError::closed(fut))
                } else if self.core.can_start() {
                    self.core.push(Box::pin(fut), concat!(stringify!($Group), "::try_push"));
                    Ok(())
                } else {
                    Err(PushError::full(fut))
                }
            }

            /// The number of tasks not finished yet: running, waiting behind the limit, or
            /// pushed through a handle and not yet received. Results that finished during a
            /// [`run_until`](Self::run_until) and wait for the next `try_next` are counted by
            /// [`kept`](Self::kept) instead: a loop that must not end while some are kept
            /// checks both.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<(), ()>::with_limit(1);")]
            /// group.push(async { Ok(()) });
            /// group.push(async { Ok(()) }); // waits behind the limit, still counted
            /// assert_eq!(group.len(), 2);
            /// ```
            pub fn len(&self) -> usize {
                self.core.len()
            }

            /// Whether no task is left (see [`len`](Self::len)); results may still be
            /// [`kept`](Self::kept).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<(), ()>::new();")]
            /// assert!(group.is_empty());
            /// group.push(async { Ok(()) });
            /// assert!(!group.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// A [`CancelToken`] that fires when the group fails, is dropped, or finishes: Go's
            /// `ctx` from `WithContext`, for work the group cannot drop. Taken after the group
            /// ended, it is already cancelled.
            ///
            /// The token is created on first use; a group that never asks for one pays nothing
            /// for it.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<(), &str>::new();")]
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

            #[doc = concat!("A [`", stringify!($Handle), "`] that pushes tasks into this group")]
            /// from inside its tasks or from elsewhere. Handles do not keep the group alive.
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, ()>::new();")]
            /// let handle = group.handle();
            /// group.push(async move {
            ///     handle.push(async { Ok(2) }).unwrap(); // fan out from inside
            ///     Ok(1)
            /// });
            /// assert_eq!(group.await, Ok(vec![1, 2]));
            /// # });
            /// ```
            pub fn handle(&self) -> $Handle<'a, T, E> {
                $Handle::new(self.core.inbox())
            }

            /// The next result, in completion order: `Ok(Some(value))`, `Ok(None)` when no task
            /// is left, or the first error. It drives the whole group while it waits.
            ///
            /// After `Ok(None)` the group stays usable: push more tasks and call `try_next`
            /// again (a crawler loop). A later `.await` of the group returns only the results
            /// `try_next` did not, and finishes the group (its token fires with `Finished`; a
            /// group that is only dropped reports `Dropped`). After an error the group has failed
            /// like the group future: every other task is dropped, the token fires, `try_next`
            /// returns `Ok(None)` from then on, and awaiting the group panics, as after any end.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: dropping the returned future before it completes loses no result and
            /// drops no task. Results are taken out of the group only in the poll that returns
            /// them, so the tasks it drove simply carry on at the next call (in a `select!` loop,
            /// for example).
            ///
            /// # Examples
            ///
            /// ```
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = errgroup::", stringify!($Group), "::<u32, ()>::with_limit(4);")]
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

            /// Runs `fut` to completion while driving the group's tasks: the tasks keep running
            /// while the caller awaits its own work (tokio's `LocalSet::run_until`).
            ///
            /// A group's tasks only make progress while something polls the group. A `try_next`
            /// loop that awaits something slow between two calls, such as saving each result,
            /// stalls every task meanwhile; `run_until` is the way to await that work without
            /// the stall.
            ///
            /// Each poll polls `fut`, then the tasks. It resolves to:
            ///
            /// - `Ok(output)` as soon as `fut` completes. Results of tasks that finished
            ///   meanwhile are kept: [`try_next`](Self::try_next) hands them out in completion
            ///   order, and the group future returns them in push order with the rest. The group
            ///   stays as it was (tasks still running stay running), so it can be driven further
            ///   in any way.
            /// - `Err(error)` at once when a task fails: the group has failed exactly as if it
            ///   were being awaited (every task dropped, the token fired, handles refused), and
            ///   `fut` is dropped before this returns.
            ///
            /// On an empty or finished group it just runs `fut`; an empty group still receives
            #[doc = concat!("what a [`", stringify!($Handle), "`] pushes while `fut` runs, so `fut` can be the")]
            /// producer that feeds the group. `fut` need not be `Send` (the returned future is
            /// `Send` when `fut` and the group are), and it may borrow anything but the group
            /// itself.
            ///
            /// # Panics
            ///
            /// A panicking task behaves as under `.await`: it unwinds through this future (its
            /// siblings dropped and the token fired on the way), or becomes the error with
            /// `catch_panics`. A panic in `fut` unwinds to the caller and leaves the group as it
            /// was.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: dropping the returned future drops `fut` and nothing else. The tasks
            /// live in the group, not in this future, and a result is moved into the group's
            /// kept results in the same poll that takes it from its task, so no task is dropped
            /// and no result is lost; the tasks simply wait for the next poll of the group.
            ///
            /// # Examples
            ///
            /// Saving each result while the other fetches carry on:
            ///
            /// ```
            #[doc = concat!("use errgroup::", stringify!($Group), ";")]
            ///
            /// # /// Yields to the executor `n` times: stands for real I/O.
            /// # async fn io(n: usize) {
            /// #     for _ in 0..n {
            /// #         futures_lite::future::yield_now().await;
            /// #     }
            /// # }
            /// async fn fetch(id: u32) -> Result<u32, String> {
            ///     io(5).await;
            ///     Ok(id)
            /// }
            /// async fn save(id: u32) -> Result<(), String> {
            ///     io(20).await; // slower than a fetch
            ///     Ok(())
            /// }
            ///
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// for id in 0..4 {
            ///     group.push(fetch(id));
            /// }
            /// let first = group.try_next().await?.unwrap();
            /// // The outer `?` is the group's error (a fetch failed), the inner one `save`'s own.
            /// group.run_until(save(first)).await??;
            /// // The other fetches finished while `save` ran: their results were kept.
            /// assert_eq!(group.len(), 0);
            /// assert_eq!(group.await?, [1, 2, 3]);
            /// # Ok::<(), String>(())
            /// # }).unwrap();
            /// ```
            pub fn run_until<F: Future>(&mut self, fut: F) -> RunUntil<'_, Self, F> {
                RunUntil::new(self, fut)
            }
        }

        #[allow(private_interfaces)]
        impl<'a, T, E> sealed::Group for $Group<'a, T, E> {
            type Task = $Box<'a, Result<T, E>>;
            type Ok = T;
            type Err = E;

            fn core(&mut self) -> &mut Core<Self::Task, T, E> {
                &mut self.core
            }

            fn core_ref(&self) -> &Core<Self::Task, T, E> {
                &self.core
            }
        }

        impl<T, E> Future for $Group<'_, T, E> {
            type Output = Result<Vec<T>, E>;

            /// Drives every task; resolves to all results in push order (less those `try_next`
            /// already returned), or to the first error once every other task has been dropped.
            ///
            /// # Panics
            ///
            /// If polled again after it completed; and, unless the group was built with
            /// `catch_panics`, when a task panics (with the task's payload).
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.core.poll_all(cx, stringify!($Group))
            }
        }

        impl<T, E> FusedFuture for $Group<'_, T, E> {
            fn is_terminated(&self) -> bool {
                self.core.is_finished()
            }
        }

        // No field is ever pinned: tasks are boxed and values are moved freely.
        impl<T, E> Unpin for $Group<'_, T, E> {}

        impl<T, E> Default for $Group<'_, T, E> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T, E> fmt::Debug for $Group<'_, T, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.fmt_debug(stringify!($Group), f)
            }
        }

        #[doc = concat!("`futs.into_iter().collect::<", stringify!($Group), "<_, _>>().await` is")]
        /// `try_join_all` that fails fast and takes futures of different types (boxed by the
        /// caller, or all of one type).
        impl<'a, T, E, F> FromIterator<F> for $Group<'a, T, E>
        where
            F: Future<Output = Result<T, E>> $($Send)* + 'a,
        {
            fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
                let mut group = Self::new();
                group.extend(iter);
                group
            }
        }

        impl<'a, T, E, F> Extend<F> for $Group<'a, T, E>
        where
            F: Future<Output = Result<T, E>> $($Send)* + 'a,
        {
            #[track_caller]
            fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
                for fut in iter {
                    self.push(fut);
                }
            }
        }
    };
}

front! {
    /// A group of fallible tasks run concurrently, in place, that fails fast: Go's
    /// `errgroup.Group` as a future.
    ///
    /// Push tasks (any `Future<Output = Result<T, E>> + Send + 'a`, of any type), then `.await`
    /// the group: it resolves to every `T` in push order, or to the **first** error, at once.
    /// Before it returns that error, every other task, running or waiting, has been dropped:
    /// dropping is the cancellation, so it is guaranteed rather than cooperative, and no task
    /// starts after it.
    ///
    /// The group polls its tasks itself, on the task that awaits it, and never spawns. So it
    /// works on any executor, and tasks may borrow the caller's locals. The flip side: tasks
    /// only make progress while the group is being polled (see
    /// [`run_until`](ErrGroup::run_until)).
    ///
    /// # Polls and wake-ups
    ///
    /// A task is polled when it starts and then only after a wake-up meant for it, at most once
    /// per poll of the group, however many siblings it has and however deep groups are nested
    /// in each other's tasks. A wake-up costs the same in a group of three tasks or thirty
    /// thousand. A task that wakes itself (a cooperative yield) is polled again on the group's
    /// next poll, and the group hands the thread back to the executor in between. A task keeps
    /// the waker it was given for as long as it waits.
    ///
    /// Use [`LocalErrGroup`](crate::LocalErrGroup) when the tasks are not `Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::ErrGroup;
    ///
    /// async fn fetch(service: &str, id: u32) -> Result<String, String> {
    ///     Ok(format!("{service}/{id}"))
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let id = 7;
    /// let mut group = ErrGroup::new();
    /// group.push(fetch("users", id));       // different future types,
    /// group.push(async { Ok("cached".to_string()) }); // one group
    /// group.push(fetch("orders", id));
    /// let parts = group.await?;             // push order, or the first error
    /// assert_eq!(parts, ["users/7", "cached", "orders/7"]);
    /// # Ok::<(), String>(())
    /// # }).unwrap();
    /// ```
    ErrGroup, Handle, BoxFuture, [+ Send]
}

front! {
    /// An [`ErrGroup`](crate::ErrGroup) whose tasks need not be `Send`: `Rc`, `RefCell` borrows,
    /// thread-local clients, or a single-threaded executor (futures' `LocalPool`, tokio's
    /// `LocalSet`, a browser or an embedded executor).
    ///
    /// Same API and semantics as `ErrGroup`: push order results or the first error, at once,
    /// with every other task dropped before it returns, and the same guarantees on polls and
    /// wake-ups. The group itself is not `Send`.
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
    LocalErrGroup, LocalHandle, LocalBoxFuture, []
}
