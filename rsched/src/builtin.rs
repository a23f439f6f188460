//! The built-in tasks the daemon ships, usable from any configuration:
//!
//! - `rsched:exec` — run a program. Keyword arguments: `program` (required), `args` (list of
//!   strings), `cwd`, `env` (table of strings), `timeout` (seconds or `"30s"`), `shell` (run
//!   `program` as a `sh -c` command line; default false, so arguments are never re-split by a
//!   shell). The child gets `RSCHED_JOB_ID`, `RSCHED_SCHEDULER_ID` (the instance running it) and
//!   `RSCHED_SCHEDULED_TIME` (RFC 3339) in its
//!   environment; its stdout lines are logged at INFO. An exit status other than 0 is a job
//!   error whose message has the status and the tail of stderr.
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

/// Registers `rsched:exec` and `rsched:log`.
pub fn register(registry: &mut TaskRegistry) {
    registry.register("rsched:exec", exec);
    registry.register("rsched:log", log);
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
