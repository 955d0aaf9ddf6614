//! [`Kept`]: the results a group holds for `try_next` and its future.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Values that finished and have not been handed out yet, in completion order, with their push
/// indices: what `run_until` and a poll of the group future keep for `try_next` (oldest first)
/// and for the group future's final `Vec` (push order).
///
/// The indices are stored only when they have to be: while each value's index follows the one
/// before (ready tasks, and most groups, complete in push order) they are implied by `first`, and
/// the group's final `Vec` is `values` itself.
pub(crate) struct Kept<T> {
    values: VecDeque<T>,
    /// The index of `values[0]`, while the indices are implied.
    first: usize,
    /// The index of every value, once one arrived out of step; empty while they are implied.
    indices: VecDeque<usize>,
}

impl<T> Kept<T> {
    pub(crate) const fn new() -> Self {
        Kept {
            values: VecDeque::new(),
            first: 0,
            indices: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether the next [`push`](Self::push) allocates, and so wants to know how many values
    /// to expect.
    pub(crate) fn needs_room(&self) -> bool {
        self.values.capacity() == 0
    }

    /// Keeps `value` of the task with push index `index`; `expected` is how many are likely to
    /// come (read only when [`needs_room`](Self::needs_room)), so that a small group's results
    /// take one allocation.
    #[inline]
    pub(crate) fn push(&mut self, index: usize, value: T, expected: usize) {
        if self.values.capacity() == 0 {
            // Room for the group's results at once, up to a bound: past it, doubling by
            // `realloc` is cheaper than one large fresh allocation made while the allocator's
            // bins are full of freed task boxes.
            self.values.reserve_exact(expected.clamp(1, 64));
        }
        if !self.indices.is_empty() {
            self.indices.push_back(index);
        } else if self.values.is_empty() {
            self.first = index;
        } else if index != self.first.wrapping_add(self.values.len()) {
            // Out of step: from now on every index is kept.
            self.indices.reserve_exact(self.values.capacity());
            for k in 0..self.values.len() {
                self.indices.push_back(self.first.wrapping_add(k));
            }
            self.indices.push_back(index);
        }
        self.values.push_back(value);
    }

    /// The oldest value.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let value = self.values.pop_front()?;
        if self.indices.pop_front().is_none() {
            self.first = self.first.wrapping_add(1);
        }
        if self.values.is_empty() {
            // Handed out: nothing is held for results that are gone.
            *self = Kept::new();
        } else {
            fit(&mut self.values);
        }
        Some(value)
    }

    /// The values in push order; `next_index` is the index the next task would get.
    ///
    /// Indices wrap around (a long-lived group on a 32-bit target pushes more than 2³² tasks),
    /// so they are compared by their age, how far each lies behind `next_index`, which is right
    /// while fewer than `usize::MAX - 1` results are outstanding.
    pub(crate) fn into_vec(mut self, next_index: usize) -> Vec<T> {
        if self.indices.is_empty() {
            // `Vec::from` reuses the deque's buffer.
            return Vec::from(self.values);
        }
        let ages = self.indices.make_contiguous();
        // Ages, in place of the indices, and the range they span.
        let (mut youngest, mut oldest) = (usize::MAX, 0);
        for slot in ages.iter_mut() {
            let age = next_index.wrapping_sub(*slot);
            *slot = age;
            youngest = youngest.min(age);
            oldest = oldest.max(age);
        }
        let values = self.values.make_contiguous();
        if oldest - youngest + 1 == ages.len() {
            // Every index of a range, as when the group future collects all its tasks' results:
            // each value's place is its age, so the values are put there in place.
            for i in 0..ages.len() {
                loop {
                    let place = oldest - ages[i];
                    if place == i {
                        break;
                    }
                    ages.swap(i, place);
                    values.swap(i, place);
                }
            }
            Vec::from(self.values)
        } else {
            // Some were handed out by `try_next` in between: sort by age, oldest first.
            let mut pairs: Vec<(usize, T)> = self.indices.into_iter().zip(self.values).collect();
            pairs.sort_unstable_by_key(|&(age, _)| core::cmp::Reverse(age));
            pairs.into_iter().map(|(_, value)| value).collect()
        }
    }
}

/// Shrinks a queue that holds far fewer items than it has room for: to twice its length once it
/// has more than four times its length (and more than a small floor), so a queue that emptied
/// after a burst gives its memory back, and one that breathes in and out does not reallocate on
/// every change.
pub(crate) fn fit<T>(queue: &mut VecDeque<T>) {
    const FLOOR: usize = 16;
    if queue.capacity() > 4 * queue.len().max(FLOOR) {
        queue.shrink_to(2 * queue.len().max(FLOOR));
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;

    /// Push order survives the index wrapping around, indices on both sides of the wrap, for a
    /// whole range of indices (put in place) and for one with gaps (sorted).
    #[test]
    fn values_sort_across_the_wrap() {
        let first = usize::MAX - 2;
        let mut whole = Kept::new();
        for k in [3_usize, 0, 5, 2, 4, 1] {
            whole.push(first.wrapping_add(k), k, 6);
        }
        assert_eq!(whole.into_vec(first.wrapping_add(6)), [0, 1, 2, 3, 4, 5]);
        let mut gaps = Kept::new();
        for k in [7_usize, 0, 5, 2] {
            gaps.push(first.wrapping_add(k), k, 4);
        }
        assert_eq!(gaps.into_vec(first.wrapping_add(8)), [0, 2, 5, 7]);
    }

    /// A queue that emptied after a burst gives its memory back; a small one keeps its room.
    #[test]
    fn fit_shrinks_only_what_is_far_too_large() {
        let mut queue: alloc::collections::VecDeque<u32> = (0..10_000).collect();
        queue.truncate(3);
        super::fit(&mut queue);
        assert!(queue.capacity() <= 32, "{}", queue.capacity());
        let mut small: alloc::collections::VecDeque<u32> = (0..40).collect();
        small.truncate(20);
        let before = small.capacity();
        super::fit(&mut small);
        assert_eq!(small.capacity(), before);
    }
}
