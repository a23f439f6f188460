//! `rsched run` and `rsched check` as a user runs them: a real process, real signals.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rsched-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rsched.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `rsched COMMAND --config PATH` to the end.
fn rsched_with(command: &str, path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args([command, "--config"])
        .arg(path)
        .output()
        .unwrap()
}

/// `rsched check` and `rsched run` both exit 2 on `path` with `expect` on stderr, and start nothing.
fn assert_check_and_run_refuse(path: &Path, expect: &[&str]) {
    for command in ["check", "run"] {
        let out = rsched_with(command, path);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in expect {
            assert!(stderr.contains(needle), "{command}: {stderr}");
        }
        assert!(
            !stderr.contains("Scheduler started"),
            "{command} started anyway: {stderr}"
        );
    }
}

const BAD: &str = "\
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

#[test]
fn check_and_run_reject_a_bad_config_with_file_line_and_key() {
    let path = temp_config("bad", BAD);
    let expect = format!(
        "rsched: {}:11: jobs[1].hour: value 24 is out of range 0..=23",
        path.display()
    );
    assert_check_and_run_refuse(&path, &[&expect]);
}

/// The invalid policy values issue 17 names: each exits 2 naming the file, line and key.
#[test]
fn check_and_run_reject_invalid_policies_by_key() {
    let job = "[[jobs]]\nid = \"a\"\nfunc = \"rsched:log\"\ntrigger = \"cron\"\nminute = \"*\"\n";
    let cases = [
        ("retries", format!("{job}retries = -1\n"), "jobs[0].retries"),
        (
            "overlap",
            format!("{job}overlap = \"queue\"\n"),
            "jobs[0].overlap",
        ),
        (
            "calendar-name",
            format!("{job}calendars = [\"holidays\"]\n"),
            "holidays",
        ),
        (
            "calendar-all",
            "[calendars.always]\ntype = \"cron\"\nexpr = \"* * * * *\"\n".to_owned(),
            "every minute",
        ),
        (
            "calendar-daily",
            "[calendars.whole_day]\ntype = \"daily\"\nstart = \"09:00\"\nend = \"09:00\"\n"
                .to_owned(),
            "must differ from start",
        ),
    ];
    for (name, text, needle) in cases {
        let path = temp_config(&format!("policy-{name}"), &text);
        assert_check_and_run_refuse(&path, &[needle]);
    }
}

#[test]
fn check_prints_jobs_with_their_next_fire_times() {
    let path = temp_config(
        "good",
        "[scheduler]\ntimezone = \"Europe/London\"\n[[jobs]]\nid = \"daily\"\nfunc = \"rsched:log\"\ntrigger = \"cron\"\nhour = 9\n",
    );
    let out = rsched_with("check", &path);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("OK, 1 job(s), time zone Europe/London"),
        "{stdout}"
    );
    assert!(stdout.contains("trigger: cron[hour='9']"), "{stdout}");
    let next = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("next:"))
        .unwrap();
    assert_eq!(next.matches("T09:00:00").count(), 3, "{next}");
}

/// Spawns `rsched run` and forwards its stderr lines.
fn spawn_run(path: &PathBuf) -> (Child, mpsc::Receiver<String>) {
    spawn_run_with(path, &[])
}

/// Spawns `rsched run` with extra environment variables and forwards its stderr lines.
fn spawn_run_with(path: &PathBuf, env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args(["run", "--config"])
        .arg(path)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn run_executes_jobs_and_stops_gracefully_on_sigterm() {
    let path = temp_config(
        "run",
        "[[jobs]]\nid = \"tick\"\nfunc = \"rsched:exec\"\nkwargs = { program = \"echo\", args = [\"tick-output\"] }\ntrigger = \"interval\"\nseconds = 1\n",
    );
    let (mut child, rx) = spawn_run(&path);
    wait_for(&rx, "Scheduler started");
    wait_for(&rx, "tick-output");
    wait_for(&rx, "Job \"tick (trigger: interval[0:00:01]");
    signal(&child, "-TERM");
    wait_for(&rx, "Received SIGTERM");
    wait_for(&rx, "Scheduler has been shut down");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_second_signal_stops_at_once() {
    let path = temp_config(
        "twice",
        "[[jobs]]\nid = \"long\"\nfunc = \"rsched:exec\"\nkwargs = { program = \"sleep\", args = [\"60\"] }\n",
    );
    let (mut child, rx) = spawn_run(&path);
    wait_for(&rx, "Running job \"long");
    signal(&child, "-INT");
    wait_for(&rx, "Received SIGINT");
    signal(&child, "-INT");
    wait_for(&rx, "stopping at once");
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

/// A bare HTTP/1.1 request with a JSON body; returns the status line and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (String, String) {
    let mut headers = vec![
        format!("Host: {addr}"),
        "Content-Type: application/json".to_owned(),
    ];
    if let Some(auth) = auth {
        headers.push(format!("Authorization: {auth}"));
    }
    http_with(addr, method, path, &headers, body.unwrap_or(""))
}

#[test]
fn run_serves_the_flask_apscheduler_api_with_auth() {
    let path = temp_config(
        "api",
        "[api]\nenabled = true\nlisten = \"127.0.0.1:0\"\n[api.auth]\ntokens = [{ token_env = \"RSCHED_TEST_TOKEN\" }]\n\
         [[jobs]]\nid = \"job1\"\nfunc = \"rsched:log\"\nargs = [1, 2]\ntrigger = \"interval\"\nseconds = 5\n",
    );
    let (mut child, rx) = spawn_run_with(&path, &[("RSCHED_TEST_TOKEN", "t0ken")]);
    let addr = api_addr(&rx);
    let (status, _) = http(&addr, "GET", "/scheduler/jobs", None, None);
    assert!(status.contains("401"), "{status}");
    let token = Some("Bearer t0ken");
    let (status, body) = http(&addr, "GET", "/scheduler/jobs", token, None);
    assert!(status.contains("200"), "{status}");
    let jobs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(jobs[0]["id"], "job1");
    assert_eq!(jobs[0]["seconds"], 5);
    let (status, body) = http(&addr, "POST", "/scheduler/jobs/job1/run", token, None);
    assert!(status.contains("200"), "{status} {body}");
    wait_for(&rx, "Job \"job1 (trigger: interval[0:00:05]");
    signal(&child, "-TERM");
    wait_for(&rx, "Scheduler has been shut down");
    assert!(child.wait().unwrap().success());
}

/// The API's address from `rsched run`'s log.
fn api_addr(rx: &mpsc::Receiver<String>) -> String {
    let line = wait_for(rx, "API on http://");
    let url = line.split("API on http://").nth(1).unwrap();
    url.split('/').next().unwrap().trim().to_owned()
}

#[test]
fn jobs_added_through_the_api_survive_a_killed_daemon() {
    let path = temp_config(
        "persist",
        "[api]\nenabled = true\nlisten = \"127.0.0.1:0\"\n",
    );
    let db = path.parent().unwrap().join("rsched.db");
    let _ = std::fs::remove_file(&db);
    let (mut child, rx) = spawn_run(&path);
    wait_for(&rx, "rsched.db");
    let addr = api_addr(&rx);
    let body = r#"{"id": "from-api", "func": "rsched:log", "args": ["persisted"], "trigger": "interval", "seconds": 1}"#;
    let (status, answer) = http(&addr, "POST", "/scheduler/jobs", None, Some(body));
    assert!(status.contains("200"), "{status} {answer}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        db.exists(),
        "the embedded default store lives next to the config file"
    );

    let (mut child, rx) = spawn_run(&path);
    let addr = api_addr(&rx);
    let (status, body) = http(&addr, "GET", "/scheduler/jobs/from-api", None, None);
    assert!(status.contains("200"), "{status} {body}");
    wait_for(&rx, "Running job \"from-api");
    signal(&child, "-TERM");
    wait_for(&rx, "Scheduler has been shut down");
    assert!(child.wait().unwrap().success());
}

#[test]
fn migrate_applies_the_schema_and_reports_the_version() {
    let dir = temp_config("migrate", "").parent().unwrap().to_owned();
    let url = format!("sqlite://{}", dir.join("m.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args(["migrate", "--url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("schema version {}", rsched::sql::SCHEMA_VERSION);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&want));
    let out = Command::new(env!("CARGO_BIN_EXE_rsched"))
        .args(["migrate", "--url", &url, "--prefix", "bad-prefix"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid table prefix"));
}

/// An HTTP/1.1 request with exactly these headers (and `Content-Length`); returns the status
/// line and the body.
fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(&format!("{header}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The issue's attacks against the README's first command (the seed configuration, on a free
/// port): a cross-origin simple request that would run a shell command, a foreign Host (DNS
/// rebinding), and `rsched:exec` from a client the CSRF rules let through; a Flask-APScheduler
/// client still works.
#[test]
fn the_seed_daemon_refuses_csrf_dns_rebinding_and_exec_from_the_api() {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/seed-jobs.toml"
    ))
    .unwrap();
    let config = seed.replacen(
        "enabled = true",
        "enabled = true\nlisten = \"127.0.0.1:0\"",
        1,
    );
    assert_ne!(config, seed, "the seed configuration enables the API");
    let path = temp_config("seed-attacks", &config);
    let owned = path.parent().unwrap().join("owned");
    let _ = std::fs::remove_file(&owned);
    let (mut child, rx) = spawn_run(&path);
    let addr = api_addr(&rx);
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let exec_job = format!(
        r#"{{"id":"x","func":"rsched:exec","kwargs":{{"program":"sh","args":["-c","id > {}"]}},"trigger":"date"}}"#,
        owned.display()
    );

    // (a) any web page: a cross-origin "simple" request, no Content-Type.
    let (status, body) = http_with(
        &addr,
        "POST",
        "/scheduler/jobs",
        &[
            format!("Host: localhost:{port}"),
            "Origin: http://evil.example".into(),
        ],
        &exec_job,
    );
    assert!(status.contains("403"), "{status} {body}");
    assert!(body.contains("allowed_origins"), "{body}");
    // (b) DNS rebinding: a foreign Host.
    let log_job = r#"{"id":"y","func":"rsched:log","trigger":"date"}"#;
    let (status, body) = http_with(
        &addr,
        "POST",
        "/scheduler/jobs",
        &[
            format!("Host: evil.example:{port}"),
            "Content-Type: application/json".into(),
        ],
        log_job,
    );
    assert!(status.contains("421"), "{status} {body}");
    // rsched:exec from a client without Origin: the task is not the API's to schedule.
    let plain = [
        format!("Host: 127.0.0.1:{port}"),
        "Content-Type: application/json".into(),
    ];
    let (status, body) = http_with(&addr, "POST", "/scheduler/jobs", &plain, &exec_job);
    assert!(status.contains("403"), "{status} {body}");
    assert!(body.contains("[api] tasks"), "{body}");
    // A Flask-APScheduler client (no Origin, no Content-Type) keeps working.
    let (status, body) = http_with(
        &addr,
        "POST",
        "/scheduler/jobs",
        &[format!("Host: localhost:{port}")],
        log_job,
    );
    assert!(status.contains("200"), "{status} {body}");
    let (status, body) = http_with(
        &addr,
        "GET",
        "/scheduler/jobs",
        &[format!("Host: localhost:{port}")],
        "",
    );
    assert!(status.contains("200"), "{status}");
    let jobs: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert!(ids.contains(&"job1") && !ids.contains(&"x"), "{ids:?}");

    signal(&child, "-TERM");
    wait_for(&rx, "Scheduler has been shut down");
    assert!(child.wait().unwrap().success());
    assert!(!owned.exists(), "a shell command ran");
}

/// (c): the API on a non-loopback address without `[api.auth]` does not start unless
/// `allow_anonymous = true`, which warns.
#[test]
fn an_api_off_loopback_needs_auth_or_allow_anonymous() {
    let exposed = "[api]\nenabled = true\nlisten = \"0.0.0.0:0\"\n\n[[jobs]]\nid = \"a\"\nfunc = \"rsched:log\"\ntrigger = \"cron\"\nminute = \"*\"\n";
    let path = temp_config("exposed", exposed);
    let expect = format!("rsched: {}:3: api.listen: 0.0.0.0:", path.display());
    assert_check_and_run_refuse(&path, &[&expect, "[api.auth]", "allow_anonymous = true"]);

    let allowed = exposed.replacen("[api]\n", "[api]\nallow_anonymous = true\n", 1);
    let path = temp_config("exposed-allowed", &allowed);
    let out = rsched_with("check", &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, rx) = spawn_run(&path);
    wait_for(&rx, "Scheduler started");
    let warning = wait_for(&rx, "accepts anonymous requests");
    assert!(warning.contains("WARN"), "{warning}");
    signal(&child, "-TERM");
    wait_for(&rx, "Scheduler has been shut down");
    assert!(child.wait().unwrap().success());
}

/// `[telemetry] otlp_endpoint` the daemon cannot serve (a build without the `otel` feature, or
/// an `https://` endpoint, which needs a local collector) stops it at start, exit 2, naming
/// the key.
#[test]
fn run_refuses_a_telemetry_endpoint_it_cannot_serve() {
    let path = temp_config(
        "otel",
        "[telemetry]\notlp_endpoint = \"https://collector.example:4318/v1/traces\"\n",
    );
    let out = rsched_with("run", &path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("telemetry.otlp_endpoint"), "{stderr}");
    if cfg!(feature = "otel") {
        assert!(stderr.contains("http://"), "{stderr}");
    } else {
        assert!(stderr.contains("`otel` feature"), "{stderr}");
    }
}
