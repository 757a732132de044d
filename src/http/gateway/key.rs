//! What a provider request is, as far as the cache is concerned: its scope
//! (namespace, system prompt, model family and the parameters that change
//! the answer), the text it is keyed by, and which layers may answer it.
//!
//! Until the core keys whole conversations itself (issue 11), a request is
//! keyed like this:
//!
//! - **single turn** (one user message whose content is one text): the key
//!   text is that text, and L3 may answer a paraphrase of it;
//! - **anything else** (history, tool results, images, documents, several
//!   blocks): the key text is the canonical JSON of the whole message list
//!   (roles and contents), and only L2 (exact) may answer.
//!
//! Everything else in the body that can change the answer — `tools`,
//! `tool_choice`, `max_tokens`, `temperature`, `top_p`, `stop_sequences`,
//! `thinking`, `response_format`, `n`, `seed`, and any field not known to be
//! harmless — is hashed into the scope's task type together with the model
//! family, so two requests share entries only when all of it is equal. Left
//! out because they do not change the answer: `stream` (a hit is replayed in
//! either form), `stream_options`, `metadata`, `user`, `store`,
//! `service_tier`, and every `cache_control` (the breakpoints only decide
//! what the provider caches).
//!
//! Switching to the core's conversation support means replacing
//! [`conversation_key`] by the core's message list; nothing else changes.

use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_64;

use crate::cache::l1::model_family;
use crate::cache::pricing::PriceTable;
use crate::cache::request::ScopeFields;

/// The provider dialect of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI Chat Completions (and compatible servers).
    OpenAi,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }

    /// Top-level fields that do not change the answer.
    fn neutral_fields(self) -> &'static [&'static str] {
        match self {
            Provider::Anthropic => &["messages", "system", "stream", "metadata", "service_tier"],
            Provider::OpenAi => &[
                "messages",
                "stream",
                "stream_options",
                "metadata",
                "user",
                "store",
                "service_tier",
            ],
        }
    }
}

/// A request as the cache sees it.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub scope: ScopeFields,
    /// The L2 key text (and the L3 text for single turns).
    pub input: String,
    pub model: String,
    /// Whether L3 may answer (single-turn text only).
    pub l3: bool,
    pub stream: bool,
    /// The explicit `temperature`, if any.
    pub temperature: Option<f64>,
    /// OpenAI: `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Writes `v` as JSON with object keys sorted and every `cache_control`
/// member left out, so equal requests give equal text however they were
/// serialised.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().filter(|k| *k != "cache_control").collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn canonical_string(v: &Value) -> String {
    let mut s = String::new();
    canonical(v, &mut s);
    s
}

/// The text of content that is one string or one text block (ignoring its
/// `cache_control`); `None` for anything richer.
fn single_text(content: &Value) -> Option<&str> {
    match content {
        Value::String(s) => Some(s),
        Value::Array(blocks) if blocks.len() == 1 => {
            let b = blocks[0].as_object()?;
            let only_text = b
                .keys()
                .all(|k| k == "type" || k == "text" || k == "cache_control");
            (b.get("type")?.as_str()? == "text" && only_text)
                .then(|| b.get("text")?.as_str())
                .flatten()
        }
        _ => None,
    }
}

/// The key text of a message list: the canonical JSON of roles and contents.
pub fn conversation_key(messages: &[Value]) -> String {
    canonical_string(&Value::Array(messages.to_vec()))
}

/// Why a request is not cacheable (it is passed through as it is; the
/// upstream judges it).
pub type NotCacheable = &'static str;

/// Keys a request body of `provider` in `namespace`.
pub fn key(
    provider: Provider,
    body: &Map<String, Value>,
    namespace: &str,
    prices: &PriceTable,
) -> Result<Keyed, NotCacheable> {
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        _ => return Err("no model"),
    };
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m.as_slice(),
        _ => return Err("no messages"),
    };
    if messages.iter().any(|m| !m.is_object()) {
        return Err("a message is not an object");
    }
    let (system, turns): (Option<String>, &[Value]) = match provider {
        Provider::Anthropic => {
            let system = match body.get("system") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v @ Value::Array(_)) => match single_text(v) {
                    Some(t) => Some(t.to_string()),
                    None => Some(canonical_string(v)),
                },
                Some(_) => return Err("system is neither text nor blocks"),
            };
            (system, messages)
        }
        Provider::OpenAi => {
            // Leading system / developer messages are the system prompt.
            let n = messages
                .iter()
                .take_while(|m| {
                    matches!(
                        m.get("role").and_then(Value::as_str),
                        Some("system") | Some("developer")
                    )
                })
                .count();
            let system = match n {
                0 => None,
                1 => {
                    let m = &messages[0];
                    let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
                    match m.get("content").and_then(single_text) {
                        Some(t) if role == "system" => Some(t.to_string()),
                        _ => Some(canonical_string(&Value::Array(messages[..1].to_vec()))),
                    }
                }
                _ => Some(canonical_string(&Value::Array(messages[..n].to_vec()))),
            };
            (system, &messages[n..])
        }
    };
    if turns.is_empty() {
        return Err("no user turn");
    }
    let single = match turns {
        [m] if m.get("role").and_then(Value::as_str) == Some("user") => m
            .get("content")
            .and_then(single_text)
            .filter(|t| !t.trim().is_empty()),
        _ => None,
    };
    let (input, l3, shape) = match single {
        Some(text) => (text.to_string(), true, "t"),
        None => (conversation_key(turns), false, "c"),
    };

    // The parameters that change the answer, with the model family.
    let (family, _) = model_family(prices, &model);
    let mut params = Map::new();
    for (k, v) in body {
        if !provider.neutral_fields().contains(&k.as_str()) && k != "model" {
            params.insert(k.clone(), v.clone());
        }
    }
    params.insert("model".into(), Value::String(family));
    let hash = xxh3_64(canonical_string(&Value::Object(params)).as_bytes());
    let task_type = format!("gw.{}.{shape}.{hash:016x}", provider.name());
    let scope =
        ScopeFields::new(Some(namespace), Some(&task_type), system).map_err(|_| "bad namespace")?;
    Ok(Keyed {
        scope,
        input,
        model,
        l3,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        temperature: body.get("temperature").and_then(Value::as_f64),
        include_usage: body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Whether any `cache_control` appears in the system prompt, tools or
/// messages (the caller placed its own breakpoints).
pub fn has_cache_control(body: &Map<String, Value>) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.contains_key("cache_control") || m.values().any(walk),
            Value::Array(a) => a.iter().any(walk),
            _ => false,
        }
    }
    ["system", "tools", "messages"]
        .iter()
        .any(|k| body.get(*k).is_some_and(walk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prices() -> PriceTable {
        PriceTable::with_overrides(vec![]).unwrap()
    }

    fn k(p: Provider, v: Value) -> Result<Keyed, NotCacheable> {
        key(p, v.as_object().unwrap(), "default", &prices())
    }

    fn entry(kd: &Keyed) -> u128 {
        kd.scope.scope().entry_key(&kd.input)
    }

    #[test]
    fn canonical_sorts_keys_and_drops_cache_control() {
        let a = json!({"b": 1, "a": [{"y": "x", "cache_control": {"type": "ephemeral"}}]});
        let b = json!({"a": [{"y": "x"}], "b": 1});
        assert_eq!(canonical_string(&a), canonical_string(&b));
        assert_eq!(canonical_string(&b), r#"{"a":[{"y":"x"}],"b":1}"#);
    }

    #[test]
    fn single_turn_is_keyed_by_its_text_and_may_use_l3() {
        let a = k(
            Provider::Anthropic,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "system": "S",
                   "messages": [{"role": "user", "content": "Hello"}]}),
        )
        .unwrap();
        assert_eq!(a.input, "Hello");
        assert!(a.l3);
        assert_eq!(a.scope.system_prompt.as_deref(), Some("S"));
        // Block form, stream, metadata and breakpoints do not change the key.
        let b = k(
            Provider::Anthropic,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "stream": true,
                   "metadata": {"user_id": "u"},
                   "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}),
        )
        .unwrap();
        assert_eq!(entry(&a), entry(&b));
        assert!(b.stream);
    }

    #[test]
    fn answer_changing_fields_change_the_key() {
        let base = json!({"model": "claude-sonnet-4-5", "max_tokens": 10,
                          "messages": [{"role": "user", "content": "Hello"}]});
        let e = entry(&k(Provider::Anthropic, base.clone()).unwrap());
        for (f, v) in [
            ("max_tokens", json!(11)),
            ("temperature", json!(0.5)),
            ("tools", json!([{"name": "t"}])),
            ("model", json!("claude-opus-4-5")),
            ("system", json!("other")),
        ] {
            let mut b = base.clone();
            b[f] = v;
            assert_ne!(e, entry(&k(Provider::Anthropic, b).unwrap()), "{f}");
        }
        let other_ns = key(
            Provider::Anthropic,
            base.as_object().unwrap(),
            "team-b",
            &prices(),
        )
        .unwrap();
        assert_ne!(e, entry(&other_ns));
    }

    #[test]
    fn conversations_and_rich_content_are_l2_only() {
        let conv = k(
            Provider::Anthropic,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}]}),
        )
        .unwrap();
        assert!(!conv.l3);
        assert!(conv.input.contains("\"assistant\""));
        for content in [
            json!([{"type": "tool_result", "tool_use_id": "x", "content": "42"}]),
            json!([{"type": "image", "source": {"type": "base64", "data": "AA=="}}]),
            json!([{"type": "document", "source": {"type": "text", "data": "d"}}]),
            json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]),
        ] {
            let r = k(
                Provider::Anthropic,
                json!({"model": "m", "messages": [{"role": "user", "content": content}]}),
            )
            .unwrap();
            assert!(!r.l3, "{content}");
        }
        // A text equal to a conversation's canonical form is another entry.
        let text = k(
            Provider::Anthropic,
            json!({"model": "m", "messages": [{"role": "user", "content": conv.input.clone()}]}),
        )
        .unwrap();
        assert_ne!(entry(&text), entry(&conv));
    }

    #[test]
    fn openai_system_messages_are_the_scope() {
        let a = k(
            Provider::OpenAi,
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}], "user": "u1",
                "stream": true, "stream_options": {"include_usage": true}}),
        )
        .unwrap();
        assert_eq!(a.input, "Hi");
        assert!(a.l3 && a.stream && a.include_usage);
        assert_eq!(a.scope.system_prompt.as_deref(), Some("Be brief."));
        let b = k(
            Provider::OpenAi,
            json!({"model": "gpt-4o-mini", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}]}),
        )
        .unwrap();
        assert_eq!(entry(&a), entry(&b));
        // Anthropic and OpenAI entries never mix.
        let c = k(
            Provider::Anthropic,
            json!({"model": "gpt-4o-mini", "system": "Be brief.",
                   "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .unwrap();
        assert_ne!(entry(&a), entry(&c));
    }

    #[test]
    fn unkeyable_requests_are_refused() {
        assert!(k(Provider::Anthropic, json!({"messages": []})).is_err());
        assert!(k(Provider::Anthropic, json!({"model": "m"})).is_err());
        assert!(k(Provider::Anthropic, json!({"model": "m", "messages": [1]})).is_err());
        assert!(k(
            Provider::OpenAi,
            json!({"model": "m", "messages": [{"role": "system", "content": "s"}]})
        )
        .is_err());
    }

    #[test]
    fn own_breakpoints_are_found() {
        let with = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}]});
        assert!(has_cache_control(with.as_object().unwrap()));
        let without = json!({"messages": [{"role": "user", "content": "x"}], "system": "s"});
        assert!(!has_cache_control(without.as_object().unwrap()));
    }
}
