//! Jobs as documents: `_id`, the run times (exact µs for queries, BSON dates for people),
//! the lease fields, and `state`, the versioned JSON state as a sub-document.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use mongodb::bson::{self, Bson, Document, doc};
use scheduler_core::{Error, ErrorKind, Job, Result};

use crate::error::mongo_error;

/// Runs a `find` and reads every document its cursor returns.
pub(crate) async fn all(
    find: impl std::future::IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
) -> Result<Vec<Document>> {
    find.await
        .map_err(mongo_error)?
        .try_collect()
        .await
        .map_err(mongo_error)
}

/// A time as stored: µs since the epoch (UTC).
pub(crate) fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// An optional time as stored (null for none).
pub(crate) fn opt_us(t: Option<DateTime<Utc>>) -> Bson {
    t.map_or(Bson::Null, |t| Bson::Int64(us(t)))
}

/// An optional time as a BSON date (ms), for people and tools.
pub(crate) fn opt_date(t: Option<DateTime<Utc>>) -> Bson {
    t.map_or(Bson::Null, |t| {
        Bson::DateTime(bson::DateTime::from_millis(t.timestamp_millis()))
    })
}

/// A stored time back (µs; null or missing is none).
pub(crate) fn time(value: Option<&Bson>) -> Option<DateTime<Utc>> {
    match value {
        Some(Bson::Int64(v)) => DateTime::from_timestamp_micros(*v),
        Some(Bson::Int32(v)) => DateTime::from_timestamp_micros(i64::from(*v)),
        _ => None,
    }
}

/// A stored attempt number back (missing, as in records written before retries, or out of
/// range: the first attempt).
pub(crate) fn attempt(value: Option<&Bson>) -> u32 {
    let n = match value {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        _ => 1,
    };
    u32::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// A run's return value as stored: its JSON text (null for none). Text, not a sub-document:
/// JSON keys such as `$x` or `a.b`, and integers past `i64`, have no faithful BSON form.
pub(crate) fn result_text(result: Option<&serde_json::Value>) -> Bson {
    result
        .filter(|v| !v.is_null())
        .map_or(Bson::Null, |v| Bson::String(v.to_string()))
}

/// A stored return value back: `None` when missing, null, or not JSON text.
pub(crate) fn result_value(value: Option<&Bson>) -> Option<serde_json::Value> {
    match value {
        Some(Bson::String(text)) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(|v| !v.is_null()),
        _ => None,
    }
}

/// The fields a job's run times occupy: an exact `next_run_us` (µs, what queries use) and a
/// BSON date `next_run_time` (ms, for people and tools), plus `fire_us`.
pub(crate) fn run_time_fields(
    next: Option<DateTime<Utc>>,
    fire: Option<DateTime<Utc>>,
) -> Document {
    doc! {
        "next_run_time": opt_date(next),
        "next_run_us": opt_us(next),
        "fire_us": opt_us(fire.filter(|f| Some(*f) != next)),
    }
}

/// The fields of a job nobody holds.
pub(crate) fn lease_free() -> Document {
    doc! { "lease_owner": Bson::Null, "lease_expires_us": Bson::Null, "lease_token": Bson::Null, "lease_modified": false }
}

/// The job's document: `_id`, the run times, `state` (the versioned JSON state as a
/// sub-document), no lease, not quarantined.
pub(crate) fn to_document(job: &Job) -> Result<Document> {
    let state: serde_json::Value = serde_json::from_str(&job.stored_state()?)
        .map_err(|e| Error::new(ErrorKind::Serialization, format!("job '{}': {e}", job.id())))?;
    let state = bson::to_bson(&state).map_err(|e| {
        Error::new(
            ErrorKind::Serialization,
            format!("job '{}' cannot be stored as BSON: {e}", job.id()),
        )
    })?;
    let mut document = doc! { "_id": job.id(), "state": state, "quarantined": Bson::Null };
    document.extend(run_time_fields(job.next_run_time(), job.fire_time()));
    document.extend(lease_free());
    Ok(document)
}

/// The document's id and, if it can be read, its job.
pub(crate) fn from_document(document: &Document) -> (String, std::result::Result<Job, String>) {
    let id = match document.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => return (other.to_string(), Err("the _id is not a string".to_owned())),
        None => return (String::new(), Err("the document has no _id".to_owned())),
    };
    let state = match document.get("state") {
        Some(Bson::Document(state)) => {
            serde_json::to_string(&Bson::Document(state.clone()).into_relaxed_extjson())
        }
        Some(other) => Ok(other.to_string()),
        None => return (id, Err("the document has no state".to_owned())),
    };
    let job = match state {
        Ok(state) => Job::from_stored_state(
            &id,
            &state,
            time(document.get("next_run_us")),
            time(document.get("fire_us")),
        ),
        Err(e) => Err(format!("the stored state cannot be read: {e}")),
    };
    (id, job)
}
