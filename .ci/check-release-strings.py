#!/usr/bin/env python3
"""The release binary carries no test-only code: `strings` on it shows none of the text of what
dbs-sim compiles only with its `testing` feature.

What counts as test-only: every module declared under `#[cfg(feature = "testing")]` in
crates/dbs-sim/src (the file or folder as a whole), and every item carrying that attribute in
any other file of the crate (its body, to the matching brace). Their string literals are the
markers, cut at format placeholders into pieces of at least MIN_PIECE characters; a piece that
also appears in code compiled without the feature (anywhere in src/ or crates/*/src), or is
one of HTTP's reason phrases (which the `http` crate carries), is no marker, since it may
rightly be in the binary.

The check fails when a marker is in the binary, and also when there are too few markers to
mean anything or when a string the product surely carries is missing (so a binary `strings`
cannot read does not pass). Usage: `python3 .ci/check-release-strings.py target/release/dbs-exporter`.
"""

import http
import importlib.util
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rust_reader():
    """.ci/check-layering.py, for its Rust reading: comments and literals told apart, and where
    an item (or a field) ends."""
    spec = importlib.util.spec_from_file_location("check_layering", ROOT / ".ci" / "check-layering.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUST = rust_reader()
SIM = ROOT / "crates" / "dbs-sim" / "src"
GATE = re.compile(r'#\[cfg\(feature\s*=\s*"testing"\)\]')
MOD_DECL = re.compile(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
MIN_PIECE = 12
MIN_MARKERS = 15
# HTTP's reason phrases are in the binary anyway: the `http` crate carries every one.
REASON_PHRASES = {status.phrase for status in http.HTTPStatus}
# Text the product binary must carry, proof that `strings` reads it.
PRODUCT_TEXT = "aliyun_dbs_exporter_build_info"


def module_files(parent_file, name):
    """The file (and folder) of module `name` declared in `parent_file`."""
    folder = parent_file.parent if parent_file.name in ("mod.rs", "lib.rs") else parent_file.with_suffix("")
    single, nested = folder / f"{name}.rs", folder / name / "mod.rs"
    if nested.exists():
        return sorted((folder / name).rglob("*.rs"))
    return [single] if single.exists() else []


def gated_spans(text):
    """(start, end) of each item, field or statement a testing gate stands on, read as
    check-layering.py reads Rust: in the code with comments blanked and literals emptied (same
    offsets), past any further attributes, to where the item ends."""
    code = RUST.strip_comments(text)
    spans = []
    # The gate's "testing" is a literal, emptied in `code`: found in the text, kept where `code`
    # still has its `#` (not in a comment).
    for gate in GATE.finditer(text):
        if code[gate.start()] != "#":
            continue
        start = gate.end()
        while attribute := re.compile(r"\s*#\s*\[").match(code, start):
            start = RUST.matching(code, attribute.end() - 1, "[", "]")
        start = len(code) - len(code[start:].lstrip())
        spans.append((gate.start(), RUST.item_end(code, start)))
    return spans


def pieces(literal):
    """A literal cut at `{...}` placeholders and escapes, the pieces long enough to be telling."""
    return [p for p in re.split(r"\{[^}]*\}|\\.", literal) if len(p) >= MIN_PIECE and re.search("[A-Za-z]", p)]


def main():
    binary = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target/release/dbs-exporter")
    gated_files, test_text, product_text = set(), [], []
    for path in sorted(SIM.rglob("*.rs")):
        text = path.read_text()
        lines = text.splitlines()
        for n, line in enumerate(lines[:-1]):
            if GATE.fullmatch(line.strip()) and (decl := MOD_DECL.fullmatch(lines[n + 1])):
                gated_files.update(module_files(path, decl.group(1)))
    for path in sorted(list(SIM.rglob("*.rs")) + list((ROOT / "src").rglob("*.rs"))):
        text = path.read_text()
        if path in gated_files:
            test_text.append(text)
            continue
        kept, last = [], 0
        for start, end in gated_spans(text):
            test_text.append(text[start:end])
            kept.append(text[last:start])
            last = end
        kept.append(text[last:])
        product_text.append("".join(kept))
    product = "\n".join(product_text)
    markers = sorted({p for t in test_text for lit in LITERAL.findall(t) for p in pieces(lit) if p not in product and p not in REASON_PHRASES})
    found = subprocess.run(["strings", "-n", "6", str(binary)], capture_output=True, text=True, check=True).stdout
    problems = []
    if PRODUCT_TEXT not in found:
        problems.append(f"`strings` does not show {PRODUCT_TEXT!r}: is {binary} the exporter?")
    if len(markers) < MIN_MARKERS:
        problems.append(f"only {len(markers)} markers of test-only code found (expected at least {MIN_MARKERS})")
    leaked = [m for m in markers if m in found]
    problems += [f"the release binary carries test-only text: {m!r}" for m in leaked]
    print(f"{len(gated_files)} test-only files, {len(markers)} markers, {len(leaked)} in {binary}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
