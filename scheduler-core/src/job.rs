//! The job model: APScheduler 3's `Job`, with its fields and defaults.
//!
//! A [`Job`] names its task by string (`func = "reports:daily"`), never by closure, so a stored
//! job survives restarts: the task registry maps the name back to a handler. Build one with
//! [`JobSpec`] (the arguments of APScheduler's `add_job`) and change one with [`JobChanges`]
//! (`modify_job`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::calendar::Calendars;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::trigger::{BuiltinTrigger, DateSpec, Trigger};

/// The longest job id accepted (the longest string a MySQL utf8mb4 unique index holds).
pub const MAX_JOB_ID_LEN: usize = 191;

/// The version of the persisted job state this build writes (see [`Job`]'s serde form).
pub const JOB_STATE_VERSION: u32 = 1;

/// Defaults for the options a job does not set: APScheduler 3's `job_defaults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobDefaults {
    /// How late a run may start and still run; `None` = no limit. APScheduler default: 1 s.
    #[serde(with = "opt_seconds")]
    pub misfire_grace_time: Option<Duration>,
    /// Run once instead of once per missed run time. APScheduler default: `true`.
    pub coalesce: bool,
    /// How many runs of one job may execute at once. APScheduler default: 1.
    pub max_instances: u32,
}

impl Default for JobDefaults {
    fn default() -> Self {
        JobDefaults {
            misfire_grace_time: Some(Duration::from_secs(1)),
            coalesce: true,
            max_instances: 1,
        }
    }
}

/// What happens when a job's fire time comes while `max_instances` of its runs are running
/// (Temporal's schedule overlap policies, with its names and meanings). `max_instances` is the
/// number of concurrent runs a policy guards.
///
/// Queued fire times (`buffer_one`, `buffer_all`, `cancel_other`, `terminate_other`) are kept
/// in the job store for stores that record runs in progress (every instance sees one queue;
/// a queued fire time survives the death of any instance), in the scheduler's memory for the
/// others. They start in fire-time order as soon as a run of the job ends, without the
/// `misfire_grace_time` check (a queued run is late by design).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The fire time is skipped and recorded `skipped` (APScheduler's `max_instances`; the
    /// default).
    #[default]
    Skip,
    /// One fire time waits and starts when a run ends; others that come while one waits are
    /// skipped (Temporal `BUFFER_ONE`).
    BufferOne,
    /// Every fire time waits its turn, oldest first; at most [`Overlap::MAX_BUFFERED`] wait,
    /// later ones are recorded `missed` (Temporal `BUFFER_ALL`, bounded).
    BufferAll,
    /// The runs in progress are asked to stop (their
    /// [`JobContext::cancelled`](crate::JobContext::cancelled) resolves; the task decides
    /// when to return, and is recorded `interrupted` unless it succeeds), and the new fire
    /// time starts when they have ended. A newer fire time replaces one that waits, which is
    /// recorded `skipped` (Temporal `CANCEL_OTHER`).
    CancelOther,
    /// As `cancel_other`, but the executor stops the runs as it does at a `timeout`: an async
    /// task is aborted, a blocking one abandoned, a worker process killed; recorded
    /// `interrupted` (Temporal `TERMINATE_OTHER`).
    TerminateOther,
    /// It runs anyway: `max_instances` does not limit the job.
    AllowAll,
}

impl Overlap {
    /// The most fire times `buffer_all` keeps waiting for one job.
    pub const MAX_BUFFERED: usize = 1000;

    /// Every policy, in Temporal's order.
    pub const ALL: [Overlap; 6] = [
        Overlap::Skip,
        Overlap::BufferOne,
        Overlap::BufferAll,
        Overlap::CancelOther,
        Overlap::TerminateOther,
        Overlap::AllowAll,
    ];

    /// Reads a policy name.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming `overlap` for an
    /// unknown name.
    pub fn parse(name: &str) -> Result<Overlap> {
        Overlap::ALL
            .into_iter()
            .find(|o| o.as_str() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "overlap",
                    format!(
                        "'{name}' is not an overlap policy; expected one of \"skip\", \"buffer_one\", \"buffer_all\", \"cancel_other\", \"terminate_other\", \"allow_all\""
                    ),
                )
            })
    }

    /// The name: `skip`, `buffer_one`, `buffer_all`, `cancel_other`, `terminate_other` or
    /// `allow_all`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer_one",
            Overlap::BufferAll => "buffer_all",
            Overlap::CancelOther => "cancel_other",
            Overlap::TerminateOther => "terminate_other",
            Overlap::AllowAll => "allow_all",
        }
    }

    /// Whether a fire time that finds the job at `max_instances` waits (is queued).
    pub fn queues(self) -> bool {
        !matches!(self, Overlap::Skip | Overlap::AllowAll)
    }

    /// How many fire times may wait at once (0 for `skip` and `allow_all`).
    pub fn queue_limit(self) -> usize {
        match self {
            Overlap::BufferAll => Overlap::MAX_BUFFERED,
            Overlap::BufferOne | Overlap::CancelOther | Overlap::TerminateOther => 1,
            Overlap::Skip | Overlap::AllowAll => 0,
        }
    }

    /// How the runs in progress are asked to stop when a fire time comes (`cancel_other`,
    /// `terminate_other`).
    pub fn stop(self) -> Option<crate::store::StopRequest> {
        match self {
            Overlap::CancelOther => Some(crate::store::StopRequest::Cancel),
            Overlap::TerminateOther => Some(crate::store::StopRequest::Terminate),
            _ => None,
        }
    }
}

/// A scheduled job.
///
/// Its serde form is the versioned state the stores persist and the API shows (readable JSON:
/// `{"version": 1, "id": "job1", "func": "app:job_do_sth", "args": [1, 2], "trigger":
/// {"type": "interval", "seconds": 5.0}, ...}`); times are UTC RFC 3339, durations seconds.
#[derive(Clone, PartialEq)]
pub struct Job {
    pub(crate) id: Arc<str>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) func: Arc<str>,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Map<String, Value>,
    pub(crate) trigger: BuiltinTrigger,
    pub(crate) executor: Option<Arc<str>>,
    pub(crate) misfire_grace_time: Option<Duration>,
    pub(crate) coalesce: bool,
    pub(crate) max_instances: u32,
    pub(crate) timeout: Option<Duration>,
    pub(crate) recover: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) calendars: Vec<Arc<str>>,
    pub(crate) overlap: Overlap,
    pub(crate) tags: Vec<Arc<str>>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) next_run_time: Option<DateTime<Utc>>,
    /// The trigger's fire time behind `next_run_time` (they differ by the jitter).
    pub(crate) fire_time: Option<DateTime<Utc>>,
    /// The alias of the store the scheduler read the job from (not persisted).
    pub(crate) jobstore: Option<Arc<str>>,
}

impl Job {
    /// The job id (unique within its job store).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id, shared.
    pub fn id_arc(&self) -> &Arc<str> {
        &self.id
    }

    /// The name (defaults to the id).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The task name (`"module:function"`).
    pub fn func(&self) -> &str {
        &self.func
    }

    /// Positional arguments for the task.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Keyword arguments for the task.
    pub fn kwargs(&self) -> &Map<String, Value> {
        &self.kwargs
    }

    /// The trigger.
    pub fn trigger(&self) -> &BuiltinTrigger {
        &self.trigger
    }

    /// The alias of the job store holding the job (`"default"` unless set).
    pub fn jobstore(&self) -> &str {
        self.jobstore.as_deref().unwrap_or("default")
    }

    /// The executor alias (`"default"` unless set).
    pub fn executor(&self) -> &str {
        self.executor.as_deref().unwrap_or("default")
    }

    /// How late a run may start and still run; `None` = no limit.
    pub fn misfire_grace_time(&self) -> Option<Duration> {
        self.misfire_grace_time
    }

    /// Whether missed run times collapse into one run.
    pub fn coalesce(&self) -> bool {
        self.coalesce
    }

    /// How many runs may execute at once.
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// What a fire time does when `max_instances` runs are running (see [`Overlap`]).
    pub fn overlap(&self) -> Overlap {
        self.overlap
    }

    /// How long one run may take before the executor stops it (cancels an async run, abandons
    /// a thread run, kills a worker process) and records it as timed out; `None` = no limit.
    /// APScheduler has no such limit (its issues #17 and #1005 ask for one).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether a run cut off by the crash of the instance running it is run again by another
    /// instance (Quartz's "requests recovery"). Without it a crashed run is recorded as
    /// `crashed` and not repeated (at most once).
    pub fn recover(&self) -> bool {
        self.recover
    }

    /// How failed runs are retried (`retries`, `retry_delay`, `retry_backoff`,
    /// `retry_max_delay`, `retry_jitter`); see [`RetryPolicy`].
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The names of the exclusion calendars whose periods the job's fire times skip (see
    /// [`crate::calendar`]).
    pub fn calendars(&self) -> &[Arc<str>] {
        &self.calendars
    }

    /// The job's tags: labels to find and act on jobs by (`tag` filters of the API), in the
    /// order given, each once.
    pub fn tags(&self) -> &[Arc<str>] {
        &self.tags
    }

    /// Free-form data kept with the job (APScheduler 4's `metadata`): a JSON object, at most
    /// [`MAX_METADATA_BYTES`] as JSON. rsched does not read it.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// The trigger's next fire time (as [`Trigger::next_fire_time`]) that none of the job's
    /// calendars excludes: an excluded fire time is passed over and the trigger moves on from
    /// the end of the excluded period. `None` when the trigger has finished, or after
    /// [`MAX_EXCLUDED_SKIPS`](crate::calendar::MAX_EXCLUDED_SKIPS) excluded periods in a row
    /// (logged: the calendars exclude every fire time the trigger has).
    pub fn next_fire_time(
        &self,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        calendars: &Calendars,
    ) -> Option<DateTime<Utc>> {
        let mut fire = self.trigger.next_fire_time(previous, now)?;
        if self.calendars.is_empty() {
            return Some(fire);
        }
        for _ in 0..crate::calendar::MAX_EXCLUDED_SKIPS {
            let Some(until) = calendars.excluded_until(&self.calendars, &self.trigger, fire) else {
                return Some(fire);
            };
            fire = crate::calendar::after_excluded(&self.trigger, fire, until)?;
        }
        tracing::warn!(
            job_id = &*self.id,
            "The calendars of job {} exclude every fire time of its trigger that rsched looked at ({} excluded periods in a row)",
            self.id,
            crate::calendar::MAX_EXCLUDED_SKIPS
        );
        None
    }

    /// The next instant the job is due (UTC); `None` when paused.
    pub fn next_run_time(&self) -> Option<DateTime<Utc>> {
        self.next_run_time
    }

    /// Whether the job is paused.
    pub fn is_paused(&self) -> bool {
        self.next_run_time.is_none()
    }

    /// The trigger's fire time behind [`Job::next_run_time`]: the same instant unless the
    /// trigger has `jitter`. The scheduler computes the following fire time from it, so jitter
    /// does not drift the schedule.
    pub fn fire_time(&self) -> Option<DateTime<Utc>> {
        self.fire_time.or(self.next_run_time)
    }

    /// Sets the next run time (and fire time) as a store does when the scheduler releases a
    /// job; `None` pauses it.
    pub fn set_next_run_time(
        &mut self,
        next_run_time: Option<DateTime<Utc>>,
        fire_time: Option<DateTime<Utc>>,
    ) {
        self.next_run_time = next_run_time;
        self.fire_time = if fire_time == next_run_time {
            None
        } else {
            fire_time
        };
    }

    /// The run times due at `now`, APScheduler's `Job._get_run_times`: the next run time and
    /// every following fire time up to `now` that `calendars` do not exclude, at most `limit`
    /// of them (the latest ones are kept when there are more; the count of all of them is
    /// returned too).
    pub fn run_times(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        calendars: &Calendars,
    ) -> (Vec<DateTime<Utc>>, u64) {
        let mut times = std::collections::VecDeque::new();
        let mut total = 0u64;
        let Some(first) = self.next_run_time.filter(|t| *t <= now) else {
            return (Vec::new(), 0);
        };
        times.push_back(first);
        total += 1;
        let mut fire = self.fire_time();
        while let Some(next) = self
            .next_fire_time(fire, now, calendars)
            .filter(|t| *t <= now)
        {
            if Some(next) <= fire {
                break; // a trigger that does not move forward (never with the built-in ones)
            }
            total += 1;
            if times.len() == limit.max(1) {
                times.pop_front();
            }
            times.push_back(next);
            fire = Some(next);
            if total >= MAX_MISSED_SCAN {
                break;
            }
        }
        (times.into(), total)
    }

    /// The fire time that follows the last of `run_times` (APScheduler:
    /// `trigger.get_next_fire_time(run_times[-1], now)`) that `calendars` do not exclude,
    /// before jitter.
    pub fn following_fire_time(
        &self,
        last_run: DateTime<Utc>,
        now: DateTime<Utc>,
        calendars: &Calendars,
    ) -> Option<DateTime<Utc>> {
        // The first run time may be jittered; the trigger continues from its own fire time.
        let previous = if Some(last_run) == self.next_run_time {
            self.fire_time()
        } else {
            Some(last_run)
        };
        self.next_fire_time(previous, now, calendars)
    }
}

/// Missed fire times counted at most per due job (a per-second cron after a month of downtime
/// has 2.6 million; the count then reads "at least").
pub const MAX_MISSED_SCAN: u64 = 100_000;

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("func", &self.func)
            .field("args", &self.args)
            .field("kwargs", &self.kwargs)
            .field("trigger", &self.trigger.to_string())
            .field("executor", &self.executor())
            .field("misfire_grace_time", &self.misfire_grace_time)
            .field("coalesce", &self.coalesce)
            .field("max_instances", &self.max_instances)
            .field("timeout", &self.timeout)
            .field("recover", &self.recover)
            .field("retry", &self.retry)
            .field("calendars", &self.calendars)
            .field("overlap", &self.overlap)
            .field("tags", &self.tags)
            .field("metadata", &self.metadata)
            .field("next_run_time", &self.next_run_time)
            .finish()
    }
}

impl fmt::Display for Job {
    /// APScheduler's `str(job)`: `job1 (trigger: interval[0:00:05], next run at: 2026-11-20
    /// 09:40:00 CST)`, or `... paused)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (trigger: {}, ", self.name(), self.trigger)?;
        match self.next_run_time {
            Some(t) => write!(f, "next run at: {})", datetime_repr(&self.trigger, t)),
            None => f.write_str("paused)"),
        }
    }
}

/// APScheduler's `datetime_repr`: `2026-11-20 09:40:00 CST`, in the zone the trigger's fire
/// times are shown in ([`BuiltinTrigger::display_timezone`]: `2099-06-15 08:30:00 UTC+02:00`
/// for a date trigger whose `run_date` was written with `+02:00`).
pub fn datetime_repr(trigger: &BuiltinTrigger, t: DateTime<Utc>) -> String {
    let local = trigger.display_time(t);
    let abbreviation = trigger.display_timezone().abbreviation(t.timestamp());
    format!("{} {abbreviation}", local.format("%Y-%m-%d %H:%M:%S"))
}

/// Checks a job id: non-empty, at most [`MAX_JOB_ID_LEN`] characters.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming the problem.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("id", "must not be empty"));
    }
    let len = id.chars().count();
    if len > MAX_JOB_ID_LEN {
        return Err(Error::invalid(
            "id",
            format!("is {len} characters long; at most {MAX_JOB_ID_LEN} are allowed"),
        ));
    }
    Ok(())
}

/// The arguments of `add_job`: what to run, when, and how.
///
/// ```
/// use scheduler_core::{JobSpec, trigger::IntervalSpec};
/// let spec = JobSpec::new("app:job_do_sth")
///     .id("job1")
///     .args([1, 2])
///     .trigger(IntervalSpec { seconds: Some(5.0), ..Default::default() }.build()?);
/// # Ok::<(), scheduler_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    /// Job id; a random one when empty (as APScheduler's `uuid4().hex`).
    pub id: Option<String>,
    /// Name; defaults to the id.
    pub name: Option<String>,
    /// Registered task name.
    pub func: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
    /// Trigger; defaults to a `date` trigger that fires once, now.
    pub trigger: Option<BuiltinTrigger>,
    /// Executor alias; defaults to `"default"`.
    pub executor: Option<String>,
    /// Job store alias; defaults to `"default"`.
    pub jobstore: Option<String>,
    /// `Some(None)`: no limit; `None`: the scheduler's default.
    pub misfire_grace_time: Option<Option<Duration>>,
    /// `None`: the scheduler's default.
    pub coalesce: Option<bool>,
    /// `None`: the scheduler's default.
    pub max_instances: Option<u32>,
    /// Longest run (see [`Job::timeout`]); `None`: no limit.
    pub timeout: Option<Duration>,
    /// Run again a run cut off by a crashed instance (see [`Job::recover`]).
    pub recover: bool,
    /// Retries of failed runs (see [`RetryPolicy`]); none by default.
    pub retry: RetryPolicy,
    /// Names of exclusion calendars whose periods the job's fire times skip (see
    /// [`crate::calendar`]); each must be known to the scheduler when the job is added.
    pub calendars: Vec<String>,
    /// What a fire time does while `max_instances` runs are running (default: skip).
    pub overlap: Overlap,
    /// Tags: labels to find and act on jobs by (see [`validate_tags`] for the rules).
    pub tags: Vec<String>,
    /// Free-form JSON object kept with the job (APScheduler 4's `metadata`), at most
    /// [`MAX_METADATA_BYTES`] as JSON.
    pub metadata: Map<String, Value>,
    /// `Some(None)`: add the job paused; `Some(Some(t))`: first run at `t`; `None`: from the
    /// trigger.
    pub next_run_time: Option<Option<DateTime<Utc>>>,
    /// Replace a job with the same id instead of failing with `AlreadyExists`.
    pub replace_existing: bool,
}

impl JobSpec {
    /// A spec running the registered task `func`.
    pub fn new(func: impl Into<String>) -> Self {
        JobSpec {
            func: func.into(),
            ..Default::default()
        }
    }

    /// Sets the id.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the positional arguments.
    #[must_use]
    pub fn args<I: IntoIterator<Item = V>, V: Into<Value>>(mut self, args: I) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets one keyword argument.
    #[must_use]
    pub fn kwarg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.kwargs.insert(key.into(), value.into());
        self
    }

    /// Sets the trigger (any built-in trigger, or a spec that converts into one).
    #[must_use]
    pub fn trigger(mut self, trigger: impl Into<BuiltinTrigger>) -> Self {
        self.trigger = Some(trigger.into());
        self
    }

    /// Sets the executor alias.
    #[must_use]
    pub fn executor(mut self, alias: impl Into<String>) -> Self {
        self.executor = Some(alias.into());
        self
    }

    /// Sets the job store alias.
    #[must_use]
    pub fn jobstore(mut self, alias: impl Into<String>) -> Self {
        self.jobstore = Some(alias.into());
        self
    }

    /// Sets `misfire_grace_time` (`None` = no limit).
    #[must_use]
    pub fn misfire_grace_time(mut self, grace: Option<Duration>) -> Self {
        self.misfire_grace_time = Some(grace);
        self
    }

    /// Sets `coalesce`.
    #[must_use]
    pub fn coalesce(mut self, coalesce: bool) -> Self {
        self.coalesce = Some(coalesce);
        self
    }

    /// Sets `max_instances`.
    #[must_use]
    pub fn max_instances(mut self, n: u32) -> Self {
        self.max_instances = Some(n);
        self
    }

    /// Sets the `overlap` policy: what a fire time does when `max_instances` runs of the job
    /// are in progress (Temporal's overlap policies; see [`Overlap`]).
    #[must_use]
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// Sets the run `timeout` (see [`Job::timeout`]).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets `recover` (see [`Job::recover`]).
    #[must_use]
    pub fn recover(mut self, recover: bool) -> Self {
        self.recover = recover;
        self
    }

    /// Sets how many times a failed run is retried (`retries`; see [`RetryPolicy`]).
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retry.retries = retries;
        self
    }

    /// Sets the whole retry policy (`retries`, `retry_delay`, `retry_backoff`,
    /// `retry_max_delay`, `retry_jitter`).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Adds an exclusion calendar by name (see [`crate::calendar`]).
    #[must_use]
    pub fn calendar(mut self, name: impl Into<String>) -> Self {
        self.calendars.push(name.into());
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets one metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds the job paused (no next run time).
    #[must_use]
    pub fn paused(mut self) -> Self {
        self.next_run_time = Some(None);
        self
    }

    /// Sets `replace_existing`.
    #[must_use]
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    /// Builds the job (without its next run time, which the scheduler computes): checks the id
    /// and `max_instances`, and fills defaults.
    pub(crate) fn into_job(self, defaults: &JobDefaults) -> Result<Job> {
        let id = match self.id {
            Some(id) => id,
            None => random_id(),
        };
        validate_id(&id)?;
        if self.func.is_empty() {
            return Err(Error::invalid("func", "must name a registered task"));
        }
        let max_instances = self.max_instances.unwrap_or(defaults.max_instances);
        if max_instances == 0 {
            return Err(Error::invalid("max_instances", "must be at least 1"));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(Error::invalid("timeout", "must be more than 0 seconds"));
        }
        self.retry.validate()?;
        let trigger = match self.trigger {
            Some(t) => t,
            None => BuiltinTrigger::Date(DateSpec::default().build()?),
        };
        let name = self.name.filter(|n| *n != id).map(Arc::from);
        Ok(Job {
            id: Arc::from(id),
            name,
            func: Arc::from(self.func),
            args: self.args,
            kwargs: self.kwargs,
            trigger,
            executor: self.executor.filter(|e| e != "default").map(Arc::from),
            misfire_grace_time: self
                .misfire_grace_time
                .unwrap_or(defaults.misfire_grace_time),
            coalesce: self.coalesce.unwrap_or(defaults.coalesce),
            max_instances,
            timeout: self.timeout,
            recover: self.recover,
            retry: self.retry,
            calendars: calendar_names(self.calendars)?,
            overlap: self.overlap,
            tags: validate_tags(self.tags)?,
            metadata: validate_metadata(self.metadata)?,
            next_run_time: None,
            fire_time: None,
            jobstore: self.jobstore.filter(|s| s != "default").map(Arc::from),
        })
    }
}

impl Job {
    /// The job's versioned JSON state without its run times, as the shared stores keep it (the
    /// run times live beside it, where the store can index and update them without rewriting
    /// the JSON).
    ///
    /// # Errors
    /// [`ErrorKind::Serialization`](crate::ErrorKind::Serialization) if the job cannot be encoded.
    pub fn stored_state(&self) -> Result<String> {
        let mut value = serde_json::to_value(self).map_err(|e| {
            Error::new(
                crate::ErrorKind::Serialization,
                format!("cannot encode job '{}': {e}", self.id),
            )
        })?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("next_run_time");
            obj.remove("fire_time");
        }
        Ok(value.to_string())
    }

    /// Reads back a [`Job::stored_state`] with its run times. `Err` carries the reason the
    /// state cannot be read (the store quarantines the job with it): not JSON, not a job, a
    /// newer state version, or a state for another id.
    pub fn from_stored_state(
        id: &str,
        state: &str,
        next_run_time: Option<DateTime<Utc>>,
        fire_time: Option<DateTime<Utc>>,
    ) -> std::result::Result<Job, String> {
        let mut value: Value = serde_json::from_str(state)
            .map_err(|e| format!("the stored state is not JSON: {e}"))?;
        let obj = value
            .as_object_mut()
            .ok_or("the stored state is not a JSON object")?;
        obj.insert(
            "next_run_time".into(),
            serde_json::to_value(next_run_time).unwrap_or(Value::Null),
        );
        if let Some(fire) = fire_time.filter(|f| Some(*f) != next_run_time) {
            obj.insert(
                "fire_time".into(),
                serde_json::to_value(fire).unwrap_or(Value::Null),
            );
        }
        let job: Job = serde_json::from_value(value)
            .map_err(|e| format!("the stored state cannot be read: {e}"))?;
        if job.id() != id {
            return Err(format!(
                "the stored state is for job '{}', not '{id}'",
                job.id()
            ));
        }
        Ok(job)
    }
}

/// Checks calendar names (each valid, none twice).
fn calendar_names(names: Vec<String>) -> Result<Vec<Arc<str>>> {
    let mut out: Vec<Arc<str>> = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        crate::calendar::validate_name(&name).map_err(|e| {
            Error::invalid(
                &format!("calendars[{i}]"),
                e.message().trim_start_matches("calendar: "),
            )
        })?;
        if out.iter().any(|n| **n == *name) {
            return Err(Error::invalid(
                &format!("calendars[{i}]"),
                format!("'{name}' is listed twice"),
            ));
        }
        out.push(Arc::from(name));
    }
    Ok(out)
}

/// The most tags a job has.
pub const MAX_TAGS: usize = 32;

/// The longest tag, in characters.
pub const MAX_TAG_LEN: usize = 64;

/// The largest `metadata`, in bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Checks a job's tags: at most [`MAX_TAGS`], each 1 to [`MAX_TAG_LEN`] characters without
/// control characters, commas or surrounding spaces (a tag filter may list several, comma
/// separated), none twice.
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming `tags[i]`.
pub fn validate_tags(tags: Vec<String>) -> Result<Vec<Arc<str>>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(
            "tags",
            format!("{} tags; at most {MAX_TAGS} are allowed", tags.len()),
        ));
    }
    let mut out: Vec<Arc<str>> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        let field = format!("tags[{i}]");
        let len = tag.chars().count();
        if len == 0 || len > MAX_TAG_LEN {
            return Err(Error::invalid(
                &field,
                format!("must be 1 to {MAX_TAG_LEN} characters long, got {len}"),
            ));
        }
        if tag.chars().any(|c| c.is_control() || c == ',') || tag.trim() != tag {
            return Err(Error::invalid(
                &field,
                format!(
                    "'{}' has a comma, a control character or surrounding spaces",
                    tag.escape_debug()
                ),
            ));
        }
        if out.iter().any(|t| **t == *tag) {
            return Err(Error::invalid(&field, format!("'{tag}' is listed twice")));
        }
        out.push(Arc::from(tag));
    }
    Ok(out)
}

/// Checks a job's `metadata`: at most [`MAX_METADATA_BYTES`] as JSON.
pub(crate) fn validate_metadata(metadata: Map<String, Value>) -> Result<Map<String, Value>> {
    let len = Value::Object(metadata.clone()).to_string().len();
    if len > MAX_METADATA_BYTES {
        return Err(Error::invalid(
            "metadata",
            format!("is {len} bytes of JSON; at most {MAX_METADATA_BYTES} are allowed"),
        ));
    }
    Ok(metadata)
}

/// A random job id: 32 hex digits, like APScheduler's `uuid4().hex`.
pub(crate) fn random_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The arguments of `modify_job`: each `Some` replaces that field.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    /// New name.
    pub name: Option<String>,
    /// New task name.
    pub func: Option<String>,
    /// New positional arguments.
    pub args: Option<Vec<Value>>,
    /// New keyword arguments.
    pub kwargs: Option<Map<String, Value>>,
    /// New trigger; the next run time is recomputed from it (as `reschedule_job`).
    pub trigger: Option<BuiltinTrigger>,
    /// New executor alias.
    pub executor: Option<String>,
    /// New `misfire_grace_time` (`Some(None)` = no limit).
    pub misfire_grace_time: Option<Option<Duration>>,
    /// New `coalesce`.
    pub coalesce: Option<bool>,
    /// New `max_instances`.
    pub max_instances: Option<u32>,
    /// New `timeout` (`Some(None)` = no limit).
    pub timeout: Option<Option<Duration>>,
    /// New `recover`.
    pub recover: Option<bool>,
    /// New `retries`.
    pub retries: Option<u32>,
    /// New `retry_delay`.
    pub retry_delay: Option<Duration>,
    /// New `retry_backoff`.
    pub retry_backoff: Option<f64>,
    /// New `retry_max_delay`.
    pub retry_max_delay: Option<Duration>,
    /// New `retry_jitter`.
    pub retry_jitter: Option<bool>,
    /// New exclusion calendars (names).
    pub calendars: Option<Vec<String>>,
    /// New overlap policy.
    pub overlap: Option<Overlap>,
    /// New tags (all of them).
    pub tags: Option<Vec<String>>,
    /// New metadata (the whole object).
    pub metadata: Option<Map<String, Value>>,
    /// New next run time (`Some(None)` pauses the job).
    pub next_run_time: Option<Option<DateTime<Utc>>>,
}

impl JobChanges {
    /// Applies the changes that need no trigger evaluation; validates them.
    pub(crate) fn apply(&self, job: &mut Job) -> Result<()> {
        if let Some(n) = self.max_instances {
            if n == 0 {
                return Err(Error::invalid("max_instances", "must be at least 1"));
            }
            job.max_instances = n;
        }
        if let Some(func) = &self.func {
            if func.is_empty() {
                return Err(Error::invalid("func", "must name a registered task"));
            }
            job.func = Arc::from(func.as_str());
        }
        if let Some(name) = &self.name {
            job.name = (**name != *job.id).then(|| Arc::from(name.as_str()));
        }
        if let Some(args) = &self.args {
            job.args.clone_from(args);
        }
        if let Some(kwargs) = &self.kwargs {
            job.kwargs.clone_from(kwargs);
        }
        if let Some(executor) = &self.executor {
            job.executor = (executor != "default").then(|| Arc::from(executor.as_str()));
        }
        if let Some(grace) = self.misfire_grace_time {
            job.misfire_grace_time = grace;
        }
        if let Some(coalesce) = self.coalesce {
            job.coalesce = coalesce;
        }
        if let Some(timeout) = self.timeout {
            if timeout == Some(Duration::ZERO) {
                return Err(Error::invalid("timeout", "must be more than 0 seconds"));
            }
            job.timeout = timeout;
        }
        if let Some(recover) = self.recover {
            job.recover = recover;
        }
        let mut retry = job.retry;
        if let Some(n) = self.retries {
            retry.retries = n;
        }
        if let Some(d) = self.retry_delay {
            retry.delay = d;
        }
        if let Some(b) = self.retry_backoff {
            retry.backoff = b;
        }
        if let Some(d) = self.retry_max_delay {
            retry.max_delay = d;
        }
        if let Some(j) = self.retry_jitter {
            retry.jitter = j;
        }
        retry.validate()?;
        job.retry = retry;
        if let Some(names) = &self.calendars {
            job.calendars = calendar_names(names.clone())?;
        }
        if let Some(overlap) = self.overlap {
            job.overlap = overlap;
        }
        if let Some(tags) = &self.tags {
            job.tags = validate_tags(tags.clone())?;
        }
        if let Some(metadata) = &self.metadata {
            job.metadata = validate_metadata(metadata.clone())?;
        }
        Ok(())
    }
}

/// The persisted form of a job.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobState {
    version: u32,
    id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<Arc<str>>,
    func: Arc<str>,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    kwargs: Map<String, Value>,
    trigger: BuiltinTrigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    executor: Option<Arc<str>>,
    #[serde(with = "opt_seconds")]
    misfire_grace_time: Option<Duration>,
    coalesce: bool,
    max_instances: u32,
    #[serde(default, with = "opt_seconds", skip_serializing_if = "Option::is_none")]
    timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    recover: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    retry_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_backoff: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_seconds")]
    retry_max_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_jitter: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    calendars: Vec<Arc<str>>,
    #[serde(default, skip_serializing_if = "is_skip")]
    overlap: Overlap,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Arc<str>>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    metadata: Map<String, Value>,
    next_run_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fire_time: Option<DateTime<Utc>>,
}

fn is_skip(o: &Overlap) -> bool {
    *o == Overlap::Skip
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Serialize for Job {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        JobState {
            version: JOB_STATE_VERSION,
            id: self.id.clone(),
            name: self.name.clone(),
            func: self.func.clone(),
            args: self.args.clone(),
            kwargs: self.kwargs.clone(),
            trigger: self.trigger.clone(),
            executor: self.executor.clone(),
            misfire_grace_time: self.misfire_grace_time,
            coalesce: self.coalesce,
            max_instances: self.max_instances,
            timeout: self.timeout,
            recover: self.recover,
            // Only what differs from the default policy is written.
            retries: self.retry.retries,
            retry_delay: Some(self.retry.delay).filter(|d| *d != RetryPolicy::default().delay),
            retry_backoff: Some(self.retry.backoff)
                .filter(|b| *b != RetryPolicy::default().backoff),
            retry_max_delay: Some(self.retry.max_delay)
                .filter(|d| *d != RetryPolicy::default().max_delay),
            retry_jitter: Some(self.retry.jitter).filter(|j| !*j),
            calendars: self.calendars.clone(),
            overlap: self.overlap,
            tags: self.tags.clone(),
            metadata: self.metadata.clone(),
            next_run_time: self.next_run_time,
            fire_time: self.fire_time,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Job {
    /// Reads a persisted job state. A state written by a newer version of rsched is an error
    /// (the stores quarantine it rather than guess).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let state = JobState::deserialize(d)?;
        if state.version > JOB_STATE_VERSION {
            return Err(serde::de::Error::custom(format!(
                "job state version {} is newer than this rsched understands ({JOB_STATE_VERSION})",
                state.version
            )));
        }
        validate_id(&state.id).map_err(serde::de::Error::custom)?;
        let defaults = RetryPolicy::default();
        let retry = RetryPolicy {
            retries: state.retries,
            delay: state.retry_delay.unwrap_or(defaults.delay),
            backoff: state.retry_backoff.unwrap_or(defaults.backoff),
            max_delay: state.retry_max_delay.unwrap_or(defaults.max_delay),
            jitter: state.retry_jitter.unwrap_or(defaults.jitter),
        };
        retry.validate().map_err(serde::de::Error::custom)?;
        Ok(Job {
            id: state.id,
            name: state.name,
            func: state.func,
            args: state.args,
            kwargs: state.kwargs,
            trigger: state.trigger,
            executor: state.executor,
            misfire_grace_time: state.misfire_grace_time,
            coalesce: state.coalesce,
            max_instances: state.max_instances.max(1),
            timeout: state.timeout.filter(|t| !t.is_zero()),
            recover: state.recover,
            retry,
            calendars: state.calendars,
            overlap: state.overlap,
            tags: state.tags,
            metadata: state.metadata,
            next_run_time: state.next_run_time,
            fire_time: state.fire_time,
            jobstore: None,
        })
    }
}

/// `Option<Duration>` as seconds (a number) or `null`.
pub(crate) mod opt_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            None => Ok(None),
            Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
                serde::de::Error::custom(format!(
                    "expected a non-negative number of seconds, got {s}"
                ))
            }),
        }
    }
}

impl From<crate::trigger::CronTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::CronTrigger) -> Self {
        BuiltinTrigger::Cron(t)
    }
}

impl From<crate::trigger::IntervalTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::IntervalTrigger) -> Self {
        BuiltinTrigger::Interval(t)
    }
}

impl From<crate::trigger::DateTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::DateTrigger) -> Self {
        BuiltinTrigger::Date(t)
    }
}

impl From<crate::trigger::CrontabTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::CrontabTrigger) -> Self {
        BuiltinTrigger::Crontab(t)
    }
}

impl From<crate::trigger::QuartzTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::QuartzTrigger) -> Self {
        BuiltinTrigger::Quartz(t)
    }
}

impl From<crate::trigger::CalendarIntervalTrigger> for BuiltinTrigger {
    fn from(t: crate::trigger::CalendarIntervalTrigger) -> Self {
        BuiltinTrigger::CalendarInterval(t)
    }
}
