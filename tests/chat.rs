//! Conversations (issue 11) against the real binary: `lookup` and `store`
//! with `messages`. An exact repeat of a whole chat is an L2 hit; the same
//! final words in another chat never are, nor an L3 hit when the context is
//! about something else; a reworded history still hits L3; bad shapes get
//! coded 400s; and `helios-cache eval --mode conversation` replays pairs of
//! the committed set.

mod common;

use common::{command, Server};
use serde_json::{json, Value};

fn chat(turns: &[(&str, &str)]) -> Value {
    Value::Array(
        turns
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect(),
    )
}

fn streaming() -> Value {
    chat(&[
        ("system", "You are a friendly support assistant."),
        (
            "user",
            "I have a StreamMax Premium subscription that I bought through the Apple App Store.",
        ),
        (
            "assistant",
            "Got it: StreamMax Premium via the Apple App Store.",
        ),
        ("user", "I barely watch anything lately."),
        ("assistant", "Understood, I can help with that."),
        ("user", "cancel it"),
    ])
}

fn gym() -> Value {
    chat(&[
        ("system", "You are a friendly support assistant."),
        ("user", "It's about my FitHub gym membership."),
        ("assistant", "Sure! Which plan are you on?"),
        ("user", "The 12-month contract that started in January."),
        ("assistant", "Thanks. What can I do for you?"),
        ("user", "cancel it"),
    ])
}

fn store(s: &Server, messages: &Value, answer: &str) -> Value {
    s.store(&json!({
        "messages": messages,
        "response_data": {"answer": answer},
        "task_type": "support",
        "store_in_l1": false,
    }))
    .ok()
    .clone()
}

fn lookup(s: &Server, messages: &Value) -> Value {
    s.lookup(&json!({"messages": messages, "task_type": "support", "use_l1": false}))
        .ok()
        .clone()
}

#[test]
fn an_exact_repeat_of_a_whole_chat_is_an_l2_hit() {
    let s = Server::start();
    let stored = store(&s, &streaming(), "streaming cancellation steps");
    assert_eq!(
        stored["layers_stored"],
        json!(["L2_REDIS_EXACT", "L3_SEMANTIC_RAG"]),
        "{stored}"
    );
    let r = lookup(&s, &streaming());
    assert_eq!(r["hit"], true, "{r}");
    assert_eq!(r["layer"], "L2_REDIS_EXACT", "{r}");
    assert_eq!(
        r["cached_response"]["answer"],
        "streaming cancellation steps"
    );
    assert_eq!(r["entry_id"], stored["entry_id"]);

    // Whitespace and content blocks do not change the chat: still L2.
    let mut blocks = streaming();
    blocks[1]["content"] = json!([
        {"type": "text", "text": "I have a StreamMax Premium subscription"},
        {"type": "image", "source": {"type": "url", "url": "https://example.invalid/x.png"}},
    ]);
    blocks[1]["content"][0]["text"] = json!(
        "I have a StreamMax Premium subscription that I bought  through the Apple App Store.  "
    );
    let r = lookup(&s, &blocks);
    assert_eq!(r["layer"], "L2_REDIS_EXACT", "{r}");

    // input_text equal to the final turn is the same request.
    let r = s
        .lookup(&json!({"messages": streaming(), "input_text": "cancel it",
                        "task_type": "support", "use_l1": false}))
        .ok()
        .clone();
    assert_eq!(r["layer"], "L2_REDIS_EXACT", "{r}");
}

#[test]
fn the_same_final_words_in_another_chat_never_hit() {
    let s = Server::builder().args(["--l3-verifier", "off"]).start();
    store(&s, &streaming(), "streaming cancellation steps");
    // Same last message, another subject: no L2 hit, and the context guard
    // keeps L3 from serving it even at a permissive threshold.
    let r = s
        .lookup(
            &json!({"messages": gym(), "task_type": "support", "use_l1": false,
                        "similarity_threshold": 0.0}),
        )
        .ok()
        .clone();
    assert_eq!(r["hit"], false, "{r}");
    assert_eq!(r["l2_result"]["hit"], false, "{r}");
    assert_eq!(r["l3_result"]["guard_veto"], "context differs", "{r}");

    // The last message alone is another request than the chat (and a
    // different key): it does not get the chat's answer from L2.
    let r = s
        .lookup(
            &json!({"input_text": "cancel it", "task_type": "support", "use_l1": false,
                        "system_prompt": "You are a friendly support assistant."}),
        )
        .ok()
        .clone();
    assert_ne!(r["layer"], "L2_REDIS_EXACT", "{r}");

    // A changed detail (the contract length) is vetoed too.
    store(&s, &gym(), "gym cancellation steps");
    let mut six = gym();
    six[3]["content"] = json!("The 6-month contract that started in January.");
    let r = s
        .lookup(
            &json!({"messages": six, "task_type": "support", "use_l1": false,
                        "similarity_threshold": 0.0}),
        )
        .ok()
        .clone();
    assert_eq!(r["hit"], false, "{r}");
}

#[test]
fn a_reworded_history_with_small_talk_is_an_l3_hit() {
    // Default settings: the bundled verifier is on, and the same final
    // words need no verdict from it.
    let s = Server::builder().start();
    store(&s, &streaming(), "streaming cancellation steps");
    let reworded = chat(&[
        ("system", "You are a friendly support assistant."),
        ("user", "hi there"),
        ("assistant", "Hello! How can I help?"),
        (
            "user",
            "I have a StreamMax Premium subscription, I bought it through the Apple App Store.",
        ),
        (
            "assistant",
            "Okay, StreamMax Premium bought in the Apple App Store. How can I help?",
        ),
        ("user", "I barely watch anything these days."),
        ("assistant", "Makes sense, let's sort it out."),
        ("user", "cancel it"),
    ]);
    let r = lookup(&s, &reworded);
    assert_eq!(r["hit"], true, "{r}");
    assert_eq!(r["layer"], "L3_SEMANTIC_RAG", "{r}");
    assert_eq!(
        r["cached_response"]["answer"],
        "streaming cancellation steps"
    );
    assert!(r["l3_result"]["verifier_score"].is_null(), "{r}");
    assert_eq!(
        s.lookup(&json!({"messages": reworded, "task_type": "support",
                                 "use_l1": false}))
            .header("x-helios-cache"),
        Some("HIT-L3")
    );
}

#[test]
fn the_verifier_judges_the_final_requests_of_two_chats() {
    // Every cosine check opened wide, so that only the verifier decides.
    let s = Server::builder()
        .args(["--l3-chat-final-threshold", "0"])
        .start();
    store(&s, &streaming(), "streaming cancellation steps");
    let mut other = streaming();
    let last = other.as_array().unwrap().len() - 1;
    other[last]["content"] = json!("how much does it cost per year?");
    let r = s
        .lookup(
            &json!({"messages": other, "task_type": "support", "use_l1": false,
                        "similarity_threshold": 0.0}),
        )
        .ok()
        .clone();
    assert_eq!(r["hit"], false, "{r}");
    assert_eq!(r["l3_result"]["decision"], "verifier", "{r}");
    let score = r["l3_result"]["verifier_score"].as_f64().unwrap();
    let needed = r["l3_result"]["verifier_threshold"].as_f64().unwrap();
    assert!(score < needed, "{r}");
    // The same final words differently punctuated and cased: no verdict
    // needed, served.
    let mut same = streaming();
    same[last]["content"] = json!("Cancel it!");
    let r = lookup(&s, &same);
    assert_eq!(r["hit"], true, "{r}");
    assert!(r["l3_result"]["verifier_score"].is_null(), "{r}");
}

#[test]
fn small_talk_turns_are_not_context() {
    // The same chat with "ok I'm back at my desk" / "got it, thanks" turns
    // in it: those turns say nothing, so they are left out of the context
    // the chat is compared and embedded by, and it is served as the same
    // chat; the same small talk before the gym chat still is not.
    let s = Server::start();
    store(&s, &streaming(), "streaming cancellation steps");
    let mut chatty = streaming().as_array().unwrap().clone();
    let last = chatty.pop().unwrap();
    for (role, content) in [
        ("user", "ok I'm back at my desk"),
        ("assistant", "Welcome back!"),
        ("user", "got it, thanks"),
        ("assistant", "You're welcome!"),
    ] {
        chatty.push(json!({"role": role, "content": content}));
    }
    chatty.push(last);
    let r = lookup(&s, &Value::Array(chatty));
    assert_eq!(r["layer"], "L3_SEMANTIC_RAG", "{r}");
    assert_eq!(
        r["cached_response"]["answer"],
        "streaming cancellation steps"
    );
    let mut gym_chatty = gym().as_array().unwrap().clone();
    let last = gym_chatty.pop().unwrap();
    gym_chatty.push(json!({"role": "user", "content": "ok I'm back at my desk"}));
    gym_chatty.push(json!({"role": "assistant", "content": "Welcome back!"}));
    gym_chatty.push(last);
    let r = lookup(&s, &Value::Array(gym_chatty));
    assert_eq!(r["hit"], false, "{r}");
}

#[test]
fn a_reframed_final_request_in_the_same_chat_is_served_by_default() {
    // Default settings: the final request in another frame ("How do I …" /
    // "Tell me how to …") is the same request (`surface`), so neither the
    // final-turn cosine nor the verifier refuses it; the context still
    // decides, so the same words after the gym chat are refused.
    let s = Server::start();
    let with_final = |base: Value, text: &str| {
        let mut c = base;
        let last = c.as_array().unwrap().len() - 1;
        c[last]["content"] = json!(text);
        c
    };
    store(
        &s,
        &with_final(streaming(), "how do I cancel it?"),
        "streaming cancellation steps",
    );
    let r = lookup(
        &s,
        &with_final(streaming(), "Could you tell me how to cancel it, please?"),
    );
    assert_eq!(r["layer"], "L3_SEMANTIC_RAG", "{r}");
    assert!(r["l3_result"]["verifier_score"].is_null(), "{r}");
    let r = lookup(
        &s,
        &with_final(gym(), "Could you tell me how to cancel it, please?"),
    );
    assert_eq!(r["hit"], false, "{r}");
}

#[test]
fn system_messages_scope_like_system_prompt() {
    let s = Server::start();
    store(&s, &streaming(), "streaming cancellation steps");
    // The system message is the system prompt: given apart, same scope.
    let mut no_system = streaming();
    no_system.as_array_mut().unwrap().remove(0);
    let r = s
        .lookup(
            &json!({"messages": no_system, "task_type": "support", "use_l1": false,
                        "system_prompt": "You are a friendly support assistant."}),
        )
        .ok()
        .clone();
    assert_eq!(r["layer"], "L2_REDIS_EXACT", "{r}");
    // Without it, another scope: nothing.
    let r = s
        .lookup(&json!({"messages": no_system, "task_type": "support", "use_l1": false}))
        .ok()
        .clone();
    assert_eq!(r["hit"], false, "{r}");
}

#[test]
fn a_single_user_message_is_the_same_request_as_input_text() {
    let s = Server::start();
    s.store(&json!({"input_text": "What is machine learning?",
                    "response_data": {"a": 1}, "store_in_l1": false}))
        .ok();
    let r = s
        .lookup(
            &json!({"messages": [{"role": "user", "content": "What is machine learning?"}],
                        "use_l1": false}),
        )
        .ok()
        .clone();
    assert_eq!(r["layer"], "L2_REDIS_EXACT", "{r}");
}

#[test]
fn bad_shapes_get_coded_400s_and_store_nothing() {
    let s = Server::builder().arg("--max-messages").arg("4").start();
    let code = |body: Value| s.lookup(&body).error(400);
    let msg = |role: &str, content: Value| json!({"role": role, "content": content});
    assert_eq!(code(json!({"messages": []})), "empty_messages");
    assert_eq!(code(json!({"messages": "hi"})), "invalid_messages");
    assert_eq!(code(json!({"messages": [1]})), "invalid_messages");
    assert_eq!(
        code(json!({"messages": [msg("user", json!("q")), msg("assistant", json!("a"))]})),
        "last_turn_not_user"
    );
    assert_eq!(
        code(json!({"messages": [msg("robot", json!("q"))]})),
        "unknown_role"
    );
    assert_eq!(
        code(json!({"messages": [msg("user", json!(42))]})),
        "invalid_content"
    );
    assert_eq!(
        code(json!({"messages": [msg("user", json!(null))]})),
        "invalid_content"
    );
    assert_eq!(
        code(json!({"messages": [msg("user", json!([{"type": "text", "text": 5}]))]})),
        "invalid_content"
    );
    assert_eq!(
        code(json!({"messages": [msg("user", json!("  "))]})),
        "empty_message"
    );
    assert_eq!(
        code(json!({"messages": [msg("user", json!([{"type": "image", "source": {}}]))]})),
        "empty_message"
    );
    let five: Vec<Value> = (0..5)
        .map(|i| {
            msg(
                if i % 2 == 0 { "user" } else { "assistant" },
                json!(format!("turn {i}")),
            )
        })
        .collect();
    assert_eq!(code(json!({"messages": five})), "too_many_messages");
    assert_eq!(
        code(json!({"messages": [msg("user", json!("q"))], "input_text": "other"})),
        "input_mismatch"
    );
    assert_eq!(
        code(
            json!({"messages": [msg("system", json!("A")), msg("user", json!("q"))],
                    "system_prompt": "B"})
        ),
        "system_prompt_mismatch"
    );
    assert_eq!(code(json!({"task_type": "qa"})), "empty_input");

    let r = s.store(&json!({"messages": [msg("assistant", json!("a"))], "response_data": 1}));
    assert_eq!(r.error(400), "last_turn_not_user");
    assert_eq!(s.metrics()["total_stores"], 0);
}

#[test]
fn too_much_text_in_messages_is_refused() {
    let s = Server::builder().arg("--max-input-bytes").arg("64").start();
    let long = "x".repeat(40);
    let r = s.lookup(&json!({"messages": [
        {"role": "user", "content": long}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": long}]}));
    assert_eq!(r.error(400), "input_too_long");
}

#[test]
fn eval_replays_conversation_pairs_against_the_baselines() {
    // A few pairs of the test split: should-hit pairs and traps whose final
    // user message is identical on both sides.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conversations/pairs.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let last =
        |p: &Value, side: &str| p[side].as_array().unwrap().last().unwrap()["content"].clone();
    let test: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|p| p["split"] == "test")
        .collect();
    let hits: Vec<&Value> = test.iter().filter(|p| p["label"] == 1).take(4).collect();
    let traps: Vec<&Value> = test
        .iter()
        .filter(|p| p["label"] == 0 && last(p, "a") == last(p, "b"))
        .take(4)
        .collect();
    assert_eq!((hits.len(), traps.len()), (4, 4));
    let dir = tempfile::tempdir().unwrap();
    let few = dir.path().join("few.jsonl");
    let lines: Vec<String> = hits.iter().chain(&traps).map(|p| p.to_string()).collect();
    std::fs::write(&few, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    let output = command()
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "eval",
            "--mode",
            "conversation",
        ])
        .args(["--pairs", few.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let file = &v[few.to_str().unwrap()];
    let replays = file["replays"].as_array().unwrap();
    let by = |how: &str| {
        replays
            .iter()
            .find(|r| r["sent_as"] == how)
            .unwrap_or_else(|| panic!("no {how} replay: {file}"))
            .clone()
    };
    let (chat, last_only, transcript) = (by("messages"), by("last_message"), by("transcript"));
    for r in [&chat, &last_only, &transcript] {
        assert_eq!(r["pairs"], 8);
        assert_eq!(r["all"]["should_hit"], 4, "{r}");
        assert_eq!(r["all"]["traps"], 4, "{r}");
    }
    // The last-message baseline serves every one of these traps from L2;
    // sent as messages, no trap is ever an L2 hit.
    assert_eq!(last_only["all"]["wrong_l2"], 4, "{last_only}");
    assert_eq!(chat["all"]["wrong_l2"], 0, "{chat}");
    assert!(chat["all"]["wrong"].as_u64().unwrap() < 4, "{chat}");
}
