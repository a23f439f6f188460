//! Fuzzes the crontab line parser: any line must build a trigger or give an error, and a built
//! trigger must answer `next_fire_time` without panicking.
#![no_main]

use chrono::{TimeZone as _, Utc};
use libfuzzer_sys::fuzz_target;
use scheduler_core::{BuiltinTrigger, Trigger};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let spec = serde_json::json!({"type": "crontab", "expr": line, "timezone": "Europe/London"});
    if let Ok(trigger) = BuiltinTrigger::from_value(spec) {
        let _ = trigger.describe();
        let now = Utc.with_ymd_and_hms(2026, 10, 25, 0, 59, 59).unwrap();
        let mut prev = None;
        for _ in 0..3 {
            prev = trigger.next_fire_time(prev, prev.unwrap_or(now));
            if prev.is_none() {
                break;
            }
        }
    }
});
