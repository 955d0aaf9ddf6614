//! Helpers for the waker-level, stress and drop/panic tests: drop counters, a waker that counts
//! its wakes (and whose `Arc` can be counted), a one-shot self-waking yield, and a panic hook that
//! keeps the output free of the panics these tests provoke on purpose.
//!
//! Each test crate uses a part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Waker};

use futures::task::ArcWake;

/// Counts drops of the [`Tracked`] values made from it.
#[derive(Debug, Default)]
pub struct Drops(AtomicUsize);

impl Drops {
    pub fn new() -> Arc<Self> {
        Arc::new(Drops::default())
    }

    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }

    /// A value that bumps this counter when dropped; move it into a task.
    pub fn track(self: &Arc<Self>) -> Tracked {
        Tracked(Arc::clone(self))
    }
}

/// Bumps its [`Drops`] counter when dropped.
#[derive(Debug)]
pub struct Tracked(Arc<Drops>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, SeqCst);
    }
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct CountWaker {
    wakes: AtomicUsize,
}

impl CountWaker {
    /// The counter and a waker for it; `Arc::strong_count` of the counter tells whether anything
    /// still holds the waker.
    pub fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(CountWaker::default());
        let waker = futures::task::waker(Arc::clone(&counter));
        (counter, waker)
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl ArcWake for CountWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wakes.fetch_add(1, SeqCst);
    }
}

/// Wakes itself and returns `Pending` once, then `Ready`.
#[derive(Debug, Default)]
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

pub async fn yield_now() {
    YieldNow::default().await;
}

/// The message of every panic these tests provoke on purpose; the panic hook stays quiet for it.
pub const PROVOKED: &str = "provoked panic";

/// Installs (once) a panic hook that prints nothing for panics whose message contains
/// [`PROVOKED`], and defers to the default hook for every other panic.
pub fn quiet_provoked_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| m.contains(PROVOKED)) {
                default(info);
            }
        }));
    });
}

/// The message of a panic payload, if it is a string.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
