//! A web crawler: a limited group, driven with `try_next`, that grows as results arrive.
//!
//! The site is generated in memory (22 pages linking to each other, and one broken link); each
//! fetch takes a few milliseconds of simulated latency on a smol timer. The crawler fetches at
//! most `LIMIT` pages at once: every fetched page's new links are pushed into the same group,
//! where they wait for a free slot. The trace shows each page as it arrives, how many fetches
//! were in flight, and the summary at the end.
//!
//! Run it with `cargo run --example crawler`. It runs on smol: the group needs no tokio.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use errgroup::ErrGroup;

/// At most this many fetches in flight (Go's `g.SetLimit(4)`).
const LIMIT: usize = 4;

/// An in-memory website: path -> the links on that page.
type Site = HashMap<String, Vec<String>>;

fn build_site() -> Site {
    let sections = ["docs", "blog", "api"];
    let mut site = Site::new();
    site.insert(
        "/".into(),
        sections.iter().map(|s| format!("/{s}")).collect(),
    );
    for (n, section) in sections.iter().enumerate() {
        let other = sections[(n + 1) % sections.len()];
        let index = (1..=6)
            .map(|i| format!("/{section}/{i}"))
            .chain(["/".into()]);
        site.insert(format!("/{section}"), index.collect());
        for i in 1..=6 {
            let next = if i < 6 {
                format!("/{section}/{}", i + 1)
            } else {
                format!("/{section}")
            };
            let links = vec![next, format!("/{other}/{i}"), format!("/{section}")];
            site.insert(format!("/{section}/{i}"), links);
        }
    }
    // One page links to a page that does not exist: a 404 is a result, not a failure.
    site.get_mut("/blog/6")
        .unwrap()
        .push("/blog/old-post".into());
    site
}

/// What a fetch found: the page's links, or `None` for a 404.
struct Fetched {
    path: String,
    links: Option<Vec<String>>,
}

/// Counts fetches in flight and remembers the highest count.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// One fetch; an `Err` (a real network error, say) would end the whole crawl. It borrows the site and the gauge: the group runs in place, so nothing needs to
/// be `'static` or wrapped in an `Arc`.
async fn fetch(site: &Site, gauge: &Gauge, path: String) -> Result<Fetched, String> {
    let in_flight = gauge.now.fetch_add(1, SeqCst) + 1;
    gauge.max.fetch_max(in_flight, SeqCst);
    // Simulated network latency, 10..50 ms depending on the page.
    let latency = 10 + path.bytes().map(u64::from).sum::<u64>() % 40;
    smol::Timer::after(Duration::from_millis(latency)).await;
    gauge.now.fetch_sub(1, SeqCst);
    let links = site.get(&path).cloned();
    Ok(Fetched { path, links })
}

fn main() -> Result<(), String> {
    let site = build_site();
    let gauge = Gauge::default();
    let t0 = Instant::now();

    smol::block_on(async {
        let mut group = ErrGroup::with_limit(LIMIT);
        let mut seen = HashSet::from(["/".to_string()]);
        group.push(fetch(&site, &gauge, "/".into()));
        let (mut pages, mut broken) = (0, 0);

        // Results arrive in completion order. The loop body is short and never awaits: the
        // group's fetches only progress while `try_next` polls them (see the README on the one trap).
        while let Some(Fetched { path, links }) = group.try_next().await? {
            let at = t0.elapsed().as_millis();
            let Some(links) = links else {
                broken += 1;
                println!("[{at:>4} ms] 404     {path}");
                continue;
            };
            pages += 1;
            let mut new = 0;
            for link in links {
                if seen.insert(link.clone()) {
                    group.push(fetch(&site, &gauge, link)); // waits for a free slot
                    new += 1;
                }
            }
            println!(
                "[{at:>4} ms] fetched {path:<9} {new} new, {} to go (in flight or waiting)",
                group.len()
            );
        }

        println!(
            "\ncrawled {pages} pages and {broken} broken link in {} ms; \
             at most {} fetches in flight (limit {LIMIT})",
            t0.elapsed().as_millis(),
            gauge.max.load(SeqCst),
        );
        assert!(gauge.max.load(SeqCst) <= LIMIT, "the limit was exceeded");
        Ok(())
    })
}
