//! The group's one kind of waker, [`BitWaker`], and the readiness word it sets.
//!
//! Everything that can wake a group does it by setting a bit of one word, [`Readiness`]'s:
//!
//! - a task waiting in slot `k` holds the waker of bit `k` (one of [`SLOTS`]);
//! - a task waiting beyond those slots holds the waker of a slot of a *page*: a word of its own,
//!   like the group's, whose first bit set queues the page's number and sets [`PAGES`];
//! - a push through a handle sets [`INBOX`];
//! - the future that stops the group on purpose is polled with the waker of [`STOP`].
//!
//! Setting a bit that was clear wakes the caller (the waker of whoever last polled the group),
//! unless a pass is running ([`POLLING`]): the pass takes the bits at its start and, when it
//! ends, wakes the caller if any were set meanwhile. A pass that hands out a value (`try_next`)
//! does not end: its caller is not waiting, and the next pass takes what came in. So a wake-up
//! always names what it is for, and the caller is woken at most once per bit, however many
//! wake-ups come in.

use alloc::sync::Arc;
use core::task::Waker;

use concurrent_queue::ConcurrentQueue;
use futures_util::task::ArcWake;

use crate::sync::{AtomicUsize, AtomicWaker, Ordering};

/// How many tasks wait in the group's slots, and in each page's: every bit of a `usize` but the
/// four that [`PAGES`], [`INBOX`], [`STOP`] and [`POLLING`] take in the group's word (60 on
/// 64-bit targets, 28 on 32-bit ones).
pub(crate) const SLOTS: usize = usize::BITS as usize - 4;
/// Every slot's bit.
pub(crate) const ALL_SLOTS: usize = PAGES - 1;
/// A page woke: its number is in the page queue.
pub(crate) const PAGES: usize = 1 << SLOTS;
/// In a page's word: the page's number is in the page queue. Set with the first bit after the
/// page's turn, cleared only when its next turn takes the word: a page is queued at most once.
const QUEUED: usize = PAGES;
/// A handle pushed a task.
pub(crate) const INBOX: usize = PAGES << 1;
/// The stop future woke.
pub(crate) const STOP: usize = INBOX << 1;
/// A pass is running: a wake-up only sets its bit, and the pass's end wakes the caller.
pub(crate) const POLLING: usize = STOP << 1;

/// A readiness word: the group's, with the caller's waker, or a page's.
pub(crate) struct Readiness {
    word: AtomicUsize,
    up: Up,
}

/// What a wake-up that sets a clear bit goes on to.
enum Up {
    /// The group's word: the caller's waker (unless a pass is running).
    Caller(AtomicWaker),
    /// A page's word: the first bit set since the page's turn queues the page's number (and
    /// sets [`QUEUED`]), then sets the group's [`PAGES`] bit.
    Page {
        group: Arc<Readiness>,
        queue: Arc<ConcurrentQueue<usize>>,
        page: usize,
    },
}

impl Readiness {
    /// The group's word.
    pub(crate) fn new() -> Self {
        Readiness {
            word: AtomicUsize::new(0),
            up: Up::Caller(AtomicWaker::new()),
        }
    }

    /// The word of page number `page`, whose wake-ups go through `queue` to `group`.
    pub(crate) fn page(
        group: &Arc<Readiness>,
        queue: &Arc<ConcurrentQueue<usize>>,
        page: usize,
    ) -> Self {
        Readiness {
            word: AtomicUsize::new(0),
            up: Up::Page {
                group: Arc::clone(group),
                queue: Arc::clone(queue),
                page,
            },
        }
    }

    /// Sets `bit` (or bits, on a page's word). On the group's word, wakes the caller if the bit
    /// was clear and no pass is running; on a page's, queues the page unless it is queued.
    pub(crate) fn wake(&self, bit: usize) {
        match &self.up {
            Up::Caller(caller) => {
                if self.word.fetch_or(bit, Ordering::AcqRel) & (bit | POLLING) == 0 {
                    caller.wake();
                }
            }
            Up::Page { group, queue, page } => {
                if self.word.fetch_or(bit | QUEUED, Ordering::AcqRel) & QUEUED == 0 {
                    if queue.push(*page).is_err() {
                        unreachable!("the page queue is unbounded and never closed");
                    }
                    group.wake(PAGES);
                }
            }
        }
    }

    fn caller(&self) -> &AtomicWaker {
        match &self.up {
            Up::Caller(caller) => caller,
            Up::Page { .. } => unreachable!("a page's word has no caller"),
        }
    }

    /// Starts a pass: takes every bit set since the last one, and sets [`POLLING`].
    pub(crate) fn start_pass(&self) -> usize {
        self.word.swap(POLLING, Ordering::AcqRel) & !POLLING
    }

    /// Ends a pass: registers the caller's waker, then clears [`POLLING`]; returns the bits set
    /// during the pass. A wake-up that finds `POLLING` clear finds the waker registered; one that
    /// found it set is in the returned bits.
    pub(crate) fn end_pass(&self, caller: &Waker) -> usize {
        self.caller().register(caller);
        self.word.fetch_and(!POLLING, Ordering::AcqRel) & !POLLING
    }

    /// Drops the caller's waker: the group has ended, and wakers that outlive it must not keep
    /// the caller's alive.
    pub(crate) fn release_caller(&self) {
        drop(self.caller().take());
    }

    /// Clears `bit`; whether it was set. A read-modify-write, so it sees every wake-up that came
    /// before it in the word's order.
    pub(crate) fn take(&self, bit: usize) -> bool {
        self.word.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// Takes every bit of a page's word when its turn comes in a pass, [`QUEUED`] too: the next
    /// wake-up queues the page again. Returns the slots' bits.
    pub(crate) fn take_all(&self) -> usize {
        self.word.swap(0, Ordering::AcqRel) & !QUEUED
    }

    /// Whether a page's number is in the page queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.word.load(Ordering::Acquire) & QUEUED != 0
    }

    /// Whether `bit` is set (a load: cheaper than [`take`](Self::take) when it usually is not).
    pub(crate) fn is_set(&self, bit: usize) -> bool {
        self.word.load(Ordering::Acquire) & bit != 0
    }
}

/// A waker that sets one bit of a [`Readiness`] word.
///
/// The group polls with `waker_ref`, which clones nothing: `Arc::strong_count` above one means
/// that someone kept a clone, so the task polled with it may be woken through it later.
pub(crate) struct BitWaker {
    readiness: Arc<Readiness>,
    /// The bit it sets; zero once retired (a slot's waker that a finished task left behind).
    bit: AtomicUsize,
}

impl BitWaker {
    pub(crate) fn new(readiness: &Arc<Readiness>, bit: usize) -> Arc<Self> {
        Arc::new(BitWaker {
            readiness: Arc::clone(readiness),
            bit: AtomicUsize::new(bit),
        })
    }

    /// Whether anyone but the group holds this waker.
    pub(crate) fn is_held(this: &Arc<Self>) -> bool {
        Arc::strong_count(this) > 1
    }

    /// From now on its wake-ups are ignored.
    pub(crate) fn retire(&self) {
        self.bit.store(0, Ordering::Release);
    }
}

impl ArcWake for BitWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        let bit = arc_self.bit.load(Ordering::Acquire);
        if bit != 0 {
            arc_self.readiness.wake(bit);
        }
    }
}
