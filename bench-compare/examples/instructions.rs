//! Instructions per fire time, the stable figure of README's comparison: run under
//! `valgrind --tool=callgrind` with N = 21,000 and N = 1,000 and divide the difference by 20,000.
//!
//! ```text
//! cargo build --release --manifest-path bench-compare/Cargo.toml --example instructions
//! valgrind --tool=callgrind target/release/examples/instructions rsched '{"type":"cron","hour":2,"minute":30,"timezone":"America/New_York"}' America/New_York 21000
//! ```
//!
//! Arguments: `rsched|cron|croner`, the expression (rsched: trigger JSON), the zone, N.

use chrono::{DateTime, TimeZone, Utc};
use scheduler_core::{BuiltinTrigger, Trigger};
use std::str::FromStr;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (which, expr, zone, n) = (
        &args[1],
        &args[2],
        &args[3],
        args[4].parse::<usize>().unwrap(),
    );
    let tz = chrono_tz::Tz::from_str(zone).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let year_later = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let mut count = 0usize;
    match which.as_str() {
        "rsched" => {
            let t = BuiltinTrigger::from_json(expr).unwrap();
            let mut prev: Option<DateTime<Utc>> = None;
            for _ in 0..n {
                let next = t.next_fire_time(prev, prev.unwrap_or(start));
                prev = next.filter(|x| *x < year_later);
                count += next.is_some() as usize;
            }
        }
        "cron" => {
            let s = cron::Schedule::from_str(expr).unwrap();
            let mut prev = start.with_timezone(&tz);
            for _ in 0..n {
                let next = s.after(&prev).next();
                prev = next
                    .filter(|x| *x < year_later)
                    .unwrap_or(start.with_timezone(&tz));
                count += 1;
            }
        }
        _ => {
            let s = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .build()
                .parse(expr)
                .unwrap();
            let mut prev = start.with_timezone(&tz);
            for _ in 0..n {
                let next = s.find_next_occurrence(&prev, false).ok();
                prev = next
                    .filter(|x| *x < year_later)
                    .unwrap_or(start.with_timezone(&tz));
                count += 1;
            }
        }
    }
    println!("{count}");
}
