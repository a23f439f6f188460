//! Next-fire-time throughput, iterating fire after fire as the scheduler does
//! (`next_fire_time(Some(previous), previous)`), restarting from 2026-01-01 after a year.
//!
//! `cargo bench -p scheduler-core --bench triggers`; the figures are in README.md.

use std::hint::black_box;

use chrono::{DateTime, TimeZone as _, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scheduler_core::{BuiltinTrigger, Trigger};

const CASES: &[(&str, &str)] = &[
    (
        "cron business hours */5 New York",
        r#"{"type":"cron","second":0,"minute":"*/5","hour":"9-17","day_of_week":"mon-fri","timezone":"America/New_York"}"#,
    ),
    (
        "cron every second UTC",
        r#"{"type":"cron","second":"*","timezone":"UTC"}"#,
    ),
    (
        "cron every minute UTC",
        r#"{"type":"cron","minute":"*","timezone":"UTC"}"#,
    ),
    (
        "cron day=last",
        r#"{"type":"cron","day":"last","timezone":"UTC"}"#,
    ),
    (
        "cron day=last fri",
        r#"{"type":"cron","day":"last fri","timezone":"UTC"}"#,
    ),
    (
        "cron daily 02:30 New York (DST year)",
        r#"{"type":"cron","hour":2,"minute":30,"timezone":"America/New_York"}"#,
    ),
    (
        "crontab */5 9-17 * * 1-5 New York",
        r#"{"type":"crontab","expr":"*/5 9-17 * * 1-5","timezone":"America/New_York"}"#,
    ),
    (
        "crontab 0 0 1,15 * mon (either-or)",
        r#"{"type":"crontab","expr":"0 0 1,15 * mon","timezone":"UTC"}"#,
    ),
    (
        "interval 90s Europe/London",
        r#"{"type":"interval","seconds":90,"start_date":"2026-01-01 00:00:00","timezone":"Europe/London"}"#,
    ),
    (
        "date",
        r#"{"type":"date","run_date":"2026-08-13 14:00:01","timezone":"Asia/Shanghai"}"#,
    ),
    (
        "calendarinterval monthly 09:00 Europe/Paris",
        r#"{"type":"calendarinterval","months":1,"hour":9,"start_date":"2026-01-31","timezone":"Europe/Paris"}"#,
    ),
];

fn iterate(c: &mut Criterion) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let year_later = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let mut group = c.benchmark_group("next_fire_time");
    group.throughput(Throughput::Elements(1));
    for (name, json) in CASES {
        let trigger = BuiltinTrigger::from_json(json).unwrap();
        group.bench_function(*name, |b| {
            let mut prev: Option<DateTime<Utc>> = None;
            b.iter(|| {
                let now = prev.unwrap_or(start);
                let next = trigger.next_fire_time(prev, now);
                prev = next.filter(|n| *n < year_later);
                black_box(next)
            });
        });
    }
    group.finish();

    // Expressions that never match: how long until the search gives up.
    let mut group = c.benchmark_group("never_matches");
    for json in [
        r#"{"type":"cron","month":2,"day":30}"#,
        r#"{"type":"cron","day":"last fri","day_of_week":"mon"}"#,
        r#"{"type":"cron","month":6,"week":53}"#,
    ] {
        let trigger = BuiltinTrigger::from_json(json).unwrap();
        group.bench_function(json, |b| {
            b.iter(|| black_box(trigger.next_fire_time(None, start)))
        });
    }
    group.finish();
}

criterion_group!(benches, iterate);
criterion_main!(benches);
