//! The trigger conformance vectors: fire times computed by APScheduler 3.11.3 itself
//! (`shared/conformance/trigger-vectors.json`, copied to `tests/data`), plus the extra vectors
//! generated the same way by `tools/gen-vectors.py`.

use chrono::{DateTime, Utc};
use scheduler_core::{BuiltinTrigger, isoformat};
use serde_json::Value;

/// Whether an error vector is a crontab line in a form cron(8) and APScheduler refuse but the
/// `crontab` trigger reads since it took the dialects Rust users bring — six fields (seconds
/// first), croner's `?`, `L`, `5L` and `5#2`, Temporal's `@every` (README, "Cron dialects";
/// its unit tests check what they mean). Such vectors may now build.
fn uses_dialect(trigger: &Value) -> bool {
    let Some(expr) = trigger["expr"]
        .as_str()
        .filter(|_| trigger["type"] == "crontab")
    else {
        return false;
    };
    expr.split_whitespace().count() == 6
        || expr.trim_start().starts_with("@every")
        || expr.contains(['?', '#'])
        || expr.split_whitespace().any(|field| {
            field
                .split(',')
                .any(|item| item.ends_with(['L', 'l', 'W', 'w']))
        })
}

fn check_file(path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!vectors.is_empty());
    let mut failures = Vec::new();
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let after: DateTime<Utc> = DateTime::parse_from_rfc3339(v["after"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let trigger = BuiltinTrigger::from_value(v["trigger"].clone());
        if v.get("error").and_then(Value::as_bool) == Some(true) {
            if uses_dialect(&v["trigger"]) {
                continue;
            }
            if let Ok(t) = trigger {
                failures.push(format!("{id}: expected an error, built {t}"));
            }
            continue;
        }
        let trigger = match trigger {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{id}: unexpected error: {e}"));
                continue;
            }
        };
        let expect: Vec<&str> = v["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        let got: Vec<String> = trigger
            .fire_times(after)
            .take(10)
            .map(|f| isoformat(&f))
            .collect();
        if got != expect {
            failures.push(format!(
                "{id}: {}\n  expect {expect:?}\n  got    {got:?}",
                v["trigger"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn public_apscheduler_vectors() {
    check_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/trigger-vectors.json"
    ));
}

#[test]
fn generated_apscheduler_vectors() {
    check_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/apscheduler-generated-vectors.json"
    ));
}
