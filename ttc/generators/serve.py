"""A small OpenAI-compatible server over a local HF model (for laptops, CI and the client's tests).

    python -m ttc.generators.serve --model tiny-0.3m --port 8011

Serves `POST /v1/completions` (prompt, n, max_tokens, temperature, top_p, top_k, min_p, seed, stop,
logprobs, echo) and `POST /v1/chat/completions` (the user messages joined as the prompt, for models
without a chat template) with `usage` token counts. Requests are answered one at a time by the model
(a lock), while the HTTP layer accepts them concurrently. `fail_first` makes the first k requests
answer 503, to exercise a client's retries; `max_seen_concurrency` records how many requests were
in flight at once.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ttc.generators.hf import HFGenerator
from ttc.contracts.records import SamplingParams


class ModelServer:
    """A small OpenAI-compatible HTTP server over an HF generator, for client tests."""

    def __init__(self, model: str, host: str = "127.0.0.1", port: int = 0, fail_first: int = 0) -> None:
        self.generator = HFGenerator(model)
        self.lock, self.count_lock = threading.Lock(), threading.Lock()
        self.fail_left, self.in_flight, self.max_seen_concurrency, self.requests = fail_first, 0, 0, 0
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self.httpd.server_address[1]}/v1"

    def start(self) -> "ModelServer":
        """Start serving in a background thread; returns the server."""
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- answers --------------------------------------------------------------------------------
    def completions(self, body: dict, chat: bool) -> dict:
        """The JSON answer to one completions request."""
        prompt = ("\n".join(m["content"] for m in body["messages"] if m.get("role") != "system") if chat
                  else body["prompt"])
        if body.get("echo"):
            return self._echo(prompt)
        params = SamplingParams(temperature=float(body.get("temperature", 1.0)), top_k=int(body.get("top_k", 0)),
                                top_p=float(body.get("top_p", 1.0)), min_p=float(body.get("min_p", 0.0)),
                                max_tokens=int(body.get("max_tokens", 16)), stop=tuple(body.get("stop") or ()))
        seed = int(body.get("seed", 0))
        with self.lock:
            outs = self.generator.generate([prompt], params, [[seed + i for i in range(int(body.get("n", 1)))]])[0]
        choices = []
        for c in outs:
            lps = list(c.token_logprobs)
            choice = {"index": c.index, "finish_reason": c.finish_reason, "stop_reason": c.stop_reason}
            if chat:
                choice["message"] = {"role": "assistant", "content": c.text}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": [{"token": "", "logprob": lp} for lp in lps]}
            else:
                choice["text"] = c.text
                if body.get("logprobs") is not None:
                    choice["logprobs"] = {"token_logprobs": lps}
            choices.append(choice)
        p_tok = outs[0].prompt_tokens
        return {"object": "chat.completion" if chat else "text_completion", "model": body.get("model"),
                "choices": choices, "usage": {"prompt_tokens": p_tok, "completion_tokens": sum(
                    c.generated_tokens for c in outs), "prompt_tokens_details": {"cached_tokens": 0}}}

    def _echo(self, text: str) -> dict:
        tok = self.generator.tokenizer
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        with self.lock:
            [scored] = self.generator.score([""], [text])
        offsets = [start for start, _ in enc["offset_mapping"]]
        return {"object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": "length",
                "logprobs": {"tokens": tok.convert_ids_to_tokens(enc["input_ids"]), "text_offset": offsets,
                             "token_logprobs": list(scored.token_logprobs)}}],
                "usage": {"prompt_tokens": len(offsets), "completion_tokens": 0}}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):

            """One HTTP request: completions or chat completions, answered from the shared generator."""

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                with server.count_lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_seen_concurrency = max(server.max_seen_concurrency, server.in_flight)
                    fail = server.fail_left > 0
                    server.fail_left -= fail
                try:  # the request counts as in flight until its answer is ready, not until it is sent: a
                    # client may start its next request the moment it has read this answer
                    code, payload = self._answer(fail)
                finally:
                    with server.count_lock:
                        server.in_flight -= 1
                self._send(code, payload)

            def _answer(self, fail: bool) -> tuple[int, dict]:
                if fail:
                    return 503, {"error": {"message": "warming up"}}
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    if self.path == "/v1/chat/completions":
                        return 200, server.completions(body, chat=True)
                    if self.path == "/v1/completions":
                        return 200, server.completions(body, chat=False)
                    return 404, {"error": {"message": f"no route {self.path}"}}
                except (KeyError, ValueError) as err:
                    return 400, {"error": {"message": f"bad request: {err}"}}

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def main() -> None:
    """`python -m ttc.generators.serve --model NAME --port N`: serve a model until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-0.3m")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    server = ModelServer(args.model, args.host, args.port)
    print(f"serving {args.model} at {server.url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
