//! The `JobStore` conformance suite against the sqlite store.

integration_tests::conformance_tests!(integration_tests::backends::Sql::SQLITE);
