//! Finding the run directories below `--root` (`docs/results.md`).
//!
//! Symbolic links to folders are followed, as the original's recursive glob did; a link back
//! to a folder that contains it (a loop), or a second way into a folder already walked, is
//! reported and not followed, so no folder is read twice.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bench_core::layout::INFERENCE_LOGS;
use bench_io::path_text::{escaped, shown};
use walkdir::WalkDir;

/// A run directory: the parent of an `inference_logs` folder.
///
/// Names that are not valid UTF-8 are shown with each invalid byte as `\xNN`
/// ([`escaped`]), so two such folders never read the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRun {
    /// `--root` as given joined with the components below it.
    pub path: PathBuf,
    /// [`FoundRun::path`] as text (escaped), for messages and the `path` column.
    pub shown: String,
    /// The path's components below `--root` (escaped), as `docs/results.md` reads them.
    pub components: Vec<String>,
    /// The experiment folder's name as on disk (the first component below `--root`; empty
    /// for a run directory that is `--root` itself).
    pub experiment: OsString,
}

impl FoundRun {
    /// The run directory `path`, below `root`.
    pub fn new(root: &Path, path: &Path) -> Self {
        let below = path.strip_prefix(root).unwrap_or(path);
        FoundRun {
            path: path.to_path_buf(),
            shown: escaped(path.as_os_str()).into_owned(),
            components: below
                .components()
                .map(|c| escaped(c.as_os_str()).into_owned())
                .collect(),
            experiment: below
                .components()
                .next()
                .map(|c| c.as_os_str().to_owned())
                .unwrap_or_default(),
        }
    }

    /// Whether the path (`--root` included) is valid UTF-8, so [`FoundRun::shown`] is exact.
    pub fn is_utf8(&self) -> bool {
        self.path.to_str().is_some()
    }
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// The run directories, in the walk's order (sorted by file name at each level).
    pub runs: Vec<FoundRun>,
    /// Folders that could not be read, symbolic-link loops and folders reached twice: one
    /// message each, for stderr.
    pub problems: Vec<String>,
}

/// Walk `root` and collect every run directory. Never descends into `inference_logs`
/// (the run analysis lists what it needs there).
pub fn find_runs(root: &Path) -> Walk {
    let mut runs = Vec::new();
    let problems = walk_runs(root, |run| runs.push(run));
    Walk { runs, problems }
}

/// Walk `root` and hand each run directory to `on_run` as soon as it is found, in the order
/// of [`Walk::runs`] (so the runs can be analyzed while the walk goes on). Returns the
/// problems, as [`Walk::problems`].
pub fn walk_runs(root: &Path, mut on_run: impl FnMut(FoundRun)) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen: HashMap<FolderId, PathBuf> = HashMap::new();
    let mut entries = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                problems.push(describe_walk_error(&err));
                continue;
            }
        };
        if !entry.file_type().is_dir() {
            continue;
        }
        if let Some(id) = folder_id(&entry) {
            if let Some(first) = seen.get(&id) {
                problems.push(format!(
                    "`{}` is the same directory as `{}` (through a symbolic link): not read twice",
                    shown(entry.path()),
                    shown(first)
                ));
                entries.skip_current_dir();
                continue;
            }
            seen.insert(id, entry.path().to_path_buf());
        }
        if entry.depth() > 0 && entry.file_name() == INFERENCE_LOGS {
            entries.skip_current_dir();
            if let Some(run_path) = entry.path().parent() {
                on_run(FoundRun::new(root, run_path));
            }
        }
    }
    problems
}

/// A folder's identity (device and inode), to notice a folder reached a second time.
type FolderId = (u64, u64);

#[cfg(unix)]
fn folder_id(entry: &walkdir::DirEntry) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    entry.metadata().ok().map(|meta| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn folder_id(_entry: &walkdir::DirEntry) -> Option<FolderId> {
    None
}

/// One line for a walk error: a loop, a broken link or a folder that cannot be read.
fn describe_walk_error(err: &walkdir::Error) -> String {
    let path = err
        .path()
        .map_or_else(|| "?".to_owned(), |p| shown(p).into_owned());
    if let Some(ancestor) = err.loop_ancestor() {
        return format!(
            "symbolic link loop: `{path}` leads back to `{}`, which contains it: not followed",
            shown(ancestor)
        );
    }
    match err.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("broken symbolic link `{path}`: skipped")
        }
        Some(io) => format!("cannot read `{path}`: {io}: its runs are not analyzed"),
        None => format!("cannot read `{path}`: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn mkdirs(root: &Path, rel: &str) {
        fs::create_dir_all(root.join(rel)).unwrap();
    }

    #[test]
    fn finds_run_dirs_and_components_in_name_order() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        mkdirs(root, "b/p/m/tp1/inference_logs/slurm_logs");
        mkdirs(root, "a/p/m/tp2/inference_logs/inference_logs");
        mkdirs(root, "a/p/m/tp1/inference_logs");
        mkdirs(root, "c/empty");
        let walk = find_runs(root);
        let found: Vec<Vec<String>> = walk.runs.iter().map(|r| r.components.clone()).collect();
        assert_eq!(
            found,
            [
                ["a", "p", "m", "tp1"],
                ["a", "p", "m", "tp2"],
                ["b", "p", "m", "tp1"]
            ]
        );
        assert_eq!(walk.runs[0].path, root.join("a/p/m/tp1"));
        assert_eq!(walk.runs[0].experiment, "a");
        assert!(walk.runs[0].is_utf8());
        assert!(walk.problems.is_empty(), "{:?}", walk.problems);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_escaped_not_replaced() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        for raw in [&b"bad\xfename"[..], b"bad\xffname"] {
            let run = root
                .join(OsStr::from_bytes(raw))
                .join("p/m/tp1/inference_logs");
            fs::create_dir_all(run).unwrap();
        }
        let walk = find_runs(root);
        let experiments: Vec<&str> = walk.runs.iter().map(|r| r.components[0].as_str()).collect();
        assert_eq!(experiments, ["bad\\xfename", "bad\\xffname"]);
        assert_eq!(walk.runs[1].experiment, OsStr::from_bytes(b"bad\xffname"));
        assert!(!walk.runs[1].is_utf8());
        assert_eq!(
            walk.runs[1].shown,
            format!("{}/bad\\xffname/p/m/tp1", root.display())
        );
    }

    #[cfg(unix)]
    #[test]
    fn follows_links_reports_loops_and_second_visits() {
        use std::os::unix::fs::symlink;
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("root");
        let elsewhere = temp.path().join("elsewhere");
        mkdirs(&elsewhere, "exp/p/m/tp1/inference_logs");
        mkdirs(&root, "real/p/m/tp1/inference_logs");
        symlink(elsewhere.join("exp"), root.join("linked")).unwrap();
        symlink("../..", root.join("real/p/loop")).unwrap();
        symlink(root.join("real"), root.join("zz-again")).unwrap();
        let walk = find_runs(&root);
        let found: Vec<String> = walk.runs.iter().map(|r| r.components.join("/")).collect();
        assert_eq!(found, ["linked/p/m/tp1", "real/p/m/tp1"]);
        assert_eq!(walk.problems.len(), 2, "{:?}", walk.problems);
        assert!(walk.problems[0].starts_with("symbolic link loop: `"));
        assert!(walk.problems[0].contains("real/p/loop"));
        assert!(walk.problems[1].contains("zz-again` is the same directory as `"));
    }
}
