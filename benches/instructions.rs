//! Instruction counts of the same work as `compare.rs`, under callgrind: a number a shared,
//! noisy machine cannot blur (it moves only with the code, the compiler and the allocator).
//!
//! `cargo bench --bench instructions` runs this binary once per case under
//! `valgrind --tool=callgrind`, counting only the instructions executed inside `measure` (one
//! run of the case, after one uncounted warm-up run of the same case), and prints the
//! instructions per task of every contender, and ErrGroup's count divided by each peer's, as
//! Markdown tables for `docs/benchmarks.md`. A filter argument keeps the cases whose name
//! contains it. Without valgrind it says so and exits non-zero.

mod work;

use std::hint::black_box;
use std::process::Command;

use work::{Contender, Ready, Yield1};

/// Where the child process finds the case to run.
const CASE: &str = "ERRGROUP_INSTRUCTIONS_CASE";
/// Sizes of the `ready` and `yield1` cases.
const SIZES: [usize; 3] = [10, 1_000, 10_000];
/// The contenders counted, by the names `compare.rs` gives them.
const CONTENDERS: [&str; 5] = [
    "errgroup",
    "futures_unordered_boxed",
    "try_join_all_boxed",
    "fc_try_join_boxed",
    "buffered_boxed",
];

/// A case: scenario, contender, number of tasks.
#[derive(Clone, Copy)]
struct Case {
    scenario: &'static str,
    contender: &'static str,
    n: usize,
}

impl Case {
    fn name(&self) -> String {
        format!("{}/{}/{}", self.scenario, self.contender, self.n)
    }

    fn parse(name: &str) -> Option<Case> {
        let mut parts = name.split('/');
        let scenario = parts.next()?;
        let contender = parts.next()?;
        let n = parts.next()?.parse().ok()?;
        let scenario = ["ready", "yield1", "limit"]
            .into_iter()
            .chain(work::SHAPES.iter().map(|&(name, _)| name))
            .find(|&s| s == scenario)?;
        let contender = CONTENDERS.into_iter().find(|&c| c == contender)?;
        Some(Case {
            scenario,
            contender,
            n,
        })
    }

    /// The function that runs this case once; `None` for a contender the scenario lacks.
    fn run(&self) -> Option<Box<dyn Fn() -> usize>> {
        let pick = |all: [(&'static str, Contender); 9]| {
            let (_, run) = all.into_iter().find(|(name, _)| *name == self.contender)?;
            let n = self.n;
            Some(Box::new(move || run(n).expect("no task fails").len()) as Box<dyn Fn() -> usize>)
        };
        match self.scenario {
            "ready" => pick(work::contenders::<Ready>()),
            "yield1" => pick(work::contenders::<Yield1>()),
            "limit" => {
                let run: fn(usize) -> Result<Vec<usize>, work::Fail> = match self.contender {
                    "errgroup" => work::limit_errgroup,
                    "buffered_boxed" => work::limit_buffered_boxed,
                    _ => return None,
                };
                let n = self.n;
                Some(Box::new(move || run(n).expect("no task fails").len()))
            }
            shape => {
                let (_, shape) = work::SHAPES.into_iter().find(|&(name, _)| name == shape)?;
                let (_, run) = work::SHAPE_CONTENDERS
                    .into_iter()
                    .find(|(name, _)| *name == self.contender)?;
                let order = work::scrambled(work::leaves(shape));
                Some(Box::new(move || run(shape, &order).expect("no task fails")))
            }
        }
    }
}

/// The counted run: callgrind collects only inside this function (`--toggle-collect`).
#[inline(never)]
fn measure(run: &dyn Fn() -> usize) -> usize {
    black_box(run())
}

fn cases() -> Vec<Case> {
    let mut cases = vec![];
    for scenario in ["ready", "yield1"] {
        for n in SIZES {
            for contender in &CONTENDERS[..4] {
                let contender = *contender;
                cases.push(Case {
                    scenario,
                    contender,
                    n,
                });
            }
        }
    }
    for contender in ["errgroup", "buffered_boxed"] {
        cases.push(Case {
            scenario: "limit",
            contender,
            n: work::LIMIT_TASKS,
        });
    }
    for (scenario, shape) in work::SHAPES {
        for (contender, _) in work::SHAPE_CONTENDERS {
            cases.push(Case {
                scenario,
                contender,
                n: work::leaves(shape),
            });
        }
    }
    cases
}

/// Runs `case` in a child process under callgrind; its instruction count.
fn count(case: &Case) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::env::temp_dir().join(format!(
        "errgroup-callgrind-{}-{}.out",
        std::process::id(),
        case.name().replace('/', "-")
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--toggle-collect=*instructions::measure*")
        .arg("--quiet")
        .arg(&exe)
        .env(CASE, case.name())
        .status()
        .map_err(|e| format!("valgrind did not start: {e}"))?;
    if !status.success() {
        return Err(format!("{}: valgrind exited with {status}", case.name()));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or(line.strip_prefix("summary:"))
        })
        .and_then(|total| total.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no total in callgrind's output", case.name()))
}

fn main() {
    if let Ok(name) = std::env::var(CASE) {
        // The child: warm up (allocator, lazy statics), then the counted run.
        let case = Case::parse(&name).expect("a known case");
        let run = case.run().expect("a contender of the scenario");
        let expected = run();
        assert_eq!(measure(&*run), expected);
        return;
    }
    // `cargo bench` passes `--bench`; any other argument filters the cases by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("instructions: valgrind is not installed (apt-get install valgrind)");
        std::process::exit(2);
    }
    let mut counts = vec![];
    for case in cases() {
        if !filter.is_empty() && !filter.iter().any(|f| case.name().contains(f.as_str())) {
            continue;
        }
        match count(&case) {
            Ok(total) => {
                println!(
                    "{:<40} {total:>12} instructions, {:>8.0} per task",
                    case.name(),
                    total as f64 / case.n as f64
                );
                counts.push((case, total));
            }
            Err(error) => {
                eprintln!("instructions: {error}");
                std::process::exit(1);
            }
        }
    }
    print_tables(&counts);
}

/// The tables of `docs/benchmarks.md`: instructions per task, and ErrGroup's count divided by
/// each peer's.
fn print_tables(counts: &[(Case, u64)]) {
    let get = |scenario: &str, contender: &str, n: usize| {
        counts
            .iter()
            .find(|(c, _)| c.scenario == scenario && c.contender == contender && c.n == n)
            .map(|&(_, total)| total)
    };
    println!();
    println!("| instructions per task | n | ErrGroup | raw `FuturesUnordered`, boxed | `try_join_all`, boxed | futures-concurrency `try_join`, boxed | `buffered(16)`, boxed |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rows: Vec<(&str, usize)> = vec![];
    for (case, _) in counts {
        if !rows.contains(&(case.scenario, case.n)) {
            rows.push((case.scenario, case.n));
        }
    }
    for &(scenario, n) in &rows {
        let cell = |contender| match get(scenario, contender, n) {
            Some(total) => format!("{:.0}", total as f64 / n as f64),
            None => "–".to_string(),
        };
        println!(
            "| `{scenario}` | {n} | {} | {} | {} | {} | {} |",
            cell("errgroup"),
            cell("futures_unordered_boxed"),
            cell("try_join_all_boxed"),
            cell("fc_try_join_boxed"),
            cell("buffered_boxed")
        );
    }
    println!();
    println!("| ErrGroup ÷ peer, instructions | n | raw `FuturesUnordered`, boxed | `try_join_all`, boxed | futures-concurrency `try_join`, boxed | `buffered(16)`, boxed |");
    println!("|---|---:|---:|---:|---:|---:|");
    for &(scenario, n) in &rows {
        let Some(ours) = get(scenario, "errgroup", n) else {
            continue;
        };
        let cell = |contender| match get(scenario, contender, n) {
            Some(theirs) => format!("{:.2}", ours as f64 / theirs as f64),
            None => "–".to_string(),
        };
        println!(
            "| `{scenario}` | {n} | {} | {} | {} | {} |",
            cell("futures_unordered_boxed"),
            cell("try_join_all_boxed"),
            cell("fc_try_join_boxed"),
            cell("buffered_boxed")
        );
    }
}
