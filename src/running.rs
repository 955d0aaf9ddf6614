//! The set of running tasks a group polls, and how a wake-up reaches the task it is for.
//!
//! # Two modes, one guarantee
//!
//! Up to [`SMALL`] running tasks live in a [`Slab`]: slots in one `Vec`, no allocation per task.
//! Tasks beyond those go to a `FuturesUnordered` beside it, made the first time the slab is
//! full (see [`Running`] for which set a new task joins). A task never moves between the two. In
//! both, **a task is polled again only after it woke**: the set gives every task a waker of its
//! own, and the slab does so from a task's second poll on, at the cost of at most one extra poll
//! per task (below). So a wake-up costs the same whatever the number of siblings, and a group
//! nested in another group's task costs one poll per level: the inner group is polled only when
//! one of its own tasks woke.
//!
//! # How a wake-up reaches a slab task
//!
//! A slab's tasks never see the caller's waker. They see one of two kinds of waker, both pointing
//! at the slab's [`Shared`] state: a readiness word, with one bit per slot and the [`ANON`] bit,
//! and an `AtomicWaker` holding the caller's waker, registered at the start of every pass.
//! Waking either kind sets its bit and, if the bit was clear, wakes the caller.
//!
//! - The **group waker** (`ANON`) is the one waker for tasks that have not needed their own. New
//!   tasks are polled with it, so a task that completes at once, or that only wakes itself before
//!   it completes (a cooperative yield), costs no allocation.
//! - A task's **own waker** (its slot's bit) is made, once per slot, for a task that returned
//!   `Pending` under the group waker without waking it: its wake-up comes later, and must then be
//!   told apart from its siblings'.
//!
//! Each pass begins by registering the caller's waker and taking the readiness word (swapping it
//! to zero). It then polls, each task at most once:
//!
//! 1. tasks pending under their own waker (`registered`) whose bit was set;
//! 2. if `ANON` was set, every task pending under the group waker that did not wake it itself
//!    (`anonymous`): the wake-up may be theirs, so each is polled once more, now with its own
//!    waker, and from then on only when that fires (this is the one extra poll);
//! 3. tasks scheduled by the pass before (`next_own`, `next_group`): see below;
//! 4. new tasks, in arrival order, so that tasks start in push order.
//!
//! When a task's poll under the group waker returns `Pending`, the slab looks at `ANON`. Clear:
//! the task joins `anonymous`. Set, and no other task waits on the group waker (`on_group`: the
//! `anonymous` tasks and those already scheduled for the poll that gives them their own waker):
//! the task woke itself (a cooperative yield), so the slab clears the bit and polls it in the
//! next pass with the group waker again, without ever making it a waker of its own. Set while
//! others wait on it: the task may have woken itself or one of them (as a channel send wakes a
//! sibling), so the slab clears the bit and polls all of them, this one included, in the next
//! pass with their own wakers: for each, the one poll that may find nothing to do. The waker that set the bit has
//! woken the caller, so the next pass comes. No bit is ever cleared without the tasks it may stand
//! for being scheduled: no wake-up is lost.
//!
//! What can still cost a poll that finds nothing to do, beyond the one per task: a stray wake-up
//! of the group waker (from a waker that some task, finished or not, left registered where it no
//! longer waits) makes every `anonymous` task take its extra poll early, and, landing while a
//! group-waker task is being polled, is taken for that task's own wake-up and costs it a poll.
//! A `FuturesUnordered` ignores the wakers of tasks it has released; the slab ignores its retired
//! own wakers (below), but not the shared group waker.
//!
//! A finished task's slot is reused. If anything still holds the old task's own waker, that waker
//! is retired (its wake-ups are ignored) and the slot gets a new one, so a stale waker does not
//! poll the new task; only a wake-up already past the `retired` check on another thread when the
//! slot was vacated can still set the bit, and cost the new task one poll.

use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, Ordering};

/// The most tasks a slab runs; the others go to a `FuturesUnordered`: 32 where `usize` has more
/// than 32 bits, one less than its width elsewhere, so that a bit per slot and [`ANON`] fit in it.
pub(crate) const SMALL: usize = if usize::BITS > 32 {
    32
} else {
    usize::BITS as usize - 1
};

/// The group waker's bit in [`Shared::woken`].
const ANON: usize = 1 << SMALL;

/// What a slab's wakers share with it.
struct Shared {
    /// A bit per slot whose own waker fired, and [`ANON`] for the group waker.
    woken: AtomicUsize,
    /// The waker of whoever polls the group, registered at the start of every pass.
    caller: AtomicWaker,
}

impl Shared {
    fn wake_bit(&self, bit: usize) {
        // A bit already set has woken the caller when it was set, and the pass that takes it
        // has not begun yet.
        if self.woken.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
            self.caller.wake();
        }
    }
}

/// The group waker.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_bit(ANON);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_bit(ANON);
    }
}

/// A task's own waker: its slot's bit.
struct SlotWaker {
    shared: Arc<Shared>,
    bit: usize,
    /// Set once the task it was made for has left the slot while something still held it.
    retired: AtomicBool,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.retired.load(Ordering::Acquire) {
            self.shared.wake_bit(self.bit);
        }
    }
}

/// A slot's own waker, with the `Arc` behind it (to tell whether anyone else holds it).
struct Own {
    waker: Waker,
    arc: Arc<SlotWaker>,
}

/// Slots of new tasks, in arrival order: a ring as long as the slab.
struct Fresh {
    slots: [u8; SMALL],
    head: usize,
    len: usize,
}

impl Fresh {
    const fn new() -> Self {
        Fresh {
            slots: [0; SMALL],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, slot: usize) {
        // `slot < SMALL <= 32`.
        self.slots[(self.head + self.len) % SMALL] = slot as u8;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let slot = usize::from(self.slots[self.head]);
        self.head = (self.head + 1) % SMALL;
        self.len -= 1;
        Some(slot)
    }
}

/// Takes the lowest set bit out of `mask`.
fn take_lowest(mask: &mut usize) -> Option<usize> {
    if *mask == 0 {
        return None;
    }
    let slot = mask.trailing_zeros() as usize;
    *mask &= *mask - 1;
    Some(slot)
}

/// Up to [`SMALL`] tasks in slots, each polled only when it woke (see the module docs). Every
/// mask is over slot numbers; a task is in at most one of `registered`, `anonymous`, the `due_*`
/// and `next_*` masks and `fresh`, and in none once it has completed.
pub(crate) struct Slab<F> {
    tasks: Vec<Option<F>>,
    /// Occupied slots.
    len: usize,
    /// Free slots below `tasks.len()`.
    free: usize,
    /// New tasks, not polled yet.
    fresh: Fresh,
    /// Pending under their own waker.
    registered: usize,
    /// Pending under the group waker, which they did not wake.
    anonymous: usize,
    /// Waiting on the group waker: `anonymous`, and those of them already scheduled for the poll
    /// that gives them their own waker (in `due_own` or `next_own`) until that poll.
    on_group: usize,
    /// To poll in this pass, with their own waker and with the group waker.
    due_own: usize,
    due_group: usize,
    /// To poll in the next pass, likewise.
    next_own: usize,
    next_group: usize,
    /// Made at the first poll; the group waker is `Waker::from` the `Arc`.
    shared: Option<(Arc<Shared>, Waker)>,
    /// A slot's own waker, made the first time a task in that slot needs one.
    own: Vec<Option<Own>>,
}

impl<F> Slab<F> {
    const fn new() -> Self {
        Slab {
            tasks: Vec::new(),
            len: 0,
            free: 0,
            fresh: Fresh::new(),
            registered: 0,
            anonymous: 0,
            on_group: 0,
            due_own: 0,
            due_group: 0,
            next_own: 0,
            next_group: 0,
            shared: None,
            own: Vec::new(),
        }
    }

    /// The task in `slot` has left it: the slot is free, and its own waker is retired if anyone
    /// still holds it.
    fn vacate(&mut self, slot: usize) {
        let bit = 1 << slot;
        self.free |= bit;
        self.len -= 1;
        if let Some(own) = self.own.get_mut(slot) {
            // Ours and the `Waker`'s are the two references the slab holds.
            if own
                .as_ref()
                .is_some_and(|own| Arc::strong_count(&own.arc) > 2)
            {
                if let Some(own) = own.take() {
                    own.arc.retired.store(true, Ordering::Release);
                }
            }
        }
    }
}

impl<F: Future + Unpin> Slab<F> {
    fn push(&mut self, task: F) {
        debug_assert!(self.len < SMALL);
        let slot = match take_lowest(&mut self.free) {
            Some(slot) => {
                self.tasks[slot] = Some(task);
                slot
            }
            None => {
                if self.tasks.capacity() == 0 {
                    // One allocation for the slots instead of a doubling series.
                    self.tasks.reserve_exact(SMALL);
                }
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        };
        self.len += 1;
        self.fresh.push(slot);
    }

    /// Registers the caller's waker and takes what woke since the last pass.
    fn start_pass(&mut self, cx: &Context<'_>) {
        let Some((shared, _)) = &self.shared else {
            return;
        };
        shared.caller.register(cx.waker());
        let woken = shared.woken.swap(0, Ordering::AcqRel);
        let mut own = self.next_own | (woken & self.registered);
        if woken & ANON != 0 {
            own |= self.anonymous;
        }
        self.registered &= !own;
        self.anonymous &= !own;
        self.due_own |= own;
        self.due_group |= self.next_group;
        self.next_own = 0;
        self.next_group = 0;
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        loop {
            let (slot, own) = if let Some(slot) = take_lowest(&mut self.due_own) {
                (slot, true)
            } else if let Some(slot) = take_lowest(&mut self.due_group) {
                (slot, false)
            } else if let Some(slot) = self.fresh.pop() {
                (slot, false)
            } else if self.len == 0 {
                return Poll::Ready(None);
            } else {
                return Poll::Pending;
            };
            if let Poll::Ready(output) = self.poll_slot(slot, own, cx) {
                return Poll::Ready(Some(output));
            }
        }
    }

    /// Polls the task in `slot` with its own waker or the group waker, and files it by what the
    /// poll said.
    fn poll_slot(&mut self, slot: usize, own: bool, cx: &Context<'_>) -> Poll<F::Output> {
        let bit = 1 << slot;
        let (shared, group_waker) = self.shared.get_or_insert_with(|| {
            let shared = Arc::new(Shared {
                woken: AtomicUsize::new(0),
                caller: AtomicWaker::new(),
            });
            // Made during a pass: the caller's waker has not been registered yet.
            shared.caller.register(cx.waker());
            let waker = Waker::from(Arc::clone(&shared));
            (shared, waker)
        });
        let waker = if own {
            if self.own.is_empty() {
                self.own.resize_with(SMALL, || None);
            }
            let own = self.own[slot].get_or_insert_with(|| {
                let arc = Arc::new(SlotWaker {
                    shared: Arc::clone(shared),
                    bit,
                    retired: AtomicBool::new(false),
                });
                Own {
                    waker: Waker::from(Arc::clone(&arc)),
                    arc,
                }
            });
            &own.waker
        } else {
            &*group_waker
        };
        let Some(task) = self.tasks[slot].as_mut() else {
            unreachable!("slot {slot} is scheduled but holds no task");
        };
        match Pin::new(task).poll(&mut Context::from_waker(waker)) {
            Poll::Ready(output) => {
                // Dropped before `output` is handed on, as in a `FuturesUnordered`.
                self.tasks[slot] = None;
                self.on_group &= !bit;
                self.vacate(slot);
                Poll::Ready(output)
            }
            Poll::Pending if own => {
                self.registered |= bit;
                self.on_group &= !bit;
                Poll::Pending
            }
            Poll::Pending => {
                if shared.woken.load(Ordering::Acquire) & ANON != 0 {
                    shared.woken.fetch_and(!ANON, Ordering::AcqRel);
                    if self.on_group & !bit == 0 {
                        // Nobody else waits on the group waker: the task woke itself (a
                        // cooperative yield), and is polled next pass with it again.
                        self.next_group |= bit;
                    } else {
                        // It may have woken itself, or a sibling waiting on the group waker (as
                        // a channel send does): each of them is polled next pass, with its own
                        // waker, so this is the one poll that may find nothing to do.
                        self.next_own |= self.anonymous | bit;
                        self.anonymous = 0;
                        self.on_group |= bit;
                    }
                } else {
                    self.anonymous |= bit;
                    self.on_group |= bit;
                }
                Poll::Pending
            }
        }
    }
}

/// The running tasks of a group: up to [`SMALL`] in a [`Slab`], the rest in a
/// `FuturesUnordered`, made the first time the slab is full.
///
/// No task ever moves from one to the other. A new task goes to the slab unless the slab is full
/// or the `FuturesUnordered` still holds tasks: so the slab's new tasks were all pushed before
/// any new task in the set, and polling the slab first keeps tasks starting in push order.
pub(crate) struct Running<F> {
    slab: Slab<F>,
    overflow: Option<FuturesUnordered<F>>,
}

impl<F> Default for Running<F> {
    fn default() -> Self {
        Running {
            slab: Slab::new(),
            overflow: None,
        }
    }
}

impl<F: Unpin> Running<F> {
    pub(crate) fn len(&self) -> usize {
        self.slab.len + self.overflow.as_ref().map_or(0, FuturesUnordered::len)
    }

    /// Drops every task, and all of them even if a destructor panics: a `Vec` drops the rest of
    /// its elements while the panic unwinds, and so does a `FuturesUnordered`'s `IntoIter` (its
    /// own `clear` and `drop` would leak the tasks after a panicking one), and the locals here are
    /// dropped on the way out too. Both are reset before anything is dropped, so a panic leaves
    /// the set empty.
    pub(crate) fn clear(&mut self) {
        let overflow = self.overflow.take();
        let slab = core::mem::replace(&mut self.slab, Slab::new());
        drop(slab);
        for task in overflow.into_iter().flatten() {
            drop(task);
        }
    }
}

impl<F: Future + Unpin> Running<F> {
    /// Adds a task; it is polled before the current pass ends.
    #[inline]
    pub(crate) fn push(&mut self, task: F) {
        match &mut self.overflow {
            Some(set) if !set.is_empty() => set.push(task),
            _ if self.slab.len < SMALL => self.slab.push(task),
            overflow => overflow
                .get_or_insert_with(FuturesUnordered::new)
                .push(task),
        }
    }

    /// Starts a pass: called on every poll of the group from outside, before `poll_next`.
    pub(crate) fn start_pass(&mut self, cx: &Context<'_>) {
        self.slab.start_pass(cx);
    }

    /// The output of the next task to complete in this pass; `Pending` once no task is left to
    /// poll in it, `None` when there is no task.
    #[inline]
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // An empty slab has nothing due and no new task (both are slab tasks).
        let slab = if self.slab.len == 0 {
            Poll::Ready(None)
        } else {
            self.slab.poll_next(cx)
        };
        if let Poll::Ready(Some(output)) = slab {
            return Poll::Ready(Some(output));
        }
        let overflow = match &mut self.overflow {
            Some(set) if !set.is_empty() => set.poll_next_unpin(cx),
            _ => Poll::Ready(None),
        };
        match (slab, overflow) {
            (_, Poll::Ready(Some(output))) => Poll::Ready(Some(output)),
            (Poll::Ready(None), Poll::Ready(None)) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}
