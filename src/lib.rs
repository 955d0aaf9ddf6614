//! Go's [`errgroup`] as a runtime-agnostic future: run a group of fallible tasks concurrently,
//! get every result or the **first error at once**, with every other task already stopped.
//!
//! ```
//! use errgroup::ErrGroup;
//!
//! async fn call(service: &str) -> Result<String, String> {
//!     if service == "inventory" {
//!         return Err(format!("{service}: 503"));
//!     }
//!     Ok(format!("{service}: ok"))
//! }
//!
//! # futures::executor::block_on(async {
//! let mut group = ErrGroup::new();
//! for service in ["users", "inventory", "pricing"] {
//!     group.push(call(service));
//! }
//! // The first error fails the request; the other calls are dropped before `await` returns.
//! assert_eq!(group.await, Err("inventory: 503".to_string()));
//! # });
//! ```
//!
//! An [`ErrGroup`] is a [`Future`](core::future::Future) that polls its tasks in place, in a
//! `FuturesUnordered`, on whatever executor awaits it. It never spawns, so tasks may borrow the
//! caller's locals, and dropping a task is the cancellation: guaranteed, not cooperative.
//!
//! | Go (`x/sync/errgroup`, kratos) | `errgroup` |
//! |---|---|
//! | `var g errgroup.Group` | [`ErrGroup::new()`] |
//! | `g.Go(f)` | [`group.push(fut)`](ErrGroup::push), [`errgroup![a, b, c]`](errgroup!) |
//! | `g.Wait()` | `group.await` (all results, in push order) |
//! | `g.SetLimit(n)`, kratos `GOMAXPROCS` | [`ErrGroup::with_limit`], [`ErrGroup::set_limit`] |
//! | `g.TryGo(f)` | [`ErrGroup::try_push`] |
//! | `errgroup.WithContext(ctx)`, kratos `WithCancel` | [`ErrGroup::token`] ([`CancelToken`]) |
//! | `g.Go` from inside a goroutine | [`ErrGroup::handle`] ([`Handle::push`]) |
//! | kratos' panic `recover` | [`ErrGroup::catch_panics`] ([`Panicked`]) |
//! | reading a results channel | [`ErrGroup::try_next`] |
//!
//! # Stalls: tasks run only while the group is polled
//!
//! Because the group polls its tasks itself, they make progress only while the group is being
//! polled. A loop that takes a result with [`try_next`](ErrGroup::try_next) and then awaits
//! something slow *before* calling `try_next` again stalls every task meanwhile (the
//! `FuturesUnordered` trade-off, futures-rs #2387). Keep the loop body short, push the slow
//! step into the group as a task of its own, or `select!` on both.
//!
//! # Features
//!
//! - `std` (default): [`ErrGroup::catch_panics`] and [`Panicked`], and `std::error::Error` for
//!   [`PushError`]. Without it the crate is `no_std` and needs only `alloc`.
//!
//! [`errgroup`]: https://pkg.go.dev/golang.org/x/sync/errgroup

#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

extern crate alloc;

mod engine;
mod error;
pub mod futures;
mod group;
mod handle;
mod local;
mod sync;
mod token;

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use crate::error::Panicked;
pub use crate::error::PushError;
pub use crate::group::ErrGroup;
pub use crate::handle::{Handle, LocalHandle};
pub use crate::local::LocalErrGroup;
pub use crate::token::CancelToken;

/// Builds an [`ErrGroup`] with the given tasks pushed in order, like `vec!`.
///
/// The tasks may be futures of different types. `errgroup![]` is an empty group.
///
/// # Examples
///
/// ```
/// use errgroup::errgroup;
///
/// # futures::executor::block_on(async {
/// let group = errgroup![
///     async { Ok::<_, String>(1) },
///     std::future::ready(Ok(2)),
///     async { Ok(3) },
/// ];
/// assert_eq!(group.await?, [1, 2, 3]);
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! errgroup {
    () => {
        $crate::ErrGroup::new()
    };
    ($($task:expr),+ $(,)?) => {{
        let mut group = $crate::ErrGroup::new();
        $(group.push($task);)+
        group
    }};
}
