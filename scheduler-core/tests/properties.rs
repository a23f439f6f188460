//! Property tests of the triggers: fire times increase, match their expression, never come
//! before `now`, and bad input is an error, never a panic.

use chrono::{DateTime, Datelike, Duration, FixedOffset, TimeZone as _, Timelike, Utc};
use proptest::prelude::*;
use scheduler_core::Trigger;
use scheduler_core::trigger::BuiltinTrigger;
use serde_json::{Value, json};

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Europe/Dublin",
    "America/Santiago",
];

/// A field expression from a grammar subset whose meaning the test can check independently:
/// `*`, `*/n`, `a`, `a-b`, `a-b/n` and lists of those.
fn expr(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    let item = prop_oneof![
        Just("*".to_owned()),
        (2..=(hi - lo).max(2)).prop_map(|s| format!("*/{s}")),
        (lo..=hi).prop_map(|v| v.to_string()),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (lo..=hi, lo..=hi, 1..=5u32).prop_map(|(a, b, s)| {
            let (a, b) = (a.min(b), a.max(b));
            if b > a {
                format!("{a}-{b}/{}", s.min(b - a))
            } else {
                a.to_string()
            }
        }),
    ];
    prop::collection::vec(item, 1..=3).prop_map(|items| items.join(","))
}

/// Values an expression of the subset allows.
fn allowed(expr: &str, lo: u32, hi: u32) -> Vec<bool> {
    let mut ok = vec![false; (hi + 1) as usize];
    for item in expr.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().unwrap()),
            None => (item, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().unwrap(), b.parse().unwrap())
        } else {
            let v: u32 = range.parse().unwrap();
            (v, if item.contains('/') { hi } else { v })
        };
        let mut v = a;
        while v <= b {
            ok[v as usize] = true;
            v += step;
        }
    }
    ok
}

#[derive(Debug, Clone)]
struct CronCase {
    month: String,
    day: String,
    day_of_week: String,
    hour: String,
    minute: String,
    second: String,
    zone: &'static str,
}

fn cron_case() -> impl Strategy<Value = CronCase> {
    (
        expr(1, 12),
        expr(1, 31),
        expr(0, 6),
        expr(0, 23),
        expr(0, 59),
        expr(0, 59),
        prop::sample::select(ZONES),
    )
        .prop_map(
            |(month, day, day_of_week, hour, minute, second, zone)| CronCase {
                month,
                day,
                day_of_week,
                hour,
                minute,
                second,
                zone,
            },
        )
}

impl CronCase {
    fn trigger(&self) -> BuiltinTrigger {
        BuiltinTrigger::from_value(json!({
            "type": "cron", "month": self.month, "day": self.day, "day_of_week": self.day_of_week,
            "hour": self.hour, "minute": self.minute, "second": self.second, "timezone": self.zone,
        }))
        .unwrap()
    }

    fn matches(&self, wall: &DateTime<FixedOffset>) -> bool {
        allowed(&self.month, 1, 12)[wall.month() as usize]
            && allowed(&self.day, 1, 31)[wall.day() as usize]
            && allowed(&self.day_of_week, 0, 6)[wall.weekday().num_days_from_monday() as usize]
            && allowed(&self.hour, 0, 23)[wall.hour() as usize]
            && allowed(&self.minute, 0, 59)[wall.minute() as usize]
            && allowed(&self.second, 0, 59)[wall.second() as usize]
    }
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2040-01-01, whole seconds or with microseconds.
    (
        946_684_800i64..2_208_988_800,
        prop_oneof![Just(0u32), 0u32..1_000_000],
    )
        .prop_map(|(s, us)| Utc.timestamp_opt(s, us * 1000).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Fire times strictly increase, never come before `now`, and match every field in the
    /// trigger's zone. The one exception is APScheduler's reading of a wall time inside a DST
    /// gap (02:30 on a spring-forward night fires at 03:30): it matches once the gap is undone.
    #[test]
    fn cron_fire_times_increase_and_match(case in cron_case(), now in instant()) {
        let trigger = case.trigger();
        let mut prev: Option<DateTime<Utc>> = None;
        let mut at = now;
        for _ in 0..12 {
            let Some(fire) = trigger.next_fire_time(prev, at) else { break };
            prop_assert!(fire >= now, "{fire} is before now {now}");
            if let Some(prev) = prev {
                prop_assert!(fire > prev, "{fire} does not follow {prev}");
            }
            let wall = trigger.localize(fire);
            let before = trigger.localize(fire - Duration::hours(3));
            let gap = wall.offset().local_minus_utc() - before.offset().local_minus_utc();
            let undone = wall - Duration::seconds(i64::from(gap.max(0)));
            prop_assert!(
                case.matches(&wall) || (gap > 0 && case.matches(&undone)),
                "{wall} does not match {case:?}"
            );
            prev = Some(fire);
            at = fire;
        }
    }

    /// A crontab line fires exactly when cron(8) says: every field matches, with Vixie's
    /// either-or rule for the two day fields.
    #[test]
    fn crontab_matches_cron8(
        minute in expr(0, 59), hour in expr(0, 23), day in expr(1, 31), month in expr(1, 12),
        dow in expr(0, 7), now in instant(),
    ) {
        let line = format!("{minute} {hour} {day} {month} {dow}");
        let trigger = BuiltinTrigger::from_value(json!({"type": "crontab", "expr": line, "timezone": "UTC"})).unwrap();
        let days = allowed(&day, 1, 31);
        let dows = allowed(&dow, 0, 7);
        let either = !day.starts_with('*') && !dow.starts_with('*');
        let mut at = now;
        let mut prev = None;
        for _ in 0..8 {
            let Some(fire) = trigger.next_fire_time(prev, at) else { break };
            let w = fire;
            let sunday_based = w.weekday().num_days_from_sunday() as usize;
            let dow_ok = dows[sunday_based] || (sunday_based == 0 && dows[7]);
            let dom_ok = days[w.day() as usize];
            let day_ok = if either { dom_ok || dow_ok } else { dom_ok && dow_ok };
            prop_assert!(w.second() == 0 && allowed(&minute, 0, 59)[w.minute() as usize]
                && allowed(&hour, 0, 23)[w.hour() as usize] && allowed(&month, 1, 12)[w.month() as usize]
                && day_ok, "{w} does not match '{line}'");
            prev = Some(fire);
            at = fire;
        }
    }

    /// Interval and calendar-interval fire times increase and never come before `now`.
    #[test]
    fn intervals_increase_and_start_at_or_after_now(
        seconds in 1u32..200_000, zone in prop::sample::select(ZONES), now in instant(),
        start_offset in -1_000_000i64..1_000_000, months in 0u32..14, days in 0u32..40, hour in 0u32..24,
    ) {
        let start = (now + Duration::seconds(start_offset)).format("%Y-%m-%d %H:%M:%S").to_string();
        let interval = BuiltinTrigger::from_value(json!({
            "type": "interval", "seconds": seconds, "start_date": start, "timezone": zone,
        })).unwrap();
        let start_day = (now + Duration::seconds(start_offset)).format("%Y-%m-%d").to_string();
        let calendar = BuiltinTrigger::from_value(json!({
            "type": "calendarinterval", "months": months, "days": days.max(u32::from(months == 0)),
            "hour": hour, "start_date": start_day, "timezone": zone,
        })).unwrap();
        for trigger in [interval, calendar] {
            let mut prev = None;
            let mut at = now;
            for _ in 0..6 {
                let Some(fire) = trigger.next_fire_time(prev, at) else { break };
                prop_assert!(fire >= now);
                if let Some(prev) = prev { prop_assert!(fire > prev); }
                prev = Some(fire);
                at = fire;
            }
        }
    }

    /// Arbitrary field text never panics: it builds a trigger or gives an error naming the
    /// field.
    #[test]
    fn arbitrary_cron_fields_never_panic(
        field in prop::sample::select(&["year", "month", "day", "week", "day_of_week", "hour", "minute", "second"][..]),
        text in ".{0,24}",
        now in instant(),
    ) {
        match BuiltinTrigger::from_value(json!({"type": "cron", field: text, "timezone": "Europe/London"})) {
            Ok(t) => { let _ = t.next_fire_time(None, now); }
            Err(e) => prop_assert!(e.message().starts_with(field), "{e}"),
        }
    }

    /// Arbitrary crontab lines and date strings never panic.
    #[test]
    fn arbitrary_crontab_and_dates_never_panic(text in "[0-9a-zA-Z*/,@ #?L-]{0,30}", date in ".{0,30}", now in instant()) {
        if let Ok(t) = BuiltinTrigger::from_value(json!({"type": "crontab", "expr": text})) {
            let _ = t.next_fire_time(None, now);
        }
        match BuiltinTrigger::from_value(json!({"type": "date", "run_date": date, "timezone": "America/New_York"})) {
            Ok(t) => { let _ = t.next_fire_time(None, now); }
            Err(e) => prop_assert!(e.message().starts_with("run_date: invalid date"), "{e}"),
        }
    }

    /// Arbitrary JSON never panics.
    #[test]
    fn arbitrary_json_never_panics(value in json_value(), now in instant()) {
        if let Ok(t) = BuiltinTrigger::from_value(value) {
            let _ = t.fire_times(now).take(3).count();
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(
        &[
            "type",
            "year",
            "month",
            "day",
            "week",
            "day_of_week",
            "hour",
            "minute",
            "second",
            "weeks",
            "days",
            "hours",
            "minutes",
            "seconds",
            "start_date",
            "end_date",
            "timezone",
            "jitter",
            "run_date",
            "expr",
            "triggers",
            "years",
            "months",
        ][..],
    );
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|v| json!(v)),
        (-1e6f64..1e6).prop_map(|v| json!(v)),
        prop::sample::select(
            &[
                "cron",
                "interval",
                "date",
                "crontab",
                "calendarinterval",
                "and",
                "or",
                "*/5",
                "last fri",
                "UTC",
                "Europe/London",
                "2026-03-08 02:30:00",
                "0 0 * * *",
                ""
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// Expressions that can never match end the search (`None`) instead of scanning to year 9999
/// one day at a time; the benchmarks measure how fast.
#[test]
fn impossible_expressions_finish() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for spec in [
        json!({"type": "cron", "month": 2, "day": 30}),
        json!({"type": "cron", "month": "feb", "day": 31, "hour": 12}),
        json!({"type": "cron", "day": "last fri", "day_of_week": "mon"}),
        json!({"type": "cron", "month": 6, "week": 53}),
        json!({"type": "cron", "month": "4,6,9,11", "day": 31}),
        json!({"type": "cron", "year": "1970-2000"}),
        json!({"type": "crontab", "expr": "0 0 30 2 *"}),
        json!({"type": "and", "triggers": [{"type": "cron", "minute": 0}, {"type": "cron", "minute": 30}]}),
    ] {
        let trigger = BuiltinTrigger::from_value(spec.clone()).unwrap();
        assert_eq!(trigger.next_fire_time(None, now), None, "{spec}");
    }
}

/// An `and` whose triggers agree only sometimes keeps firing (APScheduler 3 hangs here).
#[test]
fn and_trigger_iterates() {
    let trigger = BuiltinTrigger::from_value(json!({"type": "and", "triggers": [
        {"type": "cron", "day": 13, "timezone": "UTC"},
        {"type": "cron", "day_of_week": "fri", "timezone": "UTC"},
    ]}))
    .unwrap();
    let fires: Vec<String> = trigger
        .fire_times(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
        .take(3)
        .map(|f| f.date_naive().to_string())
        .collect();
    assert_eq!(fires, ["2026-02-13", "2026-03-13", "2026-11-13"]);
}
