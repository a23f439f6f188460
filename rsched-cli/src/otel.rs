//! `[telemetry] otlp_endpoint` (the `otel` feature): the daemon's `tracing` spans — one
//! `job_run` span per run, with the task's own spans and events in it — exported to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf), in batches, by `tracing-opentelemetry`.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// A tracer provider exporting to `endpoint` (an `http://` OTLP/HTTP traces URL, such as a
/// local collector's `http://localhost:4318/v1/traces`) as service `service`.
///
/// # Errors
/// An `https://` endpoint (this build has no TLS for OTLP: send to a local collector or
/// agent), or one the exporter refuses.
pub(crate) fn provider(endpoint: &str, service: &str) -> anyhow::Result<SdkTracerProvider> {
    if !endpoint.starts_with("http://") {
        anyhow::bail!(
            "telemetry.otlp_endpoint: expected an http:// URL (OTLP/HTTP, e.g. http://localhost:4318/v1/traces), got {endpoint:?}; for TLS, send to a local OpenTelemetry collector that forwards it"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint: cannot export to {endpoint}"))?;
    Ok(with_exporter(exporter, service))
}

/// A tracer provider that sends spans to `exporter` in batches (on the SDK's own thread).
pub(crate) fn with_exporter(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    service: &str,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build()
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`'s tracer.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("rsched"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::Value;
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// The runs of a job reach the exporter as `job_run` spans with the run's attributes; the
    /// task's own span is their child.
    #[test]
    fn each_run_is_an_exported_span_with_its_attributes() {
        let exporter = InMemorySpanExporter::default();
        let provider = super::with_exporter(exporter.clone(), "rsched-test");
        let subscriber = tracing_subscriber::registry().with(super::layer(&provider));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let mut registry = rsched::TaskRegistry::new();
                registry.register(
                    "test:traced",
                    |_ctx: rsched::JobContext, (): ()| async move {
                        let _step = tracing::info_span!("task_step").entered();
                        tracing::info!("working");
                        Ok::<_, std::convert::Infallible>(())
                    },
                );
                let scheduler = rsched::Scheduler::builder()
                    .registry(registry)
                    .jobstore("default", rsched::memory::MemoryJobStore::new())
                    .id("otel-instance")
                    .build()
                    .unwrap();
                let mut events = scheduler.subscribe();
                scheduler.start().await.unwrap();
                scheduler
                    .add_job(rsched::JobSpec::new("test:traced").id("traced"))
                    .await
                    .unwrap();
                loop {
                    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                        .await
                        .expect("the job ran")
                        .unwrap();
                    if matches!(event, rsched::Event::JobExecuted { .. }) {
                        break;
                    }
                }
                scheduler.shutdown(true).await.unwrap();
            });
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let run = spans
            .iter()
            .find(|s| s.name == "job_run")
            .unwrap_or_else(|| panic!("no job_run span in {spans:?}"));
        let attribute = |key: &str| {
            run.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(attribute("job_id"), Some(Value::from("traced")));
        assert_eq!(
            attribute("scheduler_id"),
            Some(Value::from("otel-instance"))
        );
        assert_eq!(
            attribute("attempt").map(|v| v.as_str().into_owned()),
            Some("1".to_owned())
        );
        assert!(attribute("scheduled_run_time").is_some());
        let step = spans
            .iter()
            .find(|s| s.name == "task_step")
            .expect("the task's own span");
        assert_eq!(step.parent_span_id, run.span_context.span_id());
        assert_eq!(step.span_context.trace_id(), run.span_context.trace_id());
        assert_eq!(
            provider.shutdown().map_err(|e| e.to_string()),
            Ok(()),
            "the batch exporter shuts down"
        );
    }

    #[test]
    fn only_plain_http_endpoints_are_taken() {
        let e = super::provider("https://collector.example:4318/v1/traces", "rsched").unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        super::provider("http://127.0.0.1:4318/v1/traces", "rsched").unwrap();
    }
}
