//! The run-state rule (shared contract 2 section 3), used by both `launch` and `analyze`.
//!
//! INTERFACE (owned by issue 3).
