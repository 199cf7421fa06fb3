//! The attention-heads check of `docs/config.md` against a temporary Hugging Face cache,
//! reached through `HF_HUB_CACHE` and through `HF_HOME`.

use crate::common;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};

use bench_core::model_config::{LocalModelConfigs, hub_cache_dir};
use common::{exists, load_with};

/// Writes `text` to `root/relative`, creating folders.
fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A hub cache with three models: one through `refs/main`, one only as
/// `snapshots/rev123/`, one multimodal with `text_config.num_attention_heads`.
fn fill_hub(hub: &Path) {
    write(hub, "models--org--heads16/refs/main", "abc123\n");
    write(
        hub,
        "models--org--heads16/snapshots/abc123/config.json",
        r#"{"num_attention_heads": 16, "hidden_size": 2048}"#,
    );
    write(
        hub,
        "models--org--direct/snapshots/rev123/config.json",
        r#"{"num_attention_heads": 12}"#,
    );
    write(hub, "models--org--multimodal/refs/main", "fff");
    write(
        hub,
        "models--org--multimodal/snapshots/fff/config.json",
        r#"{"model_type": "gemma3", "text_config": {"num_attention_heads": 8}}"#,
    );
}

fn config(local_model: &str, tps: [&str; 5]) -> String {
    format!(
        "\
script: s.py
experiments:
  - name: refs
    args: {{model-name-or-path: org/heads16, tp: {}}}
  - name: snapshot
    args: {{model-name-or-path: org/direct, model-revision: rev123, tp: {}}}
  - name: text-config
    args: {{model-name-or-path: org/multimodal, tp: {}}}
  - name: local
    args: {{model-name-or-path: {local_model}, tp: {}}}
  - name: absent
    args: {{model-name-or-path: org/absent, tp: {}}}
",
        tps[0], tps[1], tps[2], tps[3], tps[4]
    )
}

/// Loads `yaml` with model configs from `hub` (as the binary resolves it from `env`),
/// recording every file asked for.
fn check(
    yaml: &str,
    env: &[(&str, &Path)],
) -> (
    Result<bench_core::sweep::Sweep, bench_core::config::ConfigErrors>,
    Vec<PathBuf>,
) {
    let asked = RefCell::new(Vec::new());
    let hub = hub_cache_dir(|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
    });
    let source = LocalModelConfigs::new(hub, |path: &Path| {
        asked.borrow_mut().push(path.to_owned());
        fs::read_to_string(path).ok()
    });
    let result = load_with(yaml, false, &exists, &source);
    (result, asked.into_inner())
}

#[test]
fn tp_must_divide_the_attention_heads_found_in_the_local_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hf-home").join("hub");
    fill_hub(&hub);
    let local = tmp.path().join("local-model");
    write(&local, "config.json", r#"{"num_attention_heads": 6}"#);
    let local = local.to_string_lossy().into_owned();

    let bad = config(&local, ["[2, 3]", "[3, 8]", "[2, 3]", "4", "2"]);
    let expected = [
        "experiment `refs` (entry 1 of `experiments`), `tp`, value `3`: tp does not divide the 16 attention heads of `org/heads16` (from its local `config.json`)".to_owned(),
        "experiment `snapshot` (entry 2 of `experiments`), `tp`, value `8`: tp does not divide the 12 attention heads of `org/direct` (from its local `config.json`)".to_owned(),
        "experiment `text-config` (entry 3 of `experiments`), `tp`, value `3`: tp does not divide the 8 attention heads of `org/multimodal` (from its local `config.json`)".to_owned(),
        format!("experiment `local` (entry 4 of `experiments`), `tp`, value `4`: tp does not divide the 6 attention heads of `{local}` (from its local `config.json`)"),
    ];
    // Through HF_HUB_CACHE, and through HF_HOME (which wins over HOME).
    let envs: [&[(&str, &Path)]; 2] = [
        &[("HF_HUB_CACHE", &hub), ("HOME", Path::new("/nonexistent"))],
        &[
            ("HF_HOME", &tmp.path().join("hf-home")),
            ("HOME", Path::new("/nonexistent")),
        ],
    ];
    for env in envs {
        let (result, asked) = check(&bad, env);
        let errors = result.unwrap_err();
        let lines: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines, expected, "{env:?}");
        // Only local files are read: the model's own folder or the temporary cache.
        for path in asked {
            assert!(
                path.starts_with(tmp.path()) || path.starts_with("org"),
                "read outside the local cache: {}",
                path.display()
            );
        }
    }
}

#[test]
fn a_model_not_in_the_cache_is_reported_as_not_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    fill_hub(&hub);
    let local = tmp.path().join("local-model");
    write(&local, "config.json", r#"{"num_attention_heads": 6}"#);
    let good = config(
        &local.to_string_lossy(),
        ["[2, 4, 8]", "[2, 3, 4]", "[2, 4, 8]", "[2, 3]", "2"],
    );
    let (result, _) = check(&good, &[("HF_HUB_CACHE", &hub)]);
    let sweep = result.unwrap();
    assert_eq!(sweep.runs.len(), 3 + 3 + 3 + 2 + 1);
    assert_eq!(
        sweep.warnings,
        [
            "attention heads not checked against tp for 1 model(s) without a local `config.json` \
          (local directory or Hugging Face cache; never downloaded): `org/absent`"
        ]
    );

    // With no cache at all, every model with tp > 1 is reported, revisions named.
    let (result, asked) = check(
        &good.replace(&*local.to_string_lossy(), "org/elsewhere"),
        &[],
    );
    assert_eq!(
        result.unwrap().warnings,
        [
            "attention heads not checked against tp for 5 model(s) without a local `config.json` \
          (local directory or Hugging Face cache; never downloaded): `org/absent`, \
          `org/direct` (revision `rev123`), `org/elsewhere`, `org/heads16`, `org/multimodal`"
        ]
    );
    assert!(asked.iter().all(|p| p.starts_with("org")), "{asked:?}");
}

#[test]
fn a_cached_config_json_without_usable_heads_says_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    fill_hub(&hub);
    for (model, text) in [
        ("notjson", "{\"num_attention_heads\": 16,"),
        ("zero", r#"{"num_attention_heads": 0}"#),
        ("string", r#"{"num_attention_heads": "8"}"#),
        ("none", r#"{"hidden_size": 8}"#),
    ] {
        write(&hub, &format!("models--org--{model}/refs/main"), "r1");
        write(
            &hub,
            &format!("models--org--{model}/snapshots/r1/config.json"),
            text,
        );
    }
    let yaml = "\
script: s.py
experiments:
  - name: e
    args: {model-name-or-path: [org/notjson, org/zero, org/string, org/none, org/absent], tp: 2}
";
    let (result, _) = check(yaml, &[("HF_HUB_CACHE", &hub)]);
    let at = |model: &str| {
        hub.join(format!("models--org--{model}/snapshots/r1/config.json"))
            .display()
            .to_string()
    };
    assert_eq!(
        result.unwrap().warnings,
        [
            "attention heads not checked against tp for 1 model(s) without a local `config.json` \
             (local directory or Hugging Face cache; never downloaded): `org/absent`"
                .to_owned(),
            format!(
                "attention heads not checked against tp for `org/none`: its local `config.json` \
                 (`{}`) has no `num_attention_heads` (nor `text_config.num_attention_heads`)",
                at("none")
            ),
            format!(
                "attention heads not checked against tp for `org/notjson`: its local \
                 `config.json` (`{}`) is not JSON (EOF while parsing a value at line 1 column \
                 27)",
                at("notjson")
            ),
            format!(
                "attention heads not checked against tp for `org/string`: its local `config.json` \
                 (`{}`) has `num_attention_heads` = `\"8\"`, not a positive integer",
                at("string")
            ),
            format!(
                "attention heads not checked against tp for `org/zero`: its local `config.json` \
                 (`{}`) has `num_attention_heads` = `0`, not a positive integer",
                at("zero")
            ),
        ]
    );
}
