//! The named future types this crate returns, for storing them in structs or naming them in
//! signatures.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use crate::token::{Cancelled, RunUntilCancelled};
use crate::{ErrGroup, LocalErrGroup};

/// The future returned by [`ErrGroup::try_next`] and [`LocalErrGroup::try_next`]: the next
/// result in completion order, `Ok(None)` when no task is left, or the first error.
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

impl<G: fmt::Debug> fmt::Debug for TryNext<'_, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryNext")
            .field("group", &self.group)
            .finish()
    }
}
