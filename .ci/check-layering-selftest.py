#!/usr/bin/env python3
"""Self-test of .ci/check-layering.py: runs it on temporary copies of src/, docs/ and the script,
each with one deliberate change to the table or the code, and checks that it passes or fails as
it should and that its message names the row. Not run by CI; run it by hand after changing the
checker: `python3 .ci/check-layering-selftest.py`.
"""

import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "check-layering.py"
DOC = "docs/architecture.md"
failures = []


def run(name, edits, expect_rc, expect=(), absent=()):
    """Copy the tree, apply `edits` (path -> function of its text), run the checker."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        shutil.copytree(ROOT / "src", tmp / "src")
        shutil.copytree(ROOT / "docs", tmp / "docs")
        (tmp / ".ci").mkdir()
        shutil.copy(SCRIPT, tmp / ".ci" / SCRIPT.name)
        for path, edit in edits.items():
            target = tmp / path
            before = target.read_text() if target.exists() else ""
            after = edit(before)
            assert after != before, f"{name}: the edit of {path} changed nothing"
            target.write_text(after)
        done = subprocess.run(
            [sys.executable, str(tmp / ".ci" / SCRIPT.name)], capture_output=True, text=True
        )
    output = done.stdout + done.stderr
    wrong = []
    if done.returncode != expect_rc:
        wrong.append(f"exit {done.returncode}, expected {expect_rc}")
    wrong += [f"no line matching {p!r}" for p in expect if not re.search(p, output, re.M)]
    wrong += [f"a line matching {p!r}" for p in absent if re.search(p, output, re.M)]
    if wrong:
        failures.append(f"{name}: " + "; ".join(wrong) + "\n" + output)
    print(f"{'ok  ' if not wrong else 'FAIL'} {name}")


def row_cell(module, new_cell):
    """An edit of the doc that sets the `uses` cell of `module`'s row."""

    def edit(text):
        pattern = rf"^(\| \d+ \| `{module}/?` \|.*\| )([^|]*)( \|)$"
        return re.sub(pattern, lambda m: m.group(1) + new_cell + m.group(3), text, count=1, flags=re.M)

    return edit


def edit_cell(module, change):
    """An edit of the doc that rewrites the `uses` cell of `module`'s row: `change` takes the list
    of names it holds now and returns the new list, so a case does not depend on today's row."""

    def edit(text):
        pattern = rf"^(\| \d+ \| `{module}/?` \|.*\| )([^|]*)( \|)$"

        def rewrite(m):
            names = re.findall(r"`([a-z_]+)`", m.group(2))
            return m.group(1) + ", ".join(f"`{n}`" for n in change(names)) + m.group(3)

        return re.sub(pattern, rewrite, text, count=1, flags=re.M)

    return edit


def append(code):
    return lambda text: text + code


def replace(old, new):
    def edit(text):
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def unit_tests():
    sys.dont_write_bytecode = True  # no .ci/__pycache__ left behind
    spec = importlib.util.spec_from_file_location("check_layering", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = (
        "let a = '\"'; let b = '\\''; fn f<'a>(x: &'a str) {}\n"
        '/* outer /* inner */ crate::x */ let s = "crate::y \\" crate::z"; // crate::w\n'
        'let r = r#"crate::v "quoted" "#; let t = br"crate::u"; crate::keep::it;\n'
    )
    stripped = module.strip_comments(code)
    names = [n for _, n in module.crate_paths(stripped, ["m"])]
    if names != ["keep"] or stripped.count("\n") != code.count("\n"):
        failures.append(f"strip_comments/crate_paths: got {names!r} from\n{stripped}")
    cases = {"test": True, "all(test, unix)": True, "any(test, feature = \"x\")": False,
             "not(test)": False, "any(test, all(test, unix))": True, "unix": False}
    for predicate, want in cases.items():
        if module.cfg_is_test_only(predicate) != want:
            failures.append(f"cfg_is_test_only({predicate!r}) is not {want}")
    print(f"{'ok  ' if not failures else 'FAIL'} unit: comments, strings, chars, cfg predicates")


def main():
    unit_tests()
    run("the tree as it is passes", {}, 0, [r"^table: .* lists the \d+ modules in order"])
    run(
        "a wrong row: poller without `history`, with `reload`",
        {DOC: edit_cell("poller", lambda names: [n for n in names if n != "history"] + ["reload"])},
        1,
        [
            r"^docs/architecture\.md:\d+: row `poller`: the code also uses `history` \(src/poller/\S+:\d+\); "
            r"the table lists `reload`, which the code does not use; the cell should read: "
            r"`api`, .*`history`$",
            r"^layering: .* none reaches up",
        ],
    )
    run(
        "a row listing what only the tests use",
        {
            DOC: edit_cell("poller", lambda names: names + ["credentials"]),
            "src/poller/tests.rs": append("\nuse crate::credentials::Credentials as _OnlyTheTests;\n"),
        },
        1,
        [r"row `poller`: the table lists `credentials` \(src/poller/tests\.rs:\d+\), which only its tests use"],
    )
    run(
        "a row listing `Error`",
        {DOC: edit_cell("demo", lambda names: names + ["Error"])},
        1,
        [r"row `demo`: the table lists `Error`, not a module of src/lib\.rs"],
    )
    run(
        "`nothing` where the code uses something",
        {DOC: row_cell("pacing", "nothing")},
        1,
        [r"row `pacing`: the code also uses `util` \(src/pacing\.rs:\d+\); the cell should read: `util`$"],
    )
    run(
        "two rows swapped",
        {DOC: lambda t: re.sub(r"^(\| 11 \| `model` .*)\n(\| 12 \| `history` .*)$", r"\2\n\1", t, flags=re.M)},
        1,
        [r"row `history`: the order cell says 12, it is row 11", r"row 11 is `history`, src/lib\.rs declares `model` there"],
    )
    run(
        "a row missing",
        {DOC: lambda t: re.sub(r"^\| 19 \| `reload` .*\n", "", t, flags=re.M)},
        1,
        [r"the table has no row for `reload` \(src/lib\.rs declares it after `poller`\)"],
    )
    run(
        "a folder written without its slash",
        {DOC: replace("| `render/` |", "| `render` |")},
        1,
        [r"row `render`: write it `render/`, src/render/ is a folder"],
    )
    run(
        "a new product use in the code",
        {"src/model.rs": append("\nuse crate::logging::init as _init;\n")},
        1,
        [r"row `model`: the code also uses `logging` \(src/model\.rs:\d+\); the cell should read: `api`, .*`logging`$"],
    )
    run(
        "cfg(any(test, feature)) code is product code",
        {"src/model.rs": append('\n#[cfg(any(test, feature = "test-support"))]\nuse crate::logging::init;\n')},
        1,
        [r"row `model`: the code also uses `logging`"],
    )
    run(
        "a path after a '\"' character literal is still read",
        {"src/model.rs": append("\nfn quote() -> char { let _ = crate::logging::init; '\"' }\nfn two() { crate::pacing::x(); }\n")},
        1,
        [r"row `model`: the code also uses `logging` \(src/model\.rs:\d+\), `pacing` \(src/model\.rs:\d+\)"],
    )
    run(
        "super::super:: from a file below a module's root reaches the crate root",
        {"src/api/client.rs": append("\nuse super::super::util::lock as _l;\n")},
        1,
        [r"row `api`: the code also uses `util` \(src/api/client\.rs:\d+\)"],
    )
    run(
        "test-only uses, comments and strings do not count for the table",
        {
            "src/model.rs": append(
                "\n#[cfg(test)]\nmod extra {\n    use crate::util::lock;\n}\n"
                "#[cfg(test)]\nfn helper<A, B>(a: A, b: B) {\n    crate::pacing::x(a, b);\n}\n"
                "#[cfg(all(test, unix))]\nuse crate::rpc::RpcClient;\n"
                "mod tests {\n    use crate::logging::x;\n}\n"
                "mod inner {\n    use super::Aggregate;\n    use super::history;\n}\n"
                'const S: &str = "crate::util::x"; // crate::pacing\n'
                '/* /* nested */ crate::logging */ const R: &str = r#"crate::rpc "q" "#;\n'
            ),
            "src/inventory/tests.rs": append("\nuse crate::util::lock;\n"),
            "src/poller/mod.rs": append("\n#[cfg(test)]\n#[allow(dead_code)]\nmod helpers;\n"),
            "src/poller/helpers.rs": append("use crate::logging::LogFormat;\n"),
        },
        0,
        [r"^table: "],
    )
    run(
        "test code is still held to the layering",
        {"src/poller/tests.rs": append("\nuse crate::cli::Cli;\n")},
        1,
        [
            r"^Layering violations \(modules may only use modules declared before them in src/lib\.rs\):$",
            r"^src/poller/tests\.rs:\d+: `poller` uses crate::cli, which src/lib\.rs declares after it$",
            r"^table: ",
        ],
    )
    if failures:
        print("\n".join(["", "Self-test failures:"] + failures))
        sys.exit(1)
    print("self-test: all cases behave")


if __name__ == "__main__":
    main()
