//! [`PushError`] and, with `std`, [`Panicked`].

use core::fmt;

/// A task that a group did not accept, handed back untouched.
///
/// Returned by [`ErrGroup::try_push`](crate::ErrGroup::try_push) when the task cannot start now
/// ([`is_full`](PushError::is_full)), and by [`Handle::push`](crate::Handle::push) and `try_push`
/// when the group has finished, failed or been dropped ([`is_closed`](PushError::is_closed)).
/// Its `Debug` and `Display` need nothing of the task.
///
/// # Examples
///
/// ```
/// use errgroup::ErrGroup;
///
/// # futures::executor::block_on(async {
/// let mut group = ErrGroup::<u32, ()>::with_limit(1);
/// group.push(async { Ok(1) });
/// let err = group.try_push(async { Ok(2) }).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.to_string(), "the group is at its concurrency limit");
/// let task = err.into_inner(); // the original future, never polled
/// assert_eq!(task.await, Ok(2));
/// # });
/// ```
pub struct PushError<F> {
    task: F,
    closed: bool,
}

impl<F> PushError<F> {
    pub(crate) fn full(task: F) -> Self {
        PushError {
            task,
            closed: false,
        }
    }

    pub(crate) fn closed(task: F) -> Self {
        PushError { task, closed: true }
    }

    /// The task that was not accepted, as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = errgroup::ErrGroup::<u8, ()>::new();
    /// let handle = group.handle();
    /// drop(group);
    /// let task = handle.push(async { Ok(1) }).unwrap_err().into_inner();
    /// assert_eq!(futures::executor::block_on(task), Ok(1));
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }

    /// The task could not start because the group is at its limit (only `try_push`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut group = errgroup::ErrGroup::<(), ()>::with_limit(1);
    /// group.push(async { Ok(()) });
    /// assert!(group.try_push(async { Ok(()) }).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        !self.closed
    }

    /// The group has finished, failed or been dropped, and takes no more tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = errgroup::ErrGroup::<(), ()>::new();
    /// let handle = group.handle();
    /// drop(group);
    /// assert!(handle.push(async { Ok(()) }).unwrap_err().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl<F> fmt::Debug for PushError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushError")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for PushError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.closed {
            "the group has finished and takes no more tasks"
        } else {
            "the group is at its concurrency limit"
        })
    }
}

#[cfg(feature = "std")]
impl<F> std::error::Error for PushError<F> {}

#[cfg(feature = "std")]
pub use self::panicked::Panicked;

#[cfg(feature = "std")]
mod panicked {
    use std::any::Any;
    use std::fmt;
    use std::sync::Mutex;

    /// A task's panic, caught by a group built with `catch_panics` (kratos' `recover`).
    ///
    /// It keeps the panic message and the original payload, and is a `Send + Sync`
    /// [`std::error::Error`], so `anyhow::Error`, `Box<dyn Error + Send + Sync>` and your own
    /// error enums can take it through `From`.
    ///
    /// # Examples
    ///
    /// ```
    /// use errgroup::{ErrGroup, Panicked};
    ///
    /// #[derive(Debug)]
    /// enum ApiError { Downstream(&'static str), Bug(Panicked) }
    /// impl From<Panicked> for ApiError {
    ///     fn from(p: Panicked) -> Self { ApiError::Bug(p) }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let mut group = ErrGroup::<u32, ApiError>::new().catch_panics();
    /// group.push(async { Ok(1) });
    /// group.push(async { panic!("index out of range") });
    /// match group.await {
    ///     Err(ApiError::Bug(p)) => assert_eq!(p.message(), "index out of range"),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # });
    /// ```
    pub struct Panicked {
        message: String,
        payload: Mutex<Box<dyn Any + Send>>,
    }

    impl Panicked {
        pub(crate) fn new(payload: Box<dyn Any + Send>) -> Self {
            let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "Box<dyn Any>".to_owned()
            };
            Panicked {
                message,
                payload: Mutex::new(payload),
            }
        }

        /// The panic message (`"Box<dyn Any>"` when the payload was not a string).
        ///
        /// # Examples
        ///
        /// ```
        /// # futures::executor::block_on(async {
        /// let mut group = errgroup::ErrGroup::<(), errgroup::Panicked>::new().catch_panics();
        /// group.push(async { panic!("bad input: {}", 42) });
        /// assert_eq!(group.await.unwrap_err().message(), "bad input: 42");
        /// # });
        /// ```
        pub fn message(&self) -> &str {
            &self.message
        }

        /// The value the task panicked with, for `downcast` or
        /// [`std::panic::resume_unwind`].
        ///
        /// # Examples
        ///
        /// ```
        /// # futures::executor::block_on(async {
        /// let mut group = errgroup::ErrGroup::<(), errgroup::Panicked>::new().catch_panics();
        /// group.push(async { std::panic::panic_any(7_u8) });
        /// let payload = group.await.unwrap_err().into_payload();
        /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
        /// # });
        /// ```
        pub fn into_payload(self) -> Box<dyn Any + Send> {
            self.payload
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }

    impl fmt::Debug for Panicked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Panicked")
                .field("message", &self.message)
                .finish_non_exhaustive()
        }
    }

    impl fmt::Display for Panicked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a task panicked: {}", self.message)
        }
    }

    impl std::error::Error for Panicked {}
}
