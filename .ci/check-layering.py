#!/usr/bin/env python3
"""Checks how the code is cut into modules and folders, and that docs/architecture.md says so.

The crates: the main one, whose root is src/lib.rs (src/main.rs and src/bin/ are the binary,
not read), and each crates/<name>/ with a src/lib.rs (none if there is no crates/ folder). In
every crate `crate::` is that crate's root. Rules 1 and 2 are about the main crate only; rule 3
holds in every crate; rules 4 and 5 cover the folders below src/ and below every crates/*/src/.

The paths read, in code only (not comments, not string or character literals): `crate::` (and
`$crate::`), `self::` and `super::` chains, in `use` lines and inline, each resolved from the
file's module and the inline `mod x { .. }` blocks around it; a `use` group is read leaf by leaf
(`crate::config::{schema::RawRegion, accounts::{self, AccountList}}` is three paths, on the line
of each leaf). A path relative to the current module (`schema::X` after `use super::schema;`)
is not read: the `use` that brought the name in is. A name re-exported by a parent
(`super::AccountList` through `pub use accounts::AccountList` in config/mod.rs) counts as the
parent's item, not as the module it comes from.

Test-only code (rules 2 and 3 leave it out): files named `tests.rs`, files under a `tests/`
folder inside a crate's src, files whose `mod` declaration carries `#[cfg(test)]` (and the files
below them), inline `mod tests { ... }` blocks, and any item carrying `#[cfg(test)]` (or
`cfg(all(test, ..))`); `cfg(any(test, feature = ..))` code is product code.

1. Layering. src/lib.rs declares the top-level modules in dependency order, bottom first; that
   list is the one place the order is written. Every path that reaches a top-level module from
   another (`crate::<module>`, or a `super::` chain that climbs to the crate root:
   `super::<module>` in a top-level module's root file, `super::super::<module>` one level down,
   and so on) must name the module it is in or one declared before it. The crate root's items
   (the `Error` type) count as declared right after the last module lib.rs itself uses. Test
   code is held to this rule like the rest.

2. The module table. docs/architecture.md's table `| order | module | owns | uses |` must list
   exactly the modules of src/lib.rs, in the same order, numbered 1..n, a module with a folder
   written with a trailing `/` (`rpc/`). Each row's `uses` cell (backticked module names, or
   `nothing`) must be exactly the set of other top-level modules the module's product code
   uses, through the paths of rule 1. The table documents what the product depends on, so
   test-only code is not counted; nor are the crate root's own items (`crate::Error`): they are
   not a module, and a row never lists them. On a difference it fails naming the row, what the
   table lists that the code does not use and what the code uses that the table leaves out,
   with the cell as it should read.

3. No circle at any depth. Within every module, its submodules (the modules with a file or a
   folder; an inline `mod x { .. }` is part of its file's module) must not use each other round
   a circle, and neither may a crate's top-level modules. A path from file F to target T is a
   use between the two siblings where F's module and T part below the deepest module they
   share: `src/config/accounts/values.rs` using `crate::config::schema::RawRegion` is the use
   accounts -> schema within `config` (and nothing at any other depth). It counts only if T's
   segment there is a module: a module using its parent's items (`super::Foo`, Foo in the
   parent's file), its ancestors, or its own submodules uses no sibling. Product code only: a
   test using a sibling closes no circle. Each cycle is named with the module it is in, its
   path, and one use per step, file:line and the path as written below that module:
     config: accounts -> schema -> accounts (src/config/accounts.rs:29 uses schema::RawRegion;
     src/config/schema.rs:10 uses accounts::AccountList)
   (every simple cycle, shortest first, at most 20 per tangle). In crates/<name> the modules are
   prefixed with the crate's name (`dbs-sim::gateway: ...`, `dbs-sim: ...` at its top level).
   In the main crate the top level is already ordered by rule 1 (stricter: it counts tests).

4. One module-file style. A module with a folder has its file in that folder, `<folder>/mod.rs`:
   a `foo.rs` beside a `foo/` folder that holds Rust files fails, as
   `one module-file style: move src/render.rs to src/render/mod.rs`.

5. The folders table. docs/architecture.md must have a table `| folder | holds |` with one row
   per folder of Rust files: src/ and each crates/*/src/ themselves (a crate's root files), and
   every folder below them with a Rust file in it or below it, leaving out folders named
   `tests`, what is under them, and their files (a folder whose only Rust files are in a `tests`
   folder is left out too). The repository's own tests/ and benches/ are not below a src/. The
   folder cell is one backticked path from the repository root ending in `/`
   (`src/store/`, `crates/dbs-sim/src/gateway/`); the holds cell must not be empty. It fails
   on a folder without a row (or with two), on a row for anything else (saying why), and,
   when the doc has no such table, listing the rows it should have.

Run from anywhere: `python3 .ci/check-layering.py`. It prints one line per rule that holds and
a headed list per rule that does not, and exits 1 if any does not.
"""
import functools
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CRATES = ROOT / "crates"
DOC = ROOT / "docs" / "architecture.md"

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
# A path that says where it starts: `crate::`, `$crate::`, `self::`, or a run of `super::`
# (resolved by where it is). Not preceded by `::`, so the second `super` of `super::super::` is
# not a path of its own.
PATH = re.compile(r"(?<![A-Za-z0-9_$:])(\$?crate|self|super(?:::super)*)::")
# The `::` between two segments of a path; `::<` is a turbofish, where the module part has ended.
SEPARATOR = re.compile(r"\s*::\s*(?!<)")
SPACE = re.compile(r"\s*")
# A tangle of n siblings can have very many cycles; the first ones name it well enough.
CYCLES_SHOWN = 20
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INLINE_MOD = re.compile(r"(?<![A-Za-z0-9_])mod\s+(r#)?([A-Za-z_][A-Za-z0-9_]*)\s*\{")
OUTER_ATTR = re.compile(r"#\s*\[")
INNER_ATTR = re.compile(r"#\s*!\s*\[")
# The keywords an item may start with (after attributes): such an item ends at its `;` or at
# the `}` of its body, never at a `,` (`fn f<A, B>()`); anything else (a field, a variant, an
# expression) also ends at a `,`.
ITEM_WORDS = {
    "pub", "crate", "fn", "mod", "impl", "struct", "enum", "union", "trait", "type", "use",
    "const", "static", "extern", "unsafe", "async", "default", "macro_rules", "let",
}


def ident_char(char):
    return char.isalnum() or char == "_"


def strip_comments(text):
    """The text with comments blanked and string and character literals emptied (their quotes
    kept), lines and offsets kept: what is left is code. Block comments nest, as in Rust; raw
    strings (`r#"…"#`), byte strings and lifetimes (`'a`, not a literal) are told apart."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start, end):
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        char = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            depth, k = 1, i + 2
            while k < n and depth:
                if text.startswith("/*", k):
                    depth, k = depth + 1, k + 2
                elif text.startswith("*/", k):
                    depth, k = depth - 1, k + 2
                else:
                    k += 1
            blank(i, k)
            i = k
        elif char == "r" and (raw := re.match(r'r(#*)"', text[i:])) and (
            i == 0
            or not ident_char(text[i - 1])
            or (text[i - 1] in "bc" and (i == 1 or not ident_char(text[i - 2])))
        ):
            close = '"' + raw.group(1)
            end = text.find(close, i + len(raw.group(0)))
            end = n if end < 0 else end
            blank(i + len(raw.group(0)), end)
            i = end + len(close)
        elif char == '"':
            k = i + 1
            while k < n and text[k] != '"':
                k += 2 if text[k] == "\\" else 1
            blank(i + 1, min(k, n))
            i = k + 1
        elif char == "'":
            # A character literal ('x', '\n', '\u{1F600}'), or a lifetime or label ('a, 'static).
            if text.startswith("\\", i + 1):
                k = i + 1
                while k < n and text[k] != "'":
                    k += 2 if text[k] == "\\" else 1
                blank(i + 1, k)
                i = k + 1
            elif i + 2 < n and text[i + 2] == "'" and text[i + 1] != "'":
                blank(i + 1, i + 2)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def matching(text, start, open_char="{", close_char="}"):
    """The offset just past the bracket that closes the one at `start` (or the end)."""
    depth = 0
    for k in range(start, len(text)):
        if text[k] == open_char:
            depth += 1
        elif text[k] == close_char:
            depth -= 1
            if depth == 0:
                return k + 1
    return len(text)


def cfg_is_test_only(predicate):
    """Whether code under `cfg(<predicate>)` is compiled only for tests: `test`, or an `all(..)`
    with a test-only term, or an `any(..)` of test-only terms. `not(test)` and
    `any(test, feature = "x")` are not."""
    predicate = predicate.strip()
    if predicate == "test":
        return True
    match = re.fullmatch(r"(all|any)\s*\((.*)\)", predicate, re.S)
    if not match:
        return False
    terms, depth, term = [], 0, ""
    for char in match.group(2):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(term)
            term = ""
        else:
            term += char
    terms = [t for t in terms + [term] if t.strip()]
    if match.group(1) == "all":
        return any(cfg_is_test_only(t) for t in terms)
    return bool(terms) and all(cfg_is_test_only(t) for t in terms)


def attribute_is_test_only(body):
    match = re.fullmatch(r"\s*cfg\s*\((.*)\)\s*", body, re.S)
    return bool(match) and cfg_is_test_only(match.group(1))


def item_end(code, start):
    """Where the item (or field, variant, statement) starting at `start` ends: after its `;`,
    after the `}` of its body, before a `,` if it is not an item, or before the `}` that closes
    the block around it."""
    word = IDENT.match(code, start)
    # Visibility says nothing: `pub fn f<A, B>()` is an item, `pub name: T,` a field.
    if word and word.group(0) == "pub":
        after = re.compile(r"pub\s*(?:\([^)]*\))?\s*").match(code, start).end()
        word = IDENT.match(code, after) or word
    is_item = bool(word) and word.group(0) in ITEM_WORDS
    depth = 0
    for k in range(start, len(code)):
        char = code[k]
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "{":
            if depth == 0:
                end = matching(code, k)
                # `struct S { .. }`, `fn f() { .. }`, `mod m { .. }`: the body ends the item;
                # `use a::{b, c};` and `static S: T = T { .. };` go on to their `;`.
                rest = code[end:]
                follows = rest.lstrip()
                if is_item and word.group(0) in ("use", "const", "static", "let", "type"):
                    semi = follows.find(";")
                    return end + (len(rest) - len(follows)) + (semi + 1 if semi >= 0 else 0)
                return end
            depth += 1
        elif char == "}":
            if depth == 0:
                return k
            depth -= 1
        elif char == ";" and depth == 0:
            return k + 1
        elif char == "," and depth == 0 and not is_item:
            return k
    return len(code)


def test_spans(code):
    """The (start, end) spans of test-only code in a file's code, and the names of the
    `#[cfg(test)] mod <name>;` declarations in it with the inline modules around them."""
    spans, test_mods = [], []
    for match in INLINE_MOD.finditer(code):
        if match.group(2) == "tests":
            spans.append((match.start(), matching(code, match.end() - 1)))
    for match in OUTER_ATTR.finditer(code):
        close = matching(code, match.end() - 1, "[", "]")
        if not attribute_is_test_only(code[match.end() : close - 1]):
            continue
        start = close
        while True:  # the item's other attributes
            start += len(code[start:]) - len(code[start:].lstrip())
            more = OUTER_ATTR.match(code, start)
            if not more:
                break
            start = matching(code, more.end() - 1, "[", "]")
        end = item_end(code, start)
        spans.append((match.start(), end))
        declared = re.match(
            r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(?:r#)?([A-Za-z_][A-Za-z0-9_]*)\s*;", code[start:end]
        )
        if declared:
            test_mods.append((inline_path(code, start), declared.group(1)))
    for match in INNER_ATTR.finditer(code):
        close = matching(code, match.end() - 1, "[", "]")
        if attribute_is_test_only(code[match.end() : close - 1]):
            opener = enclosing_block(code, match.start())
            spans.append((opener, matching(code, opener) if opener >= 0 else len(code)))
    return spans, test_mods


def enclosing_block(code, offset):
    """The offset of the `{` around `offset`, or -1 at the top of the file."""
    depth = 0
    for k in range(offset - 1, -1, -1):
        if code[k] == "}":
            depth += 1
        elif code[k] == "{":
            if depth == 0:
                return k
            depth -= 1
    return -1


def inline_path(code, offset):
    """The names of the inline `mod <name> { ... }` blocks around `offset`, outermost first."""
    return [
        match.group(2)
        for match in INLINE_MOD.finditer(code, 0, offset)
        if matching(code, match.end() - 1) > offset
    ]


def group_parts(text, low, high):
    """The offsets where the comma-separated parts of a group's inside `text[low:high]` start."""
    starts, depth, begin = [], 0, low
    for k in range(low, high + 1):
        if k == high or (text[k] == "," and depth == 0):
            part = text[begin:k]
            if part.strip():
                starts.append(begin + len(part) - len(part.lstrip()))
            begin = k + 1
        elif text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
    return starts


def path_tails(text, start):
    """The paths written from `start` (just after a `crate::`, `self::` or `super::`), each as
    (its offset, its segments), and where they end: `a::b::C` -> [a, b, C];
    `{a::{x, self}, b as c, *}` -> [a, x], [a], [b], [] (a group may span lines; `self` in a
    group is the path before it; a glob names nothing more)."""
    segments, pos = [], start
    while True:
        pos = SPACE.match(text, pos).end()
        if text.startswith("{", pos):
            end = matching(text, pos)
            tails = []
            for part in group_parts(text, pos + 1, end - 1):
                tails += [(offset, segments + more) for offset, more in path_tails(text, part)[0]]
            return tails, end
        word = IDENT.match(text, pos)
        if not word:
            return [(start, segments)], pos
        if word.group(0) != "self":
            segments.append(word.group(0))
        separator = SEPARATOR.match(text, word.end())
        if not separator:
            return [(start, segments)], word.end()
        pos = separator.end()


def module_path(path, src=SRC):
    """The module a file is, as segments from its crate's root: src/a/b.rs and src/a/b/mod.rs
    are [a, b]; the root file src/lib.rs is []."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return []
    if parts[-1] == "mod":
        parts.pop()
    return parts


def module_paths(text, file_module):
    """(offset, segments from the crate root) of every path in `text` (code only) that says where
    it starts: `crate::` (`$crate::`), and `self::` and `super::` chains, resolved from the file's
    module and the inline modules around the path. A path relative to the current module
    (`schema::X` after `use super::schema;`) is not read: the `use` that brought it in is."""
    skip_to = 0
    for match in PATH.finditer(text):
        if match.start() < skip_to:
            continue  # inside a `{ .. }` group already read, relative to its prefix
        prefix = match.group(1)
        tails, skip_to = path_tails(text, match.end())
        if prefix.endswith("crate"):
            base = []
        else:
            here = file_module + inline_path(text, match.start())
            climb = prefix.count("super")
            if climb > len(here):
                continue  # climbs past the crate root: not valid Rust
            base = here[: len(here) - climb]
        for offset, segments in tails:
            yield offset, base + segments


def crate_paths(text, file_module):
    """(offset, first name) of every path in `text` (code only), from the crate root. A path
    that stays inside the file's top-level module yields that module's name, which the layering
    rules skip."""
    for offset, segments in module_paths(text, file_module):
        if segments:
            yield offset, segments[0]


def module_files(module):
    files = []
    single = SRC / f"{module}.rs"
    if single.exists():
        files.append(single)
    folder = SRC / module
    if folder.is_dir():
        files.extend(sorted(folder.rglob("*.rs")))
    return files


def test_only_files(files, codes, src=SRC):
    """The files compiled only for tests: named tests.rs, under a tests/ folder, or declared by
    a `#[cfg(test)] mod <name>;` (and the files below those)."""
    test_dirs = []
    for path in files:
        _, declarations = test_spans(codes[path])
        folder = path.parent if not module_path(path, src) or path.name == "mod.rs" else path.with_suffix("")
        for inline, name in declarations:
            test_dirs.append(folder.joinpath(*inline, name))
    result = set()
    for path in files:
        inside = path.relative_to(src).parts[:-1]
        if (
            path.name == "tests.rs"
            or "tests" in inside
            or any(path.with_suffix("") == d or d in path.parents for d in test_dirs)
        ):
            result.add(path)
    return result


@functools.cache
def read_code(path):
    """A file's code (comments blanked, literals emptied), read once for all the rules."""
    return strip_comments(path.read_text())


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def table_body(header):
    """The body lines of docs/architecture.md's table whose header row has exactly these cells:
    (line number, cells) of each line up to the first that is not a table line, the separator
    line left out; None when the doc has no such table."""
    lines = DOC.read_text().splitlines()
    pattern = re.compile(r"^\|" + r"\|".join(rf"\s*{re.escape(cell)}\s*" for cell in header) + r"\|\s*$")
    start = next((k for k, line in enumerate(lines) if pattern.match(line)), None)
    if start is None:
        return None
    body = []
    for k in range(start + 1, len(lines)):
        line = lines[k].strip()
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            body.append((k + 1, cells))
    return body


def read_table(order, folders):
    """The module table's rows and what is wrong with them against src/lib.rs: (rows,
    problems), a row being (its order cell, its module, its line in the doc, the names its
    `uses` cell lists, in their written order)."""
    body = table_body(["order", "module", "owns", "uses"])
    where = DOC.relative_to(ROOT)
    if body is None:
        return [], [f"{where}: no table with the header `| order | module | owns | uses |`"]
    rows, problems = [], []
    for line_no, cells in body:
        if len(cells) < 4:
            problems.append(f"{where}:{line_no}: a table line without its four cells")
            continue
        number, module, uses = cells[0], cells[1], cells[-1]
        name = module.strip("`").rstrip("/")
        if not re.fullmatch(r"`[a-z_][a-z0-9_]*/?`", module):
            problems.append(f"{where}:{line_no}: the module cell `{module}` is not one backticked name")
        elif name in folders and not module.endswith("/`"):
            problems.append(f"{where}:{line_no}: row `{name}`: write it `{name}/`, src/{name}/ is a folder")
        elif name in order and name not in folders and module.endswith("/`"):
            problems.append(f"{where}:{line_no}: row `{name}`: write it `{name}`, it has no folder src/{name}/")
        listed = [n.rstrip("/") for n in re.findall(r"`([^`]+)`", uses)]
        if not listed and uses != "nothing":
            problems.append(f"{where}:{line_no}: row `{name}`: the uses cell `{uses}` is neither backticked module names nor `nothing`")
        rows.append((number, name, line_no, listed))
    expected = [str(k) for k in range(1, len(rows) + 1)]
    for (number, name, line, _), want in zip(rows, expected):
        if number != want:
            problems.append(f"{where}:{line}: row `{name}`: the order cell says {number}, it is row {want}")
    names = [row[1] for row in rows]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: the table has {names.count(name)} rows for `{name}`")
    for index, name in enumerate(order):
        if name not in names:
            after = f"after `{order[index - 1]}`" if index else "first"
            problems.append(f"{where}: the table has no row for `{name}` (src/lib.rs declares it {after})")
    for number, name, line, _ in rows:
        if name not in order:
            problems.append(f"{where}:{line}: row `{name}`: src/lib.rs declares no module `{name}`")
    if set(names) == set(order) and len(names) == len(order) and names != order:
        first = next(k for k, (a, b) in enumerate(zip(names, order)) if a != b)
        problems.append(
            f"{where}: the rows are not in src/lib.rs's order: row {first + 1} is `{names[first]}`, "
            f"src/lib.rs declares `{order[first]}` there; the order is " + ", ".join(order)
        )
    return rows, problems


def quoted(names):
    return ", ".join(f"`{n}`" for n in names)


def check_table(order, folders, product_uses, test_uses):
    """The table's problems: rows against src/lib.rs, then each row's uses against the code."""
    rows, problems = read_table(order, folders)
    where = DOC.relative_to(ROOT)
    for _, module, line, listed in rows:
        if module not in order:
            continue
        code = product_uses.get(module, {})
        strangers = [n for n in dict.fromkeys(listed) if n not in order]
        unused = [n for n in dict.fromkeys(listed) if n in order and n not in code]
        missing = [n for n in order if n in code and n not in listed]
        if not (strangers or unused or missing) and len(set(listed)) == len(listed):
            continue
        said = []
        if missing:
            first = [f"`{n}` ({code[n]})" for n in missing]
            said.append("the code also uses " + ", ".join(first))
        if unused:
            tested = [n for n in unused if n != module and n in test_uses.get(module, {})]
            absent = [n for n in unused if n != module and n not in tested]
            if absent:
                said.append(f"the table lists {quoted(absent)}, which the code does not use")
            if tested:
                where_tests = ", ".join(f"`{n}` ({test_uses[module][n]})" for n in tested)
                said.append(f"the table lists {where_tests}, which only its tests use")
            if module in unused:
                said.append(f"the table lists `{module}`, the module itself")
        if strangers:
            said.append(
                f"the table lists {quoted(strangers)}, not a module of src/lib.rs (a row names "
                "modules only, never the crate root's items such as `Error`)"
            )
        twice = sorted({n for n in listed if listed.count(n) > 1})
        if twice:
            said.append(f"the table lists {quoted(twice)} more than once")
        kept = [n for n in dict.fromkeys(listed) if n in code]
        cell = quoted(kept + missing) or "nothing"
        problems.append(f"{where}:{line}: row `{module}`: " + "; ".join(said) + f"; the cell should read: {cell}")
    return rows, problems


def check_layering_and_table():
    """Rules 1 and 2, on the main crate: prints what it finds, returns whether it all holds."""
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
    # module -> used module -> "file:line" of its first use, in product code and in test code.
    product_uses, test_uses = {}, {}
    for module in order:
        here = position[module]
        files = module_files(module)
        codes = {path: read_code(path) for path in files}
        test_files = test_only_files(files, codes)
        for path in files:
            text = codes[path]
            spans = [] if path in test_files else test_spans(text)[0]
            for offset, name in crate_paths(text, module_path(path)):
                if name in ("self", "super", "crate", module):
                    continue
                number = line_of(text, offset)
                target = position.get(name, root_position)
                edges += 1
                if target > here:
                    what = f"crate::{name}" if name in position else f"the crate root's {name}"
                    violations.append(
                        f"{path.relative_to(ROOT)}:{number}: `{module}` uses {what}, "
                        f"which src/lib.rs declares after it"
                    )
                if name not in position:
                    continue
                test_only = path in test_files or any(a <= offset < b for a, b in spans)
                uses = test_uses if test_only else product_uses
                uses.setdefault(module, {}).setdefault(name, f"{path.relative_to(ROOT)}:{number}")
    if violations:
        print("Layering violations (modules may only use modules declared before them in src/lib.rs):")
        print("\n".join(sorted(set(violations))))
    else:
        print(f"layering: {len(order)} modules in order, {edges} crate paths checked, none reaches up:")
        print("  " + " -> ".join(order))

    folders = {module for module in order if (SRC / module).is_dir()}
    rows, problems = check_table(order, folders, product_uses, test_uses)
    if problems:
        print(
            f"The module table of {DOC.relative_to(ROOT)} does not match the code (its `uses` "
            "column lists the other modules each module's non-test code uses):"
        )
        print("\n".join(problems))
    else:
        count = sum(len(uses) for uses in product_uses.values())
        print(
            f"table: {DOC.relative_to(ROOT)} lists the {len(rows)} modules in order, and its uses "
            f"column matches the {count} module-to-module uses of the non-test code"
        )
    return not (violations or problems)


# Rule 3: no circle between sibling modules, at any depth, in any crate.


def crate_files(src):
    """The Rust files of the library crate whose root is `src`: all but the binary's main.rs and
    src/bin/ (crates of their own)."""
    return sorted(
        path
        for path in src.rglob("*.rs")
        if path != src / "main.rs" and (src / "bin") not in path.parents
    )


def common_length(left, right):
    length = 0
    while length < min(len(left), len(right)) and left[length] == right[length]:
        length += 1
    return length


def sibling_uses(src):
    """The product code's uses between sibling modules in the crate at `src`, by the parent they
    share: {parent: {(user, used): (file, line, path as written below the parent)}}, the first
    use of each pair (in the user's own file first, then in the files below it). A use reaches
    the sibling through the first segments below the parent its file and its target share, so
    `src/config/accounts/values.rs` using `crate::config::schema::X` is the use
    accounts -> schema under `config`. A module using its parent's items, or its own children,
    is no use between siblings; nor is test-only code (rule 2's definition)."""
    files = crate_files(src)
    codes = {path: read_code(path) for path in files}
    test_files = test_only_files(files, codes, src)
    # Every module with a file or a folder; an inline `mod x { .. }` is part of its file's module.
    modules = set()
    for path in files:
        parts = module_path(path, src)
        modules.update(tuple(parts[:k]) for k in range(1, len(parts) + 1))
    uses = {}
    for path in sorted(files, key=lambda p: (len(module_path(p, src)), p)):
        if path in test_files:
            continue
        code, here = codes[path], module_path(path, src)
        spans = test_spans(code)[0]
        for offset, target in module_paths(code, here):
            depth = common_length(here, target)
            if depth == len(here) or depth == len(target):
                continue  # the module itself, one of its ancestors, or one of its descendants
            parent = tuple(target[:depth])
            if parent + (target[depth],) not in modules:
                continue  # an item of the parent (`super::Foo`), not a module beside this one
            if any(a <= offset < b for a, b in spans):
                continue
            written = "::".join(target[depth:])
            pair = (here[depth], target[depth])
            uses.setdefault(parent, {}).setdefault(pair, (path, line_of(code, offset), written))
    return uses


def reachable(graph, start):
    """The nodes reachable from `start` by one edge or more."""
    seen, stack = set(), [start]
    while stack:
        for node in graph.get(stack.pop(), ()):
            if node not in seen:
                seen.add(node)
                stack.append(node)
    return seen


def circles(graph):
    """The groups of nodes that reach each other (strongly connected, two or more), sorted."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = []
    for node in sorted(reach):
        group = sorted(n for n in reach[node] if node in reach.get(n, ()))
        if len(group) > 1 and group not in groups:
            groups.append(group)
    return groups


def simple_cycles(graph, group, limit):
    """The cycles through the nodes of `group`, each once (from its smallest node), shortest
    first; at most `limit`, since a large tangle has very many and the first ones name it."""
    found = []
    for start in group:
        stack = [[start]]
        while stack and len(found) < limit:
            path = stack.pop()
            for node in sorted(graph.get(path[-1], ()), reverse=True):
                if node == start:
                    found.append(path + [start])
                elif node in group and node > start and node not in path:
                    stack.append(path + [node])
    return sorted(found[:limit], key=lambda cycle: (len(cycle), cycle))


def check_cycles(crates):
    """Rule 3 on every crate: prints what it finds, returns whether it all holds."""
    lines, pairs = [], 0
    for name, src in crates:
        for parent, uses in sorted(sibling_uses(src).items()):
            pairs += len(uses)
            graph = {}
            for user, used in uses:
                graph.setdefault(user, set()).add(used)
            where = "::".join(([] if src == SRC else [name]) + list(parent)) or "the crate root"
            for group in circles(graph):
                cycles = simple_cycles(graph, group, CYCLES_SHOWN)
                for cycle in cycles:
                    evidence = [uses[pair] for pair in zip(cycle, cycle[1:])]
                    said = "; ".join(f"{f.relative_to(ROOT)}:{n} uses {w}" for f, n, w in evidence)
                    lines.append(f"{where}: {' -> '.join(cycle)} ({said})")
                if len(cycles) == CYCLES_SHOWN:
                    lines.append(f"{where}: (only the first {CYCLES_SHOWN} cycles among {', '.join(group)})")
    if lines:
        print(
            "Cycles between sibling modules (the submodules of one module, or the top-level modules "
            "of a crate, may not use each other round a circle; product code only):"
        )
        print("\n".join(lines))
    else:
        roots = ", ".join(str(src.relative_to(ROOT)) for _, src in crates)
        print(f"cycles: none among the {pairs} uses between sibling modules, at every depth of {roots}")
    return not lines


# Rule 4: one module-file style.


def rust_folders(src, tests=True):
    """The folders below `src` that hold Rust files (in them or below them); without `tests`,
    the files in a `tests` folder do not count, nor such a folder."""
    folders = set()
    for path in src.rglob("*.rs"):
        inside = path.relative_to(src).parts[:-1]
        if not tests and "tests" in inside:
            continue
        folders.update(src.joinpath(*inside[:k]) for k in range(1, len(inside) + 1))
    return sorted(folders)


def check_module_files(crate_roots):
    """Rule 4: prints what it finds, returns whether it holds."""
    lines = []
    for src in crate_roots:
        for folder in rust_folders(src):
            single, inside = folder.with_name(folder.name + ".rs"), folder / "mod.rs"
            if not single.is_file():
                continue
            one, other = single.relative_to(ROOT), inside.relative_to(ROOT)
            if inside.is_file():
                lines.append(f"one module-file style: {one} and {other} are both the module's file; keep {other}")
            else:
                lines.append(f"one module-file style: move {one} to {other}")
    if lines:
        print("Module files (a module with a folder has its file in it, as <folder>/mod.rs, never beside it):")
        print("\n".join(lines))
    else:
        print("module files: every module with a folder has its file as <folder>/mod.rs")
    return not lines


# Rule 5: the folders table.


def read_folders_table():
    """The folders table's rows, (folder, line, holds), and what is wrong with its lines; None
    for the rows when the doc has no such table."""
    body = table_body(["folder", "holds"])
    if body is None:
        return None, []
    where = DOC.relative_to(ROOT)
    rows, problems = [], []
    for line_no, cells in body:
        folder = re.fullmatch(r"`([^`\s]+/)`", cells[0])
        if len(cells) != 2:
            problems.append(f"{where}:{line_no}: a folders table line without its two cells")
        elif not folder:
            problems.append(f"{where}:{line_no}: the folder cell {cells[0]} is not one backticked path ending in `/`")
        elif not cells[1]:
            problems.append(f"{where}:{line_no}: row `{folder.group(1)}`: the holds cell is empty")
        if folder:
            rows.append((folder.group(1), line_no, cells[-1]))
    return rows, problems


def why_not_listed(folder, crate_roots):
    """Why a folder the table lists is not one it should list."""
    path = ROOT / folder
    if not any(src == path or src in path.parents for src in crate_roots):
        return "not below src/ or crates/*/src/"
    if "tests" in path.relative_to(ROOT).parts:
        return "a tests folder, which the table leaves out"
    if not path.is_dir():
        return "no such folder"
    return "it holds no Rust files"


def check_folders_table(crate_roots):
    """Rule 5: prints what it finds, returns whether it holds."""
    expected = [
        f"{folder.relative_to(ROOT)}/"
        for src in crate_roots
        for folder in [src, *rust_folders(src, tests=False)]
    ]
    where = DOC.relative_to(ROOT)
    rows, problems = read_folders_table()
    if rows is None:
        problems = [
            f"{where}: no table with the header `| folder | holds |`; it should have these rows "
            "(src/, each crates/*/src/ and every folder of Rust files below them, tests folders aside), "
            "each saying what the folder holds:"
        ] + [f"| `{folder}` | ... |" for folder in expected]
        rows = []
    listed = [folder for folder, _, _ in rows]
    for folder in sorted({f for f in listed if listed.count(f) > 1}):
        problems.append(f"{where}: the folders table has {listed.count(folder)} rows for `{folder}`")
    for folder, line, _ in rows:
        if folder not in expected:
            problems.append(f"{where}:{line}: row `{folder}`: {why_not_listed(folder, crate_roots)}; remove the row")
    for folder in expected:
        if rows and folder not in listed:
            problems.append(f"{where}: the folders table has no row for `{folder}`; add: | `{folder}` | ... |")
    if problems:
        print(f"The folders table of {where} does not match the folders of Rust files:")
        print("\n".join(problems))
    else:
        print(f"folders: {where} describes the {len(expected)} folders of Rust files")
    return not problems


def extra_crates():
    """(name, src) of each crate under crates/ with a src/lib.rs, by name."""
    if not CRATES.is_dir():
        return []
    return [(path.name, path / "src") for path in sorted(CRATES.iterdir()) if (path / "src" / "lib.rs").is_file()]


def main():
    crates = [("src", SRC)] + extra_crates()  # the main crate's name is never shown
    # Every crate's src/, for the file rules; a crate without a lib.rs still has folders.
    crate_roots = [SRC] + sorted(p for p in CRATES.glob("*/src") if p.is_dir())
    results = [
        check_layering_and_table(),
        check_cycles(crates),
        check_module_files(crate_roots),
        check_folders_table(crate_roots),
    ]
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
