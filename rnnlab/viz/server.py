"""`rnnlab serve`: the page of a char LM plus a box that streams samples, on 127.0.0.1.

Built on the standard library's http.server (ThreadingHTTPServer): this is a local, one-user
tool with three routes, so a server framework would add a dependency and buy nothing; the one
thing it must do beyond serving a string — stream a sample as it is produced — is a response
body written and flushed one piece at a time (HTTP/1.0, the end of the body is the end of the
connection), which every browser's fetch() reads as a stream.

    GET /                     the page (rnnlab viz's, with the sampling box)
    GET /sample?prime=…&length=…&temperature=…&top_k=…&top_p=…&seed=…&greedy=1
                              text/plain, the generated characters as they come (not the prime)
    anything else             404

Bad parameters answer 400 with one line naming the parameter. Generation runs one request at a
time (a lock): the model is shared, and the CPU is too.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rnnlab.errors import RnnlabError

MAX_SAMPLE_LENGTH = 5000
DEFAULT_SAMPLE_LENGTH = 300
FLUSH_EVERY = 4                      # characters per write: smooth to watch, few syscalls


def sampling_request(query: str):
    """(prime, length, SamplingOptions, seed) from a query string; RnnlabError on bad values."""
    from rnnlab.decoding import SamplingOptions

    params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    known = {"prime", "length", "temperature", "top_k", "top_p", "seed", "greedy"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise RnnlabError(f"unknown parameter {unknown[0]!r}; expected {', '.join(sorted(known))}")

    def number(name, kind, default):
        text = params.get(name, "")
        if text == "":
            return default
        try:
            return kind(text)
        except ValueError:
            raise RnnlabError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                              f"got {text!r}") from None

    length = number("length", int, DEFAULT_SAMPLE_LENGTH)
    if not 0 <= length <= MAX_SAMPLE_LENGTH:
        raise RnnlabError(f"length must be in 0..{MAX_SAMPLE_LENGTH}, got {length}")
    options = SamplingOptions(temperature=number("temperature", float, 1.0),
                              top_k=number("top_k", int, None), top_p=number("top_p", float, None),
                              greedy=params.get("greedy", "") in ("1", "true", "on"))
    return params.get("prime", ""), length, options, number("seed", int, None)


def make_server(model, page_html: str, host: str = "127.0.0.1", port: int = 8000,
                log=None) -> ThreadingHTTPServer:
    """A server (not yet serving: call serve_forever) for `model` (a CharLM) and its page."""
    lock = threading.Lock()
    page_bytes = page_html.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "rnnlab-serve"

        def log_message(self, format, *args):       # noqa: A002 (the base class's name)
            if log:
                log(f"{self.address_string()} {format % args}")

        def _send(self, status, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):                            # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            if url.path == "/":
                return self._send(HTTPStatus.OK, page_bytes, "text/html; charset=utf-8")
            if url.path == "/sample":
                return self._sample(url.query)
            return self._send(HTTPStatus.NOT_FOUND, b"not found: / and /sample only\n",
                              "text/plain; charset=utf-8")

        def _sample(self, query: str) -> None:
            try:
                prime, length, options, seed = sampling_request(query)
                with lock:
                    chars = model.generate(prime, length, options, seed=seed, stream=True)
                    first = next(chars, "")          # a bad prime fails here, before the 200
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("X-Content-Type-Options", "nosniff")
                    self.end_headers()
                    buffer = first
                    for ch in chars:
                        buffer += ch
                        if len(buffer) >= FLUSH_EVERY:
                            self.wfile.write(buffer.encode("utf-8"))
                            self.wfile.flush()
                            buffer = ""
                    self.wfile.write(buffer.encode("utf-8"))
            except RnnlabError as err:
                self._send(HTTPStatus.BAD_REQUEST, f"{err}\n".encode("utf-8"),
                           "text/plain; charset=utf-8")
            except (BrokenPipeError, ConnectionResetError):
                pass                                  # the browser went away mid-sample

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as err:
        raise RnnlabError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
