//! The named future types this crate returns, for storing them in structs or naming them in
//! signatures.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use crate::token::{Cancelled, RunUntilCancelled};
use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use crate::group::sealed::Group;

/// The future returned by [`ErrGroup::try_next`](crate::ErrGroup::try_next) and
/// [`LocalErrGroup::try_next`](crate::LocalErrGroup::try_next): the next
/// result in completion order, `Ok(None)` when no task is left, or the first error.
///
/// It is a [`FusedFuture`] that counts as terminated while its group holds no task (nothing is
/// running, waiting or on its way through a handle, and no result is kept), and once the group
/// has ended, as `FuturesUnordered` is when empty. So `futures::select!` takes `group.try_next()`
/// as it is, skips it while the group is empty, and takes it again after a push: a loop that
/// receives jobs and runs them neither stops at the first moment the group is empty nor spins.
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
/// With `tokio::select!`, which does not look at `is_terminated`, guard the branch instead:
/// `next = group.try_next(), if !group.is_empty() => ..`. (`is_empty` counts tasks, not the
/// results a `run_until` kept: after such a loop, one more `try_next` or an `.await` of the group
/// hands those out.)
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
