//! Authentication (`[api.auth]`, Flask-APScheduler's `SCHEDULER_AUTH`): HTTP Basic users and
//! bearer tokens, each with a role.
//!
//! ```toml
//! [api.auth]
//! [[api.auth.users]]
//! username = "admin"
//! password_env = "RSCHED_ADMIN_PASSWORD"   # the password from an environment variable,
//! role = "admin"                           # or password_hash = "$argon2id$..." / "$2b$..."
//!
//! [[api.auth.users]]
//! username = "viewer"
//! password_hash = "$2b$12$..."
//! role = "read"
//!
//! [[api.auth.tokens]]
//! token_env = "RSCHED_API_TOKEN"           # Authorization: Bearer <token>
//! role = "admin"
//! ```
//!
//! - `read` may use `GET`/`HEAD` routes; `admin` may use every route. A `read` credential on a
//!   mutating route gets 403.
//! - Missing or wrong credentials get 401 with `WWW-Authenticate: Basic realm="Authentication
//!   Required"` (Flask-APScheduler's realm).
//! - Plain secrets are compared in constant time (for a given length); hashes are verified by
//!   the `argon2` and `bcrypt` crates. Every configured user is checked, so the response time
//!   does not tell which usernames exist.
//!
//! This crate reads no environment variables itself: [`Auth::from_config`] takes a lookup
//! function (the `rsched` binary passes `std::env::var`).

use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `GET` and `HEAD` routes only.
    Read,
    /// Every route.
    #[default]
    Admin,
}

impl Role {
    /// Whether this role may call `method`.
    pub fn allows(self, method: &Method) -> bool {
        self == Role::Admin || method == Method::GET || method == Method::HEAD
    }
}

/// `[api.auth]` as written in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HTTP Basic users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Bearer tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
}

/// One `[[api.auth.users]]` entry: a password from an environment variable, or a hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name.
    pub username: String,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// An argon2 (`$argon2id$...`) or bcrypt (`$2b$...`) hash of the password.
    pub password_hash: Option<String>,
    /// `admin` (default) or `read`.
    #[serde(default)]
    pub role: Role,
}

/// One `[[api.auth.tokens]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The environment variable holding the token.
    pub token_env: String,
    /// `admin` (default) or `read`.
    #[serde(default)]
    pub role: Role,
}

/// A configuration mistake in `[api.auth]`.
#[derive(Debug, thiserror::Error)]
#[error("api.auth.{field}: {message}")]
pub struct AuthError {
    field: String,
    message: String,
}

fn auth_error(field: String, message: impl Into<String>) -> AuthError {
    AuthError {
        field,
        message: message.into(),
    }
}

#[derive(Debug)]
enum Secret {
    Plain(Vec<u8>),
    Argon2(String),
    Bcrypt(String),
}

impl Secret {
    fn matches(&self, given: &[u8]) -> bool {
        match self {
            Secret::Plain(expected) => expected.ct_eq(given).into(),
            Secret::Argon2(hash) => {
                use argon2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(hash).is_ok_and(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(given, &parsed)
                        .is_ok()
                })
            }
            Secret::Bcrypt(hash) => bcrypt::verify(given, hash).unwrap_or(false),
        }
    }
}

/// Resolved credentials, ready to check requests against.
#[derive(Debug)]
pub struct Auth {
    users: Vec<(Vec<u8>, Secret, Role)>,
    tokens: Vec<(Vec<u8>, Role)>,
}

impl Auth {
    /// Resolves `config`: reads `*_env` variables through `env` and checks hashes.
    ///
    /// # Errors
    /// A user without exactly one of `password_env` / `password_hash`, an unset or empty
    /// variable, a hash that is neither argon2 nor bcrypt, or no credential at all.
    pub fn from_config(
        config: &AuthConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, AuthError> {
        let mut users = Vec::new();
        for (i, user) in config.users.iter().enumerate() {
            let at = |key: &str| format!("users[{i}].{key}");
            if user.username.is_empty() || user.username.contains(':') {
                return Err(auth_error(
                    at("username"),
                    "must be non-empty and without ':'",
                ));
            }
            let secret = match (&user.password_env, &user.password_hash) {
                (Some(var), None) => match env(var) {
                    Some(value) if !value.is_empty() => Secret::Plain(value.into_bytes()),
                    _ => {
                        return Err(auth_error(
                            at("password_env"),
                            format!("environment variable {var} is not set (or empty)"),
                        ));
                    }
                },
                (None, Some(hash)) if hash.starts_with("$argon2") => {
                    let parsed = argon2::password_hash::PasswordHash::new(hash).map_err(|e| {
                        auth_error(at("password_hash"), format!("not a valid argon2 hash: {e}"))
                    })?;
                    if parsed.salt.is_none() || parsed.hash.is_none() {
                        return Err(auth_error(
                            at("password_hash"),
                            "not a valid argon2 hash: it lacks a salt or a hash",
                        ));
                    }
                    Secret::Argon2(hash.clone())
                }
                (None, Some(hash)) if hash.starts_with("$2") => {
                    if hash.len() != 60 {
                        return Err(auth_error(
                            at("password_hash"),
                            "not a valid bcrypt hash (expected 60 characters)",
                        ));
                    }
                    Secret::Bcrypt(hash.clone())
                }
                (None, Some(_)) => {
                    return Err(auth_error(
                        at("password_hash"),
                        "expected an argon2 ($argon2id$...) or bcrypt ($2b$...) hash",
                    ));
                }
                _ => {
                    return Err(auth_error(
                        format!("users[{i}]"),
                        "give exactly one of password_env and password_hash",
                    ));
                }
            };
            users.push((user.username.clone().into_bytes(), secret, user.role));
        }
        let mut tokens = Vec::new();
        for (i, token) in config.tokens.iter().enumerate() {
            match env(&token.token_env) {
                Some(value) if !value.is_empty() => tokens.push((value.into_bytes(), token.role)),
                _ => {
                    return Err(auth_error(
                        format!("tokens[{i}].token_env"),
                        format!(
                            "environment variable {} is not set (or empty)",
                            token.token_env
                        ),
                    ));
                }
            }
        }
        if users.is_empty() && tokens.is_empty() {
            return Err(auth_error(
                "users".into(),
                "no users and no tokens: remove [api.auth] or add a credential",
            ));
        }
        Ok(Auth { users, tokens })
    }

    /// The role of the request's credentials, or `None` when they are missing or wrong.
    pub fn check(&self, headers: &HeaderMap) -> Option<Role> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let mut found = None;
            for (token, role) in &self.tokens {
                if bool::from(token.as_slice().ct_eq(rest.as_bytes())) {
                    found = Some(*role);
                }
            }
            return found;
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let mut found = None;
        for (user, secret, role) in &self.users {
            if bool::from(user.as_slice().ct_eq(name)) && secret.matches(password) {
                found = Some(*role);
            }
        }
        found
    }
}
