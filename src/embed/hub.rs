//! Downloads a model2vec model from the Hugging Face hub, once, into the data
//! directory; later starts use the local copy and need no network.

use std::path::{Path, PathBuf};
use std::time::Duration;

const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// The local directory holding `model_id`, downloading it if missing.
pub fn fetch(model_id: &str, data_dir: &Path) -> Result<PathBuf, String> {
    let safe = model_id.replace('/', "__");
    let dir = data_dir.join("models").join(&safe);
    if FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(dir);
    }
    let partial = data_dir.join("models").join(format!("{safe}.partial"));
    std::fs::create_dir_all(&partial)
        .map_err(|e| format!("creating {}: {e}", partial.display()))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    for file in FILES {
        let url = format!("https://huggingface.co/{model_id}/resolve/main/{file}");
        let mut resp = agent.get(&url).call().map_err(|e| {
            format!("cannot download {model_id} ({url}): {e}; download the model directory by other means and pass its path to --embedding-model")
        })?;
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(2 << 30)
            .read_to_vec()
            .map_err(|e| format!("downloading {url}: {e}"))?;
        std::fs::write(partial.join(file), bytes).map_err(|e| format!("writing {file}: {e}"))?;
    }
    std::fs::rename(&partial, &dir).map_err(|e| format!("installing {}: {e}", dir.display()))?;
    Ok(dir)
}
