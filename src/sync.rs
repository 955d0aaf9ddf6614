//! The atomics the readiness word, the inbox and the token's cause are built on: `core`'s and
//! `futures`' ones, or `loom`'s under `--cfg loom`, so that `tests/loom.rs` checks the wake-up
//! path and the inbox protocol in every interleaving.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use futures_util::task::AtomicWaker;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicUsize, Ordering};

/// `loom`'s `AtomicWaker` with the `register(&Waker)` signature of `futures`' one.
#[cfg(loom)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker(loom::future::AtomicWaker::new())
    }

    pub(crate) fn register(&self, waker: &core::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }

    pub(crate) fn take(&self) -> Option<core::task::Waker> {
        self.0.take_waker()
    }
}
