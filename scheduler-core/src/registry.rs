//! The task registry: task names (`"module:function"`) mapped to Rust handlers, plus typed
//! shared state the handlers can read.
//!
//! A handler takes a [`JobContext`] and its arguments as one typed value, decoded with serde
//! from the job's `args` / `kwargs`:
//!
//! - a job with only positional `args` (`[1, 2]`) decodes into a tuple `(i64, i64)` or a
//!   struct (fields in order);
//! - a job with only keyword `kwargs` decodes into a struct (fields by name) or a map;
//! - a job with both decodes into [`Call<A, K>`];
//! - a job with neither decodes into `()` (or any type that accepts an empty list).
//!
//! The arguments are checked when the job is *added*, as APScheduler checks call signatures, so
//! a job whose arguments do not fit its task is rejected with the reason instead of failing at
//! its first run.
//!
//! ```
//! use scheduler_core::{JobContext, TaskRegistry};
//! # #[derive(Debug)] struct PgPool;
//! let mut registry = TaskRegistry::new();
//! registry.insert_state(PgPool);
//! registry.register("app:job_do_sth", |_ctx: JobContext, (a, b): (i64, i64)| async move {
//!     println!("job_do_sth:{}", a + b);
//!     Ok::<_, std::convert::Infallible>(())
//! });
//! registry.register_blocking("app:report", |ctx: JobContext, (): ()| {
//!     let _pool = ctx.state::<PgPool>()?; // shared state: no "outside of application context"
//!     Ok::<_, scheduler_core::Error>(())
//! });
//! ```

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// The outcome of a task: its return value as JSON, or its error.
pub type TaskResult = std::result::Result<Value, TaskError>;

/// A boxed task future.
pub type TaskFuture = Pin<Box<dyn Future<Output = TaskResult> + Send + 'static>>;

type AsyncHandler = dyn Fn(JobContext) -> TaskFuture + Send + Sync;
type BlockingHandler = dyn Fn(JobContext) -> TaskResult + Send + Sync;
type ArgsCheck =
    dyn Fn(&[Value], &Map<String, Value>) -> std::result::Result<(), String> + Send + Sync;

/// How a task runs.
#[derive(Clone)]
pub enum Handler {
    /// An async function, run as a tokio task (or on a worker's runtime).
    Async(Arc<AsyncHandler>),
    /// A blocking function, run on a thread of a pool.
    Blocking(Arc<BlockingHandler>),
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Handler::Async(_) => "Handler::Async",
            Handler::Blocking(_) => "Handler::Blocking",
        })
    }
}

/// A registered task.
#[derive(Clone)]
pub struct Task {
    /// The registered name, shared by every job that runs this task.
    name: Arc<str>,
    handler: Handler,
    check: Arc<ArgsCheck>,
    args_type: &'static str,
}

impl Task {
    /// The name the task is registered under.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The handler.
    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// The Rust type the arguments decode into (for messages).
    pub fn args_type(&self) -> &'static str {
        self.args_type
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("handler", &self.handler)
            .field("args_type", &self.args_type)
            .finish()
    }
}

/// The error of a failed task: its message (and, for a panic, the panic message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    message: String,
    outcome: crate::history::RunOutcome,
}

impl TaskError {
    /// An error with `message` (outcome [`RunOutcome::Error`](crate::RunOutcome::Error)).
    pub fn new(message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            outcome: crate::history::RunOutcome::Error,
        }
    }

    /// A run that did not end by itself: [`RunOutcome::TimedOut`](crate::RunOutcome::TimedOut),
    /// [`RunOutcome::Interrupted`](crate::RunOutcome::Interrupted) or
    /// [`RunOutcome::Crashed`](crate::RunOutcome::Crashed) (executors set it).
    pub fn with_outcome(outcome: crate::history::RunOutcome, message: impl Into<String>) -> Self {
        TaskError {
            message: message.into(),
            outcome,
        }
    }

    /// How the run ended: `Error` unless the executor cut it off.
    pub fn outcome(&self) -> crate::history::RunOutcome {
        self.outcome
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Positional and keyword arguments together, for tasks called with both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call<A, K> {
    /// Decoded from the job's `args`.
    pub args: A,
    /// Decoded from the job's `kwargs`.
    pub kwargs: K,
}

/// Decodes a job's arguments into `T` by the rules in the [module docs](self).
///
/// # Errors
/// The serde error, naming what did not fit.
pub fn decode_args<T: DeserializeOwned>(
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> std::result::Result<T, String> {
    if args.is_empty() && kwargs.is_empty() {
        // `()` and other unit-like types take null; lists and maps take an empty list.
        return serde_json::from_value::<T>(Value::Null)
            .or_else(|_| serde_json::from_value::<T>(Value::Array(Vec::new())))
            .map_err(|e| e.to_string());
    }
    let value = match (args.is_empty(), kwargs.is_empty()) {
        (_, true) => Value::Array(args.to_vec()),
        (true, false) => Value::Object(kwargs.clone()),
        (false, false) => {
            let mut call = Map::new();
            call.insert("args".into(), Value::Array(args.to_vec()));
            call.insert("kwargs".into(), Value::Object(kwargs.clone()));
            Value::Object(call)
        }
    };
    serde_json::from_value::<T>(value).map_err(|e| e.to_string())
}

/// Maps task names to handlers, and holds the state handlers share.
#[derive(Default, Clone)]
pub struct TaskRegistry {
    tasks: HashMap<String, Task>,
    state: StateMap,
}

/// Typed shared state, one value per type.
#[derive(Default, Clone)]
pub struct StateMap(Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl StateMap {
    /// The value of type `T`, if one was inserted.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateMap({} values)", self.0.len())
    }
}

impl fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.tasks.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("TaskRegistry")
            .field("tasks", &names)
            .field("state", &self.state)
            .finish()
    }
}

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an async task under `name` (conventionally `"module:function"`), replacing any
    /// task of that name. `A` is decoded from the job's arguments (see the module docs); the
    /// handler's `Ok` value is serialized as the run's return value.
    pub fn register<A, F, Fut, R, E>(&mut self, name: impl Into<String>, handler: F) -> &mut Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let handler = Arc::new(handler);
        let run = move |ctx: JobContext| -> TaskFuture {
            let args = decode_args::<A>(ctx.args(), ctx.kwargs());
            let handler = handler.clone();
            Box::pin(async move {
                let args = args.map_err(|e| {
                    TaskError::new(format!("arguments do not fit {}: {e}", type_name::<A>()))
                })?;
                finish(handler(ctx, args).await)
            })
        };
        self.insert::<A>(name.into(), Handler::Async(Arc::new(run)))
    }

    /// Registers a blocking task under `name`: it runs on a pool thread (the thread-pool
    /// executor's, or tokio's blocking pool under the async executor).
    pub fn register_blocking<A, F, R, E>(
        &mut self,
        name: impl Into<String>,
        handler: F,
    ) -> &mut Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(JobContext, A) -> std::result::Result<R, E> + Send + Sync + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let run = move |ctx: JobContext| -> TaskResult {
            let args = decode_args::<A>(ctx.args(), ctx.kwargs()).map_err(|e| {
                TaskError::new(format!("arguments do not fit {}: {e}", type_name::<A>()))
            })?;
            finish(handler(ctx, args))
        };
        self.insert::<A>(name.into(), Handler::Blocking(Arc::new(run)))
    }

    fn insert<A: DeserializeOwned>(&mut self, name: String, handler: Handler) -> &mut Self {
        let check =
            |args: &[Value], kwargs: &Map<String, Value>| decode_args::<A>(args, kwargs).map(drop);
        self.tasks.insert(
            name.clone(),
            Task {
                name: name.into(),
                handler,
                check: Arc::new(check),
                args_type: type_name::<A>(),
            },
        );
        self
    }

    /// Adds the tasks and state values of `other` that this registry does not have (by task
    /// name, by state type): what is here already wins.
    pub fn merge_missing(&mut self, other: TaskRegistry) {
        for (name, task) in other.tasks {
            self.tasks.entry(name).or_insert(task);
        }
        let state = Arc::make_mut(&mut self.state.0);
        for (ty, value) in other.state.0.iter() {
            state.entry(*ty).or_insert_with(|| value.clone());
        }
    }

    /// Adds shared state of type `T` (replacing any earlier value of that type). Handlers read
    /// it with [`JobContext::state`].
    pub fn insert_state<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        Arc::make_mut(&mut self.state.0).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// The shared state.
    pub fn state(&self) -> &StateMap {
        &self.state
    }

    /// The task registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Task> {
        self.tasks.get(name)
    }

    /// Whether a task is registered as `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tasks.contains_key(name)
    }

    /// The registered task names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tasks.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Checks that `func` is registered and that `args` / `kwargs` decode into its argument
    /// type: what APScheduler's `check_callable_args` does when a job is added.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput): `func: no task registered
    /// as 'x'` or `args: ... do not fit (i64, i64): ...`.
    pub fn check(&self, func: &str, args: &[Value], kwargs: &Map<String, Value>) -> Result<()> {
        let task = self.tasks.get(func).ok_or_else(|| {
            let known = self.names();
            Error::invalid(
                "func",
                if known.is_empty() {
                    format!("no task registered as '{func}'")
                } else {
                    format!(
                        "no task registered as '{func}' (registered: {})",
                        known.join(", ")
                    )
                },
            )
        })?;
        (task.check)(args, kwargs).map_err(|e| {
            let field = if args.is_empty() { "kwargs" } else { "args" };
            Error::invalid(
                field,
                format!(
                    "the arguments do not fit task '{func}' ({}): {e}",
                    task.args_type
                ),
            )
        })
    }
}

fn finish<R: Serialize, E: fmt::Display>(result: std::result::Result<R, E>) -> TaskResult {
    match result {
        Ok(value) => serde_json::to_value(value)
            .map_err(|e| TaskError::new(format!("the return value could not be serialized: {e}"))),
        Err(e) => Err(TaskError::new(format!("{e:#}"))),
    }
}

/// What a running task knows about its run: the job, the scheduled run time, the shared
/// state, and a cancellation signal (set when the scheduler shuts down without waiting, or the
/// run times out).
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    job_id: Arc<str>,
    job_name: Arc<str>,
    scheduled_run_time: DateTime<Utc>,
    args: Vec<Value>,
    kwargs: Map<String, Value>,
    state: StateMap,
    cancel: CancellationToken,
    scheduler_id: Arc<str>,
    attempt: u32,
}

impl JobContext {
    /// A context (built by executors).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job_id: Arc<str>,
        job_name: Arc<str>,
        scheduled_run_time: DateTime<Utc>,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
        state: StateMap,
        cancel: CancellationToken,
        scheduler_id: Arc<str>,
    ) -> Self {
        JobContext {
            inner: Arc::new(ContextInner {
                job_id,
                job_name,
                scheduled_run_time,
                args,
                kwargs,
                state,
                cancel,
                scheduler_id,
                attempt: 1,
            }),
        }
    }

    /// The context of attempt `attempt` (1 = the first run; see
    /// [`RetryPolicy`](crate::RetryPolicy)) at the run time.
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.attempt = attempt.max(1),
            None => {
                let i = &self.inner;
                self.inner = Arc::new(ContextInner {
                    job_id: i.job_id.clone(),
                    job_name: i.job_name.clone(),
                    scheduled_run_time: i.scheduled_run_time,
                    args: i.args.clone(),
                    kwargs: i.kwargs.clone(),
                    state: i.state.clone(),
                    cancel: i.cancel.clone(),
                    scheduler_id: i.scheduler_id.clone(),
                    attempt: attempt.max(1),
                });
            }
        }
        self
    }

    /// Which attempt at the run time this run is: 1 for the first, 2 for the first retry...
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.inner.job_id
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        &self.inner.job_name
    }

    /// The run time this run was scheduled for (UTC).
    pub fn scheduled_run_time(&self) -> DateTime<Utc> {
        self.inner.scheduled_run_time
    }

    /// The job's positional arguments, undecoded.
    pub fn args(&self) -> &[Value] {
        &self.inner.args
    }

    /// The job's keyword arguments, undecoded.
    pub fn kwargs(&self) -> &Map<String, Value> {
        &self.inner.kwargs
    }

    /// The id of the scheduler instance running the job.
    pub fn scheduler_id(&self) -> &str {
        &self.inner.scheduler_id
    }

    /// Shared state of type `T` from the registry.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) when no value of that type was
    /// inserted with [`TaskRegistry::insert_state`].
    pub fn state<T: Any + Send + Sync>(&self) -> Result<&T> {
        self.inner.state.get::<T>().ok_or_else(|| {
            Error::new(
                crate::ErrorKind::NotFound,
                format!(
                    "no shared state of type {} (add it with TaskRegistry::insert_state)",
                    type_name::<T>()
                ),
            )
        })
    }

    /// Resolves when the run should stop: the scheduler is shutting down without waiting, or
    /// the run timed out. Tasks that run long should select on it.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.inner.cancel.cancelled()
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// The cancellation token itself.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.inner.job_id)
            .field("scheduled_run_time", &self.inner.scheduled_run_time)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Opts {
        path: String,
        #[serde(default)]
        retries: u32,
    }

    #[test]
    fn arguments_decode_by_python_call_rules() {
        let kw = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            decode_args::<(i64, i64)>(&[json!(1), json!(2)], &Map::new()),
            Ok((1, 2))
        );
        assert_eq!(decode_args::<()>(&[], &Map::new()), Ok(()));
        assert_eq!(
            decode_args::<Opts>(&[], &kw(json!({"path": "/tmp"}))),
            Ok(Opts {
                path: "/tmp".into(),
                retries: 0
            })
        );
        assert_eq!(
            decode_args::<Opts>(&[json!("/tmp"), json!(3)], &Map::new()),
            Ok(Opts {
                path: "/tmp".into(),
                retries: 3
            })
        );
        let both: Call<(i64,), Opts> =
            decode_args(&[json!(1)], &kw(json!({"path": "/x"}))).unwrap();
        assert_eq!(both.args, (1,));
        assert!(decode_args::<(i64, i64)>(&[json!(1)], &Map::new()).is_err());
        assert!(decode_args::<(i64, i64)>(&[json!("a"), json!(2)], &Map::new()).is_err());
        assert!(decode_args::<()>(&[json!(1)], &Map::new()).is_err());
    }

    #[test]
    fn check_reports_unknown_tasks_and_bad_arguments() {
        let mut registry = TaskRegistry::new();
        registry.register("app:add", |_: JobContext, (a, b): (i64, i64)| async move {
            Ok::<_, String>(a + b)
        });
        assert!(
            registry
                .check("app:add", &[json!(1), json!(2)], &Map::new())
                .is_ok()
        );
        let err = registry.check("app:nope", &[], &Map::new()).unwrap_err();
        assert_eq!(
            err.message(),
            "func: no task registered as 'app:nope' (registered: app:add)"
        );
        let err = registry
            .check("app:add", &[json!(1)], &Map::new())
            .unwrap_err();
        assert!(
            err.message()
                .starts_with("args: the arguments do not fit task 'app:add' ((i64, i64))"),
            "{err}"
        );
    }
}
