//! Failure classification (shared contract 3 section 2).
//!
//! INTERFACE (owned by issue 3; signatures fixed so other modules can build against them).

use std::io::{Read, Seek};

/// A failure class, in priority order (the first variant outranks the others).
/// Spelled in CSVs and on the command line exactly as [`FailureClass::as_str`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureClass {
    /// `OOM`: GPU memory did not suffice.
    Oom,
    /// `host_oom`: the job's host memory limit killed a process.
    HostOom,
    /// `timeout`: SLURM ended the job at its time limit.
    Timeout,
    /// `node_fail`: a node died under the job.
    NodeFail,
    /// `preempted`: SLURM preempted the job.
    Preempted,
    /// `server_fail`: the inference server never became ready.
    ServerFail,
    /// `cancelled`: cancelled without a reason.
    Cancelled,
    /// `error`: some other error (a Python traceback).
    Error,
}

impl FailureClass {
    /// Every class, in priority order.
    pub const ALL: [FailureClass; 8] = [
        FailureClass::Oom,
        FailureClass::HostOom,
        FailureClass::Timeout,
        FailureClass::NodeFail,
        FailureClass::Preempted,
        FailureClass::ServerFail,
        FailureClass::Cancelled,
        FailureClass::Error,
    ];

    /// The class name as contract 3 section 2 spells it (`OOM`, `host_oom`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Oom => "OOM",
            FailureClass::HostOom => "host_oom",
            FailureClass::Timeout => "timeout",
            FailureClass::NodeFail => "node_fail",
            FailureClass::Preempted => "preempted",
            FailureClass::ServerFail => "server_fail",
            FailureClass::Cancelled => "cancelled",
            FailureClass::Error => "error",
        }
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every class whose text occurs in `bytes` (searched whole), highest priority first.
pub fn classes_in(bytes: &[u8]) -> Vec<FailureClass> {
    let _ = bytes;
    unimplemented!("issue 3")
}

/// Every class found in the first and last 100,000 bytes of a file (the whole file when
/// smaller), never reading more than 200,000 bytes.
pub fn classes_in_reader<R: Read + Seek>(reader: R) -> std::io::Result<Vec<FailureClass>> {
    let _ = reader;
    unimplemented!("issue 3")
}
