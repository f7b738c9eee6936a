#!/usr/bin/env python3
"""Checks the PTX of the overlapped wgmma launch (attnc --cuda-wgmma-overlap):
from every asynchronous wgmma issue (nvvm::wgmmaIssue: the block with
`bra.uni $wgmma_skip...`), every control-flow path reaches a wgmma.wait_group
before any instruction names the issue's accumulator registers (the PTX ISA:
they must not be accessed while the wgmma is in flight).

    scripts/wgmma-inflight-check.py FILE.ptx...   (exit 1 on a violation)
"""
import re
import sys


def main(paths):
    bad = 0
    for path in paths:
        lines = open(path).read().split('\n')
        entries = [i for i, l in enumerate(lines) if '.entry ' in l] + [len(lines)]
        for a, b in zip(entries, entries[1:]):
            labels = {lines[i].strip().rstrip(':'): i for i in range(a, b) if re.match(r'^\$L__\w+:$', lines[i].strip())}
            for i in range(a, b):
                if 'bra.uni $wgmma_skip' not in lines[i]: continue
                regs = set(re.findall(r'%r\d+', lines[i + 1].split('}')[0]))
                j = i
                while '// end inline asm' not in lines[j]: j += 1
                seen, stack, paths = set(), [j + 1], 0
                while stack:
                    k = stack.pop()
                    if k in seen: continue
                    seen.add(k)
                    while k < b:
                        l = lines[k].strip()
                        if 'wgmma.wait_group.sync.aligned 0;' in l: paths += 1; break
                        if set(re.findall(r'%r\d+', l)) & regs:
                            print(path, 'READ BEFORE WAIT at', k + 1, l[:80]); bad += 1; break
                        m = re.match(r'^(@%?!?\w+ )?bra(\.uni)?\s+(\$L__\w+);', l)
                        if m:
                            stack.append(labels[m.group(3)])
                            if not m.group(1): break
                        if l.startswith('ret') or l.startswith('exit'): break
                        k += 1
                print(path.split('/')[-1], lines[a].split()[-1].strip('('), 'issue at', i + 1, ': every path waits (%d wait sites reached)' % paths)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
