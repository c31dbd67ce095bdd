#!/usr/bin/env python3
"""The layers of observe-core, checked (ARCHITECTURE.md, "Layers of observe-core").

Reads every non-test `crate::` path in observe-core/src and fails when a module
imports a module of a higher layer, or when modules form an import cycle anywhere
but inside the application-thread engine (one unit on purpose). Test code is not
checked: `#[cfg(test)] mod ... {` to the end of a file, and `*tests.rs` files.
"""
import os
import re
import sys

LAYERS = [
    ("leaf data, parsers and the metrics registry",
     {"ids", "clock", "config", "propagation", "metrics"}),
    ("application-thread engine (one unit)",
     {"span", "context", "footprint", "log", "pipeline", "bridge", "task", "thread",
      "dry_run", "sampling", "tracer_bullet", "private"}),
    ("sinks", {"otel", "recorder", "export", "slo", "dependencies"}),
    ("instance assembly and the admin surface", {"init", "testing", "startup", "controls", "health", "admin"}),
    ("adapter building blocks", {"server", "client"}),
]
ENGINE = 1
# Items lib.rs re-exports at the crate root, by the module that defines them.
ROOT = {"Observe": "init", "InitError": "init", "Builder": "init", "Guard": "init",
        "DefaultGuard": "init", "init": "init", "layer": "init", "FutureExt": "span",
        "sink": "pipeline", "DryRun": "dry_run", "side_effect": "dry_run",
        "spawn": "task", "spawn_blocking": "task", "ObserveLayer": "bridge",
        "SpanContext": "ids", "SpanId": "ids", "TraceFlags": "ids", "TraceId": "ids",
        "__private": "private"}
# Defined in lib.rs itself (the pipeline's counters), below everything that uses them.
LIB = {"PipelineStats", "stats", "traced", "__macros"}

src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "observe-core", "src")
layer_of = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}
edges = {}
problems = []
for dirpath, _, files in os.walk(src):
    for f in sorted(files):
        if not f.endswith(".rs") or f.endswith("tests.rs"):
            continue
        rel = os.path.relpath(os.path.join(dirpath, f), src).replace(os.sep, "/")
        if rel == "lib.rs":
            continue
        module = rel.split("/")[0].removesuffix(".rs")
        if module not in layer_of:
            problems.append(f"{rel}: module `{module}` is in no layer (add it to scripts/check-layers.py and ARCHITECTURE.md)")
            continue
        lines = open(os.path.join(dirpath, f), encoding="utf-8").read().split("\n")
        for n, line in enumerate(lines):
            if line.startswith("#[cfg(test)]") and n + 1 < len(lines) and re.match(r"\s*mod \w+ \{", lines[n + 1]):
                break
            if line.strip().startswith("//"):
                continue
            names = re.findall(r"crate::(\w+)", line)
            group = re.search(r"crate::\{([^}]*)", line)
            if group:
                names += re.findall(r"(?:^|,)\s*(\w+)", group.group(1))
            for name in names:
                if name in LIB:
                    continue
                target = ROOT.get(name, name)
                if target == module or target not in layer_of:
                    continue
                edges.setdefault(module, {}).setdefault(target, f"{rel}:{n + 1}")
                if layer_of[target] > layer_of[module]:
                    problems.append(
                        f"{rel}:{n + 1}: `{module}` ({LAYERS[layer_of[module]][0]}) imports "
                        f"`{target}` ({LAYERS[layer_of[target]][0]}), a higher layer")

# Cycles (Tarjan's strongly connected components) outside the engine.
index, low, stack, on, comps = {}, {}, [], set(), []
def visit(v, counter=[0]):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        comps.append(comp)
for v in sorted(layer_of):
    if v not in index:
        visit(v)
for comp in comps:
    if len(comp) > 1 and not all(layer_of[m] == ENGINE for m in comp):
        where = "; ".join(f"{a} -> {b} at {edges[a][b]}" for a in sorted(comp)
                          for b in sorted(edges.get(a, {})) if b in comp)
        problems.append(f"import cycle outside the engine: {sorted(comp)} ({where})")

for p in problems:
    print(f"check-layers: {p}")
if not problems:
    print("check-layers: observe-core's layers hold; the only import cycle is the engine's")
sys.exit(1 if problems else 0)
