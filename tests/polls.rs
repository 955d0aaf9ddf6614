//! Polls follow wake-ups, exactly: in flat groups on both sides of the slab's size and in nested
//! groups, with one leaf woken at a time from outside, as sockets and channels wake real tasks,
//! every leaf is polled once when it starts and then once per wake-up it got
//! (`leaf polls <= leaves + wake-ups`, as `FuturesUnordered` does), and the groups in between
//! only when one of their own tasks woke. A stale waker of a finished task does not poll the
//! task that took its slot, and a task that keeps the waker of its first poll is woken through
//! it. `polled_only_once_at_most_per_iteration`, futures-rs' own test of `FuturesUnordered`,
//! holds for the group too.

mod probe;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use errgroup::ErrGroup;
use futures::future::BoxFuture;
use futures_test::task::new_count_waker;

use probe::poll_once;

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
        let gates: Vec<probe::Gate> = probe::Gate::many(siblings);
        let sibling_probe = probe::Probe::new();
        for (i, gate) in gates.iter().enumerate() {
            group.push(probe::gated(&sibling_probe, i, gate));
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
        gates.iter().for_each(probe::Gate::open);
        let rest = probe::run_by_hand(&mut group, 10).unwrap();
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
    let gates = probe::Gate::many(SLOTS);
    let probe = probe::Probe::new();
    for (i, gate) in gates.iter().enumerate() {
        group.push(probe::gated(&probe, i, gate));
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
    gates.iter().for_each(probe::Gate::open);
    let values = probe::run_by_hand(&mut group, 10).unwrap();
    assert_eq!(values.len(), SLOTS + 1);
}
