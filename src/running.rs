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
//! - **a page's slot**: when every one of the group's [`SLOTS`] slots is taken, a due task is
//!   lent the waker of a free slot of a *page*, and waits there as in the group's own slots. A
//!   page is [`SLOTS`] more slots with a readiness word of its own: the first of its bits to be
//!   set puts the page's number in the page queue and sets the group's [`PAGES`] bit, and a pass
//!   polls the slots of the pages queued when it began. So a wake-up costs the same however many
//!   tasks wait, and a task beyond the group's slots is polled exactly as one in them.
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
//! next one). A page's word is taken whole when the pass comes to the page: a wake-up after that
//! finds it clear and queues the page again, for the next pass, and one that lands before its
//! slot's poll is answered by that poll, as in the group's slots.
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
//! moment, then doubles, and so do a page's slots. The queues grow as tasks arrive; the yield
//! queue takes room for the tasks still due in the pass. At the end of a pass (one that returns
//! without a value: a `try_next` that hands one out leaves this to a later pass), a queue with
//! nothing in either is freed, an oversized one is shrunk, trailing free slots are dropped, and
//! so are trailing pages with no task.
//!
//! [`SLOTS`]: crate::waker::SLOTS
//! [`PAGES`]: crate::waker::PAGES

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use concurrent_queue::ConcurrentQueue;
use futures_util::task::waker_ref;

use crate::kept::fit;
use crate::sync::{fence, Ordering};
use crate::waker::{BitWaker, Readiness, ALL_SLOTS, PAGES, SLOTS};

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

/// [`SLOTS`] more slots, with a readiness word of their own.
struct Page<F> {
    readiness: Arc<Readiness>,
    /// Made as they are needed, as the group's own.
    slots: Vec<Slot<F>>,
    occupied: usize,
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
    /// Slots beyond the group's own, made when those are all taken.
    pages: Vec<Page<F>>,
    /// The numbers of the pages whose word has a bit set; made with the first page.
    page_queue: Option<Arc<ConcurrentQueue<usize>>>,
    /// Queued pages to poll in this pass: those queued when it began.
    pages_due: usize,
    /// The page being polled, and its slots whose bit was set, still to poll.
    page_now: Option<(usize, usize)>,
    /// Pages with a free slot, most recent last; an entry may have filled up since.
    spare: Vec<usize>,
    /// Tasks waiting in pages.
    paged: usize,
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
            pages: Vec::new(),
            page_queue: None,
            pages_due: 0,
            page_now: None,
            spare: Vec::new(),
            paged: 0,
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
            && self.paged == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.due.len()
            + self.next.len()
            + self.occupied.count_ones() as usize
            + self.parked.len()
            + self.paged
    }
}

impl<F: Unpin> Running<F> {
    /// Hands every task to `dispose`, leaving the set empty. Each container is taken out before
    /// its tasks are handed on: if `dispose` unwinds, the rest of that container is dropped as
    /// its iterator unwinds (a second panic there aborts, as in a `Vec`), and the containers not
    /// reached yet are left to the next call.
    pub(crate) fn drain(&mut self, mut dispose: impl FnMut(F)) {
        for queue in [&mut self.due, &mut self.next] {
            let queue = core::mem::take(queue);
            queue.into_iter().for_each(&mut dispose);
        }
        // The slots are one container: taken out, and only then counted empty (`is_empty`
        // must not call the group empty while its tasks are still in place).
        let first = self.first.task.take();
        let rest = core::mem::take(&mut self.rest);
        self.occupied = 0;
        self.woken = 0;
        first
            .into_iter()
            .chain(rest.into_iter().filter_map(|slot| slot.task))
            .for_each(&mut dispose);
        core::mem::take(&mut self.parked)
            .into_iter()
            .for_each(&mut dispose);
        let pages = core::mem::take(&mut self.pages);
        self.paged = 0;
        self.page_now = None;
        self.pages_due = 0;
        pages
            .into_iter()
            .flat_map(|page| page.slots)
            .filter_map(|slot| slot.task)
            .for_each(&mut dispose);
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
    /// readiness word that are not the slots' or the pages' (the inbox's and the stop's).
    pub(crate) fn start_pass(&mut self) -> usize {
        if let Some((number, bits)) = self.page_now.take() {
            // Left by a pass that returned a value: back to the page's word, so that the page
            // has one turn in this pass, wherever its wake-ups came from.
            if let Some(page) = self.pages.get(number).filter(|_| bits != 0) {
                page.readiness.wake(bits);
            }
        }
        let woken = self.readiness().start_pass();
        self.woken |= woken & self.occupied;
        if woken & PAGES != 0 {
            if let Some(queue) = &self.page_queue {
                // Every page queued before its bit was set is in the queue: the pages queued
                // from now on wait for the next pass.
                self.pages_due = queue.len();
            }
        }
        if !self.next.is_empty() {
            if self.due.is_empty() {
                // `due` is drained: its buffer takes the next pass's yields.
                core::mem::swap(&mut self.due, &mut self.next);
            } else {
                self.due.append(&mut self.next);
            }
        }
        woken & !(ALL_SLOTS | PAGES)
    }

    /// Ends a pass that returns without a value: registers the caller's waker, and wakes it if
    /// anything woke during the pass or is left for the next one. Then gives back memory the
    /// pass no longer needs.
    pub(crate) fn end_pass(&mut self, caller: &Waker) {
        let woken = self.readiness().end_pass(caller);
        let left = self.woken != 0
            || !self.due.is_empty()
            || !self.next.is_empty()
            || self.pages_due != 0
            || self.page_now.is_some();
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
        // Not a queued one: its number must not come round twice in the queue.
        while self
            .pages
            .last()
            .is_some_and(|page| page.occupied == 0 && !page.readiness.is_queued())
        {
            self.pages.pop();
        }
        let pages = self.pages.len();
        self.spare.retain(|&number| number < pages);
        if self.pages.is_empty() && self.pages.capacity() != 0 {
            // What is still queued is for pages that are gone.
            self.pages = Vec::new();
            self.spare = Vec::new();
            self.page_queue = None;
            self.pages_due = 0;
            self.page_now = None;
        }
    }

    /// The output of the next task to complete in this pass; `Pending` once no task is left to
    /// poll in it, `None` when there is no task at all.
    #[inline]
    pub(crate) fn poll_next(&mut self) -> Poll<Option<F::Output>> {
        // Waiting tasks whose waker fired.
        while let Some(k) = take_lowest(&mut self.woken) {
            let bit = 1 << k;
            let readiness = self.readiness.get_or_init(|| Arc::new(Readiness::new()));
            let Slot { task, waker } = slot(&mut self.first, &mut self.rest, k);
            match poll_waiting(task, waker, readiness, bit) {
                Waited::Ready(output) => {
                    self.occupied &= !bit;
                    return Poll::Ready(Some(output));
                }
                Waited::Waiting => {}
                Waited::Left(task, held) => {
                    self.occupied &= !bit;
                    self.place(task, held);
                }
            }
        }
        // Waiting tasks of the pages that woke.
        if self.pages_due != 0 || self.page_now.is_some() {
            if let Poll::Ready(output) = self.poll_pages() {
                return Poll::Ready(Some(output));
            }
        }
        // New tasks and last pass's yields, each with a free slot's waker.
        while let Some(mut task) = self.due.pop_front() {
            let free = !self.occupied & ALL_SLOTS;
            if free == 0 {
                if let Some(output) = self.start_in_page(task) {
                    return Poll::Ready(Some(output));
                }
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
            let readiness = self.readiness.get_or_init(|| Arc::new(Readiness::new()));
            let Slot { task: place, waker } = slot(&mut self.first, &mut self.rest, k);
            match poll_lent(&mut task, waker, readiness, bit) {
                Lent::Ready(output) => return Poll::Ready(Some(output)),
                Lent::Pending(Held::Waiting) => {
                    *place = Some(task);
                    self.occupied |= bit;
                }
                Lent::Pending(held) => self.place(task, held),
            }
        }
        if self.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// A task that returned `Pending` and holds no waker of ours: due in the next pass if it
    /// woke itself, parked otherwise.
    fn place(&mut self, task: F, held: Held) {
        match held {
            Held::Woke => {
                if self.next.capacity() == 0 {
                    // Room for the tasks still due in this pass: tasks of a pass tend to yield
                    // alike, and this is bounded by what the group holds now.
                    self.next.reserve_exact(self.due.len() + 1);
                }
                self.next.push_back(task);
            }
            _ => self.parked.push(task),
        }
    }

    /// Polls the woken slots of the pages due in this pass, up to the first task that completes.
    fn poll_pages(&mut self) -> Poll<F::Output> {
        loop {
            let (number, bits) = match &mut self.page_now {
                Some((number, bits)) => match take_lowest(bits) {
                    Some(k) => (*number, k),
                    None => {
                        self.page_now = None;
                        continue;
                    }
                },
                None => {
                    if self.pages_due == 0 {
                        return Poll::Pending;
                    }
                    self.pages_due -= 1;
                    let queue = self.page_queue.as_ref().expect("pages are queued");
                    let Ok(number) = queue.pop() else {
                        unreachable!("the pages due in a pass are in the queue");
                    };
                    if let Some(page) = self.pages.get(number) {
                        // Taken whole: a wake-up from now on queues the page again.
                        let woken = page.readiness.take_all() & page.occupied;
                        self.page_now = Some((number, woken));
                    }
                    continue;
                }
            };
            let page = &mut self.pages[number];
            let bit = 1 << bits;
            let Slot { task, waker } = &mut page.slots[bits];
            match poll_waiting(task, waker, &page.readiness, bit) {
                Waited::Ready(output) => {
                    self.free_page_slot(number, bit);
                    return Poll::Ready(output);
                }
                Waited::Waiting => {}
                Waited::Left(task, held) => {
                    self.free_page_slot(number, bit);
                    self.place(task, held);
                }
            }
        }
    }

    /// Starts `task` with the waker of a free slot of a page (made if none has one); the output
    /// if it completed at once.
    fn start_in_page(&mut self, mut task: F) -> Option<F::Output> {
        let number = self.spare_page();
        let page = &mut self.pages[number];
        let k = (!page.occupied & ALL_SLOTS).trailing_zeros() as usize;
        let bit = 1 << k;
        if k == page.slots.len() {
            page.slots.push(Slot {
                task: None,
                waker: None,
            });
        }
        let Slot { task: place, waker } = &mut page.slots[k];
        match poll_lent(&mut task, waker, &page.readiness, bit) {
            Lent::Ready(output) => Some(output),
            Lent::Pending(Held::Waiting) => {
                *place = Some(task);
                page.occupied |= bit;
                if page.occupied == ALL_SLOTS {
                    // It was the last spare page: now full.
                    self.spare.pop();
                }
                self.paged += 1;
                None
            }
            Lent::Pending(held) => {
                self.place(task, held);
                None
            }
        }
    }

    /// The number of a page with a free slot, made if there is none.
    fn spare_page(&mut self) -> usize {
        while let Some(&number) = self.spare.last() {
            if self
                .pages
                .get(number)
                .is_some_and(|page| page.occupied != ALL_SLOTS)
            {
                return number;
            }
            self.spare.pop();
        }
        let readiness = self.readiness.get_or_init(|| Arc::new(Readiness::new()));
        let queue = self
            .page_queue
            .get_or_insert_with(|| Arc::new(ConcurrentQueue::unbounded()));
        let number = self.pages.len();
        self.pages.push(Page {
            readiness: Arc::new(Readiness::page(readiness, queue, number)),
            slots: Vec::new(),
            occupied: 0,
        });
        self.spare.push(number);
        number
    }

    /// Slot `bit` of page `number` no longer holds a task.
    fn free_page_slot(&mut self, number: usize, bit: usize) {
        let page = &mut self.pages[number];
        if page.occupied == ALL_SLOTS {
            self.spare.push(number);
        }
        page.occupied &= !bit;
        self.paged -= 1;
    }
}

/// What became of a waiting task polled in its slot.
enum Waited<F: Future> {
    Ready(F::Output),
    /// Still waiting there.
    Waiting,
    /// It left the slot: it woke itself, or holds no waker any more.
    Left(F, Held),
}

/// Polls the task waiting in a slot, with the slot's waker.
#[inline]
fn poll_waiting<F: Future + Unpin>(
    task: &mut Option<F>,
    waker: &mut Option<Arc<BitWaker>>,
    readiness: &Readiness,
    bit: usize,
) -> Waited<F> {
    let (Some(polled), Some(own)) = (task.as_mut(), waker.as_ref()) else {
        unreachable!("an occupied slot holds a task and a waker");
    };
    // A wake-up since the pass began (a sibling polled before it, another thread) is answered by
    // this poll, as a `FuturesUnordered` absorbs one that lands while the task is queued: only
    // one during the poll counts for the next pass.
    if readiness.is_set(bit) {
        readiness.take(bit);
    }
    match poll_with(polled, own) {
        Poll::Ready(output) => {
            // The task itself goes with `output`, for the core to drop: all that is left here is
            // its wrapper.
            drop(task.take());
            release(waker, readiness, bit);
            Waited::Ready(output)
        }
        Poll::Pending => match Held::of(own, readiness, bit) {
            Held::Waiting => Waited::Waiting,
            held => match task.take() {
                Some(task) => Waited::Left(task, held),
                None => unreachable!("the task was just polled"),
            },
        },
    }
}

/// What became of a due task polled with a free slot's waker.
enum Lent<F: Future> {
    Ready(F::Output),
    Pending(Held),
}

/// Polls a due task with the waker of a free slot, made at the slot's first use.
#[inline]
fn poll_lent<F: Future + Unpin>(
    task: &mut F,
    waker: &mut Option<Arc<BitWaker>>,
    readiness: &Arc<Readiness>,
    bit: usize,
) -> Lent<F> {
    let lent = waker.get_or_insert_with(|| BitWaker::new(readiness, bit));
    match poll_with(task, lent) {
        Poll::Ready(output) => {
            release(waker, readiness, bit);
            Lent::Ready(output)
        }
        Poll::Pending => Lent::Pending(Held::of(lent, readiness, bit)),
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
