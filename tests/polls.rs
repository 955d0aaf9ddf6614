//! Polls follow wake-ups: in flat groups on both sides of the slab's 32 slots and in nested
//! groups (15 × 15, 6 × 6 × 6), with one leaf woken at a time from outside, as sockets and
//! channels wake real tasks, every leaf is polled at most twice per wake-up it got plus its first
//! poll (`leaf polls <= 2 × (leaves + wake-ups)`), and the groups in between only when one of
//! their own tasks woke. A stale waker of a finished task does not poll the task that took its
//! slot.

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
        polls <= 2 * (count + wakes),
        "{shape:?}: {polls} leaf polls for {count} leaves and {wakes} wake-ups"
    );
}

#[test]
fn flat_groups_poll_a_leaf_only_when_it_woke() {
    let rounds = if cfg!(miri) { 2 } else { 5 };
    for width in [1, 5, 31, 32, 33, 100] {
        if cfg!(miri) && width > 33 {
            continue;
        }
        check_shape(&[width], rounds);
    }
}

#[test]
fn nested_groups_poll_a_leaf_only_when_it_woke() {
    let rounds = if cfg!(miri) { 1 } else { 3 };
    check_shape(&[15, 15], rounds);
    check_shape(&[6, 6, 6], rounds);
}

/// A task leaves its own waker with someone else and completes; the next task in its slot is
/// not polled when that stale waker fires.
#[test]
fn a_stale_waker_does_not_poll_the_task_that_took_its_slot() {
    let stale: Arc<Mutex<Option<Waker>>> = Arc::default();
    let polls = Arc::new(AtomicUsize::new(0));
    let leaves = Arc::new(Leaves::default());
    let mut group = ErrGroup::<usize, String>::new();
    // A sibling waiting on the group waker, so that the first task gets a waker of its own.
    group.push(leaves.leaf(1));
    let (keep, counted) = (Arc::clone(&stale), Arc::clone(&polls));
    let mut step = 0;
    group.push(std::future::poll_fn(move |cx| {
        counted.fetch_add(1, SeqCst);
        step += 1;
        match step {
            // First poll: registers nothing, so the group gives it its own waker next time.
            1 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            // Under its own waker: hand that waker out, then finish on the next poll.
            2 => {
                *keep.lock().unwrap() = Some(cx.waker().clone());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            _ => Poll::Ready(Ok(99)),
        }
    }));
    let mut results = vec![];
    while results.is_empty() {
        if let Poll::Ready(next) = poll_once(&mut group.try_next()) {
            results.extend(next.unwrap());
        }
    }
    assert_eq!(results, [99]);
    // A new task takes the free slot; it waits under the group waker, is woken, and gets the
    // slot's waker of its own on its second poll.
    let later = Arc::new(AtomicUsize::new(0));
    let its_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (seen, store) = (Arc::clone(&later), Arc::clone(&its_waker));
    group.push(std::future::poll_fn(move |cx| {
        seen.fetch_add(1, SeqCst);
        *store.lock().unwrap() = Some(cx.waker().clone());
        Poll::<Result<usize, String>>::Pending
    }));
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(later.load(SeqCst), 1);
    its_waker.lock().unwrap().take().unwrap().wake();
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        later.load(SeqCst),
        2,
        "woken, it is polled, now with its own waker"
    );
    // The finished task's waker fires: nothing is polled.
    stale.lock().unwrap().take().unwrap().wake();
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(
        later.load(SeqCst),
        2,
        "the stale waker polled the slot's new task"
    );
    // Its own waker still works.
    its_waker.lock().unwrap().take().unwrap().wake();
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(later.load(SeqCst), 3);
}

/// With every slot taken by a task waiting under its own waker, a new task `X` goes to the
/// `FuturesUnordered` still holding the shared waker; the task `Y` polled after it wakes `X`
/// through that waker. `Y` did not wake itself, so it must not be taken for a yield: it gets its
/// one extra poll, and no second one.
#[test]
fn waking_a_task_that_just_joined_the_set_is_not_taken_for_a_yield() {
    use probe::Gate;
    let mut group = ErrGroup::<usize, String>::new();
    let (first, slab) = (Gate::new(), Gate::many(32));
    // Fill the slab: 32 tasks waiting under the shared waker, then all given their own waker
    // by one wake-up of it (the first gate), and waiting again.
    for (i, gate) in slab.iter().enumerate() {
        let (first, gate) = (first.wait(), gate.wait());
        group.push(async move {
            if i == 0 {
                first.await;
            }
            gate.await;
            Ok(i)
        });
    }
    let (waker, wakes) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let mut poll = |group: &mut ErrGroup<usize, String>| {
        assert!(Pin::new(&mut group.try_next()).poll(&mut cx).is_pending());
    };
    poll(&mut group);
    first.open();
    poll(&mut group);
    // X waits for its gate; Y opens it, then waits for a gate nobody opens.
    let (x_gate, y_gate) = (Gate::new(), Gate::new());
    let x_wait = x_gate.wait();
    group.push(async move {
        x_wait.await;
        Ok(100)
    });
    let y_polls = Arc::new(AtomicUsize::new(0));
    let (counted, y_wait) = (Arc::clone(&y_polls), y_gate.wait());
    let mut y_wait = Box::pin(y_wait);
    group.push(std::future::poll_fn(move |cx| {
        if counted.fetch_add(1, SeqCst) == 0 {
            x_gate.open();
        }
        y_wait.as_mut().poll(cx).map(|()| Ok(101))
    }));
    // Poll while woken (and a few times more), collecting X's result.
    let mut results = vec![];
    let mut seen = wakes.get();
    for round in 0..20 {
        if round > 2 && wakes.get() == seen {
            break;
        }
        seen = wakes.get();
        match Pin::new(&mut group.try_next()).poll(&mut cx) {
            Poll::Ready(next) => results.extend(next.unwrap()),
            Poll::Pending => {}
        }
    }
    assert_eq!(results, [100], "X completes once Y opened its gate");
    assert!(
        y_polls.load(SeqCst) <= 2,
        "Y was polled {} times without a wake-up after its first poll",
        y_polls.load(SeqCst) - 1
    );
}
