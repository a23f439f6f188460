//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) driven through
//! `chromedriver` with fantoccini, against a real server on a local port.

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use rsched::Scheduler;
use serde_json::json;

/// Kills chromedriver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9515)
}

/// Starts chromedriver on a free port, or says why it cannot.
async fn chromedriver() -> Result<(Driver, u16), String> {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or(
            "chromedriver is not installed (Debian: apt-get install chromium chromium-driver)",
        )?;
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let driver = Driver(child);
    // Ready when it accepts connections.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((driver, port));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("chromedriver did not start listening".into())
}

/// The seed program's scheduler behind `/scheduler`, on a free local port.
async fn serve() -> (String, Scheduler) {
    let config = rsched::Config::parse(
        r#"
        [jobstores.default]
        url = "memory://?history=true"

        [calendars.holidays]
        type = "dates"
        dates = ["2030-12-25"]

        [[jobs]]
        id = "job1"
        func = "rsched:log"
        args = [1, 2]
        trigger = "interval"
        seconds = 5

        [[jobs]]
        id = "nightly"
        func = "rsched:log"
        trigger = "cron"
        hour = 2
        minute = 30
        "#,
    )
    .unwrap();
    let scheduler = config
        .build_scheduler(rsched::registry_with_builtins())
        .await
        .unwrap();
    scheduler.start().await.unwrap();
    let app = axum::Router::new().nest(
        "/scheduler",
        rsched::http::router(scheduler.clone(), Default::default()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), scheduler)
}

/// Polls `check` until it holds (at most 20 s): the browser and the server work concurrently.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Clicks the element `locator` finds. The job table re-renders on every scheduler event, so
/// an element found a moment ago may be replaced before the click lands: find it again then.
async fn click(client: &Client, locator: Locator<'_>) {
    let mut last = None;
    for _ in 0..50 {
        match client.find(locator).await {
            Ok(element) => match element.click().await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot click {locator:?}: {last:?}");
}

async fn fill(client: &Client, name: &str, value: &str) {
    let input = client
        .find(Locator::Css(&format!("#job-form [name=\"{name}\"]")))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

async fn open_form(client: &Client, id: &str, trigger: &str) {
    click(client, Locator::Id("new-job")).await;
    client
        .wait()
        .for_element(Locator::Css("#job-form-panel:not([hidden])"))
        .await
        .unwrap();
    fill(client, "id", id).await;
    fill(client, "func", "rsched:log").await;
    client
        .find(Locator::Css("#job-form select[name=\"trigger\"]"))
        .await
        .unwrap()
        .select_by_value(trigger)
        .await
        .unwrap();
}

/// One browser at a time: two chromedrivers starting Chromium together on two cores fail to
/// create a session now and then.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Headless Chromium through chromedriver, held for the test; `None` (the test skips) when
/// they are not installed and the run is not strict.
async fn browser() -> Option<(tokio::sync::MutexGuard<'static, ()>, Driver, Client)> {
    let turn = ONE_BROWSER.lock().await;
    let (driver, port) = match chromedriver().await {
        Ok(d) => d,
        Err(why) if !integration_tests::strict() => {
            eprintln!("skipped: {why}");
            return None;
        }
        Err(why) => panic!("{why}"),
    };
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"]
        }
    });
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities.as_object().cloned().unwrap())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    Some((turn, driver, client))
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_shows_pauses_adds_and_validates_jobs() {
    let Some((_turn, driver, client)) = browser().await else {
        return;
    };
    let (base, scheduler) = serve().await;

    client.goto(&format!("{base}/scheduler/ui")).await.unwrap();
    let row = r#"tr[data-job-id="job1"]"#;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(row))
        .await
        .unwrap();
    assert!(
        client
            .find(Locator::Css(r#"tr[data-job-id="nightly"]"#))
            .await
            .is_ok()
    );
    // The table re-renders on every event: read the cell until a render has settled.
    eventually("the page shows job1 scheduled", || async {
        text_of(&client, &format!("{row} td.state")).await == "scheduled"
    })
    .await;

    // Pause job1 from the page; the API reports it paused, and so does the page.
    let pause = format!("{row} button[data-action=\"pause\"]");
    click(&client, Locator::Css(&pause)).await;
    eventually("the API reports job1 paused", || async {
        scheduler
            .get_job("job1")
            .await
            .unwrap()
            .is_some_and(|j| j.is_paused())
    })
    .await;
    eventually("the page shows job1 paused", || async {
        text_of(&client, &format!("{row} td.state")).await == "paused"
    })
    .await;

    // Add a job through the form.
    open_form(&client, "from-form", "cron").await;
    fill(&client, "minute", "*/5").await;
    fill(&client, "retries", "3").await;
    fill(&client, "retry_delay", "30").await;
    fill(&client, "calendars", "holidays").await;
    click(&client, Locator::Id("job-submit")).await;
    eventually(
        "the form's job exists, with its retries and calendar",
        || async {
            scheduler
                .get_job("from-form")
                .await
                .unwrap()
                .is_some_and(|j| {
                    j.trigger().to_string() == "cron[minute='*/5']"
                        && j.retry().retries == 3
                        && j.retry().delay == Duration::from_secs(30)
                        && j.calendars().iter().map(|c| &**c).eq(["holidays"])
                })
        },
    )
    .await;
    client
        .wait()
        .for_element(Locator::Css(r#"tr[data-job-id="from-form"]"#))
        .await
        .unwrap();

    // A bad cron field: the API's error appears next to it, and nothing is added.
    open_form(&client, "bad", "cron").await;
    fill(&client, "hour", "25").await;
    click(&client, Locator::Id("job-submit")).await;
    let error = r#"span.field-error[data-field="hour"]"#;
    eventually("the hour field shows the error", || async {
        text_of(&client, error).await.contains("out of range")
    })
    .await;
    assert!(scheduler.get_job("bad").await.unwrap().is_none());

    // A retry setting out of range, and an unknown calendar: each error by its field.
    open_form(&client, "bad", "cron").await;
    fill(&client, "retry_backoff", "0.5").await;
    click(&client, Locator::Id("job-submit")).await;
    eventually("the retry_backoff field shows the error", || async {
        text_of(&client, r#"span.field-error[data-field="retry_backoff"]"#)
            .await
            .contains("at least 1.0")
    })
    .await;
    click(&client, Locator::Id("job-cancel")).await;
    open_form(&client, "bad", "cron").await;
    fill(&client, "calendars", "no-such").await;
    click(&client, Locator::Id("job-submit")).await;
    eventually("the calendars field shows the error", || async {
        text_of(&client, r#"span.field-error[data-field="calendars"]"#)
            .await
            .contains("no calendar named 'no-such'")
    })
    .await;
    click(&client, Locator::Id("job-cancel")).await;
    assert!(scheduler.get_job("bad").await.unwrap().is_none());

    // The dialect choice: a Quartz line gets a live preview of 5 fire times and the schedule
    // in words; a cron(8) line typed under quartz is told which dialect it is.
    open_form(&client, "quartz-form", "quartz").await;
    fill(&client, "timezone", "Asia/Shanghai").await;
    fill(&client, "expr", "0 */5 * ? * MON-FRI").await;
    eventually("the preview says the schedule in words", || async {
        text_of(&client, "#preview .preview-words").await
            == "at second 0 of every 5th minute, Monday to Friday, in Asia/Shanghai"
    })
    .await;
    assert_eq!(
        client
            .find_all(Locator::Css("#preview ol.preview-times li"))
            .await
            .unwrap()
            .len(),
        5
    );
    fill(&client, "expr", "0 9 * * mon").await;
    eventually("the preview names the other dialect", || async {
        text_of(&client, "#preview .preview-error")
            .await
            .contains("use type \"crontab\"")
    })
    .await;
    fill(&client, "expr", "0 0 9 ? * 2-6").await;
    click(&client, Locator::Id("job-submit")).await;
    eventually("the quartz job exists", || async {
        scheduler
            .get_job("quartz-form")
            .await
            .unwrap()
            .is_some_and(|j| j.trigger().to_string() == "quartz['0 0 9 ? * 2-6']")
    })
    .await;

    // Run a job now, then read its history.
    let nightly = r#"tr[data-job-id="nightly"]"#;
    click(
        &client,
        Locator::Css(&format!("{nightly} button[data-action=\"run\"]")),
    )
    .await;
    eventually("the run is in the history", || async {
        !scheduler.job_runs("nightly", 10).await.unwrap().is_empty()
    })
    .await;
    click(
        &client,
        Locator::Css(&format!("{nightly} button[data-action=\"history\"]")),
    )
    .await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(r#"#history tbody tr[data-outcome="success"]"#))
        .await
        .unwrap();
    assert_eq!(
        text_of(
            &client,
            r#"#history tbody tr[data-outcome="success"] td.attempt"#
        )
        .await,
        "1"
    );
    click(&client, Locator::Id("history-close")).await;

    // A quarantined job is listed apart, and can be deleted from there.
    scheduler
        .jobstore("default")
        .unwrap()
        .quarantine_job("job1", "no task registered as 'app:gone'")
        .await
        .unwrap();
    click(&client, Locator::Id("refresh")).await;
    let quarantined = r#"#quarantine tr[data-quarantined-id="job1"]"#;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(quarantined))
        .await
        .unwrap();
    eventually("the quarantined job shows its reason", || async {
        text_of(&client, quarantined).await.contains("app:gone")
    })
    .await;
    click(
        &client,
        Locator::Css(&format!(
            "{quarantined} button[data-action=\"delete-quarantined\"]"
        )),
    )
    .await;
    client.accept_alert().await.unwrap();
    eventually("the quarantined job is deleted", || async {
        scheduler
            .jobstore("default")
            .unwrap()
            .quarantined_jobs()
            .await
            .unwrap()
            .is_empty()
    })
    .await;

    if let Ok(dir) = std::env::var("RSCHED_SCREENSHOT_DIR") {
        click(&client, Locator::Id("job-cancel")).await;
        let png = client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join("dashboard.png"), png).unwrap();
    }
    client.close().await.unwrap();
    drop(driver);
}

/// A page of another origin (another port of the same host: same site, so only the `Origin`
/// check stands between it and the API) tries what any web page can: a `no-cors` fetch with a
/// JSON body and no type, HTML form posts (one that needs no body at all), and an iframe of
/// the dashboard.
const ATTACK_PAGE: &str = r#"<!doctype html>
<html><head><title>attacking</title></head><body>
<iframe name="sink-pause"></iframe>
<iframe name="sink-add"></iframe>
<form id="pause" method="POST" action="TARGET/scheduler/jobs/job1/pause" target="sink-pause"></form>
<form id="add" method="POST" action="TARGET/scheduler/jobs" enctype="text/plain" target="sink-add">
  <input name='{"id":"csrf-form","func":"rsched:log","trigger":"interval","hours":1,"x":"' value='"}'>
</form>
<iframe id="dashboard" src="TARGET/scheduler/ui"></iframe>
<script>
  window.done = {fetch: false, pause: false, add: false, dashboard: false};
  const mark = (what) => () => { window.done[what] = true; };
  document.getElementById('dashboard').addEventListener('load', mark('dashboard'));
  document.getElementsByName('sink-pause')[0].addEventListener('load', mark('pause'));
  document.getElementsByName('sink-add')[0].addEventListener('load', mark('add'));
  const job = JSON.stringify({id: 'csrf-fetch', func: 'rsched:log', trigger: 'interval', hours: 1});
  fetch('TARGET/scheduler/jobs', {method: 'POST', mode: 'no-cors', body: new Blob([job])})
    .then(mark('fetch'), mark('fetch'));
  document.getElementById('pause').submit();
  document.getElementById('add').submit();
</script>
</body></html>"#;

#[tokio::test(flavor = "multi_thread")]
async fn another_origin_cannot_change_jobs_or_frame_the_dashboard() {
    let Some((_turn, driver, client)) = browser().await else {
        return;
    };
    let (base, scheduler) = serve().await;
    let page = ATTACK_PAGE.replace("TARGET", &base);
    let evil = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, evil).await.unwrap();
    });

    client.goto(&format!("{evil_base}/")).await.unwrap();
    eventually("the page made every attempt and its frames loaded", || async {
        client
            .execute(
                "const d = window.done || {}; return !!(d.fetch && d.pause && d.add && d.dashboard);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    })
    .await;

    // The API shows no new job, and job1 is still scheduled.
    for id in ["csrf-fetch", "csrf-form"] {
        assert!(
            scheduler.get_job(id).await.unwrap().is_none(),
            "{id} was added"
        );
    }
    let job1 = scheduler.get_job("job1").await.unwrap().unwrap();
    assert!(!job1.is_paused(), "the form post paused job1");

    // The dashboard did not render inside the other origin's frame.
    let frame = client.find(Locator::Id("dashboard")).await.unwrap();
    frame.enter_frame().await.unwrap();
    assert!(
        client.find(Locator::Id("sched-state")).await.is_err(),
        "the dashboard rendered inside another origin's frame"
    );
    client.enter_parent_frame().await.unwrap();

    // The same dashboard opened directly renders (the frame was refused, not broken).
    client.goto(&format!("{base}/scheduler/ui")).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(r#"tr[data-job-id="job1"]"#))
        .await
        .unwrap();
    client.close().await.unwrap();
    drop(driver);
}

/// The dashboard with 10,000 jobs: the first page (100 rows, the summary bar) renders fast
/// (the time is printed, for README's figure; not asserted), and search, state and tag
/// filters, paging, the Problems view and the job page all work through the server's paged
/// listing.
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_pages_filters_and_shows_problems_for_10000_jobs() {
    const JOBS: usize = 10_000;
    let Some((_turn, driver, client)) = browser().await else {
        return;
    };
    let (base, scheduler) = serve().await;
    let trigger = rsched::BuiltinTrigger::from_json(
        r#"{"type":"interval","minutes":5,"start_date":"2026-01-01 00:00:00","timezone":"UTC"}"#,
    )
    .unwrap();
    let specs: Vec<rsched::JobSpec> = (0..JOBS)
        .map(|i| {
            let spec = rsched::JobSpec::new("rsched:log")
                .id(format!("cust-{i:05}"))
                .name(format!("Customer {i}"))
                .trigger(trigger.clone());
            if i % 10 == 0 {
                spec.tag("billing")
            } else {
                spec
            }
        })
        .collect();
    scheduler.add_jobs(specs).await.unwrap();
    for id in ["cust-00001", "cust-00002", "cust-00003"] {
        scheduler.pause_job(id).await.unwrap();
    }
    let now = chrono::Utc::now();
    scheduler
        .jobstore("default")
        .unwrap()
        .history()
        .unwrap()
        .record_runs(
            &[rsched::RunRecord {
                job_id: "cust-04242".into(),
                scheduled_run_time: now - chrono::Duration::minutes(3),
                started: Some(now - chrono::Duration::minutes(3)),
                finished: Some(now - chrono::Duration::minutes(3) + chrono::Duration::seconds(2)),
                outcome: rsched::RunOutcome::Error,
                error: Some("connection refused".into()),
                scheduler_id: "host-1".into(),
                attempt: 1,
                backfill: false,
                result: None,
            }],
            rsched::Retention {
                per_job: 100,
                max_age: Duration::from_secs(86_400),
            },
        )
        .await
        .unwrap();
    let digits = |text: String| {
        text.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };

    let started = std::time::Instant::now();
    client.goto(&format!("{base}/scheduler/ui")).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#jobs tbody tr[data-job-id]"))
        .await
        .unwrap();
    eventually("the pager counts every job", || async {
        digits(text_of(&client, "#page-info").await).ends_with("10002")
    })
    .await;
    let first_page = started.elapsed();
    eprintln!(
        "dashboard: first page of {} jobs rendered in {} ms",
        JOBS + 2,
        first_page.as_millis()
    );
    let rows = client
        .find_all(Locator::Css("#jobs tbody tr[data-job-id]"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 100, "one page, not every job");
    eventually("the summary counts the jobs by state", || async {
        digits(text_of(&client, "#sum-total").await) == "10002"
            && digits(text_of(&client, "#sum-paused").await) == "3"
            && digits(text_of(&client, "#sum-1h-failures").await) == "1"
    })
    .await;

    // Paging: the next page, then back.
    click(&client, Locator::Id("page-next")).await;
    eventually("page 2", || async {
        text_of(&client, "#page-info").await.starts_with("101")
    })
    .await;
    click(&client, Locator::Id("page-prev")).await;
    eventually("page 1 again", || async {
        text_of(&client, "#page-info").await.starts_with("1–100")
    })
    .await;

    // Search by id: ten jobs.
    let search = client.find(Locator::Id("job-search")).await.unwrap();
    search.send_keys("cust-0999").await.unwrap();
    eventually("the search narrows to ten jobs", || async {
        let ids: Vec<String> = match client
            .find_all(Locator::Css("#jobs tbody tr[data-job-id]"))
            .await
        {
            Ok(rows) => {
                let mut ids = Vec::new();
                for row in rows {
                    ids.push(
                        row.attr("data-job-id")
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or_default(),
                    );
                }
                ids
            }
            Err(_) => Vec::new(),
        };
        ids.len() == 10 && ids.iter().all(|id| id.starts_with("cust-0999"))
    })
    .await;
    search.clear().await.unwrap();
    search.send_keys(" ").await.unwrap();
    // State filter: the three paused jobs.
    client
        .find(Locator::Id("job-state"))
        .await
        .unwrap()
        .select_by_value("paused")
        .await
        .unwrap();
    eventually("the paused filter shows the three paused jobs", || async {
        text_of(&client, "#page-info").await == "1–3 of 3"
    })
    .await;
    client
        .find(Locator::Id("job-state"))
        .await
        .unwrap()
        .select_by_value("")
        .await
        .unwrap();
    // Tag filter: one job in ten.
    client
        .find(Locator::Id("job-tag"))
        .await
        .unwrap()
        .send_keys("billing")
        .await
        .unwrap();
    eventually("the tag filter counts 1,000 jobs", || async {
        digits(text_of(&client, "#page-info").await) == "11001000"
    })
    .await;

    // The Problems view lists the failed run and links to its job's page.
    click(&client, Locator::Id("tab-problems")).await;
    let problem = r#"#problems tbody tr[data-outcome="error"][data-job-id="cust-04242"]"#;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(problem))
        .await
        .unwrap();
    assert!(
        text_of(&client, problem)
            .await
            .contains("connection refused")
    );
    click(&client, Locator::Css(&format!("{problem} a.job-link"))).await;
    eventually("the job page shows the job", || async {
        text_of(&client, r#"#job-def dd[data-field="id"]"#).await == "cust-04242"
    })
    .await;
    eventually("the job page lists its next 10 fire times", || async {
        client
            .find_all(Locator::Css("#job-next li"))
            .await
            .is_ok_and(|items| items.len() == 10)
    })
    .await;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(r#"#history tbody tr[data-outcome="error"]"#))
        .await
        .unwrap();
    // Pause from the job page.
    click(&client, Locator::Id("job-page-toggle")).await;
    eventually("the job page paused the job", || async {
        scheduler
            .get_job("cust-04242")
            .await
            .unwrap()
            .is_some_and(|j| j.is_paused())
    })
    .await;
    client.close().await.unwrap();
    drop(driver);
}
