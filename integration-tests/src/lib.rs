//! rsched's integration tests live in `tests/`: they talk to real servers and a real browser
//! (headless Chromium through chromedriver), never to mocks of them.
//!
//! With `RSCHED_TEST_STRICT=1` (set by `.ci/run`) a missing server or browser fails the run;
//! otherwise the test says what it skipped and passes.

/// Whether a missing server or browser must fail the test (`RSCHED_TEST_STRICT=1`).
pub fn strict() -> bool {
    std::env::var("RSCHED_TEST_STRICT").is_ok_and(|v| v == "1")
}

pub mod backends;
pub mod conformance;
pub mod processes;
