#!/usr/bin/env python3
"""Turn `perf script` text (from `perf record -g -e cpu-clock`) into folded stacks, an SVG
flame graph and a short text summary. Standard library only, so it runs on any box with perf.
"""
import argparse, collections, os, re, shutil, subprocess, sys, zlib
from xml.sax.saxutils import escape

# comm may contain spaces, so anchor on the pid[/tid], optional [cpu] and timestamp that follow it.
HEADER = re.compile(r'^(.*?)\s+\d+(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:')
# The dso is the last "(...)"; require it to look like a path or [tag] because demangled
# symbols can contain " (" themselves.
FRAME = re.compile(r'^\s*[0-9a-fA-F]+\s+(.*?)\s+\(((?:/|\[).*)\)\s*$')
OFFSET = re.compile(r'\+0x[0-9a-fA-F]+$')
MANGLED = re.compile(r'^_?\$[sSe]|^_T0')
KERNEL = '_[k]'


def parse(path, exact_threads):
    """Yield (thread, [frames root-first]) per sample; frames are (symbol, dso)."""
    thread, frames = None, []
    with open(path, errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line.strip():
                if thread is not None:
                    yield thread, frames[::-1]  # perf prints the leaf first
                thread, frames = None, []
            elif line.startswith('#'):  # `perf script --header` comments
                continue
            elif not line[0].isspace():
                m = HEADER.match(line)
                thread = (m.group(1) if m else line.split()[0]).strip()
                if not exact_threads:  # NIO-ELT-0-#3 and NIO-ELT-0-#5 are the same kind of thread
                    thread = re.sub(r'(?<![A-Za-z])\d+', 'N', thread)
                frames = []
            elif thread is not None:
                m = FRAME.match(line)
                sym, dso = (m.group(1), m.group(2)) if m else (line.split(None, 1)[-1], '[unknown]')
                frames.append((OFFSET.sub('', sym.strip()), dso))
    if thread is not None:
        yield thread, frames[::-1]


def find_demangler():
    cands = [shutil.which('swift-demangle'), '/usr/bin/swift-demangle']
    swift = shutil.which('swift')
    if swift:  # the toolchain ships swift-demangle next to swift, possibly behind a symlink
        cands += [os.path.join(os.path.dirname(p), 'swift-demangle') for p in (swift, os.path.realpath(swift))]
    return next((c for c in cands if c and os.access(c, os.X_OK)), None)


def demangle(symbols):
    """Map mangled Swift symbols to demangled ones with one swift-demangle call (it is slow to start)."""
    syms = sorted(s for s in symbols if MANGLED.match(s))
    tool = find_demangler()
    if not syms or not tool:
        return {}
    try:
        out = subprocess.run([tool, '--simplified', '--compact'], input='\n'.join(syms) + '\n',
                             capture_output=True, text=True, timeout=300).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(zip(syms, out)) if len(out) == len(syms) else {}


def _close(s, i):
    """Index of the bracket closing s[i], treating ( and < alike and ignoring the > of '->'."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] in '(<':
            depth += 1
        elif s[j] == ')' or (s[j] == '>' and s[j - 1] != '-'):
            depth -= 1
            if depth == 0:
                return j
    return None


def shorten(name):
    """Drop call argument lists and long generic lists so labels read as Type.method."""
    out, i = [], 0
    while i < len(name):
        c, j = name[i], (_close(name, i) if name[i] in '(<' else None)
        if j is None:
            out.append(c); i += 1; continue
        # "(...)" right after an identifier is an argument list; "(...)" after a space is a
        # tuple/function type inside a closure description and carries meaning.
        drop = (c == '(' and i > 0 and not name[i - 1].isspace()) or (c == '<' and j - i + 1 > 60)
        if not drop:
            out.append(c + shorten(name[i + 1:j]) + name[j])
        i = j + 1
    return ''.join(out).strip() or name


def fold(samples):
    samples = list(samples)
    names = demangle({s for _, fr in samples for s, _ in fr})
    cache, folded = {}, collections.Counter()

    def label(sym, dso):
        key = (sym, dso)
        if key not in cache:
            kernel = dso == '[kernel.kallsyms]'
            if sym.startswith('[unknown]'):  # the dso is the only clue left
                n = '[%s]' % os.path.basename(dso.strip('[]')) if dso != '[unknown]' else '[unknown]'
            else:
                n = shorten(names.get(sym, sym))
            n = n.replace(';', ':')  # ';' is the folded-format separator
            cache[key] = n + KERNEL if kernel and not n.endswith(KERNEL) else n
        return cache[key]

    for thread, frames in samples:
        folded[';'.join([thread] + [label(s, d) for s, d in frames])] += 1
    return folded


def color(name):
    h = zlib.crc32(name.encode())  # stable across runs, unlike hash()
    a, b = (h & 0xff) / 255, ((h >> 8) & 0xff) / 255
    if name.endswith(KERNEL):
        return 'rgb(%d,%d,%d)' % (235 + 20 * a, 120 + 40 * b, 20 + 30 * a)
    return 'rgb(%d,%d,%d)' % (205 + 50 * a, 50 + 180 * b, 55 * a)


def write_svg(folded, path, title):
    root = {}  # name -> [count, children]
    for stack, n in folded.items():
        level = root
        for fr in stack.split(';'):
            node = level.setdefault(fr, [0, {}])
            node[0] += n
            level = node[1]
    total = sum(folded.values())
    depth = lambda lv: 1 + max((depth(c[1]) for c in lv.values()), default=0)
    width, fh, pad, top = 1200, 16, 10, 50
    height = top + depth(root) * fh + pad  # the extra level is the "all" root
    scale = (width - 2 * pad) / max(total, 1)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="Verdana" '
           'font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="#f8f8f8"/>',
           '<text x="%d" y="24" font-size="17" text-anchor="middle">%s</text>' % (width // 2, escape(title)),
           '<text x="%d" y="42" font-size="12" text-anchor="middle" fill="#555">%d samples</text>'
           % (width // 2, total)]

    def draw(name, count, children, x, d):
        w = count * scale
        if w < 0.1:
            return
        y = height - pad - (d + 1) * fh
        tip = escape('%s (%d samples, %.2f%%)' % (name, count, 100.0 * count / max(total, 1)))
        chars = int((w - 6) / 7)  # ~7px per glyph at 12px Verdana
        text = name if len(name) <= chars else (name[:chars - 2] + '..' if chars >= 3 else '')
        out.append('<g><title>%s</title><rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" '
                   'rx="2"/>%s</g>' % (tip, x, y, w, fh - 1, color(name),
                   '<text x="%.2f" y="%d">%s</text>' % (x + 3, y + 12, escape(text)) if text else ''))
        for child in sorted(children):  # alphabetical order, as classic flame graphs do
            draw(child, children[child][0], children[child][1], x, d + 1)
            x += children[child][0] * scale

    draw('all', total, root, pad, 0)
    out.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def summary(folded, top):
    total = sum(folded.values()) or 1
    self_c, incl, threads, kernel = collections.Counter(), collections.Counter(), collections.Counter(), 0
    for stack, n in folded.items():
        frames = stack.split(';')
        threads[frames[0]] += n
        funcs = frames[1:]
        if funcs:
            self_c[funcs[-1]] += n
            kernel += n if funcs[-1].endswith(KERNEL) else 0
        for fr in set(funcs):  # recursion must not count a function twice per stack
            incl[fr] += n
    pct = lambda n: 100.0 * n / total
    print('total samples: %d' % sum(folded.values()))
    print('leaf in kernel: %d (%.1f%%)' % (kernel, pct(kernel)))
    for head, counter in (('by thread', threads), ('top %d self' % top, self_c), ('top %d inclusive' % top, incl)):
        print('\n%s:' % head)
        for name, c in counter.most_common(top):
            print('  %6.2f%% %8d  %s' % (pct(c), c, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('perf_script', help='text output of `perf script`')
    ap.add_argument('--svg', required=True, help='flame graph to write')
    ap.add_argument('--folded', help='also write folded stacks here')
    ap.add_argument('--title', default='Flame Graph')
    ap.add_argument('--top', type=int, default=25, help='rows per summary table (default 25)')
    ap.add_argument('--exact-threads', action='store_true',
                    help='keep digits in thread names instead of merging e.g. NIO-ELT-0-#3 into NIO-ELT-N-#N')
    args = ap.parse_args()
    folded = fold(parse(args.perf_script, args.exact_threads))
    if not folded:
        sys.exit('no samples found in %s' % args.perf_script)
    if args.folded:
        with open(args.folded, 'w') as f:
            f.writelines('%s %d\n' % kv for kv in sorted(folded.items()))
    write_svg(folded, args.svg, args.title)
    summary(folded, args.top)


if __name__ == '__main__':
    main()
