//! Exclusion calendars in the engine, on the manual clock.

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use scheduler_core::trigger::{CrontabSpec, IntervalSpec};
use scheduler_core::{
    ErrorKind, Event, ExclusionCalendar, JobChanges, JobContext, JobSpec, ManualClock, Scheduler,
    TaskRegistry, TimeZone,
};
use serde_json::json;
use store_memory::MemoryJobStore;
use tokio::sync::broadcast;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
}

fn build(clock: &ManualClock) -> Scheduler {
    let mut registry = TaskRegistry::new();
    registry.register("test:noop", |_ctx: JobContext, (): ()| async move {
        Ok::<_, String>(())
    });
    Scheduler::builder()
        .registry(registry)
        .jobstore("default", MemoryJobStore::new())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn calendar(v: serde_json::Value) -> ExclusionCalendar {
    ExclusionCalendar::from_value(v).unwrap()
}

async fn executed(rx: &mut broadcast::Receiver<Event>) -> DateTime<Utc> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::JobExecuted {
                scheduled_run_time, ..
            } = rx.recv().await.unwrap()
            {
                return scheduled_run_time;
            }
        }
    })
    .await
    .expect("no run")
}

#[tokio::test]
async fn fire_times_in_an_excluded_period_are_skipped() {
    let clock = ManualClock::new(at(20, 30));
    let sched = build(&clock);
    sched
        .put_calendar(
            "night",
            calendar(json!({"type": "daily", "start": "22:00", "end": "06:00"})),
        )
        .await
        .unwrap();
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    let hourly = IntervalSpec {
        hours: Some(1.0),
        start_date: Some(at(0, 0).to_rfc3339()),
        ..Default::default()
    }
    .build()
    .unwrap();
    let job = sched
        .add_job(
            JobSpec::new("test:noop")
                .id("hourly")
                .trigger(hourly)
                .calendar("night"),
        )
        .await
        .unwrap();
    assert_eq!(job.next_run_time(), Some(at(21, 0)));
    clock.set(at(21, 0));
    assert_eq!(executed(&mut events).await, at(21, 0));
    // 22:00 to 05:00 are excluded: the next run is at 06:00 the next day.
    let job = sched.get_job("hourly").await.unwrap().unwrap();
    assert_eq!(
        job.next_run_time(),
        Some(Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap())
    );
    // Through the night nothing runs, and nothing is reported missed.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap());
    assert_eq!(
        executed(&mut events).await,
        Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap()
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_calendar_added_later_passes_over_a_due_time_it_excludes() {
    let clock = ManualClock::new(at(8, 30));
    let sched = build(&clock);
    let mut events = sched.subscribe();
    sched
        .put_calendar(
            "holidays",
            calendar(json!({"type": "dates", "dates": ["2030-01-01"]})),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    let nine = CrontabSpec::new("0 9 * * *")
        .timezone("UTC")
        .build()
        .unwrap();
    sched
        .add_job(
            JobSpec::new("test:noop")
                .id("nine")
                .trigger(nine)
                .calendar("holidays"),
        )
        .await
        .unwrap();
    // Today becomes a holiday after the 09:00 run time was computed.
    sched
        .put_calendar(
            "holidays",
            calendar(json!({"type": "dates", "dates": ["2026-12-01"]})),
        )
        .await
        .unwrap();
    clock.set(at(9, 0));
    // Not run today: the job moves on to tomorrow 09:00.
    let tomorrow = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while sched
            .get_job("nine")
            .await
            .unwrap()
            .unwrap()
            .next_run_time()
            != Some(tomorrow)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the job did not move on");
    clock.set(tomorrow);
    assert_eq!(
        executed(&mut events).await,
        tomorrow,
        "the excluded 09:00 ran"
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn calendars_are_checked_by_name_and_protected_while_used() {
    let clock = ManualClock::new(at(8, 0));
    let sched = build(&clock);
    sched.start().await.unwrap();
    let err = sched
        .add_job(JobSpec::new("test:noop").id("a").calendar("nope"))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .starts_with("calendars[0]: no calendar named 'nope'"),
        "{err}"
    );
    sched
        .put_calendar(
            "weekends",
            calendar(json!({"type": "cron", "expr": "* * * * sat,sun"})),
        )
        .await
        .unwrap();
    let nine = CrontabSpec::new("0 9 * * *")
        .timezone("UTC")
        .build()
        .unwrap();
    sched
        .add_job(
            JobSpec::new("test:noop")
                .id("a")
                .trigger(nine)
                .calendar("weekends"),
        )
        .await
        .unwrap();
    // 2026-12-05 and 06 are a weekend: Friday 4th, then Monday 7th.
    let err = sched.remove_calendar("weekends").await.unwrap_err();
    assert!(err.message().contains("named by 1 job(s) (a)"), "{err}");
    let job = sched
        .modify_job(
            "a",
            JobChanges {
                calendars: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(job.calendars().is_empty());
    sched.remove_calendar("weekends").await.unwrap();
    assert_eq!(
        sched.remove_calendar("weekends").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn weekends_excluded_from_a_daily_job() {
    // Friday 2026-12-04 09:00 runs; Saturday and Sunday do not; Monday does.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap());
    let sched = build(&clock);
    sched
        .put_calendar(
            "weekends",
            calendar(json!({"type": "cron", "expr": "* * * * sat,sun"})),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    let nine = CrontabSpec::new("0 9 * * *")
        .timezone("UTC")
        .build()
        .unwrap();
    let job = sched
        .add_job(
            JobSpec::new("test:noop")
                .id("daily")
                .trigger(nine)
                .calendar("weekends"),
        )
        .await
        .unwrap();
    let mut fire = job.next_run_time();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(fire.unwrap());
        fire = job.next_fire_time(fire, fire.unwrap(), &sched.calendars());
    }
    let days: Vec<String> = seen.iter().map(|t| t.format("%a %d").to_string()).collect();
    assert_eq!(days, ["Fri 04", "Mon 07", "Tue 08"]);
    sched.shutdown(true).await.unwrap();
}

#[tokio::test]
async fn a_calendar_that_leaves_no_fire_time_pauses_the_job_instead_of_removing_it() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 24, 0, 0, 0).unwrap());
    let sched = build(&clock);
    sched
        .put_calendar(
            "none-yet",
            calendar(json!({"type": "dates", "dates": ["2030-01-01"]})),
        )
        .await
        .unwrap();
    sched.start().await.unwrap();
    // Christmas morning only.
    let xmas = CrontabSpec::new("0 9 25 12 *")
        .timezone("UTC")
        .build()
        .unwrap();
    sched
        .add_job(
            JobSpec::new("test:noop")
                .id("xmas")
                .trigger(xmas)
                .calendar("none-yet"),
        )
        .await
        .unwrap();
    // Now every Christmas is excluded.
    sched
        .put_calendar(
            "none-yet",
            calendar(json!({"type": "annual", "days": ["12-25"]})),
        )
        .await
        .unwrap();
    clock.set(Utc.with_ymd_and_hms(2026, 12, 25, 9, 0, 0).unwrap());
    let job = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let job = sched
                .get_job("xmas")
                .await
                .unwrap()
                .expect("the job was removed");
            if job.is_paused() {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the job was not paused");
    assert_eq!(job.calendars().len(), 1);
    sched.shutdown(true).await.unwrap();
}
