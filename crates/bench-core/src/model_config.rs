//! The model's `config.json`, read from the local disk only, for the attention-heads check of
//! shared contract 1 section 5 (tp must divide the number of attention heads).
//!
//! Resolution is pure: the binary supplies the environment and a file-reading closure, and
//! nothing here ever goes to the network.

use std::path::{Path, PathBuf};

/// Where a model's `config.json` comes from. Implementations must never use the network.
pub trait ModelConfigSource {
    /// The text of `config.json` of `model` (a Hub id such as `Qwen/Qwen3-4B`, or a local
    /// directory) at `revision` (a branch, tag or commit hash), or `None` when it is not
    /// available locally.
    fn config_json(&self, model: &str, revision: &str) -> Option<String>;
}

/// A source that knows no model: every model is reported as not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModelConfigs;

impl ModelConfigSource for NoModelConfigs {
    fn config_json(&self, _model: &str, _revision: &str) -> Option<String> {
        None
    }
}

/// The Hugging Face hub cache folder, as `huggingface_hub` finds it: `$HF_HUB_CACHE`, else
/// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `$HOME/.cache/huggingface/hub`.
/// `env` looks up one environment variable; empty values count as unset. `None` when none of
/// these is set.
pub fn hub_cache_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("HF_HUB_CACHE") {
        return Some(dir);
    }
    if let Some(home) = var("HF_HOME") {
        return Some(home.join("hub"));
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return Some(cache.join("huggingface").join("hub"));
    }
    var("HOME").map(|home| home.join(".cache").join("huggingface").join("hub"))
}

/// Model configs from a local model directory or the Hugging Face hub cache, read with the
/// given closure (which returns a file's text, or `None` when it cannot be read).
#[derive(Debug, Clone)]
pub struct LocalModelConfigs<F> {
    hub_cache: Option<PathBuf>,
    read: F,
}

impl<F: Fn(&Path) -> Option<String>> LocalModelConfigs<F> {
    /// A source over `hub_cache` (see [`hub_cache_dir`]) reading files with `read`.
    pub fn new(hub_cache: Option<PathBuf>, read: F) -> Self {
        LocalModelConfigs { hub_cache, read }
    }

    /// The `config.json` paths tried for `model` at `revision`, in order: `{model}/config.json`
    /// (a local model directory), then in the hub cache's `models--{org}--{name}/` the
    /// snapshot that `refs/{revision}` names, or, when that file cannot be read,
    /// `snapshots/{revision}/` directly (a revision can be a commit hash).
    fn candidates(&self, model: &str, revision: &str) -> Vec<PathBuf> {
        let mut paths = vec![Path::new(model).join("config.json")];
        if let Some(hub) = &self.hub_cache {
            let repo = hub.join(format!("models--{}", model.replace('/', "--")));
            let snapshot = (self.read)(&repo.join("refs").join(revision))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| revision.to_owned());
            paths.push(repo.join("snapshots").join(snapshot).join("config.json"));
        }
        paths
    }
}

impl<F: Fn(&Path) -> Option<String>> ModelConfigSource for LocalModelConfigs<F> {
    fn config_json(&self, model: &str, revision: &str) -> Option<String> {
        self.candidates(model, revision)
            .iter()
            .find_map(|path| (self.read)(path))
    }
}

/// The number of attention heads in a model's `config.json`: `num_attention_heads`, or
/// `text_config.num_attention_heads` (multimodal models such as Gemma 3). `None` when the
/// text is not JSON or neither key holds a positive integer.
pub fn attention_heads(config_json: &str) -> Option<u64> {
    let json: serde_json::Value = serde_json::from_str(config_json).ok()?;
    let heads = |v: &serde_json::Value| v.get("num_attention_heads")?.as_u64();
    heads(&json)
        .or_else(|| json.get("text_config").and_then(heads))
        .filter(|&h| h > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn hub_cache_dir_order() {
        let all = [
            ("HF_HUB_CACHE", "/hub"),
            ("HF_HOME", "/hf"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(hub_cache_dir(env(&all)), Some("/hub".into()));
        assert_eq!(hub_cache_dir(env(&all[1..])), Some("/hf/hub".into()));
        assert_eq!(
            hub_cache_dir(env(&all[2..])),
            Some("/xdg/huggingface/hub".into())
        );
        assert_eq!(
            hub_cache_dir(env(&all[3..])),
            Some("/home/u/.cache/huggingface/hub".into())
        );
        assert_eq!(
            hub_cache_dir(env(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/hf")])),
            Some("/hf/hub".into())
        );
        assert_eq!(hub_cache_dir(env(&[])), None);
    }

    #[test]
    fn attention_heads_top_level_or_text_config() {
        assert_eq!(attention_heads(r#"{"num_attention_heads": 32}"#), Some(32));
        assert_eq!(
            attention_heads(r#"{"text_config": {"num_attention_heads": 8}}"#),
            Some(8)
        );
        assert_eq!(attention_heads(r#"{"hidden_size": 8}"#), None);
        assert_eq!(attention_heads("not json"), None);
    }

    #[test]
    fn resolution_order_over_a_map() {
        let files: HashMap<PathBuf, String> = [
            ("/hub/models--org--a/refs/main", "abc123\n"),
            ("/hub/models--org--a/snapshots/abc123/config.json", "A"),
            ("/hub/models--org--b/snapshots/def456/config.json", "B"),
            ("/local/m/config.json", "L"),
        ]
        .into_iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_owned()))
        .collect();
        let source = LocalModelConfigs::new(Some("/hub".into()), |p: &Path| files.get(p).cloned());
        assert_eq!(source.config_json("org/a", "main").as_deref(), Some("A"));
        assert_eq!(source.config_json("org/b", "def456").as_deref(), Some("B"));
        assert_eq!(source.config_json("org/b", "main"), None);
        assert_eq!(source.config_json("/local/m", "main").as_deref(), Some("L"));
        assert_eq!(source.config_json("org/c", "main"), None);
    }
}
