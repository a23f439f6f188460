//! The built-in tasks the daemon ships, usable from any configuration:
//!
//! - `rsched:exec` — run a program. Keyword arguments: `program` (required), `args` (list of
//!   strings), `cwd`, `env` (table of strings), `timeout` (seconds or `"30s"`), `shell` (run
//!   `program` as a `sh -c` command line; default false, so arguments are never re-split by a
//!   shell). The child gets `RSCHED_JOB_ID`, `RSCHED_SCHEDULER_ID` (the instance running it),
//!   `RSCHED_SCHEDULED_TIME` (RFC 3339) and `RSCHED_ATTEMPT` (1 for the first run, 2 for the
//!   first retry...) in its environment; its stdout lines are logged at INFO. Its return value
//!   (kept in the run history) is `{"exit_code": 0, "stdout": "<the last 2 KiB of stdout>"}`.
//!   An exit status other than 0 is a job error whose message has the status and the tail of
//!   stderr.
//! - `rsched:http` (Cargo feature `http-task`, on in the daemon) — send an HTTP request, on
//!   reqwest with rustls. Keyword arguments: `url` (required, `http` or `https`), `method`
//!   (default `"GET"`), `headers` (table of strings), `body` (a string) or `json` (any JSON,
//!   sent with `Content-Type: application/json`), `timeout` (seconds or `"30s"`; default 30 s),
//!   `expect_status` (the statuses that count as success: a number, `"2xx"`, or a list of them;
//!   default `"2xx"`). Its return value is `{"status": 200, "body": "<the first 2 KiB>"}`; any
//!   other status, or no answer, is a job error naming the method, URL and status. Jobs added
//!   through the API may name it only when `[api] tasks` allows it (it reaches whatever the
//!   daemon's host can reach).
//! - `rsched:log` — log its arguments at INFO (accepts anything).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use scheduler_core::{JobContext, TaskRegistry};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

use scheduler_core::DurationValue;

/// How much of stderr an error message quotes, and of stdout the return value keeps.
const TAIL_BYTES: usize = 2048;

/// Registers `rsched:exec`, `rsched:log` and (feature `http-task`) `rsched:http`.
pub fn register(registry: &mut TaskRegistry) {
    registry.register("rsched:exec", exec);
    registry.register("rsched:log", log);
    #[cfg(feature = "http-task")]
    registry.register("rsched:http", http::request);
}

/// The arguments of `rsched:exec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    /// The program (looked up in `PATH`), or with `shell = true` a shell command line.
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Kill the program after this long.
    pub timeout: Option<DurationValue>,
    /// Run `program` through `sh -c`.
    #[serde(default)]
    pub shell: bool,
}

async fn exec(ctx: JobContext, spec: ExecArgs) -> Result<Value, String> {
    let mut command = if spec.shell {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(&spec.program)
            .arg("rsched")
            .args(&spec.args);
        c
    } else {
        let mut c = Command::new(&spec.program);
        c.args(&spec.args);
        c
    };
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    command
        .envs(&spec.env)
        .env("RSCHED_JOB_ID", ctx.job_id())
        .env("RSCHED_SCHEDULER_ID", ctx.scheduler_id())
        .env(
            "RSCHED_SCHEDULED_TIME",
            ctx.scheduled_run_time().to_rfc3339(),
        )
        .env("RSCHED_ATTEMPT", ctx.attempt().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start '{}': {e}", spec.program))?;
    let stdout = child
        .stdout
        .take()
        .map(|out| tokio::spawn(log_lines(out, ctx.job_id().to_owned())));
    let stderr = child.stderr.take().map(|err| tokio::spawn(tail(err)));
    let timeout = spec.timeout.map_or(Duration::MAX, |t| t.0);
    let status = tokio::select! {
        status = child.wait() => status.map_err(|e| format!("waiting for '{}' failed: {e}", spec.program))?,
        () = tokio::time::sleep(timeout) => {
            let _ = child.kill().await;
            return Err(format!("'{}' timed out after {} and was killed", spec.program, DurationValue(timeout)));
        }
        () = ctx.cancelled() => {
            let _ = child.kill().await;
            return Err(format!("'{}' was killed: the run was cancelled", spec.program));
        }
    };
    let stdout_tail = match stdout {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    let stderr_tail = match stderr {
        Some(h) => h.await.unwrap_or_default(),
        None => String::new(),
    };
    if status.success() {
        Ok(json!({"exit_code": 0, "stdout": stdout_tail}))
    } else {
        let how = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => describe_signal(&status),
        };
        let stderr_tail = stderr_tail.trim_end();
        if stderr_tail.is_empty() {
            Err(format!("'{}' failed with {how}", spec.program))
        } else {
            Err(format!(
                "'{}' failed with {how}: {stderr_tail}",
                spec.program
            ))
        }
    }
}

#[cfg(unix)]
fn describe_signal(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    status
        .signal()
        .map_or_else(|| "an unknown status".to_owned(), |s| format!("signal {s}"))
}

#[cfg(not(unix))]
fn describe_signal(_status: &std::process::ExitStatus) -> String {
    "an unknown status".to_owned()
}

/// Logs each stdout line at INFO; returns the tail.
async fn log_lines(out: impl AsyncRead + Unpin, job_id: String) -> String {
    let mut lines = BufReader::new(out).lines();
    let mut tail = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "rsched::exec", job_id = %job_id, "{line}");
        tail.push_str(&line);
        tail.push('\n');
        if tail.len() > 2 * TAIL_BYTES {
            tail = keep_tail(&tail);
        }
    }
    keep_tail(&tail)
}

/// Reads everything, keeping the last [`TAIL_BYTES`].
async fn tail(mut err: impl AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = err.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 2 * TAIL_BYTES {
            buf.drain(..buf.len() - TAIL_BYTES);
        }
    }
    keep_tail(&String::from_utf8_lossy(&buf))
}

fn keep_tail(s: &str) -> String {
    if s.len() <= TAIL_BYTES {
        return s.to_owned();
    }
    let mut start = s.len() - TAIL_BYTES;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

async fn log(ctx: JobContext, _: IgnoredAny) -> Result<(), String> {
    let args = serde_json::to_string(ctx.args()).unwrap_or_default();
    let kwargs = serde_json::to_string(ctx.kwargs()).unwrap_or_default();
    tracing::info!(
        target: "rsched::log",
        job_id = ctx.job_id(),
        scheduled_run_time = %ctx.scheduled_run_time().to_rfc3339(),
        scheduler_id = ctx.scheduler_id(),
        "{} args={args} kwargs={kwargs}",
        ctx.job_name()
    );
    Ok(())
}

#[cfg(feature = "http-task")]
pub mod http {
    //! `rsched:http`: one HTTP request per run (see the [module docs](super)).

    use std::collections::BTreeMap;
    use std::time::Duration;

    use scheduler_core::{DurationValue, JobContext};
    use serde::Deserialize;
    use serde_json::{Value, json};

    /// How much of the response body the return value and error messages keep.
    const BODY_BYTES: usize = 2048;

    /// The arguments of `rsched:http`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpArgs {
        /// The URL (`http://` or `https://`).
        pub url: String,
        /// The method (default `GET`).
        #[serde(default = "get")]
        pub method: String,
        /// Request headers.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// A text body.
        pub body: Option<String>,
        /// A JSON body (instead of `body`).
        pub json: Option<Value>,
        /// How long to wait for the whole answer (default 30 s).
        pub timeout: Option<DurationValue>,
        /// The statuses that count as success (default `"2xx"`).
        pub expect_status: Option<ExpectStatus>,
    }

    fn get() -> String {
        "GET".to_owned()
    }

    /// `expect_status`: a status, a class such as `"2xx"`, or a list of them.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(untagged)]
    pub enum ExpectStatus {
        /// One status or class.
        One(StatusPattern),
        /// Several.
        Many(Vec<StatusPattern>),
    }

    /// One status (`204`) or class (`"2xx"`).
    #[derive(Debug, Clone, Deserialize)]
    #[serde(untagged)]
    pub enum StatusPattern {
        /// An exact status.
        Code(u16),
        /// `"2xx"`, or a status as text (`"204"`).
        Text(String),
    }

    impl StatusPattern {
        fn matches(&self, status: u16) -> Result<bool, String> {
            match self {
                StatusPattern::Code(code) => Ok(*code == status),
                StatusPattern::Text(text) => {
                    let t = text.trim().to_ascii_lowercase();
                    if let Some(class) = t.strip_suffix("xx") {
                        let class: u16 = class
                            .parse()
                            .ok()
                            .filter(|c| (1..=5).contains(c))
                            .ok_or_else(|| bad_pattern(text))?;
                        return Ok(status / 100 == class);
                    }
                    t.parse::<u16>()
                        .map(|code| code == status)
                        .map_err(|_| bad_pattern(text))
                }
            }
        }
    }

    fn bad_pattern(text: &str) -> String {
        format!("expect_status: '{text}' is not a status (204) or a class (\"2xx\")")
    }

    impl ExpectStatus {
        fn matches(&self, status: u16) -> Result<bool, String> {
            match self {
                ExpectStatus::One(p) => p.matches(status),
                ExpectStatus::Many(list) => {
                    let mut any = false;
                    for p in list {
                        any |= p.matches(status)?;
                    }
                    Ok(any)
                }
            }
        }
    }

    /// The first [`BODY_BYTES`] of `text`, cut at a character boundary.
    fn head(text: &str) -> String {
        if text.len() <= BODY_BYTES {
            return text.to_owned();
        }
        let mut end = BODY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    }

    pub(super) async fn request(ctx: JobContext, args: HttpArgs) -> Result<Value, String> {
        let url = reqwest::Url::parse(&args.url)
            .map_err(|e| format!("url: '{}' is not a URL ({e})", args.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "url: only http and https URLs are allowed, got '{}'",
                url.scheme()
            ));
        }
        let method = reqwest::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("method: '{}' is not an HTTP method", args.method))?;
        if args.body.is_some() && args.json.is_some() {
            return Err("body and json: give one of them, not both".to_owned());
        }
        let expect = args
            .expect_status
            .clone()
            .unwrap_or(ExpectStatus::One(StatusPattern::Text("2xx".to_owned())));
        // Checked before sending, so a typo is an error even when the request fails.
        expect.matches(200)?;
        let timeout = args.timeout.map_or(Duration::from_secs(30), |t| t.0);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("rsched/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut request = client.request(method.clone(), url.clone());
        for (name, value) in &args.headers {
            request = request.header(name, value);
        }
        if let Some(body) = args.body {
            request = request.body(body);
        }
        if let Some(json) = &args.json {
            request = request.json(json);
        }
        let request = request
            .header("X-Rsched-Job-Id", ctx.job_id())
            .header("X-Rsched-Attempt", ctx.attempt().to_string());
        let send = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        let (status, text) = tokio::select! {
            answer = send => answer.map_err(|e| {
                if e.is_timeout() {
                    format!("{method} {url} timed out after {}", DurationValue(timeout))
                } else {
                    format!("{method} {url} failed: {e}")
                }
            })?,
            () = ctx.cancelled() => return Err(format!("{method} {url} was cancelled")),
        };
        let body = head(&text);
        if expect.matches(status)? {
            Ok(json!({"status": status, "body": body}))
        } else {
            Err(format!("{method} {url} answered {status}: {body}"))
        }
    }

    /// Checks `kwargs` as `rsched:http` would read them (for tests and `rsched check`).
    ///
    /// # Errors
    /// The message naming the bad field.
    pub fn check(kwargs: &serde_json::Map<String, Value>) -> Result<HttpArgs, String> {
        serde_json::from_value(Value::Object(kwargs.clone())).map_err(|e| e.to_string())
    }
}
