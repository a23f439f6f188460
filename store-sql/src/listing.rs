//! [`JobStore::list_jobs`](scheduler_core::JobStore::list_jobs) as one SQL query per page (and
//! one `COUNT(*)`): filters on the state column's JSON (`tags`, `name`, `func`) with each
//! dialect's JSON functions, runs in progress from the running table, keyset paging on
//! (`next_run_time`, `id`) or `id`.

use scheduler_core::store::query::{JobCursor, JobQuery, JobSort, JobStatus};
use scheduler_core::{PENDING_OWNER, QUEUED_OWNER};

use crate::dialect::{Dialect, Params, Statements};
use crate::model::micros;

/// A value bound to a listing query.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// The page query and the count query of `query`, with their arguments in order.
pub(crate) struct Listing {
    pub(crate) page: String,
    pub(crate) page_args: Vec<Arg>,
    pub(crate) count: String,
    pub(crate) count_args: Vec<Arg>,
}

/// A `LIKE` pattern matching `text` anywhere, `!` escaping the pattern characters.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A text field of the state column's JSON.
fn json_text(dialect: Dialect, field: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("(state::jsonb ->> '{field}')"),
        Dialect::MySql => format!("JSON_UNQUOTE(JSON_EXTRACT(state, '$.{field}'))"),
        Dialect::Sqlite => format!("json_extract(state, '$.{field}')"),
    }
}

impl Statements {
    /// The listing queries of `query` at `now` (runs in progress are those not expired).
    pub(crate) fn listing(&self, query: &JobQuery, now_micros: i64) -> Listing {
        let dialect = self.dialect;
        let t = &self.table;
        let by_id = match dialect {
            Dialect::Postgres => "id COLLATE \"C\"",
            _ => "id",
        };
        let mut q = Params::new(dialect);
        let mut args = Vec::new();
        let mut filters = vec!["quarantined IS NULL".to_owned()];
        match query.state {
            Some(JobStatus::Scheduled) => filters.push("next_run_time IS NOT NULL".into()),
            Some(JobStatus::Paused) => filters.push("next_run_time IS NULL".into()),
            Some(JobStatus::Quarantined) => filters.push("1 = 0".into()),
            Some(JobStatus::Running) => {
                filters.push(format!(
                    "id IN (SELECT job_id FROM {} WHERE expires > {} AND owner <> {} AND owner <> {})",
                    self.running_table,
                    q.next(),
                    q.next(),
                    q.next()
                ));
                args.push(Arg::Int(now_micros));
                args.push(Arg::Text(QUEUED_OWNER.to_owned()));
                args.push(Arg::Text(PENDING_OWNER.to_owned()));
            }
            None => {}
        }
        if let Some(tag) = &query.tag {
            filters.push(match dialect {
                Dialect::Postgres => format!(
                    "(state::jsonb -> 'tags') @> jsonb_build_array(CAST({} AS TEXT))",
                    q.next()
                ),
                Dialect::MySql => format!(
                    "JSON_CONTAINS(JSON_EXTRACT(state, '$.tags'), JSON_QUOTE({}))",
                    q.next()
                ),
                Dialect::Sqlite => format!(
                    "EXISTS (SELECT 1 FROM json_each({t}.state, '$.tags') AS tag WHERE tag.value = {})",
                    q.next()
                ),
            });
            args.push(Arg::Text(tag.clone()));
        }
        if let Some(text) = &query.q {
            let pattern = contains_pattern(text);
            let fields = [
                "id".to_owned(),
                json_text(dialect, "name"),
                json_text(dialect, "func"),
            ];
            let likes: Vec<String> = fields
                .iter()
                .map(|f| format!("LOWER({f}) LIKE {} ESCAPE '!'", q.next()))
                .collect();
            filters.push(format!("({})", likes.join(" OR ")));
            for _ in 0..3 {
                args.push(Arg::Text(pattern.clone()));
            }
        }
        let count = format!("SELECT COUNT(*) FROM {t} WHERE {}", filters.join(" AND "));
        let count_args = args.clone();
        match (&query.after, query.sort) {
            (None, _) => {}
            (Some(JobCursor { id, .. }), JobSort::Id) => {
                filters.push(format!("{by_id} > {}", q.next()));
                args.push(Arg::Text(id.clone()));
            }
            (
                Some(JobCursor {
                    next_run_time: Some(at),
                    id,
                    ..
                }),
                JobSort::NextRunTime,
            ) => {
                filters.push(format!(
                    "(next_run_time > {} OR (next_run_time = {} AND {by_id} > {}) OR next_run_time IS NULL)",
                    q.next(),
                    q.next(),
                    q.next()
                ));
                args.push(Arg::Int(micros(*at)));
                args.push(Arg::Int(micros(*at)));
                args.push(Arg::Text(id.clone()));
            }
            (
                Some(JobCursor {
                    next_run_time: None,
                    id,
                    ..
                }),
                JobSort::NextRunTime,
            ) => {
                filters.push(format!(
                    "(next_run_time IS NULL AND {by_id} > {})",
                    q.next()
                ));
                args.push(Arg::Text(id.clone()));
            }
        }
        let order = match query.sort {
            JobSort::Id => by_id.to_owned(),
            JobSort::NextRunTime => {
                format!("CASE WHEN next_run_time IS NULL THEN 1 ELSE 0 END, next_run_time, {by_id}")
            }
        };
        let page = format!(
            "SELECT id, state, next_run_time, fire_time FROM {t} WHERE {} ORDER BY {order} LIMIT {}",
            filters.join(" AND "),
            q.next()
        );
        args.push(Arg::Int(
            i64::try_from(query.page_size() + 1).unwrap_or(i64::MAX),
        ));
        Listing {
            page,
            page_args: args,
            count,
            count_args,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_patterns_escape_what_like_reads() {
        assert_eq!(contains_pattern("Ab"), "%ab%");
        assert_eq!(contains_pattern("50%_off!"), "%50!%!_off!!%");
    }
}
