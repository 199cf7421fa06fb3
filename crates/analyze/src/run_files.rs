//! The run-state rule's view of a run directory, over the file system.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use bench_core::failure::{FailureClass, classes_in_reader};

use bench_core::state::RunFiles;

/// The files below one run directory.
#[derive(Debug, Clone)]
pub struct RunDirFiles {
    dir: PathBuf,
}

impl RunDirFiles {
    /// The files below `dir` (a run directory).
    pub fn new(dir: &Path) -> Self {
        RunDirFiles {
            dir: dir.to_path_buf(),
        }
    }

    /// The full path of `rel_path` (with `/` separators) below the run directory.
    pub fn path(&self, rel_path: &str) -> PathBuf {
        self.dir.join(rel_path)
    }
}

/// The same error with the file's path in front, so a message on stderr or in a comment
/// says which file it was.
fn with_path(err: &io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("`{}`: {err}", path.display()))
}

impl RunFiles for RunDirFiles {
    fn read(&self, rel_path: &str) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(rel_path);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(with_path(&err, &path)),
        }
    }

    fn list(&self, rel_dir: &str) -> io::Result<Vec<String>> {
        let path = self.path(rel_dir);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(with_path(&err, &path)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| with_path(&err, &path))?;
            let file_type = entry.file_type().map_err(|err| with_path(&err, &path))?;
            // Follow a symbolic link to see whether it names a file.
            let is_file = file_type.is_file()
                || (file_type.is_symlink() && entry.path().metadata().is_ok_and(|m| m.is_file()));
            if is_file {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn failure_classes(&self, rel_path: &str) -> io::Result<Vec<FailureClass>> {
        let path = self.path(rel_path);
        match File::open(&path) {
            Ok(file) => classes_in_reader(file).map_err(|err| with_path(&err, &path)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(with_path(&err, &path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_tells_absent_files() {
        let temp = tempfile::tempdir().unwrap();
        let run = temp.path();
        fs::create_dir_all(run.join("inference_logs/slurm_logs/sub")).unwrap();
        fs::write(run.join("inference_logs/slurm_logs/2_0.out"), "b").unwrap();
        fs::write(run.join("inference_logs/slurm_logs/10_0.out"), "a").unwrap();
        let files = RunDirFiles::new(run);
        assert_eq!(
            files.list("inference_logs/slurm_logs").unwrap(),
            ["10_0.out", "2_0.out"]
        );
        assert!(files.list("inference_logs/stats").unwrap().is_empty());
        assert_eq!(
            files.read("inference_logs/slurm_logs/2_0.out").unwrap(),
            Some(b"b".to_vec())
        );
        assert_eq!(files.read("inference_logs/stats.json").unwrap(), None);
        let err = files.read("inference_logs/slurm_logs").unwrap_err();
        assert!(err.to_string().contains("slurm_logs`: "), "{err}");
    }
}
