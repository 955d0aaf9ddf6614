//! CPU-heavy work in a group: in place it runs on one thread; spawned, on every core.
//!
//! An `ErrGroup` polls its tasks in place, on the task that awaits it. A task that computes for
//! 100 ms between two `.await`s holds up every sibling for those 100 ms, and however many cores
//! the runtime has, the group's tasks take turns on one thread. For CPU work, a group task should
//! only *wait* for work that runs elsewhere, and the group's cancellation must still reach it:
//!
//! - `tokio::spawn` with a wrapper that aborts the task when dropped: tokio's `JoinHandle` only
//!   detaches on drop. `AbortOnDrop` below is that wrapper (tokio-util's `AbortOnDropHandle` is
//!   the same); an aborted task is dropped at its next `.await`.
//! - `tokio::task::spawn_blocking` for blocking code. A blocking thread that is running cannot
//!   be aborted, so the loop checks the group's `CancelToken` between steps.
//! - Runtime-agnostic: `futures::FutureExt::remote_handle` splits a future into one to spawn on
//!   any executor and a handle to push into the group. Dropping the handle (the group dropping
//!   its task) makes the spawned future stop at its next poll. smol's `Task` cancels on drop too.
//!
//! The example hashes the same chunks four ways (inline in the group's tasks, `tokio::spawn`,
//! `spawn_blocking`, `remote_handle`) and prints the wall times. Then a group fails while
//! spawned, remote and blocking chunks are running, and the example checks, from what each chunk
//! reports when it ends, that none of them ran to completion after the failure.
//!
//! Run it with `cargo run --example parallel` (the speed-up needs 2 cores or more). A step of
//! work is calibrated at start to take about 5 ms, in a debug build as in a release one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use errgroup::{CancelToken, ErrGroup};
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks of work per run, steps per chunk, and the time one step is calibrated to.
const CHUNKS: usize = 6;
const STEPS: u32 = 24;
const STEP: Duration = Duration::from_millis(5);

/// A spawned task that is aborted when this handle is dropped (tokio's `JoinHandle` is not).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let t0 = Instant::now();
    let at = move || format!("[{:>4} ms]", t0.elapsed().as_millis());
    let work = Work::calibrate();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} {CHUNKS} chunks of {STEPS} steps, a step about {STEP:?} ({} rounds of hashing); \
         {cores} cores",
        at(),
        work.rounds
    );

    let (probe, _reports) = Probe::new();
    let mut results = Vec::new();
    let mut inline = Duration::ZERO;
    for (name, way) in [
        ("inline in the group's tasks", Way::Inline),
        ("tokio::spawn + AbortOnDrop", Way::Spawn),
        ("spawn_blocking + the token", Way::Blocking),
        ("remote_handle, spawned on tokio", Way::Remote),
    ] {
        let started = Instant::now();
        let mut group = ErrGroup::new();
        for id in 0..CHUNKS {
            way.push(&mut group, work, id, &probe);
        }
        let hashes = group.await?;
        let took = started.elapsed();
        if way == Way::Inline {
            inline = took;
        }
        let speed_up = match way {
            Way::Inline => String::new(),
            _ => format!(" ({:.1}x)", inline.as_secs_f64() / took.as_secs_f64()),
        };
        println!("{} {name:<32} {:>4} ms{speed_up}", at(), took.as_millis());
        results.push(hashes);
    }
    if results.iter().any(|hashes| *hashes != results[0]) {
        return Err("the four ways computed different hashes".into());
    }
    println!(
        "{} same hashes every way; inline, the chunks took turns on one thread",
        at()
    );

    println!();
    failure(work).await?;
    Ok(())
}

/// Where a chunk runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Way {
    /// In the group's own task: the group polls it in place, between the other chunks.
    Inline,
    /// On a tokio worker thread, aborted when the group drops its task.
    Spawn,
    /// On tokio's blocking pool, stopped by the group's token.
    Blocking,
    /// On any executor (tokio here) through `remote_handle`, stopped when the handle is dropped.
    Remote,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Inline => "inline",
            Way::Spawn => "spawned",
            Way::Blocking => "blocking",
            Way::Remote => "remote",
        }
    }

    /// Pushes chunk `id` into `group`, running this way.
    fn push(self, group: &mut ErrGroup<'_, u64, String>, work: Work, id: usize, probe: &Probe) {
        let probe = probe.clone();
        match self {
            Way::Inline => group.push(async move { Ok(chunk(work, id, self, probe).await) }),
            Way::Spawn => group.push(async move {
                let task = AbortOnDrop(tokio::spawn(chunk(work, id, self, probe)));
                task.await.map_err(|e| e.to_string())
            }),
            Way::Blocking => {
                let token = group.token();
                group.push(async move {
                    // `abort` cannot stop a blocking closure that has started, but it keeps one
                    // that is still queued from starting at all.
                    let task = AbortOnDrop(tokio::task::spawn_blocking(move || {
                        chunk_blocking(work, id, &token, probe)
                    }));
                    let hash = task.await.map_err(|e| e.to_string())?;
                    hash.ok_or_else(|| format!("chunk {id}: cancelled"))
                });
            }
            Way::Remote => {
                // Any spawner takes `remote`: a `ThreadPool`, `smol::spawn(remote).detach()`, ...
                // (On smol, `group.push(smol::spawn(fut))` is enough: a `Task` cancels on drop.)
                let (remote, handle) = chunk(work, id, self, probe).remote_handle();
                tokio::spawn(remote);
                group.push(handle.map(Ok));
            }
        }
    }
}

/// One chunk as async code: `STEPS` steps of hashing, yielding to the executor between steps,
/// which is where an aborted task or a dropped remote handle stops it.
async fn chunk(work: Work, id: usize, way: Way, probe: Probe) -> u64 {
    let mut tracker = Tracker::new(probe, way, id);
    let mut hash = id as u64;
    for _ in 0..STEPS {
        hash = work.step(hash);
        tracker.step();
        tokio::task::yield_now().await;
    }
    tracker.end(End::Finished);
    hash
}

/// The same chunk as blocking code: nothing can interrupt it, so it checks the token between
/// steps and gives up (`None`) once the group has ended.
fn chunk_blocking(work: Work, id: usize, token: &CancelToken, probe: Probe) -> Option<u64> {
    let mut tracker = Tracker::new(probe, Way::Blocking, id);
    let mut hash = id as u64;
    for _ in 0..STEPS {
        if token.is_cancelled() {
            tracker.end(End::SawToken);
            return None;
        }
        hash = work.step(hash);
        tracker.step();
    }
    tracker.end(End::Finished);
    Some(hash)
}

/// A group fails while two chunks of each spawned way are running: every one of them must stop
/// before its last step.
async fn failure(work: Work) -> Result<(), String> {
    let t0 = Instant::now();
    let at = move || format!("[{:>4} ms]", t0.elapsed().as_millis());
    let (probe, mut ends) = Probe::new();
    let ways = [
        Way::Spawn,
        Way::Spawn,
        Way::Remote,
        Way::Remote,
        Way::Blocking,
        Way::Blocking,
    ];

    let mut group = ErrGroup::new();
    for (id, way) in ways.into_iter().enumerate() {
        way.push(&mut group, work, id, &probe);
    }
    // The sibling that fails, once every chunk has done a step (so all of them are running).
    let validation = probe.clone();
    group.push(async move {
        while validation.started() < ways.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        validation.fail();
        println!("{} validation: failed, every chunk under way", at());
        Err("validation failed".to_string())
    });
    println!(
        "{} failure run: 2 spawned, 2 remote and 2 blocking chunks, and a validation",
        at()
    );
    let error = group.await.expect_err("the validation fails");
    println!("{} group returned: {error:?}", at());

    // The group has dropped its tasks; the chunks end on their own threads. Every chunk holds a
    // clone of the probe: the channel closes once the last one has ended.
    drop(probe);
    let mut reports = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ends.recv()).await {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => break,
            Err(_) => return Err("a chunk did not stop".into()),
        }
    }
    reports.sort_by_key(|report| report.id);

    let mut ran_to_end = Vec::new();
    for report in &reports {
        let after = report.steps - report.before_failure.unwrap_or(report.steps);
        println!(
            "{}   chunk {} ({}): {} after {} of {STEPS} steps, {after} after the failure",
            at(),
            report.id,
            report.way.name(),
            report.end.name(),
            report.steps
        );
        let expected = match report.way {
            Way::Blocking => End::SawToken,
            _ => End::Dropped,
        };
        if report.end == End::Finished && report.before_failure.is_none() {
            // Not a cancellation failure, but nothing was left to cancel.
            println!("{} chunk {} finished before the failure", at(), report.id);
        } else if report.end != expected {
            ran_to_end.push(report.id);
        }
    }
    if reports.len() != ways.len() {
        return Err(format!(
            "{} of {} chunks reported",
            reports.len(),
            ways.len()
        ));
    }
    if !ran_to_end.is_empty() {
        eprintln!("chunks {ran_to_end:?} kept running after the failure");
        std::process::exit(1);
    }
    println!(
        "{} done: spawned and remote chunks were dropped, blocking ones saw the token",
        at()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The work, and what the chunks report.

/// The CPU work: `rounds` of a multiply-rotate hash per step.
#[derive(Clone, Copy)]
struct Work {
    rounds: u64,
}

impl Work {
    /// Finds how many rounds take about `STEP` on this machine, in this build: the fastest of
    /// three timings, so that a burst of load elsewhere does not shrink the steps.
    fn calibrate() -> Work {
        let time = |rounds| {
            let started = Instant::now();
            Work { rounds }.step(0);
            started.elapsed()
        };
        let mut rounds = 1_000;
        while time(rounds) < STEP * 2 {
            rounds *= 2;
        }
        let took = (0..3).map(|_| time(rounds)).min().expect("three timings");
        let per_step = rounds as f64 * STEP.as_secs_f64() / took.as_secs_f64();
        Work {
            rounds: per_step as u64,
        }
    }

    /// One step of work: no `.await` in here.
    fn step(self, mut hash: u64) -> u64 {
        for i in 0..std::hint::black_box(self.rounds) {
            hash = (hash ^ i)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
        std::hint::black_box(hash)
    }
}

/// How a chunk ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// It did every step.
    Finished,
    /// It was dropped before its last step (aborted, or its remote handle dropped).
    Dropped,
    /// A blocking chunk saw the token and gave up.
    SawToken,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Finished => "finished",
            End::Dropped => "dropped",
            End::SawToken => "saw the token",
        }
    }
}

/// What a chunk reports when it ends.
#[derive(Clone, Copy, Debug)]
struct Report {
    way: Way,
    id: usize,
    end: End,
    steps: u32,
    /// The steps it had done when it first saw the failure flag set (`None`: it never did).
    before_failure: Option<u32>,
}

/// Shared by the chunks of one run and the task that fails it.
#[derive(Clone)]
struct Probe {
    shared: Arc<Shared>,
    ends: mpsc::UnboundedSender<Report>,
}

struct Shared {
    /// Chunks that have done at least one step.
    started: AtomicUsize,
    /// Set by the failing task just before it returns its error.
    failed: AtomicBool,
}

impl Probe {
    fn new() -> (Probe, mpsc::UnboundedReceiver<Report>) {
        let (ends, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            started: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        });
        (Probe { shared, ends }, reports)
    }

    /// How many chunks have done a step.
    fn started(&self) -> usize {
        self.shared.started.load(SeqCst)
    }

    /// Raises the failure flag the chunks look at between steps.
    fn fail(&self) {
        self.shared.failed.store(true, SeqCst);
    }
}

/// Counts a chunk's steps and reports how it ended, when it is dropped: a chunk that is
/// dropped mid-way reports `End::Dropped`.
struct Tracker {
    probe: Probe,
    report: Report,
}

impl Tracker {
    fn new(probe: Probe, way: Way, id: usize) -> Tracker {
        let report = Report {
            way,
            id,
            end: End::Dropped,
            steps: 0,
            before_failure: None,
        };
        Tracker { probe, report }
    }

    fn step(&mut self) {
        self.see_failure();
        self.report.steps += 1;
        if self.report.steps == 1 {
            self.probe.shared.started.fetch_add(1, SeqCst);
        }
    }

    fn end(&mut self, end: End) {
        self.report.end = end;
    }

    fn see_failure(&mut self) {
        if self.report.before_failure.is_none() && self.probe.shared.failed.load(SeqCst) {
            self.report.before_failure = Some(self.report.steps);
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.see_failure();
        self.probe.ends.send(self.report).ok();
    }
}
