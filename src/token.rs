//! [`CancelToken`]: the group's end, seen from work the group cannot drop.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU8, Ordering::SeqCst};
use core::task::{Context, Poll};

use event_listener::{Event, EventListener};
use pin_project_lite::pin_project;

use crate::Cause;

/// Fires when its group fails, is dropped, or finishes: Go's `ctx` from `errgroup.WithContext`.
///
/// Dropping a task is how a group cancels the work *inside* it. Work it cannot drop (a task
/// spawned on a runtime, whose `JoinHandle` does not stop it when dropped; a blocking thread;
/// a child process) watches a token instead: [`is_cancelled`](CancelToken::is_cancelled) to
/// poll, [`cancelled`](CancelToken::cancelled) to await, or
/// [`run_until_cancelled`](CancelToken::run_until_cancelled) to wrap a future.
///
/// Get one with [`ErrGroup::token`](crate::ErrGroup::token). It is `Clone + Send + Sync +
/// 'static`, and wakes waiters on any thread and any executor. It fires exactly once, never
/// before the group ends: on the first error, when a task panics, when the group is dropped, and
/// when the group future returns successfully ("the first time `Wait` returns"). A token taken
/// from a group that has already ended is already cancelled. [`cause`](CancelToken::cause) then
/// says why the group ended (Go's `context.Cause`).
///
/// # Examples
///
/// ```
/// use errgroup::ErrGroup;
///
/// # futures::executor::block_on(async {
/// let mut group = ErrGroup::<(), &str>::new();
/// let token = group.token();
/// let watcher = std::thread::spawn(move || {
///     futures::executor::block_on(token.cancelled());
///     "stopped"
/// });
/// group.push(async { Err("downstream failed") });
/// assert_eq!(group.await, Err("downstream failed"));
/// assert_eq!(watcher.join().unwrap(), "stopped");
/// # });
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

/// The token's shared state.
///
/// # Why whoever sees the token fire also sees its cause
///
/// `state` is one word: `0` while the group runs, then the [`Cause::code`] of the first cause.
/// The flag and the cause are therefore never written apart: the group's single
/// compare-exchange from `0` both fires the token and records why, and every way of observing
/// the firing (`is_cancelled`, `Cancelled` returning `Ready`, `run_until_cancelled` returning
/// `None`) is a load of that same word that found it non-zero, so `cause()` after it reads the
/// cause (and a later load of one atomic never reads an older value than an earlier one). The
/// word is written at most once, so the cause never changes.
struct Inner {
    state: AtomicU8,
    event: Event,
}

impl Inner {
    fn is_cancelled(&self) -> bool {
        self.state.load(SeqCst) != 0
    }
}

impl CancelToken {
    /// A token for a group that is running (`None`) or has ended with `cause`.
    pub(crate) fn new(cause: Option<Cause>) -> Self {
        CancelToken {
            inner: Arc::new(Inner {
                state: AtomicU8::new(cause.map_or(0, Cause::code)),
                event: Event::new(),
            }),
        }
    }

    /// Fires the token with `cause`, unless it has fired already (the first cause stays).
    pub(crate) fn cancel(&self, cause: Cause) {
        if self
            .inner
            .state
            .compare_exchange(0, cause.code(), SeqCst, SeqCst)
            .is_ok()
        {
            self.inner.event.notify(usize::MAX);
        }
    }

    /// Whether the group has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = errgroup::ErrGroup::<(), ()>::new();
    /// let token = group.token();
    /// assert!(!token.is_cancelled());
    /// drop(group);
    /// assert!(token.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// Why the group ended (Go's `context.Cause`): `None` while it runs, then the first
    /// [`Cause`], which never changes afterwards.
    ///
    /// It is set in the same instant the token fires, so anyone who has seen the token fire
    /// ([`is_cancelled`](Self::is_cancelled) returned `true`, [`cancelled`](Self::cancelled)
    /// completed, [`run_until_cancelled`](Self::run_until_cancelled) returned `None`) reads
    /// `Some` here. A token taken from a group that has already ended reads that group's cause.
    ///
    /// # Examples
    ///
    /// Outside work that commits when the group finished and rolls back otherwise:
    ///
    /// ```
    /// use errgroup::{Cause, ErrGroup};
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::<u32, &str>::new();
    /// let token = group.token();
    /// let writer = std::thread::spawn(move || {
    ///     futures::executor::block_on(token.cancelled());
    ///     match token.cause() {
    ///         Some(Cause::Finished) => "committed",
    ///         _ => "rolled back",
    ///     }
    /// });
    /// assert_eq!(group.token().cause(), None); // still running
    /// group.push(async { Ok(1) });
    /// group.push(async { Err("inventory: 503") });
    /// assert_eq!(group.await, Err("inventory: 503"));
    /// assert_eq!(writer.join().unwrap(), "rolled back");
    /// # });
    /// ```
    pub fn cause(&self) -> Option<Cause> {
        Cause::from_code(self.inner.state.load(SeqCst))
    }

    /// A future that completes when the token fires. It is `'static` and `Send`, so it can be
    /// moved into a spawned task or a thread.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping it only unregisters its listener, and any number of these futures
    /// can wait on one token.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::ErrGroup;
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::<(), ()>::new();
    /// let cancelled = group.token().cancelled();
    /// group.push(async { Ok(()) });
    /// group.await?;
    /// cancelled.await; // a group that finishes fires its token too
    /// # Ok::<(), ()>(())
    /// # }).unwrap();
    /// ```
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            inner: Arc::clone(&self.inner),
            listener: None,
        }
    }

    /// Runs `fut` until it completes (`Some(output)`) or the token fires (`None`, and `fut` is
    /// not polled again). When both are ready, cancellation wins.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`: dropping the returned future drops `fut`.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::ErrGroup;
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::<(), &str>::new();
    /// let token = group.token();
    /// let outside = std::thread::spawn(move || {
    ///     futures::executor::block_on(token.run_until_cancelled(std::future::pending::<()>()))
    /// });
    /// group.push(async { Err("boom") });
    /// assert_eq!(group.await, Err("boom"));
    /// assert_eq!(outside.join().unwrap(), None);
    /// # });
    /// ```
    pub fn run_until_cancelled<F: Future>(&self, fut: F) -> RunUntilCancelled<F> {
        RunUntilCancelled {
            future: fut,
            cancelled: self.cancelled(),
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cause", &self.cause())
            .finish()
    }
}

/// The future returned by [`CancelToken::cancelled`].
///
/// # Examples
///
/// ```
/// let group = errgroup::ErrGroup::<(), ()>::new();
/// let cancelled: errgroup::futures::Cancelled = group.token().cancelled();
/// drop(group);
/// futures::executor::block_on(cancelled);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Cancelled {
    inner: Arc<Inner>,
    listener: Option<EventListener>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.inner.is_cancelled() {
                this.listener = None;
                return Poll::Ready(());
            }
            match &mut this.listener {
                // Listen, then check the flag again before sleeping: a `cancel` in between
                // either set the flag we are about to read or notifies our listener.
                None => this.listener = Some(this.inner.event.listen()),
                Some(listener) => {
                    futures_core::ready!(Pin::new(listener).poll(cx));
                    this.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("cancelled", &self.inner.is_cancelled())
            .finish()
    }
}

pin_project! {
    /// The future returned by [`CancelToken::run_until_cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// let group = errgroup::ErrGroup::<(), ()>::new();
    /// let run: errgroup::futures::RunUntilCancelled<_> =
    ///     group.token().run_until_cancelled(async { 7 });
    /// assert_eq!(futures::executor::block_on(run), Some(7));
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct RunUntilCancelled<F> {
        #[pin]
        future: F,
        cancelled: Cancelled,
    }
}

impl<F: Future> Future for RunUntilCancelled<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if Pin::new(this.cancelled).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        this.future.poll(cx).map(Some)
    }
}

impl<F> fmt::Debug for RunUntilCancelled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunUntilCancelled")
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}
