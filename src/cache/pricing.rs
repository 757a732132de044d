//! The model table: per-model prices and Anthropic prompt-cache minimums.
//!
//! Prices are US dollars per million tokens. The defaults are Anthropic's
//! published prices; a TOML `[[models]]` entry with the same `name` replaces a
//! default, a new name adds a model, and the entry named `default` prices
//! unknown models.

use serde::{Deserialize, Serialize};

/// One model family: prices and the shortest prefix the provider will cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Family id, e.g. `claude-sonnet-4-5`. Dated ids map to it.
    pub name: String,
    /// Other ids of the same family, e.g. `claude-3-7-sonnet`.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
    /// Minimum cacheable prompt length in tokens.
    pub min_cache_tokens: u64,
}

/// Resolved table with lookups by any id.
#[derive(Debug, Clone)]
pub struct PriceTable {
    models: Vec<ModelSpec>,
    fallback: ModelSpec,
}

#[allow(clippy::too_many_arguments)]
fn spec(
    name: &str,
    aliases: &[&str],
    input: f64,
    output: f64,
    write_5m: f64,
    write_1h: f64,
    read: f64,
    min: u64,
) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        input,
        output,
        cache_write_5m: write_5m,
        cache_write_1h: write_1h,
        cache_read: read,
        min_cache_tokens: min,
    }
}

/// Anthropic's published prices (USD / MTok) and cache minimums.
fn defaults() -> Vec<ModelSpec> {
    vec![
        spec("claude-opus-4-6", &[], 5.0, 25.0, 6.25, 10.0, 0.5, 4096),
        spec("claude-opus-4-5", &[], 5.0, 25.0, 6.25, 10.0, 0.5, 4096),
        spec("claude-opus-4-1", &[], 15.0, 75.0, 18.75, 30.0, 1.5, 1024),
        spec(
            "claude-opus-4",
            &["claude-opus-4-0", "claude-4-opus"],
            15.0,
            75.0,
            18.75,
            30.0,
            1.5,
            1024,
        ),
        spec("claude-sonnet-4-6", &[], 3.0, 15.0, 3.75, 6.0, 0.3, 2048),
        spec("claude-sonnet-4-5", &[], 3.0, 15.0, 3.75, 6.0, 0.3, 1024),
        spec(
            "claude-sonnet-4",
            &["claude-sonnet-4-0", "claude-4-sonnet"],
            3.0,
            15.0,
            3.75,
            6.0,
            0.3,
            1024,
        ),
        spec(
            "claude-sonnet-3-7",
            &["claude-3-7-sonnet"],
            3.0,
            15.0,
            3.75,
            6.0,
            0.3,
            1024,
        ),
        spec("claude-haiku-4-5", &[], 1.0, 5.0, 1.25, 2.0, 0.1, 4096),
        spec(
            "claude-haiku-3-5",
            &["claude-3-5-haiku"],
            0.8,
            4.0,
            1.0,
            1.6,
            0.08,
            2048,
        ),
        spec(
            "claude-haiku-3",
            &["claude-3-haiku"],
            0.25,
            1.25,
            0.3,
            0.5,
            0.03,
            2048,
        ),
    ]
}

/// Unknown models: Sonnet-class prices and the smallest cache minimum.
fn default_fallback() -> ModelSpec {
    spec("default", &[], 3.0, 15.0, 3.75, 6.0, 0.3, 1024)
}

/// Strips a trailing `-YYYYMMDD` date and `-latest`, and lowercases.
pub fn normalize_model_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    let id = id.strip_suffix("-latest").unwrap_or(&id).to_string();
    match id.rsplit_once('-') {
        Some((head, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_string()
        }
        _ => id,
    }
}

/// Dollars as whole nano-dollars (how counters keep money).
pub fn nano(dollars: f64) -> u64 {
    (dollars * 1e9).round().max(0.0) as u64
}

impl PriceTable {
    /// Defaults with `overrides` applied (same name replaces, new name adds).
    pub fn with_overrides(overrides: Vec<ModelSpec>) -> Result<PriceTable, String> {
        let mut models = defaults();
        let mut fallback = default_fallback();
        for o in overrides {
            o.check()?;
            if o.name == "default" {
                fallback = o;
            } else if let Some(slot) = models.iter_mut().find(|m| m.name == o.name) {
                *slot = o;
            } else {
                models.push(o);
            }
        }
        Ok(PriceTable { models, fallback })
    }

    /// The spec for `model` (any dated or aliased id), or `None` if unknown.
    pub fn find(&self, model: &str) -> Option<&ModelSpec> {
        let id = normalize_model_id(model);
        self.models
            .iter()
            .find(|m| m.name == id || m.aliases.contains(&id))
    }

    /// The spec for `model`, falling back to the `default` entry.
    pub fn get(&self, model: &str) -> &ModelSpec {
        self.find(model).unwrap_or(&self.fallback)
    }

    /// All known models, for reports.
    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    /// The fallback entry for unknown models.
    pub fn fallback(&self) -> &ModelSpec {
        &self.fallback
    }
}

impl ModelSpec {
    fn check(&self) -> Result<(), String> {
        let prices = [
            self.input,
            self.output,
            self.cache_write_5m,
            self.cache_write_1h,
            self.cache_read,
        ];
        if self.name.is_empty() {
            return Err("a [[models]] entry has an empty name".into());
        }
        if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(format!(
                "model {}: prices must be finite and >= 0",
                self.name
            ));
        }
        if self.min_cache_tokens == 0 {
            return Err(format!("model {}: min_cache_tokens must be > 0", self.name));
        }
        Ok(())
    }

    /// Dollars for `tokens` at `per_mtok` dollars per million tokens.
    pub fn dollars(tokens: u64, per_mtok: f64) -> f64 {
        tokens as f64 * per_mtok / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_aliased_ids_map_to_families() {
        let t = PriceTable::with_overrides(vec![]).unwrap();
        assert_eq!(
            t.get("claude-sonnet-4-5-20250929").name,
            "claude-sonnet-4-5"
        );
        assert_eq!(
            t.get("claude-3-7-sonnet-20250219").name,
            "claude-sonnet-3-7"
        );
        assert_eq!(t.get("claude-3-5-haiku-latest").name, "claude-haiku-3-5");
        assert_eq!(t.get("claude-opus-4").min_cache_tokens, 1024);
        assert_eq!(t.get("claude-opus-4-5").min_cache_tokens, 4096);
        assert_eq!(t.get("claude-sonnet-4-6").min_cache_tokens, 2048);
        assert_eq!(t.get("gpt-4o").name, "default");
        assert!(t.find("gpt-4o").is_none());
    }

    #[test]
    fn overrides_replace_add_and_set_fallback() {
        let mut o = default_fallback();
        o.name = "claude-haiku-4-5".into();
        o.min_cache_tokens = 1;
        let mut f = default_fallback();
        f.input = 9.0;
        let t = PriceTable::with_overrides(vec![o, f]).unwrap();
        assert_eq!(t.get("claude-haiku-4-5").min_cache_tokens, 1);
        assert_eq!(t.get("unknown").input, 9.0);
    }

    #[test]
    fn negative_prices_are_refused() {
        let mut o = default_fallback();
        o.output = -1.0;
        assert!(PriceTable::with_overrides(vec![o]).is_err());
    }
}
