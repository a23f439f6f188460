//! Retries of failed runs with exponential backoff: Dkron's `retries`, JobRunr's automatic
//! retries, Temporal's `RetryPolicy` (`initial_interval`, `backoff_coefficient`,
//! `maximum_interval`). APScheduler 3 has none (its issue #410).
//!
//! A run that fails (its task returned an error or panicked, it `timed_out`, or it `crashed`
//! with its instance or worker process) is run again for the same fire time after
//! [`RetryPolicy::delay`], up to `retries` more times. The pending retry is kept in the job's
//! store where the store records runs in progress (every shared store), so it survives a
//! restart or the death of the instance and runs once across instances; see
//! [`RunningRuns::reschedule_run`](crate::RunningRuns::reschedule_run).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most retries a job may ask for.
pub const MAX_RETRIES: u32 = 1000;

/// The longest `retry_delay` and `retry_max_delay`: a year.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);

/// How a job's failed runs are retried. The default retries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// How many times a failed run is run again (0 = never; at most [`MAX_RETRIES`]). A run
    /// is tried at most `retries + 1` times.
    pub retries: u32,
    /// The wait before the first retry (default 1 s; Temporal's `initial_interval`).
    #[serde(with = "crate::retry::secs")]
    pub delay: Duration,
    /// Each further retry waits this many times longer than the one before (default 2.0, at
    /// least 1.0; Temporal's `backoff_coefficient`).
    pub backoff: f64,
    /// The longest wait between attempts (default 1 h; Temporal's `maximum_interval`).
    #[serde(with = "crate::retry::secs")]
    pub max_delay: Duration,
    /// Waits are shortened by a random 0–20 % (default on), so jobs that failed together do
    /// not retry together.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            delay: Duration::from_secs(1),
            backoff: 2.0,
            max_delay: Duration::from_secs(3600),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Whether this is the default policy (no retries, default timings).
    pub fn is_default(&self) -> bool {
        *self == RetryPolicy::default()
    }

    /// Checks the policy.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the field:
    /// `retries` above [`MAX_RETRIES`], `retry_delay` of 0, `retry_backoff` below 1 or not a
    /// number, `retry_max_delay` below `retry_delay`.
    pub fn validate(&self) -> Result<()> {
        if self.retries > MAX_RETRIES {
            return Err(Error::invalid(
                "retries",
                format!("is {}; at most {MAX_RETRIES} are allowed", self.retries),
            ));
        }
        if self.delay.is_zero() {
            return Err(Error::invalid("retry_delay", "must be more than 0 seconds"));
        }
        if !self.backoff.is_finite() || self.backoff < 1.0 {
            return Err(Error::invalid(
                "retry_backoff",
                format!(
                    "must be a number of at least 1.0 (1.0 = the same wait each time), got {}",
                    self.backoff
                ),
            ));
        }
        for (field, value) in [
            ("retry_delay", self.delay),
            ("retry_max_delay", self.max_delay),
        ] {
            if value > MAX_RETRY_DELAY {
                return Err(Error::invalid(
                    field,
                    format!("is {value:?}; at most a year (366 days) is allowed"),
                ));
            }
        }
        if self.max_delay < self.delay {
            return Err(Error::invalid(
                "retry_max_delay",
                format!(
                    "is {:?}, shorter than retry_delay ({:?})",
                    self.max_delay, self.delay
                ),
            ));
        }
        Ok(())
    }

    /// Whether a run that failed at `attempt` (1-based) is tried again.
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt <= self.retries
    }

    /// The wait after failed attempt `attempt` (1-based): `delay × backoff^(attempt − 1)`, at
    /// most `max_delay`; with `jitter`, shortened by `random × 20 %` (`random` in `[0, 1)`).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.delay.as_secs_f64() * self.backoff.powi(exponent);
        let capped = seconds.min(self.max_delay.as_secs_f64());
        let jittered = if self.jitter {
            capped * (1.0 - 0.2 * random.clamp(0.0, 1.0))
        } else {
            capped
        };
        Duration::try_from_secs_f64(jittered).unwrap_or(self.max_delay)
    }
}

/// `Duration` as seconds (a number).
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = f64::deserialize(d)?;
        Duration::try_from_secs_f64(s).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a non-negative number of seconds, got {s}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let policy = RetryPolicy {
            retries: 5,
            delay: Duration::from_secs(2),
            backoff: 3.0,
            max_delay: Duration::from_secs(30),
            jitter: false,
        };
        let delays: Vec<u64> = (1..=5).map(|a| policy.delay(a, 0.5).as_secs()).collect();
        assert_eq!(delays, [2, 6, 18, 30, 30]);
        let jittered = RetryPolicy {
            jitter: true,
            ..policy
        };
        assert_eq!(jittered.delay(1, 0.0), Duration::from_secs(2));
        assert_eq!(jittered.delay(1, 0.5), Duration::from_millis(1800));
        assert!(jittered.delay(4, 0.999) >= Duration::from_secs(24));
        assert!(policy.retries_after(5) && !policy.retries_after(6));
    }

    #[test]
    fn bad_policies_name_the_field() {
        let field = |p: RetryPolicy| p.validate().unwrap_err().message().to_owned();
        assert!(
            field(RetryPolicy {
                retries: 5000,
                ..Default::default()
            })
            .starts_with("retries:")
        );
        assert!(
            field(RetryPolicy {
                delay: Duration::ZERO,
                ..Default::default()
            })
            .starts_with("retry_delay:")
        );
        assert!(
            field(RetryPolicy {
                backoff: 0.5,
                ..Default::default()
            })
            .starts_with("retry_backoff:")
        );
        assert!(
            field(RetryPolicy {
                backoff: f64::NAN,
                ..Default::default()
            })
            .starts_with("retry_backoff:")
        );
        assert!(
            field(RetryPolicy {
                max_delay: Duration::from_millis(10),
                ..Default::default()
            })
            .starts_with("retry_max_delay:")
        );
        assert!(
            field(RetryPolicy {
                delay: Duration::from_secs(10_000_000_000_000),
                max_delay: Duration::from_secs(10_000_000_000_000),
                ..Default::default()
            })
            .starts_with("retry_delay:")
        );
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
