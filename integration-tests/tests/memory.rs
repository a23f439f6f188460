//! The `JobStore` conformance suite against the memory store.

integration_tests::conformance_tests!(integration_tests::backends::Memory::default());
