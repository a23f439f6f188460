#![doc = include_str!("../README.md")]

pub mod auth;
mod json;
mod metrics;
mod openapi;
pub mod security;
mod ui;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use scheduler_core::store::query::MAX_PAGE;
use scheduler_core::{
    BuiltinTrigger, Job, JobChanges, JobCursor, JobQuery, JobSort, JobSpec, JobStatus, Scheduler,
    Trigger, isoformat,
};
use serde_json::{Map, Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{
    BackfillRequest, BulkAnswer, CalendarDoc, ErrorBody, JobDefinition, JobDoc, JobSortParam,
    JobStateParam, JobsAnswer, PreviewRequest, SchedulerInfo,
};

pub use auth::{Auth, AuthConfig, AuthError, Role};
pub use json::{ApiError, JobJson, job_value};
pub use security::ApiOptionsError;

use crate::security::{Guard, TaskPolicy, Throttle};

/// How the API behaves besides the scheduler it serves.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Host names the scheduler may start on (`SCHEDULER_ALLOWED_HOSTS`; `*` = any). Reported
    /// by `GET ""` and enforced by `POST /start` and [`ApiOptions::may_start`].
    pub allowed_hosts: Vec<String>,
    /// This machine's host name, lower-cased (default: the system's).
    pub host_name: String,
    /// Credentials; `None` = no authentication (Flask-APScheduler's default). Required when
    /// [`listen`](Self::listen) is not a loopback address, unless
    /// [`allow_anonymous`](Self::allow_anonymous).
    pub auth: Option<Arc<Auth>>,
    /// The address the server listens on (`[api] listen`); `None` (the default) means a
    /// loopback address. It decides which `Host` names are served (loopback listeners answer
    /// only to `localhost`, `127.0.0.1`, `[::1]` and [`server_names`](Self::server_names)) and
    /// whether anonymous access is allowed.
    pub listen: Option<std::net::SocketAddr>,
    /// Serve a non-loopback [`listen`](Self::listen) address without [`auth`](Self::auth)
    /// (`[api] allow_anonymous`, default false): anyone who can reach it may change jobs. A
    /// WARN is logged each time such a router is built.
    pub allow_anonymous: bool,
    /// Origins (`https://ops.example.com`, scheme, host and optional port) whose pages may
    /// change state through the API besides the server's own (`[api] allowed_origins`); they
    /// also get CORS headers. Default: none.
    pub allowed_origins: Vec<String>,
    /// Host names served besides the loopback ones (`[api] server_names`), e.g. the name a
    /// reverse proxy forwards; on a non-loopback listener, when set, only these are served.
    pub server_names: Vec<String>,
    /// The tasks jobs added or changed through the API may name (`[api] tasks`): names or
    /// globs (`"reports:*"`). `None` (the default): every registered task except
    /// [`security::DEFAULT_DENIED_TASKS`] (`rsched:exec`, `rsched:http`). Jobs added by the
    /// application or the configuration file are not affected.
    pub tasks: Option<Vec<String>>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            allowed_hosts: vec!["*".to_owned()],
            host_name: gethostname::gethostname().to_string_lossy().to_lowercase(),
            auth: None,
            listen: None,
            allow_anonymous: false,
            allowed_origins: Vec::new(),
            server_names: Vec::new(),
            tasks: None,
        }
    }
}

impl ApiOptions {
    /// Whether the scheduler may start on this host (Flask-APScheduler's `APScheduler.start`
    /// check: the host name is listed, or `*` is).
    pub fn may_start(&self) -> bool {
        self.allowed_hosts
            .iter()
            .any(|h| h == "*" || h.eq_ignore_ascii_case(&self.host_name))
    }

    /// Checks these options as [`try_router`] does.
    ///
    /// # Errors
    /// [`ApiOptionsError`] naming the field: a non-loopback `listen` without `auth` and without
    /// `allow_anonymous`, an entry of `allowed_origins` that is not `scheme://host[:port]`, of
    /// `server_names` that is not a host name, of `tasks` that is not a valid glob.
    pub fn validate(&self) -> Result<(), ApiOptionsError> {
        self.resolve().map(drop)
    }

    fn resolve(&self) -> Result<(Guard, TaskPolicy), ApiOptionsError> {
        security::check_exposure(self)?;
        Ok((Guard::new(self)?, TaskPolicy::new(self.tasks.as_deref())?))
    }
}

#[derive(Clone)]
struct Api {
    scheduler: Scheduler,
    options: Arc<ApiOptions>,
    guard: Arc<Guard>,
    tasks: Arc<TaskPolicy>,
    throttle: Arc<Throttle>,
    metrics: Arc<metrics::Metrics>,
    openapi: Arc<utoipa::openapi::OpenApi>,
}

/// The API as a router to nest under a prefix (`/scheduler` by convention):
///
/// ```no_run
/// # async fn f(scheduler: scheduler_core::Scheduler) {
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "Hello World!" }))
///     .nest("/scheduler", scheduler_http::router(scheduler, Default::default()));
/// # }
/// ```
///
/// Routes (relative to the prefix), Flask-APScheduler's first:
///
/// | route | answer |
/// |---|---|
/// | `GET ""` | `{"current_host", "allowed_hosts", "running"}` |
/// | `POST /start`, `/shutdown`, `/pause`, `/resume` | 204; 400 `Scheduler is already running` / `Scheduler is not running` |
/// | `GET /jobs` | the jobs, by next run time then id, paused last |
/// | `POST /jobs` | 200 with the job; 409 `Job X already exists.` |
/// | `GET`, `PATCH`, `DELETE /jobs/{id}` | 200, 200, 204; 404 `Job X not found` |
/// | `POST /jobs/{id}/pause`, `/resume`, `/run` | 200 with the job (`run` submits it to its executor) |
/// | `POST /preview` | `{"trigger": {...}, "count": N, "after"?}` → the next fire times, and the schedule in words |
/// | `GET /events` | server-sent events: the scheduler's event stream, as JSON |
/// | `GET /metrics` | Prometheus text format |
/// | `GET /healthz` | `{"status": "ok", "running": ..., "clock": ..., "warnings": [...]}` (no authentication) |
///
/// Every client mistake is a 400 (415 for a body that is not JSON) with
/// `{"error_message": "..."}` naming the field; Flask-APScheduler answers 500 to most.
///
/// The router is safe by default ([`security`]): foreign `Host` names get 421, state changes
/// from other origins 403, tasks outside [`ApiOptions::tasks`] 403, repeated failed sign-ins
/// 429. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so sign-in
/// failures are counted per client address.
///
/// Options that [`ApiOptions::validate`] refuses give a router that answers every request with
/// 503 naming the problem (and an ERROR log line); use [`try_router`] to get the error instead.
pub fn router(scheduler: Scheduler, options: ApiOptions) -> Router {
    match try_router(scheduler, options) {
        Ok(router) => router,
        Err(e) => {
            tracing::error!("The scheduler API is not served: {e}");
            let message = format!("the scheduler API is not served: {e}");
            Router::new().fallback(move || {
                let message = message.clone();
                async move { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message) }
            })
        }
    }
}

/// Installs the Prometheus recorder `GET {prefix}/metrics` renders as the process's `metrics`
/// recorder, if no recorder is installed yet (building a router does it too; a daemon calls this
/// before it starts its scheduler so the first runs are counted). Returns whether `/metrics`
/// will serve rsched's metrics (`false`: the application has its own recorder).
pub fn install_metrics_recorder() -> bool {
    metrics::recorder().is_some()
}

/// [`router`], or the reason `options` cannot be served.
///
/// # Errors
/// As [`ApiOptions::validate`].
pub fn try_router(scheduler: Scheduler, options: ApiOptions) -> Result<Router, ApiOptionsError> {
    let (guard, task_policy) = options.resolve()?;
    if let Some(listen) = security::anonymous_exposure(&options) {
        tracing::warn!(
            "The API on {listen} accepts anonymous requests from anyone who can reach it (allow_anonymous = true): add [api.auth] credentials to restrict it"
        );
    }
    let cors = cors_layer(&options);
    let metrics = metrics::Metrics::attach(&scheduler);
    // Installed as the process's recorder now, before the runs it is to count.
    let _ = metrics::recorder();
    let (protected, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(info))
        .routes(routes!(start))
        .routes(routes!(shutdown))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(get_jobs, add_job))
        .routes(routes!(pause_jobs))
        .routes(routes!(resume_jobs))
        .routes(routes!(get_job, update_job, delete_job))
        .routes(routes!(pause_job))
        .routes(routes!(resume_job))
        .routes(routes!(run_job))
        .routes(routes!(backfill))
        .routes(routes!(job_runs))
        .routes(routes!(next_fire_times))
        .routes(routes!(tasks))
        .routes(routes!(quarantine))
        .routes(routes!(problems))
        .routes(routes!(summary))
        .routes(routes!(timeline))
        .routes(routes!(preview))
        .routes(routes!(list_calendars))
        .routes(routes!(get_calendar, put_calendar, delete_calendar))
        .routes(routes!(events))
        .routes(routes!(metrics::render))
        .routes(routes!(healthz))
        .split_for_parts();
    let api = Api {
        scheduler,
        options: Arc::new(options),
        guard: Arc::new(guard),
        tasks: Arc::new(task_policy),
        throttle: Arc::new(Throttle::new()),
        metrics,
        openapi: Arc::new(openapi),
    };
    // A job whose id is "pause" or "resume" keeps its GET / PATCH / DELETE routes beside the
    // bulk actions' POST.
    let protected = protected
        .route(
            "/jobs/pause",
            get(|state| get_job(state, Path("pause".to_owned())))
                .patch(|state, body| update_job(state, Path("pause".to_owned()), body))
                .delete(|state| delete_job(state, Path("pause".to_owned()))),
        )
        .route(
            "/jobs/resume",
            get(|state| get_job(state, Path("resume".to_owned())))
                .patch(|state, body| update_job(state, Path("resume".to_owned()), body))
                .delete(|state| delete_job(state, Path("resume".to_owned()))),
        )
        .route("/ui", get(ui::index))
        .route("/ui/", get(ui::index))
        .route("/ui/{asset}", get(ui::asset))
        .route_layer(middleware::from_fn_with_state(api.clone(), authenticate));
    let mut router = Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(protected)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(api.clone(), guard_request));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    Ok(router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(security::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(api))
}

/// CORS answers for [`ApiOptions::allowed_origins`] (none without them: the browser then
/// keeps other origins' scripts from reading answers).
fn cors_layer(options: &ApiOptions) -> Option<CorsLayer> {
    if options.allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = options
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
    )
}

/// The `Host`, `Origin` and browser `Content-Type` rules ([`security`]), before anything else.
async fn guard_request(State(api): State<Api>, request: Request, next: Next) -> Response {
    let events = request.uri().path() == "/events";
    match api.guard.refusal(&request, events) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

async fn authenticate(State(api): State<Api>, request: Request, next: Next) -> Response {
    let Some(auth) = &api.options.auth else {
        return next.run(request).await;
    };
    // Load balancers and orchestrators probe health without credentials.
    if request.uri().path().ends_with("/healthz") {
        return next.run(request).await;
    }
    // A locked-out address gets no answer about its credentials, right or wrong.
    let client = Throttle::client(&request);
    if let Some(wait) = api.throttle.locked_for(client) {
        return Throttle::too_many(wait);
    }
    match auth.check(request.headers()) {
        Some(role) if role.allows(request.method()) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "this credential is read-only: only GET routes are allowed",
        )
        .into_response(),
        None => {
            if request.headers().contains_key(header::AUTHORIZATION) {
                if let Some(wait) = api.throttle.failed(client) {
                    return Throttle::too_many(wait);
                }
            }
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized access").into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Authentication Required\""),
            );
            response
        }
    }
}

/// A JSON object body; malformed JSON and non-objects are 400, other content types 415.
struct Body(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let value = match content_type {
            // Flask-APScheduler reads bodies with `get_json(force=True)`: clients that send no
            // Content-Type at all keep working.
            None => {
                let bytes = axum::body::Bytes::from_request(req, state)
                    .await
                    .map_err(|e| ApiError::bad_request(e.body_text()))?;
                if bytes.is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_slice(&bytes)
                        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?
                }
            }
            Some(_) => match Json::<Value>::from_request(req, state).await {
                Ok(Json(value)) => value,
                Err(JsonRejection::MissingJsonContentType(_)) => {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "send the body as JSON with Content-Type: application/json",
                    ));
                }
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "malformed JSON: {}",
                        e.body_text()
                    )));
                }
            },
        };
        match value {
            Value::Object(map) => Ok(Body(map)),
            other => Err(ApiError::bad_request(format!(
                "the body must be a JSON object, got {}",
                match other {
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ))),
        }
    }
}

impl Api {
    /// 403 when jobs added or changed through the API may not name `func` ([`ApiOptions::tasks`]);
    /// a task that is not registered is left to the scheduler's own 400.
    fn check_task(&self, func: &str) -> Result<(), ApiError> {
        if self.scheduler.registry().contains(func) {
            self.tasks.check(func)
        } else {
            Ok(())
        }
    }
}

fn job_response(job: &Job) -> Response {
    Json(JobJson(job)).into_response()
}

#[utoipa::path(get, path = "/healthz", tag = "ops",
    description = "Liveness: 200 while the process serves requests; needs no credentials.",
    responses((status = 200, description = "Alive", body = Object)))]
async fn healthz(State(api): State<Api>) -> Json<Value> {
    let clock = clock_json(&api.scheduler);
    let mut warnings = Vec::new();
    if let Some(warning) = clock.get("warning") {
        warnings.push(warning.clone());
    }
    Json(json!({
        "status": "ok",
        "running": api.scheduler.running(),
        "clock": clock,
        "warnings": warnings,
    }))
}

/// How far this host's clock is from the store clock the scheduler follows: `null` when it
/// follows none (memory/SQLite stores, or `follow_store_clock = false`), else
/// `{"jobstore", "offset_seconds" (store minus host), "uncertainty_seconds", "measured_at",
/// "warning"?}`; `warning` past 1 s.
fn clock_json(scheduler: &Scheduler) -> Value {
    let Some(skew) = scheduler.clock_skew() else {
        return Value::Null;
    };
    let mut clock = json!({
        "jobstore": &*skew.jobstore,
        "offset_seconds": skew.offset_seconds(),
        "uncertainty_seconds": skew.uncertainty.as_secs_f64(),
        "measured_at": skew.measured_at.to_rfc3339(),
    });
    if let Some(warning) = skew.warning() {
        clock["warning"] = json!(warning);
    }
    clock
}

#[utoipa::path(get, path = "/", tag = "scheduler",
    description = "Flask-APScheduler's scheduler info.",
    responses((status = 200, description = "The scheduler", body = SchedulerInfo)))]
async fn info(State(api): State<Api>) -> Json<Value> {
    Json(json!({
        "current_host": api.options.host_name,
        "allowed_hosts": api.options.allowed_hosts,
        "running": api.scheduler.running(),
        "scheduler_id": api.scheduler.id(),
        "state": match api.scheduler.state() {
            scheduler_core::SchedulerState::Running => "running",
            scheduler_core::SchedulerState::Paused => "paused",
            scheduler_core::SchedulerState::Stopped => "stopped",
        },
        "clock": clock_json(&api.scheduler),
    }))
}

#[utoipa::path(post, path = "/start", tag = "scheduler",
    responses((status = 204, description = "Started"), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody)))]
async fn start(State(api): State<Api>) -> Result<StatusCode, ApiError> {
    if !api.options.may_start() {
        return Err(ApiError::bad_request(format!(
            "host name {} is not allowed to start the scheduler (allowed_hosts: {})",
            api.options.host_name,
            api.options.allowed_hosts.join(", ")
        )));
    }
    api.scheduler.start().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/shutdown", tag = "scheduler",
    responses((status = 204, description = "Shut down"), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody)))]
async fn shutdown(State(api): State<Api>) -> Result<StatusCode, ApiError> {
    // Like Flask-APScheduler's `shutdown()`: wait for running jobs, but not inside this
    // request: the answer comes once the scheduler stopped taking new runs.
    api.scheduler.shutdown(false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/pause", tag = "scheduler",
    responses((status = 204, description = "Job processing paused"), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody)))]
async fn pause(State(api): State<Api>) -> Result<StatusCode, ApiError> {
    api.scheduler.pause()?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/resume", tag = "scheduler",
    responses((status = 204, description = "Job processing resumed"), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody)))]
async fn resume(State(api): State<Api>) -> Result<StatusCode, ApiError> {
    api.scheduler.resume()?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole-number query parameter `name`, 1..=`max` (`default` when absent); anything else is
/// a 400 naming it: `limit: expected a number from 1 to 1000, got 'x'`.
fn number_param(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name}: expected a number from 1 to {max}, got '{text}'"
                ))
            }),
    }
}

/// How many jobs (of every store) are in `state`: the `total` of a one-job page.
async fn jobs_in(api: &Api, state: JobStatus) -> Result<u64, ApiError> {
    let query = JobQuery {
        limit: 1,
        state: Some(state),
        ..JobQuery::default()
    };
    Ok(api.scheduler.list_jobs(None, query).await?.total)
}

/// The parameters of `GET /jobs` that ask for a page instead of the full array.
const PAGE_PARAMS: [&str; 7] = ["limit", "cursor", "state", "tag", "q", "sort", "include"];

/// Reads the listing parameters (`limit`, `cursor`, `state`, `tag`, `q`, `sort`); every bad
/// value is a 400 naming the parameter.
fn job_query(params: &HashMap<String, String>) -> Result<JobQuery, ApiError> {
    let bad =
        |e: scheduler_core::Error| ApiError::new(StatusCode::BAD_REQUEST, e.message().to_owned());
    let sort = match params.get("sort") {
        Some(text) => JobSort::parse(text).map_err(bad)?,
        None => JobSort::NextRunTime,
    };
    let limit = match params.get("limit") {
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit: {text:?} is not a number from 1 to {MAX_PAGE}"),
                ));
            }
        },
        None => 100,
    };
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match params.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(t) if t.chars().count() > 200 => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name}: longer than 200 characters"),
            )),
            Some(t) if t.chars().any(char::is_control) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{name}: control characters are not allowed"),
            )),
            Some(t) => Ok(Some(t.to_owned())),
        }
    };
    Ok(JobQuery {
        limit,
        after: match params.get("cursor").map(String::as_str) {
            None | Some("") => None,
            Some(c) => Some(JobCursor::decode(c, sort).map_err(bad)?),
        },
        state: match params.get("state").map(String::as_str) {
            None | Some("") => None,
            Some(t) => Some(JobStatus::parse(t).map_err(bad)?),
        },
        tag: text("tag")?,
        q: text("q")?,
        sort,
        running_here: None,
    })
}

#[utoipa::path(get, path = "/jobs", tag = "jobs",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Jobs per page, 1..=1000 (default 100). Any of these parameters turns the answer into a page object"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page (same sort)"),
        ("state" = Option<JobStateParam>, Query, description = "Only jobs in this state: scheduled (has a next run time), paused, running (a run in progress on any instance), quarantined"),
        ("tag" = Option<String>, Query, description = "Only jobs with this tag"),
        ("q" = Option<String>, Query, description = "Only jobs whose id, name or func contains this text (case-insensitive)"),
        ("sort" = Option<JobSortParam>, Query, description = "next_run_time (default; paused jobs last) or id"),
        ("include" = Option<String>, Query, description = "last_run: each job of the page carries its newest history record as last_run {outcome, scheduled_run_time, started, finished, duration (seconds), error}, or null")),
    description = "Without parameters: every job, by next run time then id, paused jobs last (Flask-APScheduler's array). With any of limit, cursor, state, tag, q, sort: one page, {\"jobs\": [...], \"next_cursor\": \"...\" or null, \"total\": n}, served by the job store's own query or index. With state=quarantined the page lists quarantined entries ({id, jobstore, reason, state}).",
    responses((status = 200, description = "The jobs: an array, or a page", body = JobsAnswer), (status = 400, description = "A bad parameter", body = ErrorBody)))]
async fn get_jobs(
    State(api): State<Api>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !PAGE_PARAMS.iter().any(|p| params.contains_key(*p)) {
        let jobs = api.scheduler.get_jobs(None).await?;
        let list: Vec<JobJson<'_>> = jobs.iter().map(JobJson).collect();
        return Ok(Json(list).into_response());
    }
    let query = job_query(&params)?;
    if query.state == Some(JobStatus::Quarantined) {
        return quarantine_page(&api, &query).await;
    }
    let with_last_run = params
        .get("include")
        .is_some_and(|i| i.split(',').any(|part| part == "last_run"));
    let page = api.scheduler.list_jobs(None, query).await?;
    let mut jobs: Vec<Value> = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        let mut value = serde_json::to_value(JobJson(job)).unwrap_or_default();
        if with_last_run {
            let last = api.scheduler.job_runs(job.id(), 1).await?.pop();
            value["last_run"] = match last {
                Some(run) => {
                    let duration = run
                        .started
                        .zip(run.finished)
                        .and_then(|(s, f)| (f - s).num_microseconds())
                        .map(|us| Value::from(us as f64 / 1e6));
                    json!({
                        "outcome": run.outcome.as_str(),
                        "scheduled_run_time": run.scheduled_run_time.to_rfc3339(),
                        "started": run.started.map(|t| t.to_rfc3339()),
                        "finished": run.finished.map(|t| t.to_rfc3339()),
                        "duration": duration,
                        "error": run.error,
                    })
                }
                None => Value::Null,
            };
        }
        jobs.push(value);
    }
    Ok(Json(json!({
        "jobs": jobs,
        "next_cursor": page.next.map(|c| c.encode()),
        "total": page.total,
    }))
    .into_response())
}

/// `GET /jobs?state=quarantined`: quarantined entries by id, paged (their state may not
/// decode, so `tag` matches none of them and `q` looks at the id).
async fn quarantine_page(api: &Api, query: &JobQuery) -> Result<Response, ApiError> {
    let mut list = api.scheduler.quarantined_jobs().await?;
    let q = query.q.as_deref().map(str::to_lowercase);
    list.retain(|(_, e)| {
        query.tag.is_none() && q.as_deref().is_none_or(|q| e.id.to_lowercase().contains(q))
    });
    list.sort_by(|a, b| a.1.id.as_bytes().cmp(b.1.id.as_bytes()));
    let total = list.len();
    if let Some(after) = &query.after {
        list.retain(|(_, e)| e.id.as_bytes() > after.id.as_bytes());
    }
    let size = query.page_size();
    let next = (list.len() > size).then(|| {
        JobCursor {
            sort: query.sort,
            next_run_time: None,
            id: list[size - 1].1.id.clone(),
        }
        .encode()
    });
    list.truncate(size);
    let jobs: Vec<Value> = list
        .into_iter()
        .map(|(jobstore, e)| json!({"id": e.id, "jobstore": jobstore, "reason": e.reason, "state": e.state}))
        .collect();
    Ok(Json(json!({"jobs": jobs, "next_cursor": next, "total": total})).into_response())
}

#[utoipa::path(post, path = "/jobs/pause", tag = "jobs",
    params(
        ("tag" = Option<String>, Query, description = "Jobs with this tag"),
        ("q" = Option<String>, Query, description = "Jobs whose id, name or func contains this text"),
        ("state" = Option<JobStateParam>, Query, description = "Jobs in this state")),
    description = "Pauses every scheduled job matching the filters (at least one of tag, q, state). A job whose id is \"pause\" is still read, changed and removed at /jobs/pause with GET, PATCH and DELETE.",
    responses((status = 200, description = "The ids paused", body = BulkAnswer), (status = 400, description = "No filter, or a bad one", body = ErrorBody),
        (status = 403, description = "A cross-origin request", body = ErrorBody)))]
async fn pause_jobs(
    State(api): State<Api>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    bulk(&api, &params, false).await
}

#[utoipa::path(post, path = "/jobs/resume", tag = "jobs",
    params(
        ("tag" = Option<String>, Query, description = "Jobs with this tag"),
        ("q" = Option<String>, Query, description = "Jobs whose id, name or func contains this text"),
        ("state" = Option<JobStateParam>, Query, description = "Jobs in this state")),
    description = "Resumes every paused job matching the filters (at least one of tag, q, state), as POST /jobs/{id}/resume does. A job whose id is \"resume\" is still read, changed and removed at /jobs/resume with GET, PATCH and DELETE.",
    responses((status = 200, description = "The ids resumed", body = BulkAnswer), (status = 400, description = "No filter, or a bad one", body = ErrorBody),
        (status = 403, description = "A cross-origin request", body = ErrorBody)))]
async fn resume_jobs(
    State(api): State<Api>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    bulk(&api, &params, true).await
}

async fn bulk(
    api: &Api,
    params: &HashMap<String, String>,
    resume: bool,
) -> Result<Response, ApiError> {
    let query = job_query(params)?;
    if query.tag.is_none() && query.q.is_none() && query.state.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "tag: a bulk {} needs a filter (tag, q or state); to {} one job use POST /jobs/{{id}}/{}",
                if resume { "resume" } else { "pause" },
                if resume { "resume" } else { "pause" },
                if resume { "resume" } else { "pause" },
            ),
        ));
    }
    let ids = api.scheduler.pause_jobs_matching(&query, resume).await?;
    Ok(Json(json!({"count": ids.len(), "ids": ids})).into_response())
}

#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = JobDefinition,
    responses((status = 200, description = "The job added", body = JobDoc), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody),
        (status = 403, description = "The task may not be scheduled through the API ([api] tasks), or a cross-origin request", body = ErrorBody),
        (status = 409, description = "A job with this id exists", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody)))]
async fn add_job(State(api): State<Api>, Body(body): Body) -> Result<Response, ApiError> {
    let spec = JobSpec::from_flat(body)?;
    api.check_task(&spec.func)?;
    let id = spec.id.clone().unwrap_or_default();
    match api.scheduler.add_job(spec).await {
        Ok(job) => Ok(job_response(&job)),
        Err(e) if e.kind() == scheduler_core::ErrorKind::AlreadyExists => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Job {id} already exists."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// 404 in Flask-APScheduler's words for a missing job; other errors as they are.
fn or_not_found(id: &str) -> impl FnOnce(scheduler_core::Error) -> ApiError + '_ {
    move |e| {
        if e.kind() == scheduler_core::ErrorKind::NotFound {
            ApiError::job_not_found(id)
        } else {
            e.into()
        }
    }
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = JobDoc), (status = 404, description = "No such job", body = ErrorBody)))]
async fn get_job(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match api.scheduler.get_job(&id).await? {
        Some(job) => Ok(job_response(&job)),
        None => Err(ApiError::job_not_found(&id)),
    }
}

#[utoipa::path(patch, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    request_body(content = Object, description = "Fields to change, flat as in POST /jobs, without id"),
    responses((status = 200, description = "The changed job", body = JobDoc), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody), (status = 403, description = "The job's task may not be changed through the API ([api] tasks)", body = ErrorBody), (status = 404, description = "No such job", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody)))]
async fn update_job(
    State(api): State<Api>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let changes = JobChanges::from_flat(body)?;
    // A change to any field of a job whose task the API may not use would let it steer that
    // task (a program's arguments, say): refused as a new job naming it would be.
    match &changes.func {
        Some(func) => api.check_task(func)?,
        None => match api.scheduler.get_job(&id).await? {
            Some(job) => api.check_task(job.func())?,
            None => return Err(ApiError::job_not_found(&id)),
        },
    }
    let job = api
        .scheduler
        .modify_job(&id, changes)
        .await
        .map_err(or_not_found(&id))?;
    Ok(job_response(&job))
}

#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such job", body = ErrorBody)))]
async fn delete_job(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.scheduler
        .remove_job(&id, None)
        .await
        .map_err(or_not_found(&id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/jobs/{id}/pause", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The paused job", body = JobDoc), (status = 404, description = "No such job", body = ErrorBody)))]
async fn pause_job(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = api
        .scheduler
        .pause_job(&id)
        .await
        .map_err(or_not_found(&id))?;
    Ok(job_response(&job))
}

#[utoipa::path(post, path = "/jobs/{id}/resume", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The resumed job", body = JobDoc), (status = 404, description = "No such job", body = ErrorBody)))]
async fn resume_job(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = api
        .scheduler
        .resume_job(&id)
        .await
        .map_err(or_not_found(&id))?;
    match job {
        Some(job) => Ok(job_response(&job)),
        // APScheduler removes a job whose schedule is finished when it is resumed.
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Job {id} not found (its schedule had finished, so resuming removed it)"),
        )),
    }
}

#[utoipa::path(post, path = "/jobs/{id}/run", tag = "jobs", params(("id" = String, Path, description = "Job id")),
    description = "Submits a run now to the job's executor; the schedule is unchanged.",
    responses((status = 200, description = "The job", body = JobDoc), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody), (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "max_instances runs are already running", body = ErrorBody)))]
async fn run_job(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = api
        .scheduler
        .run_job(&id)
        .await
        .map_err(or_not_found(&id))?;
    Ok(job_response(&job))
}

#[utoipa::path(post, path = "/jobs/{id}/backfill", tag = "jobs", request_body = BackfillRequest,
    params(("id" = String, Path, description = "Job id")),
    description = "Runs every fire time of the job's trigger in [start, end) now (Temporal's BackfillRequest), at most 10,000, each recorded in the history with backfill: true; the job's own schedule is not moved. overlap: buffer_all (one after another, the default) or allow_all (all at once).",
    responses((status = 200, description = "What the backfill runs: {job_id, fire_times, first, last, overlap}", body = Object),
        (status = 400, description = "A reversed range, more than 10,000 fire times, a bad overlap, or the scheduler is not running", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
async fn backfill(
    State(api): State<Api>,
    Path(id): Path<String>,
    Body(mut body): Body,
) -> Result<Json<Value>, ApiError> {
    let time = |key: &str, value: Option<Value>| -> Result<DateTime<Utc>, ApiError> {
        match value {
            Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "{key}: expected an RFC 3339 time, got '{text}' ({e})"
                    ))
                }),
            Some(other) => Err(ApiError::bad_request(format!(
                "{key}: expected an RFC 3339 time, got {other}"
            ))),
            None => Err(ApiError::bad_request(format!(
                "{key}: missing (an RFC 3339 time)"
            ))),
        }
    };
    let start = time("start", body.remove("start"))?;
    let end = time("end", body.remove("end"))?;
    let overlap = match body.remove("overlap") {
        None | Some(Value::Null) => scheduler_core::scheduler::backfill::BackfillOverlap::default(),
        Some(Value::String(text)) => {
            scheduler_core::scheduler::backfill::BackfillOverlap::parse(&text)?
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "overlap: expected \"buffer_all\" or \"allow_all\", got {other}"
            )));
        }
    };
    if let Some(key) = body.keys().next() {
        return Err(ApiError::bad_request(format!(
            "{key}: unknown field (expected start, end, overlap)"
        )));
    }
    let report = api
        .scheduler
        .backfill(&id, start, end, overlap)
        .await
        .map_err(or_not_found(&id))?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

#[utoipa::path(get, path = "/tasks", tag = "jobs",
    description = "The registered task names a job added or changed through the API may name ([api] tasks; by default every task but rsched:exec and rsched:http).",
    responses((status = 200, description = "Task names, sorted", body = Vec<String>)))]
async fn tasks(State(api): State<Api>) -> Json<Vec<String>> {
    Json(
        api.scheduler
            .registry()
            .names()
            .into_iter()
            .filter(|name| api.tasks.allows(name))
            .map(str::to_owned)
            .collect(),
    )
}

#[utoipa::path(get, path = "/quarantine", tag = "jobs",
    description = "Stored jobs that cannot be scheduled (undecodable state, or a task this process has not registered): kept, never deleted. Re-adding a job with the same id (replace_existing) restores it; DELETE /jobs/{id} removes it.",
    responses((status = 200, description = "Quarantined jobs", body = Vec<Object>)))]
async fn quarantine(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let list = api.scheduler.quarantined_jobs().await?;
    Ok(Json(Value::Array(
        list.into_iter()
            .map(|(jobstore, q)| {
                json!({"id": q.id, "jobstore": jobstore, "reason": q.reason, "state": q.state})
            })
            .collect(),
    )))
}

/// At most this many runs per job in a timeline.
const MAX_TIMELINE_RUNS: usize = 3600;

#[utoipa::path(get, path = "/timeline", tag = "jobs",
    params(("seconds" = Option<u32>, Query, description = "Window from now, 1..=86400 (default 3600)"),
        ("jobs" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Only the jobs that run soonest, at most this many (default: every job)")),
    description = "Each scheduled job's run times within the window (at most 3600 per job).",
    responses((status = 200, description = "Runs per job", body = Vec<Object>), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody)))]
async fn timeline(
    State(api): State<Api>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let seconds = match query.get("seconds") {
        None => 3600,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "seconds: expected a whole number from 1 to 86400, got '{text}'"
                ))
            })?,
    };
    let jobs_limit = match query.get("jobs") {
        None => None,
        Some(_) => Some(number_param(&query, "jobs", MAX_PAGE, MAX_PAGE)?),
    };
    let now = api.scheduler.clock().now();
    let end = now + chrono::Duration::seconds(i64::from(seconds));
    let jobs = match jobs_limit {
        // The soonest jobs only, from the stores' own listing.
        Some(limit) => {
            api.scheduler
                .list_jobs(
                    None,
                    JobQuery {
                        limit,
                        state: Some(JobStatus::Scheduled),
                        ..JobQuery::default()
                    },
                )
                .await?
                .jobs
        }
        None => api.scheduler.get_jobs(None).await?,
    };
    let mut rows = Vec::new();
    for job in jobs {
        let Some(first) = job.next_run_time() else {
            continue;
        };
        let mut runs = Vec::new();
        let (mut at, mut fire) = (first, job.fire_time().unwrap_or(first));
        while at <= end && runs.len() < MAX_TIMELINE_RUNS {
            runs.push(isoformat(&job.trigger().display_time(at)));
            match job.trigger().next_fire_time(Some(fire), fire) {
                Some(next) => (at, fire) = (next, next),
                None => break,
            }
        }
        if !runs.is_empty() {
            rows.push(json!({"job_id": job.id(), "name": job.name(), "fire_times": runs}));
        }
    }
    Ok(Json(Value::Array(rows)))
}

#[utoipa::path(get, path = "/jobs/{id}/runs", tag = "jobs",
    params(("id" = String, Path, description = "Job id"),
        ("limit" = Option<u32>, Query, description = "Most records returned, 1..=1000 (default 50)")),
    description = "The job's run history, newest first: each run (success, error, timed_out, crashed) and each run time that did not run (missed, skipped for max_instances), with the instance involved. `attempt` numbers the tries at one fire time (1 = the first run, 2 = the first retry); `result` is the task's return value as JSON (at most 64 KiB of JSON text, else `{\"truncated\": true, \"bytes\": n, \"head\": \"...\"}`); `backfill` marks runs a backfill asked for.",
    responses((status = 200, description = "Run records", body = Vec<Object>),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 404, description = "No such job and no history", body = ErrorBody)))]
async fn job_runs(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = number_param(&query, "limit", 50, 1000)?;
    let runs = api.scheduler.job_runs(&id, limit).await?;
    if runs.is_empty() && api.scheduler.get_job(&id).await?.is_none() {
        return Err(ApiError::job_not_found(&id));
    }
    Ok(Json(serde_json::to_value(runs).unwrap_or_default()))
}

#[utoipa::path(get, path = "/jobs/{id}/next", tag = "jobs",
    params(("id" = String, Path, description = "Job id"),
        ("count" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many fire times, 1..=100 (default 10)")),
    description = "The job's next fire times, from its next run time (a paused job: those it would have if resumed now), skipping its exclusion calendars' periods; Python isoformat() in the trigger's zone. Jitter is not applied.",
    responses((status = 200, description = "{\"fire_times\": [...]}", body = Object),
        (status = 400, description = "Bad count", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
async fn next_fire_times(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let count = number_param(&query, "count", 10, 100)?;
    let job = api
        .scheduler
        .get_job(&id)
        .await?
        .ok_or_else(|| ApiError::job_not_found(&id))?;
    let calendars = api.scheduler.calendars();
    let now = api.scheduler.clock().now();
    let mut times = Vec::with_capacity(count);
    let mut next = match job.next_run_time() {
        Some(t) => Some(t),
        None => job.next_fire_time(None, now, &calendars),
    };
    while let Some(t) = next {
        if times.len() >= count {
            break;
        }
        times.push(isoformat(&job.trigger().display_time(t)));
        next = job
            .next_fire_time(Some(t), t, &calendars)
            .filter(|n| *n > t);
    }
    Ok(Json(json!({"fire_times": times})))
}

#[utoipa::path(get, path = "/problems", tag = "jobs",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most records returned, 1..=1000 (default 50)"),
        ("before" = Option<String>, Query, description = "Only records scheduled before this time (RFC 3339): next_before of the previous page")),
    description = "The runs of every job that need a look — outcome error, missed, crashed or timed_out — newest first (by scheduled time), as GET /jobs/{id}/runs shows them. Stores without run history add none.",
    responses((status = 200, description = "{\"runs\": [...], \"next_before\": time or null}", body = Object),
        (status = 400, description = "Bad limit or before", body = ErrorBody)))]
async fn problems(
    State(api): State<Api>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = number_param(&query, "limit", 50, 1000)?;
    let before = match query.get("before").map(String::as_str) {
        None | Some("") => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "before: expected an RFC 3339 time (2026-11-20T09:40:00Z), got '{text}': {e}"
                    ))
                })?
                .with_timezone(&Utc),
        ),
    };
    let runs = api.scheduler.problem_runs(before, limit).await?;
    let next_before = (runs.len() == limit)
        .then(|| runs.last().map(|r| r.scheduled_run_time.to_rfc3339()))
        .flatten();
    Ok(Json(json!({"runs": runs, "next_before": next_before})))
}

#[utoipa::path(get, path = "/summary", tag = "jobs",
    description = "What the dashboard's summary bar shows: jobs by state (scheduled, paused, running, quarantined, total), history records by outcome in the last hour and the last 24 hours (every instance sharing the stores), and this instance's lateness quantiles since it started (seconds, from its histogram's buckets: an upper bound).",
    responses((status = 200, description = "The summary", body = Object)))]
async fn summary(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    let mut jobs = Map::new();
    let mut total = 0;
    for state in [JobStatus::Scheduled, JobStatus::Paused, JobStatus::Running] {
        let n = jobs_in(&api, state).await?;
        if state != JobStatus::Running {
            total += n;
        }
        jobs.insert(state.as_str().to_owned(), json!(n));
    }
    let quarantined = api.scheduler.quarantined_jobs().await?.len();
    jobs.insert("quarantined".to_owned(), json!(quarantined));
    jobs.insert("total".to_owned(), json!(total));
    let now = api.scheduler.clock().now();
    let mut runs = Map::new();
    for (name, hours) in [("1h", 1), ("24h", 24)] {
        let counts = api
            .scheduler
            .outcome_counts(now - chrono::Duration::hours(hours))
            .await?;
        let by_outcome: Map<String, Value> = counts
            .into_iter()
            .map(|(o, n)| (o.as_str().to_owned(), json!(n)))
            .collect();
        runs.insert(name.to_owned(), Value::Object(by_outcome));
    }
    Ok(Json(json!({
        "jobs": jobs,
        "runs": runs,
        "lateness_seconds": {
            "p50": api.metrics.lateness_quantile(0.5),
            "p99": api.metrics.lateness_quantile(0.99),
            "count": api.metrics.lateness_count(),
        },
    })))
}

#[utoipa::path(get, path = "/calendars", tag = "calendars",
    description = "The exclusion calendars, by name: `{\"holidays\": {\"type\": \"dates\", ...}, ...}`.",
    responses((status = 200, description = "Calendars by name", body = Object)))]
async fn list_calendars(State(api): State<Api>) -> Json<Value> {
    let calendars = api.scheduler.calendars();
    let map: Map<String, Value> = calendars
        .iter()
        .map(|(name, c)| (name.clone(), c.to_value()))
        .collect();
    Json(Value::Object(map))
}

#[utoipa::path(get, path = "/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 200, description = "The calendar", body = CalendarDoc),
        (status = 404, description = "No such calendar", body = ErrorBody)))]
async fn get_calendar(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    api.scheduler
        .get_calendar(&name)
        .map(|c| Json(c.to_value()))
        .ok_or_else(|| calendar_not_found(&name))
}

fn calendar_not_found(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("Calendar {name} not found"))
}

#[utoipa::path(put, path = "/calendars/{name}", tag = "calendars", request_body = CalendarDoc,
    params(("name" = String, Path, description = "Calendar name")),
    description = "Adds or replaces an exclusion calendar, kept in the job store so every instance sees it. Jobs naming it skip its periods from their next fire time on.",
    responses((status = 200, description = "The calendar as stored", body = CalendarDoc),
        (status = 400, description = "Bad definition, naming the field", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody)))]
async fn put_calendar(
    State(api): State<Api>,
    Path(name): Path<String>,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    let calendar = scheduler_core::ExclusionCalendar::from_value(Value::Object(body))?;
    let value = calendar.to_value();
    api.scheduler.put_calendar(&name, calendar).await?;
    Ok(Json(value))
}

#[utoipa::path(delete, path = "/calendars/{name}", tag = "calendars",
    params(("name" = String, Path, description = "Calendar name")),
    responses((status = 204, description = "Removed"),
        (status = 400, description = "Jobs still name it (they are listed)", body = ErrorBody),
        (status = 404, description = "No such calendar", body = ErrorBody)))]
async fn delete_calendar(
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.scheduler
        .remove_calendar(&name)
        .await
        .map_err(|e| match e.kind() {
            scheduler_core::ErrorKind::NotFound => calendar_not_found(&name),
            _ => ApiError::from(e),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `calendars` of a preview: names the scheduler knows.
fn calendar_names(
    value: Option<Value>,
    known: &scheduler_core::Calendars,
) -> Result<Vec<Arc<str>>, ApiError> {
    let names: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v)
            .map_err(|_| ApiError::bad_request("calendars: expected a list of calendar names"))?,
    };
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            if known.get(&name).is_none() {
                return Err(ApiError::bad_request(format!(
                    "calendars[{i}]: no calendar named '{name}'"
                )));
            }
            Ok(Arc::from(name))
        })
        .collect()
}

/// At most this many fire times per preview.
const MAX_PREVIEW: u64 = 1000;

#[utoipa::path(post, path = "/preview", tag = "jobs", request_body = PreviewRequest,
    description = "A trigger in, its next fire times out.",
    responses((status = 200, description = "Fire times", body = Object), (status = 400, description = "Bad input, or the scheduler is in the wrong state", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody)))]
async fn preview(State(api): State<Api>, Body(mut body): Body) -> Result<Json<Value>, ApiError> {
    let trigger = body
        .remove("trigger")
        .ok_or_else(|| ApiError::bad_request("trigger: missing (an object with \"type\")"))?;
    let mut trigger = BuiltinTrigger::from_value(trigger).map_err(|e| e.in_field("trigger"))?;
    trigger.set_default_timezone(api.scheduler.timezone());
    let count = match body.remove("count") {
        None => 10,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_PREVIEW).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "count: expected a number from 1 to {MAX_PREVIEW}, got {v}"
                ))
            })?,
    };
    let after = match body.remove("after") {
        None | Some(Value::Null) => api.scheduler.clock().now(),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "after: expected an RFC 3339 time, got '{text}' ({e})"
                ))
            })?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "after: expected an RFC 3339 time, got {other}"
            )));
        }
    };
    let names = calendar_names(body.remove("calendars"), &api.scheduler.calendars())?;
    if let Some(key) = body.keys().next() {
        return Err(ApiError::bad_request(format!(
            "{key}: unknown field (expected trigger, count, after, calendars)"
        )));
    }
    trigger.anchor(after);
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    let calendars = api.scheduler.calendars();
    let fires: Vec<String> =
        scheduler_core::calendar::allowed_fire_times(&trigger, &names, &calendars, after)
            .take(limit)
            .map(|t| isoformat(&trigger.display_time(t)))
            .collect();
    Ok(Json(json!({
        "trigger": trigger.flask_fields(),
        "description": trigger.to_string(),
        "words": trigger.describe(),
        "fire_times": fires,
    })))
}

#[utoipa::path(get, path = "/events", tag = "ops",
    description = "Server-sent events: the scheduler's events as JSON, each SSE event named after it (job_added, job_executed, ...).",
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String)))]
async fn events(
    State(api): State<Api>,
) -> Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let receiver = api.scheduler.subscribe();
    let instance: Arc<str> = Arc::from(api.scheduler.id());
    let stream = futures_util::stream::unfold(
        (receiver, instance),
        |(mut receiver, instance)| async move {
            let sse = match receiver.recv().await {
                Ok(event) => {
                    let mut value = serde_json::to_value(&event).unwrap_or_default();
                    if let Some(obj) = value.as_object_mut() {
                        obj.insert("scheduler_id".into(), Value::String(instance.to_string()));
                    }
                    let name = value
                        .get("event")
                        .and_then(Value::as_str)
                        .unwrap_or("event")
                        .to_owned();
                    SseEvent::default().event(name).data(value.to_string())
                }
                // A slow client skipped some events: say so, and carry on.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => SseEvent::default()
                    .event("lagged")
                    .data(json!({"event": "lagged", "skipped": n}).to_string()),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(sse), (receiver, instance)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
