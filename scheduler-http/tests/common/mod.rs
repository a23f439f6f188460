//! What the router tests share: a scheduler on a manual clock with a few tasks.

use chrono::{TimeZone as _, Utc};
use scheduler_core::{JobContext, ManualClock, Scheduler, TaskRegistry};
use serde_json::Value;
use store_memory::MemoryJobStore;

/// A stopped scheduler at 2026-11-20 09:40 UTC with tasks `rsched:log`, `app:add` (two
/// integers) and stand-ins named `rsched:exec` and `rsched:http` (the API must not schedule
/// them by default).
pub fn scheduler() -> Scheduler {
    scheduler_in(scheduler_core::TimeZone::utc())
}

/// As [`scheduler`], with `timezone` as the scheduler's zone (Flask-APScheduler's
/// `SCHEDULER_TIMEZONE`).
pub fn scheduler_in(timezone: scheduler_core::TimeZone) -> Scheduler {
    let mut registry = TaskRegistry::new();
    registry.register("rsched:log", |_ctx: JobContext, _args: Value| async move {
        Ok::<_, std::convert::Infallible>(())
    });
    registry.register("app:add", |_ctx: JobContext, (a, b): (i64, i64)| async move {
        Ok::<_, std::convert::Infallible>(a + b)
    });
    for name in ["rsched:exec", "rsched:http"] {
        registry.register(name, |_ctx: JobContext, _args: Value| async move {
            Ok::<_, std::convert::Infallible>(())
        });
    }
    Scheduler::builder()
        .registry(registry)
        .jobstore("default", MemoryJobStore::with_history())
        .clock(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 20, 9, 40, 0).unwrap(),
        ))
        .timezone(timezone)
        .build()
        .unwrap()
}
