//! The gunicorn case: the seed app started as 4 processes (4 "workers") against one SQLite
//! file runs `job_do_sth` once per fire time — where Flask-APScheduler runs it 4 times.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn four_workers_on_one_sqlite_file_run_each_fire_time_once() {
    let dir = std::env::temp_dir().join(format!("rsched-gunicorn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/seed-app.toml")).unwrap();
    let config = dir.join("app.toml");
    std::fs::write(
        &config,
        format!(
            "[jobstores.default]\nurl = \"sqlite://{}\"\n\n{seed}",
            dir.join("jobs.db").display()
        ),
    )
    .unwrap();

    let lines: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let mut workers: Vec<Child> = (0..4)
        .map(|worker| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_seed-app"))
                .arg("--config")
                .arg(&config)
                .args(["--listen", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push((worker, line));
                }
            });
            child
        })
        .collect();
    // job1 fires every 5 s: let a few fire times go by.
    std::thread::sleep(Duration::from_secs(17));
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }

    let lines = lines.lock().unwrap().clone();
    let mut per_time: HashMap<String, Vec<usize>> = HashMap::new();
    for (worker, line) in &lines {
        if let Some(stamp) = line.strip_suffix(" job_do_sth:3") {
            per_time.entry(stamp.to_owned()).or_default().push(*worker);
        }
    }
    assert!(per_time.len() >= 2, "job1 ran: {lines:?}");
    for (stamp, workers) in &per_time {
        assert_eq!(workers.len(), 1, "{stamp} ran in workers {workers:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
