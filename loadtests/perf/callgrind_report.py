#!/usr/bin/env python3
"""Reads a callgrind dump of the edge (`loadtests/perf/run.sh callgrind`) per request.

    callgrind_report.py DUMP REQUESTS                  self instructions by function, and by object
    callgrind_report.py DUMP REQUESTS --callers REGEX  who calls the functions matching REGEX
    callgrind_report.py DUMP REQUESTS --callees REGEX  what the functions matching REGEX call

Swift names are demangled (swift-demangle). callgrind_annotate (3.19 and 3.24 alike) puts every
instruction of these dumps under `clone`, hence this reader. Inclusive figures of async functions
are unreliable (their partial functions resume from the executor, not from their caller), so the
caller and callee views are best on synchronous code.
"""
import argparse
import collections
import re
import subprocess

NAME = re.compile(r"\((\d+)\)(?: (.*))?")


def read(path):
    """Self cost per (object, function) and call cost per (caller, callee)."""
    names = {"fn": {}, "ob": {}}
    self_cost = collections.Counter()
    calls = collections.Counter()
    fn = ob = callee = None
    pending_call = False

    def resolve(kind, value):
        match = NAME.match(value)
        if not match:
            return value
        if match.group(2):
            names[kind][match.group(1)] = match.group(2)
        return names[kind].get(match.group(1), value)

    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("ob="):
            ob = resolve("ob", line[3:])
        elif line.startswith("fn="):
            fn = resolve("fn", line[3:])
        elif line.startswith("cfn="):
            callee = resolve("fn", line[4:])
        elif line.startswith("cob="):
            resolve("ob", line[4:])
        elif line.startswith("calls="):
            pending_call = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            parts = line.split()
            if len(parts) < 2:
                continue
            if pending_call:
                calls[(fn, callee)] += int(parts[1])
                pending_call = False
            else:
                self_cost[(ob, fn)] += int(parts[1])
    return self_cost, calls


def demangled(names):
    names = [n for n in names if n]
    out = subprocess.run(["swift-demangle", "--simplified", "--compact"], input="\n".join(names),
                         capture_output=True, text=True).stdout.split("\n")
    return dict(zip(names, out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dump")
    parser.add_argument("requests", type=int)
    parser.add_argument("--callers")
    parser.add_argument("--callees")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    self_cost, calls = read(args.dump)
    total = sum(self_cost.values())
    per = lambda c: f"{c / total * 100:5.1f}% {c // args.requests:>10,}"
    print(f"{total:,} instructions, {total // args.requests:,} per request")
    by_function = collections.Counter()
    for (_, fn), cost in self_cost.items():
        by_function[fn] += cost
    names = demangled(set(by_function) | {f for f, _ in calls} | {g for _, g in calls})
    if args.callers or args.callees:
        pattern = re.compile(args.callers or args.callees)
        matches = lambda f: bool(pattern.search(names.get(f, f or "")))
        found = collections.Counter()
        for (caller, callee), cost in calls.items():
            if args.callers and matches(callee) and not matches(caller):
                found[caller] += cost
            if args.callees and matches(caller) and not matches(callee):
                found[callee] += cost
        print("callers of" if args.callers else "callees of", pattern.pattern)
        for f, cost in found.most_common(args.top):
            print(per(cost), names.get(f, f)[:160])
        return
    by_object = collections.Counter()
    for (ob, _), cost in self_cost.items():
        by_object[ob] += cost
    print("-- self, by object")
    for ob, cost in by_object.most_common(8):
        print(per(cost), ob)
    print("-- self, by function")
    for f, cost in by_function.most_common(args.top):
        print(per(cost), names.get(f, f)[:160])


if __name__ == "__main__":
    main()
