//! `CancelToken::cause` (Go's `context.Cause`): `None` while the group runs, then the first of
//! `Failed` (also through `try_next`), `Panicked` (with and without `catch_panics`), `Finished`
//! and `Dropped`, never changing afterwards; a token taken after the end reads the group's cause;
//! whoever sees the token fire (a waiter on another thread, a sibling's destructor) reads it.

mod support;

use std::future::{pending, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use errgroup::{CancelToken, Cause, ErrGroup, LocalErrGroup};
use futures::executor::block_on;
use static_assertions::assert_impl_all;

use support::{poll_once, Gate};

assert_impl_all!(Cause: Copy, Clone, Eq, std::hash::Hash, std::fmt::Debug, Send, Sync, Unpin);

/// Records the token's cause at the moment it is dropped: put one inside a task to see what its
/// destructor sees.
struct CauseAtDrop {
    token: CancelToken,
    seen: Arc<Mutex<Vec<Option<Cause>>>>,
}

impl Drop for CauseAtDrop {
    fn drop(&mut self) {
        self.seen.lock().unwrap().push(self.token.cause());
    }
}

/// A task that never finishes and records the cause its destructor sees.
fn watcher<T, E>(
    token: CancelToken,
    seen: &Arc<Mutex<Vec<Option<Cause>>>>,
) -> impl Future<Output = Result<T, E>> + Send + 'static {
    let guard = CauseAtDrop {
        token,
        seen: Arc::clone(seen),
    };
    async move {
        let _guard = guard;
        pending().await
    }
}

#[test]
fn none_while_the_group_runs_and_after_try_next_runs_out_of_tasks() {
    let mut group = ErrGroup::<u32, String>::new();
    let token = group.token();
    assert_eq!(token.cause(), None, "a new group");
    let gate = Gate::new();
    let wait = gate.wait();
    group.push(async move {
        wait.await;
        Ok(1)
    });
    assert!(poll_once(&mut group.try_next()).is_pending());
    assert_eq!(token.cause(), None, "a running group");
    gate.open();
    assert_eq!(block_on(group.try_next()), Ok(Some(1)));
    assert_eq!(block_on(group.try_next()), Ok(None));
    assert_eq!(token.cause(), None, "`Ok(None)` does not end the group");
    assert!(!token.is_cancelled());
}

#[test]
fn failed_when_the_group_future_returns_an_error() {
    // Below and above the 16 tasks that run as a list.
    for siblings in [2, 40] {
        let mut group = ErrGroup::<u32, String>::new();
        let token = group.token();
        let seen = Arc::default();
        for _ in 0..siblings {
            group.push(watcher(token.clone(), &seen));
        }
        group.push(async { Err("inventory: 503".to_string()) });
        assert_eq!(block_on(group), Err("inventory: 503".into()));
        assert_eq!(token.cause(), Some(Cause::Failed));
        // Every sibling's destructor ran after the cause was set.
        assert_eq!(*seen.lock().unwrap(), vec![Some(Cause::Failed); siblings]);
    }
}

#[test]
fn failed_when_try_next_returns_the_error() {
    let mut group = ErrGroup::<u32, &str>::new();
    let token = group.token();
    group.push(async { Ok(1) });
    group.push(async { Err("boom") });
    let mut results = vec![];
    let error = block_on(async {
        loop {
            match group.try_next().await {
                Ok(Some(v)) => results.push(v),
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    });
    assert_eq!(error, Some("boom"));
    assert_eq!(token.cause(), Some(Cause::Failed));
}

#[test]
fn panicked_when_a_panic_unwinds_out_of_the_group() {
    support::quiet_provoked_panics();
    for siblings in [1, 40] {
        let mut group = ErrGroup::<(), String>::new();
        let token = group.token();
        let seen = Arc::default();
        for _ in 0..siblings {
            group.push(watcher(token.clone(), &seen));
        }
        group.push(async { panic!("{}", support::PROVOKED) });
        let unwound = catch_unwind(AssertUnwindSafe(|| block_on(&mut group)));
        assert!(unwound.is_err(), "the panic reaches the caller");
        assert_eq!(token.cause(), Some(Cause::Panicked));
        assert_eq!(*seen.lock().unwrap(), vec![Some(Cause::Panicked); siblings]);
    }
}

#[cfg(feature = "std")]
#[test]
fn panicked_when_catch_panics_turns_the_panic_into_the_error() {
    use errgroup::Panicked;
    support::quiet_provoked_panics();
    for siblings in [1, 40] {
        let mut group = ErrGroup::<(), Panicked>::new().catch_panics();
        let token = group.token();
        let seen = Arc::default();
        for _ in 0..siblings {
            group.push(watcher(token.clone(), &seen));
        }
        group.push(async { panic!("{}", support::PROVOKED) });
        let error = block_on(&mut group).unwrap_err();
        assert_eq!(error.message(), support::PROVOKED);
        assert_eq!(
            token.cause(),
            Some(Cause::Panicked),
            "a caught panic is still a panic, not a task's error"
        );
        assert_eq!(*seen.lock().unwrap(), vec![Some(Cause::Panicked); siblings]);
    }
}

#[test]
fn finished_when_the_group_future_returns_ok() {
    let mut group = ErrGroup::<u32, ()>::new();
    let token = group.token();
    group.push(async { Ok(1) });
    assert_eq!(block_on(&mut group), Ok(vec![1]));
    assert_eq!(token.cause(), Some(Cause::Finished));

    let empty = ErrGroup::<u32, ()>::new();
    let token = empty.token();
    assert_eq!(block_on(empty), Ok(vec![]));
    assert_eq!(
        token.cause(),
        Some(Cause::Finished),
        "an empty group awaited"
    );
}

#[test]
fn dropped_when_the_group_is_dropped_before_it_ends() {
    let mut group = ErrGroup::<u32, String>::new();
    let token = group.token();
    let seen = Arc::default();
    group.push(watcher(token.clone(), &seen));
    assert!(poll_once(&mut group.try_next()).is_pending());
    drop(group);
    assert_eq!(token.cause(), Some(Cause::Dropped));
    assert_eq!(*seen.lock().unwrap(), [Some(Cause::Dropped)]);

    let never_polled = ErrGroup::<u32, String>::new();
    let token = never_polled.token();
    drop(never_polled);
    assert_eq!(token.cause(), Some(Cause::Dropped));
}

#[test]
fn the_first_cause_never_changes() {
    support::quiet_provoked_panics();
    // Failed, then dropped.
    let mut group = ErrGroup::<u32, &str>::new();
    let token = group.token();
    group.push(async { Err("boom") });
    assert_eq!(block_on(group.try_next()), Err("boom"));
    drop(group);
    assert_eq!(token.cause(), Some(Cause::Failed));

    // Finished, then dropped.
    let mut group = ErrGroup::<u32, &str>::new();
    let token = group.token();
    assert_eq!(block_on(&mut group), Ok(vec![]));
    drop(group);
    assert_eq!(token.cause(), Some(Cause::Finished));

    // Panicked, then polled again (it panics, saying it failed), then dropped.
    let mut group = LocalErrGroup::<u32, &str>::new();
    let token = group.token();
    group.push(async { panic!("{}", support::PROVOKED) });
    assert!(catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).is_err());
    drop(group);
    assert_eq!(token.cause(), Some(Cause::Panicked));
}

#[test]
fn a_token_taken_after_the_end_reads_the_groups_cause() {
    support::quiet_provoked_panics();
    let mut finished = ErrGroup::<(), ()>::new();
    assert_eq!(block_on(&mut finished), Ok(vec![]));
    assert_eq!(finished.token().cause(), Some(Cause::Finished));

    let mut failed = ErrGroup::<(), ()>::new();
    failed.push(async { Err(()) });
    assert_eq!(block_on(failed.try_next()), Err(()));
    assert_eq!(failed.token().cause(), Some(Cause::Failed));

    let mut panicked = LocalErrGroup::<(), ()>::new();
    panicked.push(async { panic!("{}", support::PROVOKED) });
    assert!(catch_unwind(AssertUnwindSafe(|| block_on(panicked.try_next()))).is_err());
    assert_eq!(panicked.token().cause(), Some(Cause::Panicked));
}

#[test]
fn local_groups_report_every_cause() {
    let mut group = LocalErrGroup::<(), &str>::new();
    let token = group.token();
    group.push(async { Err("x") });
    assert_eq!(block_on(group), Err("x"));
    assert_eq!(token.cause(), Some(Cause::Failed));

    let group = LocalErrGroup::<(), &str>::new();
    let token = group.token();
    assert_eq!(block_on(group), Ok(vec![]));
    assert_eq!(token.cause(), Some(Cause::Finished));

    let group = LocalErrGroup::<(), &str>::new();
    let token = group.token();
    drop(group);
    assert_eq!(token.cause(), Some(Cause::Dropped));
}

/// A small deterministic generator (xorshift64): the causes come in a scrambled order that is
/// the same on every run.
struct Scramble(u64);

impl Scramble {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Ends `group` with `cause`; the group has one task that waits for `gate`.
fn end_with(mut group: ErrGroup<'static, (), String>, cause: Cause, gate: &Gate) {
    match cause {
        Cause::Failed => {
            let wait = gate.wait();
            group.push(async move {
                wait.await;
                Err("failed".into())
            });
            gate.open();
            assert!(block_on(group).is_err());
        }
        Cause::Panicked => {
            group.push(async { panic!("{}", support::PROVOKED) });
            assert!(catch_unwind(AssertUnwindSafe(|| block_on(&mut group))).is_err());
        }
        Cause::Finished => {
            gate.open();
            assert_eq!(block_on(group), Ok(vec![()]));
        }
        _ => drop(group),
    }
}

/// Regression guard for the ordering argument in `token.rs`: a thread that has just seen the
/// token fire, by `cancelled().await` returning or by `is_cancelled()`, reads the cause at once.
#[test]
fn a_thread_that_sees_the_token_fire_reads_the_cause() {
    support::quiet_provoked_panics();
    let rounds = if cfg!(miri) { 20 } else { 3_000 };
    let causes = [
        Cause::Failed,
        Cause::Panicked,
        Cause::Finished,
        Cause::Dropped,
    ];
    let mut scramble = Scramble(0x9e37_79b9_7f4a_7c15);
    for round in 0..rounds {
        let cause = causes[scramble.next(4) as usize];
        let by_future = round % 2 == 0;
        let mut group = ErrGroup::<(), String>::new();
        let token = group.token();
        let gate = Gate::new();
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Ok(())
        });
        let (ready_tx, ready_rx) = mpsc::channel();
        let waiter = thread::spawn(move || {
            ready_tx.send(()).unwrap();
            if by_future {
                block_on(token.cancelled());
            } else {
                while !token.is_cancelled() {
                    std::hint::spin_loop();
                    thread::yield_now();
                }
            }
            token.cause()
        });
        ready_rx.recv().unwrap();
        end_with(group, cause, &gate);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || tx.send(waiter.join()));
        let seen = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the waiter was never woken")
            .unwrap();
        assert_eq!(seen, Some(cause), "round {round}, by_future = {by_future}");
    }
}

#[test]
fn a_task_sees_no_cause_while_it_runs() {
    let mut group = ErrGroup::<(), ()>::new();
    let token = group.token();
    let saw_none = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&saw_none);
    group.push(async move {
        flag.store(token.cause().is_none(), SeqCst);
        Ok(())
    });
    assert_eq!(block_on(group), Ok(vec![()]));
    assert!(saw_none.load(SeqCst));
}

#[test]
fn cause_prints_what_happened() {
    assert_eq!(Cause::Failed.to_string(), "a task failed");
    assert_eq!(Cause::Panicked.to_string(), "a task panicked");
    assert_eq!(Cause::Finished.to_string(), "every task finished");
    assert_eq!(Cause::Dropped.to_string(), "the group was dropped");
    let group = ErrGroup::<(), ()>::new();
    let token = group.token();
    assert_eq!(format!("{token:?}"), "CancelToken { cause: None }");
    drop(group);
    assert_eq!(format!("{token:?}"), "CancelToken { cause: Some(Dropped) }");
}
