//! Loading a generated configuration of 10,000 and 100,000 cron jobs (one per customer, the
//! shape users who generate their job lists have): what `rsched check` does (parse, validate
//! every job), and what `rsched run` adds before it answers (build the scheduler, store every
//! job in the memory store, start). `cargo bench -p rsched --bench config`; README gives the
//! figures.

use criterion::{Criterion, criterion_group, criterion_main};

fn config_text(jobs: usize) -> String {
    let mut text = String::from("[jobstores.default]\nurl = \"memory://\"\n\n");
    for i in 0..jobs {
        text.push_str(&format!(
            "[[jobs]]\nid = \"customer-{i:06}\"\nfunc = \"rsched:log\"\nargs = [\"tick {i}\"]\n\
             trigger = \"cron\"\nminute = \"{}\"\nhour = \"*/2\"\n\n",
            i % 60
        ));
    }
    text
}

fn load(c: &mut Criterion) {
    let registry = rsched::registry_with_builtins();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("config");
    group.sample_size(10);
    for jobs in [10_000, 100_000] {
        let text = config_text(jobs);
        group.bench_function(format!("check/{jobs}"), |b| {
            b.iter(|| {
                let config = rsched::Config::parse(&text).unwrap();
                config.job_specs(&registry).unwrap().len()
            });
        });
        group.bench_function(format!("start/{jobs}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let config = rsched::Config::parse(&text).unwrap();
                    let scheduler = config.build_scheduler(registry.clone()).await.unwrap();
                    scheduler.start_paused().await.unwrap();
                    scheduler.shutdown(false).await.unwrap();
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
