//! The `JobStore` conformance suite against the MongoDB store (in CI: SecantusDB, a MongoDB
//! wire-protocol server; with `docker compose up -d`: MongoDB itself).

integration_tests::conformance_tests!(integration_tests::backends::Mongo);
