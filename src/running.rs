//! The set of running tasks a group polls, and how a wake-up reaches the task it is for.
//!
//! # One wake-up path
//!
//! Every poll of a task uses a waker that belongs to one slot of the slab: a [`BitWaker`] that
//! sets the slot's bit of the readiness word (see [`crate::waker`]). Nothing is polled with a
//! shared waker, so a wake-up never has to be attributed after the fact: the bit says which slot
//! woke, and the slot holds the task that keeps its waker.
//!
//! # Where a task is
//!
//! - **`due`**, a queue: new tasks, in push order, and the tasks that woke themselves in the pass
//!   before (`next`). They hold none of the group's wakers. Each is polled with the waker of a
//!   free slot, lent for that one poll.
//! - **a slot**: a task that returned `Pending` and kept a clone of the waker it was polled with
//!   takes that slot, and keeps the waker for as long as it waits there. It is polled again only
//!   when its bit is set.
//! - **`next`**, a queue: tasks that woke their waker during their poll and kept no clone of it
//!   (a cooperative yield): due in the next pass. They cost no slot.
//! - **`parked`**: tasks that returned `Pending` holding no waker of the group's and without
//!   waking it. Nothing can wake them (a waker cannot outlive the poll without a clone), so they
//!   are never polled again; they only wait to be dropped with the group (like
//!   `std::future::pending()`).
//! - **the set**, a `FuturesUnordered` beyond the slab: a task that is due while every one of the
//!   [`SLOTS`] slots is taken joins it, at most once, at a moment it holds no waker of ours (new,
//!   or woken with no clone kept), and is polled there from then on, each with a waker of its
//!   own. The set itself is polled with the waker of [`SET`] only when that bit is set, or when it
//!   has a new task. While it holds tasks it has not polled yet, due tasks join it behind them
//!   rather than take a slot that frees up meanwhile, so that tasks start in push order.
//!
//! After a poll that returns `Pending`, [`Held`] decides where the task goes from the slot's
//! waker alone: held by someone else (`Arc::strong_count > 1`) means waiting; otherwise the
//! bit, cleared by a read-modify-write, says whether it woke. A lent waker is held by no one but
//! the task being polled, so that bit is the task's own wake-up (or the stale waker of the race
//! described under "Slots and their wakers").
//!
//! A waiting task's bit is cleared just before its poll, so a wake-up that came in since the
//! pass began is answered by that poll, as a `FuturesUnordered` absorbs one that lands while the
//! task is queued; only a wake-up during the poll calls for another.
//!
//! So a task is polled when it starts and then only after a wake-up meant for it, and at most
//! once in a pass (tasks that wake themselves, or that are woken during a pass, are polled in the
//! next one). In the set too: `FuturesUnordered` polls the tasks whose own waker fired, and polls
//! again, in the same call, a task that woke itself, and a pass may call it more than once; so
//! each task in it is wrapped ([`Once`]) to turn a second poll in the same pass into a wake-up for
//! the next. The set wakes its own waker after polling as many tasks as it holds, or two that
//! woke themselves, even with nothing left to do; a second call in the same pass tells that apart
//! from a real wake-up (it then finds nothing to do, and wakes nobody), so a set of one or two
//! waiting tasks costs no extra pass.
//!
//! # Slots and their wakers
//!
//! A slot's waker is made the first time the slot is used, and reused by every task the slot
//! holds or lends to afterwards, as long as no one else holds it. When a task finishes while
//! something still holds its waker (a timer it no longer waits for), that waker is *retired*
//! (its wake-ups are ignored) and the slot gets a new one. A wake-up already past the retired
//! check on another thread when that happens can still set the slot's bit and cost the slot's
//! next task one poll: the only poll without a wake-up meant for the task.
//!
//! # Memory
//!
//! Nothing is reserved ahead: slot 0 is held inline, so a group whose tasks never wait needs no
//! buffer of slots; once a task waits there, the buffer takes room for the tasks due at that
//! moment, then doubles. The queues grow as tasks arrive; the yield queue takes room for the
//! tasks still due in the pass. At the end of a pass (one that returns without a value: a
//! `try_next` that hands one out leaves this to a later pass), a queue with nothing in either is
//! freed, an oversized one is shrunk, trailing free slots are dropped, and an empty set is freed.
//!
//! [`SLOTS`]: crate::waker::SLOTS
//! [`SET`]: crate::waker::SET

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::waker_ref;

use crate::kept::fit;
use crate::sync::{fence, AtomicUsize, Ordering};
use crate::waker::{BitWaker, Readiness, ALL_SLOTS, SET, SLOTS};

/// A place for a waiting task, and the waker it waits on.
struct Slot<F> {
    task: Option<F>,
    /// Made at the slot's first use; `None` again once retired.
    waker: Option<Arc<BitWaker>>,
}

/// What a task that returned `Pending` holds of the slot's waker it was polled with.
enum Held {
    /// A clone: it waits on that waker, in that slot.
    Waiting,
    /// No clone, and it woke the waker during its poll: due in the next pass.
    Woke,
    /// No clone, no wake-up: nothing can wake it.
    Nothing,
}

impl Held {
    fn of(waker: &Arc<BitWaker>, readiness: &Readiness, bit: usize) -> Held {
        if BitWaker::is_held(waker) {
            return Held::Waiting;
        }
        // A clone dropped on another thread after waking released its count: what it did before
        // (setting the bit) is visible from here on.
        fence(Ordering::Acquire);
        if readiness.take(bit) {
            Held::Woke
        } else {
            Held::Nothing
        }
    }
}

/// A task in the set: polled at most once per pass.
///
/// `FuturesUnordered` polls a task again in the same call if it woke during its poll (a yield),
/// until two have; the group's pass calls it more than once. A second poll in the same pass is
/// turned into a wake-up for the next one.
struct Once<F> {
    task: F,
    /// What every task of the set shares with it.
    shared: Arc<SetShared>,
    /// The pass it was last polled in (0: never; passes count from 1).
    polled_in: usize,
}

/// What the tasks of the set share with it.
struct SetShared {
    /// The pass now running: counts from 1, skipping 0 when it wraps.
    pass: AtomicUsize,
    /// Tasks that joined the set and have not been polled there yet. While there are any, due
    /// tasks join the set behind them rather than take a slot, so that tasks start in push
    /// order (the set may end a call before it has polled every task it holds).
    unpolled: AtomicUsize,
}

impl<F: Future + Unpin> Future for Once<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let pass = self.shared.pass.load(Ordering::Relaxed);
        if self.polled_in == pass {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.polled_in == 0 {
            self.shared.unpolled.fetch_sub(1, Ordering::Relaxed);
        }
        self.polled_in = pass;
        Pin::new(&mut self.task).poll(cx)
    }
}

/// The tasks beyond the slab.
struct Set<F> {
    tasks: FuturesUnordered<Once<F>>,
    shared: Arc<SetShared>,
    waker: Arc<BitWaker>,
    /// To poll in this pass.
    due: bool,
    /// Polled a second time in this pass (see the module docs).
    retried: bool,
}

/// Polls `task` once with `waker`.
#[inline]
fn poll_with<F: Future + Unpin>(task: &mut F, waker: &Arc<BitWaker>) -> Poll<F::Output> {
    Pin::new(task).poll(&mut Context::from_waker(&waker_ref(waker)))
}

/// Takes the lowest set bit out of `mask`, as a slot number.
fn take_lowest(mask: &mut usize) -> Option<usize> {
    if *mask == 0 {
        return None;
    }
    let slot = mask.trailing_zeros() as usize;
    *mask &= *mask - 1;
    Some(slot)
}

/// The slot `k`: the first is held inline, the others in `rest`.
#[inline]
fn slot<'s, F>(first: &'s mut Slot<F>, rest: &'s mut [Slot<F>], k: usize) -> &'s mut Slot<F> {
    match k {
        0 => first,
        k => &mut rest[k - 1],
    }
}

/// The running tasks of a group, in the places the module docs describe.
pub(crate) struct Running<F> {
    /// Made at the first pass, or when the inbox needs it.
    readiness: OnceCell<Arc<Readiness>>,
    /// Slot 0, inline: a group whose tasks never wait needs no buffer of slots.
    first: Slot<F>,
    /// Slots 1 and up.
    rest: Vec<Slot<F>>,
    /// Slots holding a waiting task.
    occupied: usize,
    /// Occupied slots whose bit was set: to poll in this pass.
    woken: usize,
    due: VecDeque<F>,
    next: VecDeque<F>,
    parked: Vec<F>,
    /// Boxed: most groups never need it, and a group is moved around whole.
    set: Option<Box<Set<F>>>,
}

impl<F> Running<F> {
    pub(crate) const fn new() -> Self {
        Running {
            readiness: OnceCell::new(),
            first: Slot {
                task: None,
                waker: None,
            },
            rest: Vec::new(),
            occupied: 0,
            woken: 0,
            due: VecDeque::new(),
            next: VecDeque::new(),
            parked: Vec::new(),
            set: None,
        }
    }

    /// The readiness word the group's wakers set.
    pub(crate) fn readiness(&self) -> &Arc<Readiness> {
        self.readiness.get_or_init(|| Arc::new(Readiness::new()))
    }

    /// Drops the caller's waker (see [`Readiness::release_caller`]).
    pub(crate) fn release_caller(&self) {
        if let Some(readiness) = self.readiness.get() {
            readiness.release_caller();
        }
    }

    /// Whether no task is left in any place.
    pub(crate) fn is_empty(&self) -> bool {
        self.occupied == 0
            && self.due.is_empty()
            && self.next.is_empty()
            && self.parked.is_empty()
            && self.set.as_ref().map_or(true, |set| set.tasks.is_empty())
    }

    pub(crate) fn len(&self) -> usize {
        self.due.len()
            + self.next.len()
            + self.occupied.count_ones() as usize
            + self.parked.len()
            + self.set.as_ref().map_or(0, |set| set.tasks.len())
    }
}

impl<F: Unpin> Running<F> {
    /// Hands every task to `dispose`, leaving the set empty. Each container is taken out before
    /// its tasks are handed on: if `dispose` unwinds, the rest of that container is dropped as
    /// its iterator unwinds (a second panic there aborts, as in a `Vec`), and the containers not
    /// reached yet are left to the next call.
    pub(crate) fn drain(&mut self, mut dispose: impl FnMut(F)) {
        self.occupied = 0;
        self.woken = 0;
        for queue in [&mut self.due, &mut self.next] {
            let queue = core::mem::take(queue);
            queue.into_iter().for_each(&mut dispose);
        }
        if let Some(task) = self.first.task.take() {
            dispose(task);
        }
        let rest = core::mem::take(&mut self.rest);
        rest.into_iter()
            .filter_map(|slot| slot.task)
            .for_each(&mut dispose);
        core::mem::take(&mut self.parked)
            .into_iter()
            .for_each(&mut dispose);
        if let Some(set) = self.set.take() {
            // Its `IntoIter` drops the rest if one unwinds, where its `clear` would leak them.
            set.tasks.into_iter().for_each(|once| dispose(once.task));
        }
    }
}

impl<F: Future + Unpin> Running<F> {
    /// Adds a task; it is polled in the current pass (or, if the pass has returned a value, as
    /// `try_next` does, in the next).
    #[inline]
    pub(crate) fn push(&mut self, task: F) {
        self.due.push_back(task);
    }

    /// Starts a pass: called on every poll of the group from outside. Returns the bits of the
    /// readiness word that are not the slots' or the set's (the inbox's and the stop's).
    pub(crate) fn start_pass(&mut self) -> usize {
        let woken = self.readiness().start_pass();
        self.woken |= woken & self.occupied;
        if let Some(set) = &mut self.set {
            set.due |= woken & SET != 0;
            set.retried = false;
            let pass = set
                .shared
                .pass
                .load(Ordering::Relaxed)
                .wrapping_add(1)
                .max(1);
            set.shared.pass.store(pass, Ordering::Relaxed);
        }
        if !self.next.is_empty() {
            if self.due.is_empty() {
                // `due` is drained: its buffer takes the next pass's yields.
                core::mem::swap(&mut self.due, &mut self.next);
            } else {
                self.due.append(&mut self.next);
            }
        }
        woken & !(ALL_SLOTS | SET)
    }

    /// Ends a pass that returns without a value: registers the caller's waker, and wakes it if
    /// anything woke during the pass or is left for the next one. Then gives back memory the
    /// pass no longer needs.
    pub(crate) fn end_pass(&mut self, caller: &Waker) {
        let woken = self.readiness().end_pass(caller);
        let left = self.woken != 0
            || !self.due.is_empty()
            || !self.next.is_empty()
            || self.set.as_ref().is_some_and(|set| set.due);
        if woken != 0 || left {
            caller.wake_by_ref();
        }
        self.trim();
    }

    /// See "Memory" in the module docs.
    fn trim(&mut self) {
        if self.due.is_empty() && self.next.is_empty() {
            if self.due.capacity() != 0 {
                self.due = VecDeque::new();
            }
            if self.next.capacity() != 0 {
                self.next = VecDeque::new();
            }
        } else {
            fit(&mut self.due);
            fit(&mut self.next);
        }
        // Trailing free slots go, but the lowest free one, which is lent to the next task.
        let used = usize::BITS as usize - self.occupied.leading_zeros() as usize;
        let keep = used.min(SLOTS - 1);
        if self.rest.len() > keep {
            self.rest.truncate(keep);
            if self.rest.capacity() > 2 * keep {
                self.rest.shrink_to(keep);
            }
        }
        if self.set.as_ref().is_some_and(|set| set.tasks.is_empty()) {
            self.set = None;
        }
    }

    /// The output of the next task to complete in this pass; `Pending` once no task is left to
    /// poll in it, `None` when there is no task at all.
    #[inline]
    pub(crate) fn poll_next(&mut self) -> Poll<Option<F::Output>> {
        let readiness = self.readiness.get_or_init(|| Arc::new(Readiness::new()));
        // Waiting tasks whose waker fired.
        while let Some(k) = take_lowest(&mut self.woken) {
            let bit = 1 << k;
            let Slot { task, waker } = slot(&mut self.first, &mut self.rest, k);
            let (Some(polled), Some(own)) = (task.as_mut(), waker.as_ref()) else {
                unreachable!("slot {k} is occupied but holds no task or no waker");
            };
            // A wake-up since the pass began (a sibling polled before it, another thread) is
            // answered by this poll, as a `FuturesUnordered` absorbs one that lands while the
            // task is queued: only one during the poll counts for the next pass.
            if readiness.is_set(bit) {
                readiness.take(bit);
            }
            match poll_with(polled, own) {
                Poll::Ready(output) => {
                    self.occupied &= !bit;
                    // The task itself goes with `output`, for the core to drop: all that is
                    // left here is its wrapper.
                    drop(task.take());
                    release(waker, readiness, bit);
                    return Poll::Ready(Some(output));
                }
                Poll::Pending => match Held::of(own, readiness, bit) {
                    Held::Waiting => {}
                    held => {
                        self.occupied &= !bit;
                        if let Some(task) = task.take() {
                            match held {
                                Held::Woke => self.next.push_back(task),
                                _ => self.parked.push(task),
                            }
                        }
                    }
                },
            }
        }
        // New tasks and last pass's yields, each with a free slot's waker.
        while let Some(mut task) = self.due.pop_front() {
            let free = !self.occupied & ALL_SLOTS;
            let behind = self
                .set
                .as_ref()
                .is_some_and(|set| set.shared.unpolled.load(Ordering::Relaxed) != 0);
            if free == 0 || behind {
                let set = self.set.get_or_insert_with(|| {
                    Box::new(Set {
                        tasks: FuturesUnordered::new(),
                        shared: Arc::new(SetShared {
                            pass: AtomicUsize::new(1),
                            unpolled: AtomicUsize::new(0),
                        }),
                        waker: BitWaker::new(readiness, SET),
                        due: false,
                        retried: false,
                    })
                });
                set.shared.unpolled.fetch_add(1, Ordering::Relaxed);
                set.tasks.push(Once {
                    task,
                    shared: Arc::clone(&set.shared),
                    polled_in: 0,
                });
                set.due = true;
                continue;
            }
            let k = free.trailing_zeros() as usize;
            let bit = 1 << k;
            if k > self.rest.len() {
                if self.rest.len() == self.rest.capacity() {
                    // Slot 0 is taken by a waiting task: room for every task now due (the others
                    // of its kind are likely to wait too), then doubling.
                    let room = self.rest.len().max(self.due.len() + 1);
                    self.rest
                        .reserve_exact(room.min(SLOTS - 1 - self.rest.len()));
                }
                self.rest.push(Slot {
                    task: None,
                    waker: None,
                });
            }
            let Slot { task: place, waker } = slot(&mut self.first, &mut self.rest, k);
            let lent = waker.get_or_insert_with(|| BitWaker::new(readiness, bit));
            match poll_with(&mut task, lent) {
                Poll::Ready(output) => {
                    drop(task);
                    release(waker, readiness, bit);
                    return Poll::Ready(Some(output));
                }
                Poll::Pending => match Held::of(lent, readiness, bit) {
                    Held::Waiting => {
                        *place = Some(task);
                        self.occupied |= bit;
                    }
                    Held::Woke => {
                        if self.next.capacity() == 0 {
                            // Room for the tasks still due in this pass: tasks of a pass tend to
                            // yield alike, and this is bounded by what the group holds now.
                            self.next.reserve_exact(self.due.len() + 1);
                        }
                        self.next.push_back(task);
                    }
                    Held::Nothing => self.parked.push(task),
                },
            }
        }
        if let Some(set) = &mut self.set {
            while set.due {
                let waker = waker_ref(&set.waker);
                match set.tasks.poll_next_unpin(&mut Context::from_waker(&waker)) {
                    Poll::Ready(Some(output)) => return Poll::Ready(Some(output)),
                    Poll::Ready(None) => set.due = false,
                    Poll::Pending => {
                        set.due = false;
                        // Woken while polled: by a task it polled, or by itself after polling
                        // every task. A second call tells them apart.
                        if !set.retried && readiness.take(SET) {
                            set.retried = true;
                            set.due = true;
                        }
                    }
                }
            }
        }
        if self.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// A slot's task has finished: the slot's waker is kept for the next task if no one else holds
/// it, and retired otherwise; either way the slot's bit is left clear.
fn release(waker: &mut Option<Arc<BitWaker>>, readiness: &Readiness, bit: usize) {
    if let Some(own) = waker {
        if BitWaker::is_held(own) {
            own.retire();
            *waker = None;
        } else {
            fence(Ordering::Acquire);
        }
        if readiness.is_set(bit) {
            readiness.take(bit);
        }
    }
}
