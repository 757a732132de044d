//! Scopes and keys: which entries may ever match each other.
//!
//! An entry belongs to a scope `(namespace, task_type, system-prompt
//! fingerprint)`. Keys are xxh3 hashes over a length-prefixed encoding, so no
//! two different field tuples can encode to the same bytes (`"a" + "bc"` and
//! `"ab" + "c"` differ).

use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// Default namespace when a request names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Default task type when a request names none.
pub const DEFAULT_TASK_TYPE: &str = "general";

/// The isolation unit of L2 and L3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub namespace: String,
    pub task_type: String,
    /// Fingerprint of the system prompt; 0 when there is none.
    pub prompt_fp: u128,
}

/// Fingerprint of a system prompt. No prompt and an empty prompt are the same.
pub fn prompt_fingerprint(system_prompt: Option<&str>) -> u128 {
    match system_prompt {
        None | Some("") => 0,
        Some(p) => xxh3_128(p.as_bytes()) | 1,
    }
}

pub(crate) fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_le_bytes());
    out.extend_from_slice(field);
}

impl Scope {
    pub fn new(namespace: &str, task_type: &str, system_prompt: Option<&str>) -> Scope {
        Scope {
            namespace: namespace.to_string(),
            task_type: task_type.to_string(),
            prompt_fp: prompt_fingerprint(system_prompt),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        push_field(out, self.namespace.as_bytes());
        push_field(out, self.task_type.as_bytes());
        out.extend_from_slice(&self.prompt_fp.to_le_bytes());
    }

    /// A 64-bit id of the scope, used to partition the vector index.
    pub fn id(&self) -> u64 {
        let mut buf = Vec::with_capacity(64);
        self.encode(&mut buf);
        xxh3_64(&buf)
    }

    /// The entry key of `input` in this scope: xxh3-128 of scope and text.
    pub fn entry_key(&self, input: &str) -> u128 {
        let mut buf = Vec::with_capacity(64 + input.len());
        self.encode(&mut buf);
        push_field(&mut buf, input.as_bytes());
        xxh3_128(&buf)
    }
}

/// Formats an entry key as the 32-hex-digit `entry_id` of the API.
pub fn entry_id(key: u128) -> String {
    format!("{key:032x}")
}

/// Parses an `entry_id`; `None` unless it is exactly 32 hex digits.
pub fn parse_entry_id(id: &str) -> Option<u128> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(id, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = Scope::new("a", "bc", None);
        let b = Scope::new("ab", "c", None);
        assert_ne!(a.entry_key("x"), b.entry_key("x"));
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn every_scope_part_changes_the_key() {
        let base = Scope::new("ns", "qa", Some("sys"));
        let k = base.entry_key("hello");
        assert_ne!(k, Scope::new("ns2", "qa", Some("sys")).entry_key("hello"));
        assert_ne!(k, Scope::new("ns", "qa2", Some("sys")).entry_key("hello"));
        assert_ne!(k, Scope::new("ns", "qa", Some("sys2")).entry_key("hello"));
        assert_ne!(k, Scope::new("ns", "qa", None).entry_key("hello"));
        assert_ne!(k, base.entry_key("hello "));
        assert_eq!(k, Scope::new("ns", "qa", Some("sys")).entry_key("hello"));
    }

    #[test]
    fn empty_prompt_is_no_prompt() {
        assert_eq!(prompt_fingerprint(Some("")), prompt_fingerprint(None));
        assert_ne!(prompt_fingerprint(Some("x")), 0);
    }

    #[test]
    fn entry_ids_round_trip() {
        let k = Scope::new("n", "t", None).entry_key("i");
        assert_eq!(parse_entry_id(&entry_id(k)), Some(k));
        assert_eq!(parse_entry_id("zz"), None);
        assert_eq!(parse_entry_id(&"g".repeat(32)), None);
    }
}
