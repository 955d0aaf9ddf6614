//! One set of scenarios, written once in `scenarios!`, run on every executor the crate promises
//! to work on: futures' `block_on`, `LocalPool` (with `LocalErrGroup` and `Rc`-sharing tasks) and
//! `ThreadPool` (the group spawned on the pool), tokio current-thread (tokio timers), tokio
//! multi-thread (the group itself spawned, tasks woken from other threads) and smol (smol timers).
//! The scenarios cover awaiting the group, `try_next`, the limit, handles and `run_until`; on
//! the executors whose groups are `Send`, `handle_fed!` runs every documented loop form fed only
//! through a `Handle` from another thread.
//!
//! Each executor module provides:
//! - `Group<'a, T, E>`: `ErrGroup`, or `LocalErrGroup` where tasks are not `Send`;
//! - `Shared<T>`: `Arc`, or `Rc` for the local executor;
//! - `later(ms)`: a future that completes a little later, woken by what that executor offers (its
//!   timer, another task, another thread); futures' executors have no timer and ignore `ms`;
//! - `run(fut)`: runs a scenario to completion and returns its output.

mod support;

use std::future::{pending, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use errgroup::{ErrGroup, LocalErrGroup};

use support::{track, yield_times, Gate, Probe};

/// A future completed by a new thread: the wakeup comes from outside the executor.
fn woken_by_a_thread() -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || tx.send(()));
    async move {
        rx.await.expect("the waking thread sends");
    }
}

/// The scenarios. Item names (`Group`, `Shared`, `later`, `run`) resolve in the invoking module.
macro_rules! scenarios {
    () => {
        use super::*;

        /// Fan out, every task waits for a wakeup from the executor, all results in push order.
        #[test]
        fn fan_out_returns_every_result_in_push_order() {
            let n = if cfg!(miri) { 8 } else { 50 };
            let values = run(async move {
                let mut group = Group::<usize, String>::new();
                for i in 0..n {
                    group.push(async move {
                        later(1 + (n - i) as u64 % 4).await;
                        Ok(i * 2)
                    });
                }
                group.await
            });
            assert_eq!(values, Ok((0..n).map(|i| i * 2).collect::<Vec<_>>()));
        }

        /// The first error returns while the siblings are pending; they are dropped by then.
        #[test]
        fn first_error_returns_and_pending_siblings_are_dropped() {
            let n = if cfg!(miri) { 8 } else { 50 };
            let (dropped, cancelled, result) = run(async move {
                let probe = Shared::new(Probe::default());
                let never = Gate::new();
                let mut group = Group::<usize, String>::new();
                for i in 0..n {
                    let wait = never.wait();
                    group.push(track(probe.clone(), i, async move {
                        later(1).await;
                        if i % 2 == 0 {
                            wait.await;
                        } else {
                            pending::<()>().await;
                        }
                        Ok(i)
                    }));
                }
                group.push(async {
                    later(2).await;
                    Err("task failed".to_string())
                });
                let token = group.token();
                let result = (&mut group).await;
                (probe.dropped(), token.is_cancelled(), result)
            });
            assert_eq!(result, Err("task failed".to_string()));
            assert_eq!(dropped, n, "siblings dropped before the group returned");
            assert!(cancelled);
        }

        /// A limit of 3 over 30 tasks: never more than 3 running, FIFO starts, all of them run.
        #[test]
        fn limit_is_respected() {
            let n = if cfg!(miri) { 8 } else { 30 };
            let (probe, values) = run(async move {
                let probe = Shared::new(Probe::default());
                let mut group = Group::<usize, String>::with_limit(3);
                for i in 0..n {
                    group.push(track(probe.clone(), i, async move {
                        later(1 + i as u64 % 3).await;
                        yield_times(1).await;
                        Ok(i)
                    }));
                }
                let values = group.await;
                (probe, values)
            });
            assert_eq!(values, Ok((0..n).collect::<Vec<_>>()));
            assert_eq!(probe.max_active(), 3);
            assert_eq!(probe.completed(), n);
            assert_eq!(probe.start_order(), (0..n).collect::<Vec<_>>());
        }

        /// A crawler: each result may push more work; `Ok(None)` ends a round, the group is
        /// reused for the next one, and finally resolves to nothing left.
        #[test]
        fn try_next_loop_crawls_and_reuses_the_group() {
            let rounds = run(async move {
                let mut group = Group::<u32, String>::with_limit(4);
                let mut rounds = Vec::new();
                for _ in 0..2 {
                    group.push(async {
                        later(1).await;
                        Ok(0)
                    });
                    let mut seen = 0;
                    while let Some(depth) = group.try_next().await? {
                        seen += 1;
                        if depth < 3 {
                            for _ in 0..2 {
                                group.push(async move {
                                    later(1 + depth as u64).await;
                                    Ok(depth + 1)
                                });
                            }
                        }
                    }
                    rounds.push(seen);
                }
                assert_eq!(group.await?, Vec::<u32>::new());
                Ok::<_, String>(rounds)
            });
            assert_eq!(rounds, Ok(vec![15, 15]));
        }

        /// A task pushes more tasks through a handle (one of them pushes again); they run in the
        /// same group and their results follow in arrival order.
        #[test]
        fn handle_pushes_from_inside_a_task() {
            let values = run(async move {
                let mut group = Group::<u32, String>::new();
                let handle = group.handle();
                group.push(async move {
                    later(1).await;
                    for k in 1..=3 {
                        let again = handle.clone();
                        handle
                            .push(async move {
                                later(k).await;
                                if k == 3 {
                                    again
                                        .push(async {
                                            later(1).await;
                                            Ok(100)
                                        })
                                        .map_err(|e| e.to_string())?;
                                }
                                Ok(10 + k as u32)
                            })
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(0)
                });
                group.await
            });
            assert_eq!(values, Ok(vec![0, 11, 12, 13, 100]));
        }

        /// `run_until`: the tasks finish while the caller's own future waits on the executor's
        /// wakeups; their results are kept, and `try_next` then the group future hand them out.
        #[test]
        fn run_until_drives_the_tasks_while_the_callers_future_runs() {
            let n = if cfg!(miri) { 6 } else { 30 };
            let (seen, first, rest) = run(async move {
                let finished = Shared::new(AtomicUsize::new(0));
                let mut group = Group::<usize, String>::new();
                for i in 0..n {
                    let finished = finished.clone();
                    group.push(async move {
                        later(1 + i as u64 % 3).await;
                        finished.fetch_add(1, SeqCst);
                        Ok(i)
                    });
                }
                // The caller's work: it waits (a bounded number of times) until every task is
                // done, which only happens if the group runs meanwhile.
                let seen = group
                    .run_until(async {
                        for _ in 0..1_000 {
                            if finished.load(SeqCst) == n {
                                break;
                            }
                            later(1).await;
                        }
                        finished.load(SeqCst)
                    })
                    .await?;
                let first = group.try_next().await?;
                let rest = group.await?;
                Ok::<_, String>((seen, first, rest))
            })
            .unwrap();
            assert_eq!(seen, n);
            let mut all: Vec<usize> = first.into_iter().chain(rest.iter().copied()).collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            assert!(rest.windows(2).all(|w| w[0] < w[1]), "push order: {rest:?}");
        }

        /// `run_until` with a producer that pushes through a handle and waits for each job to
        /// have run before the next: the jobs run while it produces, then the group future
        /// returns them in arrival order.
        #[test]
        fn run_until_a_producer_pushes_through_a_handle() {
            let jobs = if cfg!(miri) { 4 } else { 12 };
            let values = run(async move {
                let mut group = Group::<u32, String>::new();
                let handle = group.handle();
                let ran = Shared::new(AtomicUsize::new(0));
                let counter = ran.clone();
                let ran_while_producing = group
                    .run_until(async move {
                        for job in 0..jobs {
                            let job_counter = counter.clone();
                            handle
                                .push(async move {
                                    later(1).await;
                                    job_counter.fetch_add(1, SeqCst);
                                    Ok(job)
                                })
                                .map_err(|e| e.to_string())?;
                            // The next job only once this one has run (a bounded wait).
                            for _ in 0..1_000 {
                                if counter.load(SeqCst) > job as usize {
                                    break;
                                }
                                later(1).await;
                            }
                        }
                        Ok::<_, String>(counter.load(SeqCst))
                    })
                    .await??;
                assert_eq!(
                    ran_while_producing, jobs as usize,
                    "the jobs ran while produced"
                );
                let values = group.await?;
                assert_eq!(ran.load(SeqCst), jobs as usize);
                Ok::<_, String>(values)
            });
            assert_eq!(values, Ok((0..jobs).collect::<Vec<_>>()));
        }
    };
}

/// How a loop waits on a group that only a `Handle` on another thread feeds.
#[derive(Clone, Copy, Debug)]
enum Loop {
    /// `.await` on the group, kept open by a task that ends with the shutdown.
    Await,
    /// `group.run_until(shutdown)`.
    RunUntil,
    /// `futures::select!` over `group.try_next()` and the shutdown.
    SelectTryNext,
    /// `futures::select!` over `group.stream()` and the shutdown.
    SelectStream,
}

/// Every loop form, fed only through a `Handle` from another thread (`JOBS` jobs, one every few
/// milliseconds), on a group never polled before the first push and on one that was: every job
/// runs, and the shutdown, which fires once every job ran (or after two seconds), ends the loop.
/// A push that did not wake the loop would leave its job to wait for the shutdown, and the count
/// short.
macro_rules! handle_fed {
    () => {
        #[test]
        fn every_loop_sees_every_handle_push() {
            for form in [
                Loop::Await,
                Loop::RunUntil,
                Loop::SelectTryNext,
                Loop::SelectStream,
            ] {
                for polled_before in [false, true] {
                    handle_fed(form, polled_before);
                }
            }
        }

        fn handle_fed(form: Loop, polled_before: bool) {
            use futures::{FutureExt, StreamExt};
            const JOBS: usize = if cfg!(miri) { 2 } else { 5 };
            let case = format!("{form:?}, polled before: {polled_before}");
            let ran = Arc::new(AtomicUsize::new(0));
            let job = {
                let ran = Arc::clone(&ran);
                move |id: usize| {
                    let ran = Arc::clone(&ran);
                    async move {
                        later(1).await;
                        ran.fetch_add(1, SeqCst);
                        Ok::<_, String>(id)
                    }
                }
            };
            let (stop, shutdown) = futures::channel::oneshot::channel::<()>();
            let seen = Arc::clone(&ran);
            let done = run(async move {
                let mut group = Group::<usize, String>::new();
                let handle = group.handle();
                if polled_before {
                    group.push(async { Ok(usize::MAX) });
                    assert_eq!(group.try_next().await, Ok(Some(usize::MAX)));
                } else {
                    // The first push lands on a group nobody has polled yet.
                    handle.push(job(0)).unwrap();
                }
                let first = usize::from(!polled_before);
                let pusher = std::thread::spawn(move || {
                    for id in first..JOBS {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        handle.push(job(id)).unwrap();
                    }
                    // The shutdown waits for the jobs (for a while: a loop that missed a push
                    // never runs it), so that it is not decided by how fast the executor is
                    // (Miri's clock runs far ahead of its threads).
                    for _ in 0..2_000 {
                        if seen.load(SeqCst) == JOBS {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let _ = stop.send(());
                });
                let mut shutdown = shutdown.fuse();
                let mut done = 0;
                match form {
                    Loop::Await => {
                        group.push(async move {
                            let _ = (&mut shutdown).await;
                            Ok(usize::MAX)
                        });
                        done = group.await?.len() - 1;
                    }
                    Loop::RunUntil => {
                        group.run_until(&mut shutdown).await?.ok();
                        while group.try_next().await?.is_some() {
                            done += 1;
                        }
                    }
                    Loop::SelectTryNext => loop {
                        futures::select! {
                            next = group.try_next() => if next?.is_some() {
                                done += 1;
                            },
                            _ = shutdown => break,
                        }
                    },
                    Loop::SelectStream => {
                        let mut results = group.stream();
                        loop {
                            futures::select! {
                                result = results.select_next_some() => {
                                    result?;
                                    done += 1;
                                }
                                _ = shutdown => break,
                            }
                        }
                    }
                }
                pusher.join().unwrap();
                Ok::<_, String>(done)
            });
            assert_eq!(done, Ok(JOBS), "{case}: every job's result");
            assert_eq!(ran.load(SeqCst), JOBS, "{case}: every job ran");
        }
    };
}

/// futures' `block_on` on the test thread; wakeups from other threads.
mod block_on {
    type Group<'a, T, E> = ErrGroup<'a, T, E>;
    type Shared<T> = Arc<T>;

    fn run<F: Future>(fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }

    fn later(_ms: u64) -> impl Future<Output = ()> + Send + 'static {
        woken_by_a_thread()
    }

    scenarios!();
    handle_fed!();
}

/// futures' `LocalPool` with `LocalErrGroup`: tasks share their probe through `Rc`, and each
/// wakeup comes from another task spawned on the same pool.
mod local_pool {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures::executor::{LocalPool, LocalSpawner};
    use futures::task::LocalSpawnExt;

    type Group<'a, T, E> = LocalErrGroup<'a, T, E>;
    type Shared<T> = Rc<T>;

    thread_local! {
        static SPAWNER: RefCell<Option<LocalSpawner>> = const { RefCell::new(None) };
    }

    fn run<F: Future>(fut: F) -> F::Output {
        let mut pool = LocalPool::new();
        SPAWNER.with(|s| *s.borrow_mut() = Some(pool.spawner()));
        pool.run_until(fut)
    }

    fn later(ms: u64) -> impl Future<Output = ()> + 'static {
        let (tx, rx) = futures::channel::oneshot::channel();
        let spawner = SPAWNER.with(|s| s.borrow().clone()).expect("inside `run`");
        spawner
            .spawn_local(async move {
                yield_times(ms as usize).await;
                let _ = tx.send(());
            })
            .expect("the pool is running");
        async move {
            rx.await.expect("the waking task sends");
        }
    }

    scenarios!();
}

/// futures' `ThreadPool`: the scenario, group included, is spawned on the pool and its output
/// comes back through a oneshot channel.
mod thread_pool {
    use futures::executor::ThreadPool;

    type Group<'a, T, E> = ErrGroup<'a, T, E>;
    type Shared<T> = Arc<T>;

    fn run<F>(fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let pool = ThreadPool::builder().pool_size(2).create().unwrap();
        let (tx, rx) = futures::channel::oneshot::channel();
        pool.spawn_ok(async move {
            let _ = tx.send(fut.await);
        });
        futures::executor::block_on(rx).expect("the scenario panicked on the pool")
    }

    fn later(_ms: u64) -> impl Future<Output = ()> + Send + 'static {
        woken_by_a_thread()
    }

    scenarios!();
    handle_fed!();
}

/// tokio's current-thread runtime; tasks wait on tokio timers.
mod tokio_current_thread {
    use std::time::Duration;

    type Group<'a, T, E> = ErrGroup<'a, T, E>;
    type Shared<T> = Arc<T>;

    fn run<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(fut)
    }

    fn later(ms: u64) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(Duration::from_millis(ms))
    }

    scenarios!();
    handle_fed!();
}

/// tokio's multi-thread runtime: the group itself is `tokio::spawn`-ed, and tasks wait on tokio
/// oneshots completed by other tokio tasks or by plain threads.
mod tokio_multi_thread {

    type Group<'a, T, E> = ErrGroup<'a, T, E>;
    type Shared<T> = Arc<T>;

    fn run<F>(fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async move {
            match tokio::spawn(fut).await {
                Ok(out) => out,
                Err(err) => std::panic::resume_unwind(err.into_panic()),
            }
        })
    }

    fn later(ms: u64) -> impl Future<Output = ()> + Send + 'static {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if NEXT.fetch_add(1, SeqCst) % 2 == 0 {
            tokio::spawn(async move {
                for _ in 0..ms {
                    tokio::task::yield_now().await;
                }
                let _ = tx.send(());
            });
        } else {
            std::thread::spawn(move || tx.send(()));
        }
        async move {
            rx.await.expect("the waking side sends");
        }
    }

    scenarios!();
    handle_fed!();
}

/// smol's `block_on`; tasks wait on smol timers. (Not under Miri: smol's reactor needs
/// `timerfd_create`, which Miri does not support.)
#[cfg(not(miri))]
mod smol_timers {
    use std::time::Duration;

    type Group<'a, T, E> = ErrGroup<'a, T, E>;
    type Shared<T> = Arc<T>;

    fn run<F: Future>(fut: F) -> F::Output {
        smol::block_on(fut)
    }

    fn later(ms: u64) -> impl Future<Output = ()> + Send + 'static {
        let timer = smol::Timer::after(Duration::from_millis(ms));
        async move {
            timer.await;
        }
    }

    scenarios!();
    handle_fed!();
}
