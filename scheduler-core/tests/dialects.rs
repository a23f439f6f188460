//! Agreement with the Rust peers, proved on generated expressions: the `quartz` trigger against
//! the `cron` crate (Quartz syntax, day of week 1 = Sunday) and against `croner` in its Quartz
//! mode (for `L`, `W` and `#`), and the six-field `crontab` against `croner`. Each case draws an
//! expression the peer accepts and a zone, and compares the fire times of a year (2026) from
//! the start of each month.
//!
//! Documented differences, left out by name:
//!
//! - **`crontab` across an offset change.** The conformance vectors pin APScheduler's search
//!   for crontab lines, which moves to a later day by elapsed time and so lands an hour off
//!   after a DST change (`0 0 1 * *` in New York passes over 2027-04-01); `quartz` moves by
//!   wall time, as Quartz and the peers do. The crontab comparison stops at the first offset
//!   change after each start.
//! - **DST transition days.** In a spring-forward gap rsched fires a skipped wall time at the
//!   same offset after the gap (02:30 → 03:30, APScheduler's and cron(8)'s rule) where the peers
//!   skip it; in a repeated hour the peers differ among themselves. Fire times on a local date
//!   with an offset change are compared by neither side (`dst_days`).
//! - **Vixie's either-or rule.** cron(8) treats a day field starting with `*` (`*/2`) as
//!   unrestricted; croner only a bare `*`. Lines with such a day field beside a restricted
//!   other day field are not drawn for the croner comparison.
//! - **Quartz's one-`?` rule.** `quartz`, like Quartz, refuses `L` / `#` day-of-week items
//!   beside a restricted day of month; croner's Quartz mode accepts them (and ANDs).

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone as _, Utc};
use proptest::prelude::*;
use scheduler_core::trigger::BuiltinTrigger;

/// Zones whose 2026 rules chrono-tz 0.10 and rsched's bundled database agree on: no DST, DST in
/// the north (two rules), in the south, and a half-hour offset.
const ZONES: [&str; 6] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Asia/Shanghai",
];

/// Fire times compared per month start.
const PER_MONTH: usize = 12;

/// The local dates of 2025-12-31..=2027-01-01 on which `zone`'s UTC offset changes.
fn dst_days(zone: &str) -> BTreeSet<NaiveDate> {
    static CACHE: LazyLock<Mutex<HashMap<String, BTreeSet<NaiveDate>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(zone.to_owned())
        .or_insert_with(|| {
            let tz = chrono_tz::Tz::from_str(zone).unwrap();
            let mut days = BTreeSet::new();
            let mut t = Utc.with_ymd_and_hms(2025, 12, 30, 0, 0, 0).unwrap();
            let end = Utc.with_ymd_and_hms(2027, 1, 2, 0, 0, 0).unwrap();
            let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
            while t < end {
                let next = t + chrono::Duration::minutes(30);
                if offset(t) != offset(next) {
                    days.insert(t.with_timezone(&tz).date_naive());
                    days.insert(next.with_timezone(&tz).date_naive());
                }
                t = next;
            }
            days
        })
        .clone()
}

/// The month starts of 2026 in `zone`, as UTC instants.
fn month_starts(zone: &str) -> Vec<DateTime<Utc>> {
    let tz = chrono_tz::Tz::from_str(zone).unwrap();
    (1..=12)
        .map(|m| {
            tz.with_ymd_and_hms(2026, m, 1, 0, 0, 0)
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        })
        .collect()
}

/// Up to `PER_MONTH` fire times from each month start (the first at or after it), as Unix
/// seconds, without those on DST transition days. With `until_dst`, each list also stops at
/// the first DST transition after its start (for `crontab`, whose search is APScheduler's:
/// moving to a later day across an offset change, it lands an hour off, as the conformance
/// vectors pin, e.g. `crontab-035`).
fn compare_set(
    zone: &str,
    until_dst: bool,
    mut next_from: impl FnMut(DateTime<Utc>) -> Vec<DateTime<Utc>>,
) -> Vec<Vec<i64>> {
    let tz = chrono_tz::Tz::from_str(zone).unwrap();
    let skip = dst_days(zone);
    let end = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    month_starts(zone)
        .into_iter()
        .map(|start| {
            let local_start = start.with_timezone(&tz).date_naive();
            let first_change = skip.iter().find(|d| **d > local_start).copied();
            next_from(start)
                .into_iter()
                .filter(|t| *t < end)
                .filter(|t| {
                    !until_dst || first_change.is_none_or(|d| t.with_timezone(&tz).date_naive() < d)
                })
                .filter(|t| !skip.contains(&t.with_timezone(&tz).date_naive()))
                .map(|t| t.timestamp())
                .collect()
        })
        .collect()
}

fn rsched_times(json: serde_json::Value) -> impl FnMut(DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let trigger = BuiltinTrigger::from_value(json).unwrap();
    move |start| {
        trigger
            .fire_times(start)
            .take(PER_MONTH)
            .map(|t| t.with_timezone(&Utc))
            .collect()
    }
}

fn cron_crate_times(expr: &str, zone: &str) -> impl FnMut(DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let schedule = cron::Schedule::from_str(expr).unwrap();
    let tz = chrono_tz::Tz::from_str(zone).unwrap();
    move |start| {
        // `after` is strictly after: start one second early to include `start` itself.
        let from = (start - chrono::Duration::seconds(1)).with_timezone(&tz);
        schedule
            .after(&from)
            .take(PER_MONTH)
            .map(|t| t.with_timezone(&Utc))
            .collect()
    }
}

fn croner_times(cron: croner::Cron, zone: &str) -> impl FnMut(DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let tz = chrono_tz::Tz::from_str(zone).unwrap();
    move |start| {
        let mut out = Vec::new();
        let mut at = start.with_timezone(&tz);
        let mut inclusive = true;
        while out.len() < PER_MONTH {
            let Ok(next) = cron.find_next_occurrence(&at, inclusive) else {
                break;
            };
            if next.with_timezone(&Utc).year() > 2026 {
                break;
            }
            out.push(next.with_timezone(&Utc));
            at = next;
            inclusive = false;
        }
        out
    }
}

/// One item of a numeric field: `*`, `*/n`, `a`, `a-b`, `a-b/n` and, where `from_step`, `a/n`.
fn item(min: u32, max: u32, from_step: bool) -> impl Strategy<Value = String> {
    let span = max - min;
    let steps = 1..=span.max(1);
    prop_oneof![
        2 => Just("*".to_owned()),
        2 => steps.clone().prop_map(|n| format!("*/{n}")),
        3 => (min..=max).prop_map(|a| a.to_string()),
        2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (min..=max, min..=max, steps.clone())
            .prop_map(|(a, b, n)| format!("{}-{}/{n}", a.min(b), a.max(b))),
        1 => (min..=max, steps, Just(from_step))
            .prop_map(|(a, n, ok)| if ok { format!("{a}/{n}") } else { a.to_string() }),
    ]
}

/// A comma list of one to three items (a lone `*` stays alone).
fn field(min: u32, max: u32, from_step: bool) -> impl Strategy<Value = String> {
    prop::collection::vec(item(min, max, from_step), 1..=3).prop_map(|items| {
        if items.iter().any(|i| i == "*") {
            "*".to_owned()
        } else {
            items.join(",")
        }
    })
}

/// A field that is usually `*` (so schedules stay dense enough to compare).
fn mostly_all(min: u32, max: u32, from_step: bool) -> impl Strategy<Value = String> {
    prop_oneof![3 => Just("*".to_owned()), 2 => field(min, max, from_step)]
}

const QUARTZ_DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// A Quartz day of week in the `cron` crate's grammar: numbers 1-7, names, ranges of names.
fn quartz_weekdays() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        2 => field(1, 7, true),
        2 => (0..7usize, 0..7usize).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            if a == b {
                QUARTZ_DAYS[a].to_owned()
            } else {
                format!("{}-{}", QUARTZ_DAYS[a], QUARTZ_DAYS[b])
            }
        }),
    ]
}

fn months() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("*".to_owned()),
        2 => field(1, 12, true),
        1 => (0..12usize, 0..12usize).prop_map(|(a, b)| {
            format!("{}-{}", MONTHS[a.min(b)], MONTHS[a.max(b)])
        }),
    ]
}

/// A Quartz expression in the grammar the `cron` crate shares.
fn quartz_line() -> impl Strategy<Value = String> {
    (
        field(0, 59, true),
        mostly_all(0, 59, true),
        mostly_all(0, 23, true),
        prop_oneof![3 => Just("*".to_owned()), 1 => Just("?".to_owned()), 2 => field(1, 31, true)],
        months(),
        quartz_weekdays(),
        prop_oneof![
            4 => Just(String::new()),
            1 => Just(" *".to_owned()),
            1 => (2025u32..=2027, 2026u32..=2028).prop_map(|(a, b)| format!(" {a}-{}", a.max(b))),
        ],
    )
        .prop_map(|(s, m, h, dom, mon, dow, year)| format!("{s} {m} {h} {dom} {mon} {dow}{year}"))
}

/// Quartz's day forms: day of month `L`, `L-n`, `LW`, `nW`; day of week `nL`, `n#k` (1 =
/// Sunday), each with `?` in the other day field, as Quartz requires.
fn quartz_special_line() -> impl Strategy<Value = String> {
    let dom = prop_oneof![
        Just("L".to_owned()),
        (1u32..=5).prop_map(|n| format!("L-{n}")),
        Just("LW".to_owned()),
        (1u32..=31).prop_map(|n| format!("{n}W")),
    ];
    let dow = prop_oneof![
        (1u32..=7).prop_map(|d| format!("{d}L")),
        (1u32..=7, 1u32..=5).prop_map(|(d, k)| format!("{d}#{k}")),
    ];
    (
        field(0, 59, true),
        mostly_all(0, 59, true),
        mostly_all(0, 23, true),
        prop_oneof![
            dom.prop_map(|d| (d, "?".to_owned())),
            dow.prop_map(|w| ("?".to_owned(), w)),
        ],
        months(),
    )
        .prop_map(|(s, m, h, (dom, dow), mon)| format!("{s} {m} {h} {dom} {mon} {dow}"))
}

/// A six-field crontab line in croner's grammar (day of week 0-7, `L`, `nW`, `LW`, `nL`,
/// `n#k`, `?`), without the Vixie-star difference.
fn croner_line() -> impl Strategy<Value = String> {
    let dom = prop_oneof![
        4 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        3 => field(1, 31, false),
        1 => Just("L".to_owned()),
        1 => (1u32..=31).prop_map(|n| format!("{n}W")),
        1 => Just("LW".to_owned()),
    ];
    let dow = prop_oneof![
        4 => Just("*".to_owned()),
        1 => Just("?".to_owned()),
        3 => field(0, 7, false),
        1 => (0u32..=7).prop_map(|d| format!("{d}L")),
        1 => (0u32..=7, 1u32..=5).prop_map(|(d, k)| format!("{d}#{k}")),
    ];
    (
        field(0, 59, false),
        mostly_all(0, 59, false),
        mostly_all(0, 23, false),
        dom,
        mostly_all(1, 12, false),
        dow,
    )
        .prop_filter(
            "Vixie's rule: a day field starting with * beside a restricted one",
            |(_, _, _, dom, _, dow)| {
                let bare = |f: &str| f == "*" || f == "?";
                let loose = |f: &str| f.starts_with('*') && f != "*";
                (!loose(dom) || bare(dow)) && (!loose(dow) || bare(dom))
            },
        )
        .prop_map(|(s, m, h, dom, mon, dow)| format!("{s} {m} {h} {dom} {mon} {dow}"))
}

fn zone() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&ZONES[..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// `quartz` against the `cron` crate, on every expression the crate accepts.
    #[test]
    fn quartz_agrees_with_the_cron_crate(expr in quartz_line(), zone in zone()) {
        prop_assume!(cron::Schedule::from_str(&expr).is_ok());
        let json = serde_json::json!({"type": "quartz", "expr": expr, "timezone": zone});
        prop_assert!(BuiltinTrigger::from_value(json.clone()).is_ok(), "rsched refused {expr}");
        let ours = compare_set(zone, false, rsched_times(json));
        let theirs = compare_set(zone, false, cron_crate_times(&expr, zone));
        prop_assert_eq!(ours, theirs, "{} in {}", expr, zone);
    }

    /// `crontab` with six fields against `croner`.
    #[test]
    fn six_field_crontab_agrees_with_croner(expr in croner_line(), zone in zone()) {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .build();
        let Ok(cron) = parser.parse(&expr) else {
            return Err(TestCaseError::reject("croner refuses it"));
        };
        let json = serde_json::json!({"type": "crontab", "expr": expr, "timezone": zone});
        prop_assert!(BuiltinTrigger::from_value(json.clone()).is_ok(), "rsched refused {expr}");
        let ours = compare_set(zone, true, rsched_times(json));
        let theirs = compare_set(zone, true, croner_times(cron, zone));
        prop_assert_eq!(ours, theirs, "{} in {}", expr, zone);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `quartz`'s `L`, `W` and `#` against croner's Quartz mode (1 = Sunday, both day fields
    /// must match).
    #[test]
    fn quartz_day_forms_agree_with_croner(expr in quartz_special_line(), zone in zone()) {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .alternative_weekdays(true)
            .dom_and_dow(true)
            .build();
        let Ok(cron) = parser.parse(&expr) else {
            return Err(TestCaseError::reject("croner refuses it"));
        };
        let json = serde_json::json!({"type": "quartz", "expr": expr, "timezone": zone});
        prop_assert!(BuiltinTrigger::from_value(json.clone()).is_ok(), "rsched refused {expr}");
        let ours = compare_set(zone, false, rsched_times(json));
        let theirs = compare_set(zone, false, croner_times(cron, zone));
        prop_assert_eq!(ours, theirs, "{} in {}", expr, zone);
    }
}

/// The documented differences, shown: what each side does on a spring-forward night, and the
/// either-or rule croner reads differently.
#[test]
fn the_documented_differences() {
    let ny = "America/New_York";
    // 2026-03-08 02:30 does not exist in New York.
    let start = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap(); // 00:00 EST
    let ours: Vec<_> = rsched_times(
        serde_json::json!({"type": "quartz", "expr": "0 30 2 * * ?", "timezone": ny}),
    )(start);
    let theirs = cron_crate_times("0 30 2 * * ?", ny)(start);
    // rsched fires at 03:30 EDT (07:30 UTC); the cron crate skips to the next night.
    assert_eq!(ours[0], Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap());
    assert_eq!(
        theirs[0],
        Utc.with_ymd_and_hms(2026, 3, 9, 6, 30, 0).unwrap()
    );
    assert_eq!(ours[1], theirs[0]);

    // `*/2` in the day of month with a restricted day of week: cron(8) (and rsched) require
    // both, croner either.
    let line = "0 0 0 */2 * 1";
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build();
    let utc_start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let ours = rsched_times(
        serde_json::json!({"type": "crontab", "expr": line, "timezone": "UTC"}),
    )(utc_start);
    let theirs = croner_times(parser.parse(line).unwrap(), "UTC")(utc_start);
    assert_eq!(ours[0], Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()); // Monday the 5th
    assert_eq!(theirs[0], utc_start); // Thursday the 1st: an odd day
}
