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

/// The queries of a listing, each with its arguments in order: the count, then the page's
/// queries in the order their rows come (next-run-time order reads the scheduled jobs by the
/// `(next_run_time, id)` index, then the paused ones by id, each `LIMIT` the page's room).
pub(crate) struct Listing {
    pub(crate) count: (String, Vec<Arg>),
    /// `(sql, args)`; the `LIMIT` is the last argument, to be set to the room left.
    pub(crate) pages: Vec<(String, Vec<Arg>)>,
}

/// Extra conditions of one page query, numbered from the given parameters: (conditions,
/// their arguments).
type Conditions<'a> = dyn Fn(&mut Params) -> (Vec<String>, Vec<Arg>) + 'a;

/// `sql` with `args` bound in order.
pub(crate) fn bound<'q>(
    sql: &'q str,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for arg in args {
        q = match arg {
            Arg::Int(n) => q.bind(*n),
            Arg::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

/// `text` with `LIKE`'s pattern characters escaped by `!`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// A `LIKE` pattern matching `text` (lower-cased) anywhere, `!` escaping the pattern
/// characters.
fn contains_pattern(text: &str) -> String {
    format!("%{}%", escape_like(&text.to_lowercase()))
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
    /// The conditions of `query`'s filters (not its cursor), numbered from `q`.
    fn filters(
        &self,
        query: &JobQuery,
        now_micros: i64,
        q: &mut Params,
    ) -> (Vec<String>, Vec<Arg>) {
        let dialect = self.dialect;
        let t = &self.table;
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
        // A cheap text test on the raw state first, so the JSON functions only run on rows that
        // may match: a term without `"` or `\` appears verbatim in the state's JSON text.
        let verbatim = |text: &str| !text.contains(['"', '\\']);
        if let Some(tag) = query.tag.as_deref().filter(|t| verbatim(t)) {
            filters.push(format!("state LIKE {} ESCAPE '!'", q.next()));
            args.push(Arg::Text(format!("%\"{}\"%", escape_like(tag))));
        }
        if let Some(text) = query.q.as_deref().filter(|t| verbatim(t)) {
            filters.push(format!("LOWER(state) LIKE {} ESCAPE '!'", q.next()));
            args.push(Arg::Text(contains_pattern(text)));
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
        (filters, args)
    }

    /// The listing queries of `query` at `now` (runs in progress are those not expired).
    pub(crate) fn listing(&self, query: &JobQuery, now_micros: i64) -> Listing {
        let dialect = self.dialect;
        let t = &self.table;
        let by_id = match dialect {
            Dialect::Postgres => "id COLLATE \"C\"",
            _ => "id",
        };
        let cols = "id, state, next_run_time, fire_time";
        let count = {
            let mut q = Params::new(dialect);
            let (filters, args) = self.filters(query, now_micros, &mut q);
            (
                format!("SELECT COUNT(*) FROM {t} WHERE {}", filters.join(" AND ")),
                args,
            )
        };
        // One page query: the filters, `extra` conditions (given the next parameter numbers),
        // an order.
        let page = |extra: &Conditions<'_>, order: &str| {
            let mut q = Params::new(dialect);
            let (mut filters, mut args) = self.filters(query, now_micros, &mut q);
            let (more, more_args) = extra(&mut q);
            filters.extend(more);
            args.extend(more_args);
            let sql = format!(
                "SELECT {cols} FROM {t} WHERE {} ORDER BY {order} LIMIT {}",
                filters.join(" AND "),
                q.next()
            );
            args.push(Arg::Int(0));
            (sql, args)
        };
        let after_id = |c: &JobCursor, q: &mut Params| {
            (
                vec![format!("{by_id} > {}", q.next())],
                vec![Arg::Text(c.id.clone())],
            )
        };
        let mut pages = Vec::new();
        match query.sort {
            JobSort::Id => pages.push(page(
                &|q| match &query.after {
                    Some(c) => after_id(c, q),
                    None => (Vec::new(), Vec::new()),
                },
                by_id,
            )),
            JobSort::NextRunTime => {
                let cursor_paused = matches!(
                    query.after,
                    Some(JobCursor {
                        next_run_time: None,
                        ..
                    })
                );
                if !cursor_paused && query.state != Some(JobStatus::Paused) {
                    pages.push(page(
                        &|q| {
                            let mut conditions = vec!["next_run_time IS NOT NULL".to_owned()];
                            let mut args = Vec::new();
                            if let Some(JobCursor {
                                next_run_time: Some(at),
                                id,
                                ..
                            }) = &query.after
                            {
                                conditions.push(match dialect {
                                    // Row values: one index range.
                                    Dialect::Postgres | Dialect::Sqlite => format!(
                                        "(next_run_time, {by_id}) > ({}, {})",
                                        q.next(),
                                        q.next()
                                    ),
                                    Dialect::MySql => format!(
                                        "(next_run_time > {} OR (next_run_time = {} AND id > {}))",
                                        q.next(),
                                        q.next(),
                                        q.next()
                                    ),
                                });
                                args.push(Arg::Int(micros(*at)));
                                if dialect == Dialect::MySql {
                                    args.push(Arg::Int(micros(*at)));
                                }
                                args.push(Arg::Text(id.clone()));
                            }
                            (conditions, args)
                        },
                        &format!("next_run_time, {by_id}"),
                    ));
                }
                if query.state != Some(JobStatus::Scheduled) {
                    pages.push(page(
                        &|q| {
                            let (mut conditions, args) = match &query.after {
                                Some(c) if cursor_paused => after_id(c, q),
                                _ => (Vec::new(), Vec::new()),
                            };
                            conditions.push("next_run_time IS NULL".to_owned());
                            (conditions, args)
                        },
                        by_id,
                    ));
                }
            }
        }
        Listing { count, pages }
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
