//! Polls follow wake-ups, exactly: in flat groups on both sides of the slab's size and in nested
//! groups, with one leaf woken at a time from outside, as sockets and channels wake real tasks,
//! every leaf is polled once when it starts and then once per wake-up it got
//! (`leaf polls <= leaves + wake-ups`, as `FuturesUnordered` does), and the groups in between
//! only when one of their own tasks woke. A stale waker of a finished task does not poll the
//! task that took its slot, and a task that keeps the waker of its first poll is woken through
//! it. `polled_only_once_at_most_per_iteration`, futures-rs' own test of `FuturesUnordered`,
//! holds for the group too.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use errgroup::ErrGroup;
use futures::future::BoxFuture;
use futures_test::task::new_count_waker;

use support::poll_once;

/// What every leaf of a tree shares: the leaves' wakers and their counters.
#[derive(Default)]
struct Leaves {
    /// Per leaf: the signals handed to it and not yet taken, and the waker to wake.
    slots: Mutex<Vec<(usize, Option<Waker>)>>,
    polls: AtomicUsize,
    wakes: AtomicUsize,
}

impl Leaves {
    /// A new leaf that completes after taking `rounds` signals.
    fn leaf(self: &Arc<Self>, rounds: usize) -> Leaf {
        let mut slots = self.slots.lock().unwrap();
        slots.push((0, None));
        Leaf {
            leaves: Arc::clone(self),
            id: slots.len() - 1,
            left: rounds,
        }
    }

    /// Hands a signal to leaf `id` and wakes it (if it is waiting); `false` if it is gone.
    fn signal(&self, id: usize) -> bool {
        let waker = {
            let mut slots = self.slots.lock().unwrap();
            let (signals, waker) = &mut slots[id];
            *signals += 1;
            waker.take()
        };
        match waker {
            Some(waker) => {
                self.wakes.fetch_add(1, SeqCst);
                waker.wake();
                true
            }
            None => false,
        }
    }

    fn count(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

/// Waits for `left` signals, one at a time, then completes.
struct Leaf {
    leaves: Arc<Leaves>,
    id: usize,
    left: usize,
}

impl Future for Leaf {
    type Output = Result<usize, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.leaves.polls.fetch_add(1, SeqCst);
        let mut slots = this.leaves.slots.lock().unwrap();
        let (signals, waker) = &mut slots[this.id];
        while *signals > 0 && this.left > 0 {
            *signals -= 1;
            this.left -= 1;
        }
        if this.left == 0 {
            return Poll::Ready(Ok(this.id));
        }
        *waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A tree of groups: `shape[0]` children at the root, each with `shape[1]` children, and so on;
/// the last level are leaves that each take `rounds` signals.
fn tree(
    leaves: &Arc<Leaves>,
    shape: &[usize],
    rounds: usize,
) -> BoxFuture<'static, Result<usize, String>> {
    match shape {
        [] => Box::pin(leaves.leaf(rounds)),
        [width, rest @ ..] => {
            let mut group = ErrGroup::new();
            for _ in 0..*width {
                group.push(tree(leaves, rest, rounds));
            }
            Box::pin(async move { group.await.map(|done| done.len()) })
        }
    }
}

/// Drives the tree rooted at `root` by hand: one leaf signalled between two polls, round robin
/// over the leaves still waiting, until the root completes. Returns (leaf polls, wake-ups).
fn drive(root: BoxFuture<'static, Result<usize, String>>, leaves: &Arc<Leaves>) -> (usize, usize) {
    let mut root = root;
    let (waker, _) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut next = 0;
    for _ in 0..1_000_000 {
        if root.as_mut().poll(&mut cx).is_ready() {
            return (leaves.polls.load(SeqCst), leaves.wakes.load(SeqCst));
        }
        // Signal the next leaf that is waiting.
        let n = leaves.count();
        for k in 0..n {
            if leaves.signal((next + k) % n) {
                next = (next + k + 1) % n;
                break;
            }
        }
    }
    panic!("the tree did not complete");
}

fn check_shape(shape: &[usize], rounds: usize) {
    let leaves = Arc::new(Leaves::default());
    let root = tree(&leaves, shape, rounds);
    let count: usize = shape.iter().product();
    let (polls, wakes) = drive(root, &leaves);
    println!("{shape:?}: {polls} leaf polls for {count} leaves and {wakes} wake-ups");
    assert_eq!(leaves.count(), count);
    assert_eq!(
        wakes,
        count * rounds,
        "{shape:?}: every leaf woken once per round"
    );
    assert!(
        polls <= count + wakes,
        "{shape:?}: {polls} leaf polls for {count} leaves and {wakes} wake-ups"
    );
}

/// How many tasks wait in the slab before the others go to the set beside it: the bits of a
/// `usize` but four (`src/waker.rs`). The widths below sit on both sides of it.
const SLOTS: usize = usize::BITS as usize - 4;

#[test]
fn flat_groups_poll_a_leaf_only_when_it_woke() {
    let rounds = if cfg!(miri) { 2 } else { 5 };
    let mut widths = vec![1, 5, 31, 32, 33, SLOTS - 1, SLOTS, SLOTS + 1, 64, 100];
    widths.sort_unstable();
    widths.dedup();
    for width in widths {
        if cfg!(miri) && width > SLOTS + 1 {
            continue;
        }
        check_shape(&[width], rounds);
    }
}

#[test]
fn nested_groups_poll_a_leaf_only_when_it_woke() {
    let rounds = if cfg!(miri) { 1 } else { 3 };
    check_shape(&[3, 3, 3, 3], rounds);
    check_shape(&[6, 6, 6], rounds);
    if !cfg!(miri) {
        check_shape(&[15, 15], rounds);
        check_shape(&[40, 3], rounds);
        check_shape(&[6, 6, 6, 6, 6], 1);
    }
}

/// A task polled by hand that counts its polls, keeps the waker of its `keep_at`-th poll (if
/// any) in `kept`, wakes itself on its `wake_at`-th poll (if any), and finishes once `finish` is
/// set and it is polled.
struct Scripted {
    polls: Arc<AtomicUsize>,
    kept: Arc<Mutex<Option<Waker>>>,
    keep_at: Option<usize>,
    wake_at: Option<usize>,
    finish: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(keep_at: Option<usize>, wake_at: Option<usize>) -> Self {
        Scripted {
            polls: Arc::default(),
            kept: Arc::default(),
            keep_at,
            wake_at,
            finish: Arc::default(),
        }
    }

    fn polls(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.polls)
    }

    fn kept(&self) -> Arc<Mutex<Option<Waker>>> {
        Arc::clone(&self.kept)
    }

    fn finish(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.finish)
    }
}

impl Future for Scripted {
    type Output = Result<usize, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let poll = self.polls.fetch_add(1, SeqCst) + 1;
        if self.finish.load(SeqCst) != 0 {
            return Poll::Ready(Ok(poll));
        }
        if self.keep_at == Some(poll) {
            *self.kept.lock().unwrap() = Some(cx.waker().clone());
        }
        if self.wake_at == Some(poll) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Takes the waker `kept` holds and wakes it.
fn wake_kept(kept: &Mutex<Option<Waker>>) {
    kept.lock().unwrap().take().expect("a kept waker").wake();
}

/// A task leaves its waker with someone else and completes; the next task polled with that
/// slot's waker is not polled when the stale waker fires.
#[test]
fn a_stale_waker_does_not_poll_the_task_that_took_its_slot() {
    let mut group = ErrGroup::<usize, String>::new();
    let first = Scripted::new(Some(1), None);
    let (stale, finish_first) = (first.kept(), first.finish());
    group.push(first);
    assert!(poll_once(&mut group.try_next()).is_pending());
    // The first task finishes while `stale` still holds its waker.
    let its_own = stale.lock().unwrap().clone().unwrap();
    finish_first.store(1, SeqCst);
    its_own.wake();
    assert!(matches!(
        poll_once(&mut group.try_next()),
        Poll::Ready(Ok(Some(_)))
    ));
    // A new task takes the free slot and waits on its waker.
    let second = Scripted::new(Some(1), None);
    let (polls, its_waker) = (second.polls(), second.kept());
    group.push(second);
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(polls.load(SeqCst), 1);
    // The finished task's waker fires: nothing is polled.
    wake_kept(&stale);
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        polls.load(SeqCst),
        1,
        "the stale waker polled the slot's new task"
    );
    // Its own waker works.
    wake_kept(&its_waker);
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(polls.load(SeqCst), 2);
}

/// Regression: a task's waker changed once while it waited (from a waker shared with its
/// siblings to one of its own), so a task that keeps the waker of its first poll, a breach of
/// the `Future` contract that `FuturesUnordered` and tokio tolerate, was never polled again. A
/// waiting task now keeps the waker it was first given, in the slab and in the set beside it.
#[test]
fn regression_a_task_that_keeps_the_waker_of_its_first_poll_is_woken_through_it() {
    for siblings in [0, 3, SLOTS + 2] {
        let mut group = ErrGroup::<usize, String>::new();
        let gates: Vec<support::Gate> = support::Gate::many(siblings);
        let sibling_probe = support::Probe::new();
        for (i, gate) in gates.iter().enumerate() {
            group.push(support::gated(&sibling_probe, i, gate));
        }
        // Keeps the waker of its first poll only, and is woken through it three times.
        let task = Scripted::new(Some(1), None);
        let (polls, first_waker, finish) = (task.polls(), task.kept(), task.finish());
        group.push(task);
        assert!(poll_once(&mut group.try_next()).is_pending());
        let first_waker = first_waker.lock().unwrap().take().unwrap();
        for round in 1..=3 {
            first_waker.wake_by_ref();
            assert!(poll_once(&mut group.try_next()).is_pending());
            assert_eq!(
                polls.load(SeqCst),
                1 + round,
                "{siblings} siblings, round {round}"
            );
        }
        finish.store(1, SeqCst);
        first_waker.wake_by_ref();
        assert!(matches!(
            poll_once(&mut group.try_next()),
            Poll::Ready(Ok(Some(5)))
        ));
        gates.iter().for_each(support::Gate::open);
        let rest = support::run_by_hand(&mut group, 10).unwrap();
        assert_eq!(rest.len(), siblings);
    }
}

/// A task that wakes itself *and* keeps the waker it was polled with: the waker it keeps is its
/// own from then on, and is not lent to the task polled after it.
#[test]
fn a_task_that_yields_and_keeps_its_waker_keeps_it_to_itself() {
    let mut group = ErrGroup::<usize, String>::new();
    let yielder = Scripted::new(Some(1), Some(1));
    let (yielder_polls, kept) = (yielder.polls(), yielder.kept());
    group.push(yielder);
    let next = Scripted::new(Some(1), None);
    let next_polls = next.polls();
    group.push(next);
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        (yielder_polls.load(SeqCst), next_polls.load(SeqCst)),
        (1, 1)
    );
    // The yield: polled again, the other task not.
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        (yielder_polls.load(SeqCst), next_polls.load(SeqCst)),
        (2, 1)
    );
    // The kept waker fires: it polls the task that kept it, and only that one.
    wake_kept(&kept);
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        (yielder_polls.load(SeqCst), next_polls.load(SeqCst)),
        (3, 1)
    );
}

/// futures-rs' `polled_only_once_at_most_per_iteration`, ported: tasks that return `Pending`
/// without waking anything are polled once by the first poll of the group, and never again.
#[test]
fn polled_only_once_at_most_per_iteration() {
    #[derive(Default)]
    struct F {
        polled: bool,
    }

    impl Future for F {
        type Output = Result<(), ()>;

        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            assert!(!self.polled, "polled twice");
            self.polled = true;
            Poll::Pending
        }
    }

    for n in [10, 33, SLOTS + 3] {
        let mut group: ErrGroup<(), ()> = (0..n).map(|_| F::default()).collect();
        assert!(poll_once(&mut group).is_pending());
        assert!(poll_once(&mut group).is_pending());
        assert_eq!(group.len(), n);
    }
    let mut empty = ErrGroup::<(), ()>::new();
    assert_eq!(poll_once(&mut empty.try_next()), Poll::Ready(Ok(None)));
}

/// Regression: a lone task in the set beyond the slab cost one useless poll of the group per
/// wake-up. `FuturesUnordered` wakes its caller after polling every task it holds, and the group
/// forwarded that wake-up. Now the poll that handles the task's wake-up leaves the group quiet.
#[test]
fn regression_a_lone_task_beyond_the_slab_costs_no_extra_group_poll() {
    let (waker, wakes) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut group = ErrGroup::<usize, String>::new();
    let gates = support::Gate::many(SLOTS);
    let probe = support::Probe::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(support::gated(&probe, i, gate));
    }
    let lone = Scripted::new(Some(1), None);
    let (polls, kept, finish) = (lone.polls(), lone.kept(), lone.finish());
    group.push(lone);
    assert!(Pin::new(&mut group).poll(&mut cx).is_pending());
    assert_eq!(polls.load(SeqCst), 1);
    for round in 1..=3 {
        let kept_waker = kept.lock().unwrap().take().unwrap();
        *kept.lock().unwrap() = Some(kept_waker.clone());
        kept_waker.wake();
        let before = wakes.get();
        assert!(Pin::new(&mut group).poll(&mut cx).is_pending());
        assert_eq!(polls.load(SeqCst), 1 + round);
        assert_eq!(
            wakes.get(),
            before,
            "round {round}: the group woke itself after handling the wake-up"
        );
    }
    finish.store(1, SeqCst);
    wake_kept(&kept);
    gates.iter().for_each(support::Gate::open);
    let values = support::run_by_hand(&mut group, 10).unwrap();
    assert_eq!(values.len(), SLOTS + 1);
}

/// Waits forever, keeping a clone of the waker of its last poll.
struct Waits<E = ()>(Option<Waker>, std::marker::PhantomData<fn() -> E>);
fn waits<E>() -> Waits<E> {
    Waits(None, std::marker::PhantomData)
}
impl<E> Future for Waits<E> {
    type Output = Result<(), E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A group whose own slots are all taken by tasks that wait for ever: the next task that waits
/// goes to a page.
fn slots_taken<T: Default + Send + 'static>() -> ErrGroup<'static, T, ()> {
    let mut group = ErrGroup::new();
    for _ in 0..SLOTS {
        group.push(async {
            waits::<()>().await?;
            Ok(T::default())
        });
    }
    group
}

/// Regression: a yielding task beyond the slab (then in a `FuturesUnordered` set, now in a page)
/// was polled more than once per poll of the group: twice when it is the set's only task, up to
/// four times with one waiting sibling in the set (`FuturesUnordered` polls it twice per call,
/// and the group's "second call" of the pass polls it again).
#[test]
fn regression_a_yielding_task_beyond_the_slab_is_polled_once_per_group_poll() {
    for extra_waiters in [0, 1] {
        let mut group = ErrGroup::<(), ()>::new();
        for _ in 0..SLOTS + extra_waiters {
            group.push(waits());
        }
        let polls = Arc::new(AtomicUsize::new(0));
        group.push(support::CountsPolls(Arc::clone(&polls)));
        assert_eq!(
            polls_per_pass(&mut group, &polls, 4),
            [1; 4],
            "{extra_waiters} extra waiters beyond the slab"
        );
    }
}

/// Regression: an inner group whose one task yields, placed beyond the outer group's slab,
/// polled its task several times per poll of the outer group ("at most once per
/// poll of the group, [...] however deep groups are nested").
#[test]
fn regression_a_nested_group_beyond_the_slab_polls_its_yielding_task_once_per_outer_poll() {
    let mut outer = slots_taken::<Vec<()>>();
    let polls = Arc::new(AtomicUsize::new(0));
    let mut inner = ErrGroup::<(), ()>::new();
    inner.push(support::CountsPolls(Arc::clone(&polls)));
    outer.push(inner);
    assert_eq!(polls_per_pass(&mut outer, &polls, 4), [1; 4]);
}

/// Keeps a clone of its waker in `kept`, wakes it on every poll (a task whose event source
/// keeps firing), and counts its polls; never completes.
struct KeepsWaking {
    polls: Arc<AtomicUsize>,
    kept: Arc<Mutex<Option<Waker>>>,
}

impl KeepsWaking {
    fn new(polls: &Arc<AtomicUsize>) -> Self {
        KeepsWaking {
            polls: Arc::clone(polls),
            kept: Arc::default(),
        }
    }
}

impl Future for KeepsWaking {
    type Output = Result<u32, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.fetch_add(1, SeqCst);
        let waker = cx.waker().clone();
        waker.wake_by_ref();
        *self.kept.lock().unwrap() = Some(waker);
        Poll::Pending
    }
}

/// How many times the task counting into `polls` was polled in each of `passes` polls of the
/// group future.
fn polls_per_pass<T>(
    group: &mut ErrGroup<'_, T, ()>,
    polls: &AtomicUsize,
    passes: usize,
) -> Vec<usize> {
    (0..passes)
        .map(|_| {
            let before = polls.load(SeqCst);
            assert!(poll_once(&mut *group).is_pending());
            polls.load(SeqCst) - before
        })
        .collect()
}

/// Regression (found by review): a page's number went into the page queue whenever its word
/// went from clear to set, and single bits are cleared outside the page's turn (a task that
/// yields and leaves its slot): so a page could be queued twice, and a task in it that wakes
/// itself was polled once per copy in every pass (101 times with 100 tasks yielding before it).
/// A page is now queued at most once until its turn.
#[test]
fn regression_a_page_queued_twice_polls_its_task_once_per_pass() {
    for yielders in [0, 1, 100] {
        let mut group = slots_taken::<u32>();
        for _ in 0..yielders {
            // Lent a page slot's waker, wakes it and keeps no clone: leaves the page's slot.
            group.push(async {
                support::yield_times(1).await;
                Ok(0)
            });
        }
        let polls = Arc::new(AtomicUsize::new(0));
        group.push(KeepsWaking::new(&polls));
        assert_eq!(
            polls_per_pass(&mut group, &polls, 6),
            [1; 6],
            "{yielders} tasks yielding before it"
        );
    }
}

/// Regression (found by review): a pass that hands out a value (`try_next`) in the middle of a
/// page's turn left the page's other woken slots for the next pass, and that pass polled them
/// from there and again from the page's next turn, if the page was queued meanwhile.
#[test]
fn regression_a_page_left_by_try_next_polls_its_tasks_once_in_the_next_pass() {
    let mut group = slots_taken::<u32>();
    // Page 0, slot 0: completes once woken.
    let first = Arc::new(Mutex::new(None::<Waker>));
    let mut polled = false;
    let kept = Arc::clone(&first);
    group.push(std::future::poll_fn(move |cx| {
        if std::mem::replace(&mut polled, true) {
            return Poll::Ready(Ok(7));
        }
        *kept.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }));
    // Page 0, slot 1: wakes itself on every poll.
    let polls = Arc::new(AtomicUsize::new(0));
    let second = KeepsWaking::new(&polls);
    let kept = Arc::clone(&second.kept);
    group.push(second);
    assert_eq!(polls_per_pass(&mut group, &polls, 1), [1]);
    first.lock().unwrap().take().unwrap().wake();
    // The page's turn takes both slots; the first completes, and `try_next` returns with the
    // second's poll left for the next pass.
    assert_eq!(poll_once(&mut group.try_next()), Poll::Ready(Ok(Some(7))));
    assert_eq!(polls.load(SeqCst), 1);
    kept.lock().unwrap().as_ref().unwrap().wake_by_ref(); // queues the page again
    assert_eq!(polls_per_pass(&mut group, &polls, 4), [1; 4]);
}

/// The nested form of the first regression: an inner group in a page, behind a sibling that
/// yields once, polls its self-waking task once per poll of the outer group.
#[test]
fn regression_a_nested_group_in_a_page_behind_a_yielding_sibling_polls_its_task_once() {
    let mut outer = slots_taken::<Vec<()>>();
    outer.push(async {
        support::yield_times(1).await;
        Ok(vec![])
    });
    let polls = Arc::new(AtomicUsize::new(0));
    let mut inner = ErrGroup::<(), ()>::new();
    inner.push(support::CountsPolls(Arc::clone(&polls)));
    outer.push(inner);
    assert_eq!(polls_per_pass(&mut outer, &polls, 4), [1; 4]);
}

/// Keeps a clone of its waker in `mine` and counts its polls; on every poll but its first it
/// wakes the waker in `other` (if any).
struct Neighbour {
    polls: Arc<AtomicUsize>,
    mine: Arc<Mutex<Option<Waker>>>,
    other: Option<Arc<Mutex<Option<Waker>>>>,
}

impl Future for Neighbour {
    type Output = Result<(), ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polls = self.polls.fetch_add(1, SeqCst) + 1;
        *self.mine.lock().unwrap() = Some(cx.waker().clone());
        if polls > 1 {
            if let Some(other) = &self.other {
                other.lock().unwrap().as_ref().unwrap().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

/// Regression: two waiting tasks, both woken; in the pass that polls them, the first polled wakes the
/// second before the second's poll. The second was polled in that pass and then *again* in the
/// next pass, with no wake-up since its previous poll (a `FuturesUnordered` absorbs a wake-up
/// that arrives while the task is already queued, and polls it once). Its bit is now cleared just before its poll. On one thread: this is not
/// the tolerated race of a stale waker with a slot's reuse.
#[test]
fn regression_a_wake_up_before_the_tasks_poll_in_the_same_pass_costs_no_second_poll() {
    fn scenario(poll_group: &mut dyn FnMut(), push: &mut dyn FnMut(Neighbour)) -> usize {
        let (first_polls, second_polls) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (first_waker, second_waker) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        push(Neighbour {
            polls: Arc::clone(&first_polls),
            mine: Arc::clone(&first_waker),
            other: Some(Arc::clone(&second_waker)),
        });
        push(Neighbour {
            polls: Arc::clone(&second_polls),
            mine: Arc::clone(&second_waker),
            other: None,
        });
        poll_group(); // both start, and wait
        first_waker.lock().unwrap().as_ref().unwrap().wake_by_ref();
        second_waker.lock().unwrap().as_ref().unwrap().wake_by_ref();
        poll_group(); // both polled once; the first wakes the second before its poll
        poll_group(); // nothing woke since
        poll_group();
        assert_eq!(first_polls.load(SeqCst), 2);
        second_polls.load(SeqCst)
    }

    let mut unordered = futures::stream::FuturesUnordered::new();
    let unordered_polls = {
        let set = std::cell::RefCell::new(&mut unordered);
        scenario(
            &mut || {
                use futures::StreamExt;
                let _ = set.borrow_mut().poll_next_unpin(&mut support::noop_cx());
            },
            &mut |task| set.borrow_mut().push(task),
        )
    };
    assert_eq!(
        unordered_polls, 2,
        "FuturesUnordered: start, then one poll for the wake-ups"
    );

    let group = std::cell::RefCell::new(ErrGroup::<(), ()>::new());
    let group_polls = scenario(
        &mut || assert!(poll_once(&mut *group.borrow_mut()).is_pending()),
        &mut |task| group.borrow_mut().push(task),
    );
    assert_eq!(
        group_polls, 2,
        "the group polled the second task without a wake-up"
    );
}
