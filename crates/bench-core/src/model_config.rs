//! The model's `config.json`, read from the local disk only, for the attention-heads check of
//! `docs/config.md` (tp must divide the number of attention heads).
//!
//! Resolution is pure: the binary supplies the environment and a file-reading closure, and
//! nothing here ever goes to the network.

use std::path::{Path, PathBuf};

/// A model's `config.json` as found on the local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfigJson {
    /// Where it was read (for messages).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// Where a model's `config.json` comes from. Implementations must never use the network.
pub trait ModelConfigSource {
    /// The `config.json` of `model` (a Hub id such as `Qwen/Qwen3-4B`, or a local directory)
    /// at `revision` (a branch, tag or commit hash), or `None` when it is not available
    /// locally.
    fn config_json(&self, model: &str, revision: &str) -> Option<ModelConfigJson>;
}

/// A source that knows no model: every model is reported as not checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModelConfigs;

impl ModelConfigSource for NoModelConfigs {
    fn config_json(&self, _model: &str, _revision: &str) -> Option<ModelConfigJson> {
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
    fn config_json(&self, model: &str, revision: &str) -> Option<ModelConfigJson> {
        self.candidates(model, revision)
            .into_iter()
            .find_map(|path| (self.read)(&path).map(|text| ModelConfigJson { path, text }))
    }
}

/// Why a `config.json` gives no number of attention heads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttentionHeadsError {
    /// The text is not JSON.
    #[error("is not JSON ({0})")]
    NotJson(String),
    /// Neither `num_attention_heads` nor `text_config.num_attention_heads` is there.
    #[error("has no `num_attention_heads` (nor `text_config.num_attention_heads`)")]
    Missing,
    /// The key is there but does not hold a positive integer.
    #[error("has `{key}` = `{value}`, not a positive integer")]
    NotPositive {
        /// `num_attention_heads` or `text_config.num_attention_heads`.
        key: &'static str,
        /// The value, as JSON.
        value: String,
    },
}

/// The number of attention heads in a model's `config.json`: `num_attention_heads`, or
/// `text_config.num_attention_heads` (multimodal models such as Gemma 3), the first that holds
/// a positive integer.
///
/// # Errors
/// [`AttentionHeadsError`] when the text is not JSON, neither key is there, or the one there
/// is not a positive integer (`0`, `"8"`).
pub fn attention_heads(config_json: &str) -> Result<u64, AttentionHeadsError> {
    let json: serde_json::Value = serde_json::from_str(config_json)
        .map_err(|e| AttentionHeadsError::NotJson(e.to_string()))?;
    let candidates = [
        ("num_attention_heads", json.get("num_attention_heads")),
        (
            "text_config.num_attention_heads",
            json.get("text_config")
                .and_then(|t| t.get("num_attention_heads")),
        ),
    ];
    let mut first_bad = None;
    for (key, value) in candidates {
        let Some(value) = value else { continue };
        match value.as_u64() {
            Some(heads) if heads > 0 => return Ok(heads),
            _ => {
                first_bad.get_or_insert(AttentionHeadsError::NotPositive {
                    key,
                    value: value.to_string(),
                });
            }
        }
    }
    Err(first_bad.unwrap_or(AttentionHeadsError::Missing))
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
        assert_eq!(attention_heads(r#"{"num_attention_heads": 32}"#), Ok(32));
        assert_eq!(
            attention_heads(r#"{"text_config": {"num_attention_heads": 8}}"#),
            Ok(8)
        );
        assert_eq!(
            attention_heads(
                r#"{"num_attention_heads": null, "text_config": {"num_attention_heads": 8}}"#
            ),
            Ok(8)
        );
        assert_eq!(
            attention_heads(r#"{"hidden_size": 8}"#),
            Err(AttentionHeadsError::Missing)
        );
        assert!(matches!(
            attention_heads("not json"),
            Err(AttentionHeadsError::NotJson(_))
        ));
    }

    #[test]
    fn attention_heads_say_what_is_wrong() {
        assert_eq!(
            attention_heads(r#"{"num_attention_heads": 0}"#),
            Err(AttentionHeadsError::NotPositive {
                key: "num_attention_heads",
                value: "0".into()
            })
        );
        assert_eq!(
            attention_heads(r#"{"text_config": {"num_attention_heads": "8"}}"#),
            Err(AttentionHeadsError::NotPositive {
                key: "text_config.num_attention_heads",
                value: r#""8""#.into()
            })
        );
        assert_eq!(
            attention_heads("{").unwrap_err().to_string(),
            "is not JSON (EOF while parsing an object at line 1 column 1)"
        );
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
        let found = |model: &str, revision: &str| {
            source
                .config_json(model, revision)
                .map(|c| (c.path.to_string_lossy().into_owned(), c.text))
        };
        let at = |path: &str, text: &str| Some((path.to_owned(), text.to_owned()));
        assert_eq!(
            found("org/a", "main"),
            at("/hub/models--org--a/snapshots/abc123/config.json", "A")
        );
        assert_eq!(
            found("org/b", "def456"),
            at("/hub/models--org--b/snapshots/def456/config.json", "B")
        );
        assert_eq!(found("org/b", "main"), None);
        assert_eq!(found("/local/m", "main"), at("/local/m/config.json", "L"));
        assert_eq!(found("org/c", "main"), None);
    }
}
