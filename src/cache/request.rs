//! Validated domain requests: what the core acts on.
//!
//! The edge decodes wire JSON into its own types and converts them into
//! these with `TryFrom`; every field check lives in the constructors here,
//! so the core never sees an unchecked name, TTL, count or threshold. Limits
//! that depend on configuration (text and response sizes) are checked by
//! [`Limits`], also here, when the core receives a request.

use super::layer::{InvalidateFilter, LayerId, RawJson};
use super::scope::{self, Scope};
use crate::error::CacheError;

/// Longest namespace or task type, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The one pattern of namespaces and task types (also in the OpenAPI schema).
pub const NAME_PATTERN: &str = r"^[A-Za-z0-9_.:/-]{1,128}$";
/// Largest `ttl_seconds` accepted at all (ten years); beyond it is a mistake.
pub const ABSURD_TTL_SECONDS: i64 = 10 * 365 * 24 * 3600;
/// Largest token count a caller may report.
pub const MAX_COUNT: i64 = 100_000_000;
/// Longest accepted model id.
pub const MAX_MODEL_LEN: usize = 128;

/// A checked namespace or task type: 1..=128 bytes of `[A-Za-z0-9_.:/-]`.
pub fn name(field: &str, value: Option<&str>, default: &str) -> Result<String, CacheError> {
    let v = value.unwrap_or(default);
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.:/-".contains(c);
    if v.is_empty() || v.len() > MAX_NAME_LEN || !v.chars().all(ok_char) {
        return Err(CacheError::invalid(
            "invalid_name",
            format!(
                "{field} must be 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . : / -, got {v:?}"
            ),
        ));
    }
    Ok(v.to_string())
}

/// A checked request text: present and not blank.
pub fn text(field: &str, text: String) -> Result<String, CacheError> {
    if text.trim().is_empty() {
        return Err(CacheError::invalid(
            "empty_input",
            format!("{field} must be a non-empty string"),
        ));
    }
    Ok(text)
}

/// A checked per-request similarity threshold (0..=1).
pub fn threshold(t: Option<f64>) -> Result<Option<f64>, CacheError> {
    match t {
        Some(t) if !(0.0..=1.0).contains(&t) || !t.is_finite() => Err(CacheError::invalid(
            "invalid_threshold",
            format!("similarity_threshold must be between 0 and 1, got {t}"),
        )),
        other => Ok(other),
    }
}

/// A checked per-entry TTL: positive and not absurd. Capping to the layer
/// maximum happens in the layer.
pub fn ttl(ttl: Option<i64>) -> Result<Option<u64>, CacheError> {
    match ttl {
        None => Ok(None),
        Some(t) if t <= 0 => Err(CacheError::invalid(
            "invalid_ttl",
            format!("ttl_seconds must be positive, got {t}"),
        )),
        Some(t) if t > ABSURD_TTL_SECONDS => Err(CacheError::invalid(
            "invalid_ttl",
            format!("ttl_seconds {t} is more than ten years; layers cap TTLs anyway"),
        )),
        Some(t) => Ok(Some(t as u64)),
    }
}

/// A checked token count given by the caller.
pub fn count(field: &str, v: Option<i64>) -> Result<Option<u64>, CacheError> {
    match v {
        Some(n) if !(0..=MAX_COUNT).contains(&n) => Err(CacheError::invalid(
            "invalid_count",
            format!("{field} must be between 0 and {MAX_COUNT}, got {n}"),
        )),
        other => Ok(other.map(|n| n as u64)),
    }
}

/// A checked model id given by a caller.
pub fn model(field: &str, model: Option<String>) -> Result<Option<String>, CacheError> {
    match model {
        Some(m)
            if m.trim().is_empty()
                || m.len() > MAX_MODEL_LEN
                || m.chars().any(char::is_control) =>
        {
            Err(CacheError::invalid(
                "invalid_model",
                format!(
                    "{field} must be a non-empty model id of at most {MAX_MODEL_LEN} characters"
                ),
            ))
        }
        other => Ok(other),
    }
}

/// The provider's usage block of a model response, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl Usage {
    /// Checks the four counts (each 0..=100,000,000).
    pub fn new(input: i64, output: i64, creation: i64, read: i64) -> Result<Usage, CacheError> {
        let c = |field: &str, v: i64| count(field, Some(v)).map(|n| n.unwrap_or(0));
        Ok(Usage {
            input_tokens: c("usage.input_tokens", input)?,
            output_tokens: c("usage.output_tokens", output)?,
            cache_creation_input_tokens: c("usage.cache_creation_input_tokens", creation)?,
            cache_read_input_tokens: c("usage.cache_read_input_tokens", read)?,
        })
    }
}

/// The prompt-cache TTL a store asks for (`cache_ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CacheTtl {
    /// Anthropic's default: 5 minutes from the last use.
    #[default]
    FiveMinutes,
    OneHour,
}

impl CacheTtl {
    /// Parses `"5m"` / `"1h"` (absent: 5 minutes).
    pub fn parse(field: &str, v: Option<&str>) -> Result<CacheTtl, CacheError> {
        match v {
            None | Some("5m") => Ok(CacheTtl::FiveMinutes),
            Some("1h") => Ok(CacheTtl::OneHour),
            Some(other) => Err(CacheError::invalid(
                "invalid_cache_ttl",
                format!("{field} must be \"5m\" or \"1h\", got {other:?}"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }
}

/// Which layers a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    pub l1: bool,
    pub l2: bool,
    pub l3: bool,
}

impl Layers {
    /// `None` means "yes".
    pub fn from_flags(l1: Option<bool>, l2: Option<bool>, l3: Option<bool>) -> Layers {
        Layers {
            l1: l1.unwrap_or(true),
            l2: l2.unwrap_or(true),
            l3: l3.unwrap_or(true),
        }
    }
}

/// The scope fields every request carries, checked.
#[derive(Debug, Clone)]
pub struct ScopeFields {
    pub namespace: String,
    pub task_type: String,
    pub system_prompt: Option<String>,
}

impl ScopeFields {
    pub fn new(
        namespace: Option<&str>,
        task_type: Option<&str>,
        system_prompt: Option<String>,
    ) -> Result<ScopeFields, CacheError> {
        Ok(ScopeFields {
            namespace: name("namespace", namespace, scope::DEFAULT_NAMESPACE)?,
            task_type: name("task_type", task_type, scope::DEFAULT_TASK_TYPE)?,
            system_prompt,
        })
    }

    /// The scope these fields name.
    pub fn scope(&self) -> Scope {
        Scope::new(
            &self.namespace,
            &self.task_type,
            self.system_prompt.as_deref(),
        )
    }
}

/// `lookup`: is there a cached answer for this request?
#[derive(Debug, Clone)]
pub struct Lookup {
    pub scope: ScopeFields,
    pub input: String,
    pub model: Option<String>,
    pub layers: Layers,
    /// Overrides the L3 threshold for this lookup.
    pub threshold: Option<f64>,
}

impl Lookup {
    /// A lookup of `input` in `scope` with every layer and the defaults.
    pub fn new(scope: ScopeFields, input: String) -> Result<Lookup, CacheError> {
        Ok(Lookup {
            scope,
            input: text("input_text", input)?,
            model: None,
            layers: Layers::from_flags(None, None, None),
            threshold: None,
        })
    }
}

/// `store`: a model answer to cache.
#[derive(Debug, Clone)]
pub struct Store {
    pub scope: ScopeFields,
    pub input: String,
    pub response: RawJson,
    pub model: Option<String>,
    pub tokens_used: Option<u64>,
    pub layers: Layers,
    pub ttl_seconds: Option<u64>,
    pub cache_ttl: CacheTtl,
    pub system_prompt_tokens: Option<u64>,
    pub usage: Option<Usage>,
}

impl Store {
    /// A store of `response` for `input` in `scope` with every layer and the
    /// defaults. `response` must not be JSON `null`.
    pub fn new(scope: ScopeFields, input: String, response: RawJson) -> Result<Store, CacheError> {
        if response.get().trim() == "null" {
            return Err(CacheError::invalid(
                "invalid_response",
                "response_data must not be null",
            ));
        }
        Ok(Store {
            scope,
            input: text("input_text", input)?,
            response,
            model: None,
            tokens_used: None,
            layers: Layers::from_flags(None, None, None),
            ttl_seconds: None,
            cache_ttl: CacheTtl::FiveMinutes,
            system_prompt_tokens: None,
            usage: None,
        })
    }

    /// Checks that at least one layer is asked for.
    pub fn check_layers(&self) -> Result<(), CacheError> {
        if !self.layers.l1 && !self.layers.l2 && !self.layers.l3 {
            return Err(CacheError::invalid(
                "nothing_to_store",
                "store_in_l1, store_in_l2 and store_in_l3 are all false",
            ));
        }
        Ok(())
    }
}

/// `invalidate`: which entries to remove.
#[derive(Debug, Clone)]
pub struct Invalidate {
    /// Only this layer; `None`: every layer.
    pub layer: Option<LayerId>,
    pub filter: InvalidateFilter,
}

impl Invalidate {
    /// Checks the filter fields; an empty filter must say `all`.
    pub fn new(
        layer: Option<&str>,
        namespace: Option<&str>,
        task_type: Option<&str>,
        entry_id: Option<&str>,
        all: bool,
    ) -> Result<Invalidate, CacheError> {
        let layer = layer.map(LayerId::parse).transpose()?;
        let namespace = namespace
            .map(|n| name("namespace", Some(n), ""))
            .transpose()?;
        let task_type = task_type
            .map(|t| name("task_type", Some(t), ""))
            .transpose()?;
        let entry_key = match entry_id {
            None => None,
            Some(id) => Some(scope::parse_entry_id(id).ok_or_else(|| {
                CacheError::invalid(
                    "invalid_entry_id",
                    format!("entry_id must be 32 hex digits, got {id:?}"),
                )
            })?),
        };
        let filter = InvalidateFilter {
            namespace,
            task_type,
            entry_key,
        };
        let unfiltered =
            filter.namespace.is_none() && filter.task_type.is_none() && filter.entry_key.is_none();
        if unfiltered && layer.is_none() && !all {
            return Err(CacheError::invalid(
                "missing_filter",
                "name a layer, namespace, task_type or entry_id, or send \"all\": true to clear everything",
            ));
        }
        Ok(Invalidate { layer, filter })
    }
}

/// A verdict on a served hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    Right,
}

impl Verdict {
    pub fn parse(v: &str) -> Result<Verdict, CacheError> {
        match v {
            "wrong" => Ok(Verdict::Wrong),
            "right" => Ok(Verdict::Right),
            other => Err(CacheError::invalid(
                "invalid_verdict",
                format!("verdict must be \"wrong\" or \"right\", got {other:?}"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Wrong => "wrong",
            Verdict::Right => "right",
        }
    }
}

/// `feedback`: a served hit was wrong (or right) for this request.
#[derive(Debug, Clone)]
pub struct Feedback {
    pub entry_key: u128,
    /// The lookup's text: the request the entry answered.
    pub input: String,
    pub verdict: Verdict,
}

impl Feedback {
    pub fn new(entry_id: &str, input: String, verdict: &str) -> Result<Feedback, CacheError> {
        let entry_key = scope::parse_entry_id(entry_id).ok_or_else(|| {
            CacheError::invalid(
                "invalid_entry_id",
                format!("entry_id must be 32 hex digits, got {entry_id:?}"),
            )
        })?;
        Ok(Feedback {
            entry_key,
            input: text("input_text", input)?,
            verdict: Verdict::parse(verdict)?,
        })
    }
}

/// Limits on what one request may carry, from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_input_bytes: usize,
    pub max_response_bytes: usize,
}

impl Limits {
    /// Checks a request text against the size limit.
    pub fn check_input(&self, text: &str) -> Result<(), CacheError> {
        if text.len() > self.max_input_bytes {
            return Err(CacheError::invalid(
                "input_too_long",
                format!(
                    "input_text is {} bytes; the limit is {}",
                    text.len(),
                    self.max_input_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Checks a response against the size limit.
    pub fn check_response(&self, r: &RawJson) -> Result<(), CacheError> {
        if r.get().len() > self.max_response_bytes {
            return Err(CacheError::invalid(
                "response_too_large",
                format!(
                    "response_data is {} bytes; the limit is {}",
                    r.get().len(),
                    self.max_response_bytes
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn names_are_checked() {
        assert_eq!(name("namespace", None, "default").unwrap(), "default");
        assert!(name("namespace", Some("team-a/prod:1"), "d").is_ok());
        assert!(name("namespace", Some(""), "d").is_err());
        assert!(name("namespace", Some("has space"), "d").is_err());
        assert!(name("namespace", Some(&"x".repeat(129)), "d").is_err());
    }

    #[test]
    fn ttls_thresholds_and_counts_are_checked() {
        assert!(ttl(Some(-1)).is_err());
        assert!(ttl(Some(0)).is_err());
        assert!(ttl(Some(i64::MAX)).is_err());
        assert_eq!(ttl(Some(60)).unwrap(), Some(60));
        assert!(threshold(Some(1.5)).is_err());
        assert!(threshold(Some(-0.1)).is_err());
        assert!(threshold(Some(f64::NAN)).is_err());
        assert_eq!(threshold(Some(0.9)).unwrap(), Some(0.9));
        assert!(count("n", Some(-1)).is_err());
        assert!(Usage::new(1, 2, 3, -4).is_err());
        assert_eq!(Usage::new(1, 2, 3, 4).unwrap().cache_read_input_tokens, 4);
    }

    #[test]
    fn blank_input_null_response_and_sizes_are_refused() {
        let scope = ScopeFields::new(None, None, None).unwrap();
        assert!(Lookup::new(scope.clone(), "  \n".into()).is_err());
        let null: RawJson = RawValue::from_string("null".into()).unwrap().into();
        assert!(Store::new(scope.clone(), "q".into(), null).is_err());
        let limits = Limits {
            max_input_bytes: 5,
            max_response_bytes: 3,
        };
        assert!(limits.check_input("hello world").is_err());
        let big: RawJson = RawValue::from_string("[1,2,3]".into()).unwrap().into();
        assert!(limits.check_response(&big).is_err());
    }

    #[test]
    fn invalidate_needs_a_filter_or_all() {
        let code = |r: Result<Invalidate, CacheError>| r.unwrap_err().code();
        assert_eq!(
            code(Invalidate::new(None, None, None, None, false)),
            "missing_filter"
        );
        assert!(Invalidate::new(None, None, None, None, true).is_ok());
        assert_eq!(
            code(Invalidate::new(None, None, None, Some("xyz"), false)),
            "invalid_entry_id"
        );
        assert_eq!(
            code(Invalidate::new(Some("L9"), None, None, None, false)),
            "unknown_layer"
        );
    }
}
