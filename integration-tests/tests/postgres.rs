//! The `JobStore` conformance suite against the postgres store.

integration_tests::conformance_tests!(integration_tests::backends::Sql::POSTGRES);
