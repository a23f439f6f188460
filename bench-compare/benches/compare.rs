//! The same schedules through rsched, the `cron` crate and `croner`, iterating fire after fire
//! from 2026-01-01 (restarting after a year). Run: `cargo bench --manifest-path bench-compare/Cargo.toml`.

use std::hint::black_box;
use std::str::FromStr;

use chrono::{DateTime, TimeZone as _, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scheduler_core::{BuiltinTrigger, Trigger};

/// (name, rsched trigger JSON, `cron` crate expression (sec min hour dom mon dow), croner
/// expression (with seconds), zone).
const CASES: &[(&str, &str, Option<&str>, Option<&str>, &str)] = &[
    (
        "business hours */5 New York",
        r#"{"type":"cron","second":0,"minute":"*/5","hour":"9-17","day_of_week":"mon-fri","timezone":"America/New_York"}"#,
        Some("0 */5 9-17 * * Mon-Fri"),
        Some("0 */5 9-17 * * 1-5"),
        "America/New_York",
    ),
    (
        "every second",
        r#"{"type":"cron","second":"*","timezone":"UTC"}"#,
        Some("* * * * * *"),
        Some("* * * * * *"),
        "UTC",
    ),
    (
        "every minute",
        r#"{"type":"cron","minute":"*","timezone":"UTC"}"#,
        Some("0 * * * * *"),
        Some("0 * * * * *"),
        "UTC",
    ),
    (
        "last day of month",
        r#"{"type":"cron","day":"last","timezone":"UTC"}"#,
        None,
        Some("0 0 0 L * *"),
        "UTC",
    ),
    (
        "last friday",
        r#"{"type":"cron","day":"last fri","timezone":"UTC"}"#,
        None,
        Some("0 0 0 * * 5L"),
        "UTC",
    ),
    (
        "quartz weekdays 09:00 Shanghai",
        r#"{"type":"quartz","expr":"0 0 9 ? * MON-FRI","timezone":"Asia/Shanghai"}"#,
        Some("0 0 9 * * Mon-Fri"),
        Some("0 0 9 * * 1-5"),
        "Asia/Shanghai",
    ),
    (
        "quartz every 10 s in business hours New York",
        r#"{"type":"quartz","expr":"*/10 * 9-17 ? * MON-FRI","timezone":"America/New_York"}"#,
        Some("*/10 * 9-17 * * Mon-Fri"),
        Some("*/10 * 9-17 * * 1-5"),
        "America/New_York",
    ),
    (
        "crontab 6 fields every 15 s",
        r#"{"type":"crontab","expr":"*/15 * * * * *","timezone":"UTC"}"#,
        Some("*/15 * * * * *"),
        Some("*/15 * * * * *"),
        "UTC",
    ),
    (
        "quartz last weekday of the month",
        r#"{"type":"quartz","expr":"0 0 18 LW * ?","timezone":"UTC"}"#,
        None,
        Some("0 0 18 LW * *"),
        "UTC",
    ),
    (
        "crontab third Friday (5#3)",
        r#"{"type":"crontab","expr":"0 0 12 * * 5#3","timezone":"UTC"}"#,
        None,
        Some("0 0 12 * * 5#3"),
        "UTC",
    ),
    (
        "daily 02:30 New York",
        r#"{"type":"cron","hour":2,"minute":30,"timezone":"America/New_York"}"#,
        Some("0 30 2 * * *"),
        Some("0 30 2 * * *"),
        "America/New_York",
    ),
];

fn compare(c: &mut Criterion) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let year_later = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    for (name, json, cron_expr, croner_expr, zone) in CASES {
        let tz = chrono_tz::Tz::from_str(zone).unwrap();
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Elements(1));

        let trigger = BuiltinTrigger::from_json(json).unwrap();
        group.bench_function("rsched", |b| {
            let mut prev: Option<DateTime<Utc>> = None;
            b.iter(|| {
                let next = trigger.next_fire_time(prev, prev.unwrap_or(start));
                prev = next.filter(|n| *n < year_later);
                black_box(next)
            });
        });

        if let Some(expr) = cron_expr {
            let schedule = cron::Schedule::from_str(expr).unwrap();
            group.bench_function("cron", |b| {
                let mut prev = start.with_timezone(&tz);
                b.iter(|| {
                    let next = schedule.after(&prev).next();
                    prev = next.filter(|n| *n < year_later).unwrap_or(start.with_timezone(&tz));
                    black_box(next)
                });
            });
        }

        if let Some(expr) = croner_expr {
            let schedule = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .build()
                .parse(expr)
                .unwrap();
            group.bench_function("croner", |b| {
                let mut prev = start.with_timezone(&tz);
                b.iter(|| {
                    let next = schedule.find_next_occurrence(&prev, false).ok();
                    prev = next.filter(|n| *n < year_later).unwrap_or(start.with_timezone(&tz));
                    black_box(next)
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compare);
criterion_main!(benches);
