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
    group.push(api.get("users", id)); // futures of any types, each returning
    group.push(api.get("inventory", id)); // Result<Json, ApiError>, borrowing the caller's data
    group.push(async { Ok(api.cached("pricing", id)) });
    // All answers in push order, or the first error with every other call already dropped.
    let [user, stock, price] = <[Json; 3]>::try_from(group.await?).unwrap();
    Ok(Page { user, stock, price })
}
// ---- end of the README's first example ----

// ---- the README's section "Tasks run only while the group is polled: `run_until`" ----

#[derive(Debug, PartialEq)]
struct User(u32);

/// A database whose `save` takes a while.
struct Db;

impl Db {
    async fn save(&self, user: &User) -> Result<(), ApiError> {
        let _ = user.0;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
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

/// The answer: `run_until` drives the group while `save` runs.
async fn no_stall(db: &Db, mut group: ErrGroup<'_, User, ApiError>) -> Result<(), ApiError> {
    while let Some(user) = group.try_next().await? {
        group.run_until(db.save(&user)).await??; // the other fetches carry on meanwhile
    }
    Ok(())
}

/// Go starts a call at `g.Go`: `run_until` overlaps the caller's own call with the group's.
async fn overlap(api: &Api, id: u64) -> Result<(Json, Vec<Json>), ApiError> {
    let mut group = ErrGroup::new();
    group.push(api.get("users", id));
    group.push(api.get("orders", id));
    let prefs = group.run_until(api.get("prefs", id)).await??; // all three calls in flight
    let rest = group.await?;
    Ok((prefs, rest))
}

async fn run(job: u32) -> Result<Json, ApiError> {
    Ok(format!("job {job} done"))
}

/// A producer outside the group feeds it through a handle while `run_until` drives both.
async fn producer(mut jobs: tokio::sync::mpsc::Receiver<u32>) -> Result<Vec<Json>, ApiError> {
    let mut group = ErrGroup::new();
    let handle = group.handle();
    group
        .run_until(async move {
            while let Some(job) = jobs.recv().await {
                handle.push(run(job)).map_err(|e| ApiError(e.to_string()))?;
            }
            Ok::<_, ApiError>(())
        })
        .await??;
    group.await // the jobs still running, then every result in arrival order
}

enum Step {
    Fetched(User),
    Saved,
}

/// Another fix: the slow follow-up becomes a task of the same group.
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

/// `tokio::select!` on the group and a job channel: the group is skipped while it is empty,
/// and the loop ends once the channel has closed and every job has run.
async fn select_loop(
    mut group: ErrGroup<'_, Json, ApiError>,
    mut jobs: tokio::sync::mpsc::Receiver<u32>,
) -> Result<(), ApiError> {
    loop {
        tokio::select! {
            Some(job) = jobs.recv() => group.push(run(job)),
            next = group.try_next(), if !group.is_empty() => {
                if let Some(result) = next? {
                    report(result);
                }
            }
            else => break, // the channel is closed and the group is empty
        }
    }
    Ok(())
}

/// The same loop with `futures::select!`, which skips an empty group by itself.
async fn futures_select_loop(
    mut group: ErrGroup<'_, Json, ApiError>,
    mut jobs: futures::channel::mpsc::Receiver<u32>,
) -> Result<(), ApiError> {
    use futures::StreamExt;
    loop {
        futures::select! {
            job = jobs.next() => if let Some(job) = job {
                group.push(run(job));
            },
            next = group.try_next() => if let Some(result) = next? {
                report(result);
            },
            complete => break, // the channel is closed and the group is empty
        }
    }
    Ok(())
}

// ---- the README's section "Results of different types" ----

#[derive(Debug, PartialEq)]
struct Order(u32);

#[derive(Debug, PartialEq)]
struct Dashboard {
    user: User,
    orders: Vec<Order>,
}

impl Api {
    async fn user(&self, id: u64) -> Result<User, ApiError> {
        Ok(User(id as u32))
    }

    async fn orders(&self, id: u64) -> Result<Vec<Order>, ApiError> {
        if self.down == "orders" {
            return Err(ApiError("orders: 503".into()));
        }
        Ok(vec![Order(id as u32 * 10), Order(id as u32 * 10 + 1)])
    }
}

/// Go's idiom: each task writes into a variable it borrowed.
async fn dashboard(api: &Api, id: u64) -> Result<Dashboard, ApiError> {
    let mut user = None;
    let mut orders = Vec::new();
    let mut group = ErrGroup::new();
    group.push(async {
        user = Some(api.user(id).await?);
        Ok::<_, ApiError>(())
    });
    group.push(async {
        orders = api.orders(id).await?;
        Ok(())
    });
    group.await?; // the tasks, and their borrows of `user` and `orders`, end here
    Ok(Dashboard {
        user: user.unwrap(), // set: the group returned `Ok`, so every task ran to the end
        orders,
    })
}

/// One enum for the results.
enum Part {
    User(User),
    Orders(Vec<Order>),
}

async fn dashboard_enum(api: &Api, id: u64) -> Result<Dashboard, ApiError> {
    let mut group = ErrGroup::new();
    group.push(async { api.user(id).await.map(Part::User) });
    group.push(async { api.orders(id).await.map(Part::Orders) });
    let (mut user, mut orders) = (None, vec![]);
    for part in group.await? {
        match part {
            Part::User(u) => user = Some(u),
            Part::Orders(o) => orders = o,
        }
    }
    Ok(Dashboard {
        user: user.unwrap(),
        orders,
    })
}

/// A fixed set of differently typed calls: `try_join!`.
async fn dashboard_try_join(api: &Api, id: u64) -> Result<Dashboard, ApiError> {
    let (user, orders) = futures::try_join!(api.user(id), api.orders(id))?;
    Ok(Dashboard { user, orders })
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

        let api = Api { down: "none" };
        let expected = Dashboard {
            user: User(7),
            orders: vec![Order(70), Order(71)],
        };
        assert_eq!(dashboard(&api, 7).await, Ok(expected));
        assert_eq!(dashboard_enum(&api, 7).await.map(|d| d.orders.len()), Ok(2));
        assert_eq!(
            dashboard_try_join(&api, 7).await.map(|d| d.user),
            Ok(User(7))
        );
        let down = Api { down: "orders" };
        assert_eq!(
            dashboard(&down, 7).await,
            Err(ApiError("orders: 503".into()))
        );
        println!("dashboards:       captured variables, an enum and try_join! agree");
    });

    // The rest needs tokio: its timer (the database) and its channel.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fetch = |id| async move { Ok(User(id)) };
        let group: ErrGroup<'_, User, ApiError> = (1..=3).map(fetch).collect();
        assert_eq!(stall(&Db, group).await, Ok(()));
        let group: ErrGroup<'_, User, ApiError> = (1..=3).map(fetch).collect();
        assert_eq!(no_stall(&Db, group).await, Ok(()));
        let mut group = ErrGroup::new();
        group.extend((1..=3).map(|id| async move { Ok(Step::Fetched(User(id))) }));
        assert_eq!(follow_ups(&Db, group).await, Ok(()));

        let (prefs, rest) = overlap(&Api { down: "none" }, 7).await.unwrap();
        assert_eq!((prefs.as_str(), rest.len()), ("prefs/7", 2));

        // Five jobs are already waiting when the loops start, and the senders then close: both
        // loops run all of them (a loop that stopped at the first empty moment would run one).
        let (tx, jobs) = tokio::sync::mpsc::channel(8);
        for job in 1..=5 {
            tx.send(job).await.unwrap();
        }
        drop(tx);
        let mut group = ErrGroup::new();
        group.push(run(0));
        assert_eq!(select_loop(group, jobs).await, Ok(()));

        let (mut tx, jobs) = futures::channel::mpsc::channel(8);
        for job in 1..=5 {
            futures::SinkExt::send(&mut tx, job).await.unwrap();
        }
        drop(tx);
        assert_eq!(futures_select_loop(ErrGroup::new(), jobs).await, Ok(()));

        let (tx, jobs) = tokio::sync::mpsc::channel(8);
        let feeder = tokio::spawn(async move {
            for job in 1..=4 {
                tx.send(job).await.unwrap();
            }
        });
        let results = producer(jobs).await;
        feeder.await.unwrap();
        assert_eq!(results.map(|r| r.len()), Ok(4));
        println!("run_until:        the save loop, the overlap and the producer all ran");
    });
}
