#!/usr/bin/env python3
"""Drives the helios-cache gateway with the official `anthropic` and `openai`
Python SDKs, in front of the stand-in upstream (upstream.py). Run by
tests/gateway.rs, one scenario per call:

  sdk_test.py --gateway http://127.0.0.1:P --upstream http://127.0.0.1:Q SCENARIO

Exit status 0 when every check of the scenario holds; 77 when the SDKs are
not installed (the Rust test reports a loud skip). Each check prints a line.
"""

import argparse
import json
import sys
import threading
import time
import urllib.request

try:
    import anthropic
    import httpx
    import openai
except ImportError as e:  # pragma: no cover
    print("SDK missing: %s" % e)
    sys.exit(77)

KEY = "sk-ant-test-SECRET-provider-key-123"
OPENAI_KEY = "sk-openai-test-SECRET-key-456"
# Long enough (>= 1024 estimated tokens) for L1 to place a system breakpoint.
LONG_SYSTEM = "You are a careful assistant for the helios test suite. " + " ".join(
    "rule%d: answer briefly." % i for i in range(700))


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


class Ctx:
    def __init__(self, gateway, upstream):
        self.gateway = gateway
        self.upstream = upstream
        self.a = anthropic.Anthropic(api_key=KEY, base_url=gateway, max_retries=0, timeout=60)
        self.o = openai.OpenAI(api_key=OPENAI_KEY, base_url=gateway + "/v1", max_retries=0, timeout=60)

    def received(self):
        return get(self.upstream + "/_received")

    def metrics(self):
        return get(self.gateway + "/api/v1/helios/cache/metrics")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok   " + what)


def cache_header(raw):
    return raw.headers.get("x-helios-cache")


def anthropic_create(ctx, **kw):
    kw.setdefault("model", "claude-sonnet-4-5")
    kw.setdefault("max_tokens", 64)
    extra = kw.pop("headers", None)
    raw = ctx.a.messages.with_raw_response.create(extra_headers=extra, **kw)
    return raw, raw.parse()


def anthropic_stream(ctx, **kw):
    kw.setdefault("model", "claude-sonnet-4-5")
    kw.setdefault("max_tokens", 64)
    extra = kw.pop("headers", None)
    with ctx.a.messages.stream(extra_headers=extra, **kw) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        header = s.response.headers.get("x-helios-cache")
    return header, text, final


# ------------------------------------------------------------- scenarios

def anthropic_basic(ctx):
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    raw, m1 = anthropic_create(ctx, system=LONG_SYSTEM, messages=msgs)
    check(cache_header(raw) == "MISS", "first call is a MISS")
    check(m1.content[0].text == "Echo: What is the capital of France?", "answer passed through")
    check(m1.usage.cache_creation_input_tokens > 0, "upstream saw a breakpoint (cache write)")
    check(raw.headers.get("x-helios-l1-breakpoints") == "system", "breakpoint header names system")
    sent = ctx.received()[-1]
    check(sent["body"]["system"][0]["cache_control"] == {"type": "ephemeral"},
          "system breakpoint present upstream")
    check(sent["headers"].get("x-api-key") == KEY, "x-api-key passed upstream")
    check(sent["headers"].get("anthropic-version"), "anthropic-version passed upstream")
    check(not any(k.startswith("x-helios") for k in sent["headers"]), "no X-Helios header upstream")

    raw, m2 = anthropic_create(ctx, system=LONG_SYSTEM, messages=msgs)
    check(cache_header(raw) == "HIT-L2", "repeat is HIT-L2")
    check(m2.id == m1.id and m2.content[0].text == m1.content[0].text, "hit returns the stored body")
    n = len(ctx.received())

    # Streaming hit of the same request: a well-formed event stream.
    header, text, final = anthropic_stream(ctx, system=LONG_SYSTEM, messages=msgs)
    check(header == "HIT-L2", "streaming repeat is HIT-L2")
    check(text == m1.content[0].text and final.id == m1.id, "SDK parses the replayed stream")
    check(final.stop_reason == "end_turn" and final.usage.output_tokens == m1.usage.output_tokens,
          "replayed stream carries stop reason and usage")
    check(len(ctx.received()) == n, "hits do not reach the upstream")

    # A paraphrase of a single-turn request: L3.
    raw, m3 = anthropic_create(ctx, system=LONG_SYSTEM,
                               messages=[{"role": "user", "content": "What is the capital of France"}])
    check(cache_header(raw) == "HIT-L3", "paraphrase is HIT-L3 (got %s)" % cache_header(raw))
    check(m3.id == m1.id, "L3 hit returns the stored body")

    # Another namespace does not see it.
    raw, _ = anthropic_create(ctx, system=LONG_SYSTEM, messages=msgs,
                              headers={"X-Helios-Namespace": "team-b"})
    check(cache_header(raw) == "MISS", "another namespace misses")
    # Same system prompt again: the upstream reports a cache read; L1 learns it.
    check(ctx.received()[-1]["body"]["system"][0].get("cache_control"), "breakpoint again")

    m = ctx.metrics()
    gw = m["gateway"]
    check(gw["hits_l2"] >= 2 and gw["hits_l3"] >= 1 and gw["stores"] >= 2, "gateway metrics count hits and stores")
    check(gw["prompt_cache_read_tokens"] > 0, "prompt-cache reads counted from usage")
    check(m["l1_predictions"] >= 1, "L1 learned from the usage blocks")
    check(gw["tokens_saved"] > 0 and gw["cost_saved_dollars"] > 0, "tokens and dollars saved")


def anthropic_streaming(ctx):
    msgs = [{"role": "user", "content": "Tell me about streaming"}]
    header, text, final = anthropic_stream(ctx, system="Be brief.", messages=msgs)
    check(header == "MISS", "streamed first call is a MISS")
    check(text == "Echo: Tell me about streaming", "stream passed through")
    raw, m = anthropic_create(ctx, system="Be brief.", messages=msgs)
    check(cache_header(raw) == "HIT-L2", "non-streaming repeat of a streamed miss is HIT-L2")
    check(m.id == final.id and m.content[0].text == text, "stored body rebuilt from the stream")
    check(m.usage.output_tokens == final.usage.output_tokens, "usage rebuilt from the stream")
    header, text2, final2 = anthropic_stream(ctx, system="Be brief.", messages=msgs)
    check(header == "HIT-L2" and text2 == text and final2.id == final.id, "streaming repeat is HIT-L2")

    # A conversation: L2 only; the last user turn gets a breakpoint when long.
    conv = [{"role": "user", "content": "first " + "word " * 1200},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"}]
    raw, c1 = anthropic_create(ctx, system="Be brief.", messages=conv)
    check(cache_header(raw) == "MISS", "conversation misses first")
    sent = ctx.received()[-1]["body"]
    check(sent["messages"][2]["content"][0].get("cache_control") == {"type": "ephemeral"},
          "last user turn has a breakpoint upstream")
    raw, c2 = anthropic_create(ctx, system="Be brief.", messages=conv)
    check(cache_header(raw) == "HIT-L2" and c2.id == c1.id, "conversation repeat is HIT-L2")
    conv2 = conv[:2] + [{"role": "user", "content": "second!"}]
    raw, _ = anthropic_create(ctx, system="Be brief.", messages=conv2)
    check(cache_header(raw) == "MISS", "conversations never match by similarity (no L3)")

    # Tool results are L2 only.
    tool_conv = [{"role": "user", "content": "weather?"},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}]
    tools = [{"name": "w", "description": "weather", "input_schema": {"type": "object"}}]
    raw, _ = anthropic_create(ctx, messages=tool_conv, tools=tools)
    check(cache_header(raw) == "MISS", "tool result call misses")
    raw, _ = anthropic_create(ctx, messages=tool_conv, tools=tools)
    check(cache_header(raw) == "HIT-L2", "tool result repeat is HIT-L2")


def own_breakpoints(ctx):
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    raw, _ = anthropic_create(ctx, system=system, messages=[{"role": "user", "content": "mine"}])
    sent = ctx.received()[-1]["body"]
    check(sent["system"] == system, "the caller's own breakpoints are left as they are")
    check(raw.headers.get("x-helios-l1-breakpoints") is None, "no breakpoints placed")
    raw, _ = anthropic_create(ctx, system=LONG_SYSTEM, messages=[{"role": "user", "content": "l1 off"}],
                              headers={"X-Helios-L1": "off"})
    sent = ctx.received()[-1]["body"]
    check(sent["system"] == LONG_SYSTEM, "X-Helios-L1: off forwards the body untouched")


def pass_through(ctx):
    msgs = [{"role": "user", "content": "pass through rules"}]
    raw, m1 = anthropic_create(ctx, messages=msgs, headers={"X-Helios-Cache-Control": "no-store"})
    check(cache_header(raw) == "BYPASS", "no-store is BYPASS")
    raw, m2 = anthropic_create(ctx, messages=msgs)
    check(cache_header(raw) == "MISS" and m2.id != m1.id, "no-store stored nothing")
    raw, m3 = anthropic_create(ctx, messages=msgs, headers={"X-Helios-Cache-Control": "no-cache"})
    check(cache_header(raw) == "MISS" and m3.id != m2.id, "no-cache skips the lookup")
    raw, m4 = anthropic_create(ctx, messages=msgs)
    check(cache_header(raw) == "HIT-L2" and m4.id == m3.id, "no-cache still stored (the newer answer)")
    raw, _ = anthropic_create(ctx, messages=msgs, headers={"X-Helios-Cache-Control": "no-cache, no-store"})
    check(cache_header(raw) == "BYPASS", "both: BYPASS")
    raw, m5 = anthropic_create(ctx, messages=msgs, temperature=0.7)
    check(cache_header(raw) == "MISS", "a different temperature is a different key")
    raw, m6 = anthropic_create(ctx, messages=msgs, temperature=0.7)
    check(cache_header(raw) == "HIT-L2" and m6.id == m5.id,
          "sampled requests are cached by default (the request is the key)")
    raw, _ = anthropic_create(ctx, messages=msgs, max_tokens=65)
    check(cache_header(raw) == "MISS", "max_tokens is part of the key")


def fresh_when_sampled(ctx):
    msgs = [{"role": "user", "content": "sampled"}]
    raw, _ = anthropic_create(ctx, messages=msgs, temperature=0.7)
    check(cache_header(raw) == "BYPASS", "temperature > 0 passes through")
    raw, _ = anthropic_create(ctx, messages=msgs, temperature=0.7)
    check(cache_header(raw) == "BYPASS", "and is never stored")
    raw, _ = anthropic_create(ctx, messages=msgs, temperature=0)
    raw, _ = anthropic_create(ctx, messages=msgs, temperature=0)
    check(cache_header(raw) == "HIT-L2", "temperature 0 is cached")


def failures(ctx):
    n_before = ctx.metrics()["gateway"]["stores"]
    for status, exc in [(500, anthropic.InternalServerError), (429, anthropic.RateLimitError),
                        (529, anthropic.APIStatusError), (400, anthropic.BadRequestError)]:
        try:
            anthropic_create(ctx, messages=[{"role": "user", "content": "FAIL-%d" % status}])
            check(False, "FAIL-%d raised" % status)
        except exc as e:
            check(e.status_code == status, "upstream %d returned as sent" % status)
            check(e.body["error"]["message"] == "told to fail", "upstream %d body passed through" % status)
    try:
        anthropic_create(ctx, messages=[{"role": "user", "content": "STALL please"}])
        check(False, "stall raised")
    except anthropic.APIStatusError as e:
        check(e.status_code == 504, "a stalled upstream is a 504")
        check(e.body["type"] == "error" and e.body["error"]["type"] == "timeout_error",
              "504 in Anthropic's error shape")
    try:
        ctx.o.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "FAIL-503"}])
        check(False, "openai fail raised")
    except openai.APIStatusError as e:
        check(e.status_code == 503 and e.body["message"] == "told to fail", "OpenAI upstream 503 passed through")
    # A stream cut by the upstream: the client sees an error, nothing stored.
    try:
        anthropic_stream(ctx, messages=[{"role": "user", "content": "CUT this stream short"}])
        check(False, "cut stream raised")
    except (httpx.HTTPError, anthropic.APIError) as e:
        check(True, "a cut upstream stream fails the client's stream (%s)" % type(e).__name__)
    check(ctx.metrics()["gateway"]["stores"] == n_before, "nothing stored on failures")


def unreachable(ctx):
    try:
        anthropic_create(ctx, messages=[{"role": "user", "content": "anyone there?"}])
        check(False, "unreachable raised")
    except anthropic.APIStatusError as e:
        check(e.status_code == 502, "an unreachable upstream is a 502")
        check(e.body["error"]["type"] == "api_error", "502 in Anthropic's error shape")
    try:
        ctx.o.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        check(False, "openai unreachable raised")
    except openai.APIStatusError as e:
        check(e.status_code == 502 and e.body["type"] == "api_error", "502 in OpenAI's error shape")
    check(ctx.metrics()["gateway"]["upstream_errors"] >= 2, "upstream errors counted")


def openai_basic(ctx):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    raw = ctx.o.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
    c1 = raw.parse()
    check(raw.headers.get("x-helios-cache") == "MISS", "OpenAI first call is a MISS")
    check(c1.choices[0].message.content == "Echo: What is 2+2?", "OpenAI answer passed through")
    sent = ctx.received()[-1]
    check(sent["headers"].get("authorization") == "Bearer " + OPENAI_KEY, "Authorization passed upstream")
    check(sent["path"] == "/v1/chat/completions", "forwarded to /v1/chat/completions")
    raw = ctx.o.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
    c2 = raw.parse()
    check(raw.headers.get("x-helios-cache") == "HIT-L2" and c2.id == c1.id, "OpenAI repeat is HIT-L2")
    # Streaming hit, with a usage chunk.
    stream = ctx.o.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True,
                                           stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == c1.choices[0].message.content, "SDK parses the replayed OpenAI stream")
    check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens == c1.usage.total_tokens,
          "replayed stream ends with the usage chunk")
    # Streaming miss, stored from the stream.
    msgs2 = [{"role": "user", "content": "stream me"}]
    with ctx.o.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=msgs2,
                                                               stream=True) as r:
        check(r.headers.get("x-helios-cache") == "MISS", "OpenAI streamed first call is a MISS")
        text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
    check(text == "Echo: stream me", "OpenAI stream passed through")
    raw = ctx.o.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs2)
    check(raw.headers.get("x-helios-cache") == "HIT-L2" and raw.parse().choices[0].message.content == text,
          "OpenAI stream stored and replayed as JSON")
    raw = ctx.o.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs2, max_tokens=5)
    check(raw.headers.get("x-helios-cache") == "MISS", "OpenAI parameters are part of the key")
    check(not any("cache_control" in json.dumps(r["body"]) for r in ctx.received()
                  if r["path"] == "/v1/chat/completions"), "no breakpoints on OpenAI requests")


def disconnect(ctx):
    """A client that goes away mid-stream leaves no entry."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
            "messages": [{"role": "user", "content": "SLOW stream with many words to send one by one"}]}
    before = ctx.metrics()["gateway"]
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", ctx.gateway + "/v1/messages", json=body,
                      headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"}) as r:
            check(r.headers.get("x-helios-cache") == "MISS", "slow stream starts as a MISS")
            for line in r.iter_lines():
                if line.startswith("event: content_block_delta"):
                    break
        # Leaving the block closes the connection mid-stream.
    deadline = time.time() + 30
    while time.time() < deadline and ctx.metrics()["gateway"]["client_disconnects"] <= before["client_disconnects"]:
        time.sleep(0.05)
    after = ctx.metrics()["gateway"]
    check(after["client_disconnects"] == before["client_disconnects"] + 1, "the gateway saw the disconnect")
    check(after["stores"] == before["stores"], "nothing stored")
    # The same request again (non-streaming, same key) misses.
    body["stream"] = False
    with httpx.Client(timeout=60) as c:
        r = c.post(ctx.gateway + "/v1/messages", json=body,
                   headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    check(r.headers.get("x-helios-cache") == "MISS", "the abandoned stream left no entry")


SCENARIOS = {
    "anthropic_basic": anthropic_basic,
    "anthropic_streaming": anthropic_streaming,
    "own_breakpoints": own_breakpoints,
    "pass_through": pass_through,
    "fresh_when_sampled": fresh_when_sampled,
    "failures": failures,
    "unreachable": unreachable,
    "openai_basic": openai_basic,
    "disconnect": disconnect,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--upstream", default="")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    ctx = Ctx(args.gateway, args.upstream)
    try:
        SCENARIOS[args.scenario](ctx)
    except AssertionError as e:
        print("FAIL " + str(e))
        return 1
    print("PASS " + args.scenario)
    return 0


if __name__ == "__main__":
    sys.exit(main())
