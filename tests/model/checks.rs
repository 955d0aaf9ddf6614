//! The model's checks: what the log says about each task, and the invariants every step must
//! keep (results, starts, drops, state, polls following wake-ups, the limit).

use std::collections::HashSet;

use futures::future::FusedFuture;

use super::driver::{lock, Driver, Event};
use super::script::{End, Id};

/// What the model knows about one task, derived from the log.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskState {
    pub(crate) accepted: bool,
    pub(crate) refused: bool,
    pub(crate) via_handle: bool,
    pub(crate) from_task: bool,
    pub(crate) from_fut: bool,
    /// Log position of the push.
    pub(crate) push_at: usize,
    pub(crate) started_at: Option<usize>,
    pub(crate) end: Option<End>,
    pub(crate) drops: usize,
    pub(crate) dropped_unfinished_uncancelled: bool,
}

/// How the model places a task in push order: the log window in which the group gave it its
/// place (a single point for a direct push).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    pub(crate) via_handle: bool,
    pub(crate) at: usize,
    pub(crate) lo: usize,
    pub(crate) hi: usize,
}

/// The tasks that made progress in `events` (started, advanced, pushed, completed, were
/// dropped), `Id::MAX` standing for the `run_until` future: what a poll must not do unless it
/// was woken.
pub(crate) fn progress(events: &[Event]) -> Vec<Id> {
    let mut progress: Vec<Id> = events
        .iter()
        .filter_map(|e| match e {
            Event::PollBegin { .. }
            | Event::PollEnd
            | Event::Polled(_)
            | Event::Pending(_)
            | Event::Woken(_)
            | Event::FutPolled
            | Event::FutDropped => None,
            Event::Started(id)
            | Event::Advanced(id)
            | Event::Completed(id, _)
            | Event::Dropped { id, .. }
            | Event::Pushed(id)
            | Event::HandlePushed { id, .. }
            | Event::PushPanicked(id) => Some(*id),
            Event::FutAdvanced | Event::FutCompleted | Event::StopFired | Event::Violation(_) => {
                Some(Id::MAX)
            }
        })
        .collect();
    progress.dedup();
    progress
}

/// The tasks whose waker was woken after their last poll returned `Pending`, and that have not
/// been polled since.
pub(crate) fn woken_and_not_polled(events: &[Event]) -> Vec<Id> {
    // Per task: being polled (and woken during that poll), or waiting (and woken since).
    let mut stands: std::collections::BTreeMap<Id, (bool, bool)> = Default::default();
    for event in events {
        match *event {
            Event::Polled(id) => {
                stands.insert(id, (true, false));
            }
            Event::Woken(id) => {
                if let Some((_, woken)) = stands.get_mut(&id) {
                    *woken = true;
                }
            }
            Event::Pending(id) => {
                if let Some((polling, _)) = stands.get_mut(&id) {
                    *polling = false;
                }
            }
            Event::Completed(id, _) | Event::Dropped { id, .. } => {
                stands.remove(&id);
            }
            _ => {}
        }
    }
    stands
        .into_iter()
        .filter(|&(_, (polling, woken))| !polling && woken)
        .map(|(id, _)| id)
        .collect()
}

/// A task is polled again only after it woke: no poll without a wake-up in between.
pub(crate) fn check_polls_follow_wake_ups(events: &[Event]) -> Result<(), String> {
    /// Where a task stands between its polls.
    #[derive(Clone, Copy, PartialEq)]
    enum Stand {
        New,
        Polling { woken: bool },
        Waiting { woken: bool },
    }
    let mut stands: std::collections::HashMap<Id, Stand> = Default::default();
    for event in events {
        match *event {
            Event::Polled(id) => {
                let stand = stands.entry(id).or_insert(Stand::New);
                if *stand == (Stand::Waiting { woken: false }) {
                    return Err(format!("task {id} polled without having been woken"));
                }
                *stand = Stand::Polling { woken: false };
            }
            Event::Woken(id) => {
                if let Some(stand) = stands.get_mut(&id) {
                    *stand = match *stand {
                        Stand::Polling { .. } => Stand::Polling { woken: true },
                        _ => Stand::Waiting { woken: true },
                    };
                }
            }
            Event::Pending(id) => {
                if let Some(stand) = stands.get_mut(&id) {
                    let woken = matches!(*stand, Stand::Polling { woken: true });
                    *stand = Stand::Waiting { woken };
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What the log says about each task.
pub(crate) fn states_of(events: &[Event], tasks: usize) -> Vec<TaskState> {
    let mut states = vec![TaskState::default(); tasks];
    for (at, event) in events.iter().enumerate() {
        match *event {
            Event::Pushed(id) => {
                states[id].accepted = true;
                states[id].push_at = at;
            }
            Event::HandlePushed {
                id,
                accepted,
                from_task,
                from_fut,
            } => {
                let s = &mut states[id];
                s.accepted = accepted;
                s.refused = !accepted;
                s.via_handle = true;
                s.from_task = from_task;
                s.from_fut = from_fut;
                s.push_at = at;
            }
            Event::PushPanicked(id) => states[id].refused = true,
            Event::Started(id) => states[id].started_at = Some(at),
            Event::Completed(id, end) => states[id].end = Some(end),
            Event::Dropped {
                id,
                token_cancelled,
            } => {
                let s = &mut states[id];
                s.drops += 1;
                if s.end.is_none() && !token_cancelled {
                    s.dropped_unfinished_uncancelled = true;
                }
            }
            _ => {}
        }
    }
    states
}

/// Whether task `a` certainly comes before task `b` in push order.
pub(crate) fn precedes(a: Place, b: Place) -> bool {
    match (a.via_handle, b.via_handle) {
        // Direct pushes take their place at once; handle pushes arrive in the order they were made.
        (false, false) | (true, true) => a.at < b.at,
        (false, true) => a.at < b.lo,
        (true, false) => a.hi < b.at,
    }
}

impl Driver {
    pub(crate) fn check_output(&self, values: &[Id]) -> Result<(), String> {
        let states = self.states();
        let mut expected: Vec<Id> = (0..states.len())
            .filter(|&id| states[id].end == Some(End::Ok) && !self.taken.contains(&id))
            .collect();
        if let Some(id) =
            (0..states.len()).find(|&id| states[id].accepted && states[id].end.is_none())
        {
            return Err(format!(
                "group returned Ok({values:?}) with task {id} unfinished"
            ));
        }
        let mut got = values.to_vec();
        got.sort_unstable();
        expected.sort_unstable();
        if got != expected {
            return Err(format!(
                "group returned {values:?}; expected the values {expected:?} in push order"
            ));
        }
        let places = self.places();
        for (i, &a) in values.iter().enumerate() {
            for &b in &values[i + 1..] {
                if precedes(places[b], places[a]) {
                    return Err(format!(
                        "group returned {values:?}: task {b} was pushed before task {a}"
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let events = self.events();
        if let Some(Event::Violation(v)) = events.iter().find(|e| matches!(e, Event::Violation(_)))
        {
            return Err(v.clone());
        }
        if self.token.is_cancelled() != self.finished {
            return Err(format!(
                "token cancelled = {}, but the group finished = {}",
                self.token.is_cancelled(),
                self.finished
            ));
        }
        if self.token.cause() != self.cause {
            return Err(format!(
                "token cause = {:?}, but the group ended with {:?}",
                self.token.cause(),
                self.cause
            ));
        }
        if self.handle.is_closed() != self.finished {
            return Err(format!(
                "handle closed = {}, but the group finished = {}",
                self.handle.is_closed(),
                self.finished
            ));
        }
        let states = self.states();
        if let Some(group) = &self.group {
            if group.is_terminated() != self.finished {
                return Err(format!(
                    "is_terminated = {}, but the group finished = {}",
                    group.is_terminated(),
                    self.finished
                ));
            }
            let unfinished = if self.finished {
                0
            } else {
                states
                    .iter()
                    .filter(|s| s.accepted && s.end.is_none())
                    .count()
            };
            if group.len() != unfinished {
                return Err(format!(
                    "len() = {}, expected {unfinished} (finished = {})",
                    group.len(),
                    self.finished
                ));
            }
        }
        for (id, s) in states.iter().enumerate() {
            if s.drops > 1 {
                return Err(format!("task {id} dropped {} times", s.drops));
            }
            if s.dropped_unfinished_uncancelled {
                return Err(format!(
                    "task {id} dropped unfinished before the token fired"
                ));
            }
            let must_be_dropped = self.finished || s.refused || s.end.is_some();
            if must_be_dropped != (s.drops == 1) {
                return Err(format!(
                    "task {id}: dropped = {}, but finished = {}, refused = {}, ended = {:?}",
                    s.drops, self.finished, s.refused, s.end
                ));
            }
            if s.from_task && s.refused {
                return Err(format!("task {id}: a push from a running task was refused"));
            }
        }
        // No task is polled once one has failed.
        if let Some(fail) = events
            .iter()
            .position(|e| matches!(e, Event::Completed(_, End::Err | End::Panic)))
        {
            if let Some(Event::Polled(id)) = events[fail + 1..]
                .iter()
                .find(|e| matches!(e, Event::Polled(_)))
            {
                return Err(format!("task {id} polled after the group failed"));
            }
        }
        if let Some(limit) = self.limit {
            self.check_limit(&events, limit, &states)?;
        }
        check_polls_follow_wake_ups(&events)
    }

    /// At most `limit` tasks running at once, started in push order.
    pub(crate) fn check_limit(
        &self,
        events: &[Event],
        limit: usize,
        states: &[TaskState],
    ) -> Result<(), String> {
        let mut running = HashSet::new();
        for event in events {
            match *event {
                Event::Started(id) => {
                    running.insert(id);
                    if running.len() > limit {
                        return Err(format!(
                            "{} tasks running at once ({running:?}), limit {limit}",
                            running.len()
                        ));
                    }
                }
                Event::Completed(id, _) | Event::Dropped { id, .. } => {
                    running.remove(&id);
                }
                _ => {}
            }
        }
        let places = self.places();
        for (b, sb) in states.iter().enumerate() {
            let Some(b_start) = sb.started_at else {
                continue;
            };
            for (a, sa) in states.iter().enumerate() {
                if sa.accepted && precedes(places[a], places[b]) {
                    match sa.started_at {
                        Some(a_start) if a_start < b_start => {}
                        _ => {
                            return Err(format!(
                                "under limit {limit}, task {b} started before task {a}, \
                                 which was pushed first"
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Where each task sits in push order (see [`Place`]).
    pub(crate) fn places(&self) -> Vec<Place> {
        let w = lock(&self.world);
        let states = states_of(&w.events, w.next_id);
        let polls: Vec<(usize, bool)> = w
            .events
            .iter()
            .enumerate()
            .filter_map(|(at, e)| match e {
                Event::PollBegin { receiving } => Some((at, *receiving)),
                _ => None,
            })
            .collect();
        states
            .iter()
            .map(|s| {
                let at = s.push_at;
                if !s.via_handle {
                    return Place {
                        via_handle: false,
                        at,
                        lo: at,
                        hi: at,
                    };
                }
                // A push from the test waits for a poll; one from inside a task, or from the
                // future `run_until` runs, may be received later in the same poll. Either way
                // it is in by the next poll that receives.
                let next_poll = polls.iter().find(|&&(p, _)| p > at).map(|&(p, _)| p);
                let next_receiving = polls.iter().find(|&&(p, r)| p > at && r).map(|&(p, _)| p);
                Place {
                    via_handle: true,
                    at,
                    lo: if s.from_task || s.from_fut {
                        at
                    } else {
                        next_poll.unwrap_or(usize::MAX)
                    },
                    hi: next_receiving.unwrap_or(usize::MAX),
                }
            })
            .collect()
    }
}
