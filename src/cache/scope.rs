//! Scopes and keys: which entries may ever match each other.
//!
//! An entry belongs to a scope `(namespace, task_type, system-prompt
//! fingerprint)`. Keys are xxh3 hashes over a length-prefixed encoding, so no
//! two different field tuples can encode to the same bytes (`"a" + "bc"` and
//! `"ab" + "c"` differ).

use xxhash_rust::xxh3::{xxh3_128, xxh3_64, xxh3_64_with_seed};

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

    /// Calls `f` with the encoding of (scope, `input`), built on the stack
    /// when it is short (the lookup path allocates nothing for it).
    fn with_entry_bytes<T>(&self, input: &str, f: impl FnOnce(&[u8]) -> T) -> T {
        let fields = [
            self.namespace.as_bytes(),
            self.task_type.as_bytes(),
            input.as_bytes(),
        ];
        let len = 3 * 8 + 16 + fields.iter().map(|f| f.len()).sum::<usize>();
        if len > 512 {
            let mut buf = Vec::with_capacity(len);
            self.encode(&mut buf);
            push_field(&mut buf, input.as_bytes());
            return f(&buf);
        }
        let mut buf = [0u8; 512];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&(fields[0].len() as u64).to_le_bytes());
        put(fields[0]);
        put(&(fields[1].len() as u64).to_le_bytes());
        put(fields[1]);
        put(&self.prompt_fp.to_le_bytes());
        put(&(fields[2].len() as u64).to_le_bytes());
        put(fields[2]);
        f(&buf[..len])
    }

    /// The entry key of `input` in this scope: xxh3-128 of scope and text.
    pub fn entry_key(&self, input: &str) -> u128 {
        self.with_entry_bytes(input, xxh3_128)
    }

    /// The entry key and a second, independent 64-bit hash of the same
    /// bytes (xxh3-64 with its own seed). Together they are 192 bits: what
    /// L2's hot path compares instead of the stored strings.
    pub fn entry_hashes(&self, input: &str) -> (u128, u64) {
        self.with_entry_bytes(input, |b| (xxh3_128(b), xxh3_64_with_seed(b, CHECK_SEED)))
    }
}

/// Seed of the second hash of [`Scope::entry_hashes`].
const CHECK_SEED: u64 = 0x6865_6c69_6f73_4c32; // "heliosL2"

/// The 32 lower-case hex digits of an entry key.
fn hex_digits(key: u128) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, d) in out.iter_mut().enumerate() {
        *d = HEX[(key >> (4 * (31 - i))) as usize & 0xf];
    }
    out
}

/// Formats an entry key as the 32-hex-digit `entry_id` of the API.
pub fn entry_id(key: u128) -> String {
    entry_id_shared(key).to_string()
}

/// [`entry_id`] as a shared string (one allocation, cheap to clone).
pub fn entry_id_shared(key: u128) -> std::sync::Arc<str> {
    let digits = hex_digits(key);
    // Only ASCII hex digits were written.
    std::sync::Arc::from(std::str::from_utf8(&digits).unwrap_or_default())
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
    fn entry_ids_are_32_lower_hex_digits() {
        for k in [
            0u128,
            1,
            0xabc,
            u128::MAX,
            Scope::new("n", "t", None).entry_key("i"),
        ] {
            assert_eq!(entry_id(k), format!("{k:032x}"));
            assert_eq!(&*entry_id_shared(k), format!("{k:032x}"));
        }
    }

    #[test]
    fn short_and_long_entries_encode_alike() {
        // 44 bytes of scope + input: the stack buffer (512) ends at 468.
        let s = Scope::new("ns", "qa", Some("sys"));
        for n in [0, 1, 466, 467, 468, 469, 470, 600, 5000] {
            let input = "é".repeat(n / 2) + &"x".repeat(n % 2);
            let mut buf = Vec::new();
            s.encode(&mut buf);
            push_field(&mut buf, input.as_bytes());
            assert_eq!(s.entry_key(&input), xxh3_128(&buf), "input of {n} bytes");
            assert_eq!(
                s.entry_hashes(&input).1,
                xxh3_64_with_seed(&buf, CHECK_SEED)
            );
        }
    }

    #[test]
    fn the_check_hash_is_independent_of_the_key() {
        let s = Scope::new("ns", "qa", Some("sys"));
        let (k, c) = s.entry_hashes("hello");
        assert_eq!(k, s.entry_key("hello"));
        assert_ne!(c, k as u64);
        assert_ne!(c, (k >> 64) as u64);
        assert_ne!(c, s.entry_hashes("hello ").1);
        assert_ne!(c, Scope::new("ns", "qa", None).entry_hashes("hello").1);
    }

    #[test]
    fn entry_ids_round_trip() {
        let k = Scope::new("n", "t", None).entry_key("i");
        assert_eq!(parse_entry_id(&entry_id(k)), Some(k));
        assert_eq!(parse_entry_id("zz"), None);
        assert_eq!(parse_entry_id(&"g".repeat(32)), None);
    }
}
