//! `rsched next` as users and the conformance checker run it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn rsched(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed stdin from a thread: a large batch fills the stdout pipe before stdin is written.
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.unwrap_or("").to_owned();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn prints_fire_times_with_the_zone_offset() {
    let out = rsched(
        &[
            "next",
            "--trigger",
            r#"{"type":"cron","hour":2,"minute":30,"timezone":"America/New_York"}"#,
            "--after",
            "2026-03-07T00:00:00-05:00",
            "--count",
            "3",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "2026-03-07T02:30:00-05:00\n2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n"
    );
}

#[test]
fn invalid_trigger_exits_2_with_the_reason_on_stderr() {
    let out = rsched(&["next", "--trigger", r#"{"type":"cron","hour":24}"#], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hour: value 24 is out of range 0..=23"),
        "{err}"
    );

    let out = rsched(&["next", "--trigger", "{not json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid JSON"));
}

#[test]
fn a_trigger_that_never_fires_prints_nothing() {
    let out = rsched(
        &["next", "--trigger", r#"{"type":"cron","month":2,"day":30}"#],
        None,
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn timezone_flag_is_the_default_zone() {
    let trigger = r#"{"type":"cron","hour":9,"minute":0}"#;
    let after = "2026-07-01T00:00:00Z";
    let out = rsched(
        &[
            "next",
            "--trigger",
            trigger,
            "--after",
            after,
            "--count",
            "1",
            "--timezone",
            "Asia/Shanghai",
        ],
        None,
    );
    assert_eq!(stdout(&out), "2026-07-01T09:00:00+08:00\n");
}

#[test]
fn bad_after_is_a_usage_error() {
    let out = rsched(
        &[
            "next",
            "--trigger",
            r#"{"type":"cron","hour":9}"#,
            "--after",
            "tomorrow",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

#[test]
fn batch_answers_every_line() {
    let input = concat!(
        r#"{"id":"ok","trigger":{"type":"interval","seconds":1.5,"start_date":"2026-01-01T00:00:00","timezone":"UTC"},"after":"2026-01-01T00:00:01+00:00","count":2}"#,
        "\n\n",
        r#"{"id":"bad","trigger":{"type":"date","run_date":"2026-02-29T10:00:00"},"after":"2026-01-01T00:00:00Z"}"#,
        "\nnot json\n",
    );
    let out = rsched(&["next", "--batch"], Some(input));
    assert!(out.status.success());
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "ok");
    assert_eq!(
        lines[0]["fires"],
        serde_json::json!([
            "2026-01-01T00:00:01.500000+00:00",
            "2026-01-01T00:00:03+00:00"
        ])
    );
    assert_eq!(lines[1]["id"], "bad");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("run_date: invalid date")
    );
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON request")
    );
}

/// Whether an error vector is a crontab line in a dialect form the `crontab` trigger reads
/// since issue 19 (six fields, `?`, `#`, `L` items, `@every`).
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

/// Every conformance vector, through the batch protocol the checker uses.
#[test]
fn conformance_vectors_through_batch() {
    for file in ["trigger-vectors.json", "apscheduler-generated-vectors.json"] {
        let path = format!(
            "{}/../scheduler-core/tests/data/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let vectors: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let input: String = vectors
            .iter()
            .map(|v| {
                serde_json::json!({"id": v["id"], "trigger": v["trigger"], "after": v["after"], "count": 10})
                    .to_string()
                    + "\n"
            })
            .collect();
        let out = rsched(&["next", "--batch"], Some(&input));
        assert!(out.status.success());
        let replies: Vec<Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(replies.len(), vectors.len());
        let mut failures = Vec::new();
        for (v, r) in vectors.iter().zip(&replies) {
            assert_eq!(v["id"], r["id"]);
            let ok = if v.get("error").is_some() {
                // Lines in the dialects crontab now reads may build (see scheduler-core's
                // tests/conformance.rs, `uses_dialect`).
                r.get("error").is_some() || uses_dialect(&v["trigger"])
            } else {
                r.get("fires") == v.get("expect")
            };
            if !ok {
                failures.push(format!(
                    "{}: expect {} got {r}",
                    v["id"],
                    v.get("expect").unwrap_or(&Value::Null)
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{file}: {} failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// The three lines of issue 19 a user coming from tokio-cron-scheduler, Quartz or Temporal
/// pastes, the `quartz` type, and `--explain`.
#[test]
fn the_dialects_users_bring_give_fire_times_and_words() {
    let next = |trigger: &str, extra: &[&str]| {
        let mut args = vec![
            "next",
            "--trigger",
            trigger,
            "--after",
            "2026-01-05T00:00:00Z",
            "--timezone",
            "UTC",
        ];
        if !extra.contains(&"--count") {
            args.extend(["--count", "2"]);
        }
        args.extend_from_slice(extra);
        let out = rsched(&args, None);
        assert!(
            out.status.success(),
            "{trigger}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    assert_eq!(
        next(r#"{"type":"crontab","expr":"0 */5 * * * *"}"#, &[]),
        "2026-01-05T00:00:00+00:00\n2026-01-05T00:05:00+00:00\n"
    );
    assert_eq!(
        next(r#"{"type":"crontab","expr":"0 0 9 ? * MON-FRI"}"#, &[]),
        "2026-01-05T09:00:00+00:00\n2026-01-06T09:00:00+00:00\n"
    );
    assert_eq!(
        next(
            r#"{"type":"crontab","expr":"CRON_TZ=Asia/Shanghai 0 9 * * mon"}"#,
            &[]
        ),
        "2026-01-05T09:00:00+08:00\n2026-01-12T09:00:00+08:00\n"
    );
    // Quartz: 2-6 is Monday to Friday, with a year.
    assert_eq!(
        next(r#"{"type":"quartz","expr":"0 0 9 ? * 2-6 2027"}"#, &[]),
        "2027-01-01T09:00:00+00:00\n2027-01-04T09:00:00+00:00\n"
    );
    assert_eq!(
        next(
            r#"{"type":"quartz","expr":"0 */5 * ? * MON-FRI","timezone":"Asia/Shanghai"}"#,
            &["--explain", "--count", "1"]
        ),
        "at second 0 of every 5th minute, Monday to Friday, in Asia/Shanghai\n\
         2026-01-05T08:00:00+08:00\n"
    );
    // A line in the other dialect says so.
    let out = rsched(
        &[
            "next",
            "--trigger",
            r#"{"type":"quartz","expr":"0 9 * * mon"}"#,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use type \"crontab\""));
}

/// `--until` prints what a backfill of [--after, --until) would run, and refuses a range a
/// backfill would refuse; `--calendar FILE:NAME` skips the calendar's periods.
#[test]
fn until_and_calendar_show_what_a_backfill_runs() {
    let trigger = r#"{"type":"cron","hour":9,"timezone":"UTC"}"#;
    let out = rsched(
        &[
            "next",
            "--trigger",
            trigger,
            "--after",
            "2026-12-23T00:00:00Z",
            "--until",
            "2026-12-27T00:00:00Z",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 4);

    let dir = std::env::temp_dir().join(format!("rsched-next-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cal.toml");
    std::fs::write(
        &file,
        "[calendars.xmas]\ntype = \"dates\"\ndates = [\"2026-12-25\", \"2026-12-26\"]\n",
    )
    .unwrap();
    let calendar = format!("{}:xmas", file.display());
    let out = rsched(
        &[
            "next",
            "--trigger",
            trigger,
            "--after",
            "2026-12-23T00:00:00Z",
            "--until",
            "2026-12-28T00:00:00Z",
            "--calendar",
            &calendar,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout(&out),
        "2026-12-23T09:00:00+00:00\n2026-12-24T09:00:00+00:00\n2026-12-27T09:00:00+00:00\n"
    );

    // Every second for a day: more than a backfill runs.
    let out = rsched(
        &[
            "next",
            "--trigger",
            r#"{"type":"interval","seconds":1,"start_date":"2026-01-01T00:00:00Z"}"#,
            "--after",
            "2026-01-01T00:00:00Z",
            "--until",
            "2026-01-02T00:00:00Z",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 10000"));
}
