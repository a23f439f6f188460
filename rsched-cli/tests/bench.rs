//! `rsched bench` as a user runs it: every run accounted for, one JSON object with `--json`.
//! (The speed figures themselves are measured by hand and kept in README.md, not asserted.)

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

#[test]
fn jobs_due_at_once_all_run() {
    let r = bench(&["--jobs", "2000"]);
    assert_eq!(r["mode"], "jobs");
    assert_eq!(r["runs"], 2000);
    assert_eq!(r["missed"], 0);
    for key in ["p50", "p99", "max"] {
        assert!(r["lateness_ms"][key].is_number(), "{key}");
    }
    assert!(r["runs_per_second"].as_f64().unwrap() > 0.0);
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(r["cores"].as_u64().unwrap() >= 1);
}

/// `--cores K` runs the bench on K worker threads and reports runs per second per core.
#[test]
fn cores_limits_the_runtime_and_reports_runs_per_core() {
    let r = bench(&["--jobs", "1000", "--cores", "1"]);
    assert_eq!(r["cores"], 1);
    assert_eq!(r["runs"], 1000);
    let per_core = r["runs_per_second_per_core"].as_f64().unwrap();
    assert!((per_core - r["runs_per_second"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn interval_jobs_are_all_accounted_for() {
    let r = bench(&["--interval-jobs", "50", "--seconds", "2"]);
    assert_eq!(r["mode"], "interval");
    assert_eq!(r["expected_runs"], 100);
    assert_eq!(r["runs"], 100);
    assert_eq!(r["all_accounted_for"], true);
}

#[test]
fn idle_jobs_are_held() {
    for own in [false, true] {
        let mut args = vec!["--idle", "1000"];
        if own {
            args.push("--own-triggers");
        }
        let r = bench(&args);
        assert_eq!(r["jobs_held"], 1000);
        assert_eq!(r["own_triggers"], own);
    }
}

#[test]
fn without_a_mode_it_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .arg("bench")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_executor_reports_its_overhead_per_run() {
    // The process pool's workers are this binary in worker mode: the run fails unless they
    // know the bench's task too.
    for executor in ["async", "threadpool", "processpool"] {
        let r = bench(&["--executor", executor, "--runs", "200", "--workers", "2"]);
        assert_eq!(r["mode"], "executor");
        assert_eq!(r["executor"], executor);
        assert_eq!(r["runs"], 200);
        let p50 = r["overhead_ms"]["p50"].as_f64().unwrap();
        let max = r["overhead_ms"]["max"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= max, "{r}");
        assert!(r["all_at_once_runs_per_second"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn an_unknown_executor_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args(["bench", "--executor", "gevent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("processpool"));
}
