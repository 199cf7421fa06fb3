//! TEMPORARY: the announced `bench_core::state` API, until issue 3 lands. Delete on merge.
#![expect(dead_code, reason = "temporary shim")]

use bench_core::failure::FailureClass;
use bench_core::stats::{StatsError, StatsTotals};

pub trait RunFiles {
    fn read(&self, rel_path: &str) -> std::io::Result<Option<Vec<u8>>>;
    fn list(&self, rel_dir: &str) -> std::io::Result<Vec<String>>;
    fn failure_classes(&self, rel_path: &str) -> std::io::Result<Vec<FailureClass>>;
}
pub fn out_file_ids(file_name: &str) -> (u64, u64) {
    let _ = file_name;
    unimplemented!()
}
pub enum Completion {
    Completed {
        totals: StatsTotals,
        merged_tasks: Option<usize>,
    },
    Unreadable(StatsError),
    NotFound,
}
pub fn completion(files: &dyn RunFiles) -> std::io::Result<Completion> {
    let _ = files;
    unimplemented!()
}
pub fn server_log_path(files: &dyn RunFiles) -> std::io::Result<Option<String>> {
    let _ = files;
    unimplemented!()
}
