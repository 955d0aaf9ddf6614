//! The named future types this crate returns, for storing them in structs or naming them in
//! signatures.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use crate::token::{Cancelled, RunUntilCancelled};
use futures_core::future::FusedFuture;
use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::group::sealed::Group;

/// The future returned by [`ErrGroup::try_next`](crate::ErrGroup::try_next) and
/// [`LocalErrGroup::try_next`](crate::LocalErrGroup::try_next): the next
/// result in completion order, `Ok(None)` when no task is left, or the first error.
///
/// It is a [`FusedFuture`] that counts as terminated while its group holds no task (nothing is
/// running, waiting or on its way through a handle, and no result is kept), and once the group
/// has ended, as `FuturesUnordered` is when empty (with a handle alive, see below). So
/// `futures::select!` takes `group.try_next()` as it is, skips it while the group is empty, and
/// takes it again after a push: a loop that receives jobs and runs them neither stops at the
/// first moment the group is empty nor spins.
///
/// # Examples
///
/// ```
/// use errgroup::{futures::TryNext, ErrGroup};
///
/// # futures::executor::block_on(async {
/// let mut group = ErrGroup::<u32, ()>::new();
/// group.push(async { Ok(1) });
/// let next: TryNext<'_, ErrGroup<'_, u32, ()>> = group.try_next();
/// assert_eq!(next.await, Ok(Some(1)));
/// assert_eq!(group.try_next().await, Ok(None));
/// # });
/// ```
///
/// In a `futures::select!` loop that receives jobs from another thread and runs them in the
/// group. The group starts empty and is empty again whenever the jobs so far are done; `select!`
/// skips it then, and `complete` ends the loop once the channel has closed *and* the group is
/// empty:
///
/// ```
/// use errgroup::ErrGroup;
/// use futures::{channel::mpsc, select, StreamExt};
///
/// # futures::executor::block_on(async {
/// let (jobs_tx, mut jobs) = mpsc::unbounded::<u32>();
/// let producer = std::thread::spawn(move || {
///     for job in 1..=5 {
///         jobs_tx.unbounded_send(job).unwrap();
///     }
/// }); // dropping the sender closes the channel
///
/// let mut group = ErrGroup::<u32, String>::new();
/// let mut results = vec![];
/// loop {
///     select! {
///         job = jobs.next() => if let Some(job) = job {
///             group.push(async move { Ok(job * 10) });
///         },
///         next = group.try_next() => if let Some(value) = next? {
///             results.push(value);
///         },
///         complete => break, // no more jobs, and every one of them has run
///     }
/// }
/// producer.join().unwrap();
/// results.sort();
/// assert_eq!(results, [10, 20, 30, 40, 50]);
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
///
/// While a [`Handle`](crate::Handle) may still push, an empty group counts as terminated only
/// once a `try_next` has found it empty: that poll registers the loop's waker, which the next
/// push wakes. So the loop above also runs every job pushed through a handle from another thread,
/// on a group it never polled before; it polls the empty group once (`Ok(None)`), then sleeps.
///
/// With `tokio::select!`, which does not look at `is_terminated`, guard the branch instead:
/// `next = group.try_next(), if group.len() + group.kept() > 0 => ..` (`kept` counts the
/// results a `run_until` kept). That works for a loop that pushes the jobs itself, not for one
/// that only a handle feeds: `tokio::select!` reads its guards once per call, and takes a branch
/// that completed (an empty group's `try_next` completes at once) out of the rest of the call, so
/// nothing can bring it back when a push arrives. Run such a loop with `futures::select!`, which
/// works on tokio too, or let the group wait for its work with
/// [`run_until`](crate::ErrGroup::run_until)`(shutdown)`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryNext<'g, G> {
    group: &'g mut G,
}

impl<'g, G> TryNext<'g, G> {
    pub(crate) fn new(group: &'g mut G) -> Self {
        TryNext { group }
    }
}

impl<G: Group> Future for TryNext<'_, G> {
    type Output = Result<Option<G::Ok>, G::Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().group.core().poll_try_next(cx)
    }
}

impl<G: Group> FusedFuture for TryNext<'_, G> {
    fn is_terminated(&self) -> bool {
        self.group.core_ref().has_nothing_next()
    }
}

impl<G: fmt::Debug> fmt::Debug for TryNext<'_, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryNext")
            .field("group", &self.group)
            .finish()
    }
}

pin_project! {
    /// The future returned by [`ErrGroup::run_until`] and [`LocalErrGroup::run_until`]: runs a
    /// future of the caller's while driving the group's tasks.
    ///
    /// It resolves to `Ok(output)` as soon as the caller's future completes (the results that
    /// finished meanwhile stay in the group), or to the group's first error, with the caller's
    /// future dropped. Dropping it drops only the caller's future. It is `Send` when the
    /// caller's future and the group are, and a [`FusedFuture`] that is terminated once it has
    /// returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::{futures::RunUntil, ErrGroup};
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::<u32, ()>::new();
    /// group.push(async { Ok(1) });
    /// let run: RunUntil<'_, ErrGroup<'_, u32, ()>, _> = group.run_until(async { "mine" });
    /// assert_eq!(run.await, Ok("mine"));
    /// assert_eq!(group.await, Ok(vec![1]));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RunUntil<'g, G, F> {
        group: &'g mut G,
        // `None` once it has returned: the caller's future is dropped as soon as the outcome is
        // known (at once on a task's error).
        #[pin]
        fut: Option<F>,
    }
}

impl<'g, G, F> RunUntil<'g, G, F> {
    pub(crate) fn new(group: &'g mut G, fut: F) -> Self {
        RunUntil {
            group,
            fut: Some(fut),
        }
    }
}

/// The message of a `RunUntil` polled again after it returned.
const RUN_UNTIL_DONE: &str = "`RunUntil` polled after it completed";

impl<G: Group, F: Future> Future for RunUntil<'_, G, F> {
    type Output = Result<F::Output, G::Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let fut = this.fut.as_mut().as_pin_mut().expect(RUN_UNTIL_DONE);
        let output = futures_core::ready!(this.group.core().poll_run_until(cx, fut));
        this.fut.set(None);
        Poll::Ready(output)
    }
}

impl<G: Group, F: Future> FusedFuture for RunUntil<'_, G, F> {
    fn is_terminated(&self) -> bool {
        self.fut.is_none()
    }
}

impl<G: fmt::Debug, F> fmt::Debug for RunUntil<'_, G, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntil")
            .field("group", &self.group)
            .field("done", &self.fut.is_none())
            .finish_non_exhaustive()
    }
}

/// The group as a [`Stream`] of its results, in completion order: returned by
/// [`ErrGroup::stream`](crate::ErrGroup::stream) (borrowing the group) and
/// [`ErrGroup::into_stream`](crate::ErrGroup::into_stream) (owning it), and their
/// [`LocalErrGroup`](crate::LocalErrGroup) twins.
///
/// Each item is what [`try_next`](crate::ErrGroup::try_next) would return: `Ok(value)`, or the
/// first error, after which the stream ends for good (the group has failed). Otherwise it ends,
/// for now, when the group holds no task and no kept result and no [`Handle`](crate::Handle)
/// can push into it, and yields again after a push. While a handle lives, an empty group's
/// stream waits for its pushes, as a channel's receiver waits while a sender lives; it ends
/// when the last handle is dropped (drop the ones you hold). `try_next` instead answers
/// `Ok(None)` whenever the group is empty.
///
/// As a [`FusedStream`] it counts as terminated once the group has ended, and while it holds no
/// task, no kept result and no handle; that answer changes only through the group's owner (a
/// push, a new handle), never under a `select!` from another thread. A [`cancel_on`] stop does
/// not keep an empty group's stream going: a `select!` waiting on the stream alone does not wait
/// for the stop (it still ends the group, and the stream's next `next` returns its error).
///
/// [`cancel_on`]: crate::ErrGroup::cancel_on
///
/// # Examples
///
/// ```
/// use errgroup::{futures::GroupStream, ErrGroup};
/// use futures::StreamExt;
///
/// # futures::executor::block_on(async {
/// let mut group = ErrGroup::<u32, ()>::new();
/// group.push(async { Ok(1) });
/// let mut results: GroupStream<&mut ErrGroup<'_, u32, ()>> = group.stream();
/// assert_eq!(results.next().await, Some(Ok(1)));
/// assert_eq!(results.next().await, None);
/// # });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct GroupStream<G> {
    group: G,
}

impl<G> GroupStream<G> {
    pub(crate) fn new(group: G) -> Self {
        GroupStream { group }
    }

    /// The group, for pushing more tasks or awaiting what is left.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// # futures::executor::block_on(async {
    /// let mut results = errgroup::ErrGroup::<u32, ()>::new().into_stream();
    /// results.get_mut().push(async { Ok(7) });
    /// assert_eq!(results.next().await, Some(Ok(7)));
    /// let group = results.into_inner();
    /// assert!(group.is_empty());
    /// # });
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.group
    }

    /// The group the stream was made from.
    ///
    /// # Examples
    ///
    /// ```
    /// let results = errgroup::ErrGroup::<u32, ()>::new().into_stream();
    /// assert!(results.into_inner().is_empty());
    /// ```
    pub fn into_inner(self) -> G {
        self.group
    }
}

// The group is never pinned: tasks are boxed, and groups are `Unpin`.
impl<G> Unpin for GroupStream<G> {}

impl<G: Group> Stream for GroupStream<G> {
    type Item = Result<G::Ok, G::Err>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().group.core().poll_stream_next(cx)
    }
}

impl<G: Group> FusedStream for GroupStream<G> {
    fn is_terminated(&self) -> bool {
        self.group.core_ref().stream_ended()
    }
}

impl<G: fmt::Debug> fmt::Debug for GroupStream<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupStream")
            .field("group", &self.group)
            .finish()
    }
}
