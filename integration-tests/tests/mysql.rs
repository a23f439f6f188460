//! The `JobStore` conformance suite against the mysql store.

integration_tests::conformance_tests!(integration_tests::backends::Sql::MYSQL);
