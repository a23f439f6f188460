//! The built-in tasks `rsched:exec` and `rsched:log`, run through a real scheduler.

use std::time::Duration;

use rsched::{Event, JobSpec, Scheduler};
use serde_json::{Value, json};

async fn run_once(kwargs: Value) -> Event {
    let scheduler = Scheduler::builder()
        .registry(rsched::registry_with_builtins())
        .jobstore("default", rsched::memory::MemoryJobStore::new())
        .build()
        .unwrap();
    let mut events = scheduler.subscribe();
    scheduler.start().await.unwrap();
    let mut spec = JobSpec::new("rsched:exec").id("exec-test");
    spec.kwargs = kwargs.as_object().unwrap().clone();
    scheduler.add_job(spec).await.unwrap(); // no trigger: runs once, now
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let e @ (Event::JobExecuted { .. } | Event::JobError { .. }) =
                events.recv().await.unwrap()
            {
                return e;
            }
        }
    })
    .await
    .unwrap();
    scheduler.shutdown(true).await.unwrap();
    event
}

#[tokio::test]
async fn exec_runs_a_program_with_the_job_in_its_environment() {
    let event = run_once(json!({
        "program": "sh",
        "args": ["-c", "echo \"$RSCHED_JOB_ID $GREETING\"; test -n \"$RSCHED_SCHEDULED_TIME\""],
        "env": {"GREETING": "hello"},
    }))
    .await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(
        retval,
        json!({"exit_code": 0, "stdout": "exec-test hello\n"})
    );
}

#[tokio::test]
async fn exec_failure_reports_status_and_stderr() {
    let event = run_once(json!({"program": "sh", "args": ["-c", "echo oops >&2; exit 3"]})).await;
    let Event::JobError { error, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(error, "'sh' failed with exit status 3: oops");
}

#[tokio::test]
async fn exec_does_not_use_a_shell_unless_asked() {
    let event = run_once(json!({"program": "echo", "args": ["$HOME; rm -rf /"]})).await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(retval["stdout"], "$HOME; rm -rf /\n");
    let event = run_once(json!({"program": "echo \"$0-$1\"", "args": ["a"], "shell": true})).await;
    let Event::JobExecuted { retval, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(retval["stdout"], "rsched-a\n");
}

#[tokio::test]
async fn exec_kills_a_program_at_its_timeout() {
    let event = run_once(json!({"program": "sleep", "args": ["30"], "timeout": "200ms"})).await;
    let Event::JobError {
        error, duration, ..
    } = event
    else {
        panic!("{event:?}")
    };
    assert_eq!(error, "'sleep' timed out after 200ms and was killed");
    assert!(duration < Duration::from_secs(30));
}

#[tokio::test]
async fn exec_reports_a_missing_program() {
    let event = run_once(json!({"program": "/nonexistent/tool"})).await;
    let Event::JobError { error, .. } = event else {
        panic!("{event:?}")
    };
    assert!(
        error.starts_with("could not start '/nonexistent/tool'"),
        "{error}"
    );
}

#[test]
fn exec_arguments_are_checked_when_added() {
    let registry = rsched::registry_with_builtins();
    let kwargs = json!({"program": "echo", "argz": []});
    let err = registry
        .check("rsched:exec", &[], kwargs.as_object().unwrap())
        .unwrap_err();
    assert!(err.message().contains("unknown field `argz`"), "{err}");
    // rsched:log takes anything.
    registry
        .check(
            "rsched:log",
            &[json!(1), json!("x")],
            json!({"k": true}).as_object().unwrap(),
        )
        .unwrap();
}
