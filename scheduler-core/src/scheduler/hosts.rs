//! The synchronous hosts: `BackgroundScheduler` (own runtime, sync API) and
//! `BlockingScheduler` (runs on the calling thread until shutdown or Ctrl-C).

use std::fmt;
use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use super::{Scheduler, SchedulerBuilder};
use crate::error::{Error, ErrorKind, Result};
use crate::job::{Job, JobChanges, JobSpec};
use crate::trigger::BuiltinTrigger;

fn runtime(threads: usize) -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("rsched")
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("could not start the scheduler's runtime: {e}"),
            )
            .with_source(e)
        })
}

/// Runs `f` on `rt`, refusing (instead of panicking) when called from inside an async context.
fn block_on<F: std::future::Future>(rt: &Runtime, f: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "a BackgroundScheduler/BlockingScheduler method was called from async code; use Scheduler there",
        ));
    }
    Ok(rt.block_on(f))
}

macro_rules! sync_api {
    () => {
        /// The async scheduler inside (for `subscribe`, listeners, ids).
        pub fn scheduler(&self) -> &Scheduler {
            &self.scheduler
        }

        /// [`Scheduler::add_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::add_job`], or [`ErrorKind::Unsupported`] from async code.
        pub fn add_job(&self, spec: JobSpec) -> Result<Job> {
            block_on(&self.runtime, self.scheduler.add_job(spec))?
        }

        /// [`Scheduler::modify_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::modify_job`].
        pub fn modify_job(&self, id: &str, changes: JobChanges) -> Result<Job> {
            block_on(&self.runtime, self.scheduler.modify_job(id, changes))?
        }

        /// [`Scheduler::reschedule_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::reschedule_job`].
        pub fn reschedule_job(&self, id: &str, trigger: BuiltinTrigger) -> Result<Job> {
            block_on(&self.runtime, self.scheduler.reschedule_job(id, trigger))?
        }

        /// [`Scheduler::pause_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::pause_job`].
        pub fn pause_job(&self, id: &str) -> Result<Job> {
            block_on(&self.runtime, self.scheduler.pause_job(id))?
        }

        /// [`Scheduler::resume_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::resume_job`].
        pub fn resume_job(&self, id: &str) -> Result<Option<Job>> {
            block_on(&self.runtime, self.scheduler.resume_job(id))?
        }

        /// [`Scheduler::remove_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::remove_job`].
        pub fn remove_job(&self, id: &str) -> Result<()> {
            block_on(&self.runtime, self.scheduler.remove_job(id, None))?
        }

        /// [`Scheduler::remove_all_jobs`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::remove_all_jobs`].
        pub fn remove_all_jobs(&self) -> Result<()> {
            block_on(&self.runtime, self.scheduler.remove_all_jobs(None))?
        }

        /// [`Scheduler::get_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::get_job`].
        pub fn get_job(&self, id: &str) -> Result<Option<Job>> {
            block_on(&self.runtime, self.scheduler.get_job(id))?
        }

        /// [`Scheduler::get_jobs`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::get_jobs`].
        pub fn get_jobs(&self) -> Result<Vec<Job>> {
            block_on(&self.runtime, self.scheduler.get_jobs(None))?
        }

        /// [`Scheduler::run_job`], blocking.
        ///
        /// # Errors
        /// As [`Scheduler::run_job`].
        pub fn run_job(&self, id: &str) -> Result<Job> {
            block_on(&self.runtime, self.scheduler.run_job(id))?
        }

        /// [`Scheduler::pause`].
        ///
        /// # Errors
        /// As [`Scheduler::pause`].
        pub fn pause(&self) -> Result<()> {
            self.scheduler.pause()
        }

        /// [`Scheduler::resume`].
        ///
        /// # Errors
        /// As [`Scheduler::resume`].
        pub fn resume(&self) -> Result<()> {
            self.scheduler.resume()
        }
    };
}

/// A scheduler on its own thread pool with a blocking API, for programs without an async
/// runtime (APScheduler's `BackgroundScheduler`). Do not call its methods from async code (they
/// return [`ErrorKind::Unsupported`] there); use [`Scheduler`] in async programs.
pub struct BackgroundScheduler {
    scheduler: Scheduler,
    runtime: Runtime,
}

impl fmt::Debug for BackgroundScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundScheduler")
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}

impl BackgroundScheduler {
    /// Builds the scheduler and its runtime (two worker threads).
    ///
    /// # Errors
    /// As [`SchedulerBuilder::build`].
    pub fn new(builder: SchedulerBuilder) -> Result<Self> {
        Ok(BackgroundScheduler {
            scheduler: builder.build()?,
            runtime: runtime(2)?,
        })
    }

    /// Starts processing jobs in the background and returns.
    ///
    /// # Errors
    /// As [`Scheduler::start`].
    pub fn start(&self) -> Result<()> {
        block_on(&self.runtime, self.scheduler.start())?
    }

    /// Shuts down; with `wait`, after the running runs finish.
    ///
    /// # Errors
    /// As [`Scheduler::shutdown`].
    pub fn shutdown(&self, wait: bool) -> Result<()> {
        block_on(&self.runtime, self.scheduler.shutdown(wait))?
    }

    sync_api!();
}

/// A scheduler that runs on the calling thread (APScheduler's `BlockingScheduler`):
/// [`BlockingScheduler::start`] returns when [`ShutdownHandle::shutdown`] is called (from a job,
/// another thread, a signal handler) or on Ctrl-C, after waiting for running runs.
pub struct BlockingScheduler {
    scheduler: Scheduler,
    runtime: Runtime,
    stop: Arc<Notify>,
}

impl fmt::Debug for BlockingScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingScheduler")
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}

/// Stops a [`BlockingScheduler`] from anywhere. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<Notify>,
}

impl ShutdownHandle {
    /// Makes [`BlockingScheduler::start`] shut down and return.
    pub fn shutdown(&self) {
        self.stop.notify_one();
    }
}

impl BlockingScheduler {
    /// Builds the scheduler and its runtime.
    ///
    /// # Errors
    /// As [`SchedulerBuilder::build`].
    pub fn new(builder: SchedulerBuilder) -> Result<Self> {
        Ok(BlockingScheduler {
            scheduler: builder.build()?,
            runtime: runtime(2)?,
            stop: Arc::new(Notify::new()),
        })
    }

    /// A handle that stops [`BlockingScheduler::start`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
        }
    }

    /// Starts and blocks the calling thread until shut down (by a [`ShutdownHandle`] or
    /// Ctrl-C), then shuts down waiting for running runs.
    ///
    /// # Errors
    /// As [`Scheduler::start`] and [`Scheduler::shutdown`].
    pub fn start(&self) -> Result<()> {
        block_on(&self.runtime, async {
            self.scheduler.start().await?;
            tokio::select! {
                () = self.stop.notified() => {}
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received, shutting down"),
            }
            self.scheduler.shutdown(true).await
        })?
    }

    sync_api!();
}
