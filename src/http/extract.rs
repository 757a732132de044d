//! Reading request bodies: size and time limits, nesting depth, and JSON
//! decoding with an error code that says what is wrong; plus [`blocking`],
//! which runs disk-bound cache work off the HTTP workers.

use actix_web::web;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::ServerSettings;
use crate::error::CacheError;

/// Reads the whole body, refusing more than the body limit, and decodes it.
pub async fn read_json<T: DeserializeOwned>(
    payload: web::Payload,
    settings: &ServerSettings,
) -> Result<T, ApiError> {
    let limit = settings.body_limit;
    let timeout = std::time::Duration::from_millis(settings.request_timeout_ms);
    // A slow or half-sent body must not hold a worker forever.
    let read = actix_web::rt::time::timeout(timeout, payload.to_bytes_limited(limit));
    let bytes = match read.await {
        Err(_) => {
            return Err(CacheError::Timeout(format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ))
            .into())
        }
        Ok(Ok(Ok(b))) => b,
        // The outer error is the limit; the inner one a broken stream.
        Ok(Err(_)) => {
            return Err(CacheError::TooLarge(format!(
                "request body is larger than the {limit}-byte limit"
            ))
            .into())
        }
        Ok(Ok(Err(e))) => {
            return Err(CacheError::invalid("bad_body", format!("cannot read body: {e}")).into())
        }
    };
    let depth = json_depth(&bytes);
    if depth > settings.max_json_depth {
        return Err(CacheError::invalid(
            "too_deep",
            format!(
                "JSON nesting depth {depth} exceeds the limit of {}",
                settings.max_json_depth
            ),
        )
        .into());
    }
    decode(&bytes).map_err(ApiError)
}

/// Decodes a JSON object body into `T`, classifying what is wrong with it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CacheError> {
    use serde_json::error::Category;
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            CacheError::invalid("malformed_json", format!("body is not valid JSON: {e}"))
        }
        Category::Data => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first != Some(&b'{') {
                CacheError::invalid("not_an_object", "body must be a JSON object")
            } else {
                CacheError::invalid("invalid_request", e.to_string())
            }
        }
    })
}

/// The deepest nesting of arrays and objects in a JSON text (strings are
/// skipped), found without parsing, so a hostile body is refused cheaply.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Runs blocking cache work (disk writes, index updates) off the workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, ApiError> {
    match web::block(f).await {
        Ok(r) => r.map_err(ApiError),
        Err(_) => Err(CacheError::Unavailable("the server is shutting down".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::LookupRequest;

    #[test]
    fn json_depth_counts_nesting_outside_strings() {
        assert_eq!(json_depth(br#"{"a": 1}"#), 1);
        assert_eq!(json_depth(br#"{"a": [[{"b": 2}]]}"#), 4);
        assert_eq!(json_depth(br#"{"a": "[[[[\"{{"}"#), 1);
        assert_eq!(json_depth(b"12"), 0);
    }

    #[test]
    fn decode_classifies_errors() {
        let code = |b: &[u8]| decode::<LookupRequest>(b).unwrap_err().code();
        assert_eq!(code(b"{not json"), "malformed_json");
        assert_eq!(code(b""), "malformed_json");
        assert_eq!(code(b"[1,2]"), "not_an_object");
        assert_eq!(code(b"\"text\""), "not_an_object");
        assert_eq!(code(br#"{"use_l1": "yes"}"#), "invalid_request");
        assert_eq!(code(br#"{"input_text": 5}"#), "invalid_request");
        assert!(decode::<LookupRequest>(br#"{"input_text": "hi"}"#).is_ok());
    }
}
