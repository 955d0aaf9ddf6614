//! The README's code, compiled and run: `product_page` below is the README's first example,
//! line for line, with just enough of an `Api` around it to run, and the functions after it hold
//! the snippets of the README's section on stalls.
//!
//! Run it with `cargo run --example readme`; `cargo test` compiles it, so the README's code
//! cannot drift from the real API unnoticed.

use errgroup::ErrGroup;

type Json = String;

#[derive(Debug, PartialEq)]
struct ApiError(String);

#[derive(Debug, PartialEq)]
struct Page {
    user: Json,
    stock: Json,
    price: Json,
}

/// A stand-in for a client of the downstream services.
struct Api {
    down: &'static str,
}

impl Api {
    async fn get(&self, service: &str, id: u64) -> Result<Json, ApiError> {
        if service == self.down {
            return Err(ApiError(format!("{service}: 503")));
        }
        Ok(format!("{service}/{id}"))
    }

    fn cached(&self, service: &str, id: u64) -> Json {
        format!("{service}/{id} (cached)")
    }
}

// ---- the README's example ----
async fn product_page(api: &Api, id: u64) -> Result<Page, ApiError> {
    let mut group = ErrGroup::new();
    group.push(api.get("users", id)); // any futures returning Result<T, ApiError>,
    group.push(api.get("inventory", id)); // of any types, borrowing the caller's data
    group.push(async { Ok(api.cached("pricing", id)) });
    // All answers in push order, or the first error with every other call already dropped.
    let [user, stock, price] = <[Json; 3]>::try_from(group.await?).unwrap();
    Ok(Page { user, stock, price })
}
// ---- end of the README's first example ----

// ---- the README's section "Tasks run only while the group is polled" ----

struct User(u32);

/// A database whose `save` takes a while.
struct Db;

impl Db {
    async fn save(&self, user: &User) -> Result<(), ApiError> {
        let _ = user.0;
        Ok(())
    }
}

/// The stall: the loop body awaits `save` while the group's other fetches wait.
async fn stall(db: &Db, mut group: ErrGroup<'_, User, ApiError>) -> Result<(), ApiError> {
    while let Some(user) = group.try_next().await? {
        db.save(&user).await?; // while this runs, no other call in `group` makes progress
    }
    Ok(())
}

enum Step {
    Fetched(User),
    Saved,
}

/// The fix: the slow follow-up becomes a task of the same group.
async fn follow_ups<'a>(
    db: &'a Db,
    mut group: ErrGroup<'a, Step, ApiError>,
) -> Result<(), ApiError> {
    while let Some(step) = group.try_next().await? {
        if let Step::Fetched(user) = step {
            group.push(async move { db.save(&user).await.map(|()| Step::Saved) });
        }
    }
    Ok(())
}

fn report(result: Json) {
    println!("  select loop: {result}");
}

async fn run(job: u32) -> Result<Json, ApiError> {
    Ok(format!("job {job} done"))
}

/// The other fix: `select!` on the group and the other work.
async fn select_loop(
    mut group: ErrGroup<'_, Json, ApiError>,
    mut jobs: tokio::sync::mpsc::Receiver<u32>,
) -> Result<(), ApiError> {
    loop {
        tokio::select! {
            next = group.try_next() => match next? {
                Some(result) => report(result),
                None => break,
            },
            Some(job) = jobs.recv() => group.push(run(job)),
        }
    }
    Ok(())
}
// ---- end of the README's code ----

fn main() {
    futures::executor::block_on(async {
        let page = product_page(&Api { down: "none" }, 7).await;
        println!("all services up:  {page:?}");
        assert_eq!(
            page,
            Ok(Page {
                user: "users/7".into(),
                stock: "inventory/7".into(),
                price: "pricing/7 (cached)".into(),
            })
        );

        let page = product_page(&Api { down: "inventory" }, 7).await;
        println!("inventory down:   {page:?}");
        assert_eq!(page, Err(ApiError("inventory: 503".into())));

        let fetch = |id| async move { Ok(User(id)) };
        let group: ErrGroup<'_, User, ApiError> = (1..=3).map(fetch).collect();
        assert_eq!(stall(&Db, group).await, Ok(()));

        let mut group = ErrGroup::new();
        group.extend((1..=3).map(|id| async move { Ok(Step::Fetched(User(id))) }));
        assert_eq!(follow_ups(&Db, group).await, Ok(()));
    });

    // `select!` needs tokio; the jobs channel is closed, so the loop ends with the group.
    let (tx, jobs) = tokio::sync::mpsc::channel(1);
    drop(tx);
    let mut group = ErrGroup::new();
    group.push(run(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(select_loop(group, jobs)), Ok(()));
}
