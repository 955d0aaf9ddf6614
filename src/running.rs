//! The set of running tasks a group polls, and how a wake-up reaches the task it is for.
//!
//! # Where a task is
//!
//! A running task is in one of four places, and **is polled again only after it woke**, but for
//! at most one extra poll in its life (below). So a wake-up costs the same whatever the number of
//! siblings, and a group nested in another group's task costs one poll per level: the inner
//! group is polled only when one of its own tasks woke.
//!
//! - **`due`**, a queue: tasks to poll with the *group waker* in this pass. New tasks join it in
//!   push order (so tasks start in push order), and tasks that woke themselves in the pass before.
//! - **`next`**, a queue: tasks that woke themselves while polled with the group waker in this
//!   pass (a cooperative yield); they are `due` in the next pass.
//! - **the [`Slab`]**: up to [`SMALL`] tasks that went `Pending` for a wake-up that comes later.
//!   They wait on the group waker until it fires, and from their next poll on they have a waker
//!   of their own (a bit in the readiness word).
//! - **`overflow`**, a `FuturesUnordered`: such tasks beyond the slab's slots; it gives each its
//!   own waker from the start.
//!
//! A task moves only in that order (queue, then slab or set) and never back, so a task that
//! completes at once, or that only yields before it completes, never leaves the queues: it costs
//! no allocation of its own and no bookkeeping beyond a queue entry.
//!
//! # How a wake-up reaches a task
//!
//! The queued tasks and the slab's tasks never see the caller's waker. They see one of two kinds
//! of waker, both pointing at the shared state ([`Shared`]): a readiness word, with one bit per
//! slot, the [`ANON`] bit and the [`POLLING`] bit, and an `AtomicWaker` holding the caller's
//! waker. Waking either kind sets its bit and, if the bit was clear and no pass is running
//! (`POLLING` clear), wakes the caller.
//!
//! - The **group waker** (`ANON`) is the one waker of every task that has not needed its own.
//! - A slab task's **own waker** (its slot's bit) is made, once per slot, at the first poll of a
//!   task that returned `Pending` under the group waker without waking it: its wake-up comes
//!   later, and must then be told apart from its siblings'.
//!
//! Each pass begins by taking the readiness word, swapping it to `POLLING` alone. It then polls,
//! in this order:
//!
//! 1. slab tasks pending under their own waker (`registered`) whose bit was set;
//! 2. if `ANON` was set, every slab task waiting on the group waker (`anonymous`): the wake-up
//!    may be theirs, so each is polled once more, now with its own waker, and from then on only
//!    when that fires (this is the one extra poll); also the slab tasks scheduled for that poll by
//!    the pass before (`next_own`, below);
//! 3. the `due` queue, in order, each task once, with the group waker (tasks pushed during the
//!    pass join it);
//! 4. the `FuturesUnordered`, which polls its tasks whose own waker fired (a task that joined it
//!    in this pass among them).
//!
//! When a queued task's poll returns `Pending`, the running set looks at `ANON`.
//!
//! - Clear: the task waits for a later wake-up. It takes a slab slot as `anonymous` (or, with
//!   every slot taken, joins the set, whose first poll of it is its one extra poll).
//! - Set, and no other task waits on the group waker (no slab task is in `on_group`: the
//!   `anonymous` tasks and those already scheduled for the poll that gives them their own waker,
//!   until that poll; and the set is empty, since a task that joined it holds the group waker
//!   until the set polls it, which cannot be seen from outside): the task woke itself (a
//!   cooperative yield), so the bit is cleared and the task joins `next`, to be polled in the
//!   next pass with the group waker again, without ever needing a waker of its own.
//! - Set while others may wait on it: the task may have woken itself or one of them (as a channel
//!   send wakes a sibling), so the bit is cleared and all of them, this one included (in a slot
//!   or in the set), are polled in the next pass with their own wakers: for each, the one poll
//!   that may find nothing to do.
//!
//! Before each queued task's poll the bit is cleared the same way (scheduling the `anonymous`
//! tasks if it was set), so that only a wake-up during the poll is taken for the task's own.
//!
//! A pass ends (`end_pass`) by registering the caller's waker, then clearing `POLLING`. A wake-up
//! during the pass set only its bit; if any bit is set then, or a task waits in `next` or
//! `next_own`, the pass wakes the caller itself, so the next pass comes. That costs one wake-up
//! per pass, where waking the caller from every waker would cost atomic operations on the
//! `AtomicWaker` for every task that yields. A wake-up that finds `POLLING` clear finds the
//! caller's waker registered; one that finds it set is seen by the clearing. No bit is ever
//! cleared without the tasks it may stand for being scheduled: no wake-up is lost. (A pass that
//! finishes the group needs no end: nothing is polled again.)
//!
//! What can still cost a poll that finds nothing to do, beyond the one per task: a stray wake-up
//! of the group waker (from a waker that some task, finished or not, left registered where it no
//! longer waits) makes every `anonymous` task take its extra poll early, and, landing while a
//! queued task is being polled, is taken for that task's own wake-up and costs it a poll. So does
//! a wake-up, during a queued task's poll, of a sibling that waits in the queues but has also
//! registered the group waker elsewhere (it yielded, and waits for something else too, as a
//! nested group with both kinds of task does): the polled task is then taken for a yield, and
//! can take a second poll without a wake-up. A `FuturesUnordered` ignores the wakers of
//! tasks it has released; the slab ignores its retired own wakers (below), but not the shared
//! group waker.
//!
//! A finished task's slot is reused. If anything still holds the old task's own waker, that waker
//! is retired (its wake-ups are ignored) and the slot gets a new one, so a stale waker does not
//! poll the new task; only a wake-up already past the `retired` check on another thread when the
//! slot was vacated can still set the bit, and cost the new task one poll.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::sync::{AtomicBool, AtomicUsize, AtomicWaker, Ordering};

/// The most tasks a slab holds; the others go to a `FuturesUnordered`: 32 where `usize` has more
/// than 32 bits, two less than its width elsewhere, so that a bit per slot, [`ANON`] and
/// [`POLLING`] fit in it.
pub(crate) const SMALL: usize = if usize::BITS > 32 {
    32
} else {
    usize::BITS as usize - 2
};

/// The group waker's bit in [`Shared::woken`].
const ANON: usize = 1 << SMALL;

/// Set in [`Shared::woken`] while a pass runs: a wake-up then only sets its bit, and the pass
/// wakes the caller at its end if it needs another.
const POLLING: usize = ANON << 1;

/// What the running set's wakers share with it.
struct Shared {
    /// A bit per slot whose own waker fired, [`ANON`] for the group waker, and [`POLLING`].
    woken: AtomicUsize,
    /// The waker of whoever polls the group, registered at the end of every pass.
    caller: AtomicWaker,
}

impl Shared {
    fn wake_bit(&self, bit: usize) {
        // A bit already set has woken the caller when it was set (or will, at the end of the
        // pass that was running then), and the pass that takes it has not begun yet. While a
        // pass runs, its end looks at the bits: waking the caller now would cost atomic
        // operations the pass does not need, once per task that yields.
        if self.woken.fetch_or(bit, Ordering::AcqRel) & (bit | POLLING) == 0 {
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

/// A slab task's own waker: its slot's bit.
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

/// Clears [`ANON`]; whether it was set.
fn take_anon(shared: &Shared) -> bool {
    // A load first: the bit is usually clear, and a load costs less than a read-modify-write.
    shared.woken.load(Ordering::Acquire) & ANON != 0
        && shared.woken.fetch_and(!ANON, Ordering::AcqRel) & ANON != 0
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

/// Up to [`SMALL`] tasks that wait for a wake-up, in slots (see the module docs). Every mask is
/// over slot numbers; a task is in exactly one of `registered`, `anonymous`, `due_own` and
/// `next_own`, and in none once it has completed.
pub(crate) struct Slab<F> {
    tasks: Vec<Option<F>>,
    /// Occupied slots.
    len: usize,
    /// Free slots below `tasks.len()`.
    free: usize,
    /// Pending under their own waker.
    registered: usize,
    /// Pending under the group waker, which they did not wake.
    anonymous: usize,
    /// Waiting on the group waker: `anonymous`, and those of them already scheduled for the poll
    /// that gives them their own waker (in `due_own` or `next_own`) until that poll.
    on_group: usize,
    /// To poll with their own waker in this pass, and in the next.
    due_own: usize,
    next_own: usize,
    /// A slot's own waker, made the first time a task in that slot needs one.
    own: Vec<Option<Own>>,
}

impl<F> Slab<F> {
    const fn new() -> Self {
        Slab {
            tasks: Vec::new(),
            len: 0,
            free: 0,
            registered: 0,
            anonymous: 0,
            on_group: 0,
            due_own: 0,
            next_own: 0,
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

    /// Takes in a task that went `Pending` under the group waker: waiting on it (`woke` false),
    /// or scheduled for a poll with its own waker in the next pass.
    fn insert(&mut self, task: F, woke: bool) {
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
        let bit = 1 << slot;
        self.on_group |= bit;
        if woke {
            self.next_own |= bit;
        } else {
            self.anonymous |= bit;
        }
    }

    /// The `anonymous` tasks are polled in the next pass with their own wakers.
    fn schedule_anonymous(&mut self) {
        self.next_own |= self.anonymous;
        self.anonymous = 0;
    }

    /// Files what woke since the last pass (`woken`, the readiness word) as due in this one.
    fn start_pass(&mut self, woken: usize) {
        let mut own = self.next_own | (woken & self.registered);
        if woken & ANON != 0 {
            own |= self.anonymous;
        }
        self.registered &= !own;
        self.anonymous &= !own;
        self.due_own |= own;
        self.next_own = 0;
    }

    /// Polls the due tasks, each with its own waker, until one completes.
    fn poll_due(&mut self, shared: &Arc<Shared>) -> Option<F::Output>
    where
        F: Future + Unpin,
    {
        while let Some(slot) = take_lowest(&mut self.due_own) {
            let bit = 1 << slot;
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
            let Some(task) = self.tasks[slot].as_mut() else {
                unreachable!("slot {slot} is scheduled but holds no task");
            };
            let poll = Pin::new(task).poll(&mut Context::from_waker(&own.waker));
            self.on_group &= !bit;
            match poll {
                Poll::Ready(output) => {
                    // Dropped before `output` is handed on, as in a `FuturesUnordered`.
                    self.tasks[slot] = None;
                    self.vacate(slot);
                    return Some(output);
                }
                Poll::Pending => self.registered |= bit,
            }
        }
        None
    }
}

/// The running tasks of a group, in the four places the module docs describe.
pub(crate) struct Running<F> {
    /// Made at the first poll of a task; the group waker is `Waker::from` the `Arc`.
    shared: Option<(Arc<Shared>, Waker)>,
    /// To poll with the group waker in this pass, in order.
    due: VecDeque<F>,
    /// Woke themselves under the group waker in this pass: due in the next one.
    next: VecDeque<F>,
    slab: Slab<F>,
    /// Made the first time the slab is full.
    overflow: Option<FuturesUnordered<F>>,
}

impl<F> Default for Running<F> {
    fn default() -> Self {
        Running {
            shared: None,
            due: VecDeque::new(),
            next: VecDeque::new(),
            slab: Slab::new(),
            overflow: None,
        }
    }
}

impl<F: Unpin> Running<F> {
    pub(crate) fn len(&self) -> usize {
        self.due.len()
            + self.next.len()
            + self.slab.len
            + self.overflow.as_ref().map_or(0, FuturesUnordered::len)
    }

    /// Drops every task, and all of them even if a destructor panics: a `VecDeque` and a `Vec`
    /// drop the rest of their elements while the panic unwinds, and so does a
    /// `FuturesUnordered`'s `IntoIter` (its own `clear` and `drop` would leak the tasks after a
    /// panicking one), and the locals here are dropped on the way out too. Everything is reset
    /// before anything is dropped, so a panic leaves the set empty.
    pub(crate) fn clear(&mut self) {
        let due = core::mem::take(&mut self.due);
        let next = core::mem::take(&mut self.next);
        let slab = core::mem::replace(&mut self.slab, Slab::new());
        let overflow = self.overflow.take();
        drop(due);
        drop(next);
        drop(slab);
        for task in overflow.into_iter().flatten() {
            drop(task);
        }
    }
}

impl<F: Future + Unpin> Running<F> {
    /// Adds a task; it is polled in the current pass (or, if the pass has returned already, as
    /// `try_next` does after one result, in the next).
    #[inline]
    pub(crate) fn push(&mut self, task: F) {
        if self.due.capacity() == 0 {
            // Room for a small group's tasks at once, instead of a doubling series from four.
            self.due.reserve_exact(SMALL);
        }
        self.due.push_back(task);
    }

    /// Starts a pass: called on every poll of the group from outside, before `poll_next`.
    pub(crate) fn start_pass(&mut self) {
        if let Some((shared, _)) = &self.shared {
            let woken = shared.woken.swap(POLLING, Ordering::AcqRel);
            self.slab.start_pass(woken);
        }
        if !self.next.is_empty() {
            if self.due.is_empty() {
                core::mem::swap(&mut self.due, &mut self.next);
            } else {
                self.due.append(&mut self.next);
                if self.next.capacity() > 4 * SMALL {
                    // Emptied with its buffer kept: freed, as `due` is once drained.
                    self.next = VecDeque::new();
                }
            }
        }
    }

    /// Ends a pass: from now on a wake-up wakes the caller itself, and one that came in during
    /// the pass (or a task that yielded, or one scheduled for the next pass) wakes it now.
    pub(crate) fn end_pass(&mut self, cx: &Context<'_>) {
        let Some((shared, _)) = &self.shared else {
            return;
        };
        // Registered before `POLLING` is cleared: a wake-up that finds it clear finds the
        // caller's waker too, and one that finds it set is seen here.
        shared.caller.register(cx.waker());
        let woken = shared.woken.fetch_and(!POLLING, Ordering::AcqRel) & !POLLING;
        if woken != 0 || !self.next.is_empty() || self.slab.next_own != 0 {
            cx.waker().wake_by_ref();
        }
    }

    /// The output of the next task to complete in this pass; `Pending` once no task is left to
    /// poll in it, `None` when there is no task.
    #[inline]
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.slab.due_own != 0 {
            if let Some((shared, _)) = &self.shared {
                if let Some(output) = self.slab.poll_due(shared) {
                    return Poll::Ready(Some(output));
                }
            }
        }
        while let Some(mut task) = self.due.pop_front() {
            let (shared, group_waker) = self.shared.get_or_insert_with(|| {
                let shared = Arc::new(Shared {
                    // Made during a pass.
                    woken: AtomicUsize::new(POLLING),
                    caller: AtomicWaker::new(),
                });
                let waker = Waker::from(Arc::clone(&shared));
                (shared, waker)
            });
            if take_anon(shared) && self.slab.on_group != 0 {
                // The group waker fired since the pass began (or since the last queued task's
                // poll), for a slab task waiting on it or for one polled since: taken now, so
                // that only a wake-up during the coming poll is taken for this task's own.
                self.slab.schedule_anonymous();
            }
            if let Poll::Ready(output) =
                Pin::new(&mut task).poll(&mut Context::from_waker(group_waker))
            {
                // Dropped before `output` is handed on, as in a `FuturesUnordered`.
                drop(task);
                return Poll::Ready(Some(output));
            }
            let woke = take_anon(shared);
            if woke {
                // A task that joined the set holds the group waker until the set polls it, which
                // cannot be seen from here: while the set holds tasks, a wake-up is never taken
                // for a yield.
                let set_is_empty = self
                    .overflow
                    .as_ref()
                    .map_or(true, FuturesUnordered::is_empty);
                if self.slab.on_group == 0 && set_is_empty {
                    // Nobody else waits on the group waker: the task woke itself (a cooperative
                    // yield), and is polled next pass with it again.
                    if self.next.capacity() == 0 {
                        // As much room as the queue has: most tasks of a pass yield alike.
                        self.next.reserve_exact(self.due.capacity());
                    }
                    self.next.push_back(task);
                    continue;
                }
                // It may have woken itself, or a slab task waiting on the group waker (as a
                // channel send does): each of them is polled next pass, with its own waker.
                self.slab.schedule_anonymous();
            }
            if self.slab.len < SMALL {
                self.slab.insert(task, woke);
            } else {
                // Its own waker from its next poll on, which the set makes soon: this one
                // may find nothing to do.
                self.overflow
                    .get_or_insert_with(FuturesUnordered::new)
                    .push(task);
            }
        }
        if self.due.capacity() > 4 * SMALL {
            // Drained: a large group's tasks now wait in the slab and the set, and the buffer
            // they arrived in would stay as idle memory for as long as they wait.
            self.due = VecDeque::new();
        }
        match &mut self.overflow {
            Some(set) if !set.is_empty() => match set.poll_next_unpin(cx) {
                Poll::Ready(Some(output)) => Poll::Ready(Some(output)),
                _ => Poll::Pending,
            },
            _ if self.slab.len == 0 && self.next.is_empty() => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}
