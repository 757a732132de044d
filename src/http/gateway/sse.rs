//! Server-sent events both ways: [`Accumulator`] reads a provider's event
//! stream as it is passed through and rebuilds the complete response body
//! (what a non-streaming call would have returned), so a streamed miss is
//! stored like any other; [`replay`] turns a stored body back into a
//! well-formed event stream for a streaming hit (Anthropic: `message_start`
//! … `message_stop`; OpenAI: `chat.completion.chunk` events, then
//! `data: [DONE]`).

use serde_json::{json, Map, Value};

use super::key::Provider;

/// Splits a byte stream into SSE events and returns each event's `data`.
#[derive(Default)]
struct Splitter {
    buf: Vec<u8>,
}

impl Splitter {
    /// Feeds bytes; returns the data of every event completed by them.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let end = find_blank_line(&self.buf);
            let Some((at, len)) = end else { break };
            let event: Vec<u8> = self.buf.drain(..at + len).collect();
            let text = String::from_utf8_lossy(&event[..at]);
            let mut data = String::new();
            for line in text.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if !data.is_empty() {
                out.push(data);
            }
        }
        out
    }
}

/// The first blank line (event end): its offset and length.
fn find_blank_line(b: &[u8]) -> Option<(usize, usize)> {
    for i in 0..b.len() {
        if b[i..].starts_with(b"\n\n") {
            return Some((i, 2));
        }
        if b[i..].starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
    }
    None
}

/// Rebuilds the final response of a streamed call.
pub struct Accumulator {
    provider: Provider,
    splitter: Splitter,
    message: Option<Map<String, Value>>,
    /// Anthropic: content blocks by index, with unparsed tool input.
    blocks: Vec<(Value, String)>,
    /// OpenAI: choices by index.
    choices: Vec<Map<String, Value>>,
    /// The terminal event was seen (`message_stop` / `[DONE]`).
    pub finished: bool,
    /// An error event, or an event that could not be read.
    pub broken: bool,
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn append(target: &mut Map<String, Value>, field: &str, piece: &str) {
    let cur = target
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    target.insert(field.into(), Value::String(cur + piece));
}

impl Accumulator {
    pub fn new(provider: Provider) -> Accumulator {
        Accumulator {
            provider,
            splitter: Splitter::default(),
            message: None,
            blocks: Vec::new(),
            choices: Vec::new(),
            finished: false,
            broken: false,
        }
    }

    /// Feeds passed-through bytes. Returns true when they completed the
    /// stream (the terminal event is among them).
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        for data in self.splitter.feed(bytes) {
            match self.provider {
                Provider::Anthropic => self.anthropic(&data),
                Provider::OpenAi => self.openai(&data),
            }
        }
        self.finished
    }

    fn anthropic(&mut self, data: &str) {
        let Ok(ev) = serde_json::from_str::<Value>(data) else {
            self.broken = true;
            return;
        };
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match ev.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message_start" => self.message = Some(obj(&ev["message"])),
            "content_block_start" => {
                if self.blocks.len() <= index {
                    self.blocks.resize(index + 1, (Value::Null, String::new()));
                }
                self.blocks[index] = (ev["content_block"].clone(), String::new());
            }
            "content_block_delta" => {
                let Some((block, json_buf)) = self.blocks.get_mut(index) else {
                    self.broken = true;
                    return;
                };
                let Some(b) = block.as_object_mut() else {
                    self.broken = true;
                    return;
                };
                let d = &ev["delta"];
                let s = |f: &str| d.get(f).and_then(Value::as_str).unwrap_or_default();
                match s("type") {
                    "text_delta" => append(b, "text", s("text")),
                    "input_json_delta" => json_buf.push_str(s("partial_json")),
                    "thinking_delta" => append(b, "thinking", s("thinking")),
                    "signature_delta" => {
                        b.insert("signature".into(), Value::String(s("signature").into()));
                    }
                    "citations_delta" => {
                        let c = d.get("citation").cloned().unwrap_or(Value::Null);
                        match b.get_mut("citations") {
                            Some(Value::Array(a)) => a.push(c),
                            _ => {
                                b.insert("citations".into(), Value::Array(vec![c]));
                            }
                        }
                    }
                    _ => self.broken = true,
                }
            }
            "content_block_stop" => {
                if let Some((block, json_buf)) = self.blocks.get_mut(index) {
                    if !json_buf.is_empty() {
                        match (
                            serde_json::from_str::<Value>(json_buf),
                            block.as_object_mut(),
                        ) {
                            (Ok(input), Some(b)) => {
                                b.insert("input".into(), input);
                            }
                            _ => self.broken = true,
                        }
                    }
                }
            }
            "message_delta" => {
                let Some(m) = self.message.as_mut() else {
                    self.broken = true;
                    return;
                };
                if let Some(d) = ev["delta"].as_object() {
                    for (k, v) in d {
                        m.insert(k.clone(), v.clone());
                    }
                }
                if let Some(u) = ev["usage"].as_object() {
                    let usage = m.entry("usage").or_insert_with(|| json!({}));
                    if !usage.is_object() {
                        *usage = json!({});
                    }
                    if let Some(usage) = usage.as_object_mut() {
                        for (k, v) in u {
                            if !v.is_null() {
                                usage.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
            "message_stop" => self.finished = true,
            "ping" => {}
            // `error` and anything unknown: not a response to keep.
            _ => self.broken = true,
        }
    }

    fn openai(&mut self, data: &str) {
        if data.trim() == "[DONE]" {
            self.finished = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            self.broken = true;
            return;
        };
        if chunk.get("error").is_some() {
            self.broken = true;
            return;
        }
        let m = self.message.get_or_insert_with(Map::new);
        for f in [
            "id",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
        ] {
            if let Some(v) = chunk.get(f) {
                m.insert(f.into(), v.clone());
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            m.insert("usage".into(), u.clone());
        }
        for c in chunk["choices"].as_array().into_iter().flatten() {
            let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            while self.choices.len() <= i {
                let mut ch = Map::new();
                ch.insert("index".into(), json!(self.choices.len()));
                ch.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": null}),
                );
                ch.insert("logprobs".into(), Value::Null);
                ch.insert("finish_reason".into(), Value::Null);
                self.choices.push(ch);
            }
            let ch = &mut self.choices[i];
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                ch.insert("finish_reason".into(), f.clone());
            }
            let Some(delta) = c.get("delta").and_then(Value::as_object) else {
                continue;
            };
            let Some(msg) = ch.get_mut("message").and_then(Value::as_object_mut) else {
                continue;
            };
            for (k, v) in delta {
                match (k.as_str(), v) {
                    (_, Value::Null) => {}
                    ("content", Value::String(s)) | ("refusal", Value::String(s)) => {
                        append(msg, k, s)
                    }
                    ("tool_calls", Value::Array(calls)) => {
                        let list = msg.entry("tool_calls").or_insert_with(|| json!([]));
                        let Some(list) = list.as_array_mut() else {
                            continue;
                        };
                        for call in calls {
                            let ti = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                            while list.len() <= ti as usize {
                                list.push(json!({"id": null, "type": "function",
                                    "function": {"name": "", "arguments": ""}}));
                            }
                            let t = &mut list[ti as usize];
                            for f in ["id", "type"] {
                                if let Some(v) = call.get(f).filter(|v| !v.is_null()) {
                                    t[f] = v.clone();
                                }
                            }
                            if let Some(func) = call.get("function") {
                                for f in ["name", "arguments"] {
                                    if let Some(p) = func.get(f).and_then(Value::as_str) {
                                        let cur = t["function"][f].as_str().unwrap_or_default();
                                        t["function"][f] = Value::String(format!("{cur}{p}"));
                                    }
                                }
                            }
                        }
                    }
                    (k, v) => {
                        msg.insert(k.to_string(), v.clone());
                    }
                }
            }
        }
    }

    /// The complete response body, when the stream finished cleanly.
    pub fn result(self) -> Option<Value> {
        if !self.finished || self.broken {
            return None;
        }
        let mut m = self.message?;
        match self.provider {
            Provider::Anthropic => {
                let blocks: Vec<Value> = self.blocks.into_iter().map(|(b, _)| b).collect();
                if blocks.iter().any(Value::is_null) {
                    return None;
                }
                m.insert("content".into(), Value::Array(blocks));
            }
            Provider::OpenAi => {
                if self.choices.is_empty()
                    || self.choices.iter().any(|c| c["finish_reason"].is_null())
                {
                    return None;
                }
                m.insert("object".into(), json!("chat.completion"));
                let choices = self.choices.into_iter().map(Value::Object).collect();
                m.insert("choices".into(), Value::Array(choices));
            }
        }
        Some(Value::Object(m))
    }
}

fn event(out: &mut String, name: Option<&str>, data: &Value) {
    if let Some(n) = name {
        out.push_str("event: ");
        out.push_str(n);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// A stored response body as the event stream a streaming call returns.
pub fn replay(provider: Provider, body: &Value, include_usage: bool) -> String {
    match provider {
        Provider::Anthropic => replay_anthropic(body),
        Provider::OpenAi => replay_openai(body, include_usage),
    }
}

fn replay_anthropic(msg: &Value) -> String {
    let mut out = String::new();
    let mut start = obj(msg);
    start.insert("content".into(), json!([]));
    start.insert("stop_reason".into(), Value::Null);
    start.insert("stop_sequence".into(), Value::Null);
    let usage = msg.get("usage").cloned().unwrap_or_else(|| json!({}));
    let mut start_usage = obj(&usage);
    start_usage.insert("output_tokens".into(), json!(0));
    start.insert("usage".into(), Value::Object(start_usage));
    event(
        &mut out,
        Some("message_start"),
        &json!({"type": "message_start", "message": start}),
    );
    let blocks = msg["content"].as_array().cloned().unwrap_or_default();
    for (i, b) in blocks.iter().enumerate() {
        let kind = b["type"].as_str().unwrap_or_default();
        let (skeleton, deltas): (Value, Vec<Value>) = match kind {
            "text" => {
                let mut s = obj(b);
                s.insert("text".into(), json!(""));
                s.remove("citations");
                let mut d = vec![json!({"type": "text_delta", "text": b["text"]})];
                for c in b["citations"].as_array().into_iter().flatten() {
                    d.push(json!({"type": "citations_delta", "citation": c}));
                }
                (Value::Object(s), d)
            }
            "tool_use" | "server_tool_use" => {
                let mut s = obj(b);
                s.insert("input".into(), json!({}));
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                (
                    Value::Object(s),
                    vec![json!({"type": "input_json_delta", "partial_json": input.to_string()})],
                )
            }
            "thinking" => {
                let mut s = obj(b);
                s.insert("thinking".into(), json!(""));
                s.insert("signature".into(), json!(""));
                let mut d = vec![json!({"type": "thinking_delta", "thinking": b["thinking"]})];
                if let Some(sig) = b.get("signature") {
                    d.push(json!({"type": "signature_delta", "signature": sig}));
                }
                (Value::Object(s), d)
            }
            _ => (b.clone(), Vec::new()),
        };
        event(
            &mut out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": i, "content_block": skeleton}),
        );
        for d in deltas {
            event(
                &mut out,
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": i, "delta": d}),
            );
        }
        event(
            &mut out,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": i}),
        );
    }
    event(
        &mut out,
        Some("message_delta"),
        &json!({"type": "message_delta",
            "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": msg["stop_sequence"]},
            "usage": {"output_tokens": usage.get("output_tokens").cloned().unwrap_or(json!(0))}}),
    );
    event(
        &mut out,
        Some("message_stop"),
        &json!({"type": "message_stop"}),
    );
    out
}

fn replay_openai(c: &Value, include_usage: bool) -> String {
    let mut out = String::new();
    let mut base = Map::new();
    for f in [
        "id",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
    ] {
        if let Some(v) = c.get(f) {
            base.insert(f.into(), v.clone());
        }
    }
    base.insert("object".into(), json!("chat.completion.chunk"));
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut m = base.clone();
        m.insert("choices".into(), choices);
        if include_usage {
            m.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        Value::Object(m)
    };
    for ch in c["choices"].as_array().into_iter().flatten() {
        let i = ch.get("index").cloned().unwrap_or(json!(0));
        let msg = &ch["message"];
        let role = msg.get("role").cloned().unwrap_or(json!("assistant"));
        let first = json!([{"index": i, "delta": {"role": role, "content": ""},
            "logprobs": null, "finish_reason": null}]);
        event(&mut out, None, &chunk(first, None));
        for f in ["content", "refusal"] {
            if let Some(text) = msg.get(f).filter(|t| t.is_string()) {
                let d = json!([{"index": i, "delta": {f: text}, "logprobs": null,
                    "finish_reason": null}]);
                event(&mut out, None, &chunk(d, None));
            }
        }
        if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
            let with_index: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(ti, call)| {
                    let mut call = obj(call);
                    call.insert("index".into(), json!(ti));
                    Value::Object(call)
                })
                .collect();
            let d = json!([{"index": i, "delta": {"tool_calls": with_index},
                "logprobs": null, "finish_reason": null}]);
            event(&mut out, None, &chunk(d, None));
        }
        let last = json!([{"index": i, "delta": {}, "logprobs": null,
            "finish_reason": ch["finish_reason"]}]);
        event(&mut out, None, &chunk(last, None));
    }
    if include_usage {
        event(&mut out, None, &chunk(json!([]), c.get("usage").cloned()));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(p: Provider, body: Value, include_usage: bool) -> Value {
        let text = replay(p, &body, include_usage);
        let mut acc = Accumulator::new(p);
        // Fed in awkward pieces, as a network delivers them.
        let bytes = text.as_bytes();
        let mut done = false;
        for piece in bytes.chunks(7) {
            done = acc.feed(piece);
        }
        assert!(done);
        acc.result().expect("a complete stream")
    }

    #[test]
    fn anthropic_replay_parses_back_to_the_message() {
        let msg = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": "Hello there"},
                {"type": "tool_use", "id": "tu_1", "name": "get", "input": {"q": [1, 2]}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3},
        });
        let text = replay(Provider::Anthropic, &msg, false);
        assert!(text.starts_with("event: message_start\n"));
        assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        assert_eq!(roundtrip(Provider::Anthropic, msg.clone(), false), msg);
    }

    #[test]
    fn openai_replay_parses_back_to_the_completion() {
        let c = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        });
        let text = replay(Provider::OpenAi, &c, true);
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(roundtrip(Provider::OpenAi, c.clone(), true), c);
        // Without include_usage no usage chunk is sent.
        let text = replay(Provider::OpenAi, &c, false);
        assert!(!text.contains("prompt_tokens"));
    }

    #[test]
    fn openai_tool_call_fragments_are_joined() {
        let mut acc = Accumulator::new(Provider::OpenAi);
        let chunks = [
            r#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}"#,
        ];
        for c in chunks {
            acc.feed(format!("data: {c}\r\n\r\n").as_bytes());
        }
        assert!(acc.feed(b"data: [DONE]\n\n"));
        let r = acc.result().unwrap();
        let call = &r["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(call["id"], "call_1");
        assert_eq!(r["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn unfinished_or_failed_streams_give_nothing() {
        let mut acc = Accumulator::new(Provider::Anthropic);
        acc.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n");
        assert!(!acc.finished);
        assert!(acc.result().is_none());
        let mut acc = Accumulator::new(Provider::Anthropic);
        acc.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[]}}\n\n");
        acc.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n");
        acc.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert!(acc.result().is_none());
    }
}
