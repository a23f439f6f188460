//! Every run executes inside a `job_run` span carrying `job_id`, `scheduled_run_time`,
//! `attempt` and `scheduler_id`: what the task logs (and what `tracing-opentelemetry` turns
//! into a trace) nests in it, retries included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use scheduler_core::{
    Event, JobContext, JobSpec, ManualClock, RetryPolicy, Scheduler, TaskRegistry, TimeZone,
};
use store_memory::MemoryJobStore;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Fields of a span or an event, as text.
#[derive(Default, Clone, Debug)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Each event's message with the name and fields of the spans it is in (innermost first).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, Fields)>)>>>;

struct Capture(Seen);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<Fields>()
                            .cloned()
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push((message, spans));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn runs_and_their_retries_execute_in_a_job_run_span() {
    let seen: Seen = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Capture(seen.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut registry = TaskRegistry::new();
    registry.register("test:flaky", |ctx: JobContext, (): ()| async move {
        tracing::info!("inside the task");
        if ctx.attempt() == 1 {
            Err("first attempt fails".to_owned())
        } else {
            Ok(())
        }
    });
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let sched = Scheduler::builder()
        .registry(registry)
        .jobstore("default", MemoryJobStore::with_history())
        .timezone(TimeZone::utc())
        .clock(clock.clone())
        .id("instance-a")
        .build()
        .unwrap();
    let mut events = sched.subscribe();
    sched.start().await.unwrap();
    let mut spec = JobSpec::new("test:flaky").id("flaky");
    spec.retry = RetryPolicy {
        retries: 1,
        delay: Duration::from_secs(1),
        jitter: false,
        ..RetryPolicy::default()
    };
    sched.add_job(spec).await.unwrap();
    let mut retried = false;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the job ran")
            .unwrap();
        match event {
            Event::JobRetry { .. } => {
                retried = true;
                clock.advance(Duration::from_secs(2));
                sched.wakeup();
            }
            Event::JobExecuted { .. } => break,
            Event::JobError { error, .. } => panic!("the retry failed: {error}"),
            _ => {}
        }
    }
    assert!(retried);
    sched.shutdown(true).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let inside: Vec<&Vec<(String, Fields)>> = seen
        .iter()
        .filter(|(message, _)| message == "inside the task")
        .map(|(_, spans)| spans)
        .collect();
    assert_eq!(inside.len(), 2, "two attempts logged: {seen:?}");
    for (n, spans) in inside.iter().enumerate() {
        let (name, fields) = spans.first().expect("the task's event is in a span");
        assert_eq!(name, "job_run");
        assert_eq!(fields.0["job_id"], "flaky");
        assert_eq!(fields.0["attempt"], (n + 1).to_string());
        assert_eq!(fields.0["scheduler_id"], "instance-a");
        assert_eq!(fields.0["scheduled_run_time"], t0.to_rfc3339());
    }
    // The scheduler's own "Running job" line is in the run's span too.
    assert!(
        seen.iter()
            .any(|(message, spans)| message.starts_with("Running job")
                && spans.first().is_some_and(|(name, _)| name == "job_run")),
        "{seen:?}"
    );
}
