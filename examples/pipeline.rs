//! Fetch pages and save each one as it arrives: the stall of a `try_next` loop that awaits a slow
//! write, and `run_until`, which keeps the other fetches running during the write.
//!
//! Ten page fetches start at once, each five 20 ms steps long (a request, then reading the
//! body), the `n`-th starting after `10 n` ms, so on their own they would all be done at 190 ms.
//! The loop takes each page with `try_next` and saves it with a 50 ms write. It runs twice:
//!
//! 1. `db.save(&page).await` in the loop body: while a save runs, nothing polls the group, so
//!    the fetches are frozen and the last one finishes only after most of the saves;
//! 2. `group.run_until(db.save(&page)).await??`: the fetches carry on during each save.
//!
//! Each run prints when every page was fetched and saved, and counts the fetch steps that ran
//! while a save was in progress. The example exits non-zero if the `run_until` run shows the
//! stall, decided from the order of the logged events (a fetch step logged between a save's
//! start and its end), not from wall-clock thresholds.
//!
//! Run it with `cargo run --example pipeline`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use errgroup::ErrGroup;
use tokio::time::sleep;

const PAGES: u64 = 10;
const STEPS: u32 = 5;
const STEP: Duration = Duration::from_millis(20);
const SAVE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Event {
    FetchStep(u64),
    Fetched(u64),
    SaveStart(u64),
    Saved(u64),
}

/// Every event with the time it happened, in the order it happened.
#[derive(Clone)]
struct Log {
    t0: Instant,
    events: Arc<Mutex<Vec<(Duration, Event)>>>,
}

impl Log {
    fn new() -> Self {
        Log {
            t0: Instant::now(),
            events: Arc::default(),
        }
    }

    fn push(&self, event: Event) {
        let at = self.t0.elapsed();
        self.events.lock().unwrap().push((at, event));
    }

    fn at(&self, wanted: Event) -> u128 {
        let events = self.events.lock().unwrap();
        let found = events.iter().find(|(_, e)| *e == wanted);
        found.map_or(0, |(at, _)| at.as_millis())
    }

    /// Fetch steps logged while a save was in progress.
    fn steps_during_saves(&self) -> usize {
        let mut saving = false;
        let mut steps = 0;
        for (_, event) in self.events.lock().unwrap().iter() {
            match event {
                Event::SaveStart(_) => saving = true,
                Event::Saved(_) => saving = false,
                Event::FetchStep(_) | Event::Fetched(_) if saving => steps += 1,
                _ => {}
            }
        }
        steps
    }
}

/// A page fetch: it starts after `10 n` ms, then takes five 20 ms steps.
async fn fetch(page: u64, log: Log) -> Result<u64, String> {
    sleep(Duration::from_millis(10 * page)).await;
    for _ in 0..STEPS {
        sleep(STEP).await;
        log.push(Event::FetchStep(page));
    }
    log.push(Event::Fetched(page));
    Ok(page)
}

/// The slow write.
struct Db {
    log: Log,
}

impl Db {
    async fn save(&self, page: &u64) -> Result<(), String> {
        self.log.push(Event::SaveStart(*page));
        sleep(SAVE).await;
        self.log.push(Event::Saved(*page));
        Ok(())
    }
}

/// Runs the pipeline, with or without `run_until`, and returns its log.
async fn pipeline(with_run_until: bool) -> Result<Log, String> {
    let log = Log::new();
    let db = Db { log: log.clone() };
    let mut group = ErrGroup::new();
    for page in 0..PAGES {
        group.push(fetch(page, log.clone()));
    }
    while let Some(page) = group.try_next().await? {
        if with_run_until {
            // The outer `?`: a fetch failed (the group has then dropped the rest, and `save`).
            // The inner `?`: the save failed.
            group.run_until(db.save(&page)).await??;
        } else {
            db.save(&page).await?; // the fetches are frozen meanwhile
        }
    }
    Ok(log)
}

fn print(title: &str, log: &Log) -> usize {
    println!("{title}");
    for page in 0..PAGES {
        println!(
            "  page {page}: fetched at {:>4} ms, saved at {:>4} ms",
            log.at(Event::Fetched(page)),
            log.at(Event::Saved(page)),
        );
    }
    let last_fetch = (0..PAGES)
        .map(|p| log.at(Event::Fetched(p)))
        .max()
        .unwrap_or(0);
    let done = (0..PAGES)
        .map(|p| log.at(Event::Saved(p)))
        .max()
        .unwrap_or(0);
    let during = log.steps_during_saves();
    println!(
        "  last page fetched at {last_fetch} ms (190 ms on its own), all saved at {done} ms; \
         fetch steps during saves: {during}"
    );
    during
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let stalled = pipeline(false).await?;
    let stalled_steps = print(
        "1. `db.save(&page).await` between `try_next` calls:",
        &stalled,
    );
    println!();
    let driven = pipeline(true).await?;
    let driven_steps = print(
        "2. `group.run_until(db.save(&page)).await??` between `try_next` calls:",
        &driven,
    );
    println!();
    if driven_steps == 0 {
        return Err("with run_until, no fetch made progress while a save ran: the stall".into());
    }
    println!(
        "run_until kept the fetches running during the saves ({driven_steps} steps against \
         {stalled_steps} without it)"
    );
    Ok(())
}
