"""A Python gRPC client instrumented with opentelemetry-instrumentation-grpc, for
the example's cross-language test.

Usage: peer.py <host:port>

Calls shop.Orders/GetOrder (id 7) with grpcio through the OpenTelemetry client
interceptor (W3C traceparent in the metadata), and prints one JSON object: every
span the Python SDK finished (in-memory exporter) and the reply's size.
"""

import json
import sys

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
GrpcInstrumentorClient().instrument()

# OrderRequest { id: 7 }: field 1, varint. Raw bytes keep the peer free of
# generated code.
REQUEST = bytes([0x08, 7])

with grpc.insecure_channel(sys.argv[1]) as channel:
    get_order = channel.unary_unary(
        "/shop.Orders/GetOrder",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    reply = get_order(REQUEST, timeout=10)


def hex_id(value, width):
    return format(value, f"0{width}x")


spans = [
    {
        "name": s.name,
        "kind": s.kind.name,
        "trace_id": hex_id(s.context.trace_id, 32),
        "span_id": hex_id(s.context.span_id, 16),
        "parent_id": hex_id(s.parent.span_id, 16) if s.parent else None,
    }
    for s in exporter.get_finished_spans()
]
print(json.dumps({"reply_bytes": len(reply), "spans": spans}))
