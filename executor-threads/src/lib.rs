#![doc = include_str!("../README.md")]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use scheduler_core::executor::{ExecutorRuntime, Instances};
use scheduler_core::{Error, ErrorKind, Executor, JobRun, Result};
use tokio::sync::Notify;

/// The default number of worker threads (APScheduler's and Flask-APScheduler's default).
pub const DEFAULT_MAX_WORKERS: usize = 10;

/// A bounded pool of OS threads running jobs. See the crate docs.
pub struct ThreadPoolExecutor {
    max_workers: usize,
    instances: Arc<Instances>,
    pool: Mutex<Option<Pool>>,
}

struct Pool {
    sender: Sender<JobRun>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    runtime: ExecutorRuntime,
    handle: tokio::runtime::Handle,
    /// Runs submitted and not finished (queued or running).
    outstanding: AtomicUsize,
    idle: Notify,
    /// Set by a shutdown without waiting: queued runs are dropped.
    abandon: AtomicBool,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_WORKERS)
    }
}

impl ThreadPoolExecutor {
    /// A pool of `max_workers` threads (at least 1), started with the scheduler.
    pub fn new(max_workers: usize) -> Self {
        ThreadPoolExecutor {
            max_workers: max_workers.max(1),
            instances: Arc::new(Instances::default()),
            pool: Mutex::new(None),
        }
    }

    /// The number of worker threads.
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }
}

fn worker(receiver: Arc<Mutex<Receiver<JobRun>>>, shared: Arc<Shared>) {
    loop {
        let next = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(run) = next else { return };
        if shared.abandon.load(Ordering::Acquire) {
            tracing::warn!(
                job_id = run.job.id(),
                "Run of job \"{}\" dropped: the executor was shut down without waiting",
                run.job
            );
        } else {
            shared.runtime.run_job_blocking(&run, &shared.handle);
        }
        if let Some(slot) = &run.instance {
            slot.release();
        }
        if shared.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.idle.notify_waiters();
        }
    }
}

#[async_trait]
impl Executor for ThreadPoolExecutor {
    fn start(&self, runtime: ExecutorRuntime) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                "the thread-pool executor must be started inside a tokio runtime",
            )
        })?;
        let (sender, receiver) = channel::<JobRun>();
        let receiver = Arc::new(Mutex::new(receiver));
        let shared = Arc::new(Shared {
            runtime,
            handle,
            outstanding: AtomicUsize::new(0),
            idle: Notify::new(),
            abandon: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(self.max_workers);
        for i in 0..self.max_workers {
            let receiver = receiver.clone();
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("rsched-worker-{i}"))
                .spawn(move || worker(receiver, shared))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("could not start worker thread: {e}"),
                    )
                    .with_source(e)
                })?;
            threads.push(thread);
        }
        *self.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(Pool {
            sender,
            shared,
            threads,
        });
        Ok(())
    }

    fn submit(&self, run: JobRun) -> Result<()> {
        let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pool.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                "the thread-pool executor is not started",
            )
        })?;
        let mut run = run;
        // Freed before the run's last event, or when the run is dropped unsent.
        run.instance = Some(self.instances.acquire_slot(&run.job)?);
        pool.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        if pool.sender.send(run).is_err() {
            pool.shared.outstanding.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the thread-pool executor is shut down",
            ));
        }
        Ok(())
    }

    fn running_jobs(&self) -> Vec<std::sync::Arc<str>> {
        self.instances.running_jobs()
    }

    async fn shutdown(&self, wait: bool) {
        let Some(pool) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let Pool {
            sender,
            shared,
            threads,
        } = pool;
        drop(sender); // workers exit once the queue is empty
        if wait {
            loop {
                let idle = shared.idle.notified();
                if shared.outstanding.load(Ordering::Acquire) == 0 {
                    break;
                }
                idle.await;
            }
            for thread in threads {
                let _ = thread.join();
            }
        } else {
            shared.abandon.store(true, Ordering::Release);
        }
    }
}
