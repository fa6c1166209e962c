#!/usr/bin/env python3
"""Fails when a module of the crate uses one declared after it in src/lib.rs.

src/lib.rs declares the top-level modules in dependency order, bottom first; that list is the
one place the order is written. Every `crate::<module>` path (in `use` lines and inline, outside
comments) and every `super::<module>` in a top-level module's root file must name the module
itself or one declared before it. The crate root's own items (the `Error` type) count as
declared right after the last module lib.rs itself uses. Run from anywhere:
`python3 .ci/check-layering.py`.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
PATH = re.compile(r"(?<![A-Za-z0-9_$])(\$?crate|super)::")


def strip_comments(text):
    """The text with // comments and /* */ blocks blanked, lines kept (strings are left alone:
    a `crate::` inside a string literal is rare enough to be reported and looked at)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def first_names(text, start):
    """The first segment of each path that starts at `start`: `a::b` -> [a];
    `{a::{x, y}, b as c, self}` -> [a, b, self] (the group may span lines)."""
    if text.startswith("{", start):
        depth, parts, part = 0, [], ""
        for char in text[start + 1 :]:
            if char == "{":
                depth += 1
            elif char == "}":
                if depth == 0:
                    break
                depth -= 1
            if char == "," and depth == 0:
                parts.append(part)
                part = ""
            else:
                part += char
        parts.append(part)
        return [re.split(r"::|\s", p.strip())[0] for p in parts if p.strip()]
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[start:])
    return [match.group(0)] if match else []


def crate_paths(text, module_root):
    """(line, first name) of every crate path in `text`; `super::` counts in a module's root
    file, where it is the crate root."""
    for match in PATH.finditer(text):
        if match.group(1) == "super" and not module_root:
            continue
        line = text.count("\n", 0, match.start()) + 1
        for name in first_names(text, match.end()):
            yield line, name


def module_files(module):
    files = []
    single = SRC / f"{module}.rs"
    if single.exists():
        files.append(single)
    folder = SRC / module
    if folder.is_dir():
        files.extend(sorted(folder.rglob("*.rs")))
    return files


def is_module_root(path, module):
    return path in (SRC / f"{module}.rs", SRC / module / "mod.rs")


def main():
    lib = strip_comments((SRC / "lib.rs").read_text())
    order = MOD_DECL.findall(lib)
    if not order:
        sys.exit("check-layering: no module declarations found in src/lib.rs")
    position = {module: index for index, module in enumerate(order)}
    # The root's own items sit just above the highest module lib.rs uses outside its mod list.
    root_code = MOD_DECL.sub("", lib)
    root_uses = [m for m in order if re.search(rf"(?<![A-Za-z0-9_:]){m}::|crate::{m}\b", root_code)]
    root_position = max((position[n] for n in root_uses), default=-1) + 0.5

    violations = []
    edges = 0
    for module in order:
        here = position[module]
        for path in module_files(module):
            text = strip_comments(path.read_text())
            for number, name in crate_paths(text, is_module_root(path, module)):
                if name in ("self", "super", "crate", module):
                    continue
                target = position.get(name, root_position)
                edges += 1
                if target > here:
                    what = f"crate::{name}" if name in position else f"the crate root's {name}"
                    violations.append(
                        f"{path.relative_to(ROOT)}:{number}: `{module}` uses {what}, "
                        f"which src/lib.rs declares after it"
                    )
    if violations:
        print("Layering violations (modules may only use modules declared before them in src/lib.rs):")
        print("\n".join(sorted(set(violations))))
        sys.exit(1)
    print(f"layering: {len(order)} modules in order, {edges} crate paths checked, none reaches up:")
    print("  " + " -> ".join(order))


if __name__ == "__main__":
    main()
