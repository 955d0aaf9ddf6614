//! A task as the group holds it: tagged with its place in push order and, with `std`, with its
//! panic caught and handed to the core instead of unwinding through the running set.

use core::future::Future;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};

/// A task tagged with its position in push order.
///
/// With `std` it also catches the task's panic and returns it as the task's outcome, together
/// with the task itself: so the core, not the running set that polled it, decides when the
/// panicking task is dropped, and that is after the token has fired. (Without `std` there is no
/// `catch_unwind`; the panic unwinds through the running set, which may drop the task on the
/// way.)
pub(crate) struct Indexed<F> {
    /// Never zero, so that an `Option<Indexed<F>>` (a slot) is no larger than an `Indexed<F>`:
    /// `task` already uses its own niche.
    index: NonZeroUsize,
    /// `None` only after it panicked and was handed to the core.
    task: Option<F>,
}

impl<F> Indexed<F> {
    pub(crate) fn new(index: NonZeroUsize, task: F) -> Self {
        Indexed {
            index,
            task: Some(task),
        }
    }
}

impl<F> Indexed<F> {
    /// The task, unless it panicked and was handed to the core.
    pub(crate) fn into_inner(self) -> Option<F> {
        self.task
    }
}

// The task is only ever polled through `Pin::new`, which needs `F: Unpin`; nothing is pinned
// structurally, so the wrapper can move freely whatever `F` is.
impl<F> Unpin for Indexed<F> {}

/// How a task ended.
pub(crate) enum Outcome<O, F> {
    /// Its output, and the task itself, not dropped yet: the core drops it, after the token
    /// fired if the output is an error.
    Done(O, Option<F>),
    /// It panicked: the payload, and the task, not dropped yet.
    #[cfg(feature = "std")]
    Panicked(alloc::boxed::Box<dyn core::any::Any + Send>, Option<F>),
    #[cfg(not(feature = "std"))]
    #[allow(dead_code)]
    Never(core::convert::Infallible, core::marker::PhantomData<F>),
}

impl<F: Future + Unpin> Future for Indexed<F> {
    type Output = (usize, Outcome<F::Output, F>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index.get();
        let Some(task) = self.task.as_mut() else {
            // Handed to the core after a panic; the set that held it is being dropped.
            return Poll::Pending;
        };
        #[cfg(feature = "std")]
        {
            let poll =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Pin::new(task).poll(cx)));
            match poll {
                Ok(Poll::Ready(out)) => Poll::Ready((index, Outcome::Done(out, self.task.take()))),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => {
                    let task = self.task.take();
                    Poll::Ready((index, Outcome::Panicked(payload, task)))
                }
            }
        }
        #[cfg(not(feature = "std"))]
        match Pin::new(task).poll(cx) {
            Poll::Ready(out) => Poll::Ready((index, Outcome::Done(out, self.task.take()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
