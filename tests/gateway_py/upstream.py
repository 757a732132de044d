#!/usr/bin/env python3
"""A stand-in for the Anthropic and OpenAI APIs, written for the gateway tests.

It is not a model: it answers `POST /v1/messages` and
`POST /v1/chat/completions` (streaming and not) with a deterministic text
("Echo: <last user text>") and a usage block, and a fresh id per call, so a
test can tell a cached answer (same id) from a new upstream call.

Prompt caching is imitated: when the request carries a `cache_control`
breakpoint on its system prompt, the first call with that system prompt
reports `cache_creation_input_tokens` and later calls `cache_read_input_tokens`
(the prompt's word count), as Anthropic does.

The last user text steers failures, per request:
  FAIL-<status>  answer with that status and the provider's error body
  STALL          wait 30 s before answering (the gateway times out first)
  SLOW           stream one event every 200 ms (for disconnect tests)
  CUT            stream half the events, then close the connection

Everything received is recorded (path, headers, body); `GET /_received`
returns the list, `GET /_health` answers 200. Listens on 127.0.0.1 (port 0
picks one) and prints `listening <port>` once ready.
"""

import argparse
import itertools
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = []
LOCK = threading.Lock()
IDS = itertools.count(1)
WARM = set()


def words(text):
    return len(str(text).split())


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def system_text(system):
    if system is None:
        return ""
    return text_of(system)


def has_breakpoint(value):
    if isinstance(value, dict):
        return "cache_control" in value or any(has_breakpoint(v) for v in value.values())
    if isinstance(value, list):
        return any(has_breakpoint(v) for v in value)
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: without this, Nagle and the
    # client's delayed ACK add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("request-id", "req_standin")
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        if self.path == "/_received":
            with LOCK:
                self.send_json(200, RECEIVED)
        elif self.path == "/_health":
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with LOCK:
            RECEIVED.append({
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            })
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self.fail(400, "invalid_request_error", "messages: field required")
        users = [m for m in body["messages"] if m.get("role") == "user"]
        last = text_of(users[-1].get("content")) if users else ""
        for tok in last.split():
            if tok.startswith("FAIL-"):
                return self.fail(int(tok[5:]), "overloaded_error" if tok[5:] == "529" else "api_error", "told to fail")
        if "STALL" in last:
            time.sleep(30)
        answer = "Echo: " + last
        if self.path == "/v1/messages":
            self.anthropic(body, answer, last)
        elif self.path == "/v1/chat/completions":
            self.openai(body, answer, last)
        else:
            self.send_json(404, {"error": "not found"})

    def fail(self, status, kind, message):
        if self.path == "/v1/chat/completions":
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        else:
            body = {"type": "error", "error": {"type": kind, "message": message}}
        self.send_json(status, body)

    def anthropic(self, body, answer, last):
        system = system_text(body.get("system"))
        sys_tokens = words(system)
        creation = read = 0
        if has_breakpoint(body.get("system")):
            if system in WARM:
                read = sys_tokens
            else:
                creation = sys_tokens
                WARM.add(system)
        usage = {
            "input_tokens": sum(words(text_of(m.get("content"))) for m in body["messages"]) + sys_tokens - read - creation,
            "output_tokens": words(answer),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
        }
        msg = {
            "id": "msg_standin_%d" % next(IDS),
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return self.send_json(200, msg)
        start = dict(msg, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
        events = [("message_start", {"type": "message_start", "message": start}),
                  ("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
                  ("ping", {"type": "ping"})]
        pieces = answer.split(" ")
        for i, w in enumerate(pieces):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}}))
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": usage["output_tokens"]}}),
                   ("message_stop", {"type": "message_stop"})]
        self.stream([("event: %s\ndata: %s\n\n" % (n, json.dumps(d))).encode() for n, d in events], last)

    def openai(self, body, answer, last):
        prompt = sum(words(text_of(m.get("content"))) for m in body["messages"])
        usage = {"prompt_tokens": prompt, "completion_tokens": words(answer),
                 "total_tokens": prompt + words(answer),
                 "prompt_tokens_details": {"cached_tokens": 0}}
        cid = "chatcmpl-standin-%d" % next(IDS)
        if not body.get("stream"):
            return self.send_json(200, {
                "id": cid, "object": "chat.completion", "created": 1700000000,
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage,
            })
        include = (body.get("stream_options") or {}).get("include_usage")

        def chunk(delta, finish=None, choices=True):
            c = {"id": cid, "object": "chat.completion.chunk", "created": 1700000000,
                 "model": body.get("model"),
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
            if include:
                c["usage"] = None
            return c

        chunks = [chunk({"role": "assistant", "content": ""})]
        for i, w in enumerate(answer.split(" ")):
            chunks.append(chunk({"content": w if i == 0 else " " + w}))
        chunks.append(chunk({}, "stop"))
        if include:
            last_chunk = chunk({}, choices=False)
            last_chunk["usage"] = usage
            chunks.append(last_chunk)
        out = [("data: %s\n\n" % json.dumps(c)).encode() for c in chunks] + [b"data: [DONE]\n\n"]
        self.stream(out, last)

    def stream(self, events, last):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_standin")
        self.end_headers()
        cut = len(events) // 2 if "CUT" in last else None
        try:
            for i, e in enumerate(events):
                if cut is not None and i == cut:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(e), e))
                self.wfile.flush()
                if "SLOW" in last:
                    time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
