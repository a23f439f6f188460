//! The configuration model: Flask-APScheduler's settings, and errors that say where.

use std::time::Duration;

use rsched::{Config, JobContext, TaskRegistry};
use serde_json::json;

fn registry() -> TaskRegistry {
    let mut registry = rsched::registry_with_builtins();
    registry.register(
        "app:job_do_sth",
        |_ctx: JobContext, (a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
    );
    registry
}

const GOOD: &str = r#"
[scheduler]
timezone = "Asia/Shanghai"
max_poll_interval = "2s"

[jobstores.default]
url = "memory://"

[executors.default]
type = "threadpool"
max_workers = 4

[job_defaults]
coalesce = false
max_instances = 3
misfire_grace_time = 30

[[jobs]]
id = "job1"
func = "app:job_do_sth"
args = [1, 2]
trigger = "interval"
seconds = 5

[[jobs]]
id = "cron"
func = "rsched:log"
trigger = { type = "cron", hour = "9-17", minute = "*/5" }
misfire_grace_time = "none"

[[jobs]]
id = "once"
func = "rsched:exec"
kwargs = { program = "true" }
trigger = "date"
run_date = 2026-12-24T18:00:00
"#;

#[test]
fn reads_flask_apscheduler_style_settings() {
    let config = Config::parse(GOOD).unwrap();
    assert_eq!(config.timezone().unwrap().unwrap().name(), "Asia/Shanghai");
    let defaults = config.job_defaults();
    assert!(!defaults.coalesce);
    assert_eq!(defaults.max_instances, 3);
    assert_eq!(defaults.misfire_grace_time, Some(Duration::from_secs(30)));
    let specs = config.job_specs(&registry()).unwrap();
    assert_eq!(specs.len(), 3);
    assert_eq!(specs[0].args, vec![json!(1), json!(2)]);
    assert_eq!(
        specs[0].trigger.as_ref().unwrap().to_string(),
        "interval[0:00:05]"
    );
    assert_eq!(
        specs[1].trigger.as_ref().unwrap().to_string(),
        "cron[hour='9-17', minute='*/5']"
    );
    assert_eq!(specs[1].misfire_grace_time, Some(None));
    // An unquoted TOML datetime works as a date string.
    assert_eq!(
        specs[2].trigger.as_ref().unwrap().to_string(),
        "date[2026-12-24 18:00:00 UTC]"
    );
    assert!(specs.iter().all(|s| s.replace_existing));
}

#[tokio::test]
async fn builds_a_scheduler_like_init_app() {
    let config = Config::parse(GOOD).unwrap();
    let scheduler = config.build_scheduler(registry()).await.unwrap();
    scheduler.start().await.unwrap();
    let jobs = scheduler.get_jobs(None).await.unwrap();
    assert_eq!(jobs.len(), 3);
    let job1 = scheduler.get_job("job1").await.unwrap().unwrap();
    assert!(!job1.coalesce());
    assert_eq!(job1.max_instances(), 3);
    assert_eq!(scheduler.timezone().name(), "Asia/Shanghai");
    scheduler.shutdown(true).await.unwrap();
}

/// A bad job is reported with the file's line and the job's key.
#[test]
fn errors_name_line_and_key() {
    let text = "\
[scheduler]
timezone = \"UTC\"

[[jobs]]
id = \"a\"
func = \"rsched:log\"
trigger = \"cron\"
minute = \"*\"

[[jobs]]
id = \"b\"
func = \"rsched:log\"
trigger = \"cron\"
hour = 24
";
    let config = Config::parse(text).unwrap();
    let err = config.job_specs(&registry()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 14: jobs[1].hour: value 24 is out of range 0..=23"
    );

    let cases: &[(&str, &str)] = &[
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"app:nope\"\n",
            "line 3: jobs[0].func: no task registered as 'app:nope'",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"app:job_do_sth\"\nargs = [1]\n",
            "line 4: jobs[0].args: the arguments do not fit task 'app:job_do_sth'",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\ntrigger = \"interval\"\nminutes = \"five\"\n",
            "line 5: jobs[0].minutes: invalid type",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\ntrigger = \"cron\"\nhour = 1\nbogus = 2\n",
            "line 6: jobs[0].bogus: unknown field `bogus`",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\nseconds = 5\n",
            "line 4: jobs[0].seconds: is a trigger field, but the job has no trigger",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\nmax_instances = \"many\"\n",
            "line 4: jobs[0].max_instances: expected a whole number of at least 1, got \"many\"",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\n[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\n",
            "line 5: jobs[1].id: 'x' is already the id of jobs[0]",
        ),
        (
            "[[jobs]]\nfunc = \"rsched:log\"\n",
            "line 1: jobs[0].id: missing",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\ntags = [\"ok\",\n  \"a,b\"]\n",
            "line 5: jobs[0].tags[1]: 'a,b' has a comma",
        ),
        (
            "[[jobs]]\nid = \"x\"\nfunc = \"rsched:log\"\nmetadata = 3\n",
            "line 4: jobs[0].metadata: expected an object, got a number",
        ),
    ];
    for (text, expect) in cases {
        let config = Config::parse(text).unwrap();
        let err = config.job_specs(&registry()).unwrap_err().to_string();
        assert!(
            err.starts_with(expect),
            "{text}\n got: {err}\nwant: {expect}"
        );
    }
}

#[test]
fn structural_errors_are_located_too() {
    let cases: &[(&str, &str)] = &[
        (
            "[scheduler]\ntimezone = \"Mars/Olympus\"\n",
            "line 2: scheduler.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            "[job_defaults]\nmisfire_grace_time = \"soon\"\n",
            "line 2: job_defaults.misfire_grace_time: invalid duration 'soon'",
        ),
        (
            "[executors.default]\ntype = \"quantum\"\n",
            "line 2: executors.default.type: unknown executor type 'quantum' (available: async, threadpool",
        ),
        ("jobs = 3\n", "line 1: jobs: invalid type"),
        ("[scheduler\n", "line 1: "),
    ];
    for (text, expect) in cases {
        let err = match Config::parse(text) {
            Err(e) => e.to_string(),
            Ok(config) => match config.timezone() {
                Err(e) => e.to_string(),
                Ok(_) => {
                    let rt = tokio::runtime::Runtime::new().unwrap();
                    match rt.block_on(config.scheduler_builder(registry())) {
                        Err(e) => e.to_string(),
                        Ok(_) => panic!("{text}: accepted"),
                    }
                }
            },
        };
        assert!(
            err.starts_with(expect),
            "{text}\n got: {err}\nwant: {expect}"
        );
    }
}

#[test]
fn files_are_named_in_errors() {
    let dir = std::env::temp_dir().join(format!("rsched-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsched.toml");
    std::fs::write(
        &path,
        "[[jobs]]\nid = \"j\"\nfunc = \"rsched:log\"\ntrigger = \"cron\"\nsecond = 60\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    let err = config.job_specs(&registry()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:5: jobs[0].second: value 60 is out of range 0..=59",
            path.display()
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tags_and_metadata_are_read() {
    let text = "[[jobs]]\nid = \"c1\"\nfunc = \"rsched:log\"\ntags = [\"billing\", \"eu\"]\n\
                metadata = { customer = \"acme\", seats = 12, plan = { tier = \"gold\" } }\n";
    let config = Config::parse(text).unwrap();
    let specs = config.job_specs(&registry()).unwrap();
    assert_eq!(specs[0].tags, ["billing", "eu"]);
    assert_eq!(
        serde_json::Value::Object(specs[0].metadata.clone()),
        serde_json::json!({"customer": "acme", "seats": 12, "plan": {"tier": "gold"}})
    );
}
