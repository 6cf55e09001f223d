//! The memory budget shared by every connection's protocol buffers
//! (`limits.protocol_buffer_bytes`): RTMP reassembly may hold up to 16 MiB of
//! unfinished messages per connection, so many connections together could
//! otherwise take all memory.
//!
//! A connection holds a [`Reservation`] and resizes it to what its session
//! reports buffered after each read ([`Reservation::resize`]); growing past the
//! budget fails (the caller closes that connection), shrinking and dropping
//! give bytes back. The limit is passed in on each grow, so a changed
//! configuration applies at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes reserved by all connections together.
#[derive(Debug, Default)]
pub struct BufferBudget {
    used: AtomicU64,
}

/// A grow that would take the budget past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the protocol buffer budget is spent: {wanted} bytes more asked, {used} of {limit} in use \
     (limits.protocol_buffer_bytes)"
)]
pub struct BudgetExceeded {
    pub wanted: u64,
    pub used: u64,
    pub limit: u64,
}

impl BufferBudget {
    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty reservation against `budget`.
    pub fn reservation(budget: &Arc<BufferBudget>) -> Reservation {
        Reservation {
            budget: budget.clone(),
            held: 0,
        }
    }
}

/// What one connection holds of the budget; dropping it gives it all back.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BufferBudget>,
    held: u64,
}

impl Reservation {
    /// Makes the reservation `want` bytes: shrinking always succeeds; growing
    /// succeeds only while all reservations together stay within `limit`
    /// (otherwise nothing changes).
    pub fn resize(&mut self, want: u64, limit: u64) -> Result<(), BudgetExceeded> {
        if want <= self.held {
            self.budget
                .used
                .fetch_sub(self.held - want, Ordering::AcqRel);
            self.held = want;
            return Ok(());
        }
        let more = want - self.held;
        self.budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|total| *total <= limit)
            })
            .map_err(|used| BudgetExceeded {
                wanted: more,
                used,
                limit,
            })?;
        self.held = want;
        Ok(())
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.held
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_the_limit_and_gives_back() {
        let budget = Arc::new(BufferBudget::default());
        let mut a = BufferBudget::reservation(&budget);
        let mut b = BufferBudget::reservation(&budget);
        a.resize(60, 100).unwrap();
        let err = b.resize(50, 100).unwrap_err();
        assert_eq!((err.wanted, err.used, err.limit), (50, 60, 100));
        assert_eq!(b.held(), 0);
        b.resize(40, 100).unwrap();
        a.resize(10, 100).unwrap();
        assert_eq!(budget.used(), 50);
        drop(a);
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
