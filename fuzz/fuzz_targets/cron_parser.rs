//! Fuzzes the cron field parser and the search: any text in any field must build a trigger or
//! give an error, and a built trigger must answer `next_fire_time` without panicking.
#![no_main]

use chrono::{TimeZone as _, Utc};
use libfuzzer_sys::fuzz_target;
use scheduler_core::{BuiltinTrigger, Trigger};

const FIELDS: [&str; 8] = ["year", "month", "day", "week", "day_of_week", "hour", "minute", "second"];
const ZONES: [&str; 4] = ["UTC", "America/New_York", "Australia/Lord_Howe", "Europe/London"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    // Up to three fields, split on '|', chosen by the selector's bits.
    let mut spec = serde_json::Map::new();
    for (i, part) in text.split('|').take(3).enumerate() {
        let field = FIELDS[(usize::from(selector) >> (i * 2)).wrapping_add(i * 3) % FIELDS.len()];
        spec.insert(field.to_owned(), part.into());
    }
    spec.insert("type".into(), "cron".into());
    spec.insert("timezone".into(), ZONES[usize::from(selector) % ZONES.len()].into());
    if let Ok(trigger) = BuiltinTrigger::from_value(spec.into()) {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 1, 59, 59).unwrap();
        let mut prev = None;
        for _ in 0..3 {
            prev = trigger.next_fire_time(prev, prev.unwrap_or(now));
            if prev.is_none() {
                break;
            }
        }
        let _ = trigger.to_string();
    }
});
