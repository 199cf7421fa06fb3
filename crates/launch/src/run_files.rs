//! A run directory on disk, as [`bench_core::state::RunFiles`] sees it.

use std::fs;
use std::io;
use std::path::PathBuf;

use bench_core::failure::{FailureClass, classes_in_reader};
use bench_core::state::RunFiles;

/// The files of one run, read from its run directory; paths are relative to it.
#[derive(Debug, Clone)]
pub struct DirRunFiles {
    root: PathBuf,
}

impl DirRunFiles {
    /// The run directory `root` (it need not exist: a run never submitted has none).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirRunFiles { root: root.into() }
    }
}

impl RunFiles for DirRunFiles {
    fn read(&self, rel_path: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.root.join(rel_path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn list(&self, rel_dir: &str) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(self.root.join(rel_dir)) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn failure_classes(&self, rel_path: &str) -> io::Result<Vec<FailureClass>> {
        match fs::File::open(self.root.join(rel_path)) {
            Ok(file) => classes_in_reader(file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }
}
