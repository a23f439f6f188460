//! Lease arithmetic every store shares, so each computes expiry and wake-ups the same way.
//!
//! Stores keep times as microseconds since the Unix epoch (UTC) in their own columns, keys or
//! fields; these helpers work on both forms.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// When a lease taken at `now` for `lease` expires, in µs since the epoch (UTC), saturating
/// at `i64::MAX` for absurd leases rather than wrapping.
pub fn expiry_micros(now: DateTime<Utc>, lease: Duration) -> i64 {
    now.timestamp_micros()
        .saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX))
}

/// When a lease taken at `now` for `lease` expires (UTC), saturating at the latest time
/// chrono represents.
pub fn expiry(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// What [`JobStore::get_next_run_time`](super::JobStore::get_next_run_time) answers: the
/// earlier of the first due time of a job nobody holds and the first lease expiry — a lease
/// that expires must wake the engine, so it can take the job over.
pub fn next_wakeup<T: Ord>(due: Option<T>, lease_expiry: Option<T>) -> Option<T> {
    match (due, lease_expiry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_adds_the_lease_and_saturates() {
        let now = DateTime::from_timestamp_micros(1_000_000).unwrap();
        assert_eq!(expiry_micros(now, Duration::from_secs(30)), 31_000_000);
        assert_eq!(expiry_micros(now, Duration::MAX), i64::MAX);
        assert_eq!(
            expiry(now, Duration::from_secs(30)).timestamp_micros(),
            31_000_000
        );
        assert_eq!(expiry(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn next_wakeup_is_the_earlier_of_due_and_lease_expiry() {
        assert_eq!(next_wakeup(Some(5), Some(3)), Some(3));
        assert_eq!(next_wakeup(Some(5), None), Some(5));
        assert_eq!(next_wakeup(None, Some(3)), Some(3));
        assert_eq!(next_wakeup::<i64>(None, None), None);
    }
}
