//! The TOML configuration: Flask-APScheduler's `SCHEDULER_*` settings and `JOBS` list, line by
//! line.
//!
//! ```toml
//! [scheduler]                   # SCHEDULER_TIMEZONE
//! timezone = "Asia/Shanghai"
//! [jobstores.default]           # SCHEDULER_JOBSTORES
//! url = "memory://"
//! [executors.default]           # SCHEDULER_EXECUTORS
//! type = "threadpool"
//! max_workers = 10
//! [job_defaults]                # SCHEDULER_JOB_DEFAULTS
//! coalesce = false
//! max_instances = 3
//! [[jobs]]                      # JOBS
//! id = "job1"
//! func = "rsched:exec"
//! kwargs = { program = "echo", args = ["hello"] }
//! trigger = "interval"
//! seconds = 5
//! ```
//!
//! Trigger fields sit flat in the job table (or `trigger = { type = "cron", hour = 9 }`).
//! Durations are seconds or strings such as `"90s"`, `"1h30m"`. Every error names the file,
//! line and key: `rsched.toml:14: jobs[1].hour: value 24 is out of range 0..=23`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use scheduler_core::{JobDefaults, JobSpec, TaskRegistry, TimeZone};
use serde::Deserialize;
use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use scheduler_core::{DurationValue, GraceTime};

/// A configuration error, located: `rsched.toml:14: jobs[1].hour: value 24 is out of range
/// 0..=23`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, when the configuration came from one.
    pub file: Option<PathBuf>,
    /// The 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// The message, starting with the key path (`jobs[1].hour: ...`).
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// The whole configuration (the same model serves library users: `rsched::Config`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[scheduler]`.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// `[api]` (`SCHEDULER_API_ENABLED`, `_PREFIX`, ...).
    #[serde(default)]
    pub api: ApiConfig,
    /// `[jobstores.<alias>]` (`SCHEDULER_JOBSTORES`); without one, `default` is `memory://`.
    #[serde(default)]
    pub jobstores: BTreeMap<String, JobStoreConfig>,
    /// `[executors.<alias>]` (`SCHEDULER_EXECUTORS`); without a `default`, the async
    /// executor is the default.
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorConfig>,
    /// `[job_defaults]` (`SCHEDULER_JOB_DEFAULTS`).
    #[serde(default)]
    pub job_defaults: JobDefaultsConfig,
    /// `[[jobs]]` (`JOBS`), each a table: job options plus flat trigger fields.
    #[serde(default)]
    pub jobs: Vec<Map<String, Value>>,
    /// `[telemetry]`: where `rsched run` sends traces (one span per run, see
    /// [`TelemetryConfig`]).
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[calendars.<name>]`: exclusion calendars jobs name in `calendars = [...]` (see
    /// [`scheduler_core::calendar`]); written to the job store at start, replacing stored
    /// calendars of the same name.
    #[serde(default)]
    pub calendars: BTreeMap<String, Map<String, Value>>,
    /// Where each key path (`jobs[1].hour`) stands: 1-based lines.
    #[serde(skip)]
    lines: HashMap<String, usize>,
    /// The file the configuration came from.
    #[serde(skip)]
    file: Option<PathBuf>,
}

/// `[telemetry]`: OpenTelemetry export of `rsched run`'s traces (the daemon built with the
/// `otel` feature). Every run executes in a `job_run` span (`job_id`, `scheduled_run_time`,
/// `attempt`, `scheduler_id`); with `otlp_endpoint` set, those spans (and the task's own) are
/// sent over OTLP/HTTP (protobuf) in batches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP traces endpoint, e.g. `http://localhost:4318/v1/traces`
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` when not set here). `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute (default `rsched`).
    pub service_name: Option<String>,
}

/// `[scheduler]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// The zone for triggers that name none (default: the machine's).
    pub timezone: Option<String>,
    /// How often shared stores are polled (default 1 s).
    pub max_poll_interval: Option<DurationValue>,
    /// How long an instance's lease on a due job lasts: after a crash, other instances take its
    /// jobs over once it expires (default 30 s).
    pub lease: Option<DurationValue>,
    /// This instance's id (default `host-pid-random`).
    pub id: Option<String>,
    /// Judge due times and leases by the shared store's clock (default true): the instance
    /// measures how far its clock is from the store server's at start and every `lease / 3`
    /// and corrects for it, so a host with a wrong clock runs nothing early (see
    /// `SchedulerBuilder::follow_store_clock`). With `false`, every host must keep its clock
    /// within a second of the others (NTP).
    pub follow_store_clock: Option<bool>,
}

/// `[api]`: the HTTP API (served by `rsched run` when enabled).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API (`SCHEDULER_API_ENABLED`).
    #[serde(default)]
    pub enabled: bool,
    /// Address to listen on (default `127.0.0.1:5000`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Route prefix (`SCHEDULER_API_PREFIX`, default `/scheduler`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Hostnames the scheduler may start on (`SCHEDULER_ALLOWED_HOSTS`, default `["*"]`).
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// Authentication (`SCHEDULER_AUTH`), as the HTTP crate reads it. Required when `listen`
    /// is not a loopback address, unless `allow_anonymous`.
    #[serde(default)]
    pub auth: Option<Value>,
    /// Serve a non-loopback `listen` address without `[api.auth]` (default false): anyone who
    /// can reach it may change jobs. Logged at WARN on every start.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Origins (`https://ops.example.com`) whose web pages may change state through the API
    /// besides the server's own; they also get CORS headers (default: none).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Host names served besides `localhost`, `127.0.0.1` and `[::1]` (e.g. the name a reverse
    /// proxy forwards); on a non-loopback listener, when set, only these are served.
    #[serde(default)]
    pub server_names: Vec<String>,
    /// Tasks that jobs added or changed through the API may name: names or globs
    /// (`["reports:*", "rsched:log"]`). Default: every registered task except `rsched:exec`
    /// and `rsched:http`. Jobs of this file are not affected.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
}

fn default_listen() -> String {
    "127.0.0.1:5000".to_owned()
}

fn default_prefix() -> String {
    "/scheduler".to_owned()
}

fn default_allowed_hosts() -> Vec<String> {
    vec!["*".to_owned()]
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: false,
            listen: default_listen(),
            prefix: default_prefix(),
            allowed_hosts: default_allowed_hosts(),
            auth: None,
            allow_anonymous: false,
            allowed_origins: Vec::new(),
            server_names: Vec::new(),
            tasks: None,
        }
    }
}

/// `[jobstores.<alias>]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobStoreConfig {
    /// `memory://`, and the database URLs of the enabled store features.
    pub url: String,
    /// Table or key prefix for stores that use one (SQL default `rsched_`, Redis `rsched:`).
    pub prefix: Option<String>,
    /// MongoDB collection (default `jobs`; the database comes from the URL, default `rsched`).
    pub collection: Option<String>,
    /// Apply the store's schema migrations when opening it (default true; `rsched run
    /// --no-migrate` turns it off).
    #[serde(default = "yes")]
    pub migrate: bool,
}

fn yes() -> bool {
    true
}

impl fmt::Debug for JobStoreConfig {
    /// Leaves out credentials embedded in the URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobStoreConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("collection", &self.collection)
            .field("migrate", &self.migrate)
            .finish()
    }
}

/// Query parameters whose values are secrets in store URLs (`?password=...`, as libpq and
/// sqlx accept).
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "sslpassword",
    "secret",
    "token",
];

/// `scheme://user:secret@host/db?password=secret` becomes
/// `scheme://user:***@host/db?password=***`: every log line, error and answer that shows a
/// store URL shows it this way.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        None => tail.to_owned(),
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _))
                        if SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()) =>
                    {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
    };
    format!("{scheme}://{authority}{tail}")
}

/// The secrets a store URL carries (its password and secret query values, as written and
/// percent-decoded), to scrub from driver messages that might repeat them.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let Some((_, rest)) = url.split_once("://") else {
        return secrets;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(password.to_owned());
        }
    }
    if let Some((_, query)) = tail.split_once('?') {
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=') {
                if SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()) {
                    secrets.push(value.to_owned());
                }
            }
        }
    }
    let decoded: Vec<String> = secrets
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `[executors.<alias>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `"threadpool"` (blocking tasks on OS threads), `"async"` (tokio tasks; also accepted as
    /// `"asyncio"`), `"processpool"` (worker processes).
    #[serde(rename = "type")]
    pub kind: String,
    /// Pool size: threads for `threadpool` (default 10), worker processes for `processpool`
    /// (default: the number of CPUs).
    pub max_workers: Option<usize>,
    /// `processpool`: runs a worker serves before it is replaced (default: no limit).
    pub max_tasks_per_child: Option<u32>,
    /// `processpool`: address-space limit per worker, bytes (default: none); an allocation past
    /// it crashes the run, not the scheduler.
    pub memory_limit: Option<u64>,
}

/// `[job_defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDefaultsConfig {
    /// Default `coalesce` (APScheduler: true).
    pub coalesce: Option<bool>,
    /// Default `max_instances` (APScheduler: 1).
    pub max_instances: Option<u32>,
    /// Default `misfire_grace_time`: seconds, `"30s"`, or `"none"` for no limit (APScheduler: 1).
    pub misfire_grace_time: Option<GraceTime>,
}

impl Config {
    /// Reads a configuration file.
    ///
    /// # Errors
    /// A located [`ConfigError`]: unreadable file, TOML syntax, unknown key, bad value.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            line: None,
            message: format!("cannot read the configuration: {e}"),
        })?;
        let mut config = Config::parse(&text).map_err(|mut e| {
            e.file = Some(path.to_owned());
            e
        })?;
        config.file = Some(path.to_owned());
        Ok(config)
    }

    /// Parses configuration text.
    ///
    /// # Errors
    /// A [`ConfigError`] with its line.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let table = DeTable::parse(text).map_err(|e| ConfigError {
            file: None,
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let mut lines = HashMap::new();
        let index = LineIndex::new(text);
        let value =
            table_to_json(&index, table.get_ref(), "", &mut lines).map_err(|(path, message)| {
                ConfigError {
                    file: None,
                    line: lines.get(&path).copied(),
                    message: format!("{path}: {message}"),
                }
            })?;
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ConfigError {
                file: None,
                line: lookup(&lines, &path),
                message: format!("{path}: {}", e.into_inner()),
            }
        })?;
        config.lines = lines;
        Ok(config)
    }

    /// An error located at `path` (`jobs[1].hour`), or at the nearest enclosing key.
    pub fn error(&self, path: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: lookup(&self.lines, path),
            message: format!("{path}: {message}"),
        }
    }

    /// The file this configuration came from.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The scheduler's zone.
    ///
    /// # Errors
    /// An unknown zone, located.
    pub fn timezone(&self) -> Result<Option<TimeZone>, ConfigError> {
        self.scheduler
            .timezone
            .as_deref()
            .map(|name| {
                TimeZone::get(name).map_err(|e| {
                    self.error(
                        "scheduler.timezone",
                        e.message().trim_start_matches("timezone: "),
                    )
                })
            })
            .transpose()
    }

    /// The job defaults, APScheduler's where not set.
    pub fn job_defaults(&self) -> JobDefaults {
        let base = JobDefaults::default();
        JobDefaults {
            misfire_grace_time: self
                .job_defaults
                .misfire_grace_time
                .map_or(base.misfire_grace_time, |g| g.0),
            coalesce: self.job_defaults.coalesce.unwrap_or(base.coalesce),
            max_instances: self
                .job_defaults
                .max_instances
                .unwrap_or(base.max_instances),
        }
    }

    /// The `[calendars.<name>]` tables, parsed.
    ///
    /// # Errors
    /// The first bad calendar, located: `rsched.toml:3: calendars.holidays.dates[0]:
    /// '2026-13-01' is not a date (YYYY-MM-DD)`.
    pub fn exclusion_calendars(
        &self,
    ) -> Result<BTreeMap<String, scheduler_core::ExclusionCalendar>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, table) in &self.calendars {
            scheduler_core::calendar::validate_name(name)
                .map_err(|e| self.error(&format!("calendars.{name}"), e.message()))?;
            let calendar =
                scheduler_core::ExclusionCalendar::from_value(Value::Object(table.clone()))
                    .map_err(|e| match e.message().split_once(": ") {
                        Some((key, message)) if !key.contains(' ') => {
                            self.error(&format!("calendars.{name}.{key}"), message)
                        }
                        _ => self.error(&format!("calendars.{name}"), e.message()),
                    })?;
            out.insert(name.clone(), calendar);
        }
        Ok(out)
    }

    /// The `[[jobs]]` as job specs (with `replace_existing` on unless a job says otherwise), the
    /// triggers parsed, each task and its arguments checked against `registry`, and each
    /// calendar a job names defined under `[calendars]`.
    ///
    /// # Errors
    /// The first bad job, located: `rsched.toml:14: jobs[1].hour: value 24 is out of range
    /// 0..=23`.
    pub fn job_specs(&self, registry: &TaskRegistry) -> Result<Vec<JobSpec>, ConfigError> {
        let mut specs = Vec::with_capacity(self.jobs.len());
        let mut ids = HashMap::new();
        for (i, table) in self.jobs.iter().enumerate() {
            // "hour: value 24 ..." becomes "rsched.toml:14: jobs[1].hour: value 24 ...".
            let located = |e: scheduler_core::Error| match e.message().split_once(": ") {
                Some((key, message)) if !key.contains(' ') => {
                    self.error(&format!("jobs[{i}].{key}"), message)
                }
                _ => self.error(&format!("jobs[{i}]"), e.message()),
            };
            let mut spec = JobSpec::from_flat(table.clone()).map_err(located)?;
            // Config jobs replace the stored job of the same id on every start.
            if !table.contains_key("replace_existing") {
                spec.replace_existing = true;
            }
            let id = spec.id.clone().unwrap_or_default();
            if let Some(first) = ids.insert(id.clone(), i) {
                return Err(self.error(
                    &format!("jobs[{i}].id"),
                    format!("'{id}' is already the id of jobs[{first}]"),
                ));
            }
            registry
                .check(&spec.func, &spec.args, &spec.kwargs)
                .map_err(located)?;
            for (k, name) in spec.calendars.iter().enumerate() {
                if !self.calendars.contains_key(name) {
                    return Err(self.error(
                        &format!("jobs[{i}].calendars[{k}]"),
                        format!("no calendar named '{name}' (define it under [calendars.{name}])"),
                    ));
                }
            }
            specs.push(spec);
        }
        Ok(specs)
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Config {
    /// `[api]` as [`ApiOptions`](scheduler_http::ApiOptions), checked: the credentials of
    /// `[api.auth]` (the `*_env` variables read through `env`), the origins, server names and
    /// tasks, and the exposure rule (a non-loopback listener needs `[api.auth]` or
    /// `allow_anonymous = true`). `listen` is the bound listener's address; `None` resolves
    /// `[api] listen` (a name resolving to any non-loopback address counts as non-loopback).
    ///
    /// # Errors
    /// A located [`ConfigError`] naming the `[api]` key at fault.
    pub fn api_options(
        &self,
        listen: Option<std::net::SocketAddr>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<scheduler_http::ApiOptions, ConfigError> {
        use scheduler_http::{ApiOptions, Auth, AuthConfig};
        let api = &self.api;
        let listen = match listen {
            Some(addr) => addr,
            None => {
                use std::net::ToSocketAddrs as _;
                let addrs: Vec<std::net::SocketAddr> = api
                    .listen
                    .to_socket_addrs()
                    .map_err(|e| {
                        self.error(
                            "api.listen",
                            format!("cannot resolve '{}' (host:port): {e}", api.listen),
                        )
                    })?
                    .collect();
                addrs
                    .iter()
                    .find(|a| !a.ip().is_loopback())
                    .or(addrs.first())
                    .copied()
                    .ok_or_else(|| {
                        self.error(
                            "api.listen",
                            format!("'{}' resolves to no address", api.listen),
                        )
                    })?
            }
        };
        let auth = match &api.auth {
            None => None,
            Some(value) => {
                let config: AuthConfig =
                    serde_json::from_value(value.clone()).map_err(|e| self.error("api.auth", e))?;
                let auth = Auth::from_config(&config, env).map_err(|e| ConfigError {
                    file: self.file.clone(),
                    line: lookup(&self.lines, "api.auth"),
                    message: e.to_string(),
                })?;
                Some(std::sync::Arc::new(auth))
            }
        };
        let options = ApiOptions {
            allowed_hosts: api.allowed_hosts.clone(),
            auth,
            listen: Some(listen),
            allow_anonymous: api.allow_anonymous,
            allowed_origins: api.allowed_origins.clone(),
            server_names: api.server_names.clone(),
            tasks: api.tasks.clone(),
            ..ApiOptions::default()
        };
        options
            .validate()
            .map_err(|e| self.error(&format!("api.{}", e.field()), e.message()))?;
        Ok(options)
    }
}

/// The line of `path`, or of its nearest enclosing key.
fn lookup(lines: &HashMap<String, usize>, path: &str) -> Option<usize> {
    let mut path = path;
    loop {
        if let Some(line) = lines.get(path) {
            return Some(*line);
        }
        let cut = path.rfind(['.', '['])?;
        path = &path[..cut];
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The offsets of a text's line breaks, so that finding the line of each of its keys takes a
/// binary search, not a scan from the start (a file of 100,000 jobs has a million keys).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

type Located = (String, String);

fn table_to_json(
    text: &LineIndex,
    table: &DeTable<'_>,
    path: &str,
    lines: &mut HashMap<String, usize>,
) -> Result<Value, Located> {
    let mut map = Map::new();
    for (key, value) in table {
        let key_path = if path.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{path}.{}", key.get_ref())
        };
        lines.insert(key_path.clone(), text.line(key.span().start));
        map.insert(
            key.get_ref().to_string(),
            value_to_json(text, value.get_ref(), &key_path, lines)?,
        );
    }
    Ok(Value::Object(map))
}

fn value_to_json(
    text: &LineIndex,
    value: &DeValue<'_>,
    path: &str,
    lines: &mut HashMap<String, usize>,
) -> Result<Value, Located> {
    Ok(match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let parsed = match i.radix() {
                10 => digits.parse::<i64>().ok(),
                radix => {
                    i64::from_str_radix(digits.trim_start_matches(['0', 'x', 'o', 'b']), radix).ok()
                }
            };
            Value::from(parsed.ok_or_else(|| {
                (
                    path.to_owned(),
                    format!("the integer {} does not fit in 64 bits", i.as_str()),
                )
            })?)
        }
        DeValue::Float(f) => {
            let v: f64 = f
                .as_str()
                .replace('_', "")
                .parse()
                .map_err(|_| (path.to_owned(), format!("invalid number {}", f.as_str())))?;
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| (path.to_owned(), format!("{v} is not a finite number")))?
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = format!("{path}[{i}]");
                    lines.insert(item_path.clone(), text.line(item.span().start));
                    value_to_json(text, item.get_ref(), &item_path, lines)
                })
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => table_to_json(text, t, path, lines)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_counting_line_breaks() {
        let text = "a = 1\n\n[b]\nc = 2\r\nd = [\n  3,\n]\n";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() {
            assert_eq!(index.line(offset), line_of(text, offset), "offset {offset}");
        }
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/jobs"),
            "postgres://app:***@db:5432/jobs"
        );
        assert_eq!(redact_url("sqlite://rsched.db"), "sqlite://rsched.db");
        assert_eq!(
            redact_url("redis://:p%40ss@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://app@db/jobs?sslmode=require&Password=s3cret"),
            "postgres://app@db/jobs?sslmode=require&Password=***"
        );
        assert_eq!(
            redact_url("mongodb://a%3Ab@h1,h2/?replicaSet=rs"),
            "mongodb://a%3Ab@h1,h2/?replicaSet=rs"
        );
        assert_eq!(
            url_secrets("postgres://app:p%40ss@db/jobs?password=x%21"),
            ["p%40ss", "p@ss", "x!", "x%21"]
        );
    }

    #[test]
    fn syntax_errors_have_lines() {
        let err = Config::parse("[scheduler]\ntimezone = \n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = Config::parse("[scheduler]\nzone = \"UTC\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(
            err.message
                .starts_with("scheduler.zone: unknown field `zone`"),
            "{err}"
        );
    }
}
