#!/usr/bin/env python3
"""An OTLP receiver for observe's end-to-end tests.

Decodes what it receives with OpenTelemetry's own protobuf definitions (the
`opentelemetry-proto` package) over gRPC (grpcio) and over HTTP/protobuf, and
appends one JSON object per span, per log record and per metric data point to an
output file:

  {"signal": "span", "transport": "grpc", "resource": {...}, "scope": "observe",
   "trace_id": "<hex>", "span_id": "<hex>", "parent_span_id": "<hex>", "name": ...,
   "kind": 2, "flags": 769, "start": ns, "end": ns, "attributes": {...},
   "events": [{"name": ..., "time": ns, "attributes": {...}}],
   "links": [{"trace_id": ..., "span_id": ..., "attributes": {...}}],
   "status": {"code": 2, "message": "..."}}
  {"signal": "log", "transport": "http", "resource": {...}, "scope": "<target>",
   "trace_id": "<hex>", "span_id": "<hex>", "body": ..., "severity_number": 9,
   "severity_text": "INFO", "time": ns, "attributes": {...}}

usage: otlp_receiver.py --out FILE [--grpc-port N] [--http-port N]
                        [--fail-count N --fail-status CODE [--retry-after S]]
                        [--tls-cert PEM --tls-key PEM [--client-ca PEM]]
A port of 0 picks a free one; -1 (the default) disables that transport. Prints
"READY grpc=<port> http=<port>" on stdout once listening. Listens on 127.0.0.1.

Fault injection: the first N export requests (either transport) are refused, over
HTTP with status CODE (and `Retry-After: S` when given), over gRPC with the status
the OTLP specification pairs with CODE (429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
400 INVALID_ARGUMENT, 401 UNAUTHENTICATED). Each request then also writes
  {"signal": "refused" | "accepted", "transport": ..., "status": CODE, "time": ns}
so tests can see what was retried and when.

TLS: with --tls-cert and --tls-key both transports serve TLS only (Python's ssl
module and grpcio's own TLS, so observe's rustls client meets independent
implementations); with --client-ca they also require a client certificate signed
by that CA (mutual TLS). A failed handshake is dropped without a record.
"""

import argparse
import ssl
import gzip
import json
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

LOCK = threading.Lock()
OUT = None
FAULTS = {"left": 0, "status": 0, "retry_after": None}
GRPC_CODES = {
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
}


def refuse(transport):
    """Whether this request is refused (fault injection); records the decision."""
    if FAULTS["status"] == 0:
        return False
    with LOCK:
        refused = FAULTS["left"] > 0
        if refused:
            FAULTS["left"] -= 1
    write([{"signal": "refused" if refused else "accepted", "transport": transport,
            "status": FAULTS["status"], "time": time.time_ns()}])
    return refused


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attrs(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def write(records):
    with LOCK:
        for r in records:
            OUT.write(json.dumps(r) + "\n")
        OUT.flush()


def spans(request, transport):
    out = []
    for rs in request.resource_spans:
        resource = attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "signal": "span",
                    "transport": transport,
                    "resource": resource,
                    "scope": ss.scope.name,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name,
                    "kind": s.kind,
                    "flags": s.flags,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attrs(s.attributes),
                    "events": [
                        {"name": e.name, "time": e.time_unix_nano, "attributes": attrs(e.attributes)}
                        for e in s.events
                    ],
                    "links": [
                        {"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(),
                         "attributes": attrs(l.attributes)}
                        for l in s.links
                    ],
                    "status": {"code": s.status.code, "message": s.status.message},
                })
    write(out)


def logs(request, transport):
    out = []
    for rl in request.resource_logs:
        resource = attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                out.append({
                    "signal": "log",
                    "transport": transport,
                    "resource": resource,
                    "scope": sl.scope.name,
                    "trace_id": r.trace_id.hex(),
                    "span_id": r.span_id.hex(),
                    "body": any_value(r.body),
                    "severity_number": r.severity_number,
                    "severity_text": r.severity_text,
                    "time": r.time_unix_nano,
                    "attributes": attrs(r.attributes),
                })
    write(out)


def metrics(request, transport):
    out = []
    for rm in request.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                base = {"signal": "metric", "transport": transport, "resource": resource,
                        "scope": sm.scope.name, "name": m.name, "unit": m.unit}
                kind = m.WhichOneof("data")
                if kind == "exponential_histogram":
                    for p in m.exponential_histogram.data_points:
                        out.append(dict(base, kind=kind, attributes=attrs(p.attributes),
                                        count=p.count, sum=p.sum, scale=p.scale,
                                        zero_count=p.zero_count,
                                        bucket_total=sum(p.positive.bucket_counts) + p.zero_count,
                                        min=p.min, max=p.max, exemplars=len(p.exemplars)))
                elif kind == "sum":
                    for p in m.sum.data_points:
                        out.append(dict(base, kind=kind, attributes=attrs(p.attributes),
                                        value=p.as_int if p.HasField("as_int") else p.as_double,
                                        monotonic=m.sum.is_monotonic))
                elif kind == "gauge":
                    for p in m.gauge.data_points:
                        out.append(dict(base, kind=kind, attributes=attrs(p.attributes),
                                        value=p.as_int if p.HasField("as_int") else p.as_double))
                else:
                    out.append(dict(base, kind=kind))
    write(out)


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(self, request, context):
        if refuse("grpc"):
            context.abort(GRPC_CODES.get(FAULTS["status"], grpc.StatusCode.INTERNAL), "refused")
        metrics(request, "grpc")
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        if refuse("grpc"):
            context.abort(GRPC_CODES.get(FAULTS["status"], grpc.StatusCode.INTERNAL), "refused")
        spans(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        if refuse("grpc"):
            context.abort(GRPC_CODES.get(FAULTS["status"], grpc.StatusCode.INTERNAL), "refused")
        logs(request, "grpc")
        return logs_service_pb2.ExportLogsServiceResponse()


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if refuse("http"):
            self.send_response(FAULTS["status"])
            if FAULTS["retry_after"] is not None:
                self.send_header("Retry-After", str(FAULTS["retry_after"]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/v1/traces":
            spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http")
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            metrics(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body), "http")
            reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        elif self.path == "/v1/logs":
            logs(logs_service_pb2.ExportLogsServiceRequest.FromString(body), "http")
            reply = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main():
    global OUT
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--grpc-port", type=int, default=-1)
    p.add_argument("--http-port", type=int, default=-1)
    p.add_argument("--fail-count", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=0)
    p.add_argument("--retry-after", type=int, default=None)
    p.add_argument("--tls-cert", default=None)
    p.add_argument("--tls-key", default=None)
    p.add_argument("--client-ca", default=None)
    a = p.parse_args()
    OUT = open(a.out, "a", encoding="utf-8")
    FAULTS.update(left=a.fail_count, status=a.fail_status, retry_after=a.retry_after)
    grpc_port = http_port = -1
    if a.grpc_port >= 0:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        if a.tls_cert:
            with open(a.tls_cert, "rb") as f:
                cert = f.read()
            with open(a.tls_key, "rb") as f:
                key = f.read()
            client_ca = None
            if a.client_ca:
                with open(a.client_ca, "rb") as f:
                    client_ca = f.read()
            creds = grpc.ssl_server_credentials(
                [(key, cert)],
                root_certificates=client_ca,
                require_client_auth=client_ca is not None,
            )
            grpc_port = server.add_secure_port(f"127.0.0.1:{a.grpc_port}", creds)
        else:
            grpc_port = server.add_insecure_port(f"127.0.0.1:{a.grpc_port}")
        if grpc_port == 0:
            sys.exit(f"cannot listen on 127.0.0.1:{a.grpc_port}")
        server.start()
    if a.http_port >= 0:
        httpd = ThreadingHTTPServer(("127.0.0.1", a.http_port), Http)
        http_port = httpd.server_address[1]
        if a.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(a.tls_cert, a.tls_key)
            if a.client_ca:
                ctx.load_verify_locations(a.client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            # The handshake happens in accept(); a failed one raises an OSError
            # there, which socketserver ignores (the connection is dropped).
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"READY grpc={grpc_port} http={http_port}", flush=True)
    # Stop when the test closes our stdin (or kills us).
    sys.stdin.read()


if __name__ == "__main__":
    main()
