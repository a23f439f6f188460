//! Clock skew between this instance and its shared stores.
//!
//! Every instance judges due times and lease expiry by its clock, so one instance whose clock
//! runs ahead would take every due job early and take over leases that other instances still
//! hold. Quartz documents that its cluster nodes' clocks must agree within a second and leaves
//! it at that; rsched measures instead. At start and every `lease / 3` (the heartbeat's
//! cadence) the engine reads each store's server clock ([`JobStore::server_time`]) and the
//! offset between it and this host's clock; from then on the scheduler's clock is this host's
//! clock plus the offset of the first store that has a clock (the `"default"` store, usually).
//! So every instance, whatever its own clock says, fires jobs and expires leases by one clock:
//! the store's. An offset past [`WARN_OFFSET`] is logged as a WARN (the host's clock should be
//! fixed: its logs and the run history's times are judged by the store's clock meanwhile).
//!
//! A store with a server clock is not used for jobs until one measurement has succeeded, so an
//! instance never acts on its own clock before it knows how far off it is. Stores that share
//! this host's clock (memory, SQLite) are never measured.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Inner;
use crate::clock::{Clock, Sleep};

/// An offset from a store's clock larger than this is logged as a WARN.
pub(crate) const WARN_OFFSET: Duration = Duration::from_secs(1);

/// A measurement whose round trip took longer than this is not trusted (it is kept from
/// replacing a better one).
const MAX_ROUND_TRIP: Duration = Duration::from_secs(2);

/// How far this instance's clock is from a store server's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSkew {
    /// The job store whose server clock was read.
    pub jobstore: Arc<str>,
    /// The store's clock minus this host's clock: positive when this host's clock is behind,
    /// negative when it is ahead. The scheduler adds it to this host's clock.
    pub offset: chrono::Duration,
    /// How far the measurement may be off: half its round trip.
    pub uncertainty: Duration,
    /// When it was measured, by the store's clock (UTC).
    pub measured_at: DateTime<Utc>,
}

impl ClockSkew {
    /// The offset's size in seconds, signed as [`ClockSkew::offset`].
    pub fn offset_seconds(&self) -> f64 {
        self.offset.num_microseconds().map_or_else(
            || self.offset.num_seconds() as f64,
            |us| us as f64 / 1_000_000.0,
        )
    }

    /// Whether the offset is past [`WARN_OFFSET`].
    fn is_off(&self) -> bool {
        self.offset.abs() > chrono::Duration::from_std(WARN_OFFSET).unwrap_or_default()
    }

    /// What to tell the user when the offset is past 1 s (the scheduler's WARN log, the API's
    /// `healthz`), else `None`.
    pub fn warning(&self) -> Option<String> {
        let offset = self.offset_seconds();
        self.is_off().then(|| {
            format!(
                "this host's clock is {:.3} s {} the clock of job store '{}'; jobs are scheduled by the store's clock: fix this host's clock (NTP)",
                offset.abs(),
                if offset < 0.0 { "ahead of" } else { "behind" },
                self.jobstore
            )
        })
    }
}

/// The scheduler's clock: the base clock (the system's, or a test's) plus the offset measured
/// from the reference store.
#[derive(Debug)]
pub(crate) struct StoreClock {
    base: Arc<dyn Clock>,
    /// Whether to measure and follow the stores' clocks at all.
    follow: bool,
    /// The offset applied, in microseconds.
    offset_us: AtomicI64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per store (by index): the latest trusted measurement.
    skews: Vec<Option<ClockSkew>>,
    /// Per store: it answered that it shares this host's clock.
    host_clock: Vec<bool>,
    /// When to measure again, by the base clock.
    next: Option<DateTime<Utc>>,
    /// The offset last warned about, to warn once per change rather than every measurement.
    warned: Option<chrono::Duration>,
}

impl StoreClock {
    pub(crate) fn new(base: Arc<dyn Clock>, follow: bool, stores: usize) -> StoreClock {
        StoreClock {
            base,
            follow,
            offset_us: AtomicI64::new(0),
            state: Mutex::new(State {
                skews: vec![None; stores],
                host_clock: vec![false; stores],
                ..State::default()
            }),
        }
    }

    fn offset(&self) -> chrono::Duration {
        chrono::Duration::microseconds(self.offset_us.load(Ordering::Acquire))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The measurement the clock follows, if any.
    pub(crate) fn reference(&self) -> Option<ClockSkew> {
        self.state().skews.iter().flatten().next().cloned()
    }

    /// Every store's latest measurement, in store order.
    pub(crate) fn all(&self) -> Vec<ClockSkew> {
        self.state().skews.iter().flatten().cloned().collect()
    }

    /// Per store: whether jobs may be taken from it, i.e. it shares this host's clock or its
    /// clock has been measured.
    fn ready(&self) -> Vec<bool> {
        let state = self.state();
        state
            .skews
            .iter()
            .zip(&state.host_clock)
            .map(|(skew, host)| !self.follow || *host || skew.is_some())
            .collect()
    }
}

impl Clock for StoreClock {
    fn now(&self) -> DateTime<Utc> {
        let now = self.base.now();
        now.checked_add_signed(self.offset()).unwrap_or(now)
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let base = deadline
            .checked_sub_signed(self.offset())
            .unwrap_or(deadline);
        self.base.sleep_until(base)
    }
}

/// Measures the stores' clocks when due (or at once with `force`); returns, per store, whether
/// jobs may be taken from it (see [`StoreClock`]).
pub(super) async fn refresh(inner: &Inner, force: bool) -> Vec<bool> {
    let clock = &inner.store_clock;
    if !clock.follow {
        return vec![true; inner.stores.len()];
    }
    let due = {
        let state = clock.state();
        force || state.next.is_none_or(|next| clock.base.now() >= next)
    };
    if !due {
        return clock.ready();
    }
    for (index, (alias, store)) in inner.stores.iter().enumerate() {
        if clock.state().host_clock[index] {
            continue;
        }
        let sent = clock.base.now();
        let answer = store.server_time().await;
        let received = clock.base.now();
        let round_trip = (received - sent).to_std().unwrap_or(Duration::ZERO);
        match answer {
            Ok(None) => clock.state().host_clock[index] = true,
            Ok(Some(server)) => {
                let half = round_trip / 2;
                let local_mid =
                    sent + chrono::Duration::from_std(half).unwrap_or(chrono::Duration::zero());
                let skew = ClockSkew {
                    jobstore: alias.clone(),
                    offset: server - local_mid,
                    uncertainty: half,
                    measured_at: server,
                };
                let mut state = clock.state();
                let trusted = round_trip <= MAX_ROUND_TRIP || state.skews[index].is_none();
                if trusted {
                    state.skews[index] = Some(skew);
                } else {
                    tracing::debug!(
                        "Ignoring a clock reading of job store {alias:?} that took {round_trip:?}"
                    );
                }
            }
            Err(e) => {
                tracing::warn!("Could not read the clock of job store {alias:?}: {e}");
            }
        }
    }
    let ready = clock.ready();
    let mut state = clock.state();
    // A store not measured yet is tried again at the next pass.
    state.next = ready.iter().all(|r| *r).then(|| {
        clock.base.now()
            + chrono::Duration::from_std(inner.options.lease / 3)
                .unwrap_or(chrono::Duration::seconds(10))
    });
    let measured: Vec<&ClockSkew> = state.skews.iter().flatten().collect();
    if let Some(reference) = measured.first() {
        let offset = reference.offset;
        clock
            .offset_us
            .store(offset.num_microseconds().unwrap_or(0), Ordering::Release);
        for other in &measured[1..] {
            if (other.offset - offset).abs()
                > chrono::Duration::from_std(WARN_OFFSET).unwrap_or_default()
            {
                tracing::warn!(
                    "The clocks of job stores {:?} and {:?} differ by {:.3} s; this instance follows {:?}'s",
                    reference.jobstore,
                    other.jobstore,
                    (other.offset - offset).abs().num_milliseconds() as f64 / 1000.0,
                    reference.jobstore,
                );
            }
        }
        let warning = reference.warning();
        let jobstore = reference.jobstore.clone();
        let changed = state
            .warned
            .is_none_or(|w| (w - offset).abs() > chrono::Duration::seconds(1));
        if let (Some(warning), true) = (&warning, changed) {
            tracing::warn!(clock_offset = reference.offset_seconds(), "{warning}");
            state.warned = Some(offset);
        } else if warning.is_none() && state.warned.is_some() {
            tracing::info!(
                "This host's clock agrees with the clock of job store {jobstore:?} again (within {:.3} s)",
                offset.abs().num_milliseconds() as f64 / 1000.0
            );
            state.warned = None;
        }
    }
    ready
}
