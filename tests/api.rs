//! The public surface: auto traits of every public type (static assertions), `Default`, `Debug`,
//! the `errgroup!` macro, `FromIterator` and `Extend`.

use std::fmt;
use std::future::{ready, Future};
use std::marker::PhantomPinned;
use std::rc::Rc;

use errgroup::{errgroup, CancelToken, ErrGroup, Handle, LocalErrGroup, LocalHandle, PushError};
use futures::executor::block_on;
use futures::future::{BoxFuture, FusedFuture, FutureExt, LocalBoxFuture};
use static_assertions::{assert_impl_all, assert_not_impl_any};

// ---------------------------------------------------------------------------------------------
// Auto traits

/// A value that is `!Unpin`; a group of them must still be `Unpin`.
struct Pinned(#[allow(dead_code)] PhantomPinned);

/// A future with no `Debug` impl.
struct NoDebug;

impl Future for NoDebug {
    type Output = Result<u32, String>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(1))
    }
}

assert_impl_all!(ErrGroup<'static, u32, String>: Send, Unpin, Default, fmt::Debug, FusedFuture);
assert_impl_all!(ErrGroup<'static, Pinned, String>: Unpin);
assert_impl_all!(LocalErrGroup<'static, u32, String>: Unpin, Default, fmt::Debug, FusedFuture);
assert_impl_all!(LocalErrGroup<'static, Pinned, Rc<String>>: Unpin);
assert_not_impl_any!(LocalErrGroup<'static, u32, String>: Send, Sync);
assert_impl_all!(CancelToken: Clone, Send, Sync, fmt::Debug);
assert_impl_all!(Handle<'static, u32, String>: Clone, Send, Sync, fmt::Debug);
assert_impl_all!(LocalHandle<'static, u32, String>: Clone, fmt::Debug);
assert_impl_all!(errgroup::futures::Cancelled: Send, Unpin, fmt::Debug);
assert_impl_all!(PushError<NoDebug>: fmt::Debug, fmt::Display);
#[cfg(feature = "std")]
assert_impl_all!(PushError<NoDebug>: std::error::Error);

/// `'static` cannot be named in `assert_impl_all!`; these functions check it instead.
#[allow(dead_code)]
fn static_types() {
    fn is_static<T: 'static>() {}
    is_static::<CancelToken>();
    is_static::<errgroup::futures::Cancelled>();
    is_static::<ErrGroup<'static, u32, String>>();
}

// The `TryNext` future borrows the group mutably; it is `Send` when the group is.
assert_impl_all!(errgroup::futures::TryNext<'static, ErrGroup<'static, u32, String>>: Send, fmt::Debug);

// ---------------------------------------------------------------------------------------------
// Default, Debug

#[test]
fn default_is_an_empty_group_without_a_limit() {
    let group = ErrGroup::<u32, ()>::default();
    assert!(group.is_empty());
    assert_eq!(group.limit(), None);
    assert_eq!(block_on(group), Ok(vec![]));

    let group = LocalErrGroup::<u32, ()>::default();
    assert!(group.is_empty());
    assert_eq!(group.limit(), None);
    assert_eq!(block_on(group), Ok(vec![]));
}

/// `Debug` must print `len` (running, waiting and handed in through a handle), the limit and
/// whether and why the group ended, without requiring `Debug` of `T` or `E`.
#[test]
fn debug_shows_the_task_count_the_limit_and_how_the_group_ended() {
    struct Opaque; // neither T nor E needs Debug
    let mut group = ErrGroup::<Opaque, Opaque>::with_limit(2);
    for _ in 0..3 {
        group.push(async { Ok(Opaque) });
    }
    group.handle().push(async { Ok(Opaque) }).unwrap();
    assert_eq!(group.len(), 4);
    let debug = format!("{group:?}");
    assert!(debug.starts_with("ErrGroup"), "{debug}");
    assert!(debug.contains("len: 4"), "{debug}");
    assert!(debug.contains("limit: Some(2)"), "{debug}");
    assert!(debug.contains("ended: None"), "{debug}");

    assert!(block_on(&mut group).is_ok());
    let debug = format!("{group:?}");
    assert!(debug.contains("len: 0"), "{debug}");
    assert!(debug.contains("ended: Some(Finished)"), "{debug}");

    let group = LocalErrGroup::<Opaque, Opaque>::new();
    let debug = format!("{group:?}");
    assert!(debug.starts_with("LocalErrGroup"), "{debug}");
    assert!(debug.contains("len: 0"), "{debug}");
    assert!(debug.contains("limit: None"), "{debug}");
    assert!(debug.contains("ended: None"), "{debug}");
}

#[test]
fn push_error_debug_and_display_need_nothing_of_the_task() {
    let mut group = ErrGroup::<u32, String>::with_limit(1);
    group.push(NoDebug);
    let err = group.try_push(NoDebug).unwrap_err();
    assert!(format!("{err:?}").contains("PushError"));
    assert_eq!(err.to_string(), "the group is at its concurrency limit");
    assert_eq!(block_on(err.into_inner()), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// errgroup!, FromIterator, Extend

async fn named(n: u32) -> Result<u32, String> {
    Ok(n)
}

#[test]
fn errgroup_macro_builds_a_group_like_vec() {
    let empty: ErrGroup<'_, u32, String> = errgroup![];
    assert!(empty.is_empty());
    assert_eq!(block_on(empty), Ok(vec![]));

    let one = errgroup![async { Ok::<_, String>(1) },];
    assert_eq!(one.len(), 1);
    assert_eq!(block_on(one), Ok(vec![1]));

    let boxed: BoxFuture<'static, Result<u32, String>> = Box::pin(async { Ok(5) });
    let local = String::from("borrowed");
    let mixed = errgroup![
        async { Ok::<_, String>(1) },
        ready(Ok(2)),
        named(3),
        async { Ok(local.len() as u32 - 4) },
        boxed,
        named(5).map(|r| r.map(|n| n + 1)),
    ];
    assert_eq!(mixed.len(), 6);
    assert_eq!(block_on(mixed), Ok(vec![1, 2, 3, 4, 5, 6]));

    let failing = errgroup![named(1), async { Err("nope".to_string()) }, named(3)];
    assert_eq!(block_on(failing), Err("nope".to_string()));
}

#[test]
fn collect_is_try_join_all_for_any_futures() {
    let group: ErrGroup<'_, u32, String> = (0..10).map(named).collect();
    assert_eq!(group.len(), 10);
    assert_eq!(block_on(group), Ok((0..10).collect()));

    let mixed: Vec<BoxFuture<'static, Result<u32, String>>> = vec![
        Box::pin(named(0)),
        Box::pin(ready(Ok(1))),
        Box::pin(async { Ok(2) }),
    ];
    let group = mixed.into_iter().collect::<ErrGroup<'_, _, _>>();
    assert_eq!(block_on(group), Ok(vec![0, 1, 2]));

    let rcs: Vec<LocalBoxFuture<'static, Result<Rc<u32>, ()>>> = vec![
        Box::pin(async { Ok(Rc::new(1)) }),
        Box::pin(ready(Ok(Rc::new(2)))),
    ];
    let group: LocalErrGroup<'_, _, _> = rcs.into_iter().collect();
    let values = block_on(group).unwrap();
    assert_eq!(values.iter().map(|rc| **rc).collect::<Vec<_>>(), [1, 2]);

    let failing: ErrGroup<'_, u32, String> = (0..10)
        .map(|i| async move {
            if i == 7 {
                Err(format!("{i}"))
            } else {
                Ok(i)
            }
        })
        .collect();
    assert_eq!(block_on(failing), Err("7".to_string()));
}

#[test]
fn extend_appends_in_order_and_respects_the_limit() {
    let mut group = ErrGroup::<u32, String>::with_limit(2);
    group.push(named(0));
    group.extend((1..5).map(named));
    assert_eq!(group.len(), 5);
    assert_eq!(group.limit(), Some(2));
    assert!(group.try_push(named(9)).unwrap_err().is_full());
    group.extend([named(5), named(6)]);
    assert_eq!(block_on(group), Ok((0..7).collect()));

    let mut group = LocalErrGroup::<Rc<u32>, ()>::new();
    group.extend((0..3).map(|i| async move { Ok(Rc::new(i)) }));
    assert_eq!(block_on(group).unwrap().len(), 3);
}

/// Every misuse panic names the caller's line (`#[track_caller]` all the way down): a zero
/// limit, in `with_limit` and `set_limit`, and a push into a group that has ended, through
/// `push` and `extend`, on both fronts.
#[test]
fn misuse_panics_name_the_callers_line() {
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<(std::thread::ThreadId, String, u32)>> = Mutex::new(Vec::new());
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| match info.location() {
        Some(at) => SEEN.lock().unwrap().push((
            std::thread::current().id(),
            at.file().to_owned(),
            at.line(),
        )),
        None => default(info),
    }));
    let check = |what: &str, line: u32, misuse: &mut dyn FnMut()| {
        assert!(
            panic::catch_unwind(AssertUnwindSafe(misuse)).is_err(),
            "{what}: no panic"
        );
        let me = std::thread::current().id();
        // Read, then released before asserting: a failing assertion panics through the hook.
        let (_, file, at) = SEEN
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(id, ..)| *id == me)
            .cloned()
            .expect("a location");
        assert_eq!((file.as_str(), at), (file!(), line), "{what}");
    };
    let ended = || {
        let mut group = ErrGroup::<u32, ()>::new();
        futures::executor::block_on(&mut group).unwrap();
        group
    };
    let ended_local = || {
        let mut group = LocalErrGroup::<u32, ()>::new();
        futures::executor::block_on(&mut group).unwrap();
        group
    };
    check("ErrGroup::with_limit(0)", line!() + 1, &mut || {
        drop(ErrGroup::<u32, ()>::with_limit(0));
    });
    check("LocalErrGroup::with_limit(0)", line!() + 1, &mut || {
        drop(LocalErrGroup::<u32, ()>::with_limit(0));
    });
    let mut group = ErrGroup::<u32, ()>::new();
    check("ErrGroup::set_limit(Some(0))", line!() + 1, &mut || {
        group.set_limit(Some(0))
    });
    let mut local = LocalErrGroup::<u32, ()>::new();
    check(
        "LocalErrGroup::set_limit(Some(0))",
        line!() + 1,
        &mut || local.set_limit(Some(0)),
    );
    let mut group = ended();
    check("ErrGroup::push", line!() + 1, &mut || {
        group.push(async { Ok(1) })
    });
    let mut local = ended_local();
    check("LocalErrGroup::push", line!() + 1, &mut || {
        local.push(async { Ok(1) })
    });
    let mut group = ended();
    check("ErrGroup::extend", line!() + 1, &mut || {
        group.extend([async { Ok(1) }])
    });
    let mut group = ErrGroup::<u32, ()>::new();
    group.cancel();
    check("ErrGroup::push after cancel", line!() + 1, &mut || {
        group.push(async { Ok(1) })
    });
    let _ = panic::take_hook();
}
