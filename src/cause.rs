//! [`Cause`]: why a group ended, as its [`CancelToken`](crate::CancelToken) reports it.

use core::fmt;

/// Why a group ended: what [`CancelToken::cause`](crate::CancelToken::cause) reports once the
/// token has fired (Go's `context.Cause`).
///
/// A group ends once, and its cause is the first of these that happened; it never changes
/// afterwards (a group that failed and is then dropped still reads [`Failed`](Cause::Failed)).
///
/// Work outside the group often has to act on the reason: commit when the group finished, roll
/// back when it failed, report a bug when a task panicked.
///
/// # Examples
///
/// ```
/// use errgroup::{Cause, ErrGroup};
///
/// # futures::executor::block_on(async {
/// let mut group = ErrGroup::<(), &str>::new();
/// let token = group.token();
/// group.push(async { Err("payment declined") });
/// assert_eq!(group.await, Err("payment declined"));
///
/// match token.cause() {
///     Some(Cause::Finished) => println!("commit"),
///     Some(Cause::Failed) => println!("roll back"),
///     Some(Cause::Panicked) => println!("roll back, and report the bug"),
///     Some(Cause::Cancelled) => println!("roll back: a deadline or a shutdown"),
///     Some(_) => println!("the group was abandoned: roll back"),
///     None => unreachable!("the group has ended"),
/// }
/// assert_eq!(token.cause(), Some(Cause::Failed));
/// # });
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A task returned an error: the group future, [`try_next`](crate::ErrGroup::try_next) or
    /// `run_until` returned it.
    Failed,
    /// A task panicked, whether the panic unwound into the caller or became the group's error
    /// through `catch_panics`.
    Panicked,
    /// The group future returned `Ok`: every task finished (Go: "the first time `Wait`
    /// returns"). A `try_next` that returns `Ok(None)` does not end the group.
    Finished,
    /// The group was dropped before it ended in one of the other ways.
    Dropped,
    /// The group was ended on purpose: by [`cancel`](crate::ErrGroup::cancel), or by the stop
    /// future given to [`cancel_on`](crate::ErrGroup::cancel_on) (a deadline, a parent's
    /// cancellation, a shutdown).
    Cancelled,
}

impl Cause {
    /// The cause's code in the token's state word; `0` is reserved for "not ended".
    pub(crate) const fn code(self) -> u8 {
        match self {
            Cause::Failed => 1,
            Cause::Panicked => 2,
            Cause::Finished => 3,
            Cause::Dropped => 4,
            Cause::Cancelled => 5,
        }
    }

    /// The cause a state word holds, `None` for `0`.
    pub(crate) const fn from_code(code: u8) -> Option<Cause> {
        match code {
            1 => Some(Cause::Failed),
            2 => Some(Cause::Panicked),
            3 => Some(Cause::Finished),
            4 => Some(Cause::Dropped),
            5 => Some(Cause::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::Failed => "a task failed",
            Cause::Panicked => "a task panicked",
            Cause::Finished => "every task finished",
            Cause::Dropped => "the group was dropped",
            Cause::Cancelled => "the group was cancelled",
        })
    }
}
