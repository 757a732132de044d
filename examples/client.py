#!/usr/bin/env python3
"""helios-cache from Python, standard library only.

The flow every application follows:

    1. look the question up in the cache;
    2. on a miss, call the model;
    3. store the answer, with the provider's usage block (so the cache
       knows what a later hit saves and can check its L1 predictions);
    4. the next identical (L2) or paraphrased (L3) question is a hit.

Chat applications send the whole conversation as `messages` instead of
`input_text` (`ask_chat` below): a hit then means the same request in the
same context, so "cancel it" about a streaming plan never gets the answer
cached for "cancel it" about a gym membership.

The model call here is a stand-in (no network, no API key). Replace
`call_model` with your provider's SDK.

    python3 examples/client.py --url http://127.0.0.1:8002
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

API = "/api/v1/helios/cache"


def scope_key(namespace=None, task_type=None):
    """The X-Helios-Scope value: NAMESPACE|TASK_TYPE with the server's
    defaults ("default", "general") applied. `|` is never part of a name."""
    return f"{namespace or 'default'}|{task_type or 'general'}"


class HeliosCache:
    """A minimal client of the helios-cache REST API."""

    def __init__(self, base_url, timeout=10.0):
        self.base = base_url.rstrip("/") + API
        self.timeout = timeout

    def _post(self, path, body):
        headers = {"Content-Type": "application/json"}
        # Routing headers: a load balancer in front of several nodes shards
        # by namespace without reading the body (deploy/README.md). The node
        # checks they agree with the body (400 namespace_mismatch /
        # scope_mismatch otherwise).
        if path in ("/lookup", "/store"):
            namespace = body.get("namespace") or "default"
            headers["X-Helios-Namespace"] = namespace
            headers["X-Helios-Scope"] = scope_key(namespace, body.get("task_type"))
        elif path == "/invalidate" and body.get("namespace"):
            headers["X-Helios-Namespace"] = body["namespace"]
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp), resp.headers
        except urllib.error.HTTPError as e:
            # Every error is {"error": {"code": ..., "message": ...}}.
            err = json.load(e).get("error", {})
            raise RuntimeError(f"{path}: HTTP {e.code} {err.get('code')}: {err.get('message')}")

    def lookup(self, input_text=None, messages=None, **options):
        """Returns (response body, X-Helios-Cache outcome: HIT-L2, HIT-L3 or MISS).

        Give `input_text`, or `messages` (the chat up to the final user turn)."""
        body = {**options}
        if input_text is not None:
            body["input_text"] = input_text
        if messages is not None:
            body["messages"] = messages
        body, headers = self._post("/lookup", body)
        return body, headers.get("X-Helios-Cache", "?")

    def store(self, input_text, response_data, usage=None, messages=None, **options):
        body = {"response_data": response_data, **options}
        if input_text is not None:
            body["input_text"] = input_text
        if messages is not None:
            body["messages"] = messages
        if usage is not None:
            body["usage"] = usage
        result, _ = self._post("/store", body)
        return result

    def invalidate(self, **filters):
        """Removes entries by namespace, task_type, layer or entry_id (or all=True)."""
        result, _ = self._post("/invalidate", filters)
        return result


def call_model(system_prompt, question):
    """Stand-in for a model call: returns (answer, usage block)."""
    time.sleep(0.05)
    answer = {"role": "assistant", "content": f"(model answer to: {question})"}
    usage = {
        "input_tokens": 40 + len(question.split()),
        "output_tokens": 120,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    return answer, usage


def ask(cache, system_prompt, question, namespace):
    """The cache-aside flow: lookup, model on a miss, store."""
    started = time.perf_counter()
    found, outcome = cache.lookup(
        question, system_prompt=system_prompt, namespace=namespace, task_type="support"
    )
    if found["hit"]:
        elapsed = (time.perf_counter() - started) * 1000
        print(
            f"{outcome:7} {question!r}: served from {found['layer']} "
            f"(confidence {found['confidence']:.3f}, saved {found['tokens_saved']} tokens, "
            f"{elapsed:.1f} ms)"
        )
        return found["cached_response"], outcome
    answer, usage = call_model(system_prompt, question)
    stored = cache.store(
        question,
        answer,
        usage=usage,
        system_prompt=system_prompt,
        namespace=namespace,
        task_type="support",
        model_used="claude-sonnet-4-5",
    )
    elapsed = (time.perf_counter() - started) * 1000
    print(
        f"{outcome:7} {question!r}: called the model, stored in "
        f"{', '.join(stored['layers_stored'])} ({elapsed:.1f} ms)"
    )
    return answer, outcome


def ask_chat(cache, messages, namespace):
    """The same flow for a chat: the conversation so far is the request."""
    label = f"{messages[-1]['content']!r} after {len(messages) - 1} messages"
    found, outcome = cache.lookup(messages=messages, namespace=namespace, task_type="support")
    if found["hit"]:
        print(f"{outcome:7} {label}: served from {found['layer']}")
        return found["cached_response"], outcome
    answer, usage = call_model(None, messages[-1]["content"])
    cache.store(None, answer, usage=usage, messages=messages, namespace=namespace,
                task_type="support", model_used="claude-sonnet-4-5")
    print(f"{outcome:7} {label}: called the model and stored")
    return answer, outcome


def chat(system, *turns):
    """A message list: the system prompt, then user/assistant turns alternating."""
    out = [{"role": "system", "content": system}]
    for i, text in enumerate(turns):
        out.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8002", help="server base URL")
    parser.add_argument(
        "--namespace",
        default=f"example-{int(time.time() * 1000)}",
        help="tenant namespace (default: a fresh one, so the first lookup misses)",
    )
    args = parser.parse_args()
    cache = HeliosCache(args.url)
    system = "You are the support assistant of Example Corp. Answer briefly."

    try:
        first, o1 = ask(cache, system, "How do I reset my password?", args.namespace)
        again, o2 = ask(cache, system, "How do I reset my password?", args.namespace)
        para, o3 = ask(cache, system, "How can I reset my password?", args.namespace)
        streaming = chat(system, "I have a StreamMax Premium plan from the Apple App Store.",
                         "Got it. What would you like to do?", "cancel it")
        gym = chat(system, "It's about my FitHub gym membership.",
                   "Sure. What would you like to do?", "cancel it")
        c1 = ask_chat(cache, streaming, args.namespace)[1]
        c2 = ask_chat(cache, streaming, args.namespace)[1]
        c3 = ask_chat(cache, gym, args.namespace)[1]
    except (RuntimeError, urllib.error.URLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    if (c1, c2, c3) != ("MISS", "HIT-L2", "MISS"):
        print(f"unexpected chat outcomes: {c1}, {c2}, {c3}", file=sys.stderr)
        return 1

    if o1 != "MISS" or o2 != "HIT-L2" or o3 not in ("HIT-L2", "HIT-L3"):
        print(f"unexpected outcomes: {o1}, {o2}, {o3}", file=sys.stderr)
        return 1
    if first != again:
        print("the cached answer differs from the stored one", file=sys.stderr)
        return 1
    print("ok: MISS -> model -> store -> hits; the same words in another chat miss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
