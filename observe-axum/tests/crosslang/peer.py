"""Python OpenTelemetry peers for observe's cross-language test.

Usage: peer.py <rust-service-base-url>

Starts a Flask service instrumented with opentelemetry-instrumentation-flask on an
ephemeral port, then, with opentelemetry-instrumentation-requests, calls the Rust
service's /relay with that Flask URL as the target, carrying W3C baggage. Prints one
JSON object: every span the Python SDK finished (in-memory exporter), the baggage
the Flask handler saw, and the relay's answer.
"""

import json
import sys
import threading

import requests
from flask import Flask, jsonify
from opentelemetry import baggage, context, trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from werkzeug.serving import make_server

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

app = Flask("flask-peer")
FlaskInstrumentor().instrument_app(app)
RequestsInstrumentor().instrument()

seen = {}


@app.route("/downstream")
def downstream():
    seen["baggage"] = dict(baggage.get_all())
    seen["traceparent"] = __import__("flask").request.headers.get("traceparent")
    return jsonify(ok=True)


server = make_server("127.0.0.1", 0, app)
threading.Thread(target=server.serve_forever, daemon=True).start()
flask_url = f"http://127.0.0.1:{server.server_port}/downstream"

token = context.attach(
    baggage.set_baggage("vendor", "py", baggage.set_baggage("observe.user_id", "py-user"))
)
try:
    with trace.get_tracer("peer").start_as_current_span("python-root"):
        response = requests.get(
            f"{sys.argv[1]}/relay", params={"target": flask_url}, timeout=10
        )
finally:
    context.detach(token)
server.shutdown()


def hex_id(value, width):
    return format(value, f"0{width}x")


spans = []
for s in exporter.get_finished_spans():
    spans.append(
        {
            "name": s.name,
            "kind": s.kind.name,
            "trace_id": hex_id(s.context.trace_id, 32),
            "span_id": hex_id(s.context.span_id, 16),
            "parent_id": hex_id(s.parent.span_id, 16) if s.parent else None,
            "flags": int(s.context.trace_flags),
        }
    )
print(
    json.dumps(
        {
            "status": response.status_code,
            "body": response.text,
            "flask_baggage": seen.get("baggage"),
            "flask_traceparent": seen.get("traceparent"),
            "spans": spans,
        }
    )
)
