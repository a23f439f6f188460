//! APScheduler's log lines, captured from `tracing`: `Running job "<job>" (scheduled at ...)`
//! shows the job as APScheduler's executor sees it, its next run time already moved on by the
//! scheduler (also after a catch-up), and times in the zone APScheduler shows them in.
//!
//! One test per binary: the capturing subscriber is the process's global default.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::trigger::{DateSpec, IntervalSpec};
use scheduler_core::{
    BuiltinTrigger, Event, JobContext, JobSpec, ManualClock, Scheduler, TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(logs.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        logs
    })
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn executed(rx: &mut broadcast::Receiver<Event>, id: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await.expect("event stream closed") {
                Event::JobExecuted { job_id, .. } if &*job_id == id => return,
                _ => {}
            }
        }
    })
    .await
    .expect("the job did not run");
}

#[tokio::test]
async fn running_job_shows_the_next_run_time_after_a_catch_up() {
    let logs = logs();
    let mut registry = TaskRegistry::new();
    registry.register("test:noop", |_ctx: JobContext, (): ()| async move {
        Ok::<_, std::convert::Infallible>(())
    });
    let clock = ManualClock::new(t0());
    let sched = Scheduler::builder()
        .registry(registry)
        .jobstore("default", MemoryJobStore::new())
        .timezone(TimeZone::get("Asia/Shanghai").unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut events = sched.subscribe();
    // Every 5 s from t0 + 5 s, in the scheduler's zone (UTC+8, "CST").
    let interval: BuiltinTrigger = IntervalSpec {
        seconds: Some(5.0),
        start_date: Some("2026-01-01T08:00:05+08:00".into()),
        ..Default::default()
    }
    .build()
    .unwrap()
    .into();
    // Once at t0 + 30 s, written with another offset than the scheduler zone's.
    let date: BuiltinTrigger = DateSpec {
        run_date: Some("2026-01-01T02:00:30+02:00".into()),
        timezone: None,
    }
    .build()
    .unwrap()
    .into();
    sched
        .add_job(JobSpec::new("test:noop").id("c").trigger(interval))
        .await
        .unwrap();
    sched
        .add_job(JobSpec::new("test:noop").id("d").trigger(date))
        .await
        .unwrap();
    sched.start().await.unwrap();

    // Fire times 5, 10 and 15 s are due: coalesced into the run of 15 s; the next is 20 s.
    clock.advance(Duration::from_secs(16));
    executed(&mut events, "c").await;
    // The date job: its run date is shown with the offset it was written with, as APScheduler
    // keeps it (`next run at` is that same run: the finished job is removed, not modified).
    clock.advance(Duration::from_secs(15));
    executed(&mut events, "d").await;
    sched.shutdown(true).await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let running: Vec<&str> = text.lines().filter(|l| l.contains("Running job")).collect();
    assert!(
        running.iter().any(|l| l.contains(
            r#"Running job "c (trigger: interval[0:00:05], next run at: 2026-01-01 08:00:20 CST)" (scheduled at 2026-01-01 08:00:15+08:00)"#
        )),
        "{running:#?}"
    );
    assert!(
        running.iter().any(|l| l.contains(
            r#"Running job "d (trigger: date[2026-01-01 02:00:30 UTC+02:00], next run at: 2026-01-01 02:00:30 UTC+02:00)" (scheduled at 2026-01-01 02:00:30+02:00)"#
        )),
        "{running:#?}"
    );
}
