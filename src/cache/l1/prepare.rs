//! `POST /l1/prepare`: turns a system prompt, messages and tools into the
//! fields of an Anthropic Messages API body, with `cache_control`
//! breakpoints placed where they pay.
//!
//! Anthropic caches the exact prefix tools → system → messages up to a block
//! marked `"cache_control": {"type": "ephemeral"}` (`"ttl": "1h"` for an
//! hour), at most 4 breakpoints per request, and silently caches nothing
//! when the prefix up to a breakpoint is shorter than the model's minimum.
//! The rules here:
//!
//! 1. **System prompt**: a breakpoint on its (single) text block when the
//!    prefix through it (tools + system) reaches the model's minimum.
//! 2. **Last tool**: a breakpoint when the tools alone reach the minimum, so
//!    the tool prefix stays reusable when the system prompt changes
//!    (`cache_tools: false` turns it off).
//! 3. **Last user turn**: a breakpoint (always 5 minutes: a conversation's
//!    next turn follows within minutes) when the prefix through it reaches
//!    the minimum and the conversation has history (more than one message),
//!    so the next turn reads it; `cache_messages: true` / `false` forces
//!    the choice (never below the minimum).
//!
//! So at most 3 breakpoints, never one on a prefix below the minimum, and the
//! 1-hour ones (tools, system) always come before the 5-minute one. Any
//! `cache_control` already in the given tools or messages is removed:
//! placement is this endpoint's job, and keeping the caller's could exceed
//! the limit of 4 or put a 5-minute breakpoint before a 1-hour one.
//!
//! Token counts are estimates ([`super::tokens`]) unless the caller gives
//! `system_prompt_tokens`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model_family;
use super::tokens::estimate_tokens;
use crate::cache::pricing::PriceTable;
use crate::cache::request::{count, model as check_model, CacheTtl};
use crate::error::CacheError;

/// Anthropic's limit of breakpoints per request.
pub const MAX_BREAKPOINTS: usize = 4;
/// Tokens a message costs beyond its content (role markers).
const MESSAGE_OVERHEAD: u64 = 4;

/// `POST /l1/prepare`. Fields are untyped so that each mistake gets its own
/// clear error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareRequest {
    pub system_prompt: Option<Value>,
    pub messages: Option<Value>,
    pub tools: Option<Value>,
    pub model: Option<Value>,
    pub ttl: Option<Value>,
    pub system_prompt_tokens: Option<i64>,
    pub cache_tools: Option<bool>,
    pub cache_messages: Option<bool>,
}

/// `{"type": "ephemeral"}` or `{"type": "ephemeral", "ttl": "1h"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<&'static str>,
}

impl CacheControl {
    pub fn new(ttl: CacheTtl) -> CacheControl {
        CacheControl {
            kind: "ephemeral",
            ttl: match ttl {
                CacheTtl::FiveMinutes => None,
                CacheTtl::OneHour => Some("1h"),
            },
        }
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A system text block.
#[derive(Debug, Clone, Serialize)]
pub struct TextBlock {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// The Messages API fields, in the order Anthropic documents them.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedBody {
    pub system: Vec<TextBlock>,
    pub messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
}

/// Where a breakpoint went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakpoint {
    Tools,
    System,
    LastUserTurn,
}

impl Breakpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Breakpoint::Tools => "tools",
            Breakpoint::System => "system",
            Breakpoint::LastUserTurn => "messages",
        }
    }
}

/// The body plus what was decided (sent as response headers).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: PreparedBody,
    pub breakpoints: Vec<Breakpoint>,
    pub model: String,
    pub min_cache_tokens: u64,
    /// Estimated tokens of tools + system: the prefix the system breakpoint caches.
    pub prefix_tokens: u64,
}

fn bad(code: &'static str, msg: impl Into<String>) -> CacheError {
    CacheError::invalid(code, msg)
}

fn check_block(where_: &str, block: &Value) -> Result<(), CacheError> {
    match block.get("type") {
        Some(Value::String(t)) if !t.is_empty() => {}
        _ => {
            return Err(bad(
                "invalid_messages",
                format!("{where_} must be an object with a string \"type\""),
            ))
        }
    }
    if block.get("type").and_then(Value::as_str) == Some("text") {
        match block.get("text") {
            Some(Value::String(t)) if !t.trim().is_empty() => {}
            // Anthropic refuses empty and whitespace-only text blocks (and a
            // breakpoint on one), so the body would fail there.
            Some(Value::String(_)) => {
                return Err(bad(
                    "invalid_messages",
                    format!(
                        "{where_} is an empty (or whitespace-only) text block, which Anthropic rejects; remove it"
                    ),
                ))
            }
            _ => {
                return Err(bad(
                    "invalid_messages",
                    format!("{where_} is a text block without a string \"text\""),
                ))
            }
        }
    }
    Ok(())
}

/// Whether a breakpoint may go on `block`: anything but a text block with
/// no visible text.
fn markable(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) != Some("text")
        || block
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.trim().is_empty())
}

/// Checks one message; returns its estimated tokens.
fn check_message(i: usize, m: &Value) -> Result<u64, CacheError> {
    let Some(obj) = m.as_object() else {
        return Err(bad(
            "invalid_messages",
            format!("messages[{i}] must be an object with \"role\" and \"content\""),
        ));
    };
    match obj.get("role").and_then(Value::as_str) {
        Some("user") | Some("assistant") => {}
        _ => {
            return Err(bad(
                "invalid_messages",
                format!("messages[{i}].role must be \"user\" or \"assistant\""),
            ))
        }
    }
    let tokens = match obj.get("content") {
        Some(Value::String(s)) if !s.trim().is_empty() => estimate_tokens(s),
        Some(Value::Array(blocks)) if !blocks.is_empty() => {
            let mut t = 0;
            for (j, b) in blocks.iter().enumerate() {
                check_block(&format!("messages[{i}].content[{j}]"), b)?;
                t += match b.get("text").and_then(Value::as_str) {
                    Some(text) => estimate_tokens(text),
                    None => estimate_tokens(&b.to_string()),
                };
            }
            t
        }
        _ => {
            return Err(bad(
                "invalid_messages",
                format!(
                    "messages[{i}].content must be a string with visible text or a non-empty array of content blocks"
                ),
            ))
        }
    };
    Ok(tokens + MESSAGE_OVERHEAD)
}

/// Removes `cache_control` from an object.
fn strip(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("cache_control");
    }
}

/// Removes every `cache_control` of a message's content blocks.
fn strip_message(m: &mut Value) {
    if let Some(Value::Array(blocks)) = m.get_mut("content") {
        blocks.iter_mut().for_each(strip);
    }
}

/// Puts `cc` on the last content block of message `m` that may carry one
/// (never an empty text block), turning string content into one text block.
fn mark_message(m: &mut Value, cc: &CacheControl) {
    let Some(obj) = m.as_object_mut() else { return };
    if let Some(Value::String(s)) = obj.get("content") {
        let mut block = Map::new();
        block.insert("type".into(), Value::String("text".into()));
        block.insert("text".into(), Value::String(s.clone()));
        obj.insert("content".into(), Value::Array(vec![Value::Object(block)]));
    }
    if let Some(Value::Array(blocks)) = obj.get_mut("content") {
        if let Some(Value::Object(last)) = blocks.iter_mut().rev().find(|b| markable(b)) {
            last.insert("cache_control".into(), cc.to_value());
        }
    }
}

/// Validates the request and places the breakpoints.
pub fn prepare(
    req: PrepareRequest,
    prices: &PriceTable,
    default_model: &str,
) -> Result<Prepared, CacheError> {
    let system_prompt = match req.system_prompt {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(bad(
                "invalid_system_prompt",
                "system_prompt must be a non-empty string",
            ))
        }
        Some(_) => {
            return Err(bad(
                "invalid_system_prompt",
                "system_prompt must be a string",
            ))
        }
    };
    let model = match req.model {
        None | Some(Value::Null) => default_model.to_string(),
        Some(Value::String(m)) => check_model("model", Some(m))?.unwrap_or_default(),
        Some(_) => return Err(bad("invalid_model", "model must be a string")),
    };
    let ttl = match req.ttl {
        None | Some(Value::Null) => CacheTtl::FiveMinutes,
        Some(Value::String(t)) => CacheTtl::parse("ttl", Some(&t))?,
        Some(_) => return Err(bad("invalid_cache_ttl", "ttl must be \"5m\" or \"1h\"")),
    };
    let override_tokens = count("system_prompt_tokens", req.system_prompt_tokens)?;

    let mut messages = match req.messages {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => {
            return Err(bad(
                "invalid_messages",
                "messages must be a non-empty array of {\"role\", \"content\"} objects",
            ))
        }
    };
    let mut message_tokens = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        message_tokens.push(check_message(i, m)?);
    }
    let last_user = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or_else(|| bad("invalid_messages", "messages must contain a user turn"))?;

    let mut tools = match req.tools {
        None | Some(Value::Null) => None,
        Some(Value::Array(t)) if t.is_empty() => None,
        Some(Value::Array(t)) => {
            for (i, tool) in t.iter().enumerate() {
                let named = tool
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                if !tool.is_object() || !named {
                    return Err(bad(
                        "invalid_tools",
                        format!("tools[{i}] must be an object with a non-empty string \"name\""),
                    ));
                }
            }
            Some(t)
        }
        Some(_) => {
            return Err(bad(
                "invalid_tools",
                "tools must be an array of tool objects",
            ))
        }
    };

    let (family, spec) = model_family(prices, &model);
    let min = spec.min_cache_tokens;
    let tools_tokens = tools
        .as_ref()
        .map(|t| estimate_tokens(&Value::Array(t.clone()).to_string()))
        .unwrap_or(0);
    let system_tokens = override_tokens.unwrap_or_else(|| estimate_tokens(&system_prompt));
    let prefix_tokens = tools_tokens + system_tokens;
    let through_last_user: u64 = prefix_tokens + message_tokens[..=last_user].iter().sum::<u64>();

    let mut breakpoints = Vec::new();
    let long_cc = CacheControl::new(ttl);
    if let Some(t) = tools.as_mut() {
        t.iter_mut().for_each(strip);
        if req.cache_tools.unwrap_or(true) && tools_tokens >= min {
            if let Some(Value::Object(last)) = t.last_mut() {
                last.insert("cache_control".into(), long_cc.to_value());
                breakpoints.push(Breakpoint::Tools);
            }
        }
    }
    let system_cc = (prefix_tokens >= min).then(|| long_cc.clone());
    if system_cc.is_some() {
        breakpoints.push(Breakpoint::System);
    }
    messages.iter_mut().for_each(strip_message);
    let want_messages = req.cache_messages.unwrap_or(messages.len() > 1);
    if want_messages && through_last_user >= min {
        mark_message(
            &mut messages[last_user],
            &CacheControl::new(CacheTtl::FiveMinutes),
        );
        breakpoints.push(Breakpoint::LastUserTurn);
    }
    debug_assert!(breakpoints.len() <= MAX_BREAKPOINTS);

    Ok(Prepared {
        body: PreparedBody {
            system: vec![TextBlock {
                kind: "text",
                text: system_prompt,
                cache_control: system_cc,
            }],
            messages,
            tools,
        },
        breakpoints,
        model: family,
        min_cache_tokens: min,
        prefix_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> PriceTable {
        PriceTable::with_overrides(vec![]).unwrap()
    }

    /// `n` estimated tokens.
    fn text(n: usize) -> String {
        "a ".repeat(n)
    }

    fn run(v: Value) -> Result<(Value, Prepared), CacheError> {
        let req: PrepareRequest = serde_json::from_value(v).unwrap();
        let p = prepare(req, &table(), "claude-sonnet-4-5")?;
        Ok((serde_json::to_value(&p.body).unwrap(), p))
    }

    fn code(v: Value) -> &'static str {
        run(v).unwrap_err().code()
    }

    #[test]
    fn long_system_prompt_gets_one_breakpoint() {
        let sys = text(2000);
        let (body, p) = run(json!({
            "system_prompt": sys,
            "messages": [{"role": "user", "content": "Hi"}],
        }))
        .unwrap();
        assert_eq!(
            body,
            json!({
                "system": [{"type": "text", "text": sys, "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": "Hi"}],
            })
        );
        assert_eq!(p.breakpoints, vec![Breakpoint::System]);
        assert_eq!(p.min_cache_tokens, 1024);
        assert_eq!(p.prefix_tokens, 2000);
        // Key order as documented.
        let text_out = serde_json::to_string(&p.body.system[0]).unwrap();
        assert!(text_out.starts_with("{\"type\":\"text\",\"text\":"));
        assert!(text_out.ends_with(",\"cache_control\":{\"type\":\"ephemeral\"}}"));
    }

    #[test]
    fn short_prompt_gets_no_breakpoint() {
        let (body, p) = run(json!({
            "system_prompt": "You are terse.",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "text", "text": "c", "cache_control": {"type": "ephemeral"}}]},
            ],
            "model": "claude-opus-4-5",
        }))
        .unwrap();
        assert!(p.breakpoints.is_empty());
        assert_eq!(p.min_cache_tokens, 4096);
        assert_eq!(
            body["system"],
            json!([{"type": "text", "text": "You are terse."}])
        );
        // The caller's breakpoint is removed: its prefix is below the minimum.
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [{"type": "text", "text": "c"}]})
        );
        assert!(body.get("tools").is_none());
    }

    #[test]
    fn threshold_at_and_below_the_model_minimum() {
        for (model, min) in [
            ("claude-sonnet-4-6", 2048),
            ("claude-haiku-4-5-20251001", 4096),
        ] {
            for (n, placed) in [(min - 1, false), (min, true), (min + 1, true)] {
                let (body, _) = run(json!({
                    "system_prompt": text(n),
                    "messages": [{"role": "user", "content": "q"}],
                    "model": model,
                }))
                .unwrap();
                assert_eq!(
                    body["system"][0].get("cache_control").is_some(),
                    placed,
                    "{model} {n}"
                );
            }
        }
    }

    #[test]
    fn one_hour_ttl_on_tools_and_system_five_minutes_on_the_turn() {
        let tools = json!([
            {"name": "search", "description": text(600), "input_schema": {"type": "object"}},
            {"name": "fetch", "description": text(600), "input_schema": {"type": "object"}},
        ]);
        let (body, p) = run(json!({
            "system_prompt": text(1500),
            "tools": tools,
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "text", "text": "answer"}]},
                {"role": "user", "content": "second"},
            ],
            "ttl": "1h",
        }))
        .unwrap();
        assert_eq!(
            p.breakpoints,
            vec![
                Breakpoint::Tools,
                Breakpoint::System,
                Breakpoint::LastUserTurn
            ]
        );
        let one_hour = json!({"type": "ephemeral", "ttl": "1h"});
        assert!(body["tools"][0].get("cache_control").is_none());
        assert_eq!(body["tools"][1]["cache_control"], one_hour);
        assert_eq!(body["tools"][1]["name"], "fetch");
        assert_eq!(body["system"][0]["cache_control"], one_hour);
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [
                {"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}}
            ]})
        );
        // Earlier turns are untouched.
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "content": "first"})
        );
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": [{"type": "text", "text": "answer"}]})
        );
        let n = serde_json::to_string(&body)
            .unwrap()
            .matches("cache_control")
            .count();
        assert!(n <= MAX_BREAKPOINTS);
    }

    #[test]
    fn short_tools_share_the_system_breakpoint() {
        let (body, p) = run(json!({
            "system_prompt": text(1100),
            "tools": [{"name": "t", "input_schema": {}}],
            "messages": [{"role": "user", "content": "q"}],
            "cache_messages": false,
        }))
        .unwrap();
        assert_eq!(p.breakpoints, vec![Breakpoint::System]);
        assert!(body["tools"][0].get("cache_control").is_none());
    }

    #[test]
    fn tools_count_towards_the_system_prefix() {
        // 1000 system tokens alone are below 1024, but tools make it longer.
        let (_, p) = run(json!({
            "system_prompt": text(1000),
            "tools": [{"name": "t", "description": text(100)}],
            "messages": [{"role": "user", "content": "q"}],
        }))
        .unwrap();
        assert_eq!(p.breakpoints, vec![Breakpoint::System]);
    }

    #[test]
    fn single_turn_skips_the_message_breakpoint_unless_asked() {
        let base = json!({
            "system_prompt": text(1100),
            "messages": [{"role": "user", "content": text(50)}],
        });
        assert_eq!(
            run(base.clone()).unwrap().1.breakpoints,
            vec![Breakpoint::System]
        );
        let mut forced = base;
        forced["cache_messages"] = json!(true);
        assert_eq!(
            run(forced).unwrap().1.breakpoints,
            vec![Breakpoint::System, Breakpoint::LastUserTurn]
        );
    }

    #[test]
    fn caller_count_overrides_the_estimate() {
        let (_, p) = run(json!({
            "system_prompt": "short",
            "system_prompt_tokens": 5000,
            "messages": [{"role": "user", "content": "q"}],
        }))
        .unwrap();
        assert_eq!(p.breakpoints, vec![Breakpoint::System]);
    }

    /// Issue 15: a last user turn ending in `{"type": "text", "text": ""}`
    /// got the breakpoint on that empty block, which Anthropic rejects.
    #[test]
    fn empty_text_blocks_are_refused_and_never_marked() {
        for empty in ["", "  \n"] {
            let err = run(json!({
                "system_prompt": text(2000),
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": [
                        {"type": "text", "text": text(2000)},
                        {"type": "text", "text": empty},
                    ]},
                ],
            }))
            .unwrap_err();
            assert_eq!(err.code(), "invalid_messages");
            assert!(err.to_string().contains("messages[2].content[1]"), "{err}");
        }
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": [{"role": "user", "content": " \t"}]})),
            "invalid_messages"
        );
        // Placement itself skips a block without visible text.
        let mut m = json!({"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
            {"type": "text", "text": ""},
        ]});
        mark_message(&mut m, &CacheControl::new(CacheTtl::FiveMinutes));
        assert!(m["content"][0].get("cache_control").is_some(), "{m}");
        assert!(m["content"][1].get("cache_control").is_none(), "{m}");
    }

    #[test]
    fn bad_input_is_refused() {
        let m = json!([{"role": "user", "content": "q"}]);
        assert_eq!(code(json!({"messages": m})), "invalid_system_prompt");
        assert_eq!(
            code(json!({"system_prompt": "", "messages": m})),
            "invalid_system_prompt"
        );
        assert_eq!(
            code(json!({"system_prompt": 5, "messages": m})),
            "invalid_system_prompt"
        );
        assert_eq!(
            code(json!({"system_prompt": ["x"], "messages": m})),
            "invalid_system_prompt"
        );
        assert_eq!(code(json!({"system_prompt": "s"})), "invalid_messages");
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": []})),
            "invalid_messages"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": "hi"})),
            "invalid_messages"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": [{"role": "system", "content": "x"}]})),
            "invalid_messages"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": [{"role": "user"}]})),
            "invalid_messages"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": [{"role": "user", "content": ""}]})),
            "invalid_messages"
        );
        assert_eq!(
            code(
                json!({"system_prompt": "s", "messages": [{"role": "user", "content": [{"text": "x"}]}]})
            ),
            "invalid_messages"
        );
        assert_eq!(
            code(
                json!({"system_prompt": "s", "messages": [{"role": "assistant", "content": "x"}]})
            ),
            "invalid_messages"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "ttl": "10m"})),
            "invalid_cache_ttl"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "ttl": 60})),
            "invalid_cache_ttl"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "tools": {}})),
            "invalid_tools"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "tools": [{"x": 1}]})),
            "invalid_tools"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "model": ""})),
            "invalid_model"
        );
        assert_eq!(
            code(json!({"system_prompt": "s", "messages": m, "system_prompt_tokens": -1})),
            "invalid_count"
        );
    }
}
