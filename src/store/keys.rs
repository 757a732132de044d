//! Key layout inside the `entries` tree: a one-byte layer prefix, then a
//! record (`e`), expiry-index (`x`) or persisted-counts (`c`) marker, then
//! big-endian fields so that keys sort by layer, kind and expiry time.

/// Record of entry `key` in `layer` (`b'1'`, `b'2'`, `b'3'`).
pub fn record(layer: u8, key: u128) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[0] = layer;
    k[1] = b'e';
    k[2..].copy_from_slice(&key.to_be_bytes());
    k
}

/// Prefix of every record of `layer`.
pub fn record_prefix(layer: u8) -> [u8; 2] {
    [layer, b'e']
}

/// Expiry-index key: sorts by expiry time, then entry key.
pub fn expiry(layer: u8, expires_ms: u64, key: u128) -> [u8; 26] {
    let mut k = [0u8; 26];
    k[0] = layer;
    k[1] = b'x';
    k[2..10].copy_from_slice(&expires_ms.to_be_bytes());
    k[10..].copy_from_slice(&key.to_be_bytes());
    k
}

/// Prefix of the expiry index of `layer`.
pub fn expiry_prefix(layer: u8) -> [u8; 2] {
    [layer, b'x']
}

/// Persisted record count and bytes of one lock stripe of `layer`: written
/// in the same atomic batch as the records it counts (see `cache::records`).
pub fn counts(layer: u8, stripe: u8) -> [u8; 3] {
    [layer, b'c', stripe]
}

/// Prefix of the persisted counts of `layer`.
pub fn counts_prefix(layer: u8) -> [u8; 2] {
    [layer, b'c']
}

/// Whether `k` is a persisted-counts key (not a record or expiry key).
pub fn is_counts(k: &[u8]) -> bool {
    k.len() == 3 && k[1] == b'c'
}

/// Splits an expiry-index key into (expires_ms, key).
pub fn parse_expiry(k: &[u8]) -> Option<(u64, u128)> {
    if k.len() != 26 {
        return None;
    }
    let exp = u64::from_be_bytes(k[2..10].try_into().ok()?);
    let key = u128::from_be_bytes(k[10..].try_into().ok()?);
    Some((exp, key))
}

/// The entry key of a record key.
pub fn parse_record(k: &[u8]) -> Option<u128> {
    Some(u128::from_be_bytes(k.get(2..18)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_sort_by_time_and_round_trip() {
        let a = expiry(b'2', 5, u128::MAX);
        let b = expiry(b'2', 6, 0);
        assert!(a < b);
        assert_eq!(parse_expiry(&a), Some((5, u128::MAX)));
        assert_eq!(parse_record(&record(b'2', 77)), Some(77));
    }
}
