#!/usr/bin/env python3
"""bench_gen.py: the Python half of scripts/bench-build.sh.

  generate OUT [--quick]      write OUT/wheelhouse (local wheels) and OUT/bench-stack (a CORA-shaped
                              stack whose requirements name those wheels), and OUT/stats.env
  check JSON --built N --cached N [--remote N] [--total N]
                              verify an `xtask build --json` report: no failed artifact, these counts
  shas A.json B.json          how many artifacts differ in sha256 between two reports
  compare BASELINE_DIR JSON SIZE_JSON
                              same file names in the baseline's zips and the xtask's zips, but for
                              the distributions `xtask size --json` says were left out?
  shipped JSON SIZE_JSON      bytes of runtime-provided packages, and bytes left out for layers
  zipsize DIR                 total bytes of the *.zip files under DIR
  sdkzips DIR                 how many zips under DIR ship botocore
  samtemplate STACK OUT       a SAM template.yaml with every function and layer of STACK (python3.13)

Everything is generated from a fixed seed: two runs write the same wheels and the same stack.
Generated code is varied Python text (identifiers, docstrings, control flow), so it compresses
roughly like real source does, not like repeated filler.
"""

import argparse
import base64
import glob
import hashlib
import json
import keyword
import os
import random
import re
import sys
import zipfile

# ----------------------------------------------------------------------------------------------
# Text that looks and compresses like Python source

WORDS = """
account access action active address admin agent alert alias amount analysis answer api app
archive asset attempt audit auth author backend balance batch bucket budget buffer cache call
callback campaign candidate capacity category channel chart check choice chunk claim client
cluster code collection column comment commit company config connection consent contact content
context contract cost count counter country credential criteria cursor customer dashboard data
database dataset date deadline default delivery department deployment description detail device
digest dimension discount document domain draft duration email embedding endpoint engine entity
entry environment error evaluation event exception expiry export extension factor feature feed
field file filter flag folder format frame function gateway grant group handler hash header health
history host identity image import index input insight instance integration interval invite
invoice issue item job key label language layer lease level limit line link list locale lock log
mapping marker match member message metadata method metric migration model module monitor name
namespace node note notification number object offset operation option order organization origin
output owner package page parameter parent partition password path payload payment peer period
permission phase pipeline plan platform policy pool position post preference prefix price priority
process product profile project prompt property provider quota query queue rate reason receipt
record reference region registry relation release report request resource response result retry
revision role route rule run sample schedule schema scope score secret section segment selector
sequence server service session setting share signal signature size slot snapshot source span
spec stage state status step storage stream subject subscription summary supplier table tag target
task team template tenant term thread threshold ticket tier timeout timestamp token topic total
trace transaction transcript trigger type unit update upload usage user validation value variant
vector vendor version view voice volume webhook weight window workflow workspace zone
""".split()
VERBS = """
add apply build cancel check clean close collect compute convert create decode delete describe
detect encode ensure extract fetch filter find format generate get handle import index insert list
load lookup merge normalize notify open parse prepare process publish read record refresh register
reject release remove render repair replace request reset resolve restore retry save schedule
search send serialize set sort split start stop store submit sync track transform update upload
validate verify wrap write
""".split()
ADJ = """
active archived async batch cached current default deleted effective empty encoded expired
external final global hidden initial internal last latest local main max min new next optional
pending primary private public raw recent remote required reserved resolved shared signed stale
static strict temporary total trusted unique valid visible
""".split()
STDLIB = [
    "import json", "import logging", "import os", "import re", "import time", "import uuid",
    "import base64", "import hashlib", "import functools", "import itertools", "import typing",
    "from dataclasses import dataclass, field", "from datetime import datetime, timedelta, timezone",
    "from typing import Any, Dict, Iterable, List, Optional, Tuple", "from enum import Enum",
    "from collections import defaultdict, OrderedDict", "from decimal import Decimal",
]
EXC = ["ValueError", "KeyError", "TypeError", "RuntimeError", "LookupError", "PermissionError"]
WORDS, VERBS, ADJ = ([w for w in ws if not keyword.iskeyword(w)] for ws in (WORDS, VERBS, ADJ))
TYPES = ["str", "int", "bool", "float", "dict", "list", "Optional[str]", "Dict[str, Any]",
         "List[str]", "Tuple[int, int]", "Any", "bytes"]


class Code:
    """Generates Python modules of a requested size from a seeded random source."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.local = None

    def word(self):
        if self.local and self.r.random() < 0.8:
            return self.r.choice(self.local)
        return self.r.choice(WORDS)

    def ident(self):
        n = self.r.choice((1, 2, 2, 2, 3))
        parts = [self.r.choice(ADJ)] if n == 3 else []
        parts += [self.word() for _ in range(min(n, 2))]
        return "_".join(parts)

    def func_name(self):
        return self.r.choice(VERBS) + "_" + self.ident()

    def cls_name(self):
        return "".join(w.capitalize() for w in (self.word(), self.r.choice(WORDS + ["manager", "client", "service", "store", "error", "handler"])))

    def sentence(self):
        n = self.r.randint(6, 15)
        ws = [self.r.choice(WORDS + VERBS + ADJ + ["the", "a", "of", "to", "is", "for", "when", "if", "and", "or", "not", "with", "from"]) for _ in range(n)]
        return (" ".join(ws)).capitalize() + "."

    def doc(self, indent, lines=None):
        n = lines if lines is not None else self.r.choice((1, 1, 2, 3))
        pad = " " * indent
        if n == 1:
            return f'{pad}"""{self.sentence()}"""\n'
        body = "\n".join(pad + self.sentence() for _ in range(n))
        return f'{pad}"""{self.sentence()}\n\n{body}\n{pad}"""\n'

    def expr(self, names):
        r = self.r
        v = r.choice(names) if names else "None"
        k = r.randint(0, 9)
        if k == 0:
            return f'{v}.get("{self.ident()}", {r.choice(["None", "0", "[]", "{}", repr(self.word())])})'
        if k == 1:
            return f"{self.func_name()}({v}, {r.choice(names) if names else 'None'})"
        if k == 2:
            return f'f"{self.word()}-{{{v}}}-{{{r.choice(names) if names else 0}}}"'
        if k == 3:
            return f"len({v}) {r.choice(['+', '-', '*', '//'])} {r.randint(1, 4096)}"
        if k == 4:
            return f"[x for x in {v} if x is not None]"
        if k == 5:
            return "{" + ", ".join(f'"{self.ident()}": {r.choice(names) if names else 0}' for _ in range(r.randint(1, 4))) + "}"
        if k == 6:
            return f"self.{self.ident()}" if r.random() < 0.5 else f"{v}.{self.ident()}"
        if k == 7:
            return repr(self.word() + "/" + self.word() + "/" + str(r.randint(0, 999)))
        if k == 8:
            return f"{v} or {r.choice(['DEFAULT_' + self.word().upper(), '0', 'None', repr(self.word())])}"
        return f"{self.func_name()}({', '.join(r.sample(names, min(len(names), r.randint(0, 3))))})"

    def stmts(self, names, depth, indent, budget):
        r = self.r
        pad = " " * indent
        out = []
        for _ in range(budget):
            k = r.randint(0, 11)
            if k <= 3 or depth > 2:
                name = self.ident()
                out.append(f"{pad}{name} = {self.expr(names)}\n")
                names = names + [name]
            elif k == 4:
                out.append(f"{pad}if {r.choice(names)} {r.choice(['is None', 'is not None', '> 0', '== ' + repr(self.word())])}:\n")
                out.extend(self.stmts(names, depth + 1, indent + 4, r.randint(1, 3)))
                if r.random() < 0.4:
                    out.append(f"{pad}else:\n")
                    out.extend(self.stmts(names, depth + 1, indent + 4, r.randint(1, 2)))
            elif k == 5:
                item = self.word()
                out.append(f"{pad}for {item} in {r.choice(names)}:\n")
                out.extend(self.stmts(names + [item], depth + 1, indent + 4, r.randint(1, 3)))
            elif k == 6:
                out.append(f"{pad}try:\n")
                out.extend(self.stmts(names, depth + 1, indent + 4, r.randint(1, 3)))
                out.append(f"{pad}except {r.choice(EXC)} as exc:\n")
                out.append(f'{pad}    logger.warning("{self.sentence()} %s", exc)\n')
                out.append(f"{pad}    {r.choice(['raise', 'return None', 'pass' if depth else 'return {}'])}\n")
            elif k == 7:
                out.append(f'{pad}logger.{r.choice(["debug", "info", "warning"])}("{self.sentence()} %s", {r.choice(names)})\n')
            elif k == 8:
                out.append(f'{pad}if not {r.choice(names)}:\n{pad}    raise {r.choice(EXC)}(f"{self.sentence()} {{{r.choice(names)}!r}}")\n')
            elif k == 9:
                out.append(f"{pad}# {self.sentence()}\n{pad}{self.ident()} = {self.expr(names)}\n")
            else:
                out.append(f"{pad}{self.func_name()}({', '.join(r.sample(names, min(len(names), r.randint(1, 3))))})\n")
        return out

    def function(self, indent=0, method=False):
        r = self.r
        pad = " " * indent
        args = list(dict.fromkeys(self.ident() for _ in range(r.randint(0, 4))))
        sig = ", ".join(["self"] * method + [f"{a}: {r.choice(TYPES)}" for a in args])
        kw = self.ident()
        if r.random() < 0.3 and kw not in args and kw != "self":
            sig += (", " if sig else "") + f"{kw}: {r.choice(TYPES)} = {r.choice(['None', '0', 'False', repr(self.word())])}"
        deco = f"{pad}@{r.choice(['staticmethod', 'property', 'functools.lru_cache(maxsize=128)'])}\n" if (not method and r.random() < 0.1) else ""
        out = [deco, f"{pad}def {self.func_name()}({sig}) -> {r.choice(TYPES + ['None'])}:\n", self.doc(indent + 4)]
        out += self.stmts(args or ["event"], 0, indent + 4, r.randint(2, 9))
        out.append(f"{pad}    return {self.expr(args or ['event'])}\n")
        return "".join(out)

    def klass(self):
        r = self.r
        name = self.cls_name()
        base = r.choice(["", "(Exception)", "(object)", f"({self.cls_name()})", "(Enum)"])
        if base == "(Enum)":
            members = "".join(f'    {w.upper()} = "{w}"\n' for w in dict.fromkeys(self.word() for _ in range(r.randint(3, 8))))
            return f"class {name}(Enum):\n{self.doc(4)}\n{members}"
        fields = list(dict.fromkeys(self.ident() for _ in range(r.randint(1, 5))))
        init = "    def __init__(self, " + ", ".join(f"{f}: {r.choice(TYPES)} = None" for f in fields) + ") -> None:\n"
        init += "".join(f"        self.{f} = {f}\n" for f in fields)
        methods = "\n".join(self.function(4, method=True) for _ in range(r.randint(1, 5)))
        return f"class {name}{base}:\n{self.doc(4, 2)}\n{init}\n{methods}"

    def module(self, size, imports=()):
        r = self.r
        self.local = r.sample(WORDS, 40)
        parts = [self.doc(0, r.randint(1, 4)), "from __future__ import annotations\n\n"]
        parts += [s + "\n" for s in sorted(set(r.sample(STDLIB, r.randint(2, 6))) | {"import logging"})]
        parts += [i + "\n" for i in imports]
        parts.append("\nlogger = logging.getLogger(__name__)\n\n")
        for _ in range(r.randint(1, 6)):
            parts.append(f"{self.word().upper()}_{self.word().upper()} = {r.choice([str(r.randint(1, 10000)), repr(self.word()), repr(self.sentence()), 'None', 'True'])}\n")
        parts.append("\n\n")
        n = sum(len(p) for p in parts)
        while n < size:
            p = (self.klass() if r.random() < 0.3 else self.function()) + "\n\n"
            parts.append(p)
            n += len(p)
        return "".join(parts)


# ----------------------------------------------------------------------------------------------
# The wheelhouse

# name, version, size in KB of installed files, binary?, Requires-Dist.
# Shaped after the dependency trees CORA Lambdas actually pull in (requests, supabase, openai,
# anthropic, pydantic, psycopg, cryptography...), with "bx-" names so nothing real is implied.
PACKAGES = [
    ("bx-six", "1.17.0", 60, False, []),
    ("bx-idna", "3.10", 180, False, []),
    ("bx-certifi", "2024.8.30", 280, False, []),
    ("bx-charset", "3.4.0", 250, False, []),
    ("bx-urllib", "2.2.3", 550, False, []),
    ("bx-requests", "2.32.3", 320, False, ["bx-charset>=2", "bx-idna>=2.5", "bx-urllib>=1.21.1", "bx-certifi>=2017.4.17"]),
    ("bx-dateutil", "2.9.0", 480, False, ["bx-six>=1.5"]),
    ("bx-tzdata", "2024.2", 700, False, []),
    ("bx-typing-ext", "4.12.2", 120, False, []),
    ("bx-annotated-types", "0.7.0", 60, False, []),
    ("bx-pydantic-core", "2.23.4", 1400, True, ["bx-typing-ext>=4.6.0"]),
    ("bx-pydantic", "2.9.2", 1600, False, ["bx-pydantic-core==2.23.4", "bx-annotated-types>=0.6.0", "bx-typing-ext>=4.6.1"]),
    ("bx-sniffio", "1.3.1", 50, False, []),
    ("bx-h11", "0.14.0", 150, False, []),
    ("bx-anyio", "4.6.2", 600, False, ["bx-idna>=2.8", "bx-sniffio>=1.1"]),
    ("bx-httpcore", "1.0.6", 380, False, ["bx-certifi", "bx-h11<0.15,>=0.13"]),
    ("bx-httpx", "0.27.2", 520, False, ["bx-anyio", "bx-certifi", "bx-httpcore==1.*", "bx-idna", "bx-sniffio"]),
    ("bx-jiter", "0.6.1", 300, True, []),
    ("bx-distro", "1.9.0", 80, False, []),
    ("bx-tqdm", "4.66.5", 400, False, []),
    ("bx-openai", "1.51.0", 3200, False, ["bx-anyio<5,>=3.5.0", "bx-distro<2,>=1.7.0", "bx-httpx<1,>=0.23.0", "bx-jiter<1,>=0.4.0", "bx-pydantic<3,>=1.9.0", "bx-sniffio", "bx-tqdm>4", "bx-typing-ext<5,>=4.11"]),
    ("bx-regex", "2024.9.11", 750, True, []),
    ("bx-tiktoken", "0.8.0", 450, True, ["bx-regex>=2022.1.18", "bx-requests>=2.26.0"]),
    ("bx-anthropic", "0.36.0", 1800, False, ["bx-anyio<5,>=3.5.0", "bx-distro<2,>=1.7.0", "bx-httpx<1,>=0.23.0", "bx-jiter<1,>=0.4.0", "bx-pydantic<3,>=1.9.0", "bx-sniffio", "bx-typing-ext<5,>=4.7"]),
    ("bx-pyjwt", "2.9.0", 180, False, []),
    ("bx-pycparser", "2.22", 600, False, []),
    ("bx-cffi", "1.17.1", 700, True, ["bx-pycparser"]),
    ("bx-cryptography", "43.0.1", 3000, True, ["bx-cffi>=1.12"]),
    ("bx-packaging", "24.1", 280, False, []),
    ("bx-deprecation", "2.1.0", 50, False, ["bx-packaging"]),
    ("bx-strenum", "0.4.15", 50, False, []),
    ("bx-postgrest", "0.17.1", 240, False, ["bx-httpx<0.28,>=0.24", "bx-pydantic<3.0,>=1.9", "bx-deprecation<3.0.0,>=2.1.0", "bx-strenum<0.5.0,>=0.4.9"]),
    ("bx-gotrue", "2.9.2", 380, False, ["bx-httpx<0.28,>=0.24", "bx-pydantic<3,>=1.10"]),
    ("bx-storage3", "0.8.1", 200, False, ["bx-httpx<0.28,>=0.24", "bx-dateutil<3.0.0,>=2.8.2", "bx-typing-ext<5.0.0,>=4.2.0"]),
    ("bx-websockets", "13.1", 800, False, []),
    ("bx-realtime", "2.0.5", 240, False, ["bx-websockets<14,>=11", "bx-dateutil<3.0.0,>=2.8.1", "bx-typing-ext<5.0.0,>=4.12.2"]),
    ("bx-supabase", "2.9.0", 280, False, ["bx-postgrest<0.18,>=0.17", "bx-gotrue<3.0,>=2.9.0", "bx-storage3<0.9,>=0.5.3", "bx-realtime<3.0.0,>=2.0.0", "bx-httpx<0.28,>=0.26"]),
    ("bx-psycopg", "3.2.3", 1500, True, ["bx-typing-ext>=4.6"]),
    # Older releases next to the current ones, as in any real wheelhouse: the resolver must pick.
    ("bx-requests", "2.31.0", 310, False, ["bx-charset>=2", "bx-idna>=2.5", "bx-urllib>=1.21.1", "bx-certifi>=2017.4.17"]),
    ("bx-pydantic", "2.8.2", 1550, False, ["bx-pydantic-core>=2.20", "bx-annotated-types>=0.4.0", "bx-typing-ext>=4.6.1"]),
]
# The AWS SDK for Python under its real names, which the xtask knows the Lambda runtime bundles,
# shaped after boto3/botocore 1.35: botocore is mostly service models shipped gzipped, so it hardly
# compresses. Two releases, as real stacks pin old ones. Generated from their own seed, so adding
# them leaves every other wheel and the stack's code unchanged.
# name, version, KB of Python text, KB of already-compressed data, Requires-Dist.
SDK = [
    ("boto3", "1.35.36", 500, 0, ["botocore<1.36.0,>=1.35.36", "jmespath<2.0.0,>=0.7.1", "s3transfer<0.11.0,>=0.10.0"]),
    ("botocore", "1.35.36", 1800, 13000, ["jmespath<2.0.0,>=0.7.1"]),
    ("s3transfer", "0.10.3", 400, 0, ["botocore<2.0a0,>=1.33.2"]),
    ("jmespath", "1.0.1", 100, 0, []),
    ("boto3", "1.34.162", 480, 0, ["botocore<1.35.0,>=1.34.162", "jmespath<2.0.0,>=0.7.1", "s3transfer<0.11.0,>=0.10.0"]),
    ("botocore", "1.34.162", 1750, 12500, ["jmespath<2.0.0,>=0.7.1"]),
]
TAG_PURE = "py3-none-any"
TAG_BINARY = "cp313-cp313-manylinux2014_x86_64"


def norm(name):
    return name.replace("-", "_")


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_zip(path, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)


def binary_blob(r, size):
    """Bytes that compress about like a shared library (~2x): machine-code-ish noise plus tables."""
    table = bytes(r.getrandbits(8) for _ in range(64))
    out = bytearray()
    while len(out) < size:
        if r.random() < 0.5:
            out += r.randbytes(4096)
        else:
            out += table * 32 + bytes(1024)
    return bytes(out[:size])


def package_files(code, r, name, version, kb, binary, scale):
    """(path, bytes) of one distribution's package: modules, subpackages, maybe an extension."""
    imp = norm(name)
    target = max(int(kb * 1024 * scale), 8 * 1024)
    files = []
    if binary:
        so = target // 2
        files.append((f"{imp}/_{imp.split('_')[-1]}.cpython-313-x86_64-linux-gnu.so", binary_blob(r, so)))
        target -= so
    files.append((f"{imp}/__init__.py", code.module(r.randint(800, 3000), [f'__version__ = "{version}"']).encode()))
    subpkgs = [""] + [f"{code.word()}s/" for _ in range(target // (400 * 1024))]
    made = 0
    seen = set()
    while made < target:
        sub = r.choice(subpkgs)
        mod = f"{imp}/{sub}{code.ident()}.py"
        if mod in seen:
            continue
        seen.add(mod)
        text = code.module(min(r.randint(2 * 1024, 36 * 1024), target - made + 512)).encode()
        files.append((mod, text))
        made += len(text)
    for sub in subpkgs[1:]:
        files.append((f"{imp}/{sub}__init__.py", code.doc(0, 1).encode()))
    files.append((f"{imp}/py.typed", b""))
    return files


def write_wheel(wheelhouse, code, r, name, version, kb, binary, requires, scale, data_kb=0):
    tag = TAG_BINARY if binary else TAG_PURE
    dist = f"{norm(name)}-{version}.dist-info"
    files = package_files(code, r, name, version, kb, binary, scale)
    data, i = int(data_kb * 1024 * scale), 0
    while data > 0:  # gzipped JSON models: incompressible
        n = min(data, r.randint(20, 400) * 1024)
        files.append((f"{norm(name)}/data/{code.word()}-{i}/service-2.json.gz", r.randbytes(n)))
        data, i = data - n, i + 1
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {code.sentence()}\n"
    meta += "License: MIT\nRequires-Python: >=3.8\n"
    meta += "".join(f"Requires-Dist: {d}\n" for d in requires)
    meta += "\n" + "\n\n".join(code.sentence() for _ in range(r.randint(3, 12))) + "\n"
    files.append((f"{dist}/METADATA", meta.encode()))
    purelib = "true" if not binary else "false"
    files.append((f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: bench_gen 1.0\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n".encode()))
    files.append((f"{dist}/top_level.txt", f"{norm(name)}\n".encode()))
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in files) + f"{dist}/RECORD,,\n"
    files.append((f"{dist}/RECORD", record.encode()))
    path = os.path.join(wheelhouse, f"{norm(name)}-{version}-{tag}.whl")
    write_zip(path, files)
    return sum(len(d) for _, d in files)


def write_heavy_wheel(wheelhouse, name, version, mib, seed):
    """A platform wheel of `mib` MiB of random bytes in 2 MiB shared objects: what an ML or
    data-science dependency weighs, incompressible as compiled code mostly is not (worst case)."""
    r = random.Random(seed)
    imp, dist = norm(name), f"{norm(name)}-{version}.dist-info"
    files = [(f"{imp}/__init__.py", f'__version__ = "{version}"\n'.encode())]
    for i in range(int(mib * 2) // 4 or 1):
        files.append((f"{imp}/_blob{i}.cpython-313-x86_64-linux-gnu.so", r.randbytes(2 << 20)))
    files.append((f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()))
    files.append((f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: bench_gen 1.0\nRoot-Is-Purelib: false\nTag: {TAG_BINARY}\n".encode()))
    files.append((f"{dist}/top_level.txt", f"{imp}\n".encode()))
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in files) + f"{dist}/RECORD,,\n"
    files.append((f"{dist}/RECORD", record.encode()))
    write_zip(os.path.join(wheelhouse, f"{imp}-{version}-{TAG_BINARY}.whl"), files)
    return sum(len(d) for _, d in files)


# ----------------------------------------------------------------------------------------------
# The stack

# module -> (functions, layers). 9 modules, 29 functions, 10 layers; --quick keeps the first 3.
MODULES = [
    ("access", ["profiles", "orgs", "members", "org-email-domains", "invites"], ["org-common", "access_common"]),
    ("ai", ["ai-config", "providers", "models"], ["ai-common"]),
    ("kb", ["kb-base", "kb-document", "kb-processor"], ["kb-common"]),
    ("mgmt", ["platform-mgmt", "lambda-warming", "schedules"], ["mgmt_common"]),
    ("chat", ["chat-session", "chat-message", "chat-stream"], ["chat-common"]),
    ("ws", ["workspaces", "ws-members", "ws-config"], ["ws_common"]),
    ("eval", ["eval-config", "eval-processor", "eval-results"], ["eval-common"]),
    ("voice", ["voice-sessions", "voice-transcripts", "voice-configs"], ["voice-common"]),
    ("project", ["projects", "project-members", "project-favorites"], ["project_common"]),
]
# Artifacts with real requirement lines (14 of 39), written the way people write them.
# boto3 in 9 of them, as on the real stack: the org-common layer every function attaches, the
# kb-common layer, and functions that pin the layer's release (the xtask leaves theirs out) or
# an older one (theirs stays and shadows the layer's).
REQUIREMENTS = {
    ("access", "profiles"): ["bx-requests==2.32.3", "bx-pyjwt>=2.8  # token checks", "boto3==1.35.36"],
    ("access", "orgs"): ["bx-dateutil", "bx-tzdata"],
    ("access", "org-common"): ["bx-supabase>=2.0", "bx-pyjwt==2.9.0", "boto3==1.35.36"],
    ("access", "access_common"): ["bx-psycopg==3.2.3"],
    ("ai", "providers"): ["bx-openai==1.51.0", "bx-anthropic>=0.30", "boto3==1.34.162"],
    ("ai", "models"): ["bx-tiktoken==0.8.0", "bx-heavyfn==1.0  # 26 MiB of shared objects"],
    ("ai", "ai-common"): ["bx-pydantic>=2.7,<3"],
    ("kb", "kb-processor"): ["bx-tiktoken", "bx-requests", "boto3>=1.34"],
    ("kb", "kb-common"): ["bx-cryptography>=42", "boto3", "bx-heavylayer==1.0"],
    ("mgmt", "platform-mgmt"): ["bx-requests", "boto3"],
    ("chat", "chat-stream"): ["bx-anthropic==0.36.0", "boto3==1.34.162"],
    ("eval", "eval-processor"): ["bx-httpx", "bx-tqdm", "boto3"],
    ("voice", "voice-sessions"): ["bx-websockets", "bx-tzdata", "bx-dateutil>=2.8", "boto3"],
    ("project", "projects"): ["bx-dateutil", "bx-requests>=2.31"],
}
# The function whose handler the one-edit measurement changes: has dependencies, mid-sized.
EDIT_TARGET = ("access", "profiles")
# The heavy edits: a function and a layer with >= 25 MB of zipped dependencies (bx-heavyfn,
# bx-heavylayer), and a function without dependencies to compare the function's edit with.
HEAVY_FUNCTION = ("ai", "models")
HEAVY_LAYER = ("kb", "kb-common")
LIGHT_FUNCTION = ("access", "members")
HEAVY = [("bx-heavyfn", "1.0", 26, 77), ("bx-heavylayer", "1.0", 26, 78)]


def snake(s):
    return s.replace("-", "_")


def handler_source(code, r, module, fn, helpers, layer_pkgs, deps):
    imports = [f"from {h} import {code.func_name()} as _{h}_entry" for h in helpers]
    imports += [f"import {p}" for p in layer_pkgs]
    imports += [f"import {norm(d)}" for d in deps]
    body = code.module(r.randint(2500, 5000), imports)
    routes = "".join(f'    ("{m}", "/{module}/{snake(fn)}{p}"): _{snake(fn)}_{m.lower()},\n'
                     for m, p in (("GET", ""), ("POST", ""), ("GET", "/{id}"), ("DELETE", "/{id}")))
    handlers = "".join(
        f'\ndef _{snake(fn)}_{m.lower()}(event: Dict[str, Any]) -> Dict[str, Any]:\n'
        f'    return {{"statusCode": 200, "body": json.dumps({{"ok": True, "method": "{m}"}})}}\n'
        for m in ("GET", "POST", "DELETE"))
    main = (
        "\nimport json\nfrom typing import Any, Dict\n"
        f"{handlers}\n\nROUTES = {{\n{routes}}}\n\n\n"
        "def lambda_handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:\n"
        '    """Entry point: lambda_function.lambda_handler, routed by method and path."""\n'
        '    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")\n'
        '    path = event.get("rawPath", "/")\n'
        "    route = ROUTES.get((method, path))\n"
        "    if route is None:\n"
        '        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}\n'
        "    try:\n"
        "        return route(event)\n"
        "    except ValueError as exc:\n"
        '        logger.warning("bad request: %s", exc)\n'
        '        return {"statusCode": 400, "body": json.dumps({"error": str(exc)})}\n'
    )
    return body + main


def main_tf(module, functions, layers):
    own = [snake(l) for l in layers]
    if module == "access":
        attach = [f"aws_lambda_layer_version.{l}.arn" for l in own]
    else:
        attach = ["var.org_common_layer_arn"] + [f"aws_lambda_layer_version.{l}.arn" for l in own]
    out = ['locals {\n  build_dir = "${path.module}/../backend/.build"\n}\n',
           'resource "aws_iam_role" "lambda" {\n'
           '  name = "${var.project_name}-${var.environment}-${var.module_name}-lambda-role"\n'
           '  assume_role_policy = jsonencode({\n    Version = "2012-10-17"\n'
           '    Statement = [{ Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole" }]\n'
           '  })\n  tags = var.common_tags\n}\n']
    for l in layers:
        out.append(
            f'resource "aws_lambda_layer_version" "{snake(l)}" {{\n'
            f'  layer_name          = "${{var.project_name}}-${{var.environment}}-{l}"\n'
            f'  filename            = "${{local.build_dir}}/{l}-layer.zip"\n'
            f'  source_code_hash    = filebase64sha256("${{local.build_dir}}/{l}-layer.zip")\n'
            '  compatible_runtimes = ["python3.13"]\n}\n')
    for fn in functions:
        out.append(
            f'resource "aws_lambda_function" "{snake(fn)}" {{\n'
            f'  function_name    = "${{var.project_name}}-${{var.environment}}-${{var.module_name}}-{fn}"\n'
            f'  filename         = "${{local.build_dir}}/{fn}.zip"\n'
            f'  source_code_hash = filebase64sha256("${{local.build_dir}}/{fn}.zip")\n'
            '  runtime          = "python3.13"\n  architectures    = ["x86_64"]\n'
            '  handler          = "lambda_function.lambda_handler"\n'
            '  role             = aws_iam_role.lambda.arn\n  timeout          = 29\n  memory_size      = 512\n'
            f'  layers           = [{", ".join(attach)}]\n'
            '  environment {\n    variables = {\n      LOG_LEVEL           = var.log_level\n'
            '      SUPABASE_SECRET_ARN = var.supabase_secret_arn\n    }\n  }\n  tags = var.common_tags\n}\n\n'
            f'resource "aws_cloudwatch_log_group" "{snake(fn)}" {{\n'
            f'  name              = "/aws/lambda/${{aws_lambda_function.{snake(fn)}.function_name}}"\n'
            '  retention_in_days = 14\n}\n')
    return "\n".join(out)


def outputs_tf(module, functions):
    # The layer every other module attaches, passed on by the env as a CORA infra repo does.
    shared = ('output "org_common_layer_arn" {\n  value = aws_lambda_layer_version.org_common.arn\n}\n\n'
              if module == "access" else "")
    rows = []
    for fn in functions:
        for m, p in (("GET", ""), ("POST", ""), ("GET", "/{id}"), ("DELETE", "/{id}")):
            rows.append(f'    {{ method = "{m}", path = "/{module}/{snake(fn)}{p}", '
                        f'integration = aws_lambda_function.{snake(fn)}.invoke_arn, public = false }},\n')
    return shared + f'output "api_routes" {{\n  value = [\n{"".join(rows)}  ]\n}}\n'


VARIABLES_TF = "".join(
    f'variable "{v}" {{\n  type = {t}\n}}\n\n'
    for v, t in (("project_name", "string"), ("environment", "string"), ("module_name", "string"),
                 ("aws_region", "string"), ("supabase_secret_arn", "string"), ("log_level", "string"),
                 ("common_tags", "map(string)"), ("org_common_layer_arn", "string")))
def env_tf(modules):
    """The env composing every module (`envs/dev` inside the stack, so `cp -a` of the stack copies
    it too): the stack model follows `org_common_layer_arn` from module-access's output."""
    out = []
    for module, _, _ in modules:
        args = [f'  source               = "../../packages/module-{module}/infrastructure"',
                '  project_name         = "bench"', '  environment          = "dev"',
                f'  module_name          = "{module}"', '  aws_region           = "us-east-1"',
                '  supabase_secret_arn  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench"',
                '  log_level            = "INFO"', '  common_tags          = {}']
        if module != "access":
            args.append("  org_common_layer_arn = module.module_access.org_common_layer_arn")
        out.append(f'module "module_{snake(module)}" {{\n' + "\n".join(args) + "\n}\n")
    return "\n".join(out)


VERSIONS_TF = 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws", version = ">= 5.0" }\n  }\n}\n'


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return len(text.encode())


def closure(reqs, latest):
    """Installed distributions for requirement lines (highest version of each, as both installers pick)."""
    todo = [l.split("#")[0].strip() for l in reqs]
    todo = [t.replace(">", " ").replace("<", " ").replace("=", " ").replace(",", " ").split()[0] for t in todo if t]
    seen = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for d in latest[n][4]:
            todo.append(d.replace(">", " ").replace("<", " ").replace("=", " ").replace(",", " ").split()[0])
    return seen


def generate(out, quick):
    scale = 0.2 if quick else 0.7
    modules = MODULES[:3] if quick else MODULES
    wheelhouse = os.path.join(out, "wheelhouse")
    stack = os.path.join(out, "bench-stack")
    os.makedirs(wheelhouse, exist_ok=True)
    r = random.Random(1313)
    code = Code(2024)

    latest = {}
    installed_size = {}
    unzipped = 0
    for p in PACKAGES:
        name, version, kb, binary, requires = p
        size = write_wheel(wheelhouse, code, r, name, version, kb, binary, requires, scale)
        unzipped += size
        if name not in latest:
            latest[name] = p
            installed_size[name] = size
    rs, cs = random.Random(4242), Code(4242)
    for name, version, kb, data_kb, requires in SDK:
        size = write_wheel(wheelhouse, cs, rs, name, version, kb, False, requires, scale, data_kb)
        unzipped += size
        if name not in latest:
            latest[name] = (name, version, kb, False, requires)
            installed_size[name] = size
    for name, version, mib, seed in HEAVY:
        size = write_heavy_wheel(wheelhouse, name, version, 3 if quick else mib, seed)
        unzipped += size
        latest[name] = (name, version, 0, True, [])
        installed_size[name] = size
    wheel_bytes = sum(os.path.getsize(os.path.join(wheelhouse, f)) for f in os.listdir(wheelhouse))

    n_fn = n_layer = n_deps = code_bytes = installed = 0
    for module, functions, layers in modules:
        mdir = os.path.join(stack, "packages", f"module-{module}")
        backend = os.path.join(mdir, "backend")
        layer_pkgs = ["org_common"] + [snake(l) for l in layers if snake(l) != "org_common"]
        for l in layers:
            n_layer += 1
            ldir = os.path.join(backend, "layers", l)
            pkg = snake(l)
            for i in range(r.randint(4, 9)):
                mod = "__init__" if i == 0 else code.ident()
                code_bytes += write(os.path.join(ldir, "python", pkg, f"{mod}.py"), code.module(r.randint(2000, 9000)))
            reqs = REQUIREMENTS.get((module, l))
            if reqs:
                n_deps += 1
                installed += sum(installed_size[d] for d in closure(reqs, latest))
                write(os.path.join(ldir, "requirements.txt"), f"# {l} layer dependencies\n" + "\n".join(reqs) + "\n")
            elif r.random() < 0.5:
                write(os.path.join(ldir, "requirements.txt"), "# boto3 is provided by the Lambda runtime\n")
        for fn in functions:
            n_fn += 1
            fdir = os.path.join(backend, "lambdas", fn)
            helpers = [code.word() + "_" + w for w in r.sample(["service", "queries", "validators", "models", "utils"], r.randint(1, 2))]
            reqs = REQUIREMENTS.get((module, fn))
            deps = [d.split("=")[0].split(">")[0].split("<")[0].strip().split()[0] for d in reqs] if reqs else []
            code_bytes += write(os.path.join(fdir, "lambda_function.py"), handler_source(code, r, module, fn, helpers, layer_pkgs, deps))
            for h in helpers:
                code_bytes += write(os.path.join(fdir, f"{h}.py"), code.module(r.randint(1500, 4500)))
            if r.random() < 0.25:  # a helper subpackage next to the handler (F9: it must ship too)
                code_bytes += write(os.path.join(fdir, "lib", "__init__.py"), code.doc(0, 1))
                code_bytes += write(os.path.join(fdir, "lib", f"{code.ident()}.py"), code.module(r.randint(1500, 4000)))
            if reqs:
                n_deps += 1
                installed += sum(installed_size[d] for d in closure(reqs, latest))
                write(os.path.join(fdir, "requirements.txt"), "\n".join(reqs) + "\n")
            elif r.random() < 0.5:
                write(os.path.join(fdir, "requirements.txt"), "# no dependencies beyond the layers\n# boto3 comes with the runtime\n")
        infra = os.path.join(mdir, "infrastructure")
        write(os.path.join(infra, "main.tf"), main_tf(module, functions, layers))
        write(os.path.join(infra, "outputs.tf"), outputs_tf(module, functions))
        write(os.path.join(infra, "variables.tf"), VARIABLES_TF)
        write(os.path.join(infra, "versions.tf"), VERSIONS_TF)
    write(os.path.join(stack, "envs", "dev", "main.tf"), env_tf(modules))
    write(os.path.join(stack, "envs", "dev", "versions.tf"), VERSIONS_TF)
    write(os.path.join(stack, "xtask.toml"),
          'python = "3.13"\narch = "x86_64"\ninstaller = "auto"\n\n'
          f'[installer_options]\nfind_links = ["{os.path.abspath(wheelhouse)}"]\nno_index = true\n')

    stats = {
        "MODULES": len(modules), "FUNCTIONS": n_fn, "LAYERS": n_layer, "WITH_DEPS": n_deps,
        "ARTIFACTS": n_fn + n_layer, "WHEELS": len(PACKAGES) + len(SDK) + len(HEAVY), "WHEEL_BYTES": wheel_bytes,
        "WHEEL_UNZIPPED_BYTES": unzipped, "INSTALLED_BYTES": installed, "CODE_BYTES": code_bytes,
        "EDIT_MODULE": f"module-{EDIT_TARGET[0]}", "EDIT_FUNCTION": EDIT_TARGET[1],
        "HEAVY_FN_MODULE": f"module-{HEAVY_FUNCTION[0]}", "HEAVY_FN": HEAVY_FUNCTION[1],
        "HEAVY_LAYER_MODULE": f"module-{HEAVY_LAYER[0]}", "HEAVY_LAYER": HEAVY_LAYER[1],
        "LIGHT_FN_MODULE": f"module-{LIGHT_FUNCTION[0]}", "LIGHT_FN": LIGHT_FUNCTION[1],
    }
    with open(os.path.join(out, "stats.env"), "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in stats.items()))


def sam_template(stack, out):
    """template.yaml for `sam build`: every function and layer of the bench stack, python3.13."""
    def rid(*parts):
        return "".join(p.title() for p in re.split(r"[^A-Za-z0-9]+", "-".join(parts)) if p)
    lines = ["AWSTemplateFormatVersion: '2010-09-09'", "Transform: AWS::Serverless-2016-10-31", "Resources:"]
    for mdir in sorted(glob.glob(os.path.join(stack, "packages", "module-*"))):
        module, backend = os.path.basename(mdir), os.path.join(mdir, "backend")
        for fn in sorted(os.listdir(os.path.join(backend, "lambdas"))):
            lines += [f"  Fn{rid(module, fn)}:", "    Type: AWS::Serverless::Function", "    Properties:",
                      f"      CodeUri: {os.path.join(backend, 'lambdas', fn)}",
                      "      Handler: lambda_function.lambda_handler", "      Runtime: python3.13",
                      "      Architectures: [x86_64]"]
        for layer in sorted(os.listdir(os.path.join(backend, "layers"))):
            lines += [f"  Layer{rid(module, layer)}:", "    Type: AWS::Serverless::LayerVersion", "    Properties:",
                      f"      ContentUri: {os.path.join(backend, 'layers', layer)}",
                      "      CompatibleRuntimes: [python3.13]", "    Metadata:",
                      "      BuildMethod: python3.13", "      BuildArchitecture: x86_64"]
    write(out, "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------
# Checks on xtask reports and zips

def load_report(path):
    with open(path) as f:
        return json.load(f)


def check(path, built, cached, total, remote=None):
    rep = load_report(path)
    arts = rep.get("artifacts", [])
    counts = {s: sum(1 for a in arts if a["status"] == s) for s in ("built", "cached", "remote", "failed")}
    problems = []
    if counts["failed"]:
        bad = [f'{a["module"]}/{a["name"]}: {a.get("error", "")}' for a in arts if a["status"] == "failed"]
        problems.append(f"{counts['failed']} failed artifact(s):\n  " + "\n  ".join(bad))
    if total is not None and len(arts) != total:
        problems.append(f"{len(arts)} artifacts reported, expected {total}")
    if built is not None and counts["built"] != built:
        problems.append(f"{counts['built']} built, expected {built}")
    if cached is not None and counts["cached"] != cached:
        problems.append(f"{counts['cached']} cached, expected {cached}")
    if remote is not None and counts["remote"] != remote:
        problems.append(f"{counts['remote']} remote, expected {remote}")
    if problems:
        print(f"{path}: " + "; ".join(problems), file=sys.stderr)
        return 1
    remote_part = f"{counts['remote']} remote, " if counts["remote"] else ""
    print(f"{counts['built']} built, {counts['cached']} cached, {remote_part}0 failed, installer {rep.get('installer')}")
    return 0


def shas(a, b):
    sa = {(x["module"], x["name"]): x["sha256_base64"] for x in load_report(a)["artifacts"]}
    sb = {(x["module"], x["name"]): x["sha256_base64"] for x in load_report(b)["artifacts"]}
    diff = sorted(f"{m}/{n}" for m, n in set(sa) | set(sb) if sa.get((m, n)) != sb.get((m, n)))
    print(f"{len(diff)} " + " ".join(diff[:5]))
    return 0


INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}


def zip_names(path):
    with zipfile.ZipFile(path) as z:
        names = set()
        for n in z.namelist():
            parts = n.rstrip("/").split("/")
            if n.endswith("/") or "__pycache__" in parts or n.endswith(".pyc"):
                continue
            if len(parts) >= 2 and parts[-2].endswith(".dist-info") and parts[-1] in INSTALLER_FILES:
                continue
            if parts[0] == "bin" or (parts[0] == "python" and len(parts) > 1 and parts[1] == "bin"):
                continue
            # cp -r copies the function's requirements.txt; the xtask ships only code.
            if n == "requirements.txt":
                continue
            names.add(n)
        return names


def left_out(base_zip, prefix, dropped):
    """Files of the distributions the xtask left out (an attached layer or the runtime has them):
    each one's dist-info and the top-level packages its top_level.txt names, as the baseline has them."""
    names = set()
    with zipfile.ZipFile(base_zip) as z:
        listed = set(z.namelist())
        for d in dropped:
            info = f"{prefix}{norm(d['name'])}-{d['version']}.dist-info/"
            names.add(info)
            top = f"{info}top_level.txt"
            if top in listed:
                names.update(f"{prefix}{t.strip()}/" for t in z.read(top).decode().split() if t.strip())
    return names


def compare(baseline_dir, report, size_report):
    """Both builds must ship the same files (ignoring host .pyc and installer bookkeeping), but for
    the distributions `xtask size` says were left out."""
    bad = []
    arts = load_report(report)["artifacts"]
    dropped = {(a["module"], a["name"]): a["dropped"] for a in load_report(size_report)["artifacts"]}
    for a in arts:
        base = os.path.join(baseline_dir, a["module"], os.path.basename(a["path"]))
        if not os.path.isfile(base):
            bad.append(f"{a['module']}/{os.path.basename(a['path'])}: no baseline zip")
            continue
        prefix = "python/" if a["kind"] == "layer" else ""
        gone = left_out(base, prefix, dropped.get((a["module"], a["name"]), []))
        x = zip_names(a["path"])
        b = {n for n in zip_names(base) if not any(n.startswith(g) for g in gone)}
        if x != b:
            only_x, only_b = sorted(x - b)[:3], sorted(b - x)[:3]
            bad.append(f"{a['module']}/{a['name']}: only in xtask {only_x}, only in baseline {only_b}")
    if bad:
        print("DIFFERENT: " + "; ".join(bad[:5]))
        return 1
    print(f"same files in all {len(arts)} zips")
    return 0


def shipped(report, size_report):
    """`RUNTIME_BYTES RUNTIME_ZIPS LAYER_BYTES LAYER_ZIPS`: the runtime-provided packages the build
    ships (or left out), and what it left out of functions because an attached layer has it."""
    rt = load_report(report)["runtime_provided"]
    layer_bytes = layer_zips = 0
    for a in load_report(size_report)["artifacts"]:
        b = sum(d["bytes"] for d in a["dropped"] if d["by"] != "runtime")
        layer_bytes += b
        layer_zips += b > 0
    print(rt["bytes"], rt["zips"], layer_bytes, layer_zips)
    return 0


def sdkzips(d):
    """How many zips under D ship botocore (at the root or under python/)."""
    n = 0
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".zip"):
                with zipfile.ZipFile(os.path.join(root, f)) as z:
                    n += any(x.startswith(("botocore/", "python/botocore/")) for x in z.namelist())
    print(n)
    return 0


def zipsize(d):
    total = 0
    for root, _, files in os.walk(d):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f.endswith(".zip"))
    print(total)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--quick", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("json")
    c.add_argument("--built", type=int)
    c.add_argument("--cached", type=int)
    c.add_argument("--remote", type=int)
    c.add_argument("--total", type=int)
    s = sub.add_parser("shas")
    s.add_argument("a")
    s.add_argument("b")
    m = sub.add_parser("compare")
    m.add_argument("baseline_dir")
    m.add_argument("json")
    m.add_argument("size_json")
    sh = sub.add_parser("shipped")
    sh.add_argument("json")
    sh.add_argument("size_json")
    z = sub.add_parser("zipsize")
    z.add_argument("dir")
    sz = sub.add_parser("sdkzips")
    sz.add_argument("dir")
    st = sub.add_parser("samtemplate")
    st.add_argument("stack")
    st.add_argument("out")
    a = p.parse_args()
    if a.cmd == "generate":
        generate(a.out, a.quick)
        return 0
    if a.cmd == "check":
        return check(a.json, a.built, a.cached, a.total, a.remote)
    if a.cmd == "shas":
        return shas(a.a, a.b)
    if a.cmd == "compare":
        return compare(a.baseline_dir, a.json, a.size_json)
    if a.cmd == "shipped":
        return shipped(a.json, a.size_json)
    if a.cmd == "sdkzips":
        return sdkzips(a.dir)
    if a.cmd == "samtemplate":
        sam_template(a.stack, a.out)
        return 0
    return zipsize(a.dir)


if __name__ == "__main__":
    sys.exit(main())
