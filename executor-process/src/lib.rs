//! rsched's process-pool executor: registered tasks run in long-lived worker processes, so a
//! task that crashes (panics across FFI, aborts, segfaults, is killed by the OOM killer) or
//! spins cannot take the scheduler down — APScheduler's `ProcessPoolExecutor`, plus the job
//! timeouts its users have asked for since 2012 (APScheduler issues #17, #1005).
//!
//! Workers are the application's own binary started again in worker mode: call
//! [`run_worker_if_requested`] at the top of `main`, before anything else (as Python's
//! `if __name__ == "__main__":` guard for multiprocessing), with the same task registry, so the
//! workers know the same tasks. `rsched run` does this itself.
//!
//! ```no_run
//! fn registry() -> scheduler_core::TaskRegistry {
//!     let mut registry = scheduler_core::TaskRegistry::new();
//!     registry.register_blocking("app:crunch", |_ctx, (): ()| Ok::<_, String>(42));
//!     registry
//! }
//!
//! fn main() {
//!     executor_process::run_worker_if_requested(registry);
//!     // ... build the scheduler with registry() and a ProcessPoolExecutor ...
//! }
//! ```
//!
//! The parent and a worker exchange length-prefixed JSON frames (tokio-util's
//! `LengthDelimitedCodec`: a 4-byte big-endian length, then the JSON) over the worker's stdin
//! and stdout: one [`Request`] in, one [`Response`] out per run. In the worker, file descriptor 1
//! is redirected to stderr before any task runs, so a task printing to stdout cannot corrupt
//! the channel; the worker's stderr (its `tracing` output and anything tasks print) is read by
//! the parent line by line and re-logged through the parent's `tracing` (target
//! `rsched::worker`, with the worker's pid).
//!
//! Outcomes: a task's `Ok`/`Err` (a panic inside the worker is caught and becomes the job error
//! `panicked: …`, as on the thread pool); a worker that dies during a run — abort, segfault,
//! any signal, a non-zero exit — turns the run into a job error with outcome `crashed` naming
//! the exit status or signal, and the worker is replaced by a new one at the next run; a run
//! past its job's `timeout` has its worker killed (SIGKILL) and is recorded `timed_out`; a run
//! cut off by `shutdown(wait = false)` has its worker killed and is recorded `interrupted`. In
//! every case the `max_instances` slot is freed at once.
//!
//! Portability: the pool builds and runs on every tokio target. On unix a worker's stdout is
//! moved out of the tasks' reach (`dup2`), `memory_limit` is enforced (`setrlimit`) and a crash
//! names its signal. Elsewhere (Windows) those three are not available: a task that prints to
//! stdout corrupts the channel, so its run fails as `crashed` (write to stderr or use
//! `tracing` instead), `memory_limit` is ignored with a warning from the worker, and a crash
//! names the exit code.

#[cfg(not(any(unix, windows)))]
compile_error!(
    "executor-process runs tasks in worker processes: it needs a unix or Windows target \
     (use the threadpool executor, rsched's \"threads\" feature, elsewhere)"
);

#[cfg(unix)]
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{SinkExt as _, StreamExt as _};
use scheduler_core::executor::{ExecutorRuntime, SpawnedRuns};
use scheduler_core::registry::Handler;
use scheduler_core::{Executor, JobContext, JobRun, Result, RunOutcome, TaskError, TaskRegistry};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// Set (to `1`) in a worker's environment: the process is a worker.
pub const WORKER_ENV: &str = "RSCHED_WORKER";

/// Set in a worker's environment when the pool has a memory limit: bytes of address space
/// (`setrlimit(RLIMIT_AS)`).
pub const MEMORY_LIMIT_ENV: &str = "RSCHED_WORKER_MEMORY_LIMIT";

/// One run, parent to worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The registered task.
    pub func: String,
    /// Job id.
    pub job_id: String,
    /// Job name.
    pub job_name: String,
    /// The fire time the run is for (UTC).
    pub scheduled_run_time: DateTime<Utc>,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Map<String, Value>,
    /// The scheduler instance.
    pub scheduler_id: String,
    /// Which attempt at the run time this is (1 = the first run; absent from older parents).
    #[serde(default = "scheduler_core::history::first_attempt")]
    pub attempt: u32,
}

/// One result, worker to parent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The task returned this value.
    Ok(Value),
    /// The task failed (or panicked) with this message.
    Err(String),
}

/// If this process was started as a worker ([`WORKER_ENV`] is set), serves runs on
/// stdin/stdout with the tasks `registry()` registers and exits when the parent closes stdin;
/// otherwise returns at once. Call it first thing in `main`.
pub fn run_worker_if_requested(registry: impl FnOnce() -> TaskRegistry) {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    std::process::exit(worker_main(registry()));
}

fn worker_main(registry: TaskRegistry) -> i32 {
    if let Some(limit) = std::env::var(MEMORY_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        set_memory_limit(limit);
    }
    let protocol = match protocol_channel() {
        Ok(file) => file,
        Err(e) => {
            eprintln!("rsched worker: cannot set up its descriptors: {e}");
            return 70;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rsched worker: cannot start a runtime: {e}");
            return 70;
        }
    };
    runtime.block_on(serve(Arc::new(registry), protocol))
}

async fn serve(registry: Arc<TaskRegistry>, protocol: std::fs::File) -> i32 {
    let mut input = FramedRead::new(tokio::io::stdin(), LengthDelimitedCodec::new());
    let mut output = FramedWrite::new(
        tokio::fs::File::from_std(protocol),
        LengthDelimitedCodec::new(),
    );
    while let Some(frame) = input.next().await {
        let response = match frame {
            Ok(frame) => match serde_json::from_slice::<Request>(&frame) {
                Ok(request) => run_here(&registry, request).await,
                Err(e) => Response::Err(format!("the worker could not read the run: {e}")),
            },
            Err(e) => {
                eprintln!("rsched worker: bad frame: {e}");
                return 65;
            }
        };
        let bytes = serde_json::to_vec(&response).unwrap_or_else(|e| {
            serde_json::to_vec(&Response::Err(format!("cannot encode the result: {e}")))
                .unwrap_or_default()
        });
        if output.send(Bytes::from(bytes)).await.is_err() {
            return 0;
        }
    }
    0
}

async fn run_here(registry: &TaskRegistry, request: Request) -> Response {
    let Some(task) = registry.get(&request.func) else {
        return Response::Err(format!(
            "no task registered as '{}' in the worker process (register it in the registry passed to run_worker_if_requested)",
            request.func
        ));
    };
    let ctx = JobContext::new(
        Arc::from(request.job_id),
        Arc::from(request.job_name),
        request.scheduled_run_time,
        request.args,
        request.kwargs,
        registry.state().clone(),
        CancellationToken::new(),
        Arc::from(request.scheduler_id),
    )
    .with_attempt(request.attempt);
    let joined = match task.handler().clone() {
        Handler::Async(f) => tokio::spawn(f(ctx)).await,
        Handler::Blocking(f) => tokio::task::spawn_blocking(move || f(ctx)).await,
    };
    match joined {
        Ok(Ok(value)) => Response::Ok(value),
        Ok(Err(e)) => Response::Err(e.message().to_owned()),
        Err(e) if e.is_panic() => Response::Err(
            scheduler_core::executor::panic_error(&*e.into_panic())
                .message()
                .to_owned(),
        ),
        Err(e) => Response::Err(format!("the run was cancelled: {e}")),
    }
}

/// Settings of a [`ProcessPoolExecutor`].
#[derive(Debug, Clone, Default)]
pub struct ProcessPoolOptions {
    /// Worker processes at most (default: the number of CPUs).
    pub max_workers: Option<usize>,
    /// Runs a worker serves before it is replaced (bounds slow leaks); `None` = no limit.
    pub max_tasks_per_child: Option<u32>,
    /// Address-space limit of each worker in bytes (`setrlimit(RLIMIT_AS)`); an allocation
    /// past it fails inside the worker, which aborts: the run is `crashed` (SIGABRT), the
    /// scheduler lives on.
    pub memory_limit: Option<u64>,
    /// The worker program (default: this process's own executable,
    /// `std::env::current_exe()`); it must call [`run_worker_if_requested`].
    pub program: Option<PathBuf>,
}

/// A pool of worker processes (see the crate docs).
#[derive(Debug)]
pub struct ProcessPoolExecutor {
    options: ProcessPoolOptions,
    runs: SpawnedRuns,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    idle: Mutex<Vec<Worker>>,
    slots: Semaphore,
    max_workers: usize,
}

impl ProcessPoolExecutor {
    /// A pool with `options` (workers start on demand and stay warm).
    pub fn new(options: ProcessPoolOptions) -> Self {
        let max_workers = options
            .max_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
            .max(1);
        ProcessPoolExecutor {
            options,
            runs: SpawnedRuns::default(),
            shared: Arc::new(Shared {
                idle: Mutex::new(Vec::new()),
                slots: Semaphore::new(max_workers),
                max_workers,
            }),
        }
    }

    /// The pool size.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }
}

/// A worker process and its channel.
#[derive(Debug)]
struct Worker {
    pid: u32,
    child: Child,
    input: FramedWrite<ChildStdin, LengthDelimitedCodec>,
    output: FramedRead<ChildStdout, LengthDelimitedCodec>,
    runs: u32,
}

impl Worker {
    fn spawn(options: &ProcessPoolOptions) -> std::io::Result<Worker> {
        let program = match &options.program {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        let mut command = Command::new(program);
        command
            .env(WORKER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(limit) = options.memory_limit {
            command.env(MEMORY_LIMIT_ENV, limit.to_string());
        }
        let mut child = command.spawn()?;
        let pid = child.id().unwrap_or_default();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the worker's pipes are missing"));
        };
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "rsched::worker", worker_pid = pid, "{line}");
            }
        });
        tracing::debug!(worker_pid = pid, "Started worker process {pid}");
        Ok(Worker {
            pid,
            child,
            input: FramedWrite::new(stdin, LengthDelimitedCodec::new()),
            output: FramedRead::new(stdout, LengthDelimitedCodec::new()),
            runs: 0,
        })
    }

    /// Sends a run and waits for its result; `Err` when the worker died (its status read).
    async fn call(&mut self, request: &Request) -> std::result::Result<Response, String> {
        let frame =
            serde_json::to_vec(request).map_err(|e| format!("cannot encode the run: {e}"))?;
        let sent = self.input.send(Bytes::from(frame)).await;
        let answer = match sent {
            Ok(()) => self.output.next().await,
            Err(_) => None,
        };
        match answer {
            Some(Ok(frame)) => serde_json::from_slice(&frame)
                .map_err(|e| format!("the worker sent an unreadable result: {e}")),
            _ => Err(self.death().await),
        }
    }

    /// Why the worker is gone: its exit status or signal.
    async fn death(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => match exit_signal(status) {
                Some(signal) => format!(
                    "the worker process {} was killed by signal {signal} ({})",
                    self.pid,
                    signal_name(signal)
                ),
                None => format!(
                    "the worker process {} exited with status {} during the run",
                    self.pid,
                    status.code().unwrap_or(-1)
                ),
            },
            Err(e) => format!("the worker process {} was lost: {e}", self.pid),
        }
    }
}

/// Limits the worker's address space to `limit` bytes (`setrlimit(RLIMIT_AS)`).
#[cfg(unix)]
fn set_memory_limit(limit: u64) {
    let rlimit = rustix::process::Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::As, rlimit) {
        eprintln!("rsched worker: cannot set the memory limit: {e}");
    }
}

/// No `setrlimit` here: the limit is not enforced (see the crate docs).
#[cfg(not(unix))]
fn set_memory_limit(limit: u64) {
    eprintln!(
        "rsched worker: memory_limit ({limit} bytes) is not enforced on this platform (unix only)"
    );
}

/// The channel to the parent: the original stdout, with fd 1 moved to stderr so tasks that
/// print cannot corrupt it.
#[cfg(unix)]
fn protocol_channel() -> std::io::Result<std::fs::File> {
    let fd = rustix::io::dup(std::io::stdout())?;
    rustix::stdio::dup2_stdout(std::io::stderr())?;
    Ok(std::fs::File::from(fd))
}

/// The channel to the parent: stdout as it is (see the crate docs on printing tasks).
#[cfg(windows)]
fn protocol_channel() -> std::io::Result<std::fs::File> {
    use std::os::windows::io::{AsHandle as _, OwnedHandle};
    let handle: OwnedHandle = std::io::stdout().as_handle().try_clone_to_owned()?;
    Ok(std::fs::File::from(handle))
}

/// The signal that ended a worker, if any (unix only).
#[cfg(unix)]
fn exit_signal(status: std::process::ExitStatus) -> Option<i32> {
    status.signal()
}

/// No signals here: workers end with exit codes.
#[cfg(not(unix))]
fn exit_signal(_status: std::process::ExitStatus) -> Option<i32> {
    None
}

#[cfg(unix)]
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGABRT => "SIGABRT: the task aborted, e.g. on an allocation failure",
        libc::SIGSEGV => "SIGSEGV: segmentation fault",
        libc::SIGBUS => "SIGBUS: bus error",
        libc::SIGILL => "SIGILL: illegal instruction",
        libc::SIGFPE => "SIGFPE: arithmetic fault",
        libc::SIGKILL => "SIGKILL: killed, e.g. by the OOM killer",
        libc::SIGTERM => "SIGTERM: terminated",
        _ => "a signal",
    }
}

#[cfg(not(unix))]
fn signal_name(_signal: i32) -> &'static str {
    "a signal"
}

impl Shared {
    /// Runs one request on a warm (or new) worker; the worker is killed if this future is
    /// dropped (timeout, interrupting shutdown) and replaced when it dies.
    async fn run(
        &self,
        options: &ProcessPoolOptions,
        request: Request,
    ) -> scheduler_core::registry::TaskResult {
        let Ok(_permit) = self.slots.acquire().await else {
            return Err(TaskError::new("the process pool is shut down"));
        };
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut worker = match idle {
            Some(w) => w,
            None => Worker::spawn(options)
                .map_err(|e| TaskError::new(format!("cannot start a worker process: {e}")))?,
        };
        match worker.call(&request).await {
            Ok(response) => {
                worker.runs += 1;
                let recycle = options
                    .max_tasks_per_child
                    .is_some_and(|n| worker.runs >= n);
                if recycle {
                    tracing::debug!(
                        worker_pid = worker.pid,
                        "Recycling worker process {} after {} runs",
                        worker.pid,
                        worker.runs
                    );
                    drop(worker);
                } else {
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(worker);
                }
                match response {
                    Response::Ok(value) => Ok(value),
                    Response::Err(message) => Err(TaskError::new(message)),
                }
            }
            Err(death) => {
                tracing::warn!(worker_pid = worker.pid, "{death}; it will be replaced");
                Err(TaskError::with_outcome(RunOutcome::Crashed, death))
            }
        }
    }
}

fn request(ctx: &JobContext, func: &str) -> Request {
    Request {
        func: func.to_owned(),
        job_id: ctx.job_id().to_owned(),
        job_name: ctx.job_name().to_owned(),
        scheduled_run_time: ctx.scheduled_run_time(),
        args: ctx.args().to_vec(),
        kwargs: ctx.kwargs().clone(),
        scheduler_id: ctx.scheduler_id().to_owned(),
        attempt: ctx.attempt(),
    }
}

#[async_trait]
impl Executor for ProcessPoolExecutor {
    fn start(&self, runtime: ExecutorRuntime) -> Result<()> {
        self.runs.start(runtime);
        Ok(())
    }

    fn submit(&self, run: JobRun) -> Result<()> {
        self.runs.spawn(run, |runtime, run| {
            let (shared, options) = (self.shared.clone(), self.options.clone());
            async move {
                let func = run.job.func().to_owned();
                runtime
                    .run_job_with(&run, |ctx| {
                        let request = request(&ctx, &func);
                        let (shared, options) = (shared.clone(), options.clone());
                        async move { shared.run(&options, request).await }
                    })
                    .await;
            }
        })
    }

    fn running_jobs(&self) -> Vec<std::sync::Arc<str>> {
        self.runs.running_jobs()
    }

    async fn shutdown(&self, wait: bool) {
        self.runs.shutdown(wait).await;
        // Idle workers end when their stdin closes (and are killed on drop).
        self.shared
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
