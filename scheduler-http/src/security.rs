//! Safe by default (DESIGN §9): what the API refuses before a handler runs, and why.
//!
//! | rule | stops | setting |
//! |---|---|---|
//! | a `Host` that is not a loopback name or a configured server name gets 421 | DNS rebinding: a web page whose name was made to resolve to 127.0.0.1 | [`ApiOptions::server_names`] |
//! | a request that changes state (POST, PATCH, PUT, DELETE) or opens `/events` with a foreign `Origin`, or with `Sec-Fetch-Site: cross-site`, gets 403 | CSRF: any web page open in the user's browser posting to the API | [`ApiOptions::allowed_origins`] |
//! | a browser request with a body but no `Content-Type` gets 415 | `fetch(…, {mode: "no-cors", body: blob})`, which needs no CORS preflight | — |
//! | a job added or changed through the API may only name an allowed task, else 403 | running programs (`rsched:exec`) for whoever reaches the API | [`ApiOptions::tasks`] |
//! | repeated failed sign-ins from one address get 429 with `Retry-After` | password guessing | — |
//! | every answer carries `Content-Security-Policy` (no inline script, `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` | script injection and clickjacking of the dashboard | — |
//! | a non-loopback listener without credentials is refused at start | an API anyone on the network can drive | [`ApiOptions::allow_anonymous`] |
//! | without credentials, a client whose address (axum `ConnectInfo`) is not loopback gets 403, whatever `listen` says | a router built with the default `listen: None` but served on `0.0.0.0`, driven from the network with `Host: localhost` | [`ApiOptions::allow_anonymous`] |
//!
//! The server's own origin is the host and port the request was addressed to (its `Host`); the
//! scheme is not compared, since one host and port serve one origin at a time and a
//! TLS-terminating proxy in front turns `https` into `http`.
//!
//! Clients that send no `Origin` (curl, Python `requests`, Flask-APScheduler clients) are not
//! browsers and pass the CSRF rules unchanged. None of this stops a process on the same host
//! that can reach a loopback listener: use `[api.auth]` for that.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{ApiError, ApiOptions};

/// Tasks the API may not schedule unless [`ApiOptions::tasks`] names them: they run programs
/// or reach other hosts on the server's behalf.
pub const DEFAULT_DENIED_TASKS: &[&str] = &["rsched:exec", "rsched:http"];

/// The `Host` names a loopback listener answers to (any port), besides
/// [`ApiOptions::server_names`].
pub const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

/// Failed sign-ins one client address may make in a burst; after that, one more every
/// `60 / FAILED_SIGN_INS_PER_MINUTE` seconds.
pub const FAILED_SIGN_INS_PER_MINUTE: u32 = 10;

/// The dashboard's `Content-Security-Policy`: its own scripts, styles and API only, no inline
/// script, never inside a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A mistake in [`ApiOptions`] that keeps the API from being served: `field: message`, the
/// field named as in `[api]` (`listen`, `allowed_origins[0]`, `server_names[1]`, `tasks[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ApiOptionsError {
    field: String,
    message: String,
}

impl ApiOptionsError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiOptionsError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The `[api]` key at fault (`listen`, `allowed_origins[0]`, ...).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An origin as browsers send it: lower-case scheme and host, and the port (the scheme's
/// default when none is written).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `scheme://host[:port]`, nothing more; `None` for anything else (including `null`).
fn parse_origin(text: &str) -> Option<Origin> {
    let uri: Uri = text.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || !matches!(uri.path(), "" | "/") || uri.query().is_some()
    {
        return None;
    }
    let port = authority.port_u16().or_else(|| default_port(&scheme))?;
    Some(Origin {
        host: authority.host().to_ascii_lowercase(),
        scheme,
        port,
    })
}

/// The host names (and ports) a request was addressed to: its `Host` header and, for HTTP/2 or
/// an absolute request target, the URI's authority.
fn addressed(request: &Request) -> Vec<(String, Option<u16>)> {
    let mut hosts = Vec::with_capacity(1);
    if let Some(value) = request.headers().get(header::HOST) {
        match value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<Authority>().ok())
        {
            Some(authority) => {
                hosts.push((authority.host().to_ascii_lowercase(), authority.port_u16()))
            }
            // An unreadable Host is served to no one.
            None => hosts.push((String::from_utf8_lossy(value.as_bytes()).into_owned(), None)),
        }
    }
    if let Some(authority) = request.uri().authority() {
        hosts.push((authority.host().to_ascii_lowercase(), authority.port_u16()));
    }
    hosts
}

/// A request from a browser: browsers send `Origin` on every state-changing request and
/// `Sec-Fetch-*` on every request; other clients send neither.
fn from_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN)
        || headers.contains_key(SEC_FETCH_SITE)
        || headers.contains_key(SEC_FETCH_MODE)
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// A client on this host: a loopback address, or an IPv4 loopback mapped into IPv6 (a
/// dual-stack `[::]` listener sees `127.0.0.1` as `::ffff:127.0.0.1`).
fn is_loopback_client(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The `Host` and `Origin` rules, resolved from [`ApiOptions`].
#[derive(Debug)]
pub(crate) struct Guard {
    /// Only loopback names and `server_names` are served.
    loopback: bool,
    server_names: Vec<String>,
    allowed_origins: Vec<Origin>,
    /// No credentials and no `allow_anonymous`: only loopback clients may use the API.
    loopback_clients_only: bool,
}

impl Guard {
    pub(crate) fn new(options: &ApiOptions) -> Result<Guard, ApiOptionsError> {
        let mut server_names = Vec::with_capacity(options.server_names.len());
        for (i, name) in options.server_names.iter().enumerate() {
            let parsed = name.parse::<Authority>().ok().filter(|a| {
                a.port().is_none() && !a.as_str().contains('@') && !a.host().is_empty()
            });
            let Some(authority) = parsed else {
                return Err(ApiOptionsError::new(
                    format!("server_names[{i}]"),
                    format!(
                        "'{name}' is not a host name: give the name clients use, without scheme or port (e.g. sched.example.com, or [::1])"
                    ),
                ));
            };
            server_names.push(authority.host().to_ascii_lowercase());
        }
        let mut allowed_origins = Vec::with_capacity(options.allowed_origins.len());
        for (i, text) in options.allowed_origins.iter().enumerate() {
            let origin = parse_origin(text.trim_end_matches('/'))
                .filter(|o| default_port(&o.scheme).is_some())
                .ok_or_else(|| {
                    ApiOptionsError::new(
                        format!("allowed_origins[{i}]"),
                        format!(
                            "'{text}' is not an origin: write scheme://host[:port], e.g. https://ops.example.com"
                        ),
                    )
                })?;
            allowed_origins.push(origin);
        }
        Ok(Guard {
            loopback: options.listen.is_none_or(|a| a.ip().is_loopback()),
            server_names,
            allowed_origins,
            loopback_clients_only: options.auth.is_none() && !options.allow_anonymous,
        })
    }

    fn serves_host(&self, host: &str) -> bool {
        if self.server_names.iter().any(|n| n == host) {
            return true;
        }
        if self.loopback {
            LOOPBACK_NAMES.contains(&host)
        } else {
            self.server_names.is_empty()
        }
    }

    /// The refusal for `request`, if any.
    pub(crate) fn refusal(&self, request: &Request, events_path: bool) -> Option<ApiError> {
        // An API without credentials serves loopback clients only, whatever `listen` says:
        // a router built with the default `listen: None` but served on 0.0.0.0 must not let
        // the network in by sending `Host: localhost`.
        if self.loopback_clients_only {
            let peer = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr);
            if let Some(peer) = peer.filter(|p| !is_loopback_client(p.ip())) {
                return Some(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "anonymous access from {} refused: this API has no credentials and serves only clients on this host; add [api.auth] users or tokens (ApiOptions::auth), or set [api] allow_anonymous = true (ApiOptions::allow_anonymous) to let anyone who can reach it use the API",
                        peer.ip()
                    ),
                ));
            }
        }
        let hosts = addressed(request);
        if let Some((host, _)) = hosts.iter().find(|(h, _)| !self.serves_host(h)) {
            let served = if self.loopback {
                format!("{} (any port)", LOOPBACK_NAMES.join(", "))
            } else {
                self.server_names.join(", ")
            };
            return Some(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host '{host}' is not served here: this API answers to {served}; add the name to [api] server_names (ApiOptions::server_names) if clients really use it"
                ),
            ));
        }
        let headers = request.headers();
        let changes_state = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        if !changes_state && !events_path {
            return None;
        }
        if let Some(value) = headers.get(header::ORIGIN) {
            let text = String::from_utf8_lossy(value.as_bytes());
            let allowed = parse_origin(&text).is_some_and(|origin| {
                self.allowed_origins.contains(&origin)
                    || hosts.first().is_some_and(|(host, port)| {
                        *host == origin.host
                            && port.or(default_port(&origin.scheme)) == Some(origin.port)
                    })
            });
            if !allowed {
                return Some(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "cross-origin request refused: Origin {text} is not this server's origin; list it in [api] allowed_origins (ApiOptions::allowed_origins) to let pages from it use the API"
                    ),
                ));
            }
        } else if headers
            .get(SEC_FETCH_SITE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-site request refused (Sec-Fetch-Site: cross-site); list the page's origin in [api] allowed_origins (ApiOptions::allowed_origins) to let it use the API",
            ));
        }
        if changes_state
            && from_browser(headers)
            && has_body(headers)
            && !headers.contains_key(header::CONTENT_TYPE)
        {
            return Some(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a browser request must send its body as JSON with Content-Type: application/json",
            ));
        }
        None
    }
}

/// Which tasks jobs added or changed through the API may name ([`ApiOptions::tasks`]).
#[derive(Debug)]
pub(crate) struct TaskPolicy {
    /// `None`: every task but [`DEFAULT_DENIED_TASKS`].
    allowed: Option<(globset::GlobSet, Vec<String>)>,
}

impl TaskPolicy {
    pub(crate) fn new(patterns: Option<&[String]>) -> Result<TaskPolicy, ApiOptionsError> {
        let Some(patterns) = patterns else {
            return Ok(TaskPolicy { allowed: None });
        };
        let mut set = globset::GlobSetBuilder::new();
        for (i, pattern) in patterns.iter().enumerate() {
            let glob = globset::Glob::new(pattern).map_err(|e| {
                ApiOptionsError::new(
                    format!("tasks[{i}]"),
                    format!("'{pattern}' is not a valid name or glob: {}", e.kind()),
                )
            })?;
            set.add(glob);
        }
        let set = set
            .build()
            .map_err(|e| ApiOptionsError::new("tasks", e.to_string()))?;
        Ok(TaskPolicy {
            allowed: Some((set, patterns.to_vec())),
        })
    }

    pub(crate) fn allows(&self, task: &str) -> bool {
        match &self.allowed {
            None => !DEFAULT_DENIED_TASKS.contains(&task),
            Some((set, _)) => set.is_match(task),
        }
    }

    /// 403 unless `task` is allowed.
    pub(crate) fn check(&self, task: &str) -> Result<(), ApiError> {
        if self.allows(task) {
            return Ok(());
        }
        let rule = match &self.allowed {
            None => format!(
                "by default every registered task except {}",
                DEFAULT_DENIED_TASKS.join(" and ")
            ),
            Some((_, patterns)) if patterns.is_empty() => "no task".to_owned(),
            Some((_, patterns)) => format!("only {}", patterns.join(", ")),
        };
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "func: task '{task}' may not be scheduled through the API ([api] tasks allows {rule}); add it to [api] tasks (ApiOptions::tasks), or define the job in the configuration file"
            ),
        ))
    }
}

/// Failed sign-ins per client address: a `governor` GCRA limiter (a burst of
/// [`FAILED_SIGN_INS_PER_MINUTE`], then one every few seconds) and the addresses it refused,
/// which get 429 before their credentials are even checked.
#[derive(Debug)]
pub(crate) struct Throttle {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    locked: Mutex<HashMap<IpAddr, Instant>>,
}

/// Past this many addresses, forgotten entries are pruned.
const THROTTLE_PRUNE_AT: usize = 10_000;

impl Throttle {
    pub(crate) fn new() -> Throttle {
        let per_minute = NonZeroU32::new(FAILED_SIGN_INS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Throttle {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            locked: Mutex::new(HashMap::new()),
        }
    }

    /// The client address of `request` (from `ConnectInfo`; one shared key without it).
    pub(crate) fn client(request: &Request) -> IpAddr {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
    }

    /// How long `client` must still wait, when it is locked out.
    pub(crate) fn locked_for(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut locked = self.locked.lock().unwrap_or_else(PoisonError::into_inner);
        match locked.get(&client) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                locked.remove(&client);
                None
            }
            None => None,
        }
    }

    /// Counts a failed sign-in; the wait when `client` is now locked out.
    pub(crate) fn failed(&self, client: IpAddr) -> Option<Duration> {
        if self.limiter.len() > THROTTLE_PRUNE_AT {
            self.limiter.retain_recent();
        }
        let not_until = self.limiter.check_key(&client).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let now = Instant::now();
        let mut locked = self.locked.lock().unwrap_or_else(PoisonError::into_inner);
        if locked.len() > THROTTLE_PRUNE_AT {
            locked.retain(|_, until| *until > now);
        }
        locked.insert(client, now + wait);
        Some(wait)
    }

    /// 429 with `Retry-After` (whole seconds, rounded up).
    pub(crate) fn too_many(wait: Duration) -> Response {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed sign-ins from this address: try again in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

/// The listener, when it is off loopback and serves anyone without credentials.
pub(crate) fn anonymous_exposure(options: &ApiOptions) -> Option<SocketAddr> {
    options
        .listen
        .filter(|l| !l.ip().is_loopback() && options.auth.is_none())
}

/// Refuses anonymous access off loopback, unless [`ApiOptions::allow_anonymous`].
pub(crate) fn check_exposure(options: &ApiOptions) -> Result<(), ApiOptionsError> {
    let Some(listen) = anonymous_exposure(options) else {
        return Ok(());
    };
    if options.allow_anonymous {
        return Ok(());
    }
    Err(ApiOptionsError::new(
        "listen",
        format!(
            "{listen} is not a loopback address and [api.auth] sets no credentials: add [api.auth] users or tokens, or set [api] allow_anonymous = true (ApiOptions::allow_anonymous) to let anyone who can reach {listen} use the API"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_browsers_send_them() {
        let o = parse_origin("http://LocalHost:5000").unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("http", "localhost", 5000)
        );
        assert_eq!(parse_origin("https://a.example").unwrap().port, 443);
        assert_eq!(parse_origin("http://[::1]:80").unwrap().host, "[::1]");
        for bad in [
            "null",
            "",
            "evil.example",
            "http://u@a.example",
            "http://a.example/x",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }
}
