//! The `JobStore` conformance suite against the Redis store.

integration_tests::conformance_tests!(integration_tests::backends::Redis);
