#![doc = include_str!("../README.md")]

pub mod calendar;
mod civil;
pub mod clock;
mod datespec;
pub mod duration;
mod error;
pub mod event;
pub mod executor;
pub mod flat;
mod fmt;
pub mod history;
pub mod job;
pub mod registry;
pub mod retry;
pub mod scheduler;
pub mod store;
pub mod trigger;
mod tz;

pub use calendar::{Calendars, ExclusionCalendar};
pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::{DurationValue, GraceTime};
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventBus, EventMask};
pub use executor::{AsyncExecutor, Executor, JobRun};
pub use fmt::{py_datetime, timedelta as format_timedelta};
pub use history::{PruneCounter, Retention, RunOutcome, RunRecord};
pub use job::{Job, JobChanges, JobDefaults, JobSpec, Overlap, validate_tags};
pub use registry::{Call, JobContext, TaskError, TaskRegistry};
pub use retry::RetryPolicy;
pub use scheduler::{
    BackgroundScheduler, BlockingScheduler, ClockSkew, EngineOptions, Scheduler, SchedulerBuilder,
    SchedulerState,
};
pub use store::{
    CalendarStore, Capabilities, ChangeListener, ChangeNotifications, JobCursor, JobPage, JobQuery,
    JobSort, JobStatus, JobStore, PENDING_OWNER, QUEUED_OWNER, QuarantineListener, QuarantineSlot,
    QuarantinedJob, Release, RunHistory, RunningRun, RunningRuns, StopRequest,
};
pub use trigger::{BuiltinTrigger, Trigger, isoformat};
pub use tz::TimeZone;
