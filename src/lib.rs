//! Go's [`errgroup`] as a runtime-agnostic future: run a group of fallible tasks concurrently,
//! get every result or the **first error at once**, with every other task already stopped.
//!
//! ```
//! use errgroup::ErrGroup;
//!
//! async fn call(service: &str) -> Result<String, String> {
//!     if service == "inventory" {
//!         return Err(format!("{service}: 503"));
//!     }
//!     Ok(format!("{service}: ok"))
//! }
//!
//! # futures::executor::block_on(async {
//! let mut group = ErrGroup::new();
//! for service in ["users", "inventory", "pricing"] {
//!     group.push(call(service));
//! }
//! // The first error fails the request; the other calls are dropped before `await` returns.
//! assert_eq!(group.await, Err("inventory: 503".to_string()));
//! # });
//! ```
//!
//! In Go, one goroutine per downstream call is gathered by an `errgroup.Group`: `Wait` returns
//! the first error once every goroutine has finished, and the others stop early only if they
//! check the group's `context`. Here a call is a future, and dropping it stops it: an
//! [`ErrGroup`] is a [`Future`](core::future::Future) that polls its tasks in place, on
//! whatever executor awaits it, each one only after it woke, and returns the first error as soon
//! as it happens, every other task already dropped. It never spawns, so tasks may borrow the
//! caller's locals, and cancellation is guaranteed, not cooperative.
//!
//! | Go (`x/sync/errgroup`, kratos) | `errgroup` |
//! |---|---|
//! | `var g errgroup.Group` | [`ErrGroup::new()`] |
//! | `g.Go(f)` | [`group.push(fut)`](ErrGroup::push), [`errgroup![a, b, c]`](errgroup!) |
//! | the caller's own work while the goroutines run | [`group.run_until(work)`](ErrGroup::run_until) |
//! | `g.Wait()` | `group.await` (all results, in push order) |
//! | `g.SetLimit(n)`, kratos `GOMAXPROCS` | [`ErrGroup::with_limit`], [`ErrGroup::set_limit`] (`Some(n)`) |
//! | `g.TryGo(f)` | [`ErrGroup::try_push`] |
//! | `errgroup.WithContext(ctx)` | [`ErrGroup::token`] ([`CancelToken`]) |
//! | `context.WithTimeout`, `WithCancel` and `cancel()` | [`ErrGroup::cancel_on`], [`ErrGroup::cancel`] |
//! | `WithContext(parent)` | [`cancel_on`](ErrGroup::cancel_on) a parent's [`cancelled()`](CancelToken::cancelled) |
//! | `context.Cause(ctx)` | [`token.cause()`](CancelToken::cause) ([`Cause`]) |
//! | `g.Go` from inside a goroutine | [`ErrGroup::handle`] ([`Handle::push`]) |
//! | kratos' panic `recover` | [`ErrGroup::catch_panics`] ([`Panicked`]) |
//! | reading a results channel | [`ErrGroup::try_next`], [`ErrGroup::stream`] |
//!
//! Use [`LocalErrGroup`] when the tasks are not `Send`.
//!
//! **When not to use it.** For a fixed set of futures with no limit, `futures::try_join!` (a
//! typed tuple), `futures::future::try_join_all` or futures-concurrency's `try_join` do the job.
//! The group runs its tasks concurrently on one task, not in parallel: CPU-bound work belongs on
//! threads or on a runtime's spawned tasks, which the group can then wait for and stop
//! ([CPU work and parallelism](#cpu-work-and-parallelism)).
//!
//! # Fan-out
//!
//! Push one task per call (futures of any types, with one `Ok` and one `Err` type), then await
//! the group: every value in push order, or the first error. The other tasks, running or not yet
//! started, are dropped before `await` returns, so a drop guard in a task sees it.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use errgroup::ErrGroup;
//!
//! /// Sets its flag when the task holding it is dropped.
//! struct OnDrop<'a>(&'a AtomicBool);
//! impl Drop for OnDrop<'_> {
//!     fn drop(&mut self) { self.0.store(true, Ordering::SeqCst); }
//! }
//!
//! # futures::executor::block_on(async {
//! let slow_call_dropped = AtomicBool::new(false);
//! let mut group = ErrGroup::new();
//! group.push(async { Ok("user 7") });
//! group.push(async {
//!     let _guard = OnDrop(&slow_call_dropped); // tasks may borrow the caller's locals
//!     std::future::pending().await // a call that never answers
//! });
//! group.push(std::future::ready(Err("inventory: 503")));
//! assert_eq!(group.await, Err("inventory: 503"));
//! assert!(slow_call_dropped.load(Ordering::SeqCst)); // dropped before `await` returned
//! # });
//! ```
//!
//! `errgroup![a, b, c]` builds a group from a list, and `collect()` one from an iterator. Declare
//! what the tasks borrow before the group: the tasks live as long as the group does (E0597
//! otherwise, as with any collection of futures).
//!
//! # A concurrency limit
//!
//! [`ErrGroup::with_limit`] polls at most `n` tasks at once; the others wait, not started, and
//! start in push order as slots free up. [`ErrGroup::set_limit`] changes the limit at any time,
//! and [`ErrGroup::try_push`] (Go's `TryGo`) hands a task back when it cannot start now.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
//! use errgroup::ErrGroup;
//!
//! # async fn request() {
//! #     futures_lite::future::yield_now().await // once around the executor
//! # }
//! # futures::executor::block_on(async {
//! let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
//! let fetch = |page: u32| {
//!     let (running, most) = (&running, &most);
//!     async move {
//!         most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
//!         request().await; // stands for a call that takes a while
//!         running.fetch_sub(1, SeqCst);
//!         Ok::<_, String>(page)
//!     }
//! };
//! let mut group = ErrGroup::with_limit(3);
//! for page in 0..10 {
//!     group.push(fetch(page));
//! }
//! assert!(group.try_push(fetch(10)).unwrap_err().is_full()); // no free slot now
//! assert_eq!(group.await?, (0..10).collect::<Vec<_>>());
//! assert_eq!(most.load(SeqCst), 3);
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! # Deadlines and cancelling
//!
//! [`ErrGroup::cancel_on`] ends the group when a future of yours completes, with the error that
//! future returns: a deadline (any runtime's timer), a parent's cancellation, a shutdown. The
//! group ends as it does on a task's error, every task dropped, but its token says
//! [`Cause::Cancelled`], and the error is one of your own variants, not a task's. The future is
//! polled with the tasks, so the group ends itself on time even while a `select!` only borrows
//! it. [`ErrGroup::cancel`] ends the group at once, from the code that holds it.
//!
//! ```
//! use std::time::Duration;
//! use errgroup::{Cause, ErrGroup};
//!
//! #[derive(Debug, PartialEq)]
//! enum Error { DeadlineExceeded, Downstream(String) }
//!
//! async fn call(ms: u64) -> Result<u64, Error> {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     Ok(ms)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread()
//! #     .enable_time().start_paused(true).build().unwrap().block_on(async {
//! let mut group = ErrGroup::new();
//! group.push(call(10));
//! group.push(call(2_000)); // too slow: dropped at the deadline
//! group.cancel_on(async {
//!     tokio::time::sleep(Duration::from_millis(100)).await;
//!     Error::DeadlineExceeded
//! });
//! let token = group.token();
//! assert_eq!(group.await, Err(Error::DeadlineExceeded));
//! assert_eq!(token.cause(), Some(Cause::Cancelled)); // not `Failed`: no task failed
//! # });
//! ```
//!
//! The group brings no timer of its own, so any executor's will do. On smol:
//!
//! ```
//! # #[cfg(not(miri))] // smol's timer needs the OS's, which Miri does not emulate
//! # fn main() {
//! use std::time::Duration;
//! use errgroup::ErrGroup;
//! use smol::Timer;
//!
//! smol::block_on(async {
//!     let mut group = ErrGroup::new();
//!     group.push(async { Timer::after(Duration::from_secs(10)).await; Ok(()) });
//!     group.cancel_on(async { Timer::after(Duration::from_millis(10)).await; "deadline" });
//!     assert_eq!(group.await, Err("deadline"));
//! });
//! # }
//! # #[cfg(miri)]
//! # fn main() {}
//! ```
//!
//! **A deadline per call** belongs inside the task, its error flattened into the call's, so that
//! it fails the group like any other error. Pushing `tokio::time::timeout(d, call)` as it is
//! compiles too, but then the group's `T` is the call's `Result` and its `E` is the timeout's
//! `Elapsed`: a call's own error becomes a value, and no longer fails the group.
//!
//! ```
//! use std::time::Duration;
//! use errgroup::ErrGroup;
//!
//! #[derive(Debug, PartialEq)]
//! enum Error { Timeout(&'static str), Downstream(String) }
//!
//! async fn call(name: &'static str, ms: u64) -> Result<&'static str, Error> {
//!     tokio::time::sleep(Duration::from_millis(ms)).await;
//!     Ok(name)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread()
//! #     .enable_time().start_paused(true).build().unwrap().block_on(async {
//! let mut group = ErrGroup::new();
//! group.push(call("users", 10));
//! group.push(async {
//!     tokio::time::timeout(Duration::from_millis(50), call("pricing", 500))
//!         .await
//!         .map_err(|_elapsed| Error::Timeout("pricing"))? // the call's own error, or the timeout
//! });
//! assert_eq!(group.await, Err(Error::Timeout("pricing")));
//! # });
//! ```
//!
//! **`select!` only borrows.** A timer raced against `&mut group` in a `select!` leaves the
//! group's tasks alive when the timer wins (they are dropped only with the group): call
//! [`cancel`](ErrGroup::cancel) in that branch, or use `cancel_on`, which has no race to lose.
//!
//! **A parent's cancellation** (Go's `WithContext(parent)`): a group nested in another group's
//! task needs nothing, since it is dropped with its task. A group the parent cannot drop (in a
//! spawned task, say) ends with it through the parent's token. The token fires when the parent
//! ends for any reason, success included (as Go's context does); to end the child only when the
//! parent failed, look at the cause:
//!
//! ```
//! use errgroup::{Cause, ErrGroup};
//!
//! # #[derive(Debug, PartialEq)]
//! # enum Error { Cancelled, Downstream }
//! # futures::executor::block_on(async {
//! let mut parent = ErrGroup::<(), Error>::new();
//! let token = parent.token();
//! let mut child = ErrGroup::<(), Error>::new();
//! child.push(std::future::pending()); // a call the parent cannot drop
//! child.cancel_on(async move {
//!     token.cancelled().await;
//!     if token.cause() == Some(Cause::Finished) {
//!         std::future::pending::<()>().await; // the parent succeeded: leave the child be
//!     }
//!     Error::Cancelled
//! });
//! parent.push(async { Err(Error::Downstream) });
//! assert_eq!(parent.await, Err(Error::Downstream));
//! assert_eq!(child.await, Err(Error::Cancelled));
//! # });
//! ```
//!
//! **Why the stop future returns the error.** A panic becomes the group's error through
//! `E: From<Panicked>` because the group cannot know what a panic means to the caller. A stop,
//! the caller chose: a deadline is a 504, a shutdown is not, so it returns the error itself.
//!
//! # Results as they complete
//!
//! [`ErrGroup::try_next`] returns the next value in completion order, `Ok(None)` when no task is
//! left, or the first error. Between two calls, push new work: the group stays usable after
//! `Ok(None)` too. A crawler:
//!
//! ```
//! use std::collections::HashSet;
//! use errgroup::ErrGroup;
//!
//! /// Page `n` links to pages `2n` and `2n + 1`; there are 15 pages.
//! async fn links(n: u32) -> Result<Vec<u32>, String> {
//!     Ok([2 * n, 2 * n + 1].into_iter().filter(|&p| p < 16).collect())
//! }
//!
//! # futures::executor::block_on(async {
//! let mut group = ErrGroup::with_limit(4);
//! let mut seen = HashSet::from([1]);
//! group.push(links(1));
//! while let Some(found) = group.try_next().await? {
//!     for page in found {
//!         if seen.insert(page) {
//!             group.push(links(page)); // new work, from a result
//!         }
//!     }
//! }
//! assert_eq!(seen.len(), 15);
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! `try_next` is cancel safe, so it can sit in a `select!` loop beside other work.
//! [`ErrGroup::stream`] is the same sequence as a `Stream`, for `StreamExt` and `TryStreamExt`,
//! with one difference: while a [`Handle`] lives, the stream of an empty group waits for its
//! pushes (a channel's receiver waits for its senders), so drop the handles you hold before
//! collecting it. A handle pushes from inside the tasks themselves, or from other threads, and
//! wakes whoever waits on the group.
//!
//! `try_next` leaves the group open: after `Ok(None)`, push more or **await the group to finish
//! it**. `group.await` then returns what `try_next` did not take (nothing, after a full loop) and
//! fires the token with [`Cause::Finished`]; a group that is only dropped reports
//! [`Cause::Dropped`] to work that waits for its verdict.
//!
//! **A loop that must outlive a failed job** keeps the errors as values: with `E = Infallible`
//! and a `Result` for `T`, no job fails the group (a panicking job still would: catch it in the
//! job with `AssertUnwindSafe(job).catch_unwind()` to turn it into a value too). With
//! `futures::select!` (on any runtime), the group's branch sleeps while the group is empty and
//! wakes at the next push:
//!
//! ```
//! use std::convert::Infallible;
//! use errgroup::ErrGroup;
//! use futures::StreamExt;
//!
//! async fn run(job: u32) -> Result<u32, String> {
//!     if job == 2 { Err(format!("job {job} failed")) } else { Ok(job * 10) }
//! }
//!
//! # futures::executor::block_on(async {
//! let mut jobs = futures::stream::iter(1..=3).fuse();
//! let mut group = ErrGroup::<Result<u32, String>, Infallible>::new();
//! let mut log = Vec::new();
//! loop {
//!     futures::select! {
//!         job = jobs.next() => if let Some(job) = job {
//!             group.push(async move { Ok(run(job).await) });
//!         },
//!         done = group.try_next() => if let Ok(Some(result)) = done {
//!             log.push(result); // a failed job is logged; the loop goes on
//!         },
//!         complete => break, // no job left to take or to run
//!     }
//! }
//! log.sort();
//! assert_eq!(log, [Ok(10), Ok(30), Err("job 2 failed".to_string())]);
//! # });
//! ```
//!
//! # Work outside the group
//!
//! Dropping a task stops everything the task owns. Some work is out of the group's reach: a task
//! spawned on a runtime (dropping its `JoinHandle` does not stop it), a blocking thread, a child
//! process. Give that work a [`CancelToken`] from [`ErrGroup::token`] (Go's `ctx`): it fires
//! when the group fails, is dropped, or finishes.
//!
//! ```
//! use std::time::Duration;
//! use errgroup::ErrGroup;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap().block_on(async {
//! let mut group = ErrGroup::<(), String>::new();
//! let token = group.token();
//!
//! // A spawned task: `run_until_cancelled` drops its work when the token fires.
//! let indexer = tokio::spawn(token.run_until_cancelled(async {
//!     for _batch in 0.. {
//!         tokio::time::sleep(Duration::from_millis(5)).await;
//!     }
//! }));
//!
//! // A blocking thread: it checks the token between steps.
//! let thread_token = token.clone();
//! let converter = std::thread::spawn(move || {
//!     while !thread_token.is_cancelled() {
//!         std::thread::sleep(Duration::from_millis(5)); // one blocking step
//!     }
//! });
//!
//! group.push(async { Err("validation failed".to_string()) });
//! assert_eq!(group.await, Err("validation failed".to_string()));
//! assert_eq!(indexer.await.unwrap(), None); // stopped by the token
//! converter.join().unwrap(); // returns once the thread has seen the token
//! # });
//! ```
//!
//! The token also says *why* the group ended (Go's `context.Cause`): [`CancelToken::cause`] is
//! `None` while the group runs, then [`Cause::Finished`], [`Cause::Failed`],
//! [`Cause::Panicked`], [`Cause::Cancelled`] or [`Cause::Dropped`], whichever came first. Work
//! that must commit on success and roll back otherwise reads it after the token fired:
//!
//! ```
//! use errgroup::{Cause, ErrGroup};
//!
//! # futures::executor::block_on(async {
//! for fail in [false, true] {
//!     let mut group = ErrGroup::<(), &str>::new();
//!     let token = group.token();
//!     // A blocking writer outside the group: it stages its work, then waits for the verdict.
//!     let writer = std::thread::spawn(move || {
//!         futures::executor::block_on(token.cancelled());
//!         if token.cause() == Some(Cause::Finished) { "commit" } else { "roll back" }
//!     });
//!     group.push(async move { if fail { Err("inventory: 503") } else { Ok(()) } });
//!     let _ = group.await;
//!     assert_eq!(writer.join().unwrap(), if fail { "roll back" } else { "commit" });
//! }
//! # });
//! ```
//!
//! # Panics
//!
//! By default a panicking task unwinds out of the group's `poll` into the code awaiting it,
//! with its original payload, as if the task had been awaited directly; its siblings are
//! dropped and the token fires on the way. [`ErrGroup::catch_panics`] (kratos' `recover`) turns
//! the panic into the group's error instead, `E::from(Panicked)`, message kept.
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() {
//! use std::panic::{catch_unwind, AssertUnwindSafe};
//! use errgroup::{ErrGroup, Panicked};
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! // Default: the panic reaches the caller.
//! let mut group = ErrGroup::<(), Error>::new();
//! group.push(async { panic!("index out of bounds") });
//! let payload = catch_unwind(AssertUnwindSafe(|| futures::executor::block_on(group)));
//! assert_eq!(payload.unwrap_err().downcast_ref(), Some(&"index out of bounds"));
//!
//! // `catch_panics`: the panic is the group's error, like any other.
//! let mut group = ErrGroup::<(), Error>::new().catch_panics();
//! group.push(async { panic!("index out of bounds") });
//! let error = futures::executor::block_on(group).unwrap_err();
//! assert_eq!(error.to_string(), "a task panicked: index out of bounds");
//! assert!(error.is::<Panicked>());
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Your own work while the tasks run: `run_until`
//!
//! Because the group polls its tasks itself, they make progress only while the group is being
//! polled. A loop that takes a result with [`try_next`](ErrGroup::try_next) and then awaits
//! something slow before calling `try_next` again would stall every task meanwhile (the
//! `FuturesUnordered` trade-off, futures-rs #2387). [`ErrGroup::run_until`] is the answer: it
//! runs a future of yours to completion while driving the tasks (tokio's
//! `LocalSet::run_until`), and keeps the results that finish meanwhile.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
//! use errgroup::ErrGroup;
//!
//! # /// Yields to the executor `n` times: stands for real I/O.
//! # async fn io(n: usize) {
//! #     for _ in 0..n {
//! #         futures_lite::future::yield_now().await;
//! #     }
//! # }
//! # futures::executor::block_on(async {
//! let fetched = AtomicUsize::new(0);
//! let fetch = |page: u32| {
//!     let fetched = &fetched;
//!     async move {
//!         io(3).await;
//!         fetched.fetch_add(1, SeqCst);
//!         Ok::<_, String>(page)
//!     }
//! };
//! let save = |_page: u32| async { io(10).await; Ok::<_, String>(()) }; // a slow write
//!
//! let mut group = ErrGroup::new();
//! for page in 0..5 {
//!     group.push(fetch(page));
//! }
//! let mut saved = 0;
//! while let Some(page) = group.try_next().await? {
//!     // The outer `?` is the group's error (a fetch failed: the group has dropped the other
//!     // fetches, and `save`); the inner one is `save`'s own.
//!     group.run_until(save(page)).await??;
//!     saved += 1;
//!     if saved == 1 {
//!         // The other fetches ran during the first save: no stall.
//!         assert_eq!(fetched.load(SeqCst), 5);
//!     }
//! }
//! assert_eq!(saved, 5);
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! [`ErrGroup::kept`] counts the results kept that way ([`len`](ErrGroup::len) counts tasks).
//! `run_until` also overlaps the caller's own call with the group's (Go starts a call at `g.Go`;
//! here it starts when the group is next polled), and lets a producer outside the group feed it
//! through a [`Handle`] while it runs. Other patterns remain useful: keep a `try_next` loop's
//! body short, push slow follow-ups into the group as tasks of their own, `select!` on
//! `try_next` beside other work ([`TryNext`](futures::TryNext) shows both `select!` forms), or,
//! for work that must progress in the background, spawn it and give it the token.
//!
//! # Results of different types
//!
//! A group has one `T`, but tasks need not return their data through it. Go's idiom works as it
//! is: each task writes into a variable it borrowed, and once `group.await?` returned `Ok`
//! every task ran to its end and the borrows are over. An enum of the result types is the other
//! way; for a fixed set of differently typed calls, `futures::try_join!` returns a typed tuple.
//!
//! ```
//! use errgroup::ErrGroup;
//!
//! async fn user(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
//! async fn orders(id: u32) -> Result<Vec<u32>, String> { Ok(vec![id * 10, id * 10 + 1]) }
//!
//! # futures::executor::block_on(async {
//! let (mut name, mut list) = (None, Vec::new());
//! let mut group = ErrGroup::new();
//! group.push(async {
//!     name = Some(user(7).await?);
//!     Ok::<_, String>(())
//! });
//! group.push(async {
//!     list = orders(7).await?;
//!     Ok(())
//! });
//! group.await?; // the tasks, and their borrows, end here
//! assert_eq!(name.as_deref(), Some("user 7"));
//! assert_eq!(list, [70, 71]);
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! # CPU work and parallelism
//!
//! The tasks run concurrently on the one task that polls the group, not in parallel, so a task
//! that computes for a while holds up its siblings. Run such work elsewhere and push a future
//! that waits for it, one that *stops the work when it is dropped*, so that the group's first
//! error still stops it: `futures::FutureExt::remote_handle` on any executor (dropping the
//! `RemoteHandle` drops the spawned future), smol's `Task` (cancels on drop), tokio-util's
//! `AbortOnDropHandle` around tokio's `JoinHandle` (which, alone, does not abort on drop). A
//! blocking thread (`spawn_blocking`) cannot be stopped from outside: give it the group's
//! [token](CancelToken) and let it check [`is_cancelled`](CancelToken::is_cancelled) between
//! steps. `examples/parallel.rs` shows all three on tokio.
//!
//! ```
//! use futures::{executor::block_on, FutureExt};
//! use errgroup::ErrGroup;
//!
//! fn count_primes(below: u64) -> usize {
//!     (2..below).filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0)).count()
//! }
//!
//! # block_on(async {
//! let mut group = ErrGroup::new();
//! let mut threads = Vec::new();
//! for chunk in [100, 200, 300] {
//!     // Runs on a thread of its own, in parallel; dropping `handle` (say, on a sibling's
//!     // error) drops it.
//!     let (remote, handle) = async move { Ok::<_, String>(count_primes(chunk)) }.remote_handle();
//!     threads.push(std::thread::spawn(move || block_on(remote)));
//!     group.push(handle);
//! }
//! assert_eq!(group.await?, [25, 46, 62]);
//! for thread in threads {
//!     thread.join().unwrap();
//! }
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//!
//! - `std` (default): [`ErrGroup::catch_panics`] and [`Panicked`], and `std::error::Error` for
//!   [`PushError`]. Without it the crate is `no_std` and needs only `alloc`.
//!
//! [`errgroup`]: https://pkg.go.dev/golang.org/x/sync/errgroup

#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

extern crate alloc;

mod cause;
mod engine;
mod error;
pub mod futures;
mod group;
mod handle;
mod kept;
mod running;
mod sync;
mod task;
mod token;
mod waker;

pub use crate::cause::Cause;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use crate::error::Panicked;
pub use crate::error::PushError;
pub use crate::group::{ErrGroup, LocalErrGroup};
pub use crate::handle::{Handle, LocalHandle};
pub use crate::token::CancelToken;

/// Builds an [`ErrGroup`] with the given tasks pushed in order, like `vec!`.
///
/// The tasks may be futures of different types. `errgroup![]` is an empty group.
///
/// # Examples
///
/// ```
/// use errgroup::errgroup;
///
/// # futures::executor::block_on(async {
/// let group = errgroup![
///     async { Ok::<_, String>(1) },
///     std::future::ready(Ok(2)),
///     async { Ok(3) },
/// ];
/// assert_eq!(group.await?, [1, 2, 3]);
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! errgroup {
    () => {
        $crate::ErrGroup::new()
    };
    ($($task:expr),+ $(,)?) => {{
        let mut group = $crate::ErrGroup::new();
        $(group.push($task);)+
        group
    }};
}
