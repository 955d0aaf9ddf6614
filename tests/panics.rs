//! Panics in tasks. With `catch_panics()` a panicking task becomes the group's error through
//! `E: From<Panicked>`: the message is kept (`&str`, `String`, and `"Box<dyn Any>"` for other
//! payloads), `into_payload` returns the original payload, the siblings are dropped and the token
//! fires; for `ErrGroup` and `LocalErrGroup`, on futures' `block_on` and tokio's multi-thread
//! runtime. Without it the panic reaches the caller with its payload, after the siblings were
//! dropped and the token fired.
#![cfg(feature = "std")]

mod support;

use std::error::Error;
use std::future::{pending, Future};
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;

use errgroup::{ErrGroup, LocalErrGroup, Panicked};
use futures::executor::block_on;
use static_assertions::assert_impl_all;

use support::{poll_once, track, yield_times, Probe};

assert_impl_all!(Panicked: Error, Send, Sync, std::fmt::Debug, std::fmt::Display);

/// The error type of a service: its own failures, or a bug caught from a panicking task.
#[derive(Debug)]
enum ApiError {
    Downstream(&'static str),
    Bug(Panicked),
}

impl From<Panicked> for ApiError {
    fn from(panicked: Panicked) -> Self {
        ApiError::Bug(panicked)
    }
}

impl ApiError {
    fn into_panicked(self) -> Panicked {
        match self {
            ApiError::Bug(panicked) => panicked,
            ApiError::Downstream(what) => panic!("expected a caught panic, got Downstream({what})"),
        }
    }
}

/// Polls `fut` by hand until it is ready, failing after many polls instead of hanging (the
/// groups here hold a task that never completes, which must not delay the error).
fn poll_bounded<F: Future + Unpin>(fut: &mut F) -> F::Output {
    for _ in 0..1_000 {
        if let Poll::Ready(out) = poll_once(fut) {
            return out;
        }
    }
    panic!("still pending after 1000 polls")
}

/// A group with a pending sibling and a completed one (tracked by `probe`, ids 0 and 1) and a
/// task that panics with `payload` after a yield.
fn group_with_panic<P: std::any::Any + Send + 'static>(
    probe: &Arc<Probe>,
    payload: impl FnOnce() -> P + Send + 'static,
) -> ErrGroup<'static, u32, ApiError> {
    let mut group = ErrGroup::new();
    group.push(track(Arc::clone(probe), 0, pending()));
    group.push(track(Arc::clone(probe), 1, async { Ok(1) }));
    group.push(async move {
        yield_times(1).await;
        panic_any(payload())
    });
    group
}

// ---------------------------------------------------------------------------------------------
// catch_panics

#[test]
fn a_caught_panic_becomes_the_error_with_its_str_message() {
    let probe = Probe::new();
    let mut group = group_with_panic(&probe, || "index out of range").catch_panics();
    let token = group.token();
    let err = poll_bounded(&mut group).unwrap_err().into_panicked();
    assert_eq!(err.message(), "index out of range");
    assert_eq!(err.to_string(), "a task panicked: index out of range");
    assert!(format!("{err:?}").contains("index out of range"));
    assert_eq!(probe.completed(), 1);
    assert_eq!(probe.dropped(), 1, "the pending sibling is dropped");
    assert!(token.is_cancelled());
    assert!(group.handle().is_closed());
    let payload = err.into_payload();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"index out of range"));
}

#[test]
fn a_caught_panic_keeps_a_formatted_string_message() {
    let probe = Probe::new();
    let mut group = ErrGroup::<u32, ApiError>::new().catch_panics();
    group.push(track(Arc::clone(&probe), 0, pending()));
    // A runtime argument: a literal one would be folded into a `&'static str` payload.
    let input = std::hint::black_box(42);
    group.push(async move {
        yield_times(1).await;
        panic!("bad input: {input}")
    });
    let err = poll_bounded(&mut group).unwrap_err().into_panicked();
    assert_eq!(err.message(), "bad input: 42");
    assert_eq!(
        err.into_payload().downcast::<String>().ok().as_deref(),
        Some(&"bad input: 42".to_string())
    );
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn a_caught_panic_with_another_payload_keeps_the_payload() {
    #[derive(Debug, PartialEq)]
    struct Code(u16);
    let probe = Probe::new();
    let mut group = group_with_panic(&probe, || Code(503)).catch_panics();
    let err = poll_bounded(&mut group).unwrap_err().into_panicked();
    assert_eq!(err.message(), "Box<dyn Any>");
    assert_eq!(err.into_payload().downcast_ref::<Code>(), Some(&Code(503)));
    assert_eq!(probe.dropped(), 1);
}

#[test]
fn a_caught_panic_converts_into_boxed_errors() {
    let mut group = ErrGroup::<(), Box<dyn Error + Send + Sync>>::new().catch_panics();
    group.push(async { panic!("boxed") });
    let err = block_on(group).unwrap_err();
    let panicked = err.downcast::<Panicked>().unwrap();
    assert_eq!(panicked.message(), "boxed");
}

#[test]
fn an_ordinary_error_is_untouched_by_catch_panics() {
    let mut group = ErrGroup::<u32, ApiError>::new().catch_panics();
    group.push(async { Err(ApiError::Downstream("503")) });
    assert!(matches!(block_on(group), Err(ApiError::Downstream("503"))));
}

#[test]
fn try_next_returns_a_caught_panic_and_the_group_is_over() {
    let probe = Probe::new();
    let mut group = group_with_panic(&probe, || "in try_next").catch_panics();
    let token = group.token();
    let out = block_on(async {
        let mut seen = vec![];
        loop {
            match group.try_next().await {
                Ok(Some(value)) => seen.push(value),
                Ok(None) => panic!("the panic was lost"),
                Err(err) => return (seen, err.into_panicked()),
            }
        }
    });
    assert_eq!(out.0, [1]);
    assert_eq!(out.1.message(), "in try_next");
    assert_eq!(probe.dropped(), 1);
    assert!(token.is_cancelled());
    assert_eq!(block_on(group.try_next()).ok(), Some(None));
}

#[test]
fn a_caught_panic_on_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let probe = Probe::new();
    let group = group_with_panic(&probe, || "on tokio").catch_panics();
    let token = group.token();
    let out = rt.block_on(async move { tokio::spawn(group).await });
    let err = out
        .expect("the panic did not escape the group")
        .unwrap_err();
    assert_eq!(err.into_panicked().message(), "on tokio");
    assert_eq!(probe.dropped(), 1);
    assert!(token.is_cancelled());
}

#[test]
fn local_group_catches_panics() {
    let probe = Probe::new();
    let mut group = LocalErrGroup::<u32, ApiError>::new().catch_panics();
    let token = group.token();
    let rc = std::rc::Rc::new(());
    group.push(track(Arc::clone(&probe), 0, pending()));
    group.push(async move {
        let _not_send = rc;
        yield_times(1).await;
        panic!("local")
    });
    let err = poll_bounded(&mut group).unwrap_err().into_panicked();
    assert_eq!(err.message(), "local");
    assert_eq!(probe.dropped(), 1);
    assert!(token.is_cancelled());
}

// ---------------------------------------------------------------------------------------------
// Default: the panic reaches the caller

#[test]
fn by_default_the_panic_reaches_the_caller_with_its_payload() {
    let probe = Probe::new();
    let mut group = group_with_panic(&probe, || "not caught");
    let token = group.token();
    let payload = catch_unwind(AssertUnwindSafe(|| poll_bounded(&mut group))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"not caught"));
    // The group is still alive: the unwind itself ended it.
    assert_eq!(probe.dropped(), 1, "the sibling is dropped on the way out");
    assert!(token.is_cancelled());
    assert!(group.handle().is_closed());
    assert!(group.is_empty());
}

#[test]
fn by_default_a_non_string_payload_reaches_the_caller_unchanged() {
    let probe = Probe::new();
    let mut group = group_with_panic(&probe, || 7_u64);
    let payload = catch_unwind(AssertUnwindSafe(|| poll_bounded(&mut group))).unwrap_err();
    assert_eq!(payload.downcast_ref::<u64>(), Some(&7));
}

#[test]
fn by_default_the_panic_reaches_a_tokio_join_handle() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let probe = Probe::new();
    let group = group_with_panic(&probe, || "through tokio");
    let token = group.token();
    let joined = rt.block_on(async move { tokio::spawn(group).await });
    let payload = joined.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"through tokio"));
    assert_eq!(probe.dropped(), 1);
    assert!(token.is_cancelled());
}

#[test]
fn by_default_a_local_group_lets_the_panic_through() {
    let probe = Probe::new();
    let mut group = LocalErrGroup::<u32, ()>::new();
    let token = group.token();
    group.push(track(Arc::clone(&probe), 0, pending()));
    group.push(async {
        yield_times(1).await;
        panic!("local, not caught")
    });
    let payload = catch_unwind(AssertUnwindSafe(|| poll_bounded(&mut group))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"local, not caught"));
    assert_eq!(probe.dropped(), 1);
    assert!(token.is_cancelled());
}
