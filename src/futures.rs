//! The named future types this crate returns, for storing them in structs or naming them in
//! signatures.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use crate::token::{Cancelled, RunUntilCancelled};
use futures_core::future::FusedFuture;

use crate::{ErrGroup, LocalErrGroup};

/// The future returned by [`ErrGroup::try_next`] and [`LocalErrGroup::try_next`]: the next
/// result in completion order, `Ok(None)` when no task is left, or the first error.
///
/// It is a [`FusedFuture`] that counts as terminated once its group has finished, so
/// `futures::select!` takes `group.try_next()` as it is, and skips it after the group failed.
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
/// In a `futures::select!` loop beside other work, here a shutdown signal:
///
/// ```
/// use errgroup::ErrGroup;
/// use futures::{channel::oneshot, select};
///
/// # futures::executor::block_on(async {
/// let (stop, mut stopped) = oneshot::channel::<()>();
/// let mut stop = Some(stop);
/// let mut group = ErrGroup::<u32, ()>::new();
/// group.push(async { Ok(1) });
/// group.push(futures::future::pending()); // never finishes
/// let mut results = vec![];
/// loop {
///     select! {
///         next = group.try_next() => {
///             results.extend(next?);
///             stop.take().map(|stop| stop.send(())); // enough: shut down
///         }
///         _ = stopped => break,
///     }
/// }
/// drop(group); // drops the task that never finished
/// assert_eq!(results, [1]);
/// # Ok::<(), ()>(())
/// # }).unwrap();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct TryNext<'g, G> {
    group: &'g mut G,
}

impl<'g, G> TryNext<'g, G> {
    pub(crate) fn new(group: &'g mut G) -> Self {
        TryNext { group }
    }
}

impl<T, E> Future for TryNext<'_, ErrGroup<'_, T, E>> {
    type Output = Result<Option<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().group.poll_try_next(cx)
    }
}

impl<T, E> Future for TryNext<'_, LocalErrGroup<'_, T, E>> {
    type Output = Result<Option<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().group.poll_try_next(cx)
    }
}

impl<T, E> FusedFuture for TryNext<'_, ErrGroup<'_, T, E>> {
    fn is_terminated(&self) -> bool {
        self.group.is_terminated()
    }
}

impl<T, E> FusedFuture for TryNext<'_, LocalErrGroup<'_, T, E>> {
    fn is_terminated(&self) -> bool {
        self.group.is_terminated()
    }
}

impl<G: fmt::Debug> fmt::Debug for TryNext<'_, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryNext")
            .field("group", &self.group)
            .finish()
    }
}
