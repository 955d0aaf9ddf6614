//! Work the group cannot drop, stopped by its `CancelToken` (Go's `ctx` from `WithContext`).
//!
//! A group cancels its own tasks by dropping them. Some work is out of its reach:
//!
//! - a task spawned on tokio: the group can drop the `JoinHandle`, but that does not stop the
//!   task, which would carry on in the background;
//! - a blocking `std::thread`: nothing can stop a thread from outside.
//!
//! Both get a clone of the group's token and check it between steps. A third task fails after
//! 50 ms; each piece of outside work prints when it sees the cancellation, and the example checks
//! that both stopped long before their natural end (one second of work each).
//!
//! Then outside work that acts on *why* the group ended (Go's `context.Cause`): a writer thread
//! stages the rows the group's tasks send it and waits for the token; it commits when the group
//! finished (`Cause::Finished`) and rolls back otherwise. The import runs twice, once with every
//! page fetched and once with a page that fails, and the example checks that the first
//! committed and the second rolled back.
//!
//! Run it with `cargo run --example outside_work`.

use std::time::{Duration, Instant};

use errgroup::{Cause, ErrGroup};
use tokio::sync::mpsc;

/// Each piece of outside work: 100 steps of 10 ms, one second if nobody stops it.
const STEPS: u32 = 100;
const STEP: Duration = Duration::from_millis(10);

#[tokio::main]
async fn main() -> Result<(), String> {
    let t0 = Instant::now();
    let at = move || format!("[{:>4} ms]", t0.elapsed().as_millis());
    // The outside work reports here when it stops, so `main` can wait for it.
    let (stopped_tx, mut stopped_rx) = mpsc::unbounded_channel::<(&str, u32)>();

    let mut group = ErrGroup::new();
    let token = group.token();

    // 1. A task spawned on the tokio runtime (say, to use another core). The group task only
    //    awaits its `JoinHandle`; when the group drops that task, the spawned one keeps running
    //    unless it watches the token.
    let (spawned_token, stopped) = (token.clone(), stopped_tx.clone());
    group.push(async move {
        let indexer = tokio::spawn(async move {
            let mut steps = 0;
            let work = async {
                for _ in 0..STEPS {
                    tokio::time::sleep(STEP).await;
                    steps += 1;
                }
            };
            // `None`: the token fired first, and `work` was dropped without another poll.
            if spawned_token.run_until_cancelled(work).await.is_none() {
                println!(
                    "{} spawned task: cancelled after {steps} of {STEPS} steps",
                    at()
                );
            }
            stopped.send(("spawned task", steps)).ok();
            steps
        });
        let steps = indexer.await.map_err(|e| e.to_string())?;
        Ok(format!("indexed {steps} batches"))
    });

    // 2. A blocking thread (a synchronous library, a big file, CPU-bound work). It checks the
    //    token between steps; the group task waits for its answer on a channel.
    let (thread_token, stopped) = (token.clone(), stopped_tx);
    group.push(async move {
        let (answer_tx, answer_rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || {
            let mut steps = 0;
            while steps < STEPS && !thread_token.is_cancelled() {
                std::thread::sleep(STEP); // one blocking step
                steps += 1;
            }
            if thread_token.is_cancelled() {
                println!(
                    "{} blocking thread: cancelled after {steps} of {STEPS} steps",
                    at()
                );
            }
            stopped.send(("blocking thread", steps)).ok();
            answer_tx.send(steps).ok();
        });
        let steps = answer_rx.await.map_err(|_| "the thread died".to_string())?;
        Ok(format!("converted {steps} files"))
    });

    // 3. The task that fails.
    group.push(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("{} validation: failed", at());
        Err("validation failed".to_string())
    });

    println!(
        "{} group started: a spawned task, a blocking thread, a validation",
        at()
    );
    let error = group.await.expect_err("the validation fails");
    println!("{} group returned: {error:?}", at());

    // The group has returned, but the outside work ran on its own: wait until both stopped.
    for _ in 0..2 {
        let report = tokio::time::timeout(Duration::from_secs(5), stopped_rx.recv()).await;
        let Ok(Some((who, steps))) = report else {
            return Err("outside work did not stop".into());
        };
        if steps == STEPS {
            return Err(format!(
                "the {who} ran to its end: it missed the cancellation"
            ));
        }
        println!("{} {who} has stopped", at());
    }
    println!(
        "{} done: both stopped right after the error, not after {:?}",
        at(),
        STEP * STEPS
    );

    println!();
    let ok = import(false).await;
    let failed = import(true).await;
    match (ok, failed) {
        ((Ok(3), Verdict::Committed(3)), (Err(_), Verdict::RolledBack(_, Cause::Failed))) => {
            println!("done: the import that finished committed, the one that failed rolled back");
            Ok(())
        }
        (ok, failed) => Err(format!("wrong verdicts: {ok:?} and {failed:?}")),
    }
}

/// What the writer did with the rows it staged.
#[derive(Debug)]
enum Verdict {
    Committed(usize),
    RolledBack(usize, Cause),
}

/// Fetches three pages in a group; each task hands its rows to a writer thread outside the
/// group, which stages them until the token fires and then commits or rolls back on the token's
/// cause. With `fail`, the last page fails after the others have been staged.
async fn import(fail: bool) -> (Result<usize, String>, Verdict) {
    let t0 = Instant::now();
    let at = move || format!("[{:>4} ms]", t0.elapsed().as_millis());
    let name = if fail { "import 2" } else { "import 1" };
    let mut group = ErrGroup::new();
    let token = group.token();
    let (rows, staged) = std::sync::mpsc::channel::<String>();

    // The writer: a blocking thread, out of the group's reach.
    let writer = tokio::task::spawn_blocking(move || {
        futures::executor::block_on(token.cancelled());
        // Every row was sent before its task completed, so before the group ended.
        let staged: Vec<String> = staged.try_iter().collect();
        match token.cause() {
            Some(Cause::Finished) => Verdict::Committed(staged.len()),
            // `None` cannot happen once the token fired; the `Cause` enum may grow.
            cause => Verdict::RolledBack(staged.len(), cause.unwrap_or(Cause::Dropped)),
        }
    });

    for page in 1..=3_u64 {
        let rows = rows.clone();
        group.push(async move {
            tokio::time::sleep(Duration::from_millis(10 * page)).await;
            if fail && page == 3 {
                return Err(format!("page {page}: 500 Internal Server Error"));
            }
            rows.send(format!("page {page}")).ok();
            Ok(())
        });
    }
    drop(rows);
    let result = group.await.map(|pages| pages.len());
    let verdict = writer.await.expect("the writer thread panicked");
    match &verdict {
        Verdict::Committed(n) => {
            println!("{} {name}: group finished, writer committed {n} rows", at())
        }
        Verdict::RolledBack(n, cause) => println!(
            "{} {name}: group ended ({cause}), writer rolled back {n} staged rows",
            at()
        ),
    }
    (result, verdict)
}
