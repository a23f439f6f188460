//! The engine reads time only through a [`Clock`], so tests can drive it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// A boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time and of sleeps until an instant.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant (UTC).
    fn now(&self) -> DateTime<Utc>;

    /// Resolves at or after `deadline` by this clock. Callers re-read [`Clock::now`] when it
    /// resolves (a wall clock can be stepped), so resolving early is allowed.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep;
}

/// Longest single sleep of [`SystemClock`]: the wall clock is re-read at least this often, so a
/// stepped system clock (NTP, suspend) is noticed.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The system's wall clock, sleeping with tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let wait = (deadline - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when told: for tests. Sleeps resolve when [`ManualClock::advance`]
/// or [`ManualClock::set`] passes their deadline.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: Mutex<DateTime<Utc>>,
    moved: Notify,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualClock({})", self.now())
    }
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                now: Mutex::new(now),
                moved: Notify::new(),
            }),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        {
            let mut now = self.inner.now.lock().unwrap_or_else(|e| e.into_inner());
            *now = now.checked_add_signed(by).unwrap_or(*now);
        }
        self.inner.moved.notify_waiters();
    }

    /// Sets the clock to `to` (forward or backward).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.inner.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
        self.inner.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.inner.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let inner = self.inner.clone();
        Box::pin(async move {
            loop {
                let moved = inner.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if *inner.now.lock().unwrap_or_else(|e| e.into_inner()) >= deadline {
                    return;
                }
                moved.await;
            }
        })
    }
}
